/*
 * main.c: the `silo` command line.
 *
 * One program, several subcommands, each with a manual page's worth of
 * --help, because silo runs on a droplet where the binary is often the
 * only documentation at hand.  Options that are also configuration
 * (--listen, --workers) become overrides of the matching variable, so
 * `silo config check --workers 8` shows exactly what `silo serve
 * --workers 8` would run with.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "extern.h"

#define	MAX_OVERRIDES	8	/* command-line overrides at most */

static const char help_main[] =
"NAME\n"
"    silo - the data and storage observatory for Aesthetic Computer\n"
"\n"
"SYNOPSIS\n"
"    silo [--env-file FILE] serve [--listen ADDR] [--workers N]\n"
"    silo [--env-file FILE] config check [--listen ADDR] [--workers N]\n"
"    silo [--env-file FILE] import DIR [--dry-run] [--drop] [--all]\n"
"         [--include NAME]... [--exclude NAME]... [--archive-dir DIR] [--database NAME]\n"
"    silo [--env-file FILE] storage refresh\n"
"    silo version\n"
"    silo help [COMMAND]\n"
"\n"
"DESCRIPTION\n"
"    silo knows AC's data: the health and per-collection statistics of\n"
"    its MongoDB database, Spaces storage per bucket and per user, AC's\n"
"    other services and KidLisp.  It answers a JSON API under /api/ over\n"
"    FastCGI; Caddy terminates HTTPS in front of it, serves the dashboard\n"
"    and proxies /db to mongo-express.\n"
"\n"
"COMMANDS\n"
"    serve         run the pre-forked FastCGI worker pool (see silo help serve)\n"
"    config check  print the effective configuration, secrets masked, and\n"
"                  exit 0 if it is valid, 2 if not\n"
"    import        load AC's JSON backup into MongoDB (see silo help import)\n"
"    storage refresh  walk the Spaces buckets and record a storage snapshot\n"
"                  (see silo help storage)\n"
"    version       print the version\n"
"    help          print this page, or a command's page\n"
"\n"
"OPTIONS\n"
"    --env-file FILE  read KEY=VALUE settings from FILE (default: $SILO_ENV_FILE,\n"
"                     else /etc/silo/silo.env if it exists).  Variables in the\n"
"                     process environment take precedence over the file.\n"
"    -h, --help       print help and exit\n"
"    --version        print the version and exit\n"
"\n"
"ENVIRONMENT\n"
"    MONGODB_CONNECTION_STRING  MongoDB URI (required); its password is never printed\n"
"    MONGODB_NAME               AC's database (default: aesthetic)\n"
"    SILO_LISTEN                unix:PATH, tcp:HOST:PORT, stdin, systemd or auto\n"
"                               (default auto: systemd's socket if one was passed,\n"
"                               else fd 0 if it is a listening socket, else\n"
"                               unix:/run/silo/silo.sock)\n"
"    SILO_SOCKET_OWNER          owner of the unix socket (user name or uid)\n"
"    SILO_SOCKET_GROUP          group of the unix socket (e.g. caddy)\n"
"    SILO_SOCKET_MODE           mode of the unix socket (default 0660)\n"
"    SILO_WORKERS               worker processes (default auto: 2 x cores)\n"
"    SILO_DB_TIMEOUT_MS         bound on reaching MongoDB (default 1500)\n"
"    SILO_DB_SLOW_MS            ping above this reports degraded (default 250)\n"
"    SILO_MAX_BODY              largest request body, k/M suffixes (default 1M)\n"
"    SILO_SHUTDOWN_TIMEOUT      seconds in-flight requests get on stop (default 30)\n"
"    SILO_LOG_LEVEL             error, warning, info or debug (default info)\n"
"    OVEN_URL, SESSION_URL, PDS_URL        AC's other services\n"
"    SILO_PROBE_TIMEOUT_MS      bound on a whole probe of them (default 2000)\n"
"    SILO_PROBE_CONNECT_MS      bound on connecting to one (default 1000)\n"
"    SILO_CACHE_TTL_S           seconds answers are shared by every worker\n"
"                               (default 30; 0: no cache)\n"
"    SILO_CACHE_DIR             the shared cache (default /var/cache/silo)\n"
"    SILO_ADMIN_TOKEN           bearer token for admin routes (unset: they are off)\n"
"    SILO_READ_TOKEN            bearer token for read:* routes (unset: they are open)\n"
"    SPACES_KEY, SPACES_SECRET, SPACES_ENDPOINT  DigitalOcean Spaces\n"
"    SPACES_REGION, SPACES_ADDRESSING, SPACES_BUCKETS, USER_SPACE_NAME,\n"
"    ART_SPACE_NAME, AT_BLOBS_SPACE_NAME, SILO_STORAGE_*   storage snapshots\n"
"                               (see silo help storage)\n"
"\n"
"FILES\n"
"    /etc/silo/silo.env    default env file\n"
"    /run/silo/silo.sock   default FastCGI socket\n"
"    /var/cache/silo/      default shared cache: <key>.json and <key>.lock\n"
"\n"
"EXIT STATUS\n"
"    0 success; 1 runtime failure; 2 usage or configuration error.\n"
"\n"
"EXAMPLES\n"
"    silo config check\n"
"    MONGODB_CONNECTION_STRING=mongodb://127.0.0.1:27017 silo serve --listen tcp:127.0.0.1:9000\n";

