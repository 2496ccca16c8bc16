/*
 * silo.h: the interfaces between silo's subsystems, as a handler sees them.
 *
 * silo is one program with one process model: a master that owns the
 * FastCGI listen socket and supervises a pool of pre-forked workers, each
 * serving one request at a time, synchronously, against MongoDB, with
 * Spaces and AC's other services behind it.  This header is what a
 * handler needs: the configuration, the request it is answering, the
 * response it fills in, the worker's MongoDB client and what AC's
 * collections mean.  An api_*.c file includes this header alone; the
 * edge's own plumbing (the FastCGI loop, supervision, rendering), the
 * clients' internals and the jobs live in extern.h.
 *
 * The files, by layer; each calls only downwards:
 *
 *   edge      main.c (the command line), serve.c (master, supervision),
 *             worker.c (FastCGI loop, request ids), router.c and
 *             routes.c (matching, the route table), access.c (who is
 *             calling, scopes; with credential.c, session.c, tokens.c),
 *             query.c (query strings), response.c (answers, rendering)
 *   handlers  api_auth.c, api_db.c, api_storage.c, api_users.c,
 *             api_services.c, api_kidlisp.c, api_backups.c,
 *             api_overview.c, api_misc.c: one file per /api area
 *   clients   mongo.c (MongoDB), spaces.c (S3), probe.c (HTTP probes),
 *             cache.c (the cache the workers share)
 *   jobs      job.c (one at a time, started from the API, stopped);
 *             import.c with manifest.c, docstream.c, progress.c
 *             (silo import); storage.c with storage_key.c (silo storage);
 *             backup.c with archive.c, gzip.c, seal.c, meter.c (silo
 *             backup),
 *             backup_list.c (its records, read back), restore.c
 *             (silo backup verify and restore), prune.c with
 *             retention.c (silo backup prune); users.c with
 *             password.c, totp.c (silo user, and checking a sign-in),
 *             throttle.c (failed sign-ins), tokens.c (silo token);
 *             sync.c (silo sync); atproto.c (silo atproto migrate and
 *             rollback), atproto_check.c (check and export)
 *   base      config.c, log.c, scope.c (scopes and roles), ac.c (what
 *             AC's collections mean)
 *
 * Naming: every exported symbol carries the prefix of the file that
 * defines it (config_, log_, query_, resp_, router_, mongo_, ac_,
 * api_db_, ...).  The exceptions are the small inline helpers below
 * (clock_*, hash_fnv1a64, hex_lower), which belong to no file.
 *
 * Return values: an operation returns 0, or -1 on failure; a predicate
 * returns bool; a constructor returns the new object, or NULL.  Error
 * text goes to a caller's buffer, err and errsz (why and whysz where the
 * answer is a refusal rather than a failure).  The exceptions: mongo.c's
 * operations return bool (true: done; for a find, found) with a
 * bson_error_t, as libmongoc does, and so does storage_newest(); a count
 * is -1 on failure (mongo_count); a three-way outcome is an enum
 * (mongo_storage_stats, router_match) or 1/0/-1 (job_lock: 1 when
 * another run holds the lock; docstream_next: 1 for a document, 0
 * at the end); the *_main functions return an exit status; and the S3
 * client, the backup readers and the probes keep their error in their
 * own struct (spaces, docstream, manifest, probe).
 */
#ifndef SILO_H
#define SILO_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>
#include <time.h>

#include <bson/bson.h>
#include <cjson/cJSON.h>

struct mongo;
struct mongo_fail;
struct silo_request;

/* ------------------------------------------------------------------ */
/* Clocks                                                              */
/* ------------------------------------------------------------------ */

