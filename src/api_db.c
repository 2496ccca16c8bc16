/*
 * api_db.c: the /api/db endpoints, the database as AC's engineers need to
 * see it.
 *
 * health     is the database up, how fast does it answer, which version,
 *            how long has it run, how many connections does it hold;
 * collections every collection with its count, sizes and indexes, in the
 *            migration report's categories, largest first, with totals;
 * users/count registered users, handles, verified users, users with a DID.
 *
 * Counts for the dashboard are the server's metadata counts (estimates, at
 * no scan), from collStats along with the sizes: one cheap call per
 * collection on mongod and on FerretDB alike.  Where a filter is the point
 * (users/count) the collections are small and the exact count is asked.
 *
 * A database that cannot be reached is a 503 with "status":"down" and the
 * driver's reason, returned within the bounds mongo.c sets.  A database
 * that answers with an error is a 502: silo is fine, its upstream is not.
 * Every area answers its database errors so, through resp_db_fail().
 *
 * Each answer is made by a summary function (api_db_*_json) that returns
 * the JSON or fills in a struct mongo_fail; the handlers here and the
 * overview's sections (api_overview.c) share them, so a count is defined
 * once.
 *
 * No request scans.  health and collections are answered from the shared
 * cache (cache.c), as the answer with its HTTP status:
 *
 * health       made at most once a second (API_DB_HEALTH_MAX_AGE_S) by one
 *              worker for all of them, failures included, so a burst or
 *              a dead database costs one round trip a second; never older
 *              than that, its cached_at and age_s say how old;
 * collections  one collStats per collection, SILO_CACHE_TTL_S long, served
 *              stale while one worker makes it again, as the overview's
 *              sections are; a failure is not kept, so the next request
 *              tries again.
 *
 * users/count  four counts, cached as collections is.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "silo.h"

#define	API_DB_HEALTH_MAX_AGE_S	1.0	/* the shared health, at most */

/* A summary to cache, and how it failed. */
struct api_db_fill {
	cJSON		*(*summary)(struct silo_ctx *, struct mongo_fail *);
	bool		 failed;	/* the summary failed: f says how */
	struct mongo_fail f;	/* the database's error */
};

/* One collection's row in /api/db/collections. */
struct collection_stats {
	const char	*name;		/* collection name (borrowed) */
	enum ac_category category; /* report grouping */
	int64_t		 documents;	/* metadata (estimated) count */
	int64_t		 size;		/* uncompressed data bytes */
	int64_t		 storage;	/* bytes allocated on disk */
	int64_t		 avg_obj;	/* average document bytes */
	int64_t		 indexes;	/* number of indexes */
	int64_t		 index_size;	/* bytes of all indexes */
};

/*
 * The health cache's fill: {"http": status, "body": answer}, the summary's
 * 200, or the database's error as resp_db_fail() words it, kept too: a
 * dead database is asked once a second as well.
 */
static cJSON *
api_db_health_fill(struct silo_ctx *ctx, void *arg, bool *keep)
{
	struct api_db_fill *df = arg;
	struct silo_response scratch = { 0 };
	cJSON		*wrap = cJSON_CreateObject(), *body;

	if ((body = df->summary(ctx, &df->f)) != NULL)
		resp_json(&scratch, 200, body);
	else
		resp_db_fail(&scratch, ctx->config->mongo_db, &df->f);
	cJSON_AddNumberToObject(wrap, "http", scratch.status);
	cJSON_AddItemToObject(wrap, "body", scratch.body);
	scratch.body = NULL;
	resp_clear(&scratch);
	return wrap;
}

/* The other summaries' fill: the summary, or NULL (not kept) with df's
 * failure set. */
static cJSON *
api_db_fill(struct silo_ctx *ctx, void *arg, bool *keep)
{
	struct api_db_fill *df = arg;
	cJSON		*body;

	if ((body = df->summary(ctx, &df->f)) == NULL) {
		df->failed = true;
		*keep = false;
	}
	return body;
}

