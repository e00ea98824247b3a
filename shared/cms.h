/*
 * cms — the public content of api.md "Content (CMS)": services, projects,
 * blog posts and testimonials (schema/008_cms.sql), in one table-driven
 * module. Each resource is a struct cms_resource: its table, its own fields
 * with their kinds and bounds, the field its slug is made from, and its SQL;
 * every resource also has the common fields (slug, published, published_at,
 * position, tags) and the read-only id, created_at and updated_at.
 *
 * The SQL of each resource is made of string literals at compile time from
 * its table and column names (nothing is assembled at run time, and values
 * are always parameters); rows travel as one jsonb parameter through
 * jsonb_populate_record, so a partial update is "the stored row with the
 * patch's keys replaced".
 *
 * Items are jansson objects with a fixed key order (id, slug, the resource's
 * fields, published, published_at, position, tags, created_at, updated_at),
 * so the same row always serialises to the same bytes (the ETag relies on
 * it). Every json_t ** out-parameter is the caller's to json_decref, and is
 * NULL on failure; every char ** cursor is the caller's to free (NULL: none).
 *
 * Visibility: an item is public when published and its published_at has come.
 * with_drafts shows everything (the caller checks that the asker is an admin).
 *
 * Pagination is keyset over the order's key: (position, sort_at, id),
 * (sort_at, id), or for ranked search (rank, id), where rank is a float that
 * the query recomputes identically for every page (ts_rank, normalised into
 * [0, 1), plus 1 when the title matches: title matches come first). A cursor
 * names its order; one of another order is refused (FB_ERR_INVALID). A walk
 * never repeats or skips an item present for the whole walk.
 */
#ifndef FB_CMS_H
#define FB_CMS_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "db.h"
#include "err.h"

#define CMS_SLUG_MAX		80	/* characters of a slug */
#define CMS_TAG_MAX		40	/* characters of a tag */
#define CMS_TAGS_MAX		20	/* tags of an item */
#define CMS_QUERY_MAX		200	/* characters of ?q= */
#define CMS_AUDIT_TEXT_MAX	200	/* characters of a text kept in an audit entry */

enum cms_kind {
	CMS_TEXT,	/* a string of min..max characters, no control characters but \t \n \r */
	CMS_INT,	/* an integer in min..max */
	CMS_BOOL,
	CMS_UUID,	/* a UUID (not checked against any table) */
	CMS_USER,	/* the UUID of an existing user (cms_check_references) */
	CMS_URL,	/* an absolute http or https URL of at most max characters */
	CMS_CURRENCY,	/* an active ISO 4217 currency code, lowercase */
	CMS_TIME,	/* an RFC 3339 date-time */
	CMS_SLUG,	/* see cms_slug_valid */
	CMS_TAGS,	/* an array of at most max distinct tags (cms_tag_valid) */
};

struct cms_field {
	const char	*name;		/* (NULL ends a list) */
	enum cms_kind	 kind;
	bool		 is_required;	/* on create */
	bool		 is_nullable;	/* null is a value, and the default */
	long long	 min, max;	/* text: characters; int: value; tags: items */
	bool		 is_actor_default; /* CMS_USER: the creating admin when absent */
};

/* Constant statements (the prepared-statement cache keys on their address). */
struct cms_sql {
	const char	*get_by_id;	/* $1 id, $2 with_drafts */
	const char	*get_by_slug;	/* $1 slug, $2 with_drafts */
	const char	*lock;		/* $1 id: the item, FOR UPDATE */
	const char	*insert;	/* $1 the row as jsonb */
	const char	*update;	/* $1 id, $2 the patch as jsonb */
	const char	*remove;	/* $1 id */
	const char	*list_position;
	const char	*list_newest;
	const char	*list_rank;
};

struct cms_resource {
	const char		*name;		/* "blog-posts": path, search type, audit */
	const char		*table;		/* "blog_posts" */
	const char		*title_field;	/* the field a slug is made from */
	const struct cms_field	*fields;	/* its own fields, up to a { NULL } */
	struct cms_sql		 sql;
};

/* The four resources, NULL-terminated. */
extern const struct cms_resource *const cms_resources[];
/* The resource named name ("services", ...), or NULL. */
const struct cms_resource *cms_resource(const char *name, size_t len);

enum cms_order {
	CMS_ORDER_POSITION,	/* position, then newest */
	CMS_ORDER_NEWEST,	/* published_at (a draft: created_at), newest first */
	CMS_ORDER_RANK,		/* relevance to q (q required) */
};

struct cms_list_query {
	bool		 with_drafts;
	enum cms_order	 order;
	const char	*tag;		/* only items with this tag (or NULL) */
	const char	*q;		/* websearch_to_tsquery text (or NULL) */
	const char	*after;		/* a cursor of the same order (or NULL) */
	int		 limit;		/* 1..100 */
};

