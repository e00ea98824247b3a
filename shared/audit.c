#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "cursor.h"
#include "validate.h"
#include "log.h"

enum fb_err
audit_append(struct db *db, const struct audit_entry *e)
{
	const char	*params[7];
	char		*details = NULL;
	enum fb_err	 err;

	if (e->details != NULL &&
	    (details = json_dumps(e->details, JSON_COMPACT | JSON_SORT_KEYS)) == NULL)
		return FB_ERR_NOMEM;
	params[0] = e->actor_id;
	params[1] = e->actor_ip;
	params[2] = e->request_id;
	params[3] = e->action;
	params[4] = e->target_type;
	params[5] = e->target_id;
	params[6] = details != NULL ? details : "{}";
	err = db_exec(db, NULL,
	    "INSERT INTO audit_log (actor_id, actor_ip, request_id, action, target_type,"
	    " target_id, details) VALUES ($1, $2::inet, $3, $4, $5, $6, $7::jsonb)",
	    7, params);
	free(details);
	if (err != FB_OK)
		log_msg(FBLOG_ERROR, "audit: cannot append %s", e->action);
	return err;
}

/* Rows per round trip while walking the chain. */
#define AUDIT_BATCH 5000

enum fb_err
audit_verify(struct db *db, const char *head, struct audit_report *r)
{
	PGresult	*res;
	const char	*params[2];
	char		 after[24] = "0", prev_hash[65] = "", head_seq[24] = "";
	char		 batch[16];
	const char	*colon = NULL;
	long		 seq, expect = 1;
	int		 i, n;
	bool		 head_found = head == NULL;
	enum fb_err	 e;

	memset(r, 0, sizeof(*r));
	if (head != NULL) {
		colon = strchr(head, ':');
		if (colon == NULL || colon == head || (size_t)(colon - head) >= sizeof(head_seq) ||
		    strlen(colon + 1) != 64 || strspn(colon + 1, "0123456789abcdef") != 64)
			return FB_ERR_INVALID;
		memcpy(head_seq, head, (size_t)(colon - head));
		/* A sequence number: digits, not 0 (entries start at 1). */
		if (strspn(head_seq, "0123456789") != strlen(head_seq) || head_seq[0] == '0')
			return FB_ERR_INVALID;
	}
	for (;;) {
		snprintf(batch, sizeof(batch), "%d", AUDIT_BATCH);
		params[0] = after;
		params[1] = batch;
		/* Each row's hash recomputed from its content and the hash it
		 * claims to follow (the same function the trigger used). */
		e = db_query(db, &res,
		    "SELECT seq, encode(hash, 'hex') AS hash, encode(prev_hash, 'hex') AS prev,"
		    " hash = sha256(prev_hash || convert_to(audit_log_canonical(a), 'UTF8')) AS ok"
		    " FROM audit_log a WHERE seq > $1::bigint ORDER BY seq LIMIT $2::int",
		    2, params);
		if (e != FB_OK)
			return e;
		n = PQntuples(res);
		for (i = 0; i < n; i++) {
			seq = strtol(db_get(res, i, "seq"), NULL, 10);
			r->checked++;
			if (seq != expect) {
				snprintf(r->why, sizeof(r->why), seq > expect ?
				    "entries %ld to %ld are missing" : "entry numbers go backwards",
				    expect, seq - 1);
			} else if (strcmp(db_get(res, i, "prev"), prev_hash) != 0) {
				snprintf(r->why, sizeof(r->why), "it does not follow entry %ld "
				    "(inserted, or the entry before it was removed or changed)",
				    seq - 1);
			} else if (strcmp(db_get(res, i, "ok"), "t") != 0) {
				snprintf(r->why, sizeof(r->why),
				    "its content does not match its hash (changed)");
			}
			if (r->why[0] != '\0') {
				r->broken_seq = seq;
				PQclear(res);
				return FB_OK;
			}
			if (head != NULL && strcmp(db_get(res, i, "seq"), head_seq) == 0) {
				if (colon == NULL ||
				    strcmp(db_get(res, i, "hash"), colon + 1) != 0) {
					r->broken_seq = seq;
					snprintf(r->why, sizeof(r->why), "the recorded head hash "
					    "differs: the chain was rewritten from here or before");
					PQclear(res);
					return FB_OK;
				}
				head_found = true;
			}
			snprintf(prev_hash, sizeof(prev_hash), "%s", db_get(res, i, "hash"));
			r->head_seq = seq;
			snprintf(r->head_hash, sizeof(r->head_hash), "%s", prev_hash);
			expect = seq + 1;
			snprintf(after, sizeof(after), "%ld", seq);
		}
		PQclear(res);
		if (n < AUDIT_BATCH)
			break;
	}
	if (!head_found) {
		r->broken_seq = strtol(head_seq, NULL, 10);
		snprintf(r->why, sizeof(r->why), "the recorded head is gone: the chain "
		    "was cut to %ld entries", r->head_seq);
	}
	return FB_OK;
}

enum fb_err
audit_list(struct db *db, const char *actor_id, const char *action, const char *since,
    const char *after, int limit, json_t **data, char **next)
{
	char		 seq[CURSOR_PART_MAX + 1], kind[CURSOR_PART_MAX + 1], lim[16];
	const char	*params[5];
	PGresult	*res;
	json_t		*details;
	int		 i, n;
	enum fb_err	 e;

	*data = NULL;
	*next = NULL;
	if ((actor_id != NULL && !valid_uuid(actor_id)) ||
	    (action != NULL && strlen(action) > 64) || (since != NULL && strlen(since) > 40) ||
	    (after != NULL && (cursor_decode(after, seq, kind) != FB_OK ||
	    strcmp(kind, "seq") != 0 || strspn(seq, "0123456789") != strlen(seq))))
		return FB_ERR_INVALID;
	snprintf(lim, sizeof(lim), "%d", limit + 1);
	params[0] = actor_id;
	params[1] = action;
	params[2] = since;
	params[3] = after != NULL ? seq : NULL;
	params[4] = lim;
	e = db_query(db, &res,
	    "SELECT seq, id, to_char(occurred_at AT TIME ZONE 'UTC',"
	    " 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS occurred_at, actor_id, host(actor_ip) AS ip,"
	    " request_id, action, target_type, target_id, details::text AS details"
	    " FROM audit_log WHERE ($1::uuid IS NULL OR actor_id = $1::uuid)"
	    " AND ($2::text IS NULL OR action = $2) AND ($3::timestamptz IS NULL OR"
	    " occurred_at >= $3::timestamptz) AND ($4::bigint IS NULL OR seq < $4::bigint)"
	    " ORDER BY seq DESC LIMIT $5::int", 5, params);
	if (e != FB_OK)
		return e;
	*data = json_array();
	n = PQntuples(res);
	for (i = 0; i < n && i < limit; i++) {
		details = json_loads(db_get(res, i, "details"), 0, NULL);
		json_array_append_new(*data, json_pack("{s:s,s:s,s:s?,s:s?,s:s?,s:s,s:s?,s:s?,s:o*}",
		    "id", db_get(res, i, "id"), "occurred_at", db_get(res, i, "occurred_at"),
		    "actor_id", db_get(res, i, "actor_id"), "ip", db_get(res, i, "ip"),
		    "request_id", db_get(res, i, "request_id"), "action", db_get(res, i, "action"),
		    "target_type", db_get(res, i, "target_type"),
		    "target_id", db_get(res, i, "target_id"), "details", details));
	}
	if (n > limit)
		*next = cursor_encode(db_get(res, limit - 1, "seq"), "seq");
	PQclear(res);
	return FB_OK;
}
