/*
 * fqs_router 0.1: fqs's SQL API in a proxy database, routed by PL/Proxy to
 * the fqs servers (nodes) that hold the queues.
 *
 * The proxy holds no message.  It keeps a directory:
 *
 *  fqs_router.node       one row per node: its name, its fqs.node_id, the
 *                        libpq connection string, and its PL/Proxy
 *                        partition number (part)
 *  fqs_router.placement  one row per queue: the node that owns it, an
 *                        epoch, and its priority (for fqs_claim_any)
 *
 * and the PL/Proxy cluster "fqs_router" (a foreign server of the plproxy
 * wrapper) whose partitions p0..pN-1 are the nodes' connection strings in
 * part order, rewritten by fqs_router_add_node and fqs_router_drop_node.
 *
 * Routing: a call that names a queue runs on the queue's node (placement
 * rows are the truth, never a hash); a call that names a receipt runs on
 * the node whose number is in the receipt's low 10 bits, and one that names
 * a message id on the node in the id's low bits (fqs.node_id).  Each remote
 * call is a transaction of its own on the node, made as the calling role, so
 * the node's per-queue privileges apply.
 *
 * Every function here pins search_path; the remote statements name the fqs
 * functions with the schema this extension is installed in, which must be
 * the schema fqs is installed in on the nodes (public, usually).
 */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION fqs_router" to load this file. \quit

CREATE SCHEMA fqs_router;
REVOKE ALL ON SCHEMA fqs_router FROM PUBLIC;

CREATE TABLE fqs_router.node
(
	node		text PRIMARY KEY,
	node_id		integer NOT NULL UNIQUE CHECK (node_id BETWEEN 1 AND 1023),
	part		integer NOT NULL UNIQUE CHECK (part >= 0),
	connstr		text NOT NULL,
	added_at	timestamptz NOT NULL DEFAULT pg_catalog.now()
);

CREATE TABLE fqs_router.placement
(
	queue		text PRIMARY KEY,
	node		text NOT NULL REFERENCES fqs_router.node,
	epoch		integer NOT NULL DEFAULT 1,
	priority	integer NOT NULL DEFAULT 0,
	placed_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	confirmed	boolean NOT NULL DEFAULT false	/* the node has the queue */
);
CREATE INDEX placement_node ON fqs_router.placement (node);

SELECT pg_catalog.pg_extension_config_dump('fqs_router.node', '');
SELECT pg_catalog.pg_extension_config_dump('fqs_router.placement', '');

/* ---------------------------------------------------------------------
 * Routing: which PL/Proxy partition runs a call
 * --------------------------------------------------------------------- */

/* the partition of queue's node; unknown queues are refused here */
CREATE FUNCTION fqs_router.queue_part(queue text)
RETURNS integer
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	p integer;
BEGIN
	IF queue IS NULL THEN
		RAISE EXCEPTION 'queue must not be NULL'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	SELECT n.part INTO p
	  FROM fqs_router.placement pl
	  JOIN fqs_router.node n ON n.node OPERATOR(pg_catalog.=) pl.node
	 WHERE pl.queue OPERATOR(pg_catalog.=) queue_part.queue;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'queue "%" does not exist', queue
			USING ERRCODE = 'undefined_object',
				  HINT = 'Create it through the router with fqs_create_queue().';
	END IF;
	RETURN p;
END
$$;

/* the partition of the node numbered in the low 10 bits of v */
CREATE FUNCTION fqs_router.tag_part(v bigint, what text)
RETURNS integer
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	p integer;
BEGIN
	IF v IS NULL THEN
		RAISE EXCEPTION '% must not be NULL', what
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	SELECT n.part INTO p FROM fqs_router.node n
	 WHERE n.node_id OPERATOR(pg_catalog.=) (v OPERATOR(pg_catalog.&) 1023)::integer;
	IF NOT FOUND THEN
		RAISE EXCEPTION '% % names no node of this router', what, v
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = format('Its low 10 bits name node number %s.',
								  v OPERATOR(pg_catalog.&) 1023),
				  HINT = 'Use receipts and ids that fqs calls through this router returned.';
	END IF;
	RETURN p;
END
$$;

CREATE FUNCTION fqs_router.receipt_part(receipt bigint)
RETURNS integer
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT fqs_router.tag_part(receipt, 'receipt') $$;

CREATE FUNCTION fqs_router.id_part(id bigint)
RETURNS integer
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT fqs_router.tag_part(id, 'message id') $$;

/*
 * The one partition of an array call's receipts.  An array call is one
 * transaction on one node; receipts of several nodes cannot commit
 * together, so they are refused rather than split.
 */
CREATE FUNCTION fqs_router.receipts_part(receipts bigint[])
RETURNS integer
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	tags integer[];
BEGIN
	IF receipts IS NULL OR cardinality(receipts) OPERATOR(pg_catalog.=) 0 THEN
		RAISE EXCEPTION 'receipts must not be NULL or empty'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	SELECT array_agg(DISTINCT (r OPERATOR(pg_catalog.&) 1023)::integer) INTO tags
	  FROM unnest(receipts) r;
	IF cardinality(tags) OPERATOR(pg_catalog.>) 1 THEN
		RAISE EXCEPTION 'receipts of more than one node in one call'
			USING ERRCODE = 'feature_not_supported',
				  DETAIL = format('The receipts name nodes %s.', tags),
				  HINT = 'Acknowledge each claim''s messages in a call of their own: one claim''s receipts all name its queue''s node.';
	END IF;
	RETURN fqs_router.tag_part(receipts[1], 'receipt');
END
$$;

/* ---------------------------------------------------------------------
 * The PL/Proxy cluster: foreign server fqs_router, one partition per node
 * --------------------------------------------------------------------- */

