/* Fuzz harness: seal_open_new() on arbitrary bytes, with a fixed key.
 *
 * The seed corpus is sealed with that key from one known plaintext,
 * byte n being fuzz_seal_byte(n), in chunks of several sizes.  A forged
 * chunk cannot pass GCM's tag, so every byte the reader lets through
 * must be that plaintext at its offset: anything else is plaintext of a
 * chunk it did not verify.  An input that fails must abort the next
 * stage (never finish it) and say why; one that succeeds finishes it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "extern.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

const char fuzz_corpus_name[] = "seal_open";

/* What the next stage saw. */
struct fuzz_out {
	size_t	 len;		/* plaintext bytes passed on */
	int	 finished;	/* finish() calls */
	int	 aborted;	/* abort() calls */
};

/* The seeds' plaintext, byte n. */
static uint8_t
fuzz_seal_byte(size_t n)
{
	return (uint8_t)(n * 31 + 7 + (n >> 8));
}

static int
fuzz_write(void *ctx, const void *buf, size_t len, char *err, size_t errsz)
{
	struct fuzz_out	*o = ctx;
	const uint8_t	*p = buf;

	for (size_t i = 0; i < len; i++)
		if (p[i] != fuzz_seal_byte(o->len + i))
			abort();	/* an unverified chunk got through */
	o->len += len;
	return 0;
}

static int
fuzz_finish(void *ctx, char *err, size_t errsz)
{
	((struct fuzz_out *)ctx)->finished++;
	return 0;
}

static void
fuzz_abort(void *ctx)
{
	((struct fuzz_out *)ctx)->aborted++;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_out	 o = { 0, 0, 0 };
	struct sink	 next = { fuzz_write, fuzz_finish, fuzz_abort, &o };
	struct seal	*s;
	struct sink	 in;
	uint8_t		 key[SEAL_KEY_LEN];
	char		 err[256] = "";
	size_t		 cut = size / 3;
	int		 rc;

	for (int i = 0; i < SEAL_KEY_LEN; i++)
		key[i] = (uint8_t)i;
	if ((s = seal_open_new(key, next)) == NULL)
		abort();
	in = seal_sink(s);
	/* In two writes, so that a part is sometimes split across them. */
	rc = in.write(in.ctx, data, cut, err, sizeof(err));
	if (rc == 0)
		rc = in.write(in.ctx, data + cut, size - cut, err,
		    sizeof(err));
	if (rc == 0)
		rc = in.finish(in.ctx, err, sizeof(err));
	else
		in.abort(in.ctx);
	seal_free(s);
	if (rc == 0 && (o.finished != 1 || o.aborted != 0))
		abort();
	if (rc != 0 && (o.finished != 0 || o.aborted != 1 || err[0] == '\0'))
		abort();
	return 0;
}
