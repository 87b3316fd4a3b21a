-- psql vars: q (queue), n (messages), batch, vacuum_every.
-- Moves n ready messages of queue q through the concurrent stage:
-- claim `batch` at a time and fqs_commit each with a result, one
-- transaction per batch.  Afterwards the n messages wait in the sequential
-- stage (processed, not complete).  The caller sets synchronous_commit = off.
-- After every `vacuum_every` batches fqs.ready is vacuumed: each claim
-- leaves a dead entry at the head of the claim index, and at large n
-- autovacuum (20% of the table) comes far too late, so without this every
-- batch steps over the dead entries of all the batches before it.
SELECT stmt FROM (
  SELECT i, 0 AS o,
         format('SELECT count(fqs_commit(c.id, c.receipt, ''r'')::text) FROM fqs_claim(%L, %s) c',
                :'q', :batch) AS stmt
    FROM generate_series(1, ceil(:n::numeric / :batch)::int) AS i
  UNION ALL
  SELECT i, 1, 'VACUUM fqs.ready'
    FROM generate_series(:vacuum_every, ceil(:n::numeric / :batch)::int, :vacuum_every) AS i
) s
ORDER BY i, o
\gexec
