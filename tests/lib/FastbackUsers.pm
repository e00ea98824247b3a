package FastbackUsers;

# Helpers the user, team, invitation and settings tests (7x, 8x) share:
# running fastbackctl and fastback-worker, importing users, problem+json
# checks, mail look-ups. Core Perl only. Nothing is exported by default:
#
#     use FastbackUsers qw(users_setup ctl import_users problem_ok);
#     users_setup(tmp => $TMP, password => $PW);
#
# Use it after FastbackTest, so that its END (which stops workers) runs
# before FastbackTest's drops the database.

use strict;
use warnings;

use Encode qw(decode);
use Errno qw(EINTR);
use Exporter qw(import);
use File::Temp qw(tempdir tempfile);
use JSON::PP;
use POSIX qw(_exit WNOHANG setpgid);
use Test::More ();
use Time::Local qw(timegm);

use FastbackTest;

our @EXPORT_OK = qw(
	users_setup slurp run_bin ctl start_worker stop_worker bcrypt import_users
	fields_of problem_ok epoch_of mail_to mails_to q_ dups
);

my $BUILD = build_dir();
my $JSON = JSON::PP->new->utf8->canonical;

# Set by users_setup.
my %SETUP = (password => 'correct horse battery staple 42', answer_status => 0);
my $TMP;
my $IMPORTS = 0;

# Variables fastback reads: a child gets only its config file.
my $FASTBACK_VARS = qr/^(?:DATABASE_URL|DB_\w+|FCGI_\w+|PUBLIC_URL|APP_\w+|JWT_\w+
	|ENCRYPTION_KEYS|CORS_ORIGINS|TRUSTED_PROXIES|MAX_\w+|LOG_\w+|REGISTRATION
	|RATE_?LIMIT\w*|WORKER_\w+|REDIS_URL|SMTP_URL|MAIL_\w+|S3_\w+|STRIPE_\w+
	|AI_\w+|METRICS_TOKEN|FASTBACK_CONFIG|PASSWORD_\w+|ACCESS_TOKEN_TTL
	|REFRESH_TOKEN_TTL|SESSION_MAX_AGE)$/x;
my $SANITIZER_RE = qr/ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:/;

# users_setup(tmp => DIR, password => PW, answer_status => BOOL): the
# directory for temporary files and worker logs (else a fresh one), the
# password import_users gives everyone, and whether problem_ok's diagnostic
# shows the status before the body.
sub users_setup {
	my (%o) = @_;
	$TMP = delete $o{tmp} if exists $o{tmp};
	$SETUP{$_} = $o{$_} for keys %o;
	return;
}

sub _tmp {
	return $TMP //= tempdir('fbusers-XXXXXX', TMPDIR => 1, CLEANUP => !$ENV{FASTBACK_KEEP_TMP});
}

# slurp($file): the whole file, or '' if it cannot be read.
sub slurp {
	my ($f) = @_;
	open my $fh, '<', $f or return '';
	local $/;
	return scalar <$fh>;
}

# _run(\%opt, $label, $bin, $stdin, ARGV...): (exit status, stdout, stderr) of
# $BUILD/$bin ARGV with $stdin (or nothing) on fd 0 and no fastback variables
# in its environment. A sanitizer report on stderr (on either with
# scan_stdout) fails a test named after $label. With signal_status a death by
# signal N gives 128 + N.
sub _run {
	my ($opt, $label, $bin, $stdin, @argv) = @_;
	my $dir = _tmp();
	my ($ifh, $in) = tempfile(DIR => $dir);
	print $ifh $stdin // '';
	close $ifh;
	my ($ofh, $out) = tempfile(DIR => $dir);
	my ($efh, $err) = tempfile(DIR => $dir);
	my $pid = fork // die "fork: $!";
	if (!$pid) {
		open STDIN, '<', $in or _exit(126);
		open STDOUT, '>&', $ofh or _exit(126);
		open STDERR, '>&', $efh or _exit(126);
		delete $ENV{$_} for grep { $_ =~ $FASTBACK_VARS } keys %ENV;
		$SIG{PIPE} = 'DEFAULT';
		no warnings q(exec);
		exec { "$BUILD/$bin" } "$BUILD/$bin", @argv;
		_exit(127);
	}
	1 while waitpid($pid, 0) < 0 && $! == EINTR;
	my $status = $opt->{signal_status} && ($? & 127) ? 128 + ($? & 127) : $? >> 8;
	my ($o, $e) = (slurp($out), slurp($err));
	unlink $in, $out, $err;
	my $scanned = $opt->{scan_stdout} ? "$o$e" : $e;
	if ($scanned =~ $SANITIZER_RE) {
		Test::More::fail("sanitizer report from $label");
		Test::More::diag($scanned);
	}
	return ($status, $o, $e);
}

