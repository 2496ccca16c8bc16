/*
 * extern.h: interfaces private to silo's edge, clients and jobs.
 *
 * silo.h is what handlers see.  This header adds what only the edge needs
 * (the route matcher, response rendering, the worker loop, supervision,
 * request ids), the MongoDB client itself (struct mongo holds libmongoc's
 * client, which handlers never touch: they use the helpers silo.h
 * declares), the S3 client for Spaces, and the jobs (silo import, silo
 * storage refresh).  An api_*.c file that includes it says why.
 */
#ifndef SILO_EXTERN_H
#define SILO_EXTERN_H

#include <bson/bson.h>
#include <curl/curl.h>
#include <expat.h>
#include <mongoc/mongoc.h>
#include <openssl/evp.h>

#include "silo.h"

/* ------------------------------------------------------------------ */
/* Edge limits                                                         */
/* ------------------------------------------------------------------ */

#define	SILO_MAX_URI		8192	/* longer request URIs get 414 */
#define	SILO_MAX_DRAIN		(16u << 20) /* body bytes drained on a 413 */
#define	REQUEST_ID_MAX		64	/* longest request id taken or made */

/* ------------------------------------------------------------------ */
/* Route matching (router.c)                                           */
/* ------------------------------------------------------------------ */

/* The outcome of matching a method and path against the route table. */
enum route_match {
	ROUTE_FOUND,		/* a route takes this method and path */
	ROUTE_NOT_FOUND,	/* no route has this path */
	ROUTE_BAD_METHOD,	/* the path exists, the method does not */
	ROUTE_BAD_PATH		/* a malformed path (bad escape, dot segment) */
};

enum route_match router_match(const struct route *, size_t nroutes,
	    const char *method, const char *path, const struct route **found,
	    struct silo_request *req, char *allow, size_t allowsz);
void	 router_free_params(struct silo_request *);
bool	 access_check(const struct route *, struct silo_ctx *,
	    struct silo_request *, struct silo_response *);

/* ------------------------------------------------------------------ */
/* Credentials: random secrets, passwords, codes (credential.c,        */
/* password.c, totp.c)                                                 */
/* ------------------------------------------------------------------ */

#define	CREDENTIAL_BYTES	32	/* random bytes of a session or token */
#define	CREDENTIAL_B64_LEN(n)	(((n) * 4 + 2) / 3) /* unpadded base64 */
#define	CREDENTIAL_B64_MAX_IN	64	/* bytes credential_b64() encodes */
#define	PASSWORD_PHC_MAX	160	/* a stored password hash and NUL */

void	 credential_b64(const unsigned char *, size_t, bool url, char *out);
int	 credential_b64_decode(const char *, unsigned char *out,
	    size_t outsz);
int	 credential_new(const char *prefix, char *out, size_t outsz);
void	 credential_digest(const char *secret, size_t len,
	    char hex[CREDENTIAL_DIGEST_HEX]);
bool	 credential_well_formed(const char *text, size_t len,
	    const char *prefix);
int	 password_hash(const char *password, char *out, size_t outsz);
bool	 password_verify(const char *password, const char *stored);
void	 password_dummy_verify(const char *password);
bool	 password_needs_rehash(const char *stored);
void	 totp_base32(const unsigned char *, size_t, char *out);
int	 totp_base32_decode(const char *, unsigned char *out, size_t outsz);
bool	 totp_verify(const unsigned char *secret, size_t len,
	    const char *code, int64_t now_s, int64_t last_step,
	    int64_t *step);

/* ------------------------------------------------------------------ */
/* Sessions, tokens and people, as the edge and the command line use   */
/* them (session.c, tokens.c, users.c)                                 */
/* ------------------------------------------------------------------ */

bool	 session_cookie_id(enum session_site, const char *cookie,
	    char id[SESSION_ID_MAX]);
enum auth_lookup session_find(struct mongo *, const struct silo_config *,
	    const char *id, struct principal *, bson_error_t *);
int64_t	 session_end_user(struct mongo *, const char *user, bson_error_t *);
enum auth_lookup tokens_find(struct mongo *, const char *token, size_t len,
	    struct principal *, bson_error_t *);
int	 tokens_create_main(const struct silo_config *, const char *name,
	    const char *scopes);
int	 tokens_list_main(const struct silo_config *);
int	 tokens_revoke_main(const struct silo_config *, const char *name);
int	 users_add_main(const struct silo_config *, const char *name,
	    enum user_role, bool with_totp);
int	 users_list_main(const struct silo_config *);
int	 users_passwd_main(const struct silo_config *, const char *name);
int	 users_remove_main(const struct silo_config *, const char *name);
int	 users_logout_all_main(const struct silo_config *, const char *name);

