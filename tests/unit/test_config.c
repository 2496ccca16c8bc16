/* Unit tests for config.c: env file, precedence, validation, masking. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <cmocka.h>

#include "silo.h"

static const char *const all_vars[] = {
	"MONGODB_CONNECTION_STRING", "MONGODB_NAME", "SILO_LISTEN",
	"SILO_SOCKET_OWNER", "SILO_SOCKET_GROUP", "SILO_SOCKET_MODE",
	"SILO_WORKERS", "SILO_DB_TIMEOUT_MS", "SILO_DB_SLOW_MS",
	"SILO_MAX_BODY", "SILO_SHUTDOWN_TIMEOUT", "SILO_LOG_LEVEL",
	"OVEN_URL", "SESSION_URL", "PDS_URL", "SPACES_KEY", "SPACES_SECRET",
	"SPACES_ENDPOINT", "SILO_ADMIN_TOKEN", "SILO_READ_TOKEN",
	"SILO_PROBE_TIMEOUT_MS", "SILO_PROBE_CONNECT_MS", "SILO_CACHE_TTL_S",
	"SILO_CACHE_DIR", "SILO_LISTEN_BACKLOG", "SILO_BUSY_MAX",
	"SILO_DB_CLIENTS", "SILO_CACHE_MAX_ENTRIES", "SILO_CACHE_MAX_BYTES",
	"SILO_CACHE_MAX_VARIANTS", "LISTEN_FDS", "LISTEN_PID", NULL
};

static char env_path[64];

static int
clean_env(void **state)
{
	for (const char *const *v = all_vars; *v != NULL; v++)
		unsetenv(*v);
	env_path[0] = '\0';
	return 0;
}

static int
remove_file(void **state)
{
	if (env_path[0] != '\0')
		unlink(env_path);
	return clean_env(state);
}

/* Write text to a fresh temporary env file; returns its path. */
static const char *
env_file(const char *text)
{
	int	 fd;

	snprintf(env_path, sizeof(env_path), "/tmp/silo-test-envXXXXXX");
	assert_true((fd = mkstemp(env_path)) != -1);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return env_path;
}

/* Load, expecting failure; every string in want must appear in the error. */
static void
expect_problems(const char *file, const char *want[], size_t nwant)
{
	struct silo_config	 c;
	char			 err[4096];

	assert_int_equal(config_load(&c, file, NULL, 0, err, sizeof(err)), -1);
	for (size_t i = 0; i < nwant; i++)
		if (strstr(err, want[i]) == NULL)
			fail_msg("error '%s' does not mention '%s'", err, want[i]);
}

static void
test_defaults(void **state)
{
	struct silo_config	 c;
	char			 err[1024];

	setenv("MONGODB_CONNECTION_STRING", "mongodb://127.0.0.1:27017", 1);
	assert_int_equal(config_load(&c, NULL, NULL, 0, err, sizeof(err)), 0);
	assert_string_equal(c.mongo_db, "aesthetic");
	assert_int_equal(c.listen_kind, LISTEN_UNIX);
	assert_string_equal(c.listen_path, "/run/silo/silo.sock");
	assert_int_equal(c.socket_mode, 0660);
	/* "auto": two per online core, within SILO_WORKERS' 1..256 */
	assert_int_equal(c.workers, sysconf(_SC_NPROCESSORS_ONLN) * 2 > 256 ?
	    256 : sysconf(_SC_NPROCESSORS_ONLN) * 2);
	assert_int_equal(c.db_timeout_ms, 1500);
	assert_int_equal(c.max_body, 1 << 20);
	assert_int_equal(c.log_level, LOG_LEVEL_INFO);
	assert_string_equal(c.oven_url, "https://oven.aesthetic.computer");
	assert_null(c.spaces_secret);
	config_free(&c);
}