static const char help_serve[] =
"NAME\n"
"    silo serve - run the FastCGI worker pool\n"
"\n"
"SYNOPSIS\n"
"    silo [--env-file FILE] serve [--listen ADDR] [--workers N]\n"
"\n"
"DESCRIPTION\n"
"    Opens the FastCGI listen socket, forks the workers and supervises\n"
"    them.  Each worker opens its own MongoDB client after the fork and\n"
"    serves one request at a time.  A worker that dies is re-forked; one\n"
"    that keeps dying is re-forked with a delay doubling from 0.1 s to\n"
"    30 s.  Logs go to stderr, one line per event and one access line per\n"
"    request (method, path, status, ms, bytes, request id); under systemd\n"
"    the lines carry journald priorities.\n"
"\n"
"OPTIONS\n"
"    --listen ADDR   as SILO_LISTEN: unix:/run/silo/silo.sock, tcp:127.0.0.1:9000,\n"
"                    stdin (fd 0 is the listener, the FastCGI convention) or\n"
"                    systemd (socket activation)\n"
"    --workers N     as SILO_WORKERS\n"
"\n"
"SIGNALS\n"
"    SIGTERM, SIGINT  finish in-flight requests, then exit 0 (workers still\n"
"                     busy after SILO_SHUTDOWN_TIMEOUT are killed)\n"
"    SIGHUP           re-read the configuration; if valid, start new workers\n"
"                     and retire the old ones after their requests; if not,\n"
"                     log the problems and keep running as before\n"
"\n"
"ENDPOINTS\n";

/* After the route table, which `silo help serve` prints from silo_routes. */
static const char help_serve_tail[] =
"    Errors are {\"error\":{\"code\":...,\"message\":...}}; a database that cannot\n"
"    be reached is a 503 with \"status\":\"down\".  read:* routes need\n"
"    SILO_READ_TOKEN (or the admin token) once it is set; admin routes need\n"
"    SILO_ADMIN_TOKEN and are off while it is unset.  Tokens go in\n"
"    \"Authorization: Bearer TOKEN\".  docs/openapi.yaml has the shapes.\n"
"\n"
"EXIT STATUS\n"
"    0 after a clean stop; 1 if the socket cannot be opened; 2 if the\n"
"    configuration is invalid.\n";

