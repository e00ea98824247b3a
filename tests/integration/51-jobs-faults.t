#!/usr/bin/perl
# Faults of fastback-worker and the job queue (workers/worker.c,
# shared/jobs.c), with the test kinds of fastback-worker-test
# (tests/workers/test_kinds.c):
#
#   - a job longer than the lease keeps it (the master heartbeats): another
#     worker does not take it over, it runs once;
#   - the whole worker SIGKILLed mid-job: a second worker rescues the job once
#     its lease (2 s) ran out and completes it as attempt 2;
#   - one child SIGKILLed mid-job: the master fails the job ("worker process
#     died"), respawns the child, and the retry succeeds;
#   - fencing: attempt 1, rescued while it runs, completes late and does not
#     overwrite the outcome of attempt 2 (logged "superseded");
#   - a job past its kind's timeout: the child is killed, the job retried
#     ("timed out after 2 s"); it succeeds once it is quick, or goes dead
#     after max_attempts;
#   - failures: retried with backoff until dead after max_attempts; a
#     permanent failure is dead at once.
#
# Shutdown (SIGTERM, WORKER_GRACE_SECONDS) is in 54-jobs-shutdown.t.
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

sub started {
	my ($id, $attempt, $timeout) = @_;
	return wait_until {
		psql($db, "SELECT count(*) FROM test_job_runs WHERE job_id = '$id' AND attempt = $attempt")
	} $timeout // 10;
}

# The job reaches state $want within $timeout s (false at once when it ends
# in another final state).
sub state_is {
	my ($id, $want, $timeout) = @_;
	my $state;
	wait_until {
		$state = job($db, $id)->{state};
		$state eq $want || $state =~ /^(?:succeeded|dead|cancelled)$/;
	} $timeout // 10;
	return $state eq $want;
}

# Pids that still run (not gone, not zombies).
sub alive_pids {
	return grep {
		open my $fh, '<', "/proc/$_/stat" or return 0;
		my $s = <$fh>;
		substr($s, rindex($s, ')') + 2, 1) ne 'Z';
	} @_;
}

