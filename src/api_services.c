/*
 * api_services.c: /api/services, how AC's other services are doing.
 *
 * oven     OVEN_URL's /health and /status (version, uptime, how many bakes
 *          are incoming, active and recent, grabs), and the last bakes
 *          from the oven-bakes collection;
 * session  SESSION_URL's /status, reduced to totals and connection
 *          counts.  The session server lists every client with its IP,
 *          handle and location; none of that is ever copied out: only
 *          numbers are read from clients[], and only sums leave;
 * atproto  PDS_URL's /xrpc/_health, and the ATProto sync state as the
 *          database records it (ac-platform.md §8): per collection, the
 *          documents carrying atproto.rkey against those eligible (nuked
 *          and deleted ones left out, guest content apart), users with a
 *          DID against auth0-only users, and the age of users'
 *          atproto.syncedAt; and the identity's integrity during the
 *          move to DIDs, as `silo atproto check` reports it
 *          (atproto_check.c: orphaned references, DIDs and handles
 *          mapped more than once, @handles without a user, and
 *          publishing-policy findings).
 *
 * Every answer has a status: "ok"; "degraded" when the service answered
 * but not as it should (an HTTP error, a body that is not JSON, a health
 * document that does not say ok); "unreachable" when no answer came
 * within the probe bounds.  Either way the HTTP status is 200: the
 * request was answered, the service is what is down.
 *
 * Results go through the shared cache (cache.c), one key per service, so
 * a burst of requests probes each service once per SILO_CACHE_TTL_S.
 * When several services must be refreshed together, their probes run at
 * once (probe_run), so /api/services costs one probe timeout at worst.
 *
 * The sync counts are one aggregation per collection, grouping by the
 * $type of atproto.rkey and of user and by the nuked/deleted flag: a
 * single scan gives eligible, synced, guest and leftover figures, where
 * counts with filters would scan once per figure on FerretDB.  FerretDB
 * v1 implements $type in $group, but not $cond, $min or $max
 * (docs/ferretdb.md).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "silo.h"

#define	SERVICES_MAX_PROBES	2	/* probes one service needs */
#define	OVEN_RECENT_BAKES	10	/* bakes listed from oven-bakes */
#define	BAKE_ERROR_MAX		160	/* bytes of a bake's error kept */

/* One of AC's services: how to probe it and how to read the answers. */
struct service {
	const char	*name;		/* "oven", the path segment */
	const char	*key;		/* its shared-cache key */
	size_t		(*probes)(const struct silo_config *, struct probe *);
	void		(*build)(struct silo_ctx *, struct probe *, cJSON *);
};

static double
api_services_round_ms(double ms)
{
	return (double)(int64_t)(ms * 10) / 10;
}

