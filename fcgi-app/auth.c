/*
 * auth — /api/auth: registration, email verification, sign-in, refresh,
 * sign-out, sessions, password change and reset (api.md "Auth").
 *
 * Answers never tell whether an address has an account: register, resend and
 * forgot answer 202 whatever the address, and login with an unknown address
 * does the same password work as a wrong password.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "log.h"
#include "mailtoken.h"
#include "outbox.h"
#include "password.h"
#include "metrics.h"
#include "problem.h"
#include "routes.h"
#include "session.h"
#include "sessions.h"
#include "users.h"

#define VERIFY_TTL		(24 * 3600)	/* api.md: 24 h */
#define RESET_TTL		(30 * 60)	/* api.md: 30 min */
#define LOGIN_FAIL_WINDOW	(15 * 60)	/* failures per (IP, email) */
#define ACCOUNT_FAIL_WINDOW	3600		/* failures per account */
#define ACCOUNT_SLOW_MAX	300		/* the longest wait a slowed account sees */
#define MAIL_PER_ADDRESS	3		/* verification/reset mails an hour */

static const char pwd_amr[] = "[\"pwd\"]";

const struct field auth_register_in[] = {
	{ "email", FIELD_EMAIL, true, 0, 0 },
	{ "password", FIELD_STRING, true, 1, 1024 },
	{ "name", FIELD_STRING, true, 1, USER_NAME_MAX },
	FIELD_END
};
const struct field auth_token_in[] = {
	{ "token", FIELD_STRING, true, 1, 256 },
	FIELD_END
};
const struct field auth_email_in[] = {
	{ "email", FIELD_EMAIL, true, 0, 0 },
	FIELD_END
};
const struct field auth_login_in[] = {
	{ "email", FIELD_EMAIL, true, 0, 0 },
	{ "password", FIELD_STRING, true, 1, 1024 },
	FIELD_END
};
const struct field auth_refresh_in[] = {
	{ "refresh_token", FIELD_STRING, true, 1, 256 },
	FIELD_END
};
const struct field auth_logout_in[] = {
	{ "refresh_token", FIELD_STRING, false, 1, 256 },
	FIELD_END
};
const struct field auth_change_password_in[] = {
	{ "current_password", FIELD_STRING, true, 1, 1024 },
	{ "new_password", FIELD_STRING, true, 1, 1024 },
	FIELD_END
};
const struct field auth_reset_password_in[] = {
	{ "token", FIELD_STRING, true, 1, 256 },
	{ "new_password", FIELD_STRING, true, 1, 1024 },
	FIELD_END
};

static const char *
field_str(struct request *req, const char *name)
{
	return json_string_value(json_object_get(req->json, name));
}

/* A short, stable, non-reversible name for an address in limit keys. */
static void
email_key(const char *email, char out[33])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char	md[32];
	unsigned int	n = 0;
	char		lower[USER_EMAIL_MAX + 1];
	size_t		i;

	for (i = 0; email[i] != '\0' && i < USER_EMAIL_MAX; i++)
		lower[i] = (char)((email[i] >= 'A' && email[i] <= 'Z') ? email[i] + 32 : email[i]);
	lower[i] = '\0';
	if (EVP_Digest(lower, i, md, &n, EVP_sha256(), NULL) != 1)
		memset(md, 0, sizeof(md));
	for (i = 0; i < 16; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[32] = '\0';
}

/* APP_URL + path + token, for links in emails. */
static void
link_to(struct request *req, const char *path, const char *token, char *out, size_t len)
{
	const char	*base = req->app->cfg.app_url;
	size_t		 blen = strlen(base);

	while (blen > 0 && base[blen - 1] == '/')
		blen--;
	snprintf(out, len, "%.*s%s%s", (int)blen, base, path, token);
}

/* Strength per api.md; answers 422 with the reason when too weak. */
static bool
strong_enough(struct request *req, const char *field, const char *password,
    const char *email, const char *name)
{
	char	reason[PASSWORD_REASON_MAX];

	if (password_strong_enough(password, email, name, reason, sizeof(reason)))
		return true;
	resp_field_problem(req, field, "weak_password", reason);
	return false;
}

/* Queues the verification email for u (in the open transaction). */
static enum fb_err
send_verification(struct request *req, const struct user *u)
{
	char		 token[TOKEN_TEXT_LEN + 1], link[1024];
	json_t		*vars;
	enum fb_err	 e;

	if ((e = mailtoken_create(&req->app->db, u->id, MAILTOKEN_VERIFY, VERIFY_TTL,
	    token)) != FB_OK)
		return e;
	link_to(req, "/verify-email?token=", token, link, sizeof(link));
	vars = json_pack("{s:s,s:s}", "name", u->name, "link", link);
	e = outbox_email(&req->app->db, u->email, u->name, "verify_email", vars);
	json_decref(vars);
	return e;
}

