/*-------------------------------------------------------------------------
 *
 * fqs.h
 *	  Shared declarations for fqs, the two-stage ordered message queue.
 *
 * Every SQL entry point runs its statements through SPI with plans that
 * are prepared once per backend and kept (FqsPlan).  Statement texts are
 * constants: user-supplied values, queue names included, only ever travel
 * as parameters.
 *
 * Copyright (c) 2026, fqs developers
 *
 * IDENTIFICATION
 *	  src/fqs.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef FQS_H
#define FQS_H

#include "postgres.h"

#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/execnodes.h"
#include "port/atomics.h"
#include "storage/condition_variable.h"
#include "storage/latch.h"
#include "storage/lmgr.h"
#include "storage/lwlock.h"
#include "storage/spin.h"
#include "utils/timestamp.h"

/* Largest fifo_key and dedup_id accepted, in bytes. */
#define FQS_MAX_KEY_BYTES	1024
/*
 * fqs.node_id: a node's number lives in the low FQS_NODE_BITS bits of its
 * message ids and receipts (fqs_node_tag).
 */
#define FQS_NODE_BITS		10
#define FQS_MAX_NODE_ID		((1 << FQS_NODE_BITS) - 1)
/*
 * fqs's own SQLSTATE: the queue is moving to another node, or has moved
 * (fqs_router).  Retryable: the router sends the retry to the new owner.
 */
#define ERRCODE_FQS_QUEUE_MOVED	MAKE_SQLSTATE('Q','M','0','0','1')
/* Largest error text of fqs_fail and reason of fqs_skip, in bytes. */
#define FQS_MAX_REASON_BYTES	65536
/* Default backoff of fqs_fail: base * 2^(attempt-1), capped. */
#define FQS_BACKOFF_BASE_MS	1000
#define FQS_BACKOFF_MAX_MS	(3600 * 1000)
/* Wake-up condition variables: per (database, queue, stage), per database */
#define FQS_WAKE_SLOTS		256
#define FQS_DB_WAKE_SLOTS	32
/* A waiting claim looks again at least this often (unsignalled delays). */
#define FQS_WAIT_RECHECK_MS	1000
/* Without shared memory, a waiting claim polls this often. */
#define FQS_POLL_MS			50

/*
 * fqs's own heavyweight locks: LOCKTAG_OBJECT tags whose class id is no
 * catalog's, so that no SQL command (advisory locks included) can take
 * them.  The object id is a qid, a hash of a queue name or a folded key
 * id; the sub id says what the lock protects.
 */
#define FQS_LOCK_CLASSID		((Oid) 0x66717300)
#define FQS_LOCK_CLAIM			1	/* max_claimed recount (qid) */
#define FQS_LOCK_MOVER			2	/* one mover pass at a time (qid) */
#define FQS_LOCK_QUEUE_NAME		3	/* enqueue (share) vs drop (name) */
#define FQS_LOCK_KEY			4	/* a key's gate (kid): see fqs_key_gate */

/* Stages, for wake-ups */
#define FQS_STAGE_CONCURRENT	0
#define FQS_STAGE_SEQUENTIAL	1

#define FQS_MAX_PLAN_ARGS	10

/* A statement prepared on first use and kept for the backend's life. */
typedef struct FqsPlan
{
	const char *sql;
	int			nargs;
	Oid			argtypes[FQS_MAX_PLAN_ARGS];
	SPIPlanPtr	plan;
} FqsPlan;

/* One database's background worker (FqsShared->lock protects these). */
/*
 * The key of the shared hashes kept per queue (ready depth, failure
 * breaker, scan cursors): a queue of this database.  Zeroed first, so that
 * the padding hashes alike (HASH_BLOBS).
 */
typedef struct FqsQueueKey
{
	Oid			dboid;
	int32		qid;
} FqsQueueKey;

static inline FqsQueueKey
fqs_queue_key(int32 qid)
{
	FqsQueueKey key;

	memset(&key, 0, sizeof(key));
	key.dboid = MyDatabaseId;
	key.qid = qid;
	return key;
}

typedef struct FqsWorkerSlot
{
	Oid			dboid;			/* InvalidOid: slot free */
	bool		wanted;			/* the launcher keeps a worker running */
	bool		has_extension;	/* the worker found fqs installed */
	pid_t		pid;			/* 0 when no worker runs */
	Latch	   *latch;			/* the running worker's, to poke it */
} FqsWorkerSlot;

