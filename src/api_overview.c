/*
 * api_overview.c: /api/overview, the dashboard's first screen in one call.
 *
 * Sections, each made by the code that serves it elsewhere (api_db.c,
 * api_services.c, api_kidlisp.c) and each cached under its own key in
 * the shared cache (cache.c), so that a poll costs a handful of small
 * file reads and no database or network work while the cache is fresh:
 *
 *   database     /api/db/health
 *   collections  /api/db/collections' totals and categories
 *   users        /api/db/users/count
 *   storage      the latest good storage snapshot (silo.storage_snapshots,
 *                status "ok", newest finished_at), or "none" before one
 *   services     each service's status, reason and latency
 *   kidlisp      total, keeps, pieces made in the last 30 days, top piece
 *   backup       /api/backups' summary: its status (ok, stale, failing,
 *                none), the last good backup's time, age and size, the
 *                last verification
 *   silo         its version, uptime and worker count
 *
 * Every section carries its own status and its freshness (cached_at,
 * age_s).  A section that fails says so ("status":"error" and the error)
 * and the answer's "degraded" lists it; the others are unaffected, and
 * the HTTP status stays 200.  A failed section is not cached, so it is
 * tried again on the next request.
 *
 * The assembled answer is cached too, with its ETag, as old as its oldest
 * section: a poll while everything is fresh reads one file and only
 * brings the ages and silo's uptime up to date.  The answer is kept as
 * its text, a string in the cached value, and the ages are rewritten in
 * that text, so a poll neither parses nor prints the sections.
 *
 * Conditional requests: the answer carries a weak ETag, a hash of its
 * content with the fields that only measure time left out (cached_at,
 * ages, uptimes, latencies).  Otherwise the ETag would change every
 * second while nothing a reader cares about had; with them left out it
 * changes when a count, a status, a version or a reason does.  Two
 * answers with one ETag may differ in those fields, which is exactly
 * what a weak validator promises.  If-None-Match with a matching tag is
 * a 304 with no body, and Cache-Control: no-cache makes browsers ask.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "silo.h"

/* One database-backed section. */
struct overview_part {
	const char	*name;		/* the section's key in the answer */
	const char	*cache_key;	/* its shared-cache key */
	cJSON		*(*make)(struct silo_ctx *, struct mongo_fail *);
};

/* Fields that measure time, left out of the ETag. */
static const char *const overview_volatile[] = {
	"cached_at", "age_s", "uptime_s", "uptime", "latency_ms", "ping_ms",
	NULL
};

/* collections, without the per-collection list: totals and categories. */
static cJSON *
api_overview_collections(struct silo_ctx *ctx, struct mongo_fail *f)
{
	cJSON	*all = api_db_collections_json(ctx, f);

	if (all != NULL)
		cJSON_DeleteItemFromObjectCaseSensitive(all, "collections");
	return all;
}

/* The storage section from a snapshot's finished_at and totals. */
static void
api_overview_snapshot(const bson_t *doc, cJSON *o)
{
	int64_t		 finished;

	finished = mongo_get_date(doc, "finished_at", INT64_MIN);
	cJSON_AddStringToObject(o, "status", "ok");
	if (finished != INT64_MIN) {
		double	 at = (double)finished / 1e3;

		resp_add_time(o, "finished_at", at);
		cJSON_AddNumberToObject(o, "snapshot_age_s",
		    (double)(int64_t)(clock_real() - at));
	} else {
		cJSON_AddNullToObject(o, "finished_at");
		cJSON_AddNullToObject(o, "snapshot_age_s");
	}
	cJSON_AddNumberToObject(o, "bytes",
	    (double)mongo_get_int64(doc, "totals.bytes", 0));
	cJSON_AddNumberToObject(o, "objects",
	    (double)mongo_get_int64(doc, "totals.objects", 0));
}