/* Milliseconds on the monotonic clock, for measuring durations. */
static inline double
clock_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Seconds since the epoch on the real-time clock, for timestamps. */
static inline double
clock_real(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Whole milliseconds since the epoch, as BSON dates count them. */
static inline int64_t
clock_real_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------------------ */
/* Logging (log.c)                                                     */
/* ------------------------------------------------------------------ */

/* Severities use syslog's numbers so that journald can read them. */
enum log_level {
	LOG_LEVEL_ERR = 3,	/* something failed and was not recovered */
	LOG_LEVEL_WARN = 4,	/* something failed and was worked around */
	LOG_LEVEL_INFO = 6,	/* lifecycle events and access lines */
	LOG_LEVEL_DEBUG = 7	/* only with SILO_LOG_LEVEL=debug */
};

void	 log_init(enum log_level threshold);
void	 log_msg(enum log_level, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
#define	 log_err(...)	log_msg(LOG_LEVEL_ERR, __VA_ARGS__)
#define	 log_warn(...)	log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define	 log_info(...)	log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define	 log_debug(...)	log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)

/* ------------------------------------------------------------------ */
/* Small pure helpers: times as text, hashing, hex                     */
/* ------------------------------------------------------------------ */

/* How much of a time clock_iso() writes. */
enum clock_iso_unit {
	CLOCK_ISO_DAY,		/* 2026-11-23 */
	CLOCK_ISO_S,		/* 2026-11-23T21:00:00Z */
	CLOCK_ISO_MS		/* 2026-11-23T21:00:00.250Z */
};

#define	CLOCK_ISO_MAX	32	/* room for any of them, and the NUL */

/*
 * ms since the epoch as ISO 8601 UTC into out[outsz]: the one way silo
 * writes a time, in answers, log lines and the lock file.  A time before
 * 1970 counts down to the second before it.  False when gmtime_r cannot
 * place it or out is too small.
 */
static inline bool
clock_iso(int64_t ms, enum clock_iso_unit unit, char *out, size_t outsz)
{
	int		 frac = (int)(ms % 1000);
	time_t		 t = (time_t)(ms / 1000 - (frac < 0));
	struct tm	 tm;
	size_t		 n;
	int		 w = 0;

	if (gmtime_r(&t, &tm) == NULL || (n = strftime(out, outsz,
	    unit == CLOCK_ISO_DAY ? "%Y-%m-%d" : "%Y-%m-%dT%H:%M:%S",
	    &tm)) == 0)
		return false;
	if (unit == CLOCK_ISO_S)
		w = snprintf(out + n, outsz - n, "Z");
	else if (unit == CLOCK_ISO_MS)
		w = snprintf(out + n, outsz - n, ".%03dZ",
		    frac < 0 ? frac + 1000 : frac);
	return w >= 0 && (size_t)w < outsz - n;
}

/* FNV-1a, 64 bits, of p[0..len): storage's hash tables and the overview's
 * ETag.  Fast and the same in every build; not for anything secret. */
static inline uint64_t
hash_fnv1a64(const void *p, size_t len)
{
	const unsigned char	*s = p;
	uint64_t		 h = 14695981039346656037ULL;

	for (size_t i = 0; i < len; i++)
		h = (h ^ s[i]) * 1099511628211ULL;
	return h;
}

/* n bytes as 2n lower-case hex digits and a NUL, into out[2n + 1]. */
static inline void
hex_lower(const void *in, size_t n, char *out)
{
	static const char	 digits[] = "0123456789abcdef";
	const unsigned char	*p = in;

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 0xf];
	}
	out[2 * n] = '\0';
}

/* ------------------------------------------------------------------ */
/* Configuration (config.c)                                            */
/* ------------------------------------------------------------------ */

#define	CONFIG_MAX_BUCKETS	64	/* SPACES_BUCKETS names at most */
#define	CONFIG_MAX_CLIENTS	32	/* SILO_DB_CLIENTS services at most */

/* Where the FastCGI listen socket comes from. */
enum listen_kind {
	LISTEN_UNIX,		/* a unix socket silo binds itself */
	LISTEN_TCP,		/* a TCP socket silo binds itself */
	LISTEN_STDIN,		/* FastCGI convention: fd 0 is the listener */
	LISTEN_SYSTEMD		/* socket activation: fd 3, LISTEN_FDS=1 */
};

/* Every tunable of silo, already parsed and validated. */
struct silo_config {
	char		*mongo_uri;	/* MONGODB_CONNECTION_STRING */
	char		*mongo_db;	/* MONGODB_NAME: the AC database */
	/* SILO_SYNC_FROM: silo sync's source, or NULL */
	char		*sync_from;
	enum listen_kind listen_kind;	/* parsed from SILO_LISTEN */
	char		*listen_path;	/* unix socket path (LISTEN_UNIX) */
	char		*listen_host;	/* bind address (LISTEN_TCP) */
	int		 listen_port;	/* bind port (LISTEN_TCP) */
	/* SILO_SOCKET_OWNER: user or uid, or NULL */
	char		*socket_owner;
	/* SILO_SOCKET_GROUP: group or gid, or NULL */
	char		*socket_group;
	unsigned	 socket_mode;	/* SILO_SOCKET_MODE, e.g. 0660 */
	int		 workers;	/* SILO_WORKERS: size of the pool */
	/* SILO_LISTEN_BACKLOG: the socket's accept queue */
	int		 listen_backlog;
	/* SILO_BUSY_MAX: workers on expensive work, 0: auto */
	int		 busy_max;
	/* SILO_DB_TIMEOUT_MS: bound on any db call */
	int		 db_timeout_ms;
	/* SILO_DB_SLOW_MS: ping above this is degraded */
	int		 db_slow_ms;
	/* SILO_DB_CLIENTS: "name:match,...", or NULL */
	char		*db_clients;
	size_t		 max_body;	/* SILO_MAX_BODY: request body limit */
	/* SILO_SHUTDOWN_TIMEOUT: grace before SIGKILL */
	int		 shutdown_timeout_s;
	enum log_level	 log_level;	/* SILO_LOG_LEVEL */
	char		*oven_url;	/* OVEN_URL: AC's oven service */
	char		*session_url;	/* SESSION_URL: AC's session server */
	char		*pds_url;	/* PDS_URL: AC's ATProto PDS */
	/* SILO_PROBE_TIMEOUT_MS: bound on a whole probe */
	int		 probe_timeout_ms;
	/* SILO_PROBE_CONNECT_MS: bound on its connect */
	int		 probe_connect_ms;
	/* SILO_CACHE_TTL_S: shared cache lifetime, 0: off */
	int		 cache_ttl_s;
	char		*cache_dir;	/* SILO_CACHE_DIR: the shared cache */
	/* SPACES_KEY: access key (secret-adjacent) */
	char		*spaces_key;
	char		*spaces_secret;	/* SPACES_SECRET: never printed */
	/* SPACES_ENDPOINT, e.g. https://sfo3.digitaloceanspaces.com */
	char		*spaces_endpoint;
	/* SILO_ADMIN_TOKEN: every scope, the bootstrap path; NULL: none */
	char		*admin_token;
	/* SILO_READ_TOKEN: the read:* scopes; NULL: none */
	char		*read_token;
	/* SILO_SESSION_IDLE_S: a session unused this long ends */
	int		 session_idle_s;
	/* SILO_SESSION_MAX_S: a session ends this long after sign-in */
	int		 session_max_s;
	char		*spaces_region;	/* SPACES_REGION, or NULL */
	/* SPACES_ADDRESSING: 1 path, 0 virtual, -1 auto */
	int		 spaces_path_style;
	char		*spaces_buckets; /* SPACES_BUCKETS: "a,b,c", or NULL */
	char		*user_bucket;	/* USER_SPACE_NAME: keys <sub>/... */
	/* ART_SPACE_NAME: guest uploads, renders */
	char		*art_bucket;
	/* AT_BLOBS_SPACE_NAME: tapes/<code>.mp4 */
	char		*tapes_bucket;
	/* SILO_STORAGE_HISTORY: snapshots kept */
	int		 storage_history;
	int		 storage_top_objects; /* SILO_STORAGE_TOP_OBJECTS */
	/* SILO_STORAGE_LOCK: the refresh's lock file */
	char		*storage_lock;
	/* SILO_STORAGE_LOG: output of API-started refreshes */
	char		*storage_log;
	char		*backup_bucket;	/* SILO_BACKUP_BUCKET, or NULL */
	char		*backup_prefix;	/* SILO_BACKUP_PREFIX: key prefix */
	char		*backup_key;	/* SILO_BACKUP_KEY: the key file */
	/* SILO_BACKUP_PART_SIZE: bytes per uploaded part */
	size_t		 backup_part_size;
	char		*backup_lock;	/* SILO_BACKUP_LOCK */
	/* SILO_BACKUP_LOG: output of API-started runs */
	char		*backup_log;
	/* SILO_BACKUP_STALE_H: a good backup older is "stale" */
	int		 backup_stale_h;
	/* SILO_BACKUP_KEEP_DAILY: days whose newest backup prune keeps */
	int		 backup_keep_daily;
	/* SILO_BACKUP_KEEP_WEEKLY: ISO weeks, the same */
	int		 backup_keep_weekly;
	/* SILO_BACKUP_KEEP_MONTHLY: months, the same */
	int		 backup_keep_monthly;
	char		*env_file;	/* the env file read, or NULL */
	/* SILO_CACHE_MAX_BYTES: the shared cache's values, at most */
	size_t		 cache_max_bytes;
	/* SILO_CACHE_MAX_ENTRIES: values in the shared cache, at most */
	int		 cache_max_entries;
	/* SILO_CACHE_MAX_VARIANTS: of which for non-default parameters */
	int		 cache_max_variants;
};

