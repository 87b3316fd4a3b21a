/*-------------------------------------------------------------------------
 *
 * acl.c
 *	  Per-queue privileges, the identity API functions run under, receipts,
 *	  and fqs_message_status.
 *
 * The API functions are not SECURITY DEFINER: each one learns its caller
 * (GetUserId() on entry), checks the caller's right on the queue it
 * touches, and runs its statements as the extension's owner (the owner of
 * schema fqs) through fqs_call_begin()/fqs_call_end().  An error anywhere
 * restores the caller's identity through (sub)transaction abort, as for
 * SECURITY DEFINER.
 *
 * Rights: produce, consume and admin (which includes the other two) on a
 * queue, or on every queue (qid 0), given by fqs_grant() to a role and
 * inherited by its members; members of fqs_producer, fqs_consumer and
 * fqs_admin have that right on every queue; superusers and the extension's
 * owner have all rights.  Rights are cached per backend by (role, qid) and
 * dropped when fqs.grants, role memberships or roles change (relcache and
 * syscache invalidation), so a check costs a hash lookup.
 *
 * Copyright (c) 2026, fqs developers
 *
 * IDENTIFICATION
 *	  src/acl.c
 *
 *-------------------------------------------------------------------------
 */
#include "fqs.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"

PG_FUNCTION_INFO_V1(fqs_may_see);
PG_FUNCTION_INFO_V1(fqs_grant);
PG_FUNCTION_INFO_V1(fqs_revoke);
PG_FUNCTION_INFO_V1(fqs_receipt);
PG_FUNCTION_INFO_V1(fqs_message_status);

typedef struct AclKey
{
	Oid			role;
	int32		qid;
} AclKey;

typedef struct AclEntry
{
	AclKey		key;
	int			rights;
} AclEntry;

static HTAB *acl_cache = NULL;
static Oid	acl_grants_relid = InvalidOid;
static FqsCall *acl_current = NULL;

static void
acl_invalidate(void)
{
	if (acl_cache != NULL)
	{
		hash_destroy(acl_cache);
		acl_cache = NULL;
	}
}

static void
acl_relcache_cb(Datum arg, Oid relid)
{
	if (!OidIsValid(relid) || relid == acl_grants_relid)
		acl_invalidate();
}

static void
acl_syscache_cb(Datum arg, int cacheid, uint32 hashvalue)
{
	acl_invalidate();
}

/* The extension's owner: the owner of schema fqs. */
static Oid
acl_owner(void)
{
	Oid			nsp = get_namespace_oid("fqs", false);
	HeapTuple	tup;
	Oid			owner;

	tup = SearchSysCache1(NAMESPACEOID, ObjectIdGetDatum(nsp));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "fqs: cache lookup failed for schema %u", nsp);
	owner = ((Form_pg_namespace) GETSTRUCT(tup))->nspowner;
	ReleaseSysCache(tup);
	return owner;
}

/*
 * Connect to SPI and become the extension's owner; remembers the caller
 * for fqs_check_right().
 */
void
fqs_call_begin(FqsCall *c)
{
	GetUserIdAndSecContext(&c->saved_user, &c->saved_sec);
	c->caller = c->saved_user;
	c->owner = acl_owner();
	c->outer = acl_current;
	acl_current = c;
	SPI_connect();
	SetUserIdAndSecContext(c->owner,
						   c->saved_sec | SECURITY_LOCAL_USERID_CHANGE);
}

void
fqs_call_end(FqsCall *c)
{
	SPI_finish();
	SetUserIdAndSecContext(c->saved_user, c->saved_sec);
	acl_current = c->outer;
}

