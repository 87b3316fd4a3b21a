# Copyright (c) 2026, fqs developers
#
# The Citus-shape lint (issue 11): every statement fqs runs on the hot
# paths -- enqueue, the claims, commit, complete, fail, lease extension,
# retry, skip, status -- is EXPLAINed as it runs (auto_explain, nested
# statements, JSON, verbose), and each scan of an fqs table must touch one
# queue by equality on its queue id (qid = ...), so that fqs's tables can
# later be distributed by qid and its functions by queue
# (create_distributed_function), each call then running on one shard.
#
# Rules:
#  - fqs.queue, fqs.meta and fqs.grants are small and would be reference
#    tables (copied to every node): any scan of them passes;
#  - INSERT ... VALUES passes (the row's qid is its shard key);
#  - every other scan of an fqs table (and the scans of UPDATE, DELETE and
#    INSERT ... SELECT) passes only with "qid = <value>" in its index
#    condition, filter or recheck condition, its own or its children's.
#
# Statements that fail are compared with test/citus_shape_allow.txt: each
# line there is "<reason> | <the start of the statement's text>".  A
# failing statement that is not listed fails this test, as does a listed
# one that no longer runs or now passes (the list must stay true).  The
# test prints how many statements pass.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use JSON::PP;
use FindBin;
use lib $FindBin::RealBin;
use FqsTest;

my $node = preloaded_node('citus', q{
shared_preload_libraries = 'fqs,auto_explain'
auto_explain.log_min_duration = 0
auto_explain.log_nested_statements = on
auto_explain.log_format = json
auto_explain.log_verbose = on
log_min_messages = log
});
$node->safe_psql('postgres', 'CREATE EXTENSION fqs');
# the set-up's own statements are not part of the lint
$node->safe_psql('postgres', q{
SELECT fqs_create_queue('c', max_ready => 0);
SELECT fqs_create_queue('d', max_ready => 0, max_attempts => 1);
});
my $logpos = -s $node->logfile;

# every hot entry point, each at least once, in its ordinary use
$node->safe_psql('postgres', q{
SELECT fqs_enqueue('c', 'a', 'K');
SELECT fqs_enqueue('c', 'b', 'K', dedup_id => 'x1');
SELECT fqs_enqueue('c', 'b', 'K', dedup_id => 'x1');
SELECT count(*) FROM fqs_enqueue_batch('c', ARRAY['c', 'd', 'e'], ARRAY['K', 'L', 'L']);
SELECT fqs_enqueue('c', 'later', 'M', deliver_at => now() + interval '1 hour');
CREATE TABLE got (id bigint, receipt bigint, payload text);
INSERT INTO got SELECT id, receipt, payload FROM fqs_claim('c', 2);
SELECT fqs_extend_lease(id, receipt, '1 minute') IS NOT NULL FROM got;
SELECT fqs_commit(id, receipt, 'r') FROM got WHERE payload = 'a';
SELECT fqs_fail(id, receipt, 'e', retry_after => '0') FROM got WHERE payload = 'b';
TRUNCATE got;
INSERT INTO got SELECT id, receipt, payload FROM fqs_claim_any(ARRAY['c', 'd'], 10);
SELECT fqs_commit(array_agg(id), array_agg(receipt)) FROM got;
TRUNCATE got;
INSERT INTO got SELECT id, receipt, payload FROM fqs_claim_sequential('c', 10);
SELECT fqs_extend_lease(id, receipt, '1 minute') IS NOT NULL FROM got WHERE payload = 'a';
SELECT fqs_fail(id, receipt, 'e') FROM got WHERE payload = 'a';
SELECT fqs_complete(id, receipt) FROM got WHERE payload = 'd';
SELECT fqs_complete(array_agg(id), array_agg(receipt)) FROM got WHERE payload = 'e';
SELECT count(*) FROM fqs_message_status((SELECT id FROM got LIMIT 1));
SELECT fqs_retry(m.id) FROM fqs_dead_messages m LIMIT 1;
SELECT fqs_enqueue('d', 'x', 'D');
TRUNCATE got;
INSERT INTO got SELECT id, receipt, payload FROM fqs_claim('d', 1);
SELECT fqs_fail(id, receipt, 'dies') FROM got;
SELECT fqs_skip(m.id, 'skipped') FROM fqs_dead_messages m WHERE m.queue = 'd';
SELECT count(*) FROM fqs_claim('c', 1, wait => '0.05 s');
});

