/*-------------------------------------------------------------------------
 *
 * scan.c
 *	  Where claim scans start: per-queue positions in shared memory that
 *	  let the concurrent stage's index scans begin past the entries of
 *	  rows already claimed or committed.
 *
 * A claim UPDATEs its fqs.ready rows (the lease) and the commit DELETEs
 * them.  Their old entries stay at the front of the claim index, and while
 * any snapshot older than them is held (a report in REPEATABLE READ, a
 * session idle in transaction, a replication slot) no VACUUM, pruning or
 * index hint can remove them: a scan from the front steps over all of
 * them, so every claim gets slower the longer the snapshot is held.  The
 * lease index (for expired leases) fills the same way.
 *
 * So each queue keeps three cursors here, lower bounds of where anything
 * can be found:
 *	claim	a position (-priority, id) in ready_claim's order; every row
 *			claimable now lies at or after it, or is delayed (visible_at in
 *			the future) with visible_at >= "due".
 *	lease	a time; every leased row has lease_until at or after it.
 *	seq lease	the same for the sequential stage's key holds (fqs.releasable
 *			and its releasable_lease index): each completed hold leaves an
 *			entry there, and the look for expired holds came to step over
 *			all of them on every sequential claim.
 * Scans add "position >= cursor" to their index condition, so the btree
 * descent lands past the dead band.
 *
 * Lowering is always safe (a scan merely starts earlier).  Rows become
 * findable again only through events that lower the cursors from the
 * callbacks of the transactions that caused them, after those became
 * visible: a commit that made rows claimable (enqueue, mover, retry,
 * requeued lease) lowers the claim cursor to them; a rolled-back claim
 * lowers it to the rows it had locked; a committed claim or lease
 * extension lowers the lease cursor to its lease; a rolled-back statement
 * that had locked leased rows (commit, fail, extend, requeue) resets the
 * lease cursor.  Delayed rows lower "due" instead.  The sequential stage's
 * holds work alike: a committed hold or extension lowers the seq lease
 * cursor to its lease, and so does a committed statement that locked a
 * hold and left it held (a complete of part of a run), since a scan may
 * have passed it while it was locked; any rolled-back statement that
 * locked a held key (complete, fail, extend, requeue, or a hold or
 * extension itself) resets the cursor.
 *
 * Raising happens after a scan, to the first row it found (or past
 * everything when it found none): rows before that were dead, or locked by
 * transactions that lower the cursor if they roll back, or delayed.  But a
 * scan's snapshot may predate a commit whose callback lowered the cursor
 * after the scan read it.  Every lowering therefore bumps a version and is
 * remembered in a small ring; a raise takes the lowest of its target and
 * the lowerings since it read the cursor, and gives up when more happened
 * than the ring holds.
 *
 * Delayed rows: a claim scan skips rows whose visible_at has not come yet,
 * and the cursor may move past them.  "due" is a lower bound of visible_at
 * of such rows.  Once it has passed, the next claim looks (fqs_scan_due)
 * for rows that fell due in [due, now), lowers the claim cursor to them,
 * and sets due to the earliest visible_at still ahead -- through the
 * ready_visible index, so the look costs the delayed rows, not the dead.
 *
 * A transaction that claims or adds rows and is then prepared (two-phase
 * commit) ends in another session whose callbacks are not ours: its
 * queues' cursors are reset and frozen until the next restart.
 *
 * Nothing here is durable: after a restart, or without
 * shared_preload_libraries, the cursors start at the front, which is the
 * plain SKIP LOCKED claim.  An entry remembers the OID of fqs.ready, so a
 * dropped and recreated extension, whose queue ids start again, never
 * inherits stale positions.
 *
 * Locking: FqsShared->scan_lock protects the hash's set of entries, each
 * entry's cursors its spinlock.
 *
 * Copyright (c) 2026, fqs developers
 *
 * IDENTIFICATION
 *	  src/scan.c
 *
 *-------------------------------------------------------------------------
 */
#include "fqs.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#define SCAN_RING	16

PG_FUNCTION_INFO_V1(fqs_scan_cursors);

