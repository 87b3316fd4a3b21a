/*-------------------------------------------------------------------------
 *
 * sequential.c
 *	  The sequential stage: fqs_claim_sequential, fqs_complete, and the
 *	  operator actions fqs_retry and fqs_skip.
 *
 * Per key, fqs.key_head.head_seq is the last finished seq.  A key is in
 * fqs.releasable while its next message (head_seq + 1) is processed and
 * the key is free, or while a claimer holds the key (lease_until set).
 * A sequential claim takes free releasable rows with SKIP LOCKED and hands
 * out, per key, the run of consecutive processed messages after the head;
 * it never scans the processed backlog.
 *
 * Lost-release race: a commit that makes head+1 processed and a complete
 * that advances the head to it may run at the same moment.  Both lock the
 * key's fqs.key_head row before deciding -- complete FOR UPDATE, commit FOR
 * KEY SHARE, which conflict with each other but not among commits, so
 * transactions committing many keys cannot deadlock each other -- and each
 * decides in a statement that starts after the lock is granted.  So the
 * later of the two always sees the other's effect: either the commit sees
 * the advanced head, or the complete sees the processed row.  Each passes
 * the key's gate on the way to the row lock (fqs_key_gate_enter), so that a
 * stream of commits cannot starve a complete.  Lock order: a complete (and
 * fqs_retry) locks the key's releasable row, then its key_head row -- the
 * order of a claimer that claims and completes in one transaction; a
 * commit locks key_head (KEY SHARE) and only inserts into releasable,
 * which never waits for a row that is merely locked.  A transaction that
 * commits some keys and another that completes others can still deadlock
 * when they take the keys in opposite orders; the array forms of
 * fqs_commit and fqs_complete take them in key order.
 *
 * Cost: fqs_claim_sequential O(k log K + n log D) for k keys served;
 * fqs_complete O(log D).  Neither depends on the processed backlog.
 *
 * Copyright (c) 2026, fqs developers
 *
 * IDENTIFICATION
 *	  src/sequential.c
 *
 *-------------------------------------------------------------------------
 */
#include "fqs.h"

#include "catalog/pg_type.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/memutils.h"

PG_FUNCTION_INFO_V1(fqs_claim_sequential);
PG_FUNCTION_INFO_V1(fqs_complete);
PG_FUNCTION_INFO_V1(fqs_complete_many);
PG_FUNCTION_INFO_V1(fqs_retry);
PG_FUNCTION_INFO_V1(fqs_skip);

/*
 * A key's head row is gone: its queue was dropped (fqs_drop_queue with
 * force) while this call ran.  Reachable from SQL, so a proper error.
 */
static void seq_key_gone(int64 kid) pg_attribute_noreturn();

static void
seq_key_gone(int64 kid)
{
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_OBJECT),
			 errmsg("fifo key " INT64_FORMAT " no longer exists", kid),
			 errdetail("Its queue was dropped while this call ran.")));
}

/* Make key kid claimable by the sequential stage, if it is not already. */
static void
seq_make_releasable(int64 kid, int32 qid)
{
	static FqsPlan plan = {
		"INSERT INTO fqs.releasable (kid, qid, visible_at) "
		"VALUES ($1, $2, pg_catalog.clock_timestamp()) ON CONFLICT (kid) DO NOTHING",
		2, {INT8OID, INT4OID}, NULL
	};
	Datum		v[2];

	v[0] = Int64GetDatum(kid);
	v[1] = Int32GetDatum(qid);
	if (fqs_exec(&plan, v, NULL, 0) > 0)
		fqs_wake_at_commit(qid, FQS_STAGE_SEQUENTIAL, 1);
}

/*
 * Finish message (kid, seq), which must be head_seq + 1, with the key_head
 * row locked by the caller.  Passes over skipped messages that follow and
 * moves the head.  Returns the new head; *next_ready tells whether the
 * message after it is processed.
 */
static int64
seq_finish(int64 kid, int32 qid, int64 seq, int64 id, int32 gen,
		   text *skip_reason, bool *next_ready)
{
	static FqsPlan done = {
		"INSERT INTO fqs.done (gen, id, qid, kid, seq, done_at, skip_reason) "
		"VALUES ($1, $2, $3, $4, $5, pg_catalog.clock_timestamp(), $6)",
		6, {INT4OID, INT8OID, INT4OID, INT8OID, INT8OID, TEXTOID}, NULL
	};
	static FqsPlan next = {
		"SELECT id, gen, skip_reason FROM fqs.processed "
		" WHERE kid = $1 AND seq = $2",
		2, {INT8OID, INT8OID}, NULL
	};
	static FqsPlan head = {
		"UPDATE fqs.key_head SET head_seq = $2 WHERE kid = $1",
		2, {INT8OID, INT8OID}, NULL
	};
	Datum		v[6];
	char		nulls[6] = "      ";

	for (;;)
	{
		bool		isnull;
		Datum		reason;

		v[0] = Int32GetDatum(gen);
		v[1] = Int64GetDatum(id);
		v[2] = Int32GetDatum(qid);
		v[3] = Int64GetDatum(kid);
		v[4] = Int64GetDatum(seq);
		v[5] = skip_reason ? PointerGetDatum(skip_reason) : (Datum) 0;
		nulls[5] = skip_reason ? ' ' : 'n';
		fqs_exec(&done, v, nulls, 0);
		fqs_metric_add(qid, FQS_M_COMPLETED, 1);

		v[0] = Int64GetDatum(kid);
		v[1] = Int64GetDatum(seq + 1);
		if (fqs_exec(&next, v, NULL, 1) == 0)
		{
			*next_ready = false;
			break;
		}
		reason = fqs_getdatum(0, 3, &isnull);
		if (isnull)
		{
			*next_ready = true;
			break;
		}
		/* the next one was skipped by an operator: finish it too */
		id = fqs_getint64(0, 1);
		gen = fqs_getint32(0, 2);
		skip_reason = DatumGetTextPP(datumCopy(reason, false, -1));
		seq++;
	}

	v[0] = Int64GetDatum(kid);
	v[1] = Int64GetDatum(seq);
	fqs_exec(&head, v, NULL, 0);
	return seq;
}

/*
 * Record that message (kid, seq) left the concurrent stage: committed with
 * result, or skipped by an operator.  Locks the key_head row, then makes
 * the key releasable if this message is the next one to release.
 */
