-- naive: a status-column job table, the way many applications start.
DROP SCHEMA IF EXISTS naive CASCADE;
CREATE SCHEMA naive;
CREATE TABLE naive.job (
  id           bigserial   PRIMARY KEY,
  queue        text        NOT NULL,
  fifo_key     text        NOT NULL,
  status       text        NOT NULL DEFAULT 'ready',   -- ready | taken | done
  payload      text        NOT NULL,
  enqueued_at  timestamptz NOT NULL DEFAULT now(),
  taken_until  timestamptz,                            -- lease while taken
  attempts     int         NOT NULL DEFAULT 0
);
-- the claim scans ready rows oldest first
CREATE INDEX job_ready ON naive.job (queue, id) WHERE status = 'ready';
