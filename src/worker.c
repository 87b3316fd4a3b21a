/*-------------------------------------------------------------------------
 *
 * worker.c
 *	  fqs background workers: a launcher, and one worker per database that
 *	  has the extension.
 *
 * The launcher (a static background worker, registered when fqs is in
 * shared_preload_libraries) connects to no database.  At start it asks for
 * a worker in every database that accepts connections (or those listed in
 * fqs.databases); a worker that finds no fqs in its database within a grace
 * period says so and exits for good.  CREATE EXTENSION fqs asks for its
 * database's worker at once (fqs.start_worker()).  The launcher restarts a
 * worker that died, unless its database is gone or no longer has fqs.
 *
 * Each worker runs, every fqs.naptime, one transaction that for every queue:
 *	- reaps expired leases of both stages (back to ready, or dead after
 *	  max_attempts), waking waiting claimers;
 *	- runs the depth breaker: when the ready depth reaches max_ready the
 *	  breaker opens and enqueues go to the holding pen; the mover moves the
 *	  oldest pen messages (highest priority first) to ready as room frees,
 *	  at most fqs.mover_batch a step; the breaker closes once the pen is
 *	  empty and the depth is below half of max_ready.  Each open and close
 *	  is logged once.  A step's cost depends on max_ready and the batch,
 *	  never on the pen's depth.  Queues with no enqueue since the last step
 *	  and no pen are skipped without a query.
 *
 * Slots in shared memory (FqsShared->slots, under FqsShared->lock) record
 * which databases want a worker and the pid of the running one.
 *
 * Copyright (c) 2026, fqs developers
 *
 * IDENTIFICATION
 *	  src/worker.c
 *
 *-------------------------------------------------------------------------
 */
#include "fqs.h"

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_database.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "commands/extension.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/varlena.h"

PGDLLEXPORT void fqs_launcher_main(Datum arg);
PGDLLEXPORT void fqs_worker_main(Datum arg);

PG_FUNCTION_INFO_V1(fqs_start_worker);
PG_FUNCTION_INFO_V1(fqs_workers);
PG_FUNCTION_INFO_V1(fqs_maintain);

/* a worker that finds no extension gives up after this long */
#define WORKER_GRACE_MS			10000
/* the launcher restarts a dead worker no sooner than this after its start */
#define LAUNCHER_RESTART_MS		1000
#define LAUNCHER_NAPTIME_MS		1000
/*
 * The launcher looks for databases that have no worker this often (one
 * may have been refused a slot), and leaves a database whose worker found
 * no fqs alone for LAUNCHER_NOFQS_MS (CREATE EXTENSION asks at once).
 */
#define LAUNCHER_RESCAN_MS		10000
#define LAUNCHER_NOFQS_MS		300000
/* the worker considers rotating generations this often */
#define WORKER_ROTATE_MS		60000
/*
 * Pokes (claims on a queue whose breaker is open) bring a pass forward, but
 * no sooner than this after the previous one: a pass counts up to max_ready
 * ready rows per such queue, and must not run once per claim.
 */
#define WORKER_MIN_PASS_MS		25

/* ---------------------------------------------------------------------
 * Slots
 * --------------------------------------------------------------------- */

/* Find dboid's slot, or take a free one; -1 when full.  Caller holds lock. */
static int
slot_for(Oid dboid, bool alloc)
{
	int			i;
	int			free_slot = -1;

	for (i = 0; i < fqs_shared->nslots; i++)
	{
		if (fqs_shared->slots[i].dboid == dboid)
			return i;
		if (free_slot < 0 && fqs_shared->slots[i].dboid == InvalidOid)
			free_slot = i;
	}
	if (alloc && free_slot >= 0)
	{
		FqsWorkerSlot *s = &fqs_shared->slots[free_slot];

		memset(s, 0, sizeof(*s));
		s->dboid = dboid;
	}
	return alloc ? free_slot : -1;
}

