-- pgmq itself is loaded by peers.sh from the published pgmq.sql before this
-- runs (its code is not part of this repository).  This only checks it.
DO $$
BEGIN
  IF to_regprocedure('pgmq.read(text,integer,integer,jsonb)') IS NULL THEN
    RAISE EXCEPTION 'pgmq is not loaded in database %', current_database();
  END IF;
END $$;
