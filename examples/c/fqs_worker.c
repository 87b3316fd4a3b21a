/*
 * fqs_worker.c -- an fqs worker in C (libpq).
 *
 *	fqs_worker --stage concurrent QUEUE [options]	translate, in parallel
 *	fqs_worker --stage sequential QUEUE [options]	deliver, in order per key
 *
 * Options: --dsn CONNINFO (else the PG* environment), --batch N (10),
 * --lease S (2), --wait S (1), --retry-after S (0.2), --slow S (3),
 * --sink TABLE (example_sink).
 *
 * The same worker as examples/python/fqs_worker.py:
 *
 * Concurrent stage: claims up to --batch messages, waiting on the server
 * while there is nothing to do, translates each one (upper-cases it; a
 * payload containing "fail-once" fails on its first attempt, one
 * containing "slow" takes --slow seconds) and acknowledges the batch with
 * one array call of fqs_commit.  A failed translation goes back with
 * fqs_fail.  While a batch is being worked on, a heartbeat thread extends
 * its leases (fqs_extend_lease) on a connection of its own.
 *
 * Sequential stage: claims runs of processed messages and, per key, inserts
 * the run into the sink table and completes it in one transaction, so a
 * delivery is never lost and never made twice.  The sink's name is quoted
 * with PQescapeIdentifier, never pasted raw into SQL text.
 *
 * SIGTERM or SIGINT: finish and acknowledge what is held, then exit 0.
 * Every statement takes its values as parameters (PQexecParams).
 *
 * Build: cc -o fqs_worker fqs_worker.c -I$(pg_config --includedir) -lpq -lpthread
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>

#define MAX_BATCH 1000

static volatile sig_atomic_t stop = 0;

static const char *dsn = "";
static const char *queue = NULL;
static const char *sink = "example_sink";
static int	batch = 10;
static double lease_s = 2.0;
static double wait_s = 1.0;
static double retry_after_s = 0.2;
static double slow_s = 3.0;

/* the batch whose leases the heartbeat keeps */
static pthread_mutex_t held_lock = PTHREAD_MUTEX_INITIALIZER;
static char *held_ids[MAX_BATCH];
static char *held_receipts[MAX_BATCH];
static int	nheld = 0;
static int	heartbeat_done = 0;

static void
on_signal(int sig)
{
	(void) sig;
	stop = 1;
}

static void
die(PGconn *conn, const char *what)
{
	fprintf(stderr, "%s: %s", what, conn ? PQerrorMessage(conn) : "\n");
	exit(1);
}

static PGconn *
connect_db(void)
{
	PGconn	   *conn = PQconnectdb(dsn);

	if (PQstatus(conn) != CONNECTION_OK)
		die(conn, "connect");
	return conn;
}

/* Run a statement with text parameters; exit on anything but the expected. */
static PGresult *
run(PGconn *conn, const char *sql, int n, const char *const *values)
{
	PGresult   *res = PQexecParams(conn, sql, n, NULL, values, NULL, NULL, 0);
	ExecStatusType st = PQresultStatus(res);

	if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK)
	{
		fprintf(stderr, "%s: %s", sql, PQresultErrorMessage(res));
		exit(1);
	}
	return res;
}

/* Like run, but hand back an error's SQLSTATE instead of exiting. */
static PGresult *
try_run(PGconn *conn, const char *sql, int n, const char *const *values,
		char sqlstate[6])
{
	PGresult   *res = PQexecParams(conn, sql, n, NULL, values, NULL, NULL, 0);
	ExecStatusType st = PQresultStatus(res);

	sqlstate[0] = '\0';
	if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK)
	{
		const char *s = PQresultErrorField(res, PG_DIAG_SQLSTATE);

		snprintf(sqlstate, 6, "%s", s ? s : "XX000");
	}
	return res;
}

static char *
fmt(const char *f, ...)
{
	char	   *s;
	va_list		ap;

	va_start(ap, f);
	if (vasprintf(&s, f, ap) < 0)
		die(NULL, "out of memory");
	va_end(ap);
	return s;
}

