// The feed: ADT traffic from a few facilities, sent over MLLP with
// @medplum/hl7's Hl7Client, one message at a time per connection (original
// mode: the next message goes out after the ACK of the last).  Each patient
// belongs to one facility and one of its connections, so the order a
// patient's messages are acknowledged in is the order the pipeline must
// deliver them in.  The ledger records that order, what each message says
// once unescaped, and the ACKs.
'use strict';

const { Hl7Client } = require('@medplum/hl7');
const { Hl7Message } = require('@medplum/core');
const { escapeText } = require('./hl7');

// mulberry32: a small seeded generator, so a run can be repeated
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6D2B79F5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const FACILITIES = [
  { code: 'GHH', app: 'EPIC', name: 'General Hospital', city: 'Springfield', state: 'IL',
    units: ['MED1', 'MED2', 'SURG', 'ICU', 'CARD'], clinics: ['FAMMED', 'ORTHO', 'ONC'] },
  { code: 'SMC', app: 'CERNER', name: 'St. Mary Medical Center', city: 'Riverton', state: 'IL',
    units: ['4WEST', '5EAST', 'MICU', 'L&D', 'PEDS'], clinics: ['CARDIO', 'WOMENS'] },
  { code: 'NCH', app: 'MEDITECH', name: 'Northside Community Hospital', city: 'Lakeview', state: 'IL',
    units: ['GENMED', 'STEPDOWN', 'ICU'], clinics: ['URGENT', 'PT'] },
  { code: 'WVC', app: 'ATHENA', name: 'West Valley Clinic', city: 'Fairmont', state: 'IL',
    units: ['OBS'], clinics: ['PRIMARY', 'DERM', 'PEDS'] },
];
// some family names carry delimiters (a clerk's ampersand, an apostrophe)
// or letters beyond ASCII: the escape sequences and UTF-8 must survive
const FAMILY = ['Smith', 'Johnson', 'Garcia', 'Nguyen', 'Okafor', 'Kowalski', 'Haddad', 'Müller',
  'O\'Brien', 'Fernández', 'Smith&Jones', 'Lee', 'Patel', 'Brown', 'Novak', 'Dubois-Martin',
  'Rossi', 'Kim', 'Andersen', 'Wright&Sons', 'Ito', 'Mbeki', 'Silva', 'Cohen'];
const GIVEN_F = ['Mary', 'Aisha', 'Sofia', 'Mei', 'Zoë', 'Linda', 'Fatima', 'Grace', 'Ana', 'Hannah'];
const GIVEN_M = ['James', 'Luis', 'Tomasz', 'Chidi', 'Omar', 'Jürgen', 'Hiro', 'David', 'Ravi', 'Sean'];
const STREETS = ['Oak St', 'Maple Ave', 'Elm Rd', 'Cedar Ln', '1st Ave', 'Lincoln Blvd'];
const DOCTORS = [['1001', 'Wong', 'Alice'], ['1002', 'Reyes', 'Marco'], ['1003', 'Adeyemi', 'Tolu'],
  ['1004', 'Schmidt', 'Eva'], ['1005', 'Nakamura', 'Ken']];
// free-text notes (NTE-3), with every delimiter and line breaks
const NOTES = {
  A01: ['Admitted via ED; BP 150/95 & HR 110', 'Chest pain r/o MI | troponin pending',
    'Allergies: PCN ~ sulfa (rash)', 'Fall at home\nLacerations to L forearm'],
  A02: ['Transfer for telemetry ^ step-down', 'Moved to ICU: O2 sat 86% on 4L',
    'Bed change, isolation (C. diff)'],
  A03: ['Discharged home w/ family; f/u PCP in 7 days', 'D/C to SNF & home health referral',
    'Left AMA\nRisks explained, form signed', 'Rx: metoprolol 25mg | aspirin 81mg'],
  A04: ['Walk-in, c/o cough x3 days', 'Annual physical ^ labs drawn', 'Referral from Dr. Wong \\ cardiology'],
  A08: ['Phone number updated', 'Insurance changed: BCBS ~ Medicare secondary', 'Emergency contact: spouse & daughter',
    'Weight corrected 82kg -> 78kg'],
};

