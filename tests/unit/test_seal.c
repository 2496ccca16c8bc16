/* Unit tests for seal.c: round trips, and every way a sealed object can be
 * wrong (a flipped byte anywhere, truncation anywhere, a wrong key, moved
 * chunks, trailing bytes) fails with its own error and never lets a byte
 * of an unverified chunk through; key files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "extern.h"

/* The small chunk size the tampering tests use: objects of a few chunks. */
#define	SMALL	16

/* A sink that keeps what it is given, and how it was completed. */
struct mem {
	uint8_t	*p;		/* the bytes written */
	size_t	 len;		/* how many */
	size_t	 cap;		/* allocated at p */
	int	 finished;	/* finish() calls */
	int	 aborted;	/* abort() calls */
};

static int
mem_write(void *ctx, const void *buf, size_t len, char *err, size_t errsz)
{
	struct mem	*m = ctx;

	if (m->len + len > m->cap) {
		m->cap = (m->len + len) * 2 + 16;
		m->p = realloc(m->p, m->cap);
		assert_non_null(m->p);
	}
	if (len > 0)
		memcpy(m->p + m->len, buf, len);
	m->len += len;
	return 0;
}

static int
mem_finish(void *ctx, char *err, size_t errsz)
{
	((struct mem *)ctx)->finished++;
	return 0;
}

static void
mem_abort(void *ctx)
{
	((struct mem *)ctx)->aborted++;
}

static struct sink
mem_sink(struct mem *m)
{
	struct sink	 s = { mem_write, mem_finish, mem_abort, m };

	memset(m, 0, sizeof(*m));
	return s;
}

static uint8_t	 key1[SEAL_KEY_LEN], key2[SEAL_KEY_LEN];

static int
setup_keys(void **state)
{
	for (int i = 0; i < SEAL_KEY_LEN; i++) {
		key1[i] = (uint8_t)i;
		key2[i] = (uint8_t)(i + 1);
	}
	return 0;
}

/* Plaintext that differs at every offset within a chunk. */
static uint8_t *
pattern(size_t len)
{
	uint8_t	*p = malloc(len + 1);

	assert_non_null(p);
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(i * 31 + 7 + (i >> 8));
	return p;
}

/* Writes len bytes into a sink in pieces of odd sizes. */
static int
feed(struct sink in, const uint8_t *p, size_t len, char *err, size_t errsz)
{
	static const size_t	 pieces[] = { 1, 7, 4093, 3, 65537, 13, 300001 };
	size_t			 k = 0, n;

	while (len > 0) {
		n = pieces[k++ % (sizeof(pieces) / sizeof(pieces[0]))];
		if (n > len)
			n = len;
		if (in.write(in.ctx, p, n, err, errsz) == -1)
			return -1;
		p += n;
		len -= n;
	}
	return 0;
}

/* Seals len bytes with a chunk size; the sealed bytes are in *out. */
static void
seal_bytes(const uint8_t *key, uint32_t chunk, const uint8_t *p, size_t len,
    struct mem *out)
{
	struct seal	*s = seal_new_sized(key, chunk, mem_sink(out));
	char		 err[256];

	assert_non_null(s);
	assert_int_equal(feed(seal_sink(s), p, len, err, sizeof(err)), 0);
	assert_int_equal(seal_sink(s).finish(s, err, sizeof(err)), 0);
	seal_free(s);
	assert_int_equal(out->finished, 1);
	assert_int_equal(out->aborted, 0);
}

/* Opens sealed bytes: 0, or -1 with err.  The sink is completed once,
 * finished on success and aborted on failure. */
static int
open_bytes(const uint8_t *key, const uint8_t *p, size_t len, struct mem *out,
    char *err, size_t errsz)
{
	struct seal	*s = seal_open_new(key, mem_sink(out));
	struct sink	 in = seal_sink(s);
	int		 rc;

	err[0] = '\0';
	if ((rc = feed(in, p, len, err, errsz)) == -1)
		in.abort(in.ctx);
	else
		rc = in.finish(in.ctx, err, errsz);
	seal_free(s);
	assert_int_equal(out->finished + out->aborted, 1);
	assert_int_equal(out->finished, rc == 0);
	return rc;
}

