/*
 * api_storage.c: the /api/storage endpoints, AC's Spaces usage.
 *
 * usage      total bytes, GB and objects across the buckets;
 * buckets    per bucket with its prefixes, plus file types and the
 *            largest objects;
 * user/:id   one user's bytes and objects per bucket and kind; :id is a
 *            handle (with or without '@'), an auth0 sub or a DID;
 * top-users  the biggest consumers, ?limit=1..100 (default 10);
 * history    totals over time for the chart, ?limit=1..1000 (default 100);
 * refresh    (POST, admin) starts a refresh.
 *
 * Every answer comes from the latest good snapshot that `silo storage
 * refresh` recorded (storage.c).  Each carries snapshot_at (ISO 8601, UTC)
 * and age_s, the snapshot's.  Before the first good snapshot the answer
 * is a 503 "no_snapshot" saying how to make one, with the last failed
 * attempt's errors if there was one.
 *
 * Rendered once.  usage, buckets, top-users and history with their
 * default limits are rendered by the refresh itself, with
 * api_storage_render(), into silo.storage_answers under the snapshot's
 * _id (again after every refresh, failed ones too, since history names
 * the last attempt), and the refresh drops the shared cache's "storage-"
 * entries.  A request for them is a cache hit; a miss, once per
 * SILO_CACHE_TTL_S for all workers, is two reads by _id: the newest good
 * snapshot's id, then its answers.  A snapshot no refresh rendered (one
 * recorded by an older silo) is rendered on that miss instead, and not
 * stored: the API does not write.  The newest good snapshot's id, time
 * and user count are cached too ("storage-latest"), so user/:id reads
 * one indexed row of silo.storage_users (after resolving a handle), and
 * other limits are one indexed find each.
 *
 * Users.  A handle is resolved through @handles, a DID through users
 * (_id, or atproto.did), and a sub is taken as it is; a user AC knows who
 * has no objects gets zeros, an id AC does not know is a 404, and an id
 * that cannot be one (an e-mail address, a malformed sub or DID) is a 400
 * naming the problem.  Nothing here reads an e-mail field or returns one.
 * GET /api/users/:id (api_users.c) finds its user through the same
 * api_storage_resolve() and embeds api_storage_user_answer()'s answer, so
 * the search and this endpoint cannot come to disagree.
 *
 * Refresh.  A walk of AC's buckets takes minutes, far too long for a
 * FastCGI worker (the pool's size is silo's concurrency, and Caddy would
 * time out).  So the handler has job_start() (job.c) take the
 * refresh lock and start `silo storage refresh` as a detached process
 * that inherits the lock, and answers 202 with its pid and where to
 * follow it; a second POST meanwhile is a 409 naming the running one.  A
 * systemd timer would be the other way to trigger it; this one answers
 * at once and needs no privileges.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "silo.h"

#define	API_STORAGE_ID_MAX	256	/* longest :id accepted */
#define	API_STORAGE_TOP_DEFAULT	10	/* top-users without ?limit */
#define	API_STORAGE_TOP_MAX	100	/* top-users' largest limit */
#define	API_STORAGE_HIST_DEFAULT 100	/* history without ?limit */
#define	API_STORAGE_HIST_MAX	1000	/* history's largest limit */

/* ------------------------------------------------------------------ */
/* Parsing :id                                                         */
/* ------------------------------------------------------------------ */

/* Characters allowed after "<method>:" in a DID, and in a sub's id. */
static bool
api_storage_span(const char *s, const char *extra)
{
	for (; *s != '\0'; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		    (*s >= '0' && *s <= '9') || strchr(extra, *s) != NULL))
			return false;
	return true;
}

/*
 * What kind of user id is id: a DID (did:<method>:<id>), an auth0 sub
 * (<provider>|<id>, e.g. auth0|..., google-oauth2|..., sotce-auth0|...),
 * or a handle (an optional '@' is dropped: *name points past it).
 * ID_BAD with why set otherwise.
 */
