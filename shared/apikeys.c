#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "apikeys.h"
#include "buf.h"
#include "httpc.h"
#include "log.h"

/* How each provider is asked whether a key works: a GET that needs a valid
 * key and costs nothing (listing models). */
struct provider {
	const char	*name;
	size_t		 base_offset;	/* of the base URL in struct config */
	const char	*path;
	const char	*key_header;	/* the key goes in "<key_header><key>" */
	const char	*extra_header;	/* (or NULL) */
};

static const struct provider providers[] = {
	{ "openai", offsetof(struct config, openai_api_base), "/models",
	  "Authorization: Bearer ", NULL },
	{ "gemini", offsetof(struct config, gemini_api_base), "/v1beta/models",
	  "x-goog-api-key: ", NULL },
	{ "anthropic", offsetof(struct config, anthropic_api_base), "/v1/models",
	  "x-api-key: ", "anthropic-version: 2023-06-01" },
};

static const struct provider *
find(const char *name)
{
	size_t	i;

	for (i = 0; i < sizeof(providers) / sizeof(providers[0]); i++)
		if (strcmp(providers[i].name, name) == 0)
			return &providers[i];
	return NULL;
}

bool
apikeys_provider_enabled(const struct config *c, const char *provider)
{
	const char	*p = c->api_key_providers, *end;
	size_t		 len = strlen(provider);

	if (find(provider) == NULL || p == NULL)
		return false;
	for (; *p != '\0'; p = *end ? end + 1 : end) {
		while (*p == ' ')
			p++;
		end = p + strcspn(p, ",");
		if ((size_t)(end - p) >= len && strncmp(p, provider, len) == 0 &&
		    (p[len] == ',' || p[len] == ' ' || p[len] == '\0'))
			return true;
	}
	return false;
}

void
apikeys_row_id(const char *user_id, const char *provider, char out[80])
{
	snprintf(out, 80, "%s:%s", user_id, provider);
}

#define KEY_COLS "provider, last4," \
	" to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS created_at," \
	" to_char(validated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS validated_at," \
	" valid"

static json_t *
key_json(const PGresult *res, int i)
{
	const char	*valid = db_get(res, i, "valid");

	return json_pack("{s:s,s:s,s:s,s:s?,s:o}", "provider", db_get(res, i, "provider"),
	    "last4", db_get(res, i, "last4"), "created_at", db_get(res, i, "created_at"),
	    "validated_at", db_get(res, i, "validated_at"),
	    "valid", valid == NULL ? json_null() : json_boolean(strcmp(valid, "t") == 0));
}

enum fb_err
apikeys_put(struct db *db, const struct crypto_keyring *keys, const char *user_id,
    const char *provider, const char *key, json_t **out)
{
	char		 row[80], last4[5], *sealed = NULL;
	const char	*params[4];
	size_t		 len = strlen(key);
	PGresult	*res;
	enum fb_err	 e;

	*out = NULL;
	apikeys_row_id(user_id, provider, row);
	if ((e = crypto_seal(keys, "user_api_keys", "key", row, key, len, &sealed)) != FB_OK)
		return e;
	snprintf(last4, sizeof(last4), "%s", len >= 4 ? key + len - 4 : key);
	params[0] = user_id;
	params[1] = provider;
	params[2] = sealed;
	params[3] = last4;
	/* A new key has not been checked yet: valid and validated_at reset. */
	e = db_query(db, &res, "INSERT INTO user_api_keys (user_id, provider, key, last4)"
	    " VALUES ($1::uuid, $2, $3, $4) ON CONFLICT (user_id, provider) DO UPDATE SET"
	    " key = $3, last4 = $4, updated_at = now(), validated_at = NULL, valid = NULL"
	    " RETURNING " KEY_COLS, 4, params);
	OPENSSL_cleanse(last4, sizeof(last4));
	free(sealed);
	if (e != FB_OK)
		return e;
	*out = key_json(res, 0);
	PQclear(res);
	return FB_OK;
}

enum fb_err
apikeys_list(struct db *db, const char *user_id, json_t **data)
{
	const char	*params[1] = { user_id };
	PGresult	*res;
	enum fb_err	 e;
	int		 i;

	*data = NULL;
	if ((e = db_query(db, &res, "SELECT " KEY_COLS " FROM user_api_keys"
	    " WHERE user_id = $1::uuid ORDER BY provider", 1, params)) != FB_OK)
		return e;
	*data = json_array();
	for (i = 0; i < PQntuples(res); i++)
		json_array_append_new(*data, key_json(res, i));
	PQclear(res);
	return FB_OK;
}