/* Rights of role on queue qid (0: every queue); caller is connected. */
static int
acl_compute(Oid role, int32 qid, Oid owner)
{
	static FqsPlan plan = {
		"SELECT COALESCE(pg_catalog.bit_or(CASE g.privilege "
		"         WHEN 'produce' THEN 1 WHEN 'consume' THEN 2 ELSE 7 END), 0) "
		"  FROM fqs.grants g "
		" WHERE g.qid IN (0, $1) "
		"   AND pg_catalog.pg_has_role($2, g.role::pg_catalog.oid, 'USAGE')",
		2, {INT4OID, OIDOID}, NULL
	};
	static const struct
	{
		const char *name;
		int			rights;
	}			groups[] = {
		{"fqs_admin", FQS_RIGHT_ALL},
		{"fqs_consumer", FQS_RIGHT_CONSUME},
		{"fqs_producer", FQS_RIGHT_PRODUCE},
	};
	Datum		v[2];
	int			rights = 0;
	int			i;

	if (superuser_arg(role) || role == owner)
		return FQS_RIGHT_ALL;
	for (i = 0; i < (int) lengthof(groups); i++)
	{
		Oid			g = get_role_oid(groups[i].name, true);

		if (OidIsValid(g) && has_privs_of_role(role, g))
			rights |= groups[i].rights;
	}
	v[0] = Int32GetDatum(qid);
	v[1] = ObjectIdGetDatum(role);
	fqs_exec(&plan, v, NULL, 1);
	rights |= fqs_getint32(0, 1);
	return rights;
}

/* Rights of role on qid, from the cache; caller is connected. */
static int
acl_rights(Oid role, int32 qid, Oid owner)
{
	static bool registered = false;
	AclKey		key;
	AclEntry   *e;
	bool		found;

	if (!registered)
	{
		CacheRegisterRelcacheCallback(acl_relcache_cb, (Datum) 0);
		CacheRegisterSyscacheCallback(AUTHMEMROLEMEM, acl_syscache_cb, (Datum) 0);
		CacheRegisterSyscacheCallback(AUTHOID, acl_syscache_cb, (Datum) 0);
		CacheRegisterSyscacheCallback(NAMESPACEOID, acl_syscache_cb, (Datum) 0);
		registered = true;
	}
	if (acl_cache == NULL)
	{
		HASHCTL		ctl;

		acl_grants_relid = get_relname_relid("grants",
											 get_namespace_oid("fqs", false));
		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = sizeof(AclKey);
		ctl.entrysize = sizeof(AclEntry);
		ctl.hcxt = TopMemoryContext;
		acl_cache = hash_create("fqs rights", 64, &ctl,
								HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	memset(&key, 0, sizeof(key));
	key.role = role;
	key.qid = qid;
	e = hash_search(acl_cache, &key, HASH_FIND, &found);
	if (found)
		return e->rights;
	{
		/* the caller may still be reading its last statement's result */
		SPITupleTable *saved = fqs_take_tuptable();
		uint64		saved_processed = SPI_processed;
		int			rights = acl_compute(role, qid, owner);

		SPI_freetuptable(fqs_take_tuptable());
		SPI_tuptable = saved;
		SPI_processed = saved_processed;

		/* the computation may have run an invalidation callback */
		if (acl_cache == NULL)
			return rights;
		e = hash_search(acl_cache, &key, HASH_ENTER, &found);
		e->rights = rights;
		return rights;
	}
}

static const char *
acl_right_name(int right)
{
	switch (right)
	{
		case FQS_RIGHT_PRODUCE:
			return "produce";
		case FQS_RIGHT_CONSUME:
			return "consume";
		default:
			return "admin";
	}
}

/*
 * Does the current API call's caller hold right on queue qid (0: on every
 * queue)?  Inside fqs_call_begin()/fqs_call_end() only.
 */
bool
fqs_has_right(int32 qid, int right)
{
	int			rights;

	if (acl_current == NULL)
		elog(ERROR, "fqs: privilege check outside an API call");
	rights = acl_rights(acl_current->caller, qid, acl_current->owner);

	if (right == FQS_RIGHT_SEE)
		return rights != 0;
	return (rights & right) == right;
}

/* ERROR unless the caller holds right on queue qid (name for the message). */
void
fqs_check_right(int32 qid, int right, const char *name)
{
	if (fqs_has_right(qid, right))
		return;
	if (name != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to %s on queue \"%s\"",
						acl_right_name(right), name),
				 errhint("An admin of the queue can grant it with fqs_grant().")));
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied to %s on this message's queue",
					acl_right_name(right)),
			 errhint("An admin of the queue can grant it with fqs_grant().")));
}

/*
 * Before explaining why a call on message id failed: ERROR unless the
 * caller may see the message's queue (unknown ids pass; they are reported
 * as unknown).
 */