/* The latest good storage snapshot, read where the storage job writes it. */
static cJSON *
api_overview_storage(struct silo_ctx *ctx, struct mongo_fail *f)
{
	bson_t	*projection = BCON_NEW("finished_at", BCON_INT32(1),
		    "totals", BCON_INT32(1));
	bson_t	 snap;
	cJSON	*o = cJSON_CreateObject();

	if (storage_newest(ctx->mongo, "ok", projection, &snap, &f->error)) {
		api_overview_snapshot(&snap, o);
		bson_destroy(&snap);
	} else if (f->error.code != 0) {
		snprintf(f->doing, sizeof(f->doing), STORAGE_DB "."
		    STORAGE_SNAPSHOTS);
		cJSON_Delete(o);
		o = NULL;
	} else {
		cJSON_AddStringToObject(o, "status", "none");
		cJSON_AddStringToObject(o, "reason", "no snapshot yet");
	}
	bson_destroy(projection);
	return o;
}

/* Keep key of from in to, if from has it. */
static void
api_overview_move(cJSON *to, cJSON *from, const char *key)
{
	cJSON	*v = cJSON_DetachItemFromObjectCaseSensitive(from, key);

	if (v != NULL)
		cJSON_AddItemToObject(to, key, v);
}

/* The backup section: /api/backups' summary, without the list. */
static cJSON *
api_overview_backup(struct silo_ctx *ctx, struct mongo_fail *f)
{
	cJSON	*all, *o, *good, *last, *ver, *v;

	if ((all = backup_list_json(ctx->mongo, ctx->config->backup_stale_h,
	    1, f)) == NULL)
		return NULL;
	o = cJSON_CreateObject();
	api_overview_move(o, all, "status");
	api_overview_move(o, all, "stale_after_h");
	good = cJSON_GetObjectItemCaseSensitive(all, "last_success");
	if (cJSON_IsObject(good)) {
		last = cJSON_AddObjectToObject(o, "last_success");
		api_overview_move(last, good, "id");
		api_overview_move(last, good, "finished_at");
		v = cJSON_GetObjectItemCaseSensitive(good, "bytes");
		cJSON_AddItemToObject(last, "bytes", cJSON_Duplicate(
		    cJSON_GetObjectItemCaseSensitive(v, "stored"), true));
		api_overview_move(last, good, "documents");
		v = cJSON_DetachItemFromObjectCaseSensitive(good, "age_s");
		cJSON_AddItemToObject(o, "last_success_age_s", v);
	} else {
		cJSON_AddNullToObject(o, "last_success");
		cJSON_AddNullToObject(o, "last_success_age_s");
	}
	ver = cJSON_GetObjectItemCaseSensitive(all, "last_verification");
	if (cJSON_IsObject(ver)) {
		last = cJSON_AddObjectToObject(o, "last_verification");
		api_overview_move(last, ver, "id");
		api_overview_move(last, ver, "ok");
		api_overview_move(last, ver, "at");
	} else
		cJSON_AddNullToObject(o, "last_verification");
	cJSON_Delete(all);
	return o;
}

static const struct overview_part overview_parts[] = {
	{ "database", "overview-database", api_db_health_json },
	{ "collections", "overview-collections", api_overview_collections },
	{ "users", "overview-users", api_db_users_json },
	{ "storage", "overview-storage", api_overview_storage },
	{ "backup", "overview-backup", api_overview_backup },
};

/* The cache's fill for one part: its summary, or its error, uncached. */
static cJSON *
api_overview_fill(struct silo_ctx *ctx, void *arg, bool *keep)
{
	const struct overview_part *part = arg;
	struct mongo_fail f;
	cJSON		*o = part->make(ctx, &f);

	if (o == NULL) {
		*keep = false;
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "status", "error");
		cJSON_AddItemToObject(o, "error", mongo_fail_json(&f));
		return o;
	}
	if (cJSON_GetObjectItemCaseSensitive(o, "status") == NULL)
		cJSON_AddStringToObject(o, "status", "ok");
	return o;
}

/* Record a section, and in degraded the sections that failed. */
static void
api_overview_add(cJSON *body, cJSON *degraded, const char *name, cJSON *section,
    bool failed)
{
	if (failed)
		cJSON_AddItemToArray(degraded, cJSON_CreateString(name));
	cJSON_AddItemToObject(body, name, section);
}

