#!/usr/bin/env bash
# bench/depth.sh -- does the cost of fqs's hot paths grow with queue depth?
#
# Starts a private, throw-away PostgreSQL 15 cluster (initdb under
# $FQSDEPTH_BASE, port $FQSDEPTH_PORT, trust auth, run as OS user postgres,
# fqs preloaded), and for each depth D (DEPTHS, default "1000 100000 1000000")
# and stage loads one database:
#
#   concurrent   D ready messages over KEYS keys (fqs_enqueue_batch, CHUNK per
#                call).  Measured: depth/claim_commit.sql (fqs_claim(q,1),
#                then fqs_commit: two transactions) mixed 1:1 with
#                depth/enqueue.sql (fqs_enqueue into a random key), so the
#                depth stays ~D.
#   sequential   D messages enqueued and pushed through the concurrent stage
#                (claim + commit), so D processed messages wait for release.
#                Measured: depth/seq_claim_complete.sql (fqs_claim_sequential
#                (q,1), then fqs_complete) mixed 1:1 with depth/seq_feed.sql
#                (enqueue + claim + commit one message, one transaction), so
#                the processed backlog stays ~D.
#
# Every database gets VACUUM ANALYZE and CHECKPOINT after loading.  Then
# REPEAT rounds run pgbench (-M prepared -c CLIENTS -j THREADS -T DURATION)
# on every (D, stage) in turn -- interleaved, so that load from other work on
# a shared machine spreads over all depths -- topping the depth back up to D
# before a run when the previous one drained it.
#
# Reported per run: cycles/s of the measured script (counted on the server
# from fqs_queues: commits resp. completes), avg and p99 latency of one cycle
# (pgbench -l log), empty claims, depth before and after, host load.  Summary:
# the median over the rounds per (D, stage), and per stage the ratio
# D=max / D=min (1e6 / 1e3 by default) of avg and p99 latency and of tps.
# Target (issue 2, "Cost"): latency ratio < 1.3.
#
# Version pinning: other sessions may `make install` while this runs.  With
# PRELOAD=1 the whole run uses the build found at start: the postmaster
# preloads fqs.so (backends reuse that copy, the library path being the
# same) and every benchmark database is a copy of a template database in
# which CREATE EXTENSION ran once at start.
#
# Needs: postgresql-15 (server, pgbench), fqs installed (`make install`;
# the script says so when CREATE EXTENSION fails), the OS user `postgres`
# when run as root.  About 8 minutes on 2 cores with the defaults.
#
# Usage:
#   bench/depth.sh [--sync-commit=off] [--keep] [--pgss]
# Environment (defaults):
#   DEPTHS="1000 100000 1000000"  DURATION=15  CLIENTS=4  THREADS=2  KEYS=100
#   STAGES="concurrent sequential"
#   REPEAT=3        rounds of measured runs (the summary uses the median)
#   WARMUP=0        seconds of the same pgbench mix, not measured, before each
#                   measured run: lets the dead-tuple state of a long-running
#                   queue build up instead of measuring soon after VACUUM
#   SYNC_COMMIT=on  synchronous_commit during the measured runs (loading
#                   always uses off); also --sync-commit=off
#   MAX_READY=0     the concurrent-stage queue's max_ready: 0 = no holding pen,
#                   all D messages are ready and the claim faces the whole
#                   depth; "default" = fqs.max_ready, the pen then holds all
#                   but ~max_ready of them (needs PRELOAD=1: the worker runs
#                   the breaker and mover).  The sequential stage always uses 0.
#   PRELOAD=1       shared_preload_libraries = 'fqs' (background workers, as
#                   deployed); 0: no preloading, no workers, no version pin
#   PGSS=0          1 (or --pgss): pg_stat_statements with track=all and
#                   track_planning; the top statements of each run are saved
#   KEEP=0          1 (or --keep): leave the cluster and databases running
#   CHUNK=10000     fqs_enqueue_batch size when loading
#   CLAIM_BATCH=100 claim+commit batch when loading processed messages (a
#                   commit's cost grows with the number of leased messages,
#                   see bench/results/depth-*.md)
#   VACUUM_EVERY=200  VACUUM fqs.ready after every so many of those batches
#   FQSDEPTH_BASE=/tmp/fqsdepth  FQSDEPTH_PORT=55433  PGBIN=/usr/lib/postgresql/15/bin
#
# Output: the tables on stdout, bench/results/depth-<date>.md (a -<time>
# suffix when that exists), and raw material (pgbench output and -l logs,
# server log, loader log, pg_stat_statements dumps) in
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
REPEAT=${REPEAT:-3}
CHUNK=${CHUNK:-10000}
CLAIM_BATCH=${CLAIM_BATCH:-100}
VACUUM_EVERY=${VACUUM_EVERY:-200}
WARMUP=${WARMUP:-0}
SYNC_COMMIT=${SYNC_COMMIT:-on}
KEEP=${KEEP:-0}
PGSS=${PGSS:-0}
PRELOAD=${PRELOAD:-1}
MAX_READY=${MAX_READY:-0}
RUNAS=postgres
Q=q
DB=postgres     # set per (D, stage): d<D>_<stage>
TEMPLATE=fqsdepth_template

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
case "$MAX_READY" in default|[0-9]*) ;; *) echo "MAX_READY must be a number or 'default'" >&2; exit 2 ;; esac

