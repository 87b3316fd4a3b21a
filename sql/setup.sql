-- Install fqs and check what it exposes.
\set VERBOSITY terse
CREATE EXTENSION fqs;
SELECT extversion FROM pg_extension WHERE extname = 'fqs';
-- the public API lives in the extension's schema, internals in schema fqs
SELECT p.proname
  FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid AND d.deptype = 'e'
  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'fqs'
 ORDER BY 1;
SELECT c.relname, c.relkind
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'fqs' AND c.relkind IN ('r', 'p')
 ORDER BY 1;
-- no foreign keys on fqs tables
SELECT count(*) AS fks FROM pg_constraint c
  JOIN pg_namespace n ON n.oid = c.connamespace
 WHERE n.nspname = 'fqs' AND c.contype = 'f';
-- internal tables are not open to PUBLIC
SELECT has_table_privilege('public', 'fqs.message', 'SELECT') AS public_reads;
SHOW fqs.max_payload_bytes;
SHOW fqs.retention;
-- for the later suites: run a statement, show its SQLSTATE and message
-- (ids and receipts vary from run to run, so they are masked)
CREATE FUNCTION regress_err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE q;
	RETURN 'no error';
EXCEPTION WHEN others THEN
	RETURN SQLSTATE || ': ' ||
		regexp_replace(SQLERRM, '(message|receipt) [0-9]+', '\1 N', 'g');
END $$;