enum fb_err
apikeys_delete(struct db *db, const char *user_id, const char *provider)
{
	const char	*params[2] = { user_id, provider };
	long		 n = 0;
	enum fb_err	 e;

	e = db_exec(db, &n, "DELETE FROM user_api_keys WHERE user_id = $1::uuid AND provider = $2",
	    2, params);
	return e != FB_OK ? e : n == 1 ? FB_OK : FB_ERR_NOTFOUND;
}

enum fb_err
apikeys_test(struct db *db, const struct crypto_keyring *keys, const struct config *c,
    const char *user_id, const char *provider, enum apikey_verdict *v, char *detail,
    size_t detaillen)
{
	const struct provider	*p = find(provider);
	const char		*params[3] = { user_id, provider, NULL };
	const char		*headers[3] = { NULL, NULL, NULL };
	struct httpc_response	 r;
	struct buf		 url = BUF_INIT, auth = BUF_INIT;
	unsigned char		*key = NULL;
	size_t			 keylen = 0;
	char			 row[80], why[160];
	const char		*base;
	PGresult		*res;
	enum fb_err		 e;

	*v = APIKEY_UNKNOWN;
	if (p == NULL)
		return FB_ERR_NOTFOUND;
	if ((e = db_query(db, &res, "SELECT key FROM user_api_keys WHERE user_id = $1::uuid"
	    " AND provider = $2", 2, params)) != FB_OK)
		return e;
	if (PQntuples(res) != 1) {
		PQclear(res);
		return FB_ERR_NOTFOUND;
	}
	apikeys_row_id(user_id, provider, row);
	e = crypto_open(keys, "user_api_keys", "key", row, db_get(res, 0, "key"), &key, &keylen);
	PQclear(res);
	/* A stored key that does not open (damaged, moved, an unknown key id)
	 * is the server's fault, not the request's. */
	if (e != FB_OK) {
		log_msg(FBLOG_ERROR, "apikeys: a stored key does not open");
		return e == FB_ERR_NOMEM ? e : FB_ERR_INTERNAL;
	}
	base = *(const char *const *)((const char *)c + p->base_offset);
	buf_printf(&url, "%.*s%s", (int)(strlen(base) - (base[strlen(base) - 1] == '/')),
	    base, p->path);
	buf_printf(&auth, "%s%s", p->key_header, (const char *)key);
	crypto_free_secret(key, keylen);
	headers[0] = buf_str(&auth);
	headers[1] = p->extra_header;
	if (buf_failed(&url) || buf_failed(&auth))
		e = FB_ERR_NOMEM;
	else
		e = httpc_get(buf_str(&url), headers, c->api_key_test_timeout_ms, &r, why,
		    sizeof(why));
	OPENSSL_cleanse(auth.data, auth.len);
	buf_free(&auth);
	buf_free(&url);
	if (e == FB_ERR_TIMEOUT || e == FB_ERR_UNAVAILABLE) {
		snprintf(detail, detaillen, "%s did not answer: %s", provider, why);
		return FB_OK;
	}
	if (e != FB_OK)
		return e;
	if (r.status >= 200 && r.status < 300) {
		*v = APIKEY_VALID;
		snprintf(detail, detaillen, "%s accepted the key", provider);
	} else if (r.status == 401 || r.status == 403 ||
	    /* Gemini refuses a bad key with 400 INVALID_ARGUMENT, reason API_KEY_INVALID. */
	    (r.status == 400 && strcmp(provider, "gemini") == 0 && r.body != NULL &&
	    strstr(r.body, "API_KEY_INVALID") != NULL)) {
		*v = APIKEY_INVALID;
		snprintf(detail, detaillen, "%s refused the key (HTTP %ld)", provider, r.status);
	} else
		snprintf(detail, detaillen, "%s answered HTTP %ld; the key was not judged",
		    provider, r.status);
	httpc_response_free(&r);
	if (*v != APIKEY_UNKNOWN) {
		params[2] = *v == APIKEY_VALID ? "t" : "f";
		e = db_exec(db, NULL, "UPDATE user_api_keys SET valid = $3::boolean,"
		    " validated_at = now() WHERE user_id = $1::uuid AND provider = $2", 3, params);
	}
	return e;
}