void
fqs_mark_processed(int32 gen, int64 kid, int64 seq, int64 id, int32 qid,
				   int32 attempts, Datum *claimed_at, text *result,
				   text *skip_reason)
{
	static FqsPlan ins = {
		"INSERT INTO fqs.processed "
		"  (gen, kid, seq, id, qid, attempts, committed_at, result, "
		"   skip_reason, claimed_at) "
		"VALUES ($1, $2, $3, $4, $5, $6, pg_catalog.clock_timestamp(), $7, $8, $9)",
		9, {INT4OID, INT8OID, INT8OID, INT8OID, INT4OID, INT4OID, TEXTOID,
		TEXTOID, TIMESTAMPTZOID}, NULL
	};
	/* commits only exclude completes (FOR UPDATE), not each other */
	static FqsPlan lock_share = {
		"SELECT head_seq FROM fqs.key_head WHERE kid = $1 FOR KEY SHARE",
		1, {INT8OID}, NULL
	};
	/* a skip may move the head itself */
	static FqsPlan lock_excl = {
		"SELECT head_seq FROM fqs.key_head WHERE kid = $1 FOR UPDATE",
		1, {INT8OID}, NULL
	};
	Datum		v[9];
	char		nulls[9] = "         ";
	int64		head;
	int			nrows;
	LOCKMODE	mode = skip_reason ? ExclusiveLock : ShareLock;
	bool		entered;

	v[0] = Int32GetDatum(gen);
	v[1] = Int64GetDatum(kid);
	v[2] = Int64GetDatum(seq);
	v[3] = Int64GetDatum(id);
	v[4] = Int32GetDatum(qid);
	v[5] = Int32GetDatum(attempts);
	v[6] = result ? PointerGetDatum(result) : (Datum) 0;
	nulls[6] = result ? ' ' : 'n';
	v[7] = skip_reason ? PointerGetDatum(skip_reason) : (Datum) 0;
	nulls[7] = skip_reason ? ' ' : 'n';
	v[8] = claimed_at ? *claimed_at : (Datum) 0;
	nulls[8] = claimed_at ? ' ' : 'n';
	fqs_exec(&ins, v, nulls, 0);

	v[0] = Int64GetDatum(kid);
	entered = fqs_key_gate_enter(kid, mode);
	nrows = fqs_exec(skip_reason ? &lock_excl : &lock_share, v, NULL, 0);
	fqs_key_gate_leave(kid, mode, entered);
	if (nrows != 1)
		seq_key_gone(kid);
	head = fqs_getint64(0, 1);
	if (seq != head + 1)
		return;					/* an earlier message of the key is pending */

	if (skip_reason)
	{
		bool		next_ready;

		/* nobody can hold the key: its head was this unprocessed message */
		seq_finish(kid, qid, seq, id, gen, skip_reason, &next_ready);
		if (next_ready)
			seq_make_releasable(kid, qid);
	}
	else
		seq_make_releasable(kid, qid);
}

/*
 * Give expired key holds of queue qid back (or kill their head message once
 * it had max_attempts deliveries).  Returns how many keys became free.
 */
int
fqs_requeue_sequential(int32 qid, int32 max_attempts)
{
	static FqsPlan plan = {
		"WITH exp AS MATERIALIZED ("
		"  SELECT kid FROM fqs.releasable "
		"   WHERE qid = $1 AND lease_until IS NOT NULL "
		"     AND lease_until >= $4 AND lease_until < $5 "
		"   ORDER BY lease_until LIMIT $3 FOR UPDATE SKIP LOCKED), "
		"gone AS ("
		"  DELETE FROM fqs.releasable r "
		"   WHERE r.kid = ANY (ARRAY(SELECT kid FROM exp)) "
		"     AND r.head_attempts >= $2 "
		"  RETURNING r.kid, r.qid, r.head_attempts), "
		"dead AS ("
		"  INSERT INTO fqs.dead "
		"    (id, qid, kid, seq, gen, stage, attempts, last_error, died_at) "
		"  SELECT p.id, g.qid, g.kid, p.seq, p.gen, 'sequential', "
		"         g.head_attempts, 'lease expired', pg_catalog.clock_timestamp() "
		"    FROM gone g "
		"    CROSS JOIN LATERAL (SELECT p.id, p.seq, p.gen "
		"                          FROM fqs.key_head h, fqs.processed p "
		"                         WHERE h.kid = g.kid AND p.kid = g.kid "
		"                           AND p.seq = h.head_seq + 1 "
		"                        OFFSET 0) p), "
		"back AS ("
		"  UPDATE fqs.releasable r "
		"     SET lease_until = NULL, receipt = 0, hold_upto = 0, "
		"         visible_at = pg_catalog.clock_timestamp(), "
		"         last_error = 'lease expired' "
		"   WHERE r.kid = ANY (ARRAY(SELECT kid FROM exp)) "
		"     AND r.head_attempts < $2 "
		"  RETURNING 1) "
		"SELECT (SELECT pg_catalog.count(*) FROM back), "
		"       (SELECT pg_catalog.count(*) FROM exp)",
		5, {INT4OID, INT4OID, INT4OID, TIMESTAMPTZOID, TIMESTAMPTZOID}, NULL
	};
	/*
	 * The statement above reads fqs.processed; run it only when a hold has
	 * expired, so that waiting claims and idle passes lock no message
	 * table (see rotation).
	 */
	static FqsPlan any = {
		"SELECT EXISTS (SELECT 1 FROM fqs.releasable "
		"                WHERE qid = $1 AND lease_until IS NOT NULL "
		"                  AND lease_until >= $2 AND lease_until < $3)",
		3, {INT4OID, TIMESTAMPTZOID, TIMESTAMPTZOID}, NULL
	};
	Datum		v[3];
	bool		isnull;
	FqsScan		s;
	TimestampTz now;
	int64		expired = 0;
	int			n = 0;

	/*
	 * Both look in [the queue's seq lease cursor, now): the entries that
	 * completed holds left behind lie before the cursor (scan.c).
	 */
	fqs_scan_begin(qid, FQS_CURSOR_SEQ_LEASE, true, &s);
	now = GetCurrentTimestamp();
	v[0] = Int32GetDatum(qid);
	v[1] = TimestampTzGetDatum((TimestampTz) s.at.hi);
	v[2] = TimestampTzGetDatum(now);
	fqs_exec(&any, v, NULL, 1);
	if (DatumGetBool(fqs_getdatum(0, 1, &isnull)))
	{
		n = fqs_requeue_run(&plan, qid, max_attempts, FQS_STAGE_SEQUENTIAL,
							(TimestampTz) s.at.hi, now, &expired);
		if (expired > 0)
			fqs_scan_seq_touched(qid, DT_NOEND);	/* rolled back, they are
													 * held again */
	}
	if (expired < fqs_reaper_batch)
		fqs_scan_raise(qid, FQS_CURSOR_SEQ_LEASE, &s, fqs_pos(now, 0));
	return n;
}

