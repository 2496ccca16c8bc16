/*
 * seal.c: the encryption layer of a backup, AES-256-GCM in chunks.
 *
 * A backup is one long byte stream (a gzipped mongodump archive) that is
 * never held whole: it is written to Spaces part by part and read back
 * the same way.  One GCM message over the whole stream would need the
 * whole stream before its tag could be checked, so a reader would either
 * buffer gigabytes or pass on plaintext it has not verified.  Instead the
 * stream is cut into chunks (SEAL_CHUNK, 1 MiB of plaintext, recorded in
 * the header) and each chunk is its own GCM message with its own tag.
 * A reader verifies a chunk before it hands on a byte of it, and its
 * memory is one chunk whatever the size of the backup.
 *
 * The construction is STREAM (Hoang, Reyhanitabar, Rogaway and Vizar,
 * "Online Authenticated-Encryption and its Nonce-Reuse Misuse-
 * Resistance", 2015) as age's payload and Tink's AES-GCM-HKDF streaming
 * AEAD instantiate it:
 *
 *   - Each object has its own key: HKDF-SHA256 of the key file's 32
 *     bytes with a 32-byte random salt from the header (SEAL_INFO as
 *     HKDF's info).  The master key never encrypts anything itself.
 *   - Chunk i's 96-bit nonce is i, big-endian (four zero bytes, then i
 *     in eight).  It is unique because, under one object key, i counts
 *     up from 0 and is used once; and object keys differ because their
 *     salts are 256 random bits, so two objects share a key (and so a
 *     nonce sequence) with probability about n^2 / 2^257 for n objects.
 *     Nothing depends on a counter kept between runs or on the clock.
 *   - Each chunk's additional data is the whole header, i, and the
 *     chunk's frame (a final flag and the plaintext length), so a chunk
 *     cannot be moved to another place, another object, or made final
 *     or not final: reordering, splicing and truncation all fail a tag.
 *     The last chunk is marked final; a stream that ends without a
 *     verified final chunk is truncated, and a byte after it is an error.
 *
 * The frame, unlike age's, carries the chunk's length in clear (as a TLS
 * record does), so that the reader knows where a chunk ends without
 * trying to decrypt it, and each failure is named exactly: a tampered
 * chunk, a stream cut inside a chunk or after one, bytes after the final
 * chunk.  The frame is unauthenticated until the chunk's tag is checked,
 * so the reader only bounds it (a non-final chunk is exactly the chunk
 * size, the final one at most that), and the tag then covers it.
 *
 * The header also names the key by its id, a 64-bit prefix of SHA-256
 * over a domain-separated input, which says "wrong key" before any
 * decryption and gives away nothing about the key.  docs/backup-format.md
 * gives the bytes, and how to decrypt an object with any AES-GCM library.
 *
 * Key files are 32 random bytes, created 0600 and never overwritten;
 * reading one refuses a file group or others can read or write.  Every
 * copy of key material is wiped with OPENSSL_cleanse once it is done.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>

#include "extern.h"

#define	SEAL_MAGIC		"SILOSEAL"	/* the header's first bytes */
#define	SEAL_MAGIC_LEN		8		/* its length */
#define	SEAL_VERSION		1		/* the format written */
#define	SEAL_ID_RAW		(SEAL_KEY_ID_LEN / 2) /* key id bytes */
#define	SEAL_SALT_LEN		32		/* HKDF salt bytes */
#define	SEAL_NONCE_LEN		12		/* GCM's 96-bit nonce */
/* Additional data: the header, the chunk index and the chunk's frame. */
#define	SEAL_AAD_LEN		(SEAL_HEADER_LEN + 8 + SEAL_FRAME_LEN)
#define	SEAL_INFO		"silo backup seal v1 object key"
#define	SEAL_ID_DOMAIN		"silo backup key id" /* and its NUL */
#define	SEAL_MIN_BUF		(64u << 10)	/* a reader's first buffer */

/* Where the header's fields are. */
#define	SEAL_OFF_VERSION	8
#define	SEAL_OFF_CHUNK		9
#define	SEAL_OFF_KEY_ID		13
#define	SEAL_OFF_SALT		21

