/*
 * archive.c: write a dump in mongodump's archive format.
 *
 * `mongodump --archive` writes one stream and `mongorestore --archive`
 * reads it; silo writes the same stream, so that MongoDB's own tools
 * restore a silo backup.  docs/backup-format.md describes it byte by
 * byte.  In short: a magic number, a prelude (a header document, one
 * document per namespace carrying its options and indexes as Extended
 * JSON text, a terminator), then blocks: a namespace header document,
 * that namespace's documents as raw BSON, a terminator.  A namespace
 * ends with an EOF header carrying the CRC-64 of all its documents'
 * bytes, and a terminator.  Every number is little-endian.
 *
 * Documents come in as raw BSON and go out as the same bytes: nothing is
 * parsed but the four-byte length and the trailing NUL, which are
 * checked because mongorestore refuses a stream where they are wrong.
 * Only the prelude's metadata passes through JSON, because the format
 * stores it as JSON text (canonical Extended JSON, what mongodump writes).
 *
 * Memory is bounded and small: one staging buffer (ARCHIVE_STAGE bytes)
 * gathers headers and small documents so that the next stage (gzip) is
 * called with large writes; a document that does not fit goes through
 * unbuffered.  A block holds at most ARCHIVE_BLOCK_MAX bytes of
 * documents, the size of mongodump's per-collection buffer, after which
 * the writer closes it and opens another for the same namespace; the
 * reader sees the same shape mongodump produces when it interleaves
 * collections.  An empty namespace gets one empty block before its EOF
 * header, as mongodump writes it.
 *
 * The CRC is Go's hash/crc64 with the ECMA table (CRC-64/XZ: reflected,
 * all-ones initial value and final xor), which mongorestore recomputes
 * and compares; it runs eight bytes a step from tables kept in the
 * struct, so that no global state is needed.
 *
 * Errors: every call returns 0 or -1 with err set to a sentence naming
 * the stage ("writing the prelude", "db.c: writing documents", ...).  A
 * failed write leaves the archive failed: every later call is refused,
 * and the caller aborts it.
 */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "extern.h"

#define	ARCHIVE_MAGIC		0x8199e26du	/* first four bytes, LE */
#define	ARCHIVE_TERMINATOR	0xffffffffu	/* ends a prelude or block */
#define	ARCHIVE_FORMAT		"0.1"		/* the only format version */
#define	ARCHIVE_STAGE		(256u << 10)	/* staging buffer bytes */
#define	ARCHIVE_CRC_POLY	0xc96c5795d7870f42ull /* ECMA-182, reflected */
#define	ARCHIVE_UUID_LEN	32		/* hex digits of a UUID */
/* listCollections' type of what silo dumps, which mongodump copies */
#define	ARCHIVE_TYPE		"collection"
#define	ARCHIVE_NO_NS		((size_t)-1)	/* no block is open */

/* Where an archive is in its life. */
enum archive_state {
	ARCHIVE_NEW,		/* the prelude is not written yet */
	ARCHIVE_BODY,		/* blocks are being written */
	ARCHIVE_FAILED,		/* a write failed; only abort/free remain */
	ARCHIVE_DONE		/* finished or aborted */
};

/* One namespace of the prelude and what the body has written of it. */
struct archive_nsstate {
	char		*db;		/* database name */
	char		*collection;	/* collection name */
	uint64_t	 crc;		/* CRC-64 of its documents so far */
	uint64_t	 docs;		/* documents written */
	bool		 opened;	/* a block of it was ever written */
	bool		 ended;		/* its EOF header is written */
};

struct archive {
	struct sink		 out;		/* the next stage */
	char			*server_version; /* the server dumped */
	char			*tool_version;	/* who wrote the archive */
	enum archive_state	 state;		/* see the enum */
	struct archive_nsstate	*ns;		/* the prelude's namespaces */
	size_t			 nns;		/* how many */
	size_t			 current;	/* ns index of the open block */
	size_t			 block;		/* its document bytes */
	uint8_t			*stage;		/* ARCHIVE_STAGE bytes */
	size_t			 staged;	/* bytes waiting in stage */
	/* the namespace being written, for errors; NULL: none */
	const struct archive_nsstate *doing;
	uint64_t		 crc_table[8][256]; /* slicing-by-8 tables */
};

