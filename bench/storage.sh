#!/usr/bin/env bash
# bench/storage.sh -- bytes on disk per unfinished message beyond its payload
# (issue 8, target P8: <= 150 bytes), and whether table sizes stay flat in
# steady state.
#
#   bench/storage.sh
#
# Starts a private, throw-away cluster (initdb under $FQSSTORAGE_BASE, the
# installed fqs preloaded, fsync on, autovacuum on) and measures, in one
# database:
#
#   1. N messages of PAYLOAD bytes over KEYS keys enqueued (fqs_enqueue_batch,
#      1000 a call), then VACUUM: every message is ready.  Bytes = the growth
#      of all of fqs's relations (tables, indexes, TOAST) over the empty
#      queue, per message, minus the payload bytes.  Per relation, too.
#   2. The same messages all claimed and committed (state processed: the
#      sequential stage's backlog).
#   3. Steady state: pgbench runs the full pipeline (enqueue, claim+commit,
#      claim_sequential+complete; 4 clients) for ROUNDS windows of WINDOW
#      seconds on a queue that starts empty; after each window the sizes
#      are sampled, apart for the working-set tables (ready, releasable,
#      key_head, key_tail, pen, dedup, dead), which must stay flat, and the
#      append-only generation tables (message, processed, done), which grow
#      with throughput until fqs_rotate truncates a generation.  Flat = the
#      working set's last sample is within 20 % of its first.
#
# Environment (defaults): N=100000 PAYLOAD=200 KEYS=100 ROUNDS=6 WINDOW=20
#   FQSSTORAGE_BASE=/tmp/fqsstorage FQSSTORAGE_PORT=55436
#   PGBIN=/usr/lib/postgresql/15/bin KEEP=0
# Output: stdout and bench/results/storage-<date>.md (OUT=<file> writes it
# there instead).  RESULT_FILE=<file> also gets one line, "bytes beyond
# the payload per ready message, per processed message, working set kB in
# the first window, in the last, lowest, highest".
# FQSSTORAGE_SOCK=<dir> (with FQSSTORAGE_PORT) measures in a cluster that
# is already running (bench/peers.sh does): database storage is created
# afresh there, and the cluster is left running.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HERE")
CMDLINE="$0 $*"
N=${N:-100000}
PAYLOAD=${PAYLOAD:-200}
KEYS=${KEYS:-100}
ROUNDS=${ROUNDS:-6}
WINDOW=${WINDOW:-20}
BASE=${FQSSTORAGE_BASE:-/tmp/fqsstorage}
PORT=${FQSSTORAGE_PORT:-55436}
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
KEEP=${KEEP:-0}
RUNAS=postgres
DB=storage
PGDATA=$BASE/pgdata
SOCK=${FQSSTORAGE_SOCK:-$BASE}
ENVLINE=""
for v in N PAYLOAD KEYS ROUNDS WINDOW; do
  if printenv "$v" >/dev/null 2>&1; then ENVLINE+="$v='$(printenv "$v")' "; fi
done

as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u "$RUNAS" -- "$@"; else "$@"; fi
}
psqlc() { "$PGBIN/psql" -h "$SOCK" -p "$PORT" -U postgres -X -v ON_ERROR_STOP=1 -q "$@"; }
. "$HERE/lib/cluster.sh"
trap cleanup EXIT

if [ -n "${FQSSTORAGE_SOCK:-}" ]; then
  KEEP=1
  mkdir -p "$BASE"
  if [ "$(id -u)" = 0 ]; then chown "$RUNAS" "$BASE"; fi
  psqlc -d postgres -c "DROP DATABASE IF EXISTS $DB"
else
  start_fresh_cluster "shared_buffers = 256MB" "autovacuum_naptime = 10s"
fi
psqlc -d postgres -c "CREATE DATABASE $DB"
psqlc -d $DB -c "SET client_min_messages = error" -c "CREATE EXTENSION fqs"

# the size of every fqs relation (with indexes and TOAST), by table
psqlc -d $DB <<'EOF'
CREATE FUNCTION fqs_sizes() RETURNS TABLE (rel text, bytes bigint) LANGUAGE sql AS $$
	SELECT COALESCE(p.relname, c.relname)::text,
		   sum(pg_total_relation_size(c.oid))::bigint
	  FROM pg_class c
	  JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'fqs'
	  LEFT JOIN pg_inherits i ON i.inhrelid = c.oid
	  LEFT JOIN pg_class p ON p.oid = i.inhparent
	 WHERE c.relkind = 'r'
	 GROUP BY 1 $$;
CREATE TABLE snap (label text, rel text, bytes bigint);
EOF

snap() {
  psqlc -d $DB -c "VACUUM" -c "INSERT INTO snap SELECT '$1', rel, bytes FROM fqs_sizes()"
}

psqlc -d $DB -c "SELECT fqs_create_queue('s', max_ready => 0, max_attempts => 100)"
snap empty
psqlc -d $DB -c "SET synchronous_commit = off" -c "
DO \$\$
BEGIN
	FOR b IN 0..($N / 1000) - 1 LOOP
		PERFORM fqs_enqueue_batch('s',
			(SELECT array_agg(repeat('x', $PAYLOAD)) FROM generate_series(1, 1000)),
			(SELECT array_agg('k' || ((b * 1000 + i) % $KEYS)) FROM generate_series(1, 1000) i));
		COMMIT;
	END LOOP;
