/*
 * ac.c: what AC's collections mean to silo, in one place.
 *
 * silo reads a database another program writes, so it carries some of
 * that program's knowledge: which collection is which kind of data, which
 * the migration leaves behind, which carry ATProto records, and who is a
 * user.  Each is a table or a filter here, so that a collection AC adds
 * or renames is a change in one file.
 *
 * Categories.  The migration report groups AC's 38 collections into five
 * categories (logs/telemetry, chat, user content, users/auth,
 * social/misc) and the dashboard shows the database the same way.  The
 * report names most collections outright and the rest by family (sotce-*,
 * news-*) or as "etc." under social/misc.  The report's totals count
 * exactly six collections as logs/telemetry, so the others it lists
 * (oven-frozen-pieces, the false.work-* and jas-* tables) and
 * kidlisp-logs are social/misc here too, and the dashboard's category
 * totals are the report's.  Collections the report predates are placed
 * where their writer puts them (silo's own _firehose is telemetry, the
 * account-deletion tables are identity).  Anything else is "other", which
 * is itself useful: a new collection shows up there until someone decides
 * where it goes.
 *
 * The migration.  The report's drop list (logs and caches not worth
 * moving) is skipped by `silo import`, and its archive list (small
 * tables kept as JSON files) is copied aside instead of loaded.
 *
 * ATProto.  Six collections may carry a record key (atproto.rkey) once
 * AC has synced a document to its PDS; in four a flag (nuked, deleted)
 * takes a document out of the sync (ac-platform.md section 8).  The
 * ATProto document's publishing policy names what is never published:
 * private chat, moods, drafts, and (the PDS record is deleted on a nuke)
 * nuked items.  AC's chat has no public/private flag, so every chat
 * message counts as private; sotce pages are the drafts AC marks
 * (state "draft").  A document carries a published copy when it has any
 * of the markers AC writes: atprotoUri (the document's own example),
 * atproto.rkey or atproto.uri, or bluesky.rkey or bluesky.uri (the
 * Bluesky mirror of moods).
 *
 * Users.  Every users document is a user but art-guest, the shared
 * account guest content is published under; a user has a DID when
 * atproto.did is set or, for a migrated user, when the _id is one.
 *
 * A user's documents.  AC keys everything a user makes by the user's
 * key, the _id of their users and @handles documents: the auth0 sub, or
 * the DID a migrated user's _id became.  Which collections hold such
 * documents, and under which field, is a table here, from the writers
 * ac-platform.md section 6 names; the small social tables that section
 * does not describe are keyed by user as AC's account-deletion map lists
 * them.  Left out on purpose: users, @handles and verifications, which
 * are the user (one document each, shown as the user itself), and boots,
 * whose meta.user is whatever the browser claimed, in AC's largest
 * collection with no index on it.
 *
 * Every reference to a user.  Moving a user from their auth0 sub to a
 * DID (atproto.c) must move every place the key is held, not only the
 * documents the search lists: so beside that table is a second one with
 * the rest (the identity records keyed by the sub, boots' meta.user.sub,
 * the KidLisp keep's keeper, sotce's asks), and the two together are the
 * whole list.  A test scans the generated data set for any value equal to
 * a sub and fails on a place neither table names.
 */
#include "config.h"

#include <string.h>

#include "silo.h"

#define	AC_GUEST_ACCOUNT	"art-guest"	/* guest content's account */

/* ------------------------------------------------------------------ */
/* Categories                                                          */
/* ------------------------------------------------------------------ */

/* One exact name or name prefix and its category. */
struct ac_category_rule {
	const char		*name;		/* collection name or prefix */
	bool			 prefix;	/* match name as a prefix */
	enum ac_category	 category;	/* where it belongs */
};

static const struct ac_category_rule ac_category_rules[] = {
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
} ac_category_names[CATEGORY__MAX] = {
	[CATEGORY_LOGS] = { "logs", "logs/telemetry" },
	[CATEGORY_CHAT] = { "chat", "chat" },
	[CATEGORY_CONTENT] = { "content", "user content" },
	[CATEGORY_IDENTITY] = { "identity", "users/auth" },
	[CATEGORY_SOCIAL] = { "social", "social/misc" },
	[CATEGORY_OTHER] = { "other", "other" },
};

enum ac_category
ac_category_of(const char *collection)
{
	const size_t	 n = sizeof(ac_category_rules) /
			    sizeof(ac_category_rules[0]);

	for (size_t i = 0; i < n; i++) {
		const struct ac_category_rule *r = &ac_category_rules[i];

		if (r->prefix ?
		    strncmp(collection, r->name, strlen(r->name)) == 0 :
		    strcmp(collection, r->name) == 0)
			return r->category;
	}
	return CATEGORY_OTHER;
}

const char *
ac_category_id(enum ac_category c)
{
	return c < CATEGORY__MAX ? ac_category_names[c].id : "other";
}

const char *
ac_category_label(enum ac_category c)
{
	return c < CATEGORY__MAX ? ac_category_names[c].label : "other";
}

/* ------------------------------------------------------------------ */
/* The migration                                                       */
/* ------------------------------------------------------------------ */

/* The migration report, section 4: collections not worth migrating. */
const char *const ac_drop_list[] = {
	"boots", "oven-grabs", "oven-cache", "oven-bakes",
	"oven-frozen-pieces", "bundle-telemetry", "logs", NULL
};

/* The report's small collections to keep as JSON files, not in mongod. */
const char *const ac_archive_list[] = {
	"false.work-builds", "false.work-reports", "jas-tags",
	"jas-stretched-paintings", NULL
};

