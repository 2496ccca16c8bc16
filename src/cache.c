/*
 * cache.c: answers every worker shares for SILO_CACHE_TTL_S seconds.
 *
 * Probing AC's services and scanning collections costs from milliseconds
 * to seconds, and the dashboard, AC's monitoring and anyone with the URL
 * may ask at once.  Each of silo's workers is its own process, so a cache
 * in a worker's memory would probe once per worker and could not stop a
 * burst spread over the pool.  The cache is therefore on disk, one small
 * file per key in SILO_CACHE_DIR:
 *
 *   <key>.json   the time it was made (seconds, first line), then the
 *                value as JSON.  Written to a temporary name and renamed,
 *                so a reader sees the old file or the new one, never half
 *                of one, without any lock.
 *   <key>.lock   empty; whoever holds flock() on it is refreshing <key>.
 *
 * Reading a fresh value takes no lock: one open, one read, one parse,
 * or none: cache_get_text() hands the stored JSON text on as it is, and
 * cache_text_with() appends the freshness fields to it, so a hit on a
 * large answer is not parsed and printed again.
 * A missing or expired value is refreshed by the one worker that gets the
 * lock without blocking (LOCK_NB); it reads the file again once it holds
 * the lock, since another worker may have just written it.  Meanwhile
 * the others serve the stale value at once, and a worker with no value
 * at all waits for the refresher, a bounded time, then reads what it
 * wrote.  So a burst of requests makes one probe, and nobody waits longer
 * than one probe would take.  flock() locks are released by the kernel
 * when a worker dies, so a crash mid-refresh leaves no stuck lock.
 *
 * Why files, and not MongoDB or shared memory: the values are small, the
 * directory is local (systemd's CacheDirectory=, /var/cache/silo), the
 * page cache makes a fresh read a memory copy, and the cache keeps
 * working when the database is what is down, which is when the dashboard
 * is needed most.  Shared memory would need its own allocator and locking
 * and would vanish with the pool; the files survive a restart, and their
 * times say how old they are.
 *
 * A value carries its age to the client: cache_stamp() adds cached_at
 * (ISO 8601, UTC) and age_s.  With SILO_CACHE_TTL_S=0 nothing is stored
 * and every request makes its own.
 *
 * Lifetimes.  A key lives SILO_CACHE_TTL_S seconds and is served stale
 * while one worker refreshes it (cache_get).  A key that must never be
 * older than its bound (the database's health: at most one round trip a
 * second, never an answer older than that) is asked with
 * cache_get_within(): no stale value, the others wait for the refresher
 * as a worker with no value does.
 *
 * Making a value.  Whatever a miss costs (a collection scan, a probe) is
 * spent in one place, cache_compute(), so that what bounds expensive
 * work across the pool wraps that one call.
 *
 * Bounds.  Nothing may fill the disk: after each store the directory is
 * trimmed to SILO_CACHE_MAX_ENTRIES values and SILO_CACHE_MAX_BYTES bytes
 * of them, oldest stored first (by the file's mtime), and the values of
 * query parameters outside a route's defaults (keys beginning with
 * CACHE_VARIANT, "q-") to SILO_CACHE_MAX_VARIANTS of their own, so a
 * client trying combinations evicts only its own kind and never the
 * dashboard's entries.  The trim (a readdir and a stat per value, at
 * most SILO_CACHE_MAX_ENTRIES) holds flock() on <dir>/.trim, so two
 * workers never count the same directory at once.  It removes a value's
 * lock with it, and leftovers: temporary files and locks without a value
 * older than CACHE_LEFTOVER_S.  A lock removed while a worker refreshes
 * its key costs at most one more fill of that key, never a wrong value:
 * values are only ever renamed into place whole.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "extern.h"

#define	CACHE_MAX_FILE		(8u << 20)	/* a larger file is ignored */
#define	CACHE_WAIT_STEP_MS	20		/* poll interval for the lock */
#define	CACHE_WAIT_EXTRA_MS	1000		/* beyond one probe's bound */
#define	CACHE_LEFTOVER_S	600	/* a stray .tmp or .lock is removed */
#define	CACHE_TRIM_LOCK		".trim"	/* flock()ed while trimming */