typedef struct ScanCursor
{
	FqsPos		at;
	uint64		version;		/* lowerings so far */
	FqsPos		ring[SCAN_RING];	/* ring[v % SCAN_RING]: lowering v */
	TimestampTz ring_due[SCAN_RING];	/* its due (claim cursor) */
} ScanCursor;

typedef struct ScanEntry
{
	FqsQueueKey key;
	Oid			ready_relid;	/* fqs.ready when the entry was made */
	slock_t		mutex;
	bool		frozen;			/* never raised again (two-phase commit) */
	TimestampTz due;			/* see the file header */
	ScanCursor	cur[FQS_CURSORS];	/* FQS_CURSOR_CLAIM, _LEASE, _SEQ_LEASE */
} ScanEntry;

static HTAB *scan_hash = NULL;
static LWLock *scan_lock = NULL;

/* events of the current transaction, acted on at its end */
typedef enum ScanEventKind
{
	EV_ADDED,					/* rows made claimable or delayed */
	EV_CLAIMED,					/* rows claimed */
	EV_LEASED,					/* leases extended */
	EV_TOUCHED,					/* leased rows locked */
	EV_SEQ_LEASED,				/* key holds made or extended */
	EV_SEQ_TOUCHED,				/* held keys locked */
	EV_RESET					/* anything: start over */
} ScanEventKind;

typedef struct ScanEvent
{
	int			level;			/* first: see fqs_pending_subxact */
	int32		qid;			/* 0: every queue of the database */
	ScanEventKind kind;
	FqsPos		pos;
	TimestampTz t1;
	TimestampTz t2;
} ScanEvent;

static List *pending = NIL;
static bool callbacks_registered = false;

static const FqsPos pos_min = {PG_INT64_MIN, PG_INT64_MIN};
static const FqsPos pos_max = {PG_INT64_MAX, PG_INT64_MAX};

static inline int
pos_cmp(FqsPos a, FqsPos b)
{
	if (a.hi != b.hi)
		return a.hi < b.hi ? -1 : 1;
	if (a.lo != b.lo)
		return a.lo < b.lo ? -1 : 1;
	return 0;
}

static inline FqsPos
pos_least(FqsPos a, FqsPos b)
{
	return pos_cmp(a, b) <= 0 ? a : b;
}

FqsPos
fqs_pos(int64 hi, int64 lo)
{
	FqsPos		p;

	p.hi = hi;
	p.lo = lo;
	return p;
}

Size
fqs_scan_shmem_size(void)
{
	return hash_estimate_size(fqs_max_queues, sizeof(ScanEntry));
}

void
fqs_scan_shmem_init(LWLock *lock)
{
	HASHCTL		info;

	memset(&info, 0, sizeof(info));
	info.keysize = sizeof(FqsQueueKey);
	info.entrysize = sizeof(ScanEntry);
	scan_lock = lock;
	scan_hash = ShmemInitHash("fqs scan cursors", fqs_max_queues,
							  fqs_max_queues, &info,
							  HASH_ELEM | HASH_BLOBS);
}

/* The OID of fqs.ready, InvalidOid if there is none. */
static Oid
ready_relid(void)
{
	Oid			nsp = get_namespace_oid("fqs", true);

	return OidIsValid(nsp) ? get_relname_relid("ready", nsp) : InvalidOid;
}

static void
entry_init(ScanEntry *e, Oid relid)
{
	int			c;

	e->ready_relid = relid;
	e->frozen = false;
	/* delayed rows registered before the entry existed: look first */
	e->due = DT_NOBEGIN;
	for (c = 0; c < FQS_CURSORS; c++)
	{
		e->cur[c].at = pos_min;
		e->cur[c].version = 0;
	}
}

/*
 * The entry of queue qid, with scan_lock held shared on return when found
 * (the caller releases it); NULL, lock not held, when there is none and
 * create is false or the hash is full.
 */