static bool
api_overview_section_failed(const cJSON *section)
{
	const cJSON	*st = cJSON_GetObjectItemCaseSensitive(section,
		    "status");

	return section == NULL ||
	    cJSON_GetObjectItemCaseSensitive(section, "error") ||
	    (cJSON_IsString(st) && strcmp(st->valuestring, "error") == 0);
}

/* Each service's status, reason, latency and freshness. */
static cJSON *
api_overview_services(struct silo_ctx *ctx)
{
	static const char *const keep[] = {
		"service", "status", "reason", "latency_ms", "cached_at",
		"age_s"
	};
	size_t	 n = api_services_count();
	cJSON	*all[8], *o = cJSON_CreateObject(), *one;

	api_services_collect(ctx, (1u << n) - 1, all);
	for (size_t i = 0; i < n; i++) {
		one = cJSON_CreateObject();
		for (size_t k = 0; k < sizeof(keep) / sizeof(keep[0]); k++) {
			cJSON *v = cJSON_DetachItemFromObjectCaseSensitive(
			    all[i], keep[k]);

			if (v != NULL)
				cJSON_AddItemToObject(one, keep[k], v);
		}
		cJSON_AddItemToObject(o, cJSON_GetStringValue(
		    cJSON_GetObjectItemCaseSensitive(one, "service")), one);
		cJSON_DeleteItemFromObjectCaseSensitive(one, "service");
		cJSON_Delete(all[i]);
	}
	return o;
}

static cJSON *
api_overview_silo(struct silo_ctx *ctx)
{
	cJSON		*o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "status", "ok");
	cJSON_AddStringToObject(o, "version", PACKAGE_VERSION);
	cJSON_AddNumberToObject(o, "uptime_s",
	    (double)(int64_t)(clock_real() - ctx->serve_started_at));
	cJSON_AddNumberToObject(o, "workers", ctx->config->workers);
	return o;
}

/* A copy of v without the fields that only measure time. */
static void
api_overview_strip(cJSON *v)
{
	cJSON	*child;

	for (const char *const *k = overview_volatile; *k != NULL; k++)
		cJSON_DeleteItemFromObjectCaseSensitive(v, *k);
	if (cJSON_IsObject(v)) {
		/* and any "<something>_age_s" */
		for (child = v->child; child != NULL; ) {
			cJSON	*next = child->next;
			size_t	 len = child->string ?
			    strlen(child->string) : 0;

			if (len > 6 &&
			    strcmp(child->string + len - 6, "_age_s") == 0)
				cJSON_Delete(
				    cJSON_DetachItemViaPointer(v, child));
			child = next;
		}
	}
	cJSON_ArrayForEach(child, v)
		api_overview_strip(child);
}

/* W/"<FNV-1a 64 of the content without its times>". */
static void
api_overview_etag(const cJSON *body, char *out, size_t outsz)
{
	cJSON		*copy = cJSON_Duplicate(body, true);
	char		*text;
	uint64_t	 h = hash_fnv1a64("", 0);

	api_overview_strip(copy);
	if ((text = cJSON_PrintUnformatted(copy)) != NULL)
		h = hash_fnv1a64(text, strlen(text));
	snprintf(out, outsz, "W/\"%016llx\"", (unsigned long long)h);
	free(text);
	cJSON_Delete(copy);
}

/* Does If-None-Match (a list of tags, or *) name tag?  Weak comparison. */
static bool
api_overview_etag_matches(const char *header, const char *tag)
{
	const char	*p = header, *opaque = tag + 2;	/* past W/ */
	size_t		 olen = strlen(opaque);

	while (p != NULL && *p != '\0') {
		size_t	 len;

		p += strspn(p, " \t,");
		if (*p == '*')
			return true;
		if (strncmp(p, "W/", 2) == 0)
			p += 2;
		len = strcspn(p, ",");
		while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
			len--;
		if (len == olen && strncmp(p, opaque, len) == 0)
			return true;
		p = strchr(p, ',');
	}
	return false;
}