/*
 * Answer with a summary from the shared cache under key, as its text: a
 * hit neither parses nor prints it, only adds cached_at and age_s.
 */
static void
api_db_cached(struct silo_ctx *ctx, struct silo_response *resp,
    const char *key, cJSON *(*summary)(struct silo_ctx *, struct mongo_fail *))
{
	struct api_db_fill df = { .summary = summary };
	char		*text, stamp[CACHE_STAMP_MAX];
	double		 at;
	cJSON		*body;

	if ((text = cache_get_text(ctx, key, api_db_fill, &df, &at)) == NULL) {
		if (df.failed)
			resp_db_fail(resp, ctx->config->mongo_db, &df.f);
		else
			resp_error(resp, 500, "internal", "%s: out of memory",
			    key);
		return;
	}
	cache_stamp_fields(at, stamp, sizeof(stamp));
	if ((body = cache_text_with(text, stamp)) == NULL)
		resp_error(resp, 500, "internal", "%s: out of memory", key);
	else
		resp_json(resp, 200, body);
}

/* Answer from the health's wrap; a 200 carries its cached_at and age_s. */
static void
api_db_health_answer(struct silo_response *resp, cJSON *wrap)
{
	cJSON	*body = cJSON_DetachItemFromObjectCaseSensitive(wrap, "body");
	int	 status = (int)cJSON_GetNumberValue(
		    cJSON_GetObjectItemCaseSensitive(wrap, "http"));

	if (body == NULL || status < 200 || status > 599) {
		cJSON_Delete(body);
		resp_error(resp, 500, "internal", "a cached answer is damaged");
	} else {
		if (status == 200) {
			cJSON_AddItemToObject(body, "cached_at",
			    cJSON_DetachItemFromObjectCaseSensitive(wrap,
			    "cached_at"));
			cJSON_AddItemToObject(body, "age_s",
			    cJSON_DetachItemFromObjectCaseSensitive(wrap,
			    "age_s"));
		}
		resp_json(resp, status, body);
	}
	cJSON_Delete(wrap);
}

/* The server version: serverStatus has it; buildInfo is the fallback. */
static void
api_db_health_version(struct mongo *m, const bson_t *status, cJSON *body)
{
	bson_iter_t	 it;
	bson_t		 cmd = BSON_INITIALIZER, reply;
	bson_error_t	 e;

	if (bson_iter_init_find(&it, status, "version") &&
	    BSON_ITER_HOLDS_UTF8(&it)) {
		cJSON_AddStringToObject(body, "version",
		    bson_iter_utf8(&it, NULL));
		return;
	}
	BSON_APPEND_INT32(&cmd, "buildInfo", 1);
	if (mongo_command(m, "admin", &cmd, &reply, &e) &&
	    bson_iter_init_find(&it, &reply, "version") &&
	    BSON_ITER_HOLDS_UTF8(&it))
		cJSON_AddStringToObject(body, "version",
		    bson_iter_utf8(&it, NULL));
	else
		cJSON_AddNullToObject(body, "version");
	bson_destroy(&reply);
	bson_destroy(&cmd);
}

/*
 * Which server answers: mongod in production, FerretDB in tests and the
 * local stack.  serverStatus names the process; FerretDB adds its own
 * version beside the MongoDB version it emulates.
 */
static void
api_db_health_engine(const bson_t *status, bool have_status, cJSON *body)
{
	bson_iter_t	 it;
	const char	*process = NULL, *ferret = NULL;
	char		 engine[128];

	if (have_status && bson_iter_init_find(&it, status, "process") &&
	    BSON_ITER_HOLDS_UTF8(&it))
		process = bson_iter_utf8(&it, NULL);
	if (have_status &&
	    bson_iter_init_find(&it, status, "ferretdbVersion") &&
	    BSON_ITER_HOLDS_UTF8(&it))
		ferret = bson_iter_utf8(&it, NULL);
	if (process == NULL) {
		cJSON_AddNullToObject(body, "engine");
		return;
	}
	snprintf(engine, sizeof(engine), "%s%s%s", process, ferret ? " " : "",
	    ferret ? ferret : "");
	cJSON_AddStringToObject(body, "engine", engine);
}

