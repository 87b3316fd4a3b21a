# Copyright (c) 2026, fqs developers
#
# Background workers, lease reaper, delayed delivery and waiting claims.
#
# With shared_preload_libraries = 'fqs':
#  - the launcher runs (backend_type 'fqs launcher'), and CREATE EXTENSION
#    fqs in a new database gets that database an 'fqs worker' within a few
#    seconds, listed by fqs_workers();
#  - a worker ended with pg_terminate_backend is started again by the
#    launcher; kill -9 of a worker makes the postmaster restart after a
#    crash, and launcher and worker come back;
#  - DROP EXTENSION ends the database's worker for good, CREATE EXTENSION
#    brings it back; DROP DATABASE ... WITH (FORCE) of a database with a
#    worker succeeds and leaves nothing restarting for it;
#  - a terminated launcher comes back and still restarts workers; the
#    worker picks up a reloaded fqs.max_ready (SIGHUP);
#  - fqs.databases restricts the databases that get a worker (a NOTICE or
#    WARNING at CREATE EXTENSION in another one);
#  - the reaper returns the message of a consumer that died holding it to
#    ready (attempt counted, old receipt fenced off) or to dead after
#    max_attempts, without any claim call;
#  - deliver_at delays a message;
#  - fqs_claim, fqs_claim_sequential and fqs_claim_any with a wait return
#    soon after the enqueue, commit or lease expiry that gives them work; a
#    claimer waiting on a max_claimed queue does not block other claimers
#    of it; statement_timeout and pg_cancel_backend end a wait cleanly.
# Without preload: CREATE EXTENSION says what is missing, and the API works
# (a claim reclaims an expired lease itself; waits poll).
#
# Timing: everything is polled with generous limits; the only timing
# assertions are that a woken wait returns well before its end.

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

# ---------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------

# Run an SQL script in a background psql (ON_ERROR_STOP off, so that a
# session survives an error and goes on); output goes to files.
my $bg_n = 0;
sub bg_start
{
	my ($node, $db, $sql) = @_;
	$bg_n++;
	my $base = "$tmp/bg$bg_n";
	PostgreSQL::Test::Utils::append_to_file("$base.sql", $sql);
	my $h = start_psql_file($node, $node->connstr($db), "$base.sql", $base,
		timeout => 3 * $T);
	return { h => $h, base => $base };
}

# Wait for a background psql to end; returns (stdout, stderr).
sub bg_finish
{
	my ($bg) = @_;
	eval { $bg->{h}->finish; };
	if ($@)
	{
		diag "background psql did not end: $@";
		eval { $bg->{h}->kill_kill; };
	}
	return (slurp_file("$bg->{base}.out"), slurp_file("$bg->{base}.err"));
}

# pid of the session whose current query contains $mark and that waits on
# $wait_type ('Extension': a claim's wait; 'Timeout': pg_sleep), or ''.
sub waiting_pid
{
	my ($node, $db, $mark, $wait_type) = @_;
	my $sql =
	    "SELECT pid FROM pg_stat_activity WHERE pid <> pg_backend_pid() "
	  . "AND state = 'active' AND wait_event_type = '$wait_type' "
	  . "AND query LIKE '%$mark%'";
	ok($node->poll_query_until($db, "SELECT count(*) = 1 FROM ($sql) s"),
		"session '$mark' is waiting ($wait_type)");
	return $node->safe_psql($db, $sql);
}

sub worker_pid
{
	my ($node, $db) = @_;
	return $node->safe_psql('postgres',
		"SELECT string_agg(pid::text, ',') FROM pg_stat_activity "
		  . "WHERE backend_type = 'fqs worker' AND datname = '$db'");
}

# ---------------------------------------------------------------------
# Launcher and per-database workers
# ---------------------------------------------------------------------

my $node = preloaded_node('workers', "restart_after_crash = on\n");

ok( $node->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'fqs launcher'"),
	'the launcher runs (pg_stat_activity backend_type fqs launcher)');

