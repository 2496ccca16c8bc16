/*
 * config.c: silo's configuration, from the environment and an env file.
 *
 * AC's services are configured through environment variables kept in .env
 * files, and silo uses the names AC already uses where one exists
 * (MONGODB_CONNECTION_STRING, MONGODB_NAME, SPACES_*, OVEN_URL, ...).  Its
 * own settings are SILO_*.
 *
 * Every variable is one row of config_vars[]: its name, how to parse it,
 * its default, whether it is secret, and where it lands in struct
 * silo_config.  Loading, validation and `silo config check` all walk that
 * one table, so a variable cannot be parsed without being documented or
 * printed without being masked.
 *
 * Precedence, highest first: a command-line option, the process
 * environment, the env file, the built-in default.  The environment beats
 * the file as with every dotenv reader, and because systemd's
 * EnvironmentFile= puts the same file into the environment anyway.
 *
 * The env file is read the way systemd reads EnvironmentFile=: KEY=VALUE
 * lines, '#' comments on their own lines, optional "export ", single or
 * double quotes.  Keys that are not silo's are ignored (the file may be
 * shared with other AC services); an unknown SILO_* key is an error,
 * because it is almost always a typo that would otherwise be silently
 * ignored.
 *
 * Every problem is reported as one line naming the variable, the value and
 * where it came from, and all problems are reported at once.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <mongoc/mongoc.h>

#include "extern.h"

/* SILO_SYSCONFDIR and SILO_LOCALSTATEDIR: the GNU directories configure
 * chose, in config.h. */
#define	CONFIG_DEFAULT_ENV_FILE	SILO_SYSCONFDIR "/silo/silo.env"
#define	CONFIG_MAX_FILE_VARS	256	/* keys kept from one env file */
#define	CONFIG_LINE_MAX		4096	/* longest env-file line */

/* How a variable's text becomes a value. */
enum var_kind {
	VAR_STRING,		/* any text, copied */
	VAR_NAME,		/* a MongoDB database name */
	VAR_URL,		/* an http(s) URL */
	VAR_MONGO_URI,		/* a MongoDB connection string */
	VAR_LISTEN,		/* SILO_LISTEN syntax */
	VAR_INT,		/* a whole number in [min, max] */
	VAR_WORKERS,		/* VAR_INT, or "auto" for 2 x cores */
	VAR_MODE,		/* an octal file mode */
	VAR_SIZE,		/* bytes, with optional k/M suffix */
	VAR_LOG_LEVEL,		/* error, warning, info or debug */
	VAR_TOKEN,		/* a bearer token: 32+ printable characters */
	VAR_PATH,		/* an absolute path, at most max bytes if max */
	VAR_BUCKETS,		/* comma-separated S3 bucket names */
	VAR_CLIENTS,		/* comma-separated name:match pairs */
	VAR_ADDRESSING		/* auto, path or virtual */
};

/* How a variable is shown by `silo config check`. */
enum var_secrecy {
	SHOW,			/* as it is */
	MASK_URI,		/* a URI whose password is masked */
	MASK_PARTIAL,		/* first four characters, then "****" */
	MASK_ALL		/* "****" when set */
};

/* One configuration variable. */
struct config_var {
	const char	*name;		/* environment variable name */
	enum var_kind	 kind;		/* how to parse it */
	const char	*def;		/* default text; NULL: unset */
	bool		 required;	/* unset is an error */
	enum var_secrecy secrecy;	/* how to print it */
	size_t		 offset;	/* field in struct silo_config */
	/* bounds for VAR_INT and VAR_SIZE; max is VAR_PATH's length */
	long		 min, max;
	const char	*doc;		/* one line for config check, --help */
};

#define	OFF(f)	offsetof(struct silo_config, f)

