/*
 * password.c: people's passwords, hashed with scrypt.
 *
 * A password is the one secret silo keeps that a person chose, so it may
 * be guessable, and its hash must be slow to test.  scrypt (RFC 7914)
 * makes each guess cost memory as well as time, which is what makes
 * GPUs and ASICs poor at guessing; OpenSSL has it (EVP_PBE_scrypt), so
 * silo does not carry its own.
 *
 * The stored form is the PHC string format, as passlib and others write
 * scrypt:
 *
 *   $scrypt$ln=15,r=8,p=1$<salt>$<hash>
 *
 * with N = 2^ln, a 16-byte random salt and a 32-byte hash, both in
 * unpadded standard base64.  The parameters travel with each hash, so
 * they can be raised later (PASSWORD_LOG_N) without invalidating a single
 * stored password: old hashes verify with their own parameters.  The
 * default, N = 2^15, r = 8, p = 1, is RFC 7914's interactive setting and
 * needs 32 MiB for about 0.1 s on the droplet; verification refuses
 * parameters outside sane bounds, so that a tampered record cannot make
 * a login allocate gigabytes.
 *
 * The comparison is constant-time, and password_verify() does the same
 * work for a user who does not exist (password_dummy_verify()), so that
 * the time a failed sign-in takes says nothing about which part was
 * wrong.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "extern.h"

#define	PASSWORD_LOG_N		15	/* N = 2^15 for new hashes */
#define	PASSWORD_R		8	/* block size */
#define	PASSWORD_P		1	/* parallelism */
#define	PASSWORD_SALT		16	/* salt bytes */
#define	PASSWORD_HASH		32	/* derived bytes */
#define	PASSWORD_MAX_LOG_N	20	/* verify refuses more: 1 GiB at r=8 */
#define	PASSWORD_MAX_R		32	/* nor a larger block */
#define	PASSWORD_MAX_P		16	/* nor more parallelism */

/* A parsed PHC scrypt string. */
struct password_phc {
	int		 log_n;		/* N = 2^log_n */
	int		 r;		/* block size */
	int		 p;		/* parallelism */
	unsigned char	 salt[64];	/* the salt */
	size_t		 saltlen;	/* its length */
	unsigned char	 hash[64];	/* the stored hash */
	size_t		 hashlen;	/* its length */
};

/* scrypt with the given parameters; 0, or -1 when OpenSSL refuses. */
static int
password_scrypt(const char *password, const unsigned char *salt,
    size_t saltlen, int log_n, int r, int p, unsigned char *out,
    size_t outlen)
{
	uint64_t	 n = (uint64_t)1 << log_n;
	/* scrypt's own need is 128 * N * r * p; leave room for OpenSSL's. */
	uint64_t	 maxmem = 128 * n * (uint64_t)r * (uint64_t)p +
			    (1u << 20) * 2;

	return EVP_PBE_scrypt(password, strlen(password), salt, saltlen, n,
	    (uint64_t)r, (uint64_t)p, maxmem, out, outlen) == 1 ? 0 : -1;
}

/* Hash a new password into out[PASSWORD_PHC_MAX] with today's parameters. */
int
password_hash(const char *password, char *out, size_t outsz)
{
	unsigned char	 salt[PASSWORD_SALT], hash[PASSWORD_HASH];
	char		 salt64[CREDENTIAL_B64_LEN(PASSWORD_SALT) + 1];
	char		 hash64[CREDENTIAL_B64_LEN(PASSWORD_HASH) + 1];
	int		 n;

	if (RAND_bytes(salt, sizeof(salt)) != 1 ||
	    password_scrypt(password, salt, sizeof(salt), PASSWORD_LOG_N,
	    PASSWORD_R, PASSWORD_P, hash, sizeof(hash)) == -1)
		return -1;
	credential_b64(salt, sizeof(salt), false, salt64);
	credential_b64(hash, sizeof(hash), false, hash64);
	OPENSSL_cleanse(hash, sizeof(hash));
	n = snprintf(out, outsz, "$scrypt$ln=%d,r=%d,p=%d$%s$%s",
	    PASSWORD_LOG_N, PASSWORD_R, PASSWORD_P, salt64, hash64);
	return n > 0 && (size_t)n < outsz ? 0 : -1;
}

/* Parse "$scrypt$ln=L,r=R,p=P$salt$hash" within the bounds above. */
static int
password_parse(const char *stored, struct password_phc *phc)
{
	char	 salt64[128], hash64[128];
	int	 used = 0, n;

	if (sscanf(stored, "$scrypt$ln=%d,r=%d,p=%d$%127[A-Za-z0-9+/]$"
	    "%127[A-Za-z0-9+/]%n", &phc->log_n, &phc->r, &phc->p, salt64,
	    hash64, &used) != 5 || stored[used] != '\0')
		return -1;
	if (phc->log_n < 1 || phc->log_n > PASSWORD_MAX_LOG_N ||
	    phc->r < 1 || phc->r > PASSWORD_MAX_R || phc->p < 1 ||
	    phc->p > PASSWORD_MAX_P)
		return -1;
	if ((n = credential_b64_decode(salt64, phc->salt,
	    sizeof(phc->salt))) < 8)
		return -1;
	phc->saltlen = (size_t)n;
	if ((n = credential_b64_decode(hash64, phc->hash,
	    sizeof(phc->hash))) < 16)
		return -1;
	phc->hashlen = (size_t)n;
	return 0;
}

/*
 * Does password match the stored PHC string?  A stored string silo cannot
 * read (another algorithm, parameters out of bounds) never matches.
 */
bool
password_verify(const char *password, const char *stored)
{
	struct password_phc	 phc;
	unsigned char		 got[64];
	bool			 same;

	if (stored == NULL || password_parse(stored, &phc) == -1 ||
	    password_scrypt(password, phc.salt, phc.saltlen, phc.log_n,
	    phc.r, phc.p, got, phc.hashlen) == -1)
		return false;
	same = CRYPTO_memcmp(got, phc.hash, phc.hashlen) == 0;
	OPENSSL_cleanse(got, sizeof(got));
	return same;
}

/* The work of one verification at today's parameters, for a user that
 * does not exist: the answer is always no, in the same time. */
void
password_dummy_verify(const char *password)
{
	static const char dummy[] = "$scrypt$ln=15,r=8,p=1$"
	    "c2lsby1kdW1teS1zYWx0$"
	    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

	(void)password_verify(password, dummy);
}

/* Does a stored hash use weaker parameters than new ones get? */
bool
password_needs_rehash(const char *stored)
{
	struct password_phc	 phc;

	return password_parse(stored, &phc) == -1 ||
	    phc.log_n < PASSWORD_LOG_N || phc.r < PASSWORD_R;
}