/*
 * Rewrite the server's partitions from fqs_router.node.  DDL cannot take
 * parameters: the connection strings go in as quoted literals (%L), and
 * only a superuser can reach this (through add_node and drop_node).
 */
CREATE FUNCTION fqs_router.sync_cluster()
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	opts text[];
	cur text[];
	n record;
	o text;
	have boolean;
BEGIN
	SELECT true, s.srvoptions INTO have, cur
	  FROM pg_catalog.pg_foreign_server s
	 WHERE s.srvname OPERATOR(pg_catalog.=) 'fqs_router';
	IF NOT EXISTS (SELECT 1 FROM fqs_router.node) THEN
		IF have THEN
			DROP SERVER fqs_router CASCADE;		-- and its user mapping
		END IF;
		RETURN;
	END IF;
	opts := ARRAY[]::text[];
	FOR n IN SELECT part, connstr FROM fqs_router.node ORDER BY part LOOP
		opts := opts OPERATOR(pg_catalog.||) format('%s p%s %L',
			CASE WHEN have AND EXISTS (SELECT 1 FROM unnest(cur) c
										WHERE c LIKE 'p' || n.part || '=%')
				 THEN 'SET' ELSE 'ADD' END, n.part, n.connstr);
	END LOOP;
	IF NOT coalesce(have, false) THEN
		EXECUTE format('CREATE SERVER fqs_router FOREIGN DATA WRAPPER plproxy OPTIONS (modular_mapping %L, %s)',
					   '1', array_to_string(
						   ARRAY(SELECT substr(x, 5) FROM unnest(opts) x), ', '));
		CREATE USER MAPPING FOR PUBLIC SERVER fqs_router;
		GRANT USAGE ON FOREIGN SERVER fqs_router TO PUBLIC;
		RETURN;
	END IF;
	/* partitions past the last node's */
	FOR o IN SELECT split_part(c, '=', 1) FROM unnest(cur) c
			  WHERE c ~ '^p[0-9]+='
				AND substr(split_part(c, '=', 1), 2)::integer
					>= (SELECT count(*) FROM fqs_router.node) LOOP
		opts := opts OPERATOR(pg_catalog.||) format('DROP %s', o);
	END LOOP;
	EXECUTE format('ALTER SERVER fqs_router OPTIONS (%s)',
				   array_to_string(opts, ', '));
END
$$;
REVOKE ALL ON FUNCTION fqs_router.sync_cluster() FROM PUBLIC;

/* what a node says about itself (CONNECT mode: before it is in the cluster) */
CREATE FUNCTION fqs_router.probe(connstr text,
								 OUT node_id integer, OUT fqs_version text,
								 OUT fqs_schema text)
RETURNS SETOF record
LANGUAGE plproxy
AS $$
	CONNECT connstr;
	SELECT pg_catalog.current_setting('fqs.node_id', true)::integer AS node_id,
		   e.extversion::text AS fqs_version,
		   n.nspname::text AS fqs_schema
	  FROM pg_catalog.pg_extension e
	  JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) e.extnamespace
	 WHERE e.extname OPERATOR(pg_catalog.=) 'fqs';
$$;
REVOKE ALL ON FUNCTION fqs_router.probe(text) FROM PUBLIC;

CREATE FUNCTION fqs_router_add_node(node text, connstr text)
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	pr record;
	other text;
BEGIN
	IF node IS NULL OR node OPERATOR(pg_catalog.=) '' OR connstr IS NULL THEN
		RAISE EXCEPTION 'node and connstr must not be NULL or empty'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF EXISTS (SELECT 1 FROM fqs_router.node n
				WHERE n.node OPERATOR(pg_catalog.=) fqs_router_add_node.node) THEN
		RAISE EXCEPTION 'node "%" already exists', node
			USING ERRCODE = 'duplicate_object';
	END IF;
	SELECT * INTO pr FROM fqs_router.probe(connstr);
	IF pr.fqs_version IS NULL THEN
		RAISE EXCEPTION 'node "%" has no fqs extension', node
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  HINT = 'Run CREATE EXTENSION fqs in the node''s database.';
	END IF;
	IF pr.fqs_schema OPERATOR(pg_catalog.<>) '@extschema@' THEN
		RAISE EXCEPTION 'node "%" has fqs in schema "%", the router is in "@extschema@"',
			node, pr.fqs_schema
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  HINT = 'Routed calls name the fqs functions in the router''s own schema.';
	END IF;
	IF coalesce(pr.node_id, 0) OPERATOR(pg_catalog.=) 0 THEN
		RAISE EXCEPTION 'node "%" has no fqs.node_id', node
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  HINT = 'Set fqs.node_id (1 to 1023, unique among the nodes) in its postgresql.conf before it holds messages.';
	END IF;
	SELECT n.node INTO other FROM fqs_router.node n
	 WHERE n.node_id OPERATOR(pg_catalog.=) pr.node_id;
	IF FOUND THEN
		RAISE EXCEPTION 'node "%" has fqs.node_id %, as node "%" has', node, pr.node_id, other
			USING ERRCODE = 'duplicate_object',
				  HINT = 'Every node needs a number of its own: ids and receipts name their node by it.';
	END IF;
	INSERT INTO fqs_router.node (node, node_id, part, connstr)
	VALUES (node, pr.node_id, (SELECT count(*) FROM fqs_router.node), connstr);
	PERFORM fqs_router.sync_cluster();
	RETURN pr.node_id;
END
$$;
REVOKE ALL ON FUNCTION fqs_router_add_node(text, text) FROM PUBLIC;

