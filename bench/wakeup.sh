#!/usr/bin/env bash
# bench/wakeup.sh -- wake-up latency of fqs's blocking claims (issue 3, item 6)
#
# How long after an enqueue's COMMIT returns does a claimer that is blocked in
# fqs_claim(q, 1, wait => '10 seconds') get the message back?  Target: under
# 2 ms median on an idle machine.
#
# A small C/libpq driver (bench/wakeup/wakeup_driver.c, built into the run
# directory) runs a producer and one or two claimers as separate processes,
# each with its own connection, and stamps on the client with
# CLOCK_MONOTONIC: the producer right after its COMMIT returns, the claimer
# right after its claim statement returns; samples are matched by message id.
# The producer enqueues one message at a time, after the claimer reported the
# previous one and a random gap (GAP_MIN..GAP_MAX ms) passed, and checks in
# pg_stat_activity just before the enqueue that the claimer backend really
# sleeps in the fqs wait.  Variants, each on its own queue:
#
#   claim_wait      fqs_claim(q, 1, wait => W), woken by the enqueue's commit
#   seq_wait        two-stage pipeline: claimer 1 blocks in fqs_claim(wait),
#                   then BEGIN; fqs_commit; COMMIT; claimer 2 blocks in
#                   fqs_claim_sequential(q, 1, wait => W) and is woken by that
#                   commit (the message becomes its key's releasable head);
#                   latency = claimer 2 returns - claimer 1's COMMIT returned
#   claim_pipeline  claimer 1 of that pipeline (enqueue commit -> it returns)
#   poll_1ms        baseline: fqs_claim(q, 1, wait => '0') in a loop with a
#   poll_10ms       1 ms resp. 10 ms sleep between empty claims
#   claim_ready     context: round trip of fqs_claim(q, 1) that finds a ready
#                   message (includes the claim's own commit)
#   select1         context: round trip of a prepared SELECT 1
#
# What the latency includes: the wake (ConditionVariableBroadcast from the
# enqueue's commit callback), the claimer's scheduling and its claim query,
# the claim's own COMMIT (a WAL flush with synchronous_commit=on) and the
# result transfer.  What it excludes: the producer's own commit time (the
# stamp is taken after COMMIT returns).  The wake is broadcast before the
# server answers the producer's COMMIT, so the claimer can beat the producer's
# stamp: small negative latencies are real.  Breakdown columns (medians):
# commit = the waking COMMIT's round trip; srv = server clock_timestamp()
# taken right after the claim function returned minus the waking COMMIT's
# return (realtime clock; same machine); ret = claimer's return minus that
# server stamp (its own commit + sending the row).
#
# Needs: postgresql-15 (server), fqs installed (`make install`), a C compiler
# and libpq-dev, the OS user `postgres` when run as root.
#
# Usage:
#   bench/wakeup.sh [--sync-commit=off] [--keep]
# Environment (defaults):
#   SAMPLES=1000 (per variant, after WARMUP=20 discarded)  GAP_MIN=5 GAP_MAX=20 (ms)
#   WAIT='10 seconds'  VARIANTS="select1 ready wait seq poll1 poll10"
#   SYNC_COMMIT=on  SEED=1  KEEP=0  WAIT_IDLE=0 (s to wait, before starting, for
#   the machine's CPU to be < 10% busy; the run warns when it was > 15% busy)
#   FQSWAKEUP_BASE=/tmp/fqswakeup
#   FQSWAKEUP_PORT=55434  PGBIN=/usr/lib/postgresql/15/bin
#
# Output: a table on stdout, bench/results/wakeup-<date>.md, and the raw
# samples (samples.tsv) and logs in $FQSWAKEUP_BASE/runs/<stamp>/.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HERE")
CMDLINE="$0 $*"

PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
BASE=${FQSWAKEUP_BASE:-/tmp/fqswakeup}
PORT=${FQSWAKEUP_PORT:-55434}
SAMPLES=${SAMPLES:-1000}
WARMUP=${WARMUP:-20}
GAP_MIN=${GAP_MIN:-5}
GAP_MAX=${GAP_MAX:-20}
WAIT=${WAIT:-10 seconds}
VARIANTS=${VARIANTS:-"select1 ready wait seq poll1 poll10"}
SYNC_COMMIT=${SYNC_COMMIT:-on}
SEED=${SEED:-1}
WAIT_IDLE=${WAIT_IDLE:-0}
KEEP=${KEEP:-0}
RUNAS=postgres
DB=fqswakeup

for arg in "$@"; do
  case "$arg" in
    --sync-commit=*) SYNC_COMMIT=${arg#*=} ;;
    --keep) KEEP=1 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "wakeup.sh: unknown argument $arg (see --help)" >&2; exit 2 ;;
  esac
done
case "$SYNC_COMMIT" in on|off) ;; *) echo "SYNC_COMMIT must be on or off" >&2; exit 2 ;; esac

ENVLINE=""
for v in SAMPLES WARMUP GAP_MIN GAP_MAX WAIT VARIANTS SYNC_COMMIT SEED WAIT_IDLE KEEP; do
  if printenv "$v" >/dev/null 2>&1; then ENVLINE+="$v='$(printenv "$v")' "; fi
done
CMDLINE="${ENVLINE}${CMDLINE}"

PGDATA=$BASE/pgdata
SOCK=$BASE
STAMP=$(date +%Y%m%d-%H%M%S)
RUN=$BASE/runs/$STAMP
CONNINFO="host=$SOCK port=$PORT user=postgres dbname=$DB application_name=fqs_wakeup"

as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u "$RUNAS" -- "$@"; else "$@"; fi
}
psqlc() { "$PGBIN/psql" -h "$SOCK" -p "$PORT" -U postgres -X -v ON_ERROR_STOP=1 -q "$@"; }
log() { echo "[$(date +%H:%M:%S)] $*" | tee -a "$RUN/run.log" >&2; }
# system-wide CPU busy % over <secs> seconds (from /proc/stat)
cpu_ticks() { awk '/^cpu / { print $2+$3+$4+$7+$8+$9, $5+$6 }' /proc/stat; }
busy_pct() {  # busy_pct "<ticks before>" "<ticks after>"
  awk -v a="$1" -v b="$2" 'BEGIN { split(a, x, " "); split(b, y, " ");
    busy = y[1] - x[1]; idle = y[2] - x[2];
    printf "%.0f", ((busy + idle) > 0 ? 100 * busy / (busy + idle) : 0) }'
}
# CPU ticks used by this benchmark: the cluster (postmaster, its live children,
# and its reaped children, i.e. the finished backends) and this script's
# reaped children (the driver and its claimer processes)
our_ticks() {
  local pm c
  pm=$(head -1 "$PGDATA/postmaster.pid")
  { awk '{ print $14 + $15 + $16 + $17 }' "/proc/$pm/stat"
    for c in $(pgrep -P "$pm"); do awk '{ print $14 + $15 }' "/proc/$c/stat" 2>/dev/null || true; done
    awk '{ print $16 + $17 }' "/proc/$$/stat"
  } | awk '{ s += $1 } END { print s + 0 }'
}
others_pct() {  # others_pct "<ticks before>" "<ticks after>" <our ticks before> <our ticks after>
  awk -v a="$1" -v b="$2" -v o0="$3" -v o1="$4" 'BEGIN { split(a, x, " "); split(b, y, " ");
    busy = y[1] - x[1]; idle = y[2] - x[2]; oth = busy - (o1 - o0); if (oth < 0) oth = 0;
    printf "%.0f", ((busy + idle) > 0 ? 100 * oth / (busy + idle) : 0) }'
}
cpu_busy() { local a; a=$(cpu_ticks); sleep "$1"; busy_pct "$a" "$(cpu_ticks)"; }
fqs_fingerprint() {
  cat "$("$PGBIN/pg_config" --pkglibdir)/fqs.so" "$("$PGBIN/pg_config" --sharedir)"/extension/fqs* 2>/dev/null | md5sum | cut -c1-12
}

