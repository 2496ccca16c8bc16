/*
 * routes.c: the API, one row per endpoint.
 *
 * The access column is part of every row from the first day, so that no
 * endpoint exists without a decision about who may call it.  Scopes are
 * named "read:<area>"; admin routes change state.  A route that carries
 * another route's data needs that route's scope: /api/services includes
 * the ATProto sync counts and /api/overview the database's, so both need
 * read:db, while the oven and session probes alone are public.
 */
#include "config.h"

#include "silo.h"

static const char *const kidlisp_params[] = {
	"days", "bucket", "until", "top", "recent", "source", NULL
};

const struct route silo_routes[] = {
	{ "GET", "/api/ping", ACCESS_PUBLIC, NULL, NULL, api_ping,
	  "liveness: answers without touching any backend" },
	{ "GET", "/api/db/health", ACCESS_PUBLIC, NULL, NULL, api_db_health,
	  "database status, version, uptime, ping latency, connections" },
	{ "GET", "/api/db/collections", ACCESS_SCOPE, "read:db", NULL,
	  api_db_collections,
	  "every collection with counts, sizes, indexes and its category" },
	{ "GET", "/api/db/users/count", ACCESS_SCOPE, "read:db", NULL,
	  api_db_users_count,
	  "registered users, handles, verified users, users with a DID" },
	{ "GET", "/api/services", ACCESS_SCOPE, "read:db", NULL, api_services_all,
	  "every AC service probed: oven, session server, PDS, in one answer" },
	{ "GET", "/api/services/oven", ACCESS_PUBLIC, NULL, NULL,
	  api_services_oven,
	  "oven health, version, bake and grab counts, recent bakes" },
	{ "GET", "/api/services/session", ACCESS_PUBLIC, NULL, NULL,
	  api_services_session,
	  "session server totals and connection counts (no per-client data)" },
	{ "GET", "/api/services/atproto", ACCESS_SCOPE, "read:db", NULL,
	  api_services_atproto,
	  "PDS health and the ATProto sync state of AC's collections and users" },
	{ "GET", "/api/kidlisp/stats", ACCESS_SCOPE, "read:db", kidlisp_params,
	  api_kidlisp_stats,
	  "KidLisp totals, keeps and mints, creations over time, top and recent" },
	{ "GET", "/api/overview", ACCESS_SCOPE, "read:db", NULL, api_overview,
	  "the dashboard's first screen in one cached call, with an ETag" },
};

const size_t silo_nroutes = sizeof(silo_routes) / sizeof(silo_routes[0]);
