#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "log.h"
#include "mfa.h"
#include "rand.h"

enum fb_err
mfa_set_pending(struct db *db, const struct crypto_keyring *keys, const char *user_id,
    const unsigned char secret[TOTP_SECRET_BYTES])
{
	const char	*params[2];
	char		*sealed = NULL;
	enum fb_err	 e;

	if ((e = crypto_seal(keys, "user_mfa", "pending_secret", user_id, secret,
	    TOTP_SECRET_BYTES, &sealed)) != FB_OK)
		return e;
	params[0] = user_id;
	params[1] = sealed;
	e = db_exec(db, NULL, "INSERT INTO user_mfa (user_id, pending_secret, pending_at)"
	    " VALUES ($1::uuid, $2, now()) ON CONFLICT (user_id) DO UPDATE SET"
	    " pending_secret = $2, pending_at = now(), updated_at = now()", 2, params);
	free(sealed);
	return e;
}

enum fb_err
mfa_check_code(struct db *db, const struct crypto_keyring *keys, const char *user_id,
    bool pending, const char *code, time_t now)
{
	const char	*params[2] = { user_id, NULL };
	const char	*column = pending ? "pending_secret" : "secret";
	char		 stepbuf[24];
	unsigned char	*secret = NULL;
	size_t		 len = 0;
	long long	 last = -1, step = 0;
	PGresult	*res;
	long		 n = 0;
	enum fb_err	 e;

	e = db_query(db, &res, pending ?
	    "SELECT pending_secret AS s, coalesce(last_step, -1) AS last FROM user_mfa"
	    " WHERE user_id = $1::uuid" :
	    "SELECT secret AS s, coalesce(last_step, -1) AS last FROM user_mfa"
	    " WHERE user_id = $1::uuid", 1, params);
	if (e != FB_OK)
		return e;
	if (PQntuples(res) != 1 || db_get(res, 0, "s") == NULL) {
		PQclear(res);
		return FB_ERR_NOTFOUND;
	}
	last = strtoll(db_get(res, 0, "last"), NULL, 10);
	e = crypto_open(keys, "user_mfa", column, user_id, db_get(res, 0, "s"), &secret, &len);
	PQclear(res);
	if (e != FB_OK) {
		log_msg(FBLOG_ERROR, "mfa: the TOTP secret of a user does not open");
		return e == FB_ERR_NOMEM ? e : FB_ERR_INTERNAL;
	}
	e = totp_verify(secret, len, code, now, last, &step);
	crypto_free_secret(secret, len);
	if (e != FB_OK)
		return e;
	/* RFC 6238 §5.2: a code accepted once is refused afterwards. The
	 * condition makes two concurrent uses of one code a single success. */
	snprintf(stepbuf, sizeof(stepbuf), "%lld", step);
	params[1] = stepbuf;
	if ((e = db_exec(db, &n, "UPDATE user_mfa SET last_step = $2::bigint, updated_at = now()"
	    " WHERE user_id = $1::uuid AND coalesce(last_step, -1) < $2::bigint",
	    2, params)) != FB_OK)
		return e;
	return n == 1 ? FB_OK : FB_ERR_NOTFOUND;
}

enum fb_err
mfa_enable(struct db *db, const struct crypto_keyring *keys, const char *user_id)
{
	const char	*params[2] = { user_id, NULL };
	unsigned char	*secret = NULL;
	char		*sealed = NULL;
	size_t		 len = 0;
	PGresult	*res;
	enum fb_err	 e;

	if ((e = db_query(db, &res, "SELECT pending_secret FROM user_mfa WHERE user_id = $1::uuid"
	    " FOR UPDATE", 1, params)) != FB_OK)
		return e;
	if (PQntuples(res) != 1 || db_get(res, 0, "pending_secret") == NULL) {
		PQclear(res);
		return FB_ERR_NOTFOUND;
	}
	/* Sealed anew for its new column: the associated data names it. */
	e = crypto_open(keys, "user_mfa", "pending_secret", user_id,
	    db_get(res, 0, "pending_secret"), &secret, &len);
	PQclear(res);
	if (e != FB_OK)
		return e;
	e = crypto_seal(keys, "user_mfa", "secret", user_id, secret, len, &sealed);
	crypto_free_secret(secret, len);
	if (e != FB_OK)
		return e;
	params[1] = sealed;
	e = db_exec(db, NULL, "UPDATE user_mfa SET secret = $2, pending_secret = NULL,"
	    " pending_at = NULL, enabled_at = now(), updated_at = now() WHERE user_id = $1::uuid",
	    2, params);
	free(sealed);
	if (e == FB_OK)
		e = db_exec(db, NULL, "UPDATE users SET mfa_enabled = true, updated_at = now()"
		    " WHERE id = $1::uuid", 1, params);
	return e;
}

