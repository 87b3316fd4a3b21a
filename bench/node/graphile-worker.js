// graphile-worker through its own library (bench/peers.sh).  Task 'bench'
// does nothing; every job goes to the job queue 'k<key>', which
// graphile-worker runs one job at a time: per-key serial, like a FIFO key.
//   enqueue: C loops of addJob (batch 1) or addJobs of 100 jobs
//   drain:   N jobs added (not timed), then one runner with concurrentJobs
//            C (pool C + 1: one connection listens) until the jobs table is
//            empty or the cap is reached.  Batch B > 1: the runner's local
//            queue fetches B jobs per query (localQueue.size = B) and
//            completions are batched (completeJobBatchDelay 0).
'use strict';
const { run, makeWorkerUtils, Logger } = require('graphile-worker');
const { Pool } = require('pg');
const { options, connectionString, body, ms, sleep, loops, report } = require('./common');

const o = options();
const quiet = new Logger(() => (level, message) => {
  if (level === 'error') console.error(`graphile-worker: ${message}`);
});

async function main() {
  const pool = new Pool({ connectionString: connectionString(), max: o.clients + 1 });
  pool.on('error', (e) => console.error('pool:', e.message));
  const utils = await makeWorkerUtils({ pgPool: pool, logger: quiet });
  await utils.migrate();
  await pool.query('TRUNCATE graphile_worker._private_jobs, graphile_worker._private_job_queues CASCADE');
  const key = () => Math.floor(Math.random() * o.keys);
  let deadlocks = 0;
  try {
    if (o.mode === 'enqueue') {
      const r = await loops(o.clients, o.seconds, async () => {
        if (o.batch === 1) {
          const k = key();
          await utils.addJob('bench', body(k, 0), { queueName: `k${k}` });
          return 1;
        }
        // concurrent addJobs of jobs in many job queues deadlock now and
        // then (add_jobs inserts the queues' rows in hash order), so the
        // batch is retried, as an application would; counted in the result
        const specs = Array.from({ length: o.batch }, () => {
          const k = key();
          return { identifier: 'bench', payload: body(k, 0), queueName: `k${k}` };
        });
        for (;;) {
          try { await utils.addJobs(specs); break; } catch (e) {
            if (e.code !== '40P01') throw e;
            deadlocks++;
          }
        }
        return o.batch;
      });
      report(r.rate, `${r.msgs} jobs in ${r.secs.toFixed(1)} s, ${o.clients} clients, ${o.batch === 1 ? 'addJob' : `addJobs of ${o.batch}, ${deadlocks} deadlocks retried`}`);
    } else {
      for (let i = 0; i < o.n; i += 5000) {   // not timed; 5,000 jobs per call
        const specs = [];
        for (let j = i; j < Math.min(i + 5000, o.n); j++) {
          specs.push({ identifier: 'bench', payload: body(j % o.keys, j), queueName: `k${j % o.keys}` });
        }
        await utils.addJobs(specs);
      }
      await pool.query('VACUUM ANALYZE graphile_worker._private_jobs, graphile_worker._private_job_queues');
      await pool.query('CHECKPOINT');
      let handled = 0;
      const worker = { connectionString: connectionString(), concurrentJobs: o.clients, maxPoolSize: o.clients + 1, pollInterval: 1000 };
      if (o.batch > 1) { worker.localQueue = { size: o.batch }; worker.completeJobBatchDelay = 0; }
      const t0 = ms();
      const stop = t0 + o.cap * 1000;
      const runner = await run({ noHandleSignals: true, logger: quiet, preset: { worker }, taskList: { bench: async () => { handled++; } } });
      let left = o.n;
      while (ms() < stop) {
        await sleep(25);
        if (handled < o.n) continue;
        left = Number((await pool.query('SELECT count(*) FROM graphile_worker._private_jobs')).rows[0].count);
        if (left === 0) break;
      }
      if (left !== 0) left = Number((await pool.query('SELECT count(*) FROM graphile_worker._private_jobs')).rows[0].count);
      const secs = (ms() - t0) / 1000;
      await runner.stop();
      const done = o.n - left;   // a completed job is deleted
      report(done / secs, `${done} of ${o.n} jobs in ${secs.toFixed(1)} s, concurrentJobs ${o.clients}${o.batch > 1 ? `, localQueue.size ${o.batch}` : ''}${left ? ', time cap reached' : ''}`);
    }
  } finally {
    await utils.release();
    await pool.end();
  }
}
main().then(() => process.exit(0), (e) => { console.error(e); process.exit(1); });