# ---- the plans of every statement fqs ran (nested: SPI), from the log
my $log = slurp_file($node->logfile, $logpos);
my (%plans, $n);
# each plan follows a line ending in "plan:", one tab before each of its
# lines; only this test's session (its application_name), not the worker
while ($log =~ /^([^\n]*)plan:\n((?:\t[^\n]*\n)+)/mg)
{
	my ($line, $text) = ($1, $2);
	next unless $line =~ /021_citus_shape/;
	$text =~ s/^\t//mg;
	my $j = eval { decode_json($text) };
	next unless $j && $j->{'Query Text'};
	my $q = $j->{'Query Text'};
	$q =~ s/\s+/ /g;
	$q =~ s/^ //;
	# the statements of the workload itself are the test's, not fqs's
	next if $q =~ /^(SELECT|INSERT INTO got|TRUNCATE|CREATE TABLE got)\b/ && $q !~ /\bfqs\./;
	$n++;
	push @{ $plans{$q} }, $j->{'Plan'};
}
ok($n > 50, "auto_explain logged the statements fqs ran ($n)");

my %reference = map { $_ => 1 } qw(queue meta grants);

# does a plan node (or one below it) scan an fqs table without qid = ...?
# returns the relations scanned that way
sub bad_scans
{
	my ($p, $inherited) = @_;
	my @bad;
	my $conds = join(' ', map { $p->{$_} // '' } ('Index Cond', 'Filter', 'Recheck Cond', 'Hash Cond', 'Join Filter'));
	my $has_qid = $inherited || $conds =~ /\bqid = /;
	# a Bitmap Heap Scan's condition is in its Bitmap Index Scan child
	if (($p->{'Node Type'} // '') eq 'Bitmap Heap Scan')
	{
		for my $c (@{ $p->{Plans} // [] })
		{
			$has_qid ||= (($c->{'Index Cond'} // '') =~ /\bqid = /);
		}
	}
	if (($p->{'Schema'} // '') eq 'fqs' && defined $p->{'Relation Name'}
		&& ($p->{'Node Type'} // '') =~ /Scan/
		&& !$reference{ $p->{'Relation Name'} =~ s/_\d+$//r }
		&& !$has_qid)
	{
		push @bad, $p->{'Relation Name'} =~ s/_\d+$//r;
	}
	for my $c (@{ $p->{Plans} // [] })
	{
		push @bad, bad_scans($c, ($p->{'Node Type'} // '') eq 'Bitmap Heap Scan' && $has_qid);
	}
	return @bad;
}

my (@pass, %fail);
for my $q (sort keys %plans)
{
	my %b;
	$b{$_} = 1 for map { bad_scans($_) } @{ $plans{$q} };
	if (%b) { $fail{$q} = join(',', sort keys %b); }
	else { push @pass, $q; }
}

# ---- against the list of known exceptions
my @allow;
for my $l (split /\n/, slurp_file("$FindBin::RealBin/../citus_shape_allow.txt"))
{
	next if $l =~ /^\s*(#|$)/;
	my ($why, $start) = split /\s*\|\s*/, $l, 2;
	push @allow, [ $why, $start ];
}
my (@unlisted, %used);
for my $q (sort keys %fail)
{
	my ($a) = grep { index($q, $_->[1]) == 0 } @allow;
	if ($a) { $used{ $a->[1] } = 1; }
	else { push @unlisted, "$q  [scans without qid: $fail{$q}]"; }
}
my @stale = map { $_->[1] } grep { !$used{ $_->[1] } } @allow;
is(join("\n", @unlisted), '',
	'every hot statement touches one queue by qid, or is a listed exception');
is(join("\n", @stale), '',
	'every listed exception still runs and still scans without qid');
my $total = scalar(@pass) + scalar(keys %fail);
diag(sprintf('%d of %d statements touch one queue by qid; %d listed exceptions',
		scalar(@pass), $total, scalar(keys %fail)));
note("passing:\n" . join("\n", @pass));

done_testing();