# the exact command line, with the settings that differ from the defaults
ENVLINE=""
for v in DEPTHS DURATION CLIENTS THREADS KEYS STAGES REPEAT CHUNK CLAIM_BATCH VACUUM_EVERY WARMUP SYNC_COMMIT KEEP PGSS PRELOAD MAX_READY; do
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
# With PRELOAD=1 the run is pinned to the build found at start: the
# postmaster preloads fqs.so (backends reuse that copy, the library path being
# the same) and every benchmark database is a copy of a template database in
# which CREATE EXTENSION ran once at start.  Without preloading, each new
# connection loads whatever fqs.so is installed at that moment.
check_fingerprint() {
  local fp; fp=$(fqs_fingerprint)
  if [ "$fp" != "$FQS_FP" ]; then
    if [ "$PRELOAD" = 1 ]; then
      log "note: the installed fqs changed on disk ($FQS_FP -> $fp, $1); this run keeps using the build pinned at start"
    else
      log "WARNING: the installed fqs changed during the run ($FQS_FP -> $fp, $1); results mix versions"
      FP_CHANGED+="${FP_CHANGED:+; }changed $FQS_FP -> $fp (first seen $1)"
    fi
    FQS_FP=$fp
  fi
}
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
log() { echo "[$(date +%H:%M:%S)] $*" | tee -a "$RUN/run.log" >&2; }

. "$(dirname "$0")/lib/cluster.sh"

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
max_worker_processes = 32
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
  local libs="" dbs="" d st
  [ "$PRELOAD" = 1 ] && libs="fqs"
  if [ "$PRELOAD" = 1 ]; then
    # fqs workers only for the benchmark databases (not for the template)
    for d in $DEPTHS; do for st in $STAGES; do dbs="${dbs:+$dbs,}d${d}_${st}"; done; done
    echo "fqs.databases = '$dbs'" >>"$PGDATA/postgresql.conf"
  fi
  [ "$PGSS" = 1 ] && libs="${libs:+$libs,}pg_stat_statements"
  echo "shared_preload_libraries = '$libs'" >>"$PGDATA/postgresql.conf"
  if [ "$PGSS" = 1 ]; then
    cat >>"$PGDATA/postgresql.conf" <<EOF
pg_stat_statements.track = all
pg_stat_statements.track_planning = on
pg_stat_statements.max = 5000
EOF
  fi
  if ! as_owner "$PGBIN/pg_ctl" -D "$PGDATA" -l "$RUN/postgres.log" -w -t 60 start >/dev/null; then
    tail -20 "$RUN/postgres.log" >&2
    echo "depth.sh: the cluster did not start (shared_preload_libraries = '$libs');" \
         "is fqs installed ('make install' in $REPO)?  PRELOAD=0 runs without preloading." >&2
    exit 1
  fi
}

