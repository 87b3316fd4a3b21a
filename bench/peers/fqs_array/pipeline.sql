-- pgbench script; variables q, batch.  Both stages with the array calls,
-- four transactions: claim, fqs_commit(ids[], receipts[]); claim_sequential,
-- fqs_complete(ids[], receipts[]) (a key's messages in seq order).
SELECT count(*) AS got1, coalesce(array_agg(id), '{}') AS ids, coalesce(array_agg(receipt), '{}') AS rcpts
  FROM fqs_claim(:q, :batch::int) \gset
\if :got1 > 0
SELECT fqs_commit(:ids::bigint[], :rcpts::bigint[]);
\endif
SELECT count(*) AS got2, coalesce(array_agg(id ORDER BY fifo_key, seq), '{}') AS sids,
       coalesce(array_agg(receipt ORDER BY fifo_key, seq), '{}') AS srcpts
  FROM fqs_claim_sequential(:q, :batch::int) \gset
\if :got2 > 0
SELECT fqs_complete(:sids::bigint[], :srcpts::bigint[]);
\endif
\set got :got1 + :got2