/* ------------------------------------------------------------------ */
/* ATProto                                                             */
/* ------------------------------------------------------------------ */

/* The collections that may carry ATProto records; NULL-terminated. */
const struct ac_sync_collection ac_atproto_collections[] = {
	{ "paintings", "nuked" },
	{ "moods", "deleted" },
	{ "kidlisp", NULL },
	{ "pieces", "nuked" },
	{ "tapes", "nuked" },
	{ "news-posts", NULL },
	{ NULL, NULL }
};

/* What the ATProto document says is never published; NULL-terminated. */
const struct ac_unpublished ac_unpublished[] = {
	{ "chat-system", "private chat", NULL, NULL },
	{ "chat-clock", "private chat", NULL, NULL },
	{ "chat-sotce", "private chat", NULL, NULL },
	{ "moods", "mood", NULL, NULL },
	{ "sotce-pages", "draft", "state", "draft" },
	{ "paintings", "nuked", "nuked", NULL },
	{ "pieces", "nuked", "nuked", NULL },
	{ "tapes", "nuked", "nuked", NULL },
	{ NULL, NULL, NULL, NULL }
};

/* The fields a published copy leaves on a document; NULL-terminated. */
const char *const ac_atproto_markers[] = {
	"atprotoUri", "atproto.rkey", "atproto.uri", "bluesky.rkey",
	"bluesky.uri", NULL
};

/* ------------------------------------------------------------------ */
/* Users                                                               */
/* ------------------------------------------------------------------ */

/* The users filter for registered users: art-guest is the shared account
 * guest content is published under, not a person. */
bson_t *
ac_registered_filter(void)
{
	return BCON_NEW("_id", "{", "$ne", BCON_UTF8(AC_GUEST_ACCOUNT), "}");
}

/* The users filter for "has a DID": atproto.did, or a did: _id. */
bson_t *
ac_with_did_filter(void)
{
	return BCON_NEW("$and", "[",
	    "{", "_id", "{", "$ne", BCON_UTF8(AC_GUEST_ACCOUNT), "}", "}",
	    "{", "$or", "[",
		"{", "atproto.did", "{", "$type", BCON_UTF8("string"), "}", "}",
		"{", "_id", "{", "$regex", BCON_UTF8("^did:"), "}", "}",
	    "]", "}",
	"]");
}

/* The users document's DID: atproto.did, or a migrated user's key when it
 * is a DID; NULL when the user has none.  user may be NULL (a user with a
 * handle and no users document). */
const char *
ac_user_did(const bson_t *user, const char *key)
{
	bson_iter_t	 it;

	if (user != NULL && bson_iter_init(&it, user) &&
	    bson_iter_find_descendant(&it, "atproto.did", &it) &&
	    BSON_ITER_HOLDS_UTF8(&it))
		return bson_iter_utf8(&it, NULL);
	return strncmp(key, "did:", 4) == 0 ? key : NULL;
}

/* ------------------------------------------------------------------ */
/* A user's documents                                                  */
/* ------------------------------------------------------------------ */

/* The collections holding a user's documents and the field with the
 * user's key; NULL-terminated.  An array field (logs' users) matches when
 * any element is the key. */
const struct ac_user_collection ac_user_collections[] = {
	/* User content (section 6: track-media, store-kidlisp, mood,
	 * track-tape, store-clock). */
	{ "paintings", "user" },
	{ "pieces", "user" },
	{ "kidlisp", "user" },
	{ "moods", "user" },
	{ "tapes", "user" },
	{ "clocks", "user" },
	/* Chat (chat-manager): messages and the mute lists. */
	{ "chat-system", "user" },
	{ "chat-clock", "user" },
	{ "chat-sotce", "user" },
	{ "chat-system-mutes", "user" },
	{ "chat-clock-mutes", "user" },
	{ "chat-sotce-mutes", "user" },
	/* Social and small feature tables. */
	{ "news-posts", "user" },
	{ "news-comments", "user" },
	{ "news-votes", "user" },
	{ "sotce-pages", "user" },
	{ "sotce-touches", "user" },
	{ "piece-user-hits", "user" },
	{ "tickets", "user" },
	/* The log (logger.mjs): the users an event is about. */
	{ "logs", "users" },
	{ NULL, NULL }
};

/* Every other place that holds a user's key, which the search above
 * leaves out; with ac_user_collections, every reference the auth0 ->
 * DID migration moves.  NULL-terminated.  The identity records come last,
 * @handles at the very end: the migration moves references in this
 * order, so a user whose @handles says "migrated" has nothing left to
 * move. */
const struct ac_user_reference ac_user_references[] = {
	/* store-kidlisp's keep: who kept (minted) the code, and who is
	 * keeping it now. */
	{ "kidlisp", "kept.keptBy", AC_REF_FIELD },
	{ "kidlisp", "pendingKeep.by", AC_REF_FIELD },
	/* sotce.net's questions name the asker's sub. */
	{ "sotce-asks", "from", AC_REF_FIELD },
	/* boot-log: the signed-in user a browser reported. */
	{ "boots", "meta.user.sub", AC_REF_FIELD },
	/* The user's records, keyed by the sub itself. */
	{ "verifications", "_id", AC_REF_ID },
	{ "users", "_id", AC_REF_ID },
	{ "@handles", "_id", AC_REF_HANDLE },
	{ NULL, NULL, AC_REF_FIELD }
};
