/*
 * worker.c: one worker process, serving one FastCGI request at a time.
 *
 * A worker is forked by the master (serve.c) with the listen socket open.
 * It opens its own MongoDB client (never inherited: libmongoc is not
 * fork-safe), then loops: accept a request, read and bound it, route it,
 * render the response, write one access line.  Requests are synchronous;
 * the pool's size is the concurrency.
 *
 * Stopping without cutting a response short: SIGTERM is blocked while a
 * request is being served, so no write to Caddy and no read from mongod
 * is interrupted half-way; the signal is taken when the request is done,
 * before the next accept.  A signal that lands between the flag check and
 * accept() leaves the worker asleep in accept(), which is why the master
 * repeats SIGTERM once a second while it waits (FCGI_FAIL_ACCEPT_ON_INTR
 * makes libfcgi give up the accept on EINTR instead of retrying).
 *
 * Bad requests never reach a handler: an over-long URI is a 414, a body
 * over SILO_MAX_BODY a 413 (after draining it, so Caddy can read the
 * answer), a malformed Content-Length a 400.  Caddy sends a chunked body
 * as CONTENT_LENGTH=-1, read until end of stream, bounded the same way;
 * a stream that breaks before its end record is a 400, never a short
 * body handed to a route (Caddy gives up that way on a malformed chunked
 * body or a client gone mid-body).
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#ifdef HAVE_GETRANDOM
#include <sys/random.h>
#endif

#include <fcgiapp.h>

#include "extern.h"

#define	WORKER_READ_CHUNK	65536	/* body bytes read per call */
#define	ACCESS_PATH_MAX		512	/* path bytes kept in an access line */

static volatile sig_atomic_t	worker_stopping;

static void
worker_on_term(int sig)
{
	worker_stopping = 1;
}