/* ------------------------------------------------------------------ */
/* Response rendering (response.c)                                     */
/* ------------------------------------------------------------------ */

char	*resp_render(const struct silo_response *, const char *request_id,
	    bool head_only, size_t *len);

/* ------------------------------------------------------------------ */
/* Request ids (worker.c)                                              */
/* ------------------------------------------------------------------ */

bool	 worker_request_id_valid(const char *);
void	 worker_request_id_make(char *buf, size_t bufsz);

/* ------------------------------------------------------------------ */
/* Workers and supervision (worker.c, serve.c)                         */
/* ------------------------------------------------------------------ */

int	 worker_main(const struct silo_config *, int listen_fd,
	    double serve_started_at);
int	 serve_main(const char *env_file, const struct config_override *,
	    size_t noverrides);

/* ------------------------------------------------------------------ */
/* The cap on workers busy on expensive work (busy.c)                  */
/* ------------------------------------------------------------------ */

int	 busy_init(char *err, size_t errsz);
int	 busy_cap(const struct silo_config *);
bool	 busy_enter(const struct silo_config *, bool has_fallback);
void	 busy_leave(void);
bool	 busy_refused(void);
void	 busy_reclaim(pid_t);

/* ------------------------------------------------------------------ */
/* Backup files, one JSON document at a time (docstream.c)             */
/* ------------------------------------------------------------------ */

/* Where the splitter is in the file's grammar. */
enum docstream_state {
	DOCSTREAM_START,	/* nothing read yet */
	DOCSTREAM_ARRAY_FIRST,	/* after '[' */
	DOCSTREAM_ARRAY_AFTER,	/* after a document in the array */
	DOCSTREAM_NDJSON_NEXT,	/* between NDJSON documents */
	DOCSTREAM_TRAILER,	/* after the array's ']' */
	DOCSTREAM_END,		/* all documents returned */
	DOCSTREAM_FAILED	/* err says why */
};

/* The file's layout, known after its first significant byte. */
enum docstream_layout {
	DOCSTREAM_UNKNOWN,	/* not sniffed yet, or empty */
	DOCSTREAM_ARRAY,	/* one JSON array of documents */
	DOCSTREAM_NDJSON	/* one document per line */
};

/* A reader of one backup file. */
struct docstream {
	const char	*path;		/* for messages */
	FILE		*f;		/* the file */
	char		*buf;		/* read buffer */
	size_t		 len, pos;	/* bytes in buf, next to use */
	unsigned long long offset;	/* bytes consumed so far */
	unsigned long long line;	/* current line, from 1 */
	enum docstream_state state;	/* grammar position */
	enum docstream_layout layout;	/* array or NDJSON */
	size_t		 index;		/* documents returned so far */
	char		*doc;		/* the current document's JSON text */
	size_t		 doclen, doccap; /* its length and capacity */
	unsigned long long doc_offset;	/* byte offset where it starts */
	unsigned long long doc_line;	/* line where it starts */
	char		 err[768];	/* the error, once FAILED */
};

int	 docstream_open(struct docstream *, const char *path);
int	 docstream_next(struct docstream *, const char **doc, size_t *len);
void	 docstream_close(struct docstream *);

/* ------------------------------------------------------------------ */
/* Backup manifests (manifest.c)                                       */
/* ------------------------------------------------------------------ */

/* What the import does with a collection. */
enum import_plan {
	PLAN_IMPORT,		/* load it */
	PLAN_SKIP,		/* leave it out (the report's drop list) */
	PLAN_ARCHIVE		/* copy its file aside instead of loading */
};

/* How a collection's import ended. */
enum import_result {
	RESULT_PENDING,		/* not reached (an earlier fatal error) */
	RESULT_COMPLETE,	/* loaded, indexed, verified */
	RESULT_VALID,		/* --dry-run: parsed and valid */
	RESULT_SKIPPED,		/* left out by plan */
	RESULT_ARCHIVED,	/* copied aside */
	RESULT_FAILED		/* error says why */
};

/* One collection of the backup, and what became of it. */
struct manifest_entry {
	char		*name;		/* collection name */
	char		*path;		/* its file */
	uint64_t	 bytes;		/* the file's size */
	int64_t		 count;		/* documents per manifest, -1 unknown */
	const cJSON	*indexes;	/* index specs (in manifest's tree) */
	enum import_plan plan;		/* what to do */
	const char	*why;		/* why that plan ("drop list", ...) */
	int64_t		 file_docs;	/* documents read from the file, -1 */
	int64_t		 db_docs;	/* documents in it afterwards, -1 */
	int64_t		 present;	/* identical documents already there */
	int		 indexes_ok;	/* manifest indexes found afterwards */
	int		 indexes_want;	/* manifest indexes, _id_ excluded */
	enum import_result result;	/* how it ended */
	char		*error;		/* the error, when FAILED */
	char		*note;		/* a warning worth printing, or NULL */
};

