-- 010_cms_version: one counter bumped by every write to the CMS tables, so a
-- responder can keep a rendered public answer and check with one tiny query
-- that it is still current.
CREATE TABLE cms_version (
	id	boolean PRIMARY KEY DEFAULT true CHECK (id),
	version	bigint NOT NULL
);
INSERT INTO cms_version (id, version) VALUES (true, 1);

CREATE FUNCTION cms_version_bump() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	UPDATE cms_version SET version = version + 1;
	RETURN NULL;
END
$$;

CREATE TRIGGER services_version AFTER INSERT OR UPDATE OR DELETE ON services
	FOR EACH STATEMENT EXECUTE FUNCTION cms_version_bump();
CREATE TRIGGER projects_version AFTER INSERT OR UPDATE OR DELETE ON projects
	FOR EACH STATEMENT EXECUTE FUNCTION cms_version_bump();
CREATE TRIGGER blog_posts_version AFTER INSERT OR UPDATE OR DELETE ON blog_posts
	FOR EACH STATEMENT EXECUTE FUNCTION cms_version_bump();
CREATE TRIGGER testimonials_version AFTER INSERT OR UPDATE OR DELETE ON testimonials
	FOR EACH STATEMENT EXECUTE FUNCTION cms_version_bump();
