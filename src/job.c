/*
 * job.c: silo's long runs (a storage refresh, a backup run), one at a
 * time, started from the API and stopped by a signal.
 *
 * One at a time: an flock() on the job's lock file (SILO_STORAGE_LOCK,
 * SILO_BACKUP_LOCK).  The kernel drops the lock when its holder dies,
 * however it dies, so a killed run leaves no stale lock and no expiry
 * has to be guessed, which a lock document in MongoDB would need.  silo's
 * API and jobs run on one droplet, so a file lock is enough.  The holder
 * writes "pid N since <time>" into the file, for the message of whoever
 * finds it taken.
 *
 * Started from the API.  A run takes minutes, far too long for a FastCGI
 * worker (the pool's size is silo's concurrency, and Caddy would time
 * out).  So job_start() takes the lock itself, then starts `silo <args>
 * --lock-fd 3` as a detached process (fork, setsid, fork again: it is
 * nobody's child and outlives a worker's restart; stdin /dev/null,
 * stdout and stderr appended to the job's log) that inherits the locked
 * descriptor, and answers 202 with its pid and where to follow it.  So
 * the lock is held without a gap from the request to the end of the run,
 * and "already running" (409) and "started" (202) cannot race.  The run
 * checks the descriptor it was handed with job_lock().
 *
 * Stopped: job_catch_stop() has SIGTERM and SIGINT set the flag a job
 * checks between two documents, so that it can leave nothing
 * half-written (the backup aborts its upload, a restore drops its
 * scratch databases), and makes SIGPIPE an EPIPE.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include "extern.h"

/* ------------------------------------------------------------------ */
/* The lock                                                            */
/* ------------------------------------------------------------------ */

/*
 * Take the lock at path without waiting.  0: taken, *fd holds it (close
 * it to release).  1: another process holds it; holder says who, from
 * the file.  -1: the file cannot be opened; holder says why.
 */
