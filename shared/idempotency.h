/*
 * idempotency — Idempotency-Key for POSTs that create things (api.md
 * Conventions): the first answer is stored per (user, key) for 24 hours and
 * replayed for a request with the same body; another body with the same key
 * is refused. A session advisory lock on (user, key), held from idem_begin
 * to idem_finish, makes two concurrent requests with one key do the work
 * once: the second waits, then replays.
 */
#ifndef FB_IDEMPOTENCY_H
#define FB_IDEMPOTENCY_H

#include <stddef.h>

#include "db.h"
#include "err.h"

#define IDEM_KEY_MAX	255
#define IDEM_TTL_HOURS	24

enum idem_state {
	IDEM_OWNER,	/* first with this key: run, then idem_finish() */
	IDEM_REPLAY,	/* answered before: replay the stored answer */
	IDEM_MISMATCH,	/* the key was used with another body */
};

struct idem_answer {
	int	 status;
	char	*content_type;	/* (or NULL) */
	char	*body;		/* (or NULL) */
	size_t	 len;
};

/* True for a key of 1 to 255 printable ASCII characters. */
bool		idem_key_valid(const char *key);
/* hash: SHA-256 of the request (method, route and body). On IDEM_REPLAY,
 * *answer is filled (free with idem_answer_free). On IDEM_OWNER the lock is
 * held until idem_finish(). FB_ERR_TIMEOUT when another request with the key
 * runs longer than the statement timeout. */
enum fb_err	idem_begin(struct db *db, const char *user_id, const char *key,
		    const unsigned char hash[32], enum idem_state *state,
		    struct idem_answer *answer);
/* Stores the answer (a 5xx is not stored: the key may be tried again) and
 * releases the lock. */
enum fb_err	idem_finish(struct db *db, const char *user_id, const char *key, int status,
		    const char *content_type, const char *body, size_t len);
void		idem_answer_free(struct idem_answer *a);

#endif
