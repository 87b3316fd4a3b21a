# Copyright (c) 2026, fqs developers
#
# fqs_router_move_queue: a busy queue moves from one node to another and
# back while producers and consumers of both stages run through the proxy.
# Callers that meet the move get SQLSTATE QM001 and retry.  Checked: every
# message released once (no lease expires here, so no redelivery is
# allowed), in enqueue order per key; stale callers saw QM001; each move
# reports how long the queue refused work; the directory and the nodes
# agree at the end; the source keeps only a tombstone that answers QM001.
# Also: the node's move steps refuse what they must (a move at another
# epoch, an export with leases out, an import over a live queue), a move
# whose leases do not end in time is undone, and a move that stopped after
# the import is finished by calling it again.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use FqsTest;

my ($proxy, @nodes) = router_nodes(2);
my $tmp = PostgreSQL::Test::Utils::tempdir;

sub px { return $proxy->safe_psql('postgres', $_[0]); }

sub px_err
{
	my ($sql) = @_;
	my ($ret, $out, $err) = $proxy->psql('postgres', $sql,
		extra_params => [ '-v', 'VERBOSITY=verbose' ]);
	return $ret == 0 ? '' : $err;
}

px(q{SELECT fqs_create_queue('m', node => 'n1')});
px(q{CREATE TABLE sink (n bigserial PRIMARY KEY, id bigint, fifo_key text, seq bigint, payload text)});
px(q{CREATE TABLE retries (who text, sqlstate text)});
px(q{CREATE TABLE moves (n serial, node text, pause interval)});

my $keys_per = 5;
my $per_key = 60;
my $total = 2 * $keys_per * $per_key;
my %procs;

# a call through the proxy, retried while the queue moves (QM001)
my $retry = sub {
	my ($who, $stmt) = @_;
	return qq{
		LOOP
			BEGIN
				$stmt
				EXIT;
			EXCEPTION WHEN SQLSTATE 'QM001' THEN
				INSERT INTO retries VALUES ('$who', SQLSTATE);
				PERFORM pg_sleep(0.01);
			END;
		END LOOP;};
};

for my $p (0 .. 1)
{
	my $k0 = $p * $keys_per;
	PostgreSQL::Test::Utils::append_to_file("$tmp/prod$p.sql", qq{
DO \$\$
BEGIN
	FOR i IN 1..$per_key LOOP
		FOR k IN $k0..@{[ $k0 + $keys_per - 1 ]} LOOP
			@{[ $retry->("prod", "PERFORM fqs_enqueue('m', i::text, 'k' || k);") ]}
			COMMIT;
		END LOOP;
		PERFORM pg_sleep(0.03);
	END LOOP;
END
\$\$;
});
	$procs{"prod$p"} = start_psql_file($proxy, $proxy->connstr('postgres'),
		"$tmp/prod$p.sql", "$tmp/prod$p", on_error_stop => 1);
}
for my $c (0 .. 1)
{
	PostgreSQL::Test::Utils::append_to_file("$tmp/conc$c.sql", qq{
DO \$\$
DECLARE
	ids bigint[];
	rcs bigint[];
	t0 timestamptz := clock_timestamp();
BEGIN
	LOOP
		ids := NULL;
		@{[ $retry->("conc", "SELECT array_agg(c.id), array_agg(c.receipt) INTO ids, rcs FROM fqs_claim('m', 5, wait => '0.1 s') c;") ]}
		IF ids IS NOT NULL THEN
			PERFORM fqs_commit(ids, rcs);
		ELSIF (SELECT count(*) FROM sink) >= $total
			  OR clock_timestamp() - t0 > interval '200 s' THEN
			EXIT;
		END IF;
		COMMIT;
	END LOOP;
END
\$\$;
});
	$procs{"conc$c"} = start_psql_file($proxy, $proxy->connstr('postgres'),
		"$tmp/conc$c.sql", "$tmp/conc$c", on_error_stop => 1);
}
for my $s (0 .. 1)
{
	PostgreSQL::Test::Utils::append_to_file("$tmp/seq$s.sql", qq{
DO \$\$
DECLARE
	ids bigint[];
	rcs bigint[];
	t0 timestamptz := clock_timestamp();
BEGIN
	LOOP
		ids := NULL;
		@{[ $retry->("seq", q{
				WITH c AS (SELECT * FROM fqs_claim_sequential('m', 5, wait => '0.1 s')),
					 s AS (INSERT INTO sink (id, fifo_key, seq, payload)
						   SELECT c.id, c.fifo_key, c.seq, c.payload FROM c)
				SELECT array_agg(c.id), array_agg(c.receipt) INTO ids, rcs FROM c;}) ]}
		IF ids IS NOT NULL THEN
			PERFORM fqs_complete(ids, rcs);
		END IF;
		COMMIT;
		EXIT WHEN (SELECT count(*) FROM sink) >= $total
			   OR clock_timestamp() - t0 > interval '200 s';
	END LOOP;
END
\$\$;
});
	$procs{"seq$s"} = start_psql_file($proxy, $proxy->connstr('postgres'),
		"$tmp/seq$s.sql", "$tmp/seq$s", on_error_stop => 1);
}
# the mover: to n2 once a fifth is through, back to n1 at three fifths
PostgreSQL::Test::Utils::append_to_file("$tmp/mover.sql", qq{
DO \$\$
DECLARE
	t0 timestamptz := clock_timestamp();
BEGIN
	WHILE (SELECT count(*) FROM sink) < $total / 5 AND clock_timestamp() - t0 < interval '100 s' LOOP
		COMMIT;
		PERFORM pg_sleep(0.02);
	END LOOP;
	INSERT INTO moves (node, pause) SELECT 'n2', fqs_router_move_queue('m', 'n2');
	COMMIT;
	WHILE (SELECT count(*) FROM sink) < 3 * $total / 5 AND clock_timestamp() - t0 < interval '150 s' LOOP
		COMMIT;
		PERFORM pg_sleep(0.02);
	END LOOP;
	INSERT INTO moves (node, pause) SELECT 'n1', fqs_router_move_queue('m', 'n1');
END
\$\$;
});
$procs{mover} = start_psql_file($proxy, $proxy->connstr('postgres'),
	"$tmp/mover.sql", "$tmp/mover", on_error_stop => 1);