/* Where one configuration value came from, for `silo config check`. */
enum config_source {
	CONFIG_FROM_DEFAULT,	/* built-in default */
	CONFIG_FROM_FILE,	/* the env file */
	CONFIG_FROM_ENV,	/* the process environment */
	CONFIG_FROM_FLAG	/* a command-line option */
};

/* A command-line override of one variable, e.g. --workers 4. */
struct config_override {
	const char	*name;		/* the variable, e.g. "SILO_WORKERS" */
	const char	*value;		/* its value as typed */
};

/* An http(s) URL as config_url_parse() found it. */
struct config_url {
	char		 scheme[8];	/* "http" or "https" */
	char		 host[256];	/* name or address, IPv6 in brackets */
	char		 authority[264]; /* host, then ":port" if given */
	bool		 bare;		/* no path but "/", query or fragment */
};

int	 config_load(struct silo_config *, const char *env_file,
	    const struct config_override *, size_t noverrides,
	    char *err, size_t errsz);
void	 config_free(struct silo_config *);
int	 config_print(FILE *, const char *env_file,
	    const struct config_override *, size_t noverrides);
void	 config_mask_uri(const char *uri, char *out, size_t outsz);
int	 config_url_parse(const char *text, struct config_url *, char *why,
	    size_t whysz);
const char *config_default_env_file(void);

/* ------------------------------------------------------------------ */
/* Query strings (query.c)                                             */
/* ------------------------------------------------------------------ */

#define	QUERY_MAX_PARAMS	32	/* more than this is a 400 */

/* One decoded key=value pair. */
struct query_param {
	char		*key;		/* decoded, non-empty, valid UTF-8 */
	char		*value;		/* decoded, may be empty, valid UTF-8 */
};

/* A parsed query string: pairs in the order given, keys unique. */
struct query {
	struct query_param params[QUERY_MAX_PARAMS]; /* the pairs */
	size_t		 nparams;	/* how many are used */
};

int	 query_parse(const char *qs, struct query *, char *err, size_t errsz);
const char *query_get(const struct query *, const char *key);
void	 query_free(struct query *);
char	*query_decode(const char *in, size_t len, bool plus_is_space);
int	 query_int(const char *text, long min, long max, long *out);

/* ------------------------------------------------------------------ */
/* Responses (response.c)                                              */
/* ------------------------------------------------------------------ */

#define	RESP_MAX_HEADERS	8	/* extra headers per response */

/* One extra response header. */
struct resp_header {
	char		*name;		/* e.g. "Allow" */
	char		*value;		/* e.g. "GET, HEAD" */
};

