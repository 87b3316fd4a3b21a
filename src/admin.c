/*-------------------------------------------------------------------------
 *
 * admin.c
 *	  Queue administration: create, alter, drop, pause, resume, and the
 *	  rotation of message generations.
 *
 * Queue names are data (fqs.queue.name) keyed by a surrogate qid; they
 * never become part of SQL text or of a table name.
 *
 * Copyright (c) 2026, fqs developers
 *
 * IDENTIFICATION
 *	  src/admin.c
 *
 *-------------------------------------------------------------------------
 */
#include "fqs.h"

#include "catalog/pg_type.h"
#include "catalog/namespace.h"
#include "access/xact.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/guc.h"
#include "utils/resowner.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

PG_FUNCTION_INFO_V1(fqs_create_queue);
PG_FUNCTION_INFO_V1(fqs_alter_queue);
PG_FUNCTION_INFO_V1(fqs_drop_queue);
PG_FUNCTION_INFO_V1(fqs_move_begin);
PG_FUNCTION_INFO_V1(fqs_pause);
PG_FUNCTION_INFO_V1(fqs_resume);
PG_FUNCTION_INFO_V1(fqs_rotate);

#define FQS_GENERATIONS 4

/* Queue settings as given to create or alter; has_* false = not given. */
typedef struct QueueOpts
{
	bool		has_max_ready;
	int32		max_ready;
	Interval   *lease;
	bool		has_max_attempts;
	int32		max_attempts;
	bool		has_priority;
	int32		priority;
	bool		has_max_claimed;
	int32		max_claimed;
	bool		has_failure_threshold;
	int32		failure_threshold;
	Interval   *failure_cooldown;
} QueueOpts;

/*
 * Read and check arguments 1..7 (max_ready, lease, max_attempts, priority,
 * max_claimed, failure_threshold, failure_cooldown).  For alter, max_ready
 * -1 resets to the default and max_claimed 0 removes the cap; for both,
 * failure_threshold 0 means no failure breaker.
 */
static void
admin_read_opts(FunctionCallInfo fcinfo, QueueOpts *o, bool alter)
{
	memset(o, 0, sizeof(*o));
	if (!PG_ARGISNULL(1))
	{
		o->has_max_ready = true;
		o->max_ready = PG_GETARG_INT32(1);
		if (o->max_ready < (alter ? -1 : 0))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 alter ? errmsg("max_ready must be -1, zero or positive") :
					 errmsg("max_ready must be zero or positive"),
					 alter ? errhint("Use -1 to return to the default of fqs.max_ready.") : 0));
	}
	o->lease = fqs_check_interval(fcinfo, 2, "lease", false,
								  fqs_max_lease_s, "fqs.max_lease");
	if (!PG_ARGISNULL(3))
	{
		o->has_max_attempts = true;
		o->max_attempts = PG_GETARG_INT32(3);
		if (o->max_attempts < 1)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("max_attempts must be at least 1")));
	}
	if (!PG_ARGISNULL(4))
	{
		o->has_priority = true;
		o->priority = PG_GETARG_INT32(4);
	}
	if (!PG_ARGISNULL(5))
	{
		o->has_max_claimed = true;
		o->max_claimed = PG_GETARG_INT32(5);
		if (o->max_claimed < (alter ? 0 : 1))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 alter ? errmsg("max_claimed must be zero or positive") :
					 errmsg("max_claimed must be at least 1"),
					 alter ? errhint("Use 0 to remove the limit.") :
					 errhint("Leave it NULL for no limit.")));
	}
	if (!PG_ARGISNULL(6))
	{
		o->has_failure_threshold = true;
		o->failure_threshold = PG_GETARG_INT32(6);
		if (o->failure_threshold < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("failure_threshold must be zero or positive"),
					 errhint("Use 0 for no failure breaker.")));
		if (o->failure_threshold > 0 && fqs_shared == NULL)
			ereport(WARNING,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("the failure breaker needs fqs in shared_preload_libraries"),
					 errdetail("Until the server starts with it, failures do not stop claims.")));
	}
	o->failure_cooldown = fqs_check_interval(fcinfo, 7, "failure_cooldown",
											 false, fqs_max_delay_s,
											 "fqs.max_delay");
}

