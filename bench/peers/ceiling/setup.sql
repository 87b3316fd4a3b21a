-- ceiling: the cheapest durable life of one message on this server.
-- A trivial table; peers.sh runs ceiling/three_autocommit.sql against it.
DROP TABLE IF EXISTS ceiling;
CREATE TABLE ceiling (id bigserial PRIMARY KEY, status text NOT NULL DEFAULT 'ready', payload text NOT NULL);
VACUUM ANALYZE ceiling;