static const struct config_var config_vars[] = {
	{ "MONGODB_CONNECTION_STRING", VAR_MONGO_URI, NULL, true, MASK_URI,
	  OFF(mongo_uri), 0, 0, "MongoDB connection string" },
	{ "MONGODB_NAME", VAR_NAME, "aesthetic", false, SHOW,
	  OFF(mongo_db), 0, 0, "AC's database name" },
	{ "SILO_SYNC_FROM", VAR_MONGO_URI, NULL, false, MASK_URI,
	  OFF(sync_from), 0, 0,
	  "the live database `silo sync` catches up from (--from)" },
	{ "SILO_LISTEN", VAR_LISTEN, "auto", false, SHOW,
	  0, 0, 0,
	  "FastCGI socket: unix:PATH, tcp:HOST:PORT, stdin, systemd or auto" },
	{ "SILO_SOCKET_OWNER", VAR_STRING, NULL, false, SHOW,
	  OFF(socket_owner), 0, 0, "owner (user or uid) of the unix socket" },
	{ "SILO_SOCKET_GROUP", VAR_STRING, NULL, false, SHOW,
	  OFF(socket_group), 0, 0, "group (name or gid) of the unix socket" },
	{ "SILO_SOCKET_MODE", VAR_MODE, "0660", false, SHOW,
	  OFF(socket_mode), 0, 0777, "permissions of the unix socket (octal)" },
	{ "SILO_WORKERS", VAR_WORKERS, "auto", false, SHOW,
	  OFF(workers), 1, 256, "worker processes (auto: 2 x cores)" },
	{ "SILO_LISTEN_BACKLOG", VAR_INT, "1024", false, SHOW,
	  OFF(listen_backlog), 16, 65535,
	  "connections the socket queues for a free worker "
	  "(at most somaxconn)" },
	{ "SILO_BUSY_MAX", VAR_INT, "0", false, SHOW,
	  OFF(busy_max), 0, 256,
	  "workers at once on expensive uncached work "
	  "(0: half the pool, at least 1)" },
	{ "SILO_DB_TIMEOUT_MS", VAR_INT, "1500", false, SHOW,
	  OFF(db_timeout_ms), 100, 60000,
	  "bound on connecting to and waiting on MongoDB" },
	{ "SILO_DB_SLOW_MS", VAR_INT, "250", false, SHOW,
	  OFF(db_slow_ms), 1, 60000, "ping slower than this reports degraded" },
	{ "SILO_DB_CLIENTS", VAR_CLIENTS, NULL, false, SHOW,
	  OFF(db_clients), 0, 0,
	  "AC's services /api/db/clients looks for: name:match, "
	  "comma-separated (match: an application name or an address)" },
	{ "SILO_MAX_BODY", VAR_SIZE, "1M", false, SHOW,
	  OFF(max_body), 0, 64L << 20, "largest request body accepted" },
	{ "SILO_SHUTDOWN_TIMEOUT", VAR_INT, "30", false, SHOW,
	  OFF(shutdown_timeout_s), 1, 3600,
	  "seconds in-flight requests get on stop" },
	{ "SILO_LOG_LEVEL", VAR_LOG_LEVEL, "info", false, SHOW,
	  OFF(log_level), 0, 0, "error, warning, info or debug" },
	{ "OVEN_URL", VAR_URL, "https://oven.aesthetic.computer", false, SHOW,
	  OFF(oven_url), 0, 0, "AC's oven service" },
	{ "SESSION_URL", VAR_URL,
	  "https://session-server.aesthetic.computer", false, SHOW,
	  OFF(session_url), 0, 0, "AC's session server" },
	{ "PDS_URL", VAR_URL, "https://at.aesthetic.computer", false, SHOW,
	  OFF(pds_url), 0, 0, "AC's ATProto PDS" },
	{ "SILO_PROBE_TIMEOUT_MS", VAR_INT, "2000", false, SHOW,
	  OFF(probe_timeout_ms), 100, 60000,
	  "bound on a whole probe of AC's other services" },
	{ "SILO_PROBE_CONNECT_MS", VAR_INT, "1000", false, SHOW,
	  OFF(probe_connect_ms), 50, 60000,
	  "bound on connecting to a probed service "
	  "(at most SILO_PROBE_TIMEOUT_MS)" },
	{ "SILO_CACHE_TTL_S", VAR_INT, "30", false, SHOW,
	  OFF(cache_ttl_s), 0, 86400,
	  "seconds a probe or summary is reused by every worker "
	  "(0: never cached)" },
	{ "SILO_CACHE_DIR", VAR_PATH, SILO_LOCALSTATEDIR "/cache/silo", false,
	  SHOW, OFF(cache_dir), 0, 200,
	  "directory of the cache the workers share "
	  "(systemd's CacheDirectory)" },
	{ "SPACES_KEY", VAR_STRING, NULL, false, MASK_PARTIAL,
	  OFF(spaces_key), 0, 0, "DigitalOcean Spaces access key" },
	{ "SPACES_SECRET", VAR_STRING, NULL, false, MASK_ALL,
	  OFF(spaces_secret), 0, 0, "DigitalOcean Spaces secret key" },
	{ "SILO_ADMIN_TOKEN", VAR_TOKEN, NULL, false, MASK_ALL,
	  OFF(admin_token), 0, 0,
	  "bootstrap bearer token holding every scope (prefer silo token "
	  "create); unset: none" },
	{ "SILO_READ_TOKEN", VAR_TOKEN, NULL, false, MASK_ALL,
	  OFF(read_token), 0, 0,
	  "bootstrap bearer token holding the read:* scopes; unset: none" },
	{ "SILO_SESSION_IDLE_S", VAR_INT, "28800", false, SHOW,
	  OFF(session_idle_s), 60, 30 * 86400,
	  "seconds a sign-in session may go unused before it ends" },
	{ "SILO_SESSION_MAX_S", VAR_INT, "604800", false, SHOW,
	  OFF(session_max_s), 60, 366 * 86400,
	  "seconds after sign-in a session ends, however much it is used" },
	{ "SPACES_ENDPOINT", VAR_URL,
	  "https://sfo3.digitaloceanspaces.com", false, SHOW,
	  OFF(spaces_endpoint), 0, 0, "DigitalOcean Spaces endpoint" },
	{ "SPACES_REGION", VAR_STRING, NULL, false, SHOW,
	  OFF(spaces_region), 0, 0,
	  "signing region (unset: from a DO endpoint, else us-east-1)" },
	{ "SPACES_ADDRESSING", VAR_ADDRESSING, "auto", false, SHOW,
	  OFF(spaces_path_style), 0, 0,
	  "path, virtual, or auto (virtual for *.digitaloceanspaces.com)" },
	{ "SPACES_BUCKETS", VAR_BUCKETS, NULL, false, SHOW,
	  OFF(spaces_buckets), 0, 0,
	  "buckets `silo storage refresh` walks, comma-separated" },
	{ "USER_SPACE_NAME", VAR_STRING, "user-aesthetic-computer", false, SHOW,
	  OFF(user_bucket), 0, 0,
	  "AC's signed-in uploads bucket (keys start with the sub)" },
	{ "ART_SPACE_NAME", VAR_STRING, "art-aesthetic-computer", false, SHOW,
	  OFF(art_bucket), 0, 0, "AC's guest uploads and renders bucket" },
	{ "AT_BLOBS_SPACE_NAME", VAR_STRING,
	  "at-blobs-aesthetic-computer", false, SHOW,
	  OFF(tapes_bucket), 0, 0,
	  "AC's tape MP4 and thumbnail bucket (tapes/<code>.mp4)" },
	{ "SILO_STORAGE_HISTORY", VAR_INT, "720", false, SHOW,
	  OFF(storage_history), 2, 100000,
	  "storage snapshots kept, failed ones included" },
	{ "SILO_STORAGE_TOP_OBJECTS", VAR_INT, "100", false, SHOW,
	  OFF(storage_top_objects), 1, 10000,
	  "largest objects a snapshot lists" },
	{ "SILO_STORAGE_LOCK", VAR_PATH,
	  SILO_LOCALSTATEDIR "/lib/silo/storage-refresh.lock", false, SHOW,
	  OFF(storage_lock), 0, 0, "lock file: one storage refresh at a time" },
	{ "SILO_STORAGE_LOG", VAR_PATH,
	  SILO_LOCALSTATEDIR "/log/silo/storage-refresh.log", false, SHOW,
	  OFF(storage_log), 0, 0,
	  "where a refresh started by the API writes its output" },
	{ "SILO_BACKUP_BUCKET", VAR_STRING, NULL, false, SHOW,
	  OFF(backup_bucket), 0, 0, "the bucket `silo backup` writes to" },
	{ "SILO_BACKUP_PREFIX", VAR_STRING, "silo-backups/", false, SHOW,
	  OFF(backup_prefix), 0, 0, "key prefix of backups in that bucket" },
	{ "SILO_BACKUP_KEY", VAR_PATH, SILO_SYSCONFDIR "/silo/backup.key",
	  false, SHOW, OFF(backup_key), 0, 0,
	  "the backup encryption key file (silo backup keygen)" },
	{ "SILO_BACKUP_PART_SIZE", VAR_SIZE, "8M", false, SHOW,
	  OFF(backup_part_size), 5L << 20, 512L << 20,
	  "multipart upload part size: the memory a backup's upload holds" },
	{ "SILO_BACKUP_LOCK", VAR_PATH,
	  SILO_LOCALSTATEDIR "/lib/silo/backup.lock", false, SHOW,
	  OFF(backup_lock), 0, 0, "lock file: one backup at a time" },
	{ "SILO_BACKUP_LOG", VAR_PATH,
	  SILO_LOCALSTATEDIR "/log/silo/backup.log", false, SHOW,
	  OFF(backup_log), 0, 0,
	  "where a backup started by the API writes its output" },
	{ "SILO_BACKUP_STALE_H", VAR_INT, "26", false, SHOW,
	  OFF(backup_stale_h), 1, 24 * 366,
	  "hours after which the last good backup is stale (/api/backups)" },
	{ "SILO_BACKUP_KEEP_DAILY", VAR_INT, "7", false, SHOW,
	  OFF(backup_keep_daily), 0, 3650,
	  "silo backup prune: days whose newest backup is kept" },
	{ "SILO_BACKUP_KEEP_WEEKLY", VAR_INT, "4", false, SHOW,
	  OFF(backup_keep_weekly), 0, 3650,
	  "silo backup prune: ISO weeks whose newest backup is kept" },
	{ "SILO_BACKUP_KEEP_MONTHLY", VAR_INT, "6", false, SHOW,
	  OFF(backup_keep_monthly), 0, 3650,
	  "silo backup prune: months whose newest backup is kept" },
	{ "SILO_CACHE_MAX_BYTES", VAR_SIZE, "64M", false, SHOW,
	  OFF(cache_max_bytes), 64L << 10, 4096L << 20,
	  "bytes of values the shared cache keeps, oldest evicted first" },
	{ "SILO_CACHE_MAX_ENTRIES", VAR_INT, "1000", false, SHOW,
	  OFF(cache_max_entries), 16, 1000000,
	  "values the shared cache keeps, oldest evicted first" },
	{ "SILO_CACHE_MAX_VARIANTS", VAR_INT, "32", false, SHOW,
	  OFF(cache_max_variants), 0, 100000,
	  "of those, values for query parameters outside a route's defaults" },
};
#define	CONFIG_NVARS	(sizeof(config_vars) / sizeof(config_vars[0]))

