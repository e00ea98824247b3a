#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "audit.h"
#include "log.h"
#include "problem.h"
#include "rand.h"
#include "session.h"
#include "sessions.h"
#include "tokencache.h"

#define LEEWAY_SECONDS 30	/* clock skew allowed on exp and nbf */

static void
unauthorized(struct request *req, const char *detail)
{
	resp_header(req, "WWW-Authenticate", "Bearer error=\"invalid_token\"");
	resp_problem(req, 401, "unauthorized", detail);
}

/* The bearer token's signature and claims only; fills req->user.id and
 * req->session_id (and req->user_id for the log). */
bool
auth_token(struct request *req)
{
	const struct config *c = &req->app->cfg;
	struct jwt_expect	 ex = { c->jwt_issuer, c->jwt_audience, LEEWAY_SECONDS, 0 };
	const char		*auth, *sub, *sid;
	json_t			*claims = NULL;
	struct tokencache_hit	 hit;
	double			 exp;

	auth = request_param(req, "HTTP_AUTHORIZATION");
	if (auth == NULL || strncasecmp(auth, "Bearer ", 7) != 0 || auth[7] == '\0') {
		unauthorized(req, "send an access token: Authorization: Bearer <token>");
		return false;
	}
	/* A token this responder verified before (shared/tokencache.h). */
	if (tokencache_get(auth + 7, time(NULL), LEEWAY_SECONDS, &hit)) {
		snprintf(req->session_id, sizeof(req->session_id), "%s", hit.sid);
		snprintf(req->user.id, sizeof(req->user.id), "%s", hit.sub);
		snprintf(req->user_id, sizeof(req->user_id), "%s", hit.sub);
		return true;
	}
	if (jwt_verify(&req->app->jwt, auth + 7, &ex, &claims) != FB_OK) {
		unauthorized(req, "the access token is invalid or expired");
		return false;
	}
	sub = json_string_value(json_object_get(claims, "sub"));
	sid = json_string_value(json_object_get(claims, "sid"));
	if (sub == NULL || sid == NULL || !valid_uuid(sub) || !valid_uuid(sid)) {
		json_decref(claims);
		unauthorized(req, "the access token is invalid or expired");
		return false;
	}
	snprintf(req->session_id, sizeof(req->session_id), "%s", sid);
	snprintf(req->user.id, sizeof(req->user.id), "%s", sub);
	snprintf(req->user_id, sizeof(req->user_id), "%s", sub);
	exp = json_number_value(json_object_get(claims, "exp"));	/* checked by jwt_verify */
	tokencache_put(auth + 7, exp, sub, sid);
	json_decref(claims);
	return true;
}

void
auth_session_ended(struct request *req)
{
	req->user_id[0] = '\0';
	unauthorized(req, "the session has ended");
}

bool
auth_authenticate(struct request *req)
{
	char		 uid[37];
	enum fb_err	 e;

	if (!auth_token(req))
		return false;
	/* sessions_auth clears the user it fills: pass a copy of the id. */
	snprintf(uid, sizeof(uid), "%s", req->user.id);
	e = sessions_auth(&req->app->db, req->session_id, uid, &req->user, req->amr,
	    sizeof(req->amr));
	if (e == FB_ERR_NOTFOUND) {
		auth_session_ended(req);
		return false;
	}
	if (e != FB_OK) {
		resp_error(req, e);
		return false;
	}
	return true;
}

