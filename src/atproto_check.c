/*
 * atproto_check.c: whether AC's identity data holds together while users
 * move from Auth0 subs to DIDs, and `silo atproto export`, the mapping
 * the ATProto document's recovery plan rebuilds a PDS from.
 *
 * The identity is @handles.  A user not yet migrated has one document
 * keyed by their sub (auth0|..., google-oauth2|..., sotce-...).  The
 * migration (the document's script, `silo atproto migrate`) adds one
 * keyed by the DID, with handle, atprotoHandle and legacyAuth0Sub, and
 * marks the old one with migratedDID.  So each @handles document is one
 * of three kinds: keyed by a DID, migrated (legacy and marked), or
 * legacy.  The check reports:
 *
 *   orphans      documents whose user-reference field (ac.c's
 *                ac_user_collections, the one table of them) still holds
 *                a sub whose @handles document is marked migrated: the
 *                migration moved the user but not these;
 *   DIDs mapped more than once   a DID that more than one sub maps to,
 *                by migratedDID on legacy documents or legacyAuth0Sub on
 *                the DID's own document;
 *   handles mapped more than once   a handle held by more than one
 *                document that is not the migrated half of a pair (that
 *                half keeps its handle by design);
 *   @handles without a user   no users document under the @handles
 *                _id, nor under the other half of its mapping (the
 *                users collection keeps the sub until it is migrated
 *                too);
 *   publishing policy   documents the document says are never published
 *                (ac.c's ac_unpublished: private chat, moods, drafts,
 *                nuked items) that carry a published copy's marker
 *                (ac_atproto_markers).  Reported, never fixed: AC does
 *                store rkeys on moods today.
 *
 * The check reads @handles and the keys of users whole, so its memory is
 * proportional to the number of users (AC has about 4,000), and asks
 * one query per reference collection, for the migrated subs only, and
 * one count per policy rule.  Lists in the answer stop at
 * CHECK_LIST_MAX entries; their counts are always whole.  The same JSON
 * serves `silo atproto check --json`, the human-readable report (printed
 * from it, so the two cannot disagree) and GET /api/services/atproto.
 *
 * The export is one JSON line per identity, {"sub", "did", "handle",
 * "atproto_handle"}, null where unknown, in the byte order of the
 * @handles _id the line comes from: a DID document gives its own line;
 * a migrated legacy document only when its DID's document does not name
 * it as the legacy sub (so a conflicting mapping is not hidden); a
 * legacy one with the PDS account its users document records
 * (atproto.did, atproto.handle).  Only those fields are read from the
 * database (projections), so e-mails, passwords and the rest of a user
 * never reach the output.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "extern.h"

#define	CHECK_LIST_MAX	50	/* entries listed per finding */

/* One @handles document, the fields the check reads. */
struct check_handle {
	char		*id;		/* _id: a sub or a DID */
	char		*handle;	/* handle, or NULL */
	char		*migrated;	/* migratedDID, or NULL */
	char		*legacy;	/* legacyAuth0Sub, or NULL */
	char		*atproto_handle; /* atprotoHandle, or NULL */
};

/* One users document: its key and the PDS account it records. */
struct check_user {
	char		*id;		/* _id */
	char		*did;		/* atproto.did, or NULL */
	char		*handle;	/* atproto.handle, or NULL */
};

/* What the check read: @handles and users, each sorted by _id. */
struct check_data {
	struct check_handle *handles;	/* the @handles documents */
	size_t		 nhandles;	/* how many */
	struct check_user *users;	/* the users documents */
	size_t		 nusers;	/* how many */
	size_t		 cap;		/* room in the array being read */
	bool		 oom;		/* an allocation failed while reading */
};

/* A migrated sub and the references to it found so far. */
struct check_orphan {
	const char	*sub;		/* the legacy sub */
	const char	*did;		/* the DID it moved to */
	int64_t		 refs;		/* documents still naming the sub */
	int64_t		 last_doc;	/* the scan's last document counted */
};

/* One collection's scan for references to migrated subs. */
struct check_scan {
	struct check_orphan *orphans;	/* sorted by sub */
	size_t		 n;		/* how many */
	const char	*field;		/* the user-reference field */
	int64_t		 docs;		/* documents with a reference */
	int64_t		 docno;		/* documents seen */
};