enum api_storage_id
api_storage_parse_id(const char *id, const char **name, char *why,
    size_t whysz)
{
	size_t		 len = strlen(id);
	const char	*bar, *colon;

	*name = id;
	if (len == 0 || (len == 1 && id[0] == '@')) {
		snprintf(why, whysz, "the user id is empty");
		return ID_BAD;
	}
	if (len > API_STORAGE_ID_MAX) {
		snprintf(why, whysz, "the user id is longer than %d bytes",
		    API_STORAGE_ID_MAX);
		return ID_BAD;
	}
	for (const char *p = id; *p != '\0'; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f || *p == '/' ||
		    *p == '\\' || *p == '"') {
			snprintf(why, whysz, "the user id contains a space, a "
			    "control character, '/', '\\' or '\"'");
			return ID_BAD;
		}
	if (strncmp(id, "did:", 4) == 0) {
		colon = strchr(id + 4, ':');
		if (colon == NULL || colon == id + 4 || colon[1] == '\0' ||
		    strspn(id + 4, "abcdefghijklmnopqrstuvwxyz0123456789") !=
		    (size_t)(colon - id - 4) || !api_storage_span(colon + 1,
		    "._:%-")) {
			snprintf(why, whysz, "a DID is did:<method>:<id>, e.g. "
			    "did:plc:abc123");
			return ID_BAD;
		}
		return ID_DID;
	}
	if ((bar = strchr(id, '|')) != NULL) {
		char	 provider[API_STORAGE_ID_MAX + 1];

		snprintf(provider, sizeof(provider), "%.*s", (int)(bar - id),
		    id);
		if (bar == id || bar[1] == '\0' ||
		    !api_storage_span(provider, "_-") ||
		    !api_storage_span(bar + 1, "._|:-")) {
			snprintf(why, whysz, "an auth0 sub is <provider>|<id>, "
			    "e.g. auth0|5f3c...");
			return ID_BAD;
		}
		return ID_SUB;
	}
	if (id[0] == '@')
		*name = ++id;
	if (strchr(id, '@') != NULL) {
		snprintf(why, whysz,
		    "the user id looks like an e-mail address; "
		    "ask by handle, auth0 sub or DID");
		return ID_BAD;
	}
	if (strpbrk(id, ":|#?%&=+,;<>()[]{}*!$'`^~") != NULL) {
		snprintf(why, whysz, "a handle has no punctuation but '.', '_' "
		    "and '-'");
		return ID_BAD;
	}
	return ID_HANDLE;
}

/* ------------------------------------------------------------------ */
/* Answers from snapshots                                              */
/* ------------------------------------------------------------------ */

/* Move field name of from (if there) into to. */
static void
api_storage_take(cJSON *to, cJSON *from, const char *name)
{
	cJSON	*v = cJSON_DetachItemFromObjectCaseSensitive(from, name);

	if (v != NULL)
		cJSON_AddItemToObject(to, name, v);
}

/* An answer's body, stamped with the snapshot's time and age. */
static cJSON *
api_storage_body(int64_t finished_ms)
{
	cJSON		*body = cJSON_CreateObject();
	char		 iso[CLOCK_ISO_MAX];
	int64_t		 now = clock_real_ms();

	if (clock_iso(finished_ms, CLOCK_ISO_MS, iso, sizeof(iso)))
		cJSON_AddStringToObject(body, "snapshot_at", iso);
	else
		cJSON_AddNullToObject(body, "snapshot_at");
	cJSON_AddNumberToObject(body, "age_s",
	    (double)((now > finished_ms ? now - finished_ms : 0) / 1000));
	return body;
}

/*
 * A cached answer's start: {"finished_ms": the snapshot's time, then
 * "snapshot_at"}.  api_storage_send_text() turns finished_ms into age_s
 * when it serves the answer.
 */
static cJSON *
api_storage_value(int64_t finished_ms)
{
	cJSON		*o = cJSON_CreateObject();
	char		 iso[CLOCK_ISO_MAX];

	cJSON_AddNumberToObject(o, "finished_ms", (double)finished_ms);
	if (clock_iso(finished_ms, CLOCK_ISO_MS, iso, sizeof(iso)))
		cJSON_AddStringToObject(o, "snapshot_at", iso);
	else
		cJSON_AddNullToObject(o, "snapshot_at");
	return o;
}

/*
 * Answer with a cached answer's text (taken), as the cache kept it: its
 * leading finished_ms becomes age_s, the snapshot's age now, at its end;
 * nothing is parsed or printed.
 */
static void
api_storage_send_text(struct silo_response *resp, char *text)
{
	static const char lead[] = "{\"finished_ms\":";
	char		*end, age[48];
	long long	 at;
	int64_t		 now = clock_real_ms();
	cJSON		*body = NULL;

	if (strncmp(text, lead, sizeof(lead) - 1) == 0) {
		at = strtoll(text + sizeof(lead) - 1, &end, 10);
		if (*end == ',') {
			*end = '{';	/* the rest is the answer */
			memmove(text, end, strlen(end) + 1);
			snprintf(age, sizeof(age), "\"age_s\":%lld",
			    (long long)((now > at ? now - at : 0) / 1000));
			body = cache_text_with(text, age);
			text = NULL;
		}
	}
	free(text);
	if (body == NULL)
		resp_error(resp, 500, "internal", "a cached answer is damaged");
	else
		resp_json(resp, 200, body);
}

