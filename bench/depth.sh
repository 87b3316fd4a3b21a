#!/usr/bin/env bash
# bench/depth.sh -- does the cost of fqs's hot paths grow with queue depth?
#
# For each depth D (DEPTHS, default "1000 100000 1000000"), in a fresh
# database of a private, throw-away PostgreSQL 15 cluster:
#
#   concurrent   fill the queue with D ready messages over KEYS keys, then
#                run pgbench with two scripts mixed 1:1 so the depth stays ~D:
#                depth/claim_commit.sql (fqs_claim(q,1), then fqs_commit) and
#                depth/enqueue.sql (fqs_enqueue into a random key).
#   sequential   enqueue D messages and move them all through the concurrent
#                stage (claim + commit), so D processed messages wait for
#                release; then run pgbench with depth/seq_claim_complete.sql
#                (fqs_claim_sequential(q,1), then fqs_complete) mixed 1:1 with
#                depth/seq_feed.sql (enqueue + claim + commit one new message,
#                one transaction) so the processed backlog stays ~D.
#
# Reported per run: cycles/s of the measured script (counted on the server:
# commits resp. completes), avg and p99 latency of one claim+commit resp.
# claim+complete cycle (from the pgbench -l log), empty claims, and the depth
# before and after.  At the end: the ratio D=max / D=min (1e6 / 1e3 by
# default) of avg and p99 latency and of tps, per stage.  Target: latency
# ratio < 1.3.
#
# Needs: postgresql-15 (server, pgbench), fqs installed (`make install`),
# the OS user `postgres` when run as root (postgres refuses to run as root).
#
# Usage:
#   bench/depth.sh [--sync-commit=off] [--keep] [--pgss]
# Environment (defaults):
#   DEPTHS="1000 100000 1000000"  DURATION=15  CLIENTS=4  THREADS=2  KEYS=100
#   STAGES="concurrent sequential"  REPEAT=1 (pgbench runs per depth+stage;
#   the ratio uses the median)  CHUNK=10000 (fqs_enqueue_batch size at load)
#   CLAIM_BATCH=1000 (claim+commit batch when loading processed messages)
#   SYNC_COMMIT=on (synchronous_commit during the measured runs; loading always
#   uses off)  KEEP=0 (1: leave the cluster running)  PGSS=0 (1: load
#   pg_stat_statements with track=all and save the top statements of each run)
#   FQSDEPTH_BASE=/tmp/fqsdepth  FQSDEPTH_PORT=55433  PGBIN=/usr/lib/postgresql/15/bin
#
# Output: a table on stdout, bench/results/depth-<date>.md, and raw material
# (pgbench output and logs, loader timings, psql logs) in
# $FQSDEPTH_BASE/runs/<stamp>/.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HERE")
CMDLINE="$0 $*"

PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
BASE=${FQSDEPTH_BASE:-/tmp/fqsdepth}
PORT=${FQSDEPTH_PORT:-55433}
DEPTHS=${DEPTHS:-"1000 100000 1000000"}
DURATION=${DURATION:-15}
CLIENTS=${CLIENTS:-4}
THREADS=${THREADS:-2}
KEYS=${KEYS:-100}
STAGES=${STAGES:-"concurrent sequential"}
REPEAT=${REPEAT:-1}
CHUNK=${CHUNK:-10000}
CLAIM_BATCH=${CLAIM_BATCH:-1000}
SYNC_COMMIT=${SYNC_COMMIT:-on}
KEEP=${KEEP:-0}
PGSS=${PGSS:-0}
RUNAS=postgres
Q=q
DB=fqsdepth

for arg in "$@"; do
  case "$arg" in
    --sync-commit=*) SYNC_COMMIT=${arg#*=} ;;
    --keep) KEEP=1 ;;
    --pgss) PGSS=1 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "depth.sh: unknown argument $arg (see --help)" >&2; exit 2 ;;
  esac
done
case "$SYNC_COMMIT" in on|off) ;; *) echo "SYNC_COMMIT must be on or off" >&2; exit 2 ;; esac

# the exact command line, with the settings that differ from the defaults
ENVLINE=""
for v in DEPTHS DURATION CLIENTS THREADS KEYS STAGES REPEAT CHUNK CLAIM_BATCH SYNC_COMMIT KEEP PGSS; do
  if printenv "$v" >/dev/null 2>&1; then ENVLINE+="$v='$(printenv "$v")' "; fi
