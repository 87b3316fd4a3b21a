/*-------------------------------------------------------------------------
 *
 * breaker.c
 *	  The failure breaker: a queue whose consumers keep failing stops
 *	  handing out work for a while, then lets one probe through.
 *
 * A queue created or altered with failure_threshold counts consecutive
 * failures -- fqs_fail() and leases that expired -- and a success
 * (fqs_commit, fqs_complete) resets the count.  Each stage has its own
 * count: in the usual pipeline one stage talks to the destination (the
 * sequential stage sends) while the other works locally (the concurrent
 * stage transforms), and the local stage's successes say nothing about the
 * destination.  When either stage's count reaches the threshold the
 * breaker opens: claims of the queue, in both stages, return nothing until
 * the cooldown has passed.  Then it is half-open: the next claim in the
 * stage that opened it takes the one probe token and claims at most one
 * message; other claims get nothing while the breaker is not closed.  A
 * success in that stage closes the breaker; a failure there (the probe's
 * own, or its lease expiring) opens it again with the cooldown doubled, up
 * to 32 times the setting.  Messages held back are not claimed, so they
 * spend no attempt.
 *
 * State.  One entry per queue that has a threshold, in a shared hash by
 * (database, qid), created by the first claim that sees the threshold.
 * Nothing here is durable: after a restart every breaker starts closed.
 * Without shared_preload_libraries there is no breaker at all.
 *
 * Events are applied when the transaction that caused them commits (a
 * rolled-back fqs_fail failed nothing), from a list kept in the
 * transaction's memory; a rolled-back subtransaction's events are
 * dropped.  The probe token is taken at claim time, so that two racing
 * claimers cannot both take it; a claim that takes it and claims nothing,
 * or whose (sub)transaction rolls back, gives it back.
 *
 * Locking: FqsShared->breaker_lock protects the hash's set of entries
 * (exclusive to add or remove one), each entry's fields its spinlock.  No
 * ereport while a spinlock is held: transitions are logged afterwards.
 *
 * Cost: a claim on a queue without a threshold does nothing here; with
 * one, a shared hash lookup.  Commits, completes and fails of queues
 * without a breaker cost one atomic read while no breaker exists in the
 * cluster, else a hash lookup.
 *
 * Copyright (c) 2026, fqs developers
 *
 * IDENTIFICATION
 *	  src/breaker.c
 *
 *-------------------------------------------------------------------------
 */
#include "fqs.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"

PG_FUNCTION_INFO_V1(fqs_failure_breaker);

/* The cooldown doubles after each failed probe, up to this factor. */
#define FQS_COOLDOWN_MAX_FACTOR	32

typedef enum FqsBreakerState
{
	FQS_BREAKER_CLOSED = 0,
	FQS_BREAKER_OPEN,
	FQS_BREAKER_HALF_OPEN
} FqsBreakerState;

typedef struct FqsBreaker
{
	FqsQueueKey key;
	slock_t		mutex;			/* protects everything below */
	NameData	name;			/* the queue's, for log messages */
	int32		threshold;		/* 0: off */
	int64		cooldown_ms;	/* the setting */
	int64		cur_cooldown_ms;	/* doubled after each failed probe */
	FqsBreakerState state;
	int			open_stage;		/* the stage whose failures opened it */
	int64		failures[2];	/* consecutive failures, per stage */
	int64		opens;			/* times opened since the entry exists */
	TimestampTz changed_at;		/* last transition */
	TimestampTz open_until;		/* open: when it becomes half-open */
	bool		probe_out;		/* half-open: the probe token is taken */
	uint64		probe_gen;		/* which taking of the token */
} FqsBreaker;

typedef struct FqsBreakerShared
{
	LWLock	   *lock;
	pg_atomic_uint32 nentries;	/* entries in the hash, any database */
} FqsBreakerShared;

static FqsBreakerShared *breaker_shared = NULL;
static HTAB *breaker_hash = NULL;

/* An event of the current transaction, applied at commit. */
typedef struct BreakerEvent
{
	int			level;			/* first: see fqs_pending_subxact */
	int32		qid;
	int			stage;
	bool		success;
	int64		count;			/* failures (success: 1) */
} BreakerEvent;

/* A probe token this transaction took, given back if it rolls back. */
typedef struct BreakerProbe
{
	int			level;			/* first: see fqs_pending_subxact */
	int32		qid;
	uint64		gen;
} BreakerProbe;

static List *pending_events = NIL;
static List *pending_probes = NIL;
static bool callbacks_registered = false;
static bool full_warning_given = false;

