/*
 * spaces.c: a small S3 client for DigitalOcean Spaces (and MinIO).
 *
 * One client owns one curl easy handle and makes one request at a time:
 * silo's workers and jobs are single-threaded, and a reused handle keeps
 * its connection alive between requests.  The handle is reset before each
 * request, so no option of one request leaks into the next.  The endpoint
 * is parsed once, by curl's own URL parser (config_url_parse), into the
 * scheme and host[:port] every request URL is built from.
 *
 * Signing is curl's CURLOPT_AWS_SIGV4, which (as of curl 7.88) leaves three
 * things to the caller, each of which MinIO checks strictly:
 *   - the x-amz-content-sha256 header.  curl signs whatever value it is
 *     given, so every request carries the SHA-256 of its payload (the empty
 *     string's for GET, HEAD and DELETE; a file region is hashed before it
 *     is sent);
 *   - the query string, which curl signs exactly as given: it is built here
 *     sorted by name and RFC 3986-encoded, and a bare name is sent as
 *     "name=" (MinIO rejects "?uploads" signed as curl signs it);
 *   - the path, also signed as given: keys are encoded here segment by
 *     segment with curl_easy_escape (only A-Za-z0-9-_.~ stay), so
 *     unicode, spaces and '+' work, and CURLOPT_PATH_AS_IS stops curl
 *     from folding "a/../b".
 * No header is ever removed with an empty "Name:" line: curl signs the
 * empty header and does not send it.
 *
 * Listing streams: a ListObjectsV2 page is fed to expat as curl receives
 * it and each <Contents> goes to the caller's callback at its end tag, so
 * memory is one entry whatever the bucket's size.  Pages follow
 * NextContinuationToken until IsTruncated is false.
 *
 * Errors take one path, spaces_perform(): a non-2xx answer's body is kept
 * (bounded) and turned into one line naming the operation, bucket, key,
 * HTTP status, S3 code and message; a transport failure names curl's
 * error.  Transport errors, 5xx and SlowDown are retried with jittered
 * exponential backoff, a bounded number of times; other 4xx are not.  An
 * answer that should be XML and is not well-formed is an error too:
 * nothing is taken for an empty listing.
 *
 * Files larger than a threshold are uploaded in parts (S3's single PUT
 * stops at 5 GiB, and a part can be retried alone); a failed multipart
 * upload is aborted so that its parts do not linger, billed, in the bucket.
 *
 * Streams.  A backup is uploaded as it is produced, with no temp file:
 * spaces_upload_new() starts a multipart upload and spaces_upload_sink()
 * is a struct sink that fills one part in memory, sends it when full,
 * sends the short last part and completes the upload on finish(), and
 * aborts the upload on abort() or when a part fails, so that no object
 * appears and no part is left.  Memory is one part.  spaces_get_stream()
 * hands a GET's body to a sink as curl receives it; a failure before the
 * first byte is retried like any request, one after it is final, since
 * what went downstream cannot be taken back.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "extern.h"

#define	SPACES_ERRBODY_MAX	(64u << 10)	/* error body bytes kept */
#define	SPACES_SMALL_MAX	(1u << 20)	/* XML answers we keep whole */
#define	SPACES_BACKOFF_MS	250		/* first retry's delay */
#define	SPACES_BACKOFF_MAX_MS	8000		/* longest delay */
#define	SPACES_HASH_CHUNK	(1u << 20)	/* bytes per read to hash */
#define	SPACES_EMPTY_SHA256 \
	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

/* ------------------------------------------------------------------ */
/* Pure helpers: region, encoding, queries                             */
/* ------------------------------------------------------------------ */

/* The signing region of an endpoint host: see spaces_region(). */
static void
spaces_region_of_host(const char *host, const char *given, char *out,
    size_t outsz)
{
	static const char	 suffix[] = ".digitaloceanspaces.com";
	size_t			 n = strlen(host), slen = sizeof(suffix) - 1;

	if (n > slen && strcasecmp(host + n - slen, suffix) == 0) {
		size_t	 label = strcspn(host, ".");

		if (label < outsz) {
			memcpy(out, host, label);
			out[label] = '\0';
			return;
		}
	}
	snprintf(out, outsz, "%s", given != NULL && *given != '\0' ?
	    given : "us-east-1");
}

/*
 * The signing region: "<region>" for a DigitalOcean endpoint
 * (<region>.digitaloceanspaces.com), else the one given, else us-east-1.
 */
void
spaces_region(const char *endpoint, const char *given, char *out,
    size_t outsz)
{
	struct config_url	 u;
	char			 why[128];

	if (endpoint == NULL ||
	    config_url_parse(endpoint, &u, why, sizeof(why)) == -1)
		u.host[0] = '\0';
	spaces_region_of_host(u.host, given, out, outsz);
}

/*
 * RFC 3986 percent-encoding: only A-Za-z0-9-_.~ (and '/' if keep_slash)
 * stay as they are, every other byte becomes %XX in upper case, which is
 * what curl_easy_escape does, one path segment at a time.  NULL when out
 * of memory.
 */
char *
spaces_encode(const char *s, bool keep_slash)
{
	char	*out, *o;

	if ((out = malloc(strlen(s) * 3 + 1)) == NULL)
		return NULL;
	for (o = out;; s++) {
		size_t	 n = keep_slash ? strcspn(s, "/") : strlen(s);
		char	*seg;

		/* Length 0 would make curl take strlen(s): skip empties. */
		if (n > 0) {
			if (n > INT_MAX ||
			    (seg = curl_easy_escape(NULL, s, (int)n)) == NULL) {
				free(out);
				return NULL;
			}
			o = stpcpy(o, seg);
			curl_free(seg);
			s += n;
		}
		if (*s == '\0')
			break;
		*o++ = '/';
	}
	*o = '\0';
	return out;
}

/* One encoded pair, for sorting. */
struct spaces_qpair {
	char	*name, *value;
};

static int
spaces_qpair_cmp(const void *a, const void *b)
{
	const struct spaces_qpair	*x = a, *y = b;
	int				 c = strcmp(x->name, y->name);

	return c != 0 ? c : strcmp(x->value, y->value);
}

/*
 * The canonical query string SigV4 wants and curl signs as given: pairs
 * encoded, sorted by encoded name (then value), each "name=value", even
 * with an empty value.  "" for none; NULL when out of memory.
 */
char *
spaces_query(const struct spaces_param *params, size_t n)
{
	struct spaces_qpair	*pairs;
	char			*out = NULL;
	size_t			 len = 1, i;

	if ((pairs = calloc(n + 1, sizeof(*pairs))) == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		pairs[i].name = spaces_encode(params[i].name, false);
		pairs[i].value = spaces_encode(params[i].value != NULL ?
		    params[i].value : "", false);
		if (pairs[i].name == NULL || pairs[i].value == NULL)
			goto done;
		len += strlen(pairs[i].name) + strlen(pairs[i].value) + 2;
	}
	qsort(pairs, n, sizeof(*pairs), spaces_qpair_cmp);
	if ((out = malloc(len)) == NULL)
		goto done;
	out[0] = '\0';
	for (i = 0; i < n; i++) {
		if (i > 0)
			strcat(out, "&");
		strcat(out, pairs[i].name);
		strcat(out, "=");
		strcat(out, pairs[i].value);
	}
done:
	for (i = 0; i < n; i++) {
		free(pairs[i].name);
		free(pairs[i].value);
	}
	free(pairs);
	return out;
}

/* ------------------------------------------------------------------ */
/* Small XML answers: a root and some of its children's text           */
/* ------------------------------------------------------------------ */

#define	SPACES_XML_FIELDS	6

/* What spaces_xml_fields() collects. */
struct spaces_xml {
	const char	*names[SPACES_XML_FIELDS]; /* children wanted */
	char		 values[SPACES_XML_FIELDS][1024]; /* their text */
	size_t		 lens[SPACES_XML_FIELDS]; /* its length */
	char		 root[64];	/* the root element's name */
	int		 depth;		/* current depth, root 1 */
	int		 cur;		/* child being collected, -1 none */
};

/* Element names without a namespace prefix, if expat was given one. */
static const char *
spaces_local_name(const XML_Char *name)
{
	const char	*colon = strrchr(name, ':');

	return colon != NULL ? colon + 1 : name;
}

static void XMLCALL
spaces_xml_start(void *arg, const XML_Char *name, const XML_Char **attrs)
{
	struct spaces_xml	*x = arg;

	name = spaces_local_name(name);
	if (++x->depth == 1)
		snprintf(x->root, sizeof(x->root), "%s", name);
	x->cur = -1;
	if (x->depth != 2)
		return;
	for (int i = 0; i < SPACES_XML_FIELDS && x->names[i] != NULL; i++)
		if (strcmp(name, x->names[i]) == 0) {
			x->cur = i;
			x->lens[i] = 0;
		}
}