/* The health summary; NULL with f set when the database cannot be pinged. */
cJSON *
api_db_health_json(struct silo_ctx *ctx, struct mongo_fail *f)
{
	struct mongo	*m = ctx->mongo;
	bson_t		 ping = BSON_INITIALIZER, status_cmd = BSON_INITIALIZER;
	bson_t		 reply, status;
	bson_error_t	 e;
	double		 t0, ping_ms;
	bool		 have_status;
	const char	*state = "ok";
	cJSON		*body = NULL, *conns;

	BSON_APPEND_INT32(&ping, "ping", 1);
	t0 = clock_ms();
	if (!mongo_command(m, "admin", &ping, &reply, &e)) {
		mongo_fail_set(f, &e, "ping");
		goto out;
	}
	ping_ms = clock_ms() - t0;

	BSON_APPEND_INT32(&status_cmd, "serverStatus", 1);
	have_status = mongo_command(m, "admin", &status_cmd, &status, &e);
	if (!have_status || ping_ms > ctx->config->db_slow_ms)
		state = "degraded";

	body = cJSON_CreateObject();
	cJSON_AddStringToObject(body, "status", state);
	cJSON_AddStringToObject(body, "database", ctx->config->mongo_db);
	api_db_health_version(m, &status, body);
	api_db_health_engine(&status, have_status, body);
	if (have_status)
		cJSON_AddNumberToObject(body, "uptime_s",
		    mongo_get_double(&status, "uptime", 0));
	else
		cJSON_AddNullToObject(body, "uptime_s");
	cJSON_AddNumberToObject(body, "ping_ms",
	    (double)(int64_t)(ping_ms * 1000) / 1000);
	if (have_status &&
	    mongo_get_int64(&status, "connections.current", -1) >= 0) {
		conns = cJSON_AddObjectToObject(body, "connections");
		resp_add_int(conns, "current",
		    mongo_get_int64(&status, "connections.current", 0));
		resp_add_int(conns, "available",
		    mongo_get_int64(&status, "connections.available", 0));
	} else
		cJSON_AddNullToObject(body, "connections");
	if (!have_status)
		cJSON_AddStringToObject(body, "reason", e.message);
	else if (ping_ms > ctx->config->db_slow_ms)
		cJSON_AddStringToObject(body, "reason",
		    "ping slower than SILO_DB_SLOW_MS");
	bson_destroy(&status);
out:
	bson_destroy(&reply);
	bson_destroy(&ping);
	bson_destroy(&status_cmd);
	return body;
}

/*
 * Whether the database answers, as every worker shares it (at most 1 s
 * old): what /api/metrics reports, without a round trip of its own.
 */
bool
api_db_up(struct silo_ctx *ctx)
{
	struct api_db_fill df = { .summary = api_db_health_json };
	cJSON		*wrap = cache_get_within(ctx, "db-health",
			    API_DB_HEALTH_MAX_AGE_S, api_db_health_fill, &df);
	bool		 up = cJSON_GetNumberValue(
			    cJSON_GetObjectItemCaseSensitive(wrap, "http")) ==
			    200;

	cJSON_Delete(wrap);
	return up;
}

/* The collections summary from the shared cache, parsed: NULL with f
 * set when the database failed (or out of memory). */
