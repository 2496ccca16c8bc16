/* Unit tests for archive.c: archives written into a memory sink, then
 * read back here byte by byte (magic, prelude, blocks, terminators, EOF
 * headers, CRCs computed independently), and the errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "extern.h"

#define	SERVER_VERSION	"7.0.77"
#define	TOOL_VERSION	"silo-test 1.0"

/* ---- a sink into memory, which can be told to fail ---- */

struct mem {
	uint8_t	*buf;		/* everything written */
	size_t	 len;		/* bytes in buf */
	size_t	 cap;		/* bytes allocated */
	size_t	 fail_at;	/* a write reaching this offset fails */
	bool	 fail_finish;	/* finish() fails */
	int	 writes;	/* write() calls */
	int	 finished;	/* finish() calls */
	int	 aborted;	/* abort() calls */
};

static int
mem_write(void *ctx, const void *p, size_t n, char *err, size_t errsz)
{
	struct mem	*m = ctx;

	m->writes++;
	if (m->fail_at != 0 && m->len + n >= m->fail_at) {
		snprintf(err, errsz, "disk on fire");
		return -1;
	}
	if (m->len + n > m->cap) {
		m->cap = (m->len + n) * 2;
		m->buf = realloc(m->buf, m->cap);
		assert_non_null(m->buf);
	}
	memcpy(m->buf + m->len, p, n);
	m->len += n;
	return 0;
}

static int
mem_finish(void *ctx, char *err, size_t errsz)
{
	struct mem	*m = ctx;

	m->finished++;
	if (m->fail_finish) {
		snprintf(err, errsz, "upload refused");
		return -1;
	}
	return 0;
}

static void
mem_abort(void *ctx)
{
	struct mem	*m = ctx;

	m->aborted++;
}

static struct sink
mem_sink(struct mem *m)
{
	struct sink	 s = { mem_write, mem_finish, mem_abort, m };

	return s;
}

/* ---- CRC-64 as Go's hash/crc64 with the ECMA table, bit by bit ---- */

static uint64_t
ref_crc(uint64_t crc, const uint8_t *p, size_t n)
{
	static uint64_t	 table[256];
	static bool	 ready;
	uint64_t	 c;
	int		 i, k;

	if (!ready) {
		for (i = 0; i < 256; i++) {
			c = (uint64_t)i;
			for (k = 0; k < 8; k++)
				c = (c >> 1) ^ ((c & 1) ?
				    0xc96c5795d7870f42ull : 0);
			table[i] = c;
		}
		ready = true;
	}
	crc = ~crc;
	while (n-- > 0)
		crc = table[(uint8_t)crc ^ *p++] ^ (crc >> 8);
	return ~crc;
}

/* ---- documents: deterministic, regenerated to compare ---- */

/* Document i of a namespace, with a payload of size bytes. */
static bson_t *
make_doc(const char *ns, int i, size_t size)
{
	bson_t		*d = bson_new();
	uint8_t		*payload = malloc(size > 0 ? size : 1);
	size_t		 k;

	assert_non_null(payload);
	for (k = 0; k < size; k++)
		payload[k] = (uint8_t)(k * 31 + (size_t)i);
	BSON_APPEND_INT32(d, "_id", i);
	BSON_APPEND_UTF8(d, "ns", ns);
	BSON_APPEND_BINARY(d, "p", BSON_SUBTYPE_BINARY, payload,
	    (uint32_t)size);
	free(payload);
	return d;
}

/* The payload of paintings' document i: 30 to 80 KB, ~35 MB in all. */
static size_t
paintings_size(int i)
{
	return 30000 + (size_t)(i * 7919) % 50000;
}

#define	PAINTINGS	640

/* A document of exactly ARCHIVE_MAX_DOC bytes, the largest allowed. */
static bson_t *
make_biggest(void)
{
	bson_t	*probe = make_doc("ac.big", 1, 0);
	size_t	 over = probe->len;
	bson_t	*d;

	bson_destroy(probe);
	d = make_doc("ac.big", 1, ARCHIVE_MAX_DOC - over);
	assert_int_equal(d->len, ARCHIVE_MAX_DOC);
	return d;
}

/* ---- reading the archive back ---- */

struct reader {
	const uint8_t	*p;	/* the archive */
	size_t		 len;	/* its size */
	size_t		 off;	/* where reading is */
};

static uint32_t
rd_u32(struct reader *r)
{
	const uint8_t	*b = r->p + r->off;

	assert_true(r->off + 4 <= r->len);
	r->off += 4;
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
	    (uint32_t)b[3] << 24;
}

/* Peeks: is the next thing the terminator? */
static bool
rd_at_terminator(const struct reader *r)
{
	static const uint8_t	 t[4] = { 0xff, 0xff, 0xff, 0xff };

	assert_true(r->off + 4 <= r->len);
	return memcmp(r->p + r->off, t, 4) == 0;
}

static void
rd_terminator(struct reader *r)
{
	assert_true(rd_at_terminator(r));
	r->off += 4;
}

/* The next BSON document, validated, as a static bson_t. */
static void
rd_doc(struct reader *r, bson_t *b, const uint8_t **raw, size_t *rawlen)
{
	uint32_t	 n;
	size_t		 at = r->off;

	n = rd_u32(r);
	r->off = at;
	assert_true(n >= 5 && n <= ARCHIVE_MAX_DOC);
	assert_true(at + n <= r->len);
	assert_true(bson_init_static(b, r->p + at, n));
	assert_true(bson_validate(b, BSON_VALIDATE_NONE, NULL));
	r->off = at + n;
	if (raw != NULL) {
		*raw = r->p + at;
		*rawlen = n;
	}
}