/*
 * Ask the launcher for a worker in dboid.  Returns false when fqs has no
 * shared memory or every slot is taken (with a WARNING unless quiet).
 */
static bool
request_worker(Oid dboid, bool quiet)
{
	int			i;

	if (fqs_shared == NULL)
		return false;
	LWLockAcquire(fqs_shared->lock, LW_EXCLUSIVE);
	i = slot_for(dboid, true);
	if (i >= 0)
		fqs_shared->slots[i].wanted = true;
	LWLockRelease(fqs_shared->lock);
	if (i < 0)
	{
		if (quiet)
			return false;
		ereport(WARNING,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("fqs: no worker slot left for database %u", dboid),
				 errdetail("The launcher tries again every %d seconds, so the database gets its worker once another database's worker ends.",
						   LAUNCHER_RESCAN_MS / 1000),
				 errhint("Increase fqs.max_databases.")));
		return false;
	}
	if (fqs_shared->launcher_latch)
		SetLatch(fqs_shared->launcher_latch);
	return true;
}

void
fqs_request_worker(Oid dboid)
{
	(void) request_worker(dboid, false);
}

/* Is dbname allowed by fqs.databases (empty: every database)? */
static bool
database_allowed(const char *dbname)
{
	char	   *raw;
	List	   *names;
	ListCell   *lc;
	bool		found = false;

	if (fqs_databases == NULL || fqs_databases[0] == '\0')
		return true;
	raw = pstrdup(fqs_databases);
	if (!SplitIdentifierString(raw, ',', &names))
	{
		ereport(LOG,
				(errmsg("fqs: invalid list syntax in fqs.databases")));
		return false;
	}
	foreach(lc, names)
	{
		if (strcmp((char *) lfirst(lc), dbname) == 0)
			found = true;
	}
	return found;
}

/* ---------------------------------------------------------------------
 * Launcher
 * --------------------------------------------------------------------- */

static void
launcher_detach(int code, Datum arg)
{
	LWLockAcquire(fqs_shared->lock, LW_EXCLUSIVE);
	if (fqs_shared->launcher_pid == MyProcPid)
	{
		fqs_shared->launcher_pid = 0;
		fqs_shared->launcher_latch = NULL;
	}
	LWLockRelease(fqs_shared->lock);
}

/*
 * Databases that may get a worker: connectable, not templates, allowed by
 * fqs.databases.  With only_oid valid, just whether that one still is.
 */
