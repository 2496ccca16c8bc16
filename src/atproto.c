/*
 * atproto.c: `silo atproto migrate` and `rollback`, moving a user from
 * their auth0 sub to a DID and back.
 *
 * What moves.  AC keys everything a user makes by the user's key, and the
 * ATProto document (seeds/atproto-data-architecture.md) changes that key
 * from the auth0 sub ("auth0|123") to the user's DID ("did:plc:...").
 * Only the references change.  Where they are is ac.c's knowledge: its
 * ac_user_collections (the user search's table) and ac_user_references
 * beside it (the records keyed by the sub, and the few other fields) are
 * together every place a sub is held, and this file walks both.  Three
 * kinds of reference move three ways:
 *
 *   - a field (or an element of an array field, logs' users) is set from
 *     the sub to the DID;
 *   - a record whose _id is the sub (users, verifications) is deleted and
 *     inserted again with _id = DID, field for field (in that order, for
 *     its unique indexes: users.code);
 *   - @handles, as the document specifies: a new document with _id = DID,
 *     handle, atprotoHandle ("<handle>.aesthetic.computer"),
 *     authProvider "atproto", legacyAuth0Sub and every other field
 *     copied; the old document is marked migratedDID and authProvider
 *     "atproto".  The old one also gives up its handle ($unset): @handles
 *     has a unique index on handle, and a handle must resolve to one
 *     user.  (On mongod that index must be sparse for more than one old
 *     document to lack a handle; FerretDB's allows it as it is.)
 *
 * sotce.net's users have their @handles document under "sotce-" + sub
 * while their chat, pages and asks hold the bare sub, so the @handles
 * key is the sub or, failing that, "sotce-" + sub.
 *
 * Safety without transactions.  AC uses none and FerretDB v1 has none,
 * so a user's migration is a journal in silo's own database, written
 * before anything it describes happens:
 *
 *   silo.atproto_journal        one document per user: _id = sub, did,
 *                               key (the @handles _id), handle, state,
 *                               steps, and when each state began;
 *   silo.atproto_journal_steps  the plan: _id = "<sub>/<seq>", sub, seq,
 *                               c (collection), f (field), k (field, id,
 *                               handle) and docs, up to 500 of
 *                               {_id, old}: the document's _id and the
 *                               previous value (for id and handle, the
 *                               whole previous document).
 *
 * The states run planning -> applying -> migrated, and for a rollback
 * rolling-back -> rolled-back.  The whole plan is journaled (planning)
 * before the first change (applying), so a crash while planning has
 * changed nothing and the re-run plans again.  Each change is idempotent
 * by its filter: a field is set only where it still holds the old key,
 * a copy whose _id exists already is not made twice, a deleted document
 * is not there to delete again.  So a re-run after a crash while applying
 * applies the whole plan again and changes only what was not yet
 * changed, and the result is a clean run's.  Rollback undoes the steps in
 * reverse from the journal: fields where they hold the DID get their
 * previous value back, records and the old @handles document are put
 * back whole, the new ones deleted; previous values are restored as they
 * were stored, so the data is byte-equal to what it was.  It too is
 * idempotent and may be re-run after a crash.
 *
 * Refusals, before anything is written: a malformed sub or DID, a user
 * with no @handles document (or two, AC's and sotce's), a DID already
 * some other user's (an @handles, users or verifications _id, another
 * user's atproto.did or migratedDID, or another user's journal), a user
 * whose users.atproto.did is another DID, and a handle clash (another
 * @handles document with the handle or the atprotoHandle).
 *
 * Round trips.  A user costs a handful of reads for the refusals, one
 * find per reference of the table for the plan, a journal write per step
 * and one write per step applied.  --stats counts the commands the driver
 * sends (libmongoc's APM) and prints them per user, for bench/atproto.py.
 * --step-delay pauses before every write, journal or data; it exists so
 * that the tests can kill the process at chosen points.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "extern.h"

#define	ATPROTO_DB		"silo"		/* silo's own database */
#define	ATPROTO_JOURNAL		"atproto_journal"	/* one per user */
#define	ATPROTO_STEPS		"atproto_journal_steps"	/* the plans */
#define	ATPROTO_STEP_DOCS	500	/* documents one step journals */
#define	ATPROTO_KEY_MAX		256	/* a sub, DID or key, with the NUL */
#define	ATPROTO_MAX_REFS	64	/* rows of ac.c's two tables */
#define	ATPROTO_SOTCE		"sotce-"	/* sotce.net's @handles keys */
#define	ATPROTO_HANDLE_DOMAIN	".aesthetic.computer"	/* atprotoHandle */
#define	ATPROTO_DUPLICATE	11000	/* the server's duplicate key code */

/* What became of one user. */
enum atproto_outcome {
	ATPROTO_DONE,		/* migrated or rolled back now */
	ATPROTO_ALREADY,	/* nothing to do: it was done before */
	ATPROTO_REFUSED,	/* refused; nothing was changed */
	ATPROTO_FAILED		/* the database failed; the journal resumes */
};

/* One place a user's key is held: a row of either of ac.c's tables. */
struct atproto_ref {
	const char	*name;		/* the collection */
	const char	*field;		/* the field holding the key */
	enum ac_ref_kind kind;		/* how it holds it */
};

/* One run of the command. */
struct atproto_run {
	struct mongo		 m;		/* the connection */
	const struct atproto_opts *o;		/* the command line */
	struct atproto_ref	 refs[ATPROTO_MAX_REFS]; /* every reference */
	size_t			 nrefs;		/* how many */
	int64_t			 commands;	/* commands the driver sent */
	const char		*cmd;		/* "atproto migrate" */
};

/* A user being moved: the sub and DID, and what the journal knows. */
struct atproto_user {
	const char	*sub;			/* the auth0 sub */
	const char	*did;			/* the DID */
	char		 key[ATPROTO_KEY_MAX];	/* the @handles _id */
	char		 handle[ATPROTO_KEY_MAX]; /* the @handles handle */
	char		 why[1024];		/* a refusal's reason */
};

/* A plan being journaled: the step being filled. */
struct atproto_plan {
	struct atproto_run	*run;		/* the run */
	const struct atproto_user *u;		/* whose plan */
	const struct atproto_ref *ref;		/* the reference being read */
	bson_t			 docs;		/* the step's {_id, old} */
	uint32_t		 ndocs;		/* how many in docs */
	uint32_t		 seq;		/* steps written so far */
	bool			 failed;	/* a journal write failed */
	bson_error_t		 error;		/* then why */
};

