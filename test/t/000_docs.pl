# Copyright (c) 2026, fqs developers
#
# The front door: README.md and the repository's text files.
#
#  - no tracked text file is larger than 1 MB (bench results included);
#  - README.md has its title and each top-level section exactly once, and
#    every section this test expects is there;
#  - the commands of the "Two commands" table exist, are executable and are
#    valid shell;
#  - every fqs_* function and view named in README's SQL API table exists in
#    the installed extension, and every public fqs_* function and view of
#    the extension is named there;
#  - every Markdown table in README has the same number of columns in each
#    of its rows;
#  - no script of the repository rewrites README.md (a scripted replace whose
#    pattern matched the empty string once made it 25 MB).
#
# FQS_README names another README to check (to try a deliberately broken
# copy); FQS_TRACKED_FILES a file listing the tracked files, one per line,
# relative to the repository root (test/run-tests.sh writes it, because the
# suites run in a copy without .git).

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use File::Find;
use FindBin;

my $top = "$FindBin::RealBin/../..";
my $readme_path = $ENV{FQS_README} // "$top/README.md";
my $readme = slurp_file($readme_path);
my @lines = split /\n/, $readme;

# ---- tracked text files under 1 MB
my @tracked;
my $tracked_list = $ENV{FQS_TRACKED_FILES} // "$top/.tracked-files";
if (-f $tracked_list)
{
	@tracked = grep { length } split /\n/, slurp_file($tracked_list);
}
elsif (-d "$top/.git")
{
	@tracked = split /\n/, `git -C '$top' ls-files`;
}
else
{
	# no git: every file outside build and test output
	find(
		{
			no_chdir => 1,
			wanted => sub {
				if (-d $_ && m{/(tmp_check[^/]*|results|log|output_iso|\.git)$})
				{
					$File::Find::prune = 1;
					return;
				}
				return unless -f $_;
				return if /\.(o|so|bc)$/;
				push @tracked, substr($_, length($top) + 1);
			}
		},
		$top);
}
my $limit = 1024 * 1024;
my @big;
for my $f (@tracked)
{
	my $p = "$top/$f";
	next unless -f $p && -T $p;
	push @big, "$f (" . (-s $p) . " bytes)" if -s $p > $limit;
}
# README is checked even when a copy stands in for it
push @big, "$readme_path (" . (-s $readme_path) . " bytes)"
  if -s $readme_path > $limit;
ok(@tracked > 0, 'the list of tracked files is not empty');
is(join(', ', @big), '', 'no tracked text file is larger than 1 MB');

# ---- sections
my @expect = (
	'Two commands', 'SQL API',
	'Background workers', 'Wake-ups',
	'Guarantees and how they are kept', 'Storage',
	'Cost of each entry point', 'Layout');
