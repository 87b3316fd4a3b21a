#!/usr/bin/env bash
# bench/peers.sh -- fqs against the other PostgreSQL queues, on one server.
#
#   bench/peers.sh [--quick] [--depth] [--keep]
#
# Starts a throw-away PostgreSQL 15 cluster (initdb under $FQSPEERS_BASE,
# its own port and socket, run as OS user postgres, fsync on,
# synchronous_commit on, shared_preload_libraries 'fqs'), gives every peer
# a database of its own, runs the workloads below on every peer that can do
# them, and writes bench/results/peers-<stamp>.md (the tables) with
# peers-<stamp>-throughput.png and peers-<stamp>-latency.png (gnuplot) and
# peers-<stamp>.tsv (every figure) beside it.  bench/PEERS.md describes the
# workloads, the peers and the one-time prerequisites.
#
# Peers (bench/peers/<name>/peer.conf and SQL; bench/node/ for the npm ones):
#   naive naive_fifo pgq pgmq fqs fqs_array pg-boss graphile-worker
# fqs is the build installed in /usr/lib/postgresql/15 (this script never
# installs it).  PgQ is apt-get installed when missing (as root).  pgmq's
# SQL is read from $PGMQ_SQL (default /tmp/fqsbench/pgmq/pgmq.sql); when it
# is absent the pgmq column says "skipped".  The npm peers need
# bench/node/node_modules (`npm ci` there; the script runs it when missing).
#
# Workloads (8 clients unless said otherwise; a message is ~190 bytes):
#   ceiling     pgbench INSERT + UPDATE + DELETE of a trivial row, three
#               autocommit statements: commits/s (at the start and, but for
#               --quick, at the end)
#   enq1/enq100 enqueue one message / 100 messages per call, T seconds
#   drain1/10   preload N messages over KEYS keys, then claim 1 (10) + ack
#               until empty or DRAIN_CAP seconds: messages/s
#   drain1_c1 / drain1_c64   the same with 1 and 64 clients
#   pipe1/10    both stages (fqs) or a per-key FIFO claim (naive_fifo),
#               drained like drain1/10
#   pipe1_kbig  pipe1 with KBIG keys instead of KEYS
#   depth       claim 1 + ack latency (avg, p99) at depth D, 4 clients, one
#               enqueue per claim keeps the depth (DEPTHS)
#   wakeup      fqs only: WAKE_CLAIMERS (8) claimers asleep in
#               fqs_claim(wait => ...) on one queue; an enqueue's COMMIT
#               returned -> the first claimer returned (median, p99 ms over
#               WAKE_SAMPLES enqueues; bench/wakeup_many.py)
#   storage     fqs only: bytes per unfinished message beyond its payload,
#               and whether the working-set tables stay flat while the full
#               pipeline runs (bench/storage.sh, in a cluster of its own;
#               its report is kept as peers-<stamp>-storage.md)
#   redox       the same in the Redox shape, for the peers with per-key
#               order (preload_redox.sql): every key's head is unprocessed
#               (fqs: delivered only in a day; naive_fifo: taken by a stuck
#               worker) and D messages wait behind the heads (fqs: processed
#               by the concurrent stage, so they pile up in the sequential
#               one); series "<peer> redox"
#
# Modes:            N      KEYS  KBIG    T   DRAIN_CAP  DEPTHS              WAKE_SAMPLES  STORAGE_N/ROUNDS/WINDOW
#   (default)       100000 100   100000  10  20         1000 10000 100000   500           100000/6/20
#   --quick         1500   100   1500    2   2          1000 10000          100           10000/2/5
#   (--quick leaves out drain1_c64: 64 new backends would spend its 2 s
#   warming up)
#   --depth adds 1000000 and 10000000 to DEPTHS (slow: loading 1e7 per peer).
# --keep leaves the cluster running.  Every knob above can be set in the
# environment (N=..., DEPTHS="..."), as can PEERS="..." and WORKLOADS="...".
# --held adds the held-snapshot run: for each of HELD_PEERS (default "naive
# pgmq fqs"), one session holds a REPEATABLE READ snapshot and an xid in the
# peer's database for HELD_SECS (default 600) while 4 clients offer
# HELD_RATE (default 400) transactions/s, half enqueue, half claim + ack;
# every 10 s the claim p99, the dead tuples and the peer's table sizes.
# A HELD_PEERS entry "<peer>:pipeline" runs the peer's pipeline.sql in
# place of claim + ack (both stages for fqs; the key-head claim for
# naive_fifo), reported as "<peer> pipeline".
# WORKLOADS=held bench/peers.sh --held runs only that (about 11 minutes a peer).
#
# Raw output (pgbench logs, server log, node output) stays in
# $FQSPEERS_BASE/runs/<stamp>/.  Defaults: FQSPEERS_BASE=/tmp/fqspeers,
# FQSPEERS_PORT=55434, PGBIN=/usr/lib/postgresql/15/bin.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HERE")
ARGS="$*"

MODE=full
DEPTH_LADDER=0
HELD=0
KEEP=${KEEP:-0}
for a in "$@"; do
  case "$a" in
    --quick) MODE=quick ;;
    --depth) DEPTH_LADDER=1 ;;
    --keep) KEEP=1 ;;
    --held) HELD=1 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "peers.sh: unknown argument $a (see --help)" >&2; exit 2 ;;
  esac
