// The sequential stage: a sender lane claims runs per patient with
// fqs_claim_sequential (a server-side wait) and POSTs each message's Bundle
// to its destination, in seq order.  A message is completed only after the
// destination answered 2xx.  On a 5xx, a refused connection or a timeout,
// the message is failed with fqs_fail and no retry_after, so fqs's own
// backoff (1 s, 2 s, 4 s ...) and failure breaker decide when it goes again;
// the rest of the run goes back with it.  Runs of different patients are
// delivered at the same time; a lane holds one claim's runs at a time.
//
// When the destination hangs longer than the lease, the reaper gives the
// patient to another lane and the old receipt is refused (55000): the
// lane's late fqs_fail or fqs_complete does nothing, and is counted.  A
// complete refused after a 2xx means the destination may see that message
// again (at least once): the sink reports such duplicates.
'use strict';

const http = require('node:http');

class Sender {
  constructor({ connect, queue, url, batch = 20, lease = 2, wait = 1, timeout = 3, name, breakMode }) {
    this.connect = connect;
    this.queue = queue;
    this.url = new URL(url);
    this.batch = batch;
    this.lease = lease;
    this.wait = wait;
    this.timeout = timeout;
    this.name = name || `sender ${queue}`;
    this.breakMode = breakMode || null;  // fault injection, for the test that the checks bite
    this.stop = false;
    this.onEvent = () => {};  // what went wrong, for the running log
    this.agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
    this.dbChain = Promise.resolve();
    this.stats = { claimed: 0, delivered: 0, completed: 0, failed: 0, retry: 0, dead: 0,
      http5xx: 0, timeouts: 0, connErrors: 0, failRefused: 0, completeRefused: 0 };
  }

  post(row) {
    return new Promise((resolve) => {
      const body = Buffer.from(row.payload, 'utf8');
      const req = http.request({
        host: this.url.hostname, port: this.url.port, path: this.url.pathname, method: 'POST',
        agent: this.agent, timeout: this.timeout * 1000,
        headers: {
          'content-type': 'application/fhir+json', 'content-length': body.length,
          'x-fqs-id': String(row.id), 'x-fqs-seq': String(row.seq),
          'x-fqs-key': encodeURIComponent(row.fifo_key), 'x-fqs-attempt': String(row.attempt),
          'x-control-id': encodeURIComponent(row.headers?.control_id ?? ''),
        },
      }, (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode }));
        res.on('error', (e) => resolve({ error: e.message }));
      });
      req.on('timeout', () => { this.stats.timeouts++; req.destroy(new Error(`no answer in ${this.timeout} s`)); });
      req.on('error', (e) => resolve({ error: e.message }));
      req.end(body);
    });
  }

  // The runs of a claim are delivered at the same time, over one connection:
  // their statements take turns.
  sql(db, text, params) {
    const p = this.dbChain.then(() => db.query(text, params));
    this.dbChain = p.catch(() => {});
    return p;
  }

  async deliverRun(db, run) {
    if (this.breakMode === 'misorder' && run.length > 1) {
      // broken on purpose: the second message goes out before the first
      const res = [await this.post(run[1]), await this.post(run[0])];
      if (res.every((r) => r.status >= 200 && r.status < 300)) {
        for (const m of run.slice(0, 2)) if (!(await this.complete(db, m))) return;
      } else {
        await this.sql(db, 'SELECT fqs_fail($1::bigint, $2::bigint, $3)', [run[0].id, run[0].receipt, 'misorder'])
          .catch(() => {});
        return;
      }
      run = run.slice(2);
    }
    for (const m of run) {
      if (this.breakMode === 'complete-first') {
        // broken on purpose: done before the destination has it
        await this.complete(db, m);
        await this.post(m);
        continue;
      }
      const res = await this.post(m);
      if (res.status >= 200 && res.status < 300) {
        this.stats.delivered++;
        if (!(await this.complete(db, m))) return;
        continue;
      }
      let err;
      if (res.status) { this.stats.http5xx += res.status >= 500; err = `HTTP ${res.status}`; }
      else { err = res.error; if (!/no answer/.test(err)) this.stats.connErrors++; }
      try {
        const { rows } = await this.sql(db, 'SELECT fqs_fail($1::bigint, $2::bigint, $3) AS outcome',
          [m.id, m.receipt, `${this.url.pathname}: ${err}`]);
        this.stats.failed++;
        this.stats[rows[0].outcome]++;
        this.onEvent(`${this.queue} ${m.fifo_key} seq ${m.seq} attempt ${m.attempt}: ${err}; fqs_fail -> ${rows[0].outcome}`);
      } catch (e) {
        if (e.code !== '55000') throw e;
        this.stats.failRefused++;  // the lease had run out: the key went on without us
        this.onEvent(`${this.queue} ${m.fifo_key} seq ${m.seq} attempt ${m.attempt}: ${err}; the ${this.lease} s` +
          ' lease ran out meanwhile, the reaper gave the patient back and refused this late fqs_fail (55000)');
      }
      return;  // the rest of the run went back with its head
    }
  }

  async complete(db, m) {
    try {
      await this.sql(db, 'SELECT fqs_complete($1::bigint, $2::bigint)', [m.id, m.receipt]);
      this.stats.completed++;
      return true;
    } catch (e) {
      if (e.code !== '55000') throw e;
      this.stats.completeRefused++;  // delivered, but the lease ran out first
      this.onEvent(`${this.queue} ${m.fifo_key} seq ${m.seq}: delivered, but fqs_complete refused (lease ran out):` +
        ' it will be delivered again');
      return false;
    }
  }

  async run() {
    const db = this.connect();
    await db.connect();
    try {
      while (!this.stop) {
        const { rows } = await db.query(
          'SELECT id, receipt, fifo_key, seq, payload, headers, attempt FROM fqs_claim_sequential($1, $2::int, ' +
          "lease => $3::float8 * interval '1 second', wait => $4::float8 * interval '1 second') " +
          'ORDER BY fifo_key, seq',
          [this.queue, this.batch, this.lease, this.wait]);
        if (rows.length === 0) continue;
        this.stats.claimed += rows.length;
        const runs = new Map();
        for (const r of rows) {
          if (!runs.has(r.fifo_key)) runs.set(r.fifo_key, []);
          runs.get(r.fifo_key).push(r);
        }
        await Promise.all([...runs.values()].map((run) => this.deliverRun(db, run)));
      }
    } finally {
      this.agent.destroy();
      await db.end();
    }
  }
}

module.exports = { Sender };
