/*
 * prune.c: `silo backup prune [--dry-run]`, the retention policy of
 * retention.c applied to the runs silo.backups records.
 *
 * Every record is read (one small collection), newest first by
 * started_at as `silo backup list` shows them, and sorted into:
 *
 *   ok       good backups: retention_decide() keeps the newest of each
 *            of the last SILO_BACKUP_KEEP_DAILY days, _WEEKLY ISO weeks
 *            and _MONTHLY months, the newest verified one (its
 *            verification.ok true) and the newest one; the others go;
 *   failed   their objects were never completed (the upload was
 *            aborted), so only the record is left: deleted once it
 *            finished before retention_horizon(), the start of the
 *            oldest period any tier keeps, so that recent failures stay
 *            in `silo backup list` and /api/backups;
 *   running  never touched: a live run, or a dead one the next run
 *            marks failed.
 *
 * It prints a table of every record with what happens to it and why,
 * then (unless --dry-run) deletes each pruned good backup's object and
 * its manifest from the bucket the record names, and only when both are
 * gone its record: a backup is never left recorded as good with its
 * object missing.  A delete that fails leaves the record, says why and
 * makes the exit 1; the others go on.  Deleting an object already gone
 * succeeds (S3), so a prune cut short is finished by the next one.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "extern.h"

/* One record, as prune sees it. */
struct prune_rec {
	char		*id;		/* _id */
	char		*status;	/* running, ok or failed */
	char		*bucket;	/* where the objects are, or NULL */
	char		*key;		/* the backup object, or NULL */
	char		*manifest_key;	/* its manifest, or NULL */
	int64_t		 finished_ms;	/* finished_at (started_at if none) */
	bool		 verified;	/* verification.ok is true */
	bool		 drop;		/* to be deleted */
	unsigned	 keep;		/* ok: RETENTION_KEEP_* */
};

/* Every record, newest first. */
struct prune_list {
	struct prune_rec *r;		/* the records */
	size_t		 n;		/* how many */
	size_t		 cap;		/* room at r */
	bool		 oom;		/* a record could not be kept */
};

/* A copy of the string field, or NULL. */
static char *
prune_strdup(const bson_t *rec, const char *dotted)
{
	const char	*s = mongo_get_utf8(rec, dotted);

	return s != NULL ? strdup(s) : NULL;
}

/* mongo_find_each()'s callback: the record onto the list arg. */
static int
prune_add(const bson_t *rec, void *arg)
{
	struct prune_list	*l = arg;
	struct prune_rec	*p;
	bson_iter_t		 it, sub;

	if (l->n == l->cap) {
		l->cap = l->cap * 2 + 16;
		if ((p = realloc(l->r, l->cap * sizeof(*p))) == NULL) {
			l->oom = true;
			return -1;
		}
		l->r = p;
	}
	p = &l->r[l->n];
	memset(p, 0, sizeof(*p));
	p->id = prune_strdup(rec, "_id");
	p->status = prune_strdup(rec, "status");
	p->bucket = prune_strdup(rec, "bucket");
	p->key = prune_strdup(rec, "key");
	p->manifest_key = prune_strdup(rec, "manifest_key");
	p->finished_ms = mongo_get_date(rec, "finished_at", INT64_MIN);
	if (p->finished_ms == INT64_MIN)
		p->finished_ms = mongo_get_date(rec, "started_at", INT64_MIN);
	p->verified = bson_iter_init(&it, rec) &&
	    bson_iter_find_descendant(&it, "verification.ok", &sub) &&
	    BSON_ITER_HOLDS_BOOL(&sub) && bson_iter_bool(&sub);
	l->n++;
	if (p->id == NULL)
		l->oom = true;
	return l->oom ? -1 : 0;
}

/* Free the list. */
static void
prune_list_free(struct prune_list *l)
{
	size_t	 i;

	for (i = 0; i < l->n; i++) {
		free(l->r[i].id);
		free(l->r[i].status);
		free(l->r[i].bucket);
		free(l->r[i].key);
		free(l->r[i].manifest_key);
	}
	free(l->r);
}

/* Is record p a good backup? */
static bool
prune_is_ok(const struct prune_rec *p)
{
	return p->status != NULL && strcmp(p->status, "ok") == 0;
}

/* Decide each record's fate under the configured policy at now_ms; 0, or
 * -1 out of memory. */
static int
prune_decide(const struct silo_config *c, struct prune_list *l,
    int64_t now_ms)
{
	struct retention_policy	 pol = { c->backup_keep_daily,
				    c->backup_keep_weekly,
				    c->backup_keep_monthly };
	struct retention_backup	*b;
	int64_t			 horizon = retention_horizon(&pol, now_ms);
	size_t			 i, n = 0;

	if ((b = calloc(l->n + 1, sizeof(*b))) == NULL)
		return -1;
	for (i = 0; i < l->n; i++)
		if (prune_is_ok(&l->r[i])) {
			b[n].finished_ms = l->r[i].finished_ms;
			b[n++].verified = l->r[i].verified;
		}
	retention_decide(&pol, b, n, now_ms);
	for (i = n = 0; i < l->n; i++) {
		if (prune_is_ok(&l->r[i])) {
			l->r[i].keep = b[n++].keep;
			l->r[i].drop = l->r[i].keep == 0;
		} else if (l->r[i].status != NULL &&
		    strcmp(l->r[i].status, "failed") == 0)
			l->r[i].drop = l->r[i].finished_ms < horizon;
	}
	free(b);
	return 0;
}

