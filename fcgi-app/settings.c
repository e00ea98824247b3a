/*
 * settings — /api/settings (per-user category/key → JSON value) and
 * /api/me/preferences (api.md "Settings" and "Me" → preferences). Writes to
 * settings are audit-logged with the old and new value.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "problem.h"
#include "routes.h"
#include "session.h"
#include "settings.h"

const struct field setting_put_in[] = {
	{ "value", FIELD_ANY, true, 0, 0 },
	FIELD_END
};
const struct field preferences_in[] = {
	{ "theme", FIELD_STRING, false, 1, 16 },
	{ "language", FIELD_STRING, false, 2, 35 },
	{ "timezone", FIELD_STRING, false, 1, 64 },
	{ "notifications", FIELD_OBJECT, false, 0, 0 },
	FIELD_END
};

/* The {category} and {key} of the path, or a 422 naming the bad one. */
static bool
names_ok(struct request *req, const char **category, const char **key)
{
	*category = request_path_param(req, "category");
	*key = request_path_param(req, "key");
	if (!settings_name_valid(*category)) {
		resp_field_problem(req, "category", "invalid_format", "must match [a-z0-9_.-]{1,64}");
		return false;
	}
	if (key != NULL && *key != NULL && !settings_name_valid(*key)) {
		resp_field_problem(req, "key", "invalid_format", "must match [a-z0-9_.-]{1,64}");
		return false;
	}
	return true;
}

/* GET /api/settings */
void
settings_all(struct request *req)
{
	struct buf	 body = BUF_INIT;
	char		*all;
	enum fb_err	 e;

	/* The session check and the document in one statement (AUTH_TOKEN);
	 * the database keeps the document ready (schema/011_settings_doc.sql):
	 * no aggregate, no parse and dump of each value. */
	e = settings_all_for_session(&req->app->db, req->session_id, req->user.id, &all);
	if (e == FB_ERR_NOTFOUND) {
		auth_session_ended(req);
		return;
	}
	if (e != FB_OK) {
		resp_error(req, e);
		return;
	}
	buf_printf(&body, "{\"settings\":%s}", all);
	free(all);
	if (buf_failed(&body)) {
		buf_free(&body);
		resp_error(req, FB_ERR_NOMEM);
		return;
	}
	resp_text(req, 200, "application/json", body.data, body.len);
	buf_free(&body);
}

/* GET /api/settings/{category} */
void
settings_category(struct request *req)
{
	const char	*category, *key = NULL;
	json_t		*out;
	enum fb_err	 e;

	if (!names_ok(req, &category, &key))
		return;
	if ((e = settings_get(&req->app->db, req->user.id, category, &out)) != FB_OK) {
		resp_error(req, e);
		return;
	}
	resp_json(req, 200, out);
}

/* PUT /api/settings/{category}/{key} {"value": any} */
void
settings_put_route(struct request *req)
{
	const char	*category, *key;
	json_t		*out = NULL, *old = NULL;
	enum fb_err	 e;

	if (!names_ok(req, &category, &key))
		return;
	e = settings_put(&req->app->db, req->user.id, category, key,
	    json_object_get(req->json, "value"), &out, &old);
	if (e == FB_ERR_TOOBIG) {
		resp_field_problem(req, "value", "too_large", "must be at most 16 KiB of JSON");
		return;
	}
	if (e != FB_OK) {
		resp_error(req, e);
		return;
	}
	audit_request(req, "setting.put", "setting", json_string_value(json_object_get(out,
	    "category")), json_pack("{s:s,s:s,s:o,s:O}", "category", category, "key", key,
	    "from", old != NULL ? old : json_null(), "to", json_object_get(out, "value")));
	resp_json(req, 200, out);
}

/* DELETE /api/settings/{category}/{key} */
void
settings_delete_route(struct request *req)
{
	const char	*category, *key;
	json_t		*old = NULL;
	enum fb_err	 e;

	if (!names_ok(req, &category, &key))
		return;
	if ((e = settings_delete(&req->app->db, req->user.id, category, key, &old)) != FB_OK) {
		resp_error(req, e);
		return;
	}
	audit_request(req, "setting.delete", "setting", category, json_pack("{s:s,s:s,s:o}",
	    "category", category, "key", key, "from", old != NULL ? old : json_null()));
	resp_empty(req, 204);
}

/* GET /api/me/preferences */
void
preferences_get_route(struct request *req)
{
	json_t		*out;
	enum fb_err	 e;

	if ((e = preferences_get(&req->app->db, req->user.id, &out)) != FB_OK) {
		resp_error(req, e);
		return;
	}
	resp_json(req, 200, out);
}