/* A (DID, sub) pair of the mapping. */
struct check_pair {
	const char	*did;		/* the DID */
	const char	*sub;		/* a sub mapped to it */
};

/* ------------------------------------------------------------------ */
/* Reading                                                             */
/* ------------------------------------------------------------------ */

/* A copy of the string at dotted, or NULL; oom set if the copy failed. */
static char *
atproto_check_dup(const bson_t *doc, const char *dotted, bool *oom)
{
	const char	*s = mongo_get_utf8(doc, dotted);
	char		*copy;

	if (s == NULL)
		return NULL;
	if ((copy = strdup(s)) == NULL)
		*oom = true;
	return copy;
}

/* Room for one more element of size sz in *array; false when full. */
static bool
atproto_check_grow(void **array, size_t n, size_t *cap, size_t sz)
{
	void	*p;

	if (n < *cap)
		return true;
	if ((p = realloc(*array, (*cap ? *cap * 2 : 256) * sz)) == NULL)
		return false;
	*array = p;
	*cap = *cap ? *cap * 2 : 256;
	return true;
}

/* mongo_find_each()'s callback for @handles; string _ids only. */
static int
atproto_check_handle_row(const bson_t *doc, void *arg)
{
	struct check_data	*d = arg;
	struct check_handle	*h;

	if (mongo_get_utf8(doc, "_id") == NULL)
		return 0;
	if (!atproto_check_grow((void **)&d->handles, d->nhandles, &d->cap,
	    sizeof(*h))) {
		d->oom = true;
		return 1;
	}
	h = &d->handles[d->nhandles++];
	h->id = atproto_check_dup(doc, "_id", &d->oom);
	h->handle = atproto_check_dup(doc, "handle", &d->oom);
	h->migrated = atproto_check_dup(doc, "migratedDID", &d->oom);
	h->legacy = atproto_check_dup(doc, "legacyAuth0Sub", &d->oom);
	h->atproto_handle = atproto_check_dup(doc, "atprotoHandle", &d->oom);
	return d->oom;
}

/* mongo_find_each()'s callback for users; string _ids only. */
static int
atproto_check_user_row(const bson_t *doc, void *arg)
{
	struct check_data	*d = arg;
	struct check_user	*u;

	if (mongo_get_utf8(doc, "_id") == NULL)
		return 0;
	if (!atproto_check_grow((void **)&d->users, d->nusers, &d->cap,
	    sizeof(*u))) {
		d->oom = true;
		return 1;
	}
	u = &d->users[d->nusers++];
	u->id = atproto_check_dup(doc, "_id", &d->oom);
	u->did = atproto_check_dup(doc, "atproto.did", &d->oom);
	u->handle = atproto_check_dup(doc, "atproto.handle", &d->oom);
	return d->oom;
}

static void
atproto_check_free(struct check_data *d)
{
	for (size_t i = 0; i < d->nhandles; i++) {
		free(d->handles[i].id);
		free(d->handles[i].handle);
		free(d->handles[i].migrated);
		free(d->handles[i].legacy);
		free(d->handles[i].atproto_handle);
	}
	for (size_t i = 0; i < d->nusers; i++) {
		free(d->users[i].id);
		free(d->users[i].did);
		free(d->users[i].handle);
	}
	free(d->handles);
	free(d->users);
	memset(d, 0, sizeof(*d));
}

/* Read one collection with a projection into d; false with f set. */
static bool
atproto_check_read_one(struct mongo *m, const char *collection,
    bson_t *opts, mongo_doc_cb cb, struct check_data *d,
    struct mongo_fail *f)
{
	bson_t		 all = BSON_INITIALIZER;
	bson_error_t	 e;
	char		 doing[64];
	bool		 ok;

	snprintf(doing, sizeof(doing), "reading %s", collection);
	d->cap = 0;
	ok = mongo_find_each(m, NULL, collection, &all, opts, cb, d, &e);
	bson_destroy(opts);
	if (ok && d->oom) {
		mongo_fail_oom(f, doing);
		return false;
	}
	if (!ok)
		mongo_fail_set(f, &e, doing);
	return ok;
}

