-- Sequential stage: claim the head of one releasable key, then complete it
-- (two transactions).  An empty claim yields id 0 and skips the complete.
SELECT coalesce(max(id), 0) AS id, coalesce(max(receipt), 0) AS receipt
  FROM fqs_claim_sequential(:q, 1) \gset
\if :id > 0
SELECT fqs_complete(:id, :receipt);
\endif