static ScanEntry *
entry_get(int32 qid, bool create)
{
	FqsQueueKey key;
	ScanEntry  *e;
	bool		found;
	Oid			relid;

	if (scan_hash == NULL)
		return NULL;
	relid = ready_relid();
	if (!OidIsValid(relid))
		return NULL;
	key = fqs_queue_key(qid);
	LWLockAcquire(scan_lock, LW_SHARED);
	e = hash_search(scan_hash, &key, HASH_FIND, NULL);
	if (e == NULL)
	{
		LWLockRelease(scan_lock);
		if (!create)
			return NULL;
		LWLockAcquire(scan_lock, LW_EXCLUSIVE);
		e = hash_search(scan_hash, &key, HASH_ENTER_NULL, &found);
		if (e == NULL)
		{
			LWLockRelease(scan_lock);
			return NULL;
		}
		if (!found)
		{
			SpinLockInit(&e->mutex);
			entry_init(e, relid);
		}
		LWLockRelease(scan_lock);
		/* entries leave only with their queue, which we hold a lock on */
		LWLockAcquire(scan_lock, LW_SHARED);
		e = hash_search(scan_hash, &key, HASH_FIND, NULL);
		if (e == NULL)
		{
			LWLockRelease(scan_lock);
			return NULL;
		}
	}
	if (e->ready_relid != relid)
	{
		/* an entry of a dropped incarnation of the extension */
		SpinLockAcquire(&e->mutex);
		if (e->ready_relid != relid)
			entry_init(e, relid);
		SpinLockRelease(&e->mutex);
	}
	return e;
}

/* Lower cursor c of e to p (spinlock held). */
static void
cursor_lower(ScanEntry *e, int c, FqsPos p, TimestampTz due)
{
	ScanCursor *cur = &e->cur[c];

	cur->version++;
	cur->ring[cur->version % SCAN_RING] = p;
	cur->ring_due[cur->version % SCAN_RING] = due;
	if (pos_cmp(p, cur->at) < 0)
		cur->at = p;
}

/*
 * The lowest of the lowerings of cursor c since version v0 (spinlock
 * held), and their earliest due; false when the ring no longer holds them
 * all.
 */
static bool
cursor_lowered_since(ScanEntry *e, int c, uint64 v0, FqsPos *p,
					 TimestampTz *due)
{
	ScanCursor *cur = &e->cur[c];
	uint64		v;

	if (cur->version - v0 > SCAN_RING)
		return false;
	for (v = v0 + 1; v <= cur->version; v++)
	{
		*p = pos_least(*p, cur->ring[v % SCAN_RING]);
		if (cur->ring_due[v % SCAN_RING] < *due)
			*due = cur->ring_due[v % SCAN_RING];
	}
	return true;
}

/*
 * Before a scan of queue qid's index by cursor c: where to start.  With
 * create, a claim makes the queue's entry; without, a reader only uses one
 * that exists.  Without an entry the scan starts at the front.
 */
void
fqs_scan_begin(int32 qid, int c, bool create, FqsScan *s)
{
	ScanEntry  *e = entry_get(qid, create);

	s->tracked = (e != NULL);
	s->at = pos_min;
	s->version = 0;
	s->due = DT_NOEND;
	if (e == NULL)
		return;
	SpinLockAcquire(&e->mutex);
	s->at = e->cur[c].at;
	s->version = e->cur[c].version;
	s->due = e->due;
	SpinLockRelease(&e->mutex);
	LWLockRelease(scan_lock);
}

/*
 * After a scan that started at s found nothing before "to": raise cursor c
 * to it, or as far as lowerings since allow.
 */
void
fqs_scan_raise(int32 qid, int c, FqsScan *s, FqsPos to)
{
	ScanEntry  *e;
	TimestampTz due = DT_NOEND;

	if (!s->tracked || pos_cmp(to, s->at) <= 0)
		return;
	e = entry_get(qid, false);
	if (e == NULL)
		return;
	SpinLockAcquire(&e->mutex);
	if (!e->frozen && cursor_lowered_since(e, c, s->version, &to, &due) &&
		pos_cmp(to, e->cur[c].at) > 0)
		e->cur[c].at = to;
	SpinLockRelease(&e->mutex);
	LWLockRelease(scan_lock);
}