static void
test_env_file_syntax(void **state)
{
	struct silo_config	 c;
	char			 err[1024];
	const char		*path = env_file(
	    "# AC's shared .env\n"
	    "\n"
	    "export MONGODB_CONNECTION_STRING=mongodb://u:p@db:27017/?tls=false\n"
	    "MONGODB_NAME=\"aesthetic\"\n"
	    "SILO_LISTEN='tcp:127.0.0.1:9000'\r\n"
	    "SILO_WORKERS=3   \n"
	    "SPACES_SECRET=\"with \\\"quotes\\\" and # hash\"\n"
	    "UNRELATED_AC_KEY=whatever\n"
	    "SILO_MAX_BODY=64k\n");

	assert_int_equal(config_load(&c, path, NULL, 0, err, sizeof(err)), 0);
	assert_string_equal(c.mongo_uri, "mongodb://u:p@db:27017/?tls=false");
	assert_int_equal(c.listen_kind, LISTEN_TCP);
	assert_string_equal(c.listen_host, "127.0.0.1");
	assert_int_equal(c.listen_port, 9000);
	assert_int_equal(c.workers, 3);
	assert_string_equal(c.spaces_secret, "with \"quotes\" and # hash");
	assert_int_equal(c.max_body, 64 << 10);
	assert_string_equal(c.env_file, path);
	config_free(&c);
}

static void
test_precedence_flag_env_file_default(void **state)
{
	struct silo_config	 c;
	char			 err[1024];
	const char		*path = env_file(
	    "MONGODB_CONNECTION_STRING=mongodb://file:1\n"
	    "SILO_WORKERS=3\nSILO_DB_SLOW_MS=40\n");
	struct config_override	 ov[] = { { "SILO_WORKERS", "7" } };

	setenv("SILO_WORKERS", "5", 1);
	setenv("SILO_DB_SLOW_MS", "50", 1);
	assert_int_equal(config_load(&c, path, ov, 1, err, sizeof(err)), 0);
	assert_int_equal(c.workers, 7);		/* flag beats env */
	assert_int_equal(c.db_slow_ms, 50);	/* env beats file */
	assert_string_equal(c.mongo_uri, "mongodb://file:1"); /* file beats default */
	config_free(&c);
}

static void
test_missing_required(void **state)
{
	const char *want[] = { "MONGODB_CONNECTION_STRING is not set" };

	expect_problems(NULL, want, 1);
}

static void
test_bad_values_name_variable_value_and_source(void **state)
{
	const char *path = env_file(
	    "MONGODB_CONNECTION_STRING=mongodb://127.0.0.1\n"
	    "SILO_WORKERS=lots\n"
	    "SILO_SOCKET_MODE=rw-rw----\n");
	const char *want[] = {
	    "SILO_WORKERS='lots' (", ":2): expected a whole number from 1 to 256",
	    "SILO_SOCKET_MODE='rw-rw----' (", ":3): expected an octal mode",
	    "SILO_LOG_LEVEL='loud' (environment)",
	    "OVEN_URL='oven.local' (environment): expected an http:// or https:// URL",
	};

	setenv("SILO_LOG_LEVEL", "loud", 1);
	setenv("OVEN_URL", "oven.local", 1);
	expect_problems(path, want, sizeof(want) / sizeof(want[0]));
}

/* A bad URI's error says why, on one line, and never shows its password. */
static void
test_probe_and_cache_settings(void **state)
{
	const char *path = env_file(
	    "MONGODB_CONNECTION_STRING=mongodb://127.0.0.1\n"
	    "SILO_PROBE_TIMEOUT_MS=300\n"
	    "SILO_PROBE_CONNECT_MS=400\n"
	    "SILO_CACHE_DIR=relative/dir\n");
	const char *want[] = {
	    "SILO_PROBE_CONNECT_MS=400 exceeds SILO_PROBE_TIMEOUT_MS=300",
	    "SILO_CACHE_DIR='relative/dir' (", ":4): expected an absolute path",
	    "SILO_CACHE_TTL_S='-1' (environment): expected a whole number from 0 to 86400",
	};

	setenv("SILO_CACHE_TTL_S", "-1", 1);
	expect_problems(path, want, sizeof(want) / sizeof(want[0]));
}

