/*-------------------------------------------------------------------------
 *
 * metrics.c
 *	  Per-queue counters, rates and latency histograms in shared memory,
 *	  for fqs_queues and fqs_metrics().
 *
 * What a monitor wants from a queue -- messages per second in and out,
 * how long a message takes from enqueue to done, how long the backlog
 * would take to drain -- must not cost a count over the message tables
 * each time someone looks.  So the entry points count what they do in a
 * backend-local list, and the transaction's COMMIT callback adds it to
 * the queue's entry in a shared hash: an aborted transaction counts
 * nothing, a rolled-back savepoint gives its counts back (the list is
 * kept by nesting level, see fqs_pending_subxact), and a reader sees only
 * committed work.  Reading a queue's entry is O(1), so the view's rates
 * cost O(queues).
 *
 * Each entry keeps:
 *	 - totals since the entry was made (server start, or the queue's
 *	   creation): Prometheus counters, which readers turn into rates and
 *	   which tolerate the reset of a restart;
 *	 - the enqueued, claimed and completed counts of the last minute, in
 *	   RATE_SLOTS slots of RATE_SLOT_S seconds, for rates without a
 *	   Prometheus;
 *	 - enqueue-to-done latencies in LAT_BUCKETS log2 buckets from 1 ms:
 *	   cumulative (a Prometheus histogram) and per LAT_WINDOW_S window of
 *	   the last minute (percentiles in the view).
 *
 * A message's latency is taken when fqs_complete is called for it, from
 * its enqueued_at; its commit follows within the same transaction.
 *
 * Nothing here is durable: a restart starts every queue's counts again,
 * which is what a Prometheus counter expects.  Without
 * shared_preload_libraries there is no hash, nothing is counted, and the
 * readers return no rows.  When the hash is full (fqs.max_queues), queues
 * without an entry are not counted.
 *
 * Locking: the hash's set of entries is protected by metrics_lock; each
 * entry's contents by its spinlock, held for a few dozen additions.
 *
 * Copyright (c) 2026, fqs developers
 *
 * IDENTIFICATION
 *	  src/metrics.c
 *
 *-------------------------------------------------------------------------
 */
#include "fqs.h"

#include <math.h>

#include "access/xact.h"
#include "executor/spi.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#define RATE_SLOTS		12
#define RATE_SLOT_S		5		/* RATE_SLOTS * RATE_SLOT_S = one minute */
#define LAT_WINDOWS		6
#define LAT_WINDOW_S	10		/* LAT_WINDOWS * LAT_WINDOW_S = one minute */
#define LAT_BUCKETS		25		/* < 1 ms, then [2^(i-1), 2^i) ms, last open */

/* the counts that have a rate */
#define RATE_ENQUEUED	0
#define RATE_CLAIMED	1
#define RATE_COMPLETED	2
#define RATE_N			3

typedef struct FqsMetricsEntry
{
	FqsQueueKey key;
	slock_t		mutex;
	TimestampTz since;			/* the counts start here */
	uint64		total[FQS_M_N];
	int64		rate_stamp[RATE_SLOTS]; /* which slot of time each holds */
	uint32		rate[RATE_SLOTS][RATE_N];
	uint64		lat_total[LAT_BUCKETS];
	double		lat_sum_s;
	int64		lat_stamp[LAT_WINDOWS];
	uint32		lat[LAT_WINDOWS][LAT_BUCKETS];
} FqsMetricsEntry;

/* what the current transaction did to queue qid, at nesting level "level" */
typedef struct PendingMetrics
{
	int			level;			/* first: see fqs_pending_subxact */
	int32		qid;
	int64		n[FQS_M_N];
	uint32		lat[LAT_BUCKETS];
	double		lat_sum_s;
} PendingMetrics;

PG_FUNCTION_INFO_V1(fqs_queue_metrics);

static HTAB *metrics_hash = NULL;
static LWLock *metrics_lock = NULL;
static List *pending_metrics = NIL;
static bool callbacks_registered = false;