static int
job_lock_open(const char *path, int *fd, char *holder, size_t holdersz)
{
	ssize_t	 n;

	holder[0] = '\0';
	if ((*fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640)) == -1) {
		snprintf(holder, holdersz, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (flock(*fd, LOCK_EX | LOCK_NB) == 0)
		return 0;
	if (errno != EWOULDBLOCK) {
		snprintf(holder, holdersz, "flock %s: %s", path,
		    strerror(errno));
		close(*fd);
		*fd = -1;
		return -1;
	}
	n = pread(*fd, holder, holdersz - 1, 0);
	holder[n > 0 ? (size_t)n : 0] = '\0';
	holder[strcspn(holder, "\n")] = '\0';
	if (holder[0] == '\0')
		snprintf(holder, holdersz, "starting");
	close(*fd);
	*fd = -1;
	return 1;
}

/* Say in the lock file who holds it, for a 409's message. */
static void
job_lock_describe(int fd, const char *path)
{
	char		 line[128], when[CLOCK_ISO_MAX] = "";
	int		 n;

	clock_iso(clock_real_ms(), CLOCK_ISO_S, when, sizeof(when));
	n = snprintf(line, sizeof(line), "pid %ld since %s\n", (long)getpid(),
	    when);
	if (ftruncate(fd, 0) == -1 || pwrite(fd, line, (size_t)n, 0) != n)
		log_warn("job: cannot write to the lock file %s", path);
}

/*
 * A job's lock: the descriptor the API handed over (given, from
 * --lock-fd; else -1), checked, or path's taken now.  0 and *fd holds it,
 * with this process named in it; 1 when another run holds it (holder
 * says who); -1 with holder saying why.
 */
int
job_lock(const char *path, int given, int *fd, char *holder,
    size_t holdersz)
{
	int	 rc = 0;

	if (given >= 0) {
		*fd = given;
		if (flock(given, LOCK_EX | LOCK_NB) == -1) {
			snprintf(holder, holdersz, "--lock-fd %d: %s", given,
			    strerror(errno));
			rc = -1;
		}
	} else
		rc = job_lock_open(path, fd, holder, holdersz);
	if (rc == 0)
		job_lock_describe(*fd, path);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Started from the API                                                */
/* ------------------------------------------------------------------ */

/*
 * In the grandchild: stdio to /dev/null and the log, the lock on fd 3,
 * nothing else open but the report pipe (close-on-exec), signals as a new
 * program expects them; then exec `silo <job's args> --lock-fd 3`.  Never
 * returns.
 */
static void
job_exec(const char *exe, const char *env_file,
    const struct job *job, int lock_fd, int log_fd, int report_fd)
{
	const char	*argv[JOB_MAX_ARGS + 6];
	size_t		 n = 0;
	sigset_t	 none;
	int		 lk, rp, devnull, err;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	for (int sig = 1; sig < NSIG; sig++)
		signal(sig, SIG_DFL);
	lk = fcntl(lock_fd, F_DUPFD, 10);
	rp = fcntl(report_fd, F_DUPFD_CLOEXEC, 10);
	devnull = open("/dev/null", O_RDONLY);
	if (lk == -1 || rp == -1 || devnull == -1 ||
	    dup2(devnull, 0) == -1 || dup2(log_fd, 1) == -1 ||
	    dup2(log_fd, 2) == -1 || dup2(lk, 3) == -1 || dup2(rp, 4) == -1 ||
	    fcntl(4, F_SETFD, FD_CLOEXEC) == -1)
		goto fail;
	closefrom(5);
	argv[n++] = exe;
	if (env_file != NULL) {
		argv[n++] = "--env-file";
		argv[n++] = env_file;
	}
	for (size_t i = 0; i < JOB_MAX_ARGS &&
	    job->args[i] != NULL; i++)
		argv[n++] = job->args[i];
	argv[n++] = "--lock-fd";
	argv[n++] = "3";
	argv[n] = NULL;
	execv(exe, (char *const *)argv);
fail:
	err = errno;
	if (write(rp != -1 ? rp : report_fd, &err, sizeof(err)) == -1)
		_exit(126);
	_exit(127);
}

/*
 * Start the detached job holding lock_fd.  Its pid, or -1 with why
 * set.  The first child only forks again (after setsid) and reports the
 * grandchild's pid; an exec failure comes back through the same pipe.
 */
static pid_t
job_fork(const struct silo_config *config, const struct job *job,
    int lock_fd, char *why, size_t whysz)
{
	char		 exe[PATH_MAX];
	ssize_t		 n;
	int		 log_fd, pipefd[2], err = 0, status;
	pid_t		 child, refresh = -1;

	if ((n = readlink("/proc/self/exe", exe, sizeof(exe) - 1)) <= 0) {
		snprintf(why, whysz, "cannot find silo's binary: %s",
		    strerror(errno));
		return -1;
	}
	exe[n] = '\0';
	if ((log_fd = open(job->log, O_WRONLY | O_APPEND |
	    O_CREAT | O_CLOEXEC, 0640)) == -1) {
		snprintf(why, whysz, "%s %s: %s", job->log_var, job->log,
		    strerror(errno));
		return -1;
	}
	if (pipe2(pipefd, O_CLOEXEC) == -1) {
		snprintf(why, whysz, "pipe: %s", strerror(errno));
		close(log_fd);
		return -1;
	}
	if ((child = fork()) == 0) {
		close(pipefd[0]);
		setsid();
		if ((refresh = fork()) == 0)
			job_exec(exe, config->env_file, job, lock_fd,
			    log_fd, pipefd[1]);
		if (write(pipefd[1], &refresh, sizeof(refresh)) == -1)
			_exit(1);
		_exit(0);
	}
	close(pipefd[1]);
	close(log_fd);
	if (child == -1)
		snprintf(why, whysz, "fork: %s", strerror(errno));
	else {
		waitpid(child, &status, 0);
		if (read(pipefd[0], &refresh, sizeof(refresh)) !=
		    (ssize_t)sizeof(refresh) || refresh <= 0) {
			snprintf(why, whysz, "fork: the job did not start");
			refresh = -1;
		} else if (read(pipefd[0], &err, sizeof(err)) ==
		    (ssize_t)sizeof(err)) {
			snprintf(why, whysz, "exec %s: %s", exe, strerror(err));
			refresh = -1;
		}
	}
	close(pipefd[0]);
	return refresh;
}

/*
 * Start `silo <job->args> --lock-fd 3`, detached and holding job->lock
 * from here on.  0 with *pid set; 1 when another run holds the lock (why
 * says who); -1 with why set.
 */
static int
job_spawn(const struct silo_config *config, const struct job *job,
    pid_t *pid, char *why, size_t whysz)
{
	char		 holder[256], err[PATH_MAX + 128];
	int		 fd;

	switch (job_lock_open(job->lock, &fd, holder, sizeof(holder))) {
	case 1:
		snprintf(why, whysz, "%s", holder);
		return 1;
	case -1:
		snprintf(why, whysz, "cannot take the lock of `silo %s %s`: %s",
		    job->args[0], job->args[1], holder);
		return -1;
	}
	/* No stale holder's name in a 409 before the job writes its own. */
	if (ftruncate(fd, 0) == -1)
		log_warn("job: %s: %s", job->lock, strerror(errno));
	*pid = job_fork(config, job, fd, err, sizeof(err));
	close(fd);
	if (*pid == -1) {
		log_err("job: cannot start `silo %s %s`: %s", job->args[0],
		    job->args[1], err);
		snprintf(why, whysz, "cannot start `silo %s %s`: %s",
		    job->args[0], job->args[1], err);
		return -1;
	}
	return 0;
}

/*
 * Start the job for a POST and answer it: 202 with the pid, the log and
 * how to follow the run; 409 naming the run that holds the lock; 500.
 */
void
job_start(const struct silo_config *config, const struct job *job,
    const struct silo_request *req, struct silo_response *resp)
{
	char		 why[PATH_MAX + 256];	/* err's and the command */
	pid_t		 pid;
	cJSON		*body;

	switch (job_spawn(config, job, &pid, why, sizeof(why))) {
	case 1:
		resp_error(resp, 409, "conflict", "%s is already running (%s)",
		    job->what, why);
		return;
	case -1:
		resp_error(resp, 500, "internal", "%s", why);
		return;
	}
	log_info("job: started `silo %s %s` pid %ld, rid=%s", job->args[0],
	    job->args[1], (long)pid, req->request_id);
	body = cJSON_CreateObject();
	cJSON_AddStringToObject(body, "status", "started");
	cJSON_AddNumberToObject(body, "pid", (double)pid);
	cJSON_AddStringToObject(body, "log", job->log);
	cJSON_AddStringToObject(body, "follow", job->follow);
	resp_json(resp, 202, body);
}

/* ------------------------------------------------------------------ */
/* Stopped                                                             */
/* ------------------------------------------------------------------ */

/* SIGTERM and SIGINT call on_stop (which only sets the job's flag);
 * SIGPIPE is an EPIPE. */
void
job_catch_stop(void (*on_stop)(int))
{
	struct sigaction	 sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
}