/* One key's part of a sequential claim (seq_claim_keys). */
typedef struct SeqKey
{
	int64		kid;
	int64		head;			/* head_seq when the run was read */
	Datum		fkey;
	int			first;			/* its run's first row in the run table */
	int			len;			/* releasable run: consecutive, not skipped */
	int			take;			/* how much of it this claim hands out */
	int64		receipt;
	Datum	   *ends;			/* hold_ends after the hold */
	int			nends;
} SeqKey;

/*
 * Lock up to lim free keys of queue q (SKIP LOCKED, in the releasable
 * index's order), read their heads and runs, hold them, and put up to n
 * of their messages into the caller's tuplestore; returns how many, and
 * in *nlocked how many keys were locked.  Three statements, whatever lim.
 *
 * The heads are read in a statement of their own after the keys'
 * releasable rows are locked: the lock's recheck would only refresh those
 * rows, and while we hold them nobody can move a head.  Every key locked
 * with a run is handed out with at least one message, so a claim never
 * keeps a key locked that it does not hand out (lim <= n); what n leaves
 * after that lengthens the runs, first key first.  A key with nothing
 * releasable after all leaves the free set.
 */
static int
seq_claim_keys(FqsQueue *q, int32 lim, int32 n, Interval *lease,
			   ReturnSetInfo *rsinfo, int *nlocked)
{
	static FqsPlan keys = {
		"SELECT r.kid "
		"  FROM fqs.releasable r "
		" WHERE r.qid = $1 AND r.lease_until IS NULL "
		"   AND r.visible_at <= pg_catalog.clock_timestamp() "
		" ORDER BY r.visible_at, r.kid LIMIT $2 FOR UPDATE SKIP LOCKED",
		2, {INT4OID, INT4OID}, NULL
	};
	static FqsPlan runs = {
		"SELECT k.kid, h.head_seq, h.fifo_key, p.id, p.seq, "
		"       p.skip_reason IS NOT NULL, COALESCE(p.result, m.payload), "
		"       m.headers, m.enqueued_at "
		"  FROM unnest($1::int8[]) WITH ORDINALITY AS k(kid, ord) "
		"  CROSS JOIN LATERAL (SELECT head_seq, fifo_key FROM fqs.key_head h "
		"                       WHERE h.kid = k.kid OFFSET 0) h "
		"  LEFT JOIN LATERAL (SELECT id, seq, gen, skip_reason, result "
		"                       FROM fqs.processed "
		"                      WHERE kid = k.kid AND seq > h.head_seq "
		"                      ORDER BY seq LIMIT $2) p ON true "
		"  LEFT JOIN LATERAL (SELECT payload, headers, enqueued_at "
		"                       FROM fqs.message m "
		"                      WHERE m.gen = p.gen AND m.id = p.id "
		"                     OFFSET 0) m ON true "
		" ORDER BY k.ord, p.seq",
		2, {INT8ARRAYOID, INT4OID}, NULL
	};
	static FqsPlan hold = {
		"UPDATE fqs.releasable r "
		"   SET lease_until = pg_catalog.clock_timestamp() + $3, "
		"       receipt = fqs.receipt(), "
		"       hold_upto = u.upto, head_attempts = r.head_attempts + 1, "
		"       hold_ends = r.hold_ends || u.upto, "
		"       claimed_at = pg_catalog.clock_timestamp() "
		"  FROM unnest($1::int8[], $2::int8[]) AS u(kid, upto) "
		" WHERE r.kid = u.kid RETURNING r.kid, r.receipt, r.hold_ends",
		3, {INT8ARRAYOID, INT8ARRAYOID, INTERVALOID}, NULL
	};
	static FqsPlan drop = {
		"DELETE FROM fqs.releasable WHERE kid = ANY ($1::int8[])",
		1, {INT8ARRAYOID}, NULL
	};
	SPITupleTable *rt;
	SeqKey	   *ks;
	int			nk;
	int			nrows;
	int			left;
	int			k;
	int			r;
	int			nheld = 0;
	int			ndrop = 0;
	Datum	   *held_kids;
	Datum	   *held_upto;
	Datum	   *drop_kids;
	Datum		v[3];
	bool		isnull;

	/* the keys */
	v[0] = Int32GetDatum(q->qid);
	v[1] = Int32GetDatum(lim);
	nk = fqs_exec(&keys, v, NULL, 0);
	*nlocked = nk;
	if (nk == 0)
		return 0;
	ks = palloc0(sizeof(SeqKey) * nk);
	held_kids = palloc(sizeof(Datum) * nk);
	for (k = 0; k < nk; k++)
	{
		ks[k].kid = fqs_getint64(k, 1);
		held_kids[k] = Int64GetDatum(ks[k].kid);
	}

	/* their heads and runs, read after the keys are locked */
	v[0] = PointerGetDatum(construct_array(held_kids, nk, INT8OID, 8, true,
										   TYPALIGN_DOUBLE));
	v[1] = Int32GetDatum(n);
	nrows = fqs_exec(&runs, v, NULL, 0);
	rt = fqs_take_tuptable();
	k = -1;
	for (r = 0; r < nrows; r++)
	{
		int64		kid = DatumGetInt64(SPI_getbinval(rt->vals[r], rt->tupdesc, 1, &isnull));
		int64		s;
		bool		skipped;

		if (k < 0 || ks[k].kid != kid)
		{
			k++;
			if (k >= nk || ks[k].kid != kid)
				seq_key_gone(kid);
			ks[k].head = DatumGetInt64(SPI_getbinval(rt->vals[r], rt->tupdesc, 2, &isnull));
			ks[k].fkey = SPI_getbinval(rt->vals[r], rt->tupdesc, 3, &isnull);
			ks[k].first = r;
			ks[k].len = 0;
		}
		s = DatumGetInt64(SPI_getbinval(rt->vals[r], rt->tupdesc, 5, &isnull));
		if (isnull)
			continue;			/* no processed message after the head */
		skipped = DatumGetBool(SPI_getbinval(rt->vals[r], rt->tupdesc, 6, &isnull));
		/* keep the consecutive, not skipped prefix starting at head + 1 */
		if (r - ks[k].first == ks[k].len && s == ks[k].head + 1 + ks[k].len &&
			!skipped)
			ks[k].len++;
	}
	if (k != nk - 1)
		seq_key_gone(ks[k + 1].kid);

	/* every key with a run gets one message, then the runs grow in order */
	left = n;
	for (k = 0; k < nk; k++)
		if (ks[k].len > 0 && left > 0)
		{
			ks[k].take = 1;
			left--;
		}
	for (k = 0; k < nk && left > 0; k++)
	{
		int			more = Min(ks[k].len - ks[k].take, left);

		if (ks[k].take > 0 && more > 0)
		{
			ks[k].take += more;
			left -= more;
		}
	}

	/* hold the keys handed out; the others leave the free set */
	held_upto = palloc(sizeof(Datum) * nk);
	drop_kids = palloc(sizeof(Datum) * nk);
	for (k = 0; k < nk; k++)
	{
		if (ks[k].take > 0)
		{
			held_kids[nheld] = Int64GetDatum(ks[k].kid);
			held_upto[nheld] = Int64GetDatum(ks[k].head + ks[k].take);
			nheld++;
		}
		else if (ks[k].len == 0)
			drop_kids[ndrop++] = Int64GetDatum(ks[k].kid);
	}
	if (ndrop > 0)
	{
		v[0] = PointerGetDatum(construct_array(drop_kids, ndrop, INT8OID, 8,
											   true, TYPALIGN_DOUBLE));
		fqs_exec(&drop, v, NULL, 0);
	}
	if (nheld > 0)
	{
		SPITupleTable *ht;
		int			h;

		v[0] = PointerGetDatum(construct_array(held_kids, nheld, INT8OID, 8,
											   true, TYPALIGN_DOUBLE));
		v[1] = PointerGetDatum(construct_array(held_upto, nheld, INT8OID, 8,
											   true, TYPALIGN_DOUBLE));
		v[2] = IntervalPGetDatum(lease ? lease : &q->lease);
		/* the leases end after now (taken before the statement) */
		fqs_scan_seq_leased(q->qid, GetCurrentTimestamp());
		if (fqs_exec(&hold, v, NULL, 0) != nheld)
			elog(ERROR, "fqs: %d keys held, %d expected",
				 (int) SPI_processed, nheld);
		ht = fqs_take_tuptable();
		for (h = 0; h < nheld; h++)
		{
			int64		kid = DatumGetInt64(SPI_getbinval(ht->vals[h], ht->tupdesc, 1, &isnull));

			for (k = 0; k < nk && ks[k].kid != kid; k++)
				;
			if (k == nk)
				elog(ERROR, "fqs: held key " INT64_FORMAT " was not claimed", kid);
			ks[k].receipt = DatumGetInt64(SPI_getbinval(ht->vals[h], ht->tupdesc, 2, &isnull));
			deconstruct_array(DatumGetArrayTypeP(SPI_getbinval(ht->vals[h], ht->tupdesc, 3, &isnull)),
							  INT8OID, 8, true, TYPALIGN_DOUBLE,
							  &ks[k].ends, NULL, &ks[k].nends);
		}
		SPI_freetuptable(ht);
	}

	/* the messages, key by key in lock order, each run in seq order */
	for (k = 0; k < nk; k++)
	{
		int			i;

		for (i = 0; i < ks[k].take; i++)
		{
			HeapTuple	tup = rt->vals[ks[k].first + i];
			Datum		values[8];
			bool		nulls[8];
			int64		s = ks[k].head + 1 + i;
			int32		attempt = 0;
			int			e;

			/* deliveries of s: the holds, this one included, that reached it */
			for (e = 0; e < ks[k].nends; e++)
				if (DatumGetInt64(ks[k].ends[e]) >= s)
					attempt++;
			values[0] = SPI_getbinval(tup, rt->tupdesc, 4, &nulls[0]);
			values[1] = Int64GetDatum(ks[k].receipt);
			nulls[1] = false;
			values[2] = ks[k].fkey;
			nulls[2] = false;
			values[3] = Int64GetDatum(s);
			nulls[3] = false;
			values[4] = SPI_getbinval(tup, rt->tupdesc, 7, &nulls[4]);
			values[5] = SPI_getbinval(tup, rt->tupdesc, 8, &nulls[5]);
			values[6] = Int32GetDatum(attempt);
			nulls[6] = false;
			values[7] = SPI_getbinval(tup, rt->tupdesc, 9, &nulls[7]);
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc,
								 values, nulls);
		}
	}
	SPI_freetuptable(rt);
	return n - left;
}

