-- pgbench script: one message's minimum work as three autocommit statements
-- (three commits): insert it, mark it taken, delete it.
INSERT INTO ceiling (payload) VALUES ('{"k": 1, "seq": 0, "data": "' || repeat('x', 160) || '"}') RETURNING id \gset
UPDATE ceiling SET status = 'taken' WHERE id = :id;
DELETE FROM ceiling WHERE id = :id;
