/*-------------------------------------------------------------------------
 *
 * shmem.c
 *	  fqs shared memory: background-worker slots and wake-up condition
 *	  variables.
 *
 * Nothing here is durable state: the tables are the truth, and everything
 * in shared memory can be lost at a crash without losing a message.
 *
 * Wake-ups.  A claimer that finds nothing and was given a wait sleeps on a
 * ConditionVariable chosen by hashing (database, queue, stage) into a
 * fixed array, plus one per database for fqs_claim_any.  Code that makes
 * something claimable records the wake, with how many messages (or keys)
 * it made claimable, in a backend-local list, and a transaction callback
 * acts on the list at COMMIT, after the transaction became visible, so a
 * woken claimer's next snapshot sees it.  Aborted transactions wake
 * nobody.  A claimer prepares to sleep before it looks, so a wake between
 * its look and its sleep is not lost.
 *
 * Wake one, not all: a commit that made n things claimable signals n
 * sleepers rather than broadcasting, so that eight claimers waiting on a
 * queue do not all run a claim for one message.  That is only right while
 * every sleeper on the variable waits for the same (database, queue,
 * stage); each slot counts its claimers and remembers whose they are, and
 * a claimer that joins a slot another queue's claimers use marks it mixed
 * and broadcasts once (a signal already sent may have gone to it).  A
 * mixed slot is broadcast, as is any wake for a change that is not n new
 * messages (n = 0: resume, new settings) or for at least as many as wait.
 * The mark goes when the slot empties.  A signal that reaches a claimer
 * leaving anyway is passed on by ConditionVariableCancelSleep.
 *
 * Each wake slot also counts events; the worker reads the counts to skip
 * queues that saw no enqueue since its last look.
 *
 * Ready depth.  An enqueue decides by itself whether its messages go to
 * the ready set or to the holding pen, from an estimate of the queue's
 * ready depth kept in a shared hash by (database, queue): the depth the
 * worker last counted (base), plus the messages made ready by commits
 * since (added - mark).  Commits that make messages ready -- enqueues, the
 * mover, requeued leases, retries -- add to "added" from their commit
 * callback; claims subtract nothing, so the estimate never falls below the
 * truth between two counts, except by what concurrent enqueues have in
 * flight and by delayed messages that fell due.  The worker reads "added"
 * before its count's snapshot, so commits in between are counted twice,
 * never missed.
 *
 * Locking: FqsShared->lock (the "fqs" tranche) protects the worker slots;
 * FqsShared->depth_lock the depth hash's set of entries, each entry's
 * base and mark its spinlock, "added" is atomic.  The condition variables
 * and event counters need no lock.
 *
 * Copyright (c) 2026, fqs developers
 *
 * IDENTIFICATION
 *	  src/shmem.c
 *
 *-------------------------------------------------------------------------
 */
#include "fqs.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "common/hashfn.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/wait_event.h"

FqsShared  *fqs_shared = NULL;

typedef struct FqsDepth
{
	FqsQueueKey key;
	slock_t		mutex;			/* protects base and mark */
	bool		valid;			/* base and mark are set */
	int64		base;			/* ready depth the worker counted */
	uint64		mark;			/* "added" before that count */
	pg_atomic_uint64 added;		/* messages made ready by commits */
} FqsDepth;

static HTAB *fqs_depth_hash = NULL;

/* (qid, n) made ready by the current transaction, added at commit */
typedef struct PendingAdd
{
	int			level;			/* first: see fqs_pending_subxact */
	int32		qid;
	int64		n;
} PendingAdd;
static List *pending_adds = NIL;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

/* wakes to send when the current transaction commits */
#define FQS_MAX_PENDING_WAKES 32
typedef struct PendingWake
{
	int			slot;
	int64		n;				/* things made claimable; 0: wake all */
} PendingWake;
static PendingWake pending_wakes[FQS_MAX_PENDING_WAKES];
static int	n_pending_wakes = 0;
/* the wake slot this backend's claimer counts itself in, or -1 */
static int	my_wait_slot = -1;
static bool pending_overflow = false;
static bool pending_poke = false;
static bool xact_callback_registered = false;
static bool polling_notice_given = false;

