/*
 * spaces-tool: silo's S3 client (src/spaces.c) from the command line.
 * `tools/stack demo` seeds MinIO with it (putlist), and the integration
 * tests (tests/integration/test_spaces.py, test_storage.py) drive the
 * client against MinIO through it, so that what they check is the C code
 * silo runs.  Built by `make`, never installed.
 *
 *   spaces-tool mb BUCKET
 *   spaces-tool put BUCKET KEY FILE	(multipart above the threshold)
 *   spaces-tool putbuf BUCKET KEY FILE	(read whole, one PUT from memory)
 *   spaces-tool get BUCKET KEY FILE
 *   spaces-tool getbuf BUCKET KEY	(to stdout, through memory)
 *   spaces-tool head BUCKET KEY		(size<TAB>etag<TAB>content-type)
 *   spaces-tool delete BUCKET KEY
 *   spaces-tool list BUCKET PREFIX [DELIMITER] (size<TAB>key lines;
 *				 common prefixes as PRE<TAB>prefix)
 *   spaces-tool uploads BUCKET PREFIX	(multipart uploads in progress:
 *				 key<TAB>upload id lines)
 *   spaces-tool putmany BUCKET PREFIX N	(PREFIX00000.. of i % 7 bytes,
 *				 through one client, to seed listings)
 *   spaces-tool putlist		(stdin: BUCKET<TAB>KEY<TAB>FILE lines,
 *				 each uploaded as put does, one client)
 *
 * The store comes from the environment: SPACES_ENDPOINT, SPACES_KEY,
 * SPACES_SECRET, SPACES_REGION, and for the tests SPACES_VIRTUAL_HOST=1,
 * SPACES_CONNECT_TIMEOUT_MS, SPACES_TIMEOUT_MS, SPACES_ATTEMPTS,
 * SPACES_PART_SIZE, SPACES_MULTIPART_THRESHOLD, SPACES_MAX_KEYS,
 * SPACES_CONTENT_TYPE.  Errors go to stderr as one line; the exit status
 * is 1.  On success, a line on stderr says how many parts and retries.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "extern.h"

static long
env_num(const char *name)
{
	const char	*v = getenv(name);

	return v != NULL ? strtol(v, NULL, 10) : 0;
}

static int
print_entry(const struct spaces_object *o, void *arg)
{
	if (o->is_prefix)
		printf("PRE\t%s\n", o->key);
	else
		printf("%" PRIu64 "\t%s\n", o->size, o->key);
	return 0;
}

static int
usage(void)
{
	fprintf(stderr, "usage: spaces-tool "
	    "mb|put|putbuf|get|getbuf|head|delete|list|uploads|putmany|putlist "
	    "ARGS\n");
	return 2;
}

/* Read a whole file into memory. */
static char *
slurp(const char *path, size_t *len)
{
	FILE	*f = fopen(path, "rb");
	char	*buf = NULL;
	long	 n;

	if (f == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 &&
	    fseek(f, 0, SEEK_SET) == 0 &&
	    (buf = malloc((size_t)n + 1)) != NULL &&
	    fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	} else if (buf != NULL)
		*len = (size_t)n;
	fclose(f);
	return buf;
}

/* Upload BUCKET<TAB>KEY<TAB>FILE lines from stdin. */
static int
put_list(struct spaces *s)
{
	char	*line = NULL, *key, *path;
	size_t	 cap = 0;
	ssize_t	 n;
	int	 rc = 0;

	while (rc == 0 && (n = getline(&line, &cap, stdin)) > 0) {
		if (line[n - 1] == '\n')
			line[n - 1] = '\0';
		if ((key = strchr(line, '\t')) == NULL ||
		    (path = strchr(key + 1, '\t')) == NULL) {
			snprintf(s->err, sizeof(s->err),
			    "putlist: bad line '%.80s'", line);
			rc = -1;
			break;
		}
		*key++ = '\0';
		*path++ = '\0';
		rc = spaces_put_file(s, line, key, path, NULL);
	}
	free(line);
	return rc;
}

static int
print_upload(const char *key, const char *upload_id, void *arg)
{
	(void)arg;
	printf("%s\t%s\n", key, upload_id);
	return 0;
}

