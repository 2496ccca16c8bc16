/* Unit tests for access.c: the route table's access column, enforced for
 * the bootstrap tokens, the cross-site rule and the sign-in redirect. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "extern.h"

#define	ADMIN	"admin-0123456789abcdef0123456789abcdef"
#define	READER	"read-0123456789abcdef0123456789abcdef"

static const struct route public_route =
	{ "GET", "/api/health", ACCESS_PUBLIC, NULL, NULL, NULL, "" };
static const struct route me_route =
	{ "GET", "/api/auth/me", ACCESS_SIGNED_IN, NULL, NULL, NULL, "" };
static const struct route read_route =
	{ "GET", "/api/db/collections", ACCESS_SCOPE, "read:db", NULL, NULL, "" };
static const struct route admin_route =
	{ "POST", "/api/storage/refresh", ACCESS_SCOPE, "run:storage", NULL, NULL,
	  "" };

/* Check one call with the bootstrap tokens admin and reader configured;
 * returns the status (0 when allowed) and keeps resp.  No database: the
 * credentials given here never reach one. */
static int
check(const struct route *rt, const char *admin, const char *reader,
    const char *authorization, struct silo_response *resp)
{
	struct silo_config	 config = { 0 };
	struct silo_request	 req = { 0 };
	struct silo_ctx		 ctx = { &config, NULL, 0 };

	config.admin_token = (char *)admin;
	config.read_token = (char *)reader;
	req.method = rt->method;
	req.path = rt->pattern;
	req.authorization = authorization;
	req.request_id = "test";
	memset(resp, 0, sizeof(*resp));
	if (access_check(rt, &ctx, &req, resp)) {
		assert_int_equal(resp->status, 0);
		return 0;
	}
	return resp->status;
}

/* The status of one call, with the response freed. */
static int
status_of(const struct route *rt, const char *admin, const char *reader,
    const char *authorization)
{
	struct silo_response	 resp;
	int			 status;

	status = check(rt, admin, reader, authorization, &resp);
	resp_clear(&resp);
	return status;
}

/* The error message of a refused call. */
static char *
message_of(struct silo_response *resp)
{
	cJSON	*error = cJSON_GetObjectItem(resp->body, "error");

	return cJSON_GetStringValue(cJSON_GetObjectItem(error, "message"));
}

static void
test_public_routes_need_nothing(void **state)
{
	assert_int_equal(status_of(&public_route, ADMIN, READER, NULL), 0);
	assert_int_equal(status_of(&public_route, NULL, NULL, "Bearer junk"), 0);
}

static void
test_every_other_route_needs_a_caller(void **state)
{
	struct silo_response	 resp;

	assert_int_equal(status_of(&read_route, NULL, NULL, NULL), 401);
	assert_int_equal(status_of(&me_route, ADMIN, READER, NULL), 401);
	assert_int_equal(check(&admin_route, ADMIN, NULL, NULL, &resp), 401);
	assert_string_equal(resp_header_get(&resp, "WWW-Authenticate"),
	    "Bearer realm=\"silo\"");
	assert_string_equal(message_of(&resp),
	    "POST /api/storage/refresh needs a session or a token");
	resp_clear(&resp);
}

static void
test_read_routes_take_either_token(void **state)
{
	assert_int_equal(status_of(&read_route, ADMIN, READER,
	    "Bearer " READER), 0);
	assert_int_equal(status_of(&read_route, ADMIN, READER,
	    "Bearer " ADMIN), 0);
	assert_int_equal(status_of(&read_route, ADMIN, READER,
	    "Bearer " READER "x"), 401);
	assert_int_equal(status_of(&me_route, ADMIN, READER,
	    "Bearer " READER), 0);
}

static void
test_wrong_token_is_invalid_token_and_not_echoed(void **state)
{
	struct silo_response	 resp;
	char			*body;

	assert_int_equal(check(&admin_route, ADMIN, NULL,
	    "Bearer guessguessguess", &resp), 401);
	assert_string_equal(resp_header_get(&resp, "WWW-Authenticate"),
	    "Bearer realm=\"silo\", error=\"invalid_token\"");
	body = cJSON_PrintUnformatted(resp.body);
	assert_null(strstr(body, "guess"));
	free(body);
	resp_clear(&resp);
}

