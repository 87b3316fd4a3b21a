-- Per-queue privileges: what each role can and cannot do, through every
-- function and view; unguessable receipts; look-alike operators and
-- functions in public and in a $user schema change nothing.
\set VERBOSITY terse
CREATE ROLE regress_prod;
CREATE ROLE regress_cons;
CREATE ROLE regress_adm;
CREATE ROLE regress_none;
CREATE ROLE regress_grp;
GRANT fqs_consumer TO regress_grp;
SELECT fqs_create_queue('q1', lease => '1 hour', max_attempts => 1);
SELECT fqs_create_queue('q2', lease => '1 hour');
SELECT fqs_grant('q1', 'regress_prod', 'produce');
SELECT fqs_grant('q1', 'regress_cons', 'consume');
SELECT fqs_grant('q1', 'regress_adm', 'admin');
SELECT regress_err($$SELECT fqs_grant('q1', 'regress_cons', 'read')$$);
SELECT regress_err($$SELECT fqs_grant('nope', 'regress_cons', 'consume')$$);
SELECT fqs_enqueue('q2', 'secret of q2', 'patient-2') AS q2id \gset

-- producer: enqueues to q1 only, reads nothing
SET ROLE regress_prod;
SELECT fqs_enqueue('q1', 'm1', 'k') > 0 AS enqueued;
SELECT count(*) FROM fqs_enqueue_batch('q1', ARRAY['m2', 'm3'], ARRAY['k', 'k']);
SELECT regress_err($$SELECT fqs_enqueue('q2', 'x')$$);
SELECT regress_err($$SELECT fqs_enqueue_batch('q2', ARRAY['x'])$$);
SELECT regress_err($$SELECT * FROM fqs_claim('q1')$$);
SELECT regress_err($$SELECT * FROM fqs_claim_sequential('q1')$$);
SELECT regress_err($$SELECT * FROM fqs_claim_any(ARRAY['q1'])$$);
SELECT regress_err($$SELECT fqs_pause('q1')$$);
SELECT count(*) AS status_rows FROM fqs_message_status(:q2id);
RESET ROLE;

-- consumer: claims and acts on q1's messages, not on q2's
SET ROLE regress_cons;
SELECT regress_err($$SELECT fqs_enqueue('q1', 'x')$$);
SELECT regress_err($$SELECT * FROM fqs_claim('q2')$$);
SELECT regress_err($$SELECT * FROM fqs_claim_any(ARRAY['q1', 'q2'])$$);
CREATE TEMP TABLE got AS SELECT id, receipt, seq FROM fqs_claim('q1', 3);
SELECT count(*) AS claimed, count(DISTINCT receipt) AS receipts FROM got;
SELECT count(fqs_commit(id, receipt, 'r')) FROM got WHERE seq < 3;
SELECT fqs_fail(id, receipt, 'gave up') FROM got WHERE seq = 3;
SELECT state FROM fqs_message_status((SELECT id FROM got WHERE seq = 1));
SELECT count(*) AS q2_status_rows FROM fqs_message_status(:q2id);
SELECT queue FROM fqs_queues ORDER BY 1;
SELECT queue, seq FROM fqs_dead_messages;
SELECT count(fqs_complete(id, receipt)) FROM fqs_claim_sequential('q1', 5);
SELECT regress_err($$SELECT fqs_retry(id) FROM fqs_dead_messages$$);
SELECT regress_err($$SELECT count(*) FROM fqs.message$$);
SELECT regress_err($$UPDATE fqs.key_head SET head_seq = 0$$);
SELECT regress_err($$SELECT fqs_grant('q1', 'regress_cons', 'admin')$$);
SELECT regress_err($$SELECT fqs_maintain()$$);
SELECT regress_err($$SELECT fqs_rotate()$$);
RESET ROLE;

-- a receipt of q2 does not let a consumer of q1 act on q2's message
CREATE TEMP TABLE got2 AS SELECT id, receipt FROM fqs_claim('q2', 1);
GRANT SELECT ON got2 TO regress_cons;
SET ROLE regress_cons;
SELECT regress_err($$SELECT fqs_commit(id, receipt) FROM got2$$);
SELECT regress_err($$SELECT fqs_extend_lease(id, receipt, '1 minute') FROM got2$$);
SELECT regress_err($$SELECT fqs_fail(id, receipt, 'x') FROM got2$$);
SELECT regress_err($$SELECT fqs_complete(id, receipt) FROM got2$$);
-- nor do wrong receipts tell it anything about the message
SELECT regress_err($$SELECT fqs_commit(id, 12345) FROM got2$$);
RESET ROLE;
SELECT state FROM fqs_message_status(:q2id);