/* Options 1..7 as statement parameters $2..$8 (NULL: not given). */
static void
admin_opts_params(QueueOpts *o, Datum *v, char *nulls)
{
	v[1] = Int32GetDatum(o->max_ready);
	nulls[1] = o->has_max_ready ? ' ' : 'n';
	v[2] = o->lease ? IntervalPGetDatum(o->lease) : (Datum) 0;
	nulls[2] = o->lease ? ' ' : 'n';
	v[3] = Int32GetDatum(o->max_attempts);
	nulls[3] = o->has_max_attempts ? ' ' : 'n';
	v[4] = Int32GetDatum(o->priority);
	nulls[4] = o->has_priority ? ' ' : 'n';
	v[5] = Int32GetDatum(o->max_claimed);
	nulls[5] = o->has_max_claimed ? ' ' : 'n';
	v[6] = Int32GetDatum(o->failure_threshold);
	nulls[6] = o->has_failure_threshold ? ' ' : 'n';
	v[7] = o->failure_cooldown ? IntervalPGetDatum(o->failure_cooldown) : (Datum) 0;
	nulls[7] = o->failure_cooldown ? ' ' : 'n';
}

Datum
fqs_create_queue(PG_FUNCTION_ARGS)
{
	FqsCall		call;
	static FqsPlan plan = {
		"INSERT INTO fqs.queue "
		"  (name, max_ready, lease, max_attempts, priority, max_claimed, "
		"   failure_threshold, failure_cooldown) "
		"VALUES ($1, $2, COALESCE($3, interval '30 seconds'), "
		"        COALESCE($4, 5), COALESCE($5, 0), $6, "
		"        CASE WHEN $7 > 0 THEN $7 END, "
		"        COALESCE($8, interval '30 seconds')) "
		"ON CONFLICT (name) DO NOTHING RETURNING qid",
		8, {TEXTOID, INT4OID, INTERVALOID, INT4OID, INT4OID, INT4OID,
		INT4OID, INTERVALOID}, NULL
	};
	char	   *name = fqs_check_queue_name(fcinfo, 0);
	QueueOpts	o;
	Datum		v[8];
	char		nulls[8] = "        ";

	if (strcmp(name, "*") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_NAME),
				 errmsg("queue name \"*\" is reserved"),
				 errdetail("fqs_grant() and fqs_revoke() use it for every queue.")));
	admin_read_opts(fcinfo, &o, false);
	v[0] = CStringGetTextDatum(name);
	admin_opts_params(&o, v, nulls);

	fqs_call_begin(&call);
	fqs_check_right(0, FQS_RIGHT_ALL, "*");
	if (fqs_exec(&plan, v, nulls, 0) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("queue \"%s\" already exists", name)));
	/* a queue id seen before belonged to a dropped extension's queue */
	fqs_metrics_forget(fqs_getint32(0, 1));
	fqs_call_end(&call);
	PG_RETURN_VOID();
}

