/* Unit tests for api_clients.c's tally: $currentOp documents in the
 * shapes mongod gives (client "ip:port", "[v6]:port", appName present or
 * not, the server's own threads without a client) grouped by application
 * and address, and matched to SILO_DB_CLIENTS's services. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "silo.h"

/* Tally the given $currentOp documents (JSON) and render with services. */
static char *
tally(const char *const *ops, const char *services)
{
	struct clients_tally	*t = api_clients_tally_new();
	cJSON			*body;
	char			*text;

	assert_non_null(t);
	for (; *ops != NULL; ops++) {
		bson_error_t	 e;
		bson_t		*op = bson_new_from_json((const uint8_t *)*ops,
				    -1, &e);

		assert_non_null(op);
		assert_int_equal(api_clients_tally_add(op, t), 0);
		bson_destroy(op);
	}
	body = api_clients_tally_json(t, services);
	text = cJSON_PrintUnformatted(body);
	cJSON_Delete(body);
	api_clients_tally_free(t);
	return text;
}

static void
test_groups_by_app_and_address(void **state)
{
	const char *const ops[] = {
		"{\"type\": \"op\", \"desc\": \"conn12\", \"client\": "
		"\"10.0.0.5:51234\", \"appName\": \"aesthetic-web\", "
		"\"active\": false}",
		"{\"type\": \"op\", \"desc\": \"conn13\", \"client\": "
		"\"10.0.0.5:51235\", \"appName\": \"aesthetic-web\"}",
		"{\"type\": \"op\", \"desc\": \"conn14\", \"client\": "
		"\"[::1]:40000\", \"appName\": \"silo\"}",
		"{\"type\": \"op\", \"desc\": \"TTLMonitor\", \"active\": true}",
		"{\"type\": \"op\", \"desc\": \"conn15\", \"client\": "
		"\"157.245.134.225:40001\"}",
		NULL
	};
	char	*got = tally(ops, "web:aesthetic-web,session:157.245.134.225,"
		    "oven:oven");

	(void)state;
	assert_string_equal(got, "{\"connections\":4,\"groups\":["
	    "{\"app\":\"aesthetic-web\",\"address\":\"10.0.0.5\","
	    "\"connections\":2,\"service\":\"web\"},"
	    "{\"app\":\"silo\",\"address\":\"::1\",\"connections\":1,"
	    "\"service\":null},"
	    "{\"app\":null,\"address\":\"157.245.134.225\",\"connections\":1,"
	    "\"service\":\"session\"}],\"other\":0,\"services\":["
	    "{\"name\":\"web\",\"match\":\"aesthetic-web\",\"connected\":2},"
	    "{\"name\":\"session\",\"match\":\"157.245.134.225\","
	    "\"connected\":1},"
	    "{\"name\":\"oven\",\"match\":\"oven\",\"connected\":0}]}");
	free(got);
}

static void
test_a_group_belongs_to_its_first_service(void **state)
{
	const char *const ops[] = {
		"{\"client\": \"10.0.0.7:1\", \"appName\": \"oven\"}",
		NULL
	};
	char	*got = tally(ops, "by-address:10.0.0.7,by-app:oven");

	(void)state;
	assert_non_null(strstr(got, "\"service\":\"by-address\""));
	assert_non_null(strstr(got, "{\"name\":\"by-address\",\"match\":"
	    "\"10.0.0.7\",\"connected\":1}"));
	assert_non_null(strstr(got, "{\"name\":\"by-app\",\"match\":"
	    "\"oven\",\"connected\":0}"));
	free(got);
}

static void
test_nothing_and_no_services(void **state)
{
	const char *const ops[] = { NULL };
	char	*got = tally(ops, NULL);

	(void)state;
	assert_string_equal(got, "{\"connections\":0,\"groups\":[],"
	    "\"other\":0,\"services\":[]}");
	free(got);
}

static void
test_past_the_group_cap_is_other(void **state)
{
	struct clients_tally	*t = api_clients_tally_new();
	cJSON			*body;
	char			 json[128];

	(void)state;
	for (int i = 0; i < 300; i++) {
		bson_error_t	 e;
		bson_t		*op;

		snprintf(json, sizeof(json), "{\"client\": \"10.1.%d.%d:5\"}",
		    i / 256, i % 256);
		op = bson_new_from_json((const uint8_t *)json, -1, &e);
		api_clients_tally_add(op, t);
		bson_destroy(op);
	}
	body = api_clients_tally_json(t, NULL);
	assert_int_equal(cJSON_GetObjectItem(body, "connections")->valueint,
	    300);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(body,
	    "groups")), 256);
	assert_int_equal(cJSON_GetObjectItem(body, "other")->valueint, 44);
	cJSON_Delete(body);
	api_clients_tally_free(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_groups_by_app_and_address),
		cmocka_unit_test(test_a_group_belongs_to_its_first_service),
		cmocka_unit_test(test_nothing_and_no_services),
		cmocka_unit_test(test_past_the_group_cap_is_other),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
