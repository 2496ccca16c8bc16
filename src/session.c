/*
 * session.c: a person's signed-in session, and its cookie.
 *
 * After a good sign-in (api_auth.c) silo makes a session: 32 random
 * bytes, given to the browser in a cookie and never stored.  silo keeps
 * the SHA-256 of the id as the _id of a document in silo.sessions, with
 * the user, their role, and three times: created, last seen, and the
 * absolute end.  A request's cookie is hashed and looked up; a session
 * unused for SILO_SESSION_IDLE_S, or older than SILO_SESSION_MAX_S, is
 * over, and is deleted when it is next presented.  Revoking is deleting:
 * sign-out deletes one session, `silo user logout-all`, `passwd` and
 * `remove` delete every session of a user, and the next request of any
 * worker finds nothing.  Sessions live in MongoDB rather than in a
 * worker, so every worker of the pool sees the same ones.
 *
 * "Last seen" is written at most once a minute (SESSION_TOUCH_MS), so
 * that a dashboard polling every few seconds does not turn every read
 * into a write; the idle timeout is therefore exact to a minute.
 * Expired sessions that are never presented again are deleted whenever
 * anyone signs in: FerretDB has no TTL indexes (docs/ferretdb.md).
 *
 * The cookie: over HTTPS it is "__Host-silo_session", HttpOnly, Secure,
 * SameSite=Strict and Path=/, so the browser sends it only to this exact
 * host, over HTTPS, from pages of the same site, and no script can read
 * it.  The local stack serves plain HTTP on a loopback address, where a
 * Secure cookie would not be stored; there, and only there (the Host is
 * 127.0.0.1, localhost or [::1]), it is "silo_session" without Secure
 * (the __Host- prefix demands Secure, so it goes too).  Plain HTTP to
 * any other host gets no session at all.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "extern.h"

#define	SESSION_TOUCH_MS	60000	/* "seen" is rewritten this seldom */
#define	SESSION_COOKIE_SECURE	"__Host-silo_session"
#define	SESSION_COOKIE_LOOPBACK	"silo_session"

/* Is host (a Host header: name or [v6], then an optional :port) one of
 * this machine's loopback names? */
static bool
session_host_loopback(const char *host)
{
	static const char *const loopback[] = {
		"127.0.0.1", "localhost", "[::1]"
	};

	if (host == NULL)
		return false;
	for (size_t i = 0; i < sizeof(loopback) / sizeof(loopback[0]); i++) {
		size_t	 n = strlen(loopback[i]);

		if (strncasecmp(host, loopback[i], n) == 0 &&
		    (host[n] == '\0' || (host[n] == ':' &&
		    host[n + 1] != '\0' &&
		    strspn(host + n + 1, "0123456789") ==
		    strlen(host + n + 1))))
			return true;
	}
	return false;
}

enum session_site
session_site(const struct silo_request *req)
{
	if (req->https)
		return SITE_HTTPS;
	return session_host_loopback(req->host) ? SITE_LOOPBACK :
	    SITE_INSECURE;
}

/*
 * The session id in a Cookie header, under the name the site uses, into
 * id[SESSION_ID_MAX]; false when there is none of the right shape.
 */
bool
session_cookie_id(enum session_site site, const char *cookie,
    char id[SESSION_ID_MAX])
{
	const char	*name = site == SITE_HTTPS ? SESSION_COOKIE_SECURE :
			    SESSION_COOKIE_LOOPBACK;
	size_t		 nlen = strlen(name);

	if (cookie == NULL || site == SITE_INSECURE)
		return false;
	for (const char *p = cookie; *p != '\0';) {
		size_t	 vlen;

		while (*p == ' ' || *p == ';')
			p++;
		vlen = strcspn(p, ";");
		if (vlen > nlen && strncmp(p, name, nlen) == 0 &&
		    p[nlen] == '=') {
			const char	*v = p + nlen + 1;
			size_t		 len = vlen - nlen - 1;

			while (len > 0 && v[len - 1] == ' ')
				len--;
			if (!credential_well_formed(v, len, ""))
				return false;
			memcpy(id, v, len);
			id[len] = '\0';
			return true;
		}
		p += vlen;
	}
	return false;
}

void
session_cookie(enum session_site site, const char *id, long max_age_s,
    char out[SESSION_COOKIE_MAX])
{
	snprintf(out, SESSION_COOKIE_MAX, "%s=%s; Path=/; Max-Age=%ld; "
	    "HttpOnly;%s SameSite=Strict",
	    site == SITE_HTTPS ? SESSION_COOKIE_SECURE :
	    SESSION_COOKIE_LOOPBACK, id, max_age_s,
	    site == SITE_HTTPS ? " Secure;" : "");
}

/* Fill in a session principal from its stored document, last seen at
 * seen (epoch ms). */
