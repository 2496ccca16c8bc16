/*
 * sample.c: tools/checksrc.py's self-test.  Every line marked with an
 * expect comment is a violation it must report, and it must report no
 * other; the file is never compiled.
 */
#include "sample.h"

#define	not_a_definition(x)	((x) + 1)

/* File-scope statics need no prefix; exported variables do. */
static int	 counter;
int		 sample_counter;
int		 unprefixed_counter;	/* !expect PREFIX */ /* !expect PROTO */
int		 sample_undeclared_counter;	/* !expect PROTO */
static const char *const names[] = { "a", "b", NULL };
struct sample_pair {
	int	 a;	/* "a string with { braces ( and ; */
	int	 b;
};
static struct {
	int	 n;
} state;

static int helper(void);

static int
helper(void)	/* !expect PREFIX */
{
	return counter + state.n + (names[0] != NULL);
}

static int
sample_helper(void)
{
	return helper();
}

int
sample_declared(int n)
{
	return n + sample_helper() + not_a_definition(1);
}

int
sample_undeclared(int n)	/* !expect PROTO */
{
	return n;
}

int
undeclared_and_unprefixed(void)	/* !expect PREFIX */ /* !expect PROTO */
{
	return 0;
}

static void sample_one_line(void) { }

static void one_line(void) { }	/* !expect PREFIX */

static int (*sample_fp)(void) = sample_helper;

/* The name a file is named after is its own prefix. */
static void
sample(void)
{
	sample_one_line();
	one_line();
	(void)sample_fp;
	/* At 80 columns exactly: fine; tabs count to the next multiple of 8. */
	sample(); sample(); sample(); sample(); sample(); sample(); sample();
	/* 81 columns: one too many. */
	(void)sample_one_line;                             /* !expect LONGLINE */
	x();	/* !expect LONGLINE */ /* the tab: 71 bytes, 81 columns....... */
}