static void
test_bad_mongo_uris_say_why_without_echoing_the_password(void **state)
{
	const struct {
		const char	*uri;		/* as configured */
		const char	*want;		/* in the error */
	} bad[] = {
		{ "postgres://user:hunter2@x",
		  "MONGODB_CONNECTION_STRING (environment): " },
		{ "mongodb://silo:hunter2@db:port",
		  "MONGODB_CONNECTION_STRING (environment): "
		  "Invalid host string in URI: Port could not be parsed" },
	};
	struct silo_config	 c;
	char			 err[1024];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		setenv("MONGODB_CONNECTION_STRING", bad[i].uri, 1);
		assert_int_equal(config_load(&c, NULL, NULL, 0, err,
		    sizeof(err)), -1);
		assert_non_null(strstr(err, bad[i].want));
		assert_null(strstr(err, "hunter2"));
	}
}

static void
test_env_file_errors_name_file_and_line(void **state)
{
	const char *path = env_file(
	    "MONGODB_CONNECTION_STRING=mongodb://127.0.0.1\n"
	    "SILO_WORKRS=4\n"
	    "this is not a setting\n"
	    "SILO_LISTEN=\"unix:/tmp/x.sock\n");
	const char *want[] = { ":2: unknown variable SILO_WORKRS",
	    ":3: expected '=' after this", ":4: SILO_LISTEN: unterminated quote" };

	expect_problems(path, want, 3);
}

static void
test_missing_env_file(void **state)
{
	const char *want[] = { "/nonexistent/silo.env: No such file or directory" };

	expect_problems("/nonexistent/silo.env", want, 1);
}

static void
test_listen_forms(void **state)
{
	struct silo_config	 c;
	char			 err[1024];
	const char *want_rel[] = { "SILO_LISTEN='unix:relative.sock'",
	    "absolute path" };
	const char *want_port[] = { "SILO_LISTEN='tcp:127.0.0.1:99999'",
	    "expected tcp:HOST:PORT" };

	setenv("MONGODB_CONNECTION_STRING", "mongodb://127.0.0.1", 1);
	setenv("SILO_LISTEN", "tcp:[::1]:9001", 1);
	assert_int_equal(config_load(&c, NULL, NULL, 0, err, sizeof(err)), 0);
	assert_string_equal(c.listen_host, "::1");
	assert_int_equal(c.listen_port, 9001);
	config_free(&c);
	setenv("SILO_LISTEN", "stdin", 1);
	assert_int_equal(config_load(&c, NULL, NULL, 0, err, sizeof(err)), 0);
	assert_int_equal(c.listen_kind, LISTEN_STDIN);
	config_free(&c);
	setenv("SILO_LISTEN", "unix:relative.sock", 1);
	expect_problems(NULL, want_rel, 2);
	setenv("SILO_LISTEN", "tcp:127.0.0.1:99999", 1);
	expect_problems(NULL, want_port, 2);
}

static void
test_mask_uri(void **state)
{
	char	 out[256];

	config_mask_uri("mongodb://silo:s3cret@127.0.0.1:27017/aesthetic?authSource=admin",
	    out, sizeof(out));
	assert_string_equal(out,
	    "mongodb://silo:****@127.0.0.1:27017/aesthetic?authSource=admin");
	config_mask_uri("mongodb+srv://a:b@c.mongodb.net", out, sizeof(out));
	assert_string_equal(out, "mongodb+srv://a:****@c.mongodb.net");
	config_mask_uri("mongodb://h/?tls=true&tlsCertificateKeyFilePassword=pw&x=1",
	    out, sizeof(out));
	assert_string_equal(out,
	    "mongodb://h/?tls=true&tlsCertificateKeyFilePassword=****&x=1");
	config_mask_uri("mongodb://127.0.0.1:27017", out, sizeof(out));
	assert_string_equal(out, "mongodb://127.0.0.1:27017");
	config_mask_uri("mongodb://user:pw@h", out, 12);
	assert_int_equal(strlen(out), 11);
}

/*
 * The one URL parser (libcurl's URL API, and silo's rules on top): what it
 * accepts, the host and authority it finds, and why it refuses.
 */