finish_clients(\%procs, $tmp);

is(px(q{SELECT count(*) || ':' || count(DISTINCT id) FROM sink}),
	"$total:$total", "all $total messages released, each once, across two moves");
is( px(q{
SELECT count(*) FROM (
	SELECT fifo_key, seq, payload::int AS i,
		   row_number() OVER (PARTITION BY fifo_key ORDER BY n) AS r
	  FROM sink) x
 WHERE i <> r OR seq <> r}), '0', 'in enqueue order per key');
my $moves = px(q{SELECT string_agg(node || ' ' || round(extract(epoch FROM pause) * 1000) || ' ms', ', ' ORDER BY n) FROM moves});
like($moves, qr/^n2 \d+ ms, n1 \d+ ms$/, "two moves, each with its pause ($moves)");
diag("moves: $moves");
my $stale = px(q{SELECT count(*) FROM retries WHERE sqlstate = 'QM001'});
cmp_ok($stale, '>', 0, "stale callers got QM001 and retried ($stale times)");
diag("QM001 retries: " . px(q{SELECT string_agg(who || ' ' || n, ', ') FROM (SELECT who, count(*) n FROM retries GROUP BY who) x}));
is(px(q{SELECT node || ' ' || epoch FROM fqs_router_placement WHERE queue = 'm'}),
	'n1 3', 'the directory: m on n1, epoch 3');
# messages finished on n2 left with it; those since the move back are n1's
is( $nodes[1]->safe_psql('postgres',
		q{SELECT move_state || ' ' || move_epoch || ' ' || (SELECT count(*) FROM fqs.key_head h WHERE h.qid = q.qid)
			FROM fqs.queue q WHERE name = 'm'}),
	'moved 3 0', 'n2 keeps only a tombstone of m (no keys, no messages)');
my ($ret, $out, $err) = $nodes[1]->psql('postgres', q{SELECT fqs_enqueue('m', 'x')},
	extra_params => [ '-v', 'VERBOSITY=verbose' ]);
like($err, qr/QM001: queue "m" has moved to another node/,
	'the tombstone answers a stale caller with QM001');
is( $nodes[0]->safe_psql('postgres',
		q{SELECT ready + claimed + processed + sequencing + dead + pen FROM fqs_queues WHERE queue = 'm'}),
	'0', 'n1 holds m again, with nothing left to do');
is(px(q{SELECT count(*) FROM sink WHERE id & 1023 = 2}) > 0 ? 1 : 0,
	1, 'some messages were enqueued while m lived on n2 (their ids name n2)');

# ---- the node's steps refuse what they must
px(q{SELECT fqs_enqueue('m', 'held', 'h')});
px(q{SELECT receipt FROM fqs_claim('m', 1, lease => '1 s')});
like(px_err(q{SELECT fqs_router_move_queue('m', 'n2', timeout => '0.3 s')}),
	qr/55006: queue "m" still has leases after 00:00:00.3: move undone/,
	'a move whose leases do not end in time is undone (55006)');
is(px(q{SELECT node || ' ' || epoch FROM fqs_router_placement WHERE queue = 'm'}),
	'n1 3', 'and m stays where it was');
is($nodes[0]->safe_psql('postgres', q{SELECT coalesce(move_state, 'none') FROM fqs.queue WHERE name = 'm'}),
	'none', 'taking work again');
sleep 2;    # the 1 s lease expires: the reaper hands the message out again

# a move stopped after the import: the next call finishes it
$nodes[0]->safe_psql('postgres', q{SELECT fqs.move_begin('m', 4)});
($ret, $out, $err) = $nodes[0]->psql('postgres', q{SELECT fqs.move_begin('m', 9)},
	extra_params => [ '-v', 'VERBOSITY=verbose' ]);
like($err, qr/55000: queue "m" is already being moved \(epoch 4, not 9\)/,
	'move_begin at another epoch is refused');
$nodes[0]->safe_psql('postgres', q{SELECT fqs.move_drain('m')});
px(q{DO $$ BEGIN
	PERFORM fqs_router.move_import_on(1, 'm', 4, fqs_router.move_export_on(0, 'm', 4));
END $$});
is($nodes[0]->safe_psql('postgres', q{SELECT move_state FROM fqs.queue WHERE name = 'm'}),
	'moved', 'after the export, the source refuses everything');
is(px(q{SELECT fqs_router_move_queue('m', 'n2') IS NOT NULL}), 't',
	'fqs_router_move_queue finishes a move that stopped after the import');
is(px(q{SELECT node || ' ' || epoch FROM fqs_router_placement WHERE queue = 'm'}),
	'n2 4', 'the directory names n2, epoch 4');
my @got = split /\n/, px(q{
	SELECT c.payload || ' ' || c.id FROM fqs_claim('m', 5) c});
is(scalar(@got), 1, 'one message left on n2');
my ($payload, $id) = split / /, $got[0] // '';
is($payload, 'held', 'the message whose lease expired before the move is claimable on n2');
is(px("SELECT ($id & 1023) || ' ' || queue || ' ' || state FROM fqs_message_status($id)"),
	'1 m claimed', 'fqs_message_status finds it on n2, though its id names n1');

done_testing();
