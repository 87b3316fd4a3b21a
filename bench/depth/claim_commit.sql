-- Concurrent stage: claim one message, then commit it (two transactions,
-- like a worker: claim, work, commit).  An empty claim (nothing claimable)
-- yields id 0 and skips the commit instead of failing \gset.
SELECT coalesce(max(id), 0) AS id, coalesce(max(receipt), 0) AS receipt
  FROM fqs_claim(:q, 1) \gset
\if :id > 0
SELECT fqs_commit(:id, :receipt, 'r');
\endif