# fresh database <name> with fqs and one queue (max_ready <mr>); drops the previous one
# template database with the extension, created once at start (see above)
make_template() {
  psqlc -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $TEMPLATE" -c "CREATE DATABASE $TEMPLATE"
  if ! psqlc -d "$TEMPLATE" -c "SET client_min_messages = error" -c "CREATE EXTENSION fqs" 2>"$RUN/create_extension.err"; then
    cat "$RUN/create_extension.err" >&2
    echo "depth.sh: CREATE EXTENSION fqs failed -- is fqs installed? Run 'make install' in $REPO first." >&2
    exit 1
  fi
  if [ "$PGSS" = 1 ]; then psqlc -d "$TEMPLATE" -c "CREATE EXTENSION pg_stat_statements"; fi
  FQS_VERSION=$(psqlc -d "$TEMPLATE" -At -c "SELECT extversion FROM pg_extension WHERE extname = 'fqs'")
}

fresh_db() {
  local name=$1 mr=$2
  DB=$name
  psqlc -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" \
    -c "CREATE DATABASE $DB TEMPLATE $TEMPLATE"
  if [ "$PRELOAD" = 1 ]; then
    # what CREATE EXTENSION would have done: ask for this database's worker
    psqlc -d "$DB" -At -c "SELECT fqs.start_worker()" >/dev/null
  fi
  if [ "$mr" = default ]; then
    psqlc -d "$DB" -c "SELECT fqs_create_queue('$Q')" >/dev/null
  else
    psqlc -d "$DB" -c "SELECT fqs_create_queue('$Q', max_ready => $mr)" >/dev/null
  fi
}

