/*-------------------------------------------------------------------------
 *
 * util.c
 *	  SPI plan cache, argument validation and queue lookup shared by every
 *	  fqs entry point.
 *
 * Validation happens before any statement runs, so bad input never
 * changes state: each check raises ERROR with a fitting SQLSTATE.
 *
 * Copyright (c) 2026, fqs developers
 *
 * IDENTIFICATION
 *	  src/util.c
 *
 *-------------------------------------------------------------------------
 */
#include "fqs.h"

#include "access/xact.h"
#include "common/hashfn.h"
#include "common/int.h"
#include "miscadmin.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "mb/pg_wchar.h"
#include "utils/array.h"
#include "utils/memutils.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"

/*
 * Run a kept plan, preparing it on first use.  Raises ERROR on any SPI
 * failure; returns SPI_processed, the rows in SPI_tuptable.
 *
 * Each statement sees the latest committed state of the queue tables,
 * whatever the caller's isolation level.  In READ COMMITTED, a
 * non-read-only SPI statement takes a fresh snapshot after a command
 * counter increment by itself.  REPEATABLE READ and SERIALIZABLE would
 * reuse the transaction snapshot, and the lock protocols in claim.c and
 * sequential.c, which decide in a statement that starts after a lock was
 * granted, would then decide on stale data (a key could stall for good).
 * So there the statement runs with the latest snapshot, as PostgreSQL's
 * own foreign-key checks do; a row changed by a transaction that is still
 * running when the statement locks it raises serialization_failure, as it
 * would in plain SQL.
 *
 * The previous statement's result table is freed first, so loops do not
 * accumulate them; a caller that needs a result across statements takes it
 * with fqs_take_tuptable() and frees it itself.  The caller's memory
 * context is kept (SPI would leave us in its procedure context, whose
 * allocations last until SPI_finish()).
 */
int
fqs_exec(FqsPlan *plan, Datum *values, const char *nulls, long count)
{
	MemoryContext caller = CurrentMemoryContext;
	int			rc;

	if (plan->plan == NULL)
	{
		/*
		 * Always the generic plan: the statements are written to stay
		 * index-driven under it, and a custom plan per call would cost more
		 * than the statement (the plan cache keeps choosing custom plans
		 * because the generic estimate for LIMIT $n grows with the table).
		 */
		SPIPlanPtr	p = SPI_prepare_cursor(plan->sql, plan->nargs,
										   plan->argtypes,
										   CURSOR_OPT_GENERIC_PLAN);

		if (p == NULL)
			elog(ERROR, "fqs: SPI_prepare failed (%s) for: %s",
				 SPI_result_code_string(SPI_result), plan->sql);
		if (SPI_keepplan(p) != 0)
			elog(ERROR, "fqs: SPI_keepplan failed");
		plan->plan = p;
	}
	if (SPI_tuptable != NULL)
	{
		SPI_freetuptable(SPI_tuptable);
		SPI_tuptable = NULL;
	}
	if (IsolationUsesXactSnapshot())
		rc = SPI_execute_snapshot(plan->plan, values, nulls,
								  GetLatestSnapshot(), InvalidSnapshot,
								  false, true, count);
	else
		rc = SPI_execute_plan(plan->plan, values, nulls, false, count);
	MemoryContextSwitchTo(caller);
	if (rc < 0)
		elog(ERROR, "fqs: SPI_execute_plan failed (%s) for: %s",
			 SPI_result_code_string(rc), plan->sql);
	return (int) SPI_processed;
}

/*
 * fqs_exec for a statement that must walk an index in its order from a
 * start position (the claim scans): planned without bitmap scans and
 * sorts, which would read every entry past the start, dead or alive, to
 * return a few rows.  Disabling adds a huge cost to the sort these
 * statements cannot avoid (the result's order), which would make the plan
 * look expensive enough to be JIT-compiled at every call: no JIT either.
 * Plans are made, or remade after an invalidation, inside the call, so the
 * settings hold for every planning of it.
 */
