-- ab: run once per cluster in database abdb as the bootstrap superuser,
-- after CREATE EXTENSION fqs.  psql variable: side (OLD or NEW; unused).
-- Queues: qe for the enqueue workload (max_ready so large that the pen
-- never opens, but a queue that has one: the enqueue checks the depth),
-- qc, qp and qb for the others (max_ready 0: no holding pen).
SELECT fqs_create_queue('qe', max_ready => 1000000000);
SELECT fqs_create_queue('qc', max_ready => 0);
SELECT fqs_create_queue('qp', max_ready => 0);
SELECT fqs_create_queue('qb', max_ready => 0);
-- the role pgbench runs as: a plain login role, a member of fqs_producer
-- and fqs_consumer where the fqs build has them (builds with per-queue
-- privileges), so every call goes through the privilege check.  Builds
-- before them (7fc90a1) have no such roles and no check: their API
-- functions were SECURITY DEFINER and callable by PUBLIC.
SELECT format('CREATE ROLE ab_user LOGIN NOSUPERUSER')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'ab_user') \gexec
SELECT format('GRANT %I TO ab_user', r)
  FROM unnest(ARRAY['fqs_producer', 'fqs_consumer']) AS r
 WHERE EXISTS (SELECT FROM pg_roles WHERE rolname = r) \gexec
