# Copyright (c) 2026, fqs developers
#
# Helpers shared by the fqs TAP tests.  Load with
#
#	use FindBin;
#	use lib $FindBin::RealBin;
#	use FqsTest;
#
# preloaded_node($name [, $extra_conf])
#	Create, initialise and start a node with shared_preload_libraries =
#	'fqs' (fqs.naptime 100ms, max_worker_processes 16, max_connections 40,
#	log_min_messages warning); $extra_conf is appended to those settings.
#	Returns the node.
#
# start_psql_file($node, $connstr, $sqlfile, $base, %opts)
#	Run "psql -X -A -t -q -f $sqlfile" against $connstr in the background,
#	stdin empty, stdout to "$base.out" and stderr to "$base.err".  Options:
#	on_error_stop (default off), timeout (seconds, default none).  Returns
#	the IPC::Run handle.
#
# finish_clients(\%procs, $dir)
#	Wait for each client started with start_psql_file (a hash of name =>
#	handle, whose output went to "$dir/<name>.out/.err") to end, and check
#	(one test per client) that its stderr has no ERROR or FATAL.
#
# count_log($node, $re, $offset)
#	How often $re matches the node's server log from byte $offset on.
#
# server_processes($pid, $pgid)
#	Pids of the processes that are $pid, whose parent is $pid, or that are
#	in process group $pgid (if defined), zombies included, read from /proc.
#
# crash_server($node)
#	kill -9 the postmaster, then every process of its process group and
#	every child it leaves behind, so that no orphaned backend goes on
#	after the "crash"; waits until none of them is left (a new postmaster
#	refuses to start while the old one's pid still exists).
#
# start_after_crash($node, $test_name)
#	Start the node again and check (one test, named $test_name) that it
#	went through crash recovery.  Returns the log position from before the
#	start.
#
# router_nodes($n)
#	Start $n fqs nodes (preloaded, fqs.node_id 1..$n, fqs created in
#	database postgres) and a proxy node with fqs_router (and plproxy) in
#	database postgres, each node added to the router as n1..n$n.  Returns
#	($proxy, @nodes).
#
# node_connstr($node)
#	The libpq connection string of $node's database postgres.

package FqsTest;

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use Time::HiRes qw(usleep);

use Exporter 'import';
our @EXPORT = qw(
  preloaded_node
  start_psql_file
  finish_clients
  count_log
  server_processes
  crash_server
  start_after_crash
  router_nodes
  node_connstr
);

sub preloaded_node
{
	my ($name, $extra_conf) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init;
	$node->append_conf(
		'postgresql.conf', qq(
shared_preload_libraries = 'fqs'
fqs.naptime = '100ms'
max_worker_processes = 16
max_connections = 40
log_min_messages = warning
) . ($extra_conf // ''));
	$node->start;
	return $node;
}

sub start_psql_file
{
	my ($node, $connstr, $sqlfile, $base, %opts) = @_;
	my @cmd = (
		$node->installed_command('psql'), '-X', '-A', '-t', '-q',
		'-v', 'ON_ERROR_STOP=' . ($opts{on_error_stop} ? 1 : 0),
		'-d', $connstr, '-f', $sqlfile);
	return IPC::Run::start(\@cmd, '<', \undef,
		'>', "$base.out", '2>', "$base.err",
		defined $opts{timeout} ? (IPC::Run::timeout($opts{timeout})) : ());
}

sub finish_clients
{
	my ($procs, $dir) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	for my $name (sort keys %$procs)
	{
		eval { $procs->{$name}->finish; };
		diag "$name: $@" if $@;
		my $err = slurp_file("$dir/$name.err");
		unlike($err, qr/ERROR|FATAL/, "$name ran without errors") or diag $err;
	}
	return;
}

sub count_log
{
	my ($node, $re, $offset) = @_;
	my $log = slurp_file($node->logfile, $offset // 0);
	my $n = () = $log =~ /$re/g;
	return $n;
}

sub server_processes
{
	my ($pid, $pgid) = @_;
	my @found;
	opendir(my $dh, '/proc') or return ();
	for my $p (grep { /^\d+$/ } readdir $dh)
	{
		open(my $fh, '<', "/proc/$p/stat") or next;
		my $stat = <$fh>;
		close $fh;
		next unless defined $stat && $stat =~ /\)\s+(\S)\s+(\d+)\s+(\d+)/;
		my ($state, $ppid, $pgrp) = ($1, $2, $3);
		push @found, $p
		  if $p == $pid || $ppid == $pid || (defined $pgid && $pgrp == $pgid);
	}
	closedir $dh;
	return @found;
}

sub crash_server
{
	my ($node) = @_;
	my $pid  = $node->{_pid};
	my $pgid = getpgrp($pid);
	# pg_ctl starts the postmaster in its own process group (setsid); never
	# signal our own group
	undef $pgid if !defined $pgid || $pgid <= 1 || $pgid == getpgrp(0);
	my @children = server_processes($pid, $pgid);
	$node->kill9;
	kill 'KILL', -$pgid if defined $pgid;
	kill 'KILL', grep { $_ != $pid } @children;
	# wait until no server process is left attached to the shared memory
	for (my $i = 0; $i < 10 * $PostgreSQL::Test::Utils::timeout_default; $i++)
	{
		last unless server_processes($pid, $pgid);
		usleep(100_000);
	}
	return;
}

sub start_after_crash
{
	my ($node, $test_name) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my $logpos = -s $node->logfile;
	$node->start;
	ok($node->log_contains(qr/database system was interrupted|not properly shut down/, $logpos),
		$test_name);
	return $logpos;
}

sub node_connstr
{
	my ($node) = @_;
	return 'host=' . $node->host . ' port=' . $node->port . ' dbname=postgres';
}

sub router_nodes
{
	my ($n) = @_;
	my @nodes;
	for my $i (1 .. $n)
	{
		my $node = preloaded_node("n$i", "fqs.node_id = $i\n");
		$node->safe_psql('postgres', 'CREATE EXTENSION fqs');
		push @nodes, $node;
	}
	my $proxy = PostgreSQL::Test::Cluster->new('proxy');
	$proxy->init;
	$proxy->append_conf('postgresql.conf', "log_min_messages = warning\n");
	$proxy->start;
	$proxy->safe_psql('postgres',
		'SET client_min_messages = warning; CREATE EXTENSION fqs_router CASCADE');
	for my $i (1 .. $n)
	{
		$proxy->safe_psql('postgres',
			"SELECT fqs_router_add_node('n$i', '" . node_connstr($nodes[ $i - 1 ]) . "')");
	}
	return ($proxy, @nodes);
}

1;
