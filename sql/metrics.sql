-- Per-queue counts, rates and latency (shared memory, kept at commit):
-- fqs_queue_metrics(), the new columns of fqs_queues, and fqs_metrics()
-- in the Prometheus text format.
\set VERBOSITY terse
SELECT fqs_create_queue('met', max_attempts => 2, lease => '1 s');
-- a new queue has no counts yet
SELECT queue, since IS NULL AS uncounted, enqueued, completed, enqueued_per_s,
       latency_p50, latency_count
  FROM fqs_queue_metrics() WHERE queue = 'met';
-- an aborted transaction and a rolled-back savepoint count nothing
BEGIN;
SELECT count(*) FROM fqs_enqueue_batch('met', ARRAY['x', 'y']);
ROLLBACK;
BEGIN;
SELECT 1 FROM fqs_enqueue('met', 'a1', fifo_key => 'a');
SAVEPOINT s;
SELECT 1 FROM fqs_enqueue('met', 'zz', fifo_key => 'z');
ROLLBACK TO s;
SAVEPOINT s2;
SELECT count(*) FROM fqs_enqueue_batch('met', ARRAY['a2', 'b1', 'b2'],
                                       ARRAY['a', 'b', 'b']);
RELEASE s2;
-- not counted before the commit
SELECT since IS NULL AS uncounted, enqueued FROM fqs_queue_metrics()
 WHERE queue = 'met';
COMMIT;
SELECT since <= now() AS since_ok, enqueued, enqueued_per_s > 0 AS has_rate
  FROM fqs_queue_metrics() WHERE queue = 'met';
-- concurrent stage: three committed, b2 failed twice (dead at max_attempts)
CREATE TEMP TABLE mc AS SELECT * FROM fqs_claim('met', 4);
SELECT count(fqs_commit(id, receipt, 'ok')) FROM mc WHERE payload <> 'b2';
SELECT fqs_fail(id, receipt, 'no', retry_after => '0 s') FROM mc
 WHERE payload = 'b2';
SELECT fqs_fail(id, receipt, 'no again') FROM fqs_claim('met', 1);
-- a lease that runs out: claimed, then found expired by the next claim
SELECT 1 FROM fqs_enqueue('met', 'c1', fifo_key => 'c');
SELECT count(*) FROM fqs_claim('met', 1, lease => '10 ms');
SELECT pg_sleep(0.05);
SELECT count(fqs_commit(id, receipt)) FROM fqs_claim('met', 1);
-- sequential stage: a failure retried, then all four complete in order
CREATE TEMP TABLE ms AS SELECT * FROM fqs_claim_sequential('met', 10);
SELECT fqs_fail(id, receipt, 'sink down', retry_after => '0 s') FROM ms
 WHERE fifo_key = 'b';
SELECT count(fqs_complete(id, receipt))
  FROM (SELECT * FROM ms WHERE fifo_key <> 'b' ORDER BY fifo_key, seq) x;
SELECT count(fqs_complete(id, receipt)) FROM fqs_claim_sequential('met', 10);
SELECT enqueued, claimed, committed, released, completed, failed, expired,
       dead, latency_count, latency_sum >= 0 AS sum_ok,
       latency_buckets[cardinality(latency_buckets)] AS in_last_bucket,
       cardinality(latency_buckets) AS buckets
  FROM fqs_queue_metrics() WHERE queue = 'met';
-- the view: rates over the last minute, percentiles, backlog
SELECT claimed_per_s > 0 AS claims, completed_per_s > 0 AS completions,
       latency_p50 <= latency_p90 AND latency_p90 <= latency_p99 AS ordered,
       latency_p99 < interval '1 minute' AS p99_small,
       backlog_seconds
  FROM fqs_queues WHERE queue = 'met';
-- a backlog: unfinished (not dead) messages over the completion rate
SELECT count(*) FROM fqs_enqueue_batch('met', ARRAY['d1', 'd2', 'd3']);
SELECT backlog_seconds > 0 AS has_backlog,
       abs(backlog_seconds - 3 / completed_per_s) < 0.001 AS is_depth_over_rate
  FROM fqs_queues WHERE queue = 'met';
-- a queue that never completed anything has no backlog estimate
SELECT fqs_create_queue('met_idle');
SELECT 1 FROM fqs_enqueue('met_idle', 'i1');
SELECT backlog_seconds, completed_per_s FROM fqs_queues WHERE queue = 'met_idle';
-- the Prometheus text: HELP and TYPE once per family, one line per queue
SELECT line FROM regexp_split_to_table(fqs_metrics(), E'\n') line
 WHERE line LIKE '#%' OR line LIKE '%queue="met"%'
   AND line NOT LIKE 'fqs_latency_seconds_bucket%'
   AND line NOT LIKE 'fqs_latency_seconds_sum%';
SELECT split_part(line, ' ', 2)::float8 > 0 AS has_sum
  FROM regexp_split_to_table(fqs_metrics(), E'\n') line
 WHERE line LIKE 'fqs_latency_seconds_sum{queue="met"}%';
SELECT line FROM regexp_split_to_table(fqs_metrics(), E'\n') line
 WHERE line ~ '^fqs_latency_seconds_bucket\{queue="met",le="(0.001|1.024|8388.608|\+Inf)"\}';
-- buckets rise to the count
SELECT bool_and(b.n >= b.prev) AND max(b.n) = max(c.cnt) AS cumulative
  FROM (SELECT n, lag(n, 1, 0::bigint) OVER (ORDER BY o) AS prev
          FROM (SELECT split_part(line, ' ', 2)::bigint AS n, o
                  FROM regexp_split_to_table(fqs_metrics(), E'\n')
                       WITH ORDINALITY AS l(line, o)
                 WHERE line LIKE 'fqs_latency_seconds_bucket{queue="met",%') x) b,
       (SELECT latency_count AS cnt FROM fqs_queue_metrics()
         WHERE queue = 'met') c;
-- label values are escaped
SELECT fqs_create_queue(E'we"ird\\q');
SELECT line FROM regexp_split_to_table(fqs_metrics(), E'\n') line
 WHERE line LIKE 'fqs_paused{queue="we%';
SELECT fqs_drop_queue(E'we"ird\\q');
-- a role with no right on a queue sees no counts of it
CREATE ROLE met_nobody;
SET ROLE met_nobody;
SELECT count(*) AS seen FROM fqs_queue_metrics() WHERE queue LIKE 'met%';
SELECT count(*) AS lines FROM regexp_split_to_table(fqs_metrics(), E'\n') line
 WHERE line LIKE '%"met%';
RESET ROLE;
SELECT fqs_grant('met', 'met_nobody', 'produce');
SET ROLE met_nobody;
SELECT queue FROM fqs_queue_metrics() WHERE queue LIKE 'met%';
RESET ROLE;
-- a dropped queue's counts go; a re-created one starts from nothing
SELECT fqs_drop_queue('met', force => true);
SELECT fqs_create_queue('met');
SELECT since IS NULL AS uncounted, enqueued FROM fqs_queue_metrics()
 WHERE queue = 'met';
SELECT fqs_drop_queue('met');
SELECT fqs_drop_queue('met_idle', force => true);
DROP ROLE met_nobody;
