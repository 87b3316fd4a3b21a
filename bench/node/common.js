// Shared by the npm-peer drivers of bench/peers.sh.
//   node <driver>.js enqueue --batch 1|100 --clients C --seconds T --keys K
//   node <driver>.js drain --batch B --clients C --n N --keys K --cap SECONDS
// The cluster is reached through PGHOST (socket directory), PGPORT, PGUSER
// and the database in PEERS_DB.  The driver prints one line
//   RESULT <msgs per second>\t<what happened>
// and exits 0, or exits non-zero with the error on stderr.
'use strict';

function options() {
  const o = { mode: process.argv[2], batch: 1, clients: 8, seconds: 10, keys: 100, n: 100000, cap: 30 };
  for (let i = 3; i < process.argv.length; i += 2) {
    const name = process.argv[i].replace(/^--/, '');
    if (!(name in o)) throw new Error(`unknown option ${process.argv[i]}`);
    o[name] = Number(process.argv[i + 1]);
  }
  if (o.mode !== 'enqueue' && o.mode !== 'drain') throw new Error('mode must be enqueue or drain');
  return o;
}

function connectionString() {
  const host = encodeURIComponent(process.env.PGHOST || '/tmp');
  return `postgres://${process.env.PGUSER || 'postgres'}@${host}:${process.env.PGPORT || 5432}/${process.env.PEERS_DB}`;
}

// the same ~190-byte message body as the SQL peers
function body(key, seq) {
  return { k: key, seq, data: 'x'.repeat(160) };
}

const ms = () => Number(process.hrtime.bigint()) / 1e6;
const sleep = (t) => new Promise((r) => setTimeout(r, t));

// C loops calling step(client) until T seconds are over; step returns the
// number of messages it handled.  Returns messages per second.
async function loops(clients, seconds, step) {
  const t0 = ms();
  const end = t0 + seconds * 1000;
  let msgs = 0;
  let calls = 0;
  await Promise.all(Array.from({ length: clients }, async (_, c) => {
    while (ms() < end) {
      const n = await step(c);   // not `msgs += await ...`: that reads msgs before the await
      msgs += n;
      calls++;
    }
  }));
  const secs = (ms() - t0) / 1000;
  return { msgs, calls, secs, rate: msgs / secs };
}

function report(rate, detail) {
  console.log(`RESULT ${Math.round(rate)}\t${detail}`);
}

module.exports = { options, connectionString, body, ms, sleep, loops, report };
