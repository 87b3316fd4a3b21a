# Copyright (c) 2026, fqs developers
#
# Crash torture: 21 kill -9 cycles under a full two-stage workload.
#
# The server is preloaded (launcher, worker, reaper, pen mover).  Two
# queues, both with a 2 s lease and max_attempts 1000 (so that crashes and
# expired leases never make a message dead):
#  - tq: 5 FIFO keys, no holding pen in practice;
#  - penq: 3 FIFO keys, max_ready 30 and a deliberately slow consumer, so
#    that the breaker opens and enqueues go through the holding pen.
# In each cycle these clients run for a random 1.5-4 s:
#  - 3 producers: transactions of one fqs_enqueue, two fqs_enqueue (keys in
#    sorted order) or one fqs_enqueue_batch of three, on either queue;
#  - tq: a committer (fqs_claim + fqs_commit) and a failer that first
#    fqs_fails messages with id % 3 = 0 twice (retry_after 50 ms) and then
#    commits them; penq: a slow committer;
#  - 2 sequential consumers (fqs_claim_sequential + fqs_complete on both
#    queues), one completing a claimed run in one statement, the other one
#    message per transaction;
# then the postmaster and everything it leaves behind is killed with
# kill -9 (crash_server), and the server restarted.  In every third cycle,
# mid-run, a consumer backend (a different role each time) and the fqs
# worker are ended with pg_terminate_backend(); the consumer is started
# again and the launcher must bring the worker back.
#
# The clients are psql scripts; psql exits when it loses its connection,
# so each client's output is its ledger of what the server acknowledged:
#  - producers print the ids of a transaction, then "ack" once COMMIT
#    returned;
#  - consumers run their commits/completions as single autocommit
#    statements whose rows (printed only when the statement succeeded)
#    carry the id, and for completions the key, seq, the result the
#    sequential stage handed out, and clock_timestamp() taken after
#    fqs_complete returned.  A complete of seq n+1 can only succeed after
#    the transaction completing seq n committed, so ordering a key's
#    completions by that timestamp gives their real order.
#
# Every message on the server is one whose id a producer printed (its
# transaction commits only after its SELECTs returned), so the clients know
# of all of them.  After every restart, with no client running (public API
# in one REPEATABLE READ transaction; of the messages already seen done,
# only a rotating slice of 500 is looked up again, all of them at the end):
#  - every acknowledged enqueue exists exactly once (fqs_message_status
#    returns one row, on the queue and key it was sent to), a producer
#    transaction survived whole or not at all, nothing is dead or skipped;
#  - per key the stored seqs are 1..N and the done ones a prefix 1..H;
#  - fqs_queues counts exactly the messages the clients know of;
#  - every acknowledged fqs_commit is processed/sequencing/done, no message
#    was committed twice; every acknowledged fqs_complete is done with its
#    key and seq, no message was completed twice, and per key the
#    acknowledged completions are in strictly increasing seq order;
#  - fqs.message holds each message once, with its payload.
# At the end the clients run once more for 2 s and are stopped with a stop
# flag (each must end cleanly), the queues are drained
# (claim/commit/claim_sequential/complete plus fqs_maintain() so the pen
# drains even without the worker), and every message must be done exactly
# once, per key in seq order 1..N; the commits and completions that took
# effect without being acknowledged are bounded by the clients that were
# cut off mid-statement.
#
# No timing assertions.  Every wait is bounded and fails with a message:
# clients have an IPC::Run timeout and a bounded wait for their exit, polls
# have their own limits.  FQS_TORTURE_SEED and FQS_TORTURE_CYCLES override
# the random seed and the number of cycles.

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

my $CYCLES = $ENV{FQS_TORTURE_CYCLES} // 21;
my $SEED   = $ENV{FQS_TORTURE_SEED} // (int(time * 1000) ^ $$) % 1000000;
srand($SEED);

my $LEASE        = '2 seconds';
my $MAX_READY    = 30;
my @QUEUES       = ('tq', 'penq');
my %KEYS         = (tq => [ '', 'k1', 'k2', 'k3', 'k4' ], penq => [ 'a', 'b', 'c' ]);
my $N_PRODUCERS  = 3;
my $PRODUCER_TXNS  = 600;      # per producer and cycle, more than a cycle runs
my $PRODUCER_PAUSE = 0.05;     # seconds between a producer's transactions
my $CONSUMER_LOOPS = 3000;
my $SEQ_BATCH    = 5;          # fqs_claim_sequential n, per queue
my $CLIENT_TIMEOUT = 300;      # IPC::Run backstop for one client
my $EXIT_WAIT    = 20;         # a client must exit this soon after crash/stop
my $WORKER_WAIT  = 30;         # the worker must be (back) up this soon
my $DRAIN_TIME   = 90;         # the final drain must finish within this,
my $DRAIN_STUCK  = 20;         # and fails sooner if nothing moves this long
my $TS_FORMAT    = 'YYYYMMDDHH24MISSUS';

my @LIVE_STATES = qw(pen ready delayed claimed processed sequencing done);
my %LIVE = map { $_ => 1 } @LIVE_STATES;
my %COMMITTED_STATES = map { $_ => 1 } qw(processed sequencing done);