done

ENVLINE=""
for v in N KEYS KBIG T DRAIN_CAP DEPTHS DEPTH_SECS WAKE_CLAIMERS WAKE_SAMPLES STORAGE_N STORAGE_ROUNDS STORAGE_WINDOW PEERS WORKLOADS CLIENTS HELD_SECS HELD_RATE HELD_PEERS PGMQ_SQL FQSPEERS_BASE FQSPEERS_PORT KEEP; do
  if printenv "$v" >/dev/null 2>&1; then ENVLINE+="$v='$(printenv "$v")' "; fi
done
CMDLINE="${ENVLINE}bench/peers.sh${ARGS:+ $ARGS}"

if [ "$MODE" = quick ]; then
  N=${N:-1500}; KBIG=${KBIG:-1500}; T=${T:-2}; DRAIN_CAP=${DRAIN_CAP:-2}
  DEPTHS=${DEPTHS:-"1000 10000"}; DEPTH_SECS=${DEPTH_SECS:-2}
  WAKE_SAMPLES=${WAKE_SAMPLES:-100}
  STORAGE_N=${STORAGE_N:-10000}; STORAGE_ROUNDS=${STORAGE_ROUNDS:-2}; STORAGE_WINDOW=${STORAGE_WINDOW:-5}
else
  N=${N:-100000}; KBIG=${KBIG:-100000}; T=${T:-10}; DRAIN_CAP=${DRAIN_CAP:-20}
  DEPTHS=${DEPTHS:-"1000 10000 100000"}; DEPTH_SECS=${DEPTH_SECS:-10}
  WAKE_SAMPLES=${WAKE_SAMPLES:-500}
  STORAGE_N=${STORAGE_N:-100000}; STORAGE_ROUNDS=${STORAGE_ROUNDS:-6}; STORAGE_WINDOW=${STORAGE_WINDOW:-20}
fi
WAKE_CLAIMERS=${WAKE_CLAIMERS:-8}
[ "$DEPTH_LADDER" = 1 ] && DEPTHS="$DEPTHS 1000000 10000000"
KEYS=${KEYS:-100}
CLIENTS=${CLIENTS:-8}
DEPTH_CLIENTS=4
PEERS=${PEERS:-"naive naive_fifo pgq pgmq fqs fqs_array pg-boss graphile-worker"}
if [ "$MODE" = quick ]; then
  # no 64-client drain: 64 fresh backends spend a 2-second cap warming up
  WORKLOADS=${WORKLOADS:-"enq1 enq100 drain1 drain10 drain1_c1 pipe1 pipe10 pipe1_kbig depth redox wakeup storage"}
else
  WORKLOADS=${WORKLOADS:-"enq1 enq100 drain1 drain10 drain1_c1 drain1_c64 pipe1 pipe10 pipe1_kbig depth redox wakeup storage"}
fi
HELD_SECS=${HELD_SECS:-600}
HELD_RATE=${HELD_RATE:-400}
HELD_PEERS=${HELD_PEERS:-"naive pgmq fqs"}
if [ "$HELD" = 1 ]; then
  case " $WORKLOADS " in *" held "*) ;; *) WORKLOADS="$WORKLOADS held" ;; esac
fi
PGMQ_SQL=${PGMQ_SQL:-/tmp/fqsbench/pgmq/pgmq.sql}
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
BASE=${FQSPEERS_BASE:-/tmp/fqspeers}
PORT=${FQSPEERS_PORT:-55434}
PGDATA=$BASE/pgdata
SOCK=$BASE
DB=postgres
RUNAS=postgres
STAMP=$(date +%Y%m%d-%H%M%S)
RUN=$BASE/runs/$STAMP
TSV=$RUN/results.tsv
META=$RUN/meta
NODEDIR=$HERE/node

mkdir -p "$RUN"
: >"$TSV"; : >"$META"
if [ "$(id -u)" = 0 ]; then chown "$RUNAS" "$BASE"; chmod 0755 "$BASE"; chmod 0777 "$BASE/runs" "$RUN"; fi

as_owner() { if [ "$(id -u)" = 0 ]; then runuser -u "$RUNAS" -- "$@"; else "$@"; fi; }
log() { echo "[$(date +%H:%M:%S)] $*" | tee -a "$RUN/run.log" >&2; }
die() { log "peers.sh: $*"; exit 1; }
psqlc() { "$PGBIN/psql" -h "$SOCK" -p "$PORT" -U postgres -X -v ON_ERROR_STOP=1 -q "$@"; }
q1() { local db=$1; shift; psqlc -d "$db" -tA "$@"; }
pgb() { "$PGBIN/pgbench" -h "$SOCK" -p "$PORT" -U postgres -n -M prepared "$@"; }
now() { date +%s.%N; }
rec() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "${4:-}" >>"$TSV"; }   # workload peer value detail
meta() { printf '%s\t%s\n' "$1" "$2" >>"$META"; }

# shellcheck source=lib/cluster.sh
. "$HERE/lib/cluster.sh"
trap cleanup EXIT
trap 'exit 130' INT TERM