. "$(dirname "$0")/lib/cluster.sh"

start_cluster() {
  stop_cluster
  rm -rf "$PGDATA"
  as_owner "$PGBIN/initdb" -D "$PGDATA" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$RUN/initdb.log"
  cat >>"$PGDATA/postgresql.conf" <<EOF

# ---- fqs wake-up benchmark ----
listen_addresses = ''
port = $PORT
unix_socket_directories = '$SOCK'
max_connections = 30
shared_buffers = 256MB
shared_preload_libraries = 'fqs'
fsync = on
synchronous_commit = $SYNC_COMMIT
wal_level = replica
max_wal_size = 4GB
checkpoint_timeout = 30min
autovacuum = on
jit = off
EOF
  as_owner "$PGBIN/pg_ctl" -D "$PGDATA" -l "$BASE/postgres.log" -w -t 60 start >/dev/null
}

build_driver() {
  local inc libdir
  inc=$("$PGBIN/pg_config" --includedir)
  libdir=$("$PGBIN/pg_config" --libdir)
  if [ ! -f "$inc/libpq-fe.h" ]; then
    echo "wakeup.sh: $inc/libpq-fe.h is missing: apt-get install -y libpq-dev" >&2; exit 1
  fi
  ${CC:-cc} -O2 -Wall -o "$RUN/wakeup_driver" "$HERE/wakeup/wakeup_driver.c" \
    -I"$inc" -L"$libdir" -lpq -lm 2>"$RUN/build.log" || {
    cat "$RUN/build.log" >&2; echo "wakeup.sh: building the driver failed" >&2; exit 1; }
}

# ---------------------------------------------------------------------------
mkdir -p "$BASE/runs" "$RUN"
if [ "$(id -u)" = 0 ]; then chown "$RUNAS" "$BASE"; chmod 0777 "$BASE" "$BASE/runs"; fi
trap cleanup EXIT
trap 'exit 130' INT TERM

build_driver
if [ "$WAIT_IDLE" -gt 0 ]; then   # wait up to WAIT_IDLE s for a quiet machine
  t_idle=$(( $(date +%s) + WAIT_IDLE ))
  while [ "$(cpu_busy 3)" -gt 10 ] && [ "$(date +%s)" -lt "$t_idle" ]; do :; done
fi
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
BUSY0=$(cpu_busy 3)
if [ "$BUSY0" -gt 15 ]; then
  IDLE_WARN="the machine was not idle: CPU ${BUSY0}% busy (all cores) in the 3 s before the run; top: $(ps -eo pcpu,args --sort=-pcpu --no-headers | head -3 | awk '{ $1 = $1 "%"; print }' | cut -c1-80 | paste -sd ';' -)"
else
  IDLE_WARN=""
fi
log "wake-up benchmark $STAMP: VARIANTS='$VARIANTS' SAMPLES=$SAMPLES WARMUP=$WARMUP gap ${GAP_MIN}-${GAP_MAX} ms synchronous_commit=$SYNC_COMMIT; load average $LOAD0, CPU ${BUSY0}% busy"
[ -n "$IDLE_WARN" ] && log "WARNING: $IDLE_WARN"
FQS_FP=$(fqs_fingerprint)
FQS_MTIME=$(date -r "$("$PGBIN/pg_config" --pkglibdir)/fqs.so" '+%Y-%m-%d %H:%M:%S' 2>/dev/null || echo "?")
start_cluster
log "cluster up: port $PORT, socket $SOCK, data $PGDATA, raw output in $RUN"

