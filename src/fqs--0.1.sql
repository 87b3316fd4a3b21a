/* src/fqs--0.1.sql */

\echo Use "CREATE EXTENSION fqs" to load this file. \quit

/*
 * Storage layout (see README.md, "Storage"):
 *
 *  fqs.queue       one row per queue; settings, written by admin calls only
 *  fqs.key_tail    per (queue, fifo_key): the last seq handed out.  Enqueue
 *                  updates it and holds its row lock until commit, so seqs of
 *                  one key are assigned in commit order and without gaps.
 *  fqs.key_head    per key: the last released seq.  Complete locks it FOR
 *                  UPDATE and commit FOR KEY SHARE, which closes the
 *                  lost-release race without commits blocking each other.
 *  fqs.message     append-only payloads, partitioned by generation (gen);
 *                  old generations leave by TRUNCATE, never row DELETE.
 *  fqs.ready       the concurrent stage's working set: one narrow row per
 *                  message not yet committed (bounded per queue by the
 *                  holding pen).  Claimed with FOR UPDATE SKIP LOCKED.
 *  fqs.processed   append-only: committed messages and their results.
 *  fqs.releasable  the sequential stage: one row per key whose head is
 *                  processed (free) or whose head run is held (leased).
 *  fqs.done        append-only: finished (or skipped) messages.
 *  fqs.dead        messages that exhausted max_attempts.
 *
 * No foreign keys on hot tables; queue names are data keyed by qid.
 */

CREATE SCHEMA fqs;
REVOKE ALL ON SCHEMA fqs FROM PUBLIC;

CREATE SEQUENCE fqs.queue_id_seq AS integer;
CREATE SEQUENCE fqs.message_id_seq;
CREATE SEQUENCE fqs.key_id_seq;

CREATE TABLE fqs.queue
(
	qid			integer PRIMARY KEY DEFAULT pg_catalog.nextval('fqs.queue_id_seq'),
	name		text NOT NULL UNIQUE,
	max_ready	integer,
	lease		interval NOT NULL,
	max_attempts integer NOT NULL,
	priority	integer NOT NULL,
	max_claimed integer,
	paused		boolean NOT NULL DEFAULT false,
	breaker_open boolean NOT NULL DEFAULT false,	/* new messages go to the pen */
	breaker_changed_at timestamptz,
	failure_threshold integer,	/* failure breaker: NULL = off */
	failure_cooldown interval NOT NULL DEFAULT '30 seconds',
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now()
);
ALTER SEQUENCE fqs.queue_id_seq OWNED BY fqs.queue.qid;

/* Generation bookkeeping: the generation new messages are written to. */
CREATE TABLE fqs.meta
(
	onerow		boolean PRIMARY KEY DEFAULT true CHECK (onerow),
	cur_gen		integer NOT NULL,
	gen_started_at timestamptz NOT NULL
);
/*
 * No row is inserted here: the first rotation inserts it, and until then
 * the generation is 0.  So pg_restore, which runs this script and then
 * restores the dumped row, finds no row in its way.
 */

/*
 * One row per (queue, key), locked (not updated) by enqueues of the key.
 * last_seq is a floor of the key's last seq: the last seq itself is the
 * newest stored message's, or the key's head once rotation truncated them
 * all (see enqueue.c).
 */
CREATE TABLE fqs.key_tail
(
	qid			integer NOT NULL,
	fifo_key	text NOT NULL,
	kid			bigint NOT NULL,
	last_seq	bigint NOT NULL,
	PRIMARY KEY (qid, fifo_key)
);

CREATE TABLE fqs.key_head
(
	kid			bigint PRIMARY KEY,
	qid			integer NOT NULL,
	fifo_key	text NOT NULL,
	head_seq	bigint NOT NULL DEFAULT 0	/* last finished seq */
);
CREATE INDEX key_head_qid ON fqs.key_head (qid);