static Size
fqs_shmem_size(void)
{
	return add_size(add_size(offsetof(FqsShared, slots),
							 mul_size(fqs_max_databases, sizeof(FqsWorkerSlot))),
					add_size(add_size(hash_estimate_size(fqs_max_queues,
														 sizeof(FqsDepth)),
									  fqs_breaker_shmem_size()),
							 add_size(add_size(fqs_scan_shmem_size(),
											   fqs_tail_shmem_size()),
									  fqs_metrics_shmem_size())));
}

static void
fqs_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(fqs_shmem_size());
	RequestNamedLWLockTranche("fqs", 5);
}

static void
fqs_shmem_startup(void)
{
	bool		found;
	int			i;
	HASHCTL		info;
	Size		size = add_size(offsetof(FqsShared, slots),
								mul_size(fqs_max_databases,
										 sizeof(FqsWorkerSlot)));

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	/* the postmaster may be reinitialising after a crash */
	fqs_shared = NULL;
	fqs_depth_hash = NULL;
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	fqs_shared = ShmemInitStruct("fqs", size, &found);
	if (!found)
	{
		memset(fqs_shared, 0, size);
		fqs_shared->lock = &(GetNamedLWLockTranche("fqs"))[0].lock;
		fqs_shared->depth_lock = &(GetNamedLWLockTranche("fqs"))[1].lock;
		fqs_shared->breaker_lock = &(GetNamedLWLockTranche("fqs"))[2].lock;
		fqs_shared->scan_lock = &(GetNamedLWLockTranche("fqs"))[3].lock;
		fqs_shared->metrics_lock = &(GetNamedLWLockTranche("fqs"))[4].lock;
		fqs_shared->nslots = fqs_max_databases;
		for (i = 0; i < FQS_WAKE_SLOTS; i++)
		{
			ConditionVariableInit(&fqs_shared->wake[i].cv);
			pg_atomic_init_u64(&fqs_shared->wake[i].events, 0);
			pg_atomic_init_u64(&fqs_shared->wake[i].woken, 0);
			SpinLockInit(&fqs_shared->wake[i].mutex);
			fqs_shared->wake[i].nwaiters = 0;
			fqs_shared->wake[i].mixed = false;
		}
		for (i = 0; i < FQS_DB_WAKE_SLOTS; i++)
			ConditionVariableInit(&fqs_shared->dbwake[i]);
	}
	memset(&info, 0, sizeof(info));
	info.keysize = sizeof(FqsQueueKey);
	info.entrysize = sizeof(FqsDepth);
	fqs_depth_hash = ShmemInitHash("fqs ready depth", fqs_max_queues,
								   fqs_max_queues, &info,
								   HASH_ELEM | HASH_BLOBS);
	fqs_breaker_shmem_init(fqs_shared->breaker_lock);
	fqs_scan_shmem_init(fqs_shared->scan_lock);
	fqs_tail_shmem_init();
	fqs_metrics_shmem_init(fqs_shared->metrics_lock);
	LWLockRelease(AddinShmemInitLock);
}

/* Called from _PG_init while shared_preload_libraries is processed. */
void
fqs_shmem_install_hooks(void)
{
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = fqs_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = fqs_shmem_startup;
}

/* The wake slot of (this database, qid, stage). */
int
fqs_wake_slot(int32 qid, int stage)
{
	uint32		h = hash_combine(hash_uint32((uint32) MyDatabaseId),
								 hash_uint32((uint32) qid * 2 + stage));

	return (int) (h % FQS_WAKE_SLOTS);
}

static ConditionVariable *
fqs_db_cv(void)
{
	return &fqs_shared->dbwake[hash_uint32((uint32) MyDatabaseId) %
							   FQS_DB_WAKE_SLOTS];
}

/*
 * Wake the claimers of a slot for n things made claimable (0: all of them).
 */
static void
fqs_wake_now(FqsWakeSlot *w, int64 n)
{
	int			nwaiters;
	bool		mixed;

	pg_atomic_fetch_add_u64(&w->events, 1);
	SpinLockAcquire(&w->mutex);
	nwaiters = w->nwaiters;
	mixed = w->mixed;
	SpinLockRelease(&w->mutex);
	if (n <= 0 || mixed || n >= nwaiters)
		ConditionVariableBroadcast(&w->cv);
	else
		while (n-- > 0)
			ConditionVariableSignal(&w->cv);
}

