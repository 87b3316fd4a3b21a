-- pgbench script; variables q, keys.  100 events (random keys), one statement.
SELECT count(pgq.insert_event(:q, 'k' || k, '{"k": ' || k || ', "seq": 0, "data": "' || repeat('x', 160) || '"}'))
  FROM (SELECT floor(random() * :keys::int)::int AS k FROM generate_series(1, 100)) s;
