/*
 * query.c: strict parsing of the query string.
 *
 * A query string is untrusted input that lands in database filters, so it
 * is parsed strictly rather than forgivingly: a broken percent-escape, an
 * encoded NUL, bytes that are not UTF-8, an empty pair, a repeated key or
 * too many pairs are each a 400 naming the problem, never a silent guess.
 * Which keys a route accepts is the router's business (route->params); this
 * file only turns text into unique, decoded key/value pairs.
 *
 * "UTF-8" means libbson's bson_utf8_validate with NUL refused: shortest
 * form only, no surrogates, nothing above U+10FFFF, no cut-off sequence,
 * and no NUL in any spelling (not even the two-byte C0 80).  The values
 * end up in BSON filters, so the database driver's own definition is the
 * one that matters.  The decoder itself stays hand-written: the library
 * unescapers (curl_easy_unescape) accept "%zz", and this one must refuse it.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bson/bson.h>

#include "silo.h"

static int
query_hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Percent-decode in[0..len).  Returns a new NUL-terminated string, or NULL
 * when an escape is broken, decodes to NUL, or the result is not UTF-8.
 */
char *
query_decode(const char *in, size_t len, bool plus_is_space)
{
	char	*out, *o;

	if ((out = malloc(len + 1)) == NULL)
		return NULL;
	o = out;
	for (size_t i = 0; i < len; i++) {
		if (in[i] == '%') {
			int	 hi, lo;

			if (i + 2 >= len)
				goto bad;
			if ((hi = query_hex_value(in[i + 1])) < 0 ||
			    (lo = query_hex_value(in[i + 2])) < 0)
				goto bad;
			if (hi == 0 && lo == 0)
				goto bad;
			*o++ = (char)(hi << 4 | lo);
			i += 2;
		} else if (in[i] == '+' && plus_is_space)
			*o++ = ' ';
		else if (in[i] == '\0')
			goto bad;
		else
			*o++ = in[i];
	}
	*o = '\0';
	if (!bson_utf8_validate(out, (size_t)(o - out), false))
		goto bad;
	return out;
bad:
	free(out);
	return NULL;
}

/*
 * text as a whole number from min to max: decimal digits only, so no
 * sign, blank, suffix or base prefix, and nothing that overflows.
 * Returns 0 with *out set, or -1 and the caller names the parameter.
 */
int
query_int(const char *text, long min, long max, long *out)
{
	char	*end;
	long	 n;

	if (*text < '0' || *text > '9')
		return -1;
	errno = 0;
	n = strtol(text, &end, 10);
	if (*end != '\0' || errno != 0 || n < min || n > max)
		return -1;
	*out = n;
	return 0;
}

void
query_free(struct query *q)
{
	for (size_t i = 0; i < q->nparams; i++) {
		free(q->params[i].key);
		free(q->params[i].value);
	}
	q->nparams = 0;
}

const char *
query_get(const struct query *q, const char *key)
{
	for (size_t i = 0; i < q->nparams; i++)
		if (strcmp(q->params[i].key, key) == 0)
			return q->params[i].value;
	return NULL;
}

/*
 * Parse qs ("a=1&b=two") into q.  On error returns -1 with a one-line
 * reason in err and q empty.
 */
int
query_parse(const char *qs, struct query *q, char *err, size_t errsz)
{
	const char	*p = qs;

	q->nparams = 0;
	if (qs == NULL || *qs == '\0')
		return 0;
	for (;;) {
		size_t		 pairlen = strcspn(p, "&");
		const char	*eq = memchr(p, '=', pairlen);
		size_t		 keylen = eq != NULL ?
		    (size_t)(eq - p) : pairlen;
		char		*key, *value;

		if (keylen == 0) {
			snprintf(err, errsz,
			    "query: empty parameter name at offset %zu",
			    (size_t)(p - qs));
			goto fail;
		}
		if (q->nparams == QUERY_MAX_PARAMS) {
			snprintf(err, errsz, "query: more than %d parameters",
			    QUERY_MAX_PARAMS);
			goto fail;
		}
		if ((key = query_decode(p, keylen, true)) == NULL) {
			snprintf(err, errsz, "query: invalid encoding in "
			    "parameter name at offset %zu", (size_t)(p - qs));
			goto fail;
		}
		value = eq != NULL ?
		    query_decode(eq + 1, pairlen - keylen - 1, true) :
		    strdup("");
		if (value == NULL) {
			snprintf(err, errsz,
			    "query: invalid encoding in value of '%.64s'", key);
			free(key);
			goto fail;
		}
		if (query_get(q, key) != NULL) {
			snprintf(err, errsz,
			    "query: parameter '%.64s' given more than once",
			    key);
			free(key);
			free(value);
			goto fail;
		}
		q->params[q->nparams].key = key;
		q->params[q->nparams].value = value;
		q->nparams++;
		if (p[pairlen] == '\0')
			return 0;
		p += pairlen + 1;
	}
fail:
	query_free(q);
	return -1;
}
