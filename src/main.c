/*
 * main.c: the `silo` command line.
 *
 * One program, several commands.  getopt_long(3) reads the options
 * before the command, stopping at it ("+"), and then the command's own,
 * which may come before or after its operands (`silo import DIR
 * --drop`).  getopt's own messages are off (":"): every bad usage is
 * reported here as one line naming the option or word, and exit status
 * 2, the status of a configuration error too.
 *
 * The help is the manual.  The build renders docs/silo.1 and compiles
 * its SYNOPSIS, its ENVIRONMENT and each subsection of COMMANDS into
 * silo-help.h (tools/manhelp.awk), so `silo --help` and `silo help CMD`
 * cannot drift from silo(1), and the binary still carries its manual on
 * a droplet where it may be the only documentation at hand.  Only what
 * the page cannot know is added here: `silo help serve` lists the
 * endpoints from the route table.
 *
 * Options that are also configuration (--listen, --workers) become
 * overrides of the matching variable, so `silo config check --workers 8`
 * shows exactly what `silo serve --workers 8` would run with.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "extern.h"

/* One command's part of silo(1), as the build rendered it. */
struct help_page {
	const char	*command;	/* its first word, e.g. "storage" */
	const char	*text;		/* the subsection, heading first */
};

#include "silo-help.h"	/* help_synopsis, help_environment, help_pages */

#define	HELP_NPAGES	(sizeof(help_pages) / sizeof(help_pages[0]))
#define	MAX_OVERRIDES	2	/* --listen and --workers */
#define	MAX_IMPORT_NAMES 64	/* --include/--exclude each */

/* The options' vals: -h's letter, then the long options, above any
 * letter. */
enum main_opt {
	OPT_HELP = 'h',		/* -h, --help */
	OPT_ENV_FILE = 256,	/* --env-file FILE, the first long one */
	OPT_VERSION,		/* --version */
	OPT_LISTEN,		/* --listen ADDR */
	OPT_WORKERS,		/* --workers N */
	OPT_LOCK_FD,		/* --lock-fd N */
	OPT_JSON,		/* --json */
	OPT_ALL,		/* --all */
	OPT_ARCHIVE_DIR,	/* --archive-dir DIR */
	OPT_DATABASE,		/* --database NAME */
	OPT_DROP,		/* --drop */
	OPT_DRY_RUN,		/* --dry-run */
	OPT_EXCLUDE,		/* --exclude NAME */
	OPT_INCLUDE,		/* --include NAME */
	OPT_NO_ENCRYPT,		/* --no-encrypt */
	OPT_TO_DB,		/* --to-db NAME */
	OPT_COLLECTION,		/* --collection NAME */
	OPT_PRODUCTION,		/* --i-mean-production */
	OPT_ROLE,		/* --role admin|viewer */
	OPT_TOTP,		/* --totp */
	OPT_SCOPE,		/* --scope LIST */
	OPT_FROM,		/* --from URI */
	OPT_DELETE,		/* --delete */
	OPT_VERIFY_ONLY,	/* --verify-only */
	OPT_SUB,		/* --sub SUB */
	OPT_DID,		/* --did DID */
	OPT_MAP,		/* --map FILE */
	OPT_STATS,		/* --stats */
	OPT_STEP_DELAY,		/* --step-delay MS */
	OPT_BATCH		/* --batch N */
};

static const struct option main_opts_global[] = {
	{ "env-file", required_argument, NULL, OPT_ENV_FILE },
	{ "help", no_argument, NULL, OPT_HELP },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ NULL, 0, NULL, 0 }
};

/* Commands that take no option but -h. */
static const struct option main_opts_help[] = {
	{ "help", no_argument, NULL, OPT_HELP },
	{ NULL, 0, NULL, 0 }
};

/* serve and config check. */
static const struct option main_opts_serve[] = {
	{ "help", no_argument, NULL, OPT_HELP },
	{ "listen", required_argument, NULL, OPT_LISTEN },
	{ "workers", required_argument, NULL, OPT_WORKERS },
	{ NULL, 0, NULL, 0 }
};

static const struct option main_opts_import[] = {
	{ "help", no_argument, NULL, OPT_HELP },
	{ "all", no_argument, NULL, OPT_ALL },
	{ "archive-dir", required_argument, NULL, OPT_ARCHIVE_DIR },
	{ "database", required_argument, NULL, OPT_DATABASE },
	{ "drop", no_argument, NULL, OPT_DROP },
	{ "dry-run", no_argument, NULL, OPT_DRY_RUN },
	{ "exclude", required_argument, NULL, OPT_EXCLUDE },
	{ "include", required_argument, NULL, OPT_INCLUDE },
	{ NULL, 0, NULL, 0 }
};

static const struct option main_opts_sync[] = {
	{ "help", no_argument, NULL, OPT_HELP },
	{ "all", no_argument, NULL, OPT_ALL },
	{ "database", required_argument, NULL, OPT_DATABASE },
	{ "delete", no_argument, NULL, OPT_DELETE },
	{ "dry-run", no_argument, NULL, OPT_DRY_RUN },
	{ "exclude", required_argument, NULL, OPT_EXCLUDE },
	{ "from", required_argument, NULL, OPT_FROM },
	{ "include", required_argument, NULL, OPT_INCLUDE },
	{ "verify-only", no_argument, NULL, OPT_VERIFY_ONLY },
	{ NULL, 0, NULL, 0 }
};

static const struct option main_opts_backup[] = {
	{ "help", no_argument, NULL, OPT_HELP },
	{ "dry-run", no_argument, NULL, OPT_DRY_RUN },
	{ "exclude", required_argument, NULL, OPT_EXCLUDE },
	{ "include", required_argument, NULL, OPT_INCLUDE },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "lock-fd", required_argument, NULL, OPT_LOCK_FD },
	{ "no-encrypt", no_argument, NULL, OPT_NO_ENCRYPT },
	{ NULL, 0, NULL, 0 }
};

