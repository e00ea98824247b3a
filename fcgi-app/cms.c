/*
 * cms — api.md "Content (CMS)": /api/services, /api/projects,
 * /api/blog-posts and /api/testimonials (one set of handlers for the four;
 * the resource comes from the route's pattern) and GET /api/search.
 *
 * Reads are public (AUTH_OPTIONAL: a bearer token is honoured, so an admin
 * may ask for ?drafts=true). A public read answers with a strong ETag (the
 * SHA-256 of the body) and Cache-Control: public, max-age=0, must-revalidate,
 * and If-None-Match gets 304; a read with drafts is no-store. Writes are for
 * admins; the body is checked in one pass by cms_validate (types, bounds,
 * formats, references: every bad field in one 422), and each write is
 * audit-logged with its change in the transaction that makes it.
 *
 * XXX: the write routes declare no `inputs`, so that the format checks the
 * declared inputs cannot express (URL, currency, slug, tags) land in the same
 * 422 as the type checks; the OpenAPI document therefore shows their bodies
 * without properties.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "b64.h"
#include "clock.h"
#include "cms.h"
#include "generation.h"
#include "problem.h"
#include "routes.h"
#include "session.h"

/* The resource of the matched route: the segment after "/api/". */
static const struct cms_resource *
resource_of(struct request *req)
{
	const char	*p = req->route->pattern;

	if (strncmp(p, "/api/", 5) != 0)
		return NULL;
	p += 5;
	return cms_resource(p, strcspn(p, "/"));
}

/* RFC 9110 §13.1.2: If-None-Match matches with the weak comparison: "*", or
 * any listed entity tag whose opaque part equals ours (W/ ignored). A
 * malformed list matches nothing. */
static bool
etag_matches(const char *h, const char *tag)
{
	size_t	tlen = strlen(tag), n;

	if (h == NULL)
		return false;
	for (;;) {
		h += strspn(h, " \t,");
		if (*h == '\0')
			return false;
		if (*h == '*')
			return true;
		if (strncmp(h, "W/", 2) == 0)
			h += 2;
		if (*h != '"')
			return false;
		n = strcspn(h + 1, "\"");
		if (h[1 + n] != '"')
			return false;
		if (n + 2 == tlen && strncmp(h, tag, tlen) == 0)
			return true;
		h += n + 2;
	}
}

/*
 * Public answers are kept per responder, keyed by the request's target, with
 * their ETag. Before reuse the content version is checked: at once when a
 * responder of this pool has written to the CMS since the last check (the
 * pool's change counter, shared/generation.h), else at most every
 * REVALIDATE_MS (one tiny query), so writes made elsewhere (another host's
 * pool) show within that. Answers also age out after a second, so an item
 * scheduled with a future published_at appears on time. At most
 * PUBLIC_CACHE entries, replaced round-robin.
 */
#define PUBLIC_CACHE		64
#define PUBLIC_CACHE_MAX_AGE_MS	1000
#define PUBLIC_CACHE_BODY_MAX	(256 * 1024)
#define REVALIDATE_MS		100
#define ETAG_SIZE		(B64URL_ENCODED_SIZE(EVP_MAX_MD_SIZE) + 2)

struct cached_answer {
	char		*target;	/* REQUEST_URI (or NULL: free) */
	long long	 version;
	long long	 at_ms;		/* CLOCK_MONOTONIC */
	char		*body;
	size_t		 len;
	char		 etag[ETAG_SIZE];
};

static struct cached_answer public_cache[PUBLIC_CACHE];
static size_t public_cache_next;

/* The content version last read, when, and the pool's counter before it. */
static struct {
	bool		known;
	uint64_t	generation;
	long long	at_ms;
	long long	version;
} checked;

static enum fb_err
current_version(struct request *req, long long *version)
{
	uint64_t	gen = generation_get(GEN_CMS);	/* before the query */
	long long	now = monotonic_ms();
	enum fb_err	e;

	if (checked.known && checked.generation == gen && now - checked.at_ms < REVALIDATE_MS) {
		*version = checked.version;
		return FB_OK;
	}
	if ((e = cms_version(&req->app->db, version)) != FB_OK)
		return e;
	checked.known = true;
	checked.generation = gen;
	checked.at_ms = now;
	checked.version = *version;
	return FB_OK;
}

static const char *
cache_target(struct request *req)
{
	const char	*t = request_param(req, "REQUEST_URI");

	return t != NULL && strlen(t) < 2048 ? t : NULL;
}

