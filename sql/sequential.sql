-- Leases, fencing, retries, dead letters and operator actions, in both
-- stages.
\set VERBOSITY terse

SELECT fqs_create_queue('lq', lease => '1 minute', max_attempts => 3);

-- a lease that expires returns the message; the old receipt is fenced off
SELECT fqs_enqueue('lq', 'm1', 'k') AS m1 \gset
CREATE TEMP TABLE c1 AS SELECT * FROM fqs_claim('lq', 1, lease => '10 milliseconds');
SELECT pg_sleep(0.05);
CREATE TEMP TABLE c2 AS SELECT * FROM fqs_claim('lq', 1);
SELECT c1.id = c2.id AS same_message, c1.receipt <> c2.receipt AS new_receipt,
       c1.attempt, c2.attempt FROM c1, c2;
SELECT regress_err(format('SELECT fqs_commit(%s, %s)', id, receipt)) FROM c1;
SELECT regress_err(format('SELECT fqs_extend_lease(%s, %s, %L)', id, receipt, '1 min')) FROM c1;
SELECT regress_err(format('SELECT fqs_fail(%s, %s, %L)', id, receipt, 'late')) FROM c1;
-- heartbeat by the live holder
SELECT fqs_extend_lease(id, receipt, '1 hour') > now() + interval '59 minutes' AS extended FROM c2;
SELECT s.state, s.attempts, s.last_error FROM fqs_message_status(:m1) s;

-- fail: back to ready after retry_after; 'dead' after max_attempts
SELECT fqs_fail(id, receipt, 'vendor timeout', '0 seconds') FROM c2;
SELECT s.state, s.attempts, s.last_error FROM fqs_message_status(:m1) s;
CREATE TEMP TABLE c3 AS SELECT * FROM fqs_claim('lq', 1);
SELECT attempt FROM c3;
SELECT fqs_fail(id, receipt, 'vendor down', '0 seconds') FROM c3;
SELECT s.state, s.attempts, s.last_error FROM fqs_message_status(:m1) s;
SELECT queue, ready, claimed, dead FROM fqs_queues WHERE queue = 'lq';
SELECT queue, fifo_key, seq, stage, attempts, last_error FROM fqs_dead_messages;

-- a delayed retry is not claimable before its time (explicit, and the
-- default exponential backoff)
SELECT fqs_enqueue('lq', 'later', 'k2') AS m2 \gset
CREATE TEMP TABLE c5 AS SELECT * FROM fqs_claim('lq', 1);
SELECT fqs_fail(id, receipt, 'try later', '1 hour') FROM c5;
SELECT count(*) AS not_yet FROM fqs_claim('lq', 5);
SELECT fqs_enqueue('lq', 'backoff', 'k4') AS m4 \gset
CREATE TEMP TABLE c8 AS SELECT * FROM fqs_claim('lq', 1);
SELECT fqs_fail(id, receipt, 'default backoff') FROM c8;
SELECT count(*) AS backing_off FROM fqs_claim('lq', 5);
SELECT r.visible_at > now() AS delayed FROM fqs.ready r WHERE r.id = :m4;
SELECT s.state FROM fqs_message_status(:m2) s;

-- a dead head blocks its own key only; retry brings it back
SELECT fqs_enqueue('lq', 'm1 follow-up', 'k') AS m3 \gset
CREATE TEMP TABLE c6 AS SELECT * FROM fqs_claim('lq', 5);
SELECT payload FROM c6;
SELECT fqs_commit(id, receipt) FROM c6;
SELECT count(*) AS k_blocked FROM fqs_claim_sequential('lq', 5);
SELECT fqs_retry(:m1);
SELECT s.state, s.attempts FROM fqs_message_status(:m1) s;
CREATE TEMP TABLE c7 AS SELECT * FROM fqs_claim('lq', 1);
SELECT payload, attempt FROM c7;
SELECT fqs_commit(id, receipt, 'done m1') FROM c7;
CREATE TEMP TABLE s1 AS
  SELECT * FROM fqs_claim_sequential('lq', 5, lease => '10 milliseconds');
SELECT fifo_key, seq, payload FROM s1 ORDER BY seq;