# queue counters from the public fqs_queues view (read through jsonb, so a
# column an fqs version lacks counts as 0):
#   concurrent-stage depth (pen + ready + delayed + claimed),
#   sequential-stage depth (processed + sequencing), done total
counters() {
  n() { printf "coalesce((j->>'%s')::bigint, 0)" "$1"; }
  psqlc -d "$DB" -At -F ' ' -c "
    SELECT $(n pen) + $(n ready) + $(n delayed) + $(n claimed),
           $(n processed) + $(n sequencing), $(n done_total)
      FROM (SELECT to_jsonb(v) AS j FROM fqs_queues v WHERE v.queue = '$Q') AS x"
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
      -v batch="$CLAIM_BATCH" -v vacuum_every="$VACUUM_EVERY" -f "$HERE/depth/load_processed.sql" >>"$RUN/load.log"
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

# bring the depth back to D when earlier rounds drained it (the 1:1 mix keeps
# the depth only on average); more than D is left alone
top_up() {   # top_up <D> <stage>
  local d=$1 stage=$2 cdep sdep don need
  read -r cdep sdep don <<<"$(counters)"
  if [ "$stage" = concurrent ]; then need=$((d - cdep)); else need=$((d - sdep)); fi
  [ "$need" -gt 0 ] || return 0
  PGOPTIONS="-c synchronous_commit=off" psqlc -d "$DB" -v q="$Q" -v n="$need" -v keys="$KEYS" \
    -v chunk="$CHUNK" -f "$HERE/depth/load_ready.sql" >>"$RUN/load.log"
  if [ "$stage" = sequential ]; then
    PGOPTIONS="-c synchronous_commit=off" psqlc -d "$DB" -v q="$Q" -v n="$need" \
      -v batch="$CLAIM_BATCH" -v vacuum_every="$VACUUM_EVERY" -f "$HERE/depth/load_processed.sql" >>"$RUN/load.log"
  fi
  log "D=$d $stage: topped up by $need messages"
}

measure() {   # measure <D> <stage> <rep>
  local d=$1 stage=$2 rep=$3 tag="${1}_${2}_r${3}" s_main s_other before after
  if [ "$stage" = concurrent ]; then
    s_main=claim_commit.sql; s_other=enqueue.sql
  else
    s_main=seq_claim_complete.sql; s_other=seq_feed.sql
  fi
  if [ "$WARMUP" -gt 0 ]; then
    "$PGBIN/pgbench" -h "$SOCK" -p "$PORT" -U postgres -n -M prepared \
      -c "$CLIENTS" -j "$THREADS" -T "$WARMUP" -D q="$Q" -D keys="$KEYS" \
      -f "$HERE/depth/$s_main@1" -f "$HERE/depth/$s_other@1" "$DB" >"$RUN/warmup_$tag.out" 2>&1 || {
      cat "$RUN/warmup_$tag.out" >&2; echo "depth.sh: warm-up pgbench failed ($tag)" >&2; exit 1; }
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
  local loadavg; loadavg=$(cut -d' ' -f1 /proc/loadavg)
  if [ "$PGSS" = 1 ]; then
    psqlc -d "$DB" -c "
      SELECT calls, plans, round(total_plan_time::numeric, 1) AS plan_ms,
             round(total_exec_time::numeric, 1) AS total_ms,
             round(mean_exec_time::numeric, 4) AS mean_ms,
             round((shared_blks_hit + shared_blks_read)::numeric / greatest(calls, 1), 1) AS blks_per_call,
             left(regexp_replace(query, '\s+', ' ', 'g'), 110) AS query
        FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 25" >"$RUN/pgss_$tag.txt"
  fi
  local st n avg p99 cd0 sd0 don0 cd1 sd1 don1 cycles depth0 depth1 tps empty
  st=$(lat_stats "$RUN"/pgb_"$tag".*)
  read -r n avg p99 <<<"$st"
  read -r cd0 sd0 don0 <<<"$before"
  read -r cd1 sd1 don1 <<<"$after"
  if [ "$stage" = concurrent ]; then
    # commits = growth of everything past the concurrent stage
    cycles=$(( (sd1 + don1) - (sd0 + don0) )); depth0=$cd0; depth1=$cd1
  else
    cycles=$((don1 - don0)); depth0=$sd0; depth1=$sd1
  fi
  empty=$((n - cycles))
  tps=$(awk -v c="$cycles" -v t="$DURATION" 'BEGIN { printf "%.0f", c / t }')
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$d" "$stage" "$rep" "$tps" "$avg" "$p99" \
    "$cycles" "$empty" "$depth0 -> $depth1" "$LOAD_DESC" "$loadavg" >>"$RUN/results.tsv"
  log "D=$d $stage r$rep: $tps tps, avg $avg ms, p99 $p99 ms ($cycles cycles, $empty empty claims, depth $depth0 -> $depth1)"
}

# ---------------------------------------------------------------------------
mkdir -p "$BASE/runs"
[ "$(id -u)" = 0 ] && chmod 0777 "$BASE" "$BASE/runs"
mkdir -p "$RUN"; [ "$(id -u)" = 0 ] && chmod 0777 "$RUN"
: >"$RUN/results.tsv"
trap cleanup EXIT
trap 'exit 130' INT TERM

T_START=$(now)
FQS_FP=$(fqs_fingerprint); FQS_FP0=$FQS_FP; FP_CHANGED=""
FQS_MTIME=$(date -r "$("$PGBIN/pg_config" --pkglibdir)/fqs.so" '+%Y-%m-%d %H:%M:%S' 2>/dev/null || echo "?")
log "depth benchmark $STAMP: DEPTHS='$DEPTHS' STAGES='$STAGES' DURATION=$DURATION CLIENTS=$CLIENTS THREADS=$THREADS KEYS=$KEYS REPEAT=$REPEAT synchronous_commit=$SYNC_COMMIT"
start_cluster
make_template
if [ "$(fqs_fingerprint)" != "$FQS_FP" ]; then
  log "the installed fqs changed while the cluster started; starting again"
  FQS_FP=$(fqs_fingerprint); FQS_FP0=$FQS_FP
  FQS_MTIME=$(date -r "$("$PGBIN/pg_config" --pkglibdir)/fqs.so" '+%Y-%m-%d %H:%M:%S' 2>/dev/null || echo "?")
  start_cluster
  make_template
fi
log "cluster up: port $PORT, socket $SOCK, data $PGDATA, shared_preload_libraries='$(psqlc -d postgres -At -c 'SHOW shared_preload_libraries')', raw output in $RUN"

# Load every (D, stage) into its own database first, then measure them
# round-robin, REPEAT rounds: on a shared machine, load from other work then
# spreads over all depths instead of biasing one of them.
declare -A LOAD_OF
for d in $DEPTHS; do
  for stage in $STAGES; do
    case "$stage" in concurrent|sequential) ;; *) echo "unknown stage $stage" >&2; exit 2 ;; esac
    if [ "$stage" = concurrent ]; then mr=$MAX_READY; else mr=0; fi
    fresh_db "d${d}_${stage}" "$mr"
    log "D=$d $stage: loading"
    load "$d" "$stage"
    LOAD_OF[$d/$stage]=$LOAD_DESC
    check_fingerprint "after loading D=$d $stage"
    log "D=$d $stage: loaded ($LOAD_DESC)"
  done
