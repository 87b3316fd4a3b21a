# Copyright (c) 2026, fqs developers
#
# fqs_router with one node killed (kill -9): the queues on the other nodes
# keep flowing through the proxy; calls for the dead node's queues fail
# fast with a clear error and are never sent to another node (an ordered
# queue has one owner); after the node restarts, everything it held drains
# through the proxy in order, nothing lost and nothing twice.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use FindBin;
use lib $FindBin::RealBin;
use FqsTest;

my ($proxy, @nodes) = router_nodes(3);

sub px { return $proxy->safe_psql('postgres', $_[0]); }

# one queue per node; 5 keys x 10 messages each, committed before the crash;
# the first 3 of every key through both stages already
my @queues = qw(a b c);
px("SELECT fqs_create_queue('$_', lease => '2 s')") for @queues;
is(px(q{SELECT string_agg(queue || ':' || node, ' ' ORDER BY queue) FROM fqs_router_placement}),
	'a:n1 b:n2 c:n3', 'one queue per node');
px(q{CREATE TABLE sink (n bigserial PRIMARY KEY, queue text, id bigint, fifo_key text, seq bigint)});

sub enqueue
{
	my ($q, $from, $to) = @_;
	px(qq{SELECT count(fqs_enqueue('$q', 'm' || i, 'k' || k))
			FROM generate_series($from, $to) i, generate_series(1, 5) k});
}

# both stages through the proxy until $q has nothing left to release
# (at most $max messages); returns how many were released
sub drain
{
	my ($q, $max) = @_;
	return px(qq{
DO \$\$
DECLARE
	ids bigint[];
	rcs bigint[];
	left_ integer := $max;
BEGIN
	LOOP
		SELECT array_agg(c.id), array_agg(c.receipt) INTO ids, rcs FROM fqs_claim('$q', 10) c;
		IF ids IS NOT NULL THEN
			PERFORM fqs_commit(ids, rcs);
		END IF;
		WITH c AS (SELECT * FROM fqs_claim_sequential('$q', 10)),
			 s AS (INSERT INTO sink (queue, id, fifo_key, seq)
				   SELECT '$q', c.id, c.fifo_key, c.seq FROM c)
		SELECT array_agg(c.id), array_agg(c.receipt) INTO ids, rcs FROM c;
		EXIT WHEN ids IS NULL;
		PERFORM fqs_complete(ids, rcs);
		left_ := left_ - cardinality(ids);
		EXIT WHEN left_ <= 0;
	END LOOP;
END
\$\$;
SELECT count(*) FROM sink WHERE queue = '$q'});
}

enqueue($_, 1, 3) for @queues;
is(drain($_, 15), 15, "queue $_: the first 3 of each key through both stages")
  for @queues;
enqueue($_, 4, 10) for @queues;
# messages of b in flight at the crash: claimed, and committed but not
# released
px(q{SELECT fqs_commit(id, receipt) FROM fqs_claim('b', 5)});
px(q{SELECT count(*) FROM fqs_claim('b', 5)});

crash_server($nodes[1]);

# ---- the other nodes' queues keep flowing
enqueue($_, 11, 12) for qw(a c);
is(drain('a', 100), 60, 'queue a (n1) drains through the proxy with n2 down');
is(drain('c', 100), 60, 'queue c (n3) drains through the proxy with n2 down');

# ---- calls for n2's queue fail fast, whatever the call
for my $call (
	q{SELECT fqs_enqueue('b', 'x', 'k1')},
	q{SELECT * FROM fqs_claim('b', 1)},
	q{SELECT * FROM fqs_claim_sequential('b', 1, wait => '5 s')},
	q{SELECT fqs_pause('b')})
{
	my $t0 = time;
	my ($ret, $out, $err) = $proxy->psql('postgres', $call,
		extra_params => [ '-v', 'VERBOSITY=verbose' ]);
	my $secs = time - $t0;
	isnt($ret, 0, "with n2 down: $call fails");
	like($err, qr/PL\/Proxy function .*\[postgres\].*(connect|server closed|terminat)/s,
		'with an error that names the connection to the node') or diag $err;
	cmp_ok($secs, '<', 5, "and fails fast (${\ sprintf('%.2f', $secs)} s)");
}
is(px(q{SELECT node FROM fqs_router_placement WHERE queue = 'b'}),
	'n2', 'the directory still places b on n2: never rerouted');
my ($ret, $out, $err) = $proxy->psql('postgres', 'SELECT count(*) FROM fqs_queues');
isnt($ret, 0, 'fqs_queues, gathered from every node, fails while a node is down');

# ---- n2 comes back: its queue drains in order, nothing lost or twice
start_after_crash($nodes[1], 'n2 went through crash recovery');
# the claims in flight at the crash died with nobody to finish them: their
# 2-second leases expire and n2's worker hands them out again
sleep 3;
# the proxy's connection to n2 died with it; a call may notice only then
$proxy->psql('postgres', q{SELECT * FROM fqs_message_status(2)});
enqueue('b', 11, 12);
my $b = drain('b', 100);
is($b, 60, 'queue b drains after n2 restarts: 60 released');
is( px(q{SELECT count(*) || ':' || count(DISTINCT id) FROM sink}),
	'180:180', 'all 180 messages of the three queues released, each once');
is( px(q{
SELECT count(*) FROM (
	SELECT queue, fifo_key, seq, row_number() OVER (PARTITION BY queue, fifo_key ORDER BY n) AS r
	  FROM sink) x
 WHERE seq <> r}), '0', 'in enqueue order per key');
is(px('SELECT sum(done_total) FROM fqs_queues'),
	'180', 'fqs_queues answers again once every node is up');

done_testing();
