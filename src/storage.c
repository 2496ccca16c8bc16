/*
 * storage.c: `silo storage refresh`, a snapshot of what AC keeps in Spaces.
 *
 * Listing every object on every request is far too slow (AC's own silo
 * did that), so a job walks the buckets now and then (a systemd timer,
 * or POST /api/storage/refresh) and records what it counted; the API
 * serves the latest good snapshot in milliseconds (api_storage.c).
 *
 * The walk.  Each bucket of SPACES_BUCKETS is listed with spaces_list(),
 * which streams ListObjectsV2 pages and hands over one object at a time.
 * Each object is classified from its bucket's role and its key alone,
 * by storage_key.c (pure functions, fuzzed): in the user bucket
 * <sub>/<kind>/... is the sub's; in the tapes bucket tapes/<code>.mp4 and
 * its thumbnail belong to the tape's user, found through tapes.code ->
 * tapes.user (a tape without a user is a guest's); in the art bucket
 * everything but AC's renders (oven/, og/) is a guest upload; any other
 * bucket holds AC's own files.  The kind is the "prefix" a bucket's
 * breakdown is counted under; file types are counted lower-cased.
 *
 * Memory grows with the number of users, never with the number of
 * objects: per bucket a table of kinds, one table of file types (both
 * capped; the rest is "(other)"), one hash table entry per user with
 * objects (a few cells of bucket x kind each), and a heap of the N
 * largest objects.  Tape codes are not held for the whole walk: objects
 * in the tapes bucket wait in a batch of STORAGE_TAPE_BATCH and their
 * codes are looked up with one $in query per batch, so memory does not
 * grow with the number of tapes either.  Handles are looked up the same
 * way, in batches, for the users found, at the end.
 *
 * The record.  A good walk writes its per-user rows to silo.storage_users
 * (one document per user, tagged with the snapshot's id: a snapshot of
 * 100k users must not be one document near MongoDB's 16 MB limit), then
 * the snapshot itself to silo.storage_snapshots with status "ok".  The
 * rows go first so that a snapshot is never visible without them.  The
 * API's "latest good snapshot" is the newest status:"ok" by finished_at.
 * A failed walk (credentials, a missing bucket, a store or database gone
 * mid-way) records status "failed" with its errors, each naming the
 * operation, bucket, HTTP status and S3 code and message, writes no user
 * rows and so never replaces the last good snapshot; the exit status is
 * 1.  After each refresh the oldest snapshots beyond
 * SILO_STORAGE_HISTORY are deleted with their rows, except the newest
 * good one, however many failures came after it.
 *
 * The answers.  Then, after every refresh that was recorded (a failed one
 * too: the history names the last attempt), the API's answers for the
 * latest good snapshot are rendered once, by api_storage.c's own
 * api_storage_render(), into silo.storage_answers under the snapshot's
 * _id, and the shared cache's storage answers ("storage-", and the
 * users' "q-storage-") are dropped, so that a request reads what was
 * rendered instead of computing it (api_storage.c).  This is the one
 * place the API's code runs in the job: one renderer, so a rendered
 * answer is exactly a computed one.
 *
 * One refresh at a time: job.c's flock() on SILO_STORAGE_LOCK, taken
 * here or by the API, which starts `silo storage refresh --lock-fd 3`
 * detached (job_start()) and hands the lock over.
 *
 * Progress goes to stderr every STORAGE_PROGRESS_MS, with objects/s, and
 * a summary line at the end.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "extern.h"

#define	STORAGE_MAX_KINDS	500	/* per bucket; the rest "(other)" */
#define	STORAGE_MAX_TYPES	500	/* file types; the rest "(other)" */
#define	STORAGE_TAPE_BATCH	1000	/* tape objects per tapes lookup */
#define	STORAGE_LOOKUP_BATCH	500	/* subs per @handles lookup */
#define	STORAGE_WRITE_BATCH	1000	/* user rows per bulk insert */
#define	STORAGE_PROGRESS_MS	5000	/* between progress lines */
#define	STORAGE_MAX_ERRORS	32	/* errors a snapshot records */
#define	STORAGE_OTHER		"(other)"
#define	STORAGE_NO_TYPE		"(none)"

/* Bytes and objects. */
struct storage_tally {
	uint64_t	 bytes;		/* sum of sizes */
	uint64_t	 objects;	/* how many */
};

/* One entry of a string-keyed hash table. */
struct storage_slot {
	char		*key;		/* owned; NULL for an empty slot */
	void		*val;		/* owned: made by storage_map_get() */
};

/* An open-addressing hash table from strings to values. */
struct storage_map {
	struct storage_slot *slots;	/* cap slots */
	size_t		 cap;		/* a power of two */
	size_t		 n;		/* slots used */
};

/* A kind or a file type and what it holds. */
struct storage_named {
	const char	*name;		/* the map's key */
	struct storage_tally t;		/* its bytes and objects */
};

/* What one user holds under one kind of one bucket. */
struct storage_cell {
	size_t		 bucket;	/* index into the walk's buckets */
	const char	*kind;		/* interned in that bucket's kinds */
	struct storage_tally t;		/* bytes and objects */
};

/* One user with objects. */
struct storage_user {
	const char	*sub;		/* the map's key */
	char		*handle;	/* from @handles, or NULL */
	struct storage_tally t;		/* all of it */
	struct storage_cell *cells;	/* per bucket and kind */
	size_t		 ncells;	/* cells used */
};

/* One bucket of the walk. */
struct storage_bucket {
	char		*name;		/* the bucket */
	enum storage_role role;		/* its part in AC's layout */
	struct storage_tally t;		/* everything in it */
	struct storage_map kinds;	/* kind -> struct storage_named */
	bool		 listed;	/* walked to the end */
};

/* One of the largest objects. */
struct storage_big {
	uint64_t	 bytes;		/* its size */
	size_t		 bucket;	/* its bucket's index */
	char		*key;		/* its key, owned */
};

/* A tapes-bucket object waiting for its code's user. */
struct storage_pending {
	char		*code;		/* the tape's code, owned */
	size_t		 bucket;	/* its bucket's index */
	const char	*kind;		/* interned kind */
	uint64_t	 bytes;		/* its size */
};