/* One file of the directory, as the trim sees it. */
struct cache_file {
	char		 name[128];	/* <key>.json */
	struct timespec	 mtime;		/* when it was stored */
	off_t		 size;		/* its bytes */
	bool		 variant;	/* a CACHE_VARIANT key's */
	bool		 gone;		/* evicted by this trim */
};

/* Keys become file names: only [a-z0-9._-], and never a dot first. */
static bool
cache_key_valid(const char *key)
{
	size_t	 len = strlen(key);

	if (len == 0 || len >= sizeof(((struct cache_slot *)0)->key) ||
	    key[0] == '.')
		return false;
	for (const char *p = key; *p != '\0'; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
		    *p == '.' || *p == '_' || *p == '-'))
			return false;
	return true;
}

/* Read <key>.json into slot->cached_at and slot->value, or for a raw
 * slot into slot->text, unparsed. */
static void
cache_read(struct cache_slot *slot)
{
	struct stat	 st;
	char		*buf = NULL, *nl;
	ssize_t		 got;
	size_t		 len;
	int		 fd;

	cJSON_Delete(slot->value);
	slot->value = NULL;
	free(slot->text);
	slot->text = NULL;
	if ((fd = open(slot->path, O_RDONLY | O_CLOEXEC)) == -1)
		return;
	if (fstat(fd, &st) == -1 || st.st_size <= 0 ||
	    (size_t)st.st_size > CACHE_MAX_FILE ||
	    (buf = malloc((size_t)st.st_size + 1)) == NULL)
		goto out;
	if ((got = read(fd, buf, (size_t)st.st_size)) != st.st_size)
		goto out;
	buf[got] = '\0';
	if ((nl = strchr(buf, '\n')) == NULL)
		goto out;
	*nl = '\0';
	slot->cached_at = strtod(buf, NULL);
	if (!slot->raw)
		slot->value = cJSON_Parse(nl + 1);
	else if ((len = strlen(nl + 1)) >= 2 && nl[len] == '\n' &&
	    nl[1] == '{' && nl[len - 1] == '}') {
		/* As cache_store_at() wrote it: one object, one newline. */
		nl[len] = '\0';
		memmove(buf, nl + 1, len);
		slot->text = buf;
		buf = NULL;
	}
out:
	free(buf);
	close(fd);
}

static bool
cache_is_fresh(const struct cache_slot *slot)
{
	double	 age = clock_real() - slot->cached_at;

	return (slot->value != NULL || slot->text != NULL) && age >= -1 &&
	    age < slot->max_age_s;
}

/* Wait, a bounded time, for the worker refreshing the key to finish. */
static bool
cache_wait_lock(const struct silo_config *c, int fd)
{
	double	 deadline = clock_ms() + c->probe_timeout_ms +
		    CACHE_WAIT_EXTRA_MS;

	while (clock_ms() < deadline) {
		struct timespec	 step = { 0, CACHE_WAIT_STEP_MS * 1000000L };

		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			return true;
		nanosleep(&step, NULL);
	}
	return false;
}

/*
 * cache_open_within(), and for a raw slot the value is slot->text, as it
 * was stored, not parsed.
 */
