/*
 * restore.c: `silo backup verify` and `silo backup restore`.
 *
 * Both stream a stored backup back into the database, with no temp file
 * and memory bounded by one insert batch and one sealed chunk:
 *
 *   GET (spaces.c) -> meter (SHA-256 and size of the stored bytes)
 *     -> seal.c's reader (every GCM tag; when sealed) -> gzip.c's reader
 *     -> archive.c's reader (what mongorestore checks)
 *     -> unordered bulk inserts of raw BSON into the target database
 *
 * A document goes from the archive into the insert as the bytes that
 * were dumped (bson_init_static), never through JSON.  Each namespace
 * is created first with the options its prelude carries (capped and so
 * on), and gets its indexes once its documents are in: one createIndexes
 * per index, because FerretDB fails on several at once when some exist
 * (docs/ferretdb.md), and without the "ns" field, which FerretDB refuses.
 *
 * verify restores every namespace of the backup into a scratch database
 * on the same server, one per database of the backup
 * (silo_verify_<suffix of the id>_<n>), reads each collection back and
 * compares its document count and content hash (backup_content_add(),
 * the manifest's definition) with the record; then the stored bytes'
 * SHA-256 and size.  The scratch databases are dropped whatever
 * happened, and the outcome goes into the record's `verification`
 * (docs/backup-format.md, section 4).
 *
 * restore writes AC's collections of the backup (or those --collection
 * names) into --to-db, or into AC's own database with
 * --i-mean-production only.  It first prints what it will do, and
 * refuses a target collection that holds documents unless --drop.
 *
 * SIGTERM or SIGINT stops either between two documents; verify still
 * drops its scratch databases and records the failure.
 *
 * When a stage fails (a GCM tag, the gzip trailer, the archive), the
 * meter (meter.c, draining) reads the object to its end so that its
 * SHA-256 can still be compared: a damaged object is named as such
 * ("sha256 ...") along with the first stage that noticed.
 */
#include "config.h"

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "extern.h"

#define	RESTORE_RECORDS_DB	"silo"		/* where the records are */
#define	RESTORE_RECORDS		"backups"	/* one document per run */
#define	RESTORE_SCRATCH		"silo_verify_"	/* verify's databases */
#define	RESTORE_BATCH_DOCS	1000		/* documents per insert */
#define	RESTORE_BATCH_BYTES	(8u << 20)	/* bytes per insert */

/* The signal that asks verify or restore to stop, 0 while none came. */
static volatile sig_atomic_t restore_signal;

/* One namespace of the backup, and what became of it. */
struct restore_ns {
	const struct archive_ns *src;	/* the prelude's entry */
	bool		 wanted;	/* restored (not skipped) */
	char		 db[128];	/* the target database */
	mongoc_collection_t *coll;	/* the target collection, or NULL */
	int64_t		 docs;		/* documents read */
	uint8_t		 content[32];	/* their content hash, read */
};

/* A verify or restore. */
struct restore {
	const struct silo_config *config; /* settings */
	const struct restore_opts *opts; /* the command line */
	struct mongo	 mongo;		/* the job's client */
	struct spaces	 s3;		/* the Spaces client */
	bool		 mongo_open;	/* mongo needs closing */
	bool		 s3_open;	/* s3 needs closing */
	bson_t		 rec;		/* the backup's record */
	bool		 have_rec;	/* rec needs destroying */
	const char	*id;		/* the record's _id */
	uint8_t		 key[SEAL_KEY_LEN]; /* the sealing key */
	bool		 sealed;	/* the object is sealed */
	char		 scratch[64];	/* verify: RESTORE_SCRATCH<suffix>_ */
	char		 dbs[8][128];	/* verify: the scratch dbs made */
	size_t		 ndbs;		/* how many */
	struct restore_ns *ns;		/* per namespace of the prelude */
	size_t		 nns;		/* how many */
	EVP_MD_CTX	*doc_sha;	/* hashes each document */
	mongoc_bulk_operation_t *bulk;	/* the open insert batch */
	size_t		 bulk_ns;	/* its namespace */
	size_t		 bulk_docs;	/* its documents */
	size_t		 bulk_bytes;	/* their bytes */
	struct meter	 meter;		/* the stored bytes, draining */
	int64_t		 docs;		/* documents restored, in all */
	size_t		 colls;		/* collections restored */
	char		 err[2048];	/* why it failed */
};