/* The table: every record, what happens to it and why. */
static void
prune_print(const struct prune_list *l, bool dry_run)
{
	char	 when[CLOCK_ISO_MAX], why[RETENTION_REASONS_MAX];
	size_t	 i, ndrop = 0;

	printf("%-28s %-8s %-20s %-6s %s\n", "ID", "STATUS", "FINISHED",
	    "ACTION", "REASON");
	for (i = 0; i < l->n; i++) {
		const struct prune_rec	*p = &l->r[i];

		if (p->finished_ms == INT64_MIN ||
		    !clock_iso(p->finished_ms, CLOCK_ISO_S, when,
		    sizeof(when)))
			snprintf(when, sizeof(when), "-");
		if (prune_is_ok(p))
			retention_reasons(p->keep, why, sizeof(why));
		else if (p->status != NULL &&
		    strcmp(p->status, "failed") == 0)
			snprintf(why, sizeof(why), "failed, %s the horizon",
			    p->drop ? "before" : "within");
		else
			snprintf(why, sizeof(why), "not finished");
		ndrop += p->drop;
		printf("%-28s %-8s %-20s %-6s %s\n", p->id,
		    p->status != NULL ? p->status : "-", when,
		    p->drop ? "delete" : "keep", why);
	}
	printf("prune: %zu kept, %zu %s\n", l->n - ndrop, ndrop,
	    dry_run ? "to delete (dry run: nothing deleted)" : "to delete");
}

/* Delete record p (still in the status it had); 0, or -1 (said). */
static int
prune_record_delete(struct mongo *m, const struct prune_rec *p)
{
	mongoc_collection_t	*c = mongoc_client_get_collection(m->client,
				    BACKUP_DB, BACKUP_RECORDS);
	bson_t			*filter = BCON_NEW("_id", BCON_UTF8(p->id),
				    "status", BCON_UTF8(p->status));
	bson_error_t		 e;
	bool			 ok;

	ok = mongoc_collection_delete_one(c, filter, NULL, NULL, &e);
	bson_destroy(filter);
	mongoc_collection_destroy(c);
	if (!ok)
		log_err("prune: %s: deleting its record: %s", p->id,
		    e.message);
	return ok ? 0 : -1;
}

/* Delete a pruned good backup's object, its manifest, then its record;
 * 0, or -1 (said, the record left). */
static int
prune_backup_delete(const struct silo_config *c, struct spaces *s3,
    struct mongo *m, const struct prune_rec *p)
{
	const char	*bucket = p->bucket != NULL ? p->bucket :
			    c->backup_bucket;
	const char	*keys[2] = { p->key, p->manifest_key };
	size_t		 i;

	for (i = 0; i < 2; i++) {
		if (keys[i] == NULL) {
			log_err("prune: %s: the record names no %s; the "
			    "record stays", p->id, i == 0 ? "object" :
			    "manifest");
			return -1;
		}
		if (spaces_delete(s3, bucket, keys[i]) == -1) {
			log_err("prune: %s: deleting %s: %s; the record "
			    "stays", p->id, keys[i], s3->err);
			return -1;
		}
	}
	return prune_record_delete(m, p);
}

/* Delete everything decided; 0, or 1 when any delete failed. */
static int
prune_apply(const struct silo_config *c, struct spaces *s3, struct mongo *m,
    const struct prune_list *l)
{
	size_t	 i;
	int	 rc = 0;

	for (i = 0; i < l->n; i++) {
		if (!l->r[i].drop)
			continue;
		if ((prune_is_ok(&l->r[i]) ? prune_backup_delete(c, s3, m,
		    &l->r[i]) : prune_record_delete(m, &l->r[i])) == -1)
			rc = 1;
		else
			printf("deleted %s\n", l->r[i].id);
	}
	return rc;
}

/* `silo backup prune [--dry-run]`: the exit status. */
int
prune_main(const struct silo_config *config, bool dry_run)
{
	struct prune_list	 l = { NULL, 0, 0, false };
	struct mongo		 m;
	struct spaces		 s3;
	bson_t			*filter, *opts;
	bson_error_t		 e;
	char			 err[1024];
	bool			 ok;
	int			 rc;

	if ((rc = backup_need_spaces(config)) != 0)
		return rc;
	mongo_log_init();
	if (mongo_open_job(&m, config, err, sizeof(err)) == -1) {
		log_err("prune: %s", err);
		return 1;
	}
	filter = bson_new();
	opts = BCON_NEW("sort", "{", "started_at", BCON_INT32(-1), "}");
	ok = mongo_find_each(&m, BACKUP_DB, BACKUP_RECORDS, filter, opts,
	    prune_add, &l, &e);
	bson_destroy(filter);
	bson_destroy(opts);
	rc = 1;
	if (!ok)
		log_err("prune: reading %s.%s: %s", BACKUP_DB, BACKUP_RECORDS,
		    e.message);
	else if (l.oom || prune_decide(config, &l, clock_real_ms()) == -1)
		log_err("prune: out of memory");
	else {
		prune_print(&l, dry_run);
		rc = 0;
	}
	if (rc == 0 && !dry_run) {
		if (spaces_open_config(&s3, config, err, sizeof(err)) == -1) {
			log_err("prune: %s", err);
			rc = 1;
		} else {
			rc = prune_apply(config, &s3, &m, &l);
			spaces_close(&s3);
		}
	}
	prune_list_free(&l);
	mongo_close(&m);
	return rc;
}
