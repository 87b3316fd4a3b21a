# Copyright (c) 2026, fqs developers
#
# fqs_router: three fqs nodes behind one PL/Proxy proxy.  Through the proxy
# only, producers fill six queues (two per node) while concurrent consumers
# (fqs_claim_any over all six, array commits) and sequential consumers
# (fqs_claim_sequential per queue, array completes) run.  Every message must
# come out of the sequential stage exactly once, in enqueue order per key,
# with an id and receipts that name the node of its queue.  Also checked:
# the directory's placement (fewest queues first, node => ...), the
# refusals (unknown queue, foreign receipts, receipts of two nodes, a node
# without fqs, a duplicate node number, a name squatted without a queue),
# the gathered views, and that the remote calls run as the caller, so the
# nodes' per-queue privileges hold through the proxy.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use FqsTest;

my ($proxy, @nodes) = router_nodes(3);
my $tmp = PostgreSQL::Test::Utils::tempdir;

sub px { return $proxy->safe_psql('postgres', $_[0]); }

sub px_err
{
	my ($sql) = @_;
	my ($ret, $out, $err) = $proxy->psql('postgres', $sql,
		extra_params => [ '-v', 'VERBOSITY=verbose' ]);
	return $ret == 0 ? '' : $err;
}

# ---- the directory
is( px(q{SELECT string_agg(node || '=' || node_id || '@' || part, ' ' ORDER BY part)
		   FROM fqs_router_nodes}),
	'n1=1@0 n2=2@1 n3=3@2', 'three nodes, numbered by their fqs.node_id');

my @queues = map { "q$_" } 1 .. 6;
px("SELECT fqs_create_queue('$_')") for @queues[ 0 .. 4 ];
px("SELECT fqs_create_queue('q6', node => 'n1', priority => 3)");
is( px(q{SELECT string_agg(queue || ':' || node, ' ' ORDER BY queue) FROM fqs_router_placement}),
	'q1:n1 q2:n2 q3:n3 q4:n1 q5:n2 q6:n1',
	'new queues go to the node with the fewest queues, or to the one named');
is( $nodes[0]->safe_psql('postgres',
		q{SELECT string_agg(queue || ':' || priority, ' ' ORDER BY queue) FROM fqs_queues}),
	'q1:0 q4:0 q6:3', 'the queues exist on their node, with their settings');
is(px(q{SELECT priority FROM fqs_router_placement WHERE queue = 'q6'}),
	'3', 'the directory keeps the priority fqs_claim_any orders nodes by');

like(px_err(q{SELECT fqs_enqueue('nope', 'x')}),
	qr/42704: queue "nope" does not exist/, 'unknown queue: 42704');
like(px_err(q{SELECT fqs_create_queue('q1')}),
	qr/42710: queue "q1" already exists/, 'a name is placed once: 42710');
like(px_err(q{SELECT fqs_create_queue('x', node => 'n9')}),
	qr/42704: node "n9" does not exist/, 'unknown node: 42704');
like(px_err(q{SELECT fqs_commit(1, 7)}),
	qr/22023: receipt 7 names no node of this router/, 'a receipt of no node: 22023');
like(px_err(q{SELECT fqs_commit(ARRAY[1025, 1026]::bigint[], ARRAY[1025, 1026]::bigint[])}),
	qr/0A000: receipts of more than one node in one call/,
	'an array call with receipts of two nodes: 0A000');
like(px_err(q{BEGIN; SELECT fqs_router.place('squat', NULL); COMMIT;}),
	qr/55000: queue "squat" was placed on node "n\d" but not created there/,
	'a name reserved without creating the queue does not commit');
is(px(q{SELECT count(*) FROM fqs_router_placement WHERE queue = 'squat'}),
	'0', 'and is not placed');