/* ------------------------------------------------------------------ */
/* Writing into the target                                             */
/* ------------------------------------------------------------------ */

/* Sends the open batch; 0, or -1 with err. */
static int
restore_flush(struct restore *r, char *err, size_t errsz)
{
	bson_error_t	 e;
	bson_t		 reply;
	bool		 ok;

	if (r->bulk == NULL)
		return 0;
	ok = mongoc_bulk_operation_execute(r->bulk, &reply, &e) != 0;
	bson_destroy(&reply);
	mongoc_bulk_operation_destroy(r->bulk);
	r->bulk = NULL;
	if (!ok) {
		snprintf(err, errsz, "inserting into %s.%s: %s",
		    r->ns[r->bulk_ns].db, r->ns[r->bulk_ns].src->collection,
		    e.message);
		return -1;
	}
	return 0;
}

/* Creates namespace i's target with its options; 0, or -1 with err. */
static int
restore_create(struct restore *r, size_t i, char *err, size_t errsz)
{
	struct restore_ns	*n = &r->ns[i];
	mongoc_database_t	*db;
	bson_error_t		 e;
	bson_t			 empty = BSON_INITIALIZER;

	db = mongoc_client_get_database(r->mongo.client, n->db);
	n->coll = mongoc_database_create_collection(db, n->src->collection,
	    n->src->options != NULL ? n->src->options : &empty, &e);
	mongoc_database_destroy(db);
	if (n->coll == NULL) {
		snprintf(err, errsz, "creating %s.%s: %s", n->db,
		    n->src->collection, e.message);
		return -1;
	}
	return 0;
}

/* Creates namespace i's indexes, one command each; 0, or -1 with err. */
static int
restore_indexes(struct restore *r, size_t i, char *err, size_t errsz)
{
	struct restore_ns	*n = &r->ns[i];
	bson_iter_t		 it;
	bson_t			 spec, cmd, arr, one;
	const uint8_t		*data;
	uint32_t		 len;
	bson_error_t		 e;
	const char		*name;
	bool			 ok;

	if (n->src->indexes == NULL || !bson_iter_init(&it, n->src->indexes))
		return 0;
	while (bson_iter_next(&it)) {
		if (!BSON_ITER_HOLDS_DOCUMENT(&it))
			continue;
		bson_iter_document(&it, &len, &data);
		if (!bson_init_static(&spec, data, len))
			continue;
		name = mongo_get_utf8(&spec, "name");
		if (name == NULL || strcmp(name, "_id_") == 0)
			continue;
		bson_init(&one);
		bson_copy_to_excluding_noinit(&spec, &one, "ns", "v", NULL);
		bson_init(&cmd);
		BSON_APPEND_UTF8(&cmd, "createIndexes", n->src->collection);
		BSON_APPEND_ARRAY_BEGIN(&cmd, "indexes", &arr);
		BSON_APPEND_DOCUMENT(&arr, "0", &one);
		bson_append_array_end(&cmd, &arr);
		ok = mongoc_collection_write_command_with_opts(n->coll, &cmd,
		    NULL, NULL, &e);
		bson_destroy(&cmd);
		bson_destroy(&one);
		if (!ok) {
			snprintf(err, errsz, "%s.%s: creating index %s: %s",
			    n->db, n->src->collection, name, e.message);
			return -1;
		}
	}
	return 0;
}

