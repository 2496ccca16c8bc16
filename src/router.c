/*
 * router.c: from method and path to a handler, through one route table.
 *
 * The table (routes.c) is the API: every endpoint is one row with its
 * method, path pattern, access requirement, accepted query parameters and
 * handler.  Matching is by whole path segments.  A segment is compared
 * after percent-decoding, so "/api/db/%68ealth" is "/api/db/health", and a
 * ":name" segment captures the decoded text for the handler.  Malformed
 * escapes and dot segments are refused outright instead of being
 * normalized, since nothing legitimate sends them.
 *
 * HEAD is answered by every GET route (the edge drops the body).  A path
 * that exists under other methods is a 405 with an Allow header; a path
 * that does not exist at all is a 404.
 *
 * A route routes.c flags as expensive uncached work runs only while it
 * holds one of SILO_BUSY_MAX cells (busy.c); past the cap, and when a
 * cache miss inside a handler was refused the same way, the answer is a
 * 503 "busy" with Retry-After, whatever the handler made of it.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "extern.h"

#define	ROUTER_MAX_SEGMENTS	16	/* deeper paths match nothing */
#define	ROUTER_RETRY_AFTER_S	"1"	/* a busy answer's Retry-After */

/* A request path split into decoded segments. */
struct path_segments {
	char	*seg[ROUTER_MAX_SEGMENTS]; /* decoded segments */
	size_t	 n;			/* how many */
	bool	 too_deep;		/* more than ROUTER_MAX_SEGMENTS */
};

static void
router_segments_free(struct path_segments *ps)
{
	for (size_t i = 0; i < ps->n; i++)
		free(ps->seg[i]);
	ps->n = 0;
}

/* Split "/a/b%20c" into {"a", "b c"}.  -1 on a malformed path. */
static int
router_segments_split(const char *path, struct path_segments *ps)
{
	const char	*p = path;

	ps->n = 0;
	ps->too_deep = false;
	if (*p != '/')
		return -1;
	while (*p == '/') {
		size_t	 len = strcspn(p + 1, "/");
		char	*seg;

		if (ps->n == ROUTER_MAX_SEGMENTS) {
			ps->too_deep = true;
			return 0;
		}
		if ((seg = query_decode(p + 1, len, false)) == NULL)
			goto bad;
		ps->seg[ps->n++] = seg;
		if (strcmp(seg, ".") == 0 || strcmp(seg, "..") == 0 ||
		    strchr(seg, '/') != NULL)
			goto bad;
		p += len + 1;
	}
	return 0;
bad:
	router_segments_free(ps);
	return -1;
}

/*
 * Does pattern match the segments?  When it does and req is not NULL, the
 * ":name" values are copied into req->path_params.
 */
static bool
router_pattern_matches(const char *pattern, const struct path_segments *ps,
    struct silo_request *req)
{
	const char	*p = pattern;
	size_t		 i = 0;

	while (*p == '/') {
		size_t	 len = strcspn(p + 1, "/");

		if (i == ps->n)
			return false;
		if (p[1] == ':') {
			if (ps->seg[i][0] == '\0')
				return false;
		} else if (strlen(ps->seg[i]) != len ||
		    strncmp(ps->seg[i], p + 1, len) != 0)
			return false;
		p += len + 1;
		i++;
	}
	if (i != ps->n)
		return false;
	if (req != NULL) {
		i = 0;
		req->npath_params = 0;
		for (p = pattern; *p == '/'; i++) {
			size_t	 len = strcspn(p + 1, "/");

			if (p[1] == ':' &&
			    req->npath_params < ROUTE_MAX_PATH_PARAMS)
				req->path_params[req->npath_params++] =
				    strdup(ps->seg[i]);
			p += len + 1;
		}
	}
	return true;
}

static bool
router_method_matches(const char *route_method, const char *method)
{
	return strcmp(route_method, method) == 0 ||
	    (strcmp(method, "HEAD") == 0 && strcmp(route_method, "GET") == 0);
}

static void
router_allow_append(char *allow, size_t allowsz, const char *method)
{
	size_t	 len = strlen(allow);

	if (strstr(allow, method) != NULL)
		return;
	snprintf(allow + len, allowsz - len, "%s%s", len ? ", " : "", method);
}

