#!/usr/bin/env bash
# Memory checking: run fqs against a PostgreSQL 15 built with
# --enable-cassert (assertions, MEMORY_CONTEXT_CHECKING, CLOBBER_FREED_MEMORY).
#
#  1. adds deb-src entries for the configured Debian repositories (a file of
#     its own in /etc/apt/sources.list.d), installs a minimal set of build
#     tools and fetches the postgresql-15 source package (the newest version
#     the mirror serves), unpacked without the Debian patches, one of which
#     would install over the system's /usr/lib/postgresql/15/lib;
#  2. builds and installs it with --enable-cassert --enable-debug into
#     $FQS_CASSERT_CACHE/pg15-cassert, once: a later run reuses the tree as
#     long as it was built from the same source version and options;
#  3. builds fqs against it (-Werror) in a copy of the repository tree;
#  4. runs the pg_regress suites and the isolation specs (at every isolation
#     level the Makefile knows), then a stress on a throwaway cluster: a
#     10,000-message fqs_enqueue_batch, fqs_claim and fqs_commit of all of
#     them, fqs_claim_sequential(n => 10000) and fqs_complete, and waiting
#     claims (wait => '10 seconds') while another session runs 500 rounds of
#     enqueue / claim+commit / claim_sequential+complete transactions;
#  5. fails when any server log shows an assertion failure (TRAP:), a crash
#     (terminated by signal, PANIC) or a memory or resource-leak warning.
#
# The last line printed is "N passed, N failed" (one count per step); the
# exit status is non-zero if anything failed.  Needs root for apt-get and
# installing into the cache; the servers run as the "postgres" account.
#
# Environment:
#   FQS_CASSERT_CACHE   cache directory (default /var/cache/fqs-cassert)
#   FQS_CASSERT_LOGDIR  logs (default test/log/cassert in the repository)
#   FQS_CASSERT_JOBS    make -j for the PostgreSQL build (default: nproc)
#   FQS_CASSERT_TREE    the fqs tree to test (default: this repository)
#   FQS_CASSERT_KEEP=1  keep the work copy and the stress cluster
set -uo pipefail
umask 022

top=$(cd "$(dirname "$0")/.." && pwd)
tree=${FQS_CASSERT_TREE:-$top}
cache=${FQS_CASSERT_CACHE:-/var/cache/fqs-cassert}
prefix=$cache/pg15-cassert
pg_config=$prefix/bin/pg_config
logdir=${FQS_CASSERT_LOGDIR:-$top/test/log/cassert}
jobs=${FQS_CASSERT_JOBS:-$(nproc 2>/dev/null || echo 2)}
runner=postgres
pkg=postgresql-15
# options of the PostgreSQL build; part of the cache key
pg_cflags="-O1 -g -fno-omit-frame-pointer"
pg_configure="--enable-cassert --enable-debug --with-openssl --without-icu --with-system-tzdata=/usr/share/zoneinfo"

passed=0
failed=0
t_start=$SECONDS
work=
stress=

rm -rf "$logdir"
mkdir -p "$logdir"

finish() {
	if [ "${FQS_CASSERT_KEEP:-0}" != 1 ]; then
		[ -n "$stress" ] && [ -d "$stress" ] && rm -rf "$stress"
		[ -n "$work" ] && [ -d "$work" ] && rm -rf "$work"
	fi
	echo "(total $((SECONDS - t_start))s; logs in $logdir)"
	echo "$passed passed, $failed failed"
	[ "$failed" = 0 ]
	exit
}
# interrupted: stop the stress cluster, if it runs, and report
on_signal() {
	trap - INT TERM
	if [ -n "$stress" ] && [ -f "$stress/data/postmaster.pid" ]; then
		as_runner "'$prefix/bin/pg_ctl' -D '$stress/data' -m immediate stop" >/dev/null 2>&1
	fi
	failed=$((failed + 1))
	echo "   FAILED: interrupted"
	finish
}
trap on_signal INT TERM
ok() { passed=$((passed + 1)); echo "   ok: $*"; }
bad() { failed=$((failed + 1)); echo "   FAILED: $*"; }
die() { bad "$*"; finish; }
as_runner() { su "$runner" -s /bin/bash -c "$*"; }

if [ "$(id -u)" != 0 ]; then
	echo "run as root: it needs apt-get, and runs the servers as $runner"
	echo "0 passed, 1 failed"
	exit 1