/* ------------------------------------------------------------------ */
/* Finding snapshots                                                   */
/* ------------------------------------------------------------------ */

/* Answer a database error as every endpoint does (resp_db_fail). */
static void
api_storage_db_error(struct silo_ctx *ctx, struct silo_response *resp,
    const bson_error_t *e, const char *doing)
{
	struct mongo_fail f;

	mongo_fail_set(&f, e, doing);
	resp_db_fail(resp, ctx->config->mongo_db, &f);
}

/* The newest refresh, good or failed, as {status, finished_at, errors};
 * NULL if there is none or it cannot be read. */
static cJSON *
api_storage_last_attempt(struct silo_ctx *ctx)
{
	bson_t		*projection = BCON_NEW("_id", BCON_INT32(0),
			    "status", BCON_INT32(1),
			    "finished_at", BCON_INT32(1),
			    "errors", BCON_INT32(1));
	bson_t		 last;
	bson_error_t	 e;
	cJSON		*o = NULL;

	if (storage_newest(ctx->mongo, NULL, projection, &last, &e)) {
		o = mongo_doc_json(&last, false);
		bson_destroy(&last);
	}
	bson_destroy(projection);
	return o;
}

/*
 * The latest good snapshot into snap (the caller destroys it), only the
 * fields projection names (NULL: all), and its finished_at; false with
 * resp filled in when there is none (503 no_snapshot) or the database
 * failed.
 */
static bool
api_storage_latest(struct silo_ctx *ctx, struct silo_response *resp,
    const bson_t *projection, bson_t *snap, int64_t *finished_ms)
{
	bson_error_t	 e;
	cJSON		*body, *last;

	if (storage_newest(ctx->mongo, "ok", projection, snap, &e)) {
		*finished_ms = mongo_get_date(snap, "finished_at", 0);
		return true;
	}
	if (e.code != 0) {
		api_storage_db_error(ctx, resp, &e, "storage snapshots");
		return false;
	}
	body = resp_error_body("no_snapshot", "no storage snapshot yet: run "
	    "`silo storage refresh` (or POST /api/storage/refresh, scope "
	    "run:storage)");
	if ((last = api_storage_last_attempt(ctx)) != NULL)
		cJSON_AddItemToObject(body, "last_attempt", last);
	resp_json(resp, 503, body);
	return false;
}

/* ------------------------------------------------------------------ */
/* Handlers                                                            */
/* ------------------------------------------------------------------ */

/* usage's fields, from the snapshot as JSON (fields are moved out). */
static cJSON *
api_storage_usage_of(cJSON *snap)
{
	static const char *const fields[] = { "users", "guest", "unattributed",
	    "duration_ms", NULL };
	cJSON		*o = cJSON_CreateObject(), *totals;
	double		 bytes;

	for (const char *const *f = fields; *f != NULL; f++)
		api_storage_take(o, snap, *f);
	totals = cJSON_GetObjectItem(snap, "totals");
	bytes = cJSON_GetNumberValue(cJSON_GetObjectItem(totals, "bytes"));
	cJSON_AddNumberToObject(o, "bytes", bytes);
	cJSON_AddNumberToObject(o, "gb",
	    (double)(((int64_t)bytes + 500000) / 1000000) / 1000);
	cJSON_AddNumberToObject(o, "gib",
	    (double)(((int64_t)bytes * 1000 + (1 << 29)) >> 30) / 1000);
	cJSON_AddNumberToObject(o, "objects", cJSON_GetNumberValue(
	    cJSON_GetObjectItem(totals, "objects")));
	cJSON_AddNumberToObject(o, "buckets",
	    (double)cJSON_GetArraySize(cJSON_GetObjectItem(snap, "buckets")));
	return o;
}

/* buckets' fields, from the snapshot as JSON (fields are moved out). */
static cJSON *
api_storage_buckets_of(cJSON *snap)
{
	static const char *const fields[] = { "totals", "buckets", "types",
	    "largest", NULL };
	cJSON		*o = cJSON_CreateObject();

	for (const char *const *f = fields; *f != NULL; f++)
		api_storage_take(o, snap, *f);
	return o;
}

/* top-users' fields: the limit biggest users of snap (its brief); NULL
 * with e set on a database error. */
