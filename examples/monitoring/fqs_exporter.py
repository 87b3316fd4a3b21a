#!/usr/bin/env python3
"""Serve fqs_metrics() to Prometheus: GET /metrics runs SELECT fqs_metrics().

    python3 examples/monitoring/fqs_exporter.py --dsn 'dbname=hie' --port 9187
    curl -s localhost:9187/metrics

One short query per scrape, O(queues): counters and the latency histogram
come from shared memory, no message table is read.  The role in --dsn
sees the queues it has a right on (fqs_grant), or all of them as a member
of pg_monitor.  Needs psycopg 3 (Debian python3-psycopg).
"""
import argparse
import http.server
import sys

import psycopg


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dsn", default="", help="libpq connection string")
    ap.add_argument("--port", type=int, default=9187)
    ap.add_argument("--bind", default="127.0.0.1")
    args = ap.parse_args()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path.split("?")[0] != "/metrics":
                self.send_error(404, "try /metrics")
                return
            try:
                # a connection per scrape: nothing to go stale between them
                with psycopg.connect(args.dsn, autocommit=True) as conn:
                    body = conn.execute("SELECT fqs_metrics()").fetchone()[0]
                body = (body or "").encode()
                self.send_response(200)
                self.send_header("Content-Type",
                                 "text/plain; version=0.0.4; charset=utf-8")
            except psycopg.Error as e:
                body = f"fqs_metrics() failed: {e}\n".encode()
                self.send_response(503)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, fmt, *a):
            pass

    srv = http.server.ThreadingHTTPServer((args.bind, args.port), Handler)
    print(f"serving fqs_metrics() on http://{args.bind}:{srv.server_port}/metrics",
          file=sys.stderr, flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
