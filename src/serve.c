/*
 * serve.c: `silo serve`, the master process.
 *
 * The master owns the FastCGI listen socket and nothing else: it never
 * talks to MongoDB or serves a request, so nothing that can crash or hang
 * on a request can take the pool's supervisor with it.  It forks N
 * workers that share the listen socket and accept() on it in turn (the
 * kernel wakes one), and then only waits for signals.
 *
 * The socket comes from one of four places:
 *   unix:PATH   silo binds it, sets its mode and owner for Caddy's user,
 *               and removes it on exit.  A stale socket left by a crash is
 *               replaced; a live one (another silo answering) is an error.
 *   tcp:H:P     silo binds it.
 *   stdin       the FastCGI convention: the spawner passes the listening
 *               socket as fd 0.
 *   systemd     socket activation: LISTEN_FDS=1 for our pid, fd 3.
 *
 * A burst waits in the socket's accept queue for a free worker: its
 * length is SILO_LISTEN_BACKLOG (1024 unless set), clamped with a warning
 * to the kernel's net.core.somaxconn, which listen() would otherwise
 * apply in silence.  A connection that finds the queue full is refused,
 * and Caddy tries again for a moment before it answers 503 (Caddyfile).
 *
 * Before the first fork the master maps the cells of the cap on workers
 * busy on expensive work (busy.c); when it reaps a worker it frees any
 * cell the dead one held, so a crash mid-request never shrinks the cap.
 *
 * Signals are taken synchronously with sigtimedwait(), so the supervisor
 * is a plain loop with no async-signal-safety puzzles:
 *   SIGCHLD  reap; a worker that died is re-forked.  One that dies again
 *            soon after starting waits before the next try, doubling from
 *            100 ms to 30 s, so a crash loop (say, a bad deploy) cannot
 *            spin the CPU or flood the journal.  A worker that lived ten
 *            seconds has its record wiped.
 *   SIGTERM  stop: every worker finishes its request and exits; after
 *   SIGINT   SILO_SHUTDOWN_TIMEOUT stragglers are killed.
 *   SIGHUP   re-read the configuration.  If it is valid, a new generation
 *            of workers starts at once and the old one retires after its
 *            in-flight requests, so capacity never drops to zero.  If it is
 *            invalid, the problems are logged and the running
 *            configuration stays.  The listen socket is kept as it is.
 */
#include "config.h"

#include <errno.h>
#include <grp.h>
#include <netdb.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fcgiapp.h>

#include "extern.h"

#define	SERVE_SOMAXCONN		"/proc/sys/net/core/somaxconn"
#define	SERVE_BACKOFF_MIN_MS	100.0	/* first re-fork delay after a crash */
#define	SERVE_BACKOFF_MAX_MS	30000.0	/* longest re-fork delay */
#define	SERVE_STABLE_MS		10000.0	/* a worker this old is healthy */
#define	SERVE_TICK_MS		1000.0	/* longest sleep; SIGTERM repeat */
#define	SYSTEMD_FD		3	/* SD_LISTEN_FDS_START */

/* One place in the worker pool. */
struct worker_slot {
	pid_t		 pid;		/* running worker, or 0 */
	double		 started_ms;	/* when it was forked */
	double		 next_start_ms;	/* earliest re-fork (backoff) */
	unsigned	 failures;	/* consecutive early deaths */
};

/* The master's whole state. */
struct supervisor {
	struct silo_config config;	/* the running configuration */
	const char	*env_file;	/* re-read on SIGHUP */
	const struct config_override *overrides; /* command-line options */
	size_t		 noverrides;	/* how many */
	int		 listen_fd;	/* the FastCGI listen socket */
	char		*unix_path;	/* socket we bound and must remove */
	struct worker_slot *slots;	/* the current generation */
	size_t		 nslots;	/* its size */
	pid_t		*retiring;	/* the previous generations, exiting */
	size_t		 nretiring;	/* how many are still alive */
	double		 retire_deadline_ms; /* when retirees get SIGKILL */
	double		 last_retire_term_ms; /* when they last got SIGTERM */
	bool		 stopping;	/* SIGTERM received */
	double		 stop_deadline_ms; /* when stragglers get SIGKILL */
	double		 last_term_ms;	/* when SIGTERM was last sent */
	double		 started_at;	/* start in CLOCK_REALTIME s (uptime) */
};

