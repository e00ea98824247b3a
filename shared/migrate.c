#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "buf.h"
#include "log.h"
#include "migrate.h"

struct embedded_migration { const char *name; const char *sql; };
extern const struct embedded_migration fb_embedded_migrations[];
extern const size_t fb_embedded_migrations_count;

/* Any fixed 64-bit number: the key of the runners' advisory lock. */
#define MIGRATE_LOCK_KEY "7262861004154830117"

static const char create_table_sql[] =
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    " name text PRIMARY KEY,"
    " checksum text NOT NULL,"
    " applied_at timestamptz NOT NULL DEFAULT now(),"
    " duration_ms integer NOT NULL)";

static bool
valid_name(const char *n)
{
	size_t	i, len = strlen(n);

	if (len < 9 || strcmp(n + len - 4, ".sql") != 0)
		return false;
	for (i = 0; i < 3; i++)
		if (!isdigit((unsigned char)n[i]))
			return false;
	if (n[3] != '_')
		return false;
	for (i = 4; i < len - 4; i++)
		if (!islower((unsigned char)n[i]) && !isdigit((unsigned char)n[i]) &&
		    n[i] != '_')
			return false;
	return true;
}

static void
sha256_hex(const char *data, size_t len, char out[65])
{
	unsigned char	md[32];
	unsigned int	mdlen = 0;
	unsigned	i;

	if (EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32) {
		out[0] = '\0';
		return;
	}
	for (i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static enum fb_err
set_add(struct migration_set *set, const char *name, const char *sql, size_t len)
{
	struct migration *grown, *m;

	grown = realloc(set->items, (set->count + 1) * sizeof(*set->items));
	if (grown == NULL)
		return FB_ERR_NOMEM;
	set->items = grown;
	m = &set->items[set->count];
	m->name = strdup(name);
	m->sql = strndup(sql, len);
	if (m->name == NULL || m->sql == NULL) {
		free(m->name);
		free(m->sql);
		return FB_ERR_NOMEM;
	}
	sha256_hex(sql, len, m->checksum);
	set->count++;
	return FB_OK;
}

static int
cmp_migration(const void *a, const void *b)
{
	return strcmp(((const struct migration *)a)->name,
	    ((const struct migration *)b)->name);
}

enum fb_err
migrations_builtin(struct migration_set *set)
{
	size_t		i;
	enum fb_err	e;

	memset(set, 0, sizeof(*set));
	for (i = 0; i < fb_embedded_migrations_count; i++) {
		e = set_add(set, fb_embedded_migrations[i].name,
		    fb_embedded_migrations[i].sql, strlen(fb_embedded_migrations[i].sql));
		if (e != FB_OK) {
			migrations_free(set);
			return e;
		}
	}
	if (set->count > 1)
		qsort(set->items, set->count, sizeof(*set->items), cmp_migration);
	return FB_OK;
}

enum fb_err
migrations_from_dir(const char *dir, struct migration_set *set, FILE *errs)
{
	DIR		*d;
	struct dirent	*ent;
	char		 path[4096];
	struct buf	 text = BUF_INIT;
	char		 chunk[8192];
	FILE		*f;
	size_t		 n;
	enum fb_err	 e = FB_OK;

	memset(set, 0, sizeof(*set));
	if ((d = opendir(dir)) == NULL) {
		fprintf(errs, "migrate: %s: %s\n", dir, strerror(errno));
		return FB_ERR_IO;
	}
	while (e == FB_OK && (ent = readdir(d)) != NULL) {
		if (ent->d_name[0] == '.' || strlen(ent->d_name) < 4 ||
		    strcmp(ent->d_name + strlen(ent->d_name) - 4, ".sql") != 0)
			continue;
		if (!valid_name(ent->d_name)) {
			fprintf(errs, "migrate: %s/%s: name must be NNN_name.sql "
			    "(lowercase, digits, _)\n", dir, ent->d_name);
			e = FB_ERR_INVALID;
			break;
		}
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, ent->d_name) >=
		    sizeof(path)) {
			e = FB_ERR_TOOBIG;
			break;
		}
		if ((f = fopen(path, "rb")) == NULL) {
			fprintf(errs, "migrate: %s: %s\n", path, strerror(errno));
			e = FB_ERR_IO;
			break;
		}
		buf_reset(&text);
		while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
			buf_append(&text, chunk, n);
		if (ferror(f) || buf_failed(&text) || memchr(buf_str(&text), '\0', text.len)) {
			fprintf(errs, "migrate: %s: cannot read (or holds a NUL byte)\n", path);
			e = FB_ERR_IO;
		}
		fclose(f);
		if (e == FB_OK)
			e = set_add(set, ent->d_name, buf_str(&text), text.len);
	}
	closedir(d);
	buf_free(&text);
	if (e != FB_OK) {
		migrations_free(set);
		return e;
	}
	if (set->count > 1)
		qsort(set->items, set->count, sizeof(*set->items), cmp_migration);
	return FB_OK;
}

