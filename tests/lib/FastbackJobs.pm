package FastbackJobs;

# Helpers of the job-queue tests (tests/integration/5*-*.t), on top of
# FastbackTest: fastback-worker-test (the worker with the test kinds of
# tests/workers/test_kinds.c) as a child process, fastbackctl, and SQL
# shortcuts. Core Perl modules only.
#
#     my $db = jobs_database();               # fresh_database() + test_job_runs
#     my $id = enqueue($db, 'test.record', '{"ms": 100}');
#     my $w  = start_worker($db, WORKER_PROCESSES => 2, WORKER_POLL_SECONDS => 1);
#     ok((wait_until { job($db, $id)->{state} eq 'succeeded' } 10), 'ran');
#     $w->stop;                               # SIGTERM; its wait status
#     my $r = run_worker($db, args => ['--once']);   # {status, log, seconds, ...}
#     my ($st, $out, $err) = ctl($db, 'jobs', 'stats');
#
# Workers run in their own process group (kill => -pid reaches the children),
# with a config file holding DATABASE_URL and the given NAME => value pairs,
# and an environment without any fastback variable. Their logs are scanned
# for sanitizer reports when they stop (stop(), run_worker, or the
# end of the test file); a report fails a test.

use strict;
use warnings;

use Carp qw(croak);
use Errno qw(EINTR);
use Exporter qw(import);
use File::Temp qw(tempdir tempfile);
use JSON::PP;
use POSIX qw(WNOHANG _exit setpgid);
use Test::More ();
use Time::HiRes qw(sleep time);

use FastbackTest;

our @EXPORT = qw(
	jobs_database enqueue job jobs_where q1 start_worker run_worker ctl
	worker_bin wait_listening sanitizer_clean
);

my $JSON = JSON::PP->new->utf8->canonical->allow_nonref;
my $MAIN_PID = $$;
my @WORKERS;	# every worker started, stopped at END

# Every variable fastback's configuration reads (shared/config.c), and
# FASTBACK_CONFIG: the environment wins over the file, so none may leak in
# from the shell that runs the tests.
my $FASTBACK_VARS = qr/^(?:DATABASE_URL|DB_\w+|FCGI_\w+|PUBLIC_URL|APP_NAME|JWT_\w+
	|ENCRYPTION_KEYS|CORS_ORIGINS|TRUSTED_PROXIES|MAX_\w+|LOG_\w+|REGISTRATION
	|RATE_LIMIT\w*|WORKER_\w+|REDIS_URL|SMTP_URL|MAIL_\w+|S3_\w+|STRIPE_\w+
	|AI_\w+|METRICS_TOKEN|FASTBACK_CONFIG)$/x;

sub worker_bin {
	my $path = FastbackTest::build_dir() . '/tests/fastback-worker-test';
	croak "$path not found or not executable: run make first" unless -x $path;
	return $path;
}

sub _ctl_bin {
	my $path = FastbackTest::build_dir() . '/fastbackctl';
	croak "$path not found or not executable: run make first" unless -x $path;
	return $path;
}

sub _slurp {
	my ($file) = @_;
	open my $fh, '<', $file or return '';
	local $/;
	return scalar <$fh>;
}

sub _tempdir {
	my $dir = tempdir('fbjobs-XXXXXX', TMPDIR => 1, CLEANUP => !$ENV{FASTBACK_KEEP_TMP});
	print STDERR "# keeping $dir\n" if $ENV{FASTBACK_KEEP_TMP};
	return $dir;
}

# ---- SQL ---------------------------------------------------------------------

# jobs_database(): a fresh, migrated database with the table the test kinds
# record their runs in.
sub jobs_database {
	my $db = fresh_database();
	psql($db, q{CREATE TABLE test_job_runs (job_id uuid, attempt int, kind text,
		pid int, started_at timestamptz DEFAULT clock_timestamp(),
		finished_at timestamptz)});
	return $db;
}