static void XMLCALL
spaces_xml_end(void *arg, const XML_Char *name)
{
	struct spaces_xml	*x = arg;

	x->depth--;
	x->cur = -1;
}

static void XMLCALL
spaces_xml_text(void *arg, const XML_Char *s, int len)
{
	struct spaces_xml	*x = arg;
	size_t			 room;

	if (x->cur < 0)
		return;
	room = sizeof(x->values[0]) - 1 - x->lens[x->cur];
	if ((size_t)len > room)
		len = (int)room;
	memcpy(x->values[x->cur] + x->lens[x->cur], s, (size_t)len);
	x->lens[x->cur] += (size_t)len;
	x->values[x->cur][x->lens[x->cur]] = '\0';
}

/* Parse a whole small XML document.  0, or -1 with why set. */
static int
spaces_xml_fields(struct spaces_xml *x, const char *body, size_t len,
    char *why, size_t whysz)
{
	XML_Parser	 p;
	int		 rc = 0;

	x->root[0] = '\0';
	x->depth = 0;
	x->cur = -1;
	for (int i = 0; i < SPACES_XML_FIELDS; i++) {
		x->values[i][0] = '\0';
		x->lens[i] = 0;
	}
	if ((p = XML_ParserCreate("UTF-8")) == NULL) {
		snprintf(why, whysz, "out of memory");
		return -1;
	}
	XML_SetUserData(p, x);
	XML_SetElementHandler(p, spaces_xml_start, spaces_xml_end);
	XML_SetCharacterDataHandler(p, spaces_xml_text);
	if (len > INT32_MAX ||
	    XML_Parse(p, body, (int)len, 1) != XML_STATUS_OK) {
		snprintf(why, whysz, "%s at line %lu",
		    XML_ErrorString(XML_GetErrorCode(p)),
		    (unsigned long)XML_GetCurrentLineNumber(p));
		rc = -1;
	}
	XML_ParserFree(p);
	return rc;
}