CREATE TABLE fqs.message
(
	gen			integer NOT NULL,
	id			bigint NOT NULL,
	qid			integer NOT NULL,
	kid			bigint NOT NULL,
	seq			bigint NOT NULL,
	priority	integer NOT NULL,
	enqueued_at timestamptz NOT NULL,
	payload		text NOT NULL,
	headers		jsonb
) PARTITION BY LIST (gen);
CREATE INDEX message_id ON fqs.message (id);
CREATE INDEX message_key ON fqs.message (kid, seq);

CREATE TABLE fqs.processed
(
	gen			integer NOT NULL,
	kid			bigint NOT NULL,
	seq			bigint NOT NULL,
	id			bigint NOT NULL,
	qid			integer NOT NULL,
	attempts	integer NOT NULL,
	claimed_at	timestamptz,
	committed_at timestamptz NOT NULL,
	result		text,
	skip_reason text
) PARTITION BY LIST (gen);
CREATE INDEX processed_key ON fqs.processed (kid, seq);
CREATE INDEX processed_id ON fqs.processed (id);

CREATE TABLE fqs.done
(
	gen			integer NOT NULL,
	id			bigint NOT NULL,
	qid			integer NOT NULL,
	kid			bigint NOT NULL,
	seq			bigint NOT NULL,
	done_at		timestamptz NOT NULL,
	skip_reason text
) PARTITION BY LIST (gen);
CREATE INDEX done_id ON fqs.done (id);

/* Four generations, used as a ring (see fqs_rotate). */
CREATE TABLE fqs.message_0 PARTITION OF fqs.message FOR VALUES IN (0);
CREATE TABLE fqs.message_1 PARTITION OF fqs.message FOR VALUES IN (1);
CREATE TABLE fqs.message_2 PARTITION OF fqs.message FOR VALUES IN (2);
CREATE TABLE fqs.message_3 PARTITION OF fqs.message FOR VALUES IN (3);
CREATE TABLE fqs.processed_0 PARTITION OF fqs.processed FOR VALUES IN (0);
CREATE TABLE fqs.processed_1 PARTITION OF fqs.processed FOR VALUES IN (1);
CREATE TABLE fqs.processed_2 PARTITION OF fqs.processed FOR VALUES IN (2);
CREATE TABLE fqs.processed_3 PARTITION OF fqs.processed FOR VALUES IN (3);
CREATE TABLE fqs.done_0 PARTITION OF fqs.done FOR VALUES IN (0);
CREATE TABLE fqs.done_1 PARTITION OF fqs.done FOR VALUES IN (1);
CREATE TABLE fqs.done_2 PARTITION OF fqs.done FOR VALUES IN (2);
CREATE TABLE fqs.done_3 PARTITION OF fqs.done FOR VALUES IN (3);

CREATE TABLE fqs.ready
(
	id			bigint PRIMARY KEY,
	qid			integer NOT NULL,
	kid			bigint NOT NULL,
	seq			bigint NOT NULL,
	gen			integer NOT NULL,
	priority	integer NOT NULL,
	attempt		integer NOT NULL DEFAULT 0,
	visible_at	timestamptz NOT NULL,
	lease_until timestamptz,		/* NULL: not claimed */
	receipt		bigint NOT NULL DEFAULT 0,
	claimed_at	timestamptz,
	last_error	text
);
/*
 * Claimable rows only: in-flight rows never sit in the claim scan's path.
 * In claim order, (-priority, id), so that a claim can start its scan at a
 * position (see src/scan.c).
 */
CREATE INDEX ready_claim ON fqs.ready (qid, (-(priority::int8)), id)
	WHERE lease_until IS NULL;
CREATE INDEX ready_lease ON fqs.ready (qid, lease_until)
	WHERE lease_until IS NOT NULL;
/* the worker counts claimable rows up to max_ready, past delayed ones */
CREATE INDEX ready_visible ON fqs.ready (qid, visible_at)
	WHERE lease_until IS NULL;

