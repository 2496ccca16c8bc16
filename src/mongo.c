/*
 * mongo.c: one worker's MongoDB client.
 *
 * libmongoc is not fork-safe, so the master never opens a client: each
 * worker calls mongo_open() after fork() and owns one single-threaded
 * mongoc_client_t for its whole life.  A worker serves one request at a
 * time, so a pool would only add locking.
 *
 * The dashboard must answer "the database is down" quickly rather than
 * hang, so the connection string is given tight defaults unless it sets
 * them itself: server selection and connecting are bounded by
 * SILO_DB_TIMEOUT_MS (a single-threaded client scans once and fails fast
 * on a refused connection), and a socket read by a multiple of it, so a
 * wedged server cannot hold a worker for long.
 *
 * When mongod restarts, the worker's pooled connection is dead and the
 * next command fails with a stream error although the server is back.
 * Commands here are reads, so they are retried once on a stream error;
 * the retry reconnects.  A real outage still fails fast, because the
 * retry's server selection fails at once.
 *
 * Everything a handler reads goes through mongo_find_each() (or
 * mongo_aggregate_each()), which owns the cursor and that one retry;
 * mongo_find_one() and mongo_find_json() are its two common shapes.
 * A failed read is a struct mongo_fail (the driver's error and what was
 * asked), which mongo_fail_json() turns into the one error object every
 * answer carries, and resp_db_fail() into a 503 or a 502.
 * Documents become JSON through mongo_doc_json(): dates as ISO 8601
 * strings with milliseconds, ObjectIds as hex.  libbson's relaxed
 * Extended JSON would give {"$date": ...} objects that every answer
 * would have to rewrite, so the converter is silo's own.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "extern.h"

/*
 * libmongoc logs on its own to stderr in its own format; send its lines
 * through ours so that they are single lines with our levels.  FerretDB
 * has no endSessions command, so every client close on FerretDB draws a
 * warning that says nothing about silo's health: it is kept at debug.
 */
static void
mongo_log_handler(mongoc_log_level_t level, const char *domain,
    const char *message, void *arg)
{
	enum log_level	 ours;

	if (level <= MONGOC_LOG_LEVEL_ERROR)
		ours = LOG_LEVEL_ERR;
	else if (level == MONGOC_LOG_LEVEL_WARNING)
		ours = LOG_LEVEL_WARN;
	else if (level <= MONGOC_LOG_LEVEL_INFO)
		ours = LOG_LEVEL_INFO;
	else
		ours = LOG_LEVEL_DEBUG;
	if (strstr(message, "\"endSessions\"") != NULL)
		ours = LOG_LEVEL_DEBUG;
	log_msg(ours, "mongoc %s: %s", domain, message);
}

void
mongo_log_init(void)
{
	mongoc_log_set_handler(mongo_log_handler, NULL);
	mongoc_log_trace_disable();
}

static void
mongo_uri_default_int(mongoc_uri_t *uri, const char *option, int32_t value)
{
	if (!mongoc_uri_has_option(uri, option))
		mongoc_uri_set_option_as_int32(uri, option, value);
}

/* Open a client whose socket reads wait at most socket_ms. */
static int
mongo_open_with(struct mongo *m, const struct silo_config *c, int32_t socket_ms,
    char *err, size_t errsz)
{
	bson_error_t	 e;
	mongoc_uri_t	*uri;
	int32_t		 connect_ms = c->db_timeout_ms < 1000 ?
			    c->db_timeout_ms : 1000;

	memset(m, 0, sizeof(*m));
	if ((uri = mongoc_uri_new_with_error(c->mongo_uri, &e)) == NULL) {
		snprintf(err, errsz, "MONGODB_CONNECTION_STRING: %s",
		    e.message);
		return -1;
	}
	mongo_uri_default_int(uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS,
	    c->db_timeout_ms);
	mongo_uri_default_int(uri, MONGOC_URI_CONNECTTIMEOUTMS, connect_ms);
	mongo_uri_default_int(uri, MONGOC_URI_SOCKETTIMEOUTMS, socket_ms);
	if (mongoc_uri_get_appname(uri) == NULL)
		mongoc_uri_set_appname(uri, "silo");
	m->client = mongoc_client_new_from_uri_with_error(uri, &e);
	mongoc_uri_destroy(uri);
	if (m->client == NULL) {
		snprintf(err, errsz, "mongo client: %s", e.message);
		return -1;
	}
	mongoc_client_set_error_api(m->client, MONGOC_ERROR_API_VERSION_2);
	if ((m->db_name = strdup(c->mongo_db)) == NULL) {
		mongo_close(m);
		snprintf(err, errsz, "out of memory");
		return -1;
	}
	return 0;
}

