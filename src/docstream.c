/*
 * docstream.c: read a backup file one JSON document at a time.
 *
 * A collection file in AC's backup is either one JSON array of documents
 * or NDJSON (one document per line); which one is not known in advance, so
 * the first significant byte decides ('[' or '{').  libbson's
 * bson_json_reader cannot be used for the array form: it returns a
 * top-level array as a single document keyed "0", "1", ..., i.e. the whole
 * file in memory.  Instead this file finds where each document begins and
 * ends (tracking strings, escapes and brace depth, nothing more) and hands
 * out that byte range; bson_init_from_json() parses it, canonical or
 * relaxed Extended JSON alike.
 *
 * Memory is one read buffer plus the largest single document, never the
 * file: MongoDB documents are at most 16 MiB, and a "document" larger than
 * that is reported as an error rather than read on.
 *
 * Every error names the file, the document's index, its line and byte
 * offset, and what was expected there.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "extern.h"

#define	DOCSTREAM_READ		(256u << 10)	/* bytes per read(2) */
/* The longest JSON text of one document. */
#define	DOCSTREAM_MAX_DOC	((16u << 20) + (1u << 20))

static void docstream_fail(struct docstream *, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
docstream_fail(struct docstream *ds, const char *fmt, ...)
{
	char	 what[256];
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	snprintf(ds->err, sizeof(ds->err), "%s: document %zu (line %llu, "
	    "byte %llu): %s", ds->path, ds->index + 1,
	    (unsigned long long)ds->line,
	    (unsigned long long)ds->offset, what);
	ds->state = DOCSTREAM_FAILED;
}

int
docstream_open(struct docstream *ds, const char *path)
{
	memset(ds, 0, sizeof(*ds));
	ds->path = path;
	ds->line = 1;
	if ((ds->f = fopen(path, "rb")) == NULL) {
		snprintf(ds->err, sizeof(ds->err), "%s: %s", path,
		    strerror(errno));
		ds->state = DOCSTREAM_FAILED;
		return -1;
	}
	if ((ds->buf = malloc(DOCSTREAM_READ)) == NULL) {
		snprintf(ds->err, sizeof(ds->err), "%s: out of memory", path);
		ds->state = DOCSTREAM_FAILED;
		return -1;
	}
	ds->state = DOCSTREAM_START;
	return 0;
}

void
docstream_close(struct docstream *ds)
{
	if (ds->f != NULL)
		fclose(ds->f);
	free(ds->buf);
	free(ds->doc);
	ds->f = NULL;
	ds->buf = ds->doc = NULL;
}

/* The next byte, or -1 at end of file (-2 on a read error). */
static int
docstream_getc(struct docstream *ds)
{
	int	 c;

	if (ds->pos == ds->len) {
		ds->len = fread(ds->buf, 1, DOCSTREAM_READ, ds->f);
		ds->pos = 0;
		if (ds->len == 0)
			return ferror(ds->f) ? -2 : -1;
	}
	c = (unsigned char)ds->buf[ds->pos++];
	ds->offset++;
	if (c == '\n')
		ds->line++;
	return c;
}

/* Skip whitespace; return the first other byte (consumed), or -1/-2. */
static int
docstream_skip_space(struct docstream *ds)
{
	int	 c;

	do
		c = docstream_getc(ds);
	while (c == ' ' || c == '\t' || c == '\n' || c == '\r');
	return c;
}

static int
docstream_push(struct docstream *ds, int c)
{
	if (ds->doclen == ds->doccap) {
		size_t	 cap = ds->doccap ? ds->doccap * 2 : 4096;
		char	*grown;

		if (ds->doccap >= DOCSTREAM_MAX_DOC) {
			docstream_fail(ds, "document larger than %u MiB",
			    DOCSTREAM_MAX_DOC >> 20);
			return -1;
		}
		if ((grown = realloc(ds->doc, cap + 1)) == NULL) {
			docstream_fail(ds, "out of memory");
			return -1;
		}
		ds->doc = grown;
		ds->doccap = cap;
	}
	ds->doc[ds->doclen++] = (char)c;
	return 0;
}

/* Copy one object, whose '{' was just read, into ds->doc. */
static int
docstream_object(struct docstream *ds)
{
	unsigned	 depth = 1;
	bool		 in_string = false, escaped = false;
	int		 c;

	ds->doclen = 0;
	if (docstream_push(ds, '{') == -1)
		return -1;
	while (depth > 0) {
		if ((c = docstream_getc(ds)) < 0) {
			if (c == -2)
				docstream_fail(ds, "read error: %s",
				    strerror(errno));
			else
				docstream_fail(ds, "the file ends inside the "
				    "document that starts at line %llu",
				    (unsigned long long)ds->doc_line);
			return -1;
		}
		if (docstream_push(ds, c) == -1)
			return -1;
		if (in_string) {
			if (escaped)
				escaped = false;
			else if (c == '\\')
				escaped = true;
			else if (c == '"')
				in_string = false;
		} else if (c == '"')
			in_string = true;
		else if (c == '{' || c == '[')
			depth++;
		else if (c == '}' || c == ']')
			depth--;
	}
	ds->doc[ds->doclen] = '\0';
	return 0;
}

/* Describe byte c for an error message. */
static const char *
docstream_byte_name(int c, char *buf, size_t bufsz)
{
	if (c == -1)
		snprintf(buf, bufsz, "the end of the file");
	else if (c >= 0x20 && c < 0x7f)
		snprintf(buf, bufsz, "'%c'", c);
	else
		snprintf(buf, bufsz, "byte 0x%02x", c);
	return buf;
}

/*
 * Find the next document.  Returns 1 with *doc and *len set (valid until the
 * next call), 0 at the end, -1 on an error (ds->err).
 */
int
docstream_next(struct docstream *ds, const char **doc, size_t *len)
{
	char	 name[32];
	int	 c;

	for (;;) {
		switch (ds->state) {
		case DOCSTREAM_START:
			c = docstream_skip_space(ds);
			if (c == -1) {
				ds->state = DOCSTREAM_END;	/* empty file */
				return 0;
			}
			if (c == '[') {
				ds->layout = DOCSTREAM_ARRAY;
				ds->state = DOCSTREAM_ARRAY_FIRST;
				continue;
			}
			if (c == '{') {
				ds->layout = DOCSTREAM_NDJSON;
				ds->state = DOCSTREAM_NDJSON_NEXT;
				goto object;
			}
			docstream_fail(ds, "expected '[' (a JSON array) or "
			    "'{' (NDJSON) at the start of the file, found %s",
			    docstream_byte_name(c, name, sizeof(name)));
			return -1;
		case DOCSTREAM_ARRAY_FIRST:
			c = docstream_skip_space(ds);
			if (c == ']') {
				ds->state = DOCSTREAM_TRAILER;
				continue;
			}
			if (c == '{') {
				ds->state = DOCSTREAM_ARRAY_AFTER;
				goto object;
			}
			docstream_fail(ds, "expected a document ('{') or "
			    "']', found %s",
			    docstream_byte_name(c, name, sizeof(name)));
			return -1;
		case DOCSTREAM_ARRAY_AFTER:
			c = docstream_skip_space(ds);
			if (c == ']') {
				ds->state = DOCSTREAM_TRAILER;
				continue;
			}
			if (c != ',') {
				docstream_fail(ds, "expected ',' or ']' after "
				    "a document, found %s",
				    docstream_byte_name(c, name, sizeof(name)));
				return -1;
			}
			if ((c = docstream_skip_space(ds)) != '{') {
				docstream_fail(ds, "expected a document ('{') "
				    "after ',', found %s",
				    docstream_byte_name(c, name, sizeof(name)));
				return -1;
			}
			goto object;
		case DOCSTREAM_NDJSON_NEXT:
			c = docstream_skip_space(ds);
			if (c == -1) {
				ds->state = DOCSTREAM_END;
				return 0;
			}
			if (c == '{')
				goto object;
			docstream_fail(ds, "expected a document ('{') on a "
			    "new line, found %s",
			    docstream_byte_name(c, name, sizeof(name)));
			return -1;
		case DOCSTREAM_TRAILER:
			if ((c = docstream_skip_space(ds)) == -1) {
				ds->state = DOCSTREAM_END;
				return 0;
			}
			docstream_fail(ds, "text after the array's closing "
			    "']': %s",
			    docstream_byte_name(c, name, sizeof(name)));
			return -1;
		case DOCSTREAM_END:
			return 0;
		case DOCSTREAM_FAILED:
			return -1;
		}
	}
object:
	ds->doc_offset = ds->offset - 1;
	ds->doc_line = ds->line;
	if (docstream_object(ds) == -1)
		return -1;
	ds->index++;
	*doc = ds->doc;
	*len = ds->doclen;
	return 1;
}
