# Copyright (c) 2026, fqs developers
#
# Receipts are fencing tokens, also across a crash: a claim taken before
# the server was killed with kill -9 whose lease then ran out and whose
# message was claimed again after the restart can no longer commit,
# complete, fail or extend; the new holder can.  Checked for both stages,
# and for a message that was already reclaimed before the crash.  A claim
# whose lease has not run out survives the restart and can still commit,
# and receipts handed out after the restart are new ones.
#
# Waits only for leases to run out (polling, no timing assertions).

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use FqsTest;

my $node = PostgreSQL::Test::Cluster->new('fence');
$node->init;
$node->append_conf('postgresql.conf', "log_min_messages = warning\n");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION fqs');
$node->safe_psql('postgres',
	"SELECT fqs_create_queue('fence', lease => '1 hour', max_attempts => 10)");

sub q1
{
	my ($sql) = @_;
	return $node->safe_psql('postgres', $sql);
}

# claim with the given lease; returns (id, receipt, attempt) of the one row
sub claim
{
	my ($fn, $lease) = @_;
	my $row = q1("SELECT id, receipt, attempt FROM $fn('fence', 1, '$lease')");
	return split /\|/, $row;
}

# run sql that must fail; returns its stderr
sub refused
{
	my ($sql, $name) = @_;
	my ($ret, $out, $err) = $node->psql('postgres', $sql);
	isnt($ret, 0, $name);
	like($err, qr/ERROR:/, "$name: with an error");
	note $err;
	return $err;
}

sub state_of
{
	my ($id) = @_;
	return q1("SELECT state, attempts FROM fqs_message_status($id)");
}

my $d = q1("SELECT fqs_enqueue('fence', 'm-d', 'd')");
my $a = q1("SELECT fqs_enqueue('fence', 'm-a', 'a')");
my $b = q1("SELECT fqs_enqueue('fence', 'm-b', 'b')");
my $c = q1("SELECT fqs_enqueue('fence', 'm-c', 'c')");

# d: claimed, lease runs out, claimed again -- all before the crash
my ($id, $rd1) = claim('fqs_claim', '1 second');
is($id, $d, 'd claimed first');
ok( $node->poll_query_until('postgres',
		"SELECT lease_until < now() FROM fqs.ready WHERE id = $d"),
	"d's first lease ran out");
my ($id2, $rd2, $att) = claim('fqs_claim', '1 hour');
is("$id2|$att", "$d|2", 'd claimed again before the crash (attempt 2)');

# a: claimed with a short lease; the crash outlives it
my ($ida, $ra) = claim('fqs_claim', '3 seconds');
is($ida, $a, 'a claimed with a short lease');

# b: committed, then held by the sequential stage with a short lease
my ($idb, $rb) = claim('fqs_claim', '1 hour');
is($idb, $b, 'b claimed');
q1("SELECT fqs_commit($b, $rb, 'r-b')");
my ($idbs, $rsb) = claim('fqs_claim_sequential', '3 seconds');
is($idbs, $b, 'b held by the sequential stage with a short lease');

# c: claimed with a long lease, which must survive the restart
my ($idc, $rc) = claim('fqs_claim', '1 hour');
is($idc, $c, 'c claimed with a long lease');

my @before = ($rd1, $rd2, $ra, $rb, $rsb, $rc);

# ---------------------------------------------------------------------
# kill -9 the postmaster (and the processes it leaves behind), restart
# ---------------------------------------------------------------------

crash_server($node);
start_after_crash($node, 'server went through crash recovery');

# ---------------------------------------------------------------------
# d: reclaimed before the crash; the first receipt stays fenced off
# ---------------------------------------------------------------------

is(state_of($d), 'claimed|2', 'd is still claimed (attempt 2) after the restart');
refused("SELECT fqs_commit($d, $rd1, 'stale')",
	'd: commit with the receipt from before the reclaim is refused');
refused("SELECT fqs_extend_lease($d, $rd1, '1 hour')",
	'd: extend with the old receipt is refused');
