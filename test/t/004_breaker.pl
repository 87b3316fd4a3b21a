# Copyright (c) 2026, fqs developers
#
# The depth breaker and holding pen under a real burst, and across a crash.
#
# Burst: a queue with max_ready 50 gets 1000 messages over 20 keys from 4
# concurrent producers, while 2 consumers claim and commit and 1 sequential
# consumer claims and completes in order, logging each completion (key,
# seq) in the same transaction as its fqs_complete.  To make the pen
# certain to fill, the burst starts with 100 messages before any consumer
# runs (the worker then opens the breaker); after that producers and
# consumers run together.  Checks: the breaker opened, the pen was seen
# non-empty, every message went through both stages exactly once, each
# key was completed in seq order (and each producer's messages of a key in
# send order), the breaker closed at the end with an empty pen, and the
# 'breaker opened' / 'breaker closed' LOG lines come in pairs, a few of
# them, not one per message.  The pen peak and the times to drain are
# printed with diag.
#
# Crash: with the breaker open and messages in pen, ready, claimed,
# processed and sequencing states, kill -9 the postmaster (and what it
# leaves behind), restart, and check that every message is still there in
# the same state, that the claims taken before the crash can still be
# committed/completed, and that after consumers resume the pen drains and
# everything completes in per-key order.
#
# No timing assertions; every wait is polled with a generous limit.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use Time::HiRes qw(usleep time);
use FindBin;
use lib $FindBin::RealBin;
use FqsTest;

my $tmp = PostgreSQL::Test::Utils::tempdir;
my $T   = $PostgreSQL::Test::Utils::timeout_default;

my $N_PRODUCERS = 4;
my $N_KEYS      = 20;
my $N_TOTAL     = 1000;
my $PER_PRODUCER = $N_TOTAL / $N_PRODUCERS;
my $N_FIRST     = 25;      # per producer, before consumers start
my $MAX_READY   = 50;
my $GATE        = 7001;    # advisory lock that holds back the rest

my $node = preloaded_node('breaker');

$node->safe_psql('postgres', 'CREATE EXTENSION fqs');
ok( $node->poll_query_until('postgres',
		"SELECT has_extension FROM fqs_workers() WHERE datname = 'postgres'"),
	'the worker of the database runs');

$node->safe_psql(
	'postgres', qq{
SELECT fqs_create_queue('burst', max_ready => $MAX_READY, lease => '10 minutes', max_attempts => 100);
CREATE TABLE seqlog (n bigserial PRIMARY KEY, id bigint, fifo_key text, seq bigint,
                     payload text, t timestamptz DEFAULT clock_timestamp());
CREATE TABLE stop_flag (x int);
CREATE TABLE samples (t timestamptz, pen bigint, ready bigint, claimed bigint,
                      breaker_open boolean, done bigint);
CREATE TABLE marks (name text, t timestamptz DEFAULT clock_timestamp());
});

my %procs;
sub start_psql
{
	my ($name, $script) = @_;
	PostgreSQL::Test::Utils::append_to_file("$tmp/$name.sql", $script);
	$procs{$name} = start_psql_file($node,
		$node->connstr('postgres') . " application_name=burst_$name",
		"$tmp/$name.sql", "$tmp/$name",
		on_error_stop => 1, timeout => 3 * $T);
}

my $stop_check = <<'EOS';
SELECT EXISTS (SELECT 1 FROM stop_flag) AS fin \gset
\if :fin
\q
\endif
EOS
my $gate_pass = "SELECT pg_advisory_lock_shared($GATE);\nSELECT pg_advisory_unlock_shared($GATE);\n";

# ---------------------------------------------------------------------
# The burst
# ---------------------------------------------------------------------

# producers: payload p<p>-<n>, n counting in send order; keys spread so
# that every producer writes to every key
my %key_of;
for my $p (1 .. $N_PRODUCERS)
{
	my $script = '';
	for my $n (1 .. $PER_PRODUCER)
	{
		my $key = 'k' . (($n * 7 + $p * 3) % $N_KEYS);
		$key_of{"p$p-$n"} = $key;
		$script .= $gate_pass if $n == $N_FIRST + 1;
		$script .= "SELECT fqs_enqueue('burst', 'p$p-$n', '$key');\n";
	}
	$script .= "INSERT INTO marks (name) VALUES ('producer $p done');\n";
	PostgreSQL::Test::Utils::append_to_file("$tmp/producer$p.script", $script);
}

