/* src/fqs--0.2--0.3.sql */

\echo Use "ALTER EXTENSION fqs UPDATE TO '0.3'" to load this file. \quit

/*
 * 0.3: a queue can move to another node (fqs_router_move_queue).  The
 * node's side of a move, in order:
 *
 *  fqs.move_begin(queue, epoch)    the queue refuses new work (SQLSTATE
 *                                  QM001: enqueues, claims, lease
 *                                  extensions, retries, skips, settings);
 *                                  leases given out may still finish
 *  fqs.move_drain(queue)           returns expired leases (as the worker
 *                                  would) and counts the leases left
 *  fqs.move_export(queue, epoch)   with no lease left: every unfinished
 *                                  message with its key, seq, attempts,
 *                                  state and result, the keys' heads and
 *                                  tails, dead letters, dedup ids, grants
 *                                  and settings, as one jsonb document
 *                                  read in one snapshot; the queue is then
 *                                  "moved" and refuses everything
 *  fqs.move_import(queue, epoch, doc)   on the target: the queue and all
 *                                  of it, in one transaction
 *  fqs.move_finish(queue, epoch)   the source drops the queue's data and
 *                                  keeps its name as a tombstone that
 *                                  answers QM001 (a caller that read the
 *                                  directory just before it changed)
 *  fqs.move_abort(queue, epoch)    the source takes work again
 *
 * All of them are the superuser's (schema fqs is not PUBLIC's); the
 * router calls them as its owner.
 */

ALTER TABLE fqs.queue
	ADD COLUMN move_state text CHECK (move_state IN ('draining', 'moved')),
	ADD COLUMN move_epoch integer;

CREATE FUNCTION fqs.move_begin(queue text, epoch integer)
RETURNS text
AS 'MODULE_PATHNAME', 'fqs_move_begin'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION fqs.move_state(queue text, OUT move_state text, OUT move_epoch integer)
RETURNS record
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT q.move_state, q.move_epoch FROM fqs.queue q WHERE q.name = $1 $$;

CREATE FUNCTION fqs.move_drain(queue text)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	q integer;
	n bigint;
BEGIN
	SELECT x.qid INTO q FROM fqs.queue x
	 WHERE x.name = move_drain.queue AND x.move_state = 'draining';
	IF NOT FOUND THEN
		RAISE EXCEPTION 'queue "%" is not draining for a move', queue
			USING ERRCODE = 'object_not_in_prerequisite_state';
	END IF;
	/* expired leases and holds back to the queue, as the worker does */
	PERFORM @extschema@.fqs_maintain();
	SELECT (SELECT count(*) FROM fqs.ready r
			 WHERE r.qid = q AND r.lease_until IS NOT NULL)
		 + (SELECT count(*) FROM fqs.releasable r
			 WHERE r.qid = q AND r.lease_until IS NOT NULL)
	  INTO n;
	RETURN n;
END
$$;

CREATE FUNCTION fqs.move_export(queue text, epoch integer)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	q fqs.queue;
	doc jsonb;
