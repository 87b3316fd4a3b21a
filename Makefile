# fqs: PGXS build.
#
# Tests: `make install && make installcheck` runs the pg_regress suites and
# the isolation specs against throwaway clusters (--temp-instance), and
# `make prove_installcheck` the TAP tests.  test/run-tests.sh drives all of
# them and prints one "N passed, N failed" line.

EXTENSION = fqs fqs_router
MODULE_big = fqs
OBJS = src/fqs.o src/util.o src/shmem.o src/enqueue.o src/claim.o src/sequential.o src/admin.o src/worker.o src/acl.o src/breaker.o src/scan.o src/tail.o src/metrics.o
PGFILEDESC = "fqs - ordered two-stage message queue"

DATA = $(wildcard src/fqs--*.sql) $(wildcard router/fqs_router--*.sql)
PG_CPPFLAGS = -Isrc
# -Wextra, less unused-parameter: PostgreSQL's own headers (and callback
# signatures) have parameters a given caller does not use.
PG_CFLAGS = -Wall -Wextra -Wno-unused-parameter

REGRESS = setup api errors sequential admin views wait privileges rotate breaker failure hostile arrays metrics move upgrade
REGRESS_OPTS = --temp-config=test/fqs.conf --temp-instance=./tmp_check
# The isolation specs run at READ COMMITTED, the default; with
# FQS_ISO_LEVEL=rr or FQS_ISO_LEVEL=ser, test/isolation/<level>.conf sets
# default_transaction_isolation to REPEATABLE READ or SERIALIZABLE and the
# expected output comes from test/isolation/<level>/expected (its specs
# directory links to the shared specs).  test/run-tests.sh runs all three.
ISOLATION = isolation_level claim_skip_locked enqueue_order lost_release dead_head compose pen_mover max_claimed \
	rr_complete drop_enqueue skip_complete seq_lease_reaper lock_squat \
	failure_threshold failure_probe failure_success array_key_order scan_cursor key_tail \
	seq_lease_cursor key_lock_queue key_gate_run move_claim
# specs whose outcome needs shared memory (the holding pen's depth
# estimate, the failure breaker); FQS_NOPRELOAD=1 runs the others without
# shared_preload_libraries (test/fqs-nopreload.conf)
ISOLATION_SHMEM = pen_mover failure_threshold failure_probe failure_success
ifdef FQS_NOPRELOAD
ISOLATION := $(filter-out $(ISOLATION_SHMEM),$(ISOLATION))
endif
ISOLATION_OPTS = --inputdir=test/isolation$(if $(FQS_ISO_LEVEL),/$(FQS_ISO_LEVEL)) \
	--temp-config=$(if $(FQS_NOPRELOAD),test/fqs-nopreload.conf,test/fqs-noworker.conf) $(if $(FQS_ISO_LEVEL),--temp-config=test/isolation/$(FQS_ISO_LEVEL).conf) \
	--temp-instance=./tmp_check_iso
TAP_TESTS = 1
PROVE_TESTS = test/t/*.pl

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)
