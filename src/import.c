/*
 * import.c: `silo import DIR`, migration step 2: AC's JSON backup into
 * mongod, exactly, fast, and visibly.
 *
 * The backup is a directory: _manifest.json (manifest.c) and one file per
 * collection, a JSON array or NDJSON of canonical or relaxed Extended JSON
 * (docstream.c sniffs which).  Each collection goes through four stages:
 *
 *   plan     the migration report's drop list is skipped and its small
 *            archive list is copied aside as JSON instead of loaded;
 *            --all, --include and --exclude override that.
 *   load     documents stream from the file (never the whole file in
 *            memory) into unordered bulk inserts of up to 1,000 documents
 *            or 8 MiB.  Every BSON type and every _id is kept as written:
 *            a document without an _id is refused, because the server
 *            would invent one and a re-run could no longer tell it from a
 *            new document.
 *   index    the manifest's indexes, unique ones included, are built after
 *            the data, which is faster and finds every violation at once.
 *   verify   manifest count, documents in the file, documents in the
 *            collection, and the indexes found, side by side.
 *
 * The collection is created explicitly before the load.  A server makes
 * one only on a first insert or index build, so a collection the backup
 * lists with no documents (a mute table nobody used) and no index but
 * _id would otherwise never exist, and the app's first insert would make
 * it without the manifest's unique indexes.  For the same reason a run
 * that finds a collection already imported still creates it and its
 * indexes (a no-op when they are there), and the verification counts a
 * collection the server does not list as a mismatch, never as complete.
 *
 * Safe to run again.  Progress is checkpointed after every batch in the
 * "silo" database (silo.imports, one document per collection), so a run
 * killed part-way resumes at the last acknowledged batch.  A document the
 * server already holds (E11000 on _id) is accepted only when it is
 * byte-for-byte the one in the file and the collection was not empty to
 * begin with; otherwise it is an error naming both.  So a re-run never
 * duplicates, and a backup that repeats an _id is caught.  --drop starts a
 * collection over.
 *
 * Errors stop the collection they occur in, are recorded in its state
 * document, and the run goes on to the next one; the final table says
 * exactly which collections completed, and the exit status is non-zero if
 * any failed or disagrees with its manifest.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "extern.h"

#define	IMPORT_BATCH_DOCS	1000		/* documents per bulk insert */
#define	IMPORT_BATCH_BYTES	(8u << 20)	/* BSON bytes per bulk insert */
#define	IMPORT_STATE_DB		"silo"		/* silo's own database */
#define	IMPORT_STATE_COLL	"imports"	/* state, one per collection */
#define	E_DUPLICATE_KEY		11000		/* server error code */
#define	E_NAMESPACE_NOT_FOUND	26
#define	E_NAMESPACE_EXISTS	48
#define	E_NOT_IMPLEMENTED	238

/* Documents on their way to the server, with where they came from. */
struct batch {
	bson_t		*docs[IMPORT_BATCH_DOCS];	/* parsed documents */
	size_t		 number[IMPORT_BATCH_DOCS];	/* its number in file */
	unsigned long long line[IMPORT_BATCH_DOCS];	/* its first line */
	size_t		 n;		/* documents in the batch */
	size_t		 bytes;		/* their BSON size */
};

/* One collection's import in progress. */
struct import_run {
	const struct import_opts *opts;	/* the command line */
	struct mongo	*mongo;		/* NULL for --dry-run */
	struct manifest_entry *e;	/* the collection */
	mongoc_collection_t *coll;	/* its handle */
	struct progress	*progress;	/* shared progress display */
	int64_t		 resume_from;	/* documents already loaded earlier */
	bool		 dup_ok;	/* identical duplicates are possible */
	int64_t		 inserted;	/* documents inserted now */
	struct batch	 batch;		/* the batch being filled */
	char		 err[1536];	/* the error that stopped it */
};

static void import_fail(struct import_run *, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
import_fail(struct import_run *r, const char *fmt, ...)
{
	va_list	 ap;

	if (r->err[0] != '\0')
		return;		/* the first error is the one that matters */
	va_start(ap, fmt);
	vsnprintf(r->err, sizeof(r->err), fmt, ap);
	va_end(ap);
}

static bool
import_in_list(const char *const *list, const char *name)
{
	for (; *list != NULL; list++)
		if (strcmp(*list, name) == 0)
			return true;
	return false;
}

static bool
import_in_opts(const char *const *names, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(names[i], name) == 0)
			return true;
	return false;
}

/*
 * One collection's plan, and in *why the reason: --exclude, --include and
 * --all override the migration report's drop and archive lists.  Shared
 * with `silo sync`, which plans the same way.
 */
enum import_plan
import_plan_of(const char *name, bool all, const char *const *include,
    size_t ninclude, const char *const *exclude, size_t nexclude,
    const char **why)
{
	if (import_in_opts(exclude, nexclude, name))
		return *why = "--exclude", PLAN_SKIP;
	if (import_in_opts(include, ninclude, name))
		return *why = "--include", PLAN_IMPORT;
	if (all)
		return *why = "--all", PLAN_IMPORT;
	if (import_in_list(ac_drop_list, name))
		return *why = "drop list", PLAN_SKIP;
	if (import_in_list(ac_archive_list, name))
		return *why = "archive list", PLAN_ARCHIVE;
	return *why = "", PLAN_IMPORT;
}