/* Both arrays are sorted by _id, byte order, whatever the server's. */
static int
atproto_check_cmp_handle(const void *a, const void *b)
{
	return strcmp(((const struct check_handle *)a)->id,
	    ((const struct check_handle *)b)->id);
}

static int
atproto_check_cmp_user(const void *a, const void *b)
{
	return strcmp(((const struct check_user *)a)->id,
	    ((const struct check_user *)b)->id);
}

/* @handles and users, only the fields named; false with f set. */
static bool
atproto_check_read(struct mongo *m, struct check_data *d,
    struct mongo_fail *f)
{
	memset(d, 0, sizeof(*d));
	if (!atproto_check_read_one(m, "@handles", BCON_NEW("projection", "{",
	    "_id", BCON_INT32(1), "handle", BCON_INT32(1),
	    "migratedDID", BCON_INT32(1), "legacyAuth0Sub", BCON_INT32(1),
	    "atprotoHandle", BCON_INT32(1), "}"),
	    atproto_check_handle_row, d, f) ||
	    !atproto_check_read_one(m, "users", BCON_NEW("projection", "{",
	    "_id", BCON_INT32(1), "atproto.did", BCON_INT32(1),
	    "atproto.handle", BCON_INT32(1), "}"),
	    atproto_check_user_row, d, f)) {
		atproto_check_free(d);
		return false;
	}
	if (d->nhandles > 0)
		qsort(d->handles, d->nhandles, sizeof(*d->handles),
		    atproto_check_cmp_handle);
	if (d->nusers > 0)
		qsort(d->users, d->nusers, sizeof(*d->users),
		    atproto_check_cmp_user);
	return true;
}

static const struct check_user *
atproto_check_user(const struct check_data *d, const char *id)
{
	struct check_user key = { .id = (char *)id };

	if (id == NULL || d->nusers == 0)
		return NULL;
	return bsearch(&key, d->users, d->nusers, sizeof(*d->users),
	    atproto_check_cmp_user);
}

static bool
atproto_check_is_did(const char *s)
{
	return strncmp(s, "did:", 4) == 0;
}

/* ------------------------------------------------------------------ */
/* The findings                                                        */
/* ------------------------------------------------------------------ */

/* An object {count, list} for a finding; the list stops at the max. */
static cJSON *
atproto_check_finding(cJSON *parent, const char *key, cJSON **list)
{
	cJSON	*o = cJSON_AddObjectToObject(parent, key);

	resp_add_int(o, "count", 0);
	*list = cJSON_AddArrayToObject(o, "list");
	return o;
}

/* Count one more in finding o, listing item while there is room. */
static void
atproto_check_add(cJSON *o, cJSON *list, cJSON *item)
{
	cJSON	*count = cJSON_GetObjectItemCaseSensitive(o, "count");

	cJSON_SetNumberValue(count, count->valuedouble + 1);
	if (cJSON_GetArraySize(list) < CHECK_LIST_MAX)
		cJSON_AddItemToArray(list, item);
	else
		cJSON_Delete(item);
}

/* How many @handles documents of each kind. */
static void
atproto_check_kinds(const struct check_data *d, cJSON *out)
{
	int64_t	 did = 0, migrated = 0, legacy = 0;

	for (size_t i = 0; i < d->nhandles; i++) {
		const struct check_handle *h = &d->handles[i];

		if (atproto_check_is_did(h->id))
			did++;
		else if (h->migrated != NULL)
			migrated++;
		else
			legacy++;
	}
	resp_add_int(out, "handles", (int64_t)d->nhandles);
	resp_add_int(out, "did_documents", did);
	resp_add_int(out, "migrated", migrated);
	resp_add_int(out, "legacy", legacy);
}

static int
atproto_check_cmp_orphan(const void *a, const void *b)
{
	return strcmp(((const struct check_orphan *)a)->sub,
	    ((const struct check_orphan *)b)->sub);
}

/* Count sub once for the scan's current document, if it is migrated. */
static void
atproto_check_ref(struct check_scan *s, const char *sub)
{
	struct check_orphan key = { .sub = sub }, *o;

	o = bsearch(&key, s->orphans, s->n, sizeof(*o),
	    atproto_check_cmp_orphan);
	if (o != NULL && o->last_doc != s->docno) {
		o->last_doc = s->docno;
		o->refs++;
	}
}