/* Checks that doc's keys are exactly keys (space-separated), in order. */
static void
expect_keys(const bson_t *doc, const char *keys)
{
	bson_iter_t	 it;
	char		 got[256] = "";

	assert_true(bson_iter_init(&it, doc));
	while (bson_iter_next(&it)) {
		if (got[0] != '\0')
			strcat(got, " ");
		strcat(got, bson_iter_key(&it));
	}
	assert_string_equal(got, keys);
}

static const char *
get_utf8(const bson_t *doc, const char *key)
{
	bson_iter_t	 it;

	assert_true(bson_iter_init_find(&it, doc, key));
	assert_int_equal(bson_iter_type(&it), BSON_TYPE_UTF8);
	return bson_iter_utf8(&it, NULL);
}

/* Reads the magic number and the header; returns nothing, checks all. */
static void
rd_header(struct reader *r)
{
	bson_t		 h;
	bson_iter_t	 it;

	assert_int_equal(r->p[0], 0x6d);	/* 0x8199e26d, LE */
	assert_int_equal(r->p[1], 0xe2);
	assert_int_equal(r->p[2], 0x99);
	assert_int_equal(r->p[3], 0x81);
	r->off = 4;
	rd_doc(r, &h, NULL, NULL);
	expect_keys(&h, "concurrent_collections version server_version "
	    "tool_version");
	assert_true(bson_iter_init_find(&it, &h, "concurrent_collections"));
	assert_int_equal(bson_iter_type(&it), BSON_TYPE_INT32);
	assert_int_equal(bson_iter_int32(&it), 1);
	assert_string_equal(get_utf8(&h, "version"), "0.1");
	assert_string_equal(get_utf8(&h, "server_version"), SERVER_VERSION);
	assert_string_equal(get_utf8(&h, "tool_version"), TOOL_VERSION);
}

/* Reads one prelude document; returns its metadata parsed from JSON. */
static void
rd_nsmeta(struct reader *r, const char *db, const char *coll, bson_t *meta)
{
	bson_t		 d;
	bson_iter_t	 it;
	bson_error_t	 e;
	const char	*json;

	rd_doc(r, &d, NULL, NULL);
	expect_keys(&d, "db collection metadata size type");
	assert_string_equal(get_utf8(&d, "db"), db);
	assert_string_equal(get_utf8(&d, "collection"), coll);
	assert_true(bson_iter_init_find(&it, &d, "size"));
	assert_int_equal(bson_iter_type(&it), BSON_TYPE_INT32);
	assert_int_equal(bson_iter_int32(&it), 0);
	assert_string_equal(get_utf8(&d, "type"), "collection");
	json = get_utf8(&d, "metadata");
	if (!bson_init_from_json(meta, json, -1, &e))
		fail_msg("metadata is not JSON: %s: %s", e.message, json);
}

/*
 * Reads the body to the end, checking each header's fields, each
 * document against the generator (gen(ns, index) gives its bytes), each
 * block's size, each EOF's CRC; returns a trace: "db.c:n" per block of n
 * documents, "db.c!" per EOF, space-separated.
 */
struct expect {
	const char	*ns;		/* "db.collection" */
	bson_t		*(*gen)(int);	/* document i, or NULL: none */
	int		 seen;		/* documents read so far */
	uint64_t	 crc;		/* of those */
	bool		 ended;		/* its EOF was read */
};

static void
rd_nsheader(struct reader *r, struct expect *ex, size_t nex,
    struct expect **which, bool *eof, uint64_t *crc)
{
	bson_t		 h;
	bson_iter_t	 it;
	char		 ns[256];
	size_t		 i;

	rd_doc(r, &h, NULL, NULL);
	expect_keys(&h, "db collection EOF CRC");
	snprintf(ns, sizeof(ns), "%s.%s", get_utf8(&h, "db"),
	    get_utf8(&h, "collection"));
	assert_true(bson_iter_init_find(&it, &h, "EOF"));
	assert_int_equal(bson_iter_type(&it), BSON_TYPE_BOOL);
	*eof = bson_iter_bool(&it);
	assert_true(bson_iter_init_find(&it, &h, "CRC"));
	assert_int_equal(bson_iter_type(&it), BSON_TYPE_INT64);
	*crc = (uint64_t)bson_iter_int64(&it);
	for (i = 0; i < nex; i++)
		if (strcmp(ex[i].ns, ns) == 0) {
			*which = &ex[i];
			return;
		}
	fail_msg("a header for %s, not in the prelude", ns);
}

