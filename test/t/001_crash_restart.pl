# Copyright (c) 2026, fqs developers
#
# Crash the server with kill -9 in the middle of a concurrent two-stage
# workload, restart it, and check that
#  - every enqueue whose COMMIT was acknowledged is still there, each
#    producer transaction is all-or-nothing, and what survived of a
#    producer is a prefix of what it sent;
#  - per key the seqs are 1..N without gaps or duplicates, and each
#    producer's messages to a key carry increasing seqs in send order;
#  - acknowledged fqs_commit and fqs_complete calls survived, and the
#    bookkeeping tables agree with each other (no stuck key);
#  - after the restart the pipeline still drains: everything is claimed and
#    committed, then released by the sequential stage strictly in seq order
#    per key, ending with fqs_queues showing every message done and nothing
#    else left.
#
# The crash: SIGKILL to the postmaster, then SIGKILL to every process left
# in its process group (the backends), so that no orphaned backend can go
# on committing after the "crash".  (Cluster.pm runs nodes with fsync = off;
# that does not matter here: the kernel keeps what was written, only the
# server processes die.)
#
# Nothing here depends on timing: the crash point is chosen by progress
# (a number of completed messages), and all assertions are about what the
# clients were told versus what the restarted server holds.

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

my $QUEUE          = 'crashq';
my @KEYS           = ('', 'k1', 'k2', 'k3', 'k4');
my $N_PRODUCERS    = 4;
my $PRODUCER_TXNS  = 20000;    # far more than can run before the crash
my $CONSUMER_LOOPS = 20000;
my $CRASH_AFTER_DONE = 400;    # crash once this many messages completed
my $LEASE          = '2 seconds';   # short, so orphaned claims come back soon
# a key's last seq as fqs_enqueue reads it (src/enqueue.c), for key_tail t
# joined to key_head h: its newest stored message's, else its head
my $KEY_TAIL = 'GREATEST(t.last_seq, COALESCE((SELECT max(m.seq) FROM fqs.message m '
  . 'WHERE m.kid = t.kid), h.head_seq))';

my $node = PostgreSQL::Test::Cluster->new('crash');
$node->init;
$node->append_conf(
	'postgresql.conf', qq(
max_connections = 40
log_statement = none
log_min_messages = warning
));
$node->start;

$node->safe_psql('postgres', 'CREATE EXTENSION fqs');
# max_attempts is generous: an expired lease caused by the crash (or by a
# slow test machine) must not turn a message dead.
$node->safe_psql('postgres',
	"SELECT fqs_create_queue('$QUEUE', lease => '$LEASE', max_attempts => 1000)");

my $tmp = PostgreSQL::Test::Utils::tempdir;
my $connstr = $node->connstr('postgres');

# ---------------------------------------------------------------------
# Workload scripts
# ---------------------------------------------------------------------

# A tiny deterministic PRNG, so the workload is the same on every run.
sub lcg
{
	my ($state) = @_;
	$$state = ($$state * 1103515245 + 12345) % 2147483648;
	return $$state >> 8;
}

sub sql_lit
{
	my ($s) = @_;
	$s =~ s/'/''/g;
	return "'$s'";
}

# Producer p: transactions of three shapes (single enqueue, two enqueues in
# ascending key order, a batch of three with keys in any order).  After each
# COMMIT returned, psql echoes "ack <payload>...".  Payload "p<p>-<n>" with
# n counting the producer's messages in send order.
# Returns the list of transactions, each a list of [payload, key].
my %txns;    # producer => [ [ [payload, key], ... ], ... ]
my %key_of;  # payload => key
my %txn_of;  # payload => [producer, txn index]

