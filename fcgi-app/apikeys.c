/*
 * apikeys — /api/me/api-keys: a user's own keys for AI providers (api.md
 * "Me"): stored sealed, listed by their last four characters, checked with a
 * real request to the provider (base URL configurable).
 */
#include <stdio.h>
#include <string.h>

#include "apikeys.h"
#include "problem.h"
#include "routes.h"
#include "session.h"

const struct field apikey_put_in[] = {
	{ "key", FIELD_STRING, true, 8, APIKEY_MAX },
	FIELD_END
};

/* The {provider} of the path, or a 404 for one we do not offer. */
static const char *
provider_of(struct request *req)
{
	const char	*p = request_path_param(req, "provider");

	if (p == NULL || !apikeys_provider_enabled(&req->app->cfg, p)) {
		resp_problem(req, 404, "not_found", "no such provider");
		return NULL;
	}
	return p;
}

/* GET /api/me/api-keys */
void
apikey_list(struct request *req)
{
	json_t		*data;
	enum fb_err	 e;

	if ((e = apikeys_list(&req->app->db, req->user.id, &data)) != FB_OK) {
		resp_error(req, e);
		return;
	}
	resp_json(req, 200, json_pack("{s:o}", "data", data));
}

/* PUT /api/me/api-keys/{provider} {key} */
void
apikey_put(struct request *req)
{
	const char	*provider = provider_of(req);
	const char	*key = json_string_value(json_object_get(req->json, "key"));
	json_t		*out;
	enum fb_err	 e;

	if (provider == NULL)
		return;
	if (req->app->keys.count == 0) {
		resp_problem(req, 503, "not_configured", "storing API keys needs ENCRYPTION_KEYS");
		return;
	}
	if (strpbrk(key, " \t\r\n") != NULL) {
		resp_field_problem(req, "key", "invalid_format", "must not contain spaces");
		return;
	}
	e = apikeys_put(&req->app->db, &req->app->keys, req->user.id, provider, key, &out);
	if (e != FB_OK) {
		resp_error(req, e);
		return;
	}
	audit_request(req, "apikey.put", "apikey", provider, NULL);
	resp_json(req, 200, out);
}

/* DELETE /api/me/api-keys/{provider} */
void
apikey_delete(struct request *req)
{
	const char	*provider = provider_of(req);
	enum fb_err	 e;

	if (provider == NULL)
		return;
	if ((e = apikeys_delete(&req->app->db, req->user.id, provider)) != FB_OK) {
		resp_error(req, e);
		return;
	}
	audit_request(req, "apikey.delete", "apikey", provider, NULL);
	resp_empty(req, 204);
}

/* POST /api/me/api-keys/{provider}/test */
void
apikey_test(struct request *req)
{
	const char		*provider = provider_of(req);
	enum apikey_verdict	 v;
	char			 detail[256];
	enum fb_err		 e;

	if (provider == NULL)
		return;
	e = apikeys_test(&req->app->db, &req->app->keys, &req->app->cfg, req->user.id, provider,
	    &v, detail, sizeof(detail));
	if (e == FB_ERR_NOTFOUND) {
		resp_problem(req, 404, "not_found", "no key is stored for this provider");
		return;
	}
	if (e != FB_OK) {
		resp_error(req, e);
		return;
	}
	if (v == APIKEY_UNKNOWN) {
		/* A timeout or a provider error is not a verdict on the key. */
		resp_problem(req, 502, "upstream_error", detail);
		return;
	}
	resp_json(req, 200, json_pack("{s:b,s:s}", "valid", v == APIKEY_VALID, "detail", detail));
}