/* A backup directory's manifest. */
struct manifest {
	char		 dir[2048];	/* the backup directory */
	char		 path[2100];	/* its _manifest.json */
	char		 database[128];	/* "database", if given */
	cJSON		*root;		/* the parsed manifest */
	struct manifest_entry *entries;	/* collections, sorted by name */
	size_t		 n;		/* how many */
	int		 nproblems;	/* problems found reading it */
	char		 err[8192];	/* the problems, one per line */
};

int	 manifest_read(struct manifest *, const char *dir);
struct manifest_entry *manifest_find(struct manifest *, const char *name);
void	 manifest_free(struct manifest *);

/* ------------------------------------------------------------------ */
/* silo import (import.c)                                              */
/* ------------------------------------------------------------------ */

/* The command line of `silo import`. */
struct import_opts {
	const char	*dir;		/* the backup directory */
	/* where archived collections go; NULL: DIR/_archive */
	const char	*archive_dir;
	bool		 dry_run;	/* parse and validate, write nothing */
	bool		 drop;		/* drop each collection first */
	bool		 all;		/* import drop and archive lists too */
	/* collections to import whatever the lists say */
	const char	**include;
	size_t		 ninclude;	/* how many */
	const char	**exclude;	/* collections to leave out */
	size_t		 nexclude;	/* how many */
};

int	 import_main(const struct silo_config *, const struct import_opts *);
enum import_plan import_plan_of(const char *name, bool all,
	    const char *const *include, size_t ninclude,
	    const char *const *exclude, size_t nexclude, const char **why);
bool	 import_index_build(struct mongo *, const char *collection,
	    const bson_t *spec, char *dropped, size_t droppedsz,
	    bson_error_t *);

/* ------------------------------------------------------------------ */
/* silo sync (sync.c)                                                  */
/* ------------------------------------------------------------------ */

/* The command line of `silo sync`. */
struct sync_opts {
	bool		 dry_run;	/* compare and count, write nothing */
	bool		 delete;	/* delete target-only documents */
	bool		 verify_only;	/* counts and hashes of both sides */
	bool		 all;		/* sync drop and archive lists too */
	/* collections to sync whatever the lists say */
	const char	**include;
	size_t		 ninclude;	/* how many */
	const char	**exclude;	/* collections to leave out */
	size_t		 nexclude;	/* how many */
};

int	 sync_main(const struct silo_config *, const struct sync_opts *);

/* ------------------------------------------------------------------ */
/* silo atproto check and export (atproto_check.c)                     */
/* ------------------------------------------------------------------ */

int	 atproto_check_main(const struct silo_config *, bool json);
int	 atproto_check_export_main(const struct silo_config *);

/* ------------------------------------------------------------------ */
/* Progress of long jobs (progress.c)                                  */
/* ------------------------------------------------------------------ */

/* A job's progress: steps (e.g. collections) over a byte total. */
struct progress {
	FILE		*out;		/* where it is shown (stderr) */
	bool		 tty;		/* redraw in place, or print lines */
	uint64_t	 total_bytes;	/* input bytes of the whole job */
	uint64_t	 done_bytes;	/* input bytes of finished steps */
	size_t		 nsteps, step;	/* steps in all, current (from 1) */
	char		 name[128];	/* current step's name */
	uint64_t	 step_bytes;	/* its input bytes */
	uint64_t	 step_done;	/* of which done */
	uint64_t	 step_items;	/* items (documents) done */
	double		 started_ms;	/* job start */
	double		 step_started_ms; /* step start */
	double		 last_ms;	/* last drawn */
};

void	 progress_init(struct progress *, FILE *, uint64_t total_bytes,
	    size_t nsteps);
void	 progress_step(struct progress *, const char *name, uint64_t bytes);
void	 progress_update(struct progress *, uint64_t bytes_done,
	    uint64_t items);