/* This backend's claimer stops counting in its wake slot. */
static void
fqs_wait_leave(void)
{
	FqsWakeSlot *w;

	if (my_wait_slot < 0 || fqs_shared == NULL)
		return;
	w = &fqs_shared->wake[my_wait_slot];
	my_wait_slot = -1;
	SpinLockAcquire(&w->mutex);
	if (--w->nwaiters <= 0)
	{
		w->nwaiters = 0;
		w->mixed = false;
	}
	SpinLockRelease(&w->mutex);
}

static void
fqs_xact_callback(XactEvent event, void *arg)
{
	int			i;

	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
			if (fqs_shared == NULL || (n_pending_wakes == 0 && !pending_overflow))
				break;
			if (pending_overflow)
			{
				for (i = 0; i < FQS_WAKE_SLOTS; i++)
					fqs_wake_now(&fqs_shared->wake[i], 0);
			}
			else
			{
				for (i = 0; i < n_pending_wakes; i++)
					fqs_wake_now(&fqs_shared->wake[pending_wakes[i].slot],
								 pending_wakes[i].n);
			}
			ConditionVariableBroadcast(fqs_db_cv());
			break;
		default:
			break;
	}
	if ((event == XACT_EVENT_COMMIT || event == XACT_EVENT_PARALLEL_COMMIT) &&
		pending_poke && fqs_shared != NULL)
	{
		int			i;

		LWLockAcquire(fqs_shared->lock, LW_SHARED);
		for (i = 0; i < fqs_shared->nslots; i++)
			if (fqs_shared->slots[i].dboid == MyDatabaseId &&
				fqs_shared->slots[i].latch != NULL)
				SetLatch(fqs_shared->slots[i].latch);
		LWLockRelease(fqs_shared->lock);
	}
	if ((event == XACT_EVENT_COMMIT || event == XACT_EVENT_PARALLEL_COMMIT) &&
		pending_adds != NIL && fqs_depth_hash != NULL)
	{
		ListCell   *lc;

		LWLockAcquire(fqs_shared->depth_lock, LW_SHARED);
		foreach(lc, pending_adds)
		{
			PendingAdd *a = (PendingAdd *) lfirst(lc);
			FqsQueueKey key;
			FqsDepth   *d;

			key = fqs_queue_key(a->qid);
			d = hash_search(fqs_depth_hash, &key, HASH_FIND, NULL);
			if (d != NULL)
				pg_atomic_fetch_add_u64(&d->added, (uint64) a->n);
		}
		LWLockRelease(fqs_shared->depth_lock);
	}
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_PARALLEL_COMMIT ||
		event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT ||
		event == XACT_EVENT_PREPARE)
	{
		/* the list lived in the transaction's memory */
		pending_adds = NIL;
		/* a claim that failed in a subtransaction left its count behind */
		fqs_wait_leave();
		n_pending_wakes = 0;
		pending_overflow = false;
		pending_poke = false;
	}
}

/*
 * Register the commit callback that sends the wake-ups, from _PG_init:
 * before every other fqs callback, which are registered on first use.
 * Callbacks run in the reverse order of registration, and the wake-ups
 * must go out after scan.c's callback lowered the claim cursors to the
 * rows the transaction made claimable -- a claimer woken before that
 * could start its scan from a cursor past them, find nothing and sleep
 * until its next recheck (bench/wakeup_many.sh saw 1 s at p99).
 */
void
fqs_wake_callback_init(void)
{
	if (!xact_callback_registered)
	{
		RegisterXactCallback(fqs_xact_callback, NULL);
		xact_callback_registered = true;
	}
}

/*
 * Wake this database's worker when the current transaction commits, so
 * that its mover acts now rather than after fqs.naptime.
 */
void
fqs_poke_worker_at_commit(void)
{
	if (fqs_shared == NULL)
		return;
	if (!xact_callback_registered)
	{
		RegisterXactCallback(fqs_xact_callback, NULL);
		xact_callback_registered = true;
	}
	pending_poke = true;
}