Size
fqs_metrics_shmem_size(void)
{
	return hash_estimate_size(fqs_max_queues, sizeof(FqsMetricsEntry));
}

void
fqs_metrics_shmem_init(LWLock *lock)
{
	HASHCTL		info;

	memset(&info, 0, sizeof(info));
	info.keysize = sizeof(FqsQueueKey);
	info.entrysize = sizeof(FqsMetricsEntry);
	metrics_hash = ShmemInitHash("fqs metrics", fqs_max_queues,
								 fqs_max_queues, &info,
								 HASH_ELEM | HASH_BLOBS);
	metrics_lock = lock;
}

/* The bucket of a latency of us microseconds. */
static int
lat_bucket(int64 us)
{
	int			b = 0;
	int64		ms = us / 1000;

	while (ms > 0 && b < LAT_BUCKETS - 1)
	{
		ms >>= 1;
		b++;
	}
	return b;
}

/* The upper bound of bucket b in seconds (the last has none). */
static double
lat_bucket_le(int b)
{
	return ldexp(0.001, b);
}

/* ---------------------------------------------------------------------
 * Counting, at commit
 * --------------------------------------------------------------------- */

static void
apply_pending(void)
{
	TimestampTz now = GetCurrentTimestamp();
	int64		secs = (int64) (now / USECS_PER_SEC);
	int64		rate_at = secs / RATE_SLOT_S;
	int64		lat_at = secs / LAT_WINDOW_S;
	ListCell   *lc;

	foreach(lc, pending_metrics)
	{
		PendingMetrics *p = (PendingMetrics *) lfirst(lc);
		FqsQueueKey key = fqs_queue_key(p->qid);
		FqsMetricsEntry *e;
		bool		found;
		int			i;
		int			rs = (int) (rate_at % RATE_SLOTS);
		int			ls = (int) (lat_at % LAT_WINDOWS);

		LWLockAcquire(metrics_lock, LW_SHARED);
		e = hash_search(metrics_hash, &key, HASH_FIND, NULL);
		if (e == NULL)
		{
			LWLockRelease(metrics_lock);
			LWLockAcquire(metrics_lock, LW_EXCLUSIVE);
			e = hash_search(metrics_hash, &key, HASH_ENTER_NULL, &found);
			if (e == NULL)
			{
				/* full: this queue goes uncounted */
				LWLockRelease(metrics_lock);
				continue;
			}
			if (!found)
			{
				memset((char *) e + sizeof(FqsQueueKey), 0,
					   sizeof(FqsMetricsEntry) - sizeof(FqsQueueKey));
				SpinLockInit(&e->mutex);
				e->since = now;
			}
		}
		SpinLockAcquire(&e->mutex);
		for (i = 0; i < FQS_M_N; i++)
			e->total[i] += (uint64) p->n[i];
		if (e->rate_stamp[rs] != rate_at)
		{
			e->rate_stamp[rs] = rate_at;
			memset(e->rate[rs], 0, sizeof(e->rate[rs]));
		}
		e->rate[rs][RATE_ENQUEUED] += (uint32) p->n[FQS_M_ENQUEUED];
		e->rate[rs][RATE_CLAIMED] += (uint32) p->n[FQS_M_CLAIMED];
		e->rate[rs][RATE_COMPLETED] += (uint32) p->n[FQS_M_COMPLETED];
		if (e->lat_stamp[ls] != lat_at)
		{
			e->lat_stamp[ls] = lat_at;
			memset(e->lat[ls], 0, sizeof(e->lat[ls]));
		}
		for (i = 0; i < LAT_BUCKETS; i++)
		{
			e->lat_total[i] += p->lat[i];
			e->lat[ls][i] += p->lat[i];
		}
		e->lat_sum_s += p->lat_sum_s;
		SpinLockRelease(&e->mutex);
		LWLockRelease(metrics_lock);
	}
}