/* Resolve a user or group given by name or number. */
static int
serve_owner_ids(const char *owner, const char *group, uid_t *uid, gid_t *gid,
    char *err, size_t errsz)
{
	char	*end;

	*uid = (uid_t)-1;
	*gid = (gid_t)-1;
	if (owner != NULL) {
		struct passwd	*pw = getpwnam(owner);
		unsigned long	 n = strtoul(owner, &end, 10);

		if (pw != NULL)
			*uid = pw->pw_uid;
		else if (*owner != '\0' && *end == '\0')
			*uid = (uid_t)n;
		else {
			snprintf(err, errsz, "SILO_SOCKET_OWNER: no user '%s'",
			    owner);
			return -1;
		}
	}
	if (group != NULL) {
		struct group	*gr = getgrnam(group);
		unsigned long	 n = strtoul(group, &end, 10);

		if (gr != NULL)
			*gid = gr->gr_gid;
		else if (*group != '\0' && *end == '\0')
			*gid = (gid_t)n;
		else {
			snprintf(err, errsz, "SILO_SOCKET_GROUP: no group '%s'",
			    group);
			return -1;
		}
	}
	return 0;
}

/*
 * SILO_LISTEN_BACKLOG, clamped to the kernel's somaxconn (which listen()
 * would silently apply), with a warning naming both: a burst of clients
 * waits in this queue for a free worker, and a connection that finds it
 * full is refused, which Caddy reports as an error.
 */
static int
serve_backlog(const struct silo_config *c)
{
	FILE	*f;
	long	 max = -1;

	if ((f = fopen(SERVE_SOMAXCONN, "re")) != NULL) {
		if (fscanf(f, "%ld", &max) != 1)
			max = -1;
		fclose(f);
	}
	if (max > 0 && max < c->listen_backlog) {
		log_warn("SILO_LISTEN_BACKLOG=%d is above the kernel's "
		    "somaxconn=%ld (%s): the queue holds %ld",
		    c->listen_backlog, max, SERVE_SOMAXCONN, max);
		return (int)max;
	}
	return c->listen_backlog;
}

/* Is someone accepting on this unix socket path? */
static bool
serve_unix_socket_live(const struct sockaddr_un *sun)
{
	int	 fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool	 live;

	if (fd == -1)
		return false;
	live = connect(fd, (const struct sockaddr *)sun, sizeof(*sun)) == 0;
	close(fd);
	return live;
}

static int
serve_listen_unix(struct supervisor *s, char *err, size_t errsz)
{
	const struct silo_config *c = &s->config;
	struct sockaddr_un	 sun;
	struct stat		 st;
	uid_t			 uid;
	gid_t			 gid;
	int			 fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", c->listen_path);
	if (serve_owner_ids(c->socket_owner, c->socket_group, &uid, &gid, err,
	    errsz) == -1)
		return -1;
	if (lstat(c->listen_path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			snprintf(err, errsz, "%s exists and is not a socket",
			    c->listen_path);
			return -1;
		}
		if (serve_unix_socket_live(&sun)) {
			snprintf(err, errsz, "%s is in use by a running server",
			    c->listen_path);
			return -1;
		}
		unlink(c->listen_path);
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM, 0)) == -1 ||
	    bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		snprintf(err, errsz, "bind %s: %s", c->listen_path,
		    strerror(errno));
		goto fail;
	}
	s->unix_path = strdup(c->listen_path);
	if (chmod(c->listen_path, c->socket_mode) == -1 ||
	    ((uid != (uid_t)-1 || gid != (gid_t)-1) &&
	     chown(c->listen_path, uid, gid) == -1)) {
		snprintf(err, errsz, "set owner/mode of %s: %s",
		    c->listen_path, strerror(errno));
		goto fail;
	}
	if (listen(fd, serve_backlog(c)) == -1) {
		snprintf(err, errsz, "listen %s: %s", c->listen_path,
		    strerror(errno));
		goto fail;
	}
	return fd;
fail:
	if (fd != -1)
		close(fd);
	return -1;
}