enum fb_err
mfa_disable(struct db *db, const char *user_id)
{
	const char	*params[1] = { user_id };
	enum fb_err	 e;

	if ((e = db_exec(db, NULL, "DELETE FROM user_mfa WHERE user_id = $1::uuid", 1, params)) ||
	    (e = db_exec(db, NULL, "DELETE FROM backup_codes WHERE user_id = $1::uuid", 1, params)) ||
	    (e = db_exec(db, NULL, "DELETE FROM mfa_challenges WHERE user_id = $1::uuid", 1, params)))
		return e;
	return db_exec(db, NULL, "UPDATE users SET mfa_enabled = false, updated_at = now()"
	    " WHERE id = $1::uuid", 1, params);
}

/* Lower-case, without dashes and spaces, into out (17 bytes): the form that
 * is hashed. FB_ERR_INVALID unless 16 base32 characters remain. */
static enum fb_err
normalise_code(const char *code, char out[17])
{
	size_t	n = 0;

	for (; code != NULL && *code != '\0'; code++) {
		if (*code == '-' || *code == ' ')
			continue;
		if (n == 16)
			return FB_ERR_INVALID;
		out[n] = (char)tolower((unsigned char)*code);
		if (!((out[n] >= 'a' && out[n] <= 'z') || (out[n] >= '2' && out[n] <= '7')))
			return FB_ERR_INVALID;
		n++;
	}
	out[n] = '\0';
	return n == 16 ? FB_OK : FB_ERR_INVALID;
}

static enum fb_err
code_hash_hex(const char norm[17], char hex[TOKEN_HEX_LEN + 1])
{
	unsigned char	md[32];
	unsigned int	n = 0;

	if (EVP_Digest(norm, 16, md, &n, EVP_sha256(), NULL) != 1 || n != 32)
		return FB_ERR_INTERNAL;
	token_hex(md, hex);
	return FB_OK;
}

enum fb_err
mfa_backup_codes_new(struct db *db, const char *user_id, json_t **codes)
{
	static const char b32[] = "abcdefghijklmnopqrstuvwxyz234567";
	unsigned char	 raw[10];
	char		 norm[17], shown[MFA_BACKUP_CODE_LEN + 1], hex[TOKEN_HEX_LEN + 1];
	const char	*params[2] = { user_id, hex };
	enum fb_err	 e;
	int		 i, j, bits, o;
	unsigned int	 acc;

	*codes = json_array();
	if (*codes == NULL)
		return FB_ERR_NOMEM;
	if ((e = db_exec(db, NULL, "DELETE FROM backup_codes WHERE user_id = $1::uuid",
	    1, params)) != FB_OK)
		goto fail;
	for (i = 0; i < MFA_BACKUP_CODES; i++) {
		/* 80 random bits as 16 base32 characters. */
		if ((e = rand_bytes(raw, sizeof(raw))) != FB_OK)
			goto fail;
		for (j = 0, bits = 0, acc = 0, o = 0; j < 10; j++) {
			acc = (acc << 8) | raw[j];
			bits += 8;
			while (bits >= 5) {
				norm[o++] = b32[(acc >> (bits - 5)) & 31];
				bits -= 5;
			}
		}
		norm[16] = '\0';
		OPENSSL_cleanse(raw, sizeof(raw));
		snprintf(shown, sizeof(shown), "%.4s-%.4s-%.4s-%.4s", norm, norm + 4, norm + 8,
		    norm + 12);
		if ((e = code_hash_hex(norm, hex)) != FB_OK ||
		    (e = db_exec(db, NULL, "INSERT INTO backup_codes (user_id, code_hash)"
		    " VALUES ($1::uuid, $2::bytea)", 2, params)) != FB_OK)
			goto fail;
		json_array_append_new(*codes, json_string(shown));
	}
	return FB_OK;
fail:
	json_decref(*codes);
	*codes = NULL;
	return e;
}

