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
 * Reading a fresh value takes no lock: one open, one read, one parse.
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
 */
#include "config.h"

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

/* Read <key>.json into slot->value and slot->cached_at. */
static void
cache_read(struct cache_slot *slot)
{
	struct stat	 st;
	char		*buf = NULL, *nl;
	ssize_t		 got;
	int		 fd;

	cJSON_Delete(slot->value);
	slot->value = NULL;
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
	slot->value = cJSON_Parse(nl + 1);
out:
	free(buf);
	close(fd);
}

static bool
cache_is_fresh(const struct silo_config *c, const struct cache_slot *slot)
{
	double	 age = clock_real() - slot->cached_at;

	return slot->value != NULL && age >= -1 && age < c->cache_ttl_s;
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
 * Look the key up.  Afterwards either slot->value is set (fresh, or stale
 * while another worker refreshes it) or slot->must_fill says that this
 * caller is to make the value and cache_store() it.
 */
void
cache_open(const struct silo_config *c, const char *key,
    struct cache_slot *slot)
{
	char	 lockpath[sizeof(slot->path)];

	memset(slot, 0, sizeof(*slot));
	slot->lock_fd = -1;
	if (c->cache_ttl_s == 0 || !cache_key_valid(key)) {
		slot->must_fill = true;
		return;
	}
	snprintf(slot->key, sizeof(slot->key), "%s", key);
	snprintf(slot->path, sizeof(slot->path), "%s/%s.json", c->cache_dir,
	    key);
	cache_read(slot);
	if ((slot->fresh = cache_is_fresh(c, slot)))
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
		if ((slot->fresh = cache_is_fresh(c, slot))) {
			close(slot->lock_fd);
			slot->lock_fd = -1;
		} else
			slot->must_fill = true;
		return;
	}
	if (slot->value != NULL) {
		close(slot->lock_fd);	/* being refreshed: serve it stale */
		slot->lock_fd = -1;
		return;
	}
	if (cache_wait_lock(c, slot->lock_fd)) {
		cache_read(slot);	/* the refresher's value, if any */
		slot->fresh = cache_is_fresh(c, slot);
		if (slot->value == NULL) {
			slot->must_fill = true;	/* keep the lock and fill */
			return;
		}
	} else
		slot->must_fill = true;	/* it took too long: make our own */
	close(slot->lock_fd);
	slot->lock_fd = -1;
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
	}
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
 * The value for key, from the cache or made by fill and stored; stamped
 * with its age.  The caller owns the result.  NULL when fill made nothing.
 */
cJSON *
cache_get(struct silo_ctx *ctx, const char *key, cache_fill_fn fill,
    void *arg)
{
	struct cache_slot	 slot;
	cJSON			*value;
	double			 at;
	bool			 keep = true;

	cache_open(ctx->config, key, &slot);
	/* A miss is expensive work (busy.c): past the cap, the stale value
	 * if there is one, else nothing and the request is a 503 busy. */
	if (slot.must_fill && busy_enter(ctx->config, slot.value != NULL)) {
		value = fill(ctx, arg, &keep);
		busy_leave();
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
