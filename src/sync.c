/*
 * sync.c: `silo sync --from URI`, migration step 7: catch up from the live
 * database (Atlas) into silo's, without destroying anything.
 *
 * The JSON backup the import loaded is older than the cutover, and the
 * live database keeps taking writes until then.  A sync reads each
 * collection of the source and of the target in _id order, side by side,
 * and compares a SHA-256 of each document's raw BSON on both sides.
 * Documents the target lacks are inserted, documents that differ are
 * replaced (upsert), and unchanged ones cost a read and a hash, no write.
 * Documents only the target holds are reported, and deleted only with
 * --delete.  Nothing is dropped.
 *
 * Hashing the raw bytes means two documents are the same only if their
 * fields are in the same order with the same types.  mongod and FerretDB
 * both store a document's fields as written and give them back in that
 * order, and a sync writes the source's bytes unchanged, so after one
 * sync the bytes are equal; a document whose fields were reordered at the
 * source is "changed", which is what a byte-exact copy wants.
 *
 * The order is the servers' own.  A comparison in a query ($gt, $lte)
 * only matches values of its own type ("type bracketing", on mongod and
 * FerretDB alike), so each collection is read bracket by bracket, in
 * BSON's sort order (numbers, strings, objects, ..., ObjectIds, dates),
 * every query pinned to its bracket with $type; one $group on
 * {$type: "$_id"} per side says which brackets hold anything.
 *
 * Most brackets are streamed: one query per side, sorted by _id, no
 * limit, read a cursor batch at a time, and the two streams merged here
 * with sync_id_cmp(), which orders as the servers do (numbers by value
 * across int32, int64 and double, exactly; strings bytewise as UTF-8,
 * the simple collation; ObjectIds by their bytes; dates, booleans).  A
 * server answers each query once, and FerretDB, which scans and sorts a
 * whole collection for any sorted query, does so once per side rather
 * than once per batch: the walk in batches of ranges it replaced was
 * quadratic there.  Each stream's order is checked against sync_id_cmp
 * as it is read, so a server that orders otherwise stops the collection
 * with both _ids named instead of a wrong merge; FerretDB keeps a long
 * and a double of the same large value (2^62) as two _ids, which
 * mongod and sync_id_cmp hold equal, and such a collection is refused.
 * A number equal in value and of another type on each side (7 against
 * 7.0) is one _id to both servers: it is deleted and inserted, since a
 * replace would keep the target's type.  Brackets whose order is not
 * worth writing here (objects, binary, timestamps, regexes; numbers
 * with a decimal) keep the walk in batches: 1,000 source documents
 * after the last _id, and the target's documents in the same range,
 * read by range so that target-only documents are found too.
 *
 * The last _id done is checkpointed per collection in silo.syncs after
 * every 1,000 documents (and their writes), so a run killed part-way
 * (kill -9, or a source that went away) resumes after it, both sides'
 * queries starting there; the documents after the checkpoint are
 * compared again, find their writes already there, and write nothing
 * twice.  A completed collection starts over at the next run: catching
 * up means looking at every document again.  Memory is bounded by one
 * cursor batch on each side and one batch of writes.
 *
 * The collections are the source's, with the import's plan (the report's
 * drop and archive lists, --include/--exclude/--all: import_plan_of()).
 * Each is created on the target even when it is empty, with the source's
 * create options (capped, size, max; a server refusing the others gets
 * these, and the step names what was left out), and its indexes are
 * built from the source's specs after the data (import_index_build(),
 * one createIndexes per index, as FerretDB needs).  Collections only
 * the target has are listed, never dropped.  Progress is counted in
 * documents against the source's counts (collStats).
 *
 * --dry-run compares and counts but writes nothing, not even a
 * checkpoint.  --verify-only walks the same way and reports, per
 * collection, the count and a SHA-256 over the documents in _id order on
 * each side, and the first differing _ids; a collection only the target
 * has counts as a difference if the plan would sync it and it is not
 * empty.  It exits 0 only if all agree.  The source is --from URI, an
 * override of SILO_SYNC_FROM, so the URI is checked as the
 * configuration's are and can stay in the env file, off the command
 * line.  Its password is never printed: messages show it through
 * config_mask_uri().
 */
#include "config.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "extern.h"

#define	SYNC_BATCH_DOCS		1000		/* documents per batch */
#define	SYNC_BATCH_BYTES	(16u << 20)	/* BSON bytes per batch */
#define	SYNC_SLOTS		2048		/* hash slots, > 2 x batch */
#define	SYNC_STATE_DB		"silo"		/* silo's own database */
#define	SYNC_STATE_COLL		"syncs"		/* state, one per collection */
#define	SYNC_MAX_DIFFS		10		/* differing _ids shown */
#define	SYNC_HASH		32		/* SHA-256 bytes */
#define	E_NAMESPACE_EXISTS	48		/* server error code */
#define	SYNC_CURSOR_BATCH	1000		/* a stream's batchSize */

/* A set of _id types that sort together, and a query's $type for it. */
struct sync_bracket {
	const char	*type;		/* $type alias for queries */
	const char	*members[5];	/* $type names it covers, NULL ends */
	bool		 streamed;	/* merged here, by sync_id_cmp */
};

/* BSON's sort order of the types an _id can have. */
static const struct sync_bracket sync_brackets[] = {
	{ "null",	{ "null", NULL },				true },
	{ "number",	{ "int", "long", "double", "decimal", NULL },	true },
	{ "string",	{ "string", NULL },				true },
	{ "object",	{ "object", NULL },				false },
	{ "binData",	{ "binData", NULL },				false },
	{ "objectId",	{ "objectId", NULL },				true },
	{ "bool",	{ "bool", NULL },				true },
	{ "date",	{ "date", NULL },				true },
	{ "timestamp",	{ "timestamp", NULL },				false },
	{ "regex",	{ "regex", NULL },				false },
};

#define	SYNC_NBRACKETS	(sizeof(sync_brackets) / sizeof(sync_brackets[0]))

/* What became of a source document of the batch. */
enum sync_fate {
	FATE_NEW,		/* not in the target: insert */
	FATE_SAME,		/* the target holds the same bytes */
	FATE_CHANGED,		/* the target's differs: replace */
	FATE_RETYPED		/* the target's _id is equal, of another
				   type (1 against 1.0): delete, insert */
};

/* A source document of the batch. */
struct sync_doc {
	bson_t		*doc;		/* the source's bytes */
	uint8_t		 hash[SYNC_HASH]; /* their SHA-256 */
	enum sync_fate	 fate;		/* after the target's side is read */
};

/* What one collection's sync found, and its outcome. */
struct sync_counts {
	int64_t		 source;	/* documents read from the source */
	int64_t		 target;	/* documents read from the target */
	int64_t		 same;		/* identical on both sides */
	int64_t		 added;		/* new at the source */
	int64_t		 changed;	/* different at the source */
	int64_t		 gone;		/* in the target only */
	int64_t		 deleted;	/* of those, deleted (--delete) */
};

/* One collection's sync in progress. */
struct sync_run {
	const struct sync_opts *opts;	/* the command line */
	struct mongo	*src, *dst;	/* the two databases */
	const char	*name;		/* the collection */
	mongoc_collection_t *coll;	/* its handle on the target */
	struct progress	*progress;	/* shared progress display */
	const char	*plan;		/* "sync", "skip", "archive" */
	const char	*why;		/* why that plan, "" if default */
	struct sync_doc	 batch[SYNC_BATCH_DOCS]; /* the source's batch */
	size_t		 n;		/* documents in it */
	size_t		 bytes;		/* their BSON size */
	int16_t		 slot[SYNC_SLOTS]; /* _id hash -> batch index, -1 */
	bson_t		 gone;		/* target-only _ids ("0": ...) */
	size_t		 ngone;		/* how many in gone */
	bson_value_t	 last;		/* last _id done */
	bool		 have_last;	/* last is set */
	size_t		 resume_bracket; /* bracket of a resumed last */
	bool		 resumed;	/* started from a checkpoint */
	struct sync_counts c;		/* what was found */
	EVP_MD_CTX	*sha[2];	/* --verify-only: source, target */
	char		 digest[2][2 * SYNC_HASH + 1]; /* their hex */
	char		*diffs[SYNC_MAX_DIFFS]; /* first differing _ids */
	size_t		 ndiffs;	/* how many */
	bool		 failed;	/* err says why */
	char		 err[1024];	/* the error that stopped it */
};