/* A transition to log once the spinlock is released. */
typedef struct BreakerLog
{
	FqsBreakerState from;
	FqsBreakerState to;
	NameData	name;
	int			stage;
	int64		failures;
	int64		cooldown_ms;
	const char *why;
} BreakerLog;

Size
fqs_breaker_shmem_size(void)
{
	return add_size(MAXALIGN(sizeof(FqsBreakerShared)),
					hash_estimate_size(fqs_max_queues, sizeof(FqsBreaker)));
}

/* From the shared memory startup hook, holding AddinShmemInitLock. */
void
fqs_breaker_shmem_init(LWLock *lock)
{
	bool		found;
	HASHCTL		info;

	breaker_shared = ShmemInitStruct("fqs failure breaker",
									 sizeof(FqsBreakerShared), &found);
	if (!found)
	{
		breaker_shared->lock = lock;
		pg_atomic_init_u32(&breaker_shared->nentries, 0);
	}
	memset(&info, 0, sizeof(info));
	info.keysize = sizeof(FqsQueueKey);
	info.entrysize = sizeof(FqsBreaker);
	breaker_hash = ShmemInitHash("fqs failure breakers", fqs_max_queues,
								 fqs_max_queues, &info,
								 HASH_ELEM | HASH_BLOBS);
}

static const char *
state_name(FqsBreakerState s)
{
	switch (s)
	{
		case FQS_BREAKER_CLOSED:
			return "closed";
		case FQS_BREAKER_OPEN:
			return "open";
		case FQS_BREAKER_HALF_OPEN:
			return "half_open";
	}
	return "?";
}

static void
log_transition(BreakerLog *l)
{
	if (l->to == FQS_BREAKER_OPEN)
		ereport(LOG,
				(errmsg("fqs: failure breaker of queue \"%s\" opened after %lld consecutive failures in the %s stage%s; claims pause for %.3f s",
						NameStr(l->name), (long long) l->failures,
						l->stage == FQS_STAGE_SEQUENTIAL ? "sequential" : "concurrent",
						l->from == FQS_BREAKER_HALF_OPEN ? " (the probe failed)" : "",
						l->cooldown_ms / 1000.0)));
	else if (l->to == FQS_BREAKER_HALF_OPEN)
		ereport(LOG,
				(errmsg("fqs: failure breaker of queue \"%s\" is half-open: one probe may be claimed in the %s stage",
						NameStr(l->name),
						l->stage == FQS_STAGE_SEQUENTIAL ? "sequential" : "concurrent")));
	else
		ereport(LOG,
				(errmsg("fqs: failure breaker of queue \"%s\" closed (%s)",
						NameStr(l->name), l->why)));
}

/* Record a transition; the caller holds b->mutex. */
static void
transition(FqsBreaker *b, FqsBreakerState to, TimestampTz now,
		   const char *why, BreakerLog *l)
{
	l->from = b->state;
	l->to = to;
	l->name = b->name;
	l->stage = b->open_stage;
	l->failures = b->failures[b->open_stage];
	l->why = why;
	b->state = to;
	b->changed_at = now;
	b->probe_out = false;
	if (to == FQS_BREAKER_OPEN)
	{
		b->open_until = now + b->cur_cooldown_ms * 1000;
		b->opens++;
	}
	else if (to == FQS_BREAKER_CLOSED)
	{
		b->failures[0] = b->failures[1] = 0;
		b->cur_cooldown_ms = b->cooldown_ms;
	}
	l->cooldown_ms = b->cur_cooldown_ms;
}

static FqsBreaker *
breaker_find(int32 qid)
{
	FqsQueueKey key;

	key = fqs_queue_key(qid);
	return hash_search(breaker_hash, &key, HASH_FIND, NULL);
}

static void
breaker_callbacks(void);

/*
 * May a claim in the given stage of queue q claim now, and how many?
 * Returns n, 1 when the claim is the half-open breaker's probe
 * (*probe_gen is set then, and the caller must call
 * fqs_breaker_probe_done), or 0 when the breaker holds claims back.
 * *until receives, while the breaker is open, when it will be half-open
 * (else 0).
 */
