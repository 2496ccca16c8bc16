/*
 * totp.c: one-time codes from an authenticator app (RFC 6238).
 *
 * A second factor for people who sign in: the code an app shows, which
 * changes every 30 seconds.  The app and silo share a random 20-byte
 * secret; the code for time step T (seconds since the epoch / 30) is
 * HOTP (RFC 4226): HMAC-SHA1 of T as 8 big-endian bytes, dynamically
 * truncated to 31 bits, modulo 10^6.  SHA-1, 6 digits and 30 seconds are
 * what every authenticator app assumes when the provisioning URI says
 * nothing else, so silo says nothing else.  The HMAC is OpenSSL's.
 *
 * A code is accepted for the step before and after the current one (a
 * phone's clock drifts, and a person types slowly), and the step that
 * matched is returned so that the caller can refuse it a second time:
 * a code seen once, by a shoulder or a proxy log, opens nothing
 * (RFC 6238 section 5.2).  users.c keeps the last accepted step per user.
 *
 * Secrets are shown to people in base32 (RFC 4648, no padding), inside
 * an otpauth:// URI that apps read from a QR code or a paste.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "extern.h"

#define	TOTP_STEP_S	30	/* seconds per code */
#define	TOTP_DIGITS	6	/* digits per code */
#define	TOTP_WINDOW	1	/* steps accepted either side of now */

static const char	totp_b32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/* RFC 4648 base32 of n bytes, unpadded, into out (8 chars per 5 bytes,
 * rounded up, and a NUL). */
void
totp_base32(const unsigned char *in, size_t n, char *out)
{
	unsigned	 buf = 0;
	int		 bits = 0;
	size_t		 o = 0;

	for (size_t i = 0; i < n; i++) {
		buf = (buf << 8) | in[i];
		bits += 8;
		while (bits >= 5) {
			out[o++] = totp_b32[(buf >> (bits - 5)) & 31];
			bits -= 5;
		}
	}
	if (bits > 0)
		out[o++] = totp_b32[(buf << (5 - bits)) & 31];
	out[o] = '\0';
}

/* Decode RFC 4648 base32 text (upper case, unpadded) into out[outsz];
 * the byte count, or -1 when it is not base32 or does not fit. */
int
totp_base32_decode(const char *text, unsigned char *out, size_t outsz)
{
	unsigned	 buf = 0;
	int		 bits = 0;
	size_t		 o = 0;
	const char	*at;

	if (text == NULL)
		return -1;
	for (const char *p = text; *p != '\0'; p++) {
		if ((at = strchr(totp_b32, *p)) == NULL)
			return -1;
		buf = (buf << 5) | (unsigned)(at - totp_b32);
		bits += 5;
		if (bits >= 8) {
			if (o == outsz)
				return -1;
			out[o++] = (unsigned char)(buf >> (bits - 8));
			bits -= 8;
		}
	}
	return (int)o;
}

/* The code for one time step, as a number below 10^6. */
static unsigned
totp_code_at(const unsigned char *secret, size_t len, uint64_t step)
{
	unsigned char	 msg[8], md[EVP_MAX_MD_SIZE];
	unsigned int	 mdlen = 0;
	unsigned	 off, bin;

	for (int i = 7; i >= 0; i--, step >>= 8)
		msg[i] = (unsigned char)(step & 0xff);
	HMAC(EVP_sha1(), secret, (int)len, msg, sizeof(msg), md, &mdlen);
	off = md[mdlen - 1] & 0x0f;
	bin = ((unsigned)(md[off] & 0x7f) << 24) |
	    ((unsigned)md[off + 1] << 16) | ((unsigned)md[off + 2] << 8) |
	    md[off + 3];
	OPENSSL_cleanse(md, sizeof(md));
	return bin % 1000000u;
}

/*
 * Does code (six digits) match the secret at now_s, within the window,
 * at a step later than last_step?  *step is the step that matched.
 * Every step of the window is computed and compared in constant time,
 * so the answer takes the same time whichever matched.
 */
bool
totp_verify(const unsigned char *secret, size_t len, const char *code,
    int64_t now_s, int64_t last_step, int64_t *step)
{
	int64_t		 now_step = now_s / TOTP_STEP_S;
	char		 want[TOTP_DIGITS + 1];
	bool		 found = false;

	if (strlen(code) != TOTP_DIGITS ||
	    strspn(code, "0123456789") != TOTP_DIGITS)
		return false;
	for (int64_t s = now_step - TOTP_WINDOW; s <= now_step + TOTP_WINDOW;
	    s++) {
		snprintf(want, sizeof(want), "%0*u", TOTP_DIGITS,
		    totp_code_at(secret, len, (uint64_t)s));
		if (CRYPTO_memcmp(want, code, TOTP_DIGITS) == 0 &&
		    s > last_step && !found) {
			*step = s;
			found = true;
		}
	}
	return found;
}
