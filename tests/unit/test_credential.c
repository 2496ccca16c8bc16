/* Unit tests for the credential code: scrypt (RFC 7914's vector, and the
 * bounds on stored parameters), TOTP (RFC 6238's vectors, the window, the
 * replay rule), base32/base64, the shape of secrets, the session cookie's
 * name per site, and scope lists. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "extern.h"

/* RFC 7914 section 12, the third vector: "pleaseletmein", "SodiumChloride",
 * N = 16384, r = 8, p = 1, 64 bytes. */
#define	RFC7914_PHC	"$scrypt$ln=14,r=8,p=1$U29kaXVtQ2hsb3JpZGU$" \
	"cCO9yzr9c0hGHAbNgf046/2o+7qQT44+qbVD9lRdofLVQylVYT8Pz2LUlwUkKpr55h6F" \
	"3A1lHkDfzwF7RVdYhw"

static void
test_scrypt_matches_rfc_7914(void **state)
{
	assert_true(password_verify("pleaseletmein", RFC7914_PHC));
	assert_false(password_verify("pleaseletmeim", RFC7914_PHC));
	/* weaker than today's N = 2^15: rehashed at the next sign-in */
	assert_true(password_needs_rehash(RFC7914_PHC));
}

static void
test_new_hashes_verify_and_differ(void **state)
{
	char	 a[PASSWORD_PHC_MAX], b[PASSWORD_PHC_MAX];

	assert_int_equal(password_hash("a long password", a, sizeof(a)), 0);
	assert_int_equal(password_hash("a long password", b, sizeof(b)), 0);
	assert_string_not_equal(a, b);		/* a new salt each time */
	assert_memory_equal(a, "$scrypt$ln=15,r=8,p=1$", 22);
	assert_true(password_verify("a long password", a));
	assert_false(password_verify("a long passwore", a));
	assert_false(password_needs_rehash(a));
}

static void
test_stored_hashes_out_of_bounds_never_match(void **state)
{
	/* parameters that would make a sign-in allocate gigabytes */
	assert_false(password_verify("pleaseletmein",
	    "$scrypt$ln=24,r=8,p=1$U29kaXVtQ2hsb3JpZGU$AAAAAAAAAAAAAAAAAAAAAA"));
	assert_false(password_verify("x", "$argon2id$v=19$m=65536$abc$def"));
	assert_false(password_verify("x", ""));
	assert_false(password_verify("x", NULL));
	assert_false(password_verify("pleaseletmein", RFC7914_PHC "x!"));
}

/* RFC 6238 appendix B, SHA-1, the last six digits of each code. */
static void
test_totp_matches_rfc_6238(void **state)
{
	static const struct {
		int64_t		 t;
		const char	*code;
	} v[] = {
		{ 59, "287082" }, { 1111111109, "081804" },
		{ 1111111111, "050471" }, { 1234567890, "005924" },
		{ 2000000000, "279037" }, { 20000000000, "353130" },
	};
	const unsigned char	*key = (const unsigned char *)
				    "12345678901234567890";
	int64_t			 step;

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		assert_true(totp_verify(key, 20, v[i].code, v[i].t, -1, &step));
		assert_int_equal(step, v[i].t / 30);
	}
}

static void
test_totp_window_and_replay(void **state)
{
	const unsigned char	*key = (const unsigned char *)
				    "12345678901234567890";
	int64_t			 step;

	/* the code of t = 59 (step 1) is good one step either side */
	assert_true(totp_verify(key, 20, "287082", 59 + 30, -1, &step));
	assert_int_equal(step, 1);
	assert_true(totp_verify(key, 20, "287082", 59 - 30, -1, &step));
	assert_false(totp_verify(key, 20, "287082", 59 + 60, -1, &step));
	/* once step 1 was used, its code opens nothing */
	assert_false(totp_verify(key, 20, "287082", 59, 1, &step));
	assert_false(totp_verify(key, 20, "28708", 59, -1, &step));
	assert_false(totp_verify(key, 20, "2870820", 59, -1, &step));
	assert_false(totp_verify(key, 20, "28708a", 59, -1, &step));
}

static void
test_base32_round_trip(void **state)
{
	unsigned char	 raw[20], back[20];
	char		 b32[40];

	for (size_t i = 0; i < sizeof(raw); i++)
		raw[i] = (unsigned char)(i * 37 + 11);
	totp_base32((const unsigned char *)"foobar", 6, b32);
	assert_string_equal(b32, "MZXW6YTBOI");		/* RFC 4648 */
	totp_base32(raw, sizeof(raw), b32);
	assert_int_equal(strlen(b32), 32);
	assert_int_equal(totp_base32_decode(b32, back, sizeof(back)), 20);
	assert_memory_equal(raw, back, 20);
	assert_int_equal(totp_base32_decode("MZXW6YTB0I", back, 20), -1);
	assert_int_equal(totp_base32_decode(b32, back, 19), -1);
}