int32
fqs_breaker_admit(FqsQueue *q, int stage, int32 n, uint64 *probe_gen,
				  TimestampTz *until)
{
	FqsQueueKey key;
	FqsBreaker *b;
	bool		found;
	TimestampTz now;
	BreakerLog	l;
	bool		logit = false;
	int32		allowed = n;

	*probe_gen = 0;
	*until = 0;
	if (q->failure_threshold <= 0 || breaker_hash == NULL)
		return n;

	LWLockAcquire(breaker_shared->lock, LW_SHARED);
	b = breaker_find(q->qid);
	if (b == NULL)
	{
		LWLockRelease(breaker_shared->lock);
		LWLockAcquire(breaker_shared->lock, LW_EXCLUSIVE);
		key = fqs_queue_key(q->qid);
		b = hash_search(breaker_hash, &key, HASH_ENTER_NULL, &found);
		if (b == NULL)
		{
			LWLockRelease(breaker_shared->lock);
			if (!full_warning_given)
				ereport(WARNING,
						(errcode(ERRCODE_OUT_OF_MEMORY),
						 errmsg("the failure breaker of queue \"%s\" is off: no room in shared memory",
								q->name),
						 errhint("More than \"fqs.max_queues\" (%d) queues have a failure breaker; raise it.",
								 fqs_max_queues)));
			full_warning_given = true;
			return n;
		}
		if (!found)
		{
			SpinLockInit(&b->mutex);
			namestrcpy(&b->name, q->name);
			b->threshold = q->failure_threshold;
			b->cooldown_ms = q->failure_cooldown_ms;
			b->cur_cooldown_ms = q->failure_cooldown_ms;
			b->state = FQS_BREAKER_CLOSED;
			b->open_stage = FQS_STAGE_CONCURRENT;
			b->failures[0] = b->failures[1] = 0;
			b->opens = 0;
			b->changed_at = GetCurrentTimestamp();
			b->open_until = 0;
			b->probe_out = false;
			b->probe_gen = 0;
			pg_atomic_fetch_add_u32(&breaker_shared->nentries, 1);
		}
	}

	now = GetCurrentTimestamp();
	SpinLockAcquire(&b->mutex);
	/* settings changed by fqs_alter_queue reach the entry here */
	if (b->threshold != q->failure_threshold ||
		b->cooldown_ms != q->failure_cooldown_ms)
	{
		b->threshold = q->failure_threshold;
		if (b->cooldown_ms != q->failure_cooldown_ms)
		{
			b->cooldown_ms = q->failure_cooldown_ms;
			b->cur_cooldown_ms = q->failure_cooldown_ms;
		}
	}
	if (b->state == FQS_BREAKER_OPEN && now >= b->open_until)
	{
		transition(b, FQS_BREAKER_HALF_OPEN, now, NULL, &l);
		logit = true;
	}
	if (b->state == FQS_BREAKER_OPEN)
	{
		*until = b->open_until;
		allowed = 0;
	}
	else if (b->state == FQS_BREAKER_HALF_OPEN)
	{
		if (b->probe_out || stage != b->open_stage)
			allowed = 0;
		else
		{
			b->probe_out = true;
			*probe_gen = ++b->probe_gen;
			allowed = 1;
		}
	}
	SpinLockRelease(&b->mutex);
	LWLockRelease(breaker_shared->lock);
	if (logit)
		log_transition(&l);

	if (*probe_gen != 0)
	{
		BreakerProbe *p;
		MemoryContext old;

		breaker_callbacks();
		old = MemoryContextSwitchTo(TopTransactionContext);
		p = palloc(sizeof(BreakerProbe));
		p->qid = q->qid;
		p->gen = *probe_gen;
		p->level = GetCurrentTransactionNestLevel();
		pending_probes = lappend(pending_probes, p);
		MemoryContextSwitchTo(old);
	}
	return allowed;
}

/* Is queue qid's breaker open, its cooldown still running? */
bool
fqs_breaker_is_open(int32 qid)
{
	FqsBreaker *b;
	bool		open = false;

	if (breaker_hash == NULL)
		return false;
	LWLockAcquire(breaker_shared->lock, LW_SHARED);
	b = breaker_find(qid);
	if (b != NULL)
	{
		SpinLockAcquire(&b->mutex);
		open = (b->state == FQS_BREAKER_OPEN &&
				GetCurrentTimestamp() < b->open_until);
		SpinLockRelease(&b->mutex);
	}
	LWLockRelease(breaker_shared->lock);
	return open;
}

/* Give probe token gen of queue qid back, if it is still out. */
static void
probe_give_back(int32 qid, uint64 gen)
{
	FqsBreaker *b;

	LWLockAcquire(breaker_shared->lock, LW_SHARED);
	b = breaker_find(qid);
	if (b != NULL)
	{
		SpinLockAcquire(&b->mutex);
		if (b->state == FQS_BREAKER_HALF_OPEN && b->probe_out &&
			b->probe_gen == gen)
			b->probe_out = false;
		SpinLockRelease(&b->mutex);
	}
	LWLockRelease(breaker_shared->lock);
}

