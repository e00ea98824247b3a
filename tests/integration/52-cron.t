#!/usr/bin/perl
# fastbackctl cron TASK (workers/ctl_cron.c) on a migrated database:
#
#   - cron cleanup deletes what has expired (refresh tokens, sessions, email
#     tokens, invitations, old finished jobs, old cron runs), keeps what has
#     not, prints and records a summary (a cron_runs row, outcome ok);
#   - a run that overlaps another (the task's advisory lock is held) skips:
#     exit 0, "skipped", a cron_runs row with outcome skipped, nothing
#     deleted; once the lock is free, the next run cleans up;
#   - an unknown task is a usage error.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";

use JSON::PP;
use POSIX qw(WNOHANG _exit);
use Test::More;
use Time::HiRes qw(sleep time);

use FastbackTest;
use FastbackJobs;

my $db = fresh_database();

# Inserts a row, returns its id.
sub row { return psql($db, "$_[0] RETURNING id") }

sub exists_id {
	my ($table, $id) = @_;
	return psql($db, "SELECT count(*) FROM $table WHERE id = '$id'") == 1;
}

my $HASH = q{decode(md5(random()::text || clock_timestamp()::text), 'hex')};

my $user = row(q{INSERT INTO users (email, name) VALUES ('cron@example.com', 'Cron')});

sub session {
	my ($expires, $revoked) = @_;
	return row("INSERT INTO sessions (user_id, expires_at, revoked_at) VALUES ('$user',"
		. " now() + interval '$expires', " . (defined $revoked ? "now() + interval '$revoked'" : 'NULL') . ')');
}

# What goes (interval past the limit) and what stays (within it, or live).
my %gone = (
	sessions => [session('-8 days'), session('1 day', '-8 days')],
	invitations => [row("INSERT INTO invitations (email, token_hash, expires_at)"
		. " VALUES ('old\@example.com', $HASH, now() - interval '31 days')")],
	cron_runs => [row("INSERT INTO cron_runs (task, started_at, finished_at, outcome)"
		. " VALUES ('cleanup', now() - interval '31 days', now() - interval '31 days', 'ok')")],
);
my %stay = (
	sessions => [session('1 day'), session('-1 day'), session('1 day', '-1 day')],
	invitations => [row("INSERT INTO invitations (email, token_hash, expires_at)"
		. " VALUES ('new\@example.com', $HASH, now() + interval '7 days')"),
		row("INSERT INTO invitations (email, token_hash, expires_at)"
		. " VALUES ('recent\@example.com', $HASH, now() - interval '29 days')")],
	cron_runs => [row("INSERT INTO cron_runs (task, started_at, finished_at, outcome)"
		. " VALUES ('cleanup', now() - interval '29 days', now() - interval '29 days', 'ok')")],
);
my $live = $stay{sessions}[0];
$gone{refresh_tokens} = [row("INSERT INTO refresh_tokens (session_id, token_hash, expires_at)"
	. " VALUES ('$live', $HASH, now() - interval '2 days')")];
$stay{refresh_tokens} = [map { row("INSERT INTO refresh_tokens (session_id, token_hash, expires_at)"
	. " VALUES ('$live', $HASH, now() + interval '$_')") } '-1 hour', '1 day'];
$gone{email_tokens} = [map { row("INSERT INTO email_tokens (user_id, purpose, token_hash, expires_at, used_at)"
	. " VALUES ('$user', 'verify_email', $HASH, now() + interval '$_->[0]', $_->[1])") }
	['-2 days', 'NULL'], ['1 day', "now() - interval '2 days'"]];
$stay{email_tokens} = [map { row("INSERT INTO email_tokens (user_id, purpose, token_hash, expires_at, used_at)"
	. " VALUES ('$user', 'reset_password', $HASH, now() + interval '$_->[0]', $_->[1])") }
	['1 hour', 'NULL'], ['-1 hour', 'NULL'], ['1 day', "now() - interval '1 hour'"]];

sub job_at {
	my ($state, $finished) = @_;
	return row("INSERT INTO jobs (kind, state, attempt, finished_at, created_at) VALUES ('noop', '$state', 1,"
		. (defined $finished ? " now() - interval '$finished'" : ' NULL') . ", now() - interval '30 days')");
}
$gone{jobs} = [job_at('succeeded', '25 hours'), job_at('dead', '8 days'), job_at('cancelled', '8 days')];
$stay{jobs} = [job_at('succeeded', '23 hours'), job_at('dead', '6 days'), job_at('queued', undef),
	job_at('cancelled', '1 hour')];

# ---- cron cleanup ----------------------------------------------------------------

