-- 006_teams: teams, their members with a role each (owner > admin > member >
-- viewer) and invitations to join by email. A team's memberships and
-- invitations go with it; a user's memberships go with the account.
-- Invitation tokens are stored as SHA-256 (shared/token.c), used once, 7 days.

CREATE TABLE teams (
	id		uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	name		text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
	created_by	uuid REFERENCES users (id) ON DELETE SET NULL,
	created_at	timestamptz NOT NULL DEFAULT now(),
	updated_at	timestamptz NOT NULL DEFAULT now()
);

-- Writes that depend on the set of owners (demote, remove, leave) first lock
-- the team row (shared/teams.c), so "is there another owner?" holds at commit.
CREATE TABLE team_members (
	team_id		uuid NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
	user_id		uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	role		text NOT NULL CHECK (role IN ('owner', 'admin', 'member', 'viewer')),
	joined_at	timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (team_id, user_id)
);
CREATE INDEX team_members_user_idx ON team_members (user_id);

CREATE TABLE team_invitations (
	id		uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	team_id		uuid NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
	email		text NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
	role		text NOT NULL CHECK (role IN ('owner', 'admin', 'member', 'viewer')),
	token_hash	bytea NOT NULL UNIQUE,
	invited_by	uuid REFERENCES users (id) ON DELETE SET NULL,
	expires_at	timestamptz NOT NULL,
	accepted_at	timestamptz,
	created_at	timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX team_invitations_team_idx ON team_invitations (team_id);