void
auth_answer_tokens(struct request *req, int status, const struct user *u, const char *sid,
    const char *amr, const char *refresh_token)
{
	const struct config *c = &req->app->cfg;
	json_t		*claims, *amr_json;
	char		 jti[UUID_STR_LEN];
	char		*access = NULL;
	time_t		 now = time(NULL);

	amr_json = json_loads(amr != NULL ? amr : "[\"pwd\"]", 0, NULL);
	if (amr_json == NULL || rand_uuid(jti) != FB_OK) {
		json_decref(amr_json);
		resp_error(req, FB_ERR_INTERNAL);
		return;
	}
	/* api.md: iss, aud, sub, sid, role, amr, iat, exp, jti. */
	claims = json_pack("{s:s,s:s,s:s,s:s,s:s,s:o,s:I,s:I,s:s}", "iss", c->jwt_issuer,
	    "aud", c->jwt_audience, "sub", u->id, "sid", sid, "role", u->role, "amr", amr_json,
	    "iat", (json_int_t)now, "exp", (json_int_t)(now + c->access_token_ttl), "jti", jti);
	if (claims == NULL || jwt_sign(&req->app->jwt, claims, &access) != FB_OK) {
		json_decref(claims);
		resp_error(req, FB_ERR_INTERNAL);
		return;
	}
	json_decref(claims);
	resp_json(req, status, json_pack("{s:s,s:s,s:i,s:s,s:i,s:o}",
	    "access_token", access, "token_type", "Bearer", "expires_in", c->access_token_ttl,
	    "refresh_token", refresh_token, "refresh_expires_in", c->refresh_token_ttl,
	    "user", user_json(u)));
	free(access);
}

void
auth_sign_in(struct request *req, int status, const struct user *u, const char *amr)
{
	const struct config *c = &req->app->cfg;
	char		 sid[37], refresh[TOKEN_TEXT_LEN + 1];
	enum fb_err	 e;

	if ((e = sessions_create(&req->app->db, u->id, req->client_ip[0] ? req->client_ip : NULL,
	    request_param(req, "HTTP_USER_AGENT"), amr, c->session_max_age, sid)) != FB_OK ||
	    (e = refresh_issue(&req->app->db, sid, c->refresh_token_ttl, refresh)) != FB_OK) {
		resp_error(req, e);
		return;
	}
	snprintf(req->session_id, sizeof(req->session_id), "%s", sid);
	auth_answer_tokens(req, status, u, sid, amr, refresh);
}

static void
limit_headers(struct request *req, const struct rl_result *r)
{
	char	lim[RL_HEADER_SIZE], rem[RL_HEADER_SIZE], reset[RL_HEADER_SIZE],
		retry[RL_HEADER_SIZE];

	ratelimit_headers(r, lim, rem, reset, retry);
	resp_header(req, "RateLimit-Limit", lim);
	resp_header(req, "RateLimit-Remaining", rem);
	resp_header(req, "RateLimit-Reset", reset);
	if (!r->allowed)
		resp_header(req, "Retry-After", retry);
}

static bool
limit_answer(struct request *req, const struct rl_result *r)
{
	if (r->allowed)
		return true;
	limit_headers(req, r);
	resp_problem(req, 429, "rate_limited", "too many requests; try again later");
	return false;
}

bool
limit_hit(struct request *req, const char *key, long limit, long window)
{
	struct rl_result	r;

	if (limit <= 0)
		return true;
	if (ratelimit_hit(&req->app->rl, key, limit, window, &r) != FB_OK)
		return true;	/* fail open: a broken counter must not lock people out */
	return limit_answer(req, &r);
}

bool
limit_peek(struct request *req, const char *key, long limit, long window)
{
	struct rl_result	r;

	if (limit <= 0)
		return true;
	if (ratelimit_peek(&req->app->rl, key, limit, window, &r) != FB_OK)
		return true;
	if (!r.allowed && r.retry_after <= 0)
		r.retry_after = r.reset_seconds > 0 ? r.reset_seconds : 1;
	return limit_answer(req, &r);
}

void
limit_count(struct request *req, const char *key, long limit, long window)
{
	struct rl_result	r;

	if (limit > 0)
		ratelimit_hit(&req->app->rl, key, limit, window, &r);
}

void
limit_clear(struct request *req, const char *key)
{
	ratelimit_clear(&req->app->rl, key);
}

void
audit_request(struct request *req, const char *action, const char *target_type,
    const char *target_id, json_t *details)
{
	struct audit_entry	e;

	memset(&e, 0, sizeof(e));
	e.actor_id = req->user_id[0] != '\0' ? req->user_id : NULL;
	e.actor_ip = req->client_ip[0] != '\0' ? req->client_ip : NULL;
	e.request_id = req->request_id;
	e.action = action;
	e.target_type = target_type;
	e.target_id = target_id;
	e.details = details;
	audit_append(&req->app->db, &e);
	json_decref(details);
}
