/*
 * tokens.c: services' API tokens, and `silo token`.
 *
 * AC's other services (and a person's scripts) call silo's API with
 * "Authorization: Bearer silo_...".  Each token has a name, chosen by
 * whoever made it ("oven", "grafana"), and a set of scopes, the rights
 * it holds from the route table's scope column; a token holds only what
 * it was given, never a role.  `silo token create` prints the token once
 * and keeps only its SHA-256 (credential.c says why that is enough), so
 * a lost token is revoked and made again, never recovered.
 *
 * silo.tokens has one document per token: _id the name, "hash", the
 * scope names, when it was made and when it was last used.  A request's
 * token is looked up by its digest through a unique index on "hash";
 * "last_used" is written at most once a minute, like a session's "seen".
 * Revoking deletes the document, and the next request of any worker
 * finds nothing.
 *
 * The bootstrap tokens of the configuration (SILO_ADMIN_TOKEN,
 * SILO_READ_TOKEN) are not here: access.c checks them first, so that a
 * fresh install, with no token made yet, can still be reached.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include "extern.h"

#define	TOKEN_PREFIX		"silo_"	/* every token starts so */
#define	TOKEN_TOUCH_MS		60000	/* last_used is rewritten so seldom */

/* Fill in a token principal from its stored document. */
static void
tokens_principal(const bson_t *doc, struct principal *p)
{
	bson_iter_t	 it, arr;
	const char	*name = mongo_get_utf8(doc, "_id");

	memset(p, 0, sizeof(*p));
	p->kind = PRINCIPAL_TOKEN;
	snprintf(p->name, sizeof(p->name), "%s", name != NULL ? name : "");
	if (bson_iter_init_find(&it, doc, "scopes") &&
	    BSON_ITER_HOLDS_ARRAY(&it) && bson_iter_recurse(&it, &arr))
		while (bson_iter_next(&arr))
			if (BSON_ITER_HOLDS_UTF8(&arr))
				p->scopes |= scope_bit(bson_iter_utf8(&arr,
				    NULL));
}

enum auth_lookup
tokens_find(struct mongo *m, const char *token, size_t len,
    struct principal *p, bson_error_t *e)
{
	char			 digest[CREDENTIAL_DIGEST_HEX];
	bson_t			*filter, doc;
	int64_t			 last_used;
	enum auth_lookup	 found;

	memset(e, 0, sizeof(*e));
	if (!credential_well_formed(token, len, TOKEN_PREFIX))
		return AUTH_ABSENT;
	credential_digest(token, len, digest);
	filter = BCON_NEW("hash", BCON_UTF8(digest));
	if (!mongo_find_one(m, AUTH_DB, AUTH_TOKENS, filter, NULL, &doc, e)) {
		bson_destroy(filter);
		return e->code != 0 ? AUTH_ERROR : AUTH_ABSENT;
	}
	last_used = mongo_get_date(&doc, "last_used", 0);
	found = mongo_touch_date(m, AUTH_DB, AUTH_TOKENS, filter, "last_used",
	    &last_used, TOKEN_TOUCH_MS, e) ? AUTH_FOUND : AUTH_ERROR;
	if (found == AUTH_FOUND)
		tokens_principal(&doc, p);
	bson_destroy(&doc);
	bson_destroy(filter);
	return found;
}

/* ------------------------------------------------------------------ */
/* silo token                                                          */
/* ------------------------------------------------------------------ */

/* The unique index that token lookups go through. */
static bool
tokens_index(struct mongo *m, bson_error_t *e)
{
	bson_t	*cmd = BCON_NEW("createIndexes", BCON_UTF8(AUTH_TOKENS),
		    "indexes", "[", "{", "key", "{", "hash", BCON_INT32(1), "}",
		    "name", BCON_UTF8("hash_1"), "unique", BCON_BOOL(true),
		    "}", "]");
	bson_t	 reply;
	bool	 ok = mongo_command(m, AUTH_DB, cmd, &reply, e);

	bson_destroy(&reply);
	bson_destroy(cmd);
	return ok;
}

