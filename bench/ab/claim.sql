-- ab workload 2, claim+commit: claim one ready message of queue qc
-- (max_ready 0, pre-filled before each run) and commit it, in one statement
-- and one transaction.
SELECT fqs_commit(id, receipt) FROM fqs_claim('qc', 1);
