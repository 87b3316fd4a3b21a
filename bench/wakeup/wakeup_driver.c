/*
 * wakeup_driver.c -- wake-up latency of fqs's blocking claims (bench/wakeup.sh)
 *
 * One variant per run.  The producer (this process) and one or two claimers
 * (forked children, each with its own libpq connection) run the loop below;
 * every time stamp is taken on the client with clock_gettime(CLOCK_MONOTONIC)
 * (plus CLOCK_REALTIME where it is compared with the server's
 * clock_timestamp(); client and server share the machine's clock).
 *
 *   claimer: [blocked in fqs_claim(q, 1, wait => W)] -> t_ret
 *            clean up (fqs_commit / fqs_complete), then tell the producer
 *            (pipe) the id it got and its stamps, and claim again
 *   producer: wait for the claimer(s)' report of the previous message,
 *            sleep a random gap (GAP_MIN..GAP_MAX ms, so the claimer is
 *            back in its wait), check in pg_stat_activity that the claimer
 *            backend(s) sleep in the fqs wait (wait_event_type Extension),
 *            BEGIN; SELECT fqs_enqueue(...); t_sent; COMMIT; t_commit
 *   latency = t_ret - t_commit, matched by message id.
 *
 * Because the enqueue's COMMIT broadcasts the wake from its transaction
 * callback before the server answers the COMMIT, the claimer can return
 * before the producer sees its COMMIT return: small negative values are
 * genuine, not a bug.  The claimer's own return includes its claim's
 * commit (WAL flush with synchronous_commit=on) and the result transfer.
 *
 * Variants (--mode):
 *   wait     fqs_claim(q, 1, wait => W), cleaned up with fqs_commit.
 *   seq      a two-stage pipeline: claimer 1 blocks in fqs_claim(q, 1,
 *            wait => W) and, once woken, runs BEGIN; fqs_commit; COMMIT
 *            (t_commit1); claimer 2 blocks in fqs_claim_sequential(q, 1,
 *            wait => W) and is woken by that commit (the message becomes its
 *            key's releasable head), then runs fqs_complete.  Reports two
 *            variants: seq (t_ret2 - t_commit1) and claim_pipeline
 *            (t_ret1 - producer's t_commit).
 *   poll     fqs_claim(q, 1, wait => '0') in a loop, sleeping --poll-ms
 *            between empty claims (clock_nanosleep); latency as for wait.
 *   ready    context: enqueue + commit, then time one fqs_claim(q, 1) that
 *            finds the message ready (the claim's round trip, incl. its
 *            commit), then fqs_commit it.
 *   select1  context: round trip of SELECT 1 (prepared).
 *
 * Output: one TSV line per sample on --out:
 *   variant i warm id gap_ms waiting polls lat_ms lat_sent_ms commit_ms
 *   srv_ms ret_ms
 * lat_ms       the latency (see above; for ready/select1 the round trip)
 * lat_sent_ms  t_ret - the moment the waking COMMIT was sent
 * commit_ms    round trip of the waking COMMIT
 * srv_ms       server clock_timestamp() right after the claim function
 *              returned (same statement) - waking COMMIT returned (realtime)
 * ret_ms       t_ret (realtime) - that server stamp: the claimer's own
 *              commit + sending the row
 * waiting      1 if every claimer backend was in the fqs wait just before
 *              the enqueue, 0 if not, -1 if not checked (poll)
 * polls        claim calls the claimer made for this message
 * Warm-up samples (warm = 1) are written but excluded from the statistics.
 *
 * Build: cc -O2 -o wakeup_driver wakeup_driver.c -I$(pg_config --includedir)
 *        -L$(pg_config --libdir) -lpq
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "libpq-fe.h"

typedef struct Msg
{
	int64_t		id;				/* message id; -1: the wait ended empty;
								 * -2: hello (pid in polls) */
	double		t_ret;			/* claim returned (monotonic, s) */
	double		t_ret_real;		/* same, realtime */
	double		t_srv;			/* server clock_timestamp() after the claim */
	double		t_csent;		/* claimer 1 (seq): fqs_commit's COMMIT sent */
	double		t_cdone;		/* claimer 1 (seq): ... returned (monotonic) */
	double		t_cdone_real;	/* same, realtime */
	int			polls;
} Msg;

