/*
 * Fuzz harness: the ListObjectsV2 stream parser in spaces.c.
 *
 * An S3 answer is input from the network.  The first byte picks where the
 * rest is cut in two, so that entries split across chunks (as curl hands
 * them over) are exercised too.  Every entry delivered must have a key
 * that fits the parser's buffer, and a failure must say why.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "extern.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

const char fuzz_corpus_name[] = "listparse";

static int
entry_seen(const struct spaces_object *o, void *arg)
{
	size_t	*n = arg;

	if (o->key == NULL || strlen(o->key) > SPACES_MAX_KEY * 4)
		abort();
	(*n)++;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct spaces_listparse	 lp;
	size_t			 cut, entries = 0;
	int			 rc;

	if (size == 0)
		return 0;
	cut = data[0] % size;
	data++;
	size--;
	if (spaces_listparse_init(&lp, entry_seen, &entries) == -1)
		abort();
	rc = spaces_listparse_feed(&lp, (const char *)data, cut, false);
	if (rc == 0)
		rc = spaces_listparse_feed(&lp, (const char *)data + cut,
		    size - cut, true);
	if (rc == -1 && lp.err[0] == '\0')
		abort();
	spaces_listparse_free(&lp);
	return 0;
}