# consumer1 commits what it claimed in one transaction, consumer2 each
# message in its own; both must work side by side (no deadlock between
# batches of commits over the same keys in different orders)
my %commit_style = (
	1 => "SELECT fqs_commit(id, receipt, 'r:' || payload) FROM (SELECT * FROM c_held ORDER BY id OFFSET 0) h;\n",
	2 => "SELECT format('SELECT fqs_commit(%s, %s, %L)', id, receipt, 'r:' || payload) FROM c_held ORDER BY id \\gexec\n");
my %consumer = map {;
	$_ => "CREATE TEMP TABLE c_held (id bigint, receipt bigint, payload text);\n"
	  . $gate_pass
	  . ("DELETE FROM c_held;\n"
		  . "INSERT INTO c_held SELECT id, receipt, payload FROM fqs_claim('burst', 5, wait => '200ms');\n"
		  . $commit_style{$_}
		  . $stop_check) x 4000
} 1, 2;

# the sequential consumer completes each message in its own transaction,
# together with its log row
my $releaser = "CREATE TEMP TABLE s_held (id bigint, receipt bigint, fifo_key text, seq bigint, payload text);\n"
  . $gate_pass . (<<"EOS" . $stop_check) x 4000;
DELETE FROM s_held;
INSERT INTO s_held SELECT id, receipt, fifo_key, seq, payload FROM fqs_claim_sequential('burst', 10, wait => '200ms');
SELECT format('INSERT INTO seqlog (id, fifo_key, seq, payload) SELECT %s, %L, %s, %L FROM (SELECT fqs_complete(%s, %s)) c', id, fifo_key, seq, payload, id, receipt) FROM s_held ORDER BY fifo_key, seq \\gexec
EOS

my $sampler = (<<'EOS' . $stop_check) x 8000;
INSERT INTO samples SELECT clock_timestamp(), pen, ready, claimed, breaker_open, (SELECT count(*) FROM seqlog) FROM fqs_queues WHERE queue = 'burst';
SELECT pg_sleep(0.01);
EOS

# hold the gate, then start everyone
my $gate = $node->background_psql('postgres');
$gate->set_query_timer_restart();
$gate->query_safe("SELECT pg_advisory_lock($GATE)");

my $logpos = -s $node->logfile;
$node->safe_psql('postgres', "INSERT INTO marks (name) VALUES ('start')");
my $t_start = time;
start_psql('sampler', $sampler);
start_psql("producer$_", slurp_file("$tmp/producer$_.script")) for 1 .. $N_PRODUCERS;
start_psql("consumer$_", $consumer{$_}) for 1 .. 2;
start_psql('releaser', $releaser);

ok( $node->poll_query_until('postgres',
		"SELECT ready >= $MAX_READY AND breaker_open FROM fqs_queues WHERE queue = 'burst'"),
	'before the consumers start, the ready depth reaches max_ready and the breaker opens');
$node->wait_for_log(qr/fqs: breaker opened for queue "burst"/, $logpos);
pass('LOG: breaker opened');

# the first part of the burst is in, and the 3 consumers wait at the gate
ok( $node->poll_query_until('postgres',
		"SELECT count(*) = $N_PRODUCERS + 3 FROM pg_stat_activity "
		  . "WHERE application_name ~ '^burst_(producer|consumer|releaser)' AND wait_event_type = 'Lock'"),
	'producers and consumers wait at the gate');
is( $node->safe_psql('postgres',
		"SELECT ready + pen, ready >= $MAX_READY FROM fqs_queues WHERE queue = 'burst'"),
	($N_PRODUCERS * $N_FIRST) . '|t',
	'the first part of the burst is in, at least max_ready of it ready');
$node->safe_psql('postgres', "INSERT INTO marks (name) VALUES ('gate')");
$gate->query_safe("SELECT pg_advisory_unlock($GATE)");
my $t_gate = time;

# wait for every message to be completed (or a client to die)
my $all_done = 0;
my $deadline = time + 2 * $T;
while (time < $deadline)
{
	my ($done, $clients) = split /\|/, $node->safe_psql('postgres',
		"SELECT (SELECT count(*) FROM seqlog), "
		  . "(SELECT count(*) FROM pg_stat_activity WHERE application_name ~ '^burst_(consumer|releaser|sampler)')");
	if ($done >= $N_TOTAL) { $all_done = 1; last; }
	if ($clients < 4)
	{
		diag "a consumer stopped early ($clients of 4 running, $done done)";
		last;
	}
	usleep(100_000);
}
my $t_done = time;
ok($all_done, "all $N_TOTAL messages went through the sequential stage");