/* Copy s into out on one line: control characters become spaces. */
static void
spaces_one_line(char *out, size_t outsz, const char *s, size_t len)
{
	size_t	 i;

	for (i = 0; i < len && i + 1 < outsz; i++)
		out[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ?
		    ' ' : s[i];
	out[i] = '\0';
}

/* What a message names: "bucket/key", or "bucket" when there is no key. */
static void
spaces_name(char *out, size_t outsz, const char *bucket, const char *key)
{
	snprintf(out, outsz, "%s%s%s", bucket != NULL ? bucket : "",
	    key != NULL && *key != '\0' ? "/" : "", key != NULL ? key : "");
}

/*
 * The one-line error for a failed answer: "OP bucket/key: STATUS CODE:
 * message".  A body that is no S3 error (or none: HEAD) is described by
 * its status and first bytes.  code gets the S3 code, or "".
 */
void
spaces_format_error(char *out, size_t outsz, const char *op,
    const char *bucket, const char *key, long status, const char *body,
    size_t len, char *code, size_t codesz)
{
	struct spaces_xml	 x = { .names = { "Code", "Message" } };
	char			 what[2048], why[128], start[96];

	spaces_name(what, sizeof(what), bucket, key);
	if (code != NULL && codesz > 0)
		code[0] = '\0';
	if (len == 0) {
		const char	*reason = status == 404 ? "NotFound" :
				    status == 403 ? "Forbidden" :
				    status == 400 ? "BadRequest" :
				    status == 301 ? "MovedPermanently" :
				    "no body";

		if (code != NULL && codesz > 0 && status != 0)
			snprintf(code, codesz, "%s", reason);
		snprintf(out, outsz, "%s %s: %ld %s", op, what, status, reason);
		return;
	}
	if (spaces_xml_fields(&x, body, len, why, sizeof(why)) == -1 ||
	    strcmp(x.root, "Error") != 0 || x.values[0][0] == '\0') {
		spaces_one_line(start, sizeof(start), body, len);
		snprintf(out, outsz, "%s %s: %ld, and the answer is not "
		    "an S3 error: %s", op, what, status, start);
		return;
	}
	if (code != NULL && codesz > 0)
		spaces_one_line(code, codesz, x.values[0], x.lens[0]);
	spaces_one_line(x.values[1], sizeof(x.values[1]), x.values[1],
	    x.lens[1]);
	spaces_one_line(x.values[0], sizeof(x.values[0]), x.values[0],
	    x.lens[0]);
	if (x.values[1][0] != '\0')
		snprintf(out, outsz, "%s %s: %ld %s: %s", op, what, status,
		    x.values[0], x.values[1]);
	else
		snprintf(out, outsz, "%s %s: %ld %s", op, what, status,
		    x.values[0]);
}

/* ------------------------------------------------------------------ */
/* ListObjectsV2, parsed as it arrives                                 */
/* ------------------------------------------------------------------ */

/* The element whose text is being collected. */
enum spaces_field {
	FIELD_NONE,
	FIELD_KEY,		/* Contents/Key or CommonPrefixes/Prefix */
	FIELD_SIZE,		/* Contents/Size */
	FIELD_ETAG,		/* Contents/ETag */
	FIELD_MODIFIED,		/* Contents/LastModified */
	FIELD_TRUNCATED,	/* IsTruncated */
	FIELD_TOKEN		/* NextContinuationToken */
};

static void
spaces_lp_fail(struct spaces_listparse *lp, const char *why)
{
	if (!lp->failed)
		snprintf(lp->err, sizeof(lp->err), "%s", why);
	lp->failed = true;
	XML_StopParser(lp->parser, XML_FALSE);
}

static void XMLCALL
spaces_lp_start(void *arg, const XML_Char *name, const XML_Char **attrs)
{
	struct spaces_listparse	*lp = arg;

	name = spaces_local_name(name);
	lp->depth++;
	lp->field = FIELD_NONE;
	lp->textlen = 0;
	if (lp->depth == 1) {
		if (strcmp(name, "ListBucketResult") != 0)
			spaces_lp_fail(lp,
			    "the root element is not ListBucketResult");
		else
			lp->root_ok = true;
	} else if (lp->depth == 2) {
		if (strcmp(name, "Contents") == 0 ||
		    strcmp(name, "CommonPrefixes") == 0) {
			lp->in_entry = true;
			lp->entry_is_prefix =
			    strcmp(name, "CommonPrefixes") == 0;
			lp->key[0] = lp->etag[0] = lp->last_modified[0] = '\0';
			lp->size = 0;
		} else if (strcmp(name, "IsTruncated") == 0)
			lp->field = FIELD_TRUNCATED;
		else if (strcmp(name, "NextContinuationToken") == 0)
			lp->field = FIELD_TOKEN;
	} else if (lp->depth == 3 && lp->in_entry) {
		if (strcmp(name, "Key") == 0 || strcmp(name, "Prefix") == 0)
			lp->field = FIELD_KEY;
		else if (strcmp(name, "Size") == 0)
			lp->field = FIELD_SIZE;
		else if (strcmp(name, "ETag") == 0)
			lp->field = FIELD_ETAG;
		else if (strcmp(name, "LastModified") == 0)
			lp->field = FIELD_MODIFIED;
	}
}

/* Copy the collected text into an entry field that must hold it. */
static void
spaces_lp_take(struct spaces_listparse *lp, char *dst, size_t dstsz,
    const char *what)
{
	char	 why[96];

	if (lp->textlen >= dstsz) {
		snprintf(why, sizeof(why), "%s longer than %zu bytes", what,
		    dstsz - 1);
		spaces_lp_fail(lp, why);
		return;
	}
	memcpy(dst, lp->text, lp->textlen);
	dst[lp->textlen] = '\0';
}

/* Hand a finished entry to the callback, unless an earlier attempt did. */
static void
spaces_lp_entry(struct spaces_listparse *lp)
{
	struct spaces_object	 o = { 0 };
	size_t			 n = strlen(lp->etag);

	if (++lp->seen <= lp->delivered)
		return;
	if (n >= 2 && lp->etag[0] == '"' && lp->etag[n - 1] == '"') {
		memmove(lp->etag, lp->etag + 1, n - 2);
		lp->etag[n - 2] = '\0';
	}
	o.key = lp->key;
	o.size = lp->size;
	o.etag = lp->etag;
	o.last_modified = lp->last_modified;
	o.content_type = "";
	o.is_prefix = lp->entry_is_prefix;
	lp->delivered++;
	if (lp->cb(&o, lp->arg) != 0) {
		lp->stopped = true;
		XML_StopParser(lp->parser, XML_FALSE);
	}
}

static void XMLCALL
spaces_lp_end(void *arg, const XML_Char *name)
{
	struct spaces_listparse	*lp = arg;
	char			*end;

	lp->text[lp->textlen] = '\0';
	switch (lp->field) {
	case FIELD_KEY:
		spaces_lp_take(lp, lp->key, sizeof(lp->key), "a key");
		break;
	case FIELD_ETAG:
		spaces_lp_take(lp, lp->etag, sizeof(lp->etag), "an ETag");
		break;
	case FIELD_MODIFIED:
		spaces_lp_take(lp, lp->last_modified,
		    sizeof(lp->last_modified), "a LastModified");
		break;
	case FIELD_SIZE:
		errno = 0;
		lp->size = strtoull(lp->text, &end, 10);
		if (lp->textlen == 0 || *end != '\0' || errno != 0 ||
		    lp->text[0] == '-')
			spaces_lp_fail(lp, "a Size that is not a number");
		break;
	case FIELD_TRUNCATED:
		lp->truncated = strcmp(lp->text, "true") == 0;
		break;
	case FIELD_TOKEN:
		spaces_lp_take(lp, lp->next_token, sizeof(lp->next_token),
		    "a continuation token");
		break;
	case FIELD_NONE:
		break;
	}
	lp->field = FIELD_NONE;
	lp->textlen = 0;
	if (lp->depth == 2 && lp->in_entry) {
		lp->in_entry = false;
		if (!lp->failed) {
			if (lp->key[0] == '\0')
				spaces_lp_fail(lp, "an entry without a key");
			else
				spaces_lp_entry(lp);
		}
	}
	lp->depth--;
}

static void XMLCALL
spaces_lp_text(void *arg, const XML_Char *s, int len)
{
	struct spaces_listparse	*lp = arg;

	if (lp->field == FIELD_NONE)
		return;
	if (lp->textlen + (size_t)len >= sizeof(lp->text)) {
		spaces_lp_fail(lp, "an element's text is too long");
		return;
	}
	memcpy(lp->text + lp->textlen, s, (size_t)len);
	lp->textlen += (size_t)len;
}

/* A fresh parser for one page (or one attempt at it). */
static int
spaces_lp_parser(struct spaces_listparse *lp)
{
	if ((lp->parser = XML_ParserCreate("UTF-8")) == NULL)
		return -1;
	XML_SetUserData(lp->parser, lp);
	XML_SetElementHandler(lp->parser, spaces_lp_start, spaces_lp_end);
	XML_SetCharacterDataHandler(lp->parser, spaces_lp_text);
	return 0;
}

int
spaces_listparse_init(struct spaces_listparse *lp, spaces_list_cb cb,
    void *arg)
{
	memset(lp, 0, sizeof(*lp));
	lp->cb = cb;
	lp->arg = arg;
	return spaces_lp_parser(lp);
}

/*
 * Start the page again (a retry): a new parser, the page's state cleared,
 * but the count of entries already delivered kept, so that the callback
 * does not see them twice.
 */
void
spaces_listparse_reset(struct spaces_listparse *lp)
{
	spaces_list_cb	 cb = lp->cb;
	void		*arg = lp->arg;
	uint64_t	 delivered = lp->delivered;

	spaces_listparse_free(lp);
	if (spaces_listparse_init(lp, cb, arg) == -1)
		spaces_lp_fail(lp, "out of memory");
	lp->delivered = delivered;
}

/*
 * Feed bytes (final: the last of them).  0 while all is well (or the
 * callback stopped the listing: lp->stopped), -1 with lp->err otherwise.
 */
int
spaces_listparse_feed(struct spaces_listparse *lp, const char *data,
    size_t len, bool final)
{
	char	 why[192];

	if (lp->failed)
		return -1;
	if (lp->stopped)
		return 0;
	if (len > INT32_MAX) {
		spaces_lp_fail(lp, "chunk too large");
		return -1;
	}
	if (XML_Parse(lp->parser, data, (int)len, final) != XML_STATUS_OK) {
		if (lp->stopped)
			return 0;
		if (!lp->failed) {
			snprintf(why, sizeof(why), "%s at line %lu",
			    XML_ErrorString(XML_GetErrorCode(lp->parser)),
			    (unsigned long)
			    XML_GetCurrentLineNumber(lp->parser));
			spaces_lp_fail(lp, why);
		}
		return -1;
	}
	if (final && !lp->root_ok) {
		spaces_lp_fail(lp, "no ListBucketResult");
		return -1;
	}
	return 0;
}

void
spaces_listparse_free(struct spaces_listparse *lp)
{
	if (lp->parser != NULL)
		XML_ParserFree(lp->parser);
	lp->parser = NULL;
}

/* ------------------------------------------------------------------ */
/* Requests                                                            */
/* ------------------------------------------------------------------ */

/* Where an answer's body goes. */
enum spaces_sink {
	SINK_DISCARD,		/* nowhere */
	SINK_BUF,		/* a growing buffer, bounded */
	SINK_FILE,		/* a file */
	SINK_LIST,		/* a ListObjectsV2 parser */
	SINK_STREAM		/* a struct sink, as the bytes arrive */
};

/* One request and what came back. */
struct spaces_req {
	const char	*op;		/* for messages: "GET", "LIST", ... */
	const char	*method;	/* HTTP method */
	const char	*bucket;	/* the bucket */
	const char	*key;		/* the key, or NULL; LIST: the prefix */
	bool		 bucket_url;	/* the URL is the bucket's (LIST) */
	const char	*query;		/* canonical query, or NULL */
	const char	*content_type;	/* request Content-Type, or NULL */
	const char	*body;		/* payload from memory, or NULL */
	int		 fd;		/* payload from a file, or -1 */
	uint64_t	 offset;	/* where in the file */
	uint64_t	 len;		/* payload bytes */
	uint64_t	 sent;		/* of which sent */
	enum spaces_sink sink;		/* where the answer goes */
	FILE		*out;		/* SINK_FILE */
	char		*buf;		/* SINK_BUF: the bytes */
	size_t		 buflen, bufmax; /* SINK_BUF: length, bound */
	struct spaces_listparse *lp;	/* SINK_LIST */
	const struct sink *stream;	/* SINK_STREAM */
	uint64_t	 streamed;	/* SINK_STREAM: bytes given to it */
	char		*errbody;	/* a failed answer's body, bounded */
	size_t		 errlen;	/* its length */
	char		 sink_err[320];	/* why the sink refused bytes */
	long		 status;	/* HTTP status */
	uint64_t	 content_length; /* Content-Length of the answer */
	char		 etag[128];	/* ETag of the answer, unquoted */
	char		 ctype[128];	/* Content-Type of the answer */
	struct spaces	*s;		/* the client */
};

static void spaces_fail(struct spaces *, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
spaces_fail(struct spaces *s, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(s->err, sizeof(s->err), fmt, ap);
	va_end(ap);
}

/* Append to a bounded buffer; false if it would pass max. */
static bool
spaces_append(char **buf, size_t *len, size_t max, const char *p, size_t n)
{
	char	*grown;

	if (n > max - *len)
		return false;
	if ((grown = realloc(*buf, *len + n + 1)) == NULL)
		return false;
	memcpy(grown + *len, p, n);
	*len += n;
	grown[*len] = '\0';
	*buf = grown;
	return true;
}

static size_t
spaces_write_cb(char *p, size_t size, size_t n, void *arg)
{
	struct spaces_req	*r = arg;
	long			 status = 0;
	size_t			 len = size * n;

	curl_easy_getinfo(r->s->curl, CURLINFO_RESPONSE_CODE, &status);
	if (status < 200 || status > 299) {
		/* Keep what fits of an error body; the rest is dropped. */
		size_t	 room = SPACES_ERRBODY_MAX - r->errlen;

		spaces_append(&r->errbody, &r->errlen, SPACES_ERRBODY_MAX, p,
		    len < room ? len : room);
		return len;
	}
	switch (r->sink) {
	case SINK_DISCARD:
		break;
	case SINK_BUF:
		if (!spaces_append(&r->buf, &r->buflen, r->bufmax, p, len)) {
			snprintf(r->sink_err, sizeof(r->sink_err),
			    "the answer is larger than %zu bytes", r->bufmax);
			return 0;
		}
		break;
	case SINK_FILE:
		if (fwrite(p, 1, len, r->out) != len) {
			snprintf(r->sink_err, sizeof(r->sink_err),
			    "writing: %s", strerror(errno));
			return 0;
		}
		break;
	case SINK_STREAM:
		if (r->stream->write(r->stream->ctx, p, len, r->sink_err,
		    sizeof(r->sink_err)) == -1) {
			if (r->sink_err[0] == '\0')
				snprintf(r->sink_err, sizeof(r->sink_err),
				    "the stream refused the bytes");
			return 0;
		}
		r->streamed += len;
		break;
	case SINK_LIST:
		if (spaces_listparse_feed(r->lp, p, len, false) == -1) {
			snprintf(r->sink_err, sizeof(r->sink_err),
			    "malformed ListObjectsV2 answer: %s", r->lp->err);
			return 0;
		}
		if (r->lp->stopped)
			return 0;
		break;
	}
	return len;
}

/* Does header line h (of length n) start with name ("etag:")? */
static const char *
spaces_header_value(const char *h, size_t n, const char *name, size_t *vlen)
{
	size_t	 nl = strlen(name);

	if (n < nl || strncasecmp(h, name, nl) != 0)
		return NULL;
	h += nl;
	n -= nl;
	while (n > 0 && (*h == ' ' || *h == '\t'))
		h++, n--;
	while (n > 0 && (h[n - 1] == '\r' || h[n - 1] == '\n' ||
	    h[n - 1] == ' '))
		n--;
	*vlen = n;
	return h;
}

static void
spaces_copy_value(char *dst, size_t dstsz, const char *v, size_t n,
    bool unquote)
{
	if (unquote && n >= 2 && v[0] == '"' && v[n - 1] == '"') {
		v++;
		n -= 2;
	}
	if (n >= dstsz)
		n = dstsz - 1;
	memcpy(dst, v, n);
	dst[n] = '\0';
}

static size_t
spaces_header_cb(char *h, size_t size, size_t n, void *arg)
{
	struct spaces_req	*r = arg;
	size_t			 len = size * n, vlen;
	const char		*v;

	if (len >= 5 && strncmp(h, "HTTP/", 5) == 0) {
		/* A new answer (after 100 Continue): forget the last's. */
		r->etag[0] = r->ctype[0] = '\0';
		r->content_length = 0;
	} else if ((v = spaces_header_value(h, len, "etag:", &vlen)) != NULL)
		spaces_copy_value(r->etag, sizeof(r->etag), v, vlen, true);
	else if ((v = spaces_header_value(h, len, "content-type:",
	    &vlen)) != NULL)
		spaces_copy_value(r->ctype, sizeof(r->ctype), v, vlen, false);
	else if ((v = spaces_header_value(h, len, "content-length:",
	    &vlen)) != NULL) {
		char	 num[32];

		spaces_copy_value(num, sizeof(num), v, vlen, false);
		r->content_length = strtoull(num, NULL, 10);
	}
	return len;
}

static size_t
spaces_read_cb(char *p, size_t size, size_t n, void *arg)
{
	struct spaces_req	*r = arg;
	size_t			 want = size * n;
	ssize_t			 got;

	if (want > r->len - r->sent)
		want = (size_t)(r->len - r->sent);
	if (want == 0)
		return 0;
	if (r->body != NULL) {
		memcpy(p, r->body + r->sent, want);
		r->sent += want;
		return want;
	}
	got = pread(r->fd, p, want, (off_t)(r->offset + r->sent));
	if (got <= 0) {
		snprintf(r->sink_err, sizeof(r->sink_err), "reading: %s",
		    got == 0 ? "the file shrank" : strerror(errno));
		return CURL_READFUNC_ABORT;
	}
	r->sent += (size_t)got;
	return (size_t)got;
}

static int
spaces_seek_cb(void *arg, curl_off_t offset, int origin)
{
	struct spaces_req	*r = arg;

	if (origin != SEEK_SET || offset < 0 || (uint64_t)offset > r->len)
		return CURL_SEEKFUNC_FAIL;
	r->sent = (uint64_t)offset;
	return CURL_SEEKFUNC_OK;
}

/* The hex SHA-256 of the request's payload, for x-amz-content-sha256. */
static int
spaces_payload_hash(struct spaces_req *r, char hex[65])
{
	unsigned char	 md[EVP_MAX_MD_SIZE];
	unsigned int	 mdlen = 0;
	EVP_MD_CTX	*ctx;
	char		*chunk = NULL;
	uint64_t	 done = 0;
	int		 rc = -1;

	if (r->len == 0) {
		memcpy(hex, SPACES_EMPTY_SHA256, 65);
		return 0;
	}
	if ((ctx = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
		goto done;
	if (r->body != NULL) {
		if (EVP_DigestUpdate(ctx, r->body, r->len) != 1)
			goto done;
	} else {
		if ((chunk = malloc(SPACES_HASH_CHUNK)) == NULL)
			goto done;
		while (done < r->len) {
			size_t	 want = r->len - done < SPACES_HASH_CHUNK ?
				    (size_t)(r->len - done) : SPACES_HASH_CHUNK;
			ssize_t	 got = pread(r->fd, chunk, want,
				    (off_t)(r->offset + done));

			if (got <= 0) {
				snprintf(r->sink_err, sizeof(r->sink_err),
				    "reading: %s", got == 0 ?
				    "the file shrank" : strerror(errno));
				goto done;
			}
			if (EVP_DigestUpdate(ctx, chunk, (size_t)got) != 1)
				goto done;
			done += (uint64_t)got;
		}
	}
	if (EVP_DigestFinal_ex(ctx, md, &mdlen) != 1)
		goto done;
	hex_lower(md, mdlen, hex);
	rc = 0;
done:
	free(chunk);
	EVP_MD_CTX_free(ctx);
	return rc;
}

/* The request's URL, path-style or virtual-hosted.  NULL: out of memory. */
static char *
spaces_url(struct spaces *s, const struct spaces_req *r)
{
	char	*key = NULL, *url = NULL;
	size_t	 len;

	const char	*k = r->bucket_url ? NULL : r->key;

	if ((key = spaces_encode(k != NULL ? k : "", true)) == NULL)
		return NULL;
	len = strlen(s->scheme) + strlen(s->host) + strlen(r->bucket) +
	    strlen(key) + (r->query != NULL ? strlen(r->query) : 0) + 16;
	if ((url = malloc(len)) != NULL) {
		const char	*q = r->query != NULL && *r->query != '\0' ?
				    "?" : "";

		if (s->path_style)
			snprintf(url, len, "%s://%s/%s%s%s%s%s", s->scheme,
			    s->host, r->bucket, k != NULL ? "/" : "",
			    key, q, *q ? r->query : "");
		else
			snprintf(url, len, "%s://%s.%s/%s%s%s", s->scheme,
			    r->bucket, s->host, key, q, *q ? r->query : "");
	}
	free(key);
	return url;
}

/* Make the sink and source ready for an attempt. */
static int
spaces_rewind(struct spaces_req *r)
{
	r->sent = 0;
	r->buflen = 0;
	r->errlen = 0;
	r->sink_err[0] = '\0';
	r->etag[0] = r->ctype[0] = '\0';
	r->content_length = 0;
	r->status = 0;
	if (r->sink == SINK_FILE) {
		if (fflush(r->out) != 0 || ftruncate(fileno(r->out), 0) == -1) {
			snprintf(r->sink_err, sizeof(r->sink_err),
			    "truncating: %s", strerror(errno));
			return -1;
		}
		rewind(r->out);
	}
	return 0;
}

/* Set up the handle for one attempt. */
static CURLcode
spaces_setup(struct spaces *s, struct spaces_req *r, const char *url,
    struct curl_slist *headers)
{
	CURL	*c = s->curl;

	curl_easy_reset(c);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, s->connect_timeout_ms);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, s->timeout_ms);
	curl_easy_setopt(c, CURLOPT_AWS_SIGV4, s->sigv4);
	curl_easy_setopt(c, CURLOPT_USERNAME, s->key);
	curl_easy_setopt(c, CURLOPT_PASSWORD, s->secret);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "silo/" PACKAGE_VERSION);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, spaces_write_cb);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, spaces_header_cb);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
	if (strcmp(r->method, "HEAD") == 0)
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	else if (strcmp(r->method, "PUT") == 0 ||
	    strcmp(r->method, "POST") == 0) {
		/* Every payload is read through the callback, even POST's,
		 * so curl adds no Content-Type of its own. */
		curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE,
		    (curl_off_t)r->len);
		curl_easy_setopt(c, CURLOPT_READFUNCTION, spaces_read_cb);
		curl_easy_setopt(c, CURLOPT_READDATA, r);
		curl_easy_setopt(c, CURLOPT_SEEKFUNCTION, spaces_seek_cb);
		curl_easy_setopt(c, CURLOPT_SEEKDATA, r);
		if (strcmp(r->method, "POST") == 0)
			curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "POST");
	} else if (strcmp(r->method, "GET") != 0)
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, r->method);
	return curl_easy_perform(c);
}

