#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "db.h"
#include "log.h"

static void	db_prepared_free(struct db *db);

enum fb_err
db_classify(const char *sqlstate)
{
	if (sqlstate == NULL || *sqlstate == '\0')
		return FB_ERR_UNAVAILABLE;	/* client-side: connection lost */
	if (strcmp(sqlstate, "23505") == 0 || strcmp(sqlstate, "23P01") == 0)
		return FB_ERR_CONFLICT;		/* unique / exclusion violation */
	if (strcmp(sqlstate, "40001") == 0 || strcmp(sqlstate, "40P01") == 0)
		return FB_ERR_RETRY;		/* serialization failure / deadlock */
	if (strcmp(sqlstate, "57014") == 0)
		return FB_ERR_TIMEOUT;		/* statement timeout / cancel */
	if (strncmp(sqlstate, "08", 2) == 0 || strcmp(sqlstate, "57P01") == 0 ||
	    strcmp(sqlstate, "57P02") == 0 || strcmp(sqlstate, "57P03") == 0 ||
	    strcmp(sqlstate, "53300") == 0)
		return FB_ERR_UNAVAILABLE;	/* connection, shutdown, too many clients */
	if (strncmp(sqlstate, "22", 2) == 0 || strncmp(sqlstate, "23", 2) == 0)
		return FB_ERR_INVALID;		/* data exception / other constraint */
	return FB_ERR_INTERNAL;
}

/* Server notices ("relation already exists, skipping") are not errors. */
static void
db_notice(void *arg, const char *message)
{
	(void)arg;
	log_event(FBLOG_DEBUG, json_pack("{s:s,s:s}", "msg", "db: notice", "notice", message));
}

static enum fb_err
db_connect(struct db *db)
{
	char		 options[64];
	const char	*keys[6], *vals[6];
	int		 n = 0;

	if (db->conn != NULL) {
		PQfinish(db->conn);
		db->conn = NULL;
	}
	/* Our defaults first; the URL (expanded from dbname) overrides them. */
	keys[n] = "connect_timeout"; vals[n++] = "5";
	if (db->application_name[0] != '\0') {
		keys[n] = "application_name"; vals[n++] = db->application_name;
	}
	if (db->statement_timeout_ms > 0) {
		snprintf(options, sizeof(options), "-c statement_timeout=%d",
		    db->statement_timeout_ms);
		keys[n] = "options"; vals[n++] = options;
	}
	keys[n] = "dbname"; vals[n++] = db->url;
	keys[n] = NULL; vals[n] = NULL;
	db->conn = PQconnectdbParams(keys, vals, 1);
	db->conn_gen++;
	if (db->conn == NULL) {
		log_msg(FBLOG_ERROR, "db: out of memory");
		return FB_ERR_NOMEM;
	}
	PQsetNoticeProcessor(db->conn, db_notice, NULL);
	if (PQstatus(db->conn) != CONNECTION_OK) {
		log_event(FBLOG_WARN, json_pack("{s:s,s:s}", "msg", "db: cannot connect",
		    "error", PQerrorMessage(db->conn)));
		return FB_ERR_UNAVAILABLE;
	}
	return FB_OK;
}

enum fb_err
db_open(struct db *db, const char *url, int statement_timeout_ms,
    const char *application_name)
{
	memset(db, 0, sizeof(*db));
	db->statement_timeout_ms = statement_timeout_ms;
	if ((db->url = strdup(url)) == NULL)
		return FB_ERR_NOMEM;
	if (application_name != NULL)
		snprintf(db->application_name, sizeof(db->application_name), "%s",
		    application_name);
	return db_connect(db);
}

void
db_close(struct db *db)
{
	if (db->conn != NULL)
		PQfinish(db->conn);
	db_prepared_free(db);
	if (db->url != NULL) {
		OPENSSL_cleanse(db->url, strlen(db->url));
		free(db->url);
	}
	memset(db, 0, sizeof(*db));
}

enum fb_err
db_ensure(struct db *db)
{
	if (db->conn != NULL && PQstatus(db->conn) == CONNECTION_OK)
		return FB_OK;
	if (db->in_txn)
		return FB_ERR_UNAVAILABLE;
	if (db->conn != NULL) {
		PQreset(db->conn);
		db->conn_gen++;
		if (PQstatus(db->conn) == CONNECTION_OK) {
			log_msg(FBLOG_INFO, "db: reconnected");
			return FB_OK;
		}
		log_msg(FBLOG_WARN, "db: reconnect failed");
		return FB_ERR_UNAVAILABLE;
	}
	return db_connect(db);
}

/* The per-connection cache of prepared statements: an open-addressing table
 * keyed by the SQL string's address, confirmed by its text. */
#define DB_PREPARED_MAX 256

struct db_prepared {
	const char	*key;		/* the caller's SQL pointer (or NULL: free) */
	char		*sql;		/* our copy, to confirm a hit */
	unsigned	 gen;		/* conn_gen it was prepared in */
};

/* The name of a prepared statement of sql, preparing it when needed; NULL
 * when it cannot be (the caller then sends the text, unprepared). */
