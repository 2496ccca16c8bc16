/* Unit tests for gzip.c: round trips, zlib's own output, truncation,
 * corruption, trailing bytes, and abort reaching the next stage. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <zlib.h>

#include "extern.h"

/* A sink that keeps what it is given, and how it ended. */
struct collect {
	unsigned char	*buf;		/* the bytes */
	size_t		 len;		/* how many */
	int		 finished;	/* finish() calls */
	int		 aborted;	/* abort() calls */
	size_t		 writes;	/* write() calls */
};

static int
collect_write(void *ctx, const void *buf, size_t len, char *err,
    size_t errsz)
{
	struct collect	*c = ctx;

	(void)err;
	(void)errsz;
	c->buf = realloc(c->buf, c->len + len + 1);
	assert_non_null(c->buf);
	memcpy(c->buf + c->len, buf, len);
	c->len += len;
	c->writes++;
	return 0;
}

static int
collect_finish(void *ctx, char *err, size_t errsz)
{
	(void)err;
	(void)errsz;
	((struct collect *)ctx)->finished++;
	return 0;
}

static void
collect_abort(void *ctx)
{
	((struct collect *)ctx)->aborted++;
}

static struct sink
collect_sink(struct collect *c)
{
	struct sink	 s = { collect_write, collect_finish, collect_abort, c };

	return s;
}

/* Data that compresses somewhat, but not to nothing. */
static unsigned char *
sample(size_t n)
{
	unsigned char	*p = malloc(n);
	uint32_t	 x = 12345;

	assert_non_null(p);
	for (size_t i = 0; i < n; i++) {
		x = x * 1103515245 + 12345;
		p[i] = (unsigned char)((i % 97) < 60 ? 'a' + i % 7 : x >> 24);
	}
	return p;
}

/* gzip n bytes written in pieces of step; the result in *out. */
static void
compress_in_steps(const unsigned char *in, size_t n, size_t step,
    struct collect *out)
{
	struct gzip	*g = gzip_new(collect_sink(out), 6);
	struct sink	 s;
	char		 err[256];
	uint64_t	 cin, cout;

	assert_non_null(g);
	s = gzip_sink(g);
	for (size_t off = 0; off < n; off += step)
		assert_int_equal(s.write(s.ctx, in + off,
		    n - off < step ? n - off : step, err, sizeof(err)), 0);
	assert_int_equal(s.finish(s.ctx, err, sizeof(err)), 0);
	gzip_counts(g, &cin, &cout);
	assert_int_equal(cin, n);
	assert_int_equal(cout, out->len);
	assert_int_equal(out->finished, 1);
	gzip_free(g);
}

/* Gunzip in pieces of step: 0, or -1 with err. */
static int
decompress_in_steps(const unsigned char *in, size_t n, size_t step,
    struct collect *out, char *err, size_t errsz)
{
	struct gzip	*g = gzip_open_new(collect_sink(out));
	struct sink	 s;
	int		 rc = 0;

	assert_non_null(g);
	s = gzip_sink(g);
	for (size_t off = 0; off < n && rc == 0; off += step)
		rc = s.write(s.ctx, in + off, n - off < step ? n - off : step,
		    err, errsz);
	if (rc == 0)
		rc = s.finish(s.ctx, err, errsz);
	else
		s.abort(s.ctx);
	gzip_free(g);
	return rc;
}

static void
round_trip_any_step(void **state)
{
	static const size_t	 steps[] = { 1, 7, 4096, 100000, 3 << 20 };
	size_t			 n = (3u << 20) + 17;
	unsigned char		*in = sample(n);

	(void)state;
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		struct collect	 z = { 0 }, back = { 0 };
		char		 err[256] = "";

		if (steps[i] == 1)
			n = 300000;	/* byte by byte: keep it quick */
		else
			n = (3u << 20) + 17;
		compress_in_steps(in, n, steps[i], &z);
		assert_true(z.len < n);
		assert_int_equal(z.buf[0], 0x1f);	/* gzip's magic */
		assert_int_equal(z.buf[1], 0x8b);
		assert_int_equal(decompress_in_steps(z.buf, z.len,
		    steps[i], &back, err, sizeof(err)), 0);
		assert_int_equal(back.len, n);
		assert_memory_equal(back.buf, in, n);
		assert_int_equal(back.finished, 1);
		free(z.buf);
		free(back.buf);
	}
	free(in);
}

