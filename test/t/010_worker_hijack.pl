# Copyright (c) 2026, fqs developers
#
# The background worker runs as the bootstrap superuser.  A role that may
# create objects in public, and owns a schema named like that superuser
# ($user), plants look-alike operators and functions that would make it
# superuser when a superuser calls them, and the database's default
# search_path (and default_transaction_isolation = serializable) is set so
# that they come first.  The worker then reaps expired leases, runs the
# breaker and mover, and rotates generations -- and calls none of them.
#
# Bounded: every wait polls until a deadline.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use FqsTest;

my $node = preloaded_node('hijack', "fqs.retention = 0\n");
my $super = $node->safe_psql('postgres', 'SELECT current_user');

$node->safe_psql('postgres', qq{
	CREATE ROLE evil LOGIN;
	GRANT CREATE ON SCHEMA public TO evil;
	CREATE SCHEMA "$super" AUTHORIZATION evil;
	CREATE TABLE public.trap_calls (who text, at timestamptz DEFAULT now());
	GRANT INSERT ON public.trap_calls TO PUBLIC;
});

# the look-alikes, created by evil
my $plant = q{
CREATE FUNCTION public.trap() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO public.trap_calls (who) VALUES (current_user);
	IF current_user <> 'evil' THEN
		EXECUTE 'ALTER ROLE evil SUPERUSER';
	END IF;
END $$;
CREATE FUNCTION public.t_div(integer, numeric) RETURNS numeric LANGUAGE plpgsql AS
$$ BEGIN PERFORM public.trap(); RETURN $1::numeric / $2; END $$;
CREATE OPERATOR public./ (LEFTARG = integer, RIGHTARG = numeric, FUNCTION = public.t_div);
CREATE FUNCTION public.t_eq4(integer, integer) RETURNS boolean LANGUAGE plpgsql AS
$$ BEGIN PERFORM public.trap(); RETURN $1::numeric = $2::numeric; END $$;
CREATE OPERATOR public.= (LEFTARG = integer, RIGHTARG = integer, FUNCTION = public.t_eq4);
CREATE FUNCTION public.t_eq8(bigint, bigint) RETURNS boolean LANGUAGE plpgsql AS
$$ BEGIN PERFORM public.trap(); RETURN $1::numeric = $2::numeric; END $$;
CREATE OPERATOR public.= (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = public.t_eq8);
CREATE FUNCTION public.t_lt(timestamptz, timestamptz) RETURNS boolean LANGUAGE plpgsql AS
$$ BEGIN PERFORM public.trap(); RETURN $1::text < $2::text; END $$;
CREATE OPERATOR public.< (LEFTARG = timestamptz, RIGHTARG = timestamptz, FUNCTION = public.t_lt);
CREATE FUNCTION public.t_ge(interval, interval) RETURNS boolean LANGUAGE plpgsql AS
$$ BEGIN PERFORM public.trap(); RETURN true; END $$;
CREATE OPERATOR public.>= (LEFTARG = interval, RIGHTARG = interval, FUNCTION = public.t_ge);
CREATE FUNCTION public.now() RETURNS timestamptz LANGUAGE plpgsql AS
$$ BEGIN PERFORM public.trap(); RETURN 'epoch'; END $$;
CREATE FUNCTION public.make_interval(secs numeric) RETURNS interval LANGUAGE plpgsql AS
$$ BEGIN PERFORM public.trap(); RETURN '0'; END $$;
};
$node->safe_psql('postgres', $plant, extra_params => [ '-U', 'evil' ]);
(my $plant_user = $plant) =~ s/public\./"$super"./g;
$plant_user =~ s/"$super"\.trap_calls/public.trap_calls/g;
$plant_user =~ s/PERFORM "$super"\.trap\(\)/PERFORM public.trap()/g;
$node->safe_psql('postgres', $plant_user, extra_params => [ '-U', 'evil' ]);

# the worker's role's defaults put the look-alikes first (the checks below
# run as another superuser, with ordinary defaults)
$node->safe_psql('postgres', qq{
	CREATE ROLE checker SUPERUSER LOGIN;
	ALTER ROLE "$super" SET search_path = "\$user", public, pg_catalog;
	ALTER ROLE "$super" SET default_transaction_isolation = 'serializable';
});
sub q_
{
	return $node->safe_psql('postgres', $_[0], extra_params => [ '-U', 'checker' ]);
}

# poll_query_until, as checker
sub poll
{
	my ($sql) = @_;
	my $deadline = time + $PostgreSQL::Test::Utils::timeout_default;
	while (time < $deadline)
	{
		return 1 if q_($sql) eq 't';
		select(undef, undef, undef, 0.2);
	}
	return 0;
}

# fqs, and work for every part of a worker pass
q_('CREATE EXTENSION fqs');
q_(q{
	SELECT public.fqs_create_queue('w', max_ready => 3, lease => '1 second');
	SELECT public.fqs_enqueue('w', 'm' || i, 'k' || (i % 2)) FROM generate_series(1, 10) i;
	SELECT count(*) FROM public.fqs_claim('w', 2);
	SELECT count(public.fqs_commit(id, receipt)) FROM public.fqs_claim('w', 1);
	SELECT count(*) FROM public.fqs_claim_sequential('w', 1, lease => '1 second');
});
# a worker started after the defaults changed (the launcher restarts it)
q_(q{SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE backend_type = 'fqs worker'});
ok( poll("SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'fqs worker' AND datname = 'postgres'"),
	'the worker runs under the hostile defaults');

# the reaper returns the expired leases, the mover lets the pen out as room
# frees, the rotation (tried on the worker's first pass and every minute)
ok( poll("SELECT claimed = 0 AND sequencing = 0 FROM public.fqs_queues WHERE queue = 'w'"),
	'the worker reaped the expired leases of both stages');
# consume what is ready until the mover has let the whole pen out (how
# much went to the pen depends on whether the worker had counted the queue
# before the enqueues: up to 7 of the 10 messages)
ok( poll("SELECT count(public.fqs_commit(id, receipt)) >= 0 AND "
		  . "(SELECT pen = 0 AND NOT breaker_open FROM public.fqs_queues WHERE queue = 'w') "
		  . "FROM public.fqs_claim('w', 10)"),
	'the worker moved the pen and closed the breaker');
ok( $node->log_contains(qr/fqs worker started for database "postgres"/),
	'the worker found fqs');
ok(poll("SELECT count(*) = 1 FROM fqs.meta WHERE cur_gen <> 0"),
	'the worker rotated a generation (fqs.retention = 0)');

is(q_('SELECT count(*) FROM public.trap_calls'),
	'0', 'no look-alike was ever called');
is($node->safe_psql('postgres', "SELECT rolsuper FROM pg_roles WHERE rolname = 'evil'"),
	'f', 'the planting role did not become superuser');

$node->stop;
done_testing();
