#!/usr/bin/perl
# Two-factor authentication end to end (api.md "Auth" /2fa rows and the MFA
# challenge object), over HTTP behind nginx, with the real authenticator on
# the other side (Debian's oathtool makes every code), the QR code scanned by
# zbarimg, and the real fastback-worker delivering the notices to the SMTP
# sink (tests/lib/smtp_sink.py):
#
#   - enroll: secret, the otpauth URI of api.md (issuer APP_NAME, the email),
#     a PNG data URI that zbarimg decodes to exactly that URI, an SVG; 2FA
#     not on yet (GET /api/me, login still gives Tokens);
#   - confirm: a wrong code → 401 invalid_code; the code → 10 distinct backup
#     codes of ≥ 80 bits; the "on" email; mfa_enabled true;
#   - login → MFA challenge; the mfa_token is neither an access nor a refresh
#     token; /2fa/verify → Tokens with amr ["pwd","otp"]; replay refused;
#     ±1 step of drift accepted, ±3 steps refused; 5 wrong codes kill the
#     token; an expired token is refused; a token is bound to its user;
#   - backup codes: single use, exactly one winner of 20 concurrent uses (each
#     with its own mfa_token), regeneration replaces them all;
#   - disable: wrong password → 422, wrong code → 401, then 204, the "off"
#     email, login gives Tokens again;
#   - audit_log rows mfa.enable, mfa.disable, login.success.
#
# TOTP codes are single use per step (RFC 6238 §5.2: the server remembers the
# last accepted step), so each user here spends steps with care: next_code()
# hands out the oldest step still inside the ±1 window that the user has not
# used, and waits only when none is left.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";

use Errno qw(EINTR);
use File::Temp qw(tempdir tempfile);
use Encode qw(decode);
use JSON::PP;
use MIME::Base64 qw(decode_base64 decode_base64url encode_base64);
use POSIX qw(_exit setpgid WNOHANG);
use Test::More;
use Time::HiRes qw(sleep time);

use FastbackSMTP qw(start_smtp);
use FastbackTest;
use FastbackTOTP qw(fastback_vars_re run_cmd totp_at totp_step next_code);
use FastbackUsers qw(mails_to);

my $T0 = time;
my $BUILD = build_dir();
for my $need (["$BUILD/fastbackctl", 'run make first'], ["$BUILD/fastback-worker", 'run make first'],
	['/usr/bin/oathtool', 'apt-get install oathtool'], ['/usr/bin/zbarimg', 'apt-get install zbar-tools']) {
	plan skip_all => "$need->[0] missing: $need->[1]" unless -x $need->[0];
}

my $JSON = JSON::PP->new->utf8->canonical;
my $PW = 'correct horse battery staple 42';
my $APP_NAME = 'Fastback QA';		# a space: the URI must encode it
my $UUID = qr/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
my $TMP = tempdir('fb80-XXXXXX', TMPDIR => 1, CLEANUP => !$ENV{FASTBACK_KEEP_TMP});
my $SANITIZER_RE = qr/ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:/;

# ---- local helpers -------------------------------------------------------------

sub slurp { open my $fh, '<', $_[0] or return ''; local $/; scalar <$fh> }

sub random_bytes {
	my ($n) = @_;
	open my $fh, '<:raw', '/dev/urandom' or die "/dev/urandom: $!";
	read($fh, my $b, $n) == $n or die "/dev/urandom: short read";
	return $b;
}

my $FASTBACK_VARS = fastback_vars_re();

# A 6-digit code that is none of the user's codes of steps now-2 .. now+2.
sub wrong_code {
	my ($u) = @_;
	my $cur = int(time / 30);
	my %near = map { totp_step($u->{secret}, $_) => 1 } $cur - 2 .. $cur + 3;
	my $c;
	do { $c = sprintf '%06d', int rand 1000000 } while $near{$c};
	return $c;
}

