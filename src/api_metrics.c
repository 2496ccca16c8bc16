/*
 * api_metrics.c: GET /api/metrics, silo for Prometheus (scope
 * read:metrics).
 *
 * The answer is Prometheus's text exposition format, version 0.0.4: the
 * pool's own counters from metrics.c (requests per route and status,
 * latency histograms per route, workers replaced), then what silo knows
 * about AC's data: whether the database answers, the age of the newest
 * good storage snapshot and of the newest good backup, and each
 * collection's document count.
 *
 * A scrape must not cost what a dashboard load costs, and must say
 * something when the database is down.  The database figures are read
 * through the same summaries the API serves (the shared cache where they
 * have one), and a part that fails is left out rather than failing the
 * scrape: silo_database_up 0 says why the rest is missing, and
 * Prometheus treats an absent series as absent, not as zero.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>

#include "silo.h"

#define	METRICS_TYPE	"text/plain; version=0.0.4; charset=utf-8"

/* A label value as the format wants it: \, " and newline escaped. */
static void
api_metrics_label(FILE *f, const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '\\' || *s == '"')
			fputc('\\', f);
		if (*s == '\n')
			fputs("\\n", f);
		else
			fputc(*s, f);
	}
}

/* A gauge with its help line, or nothing when value is NULL. */
static void
api_metrics_gauge(FILE *f, const char *name, const char *help,
    const cJSON *value)
{
	if (!cJSON_IsNumber(value))
		return;
	fprintf(f, "# HELP %s %s\n# TYPE %s gauge\n%s %.0f\n", name, help,
	    name, name, value->valuedouble);
}

/* silo_database_up, from the health every worker shares; true if up. */
static bool
api_metrics_database(struct silo_ctx *ctx, FILE *f)
{
	bool	 up = api_db_up(ctx);

	fprintf(f, "# HELP silo_database_up Whether the database answers "
	    "(the health check every worker shares, at most 1 s old).\n"
	    "# TYPE silo_database_up gauge\nsilo_database_up %d\n",
	    up ? 1 : 0);
	return up;
}

/* The newest good snapshot's and backup's ages. */
static void
api_metrics_ages(struct silo_ctx *ctx, FILE *f)
{
	struct mongo_fail	 fail;
	bson_t			*projection = BCON_NEW("finished_at",
				    BCON_INT32(1));
	bson_t			 snap;
	cJSON			*backups, *age = NULL;

	if (storage_newest(ctx->mongo, "ok", projection, &snap,
	    &fail.error)) {
		int64_t	 at = mongo_get_date(&snap, "finished_at", -1);

		if (at >= 0)
			age = cJSON_CreateNumber((double)(clock_real_ms() -
			    at) / 1000);
		bson_destroy(&snap);
	}
	bson_destroy(projection);
	api_metrics_gauge(f, "silo_storage_snapshot_age_seconds", "Age of "
	    "the newest good storage snapshot.", age);
	cJSON_Delete(age);
	backups = backup_list_json(ctx->mongo, ctx->config->backup_stale_h, 1,
	    &fail);
	api_metrics_gauge(f, "silo_backup_age_seconds", "Age of the newest "
	    "good backup.", cJSON_GetObjectItem(cJSON_GetObjectItem(backups,
	    "last_success"), "age_s"));
	cJSON_Delete(backups);
}

/* silo_collection_documents, one series per collection. */
static void
api_metrics_collections(struct silo_ctx *ctx, FILE *f)
{
	struct mongo_fail	 fail;
	cJSON			*all = api_db_collections_shared(ctx, &fail);
	const cJSON		*c;

	if (all == NULL)
		return;
	fprintf(f, "# HELP silo_collection_documents Documents per "
	    "collection of AC's database (the server's count).\n"
	    "# TYPE silo_collection_documents gauge\n");
	cJSON_ArrayForEach(c, cJSON_GetObjectItem(all, "collections")) {
		const cJSON	*name = cJSON_GetObjectItem(c, "name");
		const cJSON	*docs = cJSON_GetObjectItem(c, "documents");

		if (!cJSON_IsString(name) || !cJSON_IsNumber(docs))
			continue;
		fputs("silo_collection_documents{collection=\"", f);
		api_metrics_label(f, name->valuestring);
		fprintf(f, "\"} %.0f\n", docs->valuedouble);
	}
	cJSON_Delete(all);
}

void
api_metrics(struct silo_ctx *ctx, const struct silo_request *req,
    struct silo_response *resp)
{
	char	*text = NULL;
	size_t	 len = 0;
	FILE	*f;

	if ((f = open_memstream(&text, &len)) == NULL) {
		resp_error(resp, 500, "internal", "out of memory");
		return;
	}
	if (metrics_render(f) == -1)
		fprintf(f, "# silo's counters are kept by `silo serve` only\n");
	if (api_metrics_database(ctx, f)) {
		api_metrics_ages(ctx, f);
		api_metrics_collections(ctx, f);
	}
	if (fclose(f) != 0 || text == NULL) {
		free(text);
		resp_error(resp, 500, "internal", "out of memory");
		return;
	}
	resp_text(resp, 200, METRICS_TYPE, text);
}