/* One KEY=VALUE read from the env file. */
struct file_var {
	char		*key;		/* the variable name */
	char		*value;		/* its unquoted value */
	unsigned	 line;		/* line number, for errors */
};

/* The env file's contents. */
struct env_file {
	const char	*path;		/* the file read, or NULL */
	/* its keys, the last of a key winning */
	struct file_var	 vars[CONFIG_MAX_FILE_VARS];
	size_t		 nvars;		/* how many are used */
};

/* One variable's value before parsing, and where it came from. */
struct resolved {
	const char	*text;		/* NULL when unset */
	enum config_source source;	/* where text came from */
	unsigned	 line;		/* env-file line when from the file */
};

/* An accumulating list of one-line problems. */
struct problems {
	char		*buf;		/* caller's buffer */
	size_t		 size;		/* its size */
	size_t		 len;		/* bytes used */
	int		 count;		/* problems recorded */
};

static void config_problem(struct problems *, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
config_problem(struct problems *p, const char *fmt, ...)
{
	va_list	 ap;
	int	 n;

	p->count++;
	if (p->buf == NULL || p->len + 1 >= p->size)
		return;
	if (p->len > 0)
		p->buf[p->len++] = '\n';
	va_start(ap, fmt);
	n = vsnprintf(p->buf + p->len, p->size - p->len, fmt, ap);
	va_end(ap);
	if (n > 0)
		p->len += (size_t)n < p->size - p->len ? (size_t)n :
		    p->size - p->len - 1;
}

const char *
config_default_env_file(void)
{
	const char	*env = getenv("SILO_ENV_FILE");

	if (env != NULL && *env != '\0')
		return env;
	return access(CONFIG_DEFAULT_ENV_FILE, F_OK) == 0 ?
	    CONFIG_DEFAULT_ENV_FILE : NULL;
}

static const struct config_var *
config_var_find(const char *name)
{
	for (size_t i = 0; i < CONFIG_NVARS; i++)
		if (strcmp(config_vars[i].name, name) == 0)
			return &config_vars[i];
	return NULL;
}

static void
config_env_file_free(struct env_file *ef)
{
	for (size_t i = 0; i < ef->nvars; i++) {
		free(ef->vars[i].key);
		free(ef->vars[i].value);
	}
	ef->nvars = 0;
}

/*
 * Unquote one env-file value in place semantics: returns a new string, or
 * NULL with *why set when the quoting is broken.
 */
static char *
config_env_file_value(const char *s, const char **why)
{
	size_t		 len = strlen(s);
	char		*out, *o;

	if (*s != '"' && *s != '\'') {
		while (len > 0 && isspace((unsigned char)s[len - 1]))
			len--;
		return strndup(s, len);
	}
	if ((out = malloc(len + 1)) == NULL) {
		*why = "out of memory";
		return NULL;
	}
	o = out;
	for (const char *p = s + 1; *p != '\0'; p++) {
		if (*p == *s) {
			for (p++; *p != '\0'; p++)
				if (!isspace((unsigned char)*p)) {
					*why = "text after the closing quote";
					free(out);
					return NULL;
				}
			*o = '\0';
			return out;
		}
		if (*s == '"' && *p == '\\' && p[1] != '\0') {
			p++;
			*o++ = *p == 'n' ? '\n' : *p;
		} else
			*o++ = *p;
	}
	*why = "unterminated quote";
	free(out);
	return NULL;
}

/* Store KEY=VALUE, replacing an earlier line with the same key. */
static int
config_env_file_put(struct env_file *ef, const char *key, size_t keylen,
    char *value, unsigned line, struct problems *p)
{
	struct file_var	*fv = NULL;

	for (size_t i = 0; i < ef->nvars; i++)
		if (strlen(ef->vars[i].key) == keylen &&
		    strncmp(ef->vars[i].key, key, keylen) == 0)
			fv = &ef->vars[i];
	if (fv == NULL) {
		if (ef->nvars == CONFIG_MAX_FILE_VARS) {
			config_problem(p, "%s:%u: more than %d variables",
			    ef->path, line, CONFIG_MAX_FILE_VARS);
			free(value);
			return -1;
		}
		fv = &ef->vars[ef->nvars++];
		fv->key = strndup(key, keylen);
	} else
		free(fv->value);
	fv->value = value;
	fv->line = line;
	return 0;
}

/* Parse one line of the env file. */
static void
config_env_file_line(struct env_file *ef, char *text, unsigned line,
    struct problems *p)
{
	const char	*key, *why = NULL;
	char		*s = text, *value;
	size_t		 keylen;

	while (isspace((unsigned char)*s))
		s++;
	if (*s == '\0' || *s == '#')
		return;
	if (strncmp(s, "export", 6) == 0 && isspace((unsigned char)s[6]))
		for (s += 6; isspace((unsigned char)*s); s++)
			continue;
	key = s;
	if (!isalpha((unsigned char)*s) && *s != '_') {
		config_problem(p, "%s:%u: expected KEY=VALUE, found '%.40s'",
		    ef->path, line, key);
		return;
	}
	while (isalnum((unsigned char)*s) || *s == '_')
		s++;
	keylen = (size_t)(s - key);
	if (*s != '=') {
		config_problem(p, "%s:%u: expected '=' after %.*s", ef->path,
		    line, (int)keylen, key);
		return;
	}
	if (keylen > 5 && strncmp(key, "SILO_", 5) == 0) {
		char	 name[128];

		snprintf(name, sizeof(name), "%.*s", (int)keylen, key);
		if (config_var_find(name) == NULL &&
		    strcmp(name, "SILO_ENV_FILE") != 0) {
			config_problem(p, "%s:%u: unknown variable %s",
			    ef->path, line, name);
			return;
		}
	}
	if ((value = config_env_file_value(s + 1, &why)) == NULL) {
		config_problem(p, "%s:%u: %.*s: %s", ef->path, line,
		    (int)keylen, key, why);
		return;
	}
	config_env_file_put(ef, key, keylen, value, line, p);
}

static int
config_env_file_read(struct env_file *ef, const char *path, struct problems *p)
{
	FILE		*f;
	char		 text[CONFIG_LINE_MAX];
	unsigned	 line = 0;
	int		 before = p->count;

	ef->path = path;
	if ((f = fopen(path, "r")) == NULL) {
		config_problem(p, "%s: %s", path, strerror(errno));
		return -1;
	}
	while (fgets(text, sizeof(text), f) != NULL) {
		size_t	 len = strlen(text);

		line++;
		if (len > 0 && text[len - 1] == '\n')
			text[--len] = '\0';
		else if (!feof(f)) {
			config_problem(p, "%s:%u: line longer than %d bytes",
			    path, line, CONFIG_LINE_MAX - 2);
			int c;
			while ((c = fgetc(f)) != EOF && c != '\n')
				continue;
			continue;
		}
		if (len > 0 && text[len - 1] == '\r')
			text[--len] = '\0';
		config_env_file_line(ef, text, line, p);
	}
	if (ferror(f))
		config_problem(p, "%s: read error", path);
	fclose(f);
	return p->count == before ? 0 : -1;
}

/* Decide each variable's text and source. */
static void
config_resolve(const struct env_file *ef, const struct config_override *ov,
    size_t nov, struct resolved out[CONFIG_NVARS])
{
	for (size_t i = 0; i < CONFIG_NVARS; i++) {
		const char	*name = config_vars[i].name, *env;
		struct resolved	*r = &out[i];

		r->text = config_vars[i].def;
		r->source = CONFIG_FROM_DEFAULT;
		r->line = 0;
		for (size_t j = 0; j < ef->nvars; j++)
			if (strcmp(ef->vars[j].key, name) == 0) {
				r->text = ef->vars[j].value;
				r->source = CONFIG_FROM_FILE;
				r->line = ef->vars[j].line;
			}
		if ((env = getenv(name)) != NULL) {
			r->text = env;
			r->source = CONFIG_FROM_ENV;
		}
		for (size_t j = 0; j < nov; j++)
			if (strcmp(ov[j].name, name) == 0) {
				r->text = ov[j].value;
				r->source = CONFIG_FROM_FLAG;
			}
		/* An empty value means unset, as in systemd and dotenv. */
		if (r->text != NULL && *r->text == '\0' &&
		    r->source != CONFIG_FROM_DEFAULT) {
			r->text = config_vars[i].def;
			if (r->text != NULL)
				r->source = CONFIG_FROM_DEFAULT;
		}
	}
}

static void
config_source_text(const struct env_file *ef, const struct resolved *r,
    char *buf, size_t bufsz)
{
	switch (r->source) {
	case CONFIG_FROM_DEFAULT:
		snprintf(buf, bufsz, "default");
		break;
	case CONFIG_FROM_FILE:
		snprintf(buf, bufsz, "%s:%u", ef->path, r->line);
		break;
	case CONFIG_FROM_ENV:
		snprintf(buf, bufsz, "environment");
		break;
	case CONFIG_FROM_FLAG:
		snprintf(buf, bufsz, "command line");
		break;
	}
}

static int
config_parse_size(const char *text, long *out)
{
	char		*end;
	unsigned long long v;
	unsigned	 shift = 0;

	if (!isdigit((unsigned char)*text))
		return -1;
	errno = 0;
	v = strtoull(text, &end, 10);
	if (errno != 0 || end == text)
		return -1;
	if (*end == 'k' || *end == 'K')
		shift = 10, end++;
	else if (*end == 'm' || *end == 'M')
		shift = 20, end++;
	if (*end != '\0' || v > (unsigned long long)(LONG_MAX >> shift))
		return -1;
	*out = (long)(v << shift);
	return 0;
}

/* One part of a parsed URL into out[outsz]; false when it is absent. */
static bool
config_url_part(CURLU *h, CURLUPart what, char *out, size_t outsz)
{
	char	*part = NULL;
	bool	 found;

	found = curl_url_get(h, what, &part, 0) == CURLUE_OK;
	if (found && out != NULL)
		snprintf(out, outsz, "%s", part);
	curl_free(part);
	return found;
}

/*
 * Parse text as an absolute http(s) URL with libcurl's URL API, the parser
 * the requests themselves go through, so that what is accepted here is
 * what curl will connect to.  On top of curl's rules: exactly "//" and a
 * host after the scheme (curl also takes "http:/h" and "http:///h"), no
 * user or password (URLs are shown by `silo config check` and in API
 * answers), and a port, when given, from 1 to 65535.  Returns 0 with u
 * filled in, or -1 with the reason in why.
 */
int
config_url_parse(const char *text, struct config_url *u, char *why,
    size_t whysz)
{
	CURLU		*h;
	CURLUcode	 rc;
	char		 port[8] = "", zone[64] = "", path[2048] = "";
	size_t		 n;
	int		 ret = -1;

	memset(u, 0, sizeof(*u));
	if ((h = curl_url()) == NULL) {
		snprintf(why, whysz, "out of memory");
		return -1;
	}
	if ((rc = curl_url_set(h, CURLUPART_URL, text,
	    CURLU_NON_SUPPORT_SCHEME)) != CURLUE_OK) {
		snprintf(why, whysz, "%s", curl_url_strerror(rc));
		goto done;
	}
	config_url_part(h, CURLUPART_SCHEME, u->scheme, sizeof(u->scheme));
	n = strlen(u->scheme);
	if (strcmp(u->scheme, "http") != 0 && strcmp(u->scheme, "https") != 0) {
		snprintf(why, whysz, "the scheme must be http or https");
		goto done;
	}
	if (strncmp(text + n, "://", 3) != 0 || text[n + 3] == '/') {
		snprintf(why, whysz,
		    "the scheme must be followed by // and the host");
		goto done;
	}
	if (config_url_part(h, CURLUPART_USER, NULL, 0) ||
	    config_url_part(h, CURLUPART_PASSWORD, NULL, 0)) {
		snprintf(why, whysz,
		    "a user or password does not belong in it");
		goto done;
	}
	config_url_part(h, CURLUPART_HOST, u->host, sizeof(u->host));
	if (config_url_part(h, CURLUPART_ZONEID, zone, sizeof(zone)) &&
	    (n = strlen(u->host)) > 0)
		snprintf(u->host + n - 1, sizeof(u->host) - n + 1, "%%25%s]",
		    zone);
	if (strlen(u->host) >= sizeof(u->host) - 1) {
		snprintf(why, whysz, "the host is too long");
		goto done;
	}
	if (config_url_part(h, CURLUPART_PORT, port, sizeof(port)) &&
	    strcmp(port, "0") == 0) {
		snprintf(why, whysz, "the port must be from 1 to 65535");
		goto done;
	}
	snprintf(u->authority, sizeof(u->authority), "%s%s%s", u->host,
	    *port != '\0' ? ":" : "", port);
	config_url_part(h, CURLUPART_PATH, path, sizeof(path));
	u->bare = path[strspn(path, "/")] == '\0' &&
	    !config_url_part(h, CURLUPART_QUERY, NULL, 0) &&
	    !config_url_part(h, CURLUPART_FRAGMENT, NULL, 0);
	ret = 0;
done:
	curl_url_cleanup(h);
	return ret;
}

/* A MongoDB database name: no empty name, no '/\. "$', under 64 bytes. */
static bool
config_db_name_valid(const char *text)
{
	size_t	 len = strlen(text);

	if (len == 0 || len >= 64)
		return false;
	return strpbrk(text, "/\\. \"$*<>:|?") == NULL;
}

static int
config_parse_listen(struct silo_config *c, const char *text, char *why,
    size_t whysz)
{
	const char	*colon;
	long		 port;

	if (strcmp(text, "auto") == 0) {
		/* Whoever started us may have passed the socket: systemd says
		 * so in LISTEN_PID/LISTEN_FDS; a FastCGI spawner (spawn-fcgi
		 * and the like) says nothing and leaves a listener on fd 0. */
		const char	*fds = getenv("LISTEN_FDS");
		const char	*pid = getenv("LISTEN_PID");
		int		 listening = 0;
		socklen_t	 len = sizeof(listening);

		if (fds != NULL && pid != NULL &&
		    strtol(pid, NULL, 10) == (long)getpid())
			c->listen_kind = LISTEN_SYSTEMD;
		else if (getsockopt(STDIN_FILENO, SOL_SOCKET, SO_ACCEPTCONN,
		    &listening, &len) == 0 && listening)
			c->listen_kind = LISTEN_STDIN;
		else {
			c->listen_kind = LISTEN_UNIX;
			c->listen_path = strdup("/run/silo/silo.sock");
		}
		return 0;
	}
	if (strcmp(text, "stdin") == 0) {
		c->listen_kind = LISTEN_STDIN;
		return 0;
	}
	if (strcmp(text, "systemd") == 0) {
		c->listen_kind = LISTEN_SYSTEMD;
		return 0;
	}
	if (strncmp(text, "unix:", 5) == 0) {
		if (text[5] != '/') {
			snprintf(why, whysz,
			    "a unix socket needs an absolute path");
			return -1;
		}
		if (strlen(text + 5) >= 108) {
			snprintf(why, whysz,
			    "unix socket path longer than 107 bytes");
			return -1;
		}
		c->listen_kind = LISTEN_UNIX;
		c->listen_path = strdup(text + 5);
		return 0;
	}
	if (strncmp(text, "tcp:", 4) == 0) {
		text += 4;
		if ((colon = strrchr(text, ':')) == NULL || colon == text ||
		    query_int(colon + 1, 1, 65535, &port) == -1) {
			snprintf(why, whysz, "expected tcp:HOST:PORT");
			return -1;
		}
		c->listen_kind = LISTEN_TCP;
		if (text[0] == '[' && colon[-1] == ']')
			c->listen_host = strndup(text + 1,
			    (size_t)(colon - text - 2));
		else
			c->listen_host = strndup(text, (size_t)(colon - text));
		c->listen_port = (int)port;
		return 0;
	}
	snprintf(why, whysz,
	    "expected unix:PATH, tcp:HOST:PORT, stdin, systemd or auto");
	return -1;
}

/*
 * A bearer token must be long enough not to be guessed over the network
 * and must fit in an Authorization header as it is: 32 to 256 printable
 * ASCII characters without spaces (`openssl rand -hex 32` gives 64).  The
 * reason names no part of the token.
 */
#define	CONFIG_TOKEN_MIN	32
#define	CONFIG_TOKEN_MAX	256

static int
config_token_check(const char *text, char *why, size_t whysz)
{
	size_t	 len = strlen(text);

	if (len < CONFIG_TOKEN_MIN || len > CONFIG_TOKEN_MAX) {
		snprintf(why, whysz, "a token must be %d to %d characters, "
		    "this one has %zu (make one with: openssl rand -hex 32)",
		    CONFIG_TOKEN_MIN, CONFIG_TOKEN_MAX, len);
		return -1;
	}
	for (size_t i = 0; i < len; i++)
		if (text[i] <= ' ' || text[i] > '~') {
			snprintf(why, whysz, "a token may hold only printable "
			    "ASCII without spaces; character %zu is not",
			    i + 1);
			return -1;
		}
	return 0;
}

/*
 * A bucket list, as AC's BUCKETS: names separated by commas (spaces
 * around them allowed), each 3 to 63 of a-z, 0-9, '.' and '-' as S3 and
 * Spaces require, at most CONFIG_MAX_BUCKETS of them.
 */
static int
config_buckets_check(const char *text, char *why, size_t whysz)
{
	int	 n = 0;

	for (const char *p = text; ; p++) {
		size_t	 len;

		p += strspn(p, " ");
		len = strcspn(p, ", ");
		if (len < 3 || len > 63 ||
		    strspn(p, "abcdefghijklmnopqrstuvwxyz0123456789.-") < len) {
			snprintf(why, whysz, "bucket %d ('%.*s') is not a "
			    "bucket name (3 to 63 of a-z, 0-9, '.', '-')",
			    n + 1, (int)(len < 80 ? len : 80), p);
			return -1;
		}
		if (++n > CONFIG_MAX_BUCKETS) {
			snprintf(why, whysz, "more than %d buckets",
			    CONFIG_MAX_BUCKETS);
			return -1;
		}
		p += len;
		p += strspn(p, " ");
		if (*p == '\0')
			return 0;
		if (*p != ',') {
			snprintf(why, whysz,
			    "expected ',' between bucket names");
			return -1;
		}
	}
}

/*
 * SILO_DB_CLIENTS: name:match pairs, comma-separated, at most
 * CONFIG_MAX_CLIENTS; a name is 1 to 32 of a-z, 0-9, '-' and '_', a
 * match 1 to 127 printable characters but ',' (an application name, as a
 * driver's appName=, or an address).
 */
static int
config_clients_check(const char *text, char *why, size_t whysz)
{
	int	 n = 0;

	for (const char *p = text; ; p++) {
		size_t	 name = strspn(p,
			    "abcdefghijklmnopqrstuvwxyz0123456789-_");
		size_t	 match;

		if (++n > CONFIG_MAX_CLIENTS) {
			snprintf(why, whysz, "more than %d services",
			    CONFIG_MAX_CLIENTS);
			return -1;
		}
		if (name == 0 || name > 32 || p[name] != ':') {
			snprintf(why, whysz, "service %d ('%.*s') is not "
			    "name:match (a name of a-z, 0-9, '-', '_')", n,
			    (int)strcspn(p, ",") < 80 ? (int)strcspn(p, ",") :
			    80, p);
			return -1;
		}
		p += name + 1;
		match = strcspn(p, ",");
		if (match == 0 || match > 127) {
			snprintf(why, whysz, "service %d: its match is %s", n,
			    match == 0 ? "empty" : "longer than 127");
			return -1;
		}
		for (size_t i = 0; i < match; i++)
			if ((unsigned char)p[i] <= ' ' || p[i] == 0x7f) {
				snprintf(why, whysz, "service %d: its match "
				    "holds a space or a control character", n);
				return -1;
			}
		p += match;
		if (*p == '\0')
			return 0;
	}
}

/*
 * libmongoc says why a URI is bad in two halves: a vague error ("Invalid
 * host string in URI") and, through its log, the reason ("Port could not
 * be parsed"), printed in its own format.  While a URI is checked its log
 * comes here, and the reason joins the error on one line.
 */
static char	config_mongoc_said[256];

static void
config_mongoc_capture(mongoc_log_level_t level, const char *domain,
    const char *message, void *arg)
{
	if (level <= MONGOC_LOG_LEVEL_WARNING)
		snprintf(config_mongoc_said, sizeof(config_mongoc_said), "%s",
		    message);
}

/*
 * Might the message repeat a secret of the URI: its password, or the value
 * of an option whose name ends in "password"?  Then it is not shown.
 */
static bool
config_echoes_secret(const char *message, const char *uri)
{
	const char	*user = strstr(uri, "://"), *at, *colon, *opt, *end;
	char		 secret[256];

	if (user != NULL && (at = strrchr(user, '@')) != NULL &&
	    (colon = memchr(user + 3, ':', (size_t)(at - user - 3))) != NULL &&
	    at - colon > 1) {
		snprintf(secret, sizeof(secret), "%.*s", (int)(at - colon - 1),
		    colon + 1);
		if (strstr(message, secret) != NULL)
			return true;
	}
	for (opt = uri; (opt = strcasestr(opt, "password=")) != NULL;
	    opt = end) {
		opt += strlen("password=");
		end = opt + strcspn(opt, "&");
		snprintf(secret, sizeof(secret), "%.*s", (int)(end - opt), opt);
		if (secret[0] != '\0' && strstr(message, secret) != NULL)
			return true;
	}
	return false;
}

static int
config_check_mongo_uri(const char *text, char *why, size_t whysz)
{
	bson_error_t	 err;
	mongoc_uri_t	*uri;

	config_mongoc_said[0] = '\0';
	mongoc_log_set_handler(config_mongoc_capture, NULL);
	uri = mongoc_uri_new_with_error(text, &err);
	/* Back to libmongoc's own handler: what opens a client installs
	 * silo's (mongo_log_init) after the configuration is read. */
	mongoc_log_set_handler(mongoc_log_default_handler, NULL);
	if (uri == NULL) {
		if (config_mongoc_said[0] != '\0' &&
		    !config_echoes_secret(config_mongoc_said, text))
			snprintf(why, whysz, "%s: %s", err.message,
			    config_mongoc_said);
		else
			snprintf(why, whysz, "%s", err.message);
		return -1;
	}
	if (config_mongoc_said[0] != '\0' &&
	    !config_echoes_secret(config_mongoc_said, text))
		log_warn("MONGODB_CONNECTION_STRING: %s", config_mongoc_said);
	mongoc_uri_destroy(uri);
	return 0;
}

/* A variable whose text is one of a few words, each standing for a value. */
struct config_word {
	const char	*word;		/* as written, e.g. "debug" */
	int		 value;		/* what it sets */
};

static const struct config_word log_level_words[] = {
	{ "error", LOG_LEVEL_ERR }, { "warning", LOG_LEVEL_WARN },
	{ "info", LOG_LEVEL_INFO }, { "debug", LOG_LEVEL_DEBUG }, { NULL, 0 }
};

/* SPACES_ADDRESSING: path-style 1, virtual-hosted 0, auto -1. */
static const struct config_word addressing_words[] = {
	{ "path", 1 }, { "virtual", 0 }, { "auto", -1 }, { NULL, 0 }
};

/* Set *out from the word; otherwise say which words there are. */
static int
config_parse_word(const char *text, const struct config_word *words, int *out,
    char *why, size_t whysz)
{
	size_t	 len;

	for (const struct config_word *w = words; w->word != NULL; w++)
		if (strcmp(text, w->word) == 0) {
			*out = w->value;
			return 0;
		}
	len = (size_t)snprintf(why, whysz, "expected");
	for (const struct config_word *w = words;
	    w->word != NULL && len < whysz; w++)
		len += (size_t)snprintf(why + len, whysz - len, "%s%s",
		    w == words ? " " : w[1].word == NULL ? " or " : ", ",
		    w->word);
	return -1;
}

/* Parse one variable's text into the config. */
static int
config_parse_var(struct silo_config *c, const struct config_var *v,
    const char *text, char *why, size_t whysz)
{
	char		*field = (char *)c + v->offset;
	long		 n;
	int		 n_word;

	switch (v->kind) {
	case VAR_MONGO_URI:
		if (config_check_mongo_uri(text, why, whysz) == -1)
			return -1;
		break;
	case VAR_NAME:
		if (!config_db_name_valid(text)) {
			snprintf(why, whysz, "not a valid database name");
			return -1;
		}
		break;
	case VAR_URL: {
		struct config_url	 u;
		char			 reason[128];

		if (config_url_parse(text, &u, reason, sizeof(reason)) == -1) {
			snprintf(why, whysz,
			    "expected an http:// or https:// URL (%s)", reason);
			return -1;
		}
		break;
	}
	case VAR_LISTEN:
		return config_parse_listen(c, text, why, whysz);
	case VAR_WORKERS:
		if (strcmp(text, "auto") == 0) {
			long	 cores = sysconf(_SC_NPROCESSORS_ONLN);

			n = cores > 0 ? 2 * cores : 2;
			*(int *)field = n > v->max ? (int)v->max : (int)n;
			return 0;
		}
		/* FALLTHROUGH */
	case VAR_INT:
		if (query_int(text, v->min, v->max, &n) == -1) {
			snprintf(why, whysz,
			    "expected a whole number from %ld to %ld",
			    v->min, v->max);
			return -1;
		}
		*(int *)field = (int)n;
		return 0;
	case VAR_MODE: {
		char	*end;

		errno = 0;
		n = strtol(text, &end, 8);
		if (errno != 0 || end == text || *end != '\0' || n < 0 ||
		    n > v->max || !isdigit((unsigned char)*text)) {
			snprintf(why, whysz,
			    "expected an octal mode such as 0660");
			return -1;
		}
		*(unsigned *)field = (unsigned)n;
		return 0;
	}
	case VAR_SIZE:
		if (config_parse_size(text, &n) == -1 || n < v->min ||
		    n > v->max) {
			snprintf(why, whysz, "expected a size in bytes "
			    "(k and M suffixes allowed) up to %ldM",
			    v->max >> 20);
			return -1;
		}
		*(size_t *)field = (size_t)n;
		return 0;
	case VAR_LOG_LEVEL:
		if (config_parse_word(text, log_level_words, &n_word, why,
		    whysz) == -1)
			return -1;
		*(enum log_level *)field = (enum log_level)n_word;
		return 0;
	case VAR_TOKEN:
		if (config_token_check(text, why, whysz) == -1)
			return -1;
		break;
	case VAR_PATH:
		if (text[0] != '/' ||
		    (v->max > 0 && strlen(text) > (size_t)v->max)) {
			if (v->max > 0)
				snprintf(why, whysz, "expected an absolute "
				    "path of at most %ld bytes", v->max);
			else
				snprintf(why, whysz,
				    "expected an absolute path");
			return -1;
		}
		break;
	case VAR_BUCKETS:
		if (config_buckets_check(text, why, whysz) == -1)
			return -1;
		break;
	case VAR_CLIENTS:
		if (config_clients_check(text, why, whysz) == -1)
			return -1;
		break;
	case VAR_ADDRESSING:
		return config_parse_word(text, addressing_words, (int *)field,
		    why, whysz);
	case VAR_STRING:
		break;
	}
	if ((*(char **)field = strdup(text)) == NULL) {
		snprintf(why, whysz, "out of memory");
		return -1;
	}
	return 0;
}

/* Parse every resolved variable; record one problem line per failure. */
static void
config_parse_all(struct silo_config *c, const struct env_file *ef,
    const struct resolved r[CONFIG_NVARS], struct problems *p)
{
	char	 why[512], from[512], shown[128];

	for (size_t i = 0; i < CONFIG_NVARS; i++) {
		const struct config_var	*v = &config_vars[i];

		if (r[i].text == NULL) {
			if (v->required)
				config_problem(p, "%s is not set (%s)",
				    v->name, v->doc);
			continue;
		}
		if (config_parse_var(c, v, r[i].text, why, sizeof(why)) == 0)
			continue;
		config_source_text(ef, &r[i], from, sizeof(from));
		/* Even here, a URL's password is not shown. */
		config_mask_uri(r[i].text, shown, sizeof(shown));
		if (v->secrecy == SHOW)
			config_problem(p, "%s='%.80s' (%s): %s", v->name,
			    v->kind == VAR_URL ? shown : r[i].text, from, why);
		else
			config_problem(p, "%s (%s): %s", v->name, from, why);
	}
}

/* Rules that tie two variables together, checked once both are parsed. */
static void
config_check_together(const struct silo_config *c, struct problems *p)
{
	if (c->probe_connect_ms > c->probe_timeout_ms &&
	    c->probe_timeout_ms > 0)
		config_problem(p, "SILO_PROBE_CONNECT_MS=%d exceeds "
		    "SILO_PROBE_TIMEOUT_MS=%d: "
		    "connecting is part of the probe", c->probe_connect_ms,
		    c->probe_timeout_ms);
	if (c->backup_keep_daily == 0 && c->backup_keep_weekly == 0 &&
	    c->backup_keep_monthly == 0)
		config_problem(p, "SILO_BACKUP_KEEP_DAILY, _WEEKLY and "
		    "_MONTHLY are all 0: silo backup prune would keep only "
		    "the newest backups");
}

int
config_load(struct silo_config *c, const char *env_file,
    const struct config_override *ov, size_t nov, char *err, size_t errsz)
{
	struct env_file		 ef = { 0 };
	struct resolved		 r[CONFIG_NVARS];
	struct problems		 p = { err, errsz, 0, 0 };

	memset(c, 0, sizeof(*c));
	if (err != NULL && errsz > 0)
		err[0] = '\0';
	if (env_file != NULL && config_env_file_read(&ef, env_file, &p) == -1) {
		config_env_file_free(&ef);
		return -1;
	}
	config_resolve(&ef, ov, nov, r);
	config_parse_all(c, &ef, r, &p);
	config_check_together(c, &p);
	if (env_file != NULL)
		c->env_file = strdup(env_file);
	config_env_file_free(&ef);
	if (p.count > 0) {
		config_free(c);
		return -1;
	}
	return 0;
}

void
config_free(struct silo_config *c)
{
	for (size_t i = 0; i < CONFIG_NVARS; i++) {
		const struct config_var	*v = &config_vars[i];

		switch (v->kind) {
		case VAR_STRING:
		case VAR_NAME:
		case VAR_URL:
		case VAR_MONGO_URI:
		case VAR_TOKEN:
		case VAR_PATH:
		case VAR_BUCKETS:
		case VAR_CLIENTS: {
			char	**field = (char **)((char *)c + v->offset);

			free(*field);
			*field = NULL;
			break;
		}
		default:
			break;
		}
	}
	free(c->listen_path);
	free(c->listen_host);
	free(c->env_file);
	c->listen_path = c->listen_host = c->env_file = NULL;
}

/*
 * Copy a MongoDB URI with its password, and any option whose name ends in
 * "password", replaced by "****".
 */
void
config_mask_uri(const char *uri, char *out, size_t outsz)
{
	const char	*auth = strstr(uri, "://"), *at, *colon, *slash, *q;
	size_t		 o = 0;

#define	EMIT(p, n)	do { size_t _n = (n); \
	if (o + _n >= outsz) _n = outsz - o - 1; \
	memcpy(out + o, (p), _n); o += _n; } while (0)

	if (outsz == 0)
		return;
	if (auth == NULL) {
		snprintf(out, outsz, "%s", uri);
		return;
	}
	auth += 3;
	slash = auth + strcspn(auth, "/?");
	at = NULL;
	for (const char *s = auth; s < slash; s++)
		if (*s == '@')
			at = s;
	if (at != NULL &&
	    (colon = memchr(auth, ':', (size_t)(at - auth))) != NULL) {
		EMIT(uri, (size_t)(colon + 1 - uri));
		EMIT("****", 4);
		EMIT(at, (size_t)(slash - at));
	} else
		EMIT(uri, (size_t)(slash - uri));
	q = slash;
	while (*q != '\0') {
		size_t	 seg = strcspn(q + 1, "&") + 1;
		const char *eq = memchr(q, '=', seg);

		if (eq != NULL && eq - q >= 9 &&
		    strncasecmp(eq - 8, "password", 8) == 0) {
			EMIT(q, (size_t)(eq + 1 - q));
			EMIT("****", 4);
		} else
			EMIT(q, seg);
		q += seg;
	}
	out[o] = '\0';
#undef EMIT
}

