/*
 * mfa — /api/auth/2fa: TOTP enrollment (a QR code that scans to the
 * otpauth URI), confirmation with the first code (2FA is off until then),
 * the second sign-in step with a TOTP or a backup code, backup-code
 * regeneration, and disabling with the password and a current code.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "mfa.h"
#include "outbox.h"
#include "password.h"
#include "problem.h"
#include "qr.h"
#include "routes.h"
#include "session.h"
#include "users.h"

const struct field mfa_code_in[] = {
	{ "code", FIELD_STRING, true, 1, 32 },
	FIELD_END
};
const struct field mfa_verify_in[] = {
	{ "mfa_token", FIELD_STRING, true, 1, 256 },
	{ "code", FIELD_STRING, true, 1, 32 },
	FIELD_END
};
const struct field mfa_disable_in[] = {
	{ "password", FIELD_STRING, true, 1, 1024 },
	{ "code", FIELD_STRING, true, 1, 32 },
	FIELD_END
};

static const char otp_amr[] = "[\"pwd\",\"otp\"]";

static const char *
str(struct request *req, const char *name)
{
	return json_string_value(json_object_get(req->json, name));
}

/* 503 not_configured without ENCRYPTION_KEYS: TOTP secrets are stored sealed. */
static bool
keys_configured(struct request *req)
{
	if (req->app->keys.count > 0)
		return true;
	resp_problem(req, 503, "not_configured",
	    "two-factor authentication needs ENCRYPTION_KEYS");
	return false;
}

static void
invalid_code(struct request *req, const char *detail)
{
	resp_problem(req, 401, "invalid_code", detail);
}

static enum fb_err
notify(struct request *req, const char *template_name)
{
	json_t		*vars = json_pack("{s:s}", "name", req->user.name);
	enum fb_err	 e;

	e = outbox_email(&req->app->db, req->user.email, req->user.name, template_name, vars);
	json_decref(vars);
	return e;
}

/* POST /api/auth/2fa/enroll */
void
mfa_enroll(struct request *req)
{
	unsigned char	 secret[TOTP_SECRET_BYTES];
	char		 base32[TOTP_BASE32_LEN + 1];
	char		*uri = NULL, *svg = NULL, *png = NULL;
	enum fb_err	 e;

	if (!keys_configured(req))
		return;
	if (req->user.mfa_enabled) {
		resp_problem(req, 409, "conflict", "two-factor authentication is already on");
		return;
	}
	if ((e = totp_secret_new(secret, base32)) == FB_OK &&
	    (e = mfa_set_pending(&req->app->db, &req->app->keys, req->user.id, secret)) == FB_OK &&
	    (e = totp_uri(req->app->cfg.app_name, req->user.email, base32, &uri)) == FB_OK &&
	    (e = qr_svg(uri, &svg)) == FB_OK)
		e = qr_png_data_uri(uri, &png);
	OPENSSL_cleanse(secret, sizeof(secret));
	if (e != FB_OK) {
		OPENSSL_cleanse(base32, sizeof(base32));
		free(uri);
		free(svg);
		free(png);
		resp_error(req, e);
		return;
	}
	audit_request(req, "mfa.enroll", "user", req->user.id, NULL);
	resp_json(req, 200, json_pack("{s:s,s:s,s:s,s:s}", "secret", base32, "otpauth_uri", uri,
	    "qr_svg", svg, "qr_png", png));
	OPENSSL_cleanse(base32, sizeof(base32));
	OPENSSL_cleanse(uri, strlen(uri));
	free(uri);
	free(svg);
	free(png);
}

/* POST /api/auth/2fa/confirm {code} */
void
mfa_confirm(struct request *req)
{
	struct db	*db = &req->app->db;
	json_t		*codes = NULL;
	enum fb_err	 e;

	if (!keys_configured(req))
		return;
	if (req->user.mfa_enabled) {
		resp_problem(req, 409, "conflict", "two-factor authentication is already on");
		return;
	}
	e = mfa_check_code(db, &req->app->keys, req->user.id, true, str(req, "code"), time(NULL));
	if (e == FB_ERR_NOTFOUND || e == FB_ERR_INVALID) {
		invalid_code(req, "the code is wrong; enroll first, then send the current code");
		return;
	}
	if (e != FB_OK || (e = db_begin(db)) != FB_OK) {
		resp_error(req, e);
		return;
	}
	if ((e = mfa_enable(db, &req->app->keys, req->user.id)) == FB_OK &&
	    (e = mfa_backup_codes_new(db, req->user.id, &codes)) == FB_OK &&
	    (e = notify(req, "mfa_enabled")) == FB_OK) {
		audit_request(req, "mfa.enable", "user", req->user.id, NULL);
		e = db_commit(db);
	}
	if (e != FB_OK) {
		db_rollback(db);
		json_decref(codes);
		resp_error(req, e);
		return;
	}
	resp_json(req, 200, json_pack("{s:o}", "backup_codes", codes));
}