/* ---- CRC-64 (Go's crc64.ECMA) ---- */

static void
archive_crc_init(struct archive *a)
{
	uint64_t	 c;
	int		 i, k;

	for (i = 0; i < 256; i++) {
		c = (uint64_t)i;
		for (k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ ARCHIVE_CRC_POLY : c >> 1;
		a->crc_table[0][i] = c;
	}
	for (i = 0; i < 256; i++)
		for (k = 1; k < 8; k++) {
			c = a->crc_table[k - 1][i];
			a->crc_table[k][i] = a->crc_table[0][c & 0xff] ^
			    (c >> 8);
		}
}

static uint64_t
archive_crc(const struct archive *a, uint64_t crc, const uint8_t *p,
    size_t n)
{
	const uint64_t	(*t)[256] = a->crc_table;
	uint64_t	 x;

	crc = ~crc;
	for (; n >= 8; p += 8, n -= 8) {
		x = crc ^ ((uint64_t)p[0] | (uint64_t)p[1] << 8 |
		    (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24 |
		    (uint64_t)p[4] << 32 | (uint64_t)p[5] << 40 |
		    (uint64_t)p[6] << 48 | (uint64_t)p[7] << 56);
		crc = t[7][x & 0xff] ^ t[6][(x >> 8) & 0xff] ^
		    t[5][(x >> 16) & 0xff] ^ t[4][(x >> 24) & 0xff] ^
		    t[3][(x >> 32) & 0xff] ^ t[2][(x >> 40) & 0xff] ^
		    t[1][(x >> 48) & 0xff] ^ t[0][x >> 56];
	}
	for (; n > 0; p++, n--)
		crc = t[0][(crc ^ *p) & 0xff] ^ (crc >> 8);
	return ~crc;
}

/* ---- output ---- */

/* Says that the next stage failed, and leaves the archive failed. */
static int
archive_sink_failed(struct archive *a, const char *stage, const char *why,
    char *err, size_t errsz)
{
	const struct archive_nsstate	*s = a->doing;

	if (why[0] == '\0')
		why = "the next stage failed";
	if (s != NULL)
		snprintf(err, errsz, "archive: %s.%s: %s: %s", s->db,
		    s->collection, stage, why);
	else
		snprintf(err, errsz, "archive: %s: %s", stage, why);
	a->state = ARCHIVE_FAILED;
	return -1;
}

/* Sends the staged bytes on; stage names what was being written. */
static int
archive_flush(struct archive *a, const char *stage, char *err,
    size_t errsz)
{
	char	 why[512];

	if (a->staged == 0)
		return 0;
	why[0] = '\0';
	if (a->out.write(a->out.ctx, a->stage, a->staged, why,
	    sizeof(why)) != 0)
		return archive_sink_failed(a, stage, why, err, errsz);
	a->staged = 0;
	return 0;
}

/* Appends n bytes to the output, through the staging buffer. */
static int
archive_emit(struct archive *a, const void *p, size_t n, const char *stage,
    char *err, size_t errsz)
{
	char	 why[512];

	if (n > ARCHIVE_STAGE - a->staged &&
	    archive_flush(a, stage, err, errsz) != 0)
		return -1;
	if (n < ARCHIVE_STAGE) {
		memcpy(a->stage + a->staged, p, n);
		a->staged += n;
		return 0;
	}
	why[0] = '\0';
	if (a->out.write(a->out.ctx, p, n, why, sizeof(why)) != 0)
		return archive_sink_failed(a, stage, why, err, errsz);
	return 0;
}

static int
archive_emit_u32(struct archive *a, uint32_t v, const char *stage,
    char *err, size_t errsz)
{
	uint8_t	 b[4];

	b[0] = v & 0xff;
	b[1] = (v >> 8) & 0xff;
	b[2] = (v >> 16) & 0xff;
	b[3] = (v >> 24) & 0xff;
	return archive_emit(a, b, sizeof(b), stage, err, errsz);
}

static int
archive_emit_bson(struct archive *a, const bson_t *b, const char *stage,
    char *err, size_t errsz)
{
	return archive_emit(a, bson_get_data(b), b->len, stage, err, errsz);
}

/* ---- the prelude ---- */

/* mongorestore parses the server version as X.Y.Z[-+anything]. */
static bool
archive_version_ok(const char *v)
{
	int	 part;

	for (part = 0; part < 3; part++) {
		if (part > 0 && *v++ != '.')
			return false;
		if (!isdigit((unsigned char)*v))
			return false;
		while (isdigit((unsigned char)*v))
			v++;
	}
	return *v == '\0' || *v == '-' || *v == '+';
}

static bool
archive_uuid_ok(const char *u)
{
	size_t	 i;

	for (i = 0; i < ARCHIVE_UUID_LEN; i++)
		if (!isxdigit((unsigned char)u[i]))
			return false;
	return u[i] == '\0';
}

static size_t
archive_find(const struct archive *a, const char *db, const char *coll)
{
	size_t	 i;

	if (a->current != ARCHIVE_NO_NS &&
	    strcmp(a->ns[a->current].collection, coll) == 0 &&
	    strcmp(a->ns[a->current].db, db) == 0)
		return a->current;
	for (i = 0; i < a->nns; i++)
		if (strcmp(a->ns[i].collection, coll) == 0 &&
		    strcmp(a->ns[i].db, db) == 0)
			return i;
	return ARCHIVE_NO_NS;
}

/* Checks one namespace of the prelude and copies its names. */
static int
archive_ns_add(struct archive *a, const struct archive_ns *ns, char *err,
    size_t errsz)
{
	struct archive_nsstate	*s;

	if (ns->db == NULL || ns->db[0] == '\0' || ns->collection == NULL ||
	    ns->collection[0] == '\0') {
		snprintf(err, errsz, "archive: namespace %zu of the prelude "
		    "has no database or collection name", a->nns + 1);
		return -1;
	}
	if (ns->uuid != NULL && !archive_uuid_ok(ns->uuid)) {
		snprintf(err, errsz, "archive: %s.%s: the uuid is not %d hex "
		    "digits", ns->db, ns->collection, ARCHIVE_UUID_LEN);
		return -1;
	}
	if (archive_find(a, ns->db, ns->collection) != ARCHIVE_NO_NS) {
		snprintf(err, errsz, "archive: %s.%s: twice in the prelude",
		    ns->db, ns->collection);
		return -1;
	}
	s = &a->ns[a->nns];
	memset(s, 0, sizeof(*s));
	if ((s->db = strdup(ns->db)) == NULL ||
	    (s->collection = strdup(ns->collection)) == NULL) {
		free(s->db);
		snprintf(err, errsz, "archive: out of memory");
		return -1;
	}
	a->nns++;
	return 0;
}

/*
 * The metadata text of a namespace: what mongodump writes into
 * metadata.json, {options, indexes, uuid, collectionName, type}, with
 * options and uuid left out when empty, as canonical Extended JSON.
 */
static char *
archive_metadata_json(const struct archive_ns *ns)
{
	bson_t	 meta, empty = BSON_INITIALIZER;
	char	 uuid[ARCHIVE_UUID_LEN + 1];
	char	*json = NULL;
	size_t	 i;

	bson_init(&meta);
	if (ns->options != NULL && !bson_empty(ns->options) &&
	    !BSON_APPEND_DOCUMENT(&meta, "options", ns->options))
		goto out;
	if (!BSON_APPEND_ARRAY(&meta, "indexes",
	    ns->indexes != NULL ? ns->indexes : &empty))
		goto out;
	if (ns->uuid != NULL) {
		for (i = 0; i < ARCHIVE_UUID_LEN; i++)
			uuid[i] = (char)tolower((unsigned char)ns->uuid[i]);
		uuid[i] = '\0';
		if (!BSON_APPEND_UTF8(&meta, "uuid", uuid))
			goto out;
	}
	if (!BSON_APPEND_UTF8(&meta, "collectionName", ns->collection) ||
	    !BSON_APPEND_UTF8(&meta, "type", ARCHIVE_TYPE))
		goto out;
	json = bson_as_canonical_extended_json(&meta, NULL);
out:
	bson_destroy(&meta);
	return json;
}

/* The prelude's document for one namespace (a CollectionMetadata). */
static int
archive_emit_nsmeta(struct archive *a, const struct archive_ns *ns,
    char *err, size_t errsz)
{
	bson_t	 doc;
	char	*json;
	int	 rc = -1;

	if ((json = archive_metadata_json(ns)) == NULL) {
		snprintf(err, errsz, "archive: %s.%s: its options and indexes "
		    "do not make a metadata document", ns->db, ns->collection);
		return -1;
	}
	bson_init(&doc);
	if (!BSON_APPEND_UTF8(&doc, "db", ns->db) ||
	    !BSON_APPEND_UTF8(&doc, "collection", ns->collection) ||
	    !BSON_APPEND_UTF8(&doc, "metadata", json) ||
	    !BSON_APPEND_INT32(&doc, "size", 0) ||
	    !BSON_APPEND_UTF8(&doc, "type", ARCHIVE_TYPE) ||
	    doc.len > ARCHIVE_MAX_DOC)
		snprintf(err, errsz, "archive: %s.%s: its prelude document "
		    "is larger than %u bytes", ns->db, ns->collection,
		    ARCHIVE_MAX_DOC);
	else
		rc = archive_emit_bson(a, &doc, "writing the prelude", err,
		    errsz);
	bson_destroy(&doc);
	bson_free(json);
	return rc;
}

static int
archive_emit_header(struct archive *a, char *err, size_t errsz)
{
	bson_t	 h;
	int	 rc;

	bson_init(&h);
	BSON_APPEND_INT32(&h, "concurrent_collections", 1);
	BSON_APPEND_UTF8(&h, "version", ARCHIVE_FORMAT);
	BSON_APPEND_UTF8(&h, "server_version", a->server_version);
	BSON_APPEND_UTF8(&h, "tool_version", a->tool_version);
	rc = archive_emit_bson(a, &h, "writing the prelude", err, errsz);
	bson_destroy(&h);
	return rc;
}

/* Refuses a call made in the wrong state. */
static int
archive_expect(const struct archive *a, enum archive_state want,
    const char *call, char *err, size_t errsz)
{
	if (a->state == want)
		return 0;
	if (a->state == ARCHIVE_FAILED)
		snprintf(err, errsz, "archive: %s after a failed write", call);
	else if (a->state == ARCHIVE_DONE)
		snprintf(err, errsz, "archive: %s after the archive was "
		    "finished or aborted", call);
	else if (a->state == ARCHIVE_NEW)
		snprintf(err, errsz, "archive: %s before the prelude", call);
	else
		snprintf(err, errsz, "archive: %s after the prelude", call);
	return -1;
}

struct archive *
archive_new(struct sink out, const char *server_version,
    const char *tool_version)
{
	struct archive	*a;

	if ((a = calloc(1, sizeof(*a))) == NULL)
		return NULL;
	a->out = out;
	a->current = ARCHIVE_NO_NS;
	a->state = ARCHIVE_NEW;
	a->server_version = strdup(server_version != NULL ?
	    server_version : "");
	a->tool_version = strdup(tool_version != NULL ? tool_version : "");
	a->stage = malloc(ARCHIVE_STAGE);
	if (a->server_version == NULL || a->tool_version == NULL ||
	    a->stage == NULL) {
		free(a->server_version);
		free(a->tool_version);
		free(a->stage);
		free(a);
		return NULL;
	}
	archive_crc_init(a);
	return a;
}

int
archive_prelude(struct archive *a, const struct archive_ns *ns, size_t n,
    char *err, size_t errsz)
{
	size_t	 i;

	if (archive_expect(a, ARCHIVE_NEW, "the prelude", err, errsz) != 0)
		return -1;
	a->state = ARCHIVE_FAILED;	/* until the prelude is out */
	if (!archive_version_ok(a->server_version)) {
		snprintf(err, errsz, "archive: server version \"%s\" is not "
		    "X.Y.Z, which mongorestore needs", a->server_version);
		return -1;
	}
	if (n > 0 && (a->ns = calloc(n, sizeof(*a->ns))) == NULL) {
		snprintf(err, errsz, "archive: out of memory");
		return -1;
	}
	for (i = 0; i < n; i++)
		if (archive_ns_add(a, &ns[i], err, errsz) != 0)
			return -1;
	if (archive_emit_u32(a, ARCHIVE_MAGIC, "writing the prelude", err,
	    errsz) != 0 || archive_emit_header(a, err, errsz) != 0)
		return -1;
	for (i = 0; i < n; i++)
		if (archive_emit_nsmeta(a, &ns[i], err, errsz) != 0)
			return -1;
	if (archive_emit_u32(a, ARCHIVE_TERMINATOR, "writing the prelude",
	    err, errsz) != 0 ||
	    archive_flush(a, "writing the prelude", err, errsz) != 0)
		return -1;
	a->state = ARCHIVE_BODY;
	return 0;
}

/* ---- the body ---- */

/* A namespace header: opens a block (eof false) or ends a namespace. */
static int
archive_emit_nsheader(struct archive *a, size_t i, bool eof,
    const char *stage, char *err, size_t errsz)
{
	const struct archive_nsstate	*s = &a->ns[i];
	bson_t				 h;
	int				 rc;

	bson_init(&h);
	BSON_APPEND_UTF8(&h, "db", s->db);
	BSON_APPEND_UTF8(&h, "collection", s->collection);
	BSON_APPEND_BOOL(&h, "EOF", eof);
	/* the uint64 CRC's bits, stored as BSON's int64 */
	BSON_APPEND_INT64(&h, "CRC", eof ? (int64_t)s->crc : 0);
	if (h.len > ARCHIVE_MAX_DOC) {
		snprintf(err, errsz, "archive: %s.%s: names too long",
		    s->db, s->collection);
		rc = -1;
	} else
		rc = archive_emit_bson(a, &h, stage, err, errsz);
	bson_destroy(&h);
	return rc;
}

/* Ends the open block, if any. */
static int
archive_close_block(struct archive *a, const char *stage, char *err,
    size_t errsz)
{
	if (a->current == ARCHIVE_NO_NS)
		return 0;
	a->current = ARCHIVE_NO_NS;
	a->block = 0;
	return archive_emit_u32(a, ARCHIVE_TERMINATOR, stage, err, errsz);
}

/* Ends the open block and opens one of namespace i. */
static int
archive_open_block(struct archive *a, size_t i, const char *stage,
    char *err, size_t errsz)
{
	if (archive_close_block(a, stage, err, errsz) != 0 ||
	    archive_emit_nsheader(a, i, false, stage, err, errsz) != 0)
		return -1;
	a->current = i;
	a->block = 0;
	a->ns[i].opened = true;
	return 0;
}

/* Finds an open namespace of the prelude, or says why not. */
static size_t
archive_ns_open(struct archive *a, const char *db, const char *coll,
    const char *call, char *err, size_t errsz)
{
	size_t	 i;

	if (archive_expect(a, ARCHIVE_BODY, call, err, errsz) != 0)
		return ARCHIVE_NO_NS;
	i = archive_find(a, db != NULL ? db : "", coll != NULL ? coll : "");
	if (i == ARCHIVE_NO_NS)
		snprintf(err, errsz, "archive: %s.%s: %s for a namespace not "
		    "in the prelude", db != NULL ? db : "",
		    coll != NULL ? coll : "", call);
	else if (a->ns[i].ended) {
		snprintf(err, errsz, "archive: %s.%s: %s after its end",
		    db, coll, call);
		i = ARCHIVE_NO_NS;
	}
	return i;
}

/* The framing mongorestore checks: length prefix and trailing NUL. */
static int
archive_doc_check(const char *db, const char *coll, const uint8_t *bson,
    size_t len, char *err, size_t errsz)
{
	if (bson == NULL || len < 5 || len > ARCHIVE_MAX_DOC)
		snprintf(err, errsz, "archive: %s.%s: a document of %zu bytes "
		    "(BSON documents are 5 to %u)", db, coll, len,
		    ARCHIVE_MAX_DOC);
	else if (((uint32_t)bson[0] | (uint32_t)bson[1] << 8 |
	    (uint32_t)bson[2] << 16 | (uint32_t)bson[3] << 24) != len)
		snprintf(err, errsz, "archive: %s.%s: a document whose length "
		    "prefix is not its %zu bytes", db, coll, len);
	else if (bson[len - 1] != 0)
		snprintf(err, errsz, "archive: %s.%s: a document that does not "
		    "end in NUL", db, coll);
	else
		return 0;
	return -1;
}

int
archive_doc(struct archive *a, const char *db, const char *collection,
    const uint8_t *bson, size_t len, char *err, size_t errsz)
{
	const char	*stage = "writing documents";
	size_t		 i;

	i = archive_ns_open(a, db, collection, "a document", err, errsz);
	if (i == ARCHIVE_NO_NS ||
	    archive_doc_check(db, collection, bson, len, err, errsz) != 0)
		return -1;
	a->doing = &a->ns[i];
	if ((a->current != i || a->block + len > ARCHIVE_BLOCK_MAX) &&
	    archive_open_block(a, i, stage, err, errsz) != 0)
		return -1;
	if (archive_emit(a, bson, len, stage, err, errsz) != 0)
		return -1;
	a->block += len;
	a->ns[i].crc = archive_crc(a, a->ns[i].crc, bson, len);
	a->ns[i].docs++;
	return 0;
}

int
archive_ns_end(struct archive *a, const char *db, const char *collection,
    char *err, size_t errsz)
{
	const char	*stage = "ending a namespace";
	size_t		 i;

	i = archive_ns_open(a, db, collection, "the end", err, errsz);
	if (i == ARCHIVE_NO_NS)
		return -1;
	a->doing = &a->ns[i];
	if (!a->ns[i].opened &&
	    archive_open_block(a, i, stage, err, errsz) != 0)
		return -1;
	if (archive_close_block(a, stage, err, errsz) != 0 ||
	    archive_emit_nsheader(a, i, true, stage, err, errsz) != 0 ||
	    archive_emit_u32(a, ARCHIVE_TERMINATOR, stage, err, errsz) != 0 ||
	    archive_flush(a, stage, err, errsz) != 0)
		return -1;
	a->ns[i].ended = true;
	return 0;
}

int
archive_finish(struct archive *a, char *err, size_t errsz)
{
	char	 why[512];
	size_t	 i;

	if (archive_expect(a, ARCHIVE_BODY, "finish", err, errsz) != 0)
		return -1;
	for (i = 0; i < a->nns; i++)
		if (!a->ns[i].ended) {
			snprintf(err, errsz, "archive: %s.%s was not ended "
			    "(mongorestore would refuse the archive)",
			    a->ns[i].db, a->ns[i].collection);
			return -1;
		}
	a->doing = NULL;
	if (archive_flush(a, "finishing", err, errsz) != 0)
		return -1;
	why[0] = '\0';
	if (a->out.finish(a->out.ctx, why, sizeof(why)) != 0)
		return archive_sink_failed(a, "finishing", why, err, errsz);
	a->state = ARCHIVE_DONE;
	return 0;
}

void
archive_abort(struct archive *a)
{
	if (a == NULL || a->state == ARCHIVE_DONE)
		return;
	a->state = ARCHIVE_DONE;
	a->out.abort(a->out.ctx);
}

void
archive_free(struct archive *a)
{
	size_t	 i;

	if (a == NULL)
		return;
	archive_abort(a);
	for (i = 0; i < a->nns; i++) {
		free(a->ns[i].db);
		free(a->ns[i].collection);
	}
	free(a->ns);
	free(a->server_version);
	free(a->tool_version);
	free(a->stage);
	free(a);
}