/* Decide each collection's plan; -1 if --include/--exclude name unknowns. */
static int
import_plan(struct manifest *m, const struct import_opts *o)
{
	int	 bad = 0;

	for (size_t i = 0; i < o->ninclude + o->nexclude; i++) {
		const char *name = i < o->ninclude ? o->include[i] :
		    o->exclude[i - o->ninclude];

		if (manifest_find(m, name) == NULL) {
			fprintf(stderr, "silo import: %s: no collection '%s' "
			    "in %s\n", i < o->ninclude ? "--include" :
			    "--exclude", name, m->path);
			bad = -1;
		}
	}
	for (size_t i = 0; i < m->n; i++) {
		struct manifest_entry *e = &m->entries[i];

		e->file_docs = e->db_docs = -1;
		e->plan = import_plan_of(e->name, o->all, o->include,
		    o->ninclude, o->exclude, o->nexclude, &e->why);
	}
	return bad;
}

/* ------------------------------------------------------------------ */
/* State: silo.imports                                                  */
/* ------------------------------------------------------------------ */

static mongoc_collection_t *
import_state_coll(struct import_run *r)
{
	return mongoc_client_get_collection(r->mongo->client, IMPORT_STATE_DB,
	    IMPORT_STATE_COLL);
}

static void
import_state_id(struct import_run *r, char *buf, size_t bufsz)
{
	snprintf(buf, bufsz, "%s.%s", r->mongo->db_name, r->e->name);
}

/* The first document a query delivers, for import_first_doc(). */
struct import_first {
	bson_t	*doc;		/* where to copy it; NULL: only see if any */
	bool	 found;		/* whether the query delivered one */
};

/* mongo_find_each()'s callback: take the first document, and stop. */
static int
import_first_doc(const bson_t *doc, void *arg)
{
	struct import_first	*f = arg;

	if (f->doc != NULL)
		bson_copy_to(doc, f->doc);
	f->found = true;
	return 1;
}

/* Fetch the collection's state document; false if there is none. */
static bool
import_state_get(struct import_run *r, bson_t *out)
{
	struct import_first	 f = { out, false };
	bson_error_t		 e;
	char			 id[512];
	bson_t			*filter;

	import_state_id(r, id, sizeof(id));
	filter = BCON_NEW("_id", BCON_UTF8(id));
	(void)mongo_find_each(r->mongo, IMPORT_STATE_DB, IMPORT_STATE_COLL,
	    filter, NULL, import_first_doc, &f, &e);
	bson_destroy(filter);
	return f.found;
}

/* Record the collection's state; -1 (with the run failed) on error. */
static int
import_state_put(struct import_run *r, const char *status, int64_t docs_done,
    const char *error)
{
	mongoc_collection_t	*c = import_state_coll(r);
	bson_error_t		 e;
	char			 id[512];
	bson_t			*filter, *update, *opts, set;
	bool			 ok;

	import_state_id(r, id, sizeof(id));
	filter = BCON_NEW("_id", BCON_UTF8(id));
	update = bson_new();
	BSON_APPEND_DOCUMENT_BEGIN(update, "$set", &set);
	BSON_APPEND_UTF8(&set, "status", status);
	BSON_APPEND_UTF8(&set, "file", r->e->path);
	BSON_APPEND_INT64(&set, "file_bytes", (int64_t)r->e->bytes);
	BSON_APPEND_INT64(&set, "docs_done", docs_done);
	BSON_APPEND_INT64(&set, "file_docs", r->e->file_docs);
	if (error != NULL)
		BSON_APPEND_UTF8(&set, "error", error);
	else
		BSON_APPEND_NULL(&set, "error");
	BSON_APPEND_DATE_TIME(&set, "updated_at", (int64_t)time(NULL) * 1000);
	bson_append_document_end(update, &set);
	opts = BCON_NEW("upsert", BCON_BOOL(true));
	ok = mongoc_collection_update_one(c, filter, update, opts, NULL, &e);
	bson_destroy(filter);
	bson_destroy(update);
	bson_destroy(opts);
	mongoc_collection_destroy(c);
	if (!ok) {
		import_fail(r, "%s: recording progress in %s.%s: %s",
		    r->e->name, IMPORT_STATE_DB, IMPORT_STATE_COLL, e.message);
		return -1;
	}
	return 0;
}

static void
import_state_delete(struct import_run *r)
{
	mongoc_collection_t	*c = import_state_coll(r);
	char			 id[512];
	bson_t			*filter;

	import_state_id(r, id, sizeof(id));
	filter = BCON_NEW("_id", BCON_UTF8(id));
	mongoc_collection_delete_one(c, filter, NULL, NULL, NULL);
	bson_destroy(filter);
	mongoc_collection_destroy(c);
}

/* ------------------------------------------------------------------ */
/* Load                                                                 */
/* ------------------------------------------------------------------ */

static void
import_batch_clear(struct batch *b)
{
	for (size_t i = 0; i < b->n; i++)
		bson_destroy(b->docs[i]);
	b->n = 0;
	b->bytes = 0;
}

/* The document's _id element alone, as a one-field document. */
static void
import_id_element(const bson_t *doc, bson_t *out)
{
	bson_iter_t	 it;

	bson_init(out);
	if (bson_iter_init_find(&it, doc, "_id"))
		bson_append_iter(out, "_id", 3, &it);
}

static bool
import_same_bytes(const bson_t *a, const bson_t *b)
{
	return a->len == b->len &&
	    memcmp(bson_get_data(a), bson_get_data(b), a->len) == 0;
}

/* What import_batch_check_present() holds the server's documents to. */
struct import_present {
	struct import_run *r;		/* the run, with its batch */
	const size_t	*dup;		/* batch indexes of the duplicates */
	const bson_t	*ids;		/* their _id elements */
	bool		*same;		/* the server holds the same bytes */
	size_t		 n;		/* how many */
};

/* mongo_find_each()'s callback: is this server document one of ours? */
static int
import_present_doc(const bson_t *held, void *arg)
{
	struct import_present	*p = arg;
	bson_t			 held_id;

	import_id_element(held, &held_id);
	for (size_t i = 0; i < p->n; i++)
		if (!p->same[i] && import_same_bytes(&p->ids[i], &held_id))
			p->same[i] = import_same_bytes(held,
			    p->r->batch.docs[p->dup[i]]);
	bson_destroy(&held_id);
	return 0;
}