# at most this many commits or completions of one client can take effect
# without being acknowledged when it is cut off (its one statement in flight)
my %IN_FLIGHT = (
	committer     => { commit => 1, complete => 0 },
	failer        => { commit => 1, complete => 0 },
	pen_committer => { commit => 1, complete => 0 },
	releaser_stmt => { commit => 0, complete => 2 * $SEQ_BATCH },
	releaser_each => { commit => 0, complete => 1 },
	producer      => { commit => 0, complete => 0 });
my @CONSUMER_ROLES = qw(committer failer pen_committer releaser_stmt releaser_each);

note "seed $SEED, $CYCLES cycles";
my $t_start = time;

my $tmp  = PostgreSQL::Test::Utils::tempdir;
my $node = preloaded_node('torture', "restart_after_crash = on\n");
my $connstr = $node->connstr('postgres');

sub q1
{
	my ($sql) = @_;
	return $node->safe_psql('postgres', $sql, timeout => 120);
}

sub sql_lit
{
	my ($s) = @_;
	$s =~ s/'/''/g;
	return "'$s'";
}

# poll $sql until it returns $want, at most $secs seconds; false (with a
# diag) if it did not
sub poll_for
{
	my ($sql, $want, $secs, $what) = @_;
	my $deadline = time + $secs;
	my $last     = '';
	while (1)
	{
		my ($ret, $out, $err) = $node->psql('postgres', $sql, timeout => 60);
		$last = $ret == 0 ? $out : "error: $err";
		return 1 if $ret == 0 && $out eq $want;
		if (time > $deadline)
		{
			diag "gave up after $secs s waiting for $what (last answer: '$last')";
			return 0;
		}
		usleep(100_000);
	}
}

q1('CREATE EXTENSION fqs');
q1("SELECT fqs_create_queue('tq', lease => '$LEASE', max_attempts => 1000)");
q1("SELECT fqs_create_queue('penq', max_ready => $MAX_READY, lease => '$LEASE', max_attempts => 1000)");
q1('CREATE TABLE tort_stop (x int)');

my $WORKER_SQL = "SELECT coalesce(string_agg(pid::text, ','), '') FROM pg_stat_activity "
  . "WHERE backend_type = 'fqs worker' AND datname = 'postgres'";
ok(poll_for("SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'fqs worker' AND datname = 'postgres'",
		't', $WORKER_WAIT, 'the fqs worker of database postgres'),
	'the fqs worker runs');

# ---------------------------------------------------------------------
# Client scripts
# ---------------------------------------------------------------------

my $stop_check = <<'EOS';
SELECT EXISTS (SELECT 1 FROM tort_stop) AS fin \gset
\if :fin
\echo bye
\q
\endif
EOS

my $complete_fmt = "format('SELECT %L, %L, %s, %L, %s, %L, fqs_complete(%s, %s)::text || to_char(clock_timestamp(), %L)', "
  . "'done', q, id, fifo_key, seq, payload, id, receipt, '$TS_FORMAT')";
my $commit_fmt = "format('SELECT %L, %s, fqs_commit(%s, %s, %L)', 'committed', id, id, receipt, 'r:' || id)";
my $fail_fmt   = "format('SELECT %L, %s, fqs_fail(%s, %s, %L, %L)', 'failed', id, id, receipt, 'torture', '50 ms')";

my %consumer_script = (
	committer => "CREATE TEMP TABLE c_held (id bigint, receipt bigint, attempt int);\n"
	  . (<<"EOS" . $stop_check) x $CONSUMER_LOOPS,
DELETE FROM c_held;
INSERT INTO c_held SELECT id, receipt, attempt FROM fqs_claim('tq', 3, wait => '200ms');
SELECT $commit_fmt FROM c_held ORDER BY id \\gexec
EOS
	failer => "CREATE TEMP TABLE c_held (id bigint, receipt bigint, attempt int);\n"
	  . (<<"EOS" . $stop_check) x $CONSUMER_LOOPS,
DELETE FROM c_held;
INSERT INTO c_held SELECT id, receipt, attempt FROM fqs_claim('tq', 3, wait => '200ms');
SELECT CASE WHEN id % 3 = 0 AND attempt < 3 THEN $fail_fmt ELSE $commit_fmt END FROM c_held ORDER BY id \\gexec
EOS
	# slower than the producers feed penq: its ready depth reaches
	# max_ready, the breaker opens and the pen fills
	pen_committer => "CREATE TEMP TABLE c_held (id bigint, receipt bigint, attempt int);\n"
	  . (<<"EOS" . $stop_check) x $CONSUMER_LOOPS,
DELETE FROM c_held;
INSERT INTO c_held SELECT id, receipt, attempt FROM fqs_claim('penq', 1, wait => '200ms');
SELECT $commit_fmt FROM c_held ORDER BY id \\gexec
SELECT pg_sleep(0.04) \\gset
EOS
);
for my $mode ('stmt', 'each')
{
	my $complete =
	  $mode eq 'stmt'
	  ? "SELECT 'done', q, id, fifo_key, seq, payload, fqs_complete(id, receipt)::text || to_char(clock_timestamp(), '$TS_FORMAT') "
	  . "FROM (SELECT * FROM s_held ORDER BY q, fifo_key, seq OFFSET 0) h;\n"
	  : "SELECT $complete_fmt FROM s_held ORDER BY q, fifo_key, seq \\gexec\n";
	$consumer_script{"releaser_$mode"} =
	  "CREATE TEMP TABLE s_held (q text, id bigint, receipt bigint, fifo_key text, seq bigint, payload text);\n"
	  . (<<"EOS" . $complete . $stop_check) x $CONSUMER_LOOPS;
DELETE FROM s_held;
INSERT INTO s_held SELECT 'tq', id, receipt, fifo_key, seq, payload FROM fqs_claim_sequential('tq', $SEQ_BATCH, wait => '100ms');
INSERT INTO s_held SELECT 'penq', id, receipt, fifo_key, seq, payload FROM fqs_claim_sequential('penq', $SEQ_BATCH);
EOS
}
for my $role (@CONSUMER_ROLES)
{
	PostgreSQL::Test::Utils::append_to_file("$tmp/$role.sql", $consumer_script{$role});
}
%consumer_script = ();

