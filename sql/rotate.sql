-- Rotation of message generations: finished messages leave by TRUNCATE
-- of their generation table.  Rotation is global, so start from no queues.
\set VERBOSITY terse
SELECT count(*) >= 0 AS dropped FROM (SELECT fqs_drop_queue(queue, true) FROM fqs_queues) d;
SELECT fqs_create_queue('rot');
-- a forced rotation gives up when a lock it needs stays taken for 200 ms
-- (the worker's pass, autovacuum): try again, as the worker would
CREATE FUNCTION rotate_now() RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
	g integer;
BEGIN
	SET LOCAL client_min_messages = warning;
	FOR i IN 1..100 LOOP
		g := fqs_rotate(true);
		IF g IS NOT NULL THEN
			RETURN g;
		END IF;
		PERFORM pg_sleep(0.05);
	END LOOP;
	RETURN NULL;
END $$;
SELECT cur_gen AS gen0 FROM fqs.meta \gset
SELECT count(*) FROM fqs_enqueue_batch('rot', ARRAY['a','b']);
SELECT fqs_commit(id, receipt) FROM fqs_claim('rot', 2);
SELECT fqs_complete(id, receipt) FROM fqs_claim_sequential('rot', 2) ORDER BY seq;
-- not due yet without force
SELECT fqs_rotate() IS NULL AS not_due;
SELECT rotate_now() = (:gen0 + 1) % 4 AS rotated;
SELECT rotate_now() = (:gen0 + 2) % 4 AS rotated;
SELECT rotate_now() = (:gen0 + 3) % 4 AS rotated;
-- the next one would truncate gen0, whose messages are done
SELECT count(*) AS before_truncate FROM fqs.message WHERE gen = :gen0 AND qid = (SELECT qid FROM fqs.queue WHERE name = 'rot');
SELECT rotate_now() = :gen0 AS rotated;
SELECT count(*) AS after_truncate FROM fqs.message WHERE gen = :gen0;
-- finished messages are answerable until then, and gone after
SELECT count(*) AS status_rows FROM fqs.done d, fqs_message_status(d.id) s;
-- unfinished messages never pin their generation: rotation copies them
-- forward, in every state, with payloads, results, attempts and dedup ids
SELECT fqs_create_queue('rot2', lease => '1 hour', max_attempts => 1);
SELECT fqs_enqueue('rot', 'pending', 'p', dedup_id => 'd-pending') AS pending \gset
SELECT fqs_enqueue('rot2', 'k1', 'k') AS k1 \gset
SELECT fqs_enqueue('rot2', 'k2', 'k') AS k2 \gset
SELECT fqs_enqueue('rot2', 'k3', 'k') AS k3 \gset
SELECT fqs_enqueue('rot2', 'j1', 'j') AS j1 \gset
SELECT fqs_enqueue('rot2', 'later', 'l', deliver_at => now() + interval '1 day') AS later \gset
CREATE TEMP TABLE rc AS SELECT id, receipt FROM fqs_claim('rot2', 4) ORDER BY id;
SELECT fqs_commit(:k1, receipt, 'result of k1') FROM rc WHERE id = :k1;
SELECT fqs_fail(:j1, receipt, 'broken') FROM rc WHERE id = :j1;
CREATE TEMP TABLE states AS
SELECT i AS id, s.state, s.attempts, s.seq, s.fifo_key
  FROM unnest(ARRAY[:pending, :k1, :k2, :k3, :j1, :later]::bigint[]) i,
       fqs_message_status(i) s;
SELECT state, count(*) FROM states GROUP BY 1 ORDER BY 1;
-- a whole ring and more
-- (each in its own transaction: a rotation holds its generation until its
-- transaction ends, as it does in the worker's pass)
CREATE PROCEDURE rotate_many(n integer, INOUT rotations integer DEFAULT 0)
LANGUAGE plpgsql AS $$
BEGIN
	FOR i IN 1..n LOOP
		IF rotate_now() IS NOT NULL THEN
			rotations := rotations + 1;
		END IF;
		COMMIT;
	END LOOP;
END $$;
CALL rotate_many(9);
DROP PROCEDURE rotate_many(integer, integer);
SELECT count(*) AS unchanged
  FROM states t, fqs_message_status(t.id) s
 WHERE (s.state, s.attempts, s.seq, s.fifo_key) = (t.state, t.attempts, t.seq, t.fifo_key);
SELECT fqs_enqueue('rot', 'again', dedup_id => 'd-pending') = :pending AS dedup_kept;
-- and everything still finishes, in order
SELECT count(fqs_commit(id, receipt)) FROM rc WHERE id IN (:k2, :k3);
SELECT fqs_retry(:j1);
SELECT fqs_retry(:later);
SELECT count(fqs_commit(id, receipt)) FROM fqs_claim('rot2', 10);
SELECT count(fqs_commit(id, receipt)) FROM fqs_claim('rot', 10);
SELECT fifo_key, seq, payload, fqs_complete(id, receipt) IS NOT NULL AS completed
  FROM (SELECT * FROM fqs_claim_sequential('rot2', 10) ORDER BY fifo_key, seq) x;
SELECT count(fqs_complete(id, receipt)) FROM fqs_claim_sequential('rot', 10);
SELECT queue, ready, claimed, processed, dead, done_total FROM fqs_queues
 WHERE queue IN ('rot', 'rot2') ORDER BY 1;
SELECT fqs_drop_queue('rot2', true);
DROP FUNCTION rotate_now();