/* The response a handler builds; the edge serializes it. */
struct silo_response {
	int		 status;	/* HTTP status; 0 until set */
	cJSON		*body;		/* JSON body, owned; NULL for none */
	char		*text;		/* or a text body, owned (resp_text) */
	const char	*text_type;	/* its Content-Type, static */
	struct resp_header headers[RESP_MAX_HEADERS]; /* extra headers */
	size_t		 nheaders;	/* how many are used */
};

void	 resp_json(struct silo_response *, int status, cJSON *body);
void	 resp_text(struct silo_response *, int status, const char *type,
	    char *text);
void	 resp_error(struct silo_response *, int status, const char *code,
	    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
cJSON	*resp_error_body(const char *code, const char *message);
void	 resp_db_fail(struct silo_response *, const char *database,
	    const struct mongo_fail *);
int	 resp_add_header(struct silo_response *, const char *name,
	    const char *value);
const char *resp_header_get(const struct silo_response *, const char *name);
const char *resp_status_text(int status);
void	 resp_add_time(cJSON *obj, const char *key, double unix_s);
void	 resp_add_int(cJSON *obj, const char *key, int64_t value);
void	 resp_clear(struct silo_response *);

/* ------------------------------------------------------------------ */
/* Who is calling: scopes and principals (scope.c, access.c)          */
/* ------------------------------------------------------------------ */

/* The rights a route can demand, one bit each (scope_names[] spells
 * them); a role or a token holds a set of them. */
enum scope {
	SCOPE_READ_DB = 1u << 0,	/* "read:db" */
	SCOPE_READ_STORAGE = 1u << 1,	/* "read:storage" */
	SCOPE_READ_BACKUPS = 1u << 2,	/* "read:backups" */
	SCOPE_READ_SERVICES = 1u << 3,	/* "read:services" */
	SCOPE_READ_USERS = 1u << 4,	/* "read:users" */
	SCOPE_READ_METRICS = 1u << 5,	/* "read:metrics": /api/metrics */
	SCOPE_RUN_STORAGE = 1u << 6,	/* "run:storage" */
	SCOPE_RUN_BACKUPS = 1u << 7,	/* "run:backups" */
	SCOPE_ADMIN_DB = 1u << 8	/* "admin:db": mongo-express at /db */
};

#define	SCOPE_COUNT	9		/* scope_names[] entries */
#define	SCOPE_ALL	((1u << SCOPE_COUNT) - 1)
#define	SCOPE_READ_ALL	(SCOPE_READ_DB | SCOPE_READ_STORAGE | \
			    SCOPE_READ_BACKUPS | SCOPE_READ_SERVICES | \
			    SCOPE_READ_USERS | SCOPE_READ_METRICS)

/* A person's role: the scopes their sessions hold. */
enum user_role {
	ROLE_VIEWER,		/* every read:* scope */
	ROLE_ADMIN		/* every scope */
};

/* How the caller proved who it is. */
enum principal_kind {
	PRINCIPAL_NONE,		/* it did not */
	PRINCIPAL_SESSION,	/* a person's session cookie */
	PRINCIPAL_TOKEN,	/* a service's token (silo token create) */
	PRINCIPAL_BOOTSTRAP	/* SILO_ADMIN_TOKEN or SILO_READ_TOKEN */
};

#define	PRINCIPAL_NAME_MAX	64	/* user and token names */
#define	CREDENTIAL_DIGEST_HEX	65	/* SHA-256 in hex, and the NUL */

/* The caller, as access.c found it. */
struct principal {
	enum principal_kind kind;	/* how it proved itself */
	/* the user or token name; "SILO_ADMIN_TOKEN" for bootstrap */
	char		 name[PRINCIPAL_NAME_MAX + 1];
	enum user_role	 role;		/* a session's role */
	unsigned	 scopes;	/* enum scope bits held */
	/* a session's id digest (silo.sessions' _id) */
	char		 session[CREDENTIAL_DIGEST_HEX];
	int64_t		 created_ms;	/* a session's start, epoch ms */
	int64_t		 idle_expires_ms; /* it ends unless used before */
	int64_t		 expires_ms;	/* it ends whatever happens */
};

extern const char *const scope_names[SCOPE_COUNT];

unsigned scope_bit(const char *name);
unsigned scope_parse_list(const char *list, char *why, size_t whysz);
cJSON	*scope_json(unsigned scopes);
unsigned scope_of_role(enum user_role);
const char *scope_role_name(enum user_role);
int	 scope_role_parse(const char *name, enum user_role *);

/* ------------------------------------------------------------------ */
/* Requests, routes and handlers (router.c, routes.c)                  */
/* ------------------------------------------------------------------ */

#define	ROUTE_MAX_PATH_PARAMS	4	/* ":id"-style segments per route */

/* What a route demands of the caller; access.c enforces it. */
enum route_access {
	ACCESS_PUBLIC,		/* anyone: /api/health and the sign-in */
	ACCESS_SIGNED_IN,	/* any principal, whatever its scopes */
	ACCESS_SCOPE		/* a principal holding the route's scope */
};

/* Per-worker state a handler may use. */
struct silo_ctx {
	const struct silo_config *config; /* the worker's configuration */
	struct mongo	*mongo;		/* the worker's own MongoDB client */
	/* `silo serve` start, CLOCK_REALTIME seconds */
	double		 serve_started_at;
};