/* A worker's client: a wedged server holds a request a few seconds at most. */
int
mongo_open(struct mongo *m, const struct silo_config *c, char *err,
    size_t errsz)
{
	return mongo_open_with(m, c, 4 * c->db_timeout_ms, err, errsz);
}

/* A job's client (import, backup): bulk writes and index builds on large
 * collections legitimately take minutes, so reads wait up to ten. */
int
mongo_open_job(struct mongo *m, const struct silo_config *c, char *err,
    size_t errsz)
{
	return mongo_open_with(m, c, 600000, err, errsz);
}

/* A command's connection (silo user, silo token), its failure logged as
 * "cmd: why"; 0, or -1. */
int
mongo_open_command(struct mongo *m, const struct silo_config *c,
    const char *cmd)
{
	char	 err[512];

	mongo_log_init();
	if (mongo_open_job(m, c, err, sizeof(err)) == -1) {
		log_err("%s: %s", cmd, err);
		return -1;
	}
	return 0;
}

void
mongo_close(struct mongo *m)
{
	if (m->client != NULL)
		mongoc_client_destroy(m->client);
	free(m->db_name);
	memset(m, 0, sizeof(*m));
}

/* Could the server not be reached (as opposed to refusing the command)? */
bool
mongo_error_is_unavailable(const bson_error_t *e)
{
	return e->domain == MONGOC_ERROR_SERVER_SELECTION ||
	    e->domain == MONGOC_ERROR_STREAM ||
	    (e->domain == MONGOC_ERROR_CLIENT &&
	     e->code == MONGOC_ERROR_CLIENT_AUTHENTICATE);
}

/* Record a failure: the driver's error and what was being asked. */
void
mongo_fail_set(struct mongo_fail *f, const bson_error_t *e,
    const char *doing)
{
	f->error = *e;
	snprintf(f->doing, sizeof(f->doing), "%s", doing);
}

/* Record running out of memory while doing something with the database. */
void
mongo_fail_oom(struct mongo_fail *f, const char *doing)
{
	bson_set_error(&f->error, MONGOC_ERROR_CLIENT, 0, "out of memory");
	snprintf(f->doing, sizeof(f->doing), "%s", doing);
}

/* A failure as the error object {"code","message"} answers carry: code
 * db_unavailable when the server could not be reached, else db_error. */
cJSON *
mongo_fail_json(const struct mongo_fail *f)
{
	cJSON	*o = cJSON_CreateObject();
	char	 message[600];

	snprintf(message, sizeof(message), "%.150s: %.440s", f->doing,
	    f->error.message);
	cJSON_AddStringToObject(o, "code",
	    mongo_error_is_unavailable(&f->error) ?
	    "db_unavailable" : "db_error");
	cJSON_AddStringToObject(o, "message", message);
	return o;
}

static bool
mongo_error_is_stream(const bson_error_t *e)
{
	return e->domain == MONGOC_ERROR_STREAM;
}

/* Run a command that is safe to repeat (a read, or a createIndexes) on db
 * (NULL: the AC database), retrying once on a dead connection.  reply is
 * always initialized. */
bool
mongo_command(struct mongo *m, const char *db, const bson_t *cmd,
    bson_t *reply, bson_error_t *e)
{
	bool	 ok;

	for (int attempt = 0; ; attempt++) {
		ok = mongoc_client_command_simple(m->client,
		    db != NULL ? db : m->db_name, cmd, NULL, reply, e);
		if (ok || attempt == 1 || !mongo_error_is_stream(e))
			return ok;
		bson_destroy(reply);
	}
}

/* Exact count of documents of db.collection (db NULL: the AC database)
 * matching filter, or -1 with e set. */