/* mongo_find_each()'s callback: the references one document holds. */
static int
atproto_check_scan_row(const bson_t *doc, void *arg)
{
	struct check_scan *s = arg;
	bson_iter_t	 it, el;

	s->docno++;
	s->docs++;
	if (!bson_iter_init_find(&it, doc, s->field))
		return 0;
	if (BSON_ITER_HOLDS_UTF8(&it))
		atproto_check_ref(s, bson_iter_utf8(&it, NULL));
	else if (BSON_ITER_HOLDS_ARRAY(&it) && bson_iter_recurse(&it, &el))
		while (bson_iter_next(&el))
			if (BSON_ITER_HOLDS_UTF8(&el))
				atproto_check_ref(s, bson_iter_utf8(&el,
				    NULL));
	return 0;
}

/* One reference collection's documents naming a migrated sub. */
static bool
atproto_check_scan(struct mongo *m, const struct ac_user_collection *uc,
    struct check_scan *s, struct mongo_fail *f)
{
	bson_t		 filter = BSON_INITIALIZER, cond, in;
	bson_t		*opts = BCON_NEW("projection", "{",
			    uc->field, BCON_INT32(1), "}");
	bson_error_t	 e;
	char		 k[24], doing[96];
	bool		 ok;

	BSON_APPEND_DOCUMENT_BEGIN(&filter, uc->field, &cond);
	BSON_APPEND_ARRAY_BEGIN(&cond, "$in", &in);
	for (size_t i = 0; i < s->n; i++) {
		snprintf(k, sizeof(k), "%zu", i);
		BSON_APPEND_UTF8(&in, k, s->orphans[i].sub);
	}
	bson_append_array_end(&cond, &in);
	bson_append_document_end(&filter, &cond);
	s->field = uc->field;
	s->docs = 0;
	ok = mongo_find_each(m, NULL, uc->name, &filter, opts,
	    atproto_check_scan_row, s, &e);
	if (!ok) {
		snprintf(doing, sizeof(doing), "orphans in %s", uc->name);
		mongo_fail_set(f, &e, doing);
	}
	bson_destroy(opts);
	bson_destroy(&filter);
	return ok;
}

/* The orphans' part of the answer, from the finished scans. */
static void
atproto_check_orphans_json(const struct check_scan *s, cJSON *o,
    int64_t refs)
{
	cJSON	*by_sub = cJSON_AddArrayToObject(o, "subs");
	int64_t	 nsubs = 0;

	for (size_t i = 0; i < s->n; i++) {
		cJSON	*one;

		if (s->orphans[i].refs == 0)
			continue;
		if (nsubs++ >= CHECK_LIST_MAX)
			continue;
		one = cJSON_CreateObject();
		cJSON_AddStringToObject(one, "sub", s->orphans[i].sub);
		cJSON_AddStringToObject(one, "did", s->orphans[i].did);
		resp_add_int(one, "references", s->orphans[i].refs);
		cJSON_AddItemToArray(by_sub, one);
	}
	resp_add_int(o, "count", refs);
	resp_add_int(o, "orphaned_subs", nsubs);
}

/* References to migrated subs, per collection and per sub. */
static bool
atproto_check_orphans(struct mongo *m, const struct check_data *d,
    cJSON *out, struct mongo_fail *f)
{
	struct check_scan s = { 0 };
	cJSON		*o = cJSON_AddObjectToObject(out, "orphans"), *cols;
	int64_t		 refs = 0;
	bool		 ok = true;

	if (d->nhandles > 0 &&
	    (s.orphans = calloc(d->nhandles, sizeof(*s.orphans))) == NULL) {
		mongo_fail_oom(f, "orphans");
		return false;
	}
	for (size_t i = 0; i < d->nhandles; i++)
		if (d->handles[i].migrated != NULL &&
		    !atproto_check_is_did(d->handles[i].id))
			s.orphans[s.n++] = (struct check_orphan){
			    d->handles[i].id, d->handles[i].migrated, 0, -1 };
	cols = cJSON_AddArrayToObject(o, "collections");
	for (const struct ac_user_collection *uc = ac_user_collections;
	    s.n > 0 && uc->name != NULL && ok; uc++) {
		cJSON	*one;

		if (!(ok = atproto_check_scan(m, uc, &s, f)) || s.docs == 0)
			continue;
		one = cJSON_CreateObject();
		cJSON_AddStringToObject(one, "collection", uc->name);
		cJSON_AddStringToObject(one, "field", uc->field);
		resp_add_int(one, "references", s.docs);
		cJSON_AddItemToArray(cols, one);
		refs += s.docs;
	}
	if (ok)
		atproto_check_orphans_json(&s, o, refs);
	free(s.orphans);
	return ok;
}