/* A number from a JSON object, or dflt. */
static double
api_services_number(const cJSON *obj, const char *key, double dflt)
{
	const cJSON	*v = cJSON_GetObjectItemCaseSensitive(obj, key);

	return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

/* The length of an array member, or -1 when it is not an array. */
static int
api_services_array_len(const cJSON *obj, const char *key)
{
	const cJSON	*v = cJSON_GetObjectItemCaseSensitive(obj, key);

	return cJSON_IsArray(v) ? cJSON_GetArraySize(v) : -1;
}

static void
api_services_count_or_null(cJSON *obj, const char *key, int n)
{
	if (n < 0)
		cJSON_AddNullToObject(obj, key);
	else
		resp_add_int(obj, key, n);
}

/*
 * The service's status from its probes: unreachable when none answered,
 * degraded when some answer was wrong, else ok.  Sets "status", "reason"
 * (null when ok) and "latency_ms" (the slowest probe).
 */
static void
api_services_status(cJSON *out, const struct probe *p, size_t n)
{
	const char	*reason = NULL;
	double		 latency = 0;
	size_t		 answered = 0;

	for (size_t i = 0; i < n; i++) {
		if (p[i].answered)
			answered++;
		if (!probe_ok(&p[i]) && reason == NULL)
			reason = p[i].reason;
		if (p[i].latency_ms > latency)
			latency = p[i].latency_ms;
	}
	cJSON_AddStringToObject(out, "status", answered == 0 ? "unreachable" :
	    reason != NULL ? "degraded" : "ok");
	if (reason != NULL)
		cJSON_AddStringToObject(out, "reason", reason);
	else
		cJSON_AddNullToObject(out, "reason");
	cJSON_AddNumberToObject(out, "latency_ms",
	    api_services_round_ms(latency));
}

/* Say that an answered service is degraded after all, and why. */
static void
api_services_degrade(cJSON *out, const char *why)
{
	const cJSON	*status = cJSON_GetObjectItemCaseSensitive(out,
		    "status");

	if (!cJSON_IsString(status) || strcmp(status->valuestring, "ok") != 0)
		return;
	cJSON_ReplaceItemInObjectCaseSensitive(out, "status",
	    cJSON_CreateString("degraded"));
	cJSON_ReplaceItemInObjectCaseSensitive(out, "reason",
	    cJSON_CreateString(why));
}

/* ---------------------------------------------------------------- oven */

static size_t
api_services_oven_probes(const struct silo_config *c, struct probe *p)
{
	p[0] = (struct probe){ .base = c->oven_url, .path = "/health" };
	p[1] = (struct probe){ .base = c->oven_url, .path = "/status" };
	return 2;
}

/* A bake's time: completedAt is Date.now() stored as a number (ms), but
 * a Date is read too. */
static void
api_services_bake_time(cJSON *o, const char *key, const bson_t *doc,
    const char *field)
{
	bson_iter_t	 it;

	if (bson_iter_init_find(&it, doc, field) &&
	    BSON_ITER_HOLDS_DATE_TIME(&it))
		resp_add_time(o, key, (double)bson_iter_date_time(&it) / 1e3);
	else if (bson_iter_init_find(&it, doc, field) &&
	    BSON_ITER_HOLDS_NUMBER(&it))
		resp_add_time(o, key, bson_iter_as_double(&it) / 1e3);
	else
		cJSON_AddNullToObject(o, key);
}

static void
api_services_bake_string(cJSON *o, const char *key, const bson_t *doc,
    const char *field, size_t max)
{
	bson_iter_t	 it;
	const char	*s;
	uint32_t	 len;
	char		*copy;

	if (!bson_iter_init_find(&it, doc, field) ||
	    !BSON_ITER_HOLDS_UTF8(&it)) {
		cJSON_AddNullToObject(o, key);
		return;
	}
	s = bson_iter_utf8(&it, &len);
	if (len > max) {
		/* Cut at a character boundary, on the first line. */
		while (max > 0 && ((unsigned char)s[max] & 0xc0) == 0x80)
			max--;
		len = (uint32_t)max;
	}
	if ((copy = strndup(s, len)) == NULL)
		return;
	copy[strcspn(copy, "\n")] = '\0';
	cJSON_AddStringToObject(o, key, copy);
	free(copy);
}

static int
api_services_bake(const bson_t *doc, void *arg)
{
	cJSON		*o = cJSON_CreateObject();
	bson_iter_t	 it;

	api_services_bake_string(o, "code", doc, "code", 64);
	api_services_bake_string(o, "slug", doc, "slug", 128);
	api_services_bake_string(o, "status", doc, "status", 32);
	if (bson_iter_init_find(&it, doc, "success") &&
	    BSON_ITER_HOLDS_BOOL(&it))
		cJSON_AddBoolToObject(o, "success", bson_iter_bool(&it));
	else
		cJSON_AddNullToObject(o, "success");
	api_services_bake_time(o, "completed_at", doc, "completedAt");
	if (bson_iter_init_find(&it, doc, "duration") &&
	    BSON_ITER_HOLDS_NUMBER(&it))
		resp_add_int(o, "duration_ms", bson_iter_as_int64(&it));
	else
		cJSON_AddNullToObject(o, "duration_ms");
	api_services_bake_string(o, "error", doc, "error", BAKE_ERROR_MAX);
	cJSON_AddItemToArray(arg, o);
	return 0;
}

/* The last bakes, newest first, from oven-bakes. */
static void
api_services_oven_bakes(struct silo_ctx *ctx, cJSON *out)
{
	bson_t		*filter = bson_new();
	bson_t		*opts = BCON_NEW("sort", "{",
				"completedAt", BCON_INT32(-1), "}",
			    "limit", BCON_INT64(OVEN_RECENT_BAKES),
			    "projection", "{", "code", BCON_INT32(1),
				"slug", BCON_INT32(1), "status", BCON_INT32(1),
				"success", BCON_INT32(1),
				"completedAt", BCON_INT32(1),
				"duration", BCON_INT32(1),
				"error", BCON_INT32(1), "}");
	cJSON		*bakes = cJSON_CreateArray();
	struct mongo_fail f;

	if (mongo_find_each(ctx->mongo, NULL, "oven-bakes", filter, opts,
	    api_services_bake, bakes, &f.error)) {
		cJSON_AddItemToObject(out, "recent_bakes", bakes);
		cJSON_AddNullToObject(out, "recent_bakes_error");
	} else {
		cJSON_Delete(bakes);
		snprintf(f.doing, sizeof(f.doing), "oven-bakes");
		cJSON_AddNullToObject(out, "recent_bakes");
		cJSON_AddItemToObject(out, "recent_bakes_error",
		    mongo_fail_json(&f));
	}
	bson_destroy(filter);
	bson_destroy(opts);
}

static void
api_services_oven_build(struct silo_ctx *ctx, struct probe *p, cJSON *out)
{
	const cJSON	*health = p[0].json, *st = p[1].json, *v, *grabs;
	cJSON		*counts, *g;

	cJSON_AddStringToObject(out, "url", ctx->config->oven_url);
	api_services_status(out, p, 2);
	v = cJSON_GetObjectItemCaseSensitive(health, "status");
	if (probe_ok(&p[0]) &&
	    !(cJSON_IsString(v) && strcmp(v->valuestring, "ok") == 0))
		api_services_degrade(out, "/health does not say status ok");
	cJSON_AddStringToObject(out, "health",
	    cJSON_IsString(v) ? v->valuestring : "");
	if (!probe_ok(&p[1]))
		st = NULL;
	v = cJSON_GetObjectItemCaseSensitive(st, "version");
	if (cJSON_IsString(v))
		cJSON_AddStringToObject(out, "version", v->valuestring);
	else
		cJSON_AddNullToObject(out, "version");
	if (cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(st, "uptime")))
		cJSON_AddNumberToObject(out, "uptime",
		    api_services_number(st, "uptime", 0));
	else
		cJSON_AddNullToObject(out, "uptime");
	counts = cJSON_AddObjectToObject(out, "bakes");
	api_services_count_or_null(counts, "incoming",
	    api_services_array_len(st, "incoming"));
	api_services_count_or_null(counts, "active",
	    api_services_array_len(st, "active"));
	api_services_count_or_null(counts, "recent",
	    api_services_array_len(st, "recent"));
	grabs = cJSON_GetObjectItemCaseSensitive(st, "grabs");
	g = cJSON_AddObjectToObject(out, "grabs");
	api_services_count_or_null(g, "active",
	    api_services_array_len(grabs, "active"));
	api_services_count_or_null(g, "recent",
	    api_services_array_len(grabs, "recent"));
	api_services_oven_bakes(ctx, out);
}

