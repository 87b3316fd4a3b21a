/*-------------------------------------------------------------------------
 *
 * tail.c
 *	  The last seq of each FIFO key, cached in shared memory.
 *
 * An enqueue locks its key's fqs.key_tail row and must then learn the
 * last seq handed out on the key.  The tables know it (enqueue.c reads it
 * from the key's newest stored message), but that is a statement per
 * enqueue.  This cache keeps the answer in shared memory, so that the
 * usual enqueue reads it under a spinlock instead.  The tables stay the
 * truth: a miss, or any doubt, sends the enqueue back to them.
 *
 * Every entry of a key is written only by a transaction that holds the
 * key's row lock, and read only by one that holds it, so entries of one
 * key never race with each other.  The one care is the end of the writer:
 * a transaction stops being "in progress" (and a waiter on its row lock
 * goes on) before its COMMIT callback runs.  So a writer publishes its
 * keys as "pending" at PRE_COMMIT, before anyone else can lock them, and
 * marks them committed at COMMIT; a reader that finds a pending entry
 * reads the tables, which by then show the writer's outcome.  An abort
 * after PRE_COMMIT (a serialization failure) forgets its pending entries.
 *
 * A transaction's own reservations live in a backend-local list (by
 * subtransaction level, so that a rolled-back savepoint gives its seqs
 * back).  One that reserves on more than TAIL_MAX_PENDING keys stops
 * using the cache and, at its end, invalidates the whole cache by raising
 * its epoch: cheaper than tracking an unbounded set.  PREPARE TRANSACTION
 * forgets its keys (the prepared transaction keeps their locks; whoever
 * locks them after COMMIT PREPARED reads the tables).
 *
 * Entries name the database and the OID of fqs.key_tail, so a re-created
 * extension, whose key ids start again, never reads an old entry.  The
 * cache is set-associative (TAIL_WAYS entries per set, one spinlock each);
 * a key whose set is full evicts the entry the set's hand points at.
 * After a crash the cache starts empty.
 *
 * Copyright (c) 2026, fqs developers
 *
 * IDENTIFICATION
 *	  src/tail.c
 *
 *-------------------------------------------------------------------------
 */
#include "fqs.h"

#include "access/xact.h"
#include "common/hashfn.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/memutils.h"

#define TAIL_WAYS			4
#define TAIL_MAX_PENDING	1024

typedef enum TailState
{
	TAIL_EMPTY = 0,
	TAIL_PENDING,				/* written at PRE_COMMIT, not yet known */
	TAIL_COMMITTED
} TailState;

typedef struct TailEntry
{
	Oid			db;
	Oid			relid;			/* fqs.key_tail */
	int64		kid;
	int64		last;
	uint64		epoch;
	TransactionId writer;		/* top-level xid that wrote it */
	uint8		state;			/* TailState */
} TailEntry;

typedef struct TailSet
{
	slock_t		mutex;
	uint8		hand;			/* next way to evict */
	TailEntry	way[TAIL_WAYS];
} TailSet;

typedef struct TailShared
{
	pg_atomic_uint64 epoch;
	int			nsets;
	TailSet		sets[FLEXIBLE_ARRAY_MEMBER];
} TailShared;

static TailShared *tail_shared = NULL;

/* this transaction's reservations, published at its commit */
typedef struct TailPending
{
	int			level;			/* first: see fqs_pending_subxact */
	Oid			relid;
	int64		kid;
	int64		last;
} TailPending;

static List *pending = NIL;
static bool overflow = false;
static TransactionId published_xid = InvalidTransactionId;
static bool callbacks_registered = false;

static int
tail_nsets(void)
{
	return fqs_key_cache_size / TAIL_WAYS;
}

Size
fqs_tail_shmem_size(void)
{
	if (tail_nsets() <= 0)
		return 0;
	return add_size(offsetof(TailShared, sets),
					mul_size(tail_nsets(), sizeof(TailSet)));
}

void
fqs_tail_shmem_init(void)
{
	bool		found;
	int			i;

	tail_shared = NULL;
	if (tail_nsets() <= 0)
		return;
	tail_shared = ShmemInitStruct("fqs key tails", fqs_tail_shmem_size(),
								  &found);
	if (!found)
	{
		memset(tail_shared, 0, fqs_tail_shmem_size());
		pg_atomic_init_u64(&tail_shared->epoch, 1);
		tail_shared->nsets = tail_nsets();
		for (i = 0; i < tail_shared->nsets; i++)
			SpinLockInit(&tail_shared->sets[i].mutex);
	}
}

static TailSet *
tail_set(int64 kid)
{
	uint32		h = hash_bytes_uint32((uint32) kid ^ (uint32) (kid >> 32)) ^
		MyDatabaseId;

	return &tail_shared->sets[h % (uint32) tail_shared->nsets];
}

static bool
entry_is(TailEntry *e, Oid relid, int64 kid)
{
	return e->state != TAIL_EMPTY && e->kid == kid && e->relid == relid &&
		e->db == MyDatabaseId;
}

/*
 * Write (relid, kid) = last into its set: in the key's entry if it has
 * one, else in an empty way, else over the way the hand points at.
 */