/* POST /api/auth/register */
void
auth_register(struct request *req)
{
	const char	*email = field_str(req, "email"), *password = field_str(req, "password");
	const char	*name = field_str(req, "name");
	struct db	*db = &req->app->db;
	struct user	 u;
	char		*hash = NULL, link[1024];
	json_t		*vars;
	enum fb_err	 e;
	bool		 existing;

	if (strcmp(req->app->cfg.registration, "invite") == 0) {
		resp_problem(req, 403, "forbidden", "registration is by invitation only");
		return;
	}
	if (!strong_enough(req, "password", password, email, name))
		return;
	/* Hash even for a taken address: both answers cost the same. */
	if ((e = password_hash(&req->app->pw, password, &hash)) != FB_OK) {
		resp_error(req, e);
		return;
	}
	if ((e = db_begin(db)) != FB_OK)
		goto fail;
	e = users_create(db, email, name, hash, "user", false, &u);
	existing = e == FB_ERR_CONFLICT;
	if (existing) {
		db_rollback(db);
		if ((e = db_begin(db)) != FB_OK ||
		    (e = users_find_by_email(db, email, false, &u)) != FB_OK)
			goto fail;
		link_to(req, "/forgot-password", "", link, sizeof(link));
		vars = json_pack("{s:s,s:s}", "name", u.name, "link", link);
		e = outbox_email(db, u.email, u.name, "account_exists", vars);
		json_decref(vars);
		if (e == FB_OK)
			audit_request(req, "register.existing", "user", u.id, NULL);
	} else if (e == FB_OK) {
		e = send_verification(req, &u);
		if (e == FB_OK)
			audit_request(req, "register", "user", u.id, NULL);
	}
	if (e != FB_OK || (e = db_commit(db)) != FB_OK)
		goto fail;
	free(hash);
	user_clear(&u);
	resp_json(req, 202, json_pack("{s:s}", "message",
	    "Check your email to finish signing up."));
	return;
fail:
	db_rollback(db);
	free(hash);
	resp_error(req, e);
}

/* POST /api/auth/verify-email */
void
auth_verify_email(struct request *req)
{
	struct db	*db = &req->app->db;
	char		 uid[37];
	struct user	 u;
	enum fb_err	 e;

	if ((e = db_begin(db)) != FB_OK) {
		resp_error(req, e);
		return;
	}
	e = mailtoken_consume(db, MAILTOKEN_VERIFY, field_str(req, "token"), uid);
	if (e == FB_ERR_NOTFOUND) {
		db_rollback(db);
		resp_field_problem(req, "token", "invalid_token", "is invalid, used or expired");
		return;
	}
	if (e == FB_OK && (e = users_mark_verified(db, uid, &u)) == FB_OK) {
		snprintf(req->user_id, sizeof(req->user_id), "%s", uid);
		audit_request(req, "email.verify", "user", uid, NULL);
		e = db_commit(db);
	}
	if (e != FB_OK) {
		db_rollback(db);
		resp_error(req, e);
		return;
	}
	resp_json(req, 200, json_pack("{s:o}", "user", user_json(&u)));
}

/* At most MAIL_PER_ADDRESS mails an hour to one address, silently. */
static bool
mail_allowed(struct request *req, const char *what, const char *email)
{
	struct rl_result r;
	char		 key[96], ek[33];

	email_key(email, ek);
	snprintf(key, sizeof(key), "mail:%s:%s", what, ek);
	if (ratelimit_hit(&req->app->rl, key, MAIL_PER_ADDRESS, 3600, &r) != FB_OK)
		return true;
	return r.allowed;
}

/* POST /api/auth/resend-verification */
void
auth_resend_verification(struct request *req)
{
	const char	*email = field_str(req, "email");
	struct db	*db = &req->app->db;
	struct user	 u;
	enum fb_err	 e = FB_OK;

	if (mail_allowed(req, "verify", email) &&
	    users_find_by_email(db, email, false, &u) == FB_OK &&
	    !u.email_verified && !u.disabled) {
		if ((e = db_begin(db)) == FB_OK && (e = send_verification(req, &u)) == FB_OK)
			e = db_commit(db);
		if (e != FB_OK)
			db_rollback(db);
	}
	if (e != FB_OK) {
		resp_error(req, e);
		return;
	}
	resp_json(req, 202, json_pack("{s:s}", "message",
	    "If that address has an account waiting for verification, a new link is on its way."));
}

