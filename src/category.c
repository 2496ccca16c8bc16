/*
 * category.c: which part of AC a collection belongs to.
 *
 * The migration report groups AC's 38 collections into five categories
 * (logs/telemetry, chat, user content, users/auth, social/misc) and the
 * dashboard shows the database the same way.  The report names most
 * collections outright and the rest by family (sotce-*, news-*) or as
 * "etc." under social/misc.  The report's totals count exactly six
 * collections as logs/telemetry, so the others it lists (oven-frozen-pieces,
 * the false.work-* and jas-* tables) and kidlisp-logs are social/misc here
 * too, and the dashboard's category totals are the report's.  Collections
 * the report predates are placed where their writer puts them (silo's own
 * _firehose is telemetry, the account-deletion tables are identity).
 * Anything else is "other", which is itself useful: a new collection shows
 * up there until someone decides where it goes.
 */
#include "config.h"

#include <string.h>

#include "silo.h"

/* One exact name or name prefix and its category. */
struct category_rule {
	const char		*name;		/* collection name or prefix */
	bool			 prefix;	/* match name as a prefix */
	enum collection_category category;	/* where it belongs */
};

static const struct category_rule category_rules[] = {
	/* Logs and telemetry: disposable, and the bulk of the documents. */
	{ "boots", false, CATEGORY_LOGS },
	{ "logs", false, CATEGORY_LOGS },
	{ "bundle-telemetry", false, CATEGORY_LOGS },
	{ "oven-grabs", false, CATEGORY_LOGS },
	{ "oven-bakes", false, CATEGORY_LOGS },
	{ "oven-cache", false, CATEGORY_LOGS },
	{ "_firehose", false, CATEGORY_LOGS },
	/* Chat: the three rooms, their mute lists and hearts. */
	{ "chat-", true, CATEGORY_CHAT },
	{ "hearts", false, CATEGORY_CHAT },
	/* User content: the creative core. */
	{ "kidlisp", false, CATEGORY_CONTENT },
	{ "paintings", false, CATEGORY_CONTENT },
	{ "pieces", false, CATEGORY_CONTENT },
	{ "moods", false, CATEGORY_CONTENT },
	{ "tapes", false, CATEGORY_CONTENT },
	{ "clocks", false, CATEGORY_CONTENT },
	/* Users and auth. */
	{ "users", false, CATEGORY_IDENTITY },
	{ "@handles", false, CATEGORY_IDENTITY },
	{ "verifications", false, CATEGORY_IDENTITY },
	{ "secrets", false, CATEGORY_IDENTITY },
	{ "account-deletions", false, CATEGORY_IDENTITY },
	{ "account-tombstones", false, CATEGORY_IDENTITY },
	{ "handle-quarantine", false, CATEGORY_IDENTITY },
	{ "insta-sessions", false, CATEGORY_IDENTITY },
	/* Social and small feature tables. */
	{ "sotce-", true, CATEGORY_SOCIAL },
	{ "news-", true, CATEGORY_SOCIAL },
	{ "piece-hits", false, CATEGORY_SOCIAL },
	{ "piece-user-hits", false, CATEGORY_SOCIAL },
	{ "tickets", false, CATEGORY_SOCIAL },
	{ "products", false, CATEGORY_SOCIAL },
	{ "servers", false, CATEGORY_SOCIAL },
	{ "jas-", true, CATEGORY_SOCIAL },
	{ "false.work-", true, CATEGORY_SOCIAL },
	{ "oven-frozen-pieces", false, CATEGORY_SOCIAL },
	{ "kidlisp-logs", false, CATEGORY_SOCIAL },
};

/* Identifier and label of each category, indexed by the enum. */
static const struct {
	const char	*id;		/* stable key in the API */
	const char	*label;		/* the report's wording */
} category_names[CATEGORY__MAX] = {
	[CATEGORY_LOGS] = { "logs", "logs/telemetry" },
	[CATEGORY_CHAT] = { "chat", "chat" },
	[CATEGORY_CONTENT] = { "content", "user content" },
	[CATEGORY_IDENTITY] = { "identity", "users/auth" },
	[CATEGORY_SOCIAL] = { "social", "social/misc" },
	[CATEGORY_OTHER] = { "other", "other" },
};

enum collection_category
category_of(const char *collection)
{
	for (size_t i = 0; i < sizeof(category_rules) / sizeof(category_rules[0]); i++) {
		const struct category_rule *r = &category_rules[i];

		if (r->prefix ?
		    strncmp(collection, r->name, strlen(r->name)) == 0 :
		    strcmp(collection, r->name) == 0)
			return r->category;
	}
	return CATEGORY_OTHER;
}

const char *
category_id(enum collection_category c)
{
	return c < CATEGORY__MAX ? category_names[c].id : "other";
}

const char *
category_label(enum collection_category c)
{
	return c < CATEGORY__MAX ? category_names[c].label : "other";
}
