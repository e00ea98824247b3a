/*
 * apikeys — users' own API keys for AI providers: stored sealed (AES-256-GCM,
 * the row's user and provider as associated data) with their last four
 * characters, never returned; checked with the provider's cheapest
 * authenticated request.
 */
#ifndef FB_APIKEYS_H
#define FB_APIKEYS_H

#include <stdbool.h>

#include <jansson.h>

#include "config.h"
#include "crypto.h"
#include "db.h"
#include "err.h"

#define APIKEY_MAX 512	/* bytes of a key */

/* True when provider is known and listed in API_KEY_PROVIDERS. */
bool		apikeys_provider_enabled(const struct config *c, const char *provider);
enum fb_err	apikeys_put(struct db *db, const struct crypto_keyring *keys, const char *user_id,
		    const char *provider, const char *key, json_t **out);
enum fb_err	apikeys_list(struct db *db, const char *user_id, json_t **data);
/* FB_ERR_NOTFOUND when there is no key. */
enum fb_err	apikeys_delete(struct db *db, const char *user_id, const char *provider);

enum apikey_verdict {
	APIKEY_VALID,		/* the provider accepted it */
	APIKEY_INVALID,		/* the provider refused it (401/403) */
	APIKEY_UNKNOWN,		/* no verdict: timeout, provider error */
};

/* Opens the stored key and asks the provider. detail gets a sentence for the
 * user; the verdict is recorded (valid, validated_at) unless UNKNOWN.
 * FB_ERR_NOTFOUND when no key is stored. */
enum fb_err	apikeys_test(struct db *db, const struct crypto_keyring *keys,
		    const struct config *c, const char *user_id, const char *provider,
		    enum apikey_verdict *v, char *detail, size_t detaillen);
/* The row identity used as associated data: "user_id:provider". */
void		apikeys_row_id(const char *user_id, const char *provider, char out[80]);

#endif
