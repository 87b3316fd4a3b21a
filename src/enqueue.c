/*-------------------------------------------------------------------------
 *
 * enqueue.c
 *	  fqs_enqueue and fqs_enqueue_batch.
 *
 * Per-key order: an enqueue locks its key's fqs.key_tail row (FOR UPDATE,
 * held until the enqueuing transaction ends) and then reads the key's last
 * seq, kept in shared memory by tail.c, or else from its newest stored
 * message.  A second producer on the same key
 * waits for that lock, so seqs of one key are handed out in commit order
 * and a rolled-back enqueue gives its seq back: the sequential stage can
 * trust that no smaller seq of the key is still in flight.  A batch
 * reserves a range per key, taking the key locks in sorted key order so
 * two batches cannot deadlock each other.  The row is locked, not updated,
 * so a held snapshot leaves no version chain behind on it.
 *
 * While the queue's breaker is open (see worker.c) new messages go to the
 * holding pen instead of the ready set; their seq is fixed here either
 * way, so the pen never changes FIFO order.
 *
 * Cost: O(log D) index inserts per message, plus O(log K) per distinct key
 * of the call; independent of consumers.  Producers of the same key
 * serialise on that key's row.
 *
 * Copyright (c) 2026, fqs developers
 *
 * IDENTIFICATION
 *	  src/enqueue.c
 *
 *-------------------------------------------------------------------------
 */
#include "fqs.h"

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/sequence.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

PG_FUNCTION_INFO_V1(fqs_enqueue);
PG_FUNCTION_INFO_V1(fqs_enqueue_batch);

typedef struct EnqItem
{
	int			pos;			/* index in the call's input */
	const char *key;
} EnqItem;

static int
enq_item_cmp(const void *a, const void *b)
{
	const EnqItem *x = (const EnqItem *) a;
	const EnqItem *y = (const EnqItem *) b;
	int			c = strcmp(x->key, y->key);

	if (c != 0)
		return c;
	return x->pos - y->pos;
}

static void
enq_check_payload(text *payload, int pos)
{
	Size		len = VARSIZE_ANY_EXHDR(payload);

	if (len > (Size) fqs_max_payload_bytes)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 pos < 0 ?
				 errmsg("payload is too large (%zu bytes)", len) :
				 errmsg("payload %d is too large (%zu bytes)", pos + 1, len),
				 errdetail("fqs.max_payload_bytes is %d.",
						   fqs_max_payload_bytes)));
}

/* headers count against fqs.max_payload_bytes like payloads */
static void
enq_check_headers(Datum h, int pos)
{
	Size		len = VARSIZE_ANY_EXHDR(DatumGetPointer(h));

	if (len > (Size) fqs_max_payload_bytes)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 pos < 0 ?
				 errmsg("headers are too large (%zu bytes)", len) :
				 errmsg("headers %d are too large (%zu bytes)", pos + 1, len),
				 errdetail("fqs.max_payload_bytes is %d.",
						   fqs_max_payload_bytes)));
}

static void
enq_check_key(const char *key)
{
	if (strlen(key) > FQS_MAX_KEY_BYTES)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("fifo_key is too long (%zu bytes)", strlen(key)),
				 errdetail("fifo_key is at most %d bytes.",
						   FQS_MAX_KEY_BYTES)));
}

static Oid
enq_message_id_seq(void)
{
	Oid			nsp = get_namespace_oid("fqs", false);
	Oid			seq = get_relname_relid("message_id_seq", nsp);

	if (!OidIsValid(seq))
		elog(ERROR, "fqs: sequence fqs.message_id_seq is missing");
	return seq;
}

/*
 * Do n new messages of queue q go to the holding pen?  While the breaker
 * is open, yes.  Otherwise the enqueue itself checks the ready depth (an
 * upper bound kept in shared memory, see shmem.c), so that a burst between
 * two worker passes cannot push the ready depth past max_ready by more
 * than what concurrent enqueues have in flight.
 */
static bool
enq_to_pen(FqsQueue *q, int n)
{
	int64		depth;

	if (q->breaker_open)
		return true;
	if (q->max_ready <= 0 || !fqs_depth_estimate(q->qid, &depth))
		return false;
	return depth + n > q->max_ready;
}