T_START=$(date +%s)
log "peers.sh $MODE: N=$N KEYS=$KEYS KBIG=$KBIG T=$T DRAIN_CAP=$DRAIN_CAP DEPTHS='$DEPTHS'; raw output in $RUN"

# ---------------------------------------------------------------- cluster
start_cluster() {
  stop_cluster
  if "$PGBIN/pg_isready" -q -h "$SOCK" -p "$PORT" 2>/dev/null; then
    die "something already listens on $SOCK port $PORT (set FQSPEERS_PORT)"
  fi
  rm -rf "$PGDATA"
  as_owner "$PGBIN/initdb" -D "$PGDATA" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$RUN/initdb.log" 2>&1 ||
    { cat "$RUN/initdb.log" >&2; die "initdb failed"; }
  cat >>"$PGDATA/postgresql.conf" <<EOF

# ---- bench/peers.sh: durable settings, the same for every peer ----
listen_addresses = ''
port = $PORT
unix_socket_directories = '$SOCK'
max_connections = 150
max_worker_processes = 16
shared_preload_libraries = 'fqs'
fqs.databases = 'bench_fqs'
shared_buffers = 512MB
fsync = on
synchronous_commit = on
full_page_writes = on
wal_level = replica
max_wal_size = 8GB
min_wal_size = 1GB
checkpoint_timeout = 30min
autovacuum = on
jit = off
log_checkpoints = on
EOF
  as_owner "$PGBIN/pg_ctl" -D "$PGDATA" -l "$RUN/postgres.log" -w -t 60 start >/dev/null ||
    { tail -20 "$RUN/postgres.log" >&2; die "the cluster did not start"; }
}

start_cluster
meta postgres "$("$PGBIN/postgres" --version)"
meta settings "fsync=on, synchronous_commit=on, full_page_writes=on, shared_buffers=512MB, wal_level=replica, max_wal_size=8GB, checkpoint_timeout=30min, autovacuum=on, jit=off, shared_preload_libraries='fqs'"
meta machine "$(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')), $(free -g | awk '/^Mem:/ { print $2 }') GiB RAM, $(uname -sr); shared with other work"
meta command "$CMDLINE"
meta mode "$MODE"
meta params "N=$N KEYS=$KEYS KBIG=$KBIG CLIENTS=$CLIENTS T=${T}s DRAIN_CAP=${DRAIN_CAP}s DEPTHS='$DEPTHS' DEPTH_CLIENTS=$DEPTH_CLIENTS DEPTH_SECS=${DEPTH_SECS}s WAKE_CLAIMERS=$WAKE_CLAIMERS WAKE_SAMPLES=$WAKE_SAMPLES STORAGE_N=$STORAGE_N STORAGE_ROUNDS=$STORAGE_ROUNDS STORAGE_WINDOW=${STORAGE_WINDOW}s$(
  case " $WORKLOADS " in *" held "*) echo " HELD_SECS=${HELD_SECS}s HELD_RATE=$HELD_RATE HELD_PEERS='$HELD_PEERS'" ;; esac)"
meta workloads "$WORKLOADS"
meta peers "$PEERS"
meta stamp "$STAMP"
meta run_dir "$RUN"
FQS_SO=$("$PGBIN/pg_config" --pkglibdir)/fqs.so
DIRTY=$(git -C "$REPO" status --porcelain -- bench src sql Makefile fqs.control 2>/dev/null | grep -v '^?? bench/results/' | grep -q . && echo ", with uncommitted changes" || true)
meta fqs "installed $FQS_SO (md5 $(md5sum "$FQS_SO" 2>/dev/null | cut -c1-12)); this repository at $(git -C "$REPO" log -1 --format='%h (%cd) %s' --date=short 2>/dev/null || echo unknown)$DIRTY"

# ---------------------------------------------------------------- peers
declare -A SKIP=() PDIR=()
peer_file() {   # peer_file <peer> <file>: the peer's file, or its FILES_FROM peer's
  local p=$1 f=$2 from
  if [ -f "$HERE/peers/$p/$f" ]; then echo "$HERE/peers/$p/$f"; return 0; fi
  from=$(conf "$p" FILES_FROM)
  if [ -n "$from" ] && [ -f "$HERE/peers/$from/$f" ]; then echo "$HERE/peers/$from/$f"; return 0; fi
  return 1
}
conf() {   # conf <peer> <VAR>: a variable of the peer's peer.conf (empty if unset)
  ( set +u; . "$HERE/peers/$1/peer.conf"; eval "printf '%s' \"\${$2:-}\"" )
}
na_reason() {   # na_reason <peer> <workload>: why the peer does not run it (empty: it does)
  local p=$1 w=$2 r
  r=$(conf "$p" "NA_$w"); [ -n "$r" ] && { echo "$r"; return; }
  r=$(conf "$p" "NA_${w%%[0-9]*}"); [ -n "$r" ] && { echo "$r"; return; }
  echo ""
}