/* Ids are echoed into headers and logs, so only a safe alphabet is kept. */
bool
worker_request_id_valid(const char *id)
{
	size_t	 len = 0;

	if (id == NULL)
		return false;
	for (const char *p = id; *p != '\0'; p++, len++)
		if (len == REQUEST_ID_MAX ||
		    !(((*p | 0x20) >= 'a' && (*p | 0x20) <= 'z') ||
		      (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' ||
		      *p == '.' || *p == ':'))
			return false;
	return len > 0;
}

/* 128 random bits as 32 hex digits. */
void
worker_request_id_make(char *buf, size_t bufsz)
{
	unsigned char	 raw[16];
	size_t		 got = 0;

#ifdef HAVE_GETRANDOM
	while (got < sizeof(raw)) {
		ssize_t	 n = getrandom(raw + got, sizeof(raw) - got, 0);

		if (n <= 0)
			break;
		got += (size_t)n;
	}
#endif
	if (got < sizeof(raw)) {
		/* No entropy source: unique is what matters, not secret. */
		struct timespec	 ts;
		static unsigned	 counter;

		clock_gettime(CLOCK_REALTIME, &ts);
		snprintf((char *)raw, sizeof(raw), "%lx%x%x", (long)ts.tv_nsec,
		    (unsigned)getpid(), counter++);
	}
	if (bufsz > 0) {
		size_t	 fit = (bufsz - 1) / 2;	/* bytes whose hex fits */

		hex_lower(raw, fit < sizeof(raw) ? fit : sizeof(raw), buf);
	}
}

/* Read and discard up to SILO_MAX_DRAIN bytes of what remains. */
static void
worker_body_drain(FCGX_Stream *in)
{
	char	 buf[WORKER_READ_CHUNK];
	size_t	 total = 0;
	int	 n;

	while (total < SILO_MAX_DRAIN &&
	    (n = FCGX_GetStr(buf, sizeof(buf), in)) > 0)
		total += (size_t)n;
}

/*
 * Read the request body into *body (NUL-terminated).  On a bad or
 * oversized body, fills in resp and returns -1.
 */
static int
worker_body_read(FCGX_Request *fr, size_t max, char **body, size_t *len,
    struct silo_response *resp)
{
	const char	*cl = FCGX_GetParam("CONTENT_LENGTH", fr->envp);
	long long	 want = 0;
	size_t		 cap, have = 0;
	char		*buf;
	int		 n;

	*body = NULL;
	*len = 0;
	if (cl != NULL && *cl != '\0') {
		char	*end;

		errno = 0;
		want = strtoll(cl, &end, 10);
		if (errno != 0 || *end != '\0' || want < -1 ||
		    (want != -1 && (*cl < '0' || *cl > '9'))) {
			resp_error(resp, 400, "bad_request",
			    "Content-Length '%.32s' is not a byte count", cl);
			return -1;
		}
	}
	if (want > (long long)max) {
		worker_body_drain(fr->in);
		resp_error(resp, 413, "payload_too_large",
		    "request body of %lld bytes exceeds the limit of %zu",
		    want, max);
		return -1;
	}
	/* -1: chunked, length unknown; read until the end, bounded. */
	cap = want >= 0 ? (size_t)want :
	    (max < WORKER_READ_CHUNK ? max : WORKER_READ_CHUNK);
	if ((buf = malloc(cap + 1)) == NULL) {
		resp_error(resp, 500, "internal", "out of memory");
		return -1;
	}
	for (;;) {
		if (have == cap) {
			if (want >= 0 || cap >= max)
				break;
			cap = cap * 2 > max ? max : cap * 2;
			char *grown = realloc(buf, cap + 1);
			if (grown == NULL) {
				free(buf);
				resp_error(resp, 500, "internal",
				    "out of memory");
				return -1;
			}
			buf = grown;
		}
		if ((n = FCGX_GetStr(buf + have, (int)(cap - have),
		    fr->in)) <= 0)
			break;
		have += (size_t)n;
	}
	if (want < 0 && have == max && FCGX_GetChar(fr->in) != EOF) {
		free(buf);
		worker_body_drain(fr->in);
		resp_error(resp, 413, "payload_too_large",
		    "request body exceeds the limit of %zu bytes", max);
		return -1;
	}
	/*
	 * A stream that broke before its end record (Caddy gave up on a
	 * client that sent a malformed chunked body or went away mid-body)
	 * is not a body, though a chunked one has no length to miss.
	 */
	if (FCGX_GetError(fr->in) != 0) {
		free(buf);
		resp_error(resp, 400, "bad_request",
		    "request body was cut short after %zu bytes", have);
		return -1;
	}
	if (want >= 0 && have < (size_t)want) {
		free(buf);
		resp_error(resp, 400, "bad_request",
		    "request body ended after %zu of %lld bytes", have, want);
		return -1;
	}
	buf[have] = '\0';
	*body = buf;
	*len = have;
	return 0;
}

/* A method is an HTTP token; anything else is not worth routing. */
static bool
worker_method_valid(const char *m)
{
	size_t	 len = strlen(m);

	if (len == 0 || len > 16)
		return false;
	for (; *m != '\0'; m++)
		if (*m < 'A' || *m > 'Z')
			return false;
	return true;
}

/* Copy a path for the log with spaces, quotes and controls escaped, as
 * %XX in upper case like any percent-encoding (so not hex_lower()). */
static void
worker_access_path(const char *path, char *out, size_t outsz)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t		 o = 0;

	for (const unsigned char *p = (const unsigned char *)path;
	    *p != '\0' && o + 4 < outsz; p++) {
		if (*p <= ' ' || *p == '"' || *p == '\\' || *p >= 0x7f) {
			out[o++] = '%';
			out[o++] = hex[*p >> 4];
			out[o++] = hex[*p & 0xf];
		} else
			out[o++] = (char)*p;
	}
	out[o] = '\0';
}

/* The headers and CGI variables access.c and the handlers read.  HTTPS
 * is "on" when Caddy took the request over TLS. */
static void
worker_request_headers(FCGX_Request *fr, struct silo_request *req)
{
	const char	*https = FCGX_GetParam("HTTPS", fr->envp);

	req->authorization = FCGX_GetParam("HTTP_AUTHORIZATION", fr->envp);
	req->cookie = FCGX_GetParam("HTTP_COOKIE", fr->envp);
	req->origin = FCGX_GetParam("HTTP_ORIGIN", fr->envp);
	req->host = FCGX_GetParam("HTTP_HOST", fr->envp);
	req->https = https != NULL && strcasecmp(https, "on") == 0;
	req->remote_addr = FCGX_GetParam("REMOTE_ADDR", fr->envp);
	req->accept = FCGX_GetParam("HTTP_ACCEPT", fr->envp);
	req->forwarded_method = FCGX_GetParam("HTTP_X_FORWARDED_METHOD",
	    fr->envp);
	req->forwarded_uri = FCGX_GetParam("HTTP_X_FORWARDED_URI", fr->envp);
}

