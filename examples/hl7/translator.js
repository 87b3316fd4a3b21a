// The concurrent stage: translators claim messages of every destination
// queue with fqs_claim_any (a server-side wait instead of polling), parse
// each HL7 message into a FHIR-shaped Bundle, and hand the batch back with
// one array fqs_commit; the Bundle is the result the sequential stage sends.
// A message no translation can fix is failed (fqs retries it, then it goes
// dead and blocks only its own patient).  If a lease of the batch was lost,
// the others are committed one by one.
'use strict';

const { adtToFhir } = require('./hl7');

class Translator {
  constructor({ connect, queues, batch = 20, lease = 10, wait = 1, name = 'translator', workMs = 0 }) {
    this.workMs = workMs;  // lookups a real translator waits for (MPI, terminology): 0..2x this, at random
    this.committedAt = []; // [queue, key, seq, ms]: to count commits that overtook an earlier seq
    this.connect = connect;
    this.queues = queues;
    this.batch = batch;
    this.lease = lease;
    this.wait = wait;
    this.name = name;
    this.stop = false;
    this.stats = { claimed: 0, committed: 0, failed: 0, refused: 0 };
  }

  async run() {
    const db = this.connect();
    await db.connect();
    try {
      while (!this.stop) {
        const { rows } = await db.query(
          'SELECT id, receipt, fifo_key, seq, payload, headers, attempt FROM fqs_claim_any($1::text[], $2::int, ' +
          "lease => $3::float8 * interval '1 second', wait => $4::float8 * interval '1 second')",
          [this.queues, this.batch, this.lease, this.wait]);
        if (rows.length === 0) continue;
        this.stats.claimed += rows.length;
        // the batch's messages are worked on at the same time
        const done = await Promise.all(rows.map(async (r) => {
          try {
            const bundle = adtToFhir(r.payload);
            if (this.workMs) await new Promise((res) => setTimeout(res, Math.random() * 2 * this.workMs));
            return { r, result: JSON.stringify(bundle) };
          } catch (e) {
            return { r, error: e };
          }
        }));
        const ok = { ids: [], receipts: [], results: [] };
        for (const { r, result, error } of done) {
          if (error) {
            this.stats.failed++;
            await db.query(
              "SELECT fqs_fail($1::bigint, $2::bigint, $3, retry_after => interval '1 second')",
              [r.id, r.receipt, `translation: ${error.message}`]);
            continue;
          }
          ok.ids.push(r.id);
          ok.receipts.push(r.receipt);
          ok.results.push(result);
        }
        if (ok.ids.length) {
          await this.commit(db, ok);
          const now = Date.now();
          for (const { r, error } of done) {
            if (!error) this.committedAt.push([r.headers?.dest, r.fifo_key, Number(r.seq), now]);
          }
        }
      }
    } finally {
      await db.end();
    }
  }

  async commit(db, { ids, receipts, results }) {
    try {
      await db.query('SELECT fqs_commit($1::bigint[], $2::bigint[], $3::text[])', [ids, receipts, results]);
      this.stats.committed += ids.length;
      return;
    } catch (e) {
      if (e.code !== '55000') throw e;
    }
    for (let i = 0; i < ids.length; i++) {
      try {
        await db.query('SELECT fqs_commit($1::bigint, $2::bigint, $3)', [ids[i], receipts[i], results[i]]);
        this.stats.committed++;
      } catch (e) {
        if (e.code !== '55000') throw e;
        this.stats.refused++;  // its lease ran out; another translator has it
      }
    }
  }
}

module.exports = { Translator };