/* What silo writes, zlib's own gunzip reads (uncompress via inflate). */
static void
zlib_reads_it(void **state)
{
	size_t		 n = 1u << 20;
	unsigned char	*in = sample(n), *plain = malloc(n);
	struct collect	 z = { 0 };
	z_stream	 zs = { 0 };

	(void)state;
	compress_in_steps(in, n, 65536, &z);
	assert_int_equal(inflateInit2(&zs, 15 + 16), Z_OK);
	zs.next_in = z.buf;
	zs.avail_in = (uInt)z.len;
	zs.next_out = plain;
	zs.avail_out = (uInt)n;
	assert_int_equal(inflate(&zs, Z_FINISH), Z_STREAM_END);
	assert_int_equal(zs.total_out, n);
	assert_memory_equal(plain, in, n);
	inflateEnd(&zs);
	free(z.buf);
	free(plain);
	free(in);
}

static void
empty_stream(void **state)
{
	struct collect	 z = { 0 }, back = { 0 };
	char		 err[256];

	(void)state;
	compress_in_steps(NULL, 0, 1, &z);
	assert_true(z.len >= 18);	/* header and trailer */
	assert_int_equal(decompress_in_steps(z.buf, z.len, 5, &back, err,
	    sizeof(err)), 0);
	assert_int_equal(back.len, 0);
	free(z.buf);
}

static void
truncated_is_an_error(void **state)
{
	size_t		 n = 200000;
	unsigned char	*in = sample(n);
	struct collect	 z = { 0 }, back = { 0 };
	char		 err[256] = "";

	(void)state;
	compress_in_steps(in, n, 8192, &z);
	assert_int_equal(decompress_in_steps(z.buf, z.len - 4, 8192, &back,
	    err, sizeof(err)), -1);
	assert_non_null(strstr(err, "truncated"));
	assert_int_equal(back.finished, 0);
	assert_int_equal(back.aborted, 1);
	free(back.buf);
	free(z.buf);
	free(in);
}

static void
corrupt_is_an_error(void **state)
{
	size_t		 n = 200000;
	unsigned char	*in = sample(n);
	struct collect	 z = { 0 }, back = { 0 };
	char		 err[256] = "";

	(void)state;
	compress_in_steps(in, n, 8192, &z);
	z.buf[z.len - 6] ^= 0x01;	/* in the CRC-32 */
	assert_int_equal(decompress_in_steps(z.buf, z.len, 8192, &back,
	    err, sizeof(err)), -1);
	assert_non_null(strstr(err, "gunzip"));
	assert_int_equal(back.finished, 0);
	assert_int_equal(back.aborted, 1);
	free(back.buf);
	free(z.buf);
	free(in);
}

static void
trailing_bytes_are_an_error(void **state)
{
	size_t		 n = 5000;
	unsigned char	*in = sample(n);
	struct collect	 z = { 0 }, back = { 0 };
	char		 err[256] = "";

	(void)state;
	compress_in_steps(in, n, 8192, &z);
	z.buf = realloc(z.buf, z.len + 3);
	memcpy(z.buf + z.len, "xyz", 3);
	assert_int_equal(decompress_in_steps(z.buf, z.len + 3, 100000, &back,
	    err, sizeof(err)), -1);
	assert_non_null(strstr(err, "after the end"));
	free(back.buf);
	free(z.buf);
	free(in);
}

static void
abort_reaches_next(void **state)
{
	struct collect	 out = { 0 };
	struct gzip	*g = gzip_new(collect_sink(&out), 1);
	struct sink	 s = gzip_sink(g);
	char		 err[64];

	(void)state;
	assert_int_equal(s.write(s.ctx, "abc", 3, err, sizeof(err)), 0);
	s.abort(s.ctx);
	assert_int_equal(out.aborted, 1);
	assert_int_equal(out.finished, 0);
	gzip_free(g);
	free(out.buf);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(round_trip_any_step),
		cmocka_unit_test(zlib_reads_it),
		cmocka_unit_test(empty_stream),
		cmocka_unit_test(truncated_is_an_error),
		cmocka_unit_test(corrupt_is_an_error),
		cmocka_unit_test(trailing_bytes_are_an_error),
		cmocka_unit_test(abort_reaches_next),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