/* The request a handler answers. */
struct silo_request {
	const char	*method;	/* "GET", "POST", ... */
	const char	*path;		/* raw path, no query; '/' first */
	const char	*query_string;	/* raw query string, "" when none */
	struct query	 query;		/* parsed and checked by the router */
	const char	*request_id;	/* echoed in X-Request-Id */
	/* Authorization header or NULL; never logged */
	const char	*authorization;
	/* the Cookie header, or NULL; never logged */
	const char	*cookie;
	const char	*origin;	/* Origin header, or NULL */
	const char	*host;		/* Host header, or NULL */
	bool		 https;		/* it arrived over HTTPS (HTTPS=on) */
	/* the client's address (REMOTE_ADDR); never logged */
	const char	*remote_addr;
	const char	*accept;	/* Accept header, or NULL */
	/* X-Forwarded-Method and -Uri: the request Caddy's forward_auth
	 * asks about, or NULL */
	const char	*forwarded_method;
	const char	*forwarded_uri;
	const char	*if_none_match;	/* the If-None-Match header, or NULL */
	const char	*body;		/* request body, NUL-terminated */
	size_t		 body_len;	/* its length in bytes */
	/* decoded ":x" values */
	char		*path_params[ROUTE_MAX_PATH_PARAMS];
	size_t		 npath_params;	/* how many are used */
	struct principal principal;	/* who is calling (access.c) */
	/* routes_table's index of the route matched, -1 until one is */
	int		 route;
};

typedef void (*route_handler)(struct silo_ctx *, const struct silo_request *,
	    struct silo_response *);

/* One row of the route table. */
struct route {
	const char	*method;	/* exact HTTP method */
	/* "/api/db/health"; ":name" is a parameter */
	const char	*pattern;
	enum route_access access;	/* who may call it */
	const char	*scope;		/* for ACCESS_SCOPE, else NULL */
	/* allowed query keys, NULL-terminated; NULL: none */
	const char *const *params;
	route_handler	 handler;	/* fills in the response */
	const char	*summary;	/* one line for --help and docs */
};

extern const struct route	routes_table[];
extern const size_t		routes_count;

/* How a route's work counts against SILO_BUSY_MAX (busy.c). */
enum route_cost_kind {
	ROUTE_COST_ALWAYS,	/* every request is uncached database work */
	ROUTE_COST_WITH_QUERY	/* only with query parameters (no cache) */
};

/* A route flagged as expensive and uncached, by its handler. */
struct route_cost {
	route_handler	 handler;	/* the route's handler */
	enum route_cost_kind kind;	/* when it counts */
};

extern const struct route_cost	routes_costly[];
extern const size_t		routes_ncostly;

void	 router_dispatch(const struct route *, size_t nroutes,
	    struct silo_ctx *, struct silo_request *, struct silo_response *);

/* ------------------------------------------------------------------ */
/* MongoDB, as handlers use it (mongo.c)                               */
/* ------------------------------------------------------------------ */

/* The outcome of asking for a collection's storage statistics. */
enum mongo_stats {
	MONGO_STATS_OK,		/* stats filled in */
	MONGO_STATS_GONE,	/* the collection no longer exists */
	MONGO_STATS_ERROR	/* the error is set */
};

/* Called per document of a find or aggregation; non-zero stops it. */
typedef int (*mongo_doc_cb)(const bson_t *doc, void *arg);

bool	 mongo_command(struct mongo *, const char *db, const bson_t *cmd,
	    bson_t *reply, bson_error_t *);
int64_t	 mongo_count(struct mongo *, const char *collection,
	    const bson_t *filter, bson_error_t *);
int64_t	 mongo_count_in(struct mongo *, const char *db,
	    const char *collection, const bson_t *filter, bson_error_t *);
enum mongo_stats mongo_storage_stats(struct mongo *, const char *collection,
	    bson_t *stats, bson_error_t *);
char	**mongo_collection_names(struct mongo *, bson_error_t *);
bool	 mongo_find_each(struct mongo *, const char *db,
	    const char *collection, const bson_t *filter, const bson_t *opts,
	    mongo_doc_cb, void *arg, bson_error_t *);
bool	 mongo_aggregate_each(struct mongo *, const char *collection,
	    const bson_t *pipeline, mongo_doc_cb, void *arg, bson_error_t *);
bool	 mongo_admin_aggregate_each(struct mongo *, const bson_t *pipeline,
	    mongo_doc_cb, void *arg, bson_error_t *);
bool	 mongo_upsert_date(struct mongo *, const char *db,
	    const char *collection, const bson_t *filter, const char *field,
	    int64_t ms, bson_error_t *);
bool	 mongo_find_one(struct mongo *, const char *db,
	    const char *collection, const bson_t *filter, const bson_t *opts,
	    bson_t *out, bson_error_t *);
cJSON	*mongo_find_json(struct mongo *, const char *db,
	    const char *collection, const bson_t *filter, const bson_t *opts,
	    bson_error_t *);
cJSON	*mongo_doc_json(const bson_t *, bool array);
bool	 mongo_error_is_unavailable(const bson_error_t *);
int64_t	 mongo_get_int64(const bson_t *, const char *dotted, int64_t dflt);
double	 mongo_get_double(const bson_t *, const char *dotted, double dflt);
const char *mongo_get_utf8(const bson_t *, const char *dotted);
int64_t	 mongo_get_date(const bson_t *, const char *dotted, int64_t dflt);
char	*mongo_id_json(const bson_t *);