# ctl: a database with fqs from which fqs_workers() is called
$node->safe_psql('postgres', 'CREATE DATABASE ctl');
$node->safe_psql('ctl', 'CREATE EXTENSION fqs');
$node->safe_psql('postgres', 'CREATE DATABASE w1');
{
	my ($ret, $out, $err) = $node->psql('w1', 'CREATE EXTENSION fqs');
	is($ret, 0, 'CREATE EXTENSION fqs in a new database');
	unlike($err, qr/shared_preload_libraries|fqs\.databases/,
		'no NOTICE about a missing worker when preloaded');
}
ok( $node->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'fqs worker' AND datname = 'w1'"),
	'an fqs worker for the new database appears');
my $w1pid = worker_pid($node, 'w1');
like($w1pid, qr/^\d+$/, "one worker for w1 (pid $w1pid)");
ok( $node->poll_query_until('ctl',
		"SELECT pid = $w1pid AND has_extension FROM fqs_workers() WHERE datname = 'w1'"),
	'fqs_workers() lists the worker of w1 with its pid');
is( $node->safe_psql('postgres',
		"SELECT application_name FROM pg_stat_activity WHERE pid = $w1pid"),
	'fqs worker', 'the worker reports application_name fqs worker');
ok( $node->poll_query_until('ctl',
		"SELECT count(*) = 1 FROM fqs_workers() WHERE datname = 'ctl' AND pid IS NOT NULL"),
	'the database ctl has its worker too');

# pg_terminate_backend: the launcher starts a new one
ok($node->safe_psql('postgres', "SELECT pg_terminate_backend($w1pid)") eq 't',
	'worker of w1 terminated');
ok( $node->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'fqs worker' "
		  . "AND datname = 'w1' AND pid <> $w1pid"),
	'the launcher started a new worker after pg_terminate_backend');
my $w1pid2 = worker_pid($node, 'w1');
ok( $node->poll_query_until('ctl',
		"SELECT pid = $w1pid2 FROM fqs_workers() WHERE datname = 'w1'"),
	'fqs_workers() shows the new pid');

# kill -9 of a worker: a crash for the postmaster, which restarts
{
	my $pos = -s $node->logfile;
	my $launcher = $node->safe_psql('postgres',
		"SELECT pid FROM pg_stat_activity WHERE backend_type = 'fqs launcher'");
	kill 'KILL', $w1pid2;
	$node->wait_for_log(qr/all server processes terminated; reinitializing/, $pos);
	pass('kill -9 of a worker made the postmaster reinitialise');
	ok( $node->poll_query_until('postgres',
			"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'fqs launcher' "
			  . "AND pid <> $launcher"),
		'the launcher is back after the crash restart');
	ok( $node->poll_query_until('postgres',
			"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'fqs worker' "
			  . "AND datname = 'w1' AND pid <> $w1pid2"),
		'the worker of w1 is back after the crash restart');
	my $p = worker_pid($node, 'w1');
	ok( $node->poll_query_until('ctl',
			"SELECT pid = $p AND has_extension FROM fqs_workers() WHERE datname = 'w1'"),
		'fqs_workers() shows it');
}

# DROP EXTENSION: the worker leaves and is not restarted; CREATE brings it back
{
	my $pos = -s $node->logfile;
	$node->safe_psql('w1', 'DROP EXTENSION fqs');
	ok( $node->poll_query_until('postgres',
			"SELECT count(*) = 0 FROM pg_stat_activity WHERE backend_type = 'fqs worker' AND datname = 'w1'"),
		'after DROP EXTENSION the worker of w1 exits');
	sleep 3;
	is(worker_pid($node, 'w1'), '', 'and no worker is started again for w1 (3 s later)');
	is($node->safe_psql('ctl', "SELECT count(*) FROM fqs_workers() WHERE datname = 'w1'"),
		'0', 'fqs_workers() no longer lists w1');
	is(count_log($node, qr/fqs worker started for database "w1"/, $pos), 0,
		'the log shows no new worker for w1');

	$node->safe_psql('w1', 'CREATE EXTENSION fqs');
	ok( $node->poll_query_until('postgres',
			"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'fqs worker' AND datname = 'w1'"),
		'CREATE EXTENSION again: the worker of w1 comes back');
	ok( $node->poll_query_until('ctl',
			"SELECT has_extension FROM fqs_workers() WHERE datname = 'w1'"),
		'fqs_workers() lists w1 again');
}

