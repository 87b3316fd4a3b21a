-- The failure breaker: consecutive failures (fqs_fail, expired leases) of
-- a queue open it, claims get nothing during the cooldown, then one probe
-- is let through; its success closes the breaker, its failure opens it
-- again with the cooldown doubled.
\set VERBOSITY terse
CREATE FUNCTION fb(q text) RETURNS text LANGUAGE sql AS $$
	SELECT format('%s, %s failures, opened %s times', failure_state,
				  consecutive_failures, failure_opens)
	  FROM fqs_queues WHERE queue = q $$;
CREATE TABLE held (id bigint, receipt bigint);
SELECT fqs_create_queue('dest', failure_threshold => 3,
						failure_cooldown => '2 seconds', max_attempts => 100);
SELECT fqs_create_queue('other');
SELECT failure_threshold, failure_cooldown, fb('dest') FROM fqs_queues
 WHERE queue = 'dest';
-- queues without a threshold have no breaker
SELECT failure_threshold, failure_state, consecutive_failures
  FROM fqs_queues WHERE queue = 'other';
CREATE TABLE ids AS SELECT fqs_enqueue('dest', 'm' || i, 'k' || i) AS id
						 FROM generate_series(1, 20) i;
SELECT count(*) FROM (SELECT fqs_enqueue('other', 'o' || i, 'k' || i)
						FROM generate_series(1, 5) i) s;

-- two failures: still closed
INSERT INTO held SELECT id, receipt FROM fqs_claim('dest', 2);
SELECT fqs_fail(id, receipt, 'vendor down', retry_after => '0') FROM held;
TRUNCATE held;
SELECT fb('dest');
-- a success in between starts the count again
INSERT INTO held SELECT id, receipt FROM fqs_claim('dest', 1);
SELECT fqs_commit(id, receipt) FROM held;
TRUNCATE held;
SELECT fb('dest');
-- a rolled-back failure is no failure
BEGIN;
SELECT count(fqs_fail(id, receipt, 'x')) FROM fqs_claim('dest', 1);
SELECT fb('dest');
ROLLBACK;
SELECT fb('dest');
-- three failures in one call (the array form) open it
INSERT INTO held SELECT id, receipt FROM fqs_claim('dest', 3);
SELECT fqs_fail(array_agg(id), array_agg(receipt), 'vendor down',
				retry_after => '0') FROM held;
TRUNCATE held;
SELECT fb('dest'), failure_reopens_at - failure_changed_at AS cooldown
  FROM fqs_queues WHERE queue = 'dest';

-- open: claims of the queue get nothing and spend no attempt; the
-- sequential stage is held back too; other queues are served
SELECT sum(s.attempts) AS attempts FROM ids, fqs_message_status(ids.id) s;
SELECT count(*) AS claimed FROM fqs_claim('dest', 10);
SELECT count(*) AS claimed FROM fqs_claim_sequential('dest', 10);
SELECT count(*) AS claimed, array_agg(DISTINCT payload LIKE 'o%') AS others
  FROM fqs_claim_any(ARRAY['dest', 'other'], 2);
-- a waiting claim keeps waiting (here: until its wait ends)
SELECT count(*) AS claimed FROM fqs_claim('dest', 1, wait => '200 ms');
-- enqueues are accepted as usual
SELECT fqs_enqueue('dest', 'late', 'k1') > 0 AS enqueued;
SELECT fb('dest');
SELECT sum(s.attempts) AS attempts FROM ids, fqs_message_status(ids.id) s;

-- after the cooldown: half-open, exactly one message is let through
SELECT pg_sleep(2.1);
SELECT fb('dest');
INSERT INTO held SELECT id, receipt FROM fqs_claim('dest', 10);
SELECT count(*) AS probe FROM held;
SELECT fb('dest');
-- while the probe is out, nothing else is handed out
SELECT count(*) AS claimed FROM fqs_claim('dest', 10);
SELECT count(*) AS claimed FROM fqs_claim_sequential('dest', 10);
-- the probe fails: open again, the cooldown doubled
SELECT fqs_fail(id, receipt, 'still down', retry_after => '0') FROM held;
TRUNCATE held;
SELECT fb('dest'), failure_reopens_at - failure_changed_at AS cooldown
  FROM fqs_queues WHERE queue = 'dest';
SELECT count(*) AS claimed FROM fqs_claim('dest', 10);