int64_t
mongo_count_in(struct mongo *m, const char *db, const char *collection,
    const bson_t *filter, bson_error_t *e)
{
	mongoc_collection_t	*coll;
	int64_t			 n;

	coll = mongoc_client_get_collection(m->client,
	    db != NULL ? db : m->db_name, collection);
	n = mongoc_collection_count_documents(coll, filter, NULL, NULL, NULL,
	    e);
	if (n < 0 && mongo_error_is_stream(e))
		n = mongoc_collection_count_documents(coll, filter, NULL, NULL,
		    NULL, e);
	mongoc_collection_destroy(coll);
	return n;
}

/* The same in the AC database. */
int64_t
mongo_count(struct mongo *m, const char *collection, const bson_t *filter,
    bson_error_t *e)
{
	return mongo_count_in(m, NULL, collection, filter, e);
}

/* Walk a cursor; false with e set on error.  *ndocs counts the deliveries. */
static bool
mongo_cursor_each(mongoc_cursor_t *cursor, mongo_doc_cb cb, void *arg,
    size_t *ndocs, bson_error_t *e)
{
	const bson_t	*doc;

	while (mongoc_cursor_next(cursor, &doc)) {
		(*ndocs)++;
		if (cb(doc, arg) != 0)
			return true;
	}
	return !mongoc_cursor_error(cursor, e);
}

/* How a cursor is made: a find, or an aggregation. */
typedef mongoc_cursor_t *(*mongo_cursor_fn)(mongoc_collection_t *,
    const bson_t *query, const bson_t *opts);

static mongoc_cursor_t *
mongo_cursor_find(mongoc_collection_t *coll, const bson_t *filter,
    const bson_t *opts)
{
	return mongoc_collection_find_with_opts(coll, filter, opts, NULL);
}

static mongoc_cursor_t *
mongo_cursor_aggregate(mongoc_collection_t *coll, const bson_t *pipeline,
    const bson_t *opts)
{
	return mongoc_collection_aggregate(coll, MONGOC_QUERY_NONE, pipeline,
	    opts, NULL);
}

static mongoc_cursor_t *
mongo_cursor_indexes(mongoc_collection_t *coll, const bson_t *unused,
    const bson_t *opts)
{
	return mongoc_collection_find_indexes_with_opts(coll, opts);
}

/* Open a cursor and walk it, retrying once on a dead connection if
 * nothing was delivered yet.  False with e set on error. */
static bool
mongo_each(struct mongo *m, const char *db, const char *collection,
    mongo_cursor_fn open, const bson_t *query, const bson_t *opts,
    mongo_doc_cb cb, void *arg, bson_error_t *e)
{
	mongoc_collection_t	*coll;
	mongoc_cursor_t		*cursor;
	size_t			 ndocs = 0;
	bool			 ok;

	coll = mongoc_client_get_collection(m->client,
	    db != NULL ? db : m->db_name, collection);
	for (int attempt = 0; ; attempt++) {
		cursor = open(coll, query, opts);
		ok = mongo_cursor_each(cursor, cb, arg, &ndocs, e);
		mongoc_cursor_destroy(cursor);
		if (ok || attempt == 1 || ndocs > 0 ||
		    !mongo_error_is_stream(e))
			break;
	}
	mongoc_collection_destroy(coll);
	return ok;
}

/* Call cb for every document of a find on db.collection (db NULL: the AC
 * database); cb returning non-zero stops early. */
bool
mongo_find_each(struct mongo *m, const char *db, const char *collection,
    const bson_t *filter, const bson_t *opts, mongo_doc_cb cb, void *arg,
    bson_error_t *e)
{
	return mongo_each(m, db, collection, mongo_cursor_find, filter, opts,
	    cb, arg, e);
}

/* Call cb for every document of an aggregation on the admin database
 * itself ({"aggregate": 1}: $currentOp and the like), retried once as
 * mongo_each() does. */