ensure_pgq() {
  [ -f "$("$PGBIN/pg_config" --sharedir)/extension/pgq.control" ] && return 0
  [ "$(id -u)" = 0 ] || return 1
  log "pgq: apt-get install -y postgresql-15-pgq3"
  { apt-get install -y postgresql-15-pgq3 || { apt-get update && apt-get install -y postgresql-15-pgq3; }; } >"$RUN/apt-pgq.log" 2>&1 || return 1
}

ensure_node_modules() {
  [ -d "$NODEDIR/node_modules/pg-boss" ] && [ -d "$NODEDIR/node_modules/graphile-worker" ] && return 0
  command -v npm >/dev/null || return 1
  log "npm ci in $NODEDIR"
  (cd "$NODEDIR" && npm ci --no-audit --no-fund) >"$RUN/npm-ci.log" 2>&1
}

setup_peer() {
  local p=$1 db ver f
  [ -f "$HERE/peers/$p/peer.conf" ] || { SKIP[$p]="skipped: no bench/peers/$p/peer.conf"; return 0; }
  db=$(conf "$p" DB)
  if [ -z "$(q1 postgres -c "SELECT 1 FROM pg_database WHERE datname = '$db'")" ]; then
    psqlc -d postgres -c "CREATE DATABASE $db"
  fi
  case "$p" in
    pgq) ensure_pgq || { SKIP[$p]="skipped: PgQ is not installed (apt-get install postgresql-15-pgq3 failed, see $RUN/apt-pgq.log)"; return 0; } ;;
    pgmq)
      if [ ! -f "$PGMQ_SQL" ]; then
        SKIP[$p]="skipped: no pgmq SQL at $PGMQ_SQL (see bench/PEERS.md)"; return 0
      fi
      if [ -z "$(q1 "$db" -c "SELECT to_regnamespace('pgmq')")" ]; then
        psqlc -d "$db" --single-transaction -f "$PGMQ_SQL" >"$RUN/pgmq-load.log" 2>&1 ||
          { SKIP[$p]="skipped: loading $PGMQ_SQL failed: $(tail -1 "$RUN/pgmq-load.log")"; return 0; }
      fi ;;
    pg-boss|graphile-worker)
      ensure_node_modules || { SKIP[$p]="skipped: bench/node/node_modules missing and npm ci failed (see $RUN/npm-ci.log)"; return 0; } ;;
  esac
  if f=$(peer_file "$p" setup.sql); then
    psqlc -d "$db" -f "$f" >"$RUN/$p.setup.log" 2>&1 ||
      { SKIP[$p]="skipped: setup failed: $(grep -m1 ERROR "$RUN/$p.setup.log" || tail -1 "$RUN/$p.setup.log")"; return 0; }
  fi
  # versions for the results header
  case "$p" in
    pgmq)
      ver="pgmq SQL from $PGMQ_SQL (md5 $(md5sum "$PGMQ_SQL" | cut -c1-12)"
      [ -f "$(dirname "$PGMQ_SQL")/pgmq.control" ] &&
        ver+=", $(grep -m1 default_version "$(dirname "$PGMQ_SQL")/pgmq.control" | tr -d "' ")"
      [ -f "$(dirname "$PGMQ_SQL")/SOURCE" ] && ver+=", $(head -1 "$(dirname "$PGMQ_SQL")/SOURCE")"
      ver+=")" ;;
    pg-boss|graphile-worker)
      ver="$p $(node -p "require('$NODEDIR/node_modules/$p/package.json').version") (npm), pg $(node -p "require('$NODEDIR/node_modules/pg/package.json').version"), node $(node --version)" ;;
    *)
      ver=$(q1 "$db" -c "$(conf "$p" VERSION_SQL)" 2>/dev/null || echo "?") ;;
  esac
  meta "version_$p" "$ver"
  meta "desc_$p" "$(conf "$p" DESC)"
  return 0
}

for p in $PEERS; do
  setup_peer "$p"
  if [ -n "${SKIP[$p]:-}" ]; then log "$p: ${SKIP[$p]}"; meta "desc_$p" "$(conf "$p" DESC 2>/dev/null || true)"; fi
done
meta pgbench "$("$PGBIN/pgbench" --version)"

# ---------------------------------------------------------------- runs
checkpoint() { psqlc -d "$1" -c CHECKPOINT; }
is_node() { [ -n "$(conf "$1" DRIVER)" ]; }

node_run() {   # node_run <peer> <outfile> <args...>: prints "rate<TAB>detail" or fails
  local p=$1 out=$2; shift 2
  PGHOST=$SOCK PGPORT=$PORT PGUSER=postgres PEERS_DB=$(conf "$p" DB) \
    timeout $(( DRAIN_CAP + 300 )) node "$NODEDIR/$(conf "$p" DRIVER)" "$@" >"$out" 2>&1 || return 1
  grep -m1 '^RESULT ' "$out" | sed 's/^RESULT //'
}

pgbench_tps() { awk '/^tps = / { print $3; exit }' "$1"; }

