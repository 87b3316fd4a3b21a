/*-------------------------------------------------------------------------
 *
 * claim.c
 *	  The concurrent stage: fqs_claim, fqs_commit, and the stage dispatch of
 *	  fqs_fail and fqs_extend_lease.
 *
 * fqs.ready holds one narrow row per message that has not been committed
 * yet.  A claim picks claimable rows through the partial index ready_claim
 * (leased rows are not in it, so the scan never steps over in-flight work)
 * with FOR UPDATE SKIP LOCKED, and stamps them with a lease and a fresh
 * receipt.  The receipt is the fencing token: commit, fail and extend only
 * act on the row while it still carries the caller's receipt, and a lease
 * that expired is requeued with receipt 0 before anyone can claim it again.
 * A row carries a receipt (never 0 for callers) exactly while it is leased,
 * so those statements find the row by its primary key and receipt alone.
 *
 * Statements are shaped to stay index-driven under a generic plan, whose
 * row estimate for LIMIT $n is 10% of the table: the rows to change are
 * named by id = ANY (ARRAY(subquery)) and lookups go through LATERAL
 * subqueries with OFFSET 0, so the planner cannot turn them into hash
 * joins over whole tables.
 *
 * Cost in queue depth D, keys K, consumers C:
 *	fqs_claim	O(n log D + C): an index descent plus stepping over rows
 *				other claimers hold locked right now.
 *	fqs_commit	O(log D): delete by primary key, one append to
 *				fqs.processed, one key_head row update.
 *	fqs_fail, fqs_extend_lease	O(log D).
 *
 * Copyright (c) 2026, fqs developers
 *
 * IDENTIFICATION
 *	  src/claim.c
 *
 *-------------------------------------------------------------------------
 */
#include "fqs.h"

#include "catalog/pg_type.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/lsyscache.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

PG_FUNCTION_INFO_V1(fqs_claim);
PG_FUNCTION_INFO_V1(fqs_claim_any);
PG_FUNCTION_INFO_V1(fqs_commit);
PG_FUNCTION_INFO_V1(fqs_commit_many);
PG_FUNCTION_INFO_V1(fqs_fail_many);
PG_FUNCTION_INFO_V1(fqs_fail);
PG_FUNCTION_INFO_V1(fqs_extend_lease);

static void requeue_done(int32 qid, int stage, int n, int64 expired);


/*
 * Run a requeue statement of either stage: parameters (qid, max_attempts,
 * fqs.reaper_batch, leases from, leases before), one result row (leases
 * put back, leases expired).  Returns the leases put back, whose waiting
 * claimers are woken at commit; *expired receives the leases expired.
 */
int
fqs_requeue_run(FqsPlan *plan, int32 qid, int32 max_attempts, int stage,
				TimestampTz from, TimestampTz before, int64 *expired)
{
	Datum		v[5];
	int			n;

	v[0] = Int32GetDatum(qid);
	v[1] = Int32GetDatum(max_attempts);
	v[2] = Int32GetDatum(fqs_reaper_batch);
	v[3] = TimestampTzGetDatum(from);
	v[4] = TimestampTzGetDatum(before);
	fqs_exec(plan, v, NULL, 0);
	n = (int) fqs_getint64(0, 1);
	*expired = fqs_getint64(0, 2);
	requeue_done(qid, stage, n, *expired);
	return n;
}

/* After a requeue of either stage: n leases put back of expired. */
static void
requeue_done(int32 qid, int stage, int n, int64 expired)
{
	/* every expired lease is a failure, whether it went back or died */
	fqs_breaker_event(qid, stage, false, expired);
	fqs_metric_add(qid, FQS_M_EXPIRED, expired);
	fqs_metric_add(qid, FQS_M_DEAD, expired - n);
	if (n > 0)
	{
		fqs_wake_at_commit(qid, stage, n);
		if (stage == FQS_STAGE_CONCURRENT)
			fqs_ready_added_at_commit(qid, n);
	}
}

/*
 * Give expired leases of queue qid back to the ready state, or to dead once
 * they have had max_attempts deliveries.  At most fqs.reaper_batch per
 * call; returns how many went back to ready (their claimers are woken at
 * commit).  Used by claims and by the background worker's reaper.  When
 * back is given and leases went back, it receives the position of the
 * first (the cursor is lowered to them only at commit).
 *
 * The scan covers [the queue's lease cursor (scan.c), now), so neither
 * the entries of leases ended long ago nor those of leases still running
 * are stepped over; when it found fewer than the batch, nothing before now
 * is left.
 */