static void
rd_body(struct reader *r, struct expect *ex, size_t nex, char *trace,
    size_t tracesz)
{
	struct expect	*x;
	bson_t		 d, *want;
	const uint8_t	*raw;
	size_t		 rawlen, block, tl = 0;
	uint64_t	 crc;
	bool		 eof;
	int		 n;

	trace[0] = '\0';
	while (r->off < r->len) {
		rd_nsheader(r, ex, nex, &x, &eof, &crc);
		assert_false(x->ended);
		if (eof) {
			rd_terminator(r);
			assert_true(crc == x->crc);
			x->ended = true;
			tl += snprintf(trace + tl, tracesz - tl, "%s%s!",
			    tl > 0 ? " " : "", x->ns);
			continue;
		}
		assert_true(crc == 0);
		for (n = 0, block = 0; !rd_at_terminator(r); n++) {
			rd_doc(r, &d, &raw, &rawlen);
			assert_non_null(x->gen);
			want = x->gen(x->seen);
			assert_int_equal(rawlen, want->len);
			assert_memory_equal(raw, bson_get_data(want), rawlen);
			bson_destroy(want);
			x->crc = ref_crc(x->crc, raw, rawlen);
			x->seen++;
			block += rawlen;
		}
		rd_terminator(r);
		assert_true(block <= ARCHIVE_BLOCK_MAX);
		tl += snprintf(trace + tl, tracesz - tl, "%s%s:%d",
		    tl > 0 ? " " : "", x->ns, n);
		assert_true(tl < tracesz);
	}
	assert_int_equal(r->off, r->len);
}

/* ---- generators of the test namespaces ---- */

static bson_t *
gen_painting(int i)
{
	return make_doc("ac.paintings", i, paintings_size(i));
}

static bson_t *
gen_big(int i)
{
	return i == 0 ? make_doc("ac.big", 0, 10) : make_biggest();
}

static bson_t *
gen_small(int i)
{
	return make_doc("t.a", i, 3);
}

/* ---- helpers to write ---- */

static void
put(struct archive *a, const char *db, const char *coll, const bson_t *d)
{
	char	 err[256] = "";

	if (archive_doc(a, db, coll, bson_get_data(d), d->len, err,
	    sizeof(err)) != 0)
		fail_msg("archive_doc: %s", err);
}

static void
put_gen(struct archive *a, const char *db, const char *coll,
    bson_t *(*gen)(int), int i)
{
	bson_t	*d = gen(i);

	put(a, db, coll, d);
	bson_destroy(d);
}

static void
end(struct archive *a, const char *db, const char *coll)
{
	char	 err[256] = "";

	if (archive_ns_end(a, db, coll, err, sizeof(err)) != 0)
		fail_msg("archive_ns_end: %s", err);
}

/* ---- the tests ---- */

static void
test_crc_reference(void **state)
{
	/* the check value of CRC-64/XZ, which Go's crc64.ECMA computes */
	assert_true(ref_crc(0, (const uint8_t *)"123456789", 9) ==
	    0x995dc9bbdf1939faull);
	/* incremental: the CRC of a split input is the CRC of the whole */
	assert_true(ref_crc(ref_crc(0, (const uint8_t *)"1234", 4),
	    (const uint8_t *)"56789", 5) == 0x995dc9bbdf1939faull);
}

/*
 * Three namespaces: an empty one, one of ~35 MB in documents of 30-80 KB
 * (three blocks), one holding a small document and one of exactly
 * 16 MiB (two blocks, since both do not fit in one).
 */