Datum
fqs_alter_queue(PG_FUNCTION_ARGS)
{
	FqsCall		call;
	static FqsPlan plan = {
		"UPDATE fqs.queue SET "
		"  max_ready = CASE WHEN $2 IS NULL THEN max_ready "
		"                   WHEN $2 < 0 THEN NULL ELSE $2 END, "
		"  lease = COALESCE($3, lease), "
		"  max_attempts = COALESCE($4, max_attempts), "
		"  priority = COALESCE($5, priority), "
		"  max_claimed = CASE WHEN $6 IS NULL THEN max_claimed "
		"                     WHEN $6 = 0 THEN NULL ELSE $6 END, "
		"  failure_threshold = CASE WHEN $7 IS NULL THEN failure_threshold "
		"                           WHEN $7 = 0 THEN NULL ELSE $7 END, "
		"  failure_cooldown = COALESCE($8, failure_cooldown) "
		"WHERE name = $1 RETURNING qid",
		8, {TEXTOID, INT4OID, INTERVALOID, INT4OID, INT4OID, INT4OID,
		INT4OID, INTERVALOID}, NULL
	};
	char	   *name = fqs_check_queue_name(fcinfo, 0);
	QueueOpts	o;
	Datum		v[8];
	char		nulls[8] = "        ";
	int32		qid;

	admin_read_opts(fcinfo, &o, true);
	v[0] = CStringGetTextDatum(name);
	admin_opts_params(&o, v, nulls);

	fqs_call_begin(&call);
	if (fqs_exec(&plan, v, nulls, 0) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("queue \"%s\" does not exist", name)));
	qid = fqs_getint32(0, 1);
	/* a refusal rolls the change back */
	fqs_check_right(qid, FQS_RIGHT_ALL, name);
	fqs_refuse_moving(qid, name);
	/* new failure breaker settings start from a closed breaker */
	if (o.has_failure_threshold || o.failure_cooldown)
		fqs_breaker_close(qid, "its settings changed");
	/* new limits: claimers and the mover look again */
	fqs_wake_at_commit(qid, FQS_STAGE_CONCURRENT, 0);
	fqs_wake_at_commit(qid, FQS_STAGE_SEQUENTIAL, 0);
	fqs_call_end(&call);
	PG_RETURN_VOID();
}

