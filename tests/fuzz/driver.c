/*
 * driver.c: run a fuzz harness without libFuzzer.
 *
 * Each harness defines LLVMFuzzerTestOneInput().  Built with clang and
 * -fsanitize=fuzzer it is a libFuzzer target; built with this driver it
 * replays files (or every file in directories) named on the command line,
 * so that `make check` runs the seed corpus under ASan and UBSan on any
 * compiler.  With no arguments it replays its own seed corpus,
 * $SILO_SRCDIR/tests/fuzz/corpus/<name>.  It prints TAP, a line per input.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);
extern const char fuzz_corpus_name[];	/* set by each harness */

/* Paths to replay, gathered before the plan line is printed. */
static char	**inputs;
static size_t	  ninputs;

static void
add_input(const char *path)
{
	struct stat	 st;
	DIR		*d;
	struct dirent	*e;

	if (stat(path, &st) == -1) {
		fprintf(stderr, "fuzz driver: %s: cannot stat\n", path);
		exit(1);
	}
	if (!S_ISDIR(st.st_mode)) {
		inputs = realloc(inputs, (ninputs + 1) * sizeof(*inputs));
		inputs[ninputs++] = strdup(path);
		return;
	}
	if ((d = opendir(path)) == NULL)
		exit(1);
	while ((e = readdir(d)) != NULL) {
		char	 sub[4096];

		if (e->d_name[0] == '.')
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
		add_input(sub);
	}
	closedir(d);
}

int
main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		add_input(argv[i]);
	if (argc == 1) {
		const char	*src = getenv("SILO_SRCDIR");
		char		 dir[4096];

		snprintf(dir, sizeof(dir), "%s/tests/fuzz/corpus/%s",
		    src != NULL ? src : ".", fuzz_corpus_name);
		add_input(dir);
	}
	printf("1..%zu\n", ninputs);
	for (size_t i = 0; i < ninputs; i++) {
		FILE	*f = fopen(inputs[i], "rb");
		uint8_t	*buf;
		long	 len;

		if (f == NULL || fseek(f, 0, SEEK_END) == -1 ||
		    (len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) == -1) {
			printf("not ok %zu - %s: unreadable\n", i + 1, inputs[i]);
			continue;
		}
		buf = malloc((size_t)len + 1);
		if (fread(buf, 1, (size_t)len, f) != (size_t)len) {
			printf("not ok %zu - %s: short read\n", i + 1, inputs[i]);
		} else {
			LLVMFuzzerTestOneInput(buf, (size_t)len);
			printf("ok %zu - %s\n", i + 1, inputs[i]);
		}
		free(buf);
		fclose(f);
		free(inputs[i]);
	}
	free(inputs);
	return 0;
}