done
CMDLINE="${ENVLINE}${CMDLINE}"

PGDATA=$BASE/pgdata
SOCK=$BASE
STAMP=$(date +%Y%m%d-%H%M%S)
RUN=$BASE/runs/$STAMP

as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u "$RUNAS" -- "$@"; else "$@"; fi
}
psqlc() { "$PGBIN/psql" -h "$SOCK" -p "$PORT" -U postgres -X -v ON_ERROR_STOP=1 -q "$@"; }
now() { date +%s.%N; }
# fingerprint of the installed fqs (others may `make install` while we run)
fqs_fingerprint() {
  cat "$("$PGBIN/pg_config" --pkglibdir)/fqs.so" "$("$PGBIN/pg_config" --sharedir)"/extension/fqs* 2>/dev/null | md5sum | cut -c1-12
}
check_fingerprint() {
  local fp; fp=$(fqs_fingerprint)
  if [ "$fp" != "$FQS_FP" ]; then
    log "WARNING: the installed fqs changed during the run ($FQS_FP -> $fp, $1); results mix versions"
    FP_CHANGED="the installed fqs changed during the run ($FQS_FP -> $fp, first seen $1): the figures mix versions, re-run"
    FQS_FP=$fp
  fi
}
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
log() { echo "[$(date +%H:%M:%S)] $*" | tee -a "$RUN/run.log" >&2; }