static const char *
db_prepare(struct db *db, const char *sql, int nparams, char name[16])
{
	struct db_prepared	*p;
	PGresult		*res;
	size_t			 i, n;
	bool			 ok;

	if (db->prepared == NULL &&
	    (db->prepared = calloc(DB_PREPARED_MAX, sizeof(*db->prepared))) == NULL)
		return NULL;
	i = ((uintptr_t)sql >> 4) % DB_PREPARED_MAX;
	for (n = 0; n < DB_PREPARED_MAX; n++, i = (i + 1) % DB_PREPARED_MAX) {
		p = &db->prepared[i];
		if (p->key == NULL || (p->key == sql && strcmp(p->sql, sql) == 0))
			break;
	}
	if (n == DB_PREPARED_MAX)
		return NULL;		/* full: run it unprepared */
	snprintf(name, 16, "fb%zu", i);
	if (p->key != NULL && p->gen == db->conn_gen)
		return name;
	if (p->key == NULL) {
		if ((p->sql = strdup(sql)) == NULL)
			return NULL;
		p->key = sql;
	}
	res = PQprepare(db->conn, name, sql, nparams, NULL);
	ok = res != NULL && PQresultStatus(res) == PGRES_COMMAND_OK;
	PQclear(res);
	if (!ok)
		return NULL;		/* its error shows when it runs unprepared */
	p->gen = db->conn_gen;
	return name;
}

static void
db_prepared_free(struct db *db)
{
	size_t	i;

	if (db->prepared == NULL)
		return;
	for (i = 0; i < DB_PREPARED_MAX; i++)
		free(db->prepared[i].sql);
	free(db->prepared);
	db->prepared = NULL;
}

/* Runs sql once; returns the result (or NULL) and sets db->sqlstate. */
static PGresult *
db_run(struct db *db, const char *sql, int nparams, const char *const *params,
    ExecStatusType want, enum fb_err *err)
{
	PGresult	*res;
	const char	*state, *stmt;
	ExecStatusType	 st;
	int		 attempt;
	char		 name[16];

	db->sqlstate[0] = '\0';
	for (attempt = 0; attempt < 2; attempt++) {
		if ((*err = db_ensure(db)) != FB_OK)
			return NULL;
		if (nparams < 0)
			res = PQexec(db->conn, sql);
		else if ((stmt = db_prepare(db, sql, nparams, name)) != NULL)
			res = PQexecPrepared(db->conn, stmt, nparams, params, NULL, NULL, 0);
		else
			res = PQexecParams(db->conn, sql, nparams, NULL, params, NULL, NULL, 0);
		st = res != NULL ? PQresultStatus(res) : PGRES_FATAL_ERROR;
		/* PGRES_EMPTY_QUERY as `want` marks a script: any success counts. */
		if (st == want || (want == PGRES_EMPTY_QUERY &&
		    (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK))) {
			*err = FB_OK;
			return res;
		}
		state = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
		snprintf(db->sqlstate, sizeof(db->sqlstate), "%s", state ? state : "");
		*err = st == PGRES_FATAL_ERROR || st == PGRES_NONFATAL_ERROR ?
		    db_classify(state) : FB_ERR_INTERNAL;
		log_event(*err == FB_ERR_CONFLICT ? FBLOG_DEBUG : FBLOG_WARN,
		    json_pack("{s:s,s:s,s:s}", "msg", "db: statement failed",
		    "sqlstate", db->sqlstate,
		    "error", res != NULL ? PQresultErrorMessage(res) : PQerrorMessage(db->conn)));
		PQclear(res);
		/* Our prepared statement vanished (DISCARD ALL, a pooler): prepare
		 * again on the retry. */
		if (strcmp(db->sqlstate, "26000") == 0 && attempt == 0) {
			db->conn_gen++;
			continue;
		}
		/* A lost connection outside a transaction: the statement did not
		 * run on any live server, so one retry on a new connection is safe. */
		if (PQstatus(db->conn) == CONNECTION_BAD && !db->in_txn && attempt == 0)
			continue;
		if (PQstatus(db->conn) == CONNECTION_BAD)
			*err = FB_ERR_UNAVAILABLE;
		return NULL;
	}
	return NULL;
}

enum fb_err
db_query(struct db *db, PGresult **res, const char *sql, int nparams,
    const char *const *params)
{
	enum fb_err	e;

	*res = db_run(db, sql, nparams, params, PGRES_TUPLES_OK, &e);
	return e;
}

enum fb_err
db_exec(struct db *db, long *affected, const char *sql, int nparams,
    const char *const *params)
{
	PGresult	*res;
	enum fb_err	 e;
	const char	*n;

	res = db_run(db, sql, nparams, params, PGRES_COMMAND_OK, &e);
	if (res == NULL)
		return e;
	if (affected != NULL) {
		n = PQcmdTuples(res);
		*affected = *n != '\0' ? strtol(n, NULL, 10) : 0;
	}
	PQclear(res);
	return FB_OK;
}

enum fb_err
db_exec_script(struct db *db, const char *sql)
{
	PGresult	*res;
	enum fb_err	 e;

	/* PQexec runs a multi-statement string; its last result decides. */
	res = db_run(db, sql, -1, NULL, PGRES_EMPTY_QUERY, &e);
	PQclear(res);
	return e;
}

enum fb_err
db_begin(struct db *db)
{
	enum fb_err	e;

	if ((e = db_exec(db, NULL, "BEGIN", 0, NULL)) == FB_OK)
		db->in_txn = true;
	return e;
}

enum fb_err
db_commit(struct db *db)
{
	enum fb_err	e;

	e = db_exec(db, NULL, "COMMIT", 0, NULL);
	db->in_txn = false;
	return e;
}

void
db_rollback(struct db *db)
{
	PGresult	*res;

	if (db->conn != NULL && PQstatus(db->conn) == CONNECTION_OK &&
	    PQtransactionStatus(db->conn) != PQTRANS_IDLE) {
		res = PQexec(db->conn, "ROLLBACK");
		PQclear(res);
	}
	db->in_txn = false;
}

const char *
db_get(const PGresult *res, int row, const char *name)
{
	int	col;

	if ((col = PQfnumber(res, name)) < 0) {
		log_msg(FBLOG_ERROR, "db: no column \"%s\" in result", name);
		abort();
	}
	return PQgetisnull(res, row, col) ? NULL : PQgetvalue(res, row, col);
}
