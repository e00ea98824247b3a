#!/usr/bin/perl
# The job queue and fastback-worker in normal operation (workers/worker.c,
# shared/jobs.c), with the test kinds of fastback-worker-test
# (tests/workers/test_kinds.c) on a migrated database of the shared
# PostgreSQL:
#
#   - 4 worker processes × 2,000 jobs run every job exactly once, with --once
#     and with a long-running worker woken by NOTIFY (well before its
#     30 s poll); job_counters counts them;
#   - a batch runs by priority, then age;
#   - an enqueue in a rolled-back transaction leaves no job and runs nothing;
#     a committed one runs;
#   - a unique key allows one unfinished job, and again once it finished;
#   - fastbackctl jobs list / retry / cancel / stats, and bad IDs.
#
# Crashes, timeouts, retries and shutdown are in 51-jobs-faults.t.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";

use Test::More;
use Time::HiRes qw(sleep time);

use FastbackTest;
use FastbackJobs;

my $db = jobs_database();
my $N = 2000;

sub reset_tables { psql($db, 'TRUNCATE jobs, job_counters, test_job_runs') }

sub enqueue_many {
	my ($n, $payload) = @_;
	psql($db, "INSERT INTO jobs (kind, payload, max_attempts)"
		. " SELECT 'test.record', '$payload', 5 FROM generate_series(1, $n)");
}

# Every one of the $N jobs ran exactly once and succeeded.
sub exactly_once {
	my ($what) = @_;
	my ($runs, $distinct, $unfinished, $dup) = q1($db,
		'SELECT count(*), count(DISTINCT job_id), count(*) FILTER (WHERE finished_at IS NULL),'
		. ' (SELECT count(*) FROM (SELECT job_id FROM test_job_runs GROUP BY job_id'
		. '  HAVING count(*) > 1) d) FROM test_job_runs');
	is $runs, $N, "$what: $N runs recorded";
	is $distinct, $N, "$what: $N distinct jobs ran";
	is $dup, 0, "$what: no job ran twice";
	is $unfinished, 0, "$what: every run finished";
	is psql($db, "SELECT state || ':' || attempt || ':' || count(*) FROM jobs GROUP BY state, attempt"),
		"succeeded:1:$N", "$what: all $N jobs succeeded at attempt 1";
}

# ---- 4 processes × 2,000 jobs, --once ------------------------------------------

{
	reset_tables();
	enqueue_many($N, '{}');
	my $r = run_worker($db, WORKER_PROCESSES => 4, WORKER_BATCH => 10,
		args => ['--once'], timeout => 50);
	is $r->{status}, 0, sprintf '--once: exits 0 when nothing is left (%.1f s)', $r->{seconds};
	diag sprintf '--once, 4 processes: %d jobs in %.2f s', $N, $r->{seconds};
	exactly_once('--once');
	is psql($db, "SELECT count FROM job_counters WHERE kind = 'test.record' AND outcome = 'succeeded'"),
		$N, "--once: job_counters counts $N succeeded";
	my $procs = psql($db, 'SELECT count(DISTINCT pid) FROM test_job_runs');
	cmp_ok $procs, '>=', 2, "--once: the jobs were shared among processes ($procs of 4)";
}

# ---- a batch runs by priority, then age ------------------------------------------

{
	reset_tables();
	my @ids;
	push @ids, enqueue($db, 'test.record', '{}', priority => $_ % 3 == 0 ? 10 : 0) for 1 .. 10;
	my $r = run_worker($db, WORKER_PROCESSES => 1, WORKER_BATCH => 10, args => ['--once']);
	is $r->{status}, 0, 'priorities: the worker ran';
	is psql($db, 'SELECT count(DISTINCT pid) FROM test_job_runs'), 1, 'priorities: one process, one batch';
	my $order = psql($db, q{SELECT string_agg(j.id::text, ',' ORDER BY r.started_at)
		FROM test_job_runs r JOIN jobs j ON j.id = r.job_id});
	my @want = ((grep { $_ } map { $_ % 3 == 0 ? $ids[$_ - 1] : undef } 1 .. 10),
		(grep { $_ } map { $_ % 3 != 0 ? $ids[$_ - 1] : undef } 1 .. 10));
	is $order, join(',', @want), 'priorities: higher priority first, then oldest first';
}

# ---- a long-running worker, woken by NOTIFY ----------------------------------

my $w;
{
	reset_tables();
	$w = start_worker($db, WORKER_PROCESSES => 4, WORKER_BATCH => 10,
		WORKER_POLL_SECONDS => 30);
	ok wait_listening($db, 4, 20), 'NOTIFY: 4 children wait for work';
	sleep 0.3;	# past their claim, into the wait
	my $t0 = time;
	my $created = psql($db, "INSERT INTO jobs (kind, payload) SELECT 'test.record', '{}'"
		. " FROM generate_series(1, $N) RETURNING extract(epoch FROM created_at)");
	($created) = split /\n/, $created;
	ok((wait_until { psql($db, "SELECT count(*) FROM jobs WHERE state = 'succeeded'") == $N } 45),
		"NOTIFY: all $N jobs succeeded");
	my $all = time - $t0;
	my $first = psql($db, "SELECT extract(epoch FROM min(started_at)) - $created FROM test_job_runs");
	cmp_ok $first, '<', 3, sprintf 'NOTIFY: the first job started %.3f s after the commit'
		. ' (WORKER_POLL_SECONDS=30)', $first;
	diag sprintf 'NOTIFY, 4 processes: first job after %.3f s, %d jobs in %.2f s', $first, $N, $all;
	exactly_once('NOTIFY');
	is scalar(() = $w->children), 4, 'NOTIFY: still 4 children';
}