static int
atproto_check_cmp_pair(const void *a, const void *b)
{
	const struct check_pair *p = a, *q = b;
	int	 c = strcmp(p->did, q->did);

	return c != 0 ? c : strcmp(p->sub, q->sub);
}

/* The DIDs that more than one sub maps to. */
static bool
atproto_check_dup_dids(const struct check_data *d, cJSON *out,
    struct mongo_fail *f)
{
	struct check_pair *p = NULL;
	size_t		 n = 0;
	cJSON		*list, *o = atproto_check_finding(out,
			    "duplicate_dids", &list);

	if (d->nhandles > 0 &&
	    (p = calloc(d->nhandles, sizeof(*p))) == NULL) {
		mongo_fail_oom(f, "DIDs mapped more than once");
		return false;
	}
	for (size_t i = 0; i < d->nhandles; i++) {
		const struct check_handle *h = &d->handles[i];

		if (atproto_check_is_did(h->id) && h->legacy != NULL)
			p[n++] = (struct check_pair){ h->id, h->legacy };
		else if (!atproto_check_is_did(h->id) && h->migrated != NULL)
			p[n++] = (struct check_pair){ h->migrated, h->id };
	}
	if (n > 0)
		qsort(p, n, sizeof(*p), atproto_check_cmp_pair);
	for (size_t i = 0, j; i < n; i = j) {
		cJSON	*one, *subs;

		for (j = i + 1; j < n && strcmp(p[j].did, p[i].did) == 0; j++)
			continue;
		one = cJSON_CreateObject();
		cJSON_AddStringToObject(one, "did", p[i].did);
		subs = cJSON_AddArrayToObject(one, "subs");
		for (size_t k = i; k < j; k++)
			if (k == i || strcmp(p[k].sub, p[k - 1].sub) != 0)
				cJSON_AddItemToArray(subs,
				    cJSON_CreateString(p[k].sub));
		if (cJSON_GetArraySize(subs) > 1)
			atproto_check_add(o, list, one);
		else
			cJSON_Delete(one);
	}
	free(p);
	return true;
}

static int
atproto_check_cmp_by_handle(const void *a, const void *b)
{
	const struct check_handle *h = *(const struct check_handle *const *)a;
	const struct check_handle *k = *(const struct check_handle *const *)b;
	int	 c = strcmp(h->handle, k->handle);

	return c != 0 ? c : strcmp(h->id, k->id);
}

/* The handles held by more than one live @handles document. */
static bool
atproto_check_dup_handles(const struct check_data *d, cJSON *out,
    struct mongo_fail *f)
{
	const struct check_handle **p = NULL;
	size_t		 n = 0;
	cJSON		*list, *o = atproto_check_finding(out,
			    "duplicate_handles", &list);

	if (d->nhandles > 0 &&
	    (p = calloc(d->nhandles, sizeof(*p))) == NULL) {
		mongo_fail_oom(f, "handles mapped more than once");
		return false;
	}
	for (size_t i = 0; i < d->nhandles; i++)
		if (d->handles[i].handle != NULL &&
		    (d->handles[i].migrated == NULL ||
		    atproto_check_is_did(d->handles[i].id)))
			p[n++] = &d->handles[i];
	if (n > 0)
		qsort(p, n, sizeof(*p), atproto_check_cmp_by_handle);
	for (size_t i = 0, j; i < n; i = j) {
		cJSON	*one, *ids;

		for (j = i + 1; j < n &&
		    strcmp(p[j]->handle, p[i]->handle) == 0; j++)
			continue;
		if (j - i < 2)
			continue;
		one = cJSON_CreateObject();
		cJSON_AddStringToObject(one, "handle", p[i]->handle);
		ids = cJSON_AddArrayToObject(one, "ids");
		for (size_t k = i; k < j; k++)
			cJSON_AddItemToArray(ids, cJSON_CreateString(p[k]->id));
		atproto_check_add(o, list, one);
	}
	free(p);
	return true;
}

