/* Unit tests for cache.c: hits, misses, TTL, the refresh lock, stale values,
 * the caps and the text path. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "extern.h"

/* A configuration with a fresh cache directory. */
struct fixture {
	struct silo_config	 config;	/* only the cache fields are set */
	char			 dir[64];	/* the cache directory */
};

static int
setup(void **state)
{
	struct fixture	*f = calloc(1, sizeof(*f));

	snprintf(f->dir, sizeof(f->dir), "/tmp/silo-cache-test-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	f->config.cache_dir = f->dir;
	f->config.cache_ttl_s = 30;
	f->config.probe_timeout_ms = 100;	/* bounds the wait for a lock */
	f->config.cache_max_entries = 1000;	/* the defaults */
	f->config.cache_max_bytes = 64 << 20;
	f->config.cache_max_variants = 32;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture	*f = *state;
	char		 cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static cJSON *
value(int n)
{
	cJSON	*v = cJSON_CreateObject();

	cJSON_AddNumberToObject(v, "n", n);
	return v;
}

static int
value_n(const cJSON *v)
{
	return (int)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(v, "n"));
}

static void
miss_then_hit(void **state)
{
	struct fixture		*f = *state;
	struct cache_slot	 s;
	cJSON			*v = value(7);
	double			 t0, t1;

	cache_open(&f->config, "k1", &s);
	assert_true(s.must_fill);
	assert_null(s.value);
	assert_int_not_equal(s.lock_fd, -1);	/* it holds the refresh lock */
	t0 = clock_real();
	cache_store(&f->config, &s, v);
	t1 = clock_real();
	cache_close(&s);
	cJSON_Delete(v);

	cache_open(&f->config, "k1", &s);
	assert_false(s.must_fill);
	assert_true(s.fresh);
	assert_int_equal(s.lock_fd, -1);	/* a fresh read takes no lock */
	assert_int_equal(value_n(s.value), 7);
	/* stamped when stored, kept to the millisecond */
	assert_true(s.cached_at >= t0 - 0.001);
	assert_true(s.cached_at <= t1 + 0.001);
	cache_close(&s);
}

static void
expired_is_refreshed(void **state)
{
	struct fixture		*f = *state;
	struct cache_slot	 s;
	cJSON			*v = value(1);

	cache_open(&f->config, "k2", &s);
	cache_store_at(&f->config, &s, v, clock_real() - 31);
	cache_close(&s);
	cJSON_Delete(v);
	cache_open(&f->config, "k2", &s);
	assert_true(s.must_fill);		/* older than the TTL */
	assert_non_null(s.value);		/* the old value is there too */
	cache_close(&s);
}

static void
stale_served_while_another_refreshes(void **state)
{
	struct fixture		*f = *state;
	struct cache_slot	 refresher, reader;
	cJSON			*v = value(3);

	cache_open(&f->config, "k3", &refresher);
	cache_store_at(&f->config, &refresher, v, clock_real() - 60);
	cache_close(&refresher);
	cJSON_Delete(v);

	cache_open(&f->config, "k3", &refresher);
	assert_true(refresher.must_fill);
	/* A second open file description: flock() conflicts as between workers. */
	cache_open(&f->config, "k3", &reader);
	assert_false(reader.must_fill);
	assert_false(reader.fresh);
	assert_int_equal(value_n(reader.value), 3);
	cache_close(&reader);
	cache_close(&refresher);
}

static void
no_value_waits_a_bounded_time(void **state)
{
	struct fixture		*f = *state;
	struct cache_slot	 refresher, waiter;
	double			 t0;

	cache_open(&f->config, "k4", &refresher);
	assert_true(refresher.must_fill);
	t0 = clock_ms();
	cache_open(&f->config, "k4", &waiter);
	/* probe_timeout_ms + 1 s at most, then it makes its own */
	assert_true(clock_ms() - t0 < 100 + 1000 + 500);
	assert_true(clock_ms() - t0 >= 100);
	assert_true(waiter.must_fill);
	cache_close(&waiter);
	cache_close(&refresher);
}

static void
ttl_zero_stores_nothing(void **state)
{
	struct fixture		*f = *state;
	struct cache_slot	 s;
	cJSON			*v = value(5);

	f->config.cache_ttl_s = 0;
	cache_open(&f->config, "k5", &s);
	assert_true(s.must_fill);
	cache_store(&f->config, &s, v);
	cache_close(&s);
	cache_open(&f->config, "k5", &s);
	assert_true(s.must_fill);
	assert_null(s.value);
	cache_close(&s);
	cJSON_Delete(v);
}

static void
bad_keys_are_never_files(void **state)
{
	struct fixture		*f = *state;
	static const char *const bad[] = { "../escape", ".hidden", "A-upper",
	    "with space", "" };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct cache_slot	 s;
		cJSON			*v = value(9);

		cache_open(&f->config, bad[i], &s);
		assert_true(s.must_fill);
		cache_store(&f->config, &s, v);
		cache_close(&s);
		cJSON_Delete(v);
	}
	assert_int_equal(access("/tmp/escape.json", F_OK), -1);
}