/*
 * A claim about to scan queue qid: true when delayed rows the claim cursor
 * may have passed could have fallen due by now; then *since is their
 * earliest visible_at, s the cursor as read, and the caller looks and
 * reports with fqs_scan_due_done.
 */
bool
fqs_scan_due(int32 qid, TimestampTz now, FqsScan *s)
{
	fqs_scan_begin(qid, FQS_CURSOR_CLAIM, true, s);
	return s->tracked && s->due <= now;
}

/*
 * The look of fqs_scan_due found rows that fell due (first, the lowest
 * position, when any) and the earliest visible_at still ahead (next).
 */
void
fqs_scan_due_done(int32 qid, FqsScan *s, bool any, FqsPos first,
				  TimestampTz next)
{
	ScanEntry  *e = entry_get(qid, false);
	FqsPos		low = pos_max;

	if (e == NULL)
		return;
	SpinLockAcquire(&e->mutex);
	if (any)
		cursor_lower(e, FQS_CURSOR_CLAIM, first, DT_NOEND);

	/*
	 * Delayed rows that committed after the look's snapshot registered
	 * their due in the ring; with the ring overrun, due stays (passed) and
	 * the next claim looks again.
	 */
	if (cursor_lowered_since(e, FQS_CURSOR_CLAIM, s->version, &low, &next))
		e->due = next;
	SpinLockRelease(&e->mutex);
	LWLockRelease(scan_lock);
}

/* Drop queue qid's entry (the queue is being dropped). */
void
fqs_scan_forget(int32 qid)
{
	FqsQueueKey key;

	if (scan_hash == NULL)
		return;
	key = fqs_queue_key(qid);
	LWLockAcquire(scan_lock, LW_EXCLUSIVE);
	(void) hash_search(scan_hash, &key, HASH_REMOVE, NULL);
	LWLockRelease(scan_lock);
}

/* ---------------------------------------------------------------------
 * Events, applied at the end of the transaction
 * --------------------------------------------------------------------- */

/* Reset the cursors of e, and freeze them when asked (spinlock held). */
static void
entry_reset(ScanEntry *e, bool freeze)
{
	int			c;

	for (c = 0; c < FQS_CURSORS; c++)
		cursor_lower(e, c, pos_min, DT_NOEND);
	if (freeze)
		e->frozen = true;
}

typedef enum ScanEnd
{
	END_COMMIT,
	END_ABORT,
	END_PREPARE
} ScanEnd;

static void
apply_one(ScanEntry *e, ScanEvent *ev, ScanEnd end, TimestampTz now)
{
	SpinLockAcquire(&e->mutex);
	if (end == END_PREPARE)
		entry_reset(e, true);
	else
		switch (ev->kind)
		{
			case EV_ADDED:
				if (end != END_COMMIT)
					break;
				/* t1, t2: earliest and latest visible_at of the rows */
				if (ev->t1 <= now)
					cursor_lower(e, FQS_CURSOR_CLAIM, ev->pos, DT_NOEND);
				if (ev->t2 > now)
				{
					/* delayed rows: due by their earliest visible_at */
					cursor_lower(e, FQS_CURSOR_CLAIM, pos_max, ev->t1);
					if (ev->t1 < e->due)
						e->due = ev->t1;
				}
				break;
			case EV_CLAIMED:
				/* t1: a lower bound of the leases */
				if (end == END_COMMIT)
					cursor_lower(e, FQS_CURSOR_LEASE, fqs_pos(ev->t1, 0),
								 DT_NOEND);
				else
					cursor_lower(e, FQS_CURSOR_CLAIM, ev->pos, DT_NOEND);
				break;
			case EV_LEASED:
				if (end == END_COMMIT)
					cursor_lower(e, FQS_CURSOR_LEASE, fqs_pos(ev->t1, 0),
								 DT_NOEND);
				else
					cursor_lower(e, FQS_CURSOR_LEASE, pos_min, DT_NOEND);
				break;
			case EV_TOUCHED:
				if (end != END_COMMIT)
					cursor_lower(e, FQS_CURSOR_LEASE, pos_min, DT_NOEND);
				break;
			case EV_SEQ_LEASED:
				/* t1: a lower bound of the holds' leases */
				cursor_lower(e, FQS_CURSOR_SEQ_LEASE,
							 end == END_COMMIT ? fqs_pos(ev->t1, 0) : pos_min,
							 DT_NOEND);
				break;
			case EV_SEQ_TOUCHED:
				/* t1: the lowest lease the locked holds may keep */
				cursor_lower(e, FQS_CURSOR_SEQ_LEASE,
							 end == END_COMMIT ? fqs_pos(ev->t1, 0) : pos_min,
							 DT_NOEND);
				break;
			case EV_RESET:
				entry_reset(e, false);
				break;
		}
	SpinLockRelease(&e->mutex);
}