CREATE FUNCTION fqs_router_drop_node(node text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	gone integer;
	nq bigint;
BEGIN
	SELECT n.part INTO gone FROM fqs_router.node n
	 WHERE n.node OPERATOR(pg_catalog.=) fqs_router_drop_node.node
	   FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'node "%" does not exist', node
			USING ERRCODE = 'undefined_object';
	END IF;
	SELECT count(*) INTO nq FROM fqs_router.placement p
	 WHERE p.node OPERATOR(pg_catalog.=) fqs_router_drop_node.node;
	IF nq OPERATOR(pg_catalog.>) 0 THEN
		RAISE EXCEPTION 'node "%" still owns % queues', node, nq
			USING ERRCODE = 'dependent_objects_still_exist',
				  HINT = 'Drop them first.';
	END IF;
	DELETE FROM fqs_router.node n
	 WHERE n.node OPERATOR(pg_catalog.=) fqs_router_drop_node.node;
	/* keep the partitions dense: the nodes after it move down by one */
	UPDATE fqs_router.node n SET part = n.part OPERATOR(pg_catalog.-) 1
	 WHERE n.part OPERATOR(pg_catalog.>) gone;
	PERFORM fqs_router.sync_cluster();
END
$$;
REVOKE ALL ON FUNCTION fqs_router_drop_node(text) FROM PUBLIC;

CREATE VIEW fqs_router_nodes AS
SELECT n.node, n.node_id, n.part, n.connstr, n.added_at,
	   (SELECT count(*) FROM fqs_router.placement p
		 WHERE p.node OPERATOR(pg_catalog.=) n.node) AS queues
  FROM fqs_router.node n;
REVOKE ALL ON fqs_router_nodes FROM PUBLIC;

CREATE VIEW fqs_router_placement AS
SELECT p.queue, p.node, p.epoch, p.priority, p.placed_at
  FROM fqs_router.placement p;
REVOKE ALL ON fqs_router_placement FROM PUBLIC;


/* ---------------------------------------------------------------------
 * Queue administration
 *
 * The remote call that creates, alters or drops a queue runs as the
 * caller (PL/Proxy connects as current_user), so the node checks the
 * caller's admin right exactly as without a router.  The directory is
 * written by SECURITY DEFINER helpers that check the node's state, read as
 * the extension's owner, before they trust a change:
 *
 *  place    reserves the name on a node (unconfirmed);
 *  confirm  marks it confirmed once the node has the queue; a reservation
 *           still unconfirmed at commit fails the transaction (trigger
 *           placement_confirmed), so nobody can hold a name without
 *           creating the queue;
 *  unplace  forgets a queue only once its node no longer has it;
 *  note     copies the queue's priority from its node (for fqs_claim_any).
 * --------------------------------------------------------------------- */

/* as the owner (in the helpers below): does part's node have queue? */
CREATE FUNCTION fqs_router.node_queue(part integer, queue text,
									  OUT found boolean, OUT priority integer)
RETURNS SETOF record
LANGUAGE plproxy
AS $$
	CLUSTER 'fqs_router';
	RUN ON part;
	SELECT true AS found, q.priority AS priority FROM fqs.queue q
	 WHERE q.name OPERATOR(pg_catalog.=) queue::text;
$$;
REVOKE ALL ON FUNCTION fqs_router.node_queue(integer, text) FROM PUBLIC;

CREATE FUNCTION fqs_router.place(queue text, node text)
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	target text := node;
	p integer;
BEGIN
	IF queue IS NULL THEN
		RAISE EXCEPTION 'queue must not be NULL'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF target IS NULL THEN
		/* the node with the fewest queues (ties: the first added) */
		SELECT n.node INTO target
		  FROM fqs_router.node n
		  LEFT JOIN fqs_router.placement pl ON pl.node OPERATOR(pg_catalog.=) n.node
		 GROUP BY n.node, n.part
		 ORDER BY count(pl.queue), n.part
		 LIMIT 1;
		IF NOT FOUND THEN
			RAISE EXCEPTION 'the router has no node'
				USING ERRCODE = 'object_not_in_prerequisite_state',
					  HINT = 'Add one with fqs_router_add_node().';
		END IF;
	END IF;
	SELECT n.part INTO p FROM fqs_router.node n
	 WHERE n.node OPERATOR(pg_catalog.=) target;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'node "%" does not exist', target
			USING ERRCODE = 'undefined_object';
	END IF;
	BEGIN
		INSERT INTO fqs_router.placement (queue, node) VALUES (queue, target);
	EXCEPTION WHEN unique_violation THEN
		RAISE EXCEPTION 'queue "%" already exists', queue
			USING ERRCODE = 'duplicate_object';
	END;
	RETURN p;
END
$$;

CREATE FUNCTION fqs_router.confirm(queue text)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	nq record;
BEGIN
	SELECT * INTO nq FROM fqs_router.node_queue(fqs_router.queue_part(queue), queue);
	IF NOT coalesce(nq.found, false) THEN
		RAISE EXCEPTION 'queue "%" is not on its node', queue
			USING ERRCODE = 'object_not_in_prerequisite_state';
	END IF;
	UPDATE fqs_router.placement p SET confirmed = true, priority = nq.priority
	 WHERE p.queue OPERATOR(pg_catalog.=) confirm.queue;
END
$$;

CREATE FUNCTION fqs_router.note(queue text)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	nq record;
BEGIN
	SELECT * INTO nq FROM fqs_router.node_queue(fqs_router.queue_part(queue), queue);
	IF coalesce(nq.found, false) THEN
		UPDATE fqs_router.placement p SET priority = nq.priority
		 WHERE p.queue OPERATOR(pg_catalog.=) note.queue;
	END IF;
END
$$;

CREATE FUNCTION fqs_router.unplace(queue text)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	nq record;
BEGIN
	SELECT * INTO nq FROM fqs_router.node_queue(fqs_router.queue_part(queue), queue);
	IF coalesce(nq.found, false) THEN
		RAISE EXCEPTION 'queue "%" is still on its node', queue
			USING ERRCODE = 'object_not_in_prerequisite_state';
	END IF;
	DELETE FROM fqs_router.placement p
	 WHERE p.queue OPERATOR(pg_catalog.=) unplace.queue;
END
$$;

CREATE FUNCTION fqs_router.placement_confirmed()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF EXISTS (SELECT 1 FROM fqs_router.placement p
				WHERE p.queue OPERATOR(pg_catalog.=) NEW.queue AND NOT p.confirmed) THEN
		RAISE EXCEPTION 'queue "%" was placed on node "%" but not created there', NEW.queue, NEW.node
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  HINT = 'Create queues with fqs_create_queue().';
	END IF;
	RETURN NULL;
END
$$;
CREATE CONSTRAINT TRIGGER placement_confirmed
	AFTER INSERT ON fqs_router.placement
	DEFERRABLE INITIALLY DEFERRED
	FOR EACH ROW EXECUTE FUNCTION fqs_router.placement_confirmed();

CREATE FUNCTION fqs_router.create_queue_on(part integer, queue text,
										   max_ready integer,
										   lease interval,
										   max_attempts integer,
										   priority integer,
										   max_claimed integer,
										   failure_threshold integer,
										   failure_cooldown interval)
RETURNS void
LANGUAGE plproxy
AS $$
	CLUSTER 'fqs_router';
	RUN ON part;
	SELECT @extschema@.fqs_create_queue(queue, max_ready, lease, max_attempts,
		priority, max_claimed, failure_threshold, failure_cooldown);
$$;

/*
 * fqs_create_queue(..., node => NULL): the queue goes to the given node, or
 * to the node with the fewest queues.  The name is reserved first, so two
 * sessions creating one name cannot place it on two nodes.
 */
CREATE FUNCTION fqs_create_queue(queue text,
								 max_ready integer DEFAULT NULL,
								 lease interval DEFAULT '30 seconds',
								 max_attempts integer DEFAULT 5,
								 priority integer DEFAULT 0,
								 max_claimed integer DEFAULT NULL,
								 failure_threshold integer DEFAULT NULL,
								 failure_cooldown interval DEFAULT '30 seconds',
								 node text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	p integer := fqs_router.place(queue, node);
BEGIN
	PERFORM fqs_router.create_queue_on(p, queue, max_ready, lease,
		max_attempts, priority, max_claimed, failure_threshold,
		failure_cooldown);
	PERFORM fqs_router.confirm(queue);
END
$$;

CREATE FUNCTION fqs_router.alter_queue_on(part integer, queue text,
										  max_ready integer,
										  lease interval,
										  max_attempts integer,
										  priority integer,
										  max_claimed integer,
										  failure_threshold integer,
										  failure_cooldown interval)
RETURNS void
LANGUAGE plproxy
AS $$
	CLUSTER 'fqs_router';
	RUN ON part;
	SELECT @extschema@.fqs_alter_queue(queue, max_ready, lease, max_attempts,
		priority, max_claimed, failure_threshold, failure_cooldown);
$$;

CREATE FUNCTION fqs_alter_queue(queue text,
								max_ready integer DEFAULT NULL,
								lease interval DEFAULT NULL,
								max_attempts integer DEFAULT NULL,
								priority integer DEFAULT NULL,
								max_claimed integer DEFAULT NULL,
								failure_threshold integer DEFAULT NULL,
								failure_cooldown interval DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM fqs_router.alter_queue_on(fqs_router.queue_part(queue), queue,
		max_ready, lease, max_attempts, priority, max_claimed,
		failure_threshold, failure_cooldown);
	IF priority IS NOT NULL THEN
		PERFORM fqs_router.note(queue);
	END IF;
END
$$;

CREATE FUNCTION fqs_router.drop_queue_on(part integer, queue text, force boolean)
RETURNS void
LANGUAGE plproxy
AS $$
	CLUSTER 'fqs_router';
	RUN ON part;
	SELECT @extschema@.fqs_drop_queue(queue, force);
$$;

CREATE FUNCTION fqs_drop_queue(queue text, force boolean DEFAULT false)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM fqs_router.drop_queue_on(fqs_router.queue_part(queue), queue, force);
	PERFORM fqs_router.unplace(queue);
END
$$;

CREATE FUNCTION fqs_pause(queue text)
RETURNS void
LANGUAGE plproxy
AS $$
	CLUSTER 'fqs_router';
	RUN ON fqs_router.queue_part(queue);
$$;

CREATE FUNCTION fqs_resume(queue text)
RETURNS void
LANGUAGE plproxy
AS $$
	CLUSTER 'fqs_router';
	RUN ON fqs_router.queue_part(queue);
$$;

CREATE FUNCTION fqs_grant(queue text, role regrole, privilege text)
RETURNS void
LANGUAGE plproxy
AS $$
	CLUSTER 'fqs_router';
	RUN ON fqs_router.queue_part(queue);
$$;

CREATE FUNCTION fqs_revoke(queue text, role regrole, privilege text)
RETURNS void
LANGUAGE plproxy
AS $$
	CLUSTER 'fqs_router';
	RUN ON fqs_router.queue_part(queue);
$$;

/* ---------------------------------------------------------------------
 * Messages: by queue, by receipt, by id
 * --------------------------------------------------------------------- */

CREATE FUNCTION fqs_enqueue(queue text, payload text,
							fifo_key text DEFAULT '',
							headers jsonb DEFAULT NULL,
							priority integer DEFAULT 0,
							dedup_id text DEFAULT NULL,
							deliver_at timestamptz DEFAULT NULL)
RETURNS bigint
LANGUAGE plproxy
AS $$
	CLUSTER 'fqs_router';
	RUN ON fqs_router.queue_part(queue);
$$;

CREATE FUNCTION fqs_enqueue_batch(queue text, payloads text[],
								  fifo_keys text[] DEFAULT NULL,
								  headers jsonb[] DEFAULT NULL,
								  deliver_at timestamptz DEFAULT NULL)
RETURNS SETOF bigint
LANGUAGE plproxy
AS $$
	CLUSTER 'fqs_router';
	RUN ON fqs_router.queue_part(queue);
$$;

/* waits (wait =>) run on the queue's node */
CREATE FUNCTION fqs_claim(queue text, n integer DEFAULT 1,
						  lease interval DEFAULT NULL,
						  wait interval DEFAULT '0')
RETURNS TABLE (id bigint, receipt bigint, fifo_key text, seq bigint,
			   payload text, headers jsonb, attempt integer,
			   enqueued_at timestamptz)
LANGUAGE plproxy
AS $$
	CLUSTER 'fqs_router';
	RUN ON fqs_router.queue_part(queue);
$$;

CREATE FUNCTION fqs_claim_sequential(queue text, n integer DEFAULT 1,
									 lease interval DEFAULT NULL,
									 wait interval DEFAULT '0')
RETURNS TABLE (id bigint, receipt bigint, fifo_key text, seq bigint,
			   payload text, headers jsonb, attempt integer,
			   enqueued_at timestamptz)
LANGUAGE plproxy
AS $$
	CLUSTER 'fqs_router';
	RUN ON fqs_router.queue_part(queue);
$$;

CREATE FUNCTION fqs_commit(id bigint, receipt bigint, result text DEFAULT NULL)
RETURNS void
LANGUAGE plproxy
AS $$
	CLUSTER 'fqs_router';
	RUN ON fqs_router.receipt_part(receipt);
$$;

CREATE FUNCTION fqs_complete(id bigint, receipt bigint)
RETURNS void
LANGUAGE plproxy
AS $$
	CLUSTER 'fqs_router';
	RUN ON fqs_router.receipt_part(receipt);
$$;

CREATE FUNCTION fqs_fail(id bigint, receipt bigint, error text,
						 retry_after interval DEFAULT NULL)
RETURNS text
LANGUAGE plproxy
AS $$
	CLUSTER 'fqs_router';
	RUN ON fqs_router.receipt_part(receipt);
$$;

CREATE FUNCTION fqs_commit(ids bigint[], receipts bigint[],
						   results text[] DEFAULT NULL)
RETURNS void
LANGUAGE plproxy
AS $$
	CLUSTER 'fqs_router';
	RUN ON fqs_router.receipts_part(receipts);
$$;

CREATE FUNCTION fqs_complete(ids bigint[], receipts bigint[])
RETURNS void
LANGUAGE plproxy
AS $$
	CLUSTER 'fqs_router';
	RUN ON fqs_router.receipts_part(receipts);
$$;

CREATE FUNCTION fqs_fail(ids bigint[], receipts bigint[], error text,
						 retry_after interval DEFAULT NULL)
RETURNS text[]
LANGUAGE plproxy
AS $$
	CLUSTER 'fqs_router';
	RUN ON fqs_router.receipts_part(receipts);
$$;

CREATE FUNCTION fqs_extend_lease(id bigint, receipt bigint, lease interval)
RETURNS timestamptz
LANGUAGE plproxy
AS $$
	CLUSTER 'fqs_router';
	RUN ON fqs_router.receipt_part(receipt);
$$;

/*
 * By message id: the node in the id's low bits, where the message was
 * enqueued.  A queue that moved since took its messages along, so on "no
 * such message" the other nodes are asked in turn.
 */
CREATE FUNCTION fqs_router.other_parts(part integer)
RETURNS SETOF integer
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$ SELECT n.part FROM fqs_router.node n WHERE n.part OPERATOR(pg_catalog.<>) $1 ORDER BY n.part $$;

CREATE FUNCTION fqs_router.retry_on(part integer, id bigint)
RETURNS void
LANGUAGE plproxy
AS $$
	CLUSTER 'fqs_router';
	RUN ON part;
	SELECT @extschema@.fqs_retry(id);
$$;

CREATE FUNCTION fqs_router.skip_on(part integer, id bigint, reason text)
RETURNS void
LANGUAGE plproxy
AS $$
	CLUSTER 'fqs_router';
	RUN ON part;
	SELECT @extschema@.fqs_skip(id, reason);
$$;

CREATE FUNCTION fqs_router.message_status_on(part integer, id bigint)
RETURNS TABLE (queue text, fifo_key text, seq bigint, state text,
			   attempts integer, enqueued_at timestamptz,
			   claimed_at timestamptz, committed_at timestamptz,
			   completed_at timestamptz, last_error text)
LANGUAGE plproxy
AS $$
	CLUSTER 'fqs_router';
	RUN ON part;
	SELECT s.queue, s.fifo_key, s.seq, s.state, s.attempts, s.enqueued_at,
		   s.claimed_at, s.committed_at, s.completed_at, s.last_error
	  FROM @extschema@.fqs_message_status(id) s;
$$;

CREATE FUNCTION fqs_retry(id bigint)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	p integer := fqs_router.id_part(id);
	o integer;
BEGIN
	PERFORM fqs_router.retry_on(p, id);
EXCEPTION WHEN no_data_found THEN
	FOR o IN SELECT * FROM fqs_router.other_parts(p) LOOP
		BEGIN
			PERFORM fqs_router.retry_on(o, id);
			RETURN;
		EXCEPTION WHEN no_data_found THEN
			NULL;
		END;
	END LOOP;
	RAISE EXCEPTION 'message % does not exist', id USING ERRCODE = 'no_data_found';
END
$$;

CREATE FUNCTION fqs_skip(id bigint, reason text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	p integer := fqs_router.id_part(id);
	o integer;
BEGIN
	PERFORM fqs_router.skip_on(p, id, reason);
EXCEPTION WHEN no_data_found THEN
	FOR o IN SELECT * FROM fqs_router.other_parts(p) LOOP
		BEGIN
			PERFORM fqs_router.skip_on(o, id, reason);
			RETURN;
		EXCEPTION WHEN no_data_found THEN
			NULL;
		END;
	END LOOP;
	RAISE EXCEPTION 'message % does not exist', id USING ERRCODE = 'no_data_found';
END
$$;

CREATE FUNCTION fqs_message_status(id bigint)
RETURNS TABLE (queue text, fifo_key text, seq bigint, state text,
			   attempts integer, enqueued_at timestamptz,
			   claimed_at timestamptz, committed_at timestamptz,
			   completed_at timestamptz, last_error text)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	p integer := fqs_router.id_part(id);
	o integer;
BEGIN
	RETURN QUERY SELECT * FROM fqs_router.message_status_on(p, id);
	IF FOUND THEN
		RETURN;
	END IF;
	FOR o IN SELECT * FROM fqs_router.other_parts(p) LOOP
		RETURN QUERY SELECT * FROM fqs_router.message_status_on(o, id);
		IF FOUND THEN
			RETURN;
		END IF;
	END LOOP;
END
$$;

/*
 * fqs_claim_any(queues, ...): the queues grouped by node; the nodes are
 * asked in the order of their queues' highest priority (then the order of
 * the list), each with fqs_claim_any over its own queues, until one
 * returns messages.  With a wait and queues on one node, that node waits;
 * with queues on several, the first node waits in slices of at most
 * 100 ms between looks at the others.
 */
CREATE FUNCTION fqs_router.claim_any_on(part integer, queues text[],
										n integer, lease interval,
										wait interval)
RETURNS TABLE (id bigint, receipt bigint, fifo_key text, seq bigint,
			   payload text, headers jsonb, attempt integer,
			   enqueued_at timestamptz)
LANGUAGE plproxy
AS $$
	CLUSTER 'fqs_router';
	RUN ON part;
	SELECT c.id, c.receipt, c.fifo_key, c.seq, c.payload, c.headers,
		   c.attempt, c.enqueued_at
	  FROM @extschema@.fqs_claim_any(queues, n, lease, wait) c;
$$;

CREATE FUNCTION fqs_router.queue_parts(queues text[],
									   OUT part integer, OUT names text[])
RETURNS SETOF record
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	missing text;
BEGIN
	IF queues IS NULL OR cardinality(queues) OPERATOR(pg_catalog.=) 0 THEN
		RAISE EXCEPTION 'queues must not be NULL or empty'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	SELECT q INTO missing FROM unnest(queues) q
	 WHERE NOT EXISTS (SELECT 1 FROM fqs_router.placement p
						WHERE p.queue OPERATOR(pg_catalog.=) q)
	 LIMIT 1;
	IF FOUND THEN
		RAISE EXCEPTION 'queue "%" does not exist', missing
			USING ERRCODE = 'undefined_object',
				  HINT = 'Create it through the router with fqs_create_queue().';
	END IF;
	RETURN QUERY
	SELECT n.part, array_agg(q.name ORDER BY q.ord)
	  FROM unnest(queues) WITH ORDINALITY q(name, ord)
	  JOIN fqs_router.placement p ON p.queue OPERATOR(pg_catalog.=) q.name
	  JOIN fqs_router.node n ON n.node OPERATOR(pg_catalog.=) p.node
	 GROUP BY n.part
	 ORDER BY max(p.priority) DESC, min(q.ord);
END
$$;

CREATE FUNCTION fqs_router.names(lists jsonb, i integer)
RETURNS text[]
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT ARRAY(SELECT jsonb_array_elements_text($1 -> ($2 - 1))) $$;

CREATE FUNCTION fqs_claim_any(queues text[], n integer DEFAULT 1,
							  lease interval DEFAULT NULL,
							  wait interval DEFAULT '0')
RETURNS TABLE (id bigint, receipt bigint, fifo_key text, seq bigint,
			   payload text, headers jsonb, attempt integer,
			   enqueued_at timestamptz)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	parts integer[];
	lists jsonb := '[]';
	g record;
	i integer;
	deadline timestamptz;
	slice interval;
BEGIN
	FOR g IN SELECT * FROM fqs_router.queue_parts(queues) LOOP
		parts := parts OPERATOR(pg_catalog.||) g.part;
		lists := lists OPERATOR(pg_catalog.||)
			pg_catalog.jsonb_build_array(pg_catalog.to_jsonb(g.names));
	END LOOP;
	IF cardinality(parts) OPERATOR(pg_catalog.=) 1 THEN
		RETURN QUERY SELECT * FROM fqs_router.claim_any_on(parts[1],
			fqs_router.names(lists, 1), n, lease, wait);
		RETURN;
	END IF;
	deadline := pg_catalog.clock_timestamp() OPERATOR(pg_catalog.+) coalesce(wait, '0');
	LOOP
		FOR i IN 1..cardinality(parts) LOOP
			RETURN QUERY SELECT * FROM fqs_router.claim_any_on(parts[i],
				fqs_router.names(lists, i), n, lease, '0');
			IF FOUND THEN
				RETURN;
			END IF;
		END LOOP;
		slice := least(deadline OPERATOR(pg_catalog.-) pg_catalog.clock_timestamp(),
					   interval '100 milliseconds');
		EXIT WHEN slice OPERATOR(pg_catalog.<=) interval '0';
		RETURN QUERY SELECT * FROM fqs_router.claim_any_on(parts[1],
			fqs_router.names(lists, 1), n, lease, slice);
		IF FOUND THEN
			RETURN;
		END IF;
	END LOOP;
END
$$;

/* ---------------------------------------------------------------------
 * Live moves: fqs_router_move_queue(queue, node)
 *
 * The source node drains the queue (it refuses new work with QM001 while
 * the leases it gave out finish or expire), exports everything unfinished
 * in one snapshot and refuses everything; the target imports it in one
 * transaction; the directory then names the target with epoch + 1, and the
 * source forgets the queue.  Callers that retry on QM001 reach the target
 * once the move's transaction commits.  Every node step is idempotent for
 * its epoch, so a move that stopped half-way is finished (or undone) by
 * calling fqs_router_move_queue again.
 * --------------------------------------------------------------------- */

CREATE FUNCTION fqs_router.move_begin_on(part integer, queue text, epoch integer)
RETURNS text
LANGUAGE plproxy
AS $$
	CLUSTER 'fqs_router';
	RUN ON part;
	SELECT fqs.move_begin(queue, epoch);
$$;

CREATE FUNCTION fqs_router.move_drain_on(part integer, queue text)
RETURNS bigint
LANGUAGE plproxy
AS $$
	CLUSTER 'fqs_router';
	RUN ON part;
	SELECT fqs.move_drain(queue);
$$;

CREATE FUNCTION fqs_router.move_export_on(part integer, queue text, epoch integer)
RETURNS jsonb
LANGUAGE plproxy
AS $$
	CLUSTER 'fqs_router';
	RUN ON part;
	SELECT fqs.move_export(queue, epoch);
$$;

CREATE FUNCTION fqs_router.move_import_on(part integer, queue text, epoch integer, doc jsonb)
RETURNS bigint
LANGUAGE plproxy
AS $$
	CLUSTER 'fqs_router';
	RUN ON part;
	SELECT fqs.move_import(queue, epoch, doc);
$$;

CREATE FUNCTION fqs_router.move_finish_on(part integer, queue text, epoch integer)
RETURNS boolean
LANGUAGE plproxy
AS $$
	CLUSTER 'fqs_router';
	RUN ON part;
	SELECT fqs.move_finish(queue, epoch);
$$;

CREATE FUNCTION fqs_router.move_abort_on(part integer, queue text, epoch integer)
RETURNS boolean
LANGUAGE plproxy
AS $$
	CLUSTER 'fqs_router';
	RUN ON part;
	SELECT fqs.move_abort(queue, epoch);
$$;

CREATE FUNCTION fqs_router.move_state_on(part integer, queue text,
										 OUT move_state text, OUT move_epoch integer)
RETURNS SETOF record
LANGUAGE plproxy
AS $$
	CLUSTER 'fqs_router';
	RUN ON part;
	SELECT q.move_state, q.move_epoch FROM fqs.queue q
	 WHERE q.name OPERATOR(pg_catalog.=) queue::text;
$$;

REVOKE ALL ON FUNCTION fqs_router.move_begin_on(integer, text, integer),
	fqs_router.move_drain_on(integer, text),
	fqs_router.move_export_on(integer, text, integer),
	fqs_router.move_import_on(integer, text, integer, jsonb),
	fqs_router.move_finish_on(integer, text, integer),
	fqs_router.move_abort_on(integer, text, integer),
	fqs_router.move_state_on(integer, text) FROM PUBLIC;

/*
 * fqs_router_move_queue(queue, node, timeout) -> how long the queue
 * refused work.  The leases in flight get timeout to finish or expire
 * (lease extensions are refused meanwhile); past it the move is undone
 * and the queue works on where it was.
 */
CREATE FUNCTION fqs_router_move_queue(queue text, node text,
									  timeout interval DEFAULT '5 minutes')
RETURNS interval
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	pl record;
	src integer;
	dst integer;
	e integer;
	t0 timestamptz := pg_catalog.clock_timestamp();
	st record;
	state text;
	doc jsonb;
	pause interval;
BEGIN
	SELECT p.node, p.epoch INTO pl FROM fqs_router.placement p
	 WHERE p.queue OPERATOR(pg_catalog.=) fqs_router_move_queue.queue
	   FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'queue "%" does not exist', queue
			USING ERRCODE = 'undefined_object';
	END IF;
	SELECT n.part INTO dst FROM fqs_router.node n
	 WHERE n.node OPERATOR(pg_catalog.=) fqs_router_move_queue.node;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'node "%" does not exist', node
			USING ERRCODE = 'undefined_object';
	END IF;
	IF pl.node OPERATOR(pg_catalog.=) node THEN
		RETURN interval '0';
	END IF;
	SELECT n.part INTO src FROM fqs_router.node n
	 WHERE n.node OPERATOR(pg_catalog.=) pl.node;
	e := pl.epoch OPERATOR(pg_catalog.+) 1;

	/* the target: nothing, a tombstone of an earlier move, or the import */
	SELECT * INTO st FROM fqs_router.move_state_on(dst, queue);
	IF FOUND AND st.move_state IS DISTINCT FROM 'moved'
	   AND (st.move_state IS NOT NULL OR st.move_epoch IS DISTINCT FROM e) THEN
		RAISE EXCEPTION 'node "%" already has a queue "%"', node, queue
			USING ERRCODE = 'duplicate_object';
	END IF;
	IF NOT FOUND OR st.move_state OPERATOR(pg_catalog.=) 'moved' THEN
		/* not imported yet (or an earlier attempt stopped before) */
		state := fqs_router.move_begin_on(src, queue, e);
		WHILE state OPERATOR(pg_catalog.=) 'draining'
			  AND fqs_router.move_drain_on(src, queue) OPERATOR(pg_catalog.>) 0 LOOP
			IF pg_catalog.clock_timestamp() OPERATOR(pg_catalog.-) t0
			   OPERATOR(pg_catalog.>) timeout THEN
				PERFORM fqs_router.move_abort_on(src, queue, e);
				RAISE EXCEPTION 'queue "%" still has leases after %: move undone', queue, timeout
					USING ERRCODE = 'object_in_use',
						  HINT = 'Lease extensions are refused during a move; give it a timeout longer than the queue''s lease.';
			END IF;
			PERFORM pg_catalog.pg_sleep(0.02);
		END LOOP;
		doc := fqs_router.move_export_on(src, queue, e);
		BEGIN
			PERFORM fqs_router.move_import_on(dst, queue, e, doc);
		EXCEPTION WHEN OTHERS THEN
			PERFORM fqs_router.move_abort_on(src, queue, e);
			RAISE;
		END;
	END IF;
	UPDATE fqs_router.placement p SET node = fqs_router_move_queue.node, epoch = e,
		   placed_at = pg_catalog.now()
	 WHERE p.queue OPERATOR(pg_catalog.=) fqs_router_move_queue.queue;
	pause := pg_catalog.clock_timestamp() OPERATOR(pg_catalog.-) t0;
	BEGIN
		PERFORM fqs_router.move_finish_on(src, queue, e);
	EXCEPTION WHEN OTHERS THEN
		RAISE WARNING 'queue "%" moved to node "%", but node "%" could not forget it: %',
			queue, node, pl.node, SQLERRM
			USING HINT = 'It refuses every call (QM001); drop it there with fqs.move_finish(queue, epoch) once the node is back.';
	END;
	RETURN pause;
END
$$;
REVOKE ALL ON FUNCTION fqs_router_move_queue(text, text, interval) FROM PUBLIC;

/* ---------------------------------------------------------------------
 * Views gathered from every node
 *
 * Each node shows the queues the caller may see there; a row counts only
 * if the directory places that queue on that node.  A node that is down
 * makes the whole view fail: query it per node to see the others.
 * --------------------------------------------------------------------- */

CREATE FUNCTION fqs_router.owns(node_id integer, queue text)
RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT EXISTS (SELECT 1 FROM fqs_router.placement p
					 JOIN fqs_router.node n ON n.node OPERATOR(pg_catalog.=) p.node
					WHERE p.queue OPERATOR(pg_catalog.=) $2
					  AND n.node_id OPERATOR(pg_catalog.=) $1)
$$;

CREATE FUNCTION fqs_router.node_name(node_id integer)
RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$ SELECT n.node FROM fqs_router.node n WHERE n.node_id OPERATOR(pg_catalog.=) $1 $$;

CREATE FUNCTION fqs_router.gather_queues()
RETURNS TABLE (node_id integer, queue text, max_ready integer,
			   lease interval, max_attempts integer, priority integer,
			   max_claimed integer, paused boolean, breaker_open boolean,
			   pen bigint, ready bigint, delayed bigint, claimed bigint,
			   processed bigint, sequencing bigint, dead bigint,
			   oldest_unfinished_age interval, done_total bigint,
			   failure_threshold integer, failure_cooldown interval,
			   failure_state text, consecutive_failures bigint,
			   failure_changed_at timestamptz, failure_opens bigint,
			   failure_reopens_at timestamptz,
			   enqueued_per_s double precision,
			   claimed_per_s double precision,
			   completed_per_s double precision,
			   latency_p50 interval, latency_p90 interval,
			   latency_p99 interval, backlog_seconds double precision)
LANGUAGE plproxy
AS $$
	CLUSTER 'fqs_router';
	RUN ON ALL;
	SELECT pg_catalog.current_setting('fqs.node_id')::integer AS node_id,
		   q.queue, q.max_ready, q.lease, q.max_attempts, q.priority,
		   q.max_claimed, q.paused, q.breaker_open, q.pen, q.ready,
		   q.delayed, q.claimed, q.processed, q.sequencing, q.dead,
		   q.oldest_unfinished_age, q.done_total, q.failure_threshold,
		   q.failure_cooldown, q.failure_state, q.consecutive_failures,
		   q.failure_changed_at, q.failure_opens, q.failure_reopens_at,
		   q.enqueued_per_s, q.claimed_per_s, q.completed_per_s,
		   q.latency_p50, q.latency_p90, q.latency_p99, q.backlog_seconds
	  FROM @extschema@.fqs_queues q;
$$;

CREATE VIEW fqs_queues AS
SELECT fqs_router.node_name(g.node_id) AS node,
	   g.queue, g.max_ready, g.lease, g.max_attempts, g.priority,
	   g.max_claimed, g.paused, g.breaker_open, g.pen, g.ready,
	   g.delayed, g.claimed, g.processed, g.sequencing, g.dead,
	   g.oldest_unfinished_age, g.done_total, g.failure_threshold,
	   g.failure_cooldown, g.failure_state, g.consecutive_failures,
	   g.failure_changed_at, g.failure_opens, g.failure_reopens_at,
	   g.enqueued_per_s, g.claimed_per_s, g.completed_per_s,
	   g.latency_p50, g.latency_p90, g.latency_p99, g.backlog_seconds
  FROM fqs_router.gather_queues() g
 WHERE fqs_router.owns(g.node_id, g.queue);

CREATE FUNCTION fqs_router.gather_dead()
RETURNS TABLE (node_id integer, queue text, id bigint, fifo_key text,
			   seq bigint, stage text, attempts integer, last_error text,
			   died_at timestamptz, enqueued_at timestamptz)
LANGUAGE plproxy
AS $$
	CLUSTER 'fqs_router';
	RUN ON ALL;
	SELECT pg_catalog.current_setting('fqs.node_id')::integer AS node_id,
		   d.queue, d.id, d.fifo_key, d.seq, d.stage, d.attempts,
		   d.last_error, d.died_at, d.enqueued_at
	  FROM @extschema@.fqs_dead_messages d;
$$;

CREATE VIEW fqs_dead_messages AS
SELECT fqs_router.node_name(g.node_id) AS node,
	   g.queue, g.id, g.fifo_key, g.seq, g.stage, g.attempts,
	   g.last_error, g.died_at, g.enqueued_at
  FROM fqs_router.gather_dead() g
 WHERE fqs_router.owns(g.node_id, g.queue);

GRANT USAGE ON SCHEMA fqs_router TO PUBLIC;
GRANT SELECT ON fqs_queues, fqs_dead_messages TO PUBLIC;
