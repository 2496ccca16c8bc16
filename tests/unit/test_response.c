/* Unit tests for response.c and request ids (worker.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "extern.h"

static void
test_error_body_has_one_shape(void **state)
{
	struct silo_response	 resp = { 0 };
	char			*text;

	resp_error(&resp, 404, "not_found", "no endpoint at %s", "/x");
	assert_int_equal(resp.status, 404);
	text = cJSON_PrintUnformatted(resp.body);
	assert_string_equal(text,
	    "{\"error\":{\"code\":\"not_found\",\"message\":\"no endpoint at /x\"}}");
	free(text);
	resp_clear(&resp);
}

static void
test_error_message_is_json_escaped(void **state)
{
	struct silo_response	 resp = { 0 };
	char			*text;

	resp_error(&resp, 400, "bad_request", "bad \"%s\"", "a\nb");
	text = cJSON_PrintUnformatted(resp.body);
	assert_non_null(strstr(text, "bad \\\"a\\nb\\\""));
	free(text);
	resp_clear(&resp);
}

static void
test_render_headers_and_body(void **state)
{
	struct silo_response	 resp = { 0 };
	cJSON			*body = cJSON_CreateObject();
	char			*out;
	size_t			 len;

	cJSON_AddBoolToObject(body, "ok", 1);
	resp_json(&resp, 200, body);
	assert_int_equal(resp_add_header(&resp, "ETag", "\"abc\""), 0);
	out = resp_render(&resp, "rid-1", false, &len);
	assert_int_equal(strlen(out), len);
	assert_true(strncmp(out, "Status: 200 OK\r\n", 16) == 0);
	assert_non_null(strstr(out, "Content-Type: application/json; charset=utf-8\r\n"));
	assert_non_null(strstr(out, "X-Request-Id: rid-1\r\n"));
	assert_non_null(strstr(out, "Cache-Control: no-store\r\n"));
	assert_non_null(strstr(out, "ETag: \"abc\"\r\n"));
	assert_non_null(strstr(out, "Content-Length: 11\r\n\r\n{\"ok\":true}"));
	assert_string_equal(out + len - 11, "{\"ok\":true}");
	free(out);
	resp_clear(&resp);
}

static void
test_render_head_has_length_without_body(void **state)
{
	struct silo_response	 resp = { 0 };
	char			*out;
	size_t			 len;

	resp_json(&resp, 200, cJSON_CreateObject());
	out = resp_render(&resp, "r", true, &len);
	assert_non_null(strstr(out, "Content-Length: 2\r\n\r\n"));
	assert_int_equal(out[len - 1], '\n');
	free(out);
	resp_clear(&resp);
}

static void
test_render_without_status_is_500(void **state)
{
	struct silo_response	 resp = { 0 };
	char			*out;
	size_t			 len;

	out = resp_render(&resp, "r", false, &len);
	assert_true(strncmp(out, "Status: 500 Internal Server Error\r\n", 35) == 0);
	assert_non_null(strstr(out, "\"code\":\"internal\""));
	free(out);
}

static void
test_header_injection_refused(void **state)
{
	struct silo_response	 resp = { 0 };

	assert_int_equal(resp_add_header(&resp, "X-A", "v\r\nSet-Cookie: x"), -1);
	assert_int_equal(resp_add_header(&resp, "X-A\r\n", "v"), -1);
	assert_int_equal(resp_add_header(&resp, "Bad Name", "v"), -1);
	assert_int_equal(resp.nheaders, 0);
	for (int i = 0; i < RESP_MAX_HEADERS; i++)
		assert_int_equal(resp_add_header(&resp, "X-N", "1"), 0);
	assert_int_equal(resp_add_header(&resp, "X-N", "1"), -1);
	resp_clear(&resp);
}

static void
test_status_texts(void **state)
{
	assert_string_equal(resp_status_text(405), "Method Not Allowed");
	assert_string_equal(resp_status_text(413), "Content Too Large");
	assert_string_equal(resp_status_text(414), "URI Too Long");
	assert_string_equal(resp_status_text(503), "Service Unavailable");
}

static void
test_request_id_validation(void **state)
{
	char	 long_id[REQUEST_ID_MAX + 2];

	assert_true(worker_request_id_valid("9f2c-AB_1.x:y"));
	assert_false(worker_request_id_valid(""));
	assert_false(worker_request_id_valid(NULL));
	assert_false(worker_request_id_valid("a b"));
	assert_false(worker_request_id_valid("a\r\nb"));
	assert_false(worker_request_id_valid("<script>"));
	memset(long_id, 'a', sizeof(long_id) - 1);
	long_id[sizeof(long_id) - 1] = '\0';
	assert_false(worker_request_id_valid(long_id));
	long_id[REQUEST_ID_MAX] = '\0';
	assert_true(worker_request_id_valid(long_id));
}

static void
test_request_ids_are_unique_hex(void **state)
{
	char	 a[REQUEST_ID_MAX + 1], b[REQUEST_ID_MAX + 1];

	worker_request_id_make(a, sizeof(a));
	worker_request_id_make(b, sizeof(b));
	assert_int_equal(strlen(a), 32);
	assert_true(strspn(a, "0123456789abcdef") == 32);
	assert_string_not_equal(a, b);
	assert_true(worker_request_id_valid(a));
}

/* The one ISO 8601 writer, in each of its three lengths. */
static void
test_clock_iso(void **state)
{
	static const struct {
		int64_t			 ms;	/* since the epoch */
		enum clock_iso_unit	 unit;	/* how much of it */
		const char		*want;	/* the text */
	} cases[] = {
		{ 0, CLOCK_ISO_S, "1970-01-01T00:00:00Z" },
		{ 0, CLOCK_ISO_MS, "1970-01-01T00:00:00.000Z" },
		{ 0, CLOCK_ISO_DAY, "1970-01-01" },
		{ 1795467600250LL, CLOCK_ISO_MS, "2026-11-23T21:00:00.250Z" },
		{ 1795467600999LL, CLOCK_ISO_S, "2026-11-23T21:00:00Z" },
		{ 1795467600999LL, CLOCK_ISO_DAY, "2026-11-23" },
		{ 951782400000LL, CLOCK_ISO_DAY, "2000-02-29" },
		{ 1795478399999LL, CLOCK_ISO_MS, "2026-11-23T23:59:59.999Z" },
		/* Before 1970: the second before, and what is left of it. */
		{ -1, CLOCK_ISO_MS, "1969-12-31T23:59:59.999Z" },
		{ -1500, CLOCK_ISO_MS, "1969-12-31T23:59:58.500Z" },
		{ -1000, CLOCK_ISO_S, "1969-12-31T23:59:59Z" },
		{ -1, CLOCK_ISO_DAY, "1969-12-31" },
	};
	char	 out[CLOCK_ISO_MAX];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_true(clock_iso(cases[i].ms, cases[i].unit, out,
		    sizeof(out)));
		assert_string_equal(out, cases[i].want);
	}
	/* Exactly enough room, then one byte too little. */
	assert_true(clock_iso(0, CLOCK_ISO_MS, out, 25));
	assert_false(clock_iso(0, CLOCK_ISO_MS, out, 24));
	assert_true(clock_iso(0, CLOCK_ISO_S, out, 21));
	assert_false(clock_iso(0, CLOCK_ISO_S, out, 20));
	assert_true(clock_iso(0, CLOCK_ISO_DAY, out, 11));
	assert_false(clock_iso(0, CLOCK_ISO_DAY, out, 10));
}

