/* main.c: main() is exempt from both PREFIX and PROTO; nothing else is. */
#include "sample.h"

static int
usage(void)	/* !expect PREFIX */
{
	return 2;
}

static int
main_usage(void)
{
	return usage();
}

int
main(void)
{
	return main_usage();
}