Datum
fqs_drop_queue(PG_FUNCTION_ARGS)
{
	FqsCall		call;
	static FqsPlan busy = {
		"SELECT EXISTS (SELECT 1 FROM fqs.ready WHERE qid = $1) "
		"    OR EXISTS (SELECT 1 FROM fqs.dead WHERE qid = $1) "
		"    OR EXISTS (SELECT 1 FROM fqs.pen WHERE qid = $1) "
		"    OR EXISTS (SELECT 1 FROM fqs.key_head h "
		"                 JOIN fqs.message m ON m.kid = h.kid "
		"                  AND m.seq = h.head_seq + 1 "
		"                WHERE h.qid = $1)",
		1, {INT4OID}, NULL
	};
	static FqsPlan drop = {
		"WITH a AS (DELETE FROM fqs.ready WHERE qid = $1), "
		"b AS (DELETE FROM fqs.releasable WHERE qid = $1), "
		"c AS (DELETE FROM fqs.dead WHERE qid = $1), "
		"d AS (DELETE FROM fqs.pen WHERE qid = $1), "
		"e AS (DELETE FROM fqs.dedup WHERE qid = $1), "
		"f AS (DELETE FROM fqs.key_tail WHERE qid = $1), "
		"g AS (DELETE FROM fqs.key_head WHERE qid = $1), "
		"h AS (DELETE FROM fqs.message WHERE qid = $1), "
		"i AS (DELETE FROM fqs.processed WHERE qid = $1), "
		"j AS (DELETE FROM fqs.done WHERE qid = $1), "
		"k AS (DELETE FROM fqs.grants WHERE qid = $1) "
		"DELETE FROM fqs.queue WHERE qid = $1",
		1, {INT4OID}, NULL
	};
	static FqsPlan lock = {
		"SELECT qid FROM fqs.queue WHERE name = $1 FOR UPDATE",
		1, {TEXTOID}, NULL
	};
	static FqsPlan quiesce = {
		"SELECT (SELECT pg_catalog.count(*) FROM "
		"          (SELECT 1 FROM fqs.key_head WHERE qid = $1 FOR UPDATE) a), "
		"       (SELECT pg_catalog.count(*) FROM "
		"          (SELECT 1 FROM fqs.ready WHERE qid = $1 FOR UPDATE) b), "
		"       (SELECT pg_catalog.count(*) FROM "
		"          (SELECT 1 FROM fqs.releasable WHERE qid = $1 FOR UPDATE) c), "
		"       (SELECT pg_catalog.count(*) FROM "
		"          (SELECT 1 FROM fqs.pen WHERE qid = $1 FOR UPDATE) d), "
		"       (SELECT pg_catalog.count(*) FROM "
		"          (SELECT 1 FROM fqs.dead WHERE qid = $1 FOR UPDATE) e)",
		1, {INT4OID}, NULL
	};
	char	   *name = fqs_check_queue_name(fcinfo, 0);
	bool		force = PG_ARGISNULL(1) ? false : PG_GETARG_BOOL(1);
	Datum		v[1];
	bool		isnull;

	fqs_call_begin(&call);
	/* wait for enqueues in flight; later ones will not find the queue */
	fqs_lock_queue_name(name, AccessExclusiveLock);
	v[0] = CStringGetTextDatum(name);
	if (fqs_exec(&lock, v, NULL, 0) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("queue \"%s\" does not exist", name)));
	v[0] = fqs_getdatum(0, 1, &isnull);
	fqs_check_right(DatumGetInt32(v[0]), FQS_RIGHT_ALL, name);
	fqs_refuse_moving(DatumGetInt32(v[0]), name);
	/*
	 * Wait for commits, completes, claims and moves in flight on the queue
	 * (they hold these rows), so that the statements below, which start
	 * afterwards, see what they wrote; later ones wait for this drop and
	 * then find the queue gone.
	 */
	fqs_exec(&quiesce, v, NULL, 0);
	if (!force)
	{
		fqs_exec(&busy, v, NULL, 1);
		if (DatumGetBool(fqs_getdatum(0, 1, &isnull)))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_IN_USE),
					 errmsg("queue \"%s\" has unfinished messages", name),
					 errhint("Finish them first, or use fqs_drop_queue(queue, force => true) to discard them.")));
	}
	fqs_exec(&drop, v, NULL, 0);
	fqs_breaker_forget(DatumGetInt32(v[0]));
	fqs_scan_forget(DatumGetInt32(v[0]));
	fqs_metrics_forget(DatumGetInt32(v[0]));
	fqs_call_end(&call);
	PG_RETURN_VOID();
}

static void
admin_set_paused(FunctionCallInfo fcinfo, bool paused)
{
	FqsCall		call;
	static FqsPlan plan = {
		"UPDATE fqs.queue SET paused = $2 WHERE name = $1 RETURNING qid",
		2, {TEXTOID, BOOLOID}, NULL
	};
	char	   *name = fqs_check_queue_name(fcinfo, 0);
	Datum		v[2];
	int32		qid;

	v[0] = CStringGetTextDatum(name);
	v[1] = BoolGetDatum(paused);
	fqs_call_begin(&call);
	if (fqs_exec(&plan, v, NULL, 0) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("queue \"%s\" does not exist", name)));
	qid = fqs_getint32(0, 1);
	fqs_check_right(qid, FQS_RIGHT_ALL, name);
	fqs_refuse_moving(qid, name);
	if (!paused)
	{
		/* an operator who knows the destination is back */
		fqs_breaker_close(qid, "fqs_resume");
		/* waiting claimers of both stages look again */
		fqs_wake_at_commit(qid, FQS_STAGE_CONCURRENT, 0);
		fqs_wake_at_commit(qid, FQS_STAGE_SEQUENTIAL, 0);
	}
	fqs_call_end(&call);
}

Datum
fqs_pause(PG_FUNCTION_ARGS)
{
	admin_set_paused(fcinfo, true);
	PG_RETURN_VOID();
}