/* The strong ETag of a body: base64url of its SHA-256, quoted. */
static bool
make_etag(const char *body, size_t len, char tag[ETAG_SIZE])
{
	unsigned char	md[EVP_MAX_MD_SIZE];
	unsigned int	mdlen = 0;

	if (EVP_Digest(body, len, md, &mdlen, EVP_sha256(), NULL) != 1)
		return false;
	tag[0] = '"';
	b64url_encode(md, mdlen, tag + 1);
	strcat(tag, "\"");
	return true;
}

/* ETag, public Cache-Control and 304 for the public answer in req->resp. */
static void
public_headers(struct request *req, const char *tag)
{
	resp_header(req, "ETag", tag);
	resp_header(req, "Cache-Control", "public, max-age=0, must-revalidate");
	if (etag_matches(request_param(req, "HTTP_IF_NONE_MATCH"), tag))
		resp_empty(req, 304);
}

/* Answers from the cache when it holds a current answer for this target. */
static bool
cache_answer(struct request *req, long long *version)
{
	const char	*target = cache_target(req);
	size_t		 i;

	*version = -1;
	if (target == NULL || current_version(req, version) != FB_OK)
		return false;
	for (i = 0; i < PUBLIC_CACHE; i++) {
		struct cached_answer *c = &public_cache[i];
		if (c->target == NULL || c->version != *version ||
		    monotonic_ms() - c->at_ms >= PUBLIC_CACHE_MAX_AGE_MS ||
		    strcmp(c->target, target) != 0)
			continue;
		resp_text(req, 200, "application/json", c->body, c->len);
		public_headers(req, c->etag);
		return true;
	}
	return false;
}

static void
cache_keep(struct request *req, long long version, const char *etag)
{
	const char		*target = cache_target(req);
	struct cached_answer	*c;

	if (target == NULL || version < 0 || req->resp.status != 200 ||
	    req->resp.body.len > PUBLIC_CACHE_BODY_MAX)
		return;
	c = &public_cache[public_cache_next++ % PUBLIC_CACHE];
	free(c->target);
	free(c->body);
	c->target = strdup(target);
	c->body = malloc(req->resp.body.len + 1);
	if (c->target == NULL || c->body == NULL) {
		free(c->target);
		free(c->body);
		memset(c, 0, sizeof(*c));
		return;
	}
	memcpy(c->body, req->resp.body.data, req->resp.body.len);
	c->body[req->resp.body.len] = '\0';
	c->len = req->resp.body.len;
	c->version = version;
	c->at_ms = monotonic_ms();
	memcpy(c->etag, etag, ETAG_SIZE);
}

/* 200 with body; a public answer (not with drafts) gets its ETag and the
 * public Cache-Control, and 304 when If-None-Match names it. It is kept for
 * reuse when version is the content version it was read at (else -1). */
static void
answer(struct request *req, json_t *body, bool is_public, long long version)
{
	char	tag[ETAG_SIZE];

	resp_json(req, 200, body);
	if (!is_public || req->resp.status != 200)
		return;
	if (!make_etag(req->resp.body.data, req->resp.body.len, tag)) {
		resp_error(req, FB_ERR_INTERNAL);
		return;
	}
	cache_keep(req, version, tag);
	public_headers(req, tag);
}

/* A write committed: every responder of the pool checks the version again
 * before its next cached answer. */
static void
written(void)
{
	generation_bump(GEN_CMS);
}

/* ?drafts=true is for admins: 401 without a token, 403 for anyone else;
 * false or absent: the public view. */
static bool
drafts_param(struct request *req, bool *with_drafts)
{
	const char	*v = request_query(req, "drafts");

	*with_drafts = false;
	if (v == NULL || strcmp(v, "false") == 0)
		return true;
	if (strcmp(v, "true") != 0) {
		resp_problem(req, 400, "bad_request", "drafts must be true or false");
		return false;
	}
	if (req->user_id[0] == '\0') {
		resp_header(req, "WWW-Authenticate", "Bearer");
		resp_problem(req, 401, "unauthorized",
		    "drafts are for administrators: send an access token");
		return false;
	}
	if (strcmp(req->user.role, "admin") != 0) {
		resp_problem(req, 403, "forbidden", "only administrators see drafts");
		return false;
	}
	*with_drafts = true;
	return true;
}

/* ?q=: *q is NULL when absent or blank; 400 when over CMS_QUERY_MAX characters. */
static bool
search_param(struct request *req, const char **q)
{
	const char	*v = request_query(req, "q");
	char		 detail[64];

	*q = NULL;
	if (v == NULL || v[strspn(v, " \t\r\n")] == '\0')
		return true;
	if (utf8_length(v, strlen(v)) > CMS_QUERY_MAX) {
		snprintf(detail, sizeof(detail), "q is at most %d characters", CMS_QUERY_MAX);
		resp_problem(req, 400, "bad_request", detail);
		return false;
	}
	*q = v;
	return true;
}