/*
 * The last seq handed out on each key: the newest message of the key still
 * stored, or, when rotation truncated them all (they had all finished),
 * the key's head; key_tail.last_seq is a floor (it is what older versions
 * kept up to date).  Asked only with the keys' locks held, in a statement
 * of its own, so its snapshot sees every message their previous holders
 * committed.
 */
#define ENQ_TAIL_SQL(kid, floor) \
	"GREATEST(" floor ", COALESCE(" \
	"  (SELECT m.seq FROM fqs.message m WHERE m.kid = " kid \
	"    ORDER BY m.seq DESC LIMIT 1), " \
	"  (SELECT h.head_seq FROM fqs.key_head h WHERE h.kid = " kid "), 0))"

/*
 * Reserve seq ranges for the n messages of items (sorted by key, strcmp
 * order): lock each key's fqs.key_tail row, in that order, until the
 * transaction ends (new keys are inserted first), then read the keys'
 * tails: from the shared cache of tail.c, or, for keys it does not know,
 * from the tables.  kids[] and seqs[] receive each message's key id and
 * seq, by input position.
 *
 * The row is only locked, never updated: an update per message would
 * leave a version per message behind a held snapshot, and every later
 * enqueue of the key would walk all of them.
 */
static void
enq_reserve(int32 qid, int n, EnqItem *items, Datum *kids, Datum *seqs)
{
	static FqsPlan lock_one = {
		"SELECT fifo_key, kid, last_seq, tableoid FROM fqs.key_tail "
		" WHERE qid = $1 AND fifo_key = ($2::text[])[1] FOR UPDATE",
		2, {INT4OID, TEXTARRAYOID}, NULL
	};
	static FqsPlan lock_many = {
		"SELECT fifo_key, kid, last_seq, tableoid FROM fqs.key_tail "
		" WHERE qid = $1 AND fifo_key = ANY ($2::text[]) "
		" ORDER BY fifo_key COLLATE \"C\" FOR UPDATE",
		2, {INT4OID, TEXTARRAYOID}, NULL
	};
	/* in array (sorted) order; keys that exist meanwhile are left alone */
	static FqsPlan newkeys = {
		"WITH t AS ("
		"  INSERT INTO fqs.key_tail AS t (qid, fifo_key, kid, last_seq) "
		"  SELECT $1, u.key, pg_catalog.nextval('fqs.key_id_seq'), 0 "
		"    FROM unnest($2::text[]) WITH ORDINALITY AS u(key, ord) "
		"   ORDER BY u.ord "
		"  ON CONFLICT (qid, fifo_key) DO NOTHING "
		"  RETURNING t.fifo_key, t.kid) "
		"INSERT INTO fqs.key_head (kid, qid, fifo_key) "
		"SELECT kid, $1, fifo_key FROM t",
		2, {INT4OID, TEXTARRAYOID}, NULL
	};
	static FqsPlan tails = {
		"SELECT " ENQ_TAIL_SQL("u.kid", "u.last") " "
		"  FROM unnest($1::int8[], $2::int8[]) WITH ORDINALITY "
		"       AS u(kid, last, ord) ORDER BY u.ord",
		2, {INT8ARRAYOID, INT8ARRAYOID}, NULL
	};
	Datum	   *keys = palloc(sizeof(Datum) * n);
	int		   *first = palloc(sizeof(int) * (n + 1));
	Datum	   *gkids;
	int64	   *glasts;
	Datum	   *mkids;
	Datum	   *mfloors;
	int		   *mgroup;
	int			nmiss = 0;
	Oid			relid = InvalidOid;
	int			ngroups = 0;
	int			i;
	int			r;
	Datum		v[2];
	FqsPlan    *lock;
	SPITupleTable *locked;

	for (i = 0; i < n; i++)
	{
		if (i == 0 || strcmp(items[i].key, items[i - 1].key) != 0)
		{
			first[ngroups] = i;
			keys[ngroups] = CStringGetTextDatum(items[i].key);
			ngroups++;
		}
	}
	first[ngroups] = n;
	lock = ngroups == 1 ? &lock_one : &lock_many;

	v[0] = Int32GetDatum(qid);
	v[1] = PointerGetDatum(construct_array(keys, ngroups, TEXTOID, -1, false,
										   TYPALIGN_INT));

	/*
	 * One key: lock it, or make it and lock it.  Several: make the missing
	 * ones first, holding none of them yet -- making a key waits for a
	 * concurrent maker of it, who may be waiting for a key we would hold.
	 */
	if (ngroups > 1)
		fqs_exec(&newkeys, v, NULL, 0);
	if (fqs_exec(lock, v, NULL, 0) != ngroups)
	{
		fqs_exec(&newkeys, v, NULL, 0);
		if (fqs_exec(lock, v, NULL, 0) != ngroups)
			elog(ERROR, "fqs: could not lock %d keys", ngroups);
	}
	locked = fqs_take_tuptable();

	/*
	 * Rows come in key order, the groups' order.  Each key's last seq comes
	 * from this transaction's reservations or the shared cache (tail.c),
	 * else from the tables, in one statement for all such keys.
	 */
	gkids = palloc(sizeof(Datum) * ngroups);
	glasts = palloc(sizeof(int64) * ngroups);
	mkids = palloc(sizeof(Datum) * ngroups);
	mfloors = palloc(sizeof(Datum) * ngroups);
	mgroup = palloc(sizeof(int) * ngroups);
	for (r = 0; r < ngroups; r++)
	{
		bool		isnull;
		char	   *key = TextDatumGetCString(SPI_getbinval(locked->vals[r],
															locked->tupdesc,
															1, &isnull));

		if (strcmp(key, items[first[r]].key) != 0)
			elog(ERROR, "fqs: locked key \"%s\" out of order", key);
		gkids[r] = SPI_getbinval(locked->vals[r], locked->tupdesc, 2, &isnull);
		if (r == 0)
			relid = DatumGetObjectId(SPI_getbinval(locked->vals[r],
												   locked->tupdesc, 4,
												   &isnull));
		if (!fqs_tail_get(relid, DatumGetInt64(gkids[r]), &glasts[r]))
		{
			mkids[nmiss] = gkids[r];
			mfloors[nmiss] = SPI_getbinval(locked->vals[r], locked->tupdesc,
										   3, &isnull);
			mgroup[nmiss++] = r;
		}
	}

	if (nmiss > 0)
	{
		v[0] = PointerGetDatum(construct_array(mkids, nmiss, INT8OID, 8, true,
											   TYPALIGN_DOUBLE));
		v[1] = PointerGetDatum(construct_array(mfloors, nmiss, INT8OID, 8,
											   true, TYPALIGN_DOUBLE));
		if (fqs_exec_ordered(&tails, v, NULL, 0) != nmiss)
			elog(ERROR, "fqs: could not read the tails of %d keys", nmiss);
		for (r = 0; r < nmiss; r++)
			glasts[mgroup[r]] = fqs_getint64(r, 1);
	}

	for (r = 0; r < ngroups; r++)
	{
		int			k;

		/* items of one key are in input order after the sort */
		for (k = first[r]; k < first[r + 1]; k++)
		{
			kids[items[k].pos] = gkids[r];
			seqs[items[k].pos] = Int64GetDatum(glasts[r] + (k - first[r]) + 1);
		}
		fqs_tail_set(relid, DatumGetInt64(gkids[r]),
					 glasts[r] + (first[r + 1] - first[r]));
	}
	SPI_freetuptable(locked);
}