Datum
fqs_resume(PG_FUNCTION_ARGS)
{
	admin_set_paused(fcinfo, false);
	PG_RETURN_VOID();
}

/*
 * How long rotation waits for one of its locks, or for a row a claim or
 * commit in flight holds.  While it waits for a generation's tables, new
 * statements on the queue tables queue behind it, so this is also the
 * longest stall a rotation can cause.  It must stay below
 * deadlock_timeout: when a commit in flight waits for the generation rotation
 * holds while rotation waits for that commit's row, rotation gives up
 * first and the commit goes on.
 */
#define ROTATE_LOCK_TIMEOUT_MS	200

/*
 * The body of a rotation from generation "next" (the oldest) on, inside a
 * subtransaction: lock its tables, copy its unfinished messages forward
 * into generation cur, truncate it, and make it the current one.  Returns
 * the number of messages copied forward, or -1 when it was not done
 * (recently finished messages, without force).
 */
static int64
rotate_body(int32 cur, int32 next, bool force, Interval *retention)
{
	static FqsPlan recent = {
		"SELECT COALESCE((SELECT pg_catalog.max(done_at) FROM fqs.done "
		"                  WHERE gen = $1) >= pg_catalog.now() - $2, false)",
		2, {INT4OID, INTERVALOID}, NULL
	};
	/*
	 * Unfinished messages of the generation -- every one whose seq is past
	 * its key's head: ready, delayed, claimed, in the pen, processed, dead
	 * -- move to generation $2 with their payloads, results and dedup ids.
	 */
	static FqsPlan forward = {
		"WITH unf AS MATERIALIZED ("
		"  SELECT m.id FROM fqs.message m "
		"    JOIN fqs.key_head h ON h.kid = m.kid "
		"   WHERE m.gen = $1 AND m.seq > h.head_seq), "
		"mm AS (INSERT INTO fqs.message "
		"         (gen, id, qid, kid, seq, priority, enqueued_at, payload, headers) "
		"       SELECT $2, m.id, m.qid, m.kid, m.seq, m.priority, m.enqueued_at, "
		"              m.payload, m.headers "
		"         FROM fqs.message m "
		"        WHERE m.gen = $1 AND m.id IN (SELECT id FROM unf) "
		"       RETURNING id), "
		"pp AS (INSERT INTO fqs.processed "
		"         (gen, kid, seq, id, qid, attempts, claimed_at, committed_at, "
		"          result, skip_reason) "
		"       SELECT $2, p.kid, p.seq, p.id, p.qid, p.attempts, p.claimed_at, "
		"              p.committed_at, p.result, p.skip_reason "
		"         FROM fqs.processed p "
		"        WHERE p.gen = $1 AND p.id IN (SELECT id FROM unf)), "
		"r AS (UPDATE fqs.ready SET gen = $2 WHERE gen = $1), "
		"pn AS (UPDATE fqs.pen SET gen = $2 WHERE gen = $1), "
		"d AS (UPDATE fqs.dead SET gen = $2 WHERE gen = $1), "
		"dd AS (UPDATE fqs.dedup SET gen = $2 "
		"        WHERE gen = $1 AND id IN (SELECT id FROM unf)) "
		"SELECT pg_catalog.count(*) FROM mm",
		2, {INT4OID, INT4OID}, NULL
	};
	static FqsPlan advance = {
		"WITH d AS (DELETE FROM fqs.dedup WHERE gen = $1) "
		"UPDATE fqs.meta SET cur_gen = $1, gen_started_at = pg_catalog.now()",
		1, {INT4OID}, NULL
	};
	static const char *const tables[] = {"message", "processed", "done"};
	Oid			nsp = get_namespace_oid("fqs", false);
	Datum		v[2];
	bool		isnull;
	char		sql[256];
	char		timeout[32];
	int64		copied;
	int			guc_level;
	int			i;

	v[0] = Int32GetDatum(next);
	v[1] = IntervalPGetDatum(retention);
	fqs_exec(&recent, v, NULL, 1);
	if (!force && DatumGetBool(fqs_getdatum(0, 1, &isnull)))
		return -1;

	/* every wait below ends after ROTATE_LOCK_TIMEOUT_MS */
	guc_level = NewGUCNestLevel();
	snprintf(timeout, sizeof(timeout), "%d", ROTATE_LOCK_TIMEOUT_MS);
	(void) set_config_option("lock_timeout", timeout, PGC_SUSET,
							 PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);

	/* table names are built from a generation number, never from input */
	for (i = 0; i < (int) lengthof(tables); i++)
	{
		Oid			relid;

		snprintf(sql, sizeof(sql), "%s_%d", tables[i], next);
		relid = get_relname_relid(sql, nsp);
		if (!OidIsValid(relid))
			elog(ERROR, "fqs: table fqs.%s is missing", sql);
		LockRelationOid(relid, AccessExclusiveLock);
	}

	/*
	 * Holding the generation exclusively, nobody can write into it or read
	 * from it any more: what is unfinished now is all there is to copy.
	 */
	v[0] = Int32GetDatum(next);
	v[1] = Int32GetDatum(cur);
	/* the moved ready rows were locked meanwhile: claim scans start over */
	fqs_scan_reset(0);
	fqs_exec(&forward, v, NULL, 1);
	copied = fqs_getint64(0, 1);

	snprintf(sql, sizeof(sql),
			 "TRUNCATE fqs.message_%d, fqs.processed_%d, fqs.done_%d",
			 next, next, next);
	if (SPI_execute(sql, false, 0) < 0)
		elog(ERROR, "fqs: could not truncate generation %d", next);
	v[0] = Int32GetDatum(next);
	fqs_exec(&advance, v, NULL, 0);
	AtEOXact_GUC(true, guc_level);
	return copied;
}

