/*
 * progress.c: progress of a long job, for a person or for a log.
 *
 * On a terminal, one line is redrawn in place (at most ten times a
 * second): the current step with a bar, its rate and ETA, and the whole
 * job's share and ETA.  Anywhere else (a pipe, journald, CI) redrawing
 * is noise, so a plain line is written every few seconds and one at the
 * end of each step.  Progress is measured in bytes of input, which is
 * what the job reads at a steady rate; items (documents, objects) are
 * what people count, so both are shown.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "extern.h"

#define	PROGRESS_TTY_MS		100.0	/* redraw interval on a terminal */
#define	PROGRESS_LOG_MS		5000.0	/* line interval elsewhere */
#define	PROGRESS_BAR		24	/* bar width in cells */

void
progress_init(struct progress *p, FILE *out, uint64_t total_bytes,
    size_t nsteps)
{
	memset(p, 0, sizeof(*p));
	p->out = out;
	p->tty = isatty(fileno(out));
	p->total_bytes = total_bytes;
	p->nsteps = nsteps;
	p->started_ms = clock_ms();
}

void
progress_step(struct progress *p, const char *name, uint64_t bytes)
{
	p->step++;
	snprintf(p->name, sizeof(p->name), "%s", name);
	p->step_bytes = bytes;
	p->step_done = 0;
	p->step_items = 0;
	p->step_started_ms = clock_ms();
	p->last_ms = 0;
}

static void
progress_format_eta(double seconds, char *buf, size_t bufsz)
{
	long	 s = seconds < 0 ? 0 : (long)(seconds + 0.5);

	if (s >= 3600)
		snprintf(buf, bufsz, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60,
		    s % 60);
	else
		snprintf(buf, bufsz, "%ld:%02ld", s / 60, s % 60);
}

static void
progress_draw(struct progress *p, double now, bool final)
{
	double	 step_s = (now - p->step_started_ms) / 1000.0;
	double	 all_s = (now - p->started_ms) / 1000.0;
	double	 frac = p->step_bytes ?
		    (double)p->step_done / (double)p->step_bytes : 1;
	uint64_t all_done = p->done_bytes + p->step_done;
	double	 all_frac = p->total_bytes ?
		    (double)all_done / (double)p->total_bytes : 1;
	double	 rate = step_s > 0 ? (double)p->step_items / step_s : 0;
	char	 eta[32], all_eta[32], bar[PROGRESS_BAR * 3 + 1];
	size_t	 o = 0;

	if (frac > 1)
		frac = 1;
	progress_format_eta(frac > 0 ? step_s / frac - step_s : 0, eta,
	    sizeof(eta));
	progress_format_eta(all_frac > 0 ? all_s / all_frac - all_s : 0,
	    all_eta, sizeof(all_eta));
	if (!p->tty) {
		fprintf(p->out, "[%zu/%zu] %s: %3.0f%%, %llu docs, "
		    "%.0f docs/s%s%s; all %3.0f%%\n", p->step, p->nsteps,
		    p->name, frac * 100, (unsigned long long)p->step_items,
		    rate, final ? "" : ", eta ", final ? "" : eta,
		    all_frac * 100);
		fflush(p->out);
		return;
	}
	for (int i = 0; i < PROGRESS_BAR; i++) {
		const char *cell = i < (int)(frac * PROGRESS_BAR) ?
		    "\u2588" : "\u2591";

		memcpy(bar + o, cell, 3);
		o += 3;
	}
	bar[o] = '\0';
	fprintf(p->out, "\r\033[K[%zu/%zu] %-24.24s %s %3.0f%% %9llu docs "
	    "%7.0f/s eta %s | all %3.0f%% eta %s", p->step, p->nsteps,
	    p->name, bar, frac * 100, (unsigned long long)p->step_items, rate,
	    eta, all_frac * 100, all_eta);
	if (final)
		fputc('\n', p->out);
	fflush(p->out);
}

void
progress_update(struct progress *p, uint64_t bytes_done, uint64_t items)
{
	double	 now = clock_ms();

	p->step_done = bytes_done;
	p->step_items = items;
	if (now - p->last_ms < (p->tty ? PROGRESS_TTY_MS : PROGRESS_LOG_MS))
		return;
	if (p->last_ms == 0 && !p->tty) {
		/* Off a terminal the first line waits a full interval. */
		p->last_ms = now;
		return;
	}
	p->last_ms = now;
	progress_draw(p, now, false);
}

/*
 * A phase of the current step that reads no input, such as an index
 * build: without a line of its own the display would sit still for as
 * long as the server takes (80 s for boots' indexes at ten times AC's
 * size).  It is one line either way, and on a terminal the bar's line
 * comes back with the next update.
 */
void
progress_phase(struct progress *p, const char *fmt, ...)
{
	va_list	 ap;

	fprintf(p->out, "%s[%zu/%zu] %s: ", p->tty ? "\r\033[K" : "", p->step,
	    p->nsteps, p->name);
	va_start(ap, fmt);
	vfprintf(p->out, fmt, ap);
	va_end(ap);
	fputc('\n', p->out);
	fflush(p->out);
}

void
progress_step_done(struct progress *p, uint64_t items)
{
	p->step_done = p->step_bytes;
	p->step_items = items;
	progress_draw(p, clock_ms(), true);
	p->done_bytes += p->step_bytes;
}
