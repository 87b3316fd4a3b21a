// HL7 v2 text: escaping, a parser that honours the message's own delimiters
// and escape sequences, and the mapping of an ADT message to a FHIR-shaped
// Bundle.  Written for this example; @medplum/hl7 carries the messages over
// MLLP, this file reads them.
'use strict';

// The delimiters of MSH-1 and MSH-2 when a message declares none (and the
// ones the generator writes).
const DEFAULT_DELIMS = { field: '|', component: '^', repetition: '~', escape: '\\', subcomponent: '&' };

// Text -> field content: every delimiter, and the escape character itself,
// becomes an escape sequence; a line break becomes \.br\.
function escapeText(text, d = DEFAULT_DELIMS) {
  let out = '';
  for (const ch of String(text)) {
    switch (ch) {
      case d.escape: out += `${d.escape}E${d.escape}`; break;
      case d.field: out += `${d.escape}F${d.escape}`; break;
      case d.component: out += `${d.escape}S${d.escape}`; break;
      case d.subcomponent: out += `${d.escape}T${d.escape}`; break;
      case d.repetition: out += `${d.escape}R${d.escape}`; break;
      case '\n': out += `${d.escape}.br${d.escape}`; break;
      case '\r': break;
      default: out += ch;
    }
  }
  return out;
}

// Field content -> text.  \F\ \S\ \T\ \R\ \E\ give the delimiters back,
// \.br\ and \.sp\ a line break, \Xhh..\ the bytes in hex (read as UTF-8),
// \H\ and \N\ (highlighting) and the other formatting commands nothing.  An
// escape sequence that is not closed, or not known, is kept as it stands.
function unescapeText(s, d = DEFAULT_DELIMS) {
  if (s == null || !s.includes(d.escape)) return s ?? '';
  let out = '';
  let i = 0;
  while (i < s.length) {
    const ch = s[i];
    if (ch !== d.escape) { out += ch; i++; continue; }
    const end = s.indexOf(d.escape, i + 1);
    if (end < 0) { out += s.slice(i); break; }
    const seq = s.slice(i + 1, end);
    let rep;
    switch (seq) {
      case 'F': rep = d.field; break;
      case 'S': rep = d.component; break;
      case 'T': rep = d.subcomponent; break;
      case 'R': rep = d.repetition; break;
      case 'E': rep = d.escape; break;
      case 'H': case 'N': rep = ''; break;
      case '.br': case '.sp': rep = '\n'; break;
      default:
        if (/^X([0-9A-Fa-f]{2})+$/.test(seq)) {
          rep = Buffer.from(seq.slice(1), 'hex').toString('utf8');
        } else if (/^\.(fi|nf|in[+-]?\d*|ti[+-]?\d*|sk\d*|ce)$/.test(seq)) {
          rep = '';
        }
    }
    if (rep === undefined) { out += s.slice(i, end + 1); i = end + 1; continue; }
    out += rep;
    i = end + 1;
  }
  return out;
}

// A parsed message: segments in order, each a list of raw fields, where
// fields[n] is field n of the segment (so MSH fields line up with their
// numbers: fields[1] is the field separator, fields[2] the encoding
// characters).  Components, repetitions and subcomponents are split on
// demand by get(), which also unescapes.
class Message {
  constructor(text) {
    if (typeof text !== 'string' || !text.startsWith('MSH') || text.length < 8) {
      throw new Error('not an HL7 v2 message: it does not start with MSH');
    }
    const field = text[3];
    const enc = text.slice(4, 8);
    this.delims = {
      field, component: enc[0], repetition: enc[1], escape: enc[2], subcomponent: enc[3],
    };
    if (new Set([field, ...enc]).size !== 5) throw new Error('MSH-2: delimiters are not distinct');
    this.segments = [];
    for (const line of text.split(/\r\n|\r|\n/)) {
      if (line === '') continue;
      const parts = line.split(field);
      const name = parts[0];
      if (!/^[A-Z][A-Z0-9]{2}$/.test(name)) throw new Error(`bad segment name ${JSON.stringify(name)}`);
      // MSH-1 is the separator itself, so MSH's fields are shifted by one
      const fields = name === 'MSH' ? [name, field, ...parts.slice(1)] : parts;
      this.segments.push({ name, fields });
    }
    if (this.segments[0].name !== 'MSH') throw new Error('the first segment is not MSH');
  }

