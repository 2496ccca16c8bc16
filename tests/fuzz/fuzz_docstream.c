/*
 * Fuzz harness: docstream.c, the backup-file splitter, on arbitrary bytes.
 *
 * A backup file is input silo did not write, and the splitter is
 * hand-written, so it is fuzzed.  The bytes become a file (a memfd, so
 * nothing touches the disk) read through the real open/next/close path.
 * Every document it returns must be non-empty and start where a JSON
 * object does; an error must say why; and the stream must stop.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "extern.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

const char fuzz_corpus_name[] = "docstream";

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct docstream	 ds;
	const char		*doc;
	char			 path[64];
	size_t			 len, ndocs = 0;
	int			 fd, rc;

	if ((fd = memfd_create("fuzz-docstream", 0)) == -1)
		abort();
	if (size > 0 && write(fd, data, size) != (ssize_t)size)
		abort();
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	if (docstream_open(&ds, path) == -1)
		abort();
	while ((rc = docstream_next(&ds, &doc, &len)) == 1) {
		if (len == 0 || doc[0] != '{' || ++ndocs > size)
			abort();
	}
	if (rc == -1 && ds.err[0] == '\0')
		abort();
	docstream_close(&ds);
	close(fd);
	return 0;
}
