-- Upgrades: ALTER EXTENSION fqs UPDATE from every released version keeps
-- queues, messages in every state, leases and receipts.  Released: 0.1.
-- Runs in a database of its own (the others' state stays as it was).
\set VERBOSITY terse
CREATE DATABASE fqs_upgrade;
\c fqs_upgrade
CREATE EXTENSION fqs VERSION '0.1';
SELECT extversion FROM pg_extension WHERE extname = 'fqs';
-- 0.1 has no metrics
SELECT count(*) AS metrics_functions FROM pg_proc
 WHERE proname IN ('fqs_metrics', 'fqs_queue_metrics');
SELECT fqs_create_queue('up', max_attempts => 1, max_ready => 100);
SELECT fqs_create_queue('up_paused', priority => 3);
SELECT fqs_pause('up_paused');
SELECT count(*) FROM fqs_enqueue_batch('up',
    ARRAY['a1', 'a2', 'a3', 'b1', 'b2', 'c1', 'c2', 'd1'],
    ARRAY['a', 'a', 'a', 'b', 'b', 'c', 'c', 'd']);
SELECT 1 FROM fqs_enqueue('up', 'e1', fifo_key => 'e', dedup_id => 'msh-1');
SELECT 1 FROM fqs_enqueue('up_paused', 'p1');
SELECT 1 FROM fqs_enqueue('up', 'later', fifo_key => 'f',
                          deliver_at => now() + interval '1 hour');
-- every state: done, sequencing (held), processed, claimed, dead, ready,
-- delayed
CREATE TABLE held AS SELECT * FROM fqs_claim('up', 8);
SELECT count(fqs_commit(id, receipt, 'r-' || payload)) FROM held
 WHERE payload IN ('a1', 'a2', 'b1', 'b2', 'c1');
SELECT fqs_fail(id, receipt, 'bad') FROM held WHERE payload = 'a3';
CREATE TABLE seq_held AS SELECT * FROM fqs_claim_sequential('up', 10);
SELECT fqs_complete(id, receipt) FROM seq_held WHERE fifo_key = 'a' AND seq = 1;
CREATE TABLE before AS
SELECT m.id, s.state, s.attempts, s.fifo_key, s.seq
  FROM fqs.message m, fqs_message_status(m.id) s;
SELECT state, count(*) FROM before GROUP BY state ORDER BY state;
CREATE TABLE queues_before AS SELECT * FROM fqs_queues;

ALTER EXTENSION fqs UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'fqs';

-- the same messages in the same states; the same queues and settings
SELECT count(*) AS changed FROM before b, fqs_message_status(b.id) s
 WHERE (s.state, s.attempts, s.fifo_key, s.seq)
       IS DISTINCT FROM (b.state, b.attempts, b.fifo_key, b.seq);
SELECT count(*) AS queues_changed FROM queues_before b
  JOIN fqs_queues q USING (queue)
 WHERE (q.max_ready, q.lease, q.max_attempts, q.priority, q.paused, q.pen,
        q.ready, q.delayed, q.claimed, q.processed, q.sequencing, q.dead,
        q.done_total)
       IS DISTINCT FROM
       (b.max_ready, b.lease, b.max_attempts, b.priority, b.paused, b.pen,
        b.ready, b.delayed, b.claimed, b.processed, b.sequencing, b.dead,
        b.done_total);
-- leases and receipts given out by 0.1 are still good
SELECT count(fqs_commit(id, receipt)) FROM held WHERE payload IN ('c2', 'd1');
SELECT count(fqs_complete(id, receipt))
  FROM (SELECT * FROM seq_held WHERE NOT (fifo_key = 'a' AND seq = 1)
         ORDER BY fifo_key, seq) s;
-- a dedup id given before the update still deduplicates
SELECT fqs_enqueue('up', 'e1 again', fifo_key => 'e', dedup_id => 'msh-1')
       = (SELECT id FROM before b WHERE b.fifo_key = 'e') AS deduplicated;
-- everything left drains through both stages, in order, and is counted
SELECT fqs_resume('up_paused');
SELECT count(fqs_commit(id, receipt, payload))
  FROM fqs_claim('up', 10) c;
SELECT count(fqs_commit(id, receipt, payload)) FROM fqs_claim('up_paused', 10);
SELECT count(fqs_complete(id, receipt))
  FROM (SELECT * FROM fqs_claim_sequential('up', 10) ORDER BY fifo_key, seq) s;
SELECT count(fqs_complete(id, receipt)) FROM fqs_claim_sequential('up_paused', 10);
SELECT queue, ready, delayed, claimed, processed, sequencing, dead, done_total
  FROM fqs_queues ORDER BY queue;
SELECT queue, enqueued, committed, completed
  FROM fqs_queue_metrics() ORDER BY queue;
-- (the library counted since the server started, under 0.1 too)
SELECT l FROM regexp_split_to_table(fqs_metrics(), E'\n') l
 WHERE l LIKE 'fqs_completed_total{%';
-- a fresh install is at the default version
DROP EXTENSION fqs;
CREATE EXTENSION fqs;
SELECT extversion FROM pg_extension WHERE extname = 'fqs';
\c contrib_regression
DROP DATABASE fqs_upgrade WITH (FORCE);