bool
mongo_admin_aggregate_each(struct mongo *m, const bson_t *pipeline,
    mongo_doc_cb cb, void *arg, bson_error_t *e)
{
	mongoc_database_t	*admin;
	mongoc_cursor_t		*cursor;
	size_t			 ndocs = 0;
	bool			 ok;

	admin = mongoc_client_get_database(m->client, "admin");
	for (int attempt = 0; ; attempt++) {
		cursor = mongoc_database_aggregate(admin, pipeline, NULL, NULL);
		ok = mongo_cursor_each(cursor, cb, arg, &ndocs, e);
		mongoc_cursor_destroy(cursor);
		if (ok || attempt == 1 || ndocs > 0 ||
		    !mongo_error_is_stream(e))
			break;
	}
	mongoc_database_destroy(admin);
	return ok;
}

/* Where mongo_find_one() puts the document it found. */
struct mongo_first {
	bson_t		*out;		/* the caller's; initialized if found */
	bool		 found;		/* a document was copied */
};

static int
mongo_copy_first(const bson_t *doc, void *arg)
{
	struct mongo_first *first = arg;

	bson_copy_to(doc, first->out);
	first->found = true;
	return 1;
}

/* The first document of a find on db.collection (db NULL: the AC
 * database), copied into out; false if none or on an error (e->code is
 * then non-zero). */
bool
mongo_find_one(struct mongo *m, const char *db, const char *collection,
    const bson_t *filter, const bson_t *opts, bson_t *out, bson_error_t *e)
{
	struct mongo_first first = { out, false };

	memset(e, 0, sizeof(*e));
	(void)mongo_find_each(m, db, collection, filter, opts,
	    mongo_copy_first, &first, e);
	return first.found;
}

/*
 * Set field to the date ms on the document filter names in db.collection,
 * making the document first if upsert and there is none.  False on a
 * failed write.
 */
static bool
mongo_set_date(struct mongo *m, const char *db, const char *collection,
    const bson_t *filter, const char *field, int64_t ms, bool upsert,
    bson_error_t *e)
{
	mongoc_collection_t	*c;
	bson_t			*set, *opts;
	bool			 ok;

	memset(e, 0, sizeof(*e));
	set = BCON_NEW("$set", "{", field, BCON_DATE_TIME(ms), "}");
	opts = BCON_NEW("upsert", BCON_BOOL(upsert));
	c = mongoc_client_get_collection(m->client, db, collection);
	ok = mongoc_collection_update_one(c, filter, set, opts, NULL, e);
	mongoc_collection_destroy(c);
	bson_destroy(opts);
	bson_destroy(set);
	return ok;
}

/* mongo_set_date() that makes the document when there is none. */
bool
mongo_upsert_date(struct mongo *m, const char *db, const char *collection,
    const bson_t *filter, const char *field, int64_t ms, bson_error_t *e)
{
	return mongo_set_date(m, db, collection, filter, field, ms, true, e);
}

/*
 * Bring a "last seen" date up to now on the document filter names in
 * db.collection, but only when the date it holds (*stamp, in epoch ms)
 * is at least every_ms old: a credential used on every request then
 * costs one write a minute, not one per request.  *stamp becomes now
 * when it was written.  False on a failed write.
 */
bool
mongo_touch_date(struct mongo *m, const char *db, const char *collection,
    const bson_t *filter, const char *field, int64_t *stamp, int64_t every_ms,
    bson_error_t *e)
{
	int64_t	 now = clock_real_ms();

	memset(e, 0, sizeof(*e));
	if (now - *stamp < every_ms)
		return true;
	if (!mongo_set_date(m, db, collection, filter, field, now, false, e))
		return false;
	*stamp = now;
	return true;
}

static int
mongo_add_json(const bson_t *doc, void *arg)
{
	cJSON_AddItemToArray(arg, mongo_doc_json(doc, false));
	return 0;
}

/* Every document of a find on db.collection (db NULL: the AC database)
 * as a JSON array; NULL with e set on error. */
cJSON *
mongo_find_json(struct mongo *m, const char *db, const char *collection,
    const bson_t *filter, const bson_t *opts, bson_error_t *e)
{
	cJSON	*list = cJSON_CreateArray();

	if (!mongo_find_each(m, db, collection, filter, opts, mongo_add_json,
	    list, e)) {
		cJSON_Delete(list);
		list = NULL;
	}
	return list;
}