static void
test_layout(void **state)
{
	struct mem	 m = { 0 };
	bson_t		 opts = BSON_INITIALIZER, idx = BSON_INITIALIZER;
	bson_t		 spec, key, meta;
	struct archive_ns ns[3] = {
		{ "silo", "empty", NULL, NULL, NULL },
		{ "ac", "paintings", &opts, &idx,
		  "0123456789ABCDEF0123456789abcdef" },
		{ "ac", "big", NULL, NULL, NULL },
	};
	struct expect	 ex[3] = {
		{ "silo.empty", NULL, 0, 0, false },
		{ "ac.paintings", gen_painting, 0, 0, false },
		{ "ac.big", gen_big, 0, 0, false },
	};
	struct archive	*a;
	struct reader	 r;
	char		 err[256] = "", trace[512];
	bson_iter_t	 it, sub;
	int		 i;

	BSON_APPEND_INT32(&opts, "capped", 0);
	bson_append_document_begin(&idx, "0", 1, &spec);
	BSON_APPEND_INT32(&spec, "v", 2);
	bson_append_document_begin(&spec, "key", 3, &key);
	BSON_APPEND_INT32(&key, "_id", 1);
	bson_append_document_end(&spec, &key);
	BSON_APPEND_UTF8(&spec, "name", "_id_");
	bson_append_document_end(&idx, &spec);

	a = archive_new(mem_sink(&m), SERVER_VERSION, TOOL_VERSION);
	assert_non_null(a);
	if (archive_prelude(a, ns, 3, err, sizeof(err)) != 0)
		fail_msg("prelude: %s", err);
	end(a, "silo", "empty");
	for (i = 0; i < PAINTINGS; i++)
		put_gen(a, "ac", "paintings", gen_painting, i);
	end(a, "ac", "paintings");
	put_gen(a, "ac", "big", gen_big, 0);
	put_gen(a, "ac", "big", gen_big, 1);
	end(a, "ac", "big");
	if (archive_finish(a, err, sizeof(err)) != 0)
		fail_msg("finish: %s", err);
	assert_int_equal(m.finished, 1);
	assert_int_equal(m.aborted, 0);
	archive_free(a);
	assert_int_equal(m.aborted, 0);

	r.p = m.buf;
	r.len = m.len;
	rd_header(&r);

	rd_nsmeta(&r, "silo", "empty", &meta);
	expect_keys(&meta, "indexes collectionName type");
	assert_true(bson_iter_init_find(&it, &meta, "indexes"));
	assert_true(BSON_ITER_HOLDS_ARRAY(&it));
	assert_true(bson_iter_recurse(&it, &sub));
	assert_false(bson_iter_next(&sub));
	assert_string_equal(get_utf8(&meta, "collectionName"), "empty");
	bson_destroy(&meta);

	rd_nsmeta(&r, "ac", "paintings", &meta);
	expect_keys(&meta, "options indexes uuid collectionName type");
	assert_true(bson_iter_init_find(&it, &meta, "options"));
	assert_true(bson_iter_recurse(&it, &sub));
	assert_true(bson_iter_find(&sub, "capped"));
	assert_int_equal(bson_iter_type(&sub), BSON_TYPE_INT32);
	assert_true(bson_iter_init(&it, &meta));
	assert_true(bson_iter_find_descendant(&it, "indexes.0.key._id",
	    &sub));
	assert_int_equal(bson_iter_type(&sub), BSON_TYPE_INT32);
	assert_true(bson_iter_init(&it, &meta));
	assert_true(bson_iter_find_descendant(&it, "indexes.0.name", &sub));
	assert_string_equal(bson_iter_utf8(&sub, NULL), "_id_");
	/* mongodump writes the UUID in lower case */
	assert_string_equal(get_utf8(&meta, "uuid"),
	    "0123456789abcdef0123456789abcdef");
	assert_string_equal(get_utf8(&meta, "collectionName"), "paintings");
	assert_string_equal(get_utf8(&meta, "type"), "collection");
	bson_destroy(&meta);

	rd_nsmeta(&r, "ac", "big", &meta);
	expect_keys(&meta, "indexes collectionName type");
	bson_destroy(&meta);
	rd_terminator(&r);

	rd_body(&r, ex, 3, trace, sizeof(trace));
	/* ~35 MB of paintings fill two 16 MiB blocks and part of a third */
	assert_string_equal(trace, "silo.empty:0 silo.empty! "
	    "ac.paintings:305 ac.paintings:305 ac.paintings:30 "
	    "ac.paintings! ac.big:1 ac.big:1 ac.big!");
	assert_int_equal(ex[1].seen, PAINTINGS);
	assert_int_equal(ex[2].seen, 2);
	for (i = 0; i < 3; i++)
		assert_true(ex[i].ended);
	bson_destroy(&opts);
	bson_destroy(&idx);
	free(m.buf);
}

/* The metadata text is canonical Extended JSON: numbers keep types. */
static void
test_metadata_canonical(void **state)
{
	struct mem	 m = { 0 };
	bson_t		 idx = BSON_INITIALIZER, spec, key;
	struct archive_ns ns = { "ac", "moods", NULL, &idx, NULL };
	struct archive	*a;
	struct reader	 r;
	bson_t		 d;
	char		 err[256] = "";
	const char	*json;

	bson_append_document_begin(&idx, "0", 1, &spec);
	BSON_APPEND_INT32(&spec, "v", 2);
	bson_append_document_begin(&spec, "key", 3, &key);
	BSON_APPEND_INT64(&key, "when", -1);
	bson_append_document_end(&spec, &key);
	BSON_APPEND_UTF8(&spec, "name", "when_-1");
	bson_append_document_end(&idx, &spec);

	a = archive_new(mem_sink(&m), SERVER_VERSION, TOOL_VERSION);
	assert_int_equal(archive_prelude(a, &ns, 1, err, sizeof(err)), 0);
	archive_abort(a);
	archive_free(a);
	assert_int_equal(m.aborted, 1);
	assert_int_equal(m.finished, 0);

	r.p = m.buf;
	r.len = m.len;
	rd_header(&r);
	rd_doc(&r, &d, NULL, NULL);
	json = get_utf8(&d, "metadata");
	assert_non_null(strstr(json, "\"$numberInt\" : \"2\""));
	assert_non_null(strstr(json, "\"$numberLong\" : \"-1\""));
	rd_terminator(&r);
	assert_int_equal(r.off, r.len);
	bson_destroy(&idx);
	free(m.buf);
}

/* Documents of two namespaces interleaved: a block per switch. */
static void
test_interleaved(void **state)
{
	struct mem	 m = { 0 };
	struct archive_ns ns[2] = {
		{ "t", "a", NULL, NULL, NULL },
		{ "t", "b", NULL, NULL, NULL },
	};
	struct expect	 ex[2] = {
		{ "t.a", gen_small, 0, 0, false },
		{ "t.b", gen_small, 0, 0, false },
	};
	struct archive	*a;
	struct reader	 r;
	char		 err[256] = "", trace[256];

	a = archive_new(mem_sink(&m), SERVER_VERSION, TOOL_VERSION);
	assert_int_equal(archive_prelude(a, ns, 2, err, sizeof(err)), 0);
	put_gen(a, "t", "a", gen_small, 0);
	put_gen(a, "t", "a", gen_small, 1);
	put_gen(a, "t", "b", gen_small, 0);
	put_gen(a, "t", "a", gen_small, 2);
	end(a, "t", "b");		/* closes a's block first */
	put_gen(a, "t", "a", gen_small, 3);
	end(a, "t", "a");
	assert_int_equal(archive_finish(a, err, sizeof(err)), 0);
	archive_free(a);

	r.p = m.buf;
	r.len = m.len;
	rd_header(&r);
	rd_doc(&r, &(bson_t){ 0 }, NULL, NULL);
	rd_doc(&r, &(bson_t){ 0 }, NULL, NULL);
	rd_terminator(&r);
	rd_body(&r, ex, 2, trace, sizeof(trace));
	assert_string_equal(trace, "t.a:2 t.b:1 t.a:1 t.b! t.a:1 t.a!");
	free(m.buf);
}