/* A database failure, as a summary reports it. */
struct mongo_fail {
	bson_error_t	 error;		/* the driver's error */
	char		 doing[160];	/* what was being asked */
};

void	 mongo_fail_set(struct mongo_fail *, const bson_error_t *,
	    const char *doing);
void	 mongo_fail_oom(struct mongo_fail *, const char *doing);
cJSON	*mongo_fail_json(const struct mongo_fail *);

/* ------------------------------------------------------------------ */
/* Sign-in: people, sessions, the throttle (users.c, session.c,        */
/* throttle.c)                                                         */
/* ------------------------------------------------------------------ */

#define	AUTH_DB			"silo"		/* silo's own database */
#define	AUTH_USERS		"users"		/* people who sign in */
#define	AUTH_SESSIONS		"sessions"	/* by the id's digest */
#define	AUTH_TOKENS		"tokens"	/* services' tokens */
#define	AUTH_THROTTLE		"login_throttle" /* failed sign-ins */

/* The outcome of looking a credential up. */
enum auth_lookup {
	AUTH_FOUND,		/* it is valid; the principal is filled in */
	AUTH_ABSENT,		/* no such credential, or it has expired */
	AUTH_ERROR		/* the database failed; the error is set */
};

/* How checking a person's name, password and code ended. */
enum users_auth {
	USERS_AUTH_OK,		/* all right; the role is set */
	USERS_AUTH_WRONG,	/* any of them wrong, or no such user */
	USERS_AUTH_CODE_NEEDED,	/* right password, TOTP code missing */
	USERS_AUTH_ERROR	/* the database failed; the error is set */
};

/* Where a request arrived, which decides the session cookie's form. */
enum session_site {
	SITE_HTTPS,		/* HTTPS: __Host-silo_session, Secure */
	SITE_LOOPBACK,		/* plain HTTP to a loopback host: the dev
				   site; silo_session, not Secure */
	SITE_INSECURE		/* plain HTTP elsewhere: no sign-in */
};

#define	SESSION_ID_MAX		64	/* a session id's text and NUL */
#define	SESSION_COOKIE_MAX	256	/* a Set-Cookie value */

enum users_auth users_authenticate(struct mongo *, const char *name,
	    const char *password, const char *code, enum user_role *,
	    bson_error_t *);
bool	 users_name_valid(const char *);
enum session_site session_site(const struct silo_request *);
bool	 session_create(struct mongo *, const struct silo_config *,
	    const char *user, enum user_role, char id[SESSION_ID_MAX],
	    struct principal *, bson_error_t *);
bool	 session_end(struct mongo *, const char *digest, bson_error_t *);
void	 session_cookie(enum session_site, const char *id, long max_age_s,
	    char out[SESSION_COOKIE_MAX]);
int	 throttle_wait(struct mongo *, const char *user, const char *addr,
	    int64_t *retry_after_s, bson_error_t *);
bool	 throttle_failed(struct mongo *, const char *user, const char *addr,
	    bson_error_t *);
bool	 throttle_clear(struct mongo *, const char *user, bson_error_t *);

/* ------------------------------------------------------------------ */
/* What AC's collections mean (ac.c)                                   */
/* ------------------------------------------------------------------ */

/* The migration report's grouping of AC's collections. */
enum ac_category {
	CATEGORY_LOGS,		/* logs and telemetry: disposable */
	CATEGORY_CHAT,		/* chat rooms and their mute lists */
	CATEGORY_CONTENT,	/* user content: the creative core */
	CATEGORY_IDENTITY,	/* users and auth */
	CATEGORY_SOCIAL,	/* social and small feature tables */
	CATEGORY_OTHER,		/* anything the report does not name */
	CATEGORY__MAX
};

/* A collection whose documents may carry an ATProto record key. */
struct ac_sync_collection {
	const char	*name;		/* the collection; NULL ends the list */
	const char	*excluded;	/* the flag that takes a document out */
};

/* A collection holding users' documents, and the field naming the user. */
struct ac_user_collection {
	const char	*name;		/* the collection; NULL ends the list */
	const char	*field;		/* holds the user's key (sub or DID) */
};

/* Documents the ATProto document says are never published. */
struct ac_unpublished {
	const char	*name;		/* the collection; NULL ends the list */
	const char	*kind;		/* "private chat", "mood", "draft"... */
	const char	*field;		/* marks such a document; NULL: all */
	const char	*equals;	/* field's string value; NULL: true */
};

/* How a reference to a user holds the user's key. */
enum ac_ref_kind {
	AC_REF_FIELD,		/* a field, or an array field's element */
	AC_REF_ID,		/* the _id: the document is the user's record */
	AC_REF_HANDLE		/* the _id of @handles, which gets a twin */
};

/* A place beside ac_user_collections that holds a user's key. */
struct ac_user_reference {
	const char	*name;		/* the collection; NULL ends the list */
	const char	*field;		/* holds the key; may be dotted */
	enum ac_ref_kind kind;		/* how the key is held */
};

extern const char *const ac_drop_list[];	/* not migrated; NULL ends */
extern const char *const ac_archive_list[];	/* kept as JSON; NULL ends */
extern const struct ac_sync_collection ac_atproto_collections[];
extern const struct ac_user_collection ac_user_collections[];
extern const struct ac_unpublished ac_unpublished[];
extern const char *const ac_atproto_markers[];	/* NULL ends */
extern const struct ac_user_reference ac_user_references[];