my (%h1, %h2);
my $in_code = 0;
for my $l (@lines)
{
	$in_code = !$in_code if $l =~ /^```/;
	next if $in_code;
	$h1{$1}++ if $l =~ /^# (.+?)\s*$/;
	$h2{$1}++ if $l =~ /^## (.+?)\s*$/;
}
is(scalar(keys %h1), 1, 'README has one title');
my @repeated = grep { $h1{$_} > 1 } keys %h1;
push @repeated, grep { $h2{$_} > 1 } sort keys %h2;
is(join(', ', @repeated), '', 'no top-level section of README appears twice');
my @missing = grep { !$h2{$_} } @expect;
is(join(', ', @missing), '', 'README has every expected top-level section');

# ---- the two commands
my $section = section('Two commands');
my @cmds = $section =~ /\|\s*`bash ([^`\s]+)`\s*\|/g;
is(scalar(@cmds), 2, 'the "Two commands" table names two commands')
  or diag("found: @cmds");
for my $c (@cmds)
{
	my $p = "$top/$c";
	ok(-f $p && -x $p, "$c exists and is executable");
	my $rc = system('bash', '-n', $p);
	is($rc, 0, "$c is valid shell");
}

# ---- API table against the installed extension
my $api = section('SQL API');
my %doc;
for my $l (split /\n/, $api)
{
	next unless $l =~ /^\|\s*(.*?)\s*\|/;
	my $cell = $1;
	$doc{$_} = 1 for $cell =~ /`(fqs_\w+)/g;
	$doc{$1} = 1 if $cell =~ /^view `(fqs_\w+)`/;
}
ok(scalar(keys %doc) >= 10, 'README\'s API table names the fqs functions')
  or diag('named: ' . join(' ', sort keys %doc));

my $node = PostgreSQL::Test::Cluster->new('docs');
$node->init;
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION fqs');
my %installed = map { $_ => 1 } split /\n/, $node->safe_psql(
	'postgres', q{
	SELECT p.proname FROM pg_depend d
	  JOIN pg_proc p ON d.classid = 'pg_proc'::regclass AND p.oid = d.objid
	 WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
	   AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'fqs')
	   AND p.pronamespace <> 'fqs'::regnamespace AND p.proname LIKE 'fqs\_%'
	UNION
	SELECT c.relname FROM pg_depend d
	  JOIN pg_class c ON d.classid = 'pg_class'::regclass AND c.oid = d.objid
	 WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
	   AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'fqs')
	   AND c.relnamespace <> 'fqs'::regnamespace AND c.relname LIKE 'fqs\_%'});
$node->stop;
my @undoc = grep { !$doc{$_} } sort keys %installed;
my @gone = grep { !$installed{$_} } sort keys %doc;
is(join(', ', @undoc), '', 'every public fqs function and view is in README\'s API table');
is(join(', ', @gone), '', 'everything README\'s API table names exists in the extension');

# ---- Markdown tables have consistent column counts
my @bad;
my ($cols, $start) = (undef, 0);
$in_code = 0;
for my $i (0 .. $#lines)
{
	my $l = $lines[$i];
	$in_code = !$in_code if $l =~ /^```/;
	if (!$in_code && $l =~ /^\s*\|/)
	{
		my $n = columns($l);
		if (!defined $cols)
		{
			($cols, $start) = ($n, $i + 1);
		}
		elsif ($n != $cols)
		{
			push @bad, "line " . ($i + 1) . " has $n columns, the table at line $start has $cols";
		}
	}
	else
	{
		undef $cols;
	}
}
is(join('; ', @bad), '', 'every README table has the same column count in each row');

# ---- no repository script rewrites README.md
my @writers;
find(
	{
		no_chdir => 1,
		wanted => sub {
			if (-d $_ && m{/(tmp_check[^/]*|results|log|\.git|node_modules)$})
			{
				$File::Find::prune = 1;
				return;
			}
			return unless -f $_ && /\.(sh|pl|pm|py|js|sql)$|\/run$/;
			return if /000_docs\.pl$/;
			my $text = slurp_file($_);
			push @writers, substr($_, length($top) + 1)
			  if $text =~ /(sed\s+-i|perl\s+-[a-z]*i|>>?\s*\S*README|open\s*\([^)]*README[^)]*['"][wa+]|writeFile\S*\([^)]*README)/;
		}
	},
	$top);
is(join(', ', @writers), '', 'no script of the repository rewrites files in place or writes README.md');

done_testing();

# the text of a top-level section, up to the next one
sub section
{
	my ($name) = @_;
	return $readme =~ /^## \Q$name\E\s*\n(.*?)(?=^## |\z)/ms ? $1 : '';
}

# the columns of a table row: unescaped pipes, outer ones not counted
sub columns
{
	my ($row) = @_;
	$row =~ s/\\\|//g;
	$row =~ s/^\s*\|//;
	$row =~ s/\|\s*$//;
	my $n = () = $row =~ /\|/g;
	return $n + 1;
}