/*
 * Insert n messages into queue q, in input order; ids[] receives their ids
 * (or holds them already, when ids_given).
 * Caller is connected to SPI.  All inputs have been validated.
 */
static void
enqueue_many(FqsQueue *q, int n, Datum *payloads, char **keys,
			 Datum *headers, bool *hnulls, int32 priority,
			 Datum deliver_at, bool has_deliver_at, int64 *ids,
			 bool ids_given)
{
	/* the same insert, into the ready set or (breaker open) into the pen */
#define ENQ_INSERT_SQL(target) \
		"WITH m AS (" \
		"  INSERT INTO fqs.message " \
		"    (gen, id, qid, kid, seq, priority, enqueued_at, payload, headers) " \
		"  SELECT $1, u.id, $2, u.kid, u.seq, $3, pg_catalog.now(), " \
		"         u.payload, u.headers " \
		"    FROM unnest($4::int8[], $5::int8[], $6::int8[], " \
		"                $7::text[], $8::jsonb[]) " \
		"         AS u(id, kid, seq, payload, headers) " \
		"  RETURNING id, kid, seq) " \
		"INSERT INTO " target " (id, qid, kid, seq, gen, priority, visible_at) " \
		"SELECT m.id, $2, m.kid, m.seq, $1, $3, " \
		"       COALESCE($9, pg_catalog.now()) FROM m"
	static FqsPlan insert_ready = {
		ENQ_INSERT_SQL("fqs.ready"),
		9, {INT4OID, INT4OID, INT4OID, INT8ARRAYOID, INT8ARRAYOID,
		INT8ARRAYOID, TEXTARRAYOID, JSONBARRAYOID, TIMESTAMPTZOID}, NULL
	};
	static FqsPlan insert_pen = {
		ENQ_INSERT_SQL("fqs.pen"),
		9, {INT4OID, INT4OID, INT4OID, INT8ARRAYOID, INT8ARRAYOID,
		INT8ARRAYOID, TEXTARRAYOID, JSONBARRAYOID, TIMESTAMPTZOID}, NULL
	};
	EnqItem    *items = palloc(sizeof(EnqItem) * n);
	Datum	   *kids = palloc(sizeof(Datum) * n);
	Datum	   *seqs = palloc(sizeof(Datum) * n);
	Datum	   *idd = palloc(sizeof(Datum) * n);
	Oid			idseq = ids_given ? InvalidOid : enq_message_id_seq();
	Datum		v[9];
	char		nulls[9] = "         ";
	int			i;
	int			dims[1];
	int			lbs[1] = {1};

	/* ids are taken in input order, so they ascend in it */
	for (i = 0; i < n; i++)
	{
		if (!ids_given)
			ids[i] = fqs_node_tag(nextval_internal(idseq, false));
		idd[i] = Int64GetDatum(ids[i]);
		items[i].pos = i;
		items[i].key = keys[i];
	}

	/* reserve seq ranges, locking keys in sorted order */
	qsort(items, n, sizeof(EnqItem), enq_item_cmp);
	enq_reserve(q->qid, n, items, kids, seqs);

	dims[0] = n;
	v[0] = Int32GetDatum(q->cur_gen);
	v[1] = Int32GetDatum(q->qid);
	v[2] = Int32GetDatum(priority);
	v[3] = PointerGetDatum(construct_array(idd, n, INT8OID, 8, true,
										   TYPALIGN_DOUBLE));
	v[4] = PointerGetDatum(construct_array(kids, n, INT8OID, 8, true,
										   TYPALIGN_DOUBLE));
	v[5] = PointerGetDatum(construct_array(seqs, n, INT8OID, 8, true,
										   TYPALIGN_DOUBLE));
	v[6] = PointerGetDatum(construct_array(payloads, n, TEXTOID, -1, false,
										   TYPALIGN_INT));
	v[7] = PointerGetDatum(construct_md_array(headers, hnulls, 1, dims, lbs,
											  JSONBOID, -1, false,
											  TYPALIGN_INT));
	v[8] = deliver_at;
	nulls[8] = has_deliver_at ? ' ' : 'n';
	fqs_metric_add(q->qid, FQS_M_ENQUEUED, n);
	if (enq_to_pen(q, n))
	{
		fqs_exec(&insert_pen, v, nulls, 0);	/* the mover lets them out */
		fqs_poke_worker_at_commit();
	}
	else
	{
		int64		min_id = ids[0];
		TimestampTz vis = has_deliver_at ? DatumGetTimestampTz(deliver_at) : 0;

		for (i = 1; i < n; i++)
			min_id = Min(min_id, ids[i]);
		fqs_exec(&insert_ready, v, nulls, 0);
		fqs_scan_added(q->qid, priority, min_id, vis, vis);
		fqs_ready_added_at_commit(q->qid, n);
		fqs_wake_at_commit(q->qid, FQS_STAGE_CONCURRENT, n);
	}
}

