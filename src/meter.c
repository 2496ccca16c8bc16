/*
 * meter.c: the stage of a backup's pipeline that counts and hashes the
 * stored bytes, and the check of them against the backup's record.
 *
 * A backup records the size and SHA-256 of the object it stored
 * (backup.c), so whoever reads the object back can tell "the object in
 * Spaces is not what was stored" from "a later stage refused it".  The
 * meter sits next to Spaces in both directions: in front of the upload
 * when writing, straight after the GET when reading (fetch, verify,
 * restore).  It hashes every byte it sees and passes it on.
 *
 * Two ways to meet a stage that refuses.  Passing the failure through
 * (the upload, fetch) stops the pipeline at once.  Draining (restore)
 * keeps reading and hashing the rest of the object after a stage
 * refused, without passing it on, and keeps the stage's complaint: a
 * damaged object then fails the hash and is named as damaged, not by
 * whatever symptom the gunzip or the archive reader happened to see,
 * and the complaint is still told beside it.
 *
 * meter_check() is the one place that compares the bytes read with the
 * record and words the mismatch.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "extern.h"

static int
meter_write(void *ctx, const void *buf, size_t len, char *err, size_t errsz)
{
	struct meter	*m = ctx;

	if (EVP_DigestUpdate(m->sha, buf, len) != 1) {
		snprintf(err, errsz, "sha256 failed");
		return -1;
	}
	m->bytes += len;
	if (!m->drain)
		return m->next.write(m->next.ctx, buf, len, err, errsz);
	if (!m->stage_failed && m->next.write(m->next.ctx, buf, len,
	    m->stage_err, sizeof(m->stage_err)) != 0) {
		m->stage_failed = true;
		m->next.abort(m->next.ctx);
	}
	return 0;
}

static int
meter_finish(void *ctx, char *err, size_t errsz)
{
	struct meter	*m = ctx;

	if (!m->drain)
		return m->next.finish(m->next.ctx, err, errsz);
	if (!m->stage_failed && m->next.finish(m->next.ctx, m->stage_err,
	    sizeof(m->stage_err)) != 0)
		m->stage_failed = true;
	return 0;
}

static void
meter_abort(void *ctx)
{
	struct meter	*m = ctx;

	if (!m->stage_failed)
		m->next.abort(m->next.ctx);
	m->stage_failed = m->drain;
}

/* Start counting and hashing in front of next, draining after a stage
 * refused if drain; -1 when out of memory (meter_free() still due). */
int
meter_init(struct meter *m, struct sink next, bool drain)
{
	memset(m, 0, sizeof(*m));
	m->next = next;
	m->drain = drain;
	if ((m->sha = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(m->sha, EVP_sha256(), NULL) != 1)
		return -1;
	return 0;
}

/* The meter as the first stage a writer or a GET writes into. */
struct sink
meter_sink(struct meter *m)
{
	struct sink	 s = { meter_write, meter_finish, meter_abort, m };

	return s;
}

/* The hex SHA-256 of what went through; call once, at the end. */
void
meter_hex(struct meter *m, char hex[METER_HEX])
{
	unsigned char	 md[EVP_MAX_MD_SIZE];
	unsigned int	 n = 0;

	if (EVP_DigestFinal_ex(m->sha, md, &n) != 1)
		n = 0;
	hex_lower(md, n, hex);
}

/*
 * After the object was read to its end: 0 if its bytes are the record's
 * (sha256, bytes.stored) and no stage refused them; else -1 with err
 * saying which, the damage first.
 */
int
meter_check(struct meter *m, const bson_t *rec, char *err, size_t errsz)
{
	const char	*bucket = mongo_get_utf8(rec, "bucket");
	const char	*key = mongo_get_utf8(rec, "key");
	const char	*want = mongo_get_utf8(rec, "sha256");
	int64_t		 size = mongo_get_int64(rec, "bytes.stored", -1);
	char		 hex[METER_HEX];

	meter_hex(m, hex);
	if (want == NULL || strcmp(hex, want) != 0 ||
	    (int64_t)m->bytes != size) {
		snprintf(err, errsz, "s3://%s/%s is not what was stored: "
		    "sha256 %s of %" PRIu64 " bytes, the record says %s of %"
		    PRId64 "%s%s", bucket != NULL ? bucket : "?",
		    key != NULL ? key : "?", hex, m->bytes,
		    want != NULL ? want : "none", size,
		    m->stage_failed ? "; reading it: " : "",
		    m->stage_failed ? m->stage_err : "");
		return -1;
	}
	if (m->stage_failed) {
		snprintf(err, errsz, "%s", m->stage_err);
		return -1;
	}
	return 0;
}

void
meter_free(struct meter *m)
{
	EVP_MD_CTX_free(m->sha);
	m->sha = NULL;
}
