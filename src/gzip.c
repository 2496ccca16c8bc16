/*
 * gzip.c: the gzip stage of a backup's byte pipeline, both ways.
 *
 * `mongodump --archive --gzip` gzips the whole archive stream, and
 * `mongorestore --archive --gzip` gunzips it before reading the archive,
 * so silo does the same: one gzip member (RFC 1952, zlib's deflate with
 * windowBits 15 + 16) around everything the archive writer produces.
 *
 * Both directions are a struct sink (extern.h) in front of the next
 * stage.  Bytes written in are pushed through zlib into a fixed output
 * buffer, and each time it fills it is written to the next sink, so
 * memory is zlib's state plus GZIP_BUF whatever the stream's size.
 * finish() drains zlib (Z_FINISH when compressing; when decompressing it
 * insists on the gzip trailer, whose CRC-32 and length zlib checks, so a
 * truncated or corrupted stream is an error and not a short file), then
 * finishes the next stage.  abort() aborts the next stage.
 *
 * The bytes in and out are counted by zlib itself (total_in, total_out):
 * the backup's manifest records the plain and compressed sizes from them.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "extern.h"

#define	GZIP_BUF	(64u << 10)	/* output buffer */
#define	GZIP_WBITS	(15 + 16)	/* a 32 KiB window, gzip framing */
#define	GZIP_MEMLEVEL	8		/* zlib's default */

/* One gzip stage. */
struct gzip {
	z_stream	 z;		/* zlib's state */
	bool		 inflating;	/* gunzip, not gzip */
	bool		 ended;		/* inflate: the trailer was read */
	bool		 closed;	/* finished or aborted: abort no more */
	struct sink	 next;		/* where the output goes */
	unsigned char	 out[GZIP_BUF];	/* output not yet written */
};

/* Write the output buffer's contents to the next stage. */
static int
gzip_flush(struct gzip *g, char *err, size_t errsz)
{
	size_t	 n = GZIP_BUF - g->z.avail_out;

	g->z.next_out = g->out;
	g->z.avail_out = GZIP_BUF;
	if (n == 0)
		return 0;
	return g->next.write(g->next.ctx, g->out, n, err, errsz);
}

/* Compress the pending input; with Z_FINISH, to the stream's end. */
static int
gzip_deflate(struct gzip *g, int flush, char *err, size_t errsz)
{
	int	 zr;

	for (;;) {
		if ((zr = deflate(&g->z, flush)) == Z_STREAM_ERROR) {
			snprintf(err, errsz, "gzip: %s", zError(zr));
			return -1;
		}
		if ((g->z.avail_out == 0 || zr == Z_STREAM_END) &&
		    gzip_flush(g, err, errsz) == -1)
			return -1;
		if (zr == Z_STREAM_END)
			return 0;
		if (flush == Z_NO_FLUSH && g->z.avail_in == 0 &&
		    g->z.avail_out > 0)
			return 0;
	}
}

/* Decompress the pending input, to the gzip trailer at most. */
static int
gzip_inflate(struct gzip *g, char *err, size_t errsz)
{
	int	 zr;

	for (;;) {
		if (g->ended) {
			if (g->z.avail_in == 0)
				return 0;
			snprintf(err, errsz, "gunzip: %u bytes after the end "
			    "of the gzip stream", g->z.avail_in);
			return -1;
		}
		zr = inflate(&g->z, Z_NO_FLUSH);
		if (zr == Z_STREAM_END)
			g->ended = true;
		else if (zr == Z_BUF_ERROR && g->z.avail_out > 0)
			return 0;	/* it needs more input */
		else if (zr != Z_OK && zr != Z_BUF_ERROR) {
			snprintf(err, errsz, "gunzip: %s", g->z.msg != NULL ?
			    g->z.msg : zError(zr));
			return -1;
		}
		if ((g->z.avail_out == 0 || g->ended) &&
		    gzip_flush(g, err, errsz) == -1)
			return -1;
		if (!g->ended && g->z.avail_in == 0 && g->z.avail_out > 0)
			return 0;
	}
}

/* Push the pending input through zlib. */
static int
gzip_run(struct gzip *g, int flush, char *err, size_t errsz)
{
	return g->inflating ? gzip_inflate(g, err, errsz) :
	    gzip_deflate(g, flush, err, errsz);
}

static int
gzip_write(void *ctx, const void *buf, size_t len, char *err, size_t errsz)
{
	struct gzip	*g = ctx;
	const unsigned char *p = buf;

	/* avail_in is an unsigned int: feed a huge buffer in slices. */
	while (len > 0) {
		uInt	 n = len > (1u << 30) ? (1u << 30) : (uInt)len;

		g->z.next_in = (unsigned char *)(uintptr_t)p;
		g->z.avail_in = n;
		if (gzip_run(g, Z_NO_FLUSH, err, errsz) == -1)
			return -1;
		p += n;
		len -= n;
	}
	return 0;
}

static int
gzip_finish(void *ctx, char *err, size_t errsz)
{
	struct gzip	*g = ctx;

	g->closed = true;
	g->z.next_in = NULL;
	g->z.avail_in = 0;
	if (gzip_run(g, Z_FINISH, err, errsz) == -1) {
		g->next.abort(g->next.ctx);
		return -1;
	}
	if (g->inflating && !g->ended) {
		snprintf(err, errsz, "gunzip: the gzip stream is truncated "
		    "(after %lu bytes)", (unsigned long)g->z.total_in);
		g->next.abort(g->next.ctx);
		return -1;
	}
	return g->next.finish(g->next.ctx, err, errsz);
}

static void
gzip_abort(void *ctx)
{
	struct gzip	*g = ctx;

	if (g->closed)
		return;
	g->closed = true;
	g->next.abort(g->next.ctx);
}

/* A stage with zlib initialised by init; NULL when out of memory. */
static struct gzip *
gzip_make(struct sink next, bool inflating, int level)
{
	struct gzip	*g;
	int		 zr;

	if ((g = calloc(1, sizeof(*g))) == NULL)
		return NULL;
	g->inflating = inflating;
	g->next = next;
	if (inflating)
		zr = inflateInit2(&g->z, GZIP_WBITS);
	else
		zr = deflateInit2(&g->z, level, Z_DEFLATED, GZIP_WBITS,
		    GZIP_MEMLEVEL, Z_DEFAULT_STRATEGY);
	if (zr != Z_OK) {
		free(g);
		return NULL;
	}
	g->z.next_out = g->out;
	g->z.avail_out = GZIP_BUF;
	return g;
}

/* A compressing stage writing gzip to next, at zlib's level (1-9, or
 * Z_DEFAULT_COMPRESSION); NULL when out of memory. */
struct gzip *
gzip_new(struct sink next, int level)
{
	return gzip_make(next, false, level);
}

/* A decompressing stage writing what the gzip stream holds to next. */
struct gzip *
gzip_open_new(struct sink next)
{
	return gzip_make(next, true, 0);
}

/* The stage's input. */
struct sink
gzip_sink(struct gzip *g)
{
	struct sink	 s = { gzip_write, gzip_finish, gzip_abort, g };

	return s;
}

/* Bytes taken in and given out so far. */
void
gzip_counts(const struct gzip *g, uint64_t *in, uint64_t *out)
{
	*in = g->z.total_in;
	*out = g->z.total_out;
}

void
gzip_free(struct gzip *g)
{
	if (g == NULL)
		return;
	if (g->inflating)
		inflateEnd(&g->z);
	else
		deflateEnd(&g->z);
	free(g);
}