cJSON *
api_db_collections_shared(struct silo_ctx *ctx, struct mongo_fail *f)
{
	struct api_db_fill df = { .summary = api_db_collections_json };
	cJSON		*body = cache_get(ctx, "db-collections", api_db_fill,
			    &df);

	if (body == NULL && df.failed)
		*f = df.f;
	else if (body == NULL)
		mongo_fail_oom(f, "collections");
	return body;
}

void
api_db_health(struct silo_ctx *ctx, const struct silo_request *req,
    struct silo_response *resp)
{
	struct api_db_fill df = { .summary = api_db_health_json };

	api_db_health_answer(resp, cache_get_within(ctx, "db-health",
	    API_DB_HEALTH_MAX_AGE_S, api_db_health_fill, &df));
}

/* Fill one row from the collection's collStats. */
static enum mongo_stats
api_db_stats_fetch(struct mongo *m, const char *name,
    struct collection_stats *cs, bson_error_t *e)
{
	bson_t		 stats;
	enum mongo_stats rc;

	memset(cs, 0, sizeof(*cs));
	cs->name = name;
	cs->category = ac_category_of(name);
	if ((rc = mongo_storage_stats(m, name, &stats, e)) != MONGO_STATS_OK)
		return rc;
	cs->documents = mongo_get_int64(&stats, "count", 0);
	cs->size = mongo_get_int64(&stats, "size", 0);
	cs->storage = mongo_get_int64(&stats, "storageSize", 0);
	cs->avg_obj = mongo_get_int64(&stats, "avgObjSize", 0);
	cs->indexes = mongo_get_int64(&stats, "nindexes", 0);
	cs->index_size = mongo_get_int64(&stats, "totalIndexSize", 0);
	if (cs->avg_obj == 0 && cs->documents > 0)
		cs->avg_obj = cs->size / cs->documents;
	bson_destroy(&stats);
	return MONGO_STATS_OK;
}

/* Largest first; equal sizes by name, so the order is stable. */
static int
api_db_stats_cmp(const void *a, const void *b)
{
	const struct collection_stats *x = a, *y = b;

	if (x->size != y->size)
		return x->size > y->size ? -1 : 1;
	return strcmp(x->name, y->name);
}

static cJSON *
api_db_row_json(const struct collection_stats *cs)
{
	cJSON	*o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "name", cs->name);
	cJSON_AddStringToObject(o, "category", ac_category_id(cs->category));
	resp_add_int(o, "documents", cs->documents);
	resp_add_int(o, "size_bytes", cs->size);
	resp_add_int(o, "storage_bytes", cs->storage);
	resp_add_int(o, "avg_obj_bytes", cs->avg_obj);
	resp_add_int(o, "indexes", cs->indexes);
	resp_add_int(o, "index_bytes", cs->index_size);
	return o;
}

/* The totals object and the per-category array. */
static void
api_db_totals(cJSON *body, const struct collection_stats *rows, size_t n)
{
	struct collection_stats	 sum[CATEGORY__MAX] = { 0 }, all = { 0 };
	int64_t			 count[CATEGORY__MAX] = { 0 };
	cJSON			*totals, *cats, *o;

	for (size_t i = 0; i < n; i++) {
		struct collection_stats *s = &sum[rows[i].category];

		count[rows[i].category]++;
		s->documents += rows[i].documents;
		s->size += rows[i].size;
		s->storage += rows[i].storage;
		s->index_size += rows[i].index_size;
		all.documents += rows[i].documents;
		all.size += rows[i].size;
		all.storage += rows[i].storage;
		all.index_size += rows[i].index_size;
	}
	totals = cJSON_AddObjectToObject(body, "totals");
	resp_add_int(totals, "collections", (int64_t)n);
	resp_add_int(totals, "documents", all.documents);
	resp_add_int(totals, "size_bytes", all.size);
	resp_add_int(totals, "storage_bytes", all.storage);
	resp_add_int(totals, "index_bytes", all.index_size);

	cats = cJSON_AddArrayToObject(body, "categories");
	for (int c = 0; c < CATEGORY__MAX; c++) {
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "id", ac_category_id(c));
		cJSON_AddStringToObject(o, "label", ac_category_label(c));
		resp_add_int(o, "collections", count[c]);
		resp_add_int(o, "documents", sum[c].documents);
		resp_add_int(o, "size_bytes", sum[c].size);
		resp_add_int(o, "storage_bytes", sum[c].storage);
		cJSON_AddItemToArray(cats, o);
	}
}