for my $p (1 .. $N_PRODUCERS)
{
	my $rng = 7919 * $p;
	my $n   = 0;
	my $script = '';
	my @list;
	for my $t (0 .. $PRODUCER_TXNS - 1)
	{
		my $shape = $t % 3;
		my $count = $shape + 1;
		my @keys = map { $KEYS[ lcg(\$rng) % @KEYS ] } 1 .. $count;
		# separate enqueue calls take key locks in ascending order (as a
		# well-behaved client would); a batch sorts its keys itself
		@keys = sort @keys if $shape == 1;
		my @msgs = map { [ 'p' . $p . '-' . ++$n, $_ ] } @keys;

		$script .= "BEGIN;\n";
		if ($shape == 2)
		{
			$script .= sprintf(
				"SELECT fqs_enqueue_batch('%s', ARRAY[%s], ARRAY[%s]);\n",
				$QUEUE,
				join(',', map { sql_lit($_->[0]) } @msgs),
				join(',', map { sql_lit($_->[1]) } @msgs));
		}
		else
		{
			$script .= sprintf("SELECT fqs_enqueue('%s', %s, %s);\n",
				$QUEUE, sql_lit($_->[0]), sql_lit($_->[1]))
			  for @msgs;
		}
		$script .= "COMMIT;\n\\echo ack " . join(' ', map { $_->[0] } @msgs) . "\n";

		for my $m (@msgs)
		{
			$key_of{ $m->[0] } = $m->[1];
			$txn_of{ $m->[0] } = [ $p, $t ];
		}
		push @list, [ map { $_->[0] } @msgs ];
	}
	$txns{$p} = \@list;
	PostgreSQL::Test::Utils::append_to_file("$tmp/producer$p.sql", $script);
}

# Concurrent-stage consumer: claim up to 3, then commit each in its own
# transaction (\gexec), echoing "committed|<id>|" when the commit returned.
{
	my $loop = <<"EOS";
DELETE FROM c_held;
INSERT INTO c_held SELECT id, receipt, payload FROM fqs_claim('$QUEUE', 3, '$LEASE');
SELECT count(*) = 0 AS idle FROM c_held \\gset
\\if :idle
SELECT pg_sleep(0.01);
\\else
SELECT format('SELECT %L, %s, fqs_commit(%s, %s, %L)', 'committed', id, id, receipt, 'r:' || payload) FROM c_held ORDER BY id \\gexec
\\endif
EOS
	PostgreSQL::Test::Utils::append_to_file("$tmp/committer.sql",
		"CREATE TEMP TABLE c_held (id bigint, receipt bigint, payload text);\n"
		  . ($loop x $CONSUMER_LOOPS));
}

# Sequential-stage consumers: claim runs of up to 5 messages, then complete
# them in seq order per key, either all in one statement (mode "stmt") or
# each in its own transaction (mode "each").  A completion is logged as
# "done|<key>|<seq>|" once its statement returned.
for my $mode ('stmt', 'each')
{
	my $complete =
	  $mode eq 'stmt'
	  ? "SELECT 'done', fifo_key, seq, fqs_complete(id, receipt) FROM (SELECT * FROM s_held ORDER BY fifo_key, seq OFFSET 0) h;\n"
	  : "SELECT format('SELECT %L, %L, %s, fqs_complete(%s, %s)', 'done', fifo_key, seq, id, receipt) FROM s_held ORDER BY fifo_key, seq \\gexec\n";
	my $loop = <<"EOS";
DELETE FROM s_held;
INSERT INTO s_held SELECT id, receipt, fifo_key, seq FROM fqs_claim_sequential('$QUEUE', 5, '$LEASE');
SELECT count(*) = 0 AS idle FROM s_held \\gset
\\if :idle
SELECT pg_sleep(0.01);
\\else
$complete\\endif
EOS
	PostgreSQL::Test::Utils::append_to_file("$tmp/releaser_$mode.sql",
		"CREATE TEMP TABLE s_held (id bigint, receipt bigint, fifo_key text, seq bigint);\n"
		  . ($loop x $CONSUMER_LOOPS));
}

# ---------------------------------------------------------------------
# Run the workload and crash the server in the middle of it
# ---------------------------------------------------------------------

my %procs;
sub start_psql
{
	my ($name, $script, $stop_on_error) = @_;
	# bounded: a client that never ends fails the test instead of hanging it
	$procs{$name} = start_psql_file($node, $connstr, $script, "$tmp/$name",
		on_error_stop => $stop_on_error,
		timeout => 2 * $PostgreSQL::Test::Utils::timeout_default);
}

