-- 001_init: accounts, sessions, one-time tokens, invitations and the audit log.
-- Runs in one transaction (fastbackctl migrate run). PostgreSQL 13+.

CREATE TABLE users (
	id		uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	email		text NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
	name		text NOT NULL DEFAULT '' CHECK (length(name) <= 200),
	password_hash	text,			-- argon2id (or an imported bcrypt hash)
	role		text NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin')),
	email_verified_at timestamptz,
	mfa_enabled	boolean NOT NULL DEFAULT false,
	disabled_at	timestamptz,
	created_at	timestamptz NOT NULL DEFAULT now(),
	updated_at	timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

-- A session per sign-in; every authenticated request checks that its session
-- is live, so revocation takes effect at once.
CREATE TABLE sessions (
	id		uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	user_id		uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	amr		text[] NOT NULL DEFAULT ARRAY['pwd'],
	ip		inet,
	user_agent	text CHECK (length(user_agent) <= 512),
	created_at	timestamptz NOT NULL DEFAULT now(),
	last_used_at	timestamptz NOT NULL DEFAULT now(),
	expires_at	timestamptz NOT NULL,
	revoked_at	timestamptz
);
CREATE INDEX sessions_user_idx ON sessions (user_id) WHERE revoked_at IS NULL;

-- Refresh tokens, stored as SHA-256; rotated on every use.
CREATE TABLE refresh_tokens (
	id		uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	session_id	uuid NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
	token_hash	bytea NOT NULL UNIQUE,
	created_at	timestamptz NOT NULL DEFAULT now(),
	expires_at	timestamptz NOT NULL,
	rotated_at	timestamptz,
	replaced_by	uuid REFERENCES refresh_tokens (id) ON DELETE SET NULL
);
CREATE INDEX refresh_tokens_session_idx ON refresh_tokens (session_id);

-- Single-use email tokens (verification, password reset), stored as SHA-256.
CREATE TABLE email_tokens (
	id		uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	user_id		uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	purpose		text NOT NULL CHECK (purpose IN ('verify_email', 'reset_password')),
	token_hash	bytea NOT NULL UNIQUE,
	created_at	timestamptz NOT NULL DEFAULT now(),
	expires_at	timestamptz NOT NULL,
	used_at		timestamptz
);
CREATE INDEX email_tokens_user_idx ON email_tokens (user_id, purpose);

-- Invitations to create an account (admins invite; REGISTRATION=invite).
CREATE TABLE invitations (
	id		uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	email		text NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
	role		text NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin')),
	token_hash	bytea NOT NULL UNIQUE,
	invited_by	uuid REFERENCES users (id) ON DELETE SET NULL,
	created_at	timestamptz NOT NULL DEFAULT now(),
	expires_at	timestamptz NOT NULL,
	accepted_at	timestamptz,
	revoked_at	timestamptz
);
CREATE INDEX invitations_email_idx ON invitations (lower(email));

-- The audit log: append-only and hash-chained. Each row's hash covers its
-- content and the previous row's hash, so `fastbackctl audit verify` finds a
-- row changed, inserted or removed behind the application's back. actor_id has
-- no foreign key on purpose: entries outlive the accounts they name.
CREATE TABLE audit_log (
	seq		bigint PRIMARY KEY,
	id		uuid NOT NULL DEFAULT gen_random_uuid() UNIQUE,
	occurred_at	timestamptz NOT NULL DEFAULT now(),
	actor_id	uuid,
	actor_ip	inet,
	request_id	text,
	action		text NOT NULL CHECK (action ~ '^[a-z0-9_.]{1,64}$'),
	target_type	text,
	target_id	text,
	details		jsonb NOT NULL DEFAULT '{}',
	prev_hash	bytea NOT NULL,
	hash		bytea NOT NULL
);
CREATE INDEX audit_log_actor_idx ON audit_log (actor_id, seq);
CREATE INDEX audit_log_action_idx ON audit_log (action, seq);
CREATE INDEX audit_log_time_idx ON audit_log (occurred_at);

-- The canonical text of an entry that its hash covers.
CREATE FUNCTION audit_log_canonical(a audit_log) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
	SELECT concat_ws(E'\x1f', a.seq::text, a.id::text,
		to_char(a.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
		coalesce(a.actor_id::text, ''), coalesce(host(a.actor_ip), ''),
		coalesce(a.request_id, ''), a.action, coalesce(a.target_type, ''),
		coalesce(a.target_id, ''), a.details::text)
$$;

-- Numbers and chains every new entry. The transaction-level advisory lock
-- serialises writers, so the chain has one order even under concurrency.
CREATE FUNCTION audit_log_chain() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
	last audit_log%ROWTYPE;
BEGIN
	PERFORM pg_advisory_xact_lock(4242001);
	SELECT * INTO last FROM audit_log ORDER BY seq DESC LIMIT 1;
	IF last.seq IS NULL THEN
		NEW.seq := 1;
		NEW.prev_hash := '\x'::bytea;
	ELSE
		NEW.seq := last.seq + 1;
		NEW.prev_hash := last.hash;
	END IF;
	NEW.occurred_at := date_trunc('microseconds', coalesce(NEW.occurred_at, now()));
	NEW.hash := sha256(NEW.prev_hash || convert_to(audit_log_canonical(NEW), 'UTF8'));
	RETURN NEW;
END
$$;

CREATE FUNCTION audit_log_refuse() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'audit_log is append-only (% refused)', TG_OP
		USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER audit_log_chain BEFORE INSERT ON audit_log
	FOR EACH ROW EXECUTE FUNCTION audit_log_chain();
CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
	FOR EACH ROW EXECUTE FUNCTION audit_log_refuse();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
	FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse();