-- a probe whose transaction rolls back gives the token back at once
SELECT pg_sleep(4.1);
BEGIN;
SELECT count(*) AS probe FROM fqs_claim('dest', 10);
ROLLBACK;
SELECT fb('dest');
-- so does a rolled-back savepoint
BEGIN;
SAVEPOINT a;
SELECT count(*) AS probe FROM fqs_claim('dest', 10);
ROLLBACK TO a;
SELECT count(*) AS probe_again FROM fqs_claim('dest', 10);
ROLLBACK;
-- the probe succeeds: closed, everything flows again
INSERT INTO held SELECT id, receipt FROM fqs_claim('dest', 10);
SELECT count(*) AS probe FROM held;
SELECT fqs_commit(id, receipt) FROM held;
TRUNCATE held;
SELECT fb('dest');
SELECT count(*) AS claimed FROM (SELECT fqs_commit(id, receipt)
								  FROM fqs_claim('dest', 5)) s;

-- expired leases are failures too
INSERT INTO held SELECT id, receipt FROM fqs_claim('dest', 3, lease => '50 ms');
TRUNCATE held;
SELECT pg_sleep(0.2);
SELECT fqs_maintain();
SELECT fb('dest');

-- the sequential stage counts: fqs_complete is a success, fqs_fail a failure
SELECT fqs_resume('dest');
SELECT fb('dest');
SELECT count(*) FROM (SELECT fqs_commit(id, receipt)
						FROM fqs_claim('dest', 20)) s;
INSERT INTO held SELECT id, receipt FROM fqs_claim_sequential('dest', 1);
INSERT INTO held SELECT id, receipt FROM fqs_claim_sequential('dest', 1);
SELECT count(fqs_fail(id, receipt, 'sink down', retry_after => '0')) FROM held;
TRUNCATE held;
SELECT fb('dest');
-- each stage counts its own: the concurrent stage's successes (a local
-- transform, say) do not reset the failures of the stage that sends
SELECT fqs_enqueue('dest', 'more', 'k99') > 0 AS enqueued;
SELECT count(fqs_commit(id, receipt)) FROM fqs_claim('dest', 1);
SELECT fb('dest');
INSERT INTO held SELECT id, receipt FROM fqs_claim_sequential('dest', 1);
SELECT fqs_complete(id, receipt) FROM held;
TRUNCATE held;
SELECT fb('dest');
INSERT INTO held SELECT id, receipt FROM fqs_claim_sequential('dest', 1);
INSERT INTO held SELECT id, receipt FROM fqs_claim_sequential('dest', 1);
INSERT INTO held SELECT id, receipt FROM fqs_claim_sequential('dest', 1);
SELECT count(fqs_fail(id, receipt, 'sink down', retry_after => '0')) FROM held;
TRUNCATE held;
SELECT fb('dest');
SELECT count(*) AS claimed FROM fqs_claim_sequential('dest', 10);
-- half-open: the probe is the sequential stage's, whose failures opened it
SELECT pg_sleep(2.1);
SELECT count(*) AS claimed FROM fqs_claim('dest', 10);
INSERT INTO held SELECT id, receipt FROM fqs_claim_sequential('dest', 10);
SELECT count(*) AS probe FROM held;
SELECT fqs_fail(id, receipt, 'sink down', retry_after => '0') FROM held;
TRUNCATE held;
SELECT fb('dest');
-- fqs_resume closes an open breaker by hand
SELECT fqs_resume('dest');
SELECT fb('dest');
SELECT count(*) > 0 AS claimed FROM fqs_claim_sequential('dest', 1);

-- settings: alter them (0 turns the breaker off), bad values are refused
SELECT fqs_alter_queue('dest', failure_cooldown => '5 seconds');
SELECT failure_threshold, failure_cooldown FROM fqs_queues WHERE queue = 'dest';
SELECT fqs_alter_queue('dest', failure_threshold => 0);
SELECT failure_threshold, failure_state FROM fqs_queues WHERE queue = 'dest';
SELECT regress_err($$SELECT fqs_create_queue('bad', failure_threshold => -1)$$);
SELECT regress_err($$SELECT fqs_create_queue('bad', failure_threshold => 1, failure_cooldown => '0')$$);
SELECT regress_err($$SELECT fqs_alter_queue('other', failure_cooldown => '-1 s')$$);
SELECT regress_err($$SELECT fqs_alter_queue('other', failure_cooldown => '1 month')$$);
SELECT regress_err($$SELECT fqs_alter_queue('other', failure_threshold => 1, failure_cooldown => '100 days')$$);
SELECT fqs_drop_queue('dest', force => true);
SELECT fqs_drop_queue('other', force => true);
DROP TABLE held, ids;
DROP FUNCTION fb(text);
