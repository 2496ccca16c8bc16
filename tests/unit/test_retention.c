/* Unit tests for retention.c: a synthetic calendar of 400 days of
 * backups with exactly which ones are kept and why, the expected list
 * written out by hand from a calendar; ISO weeks across a year's end,
 * month ends, a tier of 0, fewer backups than slots, the horizon. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "extern.h"

#define	CAL_MAX	512

/* "YYYY-MM-DDTHH:MM" UTC as ms since the epoch. */
static int64_t
at(const char *s)
{
	struct tm	 tm;

	memset(&tm, 0, sizeof(tm));
	assert_int_equal(sscanf(s, "%d-%d-%dT%d:%d", &tm.tm_year, &tm.tm_mon,
	    &tm.tm_mday, &tm.tm_hour, &tm.tm_min), 5);
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return (int64_t)timegm(&tm) * 1000;
}

/* ms as "YYYY-MM-DDTHH:MM". */
static void
fmt(int64_t ms, char *out, size_t outsz)
{
	time_t		 t = (time_t)(ms / 1000);
	struct tm	 tm;

	gmtime_r(&t, &tm);
	strftime(out, outsz, "%Y-%m-%dT%H:%M", &tm);
}

/* An expected survivor: when it finished and why it is kept. */
struct kept {
	const char	*when;
	unsigned	 why;
};

/* Every backup of b kept is in want with its reasons, and every one of
 * want is in b and kept. */
static void
check(const struct retention_backup *b, size_t n, const struct kept *want,
    size_t nwant)
{
	char	 s[32];
	size_t	 i, j, nkept = 0;

	for (i = 0; i < n; i++) {
		if (b[i].keep == 0)
			continue;
		nkept++;
		fmt(b[i].finished_ms, s, sizeof(s));
		for (j = 0; j < nwant; j++)
			if (strcmp(want[j].when, s) == 0)
				break;
		if (j == nwant)
			fail_msg("%s kept (%#x), not expected", s, b[i].keep);
		if (b[i].keep != want[j].why)
			fail_msg("%s kept for %#x, expected %#x", s,
			    b[i].keep, want[j].why);
	}
	assert_int_equal(nkept, nwant);
}

#define	D	RETENTION_KEEP_DAILY
#define	W	RETENTION_KEEP_WEEKLY
#define	M	RETENTION_KEEP_MONTHLY
#define	V	RETENTION_KEEP_VERIFIED
#define	G	RETENTION_KEEP_GOOD

/*
 * One backup a day at 02:15 for the 400 days up to 2026-12-01, a second
 * one at 14:00 on 2026-11-29 and 2026-11-30, none on 2026-11-27 nor on
 * 2026-09-30, the only verified one 2026-03-15's; now 2026-12-01T12:00,
 * a Tuesday of ISO week 49 (2026-11-30 to 12-06).  Defaults 7/4/6.
 */
static void
test_calendar(void **state)
{
	static const struct kept want[] = {
		/* days: 12-01 .. 11-25, 11-27 missing */
		{ "2026-12-01T02:15", D | W | M | G },
		{ "2026-11-30T14:00", D | M },
		{ "2026-11-29T14:00", D | W },
		{ "2026-11-28T02:15", D },
		{ "2026-11-26T02:15", D },
		{ "2026-11-25T02:15", D },
		/* weeks 47 (11-16..22) and 46 (11-09..15) */
		{ "2026-11-22T02:15", W },
		{ "2026-11-15T02:15", W },
		/* months Oct .. Jul, Sep 30 missing */
		{ "2026-10-31T02:15", M },
		{ "2026-09-29T02:15", M },
		{ "2026-08-31T02:15", M },
		{ "2026-07-31T02:15", M },
		/* verified, older than every tier */
		{ "2026-03-15T02:15", V },
	};
	struct retention_backup	 b[CAL_MAX];
	struct retention_policy	 p = { 7, 4, 6 };
	int64_t			 last = at("2026-12-01T02:15"), t;
	size_t			 n = 0;
	int			 i;
	char			 s[32];

	(void)state;
	memset(b, 0, sizeof(b));
	for (i = 0; i < 400; i++) {
		t = last - (int64_t)i * 86400000;
		fmt(t, s, sizeof(s));
		if (strcmp(s, "2026-11-27T02:15") == 0 ||
		    strcmp(s, "2026-09-30T02:15") == 0)
			continue;
		b[n].verified = strcmp(s, "2026-03-15T02:15") == 0;
		b[n++].finished_ms = t;
	}
	assert_int_equal(n, 398);
	b[n++].finished_ms = at("2026-11-29T14:00");
	b[n++].finished_ms = at("2026-11-30T14:00");
	retention_decide(&p, b, n, at("2026-12-01T12:00"));
	check(b, n, want, sizeof(want) / sizeof(*want));
}

/* ISO week 53 of 2026 runs from Monday 2026-12-28 to Sunday 2027-01-03:
 * weekly only, two weeks. */