/* No namespaces: the magic, the header, a terminator, nothing else. */
static void
test_empty_archive(void **state)
{
	struct mem	 m = { 0 };
	struct archive	*a;
	struct reader	 r;
	char		 err[256] = "";

	a = archive_new(mem_sink(&m), SERVER_VERSION, TOOL_VERSION);
	assert_int_equal(archive_prelude(a, NULL, 0, err, sizeof(err)), 0);
	assert_int_equal(archive_finish(a, err, sizeof(err)), 0);
	archive_free(a);
	r.p = m.buf;
	r.len = m.len;
	rd_header(&r);
	rd_terminator(&r);
	assert_int_equal(r.off, r.len);
	free(m.buf);
}

static void
expect_err(int rc, const char *err, const char *part)
{
	assert_int_equal(rc, -1);
	if (strstr(err, part) == NULL)
		fail_msg("error \"%s\" does not say \"%s\"", err, part);
}

/* The sink fails while the prelude goes out: named, and final. */
static void
test_sink_fails_prelude(void **state)
{
	struct mem	 m = { 0 };
	struct archive_ns ns = { "t", "a", NULL, NULL, NULL };
	struct archive	*a;
	bson_t		*d = gen_small(0);
	char		 err[256] = "";

	m.fail_at = 1;
	a = archive_new(mem_sink(&m), SERVER_VERSION, TOOL_VERSION);
	expect_err(archive_prelude(a, &ns, 1, err, sizeof(err)), err,
	    "archive: writing the prelude: disk on fire");
	expect_err(archive_doc(a, "t", "a", bson_get_data(d), d->len, err,
	    sizeof(err)), err, "after a failed write");
	expect_err(archive_finish(a, err, sizeof(err)), err,
	    "after a failed write");
	assert_int_equal(m.finished, 0);
	archive_abort(a);
	archive_abort(a);
	archive_free(a);
	assert_int_equal(m.aborted, 1);
	bson_destroy(d);
	free(m.buf);
}

/* The sink fails in the body: the namespace and the stage are named. */
static void
test_sink_fails_body(void **state)
{
	struct mem	 m = { 0 };
	struct archive_ns ns = { "ac", "paintings", NULL, NULL, NULL };
	struct archive	*a;
	bson_t		*d;
	char		 err[256] = "";
	int		 i, rc = 0;

	m.fail_at = 1u << 20;
	a = archive_new(mem_sink(&m), SERVER_VERSION, TOOL_VERSION);
	assert_int_equal(archive_prelude(a, &ns, 1, err, sizeof(err)), 0);
	for (i = 0; i < PAINTINGS && rc == 0; i++) {
		d = gen_painting(i);
		rc = archive_doc(a, "ac", "paintings", bson_get_data(d),
		    d->len, err, sizeof(err));
		bson_destroy(d);
	}
	expect_err(rc, err,
	    "archive: ac.paintings: writing documents: disk on fire");
	assert_true(i < PAINTINGS);
	expect_err(archive_ns_end(a, "ac", "paintings", err, sizeof(err)),
	    err, "after a failed write");
	archive_free(a);		/* neither finished nor aborted */
	assert_int_equal(m.aborted, 1);
	assert_int_equal(m.finished, 0);
	free(m.buf);
}

/* The next stage refuses to finish: said, and the caller can abort. */
static void
test_sink_fails_finish(void **state)
{
	struct mem	 m = { 0 };
	struct archive_ns ns = { "t", "a", NULL, NULL, NULL };
	struct archive	*a;
	char		 err[256] = "";

	m.fail_finish = true;
	a = archive_new(mem_sink(&m), SERVER_VERSION, TOOL_VERSION);
	assert_int_equal(archive_prelude(a, &ns, 1, err, sizeof(err)), 0);
	end(a, "t", "a");
	expect_err(archive_finish(a, err, sizeof(err)), err,
	    "archive: finishing: upload refused");
	archive_abort(a);
	archive_free(a);
	assert_int_equal(m.finished, 1);
	assert_int_equal(m.aborted, 1);
	free(m.buf);
}