/* The same for an aggregation pipeline ({"pipeline": [...]}) on the AC
 * database. */
bool
mongo_aggregate_each(struct mongo *m, const char *collection,
    const bson_t *pipeline, mongo_doc_cb cb, void *arg, bson_error_t *e)
{
	return mongo_each(m, NULL, collection, mongo_cursor_aggregate, pipeline,
	    NULL, cb, arg, e);
}

/* The same for a collection's indexes (listIndexes), in the AC database. */
bool
mongo_index_each(struct mongo *m, const char *collection, mongo_doc_cb cb,
    void *arg, bson_error_t *e)
{
	return mongo_each(m, NULL, collection, mongo_cursor_indexes, NULL, NULL,
	    cb, arg, e);
}

/*
 * A collection's storage statistics, from the collStats command.  Its count
 * is the server's metadata count: the estimate, at no scan.  FerretDB
 * answers it as cheaply, whereas its estimatedDocumentCount scans.  The
 * $collStats stage would be the form mongod prefers since 6.2, but
 * FerretDB's reports storageStats.size with the indexes included, so the
 * command is what both servers answer alike (docs/ferretdb.md).
 * On MONGO_STATS_OK, stats holds the reply and the caller destroys it.  A
 * collection dropped since it was listed is MONGO_STATS_GONE
 * (NamespaceNotFound), not an error.
 */
enum mongo_stats
mongo_storage_stats(struct mongo *m, const char *collection, bson_t *stats,
    bson_error_t *e)
{
	bson_t	 cmd = BSON_INITIALIZER;
	bool	 ok;

	BSON_APPEND_UTF8(&cmd, "collStats", collection);
	ok = mongo_command(m, NULL, &cmd, stats, e);
	bson_destroy(&cmd);
	if (ok)
		return MONGO_STATS_OK;
	bson_destroy(stats);
	return e->code == 26 ? MONGO_STATS_GONE : MONGO_STATS_ERROR;
}

/*
 * The AC database's collections, without system collections and views
 * (which have no storage of their own).  NULL-terminated; free with
 * bson_strfreev().  NULL with e set on error.
 */
char **
mongo_collection_names(struct mongo *m, bson_error_t *e)
{
	mongoc_database_t	*db;
	mongoc_cursor_t		*cursor;
	const bson_t		*doc;
	char			**names;
	size_t			 n = 0, cap = 16;
	bson_iter_t		 it;

	if ((names = bson_malloc0(cap * sizeof(*names))) == NULL)
		return NULL;
	db = mongoc_client_get_database(m->client, m->db_name);
	cursor = mongoc_database_find_collections_with_opts(db, NULL);
	while (mongoc_cursor_next(cursor, &doc)) {
		const char	*name, *type = "collection";

		if (!bson_iter_init_find(&it, doc, "name") ||
		    !BSON_ITER_HOLDS_UTF8(&it))
			continue;
		name = bson_iter_utf8(&it, NULL);
		if (bson_iter_init_find(&it, doc, "type") &&
		    BSON_ITER_HOLDS_UTF8(&it))
			type = bson_iter_utf8(&it, NULL);
		if (strncmp(name, "system.", 7) == 0 ||
		    strcmp(type, "view") == 0)
			continue;
		if (n + 1 == cap) {
			cap *= 2;
			names = bson_realloc(names, cap * sizeof(*names));
		}
		names[n++] = bson_strdup(name);
		names[n] = NULL;
	}
	if (mongoc_cursor_error(cursor, e)) {
		bson_strfreev(names);
		names = NULL;
	}
	mongoc_cursor_destroy(cursor);
	mongoc_database_destroy(db);
	return names;
}

/* The document's _id as relaxed Extended JSON, for messages; the caller
 * frees it with bson_free(). */
char *
mongo_id_json(const bson_t *doc)
{
	bson_iter_t	 it;
	bson_t		 id = BSON_INITIALIZER;
	char		*json;

	if (bson_iter_init_find(&it, doc, "_id"))
		bson_append_iter(&id, "_id", 3, &it);
	json = bson_as_relaxed_extended_json(&id, NULL);
	bson_destroy(&id);
	return json;
}

