/*
 * backup_list.c: the backups as silo.backups records them, read back for
 * GET /api/backups, the overview's backup section and `silo backup list`.
 *
 * backup.c writes one record per run (docs/backup-format.md section 4):
 * "running" from the start, "ok" or "failed" at the end, and `silo backup
 * verify` (restore.c) sets its "verification": {at, ok, error,
 * duration_ms}.  The record is the truth,
 * so everything here is a read of it, newest first by started_at (a
 * run's _id is its start time, but the date sorts without parsing):
 *
 *   backups            the list, each run reduced to what a reader
 *                      needs: times, duration, the three sizes, the
 *                      stored bytes' SHA-256, the key id (a hash prefix,
 *                      never the key), how many collections and
 *                      documents, the error, the verification.  Left
 *                      out: the UploadId (internal), the host and pid,
 *                      the per-collection manifest (the object's
 *                      manifest has it);
 *   last_success       the newest "ok" run, with its age;
 *   last_verification  the newest verification of any run;
 *   status             one word for a monitor, decided in this order:
 *                        none     no run has ever succeeded;
 *                        failing  the newest finished run (ok or failed)
 *                                 failed: there is then no good backup
 *                                 newer than it;
 *                        stale    the newest good backup finished more
 *                                 than SILO_BACKUP_STALE_H hours ago;
 *                        ok       otherwise.
 *                      A run still "running" changes nothing: it is
 *                      neither a success nor a failure yet.
 *
 * Four small reads of one small collection; the overview caches
 * its part of the answer like its other sections.  `silo backup list`
 * prints the same list as a table (or, with --json, the answer itself).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "extern.h"

#define	BACKUP_LIST_ERROR_COLS	48	/* an error, cut in the table */

/* ------------------------------------------------------------------ */
/* Reading the records                                                 */
/* ------------------------------------------------------------------ */

/* key: the date as ISO 8601 to the second, as every answer's, or null. */
static void
backup_list_add_date(cJSON *o, const char *key, int64_t ms)
{
	char	 iso[CLOCK_ISO_MAX];

	if (ms == INT64_MIN ||
	    !clock_iso(ms, CLOCK_ISO_S, iso, sizeof(iso)))
		cJSON_AddNullToObject(o, key);
	else
		cJSON_AddStringToObject(o, key, iso);
}

/* key: the string field, or null. */
static void
backup_list_add_utf8(cJSON *o, const char *key, const bson_t *rec,
    const char *dotted)
{
	const char	*s = mongo_get_utf8(rec, dotted);

	if (s != NULL)
		cJSON_AddStringToObject(o, key, s);
	else
		cJSON_AddNullToObject(o, key);
}

/* The collections and the documents the manifest lists. */
static void
backup_list_count(const bson_t *rec, int64_t *colls, int64_t *docs)
{
	bson_iter_t	 it, arr;
	bson_t		 one;
	const uint8_t	*data;
	uint32_t	 len;

	*colls = *docs = 0;
	if (!bson_iter_init_find(&it, rec, "collections") ||
	    !BSON_ITER_HOLDS_ARRAY(&it) || !bson_iter_recurse(&it, &arr))
		return;
	while (bson_iter_next(&arr)) {
		if (!BSON_ITER_HOLDS_DOCUMENT(&arr))
			continue;
		bson_iter_document(&arr, &len, &data);
		if (!bson_init_static(&one, data, len))
			continue;
		(*colls)++;
		*docs += mongo_get_int64(&one, "count", 0);
	}
}

/* The record's verification, its dates as ISO text to the second;
 * NULL if none. */
static cJSON *
backup_list_verification(const bson_t *rec)
{
	bson_iter_t	 it, f;
	bson_t		 v;
	const uint8_t	*data;
	uint32_t	 len;
	cJSON		*o;

	if (!bson_iter_init_find(&it, rec, "verification") ||
	    !BSON_ITER_HOLDS_DOCUMENT(&it))
		return NULL;
	bson_iter_document(&it, &len, &data);
	if (!bson_init_static(&v, data, len))
		return NULL;
	o = mongo_doc_json(&v, false);
	if (bson_iter_init(&f, &v))
		while (bson_iter_next(&f))
			if (BSON_ITER_HOLDS_DATE_TIME(&f)) {
				cJSON_DeleteItemFromObjectCaseSensitive(o,
				    bson_iter_key(&f));
				backup_list_add_date(o, bson_iter_key(&f),
				    bson_iter_date_time(&f));
			}
	return o;
}