static void
test_secrets_are_random_base64url(void **state)
{
	char	 a[80], b[80], hex[CREDENTIAL_DIGEST_HEX];

	assert_int_equal(credential_new("silo_", a, sizeof(a)), 0);
	assert_int_equal(credential_new("silo_", b, sizeof(b)), 0);
	assert_int_equal(strlen(a), 5 + 43);
	assert_string_not_equal(a, b);
	assert_true(credential_well_formed(a, strlen(a), "silo_"));
	assert_false(credential_well_formed(a, strlen(a) - 1, "silo_"));
	assert_false(credential_well_formed(a + 5, 43, "silo_"));
	a[10] = '+';
	assert_false(credential_well_formed(a, strlen(a), "silo_"));
	assert_int_equal(credential_new("silo_", a, 48), -1);	/* no room */
	credential_digest("abc", 3, hex);
	assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223"
	    "b00361a396177a9cb410ff61f20015ad");
}

static void
test_session_cookie_per_site(void **state)
{
	struct silo_request	 req = { 0 };
	char			 cookie[SESSION_COOKIE_MAX];
	char			 id[SESSION_ID_MAX];
	const char		*sid = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

	req.https = true;
	assert_int_equal(session_site(&req), SITE_HTTPS);
	req.https = false;
	req.host = "127.0.0.1:8080";
	assert_int_equal(session_site(&req), SITE_LOOPBACK);
	req.host = "localhost";
	assert_int_equal(session_site(&req), SITE_LOOPBACK);
	req.host = "[::1]:9";
	assert_int_equal(session_site(&req), SITE_LOOPBACK);
	req.host = "127.0.0.1.evil.example";
	assert_int_equal(session_site(&req), SITE_INSECURE);
	req.host = "localhost:80x";
	assert_int_equal(session_site(&req), SITE_INSECURE);
	req.host = NULL;
	assert_int_equal(session_site(&req), SITE_INSECURE);

	session_cookie(SITE_HTTPS, sid, 60, cookie);
	assert_string_equal(cookie, "__Host-silo_session=AAAAAAAAAAAAAAAAAAAAAAA"
	    "AAAAAAAAAAAAAAAAAAAA; Path=/; Max-Age=60; HttpOnly; Secure; "
	    "SameSite=Strict");
	assert_true(session_cookie_id(SITE_HTTPS, "a=b; __Host-silo_session="
	    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA; c=d", id));
	assert_string_equal(id, sid);
	/* the name of the other site, a bad shape, or none: no session */
	assert_false(session_cookie_id(SITE_HTTPS, "silo_session="
	    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", id));
	assert_true(session_cookie_id(SITE_LOOPBACK, "silo_session="
	    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", id));
	assert_false(session_cookie_id(SITE_LOOPBACK, "silo_session=short",
	    id));
	assert_false(session_cookie_id(SITE_INSECURE, "silo_session="
	    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", id));
	assert_false(session_cookie_id(SITE_LOOPBACK, NULL, id));
}

static void
test_scope_lists(void **state)
{
	char	 why[256];

	assert_int_equal(scope_parse_list("read:db,run:backups", why,
	    sizeof(why)), SCOPE_READ_DB | SCOPE_RUN_BACKUPS);
	assert_int_equal(scope_parse_list("read:*", why, sizeof(why)),
	    SCOPE_READ_ALL);
	assert_int_equal(scope_parse_list("read:db,,admin:db,", why,
	    sizeof(why)), SCOPE_READ_DB | SCOPE_ADMIN_DB);
	assert_int_equal(scope_parse_list("read:db,admin", why, sizeof(why)),
	    0);
	assert_memory_equal(why, "unknown scope 'admin'", 21);
	assert_int_equal(scope_parse_list("", why, sizeof(why)), 0);
	assert_string_equal(why, "no scope given");
	assert_int_equal(scope_of_role(ROLE_VIEWER), SCOPE_READ_ALL);
	assert_int_equal(scope_of_role(ROLE_ADMIN), SCOPE_ALL);
	/* every route's scope is one the table of names knows */
	for (size_t i = 0; i < routes_count; i++)
		if (routes_table[i].access == ACCESS_SCOPE)
			assert_int_not_equal(scope_bit(routes_table[i].scope),
			    0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scrypt_matches_rfc_7914),
		cmocka_unit_test(test_new_hashes_verify_and_differ),
		cmocka_unit_test(test_stored_hashes_out_of_bounds_never_match),
		cmocka_unit_test(test_totp_matches_rfc_6238),
		cmocka_unit_test(test_totp_window_and_replay),
		cmocka_unit_test(test_base32_round_trip),
		cmocka_unit_test(test_secrets_are_random_base64url),
		cmocka_unit_test(test_session_cookie_per_site),
		cmocka_unit_test(test_scope_lists),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