ok( $node->poll_query_until('postgres',
		"SELECT NOT breaker_open AND pen = 0 FROM fqs_queues WHERE queue = 'burst'"),
	'the breaker closes at the end, with an empty pen');

$node->safe_psql('postgres', 'INSERT INTO stop_flag VALUES (1)');
finish_clients(\%procs, $tmp);
$gate->quit;

# what the burst looked like
{
	my $s = $node->safe_psql(
		'postgres', q{
WITH g AS (SELECT t FROM marks WHERE name = 'gate'),
     st AS (SELECT t FROM marks WHERE name = 'start'),
     lastpen AS (SELECT max(t) AS t FROM samples WHERE pen > 0),
     drained AS (SELECT min(s.t) AS t FROM samples s, lastpen WHERE s.t > lastpen.t AND s.pen = 0)
SELECT (SELECT max(pen) FROM samples),
       (SELECT count(*) FROM samples),
       (SELECT count(*) FROM samples WHERE pen > 0),
       round(extract(epoch FROM (SELECT max(t) FROM marks WHERE name LIKE 'producer%') - (SELECT t FROM st))::numeric, 2),
       round(extract(epoch FROM (SELECT t FROM drained) - (SELECT t FROM st))::numeric, 2),
       round(extract(epoch FROM (SELECT max(t) FROM seqlog) - (SELECT t FROM st))::numeric, 2),
       round(extract(epoch FROM (SELECT breaker_changed_at FROM fqs.queue WHERE name = 'burst') - (SELECT t FROM st))::numeric, 2),
       round(extract(epoch FROM (SELECT t FROM g) - (SELECT t FROM st))::numeric, 2),
       (SELECT max(ready) FROM samples)
});
	my ($peak, $nsamples, $npen, $t_prod, $t_drain, $t_all, $t_closed, $t_g, $max_ready_seen) =
	  split /\|/, $s;
	cmp_ok($peak, '>', 0, "the pen was seen holding messages (peak $peak)");
	diag "burst of $N_TOTAL messages, max_ready $MAX_READY, 4 producers, 2 consumers + 1 sequential: "
	  . "pen peak $peak (in $npen of $nsamples samples), max ready seen $max_ready_seen; "
	  . "seconds from the start: consumers released at $t_g, producers done at $t_prod, "
	  . "pen drained at $t_drain, breaker closed at $t_closed, all $N_TOTAL completed at $t_all";
}

# the LOG lines: once per opening and closing
{
	my $opened = count_log($node, qr/fqs: breaker opened for queue "burst"/, $logpos);
	my $closed = count_log($node, qr/fqs: breaker closed for queue "burst"/, $logpos);
	cmp_ok($opened, '>=', 1, "'breaker opened' logged ($opened)");
	is($closed, $opened, "'breaker closed' logged as often as 'breaker opened' ($closed)");
	cmp_ok($opened, '<=', $N_TOTAL / $MAX_READY, 'a few times, not once per message');
	diag "breaker opened $opened time(s), closed $closed time(s)";
}