static cJSON *
api_storage_top_of(struct silo_ctx *ctx, const bson_t *snap, long limit,
    bson_error_t *e)
{
	bson_t		*filter, *opts;
	bson_iter_t	 it;
	cJSON		*o = NULL, *list, *row;
	int		 rank = 0;

	bson_iter_init_find(&it, snap, "_id");
	filter = BCON_NEW("snapshot_id", BCON_OID(bson_iter_oid(&it)));
	opts = BCON_NEW("sort", "{", "bytes", BCON_INT32(-1), "user",
	    BCON_INT32(1), "}", "limit", BCON_INT64(limit), "projection", "{",
	    "_id", BCON_INT32(0), "user", BCON_INT32(1), "handle",
	    BCON_INT32(1), "bytes", BCON_INT32(1), "objects", BCON_INT32(1),
	    "}");
	if ((list = mongo_find_json(ctx->mongo, STORAGE_DB, STORAGE_USERS,
	    filter, opts, e)) != NULL) {
		o = cJSON_CreateObject();
		cJSON_AddNumberToObject(o, "limit", (double)limit);
		cJSON_AddNumberToObject(o, "users_with_objects",
		    (double)mongo_get_int64(snap, "users.count", 0));
		cJSON_ArrayForEach(row, list)
			cJSON_AddNumberToObject(row, "rank", ++rank);
		cJSON_AddItemToObject(o, "users", list);
	}
	bson_destroy(filter);
	bson_destroy(opts);
	return o;
}

/* history's fields: the limit newest good snapshots, oldest first, and
 * the last attempt; NULL with e set on a database error. */
static cJSON *
api_storage_history_of(struct silo_ctx *ctx, long limit, bson_error_t *e)
{
	bson_t		*filter, *opts;
	cJSON		*o = NULL, *list, *points, *p, *last;

	filter = BCON_NEW("status", BCON_UTF8("ok"));
	opts = BCON_NEW("sort", "{", "finished_at", BCON_INT32(-1), "}",
	    "limit", BCON_INT64(limit), "projection", "{", "_id", BCON_INT32(0),
	    "finished_at", BCON_INT32(1), "totals", BCON_INT32(1),
	    "duration_ms", BCON_INT32(1), "}");
	if ((list = mongo_find_json(ctx->mongo, STORAGE_DB,
	    STORAGE_SNAPSHOTS, filter, opts, e)) != NULL) {
		o = cJSON_CreateObject();
		points = cJSON_AddArrayToObject(o, "points");
		/* Newest first from the query; oldest first, as a chart
		 * draws them. */
		cJSON_ArrayForEach(p, list) {
			cJSON	*pt = cJSON_CreateObject(), *t;

			api_storage_take(pt, p, "finished_at");
			t = cJSON_GetObjectItem(p, "totals");
			api_storage_take(pt, t, "bytes");
			api_storage_take(pt, t, "objects");
			api_storage_take(pt, p, "duration_ms");
			cJSON_InsertItemInArray(points, 0, pt);
		}
		cJSON_Delete(list);
		if ((last = api_storage_last_attempt(ctx)) != NULL)
			cJSON_AddItemToObject(o, "last_attempt", last);
	}
	bson_destroy(filter);
	bson_destroy(opts);
	return o;
}

/*
 * The answers to usage, buckets, top-users and history with their default
 * limits, for the good snapshot snap (all of it), as
 * {"usage": {...}, "buckets": ..., "top_users": ..., "history": ...},
 * each without snapshot_at and age_s, which are added when served.  NULL
 * with e set on a database error.  The refresh stores them
 * (storage.c); a miss on a snapshot it did not render makes them here.
 */
cJSON *
api_storage_render(struct silo_ctx *ctx, const bson_t *snap, bson_error_t *e)
{
	cJSON	*all = cJSON_CreateObject(), *part;
	cJSON	*rest = mongo_doc_json(snap, false);

	cJSON_AddItemToObject(all, "usage", api_storage_usage_of(rest));
	cJSON_AddItemToObject(all, "buckets", api_storage_buckets_of(rest));
	cJSON_Delete(rest);
	if ((part = api_storage_top_of(ctx, snap, API_STORAGE_TOP_DEFAULT,
	    e)) == NULL)
		goto fail;
	cJSON_AddItemToObject(all, "top_users", part);
	if ((part = api_storage_history_of(ctx, API_STORAGE_HIST_DEFAULT,
	    e)) == NULL)
		goto fail;
	cJSON_AddItemToObject(all, "history", part);
	return all;
fail:
	cJSON_Delete(all);
	return NULL;
}

/* What a default answer's cache fill needs, and how it ended. */
struct storage_fill {
	const char	*part;		/* "usage", "buckets", ... */
	bool		 none;		/* there is no good snapshot */
	bson_error_t	 e;		/* the database's error, if any */
	const char	*doing;		/* what was being read */
};

/* The part of the snapshot's stored answers, or of answers rendered now
 * if no refresh stored them; NULL with sf set on an error. */