/* backup verify and backup restore. */
static const struct option main_opts_restore[] = {
	{ "help", no_argument, NULL, OPT_HELP },
	{ "collection", required_argument, NULL, OPT_COLLECTION },
	{ "drop", no_argument, NULL, OPT_DROP },
	{ "i-mean-production", no_argument, NULL, OPT_PRODUCTION },
	{ "to-db", required_argument, NULL, OPT_TO_DB },
	{ NULL, 0, NULL, 0 }
};

/* user and token. */
static const struct option main_opts_access[] = {
	{ "help", no_argument, NULL, OPT_HELP },
	{ "role", required_argument, NULL, OPT_ROLE },
	{ "scope", required_argument, NULL, OPT_SCOPE },
	{ "totp", no_argument, NULL, OPT_TOTP },
	{ NULL, 0, NULL, 0 }
};

/* atproto migrate and rollback. */
static const struct option main_opts_atproto[] = {
	{ "help", no_argument, NULL, OPT_HELP },
	{ "batch", required_argument, NULL, OPT_BATCH },
	{ "did", required_argument, NULL, OPT_DID },
	{ "dry-run", no_argument, NULL, OPT_DRY_RUN },
	{ "map", required_argument, NULL, OPT_MAP },
	{ "stats", no_argument, NULL, OPT_STATS },
	{ "step-delay", required_argument, NULL, OPT_STEP_DELAY },
	{ "sub", required_argument, NULL, OPT_SUB },
	{ NULL, 0, NULL, 0 }
};

static const struct option main_opts_storage[] = {
	{ "help", no_argument, NULL, OPT_HELP },
	{ "lock-fd", required_argument, NULL, OPT_LOCK_FD },
	{ NULL, 0, NULL, 0 }
};

