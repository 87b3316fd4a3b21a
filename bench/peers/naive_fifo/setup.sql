-- naive_fifo: ordered per key, in the shape of the Redox posts: messages
-- stay in one table and move through statuses; a consumer may take a key's
-- message only when it is that key's oldest unfinished one.
DROP SCHEMA IF EXISTS naive_fifo CASCADE;
CREATE SCHEMA naive_fifo;
CREATE TABLE naive_fifo.job (
  id           bigserial   PRIMARY KEY,
  queue        text        NOT NULL,
  fifo_key     text        NOT NULL,
  status       text        NOT NULL DEFAULT 'ready',   -- ready | taken | done
  payload      text        NOT NULL,
  enqueued_at  timestamptz NOT NULL DEFAULT now(),
  taken_until  timestamptz,
  attempts     int         NOT NULL DEFAULT 0
);
-- unfinished messages per key in enqueue order: the keys and their heads
CREATE INDEX job_unfinished ON naive_fifo.job (queue, fifo_key, id) WHERE status <> 'done';

-- claim up to n key heads, oldest first.  A key's head is its oldest
-- unfinished message; it is claimable when it is still 'ready' (not taken).
CREATE FUNCTION naive_fifo.claim(p_queue text, p_n int)
RETURNS TABLE (id bigint, fifo_key text, payload text)
LANGUAGE sql AS $$
  WITH RECURSIVE keys(k) AS (          -- the distinct keys with unfinished work
      (SELECT j.fifo_key FROM naive_fifo.job j
        WHERE j.queue = p_queue AND j.status <> 'done' ORDER BY j.fifo_key LIMIT 1)
    UNION ALL
      SELECT (SELECT j.fifo_key FROM naive_fifo.job j
               WHERE j.queue = p_queue AND j.status <> 'done' AND j.fifo_key > keys.k
               ORDER BY j.fifo_key LIMIT 1)
        FROM keys WHERE keys.k IS NOT NULL
  ), heads AS (
    SELECT h.id FROM keys
      CROSS JOIN LATERAL (SELECT j.id, j.status FROM naive_fifo.job j
                           WHERE j.queue = p_queue AND j.fifo_key = keys.k AND j.status <> 'done'
                           ORDER BY j.id LIMIT 1) h
     WHERE h.status = 'ready'
  ), picked AS (
    SELECT j.id FROM naive_fifo.job j
     WHERE j.id IN (SELECT heads.id FROM heads) AND j.status = 'ready'
     ORDER BY j.id LIMIT p_n
       FOR UPDATE SKIP LOCKED
  )
  UPDATE naive_fifo.job j
     SET status = 'taken', taken_until = now() + interval '30 s', attempts = j.attempts + 1
    FROM picked WHERE j.id = picked.id
  RETURNING j.id, j.fifo_key, j.payload
$$;
