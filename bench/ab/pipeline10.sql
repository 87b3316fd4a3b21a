-- ab workload pipeline10: the full pipeline in batches of 10 on queue qp
-- (max_ready 0): enqueue 10 messages over random keys of 100 in one call,
-- claim 10 + one array commit, claim_sequential 10 + one array complete.
-- Three transactions (autocommit); msgs/s counts completed messages.
\set k random(1, 100)
SELECT count(*) FROM fqs_enqueue_batch('qp',
	ARRAY(SELECT 'payload' FROM generate_series(1, 10)),
	ARRAY(SELECT 'k' || ((:k + g * 37) % 100) FROM generate_series(1, 10) g));
SELECT fqs_commit(array_agg(id), array_agg(receipt)) FROM fqs_claim('qp', 10) HAVING count(*) > 0;
SELECT fqs_complete(array_agg(id ORDER BY fifo_key, seq), array_agg(receipt ORDER BY fifo_key, seq))
  FROM fqs_claim_sequential('qp', 10) HAVING count(*) > 0;