static void
apply_event(ScanEvent *ev, ScanEnd end, TimestampTz now)
{
	if (scan_hash == NULL)
		return;
	LWLockAcquire(scan_lock, LW_SHARED);
	if (ev->qid == 0)
	{
		HASH_SEQ_STATUS st;
		ScanEntry  *e;

		hash_seq_init(&st, scan_hash);
		while ((e = hash_seq_search(&st)) != NULL)
			if (e->key.dboid == MyDatabaseId)
				apply_one(e, ev, end, now);
	}
	else
	{
		FqsQueueKey key;
		ScanEntry  *e;

		key = fqs_queue_key(ev->qid);
		e = hash_search(scan_hash, &key, HASH_FIND, NULL);
		if (e != NULL)
			apply_one(e, ev, end, now);
	}
	LWLockRelease(scan_lock);
}

static void
apply_all(ScanEnd end)
{
	ListCell   *lc;
	TimestampTz now = GetCurrentTimestamp();

	foreach(lc, pending)
		apply_event((ScanEvent *) lfirst(lc), end, now);
	pending = NIL;
}

static void
scan_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
			apply_all(END_COMMIT);
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			apply_all(END_ABORT);
			break;
		case XACT_EVENT_PREPARE:
			apply_all(END_PREPARE);
			break;
		default:
			break;
	}
}

static void
event_drop(void *elem)
{
	apply_event((ScanEvent *) elem, END_ABORT, GetCurrentTimestamp());
}

/* A rolled-back subtransaction's rows are back: act as for an abort. */
static void
scan_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
					  SubTransactionId parentSubid, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB || event == SUBXACT_EVENT_COMMIT_SUB)
		pending = fqs_pending_subxact(pending,
									  event == SUBXACT_EVENT_COMMIT_SUB,
									  event_drop);
}

static void
add_event(int32 qid, ScanEventKind kind, FqsPos pos, TimestampTz t1,
		  TimestampTz t2)
{
	ScanEvent  *ev;
	MemoryContext old;
	int			level;

	if (scan_hash == NULL)
		return;
	if (!callbacks_registered)
	{
		RegisterXactCallback(scan_xact_callback, NULL);
		RegisterSubXactCallback(scan_subxact_callback, NULL);
		callbacks_registered = true;
	}
	level = GetCurrentTransactionNestLevel();
	if (pending != NIL)
	{
		/* a repeat of the last event (array calls) adds nothing */
		ev = (ScanEvent *) llast(pending);
		if (ev->level == level && ev->qid == qid && ev->kind == kind &&
			(kind == EV_TOUCHED || kind == EV_RESET))
			return;
		if (ev->level == level && ev->qid == qid && ev->kind == kind &&
			kind == EV_SEQ_TOUCHED)
		{
			ev->t1 = Min(ev->t1, t1);
			return;
		}
	}
	old = MemoryContextSwitchTo(TopTransactionContext);
	ev = palloc(sizeof(ScanEvent));
	ev->level = level;
	ev->qid = qid;
	ev->kind = kind;
	ev->pos = pos;
	ev->t1 = t1;
	ev->t2 = t2;
	pending = lappend(pending, ev);
	MemoryContextSwitchTo(old);
}

/*
 * The current transaction makes rows of queue qid claimable or delayed:
 * priorities up to max_priority, ids from min_id, visible_at from vis_min
 * to vis_max (0 for both: claimable now).
 */
