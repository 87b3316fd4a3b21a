# Copyright (c) 2026, fqs developers
#
# A commit that makes n messages claimable wakes n waiting claimers, not
# all of them (shmem.c), counted by fqs.wake_slots().woken, the sleeps a
# wake-up ended:
#
#  - four claimers wait on a queue whose wake slot no other queue uses; an
#    enqueue of one message ends exactly one sleep, and that claimer gets
#    it; so do three more enqueues, one by one;
#  - a batch of as many messages as claimers wait wakes them all;
#  - two queues whose claimers share a slot: the slot is marked mixed while
#    both wait (the one that joins second wakes everybody once), and an
#    enqueue to the queue whose claimer came second wakes both, so that
#    claimer gets its message now, not at its next recheck; the mark goes
#    when the slot empties;
#  - every message is delivered exactly once.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use Time::HiRes qw(usleep);
use FindBin;
use lib $FindBin::RealBin;
use FqsTest;

my $node = preloaded_node('wake');
my $tmp = PostgreSQL::Test::Utils::tempdir;
$node->safe_psql('postgres', 'CREATE EXTENSION fqs');

# queues until two share a concurrent-stage slot; and one whose slot no
# other queue's stage uses
my ($qa, $qb, $qc);
for my $i (1 .. 200)
{
	$node->safe_psql('postgres', "SELECT fqs_create_queue('q$i')");
	next if $i < 2;
	my $pair = $node->safe_psql(
		'postgres', q{
SELECT a.name, b.name
  FROM fqs.wake_slots() wa JOIN fqs.queue a ON a.qid = wa.qid,
       fqs.wake_slots() wb JOIN fqs.queue b ON b.qid = wb.qid
 WHERE wa.stage = 'concurrent' AND wb.stage = 'concurrent'
   AND wa.slot = wb.slot AND wa.qid < wb.qid
 LIMIT 1});
	if ($pair ne '')
	{
		($qa, $qb) = split /\|/, $pair;
		last;
	}
}
ok(defined $qa, "two queues share a wake slot ($qa, $qb)");
$qc = $node->safe_psql(
	'postgres', q{
SELECT q.name FROM fqs.wake_slots() w JOIN fqs.queue q ON q.qid = w.qid
 WHERE w.stage = 'concurrent'
   AND (SELECT count(*) FROM fqs.wake_slots() o WHERE o.slot = w.slot) = 1
 ORDER BY q.qid LIMIT 1});
isnt($qc, '', "queue $qc has a wake slot of its own");

sub slot_state
{
	my ($q) = @_;
	return $node->safe_psql(
		'postgres', qq{
SELECT w.waiters || '|' || w.mixed || '|' || w.woken
  FROM fqs.wake_slots() w JOIN fqs.queue q ON q.qid = w.qid
 WHERE q.name = '$q' AND w.stage = 'concurrent'});
}

sub woken { return (split /\|/, slot_state($_[0]))[2]; }

sub wait_waiters
{
	my ($q, $n, $what) = @_;
	ok( $node->poll_query_until(
			'postgres', qq{
SELECT w.waiters FROM fqs.wake_slots() w JOIN fqs.queue q ON q.qid = w.qid
 WHERE q.name = '$q' AND w.stage = 'concurrent'}, $n),
		$what);
	return;
}

my %procs;
my $nclient = 0;

sub start_waiter
{
	my ($q) = @_;
	my $name = sprintf('w%02d_%s', ++$nclient, $q);
	my $sql = "$tmp/$name.sql";
	open(my $fh, '>', $sql) or die;
	print $fh "SELECT payload FROM fqs_claim('$q', 1, wait => '120 s');\n";
	close $fh;
	$procs{$name} =
	  start_psql_file($node, $node->connstr('postgres'), $sql, "$tmp/$name");
	return $name;
}

sub enqueue
{
	my ($q, @payloads) = @_;
	$node->safe_psql('postgres',
		    "SELECT fqs_enqueue_batch('$q', ARRAY["
		  . join(', ', map { "'$_'" } @payloads)
		  . "], ARRAY["
		  . join(', ', map { "'k-$_'" } @payloads)
		  . "])");
	return;
}

# --- one message wakes one claimer
start_waiter($qc) for 1 .. 4;
wait_waiters($qc, 4, 'four claimers wait');
usleep(300_000);
my $w0 = woken($qc);
enqueue($qc, 'c1');
wait_waiters($qc, 3, 'one claimer took the message');
usleep(300_000);
is(woken($qc) - $w0, 1, 'the enqueue of one message ended one sleep, not four');

for my $i (2 .. 4)
{
	$w0 = woken($qc);
	enqueue($qc, "c$i");
	wait_waiters($qc, 4 - $i, "message c$i taken");
	usleep(300_000);
	is(woken($qc) - $w0, 1, "message c$i ended one sleep");
}

# --- as many messages as claimers wake them all
start_waiter($qc) for 1 .. 3;
wait_waiters($qc, 3, 'three claimers wait again');
usleep(300_000);
$w0 = woken($qc);
enqueue($qc, 'c5', 'c6', 'c7');
wait_waiters($qc, 0, 'a batch of three served all three');
is(woken($qc) - $w0, 3, 'and ended their three sleeps');

# --- two queues in one slot: b's claimer first, then a's
start_waiter($qb);
wait_waiters($qb, 1, "a claimer waits on $qb");
start_waiter($qa);
wait_waiters($qa, 2, "a claimer of $qa joins the slot");
like(slot_state($qa), qr/^2\|true\|/, 'the slot is marked mixed');
usleep(300_000);
$w0 = woken($qa);
enqueue($qa, 'a1');
wait_waiters($qa, 1, "$qa\'s claimer took its message");
usleep(300_000);
is(woken($qa) - $w0, 2, 'in a mixed slot the enqueue woke both claimers');
like(slot_state($qb), qr/^1\|true\|/, 'the slot stays mixed while anyone waits');
enqueue($qb, 'b1');
wait_waiters($qb, 0, "$qb\'s claimer took its message");
like(slot_state($qb), qr/^0\|false\|/, 'the mark went with the last claimer');

# --- every message delivered exactly once
my %got;
for my $name (sort keys %procs)
{
	$procs{$name}->finish;
	my $out = slurp_file("$tmp/$name.out");
	chomp $out;
	$got{$out}++;
	my ($q) = $name =~ /_(q\d+)$/;
	my $want = $q eq $qa ? qr/^a/ : $q eq $qb ? qr/^b/ : qr/^c/;
	like($out, $want, "$name got a message of its own queue");
}
is_deeply(
	\%got,
	{ map { ($_ => 1) } qw(c1 c2 c3 c4 c5 c6 c7 a1 b1) },
	'every message delivered exactly once');
for my $name (sort keys %procs)
{
	unlike(slurp_file("$tmp/$name.err"), qr/ERROR|FATAL/, "$name: no error");
}

$node->stop;
done_testing();
