/*
 * routes.c: the API, one row per endpoint.
 *
 * The access column is part of every row from the first day, so that no
 * endpoint exists without a decision about who may call it.  Scopes are
 * named "read:<area>"; admin routes change state.
 */
#include "config.h"

#include "silo.h"

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
};

const size_t silo_nroutes = sizeof(silo_routes) / sizeof(silo_routes[0]);
