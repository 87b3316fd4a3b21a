#!/usr/bin/env bash
# bench/router.sh -- the cost of going through fqs_router (issue 11): the
# same pgbench scripts against an fqs node directly and through a PL/Proxy
# proxy in front of it, side by side, with 1 and 8 clients.
#
#   bench/router.sh
#
# Starts two throw-away clusters of the installed PostgreSQL 15 under
# $FQSROUTER_BASE (run as OS user postgres, fsync and synchronous_commit
# on): "node" with fqs preloaded and fqs.node_id = 1, and "proxy" with
# fqs_router (and plproxy, apt-get installed when missing, as root), the
# node added as n1.  Both on one machine: the proxy's backends take CPU
# from the node's, as a proxy on the same host would.
#
# Workloads (bench/router/*.sql, every statement its own transaction, the
# same text for both sides):
#   enqueue   fqs_enqueue of one message
#   cycle     fqs_enqueue, then fqs_claim of one message, then fqs_commit
#             of it (three calls, three transactions; the queue keeps its
#             depth)
# Each round runs every workload on both sides, the side order alternating
# from one round to the next; the ratio proxy ÷ direct is of the means.
#
# Then live moves (MOVES, default 4): a second node "n2" (fqs.node_id 2)
# joins, and queue mv moves n1 -> n2 -> n1 ... while MOVE_CLIENTS (4)
# clients run both stages through the proxy (enqueue, claim + commit,
# sequential claim + complete) in PL/pgSQL loops that retry on QM001; each
# move waits MOVE_GAP seconds (2) of traffic first.  Reported: each move's
# pause (fqs_router_move_queue's result: how long the queue refused work)
# with the unfinished messages it moved, the QM001 retries, the slowest
# cycle, and whether every message was released exactly once.
#
# Environment (defaults): ROUNDS=3 DURATION=10 CLIENTS_LIST="1 8"
#   WORKLOADS="enqueue cycle" MOVES=4 MOVE_CLIENTS=4 MOVE_GAP=2
#   FQSROUTER_BASE=/tmp/fqsrouter NODE_PORT=55451 PROXY_PORT=55452
#   NODE2_PORT=55453 PGBIN=/usr/lib/postgresql/15/bin KEEP=0
# Output: stdout and bench/results/router-<date>.md; raw pgbench output in
# $FQSROUTER_BASE/runs/<stamp>/.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HERE")
CMDLINE="$0 $*"
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10}
CLIENTS_LIST=${CLIENTS_LIST:-"1 8"}
WORKLOADS=${WORKLOADS:-"enqueue cycle"}
MOVES=${MOVES:-4}
MOVE_CLIENTS=${MOVE_CLIENTS:-4}
MOVE_GAP=${MOVE_GAP:-2}
NODE2_PORT=${NODE2_PORT:-55453}
BASE=${FQSROUTER_BASE:-/tmp/fqsrouter}
NODE_PORT=${NODE_PORT:-55451}
PROXY_PORT=${PROXY_PORT:-55452}
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
KEEP=${KEEP:-0}
RUNAS=postgres
ENVLINE=""
for v in ROUNDS DURATION CLIENTS_LIST WORKLOADS MOVES MOVE_CLIENTS MOVE_GAP; do
  if printenv "$v" >/dev/null 2>&1; then ENVLINE+="$v='$(printenv "$v")' "; fi
done

STAMP=$(date +%Y%m%d-%H%M%S)
RUN=$BASE/runs/$STAMP
mkdir -p "$RUN"
if [ "$(id -u)" = 0 ]; then chown "$RUNAS" "$BASE"; chmod 0777 "$BASE/runs" "$RUN"; fi

as_owner() { if [ "$(id -u)" = 0 ]; then runuser -u "$RUNAS" -- "$@"; else "$@"; fi; }
log() { echo "[$(date +%H:%M:%S)] $*" >&2; }
die() { log "router.sh: $*"; exit 1; }

for w in $WORKLOADS; do
  [ -f "$HERE/router/$w.sql" ] || die "no workload $w (bench/router/$w.sql)"
done
if [ ! -f "$("$PGBIN/pg_config" --sharedir)/extension/plproxy.control" ]; then
  [ "$(id -u)" = 0 ] || die "needs postgresql-15-plproxy (apt-get install postgresql-15-plproxy)"
  log "apt-get install -y postgresql-15-plproxy"
  { apt-get install -y postgresql-15-plproxy || { apt-get update && apt-get install -y postgresql-15-plproxy; }; } >"$RUN/apt.log" 2>&1 ||
    die "could not install postgresql-15-plproxy (see $RUN/apt.log)"