$nodes[0]->safe_psql('postgres', 'CREATE DATABASE nofqs');
like(
	px_err(q{SELECT fqs_router_add_node('x', 'host=} . $nodes[0]->host
		  . ' port=' . $nodes[0]->port . q{ dbname=nofqs')}),
	qr/55000: node "x" has no fqs extension/, 'a node without fqs is refused');
like(
	px_err(q{SELECT fqs_router_add_node('x', '} . node_connstr($nodes[1]) . q{')}),
	qr/42710: node "x" has fqs.node_id 2, as node "n2" has/,
	'a node number used twice is refused');
like(px_err(q{SELECT fqs_router_drop_node('n2')}),
	qr/2BP01: node "n2" still owns 2 queues/, 'a node that owns queues stays');

# ---- the flow, through the proxy only
my $keys = 10;
my $per_key = 20;
my $total = scalar(@queues) * $keys * $per_key;
px(q{CREATE TABLE sink (n bigserial PRIMARY KEY, queue text, id bigint,
						receipt bigint, fifo_key text, seq bigint, payload text)});
my $qarr = "ARRAY['" . join("','", @queues) . "']";

my %procs;
for my $p (0 .. 2)
{
	my @mine = @queues[ 2 * $p, 2 * $p + 1 ];
	PostgreSQL::Test::Utils::append_to_file("$tmp/prod$p.sql", qq{
DO \$\$
DECLARE
	q text;
BEGIN
	FOR i IN 1..$per_key LOOP
		FOREACH q IN ARRAY ARRAY['$mine[0]', '$mine[1]'] LOOP
			FOR k IN 0..@{[ $keys - 1 ]} LOOP
				PERFORM fqs_enqueue(q, json_build_object('k', k, 'i', i)::text, 'k' || k);
			END LOOP;
		END LOOP;
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
		SELECT array_agg(c.id), array_agg(c.receipt) INTO ids, rcs
		  FROM fqs_claim_any($qarr, 5, wait => '0.2 s') c;
		IF ids IS NOT NULL THEN
			PERFORM fqs_commit(ids, rcs);
		ELSIF (SELECT count(*) FROM sink) >= $total
			  OR clock_timestamp() - t0 > interval '240 s' THEN
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
	q text;
	ids bigint[];
	rcs bigint[];
	got integer;
	t0 timestamptz := clock_timestamp();
BEGIN
	LOOP
		got := 0;
		FOREACH q IN ARRAY $qarr LOOP
			WITH c AS (SELECT * FROM fqs_claim_sequential(q, 5)),
				 s AS (INSERT INTO sink (queue, id, receipt, fifo_key, seq, payload)
					   SELECT q, c.id, c.receipt, c.fifo_key, c.seq, c.payload FROM c)
			SELECT array_agg(c.id), array_agg(c.receipt) INTO ids, rcs FROM c;
			IF ids IS NOT NULL THEN
				PERFORM fqs_complete(ids, rcs);
				got := got + cardinality(ids);
			END IF;
			COMMIT;
		END LOOP;
		EXIT WHEN (SELECT count(*) FROM sink) >= $total
			   OR clock_timestamp() - t0 > interval '240 s';
		IF got = 0 THEN
			PERFORM pg_sleep(0.05);
		END IF;
	END LOOP;
END
\$\$;
});
	$procs{"seq$s"} = start_psql_file($proxy, $proxy->connstr('postgres'),
		"$tmp/seq$s.sql", "$tmp/seq$s", on_error_stop => 1);
}
finish_clients(\%procs, $tmp);

is(px('SELECT count(*), count(DISTINCT id) FROM sink'),
	"$total|$total", "all $total messages released once");
# per queue and key: i = 1, 2, ... in release order
is( px(qq{
SELECT count(*) FROM (
	SELECT queue, fifo_key, seq, (payload::json ->> 'i')::int AS i,
		   row_number() OVER (PARTITION BY queue, fifo_key ORDER BY n) AS r
	  FROM sink) x
 WHERE i <> r OR seq <> r}), '0', 'released in enqueue order per key');
is( px(q{
SELECT count(*) FROM sink s
  JOIN fqs_router_placement p ON p.queue = s.queue
  JOIN fqs_router_nodes n ON n.node = p.node
 WHERE (s.id & 1023) <> n.node_id OR (s.receipt & 1023) <> n.node_id}),
	'0', "ids and receipts name their queue's node");
is( px(q{SELECT string_agg(node || ':' || queue || ':' || done_total || ':'
						   || (ready + claimed + processed + sequencing + dead), ' '
						   ORDER BY queue)
		   FROM fqs_queues}),
	join(' ', map { my $n = (1, 2, 3, 1, 2, 1)[$_ - 1]; "n$n:q$_:" . ($keys * $per_key) . ':0' } 1 .. 6),
	'fqs_queues, gathered from the nodes: every queue done on its node');
is(px('SELECT count(*) FROM fqs_dead_messages'), '0', 'no dead letters');

# ---- fqs_message_status by the node in the id; retry and skip by id
my $some = px(q{SELECT id FROM sink WHERE queue = 'q2' ORDER BY n LIMIT 1});
is(px("SELECT queue || ':' || state FROM fqs_message_status($some)"),
	'q2:done', 'fqs_message_status runs on the node the id names');

# ---- privileges hold through the proxy: the node checks the caller
for my $node ($proxy, @nodes)
{
	$node->safe_psql('postgres', 'CREATE ROLE app LOGIN');
}
px(q{SELECT fqs_grant('q3', 'app', 'produce')});
my ($ret, $out, $err) = $proxy->psql('postgres',
	q{SET ROLE app; SELECT fqs_enqueue('q3', 'ok')});
is($ret, 0, 'a role with produce on q3 enqueues through the proxy') or diag $err;
($ret, $out, $err) = $proxy->psql('postgres',
	q{SET ROLE app; SELECT fqs_enqueue('q1', 'no')},
	extra_params => [ '-v', 'VERBOSITY=verbose' ]);
like($err, qr/42501/, 'and is refused on q1, where it has no right');
($ret, $out, $err) = $proxy->psql('postgres',
	q{SET ROLE app; SELECT fqs_create_queue('mine')},
	extra_params => [ '-v', 'VERBOSITY=verbose' ]);
like($err, qr/42501/, 'creating a queue needs admin on the node');
is(px(q{SELECT count(*) FROM fqs_router_placement WHERE queue = 'mine'}),
	'0', 'and places nothing');
is( $proxy->safe_psql('postgres',
		q{SET ROLE app; SELECT string_agg(queue, ' ') FROM fqs_queues}),
	'q3', 'fqs_queues shows a role only the queues it has a right on');

# ---- drop through the proxy
px(q{SELECT fqs_drop_queue('q5', force => true)});
is(px(q{SELECT count(*) FROM fqs_router_placement WHERE queue = 'q5'}),
	'0', 'a dropped queue leaves the directory');
is($nodes[1]->safe_psql('postgres', q{SELECT string_agg(queue, ' ') FROM fqs_queues}),
	'q2', 'and its node');

# ---- a node's ids: sequence value << 10 | fqs.node_id, refused past 2^53
$nodes[2]->safe_psql('postgres',
	q{SELECT setval('fqs.message_id_seq', (1::bigint << 53) - 2)});
is($nodes[2]->safe_psql('postgres', q{SELECT fqs_enqueue('q3', 'last')}),
	(((1 << 53) - 1) << 10) | 3, 'the last id a node can make');
($ret, $out, $err) = $nodes[2]->psql('postgres', q{SELECT fqs_enqueue('q3', 'over')},
	extra_params => [ '-v', 'VERBOSITY=verbose' ]);
like($err, qr/2200H: message id 9007199254740992 is too large to carry a node number/,
	'past it, an enqueue is refused: 2200H');

done_testing();