/*
 * Wake the claimers of (qid, stage) when the current transaction commits,
 * for n messages (or keys, for the sequential stage) it made claimable;
 * n = 0 wakes them all, for any other change that may let them claim.  A
 * no-op without shared memory.
 */
void
fqs_wake_at_commit(int32 qid, int stage, int64 n)
{
	int			slot;
	int			i;

	if (fqs_shared == NULL)
		return;
	if (!xact_callback_registered)
	{
		RegisterXactCallback(fqs_xact_callback, NULL);
		xact_callback_registered = true;
	}
	slot = fqs_wake_slot(qid, stage);
	for (i = 0; i < n_pending_wakes; i++)
		if (pending_wakes[i].slot == slot)
		{
			/* a colliding queue's wake may be counted here: harmless */
			if (n <= 0 || pending_wakes[i].n <= 0)
				pending_wakes[i].n = 0;
			else
				pending_wakes[i].n += n;
			return;
		}
	if (n_pending_wakes < FQS_MAX_PENDING_WAKES)
	{
		pending_wakes[n_pending_wakes].slot = slot;
		pending_wakes[n_pending_wakes].n = Max(n, 0);
		n_pending_wakes++;
	}
	else
		pending_overflow = true;
}

/* Events seen so far on (qid, stage)'s wake slot; 0 without shmem. */
uint64
fqs_wake_events(int32 qid, int stage)
{
	if (fqs_shared == NULL)
		return 0;
	return pg_atomic_read_u64(&fqs_shared->wake[fqs_wake_slot(qid, stage)].events);
}

/*
 * Waiting for claimable work.  fqs_wait_begin() before the first look,
 * fqs_wait_sleep() after each empty look (returns false once the deadline
 * passed), fqs_wait_end() when done.  qid < 0 waits on the database's
 * variable (fqs_claim_any).  Without shared memory this degrades to
 * sleeping on the latch in short steps, with a NOTICE once per session.
 */
void
fqs_wait_begin(int32 qid, int stage)
{
	if (fqs_shared == NULL)
	{
		if (!polling_notice_given)
			ereport(NOTICE,
					(errmsg("fqs is not loaded through shared_preload_libraries, so waiting claims poll"),
					 errhint("Add fqs to shared_preload_libraries for immediate wake-ups and the background worker.")));
		polling_notice_given = true;
		return;
	}
	if (qid >= 0)
	{
		int			slot = fqs_wake_slot(qid, stage);
		FqsWakeSlot *w = &fqs_shared->wake[slot];
		bool		newly_mixed = false;

		fqs_wait_leave();
		if (!xact_callback_registered)
		{
			RegisterXactCallback(fqs_xact_callback, NULL);
			xact_callback_registered = true;
		}
		SpinLockAcquire(&w->mutex);
		if (w->nwaiters == 0)
		{
			w->dboid = MyDatabaseId;
			w->qid = qid;
			w->stage = stage;
		}
		else if (!w->mixed &&
				 (w->dboid != MyDatabaseId || w->qid != qid || w->stage != stage))
			w->mixed = newly_mixed = true;
		w->nwaiters++;
		SpinLockRelease(&w->mutex);
		my_wait_slot = slot;
		ConditionVariablePrepareToSleep(&w->cv);
		/* a signal meant for the others may have come to this claimer */
		if (newly_mixed)
			ConditionVariableBroadcast(&w->cv);
	}
	else
		ConditionVariablePrepareToSleep(fqs_db_cv());
}