psqlc -d postgres -c "CREATE DATABASE $DB"
if ! psqlc -d "$DB" -c "CREATE EXTENSION fqs" 2>"$RUN/create_extension.err"; then
  cat "$RUN/create_extension.err" >&2
  echo "wakeup.sh: CREATE EXTENSION fqs failed -- is fqs installed? Run 'make install' in $REPO first." >&2
  exit 1
fi
# the cluster preloads fqs.so at start and every backend keeps that copy (the
# library is found loaded by its path), so only a change between the
# fingerprint above and CREATE EXTENSION (which reads the SQL script) matters
if [ "$(fqs_fingerprint)" != "$FQS_FP" ]; then
  echo "wakeup.sh: the installed fqs changed while the cluster started (someone ran make install?); run again" >&2
  exit 1
fi
[ "$(psqlc -d "$DB" -At -c "SHOW shared_preload_libraries")" = fqs ] || { echo "wakeup.sh: fqs is not preloaded" >&2; exit 1; }
for v in $VARIANTS; do psqlc -d "$DB" -c "SELECT fqs_create_queue('q_$v')" >/dev/null; done
psqlc -d "$DB" -c "CHECKPOINT"

SAMPLES_TSV=$RUN/samples.tsv
: >"$SAMPLES_TSV"
NOTES=""
declare -A BUSY=()
T_START=$(date +%s)
for v in $VARIANTS; do
  case "$v" in
    select1) args=(--mode select1) ;;
    ready)   args=(--mode ready) ;;
    wait)    args=(--mode wait) ;;
    seq)     args=(--mode seq) ;;
    poll1)   args=(--mode poll --poll-ms 1) ;;
    poll10)  args=(--mode poll --poll-ms 10) ;;
    *) echo "wakeup.sh: unknown variant $v" >&2; exit 2 ;;
  esac
  log "variant $v: $SAMPLES samples (+$WARMUP warm-up)"
  ticks0=$(cpu_ticks); ours0=$(our_ticks)
  summary=$("$RUN/wakeup_driver" --conninfo "$CONNINFO" "${args[@]}" --queue "q_$v" \
    --wait "$WAIT" --samples "$SAMPLES" --warmup "$WARMUP" --gap-min "$GAP_MIN" \
    --gap-max "$GAP_MAX" --seed "$SEED" --out "$SAMPLES_TSV" 2>>"$RUN/driver.err") || {
    cat "$RUN/driver.err" >&2; echo "wakeup.sh: the driver failed in variant $v" >&2; exit 1; }
  sleep 0.2   # let the terminated backends exit and be reaped
  ticks1=$(cpu_ticks); ours1=$(our_ticks)
  b="$(busy_pct "$ticks0" "$ticks1") / $(others_pct "$ticks0" "$ticks1" "$ours0" "$ours1")"
  case "$v" in
    select1) BUSY[select1]=$b ;; ready) BUSY[claim_ready]=$b ;; wait) BUSY[claim_wait]=$b ;;
    seq) BUSY[seq_wait]=$b; BUSY[claim_pipeline]=$b ;; poll1) BUSY[poll_1ms]=$b ;; poll10) BUSY[poll_10ms]=$b ;;
  esac
  log "variant $v: ${summary:+$summary, }CPU % busy all / others (not this benchmark): $b"
  [ -n "$summary" ] && NOTES+="- $v: $summary"$'\n'

done
T_END=$(date +%s)
LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)
BUSY1=$(cpu_busy 3)
[ "$(fqs_fingerprint)" = "$FQS_FP" ] || NOTES+="- the installed fqs files changed during the run; the cluster kept using the fqs.so it preloaded at start ($FQS_FP), so the figures are of that build"$'\n'

