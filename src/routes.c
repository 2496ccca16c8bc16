/*
 * routes.c: the API, one row per endpoint.
 *
 * The access column is part of every row from the first day, so that no
 * endpoint exists without a decision about who may call it (access.c
 * enforces it).  Two routes are public: /api/health, up or down for
 * uptime monitors, and the sign-in.  Everything else needs a caller, and
 * nearly everything one scope: "read:<area>" to read, "run:<area>" to
 * start a job, "admin:db" for mongo-express and for the database's
 * client connections (their addresses).  A route that carries
 * another route's data needs that route's scope: /api/services includes
 * the ATProto sync counts and /api/overview the database's, so both need
 * read:db, while the oven and session probes alone need read:services.
 * /api/users/:id links a sub to its handle and DID, so it has a scope of
 * its own, read:users, though it carries the user's storage row too.
 */
#include "config.h"

#include "silo.h"

static const char *const storage_limit_param[] = { "limit", NULL };
static const char *const backups_limit_param[] = { "limit", NULL };
static const char *const kidlisp_params[] = {
	"days", "bucket", "until", "top", "recent", "source", NULL
};

const struct route routes_table[] = {
	{ "GET", "/api/health", ACCESS_PUBLIC, NULL, NULL, api_misc_health,
	  "up or down, for uptime monitors: silo and its database answer" },
	{ "POST", "/api/auth/login", ACCESS_PUBLIC, NULL, NULL, api_auth_login,
	  "sign in with a name, password and TOTP code; sets the session "
	  "cookie" },
	{ "POST", "/api/auth/logout", ACCESS_SIGNED_IN, NULL, NULL,
	  api_auth_logout, "sign out: end this session, clear its cookie" },
	{ "GET", "/api/auth/me", ACCESS_SIGNED_IN, NULL, NULL, api_auth_me,
	  "who is calling: session or token, name, role, scopes" },
	{ "GET", "/api/auth/db", ACCESS_SCOPE, "admin:db", NULL, api_auth_db,
	  "Caddy's forward_auth for /db: 204 when the caller may use "
	  "mongo-express" },
	{ "GET", "/api/ping", ACCESS_SIGNED_IN, NULL, NULL, api_misc_ping,
	  "answers without touching any backend (the bench's ceiling)" },
	{ "GET", "/api/db/health", ACCESS_SCOPE, "read:db", NULL, api_db_health,
	  "database status, version, uptime, ping latency, connections" },
	{ "GET", "/api/db/collections", ACCESS_SCOPE, "read:db", NULL,
	  api_db_collections,
	  "every collection with counts, sizes, indexes and its category" },
	{ "GET", "/api/db/users/count", ACCESS_SCOPE, "read:db", NULL,
	  api_db_users_count,
	  "registered users, handles, verified users, users with a DID" },
	{ "GET", "/api/metrics", ACCESS_SCOPE, "read:metrics", NULL,
	  api_metrics,
	  "Prometheus text: requests and latency per route, worker restarts, "
	  "database up, snapshot and backup ages, documents per collection" },
	{ "GET", "/api/db/clients", ACCESS_SCOPE, "admin:db", NULL,
	  api_clients,
	  "the database's client connections by application and address; "
	  "AC's services seen connected (the cutover view)" },
	{ "GET", "/api/storage/usage", ACCESS_SCOPE, "read:storage", NULL,
	  api_storage_usage,
	  "Spaces usage from the latest snapshot: bytes, GB, objects" },
	{ "GET", "/api/storage/buckets", ACCESS_SCOPE, "read:storage", NULL,
	  api_storage_buckets,
	  "per bucket with its prefixes; file types; the largest objects" },
	{ "GET", "/api/storage/user/:id", ACCESS_SCOPE, "read:storage", NULL,
	  api_storage_user,
	  "one user's bytes and objects per bucket and kind "
	  "(handle, sub or DID)" },
	{ "GET", "/api/storage/top-users", ACCESS_SCOPE, "read:storage",
	  storage_limit_param, api_storage_top_users,
	  "the biggest consumers, ?limit=1..100" },
	{ "GET", "/api/storage/history", ACCESS_SCOPE, "read:storage",
	  storage_limit_param, api_storage_history,
	  "total bytes and objects per snapshot over time, ?limit=1..1000" },
	{ "POST", "/api/storage/refresh", ACCESS_SCOPE, "run:storage", NULL,
	  api_storage_refresh,
	  "start `silo storage refresh` in the background: 202, "
	  "or 409 if one runs" },
	{ "GET", "/api/users/:id", ACCESS_SCOPE, "read:users", NULL,
	  api_users_get,
	  "the user search: who a handle, sub or DID is, their documents "
	  "per collection and their storage" },
	{ "GET", "/api/backups", ACCESS_SCOPE, "read:backups",
	  backups_limit_param, api_backups_list,
	  "the backups, newest first, ?limit=1..100; the last success "
	  "and verification; ok, stale, failing or none" },
	{ "POST", "/api/backups/run", ACCESS_SCOPE, "run:backups", NULL,
	  api_backups_run,
	  "start `silo backup run` in the background: 202, "
	  "or 409 if one runs" },
	{ "GET", "/api/services", ACCESS_SCOPE, "read:db", NULL,
	  api_services_all,
	  "every AC service probed: oven, session server, PDS, in one answer" },
	{ "GET", "/api/services/oven", ACCESS_SCOPE, "read:services", NULL,
	  api_services_oven,
	  "oven health, version, bake and grab counts, recent bakes" },
	{ "GET", "/api/services/session", ACCESS_SCOPE, "read:services",
	  NULL,
	  api_services_session,
	  "session server totals and connection counts (no per-client data)" },
	{ "GET", "/api/services/atproto", ACCESS_SCOPE, "read:db", NULL,
	  api_services_atproto,
	  "PDS health and the ATProto sync state of AC's collections "
	  "and users" },
	{ "GET", "/api/kidlisp/stats", ACCESS_SCOPE, "read:db", kidlisp_params,
	  api_kidlisp_stats,
	  "KidLisp totals, keeps and mints, creations over time, "
	  "top and recent" },
	{ "GET", "/api/overview", ACCESS_SCOPE, "read:db", NULL, api_overview,
	  "the dashboard's first screen in one cached call, with an ETag" },
};

const size_t routes_count = sizeof(routes_table) / sizeof(routes_table[0]);

/*
 * The routes whose answer is database work no cache holds, counted
 * against SILO_BUSY_MAX (busy.c) so that they cannot hold every worker:
 * the user search (a count per collection, some of them scans), and the
 * KidLisp stats when parameters ask for something other than the cached
 * default view.
 */
const struct route_cost routes_costly[] = {
	{ api_users_get, ROUTE_COST_ALWAYS },
	{ api_kidlisp_stats, ROUTE_COST_WITH_QUERY },
};

const size_t routes_ncostly = sizeof(routes_costly) / sizeof(routes_costly[0]);