void
migrations_free(struct migration_set *set)
{
	size_t	i;

	for (i = 0; i < set->count; i++) {
		free(set->items[i].name);
		free(set->items[i].sql);
	}
	free(set->items);
	memset(set, 0, sizeof(*set));
}

/* The applied rows, name → checksum, applied_at, duration_ms. */
static enum fb_err
load_applied(struct db *db, PGresult **res)
{
	enum fb_err	e;

	if ((e = db_exec(db, NULL, create_table_sql, 0, NULL)) != FB_OK)
		return e;
	return db_query(db, res,
	    "SELECT name, checksum, "
	    " to_char(applied_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS applied_at,"
	    " duration_ms FROM schema_migrations ORDER BY name", 0, NULL);
}

static int
find_applied(const PGresult *res, const char *name)
{
	int	i;

	for (i = 0; i < PQntuples(res); i++)
		if (strcmp(db_get(res, i, "name"), name) == 0)
			return i;
	return -1;
}

/* Counts applied migrations whose text changed, and reports each. */
static int
check_edited(const struct migration_set *set, const PGresult *applied, FILE *errs)
{
	size_t	i;
	int	row, edited = 0;

	for (i = 0; i < set->count; i++) {
		row = find_applied(applied, set->items[i].name);
		if (row >= 0 && strcmp(db_get(applied, row, "checksum"),
		    set->items[i].checksum) != 0) {
			fprintf(errs, "migrate: schema/%s was edited after it was applied "
			    "(applied checksum %.12s…, file %.12s…); restore it and put the "
			    "change in a new migration\n", set->items[i].name,
			    db_get(applied, row, "checksum"), set->items[i].checksum);
			edited++;
		}
	}
	return edited;
}

