/* Unit tests for busy.c: the cap, nesting, refusals, a dead worker's cell. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "extern.h"

/* Without the master's mapping (the command line tools) there is no cap. */
static void
no_table_no_cap(void **state)
{
	struct silo_config	 c = { .workers = 2, .busy_max = 1 };

	assert_true(busy_enter(&c, false));
	assert_true(busy_enter(&c, false));
	busy_leave();
	busy_leave();
	assert_false(busy_refused());
}

static void
cap_defaults_to_half_the_pool(void **state)
{
	struct silo_config	 c = { .workers = 4 };

	assert_int_equal(busy_cap(&c), 2);
	c.workers = 1;
	assert_int_equal(busy_cap(&c), 1);
	c.busy_max = 3;
	assert_int_equal(busy_cap(&c), 3);
}

/* A child takes the one cell and waits; returns its pid. */
static pid_t
child_holding(const struct silo_config *c, int *release)
{
	int	 up[2], down[2];
	pid_t	 pid;
	char	 b = 0;

	assert_int_equal(pipe(up), 0);
	assert_int_equal(pipe(down), 0);
	if ((pid = fork()) == 0) {
		bool	 ok = busy_enter(c, false);

		b = ok ? 'y' : 'n';
		(void)write(up[1], &b, 1);
		(void)read(down[0], &b, 1);
		busy_leave();
		_exit(0);
	}
	assert_int_equal(read(up[0], &b, 1), 1);
	assert_int_equal(b, 'y');
	close(up[0]);
	close(up[1]);
	close(down[0]);
	*release = down[1];
	return pid;
}

static void
cap_counts_across_processes(void **state)
{
	struct silo_config	 c = { .workers = 2, .busy_max = 1 };
	char			 err[128];
	int			 release, status;
	pid_t			 pid;

	assert_int_equal(busy_init(err, sizeof(err)), 0);
	pid = child_holding(&c, &release);

	/* Past the cap: refused, and marked unless there is a fallback. */
	assert_false(busy_enter(&c, true));
	assert_false(busy_refused());
	assert_false(busy_enter(&c, false));
	assert_true(busy_refused());
	assert_false(busy_refused());		/* the mark is taken once */

	/* The holder gives it back: ours now, and nesting counts once. */
	assert_int_equal(write(release, "x", 1), 1);
	close(release);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(busy_enter(&c, false));
	assert_true(busy_enter(&c, false));
	busy_leave();
	busy_leave();

	/* A holder killed with its cell: the master's reclaim frees it. */
	pid = child_holding(&c, &release);
	assert_false(busy_enter(&c, true));
	kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_false(busy_enter(&c, true));	/* still held by the dead */
	busy_reclaim(pid);
	assert_true(busy_enter(&c, false));
	busy_leave();
	close(release);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(no_table_no_cap),
		cmocka_unit_test(cap_defaults_to_half_the_pool),
		cmocka_unit_test(cap_counts_across_processes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
