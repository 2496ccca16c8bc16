/* Fuzz harness: query_parse() on arbitrary bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "silo.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

const char fuzz_corpus_name[] = "query";

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct query	 q;
	char		 err[256];
	char		*qs = strndup((const char *)data, size);

	if (query_parse(qs, &q, err, sizeof(err)) == 0) {
		/* Keys are unique and non-empty; every key finds its value. */
		for (size_t i = 0; i < q.nparams; i++) {
			if (q.params[i].key[0] == '\0' ||
			    query_get(&q, q.params[i].key) != q.params[i].value)
				abort();
		}
		query_free(&q);
	} else if (q.nparams != 0 || err[0] == '\0')
		abort();
	free(qs);
	return 0;
}
