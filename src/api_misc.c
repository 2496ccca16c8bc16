/*
 * api_misc.c: endpoints that belong to no data area.
 *
 * /api/ping touches nothing behind silo.  It is the liveness probe for
 * AC's monitoring and the ceiling in bench/: the cost of Caddy, FastCGI
 * and silo's edge alone, against which every real endpoint is measured.
 */
#include "config.h"

#include "silo.h"

void
api_misc_ping(struct silo_ctx *ctx, const struct silo_request *req,
    struct silo_response *resp)
{
	cJSON	*body = cJSON_CreateObject();

	cJSON_AddBoolToObject(body, "ok", 1);
	resp_json(resp, 200, body);
}
