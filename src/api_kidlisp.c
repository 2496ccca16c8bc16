/*
 * api_kidlisp.c: /api/kidlisp/stats, KidLisp as the keeps team sees it.
 *
 * total    every piece of KidLisp stored (collStats' count: no scan);
 * keeps    how many are kept (minted on Tezos, `kept`), being kept
 *          (`pendingKeep`), and carry the legacy `tezos` state, minted or
 *          not: one $group over the $type of each field, one scan;
 * created  pieces created per day or per week over a window of `days`
 *          ending on `until` (a UTC date, today by default);
 * top      the most-hit pieces, with their creator's handle;
 * recent_keeps  the last pieces kept: code, handle, when, hits, network.
 *
 * Sources are not served unless asked for: `source=N` adds the first N
 * bytes (cut at a character boundary, at most 4096) of each listed
 * piece's source, so the answer stays small whatever people write.
 *
 * FerretDB v1 implements no date operator ($dateToString, $year, ...),
 * so the created series is bucketed here in C from the `when` of the
 * pieces in the window, read with a projection.  mongod could group on
 * the server; one code path for both is worth the transfer, which the
 * window bounds (docs/ferretdb.md).  Handles come from @handles by _id
 * in one batched $in per list: FerretDB has no $lookup.
 *
 * Answers go through the shared cache, one key per set of parameters;
 * a database error is a 503/502 and is not cached.  The default set (what
 * the dashboard and the overview ask) has its own key; any other set is a
 * variant (CACHE_VARIANT), of which the cache keeps a few, the newest
 * SILO_CACHE_MAX_VARIANTS, so trying combinations can neither fill the
 * disk nor evict the dashboard's answer.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "silo.h"

#define	KIDLISP_DAY_MS		86400000LL
#define	KIDLISP_MAX_DAYS	366	/* longest window */
#define	KIDLISP_MAX_LIST	100	/* longest top or recent list */
#define	KIDLISP_MAX_SOURCE	4096	/* most source bytes per piece */
#define	KIDLISP_MAX_BUCKETS	KIDLISP_MAX_DAYS

/* The parameters of one request, checked. */
struct kidlisp_params {
	int		 days;		/* window length in days */
	bool		 weekly;	/* buckets of 7 days, else 1 */
	int64_t		 until_ms;	/* 00:00 UTC of the window's last day */
	int		 top;		/* length of the top list */
	int		 recent;	/* length of the recent keeps list */
	int		 source;	/* source bytes per listed piece */
};

/* What a fill needs, and how it failed. */
struct kidlisp_fill {
	const struct kidlisp_params *params; /* what was asked */
	bool		 failed;	/* fail is set */
	struct mongo_fail fail;	/* the database error */
};

/* A piece listed in top or recent_keeps, until its handle is known. */
struct kidlisp_list {
	cJSON		*items;		/* the JSON array being built */
	bson_t		 subs;		/* the creators' subs, as an array */
	int		 nsubs;		/* how many */
	int		 source;	/* source bytes to include */
	bool		 keeps;		/* reading kept.* too */
};

static void
api_kidlisp_add_day(cJSON *obj, const char *key, int64_t ms)
{
	char	 day[CLOCK_ISO_MAX];

	if (clock_iso(ms, CLOCK_ISO_DAY, day, sizeof(day)))
		cJSON_AddStringToObject(obj, key, day);
	else
		cJSON_AddNullToObject(obj, key);
}

/* ------------------------------------------------------------- params */

static int
api_kidlisp_param_int(const struct silo_request *req, const char *key,
    int dflt, int min, int max, int *out, struct silo_response *resp)
{
	const char	*v = query_get(&req->query, key);
	long		 n = dflt;

	if (v != NULL && query_int(v, min, max, &n) == -1) {
		resp_error(resp, 400, "bad_request",
		    "%s='%.32s': expected a whole number from %d to %d", key, v,
		    min, max);
		return -1;
	}
	*out = (int)n;
	return 0;
}

