/*
 * probe.c: asking AC's other services how they are, within a bound.
 *
 * The oven, the session server and the PDS are other people's processes
 * on other machines; any of them may be down, wedged or slow, and a
 * dashboard that hangs with them is no dashboard.  A probe is one GET of
 * one URL with libcurl, bounded three ways:
 *
 *   time     SILO_PROBE_CONNECT_MS to connect, SILO_PROBE_TIMEOUT_MS for
 *            the whole exchange, so a service that accepts and then says
 *            nothing costs that much and no more;
 *   size     an answer over PROBE_MAX_BODY is cut off and is an error: a
 *            status document is a few kilobytes, and a worker must not
 *            buffer whatever a confused upstream streams at it;
 *   redirects none are followed: a status URL that redirects is
 *            misconfigured, and following it could leave the service.
 *
 * All the probes one request needs run at once on one curl multi handle,
 * so /api/services with every service wedged takes one timeout, not
 * three.  Each probe records whether an answer arrived, its HTTP status,
 * its latency, its body parsed as JSON (when it is JSON) and, when
 * something went wrong, the reason in one line.  What the answer means
 * (ok, degraded, unreachable) is the caller's business: probe.c only
 * reports what happened on the wire.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "extern.h"

/* One probe's transfer while it runs. */
struct probe_transfer {
	struct probe	*probe;		/* where the outcome goes */
	CURL		*easy;		/* its handle */
	char		*buf;		/* the body so far */
	size_t		 len;		/* its length */
	bool		 too_big;	/* the body passed PROBE_MAX_BODY */
	char		 url[1024];	/* base + path */
	char		 errbuf[CURL_ERROR_SIZE]; /* curl's own message */
};

static size_t
probe_write(char *data, size_t size, size_t n, void *arg)
{
	struct probe_transfer	*t = arg;
	size_t			 bytes = size * n;
	char			*grown;

	if (t->len + bytes > PROBE_MAX_BODY) {
		t->too_big = true;
		return 0;	/* makes curl stop with CURLE_WRITE_ERROR */
	}
	if ((grown = realloc(t->buf, t->len + bytes + 1)) == NULL)
		return 0;
	t->buf = grown;
	memcpy(t->buf + t->len, data, bytes);
	t->len += bytes;
	t->buf[t->len] = '\0';
	return bytes;
}

static int
probe_setup(const struct silo_config *c, struct probe_transfer *t)
{
	struct probe	*p = t->probe;

	memset(p->reason, 0, sizeof(p->reason));
	p->answered = false;
	p->http_status = 0;
	p->latency_ms = 0;
	p->json = NULL;
	snprintf(t->url, sizeof(t->url), "%s%s", p->base, p->path);
	/* A base with a trailing slash must not make "//health". */
	if (strstr(t->url + 8, "//") != NULL) {
		size_t	 blen = strlen(p->base);

		while (blen > 0 && p->base[blen - 1] == '/')
			blen--;
		snprintf(t->url, sizeof(t->url), "%.*s%s", (int)blen, p->base,
		    p->path);
	}
	if ((t->easy = curl_easy_init()) == NULL) {
		snprintf(p->reason, sizeof(p->reason), "curl_easy_init failed");
		return -1;
	}
	curl_easy_setopt(t->easy, CURLOPT_URL, t->url);
	curl_easy_setopt(t->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(t->easy, CURLOPT_TIMEOUT_MS,
	    (long)c->probe_timeout_ms);
	curl_easy_setopt(t->easy, CURLOPT_CONNECTTIMEOUT_MS,
	    (long)c->probe_connect_ms);
	curl_easy_setopt(t->easy, CURLOPT_FOLLOWLOCATION, 0L);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(t->easy, CURLOPT_PROTOCOLS_STR, "http,https");
#else
	curl_easy_setopt(t->easy, CURLOPT_PROTOCOLS,
	    (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	curl_easy_setopt(t->easy, CURLOPT_USERAGENT, "silo/" PACKAGE_VERSION);
	curl_easy_setopt(t->easy, CURLOPT_WRITEFUNCTION, probe_write);
	curl_easy_setopt(t->easy, CURLOPT_WRITEDATA, t);
	curl_easy_setopt(t->easy, CURLOPT_ERRORBUFFER, t->errbuf);
	curl_easy_setopt(t->easy, CURLOPT_PRIVATE, t);
	return 0;
}

/* Record how one finished transfer went. */
static void
probe_finish(struct probe_transfer *t, CURLcode rc, double started_ms)
{
	struct probe	*p = t->probe;

	p->latency_ms = clock_ms() - started_ms;
	curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &p->http_status);
	if (t->too_big) {
		snprintf(p->reason, sizeof(p->reason),
		    "%.160s: answer larger than %u bytes", t->url,
		    PROBE_MAX_BODY);
		p->answered = p->http_status != 0;
		return;
	}
	if (rc != CURLE_OK) {
		snprintf(p->reason, sizeof(p->reason), "%.160s: %.80s", t->url,
		    t->errbuf[0] != '\0' ? t->errbuf : curl_easy_strerror(rc));
		p->http_status = 0;
		return;
	}
	p->answered = true;
	if (t->buf != NULL)
		p->json = cJSON_ParseWithLength(t->buf, t->len);
	if (p->http_status < 200 || p->http_status > 299)
		snprintf(p->reason, sizeof(p->reason), "%.200s: HTTP %ld",
		    t->url, p->http_status);
	else if (p->json == NULL)
		snprintf(p->reason, sizeof(p->reason),
		    "%.200s: answer is not JSON", t->url);
}

/*
 * Run n probes at once.  Returns when every one has answered or failed,
 * which the timeouts bound to SILO_PROBE_TIMEOUT_MS (plus scheduling).
 */
void
probe_run(const struct silo_config *c, struct probe *probes, size_t n)
{
	struct probe_transfer	*t;
	CURLM			*multi;
	CURLMsg			*msg;
	int			 running = 0, left;
	double			 t0 = clock_ms();

	if ((t = calloc(n ? n : 1, sizeof(*t))) == NULL ||
	    (multi = curl_multi_init()) == NULL) {
		for (size_t i = 0; i < n; i++)
			snprintf(probes[i].reason, sizeof(probes[i].reason),
			    "out of memory");
		free(t);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		t[i].probe = &probes[i];
		if (probe_setup(c, &t[i]) == 0)
			curl_multi_add_handle(multi, t[i].easy);
	}
	do {
		if (curl_multi_perform(multi, &running) != CURLM_OK)
			break;
		while ((msg = curl_multi_info_read(multi, &left)) != NULL) {
			struct probe_transfer	*done;

			if (msg->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE,
			    (char **)&done);
			probe_finish(done, msg->data.result, t0);
		}
		if (running > 0)
			curl_multi_poll(multi, NULL, 0, 100, NULL);
	} while (running > 0);
	for (size_t i = 0; i < n; i++) {
		if (t[i].easy == NULL)
			continue;
		if (!probes[i].answered && probes[i].reason[0] == '\0')
			snprintf(probes[i].reason, sizeof(probes[i].reason),
			    "%.200s: the transfer was abandoned", t[i].url);
		curl_multi_remove_handle(multi, t[i].easy);
		curl_easy_cleanup(t[i].easy);
		free(t[i].buf);
	}
	curl_multi_cleanup(multi);
	free(t);
}

/* Did the probe get a 2xx answer with a JSON body? */
bool
probe_ok(const struct probe *p)
{
	return p->answered && p->reason[0] == '\0';
}

void
probe_free(struct probe *probes, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		cJSON_Delete(probes[i].json);
		probes[i].json = NULL;
	}
}
