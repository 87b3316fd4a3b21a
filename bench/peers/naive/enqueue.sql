-- pgbench script; variables q, keys.  One message, one transaction.
\set k random(0, :keys - 1)
INSERT INTO naive.job (queue, fifo_key, payload)
VALUES (:q, 'k' || :k::int, '{"k": ' || :k::int || ', "seq": 0, "data": "' || repeat('x', 160) || '"}');
