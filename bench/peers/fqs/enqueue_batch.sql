-- pgbench script; variables q, keys.  100 messages (random keys), one call.
SELECT count(*)
  FROM (SELECT ARRAY(SELECT floor(random() * :keys::int)::int FROM generate_series(1, 100)) AS ks) s,
       fqs_enqueue_batch(:q,
         ARRAY(SELECT '{"k": ' || k || ', "seq": 0, "data": "' || repeat('x', 160) || '"}' FROM unnest(s.ks) k),
         ARRAY(SELECT 'k' || k FROM unnest(s.ks) k)) e;
