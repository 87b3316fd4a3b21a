# Copyright (c) 2026, fqs developers
#
# More databases with fqs than fqs.max_databases: the databases past the
# limit get no worker at first (CREATE EXTENSION warns), and get one as
# soon as another database's worker ends -- the launcher looks again every
# 10 seconds -- instead of never.  Claims and enqueues work meanwhile; only
# the background work (reaper, pen, wake of delayed messages) waits.
#
# Every wait is bounded (poll_query_until's timeout) and fails with a
# message.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use FqsTest;

# two slots; at first no database may have a worker (fqs.databases)
my $node = preloaded_node('slots',
	"fqs.max_databases = 2\nfqs.databases = 'nothing yet'\n");

sub workers_in
{
	my ($db) = @_;
	return $node->safe_psql('postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'fqs worker' AND datname = '$db'");
}

for my $db (qw(d1 d2 d3))
{
	$node->safe_psql('postgres', "CREATE DATABASE $db");
	$node->safe_psql($db, 'SET client_min_messages = error; CREATE EXTENSION fqs');
}
# now all three want a worker, and there are two slots
$node->safe_psql('postgres', "ALTER SYSTEM SET fqs.databases = 'd1,d2,d3'");
$node->safe_psql('postgres', 'SELECT pg_reload_conf()');
ok( $node->poll_query_until('postgres',
		"SELECT count(*) = 2 FROM pg_stat_activity WHERE backend_type = 'fqs worker'"),
	'two of three databases get a worker');
sleep 2;
my $without = $node->safe_psql('postgres',
	"SELECT datname FROM pg_database WHERE datname IN ('d1', 'd2', 'd3') "
	  . "AND datname NOT IN (SELECT datname FROM pg_stat_activity WHERE backend_type = 'fqs worker')");
my @with = grep { $_ ne $without } qw(d1 d2 d3);
like($without, qr/^d[123]$/, "exactly one database has no worker ($without)");
my ($ret, $out, $err) = $node->psql($without, 'SELECT fqs.start_worker()');
like($err, qr/no worker slot left/, 'asking for its worker warns that no slot is left');
my $d3 = $without;

# the API works without a worker
$node->safe_psql($d3, "SELECT fqs_create_queue('q')");
$node->safe_psql($d3, "SELECT fqs_enqueue('q', 'x')");
is($node->safe_psql($d3, "SELECT count(*) FROM fqs_claim('q', 5)"), '1',
	"$d3 enqueues and claims without a worker");
sleep 2;
is(workers_in($d3), '0', "$d3 has no worker while both slots are taken");

# d1 no longer needs its worker: d3 gets the slot within the launcher's rescan
my ($d1, $d2) = @with;
$node->safe_psql($d1, 'DROP EXTENSION fqs');
ok( $node->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'fqs worker' AND datname = '$d3'"),
	"$d3 gets a worker once $d1 frees its slot");
ok( $node->poll_query_until('postgres',
		"SELECT count(*) = 0 FROM pg_stat_activity WHERE backend_type = 'fqs worker' AND datname = '$d1'"),
	"$d1 has no worker any more");
is(workers_in($d2), '1', "$d2 kept its worker throughout");
ok($node->log_contains(qr/database \d+ got a worker slot/), 'the launcher logged the late slot');

# and d3's worker does its job: an expired lease comes back
$node->safe_psql($d3, "SELECT fqs_enqueue('q', 'y')");
$node->safe_psql($d3, "SELECT count(*) FROM fqs_claim('q', 5, lease => '1 second')");
ok( $node->poll_query_until($d3, "SELECT ready = 2 FROM fqs_queues WHERE queue = 'q'"),
	"${d3}'s worker reaps expired leases");

$node->stop;
done_testing();
