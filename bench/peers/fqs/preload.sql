-- psql variables q, n, keys.  A fresh queue q (and no other; no holding pen), then n ready
-- messages over keys k0..k<keys-1>, 10,000 per fqs_enqueue_batch call.
SET synchronous_commit = off;
SELECT fqs_drop_queue(queue, force => true) FROM fqs_queues;   -- every queue of earlier runs
SELECT fqs_create_queue(:'q', max_ready => 0);
\ir preload_bulk.sql
VACUUM ANALYZE;