/* Sleep before retry number `retry` (from 1): exponential, jittered. */
static void
spaces_backoff(struct spaces *s, int retry)
{
	uint64_t	 x = s->jitter;
	long		 ms = SPACES_BACKOFF_MS;
	struct timespec	 ts;

	for (int i = 1; i < retry && ms < SPACES_BACKOFF_MAX_MS; i++)
		ms *= 2;
	if (ms > SPACES_BACKOFF_MAX_MS)
		ms = SPACES_BACKOFF_MAX_MS;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	s->jitter = x;
	ms = ms / 2 + (long)(x % (uint64_t)(ms / 2 + 1));	/* [ms/2, ms] */
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/* Is this answer worth another attempt? */
static bool
spaces_retryable(long status, const char *code)
{
	return status >= 500 || status == 429 || strcmp(code, "SlowDown") == 0;
}

/*
 * Make a request, retrying what may succeed next time.  0 on a 2xx answer;
 * -1 with s->err (and s->status, s->code) otherwise.
 */
static int
spaces_perform(struct spaces *s, struct spaces_req *r)
{
	struct curl_slist	*headers = NULL, *h;
	char			 hash[65], line[160], what[1100], *url;
	CURLcode		 cc = CURLE_OK;
	int			 rc = -1;

	r->s = s;
	spaces_name(what, sizeof(what), r->bucket, r->key);
	s->status = 0;
	s->code[0] = '\0';
	s->err[0] = '\0';
	s->nretries = 0;
	if (spaces_payload_hash(r, hash) == -1) {
		spaces_fail(s, "%s %s: %s", r->op, what,
		    r->sink_err[0] != '\0' ? r->sink_err :
		    "hashing the payload failed");
		return -1;
	}
	if ((url = spaces_url(s, r)) == NULL) {
		spaces_fail(s, "%s: out of memory", r->op);
		return -1;
	}
	snprintf(line, sizeof(line), "x-amz-content-sha256: %s", hash);
	if ((h = curl_slist_append(headers, line)) == NULL)
		goto oom;
	headers = h;
	if (r->content_type != NULL) {
		snprintf(line, sizeof(line), "Content-Type: %s",
		    r->content_type);
		if ((h = curl_slist_append(headers, line)) == NULL)
			goto oom;
		headers = h;
	}
	for (int attempt = 1; attempt <= s->attempts; attempt++) {
		if (attempt > 1 && r->sink == SINK_STREAM && r->streamed > 0) {
			/* What went downstream cannot be taken back. */
			size_t	 n = strlen(s->err);

			snprintf(s->err + n, sizeof(s->err) - n, " (after %"
			    PRIu64 " bytes; not retried)", r->streamed);
			goto done;
		}
		if (attempt > 1) {
			s->nretries++;
			spaces_backoff(s, attempt - 1);
			if (r->sink == SINK_LIST)
				spaces_listparse_reset(r->lp);
		}
		if (spaces_rewind(r) == -1) {
			spaces_fail(s, "%s %s: %s", r->op, what, r->sink_err);
			goto done;
		}
		cc = spaces_setup(s, r, url, headers);
		curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &r->status);
		s->status = r->status;
		if (r->sink_err[0] != '\0') {
			/* Our side refused (disk, memory, bad XML): final. */
			spaces_fail(s, "%s %s: %s", r->op, what, r->sink_err);
			goto done;
		}
		if (r->sink == SINK_LIST && r->lp->stopped) {
			rc = 0;
			goto done;
		}
		if (cc != CURLE_OK) {
			spaces_fail(s, "%s %s: %s (%s://%s)", r->op, what,
			    curl_easy_strerror(cc), s->scheme, s->host);
			continue;
		}
		if (r->status >= 200 && r->status <= 299) {
			rc = 0;
			goto done;
		}
		spaces_format_error(s->err, sizeof(s->err), r->op, r->bucket,
		    r->key, r->status, r->errbody, r->errlen, s->code,
		    sizeof(s->code));
		if (!spaces_retryable(r->status, s->code))
			goto done;
	}
	if (s->nretries > 0) {
		size_t	 n = strlen(s->err);

		snprintf(s->err + n, sizeof(s->err) - n, " (after %d attempts)",
		    s->attempts);
	}
	goto done;
oom:
	spaces_fail(s, "%s: out of memory", r->op);
done:
	curl_slist_free_all(headers);
	free(url);
	free(r->errbody);
	r->errbody = NULL;
	return rc;
}

