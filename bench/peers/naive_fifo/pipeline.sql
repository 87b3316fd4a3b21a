-- pgbench script; variables q, batch.  Claim key heads (one transaction),
-- then mark them done (another): the key's next message becomes its head.
SELECT count(*) AS got, coalesce(array_agg(id), '{}') AS ids FROM naive_fifo.claim(:q, :batch::int) \gset
UPDATE naive_fifo.job SET status = 'done', taken_until = NULL WHERE id = ANY (:ids::bigint[]) AND status = 'taken';
