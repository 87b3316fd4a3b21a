/* src/fqs--0.1--0.2.sql */

\echo Use "ALTER EXTENSION fqs UPDATE TO '0.2'" to load this file. \quit

/*
 * 0.2: per-queue counters, rates and enqueue-to-done latency kept in
 * shared memory at commit (src/metrics.c); fqs_queues gains rates,
 * latency percentiles and backlog_seconds; fqs_metrics() prints them in
 * the Prometheus text format.
 */

/*
 * This database's queues as the caller may see them, with their counts
 * (src/metrics.c).  Public: fqs_metrics() runs as its caller, who has no
 * usage of schema fqs.
 */
CREATE FUNCTION fqs_queue_metrics(OUT qid integer, OUT queue text,
								  OUT paused boolean, OUT holding boolean,
								  OUT since timestamptz,
								  OUT enqueued bigint, OUT claimed bigint,
								  OUT committed bigint, OUT released bigint,
								  OUT completed bigint, OUT failed bigint,
								  OUT expired bigint, OUT dead bigint,
								  OUT enqueued_per_s float8,
								  OUT claimed_per_s float8,
								  OUT completed_per_s float8,
								  OUT latency_p50 interval,
								  OUT latency_p90 interval,
								  OUT latency_p99 interval,
								  OUT latency_count bigint,
								  OUT latency_sum float8,
								  OUT latency_buckets bigint[])
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'fqs_queue_metrics'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;

/*
 * The new columns come from shared memory, one read for all queues:
 * messages per second over the last minute, enqueue-to-done latency
 * percentiles over the last minute, and backlog_seconds, the unfinished
 * (not dead) messages divided by the completion rate (0 when nothing is
 * unfinished, NULL when nothing completes).  NULL without
 * shared_preload_libraries.
 */
CREATE OR REPLACE VIEW fqs_queues AS
SELECT q.name AS queue,
	   q.max_ready, q.lease, q.max_attempts, q.priority, q.max_claimed,
	   q.paused,
	   q.breaker_open,
	   pn.n AS pen,
	   r.ready,
	   r.delayed,
	   r.claimed,
	   k.unfinished - pn.n - r.ready - r.delayed - r.claimed
		 - s.sequencing - dd.dead AS processed,
	   s.sequencing,
	   dd.dead,
	   pg_catalog.now() - o.oldest AS oldest_unfinished_age,
	   k.done AS done_total,
	   q.failure_threshold, q.failure_cooldown,
	   fb.state AS failure_state,
	   fb.consecutive_failures,
	   fb.changed_at AS failure_changed_at,
	   fb.opens AS failure_opens,
	   fb.reopens_at AS failure_reopens_at,
	   mt.enqueued_per_s,
	   mt.claimed_per_s,
	   mt.completed_per_s,
	   mt.latency_p50,
	   mt.latency_p90,
	   mt.latency_p99,
	   CASE WHEN mt.qid IS NULL THEN NULL
			WHEN k.unfinished - dd.dead <= 0 THEN 0::float8
			WHEN mt.completed_per_s > 0
			THEN (k.unfinished - dd.dead) / mt.completed_per_s
	   END AS backlog_seconds
  FROM fqs.queue q
  LEFT JOIN @extschema@.fqs_queue_metrics() mt ON mt.qid = q.qid
  CROSS JOIN LATERAL fqs.failure_breaker(q.qid, q.failure_threshold) fb
  CROSS JOIN LATERAL (
	SELECT pg_catalog.count(*) AS n FROM fqs.pen p WHERE p.qid = q.qid) pn
  CROSS JOIN LATERAL (
	SELECT pg_catalog.count(*) FILTER (WHERE x.lease_until IS NULL
				AND x.visible_at <= pg_catalog.clock_timestamp()) AS ready,
		   pg_catalog.count(*) FILTER (WHERE x.lease_until IS NULL
				AND x.visible_at > pg_catalog.clock_timestamp()) AS delayed,
		   pg_catalog.count(*) FILTER (WHERE x.lease_until IS NOT NULL) AS claimed
	  FROM fqs.ready x WHERE x.qid = q.qid) r
  CROSS JOIN LATERAL (
	SELECT COALESCE(pg_catalog.sum(
			 /* the key's last seq, as enqueue.c's ENQ_TAIL_SQL reads it */
			 GREATEST(t.last_seq,
					  COALESCE((SELECT m.seq FROM fqs.message m
								 WHERE m.kid = t.kid
								 ORDER BY m.seq DESC LIMIT 1), h.head_seq))
			 - h.head_seq), 0)::bigint AS unfinished,
		   COALESCE(pg_catalog.sum(h.head_seq), 0)::bigint AS done
	  FROM fqs.key_tail t JOIN fqs.key_head h ON h.kid = t.kid
	 WHERE t.qid = q.qid) k
  CROSS JOIN LATERAL (
	SELECT COALESCE(pg_catalog.sum(rl.hold_upto - h.head_seq), 0)::bigint AS sequencing
	  FROM fqs.releasable rl JOIN fqs.key_head h ON h.kid = rl.kid
	 WHERE rl.qid = q.qid AND rl.lease_until IS NOT NULL
	   AND rl.hold_upto > h.head_seq) s
  CROSS JOIN LATERAL (
	SELECT pg_catalog.count(*) AS dead
	  FROM fqs.dead d WHERE d.qid = q.qid) dd
  CROSS JOIN LATERAL (
	SELECT pg_catalog.min(m.enqueued_at) AS oldest
	  FROM fqs.key_head h
	  JOIN fqs.message m ON m.kid = h.kid AND m.seq = h.head_seq + 1
	 WHERE h.qid = q.qid) o
 WHERE fqs.may_see(q.qid, true);

