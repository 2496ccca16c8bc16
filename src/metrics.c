/*
 * metrics.c: what the pool has served, counted across workers, in
 * Prometheus's text format.
 *
 * Every worker is its own process, so per-route counts kept in a
 * worker's memory would each be a fraction, and would vanish when a
 * worker is replaced.  The counters therefore live in one MAP_SHARED
 * anonymous mapping that the master makes before its first fork, as
 * busy.c's cells do: one row per route (plus one for requests that
 * matched none), each with a count per HTTP status, a latency histogram
 * and its sum.  Workers add with C11 atomics, which are lock-free on a
 * uint64 in shared memory; nothing is ever locked, so a worker killed
 * mid-request leaves no lock behind, at worst one request uncounted.
 * The master counts the workers it had to replace.  The mapping is
 * about 300 KB of address space; only the rows of routes that were
 * called are ever touched, so its memory is a few pages.
 *
 * GET /api/metrics (api_metrics.c) renders them with the database's
 * state: the counters are since `silo serve` started, as Prometheus
 * counters are meant to be (a restart resets them, which Prometheus's
 * rate() understands).  Without the mapping (the command-line tools,
 * the unit tests) nothing is counted and nothing is rendered.
 */
#include "config.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "extern.h"

#define	METRICS_ROUTES		64	/* routes_count must stay below */
#define	METRICS_STATUS_MIN	100	/* the first status counted */
#define	METRICS_STATUSES	500	/* 100..599 */

/* The histogram's upper bounds, in seconds; +Inf is the count. */
static const double metrics_bounds[] = {
	0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
	10
};
#define	METRICS_BUCKETS	(sizeof(metrics_bounds) / sizeof(metrics_bounds[0]))

/* One route's counters. */
struct metrics_route {
	atomic_ullong	 status[METRICS_STATUSES]; /* answers per status */
	atomic_ullong	 bucket[METRICS_BUCKETS];  /* at most each bound */
	atomic_ullong	 count;			   /* every answer */
	atomic_ullong	 sum_us;		   /* their time, in us */
};

/* Everything the workers and the master share. */
struct metrics_table {
	struct metrics_route route[METRICS_ROUTES + 1]; /* last: unmatched */
	atomic_ullong	 worker_restarts;	/* workers replaced */
};

static struct metrics_table *metrics;	/* mapped by the master, inherited */

/* The master, before forking: map the counters, all zero. */
int
metrics_init(char *err, size_t errsz)
{
	void	*p;

	if (routes_count > METRICS_ROUTES) {
		snprintf(err, errsz, "metrics: %zu routes, room for %d",
		    routes_count, METRICS_ROUTES);
		return -1;
	}
	p = mmap(NULL, sizeof(*metrics), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		snprintf(err, errsz, "metrics: mmap: %s", strerror(errno));
		return -1;
	}
	metrics = p;		/* anonymous pages are zero: atomics at 0 */
	return 0;
}

/* A worker answered: route is routes_table's index, or -1 for none. */
void
metrics_observe(int route, int status, double seconds)
{
	struct metrics_route	*r;

	if (metrics == NULL)
		return;
	r = &metrics->route[route >= 0 && (size_t)route < routes_count ?
	    (size_t)route : METRICS_ROUTES];
	if (status >= METRICS_STATUS_MIN &&
	    status < METRICS_STATUS_MIN + METRICS_STATUSES)
		atomic_fetch_add(&r->status[status - METRICS_STATUS_MIN], 1);
	for (size_t b = 0; b < METRICS_BUCKETS; b++)
		if (seconds <= metrics_bounds[b])
			atomic_fetch_add(&r->bucket[b], 1);
	atomic_fetch_add(&r->count, 1);
	atomic_fetch_add(&r->sum_us, (unsigned long long)(seconds * 1e6));
}

/* The master replaced a worker that died. */
void
metrics_worker_restarted(void)
{
	if (metrics != NULL)
		atomic_fetch_add(&metrics->worker_restarts, 1);
}

/* A route's label value: "GET /api/x", or "unmatched". */
static void
metrics_route_label(size_t i, char *out, size_t outsz)
{
	if (i == METRICS_ROUTES)
		snprintf(out, outsz, "unmatched");
	else
		snprintf(out, outsz, "%s %s", routes_table[i].method,
		    routes_table[i].pattern);
}

static void
metrics_render_requests(FILE *f, size_t i)
{
	const struct metrics_route	*r = &metrics->route[i];
	char				 label[128];

	metrics_route_label(i, label, sizeof(label));
	for (int s = 0; s < METRICS_STATUSES; s++) {
		unsigned long long	 n = atomic_load(&r->status[s]);

		if (n > 0)
			fprintf(f, "silo_http_requests_total{route=\"%s\","
			    "code=\"%d\"} %llu\n", label,
			    s + METRICS_STATUS_MIN, n);
	}
}

static void
metrics_render_latency(FILE *f, size_t i)
{
	const struct metrics_route	*r = &metrics->route[i];
	unsigned long long		 count = atomic_load(&r->count);
	char				 label[128];

	metrics_route_label(i, label, sizeof(label));
	for (size_t b = 0; b < METRICS_BUCKETS; b++)
		fprintf(f, "silo_http_request_duration_seconds_bucket{route="
		    "\"%s\",le=\"%g\"} %llu\n", label, metrics_bounds[b],
		    atomic_load(&r->bucket[b]));
	fprintf(f, "silo_http_request_duration_seconds_bucket{route=\"%s\","
	    "le=\"+Inf\"} %llu\n", label, count);
	fprintf(f, "silo_http_request_duration_seconds_sum{route=\"%s\"} "
	    "%.6f\n", label, (double)atomic_load(&r->sum_us) / 1e6);
	fprintf(f, "silo_http_request_duration_seconds_count{route=\"%s\"} "
	    "%llu\n", label, count);
}

/*
 * The pool's counters, as Prometheus text, to f: requests per route and
 * status, latency per route, workers replaced.  -1 without the mapping.
 */
int
metrics_render(FILE *f)
{
	if (metrics == NULL)
		return -1;
	fprintf(f, "# HELP silo_http_requests_total Requests answered, by "
	    "route and status, since silo serve started.\n"
	    "# TYPE silo_http_requests_total counter\n");
	for (size_t i = 0; i < routes_count; i++)
		metrics_render_requests(f, i);
	metrics_render_requests(f, METRICS_ROUTES);
	fprintf(f, "# HELP silo_http_request_duration_seconds Time from a "
	    "request's arrival at a worker to its answer, by route.\n"
	    "# TYPE silo_http_request_duration_seconds histogram\n");
	for (size_t i = 0; i < routes_count; i++)
		metrics_render_latency(f, i);
	metrics_render_latency(f, METRICS_ROUTES);
	fprintf(f, "# HELP silo_worker_restarts_total Workers that died and "
	    "were replaced.\n"
	    "# TYPE silo_worker_restarts_total counter\n"
	    "silo_worker_restarts_total %llu\n",
	    atomic_load(&metrics->worker_restarts));
	return 0;
}
