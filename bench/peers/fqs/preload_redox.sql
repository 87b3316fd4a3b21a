-- psql variables q, n, keys.  The Redox shape: a fresh queue q whose every
-- key's head is unprocessed (enqueued first, delivered only in a day), and
-- n messages over the same keys processed behind the heads (claimed and
-- committed, so they wait for their heads in the sequential stage).
SET synchronous_commit = off;
SELECT fqs_drop_queue(queue, force => true) FROM fqs_queues;   -- every queue of earlier runs
SELECT fqs_create_queue(:'q', max_ready => 0);
SELECT count(fqs_enqueue(:'q', 'head', 'k' || k, deliver_at => now() + interval '1 day'))
  FROM generate_series(0, :keys - 1) k;
\ir preload_bulk.sql
-- claim and commit everything that is ready, 10,000 per statement
SELECT format('SELECT count(*) FROM (SELECT fqs_commit(array_agg(id), array_agg(receipt)) '
              'FROM fqs_claim(%L, 10000) HAVING count(*) > 0) s', :'q')
  FROM generate_series(1, (:n + 9999) / 10000) \gexec
VACUUM ANALYZE;