fi
if ! id "$runner" >/dev/null 2>&1; then
	echo "no '$runner' account (it comes with the postgresql-common package)"
	echo "0 passed, 1 failed"
	exit 1
fi

# ---------------------------------------------------------------------------
echo "== build tools and the $pkg source"
export DEBIAN_FRONTEND=noninteractive

# deb-src: one entry per active Debian deb entry (deb822 *.sources, and
# one-line "deb" lines in *.list), same URIs/Suites/Components, in a file of
# our own, rewritten only when it would change.  Skipped when some other
# file already enables deb-src.
srcfile=/etc/apt/sources.list.d/fqs-cassert-deb-src.sources
add_deb_src() {
	local others new
	others=$(ls /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null | grep -vxF "$srcfile")
	if [ -n "$others" ] && grep -hqE '^[[:space:]]*(deb-src[[:space:]]|Types:.*deb-src)' $others; then
		rm -f "$srcfile"
		return 0
	fi
	new=$(
		for f in /etc/apt/sources.list.d/*.sources; do
			[ -f "$f" ] && [ "$f" != "$srcfile" ] || continue
			# paragraphs are separated by blank lines; keep those that are
			# enabled, of type deb, from a Debian archive
			awk '
				function flush() {
					if (types ~ /(^|[ \t])deb([ \t]|$)/ && enabled !~ /^[ \t]*no/ &&
					    (uris ~ /debian/ || signed ~ /debian-archive-keyring/))
						printf "Types: deb-src\nURIs:%s\nSuites:%s\nComponents:%s\n%s\n",
							uris, suites, comps, signed == "" ? "" : "Signed-By:" signed "\n"
					types = uris = suites = comps = signed = enabled = ""
				}
				/^#/ { next }
				/^[ \t]*$/ { flush(); next }
				/^Types:/ { types = substr($0, 7) }
				/^URIs:/ { uris = substr($0, 6) }
				/^Suites:/ { suites = substr($0, 8) }
				/^Components:/ { comps = substr($0, 12) }
				/^Signed-By:/ { signed = substr($0, 11) }
				/^Enabled:/ { enabled = substr($0, 9) }
				END { flush() }
			' "$f"
		done
		# one-line format: deb [opts] uri suite comps...
		for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
			[ -f "$f" ] || continue
			awk '
				$1 == "deb" && /debian/ {
					i = 2; opts = ""
					if ($2 ~ /^\[/) { while ($i !~ /\]$/) { opts = opts " " $i; i++ } opts = opts " " $i; i++ }
					comps = ""
					for (j = i + 2; j <= NF; j++) comps = comps " " $j
					printf "Types: deb-src\nURIs: %s\nSuites: %s\nComponents:%s\n", $i, $(i + 1), comps
					if (opts ~ /signed-by=/) { s = opts; sub(/.*signed-by=/, "", s); sub(/[ \]].*/, "", s); printf "Signed-By: %s\n", s }
					printf "\n"
				}
			' "$f"
		done
	)
	if [ -z "$new" ]; then
		echo "   found no Debian deb entry to mirror as deb-src"
		return 1
	fi
	new="# Written by fqs test/cassert.sh: source packages for the cassert build.
$new"
	if [ ! -f "$srcfile" ] || [ "$(cat "$srcfile")" != "$new" ]; then
		printf '%s\n' "$new" >"$srcfile"
		echo "   wrote $srcfile"
	fi
}

cached_build_ok() { [ -x "$prefix/bin/postgres" ] && [ -f "$prefix/.fqs-cassert-stamp" ]; }

apt_ok=1
if ! add_deb_src; then
	apt_ok=0
elif ! apt-get update -qq >"$logdir/apt-update.log" 2>&1; then
	cat "$logdir/apt-update.log"
	apt_ok=0
fi
tools="gcc make bison flex libreadline-dev zlib1g-dev pkg-config libssl-dev perl libipc-run-perl dpkg-dev"
missing=""
for p in $tools; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ] && ! apt-get install -y -qq --no-install-recommends $missing >"$logdir/apt-install.log" 2>&1; then
	cat "$logdir/apt-install.log"
	die "installing$missing"
fi

# The source versions apt knows, newest first.  A mirror may list a version
# it cannot serve (bookworm-security's sources are not always reachable),
# so each is tried in turn: the newest one already built, or the newest one
# that downloads, wins.
versions=
if [ $apt_ok = 1 ]; then
	versions=$(apt-cache showsrc "$pkg" 2>/dev/null |
		awk -v p="$pkg" '/^Package: /{ cur = $2 } /^Version: / && cur == p { print $2 }' | sort -Vru)
