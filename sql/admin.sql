-- Queue administration and generation rotation.
\set VERBOSITY terse
SELECT fqs_create_queue('adm', max_ready => 100, lease => '2 minutes',
                        max_attempts => 7, priority => 3, max_claimed => 9);
SELECT queue, max_ready, lease, max_attempts, priority, max_claimed, paused
  FROM fqs_queues WHERE queue = 'adm';
-- alter changes only what is given
SELECT fqs_alter_queue('adm', lease => '5 minutes');
SELECT fqs_alter_queue('adm', priority => -1, max_attempts => 2);
SELECT queue, max_ready, lease, max_attempts, priority, max_claimed
  FROM fqs_queues WHERE queue = 'adm';
-- -1 resets max_ready to the default, 0 removes max_claimed
SELECT fqs_alter_queue('adm', max_ready => -1, max_claimed => 0);
SELECT max_ready, max_claimed FROM fqs_queues WHERE queue = 'adm';
-- a queue's default lease is used by claims
SELECT fqs_enqueue('adm', 'x') > 0 AS ok;
CREATE TEMP TABLE c AS SELECT * FROM fqs_claim('adm');
SELECT count(*) AS claimed,
       bool_and(r.lease_until BETWEEN now() + interval '4 minutes 59 seconds'
                              AND now() + interval '5 minutes 1 second') AS default_lease
  FROM c JOIN fqs.ready r ON r.id = c.id;
-- drop: refuses while unfinished, then force
SELECT fqs_drop_queue('adm', true);
SELECT count(*) FROM fqs_queues WHERE queue = 'adm';
SELECT count(*) AS leftovers FROM fqs.ready r
 WHERE NOT EXISTS (SELECT 1 FROM fqs.queue q WHERE q.qid = r.qid);
-- an empty queue drops without force, and its name can be reused
SELECT fqs_create_queue('adm');
SELECT fqs_drop_queue('adm');
SELECT fqs_create_queue('adm');
-- unicode names are fine
SELECT fqs_create_queue('adt→egress ü');
SELECT fqs_enqueue('adt→egress ü', 'hello') > 0;
SELECT fqs_drop_queue('adt→egress ü', force => true);

-- the operator's way out of a parked message: fqs_retry makes a delayed,
-- claimed or penned message claimable now, and frees a key held in the
-- sequential stage; fqs_skip records a message that was not committed
-- yet as skipped, and its key moves past it
SELECT fqs_create_queue('way', lease => '1 hour', max_attempts => 9);
SELECT fqs_enqueue('way', 'late', 'k', deliver_at => now() + interval '29 days') AS late \gset
SELECT fqs_enqueue('way', 'next', 'k') AS nxt \gset
SELECT (fqs_message_status(:late)).state;
SELECT count(*) AS claimable_before FROM fqs_claim('way', 10) WHERE id = :late;
SELECT fqs_retry(:late);
CREATE TEMP TABLE w1 AS SELECT id, receipt FROM fqs_claim('way', 10) WHERE id = :late;
SELECT count(*) AS claimable_after FROM w1;
-- a claimed message: its lease ends, its receipt stops working
SELECT fqs_retry(:late);
SELECT regress_err($$SELECT fqs_commit(id, receipt) FROM w1$$);
SELECT count(fqs_commit(id, receipt, 'r')) FROM fqs_claim('way', 10) WHERE id = :late;
-- the key's head is held by a sequential claimer: retry frees the key
CREATE TEMP TABLE w2 AS SELECT id, receipt FROM fqs_claim_sequential('way', 1);
SELECT count(*) AS held FROM w2 WHERE id = :late;
SELECT fqs_retry(:late);
SELECT regress_err($$SELECT fqs_complete(id, receipt) FROM w2$$);
SELECT count(fqs_complete(id, receipt)) FROM fqs_claim_sequential('way', 1);
-- skip a message that was claimed but not committed: the key moves on
SELECT fqs_enqueue('way', 'third', 'k') AS third \gset
SELECT fqs_skip(:nxt, 'operator: superseded');
SELECT count(fqs_commit(id, receipt)) FROM fqs_claim('way', 10);
SELECT seq, payload FROM fqs_claim_sequential('way', 10) ORDER BY seq;
SELECT (fqs_message_status(:nxt)).state;
-- what cannot be retried or skipped says so
SELECT regress_err($$SELECT fqs_retry($$ || :late || $$)$$);
SELECT regress_err($$SELECT fqs_skip($$ || :late || $$, 'x')$$);
SELECT regress_err($$SELECT fqs_retry(-5)$$);
SELECT fqs_drop_queue('way', true);
