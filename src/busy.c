/*
 * busy.c: a cap on the workers busy on expensive uncached work.
 *
 * A worker serves one request at a time, so the pool's size is silo's
 * whole concurrency.  A route that scans the database for a tenth of a
 * second is harmless alone; eight clients asking for it at once would
 * hold every worker, and /api/ping, the overview and the health check
 * would queue behind them.  So at most SILO_BUSY_MAX workers (by default
 * half the pool, at least one) may be on expensive work at once: a cache
 * miss being computed (cache.c's one hook) or a route flagged in routes.c
 * as uncached database work.  A worker past the cap does not wait for
 * slow work, since waiting is exactly the starvation the cap is for: the
 * request is a 503 "busy" with Retry-After, or, for a cache miss with a
 * stale value at hand, that stale value.  A cold miss or a flagged route
 * does wait, at most BUSY_PATIENCE_MS, while the cells are held by work
 * younger than that: a dashboard's first load is a dozen quick misses at
 * once, and user searches take tens of milliseconds; they should queue
 * for a moment, not fail.
 *
 * The count is shared by processes that fork from one master, so it lives
 * in a MAP_SHARED anonymous mapping the master makes before the first
 * fork: one cell per possible worker, each holding the pid of the worker
 * that took it, or 0.  Taking a cell is a compare-and-swap from 0 to our
 * pid on one of the first SILO_BUSY_MAX cells; giving it back, from our
 * pid to 0.  There is no lock to be left held: a worker killed while it
 * holds a cell is reaped by the master, which clears every cell holding
 * that pid (busy_reclaim()) before it forks again, so a crash costs the
 * pool nothing and a pid cannot be reused while it still owns a cell.
 * C11 atomics on an int in shared memory are lock-free on every platform
 * silo builds for, and so work between processes.
 *
 * Within one request the cap counts once: a flagged route whose handler
 * also misses the cache holds one cell (busy_depth counts the nesting).
 * Without the mapping (the command-line tools, the unit tests) there is
 * no cap.
 */
#include "config.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "extern.h"

#define	BUSY_CELLS	256	/* SILO_WORKERS's upper bound */
#define	BUSY_PATIENCE_MS 500	/* how young work is waited for */
#define	BUSY_POLL_NS	5000000	/* between two looks at the cells */

/* The cells every worker shares. */
struct busy_table {
	atomic_int	 holder[BUSY_CELLS];	/* pid holding the cell, or 0 */
	/* when its holder took it, monotonic ms (clock_ms()) */
	atomic_llong	 since[BUSY_CELLS];
};

static struct busy_table *busy_table;	/* mapped by the master, inherited */
static int	 busy_cell = -1;	/* the cell this worker holds */
static unsigned	 busy_depth;		/* nested busy_enter() calls */
static bool	 busy_was_refused;	/* a refusal since busy_refused() */

/* The master, before forking: map the shared cells. */
int
busy_init(char *err, size_t errsz)
{
	void	*p;

	p = mmap(NULL, sizeof(*busy_table), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		snprintf(err, errsz, "busy cap: mmap: %s", strerror(errno));
		return -1;
	}
	busy_table = p;
	for (size_t i = 0; i < BUSY_CELLS; i++) {
		atomic_init(&busy_table->holder[i], 0);
		atomic_init(&busy_table->since[i], 0);
	}
	return 0;
}

/* SILO_BUSY_MAX, with 0 (auto) resolved to half the pool, at least 1. */
int
busy_cap(const struct silo_config *c)
{
	int	 cap = c->busy_max > 0 ? c->busy_max : c->workers / 2;

	if (cap < 1)
		cap = 1;
	return cap > BUSY_CELLS ? BUSY_CELLS : cap;
}

/* One of the first cap cells, if one is free: true, and it is ours. */
static bool
busy_take(int cap, int me)
{
	for (int i = 0; i < cap; i++) {
		int	 expect = 0;

		if (atomic_compare_exchange_strong(&busy_table->holder[i],
		    &expect, me)) {
			atomic_store(&busy_table->since[i],
			    (long long)clock_ms());
			busy_cell = i;
			busy_depth = 1;
			return true;
		}
	}
	return false;
}

/* Is some cell held by work younger than BUSY_PATIENCE_MS? */
static bool
busy_held_by_quick_work(int cap)
{
	double	 now = clock_ms();

	for (int i = 0; i < cap; i++)
		if (atomic_load(&busy_table->holder[i]) != 0 &&
		    now - (double)atomic_load(&busy_table->since[i]) <
		    BUSY_PATIENCE_MS)
			return true;
	return false;
}

/*
 * Take a cell for expensive work.  False past the cap; then, unless the
 * caller has something else to serve (has_fallback), the request is
 * marked refused for busy_refused().
 *
 * A caller with nothing else to serve waits a little first, while the
 * cells are held by young work: a dashboard's first load makes a dozen
 * quick cache misses at once, and each should wait its turn rather than
 * be refused.  Work older than BUSY_PATIENCE_MS is slow work, which the
 * cap is for: then it refuses at once, and no caller waits longer than
 * that, so a slow route still cannot hold the other workers.
 */
bool
busy_enter(const struct silo_config *c, bool has_fallback)
{
	const struct timespec poll = { 0, BUSY_POLL_NS };
	double		 deadline = clock_ms() + BUSY_PATIENCE_MS;
	int		 cap, me = (int)getpid();

	if (busy_table == NULL || busy_depth > 0) {
		busy_depth++;
		return true;
	}
	cap = busy_cap(c);
	while (!busy_take(cap, me)) {
		if (has_fallback || clock_ms() >= deadline ||
		    !busy_held_by_quick_work(cap)) {
			if (!has_fallback)
				busy_was_refused = true;
			return false;
		}
		nanosleep(&poll, NULL);
	}
	return true;
}

/* Give back what busy_enter() took. */
void
busy_leave(void)
{
	if (busy_depth == 0 || --busy_depth > 0)
		return;
	if (busy_table != NULL && busy_cell != -1) {
		int	 expect = (int)getpid();

		atomic_compare_exchange_strong(&busy_table->holder[busy_cell],
		    &expect, 0);
	}
	busy_cell = -1;
}

/* Was the request refused since the last call?  Clears the mark. */
bool
busy_refused(void)
{
	bool	 was = busy_was_refused;

	busy_was_refused = false;
	return was;
}

/* The master: free the cells of a worker that died holding them. */
void
busy_reclaim(pid_t pid)
{
	if (busy_table == NULL)
		return;
	for (size_t i = 0; i < BUSY_CELLS; i++) {
		int	 expect = (int)pid;

		if (atomic_compare_exchange_strong(&busy_table->holder[i],
		    &expect, 0))
			log_warn("busy cap: freed the cell of worker pid %ld, "
			    "which died holding it", (long)pid);
	}
}