/* {a,b,c} from n strings (ids and receipts are digits: no quoting needed) */
static char *
int_array(char **v, int n)
{
	size_t		len = 3;
	char	   *s;
	int			i;

	for (i = 0; i < n; i++)
		len += strlen(v[i]) + 1;
	s = malloc(len);
	strcpy(s, "{");
	for (i = 0; i < n; i++)
	{
		if (i > 0)
			strcat(s, ",");
		strcat(s, v[i]);
	}
	strcat(s, "}");
	return s;
}

/* a text[] literal: every element double-quoted, " and \ escaped */
static char *
text_array(char **v, int n)
{
	size_t		len = 3;
	char	   *s;
	char	   *p;
	int			i;

	for (i = 0; i < n; i++)
		len += 2 * strlen(v[i]) + 3;
	s = p = malloc(len);
	*p++ = '{';
	for (i = 0; i < n; i++)
	{
		const char *c;

		if (i > 0)
			*p++ = ',';
		*p++ = '"';
		for (c = v[i]; *c; c++)
		{
			if (*c == '"' || *c == '\\')
				*p++ = '\\';
			*p++ = *c;
		}
		*p++ = '"';
	}
	*p++ = '}';
	*p = '\0';
	return s;
}

static void *
heartbeat(void *arg)
{
	PGconn	   *conn = connect_db();
	char	   *lease = fmt("%g", lease_s);

	(void) arg;
	for (;;)
	{
		int			i;

		usleep((useconds_t) (lease_s / 3.0 * 1e6));
		pthread_mutex_lock(&held_lock);
		if (heartbeat_done)
		{
			pthread_mutex_unlock(&held_lock);
			break;
		}
		for (i = 0; i < nheld; i++)
		{
			const char *v[3] = {held_ids[i], held_receipts[i], lease};
			char		state[6];

			PQclear(try_run(conn,
							"SELECT fqs_extend_lease($1::bigint, $2::bigint, "
							"$3::float8 * interval '1 second')",
							3, v, state));
			if (state[0])
				fprintf(stderr, "heartbeat: %s lease of %s lost\n",
						state, held_ids[i]);
		}
		pthread_mutex_unlock(&held_lock);
	}
	free(lease);
	PQfinish(conn);
	return NULL;
}

static void
hold(PGresult *res)
{
	int			i;

	pthread_mutex_lock(&held_lock);
	nheld = PQntuples(res);
	for (i = 0; i < nheld; i++)
	{
		held_ids[i] = PQgetvalue(res, i, 0);
		held_receipts[i] = PQgetvalue(res, i, 1);
	}
	pthread_mutex_unlock(&held_lock);
}

static void
drop_held(const char *id)
{
	int			i;

	pthread_mutex_lock(&held_lock);
	for (i = 0; i < nheld; i++)
		if (strcmp(held_ids[i], id) == 0)
		{
			held_ids[i] = held_ids[nheld - 1];
			held_receipts[i] = held_receipts[nheld - 1];
			nheld--;
			break;
		}
	pthread_mutex_unlock(&held_lock);
}

/* Hand a message back with fqs_fail: retried after --retry-after. */
static void
fail_message(PGconn *conn, const char *id, const char *receipt,
			 const char *why)
{
	char	   *retry = fmt("%g", retry_after_s);
	const char *v[4] = {id, receipt, why, retry};

	PQclear(run(conn, "SELECT fqs_fail($1::bigint, $2::bigint, $3::text, "
				"retry_after => $4::float8 * interval '1 second')", 4, v));
	free(retry);
}

/* the stand-in translation; NULL when it fails */
static char *
translate(const char *payload, int attempt)
{
	char	   *up;
	char	   *out;
	char	   *p;

	if (strstr(payload, "fail-once") && attempt == 1)
		return NULL;
	if (strstr(payload, "slow"))
		usleep((useconds_t) (slow_s * 1e6));
	up = strdup(payload);
	for (p = up; *p; p++)
		*p = toupper((unsigned char) *p);
	/* JSON string escapes for " and \ */
	out = malloc(2 * strlen(up) + 32);
	strcpy(out, "{\"translated\": \"");
	p = out + strlen(out);
	for (const char *c = up; *c; c++)
	{
		if (*c == '"' || *c == '\\')
			*p++ = '\\';
		*p++ = *c;
	}
	strcpy(p, "\"}");
	free(up);
	return out;
}