-- sequential lease expiry: the key is given out again, old receipt fenced
SELECT pg_sleep(0.05);
CREATE TEMP TABLE s2 AS SELECT * FROM fqs_claim_sequential('lq', 5);
SELECT fifo_key, seq, attempt FROM s2 ORDER BY seq;
SELECT regress_err(format('SELECT fqs_complete(%s, %s)', id, receipt)) FROM s1 WHERE seq = 1;
SELECT fqs_extend_lease(id, receipt, '10 minutes') > now() AS extended FROM s2 WHERE seq = 2;
SELECT fqs_complete(id, receipt) FROM s2 WHERE seq = 1;
-- failing the new head ends the hold; the key comes back after retry_after
SELECT fqs_fail(id, receipt, 'egress refused', '0 seconds') FROM s2 WHERE seq = 2;
CREATE TEMP TABLE s3 AS SELECT * FROM fqs_claim_sequential('lq', 5);
SELECT fifo_key, seq, attempt FROM s3;
-- its third delivery (s1, s2, s3): the last one max_attempts allows
SELECT fqs_fail(id, receipt, 'egress gone') FROM s3;
SELECT queue, fifo_key, seq, stage, attempts, last_error FROM fqs_dead_messages ORDER BY id;
SELECT queue, processed, sequencing, dead FROM fqs_queues WHERE queue = 'lq';
-- skip lets the key move past it, recorded with the reason
SELECT fqs_skip(:m3, 'egress retired this feed');
SELECT s.state, s.last_error FROM fqs_message_status(:m3) s;
SELECT count(*) AS dead_left FROM fqs_dead_messages;

-- skipping a message that died in the concurrent stage behind a pending head
SELECT fqs_create_queue('sk', max_attempts => 1);
SELECT array_agg(i ORDER BY i) AS sk FROM fqs_enqueue_batch('sk', ARRAY['a1','a2','a3'], ARRAY['a','a','a']) i \gset
CREATE TEMP TABLE k1 AS SELECT * FROM fqs_claim('sk', 3);
SELECT fqs_fail(id, receipt, 'poison') FROM k1 WHERE seq = 2;
SELECT fqs_skip((:'sk'::bigint[])[2], 'poison message');
SELECT fqs_commit(id, receipt) FROM k1 WHERE seq = 3;
SELECT count(*) AS head_pending FROM fqs_claim_sequential('sk', 5);
SELECT fqs_commit(id, receipt) FROM k1 WHERE seq = 1;
CREATE TEMP TABLE k2 AS SELECT * FROM fqs_claim_sequential('sk', 5);
SELECT seq, payload FROM k2;
SELECT fqs_complete(id, receipt) FROM k2 WHERE seq = 1;
-- the skipped message is passed over; seq 3 comes next
CREATE TEMP TABLE k3 AS SELECT * FROM fqs_claim_sequential('sk', 5);
SELECT seq, payload FROM k3;
SELECT fqs_complete(id, receipt) FROM k3;
SELECT s.seq, s.state FROM unnest(:'sk'::bigint[]) i, fqs_message_status(i) s ORDER BY 1;
SELECT queue, processed, done_total FROM fqs_queues WHERE queue = 'sk';

-- pause: enqueues are accepted, claims give nothing
SELECT fqs_create_queue('pq');
SELECT fqs_pause('pq');
SELECT fqs_enqueue('pq', 'while paused') > 0 AS accepted;
SELECT count(*) AS none FROM fqs_claim('pq', 5);
SELECT paused, ready FROM fqs_queues WHERE queue = 'pq';
SELECT fqs_resume('pq');
SELECT payload FROM fqs_claim('pq', 5);

-- max_claimed caps concurrent claims of a queue
SELECT fqs_create_queue('capped', max_claimed => 2);
SELECT count(*) FROM fqs_enqueue_batch('capped', ARRAY['1','2','3','4'], ARRAY['a','b','c','d']);
SELECT count(*) FROM fqs_claim('capped', 5);
SELECT count(*) FROM fqs_claim('capped', 5);
SELECT fqs_alter_queue('capped', max_claimed => 3);
SELECT count(*) FROM fqs_claim('capped', 5);
SELECT fqs_alter_queue('capped', max_claimed => 0);
SELECT count(*) FROM fqs_claim('capped', 5);
