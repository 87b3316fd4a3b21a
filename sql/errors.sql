-- Bad input: every case raises an error with a fitting SQLSTATE and
-- changes nothing.
\set VERBOSITY terse

SELECT fqs_create_queue('errq', max_attempts => 2);
CREATE TEMP TABLE before AS SELECT * FROM fqs_queues;

-- queue names
SELECT regress_err($$SELECT fqs_enqueue(NULL, 'x')$$);
SELECT regress_err($$SELECT fqs_enqueue('', 'x')$$);
SELECT regress_err($$SELECT fqs_enqueue(repeat('q', 64), 'x')$$);
SELECT regress_err($$SELECT fqs_create_queue(repeat('q', 63))$$);  -- 63 bytes is fine
SELECT regress_err($$SELECT fqs_drop_queue(repeat('q', 63))$$);
SELECT regress_err($$SELECT fqs_enqueue(E'bad\nname', 'x')$$);
SELECT regress_err($$SELECT fqs_create_queue(E'tab\tname')$$);
SELECT regress_err($$SELECT fqs_enqueue('nosuch', 'x')$$);
SELECT regress_err($$SELECT * FROM fqs_claim('nosuch')$$);
SELECT regress_err($$SELECT * FROM fqs_claim_sequential('nosuch')$$);
SELECT regress_err($$SELECT fqs_pause('nosuch')$$);
SELECT regress_err($$SELECT fqs_resume('nosuch')$$);
SELECT regress_err($$SELECT fqs_alter_queue('nosuch', lease => '1 minute')$$);
SELECT regress_err($$SELECT fqs_drop_queue('nosuch')$$);
SELECT regress_err($$SELECT fqs_create_queue('errq')$$);
-- names are data, never SQL: quotes and semicolons are just characters
SELECT regress_err($$SELECT fqs_create_queue('x''; DROP TABLE fqs.message; --')$$);
SELECT regress_err($$SELECT fqs_enqueue('x''; DROP TABLE fqs.message; --', 'ok')$$);
SELECT regress_err($$SELECT fqs_drop_queue('x''; DROP TABLE fqs.message; --', true)$$);

-- queue settings
SELECT regress_err($$SELECT fqs_create_queue('e2', max_ready => -1)$$);
SELECT regress_err($$SELECT fqs_create_queue('e2', lease => '-1 second')$$);
SELECT regress_err($$SELECT fqs_create_queue('e2', lease => '0')$$);
SELECT regress_err($$SELECT fqs_create_queue('e2', lease => '1 month')$$);
SELECT regress_err($$SELECT fqs_create_queue('e2', max_attempts => 0)$$);
SELECT regress_err($$SELECT fqs_create_queue('e2', max_claimed => 0)$$);
SELECT regress_err($$SELECT fqs_alter_queue('errq', max_claimed => -1)$$);
SELECT regress_err($$SELECT fqs_alter_queue('errq', max_ready => -2)$$);
SELECT count(*) AS e2_not_created FROM fqs_queues WHERE queue = 'e2';

-- payloads, keys, headers
SELECT regress_err($$SELECT fqs_enqueue('errq', NULL)$$);
SELECT regress_err($$SELECT fqs_enqueue('errq', 'x', NULL)$$);
SELECT regress_err($$SELECT fqs_enqueue('errq', 'x', repeat('k', 1025))$$);
SELECT regress_err($$SELECT fqs_enqueue('errq', 'x', '', NULL, 0, repeat('d', 1025))$$);
SET fqs.max_payload_bytes = 10;
SELECT regress_err($$SELECT fqs_enqueue('errq', repeat('x', 11))$$);
SELECT regress_err($$SELECT fqs_enqueue_batch('errq', ARRAY['ok', repeat('x', 11)])$$);
SELECT regress_err($$SELECT fqs_enqueue('errq', repeat('x', 10))$$);  -- at the limit
RESET fqs.max_payload_bytes;
SELECT regress_err($$SET fqs.max_payload_bytes = 0$$);
SELECT regress_err($$SELECT fqs_enqueue_batch('errq', NULL)$$);
SELECT regress_err($$SELECT fqs_enqueue_batch('errq', ARRAY['a', NULL])$$);
SELECT regress_err($$SELECT fqs_enqueue_batch('errq', ARRAY['a', 'b'], ARRAY['k'])$$);
SELECT regress_err($$SELECT fqs_enqueue_batch('errq', ARRAY['a', 'b'], ARRAY['k', NULL])$$);
SELECT regress_err($$SELECT fqs_enqueue_batch('errq', ARRAY['a'], NULL, ARRAY['{}', '{}']::jsonb[])$$);
SELECT regress_err($$SELECT fqs_enqueue_batch('errq', ARRAY[['a'], ['b']])$$);
-- the failed batches above inserted nothing
SELECT ready FROM fqs_queues WHERE queue = 'errq';