/* Reads namespace i's target back: its count and content hash. */
static int
restore_read_back(struct restore *r, size_t i, int64_t *count,
    uint8_t sum[32], char *err, size_t errsz)
{
	struct restore_ns	*n = &r->ns[i];
	mongoc_cursor_t		*cur;
	const bson_t		*doc;
	bson_t			 filter = BSON_INITIALIZER;
	bson_error_t		 e;
	int			 rc = 0;

	*count = 0;
	memset(sum, 0, 32);
	cur = mongoc_collection_find_with_opts(n->coll, &filter, NULL, NULL);
	while (rc == 0 && mongoc_cursor_next(cur, &doc)) {
		(*count)++;
		if (backup_content_add(r->doc_sha, sum, bson_get_data(doc),
		    doc->len) != 0) {
			snprintf(err, errsz, "sha256 failed");
			rc = -1;
		}
	}
	if (rc == 0 && mongoc_cursor_error(cur, &e)) {
		snprintf(err, errsz, "reading %s.%s back: %s", n->db,
		    n->src->collection, e.message);
		rc = -1;
	}
	mongoc_cursor_destroy(cur);
	return rc;
}

/* The record's entry for db.name in collections[], or false. */
static bool
restore_manifest_entry(const bson_t *rec, const char *db, const char *name,
    int64_t *count, const char **hash)
{
	bson_iter_t	 it, sub;
	bson_t		 entry;
	const uint8_t	*data;
	uint32_t	 len;
	const char	*d, *c;

	if (!bson_iter_init_find(&it, rec, "collections") ||
	    !BSON_ITER_HOLDS_ARRAY(&it) || !bson_iter_recurse(&it, &sub))
		return false;
	while (bson_iter_next(&sub)) {
		if (!BSON_ITER_HOLDS_DOCUMENT(&sub))
			continue;
		bson_iter_document(&sub, &len, &data);
		if (!bson_init_static(&entry, data, len))
			continue;
		d = mongo_get_utf8(&entry, "db");
		c = mongo_get_utf8(&entry, "name");
		if (d == NULL || c == NULL || strcmp(d, db) != 0 ||
		    strcmp(c, name) != 0)
			continue;
		*count = mongo_get_int64(&entry, "count", -1);
		*hash = mongo_get_utf8(&entry, "content_hash");
		return *hash != NULL;
	}
	return false;
}

