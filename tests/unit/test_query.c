/* Unit tests for query.c: strict query-string parsing. */
#include <limits.h>
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

/*
 * The UTF-8 rule at its edges, through query_decode: what is accepted
 * decodes to exactly its bytes, what is refused yields NULL.  These pin the
 * behaviour of the hand-written validator that bson_utf8_validate replaced.
 */
static void
test_utf8_edges(void **state)
{
	static const struct {
		const char	*in;	/* percent-encoded input */
		const char	*out;	/* decoded bytes, NULL when refused */
	} cases[] = {
		/* Shortest forms at each length boundary are accepted. */
		{ "%7F", "\x7F" },
		{ "%C2%80", "\xC2\x80" },			/* U+0080 */
		{ "%DF%BF", "\xDF\xBF" },			/* U+07FF */
		{ "%E0%A0%80", "\xE0\xA0\x80" },		/* U+0800 */
		{ "%ED%9F%BF", "\xED\x9F\xBF" },		/* U+D7FF */
		{ "%EE%80%80", "\xEE\x80\x80" },		/* U+E000 */
		{ "%EF%BF%BF", "\xEF\xBF\xBF" },		/* U+FFFF */
		{ "%F0%90%80%80", "\xF0\x90\x80\x80" },	/* U+10000 */
		{ "%F4%8F%BF%BF", "\xF4\x8F\xBF\xBF" },	/* U+10FFFF */
		{ "caf%C3%A9", "caf\xC3\xA9" },
		/* Overlong forms. */
		{ "%C0%AF", NULL },
		{ "%C1%BF", NULL },
		{ "%E0%80%AF", NULL },
		{ "%E0%9F%BF", NULL },
		{ "%F0%80%80%AF", NULL },
		{ "%F0%8F%BF%BF", NULL },
		/* UTF-16 surrogates, high and low. */
		{ "%ED%A0%80", NULL },
		{ "%ED%AF%BF", NULL },
		{ "%ED%B0%80", NULL },
		{ "%ED%BF%BF", NULL },
		/* Above U+10FFFF, and lead bytes that can only start one. */
		{ "%F4%90%80%80", NULL },
		{ "%F5%80%80%80", NULL },
		{ "%F7%BF%BF%BF", NULL },
		{ "%F8%88%80%80%80", NULL },
		{ "%FC%84%80%80%80%80", NULL },
		{ "%FE", NULL },
		{ "%FF", NULL },
		/* Truncated sequences, at the end and before more text. */
		{ "%C3", NULL },
		{ "%E2%82", NULL },
		{ "%F0%9F%8E", NULL },
		{ "%E2%82a", NULL },
		{ "%C3a", NULL },
		/* Stray continuation bytes. */
		{ "%80", NULL },
		{ "a%BFb", NULL },
		{ "%C3%A9%A9", NULL },
		/* NUL in any spelling, including the two-byte C0 80. */
		{ "%00", NULL },
		{ "%C0%80", NULL },
		{ "%E0%80%80", NULL },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char	*s = query_decode(cases[i].in, strlen(cases[i].in),
		    true);

		if (cases[i].out == NULL && s != NULL)
			fail_msg("'%s' was accepted", cases[i].in);
		if (cases[i].out != NULL && s == NULL)
			fail_msg("'%s' was refused", cases[i].in);
		if (s != NULL)
			assert_string_equal(s, cases[i].out);
		free(s);
	}
	/* A raw NUL inside the given length is refused too. */
	assert_null(query_decode("a\0b", 3, false));
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

/* query_int: the one whole-number rule of parameters and settings. */
static void
test_query_int(void **state)
{
	static const struct {
		const char	*text;	/* as given */
		long		 min;	/* the range */
		long		 max;
		long		 want;	/* the value; -1: refused */
	} cases[] = {
		{ "0", 0, 10, 0 },
		{ "10", 0, 10, 10 },
		{ "007", 0, 10, 7 },
		{ "1", 1, 1, 1 },
		{ "65535", 1, 65535, 65535 },
		{ "9223372036854775807", 0, LONG_MAX, LONG_MAX },
		/* Out of range. */
		{ "11", 0, 10, -1 },
		{ "0", 1, 10, -1 },
		{ "65536", 1, 65535, -1 },
		{ "9223372036854775808", 0, LONG_MAX, -1 },
		{ "99999999999999999999", 0, LONG_MAX, -1 },
		/* Not digits only. */
		{ "", 0, 10, -1 },
		{ "-1", -5, 10, -1 },
		{ "+1", 0, 10, -1 },
		{ " 1", 0, 10, -1 },
		{ "1 ", 0, 10, -1 },
		{ "1x", 0, 10, -1 },
		{ "0x10", 0, 100, -1 },
		{ "1e3", 0, 10000, -1 },
		{ "1.0", 0, 10, -1 },
		{ "lots", 0, 10, -1 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		long	 got = -42;
		int	 rc = query_int(cases[i].text, cases[i].min,
			    cases[i].max, &got);

		if (cases[i].want == -1) {
			if (rc != -1)
				fail_msg("'%s' was accepted", cases[i].text);
			assert_int_equal(got, -42);
			continue;
		}
		if (rc != 0)
			fail_msg("'%s' was refused", cases[i].text);
		assert_int_equal(got, cases[i].want);
	}
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
		cmocka_unit_test(test_utf8_edges),
		cmocka_unit_test(test_empty_and_repeated_pairs_are_refused),
		cmocka_unit_test(test_too_many_params),
		cmocka_unit_test(test_decode_without_plus),
		cmocka_unit_test(test_query_int),
	};
	return cmocka_run_group_tests_name("query", tests, NULL, NULL);
}