# run_bin($bin, $stdin, ARGS...): (exit status, stdout, stderr) of a build
# binary, with only the configuration file for configuration. A sanitizer
# report on stdout or stderr fails a test.
sub run_bin {
	my ($bin, $stdin, @args) = @_;
	return _run({ scan_stdout => 1 }, "$bin @args", $bin, $stdin, @args);
}

# ctl([\%opt], $config, $stdin, ARGS...): fastbackctl --config $config ARGS
# with $stdin (or nothing) on its standard input: (exit status, stdout,
# stderr). A sanitizer report on stderr fails a test. Options: scan_stdout
# (look for one on stdout too), signal_status (a death by signal N: 128 + N).
sub ctl {
	my $opt = ref $_[0] eq 'HASH' ? shift : {};
	my ($config, $stdin, @args) = @_;
	return _run($opt, "fastbackctl @args", 'fastbackctl', $stdin, '--config', $config, @args);
}

# start_worker($config): the real fastback-worker on that config file, in its
# own process group, logging to a file: { pid, log }. Stopped by stop_worker
# or, as a safety net, at END.
my @WORKERS;
sub start_worker {
	my ($config) = @_;
	my $log = _tmp() . '/worker-' . (@WORKERS + 1) . '.log';
	my $pid = fork // die "fork: $!";
	if (!$pid) {
		setpgid(0, 0);
		open STDIN, '<', '/dev/null';
		open STDOUT, '>>', $log or _exit(126);
		open STDERR, '>&', \*STDOUT;
		delete $ENV{$_} for grep { $_ =~ $FASTBACK_VARS } keys %ENV;
		$SIG{$_} = 'DEFAULT' for qw(PIPE INT TERM HUP);
		no warnings q(exec);
		exec { "$BUILD/fastback-worker" } "$BUILD/fastback-worker", '--config', $config;
		_exit(127);
	}
	setpgid($pid, $pid);
	my $w = { pid => $pid, log => $log };
	push @WORKERS, $w;
	return $w;
}

sub _worker_reaped {
	my ($w) = @_;
	return 1 if defined $w->{status};
	my $r = waitpid($w->{pid}, WNOHANG);
	$w->{status} = $? if $r == $w->{pid};
	$w->{status} = -1 if $r < 0;
	return defined $w->{status};
}

# stop_worker($w, [GRACE]): SIGTERM, then after GRACE (5) seconds SIGKILL to
# its group; its wait status.
sub stop_worker {
	my ($w, $grace) = @_;
	if (!_worker_reaped($w)) {
		kill TERM => $w->{pid};
		wait_until { _worker_reaped($w) } $grace // 5;
	}
	if (!_worker_reaped($w)) {
		kill KILL => -$w->{pid};
		wait_until { _worker_reaped($w) } 5;
	}
	kill KILL => -$w->{pid};
	return $w->{status};
}

END {
	# A die before the end: stop the workers before the harness drops the
	# database (this END runs before FastbackTest's).
	stop_worker($_) for grep { !defined $_->{status} } @WORKERS;
}

