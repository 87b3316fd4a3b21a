# Copyright (c) 2026, fqs developers
#
# The last seq of each FIFO key is kept in shared memory (src/tail.c); the
# tables stay the truth.  Whatever the cache holds, every key's seqs must
# be 1, 2, 3, ... in enqueue commit order: no gap (the sequential stage
# would wait for the missing seq forever) and no duplicate.  This test
# checks that after:
#
#  - producers racing on a few keys, with rolled-back transactions and
#    savepoints, single enqueues and batches over many keys (a transaction
#    over more keys than the cache tracks for it);
#  - the same with a cache of 4 entries, so that keys evict each other;
#  - PREPARE TRANSACTION, then COMMIT PREPARED and ROLLBACK PREPARED;
#  - a crash (kill -9), which empties the cache;
#  - DROP EXTENSION and CREATE EXTENSION, whose key ids start again.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use FqsTest;

my $node = preloaded_node('tail', "max_prepared_transactions = 4\n");
my $tmp = PostgreSQL::Test::Utils::tempdir;

$node->safe_psql('postgres', 'CREATE EXTENSION fqs');
$node->safe_psql('postgres', "SELECT fqs_create_queue('t')");

# For every key of queue t: are its seqs exactly 1..n?  Returns the keys
# that are not, with what they have.
my $gaps_sql = q{
SELECT string_agg(t.fifo_key || ': ' || s.n || ' seqs, ' || s.d
				  || ' distinct, max ' || s.mx, '; ')
  FROM fqs.key_tail t
  JOIN fqs.queue q ON q.qid = t.qid AND q.name = 't'
  CROSS JOIN LATERAL (
	SELECT count(*) AS n, count(DISTINCT m.seq) AS d,
		   COALESCE(max(m.seq), 0) AS mx
	  FROM fqs.message m WHERE m.kid = t.kid) s
 WHERE s.n <> s.d OR s.mx <> s.n
};

sub check_seqs
{
	my ($name) = @_;
	is($node->safe_psql('postgres', $gaps_sql), '', "$name: seqs 1..n per key");
}

# each client: a batch over 1030 keys now and then (more keys than a
# transaction tracks in the cache), a key of 5, a second enqueue of the
# same or a later key, in a savepoint that is sometimes rolled back, a third
# of the first key, and a rollback of the whole transaction now and then.
# Keys are locked in one order (the batch's sorted order, then k <= j), so
# producers wait for each other but do not deadlock.
PostgreSQL::Test::Utils::append_to_file("$tmp/race.sql", q{
\set k random(1, 5)
\set j random(:k, 5)
\set r random(1, 20)
BEGIN;
\if :r = 3
SELECT count(*) FROM fqs_enqueue_batch('t',
	ARRAY(SELECT 'p' FROM generate_series(1, 1030)),
	ARRAY(SELECT 'k' || g FROM generate_series(1, 1030) g));
\endif
SELECT fqs_enqueue('t', 'a', 'k' || :k);
SAVEPOINT s;
SELECT fqs_enqueue('t', 'b', 'k' || :j);
\if :r <= 4
ROLLBACK TO SAVEPOINT s;
\endif
SELECT fqs_enqueue('t', 'c', 'k' || :k);
\if :r >= 19
ROLLBACK;
\else
COMMIT;
\endif
});

sub race_file
{
	my ($name) = @_;
	my $script = slurp_file("$tmp/race.sql");
	(my $file = "race_$name") =~ s/\W/_/g;
	$node->pgbench(
		'--no-vacuum --client=4 --jobs=2 --transactions=300 --max-tries=100',
		0, [qr{processed: 1200/1200}], [qr{^$}],
		"$name: producers race", { $file => $script });
}

race_file('cache');
check_seqs('cache');

# the seqs the cache holds now are the ones the tables hold
is( $node->safe_psql('postgres',
		"SELECT fqs_enqueue('t', 'x', 'k1') IS NOT NULL; "
		  . "SELECT max(seq) = count(*) FROM fqs.message m "
		  . "JOIN fqs.key_tail t ON t.kid = m.kid WHERE t.fifo_key = 'k1'"),
	"t\nt", 'an enqueue after the race takes the next seq');

# PREPARE TRANSACTION: the prepared enqueue holds its key; whoever takes
# the key after COMMIT PREPARED or ROLLBACK PREPARED gets the right seq
$node->safe_psql('postgres', q{
SELECT fqs_enqueue('t', 'cached', 'k1');
SELECT fqs_enqueue('t', 'cached', 'k2');
BEGIN;
SELECT fqs_enqueue('t', 'p1', 'k1');
SELECT fqs_enqueue('t', 'p1', 'k2');
PREPARE TRANSACTION 'p1';
});
$node->safe_psql('postgres', "COMMIT PREPARED 'p1'");
$node->safe_psql('postgres', "SELECT fqs_enqueue('t', 'after', 'k1')");
$node->safe_psql('postgres', q{
BEGIN;
SELECT fqs_enqueue('t', 'p2', 'k2');
PREPARE TRANSACTION 'p2';
});
$node->safe_psql('postgres', "ROLLBACK PREPARED 'p2'");
$node->safe_psql('postgres', "SELECT fqs_enqueue('t', 'after', 'k2')");
check_seqs('prepared');

# a cache of 4 entries: keys evict each other
$node->append_conf('postgresql.conf', "fqs.key_cache_size = 4\n");
$node->restart;
race_file('evict');
check_seqs('evict');

# a crash empties the cache; the seqs go on from the tables
$node->append_conf('postgresql.conf', "fqs.key_cache_size = 131072\n");
$node->restart;
race_file('before crash');
crash_server($node);
start_after_crash($node, 'recovered after kill -9');
race_file('after crash');
check_seqs('crash');

# a new extension starts its key ids again: no old entry may answer
$node->safe_psql('postgres', 'DROP EXTENSION fqs CASCADE');
$node->safe_psql('postgres', 'CREATE EXTENSION fqs');
$node->safe_psql('postgres', "SELECT fqs_create_queue('t')");
race_file('new extension');
check_seqs('new extension');
is( $node->safe_psql('postgres',
		"SELECT count(*) FROM fqs.message WHERE seq = 1"),
	$node->safe_psql('postgres', "SELECT count(*) FROM fqs.key_tail"),
	'every key of the new extension starts at seq 1');

$node->stop;
done_testing();