END \$\$"
snap ready
psqlc -d $DB -c "SET synchronous_commit = off" -c "
DO \$\$
BEGIN
	LOOP
		PERFORM fqs_commit(array_agg(id), array_agg(receipt)) FROM fqs_claim('s', 1000);
		COMMIT;
		EXIT WHEN NOT EXISTS (SELECT 1 FROM fqs_queues WHERE queue = 's' AND ready > 0);
	END LOOP;
END \$\$"
snap processed

per_msg() {  # label: bytes per message beyond the payload, and per table
  psqlc -d $DB -At -F '|' -c "
SELECT rel, b FROM (
SELECT rel, round((a.bytes - e.bytes)::numeric / $N, 1) AS b, false AS total
  FROM snap a JOIN snap e USING (rel)
 WHERE a.label = '$1' AND e.label = 'empty' AND a.bytes <> e.bytes
UNION ALL
SELECT '**all, beyond the payload**', round((sum(a.bytes) - sum(e.bytes))::numeric / $N - $PAYLOAD, 1), true
  FROM snap a JOIN snap e USING (rel)
 WHERE a.label = '$1' AND e.label = 'empty') x
 ORDER BY total, b DESC"
}

# steady state: a fresh queue through both stages
cat >"$BASE/pipeline.sql" <<EOF
\set k random(1, $KEYS)
SELECT fqs_enqueue('p', repeat('x', $PAYLOAD), 'k' || :k);
SELECT fqs_commit(id, receipt) FROM fqs_claim('p', 1);
SELECT fqs_complete(id, receipt) FROM fqs_claim_sequential('p', 1);
EOF
chmod a+r "$BASE/pipeline.sql"
# start the steady state from empty tables
psqlc -d $DB -c "SELECT fqs_drop_queue('s', force => true)" -c "VACUUM FULL" \
  -c "SELECT fqs_create_queue('p', max_ready => 0)"
steady=""
for r in $(seq 1 "$ROUNDS"); do
  "$PGBIN/pgbench" -h "$SOCK" -p "$PORT" -U postgres -n -M prepared -c 4 -j 2 -T "$WINDOW" \
    -f "$BASE/pipeline.sql" $DB >"$BASE/pgbench-$r.out" 2>&1
  tps=$(awk '/^tps/ { printf "%.0f", $3 }' "$BASE/pgbench-$r.out")
  hot=$(psqlc -d $DB -At -c "SELECT (sum(bytes) / 1024)::bigint FROM fqs_sizes() WHERE rel NOT IN ('message', 'processed', 'done')")
  log=$(psqlc -d $DB -At -c "SELECT (sum(bytes) / 1024)::bigint FROM fqs_sizes() WHERE rel IN ('message', 'processed', 'done')")
  unfinished=$(psqlc -d $DB -At -c "SELECT pen + ready + delayed + claimed + processed + sequencing FROM fqs_queues WHERE queue = 'p'")
  steady+="| $r | $((r * WINDOW)) | $tps | $unfinished | $hot | $log |"$'\n'
  echo "window $r: $tps scripts/s, $unfinished unfinished, working set $hot kB, generations $log kB" >&2
done

stamp=$(date +%Y-%m-%d)
out=${OUT:-$REPO/bench/results/storage-$stamp.md}
[ -z "${OUT:-}" ] && [ -e "$out" ] && out=$REPO/bench/results/storage-$stamp-$(date +%H%M%S).md
if [ -n "${RESULT_FILE:-}" ]; then
  total() { per_msg "$1" | awk -F'|' '/beyond the payload/ { print $2 }'; }
  printf '%s %s %s\n' "$(total ready)" "$(total processed)" \
    "$(printf '%s' "$steady" | awk -F'|' '{ h = $6 + 0; if (NR == 1) { f = lo = hi = h } if (h < lo) lo = h; if (h > hi) hi = h; l = h }
                                           END { print f, l, lo, hi }')" >"$RESULT_FILE"
fi
{
  echo "# fqs storage per message, $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo
  echo "Command: \`${ENVLINE}${CMDLINE}\`; fqs $(git -C "$REPO" describe --always --dirty 2>/dev/null || echo '?')," \
       "PostgreSQL $("$PGBIN/postgres" --version | awk '{ print $3 }'); $N messages of $PAYLOAD bytes over $KEYS keys."
  echo
  for st in ready processed; do
    echo "## All $N messages $st (after VACUUM)"
    echo
    echo "| relation (with indexes, TOAST) | bytes per message |"
    echo "|---|---:|"
    per_msg $st | awk -F'|' '{ printf "| %s | %s |\n", $1, $2 }'
    echo
  done
  echo "## Steady state: full pipeline, 4 clients, windows of $WINDOW s"
  echo
  echo "| window | s | scripts/s | unfinished at the end | working-set tables, kB | generation tables, kB (all queues) |"
  echo "|---:|---:|---:|---:|---:|---:|"
  printf '%s' "$steady"
  echo
  # the working set's range over the windows, and the generations' growth
  # per message (completed messages ~ scripts/s x window)
  printf '%s' "$steady" | awk -F'|' -v w="$WINDOW" '
    { hot = $6 + 0; gen = $7 + 0; msgs += ($4 + 0) * w
      if (NR == 1 || hot < lo) lo = hot; if (hot > hi) hi = hot
      if (NR == 1) { g0 = gen; m0 = msgs } ; g = gen; m = msgs }
    END { printf "Working-set tables stay between %d and %d kB over %d windows (they hold only unfinished messages, vacuumed as they churn);", lo, hi, NR
          printf " the generation tables grow by %.0f bytes per message through both stages until fqs_rotate truncates a generation (fqs.retention).\n",
            (m > m0 ? (g - g0) * 1024 / (m - m0) : 0) }'
} | tee "$out"
echo "written: $out" >&2
