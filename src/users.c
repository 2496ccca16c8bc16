/*
 * users.c: the people who may sign in, and `silo user`.
 *
 * A person is one document in silo.users, keyed by their name: a role
 * (admin or viewer, access.c says what each may do), the scrypt hash of
 * their password (password.c), and optionally a TOTP secret (totp.c)
 * with the last time step a code was accepted at.  People are made and
 * changed only from the command line, on the droplet, by whoever can run
 * silo with its configuration: there is no sign-up and no API that
 * writes a user, so the web can take nothing it was not given.
 *
 * users_authenticate() is the whole check of a sign-in: the name, the
 * password, and the code when the user has TOTP.  Every failure is the
 * same "wrong" whatever was wrong, a missing user costs the same scrypt
 * as a wrong password (password_dummy_verify), and a code is accepted at
 * most once: the update that records its step matches only if the step
 * is newer than the last one, so two workers racing with the same code
 * cannot both win.  A good sign-in whose hash has weaker parameters than
 * today's is rehashed on the spot.
 *
 * Passwords come from a prompt without echo (asked twice) on a terminal,
 * or as the first line of standard input otherwise, so that scripts and
 * tools/stack can feed one; never from the command line, where any user
 * of the machine could read it in ps.  A TOTP secret is printed once, as
 * an otpauth:// URI, when `user add --totp` makes it.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "extern.h"

#define	USERS_PASSWORD_MIN	10	/* characters a password needs */
#define	USERS_PASSWORD_MAX	1024	/* and may have */
#define	USERS_TOTP_BYTES	20	/* a TOTP secret: 160 bits (RFC 4226) */
#define	USERS_TOTP_B32		33	/* its base32 and the NUL */

/* A name: 1 to 64 of [a-z0-9._-], starting with a letter or digit, so
 * it is safe in a log line, a table and a throttle key. */