static void
round_trip(size_t len, uint32_t chunk)
{
	uint8_t		*p = pattern(len);
	struct mem	 sealed, plain;
	size_t		 chunks = len / chunk + 1;
	char		 err[256];

	seal_bytes(key1, chunk, p, len, &sealed);
	assert_int_equal(sealed.len, SEAL_HEADER_LEN + len +
	    chunks * (SEAL_FRAME_LEN + SEAL_TAG_LEN));
	if (len >= 64)		/* no plaintext shows through */
		assert_null(memmem(sealed.p, sealed.len, p + 16, 32));
	if (open_bytes(key1, sealed.p, sealed.len, &plain, err,
	    sizeof(err)) != 0)
		fail_msg("%zu bytes: %s", len, err);
	assert_int_equal(plain.len, len);
	if (len > 0)
		assert_memory_equal(plain.p, p, len);
	free(sealed.p);
	free(plain.p);
	free(p);
}

static void
round_trips(void **state)
{
	const size_t	 c = SEAL_CHUNK;
	const size_t	 sizes[] = { 0, 1, c - 1, c, c + 1, 3 * c + 12345 };

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		round_trip(sizes[i], SEAL_CHUNK);
	for (size_t len = 0; len <= 5 * SMALL; len++)
		round_trip(len, SMALL);
	round_trip(100, 1);
}

static void
objects_differ(void **state)
{
	uint8_t		*p = pattern(100);
	struct mem	 a, b;

	seal_bytes(key1, SMALL, p, 100, &a);
	seal_bytes(key1, SMALL, p, 100, &b);
	assert_int_equal(a.len, b.len);
	/* Same magic, version, chunk size and key id; another salt. */
	assert_memory_equal(a.p, b.p, 21);
	assert_memory_not_equal(a.p + 21, b.p + 21, a.len - 21);
	free(a.p);
	free(b.p);
	free(p);
}

/* The small object: 40 bytes in chunks of 16: two full, one final of 8. */
#define	OBJ_PLAIN	40
#define	OBJ_CHUNK(k)	(SEAL_HEADER_LEN + (k) * \
	(SEAL_FRAME_LEN + SMALL + SEAL_TAG_LEN))

/* The error a flip of bit 0 of byte pos of the small object must give,
 * and the chunks verified (and passed on) before it. */
static void
flip_expect(size_t pos, char *want, size_t wantsz, size_t *good)
{
	size_t	 k, o;

	*good = 0;
	if (pos < 8)
		snprintf(want, wantsz, "not a sealed object (bad magic)");
	else if (pos == 8)
		snprintf(want, wantsz, "unsupported sealed format version 0 "
		    "(this silo reads version 1)");
	else if (pos == 9)
		snprintf(want, wantsz, "bad chunk size 16777232 in the header "
		    "(1 to 16777216)");
	else if (pos < 13)
		snprintf(want, wantsz, "chunk 0: length 16 of a chunk not "
		    "final is not the chunk size %u (tampered)",
		    SMALL ^ (1u << (8 * (12 - pos))));
	else if (pos < 21)
		snprintf(want, wantsz, "wrong key (key id b4daebc973f95250, "
		    "this object was sealed with ");
	else if (pos < SEAL_HEADER_LEN)
		snprintf(want, wantsz, "chunk 0: authentication failed "
		    "(tampered)");
	else {
		k = (pos - SEAL_HEADER_LEN) / (SEAL_FRAME_LEN + SMALL +
		    SEAL_TAG_LEN);
		o = pos - OBJ_CHUNK(k);
		*good = k;
		if (o == 0 && k == 2)
			snprintf(want, wantsz, "chunk 2: length 8 of a chunk "
			    "not final is not the chunk size 16 (tampered)");
		else if (o == 4 && k == 2)
			snprintf(want, wantsz, "truncated: chunk 2 ends after "
			    "24 of 25 bytes");
		else if (o >= 1 && o <= 4)
			snprintf(want, wantsz, "chunk %zu: length %u is over "
			    "the chunk size 16 (tampered)", k,
			    (k == 2 ? 8 : SMALL) ^ (1u << (8 * (4 - o))));
		else
			snprintf(want, wantsz, "chunk %zu: authentication "
			    "failed (tampered)", k);
	}
}

