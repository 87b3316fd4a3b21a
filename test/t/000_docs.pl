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
# The reference in docs/ (docs/sql-reference.md, docs/operations.md,
# docs/choosing-fqs.md), against a node with fqs preloaded:
#  - every public fqs_* function and view of the installed extension has a
#    heading of its own in docs/sql-reference.md, and every fqs_* heading
#    there names one that exists;
#  - every fqs.* setting of the installed library (pg_settings) is named in
#    docs/operations.md, and every setting row of its tables exists;
#  - every SQLSTATE written in docs/sql-reference.md is one of fqs's own
#    (src/fqs.h) or one PostgreSQL
#    knows (its errcodes.txt), with the condition name PostgreSQL gives it
#    where a table row names one; and every SQLSTATE that src/*.c raises
#    at ERROR level is written there;
#  - every relative link of README.md and docs/*.md points at a file that
#    exists, and every #anchor at a heading of the file it names;
#  - every Markdown table in docs/*.md has the same number of columns in
#    each of its rows.
#
# FQS_README names another README to check (to try a deliberately broken
# copy), FQS_DOCS another docs directory (its links are still resolved as
# if it were docs/); FQS_TRACKED_FILES a file listing the tracked files,
# one per line, relative to the repository root (test/run-tests.sh writes
# it, because the suites run in a copy without .git).

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
my $docs_dir = $ENV{FQS_DOCS} // "$top/docs";
my %docs;
for my $f ('sql-reference.md', 'operations.md', 'choosing-fqs.md')
{
	ok(-f "$docs_dir/$f", "docs/$f exists");
	$docs{$f} = -f "$docs_dir/$f" ? slurp_file("$docs_dir/$f") : '';
}

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
# preloaded, so that every fqs.* setting is defined
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'fqs'");
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
my @gucs = split /\n/, $node->safe_psql('postgres',
	q{SELECT name FROM pg_settings WHERE name LIKE 'fqs.%' ORDER BY name});
my $sharedir = $node->config_data('--sharedir');
$node->stop;
my @undoc = grep { !$doc{$_} } sort keys %installed;
my @gone = grep { !$installed{$_} } sort keys %doc;
is(join(', ', @undoc), '', 'every public fqs function and view is in README\'s API table');
is(join(', ', @gone), '', 'everything README\'s API table names exists in the extension');

# ---- docs/sql-reference.md against the installed extension
my $ref = $docs{'sql-reference.md'};
my %ref_heading;
for my $h (headings($ref))
{
	$ref_heading{$_} = 1 for $h =~ /\b(fqs_\w+)/g;
}
my @ref_undoc = grep { !$ref_heading{$_} } sort keys %installed;
my @ref_gone = grep { !$installed{$_} } sort keys %ref_heading;
ok(scalar(keys %installed) >= 20, 'the extension has its public functions and views')
  or diag('installed: ' . join(' ', sort keys %installed));
is(join(', ', @ref_undoc), '',
	'every public fqs function and view has a heading in docs/sql-reference.md');
is(join(', ', @ref_gone), '',
	'every fqs_* heading of docs/sql-reference.md names a function or view of the extension');

# ---- docs/operations.md against the installed library's settings
my $ops = $docs{'operations.md'};
ok(@gucs >= 10, 'the preloaded library defines its fqs.* settings')
  or diag("settings: @gucs");
my @guc_undoc = grep { $ops !~ /`\Q$_\E`/ } @gucs;
is(join(', ', @guc_undoc), '', 'every fqs.* setting is named in docs/operations.md');
my %guc = map { $_ => 1 } @gucs;
my @guc_gone;
for my $l (split /\n/, $ops)
{
	push @guc_gone, $1 if $l =~ /^\|\s*`(fqs\.\w+)`\s*\|/ && !$guc{$1};
}
is(join(', ', @guc_gone), '', 'every setting row of docs/operations.md names a real setting');