refused("SELECT fqs_fail($d, $rd1, 'stale')",
	'd: fail with the old receipt is refused');
is(state_of($d), 'claimed|2', 'd is unchanged by the refused calls');

# ---------------------------------------------------------------------
# a: lease runs out after the restart, another session reclaims it
# ---------------------------------------------------------------------

ok( $node->poll_query_until('postgres',
		"SELECT lease_until < now() FROM fqs.ready WHERE id = $a"),
	"a's lease from before the crash ran out");
my ($ida2, $ra2, $atta) = claim('fqs_claim', '1 hour');
is("$ida2|$atta", "$a|2", 'a reclaimed after the restart (attempt 2)');
ok(!grep({ $_ == $ra2 } @before), 'the new receipt was never handed out before the crash');

refused("SELECT fqs_commit($a, $ra, 'stale')",
	'a: commit with the pre-crash receipt is refused');
refused("SELECT fqs_extend_lease($a, $ra, '1 hour')",
	'a: extend with the pre-crash receipt is refused');
refused("SELECT fqs_fail($a, $ra, 'stale')",
	'a: fail with the pre-crash receipt is refused');
is(state_of($a), 'claimed|2', 'a is unchanged by the refused calls');

# ---------------------------------------------------------------------
# b: the sequential hold runs out after the restart and is taken again
# ---------------------------------------------------------------------

ok( $node->poll_query_until('postgres',
		"SELECT lease_until < now() FROM fqs.releasable WHERE receipt = $rsb"),
	"b's sequential hold from before the crash ran out");
my ($idb2, $rsb2, $attb) = claim('fqs_claim_sequential', '1 hour');
is("$idb2|$attb", "$b|2", 'b held again by the sequential stage (attempt 2)');
ok(!grep({ $_ == $rsb2 } @before, $ra2),
	'the new sequential receipt was never handed out before');

refused("SELECT fqs_complete($b, $rsb)",
	'b: complete with the pre-crash receipt is refused');
refused("SELECT fqs_extend_lease($b, $rsb, '1 hour')",
	'b: extend with the pre-crash receipt is refused');
refused("SELECT fqs_fail($b, $rsb, 'stale')",
	'b: fail with the pre-crash receipt is refused');
is(state_of($b), 'sequencing|2', 'b is unchanged by the refused calls');

# ---------------------------------------------------------------------
# The current holders finish; c's long lease survived the restart
# ---------------------------------------------------------------------

q1("SELECT fqs_complete($b, $rsb2)");
is((split /\|/, state_of($b))[0], 'done', 'b completes with its new receipt');

q1("SELECT fqs_commit($a, $ra2, 'r-a')");
q1("SELECT fqs_commit($d, $rd2, 'r-d')");
is((split /\|/, state_of($a))[0], 'processed', 'a commits with its new receipt');
is((split /\|/, state_of($d))[0], 'processed', 'd commits with its second receipt');

my ($ret) = $node->psql('postgres', "SELECT fqs_commit($c, $rc, 'r-c')");
is($ret, 0, 'c: a lease that has not run out survives the restart and commits');

# everything drains
my %got;
for my $round (1 .. 10)
{
	my $rows = q1("SELECT id, receipt, payload FROM fqs_claim_sequential('fence', 10, '1 hour')");
	last if $rows eq '';
	for my $line (split /\n/, $rows)
	{
		my ($i, $r, $p) = split /\|/, $line;
		q1("SELECT fqs_complete($i, $r)");
		$got{$i} = $p;
	}
}
is_deeply(\%got, { $a => 'r-a', $c => 'r-c', $d => 'r-d' },
	'the sequential stage releases the committed results');
is(q1("SELECT pen, ready, claimed, processed, sequencing, dead, done_total FROM fqs_queues WHERE queue = 'fence'"),
	'0|0|0|0|0|0|4', 'fqs_queues: all four done, nothing left');

$node->stop;
done_testing();
