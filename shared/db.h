/*
 * db — one PostgreSQL connection per process (libpq), parameterised queries
 * only. A broken connection is reset before the next statement, and a
 * statement that failed because the connection was lost is retried once when
 * no transaction is open, so a restarted server heals without a restart of
 * ours. Errors are classified by SQLSTATE; the server's message is logged
 * here and never handed to a client.
 *
 * Statements are prepared once per connection and then executed by name
 * (the parse and plan are most of a short query's cost). The cache is keyed
 * by the SQL text, so callers pass their constant SQL strings as they are.
 */
#ifndef FB_DB_H
#define FB_DB_H

#include <stdbool.h>

#include <libpq-fe.h>

#include "err.h"

struct db {
	PGconn	*conn;		/* (or NULL before the first connect) */
	char	*url;
	int	 statement_timeout_ms;	/* 0: the server's default */
	bool	 in_txn;	/* between db_begin and db_commit/db_rollback */
	char	 sqlstate[6];	/* of the last failure ("" if none) */
	char	 application_name[32];
	unsigned conn_gen;	/* bumped on every (re)connect: prepared statements are per session */
	struct db_prepared *prepared;	/* the statement cache (or NULL) */
};

/* Remembers url and tries to connect; the struct is usable (and must be
 * db_close'd) even when the server is down: statements reconnect. */
enum fb_err	db_open(struct db *db, const char *url, int statement_timeout_ms,
		    const char *application_name);
void		db_close(struct db *db);
/* Connects or resets when the connection is not usable. */
enum fb_err	db_ensure(struct db *db);

/* A statement that returns rows: *res is the caller's to PQclear() on FB_OK
 * (NULL otherwise). params may hold NULLs (SQL NULL). */
enum fb_err	db_query(struct db *db, PGresult **res, const char *sql,
		    int nparams, const char *const *params);
/* A statement that returns no rows; *affected (may be NULL) gets the count. */
enum fb_err	db_exec(struct db *db, long *affected, const char *sql,
		    int nparams, const char *const *params);
/* Runs a script of several statements (migrations only: no parameters). */
enum fb_err	db_exec_script(struct db *db, const char *sql);

enum fb_err	db_begin(struct db *db);
enum fb_err	db_commit(struct db *db);
/* Safe to call after any failure; always leaves in_txn false. */
void		db_rollback(struct db *db);

/* The value of column name in row, or NULL when SQL NULL. Aborts on a
 * misspelt column name (a bug, caught by every test that runs the query). */
const char	*db_get(const PGresult *res, int row, const char *name);
/* Maps a SQLSTATE to an fb_err (23505 → CONFLICT, 40001/40P01 → RETRY, ...). */
enum fb_err	db_classify(const char *sqlstate);

#endif