/* ---------------------------------------------------------------- session */

static size_t
api_services_session_probes(const struct silo_config *c, struct probe *p)
{
	p[0] = (struct probe){ .base = c->session_url, .path = "/status" };
	return 1;
}

/* Sum the connection counts over clients[]: numbers only leave. */
static void
api_services_session_connections(const cJSON *clients, cJSON *out)
{
	const cJSON	*cl;
	double		 ws = 0, udp = 0, total = 0;
	int64_t		 tabs = 0;

	cJSON_ArrayForEach(cl, clients) {
		const cJSON *cc = cJSON_GetObjectItemCaseSensitive(cl,
		    "connectionCount");

		ws += api_services_number(cc, "websocket", 0);
		udp += api_services_number(cc, "udp", 0);
		total += api_services_number(cc, "total", 0);
		if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(cl,
		    "multipleTabs")))
			tabs++;
	}
	resp_add_int(out, "clients", cJSON_GetArraySize(clients));
	resp_add_int(out, "websocket", (int64_t)ws);
	resp_add_int(out, "udp", (int64_t)udp);
	resp_add_int(out, "total", (int64_t)total);
	resp_add_int(out, "multiple_tabs", tabs);
}

static void
api_services_session_build(struct silo_ctx *ctx, struct probe *p, cJSON *out)
{
	const cJSON	*st = probe_ok(&p[0]) ? p[0].json : NULL;
	const cJSON	*server, *totals, *clients, *v;
	cJSON		*t, *conns;

	cJSON_AddStringToObject(out, "url", ctx->config->session_url);
	api_services_status(out, p, 1);
	server = cJSON_GetObjectItemCaseSensitive(st, "server");
	totals = cJSON_GetObjectItemCaseSensitive(st, "totals");
	clients = cJSON_GetObjectItemCaseSensitive(st, "clients");
	if (st != NULL && !cJSON_IsObject(totals))
		api_services_degrade(out, "/status has no totals");
	if (cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(server, "uptime")))
		cJSON_AddNumberToObject(out, "uptime_s",
		    api_services_number(server, "uptime", 0));
	else
		cJSON_AddNullToObject(out, "uptime_s");
	v = cJSON_GetObjectItemCaseSensitive(server, "environment");
	if (cJSON_IsString(v) && strlen(v->valuestring) < 32)
		cJSON_AddStringToObject(out, "environment", v->valuestring);
	else
		cJSON_AddNullToObject(out, "environment");
	if (cJSON_IsObject(totals)) {
		t = cJSON_AddObjectToObject(out, "totals");
		resp_add_int(t, "websocket",
		    (int64_t)api_services_number(totals, "websocket", 0));
		resp_add_int(t, "udp",
		    (int64_t)api_services_number(totals, "udp", 0));
		resp_add_int(t, "unique_clients",
		    (int64_t)api_services_number(totals, "unique_clients", 0));
	} else
		cJSON_AddNullToObject(out, "totals");
	if (cJSON_IsArray(clients)) {
		conns = cJSON_AddObjectToObject(out, "connections");
		api_services_session_connections(clients, conns);
	} else
		cJSON_AddNullToObject(out, "connections");
}

