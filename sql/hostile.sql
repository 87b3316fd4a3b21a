-- Hostile-input sweep: a table of calls, each run in its own
-- subtransaction, with NULL in every argument position of every fqs_*
-- function, empty and oversize strings, quotes, %, control characters,
-- infinity, huge and negative numbers and intervals, arrays with NULLs and
-- mismatched lengths, and unprivileged callers.  For each call it prints
-- the SQLSTATE and message (or what an accepted call did), and checks that
-- the state of schema fqs is unchanged.
--
-- Columns of the report:
--   result   SQLSTATE: message, or "ok" with the rows returned and whether
--            the call changed state (accepted calls are rolled back after
--            the check, so every call starts from the same state)
--   verdict  empty when the result is what the call should give (column
--            expect of hostile_call); otherwise "UNEXPECTED, want ..."
--            (a defect, until the code or the expectation is fixed), and
--            "STATE CHANGED" if an erroring call left state behind
\set VERBOSITY terse
SET client_min_messages = warning;

-- ---------------------------------------------------------------------
-- Fixtures: queues whose messages are in every state a call can name
-- ---------------------------------------------------------------------
CREATE ROLE regress_hostile_role;
-- the rotation's meta row exists before the baseline is taken
SELECT fqs_rotate() IS NULL AS not_due;

CREATE TEMP TABLE hostile_val (name text PRIMARY KEY, val text NOT NULL);
DO $$
DECLARE
	r record;
BEGIN
	-- hostile_q: one ready message, and one processed key head (releasable)
	PERFORM fqs_create_queue('hostile_q', lease => '1 hour');
	INSERT INTO hostile_val
		SELECT 'pid', fqs_enqueue('hostile_q', 'p1', 'kp')::text;
	PERFORM fqs_commit(id, receipt, 'p1 result')
	   FROM fqs_claim('hostile_q', 1, lease => '1 hour');
	INSERT INTO hostile_val
		SELECT 'rid', fqs_enqueue('hostile_q', 'r1', 'kr')::text;
	PERFORM fqs_grant('hostile_q', 'regress_hostile_role', 'produce');

	-- hostile_c: one message claimed by the concurrent stage
	PERFORM fqs_create_queue('hostile_c', lease => '1 hour');
	PERFORM fqs_enqueue('hostile_c', 'c1');
	SELECT * INTO r FROM fqs_claim('hostile_c', 1, lease => '1 hour');
	INSERT INTO hostile_val VALUES ('cid', r.id::text), ('crc', r.receipt::text);

	-- hostile_s: a run of two messages of one key held by the sequential stage
	PERFORM fqs_create_queue('hostile_s', lease => '1 hour');
	PERFORM fqs_enqueue_batch('hostile_s', ARRAY['s1', 's2']);
	PERFORM fqs_commit(id, receipt) FROM fqs_claim('hostile_s', 2, lease => '1 hour');
	FOR r IN SELECT * FROM fqs_claim_sequential('hostile_s', 2, lease => '1 hour')
	LOOP
		INSERT INTO hostile_val VALUES ('sid' || r.seq, r.id::text);
		INSERT INTO hostile_val VALUES ('src', r.receipt::text)
			ON CONFLICT DO NOTHING;
	END LOOP;

	-- hostile_d: one dead message
	PERFORM fqs_create_queue('hostile_d', max_attempts => 1);
	PERFORM fqs_enqueue('hostile_d', 'd1');
	SELECT * INTO r FROM fqs_claim('hostile_d', 1, lease => '1 hour');
	INSERT INTO hostile_val VALUES ('did', r.id::text);
	PERFORM fqs_fail(r.id, r.receipt, 'boom');

	-- hostile_e: empty
	PERFORM fqs_create_queue('hostile_e');
END $$;
SELECT name FROM hostile_val ORDER BY 1;
SELECT m.queue, m.fifo_key, m.seq, m.state
  FROM hostile_val v, fqs_message_status(v.val::bigint) m
 WHERE v.name NOT IN ('crc', 'src') ORDER BY v.name;

