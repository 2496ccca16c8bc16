/*
 * retention.c: which backups `silo backup prune` keeps, as a pure
 * function of their finish times and the time now, so that a calendar of
 * backups can be tested without a database or a bucket.
 *
 * The policy is the usual grandfather-father-son one, in UTC:
 *
 *   daily    the newest backup of each of the last `daily` days (today
 *            is the first of them);
 *   weekly   the newest of each of the last `weekly` ISO weeks (Monday
 *            to Sunday; this week is the first);
 *   monthly  the newest of each of the last `monthly` calendar months.
 *
 * A tier of 0 keeps nothing.  Two backups are always kept whatever the
 * tiers say: the newest verified one (`silo backup verify` restored it
 * and found it whole), however old, and the newest good one.  A backup
 * may be kept for several reasons; each one is a bit of its `keep`, and
 * a backup with none is deleted.
 *
 * Periods are counted on the days since 1970-01-01 (floor division, so
 * dates before it work too): the ISO week of day d is floor((d + 3) / 7),
 * 1970-01-01 being a Thursday, and a month is year * 12 + month - 1 from
 * the civil calendar of the days (Howard Hinnant's algorithm), never
 * through the C library's time zone.  A backup finished after `now`
 * counts as now's (a clock a little ahead).
 *
 * retention_horizon() is the start of the oldest period any tier covers:
 * the records of failed runs that finished before it are deleted, newer
 * ones are kept to be seen in `silo backup list`.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>

#include "extern.h"

#define	RETENTION_DAY_MS	(24LL * 3600 * 1000)

/* a / b rounded down (b > 0). */
static int64_t
retention_floor_div(int64_t a, int64_t b)
{
	return a / b - (a % b != 0 && a < 0);
}

/* The month index (year * 12 + month - 1) of day d since 1970-01-01. */
static int64_t
retention_month(int64_t d)
{
	int64_t	 z = d + 719468, era, doe, yoe, y, doy, mp, m;

	era = retention_floor_div(z, 146097);
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	y = yoe + era * 400;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	m = mp < 10 ? mp + 3 : mp - 9;
	return (m <= 2 ? y + 1 : y) * 12 + m - 1;
}

/* The days since 1970-01-01 of the first day of month index mi. */
static int64_t
retention_month_day(int64_t mi)
{
	int64_t	 y = retention_floor_div(mi, 12), m = mi - y * 12 + 1;
	int64_t	 era, yoe, doy, doe;

	y -= m <= 2;
	era = retention_floor_div(y, 400);
	yoe = y - era * 400;
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* The period of tier t holding day d. */
static int64_t
retention_period(enum retention_tier t, int64_t d)
{
	if (t == RETENTION_TIER_DAY)
		return d;
	if (t == RETENTION_TIER_WEEK)
		return retention_floor_div(d + 3, 7);
	return retention_month(d);
}

/* The first day of period p of tier t. */
static int64_t
retention_period_day(enum retention_tier t, int64_t p)
{
	if (t == RETENTION_TIER_DAY)
		return p;
	if (t == RETENTION_TIER_WEEK)
		return p * 7 - 3;
	return retention_month_day(p);
}

/* How many periods tier t keeps under policy p. */
static int
retention_slots(const struct retention_policy *p, enum retention_tier t)
{
	if (t == RETENTION_TIER_DAY)
		return p->daily;
	if (t == RETENTION_TIER_WEEK)
		return p->weekly;
	return p->monthly;
}

/* Mark with bit the newest backup of each of tier t's kept periods. */
static void
retention_tier(const struct retention_policy *p, enum retention_tier t,
    unsigned bit, struct retention_backup *b, size_t n, int64_t now_ms)
{
	int64_t	 nowp, per, bp;
	size_t	 i, best;
	int	 k, slots = retention_slots(p, t);

	nowp = retention_period(t, retention_floor_div(now_ms,
	    RETENTION_DAY_MS));
	for (k = 0; k < slots; k++) {
		per = nowp - k;
		best = n;
		for (i = 0; i < n; i++) {
			bp = retention_period(t, retention_floor_div(
			    b[i].finished_ms, RETENTION_DAY_MS));
			if (bp > nowp)
				bp = nowp;
			if (bp == per && (best == n ||
			    b[i].finished_ms > b[best].finished_ms))
				best = i;
		}
		if (best < n)
			b[best].keep |= bit;
	}
}

/*
 * Decide each of the n good backups' keep (RETENTION_KEEP_* bits, 0 to
 * delete it) under policy p at now_ms.  Of two backups finished at the
 * same millisecond, the first in b counts as the newer.
 */
void
retention_decide(const struct retention_policy *p,
    struct retention_backup *b, size_t n, int64_t now_ms)
{
	size_t	 i, good = n, verified = n;

	for (i = 0; i < n; i++) {
		b[i].keep = 0;
		if (good == n || b[i].finished_ms > b[good].finished_ms)
			good = i;
		if (b[i].verified && (verified == n ||
		    b[i].finished_ms > b[verified].finished_ms))
			verified = i;
	}
	retention_tier(p, RETENTION_TIER_DAY, RETENTION_KEEP_DAILY, b, n,
	    now_ms);
	retention_tier(p, RETENTION_TIER_WEEK, RETENTION_KEEP_WEEKLY, b, n,
	    now_ms);
	retention_tier(p, RETENTION_TIER_MONTH, RETENTION_KEEP_MONTHLY, b, n,
	    now_ms);
	if (verified < n)
		b[verified].keep |= RETENTION_KEEP_VERIFIED;
	if (good < n)
		b[good].keep |= RETENTION_KEEP_GOOD;
}

/* The start (ms) of the oldest period a tier of p keeps at now_ms; now_ms
 * itself when every tier is 0. */
int64_t
retention_horizon(const struct retention_policy *p, int64_t now_ms)
{
	int64_t	 day = retention_floor_div(now_ms, RETENTION_DAY_MS);
	int64_t	 oldest = now_ms, at;
	int	 t, slots;

	for (t = RETENTION_TIER_DAY; t <= RETENTION_TIER_MONTH; t++) {
		if ((slots = retention_slots(p, t)) <= 0)
			continue;
		at = retention_period_day(t, retention_period(t, day) -
		    (slots - 1)) * RETENTION_DAY_MS;
		if (at < oldest)
			oldest = at;
	}
	return oldest;
}

/* The reasons in keep as words, "daily,weekly", into out; "-" if none. */
void
retention_reasons(unsigned keep, char *out, size_t outsz)
{
	static const char *const words[] = { "daily", "weekly", "monthly",
	    "newest verified", "newest good" };
	size_t	 i, len = 0;
	int	 w;

	if (outsz == 0)
		return;
	out[0] = '\0';
	for (i = 0; i < sizeof(words) / sizeof(*words); i++) {
		if (!(keep & (1u << i)))
			continue;
		w = snprintf(out + len, outsz - len, "%s%s",
		    len > 0 ? "," : "", words[i]);
		if (w < 0 || (size_t)w >= outsz - len)
			return;
		len += (size_t)w;
	}
	if (len == 0)
		snprintf(out, outsz, "-");
}