/* Where a stage is in its stream. */
enum seal_state {
	SEAL_HEADER,	/* writer: header not sent; reader: reading it */
	SEAL_FRAME,	/* reader: reading a chunk's frame */
	SEAL_BODY,	/* writer: gathering plaintext; reader: ciphertext */
	SEAL_DONE,	/* reader: the final chunk is verified */
	SEAL_FAILED,	/* an error; only abort() is left */
	SEAL_CLOSED	/* finished or aborted: the next stage is complete */
};

struct seal {
	bool		 reader;	/* decrypts (seal_open_new) */
	enum seal_state	 state;		/* where in the stream */
	struct sink	 next;		/* where the output goes */
	uint8_t		 master[SEAL_KEY_LEN]; /* reader: until the header */
	uint8_t		 header[SEAL_HEADER_LEN]; /* this object's header */
	uint32_t	 chunk;		/* plaintext bytes per chunk */
	uint64_t	 index;		/* the chunk being read or gathered */
	uint8_t		 frame[SEAL_FRAME_LEN]; /* reader: the chunk's frame */
	uint32_t	 len;		/* reader: the chunk's plaintext */
	size_t		 have;		/* bytes gathered of the current part */
	uint8_t		*buf;		/* frame, chunk and tag */
	size_t		 cap;		/* bytes allocated at buf */
	EVP_CIPHER_CTX	*cipher;	/* keyed with the object key */
};

static void seal_errf(char *, size_t, const char *, ...)
	__attribute__((format(printf, 3, 4)));
static int seal_fail(struct seal *, char *, size_t, const char *, ...)
	__attribute__((format(printf, 4, 5)));

/* ------------------------------------------------------------------ */
/* Keys                                                               */
/* ------------------------------------------------------------------ */

/* Formats an error into err, if there is room for one. */
static void
seal_errf(char *err, size_t errsz, const char *fmt, ...)
{
	va_list	 ap;

	if (err == NULL || errsz == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errsz, fmt, ap);
	va_end(ap);
}

int
seal_keygen(const char *path, char *err, size_t errsz)
{
	uint8_t	 key[SEAL_KEY_LEN];
	int	 fd = -1, rc = -1;

	if (RAND_bytes(key, sizeof(key)) != 1) {
		seal_errf(err, errsz, "%s: no random bytes from OpenSSL", path);
		goto out;
	}
	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
	    0600)) == -1) {
		seal_errf(err, errsz, errno == EEXIST ? "%s: exists; a key "
		    "file is never overwritten" : "%s: %s", path,
		    strerror(errno));
		goto out;
	}
	/* The umask may only take bits away; make the mode exact. */
	errno = ENOSPC;		/* what a short write means */
	if (fchmod(fd, 0600) == -1 ||
	    write(fd, key, sizeof(key)) != (ssize_t)sizeof(key) ||
	    fsync(fd) == -1) {
		seal_errf(err, errsz, "%s: %s", path, strerror(errno));
		unlink(path);
		goto out;
	}
	rc = 0;
out:
	if (fd != -1 && close(fd) == -1 && rc == 0) {
		seal_errf(err, errsz, "%s: %s", path, strerror(errno));
		unlink(path);
		rc = -1;
	}
	OPENSSL_cleanse(key, sizeof(key));
	return rc;
}

