-- The depth breaker holds its promise in a burst: the enqueue itself checks
-- the ready depth (an upper bound kept in shared memory), so a burst that
-- falls between two worker passes cannot fill the ready set past
-- max_ready.  Delayed messages do not count as ready.
\set VERBOSITY terse
-- runs worker passes until queue q shows state want (ready, pen, breaker):
-- the background worker may hold a queue's mover lock when fqs_maintain()
-- asks for it, and then does the pass itself
CREATE FUNCTION settle(q text, want text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	got text;
BEGIN
	FOR i IN 1..200 LOOP
		PERFORM fqs_maintain();
		SELECT format('ready %s, pen %s, breaker %s', ready, pen,
					  CASE WHEN breaker_open THEN 'open' ELSE 'closed' END)
		  INTO got FROM fqs_queues WHERE queue = q;
		IF got = want THEN
			RETURN got;
		END IF;
		PERFORM pg_sleep(0.05);
	END LOOP;
	RETURN got;
END $$;
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
SELECT settle('burst', 'ready 50, pen 1950, breaker open');
-- claims make room; the mover lets the pen out up to max_ready again
SELECT count(fqs_commit(id, receipt)) FROM fqs_claim('burst', 30);
SELECT settle('burst', 'ready 50, pen 1920, breaker open');
SELECT fqs_drop_queue('burst', true);
-- scheduled messages do not hold the pen shut
SELECT fqs_create_queue('sched', max_ready => 20);
SELECT fqs_maintain();
SELECT count(fqs_enqueue('sched', 'later', deliver_at => now() + interval '1 day'))
  FROM generate_series(1, 30);
SELECT settle('sched', 'ready 0, pen 0, breaker closed');
SELECT count(fqs_enqueue('sched', 'now')) FROM generate_series(1, 5);
SELECT settle('sched', 'ready 5, pen 0, breaker closed');
SELECT delayed FROM fqs_queues WHERE queue = 'sched';
SELECT count(*) AS claimable_now FROM fqs_claim('sched', 100);
SELECT fqs_drop_queue('sched', true);
DROP FUNCTION settle(text, text);