int
fqs_exec_ordered(FqsPlan *plan, Datum *values, const char *nulls, long count)
{
	int			level = NewGUCNestLevel();
	int			rc;

	(void) set_config_option("enable_bitmapscan", "off", PGC_USERSET,
							 PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	(void) set_config_option("enable_sort", "off", PGC_USERSET,
							 PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	(void) set_config_option("jit", "off", PGC_USERSET,
							 PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	rc = fqs_exec(plan, values, nulls, count);
	AtEOXact_GUC(true, level);
	return rc;
}

/*
 * Take the last statement's result table out of fqs_exec's hands: it stays
 * until the caller passes it to SPI_freetuptable() (or SPI_finish()).
 */
SPITupleTable *
fqs_take_tuptable(void)
{
	SPITupleTable *t = SPI_tuptable;

	SPI_tuptable = NULL;
	return t;
}

Datum
fqs_getdatum(int row, int col, bool *isnull)
{
	return SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc,
						 col, isnull);
}

int64
fqs_getint64(int row, int col)
{
	bool		isnull;
	Datum		d = fqs_getdatum(row, col, &isnull);

	return isnull ? 0 : DatumGetInt64(d);
}

int32
fqs_getint32(int row, int col)
{
	bool		isnull;
	Datum		d = fqs_getdatum(row, col, &isnull);

	return isnull ? 0 : DatumGetInt32(d);
}

/*
 * Queue names: 1..63 bytes, valid in the database encoding, no control
 * characters.  Returns the name as a C string.
 */
char *
fqs_check_queue_name(FunctionCallInfo fcinfo, int argno)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("queue name must not be null")));
	return fqs_check_queue_text(PG_GETARG_TEXT_PP(argno));
}

char *
fqs_check_queue_text(text *t)
{
	char	   *name;
	int			len;
	int			i;

	t = pg_detoast_datum_packed(t);
	len = VARSIZE_ANY_EXHDR(t);
	name = text_to_cstring(t);
	if (len == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_NAME),
				 errmsg("queue name must not be empty")));
	if (len >= NAMEDATALEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_NAME),
				 errmsg("queue name is too long (%d bytes)", len),
				 errdetail("Queue names are at most %d bytes.",
						   NAMEDATALEN - 1)));
	for (i = 0; i < len;)
	{
		unsigned char c = (unsigned char) name[i];
		int			l = pg_mblen(name + i);
		pg_wchar	u = c;

		if (GetDatabaseEncoding() == PG_UTF8 && l > 1)
			u = utf8_to_unicode((const unsigned char *) name + i);
		/* C0 and C1 controls, line separators, bidirectional overrides */
		if (u < 0x20 || (u >= 0x7f && u <= 0x9f) ||
			u == 0x2028 || u == 0x2029 ||
			(u >= 0x202a && u <= 0x202e) || (u >= 0x2066 && u <= 0x2069))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_NAME),
					 errmsg("queue name must not contain control characters")));
		i += l;
	}
	return name;
}

/*
 * Does fqs.queue have move_state (fqs 0.3)?  The library serves databases
 * whose extension is not updated yet.  Every enqueue and claim asks, so the
 * answer is kept per backend until fqs.queue's relcache entry is
 * invalidated (ALTER EXTENSION UPDATE adds the column; DROP EXTENSION
 * drops the table) or the relcache is reset.
 */
static Oid	move_state_rel = InvalidOid;
static bool move_state_known = false;
static bool move_state_has = false;

static void
move_state_inval(Datum arg, Oid relid)
{
	if (!OidIsValid(relid) || relid == move_state_rel)
		move_state_known = false;
}

bool
fqs_has_move_state(void)
{
	static bool registered = false;

	if (!registered)
	{
		CacheRegisterRelcacheCallback(move_state_inval, (Datum) 0);
		registered = true;
	}
	if (!move_state_known)
	{
		Oid			nsp = get_namespace_oid("fqs", true);
		Oid			rel = OidIsValid(nsp) ? get_relname_relid("queue", nsp) : InvalidOid;

		move_state_rel = rel;
		move_state_has = OidIsValid(rel) &&
			get_attnum(rel, "move_state") != InvalidAttrNumber;
		/* no fqs.queue (yet): ask again next time */
		move_state_known = OidIsValid(rel);
	}
	return move_state_has;
}

