-- psql vars: q (queue), n (messages), keys, chunk.
-- Enqueues n messages over keys k0..k<keys-1> (round robin) with
-- fqs_enqueue_batch, chunk messages per call, one transaction per call
-- (\gexec runs each generated statement in autocommit).  The caller sets
-- synchronous_commit = off for the session (PGOPTIONS).
-- Payload as in the peers benchmark: {"k": <key>, "seq": <n>, "data": "x"*160}.
SELECT format(
  'SELECT count(*) FROM fqs_enqueue_batch(%L, '
  'ARRAY(SELECT ''{"k": '' || mod(g, %s) || '', "seq": '' || (g / %s) || '', "data": "'' || repeat(''x'', 160) || ''"}'' '
  '        FROM generate_series(%s, %s) g ORDER BY g), '
  'ARRAY(SELECT ''k'' || mod(g, %s) FROM generate_series(%s, %s) g ORDER BY g))',
  :'q', :keys, :keys, c, least(c + :chunk, :n) - 1, :keys, c, least(c + :chunk, :n) - 1)
FROM generate_series(0, :n - 1, :chunk) AS c
\gexec