static int
serve_listen_tcp(const struct silo_config *c, char *err, size_t errsz)
{
	struct addrinfo	 hints, *res = NULL;
	char		 port[8];
	int		 fd = -1, one = 1, gai;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	snprintf(port, sizeof(port), "%d", c->listen_port);
	if ((gai = getaddrinfo(c->listen_host, port, &hints, &res)) != 0) {
		snprintf(err, errsz, "SILO_LISTEN: %s: %s", c->listen_host,
		    gai_strerror(gai));
		return -1;
	}
	if ((fd = socket(res->ai_family, SOCK_STREAM, 0)) == -1 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1 ||
	    bind(fd, res->ai_addr, res->ai_addrlen) == -1 ||
	    listen(fd, serve_backlog(c)) == -1) {
		snprintf(err, errsz, "listen tcp:%s:%d: %s", c->listen_host,
		    c->listen_port, strerror(errno));
		if (fd != -1)
			close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd;
}

/* Is fd a socket in the listening state? */
static bool
serve_fd_is_listener(int fd)
{
	int		 on = 0;
	socklen_t	 len = sizeof(on);

	return getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &on, &len) == 0 && on;
}

static int
serve_listen_open(struct supervisor *s, char *err, size_t errsz)
{
	const struct silo_config *c = &s->config;
	int			 fd;

	switch (c->listen_kind) {
	case LISTEN_UNIX:
		return serve_listen_unix(s, err, errsz);
	case LISTEN_TCP:
		return serve_listen_tcp(c, err, errsz);
	case LISTEN_STDIN:
		fd = 0;
		break;
	case LISTEN_SYSTEMD: {
		const char *fds = getenv("LISTEN_FDS");
		const char *pid = getenv("LISTEN_PID");

		if (fds == NULL || pid == NULL ||
		    strtol(pid, NULL, 10) != (long)getpid()) {
			snprintf(err, errsz, "SILO_LISTEN=systemd but no "
			    "socket was passed (LISTEN_PID/LISTEN_FDS)");
			return -1;
		}
		if (strcmp(fds, "1") != 0) {
			snprintf(err, errsz, "systemd passed %s sockets; "
			    "silo takes exactly one", fds);
			return -1;
		}
		unsetenv("LISTEN_FDS");
		unsetenv("LISTEN_PID");
		unsetenv("LISTEN_FDNAMES");
		fd = SYSTEMD_FD;
		break;
	}
	default:
		fd = -1;
	}
	if (!serve_fd_is_listener(fd)) {
		snprintf(err, errsz, "fd %d is not a listening socket", fd);
		return -1;
	}
	return fd;
}

static void
serve_slot_spawn(struct supervisor *s, size_t i)
{
	struct worker_slot	*w = &s->slots[i];
	pid_t			 pid = fork();

	if (pid == -1) {
		log_err("fork worker %zu: %s", i, strerror(errno));
		w->next_start_ms = clock_ms() + SERVE_BACKOFF_MAX_MS;
		return;
	}
	if (pid == 0) {
		sigset_t	 none;
		int		 rc;

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		rc = worker_main(&s->config, s->listen_fd, s->started_at);
		free(s->slots);
		free(s->retiring);
		free(s->unix_path);
		config_free(&s->config);
		exit(rc);
	}
	w->pid = pid;
	w->started_ms = clock_ms();
	log_info("worker %zu started (pid %ld)", i, (long)pid);
}

static void
serve_describe_exit(int status, char *buf, size_t bufsz)
{
	if (WIFSIGNALED(status))
		snprintf(buf, bufsz, "killed by signal %d", WTERMSIG(status));
	else
		snprintf(buf, bufsz, "exited with status %d",
		    WEXITSTATUS(status));
}

/* A worker of the current generation died: schedule its replacement. */
static void
serve_slot_died(struct supervisor *s, size_t i, int status)
{
	struct worker_slot	*w = &s->slots[i];
	double			 now = clock_ms(), lived = now - w->started_ms;
	double			 delay = 0;
	char			 how[64];

	serve_describe_exit(status, how, sizeof(how));
	w->pid = 0;
	if (s->stopping) {
		log_info("worker %zu %s", i, how);
		return;
	}
	w->failures = lived < SERVE_STABLE_MS ? w->failures + 1 : 1;
	delay = SERVE_BACKOFF_MIN_MS;
	for (unsigned k = 1; k < w->failures && delay < SERVE_BACKOFF_MAX_MS;
	    k++)
		delay *= 2;
	if (delay > SERVE_BACKOFF_MAX_MS)
		delay = SERVE_BACKOFF_MAX_MS;
	w->next_start_ms = now + delay;
	metrics_worker_restarted();
	log_warn("worker %zu %s after %.1f s; restarting in %.1f s", i, how,
	    lived / 1000, delay / 1000);
}