/* verify: namespace i against the manifest, as read and as stored. */
static int
restore_compare(struct restore *r, size_t i, char *err, size_t errsz)
{
	struct restore_ns	*n = &r->ns[i];
	const char		*db = n->src->db, *name = n->src->collection;
	const char		*want_hash;
	char			 hex[65], back_hex[65];
	int64_t			 want, back;
	uint8_t			 sum[32];

	if (!restore_manifest_entry(&r->rec, db, name, &want, &want_hash)) {
		snprintf(err, errsz, "collection %s.%s is in the archive but "
		    "not in the manifest", db, name);
		return -1;
	}
	if (restore_read_back(r, i, &back, sum, err, errsz) != 0)
		return -1;
	hex_lower(n->content, 32, hex);
	hex_lower(sum, 32, back_hex);
	if (n->docs != want || back != want) {
		snprintf(err, errsz, "collection %s.%s: count differs: the "
		    "manifest says %" PRId64 ", the archive holds %" PRId64
		    ", the scratch database %" PRId64, db, name, want, n->docs,
		    back);
		return -1;
	}
	if (strcmp(hex, want_hash) != 0 || strcmp(back_hex, want_hash) != 0) {
		snprintf(err, errsz, "collection %s.%s: content hash differs: "
		    "the manifest says %s, the archive gives %s, the scratch "
		    "database %s", db, name, want_hash, hex, back_hex);
		return -1;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* The archive reader's callbacks                                      */
/* ------------------------------------------------------------------ */

/* Drops database name (gone already is fine); 0, or -1 with err. */
static int
restore_drop_db(struct restore *r, const char *name, char *err,
    size_t errsz)
{
	mongoc_database_t	*db;
	bson_error_t		 e;
	int			 rc = 0;

	db = mongoc_client_get_database(r->mongo.client, name);
	if (!mongoc_database_drop_with_opts(db, NULL, &e) && e.code != 26) {
		snprintf(err, errsz, "dropping %s: %s", name, e.message);
		rc = -1;
	}
	mongoc_database_destroy(db);
	return rc;
}

/* The scratch database for source database db into out, made empty the
 * first time; 0, or -1 with err. */
static int
restore_scratch_db(struct restore *r, const char *db, char *out,
    size_t outsz, char *err, size_t errsz)
{
	size_t	 i;

	for (i = 0; i < r->ndbs; i++)
		if (strcmp(r->dbs[i], db) == 0)
			break;
	snprintf(out, outsz, "%s%zu", r->scratch, i);
	if (i < r->ndbs)
		return 0;
	if (r->ndbs == sizeof(r->dbs) / sizeof(r->dbs[0])) {
		snprintf(err, errsz, "more than %zu databases in the backup",
		    r->ndbs);
		return -1;
	}
	snprintf(r->dbs[r->ndbs++], sizeof(r->dbs[0]), "%s", db);
	return restore_drop_db(r, out, err, errsz);
}

/* Is collection name one --collection asked for (all when none)? */
static bool
restore_named(const struct restore_opts *o, const char *name)
{
	size_t	 i;

	if (o->ncollections == 0)
		return true;
	for (i = 0; i < o->ncollections; i++)
		if (strcmp(o->collections[i], name) == 0)
			return true;
	return false;
}

static int
restore_on_prelude(void *arg, const struct archive_ns *ns, size_t n,
    char *err, size_t errsz)
{
	struct restore	*r = arg;
	size_t		 i;

	if (n > 0 && (r->ns = calloc(n, sizeof(*r->ns))) == NULL) {
		snprintf(err, errsz, "out of memory");
		return -1;
	}
	r->nns = n;
	for (i = 0; i < n; i++) {
		r->ns[i].src = &ns[i];
		if (r->opts->verify) {
			r->ns[i].wanted = true;
			if (restore_scratch_db(r, ns[i].db, r->ns[i].db,
			    sizeof(r->ns[i].db), err, errsz) != 0)
				return -1;
		} else {
			r->ns[i].wanted = strcmp(ns[i].db,
			    r->mongo.db_name) == 0 &&
			    restore_named(r->opts, ns[i].collection);
			snprintf(r->ns[i].db, sizeof(r->ns[i].db), "%s",
			    r->opts->to_db);
		}
		if (r->ns[i].wanted && restore_create(r, i, err, errsz) != 0)
			return -1;
	}
	return 0;
}

static int
restore_on_doc(void *arg, size_t i, const uint8_t *bson, size_t len,
    char *err, size_t errsz)
{
	struct restore		*r = arg;
	struct restore_ns	*n = &r->ns[i];
	bson_t			 doc, *opts;
	bson_error_t		 e;
	bool			 ok;

	if (restore_signal != 0) {
		snprintf(err, errsz, "stopped by %s", restore_signal ==
		    SIGTERM ? "SIGTERM" : "SIGINT");
		return -1;
	}
	if (!n->wanted)
		return 0;
	if (backup_content_add(r->doc_sha, n->content, bson, len) != 0) {
		snprintf(err, errsz, "sha256 failed");
		return -1;
	}
	n->docs++;
	if (r->bulk != NULL && (r->bulk_ns != i ||
	    r->bulk_docs >= RESTORE_BATCH_DOCS ||
	    r->bulk_bytes + len > RESTORE_BATCH_BYTES) &&
	    restore_flush(r, err, errsz) != 0)
		return -1;
	if (r->bulk == NULL) {
		opts = BCON_NEW("ordered", BCON_BOOL(false));
		r->bulk = mongoc_collection_create_bulk_operation_with_opts(
		    n->coll, opts);
		bson_destroy(opts);
		r->bulk_ns = i;
		r->bulk_docs = 0;
		r->bulk_bytes = 0;
	}
	if (!bson_init_static(&doc, bson, len)) {
		snprintf(err, errsz, "%s.%s: document %" PRId64 " is not "
		    "BSON", n->src->db, n->src->collection, n->docs);
		return -1;
	}
	/* the dumped bytes as they are: keys with dots or dollars too */
	opts = BCON_NEW("validate", BCON_BOOL(false));
	ok = mongoc_bulk_operation_insert_with_opts(r->bulk, &doc, opts, &e);
	bson_destroy(opts);
	if (!ok) {
		snprintf(err, errsz, "%s.%s: %s", n->src->db,
		    n->src->collection, e.message);
		return -1;
	}
	r->bulk_docs++;
	r->bulk_bytes += len;
	r->docs++;
	return 0;
}

static int
restore_on_ns_end(void *arg, size_t i, char *err, size_t errsz)
{
	struct restore	*r = arg;

	if (!r->ns[i].wanted)
		return 0;
	if ((r->bulk != NULL && r->bulk_ns == i &&
	    restore_flush(r, err, errsz) != 0) ||
	    restore_indexes(r, i, err, errsz) != 0)
		return -1;
	r->colls++;
	if (r->opts->verify)
		return restore_compare(r, i, err, errsz);
	printf("  %s: %" PRId64 " documents restored\n",
	    r->ns[i].src->collection, r->ns[i].docs);
	fflush(stdout);
	return 0;
}

static int
restore_on_finish(void *arg, char *err, size_t errsz)
{
	return restore_flush(arg, err, errsz);
}

/* ------------------------------------------------------------------ */
/* The stream                                                          */
/* ------------------------------------------------------------------ */

/* GET -> meter -> [seal] -> gunzip -> archive -> the target; 0, or -1
 * with r->err. */
static int
restore_stream(struct restore *r)
{
	struct archive_reader_cb cb = { restore_on_prelude, restore_on_doc,
				    restore_on_ns_end, restore_on_finish, r };
	struct archive_reader	*reader = NULL;
	struct gzip		*gz = NULL;
	struct seal		*open = NULL;
	struct sink		 in;
	const char		*bucket = mongo_get_utf8(&r->rec, "bucket");
	const char		*okey = mongo_get_utf8(&r->rec, "key");
	int			 rc = -1;

	if (bucket == NULL || okey == NULL ||
	    mongo_get_utf8(&r->rec, "sha256") == NULL) {
		snprintf(r->err, sizeof(r->err), "the record lacks its "
		    "bucket, key or sha256");
		return -1;
	}
	if ((r->doc_sha = EVP_MD_CTX_new()) == NULL ||
	    (reader = archive_reader_new(&cb)) == NULL ||
	    (gz = gzip_open_new(archive_reader_sink(reader))) == NULL ||
	    (r->sealed && (open = seal_open_new(r->key, gzip_sink(gz))) ==
	    NULL) || meter_init(&r->meter, open != NULL ? seal_sink(open) :
	    gzip_sink(gz), true) == -1) {
		snprintf(r->err, sizeof(r->err), "out of memory");
		goto done;
	}
	in = meter_sink(&r->meter);
	if (spaces_get_stream(&r->s3, bucket, okey, &in) == -1) {
		snprintf(r->err, sizeof(r->err), "s3://%s/%s: %s", bucket,
		    okey, r->s3.err);
		in.abort(in.ctx);
		goto done;
	}
	in.finish(in.ctx, r->err, sizeof(r->err));
	if (meter_check(&r->meter, &r->rec, r->err, sizeof(r->err)) == 0)
		rc = 0;
done:
	if (r->bulk != NULL) {
		mongoc_bulk_operation_destroy(r->bulk);
		r->bulk = NULL;
	}
	seal_free(open);
	gzip_free(gz);
	for (size_t i = 0; i < r->nns; i++)
		if (r->ns[i].coll != NULL)
			mongoc_collection_destroy(r->ns[i].coll);
	free(r->ns);
	r->ns = NULL;
	r->nns = 0;
	archive_reader_free(reader);
	return rc;
}

/* ------------------------------------------------------------------ */
/* verify                                                              */
/* ------------------------------------------------------------------ */

/* Drops every scratch database verify may have made. */
static void
restore_drop_scratch(struct restore *r)
{
	char	 name[128], err[512];
	size_t	 i;

	for (i = 0; i < r->ndbs; i++) {
		snprintf(name, sizeof(name), "%s%zu", r->scratch, i);
		if (restore_drop_db(r, name, err, sizeof(err)) != 0)
			log_err("backup: verify: %s", err);
	}
}

/* Records the outcome in the backup's record. */
static void
restore_record(struct restore *r, bool ok, int64_t started_ms)
{
	mongoc_collection_t	*c;
	bson_t			*filter, *update, v;
	bson_error_t		 e;
	int64_t			 now = clock_real_ms();

	filter = BCON_NEW("_id", BCON_UTF8(r->id));
	bson_init(&v);
	BSON_APPEND_DATE_TIME(&v, "at", now);
	BSON_APPEND_BOOL(&v, "ok", ok);
	if (ok)
		BSON_APPEND_NULL(&v, "error");
	else
		BSON_APPEND_UTF8(&v, "error", r->err);
	BSON_APPEND_INT64(&v, "duration_ms", now - started_ms);
	update = BCON_NEW("$set", "{", "verification", BCON_DOCUMENT(&v),
	    "}");
	c = mongoc_client_get_collection(r->mongo.client, RESTORE_RECORDS_DB,
	    RESTORE_RECORDS);
	if (!mongoc_collection_update_one(c, filter, update, NULL, NULL, &e))
		log_err("backup: verify: recording the outcome: %s",
		    e.message);
	mongoc_collection_destroy(c);
	bson_destroy(filter);
	bson_destroy(update);
	bson_destroy(&v);
}

/* The scratch databases' prefix: RESTORE_SCRATCH, the id's suffix. */
static void
restore_scratch_name(struct restore *r)
{
	const char	*dash = strrchr(r->id, '-');
	const char	*suffix = dash != NULL ? dash + 1 : r->id;
	size_t		 i, n = 0;
	char		 clean[17];

	for (i = 0; suffix[i] != '\0' && n < sizeof(clean) - 1; i++)
		if ((suffix[i] >= '0' && suffix[i] <= '9') ||
		    (suffix[i] >= 'a' && suffix[i] <= 'z'))
			clean[n++] = suffix[i];
	clean[n] = '\0';
	snprintf(r->scratch, sizeof(r->scratch), "%s%s_", RESTORE_SCRATCH,
	    clean);
}

static int
restore_verify(struct restore *r)
{
	int64_t	 t0 = clock_real_ms();
	int	 rc;

	restore_scratch_name(r);
	rc = restore_stream(r);
	restore_drop_scratch(r);
	restore_record(r, rc == 0, t0);
	if (rc != 0) {
		log_err("backup: verify %s failed: %s", r->id, r->err);
		return 1;
	}
	printf("ok: %s verified: sha256, %s, %zu collections and %" PRId64
	    " documents restored and compared in %.1f s\n", r->id,
	    r->sealed ? "every GCM tag" : "size", r->colls, r->docs,
	    (double)(clock_real_ms() - t0) / 1000.0);
	return 0;
}

/* ------------------------------------------------------------------ */
/* restore                                                             */
/* ------------------------------------------------------------------ */

/* Called per collection restore takes, with the record's count. */
typedef int (*restore_plan_cb)(struct restore *, const char *name,
    int64_t count, void *arg);

/* Calls cb per collection of AC's database in the record that restore
 * takes (all, or those --collection names); 0, or cb's -1. */
static int
restore_each_planned(struct restore *r, restore_plan_cb cb, void *arg)
{
	bson_iter_t	 it, sub;
	bson_t		 entry;
	const uint8_t	*data;
	uint32_t	 len;
	const char	*db, *name;

	if (!bson_iter_init_find(&it, &r->rec, "collections") ||
	    !BSON_ITER_HOLDS_ARRAY(&it) || !bson_iter_recurse(&it, &sub))
		return 0;
	while (bson_iter_next(&sub)) {
		if (!BSON_ITER_HOLDS_DOCUMENT(&sub))
			continue;
		bson_iter_document(&sub, &len, &data);
		if (!bson_init_static(&entry, data, len))
			continue;
		db = mongo_get_utf8(&entry, "db");
		name = mongo_get_utf8(&entry, "name");
		if (db == NULL || name == NULL ||
		    strcmp(db, r->mongo.db_name) != 0 ||
		    !restore_named(r->opts, name))
			continue;
		if (cb(r, name, mongo_get_int64(&entry, "count", -1), arg) !=
		    0)
			return -1;
	}
	return 0;
}

/* What restore does to the target: how many the plan refuses. */
struct restore_plan {
	size_t		 refused;	/* non-empty targets without --drop */
	size_t		 found;		/* collections of the plan */
};

/* Does the target collection name exist, with how many documents (-1:
 * it does not)?  0, or -1 with err. */
static int
restore_target(struct restore *r, const char *name, int64_t *have,
    char *err, size_t errsz)
{
	mongoc_database_t	*db;
	mongoc_collection_t	*c;
	bson_t			 empty = BSON_INITIALIZER;
	bson_error_t		 e = { 0 };
	bool			 exists;

	db = mongoc_client_get_database(r->mongo.client, r->opts->to_db);
	exists = mongoc_database_has_collection(db, name, &e);
	mongoc_database_destroy(db);
	*have = -1;
	if (!exists && e.code != 0) {
		snprintf(err, errsz, "%s.%s: %s", r->opts->to_db, name,
		    e.message);
		return -1;
	}
	if (!exists)
		return 0;
	c = mongoc_client_get_collection(r->mongo.client, r->opts->to_db,
	    name);
	*have = mongoc_collection_count_documents(c, &empty, NULL, NULL,
	    NULL, &e);
	mongoc_collection_destroy(c);
	if (*have < 0) {
		snprintf(err, errsz, "%s.%s: counting: %s", r->opts->to_db,
		    name, e.message);
		return -1;
	}
	return 0;
}

/* Prints one line of the plan. */
static int
restore_plan_line(struct restore *r, const char *name, int64_t count,
    void *arg)
{
	struct restore_plan	*p = arg;
	int64_t			 have;

	if (restore_target(r, name, &have, r->err, sizeof(r->err)) != 0)
		return -1;
	p->found++;
	if (have < 0)
		printf("  %s: %" PRId64 " documents (a new collection)\n",
		    name, count);
	else if (have == 0)
		printf("  %s: %" PRId64 " documents (replaces an empty "
		    "collection)\n", name, count);
	else if (r->opts->drop)
		printf("  %s: %" PRId64 " documents (drops and replaces the "
		    "existing one of %" PRId64 " documents: --drop)\n", name,
		    count, have);
	else {
		printf("  %s: %" PRId64 " documents: REFUSED, the existing "
		    "collection holds %" PRId64 " documents (--drop replaces "
		    "it)\n", name, count, have);
		p->refused++;
	}
	return 0;
}

/* Drops a target collection that the plan replaces. */
static int
restore_plan_drop(struct restore *r, const char *name, int64_t count,
    void *arg)
{
	mongoc_collection_t	*c;
	bson_error_t		 e;
	int64_t			 have;
	int			 rc = 0;

	(void)count;
	(void)arg;
	if (restore_target(r, name, &have, r->err, sizeof(r->err)) != 0)
		return -1;
	if (have < 0)
		return 0;
	c = mongoc_client_get_collection(r->mongo.client, r->opts->to_db,
	    name);
	if (!mongoc_collection_drop_with_opts(c, NULL, &e)) {
		snprintf(r->err, sizeof(r->err), "dropping %s.%s: %s",
		    r->opts->to_db, name, e.message);
		rc = -1;
	}
	mongoc_collection_destroy(c);
	return rc;
}

/* Every --collection names one of the backup's; 0, or -1 with r->err. */
static int
restore_check_names(struct restore *r)
{
	size_t	 i;
	int64_t	 count;
	const char *hash;

	for (i = 0; i < r->opts->ncollections; i++)
		if (!restore_manifest_entry(&r->rec, r->mongo.db_name,
		    r->opts->collections[i], &count, &hash)) {
			snprintf(r->err, sizeof(r->err), "--collection %s: "
			    "the backup has no collection %s.%s",
			    r->opts->collections[i], r->mongo.db_name,
			    r->opts->collections[i]);
			return -1;
		}
	return 0;
}

static int
restore_restore(struct restore *r)
{
	struct restore_plan	 plan = { 0 };
	double			 t0 = clock_ms();

	if (restore_check_names(r) != 0)
		goto fail;
	printf("restore backup %s (s3://%s/%s, of database %s) into "
	    "database %s:\n", r->id, mongo_get_utf8(&r->rec, "bucket"),
	    mongo_get_utf8(&r->rec, "key"), r->mongo.db_name, r->opts->to_db);
	if (restore_each_planned(r, restore_plan_line, &plan) != 0)
		goto fail;
	if (plan.refused > 0) {
		snprintf(r->err, sizeof(r->err), "%zu target collection%s "
		    "hold%s documents: nothing was restored (--drop replaces "
		    "them)", plan.refused, plan.refused == 1 ? "" : "s",
		    plan.refused == 1 ? "s" : "");
		goto fail;
	}
	printf("indexes from the backup; options as each collection had "
	    "them\n");
	fflush(stdout);
	if (restore_each_planned(r, restore_plan_drop, NULL) != 0)
		goto fail;
	if (restore_stream(r) != 0) {
		log_err("backup: restore %s: %s (%s may hold part of the "
		    "backup now: restore again with --drop)", r->id, r->err,
		    r->opts->to_db);
		return 1;
	}
	printf("ok: %zu collections, %" PRId64 " documents restored into %s "
	    "in %.1f s\n", r->colls, r->docs, r->opts->to_db,
	    (clock_ms() - t0) / 1000);
	return 0;
fail:
	log_err("backup: restore %s: %s", r->id, r->err);
	return 1;
}

/* ------------------------------------------------------------------ */
/* Entry                                                               */
/* ------------------------------------------------------------------ */

static void
restore_on_signal(int sig)
{
	restore_signal = sig;
}

/* `silo backup verify ID|latest`, `silo backup restore ID ...`: the
 * exit status. */
int
restore_main(const struct silo_config *config,
    const struct restore_opts *opts, const char *id)
{
	struct restore	*r;
	char		 err[1024];
	int		 rc;

	if ((rc = backup_need_spaces(config)) != 0)
		return rc;
	if ((r = calloc(1, sizeof(*r))) == NULL) {
		log_err("backup: out of memory");
		return 1;
	}
	r->config = config;
	r->opts = opts;
	rc = 1;
	job_catch_stop(restore_on_signal);
	mongo_log_init();
	if (mongo_open_job(&r->mongo, config, err, sizeof(err)) == -1) {
		log_err("backup: %s", err);
		goto done;
	}
	r->mongo_open = true;
	if (!opts->verify && strcmp(opts->to_db, r->mongo.db_name) == 0 &&
	    !opts->production) {
		log_err("backup: restore: %s is AC's own database: restoring "
		    "into it needs --i-mean-production", opts->to_db);
		rc = 2;
		goto done;
	}
	if (backup_find(&r->mongo, id, &r->rec) == -1)
		goto done;
	r->have_rec = true;
	r->id = mongo_get_utf8(&r->rec, "_id");
	r->sealed = mongo_get_utf8(&r->rec, "key_id") != NULL;
	if (r->id == NULL || (r->sealed &&
	    backup_fetch_key(config, &r->rec, r->key) == -1))
		goto done;
	if (spaces_open_config(&r->s3, config, err, sizeof(err)) == -1) {
		log_err("backup: %s", err);
		goto done;
	}
	r->s3_open = true;
	rc = opts->verify ? restore_verify(r) : restore_restore(r);
done:
	if (r->s3_open)
		spaces_close(&r->s3);
	if (r->have_rec)
		bson_destroy(&r->rec);
	if (r->mongo_open)
		mongo_close(&r->mongo);
	meter_free(&r->meter);
	EVP_MD_CTX_free(r->doc_sha);
	OPENSSL_cleanse(r->key, sizeof(r->key));
	free(r);
	return rc;
}