static void
metrics_xact_callback(XactEvent event, void *arg)
{
	if ((event == XACT_EVENT_COMMIT || event == XACT_EVENT_PARALLEL_COMMIT) &&
		pending_metrics != NIL && metrics_hash != NULL)
		apply_pending();
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_PARALLEL_COMMIT ||
		event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT ||
		event == XACT_EVENT_PREPARE)
	{
		/*
		 * The list lived in the transaction's memory.  A prepared
		 * transaction's work is not counted: its COMMIT PREPARED runs
		 * elsewhere, without this list.
		 */
		pending_metrics = NIL;
	}
}

static void
metrics_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						 SubTransactionId parentSubid, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB || event == SUBXACT_EVENT_COMMIT_SUB)
		pending_metrics = fqs_pending_subxact(pending_metrics,
											  event == SUBXACT_EVENT_COMMIT_SUB,
											  NULL);
}

/* The current transaction's entry for queue qid at this level. */
static PendingMetrics *
pending_for(int32 qid)
{
	int			level = GetCurrentTransactionNestLevel();
	PendingMetrics *p;
	MemoryContext old;
	ListCell   *lc;

	if (!callbacks_registered)
	{
		RegisterXactCallback(metrics_xact_callback, NULL);
		RegisterSubXactCallback(metrics_subxact_callback, NULL);
		callbacks_registered = true;
	}
	foreach(lc, pending_metrics)
	{
		p = (PendingMetrics *) lfirst(lc);
		if (p->qid == qid && p->level == level)
			return p;
	}
	old = MemoryContextSwitchTo(TopTransactionContext);
	p = palloc0(sizeof(PendingMetrics));
	p->qid = qid;
	p->level = level;
	pending_metrics = lappend(pending_metrics, p);
	MemoryContextSwitchTo(old);
	return p;
}

/* The current transaction did n of metric m to queue qid. */
void
fqs_metric_add(int32 qid, FqsMetric m, int64 n)
{
	if (metrics_hash == NULL || n <= 0)
		return;
	pending_for(qid)->n[m] += n;
}

/* The current transaction completes a message of queue qid enqueued then. */
void
fqs_metric_latency(int32 qid, TimestampTz enqueued_at)
{
	PendingMetrics *p;
	int64		us;

	if (metrics_hash == NULL)
		return;
	us = GetCurrentTimestamp() - enqueued_at;
	if (us < 0)
		us = 0;
	p = pending_for(qid);
	p->lat[lat_bucket(us)]++;
	p->lat_sum_s += (double) us / USECS_PER_SEC;
}

/*
 * Queue qid's counts start again (it was created or dropped; a queue id
 * can come back after the extension was re-created).
 */
void
fqs_metrics_forget(int32 qid)
{
	FqsQueueKey key;

	if (metrics_hash == NULL)
		return;
	key = fqs_queue_key(qid);
	LWLockAcquire(metrics_lock, LW_EXCLUSIVE);
	hash_search(metrics_hash, &key, HASH_REMOVE, NULL);
	LWLockRelease(metrics_lock);
}

/* ---------------------------------------------------------------------
 * Reading
 * --------------------------------------------------------------------- */

/*
 * The latency under which fraction q of the window's messages were done,
 * interpolated in its log2 bucket; NaN without messages.
 */
static double
lat_percentile(const uint64 *hist, uint64 n, double q)
{
	double		want = q * (double) n;
	uint64		below = 0;
	int			b;

	if (n == 0)
		return NAN;
	for (b = 0; b < LAT_BUCKETS; b++)
	{
		if ((double) (below + hist[b]) >= want && hist[b] > 0)
		{
			double		lo = b == 0 ? 0.0 : lat_bucket_le(b - 1);
			double		hi = lat_bucket_le(b);
			double		f = (want - (double) below) / (double) hist[b];

			if (b == LAT_BUCKETS - 1)
				return lo;		/* open-ended: its lower bound */
			return lo + (hi - lo) * Max(0.0, Min(1.0, f));
		}
		below += hist[b];
	}
	return lat_bucket_le(LAT_BUCKETS - 2);
}

static Datum
seconds_interval(double s)
{
	Interval   *iv = palloc0(sizeof(Interval));

	iv->time = (int64) rint(s * USECS_PER_SEC);
	return IntervalPGetDatum(iv);
}