int
fqs_requeue_concurrent(int32 qid, int32 max_attempts, FqsPos *back)
{
	static FqsPlan plan = {
		"WITH exp AS MATERIALIZED ("
		"  SELECT id FROM fqs.ready "
		"   WHERE qid = $1 AND lease_until IS NOT NULL "
		"     AND lease_until >= $4 AND lease_until < $5 "
		"   ORDER BY lease_until LIMIT $3 FOR UPDATE SKIP LOCKED), "
		"gone AS ("
		"  DELETE FROM fqs.ready r "
		"   WHERE r.id = ANY (ARRAY(SELECT id FROM exp)) AND r.qid = $1 "
		"     AND r.attempt >= $2 "
		"  RETURNING r.id, r.qid, r.kid, r.seq, r.gen, r.attempt), "
		"dead AS ("
		"  INSERT INTO fqs.dead "
		"    (id, qid, kid, seq, gen, stage, attempts, last_error, died_at) "
		"  SELECT id, qid, kid, seq, gen, 'concurrent', attempt, "
		"         'lease expired', pg_catalog.clock_timestamp() FROM gone), "
		"back AS ("
		"  UPDATE fqs.ready r "
		"     SET lease_until = NULL, receipt = 0, last_error = 'lease expired' "
		"   WHERE r.id = ANY (ARRAY(SELECT id FROM exp)) AND r.qid = $1 "
		"     AND r.attempt < $2 "
		"  RETURNING r.id, r.priority) "
		"SELECT (SELECT pg_catalog.count(*) FROM back), "
		"       (SELECT pg_catalog.count(*) FROM exp), "
		"       (SELECT pg_catalog.max(priority) FROM back), "
		"       (SELECT pg_catalog.min(id) FROM back)",
		5, {INT4OID, INT4OID, INT4OID, TIMESTAMPTZOID, TIMESTAMPTZOID}, NULL
	};
	Datum		v[5];
	int			n;
	int64		expired;
	FqsScan		s;
	TimestampTz now;

	fqs_scan_begin(qid, FQS_CURSOR_LEASE, true, &s);
	now = GetCurrentTimestamp();
	v[0] = Int32GetDatum(qid);
	v[1] = Int32GetDatum(max_attempts);
	v[2] = Int32GetDatum(fqs_reaper_batch);
	v[3] = TimestampTzGetDatum((TimestampTz) s.at.hi);
	v[4] = TimestampTzGetDatum(now);
	fqs_exec(&plan, v, NULL, 0);
	n = (int) fqs_getint64(0, 1);
	expired = fqs_getint64(0, 2);
	if (expired > 0)
		fqs_scan_touched(qid);	/* rolled back, they are leased again */
	if (n > 0)
	{
		int32		prio = fqs_getint32(0, 3);
		int64		id = fqs_getint64(0, 4);

		/* the claim that requeued them may take them at once */
		if (back)
			*back = fqs_pos(-(int64) prio, id);
		fqs_scan_added(qid, prio, id, 0, 0);
	}
	if (expired < fqs_reaper_batch)
		fqs_scan_raise(qid, FQS_CURSOR_LEASE, &s, fqs_pos(now, 0));
	requeue_done(qid, FQS_STAGE_CONCURRENT, n, expired);
	return n;
}

/*
 * With max_claimed set, claimers of the queue serialise on a lock of
 * fqs's own (FQS_LOCK_CLAIM) held to the end of their transaction, count the live leases and
 * claim only what is left.  Returns the number still allowed.
 *
 * The lock is taken only when a look without it finds both room and work,
 * so a waiting claimer does not sleep holding it.  A waiting claimer only
 * tries the lock; should it hold the lock and find no room after all, it
 * sets q->claim_lock_held so that its wait ends instead of blocking other
 * claimers of the queue while it sleeps.
 */
static int32
claim_room(FqsQueue *q, int32 n, bool waiting)
{
	static FqsPlan peek = {
		"SELECT (SELECT pg_catalog.count(*) FROM fqs.ready "
		"         WHERE qid = $1 AND lease_until IS NOT NULL), "
		"       EXISTS (SELECT 1 FROM fqs.ready "
		"                WHERE qid = $1 AND lease_until IS NULL "
		"                  AND visible_at <= pg_catalog.clock_timestamp())",
		1, {INT4OID}, NULL
	};
	Datum		v[2];
	bool		isnull;
	int64		busy;

	v[0] = Int32GetDatum(q->qid);
	fqs_exec(&peek, v, NULL, 1);
	if (fqs_getint64(0, 1) >= q->max_claimed ||
		!DatumGetBool(fqs_getdatum(0, 2, &isnull)))
		return 0;

	if (!fqs_lock(FQS_LOCK_CLAIM, (uint32) q->qid, ExclusiveLock, waiting))
		return 0;				/* another claimer is at it */

	v[0] = Int32GetDatum(q->qid);
	fqs_exec(&peek, v, NULL, 1);
	busy = fqs_getint64(0, 1);
	if (busy >= q->max_claimed)
	{
		q->claim_lock_held = true;
		return 0;
	}
	return (int32) Min((int64) n, q->max_claimed - busy);
}

