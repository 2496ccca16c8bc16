/*
 * api_auth.c: signing in and out, who am I, and the gate in front of /db.
 *
 * POST /api/auth/login is the one route that takes a password.  Its
 * order is the defence: the throttle is asked first (throttle.c), so a
 * locked name or address costs one read and no scrypt; then the name,
 * password and code are checked together (users.c), and any failure is
 * one message, whatever was wrong, and one more count against the name
 * and the address.  Only a right password for a user with TOTP and no
 * code says more ("totp_required"), which is what lets the sign-in page
 * ask for the code.  Success makes a session (session.c) and sets its
 * cookie; the answer says who signed in and until when.
 *
 * A sign-in over plain HTTP to anything but a loopback address is
 * refused: the cookie would travel in clear.
 *
 * GET /api/auth/db is what Caddy's forward_auth asks before any request
 * reaches mongo-express at /db: the route table gives it the "admin:db"
 * scope, access.c makes the decision (and turns a browser without a
 * session into a redirect to the sign-in page), and the handler only
 * says yes.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "silo.h"

#define	AUTH_FIELD_MAX	1024	/* longest name, password or code taken */

/* The sign-in's fields from its JSON body, or NULL with resp filled in. */
static cJSON *
api_auth_body(const struct silo_request *req, const char **user,
    const char **password, const char **code, struct silo_response *resp)
{
	static const char *const names[] = { "user", "password", "totp" };
	const char	**out[] = { user, password, code };
	cJSON		*body, *field;

	body = req->body_len > 0 ? cJSON_ParseWithLength(req->body,
	    req->body_len) : NULL;
	if (!cJSON_IsObject(body)) {
		cJSON_Delete(body);
		resp_error(resp, 400, "bad_request", "the body must be a JSON "
		    "object {\"user\": ..., \"password\": ...}");
		return NULL;
	}
	for (size_t i = 0; i < 3; i++) {
		field = cJSON_GetObjectItemCaseSensitive(body, names[i]);
		*out[i] = cJSON_GetStringValue(field);
		if ((field != NULL && *out[i] == NULL) || (i < 2 &&
		    (*out[i] == NULL || **out[i] == '\0')) ||
		    (*out[i] != NULL && strlen(*out[i]) > AUTH_FIELD_MAX)) {
			resp_error(resp, 400, "bad_request", "field '%s' must "
			    "be a string of 1 to %d characters%s", names[i],
			    AUTH_FIELD_MAX, i < 2 ? "" : ", when given");
			cJSON_Delete(body);
			return NULL;
		}
	}
	return body;
}

/* A session's times, for the sign-in's answer and /api/auth/me. */
static cJSON *
api_auth_session_json(const struct principal *p)
{
	cJSON	*s = cJSON_CreateObject();

	resp_add_time(s, "created", (double)p->created_ms / 1000);
	resp_add_time(s, "idle_expires", (double)p->idle_expires_ms / 1000);
	resp_add_time(s, "expires", (double)p->expires_ms / 1000);
	return s;
}

/* A database failure while signing in. */
static void
api_auth_db_fail(struct silo_response *resp, const bson_error_t *e,
    const char *doing)
{
	struct mongo_fail	 f;

	mongo_fail_set(&f, e, doing);
	resp_db_fail(resp, AUTH_DB, &f);
}

/* A good sign-in: the session, its cookie, the answer. */
static void
api_auth_start(struct silo_ctx *ctx, const struct silo_request *req,
    const char *user, enum user_role role, struct silo_response *resp)
{
	struct principal	 p;
	char			 id[SESSION_ID_MAX];
	char			 cookie[SESSION_COOKIE_MAX];
	bson_error_t		 e;
	cJSON			*body, *who;

	if (!throttle_clear(ctx->mongo, user, &e) ||
	    !session_create(ctx->mongo, ctx->config, user, role, id, &p, &e)) {
		api_auth_db_fail(resp, &e, "starting a session");
		return;
	}
	session_cookie(session_site(req), id, ctx->config->session_max_s,
	    cookie);
	resp_add_header(resp, "Set-Cookie", cookie);
	body = cJSON_CreateObject();
	who = cJSON_AddObjectToObject(body, "user");
	cJSON_AddStringToObject(who, "name", user);
	cJSON_AddStringToObject(who, "role", scope_role_name(role));
	cJSON_AddItemToObject(body, "session", api_auth_session_json(&p));
	resp_json(resp, 200, body);
	log_info("auth: %s signed in as %s, rid=%s", user,
	    scope_role_name(role), req->request_id);
}