int
seal_key_load(const char *path, uint8_t key[SEAL_KEY_LEN], char *err,
    size_t errsz)
{
	struct stat	 st;
	uint8_t		 buf[SEAL_KEY_LEN + 1];
	ssize_t		 n;
	int		 fd, rc = -1;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		seal_errf(err, errsz, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == -1) {
		seal_errf(err, errsz, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		seal_errf(err, errsz, "%s: not a regular file", path);
		goto out;
	}
	if ((st.st_mode & 077) != 0) {
		seal_errf(err, errsz, "%s: mode %04o lets group or others at "
		    "the key; chmod 600 %s", path,
		    (unsigned)(st.st_mode & 07777), path);
		goto out;
	}
	do
		n = read(fd, buf, sizeof(buf));
	while (n == -1 && errno == EINTR);
	if (n == -1) {
		seal_errf(err, errsz, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (n != SEAL_KEY_LEN || st.st_size != SEAL_KEY_LEN) {
		seal_errf(err, errsz, "%s: %lld bytes; a key file is exactly "
		    "%d (silo backup keygen)", path, (long long)st.st_size,
		    SEAL_KEY_LEN);
		goto out;
	}
	memcpy(key, buf, SEAL_KEY_LEN);
	rc = 0;
out:
	OPENSSL_cleanse(buf, sizeof(buf));
	close(fd);
	return rc;
}

/* The key id's bytes: SHA-256("silo backup key id\0" || key), cut. */
static void
seal_key_id_raw(const uint8_t key[SEAL_KEY_LEN], uint8_t id[SEAL_ID_RAW])
{
	uint8_t		 md[EVP_MAX_MD_SIZE];
	unsigned int	 mdlen = 0;
	EVP_MD_CTX	*ctx = EVP_MD_CTX_new();

	if (ctx == NULL || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(ctx, SEAL_ID_DOMAIN,
	    sizeof(SEAL_ID_DOMAIN)) != 1 ||
	    EVP_DigestUpdate(ctx, key, SEAL_KEY_LEN) != 1 ||
	    EVP_DigestFinal_ex(ctx, md, &mdlen) != 1)
		abort();	/* SHA-256 is always there; out of memory */
	memcpy(id, md, SEAL_ID_RAW);
	EVP_MD_CTX_free(ctx);
}

/* Bytes as lower-case hex, NUL-terminated. */
static void
seal_hex(const uint8_t *p, size_t n, char *out)
{
	static const char	 digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * n] = '\0';
}

void
seal_key_id(const uint8_t key[SEAL_KEY_LEN], char out[SEAL_KEY_ID_LEN + 1])
{
	uint8_t	 id[SEAL_ID_RAW];

	seal_key_id_raw(key, id);
	seal_hex(id, sizeof(id), out);
}

/* ------------------------------------------------------------------ */
/* Chunks                                                             */
/* ------------------------------------------------------------------ */

static void
seal_put32(uint8_t *p, uint32_t v)
{
	for (int i = 3; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static uint32_t
seal_get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

static void
seal_put64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

/* Keys s->cipher with the object key, HKDF-SHA256(master, salt). */
static int
seal_derive(struct seal *s, const uint8_t master[SEAL_KEY_LEN])
{
	uint8_t		 okey[SEAL_KEY_LEN];
	OSSL_PARAM	 params[5];
	EVP_KDF		*kdf;
	EVP_KDF_CTX	*kctx = NULL;
	int		 rc = -1;

	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
	    (char *)"SHA256", 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY,
	    (void *)master, SEAL_KEY_LEN);
	params[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT,
	    s->header + SEAL_OFF_SALT, SEAL_SALT_LEN);
	params[3] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO,
	    (void *)SEAL_INFO, strlen(SEAL_INFO));
	params[4] = OSSL_PARAM_construct_end();
	if ((kdf = EVP_KDF_fetch(NULL, "HKDF", NULL)) != NULL &&
	    (kctx = EVP_KDF_CTX_new(kdf)) != NULL &&
	    EVP_KDF_derive(kctx, okey, sizeof(okey), params) == 1 &&
	    (s->cipher = EVP_CIPHER_CTX_new()) != NULL &&
	    EVP_CipherInit_ex(s->cipher, EVP_aes_256_gcm(), NULL, okey, NULL,
	    s->reader ? 0 : 1) == 1)
		rc = 0;
	EVP_KDF_CTX_free(kctx);
	EVP_KDF_free(kdf);
	OPENSSL_cleanse(okey, sizeof(okey));
	return rc;
}

/*
 * Encrypts or decrypts chunk s->index in place: s->buf holds its frame,
 * then len bytes, then the tag (written when encrypting, checked when
 * decrypting).  -1 if the tag does not match, or OpenSSL fails.
 */
static int
seal_crypt(struct seal *s, size_t len)
{
	uint8_t	 nonce[SEAL_NONCE_LEN] = { 0 }, aad[SEAL_AAD_LEN];
	uint8_t	*data = s->buf + SEAL_FRAME_LEN, *tag = data + len;
	int	 n, enc = s->reader ? 0 : 1;

	seal_put64(nonce + 4, s->index);
	memcpy(aad, s->header, SEAL_HEADER_LEN);
	seal_put64(aad + SEAL_HEADER_LEN, s->index);
	memcpy(aad + SEAL_HEADER_LEN + 8, s->buf, SEAL_FRAME_LEN);
	if (EVP_CipherInit_ex(s->cipher, NULL, NULL, NULL, nonce, enc) != 1 ||
	    EVP_CipherUpdate(s->cipher, NULL, &n, aad, sizeof(aad)) != 1 ||
	    (len > 0 && EVP_CipherUpdate(s->cipher, data, &n, data,
	    (int)len) != 1))
		return -1;
	if (!enc && EVP_CIPHER_CTX_ctrl(s->cipher, EVP_CTRL_GCM_SET_TAG,
	    SEAL_TAG_LEN, tag) != 1)
		return -1;
	if (EVP_CipherFinal_ex(s->cipher, data + len, &n) != 1)
		return -1;
	if (enc && EVP_CIPHER_CTX_ctrl(s->cipher, EVP_CTRL_GCM_GET_TAG,
	    SEAL_TAG_LEN, tag) != 1)
		return -1;
	return 0;
}

/* Records a failure: the stream is dead, and err says why. */
static int
seal_fail(struct seal *s, char *err, size_t errsz, const char *fmt, ...)
{
	va_list	 ap;

	s->state = SEAL_FAILED;
	if (err != NULL && errsz > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errsz, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/* A stream that failed, was finished or aborted is written no more. */
static int
seal_dead(struct seal *s, char *err, size_t errsz)
{
	if (s->state == SEAL_FAILED)
		seal_errf(err, errsz, "sealed stream: written after an error");
	else
		seal_errf(err, errsz, "sealed stream: written after its end");
	s->state = SEAL_FAILED;
	return -1;
}

/* ------------------------------------------------------------------ */
/* Writing                                                            */
/* ------------------------------------------------------------------ */

/* Encrypts the gathered plaintext as chunk s->index and sends it on. */
static int
seal_emit(struct seal *s, bool final, char *err, size_t errsz)
{
	size_t	 len = s->have;

	if (s->state == SEAL_HEADER) {
		if (s->next.write(s->next.ctx, s->header, SEAL_HEADER_LEN,
		    err, errsz) == -1) {
			s->state = SEAL_FAILED;
			return -1;
		}
		s->state = SEAL_BODY;
	}
	s->buf[0] = final ? 1 : 0;
	seal_put32(s->buf + 1, (uint32_t)len);
	if (seal_crypt(s, len) == -1)
		return seal_fail(s, err, errsz, "chunk %llu: encryption "
		    "failed in OpenSSL", (unsigned long long)s->index);
	if (s->next.write(s->next.ctx, s->buf,
	    SEAL_FRAME_LEN + len + SEAL_TAG_LEN, err, errsz) == -1) {
		s->state = SEAL_FAILED;
		return -1;
	}
	s->index++;
	s->have = 0;
	return 0;
}

static int
seal_write(void *ctx, const void *p, size_t len, char *err, size_t errsz)
{
	struct seal	*s = ctx;
	const uint8_t	*in = p;
	size_t		 take;

	if (s->state != SEAL_HEADER && s->state != SEAL_BODY)
		return seal_dead(s, err, errsz);
	while (len > 0) {
		take = s->chunk - s->have;
		if (take > len)
			take = len;
		memcpy(s->buf + SEAL_FRAME_LEN + s->have, in, take);
		s->have += take;
		in += take;
		len -= take;
		if (s->have == s->chunk &&
		    seal_emit(s, false, err, errsz) == -1)
			return -1;
	}
	return 0;
}

static int
seal_finish(void *ctx, char *err, size_t errsz)
{
	struct seal	*s = ctx;

	if (s->state != SEAL_HEADER && s->state != SEAL_BODY) {
		if (s->state != SEAL_CLOSED)
			s->next.abort(s->next.ctx);
		s->state = SEAL_CLOSED;
		seal_errf(err, errsz, "sealed stream: finished after an "
		    "error or its end");
		return -1;
	}
	if (seal_emit(s, true, err, errsz) == -1) {
		s->next.abort(s->next.ctx);
		s->state = SEAL_CLOSED;
		return -1;
	}
	s->state = SEAL_CLOSED;
	return s->next.finish(s->next.ctx, err, errsz);
}

/* ------------------------------------------------------------------ */
/* Reading                                                            */
/* ------------------------------------------------------------------ */

/* The whole header is in: is it one this key can open? */
static int
seal_open_header(struct seal *s, char *err, size_t errsz)
{
	uint8_t	 id[SEAL_ID_RAW];
	char	 want[SEAL_KEY_ID_LEN + 1], got[SEAL_KEY_ID_LEN + 1];
	int	 rc;

	if (s->header[SEAL_OFF_VERSION] != SEAL_VERSION)
		return seal_fail(s, err, errsz, "unsupported sealed format "
		    "version %u (this silo reads version %d)",
		    s->header[SEAL_OFF_VERSION], SEAL_VERSION);
	s->chunk = seal_get32(s->header + SEAL_OFF_CHUNK);
	if (s->chunk == 0 || s->chunk > SEAL_MAX_CHUNK)
		return seal_fail(s, err, errsz, "bad chunk size %lu in the "
		    "header (1 to %u)", (unsigned long)s->chunk,
		    SEAL_MAX_CHUNK);
	seal_key_id_raw(s->master, id);
	if (memcmp(id, s->header + SEAL_OFF_KEY_ID, SEAL_ID_RAW) != 0) {
		seal_hex(id, SEAL_ID_RAW, want);
		seal_hex(s->header + SEAL_OFF_KEY_ID, SEAL_ID_RAW, got);
		return seal_fail(s, err, errsz, "wrong key (key id %s, this "
		    "object was sealed with %s)", want, got);
	}
	rc = seal_derive(s, s->master);
	OPENSSL_cleanse(s->master, sizeof(s->master));
	if (rc == -1)
		return seal_fail(s, err, errsz, "key derivation failed in "
		    "OpenSSL");
	s->state = SEAL_FRAME;
	s->have = 0;
	return 0;
}

/* The frame is in: bound the chunk's length before reading it. */
static int
seal_open_frame(struct seal *s, char *err, size_t errsz)
{
	unsigned long long	 i = s->index;

	s->len = seal_get32(s->frame + 1);
	if (s->frame[0] > 1)
		return seal_fail(s, err, errsz, "chunk %llu: bad final flag "
		    "%u (tampered)", i, s->frame[0]);
	if (s->len > s->chunk)
		return seal_fail(s, err, errsz, "chunk %llu: length %lu is "
		    "over the chunk size %lu (tampered)", i,
		    (unsigned long)s->len, (unsigned long)s->chunk);
	if (s->frame[0] == 0 && s->len != s->chunk)
		return seal_fail(s, err, errsz, "chunk %llu: length %lu of a "
		    "chunk not final is not the chunk size %lu (tampered)", i,
		    (unsigned long)s->len, (unsigned long)s->chunk);
	s->state = SEAL_BODY;
	s->have = 0;
	return 0;
}

/* Room at s->buf for need bytes; grows by doubling, up to one chunk. */
static int
seal_reserve(struct seal *s, size_t need, char *err, size_t errsz)
{
	size_t	 cap = s->cap < SEAL_MIN_BUF ? SEAL_MIN_BUF : s->cap;
	uint8_t	*p;

	if (need <= s->cap)
		return 0;
	while (cap < need)
		cap *= 2;
	if (cap > SEAL_FRAME_LEN + (size_t)s->chunk + SEAL_TAG_LEN)
		cap = SEAL_FRAME_LEN + (size_t)s->chunk + SEAL_TAG_LEN;
	if ((p = malloc(cap)) == NULL)
		return seal_fail(s, err, errsz, "out of memory");
	if (s->buf != NULL) {
		memcpy(p, s->buf, s->cap);
		OPENSSL_cleanse(s->buf, s->cap);
		free(s->buf);
	}
	s->buf = p;
	s->cap = cap;
	return 0;
}

/* The chunk is in: verify it, and only then pass its plaintext on. */
static int
seal_open_chunk(struct seal *s, char *err, size_t errsz)
{
	memcpy(s->buf, s->frame, SEAL_FRAME_LEN);
	if (seal_crypt(s, s->len) == -1) {
		OPENSSL_cleanse(s->buf, s->cap);
		return seal_fail(s, err, errsz, "chunk %llu: authentication "
		    "failed (tampered)", (unsigned long long)s->index);
	}
	if (s->next.write(s->next.ctx, s->buf + SEAL_FRAME_LEN, s->len, err,
	    errsz) == -1) {
		s->state = SEAL_FAILED;
		return -1;
	}
	s->state = s->frame[0] == 1 ? SEAL_DONE : SEAL_FRAME;
	s->index++;
	s->have = 0;
	return 0;
}

/* Takes up to len bytes into the part being read; returns how many. */
static size_t
seal_take(uint8_t *part, size_t *have, size_t want, const uint8_t *in,
    size_t len)
{
	size_t	 take = want - *have;

	if (take > len)
		take = len;
	memcpy(part + *have, in, take);
	*have += take;
	return take;
}

static int
seal_open_write(void *ctx, const void *p, size_t len, char *err,
    size_t errsz)
{
	struct seal	*s = ctx;
	const uint8_t	*in = p;
	size_t		 n, body, had;
	int		 rc = 0;

	while (len > 0 && rc == 0) {
		switch (s->state) {
		case SEAL_HEADER:
			had = s->have;
			n = seal_take(s->header, &s->have, SEAL_HEADER_LEN, in,
			    len);
			if (had < SEAL_MAGIC_LEN && memcmp(s->header,
			    SEAL_MAGIC, s->have < SEAL_MAGIC_LEN ? s->have :
			    SEAL_MAGIC_LEN) != 0)
				rc = seal_fail(s, err, errsz, "not a sealed "
				    "object (bad magic)");
			else if (s->have == SEAL_HEADER_LEN)
				rc = seal_open_header(s, err, errsz);
			break;
		case SEAL_FRAME:
			n = seal_take(s->frame, &s->have, SEAL_FRAME_LEN, in,
			    len);
			if (s->have == SEAL_FRAME_LEN)
				rc = seal_open_frame(s, err, errsz);
			break;
		case SEAL_BODY:
			body = (size_t)s->len + SEAL_TAG_LEN;
			n = body - s->have < len ? body - s->have : len;
			if (seal_reserve(s, SEAL_FRAME_LEN + s->have + n, err,
			    errsz) == -1)
				return -1;
			n = seal_take(s->buf + SEAL_FRAME_LEN, &s->have, body,
			    in, len);
			if (s->have == body)
				rc = seal_open_chunk(s, err, errsz);
			break;
		case SEAL_DONE:
			return seal_fail(s, err, errsz, "trailing data after "
			    "the final chunk (chunk %llu)",
			    (unsigned long long)s->index - 1);
		default:
			return seal_dead(s, err, errsz);
		}
		in += n;
		len -= n;
	}
	return rc;
}

/* Why a stream that ended here is not complete. */
static void
seal_open_short(struct seal *s, char *err, size_t errsz)
{
	unsigned long long	 i = s->index;

	if (s->state == SEAL_HEADER)
		seal_errf(err, errsz, "truncated: the header ends after %zu "
		    "of %d bytes", s->have, SEAL_HEADER_LEN);
	else if (s->state == SEAL_FRAME && s->have == 0 && i == 0)
		seal_errf(err, errsz, "truncated: no chunk after the header");
	else if (s->state == SEAL_FRAME && s->have == 0)
		seal_errf(err, errsz, "truncated: no final chunk after chunk "
		    "%llu", i - 1);
	else if (s->state == SEAL_FRAME)
		seal_errf(err, errsz, "truncated: chunk %llu ends after %zu "
		    "bytes of its %d-byte frame", i, s->have, SEAL_FRAME_LEN);
	else
		seal_errf(err, errsz, "truncated: chunk %llu ends after %zu "
		    "of %zu bytes", i, s->have,
		    (size_t)s->len + SEAL_TAG_LEN);
}

static int
seal_open_finish(void *ctx, char *err, size_t errsz)
{
	struct seal	*s = ctx;

	if (s->state == SEAL_DONE) {
		s->state = SEAL_CLOSED;
		return s->next.finish(s->next.ctx, err, errsz);
	}
	if (s->state == SEAL_FAILED || s->state == SEAL_CLOSED)
		seal_errf(err, errsz, "sealed stream: finished after an "
		    "error or its end");
	else
		seal_open_short(s, err, errsz);
	if (s->state != SEAL_CLOSED)
		s->next.abort(s->next.ctx);
	s->state = SEAL_CLOSED;
	return -1;
}

/* ------------------------------------------------------------------ */
/* Both                                                               */
/* ------------------------------------------------------------------ */

static void
seal_abort(void *ctx)
{
	struct seal	*s = ctx;

	if (s->state == SEAL_CLOSED)
		return;
	s->state = SEAL_CLOSED;
	if (s->buf != NULL)
		OPENSSL_cleanse(s->buf, s->cap);
	s->next.abort(s->next.ctx);
}

struct seal *
seal_new_sized(const uint8_t key[SEAL_KEY_LEN], uint32_t chunk,
    struct sink next)
{
	struct seal	*s;

	if (chunk == 0 || chunk > SEAL_MAX_CHUNK ||
	    (s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	s->next = next;
	s->chunk = chunk;
	s->state = SEAL_HEADER;
	memcpy(s->header, SEAL_MAGIC, SEAL_MAGIC_LEN);
	s->header[SEAL_OFF_VERSION] = SEAL_VERSION;
	seal_put32(s->header + SEAL_OFF_CHUNK, chunk);
	seal_key_id_raw(key, s->header + SEAL_OFF_KEY_ID);
	s->cap = SEAL_FRAME_LEN + (size_t)chunk + SEAL_TAG_LEN;
	if (RAND_bytes(s->header + SEAL_OFF_SALT, SEAL_SALT_LEN) != 1 ||
	    (s->buf = malloc(s->cap)) == NULL || seal_derive(s, key) == -1) {
		seal_free(s);
		return NULL;
	}
	return s;
}

struct seal *
seal_new(const uint8_t key[SEAL_KEY_LEN], struct sink next)
{
	return seal_new_sized(key, SEAL_CHUNK, next);
}

struct seal *
seal_open_new(const uint8_t key[SEAL_KEY_LEN], struct sink next)
{
	struct seal	*s;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	s->reader = true;
	s->next = next;
	s->state = SEAL_HEADER;
	memcpy(s->master, key, SEAL_KEY_LEN);
	return s;
}

struct sink
seal_sink(struct seal *s)
{
	struct sink	 in;

	in.write = s->reader ? seal_open_write : seal_write;
	in.finish = s->reader ? seal_open_finish : seal_finish;
	in.abort = seal_abort;
	in.ctx = s;
	return in;
}

void
seal_free(struct seal *s)
{
	if (s == NULL)
		return;
	if (s->buf != NULL) {
		OPENSSL_cleanse(s->buf, s->cap);
		free(s->buf);
	}
	EVP_CIPHER_CTX_free(s->cipher);
	OPENSSL_cleanse(s->master, sizeof(s->master));
	free(s);
}