/* ---------------------------------------------------------------- atproto */

/* Sums for one collection, from its group rows. */
struct sync_sums {
	int64_t		 eligible[2];	/* [0] users', [1] guests' */
	int64_t		 synced[2];	/* of which carry atproto.rkey */
	int64_t		 excluded;	/* nuked or deleted */
	int64_t		 leftover;	/* excluded, yet still with an rkey */
};

static int
api_services_sync_row(const bson_t *doc, void *arg)
{
	struct sync_sums *s = arg;
	bson_iter_t	 it;
	const char	*rkey = mongo_get_utf8(doc, "_id.r");
	const char	*user = mongo_get_utf8(doc, "_id.u");
	bool		 excluded = false, synced = rkey != NULL &&
			    strcmp(rkey, "string") == 0;
	int		 guest;
	int64_t		 n = mongo_get_int64(doc, "n", 0);

	if (bson_iter_init(&it, doc) &&
	    bson_iter_find_descendant(&it, "_id.x", &it) &&
	    BSON_ITER_HOLDS_BOOL(&it))
		excluded = bson_iter_bool(&it);
	if (excluded) {
		s->excluded += n;
		if (synced)
			s->leftover += n;
		return 0;
	}
	/* user: a sub (string); absent or null is guest content. */
	guest = user == NULL || strcmp(user, "string") != 0;
	s->eligible[guest] += n;
	if (synced)
		s->synced[guest] += n;
	return 0;
}