static const char *conninfo = "";
static const char *mode = "wait";
static const char *queue = "q";
static const char *wait_iv = "10 seconds";
static int	samples = 1000;
static int	warmup = 20;
static double gap_min = 5, gap_max = 20;
static int	poll_ms = 1;
static uint64_t rng = 88172645463325252ULL;
static FILE *out;
static const char *me = "producer";

static void
die(const char *fmt,...)
{
	va_list		ap;

	fprintf(stderr, "wakeup_driver (%s): ", me);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static double
mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double
real(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void
sleep_ms(double ms)
{
	struct timespec ts;

	ts.tv_sec = (time_t) (ms / 1000);
	ts.tv_nsec = (long) ((ms - ts.tv_sec * 1000.0) * 1e6);
	while (clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, &ts) == EINTR)
		;
}

static double
rnd01(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (rng >> 11) * (1.0 / 9007199254740992.0);
}

static PGconn *
connect_db(void)
{
	PGconn	   *c = PQconnectdb(conninfo);

	if (PQstatus(c) != CONNECTION_OK)
		die("connect: %s", PQerrorMessage(c));
	return c;
}

static void
cmd(PGconn *c, const char *sql)
{
	PGresult   *r = PQexec(c, sql);

	if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
		die("%s: %s", sql, PQerrorMessage(c));
	PQclear(r);
}

static void
prepare(PGconn *c, const char *name, const char *sql, int nparams)
{
	PGresult   *r = PQprepare(c, name, sql, nparams, NULL);

	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		die("prepare %s: %s", name, PQerrorMessage(c));
	PQclear(r);
}

static PGresult *
run(PGconn *c, const char *name, int n, const char *const *params)
{
	PGresult   *r = PQexecPrepared(c, name, n, params, NULL, NULL, 0);

	if (PQresultStatus(r) != PGRES_TUPLES_OK && PQresultStatus(r) != PGRES_COMMAND_OK)
		die("%s: %s", name, PQerrorMessage(c));
	return r;
}

static void
send_msg(int fd, const Msg *m)
{
	if (write(fd, m, sizeof(*m)) != (ssize_t) sizeof(*m))
		die("pipe write: %s", strerror(errno));
}

static void
recv_msg(int fd, Msg *m, const char *who)
{
	struct pollfd p = {fd, POLLIN, 0};
	ssize_t		n;
	int			rc;

	/* a claim waits at most W (10 s by default); allow for that and more */
	rc = poll(&p, 1, 60000);
	if (rc == 0)
		die("no report from %s within 60 s", who);
	n = read(fd, m, sizeof(*m));
	if (n != (ssize_t) sizeof(*m))
		die("report from %s: %s", who, n == 0 ? "it exited" : strerror(errno));
}

/*
 * A claimer process.  kind: 'c' fqs_claim + fqs_commit (stamped, for seq),
 * 'w' fqs_claim + fqs_commit (unstamped), 's' fqs_claim_sequential +
 * fqs_complete.  poll: 0 for a blocking wait, else the sleep between claims.
 */
static void
claimer(int fd, char kind, int pollsleep)
{
	PGconn	   *c = connect_db();
	const char *fn = kind == 's' ? "fqs_claim_sequential" : "fqs_claim";
	char		sql[512];
	const char *p[2];
	Msg			m;

	snprintf(sql, sizeof(sql),
			 "SELECT id, receipt, extract(epoch FROM clock_timestamp())::float8 "
			 "  FROM %s($1, 1, wait => $2::interval)", fn);
	prepare(c, "claim", sql, 2);
	prepare(c, "done", kind == 's' ? "SELECT fqs_complete($1, $2)"
			: "SELECT fqs_commit($1, $2)", 2);

	memset(&m, 0, sizeof(m));
	m.id = -2;
	m.polls = PQbackendPID(c);
	send_msg(fd, &m);

	p[0] = queue;
	p[1] = pollsleep ? "0" : wait_iv;
	for (;;)
	{
		PGresult   *r;
		int			polls = 0;

		memset(&m, 0, sizeof(m));
		for (;;)
		{
			r = run(c, "claim", 2, p);
			m.t_ret = mono();
			m.t_ret_real = real();
			polls++;
			if (PQntuples(r) > 0 || !pollsleep)
				break;
			PQclear(r);
			sleep_ms(pollsleep);
		}
		m.polls = polls;
		if (PQntuples(r) == 0)
			m.id = -1;			/* the wait ended without a message */
		else
		{
			const char *dp[2];

			m.id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
			m.t_srv = strtod(PQgetvalue(r, 0, 2), NULL);
			dp[0] = PQgetvalue(r, 0, 0);
			dp[1] = PQgetvalue(r, 0, 1);
			if (kind == 'c')
			{
				PGresult   *r2;

				cmd(c, "BEGIN");
				PQclear(run(c, "done", 2, dp));
				m.t_csent = mono();
				r2 = PQexec(c, "COMMIT");
				m.t_cdone = mono();
				m.t_cdone_real = real();
				if (PQresultStatus(r2) != PGRES_COMMAND_OK)
					die("COMMIT: %s", PQerrorMessage(c));
				PQclear(r2);
			}
			else
				PQclear(run(c, "done", 2, dp));
		}
		PQclear(r);
		/* report after the clean-up: the producer's gap starts now */
		send_msg(fd, &m);
	}
}

static pid_t
spawn(char kind, int pollsleep, int *rfd, int *bpid, const char *name)
{
	int			fds[2];
	pid_t		pid;
	Msg			m;

	if (pipe(fds) != 0)
		die("pipe: %s", strerror(errno));
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0)
	{
		close(fds[0]);
		me = name;
		signal(SIGPIPE, SIG_DFL);
		claimer(fds[1], kind, pollsleep);
		_exit(0);
	}
	close(fds[1]);
	*rfd = fds[0];
	recv_msg(*rfd, &m, name);
	if (m.id != -2)
		die("bad hello from %s", name);
	*bpid = m.polls;
	return pid;
}