/* Misuse is refused without writing anything, and without harm. */
static void
test_refusals(void **state)
{
	struct mem	 m = { 0 };
	struct archive_ns ns[2] = {
		{ "t", "a", NULL, NULL, NULL },
		{ "t", "b", NULL, NULL, NULL },
	};
	struct expect	 ex[2] = {
		{ "t.a", gen_small, 0, 0, false },
		{ "t.b", gen_small, 0, 0, false },
	};
	struct archive	*a;
	struct reader	 r;
	bson_t		*d = gen_small(0);
	uint8_t		*bad;
	char		 err[256] = "", trace[256];
	size_t		 before;

	a = archive_new(mem_sink(&m), SERVER_VERSION, TOOL_VERSION);
	expect_err(archive_doc(a, "t", "a", bson_get_data(d), d->len, err,
	    sizeof(err)), err, "before the prelude");
	assert_int_equal(archive_prelude(a, ns, 2, err, sizeof(err)), 0);
	expect_err(archive_prelude(a, ns, 2, err, sizeof(err)), err,
	    "after the prelude");
	before = m.len;

	expect_err(archive_doc(a, "t", "zzz", bson_get_data(d), d->len, err,
	    sizeof(err)), err, "t.zzz: a document for a namespace not in "
	    "the prelude");
	expect_err(archive_ns_end(a, "u", "a", err, sizeof(err)), err,
	    "u.a: the end for a namespace not in the prelude");

	bad = malloc(d->len);
	memcpy(bad, bson_get_data(d), d->len);
	bad[0]++;
	expect_err(archive_doc(a, "t", "a", bad, d->len, err, sizeof(err)),
	    err, "length prefix");
	bad[0]--;
	bad[d->len - 1] = 1;
	expect_err(archive_doc(a, "t", "a", bad, d->len, err, sizeof(err)),
	    err, "does not end in NUL");
	expect_err(archive_doc(a, "t", "a", bad, 4, err, sizeof(err)), err,
	    "a document of 4 bytes");
	expect_err(archive_doc(a, "t", "a", bad, ARCHIVE_MAX_DOC + 1, err,
	    sizeof(err)), err, "a document of 16777217 bytes");
	free(bad);
	assert_int_equal(m.len, before);

	/* still usable: the refusals left no trace */
	put(a, "t", "a", d);
	end(a, "t", "a");
	expect_err(archive_doc(a, "t", "a", bson_get_data(d), d->len, err,
	    sizeof(err)), err, "t.a: a document after its end");
	expect_err(archive_ns_end(a, "t", "a", err, sizeof(err)), err,
	    "t.a: the end after its end");
	expect_err(archive_finish(a, err, sizeof(err)), err,
	    "t.b was not ended");
	end(a, "t", "b");
	assert_int_equal(archive_finish(a, err, sizeof(err)), 0);
	expect_err(archive_finish(a, err, sizeof(err)), err,
	    "after the archive was finished");
	archive_free(a);

	r.p = m.buf;
	r.len = m.len;
	rd_header(&r);
	rd_doc(&r, &(bson_t){ 0 }, NULL, NULL);
	rd_doc(&r, &(bson_t){ 0 }, NULL, NULL);
	rd_terminator(&r);
	rd_body(&r, ex, 2, trace, sizeof(trace));
	assert_string_equal(trace, "t.a:1 t.a! t.b:0 t.b!");
	bson_destroy(d);
	free(m.buf);
}

/* A prelude mongorestore could not use is refused before any write. */
static void
test_bad_prelude(void **state)
{
	static const struct {
		const char	*version;	/* the server version */
		struct archive_ns ns[2];	/* the namespaces */
		const char	*says;		/* in the error */
	} cases[] = {
		{ "7.0", { { "t", "a", NULL, NULL, NULL } },
		  "server version \"7.0\" is not X.Y.Z" },
		{ "unknown", { { "t", "a", NULL, NULL, NULL } },
		  "server version \"unknown\"" },
		{ "7.0.1", { { "t", "a", NULL, NULL, "12ab" } },
		  "t.a: the uuid is not 32 hex digits" },
		{ "7.0.1", { { "t", "", NULL, NULL, NULL } },
		  "namespace 1 of the prelude has no database or collection" },
		{ "7.0.1", { { "t", "a", NULL, NULL, NULL },
			     { "t", "a", NULL, NULL, NULL } },
		  "t.a: twice in the prelude" },
	};
	struct mem	 m = { 0 };
	struct archive	*a;
	char		 err[256];
	size_t		 i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		a = archive_new(mem_sink(&m), cases[i].version, TOOL_VERSION);
		err[0] = '\0';
		expect_err(archive_prelude(a, cases[i].ns,
		    cases[i].ns[1].db != NULL ? 2 : 1, err, sizeof(err)), err,
		    cases[i].says);
		archive_free(a);
		assert_int_equal(m.len, 0);
	}
	/* versions with a build suffix are what servers report */
	a = archive_new(mem_sink(&m), "7.0.77-ferretdb+x", TOOL_VERSION);
	assert_int_equal(archive_prelude(a, NULL, 0, err, sizeof(err)), 0);
	archive_free(a);
	free(m.buf);
}

/* ---- the reader ---- */

/* What the reader's callbacks saw. */
struct seen {
	size_t		 nns;		/* namespaces of the prelude */
	char		 names[8][64];	/* "db.coll" of each */
	bool		 capped[8];	/* its options say capped */
	int		 nindexes[8];	/* its index specs */
	bool		 uuid[8];	/* it has a uuid */
	int		 docs[8];	/* documents read */
	uint64_t	 crc[8];	/* ref_crc of them */
	int		 ends[8];	/* ns_end calls */
	int		 preludes;	/* prelude calls */
	int		 finished;	/* finish calls */
};