# Producer scripts, new payloads every cycle.  Payload c<cycle>p<p>t<t>m<i>.
my %sent;    # payload => { q, key, txn }
sub producer_script
{
	my ($cycle, $p) = @_;
	my $script = '';
	for my $t (1 .. $PRODUCER_TXNS)
	{
		my $q     = rand() < 0.3 ? 'penq' : 'tq';
		my @keys  = @{ $KEYS{$q} };
		my $shape = int(rand(3));
		my $txn   = "c${cycle}p${p}t$t";
		my @msgs  = map { [ "${txn}m$_", $keys[ int(rand(@keys)) ] ] } 1 .. $shape + 1;
		# separate enqueues take their key locks in sorted order (the batch
		# sorts its keys itself), so producers cannot deadlock
		@msgs = sort { $a->[1] cmp $b->[1] } @msgs if $shape == 1;
		$sent{ $_->[0] } = { q => $q, key => $_->[1], txn => $txn } for @msgs;

		$script .= "BEGIN;\n";
		if ($shape == 2)
		{
			my $payloads = join(',', map { sql_lit($_->[0]) } @msgs);
			$script .= sprintf(
				"SELECT 'e', t.id, (ARRAY[%s])[t.n] FROM fqs_enqueue_batch('%s', ARRAY[%s], ARRAY[%s]) WITH ORDINALITY AS t(id, n);\n",
				$payloads, $q, $payloads, join(',', map { sql_lit($_->[1]) } @msgs));
		}
		else
		{
			$script .= sprintf("SELECT 'e', fqs_enqueue('%s', %s, %s), %s;\n",
				$q, sql_lit($_->[0]), sql_lit($_->[1]), sql_lit($_->[0]))
			  for @msgs;
		}
		$script .= "COMMIT;\n\\echo ack|$txn\n";
		$script .= "SELECT EXISTS (SELECT 1 FROM tort_stop) AS fin, pg_sleep($PRODUCER_PAUSE) AS z \\gset\n"
		  . "\\if :fin\n\\echo bye\n\\q\n\\endif\n";
	}
	my $file = "$tmp/producer_c${cycle}_p$p.sql";
	PostgreSQL::Test::Utils::append_to_file($file, $script);
	return $file;
}

# ---------------------------------------------------------------------
# Clients
# ---------------------------------------------------------------------

my @clients;    # every client instance ever started
my %instances;  # "cycle/role" => count
sub start_client
{
	my ($cycle, $role, $file, $on_error_stop) = @_;
	my $inst = ++$instances{"$cycle/$role"};
	my $name = "c${cycle}_${role}_$inst";
	my $base = "$tmp/$name";
	my @cmd  = (
		$node->installed_command('psql'), '-X', '-A', '-t', '-q',
		'-v', "ON_ERROR_STOP=$on_error_stop",
		'-d', "$connstr application_name=tort_$name", '-f', $file);
	my $h = IPC::Run::start(\@cmd, '<', '/dev/null', '>', "$base.out",
		'2>', "$base.err", IPC::Run::timeout($CLIENT_TIMEOUT));
	my $c = {
		name => $name, role => $role, cycle => $cycle, base => $base,
		h => $h, app => "tort_$name", parsed => 0 };
	push @clients, $c;
	return $c;
}

sub client_running
{
	my ($c) = @_;
	return 0 if defined $c->{exit};
	my $running = eval { $c->{h}->pumpable };
	return $running ? 1 : 0;
}

# wait (bounded) for a client to exit; false if it had to be killed
sub reap_client
{
	my ($c, $secs) = @_;
	return 1 if defined $c->{exit};
	my $deadline = time + $secs;
	while (client_running($c))
	{
		if (time > $deadline)
		{
			diag "client $c->{name} did not exit within $secs s; killing it";
			eval { $c->{h}->kill_kill(grace => 2); };
			$c->{exit} = -1;
			return 0;
		}
		usleep(50_000);
	}
	eval { $c->{h}->finish; };
	diag "client $c->{name}: $@" if $@;
	$c->{exit} = $c->{h}->result(0) // -1;
	return 1;
}

sub start_cycle_clients
{
	my ($cycle) = @_;
	for my $p (1 .. $N_PRODUCERS)
	{
		my $c = start_client($cycle, "producer$p", producer_script($cycle, $p), 1);
		$c->{kind} = 'producer';
	}
	for my $role (@CONSUMER_ROLES)
	{
		my $c = start_client($cycle, $role, "$tmp/$role.sql", 0);
		$c->{kind} = $role;
	}
}