/* The whole answer, from every section's cache. */
static cJSON *
api_overview_assemble(struct silo_ctx *ctx)
{
	cJSON	*body = cJSON_CreateObject(), *degraded, *section;

	degraded = cJSON_CreateArray();
	for (size_t i = 0;
	    i < sizeof(overview_parts) / sizeof(overview_parts[0]); i++) {
		section = cache_get(ctx, overview_parts[i].cache_key,
		    api_overview_fill, (void *)&overview_parts[i]);
		api_overview_add(body, degraded, overview_parts[i].name,
		    section, api_overview_section_failed(section));
	}
	section = api_overview_services(ctx);
	api_overview_add(body, degraded, "services", section, false);
	section = api_kidlisp_headline(ctx);
	api_overview_add(body, degraded, "kidlisp", section,
	    api_overview_section_failed(section));
	api_overview_add(body, degraded, "silo", api_overview_silo(ctx), false);
	cJSON_AddStringToObject(body, "status",
	    cJSON_GetArraySize(degraded) == 0 ? "ok" : "degraded");
	cJSON_AddItemToObject(body, "degraded", degraded);
	return body;
}

/*
 * A section's age_s, or -1 when it has none.  cache_stamp() wrote it from
 * the section's cache slot's numeric time, so no time is parsed back from
 * its ISO 8601 text.
 */
static double
api_overview_section_age(const cJSON *section)
{
	const cJSON	*age;

	age = cJSON_GetObjectItemCaseSensitive(section, "age_s");
	return cJSON_IsNumber(age) ? age->valuedouble : -1;
}

/* Apply fn to every section that carries an age (services' too). */
static void
api_overview_each_section(cJSON *body, void (*fn)(cJSON *, void *), void *arg)
{
	cJSON	*section, *svc;

	cJSON_ArrayForEach(section, body) {
		if (api_overview_section_age(section) >= 0)
			fn(section, arg);
		if (section->string != NULL &&
		    strcmp(section->string, "services") == 0)
			cJSON_ArrayForEach(svc, section)
				if (api_overview_section_age(svc) >= 0)
					fn(svc, arg);
	}
}

/* *arg: the largest age so far, the oldest section's. */
static void
api_overview_oldest(cJSON *section, void *arg)
{
	double	*oldest = arg, age = api_overview_section_age(section);

	if (age > *oldest)
		*oldest = age;
}

/*
 * body's text (taken) with every section's "age_s" grown by since (to a
 * tenth of a second, as cache_stamp() writes them), rewritten in the
 * text: the pattern has its quotes, so "snapshot_age_s" and a string's escaped
 * \"age_s\" do not match.  NULL when memory runs out.
 */
static char *
api_overview_age_text(char *text, double since)
{
	static const char key[] = "\"age_s\":";
	size_t		 cap = strlen(text) + 1, len = 0;
	char		*out, *p = text, *hit, *end;

	while ((hit = strstr(p, key)) != NULL) {	/* room for the ages */
		cap += 24;
		p = hit + 1;
	}
	if ((out = malloc(cap)) == NULL) {
		free(text);
		return NULL;
	}
	for (p = text; (hit = strstr(p, key)) != NULL; p = end) {
		double	 age;

		hit += sizeof(key) - 1;
		memcpy(out + len, p, (size_t)(hit - p));
		len += (size_t)(hit - p);
		age = strtod(hit, &end) + since;
		len += (size_t)snprintf(out + len, cap - len, "%.15g",
		    (double)(int64_t)(age * 10) / 10);
	}
	memcpy(out + len, p, strlen(p) + 1);
	free(text);
	return out;
}

/* The answer for a hit on the cached wrap: its body's text with the
 * ages of now and silo's section appended, as a raw item. */