/* One run, as the list shows it. */
static cJSON *
backup_list_entry(const bson_t *rec)
{
	cJSON		*o = cJSON_CreateObject(), *bytes, *v;
	int64_t		 started, finished, colls, docs;
	bson_iter_t	 it;

	started = mongo_get_date(rec, "started_at", INT64_MIN);
	finished = mongo_get_date(rec, "finished_at", INT64_MIN);
	backup_list_add_utf8(o, "id", rec, "_id");
	backup_list_add_utf8(o, "status", rec, "status");
	backup_list_add_date(o, "started_at", started);
	backup_list_add_date(o, "finished_at", finished);
	if (started != INT64_MIN && finished != INT64_MIN)
		resp_add_int(o, "duration_ms", finished - started);
	else
		cJSON_AddNullToObject(o, "duration_ms");
	if (bson_iter_init_find(&it, rec, "bytes") &&
	    BSON_ITER_HOLDS_DOCUMENT(&it)) {
		bytes = cJSON_AddObjectToObject(o, "bytes");
		resp_add_int(bytes, "plain",
		    mongo_get_int64(rec, "bytes.plain", 0));
		resp_add_int(bytes, "compressed",
		    mongo_get_int64(rec, "bytes.compressed", 0));
		resp_add_int(bytes, "stored",
		    mongo_get_int64(rec, "bytes.stored", 0));
	} else
		cJSON_AddNullToObject(o, "bytes");
	backup_list_add_utf8(o, "sha256", rec, "sha256");
	backup_list_add_utf8(o, "key_id", rec, "key_id");
	backup_list_count(rec, &colls, &docs);
	resp_add_int(o, "collections", colls);
	resp_add_int(o, "documents", docs);
	backup_list_add_utf8(o, "error", rec, "error");
	if ((v = backup_list_verification(rec)) != NULL)
		cJSON_AddItemToObject(o, "verification", v);
	else
		cJSON_AddNullToObject(o, "verification");
	return o;
}

/* mongo_find_each()'s callback: each record onto the array arg. */
static int
backup_list_add(const bson_t *rec, void *arg)
{
	cJSON_AddItemToArray(arg, backup_list_entry(rec));
	return 0;
}

/* The first record matching filter in opts' order (both freed here);
 * false if none or on error (f set then, and *failed true). */
static bool
backup_list_newest(struct mongo *m, bson_t *filter, bson_t *opts,
    bson_t *out, struct mongo_fail *f, bool *failed)
{
	bson_error_t	 e;
	bool		 found;

	found = mongo_find_one(m, BACKUP_DB, BACKUP_RECORDS, filter, opts,
	    out, &e);
	if (!found && e.code != 0) {
		mongo_fail_set(f, &e, BACKUP_DB "." BACKUP_RECORDS);
		*failed = true;
	}
	bson_destroy(filter);
	bson_destroy(opts);
	return found;
}

/* The status word, as the essay defines it. */
static const char *
backup_list_status(const bson_t *good, bool have_good, const bson_t *last,
    bool have_last, int stale_h)
{
	const char	*st = have_last ? mongo_get_utf8(last, "status") : NULL;
	int64_t		 at;

	if (!have_good)
		return "none";
	if (st != NULL && strcmp(st, "failed") == 0)
		return "failing";
	at = mongo_get_date(good, "finished_at", INT64_MIN);
	if (at == INT64_MIN ||
	    clock_real_ms() - at > (int64_t)stale_h * 3600 * 1000)
		return "stale";
	return "ok";
}

/* last_success: the good run's entry and its age in seconds. */
static cJSON *
backup_list_success(const bson_t *good)
{
	cJSON	*o = backup_list_entry(good);
	int64_t	 at = mongo_get_date(good, "finished_at", INT64_MIN);

	if (at != INT64_MIN)
		resp_add_int(o, "age_s", (clock_real_ms() - at) / 1000);
	else
		cJSON_AddNullToObject(o, "age_s");
	return o;
}

