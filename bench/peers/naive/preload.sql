-- psql variables q, n, keys: an empty table, then n ready messages in queue q over keys k0..k<keys-1>.
SET synchronous_commit = off;
TRUNCATE naive.job;   -- the messages of earlier runs go too
INSERT INTO naive.job (queue, fifo_key, payload)
SELECT :'q', 'k' || (g % :keys), '{"k": ' || (g % :keys) || ', "seq": ' || g || ', "data": "' || repeat('x', 160) || '"}'
  FROM generate_series(1, :n) g;
VACUUM ANALYZE naive.job;
