/* Unit tests for ac.c: the migration report's grouping of AC's
 * collections. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "silo.h"

static void
expect_category(const char *collection, const char *id)
{
	const char	*got = ac_category_id(ac_category_of(collection));

	if (strcmp(got, id) != 0)
		fail_msg("%s is in '%s', expected '%s'", collection, got, id);
}

static void
test_report_logs(void **state)
{
	const char *names[] = { "boots", "logs", "bundle-telemetry",
	    "oven-grabs", "oven-bakes", "oven-cache", "_firehose" };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		expect_category(names[i], "logs");
}

static void
test_report_chat(void **state)
{
	expect_category("chat-system", "chat");
	expect_category("chat-clock", "chat");
	expect_category("chat-sotce", "chat");
	expect_category("chat-system-mutes", "chat");
	expect_category("chat-clock-mutes", "chat");
	expect_category("hearts", "chat");
}

static void
test_report_content(void **state)
{
	const char *names[] = { "kidlisp", "paintings", "pieces", "moods",
	    "tapes", "clocks" };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		expect_category(names[i], "content");
}

static void
test_report_identity(void **state)
{
	expect_category("users", "identity");
	expect_category("@handles", "identity");
	expect_category("verifications", "identity");
	expect_category("secrets", "identity");
}

static void
test_report_social_families(void **state)
{
	expect_category("sotce-pages", "social");
	expect_category("sotce-touches", "social");
	expect_category("news-posts", "social");
	expect_category("news-comments", "social");
	expect_category("piece-hits", "social");
	expect_category("tickets", "social");
	expect_category("products", "social");
	expect_category("jas-tags", "social");
	expect_category("false.work-builds", "social");
	/* The report's logs total counts six collections; the rest it
	 * names fall in its "etc." of social/misc. */
	expect_category("oven-frozen-pieces", "social");
	expect_category("kidlisp-logs", "social");
}

static void
test_unknown_is_other(void **state)
{
	expect_category("brand-new-feature", "other");
	expect_category("", "other");
	/* Exact names are exact: a longer name is not its family. */
	expect_category("kidlisp-archive", "other");
	expect_category("usersx", "other");
}

static void
test_ids_and_labels(void **state)
{
	assert_string_equal(ac_category_label(CATEGORY_LOGS), "logs/telemetry");
	assert_string_equal(ac_category_label(CATEGORY_CONTENT),
	    "user content");
	assert_string_equal(ac_category_label(CATEGORY_IDENTITY), "users/auth");
	assert_string_equal(ac_category_label(CATEGORY_SOCIAL), "social/misc");
	for (int c = 0; c < CATEGORY__MAX; c++) {
		assert_non_null(ac_category_id(c));
		assert_non_null(ac_category_label(c));
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_report_logs),
		cmocka_unit_test(test_report_chat),
		cmocka_unit_test(test_report_content),
		cmocka_unit_test(test_report_identity),
		cmocka_unit_test(test_report_social_families),
		cmocka_unit_test(test_unknown_is_other),
		cmocka_unit_test(test_ids_and_labels),
	};
	return cmocka_run_group_tests_name("category", tests, NULL, NULL);
}