static int
run(struct spaces *s, int argc, char **argv)
{
	const char	*cmd = argv[1], *ctype = getenv("SPACES_CONTENT_TYPE");
	char		 etag[128], type[128], *data;
	uint64_t	 size;
	size_t		 len;
	int		 rc;

	if (strcmp(cmd, "mb") == 0 && argc == 3)
		return spaces_create_bucket(s, argv[2]);
	if (strcmp(cmd, "put") == 0 && argc == 5)
		return spaces_put_file(s, argv[2], argv[3], argv[4], ctype);
	if (strcmp(cmd, "putbuf") == 0 && argc == 5) {
		if ((data = slurp(argv[4], &len)) == NULL) {
			snprintf(s->err, sizeof(s->err), "%s: cannot read",
			    argv[4]);
			return -1;
		}
		rc = spaces_put(s, argv[2], argv[3], data, len, ctype);
		free(data);
		return rc;
	}
	if (strcmp(cmd, "get") == 0 && argc == 5)
		return spaces_get_file(s, argv[2], argv[3], argv[4]);
	if (strcmp(cmd, "getbuf") == 0 && argc == 4) {
		if (spaces_get(s, argv[2], argv[3], 64u << 20, &data,
		    &len) == -1)
			return -1;
		fwrite(data, 1, len, stdout);
		free(data);
		return 0;
	}
	if (strcmp(cmd, "head") == 0 && argc == 4) {
		if (spaces_head(s, argv[2], argv[3], &size, etag, sizeof(etag),
		    type, sizeof(type)) == -1)
			return -1;
		printf("%" PRIu64 "\t%s\t%s\n", size, etag, type);
		return 0;
	}
	if (strcmp(cmd, "delete") == 0 && argc == 4)
		return spaces_delete(s, argv[2], argv[3]);
	if (strcmp(cmd, "putmany") == 0 && argc == 5) {
		char	 key[SPACES_MAX_KEY + 1];
		long	 n = strtol(argv[4], NULL, 10);

		for (long i = 0; i < n; i++) {
			snprintf(key, sizeof(key), "%s%05ld", argv[3], i);
			if (spaces_put(s, argv[2], key, "abcdefg",
			    (size_t)(i % 7), NULL) == -1)
				return -1;
		}
		return 0;
	}
	if (strcmp(cmd, "putlist") == 0 && argc == 2)
		return put_list(s);
	if (strcmp(cmd, "uploads") == 0 && argc == 4)
		return spaces_uploads(s, argv[2], argv[3], print_upload,
		    NULL) == -1 ? -1 : 0;
	if (strcmp(cmd, "list") == 0 && (argc == 4 || argc == 5))
		return spaces_list(s, argv[2], argv[3],
		    argc == 5 ? argv[4] : NULL,
		    (int)env_num("SPACES_MAX_KEYS"), print_entry, NULL);
	return -2;
}

int
main(int argc, char **argv)
{
	struct spaces_opts	 o = { 0 };
	struct spaces		 s;
	char			 err[512];
	const char		*vh = getenv("SPACES_VIRTUAL_HOST");
	int			 rc;

	if (argc < 2)
		return usage();
	o.endpoint = getenv("SPACES_ENDPOINT");
	o.region = getenv("SPACES_REGION");
	o.key = getenv("SPACES_KEY");
	o.secret = getenv("SPACES_SECRET");
	o.path_style = vh == NULL || strcmp(vh, "1") != 0;
	o.connect_timeout_ms = env_num("SPACES_CONNECT_TIMEOUT_MS");
	o.timeout_ms = env_num("SPACES_TIMEOUT_MS");
	o.attempts = (int)env_num("SPACES_ATTEMPTS");
	o.part_size = (uint64_t)env_num("SPACES_PART_SIZE");
	o.multipart_threshold = (uint64_t)env_num("SPACES_MULTIPART_THRESHOLD");
	if (spaces_open(&s, &o, err, sizeof(err)) == -1) {
		fprintf(stderr, "spaces-tool: %s\n", err);
		return 1;
	}
	rc = run(&s, argc, argv);
	if (rc == -2) {
		spaces_close(&s);
		return usage();
	}
	if (rc == -1)
		fprintf(stderr, "spaces-tool: %s\n", s.err);
	else
		fprintf(stderr,
		    "spaces-tool: ok region=%s parts=%u retries=%u\n",
		    s.region, s.nparts, s.nretries);
	fflush(stdout);
	spaces_close(&s);
	return rc == -1 ? 1 : 0;
}
