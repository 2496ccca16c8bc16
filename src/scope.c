/*
 * scope.c: the rights a caller can hold, by name, and the roles of people.
 *
 * A scope is the right to one kind of thing in one area: "read:db" to
 * read what the database routes answer, "run:backups" to start a backup,
 * "admin:db" to use mongo-express.  They are bits (enum scope in
 * silo.h), so that a caller's set is one word and a route's demand one
 * test, and they have names, here, for the route table, `silo token
 * create --scope`, /api/auth/me and the log.  A person holds the scopes of
 * their role: a viewer every read:* scope, an admin every scope.  Tokens
 * hold what they were made with (tokens.c), never a role.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "silo.h"

const char *const scope_names[SCOPE_COUNT] = {
	"read:db", "read:storage", "read:backups", "read:services",
	"read:users", "read:metrics", "run:storage", "run:backups", "admin:db"
};

/* The bit of a scope name, 0 for none. */
unsigned
scope_bit(const char *name)
{
	for (unsigned i = 0; i < SCOPE_COUNT; i++)
		if (name != NULL && strcmp(name, scope_names[i]) == 0)
			return 1u << i;
	return 0;
}

/*
 * The bits of a comma-separated list of scope names ("read:*" for every
 * read scope); 0 with why set when the list is empty or names a scope
 * that does not exist.
 */
unsigned
scope_parse_list(const char *list, char *why, size_t whysz)
{
	unsigned	 bits = 0, bit;
	char		 name[32];
	size_t		 len;

	for (const char *p = list; p != NULL && *p != '\0'; p += len) {
		if (*p == ',') {
			len = 1;
			continue;
		}
		len = strcspn(p, ",");
		snprintf(name, sizeof(name), "%.*s", (int)len, p);
		if (strcmp(name, "read:*") == 0)
			bit = SCOPE_READ_ALL;
		else if ((bit = scope_bit(name)) == 0) {
			snprintf(why, whysz, "unknown scope '%.*s' (scopes: "
			    "read:db, read:storage, read:backups, "
			    "read:services, read:users, read:metrics, read:*, "
			    "run:storage, run:backups, admin:db)", (int)len, p);
			return 0;
		}
		bits |= bit;
	}
	if (bits == 0)
		snprintf(why, whysz, "no scope given");
	return bits;
}

/* The scope names of a set, as a JSON array in table order. */
cJSON *
scope_json(unsigned scopes)
{
	cJSON	*arr = cJSON_CreateArray();

	for (unsigned i = 0; i < SCOPE_COUNT && arr != NULL; i++)
		if (scopes & (1u << i))
			cJSON_AddItemToArray(arr,
			    cJSON_CreateString(scope_names[i]));
	return arr;
}

unsigned
scope_of_role(enum user_role role)
{
	return role == ROLE_ADMIN ? SCOPE_ALL : SCOPE_READ_ALL;
}

const char *
scope_role_name(enum user_role role)
{
	return role == ROLE_ADMIN ? "admin" : "viewer";
}

/* "admin" or "viewer"; -1 for anything else. */
int
scope_role_parse(const char *name, enum user_role *role)
{
	if (name != NULL && strcmp(name, "admin") == 0)
		*role = ROLE_ADMIN;
	else if (name != NULL && strcmp(name, "viewer") == 0)
		*role = ROLE_VIEWER;
	else
		return -1;
	return 0;
}