bool
users_name_valid(const char *name)
{
	size_t	 len;

	if (name == NULL || (len = strlen(name)) == 0 ||
	    len > PRINCIPAL_NAME_MAX ||
	    strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789._-") != len)
		return false;
	return name[0] != '.' && name[0] != '-' && name[0] != '_';
}

/* Record that code step was used, if it is newer than the last one;
 * false when another request used it first (or on an error, e set). */
static bool
users_totp_take(struct mongo *m, const char *name, int64_t step,
    bson_error_t *e)
{
	mongoc_collection_t	*c = mongoc_client_get_collection(m->client,
				    AUTH_DB, AUTH_USERS);
	bson_t			*filter = BCON_NEW("_id", BCON_UTF8(name),
				    "totp_step", "{", "$lt", BCON_INT64(step),
				    "}");
	bson_t			*set = BCON_NEW("$set", "{", "totp_step",
				    BCON_INT64(step), "}");
	bson_t			 reply;
	bool			 ok;

	ok = mongoc_collection_update_one(c, filter, set, NULL, &reply, e) &&
	    mongo_get_int64(&reply, "modifiedCount", 0) == 1;
	bson_destroy(&reply);
	bson_destroy(set);
	bson_destroy(filter);
	mongoc_collection_destroy(c);
	return ok;
}

/* Does the user's TOTP secret accept code now, for the first time? */
static enum users_auth
users_check_code(struct mongo *m, const bson_t *user, const char *name,
    const char *code, bson_error_t *e)
{
	const char	*b32 = mongo_get_utf8(user, "totp");
	unsigned char	 secret[USERS_TOTP_BYTES];
	int64_t		 step;
	bool		 good;

	if (code == NULL || *code == '\0')
		return USERS_AUTH_CODE_NEEDED;
	if (totp_base32_decode(b32, secret, sizeof(secret)) !=
	    sizeof(secret))
		return USERS_AUTH_WRONG;
	good = totp_verify(secret, sizeof(secret), code,
	    clock_real_ms() / 1000, mongo_get_int64(user, "totp_step", -1),
	    &step);
	OPENSSL_cleanse(secret, sizeof(secret));
	if (!good)
		return USERS_AUTH_WRONG;
	if (!users_totp_take(m, name, step, e))
		return e->code != 0 ? USERS_AUTH_ERROR : USERS_AUTH_WRONG;
	return USERS_AUTH_OK;
}

/* After a good sign-in: the time, and today's hash parameters. */
static bool
users_signed_in(struct mongo *m, const char *name, const char *password,
    const char *stored, bson_error_t *e)
{
	mongoc_collection_t	*c;
	char			 phc[PASSWORD_PHC_MAX];
	bson_t			*filter, *set;
	bool			 ok;

	filter = BCON_NEW("_id", BCON_UTF8(name));
	if (password_needs_rehash(stored) &&
	    password_hash(password, phc, sizeof(phc)) == 0)
		set = BCON_NEW("$set", "{", "last_login",
		    BCON_DATE_TIME(clock_real_ms()), "password",
		    BCON_UTF8(phc), "}");
	else
		set = BCON_NEW("$set", "{", "last_login",
		    BCON_DATE_TIME(clock_real_ms()), "}");
	c = mongoc_client_get_collection(m->client, AUTH_DB, AUTH_USERS);
	ok = mongoc_collection_update_one(c, filter, set, NULL, NULL, e);
	mongoc_collection_destroy(c);
	bson_destroy(set);
	bson_destroy(filter);
	return ok;
}

enum users_auth
users_authenticate(struct mongo *m, const char *name, const char *password,
    const char *code, enum user_role *role, bson_error_t *e)
{
	bson_t			*filter;
	bson_t			 user;
	const char		*stored;
	enum users_auth		 result;

	memset(e, 0, sizeof(*e));
	if (!users_name_valid(name)) {
		password_dummy_verify(password);
		return USERS_AUTH_WRONG;
	}
	filter = BCON_NEW("_id", BCON_UTF8(name));
	if (!mongo_find_one(m, AUTH_DB, AUTH_USERS, filter, NULL, &user, e)) {
		bson_destroy(filter);
		if (e->code != 0)
			return USERS_AUTH_ERROR;
		password_dummy_verify(password);
		return USERS_AUTH_WRONG;
	}
	bson_destroy(filter);
	stored = mongo_get_utf8(&user, "password");
	if (!password_verify(password, stored))
		result = USERS_AUTH_WRONG;
	else if (mongo_get_utf8(&user, "totp") != NULL)
		result = users_check_code(m, &user, name, code, e);
	else
		result = USERS_AUTH_OK;
	if (result == USERS_AUTH_OK) {
		if (scope_role_parse(mongo_get_utf8(&user, "role"), role) == -1)
			*role = ROLE_VIEWER;
		if (!users_signed_in(m, name, password, stored, e))
			result = USERS_AUTH_ERROR;
	}
	bson_destroy(&user);
	return result;
}

/* ------------------------------------------------------------------ */
/* silo user                                                           */
/* ------------------------------------------------------------------ */

/* Read a line from f without its newline into buf; -1 at EOF. */
static int
users_read_line(FILE *f, char *buf, size_t bufsz)
{
	size_t	 len;

	if (fgets(buf, (int)bufsz, f) == NULL)
		return -1;
	len = strcspn(buf, "\r\n");
	buf[len] = '\0';
	return 0;
}

/* Ask for a line on the terminal with echo off. */
static int
users_prompt(FILE *tty, const char *prompt, char *buf, size_t bufsz)
{
	struct termios	 old, quiet;
	int		 fd = fileno(tty), rc;

	fprintf(stderr, "%s", prompt);
	fflush(stderr);
	if (tcgetattr(fd, &old) == -1)
		return -1;
	quiet = old;
	quiet.c_lflag &= ~(tcflag_t)ECHO;
	tcsetattr(fd, TCSAFLUSH, &quiet);
	rc = users_read_line(tty, buf, bufsz);
	tcsetattr(fd, TCSAFLUSH, &old);
	fprintf(stderr, "\n");
	return rc;
}

/* A new password: prompted twice on a terminal, else stdin's first line;
 * checked for length.  0, or -1 (said). */
static int
users_new_password(const char *cmd, char *pw, size_t pwsz)
{
	char	 again[USERS_PASSWORD_MAX + 2];
	size_t	 len;
	int	 rc = 0;

	if (isatty(STDIN_FILENO)) {
		if (users_prompt(stdin, "new password: ", pw, pwsz) == -1 ||
		    users_prompt(stdin, "again: ", again,
		    sizeof(again)) == -1) {
			log_err("%s: no password given", cmd);
			return -1;
		}
		if (strcmp(pw, again) != 0) {
			log_err("%s: the two passwords differ", cmd);
			rc = -1;
		}
		OPENSSL_cleanse(again, sizeof(again));
	} else if (users_read_line(stdin, pw, pwsz) == -1) {
		log_err("%s: no password on standard input", cmd);
		return -1;
	}
	len = strlen(pw);
	if (rc == 0 && len < USERS_PASSWORD_MIN) {
		log_err("%s: the password has %zu characters; it needs at "
		    "least %d", cmd, len, USERS_PASSWORD_MIN);
		rc = -1;
	} else if (rc == 0 && len > USERS_PASSWORD_MAX) {
		log_err("%s: the password is longer than %d characters", cmd,
		    USERS_PASSWORD_MAX);
		rc = -1;
	}
	return rc;
}

/* Open the job's database connection; 0, or -1 (said). */
static int
users_open(const struct silo_config *config, const char *cmd,
    struct mongo *m)
{
	char	 err[512];

	mongo_log_init();
	if (mongo_open_job(m, config, err, sizeof(err)) == -1) {
		log_err("%s: %s", cmd, err);
		return -1;
	}
	return 0;
}

/* A new TOTP secret in base32, into b32[USERS_TOTP_B32]. */
static int
users_totp_secret(char b32[USERS_TOTP_B32])
{
	unsigned char	 raw[USERS_TOTP_BYTES];

	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return -1;
	totp_base32(raw, sizeof(raw), b32);
	OPENSSL_cleanse(raw, sizeof(raw));
	return 0;
}

/* `silo user add NAME --role ROLE [--totp]`. */
int
users_add_main(const struct silo_config *config, const char *name,
    enum user_role role, bool with_totp)
{
	char			 pw[USERS_PASSWORD_MAX + 2];
	char			 phc[PASSWORD_PHC_MAX], b32[USERS_TOTP_B32];
	struct mongo		 m;
	mongoc_collection_t	*c;
	bson_t			*doc;
	bson_error_t		 e;
	int			 rc = 1;

	if (users_new_password("user add", pw, sizeof(pw)) == -1)
		goto out;
	if (password_hash(pw, phc, sizeof(phc)) == -1 ||
	    (with_totp && users_totp_secret(b32) == -1)) {
		log_err("user add: OpenSSL could not hash or draw a secret");
		goto out;
	}
	if (users_open(config, "user add", &m) == -1)
		goto out;
	doc = BCON_NEW("_id", BCON_UTF8(name), "role",
	    BCON_UTF8(scope_role_name(role)), "password", BCON_UTF8(phc),
	    "created", BCON_DATE_TIME(clock_real_ms()));
	if (with_totp) {
		BSON_APPEND_UTF8(doc, "totp", b32);
		BSON_APPEND_INT64(doc, "totp_step", -1);
	}
	c = mongoc_client_get_collection(m.client, AUTH_DB, AUTH_USERS);
	if (!mongoc_collection_insert_one(c, doc, NULL, NULL, &e))
		log_err("user add: %s: %s", name, e.code == 11000 ?
		    "a user of that name exists (silo user passwd changes "
		    "a password)" : e.message);
	else {
		rc = 0;
		fprintf(stderr, "user add: %s added as %s\n", name,
		    scope_role_name(role));
		if (with_totp)
			printf("otpauth://totp/silo:%s?secret=%s&issuer=silo\n",
			    name, b32);
		else if (role == ROLE_ADMIN)
			fprintf(stderr, "user add: %s is an admin without a "
			    "second factor; consider adding them with --totp\n",
			    name);
	}
	mongoc_collection_destroy(c);
	bson_destroy(doc);
	mongo_close(&m);
out:
	OPENSSL_cleanse(pw, sizeof(pw));
	OPENSSL_cleanse(b32, sizeof(b32));
	return rc;
}

/* Print one user's row of `silo user list`. */
static int
users_list_row(const bson_t *doc, void *arg)
{
	struct mongo	*m = arg;
	const char	*name = mongo_get_utf8(doc, "_id");
	char		 created[CLOCK_ISO_MAX], last[CLOCK_ISO_MAX];
	int64_t		 login = mongo_get_date(doc, "last_login", -1);
	int64_t		 sessions;
	bson_t		*filter;
	bson_error_t	 e;

	if (name == NULL)
		return 0;
	filter = BCON_NEW("user", BCON_UTF8(name));
	sessions = mongo_count_in(m, AUTH_DB, AUTH_SESSIONS, filter, &e);
	bson_destroy(filter);
	if (!clock_iso(mongo_get_date(doc, "created", 0), CLOCK_ISO_S, created,
	    sizeof(created)))
		snprintf(created, sizeof(created), "-");
	if (login < 0 || !clock_iso(login, CLOCK_ISO_S, last, sizeof(last)))
		snprintf(last, sizeof(last), "never");
	printf("%-24s %-7s %-4s %-20s %-20s %lld\n", name,
	    mongo_get_utf8(doc, "role") != NULL ?
	    mongo_get_utf8(doc, "role") : "-",
	    mongo_get_utf8(doc, "totp") != NULL ? "yes" : "no", created, last,
	    (long long)sessions);
	return 0;
}

/* `silo user list`. */
int
users_list_main(const struct silo_config *config)
{
	struct mongo	 m;
	bson_t		*filter, *opts;
	bson_error_t	 e;
	bool		 ok;

	if (users_open(config, "user list", &m) == -1)
		return 1;
	filter = bson_new();
	opts = BCON_NEW("sort", "{", "_id", BCON_INT32(1), "}");
	printf("%-24s %-7s %-4s %-20s %-20s %s\n", "NAME", "ROLE", "TOTP",
	    "CREATED", "LAST SIGN-IN", "SESSIONS");
	ok = mongo_find_each(&m, AUTH_DB, AUTH_USERS, filter, opts,
	    users_list_row, &m, &e);
	if (!ok)
		log_err("user list: reading %s.%s: %s", AUTH_DB, AUTH_USERS,
		    e.message);
	bson_destroy(opts);
	bson_destroy(filter);
	mongo_close(&m);
	return ok ? 0 : 1;
}

/* Apply update (or delete, when update is NULL) to user name, then end
 * their sessions; the exit status, with what happened said. */
static int
users_change(const struct silo_config *config, const char *cmd,
    const char *name, const bson_t *update)
{
	struct mongo		 m;
	mongoc_collection_t	*c;
	bson_t			*filter, reply;
	bson_error_t		 e;
	int64_t			 matched = 0, ended = 0;
	bool			 ok;

	if (users_open(config, cmd, &m) == -1)
		return 1;
	filter = BCON_NEW("_id", BCON_UTF8(name));
	c = mongoc_client_get_collection(m.client, AUTH_DB, AUTH_USERS);
	if (update != NULL) {
		ok = mongoc_collection_update_one(c, filter, update, NULL,
		    &reply, &e);
		matched = mongo_get_int64(&reply, "matchedCount", 0);
	} else {
		ok = mongoc_collection_delete_one(c, filter, NULL, &reply,
		    &e);
		matched = mongo_get_int64(&reply, "deletedCount", 0);
	}
	bson_destroy(&reply);
	if (ok && matched == 1 && (ended = session_end_user(&m, name,
	    &e)) < 0)
		ok = false;
	if (!ok)
		log_err("%s: %s: %s", cmd, name, e.message);
	else if (matched != 1)
		log_err("%s: no user named %s (silo user list shows them)",
		    cmd, name);
	else
		fprintf(stderr, "%s: %s: done; %lld session%s ended\n", cmd,
		    name, (long long)ended, ended == 1 ? "" : "s");
	mongoc_collection_destroy(c);
	bson_destroy(filter);
	mongo_close(&m);
	return ok && matched == 1 ? 0 : 1;
}

/* `silo user passwd NAME`: a new password, and every session ended. */
int
users_passwd_main(const struct silo_config *config, const char *name)
{
	char	 pw[USERS_PASSWORD_MAX + 2], phc[PASSWORD_PHC_MAX];
	bson_t	*set;
	int	 rc = 1;

	if (users_new_password("user passwd", pw, sizeof(pw)) == 0) {
		if (password_hash(pw, phc, sizeof(phc)) == -1)
			log_err("user passwd: OpenSSL could not hash");
		else {
			set = BCON_NEW("$set", "{", "password", BCON_UTF8(phc),
			    "changed", BCON_DATE_TIME(clock_real_ms()), "}");
			rc = users_change(config, "user passwd", name, set);
			bson_destroy(set);
		}
	}
	OPENSSL_cleanse(pw, sizeof(pw));
	return rc;
}

/* `silo user remove NAME`. */
int
users_remove_main(const struct silo_config *config, const char *name)
{
	return users_change(config, "user remove", name, NULL);
}

/* `silo user logout-all NAME`: every session of the user ended. */
int
users_logout_all_main(const struct silo_config *config, const char *name)
{
	bson_t	*touch = BCON_NEW("$set", "{", "sessions_ended",
		    BCON_DATE_TIME(clock_real_ms()), "}");
	int	 rc = users_change(config, "user logout-all", name, touch);

	bson_destroy(touch);
	return rc;
}
