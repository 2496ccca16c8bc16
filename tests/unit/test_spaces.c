/* Unit tests for spaces.c: the parts of the S3 client that need no server
 * (encoding, canonical queries, regions, error and listing XML). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "extern.h"

static void
expect_encoded(const char *in, bool keep_slash, const char *want)
{
	char	*got = spaces_encode(in, keep_slash);

	assert_non_null(got);
	if (strcmp(got, want) != 0)
		fail_msg("encode(%s) = %s, expected %s", in, got, want);
	free(got);
}

static void
test_encode(void **state)
{
	expect_encoded("", false, "");
	expect_encoded("AZaz09-_.~", false, "AZaz09-_.~");
	expect_encoded("a b+c", false, "a%20b%2Bc");
	expect_encoded("a/b", false, "a%2Fb");
	expect_encoded("a/b c/d", true, "a/b%20c/d");
	expect_encoded("=&?#%*!'()", false, "%3D%26%3F%23%25%2A%21%27%28%29");
	/* UTF-8 bytes, upper-case hex */
	expect_encoded("müller/日本 🎨.png", true,
	    "m%C3%BCller/%E6%97%A5%E6%9C%AC%20%F0%9F%8E%A8.png");
	expect_encoded("a//b/", true, "a//b/");
}

static void
expect_query(const struct spaces_param *p, size_t n, const char *want)
{
	char	*got = spaces_query(p, n);

	assert_non_null(got);
	if (strcmp(got, want) != 0)
		fail_msg("query = %s, expected %s", got, want);
	free(got);
}

static void
test_query_sorted(void **state)
{
	const struct spaces_param	 list[] = {
		{ "prefix", "painting/a b+" },
		{ "list-type", "2" },
		{ "max-keys", "7" },
		{ "continuation-token", "1/x=y+z~" },
		{ "delimiter", "/" },
	};
	const struct spaces_param	 uploads[] = { { "uploads", NULL } };
	const struct spaces_param	 part[] = {
		{ "uploadId", "abc" }, { "partNumber", "10" },
	};
	/* Sorted by the encoded name, byte order: upper case first. */
	const struct spaces_param	 caps[] = {
		{ "b", "1" }, { "B", "2" }, { "a", "2" }, { "a", "1" },
	};

	expect_query(list, 5, "continuation-token=1%2Fx%3Dy%2Bz~&delimiter=%2F"
	    "&list-type=2&max-keys=7&prefix=painting%2Fa%20b%2B");
	expect_query(uploads, 1, "uploads=");
	expect_query(part, 2, "partNumber=10&uploadId=abc");
	expect_query(caps, 4, "B=2&a=1&a=2&b=1");
	expect_query(NULL, 0, "");
}

static void
expect_region(const char *endpoint, const char *given, const char *want)
{
	char	 got[64];

	spaces_region(endpoint, given, got, sizeof(got));
	if (strcmp(got, want) != 0)
		fail_msg("region(%s, %s) = %s, expected %s", endpoint,
		    given ? given : "NULL", got, want);
}

static void
test_region(void **state)
{
	expect_region("https://sfo3.digitaloceanspaces.com", NULL, "sfo3");
	expect_region("https://nyc3.digitaloceanspaces.com/", "us-east-1",
	    "nyc3");
	expect_region("https://AMS3.DigitalOceanSpaces.com:443", NULL, "AMS3");
	expect_region("http://127.0.0.1:9000", NULL, "us-east-1");
	expect_region("http://127.0.0.1:9000", "", "us-east-1");
	expect_region("http://minio.local:9000", "eu-west-2", "eu-west-2");
	expect_region("https://digitaloceanspaces.com", NULL, "us-east-1");
	expect_region("https://sfo3.digitaloceanspaces.com.evil.example", NULL,
	    "us-east-1");
}