/* Single checks (also for query and path values). */
/* Lowercase ASCII letters and digits in runs joined by single '-', 1 to
 * CMS_SLUG_MAX characters, and not shaped like a UUID (so a path segment is
 * an id or a slug, never both). */
bool		cms_slug_valid(const char *s);
/* The same shape, 1 to CMS_TAG_MAX characters. */
bool		cms_tag_valid(const char *s);
/* An active ISO 4217 currency code, lowercase ("eur"). */
bool		cms_currency_valid(const char *code);
/* An absolute http:// or https:// URL: a host name, IPv4 or [IPv6] host, an
 * optional port, no user information, and printable ASCII after it with
 * well-formed %-escapes. The length is the caller's to bound. */
bool		cms_url_valid(const char *s);
/* RFC 3339 §5.6 date-time with a real calendar date ("2026-01-31T12:00:00Z",
 * fractions and ±hh:mm offsets allowed; no leap second). */
bool		cms_time_valid(const char *s);

/*
 * The slug of a title: lowercase ASCII letters and digits; runs of anything
 * else (spaces, punctuation, symbols) become one '-'; non-ASCII letters and
 * marks are dropped ("Café Crème" → "caf-crme"); no '-' at either end; cut
 * at CMS_SLUG_MAX characters. Returns false when nothing is left (out "").
 * XXX: which non-ASCII code points are separators rather than letters is a
 * table of punctuation, symbol and space blocks, not the Unicode categories.
 */
bool		cms_slugify(const char *title, char out[CMS_SLUG_MAX + 1]);

/*
 * Checks a create (is_create) or partial update body against the resource:
 * every field's type, bounds and format, required fields on create, no
 * unknown keys, and on create that a slug can be made from the title when
 * none is sent. Every problem is added to *problem (created as a 422
 * validation_failed on the first); returns their number (0: valid, and
 * *problem untouched). The detail is set by the caller (cms_problem_detail).
 */
int		cms_validate(const struct cms_resource *r, json_t *body, bool is_create,
		    json_t **problem);
/* Adds a field error to *problem for each CMS_USER value of body that names
 * no user, counting them in *count. Fails only when the database does. */
enum fb_err	cms_check_references(struct db *db, const struct cms_resource *r,
		    json_t *body, json_t **problem, int *count);
/* Sets "detail" of a validation problem to "N fields are invalid". */
void		cms_problem_detail(json_t *problem);

/* The full row of a valid create body: its values, the slug made from the
 * title when absent, actor_id for an absent is_actor_default field, and the
 * defaults of the rest (null, "", 0, false, []). NULL on ENOMEM. */
json_t		*cms_row_for_create(const struct cms_resource *r, json_t *body,
		    const char *actor_id);

/* A page of items. FB_ERR_INVALID for a malformed cursor, a cursor of
 * another order, or CMS_ORDER_RANK without q. */
enum fb_err	cms_list(struct db *db, const struct cms_resource *r,
		    const struct cms_list_query *q, json_t **data, char **next);
/* One item by id (when key is a UUID) or slug. FB_ERR_NOTFOUND when there
 * is none, or it is not visible. */
enum fb_err	cms_get(struct db *db, const struct cms_resource *r, const char *key,
		    bool with_drafts, json_t **item);
/* Inserts a row of cms_row_for_create. FB_ERR_CONFLICT when the slug is taken. */
enum fb_err	cms_create(struct db *db, const struct cms_resource *r, json_t *row,
		    json_t **item);
/* Applies a valid patch to item id, inside the caller's transaction (the row
 * is locked first): *before and *after are the item around the change.
 * FB_ERR_NOTFOUND, FB_ERR_CONFLICT (slug taken). */
enum fb_err	cms_update(struct db *db, const struct cms_resource *r, const char *id,
		    json_t *patch, json_t **before, json_t **after);
/* Deletes item id; *before is what it was. FB_ERR_NOTFOUND. */
enum fb_err	cms_delete(struct db *db, const struct cms_resource *r, const char *id,
		    json_t **before);

/* {"field": {"from", "to"}} for every field that differs between two items
 * (updated_at aside; {} when none does). Texts longer than
 * CMS_AUDIT_TEXT_MAX characters are cut there and end in "…". NULL on ENOMEM. */
json_t		*cms_changes(const struct cms_resource *r, json_t *before, json_t *after);
/* The item's fields as kept in an audit entry (texts cut as above). */
json_t		*cms_audit_fields(const struct cms_resource *r, json_t *item);

/* GET /api/search: published items of every resource matching q, best first,
 * [{"type","id","slug","title","snippet","rank"}]; type is the resource name
 * and snippet plain text around the match. Paginated like CMS_ORDER_RANK. */
enum fb_err	cms_search(struct db *db, const char *q, const char *after, int limit,
		    json_t **data, char **next);

/* The content version: bumped by every write to the CMS tables. */
enum fb_err	cms_version(struct db *db, long long *version);

#endif