static List *
launcher_databases(Oid only_oid)
{
	List	   *result = NIL;
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tup;
	MemoryContext outer = CurrentMemoryContext;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	(void) GetTransactionSnapshot();
	rel = table_open(DatabaseRelationId, AccessShareLock);
	scan = table_beginscan_catalog(rel, 0, NULL);
	while (HeapTupleIsValid(tup = heap_getnext(scan, ForwardScanDirection)))
	{
		Form_pg_database db = (Form_pg_database) GETSTRUCT(tup);

		if (!db->datallowconn || db->datistemplate)
			continue;
		if (OidIsValid(only_oid) && db->oid != only_oid)
			continue;
		if (!database_allowed(NameStr(db->datname)))
			continue;
		{
			MemoryContext old = MemoryContextSwitchTo(outer);

			result = lappend_oid(result, db->oid);
			MemoryContextSwitchTo(old);
		}
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	CommitTransactionCommand();
	MemoryContextSwitchTo(outer);
	return result;
}

/* A database whose worker found no fqs, and when. */
typedef struct NoFqs
{
	Oid			dboid;
	TimestampTz when;
} NoFqs;

static void
launcher_nofqs_note(List **nofqs, Oid dboid)
{
	ListCell   *lc;
	NoFqs	   *n;
	MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

	foreach(lc, *nofqs)
	{
		n = (NoFqs *) lfirst(lc);
		if (n->dboid == dboid)
		{
			n->when = GetCurrentTimestamp();
			MemoryContextSwitchTo(old);
			return;
		}
	}
	n = palloc(sizeof(NoFqs));
	n->dboid = dboid;
	n->when = GetCurrentTimestamp();
	*nofqs = lappend(*nofqs, n);
	MemoryContextSwitchTo(old);
}

static bool
launcher_nofqs_recent(List *nofqs, Oid dboid)
{
	ListCell   *lc;

	foreach(lc, nofqs)
	{
		NoFqs	   *n = (NoFqs *) lfirst(lc);

		if (n->dboid == dboid)
			return !TimestampDifferenceExceeds(n->when, GetCurrentTimestamp(),
											   LAUNCHER_NOFQS_MS);
	}
	return false;
}

static bool
launcher_start_worker(Oid dboid, BackgroundWorkerHandle **handle)
{
	BackgroundWorker w;

	memset(&w, 0, sizeof(w));
	w.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	w.bgw_start_time = BgWorkerStart_RecoveryFinished;
	w.bgw_restart_time = BGW_NEVER_RESTART;	/* the launcher restarts it */
	snprintf(w.bgw_library_name, BGW_MAXLEN, "fqs");
	snprintf(w.bgw_function_name, BGW_MAXLEN, "fqs_worker_main");
	snprintf(w.bgw_name, BGW_MAXLEN, "fqs worker for database %u", dboid);
	snprintf(w.bgw_type, BGW_MAXLEN, "fqs worker");
	w.bgw_main_arg = ObjectIdGetDatum(dboid);
	w.bgw_notify_pid = MyProcPid;
	if (!RegisterDynamicBackgroundWorker(&w, handle))
	{
		ereport(LOG,
				(errcode(ERRCODE_INSUFFICIENT_RESOURCES),
				 errmsg("fqs: could not start a worker for database %u", dboid),
				 errhint("You may need to increase \"max_worker_processes\".")));
		return false;
	}
	return true;
}

void
fqs_launcher_main(Datum arg)
{
	BackgroundWorkerHandle **handles;
	TimestampTz *started;
	List	   *dbs;
	ListCell   *lc;
	TimestampTz last_rescan;
	List	   *nofqs = NIL;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);
	pgstat_report_appname("fqs launcher");

	handles = MemoryContextAllocZero(TopMemoryContext,
									 sizeof(BackgroundWorkerHandle *) * fqs_shared->nslots);
	started = MemoryContextAllocZero(TopMemoryContext,
									 sizeof(TimestampTz) * fqs_shared->nslots);

	LWLockAcquire(fqs_shared->lock, LW_EXCLUSIVE);
	fqs_shared->launcher_pid = MyProcPid;
	fqs_shared->launcher_latch = MyLatch;
	LWLockRelease(fqs_shared->lock);
	before_shmem_exit(launcher_detach, (Datum) 0);

	/* find the databases that have fqs: each worker checks its own */
	dbs = launcher_databases(InvalidOid);
	foreach(lc, dbs)
		(void) request_worker(lfirst_oid(lc), false);
	last_rescan = GetCurrentTimestamp();

	for (;;)
	{
		int			i;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}

		/*
		 * Databases refused a slot (more databases than fqs.max_databases)
		 * get one once another database's worker has ended.
		 */
		if (TimestampDifferenceExceeds(last_rescan, GetCurrentTimestamp(),
									   LAUNCHER_RESCAN_MS))
		{
			last_rescan = GetCurrentTimestamp();
			dbs = launcher_databases(InvalidOid);
			foreach(lc, dbs)
			{
				Oid			dboid = lfirst_oid(lc);
				bool		has_slot;

				if (launcher_nofqs_recent(nofqs, dboid))
					continue;
				LWLockAcquire(fqs_shared->lock, LW_SHARED);
				has_slot = slot_for(dboid, false) >= 0;
				LWLockRelease(fqs_shared->lock);
				if (!has_slot && request_worker(dboid, true))
					ereport(LOG,
							(errmsg("fqs: database %u got a worker slot", dboid)));
			}
			list_free(dbs);
		}

		for (i = 0; i < fqs_shared->nslots; i++)
		{
			Oid			dboid;
			bool		wanted;
			pid_t		pid;
			pid_t		hpid;

			LWLockAcquire(fqs_shared->lock, LW_SHARED);
			dboid = fqs_shared->slots[i].dboid;
			wanted = fqs_shared->slots[i].wanted;
			pid = fqs_shared->slots[i].pid;
			LWLockRelease(fqs_shared->lock);

			if (handles[i] != NULL &&
				GetBackgroundWorkerPid(handles[i], &hpid) == BGWH_STOPPED)
			{
				pfree(handles[i]);
				handles[i] = NULL;
			}
			if (!OidIsValid(dboid))
				continue;
			if (!wanted)
			{
				/* its worker found no fqs: free the slot once it is gone */
				if (pid == 0 && handles[i] == NULL)
				{
					bool		freed = false;

					LWLockAcquire(fqs_shared->lock, LW_EXCLUSIVE);
					if (!fqs_shared->slots[i].wanted && fqs_shared->slots[i].pid == 0)
					{
						fqs_shared->slots[i].dboid = InvalidOid;
						freed = true;
					}
					LWLockRelease(fqs_shared->lock);
					if (freed)
						launcher_nofqs_note(&nofqs, dboid);
				}
				continue;
			}
			if (pid != 0 || handles[i] != NULL)
				continue;		/* running, or starting */
			if (started[i] != 0 &&
				!TimestampDifferenceExceeds(started[i], GetCurrentTimestamp(),
											LAUNCHER_RESTART_MS))
				continue;		/* died right after its start: not so fast */
			if (launcher_databases(dboid) == NIL)
			{
				/* dropped, or no longer allowed */
				LWLockAcquire(fqs_shared->lock, LW_EXCLUSIVE);
				fqs_shared->slots[i].wanted = false;
				LWLockRelease(fqs_shared->lock);
				continue;
			}
			if (launcher_start_worker(dboid, &handles[i]))
				started[i] = GetCurrentTimestamp();
		}

		(void) WaitLatch(MyLatch,
						 WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 LAUNCHER_NAPTIME_MS, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}

/* Register the launcher; called from _PG_init while preloading. */
void
fqs_register_launcher(void)
{
	BackgroundWorker w;

	memset(&w, 0, sizeof(w));
	w.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	w.bgw_start_time = BgWorkerStart_RecoveryFinished;
	w.bgw_restart_time = 5;
	snprintf(w.bgw_library_name, BGW_MAXLEN, "fqs");
	snprintf(w.bgw_function_name, BGW_MAXLEN, "fqs_launcher_main");
	snprintf(w.bgw_name, BGW_MAXLEN, "fqs launcher");
	snprintf(w.bgw_type, BGW_MAXLEN, "fqs launcher");
	RegisterBackgroundWorker(&w);
}

/* ---------------------------------------------------------------------
 * Per-database worker
 * --------------------------------------------------------------------- */

static int	worker_slot = -1;

/* per queue: wake events seen at the last mover step */
typedef struct MoverSeen
{
	int32		qid;
	uint64		events;
} MoverSeen;

static HTAB *mover_seen = NULL;

static void
worker_detach(int code, Datum arg)
{
	if (worker_slot < 0)
		return;
	LWLockAcquire(fqs_shared->lock, LW_EXCLUSIVE);
	if (fqs_shared->slots[worker_slot].pid == MyProcPid)
	{
		fqs_shared->slots[worker_slot].pid = 0;
		fqs_shared->slots[worker_slot].latch = NULL;
	}
	LWLockRelease(fqs_shared->lock);
}

/* This database no longer wants a worker: say so and leave for good. */
static void
worker_retire(const char *why)
{
	LWLockAcquire(fqs_shared->lock, LW_EXCLUSIVE);
	fqs_shared->slots[worker_slot].wanted = false;
	fqs_shared->slots[worker_slot].has_extension = false;
	LWLockRelease(fqs_shared->lock);
	ereport(DEBUG1, (errmsg("fqs worker exiting: %s", why)));
	proc_exit(0);
}

/*
 * One breaker/mover step for a queue.  max_ready 0 means no pen: any pen
 * left over (the setting changed) drains without limit.
 */
static void
mover_step(int32 qid, const char *name, int32 max_ready, bool breaker_open,
		   bool use_seen)
{
	static FqsPlan has_pen = {
		"SELECT EXISTS (SELECT 1 FROM fqs.pen WHERE qid = $1)",
		1, {INT4OID}, NULL
	};
	/* claimable now: delayed messages do not keep the breaker open */
	static FqsPlan depth = {
		"SELECT pg_catalog.count(*) FROM "
		"  (SELECT 1 FROM fqs.ready WHERE qid = $1 AND lease_until IS NULL "
		"      AND (-(priority::int8), id) >= ($3, $4) "
		"      AND visible_at <= pg_catalog.clock_timestamp() "
		"    LIMIT $2) d",
		4, {INT4OID, INT4OID, INT8OID, INT8OID}, NULL
	};
	static FqsPlan move = {
		"WITH moved AS ("
		"  DELETE FROM fqs.pen "
		"   WHERE id = ANY (ARRAY("
		"         SELECT id FROM fqs.pen WHERE qid = $1 "
		"          ORDER BY priority DESC, id LIMIT $2 "
		"          FOR UPDATE SKIP LOCKED)) "
		"  RETURNING id, qid, kid, seq, gen, priority, visible_at), "
		"ins AS ("
		"  INSERT INTO fqs.ready (id, qid, kid, seq, gen, priority, visible_at) "
		"  SELECT id, qid, kid, seq, gen, priority, visible_at FROM moved "
		"  RETURNING id, priority, visible_at) "
		"SELECT pg_catalog.count(*), pg_catalog.max(priority), "
		"       pg_catalog.min(id), pg_catalog.min(visible_at), "
		"       pg_catalog.max(visible_at) FROM ins",
		2, {INT4OID, INT4OID}, NULL
	};
	static FqsPlan breaker = {
		"UPDATE fqs.queue SET breaker_open = $2, "
		"       breaker_changed_at = pg_catalog.now() WHERE qid = $1",
		2, {INT4OID, BOOLOID}, NULL
	};
	Datum		v[2];
	bool		isnull;
	bool		pen;
	uint64		events = fqs_wake_events(qid, FQS_STAGE_CONCURRENT);
	MoverSeen  *seen;
	bool		found;
	int64		ready = 0;

	if (mover_seen == NULL)
	{
		HASHCTL		ctl;

		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = sizeof(int32);
		ctl.entrysize = sizeof(MoverSeen);
		mover_seen = hash_create("fqs mover", 64, &ctl, HASH_ELEM | HASH_BLOBS);
	}
	seen = hash_search(mover_seen, &qid, HASH_ENTER, &found);
	if (!found)
		seen->events = events - 1;	/* look at least once */

	v[0] = Int32GetDatum(qid);
	fqs_exec(&has_pen, v, NULL, 1);
	pen = DatumGetBool(fqs_getdatum(0, 1, &isnull));
	if (!pen && !breaker_open &&
		(max_ready == 0 || (use_seen && events == seen->events)))
		return;					/* nothing new */

	/*
	 * One pass per queue at a time: two passes would each see the same
	 * room and together overshoot max_ready.  The other pass does it.
	 */
	if (!fqs_lock(FQS_LOCK_MOVER, (uint32) qid, ExclusiveLock, true))
		return;
	seen->events = events;

	if (max_ready > 0)
	{
		uint64		mark;
		bool		track = fqs_depth_recount_begin(qid, &mark);
		FqsScan		s;
		Datum		dv[4];

		/* from the claim cursor: before it is nothing claimable now */
		fqs_scan_begin(qid, FQS_CURSOR_CLAIM, false, &s);
		dv[0] = Int32GetDatum(qid);
		dv[1] = Int32GetDatum(max_ready);
		dv[2] = Int64GetDatum(s.at.hi);
		dv[3] = Int64GetDatum(s.at.lo);
		fqs_exec_ordered(&depth, dv, NULL, 1);
		ready = fqs_getint64(0, 1);
		/* enqueues decide from this count plus what commits since add */
		if (track)
			fqs_depth_recount_end(qid, ready, mark);
		if (!breaker_open && ready >= max_ready)
		{
			v[1] = BoolGetDatum(true);
			fqs_exec(&breaker, v, NULL, 0);
			breaker_open = true;
			ereport(LOG,
					(errmsg("fqs: breaker opened for queue \"%s\": %lld ready messages reached max_ready %d; new messages wait in the holding pen",
							name, (long long) ready, max_ready)));
		}
	}

	if (pen && (max_ready == 0 || ready < max_ready))
	{
		int64		room = max_ready == 0 ? fqs_mover_batch :
			Min((int64) fqs_mover_batch, max_ready - ready);
		int			moved;

		v[1] = Int32GetDatum((int32) room);
		fqs_exec(&move, v, NULL, 1);
		moved = (int) fqs_getint64(0, 1);
		if (moved > 0)
		{
			fqs_scan_added(qid, fqs_getint32(0, 2), fqs_getint64(0, 3),
						   DatumGetTimestampTz(fqs_getdatum(0, 4, &isnull)),
						   DatumGetTimestampTz(fqs_getdatum(0, 5, &isnull)));
			fqs_ready_added_at_commit(qid, moved);
			fqs_wake_at_commit(qid, FQS_STAGE_CONCURRENT, moved);
		}
		ready += moved;
		if (moved == room)
		{
			/* cut short by the batch size: look again now, not after naptime */
			if (room == fqs_mover_batch && IsBackgroundWorker)
				SetLatch(MyLatch);
			return;
		}
		fqs_exec(&has_pen, v, NULL, 1);
		pen = DatumGetBool(fqs_getdatum(0, 1, &isnull));
	}

	if (breaker_open && !pen && (max_ready == 0 || ready * 2 < max_ready))
	{
		v[1] = BoolGetDatum(false);
		fqs_exec(&breaker, v, NULL, 0);
		ereport(LOG,
				(errmsg("fqs: breaker closed for queue \"%s\": the holding pen is empty and %lld messages are ready",
						name, (long long) ready)));
	}
}

/*
 * One pass over every queue of this database, in the current transaction:
 * what the worker does every fqs.naptime, and what fqs_maintain() runs.
 * use_seen skips queues without activity since the last pass; only the
 * worker may, because an error ends it and its memory of what it saw
 * with it, whereas a caller of fqs_maintain() may roll back.
 */
static void
worker_tick(bool use_seen)
{
	static FqsPlan queues = {
		"SELECT qid, name, max_attempts, "
		"       COALESCE(max_ready, $1), breaker_open "
		"  FROM fqs.queue ORDER BY qid",
		1, {INT4OID}, NULL
	};
	Datum		v[1];
	SPITupleTable *qt;
	int			nq;
	int			i;

	v[0] = Int32GetDatum(fqs_default_max_ready);
	nq = fqs_exec(&queues, v, NULL, 0);
	qt = fqs_take_tuptable();
	for (i = 0; i < nq; i++)
	{
		bool		isnull;
		int32		qid = DatumGetInt32(SPI_getbinval(qt->vals[i], qt->tupdesc, 1, &isnull));
		char	   *name = TextDatumGetCString(SPI_getbinval(qt->vals[i], qt->tupdesc, 2, &isnull));
		int32		max_attempts = DatumGetInt32(SPI_getbinval(qt->vals[i], qt->tupdesc, 3, &isnull));
		int32		max_ready = DatumGetInt32(SPI_getbinval(qt->vals[i], qt->tupdesc, 4, &isnull));
		bool		open = DatumGetBool(SPI_getbinval(qt->vals[i], qt->tupdesc, 5, &isnull));

		fqs_requeue_concurrent(qid, max_attempts, NULL);
		fqs_requeue_sequential(qid, max_attempts);
		mover_step(qid, name, max_ready, open, use_seen);
	}
	SPI_freetuptable(qt);
}

void
fqs_worker_main(Datum arg)
{
	Oid			dboid = DatumGetObjectId(arg);
	TimestampTz start;
	TimestampTz last_rotate;
	MemoryContext tick_cxt;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	LWLockAcquire(fqs_shared->lock, LW_EXCLUSIVE);
	worker_slot = slot_for(dboid, false);
	if (worker_slot >= 0 && fqs_shared->slots[worker_slot].pid != 0)
		worker_slot = -1;		/* another worker serves this database */
	if (worker_slot >= 0)
	{
		fqs_shared->slots[worker_slot].pid = MyProcPid;
		fqs_shared->slots[worker_slot].latch = MyLatch;
	}
	LWLockRelease(fqs_shared->lock);
	if (worker_slot < 0)
		proc_exit(0);
	before_shmem_exit(worker_detach, (Datum) 0);

	BackgroundWorkerInitializeConnectionByOid(dboid, InvalidOid, 0);
	pgstat_report_appname("fqs worker");

	/*
	 * The worker runs as the bootstrap superuser.  Whatever the database's
	 * or role's defaults, every statement it runs resolves functions and
	 * operators in pg_catalog first, so that look-alikes that other roles
	 * created in public or in a schema named like a role can never run
	 * with its rights; and it reads the latest committed state.
	 */
	SetConfigOption("search_path", "pg_catalog, pg_temp",
					PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("default_transaction_isolation", "read committed",
					PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("default_transaction_read_only", "off",
					PGC_SUSET, PGC_S_OVERRIDE);

	tick_cxt = AllocSetContextCreate(TopMemoryContext, "fqs worker tick",
									 ALLOCSET_DEFAULT_SIZES);
	start = GetCurrentTimestamp();
	last_rotate = 0;

	for (;;)
	{
		bool		have_fqs;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}

		MemoryContextSwitchTo(tick_cxt);
		SetCurrentStatementStartTimestamp();
		StartTransactionCommand();
		PushActiveSnapshot(GetTransactionSnapshot());
		have_fqs = !RecoveryInProgress() &&
			OidIsValid(get_extension_oid("fqs", true));
		if (have_fqs)
		{
			bool		was;

			LWLockAcquire(fqs_shared->lock, LW_EXCLUSIVE);
			was = fqs_shared->slots[worker_slot].has_extension;
			fqs_shared->slots[worker_slot].has_extension = true;
			LWLockRelease(fqs_shared->lock);
			if (!was)
				ereport(LOG,
						(errmsg("fqs worker started for database \"%s\"",
								get_database_name(MyDatabaseId))));
			pgstat_report_activity(STATE_RUNNING, "fqs worker: reaper and mover");
			SPI_connect();
			worker_tick(true);
			if (TimestampDifferenceExceeds(last_rotate, GetCurrentTimestamp(),
										   WORKER_ROTATE_MS))
			{
				/* finished messages older than fqs.retention leave */
				last_rotate = GetCurrentTimestamp();
				if (fqs_rotate_generation(false) >= 0)
					ereport(LOG,
							(errmsg("fqs: rotated message generations in database \"%s\"",
									get_database_name(MyDatabaseId))));
			}
			SPI_finish();
		}
		PopActiveSnapshot();
		CommitTransactionCommand();
		pgstat_report_stat(true);
		pgstat_report_activity(STATE_IDLE, NULL);
		MemoryContextSwitchTo(TopMemoryContext);
		MemoryContextReset(tick_cxt);

		if (!have_fqs)
		{
			bool		had;

			LWLockAcquire(fqs_shared->lock, LW_SHARED);
			had = fqs_shared->slots[worker_slot].has_extension;
			LWLockRelease(fqs_shared->lock);
			if (had)
				worker_retire("extension fqs was dropped");
			if (TimestampDifferenceExceeds(start, GetCurrentTimestamp(),
										   WORKER_GRACE_MS))
				worker_retire("extension fqs is not installed");
		}

		{
			TimestampTz pass_end = GetCurrentTimestamp();
			long		since;

			(void) WaitLatch(MyLatch,
							 WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 fqs_naptime_ms, PG_WAIT_EXTENSION);
			ResetLatch(MyLatch);
			since = (long) ((GetCurrentTimestamp() - pass_end) / 1000);
			if (since < WORKER_MIN_PASS_MS && since < fqs_naptime_ms)
				(void) WaitLatch(NULL, WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
								 Min(WORKER_MIN_PASS_MS, fqs_naptime_ms) - since,
								 PG_WAIT_EXTENSION);
		}
	}
}

/* ---------------------------------------------------------------------
 * SQL
 * --------------------------------------------------------------------- */

/*
 * fqs.start_worker(): ask for this database's worker now.  Called by
 * CREATE EXTENSION; says what is missing when fqs is not preloaded.  These
 * are WARNINGs because an extension script runs with client_min_messages
 * at least WARNING: a NOTICE would never reach the user.
 */
Datum
fqs_start_worker(PG_FUNCTION_ARGS)
{
	if (fqs_shared == NULL)
	{
		ereport(WARNING,
				(errmsg("fqs is not in shared_preload_libraries, so no background worker runs"),
				 errdetail("Claims still expire leases themselves, but waiting claims poll, the holding pen stays closed and delayed messages wake no one."),
				 errhint("Add fqs to shared_preload_libraries and restart the server.")));
		PG_RETURN_BOOL(false);
	}
	if (!database_allowed(get_database_name(MyDatabaseId)))
	{
		ereport(WARNING,
				(errmsg("database \"%s\" is not listed in fqs.databases, so no fqs worker runs for it",
						get_database_name(MyDatabaseId))));
		PG_RETURN_BOOL(false);
	}
	PG_RETURN_BOOL(request_worker(MyDatabaseId, false));
}

/* fqs_workers(): the worker slots, for monitoring. */
Datum
fqs_workers(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	FqsWorkerSlot *copy;
	int			n = 0;
	int			i;

	InitMaterializedSRF(fcinfo, 0);
	if (fqs_shared == NULL)
		return (Datum) 0;
	copy = palloc(sizeof(FqsWorkerSlot) * fqs_shared->nslots);
	LWLockAcquire(fqs_shared->lock, LW_SHARED);
	for (i = 0; i < fqs_shared->nslots; i++)
		if (OidIsValid(fqs_shared->slots[i].dboid) && fqs_shared->slots[i].wanted)
			copy[n++] = fqs_shared->slots[i];
	LWLockRelease(fqs_shared->lock);

	for (i = 0; i < n; i++)
	{
		Datum		values[3];
		bool		nulls[3] = {false, false, false};
		char	   *dbname = get_database_name(copy[i].dboid);

		if (dbname == NULL)
			continue;
		values[0] = DirectFunctionCall1(namein, CStringGetDatum(dbname));
		values[1] = Int32GetDatum((int32) copy[i].pid);
		nulls[1] = copy[i].pid == 0;
		values[2] = BoolGetDatum(copy[i].has_extension);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * fqs_maintain(): run one worker pass (reaper, breaker, mover) for this
 * database now, in the caller's transaction.  For servers without the
 * background worker (call it from cron), and for tests.
 */
Datum
fqs_maintain(PG_FUNCTION_ARGS)
{
	FqsCall		call;

	fqs_call_begin(&call);
	fqs_check_right(0, FQS_RIGHT_ALL, "*");
	worker_tick(false);
	fqs_call_end(&call);
	PG_RETURN_VOID();
}
