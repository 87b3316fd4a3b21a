# Copyright (c) 2026, fqs developers
#
# The HL7 pipeline of examples/hl7 against a real server: ADT traffic over
# MLLP into two queues, translated in parallel, sent in order per patient to
# an HTTP sink whose EHR destination is down for a while (503, then hanging
# past the lease).  The pipeline checks itself and exits 0 only when all is
# well; this test checks again from what it wrote (the feed's ledger and the
# sink's deliveries) and from fqs:
#
#  - the pipeline exits 0, and none of its own checks failed;
#  - every good message was acknowledged AA (resends too), every malformed
#    one AE;
#  - each destination got every acknowledged message exactly once, or again
#    only where the pipeline saw its complete refused (at least once);
#  - per destination and patient, the fqs seqs arrived 1, 2, 3 ... and the
#    messages in the order the feed got their ACKs;
#  - the outage made fqs retry: deliveries at a later attempt, the failure
#    breaker of the EHR queue opened (fqs_queues, server log), the holding
#    pen filled; the billing queue never failed;
#  - fqs_queues: both queues done, nothing dead, the pen empty.
#
# First, examples/hl7/test_hl7.js (node --test) tries the HL7 parser on
# messages the feed never writes.
#
# Then the same checks against deliberately broken pipelines (--break: a
# sender that completes before the destination has the message, one that
# swaps two messages, an ingress without dedup): each must be caught.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use JSON::PP;
use FindBin;
use lib $FindBin::RealBin;
use FqsTest;

my $hl7 = "$FindBin::RealBin/../../examples/hl7";
ok(-d "$hl7/node_modules/\@medplum/hl7" && -d "$hl7/node_modules/pg",
	'examples/hl7 has its npm packages (npm ci)')
  or BAIL_OUT('run npm ci in examples/hl7 (test/install-deps.sh does)');

# the parser on what the feed never writes (other delimiters, hex escapes)
my ($unit_out, $unit_err) = ('', '');
ok(IPC::Run::run([ 'node', '--test', "$hl7/test_hl7.js" ], '<', \undef,
		'>', \$unit_out, '2>', \$unit_err),
	'examples/hl7/test_hl7.js passes (node --test)')
  or diag($unit_out . $unit_err);

my $node = preloaded_node('hl7');
my $connstr = $node->connstr('postgres');
my $tmp = PostgreSQL::Test::Utils::tempdir;

# Run the pipeline; returns (exit status, summary, feed ledger, deliveries).
sub pipeline
{
	my ($name, @args) = @_;
	my $dir = "$tmp/$name";
	my ($out, $err) = ('', '');
	my $h = IPC::Run::start(
		[
			'node', "$hl7/pipeline.js", '--dsn', $connstr,
			'--log-dir', $dir, '--queue-prefix', "${name}_", @args
		],
		'<', \undef, '>', \$out, '2>', \$err,
		IPC::Run::timeout(150));
	eval { $h->finish; };
	my $died = $@;
	$h->kill_kill if $died;
	note("$name: $died") if $died;
	my $rc = $died ? -1 : $h->result(0);
	open(my $fh, '>', "$dir.log");
	print $fh $out, $err;
	close $fh;
	my $read = sub {
		my $f = shift;
		return [] unless -f "$dir/$f";
		return [ map { decode_json($_) } grep { length } split /\n/, slurp_file("$dir/$f") ];
	};
	my $summary = -f "$dir/summary.json"
	  ? decode_json(slurp_file("$dir/summary.json")) : {};
	return ($rc, $summary, $read->('feed.jsonl'), $read->('deliveries.jsonl'), $out . $err);
}