static void
test_url_parse(void **state)
{
	static const struct {
		const char	*url;		/* as configured */
		const char	*host;		/* found, or NULL: refused */
		const char	*authority;	/* found; if refused, why */
		bool		 bare;		/* nothing after host[:port] */
	} cases[] = {
		{ "https://sfo3.digitaloceanspaces.com",
		  "sfo3.digitaloceanspaces.com", "sfo3.digitaloceanspaces.com",
		  true },
		{ "https://sfo3.digitaloceanspaces.com/",
		  "sfo3.digitaloceanspaces.com", "sfo3.digitaloceanspaces.com",
		  true },
		{ "http://h//", "h", "h", true },
		{ "HTTPS://h", "h", "h", true },
		{ "https://AMS3.Example.com:443", "AMS3.Example.com",
		  "AMS3.Example.com:443", true },
		{ "http://127.0.0.1:9000", "127.0.0.1", "127.0.0.1:9000",
		  true },
		{ "http://h:65535", "h", "h:65535", true },
		{ "http://[::1]:9000", "[::1]", "[::1]:9000", true },
		{ "http://[::1]/", "[::1]", "[::1]", true },
		{ "http://[fe80::1%25eth0]:9000", "[fe80::1%25eth0]",
		  "[fe80::1%25eth0]:9000", true },
		{ "https://at.example/xrpc", "at.example", "at.example",
		  false },
		{ "http://h/?", "h", "h", false },
		{ "http://h#top", "h", "h", false },
		/* Refused: no or another scheme, no host, bad ports. */
		{ "oven.local", NULL, "Bad scheme", false },
		{ "//oven.local", NULL, "Bad scheme", false },
		{ "ftp://x", NULL, "the scheme must be http or https", false },
		{ "file:///etc/passwd", NULL, "http or https", false },
		{ "http://", NULL, "No host part", false },
		{ "https:///path", NULL, "followed by // and the host", false },
		{ "http:/h", NULL, "followed by // and the host", false },
		{ "http:h", NULL, "slashes", false },
		{ "http://h:abc", NULL, "Port number", false },
		{ "http://h:65536", NULL, "Port number", false },
		{ "http://h:0", NULL, "from 1 to 65535", false },
		{ "http://[::1", NULL, "IPv6", false },
		/* Refused: user or password, shown wherever the URL is. */
		{ "https://u:hunter2@h/", NULL, "user or password", false },
		{ "https://u@h/", NULL, "user or password", false },
		{ "https://@h/", NULL, "user or password", false },
		/* Refused: blanks and control characters anywhere. */
		{ "http://h /", NULL, "Bad hostname", false },
		{ "http://h/a b", NULL, "Bad path", false },
		{ " http://h", NULL, "Bad scheme", false },
		{ "http://h/\x7f", NULL, "Bad path", false },
		{ "http://h\t/", NULL, "Bad hostname", false },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct config_url	 u;
		char			 why[128] = "";
		int			 rc;

		rc = config_url_parse(cases[i].url, &u, why, sizeof(why));
		if (cases[i].host == NULL) {
			if (rc != -1)
				fail_msg("'%s' was accepted", cases[i].url);
			if (strstr(why, cases[i].authority) == NULL)
				fail_msg("'%s': '%s' does not mention '%s'",
				    cases[i].url, why, cases[i].authority);
			continue;
		}
		if (rc != 0)
			fail_msg("'%s' was refused: %s", cases[i].url, why);
		assert_string_equal(u.scheme,
		    strncasecmp(cases[i].url, "https", 5) == 0 ?
		    "https" : "http");
		assert_string_equal(u.host, cases[i].host);
		assert_string_equal(u.authority, cases[i].authority);
		assert_int_equal(u.bare, cases[i].bare);
	}
}

/* A bad URL is named with its value, but never with its password. */
static void
test_bad_url_hides_its_password(void **state)
{
	struct silo_config	 c;
	char			 err[1024];

	setenv("MONGODB_CONNECTION_STRING", "mongodb://127.0.0.1", 1);
	setenv("PDS_URL", "https://silo:hunter2@at.example", 1);
	setenv("OVEN_URL", "ftp://oven.example", 1);
	assert_int_equal(config_load(&c, NULL, NULL, 0, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "PDS_URL='https://silo:****@at.example' "
	    "(environment): expected an http:// or https:// URL "
	    "(a user or password does not belong in it)"));
	assert_non_null(strstr(err, "OVEN_URL='ftp://oven.example' "
	    "(environment): expected an http:// or https:// URL "
	    "(the scheme must be http or https)"));
	assert_null(strstr(err, "hunter2"));
}