static void
test_malformed_header_is_invalid_request(void **state)
{
	struct silo_response	 resp;

	assert_int_equal(check(&admin_route, ADMIN, NULL, "Basic YWRtaW46eA==",
	    &resp), 401);
	assert_string_equal(resp_header_get(&resp, "WWW-Authenticate"),
	    "Bearer realm=\"silo\", error=\"invalid_request\"");
	resp_clear(&resp);
	assert_int_equal(status_of(&admin_route, ADMIN, NULL, "Bearer "), 401);
	assert_int_equal(status_of(&admin_route, ADMIN, NULL, ""), 401);
}

static void
test_read_token_does_not_open_admin_routes(void **state)
{
	struct silo_response	 resp;

	assert_int_equal(check(&admin_route, ADMIN, READER, "Bearer " READER,
	    &resp), 403);
	assert_string_equal(resp_header_get(&resp, "WWW-Authenticate"),
	    "Bearer realm=\"silo\", error=\"insufficient_scope\"");
	assert_string_equal(message_of(&resp), "POST /api/storage/refresh "
	    "needs the scope run:storage, which SILO_READ_TOKEN does not hold");
	resp_clear(&resp);
}

static void
test_a_foreign_origin_is_refused_before_anything(void **state)
{
	struct silo_config	 config = { 0 };
	struct silo_request	 req = { 0 };
	struct silo_ctx		 ctx = { &config, NULL, 0 };
	struct silo_response	 resp = { 0 };

	config.admin_token = ADMIN;
	req.method = "POST";
	req.path = admin_route.pattern;
	req.request_id = "test";
	req.authorization = "Bearer " ADMIN;
	req.host = "silo.example";
	req.https = true;
	req.origin = "https://silo.example";
	assert_true(access_check(&admin_route, &ctx, &req, &resp));
	req.origin = "https://evil.example";
	assert_false(access_check(&admin_route, &ctx, &req, &resp));
	assert_int_equal(resp.status, 403);
	resp_clear(&resp);
	/* plain http is another origin than https on the same host */
	req.origin = "http://silo.example";
	assert_false(access_check(&admin_route, &ctx, &req, &resp));
	resp_clear(&resp);
	/* a forwarded POST checked through a GET is a POST */
	req.method = "GET";
	req.forwarded_method = "POST";
	req.origin = "https://evil.example";
	assert_false(access_check(&read_route, &ctx, &req, &resp));
	assert_int_equal(resp.status, 403);
	resp_clear(&resp);
}

static void
test_a_browser_is_sent_to_the_sign_in_page(void **state)
{
	struct silo_config	 config = { 0 };
	struct silo_request	 req = { 0 };
	struct silo_ctx		 ctx = { &config, NULL, 0 };
	struct silo_response	 resp = { 0 };

	req.method = "GET";
	req.path = "/api/auth/db";
	req.request_id = "test";
	req.accept = "text/html,application/xhtml+xml";
	req.forwarded_uri = "/db/aesthetic?x=1 2";
	assert_false(access_check(&read_route, &ctx, &req, &resp));
	assert_int_equal(resp.status, 303);
	assert_string_equal(resp_header_get(&resp, "Location"),
	    "/signin.html?next=/db/aesthetic%3Fx%3D1%202");
	resp_clear(&resp);
}

static void
test_admin_token_forms(void **state)
{
	assert_int_equal(status_of(&admin_route, ADMIN, NULL, "Bearer " ADMIN), 0);
	assert_int_equal(status_of(&admin_route, ADMIN, NULL, "bearer " ADMIN), 0);
	assert_int_equal(status_of(&admin_route, ADMIN, NULL,
	    "Bearer   " ADMIN "  "), 0);
	/* A prefix or an extension of the token is not the token. */
	assert_int_equal(status_of(&admin_route, ADMIN, NULL,
	    "Bearer admin-0123456789abcdef"), 401);
	assert_int_equal(status_of(&admin_route, ADMIN, NULL,
	    "Bearer " ADMIN "0"), 401);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_public_routes_need_nothing),
		cmocka_unit_test(test_every_other_route_needs_a_caller),
		cmocka_unit_test(test_read_routes_take_either_token),
		cmocka_unit_test(test_wrong_token_is_invalid_token_and_not_echoed),
		cmocka_unit_test(test_malformed_header_is_invalid_request),
		cmocka_unit_test(test_read_token_does_not_open_admin_routes),
		cmocka_unit_test(test_admin_token_forms),
		cmocka_unit_test(test_a_foreign_origin_is_refused_before_anything),
		cmocka_unit_test(test_a_browser_is_sent_to_the_sign_in_page),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