static void
stamp_adds_age(void **state)
{
	cJSON	*v = value(1);
	double	 t0 = clock_real(), took, age;

	cache_stamp(v, t0 - 12.34);
	took = clock_real() - t0;
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(v, "cached_at")->valuestring +
	    19, "Z");
	/*
	 * 12.34 s plus the part of the call before it read the clock, cut
	 * down to a tenth: 12.3, unless the call took over 60 ms.
	 */
	age = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(v, "age_s"));
	assert_true(age >= 12.3);
	assert_true(age <= (double)(int64_t)((12.34 + took) * 10) / 10);
	cache_stamp(v, clock_real());	/* replaces, never duplicates */
	assert_int_equal(cJSON_GetArraySize(v), 3);
	cJSON_Delete(v);
}

/* Store value n under key, now. */
static void
put(struct fixture *f, const char *key, int n)
{
	struct cache_slot	 s;
	cJSON			*v = value(n);

	cache_open(&f->config, key, &s);
	assert_true(s.must_fill);
	cache_store(&f->config, &s, v);
	cache_close(&s);
	cJSON_Delete(v);
}

/* Is <key>.json in the cache directory? */
static bool
stored(struct fixture *f, const char *key)
{
	char	 path[128];

	snprintf(path, sizeof(path), "%s/%s.json", f->dir, key);
	return access(path, F_OK) == 0;
}

static void
entry_cap_evicts_the_oldest(void **state)
{
	struct fixture	*f = *state;
	char		 key[16];

	f->config.cache_max_entries = 3;
	for (int i = 0; i < 6; i++) {
		snprintf(key, sizeof(key), "e%d", i);
		put(f, key, i);
	}
	for (int i = 0; i < 6; i++) {
		snprintf(key, sizeof(key), "e%d", i);
		assert_int_equal(stored(f, key), i >= 3);
	}
}

static void
variants_evict_only_variants(void **state)
{
	struct fixture	*f = *state;
	char		 key[16];

	f->config.cache_max_variants = 2;
	put(f, "default", 1);
	for (int i = 0; i < 5; i++) {
		snprintf(key, sizeof(key), CACHE_VARIANT "v%d", i);
		put(f, key, i);
	}
	assert_true(stored(f, "default"));
	for (int i = 0; i < 5; i++) {
		snprintf(key, sizeof(key), CACHE_VARIANT "v%d", i);
		assert_int_equal(stored(f, key), i >= 3);
	}
}

/* A fill that makes {"n": *arg}. */
static cJSON *
fill_n(struct silo_ctx *ctx, void *arg, bool *keep)
{
	(*(int *)arg)++;
	return value(*(int *)arg);
}

static void
text_is_served_as_stored(void **state)
{
	struct fixture	*f = *state;
	struct silo_ctx	 ctx = { .config = &f->config };
	int		 made = 0;
	double		 at;
	char		*text, *out;
	cJSON		*raw;

	text = cache_get_text(&ctx, "t1", fill_n, &made, &at);
	assert_string_equal(text, "{\"n\":1}");
	free(text);
	text = cache_get_text(&ctx, "t1", fill_n, &made, &at);
	assert_string_equal(text, "{\"n\":1}");	/* a hit: no fill */
	assert_int_equal(made, 1);
	raw = cache_text_with(text, "\"x\":2");
	out = cJSON_PrintUnformatted(raw);
	assert_string_equal(out, "{\"n\":1,\"x\":2}");
	free(out);
	cJSON_Delete(raw);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(miss_then_hit, setup, teardown),
		cmocka_unit_test_setup_teardown(expired_is_refreshed, setup, teardown),
		cmocka_unit_test_setup_teardown(stale_served_while_another_refreshes,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(no_value_waits_a_bounded_time, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(ttl_zero_stores_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(bad_keys_are_never_files, setup,
		    teardown),
		cmocka_unit_test(stamp_adds_age),
		cmocka_unit_test_setup_teardown(entry_cap_evicts_the_oldest, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(variants_evict_only_variants, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(text_is_served_as_stored, setup,
		    teardown),
	};

	log_init(LOG_LEVEL_ERR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