# exactly once, in order
my $qid = $node->safe_psql('postgres', "SELECT qid FROM fqs.queue WHERE name = 'burst'");
{
	my $rows = $node->safe_psql(
		'postgres', qq{
SELECT l.id, l.fifo_key, l.seq, l.payload, m.payload, m.seq, h.fifo_key
  FROM seqlog l
  LEFT JOIN fqs.message m ON m.id = l.id
  LEFT JOIN fqs.key_head h ON h.kid = m.kid
 ORDER BY l.n});
	my (%seen, %seqs, $dups, $mismatch, %sent);
	($dups, $mismatch) = (0, 0);
	for my $line (split /\n/, $rows)
	{
		my ($id, $key, $seq, $res, $payload, $mseq, $mkey) = split /\|/, $line, -1;
		$dups++ if $seen{$id}++;
		$mismatch++
		  unless defined $payload && $res eq "r:$payload" && $mseq == $seq && $mkey eq $key
		  && $key_of{$payload} eq $key;
		push @{ $seqs{$key} }, [ $seq, $payload ];
		$sent{$payload} = 1 if defined $payload;
	}
	is(scalar(keys %seen), $N_TOTAL, "$N_TOTAL distinct messages completed");
	is($dups, 0, 'none completed twice');
	is($mismatch, 0, 'each completion carries its own committed result, key and seq');
	is(scalar(grep { !$sent{$_} } keys %key_of), 0, 'every message sent was completed');
	is( $node->safe_psql('postgres',
			"SELECT count(*) FROM fqs.message WHERE qid = $qid"),
		$N_TOTAL, "the queue holds exactly the $N_TOTAL messages sent");

	my ($bad_keys, $bad_prod) = (0, 0);
	for my $key (sort keys %seqs)
	{
		my @s = map { $_->[0] } @{ $seqs{$key} };
		unless (join(',', @s) eq join(',', 1 .. scalar @s))
		{
			$bad_keys++;
			diag "key $key completed in order: @s[0 .. ($#s < 30 ? $#s : 29)]";
		}
		my %last;
		for my $e (@{ $seqs{$key} })
		{
			my ($p, $n) = $e->[1] =~ /^p(\d+)-(\d+)$/;
			$bad_prod++ if defined $last{$p} && $n <= $last{$p};
			$last{$p} = $n;
		}
	}
	is(scalar(keys %seqs), $N_KEYS, "all $N_KEYS keys used");
	is($bad_keys, 0, 'every key was completed in seq order 1..N, without gaps');
	is($bad_prod, 0, 'per key, each producer\'s messages came out in send order');
	is( $node->safe_psql('postgres',
			"SELECT count(*) FROM fqs.processed WHERE qid = $qid AND attempts <> 1"),
		'0', 'each message was delivered once by the concurrent stage');
}
is( $node->safe_psql('postgres',
		"SELECT breaker_open, pen, ready, claimed, processed, sequencing, dead, done_total "
		  . "FROM fqs_queues WHERE queue = 'burst'"),
	"f|0|0|0|0|0|0|$N_TOTAL", "fqs_queues: breaker closed, all $N_TOTAL done, nothing left");

# ---------------------------------------------------------------------
# kill -9 of the postmaster with messages in pen, ready and claimed states
# ---------------------------------------------------------------------

sub q1 { return $node->safe_psql('postgres', $_[0]); }