enum route_match
router_match(const struct route *routes, size_t nroutes, const char *method,
    const char *path, const struct route **found, struct silo_request *req,
    char *allow, size_t allowsz)
{
	struct path_segments	 ps;
	enum route_match	 result = ROUTE_NOT_FOUND;

	*found = NULL;
	allow[0] = '\0';
	if (router_segments_split(path, &ps) == -1)
		return ROUTE_BAD_PATH;
	if (ps.too_deep) {
		router_segments_free(&ps);
		return ROUTE_NOT_FOUND;
	}
	for (size_t i = 0; i < nroutes; i++) {
		if (!router_pattern_matches(routes[i].pattern, &ps, NULL))
			continue;
		router_allow_append(allow, allowsz, routes[i].method);
		if (strcmp(routes[i].method, "GET") == 0)
			router_allow_append(allow, allowsz, "HEAD");
		if (*found == NULL &&
		    router_method_matches(routes[i].method, method)) {
			*found = &routes[i];
			router_pattern_matches(routes[i].pattern, &ps, req);
		}
		result = ROUTE_BAD_METHOD;
	}
	router_segments_free(&ps);
	return *found != NULL ? ROUTE_FOUND : result;
}

void
router_free_params(struct silo_request *req)
{
	for (size_t i = 0; i < req->npath_params; i++)
		free(req->path_params[i]);
	req->npath_params = 0;
	query_free(&req->query);
}

static bool
router_param_allowed(const struct route *rt, const char *key)
{
	if (rt->params == NULL)
		return false;
	for (const char *const *p = rt->params; *p != NULL; p++)
		if (strcmp(*p, key) == 0)
			return true;
	return false;
}

/* Reject query keys the route does not declare, naming the first. */
static bool
router_query_keys_check(const struct route *rt, const struct query *q,
    struct silo_response *resp)
{
	char	 accepted[256] = "";

	for (size_t i = 0; i < q->nparams; i++) {
		if (router_param_allowed(rt, q->params[i].key))
			continue;
		if (rt->params == NULL || rt->params[0] == NULL) {
			resp_error(resp, 400, "bad_request", "unknown query "
			    "parameter '%.64s': %s takes no parameters",
			    q->params[i].key, rt->pattern);
			return false;
		}
		for (const char *const *p = rt->params; *p != NULL; p++)
			router_allow_append(accepted, sizeof(accepted), *p);
		resp_error(resp, 400, "bad_request",
		    "unknown query parameter '%.64s': %s accepts %s",
		    q->params[i].key, rt->pattern, accepted);
		return false;
	}
	return true;
}

/* Is this request of this route expensive uncached work (routes.c)? */
static bool
router_costly(const struct route *rt, const struct silo_request *req)
{
	for (size_t i = 0; i < routes_ncostly; i++)
		if (routes_costly[i].handler == rt->handler)
			return routes_costly[i].kind == ROUTE_COST_ALWAYS ||
			    req->query.nparams > 0;
	return false;
}

/* Past the cap on expensive work: come back in a second. */
static void
router_busy(struct silo_response *resp, const struct silo_config *c)
{
	resp_clear(resp);
	resp_add_header(resp, "Retry-After", ROUTER_RETRY_AFTER_S);
	resp_error(resp, 503, "busy", "%d workers are already on expensive "
	    "work (SILO_BUSY_MAX); retry shortly", busy_cap(c));
}

/* Run the handler, counted against SILO_BUSY_MAX when it is expensive. */
static void
router_run(const struct route *rt, struct silo_ctx *ctx,
    struct silo_request *req, struct silo_response *resp)
{
	bool	 costly = router_costly(rt, req);

	/* Like a cold cache miss, it waits its turn behind quick work and
	 * is refused at once behind slow work (busy.c). */
	if (costly && !busy_enter(ctx->config, false)) {
		(void)busy_refused();	/* answered here, not after a handler */
		router_busy(resp, ctx->config);
		return;
	}
	rt->handler(ctx, req, resp);
	if (costly)
		busy_leave();
	if (busy_refused())
		router_busy(resp, ctx->config);
}

void
router_dispatch(const struct route *routes, size_t nroutes,
    struct silo_ctx *ctx, struct silo_request *req, struct silo_response *resp)
{
	const struct route	*rt;
	char			 allow[128], err[256];

	switch (router_match(routes, nroutes, req->method, req->path, &rt, req,
	    allow, sizeof(allow))) {
	case ROUTE_BAD_PATH:
		resp_error(resp, 400, "bad_request",
		    "malformed path: bad percent-escape or dot segment");
		return;
	case ROUTE_NOT_FOUND:
		resp_error(resp, 404, "not_found", "no endpoint at %.200s",
		    req->path);
		return;
	case ROUTE_BAD_METHOD:
		resp_add_header(resp, "Allow", allow);
		resp_error(resp, 405, "method_not_allowed",
		    "%.16s is not allowed on %.200s (allowed: %s)",
		    req->method, req->path, allow);
		return;
	case ROUTE_FOUND:
		break;
	}
	req->route = (int)(rt - routes);
	if (!access_check(rt, ctx, req, resp))
		return;
	if (query_parse(req->query_string, &req->query, err,
	    sizeof(err)) == -1) {
		resp_error(resp, 400, "bad_request", "%s", err);
		return;
	}
	if (!router_query_keys_check(rt, &req->query, resp))
		return;
	router_run(rt, ctx, req, resp);
}
