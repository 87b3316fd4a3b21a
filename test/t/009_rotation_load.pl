# Copyright (c) 2026, fqs developers
#
# Rotation under load: while steady traffic runs through both stages and
# claimers wait on empty queues (fqs_claim and fqs_claim_sequential with a
# long wait), forced rotations go round the whole ring twice.  Each one
# succeeds (a rotation gives up only when a lock stays taken for 200 ms,
# and is then tried again), a message stuck in every state is copied
# forward instead of pinning its generation, and afterwards every message
# of the traffic was completed exactly once and in order per key, and the
# stuck ones still finish with their receipts and payloads.
#
# Bounded everywhere: pgbench runs for a fixed time, the waiters have a
# fixed wait, each rotation has a bounded number of tries.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use FindBin;
use lib $FindBin::RealBin;
use FqsTest;

my $TRAFFIC_S = 20;
my $node = preloaded_node('rotload', "fqs.max_ready = 0\n");
$node->safe_psql('postgres', 'CREATE EXTENSION fqs');
$node->safe_psql('postgres', q{
	SELECT fqs_create_queue('traffic', lease => '1 minute', max_attempts => 100);
	SELECT fqs_create_queue('stuck', lease => '1 hour', max_attempts => 1);
	SELECT fqs_create_queue('idle');
	CREATE TABLE ledger (id bigint, fifo_key text, seq bigint, at timestamptz DEFAULT clock_timestamp());
});

# a message stuck in every state, in the current generation
my ($claimed_id, $claimed_receipt) = split /\|/, (split /\n/, $node->safe_psql('postgres', q{
	SELECT fqs_enqueue('stuck', 'c-payload', 'c');
	SELECT fqs_enqueue('stuck', 'd-payload', 'd');
	SELECT fqs_enqueue('stuck', 'p-payload', 'p');
	SELECT fqs_enqueue('stuck', 'l-payload', 'l', deliver_at => now() + interval '1 day');
	SELECT fqs_enqueue('stuck', 'r-payload', 'r');
	SELECT id || '|' || receipt FROM fqs_claim('stuck', 1) WHERE fifo_key = 'c';
}))[-1];
$node->safe_psql('postgres', q{
	SELECT fqs_fail(id, receipt, 'gone') FROM fqs_claim('stuck', 1);
	SELECT fqs_commit(id, receipt, 'p-result') FROM fqs_claim('stuck', 1);
});
my $stuck_states = q{
	SELECT string_agg(s.fifo_key || '=' || s.state, ',' ORDER BY s.fifo_key)
	  FROM fqs.message m, fqs_message_status(m.id) s
	 WHERE m.qid = (SELECT qid FROM fqs.queue WHERE name = 'stuck')};
my $before = $node->safe_psql('postgres', $stuck_states);
like($before, qr/c=claimed/, "stuck messages before the rotations: $before");

# waiting claimers on an empty queue, for longer than the whole test
my @waiters;
for my $fn ('fqs_claim', 'fqs_claim_sequential')
{
	my ($out, $err) = ('', '');
	my $h = IPC::Run::start(
		[
			$node->installed_command('psql'), '-X', '-A', '-t', '-d',
			$node->connstr('postgres'), '-c',
			"SELECT count(*) FROM $fn('idle', 1, wait => '90 seconds')"
		],
		'<', \undef, '>', \$out, '2>', \$err,
		IPC::Run::timeout(150));
	push @waiters, [ $h, \$out, \$err ];
}
ok( $node->poll_query_until('postgres',
		"SELECT count(*) = 2 FROM pg_stat_activity WHERE query LIKE '%''idle'', 1, wait%' AND state = 'active'"),
	'two claimers wait on an empty queue');