static int
entry_qid_cmp(const void *a, const void *b)
{
	int32		x = ((const FqsMetricsEntry *) a)->key.qid;
	int32		y = ((const FqsMetricsEntry *) b)->key.qid;

	return (x > y) - (x < y);
}

/* Build one row of fqs_queue_metrics() from copy c (NULL: no counts yet). */
static void
metrics_row(FqsMetricsEntry *c, TimestampTz now, Datum *values, bool *nulls)
{
	int64		secs = (int64) (now / USECS_PER_SEC);
	int64		rate_at = secs / RATE_SLOT_S;
	int64		lat_at = secs / LAT_WINDOW_S;
	uint64		rate[RATE_N] = {0, 0, 0};
	uint64		win[LAT_BUCKETS];
	uint64		nwin = 0;
	Datum		buckets[LAT_BUCKETS];
	uint64		cum = 0;
	double		covered;
	int			s,
				b,
				k;

	if (c == NULL)
	{
		/* nothing counted since the server started */
		nulls[4] = true;
		for (k = 0; k < FQS_M_N; k++)
			values[5 + k] = Int64GetDatum(0);
		for (k = 0; k < RATE_N; k++)
			values[13 + k] = Float8GetDatum(0.0);
		nulls[16] = nulls[17] = nulls[18] = true;
		values[19] = Int64GetDatum(0);
		values[20] = Float8GetDatum(0.0);
		for (b = 0; b < LAT_BUCKETS; b++)
			buckets[b] = Int64GetDatum(0);
		values[21] = PointerGetDatum(construct_array(buckets, LAT_BUCKETS,
													 INT8OID, 8,
													 FLOAT8PASSBYVAL,
													 TYPALIGN_DOUBLE));
		return;
	}

	memset(win, 0, sizeof(win));
	for (s = 0; s < RATE_SLOTS; s++)
		if (c->rate_stamp[s] > rate_at - RATE_SLOTS &&
			c->rate_stamp[s] <= rate_at)
			for (k = 0; k < RATE_N; k++)
				rate[k] += c->rate[s][k];
	for (s = 0; s < LAT_WINDOWS; s++)
		if (c->lat_stamp[s] > lat_at - LAT_WINDOWS &&
			c->lat_stamp[s] <= lat_at)
			for (b = 0; b < LAT_BUCKETS; b++)
			{
				win[b] += c->lat[s][b];
				nwin += c->lat[s][b];
			}

	/* the time the rate slots cover: from the oldest slot's start to now */
	covered = (double) (now - (rate_at - RATE_SLOTS + 1) * RATE_SLOT_S *
						USECS_PER_SEC) / USECS_PER_SEC;
	covered = Min(covered, (double) (now - c->since) / USECS_PER_SEC);
	covered = Max(covered, 1.0);

	values[4] = TimestampTzGetDatum(c->since);
	for (k = 0; k < FQS_M_N; k++)
		values[5 + k] = Int64GetDatum((int64) c->total[k]);
	for (k = 0; k < RATE_N; k++)
		values[13 + k] = Float8GetDatum((double) rate[k] / covered);
	if (nwin == 0)
		nulls[16] = nulls[17] = nulls[18] = true;
	else
	{
		values[16] = seconds_interval(lat_percentile(win, nwin, 0.50));
		values[17] = seconds_interval(lat_percentile(win, nwin, 0.90));
		values[18] = seconds_interval(lat_percentile(win, nwin, 0.99));
	}
	for (b = 0; b < LAT_BUCKETS; b++)
	{
		cum += c->lat_total[b];
		buckets[b] = Int64GetDatum((int64) cum);
	}
	values[19] = Int64GetDatum((int64) cum);
	values[20] = Float8GetDatum(c->lat_sum_s);
	values[21] = PointerGetDatum(construct_array(buckets, LAT_BUCKETS,
												 INT8OID, 8,
												 FLOAT8PASSBYVAL,
												 TYPALIGN_DOUBLE));
}

