#!/usr/bin/env bash
# bench/ab.sh -- two builds of fqs side by side: throughput ratio NEW / OLD.
#
#   bench/ab.sh [OLD [NEW]]
#
# OLD   a git commit of this repository (default 7fc90a1), or a source tree
#       (a directory).  Built from `git archive` (resp. a copy of the tree,
#       without build products) into a private copy of the PostgreSQL installation
#       ($FQSAB_BASE/inst-<sha>/usr/{lib,share,include}/postgresql/...): the
#       copied bin/pg_config relocates itself, so `make install` with it
#       writes only into the copy (checked before and after installing).
# NEW   "installed" (default): the fqs installed in /usr/lib/postgresql/15,
#       used as it is (this script never installs into the system
#       directories); or another commit or source tree, built like OLD.
#
# Each side gets a throw-away cluster of its own installation (initdb as
# the OS user postgres under $FQSAB_BASE, its own port and socket), both
# with the same settings: fsync on, synchronous_commit on,
# shared_buffers 256MB, shared_preload_libraries 'fqs' (background workers
# running), jit off, checkpoints only where this script asks for them.
# One database abdb with the queues of bench/ab/setup.sql.  The workloads
# (bench/ab/<name>.sql, pgbench -n -M prepared -c CLIENTS -j THREADS
# -T DURATION, as role ab_user):
#
#   enqueue   SELECT fqs_enqueue('qe', 'payload', 'k' || :k), 100 keys
#   claim     SELECT fqs_commit(id, receipt) FROM fqs_claim('qc', 1)
#   pipeline  enqueue + claim/commit + claim_sequential/complete ('qp'),
#             three transactions per script
#   claim10   SELECT fqs_commit(id, receipt) FROM fqs_claim('qb', 10)
#   enqueue100  fqs_enqueue_batch('qe', 100 payloads, one per key of 100)
#   pipeline10  the pipeline in batches of 10 with array acknowledgements
#             (these two are not in the default WORKLOADS)
#
# ab_user is a plain login role, a member of fqs_producer and fqs_consumer
# on every side whose fqs has these roles, so every call goes through the
# per-queue privilege check; 7fc90a1 has neither roles nor check (its API
# functions were SECURITY DEFINER and callable by PUBLIC).  SIDES="OLD NEW NEWSU" adds a third side: the NEW
# cluster as its superuser (the privilege check then returns at once), to
# isolate the check's cost.
#
# Before each run (not measured): the workload's queue is dropped (force)
# and created again, so that every run starts from the same state whatever
# the earlier runs left; the claim queues are filled with FILL resp.
# 4*FILL ready messages (fqs_enqueue_batch, synchronous_commit off); then
# VACUUM ANALYZE of the fqs tables and CHECKPOINT on that cluster.  ROUNDS
# rounds; in each round every workload runs on every side in turn, the
# order of the sides reversed every other round (OLD NEW, NEW OLD, ...) so
# that drift and noise from other work hit both sides alike.
#
# Reported per side and workload, median over the rounds, and the ratio
# NEW / OLD of the medians:
#   tps        pgbench transactions (script runs) per second
#   CPU/txn    CPU time the whole cluster used during the run (postmaster,
#              backends -- reaped ones through the postmaster's cutime --,
#              WAL writer, workers; read from /proc) per transaction.  On a
#              shared 2-core machine tps swings with other work by a factor
#              of 2; CPU time per transaction hardly does.
#   msgs/s     messages moved, counted on the server (fqs_queues): shows
#              empty claims
#
# Environment (defaults):
#   DURATION=20 ROUNDS=4 CLIENTS=4 THREADS=2
#   WORKLOADS="enqueue claim pipeline claim10"
#   SIDES="OLD NEW"   (add NEWSU: NEW as superuser)
#   FILL=80000        ready messages in qc before a claim run (claim10: 4x)
#   PGSS=0            1: pg_stat_statements (track = all) in both clusters,
#                     the top statements of every run are kept
#   PERFSTAT=0        1: perf stat on the client backends of every run (brk
#                     calls, page faults and CPU per transaction; needs perf)
#   OLD_ENV= NEW_ENV= environment (VAR=value ...) for that side's postmaster,
#                     e.g. NEW_ENV=MALLOC_TRIM_THRESHOLD_=67108864
#   KEEP=0            1: leave both clusters running at the end
#   FQSAB_BASE=/tmp/fqsab  OLD_PORT=55491  NEW_PORT=55492
#
# Output: the tables on stdout and in bench/results/ab-<date>.md (a -<time>
# suffix when that exists); raw pgbench output, server logs and build logs
# in $FQSAB_BASE/runs/<stamp>/.  About 14 minutes with the defaults on 2
# cores (the OLD build is cached in $FQSAB_BASE between runs).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HERE")
CMDLINE="$0 $*"