static const char *const atproto_kind_names[] = {
	[AC_REF_FIELD] = "field", [AC_REF_ID] = "id",
	[AC_REF_HANDLE] = "handle"
};

/* ------------------------------------------------------------------ */
/* What is well-formed                                                 */
/* ------------------------------------------------------------------ */

/* An auth0 sub: "<connection>|<id>", the connection of [a-z0-9-] and the
 * id of [A-Za-z0-9._-]; sotce.net's users are named by their bare sub. */
bool
atproto_sub_valid(const char *sub)
{
	const char	*bar;
	size_t		 len;

	if (sub == NULL || (len = strlen(sub)) == 0 ||
	    len >= ATPROTO_KEY_MAX - sizeof(ATPROTO_SOTCE) ||
	    (bar = strchr(sub, '|')) == NULL || bar == sub ||
	    strncmp(sub, ATPROTO_SOTCE, strlen(ATPROTO_SOTCE)) == 0)
		return false;
	if (strspn(sub, "abcdefghijklmnopqrstuvwxyz0123456789-") !=
	    (size_t)(bar - sub))
		return false;
	return bar[1] != '\0' && strspn(bar + 1, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == strlen(bar + 1);
}

/* A DID: did:plc: and 24 of base32's [a-z2-7], or did:web: and a host
 * name. */
bool
atproto_did_valid(const char *did)
{
	size_t	 len;

	if (did == NULL || (len = strlen(did)) >= ATPROTO_KEY_MAX)
		return false;
	if (strncmp(did, "did:plc:", 8) == 0)
		return len == 8 + 24 &&
		    strspn(did + 8, "abcdefghijklmnopqrstuvwxyz234567") == 24;
	if (strncmp(did, "did:web:", 8) == 0)
		return len > 8 && did[8] != '.' && did[8] != '-' &&
		    strspn(did + 8, "abcdefghijklmnopqrstuvwxyz0123456789.-") ==
		    len - 8;
	return false;
}

/* ------------------------------------------------------------------ */
/* The connection                                                      */
/* ------------------------------------------------------------------ */

static void
atproto_count_command(const mongoc_apm_command_started_t *event)
{
	struct atproto_run *run =
	    mongoc_apm_command_started_get_context(event);

	run->commands++;
}

/* Every reference of ac.c's two tables into run->refs. */
static void
atproto_collect_refs(struct atproto_run *run)
{
	run->nrefs = 0;
	for (const struct ac_user_collection *c = ac_user_collections;
	    c->name != NULL && run->nrefs < ATPROTO_MAX_REFS; c++)
		run->refs[run->nrefs++] = (struct atproto_ref){ c->name,
		    c->field, AC_REF_FIELD };
	for (const struct ac_user_reference *r = ac_user_references;
	    r->name != NULL && run->nrefs < ATPROTO_MAX_REFS; r++)
		run->refs[run->nrefs++] = (struct atproto_ref){ r->name,
		    r->field, r->kind };
}

/* Create one index of the journal's (f2 may be NULL); the server's
 * answer to an existing one is a no-op. */
static bool
atproto_index(struct atproto_run *run, const char *coll, const char *name,
    const char *f1, const char *f2, bson_error_t *e)
{
	bson_t	 key, *cmd, reply;
	bool	 ok;

	bson_init(&key);
	BSON_APPEND_INT32(&key, f1, 1);
	if (f2 != NULL)
		BSON_APPEND_INT32(&key, f2, 1);
	cmd = BCON_NEW("createIndexes", BCON_UTF8(coll), "indexes", "[",
	    "{", "name", BCON_UTF8(name), "key", BCON_DOCUMENT(&key), "}",
	    "]");
	ok = mongo_command(&run->m, ATPROTO_DB, cmd, &reply, e);
	bson_destroy(&reply);
	bson_destroy(cmd);
	bson_destroy(&key);
	return ok;
}

/* Open the connection and the journal's indexes; 0, or -1 logged. */
static int
atproto_open(struct atproto_run *run, const struct silo_config *config,
    const struct atproto_opts *o, const char *cmd)
{
	mongoc_apm_callbacks_t	*cbs;
	bson_error_t		 e;

	memset(run, 0, sizeof(*run));
	run->o = o;
	run->cmd = cmd;
	atproto_collect_refs(run);
	if (mongo_open_command(&run->m, config, cmd) == -1)
		return -1;
	cbs = mongoc_apm_callbacks_new();
	mongoc_apm_set_command_started_cb(cbs, atproto_count_command);
	mongoc_client_set_apm_callbacks(run->m.client, cbs, run);
	mongoc_apm_callbacks_destroy(cbs);
	if (!atproto_index(run, ATPROTO_STEPS, "sub_1_seq_1", "sub", "seq",
	    &e) || !atproto_index(run, ATPROTO_JOURNAL, "did_1", "did", NULL,
	    &e)) {
		log_err("%s: the journal's indexes: %s", cmd, e.message);
		mongo_close(&run->m);
		return -1;
	}
	return 0;
}

/* --step-delay: wait before a write, so that a test can kill us there. */
static void
atproto_pause(const struct atproto_run *run)
{
	struct timespec	 ts;

	if (run->o->step_delay_ms == 0)
		return;
	ts.tv_sec = run->o->step_delay_ms / 1000;
	ts.tv_nsec = (long)(run->o->step_delay_ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		continue;
}

static int64_t
atproto_now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static mongoc_collection_t *
atproto_coll(struct atproto_run *run, const char *db, const char *name)
{
	return mongoc_client_get_collection(run->m.client,
	    db != NULL ? db : run->m.db_name, name);
}

/* Whether the first document matching filter in db.name exists; -1 with e
 * set on an error. */
static int
atproto_exists(struct atproto_run *run, const char *db, const char *name,
    const bson_t *filter, bson_t *out, bson_error_t *e)
{
	bson_t	*opts = BCON_NEW("limit", BCON_INT64(1));
	bson_t	 doc;
	bool	 found;

	found = mongo_find_one(&run->m, db, name, filter, opts,
	    out != NULL ? out : &doc, e);
	bson_destroy(opts);
	if (found && out == NULL)
		bson_destroy(&doc);
	if (!found && e->code != 0)
		return -1;
	return found ? 1 : 0;
}

/* ------------------------------------------------------------------ */
/* The journal                                                         */
/* ------------------------------------------------------------------ */

/* Set the user's journal state (and when it began); upserts. */
static bool
atproto_journal_state(struct atproto_run *run, const struct atproto_user *u,
    const char *state, int64_t steps, bson_error_t *e)
{
	mongoc_collection_t	*c;
	bson_t			*filter, *update, *opts;
	char			 at[64];
	bool			 ok;

	atproto_pause(run);
	snprintf(at, sizeof(at), "at.%s", state);
	filter = BCON_NEW("_id", BCON_UTF8(u->sub));
	update = BCON_NEW("$set", "{", "did", BCON_UTF8(u->did),
	    "key", BCON_UTF8(u->key), "handle", BCON_UTF8(u->handle),
	    "state", BCON_UTF8(state), "steps", BCON_INT64(steps),
	    at, BCON_DATE_TIME(atproto_now_ms()), "}");
	opts = BCON_NEW("upsert", BCON_BOOL(true));
	c = atproto_coll(run, ATPROTO_DB, ATPROTO_JOURNAL);
	ok = mongoc_collection_update_one(c, filter, update, opts, NULL, e);
	mongoc_collection_destroy(c);
	bson_destroy(opts);
	bson_destroy(update);
	bson_destroy(filter);
	return ok;
}

/* Forget the user's journaled plan. */
static bool
atproto_journal_forget_steps(struct atproto_run *run, const char *sub,
    bson_error_t *e)
{
	mongoc_collection_t	*c;
	bson_t			*filter;
	bool			 ok;

	atproto_pause(run);
	filter = BCON_NEW("sub", BCON_UTF8(sub));
	c = atproto_coll(run, ATPROTO_DB, ATPROTO_STEPS);
	ok = mongoc_collection_delete_many(c, filter, NULL, NULL, e);
	mongoc_collection_destroy(c);
	bson_destroy(filter);
	return ok;
}

/* Journal the step being filled, if it holds any document. */
static bool
atproto_plan_flush(struct atproto_plan *p)
{
	mongoc_collection_t	*c;
	bson_t			 step;
	char			 id[ATPROTO_KEY_MAX + 16];
	bool			 ok;

	if (p->ndocs == 0)
		return true;
	atproto_pause(p->run);
	snprintf(id, sizeof(id), "%s/%06u", p->u->sub, (unsigned)p->seq);
	bson_init(&step);
	BSON_APPEND_UTF8(&step, "_id", id);
	BSON_APPEND_UTF8(&step, "sub", p->u->sub);
	BSON_APPEND_INT32(&step, "seq", (int32_t)p->seq);
	BSON_APPEND_UTF8(&step, "c", p->ref->name);
	BSON_APPEND_UTF8(&step, "f", p->ref->field);
	BSON_APPEND_UTF8(&step, "k", atproto_kind_names[p->ref->kind]);
	BSON_APPEND_ARRAY(&step, "docs", &p->docs);
	c = atproto_coll(p->run, ATPROTO_DB, ATPROTO_STEPS);
	ok = mongoc_collection_insert_one(c, &step, NULL, NULL, &p->error);
	mongoc_collection_destroy(c);
	bson_destroy(&step);
	bson_reinit(&p->docs);
	p->ndocs = 0;
	p->seq++;
	if (!ok)
		p->failed = true;
	return ok;
}

/* One document of a reference into the plan: its _id and the previous
 * value (the whole document for a record). */
static int
atproto_plan_doc(const bson_t *doc, void *arg)
{
	struct atproto_plan	*p = arg;
	bson_iter_t		 it, v;
	bson_t			 entry;
	char			 k[16];

	if (!bson_iter_init_find(&it, doc, "_id"))
		return 0;
	snprintf(k, sizeof(k), "%u", (unsigned)p->ndocs);
	bson_append_document_begin(&p->docs, k, -1, &entry);
	bson_append_iter(&entry, "_id", -1, &it);
	if (p->ref->kind != AC_REF_FIELD)
		BSON_APPEND_DOCUMENT(&entry, "old", doc);
	else if (bson_iter_init(&v, doc) &&
	    bson_iter_find_descendant(&v, p->ref->field, &v))
		bson_append_iter(&entry, "old", -1, &v);
	bson_append_document_end(&p->docs, &entry);
	if (++p->ndocs == ATPROTO_STEP_DOCS && !atproto_plan_flush(p))
		return 1;
	return 0;
}

/* The filter finding a reference's documents that hold key. */
static bson_t *
atproto_ref_filter(const struct atproto_ref *ref, const char *key)
{
	return BCON_NEW(ref->kind == AC_REF_FIELD ? ref->field : "_id",
	    BCON_UTF8(key));
}

/* Journal the whole plan: every document of every reference that holds
 * the sub, in the tables' order; the number of steps, or -1 with e set. */
static int64_t
atproto_plan(struct atproto_run *run, const struct atproto_user *u,
    bson_error_t *e)
{
	struct atproto_plan	 p = { 0 };
	bool			 ok = true;

	p.run = run;
	p.u = u;
	bson_init(&p.docs);
	for (size_t i = 0; ok && i < run->nrefs; i++) {
		const struct atproto_ref *ref = &run->refs[i];
		bson_t	*filter, *opts = NULL;

		p.ref = ref;
		filter = atproto_ref_filter(ref, ref->kind == AC_REF_HANDLE ?
		    u->key : u->sub);
		if (ref->kind == AC_REF_FIELD)
			opts = BCON_NEW("projection", "{", ref->field,
			    BCON_INT32(1), "}", "sort", "{", "_id",
			    BCON_INT32(1), "}");
		ok = mongo_find_each(&run->m, NULL, ref->name, filter, opts,
		    atproto_plan_doc, &p, e) && !p.failed &&
		    atproto_plan_flush(&p);
		if (p.failed)
			*e = p.error;
		bson_destroy(filter);
		if (opts != NULL)
			bson_destroy(opts);
	}
	bson_destroy(&p.docs);
	return ok ? (int64_t)p.seq : -1;
}

/* ------------------------------------------------------------------ */
/* Applying and undoing a step                                         */
/* ------------------------------------------------------------------ */

/* The array arr with every element equal to from made to, into out. */
static void
atproto_array_swap(bson_iter_t *arr, const char *from, const char *to,
    bson_t *out)
{
	bson_iter_t	 el;
	char		 k[16];
	uint32_t	 i = 0;

	bson_init(out);
	if (!bson_iter_recurse(arr, &el))
		return;
	while (bson_iter_next(&el)) {
		snprintf(k, sizeof(k), "%u", (unsigned)i++);
		if (BSON_ITER_HOLDS_UTF8(&el) &&
		    strcmp(bson_iter_utf8(&el, NULL), from) == 0)
			BSON_APPEND_UTF8(out, k, to);
		else
			bson_append_iter(out, k, -1, &el);
	}
}

/* A field step, either way: where the field still holds from, it gets
 * to (scalars, one update of them all) or, for arrays, the migrated or
 * the previous array (one update each), in one bulk write. */
static bool
atproto_step_fields(mongoc_collection_t *c, const char *f, bson_iter_t *docs,
    const char *from, const char *to, bool undo, bson_error_t *e)
{
	mongoc_bulk_operation_t	*bulk;
	bson_t			 ids, *filter, *update, *opts, reply;
	bson_iter_t		 d, id, old;
	char			 k[16];
	uint32_t		 nids = 0, nops = 0;
	bool			 ok = true;

	opts = BCON_NEW("ordered", BCON_BOOL(false));
	bulk = mongoc_collection_create_bulk_operation_with_opts(c, opts);
	bson_destroy(opts);
	bson_init(&ids);
	while (ok && bson_iter_next(docs)) {
		if (!bson_iter_recurse(docs, &d) ||
		    !bson_iter_find(&d, "_id"))
			continue;
		id = d;
		if (!bson_iter_find(&d, "old"))
			continue;
		old = d;
		if (!BSON_ITER_HOLDS_ARRAY(&old)) {
			snprintf(k, sizeof(k), "%u", (unsigned)nids++);
			bson_append_iter(&ids, k, -1, &id);
			continue;
		}
		filter = bson_new();
		bson_append_iter(filter, "_id", -1, &id);
		BSON_APPEND_UTF8(filter, f, from);
		update = bson_new();
		{
			bson_t	 set, arr;

			BSON_APPEND_DOCUMENT_BEGIN(update, "$set", &set);
			if (undo)
				bson_append_iter(&set, f, -1, &old);
			else {
				atproto_array_swap(&old, from, to, &arr);
				BSON_APPEND_ARRAY(&set, f, &arr);
				bson_destroy(&arr);
			}
			bson_append_document_end(update, &set);
		}
		ok = mongoc_bulk_operation_update_one_with_opts(bulk, filter,
		    update, NULL, e);
		nops++;
		bson_destroy(update);
		bson_destroy(filter);
	}
	if (ok && nids > 0) {
		filter = BCON_NEW("_id", "{", "$in", BCON_ARRAY(&ids), "}",
		    f, BCON_UTF8(from));
		update = BCON_NEW("$set", "{", f, BCON_UTF8(to), "}");
		ok = mongoc_bulk_operation_update_many_with_opts(bulk, filter,
		    update, NULL, e);
		nops++;
		bson_destroy(update);
		bson_destroy(filter);
	}
	if (ok && nops > 0) {
		ok = mongoc_bulk_operation_execute(bulk, &reply, e) != 0;
		bson_destroy(&reply);
	}
	mongoc_bulk_operation_destroy(bulk);
	bson_destroy(&ids);
	return ok;
}

/* Insert doc unless its _id is there already (a re-run).  Any other
 * duplicate (a unique index) is an error. */
static bool
atproto_insert_once(mongoc_collection_t *c, const bson_t *doc,
    bson_error_t *e)
{
	bson_error_t	 e2;
	bson_iter_t	 it;
	bson_t		 filter;
	int64_t		 n;

	if (mongoc_collection_insert_one(c, doc, NULL, NULL, e))
		return true;
	if (e->code != ATPROTO_DUPLICATE || !bson_iter_init_find(&it, doc,
	    "_id"))
		return false;
	bson_init(&filter);
	bson_append_iter(&filter, "_id", -1, &it);
	n = mongoc_collection_count_documents(c, &filter, NULL, NULL, NULL,
	    &e2);
	bson_destroy(&filter);
	return n == 1;
}

static bool
atproto_delete_id(mongoc_collection_t *c, const char *id, bson_error_t *e)
{
	bson_t	*filter = BCON_NEW("_id", BCON_UTF8(id));
	bool	 ok;

	ok = mongoc_collection_delete_one(c, filter, NULL, NULL, e);
	bson_destroy(filter);
	return ok;
}

/* doc with its _id made id, every other field as it was, into out. */
static void
atproto_rekey(const bson_t *doc, const char *id, bson_t *out)
{
	bson_iter_t	 it;

	bson_init(out);
	BSON_APPEND_UTF8(out, "_id", id);
	if (bson_iter_init(&it, doc))
		while (bson_iter_next(&it))
			if (strcmp(bson_iter_key(&it), "_id") != 0)
				bson_append_iter(out, NULL, 0, &it);
}

/* The new @handles document, as the ATProto document has it: _id = DID,
 * handle, atprotoHandle, authProvider, legacyAuth0Sub, then every other
 * field of the old one. */
static void
atproto_handles_twin(const struct atproto_user *u, const bson_t *old,
    bson_t *out)
{
	static const char *const set[] = { "_id", "handle", "atprotoHandle",
	    "authProvider", "legacyAuth0Sub", "migratedDID", NULL };
	bson_iter_t	 it;
	char		 ah[ATPROTO_KEY_MAX + sizeof(ATPROTO_HANDLE_DOMAIN)];
	size_t		 i;

	snprintf(ah, sizeof(ah), "%s%s", u->handle, ATPROTO_HANDLE_DOMAIN);
	bson_init(out);
	BSON_APPEND_UTF8(out, "_id", u->did);
	BSON_APPEND_UTF8(out, "handle", u->handle);
	BSON_APPEND_UTF8(out, "atprotoHandle", ah);
	BSON_APPEND_UTF8(out, "authProvider", "atproto");
	BSON_APPEND_UTF8(out, "legacyAuth0Sub", u->sub);
	if (!bson_iter_init(&it, old))
		return;
	while (bson_iter_next(&it)) {
		for (i = 0; set[i] != NULL &&
		    strcmp(set[i], bson_iter_key(&it)) != 0; i++)
			continue;
		if (set[i] == NULL)
			bson_append_iter(out, NULL, 0, &it);
	}
}

/* A record or @handles step, either way, document by document. */
static bool
atproto_step_records(mongoc_collection_t *c, enum ac_ref_kind kind,
    bson_iter_t *docs, const struct atproto_user *u, bool undo,
    bson_error_t *e)
{
	bson_iter_t	 d;
	bson_t		 old, doc, *filter, *update;
	const uint8_t	*data;
	uint32_t	 len;
	bool		 ok = true;

	while (ok && bson_iter_next(docs)) {
		if (!bson_iter_recurse(docs, &d) ||
		    !bson_iter_find(&d, "old") || !BSON_ITER_HOLDS_DOCUMENT(&d))
			continue;
		bson_iter_document(&d, &len, &data);
		if (!bson_init_static(&old, data, len))
			continue;
		/* A record's unique indexes (users.code) allow one copy at a
		 * time: the old goes first, the journal holding it whole. */
		if (kind == AC_REF_ID && !undo) {
			atproto_rekey(&old, u->did, &doc);
			ok = atproto_delete_id(c, u->sub, e) &&
			    atproto_insert_once(c, &doc, e);
			bson_destroy(&doc);
		} else if (kind == AC_REF_ID) {
			ok = atproto_delete_id(c, u->did, e) &&
			    atproto_insert_once(c, &old, e);
		} else if (!undo) {
			filter = BCON_NEW("_id", BCON_UTF8(u->key));
			update = BCON_NEW("$set", "{", "authProvider",
			    BCON_UTF8("atproto"), "migratedDID",
			    BCON_UTF8(u->did), "}", "$unset", "{",
			    "handle", BCON_UTF8(""), "}");
			ok = mongoc_collection_update_one(c, filter, update,
			    NULL, NULL, e);
			bson_destroy(update);
			bson_destroy(filter);
			atproto_handles_twin(u, &old, &doc);
			ok = ok && atproto_insert_once(c, &doc, e);
			bson_destroy(&doc);
		} else {
			filter = BCON_NEW("_id", BCON_UTF8(u->key));
			update = BCON_NEW("upsert", BCON_BOOL(true));
			ok = atproto_delete_id(c, u->did, e) &&
			    mongoc_collection_replace_one(c, filter, &old,
			    update, NULL, e);
			bson_destroy(update);
			bson_destroy(filter);
		}
	}
	return ok;
}

/* Apply (or undo) one journaled step. */
static bool
atproto_step(struct atproto_run *run, const struct atproto_user *u,
    const bson_t *step, bool undo, bson_error_t *e)
{
	mongoc_collection_t	*c;
	const char		*coll, *f, *k;
	bson_iter_t		 it, docs;
	enum ac_ref_kind	 kind = AC_REF_FIELD;
	bool			 ok;

	coll = mongo_get_utf8(step, "c");
	f = mongo_get_utf8(step, "f");
	k = mongo_get_utf8(step, "k");
	if (coll == NULL || f == NULL || k == NULL ||
	    !bson_iter_init_find(&it, step, "docs") ||
	    !bson_iter_recurse(&it, &docs)) {
		bson_set_error(e, 0, 1, "a malformed journal step");
		return false;
	}
	for (int i = 0; i <= AC_REF_HANDLE; i++)
		if (strcmp(k, atproto_kind_names[i]) == 0)
			kind = (enum ac_ref_kind)i;
	atproto_pause(run);
	c = atproto_coll(run, NULL, coll);
	if (kind == AC_REF_FIELD)
		ok = atproto_step_fields(c, f, &docs, undo ? u->did : u->sub,
		    undo ? u->sub : u->did, undo, e);
	else
		ok = atproto_step_records(c, kind, &docs, u, undo, e);
	mongoc_collection_destroy(c);
	return ok;
}

/* Where atproto_each_step() is. */
struct atproto_walk {
	struct atproto_run	*run;		/* the run */
	const struct atproto_user *u;		/* whose steps */
	bool			 undo;		/* undo instead of apply */
	bool			 failed;	/* a step failed */
	bson_error_t		 error;		/* then why */
};

static int
atproto_walk_step(const bson_t *step, void *arg)
{
	struct atproto_walk *w = arg;

	if (atproto_step(w->run, w->u, step, w->undo, &w->error))
		return 0;
	w->failed = true;
	return 1;
}

/* Apply every journaled step of the user in order, or undo them in
 * reverse. */
static bool
atproto_each_step(struct atproto_run *run, const struct atproto_user *u,
    bool undo, bson_error_t *e)
{
	struct atproto_walk	 w = { run, u, undo, false, { 0 } };
	bson_t			*filter, *opts;
	bool			 ok;

	filter = BCON_NEW("sub", BCON_UTF8(u->sub));
	opts = BCON_NEW("sort", "{", "seq", BCON_INT32(undo ? -1 : 1), "}");
	ok = mongo_find_each(&run->m, ATPROTO_DB, ATPROTO_STEPS, filter, opts,
	    atproto_walk_step, &w, e);
	if (w.failed) {
		*e = w.error;
		ok = false;
	}
	bson_destroy(opts);
	bson_destroy(filter);
	return ok;
}

/* ------------------------------------------------------------------ */
/* Refusals                                                            */
/* ------------------------------------------------------------------ */

/* Find the user's @handles document: its key and handle; 0, 1 refused
 * (u->why says why) or -1 with e set. */
static int
atproto_find_handles(struct atproto_run *run, struct atproto_user *u,
    bson_error_t *e)
{
	char		 sotce[ATPROTO_KEY_MAX];
	bson_t		 doc, *filter;
	const char	*h, *moved;
	int		 rc, found = 0;

	snprintf(sotce, sizeof(sotce), "%s%s", ATPROTO_SOTCE, u->sub);
	for (int i = 0; i < 2; i++) {
		filter = BCON_NEW("_id", BCON_UTF8(i == 0 ? u->sub : sotce));
		rc = atproto_exists(run, NULL, "@handles", filter, &doc, e);
		bson_destroy(filter);
		if (rc == -1)
			return -1;
		if (rc == 0)
			continue;
		if (found++ == 0) {
			h = mongo_get_utf8(&doc, "handle");
			moved = mongo_get_utf8(&doc, "migratedDID");
			snprintf(u->key, sizeof(u->key), "%s",
			    i == 0 ? u->sub : sotce);
			if (moved != NULL)
				snprintf(u->why, sizeof(u->why), "its @handles "
				    "document says it moved to %s already",
				    moved);
			else if (h == NULL || h[0] == '\0' ||
			    strlen(h) >= sizeof(u->handle))
				snprintf(u->why, sizeof(u->why), "its @handles "
				    "document has no handle");
			else
				snprintf(u->handle, sizeof(u->handle), "%s", h);
		}
		bson_destroy(&doc);
	}
	if (found == 0)
		snprintf(u->why, sizeof(u->why), "no @handles document");
	else if (found == 2)
		snprintf(u->why, sizeof(u->why), "two @handles documents, "
		    "%s and %s: which one moves is not clear", u->sub, sotce);
	return u->why[0] != '\0' ? 1 : 0;
}

/* Is the DID some other user's?  0, 1 refused, or -1. */
static int
atproto_did_taken(struct atproto_run *run, struct atproto_user *u,
    bson_error_t *e)
{
	bson_t	*filter;
	int	 rc = 0;

	/* Any record keyed by it, @handles or migratedDID pointing to it. */
	for (size_t i = 0; rc == 0 && i < run->nrefs; i++) {
		if (run->refs[i].kind == AC_REF_FIELD)
			continue;
		filter = BCON_NEW("_id", BCON_UTF8(u->did));
		if ((rc = atproto_exists(run, NULL, run->refs[i].name, filter,
		    NULL, e)) == 1)
			snprintf(u->why, sizeof(u->why), "%s already has a "
			    "document with _id %s", run->refs[i].name, u->did);
		bson_destroy(filter);
	}
	if (rc == 0) {
		filter = BCON_NEW("migratedDID", BCON_UTF8(u->did));
		if ((rc = atproto_exists(run, NULL, "@handles", filter, NULL,
		    e)) == 1)
			snprintf(u->why, sizeof(u->why), "another @handles "
			    "document moved to %s", u->did);
		bson_destroy(filter);
	}
	if (rc == 0) {
		filter = BCON_NEW("atproto.did", BCON_UTF8(u->did),
		    "_id", "{", "$ne", BCON_UTF8(u->sub), "}");
		if ((rc = atproto_exists(run, NULL, "users", filter, NULL,
		    e)) == 1)
			snprintf(u->why, sizeof(u->why), "%s is another "
			    "user's atproto.did", u->did);
		bson_destroy(filter);
	}
	if (rc == 0) {
		filter = BCON_NEW("did", BCON_UTF8(u->did),
		    "_id", "{", "$ne", BCON_UTF8(u->sub), "}",
		    "state", "{", "$ne", BCON_UTF8("rolled-back"), "}");
		if ((rc = atproto_exists(run, ATPROTO_DB, ATPROTO_JOURNAL,
		    filter, NULL, e)) == 1)
			snprintf(u->why, sizeof(u->why), "%s is journaled for "
			    "another user", u->did);
		bson_destroy(filter);
	}
	return rc;
}

/* Does the user's own users document name another DID, or another
 * @handles document hold the handle or the atprotoHandle?  0, 1, -1. */
static int
atproto_user_clash(struct atproto_run *run, struct atproto_user *u,
    bson_error_t *e)
{
	char		 ah[ATPROTO_KEY_MAX + sizeof(ATPROTO_HANDLE_DOMAIN)];
	bson_t		*filter, doc;
	const char	*own;
	int		 rc;

	filter = BCON_NEW("_id", BCON_UTF8(u->sub));
	rc = atproto_exists(run, NULL, "users", filter, &doc, e);
	bson_destroy(filter);
	if (rc == 1) {
		own = mongo_get_utf8(&doc, "atproto.did");
		if (own != NULL && strcmp(own, u->did) != 0)
			snprintf(u->why, sizeof(u->why), "its users document's "
			    "atproto.did is %s", own);
		bson_destroy(&doc);
		rc = u->why[0] != '\0';
	}
	if (rc != 0)
		return rc;
	snprintf(ah, sizeof(ah), "%s%s", u->handle, ATPROTO_HANDLE_DOMAIN);
	filter = BCON_NEW("_id", "{", "$ne", BCON_UTF8(u->key), "}",
	    "$or", "[", "{", "handle", BCON_UTF8(u->handle), "}",
	    "{", "atprotoHandle", BCON_UTF8(ah), "}", "]");
	if ((rc = atproto_exists(run, NULL, "@handles", filter, NULL,
	    e)) == 1)
		snprintf(u->why, sizeof(u->why), "handle clash: another "
		    "@handles document holds %s or %s", u->handle, ah);
	bson_destroy(filter);
	return rc;
}

/* Every refusal, in order; 0, 1 refused, or -1. */
static int
atproto_refuse(struct atproto_run *run, struct atproto_user *u,
    bson_error_t *e)
{
	int	 rc;

	if (!atproto_sub_valid(u->sub)) {
		snprintf(u->why, sizeof(u->why), "not a well-formed auth0 sub "
		    "(connection|id)");
		return 1;
	}
	if (!atproto_did_valid(u->did)) {
		snprintf(u->why, sizeof(u->why), "'%.200s' is not a "
		    "well-formed DID (did:plc: and 24 of a-z2-7, or did:web:)",
		    u->did);
		return 1;
	}
	if ((rc = atproto_find_handles(run, u, e)) != 0 ||
	    (rc = atproto_did_taken(run, u, e)) != 0)
		return rc;
	return atproto_user_clash(run, u, e);
}

/* ------------------------------------------------------------------ */
/* Migrate and roll back one user                                      */
/* ------------------------------------------------------------------ */

/* Print, per reference, how many documents hold the sub. */
static bool
atproto_dry_run(struct atproto_run *run, const struct atproto_user *u,
    bson_error_t *e)
{
	int64_t	 n, total = 0;

	printf("%s -> %s: would change\n", u->sub, u->did);
	for (size_t i = 0; i < run->nrefs; i++) {
		const struct atproto_ref *ref = &run->refs[i];
		bson_t	*filter = atproto_ref_filter(ref,
		    ref->kind == AC_REF_HANDLE ? u->key : u->sub);

		n = mongo_count(&run->m, ref->name, filter, e);
		bson_destroy(filter);
		if (n < 0)
			return false;
		if (n > 0)
			printf("  %-20s %-16s %lld\n", ref->name, ref->field,
			    (long long)n);
		total += n;
	}
	printf("  %-20s %-16s %lld\n", "total", "", (long long)total);
	return true;
}

/* Copy a journal's did, key and handle into u; whether it has them. */
static bool
atproto_from_journal(const bson_t *j, struct atproto_user *u)
{
	const char	*key = mongo_get_utf8(j, "key");
	const char	*handle = mongo_get_utf8(j, "handle");

	if (key == NULL || handle == NULL)
		return false;
	snprintf(u->key, sizeof(u->key), "%s", key);
	snprintf(u->handle, sizeof(u->handle), "%s", handle);
	return true;
}

/* Apply the journaled plan and mark the user migrated. */
static bool
atproto_finish(struct atproto_run *run, const struct atproto_user *u,
    int64_t steps, bson_error_t *e)
{
	return atproto_each_step(run, u, false, e) &&
	    atproto_journal_state(run, u, "migrated", steps, e);
}

static enum atproto_outcome
atproto_migrate_one(struct atproto_run *run, struct atproto_user *u,
    bson_error_t *e)
{
	bson_t		 j, *filter;
	const char	*state = NULL, *jdid = NULL;
	int64_t		 steps = 0;
	int		 rc, journaled;
	enum atproto_outcome out = ATPROTO_FAILED;

	memset(e, 0, sizeof(*e));
	filter = BCON_NEW("_id", BCON_UTF8(u->sub));
	journaled = atproto_exists(run, ATPROTO_DB, ATPROTO_JOURNAL, filter,
	    &j, e);
	bson_destroy(filter);
	if (journaled == -1)
		return ATPROTO_FAILED;
	if (journaled == 1) {
		state = mongo_get_utf8(&j, "state");
		jdid = mongo_get_utf8(&j, "did");
		steps = mongo_get_int64(&j, "steps", 0);
	}
	if (state != NULL && strcmp(state, "rolled-back") != 0 &&
	    (jdid == NULL || strcmp(jdid, u->did) != 0)) {
		snprintf(u->why, sizeof(u->why), "already journaled to move "
		    "to %s", jdid != NULL ? jdid : "(none)");
		out = ATPROTO_REFUSED;
	} else if (state != NULL && strcmp(state, "migrated") == 0) {
		out = ATPROTO_ALREADY;
	} else if (state != NULL && strcmp(state, "rolling-back") == 0) {
		snprintf(u->why, sizeof(u->why), "a rollback is unfinished: "
		    "run 'silo atproto rollback --sub' again first");
		out = ATPROTO_REFUSED;
	} else if (state != NULL && strcmp(state, "applying") == 0) {
		/* A crash after the plan: apply it again, to its end. */
		if (!atproto_from_journal(&j, u))
			bson_set_error(e, 0, 1, "the journal lacks key/handle");
		else if (run->o->dry_run)
			out = atproto_dry_run(run, u, e) ? ATPROTO_DONE :
			    ATPROTO_FAILED;
		else if (atproto_finish(run, u, steps, e))
			out = ATPROTO_DONE;
	} else if ((rc = atproto_refuse(run, u, e)) != 0) {
		out = rc == 1 ? ATPROTO_REFUSED : ATPROTO_FAILED;
	} else if (run->o->dry_run) {
		out = atproto_dry_run(run, u, e) ? ATPROTO_DONE :
		    ATPROTO_FAILED;
	} else if (atproto_journal_state(run, u, "planning", 0, e) &&
	    atproto_journal_forget_steps(run, u->sub, e) &&
	    (steps = atproto_plan(run, u, e)) >= 0 &&
	    atproto_journal_state(run, u, "applying", steps, e) &&
	    atproto_finish(run, u, steps, e))
		out = ATPROTO_DONE;
	if (journaled == 1)
		bson_destroy(&j);
	return out;
}

static enum atproto_outcome
atproto_rollback_one(struct atproto_run *run, struct atproto_user *u,
    bson_error_t *e)
{
	bson_t		 j, *filter;
	const char	*state, *did;
	int64_t		 steps;
	int		 rc;
	enum atproto_outcome out = ATPROTO_FAILED;

	memset(e, 0, sizeof(*e));
	filter = BCON_NEW("_id", BCON_UTF8(u->sub));
	rc = atproto_exists(run, ATPROTO_DB, ATPROTO_JOURNAL, filter, &j, e);
	bson_destroy(filter);
	if (rc == -1)
		return ATPROTO_FAILED;
	if (rc == 0) {
		snprintf(u->why, sizeof(u->why), "no migration of it is "
		    "journaled");
		return ATPROTO_REFUSED;
	}
	state = mongo_get_utf8(&j, "state");
	did = mongo_get_utf8(&j, "did");
	steps = mongo_get_int64(&j, "steps", 0);
	if (state == NULL || did == NULL || !atproto_from_journal(&j, u))
		bson_set_error(e, 0, 1, "a malformed journal document");
	else if (strcmp(state, "rolled-back") == 0)
		out = ATPROTO_ALREADY;
	else {
		u->did = did;
		/* planning: nothing was applied, so nothing is undone; the
		 * undo of a step that was never applied matches nothing. */
		if (atproto_journal_state(run, u, "rolling-back", steps, e) &&
		    atproto_each_step(run, u, true, e) &&
		    atproto_journal_state(run, u, "rolled-back", steps, e) &&
		    atproto_journal_forget_steps(run, u->sub, e))
			out = ATPROTO_DONE;
	}
	if (out == ATPROTO_DONE || out == ATPROTO_ALREADY)
		printf("%s: %s %s\n", u->sub, out == ATPROTO_DONE ?
		    "rolled back from" : "was already rolled back from", did);
	u->did = NULL;
	bson_destroy(&j);
	return out;
}

/* ------------------------------------------------------------------ */
/* The commands                                                        */
/* ------------------------------------------------------------------ */

/* One pair of a --map file. */
struct atproto_pair {
	char	*sub;		/* the sub; owned */
	char	*did;		/* the DID; owned */
};

/* The pair on one line of a map file, CSV ("sub,did") or a JSON object
 * ({"sub":..., "did":...}); false if the line is neither. */
static bool
atproto_map_line(char *line, struct atproto_pair *p)
{
	cJSON	*o, *s, *d;
	char	*comma, *a, *b;
	bool	 ok = false;

	if (line[0] == '{') {
		if ((o = cJSON_Parse(line)) == NULL)
			return false;
		s = cJSON_GetObjectItemCaseSensitive(o, "sub");
		d = cJSON_GetObjectItemCaseSensitive(o, "did");
		if (cJSON_IsString(s) && cJSON_IsString(d)) {
			p->sub = strdup(s->valuestring);
			p->did = strdup(d->valuestring);
			ok = p->sub != NULL && p->did != NULL;
		}
		cJSON_Delete(o);
		return ok;
	}
	if ((comma = strchr(line, ',')) == NULL || strchr(comma + 1, ',')
	    != NULL)
		return false;
	*comma = '\0';
	a = line + strspn(line, " \t\"");
	b = comma + 1 + strspn(comma + 1, " \t\"");
	a[strcspn(a, " \t\"")] = '\0';
	b[strcspn(b, " \t\"")] = '\0';
	p->sub = strdup(a);
	p->did = strdup(b);
	return p->sub != NULL && p->did != NULL;
}

static void
atproto_pairs_free(struct atproto_pair *pairs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(pairs[i].sub);
		free(pairs[i].did);
	}
	free(pairs);
}

/* Every pair of the map file, or NULL with the problem logged.  Blank
 * lines, '#' comments and a "sub,did" header line are skipped. */
static struct atproto_pair *
atproto_map_read(const char *path, size_t *n)
{
	struct atproto_pair	*pairs = NULL, *grown;
	FILE			*f;
	char			*line = NULL;
	size_t			 cap = 0, lineno = 0, size = 0;
	ssize_t			 len;
	bool			 ok = true;

	*n = 0;
	if ((f = fopen(path, "r")) == NULL) {
		log_err("atproto migrate: %s: %s", path, strerror(errno));
		return NULL;
	}
	while (ok && (len = getline(&line, &size, f)) != -1) {
		lineno++;
		line[strcspn(line, "\r\n")] = '\0';
		if (line[strspn(line, " \t")] == '\0' || line[0] == '#' ||
		    strcmp(line, "sub,did") == 0)
			continue;
		if (*n == cap) {
			cap = cap == 0 ? 64 : cap * 2;
			if ((grown = realloc(pairs, cap * sizeof(*pairs))) ==
			    NULL) {
				ok = false;
				break;
			}
			pairs = grown;
		}
		memset(&pairs[*n], 0, sizeof(pairs[*n]));
		if (!atproto_map_line(line, &pairs[*n])) {
			log_err("atproto migrate: %s:%zu: neither \"sub,did\" "
			    "nor {\"sub\":...,\"did\":...}", path, lineno);
			ok = false;
		}
		(*n)++;
	}
	free(line);
	fclose(f);
	if (ok && *n == 0) {
		log_err("atproto migrate: %s: no users", path);
		ok = false;
	}
	if (!ok) {
		atproto_pairs_free(pairs, *n);
		return NULL;
	}
	return pairs;
}

/* Say what became of one user; whether it counts as a success. */
static bool
atproto_report(struct atproto_run *run, const struct atproto_user *u,
    enum atproto_outcome out, const bson_error_t *e)
{
	switch (out) {
	case ATPROTO_DONE:
		if (!run->o->dry_run)
			printf("%s: migrated to %s\n", u->sub, u->did);
		return true;
	case ATPROTO_ALREADY:
		printf("%s: already migrated to %s\n", u->sub, u->did);
		return true;
	case ATPROTO_REFUSED:
		log_err("%s: %s: refused: %s", run->cmd, u->sub, u->why);
		return false;
	case ATPROTO_FAILED:
		log_err("%s: %s: %s (re-run to resume)", run->cmd, u->sub,
		    e->message);
		return false;
	}
	return false;
}

/* --stats: the users, the commands sent and the time taken. */
static void
atproto_stats(const struct atproto_run *run, size_t users,
    const struct timespec *t0)
{
	struct timespec	 t1;
	double		 s;

	if (!run->o->stats)
		return;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	s = (double)(t1.tv_sec - t0->tv_sec) +
	    (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
	fprintf(stderr, "stats: users %zu commands %lld seconds %.3f "
	    "users/s %.1f commands/user %.1f\n", users,
	    (long long)run->commands, s, s > 0 ? (double)users / s : 0.0,
	    users > 0 ? (double)run->commands / (double)users : 0.0);
}

int
atproto_migrate_main(const struct silo_config *config,
    const struct atproto_opts *o)
{
	struct atproto_run	 run;
	struct atproto_pair	*pairs, one;
	struct atproto_user	 u;
	struct timespec		 t0;
	bson_error_t		 e;
	size_t			 n = 1, bad = 0;

	one.sub = (char *)o->sub;
	one.did = (char *)o->did;
	pairs = &one;
	if (o->map != NULL && (pairs = atproto_map_read(o->map, &n)) == NULL)
		return 2;
	if (atproto_open(&run, config, o, "atproto migrate") == -1) {
		if (pairs != &one)
			atproto_pairs_free(pairs, n);
		return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	run.commands = 0;
	for (size_t i = 0; i < n; i++) {
		memset(&u, 0, sizeof(u));
		u.sub = pairs[i].sub;
		u.did = pairs[i].did;
		if (!atproto_report(&run, &u, atproto_migrate_one(&run, &u, &e),
		    &e))
			bad++;
	}
	atproto_stats(&run, n, &t0);
	if (n > 1)
		printf("%zu users: %zu done, %zu not\n", n, n - bad, bad);
	mongo_close(&run.m);
	if (pairs != &one)
		atproto_pairs_free(pairs, n);
	return bad > 0 ? 1 : 0;
}

int
atproto_rollback_main(const struct silo_config *config,
    const struct atproto_opts *o)
{
	struct atproto_run	 run;
	struct atproto_user	 u;
	bson_error_t		 e;
	enum atproto_outcome	 out;
	int			 rc = 0;

	if (atproto_open(&run, config, o, "atproto rollback") == -1)
		return 1;
	memset(&u, 0, sizeof(u));
	u.sub = o->sub;
	out = atproto_rollback_one(&run, &u, &e);
	if (out == ATPROTO_REFUSED) {
		log_err("atproto rollback: %s: refused: %s", u.sub, u.why);
		rc = 1;
	} else if (out == ATPROTO_FAILED) {
		log_err("atproto rollback: %s: %s (re-run to resume)", u.sub,
		    e.message);
		rc = 1;
	}
	mongo_close(&run.m);
	return rc;
}