  segment(name, n = 0) {
    return this.segments.filter((s) => s.name === name)[n];
  }

  all(name) {
    return this.segments.filter((s) => s.name === name);
  }

  // get('PID', 5, 1) = PID-5.1; rep and sub are 1-based too.  Unescaped.
  get(seg, field, comp = 1, sub = 1, rep = 1) {
    const s = typeof seg === 'string' ? this.segment(seg) : seg;
    if (!s) return '';
    const raw = s.fields[field];
    if (raw == null) return '';
    if (s.name === 'MSH' && field <= 2) return raw;
    const d = this.delims;
    const r = raw.split(d.repetition)[rep - 1] ?? '';
    const c = r.split(d.component)[comp - 1] ?? '';
    const v = c.split(d.subcomponent)[sub - 1] ?? '';
    return unescapeText(v, d);
  }

  repetitions(seg, field) {
    const s = typeof seg === 'string' ? this.segment(seg) : seg;
    const raw = s?.fields[field];
    return raw ? raw.split(this.delims.repetition).length : 0;
  }
}

// 'YYYYMMDD[HHMM[SS[.S]]][+ZZZZ]' -> ISO 8601 (date or dateTime)
function hl7Date(v) {
  const m = /^(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(?:\.\d+)?([+-]\d{4})?$/.exec(v || '');
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s, tz] = m;
  if (!mo) return y;
  if (!d) return `${y}-${mo}`;
  if (!h) return `${y}-${mo}-${d}`;
  const zone = tz ? `${tz.slice(0, 3)}:${tz.slice(3)}` : 'Z';
  return `${y}-${mo}-${d}T${h}:${mi || '00'}:${s || '00'}${zone}`;
}

const GENDER = { M: 'male', F: 'female', O: 'other', U: 'unknown', A: 'other', N: 'unknown' };
const ENC_CLASS = {
  I: ['IMP', 'inpatient encounter'], O: ['AMB', 'ambulatory'], E: ['EMER', 'emergency'],
  P: ['PRENC', 'pre-admission'],
};
const ENC_STATUS = {
  A01: 'in-progress', A02: 'in-progress', A03: 'finished', A04: 'arrived',
  A05: 'planned', A06: 'in-progress', A07: 'in-progress', A08: 'in-progress', A11: 'cancelled',
};
const EVENT_NAME = {
  A01: 'Admit/visit notification', A02: 'Transfer a patient', A03: 'Discharge/end visit',
  A04: 'Register a patient', A08: 'Update patient information',
};

function clean(o) {
  // drop undefined and empty strings, arrays and objects, recursively
  if (Array.isArray(o)) {
    const a = o.map(clean).filter((v) => v !== undefined);
    return a.length ? a : undefined;
  }
  if (o && typeof o === 'object') {
    const r = {};
    for (const [k, v] of Object.entries(o)) {
      const c = clean(v);
      if (c !== undefined) r[k] = c;
    }
    return Object.keys(r).length ? r : undefined;
  }
  return o === '' || o === undefined ? undefined : o;
}

function location(msg, pv1, field) {
  const unit = msg.get(pv1, field, 1);
  if (!unit) return undefined;
  const room = msg.get(pv1, field, 2);
  const bed = msg.get(pv1, field, 3);
  const facility = msg.get(pv1, field, 4);
  return { display: [facility, unit, room, bed].filter(Boolean).join(' / ') };
}

