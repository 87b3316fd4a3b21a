-- pgbench script; variables q, keys.  100 messages (random keys), one call.
SELECT count(*) FROM pgmq.send_batch(:q, ARRAY(
  SELECT ('{"k": ' || k || ', "seq": 0, "data": "' || repeat('x', 160) || '"}')::jsonb
    FROM (SELECT floor(random() * :keys::int)::int AS k FROM generate_series(1, 100)) s));