fi
stamp_of() { echo "$pkg $1 | $pg_cflags | $pg_configure"; }
built_stamp=$(cat "$prefix/.fqs-cassert-stamp" 2>/dev/null)
[ -x "$prefix/bin/postgres" ] || built_stamp=
srcver=
need_build=
srcdir=
mkdir -p "$cache/src"
for v in $versions; do
	if [ "$built_stamp" = "$(stamp_of "$v")" ]; then
		srcver=$v
		need_build=0
		ok "source $v already built in $prefix"
		break
	fi
	upstream=${v%-*}
	upstream=${upstream#*:}
	d=$cache/src/$pkg-$upstream
	if [ -f "$d/.fqs-cassert-unpacked" ] && [ "$(cat "$d/.fqs-cassert-unpacked")" = "$v upstream" ]; then
		srcver=$v srcdir=$d need_build=1
		ok "source $v already unpacked in $d"
		break
	fi
	rm -rf "$d"
	# Download only (as root apt warns that the download is unsandboxed),
	# then unpack WITHOUT the Debian patches: 50-per-version-dirs hardcodes
	# pkglibdir to /usr/lib/postgresql/15/lib whatever --prefix says, so a
	# patched tree would install over the system's PostgreSQL.
	dsc=$cache/src/${pkg}_${v#*:}.dsc
	if { [ -f "$dsc" ] || (cd "$cache/src" && apt-get source --download-only -qq "$pkg=$v") >>"$logdir/apt-source.log" 2>&1; } &&
		dpkg-source -x --skip-patches "$dsc" "$d" >>"$logdir/apt-source.log" 2>&1 &&
		[ -f "$d/configure" ]; then
		echo "$v upstream" >"$d/.fqs-cassert-unpacked"
		srcver=$v srcdir=$d need_build=1
		ok "fetched source $v into $d (upstream, Debian patches not applied)"
		break
	fi
	echo "   source $v is not downloadable here; trying an older one"
	rm -rf "$d" "$cache/src/${pkg}_${v#*:}".* "$cache/src/${pkg}_$upstream".orig.*
done
if [ -z "$srcver" ]; then
	if [ -n "$built_stamp" ]; then
		echo "   no source version reachable; using the cached build ($built_stamp)"
		need_build=0
	else
		cat "$logdir/apt-source.log" 2>/dev/null
		die "apt-get source $pkg: no version could be fetched (versions known: ${versions:-none})"
	fi
fi
stamp=$(stamp_of "$srcver")

# ---------------------------------------------------------------------------
echo "== PostgreSQL 15 with --enable-cassert"
if [ $need_build = 1 ]; then
	t0=$SECONDS
	build_log=$logdir/pg-build.log
	echo "   building $srcver in $srcdir (make -j$jobs; log $build_log)"
	rm -rf "$prefix"
	# Installed through a staging directory: anything that would land
	# outside $prefix stays in the stage and fails the build instead of
	# overwriting the system's files.
	stage=$cache/stage
	rm -rf "$stage"
	if (
		set -e
		cd "$srcdir"
		[ ! -f GNUmakefile ] || make -s distclean >/dev/null 2>&1 || true
		./configure --prefix="$prefix" $pg_configure CFLAGS="$pg_cflags"
		make -j"$jobs"
		make -j"$jobs" -C src/test/isolation
		make install DESTDIR="$stage"
		make -C src/test/isolation install DESTDIR="$stage"
	) >"$build_log" 2>&1; then
		stray=$(cd "$stage" && find . -mindepth 1 \( -type f -o -type l \) ! -path ".$prefix/*" | head -5)
		if [ -n "$stray" ]; then
			echo "   files outside $prefix: $stray"
		else
			mkdir -p "$(dirname "$prefix")"
			mv "$stage$prefix" "$prefix"
		fi
	fi
	rm -rf "$stage"
	if [ -x "$prefix/bin/postgres" ] &&
		[ -x "$prefix/lib/postgresql/pgxs/src/test/isolation/pg_isolation_regress" ] &&
		[ "$("$pg_config" --configure | grep -c enable-cassert)" = 1 ]; then
		echo "$stamp" >"$prefix/.fqs-cassert-stamp"
		ok "built and installed in $((SECONDS - t0))s"
		echo "$((SECONDS - t0))" >"$prefix/.fqs-cassert-build-seconds"
	else
		tail -60 "$build_log"
		rm -rf "$prefix"
		die "PostgreSQL build (see $build_log)"
	fi
fi
echo "   $("$prefix/bin/postgres" --version); $("$pg_config" --configure | grep -o "'--enable-cassert'")"

# ---------------------------------------------------------------------------
echo "== fqs against the cassert build"
work=$(mktemp -d /tmp/fqs-cassert.XXXXXX)
tar -C "$tree" --exclude=.git --exclude='*.o' --exclude='*.so' --exclude='*.bc' \
	--exclude=./tmp_check --exclude=./tmp_check_iso --exclude=./results \
	--exclude=./output_iso --exclude=./test/log -cf - . | tar -C "$work" -xf -
chown -R "$runner" "$work"
in_work() { as_runner "cd '$work' && $*"; }
if in_work "make -s PG_CONFIG='$pg_config' clean >/dev/null 2>&1; make -s PG_CONFIG='$pg_config' COPT=-Werror" >"$logdir/fqs-build.log" 2>&1 &&
	make -s -C "$work" PG_CONFIG="$pg_config" install >>"$logdir/fqs-build.log" 2>&1; then
	ok "fqs built with -Werror and installed into $prefix"
else
	cat "$logdir/fqs-build.log"
	die "fqs build"
fi

# Server-log checks.  TRAP: is an assertion failure; the postmaster logs a
# crash as "terminated by signal" and then "terminating any other active
# server processes"; MEMORY_CONTEXT_CHECKING reports overruns as "problem
# in alloc set" or "detected write past chunk end"; resource owners report
# leaks ("... reference leak: ...", "... leaked") at commit.  (A background
# worker's "exited with exit code 1" is an ordinary exit, not matched.)
bad_log_re='TRAP:|terminated by signal|was terminated by exception|PANIC:|terminating any other active server processes|problem in alloc set|write past chunk end|leak:|leaked|non-empty SPI stack|still referenced'
check_logs() {
	local what=$1 dir=$2 hits
	if ! ls "$dir"/* >/dev/null 2>&1; then
		bad "$what: no server log in $dir"
		return 1
	fi
	hits=$(grep -hE -B2 -A25 "$bad_log_re" "$dir"/* 2>/dev/null)
	if [ -n "$hits" ]; then
		echo "$hits" | head -150
		bad "$what: assertion failure, crash or leak in the server log ($dir)"
		return 1
	fi
	echo "   $what: server log clean ($(cat "$dir"/* | wc -l) lines)"
	return 0
}

# logs and results must be writable by the runner
chown "$runner" "$logdir"

count_regress() {
	local log=$1 p f
	p=$(grep -Ec '\.\.\. ok|^ok [0-9]+ ' "$log")
	f=$(grep -Ec '\.\.\. FAILED|\.\.\. failed|^not ok [0-9]+ ' "$log")
	echo "$p $f"
}

# pg_regress writes the temporary instance's server log to
# <outputdir>/log/postmaster.log, which survives the instance's removal.
run_suite() {
	local name=$1 vars=$2 outdir=$work/$3 log=$logdir/$1.log rc p f
	rm -f "$outdir/regression.diffs" "$outdir/log/postmaster.log"
	t0=$SECONDS
	in_work "make -s PG_CONFIG='$pg_config' installcheck TAP_TESTS= $vars" >"$log" 2>&1
	rc=$?
	read -r p f < <(count_regress "$log")
	grep -E '\.\.\. |ok [0-9]' "$log" | sed 's/^/   /'
	if [ -f "$outdir/regression.diffs" ]; then
		cp "$outdir/regression.diffs" "$logdir/$name.diffs"
		head -200 "$outdir/regression.diffs"
	fi
	mkdir -p "$logdir/server-$name"
	cp "$outdir"/log/*.log "$logdir/server-$name/" 2>/dev/null
	if [ $rc = 0 ] && [ "$p" -gt 0 ] && [ "$f" = 0 ]; then
		ok "$name: $p tests passed ($((SECONDS - t0))s)"
	else
		[ "$p" = 0 ] && [ "$f" = 0 ] && tail -30 "$log"
		bad "$name: $p passed, $f failed, make exit $rc ($((SECONDS - t0))s)"
	fi
	check_logs "$name" "$logdir/server-$name" && ok "$name: server log"
}

echo "== pg_regress"
run_suite regress "ISOLATION=" .

echo "== isolation"
levels=rc
if grep -q FQS_ISO_LEVEL "$work/Makefile"; then
	for l in rr ser; do
		[ -f "$work/test/isolation/$l.conf" ] && levels="$levels $l"
	done
fi
for l in $levels; do
	if [ $l = rc ]; then
		run_suite isolation-rc "REGRESS=" output_iso
	else
		run_suite isolation-$l "REGRESS= FQS_ISO_LEVEL=$l" output_iso
	fi
done

# ---------------------------------------------------------------------------
echo "== stress on a throwaway cluster"
stress=$(mktemp -d /tmp/fqs-cassert-stress.XXXXXX)
chown "$runner" "$stress"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null ||
	echo $((20000 + RANDOM % 20000)))
bin=$prefix/bin
psql_s() { as_runner "'$bin/psql' -X -q -v ON_ERROR_STOP=1 -h '$stress' -p $port -d postgres $*"; }
stress_t0=$SECONDS
stress_ok=1
if as_runner "'$bin/initdb' -D '$stress/data' -U postgres --no-sync -A trust" >"$logdir/stress-initdb.log" 2>&1; then
	cat >>"$stress/data/postgresql.conf" <<-EOF
	shared_preload_libraries = 'fqs'
	listen_addresses = ''
	port = $port
	unix_socket_directories = '$stress'
	fsync = off
	fqs.naptime = 100ms
	max_connections = 40
	logging_collector = on
	log_directory = '$logdir/server-stress'
	log_filename = 'postgresql-%Y%m%d-%H%M%S.log'
	log_line_prefix = '%m [%p] %b: '
	log_min_messages = warning
	EOF
	mkdir -p "$logdir/server-stress"
	chown "$runner" "$logdir/server-stress"
else
	cat "$logdir/stress-initdb.log"
	stress_ok=0
fi
if [ $stress_ok = 1 ] && as_runner "'$bin/pg_ctl' -D '$stress/data' -l '$stress/pg_ctl.log' -w -t 120 start" >"$logdir/stress-start.log" 2>&1; then
	ok "cluster started on port $port"
else
	cat "$logdir/stress-start.log" "$stress/pg_ctl.log" 2>/dev/null
	bad "stress cluster did not start"
	stress_ok=0
fi

sql_step() {
	local name=$1 sql=$2 expect=$3 out t0=$SECONDS
	# (functions returning void print empty lines)
	out=$(psql_s "-At" <<<"$sql" 2>&1 | grep -v '^$')
	echo "$out" >"$logdir/stress-$name.log"
	if [ "$out" = "$expect" ]; then
		ok "$name ($((SECONDS - t0))s)"
	else
		echo "$out" | tail -20 | sed 's/^/   | /'
		bad "$name: expected '$expect' ($((SECONDS - t0))s)"
	fi
}

if [ $stress_ok = 1 ]; then
	sql_step setup "
		CREATE EXTENSION fqs;
		SELECT fqs_create_queue('big', max_ready => 1000000, lease => '15 minutes');
		SELECT fqs_create_queue('busy', lease => '5 minutes');
		SELECT fqs_create_queue('idle');
		SELECT fqs_create_queue('idle2');
		SELECT fqs_create_queue('wake');
		SELECT count(*) FROM fqs_queues;" "5"

	# 10,000 messages over 100 keys in one call
	sql_step enqueue_batch "
		SELECT count(*) FROM fqs_enqueue_batch('big',
			ARRAY(SELECT repeat('payload ' || g, 1 + g % 20) FROM generate_series(1, 10000) g),
			ARRAY(SELECT 'key-' || (g % 100) FROM generate_series(1, 10000) g));" "10000"

	sql_step claim_commit "
		BEGIN;
		CREATE TEMP TABLE c AS SELECT id, receipt FROM fqs_claim('big', 10000);
		SELECT count(*) FROM c;
		SELECT count(fqs_commit(id, receipt, 'result ' || id)) FROM c;
		COMMIT;" "10000
10000"

	# one run per key, completed in seq order per key
	sql_step claim_sequential "
		BEGIN;
		CREATE TEMP TABLE s AS SELECT id, receipt, fifo_key, seq FROM fqs_claim_sequential('big', n => 10000);
		SELECT count(*), count(DISTINCT fifo_key) FROM s;
		DO \$\$
		DECLARE r record;
		BEGIN
			FOR r IN SELECT id, receipt FROM s ORDER BY fifo_key, seq LOOP
				PERFORM fqs_complete(r.id, r.receipt);
			END LOOP;
		END \$\$;
		COMMIT;
		SELECT ready + delayed + claimed + processed + sequencing + dead + pen, done_total FROM fqs_queues WHERE queue = 'big';" "10000|100
0|10000"

	# Waiting claims while another session commits 500 rounds on 'busy':
	# the waiter on 'idle'/'idle2' must sleep the whole 10 seconds through
	# the wake-ups of the other queue and get nothing; the waiter on 'wake'
	# gets the message enqueued after the rounds.
	cat >"$stress/busy.sql" <<-'EOF'
	\set ON_ERROR_STOP 1
	SELECT pg_sleep(0.5);
	EOF
	for i in $(seq 1 500); do
		cat >>"$stress/busy.sql" <<-EOF
		BEGIN; SELECT fqs_enqueue('busy', 'm$i', fifo_key => 'k$((i % 7))'); COMMIT;
		BEGIN; SELECT count(fqs_commit(id, receipt, 'r')) FROM fqs_claim('busy', 1); COMMIT;
		BEGIN; SELECT count(fqs_complete(id, receipt)) FROM (SELECT * FROM fqs_claim_sequential('busy', 1)) x; COMMIT;
		EOF
	done
	echo "SELECT fqs_enqueue('wake', 'wake up');" >>"$stress/busy.sql"
	chown "$runner" "$stress/busy.sql"
	t0=$SECONDS
	psql_s -At -c "\"SELECT count(*) || ' ' || (extract(epoch FROM clock_timestamp() - statement_timestamp()) >= 9.5) FROM fqs_claim_any(ARRAY['idle', 'idle2'], 5, wait => '10 seconds')\"" >"$logdir/stress-wait-idle.log" 2>&1 &
	w1=$!
	psql_s -At -c "\"SELECT count(*) FROM fqs_claim('wake', 1, wait => '60 seconds')\"" >"$logdir/stress-wait-wake.log" 2>&1 &
	w2=$!
	psql_s -At -f "'$stress/busy.sql'" >"$logdir/stress-busy.log" 2>&1
	busy_rc=$?
	wait $w1
	w1_rc=$?
	wait $w2
	w2_rc=$?
	if [ $busy_rc = 0 ] && [ "$(grep -c '^1$' "$logdir/stress-busy.log")" -ge 1000 ]; then
		ok "500 rounds of enqueue, claim+commit, claim_sequential+complete on 'busy' ($((SECONDS - t0))s)"
	else
		tail -20 "$logdir/stress-busy.log" | sed 's/^/   | /'
		bad "busy session (exit $busy_rc)"
	fi
	if [ $w1_rc = 0 ] && [ "$(cat "$logdir/stress-wait-idle.log")" = "0 true" ]; then
		ok "fqs_claim_any(wait => '10 seconds') slept the whole wait and got nothing"
	else
		sed 's/^/   | /' "$logdir/stress-wait-idle.log"
		bad "waiting fqs_claim_any (exit $w1_rc; expected '0 true')"
	fi
	if [ $w2_rc = 0 ] && [ "$(cat "$logdir/stress-wait-wake.log")" = "1" ]; then
		ok "waiting fqs_claim was woken by the enqueue"
	else
		sed 's/^/   | /' "$logdir/stress-wait-wake.log"
		bad "waiting fqs_claim on 'wake' (exit $w2_rc; expected 1)"
	fi
	sql_step busy_drained "
		SELECT ready + delayed + claimed + processed + sequencing + dead + pen, done_total FROM fqs_queues WHERE queue = 'busy';" "0|500"

	# the background worker ran alongside, under assertions as well
	sql_step worker_alive "SELECT count(*) FROM fqs_workers() WHERE datname = 'postgres';" "1"

	if as_runner "'$bin/pg_ctl' -D '$stress/data' -m fast -w -t 120 stop" >"$logdir/stress-stop.log" 2>&1; then
		ok "cluster stopped cleanly (stress $((SECONDS - stress_t0))s)"
	else
		cat "$logdir/stress-stop.log"
		bad "stress cluster did not stop"
		as_runner "'$bin/pg_ctl' -D '$stress/data' -m immediate stop" >/dev/null 2>&1
	fi
	cp "$stress/pg_ctl.log" "$logdir/server-stress/pg_ctl.log" 2>/dev/null
	check_logs stress "$logdir/server-stress" && ok "stress: server log"
fi

finish