BEGIN
	SELECT * INTO q FROM fqs.queue x WHERE x.name = move_export.queue FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'queue "%" does not exist', queue
			USING ERRCODE = 'undefined_object';
	END IF;
	IF q.move_state IS DISTINCT FROM 'draining' AND q.move_state IS DISTINCT FROM 'moved'
	   OR q.move_epoch IS DISTINCT FROM epoch THEN
		RAISE EXCEPTION 'queue "%" is not being moved at epoch %', queue, epoch
			USING ERRCODE = 'object_not_in_prerequisite_state';
	END IF;
	/*
	 * One statement, so one snapshot: every table as of one instant.  A
	 * lease (or a hold) still there, even one whose holder is committing
	 * right now, refuses the export; nothing else writes to a draining
	 * queue's messages.
	 */
	SELECT jsonb_build_object(
		'leases',
		  (SELECT count(*) FROM fqs.ready r WHERE r.qid = q.qid AND r.lease_until IS NOT NULL)
		+ (SELECT count(*) FROM fqs.releasable r WHERE r.qid = q.qid AND r.lease_until IS NOT NULL),
		'settings', jsonb_build_object(
			'max_ready', q.max_ready, 'lease', q.lease, 'max_attempts', q.max_attempts,
			'priority', q.priority, 'max_claimed', q.max_claimed, 'paused', q.paused,
			'failure_threshold', q.failure_threshold, 'failure_cooldown', q.failure_cooldown),
		'keys', COALESCE((
			SELECT jsonb_agg(jsonb_build_object(
					 'kid', t.kid, 'fifo_key', t.fifo_key, 'head_seq', h.head_seq,
					 'last_seq', GREATEST(t.last_seq, h.head_seq,
										  COALESCE((SELECT max(m.seq) FROM fqs.message m
												 WHERE m.kid = t.kid), 0))))
			  FROM fqs.key_tail t JOIN fqs.key_head h ON h.kid = t.kid
			 WHERE t.qid = q.qid), '[]'),
		'messages', COALESCE((
			SELECT jsonb_agg(jsonb_build_object(
					 'id', m.id, 'kid', m.kid, 'seq', m.seq, 'priority', m.priority,
					 'enqueued_at', m.enqueued_at, 'payload', m.payload, 'headers', m.headers))
			  FROM fqs.message m JOIN fqs.key_head h ON h.kid = m.kid
			 WHERE m.qid = q.qid AND m.seq > h.head_seq), '[]'),
		'ready', COALESCE((SELECT jsonb_agg(to_jsonb(r)) FROM fqs.ready r WHERE r.qid = q.qid), '[]'),
		'processed', COALESCE((
			SELECT jsonb_agg(to_jsonb(p))
			  FROM fqs.processed p JOIN fqs.key_head h ON h.kid = p.kid
			 WHERE p.qid = q.qid AND p.seq > h.head_seq), '[]'),
		'releasable', COALESCE((SELECT jsonb_agg(to_jsonb(r)) FROM fqs.releasable r WHERE r.qid = q.qid), '[]'),
		'pen', COALESCE((SELECT jsonb_agg(to_jsonb(p)) FROM fqs.pen p WHERE p.qid = q.qid), '[]'),
		'dead', COALESCE((SELECT jsonb_agg(to_jsonb(d)) FROM fqs.dead d WHERE d.qid = q.qid), '[]'),
		'dedup', COALESCE((SELECT jsonb_agg(jsonb_build_object('dedup_id', d.dedup_id, 'id', d.id))
							 FROM fqs.dedup d WHERE d.qid = q.qid), '[]'),
		'grants', COALESCE((SELECT jsonb_agg(jsonb_build_object('role', g.role::text, 'privilege', g.privilege))
							  FROM fqs.grants g WHERE g.qid = q.qid), '[]'))
	  INTO doc;
	IF (doc ->> 'leases')::bigint > 0 THEN
		RAISE EXCEPTION 'queue "%" still has % leases', queue, doc ->> 'leases'
			USING ERRCODE = 'object_in_use',
				  HINT = 'Wait for them to finish or expire (fqs.move_drain).';
	END IF;
	UPDATE fqs.queue x SET move_state = 'moved' WHERE x.qid = q.qid;
	RETURN doc - 'leases';
END
$$;

CREATE FUNCTION fqs.move_import(queue text, epoch integer, doc jsonb)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	s jsonb := doc -> 'settings';
	q integer;
	g integer;
	kmap jsonb;
	n bigint;