void
fqs_scan_added(int32 qid, int32 max_priority, int64 min_id,
			   TimestampTz vis_min, TimestampTz vis_max)
{
	add_event(qid, EV_ADDED, fqs_pos(-(int64) max_priority, min_id),
			  vis_min, vis_max);
}

/*
 * The current transaction claimed rows of queue qid, the first at
 * position first, with leases ending at lease_min or later.
 */
void
fqs_scan_claimed(int32 qid, FqsPos first, TimestampTz lease_min)
{
	add_event(qid, EV_CLAIMED, first, lease_min, 0);
}

/* The current transaction set leases of queue qid to lease_min or later. */
void
fqs_scan_leased(int32 qid, TimestampTz lease_min)
{
	add_event(qid, EV_LEASED, pos_min, lease_min, 0);
}

/* The current transaction locked leased rows of queue qid. */
void
fqs_scan_touched(int32 qid)
{
	add_event(qid, EV_TOUCHED, pos_min, 0, 0);
}

/*
 * The current transaction holds keys of queue qid, or extends holds, with
 * leases ending at lease_min or later.
 */
void
fqs_scan_seq_leased(int32 qid, TimestampTz lease_min)
{
	add_event(qid, EV_SEQ_LEASED, pos_min, lease_min, 0);
}

/*
 * The current transaction locked held keys of queue qid whose lease ends
 * at "lease" (DT_NOEND: none of them stays held when it commits).  A hold
 * that commits unchanged (a complete that finished part of the run) keeps
 * a lease the cursor may have passed while it was locked.
 */
void
fqs_scan_seq_touched(int32 qid, TimestampTz lease)
{
	add_event(qid, EV_SEQ_TOUCHED, pos_min, lease, 0);
}

/*
 * The current transaction changes rows of queue qid (0: of every queue)
 * in ways the events above do not say: start over when it ends.
 */
void
fqs_scan_reset(int32 qid)
{
	add_event(qid, EV_RESET, pos_min, 0, 0);
}

/*
 * fqs.scan_cursors(): the cursors of this database's queues, for
 * monitoring and tests: (qid, claim_priority, claim_id, lease_from, due,
 * frozen).  claim_priority and claim_id are NULL at the front, the lease
 * and due times NULL when unset.
 */
Datum
fqs_scan_cursors(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	HASH_SEQ_STATUS st;
	ScanEntry  *e;
	Oid			relid = ready_relid();

	InitMaterializedSRF(fcinfo, 0);
	if (scan_hash == NULL)
		return (Datum) 0;
	LWLockAcquire(scan_lock, LW_SHARED);
	hash_seq_init(&st, scan_hash);
	while ((e = hash_seq_search(&st)) != NULL)
	{
		Datum		values[6];
		bool		nulls[6] = {false, false, false, false, false, false};
		FqsPos		claim;
		FqsPos		lease;
		TimestampTz due;
		bool		frozen;

		/* entries of a dropped incarnation of the extension are stale */
		if (e->key.dboid != MyDatabaseId || e->ready_relid != relid)
			continue;
		SpinLockAcquire(&e->mutex);
		claim = e->cur[FQS_CURSOR_CLAIM].at;
		lease = e->cur[FQS_CURSOR_LEASE].at;
		due = e->due;
		frozen = e->frozen;
		SpinLockRelease(&e->mutex);
		values[0] = Int32GetDatum(e->key.qid);
		if (claim.hi == PG_INT64_MIN || claim.hi == PG_INT64_MAX)
			nulls[1] = nulls[2] = true;
		else
		{
			values[1] = Int64GetDatum(-claim.hi);
			values[2] = Int64GetDatum(claim.lo);
		}
		values[3] = TimestampTzGetDatum((TimestampTz) lease.hi);
		nulls[3] = (lease.hi == PG_INT64_MIN);
		values[4] = TimestampTzGetDatum(due);
		nulls[4] = (due == DT_NOEND);
		values[5] = BoolGetDatum(frozen);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values,
							 nulls);
	}
	LWLockRelease(scan_lock);
	return (Datum) 0;
}
