-- 003_ratelimit: rate-limit counters in PostgreSQL, used when the process has
-- no Redis or Redis does not answer (shared/ratelimit.c).

-- One row per key: a fixed window that opened at window_start with its first
-- hit and ends at expires_at; count is the hits in it (refused ones too).
-- An expired row is reopened in place by the next hit (INSERT ... ON CONFLICT
-- DO UPDATE); `fastbackctl cron cleanup` deletes the ones nobody reopened.
-- fillfactor leaves room on each page so that the counting updates, which
-- change no indexed column within a window, can be HOT updates.
CREATE TABLE rate_limits (
	key		text PRIMARY KEY CHECK (octet_length(key) BETWEEN 1 AND 200),
	window_start	timestamptz NOT NULL,
	count		integer NOT NULL CHECK (count > 0),
	expires_at	timestamptz NOT NULL
) WITH (fillfactor = 70);
-- What the cleanup scans.
CREATE INDEX rate_limits_expires_idx ON rate_limits (expires_at);