/*
 * A sequential claim the failure breaker let through (see claim_stage in
 * claim.c): up to n messages into the caller's tuplestore; returns how
 * many.  The first key's run is served
 * first, as long as n allows; then up to the rest of n keys at once, one
 * message each and the runs lengthened with what is left, and again while
 * keys come and n is not reached.  So a claim of n takes one key's whole
 * run when it has n messages, and n keys when runs are short, in a few
 * statements either way.
 */
static int
seq_claim_admitted(FqsQueue *q, int32 n, Interval *lease, bool waiting,
				   ReturnSetInfo *rsinfo)
{
	int			left = n;
	int			lim = 1;

	while (left > 0)
	{
		int			nlocked;
		MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext,
												  "fqs sequential claim",
												  ALLOCSET_DEFAULT_SIZES);
		MemoryContext caller = MemoryContextSwitchTo(cxt);

		left -= seq_claim_keys(q, Min(lim, left), left, lease, rsinfo,
							   &nlocked);
		MemoryContextSwitchTo(caller);
		MemoryContextDelete(cxt);
		if (nlocked == 0)
			break;
		lim = left;
	}
	return n - left;
}

/*
 * fqs_claim_sequential(queue, n, lease, wait)
 */
Datum
fqs_claim_sequential(PG_FUNCTION_ARGS)
{
	return fqs_claim_driver(fcinfo, FQS_STAGE_SEQUENTIAL, seq_claim_admitted);
}

