/*
 * api_backups.c: /api/backups, the backups `silo backup run` made.
 *
 * GET /api/backups     (read:backups) the runs in silo.backups, newest
 *                      first, ?limit=1..100 (default 20), with the last
 *                      success, the last verification and one status
 *                      word: ok, stale, failing or none.  backup_list.c
 *                      reads the records and defines the status, so that
 *                      the overview and `silo backup list` say the same.
 *                      No answer holds a key (only its id, a hash
 *                      prefix) or a multipart UploadId.
 * POST /api/backups/run (admin) starts `silo backup run` detached, as
 *                      the storage refresh is started (job.c's
 *                      job_start(): the handler takes
 *                      SILO_BACKUP_LOCK, the run inherits it as
 *                      --lock-fd 3, output appended to SILO_BACKUP_LOG):
 *                      202 with its pid, or 409 naming the running one.
 *                      A run takes minutes; no worker waits for it.
 */
#include "config.h"

#include <stdio.h>

#include "silo.h"

#define	API_BACKUPS_DEFAULT	20	/* runs listed without ?limit */
#define	API_BACKUPS_MAX		100	/* the largest ?limit */

void
api_backups_list(struct silo_ctx *ctx, const struct silo_request *req,
    struct silo_response *resp)
{
	const char		*text = query_get(&req->query, "limit");
	long			 limit = API_BACKUPS_DEFAULT;
	struct mongo_fail	 f;
	cJSON			*body;

	if (text != NULL &&
	    query_int(text, 1, API_BACKUPS_MAX, &limit) == -1) {
		resp_error(resp, 400, "bad_request",
		    "limit must be a whole number from 1 to %d, not '%.32s'",
		    API_BACKUPS_MAX, text);
		return;
	}
	body = backup_list_json(ctx->mongo, ctx->config->backup_stale_h,
	    limit, &f);
	if (body == NULL) {
		resp_db_fail(resp, BACKUP_DB, &f);
		return;
	}
	resp_json(resp, 200, body);
}

void
api_backups_run(struct silo_ctx *ctx, const struct silo_request *req,
    struct silo_response *resp)
{
	const struct silo_config *config = ctx->config;
	struct job		 job = {
		.lock = config->backup_lock,
		.log = config->backup_log,
		.log_var = "SILO_BACKUP_LOG",
		.what = "a backup",
		.follow = "GET /api/backups: the run is listed as running, "
		    "then ok or failed with its error; its progress is in "
		    "the log",
		.args = { "backup", "run", NULL }
	};

	job_start(config, &job, req, resp);
}