# held snapshot: one session holds a REPEATABLE READ snapshot and an xid in
# the peer's database while 4 clients offer HELD_RATE transactions/s, half
# enqueue, half claim 1 + ack.  Every 10 s: claim p99 and claims/s (from the
# pgbench log, latency counted from the scheduled start), dead tuples and
# total size of the peer's tables.
held_run() {   # held_run <peer> [claim script] [label]
  local p=$1 script=${2:-claim_ack.sql} label=${3:-$1} db pre holder sampler t
  db=$(conf "$p" DB)
  pre=$RUN/$p.$script.held
  psqlc -d "$db" -v q=held -v n=1000 -v keys="$KEYS" -v batch=1 -f "$(peer_file "$p" preload.sql)" >"$pre.preload.log" 2>&1 ||
    { rec held "$label" "error: preload failed, see $pre.preload.log"; return; }
  checkpoint "$db"
  PGAPPNAME=peers_holder psqlc -d "$db" -qAt \
    -c "BEGIN ISOLATION LEVEL REPEATABLE READ" -c "SELECT txid_current()" -c "SELECT pg_sleep($HELD_SECS + 60)" -c "COMMIT" \
    >"$pre.holder.log" 2>&1 &
  holder=$!
  sleep 1
  ( t=0
    while :; do
      q1 "$db" -c "SELECT $t, coalesce(sum(n_dead_tup), 0), coalesce(sum(pg_total_relation_size(relid)), 0),
                          (SELECT coalesce(max(age(backend_xmin)), 0) FROM pg_stat_activity WHERE application_name = 'peers_holder')
                     FROM pg_stat_user_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')" |
        tr '|' ' ' || true
      sleep 10; t=$((t + 10))
    done ) >"$pre.samples" 2>/dev/null &
  sampler=$!
  pgb -d "$db" -c 4 -j 2 -T "$HELD_SECS" -R "$HELD_RATE" -D q=held -D batch=1 -D keys="$KEYS" \
    -f "$(peer_file "$p" enqueue.sql)@1" -f "$(peer_file "$p" "$script")@1" -l --log-prefix="$pre" >"$pre.out" 2>&1 || true
  kill "$sampler" 2>/dev/null || true; wait "$sampler" 2>/dev/null || true
  q1 postgres -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'peers_holder'" >/dev/null || true
  wait "$holder" 2>/dev/null || true
  if grep -q 'ERROR' "$pre.out"; then rec held "$label" "error: $(grep -m1 ERROR "$pre.out" | cut -c1-120)"; return; fi
  # claims (script 1): seconds since the first claim, latency in us
  cat "$pre".[0-9]* 2>/dev/null | awk '$4 == 1 { print $5 "." sprintf("%06d", $6), $3 }' | sort -n |
    awk 'NR == 1 { t0 = $1 } { printf "%.3f %d\n", $1 - t0, $2 }' >"$pre.lat"
  rm -f "$pre".[0-9]*
  # per 10-second window: t claims p99_ms
  awk '{ print int($1 / 10) * 10, $2 }' "$pre.lat" | sort -k1,1n -k2,2n | awk '
      function flush() { if (n) { i = int(n * 0.99); if (i < 1) i = 1; printf "%d %d %.3f\n", cw, n, v[i] / 1000 } }
      NR == 1 || $1 != cw { flush(); cw = $1; n = 0 } { v[++n] = $2 } END { flush() }' >"$pre.windows"
  while read -r t n p99; do
    rec held_w "$label" "$t" "$n $p99 $(awk -v t="$t" '$1 == t { print $2, $3, $4 }' "$pre.samples")"
  done <"$pre.windows"
  # p99 and claims/s over the first and the last 60 seconds
  local first last
  first=$(awk '$1 < 60 { print $2 }' "$pre.lat" | sort -n | awk '{ v[NR] = $1 } END { i = int(NR * 0.99); if (i < 1) i = 1; printf "%.0f %.3f", NR / 60, (NR ? v[i] / 1000 : 0) }')
  last=$(awk -v s="$HELD_SECS" '$1 >= s - 60 { print $2 }' "$pre.lat" | sort -n | awk '{ v[NR] = $1 } END { i = int(NR * 0.99); if (i < 1) i = 1; printf "%.0f %.3f", NR / 60, (NR ? v[i] / 1000 : 0) }')
  rec held "$label" "${last%% *}" "$first $last $(head -1 "$pre.samples" | awk '{ print $2, $3 }') $(tail -1 "$pre.samples" | awk '{ print $2, $3, $4 }')"
}

ceiling() {   # ceiling <label>
  local db=bench_ceiling out=$RUN/ceiling-$1.out tps
  [ -n "$(q1 postgres -c "SELECT 1 FROM pg_database WHERE datname = '$db'")" ] || psqlc -d postgres -c "CREATE DATABASE $db"
  psqlc -d $db -f "$HERE/peers/ceiling/setup.sql" >/dev/null
  checkpoint $db
  pgb -d $db -c "$CLIENTS" -j 2 -T "$T" -f "$HERE/peers/ceiling/three_autocommit.sql" >"$out" 2>&1 || true
  tps=$(pgbench_tps "$out")
  if [ -z "$tps" ]; then rec ceiling "$1" "error: see $out"; return; fi
  rec ceiling "$1" "$(awk -v t="$tps" 'BEGIN { printf "%.0f", 3 * t }')" "$(printf '%.0f' "$tps") rows/s x 3 commits, $CLIENTS clients, ${T} s"
  log "ceiling ($1): $(awk -v t="$tps" 'BEGIN { printf "%.0f", 3 * t }') commits/s"
}