static void
test_tokens_are_checked_without_echoing_them(void **state)
{
	const char *want[] = {
	    "SILO_ADMIN_TOKEN (environment): a token must be 32 to 256 "
	    "characters, this one has 6",
	    "SILO_READ_TOKEN (environment): a token may hold only printable "
	    "ASCII without spaces; character 5 is not",
	};
	struct silo_config	 c;
	char			 err[1024];

	setenv("MONGODB_CONNECTION_STRING", "mongodb://127.0.0.1", 1);
	setenv("SILO_ADMIN_TOKEN", "hunter", 1);
	setenv("SILO_READ_TOKEN", "abcd efghijklmnopqrstuvwxyz0123456789", 1);
	expect_problems(NULL, want, 2);
	assert_int_equal(config_load(&c, NULL, NULL, 0, err, sizeof(err)), -1);
	assert_null(strstr(err, "hunter"));
	assert_null(strstr(err, "efghij"));

	setenv("SILO_ADMIN_TOKEN", "0123456789abcdef0123456789abcdef", 1);
	unsetenv("SILO_READ_TOKEN");
	assert_int_equal(config_load(&c, NULL, NULL, 0, err, sizeof(err)), 0);
	assert_string_equal(c.admin_token, "0123456789abcdef0123456789abcdef");
	assert_null(c.read_token);
	config_free(&c);
}

static void
test_print_masks_secrets(void **state)
{
	char	 buf[8192];
	FILE	*f = tmpfile();
	size_t	 n;

	setenv("MONGODB_CONNECTION_STRING", "mongodb://silo:s3cretpw@db:27017", 1);
	setenv("SPACES_SECRET", "very-secret-value", 1);
	setenv("SPACES_KEY", "DO00KEYKEYKEY", 1);
	setenv("SILO_ADMIN_TOKEN", "admintokenadmintokenadmintoken0123", 1);
	assert_int_equal(config_print(f, NULL, NULL, 0), 0);
	rewind(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	assert_null(strstr(buf, "s3cretpw"));
	assert_null(strstr(buf, "very-secret-value"));
	assert_null(strstr(buf, "DO00KEYKEYKEY"));
	assert_null(strstr(buf, "admintoken"));
	assert_non_null(strstr(buf, "SILO_ADMIN_TOKEN=****"));
	assert_non_null(strstr(buf, "MONGODB_CONNECTION_STRING=mongodb://silo:****@db:27017"));
	assert_non_null(strstr(buf, "SPACES_SECRET=****"));
	assert_non_null(strstr(buf, "SPACES_KEY=DO00****"));
	assert_non_null(strstr(buf, "MONGODB_NAME=aesthetic\t# default"));
	assert_non_null(strstr(buf, "# configuration is valid"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_defaults, clean_env, remove_file),
		cmocka_unit_test_setup_teardown(test_env_file_syntax, clean_env, remove_file),
		cmocka_unit_test_setup_teardown(test_precedence_flag_env_file_default, clean_env, remove_file),
		cmocka_unit_test_setup_teardown(test_missing_required, clean_env, remove_file),
		cmocka_unit_test_setup_teardown(test_bad_values_name_variable_value_and_source, clean_env, remove_file),
		cmocka_unit_test_setup_teardown(test_probe_and_cache_settings, clean_env, remove_file),
		cmocka_unit_test_setup_teardown(test_bad_mongo_uris_say_why_without_echoing_the_password, clean_env, remove_file),
		cmocka_unit_test_setup_teardown(test_env_file_errors_name_file_and_line, clean_env, remove_file),
		cmocka_unit_test_setup_teardown(test_missing_env_file, clean_env, remove_file),
		cmocka_unit_test_setup_teardown(test_listen_forms, clean_env, remove_file),
		cmocka_unit_test_setup_teardown(test_mask_uri, clean_env, remove_file),
		cmocka_unit_test_setup_teardown(test_url_parse, clean_env,
		    remove_file),
		cmocka_unit_test_setup_teardown(test_bad_url_hides_its_password,
		    clean_env, remove_file),
		cmocka_unit_test_setup_teardown(test_tokens_are_checked_without_echoing_them, clean_env, remove_file),
		cmocka_unit_test_setup_teardown(test_print_masks_secrets, clean_env, remove_file),
	};
	return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