/*
 * An account that collected RATE_LIMIT_ACCOUNT_FAILURES failed logins in an
 * hour, from any addresses, is slowed: one attempt per 2^(excess) seconds, at
 * most ACCOUNT_SLOW_MAX. Never locked for good, so nobody can lock a real
 * user out, and guessing becomes hopeless.
 */
/* Keyed by the address, not the account, so an address without an account
 * is slowed the same way and the 429 tells nothing about existence. */
static bool
account_not_slowed(struct request *req, const char *ek)
{
	long			 limit = req->app->cfg.rl_account_failures;
	struct rl_result	 r;
	char			 key[80];
	long			 excess, wait;

	if (limit <= 0)
		return true;
	snprintf(key, sizeof(key), "login:acct:%s", ek);
	if (ratelimit_peek(&req->app->rl, key, RL_LIMIT_MAX, ACCOUNT_FAIL_WINDOW, &r) != FB_OK ||
	    r.count < limit)
		return true;
	excess = r.count - limit;
	wait = excess >= 9 ? ACCOUNT_SLOW_MAX : 1L << excess;
	if (wait > ACCOUNT_SLOW_MAX)
		wait = ACCOUNT_SLOW_MAX;
	snprintf(key, sizeof(key), "login:slow:%s", ek);
	return limit_hit(req, key, 1, wait);
}

/* POST /api/auth/login */
void
auth_login(struct request *req)
{
	const char	*email = field_str(req, "email"), *password = field_str(req, "password");
	const struct config *c = &req->app->cfg;
	struct db	*db = &req->app->db;
	struct user	 u;
	enum password_verdict v = PASSWORD_MISMATCH;
	char		 ipkey[160], acctkey[80], ek[33], *rehash = NULL;
	bool		 needs_rehash = false;
	enum fb_err	 e;

	email_key(email, ek);
	snprintf(ipkey, sizeof(ipkey), "login:fail:%s:%s", req->client_ip, ek);
	if (!limit_peek(req, ipkey, c->rl_login_failures, LOGIN_FAIL_WINDOW) ||
	    !account_not_slowed(req, ek))
		return;
	e = users_find_by_email(db, email, true, &u);
	if (e != FB_OK && e != FB_ERR_NOTFOUND) {
		resp_error(req, e);
		return;
	}
	if (e == FB_ERR_NOTFOUND || u.password_hash == NULL) {
		/* The same work as a wrong password, the same answer. */
		password_burn(&req->app->pw, password);
	} else {
		if (password_verify(&req->app->pw, u.password_hash, password, &v,
		    &needs_rehash) != FB_OK)
			v = PASSWORD_MISMATCH;
	}
	if (v != PASSWORD_MATCH) {
		limit_count(req, ipkey, c->rl_login_failures, LOGIN_FAIL_WINDOW);
		if (c->rl_account_failures > 0) {
			snprintf(acctkey, sizeof(acctkey), "login:acct:%s", ek);
			limit_count(req, acctkey, RL_LIMIT_MAX, ACCOUNT_FAIL_WINDOW);
		}
		metrics_add("logins_total{outcome=\"failure\"}", 1);
		audit_request(req, "login.failure", u.id[0] ? "user" : NULL, u.id[0] ? u.id : NULL,
		    u.id[0] ? NULL : json_pack("{s:s}", "email", email));
		user_clear(&u);
		resp_problem(req, 401, "invalid_credentials", "the email or password is wrong");
		return;
	}
	if (u.disabled) {
		user_clear(&u);
		resp_problem(req, 403, "forbidden", "this account is disabled");
		return;
	}
	if (!u.email_verified) {
		user_clear(&u);
		resp_problem(req, 403, "email_not_verified",
		    "confirm your address with the link we emailed you first");
		return;
	}
	/* An imported bcrypt hash, or other argon2 costs: upgrade it now. */
	if (needs_rehash && password_hash(&req->app->pw, password, &rehash) == FB_OK) {
		users_set_password(db, u.id, rehash);
		free(rehash);
	}
	limit_clear(req, ipkey);
	snprintf(req->user_id, sizeof(req->user_id), "%s", u.id);
	if (u.mfa_enabled) {
		/* The password was right; the second factor decides (api.md). */
		audit_request(req, "login.password", "user", u.id, NULL);
		mfa_challenge_answer(req, &u);
		user_clear(&u);
		return;
	}
	metrics_add("logins_total{outcome=\"success\"}", 1);
	audit_request(req, "login.success", "user", u.id, NULL);
	auth_sign_in(req, 200, &u, pwd_amr);
	user_clear(&u);
}

