# Copyright (c) 2026, fqs developers
#
# The example workers of examples/ (Python, C, Node.js, Java) against a real
# server.  For each language: two concurrent-stage workers and one
# sequential-stage worker run a queue of 600 messages over 20 keys to the
# end, among them messages that fail on their first attempt and slow ones
# that outlive their lease unless the heartbeat extends it.  Then SIGTERM,
# and the checks:
#
#  - every worker exits with status 0 and nothing on stderr but the
#    expected;
#  - the sink has every message exactly once, translated;
#  - per key, the sink got seqs 1, 2, 3, ... in delivery order;
#  - the failing messages were delivered twice to the concurrent stage,
#    the slow ones once (their leases were kept).
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

my $MESSAGES = 600;
my $KEYS     = 20;

# Every worker gets the same libpq connection string, whose host is the
# node's Unix-socket directory.  JDBC reaches a server over TCP only: the
# Java worker takes a socket directory as 127.0.0.1 with the same port, so
# the node listens there too (initdb's pg_hba.conf trusts 127.0.0.1/32, and
# the port was chosen free on 127.0.0.1).
my $node = preloaded_node('examples', "listen_addresses = '127.0.0.1'\n");
my $connstr = $node->connstr('postgres');
my $tmp = PostgreSQL::Test::Utils::tempdir;
my $examples = "$FindBin::RealBin/../../examples";

$node->safe_psql('postgres', 'CREATE EXTENSION fqs');

# the C worker is built here, warnings as errors
my $incdir = `pg_config --includedir`;
chomp $incdir;
my ($cc_out, $cc_err) = ('', '');
my $built = IPC::Run::run(
	[
		'cc', '-std=gnu99', '-Wall', '-Wextra', '-Werror', '-O2',
		'-o', "$tmp/fqs_worker", "$examples/c/fqs_worker.c",
		"-I$incdir", '-lpq', '-lpthread'
	],
	'>', \$cc_out, '2>', \$cc_err);
ok($built, 'the C worker builds without warnings') or diag($cc_err);

# and so is the Java worker (Debian's default-jdk-headless and
# libpostgresql-jdbc-java)
my $jdbc = '/usr/share/java/postgresql.jar';
my ($javac_out, $javac_err) = ('', '');
my $jbuilt = IPC::Run::run(
	[
		'javac', '-Xlint:all', '-Werror', '-cp', $jdbc, '-d', "$tmp/java",
		"$examples/java/FqsWorker.java"
	],
	'>', \$javac_out, '2>', \$javac_err);
ok($jbuilt, 'the Java worker builds without warnings')
  or diag($javac_out . $javac_err);

# name => [command for the concurrent stage, for the sequential stage]
my %workers = (
	python => [
		[ 'python3', "$examples/python/fqs_worker.py", '--stage', 'concurrent' ],
		[ 'python3', "$examples/python/fqs_worker.py", '--stage', 'sequential' ],
	],
	c => [
		[ "$tmp/fqs_worker", '--stage', 'concurrent' ],
		[ "$tmp/fqs_worker", '--stage', 'sequential' ],
	],
	node => [
		[ 'node', "$examples/node/fqs_worker.js", '--stage', 'concurrent' ],
		[ 'node', "$examples/node/fqs_worker.js", '--stage', 'sequential' ],
	],
	java => [
		[ 'java', '-cp', "$tmp/java:$jdbc", 'FqsWorker', '--stage', 'concurrent' ],
		[ 'java', '-cp', "$tmp/java:$jdbc", 'FqsWorker', '--stage', 'sequential' ],
	],);

# the Node.js worker's packages come from its lockfile (test/install-deps.sh)
ok(-d "$examples/node/node_modules/pg",
	'examples/node has its npm packages (npm ci)');

foreach my $lang (sort keys %workers)
{
	my $queue = "ex_$lang";
	my $sink = "sink_$lang";

	$node->safe_psql('postgres', qq{
SELECT fqs_create_queue('$queue', lease => '2 s', max_attempts => 5);
CREATE TABLE $sink (fifo_key text, seq bigint, id bigint PRIMARY KEY,
					result text, n bigserial);
SELECT count(*) FROM fqs_enqueue_batch('$queue',
	ARRAY(SELECT CASE WHEN g % 50 = 7 THEN 'fail-once ' || g
					  WHEN g IN (100, 400) THEN 'slow ' || g
					  ELSE 'm ' || g END
			FROM generate_series(1, $MESSAGES) g),
	ARRAY(SELECT 'k' || (g % $KEYS) FROM generate_series(1, $MESSAGES) g));
});

	my @common = ($queue, '--dsn', $connstr, '--lease', '2', '--slow', '3',
		'--sink', $sink);
	my %procs;
	foreach my $w ('c1', 'c2', 's1')
	{
		my $cmd = $w =~ /^c/ ? $workers{$lang}[0] : $workers{$lang}[1];
		my ($out, $err) = ("$tmp/$lang.$w.out", "$tmp/$lang.$w.err");
		$procs{$w} = IPC::Run::start([ @$cmd, @common ],
			'<', \undef, '>', $out, '2>', $err);
	}

	ok( $node->poll_query_until('postgres',
			"SELECT done_total = $MESSAGES FROM fqs_queues "
			  . "WHERE queue = '$queue'"),
		"$lang: every message done");

	foreach my $w (sort keys %procs)
	{
		$procs{$w}->signal('TERM');
	}
	foreach my $w (sort keys %procs)
	{
		my $ok = eval {
			local $SIG{ALRM} = sub { die "timeout\n" };
			alarm 30;
			$procs{$w}->finish;
			alarm 0;
			1;
		};
		$procs{$w}->kill_kill unless $ok;
		is($ok && $procs{$w}->result(0), 0, "$lang: worker $w exits with 0 on SIGTERM");
		my $err = slurp_file("$tmp/$lang.$w.err");
		# a heartbeat racing with a commit may print a refusal; nothing else
		my @bad = grep { !/^heartbeat: 55000 / && !/^commit of \d+ refused/ }
		  split /\n/, $err;
		is(join("\n", @bad), '', "$lang: worker $w wrote nothing unexpected on stderr");
	}

	is( $node->safe_psql('postgres',
			"SELECT count(*), count(DISTINCT id) FROM $sink"),
		"$MESSAGES|$MESSAGES", "$lang: the sink has every message once");
	is( $node->safe_psql('postgres', qq{
SELECT count(*) FROM $sink s
  JOIN fqs.message m ON m.id = s.id
 WHERE s.result::json->>'translated' IS DISTINCT FROM upper(m.payload)}),
		'0', "$lang: every message was translated");
	is( $node->safe_psql('postgres', qq{
SELECT count(*) FROM (
	SELECT seq, lag(seq, 1, 0::bigint) OVER (PARTITION BY fifo_key ORDER BY n) AS prev
	  FROM $sink) s
 WHERE seq <> prev + 1}),
		'0', "$lang: per key, seqs delivered 1, 2, 3, ...");
	is( $node->safe_psql('postgres', qq{
SELECT string_agg(m.payload || ': ' || st.attempts, ', ' ORDER BY m.id)
  FROM $sink s JOIN fqs.message m ON m.id = s.id,
	   fqs_message_status(s.id) st
 WHERE (m.payload LIKE 'fail-once%' AND st.attempts <> 2)
	OR (m.payload LIKE 'slow%' AND st.attempts <> 1)}),
		'', "$lang: failed messages retried once, slow ones kept their lease");
}

$node->stop;
done_testing();
