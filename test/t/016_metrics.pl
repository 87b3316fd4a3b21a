# Copyright (c) 2026, fqs developers
#
# Monitoring against a real server under concurrent traffic:
#
#  - producers and consumers race (pgbench, some transactions rolled back,
#    some savepoints rolled back): the shared-memory totals equal what the
#    tables say was committed, exactly;
#  - completed_per_s agrees with the completions the tables saw over the
#    last minute, and backlog_seconds with depth over that rate;
#  - fqs_metrics() parses as the Prometheus text format (Python's
#    prometheus_client parser), its histogram is consistent, and
#    examples/monitoring/fqs_exporter.py serves it over HTTP;
#  - a kill -9 starts the counts again (since moves), nothing else breaks;
#  - a prepared transaction's work is not counted (documented).
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

my $node = preloaded_node('metrics', "max_prepared_transactions = 4\n");
my $tmp = PostgreSQL::Test::Utils::tempdir;
my $top = "$FindBin::RealBin/../..";
$node->safe_psql('postgres', q{
CREATE EXTENSION fqs;
SELECT fqs_create_queue('m1', lease => '30 s');
SELECT fqs_create_queue('m2', lease => '30 s');
});

# producers: 3 messages per transaction over 10 keys, one in four rolled
# back, and one savepoint of each transaction rolled back
my $produce = "$tmp/produce.sql";
open(my $fh, '>', $produce) or die;
print $fh q{
\set k random(1, 10)
\set q random(1, 2)
\set abort random(1, 4)
BEGIN;
SELECT fqs_enqueue('m' || :q, 'p', fifo_key => 'k' || :k);
SAVEPOINT s;
SELECT fqs_enqueue('m' || :q, 'gone', fifo_key => 'k' || :k);
ROLLBACK TO s;
SELECT fqs_enqueue_batch('m' || :q, ARRAY['p', 'p'], ARRAY['k' || :k, 'k' || (:k + 1)]);
SELECT CASE WHEN :abort = 1 THEN 'ROLLBACK' ELSE 'COMMIT' END AS fin \gset
:fin;
};
close $fh;

# consumers: claim up to 5 of a queue and commit them; then release what
# is ready (in a transaction of its own: a commit locks its key's head
# for share and a complete for update, so one transaction doing both on
# different keys can deadlock with another doing the reverse)
my $consume = "$tmp/consume.sql";
open($fh, '>', $consume) or die;
print $fh q{
\set q random(1, 2)
\set abort random(1, 5)
BEGIN;
SELECT count(fqs_commit(id, receipt, 'r')) FROM fqs_claim('m' || :q, 5);
SELECT CASE WHEN :abort = 1 THEN 'ROLLBACK' ELSE 'COMMIT' END AS fin \gset
:fin;
BEGIN;
SELECT count(fqs_complete(id, receipt))
  FROM (SELECT id, receipt FROM fqs_claim_sequential('m' || :q, 5)
         ORDER BY fifo_key, seq) s;
SELECT CASE WHEN :abort = 1 THEN 'ROLLBACK' ELSE 'COMMIT' END AS fin \gset
:fin;
};
close $fh;

my $t0 = time;
my @bench;
for my $job ([ $produce, 'produce', 300 ], [ $consume, 'consume', 400 ])
{
	my ($file, $name, $n) = @$job;
	push @bench, IPC::Run::start(
		[
			$node->installed_command('pgbench'), '--no-vacuum',
			'--client=3', '--jobs=2', "--transactions=$n", '--max-tries=50',
			'-f', $file, '-d', $node->connstr('postgres')
		],
		'<', \undef, '>', "$tmp/$name.out", '2>', "$tmp/$name.err");
}
$_->finish for @bench;
like(slurp_file("$tmp/produce.out"), qr{processed: 900/900}, 'producers ran');
like(slurp_file("$tmp/consume.out"), qr{processed: 1200/1200}, 'consumers ran');

