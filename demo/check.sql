\pset footer off
\echo
\echo '== fqs_queues at the end'
SELECT queue, breaker_open, pen, ready, claimed, processed, sequencing, dead, done_total,
       oldest_unfinished_age FROM fqs_queues;
\echo '== failure breaker: sends that failed while the EHR was down, and how often it opened'
SELECT (SELECT count(*) FROM demo.failed) AS failed_sends,
       failure_opens, failure_state
  FROM fqs_queues WHERE queue = 'adt_ingress';
\echo '== concurrent stage: translations that overlapped in time (parallelism)'
SELECT max(n) AS max_parallel_translations
  FROM (SELECT (SELECT count(*) FROM demo.work w2
                 WHERE w2.started <= w1.started AND w2.finished > w1.started) AS n
          FROM demo.work w1) x;
SELECT worker, count(*) AS translated FROM demo.work GROUP BY 1 ORDER BY 1;
\echo '== translations that finished before an earlier message of the same patient'
SELECT count(*) AS committed_out_of_order
  FROM demo.work a JOIN demo.work b ON a.fifo_key = b.fifo_key AND a.seq > b.seq
 WHERE a.finished < b.finished;
\echo '== sequential stage: what patient-1 received, in order'
SELECT seq, payload FROM demo.sent WHERE fifo_key = 'patient-1' ORDER BY n;
\echo '== FIFO per key held for every patient (send order = enqueue order)'
SELECT fifo_key, count(*) AS sent,
       bool_and(seq = rn) AS in_order
  FROM (SELECT fifo_key, seq, row_number() OVER (PARTITION BY fifo_key ORDER BY n) AS rn
          FROM demo.sent) s
 GROUP BY 1 ORDER BY 1;
