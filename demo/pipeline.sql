-- fqs demo: a Redox-style two-stage pipeline of HL7 ADT messages.
-- Run by demo/run.sh; psql variables: none.
\set ON_ERROR_STOP 1
\pset footer off
CREATE EXTENSION IF NOT EXISTS fqs;
DROP SCHEMA IF EXISTS demo CASCADE;
CREATE SCHEMA demo;
-- max_ready 12: beyond 12 waiting messages the breaker opens and the rest
-- wait in the holding pen, so claims never scan a deep backlog.
-- failure_threshold 3: when the EHR is down, 3 failed sends in a row stop
-- all claims of the queue for a second (doubling while it stays down),
-- then one probe goes through; its success closes the failure breaker.
SELECT fqs_create_queue('adt_ingress', lease => '30 seconds', max_ready => 12,
                        failure_threshold => 3, failure_cooldown => '1 second');

-- The EHR the sender delivers to; demo/run.sh takes it down for a while.
CREATE TABLE demo.ehr (up boolean NOT NULL);
INSERT INTO demo.ehr VALUES (true);
-- Sends that failed because the EHR was down.
CREATE TABLE demo.failed (fifo_key text, seq bigint, at timestamptz DEFAULT clock_timestamp());

-- What the sequential stage "sent" downstream, in the order it sent them.
CREATE TABLE demo.sent (n bigserial, fifo_key text, seq bigint, payload text,
                        sent_at timestamptz DEFAULT clock_timestamp());
-- Which worker translated what, and when (to show the parallelism).
CREATE TABLE demo.work (worker int, id bigint, fifo_key text, seq bigint,
                        started timestamptz, finished timestamptz);

-- Concurrent stage: translate HL7 v2 to a FHIR-ish line; 50-250 ms each.
CREATE PROCEDURE demo.translator(worker int)
LANGUAGE plpgsql AS $$
DECLARE
	m record;
	t0 timestamptz;
BEGIN
	LOOP
		-- blocks until a message is claimable (woken at the enqueue's commit)
		SELECT * INTO m FROM fqs_claim('adt_ingress', 1, wait => '1 second');
		COMMIT;
		IF m.id IS NULL THEN
			EXIT WHEN (SELECT ready + delayed + pen FROM fqs_queues
						WHERE queue = 'adt_ingress') = 0;
			CONTINUE;
		END IF;
		t0 := clock_timestamp();
		PERFORM pg_sleep(0.05 + random() * 0.2);	-- parsing, mapping, lookups
		PERFORM fqs_commit(m.id, m.receipt,
			format('FHIR Encounter patient=%s event=%s',
				   m.fifo_key, split_part(m.payload, '|', 9)));
		INSERT INTO demo.work VALUES (worker, m.id, m.fifo_key, m.seq, t0, clock_timestamp());
		COMMIT;
	END LOOP;
END $$;

-- Sequential stage: send to the EHR strictly in order per patient.  While
-- the EHR is down a send times out (100 ms) and the message is failed; the
-- failure breaker then holds the queue's claims back instead of letting
-- the sender burn through every patient's head message.
CREATE PROCEDURE demo.sender(total int)
LANGUAGE plpgsql AS $$
DECLARE
	m record;
	k text;
BEGIN
	WHILE (SELECT count(*) FROM demo.sent) < total LOOP
		k := NULL;
		-- woken when a commit makes some patient's next message releasable
		FOR m IN SELECT * FROM fqs_claim_sequential('adt_ingress', 10, wait => '1 second')
				  ORDER BY fifo_key, seq LOOP
			CONTINUE WHEN m.fifo_key = k;	-- the rest of a failed run
			IF NOT (SELECT up FROM demo.ehr) THEN
				PERFORM pg_sleep(0.1);
				PERFORM fqs_fail(m.id, m.receipt, 'EHR unreachable',
								 retry_after => '200 ms');
				INSERT INTO demo.failed (fifo_key, seq) VALUES (m.fifo_key, m.seq);
				k := m.fifo_key;
				CONTINUE;
			END IF;
			INSERT INTO demo.sent (fifo_key, seq, payload) VALUES (m.fifo_key, m.seq, m.payload);
			PERFORM fqs_complete(m.id, m.receipt);
		END LOOP;
		COMMIT;
	END LOOP;
END $$;

-- 6 patients x 8 ADT events, in bursts per patient as a feed sends them.
SELECT count(*) AS enqueued
  FROM (SELECT fqs_enqueue_batch('adt_ingress',
			array_agg(format('MSH|^~\&|EPIC|HOSP|REDOX|DEST|%s||ADT^%s|%s-%s|P|2.5',
							 to_char(now(), 'YYYYMMDDHH24MISS'), ev, p, i) ORDER BY p, i),
			array_agg(p ORDER BY p, i))
		  FROM (SELECT 'patient-' || p AS p, i,
					   (ARRAY['A04','A01','A08','A02','A08','A06','A08','A03'])[i] AS ev
				  FROM generate_series(1, 6) p, generate_series(1, 8) i) s) e;

\echo
SELECT pg_sleep(0.5);  -- one worker pass: the breaker sees the depth
SELECT count(*) AS enqueued_while_breaker_open
  FROM (SELECT fqs_enqueue('adt_ingress', format('MSH|^~\&|EPIC|HOSP|REDOX|DEST|%s||ADT^A08|late-%s|P|2.5',
								 to_char(now(), 'YYYYMMDDHH24MISS'), p), 'patient-' || p)
		  FROM generate_series(1, 6) p) e;
\echo
\echo '== fqs_queues after enqueue (54 messages, 6 FIFO keys, max_ready 12)'
SELECT queue, breaker_open, pen, ready, claimed, processed, sequencing, done_total FROM fqs_queues;
\echo '== the background worker of this database'
SELECT datname, pid IS NOT NULL AS running, has_extension FROM fqs_workers();
