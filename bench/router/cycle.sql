-- bench/router.sh: enqueue one, claim one, commit it; three transactions
\set k random(1, 100)
SELECT fqs_enqueue('b', '{"msg": "ADT^A01", "data": "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}', 'k' || :k);
SELECT id, receipt FROM fqs_claim('b', 1) \gset
SELECT fqs_commit(:id, :receipt);