enum fb_err
mfa_backup_code_use(struct db *db, const char *user_id, const char *code)
{
	char		 norm[17], hex[TOKEN_HEX_LEN + 1];
	const char	*params[2] = { user_id, hex };
	long		 n = 0;
	enum fb_err	 e;

	if (normalise_code(code, norm) != FB_OK)
		return FB_ERR_NOTFOUND;
	if ((e = code_hash_hex(norm, hex)) != FB_OK)
		return e;
	/* One UPDATE with "still unused": of many concurrent uses, one wins. */
	if ((e = db_exec(db, &n, "UPDATE backup_codes SET used_at = now()"
	    " WHERE user_id = $1::uuid AND code_hash = $2::bytea AND used_at IS NULL",
	    2, params)) != FB_OK)
		return e;
	return n == 1 ? FB_OK : FB_ERR_NOTFOUND;
}

enum fb_err
mfa_challenge_new(struct db *db, const char *user_id, const char *ip, const char *user_agent,
    char token[TOKEN_TEXT_LEN + 1])
{
	unsigned char	 hash[32];
	char		 hex[TOKEN_HEX_LEN + 1], ttl[16], ua[257];
	const char	*params[5] = { user_id, hex, ttl, ip, NULL };
	enum fb_err	 e;

	if ((e = token_new(token, hash)) != FB_OK)
		return e;
	token_hex(hash, hex);
	snprintf(ttl, sizeof(ttl), "%d", MFA_CHALLENGE_TTL);
	if (user_agent != NULL) {
		snprintf(ua, sizeof(ua), "%s", user_agent);
		params[4] = ua;
	}
	return db_exec(db, NULL, "INSERT INTO mfa_challenges (user_id, token_hash, expires_at,"
	    " ip, user_agent) VALUES ($1::uuid, $2::bytea, now() + make_interval(secs => $3::int),"
	    " $4::inet, $5)", 5, params);
}

enum fb_err
mfa_challenge_take(struct db *db, const char *token, char user_id[37], char challenge_id[37])
{
	unsigned char	 hash[32];
	char		 hex[TOKEN_HEX_LEN + 1], max[8];
	const char	*params[2] = { hex, max };
	PGresult	*res;
	enum fb_err	 e;

	if (token_hash(token, hash) != FB_OK)
		return FB_ERR_NOTFOUND;
	token_hex(hash, hex);
	snprintf(max, sizeof(max), "%d", MFA_CHALLENGE_FAILURES);
	e = db_query(db, &res, "SELECT id, user_id, token_hash::text AS hash FROM mfa_challenges"
	    " WHERE token_hash = $1::bytea AND used_at IS NULL AND expires_at > now()"
	    " AND failures < $2::int FOR UPDATE", 2, params);
	if (e != FB_OK)
		return e;
	if (PQntuples(res) != 1 || !token_matches(db_get(res, 0, "hash"), hash)) {
		PQclear(res);
		return FB_ERR_NOTFOUND;
	}
	snprintf(user_id, 37, "%s", db_get(res, 0, "user_id"));
	snprintf(challenge_id, 37, "%s", db_get(res, 0, "id"));
	PQclear(res);
	return FB_OK;
}

enum fb_err
mfa_challenge_fail(struct db *db, const char *challenge_id)
{
	const char	*params[1] = { challenge_id };

	return db_exec(db, NULL, "UPDATE mfa_challenges SET failures = failures + 1"
	    " WHERE id = $1::uuid", 1, params);
}

enum fb_err
mfa_challenge_done(struct db *db, const char *challenge_id)
{
	const char	*params[1] = { challenge_id };

	return db_exec(db, NULL, "UPDATE mfa_challenges SET used_at = now() WHERE id = $1::uuid",
	    1, params);
}
