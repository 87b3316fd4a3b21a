#!/usr/bin/env bash
# fqs demo: installs what is needed, builds and installs fqs, starts a
# throwaway PostgreSQL 15 cluster, and runs a two-stage pipeline of
# HL7-like messages: 4 translators in parallel (concurrent stage), one
# sender releasing strictly in order per patient (sequential stage), with
# fqs_queues printed while it runs.  The EHR the sender delivers to is down
# from 1.5 s to 5 s into the run: the failure breaker opens after 3 failed
# sends, lets one probe through per cooldown, and closes once one works.  fqs is preloaded, so the background
# worker runs the holding pen and claims wait instead of polling.  Run as root (or with sudo).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
bash test/install-deps.sh
PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config
make -s PG_CONFIG=$PG_CONFIG >/dev/null
make -s PG_CONFIG=$PG_CONFIG install >/dev/null

bin=$($PG_CONFIG --bindir)
dir=/tmp/fqs-demo
port=${FQS_DEMO_PORT:-55499}
user=postgres
as() { if [ "$(id -u)" = 0 ]; then su $user -s /bin/bash -c "$*"; else bash -c "$*"; fi; }
[ "$(id -u)" = 0 ] || user=$(id -un)

as "$bin/pg_ctl -D $dir/data stop -m fast" >/dev/null 2>&1 || true
rm -rf $dir && mkdir -p $dir && chown $user $dir
as "$bin/initdb -D $dir/data -A trust" >/dev/null
as "$bin/pg_ctl -D $dir/data -l $dir/server.log -o '-p $port -k $dir -c listen_addresses= -c shared_preload_libraries=fqs -c fqs.naptime=100ms' -w start" >/dev/null
trap 'as "$bin/pg_ctl -D $dir/data stop -m fast" >/dev/null 2>&1 || true' EXIT
cp demo/*.sql $dir/ && chown $user $dir/*.sql
psql="$bin/psql -X -q -h $dir -p $port -d postgres"

as "$psql -f $dir/pipeline.sql"
echo
echo "== running 4 translators (50-250 ms each) and 1 in-order sender"
for w in 1 2 3 4; do as "$psql -c 'CALL demo.translator($w)'" & done
as "$psql -c 'CALL demo.sender(54)'" &
for i in $(seq 1 60); do
	sleep 0.5
	case $i in
	3) as "$psql -c 'UPDATE demo.ehr SET up = false'" >/dev/null; echo "  -- the EHR goes down" ;;
	10) as "$psql -c 'UPDATE demo.ehr SET up = true'" >/dev/null; echo "  -- the EHR is back" ;;
	esac
	line=$(as "$psql -At -F ' ' -c \"SELECT 'breaker', CASE WHEN breaker_open THEN 'open  ' ELSE 'closed' END, 'pen', pen, 'ready', ready, 'claimed', claimed, 'processed', processed, 'sequencing', sequencing, 'done', done_total, 'failure', rpad(failure_state, 9), 'failures', consecutive_failures FROM fqs_queues\"")
	echo "  fqs_queues: $line"
	case "$line" in *"done 54 "*) break ;; esac
done
wait
as "$psql -f $dir/check.sql"
echo '== the failure breaker in the server log'
grep -o 'fqs: failure breaker.*' $dir/server.log || true