const pad = (n, w) => String(n).padStart(w, '0');
function hl7Now(d = new Date()) {
  return `${d.getUTCFullYear()}${pad(d.getUTCMonth() + 1, 2)}${pad(d.getUTCDate(), 2)}` +
    `${pad(d.getUTCHours(), 2)}${pad(d.getUTCMinutes(), 2)}${pad(d.getUTCSeconds(), 2)}+0000`;
}

class Feed {
  constructor(opts) {
    this.opts = opts;          // { host, port, patients, rate, duration, facilities, connsPerFacility,
    //   resendRate, badRate, seed, ackTimeout, runTag }
    this.rand = rng(opts.seed);
    this.ledger = new Map();   // control id -> entry
    this.order = new Map();    // patient key -> control ids, in ACK order
    this.acks = [];            // ACK latencies (ms), every send
    this.ackTimes = [];        // when each came (ms epoch)
    this.stats = { sent: 0, unique: 0, resends: 0, timeouts: 0, bad: 0, aa: 0, ae: 0, other: 0,
      badNotAe: 0, goodNotAa: 0 };
    this.errors = [];
    this.ctl = 0;
    this.stop = false;
    const facs = FACILITIES.slice(0, opts.facilities);
    this.conns = [];
    for (const f of facs) {
      for (let c = 0; c < opts.connsPerFacility; c++) this.conns.push({ facility: f, patients: [] });
    }
    this.patients = [];
    for (let i = 0; i < opts.patients; i++) {
      const conn = this.conns[i % this.conns.length];
      const p = this.newPatient(i, conn.facility);
      conn.patients.push(p);
      this.patients.push(p);
      this.order.set(p.key, []);
    }
  }

  pick(a) { return a[Math.floor(this.rand() * a.length)]; }

  newPatient(i, f) {
    const female = this.rand() < 0.5;
    const mrn = `${f.code}${pad(100000 + i * 7 + Math.floor(this.rand() * 7), 7)}`;
    const y = 1935 + Math.floor(this.rand() * 85);
    return {
      i, facility: f, mrn, key: `${f.code}/${mrn}`,
      family: this.pick(FAMILY), given: this.pick(female ? GIVEN_F : GIVEN_M),
      middle: String.fromCharCode(65 + Math.floor(this.rand() * 26)),
      sex: female ? 'F' : 'M', dob: `${y}${pad(1 + Math.floor(this.rand() * 12), 2)}${pad(1 + Math.floor(this.rand() * 28), 2)}`,
      street: `${100 + Math.floor(this.rand() * 9800)} ${this.pick(STREETS)}`,
      apt: this.rand() < 0.3 ? `Apt ${1 + Math.floor(this.rand() * 30)}&${this.pick(['A', 'B'])}` : '',
      zip: pad(60000 + Math.floor(this.rand() * 3000), 5),
      phone: `(${200 + Math.floor(this.rand() * 700)})555-${pad(Math.floor(this.rand() * 10000), 4)}`,
      visits: 0, story: [], enc: null,
    };
  }

  // A new encounter: a clinically plausible sequence of events.
  newStory(p) {
    const f = p.facility;
    p.visits++;
    const r = this.rand();
    const visit = `V${p.mrn.slice(3)}${pad(p.visits, 3)}`;
    const doc = this.pick(DOCTORS);
    const ev = [];
    let cls;
    if (r < 0.55) {        // inpatient: admit, updates and transfers, discharge
      cls = 'I';
      ev.push('A01');
      const n = Math.floor(this.rand() * 4);
      for (let k = 0; k < n; k++) ev.push(this.rand() < 0.5 ? 'A02' : 'A08');
      ev.push('A03');
    } else if (r < 0.85) { // outpatient: register, maybe an update, end of visit
      cls = 'O';
      ev.push('A04');
      if (this.rand() < 0.5) ev.push('A08');
      ev.push('A03');
    } else {               // emergency: registered in the ED, admitted, moved, discharged
      cls = 'E';
      ev.push('A04', 'A01', 'A02', 'A03');
    }
    p.enc = { visit, cls, doc, loc: null, admitted: null };
    p.story = ev;
  }

