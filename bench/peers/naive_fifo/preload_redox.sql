-- psql variables q, n, keys.  The Redox shape: n waiting messages in queue q
-- over keys k0..k<keys-1>, and every key's head taken by a worker that is
-- stuck (its lease ends in a day), so every key is blocked.
SET synchronous_commit = off;
TRUNCATE naive_fifo.job;   -- the messages of earlier runs go too
INSERT INTO naive_fifo.job (queue, fifo_key, payload)
SELECT :'q', 'k' || (g % :keys), '{"k": ' || (g % :keys) || ', "seq": ' || g || ', "data": "' || repeat('x', 160) || '"}'
  FROM generate_series(1, :n) g;
UPDATE naive_fifo.job SET status = 'taken', taken_until = now() + interval '1 day'
 WHERE id IN (SELECT min(id) FROM naive_fifo.job WHERE queue = :'q' GROUP BY fifo_key);
VACUUM ANALYZE naive_fifo.job;