/* ------------------------------------------------------------------ */
/* The client                                                          */
/* ------------------------------------------------------------------ */

/* Parse the endpoint: an http(s) URL with nothing after host[:port]. */
static int
spaces_endpoint(const char *endpoint, struct config_url *u, char *err,
    size_t errsz)
{
	char	 why[128], shown[128];

	if (endpoint == NULL)
		snprintf(why, sizeof(why), "none given");
	else if (config_url_parse(endpoint, u, why, sizeof(why)) == 0) {
		if (u->bare)
			return 0;
		snprintf(why, sizeof(why), "it has a path, query or fragment");
	}
	config_mask_uri(endpoint != NULL ? endpoint : "", shown, sizeof(shown));
	snprintf(err, errsz, "spaces endpoint '%s': expected "
	    "http(s)://host[:port] (%s)", shown, why);
	return -1;
}

int
spaces_open(struct spaces *s, const struct spaces_opts *o, char *err,
    size_t errsz)
{
	struct config_url	 u;

	memset(s, 0, sizeof(*s));
	if (spaces_endpoint(o->endpoint, &u, err, errsz) == -1)
		return -1;
	if (o->key == NULL || *o->key == '\0' || o->secret == NULL ||
	    *o->secret == '\0') {
		snprintf(err, errsz,
		    "spaces: the key and the secret are required");
		return -1;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		snprintf(err, errsz, "spaces: curl_global_init failed");
		return -1;
	}
	s->scheme = strdup(u.scheme);
	s->host = strdup(u.authority);
	s->key = strdup(o->key);
	s->secret = strdup(o->secret);
	s->curl = curl_easy_init();
	if (s->scheme == NULL || s->host == NULL || s->key == NULL ||
	    s->secret == NULL || s->curl == NULL) {
		spaces_close(s);
		snprintf(err, errsz, "spaces: out of memory");
		return -1;
	}
	spaces_region_of_host(u.host, o->region, s->region,
	    sizeof(s->region));
	snprintf(s->sigv4, sizeof(s->sigv4), "aws:amz:%s:s3", s->region);
	s->path_style = o->path_style;
	s->connect_timeout_ms = o->connect_timeout_ms > 0 ?
	    o->connect_timeout_ms : 5000;
	s->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 300000;
	s->attempts = o->attempts > 0 ? o->attempts : 4;
	s->part_size = o->part_size > 0 ? o->part_size : (16u << 20);
	if (s->part_size < SPACES_MIN_PART)
		s->part_size = SPACES_MIN_PART;
	s->multipart_threshold = o->multipart_threshold > 0 ?
	    o->multipart_threshold : (64u << 20);
	s->jitter = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32) ^
	    (uint64_t)(uintptr_t)s;
	if (s->jitter == 0)
		s->jitter = 1;
	return 0;
}

/*
 * The client silo's configuration describes (SPACES_*): the endpoint,
 * region and credentials, and path-style addressing when
 * SPACES_ADDRESSING says so or, on auto, for any endpoint that is not
 * DigitalOcean's.
 */
int
spaces_open_config(struct spaces *s, const struct silo_config *c, char *err,
    size_t errsz)
{
	struct spaces_opts	 o = { 0 };

	o.endpoint = c->spaces_endpoint;
	o.region = c->spaces_region;
	o.key = c->spaces_key;
	o.secret = c->spaces_secret;
	o.path_style = c->spaces_path_style == 1 ||
	    (c->spaces_path_style == -1 && c->spaces_endpoint != NULL &&
	     strstr(c->spaces_endpoint, ".digitaloceanspaces.com") == NULL);
	return spaces_open(s, &o, err, errsz);
}

void
spaces_close(struct spaces *s)
{
	if (s->curl != NULL) {
		curl_easy_cleanup(s->curl);
		curl_global_cleanup();
	}
	free(s->scheme);
	free(s->host);
	free(s->key);
	if (s->secret != NULL)
		memset(s->secret, 0, strlen(s->secret));
	free(s->secret);
	memset(s, 0, sizeof(*s));
}

/* ------------------------------------------------------------------ */
/* Operations                                                          */
/* ------------------------------------------------------------------ */

int
spaces_create_bucket(struct spaces *s, const char *bucket)
{
	struct spaces_req	 r = { .op = "CREATE-BUCKET", .method = "PUT",
				    .bucket = bucket, .fd = -1, .body = "" };

	return spaces_perform(s, &r);
}

/*
 * List every object under prefix (with a delimiter, also the common
 * prefixes), max_keys per page (0: the server's 1000), calling cb for each
 * as it is parsed.  0 when all were listed, 1 when cb stopped it, -1 on
 * an error (s->err).
 */