/* The serve page, its ENDPOINTS from the route table, so it cannot drift. */
static void
print_help_serve(FILE *out)
{
	fputs(help_serve, out);
	for (size_t i = 0; i < silo_nroutes; i++) {
		const struct route *rt = &silo_routes[i];

		fprintf(out, "    %s %s  (%s)\n        %s\n", rt->method,
		    rt->pattern, rt->access == ACCESS_PUBLIC ? "public" :
		    rt->access == ACCESS_ADMIN ? "admin" : rt->scope, rt->summary);
	}
	fputs(help_serve_tail, out);
}

static const char help_config[] =
"NAME\n"
"    silo config check - show and validate the configuration\n"
"\n"
"SYNOPSIS\n"
"    silo [--env-file FILE] config check [--listen ADDR] [--workers N]\n"
"\n"
"DESCRIPTION\n"
"    Prints every variable as NAME=value with where the value came from\n"
"    (command line, environment, env file and line, or default).  The\n"
"    MongoDB password and the Spaces secret are masked.  Each problem is\n"
"    printed to stderr as one line naming the variable, and the exit\n"
"    status is 2.\n";

static int usage_error(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

static const char help_import[] =
"NAME\n"
"    silo import - load AC's JSON backup into MongoDB, exactly\n"
"\n"
"SYNOPSIS\n"
"    silo [--env-file FILE] import DIR [--dry-run] [--drop] [--all]\n"
"         [--include NAME]... [--exclude NAME]... [--archive-dir DIR] [--database NAME]\n"
"\n"
"DESCRIPTION\n"
"    DIR holds _manifest.json (the collection inventory: names, counts and\n"
"    index definitions) and one <collection>.json per collection, each a\n"
"    JSON array or NDJSON of canonical or relaxed Extended JSON; the format\n"
"    of each file is detected.  Documents are streamed, never a whole file\n"
"    in memory, and inserted with unordered bulk writes; every BSON type and\n"
"    every _id is kept.  The manifest's indexes, unique ones included, are\n"
"    built after the data.  The run ends with a table per collection: the\n"
"    manifest's count, the documents in the file, the documents in the\n"
"    database and the indexes found.\n"
"\n"
"    By default the migration report's drop list (boots, oven-grabs,\n"
"    oven-cache, oven-bakes, oven-frozen-pieces, bundle-telemetry, logs) is\n"
"    skipped, and its archive list (false.work-builds, false.work-reports,\n"
"    jas-tags, jas-stretched-paintings) is validated and copied to the\n"
"    archive directory instead of being loaded.\n"
"\n"
"    Safe to run again: progress is checkpointed per batch in silo.imports,\n"
"    a run that was killed resumes where it stopped, and a document already\n"
"    in the database is accepted only if it is identical to the file's.\n"
"\n"
"OPTIONS\n"
"    --dry-run          parse and validate everything; connect to nothing, write nothing\n"
"    --drop             drop each collection (and its progress) before loading it\n"
"    --all              import the drop and archive lists too\n"
"    --include NAME     import NAME whatever the lists say (repeatable)\n"
"    --exclude NAME     leave NAME out (repeatable)\n"
"    --archive-dir DIR  where archived collections are copied (default DIR/_archive)\n"
"    --database NAME    the target database (default MONGODB_NAME)\n"
"\n"
"PROGRESS\n"
"    On a terminal, a line per collection with a bar, docs/s and ETA, and the\n"
"    whole run's share and ETA; otherwise a plain line every 5 s.  Both on\n"
"    stderr; the table goes to stdout.\n"
"\n"
"ERRORS\n"
"    A malformed document names the file, the document's number, its line\n"
"    and byte offset and what was expected.  A missing or invalid manifest,\n"
"    a file the manifest does not list (or the reverse), a duplicate _id and\n"
"    a unique index the data violates each get a one-line error.  An error\n"
"    stops its collection only; the table says exactly which completed.\n"
"\n"
"EXIT STATUS\n"
"    0 when every collection completed (or, with --dry-run, is valid) and\n"
"    matches its manifest; 1 on any failure or mismatch; 2 on a usage or\n"
"    configuration error.\n"
"\n"
"EXAMPLES\n"
"    silo import --dry-run /srv/mongodb-backup\n"
"    silo import /srv/mongodb-backup\n"
"    silo import --drop --include boots /srv/mongodb-backup\n";

static const char help_storage[] =
"NAME\n"
"    silo storage refresh - count what AC keeps in Spaces, and record it\n"
"\n"
"SYNOPSIS\n"
"    silo [--env-file FILE] storage refresh [--lock-fd N]\n"
"\n"
"DESCRIPTION\n"
"    Lists every object of every bucket in SPACES_BUCKETS (streaming\n"
"    ListObjectsV2, 1,000 keys a page) and counts bytes and objects per\n"
"    bucket, per prefix, per user, per file type, plus the largest objects.\n"
"    The result is a snapshot in MongoDB, database silo: the document in\n"
"    storage_snapshots and one row per user in storage_users.  The API's\n"
"    /api/storage/* endpoints answer from the newest good snapshot.\n"
"\n"
"    How keys are counted (AC's layout):\n"
"      USER_SPACE_NAME      <sub>/<kind>/...: the user's, under <kind>\n"
"                           (painting, piece, ...); <sub>/<file> is kind root\n"
"      AT_BLOBS_SPACE_NAME  tapes/<code>.mp4 and tapes/<code>-thumb.jpg: the\n"
"                           user of that tape (tapes.code -> tapes.user)\n"
"      ART_SPACE_NAME       oven/ and og/ are AC's renders and cards; the rest\n"
"                           is guest uploads, counted as guest, not as a user\n"
"      other buckets        AC's own files\n"
"    Outside the user bucket the prefix is the key's first segment; a key\n"
"    without a '/' is under prefix root.  Handles come from @handles.\n"
"    Memory grows with the number of users, not of objects.\n"
"\n"
"    A refresh that fails (wrong credentials, a missing bucket, the store or\n"
"    the database going away) records a snapshot with status failed and its\n"
"    errors, and leaves the last good one in place.  After each refresh\n"
"    the snapshots beyond the newest SILO_STORAGE_HISTORY are deleted, but\n"
"    never the newest good one.  One refresh runs at a time (an flock on\n"
"    SILO_STORAGE_LOCK).\n"
"\n"
"OPTIONS\n"
"    --lock-fd N   the lock is already held on descriptor N (how POST\n"
"                  /api/storage/refresh hands it to the refresh it starts)\n"
"\n"
"ENVIRONMENT\n"
"    SPACES_ENDPOINT           e.g. https://sfo3.digitaloceanspaces.com\n"
"    SPACES_KEY, SPACES_SECRET the access key pair (required)\n"
"    SPACES_REGION             signing region (default: from a DO endpoint,\n"
"                              else us-east-1)\n"
"    SPACES_ADDRESSING         path, virtual or auto (default: virtual for\n"
"                              *.digitaloceanspaces.com, else path)\n"
"    SPACES_BUCKETS            the buckets, comma-separated (required)\n"
"    USER_SPACE_NAME           default user-aesthetic-computer\n"
"    ART_SPACE_NAME            default art-aesthetic-computer\n"
"    AT_BLOBS_SPACE_NAME       default at-blobs-aesthetic-computer\n"
"    SILO_STORAGE_HISTORY      snapshots kept (default 720)\n"
"    SILO_STORAGE_TOP_OBJECTS  largest objects listed (default 100)\n"
"    SILO_STORAGE_LOCK         default /var/lib/silo/storage-refresh.lock\n"
"    SILO_STORAGE_LOG          where API-started refreshes write (default\n"
"                              /var/log/silo/storage-refresh.log)\n"
"\n"
"PROGRESS\n"
"    A line on stderr every 5 s and after each bucket (objects, bytes,\n"
"    objects/s), errors as they happen, and a summary line at the end.\n"
"\n"
"EXIT STATUS\n"
"    0 a good snapshot was recorded; 1 the refresh failed (a failed\n"
"    snapshot was recorded if the database could be reached); 2 usage or\n"
"    configuration error; 75 another refresh is running.\n"
"\n"
"EXAMPLES\n"
"    silo storage refresh\n"
"    systemctl start silo-storage.service   # what the timer runs\n";

/* A job's configuration, and logging at its level: 0, or the exit status
 * 2 with the problems printed. */
static int
job_config(struct silo_config *config, const char *env_file,
    const struct config_override *ov, size_t nov)
{
	char	 err[4096];

	if (config_load(config, env_file, ov, nov, err, sizeof(err)) == -1) {
		fprintf(stderr, "silo: configuration is invalid:\n%s\n", err);
		return 2;
	}
	log_init(config->log_level);
	return 0;
}

/* `silo storage refresh [--lock-fd N]`. */
static int
cmd_storage(int argc, char **argv, const char *env_file)
{
	struct storage_opts	 o = { .lock_fd = -1 };
	struct silo_config	 config;
	char			*end;
	int			 rc;

	if (argc > 0 && (strcmp(argv[0], "-h") == 0 ||
	    strcmp(argv[0], "--help") == 0)) {
		fputs(help_storage, stdout);
		return 0;
	}
	if (argc == 0 || strcmp(argv[0], "refresh") != 0)
		return usage_error("storage takes the subcommand 'refresh'");
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			fputs(help_storage, stdout);
			return 0;
		}
		if (strcmp(argv[i], "--lock-fd") != 0)
			return usage_error("storage refresh: unknown option '%s'",
			    argv[i]);
		if (i + 1 == argc)
			return usage_error("--lock-fd needs a descriptor");
		o.lock_fd = (int)strtol(argv[++i], &end, 10);
		if (*end != '\0' || end == argv[i] || o.lock_fd < 0)
			return usage_error("--lock-fd '%s' is not a descriptor",
			    argv[i]);
	}
	if ((rc = job_config(&config, env_file, NULL, 0)) != 0)
		return rc;
	rc = storage_main(&config, &o);
	config_free(&config);
	return rc;
}