/* YYYY-MM-DD, a real date from 2000 to 2100, as ms at its midnight UTC. */
static int
api_kidlisp_param_date(const char *v, int64_t *ms)
{
	struct tm	 tm = { 0 };
	int		 y, m, d, used = 0;
	time_t		 t;

	if (strlen(v) != 10 ||
	    sscanf(v, "%4d-%2d-%2d%n", &y, &m, &d, &used) != 3 ||
	    used != 10 || y < 2000 || y > 2100 || m < 1 || m > 12 ||
	    d < 1 || d > 31)
		return -1;
	tm.tm_year = y - 1900;
	tm.tm_mon = m - 1;
	tm.tm_mday = d;
	t = timegm(&tm);
	gmtime_r(&t, &tm);
	if (tm.tm_mday != d)	/* 2026-02-30 rolled over */
		return -1;
	*ms = (int64_t)t * 1000;
	return 0;
}

/*
 * The parameters of a request that gives none: the last 30 days by day,
 * ten top and ten recent pieces, no sources, until today's midnight (UTC).
 * The overview's headline asks exactly this, so that it shares the
 * dashboard panel's cache entry.
 */
static void
api_kidlisp_params_default(struct kidlisp_params *p)
{
	memset(p, 0, sizeof(*p));
	p->days = 30;
	p->top = 10;
	p->recent = 10;
	p->until_ms = ((int64_t)time(NULL) * 1000) / KIDLISP_DAY_MS *
	    KIDLISP_DAY_MS;
}

static bool
api_kidlisp_params_equal(const struct kidlisp_params *a,
    const struct kidlisp_params *b)
{
	return a->days == b->days && a->weekly == b->weekly &&
	    a->until_ms == b->until_ms && a->top == b->top &&
	    a->recent == b->recent && a->source == b->source;
}

static int
api_kidlisp_params_parse(const struct silo_request *req,
    struct kidlisp_params *p, struct silo_response *resp)
{
	const char	*bucket = query_get(&req->query, "bucket");
	const char	*until = query_get(&req->query, "until");

	api_kidlisp_params_default(p);
	if (api_kidlisp_param_int(req, "days", p->days, 1, KIDLISP_MAX_DAYS,
	    &p->days, resp) == -1 ||
	    api_kidlisp_param_int(req, "top", p->top, 0, KIDLISP_MAX_LIST,
	    &p->top, resp) == -1 ||
	    api_kidlisp_param_int(req, "recent", p->recent, 0,
	    KIDLISP_MAX_LIST, &p->recent, resp) == -1 ||
	    api_kidlisp_param_int(req, "source", p->source, 0,
	    KIDLISP_MAX_SOURCE, &p->source, resp) == -1)
		return -1;
	if (bucket != NULL && strcmp(bucket, "day") != 0 &&
	    strcmp(bucket, "week") != 0) {
		resp_error(resp, 400, "bad_request",
		    "bucket='%.32s': expected day or week", bucket);
		return -1;
	}
	p->weekly = bucket != NULL && strcmp(bucket, "week") == 0;
	if (until == NULL)
		return 0;
	if (api_kidlisp_param_date(until, &p->until_ms) == -1) {
		resp_error(resp, 400, "bad_request",
		    "until='%.32s': expected a date YYYY-MM-DD "
		    "from 2000 to 2100", until);
		return -1;
	}
	return 0;
}

/* -------------------------------------------------------------- keeps */

/* Sums of the keep/mint state. */
struct keep_sums {
	int64_t		 kept;		/* kept{} is an object */
	int64_t		 pending;	/* pendingKeep{} is an object */
	int64_t		 tezos;		/* legacy tezos{} is an object */
	int64_t		 tezos_minted;	/* of which tezos.minted is true */
};

/* The $type a group key holds: "object", "missing", ... */
static bool
api_kidlisp_type_is(const bson_t *doc, const char *dotted, const char *type)
{
	const char	*t = mongo_get_utf8(doc, dotted);

	return t != NULL && strcmp(t, type) == 0;
}

static int
api_kidlisp_keep_row(const bson_t *doc, void *arg)
{
	struct keep_sums *s = arg;
	int64_t		 n = mongo_get_int64(doc, "n", 0);
	bson_iter_t	 it;

	if (api_kidlisp_type_is(doc, "_id.k", "object"))
		s->kept += n;
	if (api_kidlisp_type_is(doc, "_id.p", "object"))
		s->pending += n;
	if (api_kidlisp_type_is(doc, "_id.t", "object")) {
		s->tezos += n;
		if (bson_iter_init(&it, doc) &&
		    bson_iter_find_descendant(&it, "_id.m", &it) &&
		    BSON_ITER_HOLDS_BOOL(&it) && bson_iter_bool(&it))
			s->tezos_minted += n;
	}
	return 0;
}

