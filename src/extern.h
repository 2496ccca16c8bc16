/*
 * extern.h: interfaces private to silo's edge and clients.
 *
 * silo.h is what handlers see.  This header adds what only the edge needs
 * (the route matcher, response rendering, the worker loop, supervision,
 * request ids) and the MongoDB client wrapper, whose libmongoc types
 * handlers reach only through the helpers declared here.
 */
#ifndef SILO_EXTERN_H
#define SILO_EXTERN_H

#include <bson/bson.h>
#include <mongoc/mongoc.h>

#include "silo.h"

/* ------------------------------------------------------------------ */
/* Edge limits                                                         */
/* ------------------------------------------------------------------ */

#define	SILO_MAX_URI		8192	/* longer request URIs get 414 */
#define	SILO_MAX_DRAIN		(16u << 20) /* body bytes read to discard on 413 */
#define	REQUEST_ID_MAX		64	/* longest request id accepted or made */

#include <time.h>

/* Milliseconds on the monotonic clock, for measuring durations. */
static inline double
clock_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* ------------------------------------------------------------------ */
/* Route matching (router.c)                                           */
/* ------------------------------------------------------------------ */

/* The outcome of matching a method and path against the route table. */
enum route_match {
	ROUTE_FOUND,		/* a route takes this method and path */
	ROUTE_NOT_FOUND,	/* no route has this path */
	ROUTE_BAD_METHOD,	/* the path exists, the method does not */
	ROUTE_BAD_PATH		/* the path is malformed (bad escape, dot segment) */
};

enum route_match router_match(const struct route *, size_t nroutes,
	    const char *method, const char *path, const struct route **found,
	    struct silo_request *req, char *allow, size_t allowsz);
void	 router_free_params(struct silo_request *);

/* ------------------------------------------------------------------ */
/* Response rendering (response.c)                                     */
/* ------------------------------------------------------------------ */

char	*resp_render(const struct silo_response *, const char *request_id,
	    bool head_only, size_t *len);

/* ------------------------------------------------------------------ */
/* Request ids (worker.c)                                              */
/* ------------------------------------------------------------------ */

bool	 request_id_valid(const char *);
void	 request_id_make(char *buf, size_t bufsz);

/* ------------------------------------------------------------------ */
/* Workers and supervision (worker.c, serve.c)                         */
/* ------------------------------------------------------------------ */

int	 worker_main(const struct silo_config *, int listen_fd);
int	 serve_main(const char *env_file, const struct config_override *,
	    size_t noverrides);

/* ------------------------------------------------------------------ */
/* MongoDB (mongo.c)                                                   */
/* ------------------------------------------------------------------ */

/* One worker's connection to the database.  Made after fork(): libmongoc
 * is not fork-safe, so no client ever crosses a fork. */
struct mongo {
	mongoc_client_t	*client;	/* single-threaded client, this worker's */
	char		*db_name;	/* the AC database, MONGODB_NAME */
};

void	 mongo_log_init(void);
int	 mongo_open(struct mongo *, const struct silo_config *,
	    char *err, size_t errsz);
void	 mongo_close(struct mongo *);
bool	 mongo_command(struct mongo *, const char *db, const bson_t *cmd,
	    bson_t *reply, bson_error_t *);
int64_t	 mongo_count(struct mongo *, const char *collection,
	    const bson_t *filter, bson_error_t *);
/* The outcome of asking for a collection's storage statistics. */
enum mongo_stats {
	MONGO_STATS_OK,		/* stats filled in */
	MONGO_STATS_GONE,	/* the collection no longer exists */
	MONGO_STATS_ERROR	/* the error is set */
};

enum mongo_stats mongo_storage_stats(struct mongo *, const char *collection,
	    bson_t *stats, bson_error_t *);
char	**mongo_collection_names(struct mongo *, bson_error_t *);
bool	 mongo_error_is_unavailable(const bson_error_t *);
int64_t	 bson_lookup_int64(const bson_t *, const char *dotted, int64_t dflt);
double	 bson_lookup_double(const bson_t *, const char *dotted, double dflt);

#endif /* SILO_EXTERN_H */
