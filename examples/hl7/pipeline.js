#!/usr/bin/env node
// An HL7 v2 ADT pipeline through fqs, end to end, in one process:
//
//   feed (Hl7Client, MLLP) -> ingress (MLLP listener, fqs_enqueue, ACK after COMMIT)
//     -> queues hl7_ehr and hl7_billing (one transaction, fifo_key = PID-3, dedup_id = MSH-10)
//     -> translators (fqs_claim_any, HL7 -> FHIR Bundle, fqs_commit)
//     -> senders per queue (fqs_claim_sequential, POST in order per patient,
//        fqs_complete after the 2xx, fqs_fail otherwise)
//     -> sink (HTTP: /ehr, /billing; checks order, duplicates and content)
//
//   node pipeline.js --dsn CONNSTRING [--patients N] [--rate MSG/S] [--duration S]
//                    [--outage S] [--outage-at S] [--outage-mode fail|hang|both] ...
//
// --outage takes the EHR down for that many seconds (503s, then hanging:
// see sink.js); the billing destination stays up.  fqs_queues is printed
// while it runs, a summary at the end.  The exit status is 0 only when every
// check passed: no reorders, nothing missing, no unexplained duplicate, every
// good message acknowledged AA and every malformed one AE, every Bundle
// faithful to its message, nothing dead or left in the queues.  Run with
// --help for every option.
'use strict';

const fs = require('node:fs');
const path = require('node:path');
const { Client, Pool } = require('pg');
const { Feed } = require('./feed');
const { Ingress } = require('./ingress');
const { Translator } = require('./translator');
const { Sender } = require('./sender');
const { Sink } = require('./sink');

const OPTIONS = {
  dsn: [null, 'libpq key=value string or postgres:// URL (else the PG* environment)'],
  patients: [50, 'patients (each bound to one facility)'],
  rate: [40, 'messages per second the feed offers'],
  duration: [20, 'seconds the feed sends for (rate x duration messages)'],
  outage: [0, 'seconds the EHR destination is down (0: no outage)'],
  'outage-at': [null, 'seconds into the feed the outage starts (default: 20% of --duration)'],
  'outage-mode': ['both', 'fail (503), hang (no answer), or both (first half 503, then hanging)'],
  facilities: [3, 'sending facilities (1..4)'],
  'conns-per-facility': [2, 'MLLP connections per facility'],
  translators: [4, 'concurrent-stage workers'],
  'translate-ms': [10, 'mean lookup time per message in the concurrent stage, ms (0..2x, at random)'],
  senders: [3, 'sequential-stage lanes per destination queue'],
  'sink-ms': [2, 'mean time the sink takes per message, ms (0..2x, at random)'],
  'max-ready': [60, 'max_ready of the queues (the holding pen threshold)'],
  lease: [2, 'lease of a sequential claim, seconds'],
  'send-timeout': [3, 'seconds a sender waits for the destination'],
  'failure-threshold': [3, 'failures in a row that open a queue\'s failure breaker'],
  'failure-cooldown': [0.5, 'failure breaker cooldown, seconds (doubles while it stays down)'],
  'max-attempts': [25, 'deliveries before a message goes dead'],
  'resend-rate': [0.02, 'share of messages the feed sends twice with the same MSH-10'],
  'bad-rate': [0.005, 'share of malformed messages (no PID-3), to be answered AE'],
  'drain-timeout': [90, 'seconds to wait after the feed for the queues to drain'],
  'status-every': [1, 'seconds between two fqs_queues lines'],
  'queue-prefix': ['hl7_', 'prefix of the queue names (the queues are dropped and made anew)'],
  'log-dir': [null, 'write summary.json, feed.jsonl and deliveries.jsonl here'],
  seed: [1, 'seed of the traffic generator'],
  break: [null, 'fault injection, to prove the checks: complete-first, misorder, no-dedup'],
};