# DROP DATABASE ... WITH (FORCE): succeeds, and nothing keeps restarting
for my $round (1 .. 2)
{
	my $db = "wdrop$round";
	$node->safe_psql('postgres', "CREATE DATABASE $db");
	$node->safe_psql($db, 'CREATE EXTENSION fqs');
	my $oid = $node->safe_psql('postgres', "SELECT oid FROM pg_database WHERE datname = '$db'");
	ok( $node->poll_query_until('ctl',
			"SELECT has_extension FROM fqs_workers() WHERE datname = '$db'"),
		"round $round: $db has a worker");
	# round 2: the worker has run for a while, so the launcher would
	# restart it at once if it tried
	sleep 2 if $round == 2;
	my $pos = -s $node->logfile;
	my ($ret, $out, $err) = $node->psql('postgres', "DROP DATABASE $db WITH (FORCE)");
	is($ret, 0, "round $round: DROP DATABASE $db WITH (FORCE) succeeds") or diag $err;
	sleep 3;
	is( $node->safe_psql('postgres',
			"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'fqs worker' "
			  . "AND (datid = $oid OR datname = '$db')"),
		'0', "round $round: no worker left for the dropped database");
	my $n1 = count_log($node, qr/database (\d+|"$db") does not exist/, $pos);
	cmp_ok($n1, '<=', 2, "round $round: at most 2 'does not exist' lines in 3 s ($n1)");
	sleep 1;
	my $n2 = count_log($node, qr/database (\d+|"$db") does not exist/, $pos);
	is($n2, $n1, "round $round: and no more of them later");
	is(count_log($node, qr/could not start a worker/, $pos), 0,
		"round $round: the launcher did not run out of worker processes");
}
is($node->safe_psql('ctl', 'SELECT count(*) FROM fqs_workers() WHERE datname LIKE \'wdrop%\''),
	'0', 'fqs_workers() lists no dropped database');

# the launcher itself ended: a new one comes, and still restarts workers
{
	my $launcher = $node->safe_psql('postgres',
		"SELECT pid FROM pg_stat_activity WHERE backend_type = 'fqs launcher'");
	$node->safe_psql('postgres', "SELECT pg_terminate_backend($launcher)");
	ok( $node->poll_query_until('postgres',
			"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'fqs launcher' AND pid <> $launcher"),
		'a terminated launcher is started again');
	my $p = worker_pid($node, 'w1');
	like($p, qr/^\d+$/, 'the worker of w1 kept running meanwhile');
	$node->safe_psql('postgres', "SELECT pg_terminate_backend($p)");
	ok( $node->poll_query_until('postgres',
			"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'fqs worker' "
			  . "AND datname = 'w1' AND pid <> $p"),
		'the new launcher restarts a worker started by the old one');
}

# SIGHUP: the worker picks up a new fqs.max_ready (queues with max_ready NULL)
{
	$node->safe_psql('w1', "SELECT fqs_create_queue('h')");
	$node->safe_psql('postgres', 'ALTER SYSTEM SET fqs.max_ready = 5');
	$node->safe_psql('postgres', 'SELECT pg_reload_conf()');
	ok($node->poll_query_until('postgres', "SELECT current_setting('fqs.max_ready')", '5'),
		'fqs.max_ready = 5 after reload');
	$node->safe_psql('w1', "SELECT fqs_enqueue('h', 'h' || i) FROM generate_series(1, 10) i");
	ok( $node->poll_query_until('w1',
			"SELECT breaker_open AND max_ready IS NULL FROM fqs_queues WHERE queue = 'h'"),
		'the worker opened the breaker at the reloaded default max_ready');
	my $id = $node->safe_psql('w1', "SELECT fqs_enqueue('h', 'h11')");
	# the enqueues themselves may have sent some of the ten to the pen
	# already (the ready depth estimate); none goes past it
	is($node->safe_psql('w1',
			"SELECT (fqs_message_status($id)).state, pen + ready FROM fqs_queues WHERE queue = 'h'"),
		'pen|11', 'the next message waits in the pen');
	$node->safe_psql('postgres', 'ALTER SYSTEM RESET fqs.max_ready');
	$node->safe_psql('postgres', 'SELECT pg_reload_conf()');
	ok( $node->poll_query_until('w1',
			"SELECT NOT breaker_open AND pen = 0 FROM fqs_queues WHERE queue = 'h'"),
		'back at the default max_ready the pen drains and the breaker closes');
}

