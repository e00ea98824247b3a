/*
 * migrate — the schema migrations in schema/NNN_name.sql. They are compiled
 * into the programs (so a binary always carries the schema it expects), or
 * read from a directory with --dir. Each runs in its own transaction and is
 * recorded in schema_migrations with its SHA-256; an applied migration whose
 * text changed is an error naming the file; a session advisory lock keeps two
 * runners from applying anything at the same time.
 */
#ifndef FB_MIGRATE_H
#define FB_MIGRATE_H

#include <stddef.h>
#include <stdio.h>

#include "db.h"
#include "err.h"

struct migration {
	char	*name;		/* "001_init.sql" */
	char	*sql;
	char	 checksum[65];	/* SHA-256, hex */
};

struct migration_set {
	struct migration *items;	/* sorted by name */
	size_t		  count;
};

/* Built-in migrations (generated from schema/ at build time). */
enum fb_err	migrations_builtin(struct migration_set *set);
/* Every NNN_name.sql of dir. Other files are ignored; a malformed name is
 * reported to errs and is an error. */
enum fb_err	migrations_from_dir(const char *dir, struct migration_set *set,
		    FILE *errs);
void		migrations_free(struct migration_set *set);

/*
 * Runs an operator command: "status", "list", "pending" or "run" (target:
 * apply up to and including this name; NULL: everything pending). Writes
 * results to out and problems to errs. Returns a process exit status:
 * 0 done, 1 failed (a migration failed or an applied one was edited).
 */
int		migrate_command(struct db *db, const struct migration_set *set,
		    const char *command, const char *target, FILE *out, FILE *errs);

#endif
