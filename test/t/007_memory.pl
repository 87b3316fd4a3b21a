# Copyright (c) 2026, fqs developers
#
# Memory of long waits and big calls.
#
# With shared_preload_libraries = 'fqs' (wake-ups through shared memory):
#  - a fqs_claim_any over 49 queues that never get a message waits its
#    whole 30 s while pgbench enqueues, claims and commits on another
#    queue, so every commit wakes it (database-wide variable) and it looks
#    again over all 49 queues.  Its backend's memory, read from outside
#    with pg_log_backend_memory_contexts() ("Grand total" in the server
#    log), must not grow between ~3 s and ~26 s into the traffic.  A
#    fqs_claim on an empty queue waits alongside and must not grow either.
#  - fqs_claim_sequential(n => 10000) over 10,000 keys, each with one
#    processed message, returns them all without raising the backend's
#    peak RSS (VmHWM from /proc/self/status) by 64 MB or more.
#
# Before the fix, SPI result tables were kept until the end of the call:
# the waiting claim grew by about a megabyte per wake, and the big
# sequential claim held hundreds of MB.

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

my $WAIT_S      = 30;          # the waiting claims' wait
my $RATE        = 20;          # traffic transactions per second
my $TRAFFIC_S   = 27;          # pgbench -T
my $SAMPLE1_S   = 3;           # first sample, s after the traffic starts
my $SAMPLE2_S   = 26;          # second sample, s after the waits started
my $MAX_GROWTH  = 1024 * 1024; # allowed Grand total growth, bytes
my $MAX_GROWTH1 = 256 * 1024;  # the same for the fqs_claim waiter, which
                               # looks only once a second
my $MAX_PEAK_KB = 64 * 1024;   # allowed VmHWM growth of the big call, kB

my $node = preloaded_node('memory');
my $db   = 'postgres';
$node->safe_psql($db, 'CREATE EXTENSION fqs');

# ---------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------

# Fields of /proc/$pid/status (kB) and the CPU ticks of /proc/$pid/stat.
sub proc_mem
{
	my ($pid) = @_;
	my %m;
	if (open(my $fh, '<', "/proc/$pid/status"))
	{
		while (<$fh>)
		{
			$m{$1} = $2 if /^(Vm\w+|Rss\w+):\s+(\d+)\s+kB/;
		}
		close $fh;
	}
	if (open(my $fh, '<', "/proc/$pid/stat"))
	{
		my $stat = <$fh>;
		close $fh;
		# fields after "(comm) ": state is 1st, utime 12th, stime 13th
		if ($stat =~ /\)\s+(.*)$/)
		{
			my @f = split /\s+/, $1;
			$m{cpu_ticks} = $f[11] + $f[12];
		}
	}
	return \%m;
}

