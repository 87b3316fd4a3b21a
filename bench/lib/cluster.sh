# Shared by bench/depth.sh and bench/wakeup.sh: stop the throw-away cluster,
# and on exit leave it running (KEEP=1) or stop it.  The caller defines
# as_owner and sets PGBIN, PGDATA, SOCK, PORT, DB and KEEP.

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