static void
serve_reap(struct supervisor *s)
{
	pid_t	 pid;
	int	 status;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		bool	 found = false;

		busy_reclaim(pid);

		for (size_t i = 0; i < s->nslots && !found; i++)
			if (s->slots[i].pid == pid) {
				serve_slot_died(s, i, status);
				found = true;
			}
		for (size_t i = 0; i < s->nretiring && !found; i++)
			if (s->retiring[i] == pid) {
				s->retiring[i] = s->retiring[--s->nretiring];
				found = true;
			}
	}
}

static size_t
serve_running(const struct supervisor *s)
{
	size_t	 n = s->nretiring;

	for (size_t i = 0; i < s->nslots; i++)
		if (s->slots[i].pid != 0)
			n++;
	return n;
}

static void
serve_signal_all(struct supervisor *s, int sig)
{
	for (size_t i = 0; i < s->nslots; i++)
		if (s->slots[i].pid != 0)
			kill(s->slots[i].pid, sig);
	for (size_t i = 0; i < s->nretiring; i++)
		kill(s->retiring[i], sig);
}

static void
serve_begin_stop(struct supervisor *s)
{
	if (s->stopping)
		return;
	s->stopping = true;
	s->stop_deadline_ms = clock_ms() +
	    1000.0 * s->config.shutdown_timeout_s;
	s->last_term_ms = clock_ms();
	log_info("stopping: waiting for %zu workers to finish",
	    serve_running(s));
	serve_signal_all(s, SIGTERM);
}

/* SIGHUP: swap in a valid new configuration and a new generation. */
static void
serve_reload(struct supervisor *s)
{
	struct silo_config	 fresh;
	struct worker_slot	*slots;
	pid_t			*retiring;
	char			 err[4096];
	size_t			 n = 0;

	if (config_load(&fresh, s->env_file, s->overrides, s->noverrides, err,
	    sizeof(err)) == -1) {
		log_err("reload refused, keeping the running configuration: %s",
		    err);
		return;
	}
	if (fresh.listen_kind != s->config.listen_kind ||
	    (fresh.listen_path != NULL && s->config.listen_path != NULL &&
	     strcmp(fresh.listen_path, s->config.listen_path) != 0) ||
	    fresh.listen_port != s->config.listen_port)
		log_warn("reload: SILO_LISTEN changes take effect on restart");
	slots = calloc((size_t)fresh.workers, sizeof(*slots));
	retiring = realloc(s->retiring,
	    (s->nretiring + s->nslots + 1) * sizeof(*retiring));
	if (slots == NULL || retiring == NULL) {
		log_err("reload: out of memory");
		free(slots);
		if (retiring != NULL)
			s->retiring = retiring;
		config_free(&fresh);
		return;
	}
	s->retiring = retiring;
	for (size_t i = 0; i < s->nslots; i++)
		if (s->slots[i].pid != 0) {
			kill(s->slots[i].pid, SIGTERM);
			s->retiring[s->nretiring++] = s->slots[i].pid;
			n++;
		}
	free(s->slots);
	s->slots = slots;
	s->nslots = (size_t)fresh.workers;
	fresh.listen_kind = s->config.listen_kind;
	config_free(&s->config);
	s->config = fresh;
	log_init(s->config.log_level);
	s->last_retire_term_ms = clock_ms();
	s->retire_deadline_ms = s->last_retire_term_ms +
	    1000.0 * s->config.shutdown_timeout_s;
	log_info("reloaded configuration: %zu workers retiring, %zu starting",
	    n, s->nslots);
}

/*
 * Keep after retiring workers: SIGTERM again each tick (one may have taken
 * the first while between its stop check and accept(), and sleep there),
 * SIGKILL once SILO_SHUTDOWN_TIMEOUT has passed since the reload.
 */
static void
serve_retire_nudge(struct supervisor *s, double now)
{
	int	 sig;

	if (s->nretiring == 0 || now - s->last_retire_term_ms < SERVE_TICK_MS)
		return;
	sig = now >= s->retire_deadline_ms ? SIGKILL : SIGTERM;
	if (sig == SIGKILL)
		log_warn("reload: killing %zu workers that did not retire "
		    "in time", s->nretiring);
	for (size_t i = 0; i < s->nretiring; i++)
		kill(s->retiring[i], sig);
	s->last_retire_term_ms = now;
}

