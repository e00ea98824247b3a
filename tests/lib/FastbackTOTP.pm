package FastbackTOTP;

# Helpers of the two-factor tests (80-mfa.t, 81-secrets-apikeys.t): running a
# command with a clean environment, and TOTP codes from the real oathtool.
# A code works once per user (the server keeps the last accepted step), so
# next_code() hands out the steps of a user's ±1 window one at a time.

use strict;
use warnings;

use Errno qw(EINTR);
use Exporter qw(import);
use File::Temp qw(tempfile);
use POSIX qw(_exit);
use Time::HiRes qw(sleep time);

our @EXPORT_OK = qw(fastback_vars_re run_cmd totp_at totp_step next_code);

sub slurp { open my $fh, '<', $_[0] or return ''; local $/; scalar <$fh> }

# The names of fastback's configuration variables.
sub fastback_vars_re { return $FastbackTOTP::FASTBACK_VARS }

our $FASTBACK_VARS = qr/^(?:DATABASE_URL|DB_\w+|FCGI_\w+|PUBLIC_URL|APP_\w+|JWT_\w+
	|ENCRYPTION_KEYS|CORS_ORIGINS|TRUSTED_PROXIES|MAX_\w+|LOG_\w+|REGISTRATION
	|RATE_?LIMIT\w*|WORKER_\w+|REDIS_URL|SMTP_URL|MAIL_\w+|S3_\w+|STRIPE_\w+
	|AI_\w+|METRICS_TOKEN|FASTBACK_CONFIG|PASSWORD_\w+|API_KEY\w*|OPENAI_\w+
	|GEMINI_\w+|ANTHROPIC_\w+)$/x;

# run_cmd({stdin => TEXT}, CMD...): (exit status, stdout, stderr), run with no
# fastback variable from our environment.
sub run_cmd {
	my $o = ref $_[0] eq 'HASH' ? shift : {};
	my @cmd = @_;
	my ($ifh, $in) = tempfile(TMPDIR => 1);
	print $ifh $o->{stdin} // '';
	close $ifh;
	my ($ofh, $out) = tempfile(TMPDIR => 1);
	my ($efh, $err) = tempfile(TMPDIR => 1);
	my $pid = fork // die "fork: $!";
	if (!$pid) {
		open STDIN, '<', $in or _exit(126);
		open STDOUT, '>&', $ofh or _exit(126);
		open STDERR, '>&', $efh or _exit(126);
		delete $ENV{$_} for grep { $_ =~ $FASTBACK_VARS } keys %ENV;
		$SIG{PIPE} = 'DEFAULT';
		no warnings q(exec);
		exec { $cmd[0] } @cmd;
		_exit(127);
	}
	1 while waitpid($pid, 0) < 0 && $! == EINTR;
	my $status = $? >> 8;
	my ($so, $se) = (slurp($out), slurp($err));
	unlink $in, $out, $err;
	return ($status, $so, $se);
}

# The code oathtool shows at time $epoch for a base32 secret.
sub totp_at {
	my ($secret, $epoch) = @_;
	my ($st, $out, $err) = run_cmd('/usr/bin/oathtool', '--totp', '-b', '--now', '@' . int($epoch), $secret);
	die "oathtool failed ($st): $err\n" unless $st == 0 && $out =~ /^(\d{6})\s*$/;
	return $1;
}
sub totp_step { my ($secret, $step) = @_; return totp_at($secret, $step * 30 + 15) }

# (code, step) of the oldest step of the ±1 window the user has not spent;
# waits when every step of the window is spent. Steps that would slip out of
# the window on a boundary in the next 3 seconds are not used.
sub next_code {
	my ($u) = @_;
	for (;;) {
		my $t = time;
		my $cur = int($t / 30);
		my $into = $t - $cur * 30;
		my $s = $cur - 1;
		$s = $u->{last} + 1 if defined $u->{last} && $u->{last} + 1 > $s;
		if ($s > $cur + 1) {
			sleep(($s - 1) * 30 - $t + 0.3);
			next;
		}
		if ($s == $cur - 1 && $into > 27) {
			sleep(30 - $into + 0.3);
			next;
		}
		return (totp_step($u->{secret}, $s), $s);
	}
}

1;