sub _quote {
	my ($s) = @_;
	return 'NULL' unless defined $s;
	$s =~ s/'/''/g;
	return "'$s'";
}

# enqueue($db, KIND, PAYLOAD_JSON, max_attempts => N, priority => P,
# unique_key => K): one committed INSERT, as shared/jobs.c does. The job's id.
sub enqueue {
	my ($db, $kind, $payload, %o) = @_;
	return psql($db, sprintf q{INSERT INTO jobs (kind, payload, max_attempts,
		priority, unique_key) VALUES (%s, %s::jsonb, %d, %d, %s) RETURNING id},
		_quote($kind), _quote($payload // '{}'), $o{max_attempts} // 5,
		$o{priority} // 0, _quote($o{unique_key}));
}

# q1($db, SQL): the first row of the result as a list (fields split on |).
sub q1 {
	my ($db, $sql) = @_;
	my ($line) = split /\n/, psql($db, $sql);
	return split /\|/, $line // '', -1;
}

my @JOB_COLS = qw(id kind state attempt max_attempts last_error locked_by
	lease_until started_at finished_at updated_at payload);

# job($db, ID): the job's row as a hash (undef when there is none); NULL is
# undef, timestamps as epoch seconds with microseconds.
sub job {
	my ($db, $id) = @_;
	my $rows = jobs_where($db, 'id = ' . _quote($id));
	return $rows->[0];
}

# jobs_where($db, CONDITION): the rows of jobs that match, as job() does.
sub jobs_where {
	my ($db, $cond) = @_;
	my $sql = 'SELECT coalesce(json_agg(t ORDER BY created_at, id), \'[]\') FROM ('
		. 'SELECT id, kind, state, attempt, max_attempts, last_error, locked_by,'
		. ' extract(epoch FROM lease_until) AS lease_until,'
		. ' extract(epoch FROM started_at) AS started_at,'
		. ' extract(epoch FROM finished_at) AS finished_at,'
		. ' extract(epoch FROM updated_at) AS updated_at,'
		. ' extract(epoch FROM created_at) AS created_at, payload'
		. " FROM jobs WHERE $cond) t";
	return $JSON->decode(psql($db, $sql));
}

# ---- the worker ----------------------------------------------------------------

sub _write_config {
	my ($dir, $db, %conf) = @_;
	my %all = (DATABASE_URL => $db, LOG_LEVEL => 'info', %conf);
	my $file = "$dir/worker.conf";
	open my $fh, '>', $file or croak "$file: $!";
	chmod 0600, $file;
	print $fh "$_=$all{$_}\n" for grep { defined $all{$_} } sort keys %all;
	close $fh or croak "$file: $!";
	return $file;
}

sub _spawn {
	my ($log, $env, @cmd) = @_;
	my $pid = fork // croak "fork: $!";
	if (!$pid) {
		setpgid(0, 0);
		open STDIN, '<', '/dev/null';
		open STDOUT, '>>', $log or _exit(126);
		open STDERR, '>&', \*STDOUT;
		delete $ENV{$_} for grep { $_ =~ $FASTBACK_VARS } keys %ENV;
		$ENV{$_} = $env->{$_} for keys %{ $env || {} };
		$SIG{$_} = 'DEFAULT' for qw(PIPE INT TERM HUP);
		no warnings q(exec);
		exec { $cmd[0] } @cmd;
		print STDERR "exec $cmd[0]: $!\n";
		_exit(127);
	}
	setpgid($pid, $pid);
	return $pid;
}

my $SANITIZER_RE = qr/ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:/;

# sanitizer_clean(WHAT, LOG): fails a test with the report when LOG holds a
# sanitizer report; true when it holds none.
sub sanitizer_clean {
	my ($what, $log) = @_;
	my $text = _slurp($log);
	return 1 unless $text =~ $SANITIZER_RE;
	my @lines = grep { !/^\{/ } split /\n/, substr($text, $-[0]);
	splice @lines, 80 if @lines > 80;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	Test::More::ok(0, "no sanitizer report from $what ($log)");
	Test::More::diag(join "\n", @lines);
	return 0;
}

sub _pids_in_group {
	my ($pgid) = @_;
	my @pids;
	for my $stat (glob '/proc/[0-9]*/stat') {
		my $s = _slurp($stat) or next;
		my $rest = substr $s, rindex($s, ')') + 2;
		my ($state, $ppid, $pgrp) = split ' ', $rest;
		push @pids, ($stat =~ m{/proc/(\d+)/})[0] if $pgrp == $pgid && $state ne 'Z';
	}
	return sort { $a <=> $b } @pids;
}

sub _children_of {
	my ($pid) = @_;
	my @kids;
	for my $stat (glob '/proc/[0-9]*/stat') {
		my $s = _slurp($stat) or next;
		my $rest = substr $s, rindex($s, ')') + 2;
		my ($state, $ppid) = split ' ', $rest;
		push @kids, ($stat =~ m{/proc/(\d+)/})[0] if $ppid == $pid && $state ne 'Z';
	}
	return sort { $a <=> $b } @kids;
}

sub _log_lines {
	my ($log) = @_;
	my @out;
	for my $line (split /\n/, _slurp($log)) {
		next unless $line =~ /^\s*\{/;
		my $v = eval { $JSON->decode($line) };
		push @out, $v if ref $v eq 'HASH';
	}
	return @out;
}

# start_worker($db, NAME => value, ..., args => [...]): fastback-worker-test
# --config FILE plus args, running until stopped. Returns {pid, log, config,
# dir, started (time)} with
#   stop($grace)   SIGTERM, wait up to $grace s (default 15), then SIGKILL the
#                  group; its wait status; the log is scanned for sanitizers
#   signal($sig)   a signal to the master
#   kill_group()   SIGKILL to the whole process group, reaped
#   alive()        true while the master runs
#   wait_exit($s)  its wait status once it has exited, undef after $s seconds
#   children()     pids of the master's live children
#   log_lines()    the log's JSON lines, decoded
#   log_text()     the log
sub start_worker {
	my ($db, %args) = @_;
	my %opt = map { $_ => delete $args{$_} } grep { /^[a-z]/ } keys %args;
	my $dir = _tempdir();
	my $config = _write_config($dir, $db, %args);
	my $log = "$dir/worker.log";
	my @cmd = (worker_bin(), '--config', $config, @{ $opt{args} || [] });
	my $st = { started => time };
	$st->{pid} = _spawn($log, $opt{env}, @cmd);
	my $reaped = sub {
		return $st->{status} if defined $st->{status};
		my $r = waitpid($st->{pid}, WNOHANG);
		$st->{status} = $? if $r == $st->{pid};
		$st->{status} = -1 if $r < 0;
		return $st->{status};
	};
	my $scanned;
	my $stop = sub {
		my ($grace) = @_;
		if (!defined $reaped->()) {
			kill TERM => $st->{pid};
			wait_until { defined $reaped->() } $grace // 15;
		}
		kill KILL => -$st->{pid};
		wait_until { defined $reaped->() } 5;
		sanitizer_clean("fastback-worker-test (pid $st->{pid})", $log) unless $scanned++;
		return $st->{status};
	};
	my $w = bless {
		pid => $st->{pid}, log => $log, config => $config, dir => $dir,
		started => $st->{started},
		stop => $stop,
		signal => sub { kill $_[0] => $st->{pid} },
		kill_group => sub {
			kill KILL => -$st->{pid};
			wait_until { defined $reaped->() } 5;
			# The group may outlive its master by a moment.
			wait_until { !_pids_in_group($st->{pid}) } 5;
			return $st->{status};
		},
		alive => sub { !defined $reaped->() },
		wait_exit => sub {
			wait_until { defined $reaped->() } $_[0] // 10;
			return $st->{status};
		},
		children => sub { _children_of($st->{pid}) },
		log_lines => sub { _log_lines($log) },
		log_text => sub { _slurp($log) },
	}, 'FastbackJobs::Worker';
	push @WORKERS, $w;
	return $w;
}

# run_worker($db, NAME => value, ..., args => ['--once'], timeout => 60): runs
# a worker to its end (SIGKILL to its group after timeout seconds). Returns
# {status (wait status; undef: killed at the timeout), seconds, log,
# log_text, log_lines}.
sub run_worker {
	my ($db, %args) = @_;
	my $timeout = delete $args{timeout} // 60;
	$args{args} //= ['--once'];
	my $t0 = time;
	my $w = start_worker($db, %args);
	my $status = $w->wait_exit($timeout);
	my $seconds = time - $t0;
	$w->stop(0);
	my @lines = $w->log_lines;
	return { status => $status, seconds => $seconds, log => $w->{log},
		log_text => $w->log_text, log_lines => \@lines, pid => $w->{pid} };
}

# wait_listening($db, N, TIMEOUT): true once N worker children have run a
# claim (so they LISTEN: a child listens before its first claim) and wait
# idle on their connection.
sub wait_listening {
	my ($db, $n, $timeout) = @_;
	my $dbname = ($db =~ m{/([^/?]+)(?:\?|$)})[0];
	return wait_until {
		psql($db, "SELECT count(*) FROM pg_stat_activity WHERE datname = '$dbname'"
			. " AND application_name = 'fastback-worker' AND state = 'idle'"
			. " AND query LIKE 'WITH due AS%'") >= $n;
	} $timeout // 15;
}

# ---- fastbackctl -----------------------------------------------------------

# ctl($db, ARGS...): `fastbackctl --config FILE ARGS`, its (exit status,
# stdout, stderr). A hash ref first sets more configuration.
sub ctl {
	my $db = shift;
	my %conf = ref $_[0] eq 'HASH' ? %{ shift() } : ();
	my @args = @_;
	my $dir = _tempdir();
	my $config = _write_config($dir, $db, LOG_LEVEL => 'warn', %conf);
	my ($ofh, $out) = tempfile('fbctl-XXXXXX', TMPDIR => 1, UNLINK => 1);
	my ($efh, $err) = tempfile('fbctl-XXXXXX', TMPDIR => 1, UNLINK => 1);
	my $pid = fork // croak "fork: $!";
	if (!$pid) {
		open STDIN, '<', '/dev/null';
		open STDOUT, '>&', $ofh;
		open STDERR, '>&', $efh;
		delete $ENV{$_} for grep { $_ =~ $FASTBACK_VARS } keys %ENV;
		$SIG{PIPE} = 'DEFAULT';
		no warnings q(exec);
		exec { _ctl_bin() } _ctl_bin(), '--config', $config, @args;
		_exit(127);
	}
	1 while waitpid($pid, 0) < 0 && $! == EINTR;
	my $status = $?;
	my ($o, $e) = (_slurp($out), _slurp($err));
	sanitizer_clean("fastbackctl @args", $err);
	return ($status >> 8 | ($status & 127 ? 128 + ($status & 127) : 0), $o, $e);
}

END {
	if ($$ == $MAIN_PID) {
		my $status = $?;
		for my $w (@WORKERS) {
			eval { $w->stop(5); 1 };
		}
		$? = $status;
	}
}

package FastbackJobs::Worker;

our $AUTOLOAD;

sub AUTOLOAD {
	my $self = shift;
	(my $name = $AUTOLOAD) =~ s/.*:://;
	return if $name eq 'DESTROY';
	Carp::croak("no method or key '$name'") unless exists $self->{$name};
	my $v = $self->{$name};
	return ref $v eq 'CODE' ? $v->(@_) : $v;
}

1;
