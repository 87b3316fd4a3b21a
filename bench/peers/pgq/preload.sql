-- psql variables q, n, keys, batch.  A fresh queue q (and no other) with consumer 'bench',
-- then n events, with a tick after every 'batch' events so that one
-- next_batch hands out 'batch' events (PgQ has no per-message claim).
SET synchronous_commit = off;
-- every queue of earlier runs goes (force: with its consumers)
SELECT pgq.drop_queue(queue_name, true) FROM pgq.queue;
SELECT pgq.create_queue(:'q');
-- the ticks below are explicit: tick whenever there is at least one new event
SELECT pgq.set_queue_config(:'q', 'ticker_max_count', '1');
SELECT pgq.set_queue_config(:'q', 'ticker_max_lag', '1 hour');
-- one event and a tick before the consumer registers, so that the
-- queue's event sequence has been used and pending_events counts exactly
SELECT pgq.insert_event(:'q', 'start', '{}');
SELECT pgq.ticker(:'q');
SELECT pgq.register_consumer(:'q', 'bench');
SELECT set_config('peers.q', :'q', false), set_config('peers.n', :'n', false),
       set_config('peers.keys', :'keys', false), set_config('peers.batch', :'batch', false);
DO $$
DECLARE
  q    text := current_setting('peers.q');
  n    int  := current_setting('peers.n')::int;
  keys int  := current_setting('peers.keys')::int;
  b    int  := current_setting('peers.batch')::int;
  i    int  := 0;
BEGIN
  COMMIT;
  WHILE i < n LOOP
    PERFORM pgq.insert_event(q, 'k' || (g % keys),
              '{"k": ' || (g % keys) || ', "seq": ' || g || ', "data": "' || repeat('x', 160) || '"}')
       FROM generate_series(i + 1, least(i + b, n)) g;
    COMMIT;                       -- a tick only sees committed events
    PERFORM pgq.ticker(q);
    COMMIT;
    i := i + b;
  END LOOP;
END $$;