running() { [ -f "$PGDATA/PG_VERSION" ] && as_owner "$PGBIN/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1; }

stop_cluster() {
  if running; then as_owner "$PGBIN/pg_ctl" -D "$PGDATA" -m fast -w stop >/dev/null || true; fi
}

cleanup() {
  local rc=$?
  if [ "$KEEP" = 1 ]; then
    echo "KEEP=1: cluster left running: $PGBIN/psql -h $SOCK -p $PORT -U postgres -d $DB" >&2
  else
    stop_cluster
  fi
  exit $rc
}

start_cluster() {
  mkdir -p "$BASE"
  if [ "$(id -u)" = 0 ]; then chown "$RUNAS" "$BASE"; chmod 0777 "$BASE"; fi
  stop_cluster
  rm -rf "$PGDATA"
  as_owner "$PGBIN/initdb" -D "$PGDATA" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$RUN/initdb.log"
  cat >>"$PGDATA/postgresql.conf" <<EOF

# ---- fqs depth benchmark ----
listen_addresses = ''
port = $PORT
unix_socket_directories = '$SOCK'
max_connections = 50
shared_buffers = 1GB
effective_cache_size = 8GB
work_mem = 16MB
maintenance_work_mem = 512MB
fsync = on
synchronous_commit = $SYNC_COMMIT
full_page_writes = on
wal_level = replica
wal_buffers = 64MB
max_wal_size = 8GB
min_wal_size = 1GB
checkpoint_timeout = 30min
checkpoint_completion_target = 0.9
autovacuum = on
autovacuum_naptime = 10s
log_checkpoints = on
log_autovacuum_min_duration = 0
jit = off
EOF
  if [ "$PGSS" = 1 ]; then
    cat >>"$PGDATA/postgresql.conf" <<EOF
shared_preload_libraries = 'pg_stat_statements'
pg_stat_statements.track = all
pg_stat_statements.max = 5000
EOF
  fi
  as_owner "$PGBIN/pg_ctl" -D "$PGDATA" -l "$BASE/postgres.log" -w -t 60 start >/dev/null
}

# fresh database with fqs and one queue
fresh_db() {
  psqlc -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"
  if ! psqlc -d "$DB" -c "CREATE EXTENSION fqs" 2>"$RUN/create_extension.err"; then
    cat "$RUN/create_extension.err" >&2
    echo "depth.sh: CREATE EXTENSION fqs failed -- is fqs installed? Run 'make install' in $REPO first." >&2
    exit 1
  fi
  if [ "$PGSS" = 1 ]; then psqlc -d "$DB" -c "CREATE EXTENSION pg_stat_statements"; fi
  psqlc -d "$DB" -c "SELECT fqs_create_queue('$Q')" >/dev/null
}

# queue counters, cheap (per-key rows only):
#   enqueued total, processed total (committed), done total (completed)
counters() {
  psqlc -d "$DB" -At -F ' ' -c "
    SELECT (SELECT coalesce(sum(last_seq), 0) FROM fqs.key_tail),
           (SELECT coalesce(sum(n_processed), 0) FROM fqs.key_head),
           (SELECT coalesce(sum(n_done), 0) FROM fqs.key_head)"
}

load() {   # load <D> <stage> -> sets LOAD_DESC
  local d=$1 stage=$2 t0 t1 t2 t3
  t0=$(now)
  PGOPTIONS="-c synchronous_commit=off" psqlc -d "$DB" -v q="$Q" -v n="$d" -v keys="$KEYS" \
    -v chunk="$CHUNK" -f "$HERE/depth/load_ready.sql" >>"$RUN/load.log"
  t1=$(now)
  LOAD_DESC="enqueue $(secs "$t0" "$t1") s"
  if [ "$stage" = sequential ]; then
    PGOPTIONS="-c synchronous_commit=off" psqlc -d "$DB" -v q="$Q" -v n="$d" \
      -v batch="$CLAIM_BATCH" -f "$HERE/depth/load_processed.sql" >>"$RUN/load.log"
    t2=$(now)
    LOAD_DESC+=", claim+commit $(secs "$t1" "$t2") s"
  else
    t2=$t1
  fi
  psqlc -d "$DB" -c "VACUUM ANALYZE" -c "CHECKPOINT"
  t3=$(now)
  LOAD_DESC+=", vacuum+checkpoint $(secs "$t2" "$t3") s (total $(secs "$t0" "$t3") s)"
}

# latency stats of script 0 from pgbench -l logs: count avg_ms p99_ms
lat_stats() {
  cat "$@" | awk '$4 == 0 { print $3 }' | sort -n | awk '
    { v[NR] = $1; s += $1 }
    END {
      if (NR == 0) { print "0 nan nan"; exit }
      i = int(NR * 0.99); if (i < NR * 0.99) i++; if (i < 1) i = 1
      printf "%d %.3f %.3f\n", NR, s / NR / 1000, v[i] / 1000
    }'
}

measure() {   # measure <D> <stage> <rep>
  local d=$1 stage=$2 rep=$3 tag="${1}_${2}_r${3}" s_main s_other before after
  if [ "$stage" = concurrent ]; then
    s_main=claim_commit.sql; s_other=enqueue.sql
  else
    s_main=seq_claim_complete.sql; s_other=seq_feed.sql
  fi
  before=$(counters)
  if [ "$PGSS" = 1 ]; then psqlc -d "$DB" -c "SELECT pg_stat_statements_reset()" >/dev/null; fi
  (cd "$RUN" && "$PGBIN/pgbench" -h "$SOCK" -p "$PORT" -U postgres -n -M prepared \
      -c "$CLIENTS" -j "$THREADS" -T "$DURATION" -r -l --log-prefix="pgb_$tag" \
      -D q="$Q" -D keys="$KEYS" \
      -f "$HERE/depth/$s_main@1" -f "$HERE/depth/$s_other@1" "$DB") >"$RUN/pgbench_$tag.out" 2>&1 || {
    cat "$RUN/pgbench_$tag.out" >&2; echo "depth.sh: pgbench failed ($tag)" >&2; exit 1; }
  if grep -q "aborted" "$RUN/pgbench_$tag.out" && ! grep -q "number of failed transactions: 0" "$RUN/pgbench_$tag.out"; then
    log "warning: pgbench reports aborted clients in $tag (see $RUN/pgbench_$tag.out)"
  fi
  after=$(counters)
  if [ "$PGSS" = 1 ]; then
    psqlc -d "$DB" -c "
      SELECT calls, round(total_exec_time::numeric, 1) AS total_ms,
             round(mean_exec_time::numeric, 4) AS mean_ms,
             round((shared_blks_hit + shared_blks_read)::numeric / greatest(calls, 1), 1) AS blks_per_call,
             left(regexp_replace(query, '\s+', ' ', 'g'), 110) AS query
        FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 25" >"$RUN/pgss_$tag.txt"
  fi
  local st n avg p99 enq0 pro0 don0 enq1 pro1 don1 cycles depth0 depth1 tps empty
  st=$(lat_stats "$RUN"/pgb_"$tag".*)
  read -r n avg p99 <<<"$st"
  read -r enq0 pro0 don0 <<<"$before"
  read -r enq1 pro1 don1 <<<"$after"
  if [ "$stage" = concurrent ]; then
    cycles=$((pro1 - pro0)); depth0=$((enq0 - pro0)); depth1=$((enq1 - pro1))
  else
    cycles=$((don1 - don0)); depth0=$((pro0 - don0)); depth1=$((pro1 - don1))
  fi
  empty=$((n - cycles))
  tps=$(awk -v c="$cycles" -v t="$DURATION" 'BEGIN { printf "%.0f", c / t }')
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$d" "$stage" "$rep" "$tps" "$avg" "$p99" \
    "$cycles" "$empty" "$depth0 -> $depth1" "$LOAD_DESC" >>"$RUN/results.tsv"
  log "D=$d $stage r$rep: $tps tps, avg $avg ms, p99 $p99 ms ($cycles cycles, $empty empty claims, depth $depth0 -> $depth1)"
}

# ---------------------------------------------------------------------------
mkdir -p "$BASE/runs"
[ "$(id -u)" = 0 ] && chmod 0777 "$BASE" "$BASE/runs"
mkdir -p "$RUN"
: >"$RUN/results.tsv"
trap cleanup EXIT
trap 'exit 130' INT TERM

T_START=$(now)
FQS_FP=$(fqs_fingerprint); FQS_FP0=$FQS_FP; FP_CHANGED=""
FQS_MTIME=$(date -r "$("$PGBIN/pg_config" --pkglibdir)/fqs.so" '+%Y-%m-%d %H:%M:%S' 2>/dev/null || echo "?")
log "depth benchmark $STAMP: DEPTHS='$DEPTHS' STAGES='$STAGES' DURATION=$DURATION CLIENTS=$CLIENTS THREADS=$THREADS KEYS=$KEYS REPEAT=$REPEAT synchronous_commit=$SYNC_COMMIT"
start_cluster
log "cluster up: port $PORT, socket $SOCK, data $PGDATA, raw output in $RUN"

for d in $DEPTHS; do
  for stage in $STAGES; do
    case "$stage" in concurrent|sequential) ;; *) echo "unknown stage $stage" >&2; exit 2 ;; esac
    fresh_db
    log "D=$d $stage: loading"
    load "$d" "$stage"
    check_fingerprint "after loading D=$d $stage"
    log "D=$d $stage: loaded ($LOAD_DESC)"
    for rep in $(seq 1 "$REPEAT"); do
      measure "$d" "$stage" "$rep"
      check_fingerprint "after D=$d $stage run $rep"
    done
  done
