/*
 * access.c: who is calling, and whether the route lets them in.
 *
 * Every route of the table says what it demands (routes.c): nothing
 * (ACCESS_PUBLIC: only /api/health, for uptime monitors, and the sign-in
 * itself), any caller who proved who they are (ACCESS_SIGNED_IN: who am
 * I, sign out), or one scope (ACCESS_SCOPE).  Scopes are rights over an
 * area, "read:db" to "admin:db"; a person's role holds a fixed set of
 * them (a viewer every read:*, an admin all), a service's token the set
 * it was made with (tokens.c).  So the scope column of the route table is
 * the whole policy, and a new route cannot exist without a place in it.
 *
 * A caller proves who it is in one of two ways:
 *
 *   - "Authorization: Bearer <token>": the bootstrap tokens of the
 *     configuration first (SILO_ADMIN_TOKEN, every scope;
 *     SILO_READ_TOKEN, the read:* scopes), compared through their
 *     SHA-256 with CRYPTO_memcmp so that time says nothing about a
 *     guess; then the tokens `silo token create` made.  A bearer token
 *     that is wrong is an error even if a cookie came too: a service
 *     that sends a token means that token.  Another scheme (Basic) is
 *     not silo's: mongo-express's own basic auth travels beside the
 *     session cookie through the /db gate.  Without a cookie it is a
 *     malformed credential.
 *   - the session cookie a sign-in set (session.c).
 *
 * No caller: 401, with the RFC 6750 challenge; and, when a browser
 * navigates to an API URL (a GET whose Accept asks for text/html, as
 * Caddy's forward_auth for /db passes it on), a 303 to the sign-in page
 * with the page to come back to.  A caller without the scope: 403.
 *
 * Cross-site requests: a request that changes state (any method but GET,
 * HEAD and OPTIONS; for the forward-auth check, the method of the request
 * it is about) must not come from another site.  If it carries an Origin,
 * the Origin must be this site's own (scheme from HTTPS, host from Host);
 * if it is authenticated by a cookie, it must carry one, since every
 * browser that sends SameSite cookies also sends Origin on such requests.
 * A service with a token and no Origin is not a browser, and passes.
 *
 * Every decision is logged, one line: the route, the principal (kind and
 * name, never a credential), allow or deny, and why.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "extern.h"

/* Is the presented token (len bytes) the configured one?  Constant time. */
static bool
access_token_equal(const char *given, size_t len, const char *configured)
{
	unsigned char	 a[SHA256_DIGEST_LENGTH], b[SHA256_DIGEST_LENGTH];

	if (configured == NULL)
		return false;
	SHA256((const unsigned char *)given, len, a);
	SHA256((const unsigned char *)configured, strlen(configured), b);
	return CRYPTO_memcmp(a, b, sizeof(a)) == 0;
}

/* A bootstrap principal. */
static void
access_bootstrap(struct principal *p, const char *name, unsigned scopes)
{
	memset(p, 0, sizeof(*p));
	p->kind = PRINCIPAL_BOOTSTRAP;
	snprintf(p->name, sizeof(p->name), "%s", name);
	p->scopes = scopes;
}

/* Why a caller has no principal, for the challenge and the log. */
enum access_why {
	WHY_NONE,		/* no credential at all */
	WHY_MALFORMED,		/* an Authorization that is not Bearer */
	WHY_BAD_TOKEN,		/* a bearer token nobody issued */
	WHY_NO_SESSION		/* a cookie that opens no session */
};

/* Who is calling, from the Authorization header.  AUTH_ABSENT with *why. */
static enum auth_lookup
access_bearer(struct silo_ctx *ctx, const char *authorization,
    struct principal *p, enum access_why *why, bson_error_t *e)
{
	const char	*token;
	size_t		 len;

	*why = WHY_MALFORMED;
	if (strncasecmp(authorization, "Bearer ", 7) != 0)
		return AUTH_ABSENT;
	for (token = authorization + 7; *token == ' '; token++)
		continue;
	len = strlen(token);
	while (len > 0 && token[len - 1] == ' ')
		len--;
	if (len == 0)
		return AUTH_ABSENT;
	*why = WHY_BAD_TOKEN;
	if (access_token_equal(token, len, ctx->config->admin_token)) {
		access_bootstrap(p, "SILO_ADMIN_TOKEN", SCOPE_ALL);
		return AUTH_FOUND;
	}
	if (access_token_equal(token, len, ctx->config->read_token)) {
		access_bootstrap(p, "SILO_READ_TOKEN", SCOPE_READ_ALL);
		return AUTH_FOUND;
	}
	return tokens_find(ctx->mongo, token, len, p, e);
}

