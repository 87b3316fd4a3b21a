-- pgbench script; variables q, keys.  One message, one transaction.
\set k random(0, :keys - 1)
SELECT pgmq.send(:q, ('{"k": ' || :k::int || ', "seq": 0, "data": "' || repeat('x', 160) || '"}')::jsonb);
