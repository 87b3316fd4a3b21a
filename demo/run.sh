#!/usr/bin/env bash
# fqs demo: installs what is needed, builds and installs fqs, starts a
# throwaway PostgreSQL 15 cluster with fqs preloaded, and runs the HL7 v2
# pipeline of examples/hl7 against it (see README, "HL7 pipeline"): ADT
# traffic for 200 patients at 3 facilities over MLLP, ACKed after the
# enqueue committed, translated to FHIR Bundles in parallel, and sent in
# order per patient to a local HTTP sink.  The EHR destination is down for
# 12 s (503, then hanging past the lease) while the billing destination
# keeps flowing; fqs_queues is printed every second and a summary with the
# checks at the end.  The exit status is the pipeline's: 0 when every check
# passed.  Run as root (or with sudo).
#
# Arguments are passed to examples/hl7/pipeline.js (e.g. --rate 100
# --outage 20).  FQS_DEMO_PORT and FQS_DEMO_DIR choose the cluster's port
# and directory; FQS_DEMO_INSTALLED=1 uses the fqs already installed
# instead of building and installing it.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
bash test/install-deps.sh
PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config
if [ "${FQS_DEMO_INSTALLED:-0}" != 1 ]; then
	make -s PG_CONFIG=$PG_CONFIG >/dev/null
	make -s PG_CONFIG=$PG_CONFIG install >/dev/null
fi

bin=$($PG_CONFIG --bindir)
dir=${FQS_DEMO_DIR:-/tmp/fqs-demo}
port=${FQS_DEMO_PORT:-55499}
user=postgres
as() { if [ "$(id -u)" = 0 ]; then su $user -s /bin/bash -c "$*"; else bash -c "$*"; fi; }
[ "$(id -u)" = 0 ] || user=$(id -un)

as "$bin/pg_ctl -D $dir/data stop -m fast" >/dev/null 2>&1 || true
rm -rf "$dir" && mkdir -p "$dir" && chown $user "$dir"
as "$bin/initdb -D $dir/data -A trust" >/dev/null
as "$bin/pg_ctl -D $dir/data -l $dir/server.log -o '-p $port -k $dir -c listen_addresses= -c shared_preload_libraries=fqs -c fqs.naptime=100ms' -w start" >/dev/null
trap 'as "$bin/pg_ctl -D $dir/data stop -m fast" >/dev/null 2>&1 || true' EXIT

rc=0
node examples/hl7/pipeline.js --dsn "host=$dir port=$port user=$user dbname=postgres" \
	--patients 200 --rate 50 --duration 40 --outage 12 --outage-at 8 "$@" || rc=$?
echo '== the breakers in the server log'
grep -o 'fqs: .*breaker.*' "$dir/server.log" | head -20 || true
exit $rc