# Independent checks of a run: a list of what is wrong.
sub problems
{
	my ($summary, $feed, $deliveries) = @_;
	my @bad;
	push @bad, 'no feed ledger' unless @$feed;
	push @bad, 'no summary' unless %$summary;
	my (%want, %order);
	for my $e (@$feed)
	{
		my $code = $e->{code} // 'none';
		if ($e->{bad})
		{
			push @bad, "malformed $e->{ctl} answered $code" if $code ne 'AE';
			next;
		}
		if ($code ne 'AA')
		{
			push @bad, "$e->{ctl} answered $code";
			next;
		}
		$want{ $e->{ctl} } = $e->{key};
		push @{ $order{ $e->{key} } }, $e->{ctl};
	}
	for my $dest ('ehr', 'billing')
	{
		my (%seen, %dup, %got_order, %last_seq);
		my $reorders = 0;
		for my $d (grep { $_->{dest} eq $dest } @$deliveries)
		{
			# a message delivered again (same id), or enqueued twice
			# (another id, same MSH-10): a duplicate either way
			if ($seen{ $d->{ctl} }++)
			{
				$dup{ $d->{ctl} }++;
				next;
			}
			$reorders++ if $d->{seq} != ($last_seq{ $d->{key} } // 0) + 1;
			$last_seq{ $d->{key} } = $d->{seq};
			push @{ $got_order{ $d->{key} } }, $d->{ctl};
		}
		my %got = map { $_ => 1 } map { @$_ } values %got_order;
		my @missing = grep { !$got{$_} } sort keys %want;
		my @extra = grep { !exists $want{$_} } sort keys %got;
		push @bad, "$dest: " . scalar(@missing) . " missing (@missing[0 .. ($#missing < 4 ? $#missing : 4)])"
		  if @missing;
		push @bad, "$dest: " . scalar(@extra) . " never acknowledged" if @extra;
		push @bad, "$dest: $reorders seqs out of order" if $reorders;
		my @wrong = grep { join(',', @{ $order{$_} }) ne join(',', @{ $got_order{$_} // [] }) }
		  grep { !@missing } sort keys %order;
		push @bad, "$dest: " . scalar(@wrong) . " patients not in ACK order" if @wrong;
		my $ndup = 0;
		$ndup += $_ for values %dup;
		my ($q) = grep { $summary->{queues}{$_}{dest} eq $dest } keys %{ $summary->{queues} // {} };
		my $explained = $q ? $summary->{queues}{$q}{completeRefused} : 0;
		push @bad, "$dest: $ndup duplicates, $explained explained by a refused complete"
		  if $ndup > $explained;
	}
	return @bad;
}

# ---- the pipeline, with the EHR down from 3 s to 8 s of a 15 s feed
my $logpos = -s $node->logfile;
my ($rc, $summary, $feed, $deliveries, $out) = pipeline(
	'good', '--patients', '40', '--rate', '30', '--duration', '15',
	'--outage', '5', '--outage-at', '3', '--max-ready', '30',
	'--drain-timeout', '60');
is($rc, 0, 'the pipeline exits 0') or diag($out);
is($summary->{failed}, 0, 'none of the pipeline\'s own checks failed')
  or diag(join("\n", map { $_->{what} } grep { !$_->{ok} } @{ $summary->{checks} // [] }));
my $good = () = grep { !$_->{bad} } @$feed;
my $malformed = () = grep { $_->{bad} } @$feed;
my $resent = () = grep { $_->{sends} > 1 } @$feed;
ok($good >= 300, "the feed sent $good ADT messages");
ok($resent > 0, "$resent of them were sent twice with the same MSH-10");
is(join("\n", problems($summary, $feed, $deliveries)), '',
	'every message acknowledged AA (malformed ones AE), delivered once, in order per patient');

my %q = %{ $summary->{queues} // {} };
my $ehr = $q{good_ehr} // {};
my $billing = $q{good_billing} // {};
my $later = () = grep { $_->{dest} eq 'ehr' && $_->{attempt} > 1 } @$deliveries;
ok($later > 0, "$later messages reached the EHR on a later attempt (fqs_claim_sequential's attempt)");
ok($ehr->{fails} > 0, "the EHR sender failed $ehr->{fails} sends with fqs_fail");
is( $node->safe_psql('postgres',
		"SELECT failure_opens > 0 FROM fqs_queues WHERE queue = 'good_ehr'"),
	't', 'fqs_queues: the EHR queue\'s failure breaker opened');
ok(count_log($node, qr/failure breaker of queue "good_ehr" opened/, $logpos) > 0,
	'the server log has the failure breaker opening');
ok(count_log($node, qr/breaker opened for queue "good_ehr"/, $logpos) > 0
	  && $ehr->{watch}{maxPen} > 0,
	"the holding pen filled (peak $ehr->{watch}{maxPen}) while the EHR was down");
is( $node->safe_psql('postgres',
		"SELECT failure_opens, pen FROM fqs_queues WHERE queue = 'good_billing'"),
	'0|0', 'fqs_queues: the billing queue\'s failure breaker never opened');
is($billing->{fails}, 0, 'no billing send failed');
is( $node->safe_psql('postgres', qq{
SELECT string_agg(queue || ' ' || done_total || ' ' || dead || ' ' || pen || ' ' ||
				  (ready + delayed + claimed + processed + sequencing), ', ' ORDER BY queue)
  FROM fqs_queues WHERE queue LIKE 'good_%'}),
	"good_billing $good 0 0 0, good_ehr $good 0 0 0",
	'fqs_queues: both queues done, nothing dead, nothing left');

# ---- broken pipelines must be caught, by the pipeline and by this test
for my $break ('complete-first', 'misorder', 'no-dedup')
{
	(my $name = $break) =~ s/-/_/g;
	my ($brc, $bsum, $bfeed, $bdel) = pipeline(
		$name, '--patients', '20', '--rate', '30', '--duration', '6',
		'--outage', '3', '--outage-at', '1', '--resend-rate', '0.1',
		'--drain-timeout', '30', '--break', $break);
	isnt($brc, 0, "--break $break: the pipeline exits non-zero");
	my @p = problems($bsum, $bfeed, $bdel);
	ok(@p > 0, "--break $break: this test's checks catch it") or diag("no problem found");
	note("--break $break: $_") for @p;
}

$node->stop;
done_testing();