case "${1:-}" in -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;; esac
[ $# -le 2 ] || { echo "usage: bench/ab.sh [OLD [NEW]]" >&2; exit 2; }
OLD_REV=${1:-7fc90a1}
NEW_REV=${2:-installed}

SYS_LIB=/usr/lib/postgresql/15
SYS_SHARE=/usr/share/postgresql/15
SYS_INCLUDE=/usr/include/postgresql
SYS_PGBIN=$SYS_LIB/bin
BASE=${FQSAB_BASE:-/tmp/fqsab}
OLD_PORT=${OLD_PORT:-55491}
NEW_PORT=${NEW_PORT:-55492}
DURATION=${DURATION:-20}
ROUNDS=${ROUNDS:-4}
CLIENTS=${CLIENTS:-4}
THREADS=${THREADS:-2}
WORKLOADS=${WORKLOADS:-"enqueue claim pipeline claim10"}
SIDES=${SIDES:-"OLD NEW"}
FILL=${FILL:-80000}
PGSS=${PGSS:-0}
PERFSTAT=${PERFSTAT:-0}
OLD_ENV=${OLD_ENV:-}
NEW_ENV=${NEW_ENV:-}
KEEP=${KEEP:-0}
RUNAS=postgres
DB=abdb

ENVLINE=""
for v in DURATION ROUNDS CLIENTS THREADS WORKLOADS SIDES FILL PGSS PERFSTAT OLD_ENV NEW_ENV KEEP FQSAB_BASE OLD_PORT NEW_PORT; do
  if printenv "$v" >/dev/null 2>&1; then ENVLINE+="$v='$(printenv "$v")' "; fi
done
CMDLINE="${ENVLINE}${CMDLINE}"

for w in $WORKLOADS; do
  [ -f "$HERE/ab/$w.sql" ] || { echo "ab.sh: no workload $w (bench/ab/$w.sql)" >&2; exit 2; }
done
for s in $SIDES; do
  case "$s" in OLD|NEW|NEWSU) ;; *) echo "ab.sh: unknown side $s (OLD, NEW, NEWSU)" >&2; exit 2 ;; esac
done

STAMP=$(date +%Y%m%d-%H%M%S)
RUN=$BASE/runs/$STAMP
mkdir -p "$RUN"
if [ "$(id -u)" = 0 ]; then chmod 0755 "$BASE"; chmod 0777 "$BASE/runs" "$RUN"; fi

as_owner() { if [ "$(id -u)" = 0 ]; then runuser -u "$RUNAS" -- "$@"; else "$@"; fi; }
log() { echo "[$(date +%H:%M:%S)] $*" | tee -a "$RUN/run.log" >&2; }
die() { log "ab.sh: $*"; exit 1; }
md5() { md5sum "$1" 2>/dev/null | cut -c1-12; }

# ---------------------------------------------------------------------------
# builds

# fingerprint of the system installation's fqs: must not change because of us
sys_fqs_fp() { cat "$SYS_LIB/lib/fqs.so" "$SYS_SHARE"/extension/fqs* 2>/dev/null | md5sum | cut -c1-12; }
SYS_FP0=$(sys_fqs_fp)

