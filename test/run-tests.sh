#!/usr/bin/env bash
# Build and install fqs, then run every suite (pg_regress, isolation, TAP)
# against throwaway clusters, and print one line "N passed, N failed".
#
# PostgreSQL refuses to run as root, so when run as root the suites run as
# the unprivileged "postgres" account (created by the Debian package) in a
# copy of the tree that account owns.  Exit status is non-zero if anything
# failed.
set -uo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
export PG_CONFIG

cd "$top"
if ! make -s PG_CONFIG="$PG_CONFIG" COPT='-Werror' >/tmp/fqs-build.log 2>&1; then
	cat /tmp/fqs-build.log
	echo "build failed"
	echo "0 passed, 1 failed"
	exit 1
fi
if ! make -s PG_CONFIG="$PG_CONFIG" install >/tmp/fqs-install.log 2>&1; then
	cat /tmp/fqs-install.log
	echo "install failed (run as root, or own the PostgreSQL install directories)"
	echo "0 passed, 1 failed"
	exit 1
fi

if [ "$(id -u)" = 0 ]; then
	runner=postgres
	work=$(mktemp -d /tmp/fqs-test.XXXXXX)
	tar -C "$top" --exclude=.git -cf - . | tar -C "$work" -xf -
	chown -R "$runner" "$work"
	as() { su "$runner" -s /bin/bash -c "cd '$work' && $*"; }
else
	work=$top
	as() { bash -c "cd '$work' && $*"; }
fi

# the suites run in a copy without .git: hand the documentation check the
# list of tracked files
if git -C "$top" rev-parse --git-dir >/dev/null 2>&1; then
	git -C "$top" ls-files >"$work/.tracked-files"
	export FQS_TRACKED_FILES="$work/.tracked-files"
	[ "$work" != "$top" ] && chown "$runner" "$work/.tracked-files"
fi

logdir=${FQS_TEST_LOGDIR:-$top/test/log}
rm -rf "$logdir"
mkdir -p "$logdir"
passed=0
failed=0

# pg_regress and pg_isolation_regress print one "... ok" or "... FAILED"
# line per test; PG16+ prints "ok N - name" / "not ok N - name".
count_regress() {
	local log=$1 p f
	p=$(grep -Ec '\.\.\. ok|^ok [0-9]+ ' "$log")
	f=$(grep -Ec '\.\.\. FAILED|\.\.\. failed|^not ok [0-9]+ ' "$log")
	# a run that died before any test (e.g. the server did not start)
	if [ "$p" = 0 ] && [ "$f" = 0 ]; then f=1; fi
	passed=$((passed + p))
	failed=$((failed + f))
	echo "  $p passed, $f failed"
}

echo "== pg_regress"
as "make -s PG_CONFIG='$PG_CONFIG' installcheck ISOLATION= TAP_TESTS=" >"$logdir/regress.log" 2>&1
cat "$logdir/regress.log" | grep -E '^(test| +[a-z_]+ +\.\.\.)|\.\.\. |ok [0-9]' || true
count_regress "$logdir/regress.log"
[ -f "$work/regression.diffs" ] && cp "$work/regression.diffs" "$logdir/" && cat "$work/regression.diffs"

echo "== isolation"
# The specs run once per isolation level of the sessions
# (default_transaction_isolation), each level against its own expected
# output: READ COMMITTED (test/isolation/expected), REPEATABLE READ
# (test/isolation/rr/expected) and SERIALIZABLE (test/isolation/ser/expected).
# Every level counts each of its tests.
# A fourth pass runs them at READ COMMITTED without shared_preload_libraries
# (the plain SKIP LOCKED path), leaving out those that need shared memory.
for level in rc rr ser nopreload; do
	case $level in
	rc) name="READ COMMITTED"; opt= ;;
	rr) name="REPEATABLE READ"; opt="FQS_ISO_LEVEL=rr" ;;
	ser) name="SERIALIZABLE"; opt="FQS_ISO_LEVEL=ser" ;;
	nopreload) name="READ COMMITTED, without shared_preload_libraries"; opt="FQS_NOPRELOAD=1" ;;
	esac
	echo "-- $name"
	rm -f "$work/output_iso/regression.diffs"
	as "make -s PG_CONFIG='$PG_CONFIG' installcheck REGRESS= TAP_TESTS= $opt" >"$logdir/isolation-$level.log" 2>&1
	grep -E '\.\.\. |ok [0-9]' "$logdir/isolation-$level.log" || true
	count_regress "$logdir/isolation-$level.log"
	[ -f "$work/output_iso/regression.diffs" ] && cp "$work/output_iso/regression.diffs" "$logdir/isolation-$level.diffs" && cat "$work/output_iso/regression.diffs"