/*
 * The Prometheus text exposition format (version 0.0.4) of every queue
 * the caller may see: counters since the counts started (a restart starts
 * them again, which Prometheus' rate() expects), the enqueue-to-done
 * latency histogram, and gauges.  O(queues); reads no message table.
 */
CREATE FUNCTION fqs_metrics()
RETURNS text
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
WITH m AS (
	SELECT x.*,
		   'queue="' || replace(replace(replace(x.queue, E'\\', E'\\\\'),
										'"', E'\\"'), E'\n', E'\\n') || '"'
		   AS lbl
	  FROM @extschema@.fqs_queue_metrics() x),
fam(ord, name, kind, help) AS (
	VALUES (1, 'fqs_enqueued_total', 'counter', 'Messages stored by enqueues.'),
		   (2, 'fqs_claimed_total', 'counter', 'Concurrent-stage deliveries (claims).'),
		   (3, 'fqs_committed_total', 'counter', 'Messages committed by the concurrent stage.'),
		   (4, 'fqs_released_total', 'counter', 'Sequential-stage deliveries.'),
		   (5, 'fqs_completed_total', 'counter', 'Messages done (completed or skipped).'),
		   (6, 'fqs_failed_total', 'counter', 'fqs_fail calls, either stage.'),
		   (7, 'fqs_expired_total', 'counter', 'Leases that ran out, either stage.'),
		   (8, 'fqs_dead_total', 'counter', 'Messages moved to the dead letters.'),
		   (9, 'fqs_paused', 'gauge', '1 when the queue is paused.'),
		   (10, 'fqs_holding', 'gauge', '1 when new messages go to the holding pen.'),
		   (11, 'fqs_latency_seconds', 'histogram', 'Enqueue-to-done latency.')),
lines(ord, sub, qid, b, line) AS (
	SELECT f.ord, 0, 0, 0, '# HELP ' || f.name || ' ' || f.help FROM fam f
	UNION ALL
	SELECT f.ord, 1, 0, 0, '# TYPE ' || f.name || ' ' || f.kind FROM fam f
	UNION ALL
	SELECT f.ord, 2, m.qid, 0,
		   f.name || '{' || m.lbl || '} ' ||
		   CASE f.ord
			   WHEN 1 THEN m.enqueued
			   WHEN 2 THEN m.claimed
			   WHEN 3 THEN m.committed
			   WHEN 4 THEN m.released
			   WHEN 5 THEN m.completed
			   WHEN 6 THEN m.failed
			   WHEN 7 THEN m.expired
			   WHEN 8 THEN m.dead
			   WHEN 9 THEN m.paused::integer
			   WHEN 10 THEN m.holding::integer
		   END::text
	  FROM fam f, m WHERE f.ord <= 10
	UNION ALL
	SELECT 11, 2, m.qid, i,
		   /* bucket i counts latencies under 2^(i-1) ms, the last all */
		   'fqs_latency_seconds_bucket{' || m.lbl || ',le="' ||
		   CASE WHEN i = cardinality(m.latency_buckets) THEN '+Inf'
				ELSE (0.001::float8 * 2 ^ (i - 1))::text END ||
		   '"} ' || m.latency_buckets[i]
	  FROM m, generate_subscripts(m.latency_buckets, 1) i
	UNION ALL
	SELECT 11, 3, m.qid, 0,
		   'fqs_latency_seconds_sum{' || m.lbl || '} ' || m.latency_sum FROM m
	UNION ALL
	SELECT 11, 4, m.qid, 0,
		   'fqs_latency_seconds_count{' || m.lbl || '} ' || m.latency_count FROM m)
SELECT string_agg(line, E'\n' ORDER BY ord, qid, sub, b) || E'\n' FROM lines
$fn$;

GRANT SELECT ON fqs_queues TO PUBLIC;

/* the wake slot of each of this database's queues and stages, who waits
   there now, and how many sleeps wake-ups ended (shared memory; for
   diagnosis and tests) */
CREATE FUNCTION fqs.wake_slots(OUT qid integer,
							   OUT stage text,
							   OUT slot integer,
							   OUT waiters integer,
							   OUT mixed boolean,
							   OUT woken bigint)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'fqs_wake_slots'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;
REVOKE ALL ON FUNCTION fqs.wake_slots() FROM PUBLIC;
