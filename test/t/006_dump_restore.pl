# Copyright (c) 2026, fqs developers
#
# pg_dump keeps all queue state.  Database 'src' gets four queues with
# messages in every state (pen, ready, delayed, claimed, processed,
# sequencing, done, dead, skipped), dedup ids, a breaker that is open, and
# a 5,000-message queue filled by fqs_enqueue_batch.  'src' is dumped with
# pg_dump -Fc and restored with pg_restore into a new database 'dst'.
#
# Checks in 'dst':
#  - pg_dump and pg_restore exit 0 and print no error;
#  - every message has the same fqs_message_status (the whole row: queue,
#    key, seq, state, attempts, timestamps, last error), and fqs_queues the
#    same settings and counts;
#  - fqs_create_queue works (the queue id sequence went along); a dedup id
#    used before the dump returns the original id; a new enqueue gets an
#    id larger than every restored one, and the next seq of its key;
#  - receipts handed out before the dump still work for their own message
#    only (claims with a long lease commit, held sequential runs complete),
#    an expired one is refused once the message was claimed again, and no
#    receipt handed out in 'dst' equals one handed out in 'src';
#  - 'dst' then drains completely (dead ones retried, the pen moved by
#    fqs_maintain()), the sequential stage sees the results committed in
#    'src', and each key completes strictly in seq order, ending at its
#    last seq.
#
# fqs is not preloaded: fqs_maintain() plays the worker.  No timing
# assertions; the only wait is for a 1 second lease to run out.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;

my $tmp = PostgreSQL::Test::Utils::tempdir;

my $node = PostgreSQL::Test::Cluster->new('dump');
$node->init;
$node->append_conf('postgresql.conf', "log_min_messages = warning\n");
$node->start;
$node->safe_psql('postgres', 'CREATE DATABASE src');
$node->safe_psql('src', 'CREATE EXTENSION fqs');

# setup in 'src' must work: safe_psql dies with the error otherwise
sub src { return $node->safe_psql('src', $_[0]); }

# run sql in $db; returns (ok, stdout, stderr)
sub try_sql
{
	my ($db, $sql) = @_;
	my ($ret, $out, $err) = $node->psql($db, $sql,
		extra_params => [ '-v', 'VERBOSITY=verbose' ]);
	return ($ret == 0, $out, $err);
}

# sql that must work in $db; one test; returns stdout (undef on failure)
sub works
{
	my ($db, $sql, $name) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my ($ok, $out, $err) = try_sql($db, $sql);
	ok($ok, $name)
	  or diag "failed: " . (length $sql > 300 ? substr($sql, 0, 300) . ' ...' : $sql) . "\n$err";
	return $ok ? $out : undef;
}

# sql that must be refused in $db; one test (SQLSTATE checked if given)
sub refused
{
	my ($db, $sql, $name, $sqlstate) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my ($ok, $out, $err) = try_sql($db, $sql);
	if ($ok)
	{
		fail("$name (it was accepted)");
		return;
	}
	if (defined $sqlstate)
	{
		like($err, qr/ERROR:\s+$sqlstate:/, "$name (SQLSTATE $sqlstate)");
	}
	else
	{
		like($err, qr/ERROR:/, $name);
	}
	note $err;
	return;
}

