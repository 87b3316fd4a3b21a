-- The two-stage pipeline: enqueue, concurrent claim/commit, sequential
-- claim/complete, per-key FIFO.
\set VERBOSITY terse
SELECT fqs_create_queue('adt');

-- ids ascend in enqueue order; seq is per key
SELECT fqs_enqueue('adt', 'A01 alice', 'alice') AS a1 \gset
SELECT fqs_enqueue('adt', 'A01 bob', 'bob') AS b1 \gset
SELECT fqs_enqueue('adt', 'A08 alice', 'alice', '{"type":"A08"}') AS a2 \gset
SELECT fqs_enqueue('adt', 'A03 alice', 'alice') AS a3 \gset
SELECT :a1 < :b1 AND :b1 < :a2 AND :a2 < :a3 AS ids_ascend;
SELECT s.fifo_key, s.seq, s.state FROM fqs_message_status(:a3) s;

-- batch: ids in input order, order kept per key
SELECT array_agg(id ORDER BY ord) AS ids
  FROM fqs_enqueue_batch('adt', ARRAY['A01 carol', 'A02 bob', 'A03 carol'],
                         ARRAY['carol', 'bob', 'carol'],
                         ARRAY['{"n":1}', NULL, '{"n":3}']::jsonb[])
       WITH ORDINALITY AS t(id, ord) \gset
SELECT (:'ids'::bigint[])[1] < (:'ids'::bigint[])[2]
   AND (:'ids'::bigint[])[2] < (:'ids'::bigint[])[3] AS batch_ids_ascend;
SELECT m.fifo_key, m.seq, m.state
  FROM unnest(:'ids'::bigint[]) i, fqs_message_status(i) m ORDER BY i;
SELECT queue, ready, claimed, processed, sequencing, dead, done_total FROM fqs_queues;

-- concurrent stage: everything at once, oldest first; attempt counts deliveries
CREATE TEMP TABLE c1 AS SELECT * FROM fqs_claim('adt', 10);
SELECT fifo_key, seq, payload, headers, attempt, receipt > 0 AS has_receipt FROM c1 ORDER BY id;
SELECT count(DISTINCT receipt) AS distinct_receipts FROM c1;
SELECT count(*) AS nothing_left FROM fqs_claim('adt', 10);
SELECT queue, ready, claimed FROM fqs_queues;

-- commit out of order: results replace payloads for the sequential stage
SELECT fqs_commit(id, receipt, 'ACK ' || payload) FROM c1 WHERE seq > 1 ORDER BY id DESC;
SELECT queue, claimed, processed FROM fqs_queues;
-- no key has its head processed yet: nothing to release
SELECT count(*) AS none_releasable FROM fqs_claim_sequential('adt', 10);
-- commit bob's head only
SELECT fqs_commit(id, receipt, 'ACK ' || payload) FROM c1 WHERE fifo_key = 'bob' AND seq = 1;
CREATE TEMP TABLE s1 AS SELECT * FROM fqs_claim_sequential('adt', 10);
SELECT fifo_key, seq, payload, attempt FROM s1 ORDER BY fifo_key, seq;
SELECT queue, processed, sequencing FROM fqs_queues;
-- one claimer holds a key at a time
SELECT count(*) AS bob_held FROM fqs_claim_sequential('adt', 10);
SELECT fqs_complete(id, receipt) FROM s1 WHERE seq = 1;
SELECT fqs_complete(id, receipt) FROM s1 WHERE seq = 2;
SELECT m.state FROM s1, fqs_message_status(s1.id) m;

-- commit the remaining heads, release everything in key order
SELECT fqs_commit(id, receipt) FROM c1 WHERE seq = 1 AND fifo_key <> 'bob' ORDER BY id;
CREATE TEMP TABLE s2 AS SELECT * FROM fqs_claim_sequential('adt', 10);
SELECT fifo_key, seq, payload FROM s2 ORDER BY fifo_key, seq;
-- a run shares its key's receipt
SELECT fifo_key, count(DISTINCT receipt) FROM s2 GROUP BY 1 ORDER BY 1;
-- complete in seq order per key
SELECT fqs_complete(id, receipt) FROM s2 ORDER BY fifo_key, seq;
SELECT queue, ready, claimed, processed, sequencing, dead, done_total,
       oldest_unfinished_age IS NULL AS nothing_unfinished FROM fqs_queues;
SELECT state, count(*) FROM fqs.message m, fqs_message_status(m.id) GROUP BY 1;

-- n limits the sequential claim across keys; runs stop at n
SELECT count(*) FROM fqs_enqueue_batch('adt', ARRAY['x1','x2','x3','y1'], ARRAY['x','x','x','y']);
SELECT fqs_commit(id, receipt) FROM fqs_claim('adt', 10);
CREATE TEMP TABLE s3 AS SELECT * FROM fqs_claim_sequential('adt', 2);
SELECT fifo_key, seq FROM s3 ORDER BY 1, 2;
SELECT fqs_complete(id, receipt) FROM s3 ORDER BY fifo_key, seq;
CREATE TEMP TABLE s4 AS SELECT * FROM fqs_claim_sequential('adt', 10);
SELECT fifo_key, seq FROM s4 ORDER BY 1, 2;
SELECT fqs_complete(id, receipt) FROM s4 ORDER BY fifo_key, seq;

-- priorities: higher first, then oldest
SELECT fqs_create_queue('prio');
SELECT fqs_enqueue('prio', 'low', 'a', NULL, 0) > 0 AS ok;
SELECT fqs_enqueue('prio', 'high', 'b', NULL, 10) > 0 AS ok;
SELECT fqs_enqueue('prio', 'low2', 'c', NULL, 0) > 0 AS ok;
SELECT payload FROM fqs_claim('prio', 3);

-- dedup_id: the first message's id comes back and nothing is inserted
SELECT fqs_create_queue('dedup');
SELECT fqs_enqueue('dedup', 'once', '', NULL, 0, 'msg-1') AS d1 \gset
SELECT fqs_enqueue('dedup', 'twice', '', NULL, 0, 'msg-1') AS d2 \gset
SELECT :d1 = :d2 AS same_id;
SELECT ready FROM fqs_queues WHERE queue = 'dedup';
-- dedup ids are per queue
SELECT fqs_enqueue('prio', 'other queue', '', NULL, 0, 'msg-1') <> :d1 AS per_queue;

-- default key '' makes the whole queue one stream
SELECT fqs_create_queue('one');
SELECT count(*) FROM fqs_enqueue_batch('one', ARRAY['1','2','3']);
SELECT fqs_commit(id, receipt) FROM fqs_claim('one', 3) ORDER BY id DESC;
SELECT fifo_key = '' AS default_key, seq, payload FROM fqs_claim_sequential('one', 5);

-- empty batch returns nothing
SELECT count(*) FROM fqs_enqueue_batch('one', ARRAY[]::text[]);