CREATE TABLE fqs.releasable
(
	kid			bigint PRIMARY KEY,
	qid			integer NOT NULL,
	visible_at	timestamptz NOT NULL,
	lease_until timestamptz,		/* NULL: free to claim */
	receipt		bigint NOT NULL DEFAULT 0,
	hold_upto	bigint NOT NULL DEFAULT 0,	/* last seq of the held run */
	head_attempts integer NOT NULL DEFAULT 0,	/* deliveries of head_seq + 1 */
	hold_ends	bigint[] NOT NULL DEFAULT '{}',	/* hold_upto of holds that
												 * reached past the head */
	claimed_at	timestamptz,
	last_error	text
);
CREATE INDEX releasable_free ON fqs.releasable (qid, visible_at, kid)
	WHERE lease_until IS NULL;
CREATE INDEX releasable_lease ON fqs.releasable (qid, lease_until)
	WHERE lease_until IS NOT NULL;
CREATE INDEX releasable_receipt ON fqs.releasable (receipt)
	WHERE lease_until IS NOT NULL;

/*
 * Deliveries of message s of a key = holds whose run reached s; every hold
 * starts at the head, so keeping the ends of the holds that reached past
 * the head (at most max_attempts of them) counts them exactly.
 */
CREATE FUNCTION fqs.trim_holds(ends bigint[], head bigint)
RETURNS bigint[] LANGUAGE sql IMMUTABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$ SELECT COALESCE(array_agg(e), '{}') FROM unnest(ends) e WHERE e > head $$;

CREATE TABLE fqs.dead
(
	id			bigint PRIMARY KEY,
	qid			integer NOT NULL,
	kid			bigint NOT NULL,
	seq			bigint NOT NULL,
	gen			integer NOT NULL,
	stage		text NOT NULL CHECK (stage IN ('concurrent', 'sequential')),
	attempts	integer NOT NULL,
	last_error	text,
	died_at		timestamptz NOT NULL
);
CREATE INDEX dead_qid ON fqs.dead (qid);

CREATE TABLE fqs.dedup
(
	qid			integer NOT NULL,
	dedup_id	text NOT NULL,
	id			bigint NOT NULL,
	gen			integer NOT NULL,
	PRIMARY KEY (qid, dedup_id)
);

/*
 * Holding pen: while a queue's breaker is open, enqueues land here, and
 * the background worker's mover moves the oldest (highest priority first)
 * to fqs.ready as claims free room.  Same shape as fqs.ready's insert.
 */
CREATE TABLE fqs.pen
(
	id			bigint PRIMARY KEY,
	qid			integer NOT NULL,
	kid			bigint NOT NULL,
	seq			bigint NOT NULL,
	gen			integer NOT NULL,
	priority	integer NOT NULL,
	visible_at	timestamptz NOT NULL
);
CREATE INDEX pen_order ON fqs.pen (qid, priority DESC, id);

/*
 * Per-queue privileges (fqs_grant, fqs_revoke): role may produce, consume
 * or administer queue qid, or every queue when qid is 0.
 */
CREATE TABLE fqs.grants
(
	qid			integer NOT NULL,
	role		regrole NOT NULL,	/* dumped and restored by name */
	privilege	text NOT NULL CHECK (privilege IN ('produce', 'consume', 'admin')),
	PRIMARY KEY (qid, role, privilege)
);

/*
 * Everything that holds state is dumped by pg_dump, so that a restore
 * brings back every message in its state, with its seq, key pointers,
 * attempts, dedup ids and privileges, and the id sequences go on where
 * they were.  Partitioned parents hold no rows: their partitions are
 * dumped.
 */