static void
config_print_value(FILE *f, const struct config_var *v, const char *text)
{
	char	 masked[1024];

	if (text == NULL) {
		fprintf(f, "(unset)");
		return;
	}
	switch (v->secrecy) {
	case SHOW:
		fprintf(f, "%s", text);
		break;
	case MASK_URI:
		config_mask_uri(text, masked, sizeof(masked));
		fprintf(f, "%s", masked);
		break;
	case MASK_PARTIAL:
		fprintf(f, "%.4s****", strlen(text) > 8 ? text : "");
		break;
	case MASK_ALL:
		fprintf(f, "****");
		break;
	}
}

int
config_print(FILE *f, const char *env_file, const struct config_override *ov,
    size_t nov)
{
	struct env_file		 ef = { 0 };
	struct resolved		 r[CONFIG_NVARS];
	struct silo_config	 c = { 0 };
	char			 err[4096] = "", from[512];
	struct problems		 p = { err, sizeof(err), 0, 0 };

	if (env_file != NULL)
		config_env_file_read(&ef, env_file, &p);
	config_resolve(&ef, ov, nov, r);
	config_parse_all(&c, &ef, r, &p);
	config_check_together(&c, &p);

	fprintf(f, "# env file: %s\n", env_file != NULL ? env_file : "(none)");
	for (size_t i = 0; i < CONFIG_NVARS; i++) {
		config_source_text(&ef, &r[i], from, sizeof(from));
		fprintf(f, "%s=", config_vars[i].name);
		config_print_value(f, &config_vars[i], r[i].text);
		fprintf(f, "\t# %s; %s\n", from, config_vars[i].doc);
	}
	if (p.count == 0)
		fprintf(f, "# configuration is valid\n");
	else
		fprintf(stderr, "%s\n", err);
	config_free(&c);
	config_env_file_free(&ef);
	return p.count == 0 ? 0 : -1;
}