/* Every collection with its stats, totals and categories; NULL with f
 * set on a database error. */
cJSON *
api_db_collections_json(struct silo_ctx *ctx, struct mongo_fail *f)
{
	struct collection_stats	*rows = NULL;
	bson_error_t		 e;
	char			**names, what[160];
	size_t			 n = 0, nrows = 0;
	cJSON			*body = NULL, *list;

	if ((names = mongo_collection_names(ctx->mongo, &e)) == NULL) {
		mongo_fail_set(f, &e, "listCollections");
		return NULL;
	}
	while (names[n] != NULL)
		n++;
	if ((rows = calloc(n ? n : 1, sizeof(*rows))) == NULL) {
		mongo_fail_oom(f, "collections");
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		switch (api_db_stats_fetch(ctx->mongo, names[i], &rows[nrows],
		    &e)) {
		case MONGO_STATS_OK:
			nrows++;
			break;
		case MONGO_STATS_GONE:
			break;	/* dropped since it was listed */
		case MONGO_STATS_ERROR:
			snprintf(what, sizeof(what), "stats of %.120s",
			    names[i]);
			mongo_fail_set(f, &e, what);
			goto out;
		}
	qsort(rows, nrows, sizeof(*rows), api_db_stats_cmp);

	body = cJSON_CreateObject();
	cJSON_AddStringToObject(body, "database", ctx->config->mongo_db);
	list = cJSON_AddArrayToObject(body, "collections");
	for (size_t i = 0; i < nrows; i++)
		cJSON_AddItemToArray(list, api_db_row_json(&rows[i]));
	api_db_totals(body, rows, nrows);
out:
	free(rows);
	bson_strfreev(names);
	return body;
}

void
api_db_collections(struct silo_ctx *ctx, const struct silo_request *req,
    struct silo_response *resp)
{
	api_db_cached(ctx, resp, "db-collections", api_db_collections_json);
}

/* Registered users, handles, verified users, users with a DID; NULL with
 * f set on a database error. */
cJSON *
api_db_users_json(struct silo_ctx *ctx, struct mongo_fail *f)
{
	bson_t		*registered = ac_registered_filter();
	bson_t		*everything = bson_new();
	bson_t		*verified = BCON_NEW("count", "{",
			    "$gte", BCON_INT32(1), "}");
	bson_t		*with_did = ac_with_did_filter();
	const struct {
		const char	*key;		/* field in the answer */
		const char	*collection;	/* where to count */
		const bson_t	*filter;	/* what to count */
	} counts[] = {
		{ "users", "users", registered },
		{ "handles", "@handles", everything },
		{ "verified", "verifications", verified },
		{ "with_did", "users", with_did },
	};
	bson_error_t	 e;
	cJSON		*body = cJSON_CreateObject();

	for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
		int64_t	 n = mongo_count(ctx->mongo, counts[i].collection,
		    counts[i].filter, &e);

		if (n < 0) {
			cJSON_Delete(body);
			body = NULL;
			mongo_fail_set(f, &e, counts[i].collection);
			break;
		}
		resp_add_int(body, counts[i].key, n);
	}
	bson_destroy(registered);
	bson_destroy(everything);
	bson_destroy(verified);
	bson_destroy(with_did);
	return body;
}

void
api_db_users_count(struct silo_ctx *ctx, const struct silo_request *req,
    struct silo_response *resp)
{
	api_db_cached(ctx, resp, "db-users", api_db_users_json);
}
