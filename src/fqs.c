/*-------------------------------------------------------------------------
 *
 * fqs.c
 *	  Module entry point and configuration of fqs.
 *
 * fqs works without shared_preload_libraries: every SQL entry point does
 * its own lease expiry.  The settings here are all reloadable.
 *
 * Copyright (c) 2026, fqs developers
 *
 * IDENTIFICATION
 *	  src/fqs.c
 *
 *-------------------------------------------------------------------------
 */
#include "fqs.h"

#include "utils/guc.h"
#include "utils/memutils.h"

PG_MODULE_MAGIC;

int			fqs_max_payload_bytes = 16 * 1024 * 1024;
int			fqs_retention_s = 7 * 24 * 3600;

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

	MarkGUCPrefixReserved("fqs");
}