# build_copy <sha> -> sets INST (the copy's root); cached per commit
build_copy() {   # build_copy <commit or cache key> [source directory]
  local sha=$1 from=${2:-} inst=$BASE/inst-$1 src=$BASE/src-$1 pgc d out
  INST=$inst
  pgc=$inst$SYS_PGBIN/pg_config
  if [ -f "$inst/.fqs-built" ] && [ "$(cat "$inst/.fqs-built")" = "$sha" ] && [ -f "$inst$SYS_LIB/lib/fqs.so" ]; then
    log "build $sha: cached in $inst"
    return 0
  fi
  log "build $sha: copying the PostgreSQL installation into $inst"
  rm -rf "$inst" "$src"
  mkdir -p "$inst/usr/lib/postgresql" "$inst/usr/share/postgresql" "$inst/usr/include" "$src"
  cp -a "$SYS_LIB" "$inst/usr/lib/postgresql/"
  cp -a "$SYS_SHARE" "$inst/usr/share/postgresql/"
  cp -a "$SYS_INCLUDE" "$inst/usr/include/"
  # every directory make install uses must be inside the copy
  for d in --bindir --pkglibdir --sharedir --includedir-server --pgxs; do
    out=$("$pgc" "$d")
    case "$out" in
      "$inst"/*) ;;
      *) die "the copied pg_config says $d = $out, outside $inst; refusing to install" ;;
    esac
  done
  # no fqs of the system in the copy: what is there after install is OLD's
  rm -f "$inst$SYS_LIB/lib/fqs.so" "$inst$SYS_SHARE"/extension/fqs* 
  rm -rf "$inst$SYS_LIB/lib/bitcode/fqs" "$inst$SYS_LIB/lib/bitcode/fqs.index.bc"
  if [ -n "$from" ]; then
    tar -C "$from" --exclude=.git --exclude='*.o' --exclude='*.so' --exclude='*.bc' \
      --exclude='tmp_check*' --exclude=log --exclude=results -cf - . | tar -x -C "$src"
  else
    git -C "$REPO" archive "$sha" | tar -x -C "$src"
  fi
  log "build $sha: make (log: $RUN/build-$sha.log)"
  if ! make -C "$src" PG_CONFIG="$pgc" >"$RUN/build-$sha.log" 2>&1; then
    tail -20 "$RUN/build-$sha.log" >&2; die "build of $sha failed"
  fi
  [ "$("$pgc" --pkglibdir)" = "$inst$SYS_LIB/lib" ] || die "pkglibdir is not in the copy"
  make -C "$src" PG_CONFIG="$pgc" install >>"$RUN/build-$sha.log" 2>&1 || {
    tail -20 "$RUN/build-$sha.log" >&2; die "make install of $sha failed"; }
  # the install went only into the copy
  if grep -E "(^|[ '])/usr/(lib|share)/postgresql" "$RUN/build-$sha.log" | grep -v "$inst" | grep -q .; then
    die "make install of $sha mentions system paths outside the copy (see $RUN/build-$sha.log)"
  fi
  # (the log check above is what proves it; a change of the system's files
  # now is someone else's make install)
  [ "$(sys_fqs_fp)" = "$SYS_FP0" ] ||
    log "note: the system's installed fqs changed while $sha was built; our make install wrote only into $inst (see its log)"
  [ -f "$inst$SYS_LIB/lib/fqs.so" ] || die "no fqs.so in the copy after make install"
  echo "$sha" >"$inst/.fqs-built"
  chmod -R a+rX "$inst"
  log "build $sha: installed into the copy, fqs.so $(md5 "$inst$SYS_LIB/lib/fqs.so")"
}

resolve() { git -C "$REPO" rev-parse --verify --quiet "$1^{commit}" || die "unknown commit $1"; }

# a side given as a commit or as a source tree (a directory): built into a
# private copy; sets INST and DESC
build_side() {   # build_side <commit or directory>
  local key
  if [ -d "$1" ]; then
    # the tree's sources, without build products; cached by their checksum
    key=tree-$(tar -C "$1" --exclude=.git --exclude='*.o' --exclude='*.so' --exclude='*.bc' \
                 --exclude='tmp_check*' --exclude=log --exclude=results --sort=name --mtime=@0 \
                 --owner=0 --group=0 -cf - src Makefile fqs.control | md5sum | cut -c1-16)
    build_copy "$key" "$1"
    DESC="source tree $(cd "$1" && pwd) (sources $key)"
  else
    key=$(resolve "$1")
    build_copy "$key"
    DESC="commit $(git -C "$REPO" log -1 --format='%h %s' "$key")"
  fi
}

build_side "$OLD_REV"
OLD_PGBIN=$INST$SYS_PGBIN
OLD_DESC=$DESC
OLD_SO=$INST$SYS_LIB/lib/fqs.so

if [ "$NEW_REV" = installed ]; then
  NEW_PGBIN=$SYS_PGBIN
  NEW_SO=$SYS_LIB/lib/fqs.so
  HEAD_SHA=$(git -C "$REPO" rev-parse --short HEAD)
  DIRTY=$(git -C "$REPO" status --porcelain -- src Makefile 2>/dev/null | grep -q . && echo ", src/ has uncommitted changes" || true)
  SAME=""
  [ -f "$REPO/fqs.so" ] && [ "$(md5 "$REPO/fqs.so")" = "$(md5 "$NEW_SO")" ] && SAME=", identical to the tree's ./fqs.so"
  NEW_DESC="the installed build in $SYS_LIB (fqs.so $(md5 "$NEW_SO")$SAME; tree at HEAD $HEAD_SHA$DIRTY)"
else
  build_side "$NEW_REV"
  NEW_PGBIN=$INST$SYS_PGBIN
  NEW_SO=$INST$SYS_LIB/lib/fqs.so
  NEW_DESC=$DESC
fi
OLD_SO_MD5=$(md5 "$OLD_SO"); NEW_SO_MD5=$(md5 "$NEW_SO")

# ---------------------------------------------------------------------------
# clusters: OLD and NEW (NEWSU runs on NEW's cluster)

pgbin_of() { case "$1" in OLD) echo "$OLD_PGBIN" ;; *) echo "$NEW_PGBIN" ;; esac; }
port_of() { case "$1" in OLD) echo "$OLD_PORT" ;; *) echo "$NEW_PORT" ;; esac; }
cl_of() { case "$1" in OLD) echo OLD ;; *) echo NEW ;; esac; }
user_of() { case "$1" in NEWSU) echo postgres ;; *) echo ab_user ;; esac; }
sock_of() { echo "$BASE/sock-$(cl_of "$1")"; }
data_of() { echo "$BASE/data-$(cl_of "$1")"; }
psqlc() {   # psqlc <side> [psql args]: as the superuser
  local s=$1; shift
  "$(pgbin_of "$s")/psql" -h "$(sock_of "$s")" -p "$(port_of "$s")" -U postgres -X -v ON_ERROR_STOP=1 -q "$@"
}

running() { [ -f "$(data_of "$1")/PG_VERSION" ] && as_owner "$(pgbin_of "$1")/pg_ctl" -D "$(data_of "$1")" status >/dev/null 2>&1; }
stop_cluster() { if running "$1"; then as_owner "$(pgbin_of "$1")/pg_ctl" -D "$(data_of "$1")" -m fast -w stop >/dev/null || true; fi; }
cleanup() {
  local rc=$?
  if [ "$KEEP" = 1 ]; then
    for c in OLD NEW; do
      echo "KEEP=1: $c cluster left running: $(pgbin_of $c)/psql -h $(sock_of $c) -p $(port_of $c) -U postgres -d $DB" >&2
    done
  else
    stop_cluster OLD; stop_cluster NEW
  fi
  exit $rc
}

start_cluster() {   # start_cluster OLD|NEW
  local c=$1 pgbin data sock port libs
  pgbin=$(pgbin_of "$c"); data=$(data_of "$c"); sock=$(sock_of "$c"); port=$(port_of "$c")
  stop_cluster "$c"
  if "$SYS_PGBIN/pg_isready" -q -h "$sock" -p "$port" 2>/dev/null || "$SYS_PGBIN/pg_isready" -q -h 127.0.0.1 -p "$port" 2>/dev/null; then
    die "something already listens on port $port (set ${c}_PORT)"
  fi
  rm -rf "$data" "$sock"
  mkdir -p "$data" "$sock"
  [ "$(id -u)" = 0 ] && chown "$RUNAS" "$data" "$sock"
  as_owner "$pgbin/initdb" -D "$data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$RUN/initdb-$c.log" 2>&1 ||
    { cat "$RUN/initdb-$c.log" >&2; die "initdb ($c) failed"; }
  libs=fqs
  [ "$PGSS" = 1 ] && libs="fqs,pg_stat_statements"
  cat >>"$data/postgresql.conf" <<EOF

# ---- fqs ab benchmark: identical on both sides but for port and socket ----
listen_addresses = ''
port = $port
unix_socket_directories = '$sock'
max_connections = 50
max_worker_processes = 32
shared_preload_libraries = '$libs'
shared_buffers = 256MB
fsync = on
synchronous_commit = on
full_page_writes = on
wal_level = replica
max_wal_size = 8GB
min_wal_size = 1GB
checkpoint_timeout = 1h
autovacuum = on
jit = off
log_checkpoints = on
log_autovacuum_min_duration = 0
EOF
  if [ "$PGSS" = 1 ]; then
    printf 'pg_stat_statements.track = all\npg_stat_statements.max = 5000\n' >>"$data/postgresql.conf"
  fi
  local extra_env
  case "$c" in OLD) extra_env=$OLD_ENV ;; *) extra_env=$NEW_ENV ;; esac
  # shellcheck disable=SC2086  # a list of VAR=value words
  as_owner env $extra_env "$pgbin/pg_ctl" -D "$data" -l "$RUN/postgres-$c.log" -w -t 60 start >/dev/null ||
    { tail -20 "$RUN/postgres-$c.log" >&2; die "the $c cluster did not start"; }
}

# the library a running cluster really loaded (from the postmaster's maps)
loaded_so() {
  local pid
  pid=$(head -1 "$(data_of "$1")/postmaster.pid")
  grep -o '/[^ ]*/fqs\.so' "/proc/$pid/maps" 2>/dev/null | sort -u | head -1
}

