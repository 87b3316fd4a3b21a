-- Array calls: a consumer acknowledges many messages in one call and one
-- commit -- fqs_commit(ids[], receipts[], results[]), fqs_fail(ids[],
-- receipts[], error) and fqs_complete(ids[], receipts[]) -- all or nothing.
\set VERBOSITY terse
SELECT fqs_create_queue('arr', max_attempts => 2);
SELECT count(*) FROM fqs_enqueue_batch('arr',
  ARRAY(SELECT 'm' || g FROM generate_series(1, 12) g),
  ARRAY(SELECT 'k' || (g % 3) FROM generate_series(1, 12) g));
CREATE TEMP TABLE c1 AS SELECT * FROM fqs_claim('arr', 12);
-- commit ten with their results, fail two
SELECT fqs_commit(array_agg(id ORDER BY id), array_agg(receipt ORDER BY id),
                  array_agg('r:' || payload ORDER BY id))
  FROM c1 WHERE payload NOT IN ('m11', 'm12');
SELECT fqs_fail(array_agg(id ORDER BY id), array_agg(receipt ORDER BY id),
                'not now', '0')
  FROM c1 WHERE payload IN ('m11', 'm12');
SELECT ready, processed FROM fqs_queues WHERE queue = 'arr';
-- all or nothing: one stale receipt fails the whole call
CREATE TEMP TABLE c2 AS SELECT * FROM fqs_claim('arr', 2);
SELECT regress_err(format('SELECT fqs_commit(%L::bigint[], %L::bigint[])',
       array_agg(id ORDER BY id), array_agg(receipt + (id % 2) ORDER BY id)))
  FROM c2;
SELECT claimed FROM fqs_queues WHERE queue = 'arr';
SELECT fqs_commit(array_agg(id), array_agg(receipt)) FROM c2;
-- the sequential stage: claim a whole batch, complete it in one call
CREATE TEMP TABLE s1 AS SELECT * FROM fqs_claim_sequential('arr', 12);
SELECT fifo_key, array_agg(seq ORDER BY seq) AS seqs,
       array_agg(payload ORDER BY seq) AS payloads
  FROM s1 GROUP BY 1 ORDER BY 1;
-- out of seq order within a key is refused, and changes nothing
SELECT regress_err(format('SELECT fqs_complete(%L::bigint[], %L::bigint[])',
       array_agg(id ORDER BY seq DESC), array_agg(receipt ORDER BY seq DESC)))
  FROM s1;
SELECT fqs_complete(array_agg(id ORDER BY fifo_key, seq),
                    array_agg(receipt ORDER BY fifo_key, seq)) FROM s1;
SELECT done_total, processed, sequencing FROM fqs_queues WHERE queue = 'arr';
-- bad arrays
SELECT regress_err($$SELECT fqs_commit(ARRAY[1,2]::bigint[], ARRAY[1]::bigint[])$$);
SELECT regress_err($$SELECT fqs_commit(ARRAY[1,NULL]::bigint[], ARRAY[1,2]::bigint[])$$);
SELECT regress_err($$SELECT fqs_commit(ARRAY[1]::bigint[], ARRAY[1]::bigint[], ARRAY['a','b'])$$);
SELECT regress_err($$SELECT fqs_commit(NULL::bigint[], ARRAY[1]::bigint[])$$);
SELECT regress_err($$SELECT fqs_complete(ARRAY[[1,2]]::bigint[], ARRAY[[1,2]]::bigint[])$$);
SELECT regress_err($$SELECT fqs_fail(ARRAY[1]::bigint[], ARRAY[0]::bigint[], 'x')$$);
SELECT regress_err($$SELECT fqs_fail(ARRAY[1]::bigint[], ARRAY[1]::bigint[], NULL)$$);
SET fqs.max_batch = 2;
SELECT regress_err($$SELECT fqs_complete(ARRAY[1,2,3]::bigint[], ARRAY[1,2,3]::bigint[])$$);
RESET fqs.max_batch;
-- empty arrays do nothing
SELECT fqs_commit(ARRAY[]::bigint[], ARRAY[]::bigint[]);
SELECT fqs_fail(ARRAY[]::bigint[], ARRAY[]::bigint[], 'x');
SELECT fqs_drop_queue('arr', true);
DROP TABLE c1, c2, s1;
-- a large batch returns every id once, each the id of its own message
-- (the ids once outlived the SPI connection that held them)
SET fqs.max_batch = 50000;
SELECT fqs_create_queue('big');
CREATE TEMP TABLE bigids AS
  SELECT id, ord FROM fqs_enqueue_batch('big',
      ARRAY(SELECT 'p' || g FROM generate_series(1, 50000) g))
      WITH ORDINALITY AS t(id, ord);
SELECT count(*) AS ids, count(DISTINCT b.id) AS distinct_ids,
       bool_and(m.payload = 'p' || b.ord) AS each_its_own
  FROM bigids b JOIN fqs.message m ON m.id = b.id;
SELECT count(*) AS ascending FROM
  (SELECT id > lag(id) OVER (ORDER BY ord) AS up FROM bigids) x WHERE up;
RESET fqs.max_batch;
SELECT regress_err($$SELECT count(*) FROM fqs_enqueue_batch('big', ARRAY(SELECT 'p' FROM generate_series(1, 10001)))$$);
SELECT fqs_drop_queue('big', true);
DROP TABLE bigids;
-- a batch over several keys reserves every key's seqs in one statement:
-- new and existing keys mixed, a key's messages interleaved with others'
SELECT fqs_create_queue('keys');
SELECT fqs_enqueue('keys', 'y0', 'y') > 0 AS y_exists;
SELECT count(*) FROM fqs_enqueue_batch('keys',
  ARRAY['x1', 'y1', 'x2', 'z1', 'y2', 'x3', 'é1', 'A1', 'é2'],
  ARRAY['x', 'y', 'x', 'z', 'y', 'x', 'é', 'A', 'é']);
CREATE TEMP TABLE kc AS SELECT * FROM fqs_claim('keys', 10);
SELECT fifo_key, array_agg(seq ORDER BY seq) AS seqs,
       array_agg(payload ORDER BY seq) AS payloads
  FROM kc GROUP BY 1 ORDER BY fifo_key COLLATE "C";
SELECT fqs_commit(array_agg(id), array_agg(receipt)) FROM kc;
-- every new key has its head: the sequential stage releases them in order
SELECT fifo_key, array_agg(payload ORDER BY seq) AS released
  FROM fqs_claim_sequential('keys', 10) GROUP BY 1 ORDER BY fifo_key COLLATE "C";
SELECT fqs_drop_queue('keys', true);
DROP TABLE kc;