#define MS(x) ((x) * 1000.0)

static void
emit(const char *variant, int i, int warm, int64_t id, double gap, int waiting,
	 int polls, double lat, double lat_sent, double commit, double srv, double ret)
{
	fprintf(out, "%s\t%d\t%d\t%" PRId64 "\t%.3f\t%d\t%d\t%.4f\t%.4f\t%.4f\t%.4f\t%.4f\n",
			variant, i, warm, id, gap, waiting, polls, lat, lat_sent, commit, srv, ret);
}

/* context: round trips that do not wait */
static void
roundtrips(PGconn *c, int ready)
{
	int			i;
	char		payload[64];
	const char *p[3];

	prepare(c, "sel", "SELECT 1", 0);
	prepare(c, "enq", "SELECT fqs_enqueue($1, $2, $3)", 3);
	prepare(c, "claim", "SELECT id, receipt FROM fqs_claim($1, 1)", 1);
	prepare(c, "done", "SELECT fqs_commit($1, $2)", 2);
	for (i = 0; i < warmup + samples; i++)
	{
		PGresult   *r;
		double		t0, t1;

		if (!ready)
		{
			t0 = mono();
			r = run(c, "sel", 0, NULL);
			t1 = mono();
			PQclear(r);
			emit("select1", i, i < warmup, 0, 0, -1, 1, MS(t1 - t0), NAN, NAN, NAN, NAN);
		}
		else
		{
			const char *dp[2];
			int64_t		id;

			snprintf(payload, sizeof(payload), "{\"i\": %d}", i);
			p[0] = queue;
			p[1] = payload;
			p[2] = "k";
			PQclear(run(c, "enq", 3, p));
			t0 = mono();
			r = run(c, "claim", 1, p);
			t1 = mono();
			if (PQntuples(r) != 1)
				die("ready: the claim found no message");
			id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
			dp[0] = PQgetvalue(r, 0, 0);
			dp[1] = PQgetvalue(r, 0, 1);
			PQclear(run(c, "done", 2, dp));
			PQclear(r);
			emit("claim_ready", i, i < warmup, id, 0, -1, 1, MS(t1 - t0), NAN, NAN, NAN, NAN);
		}
		/* pace like the wake-up variants, so CPU state is comparable */
		sleep_ms(gap_min + (gap_max - gap_min) * rnd01());
	}
}

