/* Unit tests for router.c and the route table in routes.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "extern.h"

/* The handler records that it ran, and what it was given. */
static const struct silo_request *handled;

static void
handler_ok(struct silo_ctx *ctx, const struct silo_request *req,
    struct silo_response *resp)
{
	handled = req;
	resp_json(resp, 200, cJSON_CreateObject());
}

static const char *const limit_params[] = { "limit", "since", NULL };

static const struct route test_routes[] = {
	{ "GET", "/api/db/health", ACCESS_PUBLIC, NULL, NULL, handler_ok, "" },
	{ "GET", "/api/storage/user/:id", ACCESS_SCOPE, "read:storage",
	  NULL, handler_ok, "" },
	{ "GET", "/api/storage/top-users", ACCESS_SCOPE, "read:storage",
	  limit_params, handler_ok, "" },
	{ "POST", "/api/storage/refresh", ACCESS_SCOPE, "run:storage", NULL,
	  handler_ok, "" },
	{ "DELETE", "/api/storage/refresh", ACCESS_SCOPE, "run:storage", NULL,
	  handler_ok, "" },
};
#define	NTEST	(sizeof(test_routes) / sizeof(test_routes[0]))

static enum route_match
match(const char *method, const char *path, const struct route **rt,
    struct silo_request *req, char *allow)
{
	return router_match(test_routes, NTEST, method, path, rt, req, allow, 128);
}

static void
test_exact_path_matches(void **state)
{
	const struct route	*rt;
	struct silo_request	 req = { 0 };
	char			 allow[128];

	assert_int_equal(match("GET", "/api/db/health", &rt, &req, allow), ROUTE_FOUND);
	assert_ptr_equal(rt, &test_routes[0]);
}

static void
test_head_is_answered_by_get(void **state)
{
	const struct route	*rt;
	struct silo_request	 req = { 0 };
	char			 allow[128];

	assert_int_equal(match("HEAD", "/api/db/health", &rt, &req, allow), ROUTE_FOUND);
	assert_ptr_equal(rt, &test_routes[0]);
}

static void
test_wrong_method_lists_allowed(void **state)
{
	const struct route	*rt;
	struct silo_request	 req = { 0 };
	char			 allow[128];

	assert_int_equal(match("POST", "/api/db/health", &rt, &req, allow),
	    ROUTE_BAD_METHOD);
	assert_string_equal(allow, "GET, HEAD");
	assert_int_equal(match("GET", "/api/storage/refresh", &rt, &req, allow),
	    ROUTE_BAD_METHOD);
	assert_string_equal(allow, "POST, DELETE");
}

static void
test_unknown_paths(void **state)
{
	const struct route	*rt;
	struct silo_request	 req = { 0 };
	char			 allow[128];

	assert_int_equal(match("GET", "/api/db/nope", &rt, &req, allow), ROUTE_NOT_FOUND);
	assert_int_equal(match("GET", "/api/db/health/", &rt, &req, allow), ROUTE_NOT_FOUND);
	assert_int_equal(match("GET", "/api/db", &rt, &req, allow), ROUTE_NOT_FOUND);
	assert_int_equal(match("GET", "/", &rt, &req, allow), ROUTE_NOT_FOUND);
	assert_int_equal(match("GET", "/api/storage/user/", &rt, &req, allow),
	    ROUTE_NOT_FOUND);
	assert_int_equal(match("GET", "/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q/r",
	    &rt, &req, allow), ROUTE_NOT_FOUND);
}

static void
test_parameter_is_captured_decoded(void **state)
{
	const struct route	*rt;
	struct silo_request	 req = { 0 };
	char			 allow[128];

	assert_int_equal(match("GET", "/api/storage/user/auth0%7C63a1",
	    &rt, &req, allow), ROUTE_FOUND);
	assert_int_equal(req.npath_params, 1);
	assert_string_equal(req.path_params[0], "auth0|63a1");
	router_free_params(&req);
	assert_int_equal(match("GET", "/api/storage/user/%40jeffrey", &rt, &req,
	    allow), ROUTE_FOUND);
	assert_string_equal(req.path_params[0], "@jeffrey");
	router_free_params(&req);
}

static void
test_encoded_literal_matches(void **state)
{
	const struct route	*rt;
	struct silo_request	 req = { 0 };
	char			 allow[128];

	assert_int_equal(match("GET", "/api/db/%68ealth", &rt, &req, allow), ROUTE_FOUND);
}

static void
test_malformed_paths(void **state)
{
	const struct route	*rt;
	struct silo_request	 req = { 0 };
	char			 allow[128];

	assert_int_equal(match("GET", "/api/db/%zz", &rt, &req, allow), ROUTE_BAD_PATH);
	assert_int_equal(match("GET", "/api/../db/health", &rt, &req, allow),
	    ROUTE_BAD_PATH);
	assert_int_equal(match("GET", "/api/db/%2e%2e", &rt, &req, allow),
	    ROUTE_BAD_PATH);
	assert_int_equal(match("GET", "/api/storage/user/a%2Fb", &rt, &req,
	    allow), ROUTE_BAD_PATH);
	assert_int_equal(match("GET", "api/db/health", &rt, &req, allow),
	    ROUTE_BAD_PATH);
}

