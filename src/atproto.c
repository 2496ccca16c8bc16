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
 *     handle, atprotoHandle, authProvider "atproto", legacyAuth0Sub and
 *     every other field copied; the old document is marked migratedDID
 *     and authProvider "atproto".
 *
 * The two halves of @handles and its unique index.  AC's handle.mjs
 * indexes handle unique, and neither sparse nor partial: the backup's
 * manifest says so (acgen.py models it) and `silo import` builds it so.
 * The document's script keeps the handle on the old document and inserts
 * the new one with the same handle, which that index refuses (E11000) on
 * the first user.  Taking the handle away ($unset) does not do either: a
 * unique index that is not sparse indexes a missing field as null, so on
 * mongod only one old document could lack its handle and the second
 * user's migration would be refused there (FerretDB v1 lets it pass,
 * which is how it went unnoticed).  So the old document's handle becomes
 * its own _id ("auth0|123", "sotce-auth0|123"): unique because _ids are,
 * never a handle anyone can hold (a '|' is in no handle nor DNS name),
 * and telling what it is.  Every @handles document then holds a distinct
 * string handle, which any unique index accepts, sparse or not, on mongod
 * as on FerretDB.  The old document is changed first and the new one
 * inserted after, so no two ever hold the same handle; a rollback deletes
 * the new one before it puts the old one back.
 *
 * atprotoHandle.  The document writes "<handle>.aesthetic.computer"; AC's
 * PDS (ac-platform.md section 8) names its accounts
 * "<handle, . and _ made ->.at.aesthetic.computer", which is what
 * users.atproto.handle holds and `silo atproto check` expects.  The PDS's
 * form is the one written: it is the name the user's DID document
 * actually claims, it lives under the PDS's own zone (the document's
 * would put a user named "oven" or "assets" on AC's service hosts), and
 * it is a DNS name for every handle the document's form breaks on: "a.b"
 * would be a subdomain and "a_b" is no hostname.  Handles are lowercased
 * (ATProto handles are case-insensitive, stored lowercase).  A handle that
 * still is no DNS label after that (non-ASCII such as "müller", other
 * punctuation, a '-' first or last, more than 63 characters) is refused
 * with its reason: a punycode name is not what the PDS makes, and
 * guessing one would publish a handle nobody chose.  Two handles that
 * map to one name ("ka_ri", "ka.ri") are a handle clash for the second.
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
 * idempotent and may be re-run after a crash.  Steps are read back by
 * their _id, seq 0 to steps - 1 (the journal counts them), which every
 * server answers from the _id index.
 *
 * Refusals, before anything is written: a malformed sub or DID, a user
 * with no @handles document (or two, AC's and sotce's), a handle with no
 * DNS form, a DID already some other user's (an @handles, users or
 * verifications _id, another user's atproto.did or migratedDID, or
 * another user's journal), a user whose users.atproto.did is another
 * DID, and a handle clash (another @handles document with the handle,
 * the atprotoHandle or the old document's _id as its handle, or an
 * earlier user of the same batch taking the same atprotoHandle).
 *
 * Batches.  Each find on a field without an index is a scan of the
 * collection (and on FerretDB v1 every filter but a lone _id is, indexes
 * or not: docs/ferretdb.md), so a user costs what their references'
 * collections weigh, not what they hold.  Users are therefore planned in
 * batches of up to --batch (default 100) consecutive users of the map:
 * one find of the journal for all of them, one per record collection
 * (users, verifications, @handles, with the DIDs and the other fields
 * the refusals look at in an $or), one for the handle clashes, and one
 * $in find per field reference, projected to _id and the field.  What
 * those return is kept for the batch (memory bounded by the batch), and
 * every refusal and every plan is decided from it in C, in the map's
 * order.  Then each user is journaled and applied on its own, exactly as
 * a batch of one: a refused user is reported and skipped, and the others
 * go on, since nothing of one user's plan depends on another's.  Two
 * things would: the same sub or DID twice, which ends the batch before
 * the second (it is judged in the next, after the first was applied, as
 * a run of one user at a time would), and an array field holding several
 * users' subs (logs' users), whose previous value journaled for a later
 * user is the array with the earlier users of the batch already moved,
 * as it is by then.  A user whose apply fails (the database) ends the
 * batch: the next batch reads afresh what it may have half changed.
 *
 * Round trips.  A batch costs five reads and one per field reference
 * (29 with ac.c's tables); then a user costs the journal's state three
 * times and, per step, one insert, one read and one write.  On mongod
 * each of a user's commands is an _id lookup.  On FerretDB v1 a step's
 * write is a scan of its collection, since its guard (the field still
 * holds the sub) makes the filter more than a lone _id, and then every
 * document written costs about as much again: its update and delete by
 * _id do not use the _id index (a find does), so a user's apply costs
 * documents times collection size there however it is filtered.  Going
 * by _id alone was tried and measured slower (a statement per document,
 * each paying that cost), so the guard stays, on both servers: it is one
 * statement per step, and it keeps a concurrent change from being
 * overwritten.  --stats counts
 * the commands the driver sends (libmongoc's APM) and prints them per
 * user, for bench/atproto.py.  --step-delay pauses before every write,
 * journal or data; it exists so that the tests can kill the process at
 * chosen points.
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
#define	ATPROTO_BATCH		100	/* users planned together, unless
					   --batch says */
#define	ATPROTO_SOTCE		"sotce-"	/* sotce.net's @handles keys */
#define	ATPROTO_HANDLE_DOMAIN	".at.aesthetic.computer" /* the PDS's */
#define	ATPROTO_LABEL_MAX	63	/* a DNS label's characters */
#define	ATPROTO_DUPLICATE	11000	/* the server's duplicate key code */

/* What became of one user. */
enum atproto_outcome {
	ATPROTO_DONE,		/* migrated or rolled back now */
	ATPROTO_ALREADY,	/* nothing to do: it was done before */
	ATPROTO_REFUSED,	/* refused; nothing was changed */
	ATPROTO_FAILED		/* the database failed; the journal resumes */
};

/* What its batch found a user needs. */
enum atproto_todo {
	ATPROTO_TODO_PLAN,	/* plan and apply: no journal yet, or one
				   planning or rolled back */
	ATPROTO_TODO_RESUME,	/* journaled applying: apply the plan again */
	ATPROTO_TODO_SKIP	/* decided already: out says how */
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
	char		 ah[ATPROTO_KEY_MAX];	/* the atprotoHandle */
	char		 why[1024];		/* a refusal's reason */
	enum atproto_todo todo;			/* what its batch found */
	enum atproto_outcome out;		/* when todo is SKIP, and once
						   it ran */
	bool		 journaled;		/* it has a journal document */
	bool		 applied;		/* applied in this batch */
	int64_t		 steps;			/* the journal's, to resume */
};

/* Documents a batch read, kept as one BSON array. */
struct atproto_docs {
	bson_t		 arr;		/* the documents, keys "0", "1", ... */
	uint32_t	 n;		/* how many */
};

/* A batch: its users and what was read for them. */
struct atproto_batch {
	struct atproto_user	*u;		/* the users, in the map's
						   order */
	size_t			 n;		/* how many */
	struct atproto_docs	 journals;	/* their journals, and any
						   naming their DIDs */
	struct atproto_docs	 docs[ATPROTO_MAX_REFS]; /* per reference,
						   the documents holding a
						   user's key (records: or
						   what a refusal reads) */
	struct atproto_docs	 clash;		/* @handles holding their
						   handles or atprotoHandles */
};

/* A plan being journaled: the step being filled. */
struct atproto_plan {
	struct atproto_run	*run;		/* the run */
	const struct atproto_user *u;		/* whose plan */
	const struct atproto_ref *ref;		/* the reference being read */
	const char		*const *from;	/* earlier users' subs, moved
						   in this batch */
	const char		*const *to;	/* and their DIDs */
	size_t			 nmoved;	/* how many */
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

/* The atprotoHandle of an AC handle into out, as AC's PDS names its
 * accounts: lowercased, '.' and '_' made '-', under the PDS's domain.
 * False, with why set, when that is no DNS label. */
static bool
atproto_dns_handle(const char *handle, char *out, size_t size, char *why,
    size_t whysize)
{
	size_t	 len = strlen(handle), i;

	if (len == 0 || len > ATPROTO_LABEL_MAX ||
	    len + sizeof(ATPROTO_HANDLE_DOMAIN) > size) {
		snprintf(why, whysize, "its handle '%.80s' has no DNS form for "
		    "atprotoHandle: a label holds 1 to %d characters", handle,
		    ATPROTO_LABEL_MAX);
		return false;
	}
	for (i = 0; i < len; i++) {
		unsigned char	 ch = (unsigned char)handle[i];

		if (ch >= 'A' && ch <= 'Z')
			out[i] = (char)(ch - 'A' + 'a');
		else if ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9'))
			out[i] = (char)ch;
		else if (ch == '.' || ch == '_' || ch == '-')
			out[i] = '-';
		else {
			snprintf(why, whysize, "its handle '%.80s' has no DNS "
			    "form for atprotoHandle: only ASCII letters, "
			    "digits, '.', '_' and '-' map to a label", handle);
			return false;
		}
	}
	if (out[0] == '-' || out[len - 1] == '-') {
		snprintf(why, whysize, "its handle '%.80s' has no DNS form for "
		    "atprotoHandle: a label neither starts nor ends with '-' "
		    "(nor '.' or '_', which map to it)", handle);
		return false;
	}
	memcpy(out + len, ATPROTO_HANDLE_DOMAIN, sizeof(ATPROTO_HANDLE_DOMAIN));
	return true;
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
/* Documents a batch read                                              */
/* ------------------------------------------------------------------ */

/* mongo_find_each()'s callback: one more document into the array. */
static int
atproto_docs_add(const bson_t *doc, void *arg)
{
	struct atproto_docs	*d = arg;
	char			 k[16];

	snprintf(k, sizeof(k), "%u", (unsigned)d->n);
	if (!bson_append_document(&d->arr, k, -1, doc))
		return 1;
	d->n++;
	return 0;
}

/* Read db.coll's documents matching filter into d (filter and opts are
 * the caller's to free). */
static bool
atproto_docs_read(struct atproto_run *run, const char *db, const char *coll,
    const bson_t *filter, const bson_t *opts, struct atproto_docs *d,
    bson_error_t *e)
{
	uint32_t	 before = d->n;
	bool		 ok;

	ok = mongo_find_each(&run->m, db, coll, filter, opts, atproto_docs_add,
	    d, e);
	if (ok && d->n == before && e->code != 0)
		ok = false;
	return ok;
}

/* The next document of an array after it (from bson_iter_init), into
 * doc; false at the end. */
static bool
atproto_docs_next(bson_iter_t *it, bson_t *doc)
{
	const uint8_t	*data;
	uint32_t	 len;

	while (bson_iter_next(it)) {
		if (!BSON_ITER_HOLDS_DOCUMENT(it))
			continue;
		bson_iter_document(it, &len, &data);
		if (bson_init_static(doc, data, len))
			return true;
	}
	return false;
}

/* Whether doc's dotted path holds the string s, or an array holding it. */
static bool
atproto_holds(const bson_t *doc, const char *path, const char *s)
{
	bson_iter_t	 it, el;

	if (!bson_iter_init(&it, doc) ||
	    !bson_iter_find_descendant(&it, path, &it))
		return false;
	if (BSON_ITER_HOLDS_UTF8(&it))
		return strcmp(bson_iter_utf8(&it, NULL), s) == 0;
	if (!BSON_ITER_HOLDS_ARRAY(&it) || !bson_iter_recurse(&it, &el))
		return false;
	while (bson_iter_next(&el))
		if (BSON_ITER_HOLDS_UTF8(&el) &&
		    strcmp(bson_iter_utf8(&el, NULL), s) == 0)
			return true;
	return false;
}

/* The first document of d whose path holds s, into doc (static, valid
 * while d is); whether there is one. */
static bool
atproto_docs_find(const struct atproto_docs *d, const char *path,
    const char *s, bson_t *doc)
{
	bson_iter_t	 it;

	if (!bson_iter_init(&it, &d->arr))
		return false;
	while (atproto_docs_next(&it, doc))
		if (atproto_holds(doc, path, s))
			return true;
	return false;
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

/* The array arr with every element equal to one of from[0..n) made the
 * matching to[], into out. */
static void
atproto_array_swap(bson_iter_t *arr, const char *const *from,
    const char *const *to, size_t n, bson_t *out)
{
	bson_iter_t	 el;
	char		 k[16];
	uint32_t	 i = 0;
	size_t		 j;

	bson_init(out);
	if (!bson_iter_recurse(arr, &el))
		return;
	while (bson_iter_next(&el)) {
		snprintf(k, sizeof(k), "%u", (unsigned)i++);
		for (j = 0; BSON_ITER_HOLDS_UTF8(&el) && j < n; j++)
			if (strcmp(bson_iter_utf8(&el, NULL), from[j]) == 0)
				break;
		if (BSON_ITER_HOLDS_UTF8(&el) && j < n)
			BSON_APPEND_UTF8(out, k, to[j]);
		else
			bson_append_iter(out, k, -1, &el);
	}
}

/* One document of a reference into the plan: its _id and the previous
 * value (the whole document for a record; an array as it is once the
 * batch's earlier users moved). */
static int
atproto_plan_doc(const bson_t *doc, struct atproto_plan *p)
{
	bson_iter_t	 it, v;
	bson_t		 entry, arr;
	char		 k[16];

	if (!bson_iter_init_find(&it, doc, "_id"))
		return 0;
	snprintf(k, sizeof(k), "%u", (unsigned)p->ndocs);
	bson_append_document_begin(&p->docs, k, -1, &entry);
	bson_append_iter(&entry, "_id", -1, &it);
	if (p->ref->kind != AC_REF_FIELD)
		BSON_APPEND_DOCUMENT(&entry, "old", doc);
	else if (bson_iter_init(&v, doc) &&
	    bson_iter_find_descendant(&v, p->ref->field, &v)) {
		if (BSON_ITER_HOLDS_ARRAY(&v) && p->nmoved > 0) {
			atproto_array_swap(&v, p->from, p->to, p->nmoved, &arr);
			BSON_APPEND_ARRAY(&entry, "old", &arr);
			bson_destroy(&arr);
		} else
			bson_append_iter(&entry, "old", -1, &v);
	}
	bson_append_document_end(&p->docs, &entry);
	if (++p->ndocs == ATPROTO_STEP_DOCS && !atproto_plan_flush(p))
		return 1;
	return 0;
}

/* The key a reference holds the user by. */
static const char *
atproto_ref_key(const struct atproto_ref *ref, const struct atproto_user *u)
{
	return ref->kind == AC_REF_HANDLE ? u->key : u->sub;
}

/* The field a reference holds the key in. */
static const char *
atproto_ref_path(const struct atproto_ref *ref)
{
	return ref->kind == AC_REF_FIELD ? ref->field : "_id";
}

/* Journal the whole plan of the batch's user i: every document of every
 * reference that holds the sub, in the tables' order, from what the
 * batch read; the number of steps, or -1 with e set. */
static int64_t
atproto_plan(struct atproto_run *run, const struct atproto_batch *b,
    size_t i, bson_error_t *e)
{
	const char		*from[ATPROTO_BATCH_MAX];
	const char		*to[ATPROTO_BATCH_MAX];
	struct atproto_plan	 p = { 0 };
	bson_iter_t		 it;
	bson_t			 doc;
	bool			 ok = true;

	p.run = run;
	p.u = &b->u[i];
	p.from = from;
	p.to = to;
	for (size_t j = 0; j < i; j++)
		if (b->u[j].applied) {
			from[p.nmoved] = b->u[j].sub;
			to[p.nmoved++] = b->u[j].did;
		}
	bson_init(&p.docs);
	for (size_t r = 0; ok && r < run->nrefs; r++) {
		p.ref = &run->refs[r];
		if (!bson_iter_init(&it, &b->docs[r].arr))
			continue;
		while (!p.failed && atproto_docs_next(&it, &doc))
			if (atproto_holds(&doc, atproto_ref_path(p.ref),
			    atproto_ref_key(p.ref, p.u)))
				(void)atproto_plan_doc(&doc, &p);
		ok = !p.failed && atproto_plan_flush(&p);
	}
	if (!ok)
		*e = p.error;
	bson_destroy(&p.docs);
	return ok ? (int64_t)p.seq : -1;
}

/* ------------------------------------------------------------------ */
/* Applying and undoing a step                                         */
/* ------------------------------------------------------------------ */


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
				atproto_array_swap(&old, &from, &to, 1, &arr);
				BSON_APPEND_ARRAY(&set, f, &arr);
				bson_destroy(&arr);
			}
			bson_append_document_end(update, &set);
		}
		/* One document (by _id and the guard), yet multi: FerretDB
		 * v1 keeps a single update's cursor open to the end of the
		 * command, and a hundred of them exhaust its pool
		 * (docs/ferretdb.md). */
		ok = mongoc_bulk_operation_update_many_with_opts(bulk, filter,
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
	size_t		 i;

	bson_init(out);
	BSON_APPEND_UTF8(out, "_id", u->did);
	BSON_APPEND_UTF8(out, "handle", u->handle);
	BSON_APPEND_UTF8(out, "atprotoHandle", u->ah);
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
			/* Its handle becomes its own _id first (see the
			 * essay), so that the twin's may be inserted. */
			update = BCON_NEW("$set", "{", "authProvider",
			    BCON_UTF8("atproto"), "handle", BCON_UTF8(u->key),
			    "migratedDID", BCON_UTF8(u->did), "}");
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


/* Apply every journaled step of the user in order, seq 0 to steps - 1,
 * or undo them in reverse; each is read by its _id. */
static bool
atproto_each_step(struct atproto_run *run, const struct atproto_user *u,
    int64_t steps, bool undo, bson_error_t *e)
{
	char	 id[ATPROTO_KEY_MAX + 16];
	bson_t	 step, *filter;
	bool	 found, ok = true;

	for (int64_t k = 0; ok && k < steps; k++) {
		snprintf(id, sizeof(id), "%s/%06u", u->sub,
		    (unsigned)(undo ? steps - 1 - k : k));
		filter = BCON_NEW("_id", BCON_UTF8(id));
		found = mongo_find_one(&run->m, ATPROTO_DB, ATPROTO_STEPS,
		    filter, NULL, &step, e);
		bson_destroy(filter);
		if (!found) {
			if (e->code == 0)
				bson_set_error(e, 0, 1, "the journal's step %s "
				    "is missing", id);
			return false;
		}
		ok = atproto_step(run, u, &step, undo, e);
		bson_destroy(&step);
	}
	return ok;
}

/* ------------------------------------------------------------------ */
/* Judging a batch                                                     */
/* ------------------------------------------------------------------ */

/* Decide u now: it will not be planned. */
static void
atproto_skip(struct atproto_user *u, enum atproto_outcome out)
{
	u->todo = ATPROTO_TODO_SKIP;
	u->out = out;
}

/* Whether the batch reads u's references: to plan it, or to count them
 * (--dry-run). */
static bool
atproto_wanted(const struct atproto_run *run, const struct atproto_user *u)
{
	return u->todo == ATPROTO_TODO_PLAN ||
	    (u->todo == ATPROTO_TODO_RESUME && run->o->dry_run);
}

/* The index of the reference to collection name of the given kind, or
 * -1. */
static int
atproto_ref_index(const struct atproto_run *run, const char *name,
    enum ac_ref_kind kind)
{
	for (size_t r = 0; r < run->nrefs; r++)
		if (run->refs[r].kind == kind &&
		    (name == NULL || strcmp(run->refs[r].name, name) == 0))
			return (int)r;
	return -1;
}

/* Whether some document of d holds s at path, is not sub's (_id), and
 * (unless NULL) is not in state skip. */
static bool
atproto_docs_other(const struct atproto_docs *d, const char *path,
    const char *s, const char *sub, const char *skip)
{
	bson_iter_t	 it;
	bson_t		 doc;

	if (!bson_iter_init(&it, &d->arr))
		return false;
	while (atproto_docs_next(&it, &doc))
		if (atproto_holds(&doc, path, s) &&
		    !atproto_holds(&doc, "_id", sub) &&
		    (skip == NULL || !atproto_holds(&doc, "state", skip)))
			return true;
	return false;
}

/* A malformed sub or DID. */
static void
atproto_judge_form(struct atproto_user *u)
{
	if (!atproto_sub_valid(u->sub)) {
		snprintf(u->why, sizeof(u->why), "not a well-formed auth0 sub "
		    "(connection|id)");
		atproto_skip(u, ATPROTO_REFUSED);
	} else if (!atproto_did_valid(u->did)) {
		snprintf(u->why, sizeof(u->why), "'%.200s' is not a "
		    "well-formed DID (did:plc: and 24 of a-z2-7, or did:web:)",
		    u->did);
		atproto_skip(u, ATPROTO_REFUSED);
	}
}

/* Copy a journal's key and handle into u, and the atprotoHandle the
 * handle maps to (empty if none); whether it has them. */
static bool
atproto_from_journal(const bson_t *j, struct atproto_user *u)
{
	const char	*key = mongo_get_utf8(j, "key");
	const char	*handle = mongo_get_utf8(j, "handle");
	char		 why[256];

	if (key == NULL || handle == NULL)
		return false;
	snprintf(u->key, sizeof(u->key), "%s", key);
	snprintf(u->handle, sizeof(u->handle), "%s", handle);
	if (!atproto_dns_handle(u->handle, u->ah, sizeof(u->ah), why,
	    sizeof(why)))
		u->ah[0] = '\0';
	return true;
}

/* What u's own journal says: already migrated, to resume, or refused. */
static void
atproto_judge_journal(const struct atproto_batch *b, struct atproto_user *u)
{
	bson_t		 j;
	const char	*state, *jdid;

	if (!atproto_docs_find(&b->journals, "_id", u->sub, &j))
		return;
	u->journaled = true;
	state = mongo_get_utf8(&j, "state");
	jdid = mongo_get_utf8(&j, "did");
	u->steps = mongo_get_int64(&j, "steps", 0);
	if (state != NULL && strcmp(state, "rolled-back") != 0 &&
	    (jdid == NULL || strcmp(jdid, u->did) != 0)) {
		snprintf(u->why, sizeof(u->why), "already journaled to move "
		    "to %s", jdid != NULL ? jdid : "(none)");
		atproto_skip(u, ATPROTO_REFUSED);
	} else if (state != NULL && strcmp(state, "migrated") == 0) {
		atproto_skip(u, ATPROTO_ALREADY);
	} else if (state != NULL && strcmp(state, "rolling-back") == 0) {
		snprintf(u->why, sizeof(u->why), "a rollback is unfinished: "
		    "run 'silo atproto rollback --sub' again first");
		atproto_skip(u, ATPROTO_REFUSED);
	} else if (state != NULL && strcmp(state, "applying") == 0) {
		/* A crash after the plan: apply it again, to its end. */
		if (!atproto_from_journal(&j, u) || u->ah[0] == '\0') {
			snprintf(u->why, sizeof(u->why), "its journal lacks a "
			    "key, or a handle with a DNS form");
			atproto_skip(u, ATPROTO_REFUSED);
		} else
			u->todo = ATPROTO_TODO_RESUME;
	}
}

/* The user's @handles document: its key, handle and atprotoHandle;
 * whether it is refused (u->why says why). */
static bool
atproto_judge_handles(const struct atproto_run *run,
    const struct atproto_batch *b, struct atproto_user *u)
{
	char		 sotce[ATPROTO_KEY_MAX];
	bson_t		 doc;
	const char	*h, *moved;
	int		 found = 0, hr;

	snprintf(sotce, sizeof(sotce), "%s%s", ATPROTO_SOTCE, u->sub);
	hr = atproto_ref_index(run, NULL, AC_REF_HANDLE);
	for (int i = 0; hr >= 0 && i < 2; i++) {
		if (!atproto_docs_find(&b->docs[hr], "_id",
		    i == 0 ? u->sub : sotce, &doc) || found++ > 0)
			continue;
		h = mongo_get_utf8(&doc, "handle");
		moved = mongo_get_utf8(&doc, "migratedDID");
		snprintf(u->key, sizeof(u->key), "%s", i == 0 ? u->sub : sotce);
		if (moved != NULL)
			snprintf(u->why, sizeof(u->why), "its @handles "
			    "document says it moved to %s already", moved);
		else if (h == NULL || h[0] == '\0' ||
		    strlen(h) >= sizeof(u->handle))
			snprintf(u->why, sizeof(u->why), "its @handles "
			    "document has no handle");
		else {
			snprintf(u->handle, sizeof(u->handle), "%s", h);
			(void)atproto_dns_handle(h, u->ah, sizeof(u->ah),
			    u->why, sizeof(u->why));
		}
	}
	if (found == 0)
		snprintf(u->why, sizeof(u->why), "no @handles document");
	else if (found == 2)
		snprintf(u->why, sizeof(u->why), "two @handles documents, "
		    "%s and %s: which one moves is not clear", u->sub, sotce);
	return u->why[0] != '\0';
}

/* Is the DID some other user's?  Whether it is refused. */
static bool
atproto_judge_did(const struct atproto_run *run,
    const struct atproto_batch *b, struct atproto_user *u)
{
	bson_t	 doc;
	int	 hr = atproto_ref_index(run, NULL, AC_REF_HANDLE);
	int	 ur = atproto_ref_index(run, "users", AC_REF_ID);

	/* Any record keyed by it, @handles or migratedDID pointing to it. */
	for (size_t r = 0; r < run->nrefs; r++)
		if (run->refs[r].kind != AC_REF_FIELD &&
		    atproto_docs_find(&b->docs[r], "_id", u->did, &doc)) {
			snprintf(u->why, sizeof(u->why), "%s already has a "
			    "document with _id %s", run->refs[r].name, u->did);
			return true;
		}
	if (hr >= 0 &&
	    atproto_docs_find(&b->docs[hr], "migratedDID", u->did, &doc))
		snprintf(u->why, sizeof(u->why), "another @handles document "
		    "moved to %s", u->did);
	else if (ur >= 0 && atproto_docs_other(&b->docs[ur], "atproto.did",
	    u->did, u->sub, NULL))
		snprintf(u->why, sizeof(u->why), "%s is another user's "
		    "atproto.did", u->did);
	else if (atproto_docs_other(&b->journals, "did", u->did, u->sub,
	    "rolled-back"))
		snprintf(u->why, sizeof(u->why), "%s is journaled for another "
		    "user", u->did);
	return u->why[0] != '\0';
}

/* Does the user's own users document name another DID?  Whether it is
 * refused. */
static bool
atproto_judge_own_did(const struct atproto_run *run,
    const struct atproto_batch *b, struct atproto_user *u)
{
	bson_t		 doc;
	const char	*own;
	int		 ur = atproto_ref_index(run, "users", AC_REF_ID);

	if (ur < 0 || !atproto_docs_find(&b->docs[ur], "_id", u->sub, &doc))
		return false;
	own = mongo_get_utf8(&doc, "atproto.did");
	if (own != NULL && strcmp(own, u->did) != 0)
		snprintf(u->why, sizeof(u->why), "its users document's "
		    "atproto.did is %s", own);
	return u->why[0] != '\0';
}

/* Does another @handles document hold the handle or atprotoHandle, or
 * the key as its handle, or does an earlier user of the batch take the
 * atprotoHandle?  Whether the batch's user i is refused. */
static bool
atproto_judge_clash(const struct atproto_batch *b, size_t i)
{
	struct atproto_user	*u = &b->u[i];
	bson_iter_t		 it;
	bson_t			 doc;

	if (!bson_iter_init(&it, &b->clash.arr))
		return false;
	while (u->why[0] == '\0' && atproto_docs_next(&it, &doc)) {
		if (atproto_holds(&doc, "_id", u->key))
			continue;
		if (atproto_holds(&doc, "handle", u->handle) ||
		    atproto_holds(&doc, "atprotoHandle", u->ah))
			snprintf(u->why, sizeof(u->why), "handle clash: "
			    "another @handles document holds %s or %s",
			    u->handle, u->ah);
		else if (atproto_holds(&doc, "handle", u->key))
			snprintf(u->why, sizeof(u->why), "handle clash: "
			    "another @handles document's handle is %s, which "
			    "the old document's handle becomes", u->key);
	}
	for (size_t j = 0; u->why[0] == '\0' && j < i; j++)
		if (b->u[j].todo == ATPROTO_TODO_PLAN &&
		    strcmp(b->u[j].ah, u->ah) == 0)
			snprintf(u->why, sizeof(u->why), "handle clash: %s, "
			    "before it in the map, takes %s", b->u[j].sub,
			    u->ah);
	return u->why[0] != '\0';
}

/* ------------------------------------------------------------------ */
/* Reading a batch                                                     */
/* ------------------------------------------------------------------ */

/* Append s to the array arr, whose next key is *n. */
static void
atproto_arr_add(bson_t *arr, uint32_t *n, const char *s)
{
	char	 k[16];

	snprintf(k, sizeof(k), "%u", (unsigned)(*n)++);
	BSON_APPEND_UTF8(arr, k, s);
}

/* The journal of each user still to plan, and any journal naming its
 * DID: one find. */
static bool
atproto_read_journals(struct atproto_run *run, struct atproto_batch *b,
    bson_error_t *e)
{
	bson_t		 subs, dids, *filter;
	uint32_t	 ns = 0, nd = 0;
	bool		 ok = true;

	bson_init(&subs);
	bson_init(&dids);
	for (size_t i = 0; i < b->n; i++)
		if (b->u[i].todo == ATPROTO_TODO_PLAN) {
			atproto_arr_add(&subs, &ns, b->u[i].sub);
			atproto_arr_add(&dids, &nd, b->u[i].did);
		}
	if (ns > 0) {
		filter = BCON_NEW("$or", "[",
		    "{", "_id", "{", "$in", BCON_ARRAY(&subs), "}", "}",
		    "{", "did", "{", "$in", BCON_ARRAY(&dids), "}", "}", "]");
		ok = atproto_docs_read(run, ATPROTO_DB, ATPROTO_JOURNAL, filter,
		    NULL, &b->journals, e);
		bson_destroy(filter);
	}
	bson_destroy(&dids);
	bson_destroy(&subs);
	return ok;
}

/* Each record collection's documents keyed by a wanted user's sub, sotce
 * key or DID, and those naming a DID where a refusal looks (users'
 * atproto.did, @handles' migratedDID): one find each. */
static bool
atproto_read_records(struct atproto_run *run, struct atproto_batch *b,
    bson_error_t *e)
{
	char		 sotce[ATPROTO_KEY_MAX];
	bson_t		 ids, dids, *filter;
	uint32_t	 ni = 0, nd = 0;
	const char	*also;
	bool		 ok = true;

	bson_init(&ids);
	bson_init(&dids);
	for (size_t i = 0; i < b->n; i++)
		if (atproto_wanted(run, &b->u[i])) {
			snprintf(sotce, sizeof(sotce), "%s%s", ATPROTO_SOTCE,
			    b->u[i].sub);
			atproto_arr_add(&ids, &ni, b->u[i].sub);
			atproto_arr_add(&ids, &ni, sotce);
			atproto_arr_add(&ids, &ni, b->u[i].did);
			atproto_arr_add(&dids, &nd, b->u[i].did);
		}
	for (size_t r = 0; ok && ni > 0 && r < run->nrefs; r++) {
		if (run->refs[r].kind == AC_REF_FIELD)
			continue;
		also = run->refs[r].kind == AC_REF_HANDLE ? "migratedDID" :
		    strcmp(run->refs[r].name, "users") == 0 ? "atproto.did" :
		    NULL;
		if (also != NULL)
			filter = BCON_NEW("$or", "[",
			    "{", "_id", "{", "$in", BCON_ARRAY(&ids), "}", "}",
			    "{", also, "{", "$in", BCON_ARRAY(&dids), "}", "}",
			    "]");
		else
			filter = BCON_NEW("_id", "{", "$in", BCON_ARRAY(&ids),
			    "}");
		ok = atproto_docs_read(run, NULL, run->refs[r].name, filter,
		    NULL, &b->docs[r], e);
		bson_destroy(filter);
	}
	bson_destroy(&dids);
	bson_destroy(&ids);
	return ok;
}

/* The @handles documents holding a user's handle, atprotoHandle or key
 * as their handle: one find. */
static bool
atproto_read_clash(struct atproto_run *run, struct atproto_batch *b,
    bson_error_t *e)
{
	bson_t		 names, ahs, *filter, *opts;
	uint32_t	 nn = 0, na = 0;
	int		 hr = atproto_ref_index(run, NULL, AC_REF_HANDLE);
	bool		 ok = true;

	bson_init(&names);
	bson_init(&ahs);
	for (size_t i = 0; i < b->n; i++)
		if (b->u[i].todo == ATPROTO_TODO_PLAN) {
			atproto_arr_add(&names, &nn, b->u[i].handle);
			atproto_arr_add(&names, &nn, b->u[i].key);
			atproto_arr_add(&ahs, &na, b->u[i].ah);
		}
	if (hr >= 0 && nn > 0) {
		filter = BCON_NEW("$or", "[",
		    "{", "handle", "{", "$in", BCON_ARRAY(&names), "}", "}",
		    "{", "atprotoHandle", "{", "$in", BCON_ARRAY(&ahs), "}",
		    "}", "]");
		opts = BCON_NEW("projection", "{", "handle", BCON_INT32(1),
		    "atprotoHandle", BCON_INT32(1), "}");
		ok = atproto_docs_read(run, NULL, run->refs[hr].name, filter,
		    opts, &b->clash, e);
		bson_destroy(opts);
		bson_destroy(filter);
	}
	bson_destroy(&ahs);
	bson_destroy(&names);
	return ok;
}

/* Every field reference's documents holding a wanted user's sub: one $in
 * find each, projected to _id and the field, in _id order. */
static bool
atproto_read_fields(struct atproto_run *run, struct atproto_batch *b,
    bson_error_t *e)
{
	bson_t		 subs, *filter, *opts;
	uint32_t	 ns = 0;
	bool		 ok = true;

	bson_init(&subs);
	for (size_t i = 0; i < b->n; i++)
		if (atproto_wanted(run, &b->u[i]))
			atproto_arr_add(&subs, &ns, b->u[i].sub);
	for (size_t r = 0; ok && ns > 0 && r < run->nrefs; r++) {
		const struct atproto_ref *ref = &run->refs[r];

		if (ref->kind != AC_REF_FIELD)
			continue;
		filter = BCON_NEW(ref->field, "{", "$in", BCON_ARRAY(&subs),
		    "}");
		opts = BCON_NEW("projection", "{", ref->field, BCON_INT32(1),
		    "}", "sort", "{", "_id", BCON_INT32(1), "}");
		ok = atproto_docs_read(run, NULL, ref->name, filter, opts,
		    &b->docs[r], e);
		bson_destroy(opts);
		bson_destroy(filter);
	}
	bson_destroy(&subs);
	return ok;
}

/* Judge every user of the batch and read what their plans need, in the
 * order a user's refusals are checked; false with e set if a read
 * failed. */
static bool
atproto_batch_read(struct atproto_run *run, struct atproto_batch *b,
    bson_error_t *e)
{
	struct atproto_user	*u;

	for (size_t i = 0; i < b->n; i++)
		atproto_judge_form(&b->u[i]);
	if (!atproto_read_journals(run, b, e))
		return false;
	for (size_t i = 0; i < b->n; i++)
		if (b->u[i].todo == ATPROTO_TODO_PLAN)
			atproto_judge_journal(b, &b->u[i]);
	if (!atproto_read_records(run, b, e))
		return false;
	for (size_t i = 0; i < b->n; i++) {
		u = &b->u[i];
		if (u->todo == ATPROTO_TODO_PLAN &&
		    (atproto_judge_handles(run, b, u) ||
		    atproto_judge_did(run, b, u) ||
		    atproto_judge_own_did(run, b, u)))
			atproto_skip(u, ATPROTO_REFUSED);
	}
	if (!atproto_read_clash(run, b, e))
		return false;
	for (size_t i = 0; i < b->n; i++)
		if (b->u[i].todo == ATPROTO_TODO_PLAN &&
		    atproto_judge_clash(b, i))
			atproto_skip(&b->u[i], ATPROTO_REFUSED);
	return atproto_read_fields(run, b, e);
}

static void
atproto_batch_init(struct atproto_batch *b, struct atproto_user *u,
    size_t n)
{
	memset(b, 0, sizeof(*b));
	b->u = u;
	b->n = n;
	bson_init(&b->journals.arr);
	bson_init(&b->clash.arr);
	for (size_t r = 0; r < ATPROTO_MAX_REFS; r++)
		bson_init(&b->docs[r].arr);
}

static void
atproto_batch_free(struct atproto_batch *b)
{
	bson_destroy(&b->journals.arr);
	bson_destroy(&b->clash.arr);
	for (size_t r = 0; r < ATPROTO_MAX_REFS; r++)
		bson_destroy(&b->docs[r].arr);
}

/* ------------------------------------------------------------------ */
/* Migrate and roll back one user                                      */
/* ------------------------------------------------------------------ */

/* Print, per reference, how many documents hold the user's key. */
static void
atproto_dry_run(const struct atproto_run *run, const struct atproto_batch *b,
    const struct atproto_user *u)
{
	bson_iter_t	 it;
	bson_t		 doc;
	int64_t		 n, total = 0;

	printf("%s -> %s: would change\n", u->sub, u->did);
	for (size_t r = 0; r < run->nrefs; r++) {
		const struct atproto_ref *ref = &run->refs[r];

		n = 0;
		if (bson_iter_init(&it, &b->docs[r].arr))
			while (atproto_docs_next(&it, &doc))
				n += atproto_holds(&doc, atproto_ref_path(ref),
				    atproto_ref_key(ref, u));
		if (n > 0)
			printf("  %-20s %-16s %lld\n", ref->name, ref->field,
			    (long long)n);
		total += n;
	}
	printf("  %-20s %-16s %lld\n", "total", "", (long long)total);
}

/* Apply the journaled plan and mark the user migrated. */
static bool
atproto_finish(struct atproto_run *run, const struct atproto_user *u,
    int64_t steps, bson_error_t *e)
{
	return atproto_each_step(run, u, steps, false, e) &&
	    atproto_journal_state(run, u, "migrated", steps, e);
}

/* Migrate the batch's user i, as its batch judged it. */
static enum atproto_outcome
atproto_migrate_one(struct atproto_run *run, const struct atproto_batch *b,
    size_t i, bson_error_t *e)
{
	const struct atproto_user *u = &b->u[i];
	int64_t			 steps;

	memset(e, 0, sizeof(*e));
	if (u->todo == ATPROTO_TODO_SKIP)
		return u->out;
	if (run->o->dry_run) {
		atproto_dry_run(run, b, u);
		return ATPROTO_DONE;
	}
	if (u->todo == ATPROTO_TODO_RESUME)
		return atproto_finish(run, u, u->steps, e) ? ATPROTO_DONE :
		    ATPROTO_FAILED;
	if (atproto_journal_state(run, u, "planning", 0, e) &&
	    (!u->journaled || atproto_journal_forget_steps(run, u->sub, e)) &&
	    (steps = atproto_plan(run, b, i, e)) >= 0 &&
	    atproto_journal_state(run, u, "applying", steps, e) &&
	    atproto_finish(run, u, steps, e))
		return ATPROTO_DONE;
	return ATPROTO_FAILED;
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
		    atproto_each_step(run, u, steps, true, e) &&
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


/* Judge, read for and migrate the batch's users, reporting each; how
 * many of them were dealt with, which is fewer than all when one failed
 * (the next batch then starts after it and reads afresh).  bad counts
 * the users not done. */
static size_t
atproto_batch_run(struct atproto_run *run, struct atproto_batch *b,
    size_t *bad)
{
	struct atproto_user	*u;
	enum atproto_outcome	 out;
	bson_error_t		 e;
	bool			 read;

	read = atproto_batch_read(run, b, &e);
	for (size_t i = 0; i < b->n; i++) {
		u = &b->u[i];
		out = read || u->todo == ATPROTO_TODO_SKIP ?
		    atproto_migrate_one(run, b, i, &e) : ATPROTO_FAILED;
		u->applied = out == ATPROTO_DONE && !run->o->dry_run;
		if (!atproto_report(run, u, out, &e))
			(*bad)++;
		if (read && out == ATPROTO_FAILED)
			return i + 1;
	}
	return b->n;
}

/* How many of pairs[0..n), at most max, make one batch: the batch ends
 * before a sub or DID it holds already. */
static size_t
atproto_batch_len(const struct atproto_pair *pairs, size_t n, size_t max)
{
	size_t	 len = 1;

	for (; len < n && len < max; len++)
		for (size_t j = 0; j < len; j++)
			if (strcmp(pairs[j].sub, pairs[len].sub) == 0 ||
			    strcmp(pairs[j].did, pairs[len].did) == 0)
				return len;
	return len;
}

int
atproto_migrate_main(const struct silo_config *config,
    const struct atproto_opts *o)
{
	struct atproto_run	 run;
	struct atproto_pair	*pairs, one;
	struct atproto_user	*users;
	struct atproto_batch	 b;
	struct timespec		 t0;
	size_t			 n = 1, bad = 0, max, len;

	one.sub = (char *)o->sub;
	one.did = (char *)o->did;
	pairs = &one;
	max = o->batch > 0 && o->batch <= ATPROTO_BATCH_MAX ? o->batch :
	    ATPROTO_BATCH;
	if (o->map != NULL && (pairs = atproto_map_read(o->map, &n)) == NULL)
		return 2;
	if ((users = calloc(max, sizeof(*users))) == NULL) {
		log_err("atproto migrate: out of memory");
		if (pairs != &one)
			atproto_pairs_free(pairs, n);
		return 1;
	}
	if (atproto_open(&run, config, o, "atproto migrate") == -1) {
		free(users);
		if (pairs != &one)
			atproto_pairs_free(pairs, n);
		return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	run.commands = 0;
	for (size_t i = 0; i < n; i += len) {
		len = atproto_batch_len(pairs + i, n - i, max);
		memset(users, 0, len * sizeof(*users));
		for (size_t j = 0; j < len; j++) {
			users[j].sub = pairs[i + j].sub;
			users[j].did = pairs[i + j].did;
		}
		atproto_batch_init(&b, users, len);
		len = atproto_batch_run(&run, &b, &bad);
		atproto_batch_free(&b);
	}
	atproto_stats(&run, n, &t0);
	if (n > 1)
		printf("%zu users: %zu done, %zu not\n", n, n - bad, bad);
	mongo_close(&run.m);
	free(users);
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