static void
queue_moving_error(const char *name, const char *state)
{
	ereport(ERROR,
			(errcode(ERRCODE_FQS_QUEUE_MOVED),
			 strcmp(state, "moved") == 0 ?
			 errmsg("queue \"%s\" has moved to another node", name) :
			 errmsg("queue \"%s\" is moving to another node", name),
			 errhint("Retry: once the move is done, fqs_router sends calls to the queue's new node.")));
}

/*
 * ERROR (QM001) when queue qid is moving or has moved (fqs_router): for
 * the calls that a move refuses but that do not look the queue up by name
 * (lease extensions, retries, skips, settings).  name may be NULL.
 */
void
fqs_refuse_moving(int32 qid, const char *name)
{
	static FqsPlan plan = {
		"SELECT name, move_state FROM fqs.queue WHERE qid = $1",
		1, {INT4OID}, NULL
	};
	Datum		v[1];
	bool		isnull;
	Datum		state;

	if (!fqs_has_move_state())
		return;
	v[0] = Int32GetDatum(qid);
	if (fqs_exec(&plan, v, NULL, 1) == 0)
		return;
	state = fqs_getdatum(0, 2, &isnull);
	if (!isnull)
		queue_moving_error(name ? name : TextDatumGetCString(fqs_getdatum(0, 1, &isnull)),
						   TextDatumGetCString(state));
}

/*
 * Find a queue by name; ERROR if there is none, or (QM001) if it is
 * moving to another node.  Also reads the current message generation,
 * which every enqueue needs.
 */
void
fqs_lookup_queue(const char *name, FqsQueue *q)
{
#define LOOKUP_SQL(state) \
		"SELECT q.qid, q.max_attempts, q.lease, q.paused, q.max_claimed, " \
		"       COALESCE(m.cur_gen, 0), q.priority, q.breaker_open, " \
		"       COALESCE(q.max_ready, $2), COALESCE(q.failure_threshold, 0), " \
		"       q.failure_cooldown, " state \
		"  FROM fqs.queue q LEFT JOIN fqs.meta m ON true WHERE q.name = $1"
	static FqsPlan plan = {LOOKUP_SQL("q.move_state"), 2, {TEXTOID, INT4OID}, NULL};
	/* a database whose fqs is older than 0.3 has no move_state yet */
	static FqsPlan plan02 = {LOOKUP_SQL("NULL::text"), 2, {TEXTOID, INT4OID}, NULL};
	Datum		v[2];
	bool		isnull;

	/*
	 * Hold the queue's name lock (shared) to the end of the transaction,
	 * as enqueues do: fqs_drop_queue and fqs.move_begin take it
	 * exclusively, so they wait for the claims and enqueues that saw the
	 * queue as it was.  A waiting claim gives it back while it sleeps
	 * (fqs_unlock_queue_name).
	 */
	fqs_lock_queue_name(name, AccessShareLock);
	v[0] = CStringGetTextDatum(name);
	v[1] = Int32GetDatum(fqs_default_max_ready);
	if (fqs_exec(fqs_has_move_state() ? &plan : &plan02, v, NULL, 1) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("queue \"%s\" does not exist", name),
				 errhint("Create it with fqs_create_queue().")));
	(void) fqs_getdatum(0, 12, &isnull);
	if (!isnull)
		queue_moving_error(name, TextDatumGetCString(fqs_getdatum(0, 12, &isnull)));
	q->qid = fqs_getint32(0, 1);
	q->max_attempts = fqs_getint32(0, 2);
	q->lease = *DatumGetIntervalP(fqs_getdatum(0, 3, &isnull));
	q->paused = DatumGetBool(fqs_getdatum(0, 4, &isnull));
	q->max_claimed = DatumGetInt32(fqs_getdatum(0, 5, &isnull));
	q->has_max_claimed = !isnull;
	q->cur_gen = fqs_getint32(0, 6);
	q->priority = fqs_getint32(0, 7);
	q->breaker_open = DatumGetBool(fqs_getdatum(0, 8, &isnull));
	q->max_ready = fqs_getint32(0, 9);
	q->claim_lock_held = false;
	q->name = name;
	q->breaker_until = 0;
	q->failure_threshold = fqs_getint32(0, 10);
	/* at least 1 ms, so that doubling it means something */
	q->failure_cooldown_ms =
		Max(fqs_interval_ms(DatumGetIntervalP(fqs_getdatum(0, 11, &isnull))), 1);
}

