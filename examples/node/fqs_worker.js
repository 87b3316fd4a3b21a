#!/usr/bin/env node
// An fqs worker in Node.js (the `pg` package; `npm ci` in this folder).
//
//   node fqs_worker.js --stage concurrent QUEUE [options]  translate, in parallel
//   node fqs_worker.js --stage sequential QUEUE [options]  deliver, in order per key
//
// Options: --dsn CONNSTRING (else the PG* environment), --batch N (10),
// --lease S (2), --wait S (1), --retry-after S (0.2), --slow S (3),
// --sink TABLE (example_sink).
//
// The same worker as examples/python/fqs_worker.py: the concurrent stage
// claims batches with a server-side wait, acknowledges each batch with one
// array fqs_commit (one by one if a lease was lost), hands failures back with
// fqs_fail, and keeps the batch's leases alive from a heartbeat timer on a
// connection of its own; the sequential stage claims runs per key and inserts
// each run into the sink and completes it in one transaction.  SIGTERM or
// SIGINT: finish what is held, exit 0.  Values always travel as parameters;
// the sink's name is quoted with escapeIdentifier.
'use strict';

const { Client } = require('pg');

const opts = {
  stage: null, queue: null, dsn: undefined, batch: 10, lease: 2, wait: 1,
  retryAfter: 0.2, slow: 3, sink: 'example_sink',
};
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  if (!a.startsWith('--')) { opts.queue = a; continue; }
  const v = argv[++i];
  switch (a) {
    case '--stage': opts.stage = v; break;
    case '--dsn': opts.dsn = v; break;
    case '--batch': opts.batch = parseInt(v, 10); break;
    case '--lease': opts.lease = parseFloat(v); break;
    case '--wait': opts.wait = parseFloat(v); break;
    case '--retry-after': opts.retryAfter = parseFloat(v); break;
    case '--slow': opts.slow = parseFloat(v); break;
    case '--sink': opts.sink = v; break;
    default: usage();
  }
}
function usage() {
  console.error('usage: fqs_worker.js --stage concurrent|sequential QUEUE [--dsn ...] ' +
    '[--batch N] [--lease S] [--wait S] [--retry-after S] [--slow S] [--sink TABLE]');
  process.exit(2);
}
if (!opts.queue || !['concurrent', 'sequential'].includes(opts.stage)) usage();

let stop = false;
process.on('SIGTERM', () => { stop = true; });
process.on('SIGINT', () => { stop = true; });

const sleep = (s) => new Promise((r) => setTimeout(r, s * 1000));

function connect() {
  // a libpq key=value string is not a URL: hand it to pg as its parts
  const cfg = {};
  if (opts.dsn) {
    for (const m of opts.dsn.matchAll(/(\w+)\s*=\s*('(?:[^'\\]|\\.)*'|\S+)/g)) {
      let v = m[2];
      if (v.startsWith("'")) v = v.slice(1, -1).replace(/\\(.)/g, '$1');
      const k = { dbname: 'database', host: 'host', port: 'port', user: 'user', password: 'password' }[m[1]];
      if (k) cfg[k] = k === 'port' ? parseInt(v, 10) : v;
    }
  }
  return new Client(cfg);
}

async function translate(payload, attempt) {
  if (payload.includes('fail-once') && attempt === 1) {
    throw new Error('translation failed on the first attempt');
  }
  if (payload.includes('slow')) await sleep(opts.slow);
  return JSON.stringify({ translated: payload.toUpperCase() });
}

async function commit(db, ids, receipts, results) {
  try {
    await db.query('SELECT fqs_commit($1::bigint[], $2::bigint[], $3::text[])',
      [ids, receipts, results]);
    return;
  } catch (e) {
    if (e.code !== '55000') throw e;
  }
  // a lease of the batch was lost (55000): the others still count
  for (let i = 0; i < ids.length; i++) {
    try {
      await db.query('SELECT fqs_commit($1::bigint, $2::bigint, $3::text)',
        [ids[i], receipts[i], results[i]]);
    } catch (e) {
      if (e.code !== '55000') throw e;
      console.error(`commit of ${ids[i]} refused: ${e.message}`);
    }
  }
}