/* The supervision loop; returns when every worker has exited. */
static void
serve_supervise(struct supervisor *s, const sigset_t *set)
{
	for (;;) {
		double		 now = clock_ms(), wait_ms = SERVE_TICK_MS;
		struct timespec	 ts;
		int		 sig;

		serve_reap(s);
		if (s->stopping) {
			if (serve_running(s) == 0)
				return;
			if (now >= s->stop_deadline_ms) {
				log_warn("shutdown timeout: killing %zu "
				    "workers", serve_running(s));
				serve_signal_all(s, SIGKILL);
			} else if (now - s->last_term_ms >= SERVE_TICK_MS) {
				/* Wake workers that raced into accept(). */
				serve_signal_all(s, SIGTERM);
				s->last_term_ms = now;
			}
		} else {
			serve_retire_nudge(s, now);
			for (size_t i = 0; i < s->nslots; i++) {
				struct worker_slot *w = &s->slots[i];

				if (w->pid != 0)
					continue;
				if (now >= w->next_start_ms)
					serve_slot_spawn(s, i);
				else if (w->next_start_ms - now < wait_ms)
					wait_ms = w->next_start_ms - now;
			}
		}
		ts.tv_sec = (time_t)(wait_ms / 1000);
		ts.tv_nsec = (long)((wait_ms - 1000.0 * (double)ts.tv_sec) *
		    1e6);
		sig = sigtimedwait(set, NULL, &ts);
		if (sig == SIGTERM || sig == SIGINT)
			serve_begin_stop(s);
		else if (sig == SIGHUP && !s->stopping)
			serve_reload(s);
	}
}

/* "unix:/run/silo/silo.sock", "tcp:127.0.0.1:9000", "stdin", "systemd". */
static const char *
serve_listen_describe(const struct silo_config *c, char *buf, size_t bufsz)
{
	switch (c->listen_kind) {
	case LISTEN_UNIX:
		snprintf(buf, bufsz, "unix:%s", c->listen_path);
		break;
	case LISTEN_TCP:
		snprintf(buf, bufsz, strchr(c->listen_host, ':') != NULL ?
		    "tcp:[%s]:%d" : "tcp:%s:%d", c->listen_host,
		    c->listen_port);
		break;
	case LISTEN_STDIN:
		snprintf(buf, bufsz, "stdin (fd 0)");
		break;
	case LISTEN_SYSTEMD:
		snprintf(buf, bufsz, "systemd (fd %d)", SYSTEMD_FD);
		break;
	}
	return buf;
}

int
serve_main(const char *env_file, const struct config_override *ov, size_t nov)
{
	struct supervisor	 s;
	sigset_t		 set;
	char			 err[4096], where[160];
	int			 rc = 0;

	memset(&s, 0, sizeof(s));
	s.started_at = clock_real();
	s.env_file = env_file;
	s.overrides = ov;
	s.noverrides = nov;
	s.listen_fd = -1;
	if (config_load(&s.config, env_file, ov, nov, err, sizeof(err)) == -1) {
		fprintf(stderr, "silo: configuration is invalid:\n%s\n", err);
		return 2;
	}
	log_init(s.config.log_level);

	/* Block the signals we wait for before any child exists. */
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	if ((s.listen_fd = serve_listen_open(&s, err, sizeof(err))) == -1) {
		log_err("%s", err);
		rc = 1;
		goto out;
	}
	if (busy_init(err, sizeof(err)) == -1 ||
	    metrics_init(err, sizeof(err)) == -1) {
		log_err("%s", err);
		rc = 1;
		goto out;
	}
	if (FCGX_Init() != 0) {
		log_err("FastCGI library failed to initialize");
		rc = 1;
		goto out;
	}
	if ((s.slots = calloc((size_t)s.config.workers,
	    sizeof(*s.slots))) == NULL) {

		log_err("out of memory");
		rc = 1;
		goto out;
	}
	s.nslots = (size_t)s.config.workers;
	log_info("silo %s serving on %s with %zu workers (at most %d on "
	    "expensive work), database %s", PACKAGE_VERSION,
	    serve_listen_describe(&s.config, where, sizeof(where)),
	    s.nslots, busy_cap(&s.config), s.config.mongo_db);
	serve_supervise(&s, &set);
	log_info("stopped");
out:
	if (s.listen_fd > 2)
		close(s.listen_fd);
	if (s.unix_path != NULL)
		unlink(s.unix_path);
	free(s.unix_path);
	free(s.slots);
	free(s.retiring);
	config_free(&s.config);
	return rc;
}