static enum fb_err
apply_one(struct db *db, const struct migration *m, long *ms)
{
	struct timespec	 t0, t1;
	char		 dur[32];
	const char	*params[3];
	enum fb_err	 e;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if ((e = db_begin(db)) != FB_OK)
		return e;
	if ((e = db_exec_script(db, m->sql)) != FB_OK)
		goto fail;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	*ms = (long)((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000);
	snprintf(dur, sizeof(dur), "%ld", *ms);
	params[0] = m->name;
	params[1] = m->checksum;
	params[2] = dur;
	if ((e = db_exec(db, NULL, "INSERT INTO schema_migrations (name, checksum, "
	    "duration_ms) VALUES ($1, $2, $3)", 3, params)) != FB_OK)
		goto fail;
	return db_commit(db);
fail:
	db_rollback(db);
	return e;
}

static enum fb_err
lock_runners(struct db *db, FILE *errs)
{
	PGresult	*res;
	enum fb_err	 e;
	bool		 got;

	e = db_query(db, &res, "SELECT pg_try_advisory_lock(" MIGRATE_LOCK_KEY ") AS got",
	    0, NULL);
	if (e != FB_OK)
		return e;
	got = strcmp(db_get(res, 0, "got"), "t") == 0;
	PQclear(res);
	if (got)
		return FB_OK;
	fprintf(errs, "migrate: another runner holds the migration lock; waiting\n");
	e = db_query(db, &res, "SELECT pg_advisory_lock(" MIGRATE_LOCK_KEY ")", 0, NULL);
	PQclear(res);
	return e;
}

static void
unlock_runners(struct db *db)
{
	PGresult	*res;

	if (db_query(db, &res, "SELECT pg_advisory_unlock(" MIGRATE_LOCK_KEY ")",
	    0, NULL) == FB_OK)
		PQclear(res);
}

static int
run(struct db *db, const struct migration_set *set, const char *target,
    FILE *out, FILE *errs)
{
	PGresult	*applied = NULL;
	size_t		 i;
	long		 ms;
	int		 status = 1, done = 0;
	enum fb_err	 e;
	bool		 found = target == NULL;

	for (i = 0; target != NULL && i < set->count; i++)
		if (strcmp(set->items[i].name, target) == 0)
			found = true;
	if (!found) {
		fprintf(errs, "migrate: no migration named %s\n", target);
		return 1;
	}
	if ((e = lock_runners(db, errs)) != FB_OK) {
		fprintf(errs, "migrate: cannot take the lock: %s\n", fb_strerror(e));
		return 1;
	}
	if ((e = load_applied(db, &applied)) != FB_OK) {
		fprintf(errs, "migrate: cannot read schema_migrations: %s\n", fb_strerror(e));
		goto out;
	}
	if (check_edited(set, applied, errs) > 0)
		goto out;
	for (i = 0; i < set->count; i++) {
		if (find_applied(applied, set->items[i].name) >= 0)
			continue;
		if ((e = apply_one(db, &set->items[i], &ms)) != FB_OK) {
			fprintf(errs, "migrate: schema/%s failed (%s%s%s); nothing of it "
			    "was applied\n", set->items[i].name, fb_strerror(e),
			    db->sqlstate[0] ? ", SQLSTATE " : "", db->sqlstate);
			goto out;
		}
		fprintf(out, "applied %s (%ld ms)\n", set->items[i].name, ms);
		done++;
		if (target != NULL && strcmp(set->items[i].name, target) == 0)
			break;
	}
	if (done == 0)
		fprintf(out, "nothing to apply\n");
	status = 0;
out:
	PQclear(applied);
	unlock_runners(db);
	return status;
}

int
migrate_command(struct db *db, const struct migration_set *set,
    const char *command, const char *target, FILE *out, FILE *errs)
{
	PGresult	*applied = NULL;
	size_t		 i;
	int		 row, pending = 0, edited;
	enum fb_err	 e;

	if (strcmp(command, "run") == 0)
		return run(db, set, target, out, errs);
	if (strcmp(command, "status") != 0 && strcmp(command, "list") != 0 &&
	    strcmp(command, "pending") != 0) {
		fprintf(errs, "migrate: unknown command %s (status, list, pending, run [NAME])\n",
		    command);
		return 2;
	}
	if ((e = load_applied(db, &applied)) != FB_OK) {
		fprintf(errs, "migrate: cannot read schema_migrations: %s\n", fb_strerror(e));
		return 1;
	}
	edited = check_edited(set, applied, errs);
	for (i = 0; i < set->count; i++) {
		row = find_applied(applied, set->items[i].name);
		if (row < 0)
			pending++;
		if (strcmp(command, "pending") == 0) {
			if (row < 0)
				fprintf(out, "%s\n", set->items[i].name);
		} else if (strcmp(command, "list") == 0) {
			if (row >= 0)
				fprintf(out, "%-40s applied %s (%s ms)\n", set->items[i].name,
				    db_get(applied, row, "applied_at"),
				    db_get(applied, row, "duration_ms"));
			else
				fprintf(out, "%-40s pending\n", set->items[i].name);
		}
	}
	for (row = 0; row < PQntuples(applied); row++) {
		for (i = 0; i < set->count; i++)
			if (strcmp(set->items[i].name, db_get(applied, row, "name")) == 0)
				break;
		if (i == set->count)
			fprintf(errs, "migrate: %s is applied but unknown to this version\n",
			    db_get(applied, row, "name"));
	}
	if (strcmp(command, "status") == 0)
		fprintf(out, "%d applied, %d pending%s\n", PQntuples(applied), pending,
		    edited > 0 ? ", edited migrations found" : "");
	PQclear(applied);
	return edited > 0 ? 1 : 0;
}