/* The @handles documents no users document belongs to. */
static void
atproto_check_no_user(const struct check_data *d, cJSON *out)
{
	cJSON	*list, *o = atproto_check_finding(out, "handles_without_user",
		    &list);

	for (size_t i = 0; i < d->nhandles; i++) {
		const struct check_handle *h = &d->handles[i];

		if (atproto_check_user(d, h->id) == NULL &&
		    atproto_check_user(d, h->legacy) == NULL &&
		    atproto_check_user(d, h->migrated) == NULL)
			atproto_check_add(o, list, cJSON_CreateString(h->id));
	}
}

/* One policy rule's filter: the documents it names, with a marker. */
static bson_t *
atproto_check_policy_filter(const struct ac_unpublished *u)
{
	bson_t	*filter = bson_new(), and, sel, or, one;

	BSON_APPEND_ARRAY_BEGIN(filter, "$and", &and);
	BSON_APPEND_DOCUMENT_BEGIN(&and, "0", &sel);
	if (u->field != NULL && u->equals != NULL)
		BSON_APPEND_UTF8(&sel, u->field, u->equals);
	else if (u->field != NULL)
		BSON_APPEND_BOOL(&sel, u->field, true);
	bson_append_document_end(&and, &sel);
	BSON_APPEND_DOCUMENT_BEGIN(&and, "1", &sel);
	BSON_APPEND_ARRAY_BEGIN(&sel, "$or", &or);
	for (size_t i = 0; ac_atproto_markers[i] != NULL; i++) {
		char	 k[24];

		snprintf(k, sizeof(k), "%zu", i);
		BSON_APPEND_DOCUMENT_BEGIN(&or, k, &one);
		BCON_APPEND(&one, ac_atproto_markers[i], "{", "$exists",
		    BCON_BOOL(true), "}");
		bson_append_document_end(&or, &one);
	}
	bson_append_array_end(&sel, &or);
	bson_append_document_end(&and, &sel);
	bson_append_array_end(filter, &and);
	return filter;
}

/* Items never to be published that carry a published copy's marker. */
static bool
atproto_check_policy(struct mongo *m, cJSON *out, struct mongo_fail *f)
{
	cJSON	*o = cJSON_AddObjectToObject(out, "policy");
	cJSON	*rules = cJSON_AddArrayToObject(o, "rules"), *one;
	int64_t	 total = 0, n;

	for (const struct ac_unpublished *u = ac_unpublished; u->name != NULL;
	    u++) {
		bson_t		*filter = atproto_check_policy_filter(u);
		bson_error_t	 e;
		char		 doing[96];

		n = mongo_count(m, u->name, filter, &e);
		bson_destroy(filter);
		if (n < 0) {
			snprintf(doing, sizeof(doing), "policy in %s",
			    u->name);
			mongo_fail_set(f, &e, doing);
			return false;
		}
		one = cJSON_CreateObject();
		cJSON_AddStringToObject(one, "collection", u->name);
		cJSON_AddStringToObject(one, "kind", u->kind);
		resp_add_int(one, "count", n);
		cJSON_AddItemToArray(rules, one);
		total += n;
	}
	resp_add_int(o, "count", total);
	return true;
}

/* The number of findings of a part of the answer. */
static int64_t
atproto_check_count(const cJSON *out, const char *key)
{
	const cJSON	*o = cJSON_GetObjectItemCaseSensitive(out, key);
	const cJSON	*n = cJSON_GetObjectItemCaseSensitive(o, "count");

	return cJSON_IsNumber(n) ? (int64_t)n->valuedouble : 0;
}

/*
 * The whole check as JSON (see the top of this file); NULL with f set
 * when the database failed.
 */