int
main(int argc, char **argv)
{
	const char *outpath = NULL;
	PGconn	   *c;
	int			i;
	int			fd1 = -1, fd2 = -1, bpid1 = 0, bpid2 = 0;
	pid_t		ch1 = 0, ch2 = 0;
	int			nwait_bad = 0, nempty = 0, nmismatch = 0;
	char		pids[64];

	for (i = 1; i < argc; i++)
	{
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

#define OPT(name) (strcmp(a, name) == 0 && v && (i++, 1))
		if (OPT("--conninfo")) conninfo = v;
		else if (OPT("--mode")) mode = v;
		else if (OPT("--queue")) queue = v;
		else if (OPT("--wait")) wait_iv = v;
		else if (OPT("--samples")) samples = atoi(v);
		else if (OPT("--warmup")) warmup = atoi(v);
		else if (OPT("--gap-min")) gap_min = atof(v);
		else if (OPT("--gap-max")) gap_max = atof(v);
		else if (OPT("--poll-ms")) poll_ms = atoi(v);
		else if (OPT("--seed")) rng = strtoull(v, NULL, 10) * 2654435761ULL + 1;
		else if (OPT("--out")) outpath = v;
		else
			die("bad argument %s", a);
	}
	if (!outpath)
		die("--out is required");
	out = fopen(outpath, "a");
	if (!out)
		die("%s: %s", outpath, strerror(errno));
	signal(SIGPIPE, SIG_IGN);

	c = connect_db();
	if (strcmp(mode, "select1") == 0 || strcmp(mode, "ready") == 0)
	{
		roundtrips(c, strcmp(mode, "ready") == 0);
		fclose(out);
		PQfinish(c);
		return 0;
	}
	if (strcmp(mode, "wait") == 0)
		ch1 = spawn('w', 0, &fd1, &bpid1, "claimer");
	else if (strcmp(mode, "poll") == 0)
		ch1 = spawn('w', poll_ms, &fd1, &bpid1, "poller");
	else if (strcmp(mode, "seq") == 0)
	{
		ch1 = spawn('c', 0, &fd1, &bpid1, "claimer 1");
		ch2 = spawn('s', 0, &fd2, &bpid2, "claimer 2 (sequential)");
	}
	else
		die("unknown mode %s", mode);
	if (bpid2)
		snprintf(pids, sizeof(pids), "{%d,%d}", bpid1, bpid2);
	else
		snprintf(pids, sizeof(pids), "{%d}", bpid1);

	prepare(c, "enq", "SELECT fqs_enqueue($1, $2, $3)", 3);
	prepare(c, "chk",
			"SELECT count(*) FROM pg_stat_activity "
			" WHERE pid = ANY ($1::int[]) AND wait_event_type = 'Extension'", 1);

	for (i = 0; i < warmup + samples; i++)
	{
		double		gap = gap_min + (gap_max - gap_min) * rnd01();
		double		t_sent, t_done, t_done_real;
		int			waiting = -1;
		int64_t		id;
		char		payload[64], key[16];
		const char *p[3];
		PGresult   *r;
		Msg			m1, m2;
		int			warm = i < warmup;

		sleep_ms(gap);
		if (strcmp(mode, "poll") != 0)
		{
			const char *cp[1] = {pids};

			r = run(c, "chk", 1, cp);
			waiting = atoi(PQgetvalue(r, 0, 0)) == (bpid2 ? 2 : 1);
			PQclear(r);
			if (!waiting && !warm)
				nwait_bad++;
		}
		snprintf(payload, sizeof(payload), "{\"i\": %d}", i);
		snprintf(key, sizeof(key), "k%d", i % 10);
		p[0] = queue;
		p[1] = payload;
		p[2] = key;
		cmd(c, "BEGIN");
		r = run(c, "enq", 3, p);
		id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
		PQclear(r);
		t_sent = mono();
		r = PQexec(c, "COMMIT");
		t_done = mono();
		t_done_real = real();
		if (PQresultStatus(r) != PGRES_COMMAND_OK)
			die("COMMIT: %s", PQerrorMessage(c));
		PQclear(r);

		/* claimer 1's report; a wait that ended empty is reported, skip it */
		do
		{
			recv_msg(fd1, &m1, "claimer");
			if (m1.id == -1)
				nempty++;
		} while (m1.id == -1);
		if (m1.id != id)
		{
			nmismatch++;
			fprintf(stderr, "wakeup_driver: sample %d: enqueued %" PRId64 ", claimed %" PRId64 "\n",
					i, id, m1.id);
		}
		emit(strcmp(mode, "seq") == 0 ? "claim_pipeline" :
			 strcmp(mode, "poll") == 0 ? (poll_ms == 1 ? "poll_1ms" : poll_ms == 10 ? "poll_10ms" : "poll") :
			 "claim_wait",
			 i, warm, m1.id, gap, waiting, m1.polls,
			 MS(m1.t_ret - t_done), MS(m1.t_ret - t_sent), MS(t_done - t_sent),
			 MS(m1.t_srv - t_done_real), MS(m1.t_ret_real - m1.t_srv));
		if (fd2 >= 0)
		{
			do
			{
				recv_msg(fd2, &m2, "claimer 2");
				if (m2.id == -1)
					nempty++;
			} while (m2.id == -1);
			if (m2.id != id)
			{
				nmismatch++;
				fprintf(stderr, "wakeup_driver: sample %d: committed %" PRId64 ", seq-claimed %" PRId64 "\n",
						i, m1.id, m2.id);
			}
			emit("seq_wait", i, warm, m2.id, gap, waiting, m2.polls,
				 MS(m2.t_ret - m1.t_cdone), MS(m2.t_ret - m1.t_csent),
				 MS(m1.t_cdone - m1.t_csent),
				 MS(m2.t_srv - m1.t_cdone_real), MS(m2.t_ret_real - m2.t_srv));
		}
	}
	fclose(out);
	/* stop the claimers, then end their backends' waits */
	if (ch1)
		kill(ch1, SIGKILL);
	if (ch2)
		kill(ch2, SIGKILL);
	while (wait(NULL) > 0)
		;
	{
		const char *cp[1] = {pids};

		prepare(c, "term", "SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) pid", 1);
		PQclear(run(c, "term", 1, cp));
	}
	PQfinish(c);
	/* one summary line for the script */
	if (strcmp(mode, "poll") == 0)
		printf("empty_waits=%d mismatches=%d\n", nempty, nmismatch);
	else
		printf("claimer_not_waiting=%d empty_waits=%d mismatches=%d\n", nwait_bad, nempty, nmismatch);
	return nmismatch ? 3 : 0;
}
