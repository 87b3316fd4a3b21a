// Ingress: an MLLP listener that enqueues each HL7 message into fqs and
// acknowledges it only once the enqueue has committed.
//
// The framing and the parsing into @medplum/core's Hl7Message come from
// @medplum/hl7's Hl7Connection.  The listening socket is ours, bound to
// 127.0.0.1 (Hl7Server.start listens on every interface, and this is
// patient data).  Each message goes, in one transaction, into every
// destination queue of the feed (the fan-out composes: both or neither),
// with fifo_key = the patient id of PID-3 and dedup_id = the sender's MSH-10,
// so a resent message is acknowledged again but enqueued once.  The ACK
// (AA) is sent after COMMIT returned; any error rolls back and answers AE
// with the reason in ERR-8.  Messages of one connection are handled one at
// a time, in the order they arrived.
'use strict';

const net = require('node:net');
const { Hl7Connection } = require('@medplum/hl7');
const { Hl7Segment } = require('@medplum/core');
const { unescapeText, escapeText } = require('./hl7');

class Ingress {
  constructor({ pool, queues, host = '127.0.0.1', port = 0, noDedup = false }) {
    this.noDedup = noDedup;  // fault injection (--break no-dedup): resends enqueued twice
    this.pool = pool;
    this.queues = queues;
    this.host = host;
    this.port = port;
    this.stats = { received: 0, acked: 0, rejected: 0 };
    this.connections = new Set();
    this.errors = [];
  }

  start() {
    this.server = net.createServer((socket) => {
      const conn = new Hl7Connection(socket, 'utf-8');
      this.connections.add(conn);
      let chain = Promise.resolve();
      conn.addEventListener('message', (ev) => {
        chain = chain.then(() => this.handle(conn, ev.message));
      });
      conn.addEventListener('error', (ev) => this.errors.push(String(ev.error?.message || ev.error)));
      conn.addEventListener('close', () => this.connections.delete(conn));
    });
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.port, this.host, () => {
        this.port = this.server.address().port;
        resolve(this.port);
      });
    });
  }

  async handle(conn, msg) {
    this.stats.received++;
    let ack;
    try {
      await this.enqueue(msg);
      ack = msg.buildAck({ ackCode: 'AA' });
      this.stats.acked++;
    } catch (e) {
      this.stats.rejected++;
      const err = new Hl7Segment(['ERR', '', '', '207^Application internal error^HL70357', 'E',
        '', '', '', escapeText(String(e.message).slice(0, 200))], msg.context);
      ack = msg.buildAck({ ackCode: 'AE', errSegment: err });
    }
    if (!conn.isClosed()) conn.send(ack);
  }

  async enqueue(msg) {
    const msh = msg.header;
    const controlId = msh.getField(10).toString();
    if (!controlId) throw new Error('MSH-10: no message control id');
    const pid = msg.getSegment('PID');
    const patient = pid ? unescapeText(pid.getComponent(3, 1)) : '';
    const authority = pid ? unescapeText(pid.getComponent(3, 4)) : '';
    if (!patient) throw new Error('PID-3: no patient identifier, so no FIFO key');
    const fifoKey = authority ? `${authority}/${patient}` : patient;
    // MSH-10 is unique per sending application and facility
    const dedup = `${msh.getComponent(3, 1)}^${msh.getComponent(4, 1)}^${controlId}`;
    const text = msg.toString();
    const headers = { control_id: controlId, event: msh.getComponent(9, 2),
      received_at: new Date().toISOString() };
    const db = await this.pool.connect();
    try {
      await db.query('BEGIN');
      for (const q of this.queues) {
        const { rows } = await db.query(
          'SELECT fqs_enqueue($1, $2, fifo_key => $3, headers => $4::jsonb, dedup_id => $5) AS id',
          [q, text, fifoKey, JSON.stringify({ ...headers, dest: q }), this.noDedup ? null : dedup]);
        if (rows[0].id === null) throw new Error(`fqs_enqueue into ${q} returned no id`);
      }
      await db.query('COMMIT');
      return true;
    } catch (e) {
      await db.query('ROLLBACK').catch(() => {});
      throw e;
    } finally {
      db.release();
    }
  }

  async stop() {
    for (const c of this.connections) await c.close().catch(() => {});
    await new Promise((r) => this.server.close(() => r()));
  }
}

module.exports = { Ingress };