static cJSON *
api_services_sync_part(int64_t eligible, int64_t synced)
{
	cJSON	*o = cJSON_CreateObject();

	resp_add_int(o, "eligible", eligible);
	resp_add_int(o, "synced", synced);
	return o;
}

/* One collection's sync figures; NULL with f set on error. */
static cJSON *
api_services_sync_collection(struct silo_ctx *ctx,
    const struct ac_sync_collection *sc, struct mongo_fail *f)
{
	struct sync_sums s = { 0 };
	char		 flag[64];
	bson_t		*pipeline;
	cJSON		*o;
	int64_t		 eligible, synced;

	snprintf(flag, sizeof(flag), "$%s",
	    sc->excluded ? sc->excluded : "_none");
	pipeline = BCON_NEW("pipeline", "[",
	    "{", "$group", "{",
		"_id", "{",
		    "r", "{", "$type", BCON_UTF8("$atproto.rkey"), "}",
		    "u", "{", "$type", BCON_UTF8("$user"), "}",
		    "x", BCON_UTF8(flag),
		"}",
		"n", "{", "$sum", BCON_INT32(1), "}",
	    "}", "}",
	"]");
	if (!mongo_aggregate_each(ctx->mongo, sc->name, pipeline,
	    api_services_sync_row, &s, &f->error)) {
		snprintf(f->doing, sizeof(f->doing), "sync of %s", sc->name);
		bson_destroy(pipeline);
		return NULL;
	}
	bson_destroy(pipeline);
	eligible = s.eligible[0] + s.eligible[1];
	synced = s.synced[0] + s.synced[1];
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "collection", sc->name);
	resp_add_int(o, "eligible", eligible);
	resp_add_int(o, "synced", synced);
	resp_add_int(o, "unsynced", eligible - synced);
	cJSON_AddNumberToObject(o, "percent", eligible > 0 ?
	    (double)(int64_t)(1000.0 * (double)synced / (double)eligible) /
	    10 : 0);
	cJSON_AddItemToObject(o, "user",
	    api_services_sync_part(s.eligible[0], s.synced[0]));
	cJSON_AddItemToObject(o, "guest",
	    api_services_sync_part(s.eligible[1], s.synced[1]));
	resp_add_int(o, "excluded", s.excluded);
	resp_add_int(o, "leftover_records", s.leftover);
	return o;
}

/* The newest or oldest users.atproto.syncedAt, in unix seconds, or -1. */
static int
api_services_synced_row(const bson_t *doc, void *arg)
{
	bson_iter_t	 it;

	if (bson_iter_init(&it, doc) &&
	    bson_iter_find_descendant(&it, "atproto.syncedAt", &it) &&
	    BSON_ITER_HOLDS_DATE_TIME(&it))
		*(double *)arg = (double)bson_iter_date_time(&it) / 1e3;
	return 1;
}

/* The newest (order -1) or oldest (1) syncedAt among the synced users. */
static bool
api_services_synced_edge(struct silo_ctx *ctx, const bson_t *synced,
    int order, double *at, bson_error_t *e)
{
	bson_t	*opts = BCON_NEW("sort", "{",
			"atproto.syncedAt", BCON_INT32(order), "}",
		    "limit", BCON_INT64(1),
		    "projection", "{", "atproto.syncedAt", BCON_INT32(1), "}");
	bool	 ok;

	*at = -1;
	ok = mongo_find_each(ctx->mongo, NULL, "users", synced, opts,
	    api_services_synced_row, at, e);
	bson_destroy(opts);
	return ok;
}

static void
api_services_time_and_age(cJSON *o, const char *key, const char *age_key,
    double at, double now)
{
	if (at < 0) {
		cJSON_AddNullToObject(o, key);
		cJSON_AddNullToObject(o, age_key);
		return;
	}
	resp_add_time(o, key, at);
	resp_add_int(o, age_key, (int64_t)(now - at));
}

