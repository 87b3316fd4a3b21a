# Copyright (c) 2026, fqs developers
#
# Claims under a held snapshot.  While a REPEATABLE READ transaction holds
# its snapshot (nothing claimed or committed since can be vacuumed away),
# claims start their scans at cursors kept in shared memory (src/scan.c)
# instead of stepping over every dead entry.  This test races producers
# and consumers against those cursors and checks that nothing is left
# behind them:
#
#  - producers enqueue over 20 keys, some delayed (deliver_at), some with a
#    higher priority, some in transactions they roll back;
#  - consumers claim 1 to 4 messages and commit them, fail them with a
#    retry delay, roll the claim back, roll back a savepoint around it, or
#    abandon it (the lease expires and the message comes back);
#  - then everything is drained, the snapshot still held;
#  - a second round has only commits and rollbacks: there nothing but the
#    rolled-back claim itself can make its messages findable again;
#  - every message that was enqueued is processed exactly once, none that
#    was rolled back exists, nothing is left in the queue, and the cursors
#    did move past the dead entries (the held snapshot kept them).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use FindBin;
use lib $FindBin::RealBin;
use FqsTest;

my $PRODUCER_LOOPS = 3000;
my $CONSUMER_LOOPS = 3000;

my $node = preloaded_node('held');
my $connstr = $node->connstr('postgres');
my $tmp = PostgreSQL::Test::Utils::tempdir;

$node->safe_psql('postgres', 'CREATE EXTENSION fqs');
$node->safe_psql('postgres',
	"SELECT fqs_create_queue('h', lease => '1 second', max_attempts => 1000)");
my $qid = $node->safe_psql('postgres',
	"SELECT qid FROM fqs.queue WHERE name = 'h'");

# the snapshot holder: an xid and a REPEATABLE READ snapshot for the whole test
PostgreSQL::Test::Utils::append_to_file("$tmp/holder.sql", q{
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT pg_catalog.txid_current() IS NOT NULL;
SELECT pg_catalog.count(*) >= 0 FROM fqs.ready;
SELECT pg_sleep(3600);
});
my $holder = start_psql_file($node, $connstr, "$tmp/holder.sql", "$tmp/holder");
ok( $node->poll_query_until(
		'postgres',
		"SELECT count(*) = 1 FROM pg_stat_activity "
		  . "WHERE query LIKE '%pg_sleep(3600)%' AND backend_xmin IS NOT NULL "
		  . "AND pid <> pg_backend_pid()"),
	'a session holds its snapshot');