static int
seen_prelude(void *arg, const struct archive_ns *ns, size_t n, char *err,
    size_t errsz)
{
	struct seen	*s = arg;
	bson_iter_t	 it;

	(void)err;
	(void)errsz;
	s->preludes++;
	s->nns = n;
	assert_true(n <= 8);
	for (size_t i = 0; i < n; i++) {
		snprintf(s->names[i], sizeof(s->names[i]), "%s.%s", ns[i].db,
		    ns[i].collection);
		s->capped[i] = ns[i].options != NULL &&
		    bson_iter_init_find(&it, ns[i].options, "capped") &&
		    bson_iter_as_bool(&it);
		s->nindexes[i] = ns[i].indexes != NULL ?
		    (int)bson_count_keys(ns[i].indexes) : -1;
		s->uuid[i] = ns[i].uuid != NULL;
	}
	return 0;
}

static int
seen_doc(void *arg, size_t ns, const uint8_t *bson, size_t len, char *err,
    size_t errsz)
{
	struct seen	*s = arg;

	(void)err;
	(void)errsz;
	assert_true(ns < s->nns);
	s->docs[ns]++;
	s->crc[ns] = ref_crc(s->crc[ns], bson, len);
	return 0;
}

static int
seen_end(void *arg, size_t ns, char *err, size_t errsz)
{
	struct seen	*s = arg;

	(void)err;
	(void)errsz;
	s->ends[ns]++;
	return 0;
}

static int
seen_finish(void *arg, char *err, size_t errsz)
{
	(void)err;
	(void)errsz;
	((struct seen *)arg)->finished++;
	return 0;
}

/* Reads p in chunks of chunk bytes; 0, or -1 with err. */
static int
read_archive(const uint8_t *p, size_t len, size_t chunk, struct seen *s,
    char *err, size_t errsz)
{
	struct archive_reader_cb cb = { seen_prelude, seen_doc, seen_end,
				    seen_finish, s };
	struct archive_reader	*r = archive_reader_new(&cb);
	struct sink		 in;
	size_t			 off, n;
	int			 rc = 0;

	assert_non_null(r);
	memset(s, 0, sizeof(*s));
	in = archive_reader_sink(r);
	for (off = 0; off < len && rc == 0; off += n) {
		n = len - off < chunk ? len - off : chunk;
		rc = in.write(in.ctx, p + off, n, err, errsz);
	}
	if (rc == 0)
		rc = in.finish(in.ctx, err, errsz);
	else
		in.abort(in.ctx);
	archive_reader_free(r);
	return rc;
}

static void
test_read_round_trip(void **state)
{
	static const size_t chunks[] = { 1, 3, 7, 4093, 65536, SIZE_MAX };
	struct mem	 m = { 0 };
	struct archive	*a;
	bson_t		*opts = BCON_NEW("capped", BCON_BOOL(true),
			    "size", BCON_INT64(1 << 20));
	bson_t		*idx = BCON_NEW("0", "{", "v", BCON_INT32(2), "key",
			    "{", "_id", BCON_INT32(1), "}", "name", "_id_",
			    "}", "1", "{", "v", BCON_INT32(2), "key", "{",
			    "a.b", BCON_INT32(-1), "}", "name", "a.b_-1",
			    "}");
	struct archive_ns ns[] = {
		{ "t", "a", opts, idx, "0123456789abcdef0123456789ABCDEF" },
		{ "t", "empty", NULL, NULL, NULL },
		{ "ac", "big", NULL, NULL, NULL },
	};
	uint64_t	 crc[3] = { 0 };
	struct seen	 s;
	char		 err[256] = "";
	bson_t		*d;
	int		 i;
	size_t		 k;

	(void)state;
	a = archive_new(mem_sink(&m), SERVER_VERSION, TOOL_VERSION);
	assert_int_equal(archive_prelude(a, ns, 3, err, sizeof(err)), 0);
	/* interleaved: t.a, big, t.a again; big's 16 MiB document */
	for (i = 0; i < 40; i++) {
		d = i == 20 ? gen_big(1) : gen_small(i);
		put(a, i == 20 ? "ac" : "t", i == 20 ? "big" : "a", d);
		crc[i == 20 ? 2 : 0] = ref_crc(crc[i == 20 ? 2 : 0],
		    bson_get_data(d), d->len);
		bson_destroy(d);
	}
	end(a, "t", "a");
	end(a, "t", "empty");
	end(a, "ac", "big");
	assert_int_equal(archive_finish(a, err, sizeof(err)), 0);
	archive_free(a);
	for (k = 0; k < sizeof(chunks) / sizeof(chunks[0]); k++) {
		if (chunks[k] < 7 && k > 0)
			continue;	/* 1 byte at a time once is enough */
		if (read_archive(m.buf, m.len, chunks[k], &s, err,
		    sizeof(err)) != 0)
			fail_msg("chunk %zu: %s", chunks[k], err);
		assert_int_equal(s.preludes, 1);
		assert_int_equal(s.finished, 1);
		assert_int_equal(s.nns, 3);
		assert_string_equal(s.names[0], "t.a");
		assert_string_equal(s.names[1], "t.empty");
		assert_string_equal(s.names[2], "ac.big");
		assert_true(s.capped[0]);
		assert_false(s.capped[1]);
		assert_int_equal(s.nindexes[0], 2);
		assert_int_equal(s.nindexes[1], 0);
		assert_true(s.uuid[0]);
		assert_false(s.uuid[1]);
		assert_int_equal(s.docs[0], 39);
		assert_int_equal(s.docs[1], 0);
		assert_int_equal(s.docs[2], 1);
		assert_true(s.crc[0] == crc[0] && s.crc[2] == crc[2]);
		assert_int_equal(s.ends[0], 1);
		assert_int_equal(s.ends[1], 1);
		assert_int_equal(s.ends[2], 1);
	}
	bson_destroy(opts);
	bson_destroy(idx);
	free(m.buf);
}