/*
 * fqs_enqueue(queue, payload, fifo_key, headers, priority, dedup_id,
 *			   deliver_at)
 */
Datum
fqs_enqueue(PG_FUNCTION_ARGS)
{
	FqsCall		call;
	static FqsPlan dedup_ins = {
		"INSERT INTO fqs.dedup (qid, dedup_id, id, gen) VALUES ($1, $2, $3, $4) "
		"ON CONFLICT DO NOTHING",
		4, {INT4OID, TEXTOID, INT8OID, INT4OID}, NULL
	};
	static FqsPlan dedup_get = {
		"SELECT id FROM fqs.dedup WHERE qid = $1 AND dedup_id = $2",
		2, {INT4OID, TEXTOID}, NULL
	};
	char	   *qname = fqs_check_queue_name(fcinfo, 0);
	text	   *payload;
	char	   *key;
	Datum		pd;
	Datum		hd = (Datum) 0;
	bool		hnull = PG_ARGISNULL(3);
	int32		priority;
	FqsQueue	q;
	int64		id;
	Datum		deliver_at;
	bool		has_deliver_at;

	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("payload must not be null")));
	payload = PG_GETARG_TEXT_PP(1);
	enq_check_payload(payload, -1);
	if (PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("fifo_key must not be null"),
				 errhint("Use '' for the queue's default stream.")));
	key = text_to_cstring(PG_GETARG_TEXT_PP(2));
	enq_check_key(key);
	if (!hnull)
	{
		hd = PointerGetDatum(PG_DETOAST_DATUM_PACKED(PG_GETARG_DATUM(3)));
		enq_check_headers(hd, -1);
	}
	priority = PG_ARGISNULL(4) ? 0 : PG_GETARG_INT32(4);
	pd = PointerGetDatum(payload);
	has_deliver_at = fqs_check_deliver_at(fcinfo, 6);
	deliver_at = has_deliver_at ? PG_GETARG_DATUM(6) : (Datum) 0;

	fqs_call_begin(&call);
	fqs_lock_queue_name(qname, AccessShareLock);
	fqs_lookup_queue(qname, &q);
	fqs_check_right(q.qid, FQS_RIGHT_PRODUCE, qname);

	if (!PG_ARGISNULL(5))
	{
		char	   *dedup = text_to_cstring(PG_GETARG_TEXT_PP(5));
		Datum		v[4];

		if (strlen(dedup) > FQS_MAX_KEY_BYTES)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("dedup_id is too long (%zu bytes)", strlen(dedup)),
					 errdetail("dedup_id is at most %d bytes.",
							   FQS_MAX_KEY_BYTES)));
		if (dedup[0] == '\0')
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("dedup_id must not be empty"),
					 errhint("Pass NULL for no deduplication.")));
		id = fqs_node_tag(nextval_internal(enq_message_id_seq(), false));
		v[0] = Int32GetDatum(q.qid);
		v[1] = CStringGetTextDatum(dedup);
		v[2] = Int64GetDatum(id);
		v[3] = Int32GetDatum(q.cur_gen);
		if (fqs_exec(&dedup_ins, v, NULL, 0) == 0)
		{
			/* a message with this dedup_id exists: return its id */
			if (fqs_exec(&dedup_get, v, NULL, 1) != 1)
				elog(ERROR, "fqs: dedup row vanished");
			id = fqs_getint64(0, 1);
			fqs_call_end(&call);
			PG_RETURN_INT64(id);
		}
		enqueue_many(&q, 1, &pd, &key, &hd, &hnull, priority,
					 deliver_at, has_deliver_at, &id, true);
	}
	else
		enqueue_many(&q, 1, &pd, &key, &hd, &hnull, priority,
					 deliver_at, has_deliver_at, &id, false);

	fqs_call_end(&call);
	PG_RETURN_INT64(id);
}

