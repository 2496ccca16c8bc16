/*
 * throttle.c: slowing down password guessing.
 *
 * Every failed sign-in counts against two keys: the user name tried and
 * the client's address.  A key may fail THROTTLE_USER_FREE times (a
 * user) or THROTTLE_ADDR_FREE times (an address, which may be a whole
 * office behind one NAT) without consequence; each failure after that
 * locks the key for twice as long as the one before, from one second up
 * to THROTTLE_MAX_LOCK_S.  A locked key answers 429 with Retry-After
 * before any password is checked, so a lock costs the guesser time and
 * silo no scrypt.  The count is forgotten THROTTLE_WINDOW_S after the
 * last failure, and a good sign-in clears the user's count (not the
 * address's: one known password must not buy an address more guesses at
 * other accounts).
 *
 * The counters live in MongoDB (silo.login_throttle), not in a worker,
 * because a pool of workers each counting alone would multiply every
 * limit by the pool's size.  A failure is one findAndModify ($inc, with
 * upsert), atomic whichever worker serves it, and the lock it earns is
 * computed from the count that update returned.
 *
 * Names that do not exist are counted like names that do, so the 429
 * says nothing about which users exist.  A name that cannot be a user
 * (users_name_valid) is not stored at all, since it may be an e-mail
 * address or a password typed into the wrong field, and nor is an
 * address: its key is a SHA-256 prefix of it.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "extern.h"

#define	THROTTLE_USER_FREE	5	/* failures a user name may have */
#define	THROTTLE_ADDR_FREE	20	/* failures an address may have */
#define	THROTTLE_MAX_LOCK_S	900	/* the longest lock */
#define	THROTTLE_WINDOW_S	900	/* failures older than this expire */
#define	THROTTLE_KEY_MAX	(PRINCIPAL_NAME_MAX + 8)

/* The two keys of an attempt; "" for one not counted. */
struct throttle_keys {
	char	 user[THROTTLE_KEY_MAX];	/* "user:<name>" */
	char	 addr[THROTTLE_KEY_MAX];	/* "addr:<digest prefix>" */
};

static void
throttle_keys(const char *user, const char *addr, struct throttle_keys *k)
{
	char	 digest[CREDENTIAL_DIGEST_HEX];

	k->user[0] = k->addr[0] = '\0';
	if (user != NULL && users_name_valid(user))
		snprintf(k->user, sizeof(k->user), "user:%s", user);
	if (addr != NULL && *addr != '\0') {
		credential_digest(addr, strlen(addr), digest);
		snprintf(k->addr, sizeof(k->addr), "addr:%.32s", digest);
	}
}

/* Seconds key is still locked for (0: not), or -1 on a database error. */
static int64_t
throttle_locked_for(struct mongo *m, const char *key, int64_t now,
    bson_error_t *e)
{
	bson_t	*filter = BCON_NEW("_id", BCON_UTF8(key));
	bson_t	 doc;
	int64_t	 until, left = 0;

	if (mongo_find_one(m, AUTH_DB, AUTH_THROTTLE, filter, NULL, &doc,
	    e)) {
		until = mongo_get_date(&doc, "until", 0);
		if (until > now)
			left = (until - now + 999) / 1000;
		bson_destroy(&doc);
	} else if (e->code != 0)
		left = -1;
	bson_destroy(filter);
	return left;
}

int
throttle_wait(struct mongo *m, const char *user, const char *addr,
    int64_t *retry_after_s, bson_error_t *e)
{
	struct throttle_keys	 k;
	const char		*keys[2];
	int64_t			 now = clock_real_ms(), left;

	throttle_keys(user, addr, &k);
	keys[0] = k.user;
	keys[1] = k.addr;
	*retry_after_s = 0;
	for (size_t i = 0; i < 2; i++) {
		if (keys[i][0] == '\0')
			continue;
		if ((left = throttle_locked_for(m, keys[i], now, e)) == -1)
			return -1;
		if (left > *retry_after_s)
			*retry_after_s = left;
	}
	return *retry_after_s > 0 ? 1 : 0;
}

