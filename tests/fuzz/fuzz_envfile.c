/* Fuzz harness: config_load() on an arbitrary env file. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "silo.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

const char fuzz_corpus_name[] = "envfile";

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char		 path[64];
	struct silo_config	 c;
	char			 err[4096];
	FILE			*f;

	if (path[0] == '\0') {
		int fd;

		snprintf(path, sizeof(path), "/tmp/silo-fuzz-envXXXXXX");
		if ((fd = mkstemp(path)) == -1)
			abort();
		close(fd);
		unsetenv("MONGODB_CONNECTION_STRING");
	}
	if ((f = fopen(path, "wb")) == NULL)
		abort();
	fwrite(data, 1, size, f);
	fclose(f);
	if (config_load(&c, path, NULL, 0, err, sizeof(err)) == 0) {
		/* A valid config always has its required and derived fields. */
		if (c.mongo_uri == NULL || c.mongo_db == NULL || c.workers < 1)
			abort();
		config_free(&c);
	} else if (err[0] == '\0')
		abort();
	return 0;
}