void
api_auth_login(struct silo_ctx *ctx, const struct silo_request *req,
    struct silo_response *resp)
{
	const char		*user, *password, *code;
	cJSON			*body;
	enum user_role		 role;
	int64_t			 wait_s;
	bson_error_t		 e;
	char			 retry[24];

	if (session_site(req) == SITE_INSECURE) {
		resp_error(resp, 403, "forbidden", "sign-in needs HTTPS");
		return;
	}
	if ((body = api_auth_body(req, &user, &password, &code, resp)) == NULL)
		return;
	switch (throttle_wait(ctx->mongo, user, req->remote_addr, &wait_s,
	    &e)) {
	case -1:
		api_auth_db_fail(resp, &e, "reading the sign-in throttle");
		goto out;
	case 1:
		snprintf(retry, sizeof(retry), "%lld", (long long)wait_s);
		resp_add_header(resp, "Retry-After", retry);
		resp_error(resp, 429, "too_many_attempts", "too many failed "
		    "sign-ins; try again in %lld s", (long long)wait_s);
		goto out;
	}
	switch (users_authenticate(ctx->mongo, user, password, code, &role,
	    &e)) {
	case USERS_AUTH_OK:
		api_auth_start(ctx, req, user, role, resp);
		break;
	case USERS_AUTH_CODE_NEEDED:
		resp_error(resp, 401, "totp_required", "enter the code from "
		    "your authenticator app");
		break;
	case USERS_AUTH_WRONG:
		if (!throttle_failed(ctx->mongo, user, req->remote_addr, &e))
			api_auth_db_fail(resp, &e, "counting a failed sign-in");
		else
			resp_error(resp, 401, "unauthorized", "wrong user "
			    "name, password or code");
		log_info("auth: a sign-in failed, rid=%s", req->request_id);
		break;
	case USERS_AUTH_ERROR:
		api_auth_db_fail(resp, &e, "checking a sign-in");
		break;
	}
out:
	cJSON_Delete(body);
}

void
api_auth_logout(struct silo_ctx *ctx, const struct silo_request *req,
    struct silo_response *resp)
{
	char		 cookie[SESSION_COOKIE_MAX];
	bson_error_t	 e;

	if (req->principal.kind != PRINCIPAL_SESSION) {
		resp_error(resp, 400, "bad_request", "sign-out ends a "
		    "session, and this request has none (tokens are revoked "
		    "with silo token revoke)");
		return;
	}
	if (!session_end(ctx->mongo, req->principal.session, &e)) {
		api_auth_db_fail(resp, &e, "ending the session");
		return;
	}
	session_cookie(session_site(req), "", 0, cookie);
	resp_add_header(resp, "Set-Cookie", cookie);
	resp_json(resp, 204, NULL);
	log_info("auth: %s signed out, rid=%s", req->principal.name,
	    req->request_id);
}

void
api_auth_me(struct silo_ctx *ctx, const struct silo_request *req,
    struct silo_response *resp)
{
	static const char *const kind[] = {
		[PRINCIPAL_NONE] = "none", [PRINCIPAL_SESSION] = "session",
		[PRINCIPAL_TOKEN] = "token", [PRINCIPAL_BOOTSTRAP] = "token"
	};
	const struct principal	*p = &req->principal;
	cJSON			*body = cJSON_CreateObject();

	cJSON_AddStringToObject(body, "kind", kind[p->kind]);
	cJSON_AddStringToObject(body, "name", p->name);
	if (p->kind == PRINCIPAL_SESSION) {
		cJSON_AddStringToObject(body, "role", scope_role_name(p->role));
		cJSON_AddItemToObject(body, "session",
		    api_auth_session_json(p));
	} else {
		cJSON_AddNullToObject(body, "role");
		cJSON_AddNullToObject(body, "session");
	}
	cJSON_AddItemToObject(body, "scopes", scope_json(p->scopes));
	resp_json(resp, 200, body);
}

void
api_auth_db(struct silo_ctx *ctx, const struct silo_request *req,
    struct silo_response *resp)
{
	resp_json(resp, 204, NULL);
}