# does a fresh backend of cluster $1 run the fqs.so its postmaster preloaded?
pinned_check() {
  local c=$1 pm pmino bpid="" inos=""
  pm=$(head -1 "$(data_of "$c")/postmaster.pid")
  pmino=$(awk '$6 ~ /\/fqs\.so$/ { print $5 }' "/proc/$pm/maps" | sort -u | tr '\n' ' ')
  PGAPPNAME=ab_pin psqlc "$c" -d "$DB" -c "SELECT count(*) FROM fqs_queues" -c "SELECT pg_sleep(3)" >/dev/null &
  for _ in $(seq 1 20); do
    bpid=$(psqlc "$c" -d "$DB" -At -c "SELECT pid FROM pg_stat_activity WHERE application_name = 'ab_pin' AND query LIKE '%pg_sleep%'")
    [ -n "$bpid" ] && break
    sleep 0.1
  done
  [ -n "$bpid" ] && inos=$(awk '$6 ~ /\/fqs\.so$/ { print $5 }' "/proc/$bpid/maps" | sort -u | tr '\n' ' ')
  wait
  if [ -n "$inos" ] && [ "$inos" = "$pmino" ]; then
    echo "the $c postmaster maps the fqs.so it preloaded at start (inode ${pmino% }, now deleted on disk), and a fresh backend maps that inode only: every run used the build preloaded at start ($NEW_SO_MD5)"
  else
    echo "WARNING: the $c postmaster maps fqs.so inode(s) ${pmino:-?}, a fresh backend ${inos:-?}: runs may mix builds -- re-run"
  fi
}

setup_db() {   # setup_db OLD|NEW
  local c=$1
  psqlc "$c" -d postgres -c "CREATE DATABASE $DB"
  psqlc "$c" -d "$DB" -c "SET client_min_messages = warning" -c "CREATE EXTENSION fqs" >/dev/null
  [ "$PGSS" = 1 ] && psqlc "$c" -d "$DB" -c "CREATE EXTENSION pg_stat_statements"
  psqlc "$c" -d "$DB" -v side="$c" -f "$HERE/ab/setup.sql" >/dev/null
}

# queue counters through jsonb (columns an fqs version lacks count as 0):
# concurrent stage (pen+ready+delayed+claimed), sequential stage
# (processed+sequencing), done_total
counters() {   # counters <side> <queue>
  n() { printf "coalesce((j->>'%s')::bigint, 0)" "$1"; }
  psqlc "$1" -d "$DB" -At -F ' ' -c "
    SELECT $(n pen) + $(n ready) + $(n delayed) + $(n claimed),
           $(n processed) + $(n sequencing), $(n done_total)
      FROM (SELECT to_jsonb(v) AS j FROM fqs_queues v WHERE v.queue = '$2') AS x"
}