void	 progress_phase(struct progress *, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
void	 progress_step_done(struct progress *, uint64_t items);

/* ------------------------------------------------------------------ */
/* MongoDB (mongo.c)                                                   */
/* ------------------------------------------------------------------ */

/* One worker's connection to the database.  Made after fork(): libmongoc
 * is not fork-safe, so no client ever crosses a fork. */
struct mongo {
	mongoc_client_t	*client;	/* this worker's own, single-threaded */
	char		*db_name;	/* the AC database, MONGODB_NAME */
};

void	 mongo_log_init(void);
int	 mongo_open(struct mongo *, const struct silo_config *,
	    char *err, size_t errsz);
int	 mongo_open_job(struct mongo *, const struct silo_config *,
	    char *err, size_t errsz);
int	 mongo_open_command(struct mongo *, const struct silo_config *,
	    const char *cmd);
void	 mongo_close(struct mongo *);
/* Calls cb per index spec of collection (listIndexes), in the job's db. */
bool	 mongo_touch_date(struct mongo *, const char *db,
	    const char *collection, const bson_t *filter, const char *field,
	    int64_t *stamp, int64_t every_ms, bson_error_t *);
bool	 mongo_index_each(struct mongo *, const char *collection, mongo_doc_cb,
	    void *arg, bson_error_t *);

/* ------------------------------------------------------------------ */
/* Byte streams: the stages of a backup (silo backup)                  */
/* ------------------------------------------------------------------ */

/*
 * One stage of a byte pipeline.  A producer writes into a sink, which
 * transforms the bytes and writes them into the next sink: archive
 * writer -> gzip -> seal (encryption) -> upload, and the reverse for
 * reading.  finish() flushes and completes the stage (and, in turn, the
 * next one); abort() discards everything and completes nothing.  After
 * either, the sink is not written again.
 */
struct sink {
	/* take len bytes; 0, or -1 with err */
	int	(*write)(void *ctx, const void *buf, size_t len,
		    char *err, size_t errsz);
	/* flush and complete, then the next stage's finish; 0/-1 */
	int	(*finish)(void *ctx, char *err, size_t errsz);
	/* discard everything, the next stage's abort too; never fails */
	void	(*abort)(void *ctx);
	void	*ctx;	/* the stage's state */
};

/* ------------------------------------------------------------------ */
/* Metrics: the pool's counters, shared (metrics.c)                    */
/* ------------------------------------------------------------------ */

int	 metrics_init(char *err, size_t errsz);
void	 metrics_observe(int route, int status, double seconds);
void	 metrics_worker_restarted(void);

/* ------------------------------------------------------------------ */
/* Jobs: their lock and their stop signals (job.c)                     */
/* ------------------------------------------------------------------ */

int	 job_lock(const char *path, int given, int *fd, char *holder,
	    size_t holdersz);
void	 job_catch_stop(void (*on_stop)(int));

/* ------------------------------------------------------------------ */
/* Meter: the stored bytes counted, hashed and checked (meter.c)       */
/* ------------------------------------------------------------------ */

#define	METER_HEX	65	/* a hex SHA-256 and its NUL */

/* The count and SHA-256 of everything that went through, in front of
 * next. */
struct meter {
	struct sink	 next;		/* the stage it feeds */
	EVP_MD_CTX	*sha;		/* SHA-256 of every byte seen */
	uint64_t	 bytes;		/* how many */
	bool		 drain;		/* read on after a stage refused */
	bool		 stage_failed;	/* draining: a stage refused */
	char		 stage_err[1024]; /* what it said */
};

int	 meter_init(struct meter *, struct sink next, bool drain);
struct sink meter_sink(struct meter *);
void	 meter_hex(struct meter *, char hex[METER_HEX]);
int	 meter_check(struct meter *, const bson_t *rec, char *err,
	    size_t errsz);
void	 meter_free(struct meter *);

/* ------------------------------------------------------------------ */
/* Archive: mongodump's archive format, written (archive.c)            */
/* ------------------------------------------------------------------ */

#define	ARCHIVE_MAX_DOC		(16u << 20)	/* MongoDB's largest document */
#define	ARCHIVE_BLOCK_MAX	(16u << 20)	/* document bytes per block */

struct archive;

/* One namespace of the dump, as the prelude describes it. */
struct archive_ns {
	const char	*db;		/* database name, not empty */
	const char	*collection;	/* collection name, not empty */
	const bson_t	*options;	/* listCollections' options, or NULL */
	const bson_t	*indexes;	/* array of index specs, or NULL */
	const char	*uuid;		/* 32 hex digits, or NULL: unknown */
};

/*
 * The calls in order: archive_prelude() once, then archive_doc() for each
 * document and archive_ns_end() once per namespace (any interleaving),
 * then archive_finish(), which finishes out too.  After any failure the
 * caller calls archive_abort() (which aborts out); archive_free() aborts
 * an archive that was neither finished nor aborted.
 */
struct archive	*archive_new(struct sink out, const char *server_version,
		    const char *tool_version);
int	 archive_prelude(struct archive *, const struct archive_ns *, size_t n,
	    char *err, size_t errsz);
int	 archive_doc(struct archive *, const char *db, const char *collection,
	    const uint8_t *bson, size_t len, char *err, size_t errsz);
int	 archive_ns_end(struct archive *, const char *db,
	    const char *collection, char *err, size_t errsz);
int	 archive_finish(struct archive *, char *err, size_t errsz);
void	 archive_abort(struct archive *);
void	 archive_free(struct archive *);

/*
 * The reading side: a sink that parses an archive in any chunking and
 * checks what mongorestore checks (magic, header, prelude, terminators,
 * document lengths, namespaces, EOFs, CRCs).  Errors name the offset.
 * Callbacks (any may be NULL) return 0, or -1 with err: prelude() once
 * with the namespaces (valid until archive_reader_free()), doc() per
 * document with its namespace's index in that array, ns_end() at each
 * namespace's EOF, finish() when the whole archive checked out.
 */
struct archive_reader;

struct archive_reader_cb {
	/* the prelude's namespaces */
	int	(*prelude)(void *arg, const struct archive_ns *, size_t n,
		    char *err, size_t errsz);
	/* one document of namespace ns, its raw BSON */
	int	(*doc)(void *arg, size_t ns, const uint8_t *bson, size_t len,
		    char *err, size_t errsz);
	/* namespace ns ended, its CRC matched */
	int	(*ns_end)(void *arg, size_t ns, char *err, size_t errsz);
	/* the archive ended, complete */
	int	(*finish)(void *arg, char *err, size_t errsz);
	void	*arg;	/* passed to each */
};

struct archive_reader *archive_reader_new(const struct archive_reader_cb *);
struct sink archive_reader_sink(struct archive_reader *);
uint64_t archive_reader_offset(const struct archive_reader *);
void	 archive_reader_free(struct archive_reader *);

/* ------------------------------------------------------------------ */
/* Seal: AES-256-GCM in authenticated chunks (seal.c)                  */
/* ------------------------------------------------------------------ */

#define	SEAL_KEY_LEN		32	/* bytes of a key file */
#define	SEAL_KEY_ID_LEN		16	/* hex characters of a key id */
#define	SEAL_CHUNK		(1u << 20) /* plaintext bytes per chunk */
#define	SEAL_MAX_CHUNK		(16u << 20) /* the largest a reader takes */
#define	SEAL_HEADER_LEN		53	/* bytes of the object's header */
#define	SEAL_FRAME_LEN		5	/* bytes before each chunk */
#define	SEAL_TAG_LEN		16	/* bytes of GCM's tag after each */

struct seal;				/* opaque */

int	 seal_keygen(const char *path, char *err, size_t errsz);
int	 seal_key_load(const char *path, uint8_t key[SEAL_KEY_LEN],
	    char *err, size_t errsz);
void	 seal_key_id(const uint8_t key[SEAL_KEY_LEN],
	    char out[SEAL_KEY_ID_LEN + 1]);
struct seal *seal_new(const uint8_t key[SEAL_KEY_LEN], struct sink next);
struct seal *seal_new_sized(const uint8_t key[SEAL_KEY_LEN], uint32_t chunk,
	    struct sink next);
struct seal *seal_open_new(const uint8_t key[SEAL_KEY_LEN],
	    struct sink next);
struct sink seal_sink(struct seal *);
void	 seal_free(struct seal *);

/* ------------------------------------------------------------------ */
/* The gzip stage, both ways (gzip.c)                                  */
/* ------------------------------------------------------------------ */

struct gzip;

struct gzip *gzip_new(struct sink next, int level);
struct gzip *gzip_open_new(struct sink next);
struct sink gzip_sink(struct gzip *);
void	 gzip_counts(const struct gzip *, uint64_t *in, uint64_t *out);
void	 gzip_free(struct gzip *);

/* ------------------------------------------------------------------ */
/* silo backup (backup.c)                                              */
/* ------------------------------------------------------------------ */

#define	BACKUP_EXIT_BUSY	75	/* EX_TEMPFAIL: another run holds it */

/* The command line of `silo backup run` (and list's and prune's). */
struct backup_opts {
	bool		 no_encrypt;	/* --no-encrypt: store it plain */
	const char	**include;	/* collections to take, all if none */
	size_t		 ninclude;	/* how many */
	const char	**exclude;	/* collections to leave out */
	size_t		 nexclude;	/* how many */
	int		 lock_fd;	/* a lock the API handed over, or -1 */
	bool		 json;		/* list --json: the API's answer */
	bool		 dry_run;	/* prune --dry-run: delete nothing */
};

int	 backup_run_main(const struct silo_config *,
	    const struct backup_opts *);
int	 backup_fetch_main(const struct silo_config *, const char *id);
int	 backup_keygen_main(const char *path);
/* For restore.c: the record of a good backup (id or "latest"), the key
 * checked against its key id, the Spaces settings, the content hash. */
int	 backup_find(struct mongo *, const char *id, bson_t *rec);
int	 backup_fetch_key(const struct silo_config *, const bson_t *rec,
	    uint8_t key[SEAL_KEY_LEN]);
int	 backup_need_spaces(const struct silo_config *);
int	 backup_content_add(EVP_MD_CTX *, uint8_t sum[32],
	    const uint8_t *bson, size_t len);

/* ------------------------------------------------------------------ */
/* silo backup verify and restore (restore.c)                          */
/* ------------------------------------------------------------------ */

/* The command line of `silo backup verify` and `restore`. */
struct restore_opts {
	bool		 verify;	/* verify into scratch databases */
	const char	*to_db;		/* restore: --to-db, or AC's own */
	bool		 production;	/* --i-mean-production */
	bool		 drop;		/* --drop: replace non-empty targets */
	const char	**collections;	/* --collection: only these */
	size_t		 ncollections;	/* how many */
};

int	 restore_main(const struct silo_config *, const struct restore_opts *,
	    const char *id);
int	 backup_list_main(const struct silo_config *, bool json);

/* ------------------------------------------------------------------ */
/* The retention policy (retention.c) and silo backup prune (prune.c)  */
/* ------------------------------------------------------------------ */

/* A tier of the policy: its periods. */
enum retention_tier {
	RETENTION_TIER_DAY,	/* UTC days */
	RETENTION_TIER_WEEK,	/* ISO weeks, Monday to Sunday */
	RETENTION_TIER_MONTH	/* calendar months */
};

/* Why a backup is kept: the bits of retention_backup's keep. */
#define	RETENTION_KEEP_DAILY	0x01u	/* newest of one of the days */
#define	RETENTION_KEEP_WEEKLY	0x02u	/* newest of one of the weeks */
#define	RETENTION_KEEP_MONTHLY	0x04u	/* newest of one of the months */
#define	RETENTION_KEEP_VERIFIED	0x08u	/* the newest verified backup */
#define	RETENTION_KEEP_GOOD	0x10u	/* the newest good backup */
#define	RETENTION_REASONS_MAX	64	/* retention_reasons()' text */

/* How many periods of each tier keep their newest backup. */
struct retention_policy {
	int		 daily;		/* SILO_BACKUP_KEEP_DAILY */
	int		 weekly;	/* SILO_BACKUP_KEEP_WEEKLY */
	int		 monthly;	/* SILO_BACKUP_KEEP_MONTHLY */
};

/* One good backup, as the policy sees it. */
struct retention_backup {
	int64_t		 finished_ms;	/* when it finished (ms, UTC) */
	bool		 verified;	/* its verification is ok */
	unsigned	 keep;		/* out: RETENTION_KEEP_*, 0: delete */
};

void	 retention_decide(const struct retention_policy *,
	    struct retention_backup *, size_t n, int64_t now_ms);
int64_t	 retention_horizon(const struct retention_policy *, int64_t now_ms);
void	 retention_reasons(unsigned keep, char *out, size_t outsz);
int	 prune_main(const struct silo_config *, bool dry_run);

/* ------------------------------------------------------------------ */
/* Spaces, DigitalOcean's S3 (spaces.c)                                */
/* ------------------------------------------------------------------ */

#define	SPACES_MIN_PART		(5u << 20)	/* smallest part but the last */
#define	SPACES_MAX_PARTS	10000		/* S3's most parts per upload */
#define	SPACES_MAX_KEY		1024		/* S3's longest key, in bytes */

/* How a client reaches a store: what spaces_open() is given. */
struct spaces_opts {
	/* "https://sfo3.digitaloceanspaces.com" */
	const char	*endpoint;
	/* NULL: from a DO endpoint, else us-east-1 */
	const char	*region;
	const char	*key;		/* access key */
	const char	*secret;	/* secret key; never printed */
	/* host/bucket/key, not bucket.host/key */
	bool		 path_style;
	long		 connect_timeout_ms; /* per connection; 0: 5 s */
	long		 timeout_ms;	/* per request, all of it; 0: 300 s */
	int		 attempts;	/* tries per request; 0: 4 */
	uint64_t	 part_size;	/* multipart part size; 0: 16 MiB */
	/* larger files go multipart; 0: 64 MiB */
	uint64_t	 multipart_threshold;
};

/* A client: one reused curl handle, one request at a time. */
struct spaces {
	CURL		*curl;		/* the easy handle, reset per request */
	char		*scheme;	/* "https" or "http" */
	char		*host;		/* host[:port] of the endpoint */
	char		 region[64];	/* signing region, e.g. "sfo3" */
	char		 sigv4[96];	/* "aws:amz:<region>:s3" */
	char		*key;		/* access key */
	char		*secret;	/* secret key */
	bool		 path_style;	/* addressing, as in spaces_opts */
	long		 connect_timeout_ms; /* as in spaces_opts, defaulted */
	long		 timeout_ms;	/* as in spaces_opts, defaulted */
	int		 attempts;	/* as in spaces_opts, defaulted */
	uint64_t	 part_size;	/* as in spaces_opts, defaulted */
	uint64_t	 multipart_threshold; /* as in spaces_opts, defaulted */
	uint64_t	 jitter;	/* xorshift state for backoff jitter */
	long		 status;	/* last HTTP status, 0 if none */
	char		 code[64];	/* last S3 error code, "" if none */
	/* parts of the last spaces_put_file, 0: one PUT */
	unsigned	 nparts;
	unsigned	 nretries;	/* retries made by the last operation */
	char		 err[1024];	/* the last error, one line */
};

/* One object (or, listing with a delimiter, one common prefix). */
struct spaces_object {
	const char	*key;		/* the key (or the prefix) */
	uint64_t	 size;		/* bytes */
	const char	*last_modified;	/* ISO 8601 as S3 gives it, or "" */
	const char	*etag;		/* without its quotes, or "" */
	const char	*content_type;	/* HEAD only, else "" */
	bool		 is_prefix;	/* from CommonPrefixes, not an object */
};

/* Called for each listed entry; non-zero stops the listing. */
typedef int (*spaces_list_cb)(const struct spaces_object *, void *arg);

/* One query parameter, before encoding. */
struct spaces_param {
	const char	*name;		/* e.g. "list-type" */
	const char	*value;		/* e.g. "2"; NULL is "" */
};

/* A ListObjectsV2 page parsed as it arrives: nothing is kept but the
 * entry being read. */
struct spaces_listparse {
	XML_Parser	 parser;	/* expat, fed chunk by chunk */
	spaces_list_cb	 cb;		/* where entries go */
	void		*arg;		/* its argument */
	int		 depth;		/* element depth, root 1 */
	/* the text being collected (enum in spaces.c) */
	int		 field;
	bool		 in_entry;	/* inside Contents or CommonPrefixes */
	bool		 entry_is_prefix; /* CommonPrefixes */
	bool		 root_ok;	/* root is ListBucketResult */
	bool		 stopped;	/* the callback asked to stop */
	bool		 failed;	/* err says why */
	char		 text[4096];	/* the current element's text */
	size_t		 textlen;	/* its length */
	char		 key[SPACES_MAX_KEY * 4 + 1]; /* entry: Key or Prefix */
	char		 etag[128];	/* entry: ETag, unquoted */
	char		 last_modified[64]; /* entry: LastModified */
	uint64_t	 size;		/* entry: Size */
	bool		 truncated;	/* IsTruncated */
	char		 next_token[4096]; /* NextContinuationToken */
	uint64_t	 seen;		/* entries parsed in this attempt */
	uint64_t	 delivered;	/* entries given to cb, all attempts */
	char		 err[256];	/* why it failed */
};

void	 spaces_region(const char *endpoint, const char *given, char *out,
	    size_t outsz);
char	*spaces_encode(const char *s, bool keep_slash);
char	*spaces_query(const struct spaces_param *, size_t n);
void	 spaces_format_error(char *out, size_t outsz, const char *op,
	    const char *bucket, const char *key, long status,
	    const char *body, size_t len, char *code, size_t codesz);
int	 spaces_listparse_init(struct spaces_listparse *, spaces_list_cb,
	    void *arg);
int	 spaces_listparse_feed(struct spaces_listparse *, const char *,
	    size_t len, bool final);
void	 spaces_listparse_reset(struct spaces_listparse *);
void	 spaces_listparse_free(struct spaces_listparse *);

int	 spaces_open(struct spaces *, const struct spaces_opts *,
	    char *err, size_t errsz);
int	 spaces_open_config(struct spaces *, const struct silo_config *,
	    char *err, size_t errsz);
void	 spaces_close(struct spaces *);
int	 spaces_create_bucket(struct spaces *, const char *bucket);
int	 spaces_list(struct spaces *, const char *bucket, const char *prefix,
	    const char *delimiter, int max_keys, spaces_list_cb, void *arg);
int	 spaces_put(struct spaces *, const char *bucket, const char *key,
	    const void *data, size_t len, const char *content_type);
int	 spaces_put_file(struct spaces *, const char *bucket, const char *key,
	    const char *path, const char *content_type);
int	 spaces_get(struct spaces *, const char *bucket, const char *key,
	    size_t max, char **data, size_t *len);
int	 spaces_get_file(struct spaces *, const char *bucket, const char *key,
	    const char *path);
int	 spaces_head(struct spaces *, const char *bucket, const char *key,
	    uint64_t *size, char *etag, size_t etagsz, char *ctype,
	    size_t ctypesz);
int	 spaces_delete(struct spaces *, const char *bucket, const char *key);

struct spaces_upload;			/* a multipart upload fed as a sink */

struct spaces_upload *spaces_upload_new(struct spaces *, const char *bucket,
	    const char *key, size_t part_size, const char *content_type,
	    char *err, size_t errsz);
struct sink spaces_upload_sink(struct spaces_upload *);
const char *spaces_upload_id(const struct spaces_upload *);
void	 spaces_upload_counts(const struct spaces_upload *, uint64_t *bytes,
	    unsigned *parts);
void	 spaces_upload_free(struct spaces_upload *);
int	 spaces_upload_abort_id(struct spaces *, const char *bucket,
	    const char *key, const char *upload_id);
int	 spaces_get_stream(struct spaces *, const char *bucket,
	    const char *key, const struct sink *out);
/* Called per multipart upload in progress; non-zero stops the listing. */
typedef int (*spaces_upload_cb)(const char *key, const char *upload_id,
	    void *arg);
int	 spaces_uploads(struct spaces *, const char *bucket,
	    const char *prefix, spaces_upload_cb, void *arg);

/* ------------------------------------------------------------------ */
/* Storage keys, classified (storage_key.c)                            */
/* ------------------------------------------------------------------ */

#define	STORAGE_ROOT		"root"	/* the kind of a key with no folder */
#define	STORAGE_MAX_EXT		16	/* a longer "extension" is no type */

/* The part a bucket plays in AC's layout (ac-platform.md section 7). */
enum storage_role {
	ROLE_USER,		/* <sub>/<kind>/...: signed-in uploads */
	ROLE_ART,		/* guest uploads, plus oven/ and og/ renders */
	ROLE_TAPES,		/* tapes/<code>.mp4, tapes/<code>-thumb.jpg */
	ROLE_OTHER		/* assets, releases, ...: nobody's */
};

/* Whose an object is, as far as its key tells. */
enum storage_owner {
	OWNER_USER,		/* a user: the sub is in the key */
	OWNER_TAPE,		/* a tape's: code in the key, user in tapes */
	OWNER_GUEST,		/* guest upload: nobody's, as "guest" */
	OWNER_NONE		/* AC's own files (renders, cards, assets) */
};

/* A key, classified.  The strings point into the key (kind may also be
 * STORAGE_ROOT); none is NUL-terminated at its length. */
struct storage_class {
	enum storage_owner owner;	/* whose it is */
	/* OWNER_USER: the sub; OWNER_TAPE: the code */
	const char	*who;
	size_t		 who_len;	/* its length */
	const char	*kind;		/* the prefix it is counted under */
	size_t		 kind_len;	/* its length */
	const char	*ext;		/* file type as given; "" for none */
	size_t		 ext_len;	/* its length, 0 for none */
};

void	 storage_key_classify(enum storage_role, const char *key,
	    struct storage_class *);
enum storage_role storage_key_role(const struct silo_config *,
	    const char *bucket);

/* ------------------------------------------------------------------ */
/* silo storage refresh (storage.c)                                    */
/* ------------------------------------------------------------------ */

#define	STORAGE_EXIT_BUSY	75	/* EX_TEMPFAIL: another refresh runs */

/* The command line of `silo storage refresh`. */
struct storage_opts {
	int		 lock_fd;	/* a lock the API handed over, or -1 */
};

int	 storage_main(const struct silo_config *, const struct storage_opts *);

/* ------------------------------------------------------------------ */
/* silo atproto migrate and rollback (atproto.c)                       */
/* ------------------------------------------------------------------ */

/* The command line of `silo atproto`. */
struct atproto_opts {
	const char	*sub;		/* --sub: one user's auth0 sub */
	const char	*did;		/* --did: the DID it moves to */
	const char	*map;		/* --map FILE: many users */
	bool		 dry_run;	/* --dry-run: count, change nothing */
	bool		 stats;		/* --stats: commands sent, users/s */
	unsigned	 step_delay_ms;	/* --step-delay: a test's kill window */
	unsigned	 batch;		/* --batch: users planned together, 0
					   for the default */
};

#define	ATPROTO_BATCH_MAX	1000	/* the most --batch may say */

bool	 atproto_sub_valid(const char *);
bool	 atproto_did_valid(const char *);
int	 atproto_migrate_main(const struct silo_config *,
	    const struct atproto_opts *);
int	 atproto_rollback_main(const struct silo_config *,
	    const struct atproto_opts *);

#endif /* SILO_EXTERN_H */