static void
every_flipped_byte_is_named(void **state)
{
	uint8_t		*p = pattern(OBJ_PLAIN), *bad;
	struct mem	 sealed, plain;
	char		 err[256], want[256];
	size_t		 good;

	seal_bytes(key1, SMALL, p, OBJ_PLAIN, &sealed);
	assert_int_equal(sealed.len, OBJ_CHUNK(2) + SEAL_FRAME_LEN + 8 +
	    SEAL_TAG_LEN);
	bad = malloc(sealed.len);
	for (size_t pos = 0; pos < sealed.len; pos++) {
		memcpy(bad, sealed.p, sealed.len);
		bad[pos] ^= 1;
		flip_expect(pos, want, sizeof(want), &good);
		assert_int_equal(open_bytes(key1, bad, sealed.len, &plain, err,
		    sizeof(err)), -1);
		if (strncmp(err, want, strlen(want)) != 0)
			fail_msg("byte %zu: \"%s\", not \"%s\"", pos, err,
			    want);
		/* Only the chunks before the tampered one went through. */
		assert_int_equal(plain.len, good * SMALL);
		if (plain.len > 0)
			assert_memory_equal(plain.p, p, plain.len);
		free(plain.p);

		/* Its other seven bits: it fails, and nothing leaks. */
		bad[pos] ^= 0xff;
		assert_int_equal(open_bytes(key1, bad, sealed.len, &plain, err,
		    sizeof(err)), -1);
		assert_true(plain.len <= good * SMALL);
		free(plain.p);
	}
	free(bad);
	free(sealed.p);
	free(p);
}

static void
every_truncation_is_detected(void **state)
{
	uint8_t		*p = pattern(OBJ_PLAIN);
	struct mem	 sealed, plain;
	char		 err[256], want[256];
	size_t		 k, o;

	seal_bytes(key1, SMALL, p, OBJ_PLAIN, &sealed);
	for (size_t len = 0; len < sealed.len; len++) {
		if (len < SEAL_HEADER_LEN)
			snprintf(want, sizeof(want), "truncated: the header "
			    "ends after %zu of 53 bytes", len);
		else if (len == SEAL_HEADER_LEN)
			snprintf(want, sizeof(want), "truncated: no chunk "
			    "after the header");
		else {
			k = (len - SEAL_HEADER_LEN) / (SEAL_FRAME_LEN + SMALL +
			    SEAL_TAG_LEN);
			o = len - OBJ_CHUNK(k);
			if (o == 0)
				snprintf(want, sizeof(want), "truncated: no "
				    "final chunk after chunk %zu", k - 1);
			else if (o < SEAL_FRAME_LEN)
				snprintf(want, sizeof(want), "truncated: "
				    "chunk %zu ends after %zu bytes of its "
				    "5-byte frame", k, o);
			else
				snprintf(want, sizeof(want), "truncated: "
				    "chunk %zu ends after %zu of %d bytes", k,
				    o - SEAL_FRAME_LEN, (k == 2 ? 8 : SMALL) +
				    SEAL_TAG_LEN);
		}
		assert_int_equal(open_bytes(key1, sealed.p, len, &plain, err,
		    sizeof(err)), -1);
		if (strcmp(err, want) != 0)
			fail_msg("%zu bytes: \"%s\", not \"%s\"", len, err,
			    want);
		free(plain.p);
	}
	free(sealed.p);
	free(p);
}

