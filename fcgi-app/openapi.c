/*
 * openapi — the self-description routes: /api/openapi.json is generated from
 * the route table and its declared inputs (so it cannot drift from the code),
 * /api/docs renders it without any third-party script, and
 * /.well-known/jwks.json publishes the token-signing public key.
 */
#include <stdio.h>
#include <string.h>


#include "log.h"
#include "request.h"
#include "routes.h"

static json_t *
field_schema(const struct field *f)
{
	json_t	*s = json_object();

	switch (f->type) {
	case FIELD_STRING:
	case FIELD_EMAIL:
	case FIELD_UUID:
		json_object_set_new(s, "type", json_string("string"));
		if (f->type == FIELD_EMAIL)
			json_object_set_new(s, "format", json_string("email"));
		if (f->type == FIELD_UUID)
			json_object_set_new(s, "format", json_string("uuid"));
		if (f->min || f->max) {
			json_object_set_new(s, "minLength", json_integer(f->min));
			json_object_set_new(s, "maxLength", json_integer(f->max));
		}
		break;
	case FIELD_INT:
		json_object_set_new(s, "type", json_string("integer"));
		if (f->min || f->max) {
			json_object_set_new(s, "minimum", json_integer(f->min));
			json_object_set_new(s, "maximum", json_integer(f->max));
		}
		break;
	case FIELD_BOOL:
		json_object_set_new(s, "type", json_string("boolean"));
		break;
	case FIELD_OBJECT:
		json_object_set_new(s, "type", json_string("object"));
		break;
	case FIELD_ARRAY:
		json_object_set_new(s, "type", json_string("array"));
		if (f->min || f->max) {
			json_object_set_new(s, "minItems", json_integer(f->min));
			json_object_set_new(s, "maxItems", json_integer(f->max));
		}
		break;
	case FIELD_ANY:
		break;
	}
	return s;
}

static json_t *
operation(const struct route *r, unsigned method)
{
	json_t		*op, *params, *props, *required, *schema;
	const struct field *f;
	const char	*p, *end;
	char		 opid[160];
	size_t		 i, o = 0;

	/* operationId: method and the pattern's words, e.g. get_api_teams_id. */
	o = (size_t)snprintf(opid, sizeof(opid), "%s", method_name(method));
	for (i = 0; i < o; i++)
		opid[i] = (char)(opid[i] | 0x20);
	for (p = r->pattern; *p != '\0' && o + 2 < sizeof(opid); p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9'))
			opid[o++] = *p;
		else if (opid[o - 1] != '_')
			opid[o++] = '_';
	}
	while (o > 0 && opid[o - 1] == '_')
		o--;
	opid[o] = '\0';

	op = json_pack("{s:s,s:s,s:{s:{s:s},s:{s:s,s:{s:{s:{s:s}}}}}}",
	    "operationId", opid, "summary", r->summary ? r->summary : r->pattern,
	    "responses", "2XX", "description", "Success",
	    "default", "description", "An RFC 9457 problem", "content",
	    "application/problem+json", "schema", "$ref", "#/components/schemas/Problem");

	params = json_array();
	for (p = r->pattern; (p = strchr(p, '{')) != NULL; p = end) {
		if ((end = strchr(p, '}')) == NULL)
			break;
		json_array_append_new(params, json_pack("{s:s%,s:s,s:b,s:{s:s}}",
		    "name", p + 1, (size_t)(end - p - 1), "in", "path", "required", 1,
		    "schema", "type", "string"));
	}
	if (json_array_size(params) > 0)
		json_object_set_new(op, "parameters", params);
	else
		json_decref(params);

	if ((r->flags & ROUTE_JSON_BODY) && r->inputs == NULL) {
		/* The handler checks its own fields (the CMS resources). */
		json_object_set_new(op, "requestBody", json_pack("{s:b,s:{s:{s:{s:s}}}}",
		    "required", 1, "content", "application/json", "schema", "type", "object"));
	} else if (r->flags & ROUTE_JSON_BODY) {
		props = json_object();
		required = json_array();
		for (f = r->inputs; f != NULL && f->name != NULL; f++) {
			json_object_set_new(props, f->name, field_schema(f));
			if (f->required)
				json_array_append_new(required, json_string(f->name));
		}
		schema = json_pack("{s:s,s:o,s:b}", "type", "object", "properties", props,
		    "additionalProperties", 0);
		if (json_array_size(required) > 0)
			json_object_set_new(schema, "required", required);
		else
			json_decref(required);
		json_object_set_new(op, "requestBody", json_pack("{s:b,s:{s:{s:o}}}",
		    "required", 1, "content", "application/json", "schema", schema));
	}
	if (r->auth == AUTH_METRICS)
		json_object_set_new(op, "security", json_pack("[{s:[]}]", "bearer"));
	return op;
}

