/*
 * credential.c: the random secrets silo hands out, and how it keeps them.
 *
 * silo gives out two kinds of bearer secret: the session id in a
 * person's cookie and a service's API token.  Both are 32 bytes from
 * OpenSSL's CSPRNG written in base64url (43 characters, no padding), so
 * they travel in a cookie or a header without escaping.  A token carries
 * the prefix "silo_", so that a secret scanner (or a person) can tell one
 * in a paste.
 *
 * silo stores neither.  It keeps the SHA-256 of each, in hex, and looks
 * a presented secret up by that digest.  A plain hash is enough here,
 * unlike for passwords (password.c): 256 random bits cannot be guessed
 * from their hash, so nothing is gained by making the hash slow, and a
 * lookup by digest costs one index probe per request.  A copy of silo's
 * database therefore opens no session and authenticates no service.
 *
 * The same base64 code serves password.c's PHC strings (standard
 * alphabet, no padding).
 */
#include "config.h"

#include <string.h>

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "extern.h"

/* The base64 of n bytes (at most CREDENTIAL_B64_MAX_IN) without padding,
 * in the standard or URL alphabet, into out (room for
 * CREDENTIAL_B64_LEN(n) + 1).  OpenSSL writes the padding, so it encodes
 * into a buffer of its own first. */
void
credential_b64(const unsigned char *in, size_t n, bool url, char *out)
{
	unsigned char	 padded[4 * ((CREDENTIAL_B64_MAX_IN + 2) / 3) + 1];
	size_t		 len;

	if (n > CREDENTIAL_B64_MAX_IN)
		n = CREDENTIAL_B64_MAX_IN;
	EVP_EncodeBlock(padded, in, (int)n);
	len = CREDENTIAL_B64_LEN(n);
	memcpy(out, padded, len);
	out[len] = '\0';
	if (url)
		for (char *p = out; *p != '\0'; p++)
			*p = *p == '+' ? '-' : *p == '/' ? '_' : *p;
}

/*
 * Decode unpadded standard base64 text into out[outsz]; the length, or -1
 * when the text is not base64 or does not fit.
 */
int
credential_b64_decode(const char *text, unsigned char *out, size_t outsz)
{
	unsigned char	 padded[256], raw[256];
	size_t		 len = strlen(text), plen = len, pad;
	int		 n;

	if (len == 0 || len % 4 == 1 || len + 3 > sizeof(padded))
		return -1;
	for (size_t i = 0; i < len; i++)
		if (!((text[i] >= 'A' && text[i] <= 'Z') ||
		    (text[i] >= 'a' && text[i] <= 'z') ||
		    (text[i] >= '0' && text[i] <= '9') || text[i] == '+' ||
		    text[i] == '/'))
			return -1;
	memcpy(padded, text, len);
	while (plen % 4 != 0)
		padded[plen++] = '=';
	pad = plen - len;
	if ((n = EVP_DecodeBlock(raw, padded, (int)plen)) < 0 ||
	    (size_t)n < pad || (size_t)n - pad > outsz)
		return -1;
	memcpy(out, raw, (size_t)n - pad);
	return n - (int)pad;
}

/* A new secret: prefix, then 32 random bytes in base64url, into
 * out[CREDENTIAL_MAX]. */
int
credential_new(const char *prefix, char *out, size_t outsz)
{
	unsigned char	 raw[CREDENTIAL_BYTES];
	size_t		 plen = strlen(prefix);

	if (plen + CREDENTIAL_B64_LEN(CREDENTIAL_BYTES) + 1 > outsz ||
	    RAND_bytes(raw, sizeof(raw)) != 1)
		return -1;
	memcpy(out, prefix, plen);
	credential_b64(raw, sizeof(raw), true, out + plen);
	OPENSSL_cleanse(raw, sizeof(raw));
	return 0;
}

/* The SHA-256 of len bytes of a secret, in hex: the form silo stores. */
void
credential_digest(const char *secret, size_t len,
    char hex[CREDENTIAL_DIGEST_HEX])
{
	unsigned char	 md[SHA256_DIGEST_LENGTH];

	SHA256((const unsigned char *)secret, len, md);
	hex_lower(md, sizeof(md), hex);
}

/* Is text shaped like a secret credential_new() made with prefix?  Checked
 * before any lookup, so that junk never reaches the database. */
bool
credential_well_formed(const char *text, size_t len, const char *prefix)
{
	size_t	 plen = strlen(prefix);

	if (len != plen + CREDENTIAL_B64_LEN(CREDENTIAL_BYTES) ||
	    strncmp(text, prefix, plen) != 0)
		return false;
	for (size_t i = plen; i < len; i++)
		if (!((text[i] >= 'A' && text[i] <= 'Z') ||
		    (text[i] >= 'a' && text[i] <= 'z') ||
		    (text[i] >= '0' && text[i] <= '9') || text[i] == '-' ||
		    text[i] == '_'))
			return false;
	return true;
}