static cJSON *
api_kidlisp_keeps(struct silo_ctx *ctx, struct mongo_fail *f)
{
	struct keep_sums s = { 0 };
	bson_t		*pipeline = BCON_NEW("pipeline", "[",
			    "{", "$group", "{",
				"_id", "{",
				    "k", "{", "$type", BCON_UTF8("$kept"), "}",
				    "p", "{",
					"$type", BCON_UTF8("$pendingKeep"),
				    "}",
				    "t", "{", "$type", BCON_UTF8("$tezos"), "}",
				    "m", BCON_UTF8("$tezos.minted"),
				"}",
				"n", "{", "$sum", BCON_INT32(1), "}",
			    "}", "}",
			"]");
	bool		 ok;
	cJSON		*o;

	ok = mongo_aggregate_each(ctx->mongo, "kidlisp", pipeline,
	    api_kidlisp_keep_row, &s, &f->error);
	bson_destroy(pipeline);
	if (!ok) {
		snprintf(f->doing, sizeof(f->doing), "kidlisp keeps");
		return NULL;
	}
	o = cJSON_CreateObject();
	resp_add_int(o, "kept", s.kept);
	resp_add_int(o, "pending", s.pending);
	resp_add_int(o, "tezos", s.tezos);
	resp_add_int(o, "tezos_minted", s.tezos_minted);
	resp_add_int(o, "minted", s.kept + s.tezos_minted);
	return o;
}

/* ------------------------------------------------------------ created */

/* Counting pieces into the window's buckets. */
struct created_count {
	int64_t		 from_ms;	/* the window's first instant */
	int64_t		 bucket_ms;	/* a bucket's length */
	int64_t		 counts[KIDLISP_MAX_BUCKETS]; /* per bucket */
	int		 nbuckets;	/* how many */
};

static int
api_kidlisp_created_row(const bson_t *doc, void *arg)
{
	struct created_count *c = arg;
	int64_t		 when = mongo_get_date(doc, "when", INT64_MIN);
	int64_t		 i;

	if (when == INT64_MIN)
		return 0;
	i = (when - c->from_ms) / c->bucket_ms;
	if (i >= 0 && i < c->nbuckets)
		c->counts[i]++;
	return 0;
}

static cJSON *
api_kidlisp_created(struct silo_ctx *ctx, const struct kidlisp_params *p,
    struct mongo_fail *f)
{
	struct created_count *c;
	int64_t		 end_ms = p->until_ms + KIDLISP_DAY_MS, total = 0;
	int		 step = p->weekly ? 7 : 1;
	bson_t		*filter, *opts;
	cJSON		*o = NULL, *series;
	bool		 ok;

	if ((c = calloc(1, sizeof(*c))) == NULL) {
		mongo_fail_oom(f, "kidlisp created");
		return NULL;
	}
	c->from_ms = end_ms - (int64_t)p->days * KIDLISP_DAY_MS;
	c->bucket_ms = step * KIDLISP_DAY_MS;
	c->nbuckets = (p->days + step - 1) / step;
	filter = BCON_NEW("when", "{",
	    "$gte", BCON_DATE_TIME(c->from_ms),
	    "$lt", BCON_DATE_TIME(end_ms), "}");
	opts = BCON_NEW("projection", "{", "_id", BCON_INT32(0),
	    "when", BCON_INT32(1), "}");
	ok = mongo_find_each(ctx->mongo, NULL, "kidlisp", filter, opts,
	    api_kidlisp_created_row, c, &f->error);
	bson_destroy(filter);
	bson_destroy(opts);
	if (!ok) {
		snprintf(f->doing, sizeof(f->doing), "kidlisp created");
		goto out;
	}
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "bucket", p->weekly ? "week" : "day");
	resp_add_int(o, "days", p->days);
	api_kidlisp_add_day(o, "from", c->from_ms);
	api_kidlisp_add_day(o, "until", p->until_ms);
	series = cJSON_AddArrayToObject(o, "series");
	for (int i = 0; i < c->nbuckets; i++) {
		cJSON	*b = cJSON_CreateObject();
		int64_t	 start = c->from_ms + i * c->bucket_ms;
		int64_t	 stop = start + c->bucket_ms < end_ms ?
			    start + c->bucket_ms : end_ms;

		api_kidlisp_add_day(b, "start", start);
		resp_add_int(b, "days", (stop - start) / KIDLISP_DAY_MS);
		resp_add_int(b, "count", c->counts[i]);
		total += c->counts[i];
		cJSON_AddItemToArray(series, b);
	}
	resp_add_int(o, "total", total);