start_psql("producer$_", "$tmp/producer$_.sql", 1) for 1 .. $N_PRODUCERS;
start_psql("committer$_", "$tmp/committer.sql", 0) for 1 .. 2;
start_psql("releaser_$_", "$tmp/releaser_$_.sql", 0) for ('stmt', 'each');

ok( $node->poll_query_until(
		'postgres',
		"SELECT done_total >= $CRASH_AFTER_DONE FROM fqs_queues WHERE queue = '$QUEUE'"),
	"workload made progress ($CRASH_AFTER_DONE messages completed)");

my $pre = $node->safe_psql('postgres',
	"SELECT ready, claimed, processed, sequencing, done_total FROM fqs_queues WHERE queue = '$QUEUE'");
note "before the crash (ready|claimed|processed|sequencing|done): $pre";

my $still_running = grep { $procs{$_}->pumpable } sort keys %procs;
note "$still_running of " . scalar(keys %procs) . " clients running at the crash";

# kill -9 the postmaster, then every server process left behind
crash_server($node);

# the clients notice the lost connection and exit
for my $name (sort keys %procs)
{
	eval { $procs{$name}->finish; };
	if ($@)
	{
		eval { $procs{$name}->kill_kill; };
		BAIL_OUT("client $name did not end after the crash: $@");
	}
}

start_after_crash($node, 'server went through crash recovery');

# ---------------------------------------------------------------------
# What the clients were told
# ---------------------------------------------------------------------

my %acked;          # payload => 1
my %acked_txns;     # producer => number of acknowledged transactions
for my $p (1 .. $N_PRODUCERS)
{
	my $out = slurp_file("$tmp/producer$p.out");
	my $err = slurp_file("$tmp/producer$p.err");
	my $n   = 0;
	for my $line (split /\n/, $out)
	{
		next unless $line =~ /^ack (.*)$/;
		$acked{$_} = 1 for split / /, $1;
		$n++;
	}
	$acked_txns{$p} = $n;
	unlike($err, qr/ERROR:/, "producer $p stopped only because of the crash");
	cmp_ok($n, '<', $PRODUCER_TXNS, "producer $p was cut off by the crash");
	note "producer $p: $n transactions acknowledged";
}

my %acked_commit;   # id => count
my @acked_done;     # [releaser, key, seq] in log order per releaser
for my $name (qw(committer1 committer2))
{
	for my $line (split /\n/, slurp_file("$tmp/$name.out"))
	{
		$acked_commit{$1}++ if $line =~ /^committed\|(\d+)\|/;
	}
}
for my $name (qw(releaser_stmt releaser_each))
{
	for my $line (split /\n/, slurp_file("$tmp/$name.out"))
	{
		push @acked_done, [ $name, $1, $2 ] if $line =~ /^done\|([^|]*)\|(\d+)\|/;
	}
}
# for the log: what went wrong for the consumers (expired leases and the
# like are normal; the crash itself shows as a lost connection)
for my $name (sort keys %procs)
{
	my %count;
	for my $line (split /\n/, slurp_file("$tmp/$name.err"))
	{
		next unless $line =~ /(ERROR|FATAL|PANIC):\s*(.*)/;
		(my $msg = "$1: $2") =~ s/\d+/N/g;
		$count{$msg}++;
	}
	note "$name: $count{$_} x $_" for sort keys %count;
}

note scalar(keys %acked) . " enqueues, " . scalar(keys %acked_commit)
  . " commits, " . scalar(@acked_done) . " completions acknowledged";

# ---------------------------------------------------------------------
# What the restarted server holds
# ---------------------------------------------------------------------

my $qid = $node->safe_psql('postgres', "SELECT qid FROM fqs.queue WHERE name = '$QUEUE'");

my %msg;    # payload => {id, key, seq, state}
my %id2payload;
{
	my $rows = $node->safe_psql(
		'postgres', qq{
SELECT m.id, m.payload, h.fifo_key, m.seq, s.state
  FROM fqs.message m
  JOIN fqs.key_head h ON h.kid = m.kid
  LEFT JOIN LATERAL fqs_message_status(m.id) s ON true
 WHERE m.qid = $qid});
	my $dups = 0;
	for my $line (split /\n/, $rows)
	{
		my ($id, $payload, $key, $seq, $state) = split /\|/, $line, -1;
		$dups++ if exists $msg{$payload};
		$msg{$payload} = { id => $id, key => $key, seq => $seq, state => $state };
		$id2payload{$id} = $payload;
	}
	is($dups, 0, 'no payload is stored twice');
}