/* Run the full dispatch and return the response's error code, or NULL. */
static const char *
dispatch(const char *method, const char *path, const char *qs,
    struct silo_response *resp)
{
	/* The caller holds the bootstrap read token: read routes open,
	 * run:* routes refused. */
	static const struct silo_config	 config = {
		.read_token = "read-0123456789abcdef0123456789abcdef"
	};
	struct silo_ctx		 ctx = { .config = &config };
	struct silo_request	 req = { 0 };
	cJSON			*err, *code;

	req.authorization = "Bearer read-0123456789abcdef0123456789abcdef";
	req.request_id = "test";
	req.method = method;
	req.path = path;
	req.query_string = qs;
	handled = NULL;
	router_dispatch(test_routes, NTEST, &ctx, &req, resp);
	router_free_params(&req);
	err = cJSON_GetObjectItem(resp->body, "error");
	code = cJSON_GetObjectItem(err, "code");
	return cJSON_IsString(code) ? code->valuestring : NULL;
}

static const char *
error_message(const struct silo_response *resp)
{
	return cJSON_GetObjectItem(cJSON_GetObjectItem(resp->body, "error"),
	    "message")->valuestring;
}

static void
test_dispatch_not_found(void **state)
{
	struct silo_response	 resp = { 0 };

	assert_string_equal(dispatch("GET", "/api/x", "", &resp), "not_found");
	assert_int_equal(resp.status, 404);
	assert_null(handled);
	assert_non_null(strstr(error_message(&resp), "/api/x"));
	resp_clear(&resp);
}

static void
test_dispatch_method_not_allowed_sets_allow(void **state)
{
	struct silo_response	 resp = { 0 };

	assert_string_equal(dispatch("PUT", "/api/db/health", "", &resp),
	    "method_not_allowed");
	assert_int_equal(resp.status, 405);
	assert_string_equal(resp_header_get(&resp, "Allow"), "GET, HEAD");
	resp_clear(&resp);
}

static void
test_dispatch_unknown_param_is_named(void **state)
{
	struct silo_response	 resp = { 0 };

	assert_string_equal(dispatch("GET", "/api/db/health", "verbose=1", &resp),
	    "bad_request");
	assert_int_equal(resp.status, 400);
	assert_non_null(strstr(error_message(&resp), "'verbose'"));
	assert_non_null(strstr(error_message(&resp), "takes no parameters"));
	resp_clear(&resp);

	assert_string_equal(dispatch("GET", "/api/storage/top-users", "limt=5",
	    &resp), "bad_request");
	assert_non_null(strstr(error_message(&resp), "accepts limit, since"));
	resp_clear(&resp);
}

static void
test_dispatch_declared_param_reaches_handler(void **state)
{
	struct silo_response	 resp = { 0 };

	assert_null(dispatch("GET", "/api/storage/top-users", "limit=5", &resp));
	assert_int_equal(resp.status, 200);
	assert_non_null(handled);
	resp_clear(&resp);
}

static void
test_dispatch_checks_access_before_the_handler(void **state)
{
	struct silo_response	 resp = { 0 };

	assert_string_equal(dispatch("POST", "/api/storage/refresh", "", &resp),
	    "forbidden");
	assert_int_equal(resp.status, 403);
	assert_null(handled);
	resp_clear(&resp);
}

static void
test_dispatch_malformed_query(void **state)
{
	struct silo_response	 resp = { 0 };

	assert_string_equal(dispatch("GET", "/api/storage/top-users", "limit=%G1",
	    &resp), "bad_request");
	assert_null(handled);
	resp_clear(&resp);
	assert_string_equal(dispatch("GET", "/api/db/%zz", "", &resp), "bad_request");
	resp_clear(&resp);
}

/* The real table: every row complete, no two rows the same. */
static void
test_silo_route_table_is_complete(void **state)
{
	assert_true(routes_count > 0);
	for (size_t i = 0; i < routes_count; i++) {
		const struct route *r = &routes_table[i];

		assert_non_null(r->handler);
		assert_non_null(r->summary);
		assert_true(strncmp(r->pattern, "/api/", 5) == 0);
		if (r->access == ACCESS_SCOPE)
			assert_int_not_equal(scope_bit(r->scope), 0);
		else
			assert_null(r->scope);
		for (size_t j = i + 1; j < routes_count; j++)
			assert_false(strcmp(r->method, routes_table[j].method) == 0 &&
			    strcmp(r->pattern, routes_table[j].pattern) == 0);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exact_path_matches),
		cmocka_unit_test(test_head_is_answered_by_get),
		cmocka_unit_test(test_wrong_method_lists_allowed),
		cmocka_unit_test(test_unknown_paths),
		cmocka_unit_test(test_parameter_is_captured_decoded),
		cmocka_unit_test(test_encoded_literal_matches),
		cmocka_unit_test(test_malformed_paths),
		cmocka_unit_test(test_dispatch_not_found),
		cmocka_unit_test(test_dispatch_method_not_allowed_sets_allow),
		cmocka_unit_test(test_dispatch_unknown_param_is_named),
		cmocka_unit_test(test_dispatch_declared_param_reaches_handler),
		cmocka_unit_test(test_dispatch_checks_access_before_the_handler),
		cmocka_unit_test(test_dispatch_malformed_query),
		cmocka_unit_test(test_silo_route_table_is_complete),
	};
	return cmocka_run_group_tests_name("router", tests, NULL, NULL);
}