/* POST /api/auth/refresh */
void
auth_refresh(struct request *req)
{
	const struct config *c = &req->app->cfg;
	char		 new_token[TOKEN_TEXT_LEN + 1], sid[37], amr[64];
	struct user	 u;
	enum refresh_outcome out;
	enum fb_err	 e;

	e = refresh_rotate(&req->app->db, field_str(req, "refresh_token"), c->refresh_token_ttl,
	    new_token, sid, amr, sizeof(amr), &u, &out);
	if (e != FB_OK) {
		resp_error(req, e);
		return;
	}
	switch (out) {
	case REFRESH_ROTATED:
	case REFRESH_GRACE:
		snprintf(req->user_id, sizeof(req->user_id), "%s", u.id);
		snprintf(req->session_id, sizeof(req->session_id), "%s", sid);
		auth_answer_tokens(req, 200, &u, sid, amr, new_token);
		break;
	case REFRESH_REUSED:
		snprintf(req->user_id, sizeof(req->user_id), "%s", u.id);
		audit_request(req, "refresh.reuse", "session", sid, NULL);
		resp_problem(req, 401, "refresh_token_reused", "this refresh token was already "
		    "used; the session has been ended for safety");
		break;
	case REFRESH_INVALID:
		resp_problem(req, 401, "refresh_token_invalid",
		    "the refresh token is invalid or expired");
		break;
	}
	user_clear(&u);
}

/* POST /api/auth/logout */
void
auth_logout(struct request *req)
{
	enum fb_err	e;

	e = sessions_revoke(&req->app->db, req->session_id, req->user.id);
	if (e != FB_OK && e != FB_ERR_NOTFOUND) {
		resp_error(req, e);
		return;
	}
	audit_request(req, "logout", "session", req->session_id, NULL);
	resp_empty(req, 204);
}

/* GET /api/auth/sessions */
void
auth_sessions_list(struct request *req)
{
	json_t		*data;
	enum fb_err	 e;

	if ((e = sessions_list(&req->app->db, req->user.id, req->session_id, &data)) != FB_OK) {
		resp_error(req, e);
		return;
	}
	resp_json(req, 200, json_pack("{s:o}", "data", data));
}

/* DELETE /api/auth/sessions/{id} */
void
auth_session_delete(struct request *req)
{
	const char	*id = request_path_param(req, "id");
	enum fb_err	 e;

	e = valid_uuid(id) ? sessions_revoke(&req->app->db, id, req->user.id) : FB_ERR_NOTFOUND;
	if (e != FB_OK) {
		resp_error(req, e);
		return;
	}
	audit_request(req, "session.revoke", "session", id, NULL);
	resp_empty(req, 204);
}

/* DELETE /api/auth/sessions */
void
auth_sessions_delete_others(struct request *req)
{
	long		n = 0;
	enum fb_err	e;

	if ((e = sessions_revoke_all(&req->app->db, req->user.id, req->session_id, &n)) != FB_OK) {
		resp_error(req, e);
		return;
	}
	audit_request(req, "session.revoke_others", "user", req->user.id,
	    json_pack("{s:I}", "sessions", (json_int_t)n));
	resp_empty(req, 204);
}

/* Queues "password changed" to u. */
static enum fb_err
send_password_changed(struct request *req, const struct user *u)
{
	json_t		*vars = json_pack("{s:s}", "name", u->name);
	enum fb_err	 e;

	e = outbox_email(&req->app->db, u->email, u->name, "password_changed", vars);
	json_decref(vars);
	return e;
}

