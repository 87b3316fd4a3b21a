-- Feeder for the sequential stage, mixed 1:1 with seq_claim_complete.sql so
-- the processed backlog stays ~D: enqueue one message into a random key and
-- push one ready message through the concurrent stage, in one transaction.
\set k random(0, :keys - 1)
BEGIN;
SELECT fqs_enqueue(:q, '{"k": ' || (:k)::text || ', "seq": 0, "data": "' || repeat('x', 160) || '"}', 'k' || (:k)::text);
SELECT coalesce(max(id), 0) AS id, coalesce(max(receipt), 0) AS receipt
  FROM fqs_claim(:q, 1) \gset
\if :id > 0
SELECT fqs_commit(:id, :receipt, 'r');
\endif
END;