# steady traffic: each transaction enqueues one message and, separately,
# moves one through both stages, recording what it completed
my $script = $node->basedir . '/traffic.sql';
open(my $fh, '>', $script) or die;
print $fh q{
\set k random(1, 8)
SELECT fqs_enqueue('traffic', 'm', 'k' || :k);
SELECT fqs_commit(id, receipt, 'r') FROM fqs_claim('traffic', 2);
WITH c AS (SELECT id, fifo_key, seq, fqs_complete(id, receipt) FROM fqs_claim_sequential('traffic', 2))
INSERT INTO ledger (id, fifo_key, seq) SELECT id, fifo_key, seq FROM c;
};
close $fh;
my ($pgb_out, $pgb_err) = ('', '');
my $pgbench = IPC::Run::start(
	[
		$node->installed_command('pgbench'), '-n', '-c', '3', '-j', '1',
		'-T', $TRAFFIC_S, '-f', $script, $node->connstr('postgres')
	],
	'<', \undef, '>', \$pgb_out, '2>', \$pgb_err,
	IPC::Run::timeout($TRAFFIC_S + 60));
sleep 2;

# eight forced rotations, each in its own transaction, during the traffic
my $rotated = 0;
my $tries = 0;
for my $r (1 .. 8)
{
	for my $try (1 .. 40)
	{
		$tries++;
		my $g = $node->safe_psql('postgres',
			"SET client_min_messages = warning; SELECT fqs_rotate(true)");
		if ($g ne '')
		{
			$rotated++;
			last;
		}
		select(undef, undef, undef, 0.1);
	}
}
is($rotated, 8, "eight rotations succeeded under load ($tries tries)");
my $still = $node->safe_psql('postgres',
	"SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%''idle'', 1, wait%' AND state = 'active'");
is($still, '2', 'the claimers were waiting all along');

eval { $pgbench->finish; };
if ($@)
{
	eval { $pgbench->kill_kill; };
	fail("pgbench did not end: $@");
}
my ($tx) = $pgb_out =~ /number of transactions actually processed: (\d+)/;
$tx //= 0;
ok($tx > 50, "traffic ran during the rotations ($tx transactions)")
  or diag "pgbench:\n$pgb_out\n$pgb_err";
unlike($pgb_err, qr/ERROR|aborted/, 'no traffic transaction failed')
  or diag $pgb_err;

# the stuck messages were copied forward, each in its state
is($node->safe_psql('postgres', $stuck_states), $before,
	'every stuck message is still there, in the same state');
is( $node->safe_psql('postgres',
		"SELECT fqs_commit($claimed_id, $claimed_receipt, 'late') IS NOT NULL"),
	't', 'the message claimed before the rotations commits with its receipt');

# drain the traffic queue and check the ledger
for my $i (1 .. 200)
{
	last if $node->safe_psql('postgres',
		"SELECT ready + claimed + processed + sequencing = 0 FROM fqs_queues WHERE queue = 'traffic'") eq 't';
	$node->safe_psql('postgres', q{
		SELECT fqs_commit(id, receipt, 'r') FROM fqs_claim('traffic', 100);
		WITH c AS (SELECT id, fifo_key, seq, fqs_complete(id, receipt)
		             FROM (SELECT * FROM fqs_claim_sequential('traffic', 100) ORDER BY fifo_key, seq) x)
		INSERT INTO ledger (id, fifo_key, seq) SELECT id, fifo_key, seq FROM c;
	});
}
my ($enq, $done, $dups) = split /\|/, $node->safe_psql('postgres', q{
	SELECT (SELECT done_total FROM fqs_queues WHERE queue = 'traffic'),
	       (SELECT count(*) FROM ledger),
	       (SELECT count(*) - count(DISTINCT id) FROM ledger)});
is($dups, '0', 'no message was completed twice');
is($done, $enq, "every message was completed ($done)");
is( $node->safe_psql('postgres', q{
		SELECT count(*) FROM (
		  SELECT seq, row_number() OVER (PARTITION BY fifo_key ORDER BY at, seq) AS n
		    FROM ledger) x WHERE seq <> n}),
	'0', 'per key, completions ran 1, 2, 3, ... in order');

# the waiters end with nothing
for my $w (@waiters)
{
	$node->safe_psql('postgres',
		"SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE query LIKE '%''idle'', 1, wait%' AND pid <> pg_backend_pid()");
	eval { $w->[0]->finish; };
}
$node->stop;
done_testing();