/*
 * fqs_queue_metrics(): one row per queue of this database that the caller
 * may see (any right on it, or membership of pg_monitor, as in
 * fqs_queues):
 *
 * qid, queue, paused, holding (new messages go to the holding pen),
 * since (when the counts started; NULL: nothing counted yet), totals
 * enqueued, claimed, committed, released, completed, failed, expired,
 * dead, rates enqueued_per_s, claimed_per_s, completed_per_s (the last
 * minute), latency_p50, latency_p90, latency_p99 (enqueue to done, the
 * last minute), latency_count, latency_sum (seconds), latency_buckets
 * (cumulative totals: element i, from 0, counts latencies under 2^i ms,
 * the last all of them; fqs_metrics() prints them as Prometheus buckets).
 *
 * O(queues): one read of fqs.queue, one pass over the shared hash.
 * Without shared memory, no rows.
 */
Datum
fqs_queue_metrics(PG_FUNCTION_ARGS)
{
	static FqsPlan queues = {
		"SELECT qid, name, paused, breaker_open FROM fqs.queue ORDER BY qid",
		0, {InvalidOid}, NULL
	};
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	HASH_SEQ_STATUS seq;
	FqsMetricsEntry *e;
	TimestampTz now = GetCurrentTimestamp();
	int			nentries = 0;
	int			cap;
	FqsMetricsEntry *copy;
	bool		monitor = has_privs_of_role(GetUserId(), ROLE_PG_MONITOR);
	FqsCall		call;
	int			nq;
	Datum	   *qrows;
	int			i;

	InitMaterializedSRF(fcinfo, 0);
	if (metrics_hash == NULL)
		return (Datum) 0;

	/* copy this database's entries out, then build rows without locks */
	LWLockAcquire(metrics_lock, LW_SHARED);
	cap = (int) hash_get_num_entries(metrics_hash);
	copy = palloc(sizeof(FqsMetricsEntry) * Max(cap, 1));
	hash_seq_init(&seq, metrics_hash);
	while ((e = hash_seq_search(&seq)) != NULL)
	{
		if (e->key.dboid != MyDatabaseId || nentries >= cap)
			continue;
		SpinLockAcquire(&e->mutex);
		memcpy(&copy[nentries], e, sizeof(FqsMetricsEntry));
		SpinLockRelease(&e->mutex);
		nentries++;
	}
	LWLockRelease(metrics_lock);
	qsort(copy, nentries, sizeof(FqsMetricsEntry), entry_qid_cmp);

	fqs_call_begin(&call);
	nq = fqs_exec(&queues, NULL, NULL, 0);
	/* the privilege checks below run statements: keep the queues apart */
	qrows = palloc(sizeof(Datum) * 4 * Max(nq, 1));
	for (i = 0; i < nq; i++)
	{
		bool		isnull;
		int			k;

		for (k = 0; k < 4; k++)
			qrows[i * 4 + k] = datumCopy(fqs_getdatum(i, k + 1, &isnull),
										 k == 1 ? false : true,
										 k == 1 ? -1 : (k == 0 ? 4 : 1));
	}
	SPI_freetuptable(SPI_tuptable);
	for (i = 0; i < nq; i++)
	{
		Datum		values[22];
		bool		nulls[22];
		FqsMetricsEntry probe;
		int32		qid = DatumGetInt32(qrows[i * 4]);

		if (!monitor && !fqs_has_right(qid, FQS_RIGHT_SEE))
			continue;
		memset(nulls, 0, sizeof(nulls));
		values[0] = qrows[i * 4];
		values[1] = qrows[i * 4 + 1];
		values[2] = qrows[i * 4 + 2];
		values[3] = qrows[i * 4 + 3];
		probe.key.qid = qid;
		metrics_row(bsearch(&probe, copy, nentries, sizeof(FqsMetricsEntry),
							entry_qid_cmp), now, values, nulls);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc,
							 values, nulls);
	}
	fqs_call_end(&call);
	return (Datum) 0;
}
