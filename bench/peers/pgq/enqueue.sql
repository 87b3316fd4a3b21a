-- pgbench script; variables q, keys.  One event, one transaction.
\set k random(0, :keys - 1)
SELECT pgq.insert_event(:q, 'k' || :k::int, '{"k": ' || :k::int || ', "seq": 0, "data": "' || repeat('x', 160) || '"}');