/* Who is calling: a bearer token, else a session cookie. */
static enum auth_lookup
access_principal(struct silo_ctx *ctx, struct silo_request *req,
    enum access_why *why, bson_error_t *e)
{
	char	 id[SESSION_ID_MAX];

	bool	 other_scheme;

	memset(&req->principal, 0, sizeof(req->principal));
	memset(e, 0, sizeof(*e));
	other_scheme = req->authorization != NULL &&
	    req->authorization[0] != '\0' &&
	    strncasecmp(req->authorization, "Bearer ", 7) != 0;
	if (req->authorization != NULL && req->authorization[0] != '\0' &&
	    !other_scheme)
		return access_bearer(ctx, req->authorization, &req->principal,
		    why, e);
	*why = other_scheme ? WHY_MALFORMED : WHY_NONE;
	if (!session_cookie_id(session_site(req), req->cookie, id))
		return AUTH_ABSENT;
	*why = WHY_NO_SESSION;
	return session_find(ctx->mongo, ctx->config, id, &req->principal, e);
}

/* Does the request's Origin name this very site? */
static bool
access_same_origin(const struct silo_request *req)
{
	const char	*scheme = req->https ? "https://" : "http://";
	size_t		 slen = strlen(scheme);

	return req->origin != NULL && req->host != NULL &&
	    strncasecmp(req->origin, scheme, slen) == 0 &&
	    strcasecmp(req->origin + slen, req->host) == 0;
}

/* Does a method change state? */
static bool
access_method_changes(const char *m)
{
	return m != NULL && strcmp(m, "GET") != 0 && strcmp(m, "HEAD") != 0 &&
	    strcmp(m, "OPTIONS") != 0;
}

/* Does the request, or the one a forward-auth check is about, change
 * state?  Either counts: the forwarded method can only add the rule, so
 * a client that sends the header itself gains nothing. */
static bool
access_changes_state(const struct silo_request *req)
{
	return access_method_changes(req->method) ||
	    access_method_changes(req->forwarded_method);
}

/* Would a browser rather have the sign-in page than a 401? */
static bool
access_wants_page(const struct silo_request *req)
{
	return !access_changes_state(req) && req->accept != NULL &&
	    strstr(req->accept, "text/html") != NULL;
}

/* 303 to the sign-in page, coming back to where the browser was. */
static void
access_to_signin(const struct silo_request *req, struct silo_response *resp)
{
	const char	*back = req->forwarded_uri != NULL ?
			    req->forwarded_uri : req->path;
	char		 location[SILO_MAX_URI * 3 + 32];
	size_t		 o;

	o = (size_t)snprintf(location, sizeof(location), "/signin.html?next=");
	for (const unsigned char *p = (const unsigned char *)back;
	    *p != '\0' && o + 4 < sizeof(location); p++) {
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		    (*p >= '0' && *p <= '9') || strchr("-._~/", *p) != NULL)
			location[o++] = (char)*p;
		else
			o += (size_t)snprintf(location + o,
			    sizeof(location) - o, "%%%02X", *p);
	}
	location[o] = '\0';
	resp_add_header(resp, "Location", location);
	resp_error(resp, 303, "unauthorized", "sign in first");
}

/* 401: the caller must (re)authenticate. */
static void
access_challenge(const struct route *rt, const struct silo_request *req,
    enum access_why why, struct silo_response *resp)
{
	static const char *const error[] = {
		[WHY_NONE] = NULL, [WHY_MALFORMED] = "invalid_request",
		[WHY_BAD_TOKEN] = "invalid_token", [WHY_NO_SESSION] = NULL
	};
	static const char *const message[] = {
		[WHY_NONE] = "needs a session or a token",
		[WHY_MALFORMED] = "needs \"Authorization: Bearer <token>\"",
		[WHY_BAD_TOKEN] = "was given a token that is not valid",
		[WHY_NO_SESSION] = "was given a session that has ended or "
		    "never was; sign in again"
	};
	char	 challenge[128];