fi
[ -f "$("$PGBIN/pg_config" --sharedir)/extension/fqs_router.control" ] ||
  die "fqs_router is not installed (make install)"

# cluster <name> <port> [setting ...]
cluster() {
  local name=$1 port=$2 d=$BASE/$1 line
  shift 2
  if [ -f "$d/PG_VERSION" ]; then as_owner "$PGBIN/pg_ctl" -D "$d" -m fast -w stop >/dev/null 2>&1 || true; fi
  rm -rf "$d"
  as_owner "$PGBIN/initdb" -D "$d" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
  {
    echo "listen_addresses = ''"
    echo "port = $port"
    echo "unix_socket_directories = '$BASE'"
    echo "fsync = on"
    echo "synchronous_commit = on"
    echo "shared_buffers = 256MB"
    echo "max_connections = 100"
    echo "jit = off"
    for line in "$@"; do echo "$line"; done
  } >>"$d/postgresql.conf"
  as_owner "$PGBIN/pg_ctl" -D "$d" -l "$RUN/$name.log" -w -t 60 start >/dev/null
}
stop_all() {
  local n
  [ "$KEEP" = 1 ] && { log "KEEP=1: clusters left running in $BASE"; return; }
  for n in node node2 proxy; do
    [ -f "$BASE/$n/PG_VERSION" ] && as_owner "$PGBIN/pg_ctl" -D "$BASE/$n" -m fast -w stop >/dev/null 2>&1 || true
  done
}
trap stop_all EXIT

cluster node "$NODE_PORT" "shared_preload_libraries = 'fqs'" "fqs.node_id = 1"
cluster proxy "$PROXY_PORT"
psqln() { "$PGBIN/psql" -h "$BASE" -p "$NODE_PORT" -U postgres -X -q -v ON_ERROR_STOP=1 -d postgres "$@"; }
psqlp() { "$PGBIN/psql" -h "$BASE" -p "$PROXY_PORT" -U postgres -X -q -v ON_ERROR_STOP=1 -d postgres "$@"; }
psqln -c "SET client_min_messages = error" -c "CREATE EXTENSION fqs"
psqlp -c "SET client_min_messages = error" -c "CREATE EXTENSION fqs_router CASCADE" \
  -c "SELECT fqs_router_add_node('n1', 'host=$BASE port=$NODE_PORT dbname=postgres')" >/dev/null
psqlp -c "SELECT fqs_create_queue('b', max_ready => 0)" >/dev/null
# a depth the claims never exhaust
for i in 1 2; do
  psqln -c "SET synchronous_commit = off" \
    -c "SELECT count(*) FROM fqs_enqueue_batch('b', (SELECT array_agg(repeat('x', 200)) FROM generate_series(1, 10000)),
                                               (SELECT array_agg('k' || (g % 100)) FROM generate_series(1, 10000) g))" >/dev/null
done

# run <side> <workload> <clients> -> tps and latency ms
run() {
  local side=$1 w=$2 c=$3 port out
  port=$NODE_PORT; [ "$side" = proxy ] && port=$PROXY_PORT
  out=$RUN/$side-$w-c$c-$4.out
  "$PGBIN/pgbench" -h "$BASE" -p "$port" -U postgres -n -c "$c" -j "$(( c < 2 ? c : 2 ))" \
    -T "$DURATION" -f "$HERE/router/$w.sql" postgres >"$out" 2>&1 || true
  grep -q '^tps' "$out" || die "pgbench failed, see $out"
  printf '%s %s\n' "$(awk '/^tps = / { print $3; exit }' "$out")" \
    "$(awk '/^latency average = / { print $4; exit }' "$out")"
}

declare -A TPS LAT
for r in $(seq 1 "$ROUNDS"); do
  for w in $WORKLOADS; do
    for c in $CLIENTS_LIST; do
      sides="direct proxy"; [ $((r % 2)) = 0 ] && sides="proxy direct"
      for s in $sides; do
        read -r t l < <(run "$s" "$w" "$c" "$r")
        TPS[$s/$w/$c]="${TPS[$s/$w/$c]:-} $t"
        LAT[$s/$w/$c]="${LAT[$s/$w/$c]:-} $l"
        log "round $r $w c=$c $s: $t scripts/s, $l ms"
      done
    done
  done
done

