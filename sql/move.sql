-- The node's side of a move (fqs 0.3, fqs_router_move_queue): the steps'
-- refusals with their SQLSTATEs, QM001 from every call a moving queue
-- refuses, and an export imported back under another name after the
-- source forgot the queue: every message in its state, key, seq, attempts
-- and result, dedup ids and grants.
\set VERBOSITY terse

SELECT fqs_create_queue('mq', max_attempts => 3);
SELECT fqs_enqueue('mq', 'a1', 'A') IS NOT NULL AS a1,
	   fqs_enqueue('mq', 'a2', 'A', dedup_id => 'd-a2') IS NOT NULL AS a2,
	   fqs_enqueue('mq', 'b1', 'B') IS NOT NULL AS b1,
	   fqs_enqueue('mq', 'c1', 'C', deliver_at => now() + interval '1 hour') IS NOT NULL AS c1;
CREATE ROLE regress_mover;
SELECT fqs_grant('mq', 'regress_mover', 'produce');
-- a1, a2 processed (with results), b1 failed once and ready again
CREATE TEMP TABLE mg AS SELECT id, receipt, payload FROM fqs_claim('mq', 3);
SELECT count(fqs_commit(id, receipt, 'r-' || payload)) FROM mg WHERE payload IN ('a1', 'a2');
SELECT fqs_fail(id, receipt, 'boom', retry_after => '0') FROM mg WHERE payload = 'b1';
CREATE TEMP TABLE before AS
SELECT m.payload, s.state, s.seq, s.attempts, s.last_error
  FROM fqs.message m, fqs_message_status(m.id) s
 WHERE m.qid = (SELECT qid FROM fqs.queue WHERE name = 'mq');
SELECT * FROM before ORDER BY payload;

-- the steps refuse what they must
SELECT regress_err($$SELECT fqs.move_begin('nosuch', 1)$$);
SELECT regress_err($$SELECT fqs.move_drain('mq')$$);
SELECT regress_err($$SELECT fqs.move_export('mq', 1)$$);
SELECT regress_err($$SELECT fqs.move_export('nosuch', 1)$$);
SELECT fqs.move_begin('mq', 1);
SELECT fqs.move_begin('mq', 1);          -- again: no change
SELECT regress_err($$SELECT fqs.move_begin('mq', 2)$$);
SELECT regress_err($$SELECT fqs.move_export('mq', 2)$$);

-- a draining queue refuses new work, settings, retries and skips
SELECT regress_err($$SELECT fqs_enqueue('mq', 'x')$$);
SELECT regress_err($$SELECT count(*) FROM fqs_enqueue_batch('mq', ARRAY['x'])$$);
SELECT regress_err($$SELECT count(*) FROM fqs_claim('mq')$$);
SELECT regress_err($$SELECT count(*) FROM fqs_claim_sequential('mq')$$);
SELECT regress_err($$SELECT count(*) FROM fqs_claim_any(ARRAY['mq'])$$);
SELECT regress_err($$SELECT fqs_alter_queue('mq', lease => '1 minute')$$);
SELECT regress_err($$SELECT fqs_pause('mq')$$);
SELECT regress_err($$SELECT fqs_resume('mq')$$);
SELECT regress_err($$SELECT fqs_drop_queue('mq', force => true)$$);
SELECT regress_err($$SELECT fqs_grant('mq', 'regress_mover', 'consume')$$);
SELECT regress_err(format('SELECT fqs_retry(%s)', (SELECT id FROM fqs.message WHERE payload = 'c1')));
SELECT regress_err(format('SELECT fqs_skip(%s, %L)', (SELECT id FROM fqs.message WHERE payload = 'c1'), 'no'));

-- no lease is out: the drain finds none, the export takes everything
SELECT fqs.move_drain('mq') AS leases;
CREATE TEMP TABLE doc AS SELECT fqs.move_export('mq', 1) AS d;
SELECT jsonb_array_length(d -> 'keys') AS keys, jsonb_array_length(d -> 'messages') AS messages,
	   jsonb_array_length(d -> 'ready') AS ready, jsonb_array_length(d -> 'processed') AS processed,
	   jsonb_array_length(d -> 'dedup') AS dedup, jsonb_array_length(d -> 'grants') AS grants
  FROM doc;
SELECT move_state, move_epoch FROM fqs.move_state('mq');
SELECT regress_err($$SELECT fqs_enqueue('mq', 'x')$$);
SELECT regress_err($$SELECT fqs.move_import('mq', 1, (SELECT d FROM doc))$$);

-- the source forgets it: a tombstone that still answers QM001
SELECT fqs.move_finish('mq', 1);
SELECT fqs.move_finish('mq', 2);           -- another epoch: nothing
SELECT move_state, move_epoch FROM fqs.move_state('mq');
SELECT count(*) AS keys_left FROM fqs.key_head h JOIN fqs.queue q USING (qid) WHERE q.name = 'mq';
SELECT regress_err($$SELECT count(*) FROM fqs_claim('mq')$$);

-- imported back here under another name: the same messages, states, seqs,
-- attempts, results, dedup ids and grants
SELECT fqs.move_import('mq2', 2, (SELECT d FROM doc)) AS messages;
SELECT regress_err($$SELECT fqs.move_import('mq2', 2, (SELECT d FROM doc))$$);
SELECT s.payload, s.state = b.state AS same_state, s.seq = b.seq AS same_seq,
	   s.attempts = b.attempts AS same_attempts, s.last_error IS NOT DISTINCT FROM b.last_error AS same_error
  FROM (SELECT m.payload, x.* FROM fqs.message m, fqs_message_status(m.id) x
		 WHERE m.qid = (SELECT qid FROM fqs.queue WHERE name = 'mq2')) s
  JOIN before b USING (payload)
 ORDER BY 1;
SELECT fqs_enqueue('mq2', 'again', 'A', dedup_id => 'd-a2') = (SELECT id FROM fqs.message WHERE payload = 'a2') AS dedup_kept;
SELECT role::text, privilege FROM fqs.grants g JOIN fqs.queue q USING (qid) WHERE q.name = 'mq2';
-- the keys go on: A's next message is seq 3, and A releases a1 then a2
-- (their results)
SELECT seq FROM fqs_message_status(fqs_enqueue('mq2', 'a3', 'A'));
SELECT fifo_key, seq, payload FROM fqs_claim_sequential('mq2', 10) ORDER BY fifo_key, seq;

-- abort: a draining queue takes work again
SELECT fqs_create_queue('mq3');
SELECT fqs.move_begin('mq3', 5);
SELECT fqs.move_abort('mq3', 4);           -- another epoch: nothing
SELECT fqs.move_abort('mq3', 5);
SELECT fqs_enqueue('mq3', 'ok') IS NOT NULL AS enqueued;

DO $$ BEGIN
	PERFORM fqs.move_abort('mq', 1);
	PERFORM fqs_drop_queue(name, force => true) FROM fqs.queue WHERE name IN ('mq', 'mq2', 'mq3');
END $$;
DROP ROLE regress_mover;
