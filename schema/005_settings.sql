-- 005_settings: per-user settings (category/key → any JSON value) and
-- preferences (theme, language, time zone, notification channels).

CREATE TABLE user_settings (
	user_id		uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	category	text NOT NULL CHECK (category ~ '^[a-z0-9_.-]{1,64}$'),
	key		text NOT NULL CHECK (key ~ '^[a-z0-9_.-]{1,64}$'),
	-- The application holds values to 16 KiB of compact JSON; jsonb's own
	-- text form is wider (spaces), so the table's bound is looser.
	value		jsonb NOT NULL CHECK (octet_length(value::text) <= 65536),
	updated_at	timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (user_id, category, key)
);

CREATE TABLE user_preferences (
	user_id		uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
	theme		text NOT NULL DEFAULT 'system' CHECK (theme IN ('light', 'dark', 'system')),
	language	text NOT NULL DEFAULT 'en' CHECK (length(language) BETWEEN 2 AND 35),
	timezone	text NOT NULL DEFAULT 'UTC' CHECK (length(timezone) BETWEEN 1 AND 64),
	notify_email	boolean NOT NULL DEFAULT true,
	notify_push	boolean NOT NULL DEFAULT false,
	updated_at	timestamptz NOT NULL DEFAULT now()
);