static void
session_principal(const bson_t *doc, const char *digest, int64_t seen,
    const struct silo_config *config, struct principal *p)
{
	const char	*user = mongo_get_utf8(doc, "user");
	const char	*role = mongo_get_utf8(doc, "role");

	memset(p, 0, sizeof(*p));
	p->kind = PRINCIPAL_SESSION;
	snprintf(p->name, sizeof(p->name), "%s", user != NULL ? user : "");
	if (role == NULL || scope_role_parse(role, &p->role) == -1)
		p->role = ROLE_VIEWER;
	p->scopes = scope_of_role(p->role);
	snprintf(p->session, sizeof(p->session), "%s", digest);
	p->created_ms = mongo_get_date(doc, "created", 0);
	p->expires_ms = mongo_get_date(doc, "expires", 0);
	p->idle_expires_ms = seen + (int64_t)config->session_idle_s * 1000;
	if (p->idle_expires_ms > p->expires_ms)
		p->idle_expires_ms = p->expires_ms;
}

enum auth_lookup
session_find(struct mongo *m, const struct silo_config *config,
    const char *id, struct principal *p, bson_error_t *e)
{
	char			 digest[CREDENTIAL_DIGEST_HEX];
	bson_t			*filter, doc;
	mongoc_collection_t	*c;
	int64_t			 now = clock_real_ms(), seen;
	enum auth_lookup	 found = AUTH_ABSENT;

	credential_digest(id, strlen(id), digest);
	filter = BCON_NEW("_id", BCON_UTF8(digest));
	if (!mongo_find_one(m, AUTH_DB, AUTH_SESSIONS, filter, NULL, &doc,
	    e)) {
		bson_destroy(filter);
		return e->code != 0 ? AUTH_ERROR : AUTH_ABSENT;
	}
	seen = mongo_get_date(&doc, "seen", 0);
	c = mongoc_client_get_collection(m->client, AUTH_DB, AUTH_SESSIONS);
	if (now >= mongo_get_date(&doc, "expires", 0) ||
	    now >= seen + (int64_t)config->session_idle_s * 1000) {
		if (!mongoc_collection_delete_one(c, filter, NULL, NULL, e))
			found = AUTH_ERROR;
	} else {
		found = mongo_touch_date(m, AUTH_DB, AUTH_SESSIONS, filter,
		    "seen", &seen, SESSION_TOUCH_MS, e) ? AUTH_FOUND :
		    AUTH_ERROR;
		if (found == AUTH_FOUND)
			session_principal(&doc, digest, seen, config, p);
	}
	mongoc_collection_destroy(c);
	bson_destroy(&doc);
	bson_destroy(filter);
	return found;
}

/* Delete every session that is over, whoever's it was. */
static bool
session_sweep(mongoc_collection_t *c, const struct silo_config *config,
    int64_t now, bson_error_t *e)
{
	bson_t	*filter = BCON_NEW("$or", "[",
		    "{", "expires", "{", "$lte", BCON_DATE_TIME(now), "}", "}",
		    "{", "seen", "{", "$lte", BCON_DATE_TIME(now -
		    (int64_t)config->session_idle_s * 1000), "}", "}",
		    "]");
	bool	 ok = mongoc_collection_delete_many(c, filter, NULL, NULL, e);

	bson_destroy(filter);
	return ok;
}

bool
session_create(struct mongo *m, const struct silo_config *config,
    const char *user, enum user_role role, char id[SESSION_ID_MAX],
    struct principal *p, bson_error_t *e)
{
	char			 digest[CREDENTIAL_DIGEST_HEX];
	int64_t			 now = clock_real_ms();
	mongoc_collection_t	*c;
	bson_t			*doc;
	bool			 ok;

	if (credential_new("", id, SESSION_ID_MAX) == -1) {
		bson_set_error(e, 0, 1, "no random bytes for a session id");
		return false;
	}
	credential_digest(id, strlen(id), digest);
	doc = BCON_NEW("_id", BCON_UTF8(digest), "user", BCON_UTF8(user),
	    "role", BCON_UTF8(scope_role_name(role)),
	    "created", BCON_DATE_TIME(now), "seen", BCON_DATE_TIME(now),
	    "expires", BCON_DATE_TIME(now +
	    (int64_t)config->session_max_s * 1000));
	c = mongoc_client_get_collection(m->client, AUTH_DB, AUTH_SESSIONS);
	ok = session_sweep(c, config, now, e) &&
	    mongoc_collection_insert_one(c, doc, NULL, NULL, e);
	if (ok)
		session_principal(doc, digest, now, config, p);
	mongoc_collection_destroy(c);
	bson_destroy(doc);
	return ok;
}

/* Delete the sessions a filter selects; how many, or -1. */
static int64_t
session_delete(struct mongo *m, bson_t *filter, bson_error_t *e)
{
	mongoc_collection_t	*c = mongoc_client_get_collection(m->client,
				    AUTH_DB, AUTH_SESSIONS);
	bson_t			 reply;
	int64_t			 n = -1;

	if (mongoc_collection_delete_many(c, filter, NULL, &reply, e))
		n = mongo_get_int64(&reply, "deletedCount", 0);
	bson_destroy(&reply);
	mongoc_collection_destroy(c);
	bson_destroy(filter);
	return n;
}

bool
session_end(struct mongo *m, const char *digest, bson_error_t *e)
{
	return session_delete(m, BCON_NEW("_id", BCON_UTF8(digest)), e) >= 0;
}

/* End every session of one user: sign-out everywhere. */
int64_t
session_end_user(struct mongo *m, const char *user, bson_error_t *e)
{
	return session_delete(m, BCON_NEW("user", BCON_UTF8(user)), e);
}
