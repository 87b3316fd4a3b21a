# Copyright (c) 2026, fqs developers
#
# The failure breaker against a fake destination that goes down and comes
# back.
#
# Two queues, each a full pipeline: producers enqueue over 20 keys at a
# steady pace; a transformer claims and commits (concurrent stage, always
# succeeds); two senders claim one message at a time in the sequential
# stage and "send" it.  Queue "vendor" sends to a destination that a row
# of table dest switches off and on, and has failure_threshold 5 and
# failure_cooldown 1 s; queue "local" has no breaker and a destination that
# never fails.  A send to a dead destination takes 50 ms (the timeout) and
# then fqs_fail()s the message; a send that works logs (queue, key, seq)
# in the same transaction as its fqs_complete.  Every send attempt is
# logged with its time.
#
# Timeline: 2 s with both destinations up, 6 s (FQS_OUTAGE_S) with
# vendor's down, then up again until everything is delivered.
#
# Checks:
#  - the breaker opened (LOG) and the failures spent on the dead
#    destination stay within the threshold, plus one per failed probe,
#    plus the one message the other sender had in flight; without the
#    breaker the senders would have failed every ~50 ms all along;
#  - each reopening came after the cooldown of the one before, doubling
#    (1 s, 2 s, ...), as the LOG lines say;
#  - the healthy queue kept delivering during the outage;
#  - after the destination is back the breaker closes by itself, and
#    every message of both queues is delivered exactly once, each key in
#    seq order without gaps.
#
# The figures (failures, probes, time to recover) are printed with diag.
# No timing assertions beyond what the breaker's own rules imply.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);
use FindBin;
use lib $FindBin::RealBin;
use FqsTest;

my $tmp = PostgreSQL::Test::Utils::tempdir;
my $T   = $PostgreSQL::Test::Utils::timeout_default;

my $THRESHOLD = 5;
my $SENDERS   = 2;
my $KEYS      = 20;
my $ROUNDS    = 40;    # messages per key and queue
# the outage; FQS_OUTAGE_S=30 prove ... gives the figures of a longer one
my $OUTAGE    = $ENV{FQS_OUTAGE_S} // 6;

my $node = preloaded_node('failure_breaker');
$node->safe_psql('postgres', 'CREATE EXTENSION fqs');

$node->safe_psql(
	'postgres', qq{
SELECT fqs_create_queue('vendor', failure_threshold => $THRESHOLD,
						failure_cooldown => '1 second', lease => '30 seconds',
						max_attempts => 1000);
SELECT fqs_create_queue('local', lease => '30 seconds');
CREATE TABLE dest (queue text PRIMARY KEY, up boolean NOT NULL);
INSERT INTO dest VALUES ('vendor', true), ('local', true);
CREATE TABLE sent (n bigserial PRIMARY KEY, queue text, fifo_key text,
				   seq bigint, id bigint, t timestamptz DEFAULT clock_timestamp());
CREATE TABLE tries (queue text, ok boolean, t timestamptz DEFAULT clock_timestamp());
CREATE TABLE marks (name text PRIMARY KEY, t timestamptz DEFAULT clock_timestamp());
CREATE TABLE stop_flag (x int);

CREATE PROCEDURE produce(q text) LANGUAGE plpgsql AS \$\$
BEGIN
	FOR r IN 1..$ROUNDS LOOP
		FOR k IN 1..$KEYS LOOP
			PERFORM fqs_enqueue(q, q || '-' || r, 'k' || k);
			COMMIT;
		END LOOP;
		PERFORM pg_sleep(0.2);
	END LOOP;
END \$\$;

CREATE PROCEDURE transform(q text) LANGUAGE plpgsql AS \$\$
BEGIN
	WHILE NOT EXISTS (SELECT 1 FROM stop_flag) LOOP
		PERFORM fqs_commit(c.id, c.receipt, 'parsed ' || c.payload)
		   FROM fqs_claim(q, 10, wait => '200 ms') c;
		COMMIT;
	END LOOP;
END \$\$;

CREATE PROCEDURE send(q text) LANGUAGE plpgsql AS \$\$
DECLARE
	m record;
	alive boolean;
BEGIN
	WHILE NOT EXISTS (SELECT 1 FROM stop_flag) LOOP
		SELECT * INTO m FROM fqs_claim_sequential(q, 1, wait => '200 ms');
		IF m.id IS NOT NULL THEN
			SELECT up INTO alive FROM dest WHERE queue = q;
			IF alive THEN
				PERFORM fqs_complete(m.id, m.receipt);
				INSERT INTO sent (queue, fifo_key, seq, id)
					VALUES (q, m.fifo_key, m.seq, m.id);
				INSERT INTO tries (queue, ok) VALUES (q, true);
			ELSE
				PERFORM pg_sleep(0.05);		-- the destination's timeout
				PERFORM fqs_fail(m.id, m.receipt, 'destination down',
								 retry_after => '100 ms');
				INSERT INTO tries (queue, ok) VALUES (q, false);
			END IF;
		END IF;
		COMMIT;
	END LOOP;
END \$\$;
});

my %procs;
sub start_client
{
	my ($name, $sql) = @_;
	PostgreSQL::Test::Utils::append_to_file("$tmp/$name.sql", "$sql\n");
	$procs{$name} = start_psql_file($node,
		$node->connstr('postgres') . " application_name=fb_$name",
		"$tmp/$name.sql", "$tmp/$name", on_error_stop => 1,
		timeout => 4 * $T);
}

