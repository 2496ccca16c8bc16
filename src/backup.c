/*
 * backup.c: `silo backup keygen|run|fetch`, AC's database to Spaces.
 *
 * The run is one stream, with no temp file and memory bounded by the
 * upload's part size:
 *
 *   cursor (raw BSON) -> archive.c (mongodump's archive format)
 *     -> gzip.c -> seal.c (AES-256-GCM, unless --no-encrypt)
 *     -> meter.c (counts the stored bytes and hashes them, SHA-256)
 *     -> spaces.c's multipart upload
 *
 * Each stage is a struct sink (extern.h) built on the next one's.  A
 * document goes from mongoc_cursor_next() to the archive as the bytes
 * libmongoc received (bson_get_data), never through JSON, so every BSON
 * type survives as it is.  The collections are those of AC's database
 * and of silo's own, minus --exclude (or only --include), each with the
 * options (listCollections) and index specs (listIndexes) it had at dump
 * time, which the archive's prelude carries for mongorestore.
 *
 * The record.  A run inserts its document into silo.backups with status
 * "running" (start time, object key, pid, host; then the UploadId) as
 * soon as the database answers, before anything else can fail, and sets
 * it to "ok" or "failed" at the end, with the manifest: start and end
 * times, plain/compressed/stored bytes, the stored bytes' SHA-256, the
 * key id (a hash prefix; never the key), per-collection document counts,
 * a content hash that does not depend on the documents' order
 * (backup_content_add(), for verify), options and index specs, silo's
 * and the server's versions, and the error.  The same manifest goes
 * beside the backup as <key>.manifest.json.  The record is the truth: a
 * backup is good when its record says "ok".
 *
 * Atomic.  On any failure -- the database, Spaces, a stage, SIGTERM or
 * SIGINT (the handler only sets a flag, checked between documents) --
 * the pipeline is aborted, which aborts the multipart upload, so no
 * object appears; the record says failed, with the error; the exit
 * status is 1.  If the object was completed and what follows fails (the
 * manifest, the record), the object is deleted again.  kill -9 cannot be
 * caught: its upload stays incomplete (an incomplete multipart upload is
 * no object), and the next run, holding the lock, marks every "running"
 * record of this host failed ("stale: the run was killed") and aborts its
 * upload by the UploadId the record kept.  A record of another host is
 * taken as stale after BACKUP_STALE_S.  Then every multipart upload in
 * progress under the prefix is aborted but a live run's of another host,
 * which also catches a run killed between starting its upload and
 * recording it.
 *
 * One run at a time: job.c's flock() on SILO_BACKUP_LOCK, as a refresh;
 * the kernel drops it however the holder dies.  POST /api/backups/run
 * takes it first and hands it over as --lock-fd (job.c's job_start()).
 *
 * Progress: on a terminal, progress.c's bar per collection (its size from
 * collStats, an estimate); elsewhere a plain line per collection and one
 * every BACKUP_PROGRESS_MS, with documents, bytes and MB/s.
 *
 * fetch streams an object back through the reverse stages: GET -> meter
 * -> seal's reader (every chunk's GCM tag checked, truncation detected)
 * -> stdout, as the plain .archive.gz that `mongorestore --archive
 * --gzip` reads.  At the end the stored bytes' SHA-256 and size are
 * compared with the record.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <zlib.h>

#include "extern.h"

#define	BACKUP_STALE_S		(24 * 3600)	/* another host's run */
#define	BACKUP_PROGRESS_MS	5000		/* between progress lines */
#define	BACKUP_BATCH_BYTES	(4 << 20)	/* a cursor batch, about */
#define	BACKUP_BATCH_MAX	10000		/* documents in a batch */
#define	BACKUP_SUFFIX_SEALED	".archive.gz.sealed"
#define	BACKUP_SUFFIX_PLAIN	".archive.gz"
#define	BACKUP_MANIFEST_SUFFIX	".manifest.json" /* < 16 bytes */
#define	BACKUP_KILLED		"stale: the run was killed"

/* The signal that asks the run to stop, 0 while none came. */
static volatile sig_atomic_t backup_signal;

/* One collection of the dump. */
struct backup_coll {
	char		*db;		/* its database */
	char		*name;		/* its name */
	/* Pointers, not members: a heap bson_t points into itself, so one
	 * must not move when the array is grown or sorted. */
	bson_t		*options;	/* listCollections' options */
	bson_t		*indexes;	/* listIndexes' specs, an array */
	char		 uuid[33];	/* hex, or "" if the server has none */
	int64_t		 docs;		/* documents dumped */
	uint64_t	 size;		/* collStats size: for the bar */
	int32_t		 batch;		/* cursor batch size, documents */
	uint64_t	 bytes;		/* their BSON bytes */
	uint8_t		 content[32];	/* see backup_content_add() */
};

/* A whole run. */
struct backup_run {
	const struct silo_config *config; /* settings */
	const struct backup_opts *opts;	/* the command line */
	struct mongo	 mongo;		/* the job's MongoDB client */
	struct spaces	 s3;		/* the Spaces client */
	bool		 mongo_open;	/* mongo needs closing */
	bool		 s3_open;	/* s3 needs closing */
	uint8_t		 key[SEAL_KEY_LEN]; /* the sealing key */
	char		 key_id[SEAL_KEY_ID_LEN + 1]; /* its id, "" unsealed */
	char		 id[64];	/* the backup's id */
	char		 object[SPACES_MAX_KEY]; /* its object key */
	/* its manifest's key */
	char		 manifest[SPACES_MAX_KEY + 16];
	char		 host[256];	/* this machine */
	char		 server_version[64]; /* the database's version */
	struct backup_coll *colls;	/* the collections dumped */
	bool		*seen;		/* each --include named one listed */
	size_t		 ncolls;	/* how many */
	struct spaces_upload *upload;	/* the object being uploaded */
	struct meter	 meter;		/* in front of the upload */
	EVP_MD_CTX	*doc_sha;	/* hashes each document */
	struct seal	*seal;		/* encryption, or NULL */
	struct gzip	*gzip;		/* compression */
	struct archive	*archive;	/* the archive writer */
	bool		 recorded;	/* the running record is in */
	bool		 finished;	/* the object is complete */
	bool		 tty;		/* progress as a bar on a terminal */
	struct progress	 prog;		/* the bar */
	int64_t		 started_ms;	/* wall clock */
	int64_t		 finished_ms;	/* wall clock */
	double		 t0;		/* monotonic start */
	char		 sha256[METER_HEX]; /* of the stored bytes, once done */
	char		 err[2048];	/* why it failed */
};

