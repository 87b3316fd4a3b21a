-- The depth breaker holds its promise in a burst: the enqueue itself checks
-- the ready depth (an upper bound kept in shared memory), so a burst that
-- falls between two worker passes cannot fill the ready set past
-- max_ready.  Delayed messages do not count as ready.
\set VERBOSITY terse
SELECT fqs_create_queue('burst', max_ready => 50);
-- the first count (the worker's, or this one) starts the estimate
SELECT fqs_maintain();
DO $$
BEGIN
	FOR i IN 1..200 LOOP
		PERFORM fqs_enqueue_batch('burst',
			ARRAY(SELECT 'm' || g FROM generate_series(1, 10) g),
			ARRAY(SELECT 'k' || (g % 7) FROM generate_series(1, 10) g));
	END LOOP;
END $$;
SELECT ready, pen, ready + pen AS total FROM fqs_queues WHERE queue = 'burst';
SELECT fqs_maintain();
SELECT ready, pen, breaker_open FROM fqs_queues WHERE queue = 'burst';
-- claims make room; the mover lets the pen out up to max_ready again
SELECT count(fqs_commit(id, receipt)) FROM fqs_claim('burst', 30);
SELECT fqs_maintain();
SELECT ready, pen FROM fqs_queues WHERE queue = 'burst';
SELECT fqs_drop_queue('burst', true);
-- scheduled messages do not hold the pen shut
SELECT fqs_create_queue('sched', max_ready => 20);
SELECT fqs_maintain();
SELECT count(fqs_enqueue('sched', 'later', deliver_at => now() + interval '1 day'))
  FROM generate_series(1, 30);
SELECT fqs_maintain();
SELECT count(fqs_enqueue('sched', 'now')) FROM generate_series(1, 5);
SELECT fqs_maintain();
SELECT ready, delayed, pen, breaker_open FROM fqs_queues WHERE queue = 'sched';
SELECT count(*) AS claimable_now FROM fqs_claim('sched', 100);
SELECT fqs_drop_queue('sched', true);
