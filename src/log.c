/*
 * log.c: one line per event, on stderr, in a form journald reads well.
 *
 * silo runs under systemd in production and in a terminal everywhere else.
 * Under systemd, stderr is a stream into journald, which stamps each line
 * with time, pid and unit by itself and reads a "<N>" prefix as the
 * syslog priority.  In a terminal those prefixes are noise and a timestamp
 * is what a person wants.  systemd says which case we are in through
 * JOURNAL_STREAM ("<dev>:<inode>" of the stream it connected), so we
 * compare that with our own stderr rather than guess.
 *
 * Every line is formatted into one buffer and written with one write(2):
 * the master and all workers share stderr, and a line written in pieces
 * could interleave with another process's line.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "silo.h"

#define	LOG_LINE_MAX	2048	/* longer lines are cut, never split */

static enum log_level	log_threshold = LOG_LEVEL_INFO;
static bool		log_to_journal;

/* Is stderr the stream systemd handed to journald? */
static bool
log_stderr_is_journal(void)
{
	const char	*stream = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat	 st;

	if (stream == NULL || sscanf(stream, "%llu:%llu", &dev, &ino) != 2)
		return false;
	if (fstat(STDERR_FILENO, &st) == -1)
		return false;
	return (unsigned long long)st.st_dev == dev &&
	    (unsigned long long)st.st_ino == ino;
}

void
log_init(enum log_level threshold)
{
	log_threshold = threshold;
	log_to_journal = log_stderr_is_journal();
}

static const char *
log_level_name(enum log_level level)
{
	switch (level) {
	case LOG_LEVEL_ERR:
		return "error";
	case LOG_LEVEL_WARN:
		return "warning";
	case LOG_LEVEL_INFO:
		return "info";
	default:
		return "debug";
	}
}

void
log_msg(enum log_level level, const char *fmt, ...)
{
	char		 line[LOG_LINE_MAX];
	size_t		 len = 0;
	int		 n, saved_errno = errno;
	va_list		 ap;

	if (level > log_threshold)
		return;

	if (log_to_journal) {
		n = snprintf(line, sizeof(line), "<%d>", (int)level);
	} else {
		struct timespec	 ts;
		char		 stamp[CLOCK_ISO_MAX] = "";

		clock_gettime(CLOCK_REALTIME, &ts);
		clock_iso((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000,
		    CLOCK_ISO_MS, stamp, sizeof(stamp));
		n = snprintf(line, sizeof(line), "%s silo[%ld] %s: ", stamp,
		    (long)getpid(), log_level_name(level));
	}
	if (n > 0)
		len = (size_t)n;

	va_start(ap, fmt);
	n = vsnprintf(line + len, sizeof(line) - len - 1, fmt, ap);
	va_end(ap);
	if (n > 0)
		len += (size_t)n;
	if (len > sizeof(line) - 2)
		len = sizeof(line) - 2;

	/* One event is one line: fold embedded newlines. */
	for (size_t i = 0; i < len; i++)
		if (line[i] == '\n' || line[i] == '\r')
			line[i] = ' ';
	line[len++] = '\n';

	while (write(STDERR_FILENO, line, len) == -1 && errno == EINTR)
		continue;
	errno = saved_errno;
}
