# Shared by the bench/ scripts: stop the throw-away cluster, and on exit
# leave it running (KEEP=1) or stop it; start_fresh_cluster makes a new one.
# The caller defines as_owner and sets PGBIN, PGDATA, SOCK, PORT, DB, KEEP
# (and BASE and RUNAS for start_fresh_cluster).

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

# start_fresh_cluster [setting ...]: initdb a new cluster in $PGDATA (the
# old one removed), fqs preloaded, fsync and synchronous_commit on, jit off,
# plus the given postgresql.conf lines; start it, log in $BASE/postgres.log.
start_fresh_cluster() {
  local line
  mkdir -p "$BASE"
  if [ "$(id -u)" = 0 ]; then chown "$RUNAS" "$BASE"; fi
  stop_cluster
  rm -rf "$PGDATA"
  as_owner "$PGBIN/initdb" -D "$PGDATA" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
  {
    echo "listen_addresses = ''"
    echo "port = $PORT"
    echo "unix_socket_directories = '$SOCK'"
    echo "shared_preload_libraries = 'fqs'"
    echo "fsync = on"
    echo "synchronous_commit = on"
    echo "jit = off"
    for line in "$@"; do echo "$line"; done
  } >>"$PGDATA/postgresql.conf"
  as_owner "$PGBIN/pg_ctl" -D "$PGDATA" -l "$BASE/postgres.log" -w -t 60 start >/dev/null
}