static cJSON *
api_storage_part(struct silo_ctx *ctx, struct storage_fill *sf,
    const bson_t *brief)
{
	bson_iter_t	 it;
	bson_t		 doc, *filter, *opts;
	cJSON		*all, *part = NULL;

	bson_iter_init_find(&it, brief, "_id");
	filter = BCON_NEW("_id", BCON_OID(bson_iter_oid(&it)));
	opts = BCON_NEW("projection", "{", sf->part, BCON_INT32(1), "}");
	if (mongo_find_one(ctx->mongo, STORAGE_DB, STORAGE_ANSWERS, filter,
	    opts, &doc, &sf->e)) {
		all = mongo_doc_json(&doc, false);
		part = cJSON_DetachItemFromObjectCaseSensitive(all, sf->part);
		cJSON_Delete(all);
		bson_destroy(&doc);
		if (part == NULL)
			sf->doing = STORAGE_ANSWERS " without the part";
	} else if (sf->e.code != 0)
		sf->doing = STORAGE_ANSWERS;
	else if (!storage_newest(ctx->mongo, "ok", NULL, &doc, &sf->e))
		sf->doing = "storage snapshots";	/* gone since */
	else {
		if ((all = api_storage_render(ctx, &doc, &sf->e)) != NULL)
			part = cJSON_DetachItemFromObjectCaseSensitive(all,
			    sf->part);
		else
			sf->doing = "storage answers";
		cJSON_Delete(all);
		bson_destroy(&doc);
	}
	bson_destroy(filter);
	bson_destroy(opts);
	return part;
}

/* Move every field of part (deleted then) into o, in order. */
static void
api_storage_merge(cJSON *o, cJSON *part)
{
	cJSON	*f;

	while ((f = part != NULL ? part->child : NULL) != NULL) {
		cJSON_DetachItemViaPointer(part, f);
		cJSON_AddItemToObject(o, f->string, f);
	}
	cJSON_Delete(part);
}

/*
 * The cache's fill for a default answer: api_storage_value() and its
 * part's fields.  NULL (and nothing cached) when there is no good
 * snapshot (sf->none) or the database failed.
 */
static cJSON *
api_storage_fill(struct silo_ctx *ctx, void *arg, bool *keep)
{
	struct storage_fill *sf = arg;
	bson_t		*brief = BCON_NEW("_id", BCON_INT32(1), "finished_at",
			    BCON_INT32(1));
	bson_t		 snap;
	cJSON		*wrap = NULL, *part;

	*keep = false;
	if (!storage_newest(ctx->mongo, "ok", brief, &snap, &sf->e)) {
		sf->none = sf->e.code == 0;
		sf->doing = "storage snapshots";
		goto out;
	}
	if ((part = api_storage_part(ctx, sf, &snap)) != NULL) {
		wrap = api_storage_value(mongo_get_date(&snap, "finished_at",
		    0));
		api_storage_merge(wrap, part);
		*keep = true;
	}
	bson_destroy(&snap);
out:
	bson_destroy(brief);
	return wrap;
}

/*
 * The cache's fill for the newest good snapshot's id, time and user count
 * ("storage-latest"), which user/:id and the other limits need; NULL
 * (and nothing cached) when there is none or the database failed.
 */
static cJSON *
api_storage_latest_fill(struct silo_ctx *ctx, void *arg, bool *keep)
{
	struct storage_fill *sf = arg;
	bson_t		*brief = BCON_NEW("finished_at", BCON_INT32(1),
			    "users.count", BCON_INT32(1));
	bson_t		 snap;
	bson_iter_t	 it;
	char		 oid[25];
	cJSON		*o = NULL;

	*keep = false;
	if (!storage_newest(ctx->mongo, "ok", brief, &snap, &sf->e)) {
		sf->none = sf->e.code == 0;
		sf->doing = "storage snapshots";
	} else {
		bson_iter_init_find(&it, &snap, "_id");
		bson_oid_to_string(bson_iter_oid(&it), oid);
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "id", oid);
		cJSON_AddNumberToObject(o, "finished_ms",
		    (double)mongo_get_date(&snap, "finished_at", 0));
		cJSON_AddNumberToObject(o, "users_count",
		    (double)mongo_get_int64(&snap, "users.count", 0));
		bson_destroy(&snap);
		*keep = true;
	}
	bson_destroy(brief);
	return o;
}

/*
 * The newest good snapshot's _id and users.count into snap (the caller
 * destroys it) and its finished_at, from the shared cache; false with
 * resp filled in when there is none (503 no_snapshot) or the database
 * failed.
 */
