/* Unit tests for ac.c: the migration report's grouping of AC's
 * collections, and where a user's documents are. */
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

/* The user-collection table's row for name, or NULL. */
static const struct ac_user_collection *
user_collection(const char *name)
{
	for (const struct ac_user_collection *c = ac_user_collections;
	    c->name != NULL; c++)
		if (strcmp(c->name, name) == 0)
			return c;
	return NULL;
}

static void
expect_user_field(const char *collection, const char *field)
{
	const struct ac_user_collection *c = user_collection(collection);

	if (c == NULL)
		fail_msg("%s is not among the user collections", collection);
	if (strcmp(c->field, field) != 0)
		fail_msg("%s keys its user by '%s', expected '%s'", collection,
		    c->field, field);
}

static void
test_user_collections_content_and_chat(void **state)
{
	const char *content[] = { "kidlisp", "paintings", "pieces", "moods",
	    "tapes", "clocks" };
	const char *chat[] = { "chat-system", "chat-clock", "chat-sotce",
	    "chat-system-mutes", "chat-clock-mutes", "chat-sotce-mutes" };

	/* Every user-content collection of the report, and every chat
	 * room and mute list, under "user" (ac-platform.md section 6). */
	for (size_t i = 0; i < sizeof(content) / sizeof(content[0]); i++)
		expect_user_field(content[i], "user");
	for (size_t i = 0; i < sizeof(chat) / sizeof(chat[0]); i++)
		expect_user_field(chat[i], "user");
	expect_user_field("piece-user-hits", "user");
	expect_user_field("news-posts", "user");
	/* logger.mjs writes the users an event is about as an array. */
	expect_user_field("logs", "users");
}

static void
test_user_collections_leave_out(void **state)
{
	/* The identity records are the user, not their documents; boots'
	 * meta.user is what a browser claimed; the rest hold no user. */
	const char *out[] = { "users", "@handles", "verifications", "secrets",
	    "boots", "piece-hits", "oven-bakes", "kidlisp-logs", "hearts" };

	for (size_t i = 0; i < sizeof(out) / sizeof(out[0]); i++)
		if (user_collection(out[i]) != NULL)
			fail_msg("%s is among the user collections", out[i]);
}

static void
test_user_collections_well_formed(void **state)
{
	size_t	 n = 0;

	for (const struct ac_user_collection *c = ac_user_collections;
	    c->name != NULL; c++, n++) {
		assert_true(c->name[0] != '\0');
		assert_non_null(c->field);
		assert_true(c->field[0] != '\0');
		/* Named once: the answer lists each collection once. */
		assert_ptr_equal(user_collection(c->name), c);
		/* Every one is a collection AC's categories know. */
		if (ac_category_of(c->name) == CATEGORY_OTHER ||
		    ac_category_of(c->name) == CATEGORY_IDENTITY)
			fail_msg("%s is in '%s'", c->name,
			    ac_category_id(ac_category_of(c->name)));
	}
	assert_int_equal(n, 20);
}

static void
test_user_did(void **state)
{
	bson_t	*with = BCON_NEW("_id", BCON_UTF8("auth0|1"), "atproto", "{",
		    "did", BCON_UTF8("did:plc:aaa"), "}");
	bson_t	*without = BCON_NEW("_id", BCON_UTF8("auth0|2"), "atproto",
		    "{", "handle", BCON_UTF8("x.at.aesthetic.computer"), "}");
	bson_t	*not_string = BCON_NEW("_id", BCON_UTF8("auth0|3"), "atproto",
		    "{", "did", BCON_INT32(7), "}");

	assert_string_equal(ac_user_did(with, "auth0|1"), "did:plc:aaa");
	assert_null(ac_user_did(without, "auth0|2"));
	assert_null(ac_user_did(not_string, "auth0|3"));
	/* A migrated user's key is its DID, with or without a document. */
	assert_string_equal(ac_user_did(without, "did:plc:mig"),
	    "did:plc:mig");
	assert_string_equal(ac_user_did(NULL, "did:plc:mig"), "did:plc:mig");
	assert_null(ac_user_did(NULL, "auth0|4"));
	/* atproto.did wins over a DID key. */
	assert_string_equal(ac_user_did(with, "did:plc:other"), "did:plc:aaa");
	bson_destroy(with);
	bson_destroy(without);
	bson_destroy(not_string);
}

static void
test_user_references(void **state)
{
	const struct ac_user_reference *r, *last = NULL;
	size_t	 n = 0;

	for (r = ac_user_references; r->name != NULL; r++, n++) {
		assert_true(r->field[0] != '\0');
		/* Nothing the search's table has already. */
		for (const struct ac_user_collection *c = ac_user_collections;
		    c->name != NULL; c++)
			if (strcmp(c->name, r->name) == 0 &&
			    strcmp(c->field, r->field) == 0)
				fail_msg("%s.%s is in both tables", r->name,
				    r->field);
		/* Records are keyed by _id, and only they are. */
		assert_int_equal(r->kind != AC_REF_FIELD,
		    strcmp(r->field, "_id") == 0);
		last = r;
	}
	/* The search leaves these out; the migration must not. */
	assert_int_equal(n, 7);
	/* @handles last: once it says "migrated", nothing is left. */
	assert_non_null(last);
	assert_string_equal(last->name, "@handles");
	assert_int_equal(last->kind, AC_REF_HANDLE);
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
		cmocka_unit_test(test_user_collections_content_and_chat),
		cmocka_unit_test(test_user_collections_leave_out),
		cmocka_unit_test(test_user_collections_well_formed),
		cmocka_unit_test(test_user_did),
		cmocka_unit_test(test_user_references),
	};
	return cmocka_run_group_tests_name("category", tests, NULL, NULL);
}