# no pen while the first 20 arrive (an enqueue checks the depth itself, so
# with max_ready 10 set already, some of them would go to the pen); then
# max_ready 10: the breaker opens and the next 20 go to the pen
q1("SELECT fqs_create_queue('crashq', max_ready => 0, lease => '1 hour', max_attempts => 100)");
my @CK = map { "c$_" } 0 .. 3;
my @ids;
my %cid_key;
sub enqueue_crashq
{
	my ($from, $to) = @_;
	my $sql = join '', map { "SELECT fqs_enqueue('crashq', 'm$_', 'c" . ($_ % 4) . "');\n" } $from .. $to;
	my @new = split /\n/, q1($sql);
	for my $i (0 .. $#new)
	{
		push @ids, $new[$i];
		$cid_key{ $new[$i] } = 'c' . (($from + $i) % 4);
	}
}
enqueue_crashq(1, 20);
q1("SELECT fqs_alter_queue('crashq', max_ready => 10)");
ok($node->poll_query_until('postgres', "SELECT breaker_open FROM fqs_queues WHERE queue = 'crashq'"),
	'crashq: 20 ready messages open the breaker (max_ready 10)');
enqueue_crashq(21, 40);
is(q1("SELECT pen, ready FROM fqs_queues WHERE queue = 'crashq'"), '20|20',
	'crashq: the next 20 wait in the pen');

# claim 6, commit 3 of them, hold one key in the sequential stage
my @claims = map { [ split /\|/ ] } split /\n/,
  q1("SELECT id, receipt FROM fqs_claim('crashq', 6)");
is(scalar(@claims), 6, 'crashq: 6 claimed');
q1("SELECT fqs_commit($_->[0], $_->[1], 'r:' || $_->[0])") for @claims[0 .. 2];
my @still_claimed = @claims[3 .. 5];
my ($sid, $sreceipt, $skey, $sseq) = split /\|/,
  q1("SELECT id, receipt, fifo_key, seq FROM fqs_claim_sequential('crashq', 1)");
ok(defined $sreceipt, "crashq: key $skey held by the sequential stage");
is( q1("SELECT breaker_open, pen, ready, claimed, processed, sequencing FROM fqs_queues WHERE queue = 'crashq'"),
	't|20|14|3|2|1', 'crashq before the crash: pen 20, ready 14, claimed 3, processed 2, sequencing 1');

my $state_sql = "SELECT m.id, s.state FROM fqs.message m, fqs_message_status(m.id) s "
  . "WHERE m.qid = (SELECT qid FROM fqs.queue WHERE name = 'crashq') ORDER BY m.id";
my %before = map { split /\|/ } split /\n/, q1($state_sql);
is(scalar(keys %before), 40, 'crashq: 40 messages before the crash');

crash_server($node);
my $crashpos =
  start_after_crash($node, 'crash recovery after kill -9 of the postmaster');

{
	my %after = map { split /\|/ } split /\n/, q1($state_sql);
	is(scalar(keys %after), 40, 'crashq: all 40 messages are still there');
	my @changed = grep { !defined $after{$_} || $after{$_} ne $before{$_} } sort { $a <=> $b } keys %before;
	is(scalar(@changed), 0, 'crashq: each is in the same state as before the crash')
	  or diag join(', ', map { "$_: $before{$_} -> " . ($after{$_} // 'missing') } @changed);
	my %count;
	$count{$_}++ for values %after;
	is(join(',', map { "$_=" . ($count{$_} // 0) } qw(pen ready claimed processed sequencing)),
		'pen=20,ready=14,claimed=3,processed=2,sequencing=1',
		'crashq: pen, ready, claimed, processed and sequencing states all survived');
	is(q1("SELECT breaker_open FROM fqs_queues WHERE queue = 'crashq'"), 't',
		'crashq: the breaker is still open');
}
ok( $node->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'fqs worker' AND datname = 'postgres'"),
	'the worker is back after the restart');

# the claims from before the crash still hold
{
	my $ok = 1;
	for my $c (@still_claimed)
	{
		my ($ret, $o, $e) = $node->psql('postgres', "SELECT fqs_commit($c->[0], $c->[1], 'r:' || $c->[0])");
		$ok = 0, diag $e if $ret != 0;
	}
	ok($ok, 'crashq: the 3 claims taken before the crash commit with their receipts');
	my ($ret, $o, $e) = $node->psql('postgres', "SELECT fqs_complete($sid, $sreceipt)");
	is($ret, 0, 'crashq: the sequential hold from before the crash completes') or diag $e;
}

# consumers resume: drain both stages
my %released = ($skey => [$sseq]);
{
	my $deadline = time + 2 * $T;
	my ($ok, $errors) = (0, '');
	while (time < $deadline)
	{
		my $rows = q1("SELECT id, receipt FROM fqs_claim('crashq', 4, wait => '500ms')");
		my $sql = join '', map { my ($i, $r) = split /\|/; "SELECT fqs_commit($i, $r, 'r:$i');\n" }
		  split /\n/, $rows;
		$rows = q1("SELECT id, receipt, fifo_key, seq FROM fqs_claim_sequential('crashq', 10)");
		my @batch;
		for my $line (split /\n/, $rows)
		{
			my ($i, $r, $k, $s) = split /\|/, $line, -1;
			$sql .= "SELECT fqs_complete($i, $r);\n";
			push @batch, [ $k, $s ];
		}
		if ($sql ne '')
		{
			my ($ret, $o, $e) = $node->psql('postgres', $sql, on_error_stop => 1);
			if ($ret != 0) { $errors = $e; last; }
			push @{ $released{ $_->[0] } }, $_->[1] for @batch;
		}
		if (q1("SELECT done_total FROM fqs_queues WHERE queue = 'crashq'") == 40)
		{
			$ok = 1;
			last;
		}
	}
	ok($ok, 'crashq: after the restart every message was claimed, committed and completed')
	  or diag $errors;
}
for my $key (@CK)
{
	my $n = grep { $cid_key{$_} eq $key } @ids;
	is_deeply($released{$key} || [], [ 1 .. $n ], "crashq key $key: completed in seq order 1..$n");
}
ok( $node->poll_query_until('postgres',
		"SELECT NOT breaker_open FROM fqs_queues WHERE queue = 'crashq'"),
	'crashq: the breaker closes once the pen is drained');
is( q1("SELECT pen, ready, claimed, processed, sequencing, dead, done_total FROM fqs_queues WHERE queue = 'crashq'"),
	'0|0|0|0|0|0|40', 'crashq: all 40 done, nothing lost, nothing left');
is(q1("SELECT count(*) FROM fqs.message WHERE qid = (SELECT qid FROM fqs.queue WHERE name = 'crashq')"),
	'40', 'crashq: no message appeared twice');
cmp_ok(count_log($node, qr/fqs: breaker closed for queue "crashq"/, $crashpos), '==', 1,
	'crashq: breaker closed logged once');

$node->stop;
done_testing();