/*
 * Delayed rows of queue q that the claim cursor passed may have fallen
 * due: find them through ready_visible (the look costs the delayed rows,
 * not the dead entries before them) and let the cursor come back to them.
 */
static void
claim_due(FqsQueue *q)
{
	static FqsPlan plan = {
		"SELECT f[1], f[2], nxt FROM ("
		"  SELECT pg_catalog.min(ARRAY[-(priority::int8), id]) "
		"           FILTER (WHERE visible_at <= $3), "
		"         pg_catalog.min(visible_at) FILTER (WHERE visible_at > $3) "
		"    FROM fqs.ready "
		"   WHERE qid = $1 AND lease_until IS NULL AND visible_at >= $2"
		") x(f, nxt)",
		3, {INT4OID, TIMESTAMPTZOID, TIMESTAMPTZOID}, NULL
	};
	FqsScan		s;
	TimestampTz now = GetCurrentTimestamp();
	Datum		v[3];
	bool		isnull;
	Datum		d;
	FqsPos		first = fqs_pos(0, 0);
	bool		any = false;
	TimestampTz next = DT_NOEND;

	if (!fqs_scan_due(q->qid, now, &s))
		return;
	v[0] = Int32GetDatum(q->qid);
	v[1] = TimestampTzGetDatum(s.due);
	v[2] = TimestampTzGetDatum(now);
	fqs_exec(&plan, v, NULL, 1);
	(void) fqs_getdatum(0, 1, &isnull);
	if (!isnull)
	{
		first = fqs_pos(fqs_getint64(0, 1), fqs_getint64(0, 2));
		any = true;
	}
	d = fqs_getdatum(0, 3, &isnull);
	if (!isnull)
		next = DatumGetTimestampTz(d);
	fqs_scan_due_done(q->qid, &s, any, first, next);
}

/*
 * A concurrent-stage claim the failure breaker let through: respect
 * max_claimed, claim up to n messages into the caller's tuplestore.
 *
 * The scan starts at the queue's claim cursor (scan.c), past the entries
 * of rows claimed before, and moves the cursor to the first row it claims
 * (past everything when it claims nothing).
 */
static int
claim_admitted(FqsQueue *q, int32 n, Interval *lease, bool waiting,
			   ReturnSetInfo *rsinfo)
{
	static FqsPlan plan = {
		"WITH u AS ("
		"  UPDATE fqs.ready r "
		"     SET lease_until = pg_catalog.clock_timestamp() + $3, "
		"         receipt = fqs.receipt(), "
		"         attempt = r.attempt + 1, claimed_at = pg_catalog.clock_timestamp() "
		"   WHERE r.id = ANY (ARRAY("
		"         SELECT id FROM fqs.ready "
		"          WHERE qid = $1 AND lease_until IS NULL "
		"            AND (-(priority::int8), id) >= ($4, $5) "
		"            AND visible_at <= pg_catalog.clock_timestamp() "
		"          ORDER BY -(priority::int8), id LIMIT $2 "
		"          FOR UPDATE SKIP LOCKED)) "
		"     AND r.qid = $1 "
		"  RETURNING r.id, r.receipt, r.kid, r.seq, r.gen, r.attempt, "
		"            r.priority) "
		"SELECT u.id, u.receipt, h.fifo_key, u.seq, m.payload, m.headers, "
		"       u.attempt, m.enqueued_at, u.priority "
		"  FROM u "
		"  CROSS JOIN LATERAL (SELECT payload, headers, enqueued_at "
		"                        FROM fqs.message m "
		"                       WHERE m.gen = u.gen AND m.id = u.id "
		"                         AND m.qid = $1 OFFSET 0) m "
		"  CROSS JOIN LATERAL (SELECT fifo_key FROM fqs.key_head h "
		"                       WHERE h.kid = u.kid AND h.qid = $1 OFFSET 0) h "
		" ORDER BY u.priority DESC, u.id",
		5, {INT4OID, INT4OID, INTERVALOID, INT8OID, INT8OID}, NULL
	};
	static FqsPlan probe = {
		"SELECT EXISTS (SELECT 1 FROM fqs.ready WHERE qid = $1 "
		"                  AND lease_until IS NULL "
		"                  AND (-(priority::int8), id) >= ($2, $3) "
		"                  AND visible_at <= pg_catalog.clock_timestamp())",
		3, {INT4OID, INT8OID, INT8OID}, NULL
	};
	Datum		v[5];
	int			rows;
	int			i;
	FqsScan		s;
	FqsPos		start;
	TimestampTz now;
	Interval   *lv = lease ? lease : &q->lease;

	claim_due(q);
	fqs_scan_begin(q->qid, FQS_CURSOR_CLAIM, true, &s);
	start = s.at;
	if (q->requeued_hi < start.hi ||
		(q->requeued_hi == start.hi && q->requeued_lo < start.lo))
		start = fqs_pos(q->requeued_hi, q->requeued_lo);
	if (waiting)
	{
		/*
		 * A waiting claim looks at fqs.ready alone until there is work:
		 * the claim statement reads payloads, and its locks on the message
		 * tables would last the whole wait and keep rotation out.
		 */
		Datum		pv[3];
		bool		isnull;

		pv[0] = Int32GetDatum(q->qid);
		pv[1] = Int64GetDatum(start.hi);
		pv[2] = Int64GetDatum(start.lo);
		fqs_exec_ordered(&probe, pv, NULL, 1);
		if (!DatumGetBool(fqs_getdatum(0, 1, &isnull)))
			return 0;
	}
	if (q->has_max_claimed)
		n = claim_room(q, n, waiting);
	if (n <= 0)
		return 0;

	now = GetCurrentTimestamp();
	v[0] = Int32GetDatum(q->qid);
	v[1] = Int32GetDatum(n);
	v[2] = IntervalPGetDatum(lv);
	v[3] = Int64GetDatum(start.hi);
	v[4] = Int64GetDatum(start.lo);
	rows = fqs_exec_ordered(&plan, v, NULL, 0);
	if (rows > 0)
	{
		/* rows come in claim order: the first is where the cursor goes */
		FqsPos		first = fqs_pos(-(int64) fqs_getint32(0, 9),
									fqs_getint64(0, 1));

		fqs_scan_claimed(q->qid, first,
						 DatumGetTimestampTz(DirectFunctionCall2(timestamptz_pl_interval,
																 TimestampTzGetDatum(now),
																 IntervalPGetDatum(lv))));
		fqs_scan_raise(q->qid, FQS_CURSOR_CLAIM, &s, first);
	}
	else
		fqs_scan_raise(q->qid, FQS_CURSOR_CLAIM, &s,
					   fqs_pos(PG_INT64_MAX, PG_INT64_MAX));
	if (rows > 0 && q->breaker_open)
		fqs_poke_worker_at_commit();	/* room in ready: the mover may act */
	for (i = 0; i < rows; i++)
	{
		Datum		values[9];
		bool		nulls[9];

		heap_deform_tuple(SPI_tuptable->vals[i], SPI_tuptable->tupdesc,
						  values, nulls);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc,
							 values, nulls);
	}
	return rows;
}