queue_of() { case "$1" in enqueue|enqueue100) echo qe ;; claim) echo qc ;; pipeline|pipeline10) echo qp ;; claim10) echo qb ;; esac; }
fill_of() { case "$1" in claim) echo "$FILL" ;; claim10) echo $((FILL * 4)) ;; *) echo 0 ;; esac; }
max_ready_of() { case "$1" in enqueue|enqueue100) echo 1000000000 ;; *) echo 0 ;; esac; }

# not measured: a fresh queue (dropped with force and created again, so
# every run starts from the same state whatever the previous runs left),
# filled for the claim workloads; vacuum; checkpoint
prepare() {   # prepare <side> <workload>
  local s=$1 w=$2 q
  q=$(queue_of "$w")
  psqlc "$s" -d "$DB" -c "SET synchronous_commit = off" \
    -c "SELECT fqs_drop_queue('$q', force => true)" \
    -c "SELECT fqs_create_queue('$q', max_ready => $(max_ready_of "$w"))" >/dev/null
  if [ "$(fill_of "$w")" -gt 0 ]; then
    PGOPTIONS="-c synchronous_commit=off" psqlc "$s" -d "$DB" -v q="$q" -v n="$(fill_of "$w")" \
      -f "$HERE/ab/fill.sql" >/dev/null
  fi
  psqlc "$s" -d "$DB" -c "VACUUM (ANALYZE) fqs.ready, fqs.releasable, fqs.key_head, fqs.key_tail, fqs.processed, fqs.message, fqs.done, fqs.queue" -c "CHECKPOINT"
}

# CPU time (clock ticks) used so far by a cluster: the postmaster, its live
# children, and the children it has reaped (cutime, cstime) -- so backends
# that ended count too.  Read when no client is connected.
cluster_ticks() {   # cluster_ticks <side>
  local pm c
  pm=$(head -1 "$(data_of "$1")/postmaster.pid")
  { awk '{ print $14 + $15 + $16 + $17 }' "/proc/$pm/stat"
    for c in $(ps -o pid= --ppid "$pm"); do awk '{ print $14 + $15 }' "/proc/$c/stat" 2>/dev/null || true; done
  } | awk '{ s += $1 } END { print s + 0 }'
}
# wait until the cluster's client backends have ended (and were reaped)
clients_gone() {   # clients_gone <side>
  local pm
  pm=$(head -1 "$(data_of "$1")/postmaster.pid")
  for _ in $(seq 1 100); do
    ps -o args= --ppid "$pm" | grep -q " $DB \[local\]" || return 0
    sleep 0.1
  done
  log "warning: client backends of $1 still running 10 s after pgbench ended"
}
TICK=$(getconf CLK_TCK)

# PERFSTAT=1: perf stat on the run's client backends (found with ps, so
# that no extra connection runs), for DURATION-3 seconds from 1 s after the
# start; prints the window's length, counts in $RUN/perfstat_<tag>.csv
perf_backends() {   # perf_backends <side> <tag>
  local pm pids="" win=$((DURATION - 3))
  pm=$(head -1 "$(data_of "$1")/postmaster.pid")
  for _ in $(seq 1 50); do
    sleep 0.1
    pids=$(ps -o pid=,args= --ppid "$pm" | awk -v db="$DB" '$0 ~ (" " db " \\[local\\]") { printf "%s%s", sep, $1; sep = "," }')
    [ "$(echo "$pids" | tr ',' '\n' | grep -c .)" -ge "$CLIENTS" ] && break
  done
  sleep 1
  perf stat -x, -e syscalls:sys_enter_brk,page-faults,task-clock -p "$pids" -o "$RUN/perfstat_$2.csv" -- sleep "$win" >/dev/null 2>&1 || true
  echo "$win"
}

