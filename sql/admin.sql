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