async function concurrentStage() {
  const db = connect();
  const beatDb = connect();
  await db.connect();
  await beatDb.connect();
  let held = [];
  let beating = Promise.resolve();
  // the heartbeat: extend every held lease each lease / 3 seconds
  const timer = setInterval(() => {
    beating = beating.then(async () => {
      for (const [id, receipt] of held) {
        try {
          await beatDb.query(
            "SELECT fqs_extend_lease($1::bigint, $2::bigint, $3::float8 * interval '1 second')",
            [id, receipt, opts.lease]);
        } catch (e) {
          console.error(`heartbeat: ${e.code} ${e.message}`);
        }
      }
    });
  }, (opts.lease / 3) * 1000);

  while (!stop) {
    const { rows } = await db.query(
      'SELECT id, receipt, payload, attempt FROM fqs_claim($1, $2::int, ' +
      "lease => $3::float8 * interval '1 second', wait => $4::float8 * interval '1 second')",
      [opts.queue, opts.batch, opts.lease, opts.wait]);
    held = rows.map((r) => [r.id, r.receipt]);
    const ids = []; const receipts = []; const results = [];
    for (const r of rows) {
      try {
        results.push(await translate(r.payload, r.attempt));
        ids.push(r.id);
        receipts.push(r.receipt);
      } catch (e) {
        held = held.filter(([id]) => id !== r.id);
        await beating;  // no heartbeat for it once it is failed
        await db.query(
          "SELECT fqs_fail($1::bigint, $2::bigint, $3::text, retry_after => $4::float8 * interval '1 second')",
          [r.id, r.receipt, e.message, opts.retryAfter]);
      }
    }
    // before the commit: no heartbeat for finished messages
    held = [];
    await beating;
    if (ids.length > 0) await commit(db, ids, receipts, results);
  }
  clearInterval(timer);
  await beating;
  await beatDb.end();
  await db.end();
}

async function sequentialStage() {
  const db = connect();
  await db.connect();
  const insert = `INSERT INTO ${db.escapeIdentifier(opts.sink)} (fifo_key, seq, id, result) ` +
    'VALUES ($1, $2, $3, $4)';
  while (!stop) {
    const { rows } = await db.query(
      'SELECT id, receipt, fifo_key, seq, payload FROM fqs_claim_sequential($1, $2::int, ' +
      "lease => $3::float8 * interval '1 second', wait => $4::float8 * interval '1 second') " +
      'ORDER BY fifo_key, seq',
      [opts.queue, opts.batch, opts.lease, opts.wait]);
    const runs = new Map();
    for (const r of rows) {
      if (!runs.has(r.fifo_key)) runs.set(r.fifo_key, []);
      runs.get(r.fifo_key).push(r);
    }
    for (const run of runs.values()) {
      try {
        // deliver and complete in one transaction
        await db.query('BEGIN');
        for (const r of run) await db.query(insert, [r.fifo_key, r.seq, r.id, r.payload]);
        await db.query('SELECT fqs_complete($1::bigint[], $2::bigint[])',
          [run.map((r) => r.id), run.map((r) => r.receipt)]);
        await db.query('COMMIT');
      } catch (e) {
        // nothing of the run was delivered: its head goes back
        await db.query('ROLLBACK');
        await db.query(
          "SELECT fqs_fail($1::bigint, $2::bigint, $3::text, retry_after => $4::float8 * interval '1 second')",
          [run[0].id, run[0].receipt, e.message, opts.retryAfter]);
      }
    }
  }
  await db.end();
}

(opts.stage === 'concurrent' ? concurrentStage() : sequentialStage())
  .then(() => process.exit(0))
  .catch((e) => { console.error(e); process.exit(1); });
