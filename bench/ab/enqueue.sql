-- ab workload 1, enqueue: one message into a random key of 100 (queue qe,
-- whose max_ready is so large that enqueues check the ready depth but never
-- go to the holding pen).  One transaction per call.
\set k random(1, 100)
SELECT fqs_enqueue('qe', 'payload', 'k' || :k);