typedef struct KeyPos
{
	int64		kid;
	int			pos;
} KeyPos;

static int
keypos_cmp(const void *a, const void *b)
{
	const KeyPos *x = (const KeyPos *) a;
	const KeyPos *y = (const KeyPos *) b;

	if (x->kid != y->kid)
		return x->kid < y->kid ? -1 : 1;
	return x->pos - y->pos;
}

/*
 * The order in which an array call works through its messages: by key,
 * and within a key in array order.  Two array calls -- commits, completes
 * -- over messages of the same keys then lock the keys' rows in the same
 * order and cannot deadlock each other.  lookup is a statement
 * "SELECT id, kid FROM ... WHERE id = ANY ($1) ORDER BY id" (ids unique
 * in that table); ids it does not find come
 * first, so that the call fails on them before locking anything.  Returns
 * the array positions in that order, allocated in a->caller.
 */
int *
fqs_key_order(FqsIdArgs *a, FqsPlan *lookup)
{
	KeyPos	   *kp = MemoryContextAlloc(a->caller, sizeof(KeyPos) * Max(a->n, 1));
	int		   *order = MemoryContextAlloc(a->caller, sizeof(int) * Max(a->n, 1));
	Datum	   *idd = palloc(sizeof(Datum) * Max(a->n, 1));
	Datum		v[1];
	int			found;
	int			i;

	for (i = 0; i < a->n; i++)
	{
		idd[i] = Int64GetDatum(a->ids[i]);
		kp[i].kid = -1;
		kp[i].pos = i;
	}
	v[0] = PointerGetDatum(construct_array(idd, a->n, INT8OID, 8, true,
										   TYPALIGN_DOUBLE));
	found = fqs_exec(lookup, v, NULL, 0);
	/* the rows come ordered by id: find each position's by bisection */
	for (i = 0; i < a->n; i++)
	{
		int			lo = 0;
		int			hi = found - 1;

		while (lo <= hi)
		{
			int			mid = (lo + hi) / 2;
			int64		id = fqs_getint64(mid, 1);

			if (id == a->ids[i])
			{
				kp[i].kid = fqs_getint64(mid, 2);
				break;
			}
			if (id < a->ids[i])
				lo = mid + 1;
			else
				hi = mid - 1;
		}
	}
	qsort(kp, a->n, sizeof(KeyPos), keypos_cmp);
	for (i = 0; i < a->n; i++)
		order[i] = kp[i].pos;
	return order;
}

/* An interval in milliseconds (a month counts 30 days), at least 0. */
int64
fqs_interval_ms(Interval *iv)
{
	int64		ms = (iv->time +
				  ((int64) iv->month * DAYS_PER_MONTH + iv->day) * USECS_PER_DAY) / 1000;

	return Max(ms, 0);
}

/* The deadline of a wait argument; 0 for no wait. */
TimestampTz
fqs_wait_deadline(Interval *wait)
{
	int64		usecs;

	if (wait == NULL)
		return 0;
	usecs = wait->time + (int64) wait->day * USECS_PER_DAY;
	if (usecs <= 0)
		return 0;
	return GetCurrentTimestamp() + usecs;
}

/* The n argument of claims: 1..fqs.max_batch. */
int32
fqs_check_n(FunctionCallInfo fcinfo, int argno)
{
	int32		n;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("n must not be null")));
	n = PG_GETARG_INT32(argno);
	if (n <= 0 || n > fqs_max_batch)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("n must be between 1 and %d, not %d",
						fqs_max_batch, n),
				 errhint("fqs.max_batch sets the largest n.")));
	return n;
}

