-- Rotation of message generations: finished messages leave by TRUNCATE
-- of their generation table.  Rotation is global, so start from no queues.
\set VERBOSITY terse
SELECT count(*) >= 0 AS dropped FROM (SELECT fqs_drop_queue(queue, true) FROM fqs_queues) d;
SELECT fqs_create_queue('rot');
SELECT cur_gen AS gen0 FROM fqs.meta \gset
SELECT count(*) FROM fqs_enqueue_batch('rot', ARRAY['a','b']);
SELECT fqs_commit(id, receipt) FROM fqs_claim('rot', 2);
SELECT fqs_complete(id, receipt) FROM fqs_claim_sequential('rot', 2) ORDER BY seq;
-- not due yet without force
SELECT fqs_rotate() IS NULL AS not_due;
SELECT fqs_rotate(true) = (:gen0 + 1) % 4 AS rotated;
SELECT fqs_rotate(true) = (:gen0 + 2) % 4 AS rotated;
SELECT fqs_rotate(true) = (:gen0 + 3) % 4 AS rotated;
-- the next one would truncate gen0, whose messages are done
SELECT count(*) AS before_truncate FROM fqs.message WHERE gen = :gen0 AND qid = (SELECT qid FROM fqs.queue WHERE name = 'rot');
SELECT fqs_rotate(true) = :gen0 AS rotated;
SELECT count(*) AS after_truncate FROM fqs.message WHERE gen = :gen0;
-- finished messages are answerable until then, and gone after
SELECT count(*) AS status_rows FROM fqs.done d, fqs_message_status(d.id) s;
-- an unfinished message pins its generation
SELECT fqs_enqueue('rot', 'pending') AS pending \gset
SELECT fqs_rotate(true) IS NOT NULL;
SELECT fqs_rotate(true) IS NOT NULL;
SELECT fqs_rotate(true) IS NOT NULL;
SELECT fqs_rotate(true) IS NULL AS pinned;
SELECT s.state FROM fqs_message_status(:pending) s;