# The worker of a pool (as in 70-auth.t).
my @WORKERS;
sub start_worker {
	my ($pool) = @_;
	my $bin = "$BUILD/fastback-worker";
	my $log = "$pool->{dir}/worker.log";
	my $pid = fork // die "fork: $!";
	if (!$pid) {
		setpgid(0, 0);
		open STDIN, '<', '/dev/null';
		open STDOUT, '>>', $log or _exit(126);
		open STDERR, '>&', \*STDOUT;
		delete $ENV{$_} for grep { $_ =~ $FASTBACK_VARS } keys %ENV;
		$SIG{PIPE} = 'DEFAULT';
		{ no warnings q(exec); exec { $bin } $bin, '--config', $pool->{config}; }
		_exit(127);
	}
	setpgid($pid, $pid);
	my $w = { pid => $pid, log => $log, done => 0 };
	$w->{stop} = sub {
		return $w->{status} if $w->{done}++;
		kill TERM => $pid;
		my $end = time + 5;
		my $r;
		while (($r = waitpid($pid, WNOHANG)) == 0 && time < $end) { sleep 0.05 }
		if ($r == $pid) {
			$w->{status} = $?;
		} else {
			$w->{killed} = 1;
			kill KILL => -$pid;
			waitpid($pid, 0);
			$w->{status} = $?;
		}
		kill KILL => -$pid;
		return $w->{status};
	};
	push @WORKERS, $w;
	return $w;
}
END { my $st = $?; $_->{stop}->() for @WORKERS; $? = $st; }