/*
 * An interval argument that must be positive (or >= 0), with no month
 * part, and at most max_s seconds (the setting named guc).  Returns NULL
 * when the argument is NULL.
 */
Interval *
fqs_check_interval(FunctionCallInfo fcinfo, int argno, const char *what,
				   bool allow_zero, int max_s, const char *guc)
{
	Interval   *iv;
	int64		usecs;

	if (PG_ARGISNULL(argno))
		return NULL;
	iv = PG_GETARG_INTERVAL_P(argno);
	if (iv->month != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must not contain months or years", what),
				 errhint("Use days, hours, minutes or seconds.")));
	/* a day is 24 hours here */
	if (pg_mul_s64_overflow((int64) iv->day, USECS_PER_DAY, &usecs) ||
		pg_add_s64_overflow(usecs, iv->time, &usecs))
		usecs = (iv->day < 0 || (iv->day == 0 && iv->time < 0)) ?
			PG_INT64_MIN : PG_INT64_MAX;
	if (usecs < 0 || (usecs == 0 && !allow_zero))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be %s", what,
						allow_zero ? "zero or positive" : "positive")));
	if (usecs > (int64) max_s * USECS_PER_SEC)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s is too long", what),
				 errdetail("%s is at most %d seconds.", guc, max_s),
				 errhint("A superuser can raise %s.", guc)));
	/* as plain time: a "day" never turns into 23 or 25 hours */
	iv = palloc0(sizeof(Interval));
	iv->time = usecs;
	return iv;
}

/*
 * A timestamptz argument for when a message becomes claimable: finite and
 * no later than fqs.max_delay from now.  Returns false when it is NULL.
 */
bool
fqs_check_deliver_at(FunctionCallInfo fcinfo, int argno)
{
	TimestampTz t;

	if (PG_ARGISNULL(argno))
		return false;
	t = PG_GETARG_TIMESTAMPTZ(argno);
	if (TIMESTAMP_NOT_FINITE(t))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("deliver_at must be finite"),
				 errhint("Leave it NULL to deliver at once.")));
	if (t > GetCurrentTimestamp() + (int64) fqs_max_delay_s * USECS_PER_SEC)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("deliver_at is too far in the future"),
				 errdetail("fqs.max_delay is %d seconds.", fqs_max_delay_s),
				 errhint("A superuser can raise fqs.max_delay.")));
	return true;
}

/*
 * A new message id from sequence value n: with fqs.node_id set, n shifted
 * left by FQS_NODE_BITS with the node's number in the low bits, so that ids
 * stay unique across nodes, ascend per node, and name their node.
 */
int64
fqs_node_tag(int64 n)
{
	if (fqs_node_id == 0)
		return n;
	if (n < 0 || n > (PG_INT64_MAX >> FQS_NODE_BITS))
		ereport(ERROR,
				(errcode(ERRCODE_SEQUENCE_GENERATOR_LIMIT_EXCEEDED),
				 errmsg("message id " INT64_FORMAT " is too large to carry a node number", n),
				 errdetail("With fqs.node_id set, message ids are at most " INT64_FORMAT ".",
						   PG_INT64_MAX >> FQS_NODE_BITS)));
	return (n << FQS_NODE_BITS) | fqs_node_id;
}

/* A bigint argument that must not be NULL. */
int64
fqs_arg_int64(FunctionCallInfo fcinfo, int argno, const char *what)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", what)));
	return PG_GETARG_INT64(argno);
}

/*
 * Take one of fqs's own locks (see FQS_LOCK_CLASSID) until the end of the
 * transaction.  With nowait, returns false when it is not free.
 */
bool
fqs_lock(int what, uint32 objid, LOCKMODE mode, bool nowait)
{
	LOCKTAG		tag;

	SET_LOCKTAG_OBJECT(tag, MyDatabaseId, FQS_LOCK_CLASSID, objid, what);
	return LockAcquire(&tag, mode, false, nowait) != LOCKACQUIRE_NOT_AVAIL;
}

