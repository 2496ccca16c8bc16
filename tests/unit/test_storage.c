/* Unit tests for the pure parts of the storage snapshots: how a key is
 * classified by its bucket's role and which role a bucket has
 * (storage_key.c), and how /api/storage/user/:id is parsed
 * (api_storage.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "extern.h"

/* One key's expected classification; NULL who means none. */
struct want {
	enum storage_role role;		/* the bucket's role */
	const char	*key;		/* the key */
	enum storage_owner owner;	/* whose */
	const char	*who;		/* sub or tape code, or NULL */
	const char	*kind;		/* prefix */
	const char	*ext;		/* file type as in the key, "" none */
};

static void
expect_class(const struct want *w)
{
	struct storage_class	 c;

	storage_key_classify(w->role, w->key, &c);
	if (c.owner != w->owner)
		fail_msg("%s: owner %d, expected %d", w->key, c.owner, w->owner);
	if (w->who == NULL ? c.who != NULL :
	    (c.who == NULL || strlen(w->who) != c.who_len ||
	     strncmp(c.who, w->who, c.who_len) != 0))
		fail_msg("%s: who '%.*s', expected '%s'", w->key,
		    c.who ? (int)c.who_len : 6, c.who ? c.who : "(null)",
		    w->who ? w->who : "(null)");
	if (strlen(w->kind) != c.kind_len ||
	    strncmp(c.kind, w->kind, c.kind_len) != 0)
		fail_msg("%s: kind '%.*s', expected '%s'", w->key,
		    (int)c.kind_len, c.kind, w->kind);
	if (strlen(w->ext) != c.ext_len ||
	    strncmp(c.ext, w->ext, c.ext_len) != 0)
		fail_msg("%s: ext '%.*s', expected '%s'", w->key,
		    (int)c.ext_len, c.ext, w->ext);
}