static bool
api_storage_latest_brief(struct silo_ctx *ctx, struct silo_response *resp,
    bson_t *snap, int64_t *finished_ms)
{
	struct storage_fill sf = { .part = "latest" };
	bson_oid_t	 oid;
	bson_t		 users;
	const char	*id;
	cJSON		*o;

	if ((o = cache_get(ctx, "storage-latest", api_storage_latest_fill,
	    &sf)) == NULL) {
		if (!sf.none)
			api_storage_db_error(ctx, resp, &sf.e, sf.doing);
		else
			return api_storage_latest(ctx, resp, NULL, snap,
			    finished_ms);	/* the 503, or one just made */
		return false;
	}
	id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "id"));
	if (id == NULL || !bson_oid_is_valid(id, strlen(id))) {
		cJSON_Delete(o);
		resp_error(resp, 500, "internal", "a cached answer is damaged");
		return false;
	}
	bson_oid_init_from_string(&oid, id);
	*finished_ms = (int64_t)cJSON_GetNumberValue(
	    cJSON_GetObjectItemCaseSensitive(o, "finished_ms"));
	bson_init(snap);
	BSON_APPEND_OID(snap, "_id", &oid);
	BSON_APPEND_DOCUMENT_BEGIN(snap, "users", &users);
	BSON_APPEND_INT64(&users, "count", (int64_t)cJSON_GetNumberValue(
	    cJSON_GetObjectItemCaseSensitive(o, "users_count")));
	bson_append_document_end(snap, &users);
	cJSON_Delete(o);
	return true;
}

/* Answer with part's fields (taken) after the snapshot's time and age. */
static void
api_storage_send(struct silo_response *resp, int64_t finished_ms,
    cJSON *part)
{
	cJSON	*body = api_storage_body(finished_ms);

	api_storage_merge(body, part);
	resp_json(resp, 200, body);
}

/* A default answer, from the shared cache under "storage-<part>". */
static void
api_storage_cached(struct silo_ctx *ctx, struct silo_response *resp,
    const char *part)
{
	struct storage_fill sf = { .part = part };
	char		 key[64], *text;
	double		 made;
	bson_t		 snap;
	int64_t		 at;

	snprintf(key, sizeof(key), "storage-%s", part);
	if ((text = cache_get_text(ctx, key, api_storage_fill, &sf,
	    &made)) != NULL)
		api_storage_send_text(resp, text);
	else if (!sf.none)
		api_storage_db_error(ctx, resp, &sf.e, sf.doing);
	else if (api_storage_latest(ctx, resp, NULL, &snap, &at)) {
		/* The first one was recorded since: ask again. */
		bson_destroy(&snap);
		resp_error(resp, 503, "no_snapshot", "the first storage "
		    "snapshot is being recorded: ask again");
	}
}

void
api_storage_usage(struct silo_ctx *ctx, const struct silo_request *req,
    struct silo_response *resp)
{
	api_storage_cached(ctx, resp, "usage");
}

void
api_storage_buckets(struct silo_ctx *ctx, const struct silo_request *req,
    struct silo_response *resp)
{
	api_storage_cached(ctx, resp, "buckets");
}

/* A ?limit in [1, max], default dflt; -1 with a 400 when it is not. */
static long
api_storage_limit(const struct silo_request *req, struct silo_response *resp,
    long dflt, long max)
{
	const char	*text = query_get(&req->query, "limit");
	long		 n = dflt;

	if (text != NULL && query_int(text, 1, max, &n) == -1) {
		resp_error(resp, 400, "bad_request",
		    "limit must be a whole number from 1 to %ld, not '%.32s'",
		    max, text);
		return -1;
	}
	return n;
}

/*
 * The sub a handle, sub or DID stands for: a handle is looked up in
 * @handles; a sub in users, then @handles, by _id; a DID in users by _id
 * (a migrated user) or atproto.did, then in @handles by _id.  NULL with
 * resp filled in (404, or a database error); the caller frees it.
 * GET /api/users/:id finds its user the same way.
 */
char *
api_storage_resolve(struct silo_ctx *ctx, struct silo_response *resp,
    enum api_storage_id kind, const char *id)
{
	static const char *const colls[] = { "users", "@handles" };
	bson_t		*filter, *opts = BCON_NEW("projection", "{", "_id",
			    BCON_INT32(1), "}");
	bson_t		 doc;
	bson_error_t	 e;
	char		*sub = NULL;
	bool		 found = false;

