/*
 * users — the accounts table: creation, look-ups, profile, password, role and
 * disabling, deletion, and the admin list. Emails are unique without regard
 * to case (the index is on lower(email)). The struct is caller-owned;
 * user_clear() frees and wipes the password hash it may hold.
 */
#ifndef FB_USERS_H
#define FB_USERS_H

#include <stdbool.h>

#include <jansson.h>

#include "db.h"
#include "err.h"

#define USER_EMAIL_MAX	254
#define USER_NAME_MAX	200	/* characters */

struct user {
	char	 id[37];
	char	 email[USER_EMAIL_MAX + 1];
	char	 name[4 * USER_NAME_MAX + 1];
	char	 role[8];		/* "user" or "admin" */
	bool	 email_verified;
	bool	 mfa_enabled;
	bool	 disabled;
	char	 created_at[32];	/* RFC 3339 UTC */
	char	 updated_at[32];
	char	*password_hash;		/* only from users_find_by_email(with_hash) (or NULL) */
};

/* The api.md User object. */
json_t		*user_json(const struct user *u);
void		 user_clear(struct user *u);

/* FB_ERR_CONFLICT when the email is taken. role NULL: "user". */
enum fb_err	 users_create(struct db *db, const char *email, const char *name,
		    const char *password_hash, const char *role, bool verified, struct user *out);
/* FB_ERR_NOTFOUND when no such user. */
enum fb_err	 users_find(struct db *db, const char *id, struct user *out);
enum fb_err	 users_find_by_email(struct db *db, const char *email, bool with_hash,
		    struct user *out);
enum fb_err	 users_set_password(struct db *db, const char *id, const char *hash);
enum fb_err	 users_set_name(struct db *db, const char *id, const char *name, struct user *out);
enum fb_err	 users_mark_verified(struct db *db, const char *id, struct user *out);
/* role NULL and disabled < 0 leave those unchanged. */
enum fb_err	 users_admin_update(struct db *db, const char *id, const char *role,
		    int disabled, struct user *out);
enum fb_err	 users_delete(struct db *db, const char *id);
/* A page of users (newest first), optionally matching q in email or name;
 * after is a cursor (or NULL). *data is a JSON array, *next a cursor or NULL. */
enum fb_err	 users_list(struct db *db, const char *q, const char *after, int limit,
		    json_t **data, char **next);

#endif