static void
cache_open_slot(const struct silo_config *c, const char *key,
    double max_age_s, bool stale_ok, bool raw, struct cache_slot *slot)
{
	char	 lockpath[sizeof(slot->path)];

	memset(slot, 0, sizeof(*slot));
	slot->lock_fd = -1;
	slot->max_age_s = max_age_s;
	slot->raw = raw;
	if (c->cache_ttl_s == 0 || max_age_s <= 0 || !cache_key_valid(key)) {
		slot->must_fill = true;
		return;
	}
	snprintf(slot->key, sizeof(slot->key), "%s", key);
	snprintf(slot->path, sizeof(slot->path), "%s/%s.json", c->cache_dir,
	    key);
	cache_read(slot);
	if ((slot->fresh = cache_is_fresh(slot)))
		return;

	snprintf(lockpath, sizeof(lockpath), "%s/%s.lock", c->cache_dir, key);
	if (mkdir(c->cache_dir, 0750) == -1 && errno != EEXIST)
		log_warn("cache: mkdir %s: %s", c->cache_dir, strerror(errno));
	if ((slot->lock_fd = open(lockpath, O_RDWR | O_CREAT | O_CLOEXEC,
	    0640)) == -1) {
		log_warn("cache: %s: %s", lockpath, strerror(errno));
		slot->must_fill = true;
		return;
	}
	if (flock(slot->lock_fd, LOCK_EX | LOCK_NB) == 0) {
		/* Ours now; perhaps someone refreshed it just before. */
		cache_read(slot);
		if ((slot->fresh = cache_is_fresh(slot))) {
			close(slot->lock_fd);
			slot->lock_fd = -1;
		} else
			slot->must_fill = true;
		return;
	}
	if ((slot->value != NULL || slot->text != NULL) && stale_ok) {
		close(slot->lock_fd);	/* being refreshed: serve it stale */
		slot->lock_fd = -1;
		return;
	}
	if (cache_wait_lock(c, slot->lock_fd)) {
		cache_read(slot);	/* the refresher's value, if any */
		slot->fresh = cache_is_fresh(slot);
		if ((slot->value == NULL && slot->text == NULL) ||
		    (!slot->fresh && !stale_ok)) {
			slot->must_fill = true;	/* keep the lock and fill */
			return;
		}
	} else
		slot->must_fill = true;	/* it took too long: make our own */
	close(slot->lock_fd);
	slot->lock_fd = -1;
}

/*
 * Look the key up, for a value at most max_age_s old; stale_ok: an older
 * one may be served while another worker refreshes it.  Afterwards
 * either slot->value is set (fresh, or stale while another worker
 * refreshes it) or slot->must_fill says that this caller is to make the
 * value and cache_store() it.
 */
void
cache_open_within(const struct silo_config *c, const char *key,
    double max_age_s, bool stale_ok, struct cache_slot *slot)
{
	cache_open_slot(c, key, max_age_s, stale_ok, false, slot);
}

/* cache_open_within() for SILO_CACHE_TTL_S, stale while refreshed. */
void
cache_open(const struct silo_config *c, const char *key,
    struct cache_slot *slot)
{
	cache_open_within(c, key, c->cache_ttl_s, true, slot);
}

/* ---------------------------------------------------------------- bounds */