# One round: producers and consumers race, then what is left is drained,
# the snapshot still held.  $mixed adds delays, priorities, retries and
# abandoned leases; without it, consumers only commit or roll back, so
# nothing but a rolled-back claim's own abort callback can bring its
# messages back in front of the cursor.
sub round
{
	my ($name, $mixed) = @_;
	my ($p_delay, $p_urgent) = $mixed ? (0.15, 0.2) : (0, 0);
	my ($c_fail, $c_abandon) = $mixed ? (0.10, 0.10) : (0, 0);

	# producers: payload "<round>pP-N"; "rb-..." for those rolled back
	for my $p (1 .. 2)
	{
		my $loop = <<"EOS";
SELECT (random() * 19)::int AS k, random() < $p_delay AS delayed,
       random() < $p_urgent AS urgent, random() < 0.1 AS rb,
       nextval('pseq') AS n \\gset
BEGIN;
\\if :rb
SELECT fqs_enqueue('h', 'rb-$name$p-' || :n, 'k' || :k);
ROLLBACK;
\\elif :delayed
SELECT fqs_enqueue('h', '${name}p$p-' || :n, 'k' || :k,
                   deliver_at => clock_timestamp() + random() * interval '1500 ms');
COMMIT;
\\elif :urgent
SELECT fqs_enqueue('h', '${name}p$p-' || :n, 'k' || :k,
                   priority => 1 + (random() * 2)::int);
COMMIT;
\\else
SELECT fqs_enqueue('h', '${name}p$p-' || :n, 'k' || :k);
COMMIT;
\\endif
EOS
		PostgreSQL::Test::Utils::append_to_file("$tmp/$name-producer$p.sql",
			"CREATE TEMP SEQUENCE pseq;\n" . ($loop x $PRODUCER_LOOPS));
	}

	# consumers: roll back 10%, roll back a savepoint around the claim 5%,
	# and when mixed fail with a retry delay 10%, abandon (the lease
	# expires) 10%; commit the rest
	my $fail_to = 0.15 + $c_fail;
	my $abandon_to = $fail_to + $c_abandon;
	my $loop = <<"EOS";
SELECT 1 + (random() * 3)::int AS n, random() AS r \\gset
BEGIN;
DELETE FROM c;
SELECT :r < 0.05 AS sp \\gset
\\if :sp
SAVEPOINT s;
INSERT INTO c SELECT id, receipt FROM fqs_claim('h', :n);
ROLLBACK TO SAVEPOINT s;
INSERT INTO c SELECT id, receipt FROM fqs_claim('h', :n);
\\endif
SELECT :r >= 0.05 AS plain \\gset
\\if :plain
INSERT INTO c SELECT id, receipt FROM fqs_claim('h', :n);
\\endif
SELECT :r < 0.15 AS rb, :r >= 0.15 AND :r < $fail_to AS fail,
       :r >= $fail_to AND :r < $abandon_to AS abandon \\gset
\\if :rb
ROLLBACK;
\\elif :fail
SELECT count(fqs_fail(id, receipt, 'try later', retry_after => '300 ms')) >= 0 FROM c;
COMMIT;
\\elif :abandon
COMMIT;
\\else
SELECT count(fqs_commit(id, receipt)) >= 0 FROM c;
COMMIT;
\\endif
EOS
	PostgreSQL::Test::Utils::append_to_file("$tmp/$name-consumer.sql",
		"CREATE TEMP TABLE c (id bigint, receipt bigint);\n"
		  . ($loop x $CONSUMER_LOOPS));

	my %procs;
	$procs{"$name-producer$_"} = start_psql_file($node, $connstr,
		"$tmp/$name-producer$_.sql", "$tmp/$name-producer$_",
		timeout => 4 * $PostgreSQL::Test::Utils::timeout_default)
	  for 1 .. 2;
	$procs{"$name-consumer$_"} = start_psql_file($node, $connstr,
		"$tmp/$name-consumer.sql", "$tmp/$name-consumer$_",
		timeout => 4 * $PostgreSQL::Test::Utils::timeout_default)
	  for 1 .. 3;
	finish_clients(\%procs, $tmp);

	# drain: delayed messages fall due, abandoned leases expire, retries
	# come back
	my $deadline = time + $PostgreSQL::Test::Utils::timeout_default;
	my $left;
	while (time < $deadline)
	{
		$node->safe_psql('postgres',
			"SELECT count(fqs_commit(id, receipt)) FROM fqs_claim('h', 100)");
		$left = $node->safe_psql('postgres',
			"SELECT (SELECT count(*) FROM fqs.ready WHERE qid = $qid) "
			  . "+ (SELECT count(*) FROM fqs.pen WHERE qid = $qid)");
		last if $left == 0;
		usleep(100_000);
	}
	is($left, 0, "$name: everything was claimed and committed in the end");
	return;
}

round('mixed', 1);
round('plain', 0);

is( $node->safe_psql('postgres',
		"SELECT count(*) FROM pg_stat_activity "
		  . "WHERE query LIKE '%pg_sleep(3600)%' AND backend_xmin IS NOT NULL "
		  . "AND pid <> pg_backend_pid()"),
	'1', 'the snapshot was held all along');

my ($messages, $processed, $distinct, $rolled_back) = split /\|/,
  $node->safe_psql('postgres', qq{
	SELECT (SELECT count(*) FROM fqs.message WHERE qid = $qid),
	       (SELECT count(*) FROM fqs.processed WHERE qid = $qid),
	       (SELECT count(DISTINCT id) FROM fqs.processed WHERE qid = $qid),
	       (SELECT count(*) FROM fqs.message WHERE qid = $qid AND payload LIKE 'rb-%')});
cmp_ok($messages, '>', 1000, "the producers enqueued ($messages messages)");
is($processed, $messages, 'every message was processed');
is($distinct, $processed, 'no message was processed twice');
is($rolled_back, 0, 'no rolled-back enqueue exists');

# the cursors moved while dead entries piled up behind the held snapshot
my ($dead, $claim_id) = split /\|/, $node->safe_psql('postgres', qq{
	SELECT (SELECT n_dead_tup FROM pg_stat_user_tables
	         WHERE schemaname = 'fqs' AND relname = 'ready'),
	       (SELECT claim_id FROM fqs.scan_cursors() WHERE qid = $qid)});
note "fqs.ready: $dead dead tuples; claim cursor at " . ($claim_id eq '' ? 'the end' : "id $claim_id");
cmp_ok($dead, '>', 1000, 'dead tuples piled up behind the held snapshot');
cmp_ok(
	$node->safe_psql('postgres',
		"SELECT count(*) FROM fqs.scan_cursors() WHERE qid = $qid"),
	'==', 1, 'the queue has scan cursors');

$holder->kill_kill;
$node->stop;
done_testing();