	if (why != WHY_BAD_TOKEN && why != WHY_MALFORMED &&
	    access_wants_page(req)) {
		access_to_signin(req, resp);
		return;
	}
	if (error[why] != NULL)
		snprintf(challenge, sizeof(challenge),
		    "Bearer realm=\"silo\", error=\"%s\"", error[why]);
	else
		snprintf(challenge, sizeof(challenge), "Bearer realm=\"silo\"");
	resp_add_header(resp, "WWW-Authenticate", challenge);
	resp_error(resp, 401, "unauthorized", "%s %s %s", rt->method,
	    rt->pattern, message[why]);
}

/* One line per decision; never a credential, never an address. */
static void
access_log(const struct route *rt, const struct silo_request *req,
    bool allow, const char *reason)
{
	static const char *const kind[] = {
		[PRINCIPAL_NONE] = "none", [PRINCIPAL_SESSION] = "user",
		[PRINCIPAL_TOKEN] = "token", [PRINCIPAL_BOOTSTRAP] = "bootstrap"
	};
	const struct principal *p = &req->principal;

	log_info("access-decision route=\"%s %s\" principal=%s%s%s "
	    "decision=%s reason=%s rid=%s", rt->method, rt->pattern,
	    kind[p->kind], p->kind != PRINCIPAL_NONE ? ":" : "",
	    p->kind != PRINCIPAL_NONE ? p->name : "", allow ? "allow" : "deny",
	    reason, req->request_id);
}

/* The cross-site rule above; false with resp filled in. */
static bool
access_origin_ok(const struct route *rt, const struct silo_request *req,
    struct silo_response *resp)
{
	if (!access_changes_state(req))
		return true;
	if (req->origin != NULL && !access_same_origin(req)) {
		resp_error(resp, 403, "forbidden", "%s %s refuses a request "
		    "from another site (Origin)", rt->method, rt->pattern);
		return false;
	}
	if (req->origin == NULL && req->principal.kind == PRINCIPAL_SESSION) {
		resp_error(resp, 403, "forbidden", "%s %s needs an Origin "
		    "header with a session", rt->method, rt->pattern);
		return false;
	}
	return true;
}

bool
access_check(const struct route *rt, struct silo_ctx *ctx,
    struct silo_request *req, struct silo_response *resp)
{
	enum access_why		 why = WHY_NONE;
	enum auth_lookup	 found = AUTH_ABSENT;
	bson_error_t		 e;
	unsigned		 need;
	const char		*reason;

	memset(&req->principal, 0, sizeof(req->principal));
	if (rt->access != ACCESS_PUBLIC &&
	    (found = access_principal(ctx, req, &why, &e)) == AUTH_ERROR) {
		struct mongo_fail	 f;

		mongo_fail_set(&f, &e, "looking up the caller's credential");
		resp_db_fail(resp, AUTH_DB, &f);
		reason = "database";
	} else if (!access_origin_ok(rt, req, resp))
		reason = "origin";
	else if (rt->access == ACCESS_PUBLIC) {
		access_log(rt, req, true, "public");
		return true;
	} else if (found != AUTH_FOUND) {
		access_challenge(rt, req, why, resp);
		reason = why == WHY_NONE ? "no-credential" :
		    why == WHY_MALFORMED ? "malformed" :
		    why == WHY_BAD_TOKEN ? "bad-token" : "no-session";
	} else if (rt->access == ACCESS_SCOPE &&
	    ((need = scope_bit(rt->scope)) == 0 ||
	    (req->principal.scopes & need) != need)) {
		resp_add_header(resp, "WWW-Authenticate", "Bearer "
		    "realm=\"silo\", error=\"insufficient_scope\"");
		resp_error(resp, 403, "forbidden", "%s %s needs the scope "
		    "%s, which %s does not hold", rt->method, rt->pattern,
		    rt->scope != NULL ? rt->scope : "(none)",
		    req->principal.name);
		reason = "scope";
	} else {
		access_log(rt, req, true, rt->access == ACCESS_SCOPE ?
		    rt->scope : "signed-in");
		return true;
	}
	access_log(rt, req, false, reason);
	return false;
}