// An ADT message -> a FHIR R4-shaped message Bundle: MessageHeader, Patient,
// Encounter.  Throws on what no translation can fix (no PID-3).
function adtToFhir(text) {
  const msg = new Message(text);
  const msh = msg.segment('MSH');
  const pid = msg.segment('PID');
  const pv1 = msg.segment('PV1');
  const evn = msg.segment('EVN');
  if (!pid || !msg.get(pid, 3, 1)) throw new Error('PID-3: no patient identifier');
  const event = msg.get(msh, 9, 2);
  const controlId = msg.get(msh, 10);
  const facility = msg.get(msh, 4);

  const identifiers = [];
  for (let r = 1; r <= msg.repetitions(pid, 3); r++) {
    identifiers.push({
      value: msg.get(pid, 3, 1, 1, r),
      system: `urn:hl7v2:assigner:${msg.get(pid, 3, 4, 1, r)}`,
      type: { coding: [{ code: msg.get(pid, 3, 5, 1, r) }] },
    });
  }
  const patientRef = `urn:uuid:patient-${msg.get(pid, 3, 4)}-${msg.get(pid, 3, 1)}`;
  const patient = {
    resourceType: 'Patient',
    identifier: identifiers,
    name: [{
      family: msg.get(pid, 5, 1),
      given: [msg.get(pid, 5, 2), msg.get(pid, 5, 3)],
      prefix: [msg.get(pid, 5, 5)],
      suffix: [msg.get(pid, 5, 4)],
    }],
    gender: GENDER[msg.get(pid, 8)],
    birthDate: hl7Date(msg.get(pid, 7)),
    address: [{
      line: [msg.get(pid, 11, 1), msg.get(pid, 11, 2)],
      city: msg.get(pid, 11, 3), state: msg.get(pid, 11, 4),
      postalCode: msg.get(pid, 11, 5), country: msg.get(pid, 11, 6),
    }],
    telecom: msg.get(pid, 13, 1) ? [{ system: 'phone', value: msg.get(pid, 13, 1), use: 'home' }] : undefined,
  };

  const notes = msg.all('NTE').map((n) => msg.get(n, 3));
  let encounter;
  if (pv1) {
    const cls = ENC_CLASS[msg.get(pv1, 2)] || ['AMB', 'ambulatory'];
    const locations = [];
    const now = location(msg, pv1, 3);
    if (now) locations.push({ location: now, status: event === 'A03' ? 'completed' : 'active' });
    const prior = location(msg, pv1, 6);
    if (prior) locations.push({ location: prior, status: 'completed' });
    encounter = {
      resourceType: 'Encounter',
      identifier: [{ value: msg.get(pv1, 19), system: `urn:hl7v2:visit:${facility}` }],
      status: ENC_STATUS[event] || 'unknown',
      class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: cls[0], display: cls[1] },
      subject: { reference: patientRef },
      period: { start: hl7Date(msg.get(pv1, 44)), end: hl7Date(msg.get(pv1, 45)) },
      location: locations,
      participant: msg.get(pv1, 7, 1) ? [{
        individual: { display: [msg.get(pv1, 7, 6), msg.get(pv1, 7, 3), msg.get(pv1, 7, 2)].filter(Boolean).join(' ') },
      }] : undefined,
      hospitalization: { dischargeDisposition: msg.get(pv1, 36) ? { coding: [{ code: msg.get(pv1, 36) }] } : undefined },
      // NTE-3 comments: FHIR R4 Encounter has no note element
      extension: notes.map((n) => ({ url: 'urn:fqs:example:hl7v2-nte', valueString: n })),
    };
  }

  const header = {
    resourceType: 'MessageHeader',
    eventCoding: { system: 'http://terminology.hl7.org/CodeSystem/v2-0003', code: event, display: EVENT_NAME[event] },
    source: { name: msg.get(msh, 3), endpoint: `urn:hl7v2:facility:${facility}` },
    destination: [{ name: msg.get(msh, 5), endpoint: `urn:hl7v2:facility:${msg.get(msh, 6)}` }],
    focus: [{ reference: patientRef }],
  };
  return clean({
    resourceType: 'Bundle',
    type: 'message',
    identifier: { system: 'urn:hl7v2:msh-10', value: controlId },
    timestamp: hl7Date(msg.get(msh, 7)),
    meta: { tag: [{ code: evn ? msg.get(evn, 1) || event : event }] },
    entry: [
      { fullUrl: `urn:uuid:header-${controlId}`, resource: header },
      { fullUrl: patientRef, resource: patient },
      encounter && { fullUrl: `urn:uuid:encounter-${facility}-${msg.get(pv1, 19)}`, resource: encounter },
    ],
  });
}

module.exports = { DEFAULT_DELIMS, escapeText, unescapeText, Message, adtToFhir, hl7Date };
