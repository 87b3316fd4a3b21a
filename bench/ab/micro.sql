-- ab micro: CPU time of one backend per API call, no concurrency.
-- psql variables: n (calls per phase), q (a fresh queue, max_ready 0).
-- Three phases on the same n messages, each call in its own transaction
-- (COMMIT in a DO block): fqs_enqueue; fqs_claim(q, 1) + fqs_commit;
-- fqs_claim_sequential(q, 1) + fqs_complete.  Before and after each phase
-- the backend's utime+stime (clock ticks) is printed from /proc as
-- "ticks <phase> <before|after> <ticks>" (psql must run on the server's
-- machine, as a user who may read the backend's /proc/<pid>/stat).  Not
-- run by bench/ab.sh; by hand against a cluster it left running (KEEP=1):
--   psql -h <socket> -p <port> -U ab_user -d abdb -XqAt -v n=4000 -v q=qm \
--        -f bench/ab/micro.sql |
--     awk '$1 == "ticks" { t[$2, $3] = $4 } END { for (p in t) ... }'
-- microseconds per call = (after - before) * 1e6 / CLK_TCK / n, on a fresh
-- queue qm (fqs_create_queue('qm', max_ready => 0)).  (psql does not look
-- into dollar quotes, hence the DO blocks are made with format() and \gexec.)
SELECT pg_backend_pid() AS pid \gset
\setenv ABPID :pid
-- warm up: plans, caches, the privilege cache
SELECT format($f$DO $d$ BEGIN
  PERFORM fqs_enqueue(%1$L, 'payload', 'k1'); COMMIT;
  PERFORM fqs_commit(id, receipt) FROM fqs_claim(%1$L, 1); COMMIT;
  PERFORM fqs_complete(id, receipt) FROM fqs_claim_sequential(%1$L, 1); COMMIT;
END $d$$f$, :'q') \gexec
\! awk '{ print "ticks enqueue before", $14 + $15 }' /proc/$ABPID/stat
SELECT format($f$DO $d$ BEGIN FOR i IN 1 .. %2$s LOOP
  PERFORM fqs_enqueue(%1$L, 'payload', 'k' || (1 + i %% 100)); COMMIT;
END LOOP; END $d$$f$, :'q', :n) \gexec
\! awk '{ print "ticks enqueue after", $14 + $15 }' /proc/$ABPID/stat
\! awk '{ print "ticks claim before", $14 + $15 }' /proc/$ABPID/stat
SELECT format($f$DO $d$ BEGIN FOR i IN 1 .. %2$s LOOP
  PERFORM fqs_commit(id, receipt) FROM fqs_claim(%1$L, 1); COMMIT;
END LOOP; END $d$$f$, :'q', :n) \gexec
\! awk '{ print "ticks claim after", $14 + $15 }' /proc/$ABPID/stat
\! awk '{ print "ticks sequential before", $14 + $15 }' /proc/$ABPID/stat
SELECT format($f$DO $d$ BEGIN FOR i IN 1 .. %2$s LOOP
  PERFORM fqs_complete(id, receipt) FROM fqs_claim_sequential(%1$L, 1); COMMIT;
END LOOP; END $d$$f$, :'q', :n) \gexec
\! awk '{ print "ticks sequential after", $14 + $15 }' /proc/$ABPID/stat
SELECT 1 AS end_of_micro;
