/*-------------------------------------------------------------------------
 *
 * fqs.c
 *	  Module entry point and configuration of fqs.
 *
 * fqs works without shared_preload_libraries: every SQL entry point does
 * its own lease expiry.  Preloaded, it also gets shared memory (wake-ups
 * for waiting claims, see shmem.c) and its background workers (worker.c).
 *
 * Copyright (c) 2026, fqs developers
 *
 * IDENTIFICATION
 *	  src/fqs.c
 *
 *-------------------------------------------------------------------------
 */
#include "fqs.h"

#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "miscadmin.h"
#include "utils/guc.h"
#include "utils/memutils.h"

PG_MODULE_MAGIC;

int			fqs_max_payload_bytes = 16 * 1024 * 1024;
int			fqs_retention_s = 7 * 24 * 3600;
int			fqs_naptime_ms = 200;
int			fqs_default_max_ready = 10000;
int			fqs_reaper_batch = 1000;
int			fqs_mover_batch = 1000;
int			fqs_max_databases = 16;
int			fqs_max_queues = 4096;
int			fqs_key_cache_size = 131072;
char	   *fqs_databases = NULL;
int			fqs_max_batch = 10000;
int			fqs_max_lease_s = 24 * 3600;
int			fqs_max_delay_s = 30 * 24 * 3600;
int			fqs_max_wait_s = 3600;
int			fqs_node_id = 0;
int			fqs_malloc_trim_kb = 4096;

void		_PG_init(void);

