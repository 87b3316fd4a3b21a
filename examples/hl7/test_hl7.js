// The HL7 reading of hl7.js on messages the feed never writes: other
// delimiters, hex escapes, highlighting, repetitions, a bad header.
//   node --test examples/hl7/test_hl7.js
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { Message, escapeText, unescapeText, adtToFhir, hl7Date } = require('./hl7');

test('escape and unescape are inverse, for every delimiter', () => {
  const s = 'a|b^c&d~e\\f\nsecond line, Müller';
  const e = escapeText(s);
  assert.equal(e, 'a\\F\\b\\S\\c\\T\\d\\R\\e\\E\\f\\.br\\second line, Müller');
  assert.equal(unescapeText(e), s);
});

test('hex, highlighting and formatting escapes', () => {
  assert.equal(unescapeText('\\X48656C6C6F\\ \\H\\bold\\N\\'), 'Hello bold');
  assert.equal(unescapeText('\\XC3BC\\'), 'ü');
  assert.equal(unescapeText('a\\.sp\\b\\.in+4\\c'), 'a\nbc');
  // unknown or unterminated sequences are kept as they stand
  assert.equal(unescapeText('\\Z1\\ and \\S'), '\\Z1\\ and \\S');
});

test('a message with its own delimiters', () => {
  const text = ['MSH#:*!@#APP#FAC#RCV#RFAC#20240102030405##ADT:A02:ADT_A02#C1#P#2.5',
    'PID#1##123:::HOSP:MR*456:::SSA:SS##Doe!T!Roe:Jane##19800101#F',
    'PV1#1#I#ICU:12:B:FAC###MED1:3:A:FAC#######################V9',
    'NTE#1##moved!.br!per Dr. X!S!Y'].join('\r');
  const m = new Message(text);
  assert.deepEqual(m.delims, { field: '#', component: ':', repetition: '*', escape: '!', subcomponent: '@' });
  assert.equal(m.get('MSH', 9, 2), 'A02');
  assert.equal(m.get('MSH', 10), 'C1');
  assert.equal(m.get('PID', 5, 1), 'Doe@Roe');
  assert.equal(m.get('PID', 3, 1, 1, 2), '456');
  assert.equal(m.repetitions('PID', 3), 2);
  const b = adtToFhir(text);
  const r = Object.fromEntries(b.entry.map((x) => [x.resource.resourceType, x.resource]));
  assert.equal(r.Patient.name[0].family, 'Doe@Roe');
  assert.equal(r.Patient.identifier.length, 2);
  assert.equal(r.Patient.birthDate, '1980-01-01');
  assert.equal(r.Encounter.status, 'in-progress');
  assert.equal(r.Encounter.class.code, 'IMP');
  assert.deepEqual(r.Encounter.location.map((l) => l.location.display), ['FAC / ICU / 12 / B', 'FAC / MED1 / 3 / A']);
  assert.equal(r.Encounter.extension[0].valueString, 'moved\nper Dr. X:Y');
  assert.equal(b.timestamp, '2024-01-02T03:04:05Z');
});

test('what cannot be translated says why', () => {
  assert.throws(() => new Message('PID|1'), /does not start with MSH/);
  assert.throws(() => new Message('MSH|^~\\^|A'), /not distinct/);
  assert.throws(() => adtToFhir('MSH|^~\\&|A|B|C|D|20240101||ADT^A08|X|P|2.5\rPID|1||'), /PID-3/);
  assert.equal(hl7Date('2024'), '2024');
  assert.equal(hl7Date('202401021530-0500'), '2024-01-02T15:30:00-05:00');
  assert.equal(hl7Date('bad'), undefined);
});