/*
 * Diagnose a sequential-stage call whose receipt holds no key.
 */
void
fqs_seq_diagnose(int64 id, int64 receipt)
{
	static FqsPlan plan = {
		"SELECT EXISTS (SELECT 1 FROM fqs.done WHERE id = $1), "
		"       EXISTS (SELECT 1 FROM fqs.dead WHERE id = $1), "
		"       EXISTS (SELECT 1 FROM fqs.processed WHERE id = $1), "
		"       EXISTS (SELECT 1 FROM fqs.message WHERE id = $1)",
		1, {INT8OID}, NULL
	};
	Datum		v[1];
	bool		isnull;

	fqs_check_message_visible(id);
	v[0] = Int64GetDatum(id);
	fqs_exec(&plan, v, NULL, 1);
	if (DatumGetBool(fqs_getdatum(0, 1, &isnull)))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("message " INT64_FORMAT " is already complete", id)));
	if (DatumGetBool(fqs_getdatum(0, 2, &isnull)))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("message " INT64_FORMAT " is dead", id),
				 errhint("Use fqs_retry() or fqs_skip() on dead messages.")));
	if (DatumGetBool(fqs_getdatum(0, 3, &isnull)))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("receipt " INT64_FORMAT " does not hold message " INT64_FORMAT,
						receipt, id),
				 errdetail("The message is not claimed by the sequential stage under this receipt; its lease may have expired and its key been claimed again."),
				 errhint("Stop working on this message; its current holder will finish it.")));
	if (DatumGetBool(fqs_getdatum(0, 4, &isnull)))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("message " INT64_FORMAT " is not claimed by the sequential stage", id),
				 errdetail("It has not been committed by the concurrent stage yet.")));
	fqs_raise_message_unknown(id);
}

typedef struct SeqHold
{
	int64		kid;
	int32		qid;
	int64		head;
	int64		hold_upto;
	int32		head_attempts;
	int32		max_attempts;
	int64		seq;			/* of the message named by the caller */
	int32		gen;
	bool		has_enqueued_at;
	TimestampTz enqueued_at;	/* of that message (for its latency) */
} SeqHold;

/*
 * Find and lock the key hold that receipt names, and check that message id
 * is its head (the next message to finish).  Returns false when the
 * receipt holds nothing; raises ERROR when id is not the hold's head.
 */
static bool
seq_lock_hold(int64 id, int64 receipt, SeqHold *h)
{
	/*
	 * The hold first: while a claimer that took the key again (and may
	 * complete in the same transaction, locking key_head after the
	 * releasable row) is in flight, a stale receipt waits for it here and
	 * then finds its receipt gone, instead of holding key_head and
	 * deadlocking with it.
	 */
	static FqsPlan lockhold = {
		"SELECT kid, hold_upto, head_attempts, qid, lease_until "
		"  FROM fqs.releasable "
		" WHERE receipt = $1 AND lease_until IS NOT NULL "
		"   FOR UPDATE",
		1, {INT8OID}, NULL
	};
	static FqsPlan lockhead = {
		"SELECT h.head_seq, h.qid, q.max_attempts "
		"  FROM fqs.key_head h JOIN fqs.queue q ON q.qid = h.qid "
		" WHERE h.kid = $1 FOR UPDATE OF h",
		1, {INT8OID}, NULL
	};
	static FqsPlan msg = {
		"SELECT p.seq, p.gen, "
		"       (SELECT m.enqueued_at FROM fqs.message m "
		"         WHERE m.kid = p.kid AND m.seq = p.seq AND m.gen = p.gen) "
		"  FROM fqs.processed p WHERE p.id = $1 AND p.kid = $2",
		2, {INT8OID, INT8OID}, NULL
	};
	bool		isnull;
	Datum		enq;
	Datum		v[2];
	int			nrows;
	bool		entered;

	v[0] = Int64GetDatum(receipt);
	if (fqs_exec(&lockhold, v, NULL, 0) != 1)
		return false;
	h->kid = fqs_getint64(0, 1);
	h->hold_upto = fqs_getint64(0, 2);
	h->head_attempts = fqs_getint32(0, 3);
	/* whatever this does to the hold, its lease stays findable (scan.c) */
	fqs_scan_seq_touched(fqs_getint32(0, 4),
						 DatumGetTimestampTz(fqs_getdatum(0, 5, &isnull)));

	v[0] = Int64GetDatum(h->kid);
	entered = fqs_key_gate_enter(h->kid, ExclusiveLock);
	nrows = fqs_exec(&lockhead, v, NULL, 0);
	fqs_key_gate_leave(h->kid, ExclusiveLock, entered);
	if (nrows != 1)
		return false;
	h->head = fqs_getint64(0, 1);
	h->qid = fqs_getint32(0, 2);
	h->max_attempts = fqs_getint32(0, 3);

	v[0] = Int64GetDatum(id);
	v[1] = Int64GetDatum(h->kid);
	if (fqs_exec(&msg, v, NULL, 1) == 0)
		return false;
	h->seq = fqs_getint64(0, 1);
	h->gen = fqs_getint32(0, 2);
	enq = fqs_getdatum(0, 3, &isnull);
	h->has_enqueued_at = !isnull;
	h->enqueued_at = isnull ? 0 : DatumGetTimestampTz(enq);
	if (h->seq <= h->head || h->seq > h->hold_upto)
		return false;
	if (h->seq != h->head + 1)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("message " INT64_FORMAT " is out of order", id),
				 errdetail("Its seq is " INT64_FORMAT " but seq " INT64_FORMAT
						   " of the same key is not complete yet.",
						   h->seq, h->head + 1),
				 errhint("Complete the messages of a key in seq order.")));
	return true;
}

/*
 * After the head of a held key moved to new_head: end the hold when its
 * run is finished (freeing the key, or dropping it from releasable when
 * nothing follows), otherwise the hold goes on with the next message.
 */
