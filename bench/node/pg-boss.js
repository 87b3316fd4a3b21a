// pg-boss through its own library (bench/peers.sh).  One queue 'bench'
// (policy standard), a fresh pgboss schema every run; no maintenance or
// scheduling while measuring (supervise and schedule off).
//   enqueue: C loops of boss.send (batch 1) or boss.insert of 100 jobs
//   drain:   N jobs inserted (not timed), then C loops of
//            boss.fetch(queue, { batchSize: B }) + boss.complete(queue, ids)
//            until a fetch comes back empty or the cap is reached.
// boss.work() is not used: it waits its polling interval (0.5 s at least)
// after each fetch, which would measure the interval, not the queue.
'use strict';
const PgBoss = require('pg-boss');
const { Client } = require('pg');
const { options, connectionString, body, ms, loops, report } = require('./common');

const o = options();
const Q = 'bench';

async function main() {
  const admin = new Client({ connectionString: connectionString() });
  await admin.connect();
  await admin.query('DROP SCHEMA IF EXISTS pgboss CASCADE');
  const boss = new PgBoss({ connectionString: connectionString(), max: o.clients, supervise: false, schedule: false });
  boss.on('error', (e) => console.error('pg-boss:', e.message));
  await boss.start();
  await boss.createQueue(Q, { policy: 'standard' });
  const key = () => Math.floor(Math.random() * o.keys);
  try {
    if (o.mode === 'enqueue') {
      const r = await loops(o.clients, o.seconds, async () => {
        if (o.batch === 1) { await boss.send(Q, body(key(), 0)); return 1; }
        await boss.insert(Array.from({ length: o.batch }, () => ({ name: Q, data: body(key(), 0) })));
        return o.batch;
      });
      report(r.rate, `${r.msgs} jobs in ${r.secs.toFixed(1)} s, ${o.clients} clients, ${o.batch === 1 ? 'send' : `insert of ${o.batch}`}`);
    } else {
      await admin.query('SET synchronous_commit = off');
      for (let i = 0; i < o.n; i += 5000) {
        const jobs = [];
        for (let j = i; j < Math.min(i + 5000, o.n); j++) jobs.push({ name: Q, data: body(j % o.keys, j) });
        await boss.insert(jobs);
      }
      await admin.query('VACUUM ANALYZE pgboss.job');
      await admin.query('CHECKPOINT');
      const t0 = ms();
      const stop = t0 + o.cap * 1000;
      let done = 0;
      let capped = false;
      await Promise.all(Array.from({ length: o.clients }, async () => {
        for (;;) {
          if (ms() >= stop) { capped = true; return; }
          const jobs = await boss.fetch(Q, { batchSize: o.batch });
          if (!jobs || jobs.length === 0) return;
          await boss.complete(Q, jobs.map((j) => j.id));
          done += jobs.length;
        }
      }));
      const secs = (ms() - t0) / 1000;
      report(done / secs, `${done} of ${o.n} jobs in ${secs.toFixed(1)} s, ${o.clients} clients${capped ? ', time cap reached' : ''}`);
    }
  } finally {
    await boss.stop({ graceful: false, wait: true });
    await admin.end();
  }
}
main().then(() => process.exit(0), (e) => { console.error(e); process.exit(1); });
