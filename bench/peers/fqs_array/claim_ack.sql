-- pgbench script; variables q, batch.  Concurrent stage with the array
-- call: claim (one transaction), one fqs_commit(ids[], receipts[]) (another).
SELECT count(*) AS got, coalesce(array_agg(id), '{}') AS ids, coalesce(array_agg(receipt), '{}') AS rcpts
  FROM fqs_claim(:q, :batch::int) \gset
\if :got > 0
SELECT fqs_commit(:ids::bigint[], :rcpts::bigint[]);
\endif