# ---------------------------------------------------------------------
# Ledgers
# ---------------------------------------------------------------------

my %enq;          # id => { payload, acked, txn }
my %txn_ids;      # txn => [ids known]
my %txn_acked;    # txn => 1
my %commits;      # id => acknowledged fqs_commit count
my %fails;        # id => acknowledged fqs_fail count
my @dones;        # { q, id, key, seq, payload, ts, n }
my %done_count;   # id => acknowledged fqs_complete count
my $done_n = 0;
my $bad_fail_result = 0;
my %interrupted;  # kind => number of client instances cut off mid-run
my %errors;       # normalised client error => count

sub record_done
{
	my ($q, $id, $key, $seq, $payload, $ts) = @_;
	push @dones, { q => $q, id => $id, key => $key, seq => $seq, payload => $payload,
		ts => $ts, n => ++$done_n };
	$done_count{$id}++;
}

sub parse_consumer_lines
{
	my ($text) = @_;
	for my $line (split /\n/, $text)
	{
		if ($line =~ /^committed\|(\d+)\|$/)
		{
			$commits{$1}++;
		}
		elsif ($line =~ /^failed\|(\d+)\|(.*)$/)
		{
			$fails{$1}++;
			$bad_fail_result++ if $2 ne 'retry';
		}
		elsif ($line =~ /^done\|/)
		{
			my (undef, $q, $id, $key, $seq, $payload, $ts) = split /\|/, $line, -1;
			record_done($q, $id, $key, $seq, $payload, $ts);
		}
	}
}

