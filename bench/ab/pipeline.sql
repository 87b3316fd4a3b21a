-- ab workload 3, full pipeline on queue qp (max_ready 0): enqueue one message
-- into a random key of 100, claim+commit one message, claim_sequential+
-- complete one message.  Three statements, three transactions (autocommit).
\set k random(1, 100)
SELECT fqs_enqueue('qp', 'payload', 'k' || :k);
SELECT fqs_commit(id, receipt) FROM fqs_claim('qp', 1);
SELECT fqs_complete(id, receipt) FROM fqs_claim_sequential('qp', 1);