#define	MAX_IMPORT_NAMES	64	/* --include/--exclude each */

/* `silo import DIR [options]`. */
static int
cmd_import(int argc, char **argv, const char *env_file)
{
	static const char	*include[MAX_IMPORT_NAMES], *exclude[MAX_IMPORT_NAMES];
	struct import_opts	 o = { 0 };
	struct silo_config	 config;
	struct config_override	 ov[1];
	size_t			 nov = 0;
	int			 rc;

	o.include = include;
	o.exclude = exclude;
	for (int i = 0; i < argc; i++) {
		const char	*a = argv[i], *value = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			fputs(help_import, stdout);
			return 0;
		} else if (strcmp(a, "--dry-run") == 0)
			o.dry_run = true;
		else if (strcmp(a, "--drop") == 0)
			o.drop = true;
		else if (strcmp(a, "--all") == 0)
			o.all = true;
		else if (strcmp(a, "--include") == 0 || strcmp(a, "--exclude") == 0 ||
		    strcmp(a, "--archive-dir") == 0 || strcmp(a, "--database") == 0) {
			if (value == NULL)
				return usage_error("%s needs a value", a);
			i++;
			if (a[2] == 'i' && o.ninclude < MAX_IMPORT_NAMES)
				include[o.ninclude++] = value;
			else if (a[2] == 'e' && o.nexclude < MAX_IMPORT_NAMES)
				exclude[o.nexclude++] = value;
			else if (a[2] == 'a')
				o.archive_dir = value;
			else if (a[2] == 'd') {
				ov[0].name = "MONGODB_NAME";
				ov[0].value = value;
				nov = 1;
			} else
				return usage_error("too many %s options", a);
		} else if (a[0] == '-')
			return usage_error("import: unknown option '%s'", a);
		else if (o.dir == NULL)
			o.dir = a;
		else
			return usage_error("import takes one directory, not '%s'", a);
	}
	if (o.dir == NULL)
		return usage_error("import needs the backup directory");
	if (o.dry_run)
		return import_main(NULL, &o);	/* no database to configure */
	if ((rc = job_config(&config, env_file, ov, nov)) != 0)
		return rc;
	rc = import_main(&config, &o);
	config_free(&config);
	return rc;
}

