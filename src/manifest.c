/*
 * manifest.c: a backup directory's _manifest.json, read defensively.
 *
 * Nobody knows the exact shape of the manifest AC's backup was written
 * with (the script that made it was never committed), so this reader
 * takes the plausible ones: "collections" as an array of
 * {name, file?, count?, indexes?} or as an object keyed by name.  What it
 * does not take is ambiguity: a collection listed twice, a listed file
 * that is missing, a .json file the manifest does not list, an index
 * without a key, a count that is not a whole number.  Each is reported on
 * its own line naming the manifest and the collection, and all of them
 * are reported before anything is written.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "extern.h"

#define	MANIFEST_NAME		"_manifest.json"
#define	MANIFEST_MAX_BYTES	(16u << 20)	/* a manifest is an inventory */

static void manifest_problem(struct manifest *, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
manifest_problem(struct manifest *m, const char *fmt, ...)
{
	va_list	 ap;
	size_t	 len = strlen(m->err);
	int	 n;

	m->nproblems++;
	if (len + 2 >= sizeof(m->err))
		return;
	if (len > 0)
		m->err[len++] = '\n';
	va_start(ap, fmt);
	n = vsnprintf(m->err + len, sizeof(m->err) - len, fmt, ap);
	va_end(ap);
	(void)n;
}

/* Read the whole (small) manifest file into a NUL-terminated buffer. */
static char *
manifest_slurp(struct manifest *m, const char *path)
{
	FILE		*f;
	struct stat	 st;
	char		*text = NULL;

	if ((f = fopen(path, "rb")) == NULL) {
		manifest_problem(m, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fileno(f), &st) == -1 || st.st_size > MANIFEST_MAX_BYTES)
		manifest_problem(m, "%s: larger than %u MiB; not a manifest",
		    path, MANIFEST_MAX_BYTES >> 20);
	else if ((text = malloc((size_t)st.st_size + 1)) == NULL ||
	    fread(text, 1, (size_t)st.st_size, f) != (size_t)st.st_size) {
		manifest_problem(m, "%s: read error", path);
		free(text);
		text = NULL;
	} else
		text[st.st_size] = '\0';
	fclose(f);
	return text;
}

/* Line and byte of a parse error, for "not valid JSON" messages. */
static void
manifest_json_error(struct manifest *m, const char *path, const char *text)
{
	const char	*at = cJSON_GetErrorPtr();
	unsigned	 line = 1;

	if (at == NULL || at < text) {
		manifest_problem(m, "%s: not valid JSON", path);
		return;
	}
	for (const char *p = text; p < at; p++)
		if (*p == '\n')
			line++;
	manifest_problem(m, "%s:%u: not valid JSON (byte %zu)", path, line,
	    (size_t)(at - text));
}

static bool
manifest_name_valid(const char *name)
{
	return name[0] != '\0' && strlen(name) < 200 &&
	    strchr(name, '$') == NULL && strncmp(name, "system.", 7) != 0;
}

/* Check and record one collection's entry. */
static void
manifest_entry(struct manifest *m, const char *name, const cJSON *obj)
{
	struct manifest_entry	*e;
	const cJSON		*file, *count, *indexes, *ix;
	char			 path[4096];
	struct stat		 st;
	size_t			 i = 0;

	if (!manifest_name_valid(name)) {
		manifest_problem(m, "%s: '%s' is not a valid collection name",
		    m->path, name);
		return;
	}
	for (size_t k = 0; k < m->n; k++)
		if (strcmp(m->entries[k].name, name) == 0) {
			manifest_problem(m, "%s: collection '%s' is listed "
			    "twice", m->path, name);
			return;
		}
	file = cJSON_GetObjectItemCaseSensitive(obj, "file");
	count = cJSON_GetObjectItemCaseSensitive(obj, "count");
	indexes = cJSON_GetObjectItemCaseSensitive(obj, "indexes");
	if (file != NULL && (!cJSON_IsString(file) ||
	    strchr(file->valuestring, '/') != NULL)) {
		manifest_problem(m, "%s: %s: \"file\" must be a file name in "
		    "the backup directory", m->path, name);
		return;
	}
	if (count != NULL && (!cJSON_IsNumber(count) ||
	    count->valuedouble < 0 ||
	    count->valuedouble != (double)(int64_t)count->valuedouble)) {
		manifest_problem(m, "%s: %s: \"count\" must be a whole number",
		    m->path, name);
		return;
	}
	if (indexes != NULL && !cJSON_IsArray(indexes)) {
		manifest_problem(m, "%s: %s: \"indexes\" must be an array",
		    m->path, name);
		return;
	}
	cJSON_ArrayForEach(ix, indexes) {
		const cJSON *key = cJSON_GetObjectItemCaseSensitive(ix, "key");

		i++;
		if (!cJSON_IsObject(key) || key->child == NULL) {
			manifest_problem(m, "%s: %s: index %zu has no "
			    "\"key\" document", m->path, name, i);
			return;
		}
	}
	snprintf(path, sizeof(path), "%s/%s", m->dir,
	    file != NULL ? file->valuestring : name);
	if (file == NULL)
		strncat(path, ".json", sizeof(path) - strlen(path) - 1);
	if (stat(path, &st) == -1) {
		manifest_problem(m, "%s: lists collection '%s' but %s: %s",
		    m->path, name, path, strerror(errno));
		return;
	}
	if (!S_ISREG(st.st_mode)) {
		manifest_problem(m, "%s: lists collection '%s' but %s is not "
		    "a regular file", m->path, name, path);
		return;
	}
	e = &m->entries[m->n++];
	memset(e, 0, sizeof(*e));
	e->name = strdup(name);
	e->path = strdup(path);
	e->bytes = (uint64_t)st.st_size;
	e->count = count != NULL ? (int64_t)count->valuedouble : -1;
	e->indexes = indexes;
}

/* Every *.json in the directory must be the manifest or a listed file. */
static void
manifest_unlisted(struct manifest *m)
{
	DIR		*d;
	struct dirent	*de;

	if ((d = opendir(m->dir)) == NULL) {
		manifest_problem(m, "%s: %s", m->dir, strerror(errno));
		return;
	}
	while ((de = readdir(d)) != NULL) {
		size_t	 len = strlen(de->d_name);
		char	 path[4096];
		bool	 listed = false;

		if (len < 6 || strcmp(de->d_name + len - 5, ".json") != 0 ||
		    strcmp(de->d_name, MANIFEST_NAME) == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", m->dir, de->d_name);
		for (size_t i = 0; i < m->n && !listed; i++)
			listed = strcmp(m->entries[i].path, path) == 0;
		if (!listed)
			manifest_problem(m, "%s: %s is not listed in the "
			    "manifest", m->path, path);
	}
	closedir(d);
}

static int
manifest_entry_cmp(const void *a, const void *b)
{
	return strcmp(((const struct manifest_entry *)a)->name,
	    ((const struct manifest_entry *)b)->name);
}

/*
 * Read dir/_manifest.json.  On any problem returns -1 with every problem
 * in m->err, one per line; m is still to be freed.
 */
int
manifest_read(struct manifest *m, const char *dir)
{
	const cJSON	*cols, *db, *c;
	char		*text;
	size_t		 ncols;

	memset(m, 0, sizeof(*m));
	snprintf(m->dir, sizeof(m->dir), "%s", dir);
	snprintf(m->path, sizeof(m->path), "%s/%s", dir, MANIFEST_NAME);
	if ((text = manifest_slurp(m, m->path)) == NULL)
		return -1;
	m->root = cJSON_ParseWithOpts(text, NULL, true);
	if (m->root == NULL) {
		manifest_json_error(m, m->path, text);
		free(text);
		return -1;
	}
	free(text);
	db = cJSON_GetObjectItemCaseSensitive(m->root, "database");
	if (cJSON_IsString(db))
		snprintf(m->database, sizeof(m->database), "%s",
		    db->valuestring);
	cols = cJSON_GetObjectItemCaseSensitive(m->root, "collections");
	if (!cJSON_IsArray(cols) && !cJSON_IsObject(cols)) {
		manifest_problem(m, "%s: \"collections\" must be an array of "
		    "{name, count, indexes} or an object keyed by collection "
		    "name", m->path);
		return -1;
	}
	ncols = (size_t)cJSON_GetArraySize(cols);
	m->entries = calloc(ncols ? ncols : 1, sizeof(*m->entries));
	if (m->entries == NULL) {
		manifest_problem(m, "out of memory");
		return -1;
	}
	cJSON_ArrayForEach(c, cols) {
		const cJSON	*name = NULL;

		if (cJSON_IsArray(cols))
			name = cJSON_GetObjectItemCaseSensitive(c, "name");
		if (!cJSON_IsObject(c))
			manifest_problem(m, "%s: collection entry %s is not an "
			    "object", m->path,
			    c->string != NULL ? c->string : "in the array");
		else if (cJSON_IsArray(cols) && !cJSON_IsString(name))
			manifest_problem(m, "%s: a collection entry has no "
			    "\"name\"", m->path);
		else
			manifest_entry(m, cJSON_IsArray(cols) ?
			    name->valuestring : c->string, c);
	}
	manifest_unlisted(m);
	qsort(m->entries, m->n, sizeof(*m->entries), manifest_entry_cmp);
	return m->nproblems > 0 ? -1 : 0;
}

struct manifest_entry *
manifest_find(struct manifest *m, const char *name)
{
	for (size_t i = 0; i < m->n; i++)
		if (strcmp(m->entries[i].name, name) == 0)
			return &m->entries[i];
	return NULL;
}

void
manifest_free(struct manifest *m)
{
	for (size_t i = 0; i < m->n; i++) {
		free(m->entries[i].name);
		free(m->entries[i].path);
		free(m->entries[i].error);
		free(m->entries[i].note);
	}
	free(m->entries);
	cJSON_Delete(m->root);
	memset(m, 0, sizeof(*m));
}
