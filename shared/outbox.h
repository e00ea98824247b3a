/*
 * outbox — emails to send, as email.send jobs queued in the caller's
 * transaction: the mail goes out exactly when the change that causes it
 * commits, and never for one that rolled back.
 */
#ifndef FB_OUTBOX_H
#define FB_OUTBOX_H

#include <jansson.h>

#include "db.h"
#include "err.h"

/* Queues template (conf/templates/TEMPLATE.*) for to (display name to_name,
 * may be NULL) with vars (an object, not stolen; may be NULL). */
enum fb_err	outbox_email(struct db *db, const char *to, const char *to_name,
		    const char *template_name, json_t *vars);

#endif