# ---- live moves under load
MOVE_TABLE=""
if [ "$MOVES" -gt 0 ]; then
  cluster node2 "$NODE2_PORT" "shared_preload_libraries = 'fqs'" "fqs.node_id = 2"
  "$PGBIN/psql" -h "$BASE" -p "$NODE2_PORT" -U postgres -X -q -v ON_ERROR_STOP=1 -d postgres \
    -c "SET client_min_messages = error" -c "CREATE EXTENSION fqs"
  psqlp -c "SELECT fqs_router_add_node('n2', 'host=$BASE port=$NODE2_PORT dbname=postgres')" \
    -c "SELECT fqs_create_queue('mv', node => 'n1', max_ready => 0)" \
    -c "CREATE TABLE mv_ops (client int, cycles bigint, retries bigint, slowest_ms float8, committed bigint)" \
    -c "CREATE TABLE mv_moves (n int, node text, backlog bigint, pause interval)" \
    -c "CREATE TABLE mv_done (id bigint)" >/dev/null
  cat >"$RUN/move-client.sql" <<'EOSQL'
DO $$
DECLARE
	id_ bigint;
	rc_ bigint;
	t timestamptz;
	cycles bigint := 0;
	retries bigint := 0;
	committed bigint := 0;
	slowest float8 := 0;
BEGIN
	WHILE (SELECT count(*) FROM mv_moves) < current_setting('mv.moves')::int LOOP
		t := clock_timestamp();
		LOOP
			BEGIN
				PERFORM fqs_enqueue('mv', 'x', 'k' || (random() * 100)::int);
				EXIT;
			EXCEPTION WHEN SQLSTATE 'QM001' THEN
				retries := retries + 1;
				PERFORM pg_sleep(0.005);
			END;
		END LOOP;
		LOOP
			BEGIN
				SELECT c.id, c.receipt INTO id_, rc_ FROM fqs_claim('mv', 1) c;
				EXIT;
			EXCEPTION WHEN SQLSTATE 'QM001' THEN
				retries := retries + 1;
				PERFORM pg_sleep(0.005);
			END;
		END LOOP;
		IF id_ IS NOT NULL THEN
			PERFORM fqs_commit(id_, rc_);
			committed := committed + 1;
		END IF;
		LOOP
			BEGIN
				SELECT c.id, c.receipt INTO id_, rc_ FROM fqs_claim_sequential('mv', 1) c;
				EXIT;
			EXCEPTION WHEN SQLSTATE 'QM001' THEN
				retries := retries + 1;
				PERFORM pg_sleep(0.005);
			END;
		END LOOP;
		IF id_ IS NOT NULL THEN
			INSERT INTO mv_done VALUES (id_);
			PERFORM fqs_complete(id_, rc_);
		END IF;
		cycles := cycles + 1;
		slowest := greatest(slowest, extract(epoch FROM clock_timestamp() - t) * 1000);
	END LOOP;
	INSERT INTO mv_ops VALUES (current_setting('mv.client')::int, cycles, retries, slowest, committed);
