-- pgbench script; variables q, batch.  Both stages, four transactions:
-- claim, fqs_commit each; claim_sequential, fqs_complete each (in seq order).
SELECT count(*) AS got1, coalesce(array_agg(id), '{}') AS ids, coalesce(array_agg(receipt), '{}') AS rcpts
  FROM fqs_claim(:q, :batch::int) \gset
\if :got1 > 0
SELECT count(fqs_commit(i, r)) FROM unnest(:ids::bigint[], :rcpts::bigint[]) AS t(i, r);
\endif
SELECT count(*) AS got2, coalesce(array_agg(id ORDER BY fifo_key, seq), '{}') AS sids,
       coalesce(array_agg(receipt ORDER BY fifo_key, seq), '{}') AS srcpts
  FROM fqs_claim_sequential(:q, :batch::int) \gset
\if :got2 > 0
SELECT count(fqs_complete(i, r)) FROM unnest(:sids::bigint[], :srcpts::bigint[]) AS t(i, r);
\endif
\set got :got1 + :got2
