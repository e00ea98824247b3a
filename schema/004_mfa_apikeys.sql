-- 004_mfa_apikeys: two-factor authentication (TOTP, backup codes, sign-in
-- challenges) and users' own API keys for AI providers. Secrets are stored
-- sealed with AES-256-GCM (shared/crypto.c: "v1.<key id>.<nonce>.<ct+tag>",
-- the row's table, column and id as associated data); codes and tokens as
-- SHA-256.

CREATE TABLE user_mfa (
	user_id		uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
	secret		text,		-- sealed TOTP secret once confirmed
	pending_secret	text,		-- sealed TOTP secret of an unconfirmed enrollment
	pending_at	timestamptz,
	last_step	bigint,		-- the last accepted TOTP step: no code works twice
	enabled_at	timestamptz,
	updated_at	timestamptz NOT NULL DEFAULT now()
);

-- Ten single-use codes per user, replaced all together on regeneration.
CREATE TABLE backup_codes (
	id		uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	user_id		uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	code_hash	bytea NOT NULL,
	created_at	timestamptz NOT NULL DEFAULT now(),
	used_at		timestamptz
);
CREATE UNIQUE INDEX backup_codes_user_hash ON backup_codes (user_id, code_hash);

-- The second step of a sign-in: the mfa_token of the MFA challenge, good for
-- /2fa/verify and /2fa/backup/verify only, for 5 minutes and 5 wrong codes.
CREATE TABLE mfa_challenges (
	id		uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	user_id		uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	token_hash	bytea NOT NULL UNIQUE,
	created_at	timestamptz NOT NULL DEFAULT now(),
	expires_at	timestamptz NOT NULL,
	failures	integer NOT NULL DEFAULT 0,
	used_at		timestamptz,
	ip		inet,
	user_agent	text
);
CREATE INDEX mfa_challenges_expires_idx ON mfa_challenges (expires_at);

CREATE TABLE user_api_keys (
	user_id		uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	provider	text NOT NULL CHECK (provider ~ '^[a-z0-9_-]{1,32}$'),
	key		text NOT NULL,	-- sealed
	last4		text NOT NULL,
	created_at	timestamptz NOT NULL DEFAULT now(),
	updated_at	timestamptz NOT NULL DEFAULT now(),
	validated_at	timestamptz,
	valid		boolean,
	PRIMARY KEY (user_id, provider)
);