/*
 * Lock a queue name: enqueues take it shared before they look the queue
 * up, fqs_drop_queue exclusively, so a drop waits for enqueues in flight
 * and an enqueue that waited sees the queue gone.  Two names that hash
 * alike only share the lock.
 */
void
fqs_lock_queue_name(const char *name, LOCKMODE mode)
{
	fqs_lock(FQS_LOCK_QUEUE_NAME,
			 hash_bytes((const unsigned char *) name, strlen(name)),
			 mode, false);
}

/* Give back one fqs_lock_queue_name (a waiting claim, before it sleeps). */
void
fqs_unlock_queue_name(const char *name, LOCKMODE mode)
{
	LOCKTAG		tag;

	SET_LOCKTAG_OBJECT(tag, MyDatabaseId, FQS_LOCK_CLASSID,
					   hash_bytes((const unsigned char *) name, strlen(name)),
					   FQS_LOCK_QUEUE_NAME);
	LockRelease(&tag, mode, false);
}

/*
 * A key's gate: a commit of one of the key's messages enters it shared
 * just before locking the key's fqs.key_head row FOR KEY SHARE, a
 * complete, retry or skip exclusively before FOR UPDATE, and each leaves
 * it as soon as the row lock is held.  The row locks alone let a stream of
 * commits starve a complete: a row-level share locker joins the others
 * without queueing behind a waiting FOR UPDATE, so on a busy key the
 * complete could wait forever -- and a transaction committing several keys
 * that needed a key the starved complete already held deadlocked with it
 * again on every retry.  The lock manager queues a shared request behind a
 * waiting exclusive one, and a complete holds the gate while it waits for
 * the row, so later commits wait for it.  The gate is held only that long,
 * so a transaction touching many keys holds no lock per key.  Keys whose
 * folded ids collide merely share a gate.
 *
 * A transaction that already holds the key's row lock in at least the
 * mode it asks for does not queue at the gate again: the others in the
 * queue may be waiting for that very row (the second message of a run
 * that one transaction completes, while a commit of the key waits for the
 * first).  gated_keys remembers, for the current transaction, the keys it
 * locked and how strongly.
 */
typedef struct GatedKey
{
	int64		kid;
	LOCKMODE	mode;
} GatedKey;

static HTAB *gated_keys = NULL;
static bool gate_callback_registered = false;

static void
gate_xact_callback(XactEvent event, void *arg)
{
	/* the hash lived in TopTransactionContext */
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_PARALLEL_COMMIT ||
		event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT ||
		event == XACT_EVENT_PREPARE)
		gated_keys = NULL;
}

static void
gate_tag(LOCKTAG *tag, int64 kid)
{
	SET_LOCKTAG_OBJECT(*tag, MyDatabaseId, FQS_LOCK_CLASSID,
					   (uint32) ((uint64) kid ^ ((uint64) kid >> 32)),
					   FQS_LOCK_KEY);
}

/* Enter a key's gate, unless this transaction is past it; true if entered. */
bool
fqs_key_gate_enter(int64 kid, LOCKMODE mode)
{
	LOCKTAG		tag;
	GatedKey   *g;

	if (gated_keys != NULL &&
		(g = hash_search(gated_keys, &kid, HASH_FIND, NULL)) != NULL &&
		g->mode >= mode)
		return false;
	gate_tag(&tag, kid);
	(void) LockAcquire(&tag, mode, false, false);
	return true;
}

