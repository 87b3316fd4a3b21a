-- Waiting claims, fqs_claim_any, scheduled delivery: behaviour and bad input.
\set VERBOSITY terse

SELECT fqs_create_queue('low', priority => 0);
SELECT fqs_create_queue('high', priority => 5);
SELECT fqs_create_queue('mid', priority => 2);

-- fqs_claim_any serves the highest-priority queue with work first
SELECT count(*) FROM fqs_enqueue_batch('low', ARRAY['l1', 'l2']);
SELECT count(*) FROM fqs_enqueue_batch('mid', ARRAY['m1']);
SELECT count(*) FROM fqs_enqueue_batch('high', ARRAY['h1', 'h2']);
SELECT payload FROM fqs_claim_any(ARRAY['low', 'mid', 'high'], 4);
-- ... and tops up from the others; a queue named twice is served once
SELECT payload FROM fqs_claim_any(ARRAY['high', 'low', 'high'], 5);
-- paused queues are passed over
SELECT fqs_enqueue('high', 'h3') > 0 AS ok;
SELECT fqs_enqueue('low', 'l3') > 0 AS ok;
SELECT fqs_pause('high');
SELECT payload FROM fqs_claim_any(ARRAY['high', 'low'], 5);
SELECT fqs_resume('high');
SELECT payload FROM fqs_claim_any(ARRAY['high'], 5);

-- a wait that nobody ends returns nothing when it runs out
SELECT count(*) AS nothing FROM fqs_claim('low', 1, wait => '50 milliseconds');
SELECT count(*) AS nothing FROM fqs_claim_sequential('low', 1, wait => '50 milliseconds');
SELECT count(*) AS nothing FROM fqs_claim_any(ARRAY['low', 'mid'], 1, wait => '50 milliseconds');
-- a wait that finds work at once returns at once
SELECT fqs_enqueue('mid', 'm2') > 0 AS ok;
SELECT payload FROM fqs_claim('mid', 1, wait => '1 hour');

-- scheduled delivery: not claimable before deliver_at
SELECT fqs_enqueue('low', 'later', deliver_at => now() + interval '1 hour') AS later \gset
SELECT count(*) AS not_yet FROM fqs_claim('low', 5);
SELECT state FROM fqs_message_status(:later);
SELECT ready, delayed FROM fqs_queues WHERE queue = 'low';
SELECT fqs_enqueue('low', 'past', deliver_at => now() - interval '1 hour') > 0 AS ok;
SELECT payload FROM fqs_claim('low', 5);
SELECT count(*) FROM fqs_enqueue_batch('low', ARRAY['b1', 'b2'], deliver_at => now() + interval '1 hour');
SELECT count(*) AS not_yet FROM fqs_claim('low', 5);

-- one maintenance pass by hand: nothing expired, nothing in a pen
SELECT fqs_maintain();

-- bad input
SELECT regress_err($$SELECT * FROM fqs_claim('low', 1, wait => '-1 second')$$);
SELECT regress_err($$SELECT * FROM fqs_claim('low', 1, wait => '1 month')$$);
SELECT regress_err($$SELECT * FROM fqs_claim_sequential('low', 1, wait => '-1 second')$$);
SELECT regress_err($$SELECT * FROM fqs_claim_any(NULL)$$);
SELECT regress_err($$SELECT * FROM fqs_claim_any(ARRAY[]::text[])$$);
SELECT regress_err($$SELECT * FROM fqs_claim_any(ARRAY['low', NULL])$$);
SELECT regress_err($$SELECT * FROM fqs_claim_any(ARRAY['low', 'nosuch'])$$);
SELECT regress_err($$SELECT * FROM fqs_claim_any(ARRAY['low', ''])$$);
SELECT regress_err($$SELECT * FROM fqs_claim_any(ARRAY[['low'], ['mid']])$$);
SELECT regress_err($$SELECT * FROM fqs_claim_any(ARRAY['low'], 0)$$);
SELECT regress_err($$SELECT * FROM fqs_claim_any(ARRAY['low'], 1, '-1 s')$$);
SELECT regress_err($$SELECT * FROM fqs_claim_any(ARRAY['low'], 1, NULL, '-1 s')$$);
-- NULL wait means no wait
SELECT count(*) FROM fqs_claim('low', 1, wait => NULL);
