-- Producer: enqueue one message into a random key k0..k<keys-1>.
\set k random(0, :keys - 1)
SELECT fqs_enqueue(:q, '{"k": ' || (:k)::text || ', "seq": 0, "data": "' || repeat('x', 160) || '"}', 'k' || (:k)::text);
