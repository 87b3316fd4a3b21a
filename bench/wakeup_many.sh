#!/usr/bin/env bash
# bench/wakeup_many.sh -- wake-up latency with 1 and 8 claimers waiting on
# one queue (issue 8, P7: median < 0.5 ms, p99 < 2 ms with 8).  Starts a
# private, throw-away cluster (the installed fqs preloaded, fsync and
# synchronous_commit on) and runs bench/wakeup_many.py against it.
#
#   bench/wakeup_many.sh            CLAIMERS="1 8" SAMPLES=500
#
# Needs Debian's python3-psycopg (installed when missing, as root).
# Output: stdout and bench/results/wakeup-many-<date>.md.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HERE")
CMDLINE="$0 $*"
CLAIMERS=${CLAIMERS:-"1 8"}
SAMPLES=${SAMPLES:-500}
BASE=${FQSWAKEMANY_BASE:-/tmp/fqswakemany}
PORT=${FQSWAKEMANY_PORT:-55441}
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
KEEP=${KEEP:-0}
RUNAS=postgres
DB=postgres
PGDATA=$BASE/pgdata
SOCK=$BASE
as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u "$RUNAS" -- "$@"; else "$@"; fi
}
. "$HERE/lib/cluster.sh"
trap cleanup EXIT

if ! /usr/bin/python3 -c 'import psycopg' 2>/dev/null; then
  [ "$(id -u)" = 0 ] || { echo "wakeup_many.sh: needs python3-psycopg (apt-get install python3-psycopg)" >&2; exit 1; }
  apt-get install -y python3-psycopg >/dev/null
fi
start_fresh_cluster
"$PGBIN/psql" -h "$SOCK" -p "$PORT" -U postgres -X -q -d $DB -c "SET client_min_messages = error" -c "CREATE EXTENSION fqs"

out=$REPO/bench/results/wakeup-many-$(date +%Y-%m-%d).md
[ -e "$out" ] && out=$REPO/bench/results/wakeup-many-$(date +%Y-%m-%d-%H%M%S).md
{
  echo "# fqs wake-up latency with many claimers waiting, $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo
  echo "Command: \`${CMDLINE}\` (CLAIMERS='$CLAIMERS' SAMPLES=$SAMPLES); fqs $(git -C "$REPO" describe --always --dirty 2>/dev/null || echo '?'),"
  echo "PostgreSQL $("$PGBIN/postgres" --version | awk '{ print $3 }'), fsync and synchronous_commit on; $(nproc) cores, shared with other work."
  echo
  for c in $CLAIMERS; do
    echo '```'
    /usr/bin/python3 "$HERE/wakeup_many.py" "host=$SOCK port=$PORT user=postgres dbname=$DB" "$c" "$SAMPLES"
    echo '```'
    echo
  done
} | tee "$out"
echo "written: $out" >&2
