-- 008_cms: the public content of api.md "Content (CMS)": services, projects,
-- blog posts and testimonials. The four tables share one shape (id, slug,
-- published, published_at, position, tags, timestamps) around their own
-- fields; shared/cms.c describes them in one table and mirrors these checks.
--
-- An item is public when published and its published_at has come (a future
-- published_at schedules it). sort_at is what "newest" sorts by: the
-- publication time, or the creation time of a draft. search is the english
-- full-text vector: the title at weight A (so a title match ranks first),
-- the summary at B, the body at D.

-- Stamps updated_at on every change, and published_at the first time an
-- item is published without one (unpublishing keeps it).
CREATE FUNCTION cms_touch() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	IF TG_OP = 'UPDATE' THEN
		NEW.updated_at := now();
	END IF;
	IF NEW.published AND NEW.published_at IS NULL THEN
		NEW.published_at := now();
	END IF;
	RETURN NEW;
END
$$;

CREATE TABLE services (
	id		uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	slug		text NOT NULL CHECK (slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$' AND length(slug) <= 80),
	name		text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
	summary		text NOT NULL DEFAULT '' CHECK (length(summary) <= 500),
	description	text NOT NULL DEFAULT '' CHECK (length(description) <= 20000),
	price_cents	bigint NOT NULL CHECK (price_cents BETWEEN 0 AND 1000000000000),
	currency	text NOT NULL CHECK (currency ~ '^[a-z]{3}$'),
	duration_minutes integer CHECK (duration_minutes BETWEEN 1 AND 10080),
	published	boolean NOT NULL DEFAULT false,
	published_at	timestamptz,
	position	integer NOT NULL DEFAULT 0 CHECK (position BETWEEN -1000000 AND 1000000),
	tags		text[] NOT NULL DEFAULT '{}' CHECK (cardinality(tags) <= 20),
	created_at	timestamptz NOT NULL DEFAULT now(),
	updated_at	timestamptz NOT NULL DEFAULT now(),
	sort_at		timestamptz GENERATED ALWAYS AS (coalesce(published_at, created_at)) STORED,
	search		tsvector GENERATED ALWAYS AS (
		setweight(to_tsvector('english', name), 'A') ||
		setweight(to_tsvector('english', summary), 'B') ||
		setweight(to_tsvector('english', description), 'D')) STORED
);

CREATE TABLE projects (
	id		uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	slug		text NOT NULL CHECK (slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$' AND length(slug) <= 80),
	title		text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
	summary		text NOT NULL DEFAULT '' CHECK (length(summary) <= 500),
	body		text NOT NULL DEFAULT '' CHECK (length(body) <= 100000),
	url		text CHECK (url ~* '^https?://' AND length(url) <= 2048),
	cover_file_id	uuid,		-- XXX: references files once uploads exist
	published	boolean NOT NULL DEFAULT false,
	published_at	timestamptz,
	position	integer NOT NULL DEFAULT 0 CHECK (position BETWEEN -1000000 AND 1000000),
	tags		text[] NOT NULL DEFAULT '{}' CHECK (cardinality(tags) <= 20),
	created_at	timestamptz NOT NULL DEFAULT now(),
	updated_at	timestamptz NOT NULL DEFAULT now(),
	sort_at		timestamptz GENERATED ALWAYS AS (coalesce(published_at, created_at)) STORED,
	search		tsvector GENERATED ALWAYS AS (
		setweight(to_tsvector('english', title), 'A') ||
		setweight(to_tsvector('english', summary), 'B') ||
		setweight(to_tsvector('english', body), 'D')) STORED
);

CREATE TABLE blog_posts (
	id		uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	slug		text NOT NULL CHECK (slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$' AND length(slug) <= 80),
	title		text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
	excerpt		text NOT NULL DEFAULT '' CHECK (length(excerpt) <= 1000),
	body		text NOT NULL DEFAULT '' CHECK (length(body) <= 100000),
	cover_file_id	uuid,		-- XXX: references files once uploads exist
	author_id	uuid REFERENCES users (id) ON DELETE SET NULL,
	published	boolean NOT NULL DEFAULT false,
	published_at	timestamptz,
	position	integer NOT NULL DEFAULT 0 CHECK (position BETWEEN -1000000 AND 1000000),
	tags		text[] NOT NULL DEFAULT '{}' CHECK (cardinality(tags) <= 20),
	created_at	timestamptz NOT NULL DEFAULT now(),
	updated_at	timestamptz NOT NULL DEFAULT now(),
	sort_at		timestamptz GENERATED ALWAYS AS (coalesce(published_at, created_at)) STORED,
	search		tsvector GENERATED ALWAYS AS (
		setweight(to_tsvector('english', title), 'A') ||
		setweight(to_tsvector('english', excerpt), 'B') ||
		setweight(to_tsvector('english', body), 'D')) STORED
);
-- ON DELETE SET NULL looks the posts of a deleted user up by author.
CREATE INDEX blog_posts_author_idx ON blog_posts (author_id);

CREATE TABLE testimonials (
	id		uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	slug		text NOT NULL CHECK (slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$' AND length(slug) <= 80),
	author_name	text NOT NULL CHECK (length(author_name) BETWEEN 1 AND 200),
	author_title	text NOT NULL DEFAULT '' CHECK (length(author_title) <= 200),
	quote		text NOT NULL CHECK (length(quote) BETWEEN 1 AND 5000),
	rating		smallint NOT NULL CHECK (rating BETWEEN 1 AND 5),
	published	boolean NOT NULL DEFAULT false,
	published_at	timestamptz,
	position	integer NOT NULL DEFAULT 0 CHECK (position BETWEEN -1000000 AND 1000000),
	tags		text[] NOT NULL DEFAULT '{}' CHECK (cardinality(tags) <= 20),
	created_at	timestamptz NOT NULL DEFAULT now(),
	updated_at	timestamptz NOT NULL DEFAULT now(),
	sort_at		timestamptz GENERATED ALWAYS AS (coalesce(published_at, created_at)) STORED,
	search		tsvector GENERATED ALWAYS AS (
		setweight(to_tsvector('english', author_name), 'A') ||
		setweight(to_tsvector('english', author_title), 'B') ||
		setweight(to_tsvector('english', quote), 'D')) STORED
);

-- The same indexes and trigger on each: the slug is unique per table (a
-- clash is SQLSTATE 23505, answered 409); the two list orders (position then
-- newest, and newest) are keyset-paginated on (…, sort_at, id); tags and the
-- search vector take GIN indexes for @> and @@.
CREATE UNIQUE INDEX services_slug_key ON services (slug);
CREATE INDEX services_position_idx ON services (position, sort_at DESC, id DESC);
CREATE INDEX services_newest_idx ON services (sort_at DESC, id DESC);
CREATE INDEX services_tags_idx ON services USING gin (tags);
CREATE INDEX services_search_idx ON services USING gin (search);
CREATE TRIGGER services_touch BEFORE INSERT OR UPDATE ON services
	FOR EACH ROW EXECUTE FUNCTION cms_touch();

CREATE UNIQUE INDEX projects_slug_key ON projects (slug);
CREATE INDEX projects_position_idx ON projects (position, sort_at DESC, id DESC);
CREATE INDEX projects_newest_idx ON projects (sort_at DESC, id DESC);
CREATE INDEX projects_tags_idx ON projects USING gin (tags);
CREATE INDEX projects_search_idx ON projects USING gin (search);
CREATE TRIGGER projects_touch BEFORE INSERT OR UPDATE ON projects
	FOR EACH ROW EXECUTE FUNCTION cms_touch();

CREATE UNIQUE INDEX blog_posts_slug_key ON blog_posts (slug);
CREATE INDEX blog_posts_position_idx ON blog_posts (position, sort_at DESC, id DESC);
CREATE INDEX blog_posts_newest_idx ON blog_posts (sort_at DESC, id DESC);
CREATE INDEX blog_posts_tags_idx ON blog_posts USING gin (tags);
CREATE INDEX blog_posts_search_idx ON blog_posts USING gin (search);
CREATE TRIGGER blog_posts_touch BEFORE INSERT OR UPDATE ON blog_posts
	FOR EACH ROW EXECUTE FUNCTION cms_touch();

CREATE UNIQUE INDEX testimonials_slug_key ON testimonials (slug);
CREATE INDEX testimonials_position_idx ON testimonials (position, sort_at DESC, id DESC);
CREATE INDEX testimonials_newest_idx ON testimonials (sort_at DESC, id DESC);
CREATE INDEX testimonials_tags_idx ON testimonials USING gin (tags);
CREATE INDEX testimonials_search_idx ON testimonials USING gin (search);
CREATE TRIGGER testimonials_touch BEFORE INSERT OR UPDATE ON testimonials
	FOR EACH ROW EXECUTE FUNCTION cms_touch();
