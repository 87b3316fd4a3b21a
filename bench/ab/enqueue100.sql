-- ab workload enqueue100: 100 messages in one fqs_enqueue_batch call, one
-- per key of 100 (queue qe, as for enqueue).  One transaction per call;
-- msgs/s counts messages.
SELECT count(*) FROM fqs_enqueue_batch('qe',
	ARRAY(SELECT 'payload' FROM generate_series(1, 100)),
	ARRAY(SELECT 'k' || g FROM generate_series(1, 100) g));
