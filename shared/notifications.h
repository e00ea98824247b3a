/*
 * notifications — in-app notifications for a user, and the one function the
 * rest of the system calls to notify someone: it stores the notification and,
 * when the user's preferences allow, queues an email copy (the "notification"
 * template) in the same transaction.
 */
#ifndef FB_NOTIFICATIONS_H
#define FB_NOTIFICATIONS_H

#include <stdbool.h>

#include <jansson.h>

#include "db.h"
#include "err.h"

/* Notifies user_id (data: an object or NULL). *out (may be NULL) gets the
 * api.md notification object. FB_ERR_NOTFOUND when there is no such user. */
enum fb_err	notify_user(struct db *db, const char *user_id, const char *type,
		    const char *title, const char *body, json_t *data, json_t **out);
/* A page of the user's notifications, newest first (unread only when asked);
 * *unread is the count of unread ones. */
enum fb_err	notifications_list(struct db *db, const char *user_id, bool unread_only,
		    const char *after, int limit, json_t **data, char **next, long *unread);
/* Marks one read (idempotent). FB_ERR_NOTFOUND when not the user's. */
enum fb_err	notifications_read(struct db *db, const char *user_id, const char *id,
		    json_t **out);
enum fb_err	notifications_read_all(struct db *db, const char *user_id, long *count);

#endif