void
openapi_get(struct request *req)
{
	static const unsigned methods[] = { M_GET, M_POST, M_PUT, M_PATCH, M_DELETE };
	json_t		*doc, *paths, *item;
	size_t		 i, m;
	char		 lower[8];

	paths = json_object();
	for (i = 0; i < routes_count; i++) {
		if ((item = json_object_get(paths, routes[i].pattern)) == NULL) {
			item = json_object();
			json_object_set_new(paths, routes[i].pattern, item);
		}
		for (m = 0; m < sizeof(methods) / sizeof(methods[0]); m++) {
			if (!(routes[i].methods & methods[m]))
				continue;
			snprintf(lower, sizeof(lower), "%s", method_name(methods[m]));
			for (char *c = lower; *c; c++)
				*c = (char)(*c | 0x20);
			json_object_set_new(item, lower, operation(&routes[i], methods[m]));
		}
	}
	doc = json_pack("{s:s,s:{s:s,s:s,s:s},s:[{s:s}],s:o,s:{s:{s:{s:s,s:s}},"
	    "s:{s:{s:s,s:[s,s,s,s],s:{s:{s:s},s:{s:s},s:{s:s},s:{s:s},s:{s:s},"
	    "s:{s:s},s:{s:s},s:{s:s}}}}}}",
	    "openapi", "3.1.0",
	    "info", "title", "fastback", "version", "1", "description",
	    "Application backend: accounts, sessions, teams, content, jobs.",
	    "servers", "url", req->app->cfg.public_url,
	    "paths", paths,
	    "components", "securitySchemes", "bearer", "type", "http", "scheme", "bearer",
	    "schemas", "Problem", "type", "object",
	    "required", "type", "title", "status", "code",
	    "properties", "type", "type", "string", "title", "type", "string",
	    "status", "type", "integer", "code", "type", "string",
	    "detail", "type", "string", "request_id", "type", "string",
	    "errors", "type", "array", "instance", "type", "string");
	if (doc == NULL) {
		resp_error(req, FB_ERR_NOMEM);
		return;
	}
	resp_header(req, "Cache-Control", "no-cache");
	resp_json(req, 200, doc);
}

static const char docs_html[] =
    "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
    "<title>fastback API</title></head>\n<body>"
    "<h1>fastback API</h1><p>The machine-readable document is "
    "<a href=\"openapi.json\">openapi.json</a> (OpenAPI 3.1).</p>"
    "<main id=\"ops\">Loading…</main>"
    "<script src=\"docs.js\"></script></body></html>\n";

/* Renders openapi.json as a list of operations; no third-party code. */
static const char docs_js[] =
    "'use strict';\n"
    "(async function () {\n"
    "  const main = document.getElementById('ops');\n"
    "  const el = (tag, text) => { const e = document.createElement(tag);"
    " if (text !== undefined) e.textContent = text; return e; };\n"
    "  try {\n"
    "    const doc = await (await fetch('openapi.json')).json();\n"
    "    main.textContent = '';\n"
    "    for (const [path, item] of Object.entries(doc.paths)) {\n"
    "      for (const [method, op] of Object.entries(item)) {\n"
    "        const sec = el('section');\n"
    "        sec.append(el('h2', method.toUpperCase() + ' ' + path), el('p', op.summary || ''));\n"
    "        const body = op.requestBody && op.requestBody.content['application/json'].schema;\n"
    "        if (body) {\n"
    "          const ul = el('ul');\n"
    "          for (const [name, s] of Object.entries(body.properties || {}))\n"
    "            ul.append(el('li', name + ': ' + (s.type || 'any') +"
    " ((body.required || []).includes(name) ? ' (required)' : '')));\n"
    "          sec.append(el('h3', 'Body'), ul);\n"
    "        }\n"
    "        main.append(sec);\n"
    "      }\n"
    "    }\n"
    "  } catch (e) { main.textContent = 'Could not load openapi.json: ' + e; }\n"
    "})();\n";

void
docs_get(struct request *req)
{
	req->resp.is_html = true;
	resp_header(req, "Cache-Control", "no-cache");
	resp_text(req, 200, "text/html", docs_html, sizeof(docs_html) - 1);
}

void
docs_js_get(struct request *req)
{
	resp_header(req, "Cache-Control", "no-cache");
	resp_text(req, 200, "text/javascript", docs_js, sizeof(docs_js) - 1);
}

/* The keys of the ring (current and previous): empty for HS256. */
void
jwks_get(struct request *req)
{
	json_t	*doc = jwt_jwks(&req->app->jwt);

	if (doc == NULL) {
		resp_error(req, FB_ERR_NOMEM);
		return;
	}
	resp_header(req, "Cache-Control", "public, max-age=300");
	resp_json(req, 200, doc);
}