function parseArgs(argv) {
  const o = {};
  for (const [k, [v]] of Object.entries(OPTIONS)) o[k] = v;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--help' || a === '-h') usage(0);
    const name = a.replace(/^--/, '');
    if (!a.startsWith('--') || !(name in OPTIONS) || i + 1 >= argv.length) usage(2, `bad argument ${a}`);
    const v = argv[++i];
    const def = OPTIONS[name][0];
    o[name] = typeof def === 'number' || (def === null && /^\d+(\.\d+)?$/.test(v)) ? Number(v) : v;
    if (typeof def === 'number' && !Number.isFinite(o[name])) usage(2, `--${name} wants a number`);
  }
  if (o['outage-at'] === null) o['outage-at'] = Math.round(o.duration * 0.2 * 10) / 10;
  if (!['fail', 'hang', 'both'].includes(o['outage-mode'])) usage(2, 'bad --outage-mode');
  if (o.break && !['complete-first', 'misorder', 'no-dedup'].includes(o.break)) usage(2, 'bad --break');
  if (o.facilities < 1 || o.facilities > 4) usage(2, '--facilities is 1..4');
  return o;
}

function usage(code, msg) {
  if (msg) console.error(msg);
  const out = code ? console.error : console.log;
  out('usage: node pipeline.js [--option value] ...');
  for (const [k, [v, d]] of Object.entries(OPTIONS)) out(`  --${k.padEnd(20)} ${d}${v !== null ? ` (${v})` : ''}`);
  process.exit(code);
}