static void
tail_put(Oid relid, int64 kid, int64 last, uint8 state, TransactionId xid,
		 uint64 epoch)
{
	TailSet    *s = tail_set(kid);
	TailEntry  *e = NULL;
	int			w;

	SpinLockAcquire(&s->mutex);
	for (w = 0; w < TAIL_WAYS && e == NULL; w++)
		if (entry_is(&s->way[w], relid, kid))
			e = &s->way[w];
	for (w = 0; w < TAIL_WAYS && e == NULL; w++)
		if (s->way[w].state == TAIL_EMPTY)
			e = &s->way[w];
	if (e == NULL)
	{
		e = &s->way[s->hand];
		s->hand = (s->hand + 1) % TAIL_WAYS;
	}
	e->db = MyDatabaseId;
	e->relid = relid;
	e->kid = kid;
	e->last = last;
	e->epoch = epoch;
	e->writer = xid;
	e->state = state;
	SpinLockRelease(&s->mutex);
}

/*
 * After this transaction's end: mark its pending entries committed, or
 * forget them (abort); with any_writer, forget the keys' entries whoever
 * wrote them (PREPARE).
 */
static void
tail_settle(TailPending *p, bool commit, bool any_writer)
{
	TailSet    *s = tail_set(p->kid);
	int			w;

	SpinLockAcquire(&s->mutex);
	for (w = 0; w < TAIL_WAYS; w++)
	{
		TailEntry  *e = &s->way[w];

		if (!entry_is(e, p->relid, p->kid))
			continue;
		if (any_writer)
			e->state = TAIL_EMPTY;
		else if (e->state == TAIL_PENDING && e->writer == published_xid)
			e->state = commit ? TAIL_COMMITTED : TAIL_EMPTY;
	}
	SpinLockRelease(&s->mutex);
}

static void
tail_end_xact(void)
{
	pending = NIL;				/* in TopTransactionContext */
	overflow = false;
	published_xid = InvalidTransactionId;
}

static void
tail_xact_callback(XactEvent event, void *arg)
{
	ListCell   *lc;

	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
			if (overflow)
				pg_atomic_fetch_add_u64(&tail_shared->epoch, 1);
			else if (pending != NIL)
			{
				uint64		epoch = pg_atomic_read_u64(&tail_shared->epoch);

				published_xid = GetTopTransactionIdIfAny();
				/* in reservation order: a key's last entry wins */
				foreach(lc, pending)
				{
					TailPending *p = (TailPending *) lfirst(lc);

					tail_put(p->relid, p->kid, p->last, TAIL_PENDING,
							 published_xid, epoch);
				}
			}
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_ABORT:
			if (TransactionIdIsValid(published_xid))
				foreach(lc, pending)
					tail_settle((TailPending *) lfirst(lc),
								event == XACT_EVENT_COMMIT, false);
			tail_end_xact();
			break;
		case XACT_EVENT_PRE_PREPARE:
			if (overflow)
				pg_atomic_fetch_add_u64(&tail_shared->epoch, 1);
			foreach(lc, pending)
				tail_settle((TailPending *) lfirst(lc), false, true);
			break;
		case XACT_EVENT_PREPARE:
			tail_end_xact();
			break;
		default:
			break;
	}
}

static void
tail_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
					  SubTransactionId parentSubid, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB || event == SUBXACT_EVENT_COMMIT_SUB)
		pending = fqs_pending_subxact(pending,
									  event == SUBXACT_EVENT_COMMIT_SUB,
									  NULL);
}

/*
 * The last seq of key kid (of the fqs.key_tail with OID relid), if this
 * transaction reserved on it or the cache knows it; false means: read the
 * tables.  The caller holds the key's row lock.
 */
bool
fqs_tail_get(Oid relid, int64 kid, int64 *last)
{
	TailSet    *s;
	int			i;
	int			w;
	bool		found = false;

	if (tail_shared == NULL || overflow)
		return false;

	/* our own reservations first, newest first */
	for (i = list_length(pending) - 1; i >= 0; i--)
	{
		TailPending *p = (TailPending *) list_nth(pending, i);

		if (p->kid == kid && p->relid == relid)
		{
			*last = p->last;
			return true;
		}
	}

	s = tail_set(kid);
	SpinLockAcquire(&s->mutex);
	for (w = 0; w < TAIL_WAYS; w++)
	{
		TailEntry  *e = &s->way[w];

		if (entry_is(e, relid, kid) && e->state == TAIL_COMMITTED &&
			e->epoch == pg_atomic_read_u64(&tail_shared->epoch))
		{
			*last = e->last;
			found = true;
			break;
		}
	}
	SpinLockRelease(&s->mutex);
	return found;
}

/*
 * This transaction handed out seqs up to last on key kid; the caller holds
 * the key's row lock until the transaction ends.
 */
void
fqs_tail_set(Oid relid, int64 kid, int64 last)
{
	int			level = GetCurrentTransactionNestLevel();
	TailPending *p;
	int			i;
	MemoryContext old;

	if (tail_shared == NULL || overflow)
		return;
	if (!callbacks_registered)
	{
		RegisterXactCallback(tail_xact_callback, NULL);
		RegisterSubXactCallback(tail_subxact_callback, NULL);
		callbacks_registered = true;
	}

	/* the key's entry of this level, if it is the key's newest */
	for (i = list_length(pending) - 1; i >= 0; i--)
	{
		p = (TailPending *) list_nth(pending, i);
		if (p->kid == kid && p->relid == relid)
		{
			if (p->level == level)
			{
				p->last = last;
				return;
			}
			break;
		}
	}
	if (list_length(pending) >= TAIL_MAX_PENDING)
	{
		overflow = true;
		return;
	}
	old = MemoryContextSwitchTo(TopTransactionContext);
	p = palloc(sizeof(TailPending));
	p->level = level;
	p->relid = relid;
	p->kid = kid;
	p->last = last;
	pending = lappend(pending, p);
	MemoryContextSwitchTo(old);
}