# ---------------------------------------------------------------------
# Lease reaper: a consumer dies holding a message
# ---------------------------------------------------------------------

$node->safe_psql('w1', q{
SELECT fqs_create_queue('r', max_attempts => 5);
SELECT fqs_create_queue('r1', max_attempts => 1);
});
my $rid  = $node->safe_psql('w1', "SELECT fqs_enqueue('r', 'reap-me', 'k')");
my $rid1 = $node->safe_psql('w1', "SELECT fqs_enqueue('r1', 'die-me', 'k')");
{
	my $bg = bg_start($node, 'w1', qq{
SELECT 'claimed', id, receipt FROM fqs_claim('r', 1, '300ms');
SELECT 'claimed', id, receipt FROM fqs_claim('r1', 1, '300ms');
SELECT 'reapmark', pg_sleep(600);
});
	my $pid = waiting_pid($node, 'w1', 'reapmark', 'Timeout');
	is($node->safe_psql('w1', "SELECT pg_terminate_backend($pid)"), 't',
		'the consumer holding the messages is terminated');
	my ($out, $err) = bg_finish($bg);
	my %receipt = map { (split /\|/)[1, 2] } grep { /^claimed\|/ } split /\n/, $out;
	ok(exists $receipt{$rid} && exists $receipt{$rid1},
		'the consumer had claimed both messages') or diag "out: $out\nerr: $err";

	ok( $node->poll_query_until('w1',
			"SELECT state = 'ready' FROM fqs_message_status($rid)"),
		'the reaper put the expired lease back to ready (no claim called)');
	is( $node->safe_psql('w1',
			"SELECT state, attempts, last_error FROM fqs_message_status($rid)"),
		'ready|1|lease expired', 'attempt counted, last_error lease expired');
	is($node->safe_psql('w1', "SELECT claimed, ready FROM fqs_queues WHERE queue = 'r'"),
		'0|1', 'fqs_queues: claimed 0, ready 1');
	my ($ret, $o, $e) = $node->psql('w1', "SELECT fqs_commit($rid, $receipt{$rid}, 'late')");
	isnt($ret, 0, 'the dead consumer\'s receipt is refused after the reap');
	like($e, qr/ERROR:/, 'with an error');

	ok( $node->poll_query_until('w1',
			"SELECT state = 'dead' FROM fqs_message_status($rid1)"),
		'max_attempts => 1: the expired message went to dead');
	is( $node->safe_psql('w1',
			"SELECT stage, attempts FROM fqs_dead_messages WHERE id = $rid1"),
		'concurrent|1', 'fqs_dead_messages shows it (concurrent stage, 1 attempt)');
	is($node->safe_psql('w1', "SELECT claimed, ready, dead FROM fqs_queues WHERE queue = 'r1'"),
		'0|0|1', 'fqs_queues: r1 has it as dead');

	my $row = $node->safe_psql('w1', "SELECT id, attempt FROM fqs_claim('r', 1)");
	is($row, "$rid|2", 'the reaped message is claimed again with attempt 2');
}

# ---------------------------------------------------------------------
# Delayed delivery
# ---------------------------------------------------------------------