/* A whole refresh. */
struct storage_walk {
	const struct silo_config *config; /* settings */
	struct mongo	 mongo;		/* the job's MongoDB client */
	struct spaces	 s3;		/* the Spaces client */
	struct storage_bucket *buckets;	/* SPACES_BUCKETS, in order */
	size_t		 nbuckets;	/* how many */
	size_t		 cur;		/* the bucket being listed */
	struct storage_tally total;	/* every object */
	struct storage_tally guest;	/* guest uploads */
	struct storage_tally none;	/* AC's own files */
	struct storage_tally orphan;	/* tape files of no known tape */
	struct storage_map users;	/* sub -> struct storage_user */
	struct storage_map types;	/* file type -> struct storage_named */
	struct storage_big *big;	/* min-heap of the largest objects */
	size_t		 nbig, capbig;	/* used, wanted */
	struct storage_pending *pending; /* tape objects awaiting lookup */
	size_t		 npending;	/* how many */
	char		*errors[STORAGE_MAX_ERRORS]; /* what went wrong */
	size_t		 nerrors;	/* how many */
	bool		 oom;		/* memory ran out */
	bool		 db_failed;	/* a MongoDB lookup failed mid-walk */
	int64_t		 started_ms;	/* wall clock, ms since the epoch */
	double		 t0;		/* monotonic start */
	double		 last_progress;	/* monotonic time of the last line */
	uint64_t	 bucket_objects; /* objects of the current bucket */
};