typedef struct FqsWakeSlot
{
	ConditionVariable cv;
	pg_atomic_uint64 events;	/* commits that signalled this slot */
	pg_atomic_uint64 woken;		/* sleeps that ended by a wake-up */
	slock_t		mutex;			/* protects the fields below */
	int			nwaiters;		/* claimers between wait begin and end */
	Oid			dboid;			/* whose claimers wait here (nwaiters > 0) */
	int32		qid;
	int			stage;
	bool		mixed;			/* claimers of more than one of those */
} FqsWakeSlot;

typedef struct FqsShared
{
	LWLock	   *lock;
	LWLock	   *depth_lock;		/* protects the depth hash's entries set */
	LWLock	   *breaker_lock;	/* protects the breaker hash's entries set */
	LWLock	   *scan_lock;		/* protects the scan hash's entries set */
	LWLock	   *metrics_lock;	/* protects the metrics hash's entries set */
	pid_t		launcher_pid;
	Latch	   *launcher_latch;
	FqsWakeSlot wake[FQS_WAKE_SLOTS];
	ConditionVariable dbwake[FQS_DB_WAKE_SLOTS];
	int			nslots;
	FqsWorkerSlot slots[FLEXIBLE_ARRAY_MEMBER];
} FqsShared;

/* Rights on a queue (acl.c); admin holds them all. */
#define FQS_RIGHT_SEE		0	/* any right at all */
#define FQS_RIGHT_PRODUCE	1
#define FQS_RIGHT_CONSUME	2
#define FQS_RIGHT_ALL		7

/* One API call: its caller, and the identity it runs its statements as. */
typedef struct FqsCall
{
	Oid			caller;
	Oid			owner;
	Oid			saved_user;
	int			saved_sec;
	struct FqsCall *outer;
} FqsCall;

/* What the API needs to know about a queue. */
typedef struct FqsQueue
{
	int32		qid;
	int32		max_attempts;
	Interval	lease;
	bool		paused;
	bool		has_max_claimed;
	int32		max_claimed;
	int32		cur_gen;
	int32		priority;
	bool		breaker_open;
	int32		max_ready;		/* in effect: the queue's, or fqs.max_ready */
	bool		claim_lock_held;	/* full though we hold the claim lock */
	const char *name;
	int32		failure_threshold;	/* 0: no failure breaker */
	int64		failure_cooldown_ms;
	TimestampTz breaker_until;	/* claims held back by the failure breaker
								 * until then (0: not held back) */
	int64		requeued_hi;	/* the claim's own requeue put leases back */
	int64		requeued_lo;	/* from here on (scan.c positions) */
} FqsQueue;

/* The (ids[], receipts[], texts[]) arguments of the array calls. */
typedef struct FqsIdArgs
{
	int			n;
	int64	   *ids;
	int64	   *receipts;
	Datum	   *texts;			/* NULL when not given */
	bool	   *tnulls;
	MemoryContext cxt;			/* reset for each message */
	MemoryContext caller;
} FqsIdArgs;

/* GUCs (fqs.c) */
extern int	fqs_max_payload_bytes;
extern int	fqs_retention_s;
extern int	fqs_naptime_ms;
extern int	fqs_default_max_ready;
extern int	fqs_reaper_batch;
extern int	fqs_mover_batch;
extern int	fqs_max_databases;
extern int	fqs_max_queues;
extern int	fqs_key_cache_size;
extern char *fqs_databases;
extern int	fqs_max_batch;
extern int	fqs_max_lease_s;
extern int	fqs_max_delay_s;
extern int	fqs_max_wait_s;
extern int	fqs_node_id;