/*
 * One claim attempt on queue q in the given stage, for both stages: requeue
 * the stage's expired leases, ask the failure breaker how many may be
 * claimed, let the stage's claim_admitted claim them into the caller's
 * tuplestore, and hand a probe that found nothing back.  Returns how many
 * were claimed.
 */
static int
claim_stage(FqsQueue *q, int stage, int32 n, Interval *lease, bool waiting,
			ReturnSetInfo *rsinfo, FqsClaimOnce claim_admitted_fn)
{
	int			rows;
	uint64		probe;

	if (q->paused)
		return 0;
	if (stage == FQS_STAGE_CONCURRENT)
	{
		FqsPos		back = fqs_pos(PG_INT64_MAX, PG_INT64_MAX);

		fqs_requeue_concurrent(q->qid, q->max_attempts, &back);
		q->requeued_hi = back.hi;
		q->requeued_lo = back.lo;
	}
	else
		fqs_requeue_sequential(q->qid, q->max_attempts);
	n = fqs_breaker_admit(q, stage, n, &probe, &q->breaker_until);
	if (n <= 0)
		return 0;
	rows = claim_admitted_fn(q, n, lease, waiting, rsinfo);
	fqs_breaker_probe_done(q->qid, probe, rows);
	fqs_metric_add(q->qid, stage == FQS_STAGE_CONCURRENT ?
				   FQS_M_CLAIMED : FQS_M_RELEASED, rows);
	return rows;
}

/*
 * The body of fqs_claim and fqs_claim_sequential: arguments (queue, n,
 * lease, wait), then one attempt with claim_stage, or with a wait, attempts
 * until something is claimed or the wait ends, sleeping in between until
 * something becomes claimable in the queue's stage (woken through shared
 * memory).
 */