/*
 * The probe claim took token gen and claimed "claimed" messages: with
 * none, the token goes back at once.
 */
void
fqs_breaker_probe_done(int32 qid, uint64 gen, int claimed)
{
	ListCell   *lc;

	if (gen == 0 || claimed > 0)
		return;
	probe_give_back(qid, gen);
	foreach(lc, pending_probes)
	{
		BreakerProbe *p = (BreakerProbe *) lfirst(lc);

		if (p->qid == qid && p->gen == gen)
			pending_probes = foreach_delete_current(pending_probes, lc);
	}
}

/*
 * The current transaction had "count" failures (success: a success) in
 * the given stage of queue qid; applied when it commits.
 */
void
fqs_breaker_event(int32 qid, int stage, bool success, int64 count)
{
	BreakerEvent *e;
	MemoryContext old;
	bool		known;

	if (breaker_hash == NULL || count <= 0 ||
		pg_atomic_read_u32(&breaker_shared->nentries) == 0)
		return;
	LWLockAcquire(breaker_shared->lock, LW_SHARED);
	known = breaker_find(qid) != NULL;
	LWLockRelease(breaker_shared->lock);
	if (!known)
		return;

	breaker_callbacks();
	/* merge with the previous event when it is the same */
	if (pending_events != NIL)
	{
		e = (BreakerEvent *) llast(pending_events);
		if (e->qid == qid && e->stage == stage && e->success == success &&
			e->level == GetCurrentTransactionNestLevel())
		{
			if (!success)
				e->count += count;
			return;
		}
	}
	old = MemoryContextSwitchTo(TopTransactionContext);
	e = palloc(sizeof(BreakerEvent));
	e->qid = qid;
	e->stage = stage;
	e->success = success;
	e->count = success ? 1 : count;
	e->level = GetCurrentTransactionNestLevel();
	pending_events = lappend(pending_events, e);
	MemoryContextSwitchTo(old);
}

/* Apply the committed transaction's events, in their order. */
static void
apply_events(void)
{
	ListCell   *lc;
	TimestampTz now = GetCurrentTimestamp();

	foreach(lc, pending_events)
	{
		BreakerEvent *e = (BreakerEvent *) lfirst(lc);
		FqsBreaker *b;
		BreakerLog	l;
		bool		logit = false;

		LWLockAcquire(breaker_shared->lock, LW_SHARED);
		b = breaker_find(e->qid);
		if (b == NULL)
		{
			LWLockRelease(breaker_shared->lock);
			continue;
		}
		SpinLockAcquire(&b->mutex);
		if (e->success)
		{
			/* only the failing stage's success says the destination is back */
			if (b->state != FQS_BREAKER_CLOSED && e->stage == b->open_stage)
			{
				transition(b, FQS_BREAKER_CLOSED, now,
						   b->state == FQS_BREAKER_HALF_OPEN ?
						   "the probe succeeded" : "a message succeeded", &l);
				logit = true;
			}
			b->failures[e->stage] = 0;
		}
		else
		{
			b->failures[e->stage] += e->count;
			if (b->state == FQS_BREAKER_CLOSED && b->threshold > 0 &&
				b->failures[e->stage] >= b->threshold)
			{
				b->open_stage = e->stage;
				transition(b, FQS_BREAKER_OPEN, now, NULL, &l);
				logit = true;
			}
			else if (b->state == FQS_BREAKER_HALF_OPEN &&
					 e->stage == b->open_stage)
			{
				b->cur_cooldown_ms = Min(b->cur_cooldown_ms * 2,
										 b->cooldown_ms * FQS_COOLDOWN_MAX_FACTOR);
				transition(b, FQS_BREAKER_OPEN, now, NULL, &l);
				logit = true;
			}
		}
		SpinLockRelease(&b->mutex);
		LWLockRelease(breaker_shared->lock);
		if (logit)
			log_transition(&l);
	}
}

static void
breaker_xact_callback(XactEvent event, void *arg)
{
	ListCell   *lc;

	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
			if (pending_events != NIL && breaker_hash != NULL)
				apply_events();
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			foreach(lc, pending_probes)
			{
				BreakerProbe *p = (BreakerProbe *) lfirst(lc);

				probe_give_back(p->qid, p->gen);
			}
			break;
		default:
			break;
	}
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_PARALLEL_COMMIT ||
		event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT ||
		event == XACT_EVENT_PREPARE)
	{
		/* the lists lived in the transaction's memory */
		pending_events = NIL;
		pending_probes = NIL;
	}
}

