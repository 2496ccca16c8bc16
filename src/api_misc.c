/*
 * api_misc.c: endpoints that belong to no data area.
 *
 * /api/health is the one public endpoint with an answer (the sign-in is
 * the other public one): up or down, for an uptime monitor that holds no
 * credential.  "up" means silo answered and its database answered a
 * ping; it says nothing else, no version and no uptime, since anyone can
 * ask.
 *
 * /api/ping touches nothing behind silo.  It is the ceiling in bench/:
 * the cost of Caddy, FastCGI and silo's edge alone (with a token), against
 * which every real endpoint is measured.
 */
#include "config.h"

#include "silo.h"

void
api_misc_health(struct silo_ctx *ctx, const struct silo_request *req,
    struct silo_response *resp)
{
	bson_t		*ping = BCON_NEW("ping", BCON_INT32(1));
	bson_t		 reply;
	bson_error_t	 e;
	cJSON		*body = cJSON_CreateObject();
	bool		 up = mongo_command(ctx->mongo, "admin", ping, &reply,
			    &e);

	bson_destroy(&reply);
	bson_destroy(ping);
	cJSON_AddStringToObject(body, "status", up ? "up" : "down");
	resp_json(resp, up ? 200 : 503, body);
}

void
api_misc_ping(struct silo_ctx *ctx, const struct silo_request *req,
    struct silo_response *resp)
{
	cJSON	*body = cJSON_CreateObject();

	cJSON_AddBoolToObject(body, "ok", 1);
	resp_json(resp, 200, body);
}