/* last_verification: the verification with the run's id beside it. */
static cJSON *
backup_list_last_verification(const bson_t *rec)
{
	cJSON	*o = backup_list_verification(rec);

	if (o == NULL)
		return cJSON_CreateNull();
	backup_list_add_utf8(o, "id", rec, "_id");
	return o;
}

/*
 * The /api/backups answer: the newest limit runs (0: every one), the
 * last success, the last verification and the status (a good backup
 * older than stale_h hours is stale).  NULL with f set on a database
 * error.
 */
cJSON *
backup_list_json(struct mongo *m, int stale_h, long limit,
    struct mongo_fail *f)
{
	bson_t		*sort_opts, *filter, good, last, verified;
	bool		 have_good, have_last, have_verified, failed = false;
	bson_error_t	 e;
	cJSON		*list, *body;

	filter = bson_new();
	sort_opts = BCON_NEW("sort", "{", "started_at", BCON_INT32(-1), "}",
	    "limit", BCON_INT64(limit));
	list = cJSON_CreateArray();
	if (!mongo_find_each(m, BACKUP_DB, BACKUP_RECORDS, filter, sort_opts,
	    backup_list_add, list, &e)) {
		mongo_fail_set(f, &e, BACKUP_DB "." BACKUP_RECORDS);
		failed = true;
	}
	bson_destroy(filter);
	bson_destroy(sort_opts);
	have_good = !failed && backup_list_newest(m,
	    BCON_NEW("status", BCON_UTF8("ok")),
	    BCON_NEW("sort", "{", "started_at", BCON_INT32(-1), "}"),
	    &good, f, &failed);
	have_last = !failed && backup_list_newest(m,
	    BCON_NEW("status", "{", "$in", "[", BCON_UTF8("ok"),
	    BCON_UTF8("failed"), "]", "}"),
	    BCON_NEW("sort", "{", "started_at", BCON_INT32(-1), "}",
	    "projection", "{", "status", BCON_INT32(1), "}"),
	    &last, f, &failed);
	have_verified = !failed && backup_list_newest(m,
	    BCON_NEW("verification.at", "{", "$exists", BCON_BOOL(true), "}"),
	    BCON_NEW("sort", "{", "verification.at", BCON_INT32(-1), "}",
	    "projection", "{", "verification", BCON_INT32(1), "}"),
	    &verified, f, &failed);
	body = NULL;
	if (!failed) {
		body = cJSON_CreateObject();
		cJSON_AddStringToObject(body, "status", backup_list_status(
		    &good, have_good, &last, have_last, stale_h));
		resp_add_int(body, "stale_after_h", stale_h);
		cJSON_AddItemToObject(body, "last_success", have_good ?
		    backup_list_success(&good) : cJSON_CreateNull());
		cJSON_AddItemToObject(body, "last_verification",
		    have_verified ? backup_list_last_verification(&verified) :
		    cJSON_CreateNull());
		cJSON_AddItemToObject(body, "backups", list);
		list = NULL;
	}
	if (have_good)
		bson_destroy(&good);
	if (have_last)
		bson_destroy(&last);
	if (have_verified)
		bson_destroy(&verified);
	cJSON_Delete(list);
	return body;
}

/* ------------------------------------------------------------------ */
/* silo backup list                                                    */
/* ------------------------------------------------------------------ */

/* bytes as a person reads them: "512 B", "1.5 MB" (powers of 1000). */
static void
backup_list_size(const cJSON *bytes, char *out, size_t outsz)
{
	static const char *const units[] = { "kB", "MB", "GB", "TB" };
	const cJSON	*st = cJSON_GetObjectItemCaseSensitive(bytes, "stored");
	double		 n;
	size_t		 u = 0;

	if (!cJSON_IsNumber(st)) {
		snprintf(out, outsz, "-");
		return;
	}
	if ((n = st->valuedouble) < 1000) {
		snprintf(out, outsz, "%.0f B", n);
		return;
	}
	for (n /= 1000; n >= 1000 && u + 1 < sizeof(units) / sizeof(*units);
	    u++)
		n /= 1000;
	snprintf(out, outsz, "%.1f %s", n, units[u]);
}