/*
 * fqs_enqueue_batch(queue, payloads[], fifo_keys[], headers[], deliver_at)
 */
Datum
fqs_enqueue_batch(PG_FUNCTION_ARGS)
{
	FqsCall		call;
	char	   *qname = fqs_check_queue_name(fcinfo, 0);
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	ArrayType  *pa;
	Datum	   *payloads;
	bool	   *pnulls;
	int			n;
	char	  **keys;
	Datum	   *headers;
	bool	   *hnulls;
	int64	   *ids;
	FqsQueue	q;
	int			i;
	bool		has_deliver_at;

	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("payloads must not be null")));
	pa = PG_GETARG_ARRAYTYPE_P(1);
	if (ARR_NDIM(pa) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("payloads must be a one-dimensional array")));
	deconstruct_array(pa, TEXTOID, -1, false, TYPALIGN_INT,
					  &payloads, &pnulls, &n);
	if (n > fqs_max_batch)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("batch of %d messages is too large", n),
				 errdetail("fqs.max_batch is %d.", fqs_max_batch),
				 errhint("Split the batch, or have a superuser raise fqs.max_batch.")));
	for (i = 0; i < n; i++)
	{
		if (pnulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("payload %d must not be null", i + 1)));
		payloads[i] = PointerGetDatum(PG_DETOAST_DATUM_PACKED(payloads[i]));
		enq_check_payload((text *) DatumGetPointer(payloads[i]), i);
	}

	keys = palloc(sizeof(char *) * Max(n, 1));
	if (PG_ARGISNULL(2))
	{
		for (i = 0; i < n; i++)
			keys[i] = "";
	}
	else
	{
		ArrayType  *ka = PG_GETARG_ARRAYTYPE_P(2);
		Datum	   *kd;
		bool	   *kn;
		int			kc;

		if (ARR_NDIM(ka) > 1)
			ereport(ERROR,
					(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
					 errmsg("fifo_keys must be a one-dimensional array")));
		deconstruct_array(ka, TEXTOID, -1, false, TYPALIGN_INT,
						  &kd, &kn, &kc);
		if (kc != n)
			ereport(ERROR,
					(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
					 errmsg("fifo_keys has %d elements but payloads has %d",
							kc, n)));
		for (i = 0; i < n; i++)
		{
			if (kn[i])
				ereport(ERROR,
						(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						 errmsg("fifo_key %d must not be null", i + 1)));
			keys[i] = TextDatumGetCString(kd[i]);
			enq_check_key(keys[i]);
		}
	}

	if (PG_ARGISNULL(3))
	{
		headers = palloc0(sizeof(Datum) * Max(n, 1));
		hnulls = palloc(sizeof(bool) * Max(n, 1));
		for (i = 0; i < n; i++)
			hnulls[i] = true;
	}
	else
	{
		ArrayType  *ha = PG_GETARG_ARRAYTYPE_P(3);
		int			hc;

		if (ARR_NDIM(ha) > 1)
			ereport(ERROR,
					(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
					 errmsg("headers must be a one-dimensional array")));
		deconstruct_array(ha, JSONBOID, -1, false, TYPALIGN_INT,
						  &headers, &hnulls, &hc);
		if (hc != n)
			ereport(ERROR,
					(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
					 errmsg("headers has %d elements but payloads has %d",
							hc, n)));
		for (i = 0; i < n; i++)
			if (!hnulls[i])
			{
				headers[i] = PointerGetDatum(PG_DETOAST_DATUM_PACKED(headers[i]));
				enq_check_headers(headers[i], i);
			}
	}

	/* a scalar SRF: describe the one bigint column ourselves */
	{
		TupleDesc	desc;
		MemoryContext old;

		if (rsinfo == NULL || !IsA(rsinfo, ReturnSetInfo) ||
			!(rsinfo->allowedModes & SFRM_Materialize))
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("set-valued function called in context that cannot accept a set")));
		old = MemoryContextSwitchTo(rsinfo->econtext->ecxt_per_query_memory);
		desc = CreateTemplateTupleDesc(1);
		TupleDescInitEntry(desc, (AttrNumber) 1, "id", INT8OID, -1, 0);
		rsinfo->returnMode = SFRM_Materialize;
		rsinfo->setDesc = BlessTupleDesc(desc);
		rsinfo->setResult = tuplestore_begin_heap(true, false, work_mem);
		MemoryContextSwitchTo(old);
	}

	has_deliver_at = fqs_check_deliver_at(fcinfo, 4);
	/* the ids outlive the SPI connection: allocate them before it */
	ids = palloc(sizeof(int64) * Max(n, 1));
	fqs_call_begin(&call);
	fqs_lock_queue_name(qname, AccessShareLock);
	fqs_lookup_queue(qname, &q);
	fqs_check_right(q.qid, FQS_RIGHT_PRODUCE, qname);
	if (n > 0)
		enqueue_many(&q, n, payloads, keys, headers, hnulls, 0,
					 has_deliver_at ? PG_GETARG_DATUM(4) : (Datum) 0,
					 has_deliver_at, ids, false);
	fqs_call_end(&call);

	for (i = 0; i < n; i++)
	{
		Datum		v[1];
		bool		nulls[1] = {false};

		v[0] = Int64GetDatum(ids[i]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, v, nulls);
	}
	return (Datum) 0;
}