sub job_lines {
	my ($w, $id) = @_;
	return grep { ($_->{type} // '') eq 'job' && ($_->{id} // '') eq $id } $w->log_lines;
}

# ---- heartbeat: a job longer than the lease keeps it ---------------------------

{
	my $id = enqueue($db, 'test.record', '{"ms": 5000}');
	my $a = start_worker($db, WORKER_PROCESSES => 1, WORKER_LEASE_SECONDS => 2,
		WORKER_POLL_SECONDS => 1);
	ok started($id, 1), 'heartbeat: the 5 s job started (WORKER_LEASE_SECONDS=2)';
	my $t0 = time;
	# Another worker, which would rescue the job if its lease ran out.
	my $b = start_worker($db, WORKER_PROCESSES => 1, WORKER_LEASE_SECONDS => 2,
		WORKER_POLL_SECONDS => 1);
	sleep 3.5 - (time - $t0);
	my $j = job($db, $id);
	my $now = psql($db, 'SELECT extract(epoch FROM now())');
	ok defined $j->{lease_until} && $j->{lease_until} > $now && $j->{attempt} == 1,
		sprintf 'heartbeat: 3.5 s into the run, attempt 1 still holds a lease (%s)',
			defined $j->{lease_until} ? sprintf('%+.1f s', $j->{lease_until} - $now) : 'none'
		or diag explain $j;
	ok state_is($id, 'succeeded', 10), 'heartbeat: the job succeeded';
	$j = job($db, $id);
	is $j->{attempt}, 1, 'heartbeat: at attempt 1';
	is runs($id), '1:finished', 'heartbeat: it ran once' or diag runs($id);
	$b->stop(5);
	$a->stop(5);
}

# ---- SIGKILL of the whole worker mid-job -----------------------------------------

{
	my $id = enqueue($db, 'test.record', '{"ms": 3000}');
	my $a = start_worker($db, WORKER_PROCESSES => 1, WORKER_LEASE_SECONDS => 2,
		WORKER_POLL_SECONDS => 1);
	ok started($id, 1), 'SIGKILL: worker A started the job';
	# Worker B is already running (another host, say) when A dies.
	my $b = start_worker($db, WORKER_PROCESSES => 1, WORKER_LEASE_SECONDS => 2,
		WORKER_POLL_SECONDS => 1);
	ok wait_listening($db, 1, 10), 'SIGKILL: worker B waits for work';
	my @pids = ($a->{pid}, $a->children);
	is scalar @pids, 2, "SIGKILL: worker A is a master and a child (@pids)";
	$a->kill_group;
	ok !alive_pids(@pids), 'SIGKILL: worker A, master and child, is gone';
	my $t0 = time;
	is job($db, $id)->{state}, 'running', 'SIGKILL: the job is left running (leased)';
	ok state_is($id, 'succeeded', 12), sprintf 'SIGKILL: worker B rescued and completed the job (%.1f s)',
		time - $t0 or diag explain job($db, $id);
	my $j = job($db, $id);
	is $j->{attempt}, 2, 'SIGKILL: as attempt 2';
	is runs($id), "1:unfinished\n2:finished", 'SIGKILL: attempt 1 never finished, attempt 2 did';
	ok((grep { ($_->{msg} // '') eq 'rescued jobs of a lost worker' && $_->{jobs} == 1 } $b->log_lines),
		'SIGKILL: worker B logged the rescue');
	$b->stop(5);
}

# ---- SIGKILL of one child mid-job ------------------------------------------------

{
	my $id = enqueue($db, 'test.record', '{"ms": 3000}');
	# A backoff of 2 s (1 to 3 s with jitter) leaves time to see the
	# failure before the retry.
	my $w = start_worker($db, WORKER_PROCESSES => 1, WORKER_BACKOFF_MS => 2000,
		WORKER_POLL_SECONDS => 1);
	ok started($id, 1), 'child SIGKILL: the job started';
	my ($child) = $w->children;
	is psql($db, "SELECT pid FROM test_job_runs WHERE job_id = '$id'"), $child,
		"child SIGKILL: in the child $child";
	kill KILL => $child;
	ok((wait_until { my $j = job($db, $id); $j->{state} eq 'queued' && $j->{attempt} == 1 } 5),
		'child SIGKILL: the job is queued for a retry');
	like job($db, $id)->{last_error}, qr/^the worker process died \(signal 9\)$/,
		'child SIGKILL: failed with "the worker process died (signal 9)"';
	ok((wait_until { my @k = $w->children; @k == 1 && $k[0] != $child } 5),
		'child SIGKILL: the master respawned the child');
	ok state_is($id, 'succeeded', 10), 'child SIGKILL: the retry succeeded';
	is job($db, $id)->{attempt}, 2, 'child SIGKILL: at attempt 2';
	is runs($id), "1:unfinished\n2:finished", 'child SIGKILL: attempt 1 cut short, attempt 2 finished';
	my ($new) = $w->children;
	is psql($db, "SELECT pid FROM test_job_runs WHERE job_id = '$id' AND attempt = 2"), $new,
		'child SIGKILL: attempt 2 ran in the new child';
	my @log = $w->log_lines;
	ok((grep { ($_->{msg} // '') eq 'worker process died' && $_->{child} == $child
		&& $_->{signal} == 9 } @log), 'child SIGKILL: the master logged the death');
	ok((grep { ($_->{id} // '') eq $id && ($_->{outcome} // '') eq 'retry'
		&& ($_->{error} // '') =~ /worker process died/ } @log), 'child SIGKILL: and the retry');
	$w->stop(5);
}

# ---- fencing: a rescued attempt completes late ----------------------------------------

{
	my $id = enqueue($db, 'test.record', '{"ms": 4000}');
	# A long lease: worker A neither heartbeats nor rescues during the test.
	my $a = start_worker($db, WORKER_PROCESSES => 1, WORKER_LEASE_SECONDS => 3600);
	ok started($id, 1), 'fencing: worker A runs attempt 1';
	# Its lease runs out while it sleeps in the job; the next run is quick.
	psql($db, "UPDATE jobs SET lease_until = now() - interval '1 second', payload = '{\"ms\": 0}'"
		. " WHERE id = '$id'");
	my $r = run_worker($db, WORKER_PROCESSES => 1, args => ['--once']);
	is $r->{status}, 0, 'fencing: worker B ran (--once)';
	ok((grep { ($_->{msg} // '') eq 'rescued jobs of a lost worker' } @{ $r->{log_lines} }),
		'fencing: worker B rescued the job');
	my $j2 = job($db, $id);
	is "$j2->{state}/$j2->{attempt}", 'succeeded/2', 'fencing: attempt 2 succeeded';
	is runs($id), "1:unfinished\n2:finished", 'fencing: while attempt 1 still runs';
	ok((wait_until { job_lines($a, $id) } 8), 'fencing: attempt 1 ended');
	my ($line) = job_lines($a, $id);
	is $line->{attempt}, 1, 'fencing: the late completion is of attempt 1';
	is $line->{outcome}, 'superseded', 'fencing: logged as superseded';
	my $j = job($db, $id);
	is "$j->{state}/$j->{attempt}", 'succeeded/2', 'fencing: the job is still attempt 2\'s';
	is $j->{finished_at}, $j2->{finished_at}, 'fencing: finished_at is attempt 2\'s';
	is $j->{updated_at}, $j2->{updated_at}, 'fencing: the row was not touched';
	is runs($id), "1:finished\n2:finished", 'fencing: both runs finished';
	$a->stop(5);
}

# ---- a job past its timeout ----------------------------------------------------------

{
	# test.slow has a 2 s timeout; both sleep 10 s at attempt 1. One is
	# made quick meanwhile (the payload is read at each claim): its retry
	# succeeds. The other is slow every time: dead after 2 attempts.
	my $quick = enqueue($db, 'test.slow', '{"ms": 10000}', max_attempts => 3);
	my $slow = enqueue($db, 'test.slow', '{"ms": 10000}', max_attempts => 2);
	my $t0 = time;
	my $w = start_worker($db, WORKER_PROCESSES => 2, WORKER_BATCH => 1,
		WORKER_BACKOFF_MS => 50, WORKER_POLL_SECONDS => 1);
	ok started($quick, 1) && started($slow, 1), 'timeout: both jobs started';
	psql($db, "UPDATE jobs SET payload = '{\"ms\": 100}' WHERE id = '$quick'");
	ok((wait_until { job($db, $quick)->{attempt} >= 2 || job($db, $quick)->{state} ne 'running' } 6),
		'timeout: the quick job was stopped and retried') or diag explain job($db, $quick);
	ok state_is($quick, 'succeeded', 10), 'timeout: its retry succeeded';
	my $j = job($db, $quick);
	is $j->{attempt}, 2, 'timeout: at attempt 2';
	is runs($quick), "1:unfinished\n2:finished", 'timeout: attempt 1 was cut short';
	ok state_is($slow, 'dead', 10), 'timeout: the slow job is dead';
	$j = job($db, $slow);
	is $j->{attempt}, 2, 'timeout: after max_attempts (2)';
	is $j->{last_error}, 'timed out after 2 s', 'timeout: last_error "timed out after 2 s"';
	is runs($slow), "1:unfinished\n2:unfinished", 'timeout: both attempts cut short';
	diag sprintf 'timeout scenario: %.1f s', time - $t0;
	my @log = $w->log_lines;
	is scalar(grep { ($_->{msg} // '') eq 'job timed out; stopping its process' } @log), 3,
		'timeout: the master logged 3 timeouts';
	ok !(grep { ($_->{msg} // '') eq 'worker process died' } @log),
		'timeout: a child killed for a timeout is not reported as died';
	$w->stop(5);
}

# ---- failures: retries, backoff, dead ------------------------------------------------

{
	psql($db, 'TRUNCATE job_counters');
	my $fail = enqueue($db, 'test.fail', '{}', max_attempts => 3);
	my $perm = enqueue($db, 'test.fail', '{"permanent": true}', max_attempts => 3);
	my $t0 = time;
	my $w = start_worker($db, WORKER_PROCESSES => 1, WORKER_BACKOFF_MS => 50,
		WORKER_POLL_SECONDS => 1);
	ok state_is($fail, 'dead', 10), sprintf 'failing job: dead (%.1f s)', time - $t0;
	my $j = job($db, $fail);
	is $j->{attempt}, 3, 'failing job: after 3 attempts';
	is $j->{last_error}, 'test.fail always fails (attempt 3)', 'failing job: last_error of attempt 3';
	ok defined $j->{finished_at}, 'failing job: finished_at set';
	is runs($fail), "1:unfinished\n2:unfinished\n3:unfinished", 'failing job: ran 3 times';
	ok state_is($perm, 'dead', 5), 'permanent failure: dead';
	$j = job($db, $perm);
	is $j->{attempt}, 1, 'permanent failure: after 1 attempt';
	is $j->{last_error}, 'test.fail always fails (attempt 1)', 'permanent failure: its error';
	is runs($perm), '1:unfinished', 'permanent failure: ran once';
	my %outcomes = map { ($_->{attempt} => $_->{outcome}) } job_lines($w, $fail);
	is_deeply \%outcomes, { 1 => 'retry', 2 => 'retry', 3 => 'dead' }, 'failing job: logged retry, retry, dead';
	# Backoff: 50 ms × 2^(attempt-1), ×[0.5, 1.5): the retries waited.
	my @gaps = split /\n/, psql($db, "SELECT extract(epoch FROM started_at - lag(started_at)"
		. " OVER (ORDER BY attempt)) FROM test_job_runs WHERE job_id = '$fail' ORDER BY attempt");
	shift @gaps;
	ok !(grep { $_ < 0.025 } @gaps), "failing job: each retry waited out a backoff (@gaps s)";
	$w->stop(5);
	is psql($db, "SELECT outcome || ':' || count FROM job_counters WHERE kind = 'test.fail'"
		. " ORDER BY outcome"), "dead:2\nretry:2", 'job_counters: 2 dead, 2 retry';
}

done_testing;