static void
seq_after_advance(SeqHold *h, int64 new_head, bool next_ready)
{
	static FqsPlan free_key = {
		"UPDATE fqs.releasable SET lease_until = NULL, receipt = 0, "
		"       hold_upto = 0, last_error = NULL, "
		"       hold_ends = fqs.trim_holds(hold_ends, $2), "
		"       head_attempts = "
		"         pg_catalog.cardinality(fqs.trim_holds(hold_ends, $2)), "
		"       visible_at = pg_catalog.clock_timestamp() WHERE kid = $1",
		2, {INT8OID, INT8OID}, NULL
	};
	static FqsPlan drop = {
		"DELETE FROM fqs.releasable WHERE kid = $1",
		1, {INT8OID}, NULL
	};
	static FqsPlan go_on = {
		"UPDATE fqs.releasable SET last_error = NULL, "
		"       hold_ends = fqs.trim_holds(hold_ends, $2), "
		"       head_attempts = "
		"         pg_catalog.cardinality(fqs.trim_holds(hold_ends, $2)) "
		" WHERE kid = $1",
		2, {INT8OID, INT8OID}, NULL
	};
	Datum		v[2];

	v[0] = Int64GetDatum(h->kid);
	v[1] = Int64GetDatum(new_head);
	if (new_head < h->hold_upto)
		fqs_exec(&go_on, v, NULL, 0);
	else if (next_ready)
	{
		fqs_exec(&free_key, v, NULL, 0);
		fqs_wake_at_commit(h->qid, FQS_STAGE_SEQUENTIAL, 1);
	}
	else
		fqs_exec(&drop, v, NULL, 0);
}

/* Complete one message; the caller has begun an API call. */
static void
complete_one(int64 id, int64 receipt)
{
	SeqHold		h;
	bool		next_ready;
	int64		new_head;

	fqs_check_receipt(receipt);
	if (!seq_lock_hold(id, receipt, &h))
		fqs_seq_diagnose(id, receipt);
	fqs_check_right(h.qid, FQS_RIGHT_CONSUME, NULL);
	fqs_breaker_event(h.qid, FQS_STAGE_SEQUENTIAL, true, 1);
	new_head = seq_finish(h.kid, h.qid, h.seq, id, h.gen, NULL, &next_ready);
	seq_after_advance(&h, new_head, next_ready);
	if (h.has_enqueued_at)
		fqs_metric_latency(h.qid, h.enqueued_at);
}

/*
 * fqs_complete(id, receipt)
 */
Datum
fqs_complete(PG_FUNCTION_ARGS)
{
	FqsCall		call;
	int64		id = fqs_arg_int64(fcinfo, 0, "id");
	int64		receipt = fqs_arg_int64(fcinfo, 1, "receipt");

	fqs_call_begin(&call);
	complete_one(id, receipt);
	fqs_call_end(&call);
	PG_RETURN_VOID();
}

/*
 * fqs_complete(ids[], receipts[]): many in one call, all or nothing, key
 * by key (see fqs_key_order), a key's messages in array order, which must
 * be their seq order.
 */
Datum
fqs_complete_many(PG_FUNCTION_ARGS)
{
	static FqsPlan kids = {
		"SELECT id, kid FROM fqs.processed WHERE id = ANY ($1) ORDER BY id",
		1, {INT8ARRAYOID}, NULL
	};
	FqsCall		call;
	FqsIdArgs	a;
	int		   *order;
	int			k;

	fqs_id_array_args(fcinfo, &a, -1, NULL);
	fqs_call_begin(&call);
	order = fqs_key_order(&a, &kids);
	for (k = 0; k < a.n; k++)
	{
		int			i = order[k];

		MemoryContextReset(a.cxt);
		MemoryContextSwitchTo(a.cxt);
		complete_one(a.ids[i], a.receipts[i]);
	}
	MemoryContextSwitchTo(a.caller);
	fqs_call_end(&call);
	PG_RETURN_VOID();
}

/*
 * Sequential half of fqs_fail.  Returns false when receipt holds no key.
 */
bool
fqs_seq_fail(int64 id, int64 receipt, Datum err, Interval *retry_after,
			 const char **outcome)
{
	static FqsPlan kill = {
		"WITH g AS (DELETE FROM fqs.releasable WHERE kid = $1 "
		"           RETURNING qid, head_attempts) "
		"INSERT INTO fqs.dead "
		"  (id, qid, kid, seq, gen, stage, attempts, last_error, died_at) "
		"SELECT $2, g.qid, $1, $3, $4, 'sequential', g.head_attempts, $5, "
		"       pg_catalog.clock_timestamp() FROM g",
		5, {INT8OID, INT8OID, INT8OID, INT4OID, TEXTOID}, NULL
	};
	static FqsPlan retry = {
		"UPDATE fqs.releasable SET lease_until = NULL, receipt = 0, "
		"       hold_upto = 0, visible_at = pg_catalog.clock_timestamp() + $2, "
		"       last_error = $3 WHERE kid = $1",
		3, {INT8OID, INTERVALOID, TEXTOID}, NULL
	};
	SeqHold		h;
	Datum		v[5];

	if (!seq_lock_hold(id, receipt, &h))
		return false;
	fqs_check_right(h.qid, FQS_RIGHT_CONSUME, NULL);
	fqs_breaker_event(h.qid, FQS_STAGE_SEQUENTIAL, false, 1);
	fqs_metric_add(h.qid, FQS_M_FAILED, 1);
	v[0] = Int64GetDatum(h.kid);
	if (h.head_attempts >= h.max_attempts)
	{
		fqs_metric_add(h.qid, FQS_M_DEAD, 1);
		v[1] = Int64GetDatum(id);
		v[2] = Int64GetDatum(h.seq);
		v[3] = Int32GetDatum(h.gen);
		v[4] = err;
		fqs_exec(&kill, v, NULL, 0);
		*outcome = "dead";
	}
	else
	{
		v[1] = IntervalPGetDatum(retry_after ? retry_after :
								 fqs_backoff(h.head_attempts));
		v[2] = err;
		fqs_exec(&retry, v, NULL, 0);
		fqs_wake_at_commit(h.qid, FQS_STAGE_SEQUENTIAL, 1);
		*outcome = "retry";
	}
	return true;
}

/*
 * Sequential half of fqs_extend_lease.  Returns false when receipt does
 * not hold message id; on success SPI_tuptable holds the new lease end.
 */
