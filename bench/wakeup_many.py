#!/usr/bin/python3
"""bench/wakeup_many.py -- wake-up latency with many claimers waiting (P7).

With C claimers blocked in fqs_claim(q, 1, wait => '10 seconds') on one
queue, how long after an enqueue's COMMIT returns does the first of them
return with the message?  Target (issue 8, P7): median < 0.5 ms, p99 < 2 ms
with 8 claimers waiting.

One process: a producer connection and C claimer threads, each with its
own connection (psycopg 3, Debian python3-psycopg), all stamping with
time.monotonic(), so the clocks agree.  Before each enqueue the producer
waits a random gap (GAP_MIN..GAP_MAX ms) and checks in pg_stat_activity
that every claimer backend sleeps in the fqs wait; then it enqueues one
message (autocommit) and stamps when the call returned.  The claimer that
gets the message stamps its return; latency = that - the producer's stamp
(negative values are real: the wake is broadcast before the server answers
the COMMIT).  Ordinary claims' round trip (fqs_claim of a ready message,
autocommit) is measured too, for context.

Usage: bench/wakeup_many.py CONNINFO [CLAIMERS [SAMPLES]]
  e.g. bench/wakeup_many.py "host=/tmp/fqsw port=55440 user=postgres dbname=postgres" 8 500
The database needs fqs; the script creates and drops queue wakeup_many.
Run by bench/wakeup_many.sh, which starts a throw-away cluster.
"""
import random
import statistics
import sys
import threading
import time

import psycopg

conninfo = sys.argv[1]
claimers = int(sys.argv[2]) if len(sys.argv) > 2 else 8
samples = int(sys.argv[3]) if len(sys.argv) > 3 else 500
GAP_MIN, GAP_MAX = 5, 20
Q = 'wakeup_many'

prod = psycopg.connect(conninfo, autocommit=True)
prod.execute("SELECT fqs_drop_queue(%s, force => true) FROM fqs_queues WHERE queue = %s", (Q, Q))
prod.execute("SELECT fqs_create_queue(%s, max_ready => 0)", (Q,))

returns = {}            # message id -> (claimer, monotonic stamp)
lock = threading.Lock()
got = threading.Condition(lock)
stop = False
pids = []


def claimer(n):
    c = psycopg.connect(conninfo, autocommit=True)
    with lock:
        pids.append(c.info.backend_pid)
    cur = c.cursor()
    while not stop:
        cur.execute("SELECT id FROM fqs_claim(%s, 1, wait => '10 seconds')", (Q,))
        row = cur.fetchone()
        t = time.monotonic()
        if row is None:
            continue
        with got:
            returns[row[0]] = (n, t)
            got.notify_all()
    c.close()


threads = [threading.Thread(target=claimer, args=(i,), daemon=True) for i in range(claimers)]
for th in threads:
    th.start()
while len(pids) < claimers:
    time.sleep(0.01)


def all_waiting():
    r = prod.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s) "
        "AND wait_event_type = 'Extension'", (pids,)).fetchone()
    return r[0] == claimers


lat = []
winners = {}
skipped = 0
random.seed(1)
for i in range(samples + 20):
    time.sleep(random.uniform(GAP_MIN, GAP_MAX) / 1000.0)
    tries = 0
    while not all_waiting():
        tries += 1
        time.sleep(0.002)
        if tries > 500:
            raise SystemExit("claimers are not all waiting")
    mid = prod.execute("SELECT fqs_enqueue(%s, 'x')", (Q,)).fetchone()[0]
    t0 = time.monotonic()
    with got:
        while mid not in returns:
            if not got.wait(10):
                raise SystemExit("message %d was not claimed within 10 s" % mid)
        n, t1 = returns.pop(mid)
    if i >= 20:                     # warm-up
        lat.append((t1 - t0) * 1000.0)
        winners[n] = winners.get(n, 0) + 1

stop = True
# context: a claim that finds a ready message, no waiting
ctx = []
for i in range(200):
    prod.execute("SELECT fqs_enqueue(%s, 'y')", (Q,))
ready_conn = psycopg.connect(conninfo, autocommit=True)
# the waiting claimers take some of these; time only the claims that got one
for i in range(200):
    t0 = time.monotonic()
    r = ready_conn.execute("SELECT id FROM fqs_claim(%s, 1)", (Q,)).fetchone()
    t1 = time.monotonic()
    if r is not None:
        ctx.append((t1 - t0) * 1000.0)

lat.sort()


def pct(xs, p):
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))]


print("claimers waiting: %d; samples: %d" % (claimers, len(lat)))
print("enqueue COMMIT returned -> first claimer returned, ms: median %.3f, p90 %.3f, p99 %.3f, max %.3f"
      % (statistics.median(lat), pct(lat, 90), pct(lat, 99), lat[-1]))
print("claims won per claimer: %s" % ", ".join("%d" % winners.get(i, 0) for i in range(claimers)))
if ctx:
    ctx.sort()
    print("context, fqs_claim of a ready message (round trip incl. its commit), ms: median %.3f, p99 %.3f (%d samples)"
          % (statistics.median(ctx), pct(ctx, 99), len(ctx)))
prod.execute("SELECT fqs_drop_queue(%s, force => true)", (Q,))
