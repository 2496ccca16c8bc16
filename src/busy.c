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
 * as uncached database work.  A worker past the cap does not wait, since
 * waiting is exactly the starvation the cap is for: the request is a 503
 * "busy" with Retry-After, or, for a cache miss with a stale value at
 * hand, that stale value.
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
#include <unistd.h>

#include "extern.h"

#define	BUSY_CELLS	256	/* SILO_WORKERS's upper bound */

/* The cells every worker shares. */
struct busy_table {
	atomic_int	 holder[BUSY_CELLS];	/* pid holding the cell, or 0 */
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
	for (size_t i = 0; i < BUSY_CELLS; i++)
		atomic_init(&busy_table->holder[i], 0);
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

/*
 * Take a cell for expensive work.  False past the cap; then, unless the
 * caller has something else to serve (has_fallback), the request is
 * marked refused for busy_refused().
 */
bool
busy_enter(const struct silo_config *c, bool has_fallback)
{
	int	 cap, me = (int)getpid();

	if (busy_table == NULL || busy_depth > 0) {
		busy_depth++;
		return true;
	}
	cap = busy_cap(c);
	for (int i = 0; i < cap; i++) {
		int	 expect = 0;

		if (atomic_compare_exchange_strong(&busy_table->holder[i],
		    &expect, me)) {
			busy_cell = i;
			busy_depth = 1;
			return true;
		}
	}
	if (!has_fallback)
		busy_was_refused = true;
	return false;
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
