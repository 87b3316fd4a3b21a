-- pgbench script; variable q.  One batch of the consumer 'bench': open it
-- and read its events (one transaction), close it (another).  got = 1 when
-- there was a batch (a batch may hold no events), 0 when there was none.
SELECT coalesce(pgq.next_batch(:q, 'bench'), 0) AS batch_id \gset
\set got 0
\if :batch_id > 0
SELECT count(*) AS events FROM pgq.get_batch_events(:batch_id) \gset
SELECT pgq.finish_batch(:batch_id);
\set got 1
\endif