/* POST /api/auth/change-password */
void
auth_change_password(struct request *req)
{
	const char	*current = field_str(req, "current_password");
	const char	*fresh = field_str(req, "new_password");
	struct db	*db = &req->app->db;
	struct user	 u;
	enum password_verdict v = PASSWORD_MISMATCH;
	char		*hash = NULL, key[160];
	enum fb_err	 e;

	snprintf(key, sizeof(key), "login:fail:%s:pw:%s", req->client_ip, req->user.id);
	if (!limit_peek(req, key, req->app->cfg.rl_login_failures, LOGIN_FAIL_WINDOW))
		return;
	if ((e = users_find_by_email(db, req->user.email, true, &u)) != FB_OK) {
		resp_error(req, e);
		return;
	}
	if (u.password_hash == NULL || password_verify(&req->app->pw, u.password_hash, current,
	    &v, NULL) != FB_OK || v != PASSWORD_MATCH) {
		limit_count(req, key, req->app->cfg.rl_login_failures, LOGIN_FAIL_WINDOW);
		user_clear(&u);
		resp_field_problem(req, "current_password", "incorrect", "is not your current password");
		return;
	}
	if (!strong_enough(req, "new_password", fresh, u.email, u.name)) {
		user_clear(&u);
		return;
	}
	if ((e = password_hash(&req->app->pw, fresh, &hash)) != FB_OK ||
	    (e = db_begin(db)) != FB_OK)
		goto out;
	if ((e = users_set_password(db, u.id, hash)) == FB_OK &&
	    (e = sessions_revoke_all(db, u.id, req->session_id, NULL)) == FB_OK &&
	    (e = send_password_changed(req, &u)) == FB_OK) {
		audit_request(req, "password.change", "user", u.id, NULL);
		e = db_commit(db);
	}
out:
	if (e != FB_OK)
		db_rollback(db);
	free(hash);
	user_clear(&u);
	if (e != FB_OK)
		resp_error(req, e);
	else
		resp_empty(req, 204);
}

/* POST /api/auth/forgot-password */
void
auth_forgot_password(struct request *req)
{
	const char	*email = field_str(req, "email");
	struct db	*db = &req->app->db;
	char		 token[TOKEN_TEXT_LEN + 1], link[1024];
	struct user	 u;
	json_t		*vars;
	enum fb_err	 e = FB_OK;

	if (mail_allowed(req, "reset", email) &&
	    users_find_by_email(db, email, false, &u) == FB_OK && !u.disabled) {
		if ((e = db_begin(db)) == FB_OK &&
		    (e = mailtoken_create(db, u.id, MAILTOKEN_RESET, RESET_TTL, token)) == FB_OK) {
			link_to(req, "/reset-password?token=", token, link, sizeof(link));
			vars = json_pack("{s:s,s:s}", "name", u.name, "link", link);
			e = outbox_email(db, u.email, u.name, "password_reset", vars);
			json_decref(vars);
			if (e == FB_OK) {
				audit_request(req, "password.reset_request", "user", u.id, NULL);
				e = db_commit(db);
			}
		}
		if (e != FB_OK)
			db_rollback(db);
	}
	if (e != FB_OK) {
		resp_error(req, e);
		return;
	}
	resp_json(req, 202, json_pack("{s:s}", "message",
	    "If that address has an account, a link to reset the password is on its way."));
}

/* POST /api/auth/reset-password */
void
auth_reset_password(struct request *req)
{
	const char	*fresh = field_str(req, "new_password");
	struct db	*db = &req->app->db;
	char		 uid[37], *hash = NULL;
	struct user	 u;
	enum fb_err	 e;

	memset(&u, 0, sizeof(u));
	if ((e = db_begin(db)) != FB_OK) {
		resp_error(req, e);
		return;
	}
	/* Consumed inside the transaction: a refused password rolls it back,
	 * so the link still works for a second try. */
	e = mailtoken_consume(db, MAILTOKEN_RESET, field_str(req, "token"), uid);
	if (e == FB_ERR_NOTFOUND) {
		db_rollback(db);
		resp_field_problem(req, "token", "invalid_token", "is invalid, used or expired");
		return;
	}
	if (e != FB_OK || (e = users_find(db, uid, &u)) != FB_OK)
		goto fail;
	if (!strong_enough(req, "new_password", fresh, u.email, u.name)) {
		db_rollback(db);
		return;
	}
	if ((e = password_hash(&req->app->pw, fresh, &hash)) != FB_OK ||
	    (e = users_set_password(db, uid, hash)) != FB_OK ||
	    (e = users_mark_verified(db, uid, &u)) != FB_OK ||
	    (e = sessions_revoke_all(db, uid, NULL, NULL)) != FB_OK ||
	    (e = send_password_changed(req, &u)) != FB_OK)
		goto fail;
	snprintf(req->user_id, sizeof(req->user_id), "%s", uid);
	audit_request(req, "password.reset", "user", uid, NULL);
	if ((e = db_commit(db)) != FB_OK)
		goto fail;
	free(hash);
	resp_empty(req, 204);
	return;
fail:
	db_rollback(db);
	free(hash);
	resp_error(req, e);
}