-- admin of q1: operator actions and grants on q1 only
SET ROLE regress_adm;
SELECT fqs_pause('q1');
SELECT fqs_resume('q1');
SELECT fqs_alter_queue('q1', max_attempts => 3);
SELECT fqs_retry(id) FROM fqs_dead_messages WHERE queue = 'q1';
SELECT fqs_grant('q1', 'regress_none', 'consume');
SELECT fqs_revoke('q1', 'regress_none', 'consume');
SELECT regress_err($$SELECT fqs_pause('q2')$$);
SELECT regress_err($$SELECT fqs_drop_queue('q2', true)$$);
SELECT regress_err($$SELECT fqs_create_queue('mine')$$);
SELECT regress_err($$SELECT fqs_grant('q2', 'regress_adm', 'admin')$$);
SELECT regress_err($$SELECT fqs_grant('*', 'regress_adm', 'admin')$$);
SELECT queue FROM fqs_queues ORDER BY 1;
RESET ROLE;

-- no rights: sees nothing, does nothing
SET ROLE regress_none;
SELECT count(*) AS queues_seen FROM fqs_queues;
SELECT count(*) AS dead_seen FROM fqs_dead_messages;
SELECT count(*) AS status_rows FROM fqs_message_status(:q2id);
SELECT regress_err($$SELECT * FROM fqs_claim('q1')$$);
SELECT regress_err($$SELECT fqs_enqueue('q1', 'x')$$);
SELECT regress_err($$SELECT fqs_retry(1)$$);
RESET ROLE;

-- a grant takes effect at once, also in a session that cached the refusal
SET ROLE regress_none;
SELECT regress_err($$SELECT fqs_enqueue('q2', 'x')$$);
RESET ROLE;
SELECT fqs_grant('*', 'regress_none', 'produce');
SET ROLE regress_none;
SELECT fqs_enqueue('q2', 'now allowed') > 0 AS enqueued;
RESET ROLE;
SELECT fqs_revoke('*', 'regress_none', 'produce');
SET ROLE regress_none;
SELECT regress_err($$SELECT fqs_enqueue('q2', 'x')$$);
RESET ROLE;

-- members of fqs_consumer consume from every queue
SET ROLE regress_grp;
SELECT count(*) > 0 AS claimed_q2 FROM fqs_claim('q2', 10);
SELECT regress_err($$SELECT fqs_enqueue('q2', 'x')$$);
RESET ROLE;

-- pg_monitor sees every queue's counts, but no dead message of others
GRANT pg_monitor TO regress_none;
SET ROLE regress_none;
SELECT queue FROM fqs_queues WHERE queue IN ('q1', 'q2') ORDER BY 1;
SELECT count(*) AS dead_seen FROM fqs_dead_messages;
RESET ROLE;
REVOKE pg_monitor FROM regress_none;

-- receipts are random 63-bit numbers, not a sequence
SELECT fqs_create_queue('rnd');
SELECT count(fqs_enqueue('rnd', 'x')) FROM generate_series(1, 20);
CREATE TEMP TABLE rc AS SELECT receipt FROM fqs_claim('rnd', 20);
SELECT count(DISTINCT receipt) AS distinct_receipts, min(receipt) > 0 AS positive,
       max(receipt) - min(receipt) > 1000000 AS spread
  FROM rc;

-- look-alikes: an unprivileged role plants functions and operators that
-- would make it superuser, in public and in a schema named like the
-- calling superuser ($user); fqs calls none of them
CREATE ROLE regress_evil;
GRANT CREATE ON SCHEMA public TO regress_evil;
CREATE SCHEMA regress_super AUTHORIZATION regress_evil;
CREATE ROLE regress_super SUPERUSER;
SET ROLE regress_evil;
CREATE TABLE public.regress_hijacked (who text);
GRANT INSERT ON public.regress_hijacked TO PUBLIC;
CREATE FUNCTION public.regress_trap() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO public.regress_hijacked VALUES (current_user);
	IF current_user <> 'regress_evil' THEN
		EXECUTE 'ALTER ROLE regress_evil SUPERUSER';
	END IF;
