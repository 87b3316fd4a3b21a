#!/usr/bin/env python3
"""An fqs worker in Python (psycopg 3, Debian's python3-psycopg).

    fqs_worker.py --stage concurrent QUEUE   # translate, many in parallel
    fqs_worker.py --stage sequential QUEUE   # deliver, in order per key

The connection comes from --dsn or the usual PG* environment variables.

Concurrent stage: claims up to --batch messages at once, waiting on the
server (wait => ...) while there is nothing to do, translates each one and
acknowledges the whole batch with one array call of fqs_commit.  A message
whose translation raises is handed back with fqs_fail (retried after
--retry-after, dead after the queue's max_attempts).  Slow work keeps its
lease alive: a heartbeat thread calls fqs_extend_lease on a connection of
its own while a message is being worked on.

Sequential stage: claims runs of processed messages (per key, consecutive
seqs from the key's head), delivers each run in seq order and completes it
in the same transaction as the delivery, so a delivery is never lost and
never made twice.  Here the delivery is an INSERT into the table named by
--sink (an identifier quoted by psycopg, never pasted into SQL text).

SIGTERM or SIGINT: the worker finishes and acknowledges what it holds, then
exits with status 0.  Every wait is bounded (--wait), so a stop is noticed
within that time.

The translation is a stand-in: it upper-cases the payload; a payload that
contains "fail-once" fails on its first attempt, one that contains "slow"
takes --slow seconds (longer than the lease, so only the heartbeat keeps
it).
"""

import argparse
import json
import signal
import sys
import threading
import time

import psycopg
from psycopg import sql

stop = threading.Event()


def on_signal(signum, frame):
    stop.set()


class Heartbeat:
    """While held, extend the leases of a batch every lease / 3 seconds."""

    def __init__(self, dsn, lease_s):
        self.lease_s = lease_s
        self.conn = psycopg.connect(dsn, autocommit=True)
        self.held = []
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def hold(self, claimed):
        with self.lock:
            self.held = list(claimed)

    def drop(self, msg_id):
        with self.lock:
            self.held = [h for h in self.held if h[0] != msg_id]

    def release(self):
        with self.lock:
            self.held = []

    def run(self):
        while not self.done.wait(self.lease_s / 3.0):
            with self.lock:
                for msg_id, receipt in self.held:
                    try:
                        self.conn.execute(
                            "SELECT fqs_extend_lease(%s::bigint, %s::bigint, "
                            "%s * interval '1 second')",
                            (msg_id, receipt, self.lease_s))
                    except psycopg.Error as e:
                        # the lease was lost (it expired and the message
                        # was claimed again): its commit will be refused
                        print(f"heartbeat: {e.sqlstate} {e}", file=sys.stderr)

    def close(self):
        self.done.set()
        self.thread.join()
        self.conn.close()


def translate(payload, attempt, slow_s):
    if "fail-once" in payload and attempt == 1:
        raise ValueError("translation failed on the first attempt")
    if "slow" in payload:
        time.sleep(slow_s)
    return json.dumps({"translated": payload.upper()})


def commit(conn, ids, receipts, results):
    """One call, one commit for the batch; one by one if that is refused."""
    try:
        conn.execute(
            "SELECT fqs_commit(%s::bigint[], %s::bigint[], %s::text[])",
            (ids, receipts, results))
        return
    except psycopg.Error as e:
        if e.sqlstate != "55000":
            raise
    # a lease of the batch was lost (55000): the others still count
    for msg_id, receipt, result in zip(ids, receipts, results):
        try:
            conn.execute("SELECT fqs_commit(%s::bigint, %s::bigint, %s::text)",
                         (msg_id, receipt, result))
        except psycopg.Error as e:
            if e.sqlstate != "55000":
                raise
            print(f"commit of {msg_id} refused: {e}", file=sys.stderr)


def concurrent_stage(args):
    lease_s = args.lease
    with psycopg.connect(args.dsn, autocommit=True) as conn:
        beat = Heartbeat(args.dsn, lease_s)
        try:
            while not stop.is_set():
                rows = conn.execute(
                    "SELECT id, receipt, payload, attempt FROM fqs_claim(%s, %s, "
                    "lease => %s * interval '1 second', "
                    "wait => %s * interval '1 second')",
                    (args.queue, args.batch, lease_s, args.wait)).fetchall()
                ok_ids, ok_receipts, results = [], [], []
                beat.hold((r[0], r[1]) for r in rows)
                try:
                    for msg_id, receipt, payload, attempt in rows:
                        try:
                            results.append(translate(payload, attempt,
                                                     args.slow))
                            ok_ids.append(msg_id)
                            ok_receipts.append(receipt)
                        except Exception as e:
                            beat.drop(msg_id)
                            conn.execute(
                                "SELECT fqs_fail(%s::bigint, %s::bigint, %s::text, "
                                "retry_after => %s * interval '1 second')",
                                (msg_id, receipt, str(e), args.retry_after))
                finally:
                    # before the commit: no heartbeat for finished messages
                    beat.release()
                if ok_ids:
                    commit(conn, ok_ids, ok_receipts, results)
        finally:
            beat.close()


def sequential_stage(args):
    insert = sql.SQL(
        "INSERT INTO {} (fifo_key, seq, id, result) VALUES (%s, %s, %s, %s)"
    ).format(sql.Identifier(*args.sink.split(".")))
    with psycopg.connect(args.dsn, autocommit=True) as conn:
        while not stop.is_set():
            rows = conn.execute(
                "SELECT id, receipt, fifo_key, seq, payload FROM "
                "fqs_claim_sequential(%s, %s, "
                "lease => %s * interval '1 second', "
                "wait => %s * interval '1 second')",
                (args.queue, args.batch, args.lease, args.wait)).fetchall()
            runs = {}
            for row in rows:
                runs.setdefault(row[2], []).append(row)
            for key, run in runs.items():
                run.sort(key=lambda r: r[3])
                try:
                    # deliver and complete in one transaction
                    with conn.transaction():
                        for msg_id, receipt, fifo_key, seq, result in run:
                            conn.execute(insert, (fifo_key, seq, msg_id, result))
                        conn.execute(
                            "SELECT fqs_complete(%s::bigint[], %s::bigint[])",
                            ([r[0] for r in run], [r[1] for r in run]))
                except psycopg.Error as e:
                    # nothing of the run was delivered: its head goes back
                    conn.execute(
                        "SELECT fqs_fail(%s::bigint, %s::bigint, %s::text, "
                        "retry_after => %s * interval '1 second')",
                        (run[0][0], run[0][1], str(e), args.retry_after))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("queue")
    p.add_argument("--stage", choices=["concurrent", "sequential"],
                   required=True)
    p.add_argument("--dsn", default="", help="libpq connection string")
    p.add_argument("--batch", type=int, default=10)
    p.add_argument("--lease", type=float, default=2.0, help="seconds")
    p.add_argument("--wait", type=float, default=1.0, help="seconds")
    p.add_argument("--retry-after", type=float, default=0.2, help="seconds")
    p.add_argument("--slow", type=float, default=3.0,
                   help="seconds a 'slow' payload takes")
    p.add_argument("--sink", default="example_sink",
                   help="table the sequential stage delivers to")
    args = p.parse_args()
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if args.stage == "concurrent":
        concurrent_stage(args)
    else:
        sequential_stage(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