# one measured run; appends a line to results.tsv
measure() {   # measure <round> <pos> <side> <workload>
  local r=$1 pos=$2 s=$3 w=$4 q tag out tps txns before after c0 s0 d0 c1 s1 d1 moved mps load t0 t1 cpu fill
  q=$(queue_of "$w")
  tag="r${r}_${w}_${s}"
  prepare "$s" "$w"
  [ "$PGSS" = 1 ] && psqlc "$s" -d "$DB" -c "SELECT pg_stat_statements_reset()" >/dev/null
  before=$(counters "$s" "$q")
  clients_gone "$s"
  out=$RUN/pgbench_$tag.out
  t0=$(cluster_ticks "$s")
  "$(pgbin_of "$s")/pgbench" -h "$(sock_of "$s")" -p "$(port_of "$s")" -U "$(user_of "$s")" \
    -n -M prepared -c "$CLIENTS" -j "$THREADS" -T "$DURATION" -r \
    -f "$HERE/ab/$w.sql" "$DB" >"$out" 2>&1 &
  local bp=$! pstat="" brk="" pf="" bcpu=""
  if [ "$PERFSTAT" = 1 ]; then pstat=$(perf_backends "$s" "$tag"); fi
  wait "$bp" || { tail -20 "$out" >&2; die "pgbench failed ($tag)"; }
  load=$(cut -d' ' -f1 /proc/loadavg)
  clients_gone "$s"
  t1=$(cluster_ticks "$s")
  after=$(counters "$s" "$q")
  if grep -q "aborted" "$out" || grep -Eq "number of failed transactions: [1-9]" "$out"; then
    tail -20 "$out" >&2; die "pgbench reports aborted clients or failed transactions ($tag)"
  fi
  tps=$(awk '/^tps = / { printf "%.1f", $3 }' "$out")
  txns=$(awk -F': ' '/^number of transactions actually processed/ { print $2 + 0 }' "$out")
  [ -n "$tps" ] && [ "${txns:-0}" -gt 0 ] || die "no tps or transactions in $out"
  cpu=$(awk -v a="$t0" -v b="$t1" -v hz="$TICK" -v n="$txns" 'BEGIN { printf "%.0f", (b - a) / hz * 1e6 / n }')
  if [ -n "$pstat" ]; then
    # per transaction, over perf's window (the run's rate times its length)
    read -r brk pf bcpu <<<"$(awk -v tps="$tps" -v t="$pstat" -F, '
      $3 == "syscalls:sys_enter_brk" { b = $1 } $3 == "page-faults" { f = $1 } $3 == "task-clock" { c = $1 }
      END { n = tps * t; printf "%.2f %.2f %.0f\n", b / n, f / n, c * 1000 / n }' "$RUN/perfstat_$tag.csv")"
  fi
  read -r c0 s0 d0 <<<"$before"
  read -r c1 s1 d1 <<<"$after"
  case "$w" in
    enqueue|enqueue100) moved=$(( (c1 + s1 + d1) - (c0 + s0 + d0) )) ;;   # messages enqueued
    claim|claim10) moved=$(( (s1 + d1) - (s0 + d0) )) ;;       # messages committed
    pipeline|pipeline10) moved=$((d1 - d0)) ;;                  # messages completed
  esac
  mps=$(awk -v m="$moved" -v t="$DURATION" 'BEGIN { printf "%.0f", m / t }')
  fill=$(fill_of "$w")
  if [ "$fill" -gt 0 ] && [ "$c1" -lt $((fill / 10)) ]; then
    log "WARNING: $tag left only $c1 of $fill messages in $q: claims may have come back empty (raise FILL)"
    LOWFILL+="${LOWFILL:+, }$tag"
  fi
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$pos" "$s" "$w" "$tps" "$mps" "$load" "$cpu" \
    "${bcpu:-nan}" "${brk:-nan}" "${pf:-nan}" >>"$RUN/results.tsv"
  log "round $r $w $s: $tps tps, $mps msgs/s, server CPU $cpu us/txn$( [ -n "$pstat" ] && echo ", backends (perf): CPU $bcpu us/txn, brk $brk/txn, page faults $pf/txn") (queue $q: $before -> $after), load $load"
  if [ "$PGSS" = 1 ]; then
    psqlc "$s" -d "$DB" -c "
      SELECT calls, round(total_exec_time::numeric, 1) AS total_ms,
             round(mean_exec_time::numeric, 4) AS mean_ms,
             round((shared_blks_hit + shared_blks_read)::numeric / greatest(calls, 1), 1) AS blks_per_call,
             left(regexp_replace(query, '\s+', ' ', 'g'), 120) AS query
        FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 20" >"$RUN/pgss_$tag.txt"
  fi
}
LOWFILL=""

# ---------------------------------------------------------------------------
trap cleanup EXIT
trap 'exit 130' INT TERM
T0=$(date +%s)
log "ab: OLD = $OLD_DESC; NEW = $NEW_DESC; raw output in $RUN"
start_cluster OLD
start_cluster NEW
setup_db OLD
setup_db NEW
OLD_LOADED=$(loaded_so OLD); NEW_LOADED=$(loaded_so NEW)
[ "$OLD_LOADED" = "$OLD_SO" ] || die "the OLD cluster loaded '$OLD_LOADED', not $OLD_SO"
[ "$NEW_LOADED" = "$NEW_SO" ] || die "the NEW cluster loaded '$NEW_LOADED', not $NEW_SO"
log "OLD cluster: port $OLD_PORT, $OLD_LOADED ($OLD_SO_MD5); NEW cluster: port $NEW_PORT, $NEW_LOADED ($NEW_SO_MD5)"

# the roles: ab_user is no superuser; on NEW its calls are checked (a role
# without the grants is refused), on OLD anyone may call
[ "$(psqlc NEW -d "$DB" -At -c "SELECT rolsuper FROM pg_roles WHERE rolname = 'ab_user'")" = f ] || die "ab_user is a superuser"
psqlc NEW -d "$DB" -c "CREATE ROLE ab_nobody LOGIN"
if "$NEW_PGBIN/psql" -h "$(sock_of NEW)" -p "$NEW_PORT" -U ab_nobody -X -q -d "$DB" \
     -c "SELECT fqs_enqueue('qe', 'x')" >/dev/null 2>&1; then
  PRIVCHECK="NEW has no per-queue privilege check: a role without grants may enqueue"
else
  PRIVCHECK="NEW refuses a role without grants (the privilege check is active); ab_user is a member of fqs_producer and fqs_consumer"