my $RID = 0;
my $S;	# the stack
sub api {
	my ($method, $path, %o) = @_;
	my $rid = delete $o{rid} // sprintf 't80-%d-%d', $$, ++$RID;
	my %h = (%{ delete $o{headers} || {} }, 'X-Request-Id' => $rid);
	my $r = http($method, "$S->{url}$path", %o, headers => \%h);
	$r->{rid} = $rid;
	if (($r->{status} // 0) >= 500) {
		my @l = split /\n/, $S->log_text;
		diag "$method $path answered $r->{status}: $r->{content}";
		diag "pool log:\n" . join "\n", @l[($#l > 14 ? $#l - 14 : 0) .. $#l];
	}
	return $r;
}

# "status code" of an answer.
sub sc { my ($r) = @_; ($r->{status} // '?') . ' ' . ((ref $r->{json} eq 'HASH' && $r->{json}{code}) // '') }

sub jwt_claims {
	my ($jwt) = @_;
	my (undef, $p) = split /\./, $jwt // '';
	return eval { $JSON->decode(decode_base64url($p // '')) } // {};
}

sub login { my ($u, $pw) = @_; api(POST => '/api/auth/login', json => { email => $u->{email}, password => $pw // $PW }) }

# A fresh mfa_token of the user (dies when login does not answer a challenge).
sub challenge {
	my ($u) = @_;
	my $r = login($u);
	die "login $u->{email}: " . sc($r) . " $r->{content}\n"
		unless $r->{status} == 200 && $r->{json}{mfa_required};
	return $r->{json}{mfa_token};
}

sub verify {
	my ($token, $code, %o) = @_;
	my $path = $o{backup} ? '/api/auth/2fa/backup/verify' : '/api/auth/2fa/verify';
	return api(POST => $path, json => { mfa_token => $token, code => $code });
}

# A verified user made with `fastbackctl user create-admin`, signed in
# (Tokens in {tokens}).
sub new_user {
	my ($email) = @_;
	my ($st, $out, $err) = run_cmd({ stdin => "$PW\n" }, "$BUILD/fastbackctl", '--config', $S->{config},
		'user', 'create-admin', $email);
	die "create-admin $email ($st): $out$err\n" if $st;
	my $u = { email => $email, id => psql($S->{conf}{DATABASE_URL}, "SELECT id FROM users WHERE email = '$email'") };
	my $r = login($u);
	die "login $email: " . sc($r) . "\n" unless $r->{status} == 200 && $r->{json}{access_token};
	$u->{tokens} = $r->{json};
	return $u;
}

# enroll + confirm with the next code; returns the confirm answer.
sub enable_mfa {
	my ($u) = @_;
	my $r = api(POST => '/api/auth/2fa/enroll', token => $u->{tokens}{access_token}, json => {});
	die "enroll $u->{email}: " . sc($r) . "\n" unless $r->{status} == 200;
	$u->{secret} = $r->{json}{secret};
	my ($code, $step) = next_code($u);
	$r = api(POST => '/api/auth/2fa/confirm', token => $u->{tokens}{access_token}, json => { code => $code });
	die "confirm $u->{email}: " . sc($r) . "\n" unless $r->{status} == 200;
	$u->{last} = $step;
	$u->{backup} = $r->{json}{backup_codes};
	push @{ $u->{audit} }, ['mfa.enable', $r->{rid}];
	return $r;
}

# The first message to $addr whose Subject matches $re, waiting up to 15 s.
sub wait_mail {
	my ($smtp, $addr, $re) = @_;
	my @m;
	wait_until { @m = mails_to($smtp, $addr, $re); @m >= 1 } 15;
	return $m[0];
}

sub is_tokens {
	my ($r, $u, $name) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my $ok = is($r->{status}, 200, "$name: 200");
	$ok &&= ok(length($r->{json}{access_token} // '') > 20 && length($r->{json}{refresh_token} // '') > 20,
		"$name: Tokens (access_token, refresh_token)");
	$ok &&= is($r->{json}{user}{id}, $u->{id}, "$name: user.id is $u->{email}'s");
	diag $r->{content} unless $ok;
	return $ok;
}

# ---- the stack -----------------------------------------------------------------

my $smtp = start_smtp();
my %HIGH = (
	RATE_LIMIT_AUTH_IP => 100000, RATE_LIMIT_GENERAL_IP => 100000,
	RATE_LIMIT_GENERAL_USER => 100000, RATE_LIMIT_LOGIN_FAILURES => 100000,
	RATE_LIMIT_ACCOUNT_FAILURES => 100000,
);
my $KEY = random_bytes(32);
$S = start_stack(%HIGH,
	SMTP_URL => $smtp->url, MAIL_FROM => 'Fastback Tests <noreply@example.com>',
	MAIL_TEMPLATES_DIR => repo_root() . '/conf/templates', WORKER_POLL_SECONDS => 1,
	WORKER_PROCESSES => 1, APP_NAME => $APP_NAME,
	ENCRYPTION_KEYS => 'k1:' . encode_base64($KEY, ''),
	PASSWORD_ARGON2_MEMORY_KIB => 8192, PASSWORD_ARGON2_ITERATIONS => 1);
my $DB = $S->{conf}{DATABASE_URL};
my $worker = start_worker($S);
my @RESPONDERS = sort { $a <=> $b } $S->children;

my %u;
$u{$_} = new_user("$_\@example.org") for qw(alice bob carol dave erin frank grace);

# ---- enroll ----------------------------------------------------------------------

my $alice = $u{alice};
subtest 'enroll: secret, otpauth URI, QR codes; 2FA not on yet' => sub {
	my $r = api(POST => '/api/auth/2fa/enroll', token => $alice->{tokens}{access_token}, json => {});
	is $r->{status}, 200, 'enroll: 200' or return diag $r->{content};
	my $e = $r->{json} || {};
	is_deeply [sort keys %$e], [qw(otpauth_uri qr_png qr_svg secret)], 'keys: secret, otpauth_uri, qr_svg, qr_png';
	like $e->{secret}, qr/^[A-Z2-7]{26,}$/, 'secret: base32, at least 128 bits';
	$alice->{secret} = $e->{secret};
	my $want = "otpauth://totp/Fastback%20QA:alice\@example.org?secret=$e->{secret}"
		. '&issuer=Fastback%20QA&algorithm=SHA1&digits=6&period=30';
	is $e->{otpauth_uri}, $want, 'otpauth_uri has the form of api.md (issuer APP_NAME, the email)';

	my ($b64) = ($e->{qr_png} // '') =~ m{^data:image/png;base64,([A-Za-z0-9+/=]+)$};
	ok defined $b64, 'qr_png is a data:image/png;base64, URI' or return;
	my $png = decode_base64($b64);
	is substr($png, 0, 8), "\x89PNG\r\n\x1a\n", '... of a PNG';
	my $file = "$TMP/qr.png";
	open my $fh, '>:raw', $file or die "$file: $!";
	print $fh $png;
	close $fh;
	my ($st, $out, $err) = run_cmd('/usr/bin/zbarimg', '--raw', '-q', $file);
	is $st, 0, 'zbarimg finds a code in it' or diag $err;
	$out =~ s/\n\z//;
	is $out, $e->{otpauth_uri}, '... which scans to exactly otpauth_uri';
	like $e->{qr_svg}, qr/^\s*(?:<\?xml[^>]*\?>\s*)?(?:<!DOCTYPE[^>]*>\s*)?<svg\b[^>]*>/, 'qr_svg is an <svg>';
	like $e->{qr_svg}, qr{</svg>\s*$}, '... closed';
	like $e->{qr_svg}, qr/<(?:path|rect)\b/, '... with something drawn';

	$r = api(GET => '/api/me', token => $alice->{tokens}{access_token});
	is $r->{json}{user}{mfa_enabled}, JSON::PP::false, 'GET /api/me: mfa_enabled still false';
	$r = login($alice);
	is $r->{status}, 200, 'login: 200';
	ok $r->{json}{access_token} && !$r->{json}{mfa_required}, '... Tokens directly, no challenge';
	is psql($DB, "SELECT (secret IS NULL)::text || (pending_secret IS NOT NULL)::text FROM user_mfa WHERE user_id = '$alice->{id}'"),
		'truetrue', 'stored as pending only';
};

# ---- confirm ---------------------------------------------------------------------

subtest 'confirm: wrong code, then the code: backup codes, email, mfa_enabled' => sub {
	plan skip_all => 'enroll failed' unless $alice->{secret};
	my $r = api(POST => '/api/auth/2fa/confirm', token => $alice->{tokens}{access_token},
		json => { code => wrong_code($alice) });
	is sc($r), '401 invalid_code', 'a wrong code: 401 invalid_code';
	like $r->{headers}{'content-type'} // '', qr{^application/problem\+json}, '... problem+json';
	is api(GET => '/api/me', token => $alice->{tokens}{access_token})->{json}{user}{mfa_enabled},
		JSON::PP::false, '... 2FA still off';

	my ($code, $step) = next_code($alice);
	$r = api(POST => '/api/auth/2fa/confirm', token => $alice->{tokens}{access_token}, json => { code => $code });
	is $r->{status}, 200, "oathtool's code: 200" or return diag $r->{content};
	$alice->{last} = $step;
	push @{ $alice->{audit} }, ['mfa.enable', $r->{rid}];
	is_deeply [sort keys %{ $r->{json} }], ['backup_codes'], 'body: {"backup_codes"}';
	my @codes = @{ $r->{json}{backup_codes} || [] };
	is scalar(@codes), 10, '10 backup codes';
	my %norm = map { (my $n = lc $_) =~ s/[-\s]//g; ($n => 1) } @codes;
	is scalar(keys %norm), 10, '... distinct';
	is scalar(grep { /^[a-z2-7]{16,}$/ } keys %norm), 10,
		'... each at least 16 base32 characters (80 bits, ≥ 64) once dashes are dropped' or diag explain \@codes;
	$alice->{backup} = \@codes;

	my $m = wait_mail($smtp, $alice->{email}, qr/two-factor authentication is now on/i);
	ok $m, 'the "2FA enabled" email arrived';
	is_deeply $m->{envelope}{rcpt_tos}, [$alice->{email}], '... to alice' if $m;
	is api(GET => '/api/me', token => $alice->{tokens}{access_token})->{json}{user}{mfa_enabled},
		JSON::PP::true, 'GET /api/me: mfa_enabled true';
	$r = api(POST => '/api/auth/2fa/confirm', token => $alice->{tokens}{access_token}, json => { code => $code });
	is $r->{status}, 409, 'confirming again: 409';
	is psql($DB, "SELECT count(*) FROM backup_codes WHERE user_id = '$alice->{id}'"), 10, '10 backup code rows';
	my $hashes = psql($DB, "SELECT encode(code_hash, 'hex') FROM backup_codes WHERE user_id = '$alice->{id}'");
	ok !(grep { index($hashes, $_) >= 0 } keys %norm), '... none stored as it is shown';
};

# ---- the second step ----------------------------------------------------------------

subtest 'login with 2FA: the challenge, its token, /2fa/verify, replay' => sub {
	plan skip_all => 'confirm failed' unless defined $alice->{last};
	my $r = login($alice);
	is $r->{status}, 200, 'login: 200' or return;
	my $c = $r->{json} || {};
	is_deeply [sort keys %$c], [qw(methods mfa_expires_in mfa_required mfa_token)],
		'the MFA challenge object, nothing else (no access_token)';
	is $c->{mfa_required}, JSON::PP::true, 'mfa_required true';
	is $c->{mfa_expires_in}, 300, 'mfa_expires_in 300';
	is_deeply $c->{methods}, ['totp', 'backup_code'], 'methods ["totp","backup_code"]';
	like $c->{mfa_token} // '', qr/^[A-Za-z0-9_-]{20,}$/, 'an mfa_token';
	my $t = $c->{mfa_token};
	push @{ $alice->{audit} }, ['login.password', $r->{rid}];

	is sc(api(GET => '/api/me', token => $t)), '401 unauthorized', 'the mfa_token as an access token: 401';
	is api(POST => '/api/auth/refresh', json => { refresh_token => $t })->{status}, 401,
		'the mfa_token as a refresh token: 401';
	is sc(api(POST => '/api/auth/logout', token => $t, json => {})), '401 unauthorized', '... nor for logout';

	my ($code, $step) = next_code($alice);
	$r = verify($t, $code);
	is_tokens($r, $alice, "/2fa/verify with oathtool's code") or return;
	$alice->{last} = $step;
	push @{ $alice->{audit} }, ['login.success', $r->{rid}, 'totp'];
	is_deeply jwt_claims($r->{json}{access_token})->{amr}, ['pwd', 'otp'], 'the access token has amr ["pwd","otp"]';
	is $r->{json}{token_type}, 'Bearer', 'token_type Bearer';
	is $r->{headers}{'cache-control'}, 'no-store', 'Cache-Control: no-store';
	is api(GET => '/api/me', token => $r->{json}{access_token})->{status}, 200, 'the access token works';
	my $ref = api(POST => '/api/auth/refresh', json => { refresh_token => $r->{json}{refresh_token} });
	is $ref->{status}, 200, 'the refresh token works';
	is_deeply jwt_claims($ref->{json}{access_token})->{amr}, ['pwd', 'otp'], '... and the refreshed access token keeps amr';

	is sc(verify($t, $code)), '401 invalid_code', 'the used mfa_token again: 401 invalid_code';
	is sc(verify(challenge($alice), $code)), '401 invalid_code',
		'the same code with a new mfa_token: 401 invalid_code (no replay)';
};

my $bob = $u{bob};
subtest 'clock drift: ±1 step accepted, ±3 steps refused' => sub {
	enable_mfa($bob);
	# The replay guard would refuse old steps anyway: forget the steps bob
	# spent, so only the window decides below.
	psql($DB, "UPDATE user_mfa SET last_step = NULL WHERE user_id = '$bob->{id}'");
	my $t = time;
	if ($t - int($t / 30) * 30 > 24) { sleep 30 - ($t - int($t / 30) * 30) + 0.3; $t = time }
	my $tok = challenge($bob);
	is sc(verify($tok, totp_at($bob->{secret}, $t - 90))), '401 invalid_code', 'a code of 90 s ago: 401';
	is sc(verify($tok, totp_at($bob->{secret}, $t + 90))), '401 invalid_code', 'a code of 90 s ahead: 401';
	is sc(verify($tok, totp_at($bob->{secret}, $t - 60))), '401 invalid_code', 'a code of 60 s ago (2 steps): 401';
	is sc(verify($tok, totp_at($bob->{secret}, $t + 60))), '401 invalid_code', 'a code of 60 s ahead (2 steps): 401';
	my $r = verify($tok, totp_at($bob->{secret}, $t - 30));
	is_tokens($r, $bob, 'a code of 30 s ago (same mfa_token, 4 wrong codes on it)');
	push @{ $bob->{audit} }, ['login.success', $r->{rid}, 'totp'];
	$r = verify(challenge($bob), totp_at($bob->{secret}, $t + 30));
	is_tokens($r, $bob, 'a code of 30 s ahead (oathtool --now)');
	push @{ $bob->{audit} }, ['login.success', $r->{rid}, 'totp'];
	$bob->{last} = int($t / 30) + 1;
	cmp_ok time - $t, '<', 5, 'the codes above were made for the step the server was in (the case took < 5 s, started ≥ 6 s before a step boundary)';
};

my $carol = $u{carol};
subtest '5 wrong codes kill the mfa_token; an expired mfa_token is refused' => sub {
	enable_mfa($carol);
	my $tok = challenge($carol);
	for my $i (1 .. 5) {
		is sc(verify($tok, wrong_code($carol))), '401 invalid_code', "wrong code $i: 401 invalid_code";
	}
	my ($code, $step) = next_code($carol);
	is sc(verify($tok, $code)), '401 invalid_code', 'then a correct code on that token: 401';
	is psql($DB, "SELECT failures FROM mfa_challenges WHERE user_id = '$carol->{id}' AND used_at IS NULL"), 5,
		'the challenge counted 5 failures';
	my $r = verify(challenge($carol), $code);
	is_tokens($r, $carol, 'the same code with a new mfa_token (it was a good code)') and $carol->{last} = $step;

	$tok = challenge($carol);
	my $n = psql($DB, "WITH u AS (UPDATE mfa_challenges SET expires_at = now() - interval '1 second'"
		. " WHERE user_id = '$carol->{id}' AND used_at IS NULL AND failures = 0 RETURNING 1) SELECT count(*) FROM u");
	is $n, 1, 'psql: the new challenge now expired a second ago';
	($code, $step) = next_code($carol);
	is sc(verify($tok, $code)), '401 invalid_code', 'the expired mfa_token with a good code: 401';
	$r = verify(challenge($carol), $code);
	is_tokens($r, $carol, '... the same code with a fresh mfa_token') and $carol->{last} = $step;
};

my ($dave, $erin) = @u{qw(dave erin)};
subtest "an mfa_token is bound to its user" => sub {
	enable_mfa($dave);
	enable_mfa($erin);
	my $dtok = challenge($dave);
	my ($ecode, $estep) = next_code($erin);
	my $r = verify($dtok, $ecode);
	is sc($r), '401 invalid_code', "dave's mfa_token with erin's code: 401 invalid_code";
	ok !$r->{json}{access_token}, '... no token for anybody';
	my @bk = @{ $erin->{backup} || [] };
	is sc(verify($dtok, $bk[0], backup => 1)), '401 invalid_code', "dave's mfa_token with erin's backup code: 401";
	$r = verify(challenge($erin), $ecode);
	is_tokens($r, $erin, "erin's code with erin's own mfa_token (it was a good code)") and $erin->{last} = $estep;
	$r = verify(challenge($erin), $bk[0], backup => 1);
	is_tokens($r, $erin, "... and her backup code was not used up by dave's try");
	my ($dcode, $dstep) = next_code($dave);
	$r = verify($dtok, $dcode);
	is_tokens($r, $dave, "dave's mfa_token with dave's code (2 failures on it): dave");
};

# ---- backup codes --------------------------------------------------------------------

subtest 'backup codes: single use, one winner of 20 concurrent uses' => sub {
	my @bk = @{ $alice->{backup} || [] };
	plan skip_all => 'no backup codes' unless @bk == 10;
	my $r = verify(challenge($alice), $bk[0], backup => 1);
	is_tokens($r, $alice, '/2fa/backup/verify with a backup code') or return;
	push @{ $alice->{audit} }, ['login.success', $r->{rid}, 'backup_code'];
	is_deeply jwt_claims($r->{json}{access_token})->{amr}, ['pwd', 'otp'], '... amr ["pwd","otp"]';
	is sc(verify(challenge($alice), $bk[0], backup => 1)), '401 invalid_code', 'the same code again: 401 invalid_code';
	is sc(verify(challenge($alice), wrong_code($alice), backup => 1)), '401 invalid_code', 'a TOTP-like code as backup code: 401';
	(my $upper = uc $bk[2]) =~ s/-//g;
	$r = verify(challenge($alice), $upper, backup => 1);
	is_tokens($r, $alice, 'a backup code typed in upper case without dashes');
	push @{ $alice->{audit} }, ['login.success', $r->{rid}, 'backup_code'] if $r->{status} == 200;

	# 20 sign-ins first, then 20 processes released at once, each with its
	# own mfa_token and the same backup code.
	my @tokens = map { challenge($alice) } 1 .. 20;
	pipe my $go_r, my $go_w or die "pipe: $!";
	pipe my $res_r, my $res_w or die "pipe: $!";
	my @pids;
	for my $i (0 .. 19) {
		my $pid = fork // die "fork: $!";
		if (!$pid) {
			close $go_w;
			close $res_r;
			my $x = <$go_r>;	# EOF when the parent closes its end
			my $rr = http(POST => "$S->{url}/api/auth/2fa/backup/verify",
				json => { mfa_token => $tokens[$i], code => $bk[1] },
				headers => { 'X-Request-Id' => "t80-race-$i" });
			my $code = (ref $rr->{json} eq 'HASH' && $rr->{json}{code}) // '';
			my $uid = (ref $rr->{json} eq 'HASH' && $rr->{json}{user} && $rr->{json}{user}{id}) // '';
			syswrite $res_w, "$i $rr->{status} $code $uid\n";
			_exit(0);
		}
		push @pids, $pid;
	}
	close $go_r;
	close $res_w;
	sleep 0.3;
	close $go_w;	# go
	my @lines;
	my $end = time + 30;
	while (defined(my $l = <$res_r>)) { push @lines, $l; last if time > $end }
	waitpid $_, 0 for @pids;
	is scalar(@lines), 20, '20 answers' or diag explain \@lines;
	my @ok = grep { / 200 / } @lines;
	my @no = grep { / 401 invalid_code/ } @lines;
	is scalar(@ok), 1, 'exactly one 200' or diag explain \@lines;
	is scalar(@no), 19, '19 × 401 invalid_code' or diag explain \@lines;
	like $ok[0] // '', qr/ 200 +\Q$alice->{id}\E$/, "... the winner signed in as alice" if @ok;
	is psql($DB, "SELECT count(*) FROM backup_codes WHERE user_id = '$alice->{id}' AND used_at IS NOT NULL"), 3,
		'three backup codes are used up (the first, the upper-case one, the raced one)';
	my ($win) = ($ok[0] // '') =~ /^(\d+) /;
	push @{ $alice->{audit} }, ['login.success', "t80-race-$win", 'backup_code'] if defined $win;
	is psql($DB, "SELECT count(*) FROM audit_log WHERE action = 'login.success' AND request_id LIKE 't80-race-%'"), 1,
		'one login.success in the audit log for the race';
};

my $frank = $u{frank};
subtest 'regenerating the backup codes' => sub {
	enable_mfa($frank);
	my @old = @{ $frank->{backup} || [] };
	is scalar(@old), 10, 'frank has 10 backup codes';
	my $r = api(POST => '/api/auth/2fa/backup-codes', token => $frank->{tokens}{access_token},
		json => { code => wrong_code($frank) });
	is sc($r), '401 invalid_code', 'with a wrong code: 401 invalid_code';
	is sc(verify(challenge($frank), $old[9], backup => 1)), '200 ', '... the old codes still work then' and splice @old, 9;
	my ($code, $step) = next_code($frank);
	$r = api(POST => '/api/auth/2fa/backup-codes', token => $frank->{tokens}{access_token}, json => { code => $code });
	is $r->{status}, 200, 'with a current code: 200' or return diag $r->{content};
	$frank->{last} = $step;
	my @new = @{ $r->{json}{backup_codes} || [] };
	is scalar(@new), 10, '10 new codes';
	my %old = map { $_ => 1 } @old;
	is scalar(grep { $old{$_} } @new), 0, '... none of the old ones';
	my %d = map { $_ => 1 } @new;
	is scalar(keys %d), 10, '... distinct';
	is sc(verify(challenge($frank), $old[0], backup => 1)), '401 invalid_code', 'an old unused code: 401';
	is sc(verify(challenge($frank), $old[5], backup => 1)), '401 invalid_code', 'another old unused code: 401';
	is_tokens(verify(challenge($frank), $new[0], backup => 1), $frank, 'a new code');
	is_tokens(verify(challenge($frank), $new[9], backup => 1), $frank, 'another new code');
	is sc(verify(challenge($frank), $new[0], backup => 1)), '401 invalid_code', 'a new code twice: 401';
	is psql($DB, "SELECT count(*) FROM backup_codes WHERE user_id = '$frank->{id}'"), 10, '10 rows for frank';
};

# ---- disable --------------------------------------------------------------------------

my $grace = $u{grace};
subtest 'disable' => sub {
	enable_mfa($grace);
	my ($code, $step) = next_code($grace);
	my $r = api(POST => '/api/auth/2fa/disable', token => $grace->{tokens}{access_token},
		json => { password => 'not my password at all 99', code => $code });
	is sc($r), '422 validation_failed', 'a wrong password (and a good code): 422';
	is_deeply [map { $_->{field} } @{ $r->{json}{errors} || [] }], ['password'], '... naming password';
	$r = api(POST => '/api/auth/2fa/disable', token => $grace->{tokens}{access_token},
		json => { password => $PW, code => wrong_code($grace) });
	is sc($r), '401 invalid_code', 'the password and a wrong code: 401 invalid_code';
	is api(GET => '/api/me', token => $grace->{tokens}{access_token})->{json}{user}{mfa_enabled}, JSON::PP::true,
		'... 2FA still on';
	$r = api(POST => '/api/auth/2fa/disable', token => $grace->{tokens}{access_token},
		json => { password => $PW, code => $code });
	is $r->{status}, 204, 'the password and the code (untouched by the 422): 204' or return diag $r->{content};
	is $r->{content} // '', '', '... no body';
	push @{ $grace->{audit} }, ['mfa.disable', $r->{rid}];
	my $m = wait_mail($smtp, $grace->{email}, qr/two-factor authentication is now off/i);
	ok $m, 'the "2FA disabled" email arrived';
	is api(GET => '/api/me', token => $grace->{tokens}{access_token})->{json}{user}{mfa_enabled}, JSON::PP::false,
		'GET /api/me: mfa_enabled false';
	$r = login($grace);
	is $r->{status}, 200, 'login: 200';
	ok $r->{json}{access_token} && !$r->{json}{mfa_required}, '... Tokens directly again';
	is_deeply jwt_claims($r->{json}{access_token})->{amr}, ['pwd'], '... amr ["pwd"]';
	is psql($DB, "SELECT (SELECT count(*) FROM user_mfa WHERE user_id = '$grace->{id}')"
		. " + (SELECT count(*) FROM backup_codes WHERE user_id = '$grace->{id}')"), 0,
		'her TOTP secret and backup codes are gone';
};

# ---- audit ----------------------------------------------------------------------------

subtest 'audit log: mfa.enable, mfa.disable, login.success' => sub {
	my @exp = map { my $usr = $_; map { [$usr, @$_] } @{ $usr->{audit} || [] } } values %u;
	my %act = map { $_->[1] => 1 } @exp;
	ok $act{$_}, "expecting $_ rows" for qw(mfa.enable mfa.disable login.success);
	for my $e (sort { $a->[2] cmp $b->[2] } @exp) {
		my ($usr, $action, $rid, $factor) = @$e;
		my $rows = psql($DB, "SELECT coalesce(actor_id::text, '-') || '|' || coalesce(target_id, '-') || '|'"
			. " || coalesce(details->>'second_factor', '-') FROM audit_log WHERE request_id = '$rid' AND action = '$action'");
		my @rows = split /\n/, $rows;
		is scalar(@rows), 1, "$action of $usr->{email} ($rid): one row" or next;
		my ($actor, $target, $f) = split /\|/, $rows[0];
		is $actor, $usr->{id}, '... actor is the user';
		is $target, $usr->{id}, '... target is the user';
		is $f, $factor, "... second_factor $factor" if defined $factor;
	}
	is psql($DB, "SELECT count(*) FROM audit_log WHERE action = 'mfa.code.failure' AND target_id = '$carol->{id}'"),
		5, "carol's 5 wrong codes are audited (mfa.code.failure); refusals of a dead or expired token are not failures of a code";
};

# ---- the end ----------------------------------------------------------------------------

is_deeply [sort { $a <=> $b } $S->children], \@RESPONDERS, 'the same responders as at the start: none died';
is $worker->{stop}->(), 0, 'the worker stops cleanly';
unlike slurp($worker->{log}), $SANITIZER_RE, 'no sanitizer report from the worker';
my @errors = grep { ($_->{level} // '') =~ /^(?:error|fatal)/ } $S->log_lines;
is scalar(@errors), 0, 'no error in the pool log' or diag explain [@errors[0 .. ($#errors < 4 ? $#errors : 4)]];
my $took = time - $T0;
cmp_ok $took, '<', 90, sprintf '80-mfa.t took %.1f s', $took;
done_testing();
