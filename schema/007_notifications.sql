-- 007_notifications: in-app notifications, newest first, with unread counts.
CREATE TABLE notifications (
	id		uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	user_id		uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	type		text NOT NULL CHECK (type ~ '^[a-z0-9_.-]{1,64}$'),
	title		text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
	body		text NOT NULL DEFAULT '' CHECK (length(body) <= 5000),
	data		jsonb NOT NULL DEFAULT '{}' CHECK (octet_length(data::text) <= 16384),
	read_at		timestamptz,
	created_at	timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX notifications_user_idx ON notifications (user_id, created_at DESC, id DESC);
CREATE INDEX notifications_unread_idx ON notifications (user_id) WHERE read_at IS NULL;