/*
 * Start writing new messages to the next generation of the ring, after
 * copying its few unfinished messages forward and truncating it.  Unless
 * force, the current generation must be at least fqs.retention / 2 old and
 * nothing in the next one may have finished less than fqs.retention ago.
 * Returns the new generation, or -1 when nothing was rotated.  Old data
 * leaves by TRUNCATE, never row DELETE.  When the generation's tables or
 * rows stay locked for ROTATE_LOCK_TIMEOUT_MS (a long transaction on them,
 * pg_dump), the rotation is given up and tried again later; a waiting
 * claim holds no lock on them.  Called by fqs_rotate() and by the
 * background worker.
 */
int32
fqs_rotate_generation(bool force)
{
	/* the row is made by the first rotation (see the install script) */
	static FqsPlan init = {
		"INSERT INTO fqs.meta (onerow, cur_gen, gen_started_at) "
		"VALUES (true, 0, pg_catalog.now()) ON CONFLICT DO NOTHING",
		0, {InvalidOid}, NULL
	};
	static FqsPlan meta = {
		"SELECT cur_gen, pg_catalog.now() - gen_started_at >= $1 "
		"  FROM fqs.meta FOR UPDATE",
		1, {INTERVALOID}, NULL
	};
	Datum		v[1];
	bool		isnull;
	int32		cur;
	int32		next;
	int64		copied = -1;
	Interval	retention;
	Interval	half;
	MemoryContext oldcxt = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;

	/* intervals are computed here: no operator is left to resolve */
	memset(&retention, 0, sizeof(retention));
	retention.time = (int64) fqs_retention_s * USECS_PER_SEC;
	half = retention;
	half.time /= 2;
	fqs_exec(&init, NULL, NULL, 0);
	v[0] = IntervalPGetDatum(&half);
	fqs_exec(&meta, v, NULL, 0);
	cur = fqs_getint32(0, 1);
	next = (cur + 1) % FQS_GENERATIONS;
	if (!force && !DatumGetBool(fqs_getdatum(0, 2, &isnull)))
		return -1;

	/*
	 * A subtransaction, so that a lock wait that times out (or a deadlock)
	 * gives up this rotation only, not the caller's transaction.
	 */
	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcxt);
	PG_TRY();
	{
		copied = rotate_body(cur, next, force, &retention);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(oldcxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;
		if (edata->sqlerrcode != ERRCODE_LOCK_NOT_AVAILABLE &&
			edata->sqlerrcode != ERRCODE_T_R_DEADLOCK_DETECTED)
			ReThrowError(edata);
		ereport(NOTICE,
				(errmsg("fqs: generation %d is in use; not rotating now", next),
				 errdetail("%s", edata->message)));
		FreeErrorData(edata);
		return -1;
	}
	PG_END_TRY();

	if (copied < 0)
		return -1;
	if (copied > 0)
		ereport(LOG,
				(errmsg("fqs: rotation copied %lld unfinished messages forward from generation %d",
						(long long) copied, next)));
	return next;
}