/*
 * Add a document to a collection's content hash: the sum, modulo 2^256,
 * of the SHA-256 of each document's BSON, each digest read as a
 * big-endian number.  A sum does not depend on the order, so a restored
 * collection, read back in whatever order the server likes, has the same
 * hash exactly when it holds the same documents.  -1 if hashing failed.
 */
int
backup_content_add(EVP_MD_CTX *sha, uint8_t sum[32], const uint8_t *bson,
    size_t len)
{
	unsigned char	 md[EVP_MAX_MD_SIZE];
	unsigned int	 n = 0, carry = 0;

	if (EVP_DigestInit_ex2(sha, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(sha, bson, len) != 1 ||
	    EVP_DigestFinal_ex(sha, md, &n) != 1 || n != 32)
		return -1;
	for (int i = 31; i >= 0; i--) {
		carry += (unsigned int)sum[i] + md[i];
		sum[i] = (uint8_t)carry;
		carry >>= 8;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Signals and the lock                                                */
/* ------------------------------------------------------------------ */

static void
backup_on_signal(int sig)
{
	backup_signal = sig;
}

/* ------------------------------------------------------------------ */
/* Clients and the record                                              */
/* ------------------------------------------------------------------ */

/* The settings every subcommand but keygen needs; 0, or 2 (printed). */
int
backup_need_spaces(const struct silo_config *c)
{
	if (c->backup_bucket != NULL && c->spaces_key != NULL &&
	    c->spaces_secret != NULL)
		return 0;
	log_err("backup: not set:%s%s%s (see silo help backup)",
	    c->backup_bucket == NULL ? " SILO_BACKUP_BUCKET" : "",
	    c->spaces_key == NULL ? " SPACES_KEY" : "",
	    c->spaces_secret == NULL ? " SPACES_SECRET" : "");
	return 2;
}

/* The database server's version (buildInfo; "unknown" if it has none),
 * the run's first contact with the server; 0, or -1 with err. */
static int
backup_server_version(struct backup_run *r)
{
	bson_t		*cmd = BCON_NEW("buildInfo", BCON_INT32(1));
	bson_t		 reply;
	bson_error_t	 e;
	const char	*v;
	int		 rc = 0;

	if (!mongo_command(&r->mongo, "admin", cmd, &reply, &e)) {
		snprintf(r->err, sizeof(r->err), "buildInfo: %s", e.message);
		rc = -1;
	} else
		snprintf(r->server_version, sizeof(r->server_version), "%s",
		    (v = mongo_get_utf8(&reply, "version")) != NULL ? v :
		    "unknown");
	bson_destroy(&reply);
	bson_destroy(cmd);
	return rc;
}

/* Set fields of record id (with status, when status_was is not NULL,
 * still that); false with e set on an error. */
static bool
backup_record_set(struct backup_run *r, const char *id,
    const char *status_was, const bson_t *fields, bson_error_t *e)
{
	mongoc_collection_t	*c = mongoc_client_get_collection(
				    r->mongo.client, BACKUP_DB, BACKUP_RECORDS);
	bson_t			*filter = BCON_NEW("_id", BCON_UTF8(id));
	bson_t			 update = BSON_INITIALIZER;
	bool			 ok;

	if (status_was != NULL)
		BSON_APPEND_UTF8(filter, "status", status_was);
	BSON_APPEND_DOCUMENT(&update, "$set", fields);
	ok = mongoc_collection_update_one(c, filter, &update, NULL, NULL, e);
	bson_destroy(&update);
	bson_destroy(filter);
	mongoc_collection_destroy(c);
	return ok;
}

/* Collect the "running" records into an array. */
static int
backup_collect(const bson_t *doc, void *arg)
{
	bson_t		*all = arg;
	char		 idx[16];
	const char	*key;

	bson_uint32_to_string(bson_count_keys(all), &key, idx, sizeof(idx));
	BSON_APPEND_DOCUMENT(all, key, doc);
	return 0;
}

/* Is the running record rec stale: this host's (the lock is ours, so it
 * is not running), or another host's older than BACKUP_STALE_S? */
static bool
backup_is_stale(const struct backup_run *r, const bson_t *rec)
{
	const char	*host = mongo_get_utf8(rec, "host");
	int64_t		 started = 0;

	if (host != NULL && strcmp(host, r->host) == 0)
		return true;
	started = mongo_get_date(rec, "started_at", 0);
	return clock_real_ms() - started > (int64_t)BACKUP_STALE_S * 1000;
}

/* What backup_abort_upload() needs. */
struct backup_reaping {
	struct backup_run *r;		/* the run */
	const bson_t	*running;	/* the records still "running" */
};

/* Is upload_id that of a running record that is not stale (another
 * host's, recent)? */
static bool
backup_upload_live(const struct backup_reaping *g, const char *upload_id)
{
	bson_iter_t	 it;
	bson_t		 rec;
	const uint8_t	*data;
	uint32_t	 len;
	const char	*id;

	bson_iter_init(&it, g->running);
	while (bson_iter_next(&it)) {
		bson_iter_document(&it, &len, &data);
		if (bson_init_static(&rec, data, len) &&
		    (id = mongo_get_utf8(&rec, "upload_id")) != NULL &&
		    strcmp(id, upload_id) == 0 && !backup_is_stale(g->r, &rec))
			return true;
	}
	return false;
}

/* Abort one upload under the prefix, unless another host's live run
 * feeds it (none of this host's does: the lock is ours). */
static int
backup_abort_upload(const char *key, const char *upload_id, void *arg)
{
	const struct backup_reaping *g = arg;
	struct backup_run	*r = g->r;
	const char		*prefix = r->config->backup_prefix;

	if ((prefix != NULL && strncmp(key, prefix, strlen(prefix)) != 0) ||
	    backup_upload_live(g, upload_id))
		return 0;
	if (spaces_upload_abort_id(&r->s3, r->config->backup_bucket, key,
	    upload_id) == -1)
		log_warn("backup: %s", r->s3.err);
	else
		log_warn("backup: aborted an incomplete upload of %s", key);
	return 0;
}

/*
 * Abort the uploads a dead run left under the prefix, recorded or not (a
 * run killed between starting its upload and recording it).  The bucket's
 * uploads are listed whole and filtered here: MinIO takes the prefix of
 * ListMultipartUploads as one exact key.
 */
static void
backup_reap_uploads(struct backup_run *r, const bson_t *running)
{
	struct backup_reaping	 g = { r, running };

	if (spaces_uploads(&r->s3, r->config->backup_bucket, "",
	    backup_abort_upload, &g) == -1)
		log_warn("backup: %s", r->s3.err);
}

/*
 * Mark the runs that died without a word (kill -9, a crash, a reboot)
 * failed, and abort their uploads.  A failure here is logged, not the
 * run's.
 */
static void
backup_reap(struct backup_run *r)
{
	bson_t		*filter = BCON_NEW("status", BCON_UTF8("running"));
	bson_t		 all = BSON_INITIALIZER, rec;
	bson_error_t	 e;
	bson_iter_t	 it;

	if (!mongo_find_each(&r->mongo, BACKUP_DB, BACKUP_RECORDS, filter,
	    NULL, backup_collect, &all, &e)) {
		/* Not knowing the live runs, abort no upload. */
		log_warn("backup: listing running records: %s", e.message);
		goto done;
	}
	bson_iter_init(&it, &all);
	while (bson_iter_next(&it)) {
		const uint8_t	*data;
		uint32_t	 len;
		const char	*id, *bucket, *key, *upload;
		bson_t		*set;

		bson_iter_document(&it, &len, &data);
		if (!bson_init_static(&rec, data, len) ||
		    (id = mongo_get_utf8(&rec, "_id")) == NULL ||
		    !backup_is_stale(r, &rec))
			continue;
		bucket = mongo_get_utf8(&rec, "bucket");
		key = mongo_get_utf8(&rec, "key");
		upload = mongo_get_utf8(&rec, "upload_id");
		if (bucket != NULL && key != NULL && upload != NULL &&
		    spaces_upload_abort_id(&r->s3, bucket, key, upload) == -1)
			log_warn("backup: %s: %s", id, r->s3.err);
		set = BCON_NEW("status", BCON_UTF8("failed"),
		    "error", BCON_UTF8(BACKUP_KILLED),
		    "finished_at", BCON_DATE_TIME(clock_real_ms()));
		if (backup_record_set(r, id, "running", set, &e))
			log_warn("backup: %s was left running: marked "
			    "failed (%s)", id, BACKUP_KILLED);
		else
			log_warn("backup: marking %s failed: %s", id,
			    e.message);
		bson_destroy(set);
	}
	backup_reap_uploads(r, &all);
done:
	bson_destroy(&all);
	bson_destroy(filter);
}

/* ------------------------------------------------------------------ */
/* The collections                                                     */
/* ------------------------------------------------------------------ */

/* Is db.name named by one of names (as "name" or "db.name")? */
static bool
backup_named(const char *const *names, size_t n, const char *db,
    const char *name)
{
	size_t	 dl = strlen(db);

	for (size_t i = 0; i < n; i++)
		if (strcmp(names[i], name) == 0 ||
		    (strncmp(names[i], db, dl) == 0 && names[i][dl] == '.' &&
		    strcmp(names[i] + dl + 1, name) == 0))
			return true;
	return false;
}

/* Does the command line take db.name? */
static bool
backup_wanted(const struct backup_opts *o, const char *db, const char *name)
{
	if (o->ninclude > 0 && !backup_named(o->include, o->ninclude, db,
	    name))
		return false;
	return !backup_named(o->exclude, o->nexclude, db, name);
}

/* Take one listCollections entry of db, if it is a collection wanted. */
static int
backup_add_coll(struct backup_run *r, const char *db, const bson_t *info)
{
	struct backup_coll	*c, *more;
	const char		*name = mongo_get_utf8(info, "name");
	const char		*type = mongo_get_utf8(info, "type");
	bson_iter_t		 it, sub_it;
	bson_subtype_t		 sub;
	const uint8_t		*bin;
	uint32_t		 len;

	if (name == NULL || strncmp(name, "system.", 7) == 0 ||
	    (type != NULL && strcmp(type, "collection") != 0))
		return 0;
	for (size_t i = 0; i < r->opts->ninclude; i++)
		if (backup_named(&r->opts->include[i], 1, db, name))
			r->seen[i] = true;
	if (!backup_wanted(r->opts, db, name))
		return 0;
	if ((more = realloc(r->colls, (r->ncolls + 1) *
	    sizeof(*more))) == NULL)
		return -1;
	r->colls = more;
	c = &r->colls[r->ncolls++];
	memset(c, 0, sizeof(*c));
	c->db = strdup(db);
	c->name = strdup(name);
	c->indexes = bson_new();
	if (bson_iter_init_find(&it, info, "options") &&
	    BSON_ITER_HOLDS_DOCUMENT(&it)) {
		bson_iter_document(&it, &len, &bin);
		c->options = bson_new_from_data(bin, len);
	}
	if (c->options == NULL)
		c->options = bson_new();
	if (bson_iter_init(&it, info) &&
	    bson_iter_find_descendant(&it, "info.uuid", &sub_it) &&
	    BSON_ITER_HOLDS_BINARY(&sub_it)) {
		bson_iter_binary(&sub_it, &sub, &len, &bin);
		if (sub == BSON_SUBTYPE_UUID && len == 16)
			hex_lower(bin, 16, c->uuid);
	}
	return c->db == NULL || c->name == NULL ? -1 : 0;
}

static int
backup_coll_cmp(const void *a, const void *b)
{
	const struct backup_coll *x = a, *y = b;
	int	 d = strcmp(x->db, y->db);

	return d != 0 ? d : strcmp(x->name, y->name);
}

/* The collections of db (listCollections), as wanted; 0, or -1 with err. */
static int
backup_list_db(struct backup_run *r, const char *db)
{
	mongoc_database_t	*d = mongoc_client_get_database(
				    r->mongo.client, db);
	mongoc_cursor_t		*cur;
	const bson_t		*info;
	bson_error_t		 e;
	int			 rc = 0;

	cur = mongoc_database_find_collections_with_opts(d, NULL);
	while (rc == 0 && mongoc_cursor_next(cur, &info))
		if (backup_add_coll(r, db, info) == -1) {
			snprintf(r->err, sizeof(r->err), "out of memory");
			rc = -1;
		}
	if (rc == 0 && mongoc_cursor_error(cur, &e)) {
		snprintf(r->err, sizeof(r->err), "listCollections %s: %s", db,
		    e.message);
		rc = -1;
	}
	mongoc_cursor_destroy(cur);
	mongoc_database_destroy(d);
	return rc;
}

/* Every --include must name a collection that exists. */
static int
backup_check_includes(struct backup_run *r)
{
	for (size_t i = 0; i < r->opts->ninclude; i++)
		if (!r->seen[i]) {
			snprintf(r->err, sizeof(r->err), "--include %s: no "
			    "such collection in %s or %s",
			    r->opts->include[i], r->config->mongo_db,
			    BACKUP_DB);
			return -1;
		}
	return 0;
}

/*
 * The index specs of c, into c->indexes; 0, or -1 with err.  A spec's
 * "ns" is dropped: FerretDB lists it (as MongoDB did before 4.4), it
 * names the namespace dumped rather than the one restored into, and
 * FerretDB's createIndexes refuses it, so the specs are as MongoDB 4.4+
 * lists them and mongodump archives them.
 */
static int
backup_indexes(struct backup_run *r, struct backup_coll *c)
{
	mongoc_collection_t	*coll = mongoc_client_get_collection(
				    r->mongo.client, c->db, c->name);
	mongoc_cursor_t		*cur;
	const bson_t		*spec;
	bson_error_t		 e;
	int			 rc = 0;

	cur = mongoc_collection_find_indexes_with_opts(coll, NULL);
	while (mongoc_cursor_next(cur, &spec)) {
		bson_t	 clean = BSON_INITIALIZER;

		bson_copy_to_excluding_noinit(spec, &clean, "ns", NULL);
		backup_collect(&clean, c->indexes);
		bson_destroy(&clean);
	}
	if (mongoc_cursor_error(cur, &e)) {
		snprintf(r->err, sizeof(r->err), "listIndexes %s.%s: %s",
		    c->db, c->name, e.message);
		rc = -1;
	}
	mongoc_cursor_destroy(cur);
	mongoc_collection_destroy(coll);
	return rc;
}

/*
 * c's size and batch size from collStats, estimates both.  The size is
 * the progress bar's.  The batch size keeps a cursor batch near
 * BACKUP_BATCH_BYTES: the server's default is 16 MB a batch at most on
 * MongoDB and 101 documents whatever their size on FerretDB, and the
 * driver holds a whole batch, so memory would follow the documents'
 * size.  Without stats, the server's default.
 */
static void
backup_size(struct backup_run *r, struct backup_coll *c)
{
	bson_t		*cmd = BCON_NEW("collStats", BCON_UTF8(c->name));
	bson_t		 reply;
	bson_error_t	 e;
	int64_t		 n = 0, avg = 0;

	if (mongo_command(&r->mongo, c->db, cmd, &reply, &e)) {
		n = mongo_get_int64(&reply, "size", 0);
		avg = mongo_get_int64(&reply, "avgObjSize", 0);
	}
	c->size = n > 0 ? (uint64_t)n : 0;
	c->batch = 0;
	if (avg > 0)
		c->batch = (int32_t)(BACKUP_BATCH_BYTES / avg < 1 ? 1 :
		    BACKUP_BATCH_BYTES / avg > BACKUP_BATCH_MAX ?
		    BACKUP_BATCH_MAX : BACKUP_BATCH_BYTES / avg);
	bson_destroy(&reply);
	bson_destroy(cmd);
}

/* The collections and, for each, its index specs; 0, or -1 with err. */
static int
backup_collections(struct backup_run *r)
{
	if ((r->seen = calloc(r->opts->ninclude + 1,
	    sizeof(*r->seen))) == NULL) {
		snprintf(r->err, sizeof(r->err), "out of memory");
		return -1;
	}
	if (backup_list_db(r, r->config->mongo_db) == -1 ||
	    (strcmp(r->config->mongo_db, BACKUP_DB) != 0 &&
	    backup_list_db(r, BACKUP_DB) == -1) ||
	    backup_check_includes(r) == -1)
		return -1;
	qsort(r->colls, r->ncolls, sizeof(*r->colls), backup_coll_cmp);
	for (size_t i = 0; i < r->ncolls; i++) {
		if (backup_indexes(r, &r->colls[i]) == -1)
			return -1;
		backup_size(r, &r->colls[i]);
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* The manifest                                                        */
/* ------------------------------------------------------------------ */

/* Append doc to out as canonical Extended JSON text, under name. */
static void
backup_append_json(bson_t *out, const char *name, const bson_t *doc)
{
	char	*json = bson_as_canonical_extended_json(doc, NULL);

	BSON_APPEND_UTF8(out, name, json != NULL ? json : "");
	bson_free(json);
}

/*
 * A collection's options and index specs, for the manifest.  A spec's key
 * names fields, dotted ones too ({"atproto.did": 1}), and a field name
 * with a dot is refused in a stored document by FerretDB and older
 * MongoDB, so each goes in as its canonical Extended JSON text, beside
 * the index's name: {options: "{...}", indexes: [{name, spec: "{...}"}]}.
 */
static void
backup_manifest_specs(bson_t *out, const struct backup_coll *c)
{
	bson_t		 list, one, spec;
	bson_iter_t	 it;
	const uint8_t	*data;
	uint32_t	 len;
	const char	*name;

	backup_append_json(out, "options", c->options);
	BSON_APPEND_ARRAY_BEGIN(out, "indexes", &list);
	bson_iter_init(&it, c->indexes);
	while (bson_iter_next(&it)) {
		bson_iter_document(&it, &len, &data);
		if (!bson_init_static(&spec, data, len))
			continue;
		name = mongo_get_utf8(&spec, "name");
		BSON_APPEND_DOCUMENT_BEGIN(&list, bson_iter_key(&it), &one);
		BSON_APPEND_UTF8(&one, "name", name != NULL ? name : "");
		backup_append_json(&one, "spec", &spec);
		bson_append_document_end(&list, &one);
	}
	bson_append_array_end(out, &list);
}

/* The manifest of the run as it stands: the record's fields (status
 * "running" before the end; error NULL unless failed). */
static void
backup_manifest(struct backup_run *r, const char *status, const char *error,
    bson_t *out)
{
	bson_t		 bytes, colls, one;
	uint64_t	 plain = 0, packed = 0;
	char		 idx[16], hex[65];
	const char	*key;

	if (r->gzip != NULL)
		gzip_counts(r->gzip, &plain, &packed);
	bson_init(out);
	BSON_APPEND_UTF8(out, "_id", r->id);
	BSON_APPEND_UTF8(out, "status", status);
	if (error != NULL)
		BSON_APPEND_UTF8(out, "error", error);
	BSON_APPEND_DATE_TIME(out, "started_at", r->started_ms);
	if (r->finished_ms > 0)
		BSON_APPEND_DATE_TIME(out, "finished_at", r->finished_ms);
	BSON_APPEND_UTF8(out, "bucket", r->config->backup_bucket);
	BSON_APPEND_UTF8(out, "key", r->object);
	BSON_APPEND_UTF8(out, "manifest_key", r->manifest);
	BSON_APPEND_UTF8(out, "format", r->opts->no_encrypt ?
	    "mongodump archive, gzip" :
	    "mongodump archive, gzip, sealed (AES-256-GCM)");
	BSON_APPEND_BOOL(out, "encrypted", !r->opts->no_encrypt);
	if (r->opts->no_encrypt)
		BSON_APPEND_NULL(out, "key_id");
	else
		BSON_APPEND_UTF8(out, "key_id", r->key_id);
	BSON_APPEND_DOCUMENT_BEGIN(out, "bytes", &bytes);
	BSON_APPEND_INT64(&bytes, "plain", (int64_t)plain);
	BSON_APPEND_INT64(&bytes, "compressed", (int64_t)packed);
	BSON_APPEND_INT64(&bytes, "stored", (int64_t)r->meter.bytes);
	bson_append_document_end(out, &bytes);
	if (r->sha256[0] != '\0')
		BSON_APPEND_UTF8(out, "sha256", r->sha256);
	BSON_APPEND_ARRAY_BEGIN(out, "collections", &colls);
	for (size_t i = 0; i < r->ncolls; i++) {
		const struct backup_coll *c = &r->colls[i];

		bson_uint32_to_string((uint32_t)i, &key, idx, sizeof(idx));
		BSON_APPEND_DOCUMENT_BEGIN(&colls, key, &one);
		BSON_APPEND_UTF8(&one, "db", c->db);
		BSON_APPEND_UTF8(&one, "name", c->name);
		BSON_APPEND_INT64(&one, "count", c->docs);
		BSON_APPEND_INT64(&one, "bytes", (int64_t)c->bytes);
		hex_lower(c->content, sizeof(c->content), hex);
		BSON_APPEND_UTF8(&one, "content_hash", hex);
		backup_manifest_specs(&one, c);
		bson_append_document_end(&colls, &one);
	}
	bson_append_array_end(out, &colls);
	BSON_APPEND_UTF8(out, "silo_version", PACKAGE_VERSION);
	BSON_APPEND_UTF8(out, "server_version", r->server_version);
	BSON_APPEND_UTF8(out, "host", r->host);
	BSON_APPEND_INT64(out, "pid", (int64_t)getpid());
	if (r->upload != NULL)
		BSON_APPEND_UTF8(out, "upload_id",
		    spaces_upload_id(r->upload));
}

/* Insert the run's record, status running; 0, or -1 with err. */
static int
backup_record_start(struct backup_run *r)
{
	mongoc_collection_t	*c = mongoc_client_get_collection(
				    r->mongo.client, BACKUP_DB, BACKUP_RECORDS);
	bson_t			 doc;
	bson_error_t		 e;
	int			 rc = 0;

	backup_manifest(r, "running", NULL, &doc);
	if (!mongoc_collection_insert_one(c, &doc, NULL, NULL, &e)) {
		snprintf(r->err, sizeof(r->err), "insert into %s.%s: %s",
		    BACKUP_DB, BACKUP_RECORDS, e.message);
		rc = -1;
	} else
		r->recorded = true;
	bson_destroy(&doc);
	mongoc_collection_destroy(c);
	return rc;
}

/* Upload the manifest beside the backup; 0, or -1 with err. */
static int
backup_manifest_put(struct backup_run *r)
{
	bson_t	 doc;
	char	*json;
	size_t	 len;
	int	 rc = 0;

	backup_manifest(r, "ok", NULL, &doc);
	if ((json = bson_as_relaxed_extended_json(&doc, &len)) == NULL) {
		snprintf(r->err, sizeof(r->err), "the manifest is not JSON");
		rc = -1;
	} else if (spaces_put(&r->s3, r->config->backup_bucket, r->manifest,
	    json, len, "application/json") == -1) {
		snprintf(r->err, sizeof(r->err), "%s", r->s3.err);
		rc = -1;
	}
	bson_free(json);
	bson_destroy(&doc);
	return rc;
}

/* The record's end: ok, or failed with r->err; false if not written. */
static bool
backup_record_end(struct backup_run *r, bool ok)
{
	bson_t		 doc;
	bson_error_t	 e;
	bool		 done;

	backup_manifest(r, ok ? "ok" : "failed", ok ? NULL : r->err, &doc);
	done = backup_record_set(r, r->id, "running", &doc, &e);
	if (!done)
		log_err("backup: %s: recording the %s: %s", r->id,
		    ok ? "success" : "failure", e.message);
	bson_destroy(&doc);
	return done;
}

/* ------------------------------------------------------------------ */
/* The dump                                                            */
/* ------------------------------------------------------------------ */

/* Stop because of a signal?  Sets err. */
static bool
backup_stopped(struct backup_run *r)
{
	if (backup_signal == 0)
		return false;
	snprintf(r->err, sizeof(r->err), "stopped by %s",
	    backup_signal == SIGINT ? "SIGINT" : "SIGTERM");
	return true;
}

/*
 * Progress within collection c, started at t0: on a terminal the bar
 * (progress.c), redrawn as it likes; elsewhere a line (documents, bytes,
 * MB/s) at the end and every BACKUP_PROGRESS_MS since *last.
 */
static void
backup_progress(struct backup_run *r, const struct backup_coll *c,
    double t0, double *last, bool done)
{
	double	 now = clock_ms(), secs = (now - t0) / 1000;

	if (r->tty) {
		if (done)
			progress_step_done(&r->prog, (uint64_t)c->docs);
		else
			progress_update(&r->prog, c->bytes, (uint64_t)c->docs);
		return;
	}
	if (!done && now - *last < BACKUP_PROGRESS_MS)
		return;
	*last = now;
	log_info("backup: %s.%s: %s%" PRId64 " documents, %.1f MB, "
	    "%.1f MB/s", c->db, c->name, done ? "" : "... ", c->docs,
	    (double)c->bytes / 1e6,
	    secs > 0 ? (double)c->bytes / 1e6 / secs : 0.0);
}

/* Stream one collection's documents into the archive; 0, or -1 with
 * err. */
static int
backup_dump_coll(struct backup_run *r, struct backup_coll *c)
{
	mongoc_collection_t	*coll = mongoc_client_get_collection(
				    r->mongo.client, c->db, c->name);
	bson_t			 filter = BSON_INITIALIZER;
	bson_t			 opts = BSON_INITIALIZER;
	mongoc_cursor_t		*cur;
	const bson_t		*doc;
	bson_error_t		 e;
	double			 t0 = clock_ms(), last = t0;
	char			 label[256];
	int			 rc = -1;

	if (r->tty) {
		snprintf(label, sizeof(label), "%s.%s", c->db, c->name);
		progress_step(&r->prog, label, c->size);
	}
	if (c->batch > 0)
		BSON_APPEND_INT32(&opts, "batchSize", c->batch);
	cur = mongoc_collection_find_with_opts(coll, &filter, &opts, NULL);
	while (!backup_stopped(r) && mongoc_cursor_next(cur, &doc)) {
		if (archive_doc(r->archive, c->db, c->name,
		    bson_get_data(doc), doc->len, r->err,
		    sizeof(r->err)) == -1)
			goto done;
		if (backup_content_add(r->doc_sha, c->content,
		    bson_get_data(doc), doc->len) == -1) {
			snprintf(r->err, sizeof(r->err), "sha256 failed");
			goto done;
		}
		c->docs++;
		c->bytes += doc->len;
		backup_progress(r, c, t0, &last, false);
	}
	if (backup_signal != 0)
		goto done;
	if (mongoc_cursor_error(cur, &e)) {
		snprintf(r->err, sizeof(r->err), "reading %s.%s: %s", c->db,
		    c->name, e.message);
		goto done;
	}
	if (archive_ns_end(r->archive, c->db, c->name, r->err,
	    sizeof(r->err)) == -1)
		goto done;
	backup_progress(r, c, t0, &last, true);
	rc = 0;
done:
	mongoc_cursor_destroy(cur);
	mongoc_collection_destroy(coll);
	bson_destroy(&filter);
	bson_destroy(&opts);
	return rc;
}

/* Build the stages, from the upload back to the archive; 0, or -1. */
static int
backup_pipeline(struct backup_run *r)
{
	struct sink	 s;

	if ((r->upload = spaces_upload_new(&r->s3, r->config->backup_bucket,
	    r->object, r->config->backup_part_size,
	    "application/octet-stream", r->err, sizeof(r->err))) == NULL)
		return -1;
	if (meter_init(&r->meter, spaces_upload_sink(r->upload), false) ==
	    -1 ||
	    (r->doc_sha = EVP_MD_CTX_new()) == NULL)
		goto oom;
	s = meter_sink(&r->meter);
	if (!r->opts->no_encrypt) {
		if ((r->seal = seal_new(r->key, s)) == NULL)
			goto oom;
		s = seal_sink(r->seal);
	}
	if ((r->gzip = gzip_new(s, Z_DEFAULT_COMPRESSION)) == NULL ||
	    (r->archive = archive_new(gzip_sink(r->gzip), r->server_version,
	    "silo " PACKAGE_VERSION)) == NULL)
		goto oom;
	return 0;
oom:
	snprintf(r->err, sizeof(r->err), "out of memory");
	return -1;
}

/* The prelude, every collection and the end; 0, or -1 with err (the
 * pipeline then still to be aborted). */
static int
backup_dump(struct backup_run *r)
{
	struct archive_ns	*ns;
	int			 rc;

	if ((ns = calloc(r->ncolls + 1, sizeof(*ns))) == NULL) {
		snprintf(r->err, sizeof(r->err), "out of memory");
		return -1;
	}
	for (size_t i = 0; i < r->ncolls; i++) {
		ns[i].db = r->colls[i].db;
		ns[i].collection = r->colls[i].name;
		ns[i].options = r->colls[i].options;
		ns[i].indexes = r->colls[i].indexes;
		ns[i].uuid = r->colls[i].uuid[0] != '\0' ?
		    r->colls[i].uuid : NULL;
	}
	rc = archive_prelude(r->archive, ns, r->ncolls, r->err,
	    sizeof(r->err));
	free(ns);
	if (r->tty) {
		uint64_t	 total = 0;

		for (size_t i = 0; i < r->ncolls; i++)
			total += r->colls[i].size;
		progress_init(&r->prog, stderr, total, r->ncolls);
	}
	for (size_t i = 0; rc == 0 && i < r->ncolls; i++)
		rc = backup_dump_coll(r, &r->colls[i]);
	if (rc == 0 && backup_stopped(r))
		rc = -1;
	return rc;
}

/* A new backup's id and keys: 2026-12-01T021500Z-<8 hex>. */
static int
backup_name(struct backup_run *r)
{
	char		 when[CLOCK_ISO_MAX], *o = r->id, rnd[9];
	uint8_t		 raw[4];
	const char	*p = r->config->backup_prefix;

	if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw)) {
		snprintf(r->err, sizeof(r->err), "getrandom: %s",
		    strerror(errno));
		return -1;
	}
	hex_lower(raw, sizeof(raw), rnd);
	clock_iso(r->started_ms, CLOCK_ISO_S, when, sizeof(when));
	for (const char *w = when; *w != '\0'; w++)
		if (*w != ':')
			*o++ = *w;
	snprintf(o, sizeof(r->id) - (size_t)(o - r->id), "-%s", rnd);
	snprintf(r->object, sizeof(r->object), "%s%s%s", p != NULL ? p : "",
	    r->id, r->opts->no_encrypt ? BACKUP_SUFFIX_PLAIN :
	    BACKUP_SUFFIX_SEALED);
	snprintf(r->manifest, sizeof(r->manifest), "%s%s", r->object,
	    BACKUP_MANIFEST_SUFFIX);
	return 0;
}

/* Delete a completed object again (what follows it failed). */
static void
backup_unpublish(struct backup_run *r)
{
	if (spaces_delete(&r->s3, r->config->backup_bucket, r->object) == -1)
		log_err("backup: deleting %s again: %s", r->object, r->s3.err);
	if (spaces_delete(&r->s3, r->config->backup_bucket,
	    r->manifest) == -1 && r->s3.status != 404)
		log_warn("backup: deleting %s again: %s", r->manifest,
		    r->s3.err);
}

/* The summary line. */
static void
backup_summary(const struct backup_run *r, bool ok)
{
	double		 secs = (clock_ms() - r->t0) / 1000;
	uint64_t	 plain = 0, packed = 0;
	int64_t		 docs = 0;

	if (r->gzip != NULL)
		gzip_counts(r->gzip, &plain, &packed);
	for (size_t i = 0; i < r->ncolls; i++)
		docs += r->colls[i].docs;
	if (r->tty && !ok)
		fputc('\n', stderr);	/* end the bar's line */
	if (ok)
		log_info("backup: %s: ok: %zu collections, %" PRId64
		    " documents, %" PRIu64 " bytes plain, %" PRIu64
		    " compressed, %" PRIu64 " stored, %.1f s, %.1f MB/s; "
		    "s3://%s/%s", r->id, r->ncolls, docs, plain, packed,
		    r->meter.bytes, secs, secs > 0 ? plain / 1e6 / secs : 0.0,
		    r->config->backup_bucket, r->object);
	else
		log_err("backup: %s: FAILED: %s", r->id[0] != '\0' ? r->id :
		    "(not started)", r->err);
}

/* Dump and upload, with the record started; true when all of it is
 * stored, recorded and described. */
static bool
backup_stream(struct backup_run *r)
{
	if (backup_dump(r) == -1)
		return false;
	if (archive_finish(r->archive, r->err, sizeof(r->err)) == -1)
		return false;
	r->finished = true;
	meter_hex(&r->meter, r->sha256);
	r->finished_ms = clock_real_ms();
	if (backup_manifest_put(r) == -1 || !backup_record_end(r, true)) {
		if (r->err[0] == '\0')
			snprintf(r->err, sizeof(r->err),
			    "the record could not be written");
		backup_unpublish(r);
		return false;
	}
	return true;
}

/* Reap the dead runs, name and record this one, list what it dumps and
 * build the stages; 0, or -1 with err. */
static int
backup_start(struct backup_run *r)
{
	bson_t		*set;
	bson_error_t	 e;
	int		 rc = 0;

	backup_reap(r);
	if (backup_name(r) == -1 || backup_record_start(r) == -1 ||
	    backup_collections(r) == -1 || backup_pipeline(r) == -1)
		return -1;
	/* The upload's id, for the run after a kill -9 to abort it. */
	set = BCON_NEW("upload_id", BCON_UTF8(spaces_upload_id(r->upload)));
	if (!backup_record_set(r, r->id, "running", set, &e)) {
		snprintf(r->err, sizeof(r->err), "update %s.%s: %s",
		    BACKUP_DB, BACKUP_RECORDS, e.message);
		rc = -1;
	}
	bson_destroy(set);
	return rc;
}

/* Open both clients; 0, or -1 with err. */
static int
backup_open(struct backup_run *r)
{
	if (spaces_open_config(&r->s3, r->config, r->err,
	    sizeof(r->err)) == -1)
		return -1;
	r->s3_open = true;
	if (mongo_open_job(&r->mongo, r->config, r->err,
	    sizeof(r->err)) == -1)
		return -1;
	r->mongo_open = true;
	return 0;
}

/* Everything after the lock; the exit status. */
static int
backup_go(struct backup_run *r)
{
	bool	 ok = false;

	r->started_ms = clock_real_ms();
	r->t0 = clock_ms();
	r->tty = isatty(STDERR_FILENO);
	if (gethostname(r->host, sizeof(r->host)) == -1)
		snprintf(r->host, sizeof(r->host), "unknown");
	if (backup_open(r) == -1) {
		log_err("backup: %s", r->err);
		return 1;
	}
	if (backup_server_version(r) == 0 && backup_start(r) == 0)
		ok = backup_stream(r);
	if (!ok && r->archive != NULL && !r->finished)
		archive_abort(r->archive);
	else if (!ok && r->upload != NULL && r->archive == NULL) {
		struct sink	 up = spaces_upload_sink(r->upload);

		up.abort(up.ctx);
	}
	if (!ok && r->recorded) {
		r->finished_ms = clock_real_ms();
		backup_record_end(r, false);
	}
	backup_summary(r, ok);
	return ok ? 0 : 1;
}

static void
backup_run_free(struct backup_run *r)
{
	archive_free(r->archive);
	gzip_free(r->gzip);
	seal_free(r->seal);
	spaces_upload_free(r->upload);
	meter_free(&r->meter);
	EVP_MD_CTX_free(r->doc_sha);
	for (size_t i = 0; i < r->ncolls; i++) {
		free(r->colls[i].db);
		free(r->colls[i].name);
		if (r->colls[i].options != NULL)
			bson_destroy(r->colls[i].options);
		if (r->colls[i].indexes != NULL)
			bson_destroy(r->colls[i].indexes);
	}
	free(r->colls);
	free(r->seen);
	if (r->mongo_open)
		mongo_close(&r->mongo);
	if (r->s3_open)
		spaces_close(&r->s3);
	OPENSSL_cleanse(r->key, sizeof(r->key));
}

/* `silo backup run`: the exit status. */
int
backup_run_main(const struct silo_config *config,
    const struct backup_opts *o)
{
	struct backup_run	*r;
	char			 holder[256], err[512];
	int			 fd, rc;

	if ((rc = backup_need_spaces(config)) != 0)
		return rc;
	if ((r = calloc(1, sizeof(*r))) == NULL) {
		log_err("backup: out of memory");
		return 1;
	}
	r->config = config;
	r->opts = o;
	if (!o->no_encrypt) {
		if (seal_key_load(config->backup_key, r->key, err,
		    sizeof(err)) == -1) {
			log_err("backup: SILO_BACKUP_KEY: %s (make one with "
			    "`silo backup keygen`, or back up unencrypted "
			    "with --no-encrypt)", err);
			free(r);
			return 2;
		}
		seal_key_id(r->key, r->key_id);
	}
	switch (job_lock(config->backup_lock, o->lock_fd, &fd, holder,
	    sizeof(holder))) {
	case 1:
		log_err("backup: a backup is already running (%s; lock %s)",
		    holder[0] != '\0' ? holder : "starting",
		    config->backup_lock);
		OPENSSL_cleanse(r->key, sizeof(r->key));
		free(r);
		return BACKUP_EXIT_BUSY;
	case -1:
		log_err("backup: cannot take the lock: %s", holder);
		OPENSSL_cleanse(r->key, sizeof(r->key));
		free(r);
		return 1;
	}
	job_catch_stop(backup_on_signal);
	mongo_log_init();
	rc = backup_go(r);
	backup_run_free(r);
	free(r);
	/* fd stays open until exit, as storage.c's: no second run starts
	 * while this one winds down. */
	return rc;
}

/* ------------------------------------------------------------------ */
/* fetch                                                               */
/* ------------------------------------------------------------------ */

static int
backup_stdout_write(void *ctx, const void *buf, size_t len, char *err,
    size_t errsz)
{
	const char	*p = buf;

	(void)ctx;
	while (len > 0) {
		ssize_t	 n = write(STDOUT_FILENO, p, len);

		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(err, errsz, "writing the standard output: %s",
			    n == 0 ? "nothing written" : strerror(errno));
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int
backup_stdout_finish(void *ctx, char *err, size_t errsz)
{
	(void)ctx;
	if (fsync(STDOUT_FILENO) == -1 && errno != EINVAL &&
	    errno != EROFS) {
		snprintf(err, errsz, "the standard output: %s",
		    strerror(errno));
		return -1;
	}
	return 0;
}

static void
backup_stdout_abort(void *ctx)
{
	(void)ctx;
}

/* The record of backup id ("latest": the newest ok); 0, or -1 (said). */
int
backup_find(struct mongo *m, const char *id, bson_t *rec)
{
	bson_t		*filter, *opts;
	bson_error_t	 e;
	bool		 found;
	const char	*status;

	if (strcmp(id, "latest") == 0) {
		filter = BCON_NEW("status", BCON_UTF8("ok"));
		opts = BCON_NEW("sort", "{", "finished_at", BCON_INT32(-1),
		    "}", "limit", BCON_INT64(1));
	} else {
		filter = BCON_NEW("_id", BCON_UTF8(id));
		opts = bson_new();
	}
	found = mongo_find_one(m, BACKUP_DB, BACKUP_RECORDS, filter, opts, rec,
	    &e);
	bson_destroy(filter);
	bson_destroy(opts);
	if (!found) {
		if (e.code != 0)
			log_err("backup: reading %s.%s: %s", BACKUP_DB,
			    BACKUP_RECORDS, e.message);
		else
			log_err("backup: %s", strcmp(id, "latest") == 0 ?
			    "no good backup yet" : "no such backup");
		return -1;
	}
	if ((status = mongo_get_utf8(rec, "status")) == NULL ||
	    strcmp(status, "ok") != 0) {
		log_err("backup: %s is %s, not a good backup", id,
		    status != NULL ? status : "of no status");
		bson_destroy(rec);
		return -1;
	}
	return 0;
}

/* Check the key against the record's key id; 0, or -1 (said). */
int
backup_fetch_key(const struct silo_config *c, const bson_t *rec,
    uint8_t key[SEAL_KEY_LEN])
{
	const char	*want = mongo_get_utf8(rec, "key_id");
	char		 have[SEAL_KEY_ID_LEN + 1], err[512];

	if (seal_key_load(c->backup_key, key, err, sizeof(err)) == -1) {
		log_err("backup: SILO_BACKUP_KEY: %s", err);
		return -1;
	}
	seal_key_id(key, have);
	if (want != NULL && strcmp(want, have) != 0) {
		log_err("backup: wrong key: the backup was sealed with key "
		    "id %s, and %s is key id %s", want, c->backup_key, have);
		return -1;
	}
	return 0;
}

/* Stream the record's object to stdout through the reverse stages; the
 * exit status. */
static int
backup_fetch_stream(const struct silo_config *c, struct spaces *s3,
    const bson_t *rec, const uint8_t *key)
{
	struct sink		 out = { backup_stdout_write,
				    backup_stdout_finish,
				    backup_stdout_abort, NULL };
	struct meter		 m = { 0 };
	struct seal		*open = NULL;
	struct sink		 in;
	const char		*bucket = mongo_get_utf8(rec, "bucket");
	const char		*okey = mongo_get_utf8(rec, "key");
	char			 err[1024] = "";
	int			 rc = 1;

	if (bucket == NULL || okey == NULL ||
	    mongo_get_utf8(rec, "sha256") == NULL) {
		log_err("backup: the record lacks its bucket, key or sha256");
		return 1;
	}
	if (key != NULL && (open = seal_open_new(key, out)) == NULL) {
		log_err("backup: out of memory");
		return 1;
	}
	if (meter_init(&m, open != NULL ? seal_sink(open) : out, false) ==
	    -1) {
		log_err("backup: out of memory");
		goto done;
	}
	in = meter_sink(&m);
	if (spaces_get_stream(s3, bucket, okey, &in) == -1) {
		snprintf(err, sizeof(err), "%s", s3->err);
		in.abort(in.ctx);
		goto done;
	}
	/* The stages' own checks first (a cut sealed stream says
	 * "truncated"), then the record's. */
	if (in.finish(in.ctx, err, sizeof(err)) == -1 ||
	    meter_check(&m, rec, err, sizeof(err)) == -1)
		goto done;
	log_info("backup: fetched s3://%s/%s: %" PRIu64 " bytes, sha256 "
	    "and %s verified", bucket, okey, m.bytes, key != NULL ?
	    "every GCM tag" : "size");
	rc = 0;
done:
	if (rc != 0)
		log_err("backup: fetch failed: %s", err);
	meter_free(&m);
	seal_free(open);
	return rc;
}

/* `silo backup fetch ID|latest > file`: the exit status. */
int
backup_fetch_main(const struct silo_config *config, const char *id)
{
	struct mongo	 m;
	struct spaces	 s3;
	bson_t		 rec;
	uint8_t		 key[SEAL_KEY_LEN];
	bool		 sealed;
	char		 err[1024];
	int		 rc = 1;

	if (isatty(STDOUT_FILENO)) {
		log_err("backup: fetch writes the backup to the standard "
		    "output, which is a terminal: redirect it to a file");
		return 2;
	}
	if ((rc = backup_need_spaces(config)) != 0)
		return rc;
	signal(SIGPIPE, SIG_IGN);
	mongo_log_init();
	if (mongo_open_job(&m, config, err, sizeof(err)) == -1) {
		log_err("backup: %s", err);
		return 1;
	}
	rc = 1;
	if (backup_find(&m, id, &rec) == -1)
		goto close;
	sealed = mongo_get_utf8(&rec, "key_id") != NULL;
	if (sealed && backup_fetch_key(config, &rec, key) == -1)
		goto free;
	if (spaces_open_config(&s3, config, err, sizeof(err)) == -1) {
		log_err("backup: %s", err);
		goto free;
	}
	rc = backup_fetch_stream(config, &s3, &rec, sealed ? key : NULL);
	spaces_close(&s3);
free:
	bson_destroy(&rec);
	OPENSSL_cleanse(key, sizeof(key));
close:
	mongo_close(&m);
	return rc;
}

/* ------------------------------------------------------------------ */
/* keygen                                                              */
/* ------------------------------------------------------------------ */

/* `silo backup keygen [PATH]`: the exit status. */
int
backup_keygen_main(const char *path)
{
	uint8_t	 key[SEAL_KEY_LEN];
	char	 id[SEAL_KEY_ID_LEN + 1], err[512];

	if (seal_keygen(path, err, sizeof(err)) == -1 ||
	    seal_key_load(path, key, err, sizeof(err)) == -1) {
		log_err("backup: keygen: %s", err);
		return 1;
	}
	seal_key_id(key, id);
	OPENSSL_cleanse(key, sizeof(key));
	printf("%s: a new backup key, key id %s\n"
	    "Keep a copy somewhere safe off this machine: without it no "
	    "encrypted backup can be read.\n", path, id);
	return 0;
}