fi
log "$PRIVCHECK"
if [ "$(psqlc OLD -d "$DB" -At -c "SELECT count(*) FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.member WHERE r.rolname = 'ab_user'")" = 0 ]; then
  OLD_ROLES="ab_user has no grants there (this fqs has no fqs_producer/fqs_consumer roles; its API functions are callable by PUBLIC)"
else
  OLD_ROLES="ab_user is a member of fqs_producer and fqs_consumer there too"
fi

: >"$RUN/results.tsv"
for r in $(seq 1 "$ROUNDS"); do
  if [ $((r % 2)) = 1 ]; then order=$SIDES; else order=$(echo "$SIDES" | tr ' ' '\n' | tac | tr '\n' ' '); fi
  for w in $WORKLOADS; do
    pos=0
    for s in $order; do
      pos=$((pos + 1))
      measure "$r" "$pos" "$s" "$w"
    done
  done
done
if [ "$(sys_fqs_fp)" != "$SYS_FP0" ]; then
  # someone's make install replaced the system's files while we ran.  The
  # NEW postmaster preloaded fqs.so at start, and a backend's dlopen of the
  # same path returns that copy: check that a fresh backend maps only it
  PIN=$(pinned_check NEW)
  SYSCHANGED="note: the system's installed fqs changed on disk during the run (another session's make install); $PIN"
fi
T1=$(date +%s)

# ---------------------------------------------------------------------------
# report
med() {   # med <side> <workload> <column> [printf format]
  awk -F '\t' -v s="$1" -v w="$2" -v c="$3" '$3 == s && $4 == w && $c != "nan" { print $c }' "$RUN/results.tsv" | sort -g |
    awk -v f="${4:-%.0f}" '{ v[NR] = $1 } END { if (NR == 0) print "nan"; else printf f "\n", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 == 0 || a == "nan" || b == "nan") print "n/a"; else printf "%.3f", a / b }'; }
spread() {   # spread <sideA> <sideB> <workload> <column>: min..max of the per-round ratios A/B
  awk -F '\t' -v a="$1" -v b="$2" -v w="$3" -v c="$4" '
    $4 == w && $3 == a { x[$1] = $c } $4 == w && $3 == b { y[$1] = $c }
    END { lo = ""; for (r in x) if (r in y && y[r] > 0) { q = x[r] / y[r]; if (lo == "" || q < lo) lo = q; if (hi == "" || q > hi) hi = q }
          if (lo == "") print "n/a"; else printf "%.2f..%.2f", lo, hi }' "$RUN/results.tsv"
}
has_side() { case " $SIDES " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

# table <column> <what>: medians per side and the ratios
table() {   # table <column> <what> [printf format]
  local col=$1 what=$2 fmt=${3:-%.0f} w o n su hdr sep out
  if has_side NEWSU; then
    hdr="| workload | OLD $what median | NEW $what median | NEWSU $what median | ratio NEW/OLD | ratio NEWSU/OLD | ratio NEW/NEWSU | per-round NEW/OLD |"
    sep="|---|---:|---:|---:|---:|---:|---:|---|"
  else
    hdr="| workload | OLD $what median | NEW $what median | ratio NEW/OLD | per-round NEW/OLD |"
    sep="|---|---:|---:|---:|---|"
  fi
  out="$hdr
$sep"
  for w in $WORKLOADS; do
    o=$(med OLD "$w" "$col" "$fmt"); n=$(med NEW "$w" "$col" "$fmt")
    if has_side NEWSU; then
      su=$(med NEWSU "$w" "$col" "$fmt")
      out+="
| $w | $o | $n | $su | **$(ratio "$n" "$o")** | $(ratio "$su" "$o") | $(ratio "$n" "$su") | $(spread NEW OLD "$w" "$col") |"
    else
      out+="
| $w | $o | $n | **$(ratio "$n" "$o")** | $(spread NEW OLD "$w" "$col") |"
    fi
  done
  echo "$out"
}
TABLE=$(table 5 tps)
CTABLE=$(table 8 "CPU us/txn")
if [ "$PERFSTAT" = 1 ]; then
  PTABLE=$(table 9 "backend CPU us/txn")
  BTABLE=$(table 10 "brk/txn" %.2f)
  FTABLE=$(table 11 "page faults/txn" %.2f)
fi
MTABLE="| workload | counted as | $(for s in $SIDES; do printf '%s msgs/s | ' "$s"; done)
|---|---|$(for s in $SIDES; do printf -- '---:|'; done)"
for w in $WORKLOADS; do
  case "$w" in enqueue|enqueue100) what="enqueued" ;; claim|claim10) what="committed" ;; pipeline|pipeline10) what="completed" ;; esac
  MTABLE+="