static void
probe_drop(void *elem)
{
	BreakerProbe *p = (BreakerProbe *) elem;

	probe_give_back(p->qid, p->gen);
}

/* A rolled-back subtransaction failed nothing and gives its probes back. */
static void
breaker_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						 SubTransactionId parentSubid, void *arg)
{
	bool		commit = (event == SUBXACT_EVENT_COMMIT_SUB);

	if (event != SUBXACT_EVENT_ABORT_SUB && !commit)
		return;
	pending_events = fqs_pending_subxact(pending_events, commit, NULL);
	pending_probes = fqs_pending_subxact(pending_probes, commit, probe_drop);
}

static void
breaker_callbacks(void)
{
	if (callbacks_registered)
		return;
	RegisterXactCallback(breaker_xact_callback, NULL);
	RegisterSubXactCallback(breaker_subxact_callback, NULL);
	callbacks_registered = true;
}

/*
 * Close queue qid's breaker now (fqs_resume; fqs_alter_queue changing its
 * settings); "why" is logged when it was not closed.
 */
void
fqs_breaker_close(int32 qid, const char *why)
{
	FqsBreaker *b;
	BreakerLog	l;
	bool		logit = false;

	if (breaker_hash == NULL)
		return;
	LWLockAcquire(breaker_shared->lock, LW_SHARED);
	b = breaker_find(qid);
	if (b != NULL)
	{
		SpinLockAcquire(&b->mutex);
		if (b->state != FQS_BREAKER_CLOSED)
		{
			transition(b, FQS_BREAKER_CLOSED, GetCurrentTimestamp(), why, &l);
			logit = true;
		}
		b->failures[0] = b->failures[1] = 0;
		SpinLockRelease(&b->mutex);
	}
	LWLockRelease(breaker_shared->lock);
	if (logit)
		log_transition(&l);
}

/* Queue qid was dropped: forget its breaker. */
void
fqs_breaker_forget(int32 qid)
{
	FqsQueueKey key;
	bool		found;

	if (breaker_hash == NULL)
		return;
	key = fqs_queue_key(qid);
	LWLockAcquire(breaker_shared->lock, LW_EXCLUSIVE);
	(void) hash_search(breaker_hash, &key, HASH_REMOVE, &found);
	if (found)
		pg_atomic_fetch_sub_u32(&breaker_shared->nentries, 1);
	LWLockRelease(breaker_shared->lock);
}

/*
 * fqs.failure_breaker(qid, threshold): (state, consecutive_failures,
 * changed_at, opens, reopens_at) of the queue's breaker as seen now; all
 * NULL without shared memory or threshold.  consecutive_failures is the
 * larger of the two stages' counts.  A breaker open past its cooldown
 * shows as half_open, as the next claim will find it.
 */
Datum
fqs_failure_breaker(PG_FUNCTION_ARGS)
{
	int32		qid = PG_GETARG_INT32(0);
	bool		has_threshold = !PG_ARGISNULL(1) && PG_GETARG_INT32(1) > 0;
	TupleDesc	tupdesc;
	Datum		values[5];
	bool		nulls[5] = {true, true, true, true, true};
	FqsBreaker *b;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");

	if (has_threshold && breaker_hash != NULL)
	{
		FqsBreakerState state = FQS_BREAKER_CLOSED;
		int64		failures = 0;
		int64		opens = 0;
		TimestampTz changed_at = 0;
		TimestampTz open_until = 0;

		LWLockAcquire(breaker_shared->lock, LW_SHARED);
		b = breaker_find(qid);
		if (b != NULL)
		{
			SpinLockAcquire(&b->mutex);
			state = b->state;
			failures = Max(b->failures[0], b->failures[1]);
			opens = b->opens;
			changed_at = b->changed_at;
			open_until = b->open_until;
			SpinLockRelease(&b->mutex);
		}
		LWLockRelease(breaker_shared->lock);
		if (state == FQS_BREAKER_OPEN && GetCurrentTimestamp() >= open_until)
		{
			state = FQS_BREAKER_HALF_OPEN;
			changed_at = open_until;
		}
		values[0] = CStringGetTextDatum(state_name(state));
		nulls[0] = false;
		values[1] = Int64GetDatum(failures);
		nulls[1] = false;
		values[2] = TimestampTzGetDatum(changed_at);
		nulls[2] = (b == NULL);
		values[3] = Int64GetDatum(opens);
		nulls[3] = false;
		values[4] = TimestampTzGetDatum(open_until);
		nulls[4] = (state != FQS_BREAKER_OPEN);
	}
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