# ---- SQLSTATEs of docs/sql-reference.md
my (%state_names, %macro_state);
my $errcodes = "$sharedir/errcodes.txt";
ok(-f $errcodes, "PostgreSQL's errcodes.txt is at $errcodes");
for my $l (split /\n/, -f $errcodes ? slurp_file($errcodes) : '')
{
	next unless $l =~ /^([0-9A-Z]{5})\s+[EWS]\s+(ERRCODE_\w+)(?:\s+(\w+))?/;
	$state_names{$1}{ $3 // '' } = 1;
	$macro_state{$2} = $1;
}
# fqs's own SQLSTATEs (src/fqs.h: #define ERRCODE_FQS_... MAKE_SQLSTATE(...)),
# in a class PostgreSQL leaves to implementations
my %fqs_state;
for my $l (split /\n/, slurp_file("$top/src/fqs.h"))
{
	next unless $l =~ /^#define\s+(ERRCODE_\w+)\s+MAKE_SQLSTATE\('(.)',\s*'(.)',\s*'(.)',\s*'(.)',\s*'(.)'\)/;
	$macro_state{$1} = "$2$3$4$5$6";
	$fqs_state{"$2$3$4$5$6"} = 1;
}
my (%written, @unknown, @misnamed);
for my $l (split /\n/, $ref)
{
	for my $code ($l =~ /`([0-9A-Z]{5})`/g)
	{
		next unless $code =~ /[0-9]/;
		$written{$code} = 1;
		push @unknown, $code unless $state_names{$code} || $fqs_state{$code};
	}
	# a row "| `code` | condition_name | ..." must pair them as PostgreSQL does
	if ($l =~ /^\|\s*`([0-9A-Z]{5})`\s*\|\s*([a-z_]+)\s*\|/
		&& $state_names{$1} && !$state_names{$1}{$2})
	{
		push @misnamed, "$1 $2";
	}
}
ok(scalar(keys %written) >= 10, 'docs/sql-reference.md writes the SQLSTATEs')
  or diag('written: ' . join(' ', sort keys %written));
is(join(', ', sort @unknown), '', 'every SQLSTATE in docs/sql-reference.md is one PostgreSQL knows');
is(join(', ', sort @misnamed), '', 'every SQLSTATE in docs/sql-reference.md has its PostgreSQL condition name');
my %raised;
for my $c (glob("$top/src/*.c"))
{
	my $text = slurp_file($c);
	while ($text =~ /ereport\(\s*ERROR\s*,\s*\(\s*errcode\((ERRCODE_\w+)\)/g)
	{
		$raised{ $macro_state{$1} // $1 } = 1;
	}
}
ok(scalar(keys %raised) >= 5, 'src/*.c raises errors with SQLSTATEs')
  or diag('raised: ' . join(' ', sort keys %raised));
my @unwritten = grep { !$written{$_} } sort keys %raised;
is(join(', ', @unwritten), '',
	'every SQLSTATE that src/*.c raises at ERROR is in docs/sql-reference.md');

# ---- relative links of README.md and docs/*.md
my @broken;
my %md = ('README.md' => [ $readme, $top ]);
$md{"docs/$_"} = [ $docs{$_}, "$top/docs" ] for keys %docs;
for my $name (sort keys %md)
{
	my ($text, $dir) = @{ $md{$name} };
	for my $target (links($text))
	{
		next if $target =~ m{^[a-z][a-z0-9+.-]*:}i;	# http:, https:, mailto:
		my ($path, $anchor) = $target =~ /^([^#]*)(?:#(.*))?$/;
		my $file = $path eq '' ? undef : "$dir/$path";
		my $anchor_text = $path eq '' ? $text : undef;
		if (defined $file)
		{
			if (!-e $file)
			{
				(my $d = $file) =~ s{/[^/]*$}{};
				push @broken, "$name: $target (no such file"
				  . (-d $d ? ')' : '; its directory is missing from this tree)');
				next;
			}
			if (defined $anchor)
			{
				(my $rel = $file) =~ s{^\Q$top\E/}{};
				$anchor_text =
				  $rel eq 'README.md' ? $readme
				  : $rel =~ m{^docs/(.+)$} && exists $docs{$1} ? $docs{$1}
				  : -f $file && $file =~ /\.md$/ ? slurp_file($file)
				  : undef;
			}
		}
		next unless defined $anchor && defined $anchor_text;
		my %slugs = map { $_ => 1 } slugs($anchor_text);
		push @broken, "$name: $target (no such heading)" unless $slugs{$anchor};
	}
}
is(join('; ', @broken), '', 'every relative link of README.md and docs/*.md resolves');

# ---- docs tables have consistent column counts
my @bad_docs;
for my $f (sort keys %docs)
{
	push @bad_docs, map { "docs/$f: $_" } table_errors($docs{$f});
}
is(join('; ', @bad_docs), '', 'every table in docs/*.md has the same column count in each row');

# ---- Markdown tables have consistent column counts
my @bad = table_errors($readme);
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

# "line N has ..." for each table row whose column count differs from its
# table's first row
sub table_errors
{
	my ($text) = @_;
	my @l = split /\n/, $text;
	my @errors;
	my ($cols, $start) = (undef, 0);
	my $code = 0;
	for my $i (0 .. $#l)
	{
		$code = !$code if $l[$i] =~ /^```/;
		if (!$code && $l[$i] =~ /^\s*\|/)
		{
			my $n = columns($l[$i]);
			if (!defined $cols)
			{
				($cols, $start) = ($n, $i + 1);
			}
			elsif ($n != $cols)
			{
				push @errors, "line " . ($i + 1) . " has $n columns, the table at line $start has $cols";
			}
		}
		else
		{
			undef $cols;
		}
	}
	return @errors;
}

# the headings of a Markdown text (#..######), outside code blocks
sub headings
{
	my ($text) = @_;
	my @h;
	my $code = 0;
	for my $l (split /\n/, $text)
	{
		$code = !$code if $l =~ /^```/;
		push @h, $1 if !$code && $l =~ /^#{1,6}\s+(.+?)\s*#*\s*$/;
	}
	return @h;
}

# the anchors GitHub makes of a text's headings: lower case, punctuation
# but '-' and '_' dropped, spaces to '-', repeats numbered -1, -2 ...
sub slugs
{
	my ($text) = @_;
	my (%seen, @s);
	for my $h (headings($text))
	{
		my $s = lc $h;
		$s =~ s/`//g;
		$s =~ s/[^\w\- ]//g;
		$s =~ tr/ /-/;
		my $n = $seen{$s}++;
		push @s, $n ? "$s-$n" : $s;
	}
	return @s;
}

# the targets of a Markdown text's inline links and images, outside code
# blocks and code spans
sub links
{
	my ($text) = @_;
	my @t;
	my $code = 0;
	for my $l (split /\n/, $text)
	{
		$code = !$code if $l =~ /^```/;
		next if $code;
		(my $plain = $l) =~ s/`[^`]*`//g;
		push @t, $1 while $plain =~ /\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g;
	}
	return @t;
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