| $w | $what | $(for s in $SIDES; do printf '%s | ' "$(med "$s" "$w" 6)"; done)"
done
RUNS=$(awk -F '\t' 'BEGIN { print "| round | workload | position | side | tps | msgs/s | server CPU us/txn | backend CPU us/txn (perf) | brk/txn | page faults/txn | load avg |"; print "|---:|---|---:|---|---:|---:|---:|---:|---:|---:|---:|" }
  { printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", $1, $4, $2, $3, $5, $6, $8, $9, $10, $11, $7 }' "$RUN/results.tsv")
PGVER=$("$NEW_PGBIN/postgres" --version)
OLDPGVER=$("$OLD_PGBIN/postgres" --version)
MACHINE="$(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')), $(free -g | awk '/^Mem:/ { print $2 }') GiB RAM, $(uname -sr); shared with other work"

print_tables() {
  echo "Median over $ROUNDS round(s) of ${DURATION}-second pgbench runs (tps = script runs per second; ratio NEW/OLD"
  echo "below 1 = NEW slower; per-round = the range of the ratios of the two runs of one round):"
  echo
  echo "$TABLE"
  echo
  echo "Server CPU time per transaction (script run), in microseconds: CPU used by the whole cluster during the run"
  echo "(postmaster, backends, WAL writer, workers; from /proc) / transactions; median over the rounds.  Unlike tps, this"
  echo "hardly depends on what else runs on the machine (ratio NEW/OLD above 1 = NEW costs more):"
  echo
  echo "$CTABLE"
  echo
  if [ "$PERFSTAT" = 1 ]; then
    echo "perf stat on the client backends (PERFSTAT=1), per transaction, median: CPU (task-clock), brk system calls"
    echo "(glibc malloc growing and trimming the heap), page faults:"
    echo
    echo "$PTABLE"
    echo
    echo "$BTABLE"
    echo
    echo "$FTABLE"
    echo
  fi
  echo "Messages moved per second, counted on the server (median):"
  echo
  echo "$MTABLE"
  echo
}

echo
echo "fqs ab benchmark $STAMP ($PGVER; $(nproc) cores)"
echo "OLD = $OLD_DESC"
echo "NEW = $NEW_DESC"
echo
print_tables
[ -n "${SYSCHANGED:-}" ] && echo "$SYSCHANGED"
[ -n "$LOWFILL" ] && echo "WARNING: these runs nearly drained their queue: $LOWFILL"
echo "Total wall time $((T1 - T0)) s.  Raw output: $RUN"
echo "Command: $CMDLINE"

mkdir -p "$REPO/bench/results"
OUT="$REPO/bench/results/ab-$(date +%Y-%m-%d).md"
[ -e "$OUT" ] && OUT="$REPO/bench/results/ab-$(date +%Y-%m-%d-%H%M%S).md"
{
  echo "# fqs ab benchmark -- $STAMP"
  echo
  echo "Command: \`$CMDLINE\`"
  echo
  echo "Date: $(date '+%Y-%m-%d %H:%M:%S %Z'). Machine: $MACHINE. $PGVER (OLD side: a private copy of the same installation, $OLDPGVER)."
  echo
  echo "- OLD = $OLD_DESC; cluster loaded \`$OLD_LOADED\` ($OLD_SO_MD5), built into a private copy of the installation."
  echo "- NEW = $NEW_DESC; cluster loaded \`$NEW_LOADED\`."
  echo "- Role: \`ab_user\`, a plain login role. $PRIVCHECK. OLD: $OLD_ROLES.$(has_side NEWSU && echo ' NEWSU: the NEW cluster as its bootstrap superuser.')"
  [ -n "$OLD_ENV$NEW_ENV" ] && echo "- Postmaster environment: OLD \`${OLD_ENV:-(none)}\`, NEW \`${NEW_ENV:-(none)}\`."
  echo "- Clusters: one per side, run at the same time, same settings: fsync=on, synchronous_commit=on, shared_buffers=256MB, shared_preload_libraries='fqs$( [ "$PGSS" = 1 ] && echo ',pg_stat_statements')' (workers running), jit=off, checkpoint_timeout=1h, max_wal_size=8GB, autovacuum on."
  echo "- Runs: pgbench -n -M prepared -c $CLIENTS -j $THREADS -T $DURATION; $ROUNDS rounds, each running every workload on every side in turn, the order of the sides reversed every other round. Before each run (not measured): the workload's queue dropped (force) and created again, the claim queues filled ($FILL ready messages for claim, $((FILL * 4)) for claim10, fqs_enqueue_batch with synchronous_commit off), VACUUM ANALYZE of the fqs tables, CHECKPOINT."
  echo "- Workloads (\`bench/ab/*.sql\`): enqueue = \`fqs_enqueue('qe', 'payload', 'k' || :k)\`, 100 keys, qe with max_ready 1e9 (the depth estimate is consulted, the pen never opens); claim = \`SELECT fqs_commit(id, receipt) FROM fqs_claim('qc', 1)\`; pipeline = enqueue + claim/commit + claim_sequential/complete on qp (three transactions per script); claim10 = \`SELECT fqs_commit(id, receipt) FROM fqs_claim('qb', 10)\`. qc, qp, qb have max_ready 0."
  echo
  print_tables
  echo "All runs (position = order within the round; load avg = 1-minute load average after the run, 4 clients of ours included):"
  echo
  echo "$RUNS"
  echo
  [ -n "${SYSCHANGED:-}" ] && { echo "$SYSCHANGED"; echo; }
  [ -n "$LOWFILL" ] && { echo "WARNING: these runs nearly drained their queue (claims may have come back empty): $LOWFILL"; echo; }
  echo "Total wall time $((T1 - T0)) s. Raw output was in \`$RUN\`."
} >"$OUT"
echo "Written: $OUT"