Datum
fqs_claim_driver(FunctionCallInfo fcinfo, int stage, FqsClaimOnce claim_once_fn)
{
	FqsCall		call;
	char	   *qname = fqs_check_queue_name(fcinfo, 0);
	int32		n = fqs_check_n(fcinfo, 1);
	Interval   *lease = fqs_check_interval(fcinfo, 2, "lease", false,
										   fqs_max_lease_s, "fqs.max_lease");
	Interval   *wait = fqs_check_interval(fcinfo, 3, "wait", true,
										  fqs_max_wait_s, "fqs.max_wait");
	TimestampTz deadline = fqs_wait_deadline(wait);
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	FqsQueue	q;

	InitMaterializedSRF(fcinfo, 0);
	fqs_call_begin(&call);
	fqs_lookup_queue(qname, &q);
	fqs_check_right(q.qid, FQS_RIGHT_CONSUME, qname);
	if (deadline == 0)
		claim_stage(&q, stage, n, lease, false, rsinfo, claim_once_fn);
	else
	{
		/* a long wait must not grow the backend: each look frees its memory */
		MemoryContext look = AllocSetContextCreate(CurrentMemoryContext,
												   "fqs waiting claim",
												   ALLOCSET_SMALL_SIZES);
		MemoryContext caller = MemoryContextSwitchTo(look);

		fqs_wait_begin(q.qid, stage);
		for (;;)
		{
			if (claim_stage(&q, stage, n, lease, true, rsinfo,
							claim_once_fn) > 0 ||
				q.claim_lock_held)
				break;
			/* the look's name lock: not held while asleep */
			fqs_unlock_queue_name(qname, AccessShareLock);
			if (q.breaker_until != 0)
			{
				/*
				 * The failure breaker holds claims back until its cooldown
				 * ends: sleep through the wake-ups of enqueues meanwhile,
				 * unless it closes sooner (fqs_resume).
				 */
				while (fqs_wait_sleep(q.qid, stage,
									  Min(deadline, q.breaker_until)) &&
					   fqs_breaker_is_open(q.qid))
					;
				if (GetCurrentTimestamp() >= deadline)
					break;
			}
			else if (!fqs_wait_sleep(q.qid, stage, deadline))
				break;
			MemoryContextReset(look);
			/* settings (paused, max_claimed) may have changed meanwhile */
			fqs_lookup_queue(qname, &q);
		}
		fqs_wait_end();
		MemoryContextSwitchTo(caller);
	}
	fqs_call_end(&call);
	return (Datum) 0;
}

/*
 * fqs_claim(queue, n, lease, wait)
 */
Datum
fqs_claim(PG_FUNCTION_ARGS)
{
	return fqs_claim_driver(fcinfo, FQS_STAGE_CONCURRENT, claim_admitted);
}

typedef struct AnyQueue
{
	FqsQueue	q;
	int			pos;
} AnyQueue;

static int
any_queue_cmp(const void *a, const void *b)
{
	const AnyQueue *x = (const AnyQueue *) a;
	const AnyQueue *y = (const AnyQueue *) b;

	if (x->q.priority != y->q.priority)
		return x->q.priority > y->q.priority ? -1 : 1;
	return x->pos - y->pos;
}

/*
 * fqs_claim_any(queues[], n, lease, wait): serve the highest-priority
 * queue that has work first (ties in array order), topping up from the
 * next ones until n messages are claimed.
 */
Datum
fqs_claim_any(PG_FUNCTION_ARGS)
{
	FqsCall		call;
	ArrayType  *arr;
	Datum	   *names;
	bool	   *nulls;
	int			nq;
	int32		n = fqs_check_n(fcinfo, 1);
	Interval   *lease = fqs_check_interval(fcinfo, 2, "lease", false,
										   fqs_max_lease_s, "fqs.max_lease");
	Interval   *wait = fqs_check_interval(fcinfo, 3, "wait", true,
										  fqs_max_wait_s, "fqs.max_wait");
	TimestampTz deadline = fqs_wait_deadline(wait);
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	AnyQueue   *qs;
	int			i;
	MemoryContext look;
	MemoryContext caller;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("queues must not be null")));
	arr = PG_GETARG_ARRAYTYPE_P(0);
	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("queues must be a one-dimensional array")));
	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT,
					  &names, &nulls, &nq);
	if (nq == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("queues must name at least one queue")));
	if (nq > fqs_max_batch)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("too many queues (%d)", nq),
				 errdetail("fqs_claim_any() takes at most fqs.max_batch (%d) queues.",
						   fqs_max_batch)));
	qs = palloc(sizeof(AnyQueue) * nq);

	InitMaterializedSRF(fcinfo, 0);
	fqs_call_begin(&call);
	look = AllocSetContextCreate(CurrentMemoryContext, "fqs_claim_any look",
								 ALLOCSET_SMALL_SIZES);
	caller = MemoryContextSwitchTo(look);
	/* the database-wide variable: any queue of this database; prepare to
	 * sleep before the first look, so that no wake falls in between */
	if (deadline != 0)
		fqs_wait_begin(-1, FQS_STAGE_CONCURRENT);
	for (;;)
	{
		int			left = n;
		bool		lock_held = false;

		/* every look starts afresh: a long wait must not grow the backend */
		MemoryContextReset(look);

		for (i = 0; i < nq; i++)
		{
			char	   *name;

			if (nulls[i])
				ereport(ERROR,
						(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						 errmsg("queue name must not be null")));
			name = fqs_check_queue_text((text *) DatumGetPointer(names[i]));
			fqs_lookup_queue(name, &qs[i].q);
			fqs_check_right(qs[i].q.qid, FQS_RIGHT_CONSUME, name);
			qs[i].pos = i;
		}
		qsort(qs, nq, sizeof(AnyQueue), any_queue_cmp);
		for (i = 0; i < nq && left > 0; i++)
		{
			if (i > 0 && qs[i].q.qid == qs[i - 1].q.qid)
				continue;		/* named twice */
			left -= claim_stage(&qs[i].q, FQS_STAGE_CONCURRENT, left, lease,
								deadline != 0, rsinfo, claim_admitted);
			lock_held |= qs[i].q.claim_lock_held;
		}
		if (left < n || deadline == 0 || lock_held)
			break;
		/* this look's name locks: not held while asleep */
		for (i = 0; i < nq; i++)
			fqs_unlock_queue_name(qs[i].q.name, AccessShareLock);
		if (!fqs_wait_sleep(-1, FQS_STAGE_CONCURRENT, deadline))
			break;
	}
	if (deadline != 0)
		fqs_wait_end();
	MemoryContextSwitchTo(caller);
	fqs_call_end(&call);
	return (Datum) 0;
}