-- Show a string with control and invisible characters as \uXXXX.
CREATE FUNCTION hostile_show(s text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
	SELECT string_agg(CASE WHEN ascii(c) < 32 OR ascii(c) BETWEEN 127 AND 159
						OR ascii(c) BETWEEN 8203 AND 8207	-- zero-width, marks
						OR ascii(c) BETWEEN 8232 AND 8238	-- separators, embeddings
						OR ascii(c) BETWEEN 8294 AND 8297	-- isolates
						OR ascii(c) = 65279
					  THEN '\u' || lpad(to_hex(ascii(c)), 4, '0') ELSE c END,
					  '' ORDER BY o)
	  FROM regexp_split_to_table(s, '') WITH ORDINALITY AS t(c, o)
$$;

-- A fingerprint of the state: row count and md5 of the ordered rows of
-- every table in schema fqs.  Rows of queues that other suites left behind
-- are left out (the background worker may still act on them); rows of
-- the hostile_* queues, of no queue and of qid 0 ('*' grants) are in, and
-- so is the list of all queue names.
CREATE FUNCTION hostile_fp() RETURNS text LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	q text;
	res text;
BEGIN
	SELECT string_agg(format(
			'SELECT %L AS t, count(*) AS c, '
			'md5(string_agg(md5(x::text), %L ORDER BY md5(x::text))) AS h '
			'FROM %s x %s', c.oid::regclass, '', c.oid::regclass,
			CASE WHEN EXISTS (SELECT 1 FROM pg_attribute a
							   WHERE a.attrelid = c.oid AND a.attname = 'qid'
								 AND NOT a.attisdropped)
				 THEN format('WHERE x.qid NOT IN (SELECT qid FROM fqs.queue '
							 'WHERE name NOT LIKE %L)', 'hostile%')
			END),
			' UNION ALL ' ORDER BY c.relname)
	  INTO q
	  FROM pg_class c
	 WHERE c.relnamespace = 'fqs'::regnamespace AND c.relkind = 'r';
	EXECUTE 'SELECT string_agg(t || '':'' || c || '':'' || coalesce(h, ''-''), '' '' ORDER BY t) '
		 || 'FROM (' || q || ') s'
	   INTO res;
	SELECT res || ' ' || md5(coalesce(string_agg(name, '|' ORDER BY name), ''))
	  INTO res FROM fqs.queue;
	RETURN res;
END $$;

-- ---------------------------------------------------------------------
-- The calls.  {cid}/{crc}: a message and receipt of the concurrent stage;
-- {sid1}/{sid2}/{src}: the run held by the sequential stage; {did}: a dead
-- message; {rid}: a ready message; {pid}: a processed one.  expect is the
-- SQLSTATE the call should raise, or 'ok'.
-- ---------------------------------------------------------------------
CREATE TEMP TABLE hostile_call (
	n		serial PRIMARY KEY,
	call	text NOT NULL,
	expect	text NOT NULL,
	pre		text,			-- SET LOCAL ... run first, in the same subtransaction
	as_role	text,			-- run the call as this role
	rows	boolean NOT NULL DEFAULT true	-- print the number of rows returned
);

-- NULL in each argument position of every fqs_* function, every other
-- argument valid.  Sample values per argument (function '*' for all).
CREATE TEMP TABLE hostile_sample (fn text, arg text, val text,
								  PRIMARY KEY (fn, arg));
INSERT INTO hostile_sample VALUES
	('*', 'queue', '''hostile_q'''),
	('fqs_create_queue', 'queue', '''hostile_new'''),
	('fqs_drop_queue', 'queue', '''hostile_e'''),
	('*', 'queues', 'ARRAY[''hostile_q'']'),
	('*', 'payload', '''x'''),
	('*', 'payloads', 'ARRAY[''x'']'),
	('*', 'fifo_key', '''k'''),
	('*', 'fifo_keys', 'ARRAY[''k'']'),
	('*', 'headers', '''{}'''),
	('fqs_enqueue_batch', 'headers', 'ARRAY[''{}''::jsonb]'),
	('*', 'priority', '0'),
	('*', 'dedup_id', '''dd'''),
	('*', 'deliver_at', 'now()'),
	('*', 'n', '1'),
	('*', 'max_ready', '100'),
	('*', 'max_attempts', '3'),
	('*', 'max_claimed', '10'),
	('*', 'failure_threshold', '5'),
	('*', 'failure_cooldown', '''10 seconds'''),
	('*', 'lease', '''1 minute'''),
	('*', 'wait', '''0'''),
	('*', 'retry_after', '''1 second'''),
	('*', 'force', 'false'),
	('*', 'result', '''res'''),
	('*', 'error', '''err'''),
	('*', 'reason', '''why'''),
	('*', 'role', '''regress_hostile_role'''),
	('*', 'privilege', '''produce'''),
	('*', 'id', '{cid}'),
	('*', 'receipt', '{crc}'),
	('fqs_complete', 'id', '{sid1}'),
	('fqs_complete', 'receipt', '{src}'),
	-- the array calls
	('*', 'ids', 'ARRAY[{cid}]::bigint[]'),
	('*', 'receipts', 'ARRAY[{crc}]::bigint[]'),
	('*', 'results', 'ARRAY[''res'']'),
	('fqs_complete', 'ids', 'ARRAY[{sid1}]::bigint[]'),
	('fqs_complete', 'receipts', 'ARRAY[{src}]::bigint[]'),
	('fqs_retry', 'id', '{did}'),
	('fqs_skip', 'id', '{did}');

-- The NULLs that are meant to be accepted: NULL means "the default" or
-- "unchanged" there.  Every other NULL must raise 22004.
CREATE TEMP TABLE hostile_null_ok (fn text, arg text);
INSERT INTO hostile_null_ok VALUES
	('fqs_create_queue', 'max_ready'),		-- fqs.max_ready applies
	('fqs_create_queue', 'lease'),			-- 30 s
	('fqs_create_queue', 'max_attempts'),	-- 5
	('fqs_create_queue', 'priority'),		-- 0
	('fqs_create_queue', 'max_claimed'),	-- no cap
	('fqs_alter_queue', 'max_ready'),		-- unchanged (documented)
	('fqs_alter_queue', 'lease'),
	('fqs_alter_queue', 'max_attempts'),
	('fqs_alter_queue', 'priority'),
	('fqs_alter_queue', 'max_claimed'),
	('fqs_create_queue', 'failure_threshold'),	-- no failure breaker
	('fqs_create_queue', 'failure_cooldown'),	-- 30 s
	('fqs_alter_queue', 'failure_threshold'),	-- unchanged
	('fqs_alter_queue', 'failure_cooldown'),
	('fqs_drop_queue', 'force'),			-- not forced: the safe reading
	('fqs_rotate', 'force'),				-- not forced
	('fqs_enqueue', 'headers'),				-- documented default
	('fqs_enqueue', 'priority'),			-- 0
	('fqs_enqueue', 'dedup_id'),			-- documented default
	('fqs_enqueue', 'deliver_at'),			-- documented default: at once
	('fqs_enqueue_batch', 'fifo_keys'),		-- documented default: all ''
	('fqs_enqueue_batch', 'headers'),
	('fqs_enqueue_batch', 'deliver_at'),
	('fqs_claim', 'lease'),					-- the queue's lease
	('fqs_claim', 'wait'),					-- no wait
	('fqs_claim_any', 'lease'),
	('fqs_claim_any', 'wait'),
	('fqs_claim_sequential', 'lease'),
	('fqs_claim_sequential', 'wait'),
	('fqs_commit', 'result'),				-- the payload goes on
	('fqs_commit', 'results'),				-- the payloads go on
	('fqs_fail', 'retry_after');			-- the default backoff

INSERT INTO hostile_call (call, expect)
SELECT format('SELECT %s%s(%s)',
			  CASE WHEN p.proretset THEN '* FROM ' END, p.proname,
			  string_agg(CASE WHEN a.j = i.i THEN 'NULL'
							  ELSE coalesce(s.val, '<no sample>') END,
						 ', ' ORDER BY a.j)),
	   CASE WHEN EXISTS (SELECT 1 FROM hostile_null_ok o
						  WHERE o.fn = p.proname
							AND o.arg = p.proargnames[i.i])
			THEN 'ok' ELSE '22004' END
  FROM pg_proc p
  JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid
					  AND d.deptype = 'e'
  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'fqs'
  CROSS JOIN generate_series(1, p.pronargs) i(i)
  CROSS JOIN LATERAL generate_series(1, p.pronargs) a(j)
  LEFT JOIN LATERAL (SELECT s.val FROM hostile_sample s
					  WHERE s.arg = p.proargnames[a.j]
						AND s.fn IN ('*', p.proname)
					  ORDER BY s.fn = '*' LIMIT 1) s ON true
 WHERE p.proname LIKE 'fqs\_%'
 GROUP BY p.proname, p.proretset, p.proargnames, i.i
 ORDER BY p.proname, i.i;

-- every API function with arguments is in the sweep
SELECT p.proname, p.pronargs AS null_calls
  FROM pg_proc p
  JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid
					  AND d.deptype = 'e'
  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'fqs'
 WHERE p.proname LIKE 'fqs\_%'
 ORDER BY 1;

-- The hand-written rows.
INSERT INTO hostile_call (call, expect) VALUES
-- queue names: empty, too long, control characters
	($$SELECT fqs_create_queue('')$$, '42602'),
	($$SELECT fqs_enqueue('', 'x')$$, '42602'),
	($$SELECT fqs_enqueue_batch('', ARRAY['x'])$$, '42602'),
	($$SELECT * FROM fqs_claim('')$$, '42602'),
	($$SELECT * FROM fqs_claim_sequential('')$$, '42602'),
	($$SELECT * FROM fqs_claim_any(ARRAY[''])$$, '42602'),
	($$SELECT fqs_alter_queue('', lease => '1 minute')$$, '42602'),
	($$SELECT fqs_drop_queue('', true)$$, '42602'),
	($$SELECT fqs_pause('')$$, '42602'),
	($$SELECT fqs_resume('')$$, '42602'),
	($$SELECT fqs_grant('', 'regress_hostile_role', 'produce')$$, '42602'),
	($$SELECT fqs_revoke('', 'regress_hostile_role', 'produce')$$, '42602'),
	($$SELECT fqs_create_queue(repeat('x', 63))$$, 'ok'),
	($$SELECT fqs_create_queue(repeat('x', 64))$$, '42602'),
	($$SELECT fqs_create_queue(repeat('é', 31) || 'x')$$, 'ok'),	-- 63 bytes
	($$SELECT fqs_create_queue(repeat('é', 32))$$, '42602'),		-- 64 bytes
	($$SELECT fqs_enqueue(repeat('x', 1000000), 'x')$$, '42602'),
	($$SELECT * FROM fqs_claim(repeat('x', 1000000))$$, '42602'),
	($$SELECT fqs_create_queue(E'a\nb')$$, '42602'),
	($$SELECT fqs_create_queue(E'a\tb')$$, '42602'),
	($$SELECT fqs_create_queue(E'a\rb')$$, '42602'),
	($$SELECT fqs_create_queue(E'\x01')$$, '42602'),
	($$SELECT fqs_create_queue(E'a\x1bb')$$, '42602'),
	($$SELECT fqs_create_queue(E'a\x7fb')$$, '42602'),
	($$SELECT fqs_create_queue(E'hostile_q\n')$$, '42602'),
	($$SELECT fqs_enqueue(E'hostile_q\n', 'x')$$, '42602'),
	($$SELECT * FROM fqs_claim_any(ARRAY['hostile_q', E'a\nb'])$$, '42602'),
	-- C1 control characters (U+0080..U+009F) are control characters too
	($$SELECT fqs_create_queue(E'a\u0085b')$$, '42602'),
	($$SELECT fqs_create_queue(E'a\u009bb')$$, '42602'),
	-- a zero-width space is data; bidi overrides and line separators,
	-- which could spoof a name in logs, are refused like controls
	($$SELECT fqs_create_queue(E'a\u200bb')$$, 'ok'),
	($$SELECT fqs_create_queue(E'a\u202eb')$$, '42602'),
	($$SELECT fqs_create_queue(E'a\u2028b')$$, '42602'),
	($$SELECT fqs_create_queue(' ')$$, 'ok'),
	-- '*' means "every queue" to fqs_grant/fqs_revoke: no queue may take it
	($$SELECT fqs_create_queue('*')$$, '42602'),
	($$SELECT fqs_enqueue('*', 'x')$$, '42704'),
	($$SELECT fqs_drop_queue('*', true)$$, '42704'),
-- names are data: quotes, %, _, backslashes, format specifiers are characters
	($$SELECT fqs_create_queue('hostile''q')$$, 'ok'),
	($$SELECT fqs_create_queue('hostile"q')$$, 'ok'),
	($$SELECT fqs_create_queue('hostile%')$$, 'ok'),
	($$SELECT fqs_create_queue(E'hostile\\q')$$, 'ok'),
	($$SELECT fqs_create_queue('hostile%s%s%s%n%x')$$, 'ok'),
	($$SELECT fqs_create_queue('x''); DROP TABLE fqs.queue; --')$$, 'ok'),
	-- no pattern matching, no case folding, no trimming
	($$SELECT fqs_enqueue('hostile%', 'x')$$, '42704'),
	($$SELECT fqs_enqueue('hostile_', 'x')$$, '42704'),
	($$SELECT fqs_enqueue('hostile_%', 'x')$$, '42704'),
	($$SELECT fqs_enqueue('HOSTILE_Q', 'x')$$, '42704'),
	($$SELECT fqs_enqueue(' hostile_q', 'x')$$, '42704'),
	($$SELECT fqs_enqueue('hostile_q ', 'x')$$, '42704'),
	($$SELECT fqs_enqueue('hostile%s%s%s%n', 'x')$$, '42704'),
	($$SELECT fqs_drop_queue('hostile%', true)$$, '42704'),
	($$SELECT fqs_drop_queue('hostile_', true)$$, '42704'),
	($$SELECT fqs_pause('hostile%')$$, '42704'),
	($$SELECT fqs_alter_queue('hostile%', max_attempts => 1)$$, '42704'),
	($$SELECT fqs_grant('hostile%', 'regress_hostile_role', 'admin')$$, '42704'),
	($$SELECT * FROM fqs_claim('hostile%')$$, '42704'),
	($$SELECT * FROM fqs_claim_sequential('hostile_')$$, '42704'),
	($$SELECT fqs_create_queue('hostile_q')$$, '42710'),
-- queue settings: negative, zero, huge, months, overflowing intervals
	($$SELECT fqs_create_queue('hostile_new', max_ready => -1)$$, '22023'),
	($$SELECT fqs_create_queue('hostile_new', max_ready => -2147483648)$$, '22023'),
	($$SELECT fqs_create_queue('hostile_new', max_ready => 2147483647)$$, 'ok'),
	($$SELECT fqs_create_queue('hostile_new', max_ready => 2147483648)$$, '42883'),
	($$SELECT fqs_create_queue('hostile_new', max_ready => '2147483648')$$, '22003'),
	($$SELECT fqs_create_queue('hostile_new', lease => '0')$$, '22023'),
	($$SELECT fqs_create_queue('hostile_new', lease => '-1 second')$$, '22023'),
	($$SELECT fqs_create_queue('hostile_new', lease => '1 month')$$, '22023'),
	($$SELECT fqs_create_queue('hostile_new', lease => '-1 year')$$, '22023'),
	($$SELECT fqs_create_queue('hostile_new', lease => '1 mon -30 days')$$, '22023'),
	($$SELECT fqs_create_queue('hostile_new', lease => '24 hours 1 second')$$, '22023'),
	($$SELECT fqs_create_queue('hostile_new', lease => '24 hours')$$, 'ok'),
	($$SELECT fqs_create_queue('hostile_new', lease => '1000000 hours')$$, '22023'),
	($$SELECT fqs_create_queue('hostile_new', lease => '2147483647 days')$$, '22023'),
	($$SELECT fqs_create_queue('hostile_new', lease => '-2147483648 days')$$, '22023'),
	($$SELECT fqs_create_queue('hostile_new', lease => '2147483647 days 2562047788 hours')$$, '22023'),
	($$SELECT fqs_create_queue('hostile_new', lease => '1 day -86400 seconds')$$, '22023'),
	($$SELECT fqs_create_queue('hostile_new', lease => '1 microsecond')$$, 'ok'),
	($$SELECT fqs_create_queue('hostile_new', lease => 'infinity')$$, '22007'),
	($$SELECT fqs_create_queue('hostile_new', max_attempts => 0)$$, '22023'),
	($$SELECT fqs_create_queue('hostile_new', max_attempts => -2147483648)$$, '22023'),
	($$SELECT fqs_create_queue('hostile_new', max_attempts => 2147483647)$$, 'ok'),
	($$SELECT fqs_create_queue('hostile_new', priority => -2147483648)$$, 'ok'),
	($$SELECT fqs_create_queue('hostile_new', priority => 2147483647)$$, 'ok'),
	($$SELECT fqs_create_queue('hostile_new', max_claimed => 0)$$, '22023'),
	($$SELECT fqs_create_queue('hostile_new', max_claimed => -1)$$, '22023'),
	($$SELECT fqs_create_queue('hostile_new', max_claimed => 2147483647)$$, 'ok'),
	($$SELECT fqs_create_queue('hostile_new', failure_threshold => -1)$$, '22023'),
	($$SELECT fqs_create_queue('hostile_new', failure_threshold => 0)$$, 'ok'),
	($$SELECT fqs_create_queue('hostile_new', failure_threshold => 2147483647)$$, 'ok'),
	($$SELECT fqs_create_queue('hostile_new', failure_cooldown => '0')$$, '22023'),
	($$SELECT fqs_create_queue('hostile_new', failure_cooldown => '1 microsecond')$$, 'ok'),
	($$SELECT fqs_create_queue('hostile_new', failure_cooldown => '2147483647 days')$$, '22023'),
	($$SELECT fqs_create_queue('hostile_new', failure_cooldown => 'infinity')$$, '22007'),
	($$SELECT fqs_alter_queue('hostile_q', max_ready => -1)$$, 'ok'),
	($$SELECT fqs_alter_queue('hostile_q', max_ready => -2)$$, '22023'),
	($$SELECT fqs_alter_queue('hostile_q', max_ready => -2147483648)$$, '22023'),
	($$SELECT fqs_alter_queue('hostile_q', max_claimed => 0)$$, 'ok'),
	($$SELECT fqs_alter_queue('hostile_q', max_claimed => -1)$$, '22023'),
	($$SELECT fqs_alter_queue('hostile_q', failure_threshold => -2147483648)$$, '22023'),
	($$SELECT fqs_alter_queue('hostile_q', failure_cooldown => '-1 day')$$, '22023'),
	($$SELECT fqs_alter_queue('hostile_q', failure_cooldown => '1 year')$$, '22023'),
	($$SELECT fqs_alter_queue('hostile_q', max_attempts => 0)$$, '22023'),
	($$SELECT fqs_alter_queue('hostile_q', lease => '-1 second')$$, '22023'),
	($$SELECT fqs_alter_queue('hostile_q', lease => '0')$$, '22023'),
	($$SELECT fqs_alter_queue('hostile_q', lease => '1 mon')$$, '22023'),
	($$SELECT fqs_alter_queue('hostile_q', lease => '25 hours')$$, '22023'),
	($$SELECT fqs_alter_queue('hostile_q', lease => '2147483647 days')$$, '22023'),
	($$SELECT fqs_drop_queue('hostile_q')$$, '55006'),
	($$SELECT fqs_drop_queue('hostile_d')$$, '55006'),
	($$SELECT fqs_drop_queue('nosuch', NULL)$$, '42704'),
-- payloads, keys, dedup ids, headers
	($$SELECT fqs_enqueue('hostile_q', '')$$, 'ok'),
	($$SELECT fqs_enqueue('hostile_q', repeat('x', 16777217))$$, '54000'),
	($$SELECT fqs_enqueue('hostile_q', E'line\nbreak\ttab\x01 ''quote'' %s %n \\')$$, 'ok'),
	($$SELECT fqs_enqueue('hostile_q', 'x', repeat('k', 1024))$$, 'ok'),
	($$SELECT fqs_enqueue('hostile_q', 'x', repeat('k', 1025))$$, '54000'),
	($$SELECT fqs_enqueue('hostile_q', 'x', repeat('é', 513))$$, '54000'),
	($$SELECT fqs_enqueue('hostile_q', 'x', E'key\nwith\x01controls %')$$, 'ok'),
	($$SELECT fqs_enqueue('hostile_q', 'x', dedup_id => repeat('d', 1024))$$, 'ok'),
	($$SELECT fqs_enqueue('hostile_q', 'x', dedup_id => repeat('d', 1025))$$, '54000'),
	($$SELECT fqs_enqueue('hostile_q', 'x', dedup_id => '')$$, '22023'),
	($$SELECT fqs_enqueue('hostile_q', 'x', headers => 'null')$$, 'ok'),
	($$SELECT fqs_enqueue('hostile_q', 'x', headers => '[1, "two", null]')$$, 'ok'),
	($$SELECT fqs_enqueue('hostile_q', 'x', priority => -2147483648)$$, 'ok'),
	($$SELECT fqs_enqueue('hostile_q', 'x', priority => 2147483647)$$, 'ok'),
	($$SELECT fqs_enqueue('hostile_q', 'x', priority => '2147483648')$$, '22003'),
	($$SELECT fqs_enqueue('hostile_q', 'x', priority => 9223372036854775807)$$, '42883'),
-- deliver_at
	($$SELECT fqs_enqueue('hostile_q', 'x', deliver_at => 'infinity')$$, '22023'),
	($$SELECT fqs_enqueue('hostile_q', 'x', deliver_at => '-infinity')$$, '22023'),
	($$SELECT fqs_enqueue('hostile_q', 'x', deliver_at => now() + interval '31 days')$$, '22023'),
	($$SELECT fqs_enqueue('hostile_q', 'x', deliver_at => now() + interval '29 days')$$, 'ok'),
	($$SELECT fqs_enqueue('hostile_q', 'x', deliver_at => '294276-12-31 23:59:59+00')$$, '22023'),
	($$SELECT fqs_enqueue('hostile_q', 'x', deliver_at => '4713-11-24 00:00:00+00 BC')$$, 'ok'),
	($$SELECT fqs_enqueue('hostile_q', 'x', deliver_at => 'epoch')$$, 'ok'),
	($$SELECT fqs_enqueue('hostile_q', 'x', deliver_at => 'yesterday')$$, 'ok'),
	($$SELECT fqs_enqueue('hostile_q', 'x', deliver_at => '2000-02-30')$$, '22008'),
	($$SELECT * FROM fqs_enqueue_batch('hostile_q', ARRAY['x'], deliver_at => 'infinity')$$, '22023'),
	($$SELECT * FROM fqs_enqueue_batch('hostile_q', ARRAY['x'], deliver_at => now() + interval '31 days')$$, '22023'),
-- batches: NULL elements, mismatched lengths, dimensions, bounds, sizes
	($$SELECT * FROM fqs_enqueue_batch('hostile_q', ARRAY['a', NULL])$$, '22004'),
	($$SELECT * FROM fqs_enqueue_batch('hostile_q', ARRAY[NULL]::text[])$$, '22004'),
	($$SELECT * FROM fqs_enqueue_batch('hostile_q', ARRAY['a', 'b'], ARRAY['k'])$$, '2202E'),
	($$SELECT * FROM fqs_enqueue_batch('hostile_q', ARRAY['a'], ARRAY['k', 'l'])$$, '2202E'),
	($$SELECT * FROM fqs_enqueue_batch('hostile_q', ARRAY['a', 'b'], ARRAY['k', NULL])$$, '22004'),
	($$SELECT * FROM fqs_enqueue_batch('hostile_q', ARRAY['a'], ARRAY[repeat('k', 1025)])$$, '54000'),
	($$SELECT * FROM fqs_enqueue_batch('hostile_q', ARRAY['a', 'b'], headers => ARRAY['{}']::jsonb[])$$, '2202E'),
	($$SELECT * FROM fqs_enqueue_batch('hostile_q', ARRAY['a'], headers => ARRAY['{}', '{}']::jsonb[])$$, '2202E'),
	($$SELECT * FROM fqs_enqueue_batch('hostile_q', ARRAY['a', 'b'], headers => ARRAY[NULL, '{}']::jsonb[])$$, 'ok'),
	($$SELECT * FROM fqs_enqueue_batch('hostile_q', ARRAY[['a'], ['b']])$$, '2202E'),
	($$SELECT * FROM fqs_enqueue_batch('hostile_q', ARRAY['a', 'b'], ARRAY[['k'], ['l']])$$, '2202E'),
	($$SELECT * FROM fqs_enqueue_batch('hostile_q', ARRAY['a'], headers => ARRAY[['{}']]::jsonb[])$$, '2202E'),
	($$SELECT * FROM fqs_enqueue_batch('hostile_q', ARRAY[]::text[])$$, 'ok'),
	($$SELECT * FROM fqs_enqueue_batch('hostile_q', '{}', '{}', '{}')$$, 'ok'),
	($$SELECT * FROM fqs_enqueue_batch('hostile_q', '{}', ARRAY['k'])$$, '2202E'),
	($$SELECT * FROM fqs_enqueue_batch('nosuch', ARRAY[]::text[])$$, '42704'),
	($$SELECT * FROM fqs_enqueue_batch('hostile_q', '[0:1]={a,b}'::text[], '[5:6]={k,l}'::text[])$$, 'ok'),
	($$SELECT * FROM fqs_enqueue_batch('hostile_q', array_fill('x'::text, ARRAY[10000]))$$, 'ok'),
	($$SELECT * FROM fqs_enqueue_batch('hostile_q', array_fill('x'::text, ARRAY[10001]))$$, '54000'),
	($$SELECT * FROM fqs_enqueue_batch('hostile_q', ARRAY['ok', repeat('x', 16777217)])$$, '54000'),
	($$SELECT * FROM fqs_enqueue_batch('hostile_q', ARRAY['a', 'b'], ARRAY[E'\n', '%'])$$, 'ok'),
-- claims: n, lease and wait
	($$SELECT * FROM fqs_claim('hostile_q', 0)$$, '22023'),
	($$SELECT * FROM fqs_claim('hostile_q', -1)$$, '22023'),
	($$SELECT * FROM fqs_claim('hostile_q', -2147483648)$$, '22023'),
	($$SELECT * FROM fqs_claim('hostile_q', 2147483647)$$, '22023'),
	($$SELECT * FROM fqs_claim('hostile_q', 10001)$$, '22023'),
	($$SELECT * FROM fqs_claim('hostile_q', 10000)$$, 'ok'),
	($$SELECT * FROM fqs_claim('hostile_q', '2147483648')$$, '22003'),
	($$SELECT * FROM fqs_claim('hostile_q', 1, lease => '0')$$, '22023'),
	($$SELECT * FROM fqs_claim('hostile_q', 1, lease => '-1 second')$$, '22023'),
	($$SELECT * FROM fqs_claim('hostile_q', 1, lease => '-1 microsecond')$$, '22023'),
	($$SELECT * FROM fqs_claim('hostile_q', 1, lease => '1 microsecond')$$, 'ok'),
	($$SELECT * FROM fqs_claim('hostile_q', 1, lease => '1 mon')$$, '22023'),
	($$SELECT * FROM fqs_claim('hostile_q', 1, lease => '1 mon -30 days')$$, '22023'),
	($$SELECT * FROM fqs_claim('hostile_q', 1, lease => '-1 year')$$, '22023'),
	($$SELECT * FROM fqs_claim('hostile_q', 1, lease => '24 hours')$$, 'ok'),
	($$SELECT * FROM fqs_claim('hostile_q', 1, lease => '1 day 1 second')$$, '22023'),
	($$SELECT * FROM fqs_claim('hostile_q', 1, lease => '1000000 hours')$$, '22023'),
	($$SELECT * FROM fqs_claim('hostile_q', 1, lease => '2147483647 days')$$, '22023'),
	($$SELECT * FROM fqs_claim('hostile_q', 1, lease => '-2147483648 days')$$, '22023'),
	($$SELECT * FROM fqs_claim('hostile_q', 1, lease => '-2147483648 days -2562047788 hours')$$, '22023'),
	($$SELECT * FROM fqs_claim('hostile_q', 1, lease => '1 day -86400 seconds')$$, '22023'),
	($$SELECT * FROM fqs_claim('hostile_q', 1, lease => '-1 day 90000 seconds')$$, 'ok'),
	($$SELECT * FROM fqs_claim('hostile_q', 1, lease => 'infinity')$$, '22007'),
	($$SELECT * FROM fqs_claim('hostile_q', 1, lease => '-infinity')$$, '22007'),
	($$SELECT * FROM fqs_claim('hostile_q', 1, lease => '9223372036854775807 microseconds')$$, '22023'),
	($$SELECT * FROM fqs_claim('hostile_q', 1, lease => '9223372036854775808 microseconds')$$, '22015'),
	($$SELECT * FROM fqs_claim('hostile_q', 1, wait => '-1 second')$$, '22023'),
	($$SELECT * FROM fqs_claim('hostile_q', 1, wait => '1 mon')$$, '22023'),
	($$SELECT * FROM fqs_claim('hostile_q', 1, wait => '1 hour 1 second')$$, '22023'),
	($$SELECT * FROM fqs_claim('hostile_q', 1, wait => '2147483647 days')$$, '22023'),
	($$SELECT * FROM fqs_claim('hostile_e', 1, wait => '10 milliseconds')$$, 'ok'),
	($$SELECT * FROM fqs_claim_sequential('hostile_q', 0)$$, '22023'),
	($$SELECT * FROM fqs_claim_sequential('hostile_q', 10001)$$, '22023'),
	($$SELECT * FROM fqs_claim_sequential('hostile_q', 1, lease => '0')$$, '22023'),
	($$SELECT * FROM fqs_claim_sequential('hostile_q', 1, lease => '1 year')$$, '22023'),
	($$SELECT * FROM fqs_claim_sequential('hostile_q', 1, lease => '2147483647 days')$$, '22023'),
	($$SELECT * FROM fqs_claim_sequential('hostile_q', 1, wait => '-1 second')$$, '22023'),
	($$SELECT * FROM fqs_claim_sequential('hostile_e', 1, wait => '10 milliseconds')$$, 'ok'),
	($$SELECT * FROM fqs_claim_any(ARRAY[]::text[])$$, '22023'),
	($$SELECT * FROM fqs_claim_any('{}')$$, '22023'),
	($$SELECT * FROM fqs_claim_any(ARRAY[NULL]::text[])$$, '22004'),
	($$SELECT * FROM fqs_claim_any(ARRAY['hostile_q', NULL])$$, '22004'),
	($$SELECT * FROM fqs_claim_any(ARRAY['hostile_q', 'nosuch'])$$, '42704'),
	($$SELECT * FROM fqs_claim_any(ARRAY['hostile_q', 'hostile_q'], 2)$$, 'ok'),
	($$SELECT * FROM fqs_claim_any('[7:8]={hostile_e,hostile_q}'::text[])$$, 'ok'),
	($$SELECT * FROM fqs_claim_any(ARRAY[['hostile_q'], ['hostile_q']])$$, '2202E'),
	($$SELECT * FROM fqs_claim_any(array_fill('hostile_q'::text, ARRAY[10001]))$$, '54000'),
	($$SELECT * FROM fqs_claim_any(ARRAY['hostile_q'], 0)$$, '22023'),
	($$SELECT * FROM fqs_claim_any(ARRAY['hostile_q'], 1, lease => '-1 second')$$, '22023'),
	($$SELECT * FROM fqs_claim_any(ARRAY['hostile_q'], 1, lease => '1 mon')$$, '22023'),
	($$SELECT * FROM fqs_claim_any(ARRAY['hostile_q'], 1, wait => '2 hours')$$, '22023'),
-- commit: ids and receipts that are wrong, zero, negative, extreme
	($$SELECT fqs_commit(-1, 1)$$, 'P0002'),
	($$SELECT fqs_commit(0, 1)$$, 'P0002'),
	($$SELECT fqs_commit(-9223372036854775808, 1)$$, 'P0002'),
	($$SELECT fqs_commit(9223372036854775807, 9223372036854775807)$$, 'P0002'),
	($$SELECT fqs_commit({cid}, 0)$$, '22023'),
	($$SELECT fqs_commit({cid}, -1)$$, '22023'),
	($$SELECT fqs_commit({cid}, -9223372036854775808)$$, '22023'),
	($$SELECT fqs_commit({cid}, 9223372036854775807)$$, '55000'),
	($$SELECT fqs_commit({cid}, '9223372036854775808')$$, '22003'),
	($$SELECT fqs_commit({cid}, {crc}, '')$$, 'ok'),
	($$SELECT fqs_commit({cid}, {crc}, repeat('r', 16777217))$$, '54000'),
	($$SELECT fqs_commit({rid}, {crc})$$, '55000'),
	($$SELECT fqs_commit({pid}, {crc})$$, '55000'),
	($$SELECT fqs_commit({sid1}, {src})$$, '55000'),
	($$SELECT fqs_commit({did}, 1)$$, '55000'),
-- complete
	($$SELECT fqs_complete(-1, 1)$$, 'P0002'),
	($$SELECT fqs_complete({sid1}, 0)$$, '22023'),
	($$SELECT fqs_complete({sid1}, -1)$$, '22023'),
	($$SELECT fqs_complete({sid1}, {crc})$$, '55000'),
	($$SELECT fqs_complete({sid2}, {src})$$, '55000'),
	($$SELECT fqs_complete({cid}, {crc})$$, '55000'),
	($$SELECT fqs_complete({cid}, {src})$$, '55000'),
	($$SELECT fqs_complete({pid}, {src})$$, '55000'),
	($$SELECT fqs_complete({did}, 1)$$, '55000'),
	($$SELECT fqs_complete({rid}, 1)$$, '55000'),
-- fail
	($$SELECT fqs_fail(-1, 1, 'e')$$, 'P0002'),
	($$SELECT fqs_fail({cid}, 0, 'e')$$, '22023'),
	($$SELECT fqs_fail({cid}, 1, 'e')$$, '55000'),
	($$SELECT fqs_fail({cid}, {crc}, '')$$, 'ok'),
	($$SELECT fqs_fail({cid}, {crc}, E'multi\nline\x01 ''%s'' \\')$$, 'ok'),
	($$SELECT fqs_fail({cid}, {crc}, 'e', '0')$$, 'ok'),
	($$SELECT fqs_fail({cid}, {crc}, 'e', '-1 second')$$, '22023'),
	($$SELECT fqs_fail({cid}, {crc}, 'e', '1 mon')$$, '22023'),
	($$SELECT fqs_fail({cid}, {crc}, 'e', '30 days')$$, 'ok'),
	($$SELECT fqs_fail({cid}, {crc}, 'e', '30 days 1 second')$$, '22023'),
	($$SELECT fqs_fail({cid}, {crc}, 'e', '2147483647 days')$$, '22023'),
	($$SELECT fqs_fail({cid}, {crc}, 'e', 'infinity')$$, '22007'),
	($$SELECT fqs_fail({sid1}, {src}, 'e')$$, 'ok'),
	($$SELECT fqs_fail({sid2}, {src}, 'e')$$, '55000'),
	($$SELECT fqs_fail({sid1}, {src}, 'e', '-1 second')$$, '22023'),
	($$SELECT fqs_fail({sid1}, {src}, 'e', '1 year')$$, '22023'),
	($$SELECT fqs_fail({did}, 1, 'e')$$, '55000'),
	($$SELECT fqs_fail({pid}, 1, 'e')$$, '55000'),
-- extend_lease
	($$SELECT fqs_extend_lease(-1, 1, '1 hour')$$, 'P0002'),
	($$SELECT fqs_extend_lease({cid}, 0, '1 hour')$$, '22023'),
	($$SELECT fqs_extend_lease({cid}, {crc}, '0')$$, '22023'),
	($$SELECT fqs_extend_lease({cid}, {crc}, '-1 second')$$, '22023'),
	($$SELECT fqs_extend_lease({cid}, {crc}, '1 mon')$$, '22023'),
	($$SELECT fqs_extend_lease({cid}, {crc}, '24 hours 1 second')$$, '22023'),
	($$SELECT fqs_extend_lease({cid}, {crc}, '2147483647 days')$$, '22023'),
	($$SELECT fqs_extend_lease({cid}, {crc}, 'infinity')$$, '22007'),
	($$SELECT fqs_extend_lease({cid}, {crc}, '24 hours') IS NOT NULL$$, 'ok'),
	($$SELECT fqs_extend_lease({sid1}, {src}, '1 hour') IS NOT NULL$$, 'ok'),
	($$SELECT fqs_extend_lease({sid2}, {src}, '1 hour') IS NOT NULL$$, 'ok'),
	($$SELECT fqs_extend_lease({sid1}, {src}, '25 hours')$$, '22023'),
	($$SELECT fqs_extend_lease({sid1}, {crc}, '1 hour')$$, '55000'),
	($$SELECT fqs_extend_lease({did}, 1, '1 hour')$$, '55000'),
-- retry, skip: dead messages, and messages held back (claimed, delayed,
-- in the pen, next of their key); nothing else
	($$SELECT fqs_retry(-1)$$, 'P0002'),
	($$SELECT fqs_retry(0)$$, 'P0002'),
	($$SELECT fqs_retry(9223372036854775807)$$, 'P0002'),
	($$SELECT fqs_retry({did})$$, 'ok'),
	($$SELECT fqs_retry({cid})$$, 'ok'),
	($$SELECT fqs_retry({sid1})$$, 'ok'),
	($$SELECT fqs_retry({sid2})$$, '55000'),
	($$SELECT fqs_retry({pid})$$, '55000'),
	-- a ready message is not held back: nothing to retry
	($$SELECT fqs_retry({rid})$$, '55000'),
	($$SELECT fqs_skip(-1, 'why')$$, 'P0002'),
	($$SELECT fqs_skip(9223372036854775807, 'why')$$, 'P0002'),
	($$SELECT fqs_skip({cid}, 'why')$$, 'ok'),
	($$SELECT fqs_skip({rid}, 'why')$$, 'ok'),
	($$SELECT fqs_skip({pid}, 'why')$$, '55000'),
	($$SELECT fqs_skip({sid1}, 'why')$$, '55000'),
	-- an empty reason is not a NULL: 22023, not 22004
	($$SELECT fqs_skip({did}, '')$$, '22023'),
	($$SELECT fqs_skip({did}, E'why\nnot %s')$$, 'ok'),
-- message status
	($$SELECT * FROM fqs_message_status(-1)$$, 'ok'),
	($$SELECT * FROM fqs_message_status(-9223372036854775808)$$, 'ok'),
	($$SELECT * FROM fqs_message_status({cid})$$, 'ok'),
-- grants
	($$SELECT fqs_grant('hostile_q', 'regress_hostile_role', 'ADMIN')$$, '22023'),
	($$SELECT fqs_grant('hostile_q', 'regress_hostile_role', ' produce')$$, '22023'),
	($$SELECT fqs_grant('hostile_q', 'regress_hostile_role', '')$$, '22023'),
	($$SELECT fqs_grant('hostile_q', 'regress_hostile_role', 'produce''; --')$$, '22023'),
	($$SELECT fqs_grant('hostile_q', 'regress_hostile_role', '%s%s%n')$$, '22023'),
	($$SELECT fqs_grant('hostile_q', 'regress_hostile_role', 'all')$$, '22023'),
	($$SELECT fqs_grant('hostile_q', 'regress_no_such_role', 'produce')$$, '42704'),
	($$SELECT fqs_grant('hostile_q', 'public', 'produce')$$, '42704'),
	-- no role: regrole '-' is InvalidOid, and an OID cast needs no role
	($$SELECT fqs_grant('hostile_q', '-', 'produce')$$, '42704'),
	($$SELECT fqs_grant('hostile_q', 0::oid::regrole, 'admin')$$, '42704'),
	($$SELECT fqs_grant('hostile_q', 4000000000::oid::regrole, 'admin')$$, '42704'),
	($$SELECT fqs_grant('*', 'regress_hostile_role', 'consume')$$, 'ok'),
	($$SELECT fqs_grant('hostile_q', 'pg_monitor', 'consume')$$, 'ok'),
	($$SELECT fqs_revoke('hostile_q', 'regress_hostile_role', 'admin')$$, 'ok'),
	($$SELECT fqs_revoke('hostile_q', 'regress_hostile_role', 'bogus')$$, '22023'),
	($$SELECT fqs_revoke('nosuch', 'regress_hostile_role', 'produce')$$, '42704'),
-- several calls in one statement: the second of two conflicting ones is
-- refused, never applied twice
	($$SELECT fqs_commit({cid}, {crc}), fqs_commit({cid}, {crc})$$, '55000'),
	($$SELECT fqs_fail({cid}, {crc}, 'e'), fqs_commit({cid}, {crc})$$, '55000'),
	($$SELECT fqs_commit({cid}, {crc}), fqs_fail({cid}, {crc}, 'e')$$, '55000'),
	($$SELECT fqs_commit({cid}, {crc}), fqs_extend_lease({cid}, {crc}, '1 hour')$$, '55000'),
	($$SELECT fqs_complete({sid1}, {src}), fqs_complete({sid1}, {src})$$, '55000'),
	($$SELECT fqs_complete({sid1}, {src}), fqs_complete({sid2}, {src})$$, 'ok'),
	($$SELECT fqs_complete({sid1}, {src}), fqs_complete({sid2}, {src}), fqs_complete({sid2}, {src})$$, '55000'),
	($$SELECT fqs_skip({did}, 'why'), fqs_skip({did}, 'why')$$, '55000'),
	($$SELECT fqs_skip({did}, 'why'), fqs_retry({did})$$, '55000'),
	($$SELECT fqs_retry({did}), fqs_commit({did}, 1)$$, '55000'),
	($$SELECT fqs_drop_queue('hostile_c', true), fqs_commit({cid}, {crc})$$, 'P0002'),
	($$SELECT fqs_drop_queue('hostile_e'), fqs_enqueue('hostile_e', 'x')$$, '42704'),
	($$SELECT fqs_enqueue('hostile_e', 'x'), fqs_drop_queue('hostile_e')$$, '55006'),
	($$SELECT fqs_claim('hostile_q') FROM generate_series(1, 3)$$, 'ok'),
	($$SELECT fqs_enqueue_batch('hostile_q', ARRAY['x', 'y'])$$, 'ok'),
	($$SELECT fqs_commit(id, receipt) FROM fqs_claim('hostile_q', 10)$$, 'ok'),
	($$SELECT fqs_enqueue('hostile_q', (SELECT payload FROM fqs_claim('hostile_q')))$$, 'ok'),
	($$SELECT fqs_enqueue('hostile_e', (SELECT payload FROM fqs_claim('hostile_e')))$$, '22004'),
-- others
	($$SELECT fqs_pause('nosuch')$$, '42704'),
	($$SELECT fqs_resume('hostile%')$$, '42704'),
	($$SELECT fqs_maintain()$$, 'ok'),
	($$SELECT fqs_rotate(false)$$, 'ok');

INSERT INTO hostile_call (call, expect, rows) VALUES
	($$SELECT * FROM fqs_workers()$$, 'ok', false);

-- Settings: bad values are refused; the bounds are superuser-only.
INSERT INTO hostile_call (call, expect) VALUES
	($$SET LOCAL fqs.max_payload_bytes = 0$$, '22023'),
	($$SET LOCAL fqs.max_payload_bytes = '2GB'$$, '22023'),
	($$SET LOCAL fqs.max_payload_bytes = -1$$, '22023'),
	($$SET LOCAL fqs.max_batch = 0$$, '22023'),
	($$SET LOCAL fqs.max_batch = 2147483647$$, '22023'),
	($$SET LOCAL fqs.max_lease = 0$$, '22023'),
	($$SET LOCAL fqs.max_lease = '-1s'$$, '22023'),
	($$SET LOCAL fqs.max_delay = '-1s'$$, '22023'),
	($$SET LOCAL fqs.max_wait = '100 years'$$, '22023'),
	($$SET LOCAL fqs.max_wait = 'infinity'$$, '22023'),
	($$SET LOCAL fqs.retention = -1$$, '55P02'),
	($$SET LOCAL fqs.naptime = 1$$, '55P02'),
	($$SET LOCAL fqs.max_databases = 2$$, '55P02');

-- Calls under lowered settings, and in a read-only transaction.
INSERT INTO hostile_call (call, expect, pre) VALUES
	($$SELECT fqs_enqueue('hostile_q', repeat('x', 10))$$, 'ok', 'SET LOCAL fqs.max_payload_bytes = 10'),
	($$SELECT fqs_enqueue('hostile_q', repeat('x', 11))$$, '54000', 'SET LOCAL fqs.max_payload_bytes = 10'),
	($$SELECT fqs_enqueue('hostile_q', repeat('é', 6))$$, '54000', 'SET LOCAL fqs.max_payload_bytes = 10'),
	($$SELECT fqs_commit({cid}, {crc}, repeat('x', 11))$$, '54000', 'SET LOCAL fqs.max_payload_bytes = 10'),
	-- headers, error texts and skip reasons are stored with the message:
	-- bounded too (by the payload limit, or a smaller one of their own)
	($$SELECT fqs_enqueue('hostile_q', 'x', headers => jsonb_build_object('h', repeat('x', 100000)))$$, '54000', 'SET LOCAL fqs.max_payload_bytes = 1000'),
	($$SELECT * FROM fqs_enqueue_batch('hostile_q', ARRAY['a'], headers => ARRAY[jsonb_build_object('h', repeat('x', 100000))])$$, '54000', 'SET LOCAL fqs.max_payload_bytes = 1000'),
	($$SELECT fqs_fail({cid}, {crc}, repeat('e', 100000))$$, '54000', 'SET LOCAL fqs.max_payload_bytes = 1000'),
	($$SELECT fqs_fail({sid1}, {src}, repeat('e', 100000))$$, '54000', 'SET LOCAL fqs.max_payload_bytes = 1000'),
	($$SELECT fqs_skip({did}, repeat('w', 100000))$$, '54000', 'SET LOCAL fqs.max_payload_bytes = 1000'),
	($$SELECT fqs_skip({cid}, repeat('w', 100000))$$, '54000', 'SET LOCAL fqs.max_payload_bytes = 1000'),
	($$SELECT * FROM fqs_enqueue_batch('hostile_q', ARRAY['a', 'b', 'c'])$$, '54000', 'SET LOCAL fqs.max_batch = 2'),
	($$SELECT * FROM fqs_claim('hostile_q', 3)$$, '22023', 'SET LOCAL fqs.max_batch = 2'),
	($$SELECT * FROM fqs_claim_any(ARRAY['hostile_q', 'hostile_e', 'hostile_c'])$$, '54000', 'SET LOCAL fqs.max_batch = 2'),
	($$SELECT * FROM fqs_claim('hostile_q', 1, lease => '2 seconds')$$, '22023', 'SET LOCAL fqs.max_lease = 1'),
	($$SELECT fqs_extend_lease({cid}, {crc}, '2 seconds')$$, '22023', 'SET LOCAL fqs.max_lease = 1'),
	($$SELECT fqs_enqueue('hostile_q', 'x', deliver_at => now() + interval '1 hour')$$, '22023', 'SET LOCAL fqs.max_delay = 0'),
	($$SELECT fqs_fail({cid}, {crc}, 'e', '1 second')$$, '22023', 'SET LOCAL fqs.max_delay = 0'),
	($$SELECT * FROM fqs_claim('hostile_e', 1, wait => '1 second')$$, '22023', 'SET LOCAL fqs.max_wait = 0'),
	($$SELECT fqs_enqueue('hostile_q', 'x')$$, '25006', 'SET LOCAL transaction_read_only = on'),
	($$SELECT * FROM fqs_claim('hostile_q')$$, '25006', 'SET LOCAL transaction_read_only = on'),
	($$SELECT fqs_commit({cid}, {crc})$$, '25006', 'SET LOCAL transaction_read_only = on'),
	($$SELECT * FROM fqs_message_status({cid})$$, 'ok', 'SET LOCAL transaction_read_only = on');

-- An unprivileged caller (produce on hostile_q only) is refused before
-- anything happens, whatever it passes.
INSERT INTO hostile_call (call, expect, as_role) VALUES
	($$SELECT fqs_enqueue('hostile_q', 'x')$$, 'ok', 'regress_hostile_role'),
	($$SELECT fqs_enqueue('hostile_c', 'x')$$, '42501', 'regress_hostile_role'),
	($$SELECT fqs_enqueue('nosuch', 'x')$$, '42704', 'regress_hostile_role'),
	($$SELECT fqs_enqueue(NULL, 'x')$$, '22004', 'regress_hostile_role'),
	($$SELECT * FROM fqs_claim('hostile_q')$$, '42501', 'regress_hostile_role'),
	($$SELECT * FROM fqs_claim_any(ARRAY['hostile_q'])$$, '42501', 'regress_hostile_role'),
	($$SELECT * FROM fqs_claim_sequential('hostile_q')$$, '42501', 'regress_hostile_role'),
	($$SELECT fqs_commit({cid}, {crc})$$, '42501', 'regress_hostile_role'),
	($$SELECT fqs_commit({cid}, 1)$$, '42501', 'regress_hostile_role'),
	($$SELECT fqs_commit(-1, 1)$$, 'P0002', 'regress_hostile_role'),
	($$SELECT fqs_fail({cid}, {crc}, 'e')$$, '42501', 'regress_hostile_role'),
	($$SELECT fqs_extend_lease({cid}, {crc}, '1 hour')$$, '42501', 'regress_hostile_role'),
	($$SELECT fqs_complete({sid1}, {src})$$, '42501', 'regress_hostile_role'),
	($$SELECT fqs_retry({did})$$, '42501', 'regress_hostile_role'),
	($$SELECT fqs_skip({did}, 'why')$$, '42501', 'regress_hostile_role'),
	($$SELECT * FROM fqs_message_status({cid})$$, 'ok', 'regress_hostile_role'),
	($$SELECT fqs_create_queue('hostile_new')$$, '42501', 'regress_hostile_role'),
	($$SELECT fqs_alter_queue('hostile_q', max_attempts => 1)$$, '42501', 'regress_hostile_role'),
	($$SELECT fqs_drop_queue('hostile_q', true)$$, '42501', 'regress_hostile_role'),
	($$SELECT fqs_pause('hostile_q')$$, '42501', 'regress_hostile_role'),
	($$SELECT fqs_grant('hostile_q', 'regress_hostile_role', 'admin')$$, '42501', 'regress_hostile_role'),
	($$SELECT fqs_grant('*', 'regress_hostile_role', 'admin')$$, '42501', 'regress_hostile_role'),
	($$SELECT fqs_revoke('hostile_q', 'regress_hostile_role', 'produce')$$, '42501', 'regress_hostile_role'),
	($$SELECT fqs_rotate(true)$$, '42501', 'regress_hostile_role'),
	($$SELECT fqs_maintain()$$, '42501', 'regress_hostile_role'),
	($$SET LOCAL fqs.max_batch = 1000000$$, '42501', 'regress_hostile_role'),
	($$SET LOCAL fqs.max_payload_bytes = 1$$, '42501', 'regress_hostile_role'),
	($$SELECT fqs.receipt()$$, '42501', 'regress_hostile_role'),
	($$SELECT fqs.start_worker()$$, '42501', 'regress_hostile_role'),
	($$SELECT count(*) FROM fqs.message$$, '42501', 'regress_hostile_role');

-- ---------------------------------------------------------------------
-- The sweep
-- ---------------------------------------------------------------------
CREATE TEMP TABLE hostile_result (n int PRIMARY KEY, errored boolean,
								  sqlstate text, result text, state_ok boolean);
DO $$
DECLARE
	c record;
	v record;
	base text := hostile_fp();
	q text;
	st text;
	msg text;
	cnt bigint;
	changed boolean;
	errored boolean;
BEGIN
	FOR c IN SELECT * FROM hostile_call ORDER BY n LOOP
		q := c.call;
		FOR v IN SELECT * FROM hostile_val LOOP
			q := replace(q, '{' || v.name || '}', v.val);
		END LOOP;
		errored := false;
		BEGIN
			BEGIN
				IF c.pre IS NOT NULL THEN
					EXECUTE c.pre;
				END IF;
				IF c.as_role IS NOT NULL THEN
					PERFORM set_config('role', c.as_role, true);
				END IF;
				EXECUTE q;
				GET DIAGNOSTICS cnt = ROW_COUNT;
				IF c.as_role IS NOT NULL THEN
					RESET ROLE;
				END IF;
				changed := hostile_fp() <> base;
			EXCEPTION WHEN others THEN
				GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
				errored := true;
			END;
			-- undo what an accepted call did: the next call starts afresh
			IF NOT errored THEN
				RAISE EXCEPTION USING ERRCODE = 'HS001';
			END IF;
		EXCEPTION WHEN SQLSTATE 'HS001' THEN
			NULL;
		END;
		INSERT INTO hostile_result VALUES (
			c.n, errored, st,
			CASE WHEN errored THEN
				st || ': ' || left(hostile_show(regexp_replace(msg,
					'(message|receipt|id) -?[0-9]+', '\1 N', 'g')), 200)
			ELSE
				'ok' || CASE WHEN c.rows THEN ', ' || cnt || ' row(s)' ELSE '' END
					 || CASE WHEN changed THEN ', changes state' ELSE '' END
			END,
			hostile_fp() = base);
	END LOOP;
	-- and nothing is left behind by the sweep as a whole
	IF hostile_fp() <> base THEN
		RAISE WARNING 'state after the sweep differs from before';
	END IF;
END $$;

-- The report, one row per call (unaligned: a changed row changes one line).
\pset format unaligned
SELECT c.call
	   || CASE WHEN c.pre IS NOT NULL THEN '  [' || c.pre || ']' ELSE '' END
	   || CASE WHEN c.as_role IS NOT NULL THEN '  [as ' || c.as_role || ']' ELSE '' END
	   AS call,
	   r.result,
	   concat_ws('; ',
			CASE WHEN (r.errored AND r.sqlstate IS DISTINCT FROM c.expect)
				   OR (NOT r.errored AND c.expect <> 'ok')
				 THEN 'UNEXPECTED, want ' || c.expect END,
			CASE WHEN NOT r.state_ok THEN 'STATE CHANGED' END) AS verdict
  FROM hostile_call c JOIN hostile_result r USING (n)
 ORDER BY c.n;
\pset format aligned

-- Summary: calls tried, refused, accepted; nothing crashed (we are still
-- here) and no refused call changed state.
SELECT count(*) AS calls,
	   count(*) FILTER (WHERE r.errored) AS refused,
	   count(*) FILTER (WHERE NOT r.errored) AS accepted,
	   count(*) FILTER (WHERE r.errored AND NOT r.state_ok) AS refused_but_changed,
	   count(*) FILTER (WHERE (r.errored AND r.sqlstate IS DISTINCT FROM c.expect)
						   OR (NOT r.errored AND c.expect <> 'ok')) AS unexpected,
	   count(*) FILTER (WHERE r.sqlstate = 'XX000') AS internal_errors
  FROM hostile_call c JOIN hostile_result r USING (n);

-- ---------------------------------------------------------------------
-- Valid but awkward names work as data end to end, and never as SQL:
-- create, grant, enqueue (key and headers carry the name), claim, commit,
-- claim sequentially, complete, status, drop.
-- ---------------------------------------------------------------------
CREATE TEMP TABLE hostile_name (n serial, name text);
INSERT INTO hostile_name (name) VALUES
	('hostile''q'), ('hostile"q'), ('hostile%'), ('hostile_%'), (E'hostile\\q'),
	('hostile%s%s%s%n%x'), ('hostile$$q'), ('hostile;q'), ('hostile q'),
	('x''); DROP TABLE fqs.queue; --'), (E'hostile\u00e9\u4e2d'),
	(repeat('é', 31) || 'x'), (E'a\u200bb'), (' ');
CREATE TEMP TABLE hostile_name_result (n int, result text);
DO $$
DECLARE
	nm record;
	r record;
	id1 bigint;
	s record;
	res text;
	st text;
	msg text;
	nqueues bigint := (SELECT count(*) FROM fqs.queue);
	ntables bigint := (SELECT count(*) FROM pg_class
						WHERE relnamespace = 'fqs'::regnamespace);
BEGIN
	FOR nm IN SELECT * FROM hostile_name ORDER BY n LOOP
		BEGIN
			PERFORM fqs_create_queue(nm.name);
			PERFORM fqs_grant(nm.name, 'regress_hostile_role', 'consume');
			id1 := fqs_enqueue(nm.name, nm.name, fifo_key => nm.name,
							   headers => jsonb_build_object('q', nm.name),
							   dedup_id => nm.name);
			IF fqs_enqueue(nm.name, 'dup', dedup_id => nm.name) <> id1 THEN
				RAISE EXCEPTION 'dedup_id did not dedup';
			END IF;
			SELECT * INTO r FROM fqs_claim(nm.name, 5, lease => '1 hour');
			IF r.id <> id1 OR r.payload <> nm.name OR r.fifo_key <> nm.name
			   OR r.headers->>'q' <> nm.name THEN
				RAISE EXCEPTION 'claim returned %', r;
			END IF;
			PERFORM fqs_commit(r.id, r.receipt, 'result ' || nm.name);
			SELECT * INTO r FROM fqs_claim_sequential(nm.name, 5, lease => '1 hour');
			IF r.id <> id1 OR r.payload <> 'result ' || nm.name
			   OR r.fifo_key <> nm.name THEN
				RAISE EXCEPTION 'sequential claim returned %', r;
			END IF;
			PERFORM fqs_complete(r.id, r.receipt);
			SELECT * INTO s FROM fqs_message_status(id1);
			IF s.queue <> nm.name OR s.state <> 'done' THEN
				RAISE EXCEPTION 'status %', s;
			END IF;
			IF (SELECT done_total FROM fqs_queues WHERE queue = nm.name) <> 1 THEN
				RAISE EXCEPTION 'fqs_queues has no row for it';
			END IF;
			PERFORM fqs_drop_queue(nm.name);
			res := 'ok';
		EXCEPTION WHEN others THEN
			GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
			res := st || ': ' || regexp_replace(msg, '[0-9]+', 'N', 'g');
		END;
		INSERT INTO hostile_name_result VALUES (nm.n, res);
	END LOOP;
	IF (SELECT count(*) FROM fqs.queue) <> nqueues
	   OR (SELECT count(*) FROM pg_class
			WHERE relnamespace = 'fqs'::regnamespace) <> ntables THEN
		RAISE WARNING 'queues or tables changed';
	END IF;
END $$;
SELECT hostile_show(n.name) AS name, octet_length(n.name) AS bytes, r.result
  FROM hostile_name n JOIN hostile_name_result r USING (n) ORDER BY n.n;

-- ---------------------------------------------------------------------
-- What a rolled-back subtransaction did is gone for good: its enqueues do
-- not count toward the ready depth that sends messages to the pen.
-- (max_ready 5; fqs_maintain() counts the depth, 1; four messages are
-- enqueued in subtransactions that roll back; the next one finds a depth
-- of 1, not 5, and is ready.)
-- ---------------------------------------------------------------------
SELECT fqs_create_queue('hostile_depth', max_ready => 5);
SELECT fqs_enqueue('hostile_depth', 'seed') > 0 AS seeded;
SELECT fqs_maintain();
BEGIN;
SAVEPOINT s;
SELECT count(*) FROM fqs_enqueue_batch('hostile_depth', ARRAY['a', 'b']);
ROLLBACK TO SAVEPOINT s;
SELECT regress_err($$WITH e AS (SELECT id FROM fqs_enqueue_batch('hostile_depth', ARRAY['c', 'd']) id)
					 SELECT sum(id) / 0 FROM e$$);
SELECT fqs_enqueue('hostile_depth', 'after the rollbacks') AS id \gset
SELECT s.state, CASE WHEN s.state <> 'ready' THEN 'UNEXPECTED, want ready' END AS verdict
  FROM fqs_message_status(:id) s;
COMMIT;

-- ---------------------------------------------------------------------
-- Clean up
-- ---------------------------------------------------------------------
SELECT fqs_drop_queue(name, true)
  FROM (VALUES ('hostile_q'), ('hostile_c'), ('hostile_s'), ('hostile_d'),
			   ('hostile_e'), ('hostile_depth')) v(name);
SELECT count(*) AS hostile_grants_left FROM fqs.grants
 WHERE role = 'regress_hostile_role'::regrole;
DROP ROLE regress_hostile_role;
DROP FUNCTION hostile_fp();
DROP FUNCTION hostile_show(text);
DROP TABLE hostile_val, hostile_call, hostile_sample, hostile_null_ok,
		   hostile_result, hostile_name, hostile_name_result;
RESET client_min_messages;