done
T_END=$(now)

# ---------------------------------------------------------------------------
# report
DMIN=$(printf '%s\n' $DEPTHS | sort -n | head -1)
DMAX=$(printf '%s\n' $DEPTHS | sort -n | tail -1)

TABLE=$(awk -F '\t' '
  BEGIN { printf "| D | stage | run | tps | avg ms | p99 ms | cycles | empty claims | depth before -> after |\n|---:|---|---:|---:|---:|---:|---:|---:|---|\n" }
  { printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6, $7, $8, $9 }' "$RUN/results.tsv")

# median over repeats of tps, avg, p99 per (D, stage)
med() {  # med <D> <stage> <column>
  awk -F '\t' -v d="$1" -v s="$2" -v c="$3" '$1 == d && $2 == s { print $c }' "$RUN/results.tsv" |
    sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 == 0 || a == "nan" || b == "nan") print "n/a"; else printf "%.2f", a / b }'; }

RATIOS="| stage | avg ms D=$DMIN | avg ms D=$DMAX | avg ratio | p99 ms D=$DMIN | p99 ms D=$DMAX | p99 ratio | tps ratio (D=$DMIN / D=$DMAX) | target avg & p99 ratio < 1.3 |
|---|---:|---:|---:|---:|---:|---:|---:|---|"
for stage in $STAGES; do
  a0=$(med "$DMIN" "$stage" 5); a1=$(med "$DMAX" "$stage" 5)
  p0=$(med "$DMIN" "$stage" 6); p1=$(med "$DMAX" "$stage" 6)
  t0=$(med "$DMIN" "$stage" 4); t1=$(med "$DMAX" "$stage" 4)
  ra=$(ratio "$a1" "$a0"); rp=$(ratio "$p1" "$p0"); rt=$(ratio "$t0" "$t1")
  ok=$(awk -v a="$ra" -v p="$rp" 'BEGIN { print (a != "n/a" && p != "n/a" && a < 1.3 && p < 1.3) ? "met" : "NOT met" }')
  RATIOS+="