int
spaces_list(struct spaces *s, const char *bucket, const char *prefix,
    const char *delimiter, int max_keys, spaces_list_cb cb, void *arg)
{
	struct spaces_listparse	*lp;
	struct spaces_param	 params[5];
	char			 mk[16], line[1100], *token = NULL, *query;
	int			 rc = -1;

	if ((lp = malloc(sizeof(*lp))) == NULL) {
		spaces_fail(s, "LIST %s: out of memory", bucket);
		return -1;
	}
	snprintf(mk, sizeof(mk), "%d", max_keys);
	for (;;) {
		struct spaces_req	 r = { .op = "LIST", .method = "GET",
					    .bucket = bucket, .key = prefix,
					    .bucket_url = true,
					    .fd = -1, .sink = SINK_LIST,
					    .lp = lp };
		size_t			 n = 0;

		params[n++] = (struct spaces_param){ "list-type", "2" };
		params[n++] = (struct spaces_param){ "prefix",
		    prefix != NULL ? prefix : "" };
		if (delimiter != NULL && *delimiter != '\0')
			params[n++] = (struct spaces_param){ "delimiter",
			    delimiter };
		if (max_keys > 0)
			params[n++] = (struct spaces_param){ "max-keys", mk };
		if (token != NULL)
			params[n++] = (struct spaces_param){
			    "continuation-token", token };
		if ((query = spaces_query(params, n)) == NULL ||
		    spaces_listparse_init(lp, cb, arg) == -1) {
			free(query);
			spaces_fail(s, "LIST %s: out of memory", bucket);
			break;
		}
		r.query = query;
		rc = spaces_perform(s, &r);
		if (rc == 0 && !lp->stopped &&
		    spaces_listparse_feed(lp, NULL, 0, true) == -1) {
			spaces_name(line, sizeof(line), bucket, prefix);
			spaces_fail(s,
			    "LIST %s: malformed ListObjectsV2 answer: %s",
			    line, lp->err);
			rc = -1;
		}
		spaces_listparse_free(lp);
		free(query);
		free(token);
		token = NULL;
		if (rc == -1)
			break;
		if (lp->stopped) {
			rc = 1;
			break;
		}
		if (!lp->truncated)
			break;
		if (lp->next_token[0] == '\0') {
			spaces_name(line, sizeof(line), bucket, prefix);
			spaces_fail(s, "LIST %s: IsTruncated without a "
			    "NextContinuationToken", line);
			rc = -1;
			break;
		}
		if ((token = strdup(lp->next_token)) == NULL) {
			spaces_fail(s, "LIST %s: out of memory", bucket);
			rc = -1;
			break;
		}
	}
	free(token);
	free(lp);
	return rc;
}

int
spaces_put(struct spaces *s, const char *bucket, const char *key,
    const void *data, size_t len, const char *content_type)
{
	struct spaces_req	 r = { .op = "PUT", .method = "PUT",
				    .bucket = bucket, .key = key, .fd = -1,
				    .body = len > 0 ? data : "", .len = len,
				    .content_type = content_type };

	s->nparts = 0;
	return spaces_perform(s, &r);
}

/* The multipart upload's steps, below spaces_put_file(). */
static char	*spaces_mpu_create(struct spaces *, const char *bucket,
		    const char *key, const char *content_type);
static int	 spaces_mpu_part(struct spaces *, const char *bucket,
		    const char *key, const char *upload_id, unsigned partno,
		    int fd, const void *body, uint64_t offset, uint64_t len,
		    char *etag, size_t etagsz);
static int	 spaces_mpu_complete(struct spaces *, const char *bucket,
		    const char *key, const char *upload_id,
		    char *const *etags, unsigned nparts);
static int	 spaces_mpu_abort(struct spaces *, const char *bucket,
		    const char *key, const char *upload_id);

/* Upload an open file in parts of s->part_size (more if 10,000 would not
 * do), aborting the upload if any part fails. */
static int
spaces_put_multipart(struct spaces *s, const char *bucket, const char *key,
    int fd, uint64_t size, const char *content_type)
{
	uint64_t	 part = s->part_size;
	unsigned	 nparts;
	char		**etags, *upload_id, saved[sizeof(s->err)];
	int		 rc = -1;

	if (size / part >= SPACES_MAX_PARTS)
		part = size / (SPACES_MAX_PARTS - 1) + 1;
	nparts = (unsigned)((size + part - 1) / part);
	if ((etags = calloc(nparts, sizeof(*etags))) == NULL) {
		spaces_fail(s, "PUT %s/%s: out of memory", bucket, key);
		return -1;
	}
	if ((upload_id = spaces_mpu_create(s, bucket, key,
	    content_type)) == NULL)
		goto done;
	for (unsigned i = 0; i < nparts; i++) {
		uint64_t	 off = (uint64_t)i * part;
		uint64_t	 len = size - off < part ? size - off : part;

		if ((etags[i] = malloc(128)) == NULL) {
			spaces_fail(s, "PUT %s/%s: out of memory", bucket, key);
			goto abort;
		}
		if (spaces_mpu_part(s, bucket, key, upload_id, i + 1, fd,
		    NULL, off, len, etags[i], 128) == -1)
			goto abort;
	}
	if (spaces_mpu_complete(s, bucket, key, upload_id, etags, nparts) == -1)
		goto abort;
	s->nparts = nparts;
	rc = 0;
	goto done;
abort:
	memcpy(saved, s->err, sizeof(saved));
	spaces_mpu_abort(s, bucket, key, upload_id);
	memcpy(s->err, saved, sizeof(saved));
done:
	for (unsigned i = 0; i < nparts; i++)
		free(etags[i]);
	free(etags);
	free(upload_id);
	return rc;
}