END
$$;
EOSQL
  pids=()
  for c in $(seq 1 "$MOVE_CLIENTS"); do
    psqlp -c "SET mv.moves = '$MOVES'" -c "SET mv.client = '$c'" -f "$RUN/move-client.sql" >"$RUN/move-client-$c.out" 2>&1 &
    pids+=($!)
  done
  to=n2
  for m in $(seq 1 "$MOVES"); do
    sleep "$MOVE_GAP"
    psqlp -c "INSERT INTO mv_moves SELECT $m, '$to',
                (SELECT pen + ready + delayed + claimed + processed + sequencing FROM fqs_queues WHERE queue = 'mv'),
                fqs_router_move_queue('mv', '$to')" >/dev/null
    log "move $m to $to: $(psqlp -Atc "SELECT backlog || ' unfinished, ' || pause FROM mv_moves WHERE n = $m")"
    [ "$to" = n2 ] && to=n1 || to=n2
  done
  for p in "${pids[@]}"; do wait "$p" || die "a move client failed (see $RUN/move-client-*.out)"; done
  # drain what is left, then: every message released once
  psqlp -c "DO \$\$ DECLARE r record; BEGIN
              LOOP
                PERFORM fqs_commit(c.id, c.receipt) FROM fqs_claim('mv', 100) c;
                SELECT array_agg(c.id) AS ids, array_agg(c.receipt) AS rcs INTO r FROM fqs_claim_sequential('mv', 100) c;
                EXIT WHEN r.ids IS NULL;
                INSERT INTO mv_done SELECT unnest(r.ids);
                PERFORM fqs_complete(r.ids, r.rcs);
              END LOOP; END \$\$" >/dev/null
  check=$(psqlp -Atc "SELECT (SELECT count(*) FROM mv_done) || ' ' || (SELECT count(DISTINCT id) FROM mv_done) || ' ' ||
                             (SELECT done_total FROM fqs_queues WHERE queue = 'mv')")
  MOVE_TABLE=$(psqlp -At -F ' | ' -c "SELECT '| ' || n, node, backlog, round(extract(epoch FROM pause) * 1000) || ' ms |' FROM mv_moves ORDER BY n")
  MOVE_SUM=$(psqlp -At -F ' ' -c "SELECT sum(cycles), sum(retries), round(max(slowest_ms)), sum(committed) FROM mv_ops")
  MOVE_CHECK=$check
fi

mean() { echo "$1" | tr ' ' '\n' | awk 'NF { s += $1; n++ } END { printf "%.1f", n ? s / n : 0 }'; }
out=$REPO/bench/results/router-$(date +%Y-%m-%d).md
[ -e "$out" ] && out=$REPO/bench/results/router-$(date +%Y-%m-%d-%H%M%S).md
{
  echo "# fqs through fqs_router (PL/Proxy) against fqs directly, $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo
  echo "Command: \`${ENVLINE}${CMDLINE}\`; fqs $(git -C "$REPO" describe --always --dirty 2>/dev/null || echo '?'),"
  echo "PostgreSQL $("$PGBIN/postgres" --version | awk '{ print $3 }'), PL/Proxy $(psqlp -Atc "SELECT extversion FROM pg_extension WHERE extname = 'plproxy'");"
  echo "fsync and synchronous_commit on; node and proxy on one machine ($(nproc) cores, shared with other work)."
  echo "$ROUNDS rounds of ${DURATION} s per workload, side and client count, the sides' order alternating."
  echo
  echo "| workload | clients | direct, scripts/s | proxy, scripts/s | proxy ÷ direct | direct, ms per script | proxy, ms per script |"
  echo "|---|---:|---:|---:|---:|---:|---:|"
  for w in $WORKLOADS; do
    for c in $CLIENTS_LIST; do
      d=$(mean "${TPS[direct/$w/$c]}"); p=$(mean "${TPS[proxy/$w/$c]}")
      echo "| $w | $c | $d | $p | $(awk -v a="$p" -v b="$d" 'BEGIN { printf "**%.2f**", (b > 0 ? a / b : 0) }') | $(mean "${LAT[direct/$w/$c]}") | $(mean "${LAT[proxy/$w/$c]}") |"
    done
  done
  echo
  echo "Per round (scripts/s): $(for k in $(printf '%s\n' "${!TPS[@]}" | sort); do printf '%s:%s; ' "$k" "${TPS[$k]# }"; done)"
  echo
  echo "enqueue = one fqs_enqueue; cycle = fqs_enqueue + fqs_claim + fqs_commit, three transactions."
  echo "Through the proxy each call is a PL/Proxy call: a look-up of the queue's (or receipt's) node in the"
  echo "proxy's directory, then the same statement on the node over a connection the proxy backend keeps."
  if [ -n "$MOVE_TABLE" ]; then
    read -r cyc ret slow com <<<"$MOVE_SUM"
    read -r released distinct done <<<"$MOVE_CHECK"
    echo
    echo "## Live moves under load"
    echo
    echo "Queue mv moved $MOVES times between n1 and n2, ${MOVE_GAP} s of traffic before each, while $MOVE_CLIENTS clients ran"
    echo "both stages through the proxy (enqueue, claim + commit, sequential claim + complete), retrying on QM001 after"
    echo "5 ms. Pause = fqs_router_move_queue's result: from the start of the move to the directory change (the wait for"
    echo "claims in flight, the drain, the export and import of the unfinished messages)."
    echo
    echo "| move | to | unfinished messages moved | pause |"
    echo "|---:|---|---:|---:|"
    echo "$MOVE_TABLE"
    echo
    echo "Clients: $cyc cycles, $ret QM001 retries, slowest cycle ${slow} ms (retries included). After a final drain,"
    echo "$released releases of $distinct distinct messages, and the queue counts $done done$( [ "$released" = "$distinct" ] && [ "$distinct" = "$done" ] && [ "$done" = "$cyc" ] && echo ": every message enqueued released once, nothing lost or doubled by the moves" || echo " of $cyc enqueued (MISMATCH)")."
  fi
} | tee "$out"
log "written: $out"
