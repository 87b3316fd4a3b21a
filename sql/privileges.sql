-- An unprivileged application role uses the message API; administration,
-- internal tables and monitoring need grants.
\set VERBOSITY terse
CREATE ROLE regress_fqs_app;
SELECT fqs_create_queue('priv');
SET ROLE regress_fqs_app;
SELECT fqs_enqueue('priv', 'from the app', 'k') AS id \gset
SELECT count(*) FROM fqs_enqueue_batch('priv', ARRAY['a', 'b'], ARRAY['k', 'k']);
SELECT count(fqs_commit(id, receipt, 'done')) FROM fqs_claim('priv', 3);
SELECT count(fqs_complete(id, receipt)) FROM fqs_claim_sequential('priv', 3, wait => '1 second');
SELECT state FROM fqs_message_status(:id);
-- not for the app: administration, operator actions, internals, monitoring
SELECT regress_err($$SELECT fqs_create_queue('mine')$$);
SELECT regress_err($$SELECT fqs_drop_queue('priv', true)$$);
SELECT regress_err($$SELECT fqs_pause('priv')$$);
SELECT regress_err($$SELECT fqs_retry(1)$$);
SELECT regress_err($$SELECT fqs_maintain()$$);
SELECT regress_err($$SELECT count(*) FROM fqs.message$$);
SELECT regress_err($$UPDATE fqs.key_head SET head_seq = 0$$);
SELECT regress_err($$SELECT count(*) FROM fqs_queues$$);
-- a search_path that shadows built-ins does not reach into fqs
RESET ROLE;
CREATE SCHEMA regress_evil;
CREATE FUNCTION regress_evil.now() RETURNS timestamptz LANGUAGE sql AS $$ SELECT 'epoch'::timestamptz $$;
SET search_path = regress_evil, public;
SELECT fqs_enqueue('priv', 'shadowed') > 0 AS ok;
SELECT enqueued_at > '2000-01-01' AS real_now FROM fqs_claim('priv', 1);
RESET search_path;
-- monitoring through pg_monitor
GRANT pg_monitor TO regress_fqs_app;
SET ROLE regress_fqs_app;
SELECT queue, done_total FROM fqs_queues WHERE queue = 'priv';
RESET ROLE;
DROP SCHEMA regress_evil CASCADE;
REVOKE pg_monitor FROM regress_fqs_app;
DROP ROLE regress_fqs_app;
SELECT fqs_drop_queue('priv', true);
