-- pgbench script; variables q, keys.  100 messages (random keys), one statement.
INSERT INTO naive_fifo.job (queue, fifo_key, payload)
SELECT :q, 'k' || k, '{"k": ' || k || ', "seq": 0, "data": "' || repeat('x', 160) || '"}'
  FROM (SELECT floor(random() * :keys::int)::int AS k FROM generate_series(1, 100)) s;