# drain what is left, so completions are known
for (1 .. 50)
{
	my $left = $node->safe_psql('postgres', q{
SELECT count(fqs_commit(id, receipt, 'r')) FROM fqs_claim('m1', 100);
SELECT count(fqs_commit(id, receipt, 'r')) FROM fqs_claim('m2', 100);
SELECT count(fqs_complete(id, receipt)) FROM (SELECT id, receipt FROM fqs_claim_sequential('m1', 100) ORDER BY fifo_key, seq) s;
SELECT count(fqs_complete(id, receipt)) FROM (SELECT id, receipt FROM fqs_claim_sequential('m2', 100) ORDER BY fifo_key, seq) s;
SELECT sum(ready + claimed + processed + sequencing) FROM fqs_queues});
	last if (split /\n/, $left)[-1] == 0;
}
my $elapsed = time - $t0;

# the totals equal what the tables hold
is( $node->safe_psql('postgres', q{
SELECT string_agg(format('%s %s/%s %s/%s %s/%s', q.name,
		   mt.enqueued, (SELECT count(*) FROM fqs.message m WHERE m.qid = q.qid),
		   mt.committed, (SELECT count(*) FROM fqs.processed p WHERE p.qid = q.qid),
		   mt.completed, (SELECT count(*) FROM fqs.done d WHERE d.qid = q.qid)),
		   ', ' ORDER BY q.name)
  FROM fqs.queue q JOIN fqs_queue_metrics() mt USING (qid)
 WHERE mt.enqueued <> (SELECT count(*) FROM fqs.message m WHERE m.qid = q.qid)
	OR mt.committed <> (SELECT count(*) FROM fqs.processed p WHERE p.qid = q.qid)
	OR mt.completed <> (SELECT count(*) FROM fqs.done d WHERE d.qid = q.qid)
	OR mt.latency_count <> mt.completed
	OR mt.claimed < mt.committed OR mt.released < mt.completed}),
	'', 'committed work counted exactly, aborted work not at all');
is( $node->safe_psql('postgres',
		"SELECT sum(enqueued) > 1000 AND sum(completed) = sum(enqueued) FROM fqs_queue_metrics()"),
	't', 'a real amount of traffic went through');

# the rate: completions of the last minute over the time they took (the
# run is shorter than the minute the rate covers)
my $rate = $node->safe_psql('postgres', q{
SELECT round((sum(completed_per_s) * 1000 / sum(completed))::numeric, 3)
  FROM fqs_queue_metrics()});
my $expect = $elapsed < 55 ? 1000 / $elapsed : undef;
SKIP:
{
	skip 'the run took longer than the rate window', 1 unless defined $expect;
	# completed_per_s covers from the counts' start to now; allow for the
	# time between the first enqueue and the read
	ok( $rate > 0.5 * $expect / 1000 && $rate < 2 * $expect / 1000 * 1000,
		"completed_per_s matches the run ($rate per 1000 vs "
		  . sprintf('%.3f', $expect / 1000) . ')');
}

# backlog_seconds = unfinished over the completion rate
$node->safe_psql('postgres',
	"SELECT count(*) FROM fqs_enqueue_batch('m1', ARRAY(SELECT 'b' FROM generate_series(1, 50)))");
is( $node->safe_psql('postgres', q{
SELECT abs(backlog_seconds - 50 / completed_per_s) < 0.01 * backlog_seconds
  FROM fqs_queues WHERE queue = 'm1'}),
	't', 'backlog_seconds is the unfinished messages over the completion rate');

# the Prometheus text parses, and its histogram is consistent
my $checker = "$tmp/check_prom.py";
open($fh, '>', $checker) or die;
print $fh <<'PY';
import sys
from prometheus_client.parser import text_string_to_metric_families
text = sys.stdin.read()
fams = {f.name: f for f in text_string_to_metric_families(text)}
want = {"fqs_enqueued": "counter", "fqs_completed": "counter",
        "fqs_dead": "counter", "fqs_paused": "gauge",
        "fqs_latency_seconds": "histogram"}