/*
 * fqs_rotate(force): the new generation, or NULL when nothing rotated.
 */
Datum
fqs_rotate(PG_FUNCTION_ARGS)
{
	FqsCall		call;
	bool		force = PG_ARGISNULL(0) ? false : PG_GETARG_BOOL(0);
	int32		gen;

	fqs_call_begin(&call);
	fqs_check_right(0, FQS_RIGHT_ALL, "*");
	gen = fqs_rotate_generation(force);
	fqs_call_end(&call);
	if (gen < 0)
		PG_RETURN_NULL();
	PG_RETURN_INT32(gen);
}

/*
 * fqs.move_begin(queue, epoch) -> the queue's move state: the first step of
 * a move to another node (fqs_router_move_queue).  The queue refuses new
 * work from now on (QM001: enqueues, claims, lease extensions, settings),
 * while the leases given out finish or expire.  The queue's name lock is
 * taken exclusively first, so that every enqueue and claim that saw the
 * queue as it was has ended: none can add a lease once this commits.
 * Again with the same epoch, it changes nothing.
 */
Datum
fqs_move_begin(PG_FUNCTION_ARGS)
{
	FqsCall		call;
	static FqsPlan begin = {
		"UPDATE fqs.queue SET move_state = 'draining', move_epoch = $2 "
		" WHERE name = $1 AND move_state IS NULL RETURNING qid",
		2, {TEXTOID, INT4OID}, NULL
	};
	static FqsPlan state = {
		"SELECT qid, move_state, move_epoch FROM fqs.queue WHERE name = $1",
		1, {TEXTOID}, NULL
	};
	char	   *name = fqs_check_queue_name(fcinfo, 0);
	int32		epoch;
	Datum		v[2];
	bool		isnull;
	Datum		st;
	const char *result = "draining";

	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("epoch must not be null")));
	epoch = PG_GETARG_INT32(1);
	fqs_call_begin(&call);
	fqs_lock_queue_name(name, AccessExclusiveLock);
	v[0] = CStringGetTextDatum(name);
	v[1] = Int32GetDatum(epoch);
	if (fqs_exec(&state, v, NULL, 1) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("queue \"%s\" does not exist", name)));
	fqs_check_right(fqs_getint32(0, 1), FQS_RIGHT_ALL, name);
	st = fqs_getdatum(0, 2, &isnull);
	if (!isnull)
	{
		int32		cur = fqs_getint32(0, 3);

		if (cur != epoch)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("queue \"%s\" is already being moved (epoch %d, not %d)",
							name, cur, epoch),
					 errhint("Finish or abort that move first.")));
		if (strcmp(TextDatumGetCString(st), "moved") == 0)
			result = "moved";
	}
	else
		fqs_exec(&begin, v, NULL, 0);
	fqs_call_end(&call);
	PG_RETURN_TEXT_P(cstring_to_text(result));
}