/* Upload a file: one PUT, or multipart above s->multipart_threshold. */
int
spaces_put_file(struct spaces *s, const char *bucket, const char *key,
    const char *path, const char *content_type)
{
	struct stat	 st;
	int		 fd, rc;

	s->nparts = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1 ||
	    fstat(fd, &st) == -1) {
		spaces_fail(s, "PUT %s/%s: %s: %s", bucket, key, path,
		    strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	if ((uint64_t)st.st_size > s->multipart_threshold)
		rc = spaces_put_multipart(s, bucket, key, fd,
		    (uint64_t)st.st_size, content_type);
	else {
		struct spaces_req	 r = { .op = "PUT", .method = "PUT",
					    .bucket = bucket, .key = key,
					    .fd = fd,
					    .len = (uint64_t)st.st_size,
					    .content_type = content_type };

		rc = spaces_perform(s, &r);
	}
	close(fd);
	return rc;
}

/* Fetch an object into memory (at most max bytes); *data is
 * NUL-terminated and the caller's to free. */
int
spaces_get(struct spaces *s, const char *bucket, const char *key,
    size_t max, char **data, size_t *len)
{
	struct spaces_req	 r = { .op = "GET", .method = "GET",
				    .bucket = bucket, .key = key, .fd = -1,
				    .sink = SINK_BUF, .bufmax = max };

	*data = NULL;
	*len = 0;
	if (spaces_perform(s, &r) == -1) {
		free(r.buf);
		return -1;
	}
	if (r.buf == NULL && (r.buf = strdup("")) == NULL) {
		spaces_fail(s, "GET %s/%s: out of memory", bucket, key);
		return -1;
	}
	*data = r.buf;
	*len = r.buflen;
	return 0;
}

/* Fetch an object into a file (created or truncated). */
int
spaces_get_file(struct spaces *s, const char *bucket, const char *key,
    const char *path)
{
	struct spaces_req	 r = { .op = "GET", .method = "GET",
				    .bucket = bucket, .key = key, .fd = -1,
				    .sink = SINK_FILE };
	int			 rc;

	if ((r.out = fopen(path, "wb")) == NULL) {
		spaces_fail(s, "GET %s/%s: %s: %s", bucket, key, path,
		    strerror(errno));
		return -1;
	}
	rc = spaces_perform(s, &r);
	if (fclose(r.out) != 0 && rc == 0) {
		spaces_fail(s, "GET %s/%s: %s: %s", bucket, key, path,
		    strerror(errno));
		rc = -1;
	}
	return rc;
}

/* An object's size, ETag and Content-Type.  A missing object is -1 with
 * s->status 404. */
int
spaces_head(struct spaces *s, const char *bucket, const char *key,
    uint64_t *size, char *etag, size_t etagsz, char *ctype, size_t ctypesz)
{
	struct spaces_req	 r = { .op = "HEAD", .method = "HEAD",
				    .bucket = bucket, .key = key, .fd = -1 };

	if (spaces_perform(s, &r) == -1)
		return -1;
	if (size != NULL)
		*size = r.content_length;
	if (etag != NULL && etagsz > 0)
		snprintf(etag, etagsz, "%s", r.etag);
	if (ctype != NULL && ctypesz > 0)
		snprintf(ctype, ctypesz, "%s", r.ctype);
	return 0;
}

int
spaces_delete(struct spaces *s, const char *bucket, const char *key)
{
	struct spaces_req	 r = { .op = "DELETE", .method = "DELETE",
				    .bucket = bucket, .key = key, .fd = -1 };

	return spaces_perform(s, &r);
}

/* Start a multipart upload; its UploadId (the caller's to free), or NULL. */
static char *
spaces_mpu_create(struct spaces *s, const char *bucket, const char *key,
    const char *content_type)
{
	static const struct spaces_param uploads = { "uploads", NULL };
	struct spaces_req	 r = { .op = "CREATE-MULTIPART",
				    .method = "POST", .bucket = bucket,
				    .key = key, .fd = -1, .body = "",
				    .sink = SINK_BUF,
				    .bufmax = SPACES_SMALL_MAX,
				    .content_type = content_type };
	struct spaces_xml	 x = { .names = { "UploadId" } };
	char			*query, why[128], *id = NULL;

	if ((query = spaces_query(&uploads, 1)) == NULL) {
		spaces_fail(s, "CREATE-MULTIPART: out of memory");
		return NULL;
	}
	r.query = query;
	if (spaces_perform(s, &r) == 0) {
		if (spaces_xml_fields(&x, r.buf != NULL ? r.buf : "", r.buflen,
		    why, sizeof(why)) == -1 ||
		    strcmp(x.root, "InitiateMultipartUploadResult") != 0 ||
		    x.values[0][0] == '\0')
			spaces_fail(s, "CREATE-MULTIPART %s/%s: "
			    "no UploadId in the answer%s%s",
			    bucket, key, r.buflen > 0 ? ": " : "",
			    r.buflen > 0 ? why : "");
		else if ((id = strdup(x.values[0])) == NULL)
			spaces_fail(s, "CREATE-MULTIPART: out of memory");
	}
	free(r.buf);
	free(query);
	return id;
}

/* Upload part partno (from 1): len bytes of body, or of fd at offset. */
static int
spaces_mpu_part(struct spaces *s, const char *bucket, const char *key,
    const char *upload_id, unsigned partno, int fd, const void *body,
    uint64_t offset, uint64_t len, char *etag, size_t etagsz)
{
	struct spaces_param	 params[2];
	struct spaces_req	 r = { .op = "UPLOAD-PART", .method = "PUT",
				    .bucket = bucket, .key = key, .fd = fd,
				    .body = body, .offset = offset,
				    .len = len };
	char			 num[16], *query;
	int			 rc;

	snprintf(num, sizeof(num), "%u", partno);
	params[0] = (struct spaces_param){ "partNumber", num };
	params[1] = (struct spaces_param){ "uploadId", upload_id };
	if ((query = spaces_query(params, 2)) == NULL) {
		spaces_fail(s, "UPLOAD-PART: out of memory");
		return -1;
	}
	r.query = query;
	rc = spaces_perform(s, &r);
	free(query);
	if (rc == 0 && r.etag[0] == '\0') {
		spaces_fail(s,
		    "UPLOAD-PART %s/%s: part %u: no ETag in the answer",
		    bucket, key, partno);
		rc = -1;
	}
	if (rc == 0)
		snprintf(etag, etagsz, "%s", r.etag);
	return rc;
}

/* Finish a multipart upload from its parts' ETags, in order. */
static int
spaces_mpu_complete(struct spaces *s, const char *bucket, const char *key,
    const char *upload_id, char *const *etags, unsigned nparts)
{
	static const char	 head[] = "<CompleteMultipartUpload>";
	static const char	 tail[] = "</CompleteMultipartUpload>";
	struct spaces_param	 param = { "uploadId", upload_id };
	struct spaces_req	 r = { .op = "COMPLETE-MULTIPART",
				    .method = "POST", .bucket = bucket,
				    .key = key, .fd = -1, .sink = SINK_BUF,
				    .bufmax = SPACES_SMALL_MAX };
	struct spaces_xml	 x = { .names = { "Code", "Message" } };
	char			*body = NULL, *query = NULL;
	char			 part[256], why[128];
	size_t			 len = 0;
	int			 rc = -1;

	if (!spaces_append(&body, &len, SIZE_MAX / 2, head, sizeof(head) - 1))
		goto oom;
	for (unsigned i = 0; i < nparts; i++) {
		int	 n = snprintf(part, sizeof(part),
			    "<Part><PartNumber>%u</PartNumber>"
			    "<ETag>\"%s\"</ETag></Part>",
			    i + 1, etags[i]);

		if (!spaces_append(&body, &len, SIZE_MAX / 2, part, (size_t)n))
			goto oom;
	}
	if (!spaces_append(&body, &len, SIZE_MAX / 2, tail, sizeof(tail) - 1) ||
	    (query = spaces_query(&param, 1)) == NULL)
		goto oom;
	r.body = body;
	r.len = len;
	r.query = query;
	r.content_type = "application/xml";
	if ((rc = spaces_perform(s, &r)) == 0) {
		/* S3 may answer 200 and then report a failure in the body. */
		if (spaces_xml_fields(&x, r.buf != NULL ? r.buf : "", r.buflen,
		    why, sizeof(why)) == -1) {
			spaces_fail(s,
			    "COMPLETE-MULTIPART %s/%s: malformed answer: %s",
			    bucket, key, why);

			rc = -1;
		} else if (strcmp(x.root, "Error") == 0) {
			spaces_format_error(s->err, sizeof(s->err),
			    "COMPLETE-MULTIPART", bucket, key, r.status, r.buf,
			    r.buflen, s->code, sizeof(s->code));
			rc = -1;
		}
	}
	goto done;
oom:
	spaces_fail(s, "COMPLETE-MULTIPART: out of memory");
done:
	free(r.buf);
	free(body);
	free(query);
	return rc;
}

static int
spaces_mpu_abort(struct spaces *s, const char *bucket, const char *key,
    const char *upload_id)
{
	struct spaces_param	 param = { "uploadId", upload_id };
	struct spaces_req	 r = { .op = "ABORT-MULTIPART",
				    .method = "DELETE", .bucket = bucket,
				    .key = key, .fd = -1 };
	int			 rc;

	if ((r.query = spaces_query(&param, 1)) == NULL) {
		spaces_fail(s, "ABORT-MULTIPART: out of memory");
		return -1;
	}
	rc = spaces_perform(s, &r);
	free((char *)r.query);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Streams: a multipart upload fed as a sink, a GET into a sink        */
/* ------------------------------------------------------------------ */

/* A multipart upload being fed (see spaces_upload_new()). */
struct spaces_upload {
	struct spaces	*s;		/* the client */
	char		*bucket;	/* where it goes */
	char		*key;		/* its key */
	char		*upload_id;	/* S3's UploadId */
	unsigned char	*part;		/* the part being filled */
	size_t		 part_size;	/* its capacity */
	size_t		 part_len;	/* bytes in it */
	char		**etags;	/* ETags of the parts sent, in order */
	unsigned	 nparts;	/* parts sent */
	uint64_t	 bytes;		/* bytes taken in all */
	bool		 ended;		/* completed or aborted */
};

/*
 * Start a multipart upload of key, to be fed through spaces_upload_sink():
 * parts of part_size (at least SPACES_MIN_PART) are sent as they fill,
 * finish() sends the last and completes the upload, abort() (or a part
 * that fails) aborts it, so that no object appears and no part lingers.
 * Memory is one part.  NULL with err set if it could not start.
 */
struct spaces_upload *
spaces_upload_new(struct spaces *s, const char *bucket, const char *key,
    size_t part_size, const char *content_type, char *err, size_t errsz)
{
	struct spaces_upload	*u;

	if (part_size < SPACES_MIN_PART)
		part_size = SPACES_MIN_PART;
	if ((u = calloc(1, sizeof(*u))) == NULL ||
	    (u->bucket = strdup(bucket)) == NULL ||
	    (u->key = strdup(key)) == NULL ||
	    (u->part = malloc(part_size)) == NULL ||
	    (u->etags = calloc(SPACES_MAX_PARTS, sizeof(*u->etags))) == NULL) {
		snprintf(err, errsz, "UPLOAD %s/%s: out of memory", bucket,
		    key);
		spaces_upload_free(u);
		return NULL;
	}
	u->s = s;
	u->part_size = part_size;
	if ((u->upload_id = spaces_mpu_create(s, bucket, key,
	    content_type)) == NULL) {
		snprintf(err, errsz, "%s", s->err);
		spaces_upload_free(u);
		return NULL;
	}
	return u;
}

/* The UploadId, for a record that may have to abort it later. */
const char *
spaces_upload_id(const struct spaces_upload *u)
{
	return u->upload_id;
}

/* Abort the upload (once), keeping the error that led here in s->err. */
static void
spaces_upload_cancel(struct spaces_upload *u)
{
	char	 saved[sizeof(u->s->err)];

	if (u->ended)
		return;
	u->ended = true;
	memcpy(saved, u->s->err, sizeof(saved));
	if (spaces_mpu_abort(u->s, u->bucket, u->key, u->upload_id) == -1)
		log_warn("spaces: %s", u->s->err);
	memcpy(u->s->err, saved, sizeof(saved));
}

/* Send the filled part; on failure the upload is aborted. */
static int
spaces_upload_part(struct spaces_upload *u, char *err, size_t errsz)
{
	char	 etag[128];

	if (u->nparts == SPACES_MAX_PARTS) {
		spaces_fail(u->s, "UPLOAD %s/%s: more than %d parts of %zu "
		    "bytes", u->bucket, u->key, SPACES_MAX_PARTS,
		    u->part_size);
		goto fail;
	}
	if (spaces_mpu_part(u->s, u->bucket, u->key, u->upload_id,
	    u->nparts + 1, -1, u->part_len > 0 ? (void *)u->part : "", 0,
	    u->part_len, etag, sizeof(etag)) == -1)
		goto fail;
	if ((u->etags[u->nparts] = strdup(etag)) == NULL) {
		spaces_fail(u->s, "UPLOAD %s/%s: out of memory", u->bucket,
		    u->key);
		goto fail;
	}
	u->nparts++;
	u->part_len = 0;
	return 0;
fail:
	snprintf(err, errsz, "%s", u->s->err);
	spaces_upload_cancel(u);
	return -1;
}

static int
spaces_upload_write(void *ctx, const void *buf, size_t len, char *err,
    size_t errsz)
{
	struct spaces_upload	*u = ctx;
	const unsigned char	*p = buf;

	if (u->ended) {
		snprintf(err, errsz, "UPLOAD %s/%s: already ended", u->bucket,
		    u->key);
		return -1;
	}
	while (len > 0) {
		size_t	 n = u->part_size - u->part_len;

		if (n > len)
			n = len;
		memcpy(u->part + u->part_len, p, n);
		u->part_len += n;
		u->bytes += n;
		p += n;
		len -= n;
		if (u->part_len == u->part_size &&
		    spaces_upload_part(u, err, errsz) == -1)
			return -1;
	}
	return 0;
}

static int
spaces_upload_finish(void *ctx, char *err, size_t errsz)
{
	struct spaces_upload	*u = ctx;

	if (u->ended) {
		snprintf(err, errsz, "UPLOAD %s/%s: already ended", u->bucket,
		    u->key);
		return -1;
	}
	/* The last part may be short; an empty stream is one empty part. */
	if ((u->part_len > 0 || u->nparts == 0) &&
	    spaces_upload_part(u, err, errsz) == -1)
		return -1;
	if (spaces_mpu_complete(u->s, u->bucket, u->key, u->upload_id,
	    u->etags, u->nparts) == -1) {
		snprintf(err, errsz, "%s", u->s->err);
		spaces_upload_cancel(u);
		return -1;
	}
	u->ended = true;
	return 0;
}

static void
spaces_upload_abort(void *ctx)
{
	spaces_upload_cancel(ctx);
}

/* The upload's input. */
struct sink
spaces_upload_sink(struct spaces_upload *u)
{
	struct sink	 k = { spaces_upload_write, spaces_upload_finish,
			    spaces_upload_abort, u };

	return k;
}

/* Bytes taken and parts sent so far. */
void
spaces_upload_counts(const struct spaces_upload *u, uint64_t *bytes,
    unsigned *parts)
{
	*bytes = u->bytes;
	*parts = u->nparts;
}

/* Free the upload; one neither finished nor aborted is aborted first. */
void
spaces_upload_free(struct spaces_upload *u)
{
	if (u == NULL)
		return;
	if (u->upload_id != NULL)
		spaces_upload_cancel(u);
	for (unsigned i = 0; i < u->nparts; i++)
		free(u->etags[i]);
	free(u->etags);
	free(u->part);
	free(u->upload_id);
	free(u->key);
	free(u->bucket);
	free(u);
}

/* Abort a multipart upload by its id (one a killed run left behind).
 * An upload that is already gone (404 NoSuchUpload) is not an error. */
int
spaces_upload_abort_id(struct spaces *s, const char *bucket,
    const char *key, const char *upload_id)
{
	if (spaces_mpu_abort(s, bucket, key, upload_id) == 0)
		return 0;
	return s->status == 404 ? 0 : -1;
}

/*
 * Stream an object into out, chunk by chunk as it arrives; out is
 * neither finished nor aborted here.  A failure before the first byte is
 * retried as any request; once bytes went downstream it is final.
 */
int
spaces_get_stream(struct spaces *s, const char *bucket, const char *key,
    const struct sink *out)
{
	struct spaces_req	 r = { .op = "GET", .method = "GET",
				    .bucket = bucket, .key = key, .fd = -1,
				    .sink = SINK_STREAM, .stream = out };

	return spaces_perform(s, &r);
}

/* What spaces_uploads() collects from a ListMultipartUploads answer. */
struct spaces_uploads_parse {
	XML_Parser	 parser;	/* expat */
	int		 depth;		/* element depth, root 1 */
	bool		 in_upload;	/* inside <Upload> */
	int		 field;		/* 1 Key, 2 UploadId, 0 neither */
	char		 key[SPACES_MAX_KEY * 4 + 1]; /* the upload's Key */
	size_t		 keylen;	/* its length */
	char		 id[1024];	/* its UploadId */
	size_t		 idlen;		/* its length */
	spaces_upload_cb cb;		/* where uploads go */
	void		*arg;		/* its argument */
	int		 n;		/* uploads delivered */
	bool		 stopped;	/* the callback asked to stop */
};

static void XMLCALL
spaces_up_start(void *arg, const XML_Char *name, const XML_Char **attrs)
{
	struct spaces_uploads_parse	*p = arg;

	name = spaces_local_name(name);
	p->depth++;
	p->field = 0;
	if (p->depth == 2 && strcmp(name, "Upload") == 0) {
		p->in_upload = true;
		p->keylen = p->idlen = 0;
		p->key[0] = p->id[0] = '\0';
	} else if (p->depth == 3 && p->in_upload)
		p->field = strcmp(name, "Key") == 0 ? 1 :
		    strcmp(name, "UploadId") == 0 ? 2 : 0;
}

static void XMLCALL
spaces_up_end(void *arg, const XML_Char *name)
{
	struct spaces_uploads_parse	*p = arg;

	if (p->depth == 2 && p->in_upload) {
		p->in_upload = false;
		p->n++;
		if (!p->stopped && p->cb(p->key, p->id, p->arg) != 0) {
			p->stopped = true;
			XML_StopParser(p->parser, XML_FALSE);
		}
	}
	p->depth--;
	p->field = 0;
}

static void XMLCALL
spaces_up_text(void *arg, const XML_Char *s, int len)
{
	struct spaces_uploads_parse	*p = arg;
	char				*dst = p->field == 1 ? p->key : p->id;
	size_t				*n = p->field == 1 ? &p->keylen :
					    &p->idlen;
	size_t				 cap = p->field == 1 ?
					    sizeof(p->key) : sizeof(p->id);

	if (p->field == 0)
		return;
	if ((size_t)len > cap - 1 - *n)
		len = (int)(cap - 1 - *n);
	memcpy(dst + *n, s, (size_t)len);
	*n += (size_t)len;
	dst[*n] = '\0';
}

/*
 * The multipart uploads in progress under prefix (one page: the first
 * 1,000), each handed to cb with its key and UploadId; cb returning
 * non-zero stops.  The number seen, or -1 with s->err.
 */
int
spaces_uploads(struct spaces *s, const char *bucket, const char *prefix,
    spaces_upload_cb cb, void *arg)
{
	struct spaces_param	 params[2] = { { "prefix", prefix },
				    { "uploads", NULL } };
	struct spaces_req	 r = { .op = "LIST-UPLOADS", .method = "GET",
				    .bucket = bucket, .bucket_url = true,
				    .fd = -1, .sink = SINK_BUF,
				    .bufmax = SPACES_SMALL_MAX };
	struct spaces_uploads_parse *p;
	char			*query;
	int			 rc = -1;

	if ((query = spaces_query(params, 2)) == NULL ||
	    (p = calloc(1, sizeof(*p))) == NULL) {
		free(query);
		spaces_fail(s, "LIST-UPLOADS %s: out of memory", bucket);
		return -1;
	}
	r.query = query;
	if (spaces_perform(s, &r) == 0) {
		p->cb = cb;
		p->arg = arg;
		if ((p->parser = XML_ParserCreate("UTF-8")) == NULL)
			spaces_fail(s, "LIST-UPLOADS %s: out of memory",
			    bucket);
		else {
			XML_SetUserData(p->parser, p);
			XML_SetElementHandler(p->parser, spaces_up_start,
			    spaces_up_end);
			XML_SetCharacterDataHandler(p->parser, spaces_up_text);
			if (r.buflen <= INT32_MAX && (XML_Parse(p->parser,
			    r.buf != NULL ? r.buf : "", (int)r.buflen, 1) ==
			    XML_STATUS_OK || p->stopped))
				rc = p->n;
			else
				spaces_fail(s, "LIST-UPLOADS %s: malformed "
				    "answer: %s", bucket, XML_ErrorString(
				    XML_GetErrorCode(p->parser)));
			XML_ParserFree(p->parser);
		}
	}
	free(r.buf);
	free(query);
	free(p);
	return rc;
}
