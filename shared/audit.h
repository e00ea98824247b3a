/*
 * audit — the security audit trail (table audit_log, schema/001_init.sql).
 * Entries are appended inside the caller's transaction, so an entry exists
 * exactly when the change it records commits. The table refuses UPDATE,
 * DELETE and TRUNCATE, and a trigger chains every entry to the previous one
 * with SHA-256; audit_verify() walks the chain.
 *
 * What the chain proves: a row changed, inserted or removed behind the
 * application's back breaks it, unless every later hash was recomputed too —
 * which anyone with write access and the trigger disabled could do, since the
 * chain has no secret. Against that, record the head (audit verify prints it)
 * somewhere else and check it later with `audit verify --head SEQ:HASH`.
 */
#ifndef FB_AUDIT_H
#define FB_AUDIT_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "db.h"
#include "err.h"

struct audit_entry {
	const char	*actor_id;	/* the user who acted (or NULL: anonymous, system) */
	const char	*actor_ip;	/* (or NULL) */
	const char	*request_id;	/* (or NULL) */
	const char	*action;	/* [a-z0-9_.]{1,64}, e.g. "login.failure" */
	const char	*target_type;	/* (or NULL) e.g. "user" */
	const char	*target_id;	/* (or NULL) */
	json_t		*details;	/* (or NULL) an object; never secrets */
};

/* Appends an entry (on db's connection, in its open transaction if any). */
enum fb_err	audit_append(struct db *db, const struct audit_entry *e);

/* Entries newest first, filtered by actor (UUID), action and since (RFC
 * 3339), after the cursor `after`. *data a JSON array, *next a cursor or
 * NULL. FB_ERR_INVALID for a malformed filter or cursor. */
enum fb_err	audit_list(struct db *db, const char *actor_id, const char *action,
		    const char *since, const char *after, int limit, json_t **data, char **next);

struct audit_report {
	long	checked;		/* entries walked */
	long	broken_seq;		/* first entry whose link is broken (0: none) */
	char	why[160];		/* what is wrong there */
	long	head_seq;		/* the last entry */
	char	head_hash[65];		/* its hash, hex */
};

/* Walks the whole chain in order. FB_OK with broken_seq 0 when intact.
 * head, if not NULL, is "SEQ:HASH" of an earlier head that must still be in
 * the chain (so a rewritten or truncated tail is found too). */
enum fb_err	audit_verify(struct db *db, const char *head, struct audit_report *r);

#endif