/* RFC 5646 §2.1: language [-script] [-region] *(-variant) *(-extension)
 * [-privateuse]; extlang subtags are taken as part of the language. */
static bool
all_of(const char *s, size_t n, int (*cls)(int))
{
	size_t	i;

	for (i = 0; i < n; i++)
		if (!cls((unsigned char)s[i]))
			return false;
	return true;
}

static bool
bcp47_ok(const char *s)
{
	enum { LANG, EXTLANG, SCRIPT, REGION, VARIANT, EXT, EXTSUB, PRIV } at = LANG;
	size_t	n;
	int	extlangs = 0;

	for (;;) {
		n = strcspn(s, "-");
		if (n == 0 || n > 8 || !all_of(s, n, isalnum))
			return false;
		switch (at) {
		case LANG:
			if (!all_of(s, n, isalpha) || n == 4 || (n != 2 && n != 3 && n < 5))
				return false;
			at = n <= 3 ? EXTLANG : SCRIPT;
			break;
		default:
			if (at == PRIV)
				break;		/* 1-8 alphanumerics, checked above */
			if (at == EXTSUB && n >= 2) {
				at = EXTSUB;
				break;
			}
			if (at == EXTLANG && n == 3 && all_of(s, n, isalpha) && extlangs < 3) {
				extlangs++;
				break;
			}
			if (at <= SCRIPT && n == 4 && all_of(s, n, isalpha))
				at = REGION;
			else if (at <= REGION && ((n == 2 && all_of(s, n, isalpha)) ||
			    (n == 3 && all_of(s, n, isdigit))))
				at = VARIANT;
			else if (at <= VARIANT && (n >= 5 || (n == 4 && isdigit((unsigned char)*s))))
				at = VARIANT;
			else if (n == 1 && tolower((unsigned char)*s) == 'x')
				at = PRIV;
			else if (n == 1)
				at = EXT;
			else
				return false;
			if (at == EXT) {
				/* a singleton needs at least one subtag of 2-8 */
				at = EXTSUB;
				s += n;
				if (*s != '-')
					return false;
				s++;
				n = strcspn(s, "-");
				if (n < 2 || n > 8 || !all_of(s, n, isalnum))
					return false;
			} else if (at == PRIV) {
				s += n;
				if (*s != '-')
					return false;
				s++;
				n = strcspn(s, "-");
				if (n < 1 || n > 8 || !all_of(s, n, isalnum))
					return false;
			}
			break;
		}
		s += n;
		if (*s == '\0')
			return true;
		s++;		/* '-' */
	}
}

/* PUT /api/me/preferences — partial; unknown keys are refused. */
void
preferences_put_route(struct request *req)
{
	json_t		*n = json_object_get(req->json, "notifications"), *v, *out, *p = NULL;
	const char	*theme = json_string_value(json_object_get(req->json, "theme"));
	const char	*lang = json_string_value(json_object_get(req->json, "language"));
	const char	*k;
	enum fb_err	 e;

	if (theme != NULL && strcmp(theme, "light") != 0 && strcmp(theme, "dark") != 0 &&
	    strcmp(theme, "system") != 0) {
		p = problem_new(422, "validation_failed", NULL);
		problem_add_field(p, "theme", "invalid_value", "must be light, dark or system");
	}
	if (lang != NULL && !bcp47_ok(lang)) {
		if (p == NULL)
			p = problem_new(422, "validation_failed", NULL);
		problem_add_field(p, "language", "invalid_format", "must be a BCP 47 tag, e.g. en-GB");
	}
	json_object_foreach(n, k, v) {
		if (p == NULL && (strcmp(k, "email") != 0 && strcmp(k, "push") != 0))
			p = problem_new(422, "validation_failed", NULL);
		if (strcmp(k, "email") != 0 && strcmp(k, "push") != 0)
			problem_add_field(p, "notifications", "unknown_field",
			    "takes only email and push");
		else if (!json_is_boolean(v)) {
			if (p == NULL)
				p = problem_new(422, "validation_failed", NULL);
			problem_add_field(p, strcmp(k, "email") == 0 ? "notifications.email" :
			    "notifications.push", "invalid_type", "must be a boolean");
		}
	}
	if (p != NULL) {
		json_object_set_new(p, "detail", json_string("some fields are invalid"));
		resp_problem_json(req, p);
		return;
	}
	e = preferences_put(&req->app->db, req->user.id, req->json, &out);
	if (e == FB_ERR_INVALID) {
		resp_field_problem(req, "timezone", "invalid_value",
		    "must be an IANA time zone name, e.g. Europe/Paris");
		return;
	}
	if (e != FB_OK) {
		resp_error(req, e);
		return;
	}
	resp_json(req, 200, out);
}