out:
	free(c);
	return o;
}

/* -------------------------------------------------------------- lists */

/* The first max bytes of s, cut at a character boundary. */
static void
api_kidlisp_add_source(cJSON *o, const char *s, int max)
{
	size_t	 len = strlen(s), cut = len;
	char	*copy;

	if (cut > (size_t)max) {
		cut = (size_t)max;
		while (cut > 0 && ((unsigned char)s[cut] & 0xc0) == 0x80)
			cut--;
	}
	if ((copy = strndup(s, cut)) == NULL)
		return;
	cJSON_AddStringToObject(o, "source", copy);
	cJSON_AddBoolToObject(o, "source_truncated", cut < len);
	free(copy);
}

static int
api_kidlisp_list_row(const bson_t *doc, void *arg)
{
	struct kidlisp_list *l = arg;
	cJSON		*o = cJSON_CreateObject();
	const char	*code = mongo_get_utf8(doc, "code"), *by, *handle, *src;
	int64_t		 when;
	char		 idx[16];

	if (code != NULL)
		cJSON_AddStringToObject(o, "code", code);
	else
		cJSON_AddNullToObject(o, "code");
	resp_add_int(o, "hits", mongo_get_int64(doc, "hits", 0));
	if ((when = mongo_get_date(doc, "when", INT64_MIN)) != INT64_MIN)
		resp_add_time(o, "when", (double)when / 1e3);
	else
		cJSON_AddNullToObject(o, "when");
	by = l->keeps && mongo_get_utf8(doc, "kept.keptBy") != NULL ?
	    mongo_get_utf8(doc, "kept.keptBy") : mongo_get_utf8(doc, "user");
	/* The handle: @handles' by the sub (filled in later), else the one
	 * the piece itself carries. */
	handle = mongo_get_utf8(doc, "handle");
	if (handle != NULL)
		cJSON_AddStringToObject(o, "handle", handle);
	else
		cJSON_AddNullToObject(o, "handle");
	if (by != NULL) {
		snprintf(idx, sizeof(idx), "%d", l->nsubs++);
		bson_append_utf8(&l->subs, idx, -1, by, -1);
		/* Kept until the handles are looked up, then removed. */
		cJSON_AddStringToObject(o, "_sub", by);
	}
	if (l->keeps) {
		if ((when = mongo_get_date(doc, "kept.keptAt",
		    INT64_MIN)) != INT64_MIN)
			resp_add_time(o, "kept_at", (double)when / 1e3);
		else
			cJSON_AddNullToObject(o, "kept_at");
		if (mongo_get_utf8(doc, "kept.network") != NULL)
			cJSON_AddStringToObject(o, "network",
			    mongo_get_utf8(doc, "kept.network"));
		else
			cJSON_AddNullToObject(o, "network");
		if (mongo_get_int64(doc, "kept.tokenId", -1) >= 0)
			resp_add_int(o, "token_id",
			    mongo_get_int64(doc, "kept.tokenId", 0));
		else
			cJSON_AddNullToObject(o, "token_id");
	}
	if (l->source > 0 && (src = mongo_get_utf8(doc, "source")) != NULL)
		api_kidlisp_add_source(o, src, l->source);
	cJSON_AddItemToArray(l->items, o);
	return 0;
}

/* Put @handles' handles in place of the subs, in one batched find. */
static int
api_kidlisp_handle_row(const bson_t *doc, void *arg)
{
	cJSON		*items = arg, *o;
	const char	*id = mongo_get_utf8(doc, "_id");
	const char	*h = mongo_get_utf8(doc, "handle");
	char		 at[160];

	if (id == NULL || h == NULL)
		return 0;
	snprintf(at, sizeof(at), "@%s", h);
	cJSON_ArrayForEach(o, items) {
		const cJSON *sub = cJSON_GetObjectItemCaseSensitive(o, "_sub");

		if (cJSON_IsString(sub) && strcmp(sub->valuestring, id) == 0)
			cJSON_ReplaceItemInObjectCaseSensitive(o, "handle",
			    cJSON_CreateString(at));
	}
	return 0;
}

