/* Unit tests for query.c: strict query-string parsing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "silo.h"

/* Parse qs, expecting failure, and check the reason mentions want. */
static void
expect_error(const char *qs, const char *want)
{
	struct query	 q;
	char		 err[256] = "";

	assert_int_equal(query_parse(qs, &q, err, sizeof(err)), -1);
	assert_int_equal(q.nparams, 0);
	if (strstr(err, want) == NULL)
		fail_msg("error for '%s' was '%s', expected it to mention '%s'",
		    qs, err, want);
}

static void
test_empty_query_has_no_params(void **state)
{
	struct query	 q;
	char		 err[128];

	assert_int_equal(query_parse("", &q, err, sizeof(err)), 0);
	assert_int_equal(q.nparams, 0);
	assert_int_equal(query_parse(NULL, &q, err, sizeof(err)), 0);
	assert_int_equal(q.nparams, 0);
}

static void
test_pairs_in_order(void **state)
{
	struct query	 q;
	char		 err[128];

	assert_int_equal(query_parse("limit=10&sort=size", &q, err, sizeof(err)), 0);
	assert_int_equal(q.nparams, 2);
	assert_string_equal(q.params[0].key, "limit");
	assert_string_equal(q.params[0].value, "10");
	assert_string_equal(q.params[1].key, "sort");
	assert_string_equal(query_get(&q, "sort"), "size");
	assert_null(query_get(&q, "missing"));
	query_free(&q);
}

static void
test_decoding_plus_and_percent(void **state)
{
	struct query	 q;
	char		 err[128];

	assert_int_equal(query_parse("h=%40jeffrey+x&e=%F0%9F%8E%A8", &q, err,
	    sizeof(err)), 0);
	assert_string_equal(query_get(&q, "h"), "@jeffrey x");
	assert_string_equal(query_get(&q, "e"), "\xF0\x9F\x8E\xA8");
	query_free(&q);
}

static void
test_key_without_value_is_empty(void **state)
{
	struct query	 q;
	char		 err[128];

	assert_int_equal(query_parse("source&b=", &q, err, sizeof(err)), 0);
	assert_string_equal(query_get(&q, "source"), "");
	assert_string_equal(query_get(&q, "b"), "");
	query_free(&q);
}

static void
test_bad_escapes_are_refused(void **state)
{
	expect_error("%zz=1", "invalid encoding in parameter name");
	expect_error("a=%4", "invalid encoding in value of 'a'");
	expect_error("a=%", "invalid encoding");
	expect_error("a=%00", "invalid encoding");
}

static void
test_invalid_utf8_is_refused(void **state)
{
	expect_error("a=%ff", "invalid encoding");
	expect_error("a=%C0%AF", "invalid encoding");	/* overlong '/' */
	expect_error("a=%ED%A0%80", "invalid encoding");	/* surrogate */
	expect_error("a=%E2%82", "invalid encoding");	/* truncated */
}

static void
test_empty_and_repeated_pairs_are_refused(void **state)
{
	expect_error("a=1&&b=2", "empty parameter name at offset 4");
	expect_error("a=1&", "empty parameter name at offset 4");
	expect_error("=1", "empty parameter name at offset 0");
	expect_error("a=1&a=2", "'a' given more than once");
}

static void
test_too_many_params(void **state)
{
	char	 qs[1024] = "";

	for (int i = 0; i <= QUERY_MAX_PARAMS; i++) {
		char	 pair[16];

		snprintf(pair, sizeof(pair), "%sk%d=1", i ? "&" : "", i);
		strcat(qs, pair);
	}
	expect_error(qs, "more than 32 parameters");
}

static void
test_decode_without_plus(void **state)
{
	char	*s = query_decode("a+b%20c", 7, false);

	assert_string_equal(s, "a+b c");
	free(s);
	assert_null(query_decode("a%2", 3, false));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty_query_has_no_params),
		cmocka_unit_test(test_pairs_in_order),
		cmocka_unit_test(test_decoding_plus_and_percent),
		cmocka_unit_test(test_key_without_value_is_empty),
		cmocka_unit_test(test_bad_escapes_are_refused),
		cmocka_unit_test(test_invalid_utf8_is_refused),
		cmocka_unit_test(test_empty_and_repeated_pairs_are_refused),
		cmocka_unit_test(test_too_many_params),
		cmocka_unit_test(test_decode_without_plus),
	};
	return cmocka_run_group_tests_name("query", tests, NULL, NULL);
}