/* Users with a DID against auth0-only users, and syncedAt's ages. */
static cJSON *
api_services_sync_users(struct silo_ctx *ctx, struct mongo_fail *f)
{
	bson_t	*registered = ac_registered_filter();
	bson_t	*with_did = ac_with_did_filter();
	bson_t	*synced = ac_registered_filter();
	int64_t	 n_users, n_did = -1, n_synced = -1;
	double	 newest = -1, oldest = -1, now = clock_real();
	cJSON	*o = NULL;

	BCON_APPEND(synced, "atproto.syncedAt", "{", "$type",
	    BCON_UTF8("date"), "}");
	if ((n_users = mongo_count(ctx->mongo, "users", registered,
	    &f->error)) < 0 ||
	    (n_did = mongo_count(ctx->mongo, "users", with_did,
	    &f->error)) < 0 ||
	    (n_synced = mongo_count(ctx->mongo, "users", synced,
	    &f->error)) < 0 ||
	    !api_services_synced_edge(ctx, synced, -1, &newest, &f->error) ||
	    !api_services_synced_edge(ctx, synced, 1, &oldest, &f->error)) {
		snprintf(f->doing, sizeof(f->doing), "sync of users");
		goto out;
	}
	o = cJSON_CreateObject();
	resp_add_int(o, "users", n_users);
	resp_add_int(o, "with_did", n_did);
	resp_add_int(o, "auth0_only", n_users - n_did);
	resp_add_int(o, "synced", n_synced);
	api_services_time_and_age(o, "newest_synced_at", "newest_synced_age_s",
	    newest, now);
	api_services_time_and_age(o, "oldest_synced_at", "oldest_synced_age_s",
	    oldest, now);
out:
	bson_destroy(registered);
	bson_destroy(with_did);
	bson_destroy(synced);
	return o;
}

/* The whole sync section; on a database error, "sync_error" says why. */
static void
api_services_atproto_sync(struct silo_ctx *ctx, cJSON *out)
{
	struct mongo_fail f;
	cJSON		*sync = cJSON_CreateObject(), *list, *one;

	list = cJSON_AddArrayToObject(sync, "collections");
	for (const struct ac_sync_collection *sc = ac_atproto_collections;
	    sc->name != NULL; sc++) {
		if ((one = api_services_sync_collection(ctx, sc, &f)) == NULL)
			goto fail;
		cJSON_AddItemToArray(list, one);
	}
	if ((one = api_services_sync_users(ctx, &f)) == NULL)
		goto fail;
	cJSON_AddItemToObject(sync, "users", one);
	cJSON_AddItemToObject(out, "sync", sync);
	cJSON_AddNullToObject(out, "sync_error");
	return;
fail:
	cJSON_Delete(sync);
	cJSON_AddNullToObject(out, "sync");
	cJSON_AddItemToObject(out, "sync_error", mongo_fail_json(&f));
}

/* The identity check; on a database error, "identity_error" says why. */
static void
api_services_atproto_identity(struct silo_ctx *ctx, cJSON *out)
{
	struct mongo_fail f;
	cJSON		*identity = atproto_check_json(ctx->mongo, &f);

	if (identity == NULL) {
		cJSON_AddNullToObject(out, "identity");
		cJSON_AddItemToObject(out, "identity_error",
		    mongo_fail_json(&f));
		return;
	}
	cJSON_AddItemToObject(out, "identity", identity);
	cJSON_AddNullToObject(out, "identity_error");
}

static size_t
api_services_atproto_probes(const struct silo_config *c, struct probe *p)
{
	p[0] = (struct probe){ .base = c->pds_url, .path = "/xrpc/_health" };
	return 1;
}

static void
api_services_atproto_build(struct silo_ctx *ctx, struct probe *p, cJSON *out)
{
	const cJSON	*v = probe_ok(&p[0]) ?
	    cJSON_GetObjectItemCaseSensitive(p[0].json, "version") : NULL;

	cJSON_AddStringToObject(out, "url", ctx->config->pds_url);
	api_services_status(out, p, 1);
	if (probe_ok(&p[0]) && !cJSON_IsString(v))
		api_services_degrade(out, "/xrpc/_health has no version");
	if (cJSON_IsString(v))
		cJSON_AddStringToObject(out, "version", v->valuestring);
	else
		cJSON_AddNullToObject(out, "version");
	api_services_atproto_sync(ctx, out);
	api_services_atproto_identity(ctx, out);
}