/* A duration as "4.2 s", "3m05s" or "2h10m"; "-" when there is none. */
static void
backup_list_duration(const cJSON *ms, char *out, size_t outsz)
{
	double	 s;

	if (!cJSON_IsNumber(ms)) {
		snprintf(out, outsz, "-");
		return;
	}
	s = ms->valuedouble / 1000;
	if (s < 60)
		snprintf(out, outsz, "%.1f s", s);
	else if (s < 3600)
		snprintf(out, outsz, "%dm%02ds", (int)s / 60, (int)s % 60);
	else
		snprintf(out, outsz, "%dh%02dm", (int)s / 3600,
		    (int)s % 3600 / 60);
}

/* The verification column: "never", or "ok"/"FAILED" and its day. */
static void
backup_list_verified(const cJSON *v, char *out, size_t outsz)
{
	const char	*at;

	if (!cJSON_IsObject(v)) {
		snprintf(out, outsz, "never");
		return;
	}
	at = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(v, "at"));
	snprintf(out, outsz, "%s %.10s", cJSON_IsTrue(
	    cJSON_GetObjectItemCaseSensitive(v, "ok")) ? "ok" : "FAILED",
	    at != NULL ? at : "");
}

/* The error column: one line, cut to BACKUP_LIST_ERROR_COLS. */
static void
backup_list_error(const cJSON *err, char *out, size_t outsz)
{
	const char	*s = cJSON_GetStringValue(err);
	size_t		 n;

	if (s == NULL) {
		snprintf(out, outsz, "-");
		return;
	}
	n = strcspn(s, "\r\n");
	if (n > BACKUP_LIST_ERROR_COLS)
		snprintf(out, outsz, "%.*s...", BACKUP_LIST_ERROR_COLS - 3, s);
	else
		snprintf(out, outsz, "%.*s", (int)n, s);
}

/* A string field of a list entry, "-" when null. */
static const char *
backup_list_field(const cJSON *entry, const char *key)
{
	const char	*s = cJSON_GetStringValue(
		    cJSON_GetObjectItemCaseSensitive(entry, key));

	return s != NULL ? s : "-";
}

/* The table, newest first. */
static void
backup_list_print(const cJSON *list)
{
	const cJSON	*b, *key;
	char		 size[32], dur[32], ver[64], err[128];

	printf("%-28s %-8s %10s %9s %-16s %-16s %s\n", "ID", "STATUS", "SIZE",
	    "DURATION", "KEY", "VERIFIED", "ERROR");
	cJSON_ArrayForEach(b, list) {
		backup_list_size(cJSON_GetObjectItemCaseSensitive(b, "bytes"),
		    size, sizeof(size));
		backup_list_duration(cJSON_GetObjectItemCaseSensitive(b,
		    "duration_ms"), dur, sizeof(dur));
		backup_list_verified(cJSON_GetObjectItemCaseSensitive(b,
		    "verification"), ver, sizeof(ver));
		backup_list_error(cJSON_GetObjectItemCaseSensitive(b,
		    "error"), err, sizeof(err));
		key = cJSON_GetObjectItemCaseSensitive(b, "key_id");
		printf("%-28s %-8s %10s %9s %-16s %-16s %s\n",
		    backup_list_field(b, "id"), backup_list_field(b, "status"),
		    size, dur, cJSON_IsString(key) ? key->valuestring :
		    "plain", ver, err);
	}
}

/* `silo backup list [--json]`: every run, newest first; the status. */
int
backup_list_main(const struct silo_config *config, bool json)
{
	struct mongo		 m;
	struct mongo_fail	 f;
	char			 err[1024], *text;
	cJSON			*body;

	mongo_log_init();
	if (mongo_open_job(&m, config, err, sizeof(err)) == -1) {
		log_err("backup: %s", err);
		return 1;
	}
	body = backup_list_json(&m, config->backup_stale_h, 0, &f);
	mongo_close(&m);
	if (body == NULL) {
		log_err("backup: %s: %s", f.doing, f.error.message);
		return 1;
	}
	if (json) {
		if ((text = cJSON_Print(body)) != NULL)
			printf("%s\n", text);
		free(text);
	} else {
		backup_list_print(cJSON_GetObjectItemCaseSensitive(body,
		    "backups"));
		printf("status: %s\n", cJSON_GetStringValue(
		    cJSON_GetObjectItemCaseSensitive(body, "status")));
	}
	cJSON_Delete(body);
	return 0;
}