/*
 * The batch documents at dup[0..n) hit E11000 on _id.  Each is accepted
 * as already present only if the server holds the same bytes under that
 * _id.  One $in query fetches them all: FerretDB answers an _id lookup on
 * a number with a scan, so one lookup per document would be one scan per
 * document.
 */
static int
import_batch_check_present(struct import_run *r, const size_t *dup, size_t n)
{
	bson_t		 filter = BSON_INITIALIZER, in, list;
	bson_t		*ids = calloc(n, sizeof(*ids));
	bool		*same = calloc(n, sizeof(*same));
	struct import_present p = { r, dup, ids, same, n };
	bson_error_t	 e;
	char		 key[24];
	int		 rc = 0;

	if (ids == NULL || same == NULL) {
		free(ids);
		free(same);
		import_fail(r, "%s: out of memory", r->e->name);
		return -1;
	}
	BSON_APPEND_DOCUMENT_BEGIN(&filter, "_id", &in);
	BSON_APPEND_ARRAY_BEGIN(&in, "$in", &list);
	for (size_t i = 0; i < n; i++) {
		bson_iter_t	 it;

		import_id_element(r->batch.docs[dup[i]], &ids[i]);
		snprintf(key, sizeof(key), "%zu", i);
		if (bson_iter_init_find(&it, &ids[i], "_id"))
			bson_append_iter(&list, key, -1, &it);
	}
	bson_append_array_end(&in, &list);
	bson_append_document_end(&filter, &in);
	if (!mongo_find_each(r->mongo, NULL, r->e->name, &filter, NULL,
	    import_present_doc, &p, &e)) {
		import_fail(r, "%s: reading back documents the server "
		    "already has: %s", r->e->name, e.message);
		rc = -1;
	}
	for (size_t i = 0; i < n && rc == 0; i++) {
		char	*idj;

		if (same[i]) {
			r->e->present++;
			continue;
		}
		idj = mongo_id_json(r->batch.docs[dup[i]]);
		import_fail(r, "%s: document %zu (line %llu): %s is already "
		    "in the collection with different content", r->e->path,
		    r->batch.number[dup[i]], r->batch.line[dup[i]], idj);
		bson_free(idj);
		rc = -1;
	}
	bson_destroy(&filter);
	for (size_t i = 0; i < n; i++)
		bson_destroy(&ids[i]);
	free(ids);
	free(same);
	return rc;
}

/*
 * Judge the write errors of a batch.  A duplicate _id is accepted only
 * when identical documents may be expected (a re-run or a resume) and the
 * server's copy is the same; anything else stops the import at the first
 * offending document.
 */
static int
import_batch_write_errors(struct import_run *r, bson_iter_t *errs,
    size_t *nerrors)
{
	size_t		 dup[IMPORT_BATCH_DOCS], ndup = 0;

	*nerrors = 0;
	while (bson_iter_next(errs)) {
		uint32_t	 len;
		const uint8_t	*data;
		bson_t		 werr;
		int64_t		 index, code;
		bson_iter_t	 it;
		const char	*msg = "";
		char		*idj;

		(*nerrors)++;
		bson_iter_document(errs, &len, &data);
		if (!bson_init_static(&werr, data, len))
			continue;
		index = mongo_get_int64(&werr, "index", -1);
		code = mongo_get_int64(&werr, "code", 0);
		if (bson_iter_init_find(&it, &werr, "errmsg") &&
		    BSON_ITER_HOLDS_UTF8(&it))
			msg = bson_iter_utf8(&it, NULL);
		if (index < 0 || (size_t)index >= r->batch.n) {
			import_fail(r, "%s: the server reported a write "
			    "error for no document: %s", r->e->name, msg);
			return -1;
		}
		if (code == E_DUPLICATE_KEY && r->dup_ok) {
			dup[ndup++] = (size_t)index;
			continue;
		}
		idj = mongo_id_json(r->batch.docs[index]);
		if (code == E_DUPLICATE_KEY)
			import_fail(r, "%s: document %zu (line %llu): %s "
			    "repeats the _id of an earlier document in the "
			    "file", r->e->path, r->batch.number[index],
			    r->batch.line[index], idj);
		else
			import_fail(r, "%s: document %zu (line %llu) %s was "
			    "refused: %s", r->e->path, r->batch.number[index],
			    r->batch.line[index], idj, msg);
		bson_free(idj);
		return -1;
	}
	return ndup > 0 ? import_batch_check_present(r, dup, ndup) : 0;
}

/* Insert the batch (unordered) and checkpoint; -1 stops the import. */
static int
import_batch_flush(struct import_run *r, int64_t docs_done)
{
	mongoc_bulk_operation_t	*bulk;
	bson_t			*opts = BCON_NEW("ordered", BCON_BOOL(false));
	bson_t			 reply;
	bson_error_t		 e;
	bson_iter_t		 it, errs;
	int			 rc = 0;

	if (r->batch.n == 0) {
		bson_destroy(opts);
		return 0;
	}
	bulk = mongoc_collection_create_bulk_operation_with_opts(r->coll, opts);
	for (size_t i = 0; i < r->batch.n; i++)
		mongoc_bulk_operation_insert_with_opts(bulk, r->batch.docs[i],
		    NULL, NULL);
	if (!mongoc_bulk_operation_execute(bulk, &reply, &e)) {
		size_t	 nerrors = 0;

		/* Write errors are per document; anything else (a lost
		 * connection, say) comes with an empty writeErrors array. */
		if (bson_iter_init_find(&it, &reply, "writeErrors") &&
		    BSON_ITER_HOLDS_ARRAY(&it) && bson_iter_recurse(&it, &errs))
			rc = import_batch_write_errors(r, &errs, &nerrors);
		if (rc == 0 && nerrors == 0) {
			import_fail(r, "%s: inserting documents %zu to %zu: %s",
			    r->e->name, r->batch.number[0],
			    r->batch.number[r->batch.n - 1], e.message);
			rc = -1;
		}
	}
	r->inserted += (int64_t)mongo_get_int64(&reply, "nInserted", 0);
	bson_destroy(&reply);
	mongoc_bulk_operation_destroy(bulk);
	bson_destroy(opts);
	import_batch_clear(&r->batch);
	if (rc == 0)
		rc = import_state_put(r, "running", docs_done, NULL);
	return rc;
}