/* Serve the request just accepted. */
static void
worker_serve(struct silo_ctx *ctx, FCGX_Request *fr)
{
	struct silo_request	 req = { .route = -1 };
	struct silo_response	 resp = { 0 };
	const char		*uri, *method, *incoming, *qmark;
	char			 rid[REQUEST_ID_MAX + 1];
	char			 logpath[ACCESS_PATH_MAX];
	char			*path = NULL, *body = NULL, *out;
	size_t			 body_len = 0, out_len = 0;
	double			 t0 = clock_ms();

	incoming = FCGX_GetParam("HTTP_X_REQUEST_ID", fr->envp);
	if (worker_request_id_valid(incoming))
		snprintf(rid, sizeof(rid), "%s", incoming);
	else
		worker_request_id_make(rid, sizeof(rid));

	if ((method = FCGX_GetParam("REQUEST_METHOD", fr->envp)) == NULL)
		method = "";
	if ((uri = FCGX_GetParam("REQUEST_URI", fr->envp)) == NULL)
		uri = "";

	if (!worker_method_valid(method))
		resp_error(&resp, 400, "bad_request",
		    "missing or malformed method");
	else if (strlen(uri) > SILO_MAX_URI)
		resp_error(&resp, 414, "uri_too_long",
		    "request URI of %zu bytes exceeds the limit of %d",
		    strlen(uri), SILO_MAX_URI);
	else if (uri[0] != '/')
		resp_error(&resp, 400, "bad_request",
		    "REQUEST_URI must be an absolute path");
	else if (worker_body_read(fr, ctx->config->max_body, &body,
	    &body_len, &resp) == 0) {
		qmark = strchr(uri, '?');
		path = qmark != NULL ? strndup(uri, (size_t)(qmark - uri)) :
		    strdup(uri);
		req.method = method;
		req.path = path;
		req.query_string = qmark != NULL ? qmark + 1 : "";
		req.request_id = rid;
		worker_request_headers(fr, &req);
		req.if_none_match = FCGX_GetParam("HTTP_IF_NONE_MATCH",
		    fr->envp);
		req.body = body;
		req.body_len = body_len;
		router_dispatch(routes_table, routes_count, ctx, &req, &resp);
		router_free_params(&req);
	}

	if ((out = resp_render(&resp, rid, strcmp(method, "HEAD") == 0,
	    &out_len)) != NULL) {
		FCGX_PutStr(out, (int)out_len, fr->out);
		free(out);
	}
	metrics_observe(req.route, resp.status >= 100 ? resp.status : 500,
	    (clock_ms() - t0) / 1000);
	worker_access_path(path != NULL ? path : uri, logpath,
	    sizeof(logpath));
	log_info("access method=%.16s path=%s status=%d ms=%.2f bytes=%zu "
	    "rid=%s",
	    *method != '\0' ? method : "-", logpath,
	    resp.status >= 100 ? resp.status : 500, clock_ms() - t0, out_len,
	    rid);
	resp_clear(&resp);
	free(path);
	free(body);
}

int
worker_main(const struct silo_config *config, int listen_fd,
    double serve_started_at)
{
	struct sigaction	 sa;
	sigset_t		 term;
	struct mongo		 mongo;
	struct silo_ctx		 ctx;
	FCGX_Request		 fr;
	char			 err[512];
	int			 rc = 0;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = worker_on_term;	/* no SA_RESTART: accept() must wake */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	sigaddset(&term, SIGINT);
	sigprocmask(SIG_BLOCK, &term, NULL);

	mongoc_init();
	mongo_log_init();
	if (mongo_open(&mongo, config, err, sizeof(err)) == -1) {
		log_err("worker: %s", err);
		mongoc_cleanup();
		return 1;
	}
	ctx.config = config;
	ctx.mongo = &mongo;
	ctx.serve_started_at = serve_started_at;

	FCGX_InitRequest(&fr, listen_fd, FCGI_FAIL_ACCEPT_ON_INTR);
	for (;;) {
		int	 accepted;

		sigprocmask(SIG_UNBLOCK, &term, NULL);
		if (worker_stopping)
			break;
		accepted = FCGX_Accept_r(&fr);
		sigprocmask(SIG_BLOCK, &term, NULL);
		if (accepted < 0) {
			if (worker_stopping)
				break;
			if (errno == EINTR)
				continue;
			log_err("worker: accept failed: %s", strerror(errno));
			rc = 1;
			break;
		}
		worker_serve(&ctx, &fr);
		FCGX_Finish_r(&fr);
	}
	FCGX_Free(&fr, 1);
	mongo_close(&mongo);
	mongoc_cleanup();
	return rc;
}
