/*
 * api_clients.c: GET /api/db/clients, the cutover view.
 *
 * The migration's last step is "verify all services connect, then
 * decommission Atlas".  This route says who is connected to the database
 * now: its client connections from $currentOp, idle ones included, each
 * grouped by the application name its driver sent (appName=) and its
 * source address without the port, with a count.  $currentOp needs the
 * inprog privilege on mongod, which the clusterMonitor role gives; the
 * bootstrap gives it to the silo user.
 *
 * AC's services are named in SILO_DB_CLIENTS as name:match, the match
 * being an application name or an address.  For each the answer says how
 * many connections it has now and when it was last seen connected: a
 * sighting is written to silo.db_clients_seen, so a service that
 * connects once a night is still known to have moved, after its
 * connection closed.  A group belongs to the first service it matches.
 *
 * FerretDB v1 has no $currentOp stage (docs/ferretdb.md), and a mongod
 * user without clusterMonitor may not run it: either way the answer is
 * still a 200, with "supported": false and the server's own reason, and
 * the services listed with what was last seen.  Only a database that
 * cannot be reached is a 503.
 *
 * The tally (api_clients_tally_*) is a pure function of $currentOp's
 * documents and the setting, so a unit test can feed it mongod's real
 * shapes without a mongod.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "silo.h"

#define	CLIENTS_MAX_GROUPS	256	/* groups kept; the rest "other" */
#define	CLIENTS_SEEN_COLL	"db_clients_seen" /* in silo's database */
#define	CLIENTS_DB		"silo"		/* silo's own database */

/* One application name at one address. */
struct clients_group {
	char		 app[128];	/* appName, "" when none was sent */
	char		 addr[64];	/* the source address, no port */
	int64_t		 count;		/* its connections */
};

/* What $currentOp said, grouped. */
struct clients_tally {
	struct clients_group groups[CLIENTS_MAX_GROUPS]; /* first seen first */
	size_t		 ngroups;	/* in use */
	int64_t		 other;		/* connections past the last group */
	int64_t		 total;		/* every client connection */
};

struct clients_tally *
api_clients_tally_new(void)
{
	return calloc(1, sizeof(struct clients_tally));
}

void
api_clients_tally_free(struct clients_tally *t)
{
	free(t);
}

/* "10.0.0.5:51234" -> "10.0.0.5"; "[::1]:51234" -> "::1". */
static void
api_clients_address(const char *client, char *out, size_t outsz)
{
	const char	*end;
	size_t		 len;

	if (client[0] == '[' && (end = strchr(client, ']')) != NULL) {
		client++;
		len = (size_t)(end - client);
	} else if ((end = strrchr(client, ':')) != NULL)
		len = (size_t)(end - client);
	else
		len = strlen(client);
	if (len >= outsz)
		len = outsz - 1;
	memcpy(out, client, len);
	out[len] = '\0';
}

/*
 * Count one $currentOp document; a mongo_doc_cb.  Operations without a
 * "client" are the server's own threads, not connections.
 */
int
api_clients_tally_add(const bson_t *op, void *arg)
{
	struct clients_tally	*t = arg;
	const char		*client = mongo_get_utf8(op, "client");
	const char		*app = mongo_get_utf8(op, "appName");
	char			 addr[64];
	size_t			 i;

	if (client == NULL)
		return 0;
	api_clients_address(client, addr, sizeof(addr));
	if (app == NULL)
		app = "";
	t->total++;
	for (i = 0; i < t->ngroups; i++)
		if (strcmp(t->groups[i].addr, addr) == 0 &&
		    strncmp(t->groups[i].app, app,
		    sizeof(t->groups[i].app) - 1) == 0)
			break;
	if (i == t->ngroups) {
		if (t->ngroups == CLIENTS_MAX_GROUPS) {
			t->other++;
			return 0;
		}
		snprintf(t->groups[i].app, sizeof(t->groups[i].app), "%s",
		    app);
		snprintf(t->groups[i].addr, sizeof(t->groups[i].addr), "%s",
		    addr);
		t->ngroups++;
	}
	t->groups[i].count++;
	return 0;
}

/* len bytes of s as a JSON string. */
static cJSON *
api_clients_string(const char *s, size_t len)
{
	char	*copy = strndup(s, len);
	cJSON	*str = cJSON_CreateString(copy != NULL ? copy : "");

	free(copy);
	return str;
}

/* Does a group answer to a service's match (its app name or address)? */
static bool
api_clients_matches(const struct clients_group *g, const char *match,
    size_t len)
{
	return (strlen(g->app) == len && memcmp(g->app, match, len) == 0) ||
	    (strlen(g->addr) == len && memcmp(g->addr, match, len) == 0);
}

/* The groups, largest first, each with the service it belongs to. */
static cJSON *
api_clients_groups_json(const struct clients_tally *t, const int *owner,
    const char *services)
{
	cJSON		*list = cJSON_CreateArray();
	bool		 done[CLIENTS_MAX_GROUPS] = { false };

	for (size_t n = 0; n < t->ngroups; n++) {
		size_t	 best = t->ngroups;
		cJSON	*g;

		for (size_t i = 0; i < t->ngroups; i++)
			if (!done[i] && (best == t->ngroups ||
			    t->groups[i].count > t->groups[best].count))
				best = i;
		done[best] = true;
		g = cJSON_CreateObject();
		if (t->groups[best].app[0] != '\0')
			cJSON_AddStringToObject(g, "app", t->groups[best].app);
		else
			cJSON_AddNullToObject(g, "app");
		cJSON_AddStringToObject(g, "address", t->groups[best].addr);
		resp_add_int(g, "connections", t->groups[best].count);
		if (owner[best] >= 0) {
			const char	*s = services;

			for (int k = 0; k < owner[best]; k++)
				s = strchr(s, ',') + 1;
			cJSON_AddItemToObject(g, "service",
			    api_clients_string(s, strcspn(s, ":")));
		} else
			cJSON_AddNullToObject(g, "service");
		cJSON_AddItemToArray(list, g);
	}
	return list;
}

