-- psql variables q, n, keys; included by preload.sql and preload_redox.sql:
-- n messages in queue q over keys k0..k<keys-1>, 10,000 per
-- fqs_enqueue_batch call.
SELECT count(*) FROM (
  SELECT fqs_enqueue_batch(:'q',
           array_agg('{"k": ' || (g % :keys) || ', "seq": ' || g || ', "data": "' || repeat('x', 160) || '"}' ORDER BY g),
           array_agg('k' || (g % :keys) ORDER BY g))
    FROM generate_series(1, :n) g
   GROUP BY (g - 1) / 10000) s;
