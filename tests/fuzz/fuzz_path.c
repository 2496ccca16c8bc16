/* Fuzz harness: routing an arbitrary method and path through the real
 * route table, and rendering whatever response comes back. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "extern.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

const char fuzz_corpus_name[] = "path";

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const methods[] = { "GET", "HEAD", "POST", "DELETE" };
	struct silo_request	 req = { 0 };
	const struct route	*rt;
	char			 allow[128], *path, *out;
	size_t			 len;
	enum route_match	 m;

	if (size == 0)
		return 0;
	path = strndup((const char *)data + 1, size - 1);
	req.method = methods[data[0] % 4];
	m = router_match(routes_table, routes_count, req.method, path, &rt, &req,
	    allow, sizeof(allow));
	if ((m == ROUTE_FOUND) != (rt != NULL))
		abort();
	if (m == ROUTE_BAD_METHOD && allow[0] == '\0')
		abort();
	router_free_params(&req);

	/*
	 * Errors render, each with its own status; handlers are not called
	 * (they need a database).
	 */
	if (m != ROUTE_FOUND) {
		struct silo_response	 resp = { 0 };
		int			 want = m == ROUTE_BAD_PATH ? 400 :
					     m == ROUTE_BAD_METHOD ? 405 : 404;

		req.path = path;
		req.query_string = "";
		router_dispatch(routes_table, routes_count, NULL, &req, &resp);
		router_free_params(&req);
		if (resp.status != want ||
		    (out = resp_render(&resp, "fuzz", false, &len)) == NULL)
			abort();
		free(out);
		resp_clear(&resp);
	}
	free(path);
	return 0;
}
