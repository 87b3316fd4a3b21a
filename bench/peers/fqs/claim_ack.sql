-- pgbench script; variables q, batch.  Concurrent stage: claim (one
-- transaction), then fqs_commit each message (one statement, one transaction).
SELECT count(*) AS got, coalesce(array_agg(id), '{}') AS ids, coalesce(array_agg(receipt), '{}') AS rcpts
  FROM fqs_claim(:q, :batch::int) \gset
\if :got > 0
SELECT count(fqs_commit(i, r)) FROM unnest(:ids::bigint[], :rcpts::bigint[]) AS t(i, r);
\endif