static void
trailing_data_is_refused(void **state)
{
	uint8_t		*p = pattern(OBJ_PLAIN);
	uint8_t		 c1[SEAL_FRAME_LEN + SMALL + SEAL_TAG_LEN];
	struct mem	 sealed, plain;
	char		 err[256];
	size_t		 len;

	seal_bytes(key1, SMALL, p, OBJ_PLAIN, &sealed);
	len = sealed.len;
	/* One more byte; then chunk 1 again after the final chunk. */
	mem_write(&sealed, "", 1, err, sizeof(err));
	assert_int_equal(open_bytes(key1, sealed.p, sealed.len, &plain, err,
	    sizeof(err)), -1);
	assert_string_equal(err, "trailing data after the final chunk "
	    "(chunk 2)");
	free(plain.p);
	sealed.len = len;
	memcpy(c1, sealed.p + OBJ_CHUNK(1), sizeof(c1));
	mem_write(&sealed, c1, sizeof(c1), err, sizeof(err));
	assert_int_equal(open_bytes(key1, sealed.p, sealed.len, &plain, err,
	    sizeof(err)), -1);
	assert_string_equal(err, "trailing data after the final chunk "
	    "(chunk 2)");
	free(plain.p);
	free(sealed.p);
	free(p);
}

static void
wrong_key_is_named(void **state)
{
	uint8_t		*p = pattern(OBJ_PLAIN);
	struct mem	 sealed, plain;
	char		 err[256], want[256], id1[SEAL_KEY_ID_LEN + 1];
	char		 id2[SEAL_KEY_ID_LEN + 1];

	seal_key_id(key1, id1);
	seal_key_id(key2, id2);
	assert_string_equal(id1, "b4daebc973f95250");
	assert_string_not_equal(id1, id2);
	seal_bytes(key1, SMALL, p, OBJ_PLAIN, &sealed);
	assert_int_equal(open_bytes(key2, sealed.p, sealed.len, &plain, err,
	    sizeof(err)), -1);
	snprintf(want, sizeof(want), "wrong key (key id %s, this object was "
	    "sealed with %s)", id2, id1);
	assert_string_equal(err, want);
	assert_int_equal(plain.len, 0);
	free(plain.p);
	free(sealed.p);
	free(p);
}

static void
moved_chunks_fail(void **state)
{
	uint8_t		*p = pattern(OBJ_PLAIN);
	uint8_t		 c0[SEAL_FRAME_LEN + SMALL + SEAL_TAG_LEN];
	struct mem	 sealed, other, plain;
	char		 err[256];

	/* Chunks 0 and 1 swapped. */
	seal_bytes(key1, SMALL, p, OBJ_PLAIN, &sealed);
	memcpy(c0, sealed.p + OBJ_CHUNK(0), sizeof(c0));
	memmove(sealed.p + OBJ_CHUNK(0), sealed.p + OBJ_CHUNK(1), sizeof(c0));
	memcpy(sealed.p + OBJ_CHUNK(1), c0, sizeof(c0));
	assert_int_equal(open_bytes(key1, sealed.p, sealed.len, &plain, err,
	    sizeof(err)), -1);
	assert_string_equal(err, "chunk 0: authentication failed (tampered)");
	assert_int_equal(plain.len, 0);
	free(plain.p);

	/* Chunk 1 of another object of the same plaintext and key. */
	memcpy(sealed.p + OBJ_CHUNK(1), sealed.p + OBJ_CHUNK(0), sizeof(c0));
	memcpy(sealed.p + OBJ_CHUNK(0), c0, sizeof(c0));
	seal_bytes(key1, SMALL, p, OBJ_PLAIN, &other);
	memcpy(sealed.p + OBJ_CHUNK(1), other.p + OBJ_CHUNK(1), sizeof(c0));
	assert_int_equal(open_bytes(key1, sealed.p, sealed.len, &plain, err,
	    sizeof(err)), -1);
	assert_string_equal(err, "chunk 1: authentication failed (tampered)");
	assert_int_equal(plain.len, SMALL);
	free(plain.p);
	free(other.p);
	free(sealed.p);
	free(p);
}

