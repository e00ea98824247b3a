-- 009_idempotency: the first answer to a POST with an Idempotency-Key,
-- per user and key, replayed for 24 hours to a request with the same body.
CREATE TABLE idempotency_keys (
	user_id		uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	key		text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
	request_hash	bytea NOT NULL,		-- SHA-256 of method, route and body
	status		integer,		-- NULL while the first request runs
	content_type	text,
	body		text,
	created_at	timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (user_id, key)
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);