cJSON *
atproto_check_json(struct mongo *m, struct mongo_fail *f)
{
	struct check_data d;
	cJSON		*out;
	static const char *const parts[] = { "orphans", "duplicate_dids",
			    "duplicate_handles", "handles_without_user",
			    "policy", NULL };
	int64_t		 findings = 0;

	if (!atproto_check_read(m, &d, f))
		return NULL;
	out = cJSON_CreateObject();
	atproto_check_kinds(&d, out);
	if (!atproto_check_orphans(m, &d, out, f) ||
	    !atproto_check_dup_dids(&d, out, f) ||
	    !atproto_check_dup_handles(&d, out, f)) {
		cJSON_Delete(out);
		out = NULL;
	} else {
		atproto_check_no_user(&d, out);
		if (!atproto_check_policy(m, out, f)) {
			cJSON_Delete(out);
			out = NULL;
		}
	}
	atproto_check_free(&d);
	if (out == NULL)
		return NULL;
	for (size_t i = 0; parts[i] != NULL; i++)
		findings += atproto_check_count(out, parts[i]);
	resp_add_int(out, "findings", findings);
	return out;
}

/* ------------------------------------------------------------------ */
/* silo atproto check                                                  */
/* ------------------------------------------------------------------ */

static int64_t
atproto_check_int(const cJSON *o, const char *key)
{
	const cJSON	*n = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsNumber(n) ? (int64_t)n->valuedouble : 0;
}

/* A finding's heading and its list's strings, joined. */
static void
atproto_check_print_list(FILE *out, const cJSON *o, const char *title,
    const char *key, const char *member)
{
	const cJSON	*item;

	fprintf(out, "%s: %lld\n", title,
	    (long long)atproto_check_int(o, "count"));
	cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(o, "list")) {
		const cJSON *name = key != NULL ?
		    cJSON_GetObjectItemCaseSensitive(item, key) : item;
		const cJSON *ids = member != NULL ?
		    cJSON_GetObjectItemCaseSensitive(item, member) : NULL;
		const cJSON *id;
		const char *sep = ": ";

		fprintf(out, "  %s", cJSON_GetStringValue(name));
		cJSON_ArrayForEach(id, ids) {
			fprintf(out, "%s%s", sep, cJSON_GetStringValue(id));
			sep = ", ";
		}
		fputc('\n', out);
	}
}

/* The report for a person, from the JSON. */
static void
atproto_check_print(FILE *out, const cJSON *r)
{
	const cJSON	*o = cJSON_GetObjectItemCaseSensitive(r, "orphans");
	const cJSON	*item;

	fprintf(out, "@handles: %lld documents: %lld keyed by a DID, %lld "
	    "migrated, %lld legacy (not migrated)\n",
	    (long long)atproto_check_int(r, "handles"),
	    (long long)atproto_check_int(r, "did_documents"),
	    (long long)atproto_check_int(r, "migrated"),
	    (long long)atproto_check_int(r, "legacy"));
	fprintf(out, "references to migrated subs: %lld\n",
	    (long long)atproto_check_int(o, "count"));
	cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(o,
	    "collections"))
		fprintf(out, "  %s.%s: %lld\n", cJSON_GetStringValue(
		    cJSON_GetObjectItemCaseSensitive(item, "collection")),
		    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(item,
		    "field")), (long long)atproto_check_int(item,
		    "references"));
	cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(o, "subs"))
		fprintf(out, "  %s (now %s): %lld\n", cJSON_GetStringValue(
		    cJSON_GetObjectItemCaseSensitive(item, "sub")),
		    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(item,
		    "did")), (long long)atproto_check_int(item, "references"));
	atproto_check_print_list(out, cJSON_GetObjectItemCaseSensitive(r,
	    "duplicate_dids"), "DIDs mapped more than once", "did", "subs");
	atproto_check_print_list(out, cJSON_GetObjectItemCaseSensitive(r,
	    "duplicate_handles"), "handles mapped more than once", "handle",
	    "ids");
	atproto_check_print_list(out, cJSON_GetObjectItemCaseSensitive(r,
	    "handles_without_user"), "@handles without a user", NULL, NULL);
	o = cJSON_GetObjectItemCaseSensitive(r, "policy");
	fprintf(out, "never to be published, yet with an ATProto record: "
	    "%lld\n", (long long)atproto_check_int(o, "count"));
	cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(o, "rules"))
		if (atproto_check_int(item, "count") > 0)
			fprintf(out, "  %s (%s): %lld\n", cJSON_GetStringValue(
			    cJSON_GetObjectItemCaseSensitive(item,
			    "collection")), cJSON_GetStringValue(
			    cJSON_GetObjectItemCaseSensitive(item, "kind")),
			    (long long)atproto_check_int(item, "count"));
	fprintf(out, "%lld findings\n",
	    (long long)atproto_check_int(r, "findings"));
}