/*
 * Explain why a concurrent-stage call found no row for (id, receipt).
 */
static void
claim_diagnose(int64 id, int64 receipt, bool either_stage)
{
	static FqsPlan plan = {
		"SELECT (SELECT lease_until IS NOT NULL FROM fqs.ready WHERE id = $1), "
		"       EXISTS (SELECT 1 FROM fqs.processed WHERE id = $1), "
		"       EXISTS (SELECT 1 FROM fqs.dead WHERE id = $1), "
		"       EXISTS (SELECT 1 FROM fqs.message WHERE id = $1)",
		1, {INT8OID}, NULL
	};
	Datum		v[1];
	bool		isnull;
	Datum		leased;

	fqs_check_message_visible(id);
	v[0] = Int64GetDatum(id);
	fqs_exec(&plan, v, NULL, 1);
	leased = fqs_getdatum(0, 1, &isnull);
	if (!isnull && DatumGetBool(leased))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("receipt " INT64_FORMAT " does not hold message " INT64_FORMAT,
						receipt, id),
				 errdetail("The lease expired and the message was claimed again, or the receipt is wrong."),
				 errhint("Stop working on this message; its current holder will finish it.")));
	if (!isnull)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("message " INT64_FORMAT " is not claimed", id),
				 errdetail("Its lease expired or it was failed, and it waits to be claimed again.")));
	if (DatumGetBool(fqs_getdatum(0, 2, &isnull)))
	{
		/* in the sequential stage: say what is wrong there */
		if (either_stage)
			fqs_seq_diagnose(id, receipt);
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("message " INT64_FORMAT " was already committed", id)));
	}
	if (DatumGetBool(fqs_getdatum(0, 3, &isnull)))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("message " INT64_FORMAT " is dead", id),
				 errhint("Use fqs_retry() or fqs_skip() on dead messages.")));
	if (DatumGetBool(fqs_getdatum(0, 4, &isnull)))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("message " INT64_FORMAT " is not claimed", id)));
	fqs_raise_message_unknown(id);
}

/*
 * fqs_commit(id, receipt, result)
 */
/* Commit one claimed message; the caller has begun an API call. */
static void
commit_one(int64 id, int64 receipt, text *result)
{
	static FqsPlan plan = {
		"DELETE FROM fqs.ready WHERE id = $1 AND receipt = $2 "
		"RETURNING gen, kid, seq, qid, attempt, claimed_at",
		2, {INT8OID, INT8OID}, NULL
	};
	Datum		v[2];
	bool		isnull;
	Datum		claimed_at;
	int32		qid;

	fqs_check_receipt(receipt);
	if (result && VARSIZE_ANY_EXHDR(result) > (Size) fqs_max_payload_bytes)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("result is too large (%zu bytes)",
						(Size) VARSIZE_ANY_EXHDR(result)),
				 errdetail("fqs.max_payload_bytes is %d.",
						   fqs_max_payload_bytes)));
	v[0] = Int64GetDatum(id);
	v[1] = Int64GetDatum(receipt);
	if (fqs_exec(&plan, v, NULL, 0) == 0)
		claim_diagnose(id, receipt, false);
	claimed_at = fqs_getdatum(0, 6, &isnull);
	qid = fqs_getint32(0, 4);
	/* a refusal rolls the delete back */
	fqs_check_right(qid, FQS_RIGHT_CONSUME, NULL);
	fqs_scan_touched(qid);
	fqs_breaker_event(qid, FQS_STAGE_CONCURRENT, true, 1);
	fqs_metric_add(qid, FQS_M_COMMITTED, 1);
	fqs_mark_processed(fqs_getint32(0, 1), fqs_getint64(0, 2),
					   fqs_getint64(0, 3), id, qid,
					   fqs_getint32(0, 5),
					   isnull ? NULL : &claimed_at, result, NULL);
	/* a claim slot freed up (max_claimed) */
	fqs_wake_at_commit(qid, FQS_STAGE_CONCURRENT, 1);
}