enqueue_run() {   # enqueue_run <peer> <workload> <batch>
  local p=$1 w=$2 b=$3 db out=$RUN/$1.$2.out script tps r
  db=$(conf "$p" DB)
  if is_node "$p"; then
    r=$(node_run "$p" "$out" enqueue --batch "$b" --clients "$CLIENTS" --seconds "$T" --keys "$KEYS") ||
      { rec "$w" "$p" "error: see $out"; return; }
    rec "$w" "$p" "${r%%$'\t'*}" "${r#*$'\t'}"; return
  fi
  script=enqueue.sql; [ "$b" = 1 ] || script=enqueue_batch.sql
  script=$(peer_file "$p" "$script") || { rec "$w" "$p" "n/a: no script"; return; }
  psqlc -d "$db" -v q="$w" -v n=0 -v keys="$KEYS" -v batch=1 -f "$(peer_file "$p" preload.sql)" >/dev/null
  checkpoint "$db"
  pgb -d "$db" -c "$CLIENTS" -j 2 -T "$T" -D q="$w" -D keys="$KEYS" -f "$script" >"$out" 2>&1 || true
  tps=$(pgbench_tps "$out")
  if [ -z "$tps" ] || grep -q 'ERROR' "$out"; then rec "$w" "$p" "error: see $out"; return; fi
  rec "$w" "$p" "$(awk -v t="$tps" -v b="$b" 'BEGIN { printf "%.0f", t * b }')" \
    "$(printf '%.0f' "$tps") calls/s x $b, $CLIENTS clients, ${T} s"
}

drain_run() {   # drain_run <peer> <workload> <batch> <clients> <keys> <claim script> <remaining file>
  local p=$1 w=$2 b=$3 c=$4 k=$5 sname=$6 rname=$7 db out=$RUN/$1.$2.out script before after t0 t1 r dc conn secs
  db=$(conf "$p" DB)
  if is_node "$p"; then
    r=$(node_run "$p" "$out" drain --batch "$b" --clients "$c" --n "$N" --keys "$k" --cap "$DRAIN_CAP") ||
      { rec "$w" "$p" "error: see $out"; return; }
    rec "$w" "$p" "${r%%$'\t'*}" "${r#*$'\t'}"; return
  fi
  dc=$(conf "$p" DRAIN_CLIENTS); [ -n "$dc" ] && c=$dc
  script=$RUN/$p.$w.sql
  { cat "$(peer_file "$p" "$sname")"
    printf '\n-- added by peers.sh: a client whose claim found nothing stops\n\\if :got = 0\n\\set stop 1 / 0\n\\endif\n'
  } >"$script"
  psqlc -d "$db" -v q="$w" -v n="$N" -v keys="$k" -v batch="$b" -f "$(peer_file "$p" preload.sql)" >"$RUN/$p.$w.preload.log" 2>&1 ||
    { rec "$w" "$p" "error: preload failed, see $RUN/$p.$w.preload.log"; return; }
  checkpoint "$db"
  before=$(q1 "$db" -v q="$w" -f "$(peer_file "$p" "$rname")")
  t0=$(now)
  pgb -d "$db" -c "$c" -j $(( c < 2 ? c : 2 )) -T "$DRAIN_CAP" -D q="$w" -D batch="$b" -D keys="$k" -f "$script" >"$out" 2>&1 || true
  t1=$(now)
  after=$(q1 "$db" -v q="$w" -f "$(peer_file "$p" "$rname")")
  if grep -v 'division by zero\|client [0-9]* aborted\|Run was aborted' "$out" | grep -q 'ERROR'; then
    rec "$w" "$p" "error: $(grep -m1 ERROR "$out" | cut -c1-120)"; return
  fi
  # the clients' connection set-up is not part of the drain (64 connections
  # take a second or two on a loaded machine)
  conn=$(awk '/^initial connection time = / { print $5 / 1000; exit }' "$out")
  secs=$(awk -v t0="$t0" -v t1="$t1" -v c="${conn:-0}" 'BEGIN { printf "%.3f", t1 - t0 - c }')
  rec "$w" "$p" "$(awk -v a="$before" -v z="$after" -v s="$secs" 'BEGIN { printf "%.0f", (a - z) / s }')" \
    "$((before - after)) of $before messages in $(printf '%.1f' "$secs") s (after ${conn:-0} s connecting), $c clients, claim $b, $k keys$( [ "$after" -gt 0 ] && echo ", time cap reached ($after left)")"
}

# latency of script 1 (the claim) from pgbench -l logs: "count avg_ms p99_ms"
latency() {
  cat "$1".* 2>/dev/null | awk '$4 == 1 { print $3 }' | sort -n |
    awk '{ v[NR] = $1; s += $1 } END { if (NR == 0) { print "0 nan nan"; exit }
          i = int(NR * 0.99); if (i < 1) i = 1; printf "%d %.3f %.3f\n", NR, s / NR / 1000, v[i] / 1000 }'
}