/* ---------------------------------------------------------------- all */

static const struct service services[] = {
	{ "oven", "service-oven",
	    api_services_oven_probes, api_services_oven_build },
	{ "session", "service-session",
	    api_services_session_probes, api_services_session_build },
	{ "atproto", "service-atproto",
	    api_services_atproto_probes, api_services_atproto_build },
};
#define	NSERVICES	(sizeof(services) / sizeof(services[0]))

/*
 * The answers for the services whose bit is set in mask, into out[] by
 * index: from the cache where fresh, else probed (all at once) and stored.
 */
void
api_services_collect(struct silo_ctx *ctx, unsigned mask, cJSON *out[])
{
	struct cache_slot slots[NSERVICES];
	struct probe	 probes[NSERVICES * SERVICES_MAX_PROBES];
	size_t		 first[NSERVICES], count[NSERVICES], n = 0;

	for (size_t i = 0; i < NSERVICES; i++) {
		out[i] = NULL;
		count[i] = 0;
		if (!(mask & (1u << i)))
			continue;
		cache_open(ctx->config, services[i].key, &slots[i]);
		if (slots[i].must_fill) {
			first[i] = n;
			count[i] = services[i].probes(ctx->config, &probes[n]);
			n += count[i];
		}
	}
	if (n > 0)
		probe_run(ctx->config, probes, n);
	for (size_t i = 0; i < NSERVICES; i++) {
		if (!(mask & (1u << i)))
			continue;
		if (slots[i].must_fill) {
			out[i] = cJSON_CreateObject();
			cJSON_AddStringToObject(out[i], "service",
			    services[i].name);
			services[i].build(ctx, &probes[first[i]], out[i]);
			cache_store(ctx->config, &slots[i], out[i]);
		} else {
			out[i] = slots[i].value;
			slots[i].value = NULL;
		}
		cache_stamp(out[i], slots[i].cached_at);
		cache_close(&slots[i]);
	}
	probe_free(probes, n);
}

size_t
api_services_count(void)
{
	return NSERVICES;
}

static void
api_services_answer_one(struct silo_ctx *ctx, struct silo_response *resp,
    size_t which)
{
	cJSON	*out[NSERVICES];

	api_services_collect(ctx, 1u << which, out);
	resp_json(resp, 200, out[which]);
}

void
api_services_oven(struct silo_ctx *ctx, const struct silo_request *req,
    struct silo_response *resp)
{
	api_services_answer_one(ctx, resp, 0);
}

void
api_services_session(struct silo_ctx *ctx, const struct silo_request *req,
    struct silo_response *resp)
{
	api_services_answer_one(ctx, resp, 1);
}

void
api_services_atproto(struct silo_ctx *ctx, const struct silo_request *req,
    struct silo_response *resp)
{
	api_services_answer_one(ctx, resp, 2);
}

void
api_services_all(struct silo_ctx *ctx, const struct silo_request *req,
    struct silo_response *resp)
{
	cJSON	*out[NSERVICES], *body = cJSON_CreateObject(), *list;
	size_t	 up = 0;

	api_services_collect(ctx, (1u << NSERVICES) - 1, out);
	list = cJSON_AddObjectToObject(body, "services");
	for (size_t i = 0; i < NSERVICES; i++) {
		const cJSON *st = cJSON_GetObjectItemCaseSensitive(out[i],
		    "status");

		if (cJSON_IsString(st) && strcmp(st->valuestring, "ok") == 0)
			up++;
		cJSON_AddItemToObject(list, services[i].name, out[i]);
	}
	cJSON_AddStringToObject(body, "status",
	    up == NSERVICES ? "ok" : "degraded");
	resp_add_int(body, "ok", (int64_t)up);
	resp_add_int(body, "total", NSERVICES);
	resp_json(resp, 200, body);
}