void
fqs_check_message_visible(int64 id)
{
	static FqsPlan plan = {
		"SELECT qid FROM fqs.message WHERE id = $1",
		1, {INT8OID}, NULL
	};
	Datum		v[1];

	v[0] = Int64GetDatum(id);
	if (fqs_exec(&plan, v, NULL, 1) == 1)
		fqs_check_right(fqs_getint32(0, 1), FQS_RIGHT_CONSUME, NULL);
}

/*
 * fqs.may_see(qid, monitor): may the current user see queue qid (any
 * right; with monitor, also as a member of pg_monitor)?  For the views.
 */
Datum
fqs_may_see(PG_FUNCTION_ARGS)
{
	int32		qid = PG_GETARG_INT32(0);
	bool		monitor = PG_GETARG_BOOL(1);
	FqsCall		c;
	bool		ok;

	if (monitor && has_privs_of_role(GetUserId(), ROLE_PG_MONITOR))
		PG_RETURN_BOOL(true);
	fqs_call_begin(&c);
	ok = acl_rights(c.caller, qid, c.owner) != 0;
	fqs_call_end(&c);
	PG_RETURN_BOOL(ok);
}

static int
acl_parse_right(FunctionCallInfo fcinfo, int argno)
{
	char	   *p;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("privilege must not be null")));
	p = text_to_cstring(PG_GETARG_TEXT_PP(argno));
	if (strcmp(p, "produce") == 0)
		return FQS_RIGHT_PRODUCE;
	if (strcmp(p, "consume") == 0)
		return FQS_RIGHT_CONSUME;
	if (strcmp(p, "admin") == 0)
		return FQS_RIGHT_ALL;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unknown privilege \"%s\"", p),
			 errhint("Use 'produce', 'consume' or 'admin'.")));
	return 0;					/* keep compiler quiet */
}

/* fqs_grant and fqs_revoke: (queue or '*', role, privilege) */
static void
acl_change(FunctionCallInfo fcinfo, bool grant)
{
	static FqsPlan qid_of = {
		"SELECT qid FROM fqs.queue WHERE name = $1",
		1, {TEXTOID}, NULL
	};
	static FqsPlan ins = {
		"INSERT INTO fqs.grants (qid, role, privilege) VALUES ($1, $2, $3) "
		"ON CONFLICT DO NOTHING",
		3, {INT4OID, REGROLEOID, TEXTOID}, NULL
	};
	static FqsPlan del = {
		"DELETE FROM fqs.grants WHERE qid = $1 AND role = $2 AND privilege = $3",
		3, {INT4OID, REGROLEOID, TEXTOID}, NULL
	};
	char	   *name = fqs_check_queue_name(fcinfo, 0);
	int			right = acl_parse_right(fcinfo, 2);
	Oid			role;
	int32		qid = 0;
	FqsCall		c;
	Datum		v[3];

	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("role must not be null")));
	role = PG_GETARG_OID(1);
	if (!SearchSysCacheExists1(AUTHOID, ObjectIdGetDatum(role)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("role with OID %u does not exist", role)));
	fqs_call_begin(&c);
	if (strcmp(name, "*") != 0)
	{
		v[0] = CStringGetTextDatum(name);
		if (fqs_exec(&qid_of, v, NULL, 1) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("queue \"%s\" does not exist", name)));
		qid = fqs_getint32(0, 1);
	}
	fqs_check_right(qid, FQS_RIGHT_ALL, name);
	if (qid != 0)
		fqs_refuse_moving(qid, name);
	v[0] = Int32GetDatum(qid);
	v[1] = ObjectIdGetDatum(role);
	v[2] = CStringGetTextDatum(acl_right_name(right));
	fqs_exec(grant ? &ins : &del, v, NULL, 0);
	/* every backend drops its cached rights when this commits */
	CacheInvalidateRelcacheByRelid(get_relname_relid("grants",
													 get_namespace_oid("fqs", false)));
	fqs_call_end(&c);
}

Datum
fqs_grant(PG_FUNCTION_ARGS)
{
	acl_change(fcinfo, true);
	PG_RETURN_VOID();
}