static void sync_fail(struct sync_run *, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
sync_fail(struct sync_run *r, const char *fmt, ...)
{
	va_list	 ap;

	if (r->failed)
		return;		/* the first error is the one that matters */
	r->failed = true;
	va_start(ap, fmt);
	vsnprintf(r->err, sizeof(r->err), fmt, ap);
	va_end(ap);
}

/* ------------------------------------------------------------------ */
/* _ids                                                                 */
/* ------------------------------------------------------------------ */

/* The _id element's bytes (type, key, value) in doc; false if none. */
static bool
sync_id_bytes(const bson_t *doc, const uint8_t **p, size_t *len)
{
	bson_iter_t	 it;

	if (!bson_iter_init_find(&it, doc, "_id"))
		return false;
	*p = it.raw + it.off;
	*len = it.next_off - it.off;
	return true;
}

/* The bracket an _id's type belongs to; SYNC_NBRACKETS if none. */
static size_t
sync_bracket_of_type(bson_type_t t)
{
	switch (t) {
	case BSON_TYPE_NULL:		return 0;
	case BSON_TYPE_INT32:
	case BSON_TYPE_INT64:
	case BSON_TYPE_DOUBLE:
	case BSON_TYPE_DECIMAL128:	return 1;
	case BSON_TYPE_UTF8:		return 2;
	case BSON_TYPE_DOCUMENT:	return 3;
	case BSON_TYPE_BINARY:		return 4;
	case BSON_TYPE_OID:		return 5;
	case BSON_TYPE_BOOL:		return 6;
	case BSON_TYPE_DATE_TIME:	return 7;
	case BSON_TYPE_TIMESTAMP:	return 8;
	case BSON_TYPE_REGEX:		return 9;
	default:			return SYNC_NBRACKETS;
	}
}

/* The bracket of a $type name from $group; SYNC_NBRACKETS if none. */
static size_t
sync_bracket_of_name(const char *name)
{
	for (size_t b = 0; b < SYNC_NBRACKETS; b++)
		for (size_t i = 0; sync_brackets[b].members[i] != NULL; i++)
			if (strcmp(sync_brackets[b].members[i], name) == 0)
				return b;
	return SYNC_NBRACKETS;
}

/* -1, 0 or 1 as a is below, equal to or above b. */
static int
sync_sign_i64(int64_t a, int64_t b)
{
	return a < b ? -1 : a > b;
}

/* An integer against a double, exactly, as mongod orders them: NaN below
 * every number, and no rounding of the integer to a double. */
static int
sync_cmp_int_double(int64_t i, double d)
{
	double	 t;

	if (isnan(d))
		return 1;
	if (d >= 9223372036854775808.0)
		return -1;
	if (d < -9223372036854775808.0)
		return 1;
	t = trunc(d);
	if (i != (int64_t)t)
		return sync_sign_i64(i, (int64_t)t);
	return d > t ? -1 : d < t;
}

static int
sync_cmp_double(double a, double b)
{
	if (isnan(a) || isnan(b))
		return isnan(b) - isnan(a);
	return a < b ? -1 : a > b;
}

/* Two numbers of the number bracket, int32, int64 or double. */
static int
sync_cmp_number(const bson_value_t *a, const bson_value_t *b)
{
	bool	 ad = a->value_type == BSON_TYPE_DOUBLE;
	bool	 bd = b->value_type == BSON_TYPE_DOUBLE;
	int64_t	 ai = a->value_type == BSON_TYPE_INT32 ? a->value.v_int32 :
		    a->value.v_int64;
	int64_t	 bi = b->value_type == BSON_TYPE_INT32 ? b->value.v_int32 :
		    b->value.v_int64;

	if (ad && bd)
		return sync_cmp_double(a->value.v_double, b->value.v_double);
	if (ad)
		return -sync_cmp_int_double(bi, a->value.v_double);
	if (bd)
		return sync_cmp_int_double(ai, b->value.v_double);
	return sync_sign_i64(ai, bi);
}

/*
 * Two _ids of the same streamed bracket, in the servers' order: numbers
 * by value across int32, int64 and double (1 and 1.0 are equal, as they
 * are to a unique index), strings bytewise as UTF-8 (the simple
 * collation; a prefix first), ObjectIds by their 12 bytes, dates and
 * booleans by value.  A bracket with a decimal is never streamed.
 */
static int
sync_id_cmp(const bson_value_t *a, const bson_value_t *b)
{
	size_t	 n;
	int	 c;

	switch (a->value_type) {
	case BSON_TYPE_INT32:
	case BSON_TYPE_INT64:
	case BSON_TYPE_DOUBLE:
		return sync_cmp_number(a, b);
	case BSON_TYPE_UTF8:
		n = a->value.v_utf8.len < b->value.v_utf8.len ?
		    a->value.v_utf8.len : b->value.v_utf8.len;
		c = memcmp(a->value.v_utf8.str, b->value.v_utf8.str, n);
		if (c != 0)
			return c < 0 ? -1 : 1;
		return a->value.v_utf8.len < b->value.v_utf8.len ? -1 :
		    a->value.v_utf8.len > b->value.v_utf8.len;
	case BSON_TYPE_OID:
		c = memcmp(a->value.v_oid.bytes, b->value.v_oid.bytes, 12);
		return c < 0 ? -1 : c > 0;
	case BSON_TYPE_DATE_TIME:
		return sync_sign_i64(a->value.v_datetime, b->value.v_datetime);
	case BSON_TYPE_BOOL:
		return (int)a->value.v_bool - (int)b->value.v_bool;
	default:
		return 0;	/* null: there is only one */
	}
}

/* Note a differing _id for --verify-only and --dry-run's listing. */
static void
sync_note_diff(struct sync_run *r, const bson_t *doc)
{
	if (r->ndiffs < SYNC_MAX_DIFFS)
		r->diffs[r->ndiffs++] = mongo_id_json(doc);
}

static uint32_t
sync_fnv(const uint8_t *p, size_t len)
{
	uint32_t	 h = 2166136261u;

	for (size_t i = 0; i < len; i++)
		h = (h ^ p[i]) * 16777619u;
	return h;
}

/* The batch index of the document with this _id element, or -1. */
static int
sync_batch_find(const struct sync_run *r, const uint8_t *id, size_t len)
{
	uint32_t	 h = sync_fnv(id, len) % SYNC_SLOTS;

	for (; r->slot[h] != -1; h = (h + 1) % SYNC_SLOTS) {
		const uint8_t	*p;
		size_t		 plen;

		if (sync_id_bytes(r->batch[r->slot[h]].doc, &p, &plen) &&
		    plen == len && memcmp(p, id, len) == 0)
			return r->slot[h];
	}
	return -1;
}

static void
sync_batch_index(struct sync_run *r, size_t i)
{
	const uint8_t	*p = NULL;
	size_t		 len = 0;
	uint32_t	 h;

	(void)sync_id_bytes(r->batch[i].doc, &p, &len);
	h = sync_fnv(p, len) % SYNC_SLOTS;
	while (r->slot[h] != -1)
		h = (h + 1) % SYNC_SLOTS;
	r->slot[h] = (int16_t)i;
}

static void
sync_batch_clear(struct sync_run *r)
{
	for (size_t i = 0; i < r->n; i++)
		bson_destroy(r->batch[i].doc);
	r->n = 0;
	r->bytes = 0;
	memset(r->slot, 0xff, sizeof(r->slot));
}

static void
sync_hash(const bson_t *doc, uint8_t out[SYNC_HASH])
{
	unsigned int	 n = SYNC_HASH;

	EVP_Digest(bson_get_data(doc), doc->len, out, &n, EVP_sha256(), NULL);
}

/* ------------------------------------------------------------------ */
/* Queries                                                              */
/* ------------------------------------------------------------------ */

/* {_id: {$type: bracket, $gt: after, $lte: upto}}, either bound absent. */
static bson_t *
sync_range(size_t bracket, const bson_value_t *after, const bson_value_t *upto)
{
	bson_t	*filter = bson_new(), id;

	BSON_APPEND_DOCUMENT_BEGIN(filter, "_id", &id);
	BSON_APPEND_UTF8(&id, "$type", sync_brackets[bracket].type);
	if (after != NULL)
		BSON_APPEND_VALUE(&id, "$gt", after);
	if (upto != NULL)
		BSON_APPEND_VALUE(&id, "$lte", upto);
	bson_append_document_end(filter, &id);
	return filter;
}

/* find options: _id order, at most limit, only _id if ids_only. */
static bson_t *
sync_find_opts(int64_t limit, bool ids_only)
{
	bson_t	*opts = BCON_NEW("sort", "{", "_id", BCON_INT32(1), "}");

	if (limit > 0)
		BSON_APPEND_INT64(opts, "limit", limit);
	if (ids_only)
		BCON_APPEND(opts, "projection", "{", "_id", BCON_INT32(1), "}");
	return opts;
}

/* Which brackets hold an _id, for the $group's callback. */
struct sync_present {
	bool	 in[SYNC_NBRACKETS];	/* bracket b holds one */
	bool	 decimal;		/* a decimal _id: numbers walked */
	char	 unknown[32];		/* the type of an _id not walked, "" */
};

static int
sync_present_doc(const bson_t *doc, void *arg)
{
	struct sync_present	*p = arg;
	const char		*type = mongo_get_utf8(doc, "_id");
	size_t			 b;

	b = type != NULL ? sync_bracket_of_name(type) : SYNC_NBRACKETS;
	if (b < SYNC_NBRACKETS)
		p->in[b] = true;
	else
		snprintf(p->unknown, sizeof(p->unknown), "%s",
		    type != NULL ? type : "?");
	if (type != NULL && strcmp(type, "decimal") == 0)
		p->decimal = true;
	return 0;
}

/* Mark the brackets m's collection holds; false with e set on error. */
static bool
sync_brackets_of(struct mongo *m, const char *name, struct sync_present *p,
    bson_error_t *e)
{
	bson_t	*pipeline = BCON_NEW("pipeline", "[",
		    "{", "$group", "{", "_id", "{", "$type", "$_id", "}", "}",
		    "}", "]");
	bool	 ok;

	ok = mongo_aggregate_each(m, name, pipeline, sync_present_doc, p, e);
	bson_destroy(pipeline);
	return ok;
}

/* ------------------------------------------------------------------ */
/* State: silo.syncs                                                    */
/* ------------------------------------------------------------------ */

static void
sync_state_id(const struct sync_run *r, char *buf, size_t bufsz)
{
	snprintf(buf, bufsz, "%s.%s", r->dst->db_name, r->name);
}

static void
sync_counts_put(bson_t *doc, const struct sync_counts *c)
{
	BSON_APPEND_INT64(doc, "source_docs", c->source);
	BSON_APPEND_INT64(doc, "target_docs", c->target);
	BSON_APPEND_INT64(doc, "same", c->same);
	BSON_APPEND_INT64(doc, "new", c->added);
	BSON_APPEND_INT64(doc, "changed", c->changed);
	BSON_APPEND_INT64(doc, "gone", c->gone);
	BSON_APPEND_INT64(doc, "deleted", c->deleted);
}

static void
sync_counts_get(const bson_t *doc, struct sync_counts *c)
{
	c->source = mongo_get_int64(doc, "source_docs", 0);
	c->target = mongo_get_int64(doc, "target_docs", 0);
	c->same = mongo_get_int64(doc, "same", 0);
	c->added = mongo_get_int64(doc, "new", 0);
	c->changed = mongo_get_int64(doc, "changed", 0);
	c->gone = mongo_get_int64(doc, "gone", 0);
	c->deleted = mongo_get_int64(doc, "deleted", 0);
}

/* Record the collection's state; -1 (with the run failed) on error.
 * Nothing is recorded by --dry-run or --verify-only. */
static int
sync_state_put(struct sync_run *r, const char *status)
{
	mongoc_collection_t	*c;
	bson_error_t		 e;
	char			 id[512];
	bson_t			*filter, *opts, doc = BSON_INITIALIZER;
	bool			 ok;

	if (r->opts->dry_run || r->opts->verify_only)
		return 0;
	sync_state_id(r, id, sizeof(id));
	filter = BCON_NEW("_id", BCON_UTF8(id));
	BSON_APPEND_UTF8(&doc, "_id", id);
	BSON_APPEND_UTF8(&doc, "status", status);
	BSON_APPEND_UTF8(&doc, "source_db", r->src->db_name);
	if (r->have_last)
		BSON_APPEND_VALUE(&doc, "last_id", &r->last);
	else
		BSON_APPEND_NULL(&doc, "last_id");
	sync_counts_put(&doc, &r->c);
	if (r->failed)
		BSON_APPEND_UTF8(&doc, "error", r->err);
	else
		BSON_APPEND_NULL(&doc, "error");
	BSON_APPEND_DATE_TIME(&doc, "updated_at", (int64_t)time(NULL) * 1000);
	opts = BCON_NEW("upsert", BCON_BOOL(true));
	c = mongoc_client_get_collection(r->dst->client, SYNC_STATE_DB,
	    SYNC_STATE_COLL);
	ok = mongoc_collection_replace_one(c, filter, &doc, opts, NULL, &e);
	mongoc_collection_destroy(c);
	bson_destroy(filter);
	bson_destroy(opts);
	bson_destroy(&doc);
	if (!ok) {
		sync_fail(r, "%s: recording progress in %s.%s: %s", r->name,
		    SYNC_STATE_DB, SYNC_STATE_COLL, e.message);
		return -1;
	}
	return 0;
}

/* Resume after the checkpoint of a run that did not complete. */
static void
sync_state_resume(struct sync_run *r)
{
	bson_t		 state;
	bson_error_t	 e;
	bson_iter_t	 it;
	char		 id[512];
	bson_t		*filter;
	const char	*status;

	if (r->opts->dry_run || r->opts->verify_only)
		return;
	sync_state_id(r, id, sizeof(id));
	filter = BCON_NEW("_id", BCON_UTF8(id));
	if (!mongo_find_one(r->dst, SYNC_STATE_DB, SYNC_STATE_COLL, filter,
	    NULL, &state, &e)) {
		bson_destroy(filter);
		return;
	}
	bson_destroy(filter);
	status = mongo_get_utf8(&state, "status");
	if (status != NULL && strcmp(status, "complete") != 0 &&
	    bson_iter_init_find(&it, &state, "last_id") &&
	    sync_bracket_of_type(bson_iter_type(&it)) < SYNC_NBRACKETS &&
	    bson_iter_type(&it) != BSON_TYPE_NULL) {
		bson_value_copy(bson_iter_value(&it), &r->last);
		r->have_last = true;
		r->resume_bracket = sync_bracket_of_type(bson_iter_type(&it));
		r->resumed = true;
		sync_counts_get(&state, &r->c);
	}
	bson_destroy(&state);
}

/* ------------------------------------------------------------------ */
/* Writes                                                               */
/* ------------------------------------------------------------------ */

/*
 * Delete the target's documents whose _id is the source's in value but
 * not in type: a replace would keep the target's _id (FerretDB sees no
 * change between {_id: 7} and {_id: 7.0}), so they go, to be inserted
 * again.  Killed in between, the resumed run finds them missing and
 * inserts them.  0, or -1 with e set.
 */
static int
sync_write_retyped(struct sync_run *r, bson_error_t *e)
{
	bson_t	 filter = BSON_INITIALIZER, id, in;
	size_t	 k = 0;
	bool	 ok = true;

	BSON_APPEND_DOCUMENT_BEGIN(&filter, "_id", &id);
	BSON_APPEND_ARRAY_BEGIN(&id, "$in", &in);
	for (size_t i = 0; i < r->n; i++) {
		bson_iter_t	 it;
		char		 key[24];

		if (r->batch[i].fate != FATE_RETYPED ||
		    !bson_iter_init_find(&it, r->batch[i].doc, "_id"))
			continue;
		snprintf(key, sizeof(key), "%zu", k++);
		bson_append_iter(&in, key, -1, &it);
	}
	bson_append_array_end(&id, &in);
	bson_append_document_end(&filter, &id);
	if (k > 0)
		ok = mongoc_collection_delete_many(r->coll, &filter, NULL, NULL,
		    e);
	bson_destroy(&filter);
	return ok ? 0 : -1;
}

/* Insert the new documents and replace the changed ones; 0 or -1. */
static int
sync_write_batch(struct sync_run *r)
{
	mongoc_bulk_operation_t	*bulk;
	bson_t			*opts = BCON_NEW("ordered", BCON_BOOL(false));
	bson_t			*upsert = BCON_NEW("upsert", BCON_BOOL(true));
	bson_t			 reply;
	bson_error_t		 e;
	size_t			 writes = 0;
	bool			 ok;

	ok = sync_write_retyped(r, &e) == 0;
	bulk = mongoc_collection_create_bulk_operation_with_opts(r->coll, opts);
	for (size_t i = 0; i < r->n && ok; i++) {
		struct sync_doc	*d = &r->batch[i];
		bson_t		 sel = BSON_INITIALIZER;
		bson_iter_t	 it;

		if (d->fate == FATE_SAME)
			continue;
		writes++;
		if (d->fate != FATE_CHANGED) {
			mongoc_bulk_operation_insert_with_opts(bulk, d->doc,
			    NULL, NULL);
			continue;
		}
		if (bson_iter_init_find(&it, d->doc, "_id"))
			bson_append_iter(&sel, "_id", 3, &it);
		mongoc_bulk_operation_replace_one_with_opts(bulk, &sel, d->doc,
		    upsert, NULL);
		bson_destroy(&sel);
	}
	if (ok && writes > 0) {
		ok = mongoc_bulk_operation_execute(bulk, &reply, &e) != 0;
		bson_destroy(&reply);
	}
	mongoc_bulk_operation_destroy(bulk);
	bson_destroy(opts);
	bson_destroy(upsert);
	if (!ok) {
		sync_fail(r, "%s: writing to the target: %s", r->name,
		    e.message);
		return -1;
	}
	return 0;
}

/* Delete (--delete) the target-only _ids gathered so far; 0 or -1. */
static int
sync_write_gone(struct sync_run *r)
{
	bson_t		 filter = BSON_INITIALIZER, id;
	bson_t		 reply;
	bson_error_t	 e;
	bool		 ok;

	if (r->ngone == 0)
		return 0;
	BSON_APPEND_DOCUMENT_BEGIN(&filter, "_id", &id);
	BSON_APPEND_ARRAY(&id, "$in", &r->gone);
	bson_append_document_end(&filter, &id);
	ok = mongoc_collection_delete_many(r->coll, &filter, NULL, &reply, &e);
	if (ok)
		r->c.deleted += mongo_get_int64(&reply, "deletedCount", 0);
	bson_destroy(&reply);
	bson_destroy(&filter);
	bson_reinit(&r->gone);
	r->ngone = 0;
	if (!ok) {
		sync_fail(r, "%s: deleting documents gone from the source: %s",
		    r->name, e.message);
		return -1;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* The walk                                                             */
/* ------------------------------------------------------------------ */

/* mongo_find_each()'s callback: take a source document into the batch,
 * until the batch is full. */
static int
sync_source_doc(const bson_t *doc, void *arg)
{
	struct sync_run	*r = arg;
	struct sync_doc	*d = &r->batch[r->n];

	d->doc = bson_copy(doc);
	d->fate = FATE_NEW;
	sync_hash(doc, d->hash);
	sync_batch_index(r, r->n);
	r->n++;
	r->bytes += doc->len;
	if (r->sha[0] != NULL)
		EVP_DigestUpdate(r->sha[0], bson_get_data(doc), doc->len);
	return r->bytes >= SYNC_BATCH_BYTES;
}

/* Remember a target-only _id, to count, list and (--delete) delete. */
static void
sync_gone(struct sync_run *r, const bson_t *doc)
{
	bson_iter_t	 it;
	char		 key[24];

	r->c.gone++;
	sync_note_diff(r, doc);
	if (!r->opts->delete || r->opts->dry_run || r->opts->verify_only)
		return;
	snprintf(key, sizeof(key), "%zu", r->ngone++);
	if (bson_iter_init_find(&it, doc, "_id"))
		bson_append_iter(&r->gone, key, -1, &it);
}

/* The target's side of the batch: where the walk is in it. */
struct sync_target {
	struct sync_run	*r;		/* the run */
	bson_value_t	 last;		/* last target _id seen */
	bool		 have_last;	/* last is set */
	int64_t		 n;		/* documents in this query */
};

/* mongo_find_each()'s callback: a target document of the range. */
static int
sync_target_doc(const bson_t *doc, void *arg)
{
	struct sync_target	*t = arg;
	struct sync_run		*r = t->r;
	const uint8_t		*id;
	size_t			 len;
	uint8_t			 hash[SYNC_HASH];
	bson_iter_t		 it;
	int			 i;

	t->n++;
	r->c.target++;
	if (r->sha[1] != NULL)
		EVP_DigestUpdate(r->sha[1], bson_get_data(doc), doc->len);
	if (t->have_last)
		bson_value_destroy(&t->last);
	t->have_last = bson_iter_init_find(&it, doc, "_id");
	if (t->have_last)
		bson_value_copy(bson_iter_value(&it), &t->last);
	if (!sync_id_bytes(doc, &id, &len) ||
	    (i = sync_batch_find(r, id, len)) == -1) {
		sync_gone(r, doc);
		return 0;
	}
	sync_hash(doc, hash);
	r->batch[i].fate = memcmp(hash, r->batch[i].hash, SYNC_HASH) == 0 ?
	    FATE_SAME : FATE_CHANGED;
	return 0;
}

/*
 * Read the target's documents of bracket b in (after, upto] (upto NULL:
 * to the end of the bracket), SYNC_BATCH_DOCS at a time so that a run of
 * target-only documents never fills memory, deleting those with --delete
 * after each query.  0, or -1 with the run failed.
 */
static int
sync_target_range(struct sync_run *r, size_t b, const bson_value_t *after,
    const bson_value_t *upto)
{
	struct sync_target	 t = { .r = r };
	bson_t			*filter, *opts;
	bson_error_t		 e;
	bool			 ok;
	int			 rc = 0;

	opts = sync_find_opts(SYNC_BATCH_DOCS, false);
	do {
		t.n = 0;
		filter = sync_range(b, t.have_last ? &t.last : after, upto);
		ok = mongo_find_each(r->dst, NULL, r->name, filter, opts,
		    sync_target_doc, &t, &e);
		bson_destroy(filter);
		if (!ok) {
			sync_fail(r, "%s: reading the target: %s", r->name,
			    e.message);
			rc = -1;
		} else
			rc = sync_write_gone(r);
	} while (rc == 0 && t.n == SYNC_BATCH_DOCS);
	bson_destroy(opts);
	if (t.have_last)
		bson_value_destroy(&t.last);
	return rc;
}

/* Count the batch's fates, note differing _ids, and write them. */
static int
sync_settle_batch(struct sync_run *r)
{
	for (size_t i = 0; i < r->n; i++) {
		struct sync_doc	*d = &r->batch[i];

		if (d->fate == FATE_SAME) {
			r->c.same++;
			continue;
		}
		if (d->fate == FATE_NEW)
			r->c.added++;
		else
			r->c.changed++;
		sync_note_diff(r, d->doc);
	}
	r->c.source += (int64_t)r->n;
	if (r->opts->dry_run || r->opts->verify_only)
		return 0;
	return sync_write_batch(r);
}

/* Move the walk's position to the batch's last _id. */
static void
sync_advance(struct sync_run *r)
{
	bson_iter_t	 it;

	if (r->have_last)
		bson_value_destroy(&r->last);
	r->have_last = bson_iter_init_find(&it, r->batch[r->n - 1].doc,
	    "_id");
	if (r->have_last)
		bson_value_copy(bson_iter_value(&it), &r->last);
}

/*
 * Walk bracket b: a batch of the source after the last _id, the target's
 * documents in the same range, the writes and the checkpoint, until the
 * source's bracket ends; then the rest of the target's bracket is
 * target-only.  0, or -1 with the run failed.
 */
static int
sync_walk_bracket(struct sync_run *r, size_t b)
{
	bson_t		*filter, *opts = sync_find_opts(SYNC_BATCH_DOCS, false);
	bson_error_t	 e;
	bool		 more = true, ok;
	int		 rc = 0;

	while (more && rc == 0) {
		bson_value_t	 before;
		bool		 had = r->have_last;

		filter = sync_range(b, r->have_last ? &r->last : NULL, NULL);
		ok = mongo_find_each(r->src, NULL, r->name, filter, opts,
		    sync_source_doc, r, &e);
		bson_destroy(filter);
		if (!ok) {
			sync_fail(r, "%s: reading the source: %s", r->name,
			    e.message);
			rc = -1;
			break;
		}
		if (r->n == 0)
			break;
		more = r->n == SYNC_BATCH_DOCS || r->bytes >= SYNC_BATCH_BYTES;
		if (had)
			bson_value_copy(&r->last, &before);
		sync_advance(r);
		rc = sync_target_range(r, b, had ? &before : NULL, &r->last);
		if (had)
			bson_value_destroy(&before);
		if (rc == 0)
			rc = sync_settle_batch(r);
		if (rc == 0)
			rc = sync_state_put(r, "running");
		progress_update(r->progress, (uint64_t)r->c.source,
		    (uint64_t)r->c.source);
		sync_batch_clear(r);
	}
	bson_destroy(opts);
	if (rc == 0)
		rc = sync_target_range(r, b, r->have_last ? &r->last : NULL,
		    NULL);
	return rc;
}

/* One side of a streamed bracket: a single cursor in _id order. */
struct sync_stream {
	const char	*side;		/* "source" or "target", for errors */
	mongoc_collection_t *coll;	/* the collection on that side */
	mongoc_cursor_t	*cursor;	/* the bracket's one query */
	const bson_t	*doc;		/* the head, NULL at the end */
	bson_iter_t	 id;		/* the head's _id */
	bson_value_t	 prev;		/* the _id before it */
	bool		 have_prev;	/* prev is set */
	EVP_MD_CTX	*sha;		/* --verify-only's digest, or NULL */
};

/* Open a side's cursor on bracket b after the checkpoint, if any. */
static void
sync_stream_open(struct sync_run *r, struct sync_stream *s, struct mongo *m,
    size_t b)
{
	bson_t	*filter = sync_range(b, r->have_last ? &r->last : NULL, NULL);
	bson_t	*opts = BCON_NEW("sort", "{", "_id", BCON_INT32(1), "}",
		    "batchSize", BCON_INT32(SYNC_CURSOR_BATCH));

	s->coll = mongoc_client_get_collection(m->client, m->db_name, r->name);
	s->cursor = mongoc_collection_find_with_opts(s->coll, filter, opts,
	    NULL);
	bson_destroy(filter);
	bson_destroy(opts);
}

static void
sync_stream_close(struct sync_stream *s)
{
	if (s->have_prev)
		bson_value_destroy(&s->prev);
	mongoc_cursor_destroy(s->cursor);
	mongoc_collection_destroy(s->coll);
}

/* Fail the run: the server's _id order is not the one sync_id_cmp says. */
static void
sync_stream_disorder(struct sync_run *r, struct sync_stream *s)
{
	bson_t	 a = BSON_INITIALIZER;
	char	*prev, *cur;

	BSON_APPEND_VALUE(&a, "_id", &s->prev);
	prev = mongo_id_json(&a);
	cur = mongo_id_json(s->doc);
	sync_fail(r, "%s: the %s's _id order puts %s before %s, which sync "
	    "orders the other way or holds equal (numbers equal in value but "
	    "of different types are one _id to sync); nothing after was "
	    "written", r->name, s->side, prev, cur);
	bson_free(prev);
	bson_free(cur);
	bson_destroy(&a);
}

/*
 * Move a side to its next document, checking that it comes after the one
 * before in sync_id_cmp's order, which the merge relies on.  0, or -1
 * with the run failed.
 */
static int
sync_stream_next(struct sync_run *r, struct sync_stream *s)
{
	bson_error_t	 e;

	if (s->doc != NULL) {
		if (s->have_prev)
			bson_value_destroy(&s->prev);
		bson_value_copy(bson_iter_value(&s->id), &s->prev);
		s->have_prev = true;
	}
	if (!mongoc_cursor_next(s->cursor, &s->doc)) {
		s->doc = NULL;
		if (!mongoc_cursor_error(s->cursor, &e))
			return 0;
		sync_fail(r, "%s: reading the %s: %s", r->name, s->side,
		    e.message);
		return -1;
	}
	if (!bson_iter_init_find(&s->id, s->doc, "_id")) {
		sync_fail(r, "%s: a document of the %s without an _id",
		    r->name, s->side);
		return -1;
	}
	if (s->have_prev && sync_id_cmp(&s->prev, bson_iter_value(&s->id)) >=
	    0) {
		sync_stream_disorder(r, s);
		return -1;
	}
	if (s->sha != NULL)
		EVP_DigestUpdate(s->sha, bson_get_data(s->doc), s->doc->len);
	return 0;
}

/* Keep a new or changed source document for the next write. */
static void
sync_take(struct sync_run *r, const bson_t *doc, enum sync_fate fate)
{
	struct sync_doc	*d = &r->batch[r->n++];

	d->doc = bson_copy(doc);
	d->fate = fate;
	r->bytes += doc->len;
	if (fate == FATE_NEW)
		r->c.added++;
	else
		r->c.changed++;
	sync_note_diff(r, doc);
}

/* Write what the merge decided up to _id last, then checkpoint there. */
static int
sync_flush(struct sync_run *r, const bson_value_t *last)
{
	int	 rc = 0;

	if (!r->opts->dry_run && !r->opts->verify_only)
		rc = sync_write_batch(r);
	if (rc == 0)
		rc = sync_write_gone(r);
	if (r->have_last)
		bson_value_destroy(&r->last);
	bson_value_copy(last, &r->last);
	r->have_last = true;
	if (rc == 0)
		rc = sync_state_put(r, "running");
	progress_update(r->progress, (uint64_t)r->c.source,
	    (uint64_t)r->c.source);
	sync_batch_clear(r);
	return rc;
}

/* One step of the merge: the heads s and t (either NULL at its end). */
static void
sync_merge_step(struct sync_run *r, struct sync_stream *s,
    struct sync_stream *t, bool *take_s, bool *take_t)
{
	uint8_t	 hs[SYNC_HASH], ht[SYNC_HASH];
	int	 c;

	c = s->doc == NULL ? 1 : t->doc == NULL ? -1 :
	    sync_id_cmp(bson_iter_value(&s->id), bson_iter_value(&t->id));
	*take_s = c <= 0;
	*take_t = c >= 0;
	if (*take_t)
		r->c.target++;
	if (c > 0) {
		sync_gone(r, t->doc);
		return;
	}
	r->c.source++;
	if (c < 0) {
		sync_take(r, s->doc, FATE_NEW);
		return;
	}
	sync_hash(s->doc, hs);
	sync_hash(t->doc, ht);
	if (memcmp(hs, ht, SYNC_HASH) == 0)
		r->c.same++;
	else
		sync_take(r, s->doc, bson_iter_type(&s->id) ==
		    bson_iter_type(&t->id) ? FATE_CHANGED : FATE_RETYPED);
}

/* The last _id the merge took, at the end of both sides. */
static const bson_value_t *
sync_stream_last(const struct sync_stream *s, const struct sync_stream *t)
{
	if (!s->have_prev)
		return &t->prev;
	if (!t->have_prev)
		return &s->prev;
	return sync_id_cmp(&s->prev, &t->prev) >= 0 ? &s->prev : &t->prev;
}

/*
 * Stream bracket b: one cursor per side, merged in _id order.  Every
 * SYNC_BATCH_DOCS steps (or a full write batch) the writes are made and
 * the position checkpointed, before the cursors move on, so the head's
 * _id is still there to record.  0, or -1 with the run failed.
 */
static int
sync_stream_bracket(struct sync_run *r, size_t b)
{
	struct sync_stream	 s = { .side = "source", .sha = r->sha[0] };
	struct sync_stream	 t = { .side = "target", .sha = r->sha[1] };
	size_t			 steps = 0;
	int			 rc;

	sync_stream_open(r, &s, r->src, b);
	sync_stream_open(r, &t, r->dst, b);
	rc = sync_stream_next(r, &s);
	if (rc == 0)
		rc = sync_stream_next(r, &t);
	while (rc == 0 && (s.doc != NULL || t.doc != NULL)) {
		bool	 take_s, take_t;

		sync_merge_step(r, &s, &t, &take_s, &take_t);
		if (++steps >= SYNC_BATCH_DOCS ||
		    r->bytes >= SYNC_BATCH_BYTES) {
			rc = sync_flush(r, bson_iter_value(take_s ? &s.id :
			    &t.id));
			steps = 0;
		}
		if (rc == 0 && take_s)
			rc = sync_stream_next(r, &s);
		if (rc == 0 && take_t)
			rc = sync_stream_next(r, &t);
	}
	if (rc == 0 && steps > 0)
		rc = sync_flush(r, sync_stream_last(&s, &t));
	sync_stream_close(&s);
	sync_stream_close(&t);
	return rc;
}

/*
 * Refuse a collection whose source holds an _id of a type outside the
 * brackets.  Of those, MinKey and MaxKey can be an _id (each once, so the
 * type names it); FerretDB drops the connection on either, in a query or
 * a document, so such a collection cannot be synced into it.
 */
static void
sync_refuse_type(struct sync_run *r, const char *type)
{
	const char	*id = NULL;

	if (strcmp(type, "minKey") == 0)
		id = "{ \"$minKey\" : 1 }";
	else if (strcmp(type, "maxKey") == 0)
		id = "{ \"$maxKey\" : 1 }";

	if (id != NULL)
		sync_fail(r, "%s: the source holds the _id %s, which sync "
		    "cannot copy: FerretDB drops the connection on a MinKey or "
		    "MaxKey value (docs/ferretdb.md)", r->name, id);
	else
		sync_fail(r, "%s: the source holds an _id of type %s, which "
		    "sync cannot order", r->name, type);
}

/* Walk every bracket either side holds, from the checkpoint if any. */
static int
sync_walk(struct sync_run *r)
{
	struct sync_present	 ps, pt;
	bson_error_t		 e;
	bool			 stream;
	int			 rc;

	memset(&ps, 0, sizeof(ps));
	memset(&pt, 0, sizeof(pt));
	if (!sync_brackets_of(r->src, r->name, &ps, &e)) {
		sync_fail(r, "%s: reading the source: %s", r->name, e.message);
		return -1;
	}
	if (!sync_brackets_of(r->dst, r->name, &pt, &e)) {
		sync_fail(r, "%s: reading the target: %s", r->name, e.message);
		return -1;
	}
	if (ps.unknown[0] != '\0') {
		sync_refuse_type(r, ps.unknown);
		return -1;
	}
	for (size_t b = 0; b < SYNC_NBRACKETS; b++) {
		if (r->resumed && b < r->resume_bracket)
			continue;
		if (r->have_last &&
		    b != sync_bracket_of_type(r->last.value_type)) {
			bson_value_destroy(&r->last);
			r->have_last = false;
		}
		if (!ps.in[b] && !pt.in[b])
			continue;
		stream = sync_brackets[b].streamed &&
		    (strcmp(sync_brackets[b].type, "number") != 0 ||
		    (!ps.decimal && !pt.decimal));
		rc = stream ? sync_stream_bracket(r, b) :
		    sync_walk_bracket(r, b);
		if (rc == -1)
			return -1;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Collections and indexes                                              */
/* ------------------------------------------------------------------ */

/* The create options every server of ours supports (FerretDB v1: only
 * these; the others fail with "not implemented yet"). */
static const char *const sync_create_kept[] = { "capped", "size", "max" };

/* The source collection's create options (listCollections), into opts;
 * false with e set on an error. */
static bool
sync_source_options(struct sync_run *r, bson_t *opts, bson_error_t *e)
{
	mongoc_database_t	*db;
	mongoc_cursor_t		*cursor;
	const bson_t		*doc;
	bson_t			*find;
	bson_iter_t		 it, sub;
	bool			 ok;

	bson_init(opts);
	find = BCON_NEW("filter", "{", "name", BCON_UTF8(r->name), "}");
	db = mongoc_client_get_database(r->src->client, r->src->db_name);
	cursor = mongoc_database_find_collections_with_opts(db, find);
	while (mongoc_cursor_next(cursor, &doc))
		if (bson_iter_init_find(&it, doc, "options") &&
		    BSON_ITER_HOLDS_DOCUMENT(&it) &&
		    bson_iter_recurse(&it, &sub))
			while (bson_iter_next(&sub))
				bson_append_iter(opts, bson_iter_key(&sub), -1,
				    &sub);
	ok = !mongoc_cursor_error(cursor, e);
	mongoc_cursor_destroy(cursor);
	mongoc_database_destroy(db);
	bson_destroy(find);
	return ok;
}

static bool
sync_create_keeps(const char *key)
{
	for (size_t i = 0; i < sizeof(sync_create_kept) /
	    sizeof(sync_create_kept[0]); i++)
		if (strcmp(sync_create_kept[i], key) == 0)
			return true;
	return false;
}

/* create name with the options (all of them, or only the kept ones,
 * naming the others in dropped); 1 if created, 0 if it existed, -1 with
 * e set. */
static int
sync_create_with(struct sync_run *r, const bson_t *opts, bool all,
    char *dropped, size_t droppedsz, bson_error_t *e)
{
	bson_t		*cmd = BCON_NEW("create", BCON_UTF8(r->name));
	bson_t		 reply;
	bson_iter_t	 it;
	bool		 ok;

	dropped[0] = '\0';
	bson_iter_init(&it, opts);
	while (bson_iter_next(&it)) {
		const char	*key = bson_iter_key(&it);

		if (all || sync_create_keeps(key))
			bson_append_iter(cmd, key, -1, &it);
		else
			snprintf(dropped + strlen(dropped), droppedsz -
			    strlen(dropped), "%s%s", dropped[0] != '\0' ?
			    ", " : "", key);
	}
	ok = mongo_command(r->dst, NULL, cmd, &reply, e);
	bson_destroy(&reply);
	bson_destroy(cmd);
	if (ok)
		return 1;
	if (e->code == E_NAMESPACE_EXISTS ||
	    strstr(e->message, "already exists") != NULL)
		return 0;
	return -1;
}

/*
 * Create the collection on the target, so that it exists when empty,
 * with the source's create options (capped, size, max, validator, ...).
 * A server that refuses some of them (FerretDB v1 knows only capped,
 * size and max) gets those, and the step says which were left out.  A
 * collection that exists already is left as it is.
 */
static int
sync_create(struct sync_run *r)
{
	bson_t		 opts;
	bson_error_t	 e;
	char		 dropped[512];
	int		 rc;

	if (!sync_source_options(r, &opts, &e)) {
		bson_destroy(&opts);
		sync_fail(r, "%s: reading the source's collection options: %s",
		    r->name, e.message);
		return -1;
	}
	rc = sync_create_with(r, &opts, true, dropped, sizeof(dropped), &e);
	if (rc == -1) {
		rc = sync_create_with(r, &opts, false, dropped,
		    sizeof(dropped), &e);
		if (rc == 1 && dropped[0] != '\0')
			progress_phase(r->progress, "created without %s: not "
			    "supported by this server", dropped);
	}
	bson_destroy(&opts);
	if (rc >= 0)
		return 0;
	sync_fail(r, "%s: creating the collection: %s", r->name, e.message);
	return -1;
}

/* mongo_index_each()'s callback: build a source index on the target. */
static int
sync_index(const bson_t *spec, void *arg)
{
	struct sync_run	*r = arg;
	const char	*name = mongo_get_utf8(spec, "name");
	char		 dropped[256];
	bson_error_t	 e;

	if (name == NULL || strcmp(name, "_id_") == 0)
		return 0;
	progress_phase(r->progress, "building index %s", name);
	if (!import_index_build(r->dst, r->name, spec, dropped,
	    sizeof(dropped), &e)) {
		sync_fail(r, "%s: index %s: %s", r->name, name, e.message);
		return 1;
	}
	if (dropped[0] != '\0')
		progress_phase(r->progress, "index %s built without %s: not "
		    "supported by this server", name, dropped);
	return 0;
}

/* Build the source's indexes on the target; 0, or -1 with the run failed. */
static int
sync_indexes(struct sync_run *r)
{
	bson_error_t	 e;

	if (!mongo_index_each(r->src, r->name, sync_index, r, &e))
		sync_fail(r, "%s: reading the source's indexes: %s", r->name,
		    e.message);
	return r->failed ? -1 : 0;
}

static void
sync_digest_hex(EVP_MD_CTX *ctx, char *hex)
{
	uint8_t		 md[SYNC_HASH];
	unsigned int	 n = 0;

	EVP_DigestFinal_ex(ctx, md, &n);
	for (unsigned int i = 0; i < n; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

/* Say where a resumed walk starts. */
static void
sync_say_resume(struct sync_run *r)
{
	bson_t	 id = BSON_INITIALIZER;
	char	*json;

	BSON_APPEND_VALUE(&id, "_id", &r->last);
	json = bson_as_relaxed_extended_json(&id, NULL);
	progress_phase(r->progress, "resuming from the checkpoint after %lld "
	    "documents, at %s", (long long)r->c.source, json);
	bson_free(json);
	bson_destroy(&id);
}

/* Sync (or compare) one collection; the outcome is in r. */
static void
sync_collection(struct sync_run *r)
{
	bool	 writes = !r->opts->dry_run && !r->opts->verify_only;

	r->coll = mongoc_client_get_collection(r->dst->client,
	    r->dst->db_name, r->name);
	bson_init(&r->gone);
	memset(r->slot, 0xff, sizeof(r->slot));
	for (int i = 0; i < 2 && r->opts->verify_only; i++) {
		r->sha[i] = EVP_MD_CTX_new();
		EVP_DigestInit_ex(r->sha[i], EVP_sha256(), NULL);
	}
	sync_state_resume(r);
	if (r->resumed)
		sync_say_resume(r);
	if ((!writes || sync_create(r) == 0) && sync_walk(r) == 0 &&
	    writes && sync_indexes(r) == 0)
		(void)sync_state_put(r, "complete");
	else if (r->failed)
		(void)sync_state_put(r, "failed");
	for (int i = 0; i < 2 && r->opts->verify_only; i++) {
		sync_digest_hex(r->sha[i], r->digest[i]);
		EVP_MD_CTX_free(r->sha[i]);
	}
	sync_batch_clear(r);
	bson_destroy(&r->gone);
	if (r->have_last)
		bson_value_destroy(&r->last);
	mongoc_collection_destroy(r->coll);
}

/* ------------------------------------------------------------------ */
/* Reports                                                              */
/* ------------------------------------------------------------------ */

static bool
sync_differs(const struct sync_run *r)
{
	return r->c.added + r->c.changed + r->c.gone > 0 ||
	    strcmp(r->digest[0], r->digest[1]) != 0;
}

/* One collection's line of the table; true if it counts as a problem. */
static bool
sync_report_row(const struct sync_run *r, FILE *out)
{
	const char	*status;
	bool		 bad = r->failed;

	if (strcmp(r->plan, "sync") != 0) {
		fprintf(out, "%-28s %-6s %9s %9s %9s %9s %9s  skipped (%s)\n",
		    r->name, r->plan, "-", "-", "-", "-", "-", r->why);
		return false;
	}
	if (r->opts->verify_only) {
		bad = bad || sync_differs(r);
		fprintf(out, "%-28s %9lld %9lld  %.16s %.16s  %s\n", r->name,
		    (long long)r->c.source, (long long)r->c.target,
		    r->digest[0], r->digest[1], r->failed ? "FAILED" :
		    bad ? "DIFFERENT" : "equal");
	} else {
		status = r->failed ? "FAILED" : r->opts->dry_run ?
		    "would sync" : "complete";
		fprintf(out, "%-28s %-6s %9lld %9lld %9lld %9lld %9lld  %s",
		    r->name, r->plan, (long long)r->c.source,
		    (long long)r->c.same, (long long)r->c.added,
		    (long long)r->c.changed, (long long)r->c.gone, status);
		if (r->c.deleted > 0)
			fprintf(out, " (%lld deleted)",
			    (long long)r->c.deleted);
		else if (r->c.gone > 0 && !r->opts->dry_run)
			fprintf(out, " (target-only kept: no --delete)");
		if (r->resumed)
			fprintf(out, " (resumed)");
		fputc('\n', out);
	}
	if (r->failed)
		fprintf(out, "    error: %s\n", r->err);
	if (r->ndiffs > 0 && (r->opts->verify_only || r->opts->dry_run)) {
		fprintf(out, "    first differing _ids:");
		for (size_t i = 0; i < r->ndiffs; i++)
			fprintf(out, " %s", r->diffs[i]);
		fputc('\n', out);
	}
	return bad;
}

static void
sync_report_head(const struct sync_opts *o, FILE *out)
{
	if (o->verify_only)
		fprintf(out, "\n%-28s %9s %9s  %-16s %-16s  %s\n", "collection",
		    "source", "target", "source sha256", "target sha256",
		    "status");
	else
		fprintf(out, "\n%-28s %-6s %9s %9s %9s %9s %9s  %s\n",
		    "collection", "plan", "source", "same", "new", "changed",
		    "gone", "status");
}

/* ------------------------------------------------------------------ */
/* The job                                                              */
/* ------------------------------------------------------------------ */

/* Open the source: its database is the URI's, else the target's name. */
static int
sync_open_source(struct mongo *src, const struct silo_config *config,
    const char *from)
{
	struct silo_config	 c = *config;
	mongoc_uri_t		*uri;
	bson_error_t		 e;
	char			 err[512], shown[512];
	const char		*db;
	int			 rc;

	config_mask_uri(from, shown, sizeof(shown));
	if ((uri = mongoc_uri_new_with_error(from, &e)) == NULL) {
		fprintf(stderr, "silo sync: %s: not a MongoDB connection "
		    "string\n", shown);
		return -1;
	}
	db = mongoc_uri_get_database(uri);
	c.mongo_uri = (char *)from;
	c.mongo_db = db != NULL && *db != '\0' ? (char *)db :
	    config->mongo_db;
	rc = mongo_open_job(src, &c, err, sizeof(err));
	mongoc_uri_destroy(uri);
	if (rc == -1)
		fprintf(stderr, "silo sync: %s: %s\n", shown, err);
	return rc;
}

/* A collection's document count from collStats (metadata on both
 * servers; FerretDB's estimatedDocumentCount is a scan); 0 if the server
 * cannot say. */
static uint64_t
sync_estimate(struct mongo *m, const char *name)
{
	bson_t		 stats;
	bson_error_t	 e;
	int64_t		 n;

	if (mongo_storage_stats(m, name, &stats, &e) != MONGO_STATS_OK)
		return 0;
	n = mongo_get_int64(&stats, "count", 0);
	bson_destroy(&stats);
	return n > 0 ? (uint64_t)n : 0;
}

static enum import_plan
sync_plan(const struct sync_opts *o, const char *name, const char **why)
{
	return import_plan_of(name, o->all, o->include, o->ninclude,
	    o->exclude, o->nexclude, why);
}

/*
 * Start the progress: one step per collection the plan syncs, measured
 * in documents, each step's size the source's estimated count, so that
 * the job's share is real.  est[i] is names[i]'s estimate (0 if skipped).
 */
static void
sync_progress_init(const struct sync_opts *o, struct mongo *src,
    char **names, size_t n, uint64_t *est, struct progress *progress)
{
	uint64_t	 total = 0;
	size_t		 steps = 0;
	const char	*why;

	for (size_t i = 0; i < n; i++) {
		est[i] = 0;
		if (sync_plan(o, names[i], &why) != PLAN_IMPORT)
			continue;
		est[i] = sync_estimate(src, names[i]);
		total += est[i];
		steps++;
	}
	progress_init(progress, stderr, total, steps);
}

/* Run each source collection through its plan; the number of problems. */
static int
sync_all(const struct sync_opts *o, struct mongo *src, struct mongo *dst,
    char **names, size_t n, struct progress *progress)
{
	uint64_t	*est = calloc(n + 1, sizeof(*est));
	int		 bad = 0;

	if (est == NULL) {
		fprintf(stderr, "silo sync: out of memory\n");
		return 1;
	}
	sync_progress_init(o, src, names, n, est, progress);
	sync_report_head(o, stdout);
	for (size_t i = 0; i < n; i++) {
		struct sync_run	*r = calloc(1, sizeof(*r));
		enum import_plan plan;

		if (r == NULL) {
			fprintf(stderr, "silo sync: out of memory\n");
			bad++;
			break;
		}
		r->opts = o;
		r->src = src;
		r->dst = dst;
		r->name = names[i];
		r->progress = progress;
		plan = sync_plan(o, names[i], &r->why);
		r->plan = plan == PLAN_IMPORT ? "sync" : plan == PLAN_SKIP ?
		    "skip" : "archive";
		if (plan == PLAN_IMPORT) {
			progress_step(progress, names[i], est[i]);
			sync_collection(r);
			progress_step_done(progress, (uint64_t)r->c.source);
		}
		if (sync_report_row(r, stdout))
			bad++;
		fflush(stdout);
		for (size_t k = 0; k < r->ndiffs; k++)
			bson_free(r->diffs[k]);
		free(r);
	}
	free(est);
	return bad;
}

static bool
sync_has_name(char **names, const char *name)
{
	for (size_t k = 0; names[k] != NULL; k++)
		if (strcmp(names[k], name) == 0)
			return true;
	return false;
}

/*
 * Report the target's collections the source does not have: sync never
 * drops one, but says so, and --verify-only counts one that the plan
 * would sync and that holds documents as a difference.  The number of
 * problems.
 */
static int
sync_target_only(const struct sync_opts *o, struct mongo *dst, char **src,
    char **dst_names)
{
	int		 bad = 0;
	const char	*why;

	for (size_t i = 0; dst_names[i] != NULL; i++) {
		const char	*name = dst_names[i];
		enum import_plan plan;
		bool		 planned;
		uint64_t	 n;

		if (sync_has_name(src, name))
			continue;
		plan = sync_plan(o, name, &why);
		planned = plan == PLAN_IMPORT;
		n = sync_estimate(dst, name);
		if (o->verify_only) {
			fprintf(stdout, "%-28s %9d %9llu  %-16s %-16s  %s "
			    "(only in the target%s%s)\n", name, 0,
			    (unsigned long long)n, "-", "-",
			    planned && n > 0 ? "DIFFERENT" : planned ?
			    "equal" : "skipped", planned ? "" : ": ",
			    planned ? "" : why);
			bad += planned && n > 0;
		} else
			fprintf(stdout, "%-28s %-6s %9s %9s %9s %9s %9llu  "
			    "only in the target, kept\n", name, planned ?
			    "sync" : plan == PLAN_SKIP ? "skip" : "archive",
			    "0", "-", "-", "-",
			    (unsigned long long)n);
	}
	fflush(stdout);
	return bad;
}

/* The target-only collections' rows; the number of problems. */
static int
sync_report_target(const struct sync_opts *o, struct mongo *dst,
    char **names)
{
	bson_error_t	 e;
	char		**dst_names;
	int		 bad;

	if ((dst_names = mongo_collection_names(dst, &e)) == NULL) {
		fprintf(stderr, "silo sync: listing the target's collections: "
		    "%s\n", e.message);
		return 1;
	}
	bad = sync_target_only(o, dst, names, dst_names);
	bson_strfreev(dst_names);
	return bad;
}

/* --include/--exclude must name collections of the source: -1 if not. */
static int
sync_check_names(const struct sync_opts *o, char **names)
{
	int	 rc = 0;

	for (size_t i = 0; i < o->ninclude + o->nexclude; i++) {
		const char *name = i < o->ninclude ? o->include[i] :
		    o->exclude[i - o->ninclude];
		bool	 found = false;

		for (size_t k = 0; names[k] != NULL && !found; k++)
			found = strcmp(names[k], name) == 0;
		if (!found) {
			fprintf(stderr, "silo sync: %s: no collection '%s' at "
			    "the source\n", i < o->ninclude ? "--include" :
			    "--exclude", name);
			rc = -1;
		}
	}
	return rc;
}

int
sync_main(const struct silo_config *config, const struct sync_opts *o)
{
	struct mongo	 src, dst;
	struct progress	 progress;
	bson_error_t	 e;
	char		 err[512], shown[512];
	char		**names = NULL;
	size_t		 n = 0;
	int		 rc = 1;

	mongoc_init();
	mongo_log_init();
	config_mask_uri(config->sync_from, shown, sizeof(shown));
	if (sync_open_source(&src, config, config->sync_from) == -1) {
		mongoc_cleanup();
		return 1;
	}
	if (mongo_open_job(&dst, config, err, sizeof(err)) == -1) {
		fprintf(stderr, "silo sync: %s\n", err);
		mongo_close(&src);
		mongoc_cleanup();
		return 1;
	}
	fprintf(stderr, "silo sync: %s (database %s) into %s%s\n", shown,
	    src.db_name, dst.db_name, o->verify_only ? ", verifying only" :
	    o->dry_run ? ", writing nothing (--dry-run)" : "");
	if ((names = mongo_collection_names(&src, &e)) == NULL)
		fprintf(stderr, "silo sync: %s: listing the collections: %s\n",
		    shown, e.message);
	else if (sync_check_names(o, names) == -1)
		rc = 2;
	else {
		while (names[n] != NULL)
			n++;
		rc = sync_all(o, &src, &dst, names, n, &progress) > 0 ? 1 : 0;
		rc = sync_report_target(o, &dst, names) > 0 ? 1 : rc;
	}
	bson_strfreev(names);
	mongo_close(&dst);
	mongo_close(&src);
	mongoc_cleanup();
	return rc;
}