  location(p, cls) {
    const f = p.facility;
    if (cls === 'O') return [this.pick(f.clinics), '', '', f.code];
    if (cls === 'E') return ['ED', `ED${1 + Math.floor(this.rand() * 20)}`, '', f.code];
    return [this.pick(f.units), String(100 + Math.floor(this.rand() * 40)), this.pick(['A', 'B']), f.code];
  }

  nextMessage(p) {
    if (p.story.length === 0) this.newStory(p);
    const event = p.story.shift();
    const e = p.enc;
    const f = p.facility;
    const now = new Date();
    const ts = hl7Now(now);
    let prior = null;
    if (event === 'A01' || event === 'A04') {
      if (event === 'A01' && e.cls === 'E') e.cls = 'I';   // ED patient admitted
      e.loc = this.location(p, e.cls);
      if (!e.admitted) e.admitted = ts;
    } else if (event === 'A02') {
      prior = e.loc;
      e.loc = this.location(p, 'I');
    }
    if (event === 'A08' && this.rand() < 0.5) {
      p.phone = `(${200 + Math.floor(this.rand() * 700)})555-${pad(Math.floor(this.rand() * 10000), 4)}`;
    }
    const note = this.rand() < 0.6 ? this.pick(NOTES[event]) : '';
    const esc = (s) => escapeText(s);
    const ctl = `${this.opts.runTag}${f.code}${pad(++this.ctl, 6)}`;
    const struct = { A02: 'ADT_A02', A03: 'ADT_A03' }[event] || 'ADT_A01';
    const pv1 = new Array(46).fill('');
    pv1[0] = 'PV1';
    pv1[1] = '1';
    pv1[2] = e.cls;
    pv1[3] = e.loc.map(esc).join('^');
    pv1[4] = e.cls === 'I' ? 'U' : 'R';
    if (prior) pv1[6] = prior.map(esc).join('^');
    pv1[7] = `${e.doc[0]}^${esc(e.doc[1])}^${esc(e.doc[2])}^^^Dr`;
    pv1[10] = e.cls === 'O' ? 'OUT' : 'MED';
    pv1[19] = e.visit;
    if (event === 'A03') pv1[36] = this.pick(['01', '01', '01', '03', '06', '07']);
    pv1[44] = e.admitted;
    if (event === 'A03') pv1[45] = ts;
    const segs = [
      `MSH|^~\\&|${f.app}|${f.code}|FQS|INTEGRATION|${ts}||ADT^${event}^${struct}|${ctl}|P|2.5.1|||AL|NE||UNICODE UTF-8`,
      `EVN|${event}|${ts}|||${pad(Math.floor(this.rand() * 900) + 100, 4)}^CLERK|${ts}`,
      `PID|1||${p.mrn}^^^${f.code}^MR||${esc(p.family)}^${esc(p.given)}^${p.middle}||${p.dob}|${p.sex}|||` +
        `${esc(p.street)}^${esc(p.apt)}^${esc(f.city)}^${f.state}^${p.zip}^USA||${esc(p.phone)}`,
      pv1.join('|'),
    ];
    if (note) segs.push(`NTE|1||${esc(note)}`);
    return {
      ctl, event, key: p.key, text: segs.join('\r'),
      expect: { family: p.family, note, visit: e.visit },
    };
  }