/*
 * fqs_commit(id, receipt, result)
 */
Datum
fqs_commit(PG_FUNCTION_ARGS)
{
	FqsCall		call;
	int64		id = fqs_arg_int64(fcinfo, 0, "id");
	int64		receipt = fqs_arg_int64(fcinfo, 1, "receipt");
	text	   *result = PG_ARGISNULL(2) ? NULL : PG_GETARG_TEXT_PP(2);

	fqs_call_begin(&call);
	commit_one(id, receipt, result);
	fqs_call_end(&call);
	PG_RETURN_VOID();
}

/*
 * fqs_commit(ids[], receipts[], results[]): many in one call, all or
 * nothing, key by key (see fqs_key_order).
 */
Datum
fqs_commit_many(PG_FUNCTION_ARGS)
{
	static FqsPlan kids = {
		"SELECT id, kid FROM fqs.ready WHERE id = ANY ($1) ORDER BY id",
		1, {INT8ARRAYOID}, NULL
	};
	FqsCall		call;
	FqsIdArgs	a;
	int		   *order;
	int			k;

	fqs_id_array_args(fcinfo, &a, 2, "results");
	fqs_call_begin(&call);
	order = fqs_key_order(&a, &kids);
	for (k = 0; k < a.n; k++)
	{
		int			i = order[k];

		MemoryContextReset(a.cxt);
		MemoryContextSwitchTo(a.cxt);
		commit_one(a.ids[i], a.receipts[i],
				   a.texts && !a.tnulls[i] ? DatumGetTextPP(a.texts[i]) : NULL);
	}
	MemoryContextSwitchTo(a.caller);
	fqs_call_end(&call);
	PG_RETURN_VOID();
}

/*
 * Fail one claimed message of either stage; the caller has begun an API
 * call.  Returns "retry" or "dead".
 */
static const char *
fail_one(int64 id, int64 receipt, Datum err, Interval *after)
{
	static FqsPlan find = {
		"SELECT r.attempt, q.max_attempts, r.qid FROM fqs.ready r "
		"  JOIN fqs.queue q ON q.qid = r.qid "
		" WHERE r.id = $1 AND r.receipt = $2 "
		"   FOR UPDATE OF r",
		2, {INT8OID, INT8OID}, NULL
	};
	static FqsPlan kill = {
		"WITH g AS (DELETE FROM fqs.ready WHERE id = $1 "
		"           RETURNING id, qid, kid, seq, gen, attempt) "
		"INSERT INTO fqs.dead "
		"  (id, qid, kid, seq, gen, stage, attempts, last_error, died_at) "
		"SELECT id, qid, kid, seq, gen, 'concurrent', attempt, $2, "
		"       pg_catalog.clock_timestamp() FROM g",
		2, {INT8OID, TEXTOID}, NULL
	};
	static FqsPlan retry = {
		"UPDATE fqs.ready SET lease_until = NULL, receipt = 0, "
		"       visible_at = pg_catalog.clock_timestamp() + $2, last_error = $3 "
		" WHERE id = $1 RETURNING priority, visible_at",
		3, {INT8OID, INTERVALOID, TEXTOID}, NULL
	};
	Datum		v[3];
	const char *outcome;
	bool		isnull;

	fqs_check_receipt(receipt);
	v[0] = Int64GetDatum(id);
	v[1] = Int64GetDatum(receipt);
	if (fqs_exec(&find, v, NULL, 0) == 1)
	{
		int32		attempt = fqs_getint32(0, 1);
		int32		max_attempts = fqs_getint32(0, 2);
		int32		qid = fqs_getint32(0, 3);

		fqs_check_right(qid, FQS_RIGHT_CONSUME, NULL);
		fqs_scan_touched(qid);
		fqs_breaker_event(qid, FQS_STAGE_CONCURRENT, false, 1);
		fqs_metric_add(qid, FQS_M_FAILED, 1);

		if (attempt >= max_attempts)
		{
			v[1] = err;
			fqs_exec(&kill, v, NULL, 0);
			fqs_metric_add(qid, FQS_M_DEAD, 1);
			outcome = "dead";
		}
		else
		{
			v[1] = IntervalPGetDatum(after ? after : fqs_backoff(attempt));
			v[2] = err;
			fqs_exec(&retry, v, NULL, 0);
			{
				TimestampTz vis = DatumGetTimestampTz(fqs_getdatum(0, 2, &isnull));

				fqs_scan_added(qid, fqs_getint32(0, 1), id, vis, vis);
			}
			fqs_ready_added_at_commit(qid, 1);
			fqs_wake_at_commit(qid, FQS_STAGE_CONCURRENT, 1);
			outcome = "retry";
		}
	}
	else if (!fqs_seq_fail(id, receipt, err, after, &outcome))
		claim_diagnose(id, receipt, true);
	return outcome;
}