# Ask backend $pid to log its memory contexts; returns its Grand total in
# bytes (undef if the lines did not appear within 15 s), its lines about
# contexts of 64 kB or more and about summarised children, and /proc
# figures.
sub memory_sample
{
	my ($pid, $label) = @_;
	my $pos = -s $node->logfile;
	my $ok = $node->safe_psql($db, "SELECT pg_log_backend_memory_contexts($pid)");
	my ($total, @lines);
	if ($ok eq 't')
	{
		my $deadline = time + 15;
		while (time < $deadline)
		{
			my $log = slurp_file($node->logfile, $pos);
			if ($log =~ /\[$pid\][^\n]*Grand total: (\d+) bytes/)
			{
				$total = $1;
				# the big contexts, and the summaries of the rest
				@lines =
				  grep {
					/\[$pid\]/
					  && (/more child contexts/
						|| (/level: \d+; .*?(\d+) total in/ && $1 >= 65536))
				  } split /\n/, $log;
				last;
			}
			usleep(100_000);
		}
	}
	my $m = proc_mem($pid);
	note sprintf('%s: pid %d Grand total %s bytes; VmRSS %s kB, VmData %s kB, '
		  . 'RssAnon %s kB, VmHWM %s kB, cpu %s ticks',
		$label, $pid, $total // '(none)', $m->{VmRSS} // '?', $m->{VmData} // '?',
		$m->{RssAnon} // '?', $m->{VmHWM} // '?', $m->{cpu_ticks} // '?');
	return { total => $total, lines => \@lines, %$m };
}

# Start a psql running $sql in the background (stdout/stderr to files).
my $bg_n = 0;
sub bg_start
{
	my ($sql) = @_;
	$bg_n++;
	my $base = "$tmp/bg$bg_n";
	PostgreSQL::Test::Utils::append_to_file("$base.sql", $sql);
	my $h = start_psql_file($node, $node->connstr($db), "$base.sql", $base,
		timeout => $WAIT_S + 60);
	return { h => $h, base => $base };
}

# Wait for a background process to end; returns (stdout, stderr).
sub bg_finish
{
	my ($bg) = @_;
	eval { $bg->{h}->finish; };
	if ($@)
	{
		diag "background process did not end: $@";
		eval { $bg->{h}->kill_kill; };
	}
	return (slurp_file("$bg->{base}.out"), slurp_file("$bg->{base}.err"));
}

# ---------------------------------------------------------------------
# Setup
# ---------------------------------------------------------------------

my @quiet = map { sprintf('w%02d', $_) } 1 .. 49;
$node->safe_psql($db,
	join("\n", map { "SELECT fqs_create_queue('$_');" } @quiet, 'emptyq', 'traffic')
	  . "\nSELECT fqs_create_queue('big', max_ready => 0);");
is($node->safe_psql($db, 'SELECT count(*) FROM fqs.queue'), '52', '52 queues created');

# ---------------------------------------------------------------------
# 1. Waiting claims under traffic
# ---------------------------------------------------------------------

my $qlist = 'ARRAY[' . join(',', map { "'$_'" } @quiet) . ']';
my $any = bg_start(qq{
SET application_name = 'fqs_mem_any';
SELECT 'any', count(*), extract(epoch FROM clock_timestamp() - statement_timestamp())
  FROM fqs_claim_any($qlist, 1, wait => '$WAIT_S seconds');
});
my $one = bg_start(qq{
SET application_name = 'fqs_mem_one';
SELECT 'one', count(*), extract(epoch FROM clock_timestamp() - statement_timestamp())
  FROM fqs_claim('emptyq', 1, wait => '$WAIT_S seconds');
});
my $t_wait = time;

my $waiting_sql =
    "SELECT pid FROM pg_stat_activity WHERE application_name = '%s' "
  . "AND state = 'active' AND wait_event_type = 'Extension'";
ok($node->poll_query_until($db,
		sprintf("SELECT count(*) = 1 FROM (%s) s", sprintf($waiting_sql, 'fqs_mem_any'))),
	'fqs_claim_any over 49 empty queues is waiting')
  or BAIL_OUT('the fqs_claim_any waiter never waited');
ok($node->poll_query_until($db,
		sprintf("SELECT count(*) = 1 FROM (%s) s", sprintf($waiting_sql, 'fqs_mem_one'))),
	'fqs_claim on an empty queue is waiting')
  or BAIL_OUT('the fqs_claim waiter never waited');
my $any_pid = $node->safe_psql($db, sprintf($waiting_sql, 'fqs_mem_any'));
my $one_pid = $node->safe_psql($db, sprintf($waiting_sql, 'fqs_mem_one'));

# traffic: one pgbench client, enqueue + claim + commit on 'traffic', each
# statement its own transaction; the enqueue's and the commit's commits
# wake claimers through the database-wide variable
PostgreSQL::Test::Utils::append_to_file("$tmp/traffic.sql", q{
SELECT fqs_enqueue('traffic', repeat('t', 100));
SELECT id, receipt FROM fqs_claim('traffic', 1) \gset
SELECT fqs_commit(:id, :receipt);
});
my ($pgb_out, $pgb_err) = ('', '');
my $pgbench = IPC::Run::start(
	[
		$node->installed_command('pgbench'), '-n', '-c', '1', '-j', '1',
		'-T', $TRAFFIC_S, '--rate', $RATE, '-f', "$tmp/traffic.sql",
		'-h', $node->host, '-p', $node->port, $db
	],
	'<', \undef, '>', \$pgb_out, '2>', \$pgb_err,
	IPC::Run::timeout($TRAFFIC_S + 60));
my $t_traffic = time;

# first sample once the traffic runs
usleep(1_000_000 * ($SAMPLE1_S - (time - $t_traffic))) if time - $t_traffic < $SAMPLE1_S;
my $done = $node->safe_psql($db, "SELECT done_total + processed + sequencing "
	  . "FROM fqs_queues WHERE queue = 'traffic'");
cmp_ok($done, '>', 0, "traffic is flowing ($done messages committed at the first sample)");
my $any1 = memory_sample($any_pid, 'fqs_claim_any waiter, first sample');
my $one1 = memory_sample($one_pid, 'fqs_claim waiter, first sample');
ok(defined $any1->{total} && defined $one1->{total},
	'pg_log_backend_memory_contexts logged both waiters (first sample)')
  or BAIL_OUT('no memory context dump in the server log');

# second sample near the end of the waits, traffic still running
usleep(1_000_000 * ($SAMPLE2_S - (time - $t_wait))) if time - $t_wait < $SAMPLE2_S;
my $any2 = memory_sample($any_pid, 'fqs_claim_any waiter, second sample');
my $one2 = memory_sample($one_pid, 'fqs_claim waiter, second sample');
ok(defined $any2->{total} && defined $one2->{total},
	'pg_log_backend_memory_contexts logged both waiters (second sample)');
my $span = time - $t_traffic;

eval { $pgbench->finish; };
if ($@)
{
	diag "pgbench did not end: $@";
	eval { $pgbench->kill_kill; };
}
my ($tx) = $pgb_out =~ /number of transactions actually processed: (\d+)/;
$tx //= 0;
note "pgbench: $tx transactions (enqueue + claim + commit) in $TRAFFIC_S s";
cmp_ok($tx, '>=', 5 * $TRAFFIC_S,
	"traffic ran: $tx transactions, each waking the claim_any waiter")
  or diag "pgbench stdout:\n$pgb_out\nstderr:\n$pgb_err";
my ($failed) = $pgb_out =~ /number of failed transactions: (\d+)/;
is($failed // 0, 0, 'no traffic transaction failed');

my ($out, $err) = bg_finish($any);
my ($line) = grep { /^any\|/ } split /\n/, $out;
my (undef, $n, $secs) = split /\|/, $line // '';
is($n, '0', 'fqs_claim_any claimed nothing') or diag "out: $out\nerr: $err";
cmp_ok($secs // 0, '>=', $WAIT_S - 0.5, "and waited its whole $WAIT_S s (" . ($secs // '?') . ' s)');
($out, $err) = bg_finish($one);
($line) = grep { /^one\|/ } split /\n/, $out;
(undef, $n, $secs) = split /\|/, $line // '';
is($n, '0', 'fqs_claim on the empty queue claimed nothing') or diag "out: $out\nerr: $err";
cmp_ok($secs // 0, '>=', $WAIT_S - 0.5, "and waited its whole $WAIT_S s (" . ($secs // '?') . ' s)');

# the claim_any waiter did look again over its 49 queues on the wakes: it
# used CPU between the samples (the empty-queue waiter hardly any)
my $cpu_any = ($any2->{cpu_ticks} // 0) - ($any1->{cpu_ticks} // 0);
my $cpu_one = ($one2->{cpu_ticks} // 0) - ($one1->{cpu_ticks} // 0);
note "CPU between the samples: claim_any waiter $cpu_any ticks, fqs_claim waiter $cpu_one ticks";
cmp_ok($cpu_any, '>', $cpu_one, 'the claim_any waiter was busy looking (woken by the traffic)');

for my $w ([ 'fqs_claim_any', $any1, $any2, $MAX_GROWTH ],
	[ 'fqs_claim', $one1, $one2, $MAX_GROWTH1 ])
{
	my ($what, $s1, $s2, $bound) = @$w;
	next unless defined $s1->{total} && defined $s2->{total};
	my $growth = $s2->{total} - $s1->{total};
	my $msg = sprintf('%s waiter: Grand total %d -> %d bytes over %.0f s of traffic '
		  . '(growth %d bytes, bound %d); VmRSS %s -> %s kB, VmData %s -> %s kB',
		$what, $s1->{total}, $s2->{total}, $span - $SAMPLE1_S, $growth, $bound,
		$s1->{VmRSS} // '?', $s2->{VmRSS} // '?', $s1->{VmData} // '?', $s2->{VmData} // '?');
	note $msg;
	cmp_ok($growth, '<', $bound, "$what waiter's memory does not grow under traffic")
	  or diag "$msg\ncontexts of 64 kB or more at the second sample:\n"
	  . join("\n", @{ $s2->{lines} }[ 0 .. ($#{ $s2->{lines} } < 29 ? $#{ $s2->{lines} } : 29) ]);
}

# ---------------------------------------------------------------------
# 2. A big sequential claim: 10,000 keys with one processed message each
# ---------------------------------------------------------------------

$node->safe_psql($db, q{
SELECT count(*) FROM fqs_enqueue_batch('big',
	ARRAY(SELECT repeat('p', 100) FROM generate_series(1, 10000)),
	ARRAY(SELECT 'key-' || i FROM generate_series(1, 10000) i));
CREATE TABLE big_claimed AS SELECT id, receipt FROM fqs_claim('big', 10000);
SELECT count(*) FROM big_claimed, LATERAL fqs_commit(big_claimed.id, big_claimed.receipt);
DROP TABLE big_claimed;
});
is( $node->safe_psql($db,
		"SELECT ready, claimed, processed FROM fqs_queues WHERE queue = 'big'"),
	'0|0|10000', '10,000 messages on 10,000 keys enqueued, claimed and committed');

{
	my $t0 = time;
	my $res = $node->safe_psql($db, q{
SELECT 'pid', pg_backend_pid();
BEGIN;
SELECT 'warm', count(*) FROM fqs_claim_sequential('big', 1);
ROLLBACK;
SELECT 'hwm0', substring(pg_read_file('/proc/self/status') FROM 'VmHWM:\s*(\d+)');
SELECT 'n', count(*), count(DISTINCT fifo_key) FROM fqs_claim_sequential('big', 10000);
SELECT 'hwm1', substring(pg_read_file('/proc/self/status') FROM 'VmHWM:\s*(\d+)');
SELECT 'rss1', substring(pg_read_file('/proc/self/status') FROM 'VmRSS:\s*(\d+)');
});
	my $secs = time - $t0;
	my %r = map { my @f = split /\|/; ($f[0] => [ @f[ 1 .. $#f ] ]) } split /\n/, $res;
	is(join('|', @{ $r{n} // [] }), '10000|10000',
		'fqs_claim_sequential(big, 10000) returns 10,000 messages of 10,000 keys')
	  or diag "output:\n$res";
	my ($h0, $h1) = ($r{hwm0}[0] // 0, $r{hwm1}[0] // 0);
	ok($h0 > 0 && $h1 > 0, 'VmHWM read before and after the call');
	my $msg = sprintf('fqs_claim_sequential(big, 10000): VmHWM %d -> %d kB '
		  . '(peak growth %.1f MB, bound %d MB), VmRSS after %s kB, %.1f s',
		$h0, $h1, ($h1 - $h0) / 1024, $MAX_PEAK_KB / 1024, $r{rss1}[0] // '?', $secs);
	note $msg;
	cmp_ok($h1 - $h0, '<', $MAX_PEAK_KB,
		'the big sequential claim does not raise peak memory by 64 MB') or diag $msg;
}

done_testing();