// a libpq key=value string is not a URL: hand it to pg as its parts
function pgConfig(dsn) {
  if (!dsn) return {};
  if (/^postgres(ql)?:\/\//.test(dsn)) return { connectionString: dsn };
  const cfg = {};
  const names = { dbname: 'database', host: 'host', port: 'port', user: 'user', password: 'password' };
  for (const m of dsn.matchAll(/(\w+)\s*=\s*('(?:[^'\\]|\\.)*'|\S+)/g)) {
    let v = m[2];
    if (v.startsWith("'")) v = v.slice(1, -1).replace(/\\(.)/g, '$1');
    const k = names[m[1]];
    if (k) cfg[k] = k === 'port' ? parseInt(v, 10) : v;
  }
  return cfg;
}

function pct(a, p) {
  if (!a.length) return NaN;
  const s = [...a].sort((x, y) => x - y);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}
// the most deliveries in any one second
function peak(times) {
  let best = 0;
  for (let i = 0, j = 0; j < times.length; j++) {
    while (times[j] - times[i] >= 1000) i++;
    best = Math.max(best, j - i + 1);
  }
  return best;
}
const ms = (v) => (Number.isFinite(v) ? (v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : v.toFixed(0)) : '-');
const sec = (v) => (Number.isFinite(v) ? (v / 1000).toFixed(2) : '-');

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const cfg = pgConfig(o.dsn);
  const fatal = [];
  // a connection lost while idle is an 'error' event, not a rejected query
  const lost = (e) => { fatal.push(`connection lost: ${e.message}`); console.error(`connection lost: ${e.message}`); };
  const connect = () => {
    const c = new Client({ ...cfg, application_name: 'hl7 pipeline' });
    c.on('error', lost);
    return c;
  };
  const qEhr = `${o['queue-prefix']}ehr`;
  const qBilling = `${o['queue-prefix']}billing`;
  const queues = [qEhr, qBilling];
  const dest = { [qEhr]: 'ehr', [qBilling]: 'billing' };

  // -- the queues, made anew
  const admin = connect();
  await admin.connect();
  await admin.query('CREATE EXTENSION IF NOT EXISTS fqs');
  for (const q of queues) {
    await admin.query('SELECT fqs_drop_queue(queue, force => true) FROM fqs_queues WHERE queue = $1', [q]);
    await admin.query(
      "SELECT fqs_create_queue($1, max_ready => $2, lease => '30 s', max_attempts => $3, " +
      "failure_threshold => $4, failure_cooldown => $5::float8 * interval '1 second')",
      [q, o['max-ready'], o['max-attempts'], o['failure-threshold'], o['failure-cooldown']]);
  }
  const { rows: [w] } = await admin.query('SELECT count(*) FILTER (WHERE has_extension) AS n FROM fqs_workers()');
  if (Number(w.n) === 0) console.log('note: no fqs background worker here (not preloaded?): no holding pen, no failure breaker');

  // -- the parts
  const runTag = Date.now().toString(36).slice(-4).toUpperCase();
  const feed = new Feed({ host: '127.0.0.1', port: 0, patients: o.patients, rate: o.rate, duration: o.duration,
    facilities: o.facilities, connsPerFacility: o['conns-per-facility'], resendRate: o['resend-rate'],
    badRate: o['bad-rate'], seed: o.seed, ackTimeout: 10000, runTag });
  const sink = new Sink({ dests: ['ehr', 'billing'], outageDest: 'ehr', outageAt: o['outage-at'], outage: o.outage,
    mode: o['outage-mode'], lookup: (ctl) => feed.ledger.get(ctl), workMs: o['sink-ms'] });
  const sinkPort = await sink.start();
  const pool = new Pool({ ...cfg, max: feed.conns.length, application_name: 'hl7 ingress' });
  pool.on('error', lost);
  const ingress = new Ingress({ pool, queues, noDedup: o.break === 'no-dedup' });
  feed.opts.port = await ingress.start();
  // the ingress's connections are opened before the first message
  const warm = await Promise.all(Array.from({ length: feed.conns.length }, () => pool.connect()));
  warm.forEach((c) => c.release());

  const guard = (name, p) => p.catch((e) => { fatal.push(`${name}: ${e.stack || e}`); console.error(`${name} died: ${e.message}`); });
  const translators = Array.from({ length: o.translators }, (_, i) =>
    new Translator({ connect, queues, name: `translator ${i + 1}`, workMs: o['translate-ms'] }));
  const senders = [];
  for (const q of queues) {
    for (let i = 0; i < o.senders; i++) {
      senders.push(new Sender({ connect, queue: q, url: `http://127.0.0.1:${sinkPort}/${dest[q]}`,
        lease: o.lease, timeout: o['send-timeout'], name: `sender ${q} ${i + 1}`, breakMode: o.break }));
    }
  }
  const events = [];
  for (const x of senders) x.onEvent = (text) => events.push(text);
  const running = [...translators, ...senders].map((x) => guard(x.name, x.run()));

  console.log(`== HL7 pipeline: ${o.patients} patients at ${o.facilities} facilities, ${o.rate} msg/s for ${o.duration} s` +
    ` over MLLP (port ${feed.opts.port}); ${o.translators} translators; ${o.senders} sender lanes per queue;` +
    ` sink http://127.0.0.1:${sinkPort}`);
  console.log(`   queues ${qEhr} (to /ehr) and ${qBilling} (to /billing): max_ready ${o['max-ready']},` +
    ` failure_threshold ${o['failure-threshold']}, cooldown ${o['failure-cooldown']} s, lease ${o.lease} s`);
  if (o.outage) {
    console.log(`   the EHR is down from ${o['outage-at']} s to ${o['outage-at'] + o.outage} s` +
      ` (${o['outage-mode'] === 'both' ? '503 first, then hanging' : o['outage-mode']})`);
  }
  if (o.break) console.log(`   BROKEN ON PURPOSE: --break ${o.break}`);

  // -- fqs_queues while it runs
  const mon = connect();
  await mon.connect();
  const t0 = Date.now();
  const watch = Object.fromEntries(queues.map((q) => [q, { maxPen: 0, maxReady: 0, penFrom: null, penDrained: null,
    failureOpens: 0, sawOpen: false }]));
  let lastState = 'up';
  const status = async () => {
    const { rows } = await mon.query(
      'SELECT queue, pen, ready, delayed, claimed, processed, sequencing, dead, done_total, breaker_open, ' +
      'failure_state, consecutive_failures, failure_opens FROM fqs_queues WHERE queue = ANY($1) ORDER BY queue DESC',
      [queues]);
    const t = ((Date.now() - t0) / 1000).toFixed(1).padStart(5);
    const ehrState = sink.state('ehr');
    if (ehrState !== lastState) {
      console.log(`  ${t}s  -- the EHR ${ehrState === 'up' ? 'is back' : ehrState === 'fail' ? 'answers 503' : 'hangs'}`);
      lastState = ehrState;
    }
    const shown = events.splice(0, 3);
    for (const e of shown) console.log(`  ${t}s  ! ${e}`);
    if (events.length) console.log(`  ${t}s  ! (and ${events.splice(0).length} more like these)`);
    for (const r of rows) {
      const wq = watch[r.queue];
      wq.maxPen = Math.max(wq.maxPen, Number(r.pen));
      wq.maxReady = Math.max(wq.maxReady, Number(r.ready));
      if (Number(r.pen) > 0 && wq.penFrom === null) wq.penFrom = Date.now() - t0;
      if (Number(r.pen) === 0 && wq.penFrom !== null && wq.penDrained === null) wq.penDrained = Date.now() - t0;
      if (Number(r.pen) > 0) wq.penDrained = null;
      wq.failureOpens = Number(r.failure_opens ?? 0);
      const d = dest[r.queue];
      const n = (v, wd = 4) => String(v).padStart(wd);
      console.log(`  ${t}s  ${r.queue.padEnd(12)} ${(d === 'ehr' ? ehrState : 'up').padEnd(4)}` +
        ` pen${n(r.pen)} ready${n(r.ready, 3)} delayed${n(r.delayed, 3)} claimed${n(r.claimed, 3)}` +
        ` processed${n(r.processed)} sequencing${n(r.sequencing, 3)} dead${n(r.dead, 2)} done${n(r.done_total, 5)}` +
        ` | depth breaker ${r.breaker_open ? 'open  ' : 'closed'} failure ${(r.failure_state ?? '-').padEnd(9)}` +
        ` (${r.consecutive_failures ?? 0} in a row, opened ${r.failure_opens ?? 0}x)`);
    }
  };
  let statusBusy = false;
  const statusTimer = setInterval(() => {
    if (statusBusy) return;
    statusBusy = true;
    status().catch((e) => console.error(`status: ${e.message}`)).finally(() => { statusBusy = false; });
  }, o['status-every'] * 1000);

  // -- the feed, then the drain
  sink.t0 = Date.now();
  await guard('feed', feed.run());
  const feedEnd = Date.now();
  const expected = [...feed.ledger.entries()].filter(([, e]) => !e.bad && e.code === 'AA');
  const drainDeadline = Date.now() + o['drain-timeout'] * 1000;
  let drained = false;
  while (Date.now() < drainDeadline && fatal.length === 0) {
    const { rows: [r] } = await mon.query(
      'SELECT coalesce(sum(pen + ready + delayed + claimed + processed + sequencing), 0) AS left, ' +
      'coalesce(sum(dead), 0) AS dead FROM fqs_queues WHERE queue = ANY($1)', [queues]);
    if (Number(r.left) === 0) { drained = true; break; }
    if (Number(r.left) === Number(r.dead) && Number(r.dead) > 0) break;
    await new Promise((res) => setTimeout(res, 200));
  }
  const drainEnd = Date.now();
  clearInterval(statusTimer);
  while (statusBusy) await new Promise((res) => setTimeout(res, 20));
  await status();

  for (const x of [...translators, ...senders]) x.stop = true;
  await sink.stop();          // ends hanging requests, so senders return
  await Promise.all(running);
  await ingress.stop();
  await pool.end();

  // -- what fqs says about the run
  const ids = { ehr: [], billing: [] };
  for (const d of ['ehr', 'billing']) ids[d] = [...sink.dests.get(d).ids].map(Number);
  const { rows: fq } = await mon.query(
    'SELECT queue, pen, ready, delayed, claimed, processed, sequencing, dead, done_total, failure_opens ' +
    'FROM fqs_queues WHERE queue = ANY($1)', [queues]);
  const fqsByQueue = Object.fromEntries(fq.map((r) => [r.queue, r]));
  // fqs's word on every message the sink got: done, in this queue
  const doneInFqs = {};
  for (const q of queues) {
    const { rows: [a] } = await mon.query(
      "SELECT count(*) FILTER (WHERE s.state = 'done' AND s.queue = $2) AS done " +
      'FROM unnest($1::bigint[]) AS i(id), fqs_message_status(i.id) s', [ids[dest[q]], q]);
    doneInFqs[q] = Number(a.done);
  }
  await mon.end();
  await admin.end();

  // commits of the concurrent stage that overtook an earlier message of
  // the same patient: the sequential stage has to put them back in order
  const overtook = Object.fromEntries(queues.map((q) => [q, 0]));
  const commits = new Map();
  for (const t of translators) {
    for (const [q, key, seq, at] of t.committedAt) {
      const k = `${q}\u0000${key}`;
      if (!commits.has(k)) commits.set(k, []);
      commits.get(k).push([seq, at, q]);
    }
  }
  for (const list of commits.values()) {
    list.sort((a, b) => a[0] - b[0]);
    let latest = -Infinity;
    for (const [, at, q] of list) {
      if (at < latest) overtook[q]++;
      latest = Math.max(latest, at);
    }
  }

  // -- the checks
  const checks = [];
  const check = (ok, what) => checks.push({ ok: !!ok, what });
  const s = feed.stats;
  check(s.goodNotAa === 0, `every good message acknowledged AA (${s.goodNotAa} were not)`);
  check(s.badNotAe === 0, `every malformed message answered AE (${s.badNotAe} were not)`);
  check(fatal.length === 0, `no part of the pipeline died (${fatal.length} did)`);
  check(drained, `the queues drained within ${o['drain-timeout']} s of the feed's end`);
  const per = {};
  for (const q of queues) {
    const d = dest[q];
    const st = sink.dests.get(d);
    // against the feed: each patient's messages, in the order they were acknowledged
    let missing = 0; let orderErrors = 0;
    for (const [key, ctls] of feed.order) {
      const got = st.keys.get(key)?.ctls ?? [];
      const set = new Set(got);
      missing += ctls.filter((c) => !set.has(c)).length;
      const delivered = ctls.filter((c) => set.has(c));
      const seen = got.filter((c) => feed.ledger.has(c) && feed.ledger.get(c).code === 'AA');
      if (delivered.join() !== seen.join()) orderErrors++;
    }
    const sd = senders.filter((x) => x.queue === q).map((x) => x.stats);
    const sum = (f) => sd.reduce((a, x) => a + x[f], 0);
    const extra = st.unique - expected.length;
    per[q] = {
      dest: d, delivered: st.unique, received: st.count, expected: expected.length, missing, extra,
      reorders: st.reorders.length, patientsOutOfOrder: orderErrors, duplicates: st.duplicates.length,
      completeRefused: sum('completeRefused'), failRefused: sum('failRefused'), fails: sum('failed'),
      retries: sum('retry'), dead: sum('dead'), http503: st.refused, hung: st.hung, senderTimeouts: sum('timeouts'),
      mismatches: st.mismatches.length,
      lagP50: pct(st.lags, 50), lagP99: pct(st.lags, 99), lagMax: pct(st.lags, 100),
      throughput: st.unique / Math.max(0.001, (st.last - feed.started) / 1000),
      peakPerSecond: peak(sink.log.filter((x) => x.dest === d).map((x) => x.at)),
      overtook: overtook[q], retried: st.laterAttempt, maxAttempt: st.maxAttempt, doneInFqs: doneInFqs[q],
      fqs: fqsByQueue[q], watch: watch[q],
    };
    const p = per[q];
    check(p.missing === 0 && p.extra === 0, `${q}: every acknowledged message reached /${d} (${p.missing} missing, ${p.extra} unexpected)`);
    check(p.reorders === 0 && p.patientsOutOfOrder === 0,
      `${q}: no reordering (${p.reorders} out-of-seq arrivals, ${p.patientsOutOfOrder} patients out of ACK order)`);
    check(p.duplicates <= p.completeRefused,
      `${q}: every duplicate explained (${p.duplicates} duplicates, ${p.completeRefused} completes refused after a 2xx)`);
    check(p.mismatches === 0, `${q}: every Bundle says what its message said (${p.mismatches} mismatches)`);
    check(Number(p.fqs.dead) === 0 && Number(p.fqs.pen) === 0, `${q}: nothing dead, the pen empty (dead ${p.fqs.dead}, pen ${p.fqs.pen})`);
    check(Number(p.fqs.done_total) === expected.length && p.doneInFqs === p.delivered,
      `${q}: fqs agrees: done_total ${p.fqs.done_total} = ${expected.length} unique messages,` +
      ` fqs_message_status 'done' for ${p.doneInFqs} of the ${p.delivered} delivered`);
  }
  if (o.outage) {
    const p = per[qEhr];
    check(p.fails + p.failRefused > 0 && p.retried > 0 && Number(p.fqs.failure_opens) > 0,
      `${qEhr}: the outage caused retries (${p.fails} fqs_fail, ${p.retried} messages delivered on a later attempt,` +
      ` failure breaker opened ${p.fqs.failure_opens}x)`);
    check(Number(per[qBilling].fqs.failure_opens ?? 0) === 0 && per[qBilling].fails === 0,
      `${qBilling}: untouched by the EHR's outage (${per[qBilling].fails} fails)`);
  }

  // -- the summary
  const runSecs = (feedEnd - feed.started) / 1000;
  console.log('\n== summary');
  console.log(`messages     ${s.unique + s.bad} offered in ${runSecs.toFixed(1)} s (${s.unique} ADT for ${o.patients} patients,` +
    ` ${s.bad} malformed), ${s.resends} resent with the same MSH-10, ${s.sent} MLLP sends in all`);
  console.log(`ACKs         AA ${s.aa}, AE ${s.ae} (the malformed), other ${s.other};` +
    ` resends answered like the first: ${s.goodNotAa === 0 ? 'yes' : 'NO'}`);
  console.log(`ACK latency  p50 ${ms(pct(feed.acks, 50))} ms, p99 ${ms(pct(feed.acks, 99))} ms, max ${ms(pct(feed.acks, 100))} ms` +
    ` (send to ACK, ACK after COMMIT of both enqueues)`);
  console.log(`throughput   ingress ${(s.sent / runSecs).toFixed(1)} msg/s; drained ${sec(drainEnd - feedEnd)} s after the feed`);
  for (const q of queues) {
    const p = per[q];
    console.log(`${q.padEnd(12)} delivered ${p.delivered}/${p.expected} to /${p.dest} (${p.throughput.toFixed(1)} msg/s),` +
      ` peak ${p.peakPerSecond}/s; lag p50 ${sec(p.lagP50)} s p99 ${sec(p.lagP99)} s max ${sec(p.lagMax)} s;` +
      ` reorders ${p.reorders},` +
      ` duplicates ${p.duplicates}, missing ${p.missing}; ${p.overtook} translated before an earlier message of` +
      ' their patient');
    console.log(`${''.padEnd(12)} send failures ${p.fails} (503s ${p.http503}, sender timeouts ${p.senderTimeouts}),` +
      ` late fails refused after lease expiry ${p.failRefused}, completes refused ${p.completeRefused};` +
      ` ${p.retried} messages delivered on a later attempt (at most attempt ${p.maxAttempt});` +
      ` failure breaker opened ${p.fqs.failure_opens ?? 0}x; pen peak ${p.watch.maxPen}` +
      ` (max_ready ${o['max-ready']}, ready peak ${p.watch.maxReady})` +
      (p.watch.penFrom !== null ? `, pen from ${sec(p.watch.penFrom)} s, empty again at ${sec(p.watch.penDrained)} s` : ''));
  }
  if (per[qEhr].duplicates) {
    console.log(`duplicates   ${per[qEhr].duplicates} at /ehr: the sink answered 2xx but the lease had run out before` +
      ' fqs_complete, so fqs delivered again (at least once)');
  }
  console.log(`translation  ${per[qEhr].mismatches + per[qBilling].mismatches} Bundles differ from their message` +
    ' (names, notes with escape sequences, event, patient)');
  console.log('checks');
  for (const c of checks) console.log(`  ${c.ok ? 'ok    ' : 'FAILED'} ${c.what}`);
  const failed = checks.filter((c) => !c.ok).length;
  for (const f of fatal) console.error(f);
  if (feed.errors.length) console.log(`feed errors: ${feed.errors.slice(0, 5).join('; ')}`);
  if (ingress.errors.length) console.log(`ingress errors: ${ingress.errors.slice(0, 5).join('; ')}`);
  console.log(failed ? `== ${failed} checks FAILED` : '== all checks passed');

  if (o['log-dir']) {
    fs.mkdirSync(o['log-dir'], { recursive: true });
    const summary = {
      options: o, messages: { ...s, offered: s.unique + s.bad }, ackP50: pct(feed.acks, 50), ackP99: pct(feed.acks, 99),
      queues: per, checks, failed, fatal,
      acks: feed.acks.map((v, i) => [feed.ackTimes[i] - feed.started, Math.round(v * 100) / 100]),
    };
    fs.writeFileSync(path.join(o['log-dir'], 'summary.json'), JSON.stringify(summary, null, 1));
    fs.writeFileSync(path.join(o['log-dir'], 'feed.jsonl'), [...feed.ledger.entries()]
      .map(([ctl, e]) => JSON.stringify({ ctl, key: e.key, event: e.event, bad: e.bad, code: e.code, sends: e.sends }))
      .join('\n') + '\n');
    fs.writeFileSync(path.join(o['log-dir'], 'deliveries.jsonl'), sink.log.map((x) => JSON.stringify(x)).join('\n') + '\n');
  }
  return failed ? 1 : 0;
}

main().then((code) => process.exit(code), (e) => { console.error(e); process.exit(1); });