sub parse_client
{
	my ($c) = @_;
	return if $c->{parsed}++;
	my $out = -f "$c->{base}.out" ? slurp_file("$c->{base}.out") : '';
	my $err = -f "$c->{base}.err" ? slurp_file("$c->{base}.err") : '';
	$c->{bye} = $out =~ /^bye$/m ? 1 : 0;
	$c->{stderr} = $err;
	$interrupted{ $c->{kind} }++ if ($c->{exit} // -1) != 0;
	for my $line (split /\n/, $err)
	{
		next unless $line =~ /(ERROR|FATAL|PANIC):\s*(.*)/;
		(my $msg = "$c->{kind}: $1: $2") =~ s/\d+/N/g;
		$errors{$msg}++;
	}
	if ($c->{kind} eq 'producer')
	{
		my @pending;
		for my $line (split /\n/, $out)
		{
			if ($line =~ /^e\|(\d+)\|(.+)$/)
			{
				my ($id, $payload) = ($1, $2);
				die "payload $payload was never sent" unless $sent{$payload};
				$enq{$id} = { payload => $payload, acked => 0, txn => $sent{$payload}{txn} };
				push @{ $txn_ids{ $sent{$payload}{txn} } }, $id;
				push @pending, $id;
			}
			elsif ($line =~ /^ack\|(\S+)$/)
			{
				$txn_acked{$1} = 1;
				$enq{$_}{acked} = 1 for @pending;
				@pending = ();
			}
		}
	}
	else
	{
		parse_consumer_lines($out);
	}
}

# ---------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------

my %status;    # id => [ [q, key, seq, state, attempts], ... ] (last check)
my $RECHECK_DONE   = 500;     # done messages asked about again per check
my $recheck_cursor = 0;
my $n_status_calls = 0;
my $checks_failed = 0;

sub check_ok
{
	my ($ok, $name, @diag) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	ok($ok, $name) or do { diag $_ for grep { defined } @diag[0 .. ($#diag < 15 ? $#diag : 14)]; $checks_failed++ };
	return $ok;
}

# the server's view of every message a client knows of, plus fqs_queues,
# in one snapshot
sub load_status
{
	my ($all) = @_;
	my @ids = sort { $a <=> $b } keys %enq;
	my @ask = @ids;
	if (!$all)
	{
		# done is final: of the messages seen done before, ask again only
		# about a rotating slice (the final check asks about all of them)
		my @done = grep { my $r = $status{$_}; $r && @$r == 1 && $r->[0][3] eq 'done' } @ids;
		my %old_done = map { $_ => 1 } @done;
		@ask = grep { !$old_done{$_} } @ids;
		my $n = @done < $RECHECK_DONE ? scalar(@done) : $RECHECK_DONE;
		push @ask, $done[ $recheck_cursor++ % @done ] for 1 .. $n;
	}
	$n_status_calls += @ask;
	my $arr = '{' . join(',', @ask) . '}';
	my $out = q1(<<"EOS");
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT 's', a.id, s.queue, s.fifo_key, s.seq, s.state, s.attempts
  FROM unnest('$arr'::bigint[]) a(id) LEFT JOIN LATERAL fqs_message_status(a.id) s ON true;
SELECT 'q', queue, pen, ready, delayed, claimed, processed, sequencing, dead, done_total, breaker_open
  FROM fqs_queues WHERE queue IN ('tq', 'penq');
COMMIT;
EOS
	delete @status{@ask};
	my %queues;
	for my $line (split /\n/, $out)
	{
		my @f = split /\|/, $line, -1;
		if ($f[0] eq 's')
		{
			$status{ $f[1] } ||= [];
			push @{ $status{ $f[1] } }, [ @f[ 2 .. 6 ] ] if $f[2] ne '';
		}
		elsif ($f[0] eq 'q')
		{
			my %h;
			@h{qw(pen ready delayed claimed processed sequencing dead done_total breaker_open)} = @f[ 2 .. 10 ];
			$queues{ $f[1] } = \%h;
		}
	}
	return \%queues;
}

sub check_state
{
	my ($label, $final) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my $queues = load_status($final);

	# enqueues
	my (@missing, @dup, @wrongplace, @badstate, @notdone);
	my %present_per_queue;
	for my $id (sort { $a <=> $b } keys %enq)
	{
		my $rows = $status{$id} || [];
		push @dup, "$id x" . scalar(@$rows) if @$rows > 1;
		if (!@$rows)
		{
			push @missing, "$id ($enq{$id}{payload})" if $enq{$id}{acked};
			next;
		}
		my ($q, $key, $seq, $state) = @{ $rows->[0] };
		my $s = $sent{ $enq{$id}{payload} };
		push @wrongplace, "$id: sent to $s->{q}/'$s->{key}', is in $q/'$key'"
		  if $q ne $s->{q} || $key ne $s->{key};
		push @badstate, "$id: $state" unless $LIVE{$state};
		push @notdone, "$id: $state" if $final && $state ne 'done';
		$present_per_queue{$q}++;
	}
	my $acked = grep { $enq{$_}{acked} } keys %enq;
	check_ok(!@missing, "$label: all $acked acknowledged enqueues are there",
		'missing: ' . join(', ', @missing[0 .. ($#missing < 20 ? $#missing : 19)]));
	check_ok(!@dup, "$label: fqs_message_status answers once per message", "twice: @dup");
	check_ok(!@wrongplace, "$label: each message is on the queue and key it was sent to", @wrongplace);
	check_ok(!@badstate, "$label: nothing is dead or skipped (or in an unknown state)", @badstate);
	check_ok(!@notdone, "$label: every message is done", @notdone) if $final;

	# producer transactions are atomic
	{
		my @partial;
		for my $txn (sort keys %txn_ids)
		{
			my $n = grep { @{ $status{$_} || [] } } @{ $txn_ids{$txn} };
			push @partial, "$txn ($n of " . scalar(@{ $txn_ids{$txn} }) . ')'
			  if $n && $n != @{ $txn_ids{$txn} };
		}
		check_ok(!@partial, "$label: each producer transaction is there whole or not at all", @partial);
	}

	# per key: stored seqs 1..N, done seqs 1..H
	my %by_key;    # "q|key" => [[seq, state, id]]
	for my $id (keys %status)
	{
		my $rows = $status{$id};
		next unless @$rows;
		my ($q, $key, $seq, $state) = @{ $rows->[0] };
		push @{ $by_key{"$q|$key"} }, [ $seq, $state, $id ];
	}
	my (@gaps, @holes);
	my %done_upto;
	for my $k (sort keys %by_key)
	{
		my @s = sort { $a->[0] <=> $b->[0] } @{ $by_key{$k} };
		my @seqs = map { $_->[0] } @s;
		my $n = @seqs;
		push @gaps, "key $k: seqs " . join(',', @seqs[0 .. ($#seqs < 30 ? $#seqs : 29)])
		  unless join(',', @seqs) eq join(',', 1 .. $n);
		my $h = 0;
		$h++ while $h < $n && $s[$h][1] eq 'done';
		$done_upto{$k} = $h;
		my @late = grep { $_->[1] eq 'done' } @s[ $h .. $#s ];
		push @holes, "key $k: done up to $h, then done also " . join(',', map { $_->[0] } @late)
		  if @late;
	}
	check_ok(!@gaps, "$label: per key the stored seqs are 1..N", @gaps);
	check_ok(!@holes, "$label: per key the done messages are seqs 1..H", @holes);

	# fqs_queues counts what the clients know of
	{
		my @bad;
		for my $q (@QUEUES)
		{
			my $v = $queues->{$q};
			my $total = 0;
			$total += $v->{$_} for qw(pen ready delayed claimed processed sequencing dead done_total);
			my $known = $present_per_queue{$q} // 0;
			push @bad, "$q: fqs_queues counts $total messages, the clients know of $known" if $total != $known;
			push @bad, "$q: $v->{dead} dead" if $v->{dead} != 0;
			if ($final)
			{
				my $left = join('|', map { $v->{$_} } qw(pen ready delayed claimed processed sequencing dead));
				push @bad, "$q: left pen|ready|delayed|claimed|processed|sequencing|dead = $left"
				  if $left ne '0|0|0|0|0|0|0';
			}
		}
		check_ok(!@bad, "$label: fqs_queues agrees" . ($final ? ', nothing unfinished' : ''), @bad);
	}

	# commits
	{
		my @twice = grep { $commits{$_} > 1 } sort { $a <=> $b } keys %commits;
		check_ok(!@twice, "$label: no message was committed twice", "twice: @twice");
		my @lost = map { "$_: " . (@{ $status{$_} || [] } ? $status{$_}[0][3] : 'no row') }
		  grep { !@{ $status{$_} || [] } || !$COMMITTED_STATES{ $status{$_}[0][3] } }
		  sort { $a <=> $b } keys %commits;
		check_ok(!@lost, "$label: every acknowledged fqs_commit (" . scalar(keys %commits) . ') held', @lost);
		check_ok($bad_fail_result == 0, "$label: every fqs_fail answered 'retry'",
			"$bad_fail_result fails did not answer 'retry'");
	}

	# completions
	{
		my @twice = grep { $done_count{$_} > 1 } sort { $a <=> $b } keys %done_count;
		check_ok(!@twice, "$label: no message was completed twice", "twice: @twice");
		my @lost;
		for my $d (@dones)
		{
			my $rows = $status{ $d->{id} } || [];
			my ($q, $key, $seq, $state) = @{ $rows->[0] || [] };
			push @lost, "$d->{id}: " . ($state // 'no row')
			  . (defined $q ? " $q/'$key'/$seq" : '') . " (acknowledged $d->{q}/'$d->{key}'/$d->{seq})"
			  unless defined $state && $state eq 'done' && $q eq $d->{q} && $key eq $d->{key} && $seq == $d->{seq};
		}
		check_ok(!@lost, "$label: every acknowledged fqs_complete (" . scalar(@dones) . ') held, with its key and seq', @lost);
		my @badres = map { "$_->{id}: '$_->{payload}'" } grep { $_->{payload} ne "r:$_->{id}" } @dones;
		check_ok(!@badres, "$label: the sequential stage handed out each message's committed result", @badres);
		my (%last, @order);
		for my $d (sort { $a->{ts} cmp $b->{ts} || $a->{n} <=> $b->{n} } @dones)
		{
			my $k = "$d->{q}|$d->{key}";
			push @order, "key $k: seq $d->{seq} completed after seq $last{$k}"
			  if defined $last{$k} && $d->{seq} <= $last{$k};
			$last{$k} = $d->{seq};
		}
		check_ok(!@order, "$label: per key the acknowledged completions are in strictly increasing seq order", @order);
	}

	# the message table holds each message once (internal; 001 checks it too)
	{
		my ($ret, $out, $err) = $node->psql('postgres',
			"SELECT m.id, m.payload FROM fqs.message m JOIN fqs.queue q ON q.qid = m.qid WHERE q.name IN ('tq', 'penq')",
			timeout => 120);
		if ($ret != 0)
		{
			note "$label: fqs.message not readable, internal check skipped: $err";
		}
		else
		{
			my (%seen, @bad);
			for my $line (split /\n/, $out)
			{
				my ($id, $payload) = split /\|/, $line, 2;
				push @bad, "$id stored twice" if $seen{$id}++;
				push @bad, "$id: unknown message '$payload'"
				  unless $enq{$id} && $enq{$id}{payload} eq $payload;
			}
			my @absent = grep { !$seen{$_} && @{ $status{$_} || [] } } keys %enq;
			push @bad, scalar(@absent) . ' messages with a status are not in fqs.message' if @absent;
			check_ok(!@bad, "$label: fqs.message holds each message once, with its payload", @bad);
		}
	}
	return $queues;
}

# ---------------------------------------------------------------------
# Crash cycles
# ---------------------------------------------------------------------

my ($n_crashes, $n_consumer_kills, $n_worker_kills, $max_pen, $pen_cycles) = (0, 0, 0, 0, 0);

for my $cycle (1 .. $CYCLES)
{
	check_ok(poll_for(
			"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'fqs worker' AND datname = 'postgres'",
			't', $WORKER_WAIT, "the fqs worker (cycle $cycle)"),
		"cycle $cycle: the fqs worker runs");

	my $t_cycle = time;
	start_cycle_clients($cycle);

	my $traffic = 1.5 + rand(2.5);
	my $t0 = time;
	my $t_started = $t0 - $t_cycle;
	if ($cycle % 3 == 2)
	{
		# mid-run: end a consumer backend and the worker
		usleep(int(1e6 * $traffic * (0.3 + rand(0.4))));
		# a different role each time (any running consumer if that one is not)
		my @running = grep { $_->{cycle} == $cycle && $_->{kind} ne 'producer' && client_running($_) } @clients;
		my $want = $CONSUMER_ROLES[ $n_consumer_kills % @CONSUMER_ROLES ];
		my ($victim) = grep { $_->{kind} eq $want } @running;
		$victim //= $running[0];
		if (!$victim)
		{
			check_ok(0, "cycle $cycle: a consumer is running to be terminated");
		}
		else
		{
			my $role = $victim->{kind};
			my $killed = q1("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
				  . "WHERE application_name = '$victim->{app}'");
			check_ok($killed == 1, "cycle $cycle: pg_terminate_backend() of consumer $victim->{name}",
				"$killed backends terminated");
			$n_consumer_kills++;
			check_ok(reap_client($victim, $EXIT_WAIT),
				"cycle $cycle: $victim->{name} exited after its backend was terminated");
			my $c = start_client($cycle, $role, "$tmp/$role.sql", 0);
			$c->{kind} = $role;
		}

		my $wpid = q1($WORKER_SQL);
		my $wkilled = $wpid =~ /^\d+$/ ? q1("SELECT pg_terminate_backend($wpid)") : 'no worker';
		check_ok($wkilled eq 't', "cycle $cycle: pg_terminate_backend() of the fqs worker ($wpid)", $wkilled);
		$n_worker_kills++;
		check_ok(poll_for(
				"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'fqs worker' "
				  . "AND datname = 'postgres' AND pid <> " . ($wpid =~ /^\d+$/ ? $wpid : 0),
				't', $WORKER_WAIT, 'the launcher to start a new worker'),
			"cycle $cycle: the launcher started a new worker");
	}
	my $rest = $traffic - (time - $t0);
	usleep(int(1e6 * $rest)) if $rest > 0;

	# just before the crash: the pen, and who is still running
	my ($pen, $open) = split /\|/, q1("SELECT pen, breaker_open FROM fqs_queues WHERE queue = 'penq'");
	$max_pen = $pen if $pen > $max_pen;
	$pen_cycles++ if $pen > 0;
	my @cyc = grep { $_->{cycle} == $cycle } @clients;
	my $running = grep { client_running($_) } @cyc;

	my $t_run = time - $t0;
	my $t_crash = time;
	crash_server($node);
	$t_crash = time - $t_crash;
	$n_crashes++;

	my $all_exited = 1;
	$all_exited &&= reap_client($_, $EXIT_WAIT) for @cyc;
	check_ok($all_exited, "cycle $cycle: every client exited after the crash");

	my $t_restart = time;
	start_after_crash($node, "cycle $cycle: crash recovery after kill -9 of the postmaster");
	$t_restart = time - $t_restart;

	parse_client($_) for @cyc;
	my @perr = map { "$_->{name}: $_->{stderr}" }
	  grep { $_->{kind} eq 'producer' && $_->{stderr} =~ /ERROR:/ } @cyc;
	check_ok(!@perr, "cycle $cycle: producers stopped only because of the crash", @perr);
	my $t_check = time;
	check_state("cycle $cycle", 0);
	$t_check = time - $t_check;
	note sprintf("cycle %d: %.1f s of traffic, %d of %d clients running at the crash, penq pen %s (breaker %s); "
		  . "so far %d enqueues known, %d commits, %d completions acknowledged; "
		  . "seconds: start clients %.1f, run %.1f, crash %.1f, restart %.1f, checks %.1f",
		$cycle, $traffic, $running, scalar(@cyc), $pen, $open,
		scalar(keys %enq), scalar(keys %commits), scalar(@dones),
		$t_started, $t_run, $t_crash, $t_restart, $t_check);
	if ($checks_failed)
	{
		diag "stopping the crash cycles after cycle $cycle: a check failed";
		last;
	}
}

# ---------------------------------------------------------------------
# Stop the clients, drain, final checks
# ---------------------------------------------------------------------

my $final_cycle = $CYCLES + 1;
check_ok(poll_for(
		"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'fqs worker' AND datname = 'postgres'",
		't', $WORKER_WAIT, 'the fqs worker (final run)'),
	'final run: the fqs worker runs');
start_cycle_clients($final_cycle);
usleep(2_000_000);
q1('INSERT INTO tort_stop VALUES (1)');
{
	my @fin = grep { $_->{cycle} == $final_cycle } @clients;
	my $all = 1;
	$all &&= reap_client($_, $EXIT_WAIT) for @fin;
	check_ok($all, 'final run: every client stopped at the stop flag');
	parse_client($_) for @fin;
	my @unclean = map { "$_->{name}: exit " . ($_->{exit} // '?') . ", bye $_->{bye}" }
	  grep { ($_->{exit} // -1) != 0 || !$_->{bye} } @fin;
	check_ok(!@unclean, 'final run: every client ended cleanly', @unclean);
	my @errs = map { "$_->{name}: $_->{stderr}" } grep { $_->{kind} eq 'producer' && $_->{stderr} =~ /ERROR:/ } @fin;
	check_ok(!@errs, 'final run: producers ran without errors', @errs);
}
my $q_before = check_state('before the drain', 0);
$max_pen = $q_before->{penq}{pen} if $q_before->{penq}{pen} > $max_pen;

my $dones_before_drain = @dones;

# drain: everything through both stages, with fqs_maintain() so the pen
# moves even if the worker is slow
{
	my $deadline = time + $DRAIN_TIME;
	my ($done, $err, $rounds) = (0, '', 0);
	my $last_progress = time;
	my $drain_sql = "CREATE TEMP TABLE c_held (id bigint, receipt bigint);\n"
	  . "CREATE TEMP TABLE s_held (q text, id bigint, receipt bigint, fifo_key text, seq bigint, payload text);\n";
	# a few passes per psql run: each moves at most about max_ready
	# messages out of the pen
	for my $pass (1 .. 3)
	{
		$drain_sql .= "SELECT fqs_maintain();\nTRUNCATE c_held, s_held;\n";
		for my $q (@QUEUES)
		{
			$drain_sql .= "INSERT INTO c_held SELECT id, receipt FROM fqs_claim('$q', 500, '5 minutes');\n";
		}
		$drain_sql .= "SELECT $commit_fmt FROM c_held ORDER BY id \\gexec\n";
		for my $q (@QUEUES)
		{
			$drain_sql .= "INSERT INTO s_held SELECT '$q', id, receipt, fifo_key, seq, payload "
			  . "FROM fqs_claim_sequential('$q', 500, '5 minutes');\n";
		}
		$drain_sql .= "SELECT $complete_fmt FROM s_held ORDER BY q, fifo_key, seq \\gexec\n";
	}
	$drain_sql .= "SELECT 'left', coalesce(sum(pen + ready + delayed + claimed + processed + sequencing), 0), "
	  . "coalesce(sum(dead), 0) FROM fqs_queues WHERE queue IN ('tq', 'penq');\n";
	while (1)
	{
		$rounds++;
		my ($ret, $out, $stderr) = $node->psql('postgres', $drain_sql, on_error_stop => 1, timeout => 120);
		parse_consumer_lines($out);    # what was acknowledged, even on error
		if ($ret != 0) { $err = "drain round $rounds failed: $stderr"; last; }
		my ($left, $dead) = $out =~ /^left\|(\d+)\|(\d+)$/m;
		if (!defined $left) { $err = "drain round $rounds: no answer from fqs_queues"; last; }
		if ($dead > 0) { $err = "$dead messages dead, the drain cannot finish"; last; }
		if ($left == 0) { $done = 1; last; }
		if (time > $deadline) { $err = "$left messages still unfinished after $DRAIN_TIME s of draining"; last; }
		if ($out =~ /^(committed|done)\|/m)
		{
			$last_progress = time;
		}
		else
		{
			# leases of the cut-off clients end after 2 s
			if (time - $last_progress > $DRAIN_STUCK)
			{
				$err = "$left messages unfinished, and nothing could be claimed for $DRAIN_STUCK s";
				last;
			}
			usleep(50_000);
		}
	}
	check_ok($done, "the drain finished ($rounds rounds)", $err);
}

check_state('after the drain', 1);

# the commits and completions that took effect without an acknowledgement
# are at most the statements in flight when a client was cut off
{
	my ($unacked_commits, $unacked_dones) = (0, 0);
	for my $id (keys %enq)
	{
		next unless @{ $status{$id} || [] };
		$unacked_commits++ unless $commits{$id};
		$unacked_dones++   unless $done_count{$id};
	}
	my ($max_commits, $max_dones) = (0, 0);
	for my $kind (keys %interrupted)
	{
		my $f = $IN_FLIGHT{ $kind =~ /^producer/ ? 'producer' : $kind } || { commit => 0, complete => 0 };
		$max_commits += $interrupted{$kind} * $f->{commit};
		$max_dones   += $interrupted{$kind} * $f->{complete};
	}
	check_ok($unacked_commits <= $max_commits,
		"commits without acknowledgement ($unacked_commits) are at most the ones in flight at a crash or termination ($max_commits)");
	check_ok($unacked_dones <= $max_dones,
		"completions without acknowledgement ($unacked_dones) are at most the ones in flight at a crash or termination ($max_dones)");

	# per key, done seqs 1..N, and the acknowledged completions plus the
	# unacknowledged ones are exactly that set
	my (%keyseqs, @bad);
	for my $id (keys %status)
	{
		next unless @{ $status{$id} };
		my ($q, $key, $seq) = @{ $status{$id}[0] };
		push @{ $keyseqs{"$q|$key"} }, $seq;
	}
	my $n_keys = keys %keyseqs;
	for my $k (sort keys %keyseqs)
	{
		my @s = sort { $a <=> $b } @{ $keyseqs{$k} };
		push @bad, "key $k" unless join(',', @s) eq join(',', 1 .. scalar @s);
	}
	my $all_keys = map { @$_ } values %KEYS;
	check_ok($n_keys == $all_keys && !@bad, "all $all_keys keys used, each done in seqs 1..N",
		"keys used: $n_keys", @bad);

	my $known   = keys %enq;
	my $acked   = grep { $enq{$_}{acked} } keys %enq;
	my $present = grep { @{ $status{$_} || [] } } keys %enq;
	my $seconds = time - $t_start;
	check_ok($max_pen > 0, "the holding pen of penq was used (largest pen seen: $max_pen)");
	check_ok($n_crashes >= 20 || $CYCLES < 20, "at least 20 crash cycles ($n_crashes)");
	diag sprintf(
		"crash torture (seed %d): %d crash cycles, %d consumer and %d worker terminations; "
		  . "%d messages enqueued (ids seen), %d acknowledged, %d unacknowledged that committed; "
		  . "%d messages checked done exactly once (%d fqs_message_status lookups in all); "
		  . "%d commits and %d fails acknowledged; "
		  . "%d completes checked (%d acknowledged in the drain), %d commits and %d completes took effect unacknowledged; "
		  . "penq pen seen non-empty before %d of %d crashes, largest %d; %.0f s",
		$SEED, $n_crashes, $n_consumer_kills, $n_worker_kills,
		$known, $acked, $present - $acked,
		$present, $n_status_calls, scalar(keys %commits), scalar(keys %fails),
		scalar(@dones), scalar(@dones) - $dones_before_drain,
		$unacked_commits, $unacked_dones,
		$pen_cycles, $n_crashes, $max_pen, $seconds);
	note "client errors (normal: fenced receipts after an expired lease, lost connections):";
	note "  $errors{$_} x $_" for sort keys %errors;
	note "interrupted client instances: " . join(', ', map { "$_ $interrupted{$_}" } sort keys %interrupted);
}

$node->stop;
done_testing();