enum ac_category ac_category_of(const char *collection);
const char *ac_category_id(enum ac_category);
const char *ac_category_label(enum ac_category);
bson_t	*ac_registered_filter(void);
bson_t	*ac_with_did_filter(void);
const char *ac_user_did(const bson_t *user, const char *key);

/* ------------------------------------------------------------------ */
/* Probes of AC's other services (probe.c)                             */
/* ------------------------------------------------------------------ */

/* A larger answer is cut off, an error. */
#define	PROBE_MAX_BODY		(256u << 10)

/* One HTTP GET of a service, and what came of it. */
struct probe {
	const char	*base;		/* service base URL, e.g. OVEN_URL */
	const char	*path;		/* what to ask, e.g. "/health" */
	bool		 answered;	/* an HTTP response arrived in time */
	long		 http_status;	/* its status, 0 when none */
	double		 latency_ms;	/* until the whole answer or failure */
	cJSON		*json;		/* the body parsed if JSON; owned */
	char		 reason[256];	/* why it failed, "" when it did not */
};

void	 probe_run(const struct silo_config *, struct probe *, size_t n);
void	 probe_free(struct probe *, size_t n);
bool	 probe_ok(const struct probe *);

/* ------------------------------------------------------------------ */
/* The cache every worker shares (cache.c)                             */
/* ------------------------------------------------------------------ */

/* One cache key, between cache_open() and cache_close(). */
struct cache_slot {
	char		 key[96];	/* file-name-safe key */
	char		 path[320];	/* <dir>/<key>.json */
	int		 lock_fd;	/* the held per-key lock, or -1 */
	cJSON		*value;		/* the cached value, or NULL; owned */
	char		*text;		/* raw: the value as stored; owned */
	bool		 raw;		/* read the text, do not parse it */
	double		 cached_at;	/* when made, CLOCK_REALTIME seconds */
	double		 max_age_s;	/* older than this, it is stale */
	bool		 fresh;		/* value is younger than max_age_s */
	bool		 must_fill;	/* we hold the lock: refresh it */
};

/* Makes a value for a key; NULL when it cannot.  *keep false: do not
 * store it (a failure worth retrying at once rather than after the TTL). */
typedef cJSON *(*cache_fill_fn)(struct silo_ctx *, void *arg, bool *keep);

/* Keys of values for query parameters outside a route's defaults begin
 * with this; SILO_CACHE_MAX_VARIANTS caps how many are kept. */
#define	CACHE_VARIANT		"q-"

void	 cache_open(const struct silo_config *, const char *key,
	    struct cache_slot *);
void	 cache_open_within(const struct silo_config *, const char *key,
	    double max_age_s, bool stale_ok, struct cache_slot *);
void	 cache_store(const struct silo_config *, struct cache_slot *,
	    cJSON *value);
void	 cache_store_at(const struct silo_config *, struct cache_slot *,
	    cJSON *value, double at);
void	 cache_close(struct cache_slot *);
cJSON	*cache_get(struct silo_ctx *, const char *key, cache_fill_fn,
	    void *arg);
cJSON	*cache_get_within(struct silo_ctx *, const char *key,
	    double max_age_s, cache_fill_fn, void *arg);
void	 cache_forget(const struct silo_config *, const char *prefix);
char	*cache_get_text(struct silo_ctx *, const char *key, cache_fill_fn,
	    void *arg, double *cached_at);
cJSON	*cache_text_with(char *text, const char *fields);
void	 cache_stamp_fields(double cached_at, char *buf, size_t bufsz);
#define	CACHE_STAMP_MAX		96	/* cache_stamp_fields()' buffer */
void	 cache_stamp(cJSON *obj, double cached_at);

/* ------------------------------------------------------------------ */
/* Storage snapshots, as the API reads them (storage.c)                */
/* ------------------------------------------------------------------ */

#define	STORAGE_DB		"silo"		/* silo's own database */
#define	STORAGE_SNAPSHOTS	"storage_snapshots" /* one per refresh */
#define	STORAGE_USERS		"storage_users"	/* good snapshots' users */
/* good snapshots' rendered answers, by the snapshot's _id */
#define	STORAGE_ANSWERS		"storage_answers"


bool	 storage_newest(struct mongo *, const char *status,
	    const bson_t *projection, bson_t *out, bson_error_t *);

/* ------------------------------------------------------------------ */
/* Long runs started from the API (job.c)                              */
/* ------------------------------------------------------------------ */

#define	JOB_MAX_ARGS	4	/* a started job's own arguments */

/* A job the API starts detached: `silo <args> --lock-fd 3`. */
struct job {
	const char	*lock;		/* its lock file, taken first */
	const char	*log;		/* appended its stdout and stderr */
	const char	*log_var;	/* the variable naming log, in errors */
	const char	*what;		/* "a backup", in the 409's message */
	const char	*follow;	/* how to follow it, in the 202 */
	/* e.g. "storage", "refresh"; NULL ends them */
	const char	*args[JOB_MAX_ARGS + 1];
};

void	 job_start(const struct silo_config *, const struct job *,
	    const struct silo_request *, struct silo_response *);

/* ------------------------------------------------------------------ */
/* Backup records, as the API reads them (backup_list.c)               */
/* ------------------------------------------------------------------ */