/* Oldest stored first; equal times by name, so the order is stable. */
static int
cache_file_cmp(const void *a, const void *b)
{
	const struct cache_file *x = a, *y = b;

	if (x->mtime.tv_sec != y->mtime.tv_sec)
		return x->mtime.tv_sec < y->mtime.tv_sec ? -1 : 1;
	if (x->mtime.tv_nsec != y->mtime.tv_nsec)
		return x->mtime.tv_nsec < y->mtime.tv_nsec ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* Remove <key>.json and <key>.lock of one value. */
static void
cache_evict(int dfd, struct cache_file *f)
{
	char	 lock[sizeof(f->name)];
	size_t	 len = strlen(f->name) - 5;	/* without ".json" */

	snprintf(lock, sizeof(lock), "%.*s.lock", (int)len, f->name);
	if (unlinkat(dfd, f->name, 0) == -1 && errno != ENOENT)
		log_warn("cache: evicting %s: %s", f->name, strerror(errno));
	unlinkat(dfd, lock, 0);
	f->gone = true;
}

/* A stray file: a temporary one, or a lock whose value is gone, left
 * longer than any refresh takes. */
static void
cache_sweep(int dfd, const char *name, const struct stat *st, double now)
{
	size_t	 len = strlen(name);
	char	 value[sizeof(((struct cache_file *)0)->name)];
	struct stat vst;

	if (now - (double)st->st_mtime < CACHE_LEFTOVER_S)
		return;
	if (len > 4 && strcmp(name + len - 4, ".tmp") == 0) {
		unlinkat(dfd, name, 0);
		return;
	}
	if (len <= 5 || len >= sizeof(value) ||
	    strcmp(name + len - 5, ".lock") != 0)
		return;
	snprintf(value, sizeof(value), "%.*s.json", (int)(len - 5), name);
	if (fstatat(dfd, value, &vst, 0) == -1 && errno == ENOENT)
		unlinkat(dfd, name, 0);
}

/* The directory's values into *files (the caller frees it), sweeping
 * strays on the way; -1 if it cannot be read. */
static ssize_t
cache_list(DIR *d, struct cache_file **files)
{
	struct dirent	*de;
	struct stat	 st;
	size_t		 n = 0, cap = 0;
	double		 now = clock_real();
	int		 dfd = dirfd(d);

	*files = NULL;
	while ((de = readdir(d)) != NULL) {
		size_t	 len = strlen(de->d_name);

		if (de->d_name[0] == '.' ||
		    fstatat(dfd, de->d_name, &st, 0) == -1 ||
		    !S_ISREG(st.st_mode))
			continue;
		if (len <= 5 || strcmp(de->d_name + len - 5, ".json") != 0 ||
		    len >= sizeof((*files)->name)) {
			cache_sweep(dfd, de->d_name, &st, now);
			continue;
		}
		if (n == cap) {
			struct cache_file *more;

			cap = cap ? cap * 2 : 64;
			if ((more = realloc(*files, cap *
			    sizeof(**files))) == NULL) {
				free(*files);
				*files = NULL;
				return -1;
			}
			*files = more;
		}
		memset(&(*files)[n], 0, sizeof(**files));
		snprintf((*files)[n].name, sizeof((*files)[n].name), "%s",
		    de->d_name);
		(*files)[n].mtime = st.st_mtim;
		(*files)[n].size = st.st_size;
		(*files)[n].variant = strncmp(de->d_name, CACHE_VARIANT,
		    strlen(CACHE_VARIANT)) == 0;
		n++;
	}
	return (ssize_t)n;
}

/* Evict, oldest first, until the values are within the three caps. */
static void
cache_evict_over(const struct silo_config *c, int dfd,
    struct cache_file *files, size_t n)
{
	size_t	 entries = n, variants = 0, evicted = 0;
	uint64_t bytes = 0;

	for (size_t i = 0; i < n; i++) {
		bytes += (uint64_t)files[i].size;
		variants += files[i].variant;
	}
	qsort(files, n, sizeof(*files), cache_file_cmp);
	for (size_t i = 0; i < n && variants > (size_t)c->cache_max_variants;
	    i++)
		if (files[i].variant) {
			cache_evict(dfd, &files[i]);
			variants--;
			entries--;
			bytes -= (uint64_t)files[i].size;
			evicted++;
		}
	for (size_t i = 0; i < n && (entries > (size_t)c->cache_max_entries ||
	    bytes > c->cache_max_bytes); i++)
		if (!files[i].gone) {
			cache_evict(dfd, &files[i]);
			entries--;
			bytes -= (uint64_t)files[i].size;
			evicted++;
		}
	if (evicted > 0)
		log_debug("cache: evicted %zu, %zu left, %llu bytes", evicted,
		    entries, (unsigned long long)bytes);
}

/* Keep the directory within SILO_CACHE_MAX_ENTRIES, _MAX_BYTES and
 * _MAX_VARIANTS, one worker at a time. */
static void
cache_trim(const struct silo_config *c)
{
	struct cache_file *files;
	DIR		*d;
	ssize_t		 n;
	int		 lock;

	if ((d = opendir(c->cache_dir)) == NULL)
		return;
	if ((lock = openat(dirfd(d), CACHE_TRIM_LOCK, O_RDWR | O_CREAT |
	    O_CLOEXEC, 0640)) == -1 || flock(lock, LOCK_EX) == -1) {
		log_warn("cache: %s/%s: %s", c->cache_dir, CACHE_TRIM_LOCK,
		    strerror(errno));
		goto out;
	}
	if ((n = cache_list(d, &files)) == -1) {
		log_warn("cache: out of memory listing %s", c->cache_dir);
		goto out;
	}
	cache_evict_over(c, dirfd(d), files, (size_t)n);
	free(files);
out:
	if (lock != -1)
		close(lock);	/* releases the flock */
	closedir(d);
}

/* Store value (not taken) for the slot's key, atomically, made now. */
void
cache_store(const struct silo_config *c, struct cache_slot *slot,
    cJSON *value)
{
	cache_store_at(c, slot, value, clock_real());
}

/* The same for a value as old as its oldest part, made at `at`: it
 * expires when that part does. */
void
cache_store_at(const struct silo_config *c, struct cache_slot *slot,
    cJSON *value, double at)
{
	char	 tmp[sizeof(slot->path) + 32], *text;
	FILE	*f;
	bool	 ok;

	slot->cached_at = at;
	if (c->cache_ttl_s == 0 || slot->key[0] == '\0')
		return;
	if ((text = cJSON_PrintUnformatted(value)) == NULL)
		return;
	snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", slot->path, (long)getpid());
	if ((f = fopen(tmp, "we")) == NULL) {
		log_warn("cache: %s: %s", tmp, strerror(errno));
		free(text);
		return;
	}
	ok = fprintf(f, "%.3f\n%s\n", slot->cached_at, text) > 0;
	ok = fclose(f) == 0 && ok;
	if (!ok || rename(tmp, slot->path) == -1) {
		log_warn("cache: writing %s: %s", slot->path, strerror(errno));
		unlink(tmp);
	} else
		cache_trim(c);
	free(text);
}

void
cache_close(struct cache_slot *slot)
{
	if (slot->lock_fd != -1)
		close(slot->lock_fd);	/* releases the flock */
	slot->lock_fd = -1;
	cJSON_Delete(slot->value);
	slot->value = NULL;
	free(slot->text);
	slot->text = NULL;
}

/*
 * Add cached_at and age_s to obj.  cached_at is written as resp_add_time()
 * writes a time (whole seconds, null when it is no time), but here with
 * clock_iso(): a client does not call up into the edge's response.c.
 */
void
cache_stamp(cJSON *obj, double cached_at)
{
	double		 age = clock_real() - cached_at;
	char		 iso[CLOCK_ISO_MAX];

	cJSON_DeleteItemFromObjectCaseSensitive(obj, "cached_at");
	cJSON_DeleteItemFromObjectCaseSensitive(obj, "age_s");
	if (cached_at > -9e15 && cached_at < 9e15 &&
	    clock_iso((int64_t)cached_at * 1000, CLOCK_ISO_S, iso,
	    sizeof(iso)))
		cJSON_AddStringToObject(obj, "cached_at", iso);
	else
		cJSON_AddNullToObject(obj, "cached_at");
	cJSON_AddNumberToObject(obj, "age_s",
	    age < 0 ? 0 : (double)(int64_t)(age * 10) / 10);
}

/*
 * Make the value of a missing or expired key: fill's work, and the one
 * place silo spends what a miss costs (a scan, a round trip, a probe).
 * It is expensive work, so busy.c's cap applies: past it, false, and the
 * caller serves the stale value it has (has_stale), else nothing and the
 * request is a 503 busy.
 */
static bool
cache_compute(struct silo_ctx *ctx, const char *key, bool has_stale,
    cache_fill_fn fill, void *arg, bool *keep, cJSON **value)
{
	if (!busy_enter(ctx->config, has_stale))
		return false;
	log_debug("cache: making %s", key);
	*value = fill(ctx, arg, keep);
	busy_leave();
	return true;
}

/* cache_get() and cache_get_within(): the value, stamped with its age. */
static cJSON *
cache_fetch(struct silo_ctx *ctx, const char *key, double max_age_s,
    bool stale_ok, cache_fill_fn fill, void *arg)
{
	struct cache_slot	 slot;
	cJSON			*value;
	double			 at;
	bool			 keep = true;

	cache_open_within(ctx->config, key, max_age_s, stale_ok, &slot);
	if (slot.must_fill && cache_compute(ctx, key, slot.value != NULL,
	    fill, arg, &keep, &value)) {
		if (value != NULL && keep)
			cache_store(ctx->config, &slot, value);
		at = value != NULL && keep ? slot.cached_at : clock_real();
	} else {
		value = slot.value;
		slot.value = NULL;
		at = slot.cached_at;
	}
	cache_close(&slot);
	if (value != NULL)
		cache_stamp(value, at);
	return value;
}

/*
 * The value for key, from the cache or made by fill and stored; stamped
 * with its age.  The caller owns the result.  NULL when fill made nothing.
 * A stale value is served while another worker makes the new one.
 */
cJSON *
cache_get(struct silo_ctx *ctx, const char *key, cache_fill_fn fill,
    void *arg)
{
	return cache_fetch(ctx, key, ctx->config->cache_ttl_s, true, fill,
	    arg);
}

/*
 * The same, never older than max_age_s (nor SILO_CACHE_TTL_S): while one
 * worker makes it, the others wait for its value instead of serving an
 * older one.
 */
cJSON *
cache_get_within(struct silo_ctx *ctx, const char *key, double max_age_s,
    cache_fill_fn fill, void *arg)
{
	if (max_age_s > ctx->config->cache_ttl_s)
		max_age_s = ctx->config->cache_ttl_s;
	return cache_fetch(ctx, key, max_age_s, false, fill, arg);
}

/*
 * The value for key as JSON text (an object), from the cache without
 * parsing it or made by fill and stored; *cached_at says when it was
 * made.  For a large answer a hit is then a file read, with no parse and
 * no print.  The caller frees the text.  NULL when fill made nothing.
 */
char *
cache_get_text(struct silo_ctx *ctx, const char *key, cache_fill_fn fill,
    void *arg, double *cached_at)
{
	struct cache_slot	 slot;
	cJSON			*value;
	char			*text = NULL;
	bool			 keep = true;

	cache_open_slot(ctx->config, key, ctx->config->cache_ttl_s, true, true,
	    &slot);
	if (slot.must_fill && cache_compute(ctx, key, slot.text != NULL,
	    fill, arg, &keep, &value)) {
		if (value != NULL && keep)
			cache_store(ctx->config, &slot, value);
		*cached_at = value != NULL && keep ? slot.cached_at :
		    clock_real();
		if (value != NULL)
			text = cJSON_PrintUnformatted(value);
		cJSON_Delete(value);
	} else {
		text = slot.text;
		slot.text = NULL;
		*cached_at = slot.cached_at;
	}
	cache_close(&slot);
	return text;
}

/*
 * text (a JSON object, taken) with fields (`"k":v,...`, no braces) added
 * at its end, as a raw JSON item for resp_json(): no parse, no print.
 */
cJSON *
cache_text_with(char *text, const char *fields)
{
	size_t	 len = strlen(text), flen = strlen(fields);
	char	*out;
	cJSON	*raw;

	if (len < 2 || text[len - 1] != '}' ||
	    (out = malloc(len + flen + 2)) == NULL) {
		free(text);
		return NULL;
	}
	memcpy(out, text, len - 1);
	len--;
	if (len > 1 && flen > 0)
		out[len++] = ',';
	memcpy(out + len, fields, flen);
	len += flen;
	out[len++] = '}';
	out[len] = '\0';
	raw = cJSON_CreateRaw(out);
	free(out);
	free(text);
	return raw;
}

/* `"cached_at":"<ISO 8601>","age_s":<s>` for a value made at cached_at,
 * as cache_stamp() adds them, into buf. */
void
cache_stamp_fields(double cached_at, char *buf, size_t bufsz)
{
	cJSON	*o = cJSON_CreateObject();
	char	*text;

	cache_stamp(o, cached_at);
	text = cJSON_PrintUnformatted(o);
	snprintf(buf, bufsz, "%.*s", text != NULL && strlen(text) >= 2 ?
	    (int)strlen(text) - 2 : 0, text != NULL ? text + 1 : "");
	free(text);
	cJSON_Delete(o);
}

/* Remove the values whose keys begin with prefix (a job's answers that
 * are out of date); the next request makes them again. */
void
cache_forget(const struct silo_config *c, const char *prefix)
{
	DIR		*d;
	struct dirent	*de;
	size_t		 plen = strlen(prefix);
	int		 dfd;

	if ((d = opendir(c->cache_dir)) == NULL)
		return;		/* no cache yet: nothing to forget */
	dfd = dirfd(d);
	while ((de = readdir(d)) != NULL) {
		size_t	 len = strlen(de->d_name);

		if (strncmp(de->d_name, prefix, plen) == 0 && len > 5 &&
		    strcmp(de->d_name + len - 5, ".json") == 0 &&
		    unlinkat(dfd, de->d_name, 0) == -1 && errno != ENOENT)
			log_warn("cache: removing %s/%s: %s", c->cache_dir,
			    de->d_name, strerror(errno));
	}
	closedir(d);
}