static void
test_error_xml(void **state)
{
	static const char	 body[] =
	    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	    "<Error><Code>SignatureDoesNotMatch</Code><Message>The request "
	    "signature we calculated does not match the signature you "
	    "provided.\nCheck your key.</Message><Key>x.png</Key>"
	    "<BucketName>aesthetic-pds-blobs</BucketName><Resource>"
	    "/aesthetic-pds-blobs/x.png</Resource><RequestId>1</RequestId>"
	    "</Error>";
	char			 out[1024], code[64];

	spaces_format_error(out, sizeof(out), "GET", "aesthetic-pds-blobs",
	    "x.png", 403, body, sizeof(body) - 1, code, sizeof(code));
	assert_string_equal(out, "GET aesthetic-pds-blobs/x.png: 403 "
	    "SignatureDoesNotMatch: The request signature we calculated does "
	    "not match the signature you provided. Check your key.");
	assert_string_equal(code, "SignatureDoesNotMatch");

	/* A HEAD has no body: the status speaks. */
	spaces_format_error(out, sizeof(out), "HEAD", "b", "k", 404, NULL, 0,
	    code, sizeof(code));
	assert_string_equal(out, "HEAD b/k: 404 NotFound");
	assert_string_equal(code, "NotFound");

	/* SlowDown, with no message. */
	spaces_format_error(out, sizeof(out), "PUT", "b", "k", 503,
	    "<Error><Code>SlowDown</Code></Error>", 36, code, sizeof(code));
	assert_string_equal(out, "PUT b/k: 503 SlowDown");
	assert_string_equal(code, "SlowDown");

	/* Not XML (a proxy's page): said so, on one line. */
	spaces_format_error(out, sizeof(out), "LIST", "b", "p/", 502,
	    "<html>\n<body>Bad Gateway", 24, code, sizeof(code));
	assert_string_equal(out, "LIST b/p/: 502, and the answer is not an S3 "
	    "error: <html> <body>Bad Gateway");
	assert_string_equal(code, "");

	/* Well-formed XML that is no Error. */
	spaces_format_error(out, sizeof(out), "GET", "b", NULL, 500,
	    "<Other/>", 8, code, sizeof(code));
	assert_non_null(strstr(out, "GET b: 500, and the answer is not an S3 error"));
}

/* What the listing callback saw. */
struct seen {
	char	 keys[16][128];
	uint64_t sizes[16];
	char	 etags[16][64];
	bool	 prefix[16];
	size_t	 n;
	size_t	 stop_after;
};

static int
collect(const struct spaces_object *o, void *arg)
{
	struct seen	*s = arg;

	assert_true(s->n < 16);
	snprintf(s->keys[s->n], sizeof(s->keys[0]), "%s", o->key);
	snprintf(s->etags[s->n], sizeof(s->etags[0]), "%s", o->etag);
	s->sizes[s->n] = o->size;
	s->prefix[s->n] = o->is_prefix;
	s->n++;
	return s->stop_after != 0 && s->n == s->stop_after;
}