Datum
fqs_revoke(PG_FUNCTION_ARGS)
{
	acl_change(fcinfo, false);
	PG_RETURN_VOID();
}

/*
 * fqs.receipt(): 63 random bits, never 0 -- receipts cannot be guessed.
 * With fqs.node_id set, the low 10 bits are the node's number instead.
 */
Datum
fqs_receipt(PG_FUNCTION_ARGS)
{
	uint64		r;

	do
	{
		if (!pg_strong_random(&r, sizeof(r)))
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("could not generate a random receipt")));
		r &= UINT64CONST(0x7FFFFFFFFFFFFFFF);
		if (fqs_node_id != 0)
			r = (r & ~((uint64) FQS_MAX_NODE_ID)) | (uint64) fqs_node_id;
	} while (r == 0);
	PG_RETURN_INT64((int64) r);
}

/*
 * fqs_message_status(id): where one message is.  No row for unknown ids
 * and for messages of queues the caller may not see.
 */
Datum
fqs_message_status(PG_FUNCTION_ARGS)
{
	static FqsPlan plan = {
		"SELECT q.name, h.fifo_key, m.seq, "
		"       CASE "
		"         WHEN d.id IS NOT NULL THEN 'dead' "
		"         WHEN dn.id IS NOT NULL AND dn.skip_reason IS NOT NULL THEN 'skipped' "
		"         WHEN dn.id IS NOT NULL THEN 'done' "
		"         WHEN r.id IS NOT NULL AND r.lease_until IS NOT NULL THEN 'claimed' "
		"         WHEN r.id IS NOT NULL "
		"              AND r.visible_at > pg_catalog.clock_timestamp() THEN 'delayed' "
		"         WHEN r.id IS NOT NULL THEN 'ready' "
		"         WHEN p.id IS NOT NULL AND rl.lease_until IS NOT NULL "
		"              AND m.seq <= rl.hold_upto AND m.seq > h.head_seq THEN 'sequencing' "
		"         WHEN p.id IS NOT NULL THEN 'processed' "
		"         WHEN pn.id IS NOT NULL THEN 'pen' "
		"         ELSE 'unknown' "
		"       END, "
		"       COALESCE(d.attempts, "
		"                CASE WHEN rl.kid IS NOT NULL AND m.seq = h.head_seq + 1 "
		"                      AND rl.head_attempts > 0 "
		"                     THEN rl.head_attempts END, "
		"                r.attempt, p.attempts, 0), "
		"       m.enqueued_at, COALESCE(r.claimed_at, p.claimed_at), "
		"       p.committed_at, dn.done_at, "
		"       COALESCE(d.last_error, "
		"                CASE WHEN rl.kid IS NOT NULL AND m.seq = h.head_seq + 1 "
		"                     THEN rl.last_error END, "
		"                r.last_error, dn.skip_reason), "
		"       m.qid "
		"  FROM fqs.message m "
		"  JOIN fqs.queue q ON q.qid = m.qid "
		"  JOIN fqs.key_head h ON h.kid = m.kid "
		"  LEFT JOIN fqs.dead d ON d.id = m.id "
		"  LEFT JOIN fqs.ready r ON r.id = m.id "
		"  LEFT JOIN fqs.processed p ON p.id = m.id "
		"  LEFT JOIN fqs.done dn ON dn.id = m.id "
		"  LEFT JOIN fqs.releasable rl ON rl.kid = m.kid "
		"  LEFT JOIN fqs.pen pn ON pn.id = m.id "
		" WHERE m.id = $1",
		1, {INT8OID}, NULL
	};
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int64		id = fqs_arg_int64(fcinfo, 0, "id");
	FqsCall		c;
	Datum		v[1];

	InitMaterializedSRF(fcinfo, 0);
	fqs_call_begin(&c);
	v[0] = Int64GetDatum(id);
	if (fqs_exec(&plan, v, NULL, 1) == 1 &&
		fqs_has_right(fqs_getint32(0, 11), FQS_RIGHT_SEE))
	{
		Datum		values[11];
		bool		nulls[11];

		heap_deform_tuple(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
						  values, nulls);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc,
							 values, nulls);
	}
	fqs_call_end(&c);
	return (Datum) 0;
}