/* 409 for a slug taken by another item of the resource. */
static void
slug_taken(struct request *req, const char *slug)
{
	char	 detail[CMS_SLUG_MAX + 64];
	json_t	*p;

	snprintf(detail, sizeof(detail), "the slug \"%s\" is taken", slug != NULL ? slug : "");
	p = problem_new(409, "conflict", detail);
	problem_add_field(p, "slug", "taken", "is taken by another item");
	resp_problem_json(req, p);
}

/* The 422 of a body, or true when it is valid (references checked too). */
static bool
body_valid(struct request *req, const struct cms_resource *r, bool is_create)
{
	json_t		*problem = NULL;
	enum fb_err	 e;
	int		 n;

	n = cms_validate(r, req->json, is_create, &problem);
	if ((e = cms_check_references(&req->app->db, r, req->json, &problem, &n)) != FB_OK) {
		json_decref(problem);
		resp_error(req, e);
		return false;
	}
	if (n == 0)
		return true;
	cms_problem_detail(problem);
	resp_problem_json(req, problem);
	return false;
}

/* GET /api/{resource}?order=position|newest|rank&tag=&q=&drafts=&limit=&cursor= */
void
cms_list_route(struct request *req)
{
	const struct cms_resource *r = resource_of(req);
	struct cms_list_query q;
	const char	*order = request_query(req, "order");
	json_t		*data;
	char		*next;
	long long	 version = -1;
	enum fb_err	 e;

	memset(&q, 0, sizeof(q));
	if (r == NULL) {
		resp_error(req, FB_ERR_INTERNAL);
		return;
	}
	if (!drafts_param(req, &q.with_drafts) || !request_page(req, &q.limit, &q.after) ||
	    !search_param(req, &q.q))
		return;
	q.tag = request_query(req, "tag");
	if (q.tag != NULL && !cms_tag_valid(q.tag)) {
		resp_problem(req, 400, "bad_request",
		    "tag must be lowercase letters, digits and single hyphens");
		return;
	}
	if (order == NULL)
		q.order = q.q != NULL ? CMS_ORDER_RANK : CMS_ORDER_POSITION;
	else if (strcmp(order, "position") == 0)
		q.order = CMS_ORDER_POSITION;
	else if (strcmp(order, "newest") == 0)
		q.order = CMS_ORDER_NEWEST;
	else if (strcmp(order, "rank") == 0 && q.q != NULL)
		q.order = CMS_ORDER_RANK;
	else {
		resp_problem(req, 400, "bad_request",
		    "order must be position, newest, or rank (with q)");
		return;
	}
	if (!q.with_drafts && cache_answer(req, &version))
		return;
	e = cms_list(&req->app->db, r, &q, &data, &next);
	if (e == FB_ERR_INVALID) {
		resp_problem(req, 400, "bad_request", "the cursor is not one of this list");
		return;
	}
	if (e != FB_OK) {
		resp_error(req, e);
		return;
	}
	answer(req, json_pack("{s:o,s:s?}", "data", data, "next_cursor", next), !q.with_drafts,
	    version);
	free(next);
}

/* GET /api/{resource}/{id-or-slug}?drafts= */
void
cms_get_route(struct request *req)
{
	const struct cms_resource *r = resource_of(req);
	json_t		*item;
	bool		 with_drafts;
	enum fb_err	 e;


	if (r == NULL) {
		resp_error(req, FB_ERR_INTERNAL);
		return;
	}
	if (!drafts_param(req, &with_drafts))
		return;
	e = cms_get(&req->app->db, r, request_path_param(req, "id"), with_drafts, &item);
	if (e != FB_OK) {
		resp_error(req, e);
		return;
	}
	answer(req, item, !with_drafts, -1);	/* only the lists are kept */
}