void
_PG_init(void)
{
	DefineCustomIntVariable("fqs.max_payload_bytes",
							"Largest payload or result fqs accepts.",
							"Larger payloads are refused with an error.",
							&fqs_max_payload_bytes,
							16 * 1024 * 1024,
							1,
							(int) (MaxAllocSize - VARHDRSZ),
							PGC_SUSET,
							GUC_UNIT_BYTE,
							NULL, NULL, NULL);

	DefineCustomIntVariable("fqs.retention",
							"How long finished messages stay answerable.",
							"fqs_rotate() truncates a message generation "
							"once all of it is finished and it is older "
							"than this.",
							&fqs_retention_s,
							7 * 24 * 3600,
							0,
							INT_MAX,
							PGC_SIGHUP,
							GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomIntVariable("fqs.naptime",
							"Time between two passes of an fqs worker.",
							"Each pass reaps expired leases and runs the "
							"holding-pen breaker and mover of every queue.",
							&fqs_naptime_ms,
							200,
							10,
							3600 * 1000,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("fqs.max_ready",
							"Default ready depth at which a queue's breaker opens.",
							"Used for queues whose max_ready is NULL; 0 means "
							"no holding pen.",
							&fqs_default_max_ready,
							10000,
							0,
							INT_MAX,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("fqs.reaper_batch",
							"Expired leases returned per queue and pass.",
							NULL,
							&fqs_reaper_batch,
							1000,
							1,
							1000000,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("fqs.mover_batch",
							"Holding-pen messages moved per queue and pass.",
							NULL,
							&fqs_mover_batch,
							1000,
							1,
							1000000,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);

	/*
	 * Bounds on what one call may ask for, so that no role can starve the
	 * others or park a key for good; only a superuser may raise them.
	 */
	DefineCustomIntVariable("fqs.max_batch",
							"Largest n of a claim, batch enqueue or queue list.",
							NULL,
							&fqs_max_batch,
							10000,
							1,
							1000000,
							PGC_SUSET,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("fqs.max_lease",
							"Longest lease a claim or lease extension may ask for.",
							NULL,
							&fqs_max_lease_s,
							24 * 3600,
							1,
							INT_MAX,
							PGC_SUSET,
							GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomIntVariable("fqs.max_delay",
							"Longest delay of deliver_at and retry_after.",
							NULL,
							&fqs_max_delay_s,
							30 * 24 * 3600,
							0,
							INT_MAX,
							PGC_SUSET,
							GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomIntVariable("fqs.max_wait",
							"Longest wait of a claim.",
							NULL,
							&fqs_max_wait_s,
							3600,
							0,
							INT_MAX,
							PGC_SUSET,
							GUC_UNIT_S,
							NULL, NULL, NULL);

	/*
	 * A server's number among the fqs servers a router (fqs_router) spreads
	 * queues over.  It goes into the low bits of every new message id and
	 * receipt (see fqs_node_tag), so that they are unique across servers
	 * and name the one that issued them.
	 */
	DefineCustomIntVariable("fqs.node_id",
							"This server's number among fqs nodes (0: none).",
							"1 to 1023 put the number into the low 10 bits of "
							"every new message id and receipt.  Set it once, "
							"before the first message, and never change it "
							"back to 0.",
							&fqs_node_id,
							0,
							0,
							FQS_MAX_NODE_ID,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);

	DefineCustomStringVariable("fqs.databases",
							   "Databases that get an fqs worker.",
							   "Comma-separated names; empty means every "
							   "database that has the extension.",
							   &fqs_databases,
							   "",
							   PGC_SIGHUP,
							   GUC_LIST_INPUT,
							   NULL, NULL, NULL);

	if (!process_shared_preload_libraries_in_progress)
	{
		MarkGUCPrefixReserved("fqs");
		return;
	}

	/* settings that size shared memory: only when preloaded */
	DefineCustomIntVariable("fqs.max_databases",
							"Databases that can have an fqs worker at once.",
							NULL,
							&fqs_max_databases,
							16,
							1,
							1024,
							PGC_POSTMASTER,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("fqs.max_queues",
							"Queues, over all databases, whose ready depth "
							"enqueues track in shared memory.",
							"Past this, the holding pen of further queues "
							"opens only with the worker's passes.",
							&fqs_max_queues,
							4096,
							16,
							1000000,
							PGC_POSTMASTER,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("fqs.key_cache_size",
							"FIFO keys, over all databases, whose last seq "
							"enqueues keep in shared memory.",
							"An enqueue of a key not kept reads it from the "
							"tables, one statement more; 0 keeps none.",
							&fqs_key_cache_size,
							131072,
							0,
							64 * 1024 * 1024,
							PGC_POSTMASTER,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("fqs.malloc_trim_threshold",
							"Free heap memory a backend keeps instead of "
							"returning it to the kernel (glibc).",
							"Set in the postmaster, inherited by every "
							"backend; -1 leaves glibc's adaptive setting.",
							&fqs_malloc_trim_kb,
							4096,
							-1,
							1024 * 1024,
							PGC_POSTMASTER,
							GUC_UNIT_KB,
							NULL, NULL, NULL);

	MarkGUCPrefixReserved("fqs");

#ifdef __GLIBC__

	/*
	 * A claim's statements use a few hundred kB of executor memory that
	 * glibc, with its default thresholds of 128 kB, hands back to the
	 * kernel at the end of each statement and faults in again at the next
	 * one: two brk() calls, TLB flushes and page faults per statement.
	 * glibc raises both thresholds by itself only once the backend has
	 * freed a large mmapped chunk, which is luck.  Fix them here, in the
	 * postmaster, so that every backend starts settled: freed memory up to
	 * the trim threshold stays in the heap, blocks from 1 MB on are still
	 * mapped and unmapped on their own.
	 */
	if (fqs_malloc_trim_kb >= 0)
	{
		int			trim = fqs_malloc_trim_kb * 1024;

		mallopt(M_MMAP_THRESHOLD, Min(Max(trim / 2, 128 * 1024), 1024 * 1024));
		mallopt(M_TRIM_THRESHOLD, trim);
	}
#endif

	/* before any callback of first use: see there */
	fqs_wake_callback_init();
	fqs_shmem_install_hooks();
	fqs_register_launcher();
}
