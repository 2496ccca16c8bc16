/*
 * api_users.c: GET /api/users/:id, the dashboard's user search.
 *
 * One answer says who a user is and what of theirs AC holds: their key
 * (the auth0 sub, or the DID a migrated user's _id became), handle, DID
 * and when AC first recorded them; their documents per collection; and
 * their storage footprint.  :id is whatever the person searching has at
 * hand, a handle (with or without '@'), an auth0 sub or a DID.
 *
 * Finding the user.  The id is parsed and resolved exactly as
 * /api/storage/user/:id does it, by the same two functions of
 * api_storage.c: a malformed id (an e-mail address among them) is a 400
 * saying why, an id AC does not know a 404.  The storage part is that
 * endpoint's own answer for the user's key, embedded whole, or its
 * no_snapshot error before the first snapshot (the rest of the answer
 * does not need one, so the search works on a fresh install).
 *
 * Documents.  ac.c's table names each collection that holds users'
 * documents and the field with the user's key; each is one exact count
 * on that field (AC indexes it on the content collections; the chat
 * rooms, tens of thousands of small documents, are scanned, about a
 * tenth of a second for the whole answer on the test stack).  Every
 * collection of the table is listed, zeros included, largest count
 * first and then by name, so the dashboard can show a stable table.
 *
 * "created" is the earliest time AC recorded for the user: the @handles
 * document's createdAt or the users document's atproto.created (AC's
 * users documents carry no creation time of their own); null when
 * neither is there.
 *
 * Linking a sub to a handle and a DID is what makes this sensitive, so
 * the route has its own scope, read:users.  The users collection holds
 * e-mail addresses and ATProto passwords: its query projects only
 * atproto.did and atproto.created, and @handles' only handle and
 * createdAt, so nothing else ever reaches this process, let alone the
 * answer.  A database that cannot be reached is the API's usual 503.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "silo.h"

/* One collection's count of a user's documents. */
struct api_users_count {
	const char	*name;		/* the collection, from ac.c's table */
	int64_t		 count;		/* documents under the user's key */
};

/* Largest count first, then by name. */
static int
api_users_count_cmp(const void *a, const void *b)
{
	const struct api_users_count *x = a, *y = b;

	if (x->count != y->count)
		return x->count > y->count ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* The earliest of the dates AC recorded for the user, as ISO 8601 (to the
 * second, UTC), or JSON null.  Either document may be NULL. */
static cJSON *
api_users_created(const bson_t *user, const bson_t *handle)
{
	int64_t		 first = INT64_MAX, t;
	char		 iso[CLOCK_ISO_MAX];

	if (user != NULL &&
	    (t = mongo_get_date(user, "atproto.created", INT64_MAX)) < first)
		first = t;
	if (handle != NULL &&
	    (t = mongo_get_date(handle, "createdAt", INT64_MAX)) < first)
		first = t;
	if (first == INT64_MAX ||
	    !clock_iso(first, CLOCK_ISO_S, iso, sizeof(iso)))
		return cJSON_CreateNull();
	return cJSON_CreateString(iso);
}

/* The one document of collection whose _id is key, with only the fields
 * projection names, into out: 1 found, 0 none, -1 with f filled in. */
static int
api_users_doc(struct silo_ctx *ctx, const char *collection, const char *key,
    const bson_t *projection, bson_t *out, struct mongo_fail *f)
{
	bson_t		*filter = BCON_NEW("_id", BCON_UTF8(key));
	bson_t		 opts = BSON_INITIALIZER;
	bson_error_t	 e;
	int		 found;

	BSON_APPEND_DOCUMENT(&opts, "projection", projection);
	found = mongo_find_one(ctx->mongo, NULL, collection, filter, &opts,
	    out, &e) ? 1 : 0;
	if (found == 0 && e.code != 0) {
		mongo_fail_set(f, &e, collection);
		found = -1;
	}
	bson_destroy(filter);
	bson_destroy(&opts);
	return found;
}

/*
 * {"sub","handle","did","created"} for the user whose key is key, from
 * their users and @handles documents (either may be missing); NULL with
 * f filled in.
 */
static cJSON *
api_users_identity(struct silo_ctx *ctx, const char *key,
    struct mongo_fail *f)
{
	bson_t		*user_fields = BCON_NEW("atproto.did", BCON_INT32(1),
			    "atproto.created", BCON_INT32(1));
	bson_t		*handle_fields = BCON_NEW("handle", BCON_INT32(1),
			    "createdAt", BCON_INT32(1));
	bson_t		 user, handle;
	int		 has_user, has_handle = -1;
	const char	*did, *name;
	cJSON		*o = NULL;

	if ((has_user = api_users_doc(ctx, "users", key, user_fields, &user,
	    f)) == -1 || (has_handle = api_users_doc(ctx, "@handles", key,
	    handle_fields, &handle, f)) == -1)
		goto out;
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "sub", key);
	name = has_handle ? mongo_get_utf8(&handle, "handle") : NULL;
	cJSON_AddItemToObject(o, "handle", name != NULL ?
	    cJSON_CreateString(name) : cJSON_CreateNull());
	did = ac_user_did(has_user ? &user : NULL, key);
	cJSON_AddItemToObject(o, "did", did != NULL ?
	    cJSON_CreateString(did) : cJSON_CreateNull());
	cJSON_AddItemToObject(o, "created", api_users_created(
	    has_user ? &user : NULL, has_handle ? &handle : NULL));
out:
	if (has_user == 1)
		bson_destroy(&user);
	if (has_handle == 1)
		bson_destroy(&handle);
	bson_destroy(user_fields);
	bson_destroy(handle_fields);
	return o;
}

