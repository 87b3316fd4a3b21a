-- psql variables q, n, keys.  A fresh queue q (and no other), then n messages.
SET synchronous_commit = off;
SELECT pgmq.drop_queue(queue_name) FROM pgmq.list_queues();   -- every queue of earlier runs
SELECT pgmq.create(:'q');
SELECT count(*) FROM (
  SELECT pgmq.send_batch(:'q', array_agg(('{"k": ' || (g % :keys) || ', "seq": ' || g || ', "data": "' || repeat('x', 160) || '"}')::jsonb ORDER BY g))
    FROM generate_series(1, :n) g
   GROUP BY (g - 1) / 10000) s;
SELECT format('VACUUM ANALYZE pgmq.%I', 'q_' || :'q') \gexec