static const char	 page[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
    "<Name>user-aesthetic-computer</Name><Prefix>a</Prefix>"
    "<NextContinuationToken>1ABC/def+=</NextContinuationToken>"
    "<KeyCount>3</KeyCount><MaxKeys>3</MaxKeys><IsTruncated>true</IsTruncated>"
    "<Contents><Key>a/tom &amp; jerry.png</Key>"
    "<LastModified>2025-01-02T03:04:05.000Z</LastModified>"
    "<ETag>&#34;d41d8cd98f00b204e9800998ecf8427e&#34;</ETag>"
    "<Size>0</Size><StorageClass>STANDARD</StorageClass></Contents>"
    "<Contents><Key>a/m\xc3\xbcller 日本+1.mp4</Key>"
    "<LastModified>2025-01-02T03:04:06.000Z</LastModified>"
    "<ETag>\"abc-2\"</ETag><Size>12582912</Size>"
    "<Owner><ID>x</ID><DisplayName>y</DisplayName></Owner></Contents>"
    "<Contents><Key>a/big</Key><Size>3000000000</Size></Contents>"
    "<CommonPrefixes><Prefix>a/sub/</Prefix></CommonPrefixes>"
    "</ListBucketResult>";

/* Feed text in chunks of n bytes; return the parser's verdict. */
static int
feed_chunks(struct spaces_listparse *lp, const char *text, size_t len,
    size_t n, struct seen *seen, size_t *seen_before_end)
{
	for (size_t off = 0; off < len; off += n) {
		size_t	 k = len - off < n ? len - off : n;

		if (spaces_listparse_feed(lp, text + off, k, false) == -1)
			return -1;
	}
	*seen_before_end = seen->n;
	return spaces_listparse_feed(lp, NULL, 0, true);
}

static void
test_list_streams(void **state)
{
	size_t	 chunks[] = { 1, 3, 7, 64, sizeof(page) };

	for (size_t c = 0; c < sizeof(chunks) / sizeof(chunks[0]); c++) {
		struct spaces_listparse	*lp = malloc(sizeof(*lp));
		struct seen		 seen = { .n = 0 };
		size_t			 before_end;

		assert_non_null(lp);
		assert_int_equal(spaces_listparse_init(lp, collect, &seen), 0);
		assert_int_equal(feed_chunks(lp, page, sizeof(page) - 1,
		    chunks[c], &seen, &before_end), 0);
		/* Every entry was delivered before the document ended. */
		assert_int_equal(before_end, 4);
		assert_int_equal(seen.n, 4);
		assert_string_equal(seen.keys[0], "a/tom & jerry.png");
		assert_int_equal(seen.sizes[0], 0);
		assert_string_equal(seen.etags[0], "d41d8cd98f00b204e9800998ecf8427e");
		assert_string_equal(seen.keys[1], "a/m\xc3\xbcller 日本+1.mp4");
		assert_int_equal(seen.sizes[1], 12582912);
		assert_string_equal(seen.etags[1], "abc-2");
		assert_string_equal(seen.keys[2], "a/big");
		assert_true(seen.sizes[2] == 3000000000ULL);
		assert_false(seen.prefix[2]);
		assert_string_equal(seen.keys[3], "a/sub/");
		assert_true(seen.prefix[3]);
		assert_true(lp->truncated);
		assert_string_equal(lp->next_token, "1ABC/def+=");
		spaces_listparse_free(lp);
		free(lp);
	}
}

static void
test_list_empty(void **state)
{
	static const char	 empty[] =
	    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	    "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
	    "<Name>b</Name><Prefix></Prefix><KeyCount>0</KeyCount>"
	    "<MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated>"
	    "</ListBucketResult>";
	struct spaces_listparse	*lp = malloc(sizeof(*lp));
	struct seen		 seen = { .n = 0 };
	size_t			 before_end;

	assert_non_null(lp);
	assert_int_equal(spaces_listparse_init(lp, collect, &seen), 0);
	assert_int_equal(feed_chunks(lp, empty, sizeof(empty) - 1, 5, &seen,
	    &before_end), 0);
	assert_int_equal(seen.n, 0);
	assert_false(lp->truncated);
	assert_string_equal(lp->next_token, "");
	spaces_listparse_free(lp);
	free(lp);
}

/* Each bad document fails, with why. */
static void
expect_list_error(const char *doc, const char *want)
{
	struct spaces_listparse	*lp = malloc(sizeof(*lp));
	struct seen		 seen = { .n = 0 };
	size_t			 before_end;

	assert_non_null(lp);
	assert_int_equal(spaces_listparse_init(lp, collect, &seen), 0);
	assert_int_equal(feed_chunks(lp, doc, strlen(doc), 4, &seen,
	    &before_end), -1);
	if (strstr(lp->err, want) == NULL)
		fail_msg("error '%s' does not mention '%s'", lp->err, want);
	spaces_listparse_free(lp);
	free(lp);
}

static void
test_list_malformed(void **state)
{
	expect_list_error("", "no element found");
	expect_list_error("<ListBucketResult><Contents><Key>a</Key>",
	    "no element found");
	expect_list_error("<Error><Code>x</Code></Error>", "not ListBucketResult");
	expect_list_error("<ListBucketResult><Contents><Key>a</Key><Size>-1"
	    "</Size></Contents></ListBucketResult>", "Size");
	expect_list_error("<ListBucketResult><Contents><Size>1</Size>"
	    "</Contents></ListBucketResult>", "without a key");
	expect_list_error("<ListBucketResult><Contents><Key>a &bogus;</Key>"
	    "</Contents></ListBucketResult>", "undefined entity");
	expect_list_error("not xml", "syntax error");
}

/* The callback stops the listing; a retried page skips what was seen. */
static void
test_list_stop_and_retry(void **state)
{
	struct spaces_listparse	*lp = malloc(sizeof(*lp));
	struct seen		 seen = { .stop_after = 2 };
	size_t			 before_end;

	assert_non_null(lp);
	assert_int_equal(spaces_listparse_init(lp, collect, &seen), 0);
	assert_int_equal(spaces_listparse_feed(lp, page, sizeof(page) - 1,
	    false), 0);
	assert_true(lp->stopped);
	assert_int_equal(seen.n, 2);

	/* A retry of the page: the first two are not delivered again. */
	seen.stop_after = 0;
	spaces_listparse_reset(lp);
	assert_false(lp->stopped);
	assert_int_equal(feed_chunks(lp, page, sizeof(page) - 1, 9, &seen,
	    &before_end), 0);
	assert_int_equal(seen.n, 4);
	assert_string_equal(seen.keys[2], "a/big");
	assert_string_equal(seen.keys[3], "a/sub/");
	spaces_listparse_free(lp);
	free(lp);
}

static void
test_open_rejects(void **state)
{
	struct spaces		 s;
	struct spaces_opts	 o = { .endpoint = "sfo3.digitaloceanspaces.com",
				    .key = "k", .secret = "s" };
	char			 err[256];

	assert_int_equal(spaces_open(&s, &o, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "expected http(s)://host"));
	o.endpoint = "https://sfo3.digitaloceanspaces.com/bucket";
	assert_int_equal(spaces_open(&s, &o, err, sizeof(err)), -1);
	o.endpoint = "ftp://x";
	assert_int_equal(spaces_open(&s, &o, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "http or https"));
	o.endpoint = "https://sfo3.digitaloceanspaces.com/";
	o.secret = "";
	assert_int_equal(spaces_open(&s, &o, err, sizeof(err)), -1);
	o.secret = "s";
	assert_int_equal(spaces_open(&s, &o, err, sizeof(err)), 0);
	assert_string_equal(s.region, "sfo3");
	assert_string_equal(s.sigv4, "aws:amz:sfo3:s3");
	assert_string_equal(s.host, "sfo3.digitaloceanspaces.com");
	assert_string_equal(s.scheme, "https");
	spaces_close(&s);
}

/* The endpoint's tricky forms: what the client connects to, or why not. */
static void
test_open_endpoints(void **state)
{
	static const struct {
		const char	*endpoint;	/* as configured */
		const char	*host;		/* s.host, or NULL: refused */
		const char	*why;		/* in the error when refused */
	} cases[] = {
		{ "http://127.0.0.1:9000", "127.0.0.1:9000", NULL },
		{ "http://127.0.0.1:9000/", "127.0.0.1:9000", NULL },
		{ "https://nyc3.digitaloceanspaces.com//",
		  "nyc3.digitaloceanspaces.com", NULL },
		{ "http://[::1]:9000", "[::1]:9000", NULL },
		{ "http://[::1]", "[::1]", NULL },
		{ "https://nyc3.digitaloceanspaces.com/bucket", NULL,
		  "path, query or fragment" },
		{ "https://nyc3.digitaloceanspaces.com?x=1", NULL,
		  "path, query or fragment" },
		{ "https://nyc3.digitaloceanspaces.com/#f", NULL,
		  "path, query or fragment" },
		{ "https://key:hunter2@nyc3.digitaloceanspaces.com", NULL,
		  "'https://key:****@nyc3.digitaloceanspaces.com': expected "
		  "http(s)://host[:port] (a user or password" },
		{ "http://127.0.0.1:99999", NULL, "Port number" },
		{ "http://127.0.0.1:0", NULL, "from 1 to 65535" },
		{ "https://", NULL, "No host part" },
		{ "https:///bucket", NULL, "followed by // and the host" },
		{ "s3://bucket", NULL, "http or https" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct spaces		 s;
		struct spaces_opts	 o = { .endpoint = cases[i].endpoint,
					    .key = "k", .secret = "s" };
		char			 err[256] = "";
		int			 rc;

		rc = spaces_open(&s, &o, err, sizeof(err));
		if (cases[i].host == NULL) {
			if (rc != -1)
				fail_msg("'%s' was accepted",
				    cases[i].endpoint);
			if (strstr(err, cases[i].why) == NULL)
				fail_msg("'%s': '%s' does not mention '%s'",
				    cases[i].endpoint, err, cases[i].why);
			assert_null(strstr(err, "hunter2"));
			continue;
		}
		if (rc != 0)
			fail_msg("'%s' was refused: %s", cases[i].endpoint,
			    err);
		assert_string_equal(s.host, cases[i].host);
		assert_string_equal(s.region, strstr(cases[i].host, "nyc3") ?
		    "nyc3" : "us-east-1");
		spaces_close(&s);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encode),
		cmocka_unit_test(test_query_sorted),
		cmocka_unit_test(test_region),
		cmocka_unit_test(test_error_xml),
		cmocka_unit_test(test_list_streams),
		cmocka_unit_test(test_list_empty),
		cmocka_unit_test(test_list_malformed),
		cmocka_unit_test(test_list_stop_and_retry),
		cmocka_unit_test(test_open_rejects),
		cmocka_unit_test(test_open_endpoints),
	};
	return cmocka_run_group_tests_name("spaces", tests, NULL, NULL);
}