/* {"total","collections":[{"name","count"}]} for the user whose key is
 * key, every collection of ac.c's table; NULL with f filled in. */
static cJSON *
api_users_documents(struct silo_ctx *ctx, const char *key,
    struct mongo_fail *f)
{
	struct api_users_count *counts;
	size_t		 n = 0;
	int64_t		 total = 0;
	bson_error_t	 e;
	cJSON		*o = NULL, *list, *row;

	while (ac_user_collections[n].name != NULL)
		n++;
	if ((counts = calloc(n, sizeof(*counts))) == NULL) {
		mongo_fail_oom(f, "counting a user's documents");
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		const struct ac_user_collection *c = &ac_user_collections[i];
		bson_t	*filter = BCON_NEW(c->field, BCON_UTF8(key));

		counts[i].name = c->name;
		counts[i].count = mongo_count(ctx->mongo, c->name, filter, &e);
		bson_destroy(filter);
		if (counts[i].count < 0) {
			mongo_fail_set(f, &e, c->name);
			goto out;
		}
		total += counts[i].count;
	}
	qsort(counts, n, sizeof(*counts), api_users_count_cmp);
	o = cJSON_CreateObject();
	resp_add_int(o, "total", total);
	list = cJSON_AddArrayToObject(o, "collections");
	for (size_t i = 0; i < n; i++) {
		row = cJSON_CreateObject();
		cJSON_AddStringToObject(row, "name", counts[i].name);
		resp_add_int(row, "count", counts[i].count);
		cJSON_AddItemToArray(list, row);
	}
out:
	free(counts);
	return o;
}

/*
 * What GET /api/storage/user/<key> answers: its 200 body, or its 503
 * no_snapshot body before the first snapshot.  Any other answer (the
 * database failed) becomes the whole answer: NULL with resp filled in.
 */
static cJSON *
api_users_storage(struct silo_ctx *ctx, struct silo_response *resp,
    const char *key)
{
	struct silo_response storage = { 0 };
	const char	*code;
	cJSON		*o = NULL;

	api_storage_user_answer(ctx, &storage, ID_SUB, key);
	code = cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(
	    storage.body, "error"), "code"));
	if (storage.status == 200 || (storage.status == 503 &&
	    code != NULL && strcmp(code, "no_snapshot") == 0))
		o = storage.body;
	else
		resp_json(resp, storage.status, storage.body);
	storage.body = NULL;
	resp_clear(&storage);
	return o;
}

/* Add v to o as name; false when v is NULL (a part that failed). */
static bool
api_users_add(cJSON *o, const char *name, cJSON *v)
{
	if (v == NULL)
		return false;
	cJSON_AddItemToObject(o, name, v);
	return true;
}

void
api_users_get(struct silo_ctx *ctx, const struct silo_request *req,
    struct silo_response *resp)
{
	enum api_storage_id kind;
	const char	*name;
	char		 why[160], *key;
	struct mongo_fail f;
	cJSON		*body;

	kind = api_storage_parse_id(req->path_params[0], &name, why,
	    sizeof(why));
	if (kind == ID_BAD) {
		resp_error(resp, 400, "bad_request", "%s", why);
		return;
	}
	if ((key = api_storage_resolve(ctx, resp, kind, name)) == NULL)
		return;
	body = cJSON_CreateObject();
	cJSON_AddStringToObject(body, "query", req->path_params[0]);
	if (!api_users_add(body, "user", api_users_identity(ctx, key, &f)) ||
	    !api_users_add(body, "documents", api_users_documents(ctx, key,
	    &f)))
		resp_db_fail(resp, ctx->config->mongo_db, &f);
	else if (api_users_add(body, "storage", api_users_storage(ctx, resp,
	    key))) {
		resp_json(resp, 200, body);
		body = NULL;
	}
	cJSON_Delete(body);
	free(key);
}