depth_run() {   # depth_run <peer> <series> <D> <claim script> <remaining file> [<preload file>]
  local p=$1 s=$2 d=$3 sname=$4 rname=$5 preload=${6:-preload.sql} db pre out lat after
  db=$(conf "$p" DB)
  pre=$RUN/$p.depth$d.${preload%.sql}.$sname; out=$pre.out
  psqlc -d "$db" -v q=depth -v n="$d" -v keys="$KEYS" -v batch=1 -f "$(peer_file "$p" "$preload")" >"$pre.preload.log" 2>&1 ||
    { rec "depth_$d" "$s" "error: preload failed, see $pre.preload.log"; return; }
  checkpoint "$db"
  pgb -d "$db" -c "$DEPTH_CLIENTS" -j 2 -T "$DEPTH_SECS" -D q=depth -D batch=1 -D keys="$KEYS" \
    -f "$(peer_file "$p" enqueue.sql)@1" -f "$(peer_file "$p" "$sname")@1" -l --log-prefix="$pre" >"$out" 2>&1 || true
  if grep -q 'ERROR' "$out"; then rec "depth_$d" "$s" "error: $(grep -m1 ERROR "$out" | cut -c1-120)"; return; fi
  lat=$(latency "$pre")
  rm -f "$pre".[0-9]*
  after=$(q1 "$db" -v q=depth -f "$(peer_file "$p" "$rname")")
  rec "depth_$d" "$s" "$(awk -v n="${lat%% *}" -v t="$DEPTH_SECS" 'BEGIN { printf "%.0f", n / t }')" "$lat $after"
}

# wake-up (P7): bench/wakeup_many.py in the peer's database; value = median
# ms, detail = "median p99 p90 max claimers samples"
wakeup_run() {   # wakeup_run <peer>
  local p=$1 db out=$RUN/$1.wakeup.out r
  db=$(conf "$p" DB)
  if ! /usr/bin/python3 -c 'import psycopg' 2>/dev/null; then
    { [ "$(id -u)" = 0 ] && apt-get install -y python3-psycopg >"$RUN/apt-psycopg.log" 2>&1; } ||
      { rec wakeup "$p" "skipped: needs python3-psycopg (apt-get install python3-psycopg)"; return; }
  fi
  /usr/bin/python3 "$HERE/wakeup_many.py" "host=$SOCK port=$PORT user=postgres dbname=$db" \
    "$WAKE_CLAIMERS" "$WAKE_SAMPLES" >"$out" 2>&1 || { rec wakeup "$p" "error: see $out"; return; }
  r=$(sed -n 's/.*ms: median \([0-9.-]*\), p90 \([0-9.-]*\), p99 \([0-9.-]*\), max \([0-9.-]*\).*/\1 \3 \2 \4/p' "$out")
  [ -n "$r" ] || { rec wakeup "$p" "error: no result in $out"; return; }
  rec wakeup "$p" "${r%% *}" "$r $WAKE_CLAIMERS $WAKE_SAMPLES"
}

# storage (P8): bench/storage.sh, in a cluster of its own (autovacuum_naptime
# 10 s: with the default minute the working set grows between two passes
# and "flat" would measure the naptime); value = bytes per ready message
# beyond its payload, detail = "ready processed first_kB last_kB lowest_kB
# highest_kB" (working set while the pipeline runs)
storage_run() {   # storage_run <peer>
  local p=$1 res=$RUN/storage.result
  FQSSTORAGE_BASE=$RUN/storage PGBIN=$PGBIN \
    OUT=$RUN/storage.md RESULT_FILE=$res N=$STORAGE_N KEYS=$KEYS ROUNDS=$STORAGE_ROUNDS WINDOW=$STORAGE_WINDOW \
    bash "$HERE/storage.sh" >"$RUN/storage.log" 2>&1 || { rec storage "$p" "error: see $RUN/storage.log"; return; }
  [ -s "$res" ] || { rec storage "$p" "error: no result, see $RUN/storage.log"; return; }
  rec storage "$p" "$(cut -d' ' -f1 "$res")" "$(cat "$res")"
}

run_workload() {   # run_workload <workload> <peer>
  local w=$1 p=$2 r
  if [ -n "${SKIP[$p]:-}" ]; then rec "$w" "$p" "${SKIP[$p]}"; return; fi
  r=$(na_reason "$p" "$w")
  if [ -n "$r" ]; then rec "$w" "$p" "n/a: $r"; return; fi
  case "$w" in
    enq1) enqueue_run "$p" "$w" 1 ;;
    enq100) enqueue_run "$p" "$w" 100 ;;
    drain1|drain10|drain1_c1|drain1_c64)
      local b=1 c=$CLIENTS
      [ "$w" = drain10 ] && b=10
      [ "$w" = drain1_c1 ] && c=1
      [ "$w" = drain1_c64 ] && c=64
      if is_node "$p" || peer_file "$p" claim_ack.sql >/dev/null; then
        drain_run "$p" "$w" "$b" "$c" "$KEYS" claim_ack.sql remaining.sql
      else rec "$w" "$p" "n/a: no claim script"; fi ;;
    pipe1|pipe10|pipe1_kbig)
      local b=1 k=$KEYS rname=remaining.sql
      [ "$w" = pipe10 ] && b=10
      [ "$w" = pipe1_kbig ] && k=$KBIG
      peer_file "$p" remaining_pipeline.sql >/dev/null && rname=remaining_pipeline.sql
      if peer_file "$p" pipeline.sql >/dev/null; then
        drain_run "$p" "$w" "$b" "$CLIENTS" "$k" pipeline.sql "$rname"
      else rec "$w" "$p" "n/a: no pipeline script"; fi ;;
    *) die "unknown workload $w" ;;
  esac
  log "$w $p: $(tail -1 "$TSV" | cut -f3,4)"
}