/* The error argument of fqs_fail: not null, not too long. */
static Datum
fail_error_arg(FunctionCallInfo fcinfo, int argno)
{
	Datum		err;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("error must not be null"),
				 errhint("Say why the message failed; it is kept as the message's last error.")));
	err = PointerGetDatum(PG_GETARG_TEXT_PP(argno));
	fqs_check_reason((text *) DatumGetPointer(err), "error");
	return err;
}

/*
 * fqs_fail(id, receipt, error, retry_after): 'retry' or 'dead'.
 */
Datum
fqs_fail(PG_FUNCTION_ARGS)
{
	FqsCall		call;
	int64		id = fqs_arg_int64(fcinfo, 0, "id");
	int64		receipt = fqs_arg_int64(fcinfo, 1, "receipt");
	Interval   *after = fqs_check_interval(fcinfo, 3, "retry_after", true,
										   fqs_max_delay_s, "fqs.max_delay");
	Datum		err = fail_error_arg(fcinfo, 2);
	const char *outcome;

	fqs_call_begin(&call);
	outcome = fail_one(id, receipt, err, after);
	fqs_call_end(&call);
	PG_RETURN_TEXT_P(cstring_to_text(outcome));
}

/*
 * fqs_fail(ids[], receipts[], error, retry_after): the outcome of each, in
 * array order; all or nothing.  Worked through key by key, like the other
 * array calls (fqs_key_order).
 */
Datum
fqs_fail_many(PG_FUNCTION_ARGS)
{
	static FqsPlan kids = {
		"SELECT id, kid FROM fqs.ready WHERE id = ANY ($1) "
		"UNION ALL "
		"SELECT id, kid FROM fqs.processed WHERE id = ANY ($1) "
		"ORDER BY 1",
		1, {INT8ARRAYOID}, NULL
	};
	FqsCall		call;
	FqsIdArgs	a;
	Interval   *after = fqs_check_interval(fcinfo, 3, "retry_after", true,
										   fqs_max_delay_s, "fqs.max_delay");
	Datum		err = fail_error_arg(fcinfo, 2);
	Datum	   *out;
	int		   *order;
	int			k;

	fqs_id_array_args(fcinfo, &a, -1, NULL);
	out = palloc(sizeof(Datum) * Max(a.n, 1));
	fqs_call_begin(&call);
	order = fqs_key_order(&a, &kids);
	for (k = 0; k < a.n; k++)
	{
		const char *outcome;
		int			i = order[k];

		MemoryContextReset(a.cxt);
		MemoryContextSwitchTo(a.cxt);
		outcome = fail_one(a.ids[i], a.receipts[i], err, after);
		MemoryContextSwitchTo(a.caller);
		out[i] = CStringGetTextDatum(outcome);
	}
	fqs_call_end(&call);
	PG_RETURN_ARRAYTYPE_P(construct_array(out, a.n, TEXTOID, -1, false,
										  TYPALIGN_INT));
}

/*
 * fqs_extend_lease(id, receipt, lease): the new lease end.
 */
Datum
fqs_extend_lease(PG_FUNCTION_ARGS)
{
	FqsCall		call;
	static FqsPlan plan = {
		"UPDATE fqs.ready SET lease_until = pg_catalog.clock_timestamp() + $3 "
		" WHERE id = $1 AND receipt = $2 "
		"RETURNING lease_until, qid",
		3, {INT8OID, INT8OID, INTERVALOID}, NULL
	};
	int64		id = fqs_arg_int64(fcinfo, 0, "id");
	int64		receipt = fqs_arg_int64(fcinfo, 1, "receipt");
	Interval   *lease = fqs_check_interval(fcinfo, 2, "lease", false,
										   fqs_max_lease_s, "fqs.max_lease");
	Datum		v[3];
	Datum		until;
	bool		isnull;
	int32		qid;

	fqs_check_receipt(receipt);
	if (lease == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("lease must not be null")));
	fqs_call_begin(&call);
	v[0] = Int64GetDatum(id);
	v[1] = Int64GetDatum(receipt);
	v[2] = IntervalPGetDatum(lease);
	if (fqs_exec(&plan, v, NULL, 0) == 1)
		fqs_scan_leased(fqs_getint32(0, 2),
						DatumGetTimestampTz(fqs_getdatum(0, 1, &isnull)));
	else if (!fqs_seq_extend(id, receipt, lease))
		claim_diagnose(id, receipt, true);
	/* a refusal rolls the extension back */
	qid = fqs_getint32(0, 2);
	fqs_check_right(qid, FQS_RIGHT_CONSUME, NULL);
	until = fqs_getdatum(0, 1, &isnull);
	until = SPI_datumTransfer(until, true, sizeof(TimestampTz));
	/* a queue that is moving lets leases end: no extensions */
	fqs_refuse_moving(qid, NULL);
	fqs_call_end(&call);
	PG_RETURN_DATUM(until);
}