/* shmem.c */
extern FqsShared *fqs_shared;
extern void fqs_shmem_install_hooks(void);
extern void fqs_wake_callback_init(void);
extern int	fqs_wake_slot(int32 qid, int stage);
extern void fqs_wake_at_commit(int32 qid, int stage, int64 n);
extern void fqs_poke_worker_at_commit(void);
extern uint64 fqs_wake_events(int32 qid, int stage);
extern void fqs_wait_begin(int32 qid, int stage);
extern bool fqs_wait_sleep(int32 qid, int stage, TimestampTz deadline);
extern void fqs_wait_end(void);
extern bool fqs_depth_estimate(int32 qid, int64 *depth);
extern bool fqs_depth_recount_begin(int32 qid, uint64 *mark);
extern void fqs_depth_recount_end(int32 qid, int64 counted, uint64 mark);
extern void fqs_ready_added_at_commit(int32 qid, int64 n);
extern List *fqs_pending_subxact(List *list, bool commit,
								 void (*on_drop) (void *elem));

/* breaker.c */
extern Size fqs_breaker_shmem_size(void);
extern void fqs_breaker_shmem_init(LWLock *lock);
extern int32 fqs_breaker_admit(FqsQueue *q, int stage, int32 n,
							   uint64 *probe_gen, TimestampTz *until);
extern void fqs_breaker_probe_done(int32 qid, uint64 gen, int claimed);
extern bool fqs_breaker_is_open(int32 qid);
extern void fqs_breaker_event(int32 qid, int stage, bool success,
							  int64 count);
extern void fqs_breaker_close(int32 qid, const char *why);
extern void fqs_breaker_forget(int32 qid);

/* acl.c */
/* scan.c: where claim scans start (positions compare as (hi, lo)) */
#define FQS_CURSOR_CLAIM	0	/* (-priority, id) in ready_claim */
#define FQS_CURSOR_LEASE	1	/* (lease_until, 0) in ready_lease */
#define FQS_CURSOR_SEQ_LEASE 2	/* (lease_until, 0) in releasable_lease */
#define FQS_CURSORS			3

typedef struct FqsPos
{
	int64		hi;
	int64		lo;
} FqsPos;

typedef struct FqsScan
{
	bool		tracked;		/* the queue has an entry */
	FqsPos		at;				/* start here */
	uint64		version;
	TimestampTz due;
} FqsScan;

extern FqsPos fqs_pos(int64 hi, int64 lo);
extern Size fqs_scan_shmem_size(void);
extern void fqs_scan_shmem_init(LWLock *lock);
extern void fqs_scan_begin(int32 qid, int c, bool create, FqsScan *s);
extern void fqs_scan_raise(int32 qid, int c, FqsScan *s, FqsPos to);
extern bool fqs_scan_due(int32 qid, TimestampTz now, FqsScan *s);
extern void fqs_scan_due_done(int32 qid, FqsScan *s, bool any, FqsPos first,
							  TimestampTz next);
extern void fqs_scan_forget(int32 qid);
extern void fqs_scan_added(int32 qid, int32 max_priority, int64 min_id,
						   TimestampTz vis_min, TimestampTz vis_max);
extern void fqs_scan_claimed(int32 qid, FqsPos first, TimestampTz lease_min);
extern void fqs_scan_leased(int32 qid, TimestampTz lease_min);
extern void fqs_scan_touched(int32 qid);
extern void fqs_scan_seq_leased(int32 qid, TimestampTz lease_min);
extern void fqs_scan_seq_touched(int32 qid, TimestampTz lease);
extern void fqs_scan_reset(int32 qid);

/* tail.c */
extern Size fqs_tail_shmem_size(void);
extern void fqs_tail_shmem_init(void);
extern bool fqs_tail_get(Oid relid, int64 kid, int64 *last);
extern void fqs_tail_set(Oid relid, int64 kid, int64 last);

/* metrics.c: what is counted per queue (totals since start) */
typedef enum FqsMetric
{
	FQS_M_ENQUEUED,				/* messages stored by enqueues */
	FQS_M_CLAIMED,				/* concurrent-stage deliveries */
	FQS_M_COMMITTED,			/* concurrent-stage successes */
	FQS_M_RELEASED,				/* sequential-stage deliveries */
	FQS_M_COMPLETED,			/* messages done (completed or skipped) */
	FQS_M_FAILED,				/* fqs_fail calls, either stage */
	FQS_M_EXPIRED,				/* leases that ran out, either stage */
	FQS_M_DEAD,					/* messages moved to the dead letters */
	FQS_M_N
} FqsMetric;

extern Size fqs_metrics_shmem_size(void);
extern void fqs_metrics_shmem_init(LWLock *lock);
extern void fqs_metric_add(int32 qid, FqsMetric m, int64 n);
extern void fqs_metric_latency(int32 qid, TimestampTz enqueued_at);
extern void fqs_metrics_forget(int32 qid);