bool
fqs_seq_extend(int64 id, int64 receipt, Interval *lease)
{
	static FqsPlan plan = {
		"UPDATE fqs.releasable r SET lease_until = pg_catalog.clock_timestamp() + $3 "
		"  FROM fqs.key_head h, fqs.processed p "
		" WHERE r.receipt = $2 AND r.lease_until IS NOT NULL "
		"   AND h.kid = r.kid AND p.id = $1 AND p.kid = r.kid "
		"   AND p.seq > h.head_seq AND p.seq <= r.hold_upto "
		"RETURNING r.lease_until, r.qid",
		3, {INT8OID, INT8OID, INTERVALOID}, NULL
	};
	Datum		v[3];
	TimestampTz before = GetCurrentTimestamp();

	v[0] = Int64GetDatum(id);
	v[1] = Int64GetDatum(receipt);
	v[2] = IntervalPGetDatum(lease);
	if (fqs_exec(&plan, v, NULL, 0) != 1)
		return false;
	fqs_scan_seq_leased(fqs_getint32(0, 2), before);
	return true;
}

/*
 * Lock and remove dead message id.  Returns false when it is not dead;
 * ERROR when it does not exist or the caller may not see its queue.
 */
static bool
seq_take_dead(int64 id, char *stage, int32 *qid, int64 *kid, int64 *seq,
			  int32 *gen, int32 *attempts)
{
	static FqsPlan take = {
		"DELETE FROM fqs.dead WHERE id = $1 "
		"RETURNING stage = 'sequential', qid, kid, seq, gen, attempts",
		1, {INT8OID}, NULL
	};
	static FqsPlan exists = {
		"SELECT 1 FROM fqs.message WHERE id = $1",
		1, {INT8OID}, NULL
	};
	Datum		v[1];
	bool		isnull;

	v[0] = Int64GetDatum(id);
	if (fqs_exec(&take, v, NULL, 0) == 0)
	{
		if (fqs_exec(&exists, v, NULL, 1) == 0)
			fqs_raise_message_unknown(id);
		fqs_check_message_visible(id);
		return false;
	}
	*stage = DatumGetBool(fqs_getdatum(0, 1, &isnull)) ? 's' : 'c';
	*qid = fqs_getint32(0, 2);
	*kid = fqs_getint64(0, 3);
	*seq = fqs_getint64(0, 4);
	*gen = fqs_getint32(0, 5);
	*attempts = fqs_getint32(0, 6);
	return true;
}

/*
 * fqs_retry and fqs_skip change a queue's messages: not while the queue is
 * moving to another node, whose copy would miss the change (QM001).
 */
static void
seq_refuse_moving(int64 id)
{
	static FqsPlan plan = {
		"SELECT qid FROM fqs.message WHERE id = $1",
		1, {INT8OID}, NULL
	};
	Datum		v[1];

	v[0] = Int64GetDatum(id);
	if (fqs_exec(&plan, v, NULL, 1) == 1)
		fqs_refuse_moving(fqs_getint32(0, 1), NULL);
}

/* Lock a key's head row; returns head_seq, and the key's queue in *qid. */
static int64
seq_lock_key(int64 kid, int32 *qid)
{
	static FqsPlan plan = {
		"SELECT head_seq, qid FROM fqs.key_head WHERE kid = $1 FOR UPDATE",
		1, {INT8OID}, NULL
	};
	Datum		v[1];
	int			nrows;
	bool		entered;

	v[0] = Int64GetDatum(kid);
	entered = fqs_key_gate_enter(kid, ExclusiveLock);
	nrows = fqs_exec(&plan, v, NULL, 0);
	fqs_key_gate_leave(kid, ExclusiveLock, entered);
	if (nrows != 1)
		seq_key_gone(kid);
	if (qid)
		*qid = fqs_getint32(0, 2);
	return fqs_getint64(0, 1);
}

/*
 * fqs_retry of a message that is not dead: make it claimable now, whatever
 * holds it back -- a deliver_at or retry_after in the future, a lease
 * (whose receipt stops working), the holding pen, or, for the next message
 * of a key in the sequential stage, its key's hold or retry delay.  The
 * operator's way out of a key parked for a long time.
 */
static void
seq_retry_waiting(int64 id)
{
	static FqsPlan ready = {
		"UPDATE fqs.ready SET lease_until = NULL, receipt = 0, "
		"       visible_at = LEAST(visible_at, pg_catalog.clock_timestamp()) "
		" WHERE id = $1 AND (lease_until IS NOT NULL "
		"                    OR visible_at > pg_catalog.clock_timestamp()) "
		"RETURNING qid",
		1, {INT8OID}, NULL
	};
	static FqsPlan pen = {
		"WITH p AS (DELETE FROM fqs.pen WHERE id = $1 "
		"           RETURNING id, qid, kid, seq, gen, priority) "
		"INSERT INTO fqs.ready (id, qid, kid, seq, gen, priority, visible_at) "
		"SELECT id, qid, kid, seq, gen, priority, pg_catalog.clock_timestamp() "
		"  FROM p RETURNING qid",
		1, {INT8OID}, NULL
	};
	static FqsPlan processed = {
		"SELECT kid, seq FROM fqs.processed WHERE id = $1",
		1, {INT8OID}, NULL
	};
	static FqsPlan lockrel = {
		"SELECT 1 FROM fqs.releasable WHERE kid = $1 FOR UPDATE",
		1, {INT8OID}, NULL
	};
	static FqsPlan release = {
		"UPDATE fqs.releasable SET lease_until = NULL, receipt = 0, "
		"       hold_upto = 0, visible_at = pg_catalog.clock_timestamp() "
		" WHERE kid = $1 AND (lease_until IS NOT NULL "
		"                     OR visible_at > pg_catalog.clock_timestamp())",
		1, {INT8OID}, NULL
	};
	Datum		v[1];

	v[0] = Int64GetDatum(id);
	if (fqs_exec(&ready, v, NULL, 0) == 1 || fqs_exec(&pen, v, NULL, 0) == 1)
	{
		int32		qid = fqs_getint32(0, 1);

		/* a refusal rolls the change back */
		fqs_check_right(qid, FQS_RIGHT_ALL, NULL);
		fqs_scan_reset(qid);
		fqs_ready_added_at_commit(qid, 1);
		fqs_wake_at_commit(qid, FQS_STAGE_CONCURRENT, 1);
		return;
	}
	if (fqs_exec(&processed, v, NULL, 1) == 1)
	{
		int64		kid = fqs_getint64(0, 1);
		int64		seq = fqs_getint64(0, 2);
		int32		qid;
		int64		head;

		/* the key's hold first, then its head, as fqs_complete does */
		v[0] = Int64GetDatum(kid);
		(void) fqs_exec(&lockrel, v, NULL, 0);
		head = seq_lock_key(kid, &qid);
		fqs_check_right(qid, FQS_RIGHT_ALL, NULL);
		if (seq == head + 1 && fqs_exec(&release, v, NULL, 0) == 1)
		{
			fqs_wake_at_commit(qid, FQS_STAGE_SEQUENTIAL, 1);
			return;
		}
	}
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("message " INT64_FORMAT " is not waiting", id),
			 errdetail("fqs_retry() acts on dead messages and on messages that are delayed, claimed, in the holding pen, or next of their key in the sequential stage."),
			 errhint("fqs_message_status() says where the message is.")));
}

