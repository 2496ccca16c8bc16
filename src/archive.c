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
#include <inttypes.h>
#include <stdarg.h>
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
archive_crc_init(uint64_t t[8][256])
{
	uint64_t	 c;
	int		 i, k;

	for (i = 0; i < 256; i++) {
		c = (uint64_t)i;
		for (k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ ARCHIVE_CRC_POLY : c >> 1;
		t[0][i] = c;
	}
	for (i = 0; i < 256; i++)
		for (k = 1; k < 8; k++) {
			c = t[k - 1][i];
			t[k][i] = t[0][c & 0xff] ^ (c >> 8);
		}
}

static uint64_t
archive_crc(uint64_t t[8][256], uint64_t crc, const uint8_t *p,
    size_t n)
{
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
	archive_crc_init(a->crc_table);
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
	a->ns[i].crc = archive_crc(a->crc_table, a->ns[i].crc, bson, len);
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

/* ------------------------------------------------------------------ */
/* Reading                                                             */
/* ------------------------------------------------------------------ */

/* What the reader expects next. */
enum archive_rstate {
	ARCHIVE_R_MAGIC,	/* the four magic bytes */
	ARCHIVE_R_HEADER,	/* the header document */
	ARCHIVE_R_PRELUDE,	/* a namespace's metadata, or a terminator */
	ARCHIVE_R_NSHEADER,	/* a namespace header (or the end) */
	ARCHIVE_R_DOCS,		/* a document, or the block's terminator */
	ARCHIVE_R_EOFTERM,	/* the terminator after an EOF header */
	ARCHIVE_R_FAILED,	/* refused; only abort/free remain */
	ARCHIVE_R_DONE		/* finished or aborted */
};

/* One namespace of the prelude, as read. */
struct archive_rns {
	char		*db;		/* database name */
	char		*collection;	/* collection name */
	bson_t		*options;	/* from the metadata, or NULL */
	bson_t		*indexes;	/* from the metadata, or NULL */
	char		*uuid;		/* from the metadata, or NULL */
	uint64_t	 crc;		/* CRC-64 of its documents so far */
	bool		 ended;		/* its EOF was read */
};

struct archive_reader {
	struct archive_reader_cb cb;	/* where the contents go */
	enum archive_rstate state;	/* see the enum */
	uint8_t		*buf;		/* the item being gathered */
	size_t		 cap;		/* bytes allocated in buf */
	size_t		 have;		/* bytes of it in buf */
	size_t		 want;		/* bytes the item needs */
	uint64_t	 off;		/* offset of the next byte in */
	uint64_t	 start;		/* offset where the item starts */
	struct archive_rns *ns;		/* the prelude's namespaces */
	struct archive_ns *pub;		/* the same, for the callbacks */
	size_t		 nns;		/* how many */
	size_t		 current;	/* ns of the open block */
	size_t		 ended;		/* namespaces whose EOF was read */
	uint64_t	 crc_table[8][256]; /* slicing-by-8 tables */
};

/* Refuses the archive: err names the offset of the item at fault. */
static int
archive_rfail(struct archive_reader *r, char *err, size_t errsz,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int
archive_rfail(struct archive_reader *r, char *err, size_t errsz,
    const char *fmt, ...)
{
	char	 why[512];
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	snprintf(err, errsz, "archive: at offset %" PRIu64 ": %s", r->start,
	    why);
	r->state = ARCHIVE_R_FAILED;
	return -1;
}

/* A callback refused: its error, with the offset. */
static int
archive_rcb_failed(struct archive_reader *r, const char *why, char *err,
    size_t errsz)
{
	return archive_rfail(r, err, errsz, "%s", why[0] != '\0' ? why :
	    "the reader's consumer failed");
}

static uint32_t
archive_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
}

/* The namespace db.coll of the prelude, or ARCHIVE_NO_NS. */
static size_t
archive_rfind(const struct archive_reader *r, const char *db,
    const char *coll)
{
	size_t	 i;

	if (r->current != ARCHIVE_NO_NS &&
	    strcmp(r->ns[r->current].collection, coll) == 0 &&
	    strcmp(r->ns[r->current].db, db) == 0)
		return r->current;
	for (i = 0; i < r->nns; i++)
		if (strcmp(r->ns[i].collection, coll) == 0 &&
		    strcmp(r->ns[i].db, db) == 0)
			return i;
	return ARCHIVE_NO_NS;
}

/* The string of a field, or NULL when it is absent or not a string. */
static const char *
archive_rstr(const bson_t *b, const char *key)
{
	bson_iter_t	 it;

	if (!bson_iter_init_find(&it, b, key) || !BSON_ITER_HOLDS_UTF8(&it))
		return NULL;
	return bson_iter_utf8(&it, NULL);
}

/* A document's framing and structure; 0, or -1 with why. */
static int
archive_rdoc(const uint8_t *p, size_t len, bson_t *b, const char **why)
{
	if (p[len - 1] != 0) {
		*why = "a document that does not end in NUL";
		return -1;
	}
	if (!bson_init_static(b, p, len)) {
		*why = "a document that is not BSON";
		return -1;
	}
	return 0;
}

static int
archive_rheader(struct archive_reader *r, const bson_t *b, char *err,
    size_t errsz)
{
	const char	*v = archive_rstr(b, "server_version");

	if (v == NULL || !archive_version_ok(v))
		return archive_rfail(r, err, errsz, "the header's "
		    "server_version is not X.Y.Z");
	r->state = ARCHIVE_R_PRELUDE;
	return 0;
}

/* The metadata JSON of a namespace: options, indexes, uuid. */
static int
archive_rmeta(struct archive_reader *r, struct archive_rns *s,
    const char *json, char *err, size_t errsz)
{
	bson_t		*meta;
	bson_error_t	 e;
	bson_iter_t	 it;
	uint32_t	 n;
	const uint8_t	*data;
	int		 rc = -1;

	if (json[0] == '\0')
		return 0;	/* mongorestore restores no options then */
	if ((meta = bson_new_from_json((const uint8_t *)json, -1, &e)) ==
	    NULL)
		return archive_rfail(r, err, errsz, "%s.%s: the metadata is "
		    "not JSON: %s", s->db, s->collection, e.message);
	if (bson_iter_init_find(&it, meta, "options")) {
		if (!BSON_ITER_HOLDS_DOCUMENT(&it))
			goto bad;
		bson_iter_document(&it, &n, &data);
		s->options = bson_new_from_data(data, n);
	}
	if (bson_iter_init_find(&it, meta, "indexes")) {
		if (!BSON_ITER_HOLDS_ARRAY(&it))
			goto bad;
		bson_iter_array(&it, &n, &data);
		s->indexes = bson_new_from_data(data, n);
	}
	if (bson_iter_init_find(&it, meta, "uuid")) {
		if (!BSON_ITER_HOLDS_UTF8(&it) ||
		    !archive_uuid_ok(bson_iter_utf8(&it, NULL)))
			goto bad;
		s->uuid = strdup(bson_iter_utf8(&it, NULL));
	}
	rc = 0;
	goto out;
bad:
	archive_rfail(r, err, errsz, "%s.%s: the metadata's options, "
	    "indexes or uuid have the wrong type", s->db, s->collection);
out:
	bson_destroy(meta);
	return rc;
}

/* One namespace's metadata document of the prelude. */
static int
archive_rnsmeta(struct archive_reader *r, const bson_t *b, char *err,
    size_t errsz)
{
	const char		*db = archive_rstr(b, "db");
	const char		*coll = archive_rstr(b, "collection");
	const char		*json = archive_rstr(b, "metadata");
	struct archive_rns	*s, *grown;

	if (db == NULL || coll == NULL || db[0] == '\0' || coll[0] == '\0')
		return archive_rfail(r, err, errsz, "a prelude document "
		    "without a database or collection name");
	if (archive_rfind(r, db, coll) != ARCHIVE_NO_NS)
		return archive_rfail(r, err, errsz, "%s.%s is twice in the "
		    "prelude", db, coll);
	grown = realloc(r->ns, (r->nns + 1) * sizeof(*r->ns));
	if (grown == NULL)
		return archive_rfail(r, err, errsz, "out of memory");
	r->ns = grown;
	s = &r->ns[r->nns++];
	memset(s, 0, sizeof(*s));
	if ((s->db = strdup(db)) == NULL ||
	    (s->collection = strdup(coll)) == NULL)
		return archive_rfail(r, err, errsz, "out of memory");
	return archive_rmeta(r, s, json != NULL ? json : "", err, errsz);
}

/* The prelude is read: tell the consumer. */
static int
archive_rprelude_end(struct archive_reader *r, char *err, size_t errsz)
{
	char	 why[512] = "";
	size_t	 i;

	if (r->nns > 0 && (r->pub = calloc(r->nns, sizeof(*r->pub))) == NULL)
		return archive_rfail(r, err, errsz, "out of memory");
	for (i = 0; i < r->nns; i++) {
		r->pub[i].db = r->ns[i].db;
		r->pub[i].collection = r->ns[i].collection;
		r->pub[i].options = r->ns[i].options;
		r->pub[i].indexes = r->ns[i].indexes;
		r->pub[i].uuid = r->ns[i].uuid;
	}
	r->state = ARCHIVE_R_NSHEADER;
	if (r->cb.prelude != NULL &&
	    r->cb.prelude(r->cb.arg, r->pub, r->nns, why, sizeof(why)) != 0)
		return archive_rcb_failed(r, why, err, errsz);
	return 0;
}

/* A namespace header: exactly db, collection, EOF, CRC. */
static int
archive_rnsheader(struct archive_reader *r, const bson_t *b, char *err,
    size_t errsz)
{
	bson_iter_t	 it;
	const char	*db = NULL, *coll = NULL, *k;
	bool		 eof = false, has_eof = false, has_crc = false;
	int64_t		 crc = 0;
	char		 why[512] = "";
	size_t		 i;

	if (!bson_iter_init(&it, b))
		return archive_rfail(r, err, errsz, "a bad namespace header");
	while (bson_iter_next(&it)) {
		k = bson_iter_key(&it);
		if (strcmp(k, "db") == 0 && BSON_ITER_HOLDS_UTF8(&it))
			db = bson_iter_utf8(&it, NULL);
		else if (strcmp(k, "collection") == 0 &&
		    BSON_ITER_HOLDS_UTF8(&it))
			coll = bson_iter_utf8(&it, NULL);
		else if (strcmp(k, "EOF") == 0 && BSON_ITER_HOLDS_BOOL(&it)) {
			eof = bson_iter_bool(&it);
			has_eof = true;
		} else if (strcmp(k, "CRC") == 0 &&
		    BSON_ITER_HOLDS_INT64(&it)) {
			crc = bson_iter_int64(&it);
			has_crc = true;
		} else
			return archive_rfail(r, err, errsz, "a namespace "
			    "header with field \"%s\" of type 0x%02x", k,
			    (unsigned)bson_iter_type(&it));
	}
	if (db == NULL || coll == NULL || coll[0] == '\0' || !has_eof ||
	    !has_crc)
		return archive_rfail(r, err, errsz, "a namespace header "
		    "without db, collection, EOF or CRC");
	if ((i = archive_rfind(r, db, coll)) == ARCHIVE_NO_NS)
		return archive_rfail(r, err, errsz, "a namespace header for "
		    "%s.%s, which is not in the prelude", db, coll);
	if (r->ns[i].ended)
		return archive_rfail(r, err, errsz, "a namespace header for "
		    "%s.%s after its EOF", db, coll);
	if (!eof) {
		r->current = i;
		r->state = ARCHIVE_R_DOCS;
		return 0;
	}
	if ((uint64_t)crc != r->ns[i].crc)
		return archive_rfail(r, err, errsz, "%s.%s: CRC mismatch: the "
		    "EOF says %016" PRIx64 ", the documents give %016" PRIx64,
		    db, coll, (uint64_t)crc, r->ns[i].crc);
	r->ns[i].ended = true;
	r->ended++;
	r->current = ARCHIVE_NO_NS;
	r->state = ARCHIVE_R_EOFTERM;
	if (r->cb.ns_end != NULL &&
	    r->cb.ns_end(r->cb.arg, i, why, sizeof(why)) != 0)
		return archive_rcb_failed(r, why, err, errsz);
	return 0;
}

/* A document of the open block. */
static int
archive_rdata(struct archive_reader *r, const uint8_t *p, size_t len,
    char *err, size_t errsz)
{
	struct archive_rns	*s = &r->ns[r->current];
	char			 why[512] = "";

	if (p[len - 1] != 0)
		return archive_rfail(r, err, errsz, "%s.%s: a document that "
		    "does not end in NUL", s->db, s->collection);
	s->crc = archive_crc(r->crc_table, s->crc, p, len);
	if (r->cb.doc != NULL &&
	    r->cb.doc(r->cb.arg, r->current, p, len, why, sizeof(why)) != 0)
		return archive_rcb_failed(r, why, err, errsz);
	return 0;
}

/* A whole document p of len bytes, in the current state. */
static int
archive_ritem(struct archive_reader *r, const uint8_t *p, size_t len,
    char *err, size_t errsz)
{
	bson_t		 b;
	const char	*why;

	if (r->state == ARCHIVE_R_DOCS)
		return archive_rdata(r, p, len, err, errsz);
	if (archive_rdoc(p, len, &b, &why) != 0)
		return archive_rfail(r, err, errsz, "%s", why);
	switch (r->state) {
	case ARCHIVE_R_HEADER:
		return archive_rheader(r, &b, err, errsz);
	case ARCHIVE_R_PRELUDE:
		return archive_rnsmeta(r, &b, err, errsz);
	default:
		return archive_rnsheader(r, &b, err, errsz);
	}
}

/*
 * Four bytes where a document or a terminator may be: the terminator
 * moves the state on; a length sets how many bytes the document needs.
 * Returns 1 when a document of *len bytes follows.
 */
static int
archive_rword(struct archive_reader *r, uint32_t v, size_t *len,
    char *err, size_t errsz)
{
	if (r->state == ARCHIVE_R_MAGIC) {
		if (v != ARCHIVE_MAGIC)
			return archive_rfail(r, err, errsz, "not a mongodump "
			    "archive (bad magic number %08x)", v);
		r->state = ARCHIVE_R_HEADER;
		return 0;
	}
	if (v == ARCHIVE_TERMINATOR) {
		switch (r->state) {
		case ARCHIVE_R_PRELUDE:
			return archive_rprelude_end(r, err, errsz);
		case ARCHIVE_R_DOCS:
		case ARCHIVE_R_EOFTERM:
			r->state = ARCHIVE_R_NSHEADER;
			return 0;
		default:
			return archive_rfail(r, err, errsz, "a terminator "
			    "where a %s is expected", r->state ==
			    ARCHIVE_R_HEADER ? "header" : "namespace header");
		}
	}
	if (r->state == ARCHIVE_R_EOFTERM)
		return archive_rfail(r, err, errsz, "no terminator after an "
		    "EOF header");
	if (v < 5 || v > ARCHIVE_MAX_DOC)
		return archive_rfail(r, err, errsz, "a document of %" PRIu32
		    " bytes (BSON documents are 5 to %u)", v, ARCHIVE_MAX_DOC);
	*len = v;
	return 1;
}

/* Makes room for an item of n bytes in the buffer. */
static int
archive_rroom(struct archive_reader *r, size_t n, char *err, size_t errsz)
{
	uint8_t	*grown;

	if (n <= r->cap)
		return 0;
	if ((grown = realloc(r->buf, n)) == NULL)
		return archive_rfail(r, err, errsz, "out of memory");
	r->buf = grown;
	r->cap = n;
	return 0;
}

static int
archive_rwrite(void *ctx, const void *data, size_t len, char *err,
    size_t errsz)
{
	struct archive_reader	*r = ctx;
	const uint8_t		*p = data;
	size_t			 n, doc;
	int			 rc;

	if (r->state == ARCHIVE_R_FAILED || r->state == ARCHIVE_R_DONE) {
		snprintf(err, errsz, "archive: bytes after the reader %s",
		    r->state == ARCHIVE_R_FAILED ? "failed" : "was done");
		return -1;
	}
	while (len > 0) {
		if (r->have == 0) {
			r->start = r->off;
			r->want = 4;
			/* a whole document in place: no copy */
			if (len >= 4 && r->state != ARCHIVE_R_MAGIC &&
			    (rc = archive_rword(r, archive_le32(p), &doc,
			    err, errsz)) != 0) {
				if (rc < 0)
					return -1;
				if (doc <= len) {
					if (archive_ritem(r, p, doc, err,
					    errsz) != 0)
						return -1;
					p += doc;
					len -= doc;
					r->off += doc;
					continue;
				}
				r->want = doc;
				if (archive_rroom(r, doc, err, errsz) != 0)
					return -1;
			} else if (len >= 4) {
				if (r->state == ARCHIVE_R_MAGIC &&
				    archive_rword(r, archive_le32(p), &doc,
				    err, errsz) != 0)
					return -1;
				p += 4;
				len -= 4;
				r->off += 4;
				continue;
			}
		}
		if (archive_rroom(r, r->want, err, errsz) != 0)
			return -1;
		n = r->want - r->have;
		if (n > len)
			n = len;
		memcpy(r->buf + r->have, p, n);
		r->have += n;
		p += n;
		len -= n;
		r->off += n;
		if (r->have < r->want)
			break;
		if (r->want == 4 && r->have == 4) {
			rc = archive_rword(r, archive_le32(r->buf), &doc, err,
			    errsz);
			if (rc < 0)
				return -1;
			if (rc == 0) {
				r->have = 0;
				continue;
			}
			r->want = doc;
			if (archive_rroom(r, doc, err, errsz) != 0)
				return -1;
			continue;
		}
		r->have = 0;
		if (archive_ritem(r, r->buf, r->want, err, errsz) != 0)
			return -1;
	}
	return 0;
}

static int
archive_rfinish(void *ctx, char *err, size_t errsz)
{
	struct archive_reader	*r = ctx;
	char			 why[512] = "";
	size_t			 i;

	if (r->state == ARCHIVE_R_FAILED || r->state == ARCHIVE_R_DONE) {
		snprintf(err, errsz, "archive: finish after the reader %s",
		    r->state == ARCHIVE_R_FAILED ? "failed" : "was done");
		return -1;
	}
	r->start = r->off;
	if (r->have > 0 || r->state != ARCHIVE_R_NSHEADER)
		return archive_rfail(r, err, errsz, "the archive is "
		    "truncated");
	for (i = 0; i < r->nns; i++)
		if (!r->ns[i].ended)
			return archive_rfail(r, err, errsz, "the archive "
			    "finished before all collections were seen (no "
			    "EOF for %s.%s)", r->ns[i].db, r->ns[i].collection);
	r->state = ARCHIVE_R_DONE;
	if (r->cb.finish != NULL &&
	    r->cb.finish(r->cb.arg, why, sizeof(why)) != 0) {
		snprintf(err, errsz, "%s", why[0] != '\0' ? why :
		    "the reader's consumer failed");
		return -1;
	}
	return 0;
}

static void
archive_rabort(void *ctx)
{
	struct archive_reader	*r = ctx;

	r->state = ARCHIVE_R_DONE;
}

struct archive_reader *
archive_reader_new(const struct archive_reader_cb *cb)
{
	struct archive_reader	*r;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return NULL;
	r->cb = *cb;
	r->state = ARCHIVE_R_MAGIC;
	r->current = ARCHIVE_NO_NS;
	archive_crc_init(r->crc_table);
	return r;
}

struct sink
archive_reader_sink(struct archive_reader *r)
{
	struct sink	 s = { archive_rwrite, archive_rfinish,
			    archive_rabort, r };

	return s;
}

uint64_t
archive_reader_offset(const struct archive_reader *r)
{
	return r->off;
}

void
archive_reader_free(struct archive_reader *r)
{
	size_t	 i;

	if (r == NULL)
		return;
	for (i = 0; i < r->nns; i++) {
		free(r->ns[i].db);
		free(r->ns[i].collection);
		free(r->ns[i].uuid);
		if (r->ns[i].options != NULL)
			bson_destroy(r->ns[i].options);
		if (r->ns[i].indexes != NULL)
			bson_destroy(r->ns[i].indexes);
	}
	free(r->ns);
	free(r->pub);
	free(r->buf);
	free(r);
}