static void storage_error(struct storage_walk *, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* ------------------------------------------------------------------ */
/* A string-keyed hash table                                           */
/* ------------------------------------------------------------------ */

/* The slot of key (len bytes): its own, or the empty one it would take. */
static struct storage_slot *
storage_map_slot(struct storage_map *m, const char *key, size_t len)
{
	size_t	 i = (size_t)hash_fnv1a64(key, len) & (m->cap - 1);

	for (;; i = (i + 1) & (m->cap - 1)) {
		struct storage_slot *s = &m->slots[i];

		if (s->key == NULL || (strncmp(s->key, key, len) == 0 &&
		    s->key[len] == '\0'))
			return s;
	}
}

static bool
storage_map_grow(struct storage_map *m)
{
	struct storage_map	 bigger = { .cap = m->cap ? m->cap * 2 : 64 };

	if ((bigger.slots = calloc(bigger.cap, sizeof(*bigger.slots))) == NULL)
		return false;
	for (size_t i = 0; i < m->cap; i++)
		if (m->slots[i].key != NULL)
			*storage_map_slot(&bigger, m->slots[i].key,
			    strlen(m->slots[i].key)) = m->slots[i];
	bigger.n = m->n;
	free(m->slots);
	*m = bigger;
	return true;
}

/* Find key; if absent and size > 0, add it with a zeroed value of size
 * bytes.  NULL if absent (size 0) or out of memory. */
static struct storage_slot *
storage_map_get(struct storage_map *m, const char *key, size_t len,
    size_t size)
{
	struct storage_slot	*s;

	if (m->cap > 0) {
		s = storage_map_slot(m, key, len);
		if (s->key != NULL || size == 0)
			return s->key != NULL ? s : NULL;
	} else if (size == 0)
		return NULL;
	if ((m->n + 1) * 2 > m->cap && !storage_map_grow(m))
		return NULL;
	s = storage_map_slot(m, key, len);
	if ((s->key = strndup(key, len)) == NULL ||
	    (s->val = calloc(1, size)) == NULL) {
		free(s->key);
		s->key = NULL;
		return NULL;
	}
	m->n++;
	return s;
}

static void
storage_map_free(struct storage_map *m, void (*free_val)(void *))
{
	for (size_t i = 0; i < m->cap; i++)
		if (m->slots[i].key != NULL) {
			if (free_val != NULL)
				free_val(m->slots[i].val);
			free(m->slots[i].val);
			free(m->slots[i].key);
		}
	free(m->slots);
	memset(m, 0, sizeof(*m));
}

/* The values of a map as an array, sorted by cmp; NULL if out of memory. */
static void **
storage_map_sorted(const struct storage_map *m,
    int (*cmp)(const void *, const void *))
{
	void	**vals = calloc(m->n + 1, sizeof(*vals));
	size_t	 k = 0;

	if (vals == NULL)
		return NULL;
	for (size_t i = 0; i < m->cap; i++)
		if (m->slots[i].key != NULL)
			vals[k++] = m->slots[i].val;
	qsort(vals, k, sizeof(*vals), cmp);
	return vals;
}

/* ------------------------------------------------------------------ */
/* Counting                                                            */
/* ------------------------------------------------------------------ */

static void
storage_error(struct storage_walk *w, const char *fmt, ...)
{
	va_list	 ap;
	char	 line[1200];

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	log_err("storage: %s", line);
	if (w->nerrors < STORAGE_MAX_ERRORS &&
	    (w->errors[w->nerrors] = strdup(line)) != NULL)
		w->nerrors++;
}

static void
storage_add(struct storage_tally *t, uint64_t bytes)
{
	t->bytes += bytes;
	t->objects++;
}

/* The named tally for name in a capped map (STORAGE_OTHER once full). */
static struct storage_named *
storage_named(struct storage_walk *w, struct storage_map *m,
    const char *name, size_t len, size_t cap)
{
	struct storage_slot	*s = storage_map_get(m, name, len, 0);

	if (s == NULL) {
		if (m->n >= cap) {
			name = STORAGE_OTHER;
			len = strlen(STORAGE_OTHER);
		}
		s = storage_map_get(m, name, len, sizeof(struct storage_named));
	}
	if (s == NULL) {
		w->oom = true;
		return NULL;
	}
	((struct storage_named *)s->val)->name = s->key;
	return s->val;
}

/* Count bytes for the user sub under kind of bucket b. */
static void
storage_user_add(struct storage_walk *w, const char *sub, size_t len,
    size_t b, const char *kind, uint64_t bytes)
{
	struct storage_slot	*s;
	struct storage_user	*u;
	struct storage_cell	*c, *more;

	if ((s = storage_map_get(&w->users, sub, len,
	    sizeof(struct storage_user))) == NULL) {
		w->oom = true;
		return;
	}
	u = s->val;
	u->sub = s->key;
	storage_add(&u->t, bytes);
	for (size_t i = 0; i < u->ncells; i++) {
		c = &u->cells[i];
		if (c->bucket == b && c->kind == kind) {
			storage_add(&c->t, bytes);
			return;
		}
	}
	if ((more = realloc(u->cells, (u->ncells + 1) *
	    sizeof(*more))) == NULL) {
		w->oom = true;
		return;
	}
	u->cells = more;
	c = &u->cells[u->ncells++];
	memset(c, 0, sizeof(*c));
	c->bucket = b;
	c->kind = kind;
	storage_add(&c->t, bytes);
}

static void
storage_user_free(void *val)
{
	struct storage_user	*u = val;

	free(u->handle);
	free(u->cells);
}

/* Keep the object if it is among the largest (a min-heap on bytes). */
static void
storage_big_add(struct storage_walk *w, const char *key, uint64_t bytes)
{
	struct storage_big	 e;
	size_t			 i;

	if (w->nbig == w->capbig && bytes <= w->big[0].bytes)
		return;
	if ((e.key = strdup(key)) == NULL) {
		w->oom = true;
		return;
	}
	e.bytes = bytes;
	e.bucket = w->cur;
	if (w->nbig < w->capbig) {
		/* Sift up from a new leaf. */
		for (i = w->nbig++; i > 0 && w->big[(i - 1) / 2].bytes > bytes;
		    i = (i - 1) / 2)
			w->big[i] = w->big[(i - 1) / 2];
		w->big[i] = e;
		return;
	}
	/* Replace the smallest and sift it down. */
	free(w->big[0].key);
	for (i = 0;;) {
		size_t	 l = 2 * i + 1, r = l + 1, m = i;
		uint64_t mb = bytes;

		if (l < w->nbig && w->big[l].bytes < mb)
			m = l, mb = w->big[l].bytes;
		if (r < w->nbig && w->big[r].bytes < mb)
			m = r;
		if (m == i)
			break;
		w->big[i] = w->big[m];
		i = m;
	}
	w->big[i] = e;
}

static int
storage_big_cmp(const void *a, const void *b)
{
	const struct storage_big *x = a, *y = b;

	if (x->bytes != y->bytes)
		return x->bytes > y->bytes ? -1 : 1;
	return strcmp(x->key, y->key);
}

/* {field: {$in: [nth(items, 0), ... nth(items, n - 1)]}}: a batch of
 * look-ups in one query. */
static bson_t *
storage_in_filter(const char *field, const void *items, size_t n,
    const char *(*nth)(const void *items, size_t i))
{
	bson_t	*filter = bson_new(), in, list;
	char	 idx[16];

	BSON_APPEND_DOCUMENT_BEGIN(filter, field, &in);
	BSON_APPEND_ARRAY_BEGIN(&in, "$in", &list);
	for (size_t i = 0; i < n; i++) {
		const char	*key;

		bson_uint32_to_string((uint32_t)i, &key, idx, sizeof(idx));
		BSON_APPEND_UTF8(&list, key, nth(items, i));
	}
	bson_append_array_end(&in, &list);
	bson_append_document_end(filter, &in);
	return filter;
}

static const char *
storage_pending_code(const void *items, size_t i)
{
	return ((const struct storage_pending *)items)[i].code;
}

/* Where storage_tape_owner() records what the tapes query found. */
struct storage_owners {
	struct storage_walk *w;		/* for w->oom */
	struct storage_map map;		/* code -> user's sub, "" for a guest */
};

static int
storage_tape_owner(const bson_t *doc, void *arg)
{
	struct storage_owners	*o = arg;
	struct storage_slot	*s;
	const char		*code = mongo_get_utf8(doc, "code");
	const char		*user = mongo_get_utf8(doc, "user");

	if (code == NULL)
		return 0;
	if ((s = storage_map_get(&o->map, code, strlen(code), 1)) == NULL) {
		o->w->oom = true;
		return 1;
	}
	free(s->val);
	if ((s->val = strdup(user != NULL ? user : "")) == NULL) {
		o->w->oom = true;
		return 1;
	}
	return 0;
}

/* Attribute the waiting tape objects: one tapes query for their codes. */
static void
storage_tapes_flush(struct storage_walk *w)
{
	struct storage_owners	 owners = { w, { 0 } };
	bson_t			*filter, *opts;
	bson_error_t		 e;

	if (w->npending == 0)
		return;
	filter = storage_in_filter("code", w->pending, w->npending,
	    storage_pending_code);
	opts = BCON_NEW("projection", "{", "code", BCON_INT32(1),
	    "user", BCON_INT32(1), "_id", BCON_INT32(0), "}");
	if (!mongo_find_each(&w->mongo, NULL, "tapes", filter, opts,
	    storage_tape_owner, &owners, &e)) {
		storage_error(w, "find in %s.tapes (tape codes of %s): %s",
		    w->mongo.db_name, w->buckets[w->pending[0].bucket].name,
		    e.message);
		w->db_failed = true;
	}
	for (size_t i = 0; i < w->npending; i++) {
		struct storage_pending	*p = &w->pending[i];
		struct storage_slot	*s = storage_map_get(&owners.map,
					    p->code, strlen(p->code), 0);
		const char		*user = s != NULL ? s->val : NULL;

		if (user == NULL)
			storage_add(&w->orphan, p->bytes);
		else if (*user == '\0')
			storage_add(&w->guest, p->bytes);
		else
			storage_user_add(w, user, strlen(user), p->bucket,
			    p->kind, p->bytes);
		free(p->code);
	}
	w->npending = 0;
	storage_map_free(&owners.map, NULL);
	bson_destroy(opts);
	bson_destroy(filter);
}

/* A progress line every STORAGE_PROGRESS_MS. */
static void
storage_progress(struct storage_walk *w, bool force)
{
	double	 now = clock_ms(), secs = (now - w->t0) / 1000;

	if (!force && now - w->last_progress < STORAGE_PROGRESS_MS)
		return;
	w->last_progress = now;
	log_info("storage: %s: %" PRIu64 " objects; in all %"
	    PRIu64 " objects, %" PRIu64 " bytes, %.1f s, %.0f objects/s",
	    w->buckets[w->cur].name, w->bucket_objects, w->total.objects,
	    w->total.bytes, secs,
	    secs > 0 ? (double)w->total.objects / secs : 0);
}

/* spaces_list()'s callback: count one object. */
static int
storage_on_object(const struct spaces_object *o, void *arg)
{
	struct storage_walk	*w = arg;
	struct storage_bucket	*b = &w->buckets[w->cur];
	struct storage_class	 c;
	struct storage_named	*kind, *type;
	char			 ext[STORAGE_MAX_EXT + 1];

	if (o->is_prefix)
		return 0;
	storage_key_classify(b->role, o->key, &c);
	for (size_t i = 0; i < c.ext_len; i++)
		ext[i] = (char)tolower((unsigned char)c.ext[i]);
	if (c.ext_len == 0)
		snprintf(ext, sizeof(ext), "%s", STORAGE_NO_TYPE);
	else
		ext[c.ext_len] = '\0';
	kind = storage_named(w, &b->kinds, c.kind, c.kind_len,
	    STORAGE_MAX_KINDS);
	type = storage_named(w, &w->types, ext, strlen(ext), STORAGE_MAX_TYPES);
	if (kind == NULL || type == NULL)
		return 1;
	storage_add(&kind->t, o->size);
	storage_add(&type->t, o->size);
	storage_add(&b->t, o->size);
	storage_add(&w->total, o->size);
	storage_big_add(w, o->key, o->size);
	switch (c.owner) {
	case OWNER_USER:
		storage_user_add(w, c.who, c.who_len, w->cur, kind->name,
		    o->size);
		break;
	case OWNER_TAPE: {
		struct storage_pending	*p = &w->pending[w->npending];

		if ((p->code = strndup(c.who, c.who_len)) == NULL) {
			w->oom = true;
			break;
		}
		p->bucket = w->cur;
		p->kind = kind->name;
		p->bytes = o->size;
		if (++w->npending == STORAGE_TAPE_BATCH)
			storage_tapes_flush(w);
		break;
	}
	case OWNER_GUEST:
		storage_add(&w->guest, o->size);
		break;
	case OWNER_NONE:
		storage_add(&w->none, o->size);
		break;
	}
	w->bucket_objects++;
	if ((w->total.objects & 1023) == 0)
		storage_progress(w, false);
	return w->oom || w->db_failed ? 1 : 0;
}

/* List every bucket.  A missing bucket does not stop the others; any
 * other failure (credentials, a store that is gone) stops the walk. */
static void
storage_walk_buckets(struct storage_walk *w)
{
	for (w->cur = 0; w->cur < w->nbuckets; w->cur++) {
		struct storage_bucket	*b = &w->buckets[w->cur];
		int			 rc;

		w->bucket_objects = 0;
		rc = spaces_list(&w->s3, b->name, NULL, NULL, 0,
		    storage_on_object, w);
		if (rc == 0) {
			b->listed = true;
			storage_progress(w, true);
			continue;
		}
		if (w->oom)
			storage_error(w, "out of memory listing %s", b->name);
		else if (rc == -1)
			storage_error(w, "%s", w->s3.err);
		if (rc == 1 || strcmp(w->s3.code, "NoSuchBucket") != 0)
			return;
	}
}

/* ------------------------------------------------------------------ */
/* Looking up handles                                                  */
/* ------------------------------------------------------------------ */

static const char *
storage_user_sub(const void *items, size_t i)
{
	return ((struct storage_user *const *)items)[i]->sub;
}

static int
storage_handle_found(const bson_t *doc, void *arg)
{
	struct storage_walk	*w = arg;
	struct storage_slot	*s;
	struct storage_user	*u;
	const char		*sub = mongo_get_utf8(doc, "_id");
	const char		*handle = mongo_get_utf8(doc, "handle");

	if (sub == NULL || handle == NULL || (s = storage_map_get(
	    &w->users, sub, strlen(sub), 0)) == NULL)
		return 0;
	u = s->val;
	free(u->handle);
	if ((u->handle = strdup(handle)) == NULL)
		w->oom = true;
	return 0;
}

/* Fill in the handles of subs[0..n) from @handles. */
static void
storage_handles_batch(struct storage_walk *w, struct storage_user **users,
    size_t n)
{
	bson_t		*filter = storage_in_filter("_id", users, n,
			    storage_user_sub);
	bson_t		*opts = BCON_NEW("projection", "{", "handle",
			    BCON_INT32(1), "}");
	bson_error_t	 e;

	if (!mongo_find_each(&w->mongo, NULL, "@handles", filter, opts,
	    storage_handle_found, w, &e))
		storage_error(w, "find in %s.@handles: %s", w->mongo.db_name,
		    e.message);
	bson_destroy(opts);
	bson_destroy(filter);
}

static void
storage_handles(struct storage_walk *w)
{
	struct storage_user	*batch[STORAGE_LOOKUP_BATCH];
	size_t			 n = 0;

	for (size_t i = 0; i < w->users.cap && w->nerrors == 0; i++) {
		if (w->users.slots[i].key == NULL)
			continue;
		batch[n++] = w->users.slots[i].val;
		if (n == STORAGE_LOOKUP_BATCH) {
			storage_handles_batch(w, batch, n);
			n = 0;
		}
	}
	if (n > 0 && w->nerrors == 0)
		storage_handles_batch(w, batch, n);
}

/* ------------------------------------------------------------------ */
/* Recording the snapshot                                              */
/* ------------------------------------------------------------------ */

static void
storage_append_tally(bson_t *doc, const struct storage_tally *t)
{
	BSON_APPEND_INT64(doc, "bytes", (int64_t)t->bytes);
	BSON_APPEND_INT64(doc, "objects", (int64_t)t->objects);
}

/* A sub-document {bytes, objects} named name. */
static void
storage_append_total(bson_t *doc, const char *name,
    const struct storage_tally *t)
{
	bson_t	 sub;

	BSON_APPEND_DOCUMENT_BEGIN(doc, name, &sub);
	storage_append_tally(&sub, t);
	bson_append_document_end(doc, &sub);
}

static int
storage_named_cmp(const void *a, const void *b)
{
	const struct storage_named *x = *(const struct storage_named *const *)a;
	const struct storage_named *y = *(const struct storage_named *const *)b;

	if (x->t.bytes != y->t.bytes)
		return x->t.bytes > y->t.bytes ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* An array [{field: name, bytes, objects}] of a map, largest first. */
static bool
storage_append_named(bson_t *doc, const char *array, const char *field,
    const struct storage_map *m)
{
	struct storage_named	**rows;
	bson_t			 list, item;
	char			 idx[16];

	if ((rows = (struct storage_named **)storage_map_sorted(m,
	    storage_named_cmp)) == NULL)
		return false;
	BSON_APPEND_ARRAY_BEGIN(doc, array, &list);
	for (size_t i = 0; i < m->n; i++) {
		const char	*key;

		bson_uint32_to_string((uint32_t)i, &key, idx, sizeof(idx));
		BSON_APPEND_DOCUMENT_BEGIN(&list, key, &item);
		BSON_APPEND_UTF8(&item, field, rows[i]->name);
		storage_append_tally(&item, &rows[i]->t);
		bson_append_document_end(&list, &item);
	}
	bson_append_array_end(doc, &list);
	free(rows);
	return true;
}

static void
storage_append_errors(bson_t *doc, const struct storage_walk *w)
{
	bson_t	 list;
	char	 idx[16];

	BSON_APPEND_ARRAY_BEGIN(doc, "errors", &list);
	for (size_t i = 0; i < w->nerrors; i++) {
		const char	*key;

		bson_uint32_to_string((uint32_t)i, &key, idx, sizeof(idx));
		BSON_APPEND_UTF8(&list, key, w->errors[i]);
	}
	bson_append_array_end(doc, &list);
}

/* The fields every snapshot has, good or failed. */
static void
storage_append_common(bson_t *doc, const struct storage_walk *w,
    const bson_oid_t *id, const char *status)
{
	int64_t	 finished = clock_real_ms();

	BSON_APPEND_OID(doc, "_id", id);
	BSON_APPEND_UTF8(doc, "status", status);
	BSON_APPEND_DATE_TIME(doc, "started_at", w->started_ms);
	BSON_APPEND_DATE_TIME(doc, "finished_at", finished);
	BSON_APPEND_INT64(doc, "duration_ms", finished - w->started_ms);
	storage_append_errors(doc, w);
	BSON_APPEND_UTF8(doc, "version", PACKAGE_VERSION);
}

/* A user row's buckets: one per bucket the user has objects in, with
 * its kinds. */
static void
storage_append_user_buckets(bson_t *doc, const struct storage_walk *w,
    const struct storage_user *u)
{
	bson_t	 list, item, kinds, kitem;
	char	 idx[16], kidx[16];
	size_t	 nb = 0;

	BSON_APPEND_ARRAY_BEGIN(doc, "buckets", &list);
	for (size_t b = 0; b < w->nbuckets; b++) {
		struct storage_tally	 t = { 0 };
		const char		*key;
		size_t			 nk = 0;

		for (size_t i = 0; i < u->ncells; i++)
			if (u->cells[i].bucket == b) {
				t.bytes += u->cells[i].t.bytes;
				t.objects += u->cells[i].t.objects;
			}
		if (t.objects == 0)
			continue;
		bson_uint32_to_string((uint32_t)nb++, &key, idx, sizeof(idx));
		BSON_APPEND_DOCUMENT_BEGIN(&list, key, &item);
		BSON_APPEND_UTF8(&item, "name", w->buckets[b].name);
		storage_append_tally(&item, &t);
		BSON_APPEND_ARRAY_BEGIN(&item, "kinds", &kinds);
		for (size_t i = 0; i < u->ncells; i++) {
			if (u->cells[i].bucket != b)
				continue;
			bson_uint32_to_string((uint32_t)nk++, &key, kidx,
			    sizeof(kidx));
			BSON_APPEND_DOCUMENT_BEGIN(&kinds, key, &kitem);
			BSON_APPEND_UTF8(&kitem, "kind", u->cells[i].kind);
			storage_append_tally(&kitem, &u->cells[i].t);
			bson_append_document_end(&kinds, &kitem);
		}
		bson_append_array_end(&item, &kinds);
		bson_append_document_end(&list, &item);
	}
	bson_append_array_end(doc, &list);
}

/* A new unordered bulk operation on coll. */
static mongoc_bulk_operation_t *
storage_bulk_new(mongoc_collection_t *coll)
{
	bson_t			*opts = BCON_NEW("ordered", BCON_BOOL(false));
	mongoc_bulk_operation_t	*bulk;

	bulk = mongoc_collection_create_bulk_operation_with_opts(coll, opts);
	bson_destroy(opts);
	return bulk;
}

/* Write the per-user rows of snapshot id.  false on a database error. */
static bool
storage_write_users(struct storage_walk *w, mongoc_collection_t *coll,
    const bson_oid_t *id)
{
	mongoc_bulk_operation_t	*bulk = NULL;
	bson_t			 reply;
	bson_error_t		 e;
	size_t			 n = 0;
	bool			 ok = true;

	for (size_t i = 0; i <= w->users.cap && ok; i++) {
		bool	 last = i == w->users.cap;

		if (!last && w->users.slots[i].key != NULL) {
			const struct storage_user *u = w->users.slots[i].val;
			bson_t	 doc = BSON_INITIALIZER;

			if (bulk == NULL)
				bulk = storage_bulk_new(coll);
			BSON_APPEND_OID(&doc, "snapshot_id", id);
			BSON_APPEND_UTF8(&doc, "user", u->sub);
			if (u->handle != NULL)
				BSON_APPEND_UTF8(&doc, "handle", u->handle);
			else
				BSON_APPEND_NULL(&doc, "handle");
			storage_append_tally(&doc, &u->t);
			storage_append_user_buckets(&doc, w, u);
			mongoc_bulk_operation_insert(bulk, &doc);
			bson_destroy(&doc);
			n++;
		}
		if (bulk != NULL && (n == STORAGE_WRITE_BATCH || last)) {
			if (!mongoc_bulk_operation_execute(bulk, &reply, &e)) {
				storage_error(w, "insert into %s.%s: %s",
				    STORAGE_DB, STORAGE_USERS, e.message);
				ok = false;
			}
			bson_destroy(&reply);
			mongoc_bulk_operation_destroy(bulk);
			bulk = NULL;
			n = 0;
		}
	}
	return ok;
}

/* The good snapshot's document. */
static bool
storage_snapshot_doc(struct storage_walk *w, const bson_oid_t *id,
    bson_t *doc)
{
	bson_t			 list, item, users;
	struct storage_tally	 ut = { 0 };
	char			 idx[16];

	storage_append_common(doc, w, id, "ok");
	storage_append_total(doc, "totals", &w->total);
	BSON_APPEND_ARRAY_BEGIN(doc, "buckets", &list);
	for (size_t b = 0; b < w->nbuckets; b++) {
		const char	*key;

		bson_uint32_to_string((uint32_t)b, &key, idx, sizeof(idx));
		BSON_APPEND_DOCUMENT_BEGIN(&list, key, &item);
		BSON_APPEND_UTF8(&item, "name", w->buckets[b].name);
		storage_append_tally(&item, &w->buckets[b].t);
		if (!storage_append_named(&item, "prefixes", "prefix",
		    &w->buckets[b].kinds))
			return false;
		bson_append_document_end(&list, &item);
	}
	bson_append_array_end(doc, &list);
	if (!storage_append_named(doc, "types", "ext", &w->types))
		return false;
	qsort(w->big, w->nbig, sizeof(*w->big), storage_big_cmp);
	BSON_APPEND_ARRAY_BEGIN(doc, "largest", &list);
	for (size_t i = 0; i < w->nbig; i++) {
		const char	*key;

		bson_uint32_to_string((uint32_t)i, &key, idx, sizeof(idx));
		BSON_APPEND_DOCUMENT_BEGIN(&list, key, &item);
		BSON_APPEND_UTF8(&item, "bucket",
		    w->buckets[w->big[i].bucket].name);
		BSON_APPEND_UTF8(&item, "key", w->big[i].key);
		BSON_APPEND_INT64(&item, "bytes", (int64_t)w->big[i].bytes);
		bson_append_document_end(&list, &item);
	}
	bson_append_array_end(doc, &list);
	for (size_t i = 0; i < w->users.cap; i++)
		if (w->users.slots[i].key != NULL) {
			const struct storage_user *u = w->users.slots[i].val;

			ut.bytes += u->t.bytes;
			ut.objects += u->t.objects;
		}
	BSON_APPEND_DOCUMENT_BEGIN(doc, "users", &users);
	BSON_APPEND_INT64(&users, "count", (int64_t)w->users.n);
	storage_append_tally(&users, &ut);
	bson_append_document_end(doc, &users);
	storage_append_total(doc, "guest", &w->guest);
	storage_append_total(doc, "unattributed", &w->none);
	storage_append_total(doc, "orphan_tapes", &w->orphan);
	return true;
}

/* A failed refresh's document: the errors and how far it got. */
static void
storage_failed_doc(struct storage_walk *w, const bson_oid_t *id, bson_t *doc)
{
	bson_t	 list;
	char	 idx[16];
	size_t	 n = 0;

	storage_append_common(doc, w, id, "failed");
	storage_append_total(doc, "walked", &w->total);
	BSON_APPEND_ARRAY_BEGIN(doc, "buckets_listed", &list);
	for (size_t b = 0; b < w->nbuckets; b++) {
		const char	*key;

		if (!w->buckets[b].listed)
			continue;
		bson_uint32_to_string((uint32_t)n++, &key, idx, sizeof(idx));
		BSON_APPEND_UTF8(&list, key, w->buckets[b].name);
	}
	bson_append_array_end(doc, &list);
}

/* An index the API's queries use: on one or two fields. */
struct storage_index {
	const char	*coll;		/* collection in STORAGE_DB */
	const char	*name;		/* index name */
	const char	*f1;		/* first field */
	int		 d1;		/* its direction */
	const char	*f2;		/* second field, or NULL */
	int		 d2;		/* its direction */
};

static const struct storage_index storage_indexes_wanted[] = {
	{ STORAGE_SNAPSHOTS, "status_finished", "status", 1, "finished_at",
	    -1 },
	{ STORAGE_SNAPSHOTS, "finished", "finished_at", -1, NULL, 0 },
	{ STORAGE_USERS, "snapshot_user", "snapshot_id", 1, "user", 1 },
	{ STORAGE_USERS, "snapshot_bytes", "snapshot_id", 1, "bytes", -1 },
};

/*
 * Create the indexes; an existing one is a no-op.  One createIndexes per
 * index: FerretDB v1.24 drops the connection when every index of a
 * multi-index createIndexes already exists (docs/ferretdb.md).
 */
static bool
storage_indexes(struct storage_walk *w)
{
	for (size_t i = 0; i < sizeof(storage_indexes_wanted) /
	    sizeof(storage_indexes_wanted[0]); i++) {
		const struct storage_index *x = &storage_indexes_wanted[i];
		bson_t		 cmd = BSON_INITIALIZER, list, item, key, reply;
		bson_error_t	 e;
		bool		 ok;

		BSON_APPEND_UTF8(&cmd, "createIndexes", x->coll);
		BSON_APPEND_ARRAY_BEGIN(&cmd, "indexes", &list);
		BSON_APPEND_DOCUMENT_BEGIN(&list, "0", &item);
		BSON_APPEND_DOCUMENT_BEGIN(&item, "key", &key);
		BSON_APPEND_INT32(&key, x->f1, x->d1);
		if (x->f2 != NULL)
			BSON_APPEND_INT32(&key, x->f2, x->d2);
		bson_append_document_end(&item, &key);
		BSON_APPEND_UTF8(&item, "name", x->name);
		bson_append_document_end(&list, &item);
		bson_append_array_end(&cmd, &list);
		ok = mongo_command(&w->mongo, STORAGE_DB, &cmd, &reply, &e);
		bson_destroy(&cmd);
		bson_destroy(&reply);
		if (!ok) {
			storage_error(w, "createIndexes %s on %s.%s: %s",
			    x->name, STORAGE_DB, x->coll, e.message);
			return false;
		}
	}
	return true;
}

/* Where storage_snapshot_ids() collects the snapshots a query found. */
struct storage_ids {
	bson_t		*ids;		/* their _ids, as an array */
	uint32_t	 n;		/* how many */
	const bson_oid_t *except;	/* one to leave out, or NULL */
};

/* mongo_find_each()'s callback: collect a snapshot's _id. */
static int
storage_snapshot_ids(const bson_t *doc, void *arg)
{
	struct storage_ids	*x = arg;
	bson_iter_t		 it;
	const char		*key;
	char			 idx[16];

	if (!bson_iter_init_find(&it, doc, "_id") ||
	    !BSON_ITER_HOLDS_OID(&it) || (x->except != NULL &&
	    bson_oid_equal(bson_iter_oid(&it), x->except)))
		return 0;
	bson_uint32_to_string(x->n++, &key, idx, sizeof(idx));
	BSON_APPEND_OID(x->ids, key, bson_iter_oid(&it));
	return 0;
}

/* The _id of the newest snapshot matching filter; false if none. */
static bool
storage_newest_id(struct storage_walk *w, const bson_t *filter,
    bson_oid_t *id)
{
	bson_t		 ids = BSON_INITIALIZER;
	struct storage_ids x = { &ids, 0, NULL };
	bson_t		*opts = BCON_NEW("sort", "{", "finished_at",
			    BCON_INT32(-1), "}", "limit", BCON_INT64(1),
			    "projection", "{", "_id", BCON_INT32(1), "}");
	bson_error_t	 e;
	bson_iter_t	 it;
	bool		 found = false;

	if (mongo_find_each(&w->mongo, STORAGE_DB, STORAGE_SNAPSHOTS, filter,
	    opts, storage_snapshot_ids, &x, &e) && x.n > 0 &&
	    bson_iter_init_find(&it, &ids, "0")) {
		bson_oid_copy(bson_iter_oid(&it), id);
		found = true;
	}
	bson_destroy(&ids);
	bson_destroy(opts);
	return found;
}

/*
 * Delete snapshots older than the newest SILO_STORAGE_HISTORY, good or
 * failed, with their user rows, except the newest good one: a long run
 * of failures must not take away the snapshot the API serves.  A failure
 * here is logged, not the refresh's.
 */
static void
storage_retention(struct storage_walk *w, mongoc_collection_t *snaps,
    mongoc_collection_t *rows, mongoc_collection_t *answers)
{
	bson_t		*opts, *ok = BCON_NEW("status", BCON_UTF8("ok"));
	bson_t		 empty = BSON_INITIALIZER, ids = BSON_INITIALIZER;
	bson_oid_t	 keep;
	struct storage_ids x = { &ids, 0, NULL };
	bson_error_t	 e;

	if (storage_newest_id(w, ok, &keep))
		x.except = &keep;
	opts = BCON_NEW("sort", "{", "finished_at", BCON_INT32(-1), "}",
	    "skip", BCON_INT64(w->config->storage_history),
	    "projection", "{", "_id", BCON_INT32(1), "}");
	if (!mongo_find_each(&w->mongo, STORAGE_DB, STORAGE_SNAPSHOTS, &empty,
	    opts, storage_snapshot_ids, &x, &e))
		log_warn("storage: listing old snapshots: %s", e.message);
	else if (x.n > 0) {
		bson_t	*byid = BCON_NEW("_id", "{", "$in",
			    BCON_ARRAY(&ids), "}");
		bson_t	*bysnap = BCON_NEW("snapshot_id", "{", "$in",
			    BCON_ARRAY(&ids), "}");

		if (!mongoc_collection_delete_many(rows, bysnap, NULL, NULL,
		    &e) ||
		    !mongoc_collection_delete_many(answers, byid, NULL, NULL,
		    &e) ||
		    !mongoc_collection_delete_many(snaps, byid, NULL, NULL, &e))
			log_warn("storage: deleting old snapshots: %s",
			    e.message);
		else
			log_info("storage: deleted %u old snapshots "
			    "(SILO_STORAGE_HISTORY=%d)", x.n,
			    w->config->storage_history);
		bson_destroy(byid);
		bson_destroy(bysnap);
	}
	bson_destroy(opts);
	bson_destroy(ok);
	bson_destroy(&ids);
}

/*
 * Render the latest good snapshot's answers into silo.storage_answers
 * under its _id, then drop the cache's copies.  A failure is logged, not
 * the refresh's: the API renders a snapshot it finds without answers.
 */
static void
storage_render(struct storage_walk *w, mongoc_collection_t *answers)
{
	struct silo_ctx	 ctx = { w->config, &w->mongo, 0 };
	bson_t		 snap, doc = BSON_INITIALIZER, *parts = NULL;
	bson_t		*filter = NULL, *opts = NULL;
	bson_iter_t	 it;
	bson_error_t	 e;
	cJSON		*all = NULL;
	char		*text = NULL, oid[25];

	if (!storage_newest(&w->mongo, "ok", NULL, &snap, &e)) {
		if (e.code != 0)
			log_warn("storage: answers: %s", e.message);
		goto forget;
	}
	if ((all = api_storage_render(&ctx, &snap, &e)) == NULL ||
	    (text = cJSON_PrintUnformatted(all)) == NULL ||
	    (parts = bson_new_from_json((const uint8_t *)text, -1,
	    &e)) == NULL) {
		log_warn("storage: rendering the answers: %s",
		    all == NULL || text != NULL ? e.message : "out of memory");
		goto out;
	}
	bson_iter_init_find(&it, &snap, "_id");
	BSON_APPEND_OID(&doc, "_id", bson_iter_oid(&it));
	BSON_APPEND_DATE_TIME(&doc, "finished_at",
	    mongo_get_date(&snap, "finished_at", 0));
	BSON_APPEND_DATE_TIME(&doc, "rendered_at", clock_real_ms());
	bson_concat(&doc, parts);
	filter = BCON_NEW("_id", BCON_OID(bson_iter_oid(&it)));
	opts = BCON_NEW("upsert", BCON_BOOL(true));
	if (!mongoc_collection_replace_one(answers, filter, &doc, opts, NULL,
	    &e))
		log_warn("storage: storing the answers in %s.%s: %s",
		    STORAGE_DB, STORAGE_ANSWERS, e.message);
	else {
		bson_oid_to_string(bson_iter_oid(&it), oid);
		log_info("storage: answers rendered for snapshot %s", oid);
	}
out:
	bson_destroy(&snap);
	if (parts != NULL)
		bson_destroy(parts);
	if (filter != NULL)
		bson_destroy(filter);
	if (opts != NULL)
		bson_destroy(opts);
	bson_destroy(&doc);
	free(text);
	cJSON_Delete(all);
forget:
	cache_forget(w->config, "storage-");
	cache_forget(w->config, CACHE_VARIANT "storage-");
}

/* Record the refresh: a good snapshot with its rows, or a failed one.
 * Rows of a snapshot that could not be recorded are deleted again. */
static void
storage_record(struct storage_walk *w)
{
	mongoc_collection_t	*snaps, *rows, *answers;
	bson_t			 doc = BSON_INITIALIZER;
	bson_oid_t		 id;
	bson_error_t		 e;
	bool			 good = w->nerrors == 0 && !w->oom;
	bool			 wrote_rows = good, inserted;

	bson_oid_init(&id, NULL);
	snaps = mongoc_client_get_collection(w->mongo.client, STORAGE_DB,
	    STORAGE_SNAPSHOTS);
	rows = mongoc_client_get_collection(w->mongo.client, STORAGE_DB,
	    STORAGE_USERS);
	answers = mongoc_client_get_collection(w->mongo.client, STORAGE_DB,
	    STORAGE_ANSWERS);
	if (good)
		good = storage_write_users(w, rows, &id);
	if (good && !storage_snapshot_doc(w, &id, &doc)) {
		storage_error(w, "out of memory building the snapshot");
		good = false;
	}
	if (!good) {
		bson_reinit(&doc);
		storage_failed_doc(w, &id, &doc);
	}
	if (!(inserted = mongoc_collection_insert_one(snaps, &doc, NULL, NULL,
	    &e)))
		storage_error(w, "insert into %s.%s: %s", STORAGE_DB,
		    STORAGE_SNAPSHOTS, e.message);
	if (wrote_rows && !(good && inserted)) {
		bson_t	*mine = BCON_NEW("snapshot_id", BCON_OID(&id));

		mongoc_collection_delete_many(rows, mine, NULL, NULL, NULL);
		bson_destroy(mine);
	}
	if (inserted) {
		storage_retention(w, snaps, rows, answers);
		storage_render(w, answers);
	}
	bson_destroy(&doc);
	mongoc_collection_destroy(snaps);
	mongoc_collection_destroy(rows);
	mongoc_collection_destroy(answers);
}

/* ------------------------------------------------------------------ */
/* For the API: the newest snapshot                                    */
/* ------------------------------------------------------------------ */

/*
 * The newest snapshot with status (NULL: any), only the fields projection
 * names (NULL: all of it; a snapshot lists prefixes, types and the largest
 * objects, so readers that need three fields say so).  False if none or
 * on an error (e->code is then non-zero).
 */
bool
storage_newest(struct mongo *m, const char *status,
    const bson_t *projection, bson_t *out, bson_error_t *e)
{
	bson_t	*filter = status != NULL ?
		    BCON_NEW("status", BCON_UTF8(status)) : bson_new();
	bson_t	*opts = BCON_NEW("sort", "{", "finished_at", BCON_INT32(-1),
		    "}", "limit", BCON_INT64(1));
	bool	 found;

	if (projection != NULL)
		BSON_APPEND_DOCUMENT(opts, "projection", projection);

	found = mongo_find_one(m, STORAGE_DB, STORAGE_SNAPSHOTS, filter, opts,
	    out, e);
	bson_destroy(filter);
	bson_destroy(opts);
	return found;
}

/* ------------------------------------------------------------------ */
/* The job                                                             */
/* ------------------------------------------------------------------ */

/* The walk's buckets from SPACES_BUCKETS. */
static bool
storage_buckets_init(struct storage_walk *w)
{
	const char	*p = w->config->spaces_buckets;

	if ((w->buckets = calloc(CONFIG_MAX_BUCKETS,
	    sizeof(*w->buckets))) == NULL)
		return false;
	while (*p != '\0' && w->nbuckets < CONFIG_MAX_BUCKETS) {
		struct storage_bucket	*b = &w->buckets[w->nbuckets];
		size_t			 len;

		p += strspn(p, " ,");
		if ((len = strcspn(p, " ,")) == 0)
			break;
		if ((b->name = strndup(p, len)) == NULL)
			return false;
		b->role = storage_key_role(w->config, b->name);
		w->nbuckets++;
		p += len;
	}
	return true;
}

static void
storage_walk_free(struct storage_walk *w)
{
	for (size_t b = 0; b < w->nbuckets; b++) {
		free(w->buckets[b].name);
		storage_map_free(&w->buckets[b].kinds, NULL);
	}
	free(w->buckets);
	storage_map_free(&w->users, storage_user_free);
	storage_map_free(&w->types, NULL);
	for (size_t i = 0; i < w->nbig; i++)
		free(w->big[i].key);
	free(w->big);
	for (size_t i = 0; i < w->npending; i++)
		free(w->pending[i].code);
	free(w->pending);
	for (size_t i = 0; i < w->nerrors; i++)
		free(w->errors[i]);
}

/* Open both clients; 0, or -1 with the reason printed. */
static int
storage_open(struct storage_walk *w)
{
	const struct silo_config *c = w->config;
	char			 err[1024];

	if (spaces_open_config(&w->s3, c, err, sizeof(err)) == -1) {
		log_err("storage: %s", err);
		return -1;
	}
	if (mongo_open_job(&w->mongo, c, err, sizeof(err)) == -1) {
		log_err("storage: %s", err);
		spaces_close(&w->s3);
		return -1;
	}
	return 0;
}

/* The summary line. */
static void
storage_summary(const struct storage_walk *w)
{
	double	 secs = (clock_ms() - w->t0) / 1000;
	bool	 good = w->nerrors == 0 && !w->oom;

	log_msg(good ? LOG_LEVEL_INFO : LOG_LEVEL_ERR, "storage: %s: %zu "
	    "buckets, %" PRIu64 " objects, %" PRIu64 " bytes, %zu users with "
	    "objects, %.1f s, %.0f objects/s%s",
	    good ? "snapshot recorded" : "refresh FAILED",
	    w->nbuckets, w->total.objects, w->total.bytes, w->users.n, secs,
	    secs > 0 ? (double)w->total.objects / secs : 0,
	    w->nerrors == 0 ? "" : " (the last good snapshot is kept)");
}

/* Walk, count and record; the process's exit status. */
static int
storage_refresh(struct storage_walk *w)
{
	w->started_ms = clock_real_ms();
	w->t0 = w->last_progress = clock_ms();
	w->capbig = (size_t)w->config->storage_top_objects;
	if (!storage_buckets_init(w) ||
	    (w->big = calloc(w->capbig, sizeof(*w->big))) == NULL ||
	    (w->pending = calloc(STORAGE_TAPE_BATCH,
	    sizeof(*w->pending))) == NULL) {
		log_err("storage: out of memory");
		return 1;
	}
	if (storage_open(w) == -1)
		return 1;
	if (storage_indexes(w))
		storage_walk_buckets(w);
	if (w->nerrors == 0 && !w->oom)
		storage_tapes_flush(w);
	if (w->nerrors == 0 && !w->oom)
		storage_handles(w);
	if (w->oom && w->nerrors == 0)
		storage_error(w, "out of memory");
	storage_record(w);
	storage_summary(w);
	mongo_close(&w->mongo);
	spaces_close(&w->s3);
	return w->nerrors == 0 ? 0 : 1;
}

int
storage_main(const struct silo_config *config, const struct storage_opts *o)
{
	struct storage_walk	 w;
	char			 holder[256];
	int			 fd, rc;

	if (config->spaces_buckets == NULL || config->spaces_key == NULL ||
	    config->spaces_secret == NULL) {
		log_err("storage: not set:%s%s%s (see silo help storage)",
		    config->spaces_buckets == NULL ? " SPACES_BUCKETS" : "",
		    config->spaces_key == NULL ? " SPACES_KEY" : "",
		    config->spaces_secret == NULL ? " SPACES_SECRET" : "");
		return 2;
	}
	rc = job_lock(config->storage_lock, o->lock_fd, &fd, holder,
	    sizeof(holder));
	if (rc == 1) {
		log_err("storage: a refresh is already running (%s; lock %s)",
		    holder, config->storage_lock);
		return STORAGE_EXIT_BUSY;
	}
	if (rc == -1) {
		log_err("storage: cannot take the lock: %s", holder);
		return 1;
	}
	memset(&w, 0, sizeof(w));
	w.config = config;
	mongo_log_init();
	rc = storage_refresh(&w);
	storage_walk_free(&w);
	/* fd stays open: the lock is held until the process has exited, so
	 * no second refresh starts while this one is still winding down. */
	return rc;
}