done

echo "== TAP"
as "make -s PG_CONFIG='$PG_CONFIG' installcheck REGRESS= ISOLATION= PROVE_FLAGS=-v" >"$logdir/tap.log" 2>&1
tap_rc=$?
grep -E '^(ok|not ok) [0-9]+|^t/|^Result' "$logdir/tap.log" || true
p=$(grep -Ec '^ok [0-9]+' "$logdir/tap.log")
f=$(grep -Ec '^not ok [0-9]+' "$logdir/tap.log")
# a script that died mid-way, or a failing make, counts as a failure
if [ $tap_rc != 0 ] && [ "$f" = 0 ]; then f=1; fi
[ $tap_rc != 0 ] && tail -40 "$logdir/tap.log"
[ -d "$work/tmp_check/log" ] && cp -r "$work/tmp_check/log" "$logdir/tap-logs" 2>/dev/null
passed=$((passed + p))
failed=$((failed + f))
echo "  $p passed, $f failed"

echo "== META.json and the Debian package (test/package.sh)"
# META.json against fqs.control and debian/changelog; as root also the .deb,
# built from the tracked files, installed (in a mount namespace of its own),
# the pg_regress suites against it, and its removal.  The system's fqs stays
# the one make install put there above.  FQS_SKIP_PACKAGE=1 leaves out all
# but the META.json checks.
FQS_PACKAGE_LOGDIR="$logdir/package" bash "$top/test/package.sh" >"$logdir/package.log" 2>&1
grep -vE '^[0-9]+ passed, [0-9]+ failed$' "$logdir/package.log" || true
line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$logdir/package.log" | tail -1)
p=$(echo "$line" | sed -n 's/^\([0-9]*\) passed.*/\1/p')
f=$(echo "$line" | sed -n 's/.* \([0-9]*\) failed.*/\1/p')
if [ -z "$p" ] || [ -z "$f" ]; then
	p=0
	f=1
fi
passed=$((passed + p))
failed=$((failed + f))
echo "  $p passed, $f failed"

echo "== assert-enabled PostgreSQL (test/cassert.sh)"
# the regression and isolation suites and a stress, against PostgreSQL 15
# built from the Debian source package with --enable-cassert (cached in
# /var/cache/fqs-cassert); it needs root for apt-get
if [ "$(id -u)" = 0 ] && [ "${FQS_SKIP_CASSERT:-0}" != 1 ]; then
	FQS_CASSERT_LOGDIR="$logdir/cassert" bash "$top/test/cassert.sh" >"$logdir/cassert.log" 2>&1
	grep -E '^(==|   ok|   FAIL|   not ok)|TRAP' "$logdir/cassert.log" | tail -60 || true
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$logdir/cassert.log" | tail -1)
	p=$(echo "$line" | sed -n 's/^\([0-9]*\) passed.*/\1/p')
	f=$(echo "$line" | sed -n 's/.* \([0-9]*\) failed.*/\1/p')
	if [ -z "$p" ] || [ -z "$f" ]; then
		tail -40 "$logdir/cassert.log"
		p=0
		f=1
	fi
	passed=$((passed + p))
	failed=$((failed + f))
	echo "  $p passed, $f failed"
else
	echo "  skipped (needs root; FQS_SKIP_CASSERT=1 skips it too)"
fi

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