extern void fqs_call_begin(FqsCall *c);
extern void fqs_call_end(FqsCall *c);
extern bool fqs_has_right(int32 qid, int right);
extern void fqs_check_right(int32 qid, int right, const char *name);
extern void fqs_check_message_visible(int64 id);

/* admin.c */
extern int32 fqs_rotate_generation(bool force);

/* worker.c */
extern void fqs_register_launcher(void);
extern void fqs_request_worker(Oid dboid);

/* util.c */
extern int	fqs_exec(FqsPlan *plan, Datum *values, const char *nulls,
					 long count);
extern int	fqs_exec_ordered(FqsPlan *plan, Datum *values, const char *nulls,
							 long count);
extern SPITupleTable *fqs_take_tuptable(void);
extern Datum fqs_getdatum(int row, int col, bool *isnull);
extern int64 fqs_getint64(int row, int col);
extern int32 fqs_getint32(int row, int col);
extern char *fqs_check_queue_name(FunctionCallInfo fcinfo, int argno);
extern char *fqs_check_queue_text(text *t);
extern void fqs_lookup_queue(const char *name, FqsQueue *q);
extern int32 fqs_check_n(FunctionCallInfo fcinfo, int argno);
extern Interval *fqs_check_interval(FunctionCallInfo fcinfo, int argno,
									const char *what, bool allow_zero,
									int max_s, const char *guc);
extern int64 fqs_interval_ms(Interval *iv);
extern bool fqs_check_deliver_at(FunctionCallInfo fcinfo, int argno);
extern int64 fqs_node_tag(int64 n);
extern void fqs_refuse_moving(int32 qid, const char *name);
extern bool fqs_has_move_state(void);
extern void fqs_unlock_queue_name(const char *name, LOCKMODE mode);
extern int64 fqs_arg_int64(FunctionCallInfo fcinfo, int argno,
						   const char *what);
extern void fqs_check_receipt(int64 receipt);
extern void fqs_check_reason(text *t, const char *what);
extern void fqs_id_array_args(FunctionCallInfo fcinfo, FqsIdArgs *a,
							  int text_argno, const char *text_what);
extern int *fqs_key_order(FqsIdArgs *a, FqsPlan *lookup);
extern bool fqs_lock(int what, uint32 objid, LOCKMODE mode, bool nowait);
extern void fqs_lock_queue_name(const char *name, LOCKMODE mode);
extern bool fqs_key_gate_enter(int64 kid, LOCKMODE mode);
extern void fqs_key_gate_leave(int64 kid, LOCKMODE mode, bool entered);
extern void fqs_raise_message_unknown(int64 id);
extern Datum fqs_interval_datum(Interval *iv);
extern Interval *fqs_backoff(int32 attempt);

/* claim.c */
/* a stage's claim of up to n messages, once the failure breaker agreed */
typedef int (*FqsClaimOnce) (FqsQueue *q, int32 n, Interval *lease,
							 bool waiting, ReturnSetInfo *rsinfo);
extern Datum fqs_claim_driver(FunctionCallInfo fcinfo, int stage,
							  FqsClaimOnce claim_once_fn);

/* sequential.c: shared by commit, complete, skip and retry */
extern void fqs_mark_processed(int32 gen, int64 kid, int64 seq, int64 id,
							   int32 qid, int32 attempts, Datum *claimed_at,
							   text *result, text *skip_reason);
extern bool fqs_seq_fail(int64 id, int64 receipt, Datum err,
						 Interval *retry_after, const char **outcome);
extern bool fqs_seq_extend(int64 id, int64 receipt, Interval *lease);
extern void fqs_seq_diagnose(int64 id, int64 receipt);
extern int	fqs_requeue_run(FqsPlan *plan, int32 qid, int32 max_attempts,
							int stage, TimestampTz from, TimestampTz before,
							int64 *expired);
extern int	fqs_requeue_concurrent(int32 qid, int32 max_attempts,
								   FqsPos *back);
extern int	fqs_requeue_sequential(int32 qid, int32 max_attempts);
extern TimestampTz fqs_wait_deadline(Interval *wait);

#endif							/* FQS_H */