# ---------------------------------------------------------------------------
# statistics (nearest rank) over the non-warm-up samples
stats() {  # stat <variant> <column> -> "n median p90 p99 max min"
  awk -F '\t' -v v="$1" -v c="$2" '$1 == v && $3 == 0 && $c != "nan" { print $c }' "$SAMPLES_TSV" |
    sort -g | awk '
      function r(p,  i) { i = int(NR * p); if (i < NR * p) i++; if (i < 1) i = 1; return v[i] }
      { v[NR] = $1 }
      END {
        if (NR == 0) { print "0 - - - - -"; exit }
        printf "%d %.3f %.3f %.3f %.3f %.3f\n", NR, r(0.5), r(0.9), r(0.99), v[NR], v[1]
      }'
}
median() { stats "$1" "$2" | awk '{ print $2 }'; }
mean_col() {
  awk -F '\t' -v v="$1" -v c="$2" '$1 == v && $3 == 0 { s += $c; n++ } END { if (n) printf "%.1f", s / n; else print "-" }' "$SAMPLES_TSV"
}
notwaiting() {
  awk -F '\t' -v v="$1" '$1 == v && $3 == 0 && $6 == 0 { n++ } END { print n + 0 }' "$SAMPLES_TSV"
}

declare -A DESC=(
  [claim_wait]="fqs_claim(wait => W), woken by the enqueue's commit"
  [seq_wait]="fqs_claim_sequential(wait => W), woken by fqs_commit's commit"
  [claim_pipeline]="fqs_claim(wait => W) as stage 1 of that pipeline"
  [poll_1ms]="polling fqs_claim(wait => 0), 1 ms sleep"
  [poll_10ms]="polling fqs_claim(wait => 0), 10 ms sleep"
  [claim_ready]="context: fqs_claim round trip, message ready"
  [select1]="context: SELECT 1 round trip"
)
ORDER="claim_wait seq_wait claim_pipeline poll_1ms poll_10ms claim_ready select1"

TABLE="| variant | what | n | median ms | p90 ms | p99 ms | max ms | min ms | claims/msg | CPU % busy: all / others |
|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
BREAK="| variant | median latency from COMMIT sent | median waking COMMIT round trip | median srv (COMMIT returned -> claim fn done, server clock) | median ret (claimer's own commit + row transfer) | samples whose claimer was not yet waiting |
|---|---:|---:|---:|---:|---:|"
for v in $ORDER; do
  st=$(stats "$v" 8)
  read -r n p50 p90 p99 mx mn <<<"$st"
  [ "$n" = 0 ] && continue
  TABLE+="
| $v | ${DESC[$v]} | $n | **$p50** | $p90 | $p99 | $mx | $mn | $(mean_col "$v" 7) | ${BUSY[$v]:-?} |"
  case "$v" in claim_wait|seq_wait|claim_pipeline)
    BREAK+="
| $v | $(median "$v" 9) | $(median "$v" 10) | $(median "$v" 11) | $(median "$v" 12) | $(notwaiting "$v") |" ;;
  esac
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b + 0 <= 0) print "n/a"; else printf "%.1f", a / b }'; }
W=$(median claim_wait 8 2>/dev/null || true); S=$(median seq_wait 8 2>/dev/null || true)
P1=$(median poll_1ms 8 2>/dev/null || true); P10=$(median poll_10ms 8 2>/dev/null || true)
verdict() { awk -v m="$1" 'BEGIN { if (m == "" || m == "-") print "not measured"; else if (m + 0 < 2) print "met (median " m " ms < 2 ms)"; else print "NOT met (median " m " ms >= 2 ms)" }'; }
SUMMARY="Target < 2 ms median: claim_wait $(verdict "$W"); seq_wait $(verdict "$S").
Polling / waiting median ratio: poll_1ms / claim_wait = $(ratio "$P1" "$W"), poll_10ms / claim_wait = $(ratio "$P10" "$W")."