depth_ladder() {   # depth_ladder [redox]
  local d s p sname rname i=0 series=() order preload=preload.sql tag="" w=depth
  if [ "${1:-}" = redox ]; then preload=preload_redox.sql; tag=" redox"; w=redox; fi
  for p in $PEERS; do
    if [ -n "${SKIP[$p]:-}" ]; then rec "$w" "$p" "${SKIP[$p]}"; continue; fi
    if [ -n "$(na_reason "$p" depth)" ]; then rec "$w" "$p" "n/a: $(na_reason "$p" depth)"; continue; fi
    if ! peer_file "$p" "$preload" >/dev/null; then
      rec "$w" "$p" "n/a: no per-key order, so no key head to block (no $preload)"; continue
    fi
    peer_file "$p" claim_ack.sql >/dev/null && series+=("$p:$p$tag:claim_ack.sql:remaining.sql")
    if peer_file "$p" pipeline.sql >/dev/null; then
      rname=remaining.sql; peer_file "$p" remaining_pipeline.sql >/dev/null && rname=remaining_pipeline.sql
      if peer_file "$p" claim_ack.sql >/dev/null; then s="$p pipeline"; else s=$p; fi
      series+=("$p:$s$tag:pipeline.sql:$rname")
    fi
  done
  for d in $DEPTHS; do
    order=("${series[@]}")
    if [ $((i % 2)) = 1 ]; then order=(); for s in "${series[@]}"; do order=("$s" "${order[@]}"); done; fi
    i=$((i + 1))
    for s in "${order[@]}"; do
      IFS=: read -r p name sname rname <<<"$s"
      depth_run "$p" "$name" "$d" "$sname" "$rname" "$preload"
      log "depth $d $name: $(tail -1 "$TSV" | cut -f3,4)"
    done
  done
}

ceiling start
i=0
for w in $WORKLOADS; do
  if [ "$w" = depth ]; then depth_ladder; continue; fi
  if [ "$w" = redox ]; then depth_ladder redox; continue; fi
  if [ "$w" = wakeup ] || [ "$w" = storage ]; then
    # fqs only: the peers have no server-side wait, and their storage
    # differs in kind (bench/storage.sh measures fqs's relations)
    case " $PEERS " in
      *" fqs "*)
        if [ -n "${SKIP[fqs]:-}" ]; then rec "$w" fqs "${SKIP[fqs]}"; else "${w}_run" fqs; fi
        log "$w fqs: $(tail -1 "$TSV" | cut -f3,4)" ;;
    esac
    continue
  fi
  if [ "$w" = held ]; then
    for hp in $HELD_PEERS; do
      p=${hp%%:*}; script=claim_ack.sql; label=$p
      if [ "$hp" != "$p" ]; then script=${hp#*:}.sql; label="$p ${hp#*:}"; fi
      if [ -n "${SKIP[$p]:-}" ]; then rec held "$label" "${SKIP[$p]}"
      elif ! peer_file "$p" "$script" >/dev/null || is_node "$p"; then rec held "$label" "n/a: no pgbench $script"
      else held_run "$p" "$script" "$label"; log "held $label: $(tail -1 "$TSV" | cut -f3,4)"; fi
    done
    continue
  fi
  # alternate the order of the peers from one workload to the next
  order=$PEERS
  [ $((i % 2)) = 1 ] && order=$(echo "$PEERS" | tr ' ' '\n' | tac | tr '\n' ' ')
  i=$((i + 1))
  for p in $order; do run_workload "$w" "$p"; done
done
[ "$MODE" = quick ] || ceiling end
T_END=$(date +%s)
meta wall "$((T_END - T_START)) s"
meta fqs_after "installed fqs.so md5 $(md5sum "$FQS_SO" 2>/dev/null | cut -c1-12) at the end (the cluster preloaded the one found at start)"

# ---------------------------------------------------------------- report
if ! command -v gnuplot >/dev/null && [ "$(id -u)" = 0 ]; then
  log "apt-get install -y gnuplot-nox (for the plots)"
  { apt-get install -y gnuplot-nox || { apt-get update && apt-get install -y gnuplot-nox; }; } >"$RUN/apt-gnuplot.log" 2>&1 ||
    log "gnuplot-nox could not be installed: no plots (see $RUN/apt-gnuplot.log)"
fi
mkdir -p "$HERE/results"
OUT=$HERE/results/peers-$STAMP
python3 "$HERE/lib/peers_report.py" "$TSV" "$META" "$OUT" || die "report failed"
cp "$TSV" "$OUT.tsv"
[ -f "$RUN/storage.md" ] && cp "$RUN/storage.md" "$OUT-storage.md"
log "written: $OUT.md ($(( T_END - T_START )) s)"
cat "$OUT.md"