/* A fresh directory for key files. */
static int
setup_dir(void **state)
{
	char	*dir = strdup("/tmp/silo-seal-test-XXXXXX");

	assert_non_null(mkdtemp(dir));
	*state = dir;
	return 0;
}

static int
teardown_dir(void **state)
{
	char	 cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", (char *)*state);
	assert_int_equal(system(cmd), 0);
	free(*state);
	return 0;
}

/* Writes a file of len bytes with a mode. */
static void
put_file(const char *path, size_t len, mode_t mode)
{
	FILE	*f = fopen(path, "wb");

	assert_non_null(f);
	for (size_t i = 0; i < len; i++)
		fputc((int)i, f);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(path, mode), 0);
}

static void
keygen_makes_a_private_key_once(void **state)
{
	char		 path[256], err[256], id[SEAL_KEY_ID_LEN + 1];
	uint8_t		 key[SEAL_KEY_LEN], again[SEAL_KEY_LEN];
	struct stat	 st;
	mode_t		 old = umask(0);

	snprintf(path, sizeof(path), "%s/backup.key", (char *)*state);
	assert_int_equal(seal_keygen(path, err, sizeof(err)), 0);
	umask(old);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_size, SEAL_KEY_LEN);
	assert_int_equal(seal_key_load(path, key, err, sizeof(err)), 0);

	assert_int_equal(seal_keygen(path, err, sizeof(err)), -1);
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, "never overwritten"));
	assert_int_equal(seal_key_load(path, again, err, sizeof(err)), 0);
	assert_memory_equal(key, again, SEAL_KEY_LEN);

	/* The id is 16 hex digits and none of the key's bytes. */
	seal_key_id(key, id);
	assert_int_equal(strlen(id), SEAL_KEY_ID_LEN);
	assert_int_equal(strspn(id, "0123456789abcdef"), SEAL_KEY_ID_LEN);
}

static void
key_load_refuses_open_modes_and_sizes(void **state)
{
	char		 path[256], err[640], want[640];
	uint8_t		 key[SEAL_KEY_LEN];
	const size_t	 sizes[] = { 0, 31, 33, 64 };

	snprintf(path, sizeof(path), "%s/k", (char *)*state);
	put_file(path, SEAL_KEY_LEN, 0644);
	assert_int_equal(seal_key_load(path, key, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s: mode 0644 lets group or others at "
	    "the key; chmod 600 %s", path, path);
	assert_string_equal(err, want);
	assert_int_equal(chmod(path, 0620), 0);
	assert_int_equal(seal_key_load(path, key, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "mode 0620"));
	assert_int_equal(chmod(path, 0400), 0);
	assert_int_equal(seal_key_load(path, key, err, sizeof(err)), 0);
	assert_int_equal(key[31], 31);
	assert_int_equal(unlink(path), 0);

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		put_file(path, sizes[i], 0600);
		assert_int_equal(seal_key_load(path, key, err, sizeof(err)),
		    -1);
		snprintf(want, sizeof(want), "%s: %zu bytes; a key file is "
		    "exactly 32 (silo backup keygen)", path, sizes[i]);
		assert_string_equal(err, want);
		assert_int_equal(unlink(path), 0);
	}
	assert_int_equal(seal_key_load(path, key, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "No such file"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(round_trips),
		cmocka_unit_test(objects_differ),
		cmocka_unit_test(every_flipped_byte_is_named),
		cmocka_unit_test(every_truncation_is_detected),
		cmocka_unit_test(trailing_data_is_refused),
		cmocka_unit_test(wrong_key_is_named),
		cmocka_unit_test(moved_chunks_fail),
		cmocka_unit_test_setup_teardown(keygen_makes_a_private_key_once,
		    setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(
		    key_load_refuses_open_modes_and_sizes, setup_dir,
		    teardown_dir),
	};

	return cmocka_run_group_tests(tests, setup_keys, NULL);
}