/*
 * fqs_skip of a message that is not dead: one that has not been committed
 * yet (ready, delayed, claimed -- whose receipt stops working -- or in the
 * holding pen) is recorded as skipped, and its key moves past it.
 */
static void
seq_skip_waiting(int64 id, text *reason)
{
	static FqsPlan ready = {
		"DELETE FROM fqs.ready WHERE id = $1 "
		"RETURNING gen, kid, seq, qid, attempt",
		1, {INT8OID}, NULL
	};
	static FqsPlan pen = {
		"DELETE FROM fqs.pen WHERE id = $1 "
		"RETURNING gen, kid, seq, qid, 0",
		1, {INT8OID}, NULL
	};
	Datum		v[1];

	v[0] = Int64GetDatum(id);
	if (fqs_exec(&ready, v, NULL, 0) == 1 || fqs_exec(&pen, v, NULL, 0) == 1)
	{
		int32		gen = fqs_getint32(0, 1);
		int64		kid = fqs_getint64(0, 2);
		int64		seq = fqs_getint64(0, 3);
		int32		qid = fqs_getint32(0, 4);
		int32		attempts = fqs_getint32(0, 5);

		fqs_check_right(qid, FQS_RIGHT_ALL, NULL);
		fqs_scan_reset(qid);
		fqs_mark_processed(gen, kid, seq, id, qid, attempts, NULL, NULL,
						   reason);
		return;
	}
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("message " INT64_FORMAT " cannot be skipped", id),
			 errdetail("fqs_skip() acts on dead messages and on messages not yet committed (ready, delayed, claimed or in the holding pen)."),
			 errhint("fqs_message_status() says where the message is.")));
}

/*
 * fqs_retry(id): a dead message goes back to the ready state of the stage
 * it died in, with its attempts counted afresh.
 */
Datum
fqs_retry(PG_FUNCTION_ARGS)
{
	FqsCall		call;
	static FqsPlan ready = {
		"INSERT INTO fqs.ready (id, qid, kid, seq, gen, priority, visible_at) "
		"SELECT m.id, m.qid, m.kid, m.seq, m.gen, m.priority, pg_catalog.clock_timestamp() "
		"  FROM fqs.message m WHERE m.gen = $1 AND m.id = $2",
		2, {INT4OID, INT8OID}, NULL
	};
	int64		id = fqs_arg_int64(fcinfo, 0, "id");
	char		stage;
	int32		qid;
	int64		kid;
	int64		seq;
	int32		gen;
	int32		attempts;

	fqs_call_begin(&call);
	seq_refuse_moving(id);
	if (!seq_take_dead(id, &stage, &qid, &kid, &seq, &gen, &attempts))
	{
		seq_retry_waiting(id);
		fqs_call_end(&call);
		PG_RETURN_VOID();
	}
	fqs_check_right(qid, FQS_RIGHT_ALL, NULL);
	if (stage == 'c')
	{
		Datum		v[2];

		v[0] = Int32GetDatum(gen);
		v[1] = Int64GetDatum(id);
		fqs_exec(&ready, v, NULL, 0);
		fqs_scan_reset(qid);
		fqs_ready_added_at_commit(qid, 1);
		fqs_wake_at_commit(qid, FQS_STAGE_CONCURRENT, 1);
	}
	else
	{
		seq_lock_key(kid, NULL);
		seq_make_releasable(kid, qid);
	}
	fqs_call_end(&call);
	PG_RETURN_VOID();
}

/*
 * fqs_skip(id, reason): let the key of a dead message move past it.  The
 * message is recorded as finished with the reason, never dropped silently.
 */
Datum
fqs_skip(PG_FUNCTION_ARGS)
{
	FqsCall		call;
	int64		id = fqs_arg_int64(fcinfo, 0, "id");
	text	   *reason;
	char		stage;
	int32		qid;
	int64		kid;
	int64		seq;
	int32		gen;
	int32		attempts;

	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("reason must not be null"),
				 errhint("A skip is recorded with its reason.")));
	reason = PG_GETARG_TEXT_PP(1);
	if (VARSIZE_ANY_EXHDR(reason) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("reason must not be empty"),
				 errhint("A skip is recorded with its reason.")));
	fqs_check_reason(reason, "reason");

	fqs_call_begin(&call);
	seq_refuse_moving(id);
	if (!seq_take_dead(id, &stage, &qid, &kid, &seq, &gen, &attempts))
	{
		seq_skip_waiting(id, reason);
		fqs_call_end(&call);
		PG_RETURN_VOID();
	}
	fqs_check_right(qid, FQS_RIGHT_ALL, NULL);
	if (stage == 'c')
		fqs_mark_processed(gen, kid, seq, id, qid, attempts, NULL, NULL, reason);
	else
	{
		int64		head = seq_lock_key(kid, NULL);
		bool		next_ready;

		if (seq != head + 1)
			elog(ERROR, "fqs: dead message " INT64_FORMAT " is not its key's head", id);
		seq_finish(kid, qid, seq, id, gen, reason, &next_ready);
		if (next_ready)
			seq_make_releasable(kid, qid);
	}
	fqs_call_end(&call);
	PG_RETURN_VOID();
}