$node->safe_psql('w1', "SELECT fqs_create_queue('d')");
{
	my $out = $node->safe_psql('w1', q{
SELECT clock_timestamp() + interval '1 second' AS due \gset
SELECT fqs_enqueue('d', 'later', deliver_at => :'due') AS did \gset
SELECT :did;
SELECT count(*) FROM fqs_claim('d', 1);
SELECT state FROM fqs_message_status(:did);
SELECT clock_timestamp() < :'due'::timestamptz;
});
	my ($did, $n, $state, $early) = split /\n/, $out;
	if ($early eq 't')
	{
		is($n, '0', 'a message with deliver_at 1 s ahead is not claimable at once');
		is($state, 'delayed', 'fqs_message_status shows it delayed');
	}
	else
	{
		# the machine stalled for a second: nothing to check here
		pass('(the machine stalled, skipping the not-yet-due checks)') for 1 .. 2;
	}
	ok($node->poll_query_until('w1', "SELECT count(*) = 1 FROM fqs_claim('d', 1)"),
		'it is claimable after the time');
	is( $node->safe_psql('w1',
			"SELECT s.claimed_at >= m.enqueued_at + interval '1 second' "
			  . "FROM fqs_message_status($did) s, fqs.message m WHERE m.id = $did"),
		't', 'it was claimed no sooner than deliver_at');

	# a waiting claim gets it when it is due
	$out = $node->safe_psql('w1', q{
SELECT clock_timestamp() + interval '1 second' AS due \gset
SELECT fqs_enqueue('d', 'later2', deliver_at => :'due');
SELECT payload, clock_timestamp() >= :'due'::timestamptz,
       extract(epoch FROM clock_timestamp() - statement_timestamp())
  FROM fqs_claim('d', 1, wait => '10 seconds');
});
	my ($did2, $got) = split /\n/, $out;
	my ($payload, $due, $secs) = split /\|/, $got // '';
	is($payload, 'later2', 'a claim waiting 10 s gets the delayed message');
	is($due, 't', 'no sooner than its deliver_at');
	cmp_ok($secs // 99, '<', 5, 'and well before the wait ends');
}

# ---------------------------------------------------------------------
# Waiting claims
# ---------------------------------------------------------------------

$node->safe_psql('w1', q{
SELECT fqs_create_queue('w');
SELECT fqs_create_queue('s');
SELECT fqs_create_queue('a', priority => 1);
SELECT fqs_create_queue('b');
});

# A background claim waiting up to 10 s; $wake runs in another session and
# must end its wait.  Returns (row, seconds from before $wake to return,
# seconds the claim statement took).
sub woken_claim
{
	my ($node, $db, $call, $mark, $wake) = @_;
	my $bg = bg_start($node, $db, qq{
SELECT '$mark', id, payload, extract(epoch FROM clock_timestamp()),
       extract(epoch FROM clock_timestamp() - statement_timestamp())
  FROM $call;
});
	waiting_pid($node, $db, $mark, 'Extension');
	my $t0 = time;
	$wake->();
	my ($out, $err) = bg_finish($bg);
	my ($line) = grep { /^\Q$mark\E\|/ } split /\n/, $out;
	unless (defined $line)
	{
		diag "claim returned nothing; stderr: $err";
		return ('', 99, 99);
	}
	my (undef, $id, $payload, $end, $stmt) = split /\|/, $line;
	return ("$id|$payload", $end - $t0, $stmt);
}

my @latency;
for my $i (1 .. 5)
{
	my $id;
	my ($row, $lat, $stmt) = woken_claim($node, 'w1',
		"fqs_claim('w', 1, wait => '10 seconds')", "wmark$i",
		sub { $id = $node->safe_psql('w1', "SELECT fqs_enqueue('w', 'hello-$i')") });
	is($row, "$id|hello-$i", "fqs_claim wait ($i): returns the enqueued message");
	cmp_ok($lat, '<', 5, "fqs_claim wait ($i): returns soon after the enqueue");
	cmp_ok($stmt, '<', 9.5, "fqs_claim wait ($i): well before the wait ends");
	push @latency, $lat;
}
@latency = sort { $a <=> $b } @latency;
diag sprintf('fqs_claim wake-up (enqueue in another session -> claimer returned, '
	  . 'incl. psql start-up): median %.1f ms, max %.1f ms',
	1000 * $latency[2], 1000 * $latency[-1]);

# sequential: woken by the commit that makes the key's head releasable
{
	my $sid = $node->safe_psql('w1', "SELECT fqs_enqueue('s', 'seq-1', 'k')");
	is($node->safe_psql('w1', "SELECT count(*) FROM fqs_claim_sequential('s', 1)"), '0',
		'nothing releasable before the commit');
	my ($row, $lat, $stmt) = woken_claim($node, 'w1',
		"fqs_claim_sequential('s', 1, wait => '10 seconds')", 'smark',
		sub {
			my ($id, $r) = split /\|/,
			  $node->safe_psql('w1', "SELECT id, receipt FROM fqs_claim('s', 1)");
			$node->safe_psql('w1', "SELECT fqs_commit($id, $r, 'seq-result')");
		});
	is($row, "$sid|seq-result", 'fqs_claim_sequential wait: returns the committed head with its result');
	cmp_ok($lat, '<', 5, 'fqs_claim_sequential wait: returns soon after the commit');
	cmp_ok($stmt, '<', 9.5, 'fqs_claim_sequential wait: well before the wait ends');
}

# fqs_claim_any over two queues: an enqueue to either wakes it
for my $q ('b', 'a')
{
	my $id;
	my ($row, $lat, $stmt) = woken_claim($node, 'w1',
		"fqs_claim_any(ARRAY['a','b'], wait => '10s')", "anymark$q",
		sub { $id = $node->safe_psql('w1', "SELECT fqs_enqueue('$q', 'any-$q')") });
	is($row, "$id|any-$q", "fqs_claim_any wait: returns the message enqueued to $q");
	cmp_ok($lat, '<', 5, "fqs_claim_any wait ($q): returns soon after the enqueue");
	cmp_ok($stmt, '<', 9.5, "fqs_claim_any wait ($q): well before the wait ends");
}

# a lease that runs out wakes a waiting claimer (reaper or the claim's own
# look): the message comes back to it with attempt 2
{
	$node->safe_psql('w1', "SELECT fqs_create_queue('le')");
	my $id = $node->safe_psql('w1', "SELECT fqs_enqueue('le', 'expiring')");
	$node->safe_psql('w1', "SELECT fqs_claim('le', 1, '3 seconds')");
	my ($row, $lat, $stmt) = woken_claim($node, 'w1',
		"fqs_claim('le', 1, wait => '10 seconds')", 'lemark', sub { });
	is($row, "$id|expiring", 'a waiting claim gets the message whose lease ran out');
	cmp_ok($stmt, '<', 9.5, 'lease expiry: well before the wait ends');
}

# a queue with max_claimed: a claimer waiting on it must not keep other
# claimers of the queue out (a claim without wait returns at once, empty)
{
	$node->safe_psql('w1', "SELECT fqs_create_queue('mc', max_claimed => 10)");
	my $bg = bg_start($node, 'w1', q{
SELECT 'mcmark', id, payload FROM fqs_claim('mc', 1, wait => '30 seconds');
});
	waiting_pid($node, 'w1', 'mcmark', 'Extension');
	my ($ret, $out, $err) = $node->psql('w1', q{
SET statement_timeout = '5s';
SELECT 'plain claim', count(*) FROM fqs_claim('mc', 1);
});
	is($out, 'plain claim|0',
		'max_claimed: a claim without wait is not blocked by a waiting claimer')
	  or diag "stderr: $err";
	($ret, $out, $err) = $node->psql('w1', q{
SET statement_timeout = '5s';
SELECT 'any claim', count(*) FROM fqs_claim_any(ARRAY['mc']);
});
	is($out, 'any claim|0',
		'max_claimed: fqs_claim_any without wait is not blocked either')
	  or diag "stderr: $err";
	my $id = $node->safe_psql('w1', "SELECT fqs_enqueue('mc', 'mc-msg')");
	($out, $err) = bg_finish($bg);
	like($out, qr/^mcmark\|$id\|mc-msg$/m, 'the waiting claimer gets the message');
}

# statement_timeout ends a wait with its error; the session goes on
{
	my ($ret, $out, $err) = $node->psql('w1', q{
SET statement_timeout = '500ms';
SELECT * FROM fqs_claim('w', 1, wait => '10 seconds');
RESET statement_timeout;
SELECT 'still-alive';
}, on_error_stop => 0);
	like($err, qr/canceling statement due to statement timeout/,
		'statement_timeout ends a wait with the statement-timeout error');
	like($out, qr/still-alive/, 'the session stays usable after the timeout');
}

# pg_cancel_backend ends a wait cleanly; the session can wait again
{
	my $bg = bg_start($node, 'w1', q{
SELECT 'cancelmark', id FROM fqs_claim('w', 1, wait => '60 seconds');
SELECT 'after-cancel';
SELECT 'againmark', payload FROM fqs_claim('w', 1, wait => '10 seconds');
});
	my $pid = waiting_pid($node, 'w1', 'cancelmark', 'Extension');
	my $t0 = time;
	is($node->safe_psql('w1', "SELECT pg_cancel_backend($pid)"), 't', 'waiting claim cancelled');
	waiting_pid($node, 'w1', 'againmark', 'Extension');
	cmp_ok(time - $t0, '<', 30, 'the cancelled wait ended long before its 60 s');
	my $id = $node->safe_psql('w1', "SELECT fqs_enqueue('w', 'after-cancel-msg')");
	my ($out, $err) = bg_finish($bg);
	like($err, qr/canceling statement due to user request/, 'the wait ended with the cancel error');
	like($out, qr/^after-cancel$/m, 'the session stayed usable');
	like($out, qr/^againmark\|after-cancel-msg$/m,
		'and a second wait in the same session is woken by an enqueue');
	unlike($err, qr/FATAL|PANIC|terminat/, 'no session was lost');
}

# ---------------------------------------------------------------------
# fqs.databases restricts the databases that get a worker
# ---------------------------------------------------------------------

$node->safe_psql('postgres', "ALTER SYSTEM SET fqs.databases = 'wlisted'");
$node->safe_psql('postgres', 'SELECT pg_reload_conf()');
ok($node->poll_query_until('postgres', "SELECT current_setting('fqs.databases')", 'wlisted'),
	'fqs.databases = wlisted is in effect');
$node->safe_psql('postgres', 'CREATE DATABASE wnot');
$node->safe_psql('postgres', 'CREATE DATABASE wlisted');
{
	my ($ret, $out, $err) = $node->psql('wnot', 'CREATE EXTENSION fqs');
	is($ret, 0, 'CREATE EXTENSION in a database not listed works');
	# (a NOTICE raised inside an extension script is hidden by CREATE
	# EXTENSION, which runs it with client_min_messages = warning)
	like($err, qr/(NOTICE|WARNING):.*not listed in fqs\.databases/,
		'with a NOTICE that it gets no worker');
	($ret, $out, $err) = $node->psql('wlisted', 'CREATE EXTENSION fqs');
	unlike($err, qr/NOTICE/, 'no NOTICE in a listed database');
	ok( $node->poll_query_until('postgres',
			"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'fqs worker' AND datname = 'wlisted'"),
		'the listed database gets its worker');
	sleep 3;
	is(worker_pid($node, 'wnot'), '', 'no worker for the database not listed (3 s later)');
	is($node->safe_psql('ctl', "SELECT count(*) FROM fqs_workers() WHERE datname = 'wnot'"),
		'0', 'fqs_workers() does not list it');
}
$node->safe_psql('postgres', 'ALTER SYSTEM RESET fqs.databases');
$node->safe_psql('postgres', 'SELECT pg_reload_conf()');

$node->stop;

# ---------------------------------------------------------------------
# Without shared_preload_libraries
# ---------------------------------------------------------------------

my $plain = PostgreSQL::Test::Cluster->new('nopreload');
$plain->init;
$plain->append_conf('postgresql.conf', "log_min_messages = warning\n");
$plain->start;
{
	my ($ret, $out, $err) = $plain->psql('postgres', 'CREATE EXTENSION fqs');
	is($ret, 0, 'without preload: CREATE EXTENSION fqs works');
	like($err, qr/(NOTICE|WARNING):.*shared_preload_libraries/s,
		'with a NOTICE that mentions shared_preload_libraries');
	($ret, $out, $err) = $plain->psql('postgres', 'SELECT fqs.start_worker()');
	note "fqs.start_worker() called directly says: $err";
}
is($plain->safe_psql('postgres', 'SELECT count(*) FROM fqs_workers()'), '0',
	'without preload: fqs_workers() is empty');
is( $plain->safe_psql('postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE backend_type IN ('fqs launcher', 'fqs worker')"),
	'0', 'without preload: no launcher and no worker');

$plain->safe_psql('postgres', "SELECT fqs_create_queue('p')");
my $p1 = $plain->safe_psql('postgres', "SELECT fqs_enqueue('p', 'one', 'k')");
my $p2 = $plain->safe_psql('postgres', "SELECT fqs_enqueue('p', 'two', 'k')");
{
	my ($id, $r1, $att) = split /\|/,
	  $plain->safe_psql('postgres', "SELECT id, receipt, attempt FROM fqs_claim('p', 1, '300ms')");
	is("$id|$att", "$p1|1", 'without preload: claim works');
	ok( $plain->poll_query_until('postgres',
			"SELECT lease_until < clock_timestamp() FROM fqs.ready WHERE id = $p1"),
		'its lease runs out');
	sleep 1;
	is($plain->safe_psql('postgres', "SELECT state FROM fqs_message_status($p1)"), 'claimed',
		'without a worker nobody reaps it');
	my ($id2, $r2, $att2) = split /\|/,
	  $plain->safe_psql('postgres', "SELECT id, receipt, attempt FROM fqs_claim('p', 1, '1 hour')");
	is("$id2|$att2", "$p1|2", 'the claim reclaims the expired lease itself (attempt 2)');
	my ($ret, $o, $e) = $plain->psql('postgres', "SELECT fqs_commit($p1, $r1, 'stale')");
	isnt($ret, 0, 'the old receipt is refused');
	$plain->safe_psql('postgres', "SELECT fqs_commit($p1, $r2, 'res-one')");

	# fqs_maintain() reaps by hand
	my ($i3, $r3) = split /\|/,
	  $plain->safe_psql('postgres', "SELECT id, receipt FROM fqs_claim('p', 1, '300ms')");
	is($i3, $p2, 'second message claimed');
	ok( $plain->poll_query_until('postgres',
			"SELECT lease_until < clock_timestamp() FROM fqs.ready WHERE id = $p2"),
		'its lease runs out');
	$plain->safe_psql('postgres', 'SELECT fqs_maintain()');
	is($plain->safe_psql('postgres', "SELECT state, attempts FROM fqs_message_status($p2)"),
		'ready|1', 'fqs_maintain() reaps it');
	($i3, $r3) = split /\|/,
	  $plain->safe_psql('postgres', "SELECT id, receipt FROM fqs_claim('p', 1)");
	$plain->safe_psql('postgres', "SELECT fqs_commit($i3, $r3, 'res-two')");

	my @rel;
	for (1 .. 2)
	{
		my ($sid, $sr, $sp) = split /\|/, $plain->safe_psql('postgres',
			"SELECT id, receipt, payload FROM fqs_claim_sequential('p', 1)");
		$plain->safe_psql('postgres', "SELECT fqs_complete($sid, $sr)");
		push @rel, "$sid|$sp";
	}
	is_deeply(\@rel, [ "$p1|res-one", "$p2|res-two" ],
		'without preload: the sequential stage releases in order');
	is($plain->safe_psql('postgres',
			"SELECT pen, ready, claimed, processed, done_total FROM fqs_queues WHERE queue = 'p'"),
		'0|0|0|0|2', 'without preload: both done');
}

# waits poll without shared memory, but still return soon after an enqueue
{
	my $id;
	my ($row, $lat, $stmt) = woken_claim($plain, 'postgres',
		"fqs_claim('p', 1, wait => '10 seconds')", 'plainmark',
		sub { $id = $plain->safe_psql('postgres', "SELECT fqs_enqueue('p', 'polled')") });
	is($row, "$id|polled", 'without preload: a waiting claim gets the enqueued message');
	cmp_ok($lat, '<', 5, 'without preload: soon after the enqueue');
	cmp_ok($stmt, '<', 9.5, 'without preload: well before the wait ends');
}

$plain->stop;
done_testing();