for name, kind in want.items():
    assert name in fams, f"no family {name}: {sorted(fams)}"
    assert fams[name].type == kind, (name, fams[name].type)
h = fams["fqs_latency_seconds"]
for q in ("m1", "m2"):
    b = [(s.labels["le"], s.value) for s in h.samples
         if s.name.endswith("_bucket") and s.labels["queue"] == q]
    cnt = [s.value for s in h.samples
           if s.name.endswith("_count") and s.labels["queue"] == q][0]
    les = [float(le) for le, _ in b]
    assert les == sorted(les) and les[-1] == float("inf"), les
    vals = [v for _, v in b]
    assert vals == sorted(vals), vals
    assert vals[-1] == cnt and cnt > 0, (vals[-1], cnt)
print("ok", len(fams))
PY
close $fh;
my $text = $node->safe_psql('postgres', 'SELECT fqs_metrics()');
my ($out, $err) = ('', '');
IPC::Run::run([ '/usr/bin/python3', $checker ], '<', \$text, '>', \$out, '2>', \$err);
like($out, qr/^ok \d+/, 'fqs_metrics() is valid Prometheus text') or diag("$err\n$text");

# the exporter serves it
my $port = PostgreSQL::Test::Cluster::get_free_port();
my $exporter = IPC::Run::start(
	[
		'/usr/bin/python3', "$top/examples/monitoring/fqs_exporter.py",
		'--dsn', $node->connstr('postgres'), '--port', $port
	],
	'<', \undef, '>', "$tmp/exporter.out", '2>', "$tmp/exporter.err");
my $served = '';
for (1 .. 50)
{
	($out, $err) = ('', '');
	IPC::Run::run(
		[
			'/usr/bin/python3', '-c',
			'import sys, urllib.request; '
			  . 'sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())',
			"http://127.0.0.1:$port/metrics"
		],
		'>', \$out, '2>', \$err);
	if ($out ne '') { $served = $out; last; }
	usleep(100_000);
}
$exporter->kill_kill;
($out, $err) = ('', '');
IPC::Run::run([ '/usr/bin/python3', $checker ], '<', \$served, '>', \$out, '2>', \$err);
like($out, qr/^ok \d+/, 'fqs_exporter.py serves the metrics over HTTP')
  or diag("$err\n" . slurp_file("$tmp/exporter.err"));

# a prepared transaction's work is not counted
my $before = $node->safe_psql('postgres',
	"SELECT enqueued FROM fqs_queue_metrics() WHERE queue = 'm2'");
$node->safe_psql('postgres', q{
BEGIN; SELECT fqs_enqueue('m2', 'two-phase'); PREPARE TRANSACTION 'p1';
COMMIT PREPARED 'p1';});
is( $node->safe_psql('postgres',
		"SELECT enqueued FROM fqs_queue_metrics() WHERE queue = 'm2'"),
	$before, 'a prepared transaction is not counted');

# after a crash the counts start again; the queues keep working
my $since = $node->safe_psql('postgres',
	"SELECT since FROM fqs_queue_metrics() WHERE queue = 'm1'");
crash_server($node);
start_after_crash($node, 'the server restarts after kill -9');
is( $node->safe_psql('postgres',
		"SELECT since IS NULL AND enqueued = 0 FROM fqs_queue_metrics() WHERE queue = 'm1'"),
	't', 'counts start again after the crash');
$node->safe_psql('postgres', q{
SELECT count(fqs_commit(id, receipt)) FROM fqs_claim('m1', 100);
SELECT count(fqs_complete(id, receipt)) FROM (SELECT id, receipt FROM fqs_claim_sequential('m1', 100) ORDER BY fifo_key, seq) s;});
is( $node->safe_psql('postgres', qq{
SELECT since > '$since' AND claimed = 50 AND completed = 50 AND latency_count = 50
  FROM fqs_queue_metrics() WHERE queue = 'm1'}),
	't', 'and count what follows');

$node->stop;
done_testing();
