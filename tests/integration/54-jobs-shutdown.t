#!/usr/bin/perl
# fastback-worker shutdown (workers/worker.c), with the test kinds of
# fastback-worker-test (tests/workers/test_kinds.c):
#
#   - SIGTERM during a long job, WORKER_GRACE_SECONDS=10: the job finishes,
#     the claimed jobs of the batch that had not started are released
#     (queued, attempt back to 0) and run by a later worker; nothing is lost;
#   - SIGTERM during a 5 s job, WORKER_GRACE_SECONDS=1: the job is cut short
#     and released (queued, its attempt counted), and completes under a later
#     worker.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";

use Test::More;
use Time::HiRes qw(sleep time);

use FastbackTest;
use FastbackJobs;

my $db = jobs_database();

sub runs {
	my ($id) = @_;
	return psql($db, "SELECT attempt || ':' || CASE WHEN finished_at IS NULL THEN 'unfinished'"
		. " ELSE 'finished' END FROM test_job_runs WHERE job_id = '$id' ORDER BY attempt, started_at");
}

sub msgs { map { $_->{msg} // () } $_[0]->log_lines }

# ---- SIGTERM, the running job finishes within the grace period ----------------------

{
	my @ids = map { enqueue($db, 'test.record', '{"ms": 3000}') } 1 .. 4;
	my $w = start_worker($db, WORKER_PROCESSES => 1, WORKER_BATCH => 10,
		WORKER_GRACE_SECONDS => 10);
	ok((wait_until { psql($db, 'SELECT count(*) FROM test_job_runs') >= 1 } 10),
		'grace 10: a job of the batch started');
	is psql($db, "SELECT count(*) FROM jobs WHERE state = 'running'"), 4,
		'grace 10: the child claimed all 4 jobs';
	my $first = psql($db, 'SELECT job_id FROM test_job_runs');
	my $t0 = time;
	my $term_at = psql($db, 'SELECT extract(epoch FROM clock_timestamp())');
	$w->signal('TERM');
	my $st = $w->wait_exit(8);
	my $took = time - $t0;
	is $st, 0, sprintf 'grace 10: the worker exits 0 (%.1f s after SIGTERM)', $took;
	cmp_ok $took, '<', 4.5, 'grace 10: once the running job (3 s) finished';
	my $j = job($db, $first);
	is "$j->{state}/$j->{attempt}", 'succeeded/1', 'grace 10: the running job finished and succeeded';
	ok defined $j->{finished_at}, 'grace 10: finished_at is set';
	is runs($first), '1:finished', 'grace 10: its run finished';
	is psql($db, "SELECT count(*) FROM test_job_runs WHERE started_at > to_timestamp($term_at)"), 0,
		'grace 10: no job started after SIGTERM';
	my @rest = grep { $_ ne $first } @ids;
	is join(',', map { my $r = job($db, $_); "$r->{state}/$r->{attempt}" } @rest),
		'queued/0,queued/0,queued/0', 'grace 10: the 3 unstarted jobs are queued, attempt back to 0';
	is psql($db, "SELECT count(*) FROM jobs WHERE state <> 'running'"
		. " AND (locked_by IS NOT NULL OR lease_until IS NOT NULL)"), 0, 'grace 10: nothing is left locked';
	my @msgs = msgs($w);
	ok((grep { /^worker stopping: running jobs may finish within 10 s$/ } @msgs), 'grace 10: logged the stop');
	ok((grep { $_ eq 'worker stopped' } @msgs), 'grace 10: and the end');
	$w->stop;

	my $r = run_worker($db, WORKER_PROCESSES => 3, WORKER_BATCH => 1, args => ['--once']);
	is $r->{status}, 0, sprintf 'grace 10: a later worker ran (%.1f s)', $r->{seconds};
	is psql($db, "SELECT state || '/' || count(*) FROM jobs GROUP BY state"), 'succeeded/4',
		'grace 10: all 4 jobs succeeded: nothing lost';
	is psql($db, q{SELECT count(*) || '/' || count(DISTINCT job_id) FROM test_job_runs}), '4/4',
		'grace 10: each ran once';
	is psql($db, 'SELECT max(attempt) FROM jobs'), 1, 'grace 10: each at attempt 1';
}

# ---- SIGTERM, the running job outlasts the grace period -------------------------------

{
	psql($db, 'TRUNCATE jobs, test_job_runs');
	my $id = enqueue($db, 'test.record', '{"ms": 5000}');
	my $w = start_worker($db, WORKER_PROCESSES => 1, WORKER_GRACE_SECONDS => 1);
	ok((wait_until { runs($id) eq '1:unfinished' } 10), 'grace 1: the 5 s job started');
	my $t0 = time;
	$w->signal('TERM');
	my $st = $w->wait_exit(8);
	my $took = time - $t0;
	is $st, 0, sprintf 'grace 1: the worker exits 0 (%.1f s after SIGTERM)', $took;
	cmp_ok $took, '<', 3, 'grace 1: after the grace period, not the job';
	my $j = job($db, $id);
	is "$j->{state}/$j->{attempt}", 'queued/1', 'grace 1: the job is queued again, its attempt counted';
	ok !defined $j->{locked_by} && !defined $j->{lease_until}, 'grace 1: and unlocked';
	is runs($id), '1:unfinished', 'grace 1: its run was cut short';
	my $r = run_worker($db, WORKER_PROCESSES => 1, args => ['--once']);
	is $r->{status}, 0, sprintf 'grace 1: a later worker ran (%.1f s)', $r->{seconds};
	$j = job($db, $id);
	is "$j->{state}/$j->{attempt}", 'succeeded/2', 'grace 1: the job completed as attempt 2';
	is runs($id), "1:unfinished\n2:finished", 'grace 1: attempt 2 finished';
	$w->stop;
}

done_testing;