static void
commit_batch(PGconn *conn, char **ids, char **receipts, char **results, int n)
{
	char	   *a = int_array(ids, n);
	char	   *b = int_array(receipts, n);
	char	   *c = text_array(results, n);
	const char *v[3] = {a, b, c};
	char		state[6];
	int			i;

	PQclear(try_run(conn,
					"SELECT fqs_commit($1::bigint[], $2::bigint[], $3::text[])",
					3, v, state));
	free(a);
	free(b);
	free(c);
	if (state[0] == '\0')
		return;
	if (strcmp(state, "55000") != 0)
	{
		fprintf(stderr, "fqs_commit: SQLSTATE %s\n", state);
		exit(1);
	}
	/* a lease of the batch was lost: commit the others one by one */
	for (i = 0; i < n; i++)
	{
		const char *w[3] = {ids[i], receipts[i], results[i]};

		PQclear(try_run(conn,
						"SELECT fqs_commit($1::bigint, $2::bigint, $3::text)",
						3, w, state));
		if (state[0] && strcmp(state, "55000") != 0)
		{
			fprintf(stderr, "fqs_commit: SQLSTATE %s\n", state);
			exit(1);
		}
		if (state[0])
			fprintf(stderr, "commit of %s refused: lease lost\n", ids[i]);
	}
}

static void
concurrent_stage(void)
{
	PGconn	   *conn = connect_db();
	pthread_t	beat;
	char	   *nb = fmt("%d", batch);
	char	   *lease = fmt("%g", lease_s);
	char	   *wait = fmt("%g", wait_s);

	if (pthread_create(&beat, NULL, heartbeat, NULL) != 0)
		die(NULL, "pthread_create");
	while (!stop)
	{
		const char *v[4] = {queue, nb, lease, wait};
		PGresult   *res = run(conn,
							  "SELECT id, receipt, payload, attempt "
							  "FROM fqs_claim($1, $2::int, "
							  "lease => $3::float8 * interval '1 second', "
							  "wait => $4::float8 * interval '1 second')",
							  4, v);
		int			n = PQntuples(res);
		char	   *ids[MAX_BATCH];
		char	   *receipts[MAX_BATCH];
		char	   *results[MAX_BATCH];
		int			nok = 0;
		int			i;

		hold(res);
		for (i = 0; i < n; i++)
		{
			char	   *id = PQgetvalue(res, i, 0);
			char	   *receipt = PQgetvalue(res, i, 1);
			char	   *result = translate(PQgetvalue(res, i, 2),
										   atoi(PQgetvalue(res, i, 3)));

			if (result == NULL)
			{
				drop_held(id);
				fail_message(conn, id, receipt,
							 "translation failed on the first attempt");
				continue;
			}
			ids[nok] = id;
			receipts[nok] = receipt;
			results[nok++] = result;
		}
		/* before the commit: no heartbeat for finished messages */
		pthread_mutex_lock(&held_lock);
		nheld = 0;
		pthread_mutex_unlock(&held_lock);
		if (nok > 0)
			commit_batch(conn, ids, receipts, results, nok);
		for (i = 0; i < nok; i++)
			free(results[i]);
		PQclear(res);
	}
	pthread_mutex_lock(&held_lock);
	heartbeat_done = 1;
	pthread_mutex_unlock(&held_lock);
	pthread_join(beat, NULL);
	PQfinish(conn);
}