SELECT pg_catalog.pg_extension_config_dump('fqs.queue', '');
SELECT pg_catalog.pg_extension_config_dump('fqs.meta', '');
SELECT pg_catalog.pg_extension_config_dump('fqs.key_tail', '');
SELECT pg_catalog.pg_extension_config_dump('fqs.key_head', '');
SELECT pg_catalog.pg_extension_config_dump('fqs.message_0', '');
SELECT pg_catalog.pg_extension_config_dump('fqs.message_1', '');
SELECT pg_catalog.pg_extension_config_dump('fqs.message_2', '');
SELECT pg_catalog.pg_extension_config_dump('fqs.message_3', '');
SELECT pg_catalog.pg_extension_config_dump('fqs.processed_0', '');
SELECT pg_catalog.pg_extension_config_dump('fqs.processed_1', '');
SELECT pg_catalog.pg_extension_config_dump('fqs.processed_2', '');
SELECT pg_catalog.pg_extension_config_dump('fqs.processed_3', '');
SELECT pg_catalog.pg_extension_config_dump('fqs.done_0', '');
SELECT pg_catalog.pg_extension_config_dump('fqs.done_1', '');
SELECT pg_catalog.pg_extension_config_dump('fqs.done_2', '');
SELECT pg_catalog.pg_extension_config_dump('fqs.done_3', '');
SELECT pg_catalog.pg_extension_config_dump('fqs.ready', '');
SELECT pg_catalog.pg_extension_config_dump('fqs.releasable', '');
SELECT pg_catalog.pg_extension_config_dump('fqs.dead', '');
SELECT pg_catalog.pg_extension_config_dump('fqs.dedup', '');
SELECT pg_catalog.pg_extension_config_dump('fqs.pen', '');
SELECT pg_catalog.pg_extension_config_dump('fqs.grants', '');
SELECT pg_catalog.pg_extension_config_dump('fqs.queue_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('fqs.message_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('fqs.key_id_seq', '');

/*
 * The narrow tables churn (every claim updates, every commit deletes) but
 * stay small, so vacuum them after a fixed number of dead rows instead of
 * a share of the table: dead entries at the head of their indexes are what
 * claim and mover scans step over.
 */
ALTER TABLE fqs.ready SET (autovacuum_vacuum_scale_factor = 0,
	autovacuum_vacuum_threshold = 2000, autovacuum_vacuum_cost_delay = 0,
	autovacuum_analyze_scale_factor = 0.05);
ALTER TABLE fqs.pen SET (autovacuum_vacuum_scale_factor = 0,
	autovacuum_vacuum_threshold = 2000, autovacuum_vacuum_cost_delay = 0,
	autovacuum_analyze_scale_factor = 0.05);
ALTER TABLE fqs.releasable SET (autovacuum_vacuum_scale_factor = 0,
	autovacuum_vacuum_threshold = 1000, autovacuum_vacuum_cost_delay = 0);
ALTER TABLE fqs.key_head SET (autovacuum_vacuum_scale_factor = 0,
	autovacuum_vacuum_threshold = 1000, autovacuum_vacuum_cost_delay = 0);
ALTER TABLE fqs.key_tail SET (autovacuum_vacuum_scale_factor = 0,
	autovacuum_vacuum_threshold = 1000, autovacuum_vacuum_cost_delay = 0);

/* ---------------------------------------------------------------------
 * Public API (C)
 * --------------------------------------------------------------------- */

CREATE FUNCTION fqs_create_queue(queue text,
								 max_ready integer DEFAULT NULL,
								 lease interval DEFAULT '30 seconds',
								 max_attempts integer DEFAULT 5,
								 priority integer DEFAULT 0,
								 max_claimed integer DEFAULT NULL,
								 failure_threshold integer DEFAULT NULL,
								 failure_cooldown interval DEFAULT '30 seconds')
RETURNS void
AS 'MODULE_PATHNAME', 'fqs_create_queue'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION fqs_alter_queue(queue text,
								max_ready integer DEFAULT NULL,
								lease interval DEFAULT NULL,
								max_attempts integer DEFAULT NULL,
								priority integer DEFAULT NULL,
								max_claimed integer DEFAULT NULL,
								failure_threshold integer DEFAULT NULL,
								failure_cooldown interval DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'fqs_alter_queue'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION fqs_drop_queue(queue text, force boolean DEFAULT false)
RETURNS void
AS 'MODULE_PATHNAME', 'fqs_drop_queue'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION fqs_pause(queue text)
RETURNS void
AS 'MODULE_PATHNAME', 'fqs_pause'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION fqs_resume(queue text)
RETURNS void
AS 'MODULE_PATHNAME', 'fqs_resume'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION fqs_enqueue(queue text, payload text,
							fifo_key text DEFAULT '',
							headers jsonb DEFAULT NULL,
							priority integer DEFAULT 0,
							dedup_id text DEFAULT NULL,
							deliver_at timestamptz DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'fqs_enqueue'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION fqs_enqueue_batch(queue text, payloads text[],
								  fifo_keys text[] DEFAULT NULL,
								  headers jsonb[] DEFAULT NULL,
								  deliver_at timestamptz DEFAULT NULL)
RETURNS SETOF bigint
AS 'MODULE_PATHNAME', 'fqs_enqueue_batch'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp ROWS 100;

CREATE FUNCTION fqs_claim(queue text, n integer DEFAULT 1,
						  lease interval DEFAULT NULL,
						  wait interval DEFAULT '0')
RETURNS TABLE (id bigint, receipt bigint, fifo_key text, seq bigint,
			   payload text, headers jsonb, attempt integer,
			   enqueued_at timestamptz)
AS 'MODULE_PATHNAME', 'fqs_claim'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp ROWS 10;

CREATE FUNCTION fqs_claim_any(queues text[], n integer DEFAULT 1,
							  lease interval DEFAULT NULL,
							  wait interval DEFAULT '0')
RETURNS TABLE (id bigint, receipt bigint, fifo_key text, seq bigint,
			   payload text, headers jsonb, attempt integer,
			   enqueued_at timestamptz)
AS 'MODULE_PATHNAME', 'fqs_claim_any'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp ROWS 10;

CREATE FUNCTION fqs_commit(id bigint, receipt bigint, result text DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'fqs_commit'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION fqs_claim_sequential(queue text, n integer DEFAULT 1,
									 lease interval DEFAULT NULL,
									 wait interval DEFAULT '0')
RETURNS TABLE (id bigint, receipt bigint, fifo_key text, seq bigint,
			   payload text, headers jsonb, attempt integer,
			   enqueued_at timestamptz)
AS 'MODULE_PATHNAME', 'fqs_claim_sequential'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp ROWS 10;

CREATE FUNCTION fqs_complete(id bigint, receipt bigint)
RETURNS void
AS 'MODULE_PATHNAME', 'fqs_complete'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION fqs_fail(id bigint, receipt bigint, error text,
						 retry_after interval DEFAULT NULL)
RETURNS text
AS 'MODULE_PATHNAME', 'fqs_fail'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;

/* array calls: many messages acknowledged in one call and one commit */
CREATE FUNCTION fqs_commit(ids bigint[], receipts bigint[],
						   results text[] DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'fqs_commit_many'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION fqs_complete(ids bigint[], receipts bigint[])
RETURNS void
AS 'MODULE_PATHNAME', 'fqs_complete_many'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION fqs_fail(ids bigint[], receipts bigint[], error text,
						 retry_after interval DEFAULT NULL)
RETURNS text[]
AS 'MODULE_PATHNAME', 'fqs_fail_many'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION fqs_extend_lease(id bigint, receipt bigint, lease interval)
RETURNS timestamptz
AS 'MODULE_PATHNAME', 'fqs_extend_lease'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION fqs_retry(id bigint)
RETURNS void
AS 'MODULE_PATHNAME', 'fqs_retry'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION fqs_skip(id bigint, reason text)
RETURNS void
AS 'MODULE_PATHNAME', 'fqs_skip'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION fqs_rotate(force boolean DEFAULT false)
RETURNS integer
AS 'MODULE_PATHNAME', 'fqs_rotate'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;

/* ---------------------------------------------------------------------
 * Monitoring
 * --------------------------------------------------------------------- */

CREATE FUNCTION fqs_message_status(id bigint)
RETURNS TABLE (queue text, fifo_key text, seq bigint, state text,
			   attempts integer, enqueued_at timestamptz,
			   claimed_at timestamptz, committed_at timestamptz,
			   completed_at timestamptz, last_error text)
AS 'MODULE_PATHNAME', 'fqs_message_status'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;

/* true when the current user may see queue qid (views filter with it) */
CREATE FUNCTION fqs.may_see(qid integer, monitor boolean DEFAULT false)
RETURNS boolean
AS 'MODULE_PATHNAME', 'fqs_may_see'
LANGUAGE C STABLE STRICT PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp;

/* a fresh, unguessable receipt: 63 random bits, never 0 */
CREATE FUNCTION fqs.receipt()
RETURNS bigint
AS 'MODULE_PATHNAME', 'fqs_receipt'
LANGUAGE C VOLATILE;
REVOKE ALL ON FUNCTION fqs.receipt() FROM PUBLIC;

/* where claim scans of this database's queues start (shared memory) */
CREATE FUNCTION fqs.scan_cursors(OUT qid integer,
								 OUT claim_priority bigint,
								 OUT claim_id bigint,
								 OUT lease_from timestamptz,
								 OUT due timestamptz,
								 OUT frozen boolean)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'fqs_scan_cursors'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;

/* the failure breaker of queue qid as seen now (shared memory) */
CREATE FUNCTION fqs.failure_breaker(qid integer, threshold integer,
									OUT state text,
									OUT consecutive_failures bigint,
									OUT changed_at timestamptz,
									OUT opens bigint,
									OUT reopens_at timestamptz)
RETURNS record
AS 'MODULE_PATHNAME', 'fqs_failure_breaker'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;

/*
 * Every count comes from a narrow table or from the per-key pointers:
 * unfinished = sum(last seq - head_seq), done = sum(head_seq), and the
 * processed messages are the unfinished ones in no other state.
 */
CREATE VIEW fqs_queues AS
SELECT q.name AS queue,
	   q.max_ready, q.lease, q.max_attempts, q.priority, q.max_claimed,
	   q.paused,
	   q.breaker_open,
	   pn.n AS pen,
	   r.ready,
	   r.delayed,
	   r.claimed,
	   k.unfinished - pn.n - r.ready - r.delayed - r.claimed
		 - s.sequencing - dd.dead AS processed,
	   s.sequencing,
	   dd.dead,
	   pg_catalog.now() - o.oldest AS oldest_unfinished_age,
	   k.done AS done_total,
	   q.failure_threshold, q.failure_cooldown,
	   fb.state AS failure_state,
	   fb.consecutive_failures,
	   fb.changed_at AS failure_changed_at,
	   fb.opens AS failure_opens,
	   fb.reopens_at AS failure_reopens_at
  FROM fqs.queue q
  CROSS JOIN LATERAL fqs.failure_breaker(q.qid, q.failure_threshold) fb
  CROSS JOIN LATERAL (
	SELECT pg_catalog.count(*) AS n FROM fqs.pen p WHERE p.qid = q.qid) pn
  CROSS JOIN LATERAL (
	SELECT pg_catalog.count(*) FILTER (WHERE x.lease_until IS NULL
				AND x.visible_at <= pg_catalog.clock_timestamp()) AS ready,
		   pg_catalog.count(*) FILTER (WHERE x.lease_until IS NULL
				AND x.visible_at > pg_catalog.clock_timestamp()) AS delayed,
		   pg_catalog.count(*) FILTER (WHERE x.lease_until IS NOT NULL) AS claimed
	  FROM fqs.ready x WHERE x.qid = q.qid) r
  CROSS JOIN LATERAL (
	SELECT COALESCE(pg_catalog.sum(
			 /* the key's last seq, as enqueue.c's ENQ_TAIL_SQL reads it */
			 GREATEST(t.last_seq,
					  COALESCE((SELECT m.seq FROM fqs.message m
								 WHERE m.kid = t.kid
								 ORDER BY m.seq DESC LIMIT 1), h.head_seq))
			 - h.head_seq), 0)::bigint AS unfinished,
		   COALESCE(pg_catalog.sum(h.head_seq), 0)::bigint AS done
	  FROM fqs.key_tail t JOIN fqs.key_head h ON h.kid = t.kid
	 WHERE t.qid = q.qid) k
  CROSS JOIN LATERAL (
	SELECT COALESCE(pg_catalog.sum(rl.hold_upto - h.head_seq), 0)::bigint AS sequencing
	  FROM fqs.releasable rl JOIN fqs.key_head h ON h.kid = rl.kid
	 WHERE rl.qid = q.qid AND rl.lease_until IS NOT NULL
	   AND rl.hold_upto > h.head_seq) s
  CROSS JOIN LATERAL (
	SELECT pg_catalog.count(*) AS dead
	  FROM fqs.dead d WHERE d.qid = q.qid) dd
  CROSS JOIN LATERAL (
	SELECT pg_catalog.min(m.enqueued_at) AS oldest
	  FROM fqs.key_head h
	  JOIN fqs.message m ON m.kid = h.kid AND m.seq = h.head_seq + 1
	 WHERE h.qid = q.qid) o
 WHERE fqs.may_see(q.qid, true);

CREATE VIEW fqs_dead_messages AS
SELECT q.name AS queue, d.id, h.fifo_key, d.seq, d.stage, d.attempts,
	   d.last_error, d.died_at, m.enqueued_at
  FROM fqs.dead d
  JOIN fqs.queue q ON q.qid = d.qid
  JOIN fqs.key_head h ON h.kid = d.kid
  LEFT JOIN fqs.message m ON m.id = d.id
 WHERE fqs.may_see(d.qid);

/* Background workers (with shared_preload_libraries = 'fqs'). */
CREATE FUNCTION fqs.start_worker()
RETURNS boolean
AS 'MODULE_PATHNAME', 'fqs_start_worker'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;
REVOKE ALL ON FUNCTION fqs.start_worker() FROM PUBLIC;

CREATE FUNCTION fqs_workers(OUT datname name, OUT pid integer,
							OUT has_extension boolean)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'fqs_workers'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION fqs_maintain()
RETURNS void
AS 'MODULE_PATHNAME', 'fqs_maintain'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION fqs_grant(queue text, role regrole, privilege text)
RETURNS void
AS 'MODULE_PATHNAME', 'fqs_grant'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION fqs_revoke(queue text, role regrole, privilege text)
RETURNS void
AS 'MODULE_PATHNAME', 'fqs_revoke'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;

/*
 * Group roles for the common case: members of fqs_producer may produce
 * to, fqs_consumer consume from, and fqs_admin administer every queue of
 * a database that has fqs.  Roles belong to the cluster, not to the
 * extension: they stay when it is dropped.
 */
DO $$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'fqs_producer') THEN
		CREATE ROLE fqs_producer NOLOGIN;
	END IF;
	IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'fqs_consumer') THEN
		CREATE ROLE fqs_consumer NOLOGIN;
	END IF;
	IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'fqs_admin') THEN
		CREATE ROLE fqs_admin NOLOGIN;
	END IF;
END
$$;

/* ask the launcher for this database's worker now (NOTICE if not preloaded) */
SELECT fqs.start_worker();

/*
 * Privileges.  Internal tables are reached only through the API.  Every
 * API function checks the caller's right on the queue it touches
 * (produce, consume or admin: fqs_grant, or membership in fqs_producer,
 * fqs_consumer, fqs_admin; superusers and the extension's owner have all)
 * and then runs its statements as the extension's owner, with a pinned
 * search_path.  The views show the queues the caller may see; members of
 * pg_monitor see every queue's counts in fqs_queues.
 */
REVOKE ALL ON ALL TABLES IN SCHEMA fqs FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA fqs FROM PUBLIC;
REVOKE ALL ON FUNCTION fqs.trim_holds(bigint[], bigint) FROM PUBLIC;
GRANT SELECT ON fqs_queues, fqs_dead_messages TO PUBLIC;
