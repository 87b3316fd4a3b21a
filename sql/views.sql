-- Monitoring: fqs_queues counts every state, fqs_dead_messages and
-- fqs_message_status answer "where is my message".
\set VERBOSITY terse
SELECT fqs_create_queue('mon', max_attempts => 1);
-- eight messages over four keys
SELECT array_agg(i ORDER BY i) AS ids
  FROM fqs_enqueue_batch('mon', ARRAY['a1','a2','b1','b2','c1','c2','d1','d2'],
                         ARRAY['a','a','b','b','c','c','d','d']) i \gset
CREATE TEMP TABLE c AS SELECT * FROM fqs_claim('mon', 8);
-- a: both processed and a1 done; b: b1 processed and sequencing;
-- c: c1 dead; d: left claimed
SELECT fqs_commit(id, receipt) FROM c WHERE fifo_key IN ('a', 'b') ORDER BY id;
SELECT fqs_fail(id, receipt, 'bad segment') FROM c WHERE payload = 'c1';
SELECT fqs_commit(id, receipt) FROM c WHERE payload = 'c2';
CREATE TEMP TABLE s AS SELECT * FROM fqs_claim_sequential('mon', 3);
SELECT fifo_key, seq FROM s ORDER BY 1, 2;
SELECT fqs_complete(id, receipt) FROM s WHERE payload = 'a1';
SELECT queue, pen, ready, claimed, processed, sequencing, dead, done_total,
       breaker_open, oldest_unfinished_age > interval '0' AS has_age
  FROM fqs_queues WHERE queue = 'mon';
SELECT m.fifo_key, m.seq, m.state, m.attempts, m.last_error,
       m.enqueued_at IS NOT NULL AS enq, m.claimed_at IS NOT NULL AS clm,
       m.committed_at IS NOT NULL AS cmt, m.completed_at IS NOT NULL AS cpl
  FROM unnest(:'ids'::bigint[]) i, fqs_message_status(i) m ORDER BY i;
SELECT queue, fifo_key, seq, stage, attempts, last_error,
       died_at >= enqueued_at AS ordered_times
  FROM fqs_dead_messages WHERE queue = 'mon';
-- unknown ids: no row
SELECT count(*) FROM fqs_message_status(-1);
-- a paused queue shows as such
SELECT fqs_pause('mon');
SELECT paused FROM fqs_queues WHERE queue = 'mon';
-- attempts are the deliveries of the stage a message is in: a processed
-- head that the sequential stage has not delivered yet shows its
-- concurrent-stage attempts, not the sequential stage's none
SELECT fqs_create_queue('mon2');
SELECT array_agg(i ORDER BY i) AS ids2
  FROM fqs_enqueue_batch('mon2', ARRAY['h1', 'h2'], ARRAY['k', 'k']) i \gset
CREATE TEMP TABLE c2 AS SELECT * FROM fqs_claim('mon2', 2);
SELECT fqs_fail(id, receipt, 'once', retry_after => '0 s') FROM c2 WHERE payload = 'h1';
SELECT fqs_commit(id, receipt) FROM fqs_claim('mon2', 1);
SELECT s.seq, s.state, s.attempts FROM unnest(:'ids2'::bigint[]) i,
       fqs_message_status(i) s ORDER BY s.seq;
-- once the sequential stage delivered it twice, its attempts are those
SELECT fqs_fail(id, receipt, 'sink down', retry_after => '0 s')
  FROM fqs_claim_sequential('mon2', 1);
SELECT count(*) FROM fqs_claim_sequential('mon2', 1);
SELECT s.seq, s.state, s.attempts FROM unnest(:'ids2'::bigint[]) i,
       fqs_message_status(i) s ORDER BY s.seq;
SELECT fqs_drop_queue('mon2', force => true);
