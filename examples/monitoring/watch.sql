-- A terminal dashboard: psql -X -f examples/monitoring/watch.sql
-- (refreshes every 2 s; Ctrl-C ends it).
SELECT queue, paused AS p, breaker_open AS pen_on, failure_state AS fb,
       pen, ready, claimed, processed AS proc, sequencing AS seq, dead,
       round(enqueued_per_s::numeric, 1) AS in_s,
       round(completed_per_s::numeric, 1) AS done_s,
       date_trunc('milliseconds', latency_p50) AS p50,
       date_trunc('milliseconds', latency_p99) AS p99,
       round(backlog_seconds::numeric, 1) AS backlog_s,
       date_trunc('seconds', oldest_unfinished_age) AS oldest
  FROM fqs_queues ORDER BY queue
\watch 2