	for (size_t i = 0; i < 2 && !found; i++) {
		if (kind == ID_HANDLE && i == 0)
			continue;
		filter = kind == ID_HANDLE ? BCON_NEW("handle", BCON_UTF8(id)) :
		    kind == ID_DID && i == 0 ? BCON_NEW("$or", "[",
			"{", "_id", BCON_UTF8(id), "}",
			"{", "atproto.did", BCON_UTF8(id), "}", "]") :
		    BCON_NEW("_id", BCON_UTF8(id));
		found = mongo_find_one(ctx->mongo, NULL, colls[i],
		    filter, opts, &doc, &e);
		bson_destroy(filter);
		if (!found && e.code != 0) {
			api_storage_db_error(ctx, resp, &e, colls[i]);
			goto out;
		}
	}
	if (!found) {
		resp_error(resp, 404, "not_found", "no user %s%.256s",
		    kind == ID_HANDLE ? "with handle @" : "", id);
		goto out;
	}
	if (mongo_get_utf8(&doc, "_id") != NULL)
		sub = strdup(mongo_get_utf8(&doc, "_id"));
	if (sub == NULL)
		resp_error(resp, 404, "not_found",
		    "user %.256s has no string id", id);
	bson_destroy(&doc);
out:
	bson_destroy(opts);
	return sub;
}

/* The handle of sub from @handles, or JSON null. */
static cJSON *
api_storage_handle(struct silo_ctx *ctx, const char *sub)
{
	bson_t		*filter = BCON_NEW("_id", BCON_UTF8(sub));
	bson_t		 doc;
	bson_error_t	 e;
	cJSON		*v = NULL;

	if (mongo_find_one(ctx->mongo, NULL, "@handles", filter, NULL,
	    &doc, &e)) {
		if (mongo_get_utf8(&doc, "handle") != NULL)
			v = cJSON_CreateString(mongo_get_utf8(&doc, "handle"));
		bson_destroy(&doc);
	}
	bson_destroy(filter);
	return v != NULL ? v : cJSON_CreateNull();
}

/* The snapshot's row for sub into row: 1 found, 0 none, -1 with resp
 * filled in on a database error. */
static int
api_storage_row(struct silo_ctx *ctx, struct silo_response *resp,
    const bson_t *snap, const char *sub, bson_t *row)
{
	bson_iter_t	 it;
	bson_error_t	 e;
	bson_t		*filter;
	bool		 found;

	bson_iter_init_find(&it, snap, "_id");
	filter = BCON_NEW("snapshot_id", BCON_OID(bson_iter_oid(&it)),
	    "user", BCON_UTF8(sub));
	found = mongo_find_one(ctx->mongo, STORAGE_DB, STORAGE_USERS,
	    filter, NULL, row, &e);
	bson_destroy(filter);
	if (!found && e.code != 0) {
		api_storage_db_error(ctx, resp, &e, STORAGE_USERS);
		return -1;
	}
	return found ? 1 : 0;
}

/*
 * The answer for the user name stands for, kind as api_storage_parse_id()
 * found it, as api_storage_value() starts one.  A sub or DID with objects
 * has a row under that very id (even if AC no longer knows the user: its
 * files are still there).  Otherwise the id is resolved through AC's
 * collections, and a user AC knows without objects gets zeros.
 */
static void
api_storage_user_live(struct silo_ctx *ctx, struct silo_response *resp,
    enum api_storage_id kind, const char *name)
{
	const char	*sub = NULL;
	char		*resolved = NULL;
	bson_t		 snap, row;
	int64_t		 at;
	int		 found = 0;
	cJSON		*body, *all;

	if (!api_storage_latest_brief(ctx, resp, &snap, &at))
		return;
	if (kind != ID_HANDLE &&
	    (found = api_storage_row(ctx, resp, &snap, name, &row)) != 0)
		sub = name;	/* a row under that very id, or an error */
	else if ((resolved = api_storage_resolve(ctx, resp, kind,
	    name)) != NULL)
		found = api_storage_row(ctx, resp, &snap, sub = resolved, &row);
	if (sub == NULL || found == -1)
		goto out;
	body = api_storage_value(at);
	cJSON_AddStringToObject(body, "user", sub);
	if (found == 1) {
		all = mongo_doc_json(&row, false);
		api_storage_take(body, all, "handle");
		api_storage_take(body, all, "bytes");
		api_storage_take(body, all, "objects");
		api_storage_take(body, all, "buckets");
		cJSON_Delete(all);
		bson_destroy(&row);
	} else {
		/* Known to AC, nothing in Spaces. */
		cJSON_AddItemToObject(body, "handle",
		    api_storage_handle(ctx, sub));
		cJSON_AddNumberToObject(body, "bytes", 0);
		cJSON_AddNumberToObject(body, "objects", 0);
		cJSON_AddArrayToObject(body, "buckets");
	}
	resp_json(resp, 200, body);
out:
	bson_destroy(&snap);
	free(resolved);
}

/* What a user answer's fill needs, and the answer when it is not 200. */
struct storage_user_fill {
	enum api_storage_id kind;	/* what name is */
	const char	*name;		/* the id asked for */
	struct silo_response other;	/* a 4xx or 5xx, uncached */
};

