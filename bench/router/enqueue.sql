-- bench/router.sh: one enqueue (the same text direct and through the proxy)
\set k random(1, 100)
SELECT fqs_enqueue('b', '{"msg": "ADT^A01", "data": "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}', 'k' || :k);