static int	main_usage(const char *command, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * A usage error: one line naming what was wrong and where to read more,
 * and the exit status 2.  command is the help topic, or NULL for the
 * options before the command.
 */
static int
main_usage(const char *command, const char *fmt, ...)
{
	va_list	 ap;

	fputs("silo: ", stderr);
	if (command != NULL)
		fprintf(stderr, "%s: ", command);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	if (command != NULL)
		fprintf(stderr, " (see 'silo help %s')\n", command);
	else
		fputs(" (see 'silo --help')\n", stderr);
	return 2;
}

/* Whether the long option typed as arg (up to any '=') abbreviates more
 * than one of opts. */
static bool
main_ambiguous(const char *arg, const struct option *opts)
{
	size_t	 len = strcspn(arg, "=");
	int	 n = 0;

	for (; opts->name != NULL; opts++)
		if (strncmp(opts->name, arg, len) == 0)
			n++;
	return n > 1;
}

/*
 * The next option of a command line, as getopt_long(3): -1 at the first
 * operand ("+" in shortopts) or the end, else the option's val, with
 * optarg.  An unknown, ambiguous or incomplete option is reported,
 * naming it, and returned as '?'.  argv[0] is the command word; the
 * caller sets optind to 0 before the first call on a new argv.
 */
static int
main_getopt(int argc, char **argv, const char *command,
    const char *shortopts, const struct option *opts)
{
	const char	*arg;
	char		 letter[3] = { '-', '\0', '\0' };
	int		 c;

	c = getopt_long(argc, argv, shortopts, opts, NULL);
	if (c != '?' && c != ':')
		return c;
	/*
	 * Only long options take a value, so ':' is one, as is a '?' whose
	 * optopt is 0 (unknown or ambiguous) or an option's val (given a
	 * value it does not take); getopt has stepped past it.  Else optopt
	 * is an unknown letter, perhaps in the middle of "-xy".
	 */
	letter[1] = (char)optopt;
	if (c == '?' && optopt != 0 && optopt != OPT_HELP &&
	    optopt < OPT_ENV_FILE)
		arg = letter;
	else
		arg = argv[optind - 1];
	if (arg == letter)
		main_usage(command, "unknown option '%s'", arg);
	else if (c == ':')
		main_usage(command, "%s needs a value", arg);
	else if (optopt != 0)
		main_usage(command, "%.*s takes no value",
		    (int)strcspn(arg, "="), arg);
	else if (main_ambiguous(arg + 2, opts))
		main_usage(command, "ambiguous option '%s'", arg);
	else
		main_usage(command, "unknown option '%s'", arg);
	return '?';
}

/* The synopsis, as `silo --help` prints it. */
static void
main_synopsis(FILE *out)
{
	fputs(help_synopsis, out);
	fputs("\nsilo help COMMAND prints a command's part of silo(1).\n",
	    out);
}

/* The endpoints, one per line with its access, from the route table. */
static void
main_endpoints(FILE *out)
{
	fputs("\nENDPOINTS\n", out);
	for (size_t i = 0; i < routes_count; i++) {
		const struct route *rt = &routes_table[i];

		fprintf(out, "    %s %s  (%s)\n        %s\n", rt->method,
		    rt->pattern, rt->access == ACCESS_PUBLIC ? "public" :
		    rt->access == ACCESS_SIGNED_IN ? "signed-in" : rt->scope,
		    rt->summary);
	}
}

/* `silo help COMMAND`: its part of the manual, and what the manual
 * cannot hold; -1 if there is no such command. */
static int
main_help(FILE *out, const char *command)
{
	for (size_t i = 0; i < HELP_NPAGES; i++) {
		if (strcmp(help_pages[i].command, command) != 0)
			continue;
		fputs(help_pages[i].text, out);
		if (strcmp(command, "serve") == 0)
			main_endpoints(out);
		else if (strcmp(command, "config") == 0) {
			fputc('\n', out);
			fputs(help_environment, out);
		}
		return 0;
	}
	return -1;
}

/* Set an override, the last of the same variable winning. */
static void
main_override(struct config_override *ov, size_t *nov, const char *name,
    const char *value)
{
	size_t	 i;

	for (i = 0; i < *nov && strcmp(ov[i].name, name) != 0; i++)
		continue;
	ov[i].name = name;
	ov[i].value = value;
	if (i == *nov)
		(*nov)++;
}

/* How a command keeps an option's value. */
enum main_keep_kind {
	KEEP_FLAG,		/* bool at off, set */
	KEEP_TEXT,		/* const char * at off: the value */
	KEEP_NAMES,		/* one more of the const char *[] at off, its
				   size_t count at count_off */
	KEEP_FD,		/* int at off: a file descriptor */
	KEEP_UINT,		/* unsigned at off, min to max */
	KEEP_OVERRIDE		/* the setting var, overridden */
};

/* One option of a command, and where its value goes. */
struct main_keep {
	int		 val;		/* enum main_opt; 0 ends a table */
	enum main_keep_kind kind;	/* how it is kept */
	size_t		 off;		/* its field in the command's opts */
	size_t		 count_off;	/* KEEP_NAMES: the count's field */
	const char	*var;		/* KEEP_OVERRIDE: the setting */
	long		 min;		/* KEEP_UINT: the least */
	long		 max;		/* KEEP_UINT: the most */
	const char	*unit;		/* KEEP_UINT: said in the error */
};

/* How a command's options are read. */
struct main_reader {
	const char	*command;	/* the help topic, e.g. "backup" */
	const char	*shortopts;	/* "+:h" stops at the first operand */
	const struct option *longopts;	/* what getopt_long knows */
	const struct main_keep *keep;	/* where each value goes */
	/* whether subcommand sub takes option val; NULL: all do */
	bool		(*takes)(const char *sub, int val);
};

/* Overrides of settings a command line gave. */
struct main_overrides {
	struct config_override ov[MAX_OVERRIDES]; /* name and value */
	size_t		 n;		/* how many */
};

/* The long name of option val, for messages. */
static const char *
main_opt_name(const struct option *longopts, int val)
{
	for (; longopts->name != NULL; longopts++)
		if (longopts->val == val)
			return longopts->name;
	return "?";
}

/* A number from..to for KEEP_UINT: 0, or -1 when it is not one. */
static int
main_number(const char *s, long min, long max, long *out)
{
	char	*end;

	errno = 0;
	*out = strtol(s, &end, 10);
	return errno != 0 || *end != '\0' || end == s || *out < min ||
	    *out > max ? -1 : 0;
}

/* Keep the value of option k in opts (or ov): -1, or 2 on a usage
 * error. */
static int
main_keep_value(const struct main_reader *r, const struct main_keep *k,
    void *opts, struct main_overrides *ov, const char *arg)
{
	char		*field = (char *)opts + k->off;
	const char	*name = main_opt_name(r->longopts, k->val);
	size_t		*count;
	long		 n;

	switch (k->kind) {
	case KEEP_FLAG:
		*(bool *)field = true;
		break;
	case KEEP_TEXT:
		*(const char **)field = arg;
		break;
	case KEEP_NAMES:
		count = (size_t *)((char *)opts + k->count_off);
		if (*count == MAX_IMPORT_NAMES)
			return main_usage(r->command, "more than %d --%s "
			    "options", MAX_IMPORT_NAMES, name);
		(*(const char ***)field)[(*count)++] = arg;
		break;
	case KEEP_FD:
		if (main_number(arg, 0, INT_MAX, &n) == -1)
			return main_usage(r->command, "--%s '%s' is not a "
			    "descriptor", name, arg);
		*(int *)field = (int)n;
		break;
	case KEEP_UINT:
		if (main_number(arg, k->min, k->max, &n) == -1)
			return main_usage(r->command, "--%s takes %ld to %ld "
			    "(%s), not '%s'", name, k->min, k->max, k->unit,
			    arg);
		*(unsigned *)field = (unsigned)n;
		break;
	case KEEP_OVERRIDE:
		main_override(ov->ov, &ov->n, k->var, arg);
		break;
	}
	return -1;
}

/*
 * Read a command's options into opts and ov as r says, argv[0] being the
 * command's last word (sub for r->takes): -1 when they were read, optind
 * at the first operand, else the exit status, 0 after -h printed the
 * help and 2 after a usage error.
 */
static int
main_read(const struct main_reader *r, int argc, char **argv, void *opts,
    struct main_overrides *ov)
{
	const struct main_keep	*k;
	int			 c, rc;

	optind = 0;
	while ((c = main_getopt(argc, argv, r->command, r->shortopts,
	    r->longopts)) != -1) {
		if (c == OPT_HELP) {
			main_help(stdout, r->command);
			return 0;
		}
		for (k = r->keep; k->val != 0 && k->val != c; k++)
			continue;
		if (k->val == 0)
			return 2;
		if (r->takes != NULL && !r->takes(argv[0], c))
			return main_usage(r->command, "%s takes no option "
			    "'%s'", argv[0], argv[optind - 1]);
		if ((rc = main_keep_value(r, k, opts, ov, optarg)) != -1)
			return rc;
	}
	return -1;
}

/*
 * The options of serve and config check, as overrides: -1 when they were
 * read and the command runs, else its exit status, 0 after -h printed
 * the help and 2 after a usage error.  argv[0] is the command's last
 * word.
 */
static int
main_serve_opts(int argc, char **argv, const char *command,
    struct main_overrides *ov)
{
	static const struct main_keep keep[] = {
		{ .val = OPT_LISTEN, .kind = KEEP_OVERRIDE,
		  .var = "SILO_LISTEN" },
		{ .val = OPT_WORKERS, .kind = KEEP_OVERRIDE,
		  .var = "SILO_WORKERS" },
		{ .val = 0 }
	};
	const struct main_reader r = { command, "+:h", main_opts_serve,
				    keep, NULL };
	int	 rc;

	ov->n = 0;
	if ((rc = main_read(&r, argc, argv, NULL, ov)) != -1)
		return rc;
	if (optind < argc)
		return main_usage(command, "unexpected argument '%s'",
		    argv[optind]);
	return -1;
}

/*
 * The options of a command that takes none but -h: -1 when there were
 * none, optind at the first operand, else the exit status as
 * main_serve_opts.  argv[0] is the command.
 */
static int
main_no_opts(int argc, char **argv)
{
	int	 c;

	optind = 0;
	c = main_getopt(argc, argv, argv[0], "+:h", main_opts_help);
	if (c == -1)
		return -1;
	if (c != OPT_HELP)
		return 2;
	main_help(stdout, argv[0]);
	return 0;
}

/*
 * The word after a two-word command's first (config check, storage
 * refresh): -1 when it is there, optind at it, else the exit status as
 * main_serve_opts.
 */
static int
main_subcommand(int argc, char **argv, const char *word)
{
	int	 rc;

	if ((rc = main_no_opts(argc, argv)) != -1)
		return rc;
	if (optind == argc)
		return main_usage(argv[0], "needs the subcommand '%s'", word);
	if (strcmp(argv[optind], word) != 0)
		return main_usage(argv[0], "unknown subcommand '%s'",
		    argv[optind]);
	return -1;
}

/* A job's configuration, and logging at its level: 0, or the exit
 * status 2 with the problems printed. */
static int
main_job_config(struct silo_config *config, const char *env_file,
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

/* `silo serve [--listen ADDR] [--workers N]`. */
static int
main_serve(int argc, char **argv, const char *env_file)
{
	struct main_overrides	 ov;
	int			 rc;

	if ((rc = main_serve_opts(argc, argv, "serve", &ov)) != -1)
		return rc;
	return serve_main(env_file, ov.ov, ov.n);
}

/* `silo config check [--listen ADDR] [--workers N]`. */
static int
main_config(int argc, char **argv, const char *env_file)
{
	struct main_overrides	 ov;
	int			 rc;

	if ((rc = main_subcommand(argc, argv, "check")) != -1)
		return rc;
	argc -= optind;
	argv += optind;
	if ((rc = main_serve_opts(argc, argv, "config", &ov)) != -1)
		return rc;
	return config_print(stdout, env_file, ov.ov, ov.n) == 0 ? 0 : 2;
}


/* `silo storage refresh [--lock-fd N]`. */
static int
main_storage(int argc, char **argv, const char *env_file)
{
	static const struct main_keep keep[] = {
		{ .val = OPT_LOCK_FD, .kind = KEEP_FD,
		  .off = offsetof(struct storage_opts, lock_fd) },
		{ .val = 0 }
	};
	const struct main_reader r = { "storage", "+:h", main_opts_storage,
				    keep, NULL };
	struct storage_opts	 o = { .lock_fd = -1 };
	struct silo_config	 config;
	int			 rc;

	if ((rc = main_subcommand(argc, argv, "refresh")) != -1)
		return rc;
	argc -= optind;
	argv += optind;
	if ((rc = main_read(&r, argc, argv, &o, NULL)) != -1)
		return rc;
	if (optind < argc)
		return main_usage("storage", "unexpected argument '%s'",
		    argv[optind]);
	if ((rc = main_job_config(&config, env_file, NULL, 0)) != 0)
		return rc;
	rc = storage_main(&config, &o);
	config_free(&config);
	return rc;
}


/*
 * The options and the directory of `silo import`, which may come in any
 * order (getopt permutes them): -1 when they were read, else the exit
 * status as main_serve_opts.
 */
static int
main_import_opts(int argc, char **argv, struct import_opts *o,
    struct main_overrides *ov)
{
	static const struct main_keep keep[] = {
		{ .val = OPT_ALL, .kind = KEEP_FLAG,
		  .off = offsetof(struct import_opts, all) },
		{ .val = OPT_ARCHIVE_DIR, .kind = KEEP_TEXT,
		  .off = offsetof(struct import_opts, archive_dir) },
		{ .val = OPT_DATABASE, .kind = KEEP_OVERRIDE,
		  .var = "MONGODB_NAME" },
		{ .val = OPT_DROP, .kind = KEEP_FLAG,
		  .off = offsetof(struct import_opts, drop) },
		{ .val = OPT_DRY_RUN, .kind = KEEP_FLAG,
		  .off = offsetof(struct import_opts, dry_run) },
		{ .val = OPT_EXCLUDE, .kind = KEEP_NAMES,
		  .off = offsetof(struct import_opts, exclude),
		  .count_off = offsetof(struct import_opts, nexclude) },
		{ .val = OPT_INCLUDE, .kind = KEEP_NAMES,
		  .off = offsetof(struct import_opts, include),
		  .count_off = offsetof(struct import_opts, ninclude) },
		{ .val = 0 }
	};
	const struct main_reader r = { "import", ":h", main_opts_import,
				    keep, NULL };
	int	 rc;

	if ((rc = main_read(&r, argc, argv, o, ov)) != -1)
		return rc;
	if (optind == argc)
		return main_usage("import", "needs the backup directory");
	if (optind + 1 < argc)
		return main_usage("import", "takes one directory, not '%s'",
		    argv[optind + 1]);
	o->dir = argv[optind];
	return -1;
}

/* `silo import [options] DIR`. */
static int
main_import(int argc, char **argv, const char *env_file)
{
	const char		*include[MAX_IMPORT_NAMES];
	const char		*exclude[MAX_IMPORT_NAMES];
	struct import_opts	 o = { .include = include, .exclude = exclude };
	struct silo_config	 config;
	struct main_overrides	 ov = { .n = 0 };
	int			 rc;

	if ((rc = main_import_opts(argc, argv, &o, &ov)) != -1)
		return rc;
	if (o.dry_run)
		return import_main(NULL, &o);	/* no database to configure */
	if ((rc = main_job_config(&config, env_file, ov.ov, ov.n)) != 0)
		return rc;
	rc = import_main(&config, &o);
	config_free(&config);
	return rc;
}

/*
 * The options of `silo sync`: -1 when they were read, else the exit
 * status as main_serve_opts.
 */
static int
main_sync_opts(int argc, char **argv, struct sync_opts *o,
    struct main_overrides *ov)
{
	static const struct main_keep keep[] = {
		{ .val = OPT_ALL, .kind = KEEP_FLAG,
		  .off = offsetof(struct sync_opts, all) },
		{ .val = OPT_DATABASE, .kind = KEEP_OVERRIDE,
		  .var = "MONGODB_NAME" },
		{ .val = OPT_DELETE, .kind = KEEP_FLAG,
		  .off = offsetof(struct sync_opts, delete) },
		{ .val = OPT_DRY_RUN, .kind = KEEP_FLAG,
		  .off = offsetof(struct sync_opts, dry_run) },
		{ .val = OPT_EXCLUDE, .kind = KEEP_NAMES,
		  .off = offsetof(struct sync_opts, exclude),
		  .count_off = offsetof(struct sync_opts, nexclude) },
		{ .val = OPT_FROM, .kind = KEEP_OVERRIDE,
		  .var = "SILO_SYNC_FROM" },
		{ .val = OPT_INCLUDE, .kind = KEEP_NAMES,
		  .off = offsetof(struct sync_opts, include),
		  .count_off = offsetof(struct sync_opts, ninclude) },
		{ .val = OPT_VERIFY_ONLY, .kind = KEEP_FLAG,
		  .off = offsetof(struct sync_opts, verify_only) },
		{ .val = 0 }
	};
	const struct main_reader r = { "sync", ":h", main_opts_sync, keep,
				    NULL };
	int	 rc;

	if ((rc = main_read(&r, argc, argv, o, ov)) != -1)
		return rc;
	if (optind < argc)
		return main_usage("sync", "unexpected argument '%s'",
		    argv[optind]);
	if (o->verify_only && (o->dry_run || o->delete))
		return main_usage("sync", "--verify-only writes nothing; it "
		    "takes no --dry-run or --delete");
	return -1;
}

/* `silo sync --from URI [options]`. */
static int
main_sync(int argc, char **argv, const char *env_file)
{
	const char		*include[MAX_IMPORT_NAMES];
	const char		*exclude[MAX_IMPORT_NAMES];
	struct sync_opts	 o = { .include = include, .exclude = exclude };
	struct silo_config	 config;
	struct main_overrides	 ov = { .n = 0 };
	int			 rc;

	/* --from is SILO_SYNC_FROM's override: the URI is checked, and its
	 * password masked, as the configuration's are. */
	if ((rc = main_sync_opts(argc, argv, &o, &ov)) != -1)
		return rc;
	if ((rc = main_job_config(&config, env_file, ov.ov, ov.n)) != 0)
		return rc;
	if (config.sync_from == NULL)
		rc = main_usage("sync", "needs --from URI or SILO_SYNC_FROM");
	else
		rc = sync_main(&config, &o);
	config_free(&config);
	return rc;
}

/*
 * The options and operand of `silo backup verify|restore`, argv[0] the
 * subcommand: -1 when they were read (*id the operand), else the exit
 * status as main_serve_opts.
 */
/* verify takes no option; restore takes them all. */
static bool
main_restore_takes(const char *sub, int val)
{
	(void)val;
	return strcmp(sub, "verify") != 0;
}

static int
main_restore_opts(int argc, char **argv, struct restore_opts *o,
    const char **id)
{
	static const struct main_keep keep[] = {
		{ .val = OPT_COLLECTION, .kind = KEEP_NAMES,
		  .off = offsetof(struct restore_opts, collections),
		  .count_off = offsetof(struct restore_opts, ncollections) },
		{ .val = OPT_DROP, .kind = KEEP_FLAG,
		  .off = offsetof(struct restore_opts, drop) },
		{ .val = OPT_PRODUCTION, .kind = KEEP_FLAG,
		  .off = offsetof(struct restore_opts, production) },
		{ .val = OPT_TO_DB, .kind = KEEP_TEXT,
		  .off = offsetof(struct restore_opts, to_db) },
		{ .val = 0 }
	};
	const struct main_reader r = { "backup", ":h", main_opts_restore,
				    keep, main_restore_takes };
	int	 rc;

	o->verify = strcmp(argv[0], "verify") == 0;
	if ((rc = main_read(&r, argc, argv, o, NULL)) != -1)
		return rc;
	*id = optind < argc ? argv[optind] : (o->verify ? "latest" : NULL);
	if (*id == NULL)
		return main_usage("backup", "restore needs a backup id or "
		    "'latest'");
	if (optind < argc && optind + 1 < argc)
		return main_usage("backup", "unexpected argument '%s'",
		    argv[optind + 1]);
	if (!o->verify && (o->to_db == NULL) == !o->production)
		return main_usage("backup", "restore needs --to-db NAME or "
		    "--i-mean-production (not both)");
	if (o->to_db != NULL && o->to_db[0] == '\0')
		return main_usage("backup", "--to-db needs a database name");
	return -1;
}

/* `silo backup verify [ID|latest]`, `silo backup restore ID --to-db NAME
 * [--collection NAME]... [--drop]` (or --i-mean-production). */
static int
main_restore(int argc, char **argv, const char *env_file)
{
	const char		*colls[MAX_IMPORT_NAMES];
	struct restore_opts	 o = { .collections = colls };
	struct silo_config	 config;
	const char		*id = NULL;
	int			 rc;

	if ((rc = main_restore_opts(argc, argv, &o, &id)) != -1)
		return rc;
	if ((rc = main_job_config(&config, env_file, NULL, 0)) != 0)
		return rc;
	if (o.production)
		o.to_db = config.mongo_db;
	rc = restore_main(&config, &o, id);
	config_free(&config);
	return rc;
}

/* Does `silo backup sub` take option c? */
static bool
main_backup_takes(const char *sub, int c)
{
	if (strcmp(sub, "run") == 0)
		return c == OPT_NO_ENCRYPT || c == OPT_EXCLUDE ||
		    c == OPT_INCLUDE || c == OPT_LOCK_FD;
	if (strcmp(sub, "list") == 0)
		return c == OPT_JSON;
	if (strcmp(sub, "prune") == 0)
		return c == OPT_DRY_RUN;
	return false;
}

/*
 * The options and operands of `silo backup SUBCOMMAND`, argv[0] the
 * subcommand: -1 when they were read (*arg the operand, or NULL), else
 * the exit status as main_serve_opts.
 */
static int
main_backup_opts(int argc, char **argv, struct backup_opts *o,
    const char **arg)
{
	static const struct main_keep keep[] = {
		{ .val = OPT_DRY_RUN, .kind = KEEP_FLAG,
		  .off = offsetof(struct backup_opts, dry_run) },
		{ .val = OPT_EXCLUDE, .kind = KEEP_NAMES,
		  .off = offsetof(struct backup_opts, exclude),
		  .count_off = offsetof(struct backup_opts, nexclude) },
		{ .val = OPT_INCLUDE, .kind = KEEP_NAMES,
		  .off = offsetof(struct backup_opts, include),
		  .count_off = offsetof(struct backup_opts, ninclude) },
		{ .val = OPT_JSON, .kind = KEEP_FLAG,
		  .off = offsetof(struct backup_opts, json) },
		{ .val = OPT_LOCK_FD, .kind = KEEP_FD,
		  .off = offsetof(struct backup_opts, lock_fd) },
		{ .val = OPT_NO_ENCRYPT, .kind = KEEP_FLAG,
		  .off = offsetof(struct backup_opts, no_encrypt) },
		{ .val = 0 }
	};
	const struct main_reader r = { "backup", ":h", main_opts_backup,
				    keep, main_backup_takes };
	bool	 run = strcmp(argv[0], "run") == 0;
	bool	 bare = strcmp(argv[0], "list") == 0 ||
		    strcmp(argv[0], "prune") == 0;
	int	 rc;

	if ((rc = main_read(&r, argc, argv, o, NULL)) != -1)
		return rc;
	*arg = optind < argc ? argv[optind] : NULL;
	if ((run || bare) && *arg != NULL)
		return main_usage("backup", "unexpected argument '%s'", *arg);
	if (strcmp(argv[0], "fetch") == 0 && *arg == NULL)
		return main_usage("backup", "fetch needs a backup id or "
		    "'latest'");
	if (*arg != NULL && optind + 1 < argc)
		return main_usage("backup", "unexpected argument '%s'",
		    argv[optind + 1]);
	return -1;
}

/* `silo backup keygen [PATH]`, `run [options]`, `fetch ID|latest`,
 * `list [--json]`, `prune [--dry-run]`. */
static int
main_backup(int argc, char **argv, const char *env_file)
{
	const char		*include[MAX_IMPORT_NAMES];
	const char		*exclude[MAX_IMPORT_NAMES];
	struct backup_opts	 o = { .include = include, .exclude = exclude,
				    .lock_fd = -1 };
	struct silo_config	 config;
	const char		*sub, *arg = NULL;
	int			 rc;

	if ((rc = main_no_opts(argc, argv)) != -1)
		return rc;
	if (optind == argc)
		return main_usage("backup", "needs a subcommand: keygen, run, "
		    "fetch, list, verify, restore or prune");
	sub = argv[optind];
	if (strcmp(sub, "verify") == 0 || strcmp(sub, "restore") == 0)
		return main_restore(argc - optind, argv + optind, env_file);
	if (strcmp(sub, "keygen") != 0 && strcmp(sub, "run") != 0 &&
	    strcmp(sub, "fetch") != 0 && strcmp(sub, "list") != 0 &&
	    strcmp(sub, "prune") != 0)
		return main_usage("backup", "unknown subcommand '%s'", sub);
	argc -= optind;
	argv += optind;
	if ((rc = main_backup_opts(argc, argv, &o, &arg)) != -1)
		return rc;
	if (strcmp(sub, "keygen") == 0 && arg != NULL)
		return backup_keygen_main(arg);
	if ((rc = main_job_config(&config, env_file, NULL, 0)) != 0)
		return rc;
	if (strcmp(sub, "keygen") == 0)
		rc = backup_keygen_main(config.backup_key);
	else if (strcmp(sub, "run") == 0)
		rc = backup_run_main(&config, &o);
	else if (strcmp(sub, "list") == 0)
		rc = backup_list_main(&config, o.json);
	else if (strcmp(sub, "prune") == 0)
		rc = prune_main(&config, o.dry_run);
	else
		rc = backup_fetch_main(&config, arg);
	config_free(&config);
	return rc;
}

/* A command or a subcommand: its word and what runs it. */
struct main_command {
	const char	*name;		/* e.g. "storage" */
	int		(*run)(int, char **, const char *env_file);
					/* argv[0] is the name; the status */
};

/* What `silo user` and `silo token` were told. */
struct main_access {
	const char	*sub;		/* the subcommand, e.g. "add" */
	const char	*name;		/* the user or token, or NULL */
	const char	*role;		/* --role, or NULL */
	const char	*scope;		/* --scope, or NULL */
	bool		 totp;		/* --totp */
};

/*
 * The subcommand, name and options of `silo user` or `silo token`, with
 * which options each subcommand takes: -1 when the command runs, else the
 * exit status as main_serve_opts.  subs lists the subcommands; each takes
 * a NAME but "list".
 */
static int
main_access_opts(int argc, char **argv, const char *cmd,
    const char *const *subs, struct main_access *a)
{
	static const struct main_keep keep[] = {
		{ .val = OPT_ROLE, .kind = KEEP_TEXT,
		  .off = offsetof(struct main_access, role) },
		{ .val = OPT_SCOPE, .kind = KEEP_TEXT,
		  .off = offsetof(struct main_access, scope) },
		{ .val = OPT_TOTP, .kind = KEEP_FLAG,
		  .off = offsetof(struct main_access, totp) },
		{ .val = 0 }
	};
	const struct main_reader r = { cmd, ":h", main_opts_access, keep,
				    NULL };
	bool	 known = false;
	int	 rc;

	if ((rc = main_no_opts(argc, argv)) != -1)
		return rc;
	if (optind == argc)
		return main_usage(cmd, "needs a subcommand");
	a->sub = argv[optind];
	for (const char *const *s = subs; *s != NULL; s++)
		known = known || strcmp(*s, a->sub) == 0;
	if (!known)
		return main_usage(cmd, "unknown subcommand '%s'", a->sub);
	argc -= optind;
	argv += optind;
	if ((rc = main_read(&r, argc, argv, a, NULL)) != -1)
		return rc;
	if (optind < argc)
		a->name = argv[optind++];
	if (optind < argc)
		return main_usage(cmd, "unexpected argument '%s'",
		    argv[optind]);
	if (strcmp(a->sub, "list") == 0 && a->name != NULL)
		return main_usage(cmd, "list takes no name");
	if (strcmp(a->sub, "list") != 0 && !users_name_valid(a->name))
		return main_usage(cmd, "%s needs a NAME of 1 to %d characters "
		    "a-z, 0-9, '.', '_' and '-', starting with a letter or "
		    "digit", a->sub, PRINCIPAL_NAME_MAX);
	if ((a->role != NULL || a->totp) && strcmp(a->sub, "add") != 0)
		return main_usage(cmd, "only add takes --role and --totp");
	if (a->scope != NULL && strcmp(a->sub, "create") != 0)
		return main_usage(cmd, "only create takes --scope");
	return -1;
}

/* `silo user add NAME --role ROLE [--totp]`, `list`, `passwd NAME`,
 * `remove NAME`, `logout-all NAME`. */
static int
main_user(int argc, char **argv, const char *env_file)
{
	static const char *const subs[] = {
		"add", "list", "passwd", "remove", "logout-all", NULL
	};
	struct main_access	 a = { 0 };
	struct silo_config	 config;
	enum user_role		 role = ROLE_VIEWER;
	int			 rc;

	if ((rc = main_access_opts(argc, argv, "user", subs, &a)) != -1)
		return rc;
	if (strcmp(a.sub, "add") == 0 && scope_role_parse(a.role, &role) == -1)
		return main_usage("user", "add needs --role admin or --role "
		    "viewer");
	if ((rc = main_job_config(&config, env_file, NULL, 0)) != 0)
		return rc;
	if (strcmp(a.sub, "add") == 0)
		rc = users_add_main(&config, a.name, role, a.totp);
	else if (strcmp(a.sub, "list") == 0)
		rc = users_list_main(&config);
	else if (strcmp(a.sub, "passwd") == 0)
		rc = users_passwd_main(&config, a.name);
	else if (strcmp(a.sub, "remove") == 0)
		rc = users_remove_main(&config, a.name);
	else
		rc = users_logout_all_main(&config, a.name);
	config_free(&config);
	return rc;
}

/* `silo token create NAME --scope LIST`, `list`, `revoke NAME`. */
static int
main_token(int argc, char **argv, const char *env_file)
{
	static const char *const subs[] = { "create", "list", "revoke", NULL };
	struct main_access	 a = { 0 };
	struct silo_config	 config;
	char			 why[256];
	int			 rc;

	if ((rc = main_access_opts(argc, argv, "token", subs, &a)) != -1)
		return rc;
	if (strcmp(a.sub, "create") == 0 &&
	    scope_parse_list(a.scope, why, sizeof(why)) == 0)
		return main_usage("token", "create needs --scope: %s", why);
	if ((rc = main_job_config(&config, env_file, NULL, 0)) != 0)
		return rc;
	if (strcmp(a.sub, "create") == 0)
		rc = tokens_create_main(&config, a.name, a.scope);
	else if (strcmp(a.sub, "list") == 0)
		rc = tokens_list_main(&config);
	else
		rc = tokens_revoke_main(&config, a.name);
	config_free(&config);
	return rc;
}

static const struct option main_opts_atproto_check[] = {
	{ "help", no_argument, NULL, OPT_HELP },
	{ "json", no_argument, NULL, OPT_JSON },
	{ NULL, 0, NULL, 0 }
};

/* `silo atproto check [--json]`. */
static int
main_atproto_check(int argc, char **argv, const char *env_file)
{
	static const struct main_keep keep[] = {
		{ .val = OPT_JSON, .kind = KEEP_FLAG, .off = 0 },
		{ .val = 0 }
	};
	const struct main_reader r = { "atproto", ":h",
				    main_opts_atproto_check, keep, NULL };
	struct silo_config	 config;
	bool			 json = false;
	int			 rc;

	if ((rc = main_read(&r, argc, argv, &json, NULL)) != -1)
		return rc;
	if (optind < argc)
		return main_usage("atproto", "unexpected argument '%s'",
		    argv[optind]);
	if ((rc = main_job_config(&config, env_file, NULL, 0)) != 0)
		return rc;
	rc = atproto_check_main(&config, json);
	config_free(&config);
	return rc;
}

/* `silo atproto export`. */
static int
main_atproto_export(int argc, char **argv, const char *env_file)
{
	struct silo_config	 config;
	int			 c, rc;

	optind = 0;
	if ((c = main_getopt(argc, argv, "atproto", ":h",
	    main_opts_help)) != -1) {
		if (c == OPT_HELP)
			main_help(stdout, "atproto");
		return c == OPT_HELP ? 0 : 2;
	}
	if (optind < argc)
		return main_usage("atproto", "unexpected argument '%s'",
		    argv[optind]);
	if ((rc = main_job_config(&config, env_file, NULL, 0)) != 0)
		return rc;
	rc = atproto_check_export_main(&config);
	config_free(&config);
	return rc;
}

/* migrate: --sub and --did, or --map. */
static int
main_atproto_migrate_check(const struct atproto_opts *o)
{
	if (o->map != NULL && (o->sub != NULL || o->did != NULL))
		return main_usage("atproto", "migrate takes --map, or --sub "
		    "and --did, not both");
	if (o->map == NULL && (o->sub == NULL || o->did == NULL))
		return main_usage("atproto", "migrate needs --sub and --did, "
		    "or --map");
	return -1;
}

/* rollback: --sub (and the tests' --step-delay). */
static int
main_atproto_rollback_check(const struct atproto_opts *o)
{
	if (o->sub == NULL)
		return main_usage("atproto", "rollback needs --sub");
	if (o->did != NULL || o->map != NULL || o->dry_run || o->stats ||
	    o->batch != 0)
		return main_usage("atproto", "rollback takes only --sub and "
		    "--step-delay");
	return -1;
}

/* The options of `silo atproto SUB`: -1 when read, else the status. */
static int
main_atproto_opts(int argc, char **argv, struct atproto_opts *o)
{
	static const struct main_keep keep[] = {
		{ .val = OPT_BATCH, .kind = KEEP_UINT,
		  .off = offsetof(struct atproto_opts, batch), .min = 1,
		  .max = ATPROTO_BATCH_MAX, .unit = "users" },
		{ .val = OPT_DID, .kind = KEEP_TEXT,
		  .off = offsetof(struct atproto_opts, did) },
		{ .val = OPT_DRY_RUN, .kind = KEEP_FLAG,
		  .off = offsetof(struct atproto_opts, dry_run) },
		{ .val = OPT_MAP, .kind = KEEP_TEXT,
		  .off = offsetof(struct atproto_opts, map) },
		{ .val = OPT_STATS, .kind = KEEP_FLAG,
		  .off = offsetof(struct atproto_opts, stats) },
		{ .val = OPT_STEP_DELAY, .kind = KEEP_UINT,
		  .off = offsetof(struct atproto_opts, step_delay_ms),
		  .min = 0, .max = 60000, .unit = "ms" },
		{ .val = OPT_SUB, .kind = KEEP_TEXT,
		  .off = offsetof(struct atproto_opts, sub) },
		{ .val = 0 }
	};
	const struct main_reader r = { "atproto", "+:h", main_opts_atproto,
				    keep, NULL };

	return main_read(&r, argc, argv, o, NULL);
}

/* `silo atproto migrate|rollback [options]`: the journaled moves of a
 * user's references (atproto.c). */
static int
main_atproto_move(int argc, char **argv, const char *env_file)
{
	bool			 rollback = strcmp(argv[0], "rollback") == 0;
	struct atproto_opts	 o = { 0 };
	struct silo_config	 config;
	int			 rc;

	if ((rc = main_atproto_opts(argc, argv, &o)) != -1)
		return rc;
	if (optind < argc)
		return main_usage("atproto", "unexpected argument '%s'",
		    argv[optind]);
	if ((rc = rollback ? main_atproto_rollback_check(&o) :
	    main_atproto_migrate_check(&o)) != -1)
		return rc;
	if ((rc = main_job_config(&config, env_file, NULL, 0)) != 0)
		return rc;
	rc = rollback ? atproto_rollback_main(&config, &o) :
	    atproto_migrate_main(&config, &o);
	config_free(&config);
	return rc;
}

/* The subcommands of `silo atproto`, by their word. */
static const struct main_command main_atproto_commands[] = {
	{ "check", main_atproto_check },
	{ "export", main_atproto_export },
	{ "migrate", main_atproto_move },
	{ "rollback", main_atproto_move },
};

/* `silo atproto SUBCOMMAND ...`: the identity's move to DIDs. */
static int
main_atproto(int argc, char **argv, const char *env_file)
{
	const size_t	 n = sizeof(main_atproto_commands) /
			    sizeof(main_atproto_commands[0]);
	int		 rc;

	if ((rc = main_no_opts(argc, argv)) != -1)
		return rc;
	if (optind == argc)
		return main_usage("atproto", "needs a subcommand: check, "
		    "export, migrate or rollback");
	for (size_t i = 0; i < n; i++)
		if (strcmp(argv[optind], main_atproto_commands[i].name) == 0)
			return main_atproto_commands[i].run(argc - optind,
			    argv + optind, env_file);
	return main_usage("atproto", "unknown subcommand '%s'", argv[optind]);
}

/* `silo version`. */
static int
main_version(int argc, char **argv, const char *env_file)
{
	int	 rc;

	if ((rc = main_no_opts(argc, argv)) != -1)
		return rc;
	if (optind < argc)
		return main_usage("version", "unexpected argument '%s'",
		    argv[optind]);
	printf("silo %s\n", PACKAGE_VERSION);
	return 0;
}

/* `silo help [COMMAND]`. */
static int
main_help_command(int argc, char **argv, const char *env_file)
{
	int	 rc;

	if ((rc = main_no_opts(argc, argv)) != -1)
		return rc;
	if (optind == argc) {
		main_synopsis(stdout);
		return 0;
	}
	if (optind + 1 < argc)
		return main_usage("help", "takes one command, not '%s'",
		    argv[optind + 1]);
	if (main_help(stdout, argv[optind]) == -1)
		return main_usage("help", "unknown command '%s'",
		    argv[optind]);
	return 0;
}

/* The commands, by their first word. */
static const struct main_command main_commands[] = {
	{ "serve", main_serve },
	{ "config", main_config },
	{ "import", main_import },
	{ "sync", main_sync },
	{ "storage", main_storage },
	{ "backup", main_backup },
	{ "user", main_user },
	{ "token", main_token },
	{ "atproto", main_atproto },
	{ "version", main_version },
	{ "help", main_help_command },
};

int
main(int argc, char **argv)
{
	const char	*env_file = NULL;
	int		 c;

	log_init(LOG_LEVEL_INFO);
	optind = 0;
	while ((c = main_getopt(argc, argv, NULL, "+:h",
	    main_opts_global)) != -1)
		switch (c) {
		case OPT_HELP:
			main_synopsis(stdout);
			return 0;
		case OPT_VERSION:
			printf("silo %s\n", PACKAGE_VERSION);
			return 0;
		case OPT_ENV_FILE:
			env_file = optarg;
			break;
		default:
			return 2;
		}
	if (optind == argc) {
		main_synopsis(stderr);
		return 2;
	}
	if (env_file == NULL)
		env_file = config_default_env_file();
	argc -= optind;
	argv += optind;
	for (size_t i = 0; i < sizeof(main_commands) /
	    sizeof(main_commands[0]); i++)
		if (strcmp(argv[0], main_commands[i].name) == 0)
			return main_commands[i].run(argc, argv, env_file);
	return main_usage(NULL, "unknown command '%s'", argv[0]);
}