-- claim sizes and leases
SELECT regress_err($$SELECT * FROM fqs_claim('errq', 0)$$);
SELECT regress_err($$SELECT * FROM fqs_claim('errq', -5)$$);
SELECT regress_err($$SELECT * FROM fqs_claim('errq', 1000000)$$);
SELECT regress_err($$SELECT * FROM fqs_claim('errq', NULL)$$);
SELECT regress_err($$SELECT * FROM fqs_claim('errq', 1, '-1 second')$$);
SELECT regress_err($$SELECT * FROM fqs_claim_sequential('errq', 0)$$);
SELECT regress_err($$SELECT * FROM fqs_claim_sequential('errq', 1, '0 seconds')$$);
SELECT regress_err($$SELECT * FROM fqs_claim('errq', 1, 'infinity')$$);
SELECT claimed FROM fqs_queues WHERE queue = 'errq';

-- receipts and message states
CREATE TEMP TABLE c AS SELECT * FROM fqs_claim('errq', 1);
SELECT regress_err($$SELECT fqs_commit(NULL, 1)$$);
SELECT regress_err(format('SELECT fqs_commit(%s, NULL)', id)) FROM c;
SELECT regress_err(format('SELECT fqs_commit(%s, 0)', id)) FROM c;
SELECT regress_err(format('SELECT fqs_commit(%s, %s)', id, receipt + 1000)) FROM c;
SELECT regress_err('SELECT fqs_commit(999999999, 1)');
SELECT regress_err(format('SELECT fqs_extend_lease(%s, %s, NULL)', id, receipt)) FROM c;
SELECT regress_err(format('SELECT fqs_extend_lease(%s, %s, %L)', id, receipt, '-1 s')) FROM c;
SELECT regress_err(format('SELECT fqs_extend_lease(%s, %s, %L)', id, receipt + 1000, '1 min')) FROM c;
SELECT regress_err(format('SELECT fqs_fail(%s, %s, NULL)', id, receipt)) FROM c;
SELECT regress_err(format('SELECT fqs_fail(%s, %s, %L, %L)', id, receipt, 'e', '-1 s')) FROM c;
SELECT regress_err(format('SELECT fqs_fail(%s, %s, %L)', id, receipt + 1000, 'e')) FROM c;
-- the claim still stands after all that
SELECT claimed FROM fqs_queues WHERE queue = 'errq';
-- completing a message that the sequential stage has not claimed
SELECT regress_err(format('SELECT fqs_complete(%s, %s)', id, receipt)) FROM c;
SELECT regress_err('SELECT fqs_complete(999999999, 1)');
SELECT regress_err(format('SELECT fqs_commit(%s, %s)', id, receipt)) FROM c;
SELECT regress_err(format('SELECT fqs_commit(%s, %s)', id, receipt)) FROM c;
-- committed, not yet claimed sequentially
SELECT regress_err(format('SELECT fqs_complete(%s, %s)', id, receipt)) FROM c;
SELECT regress_err(format('SELECT fqs_retry(%s)', id)) FROM c;
SELECT regress_err(format('SELECT fqs_skip(%s, %L)', id, 'why')) FROM c;
SELECT regress_err(format('SELECT fqs_skip(%s, NULL)', id)) FROM c;
SELECT regress_err('SELECT fqs_retry(999999999)');
SELECT regress_err('SELECT fqs_retry(NULL)');

-- completing out of seq order within a key
SELECT fqs_create_queue('order');
SELECT count(*) FROM fqs_enqueue_batch('order', ARRAY['1', '2', '3']);
SELECT fqs_commit(id, receipt) FROM fqs_claim('order', 3);
CREATE TEMP TABLE s AS SELECT * FROM fqs_claim_sequential('order', 3);
SELECT regress_err(format('SELECT fqs_complete(%s, %s)', id, receipt)) FROM s WHERE seq = 2;
SELECT regress_err(format('SELECT fqs_fail(%s, %s, %L)', id, receipt, 'e')) FROM s WHERE seq = 3;
SELECT regress_err(format('SELECT fqs_complete(%s, %s)', id, receipt + 1000)) FROM s WHERE seq = 1;
SELECT fqs_complete(id, receipt) FROM s WHERE seq = 1;
SELECT regress_err(format('SELECT fqs_complete(%s, %s)', id, receipt)) FROM s WHERE seq = 1;
SELECT fqs_complete(id, receipt) FROM s WHERE seq IN (2, 3) ORDER BY seq;
SELECT queue, processed, sequencing, done_total FROM fqs_queues WHERE queue = 'order';

-- dropping a queue with unfinished messages needs force
SELECT regress_err($$SELECT fqs_drop_queue('errq')$$);
SELECT regress_err($$SELECT fqs_drop_queue('order')$$);
SELECT regress_err($$SELECT fqs_drop_queue('errq', true)$$);
SELECT queue FROM fqs_queues ORDER BY 1;