/* Leave the gate once the row lock is held (entered: what enter said). */
void
fqs_key_gate_leave(int64 kid, LOCKMODE mode, bool entered)
{
	LOCKTAG		tag;
	GatedKey   *g;
	bool		found;

	if (entered)
	{
		gate_tag(&tag, kid);
		LockRelease(&tag, mode, false);
	}
	if (gated_keys == NULL)
	{
		HASHCTL		ctl;

		if (!gate_callback_registered)
		{
			RegisterXactCallback(gate_xact_callback, NULL);
			gate_callback_registered = true;
		}
		ctl.keysize = sizeof(int64);
		ctl.entrysize = sizeof(GatedKey);
		ctl.hcxt = TopTransactionContext;
		gated_keys = hash_create("fqs gated keys", 64, &ctl,
								 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	g = hash_search(gated_keys, &kid, HASH_ENTER, &found);
	if (!found || g->mode < mode)
		g->mode = mode;
}

/* A bigint[] argument: one-dimensional, no NULLs, at most fqs.max_batch. */
static int
util_int8_array(FunctionCallInfo fcinfo, int argno, const char *what,
				int64 **out)
{
	ArrayType  *arr;
	Datum	   *d;
	bool	   *nulls;
	int			n;
	int			i;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", what)));
	arr = PG_GETARG_ARRAYTYPE_P(argno);
	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("%s must be a one-dimensional array", what)));
	deconstruct_array(arr, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE,
					  &d, &nulls, &n);
	if (n > fqs_max_batch)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("%s has %d elements", what, n),
				 errdetail("fqs.max_batch is %d.", fqs_max_batch)));
	*out = palloc(sizeof(int64) * Max(n, 1));
	for (i = 0; i < n; i++)
	{
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("element %d of %s must not be null", i + 1, what)));
		(*out)[i] = DatumGetInt64(d[i]);
	}
	return n;
}

/*
 * The arguments of an array call: ids[], receipts[] and, when text_argno
 * is not negative, an optional texts[] of the same length (NULL elements
 * allowed).
 */
void
fqs_id_array_args(FunctionCallInfo fcinfo, FqsIdArgs *a, int text_argno,
				  const char *text_what)
{
	int			nr;

	memset(a, 0, sizeof(*a));
	a->n = util_int8_array(fcinfo, 0, "ids", &a->ids);
	nr = util_int8_array(fcinfo, 1, "receipts", &a->receipts);
	if (nr != a->n)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("receipts has %d elements but ids has %d", nr, a->n)));
	if (text_argno >= 0 && !PG_ARGISNULL(text_argno))
	{
		ArrayType  *arr = PG_GETARG_ARRAYTYPE_P(text_argno);
		int			nt;

		if (ARR_NDIM(arr) > 1)
			ereport(ERROR,
					(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
					 errmsg("%s must be a one-dimensional array", text_what)));
		deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT,
						  &a->texts, &a->tnulls, &nt);
		if (nt != a->n)
			ereport(ERROR,
					(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
					 errmsg("%s has %d elements but ids has %d",
							text_what, nt, a->n)));
	}
	a->caller = CurrentMemoryContext;
	a->cxt = AllocSetContextCreate(CurrentMemoryContext, "fqs array call",
								   ALLOCSET_SMALL_SIZES);
}

/* An error text or skip reason: at most FQS_MAX_REASON_BYTES. */
void
fqs_check_reason(text *t, const char *what)
{
	Size		len = VARSIZE_ANY_EXHDR(t);

	if (len > FQS_MAX_REASON_BYTES)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("%s is too long (%zu bytes)", what, len),
				 errdetail("It is at most %d bytes.", FQS_MAX_REASON_BYTES)));
}

void
fqs_check_receipt(int64 receipt)
{
	if (receipt <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid receipt " INT64_FORMAT, receipt),
				 errhint("Use the receipt returned by fqs_claim() or fqs_claim_sequential().")));
}

void
fqs_raise_message_unknown(int64 id)
{
	ereport(ERROR,
			(errcode(ERRCODE_NO_DATA_FOUND),
			 errmsg("message " INT64_FORMAT " does not exist", id)));
}

Datum
fqs_interval_datum(Interval *iv)
{
	return IntervalPGetDatum(iv);
}

/* Default retry delay after the attempt-th delivery failed. */
Interval *
fqs_backoff(int32 attempt)
{
	Interval   *iv = palloc0(sizeof(Interval));
	int64		ms = FQS_BACKOFF_BASE_MS;
	int			i;

	for (i = 1; i < attempt && ms < FQS_BACKOFF_MAX_MS; i++)
		ms *= 2;
	if (ms > FQS_BACKOFF_MAX_MS)
		ms = FQS_BACKOFF_MAX_MS;
	iv->time = ms * 1000;
	return iv;
}
