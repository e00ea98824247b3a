/*
 * settings — per-user settings (category/key → any JSON value, at most 16 KiB)
 * and preferences (theme, language, time zone, notification channels, with
 * defaults). Everything here belongs to one user: another user's row is
 * simply not found.
 */
#ifndef FB_SETTINGS_H
#define FB_SETTINGS_H

#include <stdbool.h>

#include <jansson.h>

#include "db.h"
#include "err.h"

#define SETTING_VALUE_MAX 16384	/* bytes of a value's JSON text */

/* True for a category or key: [a-z0-9_.-]{1,64}. */
bool		settings_name_valid(const char *s);
/* {"<category>": {"<key>": value}} of the user (category NULL: all). With
 * a category, *out is that category's {"<key>": value}. */
enum fb_err	settings_get(struct db *db, const char *user_id, const char *category,
		    json_t **out);
/* All the user's settings as the JSON text {"<category>":{"<key>":value}},
 * categories and keys in byte order: the document the database keeps per
 * user (schema/011_settings_doc.sql), {} when none (*text malloc'd). */
enum fb_err	settings_all_text(struct db *db, const char *user_id, char **text);
/* The same, with the session check in the same statement (one round trip):
 * FB_ERR_NOTFOUND when session sid of user_id is not live. */
enum fb_err	settings_all_for_session(struct db *db, const char *sid, const char *user_id,
		    char **text);
/* Upserts; *out is {"category","key","value","updated_at"}. FB_ERR_TOOBIG
 * over SETTING_VALUE_MAX. *previous (may be NULL) gets the old value or NULL. */
enum fb_err	settings_put(struct db *db, const char *user_id, const char *category,
		    const char *key, json_t *value, json_t **out, json_t **previous);
/* FB_ERR_NOTFOUND when absent; *previous (may be NULL) the deleted value. */
enum fb_err	settings_delete(struct db *db, const char *user_id, const char *category,
		    const char *key, json_t **previous);

/* The api.md preferences object, defaults included. */
enum fb_err	preferences_get(struct db *db, const char *user_id, json_t **out);
/* Applies a validated partial object (theme, language, timezone,
 * notifications.email/push); *out the result. FB_ERR_INVALID when timezone
 * is not an IANA name known to the database. */
enum fb_err	preferences_put(struct db *db, const char *user_id, json_t *changes,
		    json_t **out);
/* Whether the user takes email notifications (true by default). */
bool		preferences_email_ok(struct db *db, const char *user_id);

#endif