#define	BACKUP_DB		"silo"		/* silo's own database */
#define	BACKUP_RECORDS		"backups"	/* one document per run */

cJSON	*backup_list_json(struct mongo *, int stale_h, long limit,
	    struct mongo_fail *);

/* ------------------------------------------------------------------ */
/* Identity integrity after the DID migration (atproto_check.c)        */
/* ------------------------------------------------------------------ */

cJSON	*atproto_check_json(struct mongo *, struct mongo_fail *);

/* ------------------------------------------------------------------ */
/* Handlers per API area                                               */
/* ------------------------------------------------------------------ */

void	 api_misc_ping(struct silo_ctx *, const struct silo_request *,
	    struct silo_response *);
void	 api_misc_health(struct silo_ctx *, const struct silo_request *,
	    struct silo_response *);
void	 api_auth_login(struct silo_ctx *, const struct silo_request *,
	    struct silo_response *);
void	 api_auth_logout(struct silo_ctx *, const struct silo_request *,
	    struct silo_response *);
void	 api_auth_me(struct silo_ctx *, const struct silo_request *,
	    struct silo_response *);
void	 api_auth_db(struct silo_ctx *, const struct silo_request *,
	    struct silo_response *);
void	 api_db_health(struct silo_ctx *, const struct silo_request *,
	    struct silo_response *);
void	 api_db_collections(struct silo_ctx *, const struct silo_request *,
	    struct silo_response *);
void	 api_db_users_count(struct silo_ctx *, const struct silo_request *,
	    struct silo_response *);
void	 api_clients(struct silo_ctx *, const struct silo_request *,
	    struct silo_response *);
void	 api_metrics(struct silo_ctx *, const struct silo_request *,
	    struct silo_response *);
int	 metrics_render(FILE *);

/* The cutover view's tally of $currentOp (api_clients.c). */
struct clients_tally;
struct clients_tally *api_clients_tally_new(void);
void	 api_clients_tally_free(struct clients_tally *);
int	 api_clients_tally_add(const bson_t *op, void *tally);
cJSON	*api_clients_tally_json(const struct clients_tally *,
	    const char *services);
void	 api_storage_usage(struct silo_ctx *, const struct silo_request *,
	    struct silo_response *);
void	 api_storage_buckets(struct silo_ctx *, const struct silo_request *,
	    struct silo_response *);
void	 api_storage_user(struct silo_ctx *, const struct silo_request *,
	    struct silo_response *);
void	 api_storage_top_users(struct silo_ctx *, const struct silo_request *,
	    struct silo_response *);
void	 api_storage_history(struct silo_ctx *, const struct silo_request *,
	    struct silo_response *);
void	 api_storage_refresh(struct silo_ctx *, const struct silo_request *,
	    struct silo_response *);
void	 api_services_all(struct silo_ctx *, const struct silo_request *,
	    struct silo_response *);
void	 api_services_oven(struct silo_ctx *, const struct silo_request *,
	    struct silo_response *);
void	 api_services_session(struct silo_ctx *, const struct silo_request *,
	    struct silo_response *);
void	 api_services_atproto(struct silo_ctx *, const struct silo_request *,
	    struct silo_response *);
void	 api_kidlisp_stats(struct silo_ctx *, const struct silo_request *,
	    struct silo_response *);
void	 api_overview(struct silo_ctx *, const struct silo_request *,
	    struct silo_response *);
void	 api_users_get(struct silo_ctx *, const struct silo_request *,
	    struct silo_response *);
void	 api_backups_list(struct silo_ctx *, const struct silo_request *,
	    struct silo_response *);
void	 api_backups_run(struct silo_ctx *, const struct silo_request *,
	    struct silo_response *);

/* Summaries the overview shares with the areas' own answers. */
cJSON	*api_db_health_json(struct silo_ctx *, struct mongo_fail *);
cJSON	*api_db_collections_json(struct silo_ctx *, struct mongo_fail *);
bool	 api_db_up(struct silo_ctx *);
cJSON	*api_db_collections_shared(struct silo_ctx *, struct mongo_fail *);
cJSON	*api_db_users_json(struct silo_ctx *, struct mongo_fail *);
void	 api_services_collect(struct silo_ctx *, unsigned mask, cJSON *out[]);
size_t	 api_services_count(void);
cJSON	*api_kidlisp_headline(struct silo_ctx *);

/* What a /api/storage/user/:id or /api/users/:id names (parsed apart for
 * its unit test and fuzz harness), how it is resolved to a user's key,
 * and the storage answer for it, which /api/users/:id embeds. */
enum api_storage_id {
	ID_HANDLE,		/* an AC handle, '@' dropped */
	ID_SUB,			/* an auth0 sub: <provider>|<id> */
	ID_DID,			/* did:<method>:<id> */
	ID_BAD			/* none of them: a 400 */
};

enum api_storage_id api_storage_parse_id(const char *id, const char **name,
	    char *why, size_t whysz);
char	*api_storage_resolve(struct silo_ctx *, struct silo_response *,
	    enum api_storage_id, const char *name);
void	 api_storage_user_answer(struct silo_ctx *, struct silo_response *,
	    enum api_storage_id, const char *name);
cJSON	*api_storage_render(struct silo_ctx *, const bson_t *snap,
	    bson_error_t *);

#endif /* SILO_H */