{
	my $t0 = time;
	my ($st, $out, $err) = ctl($db, 'cron', 'cleanup');
	is $st, 0, sprintf('cron cleanup: exit 0 (%.2f s)', time - $t0) or diag $err;
	like $out, qr/^cron cleanup: ok \{.*\}$/m, 'cron cleanup: prints ok and a summary';
	my ($json) = $out =~ /^cron cleanup: ok (\{.*\})$/m;
	my $summary = eval { decode_json($json // '') } // {};
	for my $t (sort keys %gone) {
		is $summary->{$t}, scalar @{ $gone{$t} }, "summary: $t " . scalar @{ $gone{$t} };
		ok !(grep { exists_id($t, $_) } @{ $gone{$t} }), "$t: the expired ones are gone";
		ok !(grep { !exists_id($t, $_) } @{ $stay{$t} }), "$t: the others stay";
	}
	my @runs = split /\n/, psql($db, "SELECT outcome || '|' || (finished_at IS NOT NULL) || '|' || summary::text"
		. " FROM cron_runs WHERE started_at > now() - interval '1 hour'");
	is scalar @runs, 1, 'cron_runs: one row for the run';
	my ($outcome, $finished, $recorded) = split /\|/, $runs[0] // '', 3;
	is $outcome, 'ok', 'cron_runs: outcome ok';
	is $finished, 'true', 'cron_runs: finished_at set';
	is_deeply eval { decode_json($recorded // '') }, $summary, 'cron_runs: the printed summary';
}

# ---- an overlapping run skips -------------------------------------------------------

my $PSQL = -x '/usr/lib/postgresql/15/bin/psql' ? '/usr/lib/postgresql/15/bin/psql' : 'psql';

{
	# Something to clean up, which the skipped run must leave.
	my $expired = session('-30 days');
	# Another run in progress: a session holding the task's lock.
	my $holder = fork // die "fork: $!";
	if (!$holder) {
		open STDIN, '<', '/dev/null';
		open STDOUT, '>', '/dev/null';
		open STDERR, '>', '/dev/null';
		no warnings q(exec);
		exec $PSQL, '-X', '-q', '-d', $db, '-c',
			"SELECT pg_advisory_lock(4242002, hashtext('cleanup')); SELECT pg_sleep(60)";
		_exit(127);
	}
	my $lock = q{FROM pg_locks WHERE locktype = 'advisory' AND classid = 4242002 AND objsubid = 2
		AND objid = (hashtext('cleanup')::bigint & 4294967295)::oid AND granted};
	ok((wait_until { my $n = psql($db, "SELECT count(*) $lock"); $n == 1 } 10), 'overlap: another session holds the lock');
	my $runs = psql($db, 'SELECT count(*) FROM cron_runs');
	my ($st, $out, $err) = ctl($db, 'cron', 'cleanup');
	is $st, 0, 'overlap: exit 0';
	like $out, qr/^cron cleanup: another run is still in progress; skipped$/m, 'overlap: says skipped';
	is psql($db, 'SELECT count(*) FROM cron_runs'), $runs + 1, 'overlap: one cron_runs row added';
	is psql($db, "SELECT outcome || '|' || (finished_at IS NOT NULL) || '|' || (summary->>'reason')"
		. ' FROM cron_runs ORDER BY started_at DESC LIMIT 1'), 'skipped|true|another run is in progress',
		'overlap: outcome skipped, finished, with the reason';
	ok exists_id('sessions', $expired), 'overlap: the skipped run deleted nothing';

	psql($db, "SELECT pg_terminate_backend(pid) $lock");
	waitpid $holder, 0;
	($st, $out) = ctl($db, 'cron', 'cleanup');
	is $st, 0, 'after the overlap: exit 0';
	like $out, qr/^cron cleanup: ok .*"sessions":1\b/m, 'after the overlap: runs, one session deleted';
	ok !exists_id('sessions', $expired), 'after the overlap: the expired session is gone';
	is psql($db, "SELECT outcome FROM cron_runs ORDER BY started_at DESC LIMIT 1"), 'ok',
		'after the overlap: recorded ok';
	is psql($db, "SELECT count(*) $lock"), 0, 'after the overlap: the lock was released';
}

# ---- usage --------------------------------------------------------------------------

for my $bad (['cron'], ['cron', 'bogus'], ['cron', 'cleanup', 'extra']) {
	my ($st, $out, $err) = ctl($db, @$bad);
	is $st, 2, "@$bad: exit 2";
	like $err, qr/usage: fastbackctl cron TASK\n.*cleanup/s, "@$bad: usage, with the tasks";
}

done_testing;
