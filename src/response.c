/*
 * response.c: building and rendering responses.
 *
 * Handlers never write bytes; they set a status, a cJSON body and perhaps a
 * header, and the edge renders that once, here.  That keeps three promises
 * in one place: every body is JSON, every error has the one shape
 * {"error":{"code":"...","message":"..."}}, and every response carries the
 * request id and no-store caching (the API's answers are live state, and
 * some are per-user).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "extern.h"

void
resp_clear(struct silo_response *r)
{
	cJSON_Delete(r->body);
	free(r->text);
	for (size_t i = 0; i < r->nheaders; i++) {
		free(r->headers[i].name);
		free(r->headers[i].value);
	}
	memset(r, 0, sizeof(*r));
}

/* Set status and a body that is not JSON (Prometheus's text format), of
 * Content-Type type (a static string); the response owns text. */
void
resp_text(struct silo_response *r, int status, const char *type, char *text)
{
	cJSON_Delete(r->body);
	r->body = NULL;
	free(r->text);
	r->status = status;
	r->text = text;
	r->text_type = type;
}

/* Set status and body; the response takes ownership of body. */
void
resp_json(struct silo_response *r, int status, cJSON *body)
{
	cJSON_Delete(r->body);
	r->status = status;
	r->body = body;
}

cJSON *
resp_error_body(const char *code, const char *message)
{
	cJSON	*body = cJSON_CreateObject(), *err;

	err = cJSON_AddObjectToObject(body, "error");
	cJSON_AddStringToObject(err, "code", code);
	cJSON_AddStringToObject(err, "message", message);
	return body;
}

void
resp_error(struct silo_response *r, int status, const char *code,
    const char *fmt, ...)
{
	char	 message[512];
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	resp_json(r, status, resp_error_body(code, message));
}

/* Answer a database failure: 503 with "status":"down" when the database
 * cannot be reached, else 502 (silo is fine, its upstream is not). */
void
resp_db_fail(struct silo_response *r, const char *database,
    const struct mongo_fail *f)
{
	cJSON	*body = cJSON_CreateObject();

	cJSON_AddItemToObject(body, "error", mongo_fail_json(f));
	if (mongo_error_is_unavailable(&f->error)) {
		cJSON_AddStringToObject(body, "status", "down");
		cJSON_AddStringToObject(body, "database", database);
		resp_json(r, 503, body);
	} else
		resp_json(r, 502, body);
	log_warn("database: %s: %s", f->doing, f->error.message);
}

/* Add a header.  Names and values with CR, LF or NUL are refused. */
int
resp_add_header(struct silo_response *r, const char *name, const char *value)
{
	if (r->nheaders == RESP_MAX_HEADERS ||
	    strpbrk(name, "\r\n: ") != NULL || strpbrk(value, "\r\n") != NULL)
		return -1;
	r->headers[r->nheaders].name = strdup(name);
	r->headers[r->nheaders].value = strdup(value);
	r->nheaders++;
	return 0;
}

const char *
resp_header_get(const struct silo_response *r, const char *name)
{
	for (size_t i = 0; i < r->nheaders; i++)
		if (strcasecmp(r->headers[i].name, name) == 0)
			return r->headers[i].value;
	return NULL;
}

/* Add key: a count or size.  JSON numbers are doubles, exact to 2^53. */
void
resp_add_int(cJSON *obj, const char *key, int64_t value)
{
	cJSON_AddNumberToObject(obj, key, (double)value);
}

/*
 * Add key: an ISO 8601 UTC time for unix_s (seconds since the epoch,
 * the fraction dropped), or null when it is no time (NaN, or beyond
 * what milliseconds in an int64_t hold).
 */
void
resp_add_time(cJSON *obj, const char *key, double unix_s)
{
	char	 iso[CLOCK_ISO_MAX];

	if (!(unix_s > -9e15 && unix_s < 9e15) ||
	    !clock_iso((int64_t)unix_s * 1000, CLOCK_ISO_S, iso,
	    sizeof(iso))) {
		cJSON_AddNullToObject(obj, key);
		return;
	}
	cJSON_AddStringToObject(obj, key, iso);
}

const char *
resp_status_text(int status)
{
	switch (status) {
	case 200: return "OK";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 303: return "See Other";
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 411: return "Length Required";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 429: return "Too Many Requests";
	case 500: return "Internal Server Error";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	default:  return "Unknown";
	}
}

/*
 * Render the CGI response (Status line, headers, blank line, body) into
 * one malloc'd, NUL-terminated buffer; *len excludes the NUL.  A response
 * without a status is a handler bug and renders as a 500 rather than as
 * nothing.  A 204 and a 304 have no body.  A handler's own Cache-Control
 * replaces the default no-store.
 */
char *
resp_render(const struct silo_response *r, const char *request_id,
    bool head_only, size_t *len)
{
	char	*body = NULL, *out = NULL;
	size_t	 bodylen = 0, cap, off;
	int	 status = r->status;
	cJSON	*fallback = NULL;
	const cJSON *json = r->body;
	const char *cache = resp_header_get(r, "Cache-Control");
	const char *type = "application/json; charset=utf-8";
	int	 n;

	if (status == 204 || status == 304)
		head_only = true;
	else if (status < 100 || status > 599 ||
	    (json == NULL && r->text == NULL)) {
		status = 500;
		json = fallback = resp_error_body("internal",
		    "the handler produced no response");
	}
	if (json != NULL && status != 204 && status != 304) {
		if ((body = cJSON_PrintUnformatted(json)) == NULL)
			goto out;
		bodylen = strlen(body);
	} else if (r->text != NULL && status != 204 && status != 304) {
		if ((body = strdup(r->text)) == NULL)
			goto out;
		bodylen = strlen(body);
		type = r->text_type;
	}

	cap = 256 + bodylen + strlen(request_id);
	for (size_t i = 0; i < r->nheaders; i++)
		cap += strlen(r->headers[i].name) +
		    strlen(r->headers[i].value) + 4;
	if ((out = malloc(cap)) == NULL)
		goto out;
	n = snprintf(out, cap, "Status: %d %s\r\n", status,
	    resp_status_text(status));
	off = (size_t)n;
	if (status != 204 && status != 304)
		off += (size_t)snprintf(out + off, cap - off,
		    "Content-Type: %s\r\n", type);
	if (cache == NULL)
		off += (size_t)snprintf(out + off, cap - off,
		    "Cache-Control: no-store\r\n");
	off += (size_t)snprintf(out + off, cap - off, "X-Request-Id: %s\r\n",
	    request_id);
	for (size_t i = 0; i < r->nheaders; i++)
		off += (size_t)snprintf(out + off, cap - off, "%s: %s\r\n",
		    r->headers[i].name, r->headers[i].value);
	if (status != 204 && status != 304)
		off += (size_t)snprintf(out + off, cap - off,
		    "Content-Length: %zu\r\n", bodylen);
	off += (size_t)snprintf(out + off, cap - off, "\r\n");
	if (!head_only) {
		memcpy(out + off, body, bodylen);
		off += bodylen;
	}
	out[off] = '\0';
	*len = off;
out:
	free(body);
	cJSON_Delete(fallback);
	return out;
}