# bcrypt($pw, [COST]): a $2b$ hash of $pw at COST (4), from crypt().
sub bcrypt {
	my ($pw, $cost) = @_;
	my @c = ('.', '/', 'A' .. 'Z', 'a' .. 'z', '0' .. '9');
	# 22 salt characters; the last one carries 2 bits, its low 4 are zero.
	my $salt = join('', map { $c[int rand @c] } 1 .. 21) . 'e';
	my $h = crypt($pw, sprintf('$2b$%02d$', $cost // 4) . $salt);
	die "crypt() made no bcrypt hash" unless defined $h && $h =~ /^\$2b\$\d\d\$.{53}$/;
	return $h;
}

# import_users($config, [email, name], ...): `fastbackctl users import` of
# verified users with the users_setup password; true if all were imported.
sub import_users {
	my ($config, @users) = @_;
	my $file = _tmp() . '/import-' . ++$IMPORTS . '.jsonl';
	open my $fh, '>:raw', $file or die "$file: $!";
	print $fh $JSON->encode({ email => $_->[0], name => $_->[1], password_hash => bcrypt($SETUP{password}),
		email_verified => JSON::PP::true }), "\n" for @users;
	close $fh;
	my ($st, $out, $err) = ctl($config, undef, 'users', 'import', $file);
	my $ok = $st == 0 && $out =~ /^imported ${\ scalar @users}, skipped 0/m;
	Test::More::diag("users import: exit $st: $out$err") unless $ok;
	return $ok;
}

# fields_of($r): the field names in a problem's errors array.
sub fields_of {
	my ($r) = @_;
	return map { $_->{field} // '' } @{ (ref $r->{json} eq 'HASH' && $r->{json}{errors}) || [] };
}

# problem_ok($r, STATUS, CODE, [FIELD], NAME): an application/problem+json
# answer with that status and code (and FIELD among its errors).
sub problem_ok {
	my ($r, $status, $code, $field, $name) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my $ok = Test::More::is($r->{status}, $status, "$name: status $status");
	$ok &&= Test::More::like($r->{headers}{'content-type'} // '', qr{^application/problem\+json}, "$name: problem+json");
	$ok &&= Test::More::is(ref $r->{json} eq 'HASH' ? $r->{json}{code} : undef, $code, "$name: code $code");
	if (defined $field) {
		my @f = fields_of($r);
		$ok &&= Test::More::ok((grep { $_ eq $field } @f), "$name: errors name \"$field\"")
			or Test::More::diag("fields: @f");
	}
	Test::More::diag($SETUP{answer_status} ? "answer: $r->{status} $r->{content}" : "answer: $r->{content}")
		unless $ok;
	return $ok;
}

# epoch_of($t): seconds since the epoch of an RFC 3339 UTC time (fractional
# seconds allowed), or undef if $t is not one.
sub epoch_of {
	my ($t) = @_;
	return undef unless defined $t && $t =~ /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.\d+)?Z$/;
	return timegm($6, $5, $4, $3, $2 - 1, $1);
}

# mail_to($smtp, $addr, [N]): the messages to $addr, once there are N (1) of
# them or after 30 seconds.
sub mail_to {
	my ($smtp, $addr, $n) = @_;
	$n //= 1;
	my @m;
	wait_until {
		@m = grep { grep { lc $_ eq lc $addr } @{ $_->{envelope}{rcpt_tos} || [] } }
			$smtp->messages;
		@m >= $n;
	} 30;
	return @m;
}

# mails_to($smtp, $addr, $re): messages to $addr whose Subject (decoded)
# matches $re, now.
sub mails_to {
	my ($smtp, $addr, $re) = @_;
	return grep {
		(grep { lc $_ eq lc $addr } @{ $_->{envelope}{rcpt_tos} || [] })
		&& decode('MIME-Header', $_->{headers}{subject}[0] // '') =~ $re
	} $smtp->messages;
}

# q_($s): $s as an SQL string literal.
sub q_ { my ($s) = @_; $s =~ s/'/''/g; "'$s'" }

# dups(LIST): the values that occur more than once, sorted.
sub dups {
	my %n;
	$n{$_}++ for @_;
	return grep { $n{$_} > 1 } sort keys %n;
}

1;
