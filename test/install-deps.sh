#!/usr/bin/env bash
# Install the Debian packages fqs needs to build, test and demo.
# Idempotent; needs root (apt-get).
set -euo pipefail
# default-jdk-headless and libpostgresql-jdbc-java: examples/java (javac, and
# the JDBC driver at /usr/share/java/postgresql.jar); python3-prometheus-client:
# TAP 016 parses fqs_metrics() with it; postgresql-15-plproxy: fqs_router
# (TAP 018 and 019)
pkgs="postgresql-15 postgresql-server-dev-15 postgresql-client-15 libipc-run-perl make gcc python3-psycopg python3-prometheus-client default-jdk-headless libpostgresql-jdbc-java postgresql-15-plproxy"
# building and testing the Debian package (test/package.sh): debhelper,
# pg_buildext and its debhelper add-on (postgresql-server-dev-all), and
# dpkg-buildpackage with the tools Debian assumes
pkgs="$pkgs debhelper postgresql-server-dev-all dpkg-dev build-essential"
missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "need root to install:$missing" >&2
		exit 1
	fi
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq $missing >/dev/null
fi
# The Debian package may start a default cluster; fqs' tests never use it.

# Node.js for examples/node and examples/hl7 (Debian's nodejs and npm, unless
# a node with its own npm is there already), and each one's npm packages from
# its lockfile.  examples/hl7 (@medplum/hl7) wants Node.js 20.19 or later.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
	if [ "$(id -u)" != 0 ]; then
		echo "need root to install: nodejs npm" >&2
		exit 1
	fi
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq nodejs npm >/dev/null
fi
top=$(cd "$(dirname "$0")/.." && pwd)
for ex in node/pg hl7/@medplum/hl7; do
	dir=$top/examples/${ex%%/*}
	if [ ! -d "$dir/node_modules/${ex#*/}" ]; then
		(cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
	fi
done