/* `silo token create NAME --scope LIST`: the token on stdout, once. */
int
tokens_create_main(const struct silo_config *config, const char *name,
    const char *scope_list)
{
	char			 token[SESSION_ID_MAX + 8], why[256];
	char			 digest[CREDENTIAL_DIGEST_HEX];
	unsigned		 scopes;
	struct mongo		 m;
	mongoc_collection_t	*c;
	bson_t			*doc, arr;
	bson_error_t		 e;
	int			 rc = 1;

	if ((scopes = scope_parse_list(scope_list, why, sizeof(why))) == 0) {
		log_err("token create: --scope: %s", why);
		return 2;
	}
	if (credential_new(TOKEN_PREFIX, token, sizeof(token)) == -1) {
		log_err("token create: OpenSSL gave no random bytes");
		return 1;
	}
	if (mongo_open_command(&m, config, "token create") == -1)
		return 1;
	credential_digest(token, strlen(token), digest);
	doc = BCON_NEW("_id", BCON_UTF8(name), "hash", BCON_UTF8(digest),
	    "created", BCON_DATE_TIME(clock_real_ms()));
	BSON_APPEND_ARRAY_BEGIN(doc, "scopes", &arr);
	for (unsigned i = 0, n = 0; i < SCOPE_COUNT; i++)
		if (scopes & (1u << i)) {
			char	 key[16];

			snprintf(key, sizeof(key), "%u", n++);
			BSON_APPEND_UTF8(&arr, key, scope_names[i]);
		}
	bson_append_array_end(doc, &arr);
	c = mongoc_client_get_collection(m.client, AUTH_DB, AUTH_TOKENS);
	if (!tokens_index(&m, &e) ||
	    !mongoc_collection_insert_one(c, doc, NULL, NULL, &e))
		log_err("token create: %s: %s", name, e.code == 11000 ?
		    "a token of that name exists (silo token revoke ends it)" :
		    e.message);
	else {
		printf("%s\n", token);
		fprintf(stderr, "token create: %s made; it is shown this "
		    "once and silo keeps only its hash\n", name);
		rc = 0;
	}
	OPENSSL_cleanse(token, sizeof(token));
	mongoc_collection_destroy(c);
	bson_destroy(doc);
	mongo_close(&m);
	return rc;
}

/* Print one token's row of `silo token list`. */
static int
tokens_list_row(const bson_t *doc, void *arg)
{
	struct principal	 p;
	char			 created[CLOCK_ISO_MAX], used[CLOCK_ISO_MAX];
	char			 scopes[256] = "";
	int64_t			 last = mongo_get_date(doc, "last_used", -1);

	tokens_principal(doc, &p);
	for (unsigned i = 0; i < SCOPE_COUNT; i++)
		if (p.scopes & (1u << i)) {
			size_t	 len = strlen(scopes);

			snprintf(scopes + len, sizeof(scopes) - len, "%s%s",
			    len > 0 ? "," : "", scope_names[i]);
		}
	if (!clock_iso(mongo_get_date(doc, "created", 0), CLOCK_ISO_S, created,
	    sizeof(created)))
		snprintf(created, sizeof(created), "-");
	if (last < 0 || !clock_iso(last, CLOCK_ISO_S, used, sizeof(used)))
		snprintf(used, sizeof(used), "never");
	printf("%-24s %-20s %-20s %s\n", p.name, created, used, scopes);
	return 0;
}

/* `silo token list`. */
int
tokens_list_main(const struct silo_config *config)
{
	struct mongo	 m;
	bson_t		*filter, *opts;
	bson_error_t	 e;
	bool		 ok;

	if (mongo_open_command(&m, config, "token list") == -1)
		return 1;
	filter = bson_new();
	opts = BCON_NEW("sort", "{", "_id", BCON_INT32(1), "}",
	    "projection", "{", "hash", BCON_INT32(0), "}");
	printf("%-24s %-20s %-20s %s\n", "NAME", "CREATED", "LAST USED",
	    "SCOPES");
	ok = mongo_find_each(&m, AUTH_DB, AUTH_TOKENS, filter, opts,
	    tokens_list_row, NULL, &e);
	if (!ok)
		log_err("token list: reading %s.%s: %s", AUTH_DB, AUTH_TOKENS,
		    e.message);
	bson_destroy(opts);
	bson_destroy(filter);
	mongo_close(&m);
	return ok ? 0 : 1;
}

/* `silo token revoke NAME`. */
int
tokens_revoke_main(const struct silo_config *config, const char *name)
{
	struct mongo		 m;
	mongoc_collection_t	*c;
	bson_t			*filter, reply;
	bson_error_t		 e;
	int64_t			 deleted = 0;
	bool			 ok;

	if (mongo_open_command(&m, config, "token revoke") == -1)
		return 1;
	filter = BCON_NEW("_id", BCON_UTF8(name));
	c = mongoc_client_get_collection(m.client, AUTH_DB, AUTH_TOKENS);
	ok = mongoc_collection_delete_one(c, filter, NULL, &reply, &e);
	deleted = mongo_get_int64(&reply, "deletedCount", 0);
	if (!ok)
		log_err("token revoke: %s: %s", name, e.message);
	else if (deleted != 1)
		log_err("token revoke: no token named %s (silo token list "
		    "shows them)", name);
	else
		fprintf(stderr, "token revoke: %s revoked\n", name);
	bson_destroy(&reply);
	mongoc_collection_destroy(c);
	bson_destroy(filter);
	mongo_close(&m);
	return ok && deleted == 1 ? 0 : 1;
}