/* The lock a key earns with its n-th failure, in seconds. */
static int64_t
throttle_lock_s(int64_t failures, int64_t free)
{
	int64_t	 over = failures - free;

	if (over <= 0)
		return 0;
	if (over > 10)		/* 2^10 s would pass the cap */
		return THROTTLE_MAX_LOCK_S;
	return (int64_t)1 << (over - 1);
}

/* Count one failure against key, and lock it if it has had too many. */
static bool
throttle_count(mongoc_collection_t *c, const char *key, int64_t free,
    int64_t now, bson_error_t *e)
{
	bson_t				*filter, *stale, *update, reply;
	mongoc_find_and_modify_opts_t	*opts;
	bson_iter_t			 it, doc;
	int64_t				 failures = 0, lock;
	bool				 ok;

	filter = BCON_NEW("_id", BCON_UTF8(key));
	/* A count whose last failure is older than the window starts over. */
	stale = BCON_NEW("_id", BCON_UTF8(key), "last", "{", "$lt",
	    BCON_DATE_TIME(now - THROTTLE_WINDOW_S * 1000), "}");
	ok = mongoc_collection_delete_one(c, stale, NULL, NULL, e);
	bson_destroy(stale);
	update = BCON_NEW("$inc", "{", "failures", BCON_INT64(1), "}",
	    "$set", "{", "last", BCON_DATE_TIME(now), "}");
	opts = mongoc_find_and_modify_opts_new();
	mongoc_find_and_modify_opts_set_update(opts, update);
	mongoc_find_and_modify_opts_set_flags(opts,
	    MONGOC_FIND_AND_MODIFY_UPSERT | MONGOC_FIND_AND_MODIFY_RETURN_NEW);
	ok = ok && mongoc_collection_find_and_modify_with_opts(c, filter, opts,
	    &reply, e);
	if (ok && bson_iter_init_find(&it, &reply, "value") &&
	    BSON_ITER_HOLDS_DOCUMENT(&it) && bson_iter_recurse(&it, &doc) &&
	    bson_iter_find(&doc, "failures"))
		failures = bson_iter_as_int64(&doc);
	bson_destroy(&reply);
	mongoc_find_and_modify_opts_destroy(opts);
	bson_destroy(update);
	if (ok && (lock = throttle_lock_s(failures, free)) > 0) {
		bson_t	*set = BCON_NEW("$set", "{", "until",
			    BCON_DATE_TIME(now + lock * 1000), "}");

		ok = mongoc_collection_update_one(c, filter, set, NULL, NULL,
		    e);
		bson_destroy(set);
	}
	bson_destroy(filter);
	return ok;
}

bool
throttle_failed(struct mongo *m, const char *user, const char *addr,
    bson_error_t *e)
{
	struct throttle_keys	 k;
	mongoc_collection_t	*c;
	int64_t			 now = clock_real_ms();
	bool			 ok = true;

	throttle_keys(user, addr, &k);
	c = mongoc_client_get_collection(m->client, AUTH_DB, AUTH_THROTTLE);
	if (k.user[0] != '\0')
		ok = throttle_count(c, k.user, THROTTLE_USER_FREE, now, e);
	if (ok && k.addr[0] != '\0')
		ok = throttle_count(c, k.addr, THROTTLE_ADDR_FREE, now, e);
	mongoc_collection_destroy(c);
	return ok;
}

bool
throttle_clear(struct mongo *m, const char *user, bson_error_t *e)
{
	struct throttle_keys	 k;
	mongoc_collection_t	*c;
	bson_t			*filter;
	bool			 ok;

	throttle_keys(user, NULL, &k);
	if (k.user[0] == '\0')
		return true;
	filter = BCON_NEW("_id", BCON_UTF8(k.user));
	c = mongoc_client_get_collection(m->client, AUTH_DB, AUTH_THROTTLE);
	ok = mongoc_collection_delete_one(c, filter, NULL, NULL, e);
	mongoc_collection_destroy(c);
	bson_destroy(filter);
	return ok;
}