/*
 * The answer's "connections", "groups" and "services" (name, match,
 * connected: how many now) from a tally and SILO_DB_CLIENTS (NULL for
 * none).  A group belongs to the first service that matches it.
 */
cJSON *
api_clients_tally_json(const struct clients_tally *t, const char *services)
{
	cJSON		*body = cJSON_CreateObject(), *list;
	int		 owner[CLIENTS_MAX_GROUPS];
	const char	*s;
	int		 k;

	for (size_t i = 0; i < t->ngroups; i++)
		owner[i] = -1;
	list = cJSON_CreateArray();
	for (s = services, k = 0; s != NULL && *s != '\0'; k++) {
		size_t		 name = strcspn(s, ":");
		const char	*match = s + name + 1;
		size_t		 len = strcspn(match, ",");
		int64_t		 now = 0;
		cJSON		*item = cJSON_CreateObject();

		for (size_t i = 0; i < t->ngroups; i++)
			if (owner[i] == -1 &&
			    api_clients_matches(&t->groups[i], match, len)) {
				owner[i] = k;
				now += t->groups[i].count;
			}
		cJSON_AddItemToObject(item, "name", api_clients_string(s,
		    name));
		cJSON_AddItemToObject(item, "match",
		    api_clients_string(match, len));
		resp_add_int(item, "connected", now);
		cJSON_AddItemToArray(list, item);
		s = match[len] == ',' ? match + len + 1 : match + len;
	}
	resp_add_int(body, "connections", t->total);
	cJSON_AddItemToObject(body, "groups",
	    api_clients_groups_json(t, owner, services));
	resp_add_int(body, "other", t->other);
	cJSON_AddItemToObject(body, "services", list);
	return body;
}

/*
 * Each service's last sighting: written now for those connected, read
 * for the others.  False with f set on a database error.
 */
static bool
api_clients_seen(struct mongo *m, cJSON *services, struct mongo_fail *f)
{
	bson_error_t	 e;
	cJSON		*item;
	char		 when[CLOCK_ISO_MAX];

	cJSON_ArrayForEach(item, services) {
		const char	*name = cJSON_GetObjectItem(item,
				    "name")->valuestring;
		bson_t		*filter = BCON_NEW("_id", BCON_UTF8(name));
		bson_t		 doc;
		int64_t		 seen = -1;
		bool		 ok = true;

		if (cJSON_GetObjectItem(item, "connected")->valuedouble > 0) {
			seen = clock_real_ms();
			ok = mongo_upsert_date(m, CLIENTS_DB, CLIENTS_SEEN_COLL,
			    filter, "last_seen", seen, &e);
		} else if (mongo_find_one(m, CLIENTS_DB, CLIENTS_SEEN_COLL,
		    filter, NULL, &doc, &e)) {
			seen = mongo_get_date(&doc, "last_seen", -1);
			bson_destroy(&doc);
		} else
			ok = e.code == 0;
		bson_destroy(filter);
		if (!ok) {
			mongo_fail_set(f, &e, "the services' last sightings");
			return false;
		}
		if (seen >= 0) {
			clock_iso(seen, CLOCK_ISO_MS, when, sizeof(when));
			cJSON_AddStringToObject(item, "last_seen", when);
		} else
			cJSON_AddNullToObject(item, "last_seen");
	}
	return true;
}

void
api_clients(struct silo_ctx *ctx, const struct silo_request *req,
    struct silo_response *resp)
{
	struct clients_tally	*t;
	struct mongo_fail	 f;
	bson_error_t		 e;
	bson_t			*pipeline;
	cJSON			*body;
	bool			 supported;

	if ((t = api_clients_tally_new()) == NULL) {
		resp_error(resp, 500, "internal", "out of memory");
		return;
	}
	pipeline = BCON_NEW("pipeline", "[",
	    "{", "$currentOp", "{", "allUsers", BCON_BOOL(true),
	    "idleConnections", BCON_BOOL(true), "}", "}", "]");
	supported = mongo_admin_aggregate_each(ctx->mongo, pipeline,
	    api_clients_tally_add, t, &e);
	bson_destroy(pipeline);
	if (!supported && mongo_error_is_unavailable(&e)) {
		mongo_fail_set(&f, &e, "$currentOp");
		resp_db_fail(resp, ctx->config->mongo_db, &f);
		api_clients_tally_free(t);
		return;
	}
	if (!supported)
		memset(t, 0, sizeof(*t));
	body = api_clients_tally_json(t, ctx->config->db_clients);
	api_clients_tally_free(t);
	cJSON_AddBoolToObject(body, "supported", supported);
	if (!supported) {
		cJSON_AddStringToObject(body, "reason", e.code == 13 ?
		    "not reported: the database user lacks the "
		    "clusterMonitor role ($currentOp's inprog)" :
		    "not reported by this server: $currentOp failed");
		cJSON_AddStringToObject(body, "server_said", e.message);
	}
	if (!api_clients_seen(ctx->mongo, cJSON_GetObjectItem(body,
	    "services"), &f)) {
		cJSON_Delete(body);
		resp_db_fail(resp, ctx->config->mongo_db, &f);
		return;
	}
	resp_json(resp, 200, body);
}