/* POST /api/{resource} (admins) */
void
cms_create_route(struct request *req)
{
	const struct cms_resource *r = resource_of(req);
	struct db	*db = &req->app->db;
	json_t		*row = NULL, *item = NULL;
	const char	*id;
	enum fb_err	 e;

	if (r == NULL) {
		resp_error(req, FB_ERR_INTERNAL);
		return;
	}
	if (!body_valid(req, r, true))
		return;
	if ((row = cms_row_for_create(r, req->json, req->user.id)) == NULL) {
		resp_error(req, FB_ERR_NOMEM);
		return;
	}
	/* From here on the label `fail` rolls back and answers e. */
	if ((e = db_begin(db)) != FB_OK)
		goto fail;
	if ((e = cms_create(db, r, row, &item)) != FB_OK)
		goto fail;
	id = json_string_value(json_object_get(item, "id"));
	audit_request(req, "cms.create", r->name, id, json_pack("{s:s,s:s?,s:o}",
	    "resource", r->name, "id", id, "fields", cms_audit_fields(r, item)));
	if ((e = db_commit(db)) != FB_OK)
		goto fail;
	written();
	json_decref(row);
	resp_json(req, 201, item);
	return;
fail:
	db_rollback(db);
	if (e == FB_ERR_CONFLICT)
		slug_taken(req, json_string_value(json_object_get(row, "slug")));
	else
		resp_error(req, e);
	json_decref(row);
	json_decref(item);
}

/* PATCH /api/{resource}/{id} (admins): a partial update. */
void
cms_update_route(struct request *req)
{
	const struct cms_resource *r = resource_of(req);
	const char	*id = request_path_param(req, "id");
	struct db	*db = &req->app->db;
	json_t		*before = NULL, *after = NULL, *changes = NULL;
	enum fb_err	 e;

	if (r == NULL) {
		resp_error(req, FB_ERR_INTERNAL);
		return;
	}
	if (id == NULL || !valid_uuid(id)) {
		resp_problem(req, 404, "not_found", NULL);
		return;
	}
	if (!body_valid(req, r, false))
		return;
	/* From here on the label `fail` rolls back and answers e. */
	if ((e = db_begin(db)) != FB_OK)
		goto fail;
	if ((e = cms_update(db, r, id, req->json, &before, &after)) != FB_OK)
		goto fail;
	if ((changes = cms_changes(r, before, after)) == NULL) {
		e = FB_ERR_NOMEM;
		goto fail;
	}
	if (json_object_size(changes) == 0) {
		/* Nothing changed: no audit entry, and updated_at stays. */
		db_rollback(db);
		json_decref(changes);
		json_decref(after);
		resp_json(req, 200, before);
		return;
	}
	audit_request(req, "cms.update", r->name, id, json_pack("{s:s,s:s,s:o}",
	    "resource", r->name, "id", id, "changes", changes));
	if ((e = db_commit(db)) != FB_OK)
		goto fail;
	written();
	json_decref(before);
	resp_json(req, 200, after);
	return;
fail:
	db_rollback(db);
	if (e == FB_ERR_CONFLICT)
		slug_taken(req, json_string_value(json_object_get(req->json, "slug")));
	else
		resp_error(req, e);
	json_decref(before);
	json_decref(after);
}

/* DELETE /api/{resource}/{id} (admins) */
void
cms_delete_route(struct request *req)
{
	const struct cms_resource *r = resource_of(req);
	const char	*id = request_path_param(req, "id");
	struct db	*db = &req->app->db;
	json_t		*before = NULL;
	enum fb_err	 e;

	if (r == NULL) {
		resp_error(req, FB_ERR_INTERNAL);
		return;
	}
	if (id == NULL || !valid_uuid(id)) {
		resp_problem(req, 404, "not_found", NULL);
		return;
	}
	/* From here on the label `fail` rolls back and answers e. */
	if ((e = db_begin(db)) != FB_OK)
		goto fail;
	if ((e = cms_delete(db, r, id, &before)) != FB_OK)
		goto fail;
	audit_request(req, "cms.delete", r->name, id, json_pack("{s:s,s:s,s:o}",
	    "resource", r->name, "id", id, "fields", cms_audit_fields(r, before)));
	if ((e = db_commit(db)) != FB_OK)
		goto fail;
	written();
	json_decref(before);
	resp_empty(req, 204);
	return;
fail:
	db_rollback(db);
	resp_error(req, e);
	json_decref(before);
}

/* GET /api/search?q=&limit=&cursor= */
void
cms_search_route(struct request *req)
{
	const char	*q, *cursor;
	json_t		*data;
	char		*next;
	int		 limit;
	enum fb_err	 e;


	if (!search_param(req, &q) || !request_page(req, &limit, &cursor))
		return;
	if (q == NULL) {
		resp_problem(req, 400, "bad_request", "q is required");
		return;
	}
	e = cms_search(&req->app->db, q, cursor, limit, &data, &next);
	if (e == FB_ERR_INVALID) {
		resp_problem(req, 400, "bad_request", "the cursor is not one of this search");
		return;
	}
	if (e != FB_OK) {
		resp_error(req, e);
		return;
	}
	answer(req, json_pack("{s:o,s:s?}", "data", data, "next_cursor", next), true, -1);
	free(next);
}
