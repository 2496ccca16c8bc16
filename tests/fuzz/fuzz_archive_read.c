/* Fuzz harness: archive_reader on arbitrary bytes.
 *
 * The first byte picks the chunk size the input is fed in (1 to 256
 * bytes), the rest is the archive.  The reader must never read out of
 * bounds, must pass only namespaces of its prelude to the callbacks,
 * must end each namespace at most once, and must either finish the
 * archive (having ended every namespace) or refuse it with a reason
 * that names an offset. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "extern.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

const char fuzz_corpus_name[] = "archive_read";

/* What the callbacks saw. */
struct fuzz_seen {
	size_t	 nns;		/* namespaces of the prelude */
	int	 preludes;	/* prelude() calls */
	size_t	 ended;		/* ns_end() calls */
	uint8_t	*ends;		/* per namespace: ended */
	int	 finished;	/* finish() calls */
};

static int
fuzz_prelude(void *arg, const struct archive_ns *ns, size_t n, char *err,
    size_t errsz)
{
	struct fuzz_seen	*s = arg;

	(void)err;
	(void)errsz;
	if (s->preludes++ != 0)
		abort();
	for (size_t i = 0; i < n; i++)
		if (ns[i].db[0] == '\0' || ns[i].collection[0] == '\0')
			abort();
	s->nns = n;
	if ((s->ends = calloc(n + 1, 1)) == NULL)
		abort();
	return 0;
}

static int
fuzz_doc(void *arg, size_t ns, const uint8_t *bson, size_t len, char *err,
    size_t errsz)
{
	struct fuzz_seen	*s = arg;
	uint32_t		 n;

	(void)err;
	(void)errsz;
	if (s->preludes != 1 || ns >= s->nns || s->ends[ns] || len < 5 ||
	    len > ARCHIVE_MAX_DOC || bson[len - 1] != 0)
		abort();
	n = (uint32_t)bson[0] | (uint32_t)bson[1] << 8 |
	    (uint32_t)bson[2] << 16 | (uint32_t)bson[3] << 24;
	if (n != len)
		abort();
	return 0;
}

static int
fuzz_end(void *arg, size_t ns, char *err, size_t errsz)
{
	struct fuzz_seen	*s = arg;

	(void)err;
	(void)errsz;
	if (s->preludes != 1 || ns >= s->nns || s->ends[ns])
		abort();
	s->ends[ns] = 1;
	s->ended++;
	return 0;
}

static int
fuzz_finish(void *arg, char *err, size_t errsz)
{
	struct fuzz_seen	*s = arg;

	(void)err;
	(void)errsz;
	if (s->preludes != 1 || s->ended != s->nns)
		abort();
	s->finished++;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_seen	 s = { 0 };
	struct archive_reader_cb cb = { fuzz_prelude, fuzz_doc, fuzz_end,
				    fuzz_finish, &s };
	struct archive_reader	*r;
	struct sink		 in;
	char			 err[512] = "";
	size_t			 chunk, off, n;
	int			 rc = 0;

	if (size == 0)
		return 0;
	chunk = (size_t)data[0] + 1;
	data++;
	size--;
	if ((r = archive_reader_new(&cb)) == NULL)
		abort();
	in = archive_reader_sink(r);
	for (off = 0; off < size && rc == 0; off += n) {
		n = size - off < chunk ? size - off : chunk;
		rc = in.write(in.ctx, data + off, n, err, sizeof(err));
	}
	if (rc == 0)
		rc = in.finish(in.ctx, err, sizeof(err));
	else
		in.abort(in.ctx);
	if (rc == 0 ? s.finished != 1 :
	    s.finished != 0 || strstr(err, "at offset ") == NULL)
		abort();
	archive_reader_free(r);
	free(s.ends);
	return 0;
}