| $stage | $a0 | $a1 | **$ra** | $p0 | $p1 | **$rp** | $rt | $ok |"
done

LOADS=$(awk -F '\t' '!seen[$1 FS $2]++ { printf "- D=%s %s: %s\n", $1, $2, $10 }' "$RUN/results.tsv")
PGVER=$("$PGBIN/postgres" --version)
GITREV=$(cd "$REPO" && git rev-parse --short HEAD 2>/dev/null || echo "?")
GITDIRTY=$(cd "$REPO" && [ -n "$(git status --porcelain -- src 2>/dev/null)" ] && echo " (src/ has uncommitted changes)" || true)
TOTAL=$(secs "$T_START" "$T_END")

echo
echo "fqs depth benchmark $STAMP  ($PGVER; $(nproc) cores; synchronous_commit=$SYNC_COMMIT during runs)"
echo
echo "$TABLE"
echo
echo "Ratio D=$DMAX / D=$DMIN (median over $REPEAT run(s)):"
echo
echo "$RATIOS"
echo
echo "Loading:"
echo "$LOADS"
echo
[ -n "$FP_CHANGED" ] && echo "WARNING: $FP_CHANGED"
echo "Total wall time ${TOTAL} s.  Raw output: $RUN"
echo "Command: $CMDLINE"

mkdir -p "$REPO/bench/results"
OUT="$REPO/bench/results/depth-$(date +%Y-%m-%d).md"
[ -e "$OUT" ] && OUT="$REPO/bench/results/depth-$(date +%Y-%m-%d-%H%M%S).md"
{
  echo "# fqs depth benchmark -- $STAMP"
  echo
  echo "Machine: $(nproc) cores, $(free -g | awk '/^Mem:/ { print $2 }') GiB RAM; $PGVER."
  echo "fqs: installed build fingerprint $FQS_FP0 (fqs.so from $FQS_MTIME; repo HEAD $GITREV$GITDIRTY at report time)."
  [ -n "$FP_CHANGED" ] && { echo; echo "**WARNING: $FP_CHANGED.**"; }
  echo "Cluster: private, throw-away (initdb per run), shared_buffers=1GB, fsync=on, synchronous_commit=$SYNC_COMMIT"
  echo "(loading uses off), wal_level=replica, max_wal_size=8GB, autovacuum on, jit off$( [ "$PGSS" = 1 ] && echo ', pg_stat_statements track=all')."
  echo
  echo "Command: \`$CMDLINE\`"
  echo
  echo "Workload: pgbench -M prepared -c $CLIENTS -j $THREADS -T $DURATION, one fresh database per (D, stage), $KEYS keys."
  echo "- concurrent: \`bench/depth/claim_commit.sql\` (fqs_claim(q,1); fqs_commit) mixed 1:1 with \`bench/depth/enqueue.sql\`."
  echo "- sequential: \`bench/depth/seq_claim_complete.sql\` (fqs_claim_sequential(q,1); fqs_complete) mixed 1:1 with"
  echo "  \`bench/depth/seq_feed.sql\` (enqueue + claim + commit one message in one transaction)."
  echo "tps = cycles counted on the server (commits resp. completes) / $DURATION s; avg and p99 = latency of the measured"
  echo "script (claim + commit resp. claim + complete, two transactions) from the pgbench -l log; empty claims = cycles"
  echo "whose claim returned nothing; depth = ready (concurrent) resp. processed-not-complete (sequential) messages."
  echo
  echo "$TABLE"
  echo
  echo "Ratio D=$DMAX / D=$DMIN (median over $REPEAT run(s)):"
  echo
  echo "$RATIOS"
  echo
  echo "Loading (synchronous_commit=off, fqs_enqueue_batch of $CHUNK, claim+commit in batches of $CLAIM_BATCH):"
  echo
  echo "$LOADS"
  echo
  echo "Total wall time ${TOTAL} s. Raw output was in \`$RUN\`."
  echo
  echo "## Per-statement latencies (pgbench -r)"
  for f in "$RUN"/pgbench_*.out; do
    echo
    echo "\`$(basename "$f" .out)\`"
    echo
    echo '```'
    sed -n '/^latency average/,$p' "$f"
    echo '```'
  done
} >"$OUT"
echo "Written: $OUT"
