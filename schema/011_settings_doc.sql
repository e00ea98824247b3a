-- 011_settings_doc: each user's settings as one precomputed JSON document,
-- so GET /api/settings reads one row instead of aggregating user_settings.
-- doc is the exact text of the answer's "settings" member,
-- { "<category>" : { "<key>" : value, ... }, ... } (json_object_agg's
-- spacing), categories and keys in byte order (COLLATE "C"), {} when the
-- user has none. Statement-level triggers on user_settings keep it current;
-- nothing else writes it.
CREATE TABLE user_settings_docs (
	user_id	uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
	doc	text NOT NULL
);

-- Rebuilds the documents of the users in uids (each once), under their
-- document rows' locks.
--
-- Concurrency: two transactions writing settings of one user (READ
-- COMMITTED) must not leave a document without the other's rows. Each
-- statement below takes its own snapshot (a volatile plpgsql function), so:
--   1. make sure each user's document row exists (ON CONFLICT DO NOTHING
--      waits for a concurrent inserter of the same row to finish);
--   2. lock the rows FOR UPDATE, in user_id order so statements touching
--      several users cannot deadlock each other; a writer waits here until
--      the other writer of the same user commits;
--   3. only then aggregate, in a new statement whose snapshot includes
--      everything committed before the lock was granted.
-- Whoever takes the lock last therefore sees every other writer's rows.
-- Without step 2 the UPDATE would still wait for the other writer's row
-- lock, but then write an aggregate from its snapshot taken before that
-- commit: a lost update (tests/integration/89-settings-doc.t). Under
-- REPEATABLE READ or SERIALIZABLE step 2 fails with a serialization error
-- (40001) instead. Documents are never deleted here (a writer waiting in
-- step 2 on a deleted row would lock nothing); a user's goes with the user
-- (ON DELETE CASCADE), and users deleted by this very transaction (the
-- cascade into user_settings) are skipped.
CREATE FUNCTION user_settings_docs_rebuild(uids uuid[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO user_settings_docs (user_id, doc)
		SELECT u.id, '{}' FROM users u WHERE u.id = ANY (uids) ORDER BY u.id
		ON CONFLICT (user_id) DO NOTHING;
	PERFORM 1 FROM user_settings_docs WHERE user_id = ANY (uids) ORDER BY user_id
		FOR UPDATE;
	UPDATE user_settings_docs d SET doc = coalesce((
		SELECT json_object_agg(c.category, c.keys ORDER BY c.category COLLATE "C")::text
		FROM (SELECT s.category, json_object_agg(s.key, s.value ORDER BY s.key COLLATE "C")
			AS keys FROM user_settings s WHERE s.user_id = d.user_id
			GROUP BY s.category) c), '{}')
		WHERE d.user_id = ANY (uids);
END
$$;

-- One trigger per event: PostgreSQL allows transition tables only on
-- single-event triggers (so an INSERT ... ON CONFLICT DO UPDATE that both
-- inserts and updates rows of a user rebuilds it twice). An UPDATE that
-- moves a row to another user rebuilds both users' documents.
CREATE FUNCTION user_settings_docs_sync() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
	uids	uuid[];
BEGIN
	IF TG_OP = 'INSERT' THEN
		SELECT array_agg(DISTINCT user_id) INTO uids FROM new_rows;
	ELSIF TG_OP = 'UPDATE' THEN
		SELECT array_agg(DISTINCT user_id) INTO uids
			FROM (SELECT user_id FROM new_rows UNION SELECT user_id FROM old_rows) t;
	ELSE
		SELECT array_agg(DISTINCT user_id) INTO uids FROM old_rows;
	END IF;
	IF uids IS NOT NULL THEN
		PERFORM user_settings_docs_rebuild(uids);
	END IF;
	RETURN NULL;
END
$$;

CREATE TRIGGER user_settings_docs_insert AFTER INSERT ON user_settings
	REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION user_settings_docs_sync();
CREATE TRIGGER user_settings_docs_update AFTER UPDATE ON user_settings
	REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION user_settings_docs_sync();
CREATE TRIGGER user_settings_docs_delete AFTER DELETE ON user_settings
	REFERENCING OLD TABLE AS old_rows
	FOR EACH STATEMENT EXECUTE FUNCTION user_settings_docs_sync();

-- TRUNCATE has no transition tables: every document becomes {} (it holds
-- an ACCESS EXCLUSIVE lock, so no writer is waiting on a document row).
CREATE FUNCTION user_settings_docs_truncate() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	UPDATE user_settings_docs SET doc = '{}';
	RETURN NULL;
END
$$;

CREATE TRIGGER user_settings_docs_truncate AFTER TRUNCATE ON user_settings
	FOR EACH STATEMENT EXECUTE FUNCTION user_settings_docs_truncate();

-- Backfill. The CREATE TRIGGERs above locked user_settings against writes
-- until this migration commits, and this statement's snapshot is newer than
-- that lock: every row committed so far is in, and later writes fire the
-- triggers.
INSERT INTO user_settings_docs (user_id, doc)
	SELECT c.user_id, json_object_agg(c.category, c.keys ORDER BY c.category COLLATE "C")::text
	FROM (SELECT user_id, category, json_object_agg(key, value ORDER BY key COLLATE "C") AS keys
		FROM user_settings GROUP BY user_id, category) c
	GROUP BY c.user_id;
