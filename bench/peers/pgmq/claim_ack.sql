-- pgbench script; variables q, batch.  read with a 30 s visibility timeout
-- (one transaction), then delete what was read (another).
SELECT count(*) AS got, coalesce(array_agg(msg_id), '{}') AS ids FROM pgmq.read(:q, 30, :batch::int) \gset
SELECT count(*) FROM pgmq.delete(:q, :ids::bigint[]);