/* POST /api/auth/2fa/disable {password, code} */
void
mfa_disable_route(struct request *req)
{
	struct db	*db = &req->app->db;
	enum password_verdict v = PASSWORD_MISMATCH;
	struct user	 u;
	enum fb_err	 e;

	if (!req->user.mfa_enabled) {
		resp_problem(req, 409, "conflict", "two-factor authentication is off");
		return;
	}
	if ((e = users_find_by_email(db, req->user.email, true, &u)) != FB_OK) {
		resp_error(req, e);
		return;
	}
	if (u.password_hash == NULL || password_verify(&req->app->pw, u.password_hash,
	    str(req, "password"), &v, NULL) != FB_OK || v != PASSWORD_MATCH) {
		user_clear(&u);
		resp_field_problem(req, "password", "incorrect", "is not your password");
		return;
	}
	user_clear(&u);
	e = mfa_check_code(db, &req->app->keys, req->user.id, false, str(req, "code"), time(NULL));
	if (e == FB_ERR_NOTFOUND || e == FB_ERR_INVALID) {
		invalid_code(req, "the code is wrong or was already used");
		return;
	}
	if (e != FB_OK || (e = db_begin(db)) != FB_OK) {
		resp_error(req, e);
		return;
	}
	if ((e = mfa_disable(db, req->user.id)) == FB_OK &&
	    (e = notify(req, "mfa_disabled")) == FB_OK) {
		audit_request(req, "mfa.disable", "user", req->user.id, NULL);
		e = db_commit(db);
	}
	if (e != FB_OK) {
		db_rollback(db);
		resp_error(req, e);
		return;
	}
	resp_empty(req, 204);
}

/* POST /api/auth/2fa/backup-codes {code} */
void
mfa_backup_codes_route(struct request *req)
{
	struct db	*db = &req->app->db;
	json_t		*codes = NULL;
	enum fb_err	 e;

	if (!req->user.mfa_enabled) {
		resp_problem(req, 409, "conflict", "two-factor authentication is off");
		return;
	}
	e = mfa_check_code(db, &req->app->keys, req->user.id, false, str(req, "code"), time(NULL));
	if (e == FB_ERR_NOTFOUND || e == FB_ERR_INVALID) {
		invalid_code(req, "the code is wrong or was already used");
		return;
	}
	if (e != FB_OK || (e = db_begin(db)) != FB_OK) {
		resp_error(req, e);
		return;
	}
	if ((e = mfa_backup_codes_new(db, req->user.id, &codes)) == FB_OK) {
		audit_request(req, "mfa.backup_codes", "user", req->user.id, NULL);
		e = db_commit(db);
	}
	if (e != FB_OK) {
		db_rollback(db);
		json_decref(codes);
		resp_error(req, e);
		return;
	}
	resp_json(req, 200, json_pack("{s:o}", "backup_codes", codes));
}

/*
 * The second step of a sign-in, for both kinds of code. The challenge row
 * stays locked for the whole transaction, so concurrent attempts with one
 * mfa_token run one after the other; a wrong code counts against it.
 */
static void
second_step(struct request *req, bool backup)
{
	struct db	*db = &req->app->db;
	char		 uid[37], cid[37];
	struct user	 u;
	enum fb_err	 e;

	memset(&u, 0, sizeof(u));
	if ((e = db_begin(db)) != FB_OK) {
		resp_error(req, e);
		return;
	}
	e = mfa_challenge_take(db, str(req, "mfa_token"), uid, cid);
	if (e == FB_ERR_NOTFOUND) {
		db_rollback(db);
		invalid_code(req, "the sign-in attempt has expired or was used; sign in again");
		return;
	}
	if (e != FB_OK)
		goto fail;
	e = backup ? mfa_backup_code_use(db, uid, str(req, "code")) :
	    mfa_check_code(db, &req->app->keys, uid, false, str(req, "code"), time(NULL));
	if (e == FB_ERR_NOTFOUND || e == FB_ERR_INVALID) {
		if ((e = mfa_challenge_fail(db, cid)) != FB_OK)
			goto fail;
		snprintf(req->user_id, sizeof(req->user_id), "%s", uid);
		audit_request(req, backup ? "mfa.backup_code.failure" : "mfa.code.failure",
		    "user", uid, NULL);
		if ((e = db_commit(db)) != FB_OK)
			goto fail;
		invalid_code(req, "the code is wrong or was already used");
		return;
	}
	if (e != FB_OK || (e = mfa_challenge_done(db, cid)) != FB_OK ||
	    (e = users_find(db, uid, &u)) != FB_OK)
		goto fail;
	if (u.disabled) {
		db_rollback(db);
		resp_problem(req, 403, "forbidden", "this account is disabled");
		return;
	}
	snprintf(req->user_id, sizeof(req->user_id), "%s", uid);
	audit_request(req, "login.success", "user", uid,
	    json_pack("{s:s}", "second_factor", backup ? "backup_code" : "totp"));
	if ((e = db_commit(db)) != FB_OK)
		goto fail;
	auth_sign_in(req, 200, &u, otp_amr);
	return;
fail:
	db_rollback(db);
	resp_error(req, e);
}

/* POST /api/auth/2fa/verify {mfa_token, code} */
void
mfa_verify(struct request *req)
{
	second_step(req, false);
}

/* POST /api/auth/2fa/backup/verify {mfa_token, code} */
void
mfa_backup_verify(struct request *req)
{
	second_step(req, true);
}

/* After a correct password when 2FA is on: 200 MFA challenge (api.md). */
void
mfa_challenge_answer(struct request *req, const struct user *u)
{
	char		token[TOKEN_TEXT_LEN + 1];
	enum fb_err	e;

	if ((e = mfa_challenge_new(&req->app->db, u->id, req->client_ip[0] ? req->client_ip :
	    NULL, request_param(req, "HTTP_USER_AGENT"), token)) != FB_OK) {
		resp_error(req, e);
		return;
	}
	resp_json(req, 200, json_pack("{s:b,s:s,s:i,s:[ss]}", "mfa_required", 1,
	    "mfa_token", token, "mfa_expires_in", MFA_CHALLENGE_TTL, "methods", "totp",
	    "backup_code"));
}
