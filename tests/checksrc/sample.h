/*
 * sample.h: the header of tools/checksrc.py's self-test (make lint).
 * Lines marked with an expect comment are the violations it must report,
 * and no others.
 */
int	 sample_declared(int);
int	 sample_long_line_in_a_header(const char *first, const char *second, int n); /* !expect LONGLINE */
extern int	 sample_counter;