static void
test_iso_week_year_end(void **state)
{
	static const struct kept want[] = {
		{ "2027-01-02T10:00", W | G },
		{ "2026-12-27T23:00", W },
	};
	struct retention_backup	 b[5];
	struct retention_policy	 p = { 0, 2, 0 };

	(void)state;
	memset(b, 0, sizeof(b));
	b[0].finished_ms = at("2026-12-20T10:00");	/* week 51 */
	b[1].finished_ms = at("2026-12-27T23:00");	/* week 52, Sunday */
	b[2].finished_ms = at("2026-12-28T00:00");	/* week 53, Monday */
	b[3].finished_ms = at("2027-01-01T10:00");	/* week 53 */
	b[4].finished_ms = at("2027-01-02T10:00");	/* week 53 */
	retention_decide(&p, b, 5, at("2027-01-03T12:00"));
	check(b, 5, want, sizeof(want) / sizeof(*want));
}

/* Month ends, a leap February: monthly only, two months. */
static void
test_month_ends(void **state)
{
	static const struct kept want[] = {
		{ "2028-03-01T00:10", M | G },
		{ "2028-02-29T23:59", M },
	};
	struct retention_backup	 b[5];
	struct retention_policy	 p = { 0, 0, 2 };

	(void)state;
	memset(b, 0, sizeof(b));
	b[0].finished_ms = at("2028-01-31T23:59");
	b[1].finished_ms = at("2028-02-01T00:00");
	b[2].finished_ms = at("2028-02-29T23:59");
	b[3].finished_ms = at("2028-03-01T00:10");
	b[4].finished_ms = at("2028-02-28T23:59");
	retention_decide(&p, b, 5, at("2028-03-01T00:30"));
	check(b, 5, want, sizeof(want) / sizeof(*want));
}

/* Daily 0: the newest of each day is kept only by the other tiers; the
 * newest verified is the newest good too. */
static void
test_tier_zero(void **state)
{
	static const struct kept want[] = {
		{ "2026-12-01T02:15", W | V | G },
		{ "2026-11-29T02:15", W },
	};
	struct retention_backup	 b[3];
	struct retention_policy	 p = { 0, 2, 0 };

	(void)state;
	memset(b, 0, sizeof(b));
	b[0].finished_ms = at("2026-11-29T02:15");
	b[1].finished_ms = at("2026-11-30T02:15");
	b[2].finished_ms = at("2026-12-01T02:15");
	b[2].verified = true;
	retention_decide(&p, b, 3, at("2026-12-01T12:00"));
	check(b, 3, want, sizeof(want) / sizeof(*want));
}

/* Fewer backups than slots: all kept; none at all: nothing happens. */
static void
test_few(void **state)
{
	static const struct kept want[] = {
		{ "2026-12-01T02:15", D | W | M | G },
		{ "2026-11-30T02:15", D | M },
		{ "2026-11-28T02:15", D | W },
	};
	struct retention_backup	 b[3];
	struct retention_policy	 p = { 7, 4, 6 };

	(void)state;
	memset(b, 0, sizeof(b));
	b[0].finished_ms = at("2026-11-28T02:15");
	b[1].finished_ms = at("2026-12-01T02:15");
	b[2].finished_ms = at("2026-11-30T02:15");
	retention_decide(&p, b, 3, at("2026-12-01T12:00"));
	check(b, 3, want, sizeof(want) / sizeof(*want));
	retention_decide(&p, b, 0, at("2026-12-01T12:00"));
}

/* A backup finished after now (a clock ahead) counts as today's. */
static void
test_future(void **state)
{
	static const struct kept want[] = {
		{ "2026-12-02T03:00", D | W | M | G },
	};
	struct retention_backup	 b[2];
	struct retention_policy	 p = { 1, 0, 0 };

	(void)state;
	memset(b, 0, sizeof(b));
	b[0].finished_ms = at("2026-12-01T02:15");
	b[1].finished_ms = at("2026-12-02T03:00");
	p.weekly = 1;
	p.monthly = 1;
	retention_decide(&p, b, 2, at("2026-12-01T12:00"));
	check(b, 2, want, sizeof(want) / sizeof(*want));
}

/* The horizon: the oldest tier's first period. */
static void
test_horizon(void **state)
{
	struct retention_policy	 p = { 7, 4, 6 };
	int64_t			 now = at("2026-12-01T12:00");

	(void)state;
	assert_int_equal(retention_horizon(&p, now), at("2026-07-01T00:00"));
	p.monthly = 0;
	assert_int_equal(retention_horizon(&p, now), at("2026-11-09T00:00"));
	p.weekly = 0;
	assert_int_equal(retention_horizon(&p, now), at("2026-11-25T00:00"));
	p.monthly = 13;
	assert_int_equal(retention_horizon(&p, now), at("2025-12-01T00:00"));
	p.monthly = 0;
	p.daily = 0;
	assert_int_equal(retention_horizon(&p, now), now);
}

/* The reasons as words. */
static void
test_reasons(void **state)
{
	char	 s[RETENTION_REASONS_MAX];

	(void)state;
	retention_reasons(0, s, sizeof(s));
	assert_string_equal(s, "-");
	retention_reasons(D | M | V, s, sizeof(s));
	assert_string_equal(s, "daily,monthly,newest verified");
	retention_reasons(D | W | M | V | G, s, sizeof(s));
	assert_string_equal(s,
	    "daily,weekly,monthly,newest verified,newest good");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_calendar),
		cmocka_unit_test(test_iso_week_year_end),
		cmocka_unit_test(test_month_ends),
		cmocka_unit_test(test_tier_zero),
		cmocka_unit_test(test_few),
		cmocka_unit_test(test_future),
		cmocka_unit_test(test_horizon),
		cmocka_unit_test(test_reasons),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
