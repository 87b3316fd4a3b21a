-- ab workload 4, batched: claim 10 ready messages of queue qb (max_ready 0,
-- pre-filled before each run) and commit them, in one statement and one
-- transaction.
SELECT fqs_commit(id, receipt) FROM fqs_claim('qb', 10);