sub rows { return map { [ split /\|/, $_, -1 ] } grep { $_ ne '' } split /\n/, ($_[0] // ''); }

my %id;         # label -> id
my %label;      # id -> label
my %payload;    # id -> payload
my %expect;     # id -> state expected in src
my %src_receipts;    # every receipt handed out in src

sub enq
{
	my ($label, $queue, $key, $extra) = @_;
	$extra = defined $extra ? ", $extra" : '';
	my $id = src("SELECT fqs_enqueue('$queue', 'payload $label', fifo_key => '$key'$extra)");
	$id{$label} = $id;
	$label{$id} = $label;
	$payload{$id} = "payload $label";
	return $id;
}

# claim in src; rows of [id, receipt, fifo_key, seq, attempt, payload]
sub claim_src
{
	my ($fn, $queue, $n, $lease) = @_;
	my @r = rows(src("SELECT id, receipt, fifo_key, seq, attempt, payload FROM $fn('$queue', $n, '$lease')"));
	$src_receipts{ $_->[1] } = 1 for @r;
	return @r;
}

sub ids { return join(',', sort { $a <=> $b } map { $_->[0] } @_); }
sub labels { return join(',', map { $id{$_} } @_); }

# commit claimed rows [id, receipt, .., payload] in src, in one session
sub commit_src
{
	my (@r) = @_;
	src(join('', map { "SELECT fqs_commit($_->[0], $_->[1], 'result of $_->[5]');\n" } @r));
}

# complete released rows [id, receipt] in src in the given order, in one session
sub complete_src
{
	my (@r) = @_;
	src(join('', map { "SELECT fqs_complete($_->[0], $_->[1]);\n" } @r));
}

# ---------------------------------------------------------------------
# Queue 'main': done, sequencing, processed, claimed, ready, delayed
# ---------------------------------------------------------------------

src("SELECT fqs_create_queue('main', lease => '1 hour', max_attempts => 5)");

# key a: both done
enq("a$_", 'main', 'a') for 1 .. 2;
my @c = claim_src('fqs_claim', 'main', 2, '1 hour');
is(ids(@c), labels('a1', 'a2'), 'src: a1, a2 claimed');
commit_src(@c);
@c = claim_src('fqs_claim_sequential', 'main', 10, '1 hour');
is(ids(@c), labels('a1', 'a2'), 'src: a1, a2 released');
complete_src(@c);
$expect{ $id{$_} } = 'done' for qw(a1 a2);

# key b: b1 done, b2-b3 held by the sequential stage, b4 processed
enq("b$_", 'main', 'b') for 1 .. 4;
@c = claim_src('fqs_claim', 'main', 4, '1 hour');
is(ids(@c), labels(map { "b$_" } 1 .. 4), 'src: b1..b4 claimed');
commit_src(@c);
@c = claim_src('fqs_claim_sequential', 'main', 1, '1 hour');
is(ids(@c), labels('b1'), 'src: b1 released');
complete_src(@c);
@c = claim_src('fqs_claim_sequential', 'main', 2, '1 hour');
is(ids(@c), labels('b2', 'b3'), 'src: b2, b3 held by the sequential stage');
my $rs_b = $c[0][1];
is($c[1][1], $rs_b, 'src: b2 and b3 share the run receipt');
@expect{ map { $id{$_} } qw(b1 b2 b3 b4) } = qw(done sequencing sequencing processed);

# key c: c1 claimed with a long lease, c2 processed, c3 ready
enq("c$_", 'main', 'c') for 1 .. 3;
@c = claim_src('fqs_claim', 'main', 1, '1 hour');
is(ids(@c), labels('c1'), 'src: c1 claimed with a long lease');
my $rc_c1 = $c[0][1];
@c = claim_src('fqs_claim', 'main', 1, '1 hour');
is(ids(@c), labels('c2'), 'src: c2 claimed');
commit_src(@c);
@expect{ map { $id{$_} } qw(c1 c2 c3) } = qw(claimed processed ready);

# key d: d1 delayed by an hour, d2 ready, d3 ready with a dedup id
enq('d1', 'main', 'd', "deliver_at => now() + interval '1 hour'");
enq('d2', 'main', 'd');
enq('d3', 'main', 'd', "dedup_id => 'dd-3'");
is(src("SELECT fqs_enqueue('main', 'again', fifo_key => 'd', dedup_id => 'dd-3')"),
	$id{d3}, 'src: a repeated dedup id returns the first id');
@expect{ map { $id{$_} } qw(d1 d2 d3) } = qw(delayed ready ready);

# default key: two ready messages, one with headers
enq('n1', 'main', '');
enq('n2', 'main', '', qq{headers => '{"h": 1}'});
@expect{ map { $id{$_} } qw(n1 n2) } = qw(ready ready);

# ---------------------------------------------------------------------
# Queue 'fragile' (max_attempts 1): dead in both stages, skipped
# ---------------------------------------------------------------------

src("SELECT fqs_create_queue('fragile', lease => '1 hour', max_attempts => 1)");

enq('x1', 'fragile', 'x');
@c = claim_src('fqs_claim', 'fragile', 1, '1 hour');
is(ids(@c), labels('x1'), 'src: x1 claimed');
is(src("SELECT fqs_fail($c[0][0], $c[0][1], 'x1 failed')"), 'dead', 'src: x1 dead in the concurrent stage');

enq('y1', 'fragile', 'y');
@c = claim_src('fqs_claim', 'fragile', 1, '1 hour');
is(ids(@c), labels('y1'), 'src: y1 claimed');
is(src("SELECT fqs_fail($c[0][0], $c[0][1], 'y1 failed')"), 'dead', 'src: y1 dead');
src("SELECT fqs_skip($id{y1}, 'y1 skipped by the operator')");

enq('z1', 'fragile', 'z');
@c = claim_src('fqs_claim', 'fragile', 1, '1 hour');
is(ids(@c), labels('z1'), 'src: z1 claimed');
commit_src(@c);
@c = claim_src('fqs_claim_sequential', 'fragile', 1, '1 hour');
is(ids(@c), labels('z1'), 'src: z1 released');
is(src("SELECT fqs_fail($c[0][0], $c[0][1], 'z1 failed')"), 'dead', 'src: z1 dead in the sequential stage');

enq('z2', 'fragile', 'z');
@c = claim_src('fqs_claim', 'fragile', 1, '1 hour');
is(ids(@c), labels('z2'), 'src: z2 claimed');
commit_src(@c);

enq('x2', 'fragile', 'x');
enq('y2', 'fragile', 'y');
enq('x3', 'fragile', 'x', "dedup_id => 'fx-3'");
@expect{ map { $id{$_} } qw(x1 y1 z1 z2 x2 y2 x3) } =
  qw(dead skipped dead processed ready ready ready);

# ---------------------------------------------------------------------
# Queue 'big': 5,000 messages over 50 keys by fqs_enqueue_batch; some of
# them claimed, processed, done and held
# ---------------------------------------------------------------------

src("SELECT fqs_create_queue('big', lease => '1 hour')");
my @big = split /,/, src(
	"SELECT string_agg(id::text, ',') FROM fqs_enqueue_batch('big',
	   ARRAY(SELECT 'big ' || i FROM generate_series(1, 5000) i),
	   ARRAY(SELECT 'g' || (i % 50) FROM generate_series(1, 5000) i)) id");
is(scalar @big, 5000, 'src: 5000 ids from fqs_enqueue_batch');
$payload{ $big[$_ - 1] } = "big $_" for 1 .. 5000;

@c = claim_src('fqs_claim', 'big', 300, '1 hour');
is(scalar @c, 300, 'src: 300 big messages claimed');
@c = sort { $a->[0] <=> $b->[0] } @c;
commit_src(@c[ 0 .. 199 ]);
my @big_claimed = @c[ 200 .. 299 ];    # kept claimed, committed in dst
@c = claim_src('fqs_claim_sequential', 'big', 100, '1 hour');
ok(@c > 0, 'src: big messages released');
complete_src(@c);
my @big_held = claim_src('fqs_claim_sequential', 'big', 40, '1 hour');    # completed in dst
ok(@big_held > 0, 'src: big messages held by the sequential stage');

# ---------------------------------------------------------------------
# Queue 'penq' (max_ready 3): breaker open, messages in the pen
# ---------------------------------------------------------------------

src("SELECT fqs_create_queue('penq', max_ready => 3, lease => '1 hour')");
enq("p$_", 'penq', $_ % 2 ? 'p' : 'q') for 1 .. 4;
src('SELECT fqs_maintain()');
is(src("SELECT breaker_open FROM fqs_queues WHERE queue = 'penq'"), 't',
	'src: the breaker of penq opened');
enq("p$_", 'penq', $_ % 2 ? 'p' : 'q') for 5 .. 7;
enq('p8', 'penq', 'q', "dedup_id => 'pen-dup'");
$expect{ $id{"p$_"} } = 'ready' for 1 .. 4;
$expect{ $id{"p$_"} } = 'pen' for 5 .. 8;

# ---------------------------------------------------------------------
# main, key e: e1 claimed with a 1 second lease that runs out before the
# dump (the last claim in main, so nothing requeues it in src)
# ---------------------------------------------------------------------

enq('e1', 'main', 'e', 'priority => 10');
enq('e2', 'main', 'e');
@c = claim_src('fqs_claim', 'main', 1, '1 second');
is(ids(@c), labels('e1'), 'src: e1 claimed with a 1 second lease');
my $re_e1 = $c[0][1];
ok( $node->poll_query_until('src',
		"SELECT lease_until < now() FROM fqs.ready WHERE id = $id{e1}"),
	"src: e1's lease ran out");
@expect{ map { $id{$_} } qw(e1 e2) } = qw(claimed ready);

# ---------------------------------------------------------------------
# Record src
# ---------------------------------------------------------------------

my $max_id = src('SELECT last_value FROM fqs.message_id_seq');

# id -> whole fqs_message_status row ('' when there is none)
sub status_map
{
	my ($db, $upto) = @_;
	my ($ok, $out, $err) = try_sql($db,
		"SELECT i, s.* FROM generate_series(1, $upto) i
		   LEFT JOIN LATERAL fqs_message_status(i) s ON true ORDER BY i");
	die "fqs_message_status in $db failed: $err" unless $ok;
	my %m;
	for my $line (split /\n/, $out)
	{
		my ($i, $rest) = split /\|/, $line, 2;
		$m{$i} = $rest =~ /^\|*$/ ? '' : $rest;
	}
	return %m;
}
sub field { my ($row, $n) = @_; return (split /\|/, $row, -1)[$n]; }    # 0 queue 1 key 2 seq 3 state 4 attempts
sub state_counts
{
	my (%m) = @_;
	my %n;
	$n{ $_ eq '' ? '(none)' : field($_, 3) }++ for values %m;
	return %n;
}

my $queues_sql =
  "SELECT queue, max_ready, lease, max_attempts, priority, max_claimed, paused,
          breaker_open, pen, ready, delayed, claimed, processed, sequencing,
          dead, done_total, oldest_unfinished_age IS NULL
     FROM fqs_queues ORDER BY queue";

my %src_status = status_map('src', $max_id);
my $src_queues = src($queues_sql);
note "src fqs_queues:\n$src_queues";

my @wrong = grep { field($src_status{$_}, 3) ne $expect{$_} } sort { $a <=> $b } keys %expect;
is(scalar @wrong, 0, 'src: every named message is in the state the setup meant')
  or diag join("\n", map { "$label{$_} (id $_): '$src_status{$_}', meant $expect{$_}" } @wrong);
my %src_counts = state_counts(%src_status);
note 'src states: ' . join(', ', map { "$_ $src_counts{$_}" } sort keys %src_counts);
for my $st (qw(pen ready delayed claimed processed sequencing done dead skipped))
{
	ok(($src_counts{$st} // 0) > 0, "src: some message is $st");
}
is(scalar(grep { $_ ne '' } values %src_status), 5000 + scalar(keys %label),
	'src: fqs_message_status knows every message');

# ---------------------------------------------------------------------
# pg_dump -Fc src; CREATE DATABASE dst; pg_restore -d dst
# ---------------------------------------------------------------------

sub run_cmd
{
	my @cmd = @_;
	my ($out, $err) = ('', '');
	my $ok = IPC::Run::run(\@cmd, '<', \undef, '>', \$out, '2>', \$err);
	return ($ok, $out, $err);
}

my $dump = "$tmp/src.dump";
my ($ok, $out, $err) = run_cmd($node->installed_command('pg_dump'),
	'-Fc', '-f', $dump, '-d', $node->connstr('src'));
ok($ok, 'pg_dump -Fc src exits 0') or diag $err;
is($err, '', 'pg_dump prints nothing on stderr');

$node->safe_psql('postgres', 'CREATE DATABASE dst');
($ok, $out, $err) = run_cmd($node->installed_command('pg_restore'),
	'-d', $node->connstr('dst'), $dump);
ok($ok, 'pg_restore -d dst exits 0') or diag $err;
unlike($err, qr/error|warning/i, 'pg_restore prints no error or warning') or diag $err;

# ---------------------------------------------------------------------
# dst has the same state
# ---------------------------------------------------------------------

my %dst_status = status_map('dst', $max_id);
my %dst_counts = state_counts(%dst_status);
note 'dst states: ' . join(', ', map { "$_ $dst_counts{$_}" } sort keys %dst_counts);
for my $st (qw(pen ready delayed claimed processed sequencing done dead skipped))
{
	is($dst_counts{$st} // 0, $src_counts{$st},
		"dst: as many messages are $st as in src ($src_counts{$st})");
}
my @diff = grep { $src_status{$_} ne ($dst_status{$_} // '') } 1 .. $max_id;
is(scalar @diff, 0, "dst: fqs_message_status of all $max_id ids is the same as in src")
  or diag join("\n", "first differences (src / dst):",
	map { "  id $_: '$src_status{$_}'\n  " . (' ' x length $_) . "    '$dst_status{$_}'" }
	  @diff[ 0 .. ($#diff < 9 ? $#diff : 9) ]);

my $dst_queues = works('dst', $queues_sql, 'dst: fqs_queues');
is($dst_queues, $src_queues, 'dst: fqs_queues shows the same settings and counts');

# ---------------------------------------------------------------------
# New work in dst: queues, dedup, ids, seqs
# ---------------------------------------------------------------------

works('dst', "SELECT fqs_create_queue('new', lease => '1 hour')",
	"dst: fqs_create_queue('new') works (queue id sequence restored)");

my $queues_before = (try_sql('dst', $queues_sql))[1];
for my $d ([ 'main', 'd', 'dd-3', 'd3' ], [ 'penq', 'q', 'pen-dup', 'p8' ],
	[ 'fragile', 'x', 'fx-3', 'x3' ])
{
	my ($q, $k, $dd, $l) = @$d;
	my $got = works('dst',
		"SELECT fqs_enqueue('$q', 'again', fifo_key => '$k', dedup_id => '$dd')",
		"dst: enqueue with dedup id $dd works");
	is($got, $id{$l}, "dst: dedup id $dd enqueued before the dump returns the original id ($l)");
}
is((try_sql('dst', $queues_sql))[1], $queues_before,
	'dst: the repeated dedup ids inserted nothing');

# last seq per queue|key, from src
my %last_seq;
for my $s (values %src_status)
{
	next if $s eq '';
	my $k = field($s, 0) . '|' . field($s, 1);
	$last_seq{$k} = field($s, 2) if !defined $last_seq{$k} || field($s, 2) > $last_seq{$k};
}

my @new;    # [label, queue, key, expected seq, expected state]
push @new, [ 'new-c',  'main',  'c',     $last_seq{'main|c'} + 1, 'ready' ];
push @new, [ 'fresh1', 'main',  'fresh', 1,                       'ready' ];
push @new, [ 'new-p',  'penq',  'p',     $last_seq{'penq|p'} + 1, 'pen' ];
push @new, [ 'nq1',    'new',   'k',     1,                       'ready' ];
my $new_max = $max_id;
for my $n (@new)
{
	my ($l, $q, $k, $seq, $st) = @$n;
	my $nid = works('dst', "SELECT fqs_enqueue('$q', 'payload $l', fifo_key => '$k')",
		"dst: enqueue $l into $q key '$k' works");
	next unless defined $nid;
	$id{$l} = $nid;
	$label{$nid} = $l;
	$payload{$nid} = "payload $l";
	ok($nid > $max_id, "dst: $l gets id $nid, larger than every restored id ($max_id)");
	$new_max = $nid if $nid > $new_max;
	my $s = (try_sql('dst', "SELECT queue, fifo_key, seq, state, attempts FROM fqs_message_status($nid)"))[1];
	is($s, "$q|$k|$seq|$st|0", "dst: $l has seq $seq of its key and is $st");
}

# ---------------------------------------------------------------------
# Receipts from src in dst
# ---------------------------------------------------------------------

works('dst', 'CREATE TABLE t_receipts (receipt bigint, stage text, id bigint);
	CREATE TABLE t_completions (n bigserial PRIMARY KEY, queue text, fifo_key text,
	                            seq bigint, id bigint, payload text)',
	'dst: bookkeeping tables');

refused('dst', "SELECT fqs_commit($id{c1}, $rs_b, 'wrong')",
	'dst: c1 refuses the receipt of another claim (b\'s run)');
refused('dst', "SELECT fqs_complete($id{b2}, $rc_c1)",
	'dst: b2 refuses the receipt of another claim (c1)');
works('dst', "SELECT fqs_commit($id{c1}, $rc_c1, 'result of payload c1')",
	'dst: c1 commits with the receipt of its claim in src');
works('dst', "BEGIN;
	SELECT fqs_complete($id{b2}, $rs_b);
	INSERT INTO t_completions (queue, fifo_key, seq, id) VALUES ('main', 'b', 2, $id{b2});
	SELECT fqs_complete($id{b3}, $rs_b);
	INSERT INTO t_completions (queue, fifo_key, seq, id) VALUES ('main', 'b', 3, $id{b3});
	COMMIT;",
	'dst: b2, b3 complete with the run receipt from src');

my $sql = "BEGIN;\n"
  . join('', map { "SELECT fqs_commit($_->[0], $_->[1], 'result of $_->[5]');\n" } @big_claimed)
  . "COMMIT;";
works('dst', $sql, 'dst: the 100 big messages claimed in src commit with their receipts');

$sql = "BEGIN;\n"
  . join('', map {
	"SELECT fqs_complete($_->[0], $_->[1]);\n"
	  . "INSERT INTO t_completions (queue, fifo_key, seq, id) VALUES ('big', '$_->[2]', $_->[3], $_->[0]);\n"
  } @big_held)
  . "COMMIT;";
works('dst', $sql, 'dst: the big runs held in src complete with their receipts');

# e1: its lease ran out in src; the next claim takes it again
my ($e) = rows(works('dst',
	"SELECT id, receipt, attempt FROM fqs_claim('main', 1, '1 hour')",
	'dst: claim in main'));
$e //= [ '', '', '' ];
is("$e->[0]|$e->[2]", "$id{e1}|2", 'dst: e1 (lease ran out in src) is claimed again, attempt 2');
ok($e->[1] ne '' && !$src_receipts{ $e->[1] },
	"dst: e1's new receipt ($e->[1]) was never handed out in src");
refused('dst', "SELECT fqs_commit($id{e1}, $re_e1, 'stale')",
	"dst: e1's expired receipt from src is refused", '55000');
refused('dst', "SELECT fqs_commit($id{e1}, $rc_c1, 'stale')",
	"dst: e1 refuses c1's receipt from src");
works('dst', "INSERT INTO t_receipts VALUES ($e->[1], 'concurrent', $e->[0]);
	SELECT fqs_commit($id{e1}, $e->[1], 'result of payload e1')",
	'dst: e1 commits with its new receipt') if $e->[1] ne '';

# ---------------------------------------------------------------------
# Drain dst
# ---------------------------------------------------------------------

works('dst', "SELECT fqs_retry($id{x1}); SELECT fqs_retry($id{z1});",
	'dst: the dead x1 and z1 retried');
# the time travel of d1's deliver_at: make it due now
works('dst', "UPDATE fqs.ready SET visible_at = now() WHERE id = $id{d1}",
	'dst: d1 made due');

my $drain_sql = q{
CREATE TEMP TABLE t_work (queue text, id bigint, receipt bigint, fifo_key text,
                          seq bigint, payload text, o bigint);
SELECT fqs_maintain();
DO $$
DECLARE
	v_q text;
	r record;
BEGIN
	FOR v_q IN SELECT queue FROM fqs_queues ORDER BY queue LOOP
		DELETE FROM t_work;
		INSERT INTO t_work
			SELECT v_q, c.id, c.receipt, c.fifo_key, c.seq, c.payload, c.ordinality
			  FROM fqs_claim(v_q, 1000, '1 hour') WITH ORDINALITY c;
		FOR r IN SELECT * FROM t_work ORDER BY o LOOP
			INSERT INTO t_receipts VALUES (r.receipt, 'concurrent', r.id);
			PERFORM fqs_commit(r.id, r.receipt, 'result of ' || r.payload);
		END LOOP;
	END LOOP;
END $$;
DO $$
DECLARE
	v_q text;
	r record;
BEGIN
	FOR v_q IN SELECT queue FROM fqs_queues ORDER BY queue LOOP
		DELETE FROM t_work;
		INSERT INTO t_work
			SELECT v_q, c.id, c.receipt, c.fifo_key, c.seq, c.payload, c.ordinality
			  FROM fqs_claim_sequential(v_q, 1000, '1 hour') WITH ORDINALITY c;
		FOR r IN SELECT * FROM t_work ORDER BY o LOOP
			INSERT INTO t_receipts VALUES (r.receipt, 'sequential', r.id);
			PERFORM fqs_complete(r.id, r.receipt);
			INSERT INTO t_completions (queue, fifo_key, seq, id, payload)
				VALUES (r.queue, r.fifo_key, r.seq, r.id, r.payload);
		END LOOP;
	END LOOP;
END $$;
SELECT coalesce(sum(pen + ready + delayed + claimed + processed + sequencing + dead), 0)
         || '|' || (SELECT count(*) FROM t_completions)
  FROM fqs_queues;
};

my ($left, $stuck, $drained) = (undef, 0, 0);
my $prev = '';
for my $round (1 .. 40)
{
	my ($rok, $rout, $rerr) = try_sql('dst', $drain_sql);
	if (!$rok)
	{
		fail("dst: drain round $round failed");
		diag $rerr;
		last;
	}
	my ($l, $done) = split /\|/, (split /\n/, $rout)[-1];
	$left = $l;
	note "drain round $round: $l unfinished, $done completions recorded";
	if ($l == 0)
	{
		$drained = 1;
		last;
	}
	$stuck = "$l|$done" eq $prev ? $stuck + 1 : 0;
	$prev = "$l|$done";
	if ($stuck >= 3)
	{
		fail("dst: the drain makes no progress, $l messages left");
		diag((try_sql('dst', 'SELECT * FROM fqs_queues ORDER BY queue'))[1]);
		last;
	}
}
ok($drained, 'dst: drained completely') or diag "unfinished: " . ($left // '?');

is((try_sql('dst',
	"SELECT count(*) FROM fqs_queues
	  WHERE pen + ready + delayed + claimed + processed + sequencing + dead > 0
	     OR breaker_open"))[1],
	'0', 'dst: fqs_queues shows nothing left and every breaker closed');

# every message done or skipped
my %final = status_map('dst', $new_max);
my @unfinished = grep {
	$final{$_} ne '' && field($final{$_}, 3) !~ /^(done|skipped)$/
} sort { $a <=> $b } keys %final;
is(scalar @unfinished, 0, 'dst: every message is done or skipped')
  or diag join("\n", map { "  id $_: $final{$_}" } @unfinished[ 0 .. ($#unfinished < 9 ? $#unfinished : 9) ]);

# per key: completed strictly by seq, exactly the unfinished ones of src
# plus the new ones, ending at the key's last seq
my %expected;
for my $i (1 .. $max_id)
{
	my $s = $src_status{$i};
	next if $s eq '' || field($s, 3) =~ /^(done|skipped)$/;
	push @{ $expected{ field($s, 0) . '|' . field($s, 1) } }, field($s, 2);
}
for my $n (@new)
{
	push @{ $expected{"$n->[1]|$n->[2]"} }, $n->[3] if defined $id{ $n->[0] };
}
@$_ = sort { $a <=> $b } @$_ for values %expected;

my (%completed, @bad_payload);
for my $r (rows((try_sql('dst',
	'SELECT queue, fifo_key, seq, id, payload IS NULL, payload FROM t_completions ORDER BY n'))[1]))
{
	my ($q, $k, $seq, $i, $nopayload, $p) = @$r;
	push @{ $completed{"$q|$k"} }, $seq;
	push @bad_payload, "id $i: '$p', want 'result of $payload{$i}'"
	  if $nopayload ne 't' && (!defined $payload{$i} || $p ne "result of $payload{$i}");
}
my @disorder = grep {
	my $l = $completed{$_};
	grep { $l->[$_] <= $l->[ $_ - 1 ] } 1 .. $#$l
} sort keys %completed;
is(scalar @disorder, 0, 'dst: every key completed strictly in seq order')
  or diag join("\n", map { "  $_: " . join(',', @{ $completed{$_} }) } @disorder);
my @keys_wrong = grep {
	join(',', @{ $completed{$_} // [] }) ne join(',', @{ $expected{$_} // [] })
} sort(keys %{ { %expected, %completed } });
is(scalar @keys_wrong, 0,
	'dst: each key completed exactly its unfinished messages, up to its last seq')
  or diag join("\n", map {
	"  $_: completed " . join(',', @{ $completed{$_} // [] })
	  . "; expected " . join(',', @{ $expected{$_} // [] })
  } @keys_wrong[ 0 .. ($#keys_wrong < 9 ? $#keys_wrong : 9) ]);
ok(scalar(keys %completed) >= 50 + 9, 'dst: completions recorded for every key')
  or diag 'keys: ' . join(' ', sort keys %completed);
is(scalar @bad_payload, 0,
	'dst: the sequential stage sees the committed results (also those committed in src)')
  or diag join("\n", @bad_payload[ 0 .. ($#bad_payload < 9 ? $#bad_payload : 9) ]);

# no receipt handed out in dst equals one handed out in src
my @dst_receipts = map { $_->[0] }
  rows((try_sql('dst', 'SELECT DISTINCT receipt FROM t_receipts ORDER BY 1'))[1]);
ok(@dst_receipts > 100, 'dst: receipts were handed out in dst (' . scalar(@dst_receipts) . ')');
my @reused = grep { $src_receipts{$_} } @dst_receipts;
is(scalar @reused, 0,
	'dst: no receipt handed out in dst equals one handed out in src ('
	  . scalar(keys %src_receipts) . ')')
  or diag 'reused: ' . join(',', @reused[ 0 .. ($#reused < 19 ? $#reused : 19) ]);

$node->stop;
done_testing();