/* The worked example of docs/backup-format.md 1.7 (477 bytes). */
static void
example(struct mem *m)
{
	bson_t		*idx = BCON_NEW("0", "{", "v", BCON_INT32(2), "key",
			    "{", "_id", BCON_INT32(1), "}", "name", "_id_",
			    "}");
	bson_t		*d = BCON_NEW("_id", BCON_INT32(1));
	struct archive_ns ns = { "t", "a", NULL, idx, NULL };
	struct archive	*a;
	char		 err[256] = "";

	memset(m, 0, sizeof(*m));
	a = archive_new(mem_sink(m), "7.0.77", "silo 0.1");
	assert_int_equal(archive_prelude(a, &ns, 1, err, sizeof(err)), 0);
	put(a, "t", "a", d);
	end(a, "t", "a");
	assert_int_equal(archive_finish(a, err, sizeof(err)), 0);
	archive_free(a);
	bson_destroy(idx);
	bson_destroy(d);
	assert_int_equal(m->len, 477);
}

/* The example with [cut, cut + cutlen) replaced by add, refused with
 * want in the error, whole and a byte at a time. */
static void
refused(size_t at, size_t cutlen, const void *add, size_t addlen,
    const char *want)
{
	struct mem	 m;
	uint8_t		*p;
	size_t		 len, chunk;
	struct seen	 s;
	char		 err[512];

	example(&m);
	p = malloc(m.len + addlen);
	assert_non_null(p);
	memcpy(p, m.buf, at);
	if (addlen > 0)
		memcpy(p + at, add, addlen);
	memcpy(p + at + addlen, m.buf + at + cutlen, m.len - at - cutlen);
	len = m.len - cutlen + addlen;
	for (chunk = 1; chunk != 0; chunk = chunk == 1 ? SIZE_MAX : 0) {
		err[0] = '\0';
		assert_int_equal(read_archive(p, len, chunk, &s, err,
		    sizeof(err)), -1);
		if (strstr(err, want) == NULL)
			fail_msg("expected \"%s\" in \"%s\"", want, err);
		assert_int_equal(s.finished, 0);
	}
	free(p);
	free(m.buf);
}

static void
test_read_refusals(void **state)
{
	static const uint8_t	 ff[4] = { 0xff, 0xff, 0xff, 0xff };
	struct mem		 m;
	uint8_t			 b;

	(void)state;
	example(&m);
	b = 0x6e;
	refused(0, 1, &b, 1, "at offset 0: not a mongodump archive");
	b = '7';	/* "7.0.77" -> "7707.77"... not X.Y.Z */
	refused((size_t)((uint8_t *)memmem(m.buf, m.len, "7.0", 3) -
	    m.buf) + 1, 1, &b, 1, "at offset 4: the header's server_version");
	b = 4;		/* the document's length */
	refused(403, 1, &b, 1, "at offset 403: a document of 4 bytes");
	b = 1;		/* its last byte */
	refused(416, 1, &b, 1, "at offset 403: t.a: a document that does "
	    "not end in NUL");
	b = 2;		/* its value: the CRC no longer matches */
	refused(412, 1, &b, 1, "at offset 421: t.a: CRC mismatch");
	b = 'b';	/* the block's namespace */
	refused(381, 1, &b, 1, "at offset 351: a namespace header for t.b, "
	    "which is not in the prelude");
	/* the block's header gone: the document is taken as one */
	refused(351, 52, NULL, 0, "at offset 351: a namespace header with "
	    "field \"_id\"");
	/* header and document gone: a terminator instead of a header */
	refused(351, 66, NULL, 0, "at offset 351: a terminator where a "
	    "namespace header is expected");
	/* a block of t.a after its EOF */
	refused(477, 0, m.buf + 351, 52, "at offset 477: a namespace header "
	    "for t.a after its EOF");
	b = 0;		/* the terminator after the EOF */
	refused(473, 1, &b, 1, "at offset 473: no terminator after an EOF");
	/* cut short: inside the last terminator, before the EOF, inside
	 * the document, and one byte too many */
	refused(475, 2, NULL, 0, "at offset 475: the archive is truncated");
	refused(421, 56, NULL, 0, "at offset 421: the archive finished "
	    "before all collections were seen (no EOF for t.a)");
	refused(410, 67, NULL, 0, "at offset 410: the archive is truncated");
	b = 0;
	refused(477, 0, &b, 1, "at offset 478: the archive is truncated");
	refused(477, 0, ff, 4, "at offset 477: a terminator where a "
	    "namespace header is expected");
	free(m.buf);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crc_reference),
		cmocka_unit_test(test_layout),
		cmocka_unit_test(test_metadata_canonical),
		cmocka_unit_test(test_interleaved),
		cmocka_unit_test(test_empty_archive),
		cmocka_unit_test(test_sink_fails_prelude),
		cmocka_unit_test(test_sink_fails_body),
		cmocka_unit_test(test_sink_fails_finish),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_bad_prelude),
		cmocka_unit_test(test_read_round_trip),
		cmocka_unit_test(test_read_refusals),
	};
	return cmocka_run_group_tests_name("archive", tests, NULL, NULL);
}