static bool
api_kidlisp_list_handles(struct silo_ctx *ctx, struct kidlisp_list *l,
    bson_error_t *e)
{
	bson_t		 filter = BSON_INITIALIZER, id;
	bson_t		*opts = BCON_NEW("projection", "{",
			    "handle", BCON_INT32(1), "}");
	cJSON		*o;
	bool		 ok = true;

	if (l->nsubs > 0) {
		BSON_APPEND_DOCUMENT_BEGIN(&filter, "_id", &id);
		BSON_APPEND_ARRAY(&id, "$in", &l->subs);
		bson_append_document_end(&filter, &id);
		ok = mongo_find_each(ctx->mongo, NULL, "@handles", &filter,
		    opts, api_kidlisp_handle_row, l->items, e);
	}
	cJSON_ArrayForEach(o, l->items)
		cJSON_DeleteItemFromObjectCaseSensitive(o, "_sub");
	bson_destroy(&filter);
	bson_destroy(opts);
	return ok;
}

/* A list of pieces: filter, sort, limit, then handles. */
static cJSON *
api_kidlisp_list(struct silo_ctx *ctx, const bson_t *filter,
    const char *sort_key, int limit, const struct kidlisp_params *p,
    bool keeps, struct mongo_fail *f)
{
	static const char *const fields[] = { "code", "hits", "when", "user",
	    "handle" };
	struct kidlisp_list l = { .source = p->source, .keeps = keeps };
	bson_t		*opts, proj;
	bool		 ok;

	l.items = cJSON_CreateArray();
	if (limit == 0)
		return l.items;
	bson_init(&l.subs);
	opts = BCON_NEW("sort", "{",
	    sort_key, BCON_INT32(-1), "code", BCON_INT32(1), "}",
	    "limit", BCON_INT64(limit));
	BSON_APPEND_DOCUMENT_BEGIN(opts, "projection", &proj);
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		BSON_APPEND_INT32(&proj, fields[i], 1);
	if (keeps)
		BSON_APPEND_INT32(&proj, "kept", 1);
	if (p->source > 0)
		BSON_APPEND_INT32(&proj, "source", 1);
	bson_append_document_end(opts, &proj);
	ok = mongo_find_each(ctx->mongo, NULL, "kidlisp", filter, opts,
	    api_kidlisp_list_row, &l, &f->error) &&
	    api_kidlisp_list_handles(ctx, &l, &f->error);
	bson_destroy(opts);
	bson_destroy(&l.subs);
	if (!ok) {
		snprintf(f->doing, sizeof(f->doing), "kidlisp %s",
		    keeps ? "recent keeps" : "top");
		cJSON_Delete(l.items);
		return NULL;
	}
	return l.items;
}

/* -------------------------------------------------------------- stats */

static cJSON *
api_kidlisp_fill(struct silo_ctx *ctx, void *arg, bool *keep)
{
	struct kidlisp_fill *kf = arg;
	const struct kidlisp_params *p = kf->params;
	bson_t		*all = bson_new();
	bson_t		*kept = BCON_NEW("kept", "{",
			    "$type", BCON_UTF8("object"), "}");
	bson_t		 stats;
	cJSON		*body = cJSON_CreateObject(), *part;
	struct mongo_fail *f = &kf->fail;

	switch (mongo_storage_stats(ctx->mongo, "kidlisp", &stats, &f->error)) {
	case MONGO_STATS_OK:
		resp_add_int(body, "total",
		    mongo_get_int64(&stats, "count", 0));
		bson_destroy(&stats);
		break;
	case MONGO_STATS_GONE:
		resp_add_int(body, "total", 0);
		break;
	case MONGO_STATS_ERROR:
		snprintf(f->doing, sizeof(f->doing), "kidlisp stats");
		goto fail;
	}
	if ((part = api_kidlisp_keeps(ctx, f)) == NULL)
		goto fail;
	cJSON_AddItemToObject(body, "keeps", part);
	if ((part = api_kidlisp_created(ctx, p, f)) == NULL)
		goto fail;
	cJSON_AddItemToObject(body, "created", part);
	if ((part = api_kidlisp_list(ctx, all, "hits", p->top, p, false,
	    f)) == NULL)
		goto fail;
	cJSON_AddItemToObject(body, "top", part);
	if ((part = api_kidlisp_list(ctx, kept, "kept.keptAt", p->recent, p,
	    true, f)) == NULL)
		goto fail;
	cJSON_AddItemToObject(body, "recent_keeps", part);
	resp_add_int(body, "source_bytes", p->source);
	goto out;
fail:
	cJSON_Delete(body);
	body = NULL;
	kf->failed = true;
	*keep = false;
out:
	bson_destroy(all);
	bson_destroy(kept);
	return body;
}