# ---- enqueue in a transaction ------------------------------------------------

{
	psql($db, 'TRUNCATE test_job_runs');
	my $before = psql($db, 'SELECT count(*) FROM jobs');
	psql($db, q{BEGIN; INSERT INTO jobs (kind, payload, max_attempts, unique_key)
		VALUES ('test.record', '{"tx": "rolled back"}', 5, NULL); ROLLBACK;});
	sleep 1.5;
	is psql($db, 'SELECT count(*) FROM jobs'), $before, 'rollback: no job';
	is psql($db, 'SELECT count(*) FROM test_job_runs'), 0, 'rollback: nothing ran';
	my ($id) = split /\n/, psql($db, q{BEGIN; INSERT INTO jobs (kind, payload, max_attempts, unique_key)
		VALUES ('test.record', '{"tx": "committed"}', 5, NULL) RETURNING id; COMMIT;});
	ok((wait_until { (job($db, $id) // {})->{state} eq 'succeeded' } 5),
		'commit: the job ran (woken by NOTIFY)');
	is psql($db, 'SELECT count(*) FROM test_job_runs'), 1, 'commit: once';
	my $t0 = time;
	my $st = $w->stop(10);
	is $st, 0, sprintf 'the long-running worker exits 0 on SIGTERM (%.1f s)', time - $t0
		or diag 'wait status ' . ($st // 'undef') . "; log:\n" . join "\n",
			grep { !/"type":"job"/ } split /\n/, $w->log_text;
	is psql($db, "SELECT count FROM job_counters WHERE kind = 'test.record' AND outcome = 'succeeded'"),
		$N + 1, 'job_counters counts every job once the worker stopped';
}

# ---- unique keys ------------------------------------------------------------------

# The enqueue of shared/jobs.c (jobs_enqueue): (id, created).
sub enqueue_unique {
	my ($key) = @_;
	my $out = psql($db, qq{WITH ins AS (
		INSERT INTO jobs (kind, payload, priority, run_at, max_attempts, unique_key)
		VALUES ('test.record', '{}', 0, now(), 5, '$key')
		ON CONFLICT (unique_key) WHERE unique_key IS NOT NULL
		 AND state IN ('queued', 'running') DO NOTHING
		RETURNING id, true AS created)
		SELECT id, created FROM ins
		UNION ALL
		SELECT id, false FROM jobs WHERE unique_key = '$key'
		 AND state IN ('queued', 'running') AND NOT EXISTS (SELECT 1 FROM ins)});
	return split /\|/, $out;
}

{
	reset_tables();
	my ($id1, $c1) = enqueue_unique('report:42');
	my ($id2, $c2) = enqueue_unique('report:42');
	is $c1, 't', 'unique key: the first enqueue creates a job';
	is $c2, 'f', 'unique key: the second does not';
	is $id2, $id1, 'unique key: and names the pending job';
	ok !eval { enqueue($db, 'test.record', '{}', unique_key => 'report:42'); 1 },
		'unique key: a plain INSERT with the key of an unfinished job is refused';
	like $@, qr/jobs_unique_key/, 'unique key: by the index jobs_unique_key';
	is psql($db, "SELECT count(*) FROM jobs WHERE unique_key = 'report:42'"), 1, 'unique key: one job';
	run_worker($db, WORKER_PROCESSES => 1);
	is job($db, $id1)->{state}, 'succeeded', 'unique key: the job ran';
	my ($id3, $c3) = enqueue_unique('report:42');
	is $c3, 't', 'unique key: once it finished, the key can be queued again';
	isnt $id3, $id1, 'unique key: as a new job';
	is psql($db, "SELECT count(*) FROM jobs WHERE unique_key = 'report:42'"), 2,
		'unique key: two jobs with the key, one finished';
}

# ---- fastbackctl jobs -----------------------------------------------------------

{
	reset_tables();
	# A job that goes dead for a cause an operator can fix: test.record
	# cannot record its run while test_job_runs is missing.
	psql($db, 'ALTER TABLE test_job_runs RENAME TO test_job_runs_off');
	my $dead = enqueue($db, 'test.record', '{}', max_attempts => 1);
	my $fail = enqueue($db, 'test.fail', '{"permanent": true}');
	run_worker($db, WORKER_PROCESSES => 1);
	psql($db, 'ALTER TABLE test_job_runs_off RENAME TO test_job_runs');
	my $j = job($db, $dead);
	is "$j->{state}/$j->{attempt}", 'dead/1', 'ctl: a job went dead (1 attempt)';
	is $j->{last_error}, 'cannot record the run', 'ctl: with its error';
	my $queued = enqueue($db, 'test.record', '{}');

	my ($st, $out, $err) = ctl($db, 'jobs', 'list', '--state', 'dead');
	is $st, 0, 'jobs list --state dead: exit 0';
	like $out, qr/^ID\s+KIND\s+STATE\s+ATTEMPT/m, 'jobs list: a header';
	like $out, qr/^\Q$dead\E\s+test\.record\s+dead\s+1\/1\s+\S+\s+cannot record the run$/m,
		'jobs list: the dead job, its attempts and error';
	like $out, qr/^\Q$fail\E\s+test\.fail\s+dead\s+1\/5\s+\S+\s+test\.fail always fails \(attempt 1\)$/m,
		'jobs list: the permanently failed job';
	unlike $out, qr/\Q$queued\E/, 'jobs list --state dead: not the queued job';
	($st, $out) = ctl($db, 'jobs', 'list', '--kind', 'test.fail');
	is $st, 0, 'jobs list --kind: exit 0';
	is scalar(() = $out =~ /^[0-9a-f-]{36}\s/mg), 1, 'jobs list --kind test.fail: one job';
	($st, $out) = ctl($db, 'jobs', 'list', '--limit', '2');
	is scalar(() = $out =~ /^[0-9a-f-]{36}\s/mg), 2, 'jobs list --limit 2: two jobs';

	($st, $out, $err) = ctl($db, 'jobs', 'retry', $dead);
	is $st, 0, 'jobs retry: exit 0';
	like $out, qr/queued \Q$dead\E again/, 'jobs retry: says so';
	$j = job($db, $dead);
	is "$j->{state}/$j->{attempt}", 'queued/0', 'jobs retry: queued with a fresh set of attempts';
	($st, $out, $err) = ctl($db, 'jobs', 'retry', $dead);
	is $st, 1, 'jobs retry of a queued job: exit 1';
	like $err, qr/not a dead or cancelled job/, 'jobs retry of a queued job: says why';

	($st, $out, $err) = ctl($db, 'jobs', 'cancel', $queued);
	is $st, 0, 'jobs cancel: exit 0';
	like $out, qr/cancelled \Q$queued\E/, 'jobs cancel: says so';
	is job($db, $queued)->{state}, 'cancelled', 'jobs cancel: the job is cancelled';
	($st, $out, $err) = ctl($db, 'jobs', 'cancel', $queued);
	is $st, 1, 'jobs cancel of a cancelled job: exit 1';
	like $err, qr/not a queued job/, 'jobs cancel of a cancelled job: says why';

	run_worker($db, WORKER_PROCESSES => 1);
	$j = job($db, $dead);
	is "$j->{state}/$j->{attempt}", 'succeeded/1', 'the retried job ran and succeeded';
	is psql($db, "SELECT count(*) FROM test_job_runs WHERE job_id = '$dead'"), 1, 'the retried job: one run';
	is job($db, $queued)->{state}, 'cancelled', 'the cancelled job stays cancelled';
	is psql($db, "SELECT count(*) FROM test_job_runs WHERE job_id = '$queued'"), 0, 'the cancelled job never ran';

	($st, $out, $err) = ctl($db, 'jobs', 'retry', $queued);
	is $st, 0, 'jobs retry of a cancelled job: exit 0';
	is job($db, $queued)->{state}, 'queued', 'jobs retry of a cancelled job: queued again';

	($st, $out, $err) = ctl($db, 'jobs', 'stats');
	is $st, 0, 'jobs stats: exit 0' or diag $err;
	like $out, qr/^test\.record\s+queued\s+1\s+\d+$/m, 'jobs stats: queued jobs per kind';
	like $out, qr/^test\.fail\s+dead\s+1\s+0$/m, 'jobs stats: dead jobs per kind';
	like $out, qr/^test\.record\s+succeeded\s+\d+$/m, 'jobs stats: the counters';

	for my $bad (['retry', 'nope'], ['cancel', '123'], ['retry'],
		['cancel', "$queued-x"], ['retry', $queued, $queued]) {
		($st, $out, $err) = ctl($db, 'jobs', @$bad);
		is $st, 2, "jobs @$bad: exit 2";
		like $err, qr/ID must be a job's UUID/, "jobs @$bad: says why";
	}
	($st, $out, $err) = ctl($db, 'jobs', 'retry', '00000000-0000-4000-8000-000000000000');
	is $st, 1, 'jobs retry of an unknown job: exit 1';
	like $err, qr/not a dead or cancelled job/, 'jobs retry of an unknown job: says why';
	for my $bad (['list', '--state', 'bogus'], ['list', '--limit', '0'], ['stats', 'x'], ['frob']) {
		($st, $out, $err) = ctl($db, 'jobs', @$bad);
		is $st, 2, "jobs @$bad: exit 2 (usage)";
		like $err, qr/usage: fastbackctl jobs/, "jobs @$bad: usage";
	}
}

done_testing;