static cJSON *
api_overview_hit(struct silo_ctx *ctx, const cJSON *wrap, double cached_at)
{
	const char	*stored = cJSON_GetStringValue(
		    cJSON_GetObjectItemCaseSensitive(wrap, "body"));
	double		 oldest = cJSON_GetNumberValue(
		    cJSON_GetObjectItemCaseSensitive(wrap, "oldest"));
	double		 since = clock_real() - (cached_at + oldest);
	char		*text, *silo, *field;
	cJSON		*o;
	size_t		 n;

	if (stored == NULL || (text = strdup(stored)) == NULL)
		return NULL;
	/* Stored as old as its oldest section, whose age is the largest in
	 * it: made at cached_at plus that age, and every age has grown by
	 * the time since. */
	if ((text = api_overview_age_text(text, since > 0 ? since :
	    0)) == NULL)
		return NULL;
	o = api_overview_silo(ctx);
	silo = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	n = silo != NULL ? strlen(silo) + 16 : 0;
	if (silo == NULL || (field = malloc(n)) == NULL) {
		free(silo);
		free(text);
		return NULL;
	}
	snprintf(field, n, "\"silo\":%s", silo);
	o = cache_text_with(text, field);
	free(field);
	free(silo);
	return o;
}

/*
 * Store the assembled answer under "overview" as {"etag", "oldest": its
 * oldest section's age, "body": its text without silo's section}, as old
 * as that section, so it expires when that section does.  The body is a
 * string in the wrap, so a hit parses one string, not the whole answer.
 */
static void
api_overview_store(struct silo_ctx *ctx, struct cache_slot *slot,
    cJSON *body, const char *etag, double now)
{
	double	 oldest = 0;
	cJSON	*wrap, *silo;
	char	*text;

	api_overview_each_section(body, api_overview_oldest, &oldest);
	silo = cJSON_DetachItemFromObjectCaseSensitive(body, "silo");
	text = cJSON_PrintUnformatted(body);
	cJSON_AddItemToObject(body, "silo", silo);
	if (text == NULL)
		return;
	wrap = cJSON_CreateObject();
	cJSON_AddStringToObject(wrap, "etag", etag);
	cJSON_AddNumberToObject(wrap, "oldest", oldest);
	cJSON_AddStringToObject(wrap, "body", text);
	cache_store_at(ctx->config, slot, wrap, now - oldest);
	cJSON_Delete(wrap);
	free(text);
}

/*
 * The assembled answer and its ETag, cached as a whole under "overview":
 * a poll then costs one file read however many sections there are.  A
 * failed section keeps it out of the cache.
 */
static cJSON *
api_overview_cached(struct silo_ctx *ctx, char *etag, size_t etagsz)
{
	struct cache_slot slot;
	cJSON		*body = NULL;
	const char	*tag;
	double		 now = clock_real();

	cache_open(ctx->config, "overview", &slot);
	tag = slot.must_fill ? NULL : cJSON_GetStringValue(
	    cJSON_GetObjectItemCaseSensitive(slot.value, "etag"));
	if (tag != NULL &&
	    (body = api_overview_hit(ctx, slot.value, slot.cached_at)) != NULL)
		snprintf(etag, etagsz, "%s", tag);
	else {
		/* A miss (or a file that is not ours): make it, and store it
		 * unless a section failed. */
		body = api_overview_assemble(ctx);
		api_overview_etag(body, etag, etagsz);
		if (cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(body,
		    "degraded")) == 0)
			api_overview_store(ctx, &slot, body, etag, now);
	}
	cache_close(&slot);
	return body;
}

void
api_overview(struct silo_ctx *ctx, const struct silo_request *req,
    struct silo_response *resp)
{
	char	 etag[32];
	cJSON	*body = api_overview_cached(ctx, etag, sizeof(etag));

	resp_add_header(resp, "ETag", etag);
	resp_add_header(resp, "Cache-Control", "no-cache");
	if (req->if_none_match != NULL &&
	    api_overview_etag_matches(req->if_none_match, etag)) {
		cJSON_Delete(body);
		resp_json(resp, 304, NULL);
		return;
	}
	resp_json(resp, 200, body);
}