bool
fqs_wait_sleep(int32 qid, int stage, TimestampTz deadline)
{
	TimestampTz now = GetCurrentTimestamp();
	long		ms;

	if (now >= deadline)
		return false;
	ms = (long) ((deadline - now + 999) / 1000);
	/* a safety net for delays that nobody signals (deliver_at, retry_after) */
	if (ms > FQS_WAIT_RECHECK_MS)
		ms = FQS_WAIT_RECHECK_MS;

	if (fqs_shared == NULL)
	{
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 Min(ms, FQS_POLL_MS), PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	else if (qid < 0)
		(void) ConditionVariableTimedSleep(fqs_db_cv(), ms, PG_WAIT_EXTENSION);
	else
	{
		FqsWakeSlot *w = &fqs_shared->wake[fqs_wake_slot(qid, stage)];

		if (!ConditionVariableTimedSleep(&w->cv, ms, PG_WAIT_EXTENSION))
			pg_atomic_fetch_add_u64(&w->woken, 1);
	}
	return true;
}

void
fqs_wait_end(void)
{
	if (fqs_shared != NULL)
		ConditionVariableCancelSleep();
	fqs_wait_leave();
}

/* ---------------------------------------------------------------------
 * Ready depth (see the file header)
 * --------------------------------------------------------------------- */

static bool subxact_callback_registered = false;

/*
 * The end of the current subtransaction, for a list kept to be acted on at
 * the end of the transaction whose elements start with their (sub)
 * transaction nesting level: when it rolled back, its elements and those
 * of its children leave the list (on_drop is called for each, unless
 * NULL); when it committed, they now belong to its parent.  Returns the
 * list.
 */
List *
fqs_pending_subxact(List *list, bool commit, void (*on_drop) (void *elem))
{
	int			level = GetCurrentTransactionNestLevel();
	ListCell   *lc;

	foreach(lc, list)
	{
		int		   *elem_level = (int *) lfirst(lc);

		if (*elem_level < level)
			continue;
		if (commit)
			*elem_level = level - 1;
		else
		{
			if (on_drop)
				on_drop(lfirst(lc));
			list = foreach_delete_current(list, lc);
		}
	}
	return list;
}

/*
 * A rolled-back subtransaction made nothing ready; a committed one hands
 * its messages to its parent.
 */
static void
fqs_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
					 SubTransactionId parentSubid, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB || event == SUBXACT_EVENT_COMMIT_SUB)
		pending_adds = fqs_pending_subxact(pending_adds,
										   event == SUBXACT_EVENT_COMMIT_SUB,
										   NULL);
}

static FqsDepth *
depth_find(int32 qid)
{
	FqsQueueKey key;

	key = fqs_queue_key(qid);
	return hash_search(fqs_depth_hash, &key, HASH_FIND, NULL);
}

/*
 * An upper bound of queue qid's ready depth (see the file header); false
 * when there is none (no shared memory, or the worker has not counted).
 */
bool
fqs_depth_estimate(int32 qid, int64 *depth)
{
	FqsDepth   *d;
	int64		base;
	uint64		mark;
	bool		valid;
	ListCell   *lc;

	if (fqs_depth_hash == NULL)
		return false;
	LWLockAcquire(fqs_shared->depth_lock, LW_SHARED);
	d = depth_find(qid);
	if (d == NULL)
	{
		LWLockRelease(fqs_shared->depth_lock);
		return false;
	}
	SpinLockAcquire(&d->mutex);
	valid = d->valid;
	base = d->base;
	mark = d->mark;
	SpinLockRelease(&d->mutex);
	if (!valid)
	{
		/* the first count is still running */
		LWLockRelease(fqs_shared->depth_lock);
		return false;
	}
	/* read after base and mark: a later value only raises the estimate */
	*depth = base + (int64) (pg_atomic_read_u64(&d->added) - mark);
	LWLockRelease(fqs_shared->depth_lock);
	/* and what this transaction made ready, not committed yet */
	foreach(lc, pending_adds)
	{
		PendingAdd *a = (PendingAdd *) lfirst(lc);

		if (a->qid == qid)
			*depth += a->n;
	}
	return true;
}

/*
 * Before the worker counts queue qid's ready depth: *mark receives the
 * commits seen so far.  Creates the entry; false when the hash is full.
 */