BEGIN
	/* a tombstone of an earlier move away from here holds nothing */
	DELETE FROM fqs.queue x WHERE x.name = move_import.queue AND x.move_state = 'moved'
	   AND NOT EXISTS (SELECT 1 FROM fqs.key_head h WHERE h.qid = x.qid);
	IF EXISTS (SELECT 1 FROM fqs.queue x WHERE x.name = move_import.queue) THEN
		RAISE EXCEPTION 'queue "%" already exists on this node', queue
			USING ERRCODE = 'duplicate_object';
	END IF;
	PERFORM @extschema@.fqs_create_queue(queue,
		(s ->> 'max_ready')::integer, (s ->> 'lease')::interval,
		(s ->> 'max_attempts')::integer, (s ->> 'priority')::integer,
		(s ->> 'max_claimed')::integer, (s ->> 'failure_threshold')::integer,
		(s ->> 'failure_cooldown')::interval);
	UPDATE fqs.queue x SET paused = (s ->> 'paused')::boolean, move_epoch = epoch
	 WHERE x.name = move_import.queue
	RETURNING x.qid INTO q;
	g := COALESCE((SELECT m.cur_gen FROM fqs.meta m), 0);

	/* the keys get ids of this node; old kid -> new kid */
	WITH k AS (
		SELECT x.kid, x.fifo_key, x.head_seq, x.last_seq,
			   pg_catalog.nextval('fqs.key_id_seq') AS nkid
		  FROM jsonb_to_recordset(doc -> 'keys')
			   AS x(kid bigint, fifo_key text, head_seq bigint, last_seq bigint)),
	t AS (INSERT INTO fqs.key_tail (qid, fifo_key, kid, last_seq)
		  SELECT q, k.fifo_key, k.nkid, k.last_seq FROM k),
	h AS (INSERT INTO fqs.key_head (kid, qid, fifo_key, head_seq)
		  SELECT k.nkid, q, k.fifo_key, k.head_seq FROM k)
	SELECT COALESCE(jsonb_object_agg(k.kid::text, k.nkid), '{}') INTO kmap FROM k;

	INSERT INTO fqs.message (gen, id, qid, kid, seq, priority, enqueued_at, payload, headers)
	SELECT g, x.id, q, (kmap ->> x.kid::text)::bigint, x.seq, x.priority,
		   x.enqueued_at, x.payload, x.headers
	  FROM jsonb_to_recordset(doc -> 'messages')
		   AS x(id bigint, kid bigint, seq bigint, priority integer,
				enqueued_at timestamptz, payload text, headers jsonb);
	GET DIAGNOSTICS n = ROW_COUNT;

	INSERT INTO fqs.ready (id, qid, kid, seq, gen, priority, attempt, visible_at,
						   lease_until, receipt, claimed_at, last_error)
	SELECT x.id, q, (kmap ->> x.kid::text)::bigint, x.seq, g, x.priority, x.attempt,
		   x.visible_at, NULL, 0, x.claimed_at, x.last_error
	  FROM jsonb_to_recordset(doc -> 'ready')
		   AS x(id bigint, kid bigint, seq bigint, priority integer, attempt integer,
				visible_at timestamptz, claimed_at timestamptz, last_error text);

	INSERT INTO fqs.processed (gen, kid, seq, id, qid, attempts, claimed_at,
							   committed_at, result, skip_reason)
	SELECT g, (kmap ->> x.kid::text)::bigint, x.seq, x.id, q, x.attempts, x.claimed_at,
		   x.committed_at, x.result, x.skip_reason
	  FROM jsonb_to_recordset(doc -> 'processed')
		   AS x(kid bigint, seq bigint, id bigint, attempts integer, claimed_at timestamptz,
				committed_at timestamptz, result text, skip_reason text);

	INSERT INTO fqs.releasable (kid, qid, visible_at, lease_until, receipt, hold_upto,
								head_attempts, hold_ends, claimed_at, last_error)
	SELECT (kmap ->> x.kid::text)::bigint, q, x.visible_at, NULL, 0, x.hold_upto,
		   x.head_attempts, x.hold_ends, x.claimed_at, x.last_error
	  FROM jsonb_to_recordset(doc -> 'releasable')
		   AS x(kid bigint, visible_at timestamptz, hold_upto bigint, head_attempts integer,
				hold_ends bigint[], claimed_at timestamptz, last_error text);

	INSERT INTO fqs.pen (id, qid, kid, seq, gen, priority, visible_at)
	SELECT x.id, q, (kmap ->> x.kid::text)::bigint, x.seq, g, x.priority, x.visible_at
	  FROM jsonb_to_recordset(doc -> 'pen')
		   AS x(id bigint, kid bigint, seq bigint, priority integer, visible_at timestamptz);

	INSERT INTO fqs.dead (id, qid, kid, seq, gen, stage, attempts, last_error, died_at)
	SELECT x.id, q, (kmap ->> x.kid::text)::bigint, x.seq, g, x.stage, x.attempts,
		   x.last_error, x.died_at
	  FROM jsonb_to_recordset(doc -> 'dead')
		   AS x(id bigint, kid bigint, seq bigint, stage text, attempts integer,
				last_error text, died_at timestamptz);

	INSERT INTO fqs.dedup (qid, dedup_id, id, gen)
	SELECT q, x.dedup_id, x.id, g
	  FROM jsonb_to_recordset(doc -> 'dedup') AS x(dedup_id text, id bigint);

	INSERT INTO fqs.grants (qid, role, privilege)
	SELECT q, x.role::regrole, x.privilege
	  FROM jsonb_to_recordset(doc -> 'grants') AS x(role text, privilege text);

	RETURN n;
END
$$;

CREATE FUNCTION fqs.move_finish(queue text, epoch integer)
RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	q fqs.queue;
BEGIN
	UPDATE fqs.queue x SET move_state = NULL
	 WHERE x.name = move_finish.queue AND x.move_state = 'moved'
	   AND x.move_epoch = epoch
	RETURNING * INTO q;
	IF NOT FOUND THEN
		RETURN false;
	END IF;
	PERFORM @extschema@.fqs_drop_queue(queue, force => true);
	INSERT INTO fqs.queue (name, lease, max_attempts, priority, move_state, move_epoch)
	VALUES (queue, q.lease, q.max_attempts, q.priority, 'moved', epoch);
	RETURN true;
END
$$;

CREATE FUNCTION fqs.move_abort(queue text, epoch integer)
RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	UPDATE fqs.queue x SET move_state = NULL, move_epoch = NULL
	 WHERE x.name = move_abort.queue AND x.move_epoch = epoch
	   AND x.move_state IS NOT NULL;
	RETURN FOUND;
END
$$;

REVOKE ALL ON FUNCTION fqs.move_begin(text, integer), fqs.move_state(text),
	fqs.move_drain(text), fqs.move_export(text, integer),
	fqs.move_import(text, integer, jsonb), fqs.move_finish(text, integer),
	fqs.move_abort(text, integer) FROM PUBLIC;