# every acknowledged enqueue survived, on the key it was sent to
{
	my @missing = grep { !exists $msg{$_} } sort keys %acked;
	is(scalar(@missing), 0, 'every acknowledged enqueue survived the crash')
	  or diag "missing: @missing[0 .. ($#missing < 20 ? $#missing : 19)]";
	my @wrongkey = grep { exists $msg{$_} && $msg{$_}{key} ne $key_of{$_} } sort keys %acked;
	is(scalar(@wrongkey), 0, 'acknowledged messages are on the key they were sent to');
	my @unknown = grep { !defined $msg{$_}{state} || $msg{$_}{state} !~ /^(ready|claimed|processed|sequencing|done)$/ }
	  sort keys %msg;
	is(scalar(@unknown), 0,
		'fqs_message_status answers for every stored message with a live state')
	  or diag join(', ', map { "$_=" . ($msg{$_}{state} // 'no row') } @unknown[0 .. ($#unknown < 10 ? $#unknown : 9)]);
	my @stray = grep { !exists $key_of{$_} } sort keys %msg;
	is(scalar(@stray), 0, 'no message that was never sent');
}

# producer transactions are atomic, and what survived is a prefix
for my $p (1 .. $N_PRODUCERS)
{
	my $list = $txns{$p};
	my ($partial, $hole, $present) = (0, 0, 0);
	for my $t (0 .. $#$list)
	{
		my $n = grep { exists $msg{$_} } @{ $list->[$t] };
		$partial++ if $n != 0 && $n != @{ $list->[$t] };
		if ($n)
		{
			$hole++ if $present != $t;
			$present = $t + 1;
		}
	}
	is($partial, 0, "producer $p: each transaction survived whole or not at all");
	is($hole, 0, "producer $p: the surviving transactions are a prefix of those sent");
	cmp_ok($present, '>=', $acked_txns{$p},
		"producer $p: all acknowledged transactions present");
	cmp_ok($present, '<=', $acked_txns{$p} + 1,
		"producer $p: at most the one unacknowledged in-flight transaction committed");
}

# per key: seqs 1..N without gaps, key_tail agrees, producers' order kept
my %by_key;    # key => [payloads]
push @{ $by_key{ $msg{$_}{key} } }, $_ for keys %msg;
my %n_of_key;
for my $key (@KEYS)
{
	my @p = sort { $msg{$a}{seq} <=> $msg{$b}{seq} } @{ $by_key{$key} || [] };
	my @seqs = map { $msg{$_}{seq} } @p;
	my $n = @seqs;
	$n_of_key{$key} = $n;
	is_deeply(\@seqs, [ 1 .. $n ], "key '$key': seqs are 1..$n without gaps");

	my $last = $node->safe_psql('postgres',
		"SELECT $KEY_TAIL FROM fqs.key_tail t JOIN fqs.key_head h ON h.kid = t.kid "
		  . "WHERE t.qid = $qid AND t.fifo_key = " . sql_lit($key));
	is($last, $n, "key '$key': the key's last seq matches the stored messages");

	my $bad = 0;
	my %prev;
	for my $payload (@p)    # in seq order
	{
		my ($prod, $num) = $payload =~ /^p(\d+)-(\d+)$/;
		$bad++ if defined $prev{$prod} && $num <= $prev{$prod};
		$prev{$prod} = $num;
	}
	is($bad, 0, "key '$key': each producer's messages are in send order");
}

# acknowledged commits and completions survived
{
	my @twice = grep { $acked_commit{$_} > 1 } keys %acked_commit;
	is(scalar(@twice), 0, 'no message was committed twice');
	my @lost = grep {
		!exists $id2payload{$_}
		  || $msg{ $id2payload{$_} }{state} !~ /^(processed|sequencing|done)$/
	} sort keys %acked_commit;
	is(scalar(@lost), 0, 'every acknowledged fqs_commit survived the crash')
	  or diag "lost commits: @lost";

	my (%seen, %last_of);
	my ($twice_done, $order_bad, $lost_done) = (0, 0, 0);
	for my $d (@acked_done)
	{
		my ($who, $key, $seq) = @$d;
		$twice_done++ if $seen{"$key|$seq"}++;
		$order_bad++ if defined $last_of{"$who|$key"} && $seq <= $last_of{"$who|$key"};
		$last_of{"$who|$key"} = $seq;
	}
	is($twice_done, 0, 'no message was completed twice');
	is($order_bad, 0, 'each releaser completed messages of a key in seq order');

	my %head = map { my @f = split /\|/, $_, -1; ($f[0] => $f[1]) }
	  split /\n/, $node->safe_psql('postgres',
		"SELECT fifo_key, head_seq FROM fqs.key_head WHERE qid = $qid");
	for my $d (@acked_done)
	{
		$lost_done++ if !defined $head{ $d->[1] } || $d->[2] > $head{ $d->[1] };
	}
	is($lost_done, 0, 'every acknowledged fqs_complete survived the crash');
}

# the bookkeeping tables agree with each other, key by key
{
	my $rows = $node->safe_psql(
		'postgres', qq{
SELECT h.fifo_key, h.head_seq, $KEY_TAIL,
       (SELECT count(*) FROM fqs.done d WHERE d.kid = h.kid),
       (SELECT coalesce(max(seq), 0) FROM fqs.done d WHERE d.kid = h.kid),
       (SELECT count(*) FROM fqs.processed p WHERE p.kid = h.kid),
       (SELECT count(*) FROM fqs.ready r WHERE r.kid = h.kid),
       (SELECT count(*) FROM fqs.message m WHERE m.kid = h.kid),
       EXISTS (SELECT 1 FROM fqs.processed p WHERE p.kid = h.kid AND p.seq = h.head_seq + 1),
       EXISTS (SELECT 1 FROM fqs.releasable r WHERE r.kid = h.kid)
  FROM fqs.key_head h JOIN fqs.key_tail t ON t.kid = h.kid
 WHERE h.qid = $qid ORDER BY h.fifo_key});
	for my $line (split /\n/, $rows)
	{
		my ($key, $head, $last, $done, $maxdone, $proc,
			$ready, $msgs, $next_processed, $releasable) = split /\|/, $line, -1;
		ok( $done == $head && $maxdone == $head,
			"key '$key': done messages are exactly seq 1..$head")
		  or diag "head $head, done rows $done, max done $maxdone";
		ok( $proc + $ready == $msgs && $msgs == $last,
			"key '$key': every message is either ready or processed")
		  or diag "processed $proc, ready $ready, messages $msgs, last seq $last";
		ok($next_processed eq 'f' || $releasable eq 't',
			"key '$key': a processed head is releasable (key not stuck)");
	}
	is($node->safe_psql('postgres',
			"SELECT count(*) FROM fqs.ready r JOIN fqs.processed p ON p.id = r.id WHERE r.qid = $qid"),
		'0', 'no message is both ready and processed');
	is($node->safe_psql('postgres',
			"SELECT coalesce(pen, 0) + coalesce(dead, 0) FROM fqs_queues WHERE queue = '$QUEUE'"),
		'0', 'nothing dead or in the pen after the restart');
}

# ---------------------------------------------------------------------
# The pipeline still works: enqueue more, then drain both stages
# ---------------------------------------------------------------------

for my $key (@KEYS)
{
	for my $i (1 .. 2)
	{
		my $payload = "post-$key-$i";
		my $id = $node->safe_psql('postgres',
			"SELECT fqs_enqueue('$QUEUE', '$payload', " . sql_lit($key) . ")");
		my $seq = $node->safe_psql('postgres', "SELECT seq FROM fqs_message_status($id)");
		is($seq, $n_of_key{$key} + $i,
			"key '$key': enqueue after the restart continues with seq " . ($n_of_key{$key} + $i));
		$msg{$payload} = { id => $id, key => $key, seq => $seq };
		$id2payload{$id} = $payload;
	}
	$n_of_key{$key} += 2;
}
my $total = keys %msg;

my %head_before = map { my @f = split /\|/, $_, -1; ($f[0] => $f[1]) }
  split /\n/, $node->safe_psql('postgres',
	"SELECT fifo_key, head_seq FROM fqs.key_head WHERE qid = $qid");

my $deadline = time + $PostgreSQL::Test::Utils::timeout_default;

# concurrent stage: claim and commit everything
{
	my ($ok, $errors) = (0, '');
	while (time < $deadline)
	{
		my $rows = $node->safe_psql('postgres',
			"SELECT id, receipt, payload FROM fqs_claim('$QUEUE', 500, '10 minutes')");
		if ($rows eq '')
		{
			my $left = $node->safe_psql('postgres',
				"SELECT count(*) FROM fqs.ready WHERE qid = $qid");
			if ($left == 0) { $ok = 1; last; }
			usleep(200_000);    # leases taken before the crash run out
			next;
		}
		my $sql = '';
		for my $line (split /\n/, $rows)
		{
			my ($id, $receipt, $payload) = split /\|/, $line, -1;
			die "unexpected payload $payload" unless $payload =~ /^[\w-]*$/;
			$sql .= "SELECT fqs_commit($id, $receipt, 'r:$payload');\n";
		}
		my ($ret, $out, $err) = $node->psql('postgres', $sql, on_error_stop => 1);
		if ($ret != 0) { $errors = $err; last; }
	}
	ok($ok, 'after the restart every message could be claimed and committed')
	  or diag $errors;
}

# sequential stage: release everything, completing in the order handed out
my %released;    # key => [seq, ...] in the order fqs_complete succeeded
{
	my ($ok, $errors, $bad_payload) = (0, '', 0);
	while (time < $deadline)
	{
		my $rows = $node->safe_psql('postgres',
			"SELECT id, receipt, fifo_key, seq, payload FROM fqs_claim_sequential('$QUEUE', 500, '10 minutes')");
		if ($rows eq '')
		{
			my $left = $node->safe_psql('postgres',
				"SELECT count(*) FROM fqs.message m WHERE m.qid = $qid "
				  . "AND NOT EXISTS (SELECT 1 FROM fqs.done d WHERE d.id = m.id)");
			if ($left == 0) { $ok = 1; last; }
			usleep(200_000);    # key holds taken before the crash run out
			next;
		}
		my (@batch, $sql);
		for my $line (split /\n/, $rows)
		{
			my ($id, $receipt, $key, $seq, $payload) = split /\|/, $line, -1;
			$bad_payload++
			  unless defined $id2payload{$id} && $payload eq 'r:' . $id2payload{$id};
			push @batch, [ $key, $seq ];
			$sql .= "SELECT fqs_complete($id, $receipt);\n";
		}
		my ($ret, $out, $err) = $node->psql('postgres', $sql, on_error_stop => 1);
		if ($ret != 0) { $errors = $err; last; }
		push @{ $released{ $_->[0] } }, $_->[1] for @batch;
	}
	ok($ok, 'after the restart every message was released by the sequential stage')
	  or diag $errors;
	is($bad_payload, 0, 'the sequential stage sees each message\'s committed result');
}

for my $key (@KEYS)
{
	my @rel = @{ $released{$key} || [] };
	my $first = $head_before{$key} + 1;
	is_deeply(\@rel, [ $first .. $n_of_key{$key} ],
		"key '$key': after the restart fqs_complete ran in seq order ($first..$n_of_key{$key})");
}

is( $node->safe_psql(
		'postgres',
		"SELECT pen, ready, claimed, processed, sequencing, dead, done_total, "
		  . "oldest_unfinished_age IS NULL FROM fqs_queues WHERE queue = '$QUEUE'"),
	"0|0|0|0|0|0|$total|t",
	"fqs_queues: all $total messages done, nothing else left");
is( $node->safe_psql(
		'postgres',
		"SELECT count(*) FROM fqs.key_head h JOIN fqs.key_tail t ON t.kid = h.kid "
		  . "WHERE h.qid = $qid AND h.head_seq <> $KEY_TAIL"),
	'0', 'every key\'s head reached its tail');

$node->stop;
done_testing();
