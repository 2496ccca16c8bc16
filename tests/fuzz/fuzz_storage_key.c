/* Fuzz harness: storage_key_classify() and api_storage_parse_id() on
 * arbitrary bytes.  The first byte picks the bucket's role; the rest is a
 * key, and also a /api/storage/user/:id. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "extern.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

const char fuzz_corpus_name[] = "storage_key";

/* Does the slice [p, p + len) lie within s? */
static int
within(const char *s, size_t slen, const char *p, size_t len)
{
	return p >= s && p + len <= s + slen;
}

/* The classification's invariants: every slice points into the key (but
 * the kind STORAGE_ROOT), a user's sub starts the key, a kind is one
 * segment, a file type is short. */
static int
class_ok(enum storage_role role, const char *key, size_t klen,
    const struct storage_class *c)
{
	if (c->who != NULL && (c->who_len == 0 ||
	    !within(key, klen, c->who, c->who_len)))
		return 0;
	if (role == ROLE_USER && (c->owner == OWNER_USER) != (c->who == key))
		return 0;
	if (c->kind_len == 0 || memchr(c->kind, '/', c->kind_len) != NULL)
		return 0;
	if (strcmp(c->kind, STORAGE_ROOT) != 0 &&
	    !within(key, klen, c->kind, c->kind_len))
		return 0;
	return c->ext_len <= 16 &&
	    (c->ext_len == 0 || within(key, klen, c->ext, c->ext_len));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct storage_class	 c;
	enum storage_role	 role;
	const char		*name;
	char			 why[160], *key;
	size_t			 klen;

	if (size == 0)
		return 0;
	role = (enum storage_role)(data[0] % 4);
	key = strndup((const char *)data + 1, size - 1);
	klen = strlen(key);
	storage_key_classify(role, key, &c);
	if (!class_ok(role, key, klen, &c))
		abort();
	why[0] = '\0';
	if (api_storage_parse_id(key, &name, why, sizeof(why)) == ID_BAD) {
		if (why[0] == '\0')
			abort();
	} else if (!within(key, klen, name, strlen(name)) || *name == '\0' ||
	    strchr(name, '/') != NULL)
		abort();
	free(key);
	return 0;
}