static int
usage_error(const char *fmt, ...)
{
	va_list	 ap;

	fprintf(stderr, "silo: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'silo --help'.\n");
	return 2;
}

/* Turn --listen/--workers into overrides; -1 on an unknown option. */
static int
parse_overrides(int argc, char **argv, struct config_override *ov,
    size_t *nov, bool *help)
{
	*nov = 0;
	*help = false;
	for (int i = 0; i < argc; i++) {
		const char	*name = NULL;

		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			*help = true;
			continue;
		}
		if (strcmp(argv[i], "--listen") == 0)
			name = "SILO_LISTEN";
		else if (strcmp(argv[i], "--workers") == 0)
			name = "SILO_WORKERS";
		else {
			usage_error("unknown option or argument '%s'", argv[i]);
			return -1;
		}
		if (i + 1 == argc || *nov == MAX_OVERRIDES) {
			usage_error("%s needs a value", argv[i]);
			return -1;
		}
		ov[*nov].name = name;
		ov[*nov].value = argv[++i];
		(*nov)++;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct config_override	 ov[MAX_OVERRIDES];
	size_t			 nov;
	const char		*env_file = NULL, *cmd;
	bool			 help, explicit_env = false;
	int			 i = 1;

	log_init(LOG_LEVEL_INFO);
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			fputs(help_main, stdout);
			return 0;
		}
		if (strcmp(argv[i], "--version") == 0) {
			printf("silo %s\n", PACKAGE_VERSION);
			return 0;
		}
		if (strcmp(argv[i], "--env-file") == 0 && i + 1 < argc) {
			env_file = argv[++i];
			explicit_env = true;
			continue;
		}
		return usage_error("unknown option '%s'", argv[i]);
	}
	if (i == argc) {
		fputs(help_main, stderr);
		return 2;
	}
	if (!explicit_env)
		env_file = config_default_env_file();
	cmd = argv[i++];

	if (strcmp(cmd, "help") == 0) {
		const char *topic = i < argc ? argv[i] : "";

		if (strcmp(topic, "serve") == 0) {
			print_help_serve(stdout);
			return 0;
		}
		fputs(strcmp(topic, "config") == 0 ? help_config :
		    strcmp(topic, "import") == 0 ? help_import :
		    strcmp(topic, "storage") == 0 ? help_storage : help_main, stdout);
		return 0;
	}
	if (strcmp(cmd, "version") == 0) {
		printf("silo %s\n", PACKAGE_VERSION);
		return 0;
	}
	if (strcmp(cmd, "serve") == 0) {
		if (parse_overrides(argc - i, argv + i, ov, &nov, &help) == -1)
			return 2;
		if (help) {
			print_help_serve(stdout);
			return 0;
		}
		return serve_main(env_file, ov, nov);
	}
	if (strcmp(cmd, "import") == 0)
		return cmd_import(argc - i, argv + i, env_file);
	if (strcmp(cmd, "storage") == 0)
		return cmd_storage(argc - i, argv + i, env_file);
	if (strcmp(cmd, "config") == 0) {
		if (i < argc && (strcmp(argv[i], "--help") == 0 ||
		    strcmp(argv[i], "-h") == 0)) {
			fputs(help_config, stdout);
			return 0;
		}
		if (i == argc || strcmp(argv[i], "check") != 0)
			return usage_error("config takes the subcommand 'check'");
		if (parse_overrides(argc - i - 1, argv + i + 1, ov, &nov, &help) == -1)
			return 2;
		if (help) {
			fputs(help_config, stdout);
			return 0;
		}
		return config_print(stdout, env_file, ov, nov) == 0 ? 0 : 2;
	}
	return usage_error("unknown command '%s'", cmd);
}