/* The key of p's stats: the default set's own, else a variant's. */
static void
api_kidlisp_key(const struct kidlisp_params *p, char *key, size_t keysz)
{
	struct kidlisp_params dflt;

	api_kidlisp_params_default(&dflt);
	snprintf(key, keysz, "%skidlisp-%d-%s-%lld-%d-%d-%d",
	    api_kidlisp_params_equal(p, &dflt) ? "" : CACHE_VARIANT, p->days,
	    p->weekly ? "week" : "day", (long long)(p->until_ms / 1000), p->top,
	    p->recent, p->source);
}

/* The stats for p, cached per parameter set.  NULL with kf->fail set. */
static cJSON *
api_kidlisp_cached(struct silo_ctx *ctx, const struct kidlisp_params *p,
    struct kidlisp_fill *kf)
{
	char	 key[96];

	memset(kf, 0, sizeof(*kf));
	kf->params = p;
	api_kidlisp_key(p, key, sizeof(key));
	return cache_get(ctx, key, api_kidlisp_fill, kf);
}

/* The stats, answered from the cache's text: a hit neither parses nor
 * prints them. */
void
api_kidlisp_stats(struct silo_ctx *ctx, const struct silo_request *req,
    struct silo_response *resp)
{
	struct kidlisp_params p;
	struct kidlisp_fill kf = { .params = &p };
	char		 key[96], stamp[CACHE_STAMP_MAX], *text;
	double		 at;
	cJSON		*body = NULL;

	if (api_kidlisp_params_parse(req, &p, resp) == -1)
		return;
	api_kidlisp_key(&p, key, sizeof(key));
	if ((text = cache_get_text(ctx, key, api_kidlisp_fill, &kf,
	    &at)) != NULL) {
		cache_stamp_fields(at, stamp, sizeof(stamp));
		body = cache_text_with(text, stamp);
	}
	if (body != NULL)
		resp_json(resp, 200, body);
	else if (kf.failed)
		resp_db_fail(resp, ctx->config->mongo_db, &kf.fail);
	else
		resp_error(resp, 500, "internal",
		    "kidlisp stats: out of memory");
}

/*
 * The headline numbers for /api/overview, from the default stats (the
 * same cache entry the dashboard's KidLisp panel reads): total, keeps,
 * pieces created in the last 30 days, and the top piece.  On a database
 * error, {"status": "error", "error": {...}}.
 */
cJSON *
api_kidlisp_headline(struct silo_ctx *ctx)
{
	struct kidlisp_params p;
	struct kidlisp_fill kf;
	cJSON		*stats, *o;
	const cJSON	*created, *top;

	api_kidlisp_params_default(&p);
	if ((stats = api_kidlisp_cached(ctx, &p, &kf)) == NULL) {
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "status", "error");
		if (kf.failed)
			cJSON_AddItemToObject(o, "error",
			    mongo_fail_json(&kf.fail));
		return o;
	}
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "status", "ok");
	cJSON_AddItemToObject(o, "total",
	    cJSON_DetachItemFromObject(stats, "total"));
	cJSON_AddItemToObject(o, "keeps",
	    cJSON_DetachItemFromObject(stats, "keeps"));
	created = cJSON_GetObjectItemCaseSensitive(stats, "created");
	resp_add_int(o, "created_30d", (int64_t)cJSON_GetNumberValue(
	    cJSON_GetObjectItemCaseSensitive(created, "total")));
	top = cJSON_GetArrayItem(
	    cJSON_GetObjectItemCaseSensitive(stats, "top"), 0);
	if (top != NULL)
		cJSON_AddItemToObject(o, "top", cJSON_Duplicate(top, true));
	else
		cJSON_AddNullToObject(o, "top");
	cJSON_AddItemToObject(o, "cached_at",
	    cJSON_DetachItemFromObject(stats, "cached_at"));
	cJSON_AddItemToObject(o, "age_s",
	    cJSON_DetachItemFromObject(stats, "age_s"));

	cJSON_Delete(stats);
	return o;
}