END $$;
CREATE FUNCTION public.regress_eq8(bigint, bigint) RETURNS boolean LANGUAGE plpgsql AS
$$ BEGIN PERFORM public.regress_trap(); RETURN $1::numeric = $2::numeric; END $$;
CREATE OPERATOR public.= (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = public.regress_eq8);
CREATE FUNCTION public.regress_eq4(integer, integer) RETURNS boolean LANGUAGE plpgsql AS
$$ BEGIN PERFORM public.regress_trap(); RETURN $1::numeric = $2::numeric; END $$;
CREATE OPERATOR public.= (LEFTARG = integer, RIGHTARG = integer, FUNCTION = public.regress_eq4);
CREATE OPERATOR regress_super.= (LEFTARG = integer, RIGHTARG = integer, FUNCTION = public.regress_eq4);
CREATE FUNCTION public.regress_div(integer, numeric) RETURNS numeric LANGUAGE plpgsql AS
$$ BEGIN PERFORM public.regress_trap(); RETURN $1::numeric / $2; END $$;
CREATE OPERATOR public./ (LEFTARG = integer, RIGHTARG = numeric, FUNCTION = public.regress_div);
CREATE FUNCTION public.regress_lt(timestamptz, timestamptz) RETURNS boolean LANGUAGE plpgsql AS
$$ BEGIN PERFORM public.regress_trap(); RETURN $1 > $2; END $$;
CREATE OPERATOR public.< (LEFTARG = timestamptz, RIGHTARG = timestamptz, FUNCTION = public.regress_lt);
CREATE FUNCTION public.now() RETURNS timestamptz LANGUAGE plpgsql AS
$$ BEGIN PERFORM public.regress_trap(); RETURN 'epoch'; END $$;
CREATE FUNCTION public.count(anyelement) RETURNS bigint LANGUAGE plpgsql AS
$$ BEGIN PERFORM public.regress_trap(); RETURN 0; END $$;
RESET ROLE;
-- every API function, called by a superuser whose search_path puts the
-- planted objects first
SET ROLE regress_super;
SET search_path = "$user", public, pg_catalog;
SELECT fqs_create_queue('hij', max_ready => 2, max_claimed => 5);
SELECT fqs_alter_queue('hij', lease => '1 hour');
SELECT fqs_enqueue('hij', 'a', 'k', dedup_id => 'd1') > 0 AS ok;
SELECT pg_catalog.count(*) FROM fqs_enqueue_batch('hij', ARRAY['b', 'c', 'd'], ARRAY['k', 'k', 'j']);
SELECT fqs_maintain();
SELECT fqs_enqueue('hij', 'e', 'k') > 0 AS ok;
CREATE TEMP TABLE h1 AS SELECT id, receipt, seq, fifo_key FROM fqs_claim('hij', 2);
SELECT pg_catalog.count(fqs_extend_lease(id, receipt, '1 hour')) FROM h1;
SELECT pg_catalog.count(fqs_commit(id, receipt)) FROM h1;
CREATE TEMP TABLE h2 AS SELECT id, receipt FROM fqs_claim_any(ARRAY['hij', 'q2'], 1);
SELECT pg_catalog.count(fqs_fail(id, receipt, 'e', '0')) FROM h2;
SELECT pg_catalog.count(fqs_complete(id, receipt)) FROM fqs_claim_sequential('hij', 1);
SELECT pg_catalog.count(*) FROM fqs_message_status((SELECT min(id) FROM h1));
SELECT fqs_pause('hij');
SELECT fqs_resume('hij');
SELECT pg_catalog.count(*) >= 0 AS ok FROM fqs_queues;
SELECT pg_catalog.count(*) >= 0 AS ok FROM fqs_dead_messages;
SELECT fqs_rotate() IS NULL AS not_due;
SELECT pg_catalog.count(*) >= 0 AS ok FROM fqs_workers();
SELECT fqs_grant('hij', 'regress_cons', 'consume');
SELECT fqs_revoke('hij', 'regress_cons', 'consume');
SELECT fqs_drop_queue('hij', true);
RESET search_path;
RESET ROLE;
SELECT count(*) AS trap_calls FROM public.regress_hijacked;
SELECT rolsuper FROM pg_roles WHERE rolname = 'regress_evil';

-- clean up
DROP SCHEMA regress_super CASCADE;
DROP FUNCTION public.regress_trap() CASCADE;
DROP FUNCTION public.regress_eq8(bigint, bigint) CASCADE;
DROP FUNCTION public.regress_eq4(integer, integer) CASCADE;
DROP FUNCTION public.regress_div(integer, numeric) CASCADE;
DROP FUNCTION public.regress_lt(timestamptz, timestamptz) CASCADE;
DROP FUNCTION public.now();
DROP FUNCTION public.count(anyelement);
DROP TABLE public.regress_hijacked;
REVOKE CREATE ON SCHEMA public FROM regress_evil;
DROP ROLE regress_evil;
SELECT fqs_drop_queue('q1', true);
SELECT fqs_drop_queue('q2', true);
SELECT fqs_drop_queue('rnd', true);
DROP TABLE got, got2, rc, h1, h2;
DROP ROLE regress_super;
REVOKE fqs_consumer FROM regress_grp;
DROP ROLE regress_prod, regress_cons, regress_adm, regress_none, regress_grp;