done
T_LOADED=$(now)
for rep in $(seq 1 "$REPEAT"); do
  for d in $DEPTHS; do
    for stage in $STAGES; do
      DB="d${d}_${stage}"; LOAD_DESC=${LOAD_OF[$d/$stage]}
      top_up "$d" "$stage"
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

# median over the rounds, per (D, stage) and column of results.tsv
med() {  # med <D> <stage> <column> [printf format]
  awk -F '\t' -v d="$1" -v s="$2" -v c="$3" '$1 == d && $2 == s { print $c }' "$RUN/results.tsv" |
    sort -g | awk -v f="${4:-%.3f}" '{ v[NR] = $1 }
      END { if (NR == 0) print "nan"; else printf f "\n", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 == 0 || a == "nan" || b == "nan") print "n/a"; else printf "%.2f", a / b }'; }

TABLE="| D | stage | tps | avg ms | p99 ms |
|---:|---|---:|---:|---:|"
for d in $DEPTHS; do
  for stage in $STAGES; do
    TABLE+="
| $d | $stage | $(med "$d" "$stage" 4 %.0f) | $(med "$d" "$stage" 5) | $(med "$d" "$stage" 6) |"
  done
done

RUNS_TABLE=$(awk -F '\t' '
  BEGIN { printf "| D | stage | round | tps | avg ms | p99 ms | cycles | empty claims | depth before -> after | host load |\n|---:|---|---:|---:|---:|---:|---:|---:|---|---:|\n" }
  { printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6, $7, $8, $9, $11 }' "$RUN/results.tsv")

RATIOS="| stage | avg ratio | p99 ratio | tps ratio (D=$DMIN / D=$DMAX) | target: avg and p99 ratio < 1.3 |
|---|---:|---:|---:|---|"
for stage in $STAGES; do
  a0=$(med "$DMIN" "$stage" 5); a1=$(med "$DMAX" "$stage" 5)
  p0=$(med "$DMIN" "$stage" 6); p1=$(med "$DMAX" "$stage" 6)
  t0=$(med "$DMIN" "$stage" 4); t1=$(med "$DMAX" "$stage" 4)
  ra=$(ratio "$a1" "$a0"); rp=$(ratio "$p1" "$p0"); rt=$(ratio "$t0" "$t1")
  ok=$(awk -v a="$ra" -v p="$rp" 'BEGIN { print (a != "n/a" && p != "n/a" && a < 1.3 && p < 1.3) ? "met" : "NOT met" }')
  RATIOS+="
| $stage | **$ra** | **$rp** | $rt | $ok |"
done

LOADS=$(for d in $DEPTHS; do for stage in $STAGES; do echo "- D=$d $stage: ${LOAD_OF[$d/$stage]}"; done; done)
PGVER=$("$PGBIN/postgres" --version)
GITREV=$(cd "$REPO" && git rev-parse --short HEAD 2>/dev/null || echo "?")
GITDIRTY=$(cd "$REPO" && [ -n "$(git status --porcelain -- src 2>/dev/null)" ] && echo " (src/ has uncommitted changes)" || true)
TOTAL=$(secs "$T_START" "$T_END")
LOADTIME=$(secs "$T_START" "$T_LOADED")
SUMMARY_HEAD="Median of $REPEAT round(s) of ${DURATION}-second runs:"
RATIO_HEAD="Ratio D=$DMAX / D=$DMIN of those medians:"

# the result tables, printed to the terminal and into the results file
print_tables() {
  echo "$SUMMARY_HEAD"
  echo
  echo "$TABLE"
  echo
  echo "$RATIO_HEAD"
  echo
  echo "$RATIOS"
  echo
  echo "All runs:"
  echo
  echo "$RUNS_TABLE"
  echo
}

echo
echo "fqs depth benchmark $STAMP  ($PGVER; $(nproc) cores; synchronous_commit=$SYNC_COMMIT during runs; PRELOAD=$PRELOAD; concurrent-stage max_ready=$MAX_READY)"
echo
print_tables
echo "Loading (${LOADTIME} s in all, cluster start included):"
echo "$LOADS"
echo
[ -n "$FP_CHANGED" ] && echo "WARNING: the installed fqs changed during the run, the figures mix versions -- re-run ($FP_CHANGED)"
echo "Total wall time ${TOTAL} s.  Raw output: $RUN"
echo "Command: $CMDLINE"

mkdir -p "$REPO/bench/results"
OUT="$REPO/bench/results/depth-$(date +%Y-%m-%d).md"
[ -e "$OUT" ] && OUT="$REPO/bench/results/depth-$(date +%Y-%m-%d-%H%M%S).md"
{
  echo "# fqs depth benchmark -- $STAMP"
  echo
  echo "Machine: $(nproc) cores, $(free -g | awk '/^Mem:/ { print $2 }') GiB RAM, shared with other work; $PGVER."
  echo "fqs $FQS_VERSION: installed build fingerprint $FQS_FP0 (fqs.so from $FQS_MTIME; repo HEAD $GITREV$GITDIRTY at report time)$( [ "$PRELOAD" = 1 ] && echo ', pinned for the whole run (preloaded .so, databases copied from one template)')."
  [ -n "$FP_CHANGED" ] && { echo; echo "**WARNING: the installed fqs changed during the run, the figures mix versions -- re-run ($FP_CHANGED).**"; echo; }
  echo "Cluster: private, throw-away (initdb per run), shared_buffers=1GB, fsync=on, synchronous_commit=$SYNC_COMMIT"
  echo "(loading uses off), wal_level=replica, max_wal_size=8GB, autovacuum on (defaults), jit off$( [ "$PGSS" = 1 ] && echo ', pg_stat_statements track=all'),"
  if [ "$PRELOAD" = 1 ]; then echo "shared_preload_libraries includes fqs (its background worker runs in each benchmark database)."
  else echo "fqs not preloaded (no background workers)."; fi
  echo "Queue: concurrent stage max_ready=$MAX_READY$( [ "$MAX_READY" = 0 ] && echo ' (no holding pen: all D messages are ready)'); sequential stage max_ready=0."
  echo
  echo "Command: \`$CMDLINE\`"
  echo
  echo "Workload: one database per (D, stage), $KEYS keys, loaded first (then VACUUM ANALYZE, CHECKPOINT); then $REPEAT"
  echo "round(s), each running every (D, stage) in turn: pgbench -M prepared -c $CLIENTS -j $THREADS -T $DURATION$( [ "$WARMUP" -gt 0 ] && echo " after an unmeasured $WARMUP s warm-up of the same mix")."
  echo "- concurrent: \`bench/depth/claim_commit.sql\` (fqs_claim(q,1); fqs_commit) mixed 1:1 with \`bench/depth/enqueue.sql\`."
  echo "- sequential: \`bench/depth/seq_claim_complete.sql\` (fqs_claim_sequential(q,1); fqs_complete) mixed 1:1 with"
  echo "  \`bench/depth/seq_feed.sql\` (enqueue + claim + commit one message in one transaction)."
  echo
  echo "tps = cycles counted on the server (commits resp. completes, from \`fqs_queues\`) / $DURATION s; avg and p99 = latency of"
  echo "the measured script (claim + commit resp. claim + complete: two transactions, two WAL flushes) from the pgbench -l"
  echo "log; empty claims = cycles whose claim returned nothing; depth = pen + ready + claimed (concurrent) resp. processed"
  echo "not complete (sequential); host load = 1-minute load average at the end of the run (this run's own 4 clients and"
  echo "backends included; well above ~4 on 2 cores means other work competed for the CPUs)."
  echo
  print_tables
  echo "Loading (synchronous_commit=off, fqs_enqueue_batch of $CHUNK, claim+commit in batches of $CLAIM_BATCH; ${LOADTIME} s in all):"
  echo
  echo "$LOADS"
  echo
  echo "Total wall time ${TOTAL} s. Raw output was in \`$RUN\`."
  echo
  echo "## Per-statement latencies (pgbench -r), last round"
  for d in $DEPTHS; do
    for stage in $STAGES; do
      f="$RUN/pgbench_${d}_${stage}_r${REPEAT}.out"
      [ -f "$f" ] || continue
      echo
      echo "\`$(basename "$f" .out)\`"
      echo
      echo '```'
      sed -n '/^SQL script 1/,$p' "$f"
      echo '```'
    done
  done
} >"$OUT"
echo "Written: $OUT"