my $logpos = -s $node->logfile;
for my $q ('vendor', 'local')
{
	start_client("produce_$q",   "CALL produce('$q');");
	start_client("transform_$q", "CALL transform('$q');");
	start_client("send_${q}_$_", "CALL send('$q');") for 1 .. $SENDERS;
}

# both up for 2 s, then vendor's destination is down for $OUTAGE s
sleep 2;
$node->safe_psql('postgres',
	"UPDATE dest SET up = false WHERE queue = 'vendor'; INSERT INTO marks (name) VALUES ('down')");
my $t_down = time;
ok( $node->poll_query_until('postgres',
		"SELECT failure_state <> 'closed' FROM fqs_queues WHERE queue = 'vendor'"),
	'the failure breaker of the dead destination opens');
usleep(($OUTAGE - (time - $t_down)) * 1e6) if time - $t_down < $OUTAGE;
is($node->safe_psql('postgres',
		"SELECT failure_state <> 'closed' FROM fqs_queues WHERE queue = 'vendor'"),
	't', 'it is not closed while the destination stays down');
$node->safe_psql('postgres',
	"UPDATE dest SET up = true WHERE queue = 'vendor'; INSERT INTO marks (name) VALUES ('up')");
my $t_up = time;

ok( $node->poll_query_until('postgres',
		"SELECT failure_state = 'closed' FROM fqs_queues WHERE queue = 'vendor'"),
	'once the destination is back, the breaker closes by itself');
my $t_closed = time;

# everything delivered
my $total = $KEYS * $ROUNDS;
ok( $node->poll_query_until('postgres',
		"SELECT count(*) FILTER (WHERE queue = 'vendor') = $total "
		  . "AND count(*) FILTER (WHERE queue = 'local') = $total FROM sent"),
	"all $total messages of each queue are delivered");
my $t_drained = time;
$node->safe_psql('postgres', 'INSERT INTO stop_flag VALUES (1)');
finish_clients(\%procs, $tmp);

# exactly once, in order per key, no gaps
is( $node->safe_psql('postgres',
		"SELECT count(*) FROM (SELECT id FROM sent GROUP BY id HAVING count(*) > 1) d"),
	'0', 'no message is delivered twice');
is( $node->safe_psql('postgres', q{
SELECT count(*) FROM (
  SELECT seq, lag(seq) OVER (PARTITION BY queue, fifo_key ORDER BY n) AS prev
    FROM sent) s
 WHERE seq <> COALESCE(prev, 0) + 1}),
	'0', 'every key is delivered in seq order, without gaps');

# the failures spent on the dead destination
my $log = slurp_file($node->logfile, $logpos);
my @opened = $log =~
  /^(\S+ \S+) .*fqs: failure breaker of queue "vendor" opened after \d+ consecutive failures in the sequential stage.*claims pause for ([\d.]+) s$/mg;
my @open_t;
my @pause;
while (@opened)
{
	my ($ts, $p) = splice(@opened, 0, 2);
	$ts =~ /(\d+):(\d+):([\d.]+)$/ or next;
	push @open_t, $1 * 3600 + $2 * 60 + $3;
	push @pause, $p;
}
my $opens = scalar @open_t;
ok($opens >= 1, 'LOG: the breaker opened');
ok($log =~ /fqs: failure breaker of queue "vendor" closed \(the probe succeeded\)/,
	'LOG: it closed when a probe succeeded');
is(count_log($node, qr/failure breaker of queue "local"/, $logpos), 0,
	'the healthy queue has no breaker activity');

my $failures = $node->safe_psql('postgres',
	"SELECT count(*) FROM tries WHERE queue = 'vendor' AND NOT ok");
# threshold to open, one per failed probe (each reopening), and the
# message the other sender may have had in flight when it opened
my $bound = $THRESHOLD + ($opens - 1) + ($SENDERS - 1);
ok($failures <= $bound,
	"failures on the dead destination ($failures) stay within threshold + failed probes + in flight ($bound)");

# each reopening waited out the cooldown before it, which doubles
my $spacing_ok = 1;
for my $i (1 .. $#open_t)
{
	my $gap = $open_t[$i] - $open_t[$i - 1];
	$spacing_ok = 0 if $gap < $pause[$i - 1] * 0.99;
	$spacing_ok = 0 if $pause[$i] != ($pause[$i - 1] * 2 > 32 ? 32 : $pause[$i - 1] * 2);
}
ok($spacing_ok, 'probes come at the cooldown rate, the cooldown doubling: pauses '
	  . join(', ', @pause) . ' s');

# the healthy queue kept going while the other one was down
my ($local_during, $enq_during) = split /\|/, $node->safe_psql('postgres', q{
SELECT (SELECT count(*) FROM sent, marks d, marks u
		 WHERE d.name = 'down' AND u.name = 'up' AND sent.queue = 'local'
		   AND sent.t BETWEEN d.t AND u.t),
	   (SELECT count(*) FROM tries, marks d, marks u
		 WHERE d.name = 'down' AND u.name = 'up' AND tries.queue = 'vendor'
		   AND tries.t BETWEEN d.t AND u.t)});
ok($local_during > 0, "the healthy queue delivered $local_during messages during the outage");

diag sprintf(
	"outage %d s: %d failed sends on the dead destination (threshold %d), %d opening(s), pauses %s s; "
	  . "closed %.1f s after the destination came back, all delivered %.1f s after; "
	  . "healthy queue delivered %d during the outage",
	$OUTAGE, $failures, $THRESHOLD, $opens, join('/', @pause),
	$t_closed - $t_up, $t_drained - $t_up, $local_during);

$node->stop;
done_testing();