PGVER=$("$PGBIN/postgres" --version)
GITREV=$(cd "$REPO" && git rev-parse --short HEAD 2>/dev/null || echo "?")
GITDIRTY=$(cd "$REPO" && [ -n "$(git status --porcelain -- src 2>/dev/null)" ] && echo " (src/ has uncommitted changes)" || true)
CPU=$(awk -F ': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || echo "?")
MACHINE="$(nproc) cores ($CPU), $(free -g | awk '/^Mem:/ { print $2 }') GiB RAM, $(uname -sr); $PGVER"
SETTINGS="shared_preload_libraries=fqs, fsync=on, synchronous_commit=$SYNC_COMMIT, shared_buffers=256MB, jit off; SAMPLES=$SAMPLES per variant after $WARMUP warm-up, gap ${GAP_MIN}-${GAP_MAX} ms (uniform, seed $SEED), wait => '$WAIT'"

echo
echo "fqs wake-up latency $STAMP"
echo "Machine: $MACHINE; load average $LOAD0 before, $LOAD1 after; CPU busy (3 s samples) ${BUSY0}% before, ${BUSY1}% after"
[ -n "$IDLE_WARN" ] && echo "WARNING: $IDLE_WARN"
echo "Settings: $SETTINGS"
echo
echo "$TABLE"
echo
echo "$BREAK"
echo
echo "$SUMMARY"
[ -n "$NOTES" ] && { echo; echo "Driver notes:"; printf '%s' "$NOTES"; }
echo
echo "Total wall time $((T_END - T_START)) s.  Raw samples: $SAMPLES_TSV"
echo "Command: $CMDLINE"

mkdir -p "$REPO/bench/results"
OUT="$REPO/bench/results/wakeup-$(date +%Y-%m-%d).md"
[ -e "$OUT" ] && OUT="$REPO/bench/results/wakeup-$(date +%Y-%m-%d-%H%M%S).md"
{
  echo "# fqs wake-up latency -- $STAMP"
  echo
  echo "Machine: $MACHINE. Load average $LOAD0 before, $LOAD1 after the run; CPU busy (all cores, 3 s samples)"
  echo "${BUSY0}% before, ${BUSY1}% after."
  [ -n "$IDLE_WARN" ] && { echo; echo "**WARNING: $IDLE_WARN.**"; echo; }
  echo "fqs: installed build fingerprint $FQS_FP (fqs.so from $FQS_MTIME; repo HEAD $GITREV$GITDIRTY at report time)."
  echo "Cluster: private, throw-away (initdb per run); $SETTINGS."
  echo
  echo "Command: \`$CMDLINE\`"
  echo
  echo "Method: \`bench/wakeup/wakeup_driver.c\` (C, libpq), producer and claimer(s) in separate processes with"
  echo "their own connections; stamps with CLOCK_MONOTONIC on the client: the producer's right after its COMMIT"
  echo "returns, the claimer's right after its claim statement returns; matched by message id. The producer"
  echo "enqueues the next message only after the claimer reported the previous one and a random gap passed, and"
  echo "checks in pg_stat_activity that the claimer backend sleeps in the fqs wait (wait_event_type Extension)."
  echo "Latency includes the wake, the claimer's claim query, its own commit and the row transfer; it excludes the"
  echo "producer's commit (the wake is broadcast before the server answers that COMMIT, so negative values are"
  echo "possible and real). Percentiles are nearest-rank over the samples after warm-up. CPU % busy = share of all"
  echo "cores busy during that variant (/proc/stat): all, and others = all minus this benchmark's own processes (the"
  echo "cluster's and the driver's CPU time from /proc/<pid>/stat); others well above 0 means the machine was not idle."
  echo
  echo "$TABLE"
  echo
  echo "Breakdown (medians, ms):"
  echo
  echo "$BREAK"
  echo
  echo "$SUMMARY"
  [ -n "$NOTES" ] && { echo; echo "Driver notes:"; echo; printf '%s' "$NOTES"; }
  echo
  echo "Total wall time $((T_END - T_START)) s. Raw samples were in \`$SAMPLES_TSV\`."
} >"$OUT"
echo "Written: $OUT"
