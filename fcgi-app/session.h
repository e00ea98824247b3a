/*
 * session — who is calling, and the tokens we hand out. auth_authenticate()
 * checks the bearer access token (signature, iss, aud, exp — the algorithm
 * fixed by configuration) and then that its session is live with one indexed
 * query, so revocation is immediate. auth_issue_tokens() answers 200 Tokens
 * for a session. The rate-limit helpers answer 429 with the headers of api.md.
 */
#ifndef FB_SESSION_H
#define FB_SESSION_H

#include <stdbool.h>

#include "request.h"

/* Fills req->user, req->session_id, req->amr; on failure answers 401 and
 * returns false. */
bool	auth_authenticate(struct request *req);
/* Only the token (AUTH_TOKEN routes): req->user.id and req->session_id are
 * set, and the handler must check the session in its own query, answering
 * auth_session_ended() when it is not live. */
bool	auth_token(struct request *req);
void	auth_session_ended(struct request *req);
/* Answers 200 (or status) Tokens for session sid of u with the given refresh
 * token; signs the access token. */
void	auth_answer_tokens(struct request *req, int status, const struct user *u,
	    const char *sid, const char *amr, const char *refresh_token);
/* Signs in u: a new session (amr JSON text), a refresh token, 200 Tokens. */
void	auth_sign_in(struct request *req, int status, const struct user *u, const char *amr);

/* Counts a hit on key (limit per window seconds; 0 disables); when over,
 * answers 429 with Retry-After and RateLimit-* and returns false. */
bool	limit_hit(struct request *req, const char *key, long limit, long window);
/* The same without counting (for "N failures per ..." limits). */
bool	limit_peek(struct request *req, const char *key, long limit, long window);
/* Counts a failure (no answer, whatever the count). */
void	limit_count(struct request *req, const char *key, long limit, long window);
void	limit_clear(struct request *req, const char *key);
/* Appends an audit entry for the current request (actor: the caller, if
 * any). details may be NULL; it is stolen. */
void	audit_request(struct request *req, const char *action, const char *target_type,
	    const char *target_id, json_t *details);

#endif
