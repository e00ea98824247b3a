-- 002_jobs: the durable job queue, its counters for /metrics, and cron runs.

-- A job is a row, enqueued in the transaction of the change that causes it.
-- state: queued (due at run_at, including retries waiting out their backoff),
-- running (leased to a worker until lease_until), succeeded, dead (out of
-- attempts or failed permanently; last_error kept), cancelled.
-- attempt counts claims; completion is fenced by it, so the worker of an
-- attempt that was rescued cannot overwrite the outcome of the next one.
CREATE TABLE jobs (
	id		uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	kind		text NOT NULL CHECK (kind ~ '^[a-z0-9_.-]{1,64}$'),
	payload		jsonb NOT NULL DEFAULT '{}',
	state		text NOT NULL DEFAULT 'queued'
			CHECK (state IN ('queued', 'running', 'succeeded', 'dead', 'cancelled')),
	priority	smallint NOT NULL DEFAULT 0,
	run_at		timestamptz NOT NULL DEFAULT now(),
	attempt		integer NOT NULL DEFAULT 0,
	max_attempts	integer NOT NULL DEFAULT 5 CHECK (max_attempts BETWEEN 1 AND 100),
	unique_key	text CHECK (length(unique_key) <= 200),
	locked_by	text,
	lease_until	timestamptz,
	last_error	text,
	created_at	timestamptz NOT NULL DEFAULT now(),
	updated_at	timestamptz NOT NULL DEFAULT now(),
	started_at	timestamptz,
	finished_at	timestamptz
);
-- What workers claim: due jobs by priority, then age.
CREATE INDEX jobs_due_idx ON jobs (priority DESC, run_at, id) WHERE state = 'queued';
-- What the rescuer scans: running jobs whose lease ran out.
CREATE INDEX jobs_lease_idx ON jobs (lease_until) WHERE state = 'running';
-- What pruning and the operator lists scan.
CREATE INDEX jobs_state_idx ON jobs (state, finished_at);
-- The same work is queued once: a unique key among unfinished jobs, enforced
-- by the index (INSERT ... ON CONFLICT DO NOTHING), not by a lock and a query.
CREATE UNIQUE INDEX jobs_unique_key ON jobs (unique_key)
	WHERE unique_key IS NOT NULL AND state IN ('queued', 'running');

-- Wake the workers (LISTEN fastback_jobs) when jobs are added; NOTIFY is
-- delivered at commit, so a rolled-back enqueue wakes nobody.
CREATE FUNCTION jobs_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pg_notify('fastback_jobs', '');
	RETURN NULL;
END
$$;
CREATE TRIGGER jobs_notify AFTER INSERT ON jobs
	FOR EACH STATEMENT EXECUTE FUNCTION jobs_notify();

-- Outcomes counted by the workers, for jobs_total{kind,outcome} in /metrics
-- (finished jobs are pruned, so counting rows of jobs would go backwards).
CREATE TABLE job_counters (
	kind		text NOT NULL,
	outcome		text NOT NULL,
	count		bigint NOT NULL DEFAULT 0,
	PRIMARY KEY (kind, outcome)
);

-- One row per run of `fastbackctl cron TASK`.
CREATE TABLE cron_runs (
	id		uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	task		text NOT NULL,
	started_at	timestamptz NOT NULL DEFAULT now(),
	finished_at	timestamptz,
	outcome		text NOT NULL DEFAULT 'running'
			CHECK (outcome IN ('running', 'ok', 'failed', 'skipped')),
	summary		jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX cron_runs_task_idx ON cron_runs (task, started_at DESC);