/* `silo atproto check [--json]`: 0 when clean, 1 with findings or on a
 * database error. */
int
atproto_check_main(const struct silo_config *config, bool json)
{
	struct mongo	 m;
	struct mongo_fail f;
	cJSON		*r;
	char		*text;
	int		 rc;

	if (mongo_open_command(&m, config, "atproto check") == -1)
		return 1;
	if ((r = atproto_check_json(&m, &f)) == NULL) {
		log_err("atproto check: %s: %s", f.doing, f.error.message);
		mongo_close(&m);
		return 1;
	}
	if (json) {
		text = cJSON_PrintUnformatted(r);
		printf("%s\n", text != NULL ? text : "null");
		free(text);
	} else
		atproto_check_print(stdout, r);
	rc = atproto_check_int(r, "findings") > 0 ? 1 : 0;
	cJSON_Delete(r);
	mongo_close(&m);
	return rc;
}

/* ------------------------------------------------------------------ */
/* silo atproto export                                                 */
/* ------------------------------------------------------------------ */

/* Does the DID's own @handles document name sub as its legacy sub? */
static bool
atproto_check_did_doc_says(const struct check_data *d, const char *did,
    const char *sub)
{
	struct check_handle key = { .id = (char *)did };
	const struct check_handle *h = NULL;

	if (d->nhandles > 0)
		h = bsearch(&key, d->handles, d->nhandles, sizeof(*d->handles),
		    atproto_check_cmp_handle);
	return h != NULL && h->legacy != NULL && strcmp(h->legacy, sub) == 0;
}

static void
atproto_check_add_or_null(cJSON *o, const char *key, const char *s)
{
	if (s != NULL)
		cJSON_AddStringToObject(o, key, s);
	else
		cJSON_AddNullToObject(o, key);
}

/* The export's line for one @handles document, or NULL for none. */
static cJSON *
atproto_check_line(const struct check_data *d, const struct check_handle *h)
{
	const struct check_user *u = NULL;
	const char	*sub = h->id, *did = h->migrated;
	const char	*at_handle = h->atproto_handle;
	cJSON		*o;

	if (atproto_check_is_did(h->id)) {
		sub = h->legacy;
		did = h->id;
	} else if (h->migrated != NULL) {
		if (atproto_check_did_doc_says(d, h->migrated, h->id))
			return NULL;	/* the DID's document says it */
	} else if ((u = atproto_check_user(d, h->id)) != NULL) {
		did = u->did;
		if (at_handle == NULL)
			at_handle = u->handle;
	}
	o = cJSON_CreateObject();
	atproto_check_add_or_null(o, "sub", sub);
	atproto_check_add_or_null(o, "did", did);
	atproto_check_add_or_null(o, "handle", h->handle);
	atproto_check_add_or_null(o, "atproto_handle", at_handle);
	return o;
}

/* `silo atproto export`: the mapping as JSON lines on standard output. */
int
atproto_check_export_main(const struct silo_config *config)
{
	struct mongo	 m;
	struct mongo_fail f;
	struct check_data d;
	int		 rc = 0;

	if (mongo_open_command(&m, config, "atproto export") == -1)
		return 1;
	if (!atproto_check_read(&m, &d, &f)) {
		log_err("atproto export: %s: %s", f.doing, f.error.message);
		mongo_close(&m);
		return 1;
	}
	for (size_t i = 0; i < d.nhandles && rc == 0; i++) {
		cJSON	*line = atproto_check_line(&d, &d.handles[i]);
		char	*text;

		if (line == NULL)
			continue;
		if ((text = cJSON_PrintUnformatted(line)) == NULL ||
		    printf("%s\n", text) < 0)
			rc = 1;
		free(text);
		cJSON_Delete(line);
	}
	if (fflush(stdout) != 0)
		rc = 1;
	if (rc != 0)
		log_err("atproto export: writing the output failed");
	atproto_check_free(&d);
	mongo_close(&m);
	return rc;
}
