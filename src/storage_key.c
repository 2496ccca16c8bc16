/*
 * storage_key.c: whose an object in AC's Spaces is, from its key alone.
 *
 * A storage snapshot (storage.c) counts every object of every bucket by
 * owner, kind and file type, and an object's listing gives nothing but
 * its bucket, key and size.  So the classification is a pure function of
 * the bucket's role and the key: no I/O and no state, which is why it
 * has its own file, its own unit test (test_storage.c) and its own fuzz
 * harness (fuzz_storage_key.c), and why the results are slices of the
 * key rather than copies (the walk classifies millions of keys).
 *
 *   user bucket (USER_SPACE_NAME)   <sub>/<kind>/...: the sub is the
 *       owner and the second segment the kind (painting, piece, ...);
 *       <sub>/<file> (recordings, tape zips) is kind "root".
 *   tapes bucket (AT_BLOBS_SPACE_NAME)   tapes/<code>.mp4 and
 *       tapes/<code>-thumb.jpg are the tape's: the walk finds its user.
 *   art bucket (ART_SPACE_NAME)   oven/ and og/ are AC's renders and news
 *       cards; everything else is guest uploads, counted as "guest".
 *   any other bucket   AC's own files; the kind is the first segment.
 *
 * In every bucket the kind is also the "prefix" the bucket breakdown is
 * counted under; in the user bucket that is the second segment, because
 * the first is one of ~100k subs.  A key with no folder is kind "root".
 * The file type is the extension of the last segment, as written (the
 * walk lower-cases it).
 */
#include "config.h"

#include <ctype.h>
#include <stdbool.h>
#include <string.h>

#include "extern.h"

/* The file type: the extension of the key's last segment, 1 to
 * STORAGE_MAX_EXT letters or digits after a dot that does not start it. */
static void
storage_key_ext(const char *key, struct storage_class *c)
{
	const char	*base = strrchr(key, '/'), *dot;
	size_t		 len;

	base = base != NULL ? base + 1 : key;
	c->ext = "";
	c->ext_len = 0;
	if ((dot = strrchr(base, '.')) == NULL || dot == base)
		return;
	len = strlen(dot + 1);
	if (len == 0 || len > STORAGE_MAX_EXT)
		return;
	for (size_t i = 0; i < len; i++)
		if (!isalnum((unsigned char)dot[1 + i]))
			return;
	c->ext = dot + 1;
	c->ext_len = len;
}

/* A segment of key: its start and length; false past the last. */
static bool
storage_key_segment(const char *key, int n, const char **start, size_t *len)
{
	const char	*p = key;

	for (; n > 0; n--) {
		if ((p = strchr(p, '/')) == NULL)
			return false;
		p++;
	}
	*start = p;
	*len = strcspn(p, "/");
	return true;
}

/* A tapes-bucket key tapes/<code>.mp4 or tapes/<code>-thumb.jpg: the code. */
static bool
storage_key_tape_code(const char *key, const char **code, size_t *len)
{
	static const char *const suffixes[] = { ".mp4", "-thumb.jpg", NULL };
	const char	*name;
	size_t		 n;

	if (strncmp(key, "tapes/", 6) != 0)
		return false;
	name = key + 6;
	if (strchr(name, '/') != NULL)
		return false;
	n = strlen(name);
	for (const char *const *s = suffixes; *s != NULL; s++) {
		size_t	 sl = strlen(*s);

		if (n > sl && strcmp(name + n - sl, *s) == 0) {
			*code = name;
			*len = n - sl;
			return true;
		}
	}
	return false;
}

/* Classify a key by its bucket's role (see the top of this file). */
void
storage_key_classify(enum storage_role role, const char *key,
    struct storage_class *c)
{
	const char	*seg;
	size_t		 len;
	bool		 folder = strchr(key, '/') != NULL;

	memset(c, 0, sizeof(*c));
	storage_key_ext(key, c);
	c->owner = OWNER_NONE;
	c->kind = STORAGE_ROOT;
	c->kind_len = strlen(STORAGE_ROOT);
	if (role == ROLE_USER) {
		/* <sub>/<kind>/..., or <sub>/<file> (kind root). */
		if (!folder || key[0] == '/')
			return;
		c->owner = OWNER_USER;
		c->who = key;
		c->who_len = strcspn(key, "/");
		if (storage_key_segment(key, 1, &seg, &len) &&
		    seg[len] == '/' && len > 0) {
			c->kind = seg;
			c->kind_len = len;
		}
		return;
	}
	if (folder && key[0] != '/') {
		c->kind = key;
		c->kind_len = strcspn(key, "/");
	}
	switch (role) {
	case ROLE_TAPES:
		if (storage_key_tape_code(key, &seg, &len)) {
			c->owner = OWNER_TAPE;
			c->who = seg;
			c->who_len = len;
		}
		break;
	case ROLE_ART:
		if (!(folder && ((c->kind_len == 4 &&
		    strncmp(c->kind, "oven", 4) == 0) ||
		    (c->kind_len == 2 && strncmp(c->kind, "og", 2) == 0))))
			c->owner = OWNER_GUEST;
		break;
	default:
		break;
	}
}

/* The role of a bucket, from USER_SPACE_NAME and friends. */
enum storage_role
storage_key_role(const struct silo_config *config, const char *bucket)
{
	if (config->user_bucket != NULL &&
	    strcmp(bucket, config->user_bucket) == 0)
		return ROLE_USER;
	if (config->tapes_bucket != NULL &&
	    strcmp(bucket, config->tapes_bucket) == 0)
		return ROLE_TAPES;
	if (config->art_bucket != NULL &&
	    strcmp(bucket, config->art_bucket) == 0)
		return ROLE_ART;
	return ROLE_OTHER;
}
