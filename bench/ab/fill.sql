-- ab: top queue :q up to :n ready messages over keys k1..k100, with
-- fqs_enqueue_batch in chunks of 5000 (one transaction each).  Run by the
-- superuser with synchronous_commit = off; not measured.
SELECT format(
  'SELECT count(*) FROM fqs_enqueue_batch(%L, '
  'array_fill(''payload''::text, ARRAY[%s]), '
  'ARRAY(SELECT ''k'' || (1 + mod(g, 100)) FROM generate_series(1, %s) g))',
  :'q', least(5000, need - c), least(5000, need - c))
  FROM (SELECT greatest(:n - coalesce((SELECT (to_jsonb(v)->>'ready')::bigint
                                         FROM fqs_queues v WHERE v.queue = :'q'), 0), 0) AS need) s,
       generate_series(0, greatest(need - 1, 0), 5000) AS c
 WHERE need > 0
\gexec