bool
fqs_depth_recount_begin(int32 qid, uint64 *mark)
{
	FqsQueueKey key;
	FqsDepth   *d;
	bool		found;

	if (fqs_depth_hash == NULL)
		return false;
	LWLockAcquire(fqs_shared->depth_lock, LW_SHARED);
	d = depth_find(qid);
	if (d == NULL)
	{
		LWLockRelease(fqs_shared->depth_lock);
		LWLockAcquire(fqs_shared->depth_lock, LW_EXCLUSIVE);
		key = fqs_queue_key(qid);
		d = hash_search(fqs_depth_hash, &key, HASH_ENTER_NULL, &found);
		if (d == NULL)
		{
			LWLockRelease(fqs_shared->depth_lock);
			return false;
		}
		if (!found)
		{
			SpinLockInit(&d->mutex);
			/* no estimate until the first count is in */
			d->valid = false;
			d->base = 0;
			d->mark = 0;
			pg_atomic_init_u64(&d->added, 0);
		}
	}
	*mark = pg_atomic_read_u64(&d->added);
	LWLockRelease(fqs_shared->depth_lock);
	return true;
}

/* The worker counted queue qid's ready depth after reading mark. */
void
fqs_depth_recount_end(int32 qid, int64 counted, uint64 mark)
{
	FqsDepth   *d;

	if (fqs_depth_hash == NULL)
		return;
	LWLockAcquire(fqs_shared->depth_lock, LW_SHARED);
	d = depth_find(qid);
	if (d != NULL)
	{
		SpinLockAcquire(&d->mutex);
		d->base = counted;
		d->mark = mark;
		d->valid = true;
		SpinLockRelease(&d->mutex);
	}
	LWLockRelease(fqs_shared->depth_lock);
}

/* The current transaction makes n messages of queue qid ready. */
void
fqs_ready_added_at_commit(int32 qid, int64 n)
{
	PendingAdd *a;
	MemoryContext old;

	if (fqs_depth_hash == NULL || n <= 0)
		return;
	if (!xact_callback_registered)
	{
		RegisterXactCallback(fqs_xact_callback, NULL);
		xact_callback_registered = true;
	}
	if (!subxact_callback_registered)
	{
		RegisterSubXactCallback(fqs_subxact_callback, NULL);
		subxact_callback_registered = true;
	}
	old = MemoryContextSwitchTo(TopTransactionContext);
	a = palloc(sizeof(PendingAdd));
	a->qid = qid;
	a->n = n;
	a->level = GetCurrentTransactionNestLevel();
	pending_adds = lappend(pending_adds, a);
	MemoryContextSwitchTo(old);
}

/*
 * fqs.wake_slots(): for each queue of this database and each stage, its
 * wake slot, the claimers counted there now (of any queue), whether the
 * slot is mixed, and how many sleeps on it a wake-up has ended so far.
 * Nothing without shared memory.
 */
PG_FUNCTION_INFO_V1(fqs_wake_slots);

Datum
fqs_wake_slots(PG_FUNCTION_ARGS)
{
	static FqsPlan plan = {
		"SELECT qid FROM fqs.queue ORDER BY qid", 0, {InvalidOid}, NULL
	};
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	SPITupleTable *tt;
	uint64		nq;
	uint64		i;

	InitMaterializedSRF(fcinfo, 0);
	if (fqs_shared == NULL)
		return (Datum) 0;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	nq = fqs_exec(&plan, NULL, NULL, 0);
	tt = SPI_tuptable;
	for (i = 0; i < nq; i++)
	{
		bool		isnull;
		int32		qid = DatumGetInt32(SPI_getbinval(tt->vals[i], tt->tupdesc,
													  1, &isnull));
		int			stage;

		for (stage = FQS_STAGE_CONCURRENT; stage <= FQS_STAGE_SEQUENTIAL; stage++)
		{
			int			slot = fqs_wake_slot(qid, stage);
			FqsWakeSlot *w = &fqs_shared->wake[slot];
			Datum		values[6];
			bool		nulls[6] = {false, false, false, false, false, false};

			values[0] = Int32GetDatum(qid);
			values[1] = CStringGetTextDatum(stage == FQS_STAGE_CONCURRENT ?
											"concurrent" : "sequential");
			values[2] = Int32GetDatum(slot);
			SpinLockAcquire(&w->mutex);
			values[3] = Int32GetDatum(w->nwaiters);
			values[4] = BoolGetDatum(w->mixed);
			SpinLockRelease(&w->mutex);
			values[5] = Int64GetDatum((int64) pg_atomic_read_u64(&w->woken));
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc,
								 values, nulls);
		}
	}
	SPI_finish();
	return (Datum) 0;
}