/* Find a numeric field (int32, int64 or double) by dotted path. */
static bool
mongo_get_number(const bson_t *doc, const char *dotted, bson_iter_t *out)
{
	bson_iter_t	 it;

	return bson_iter_init(&it, doc) &&
	    bson_iter_find_descendant(&it, dotted, out) &&
	    BSON_ITER_HOLDS_NUMBER(out);
}

/* A numeric field of any BSON number type, or dflt. */
int64_t
mongo_get_int64(const bson_t *doc, const char *dotted, int64_t dflt)
{
	bson_iter_t	 it;

	return mongo_get_number(doc, dotted, &it) ? bson_iter_as_int64(&it) :
	    dflt;
}

/* A date field by dotted path in ms since the epoch, or dflt. */
int64_t
mongo_get_date(const bson_t *doc, const char *dotted, int64_t dflt)
{
	bson_iter_t	 it;

	if (bson_iter_init(&it, doc) &&
	    bson_iter_find_descendant(&it, dotted, &it) &&
	    BSON_ITER_HOLDS_DATE_TIME(&it))
		return bson_iter_date_time(&it);
	return dflt;
}

/* A string field by dotted path, or NULL. */
const char *
mongo_get_utf8(const bson_t *doc, const char *dotted)
{
	bson_iter_t	 it;

	if (bson_iter_init(&it, doc) &&
	    bson_iter_find_descendant(&it, dotted, &it) &&
	    BSON_ITER_HOLDS_UTF8(&it))
		return bson_iter_utf8(&it, NULL);
	return NULL;
}

double
mongo_get_double(const bson_t *doc, const char *dotted, double dflt)
{
	bson_iter_t	 it;

	return mongo_get_number(doc, dotted, &it) ? bson_iter_as_double(&it) :
	    dflt;
}

/* ------------------------------------------------------------------ */
/* Documents as JSON                                                   */
/* ------------------------------------------------------------------ */

/* One BSON value as JSON: dates as ISO strings, ObjectIds as hex. */
static cJSON *
mongo_json_value(const bson_iter_t *it)
{
	char		 buf[64];
	bson_t		 sub;
	const uint8_t	*data;
	uint32_t	 len;
	cJSON		*v = NULL;

	switch (bson_iter_type(it)) {
	case BSON_TYPE_UTF8:
		return cJSON_CreateString(bson_iter_utf8(it, NULL));
	case BSON_TYPE_INT32:
	case BSON_TYPE_INT64:
	case BSON_TYPE_DOUBLE:
		return cJSON_CreateNumber(bson_iter_as_double(it));
	case BSON_TYPE_BOOL:
		return cJSON_CreateBool(bson_iter_bool(it));
	case BSON_TYPE_DATE_TIME:
		if (!clock_iso(bson_iter_date_time(it), CLOCK_ISO_MS, buf,
		    sizeof(buf)))
			return cJSON_CreateNull();
		return cJSON_CreateString(buf);
	case BSON_TYPE_OID:
		bson_oid_to_string(bson_iter_oid(it), buf);
		return cJSON_CreateString(buf);
	case BSON_TYPE_DOCUMENT:
	case BSON_TYPE_ARRAY:
		if (bson_iter_type(it) == BSON_TYPE_DOCUMENT)
			bson_iter_document(it, &len, &data);
		else
			bson_iter_array(it, &len, &data);
		if (bson_init_static(&sub, data, len))
			v = mongo_doc_json(&sub,
			    bson_iter_type(it) == BSON_TYPE_ARRAY);
		return v;
	default:
		return cJSON_CreateNull();
	}
}

/* A document (or array) as JSON, every field kept. */
cJSON *
mongo_doc_json(const bson_t *doc, bool array)
{
	cJSON		*out = array ? cJSON_CreateArray() :
			    cJSON_CreateObject();
	bson_iter_t	 it;

	if (!bson_iter_init(&it, doc))
		return out;
	while (bson_iter_next(&it)) {
		cJSON	*v = mongo_json_value(&it);

		if (v == NULL)
			continue;
		if (array)
			cJSON_AddItemToArray(out, v);
		else
			cJSON_AddItemToObject(out, bson_iter_key(&it), v);
	}
	return out;
}