static void
sequential_stage(void)
{
	PGconn	   *conn = connect_db();
	char	   *nb = fmt("%d", batch);
	char	   *lease = fmt("%g", lease_s);
	char	   *wait = fmt("%g", wait_s);
	char	   *ident = PQescapeIdentifier(conn, sink, strlen(sink));
	char	   *insert;

	if (ident == NULL)
		die(conn, "sink name");
	insert = fmt("INSERT INTO %s (fifo_key, seq, id, result) "
				 "VALUES ($1, $2, $3, $4)", ident);
	while (!stop)
	{
		const char *v[4] = {queue, nb, lease, wait};

		/* ordered by key, then seq: each key's run is consecutive rows */
		PGresult   *res = run(conn,
							  "SELECT id, receipt, fifo_key, seq, payload "
							  "FROM fqs_claim_sequential($1, $2::int, "
							  "lease => $3::float8 * interval '1 second', "
							  "wait => $4::float8 * interval '1 second') "
							  "ORDER BY fifo_key, seq",
							  4, v);
		int			n = PQntuples(res);
		int			first = 0;

		while (first < n)
		{
			int			last = first;
			int			i;
			char	   *ids[MAX_BATCH];
			char	   *receipts[MAX_BATCH];
			char		state[6] = "";

			while (last + 1 < n &&
				   strcmp(PQgetvalue(res, last + 1, 2),
						  PQgetvalue(res, first, 2)) == 0)
				last++;
			/* deliver and complete the run in one transaction */
			PQclear(run(conn, "BEGIN", 0, NULL));
			for (i = first; i <= last && !state[0]; i++)
			{
				const char *w[4] = {PQgetvalue(res, i, 2),
					PQgetvalue(res, i, 3),
					PQgetvalue(res, i, 0),
				PQgetvalue(res, i, 4)};

				PQclear(try_run(conn, insert, 4, w, state));
				ids[i - first] = PQgetvalue(res, i, 0);
				receipts[i - first] = PQgetvalue(res, i, 1);
			}
			if (!state[0])
			{
				char	   *a = int_array(ids, last - first + 1);
				char	   *b = int_array(receipts, last - first + 1);
				const char *w[2] = {a, b};

				PQclear(try_run(conn,
								"SELECT fqs_complete($1::bigint[], $2::bigint[])",
								2, w, state));
				free(a);
				free(b);
			}
			if (!state[0])
				PQclear(try_run(conn, "COMMIT", 0, NULL, state));
			if (state[0])
			{
				/* nothing of the run was delivered: its head goes back */
				PQclear(run(conn, "ROLLBACK", 0, NULL));
				fail_message(conn, PQgetvalue(res, first, 0),
							 PQgetvalue(res, first, 1), "delivery failed");
			}
			first = last + 1;
		}
		PQclear(res);
	}
	PQfreemem(ident);
	free(insert);
	PQfinish(conn);
}

static void
usage(void)
{
	fprintf(stderr, "usage: fqs_worker --stage concurrent|sequential QUEUE "
			"[--dsn CONNINFO] [--batch N] [--lease S] [--wait S] "
			"[--retry-after S] [--slow S] [--sink TABLE]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	const char *stage = NULL;
	int			i;
	struct sigaction sa;

	for (i = 1; i < argc; i++)
	{
		const char *a = argv[i];

		if (a[0] != '-')
		{
			queue = a;
			continue;
		}
		if (i + 1 >= argc)
			usage();
		if (strcmp(a, "--stage") == 0)
			stage = argv[++i];
		else if (strcmp(a, "--dsn") == 0)
			dsn = argv[++i];
		else if (strcmp(a, "--batch") == 0)
			batch = atoi(argv[++i]);
		else if (strcmp(a, "--lease") == 0)
			lease_s = atof(argv[++i]);
		else if (strcmp(a, "--wait") == 0)
			wait_s = atof(argv[++i]);
		else if (strcmp(a, "--retry-after") == 0)
			retry_after_s = atof(argv[++i]);
		else if (strcmp(a, "--slow") == 0)
			slow_s = atof(argv[++i]);
		else if (strcmp(a, "--sink") == 0)
			sink = argv[++i];
		else
			usage();
	}
	if (queue == NULL || stage == NULL || batch < 1 || batch > MAX_BATCH)
		usage();

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	if (strcmp(stage, "concurrent") == 0)
		concurrent_stage();
	else if (strcmp(stage, "sequential") == 0)
		sequential_stage();
	else
		usage();
	return 0;
}