/* The cache's fill for a user: the 200 answer, or NULL with the other
 * answer in uf->other, not kept. */
static cJSON *
api_storage_user_fill(struct silo_ctx *ctx, void *arg, bool *keep)
{
	struct storage_user_fill *uf = arg;
	cJSON		*body = NULL;

	api_storage_user_live(ctx, &uf->other, uf->kind, uf->name);
	if (uf->other.status == 200) {
		body = uf->other.body;
		uf->other.body = NULL;
	} else
		*keep = false;
	return body;
}

/*
 * The answer for the user name stands for (api_storage_user_live()), from
 * the shared cache: a user's answer is a variant, one of the few the
 * cache keeps, and a refresh drops it.  GET /api/users/:id embeds it.
 */
void
api_storage_user_answer(struct silo_ctx *ctx, struct silo_response *resp,
    enum api_storage_id kind, const char *name)
{
	struct storage_user_fill uf = { .kind = kind, .name = name };
	char		 key[64], *text;
	double		 made;

	snprintf(key, sizeof(key), CACHE_VARIANT "storage-user-%d-%016llx",
	    (int)kind, (unsigned long long)hash_fnv1a64(name, strlen(name)));
	if ((text = cache_get_text(ctx, key, api_storage_user_fill, &uf,
	    &made)) != NULL)
		api_storage_send_text(resp, text);
	else if (uf.other.status != 0) {
		resp_json(resp, uf.other.status, uf.other.body);
		uf.other.body = NULL;
	} else
		resp_error(resp, 500, "internal", "%s: out of memory", key);
	resp_clear(&uf.other);
}

void
api_storage_user(struct silo_ctx *ctx, const struct silo_request *req,
    struct silo_response *resp)
{
	enum api_storage_id kind;
	const char	*name;
	char		 why[160];

	kind = api_storage_parse_id(req->path_params[0], &name, why,
	    sizeof(why));
	if (kind == ID_BAD)
		resp_error(resp, 400, "bad_request", "%s", why);
	else
		api_storage_user_answer(ctx, resp, kind, name);
}

void
api_storage_top_users(struct silo_ctx *ctx, const struct silo_request *req,
    struct silo_response *resp)
{
	long		 limit;
	bson_t		 snap;
	bson_error_t	 e;
	int64_t		 at;
	cJSON		*part;

	if ((limit = api_storage_limit(req, resp, API_STORAGE_TOP_DEFAULT,
	    API_STORAGE_TOP_MAX)) == -1)
		return;
	if (limit == API_STORAGE_TOP_DEFAULT) {
		api_storage_cached(ctx, resp, "top_users");
		return;
	}
	if (!api_storage_latest_brief(ctx, resp, &snap, &at))
		return;
	if ((part = api_storage_top_of(ctx, &snap, limit, &e)) == NULL)
		api_storage_db_error(ctx, resp, &e, STORAGE_USERS);
	else
		api_storage_send(resp, at, part);
	bson_destroy(&snap);
}

void
api_storage_history(struct silo_ctx *ctx, const struct silo_request *req,
    struct silo_response *resp)
{
	long		 limit;
	bson_t		 snap;
	bson_error_t	 e;
	int64_t		 at;
	cJSON		*part;

	if ((limit = api_storage_limit(req, resp, API_STORAGE_HIST_DEFAULT,
	    API_STORAGE_HIST_MAX)) == -1)
		return;
	if (limit == API_STORAGE_HIST_DEFAULT) {
		api_storage_cached(ctx, resp, "history");
		return;
	}
	if (!api_storage_latest_brief(ctx, resp, &snap, &at))
		return;
	if ((part = api_storage_history_of(ctx, limit, &e)) == NULL)
		api_storage_db_error(ctx, resp, &e, STORAGE_SNAPSHOTS);
	else
		api_storage_send(resp, at, part);
	bson_destroy(&snap);
}

/* ------------------------------------------------------------------ */
/* Starting a refresh                                                  */
/* ------------------------------------------------------------------ */

void
api_storage_refresh(struct silo_ctx *ctx, const struct silo_request *req,
    struct silo_response *resp)
{
	const struct silo_config *config = ctx->config;
	struct job		 job = {
		.lock = config->storage_lock,
		.log = config->storage_log,
		.log_var = "SILO_STORAGE_LOG",
		.what = "a storage refresh",
		.follow = "GET /api/storage/history: last_attempt changes "
		    "when it ends (status ok or failed, with its errors); "
		    "its progress is in the log",
		.args = { "storage", "refresh", NULL }
	};

	job_start(config, &job, req, resp);
}
