-- psql vars: q (queue), n (messages), batch.
-- Moves n ready messages of queue q through the concurrent stage:
-- claim `batch` at a time and fqs_commit each with a result, one
-- transaction per batch.  Afterwards the n messages wait in the sequential
-- stage (processed, not complete).  The caller sets synchronous_commit = off.
SELECT format(
  'SELECT count(fqs_commit(c.id, c.receipt, ''r'')::text) FROM fqs_claim(%L, %s) c',
  :'q', :batch)
FROM generate_series(1, ceil(:n::numeric / :batch)::int)
\gexec