/* resp_add_time: whole seconds, and null for what is no time. */
static void
test_add_time(void **state)
{
	cJSON	*o = cJSON_CreateObject();
	char	*text;

	resp_add_time(o, "at", 1795467600.9);
	resp_add_time(o, "epoch", 0);
	resp_add_time(o, "nan", 0.0 / 0.0);
	resp_add_time(o, "huge", 1e300);
	text = cJSON_PrintUnformatted(o);
	assert_string_equal(text, "{\"at\":\"2026-11-23T21:00:00Z\","
	    "\"epoch\":\"1970-01-01T00:00:00Z\",\"nan\":null,\"huge\":null}");
	free(text);
	cJSON_Delete(o);
}

/* The shared FNV-1a 64 (published test vectors) and lower-case hex. */
static void
test_hash_and_hex(void **state)
{
	static const unsigned char	 bytes[] = { 0x00, 0x0f, 0xa5, 0xff };
	char				 hex[2 * sizeof(bytes) + 1];

	assert_true(hash_fnv1a64("", 0) == 0xcbf29ce484222325ULL);
	assert_true(hash_fnv1a64("a", 1) == 0xaf63dc4c8601ec8cULL);
	assert_true(hash_fnv1a64("foobar", 6) == 0x85944171f73967e8ULL);
	assert_true(hash_fnv1a64("foobar!", 6) == 0x85944171f73967e8ULL);
	hex_lower(bytes, sizeof(bytes), hex);
	assert_string_equal(hex, "000fa5ff");
	hex_lower(bytes, 0, hex);
	assert_string_equal(hex, "");
}

/* A request id takes as many whole bytes as the buffer has room for. */
static void
test_request_id_fits_its_buffer(void **state)
{
	char	 buf[40];

	for (size_t sz = 1; sz <= sizeof(buf); sz++) {
		size_t	 want = sz - 1 - (sz - 1) % 2;

		memset(buf, 'x', sizeof(buf));
		worker_request_id_make(buf, sz);
		if (want > 32)
			want = 32;
		assert_int_equal(strlen(buf), want);
		assert_int_equal(strspn(buf, "0123456789abcdef"), want);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_error_body_has_one_shape),
		cmocka_unit_test(test_error_message_is_json_escaped),
		cmocka_unit_test(test_render_headers_and_body),
		cmocka_unit_test(test_render_head_has_length_without_body),
		cmocka_unit_test(test_render_without_status_is_500),
		cmocka_unit_test(test_header_injection_refused),
		cmocka_unit_test(test_status_texts),
		cmocka_unit_test(test_request_id_validation),
		cmocka_unit_test(test_request_ids_are_unique_hex),
		cmocka_unit_test(test_clock_iso),
		cmocka_unit_test(test_add_time),
		cmocka_unit_test(test_hash_and_hex),
		cmocka_unit_test(test_request_id_fits_its_buffer),
	};
	return cmocka_run_group_tests_name("response", tests, NULL, NULL);
}