/* Parse one document's JSON text; NULL (with the run failed) if invalid. */
static bson_t *
import_parse_document(struct import_run *r, const struct docstream *ds,
    const char *json, size_t len)
{
	bson_error_t	 e;
	bson_t		*doc;
	bson_iter_t	 it;

	if ((doc = bson_new_from_json((const uint8_t *)json, (ssize_t)len,
	    &e)) == NULL) {
		import_fail(r, "%s: document %zu (line %llu, byte %llu): not "
		    "valid Extended JSON: %s", ds->path, ds->index,
		    ds->doc_line, ds->doc_offset, e.message);
		return NULL;
	}
	if (!bson_iter_init_find(&it, doc, "_id")) {
		import_fail(r, "%s: document %zu (line %llu, byte %llu): has "
		    "no _id; the server would make one up and a re-run could "
		    "not recognise it", ds->path, ds->index, ds->doc_line,
		    ds->doc_offset);
		bson_destroy(doc);
		return NULL;
	}
	return doc;
}

/*
 * Read the collection's file to the end: parse every document, and unless
 * this is a dry run insert those after resume_from.  -1 on the first error.
 */
static int
import_stream(struct import_run *r)
{
	struct docstream ds;
	const char	*json;
	size_t		 len;
	int		 got, rc = 0;

	if (docstream_open(&ds, r->e->path) == -1) {
		import_fail(r, "%s", ds.err);
		docstream_close(&ds);
		return -1;
	}
	while ((got = docstream_next(&ds, &json, &len)) == 1) {
		bson_t	*doc;

		progress_update(r->progress, ds.offset, ds.index);
		if ((int64_t)ds.index <= r->resume_from)
			continue;	/* loaded by an earlier run */
		if ((doc = import_parse_document(r, &ds, json, len)) == NULL) {
			rc = -1;
			break;
		}
		if (r->mongo == NULL) {
			bson_destroy(doc);
			continue;
		}
		if (r->batch.n == IMPORT_BATCH_DOCS ||
		    r->batch.bytes + doc->len > IMPORT_BATCH_BYTES) {
			if (import_batch_flush(r, (int64_t)ds.index - 1) ==
			    -1) {
				bson_destroy(doc);
				rc = -1;
				break;
			}
		}
		r->batch.docs[r->batch.n] = doc;
		r->batch.number[r->batch.n] = ds.index;
		r->batch.line[r->batch.n] = ds.doc_line;
		r->batch.n++;
		r->batch.bytes += doc->len;
	}
	if (got == -1) {
		import_fail(r, "%s", ds.err);
		rc = -1;
	}
	if (rc == 0 && r->mongo != NULL)
		rc = import_batch_flush(r, (int64_t)ds.index);
	import_batch_clear(&r->batch);
	if (rc == 0)
		r->e->file_docs = (int64_t)ds.index;
	docstream_close(&ds);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Indexes                                                              */
/* ------------------------------------------------------------------ */

/* The manifest's index spec as BSON. */
static bson_t *
import_index_spec(const cJSON *spec)
{
	char		*json = cJSON_PrintUnformatted(spec);
	bson_t		*out;
	bson_error_t	 e;

	if (json == NULL)
		return NULL;
	out = bson_new_from_json((const uint8_t *)json, -1, &e);
	cJSON_free(json);
	return out;
}

/*
 * A copy of spec without the fields servers refuse back (v, ns), and with
 * essentials_only without every option but key, name, unique and sparse;
 * the options left out are listed in dropped.
 */
static void
import_index_trim(const bson_t *spec, bool essentials_only, bson_t *out,
    char *dropped, size_t droppedsz)
{
	bson_iter_t	 it;

	bson_init(out);
	dropped[0] = '\0';
	if (!bson_iter_init(&it, spec))
		return;
	while (bson_iter_next(&it)) {
		const char	*k = bson_iter_key(&it);

		if (strcmp(k, "v") == 0 || strcmp(k, "ns") == 0)
			continue;
		if (essentials_only && strcmp(k, "key") != 0 &&
		    strcmp(k, "name") != 0 && strcmp(k, "unique") != 0 &&
		    strcmp(k, "sparse") != 0) {
			size_t	 len = strlen(dropped);

			snprintf(dropped + len, droppedsz - len, "%s%s",
			    len ? ", " : "", k);
			continue;
		}
		bson_append_iter(out, k, -1, &it);
	}
}

static const char *
import_index_name(const cJSON *spec)
{
	const cJSON	*name = cJSON_GetObjectItemCaseSensitive(spec, "name");

	return cJSON_IsString(name) ? name->valuestring : NULL;
}

static bool
import_index_is_id(const cJSON *spec)
{
	const cJSON	*key = cJSON_GetObjectItemCaseSensitive(spec, "key");
	const char	*name = import_index_name(spec);

	return (name != NULL && strcmp(name, "_id_") == 0) ||
	    (key != NULL && key->child != NULL && key->child->next == NULL &&
	     strcmp(key->child->string, "_id") == 0);
}

/* An example of the duplicates that broke a unique index, for the error. */
static void
import_unique_example(struct import_run *r, const cJSON *spec, char *buf,
    size_t bufsz)
{
	const cJSON	*key, *f;
	bson_t		 group_id = BSON_INITIALIZER;
	bson_t		*pipeline, first;
	struct import_first ex = { &first, false };
	bson_error_t	 e;
	char		 name[256], ref[260];

	buf[0] = '\0';
	key = cJSON_GetObjectItemCaseSensitive(spec, "key");
	cJSON_ArrayForEach(f, key) {
		size_t	 i;

		snprintf(name, sizeof(name), "%s", f->string);
		for (i = 0; name[i] != '\0'; i++)
			if (name[i] == '.')
				name[i] = '_';
		snprintf(ref, sizeof(ref), "$%s", f->string);
		BSON_APPEND_UTF8(&group_id, name, ref);
	}
	pipeline = BCON_NEW("pipeline", "[",
	    "{", "$group", "{", "_id", BCON_DOCUMENT(&group_id),
		"n", "{", "$sum", BCON_INT32(1), "}", "}", "}",
	    "{", "$match", "{", "n", "{", "$gt", BCON_INT32(1), "}", "}", "}",
	    "{", "$limit", BCON_INT32(1), "}",
	    "]");
	(void)mongo_aggregate_each(r->mongo, r->e->name, pipeline,
	    import_first_doc, &ex, &e);
	if (ex.found) {
		char *json = bson_as_relaxed_extended_json(&first, NULL);

		snprintf(buf, bufsz, "; for example %s", json);
		bson_free(json);
		bson_destroy(&first);
	}
	bson_destroy(pipeline);
	bson_destroy(&group_id);
}

/* One createIndexes for one index: FerretDB fails several at once when
 * some exist (docs/ferretdb.md). */
static bool
import_index_run_create(struct mongo *m, const char *collection,
    const bson_t *spec, bson_error_t *e)
{
	bson_t	 cmd = BSON_INITIALIZER, list, reply;
	bool	 ok;

	BSON_APPEND_UTF8(&cmd, "createIndexes", collection);
	BSON_APPEND_ARRAY_BEGIN(&cmd, "indexes", &list);
	BSON_APPEND_DOCUMENT(&list, "0", spec);
	bson_append_array_end(&cmd, &list);
	ok = mongo_command(m, NULL, &cmd, &reply, e);
	bson_destroy(&reply);
	bson_destroy(&cmd);
	return ok;
}

/*
 * Build one index from its spec (a manifest's, or listIndexes' of another
 * server) on the job's database.  An option the server does not implement
 * (FerretDB lacks TTL and partial indexes) is left out, and named in
 * dropped, rather than failing; dropped is empty if nothing was.  Shared
 * with `silo sync`.
 */
bool
import_index_build(struct mongo *m, const char *collection,
    const bson_t *spec, char *dropped, size_t droppedsz, bson_error_t *e)
{
	bson_t	 trimmed;
	bool	 ok;

	import_index_trim(spec, false, &trimmed, dropped, droppedsz);
	ok = import_index_run_create(m, collection, &trimmed, e);
	bson_destroy(&trimmed);
	if (ok || e->code != E_NOT_IMPLEMENTED)
		return ok;
	import_index_trim(spec, true, &trimmed, dropped, droppedsz);
	ok = dropped[0] != '\0' &&
	    import_index_run_create(m, collection, &trimmed, e);
	bson_destroy(&trimmed);
	if (!ok)
		dropped[0] = '\0';
	return ok;
}

/*
 * Build one manifest index; a unique index the data violates is an error
 * with an example of the duplicates.
 */
static int
import_index_create(struct import_run *r, const cJSON *spec)
{
	const char	*name = import_index_name(spec);
	char		 dropped[256], example[512];
	bson_t		*bspec;
	bson_error_t	 e;
	bool		 ok;

	bspec = import_index_spec(spec);
	if (bspec == NULL || name == NULL) {
		import_fail(r, "%s: index %s: the manifest's spec is not "
		    "usable (it needs a name and a key)", r->e->name,
		    name != NULL ? name : "(unnamed)");
		bson_destroy(bspec);
		return -1;
	}
	ok = import_index_build(r->mongo, r->e->name, bspec, dropped,
	    sizeof(dropped), &e);
	bson_destroy(bspec);
	if (ok && dropped[0] != '\0') {
		char	 note[512];

		snprintf(note, sizeof(note), "index %s built without %s: not "
		    "supported by this server", name, dropped);
		free(r->e->note);
		r->e->note = strdup(note);
	}
	if (ok)
		return 0;
	if (e.code == E_DUPLICATE_KEY || strstr(e.message, "UNIQUE") != NULL ||
	    strstr(e.message, "duplicate key") != NULL) {
		import_unique_example(r, spec, example, sizeof(example));
		import_fail(r, "%s: unique index %s cannot be built: the "
		    "data has duplicate keys%s", r->e->name, name, example);
	} else
		import_fail(r, "%s: index %s: %s", r->e->name, name, e.message);
	return -1;
}

/* The manifest's indexes other than the _id index every collection has. */
static int
import_index_count(const struct manifest_entry *e)
{
	const cJSON	*spec;
	int		 n = 0;

	cJSON_ArrayForEach(spec, e->indexes)
		if (!import_index_is_id(spec))
			n++;
	return n;
}

static int
import_indexes(struct import_run *r)
{
	const cJSON	*spec;
	int		 n = import_index_count(r->e), i = 0;
	double		 t0;

	cJSON_ArrayForEach(spec, r->e->indexes) {
		if (import_index_is_id(spec))
			continue;
		progress_phase(r->progress, "building index %s (%d of %d)",
		    import_index_name(spec) ? import_index_name(spec) : "?",
		    ++i, n);
		t0 = clock_ms();
		if (import_index_create(r, spec) == -1)
			return -1;
		if (clock_ms() - t0 >= 1000)
			progress_phase(r->progress, "index %s built in %.1f s",
			    import_index_name(spec), (clock_ms() - t0) / 1000);
	}
	return 0;
}

/* Same key fields in the same order, with equal directions or types. */
static bool
import_index_key_equal(const cJSON *want, const bson_t *have)
{
	bson_iter_t	 it;
	const cJSON	*f = want->child;

	if (!bson_iter_init(&it, have))
		return false;
	while (bson_iter_next(&it)) {
		if (f == NULL || strcmp(f->string, bson_iter_key(&it)) != 0)
			return false;
		if (cJSON_IsNumber(f) ? !BSON_ITER_HOLDS_NUMBER(&it) ||
		    bson_iter_as_double(&it) != f->valuedouble :
		    !cJSON_IsString(f) || !BSON_ITER_HOLDS_UTF8(&it) ||
		    strcmp(bson_iter_utf8(&it, NULL), f->valuestring) != 0)
			return false;
		f = f->next;
	}
	return f == NULL;
}

/* mongo_index_each()'s callback: count the index if the manifest has it,
 * by name, key and unique. */
static int
import_verify_index(const bson_t *have, void *arg)
{
	struct import_run	*r = arg;
	const char		*name = NULL;
	bool			 unique = false;
	const cJSON		*spec;
	bson_iter_t		 it;
	bson_t			 key;
	uint32_t		 len;
	const uint8_t		*data;

	if (bson_iter_init_find(&it, have, "name") &&
	    BSON_ITER_HOLDS_UTF8(&it))
		name = bson_iter_utf8(&it, NULL);
	if (bson_iter_init_find(&it, have, "unique"))
		unique = bson_iter_as_bool(&it);
	if (name == NULL || !bson_iter_init_find(&it, have, "key") ||
	    !BSON_ITER_HOLDS_DOCUMENT(&it))
		return 0;
	bson_iter_document(&it, &len, &data);
	bson_init_static(&key, data, len);
	cJSON_ArrayForEach(spec, r->e->indexes) {
		const cJSON	*u, *k;

		u = cJSON_GetObjectItemCaseSensitive(spec, "unique");
		k = cJSON_GetObjectItemCaseSensitive(spec, "key");
		if (!import_index_is_id(spec) &&
		    import_index_name(spec) != NULL &&
		    strcmp(import_index_name(spec), name) == 0 &&
		    import_index_key_equal(k, &key) &&
		    cJSON_IsTrue(u) == unique)
			r->e->indexes_ok++;
	}
	return 0;
}

/* Count the manifest's indexes the server now has. */
static void
import_verify_indexes(struct import_run *r)
{
	bson_error_t	 e;

	r->e->indexes_ok = 0;
	(void)mongo_index_each(r->mongo, r->e->name, import_verify_index, r,
	    &e);
}

/* ------------------------------------------------------------------ */
/* One collection                                                       */
/* ------------------------------------------------------------------ */

/* Does the collection hold any document?  (A probe, not a count: an
 * exact count is a scan, on FerretDB a slow one.) */
static int
import_nonempty(struct import_run *r, bson_error_t *e)
{
	bson_t		 empty = BSON_INITIALIZER;
	bson_t		*opts = BCON_NEW("limit", BCON_INT64(1),
			    "projection", "{", "_id", BCON_INT32(1), "}");
	struct import_first f = { NULL, false };
	bool		 ok;

	ok = mongo_find_each(r->mongo, NULL, r->e->name, &empty, opts,
	    import_first_doc, &f, e);
	bson_destroy(opts);
	return !ok ? -1 : f.found ? 1 : 0;
}

/* Create the collection, empty; one that exists already is fine. */
static int
import_create(struct import_run *r)
{
	bson_t		 cmd = BSON_INITIALIZER, reply;
	bson_error_t	 e;
	bool		 ok;

	BSON_APPEND_UTF8(&cmd, "create", r->e->name);
	ok = mongo_command(r->mongo, NULL, &cmd, &reply, &e);
	bson_destroy(&reply);
	bson_destroy(&cmd);
	if (ok || e.code == E_NAMESPACE_EXISTS ||
	    strstr(e.message, "already exists") != NULL)
		return 0;
	import_fail(r, "%s: creating the collection: %s", r->e->name,
	    e.message);
	return -1;
}

/* Does the server list the collection?  (collStats answers a count of 0
 * for a collection FerretDB does not have.) */
static bool
import_exists(struct import_run *r)
{
	mongoc_database_t *db = mongoc_client_get_database(r->mongo->client,
			    r->mongo->db_name);
	bson_error_t	 e;
	bool		 found = mongoc_database_has_collection(db, r->e->name,
			    &e);

	mongoc_database_destroy(db);
	return found;
}

/* Where to start: resume a run that stopped, or see it is already done. */
static int
import_resume_point(struct import_run *r, bool *done)
{
	bson_t		 state, stats;
	bson_error_t	 e;
	bson_iter_t	 it;
	const char	*status = "";
	int		 nonempty;
	bool		 have;

	*done = false;
	if (r->opts->drop) {
		if (!mongoc_collection_drop_with_opts(r->coll, NULL, &e) &&
		    e.code != E_NAMESPACE_NOT_FOUND &&
		    strstr(e.message, "ns not found") == NULL) {
			import_fail(r, "%s: --drop: %s", r->e->name, e.message);
			return -1;
		}
		import_state_delete(r);
	}
	if ((nonempty = import_nonempty(r, &e)) == -1) {
		import_fail(r, "%s: reading the collection: %s", r->e->name,
		    e.message);
		return -1;
	}
	r->dup_ok = nonempty;
	have = import_state_get(r, &state);
	if (have && bson_iter_init_find(&it, &state, "status") &&
	    BSON_ITER_HOLDS_UTF8(&it))
		status = bson_iter_utf8(&it, NULL);
	if (have && mongo_get_int64(&state, "file_bytes", -1) ==
	    (int64_t)r->e->bytes) {
		if (strcmp(status, "complete") != 0)
			r->resume_from = mongo_get_int64(&state,
			    "docs_done", 0);
		else if (mongo_storage_stats(r->mongo, r->e->name, &stats,
		    &e) == MONGO_STATS_OK) {
			/* The metadata count suffices to skip the load; the
			 * verification afterwards counts exactly. */
			*done = mongo_get_int64(&stats, "count", -1) ==
			    mongo_get_int64(&state, "file_docs", -2);
			if (*done)
				r->e->file_docs = mongo_get_int64(&state,
				    "file_docs", -1);
			bson_destroy(&stats);
		}
	}
	if (have)
		bson_destroy(&state);
	return 0;
}

static int
import_load(struct import_run *r)
{
	bool	 done;

	if (import_resume_point(r, &done) == -1 || import_create(r) == -1)
		return -1;
	if (done) {
		r->e->note = strdup("already imported by an earlier run; "
		    "verified");
		progress_update(r->progress, r->e->bytes,
		    (uint64_t)r->e->file_docs);
	} else if (import_state_put(r, "running", r->resume_from, NULL) ==
	    -1 || import_stream(r) == -1)
		return -1;
	return import_indexes(r);
}

/*
 * The collection's document count as the server keeps it (collStats), for
 * the verification.  Not countDocuments: that decodes every document, and
 * on FerretDB it took longer than the whole load (50 s of an 86 s import
 * of AC's backup).  The server's count is exact on FerretDB, and on mongod
 * after a clean shutdown.  -1 if the server will not say.
 */
static int64_t
import_server_count(struct import_run *r)
{
	bson_t		 stats;
	bson_error_t	 e;
	int64_t		 n;

	if (mongo_storage_stats(r->mongo, r->e->name, &stats, &e) !=
	    MONGO_STATS_OK)
		return -1;
	n = mongo_get_int64(&stats, "count", -1);
	bson_destroy(&stats);
	return n;
}

static void
import_collection(struct import_run *r)
{
	struct manifest_entry	*e = r->e;

	r->coll = mongoc_client_get_collection(r->mongo->client,
	    r->mongo->db_name, e->name);
	if (import_load(r) == 0) {
		e->db_docs = import_exists(r) ? import_server_count(r) : -1;
		import_verify_indexes(r);
		e->indexes_want = import_index_count(e);
		import_state_put(r, "complete", e->file_docs, NULL);
		e->result = RESULT_COMPLETE;
	} else {
		if (r->mongo != NULL)
			import_state_put(r, "failed",
			    r->resume_from + r->inserted, r->err);
		e->result = RESULT_FAILED;
		e->error = strdup(r->err);
	}
	mongoc_collection_destroy(r->coll);
}

/* Validate an archive-list collection and copy its file aside. */
static void
import_archive(struct import_run *r, const char *archive_dir)
{
	char	 dest[4096], tmp[4200], buf[65536];
	FILE	*in = NULL, *out = NULL;
	size_t	 n;

	if (import_stream(r) == -1)
		goto fail;
	if (r->opts->dry_run) {
		r->e->result = RESULT_VALID;
		return;
	}
	if (mkdir(archive_dir, 0755) == -1 && errno != EEXIST) {
		import_fail(r, "%s: %s", archive_dir, strerror(errno));
		goto fail;
	}
	snprintf(dest, sizeof(dest), "%s/%s.json", archive_dir, r->e->name);
	snprintf(tmp, sizeof(tmp), "%s.tmp", dest);
	if ((in = fopen(r->e->path, "rb")) == NULL ||
	    (out = fopen(tmp, "wb")) == NULL) {
		import_fail(r, "%s: %s", in == NULL ? r->e->path : tmp,
		    strerror(errno));
		goto fail;
	}
	while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
		if (fwrite(buf, 1, n, out) != n)
			break;
	if (ferror(in) || fflush(out) != 0 || fsync(fileno(out)) != 0 ||
	    fclose(out) != 0) {
		out = NULL;
		import_fail(r, "%s: write error: %s", tmp, strerror(errno));
		unlink(tmp);
		goto fail;
	}
	out = NULL;
	fclose(in);
	in = NULL;
	if (rename(tmp, dest) == -1) {
		import_fail(r, "%s: %s", dest, strerror(errno));
		goto fail;
	}
	free(r->e->note);
	r->e->note = strdup(dest);
	r->e->result = RESULT_ARCHIVED;
	return;
fail:
	if (in != NULL)
		fclose(in);
	if (out != NULL) {
		fclose(out);
		unlink(tmp);
	}
	r->e->result = RESULT_FAILED;
	r->e->error = strdup(r->err);
}

/* ------------------------------------------------------------------ */
/* The verification table                                               */
/* ------------------------------------------------------------------ */

static void
import_count_cell(int64_t n, char *buf, size_t bufsz)
{
	if (n < 0)
		snprintf(buf, bufsz, "-");
	else
		snprintf(buf, bufsz, "%lld", (long long)n);
}

/* Does the collection disagree with its manifest or its file? */
static bool
import_mismatch(const struct manifest_entry *e)
{
	if (e->result == RESULT_FAILED || e->result == RESULT_SKIPPED ||
	    e->result == RESULT_PENDING)
		return false;
	if (e->count >= 0 && e->file_docs >= 0 && e->count != e->file_docs)
		return true;
	if (e->result == RESULT_COMPLETE &&
	    (e->db_docs != e->file_docs || e->indexes_ok != e->indexes_want))
		return true;
	return false;
}

static const char *
import_result_text(const struct manifest_entry *e)
{
	if (import_mismatch(e))
		return "MISMATCH";
	switch (e->result) {
	case RESULT_COMPLETE:	return "complete";
	case RESULT_VALID:	return "valid";
	case RESULT_SKIPPED:	return "skipped";
	case RESULT_ARCHIVED:	return "archived";
	case RESULT_FAILED:	return "FAILED";
	default:		return "not reached";
	}
}

/* Print the table; return the number of collections failed or mismatched. */
static int
import_report(const struct manifest *m, FILE *out)
{
	int	 bad = 0, counts[6] = { 0 };

	fprintf(out, "\n%-28s %-8s %9s %9s %9s %8s  %s\n", "collection", "plan",
	    "manifest", "file", "in db", "indexes", "status");
	for (size_t i = 0; i < m->n; i++) {
		const struct manifest_entry *e = &m->entries[i];
		char	 c1[24], c2[24], c3[24], ix[24];
		const char *plan = e->plan == PLAN_IMPORT ? "import" :
		    e->plan == PLAN_SKIP ? "skip" : "archive";

		import_count_cell(e->count, c1, sizeof(c1));
		import_count_cell(e->file_docs, c2, sizeof(c2));
		import_count_cell(e->result == RESULT_COMPLETE ? e->db_docs :
		    -1, c3, sizeof(c3));
		if (e->result == RESULT_COMPLETE)
			snprintf(ix, sizeof(ix), "%d/%d", e->indexes_ok,
			    e->indexes_want);
		else
			snprintf(ix, sizeof(ix), "-");
		fprintf(out, "%-28s %-8s %9s %9s %9s %8s  %s", e->name, plan,
		    c1, c2, c3, ix, import_result_text(e));
		if (e->result == RESULT_SKIPPED && e->why[0] != '\0')
			fprintf(out, " (%s)", e->why);
		if (e->result == RESULT_ARCHIVED)
			fprintf(out, " to %s", e->note);
		else if (e->note != NULL)
			fprintf(out, " (%s)", e->note);
		if (e->present > 0)
			fprintf(out, " (%lld already present)",
			    (long long)e->present);
		fputc('\n', out);
		if (e->result == RESULT_FAILED)
			fprintf(out, "    error: %s\n", e->error);
		if (e->result == RESULT_FAILED || import_mismatch(e))
			bad++;
		counts[e->result]++;
	}
	fprintf(out, "\n%d complete, %d valid, %d archived, %d skipped, "
	    "%d failed, %d not reached; %d with problems\n",
	    counts[RESULT_COMPLETE], counts[RESULT_VALID],
	    counts[RESULT_ARCHIVED], counts[RESULT_SKIPPED],
	    counts[RESULT_FAILED], counts[RESULT_PENDING], bad);
	return bad;
}

/* ------------------------------------------------------------------ */
/* The job                                                              */
/* ------------------------------------------------------------------ */

int
import_main(const struct silo_config *config, const struct import_opts *o)
{
	struct manifest		 m;
	struct mongo		 mongo;
	struct progress		 progress;
	char			 archive_dir[4096], err[512];
	uint64_t		 total = 0;
	size_t			 steps = 0;
	int			 rc;

	if (manifest_read(&m, o->dir) == -1) {
		fprintf(stderr, "silo import: the backup is not usable:\n"
		    "%s\n", m.err);
		manifest_free(&m);
		return 1;
	}
	if (import_plan(&m, o) == -1) {
		manifest_free(&m);
		return 2;
	}
	snprintf(archive_dir, sizeof(archive_dir), "%s",
	    o->archive_dir != NULL ? o->archive_dir : m.dir);
	if (o->archive_dir == NULL)
		strncat(archive_dir, "/_archive",
		    sizeof(archive_dir) - strlen(archive_dir) - 1);
	for (size_t i = 0; i < m.n; i++)
		if (m.entries[i].plan != PLAN_SKIP) {
			total += m.entries[i].bytes;
			steps++;
		}

	mongoc_init();
	mongo_log_init();
	if (!o->dry_run &&
	    mongo_open_job(&mongo, config, err, sizeof(err)) == -1) {
		fprintf(stderr, "silo import: %s\n", err);
		mongoc_cleanup();
		manifest_free(&m);
		return 1;
	}
	fprintf(stderr, "silo import: %s into %s (%zu collections, %zu to "
	    "read)\n", m.dir, o->dry_run ? "nothing (--dry-run)" :
	    config->mongo_db, m.n, steps);
	progress_init(&progress, stderr, total, steps);
	for (size_t i = 0; i < m.n; i++) {
		struct import_run *r = calloc(1, sizeof(*r));
		struct manifest_entry *e = &m.entries[i];

		if (e->plan == PLAN_SKIP) {
			e->result = RESULT_SKIPPED;
			free(r);
			continue;
		}
		r->opts = o;
		r->mongo = o->dry_run ? NULL : &mongo;
		r->e = e;
		r->progress = &progress;
		progress_step(&progress, e->name, e->bytes);
		if (e->plan == PLAN_ARCHIVE) {
			struct mongo *keep = r->mongo;

			/* archived collections are not loaded */
			r->mongo = NULL;
			import_archive(r, archive_dir);
			r->mongo = keep;
		} else if (o->dry_run) {
			if (import_stream(r) == 0)
				e->result = RESULT_VALID;
			else {
				e->result = RESULT_FAILED;
				e->error = strdup(r->err);
			}
		} else
			import_collection(r);
		progress_step_done(&progress,
		    (uint64_t)(e->file_docs > 0 ? e->file_docs : 0));
		free(r);
	}
	rc = import_report(&m, stdout) > 0 ? 1 : 0;
	if (!o->dry_run)
		mongo_close(&mongo);
	mongoc_cleanup();
	manifest_free(&m);
	return rc;
}
