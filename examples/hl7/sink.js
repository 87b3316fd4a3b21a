// The destinations: one local HTTP server with a path per destination
// (/ehr, /billing).  It checks what it receives as it arrives: per
// destination and patient, fqs seqs must come 1, 2, 3 ... (a lower or
// skipped seq is a reorder), a message id seen before is a duplicate, and
// the Bundle must say what the feed wrote (family name and note, unescaped).
//
// Each request takes the sink a random 0..2x --sink-ms, so a sender that
// has two messages of a patient in flight at once is caught reordering.
//
// The outage: for `outage` seconds from `outageAt` the EHR destination is
// down, first answering 503 and then (the second half) hanging: it reads
// the request and never answers, so the sender's timeout and the lease run
// out.  A hung request is dropped when the client gives up; it is never
// counted as received.  The other destination stays up.
'use strict';

const http = require('node:http');

class Sink {
  constructor({ dests, outageDest, outageAt = 0, outage = 0, mode = 'both', lookup, t0, workMs = 0 }) {
    // a real destination takes its time, and not always the same: requests
    // that overlap may finish in any order (0..2x workMs, at random)
    this.workMs = workMs;
    this.dests = new Map(dests.map((d) => [d, {
      count: 0, unique: 0, duplicates: [], reorders: [], mismatches: [], keys: new Map(), ids: new Set(),
      lags: [], first: null, last: null, refused: 0, hung: 0, laterAttempt: 0, maxAttempt: 0,
    }]));
    this.outageDest = outageDest;
    this.outageAt = outageAt;
    this.outage = outage;
    this.mode = mode;
    this.lookup = lookup;      // control id -> the feed's ledger entry
    this.t0 = t0;              // ms epoch the outage is timed from (set when the feed starts)
    this.hanging = new Set();
    this.log = [];             // every accepted delivery, duplicates included
  }

  state(dest, now = Date.now()) {
    if (dest !== this.outageDest || !this.outage || this.t0 == null) return 'up';
    const t = (now - this.t0) / 1000 - this.outageAt;
    if (t < 0 || t >= this.outage) return 'up';
    if (this.mode === 'fail') return 'fail';
    if (this.mode === 'hang') return 'hang';
    return t < this.outage / 2 ? 'fail' : 'hang';
  }

  start(port = 0) {
    this.server = http.createServer((req, res) => this.handle(req, res));
    this.server.keepAliveTimeout = 30000;
    return new Promise((resolve) => {
      this.server.listen(port, '127.0.0.1', () => {
        this.port = this.server.address().port;
        resolve(this.port);
      });
    });
  }

  handle(req, res) {
    const dest = req.url.replace(/^\//, '');
    const st = this.dests.get(dest);
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => setTimeout(() => {
      if (!st || req.method !== 'POST') { res.writeHead(404).end(); return; }
      const state = this.state(dest);
      if (state === 'fail') {
        st.refused++;
        res.writeHead(503, { 'content-type': 'text/plain', 'retry-after': '1' }).end('EHR interface engine unavailable\n');
        return;
      }
      if (state === 'hang') {
        st.hung++;
        this.hanging.add(res);
        res.on('close', () => this.hanging.delete(res));
        return;  // never answered, never received
      }
      let body;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch (e) {
        res.writeHead(400).end(`bad JSON: ${e.message}\n`);
        return;
      }
      this.receive(dest, st, req.headers, body);
      res.writeHead(200, { 'content-type': 'application/fhir+json' })
        .end('{"resourceType":"OperationOutcome","issue":[{"severity":"information","code":"informational"}]}');
    }, Math.random() * 2 * this.workMs));
  }

  receive(dest, st, h, bundle) {
    const now = Date.now();
    const id = h['x-fqs-id'];
    const seq = Number(h['x-fqs-seq']);
    const key = decodeURIComponent(h['x-fqs-key'] || '');
    const ctl = decodeURIComponent(h['x-control-id'] || '');
    st.count++;
    const attempt = Number(h['x-fqs-attempt'] || 1);
    this.log.push({ dest, id: Number(id), key, seq, ctl, attempt, at: now });
    st.first ??= now;
    st.last = now;
    if (st.ids.has(id)) {
      st.duplicates.push({ id, ctl, key, seq, attempt });
      return;
    }
    st.ids.add(id);
    st.unique++;
    if (attempt > 1) st.laterAttempt++;
    st.maxAttempt = Math.max(st.maxAttempt, attempt);
    let k = st.keys.get(key);
    if (!k) st.keys.set(key, k = { last: 0, ctls: [] });
    if (seq !== k.last + 1) st.reorders.push({ key, ctl, seq, expected: k.last + 1 });
    k.last = Math.max(k.last, seq);
    k.ctls.push(ctl);
    const e = this.lookup(ctl);
    if (!e) { st.mismatches.push({ ctl, why: 'not in the ledger' }); return; }
    st.lags.push(now - e.firstSent);
    // what the Bundle says, against what the feed wrote before escaping
    const res = Object.fromEntries((bundle.entry || []).map((x) => [x.resource?.resourceType, x.resource]));
    const family = res.Patient?.name?.[0]?.family;
    const note = (res.Encounter?.extension || []).find((x) => x.url === 'urn:fqs:example:hl7v2-nte')?.valueString ?? '';
    const event = res.MessageHeader?.eventCoding?.code;
    if (family !== e.expect.family || note !== e.expect.note || event !== e.event || key !== e.key
        || bundle.identifier?.value !== ctl) {
      st.mismatches.push({ ctl, got: { family, note, event, key }, want: { ...e.expect, event: e.event, key: e.key } });
    }
  }

  async stop() {
    for (const res of this.hanging) res.destroy();
    this.server.closeAllConnections?.();
    await new Promise((r) => this.server.close(() => r()));
  }
}

module.exports = { Sink };