static void
test_user_bucket(void **state)
{
	static const struct want cases[] = {
		{ ROLE_USER, "auth0|63f0/painting/2025.1.2.png", OWNER_USER,
		  "auth0|63f0", "painting", "png" },
		{ ROLE_USER, "auth0|63f0/piece/hello.mjs", OWNER_USER,
		  "auth0|63f0", "piece", "mjs" },
		{ ROLE_USER, "did:plc:abc/2025.1.2.zip", OWNER_USER,
		  "did:plc:abc", "root", "zip" },
		{ ROLE_USER, "google-oauth2|1/video/a/b/c.MP4", OWNER_USER,
		  "google-oauth2|1", "video", "MP4" },
		{ ROLE_USER, "auth0|x/", OWNER_USER, "auth0|x", "root", "" },
		{ ROLE_USER, "auth0|x//y.png", OWNER_USER, "auth0|x", "root",
		  "png" },
		{ ROLE_USER, "stray.png", OWNER_NONE, NULL, "root", "png" },
		{ ROLE_USER, "/lead/slash.png", OWNER_NONE, NULL, "root", "png" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		expect_class(&cases[i]);
}

static void
test_other_buckets(void **state)
{
	static const struct want cases[] = {
		{ ROLE_TAPES, "tapes/ab3d.mp4", OWNER_TAPE, "ab3d", "tapes",
		  "mp4" },
		{ ROLE_TAPES, "tapes/ab3d-thumb.jpg", OWNER_TAPE, "ab3d",
		  "tapes", "jpg" },
		{ ROLE_TAPES, "tapes/.mp4", OWNER_NONE, NULL, "tapes", "" },
		{ ROLE_TAPES, "tapes/x/ab3d.mp4", OWNER_NONE, NULL, "tapes",
		  "mp4" },
		{ ROLE_TAPES, "other/ab3d.mp4", OWNER_NONE, NULL, "other", "mp4" },
		{ ROLE_ART, "Xk3j9.png", OWNER_GUEST, NULL, "root", "png" },
		{ ROLE_ART, "2024.3.1.zip", OWNER_GUEST, NULL, "root", "zip" },
		{ ROLE_ART, "oven/icons/line-128x128.png", OWNER_NONE, NULL,
		  "oven", "png" },
		{ ROLE_ART, "og/news/n3x.png", OWNER_NONE, NULL, "og", "png" },
		{ ROLE_ART, "oven.png", OWNER_GUEST, NULL, "root", "png" },
		{ ROLE_ART, "legacy/über+café 2.png", OWNER_GUEST, NULL,
		  "legacy", "png" },
		{ ROLE_ART, "日本/絵.png", OWNER_GUEST, NULL, "日本", "png" },
		{ ROLE_OTHER, "desktop/ac-1.0.0-x86_64.AppImage", OWNER_NONE,
		  NULL, "desktop", "AppImage" },
		{ ROLE_OTHER, "fonts/.hidden", OWNER_NONE, NULL, "fonts", "" },
		{ ROLE_OTHER, "a.b.tar-gz", OWNER_NONE, NULL, "root", "" },
		{ ROLE_OTHER, "a.toolongextension1", OWNER_NONE, NULL, "root", "" },
		{ ROLE_OTHER, "space at end .png", OWNER_NONE, NULL, "root",
		  "png" },
		{ ROLE_OTHER, "dir.d/noext", OWNER_NONE, NULL, "dir.d", "" },
		{ ROLE_OTHER, "", OWNER_NONE, NULL, "root", "" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		expect_class(&cases[i]);
}

static void
test_roles(void **state)
{
	struct silo_config	 c = { 0 };

	c.user_bucket = "user-aesthetic-computer";
	c.art_bucket = "art-aesthetic-computer";
	c.tapes_bucket = "at-blobs-aesthetic-computer";
	assert_int_equal(storage_key_role(&c, "user-aesthetic-computer"),
	    ROLE_USER);
	assert_int_equal(storage_key_role(&c, "art-aesthetic-computer"),
	    ROLE_ART);
	assert_int_equal(storage_key_role(&c, "at-blobs-aesthetic-computer"),
	    ROLE_TAPES);
	assert_int_equal(storage_key_role(&c, "assets-aesthetic-computer"),
	    ROLE_OTHER);
	assert_int_equal(storage_key_role(&c, "user-aesthetic-compute"),
	    ROLE_OTHER);
}

static void
expect_id(const char *id, enum api_storage_id kind, const char *name,
    const char *why_part)
{
	const char	*got_name;
	char		 why[160] = "";
	enum api_storage_id got = api_storage_parse_id(id, &got_name, why,
			    sizeof(why));

	if (got != kind)
		fail_msg("'%s': kind %d, expected %d (%s)", id, got, kind, why);
	if (name != NULL && strcmp(got_name, name) != 0)
		fail_msg("'%s': name '%s', expected '%s'", id, got_name, name);
	if (why_part != NULL && strstr(why, why_part) == NULL)
		fail_msg("'%s': why '%s' lacks '%s'", id, why, why_part);
}

static void
test_parse_id(void **state)
{
	char	 longid[300];

	expect_id("jeffrey", ID_HANDLE, "jeffrey", NULL);
	expect_id("@jeffrey", ID_HANDLE, "jeffrey", NULL);
	expect_id("müller", ID_HANDLE, "müller", NULL);
	expect_id("@日本", ID_HANDLE, "日本", NULL);
	expect_id("a.b_c-d", ID_HANDLE, "a.b_c-d", NULL);
	expect_id("auth0|63f0c0ffee", ID_SUB, "auth0|63f0c0ffee", NULL);
	expect_id("google-oauth2|1234567890", ID_SUB, NULL, NULL);
	expect_id("sotce-auth0|abc", ID_SUB, NULL, NULL);
	expect_id("did:plc:abc123xyz", ID_DID, "did:plc:abc123xyz", NULL);
	expect_id("did:web:aesthetic.computer", ID_DID, NULL, NULL);
	expect_id("", ID_BAD, NULL, "empty");
	expect_id("@", ID_BAD, NULL, "empty");
	expect_id("a@b.example", ID_BAD, NULL, "e-mail");
	expect_id("@a@b.example", ID_BAD, NULL, "e-mail");
	expect_id("|abc", ID_BAD, NULL, "<provider>|<id>");
	expect_id("auth0|", ID_BAD, NULL, "<provider>|<id>");
	expect_id("au th0|x", ID_BAD, NULL, "space");
	expect_id("auth0|a$b", ID_BAD, NULL, "<provider>|<id>");
	expect_id("did:plc:", ID_BAD, NULL, "did:<method>:<id>");
	expect_id("did::abc", ID_BAD, NULL, "did:<method>:<id>");
	expect_id("did:PLC:abc", ID_BAD, NULL, "did:<method>:<id>");
	expect_id("a/b", ID_BAD, NULL, "'/'");
	expect_id("a\tb", ID_BAD, NULL, "control");
	expect_id("what?", ID_BAD, NULL, "punctuation");
	expect_id("x:y", ID_BAD, NULL, "punctuation");
	memset(longid, 'a', sizeof(longid) - 1);
	longid[sizeof(longid) - 1] = '\0';
	expect_id(longid, ID_BAD, NULL, "longer than 256");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_user_bucket),
		cmocka_unit_test(test_other_buckets),
		cmocka_unit_test(test_roles),
		cmocka_unit_test(test_parse_id),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
