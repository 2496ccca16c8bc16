/*
 * access.c: who may call a route, decided from its row in the route table.
 *
 * silo has three kinds of caller and two tokens, both from the config:
 *
 *   public   anyone: liveness and database health, which AC's monitoring
 *            polls and which say nothing about users;
 *   read:*   the data areas (db, storage, services, ...).  When
 *            SILO_READ_TOKEN is set, a caller must present it (or the
 *            admin token).  When it is not set these routes are open,
 *            which is the local stack and a deployment whose Caddy already
 *            restricts who reaches /api.  No route serves secrets, emails
 *            or tokens, so an open read route is a policy choice, not a
 *            leak;
 *   admin    routes that change state or start jobs.  Only the admin
 *            token opens them, and with no SILO_ADMIN_TOKEN configured
 *            they are off: a forgotten variable fails closed.
 *
 * Tokens travel as "Authorization: Bearer <token>", the form AC's services
 * already use for their own APIs.  They are compared through their SHA-256
 * digests with CRYPTO_memcmp, so the time taken says nothing about how
 * much of a guess was right, not even its length.  A missing or wrong
 * token is a 401 with a WWW-Authenticate challenge (RFC 6750); a right
 * token without the needed rights is a 403.  No answer and no log line
 * ever contains a token.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "extern.h"

/* Which configured token the caller presented. */
enum access_caller {
	CALLER_NONE,		/* no Authorization header */
	CALLER_MALFORMED,	/* a header that is not "Bearer <token>" */
	CALLER_UNKNOWN,		/* a bearer token that matches neither */
	CALLER_READ,		/* SILO_READ_TOKEN */
	CALLER_ADMIN		/* SILO_ADMIN_TOKEN */
};

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

/* Who is calling, from the Authorization header. */
static enum access_caller
access_caller(const struct silo_config *config, const char *authorization)
{
	const char	*token;
	size_t		 len;

	if (authorization == NULL || authorization[0] == '\0')
		return CALLER_NONE;
	if (strncasecmp(authorization, "Bearer ", 7) != 0)
		return CALLER_MALFORMED;
	for (token = authorization + 7; *token == ' '; token++)
		continue;
	len = strlen(token);
	while (len > 0 && token[len - 1] == ' ')
		len--;
	if (len == 0)
		return CALLER_MALFORMED;
	if (access_token_equal(token, len, config->admin_token))
		return CALLER_ADMIN;
	if (access_token_equal(token, len, config->read_token))
		return CALLER_READ;
	return CALLER_UNKNOWN;
}

/* 401: the caller must (re)authenticate.  error is RFC 6750's code. */
static void
access_challenge(struct silo_response *resp, const char *error,
    const char *message, const struct route *rt)
{
	char	 challenge[128];

	if (error != NULL)
		snprintf(challenge, sizeof(challenge),
		    "Bearer realm=\"silo\", error=\"%s\"", error);
	else
		snprintf(challenge, sizeof(challenge), "Bearer realm=\"silo\"");
	resp_add_header(resp, "WWW-Authenticate", challenge);
	resp_error(resp, 401, "unauthorized", "%s %s %s", rt->method,
	    rt->pattern, message);
}

bool
access_check(const struct route *rt, const struct silo_config *config,
    const struct silo_request *req, struct silo_response *resp)
{
	enum access_caller	 caller;
	const char		*needs;

	if (rt->access == ACCESS_PUBLIC ||
	    (rt->access == ACCESS_SCOPE && config->read_token == NULL))
		return true;
	if (rt->access == ACCESS_ADMIN && config->admin_token == NULL) {
		resp_error(resp, 403, "forbidden", "%s %s is an admin endpoint "
		    "and admin endpoints are off: SILO_ADMIN_TOKEN is not set",
		    rt->method, rt->pattern);
		return false;
	}

	needs = rt->access == ACCESS_ADMIN ? "needs the admin token" :
	    "needs the read token or the admin token";
	caller = access_caller(config, req->authorization);
	switch (caller) {
	case CALLER_NONE:
		access_challenge(resp, NULL, needs, rt);
		return false;
	case CALLER_MALFORMED:
		access_challenge(resp, "invalid_request",
		    "needs \"Authorization: Bearer <token>\"", rt);
		return false;
	case CALLER_UNKNOWN:
		log_warn("access: unknown token for %s %s, rid=%s", rt->method,
		    rt->pattern, req->request_id);
		access_challenge(resp, "invalid_token",
		    "was given a token that is not valid", rt);
		return false;
	case CALLER_READ:
		if (rt->access == ACCESS_ADMIN) {
			resp_add_header(resp, "WWW-Authenticate", "Bearer "
			    "realm=\"silo\", error=\"insufficient_scope\"");
			resp_error(resp, 403, "forbidden", "%s %s %s; the read "
			    "token does not open it", rt->method, rt->pattern,
			    needs);
			return false;
		}
		return true;
	case CALLER_ADMIN:
		return true;
	}
	return false;
}
