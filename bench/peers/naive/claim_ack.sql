-- pgbench script; variables q, batch.  Claim (one transaction), then ack (another).
WITH c AS (
  UPDATE naive.job j SET status = 'taken', taken_until = now() + interval '30 s', attempts = j.attempts + 1
   WHERE j.id = ANY (ARRAY(SELECT r.id FROM naive.job r WHERE r.queue = :q AND r.status = 'ready'
                   ORDER BY r.id LIMIT :batch::int FOR UPDATE SKIP LOCKED))
  RETURNING j.id)
SELECT count(*) AS got, coalesce(array_agg(id), '{}') AS ids FROM c \gset
UPDATE naive.job SET status = 'done', taken_until = NULL WHERE id = ANY (:ids::bigint[]) AND status = 'taken';