  // a message no receiver can route: PID-3 (the patient id) is empty
  badMessage(f) {
    const ts = hl7Now();
    const ctl = `${this.opts.runTag}${f.code}${pad(++this.ctl, 6)}`;
    return {
      ctl, bad: true,
      text: [`MSH|^~\\&|${f.app}|${f.code}|FQS|INTEGRATION|${ts}||ADT^A08^ADT_A01|${ctl}|P|2.5.1`,
        `EVN|A08|${ts}`, 'PID|1||||Unknown^Patient', 'PV1|1|O'].join('\r'),
    };
  }

  async send(client, m) {
    const t0 = performance.now();
    const reply = await client.sendAndWait(Hl7Message.parse(m.text), { timeoutMs: this.opts.ackTimeout });
    const ms = performance.now() - t0;
    this.acks.push(ms);
    this.ackTimes.push(Date.now());
    this.stats.sent++;
    const code = reply.getSegment('MSA')?.getField(1)?.toString() ?? '';
    const text = reply.getSegment('ERR')?.getComponent(8, 1) || reply.getSegment('MSA')?.getField(3)?.toString() || '';
    return { code, text };
  }

  async runConnection(conn, budget, deadline, shared) {
    const client = new Hl7Client({ host: this.opts.host, port: this.opts.port, encoding: 'utf-8', keepAlive: true });
    client.addEventListener('error', (e) => this.errors.push(String(e.error?.message || e.error)));
    const gap = (1000 * this.conns.length) / this.opts.rate;
    let next = performance.now() + this.rand() * gap;
    try {
      while (!this.stop && shared.sent < budget && performance.now() < deadline) {
        const wait = next - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        next += gap * (0.5 + this.rand());
        shared.sent++;
        let m;
        if (this.rand() < this.opts.badRate) {
          m = this.badMessage(conn.facility);
          this.stats.bad++;
        } else {
          m = this.nextMessage(this.pick(conn.patients));
          this.stats.unique++;
        }
        const entry = { key: m.key, event: m.event, expect: m.expect, bad: !!m.bad, firstSent: Date.now(),
          ackAt: null, code: null, sends: 0 };
        this.ledger.set(m.ctl, entry);
        // a resend after a timeout or a lost connection carries the same
        // MSH-10, which is what the receiver's dedup is for
        let tries = 0;
        const resend = this.rand() < this.opts.resendRate;
        for (;;) {
          try {
            entry.sends++;
            const r = await this.send(client, m);
            if (entry.code === null) {
              entry.code = r.code;
              entry.ackAt = Date.now();
              entry.error = r.text;
              if (r.code === 'AA') this.stats.aa++; else if (r.code === 'AE') this.stats.ae++; else this.stats.other++;
              if (m.bad && r.code !== 'AE') this.stats.badNotAe++;
              if (!m.bad && r.code !== 'AA') this.stats.goodNotAa++;
              if (!m.bad && r.code === 'AA') this.order.get(m.key).push(m.ctl);
            } else if (r.code !== entry.code) {
              // a resend must be answered like the first send
              this.stats.goodNotAa++;
              entry.resendCode = r.code;
            }
            if (!resend || entry.sends > 1) break;
            // a deliberate resend: the sender "lost" the ACK it just got
            this.stats.resends++;
          } catch (e) {
            this.stats.timeouts++;
            this.errors.push(`${m.ctl}: ${e.message}`);
            if (++tries > 5) throw e;
            await client.close().catch(() => {});
            this.stats.resends++;
          }
        }
      }
    } finally {
      await client.close().catch(() => {});
    }
  }

  async run() {
    const budget = Math.round(this.opts.rate * this.opts.duration);
    const deadline = performance.now() + this.opts.duration * 1000 + 30000;
    const shared = { sent: 0 };
    this.started = Date.now();
    await Promise.all(this.conns.map((c) => this.runConnection(c, budget, deadline, shared)));
    this.finished = Date.now();
  }
}

module.exports = { Feed, hl7Now };
