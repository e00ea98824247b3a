#!/usr/bin/perl
# /api/auth end to end (api.md "Auth", all but /2fa), over HTTP behind nginx,
# with the real fastback-worker delivering the emails to a real SMTP server
# (tests/lib/smtp_sink.py); tokens are read from the links in the emails.
#
#   - register → 202, the verification email (To, Subject, both parts, link),
#     login before verifying → 403, verify-email (single use, garbage → 422),
#     login → Tokens with Cache-Control: no-store;
#   - no enumeration: register/resend/forgot answer the same for taken and
#     free addresses (a taken one gets an "account exists" email instead);
#     login with an unknown address and a wrong password answer the same and
#     take comparable time (default argon2 costs, in a pool of their own);
#   - weak password → 422; REGISTRATION=invite → 403;
#   - refresh: rotation, the 10 s grace, reuse after it revokes the session,
#     garbage, 8 concurrent refreshes of one token;
#   - logout, sessions (list, delete one, delete others, another user's → 404);
#   - change-password, forgot/reset-password;
#   - the audit log rows of all this, matched by the X-Request-Id we sent.
# Rate limits are in 72-auth-limits.t, the access token in 71-tokens.t.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";

use Encode qw(decode);
use JSON::PP;
use MIME::Base64 qw(decode_base64url);
use MIME::QuotedPrint qw(decode_qp);
use POSIX qw(_exit setpgid WNOHANG);
use Test::More;
use Time::HiRes qw(sleep time);

use FastbackSMTP qw(start_smtp);
use FastbackTest;
use FastbackUsers qw(mails_to);

my $T0 = time;
my $JSON = JSON::PP->new->utf8->canonical;
my $PW = 'correct horse battery staple 42';
my $PW2 = 'purple elephant juggles seven oranges';
my $PW3 = 'quiet river under the copper bridge 7';
my $UUID = qr/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

# ---- local helpers -------------------------------------------------------------

# The worker of a pool (fastback-worker --config <the pool's file>), in its own
# process group, log beside the pool's. stop() sends SIGTERM and checks the log
# for sanitizer reports; END kills what is left.
my @WORKERS;
sub start_worker {
	my ($pool) = @_;
	my $bin = build_dir() . '/fastback-worker';
	die "$bin not built: run make\n" unless -x $bin;
	my $log = "$pool->{dir}/worker.log";
	my $pid = fork // die "fork: $!";
	if (!$pid) {
		setpgid(0, 0);
		open STDIN, '<', '/dev/null';
		open STDOUT, '>>', $log or _exit(126);
		open STDERR, '>&', \*STDOUT;
		delete $ENV{$_} for grep { /^(?:DATABASE_URL|DB_\w+|FCGI_\w+|PUBLIC_URL|APP_\w+
			|JWT_\w+|ENCRYPTION_KEYS|CORS_ORIGINS|TRUSTED_PROXIES|MAX_\w+|LOG_\w+
			|REGISTRATION|RATE_LIMIT\w*|WORKER_\w+|REDIS_URL|SMTP_URL|MAIL_\w+|S3_\w+
			|STRIPE_\w+|AI_\w+|METRICS_TOKEN|FASTBACK_CONFIG|PASSWORD_\w+)$/x } keys %ENV;
		$SIG{PIPE} = 'DEFAULT';
		{ no warnings q(exec); exec { $bin } $bin, "--config", $pool->{config}; }
		_exit(127);
	}
	setpgid($pid, $pid);
	my $w = { pid => $pid, log => $log, done => 0 };
	# SIGTERM, up to 5 s, then SIGKILL to the group. Returns the wait status
	# and sets {killed} when SIGTERM was not enough.
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
		kill KILL => -$pid;	# leftovers of its group
		return $w->{status};
	};
	push @WORKERS, $w;
	return $w;
}
END { my $st = $?; $_->{stop}->() for @WORKERS; $? = $st; }

sub slurp { open my $fh, '<', $_[0] or return ''; local $/; scalar <$fh> }

my $RID = 0;
# api($stack, METHOD => PATH, %http_opts): http() to the stack with a fresh
# X-Request-Id (or rid => ...); the answer has {rid}.
sub api {
	my ($s, $method, $path, %o) = @_;
	my $rid = delete $o{rid} // sprintf 't70-%d', ++$RID;
	my %h = (%{ delete $o{headers} || {} }, 'X-Request-Id' => $rid);
	my $r = http($method, "$s->{url}$path", %o, headers => \%h);
	$r->{rid} = $rid;
	diag_5xx($s, "$method $path", $r);
	return $r;
}

# On a 5xx, what the pool and nginx said: no case here expects one.
sub diag_5xx {
	my ($s, $what, $r) = @_;
	return unless ($r->{status} // 0) >= 500;
	my $tail = sub { my @l = split /\n/, $_[0] // ''; join "\n", @l[($#l > 14 ? $#l - 14 : 0) .. $#l] };
	diag "$what answered $r->{status}: $r->{content}";
	diag "pool log:\n" . $tail->($s->log_text);
	diag "nginx error log:\n" . $tail->(slurp($s->{nginx}{error_log}));
}

# "status code" of an answer, for messages.
sub sc { my ($r) = @_; ($r->{status} // '?') . ' ' . (($r->{json} && $r->{json}{code}) // '') }

# The answer's body with the request_id value blanked.
sub body_sans_rid { (my $c = $_[0]{content} // '') =~ s/"request_id":"[^"]*"/"request_id":""/g; $c }

sub jwt_claims {
	my ($jwt) = @_;
	my (undef, $p) = split /\./, $jwt // '';
	return eval { $JSON->decode(decode_base64url($p // '')) } // {};
}

# Waits up to 15 s for the $n-th such message; returns it (undef on timeout).
sub wait_mail {
	my ($smtp, $addr, $re, $n) = @_;
	$n //= 1;
	my @m;
	wait_until { @m = mails_to($smtp, $addr, $re); @m >= $n } 15;
	return $m[$n - 1];
}

# The parts of a multipart message: [{headers => {lc name => value}, text}],
# bodies decoded (quoted-printable or base64) from UTF-8.
sub parts {
	my ($m) = @_;
	my ($bnd) = ($m->{headers}{'content-type'}[0] // '') =~ /boundary="?([^";]+)"?/
		or return ();
	my @chunks = split /\r?\n--\Q$bnd\E(?:--)?[ \t]*\r?\n?/, "\r\n$m->{body}";
	shift @chunks;
	my @parts;
	for my $chunk (@chunks) {
		next unless $chunk =~ /\S/;
		my $p = FastbackSMTP::parse_message($chunk);
		my %h = map { $_ => $p->{headers}{$_}[0] } keys %{ $p->{headers} };
		my $cte = lc($h{'content-transfer-encoding'} // '');
		my $body = $cte eq 'quoted-printable' ? decode_qp($p->{body})
			: $cte eq 'base64' ? MIME::Base64::decode_base64($p->{body}) : $p->{body};
		push @parts, { headers => \%h, text => decode('UTF-8', $body) };
	}
	return @parts;
}

# The token of the link to $path (e.g. "/verify-email") in the plain part.
sub link_token {
	my ($m, $path) = @_;
	return undef unless $m;
	my ($plain) = grep { ($_->{headers}{'content-type'} // '') =~ m{^text/plain}i } parts($m);
	return undef unless $plain;
	return $plain->{text} =~ m{\Q$path\E\?token=([A-Za-z0-9_-]+)} ? $1 : undef;
}

my $VERIFY_SUBJECT = qr/^Confirm your email address/;
my $EXISTS_SUBJECT = qr/^You already have/;
my $RESET_SUBJECT = qr/^Reset your .* password/;
my $CHANGED_SUBJECT = qr/^Your .* password was changed/;

# Expected audit rows: [action, request id, actor id or undef, what].
my @AUDIT;

# register + verify through the emails; returns the user object.
sub new_user {
	my ($s, $smtp, $email, $name, $pw) = @_;
	my $r = api($s, POST => '/api/auth/register',
		json => { email => $email, password => $pw // $PW, name => $name });
	die "register $email: " . sc($r) . " $r->{content}\n" unless $r->{status} == 202;
	my $m = wait_mail($smtp, $email, $VERIFY_SUBJECT) or die "no verification email to $email\n";
	my $v = api($s, POST => '/api/auth/verify-email', json => { token => link_token($m, '/verify-email') });
	die "verify $email: " . sc($v) . "\n" unless $v->{status} == 200;
	return $v->{json}{user};
}

sub login {
	my ($s, $email, $pw, %o) = @_;
	return api($s, POST => '/api/auth/login', json => { email => $email, password => $pw // $PW }, %o);
}

# ---- the stack -----------------------------------------------------------------

my $smtp = start_smtp();
my %HIGH = (
	RATE_LIMIT_AUTH_IP => 100000, RATE_LIMIT_GENERAL_IP => 100000,
	RATE_LIMIT_GENERAL_USER => 100000, RATE_LIMIT_LOGIN_FAILURES => 100000,
	RATE_LIMIT_ACCOUNT_FAILURES => 100000, RATE_LIMIT_EXPORT_USER => 100000,
);
my %MAIL = (
	SMTP_URL => $smtp->url, MAIL_FROM => 'Fastback Tests <noreply@example.com>',
	MAIL_TEMPLATES_DIR => repo_root() . '/conf/templates', WORKER_POLL_SECONDS => 1,
	WORKER_PROCESSES => 1,
);
my $s = start_stack(%HIGH, %MAIL,
	PASSWORD_ARGON2_MEMORY_KIB => 8192, PASSWORD_ARGON2_ITERATIONS => 1);
my $db = $s->{conf}{DATABASE_URL};
my $worker = start_worker($s);

# ---- register, verify, login ----------------------------------------------------

my %alice;
subtest 'register, verification email, verify-email, login' => sub {
	my $email = 'alice@example.org';
	my $r = api($s, POST => '/api/auth/register',
		json => { email => $email, password => $PW, name => 'Alice Liddell' });
	is $r->{status}, 202, 'register: 202' or diag $r->{content};
	is_deeply [sort keys %{ $r->{json} || {} }], ['message'], 'body is {"message"}';
	like $r->{json}{message}, qr/\S/, 'with a message';
	my $uid = psql($db, qq{SELECT id FROM users WHERE email = '$email'});
	like $uid, $UUID, 'the user exists';
	push @AUDIT, ['register', $r->{rid}, undef, "register of $email", $uid];

	my $m = wait_mail($smtp, $email, $VERIFY_SUBJECT);
	ok $m, 'the verification email arrived' or return;
	is_deeply $m->{envelope}{rcpt_tos}, [$email], 'RCPT TO the address';
	like $m->{headers}{to}[0], qr/<\Q$email\E>|^\Q$email\E$/, "To: $m->{headers}{to}[0]";
	like $m->{headers}{subject}[0], qr/^Confirm your email address for fastback$/, 'Subject';
	my @p = parts($m);
	is_deeply [map { ($_->{headers}{'content-type'} =~ m{^(text/\w+)}i)[0] } @p],
		['text/plain', 'text/html'], 'a plain and an HTML part';
	my $token = link_token($m, '/verify-email');
	like $token, qr/^[A-Za-z0-9_-]{20,}$/, 'a link with a token in the plain part';
	like $p[0]{text}, qr{\Q$s->{conf}{PUBLIC_URL}\E/verify-email\?token=\Q$token\E}, '... under APP_URL (PUBLIC_URL)';
	like $p[1]{text}, qr{href="\Q$s->{conf}{PUBLIC_URL}\E/verify-email\?token=\Q$token\E"}, '... and the same link in the HTML part';
	like $p[0]{text}, qr/Alice Liddell/, 'the name in the text';

	$r = login($s, $email);
	is sc($r), '403 email_not_verified', 'login before verifying: 403 email_not_verified';
	is $r->{headers}{'content-type'}, 'application/problem+json', '... problem+json';

	$r = api($s, POST => '/api/auth/verify-email', json => { token => $token });
	is $r->{status}, 200, 'verify-email: 200' or diag $r->{content};
	is $r->{json}{user}{email_verified}, JSON::PP::true, 'user.email_verified is true';
	is $r->{json}{user}{id}, $uid, 'user.id';
	is $r->{json}{user}{email}, $email, 'user.email';
	ok !exists $r->{json}{user}{password_hash}, 'no hash in the user';
	push @AUDIT, ['email.verify', $r->{rid}, $uid, 'verify-email'];

	$r = api($s, POST => '/api/auth/verify-email', json => { token => $token });
	is sc($r), '422 validation_failed', 'the token a second time: 422';
	is $r->{json}{errors}[0]{field}, 'token', '... naming field token';
	$r = api($s, POST => '/api/auth/verify-email', json => { token => 'garbage' });
	is sc($r), '422 validation_failed', 'a garbage token: 422';
	is $r->{json}{errors}[0]{field}, 'token', '... naming field token';
	(my $other = $token) =~ tr/A-Za-z/B-ZAb-za/;
	$r = api($s, POST => '/api/auth/verify-email', json => { token => $other });
	is sc($r), '422 validation_failed', 'a well-formed unknown token: 422';

	$r = login($s, $email);
	is $r->{status}, 200, 'login: 200' or diag $r->{content};
	my $t = $r->{json} || {};
	ok length($t->{access_token} // '') > 20, 'access_token';
	is $t->{token_type}, 'Bearer', 'token_type Bearer';
	is $t->{expires_in}, 900, 'expires_in 900';
	like $t->{refresh_token} // '', qr/^[A-Za-z0-9_-]{20,}$/, 'refresh_token';
	is $t->{refresh_expires_in}, 1209600, 'refresh_expires_in 14 days';
	is $t->{user}{id}, $uid, 'user.id';
	is $t->{user}{email_verified}, JSON::PP::true, 'user.email_verified';
	is $r->{headers}{'cache-control'}, 'no-store', 'Cache-Control: no-store';
	push @AUDIT, ['login.success', $r->{rid}, $uid, 'login'];
	my $me = api($s, GET => '/api/me', token => $t->{access_token});
	is $me->{status}, 200, 'the access token works on GET /api/me';
	%alice = (email => $email, id => $uid, tokens => $t);
};

# ---- enumeration ----------------------------------------------------------------

subtest 'no enumeration: register, resend-verification, forgot-password, login' => sub {
	my %body = (password => $PW, name => 'Someone');
	my $new = api($s, POST => '/api/auth/register', json => { %body, email => 'newcomer@example.org' });
	my $taken = api($s, POST => '/api/auth/register', json => { %body, email => $alice{email} });
	is $taken->{status}, 202, 'register with a taken address: 202';
	is $taken->{status}, $new->{status}, '... the status of a new address';
	is body_sans_rid($taken), body_sans_rid($new), '... byte-identical body';
	is $taken->{headers}{'content-type'}, $new->{headers}{'content-type'}, '... same Content-Type';
	ok wait_mail($smtp, 'newcomer@example.org', $VERIFY_SUBJECT), 'the new address got a verification email';
	my $ex = wait_mail($smtp, $alice{email}, $EXISTS_SUBJECT);
	ok $ex, 'the taken address got an "account exists" email';
	like +((parts($ex))[0] // {})->{text} // '', qr{\Q$s->{conf}{PUBLIC_URL}\E/forgot-password},
		'... pointing at forgot-password' if $ex;
	sleep 1.5;	# anything else queued with it is delivered by now
	is scalar(mails_to($smtp, $alice{email}, $VERIFY_SUBJECT)), 1,
		'... and no second verification email';
	is psql($db, q{SELECT count(*) FROM users WHERE email = 'alice@example.org'}), 1,
		'... and no second account';
	is psql($db, qq{SELECT name FROM users WHERE email = 'alice\@example.org'}), 'Alice Liddell',
		'... the account is unchanged';

	# resend-verification: unverified, verified, unknown.
	my $rv_new = api($s, POST => '/api/auth/resend-verification', json => { email => 'newcomer@example.org' });
	my $rv_known = api($s, POST => '/api/auth/resend-verification', json => { email => $alice{email} });
	my $rv_unknown = api($s, POST => '/api/auth/resend-verification', json => { email => 'nobody@example.org' });
	is $rv_new->{status}, 202, 'resend-verification (unverified): 202';
	is_deeply [map { $_->{status} } $rv_known, $rv_unknown], [202, 202], '... verified and unknown: 202';
	is body_sans_rid($rv_known), body_sans_rid($rv_new), '... same body (verified)';
	is body_sans_rid($rv_unknown), body_sans_rid($rv_new), '... same body (unknown)';
	ok wait_mail($smtp, 'newcomer@example.org', $VERIFY_SUBJECT, 2), '... the unverified address got a new link';

	# forgot-password: known, unknown.
	my $fp_known = api($s, POST => '/api/auth/forgot-password', json => { email => 'newcomer@example.org' });
	my $fp_unknown = api($s, POST => '/api/auth/forgot-password', json => { email => 'nobody@example.org' });
	is_deeply [map { $_->{status} } $fp_known, $fp_unknown], [202, 202], 'forgot-password: 202 for known and unknown';
	is body_sans_rid($fp_unknown), body_sans_rid($fp_known), '... same body';
	ok wait_mail($smtp, 'newcomer@example.org', $RESET_SUBJECT), '... the known address got a reset email';
	sleep 1.5;
	is scalar(grep { grep { /nobody\@/ } @{ $_->{envelope}{rcpt_tos} || [] } } $smtp->messages), 0,
		'nothing was sent to the unknown address';

	# login: unknown address vs wrong password, same answer.
	my $unk = login($s, 'nobody@example.org', $PW);
	my $bad = login($s, $alice{email}, 'wrong horse battery staple 42');
	is sc($unk), '401 invalid_credentials', 'login with an unknown address: 401 invalid_credentials';
	is sc($bad), '401 invalid_credentials', 'login with a wrong password: 401 invalid_credentials';
	is body_sans_rid($unk), body_sans_rid($bad), '... byte-identical bodies but request_id';
	is $unk->{json}{request_id}, $unk->{rid}, '... request_id is the X-Request-Id sent';
	push @AUDIT, ['login.failure', $bad->{rid}, undef, 'wrong password', $alice{id}];
};

subtest 'login timing: unknown address vs wrong password (argon2 m=19456,t=2)' => sub {
	# A pool of its own with the default argon2 costs; no mail needed.
	my $p = start_stack(%HIGH);
	my $pdb = $p->{conf}{DATABASE_URL};
	my $r = api($p, POST => '/api/auth/register',
		json => { email => 'timing@example.org', password => $PW, name => 'Tim' });
	is $r->{status}, 202, 'register in the timing pool' or return;
	like psql($pdb, q{SELECT password_hash FROM users WHERE email = 'timing@example.org'}),
		qr/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/, 'stored with m=19456,t=2';
	psql($pdb, q{UPDATE users SET email_verified_at = now() WHERE email = 'timing@example.org'});
	my (@unknown, @wrong, %answers);
	login($p, 'warmup@example.org', $PW) for 1 .. 2;	# the responders' first requests
	for my $i (1 .. 5) {
		for my $case ([\@unknown, "nobody$i\@example.org"], [\@wrong, 'timing@example.org']) {
			my $t = time;
			my $a = login($p, $case->[1], "wrong horse battery staple $i");
			push @{ $case->[0] }, time - $t;
			$answers{ $a->{status} . ' ' . body_sans_rid($a) }++;
		}
	}
	is scalar(keys %answers), 1, 'one answer for all ten' or diag explain \%answers;
	my $median = sub { my @s = sort { $a <=> $b } @_; $s[$#s / 2] };
	my ($mu, $mw) = ($median->(@unknown), $median->(@wrong));
	diag sprintf 'medians: unknown address %.1f ms, wrong password %.1f ms', 1000 * $mu, 1000 * $mw;
	my $ratio = $mu > $mw ? $mu / $mw : $mw / $mu;
	cmp_ok $ratio, '<=', 2, sprintf('medians within a factor of 2 (%.2f)', $ratio);
	# Guard against a test that measures nothing: argon2 must be in both.
	cmp_ok $mu, '>=', 0.005, 'the unknown-address path does real work';
	$p->{nginx}->stop;
	$p->stop;
};

subtest 'weak password, invitation-only registration' => sub {
	my $r = api($s, POST => '/api/auth/register',
		json => { email => 'weak@example.org', password => 'password123', name => 'Weak' });
	is sc($r), '422 validation_failed', 'weak password: 422';
	is $r->{json}{errors}[0]{field}, 'password', 'errors[0].field password';
	like $r->{json}{errors}[0]{message} // '', qr/\w{3}/, "with a message: " . ($r->{json}{errors}[0]{message} // '');
	is psql($db, q{SELECT count(*) FROM users WHERE email = 'weak@example.org'}), 0, 'no account made';
	$r = api($s, POST => '/api/auth/register',
		json => { email => 'weak@example.org', password => 'weak@example.org', name => 'Weak' });
	is sc($r), '422 validation_failed', 'the address as password: 422';

	my $inv = start_stack(%HIGH, REGISTRATION => 'invite',
		PASSWORD_ARGON2_MEMORY_KIB => 8192, PASSWORD_ARGON2_ITERATIONS => 1);
	$r = api($inv, POST => '/api/auth/register',
		json => { email => 'invitee@example.org', password => $PW, name => 'Invitee' });
	is sc($r), '403 forbidden', 'REGISTRATION=invite: register → 403';
	is psql($inv->{conf}{DATABASE_URL}, 'SELECT count(*) FROM users'), 0, '... no account made';
	$inv->{nginx}->stop;
	$inv->stop;
};

# ---- refresh --------------------------------------------------------------------

my %reuse;	# state for the reuse part, checked once the grace has passed
my %dave;	# a user of his own: the session tests below revoke alice's sessions
subtest 'refresh: rotation and the 10 s grace' => sub {
	%dave = (email => 'dave@example.org');
	$dave{id} = new_user($s, $smtp, $dave{email}, 'Dave')->{id};
	my $l = login($s, $dave{email});
	is $l->{status}, 200, 'login' or return;
	my $r1 = $l->{json}{refresh_token};
	my $sid = jwt_claims($l->{json}{access_token})->{sid};
	my $r = api($s, POST => '/api/auth/refresh', json => { refresh_token => $r1 });
	my $rotated_at = time;
	is $r->{status}, 200, 'refresh: 200' or return diag $r->{content};
	my $t2 = $r->{json};
	isnt $t2->{refresh_token}, $r1, 'a new refresh token';
	is $t2->{token_type}, 'Bearer', 'Tokens: token_type';
	is $t2->{expires_in}, 900, 'Tokens: expires_in';
	is $t2->{user}{id}, $dave{id}, 'Tokens: user';
	is $r->{headers}{'cache-control'}, 'no-store', 'Cache-Control: no-store';
	is jwt_claims($t2->{access_token})->{sid}, $sid, 'the same session';
	is api($s, GET => '/api/me', token => $t2->{access_token})->{status}, 200, 'the new access token works';

	my $r3 = api($s, POST => '/api/auth/refresh', json => { refresh_token => $t2->{refresh_token} });
	is $r3->{status}, 200, 'the new refresh token rotates too';

	$r = api($s, POST => '/api/auth/refresh', json => { refresh_token => $r1 });
	cmp_ok time - $rotated_at, '<', 10, 'within 10 s of its rotation ...';
	is $r->{status}, 200, '... the old refresh token gets a fresh pair' or diag $r->{content};
	my $g = $r->{json} || {};
	ok $g->{refresh_token} && $g->{refresh_token} ne $r1 && $g->{refresh_token} ne $t2->{refresh_token},
		'... a new refresh token';
	is api($s, GET => '/api/me', token => $g->{access_token})->{status}, 200, '... whose access token works';
	%reuse = (r1 => $r1, at => $rotated_at, sid => $sid, access => $r3->{json}{access_token},
		newest => $r3->{json}{refresh_token}, grace => $g->{refresh_token});

	for my $bad ('garbage', 'A' x 43, '') {
		$r = api($s, POST => '/api/auth/refresh', json => { refresh_token => $bad });
		if ($bad eq '') {
			is $r->{status}, 422, 'an empty refresh token: 422';
		} else {
			is sc($r), '401 refresh_token_invalid', "refresh token '" . substr($bad, 0, 10) . "...': 401 refresh_token_invalid";
		}
	}
};

subtest 'refresh: 8 concurrent refreshes of one token' => sub {
	my $l = login($s, $alice{email});
	is $l->{status}, 200, 'login' or return;
	my ($rt, $at) = @{ $l->{json} }{qw(refresh_token access_token)};
	pipe my $gate_r, my $gate_w or die "pipe: $!";
	pipe my $res_r, my $res_w or die "pipe: $!";
	my @kids;
	for my $i (1 .. 8) {
		my $pid = fork // die "fork: $!";
		if (!$pid) {
			close $gate_w;
			close $res_r;
			sysread $gate_r, my $x, 1;	# EOF when the parent lets go
			my $r = http(POST => "$s->{url}/api/auth/refresh", json => { refresh_token => $rt },
				headers => { 'X-Request-Id' => "t70-conc-$i" });
			my $line = join(' ', $r->{status}, ($r->{json} && ($r->{json}{refresh_token} // $r->{json}{code})) // '-') . "\n";
			syswrite $res_w, $line;
			_exit(0);
		}
		push @kids, $pid;
	}
	close $gate_r;
	close $res_w;
	sleep 0.3;	# all of them waiting at the gate
	close $gate_w;
	my @lines;
	my $deadline = time + 60;
	while (defined(my $line = <$res_r>)) { push @lines, $line; last if time > $deadline }
	waitpid $_, 0 for @kids;
	chomp @lines;
	is scalar(@lines), 8, 'eight answers';
	my @ok = grep { /^200 / } @lines;
	is scalar(@ok), 8, 'all eight: 200' or diag join "\n", @lines;
	my %distinct = map { (split ' ', $_)[1] => 1 } @ok;
	is scalar(keys %distinct), scalar(@ok), 'each got its own refresh token';
	is api($s, GET => '/api/me', token => $at)->{status}, 200, 'the session is not revoked (access token works)';
	my $sid = jwt_claims($at)->{sid};
	is psql($db, qq{SELECT revoked_at IS NULL FROM sessions WHERE id = '$sid'}), 't', '... revoked_at is NULL';
	my ($one) = keys %distinct;
	is api($s, POST => '/api/auth/refresh', json => { refresh_token => $one })->{status}, 200,
		'one of the new refresh tokens works';
};

# ---- logout and sessions ----------------------------------------------------------

my %bob;
subtest 'logout, sessions list and revocation' => sub {
	my @t;
	for my $i (1 .. 3) {
		my $r = login($s, $alice{email}, $PW, headers => { 'User-Agent' => "device-$i" });
		is $r->{status}, 200, "login $i" or return;
		push @t, $r->{json};
	}
	my @sid = map { jwt_claims($_->{access_token})->{sid} } @t;
	like $sid[$_], $UUID, "session $_ id" for 0 .. 2;

	my $r = api($s, GET => '/api/auth/sessions', token => $t[2]{access_token});
	is $r->{status}, 200, 'GET /sessions: 200';
	my @data = @{ $r->{json}{data} || [] };
	my %byid = map { $_->{id} => $_ } @data;
	ok $byid{$_}, "lists session $_" for @sid;
	my @current = grep { $_->{current} } @data;
	is scalar(@current), 1, 'exactly one current:true';
	is $current[0]{id}, $sid[2], '... the caller\'s session';
	ok JSON::PP::is_bool($data[0]{current}), 'current is a boolean';
	is_deeply [sort keys %{ $byid{ $sid[2] } }], [sort qw(id created_at last_used_at ip user_agent current)],
		'fields id, created_at, last_used_at, ip, user_agent, current';
	is $byid{ $sid[2] }{user_agent}, 'device-3', 'user_agent';
	is $byid{ $sid[2] }{ip}, '127.0.0.1', 'ip';
	like $byid{ $sid[2] }{created_at}, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/, 'created_at RFC 3339';

	# Another user's session.
	%bob = (email => 'bob@example.org');
	my $bu = new_user($s, $smtp, $bob{email}, 'Bob');
	$bob{id} = $bu->{id};
	my $bl = login($s, $bob{email});
	is $bl->{status}, 200, 'bob logs in' or return;
	$bob{tokens} = $bl->{json};
	my $bsid = jwt_claims($bl->{json}{access_token})->{sid};
	$r = api($s, DELETE => "/api/auth/sessions/$bsid", token => $t[2]{access_token});
	is sc($r), '404 not_found', "DELETE another user's session: 404";
	is api($s, GET => '/api/me', token => $bl->{json}{access_token})->{status}, 200, '... which still works';
	$r = api($s, DELETE => '/api/auth/sessions/not-a-uuid', token => $t[2]{access_token});
	is $r->{status}, 404, 'DELETE /sessions/not-a-uuid: 404';

	$r = api($s, DELETE => "/api/auth/sessions/$sid[1]", token => $t[2]{access_token});
	is $r->{status}, 204, 'DELETE /sessions/{id} of my other session: 204';
	is $r->{content} // '', '', '... empty body';
	is sc(api($s, GET => '/api/me', token => $t[1]{access_token})), '401 unauthorized',
		'... its access token is refused at once';
	is sc(api($s, POST => '/api/auth/refresh', json => { refresh_token => $t[1]{refresh_token} })),
		'401 refresh_token_invalid', '... and its refresh token';
	is api($s, GET => '/api/me', token => $t[0]{access_token})->{status}, 200, 'session 1 still works';
	$r = api($s, GET => '/api/auth/sessions', token => $t[2]{access_token});
	ok !(grep { $_->{id} eq $sid[1] } @{ $r->{json}{data} || [] }), '... and the list no longer has it';
	is api($s, DELETE => "/api/auth/sessions/$sid[1]", token => $t[2]{access_token})->{status}, 404,
		'deleting it again: 404';

	$r = api($s, DELETE => '/api/auth/sessions', token => $t[2]{access_token});
	is $r->{status}, 204, 'DELETE /sessions: 204';
	is sc(api($s, GET => '/api/me', token => $t[0]{access_token})), '401 unauthorized',
		'... session 1 is refused';
	is api($s, GET => '/api/me', token => $alice{tokens}{access_token})->{status}, 401,
		'... so is the first login\'s';
	is api($s, GET => '/api/me', token => $t[2]{access_token})->{status}, 200, '... the current one works';
	$r = api($s, GET => '/api/auth/sessions', token => $t[2]{access_token});
	is_deeply [map { $_->{id} } @{ $r->{json}{data} || [] }], [$sid[2]], '... and is the only one listed';
	is api($s, GET => '/api/me', token => $bl->{json}{access_token})->{status}, 200, "bob's session is untouched";

	$r = api($s, POST => '/api/auth/logout', token => $t[2]{access_token}, json => {});
	is $r->{status}, 204, 'logout: 204';
	push @AUDIT, ['logout', $r->{rid}, $alice{id}, 'logout'];
	is sc(api($s, GET => '/api/me', token => $t[2]{access_token})), '401 unauthorized',
		'the access token is refused at once';
	is sc(api($s, POST => '/api/auth/refresh', json => { refresh_token => $t[2]{refresh_token} })),
		'401 refresh_token_invalid', 'and the refresh token of that session';
	is api($s, POST => '/api/auth/logout', token => $t[2]{access_token}, json => {})->{status}, 401,
		'logout again with it: 401';
	is api($s, POST => '/api/auth/logout', json => {})->{status}, 401, 'logout without a token: 401';
};

# ---- change-password -------------------------------------------------------------

subtest 'change-password' => sub {
	my $a = login($s, $bob{email});
	my $b = login($s, $bob{email});
	is_deeply [$a->{status}, $b->{status}], [200, 200], 'two sessions' or return;
	my ($ta, $tb) = ($a->{json}, $b->{json});
	my $r = api($s, POST => '/api/auth/change-password', token => $tb->{access_token},
		json => { current_password => 'not my password at all 99', new_password => $PW2 });
	is sc($r), '422 validation_failed', 'wrong current password: 422';
	is $r->{json}{errors}[0]{field}, 'current_password', '... field current_password';
	$r = api($s, POST => '/api/auth/change-password', token => $tb->{access_token},
		json => { current_password => $PW, new_password => 'password1' });
	is sc($r), '422 validation_failed', 'weak new password: 422';
	is $r->{json}{errors}[0]{field}, 'new_password', '... field new_password';
	like $r->{json}{errors}[0]{message} // '', qr/\w{3}/, '... with a message';
	is login($s, $bob{email}, $PW)->{status}, 200, 'the old password still works after the refusals';
	$r = api($s, POST => '/api/auth/change-password',
		json => { current_password => $PW, new_password => $PW2 });
	is $r->{status}, 401, 'without a token: 401';

	$r = api($s, POST => '/api/auth/change-password', token => $tb->{access_token},
		json => { current_password => $PW, new_password => $PW2 });
	is $r->{status}, 204, 'change-password: 204' or diag $r->{content};
	push @AUDIT, ['password.change', $r->{rid}, $bob{id}, 'change-password'];
	is api($s, GET => '/api/me', token => $ta->{access_token})->{status}, 401, 'the other session is revoked';
	is api($s, GET => '/api/me', token => $bob{tokens}{access_token})->{status}, 401, '... all of them';
	is api($s, GET => '/api/me', token => $tb->{access_token})->{status}, 200, 'the current one still works';
	is api($s, POST => '/api/auth/refresh', json => { refresh_token => $tb->{refresh_token} })->{status}, 200,
		'... and can refresh';
	my $m = wait_mail($smtp, $bob{email}, $CHANGED_SUBJECT);
	ok $m, 'a "password changed" email arrived';
	is sc(login($s, $bob{email}, $PW)), '401 invalid_credentials', 'the old password no longer logs in';
	is login($s, $bob{email}, $PW2)->{status}, 200, 'the new one does';
};

# ---- forgot/reset ----------------------------------------------------------------

subtest 'forgot-password and reset-password' => sub {
	my $l = login($s, $bob{email}, $PW2);
	is $l->{status}, 200, 'a session before the reset' or return;
	my $before = scalar mails_to($smtp, $bob{email}, $RESET_SUBJECT);
	my $r = api($s, POST => '/api/auth/forgot-password', json => { email => $bob{email} });
	is $r->{status}, 202, 'forgot-password: 202';
	my $m = wait_mail($smtp, $bob{email}, $RESET_SUBJECT, $before + 1);
	ok $m, 'the reset email arrived' or return;
	my @p = parts($m);
	is scalar(@p), 2, '... with two parts';
	my $token = link_token($m, '/reset-password');
	like $token, qr/^[A-Za-z0-9_-]{20,}$/, '... and a link with a token';

	$r = api($s, POST => '/api/auth/reset-password', json => { token => $token, new_password => 'password1' });
	is sc($r), '422 validation_failed', 'a weak password: 422';
	is $r->{json}{errors}[0]{field}, 'new_password', '... field new_password';
	is api($s, GET => '/api/me', token => $l->{json}{access_token})->{status}, 200, '... nothing revoked';

	my $changed_before = scalar mails_to($smtp, $bob{email}, $CHANGED_SUBJECT);
	$r = api($s, POST => '/api/auth/reset-password', json => { token => $token, new_password => $PW3 });
	is $r->{status}, 204, 'the token still works: 204' or diag $r->{content};
	push @AUDIT, ['password.reset', $r->{rid}, $bob{id}, 'reset-password'];
	is api($s, GET => '/api/me', token => $l->{json}{access_token})->{status}, 401, 'every session is revoked';
	is psql($db, qq{SELECT count(*) FROM sessions WHERE user_id = '$bob{id}' AND revoked_at IS NULL}), 0,
		'... none left unrevoked';
	is login($s, $bob{email}, $PW3)->{status}, 200, 'the new password logs in';
	is login($s, $bob{email}, $PW2)->{status}, 401, 'the old one does not';
	$r = api($s, POST => '/api/auth/reset-password', json => { token => $token, new_password => $PW });
	is sc($r), '422 validation_failed', 'the reset token a second time: 422';
	is $r->{json}{errors}[0]{field}, 'token', '... field token';
	is login($s, $bob{email}, $PW)->{status}, 401, '... and it changed nothing';
	ok wait_mail($smtp, $bob{email}, $CHANGED_SUBJECT, $changed_before + 1), 'a "password changed" email after the reset';

	# A reset proves the address: no verification needed afterwards.
	my $c = 'carol@example.org';
	$r = api($s, POST => '/api/auth/register', json => { email => $c, password => $PW, name => 'Carol' });
	is $r->{status}, 202, 'carol registers (not verified)';
	is sc(login($s, $c)), '403 email_not_verified', '... cannot log in yet';
	api($s, POST => '/api/auth/forgot-password', json => { email => $c });
	my $cm = wait_mail($smtp, $c, $RESET_SUBJECT);
	$r = api($s, POST => '/api/auth/reset-password',
		json => { token => link_token($cm, '/reset-password'), new_password => $PW2 });
	is $r->{status}, 204, '... resets her password';
	$r = login($s, $c, $PW2);
	is $r->{status}, 200, '... and logs in without verifying' or diag $r->{content};
	is $r->{json}{user}{email_verified}, JSON::PP::true, '... her address counts as verified';
	$r = api($s, POST => '/api/auth/reset-password', json => { token => 'x' x 43, new_password => $PW3 });
	is sc($r), '422 validation_failed', 'an unknown reset token: 422';
};

# ---- refresh reuse, once the grace has passed ----------------------------------------

subtest 'refresh: reuse after the grace revokes the session' => sub {
	plan skip_all => 'the rotation part failed' unless $reuse{r1};
	my $wait = $reuse{at} + 11 - time;
	sleep $wait if $wait > 0;
	# Before the reuse, the session still works.
	is api($s, GET => '/api/me', token => $reuse{access})->{status}, 200, 'the session works before the reuse';
	my $r = api($s, POST => '/api/auth/refresh', json => { refresh_token => $reuse{r1} });
	is sc($r), '401 refresh_token_reused', '11 s after its rotation the old token is reuse: 401 refresh_token_reused';
	push @AUDIT, ['refresh.reuse', $r->{rid}, $dave{id}, 'refresh reuse'];
	is sc(api($s, GET => '/api/me', token => $reuse{access})), '401 unauthorized',
		'the access token of that session is refused at once';
	is sc(api($s, POST => '/api/auth/refresh', json => { refresh_token => $reuse{newest} })),
		'401 refresh_token_invalid', 'the newest refresh token of the session: 401 refresh_token_invalid';
	is sc(api($s, POST => '/api/auth/refresh', json => { refresh_token => $reuse{grace} })),
		'401 refresh_token_invalid', 'the one from the grace too';
	is psql($db, qq{SELECT revoked_at IS NOT NULL FROM sessions WHERE id = '$reuse{sid}'}), 't',
		'the session is revoked in the database';
};

# ---- audit ---------------------------------------------------------------------------

subtest 'audit log' => sub {
	ok scalar(@AUDIT) >= 8, scalar(@AUDIT) . ' expected entries';
	my %actions = map { $_->[0] => 1 } @AUDIT;
	is_deeply [sort keys %actions], [sort qw(register email.verify login.success login.failure
		logout refresh.reuse password.change password.reset)], 'every action is expected';
	for my $e (@AUDIT) {
		my ($action, $rid, $actor, $what, $target) = @$e;
		my $rows = psql($db, qq{SELECT coalesce(actor_id::text, '-') || '|' || coalesce(host(actor_ip), '-')
			|| '|' || coalesce(target_id, '-') FROM audit_log WHERE request_id = '$rid' AND action = '$action'});
		my @rows = split /\n/, $rows;
		is scalar(@rows), 1, "$action ($what): one row with request_id $rid" or next;
		my ($a_id, $a_ip, $t_id) = split /\|/, $rows[0];
		if (defined $actor) {
			is $a_id, $actor, "... actor_id is the user";
		} else {
			# Nobody is signed in: the account is the target, not the actor.
			is $t_id, $target, "... target_id is the user (actor_id $a_id)";
		}
		is $a_ip, '127.0.0.1', '... actor_ip 127.0.0.1';
	}
	is psql($db, q{SELECT count(*) FROM audit_log WHERE action = 'login.failure'
		AND details->>'email' = 'nobody@example.org'}) >= 1 ? 1 : 0, 1,
		'a login failure for an unknown address is audited with the address';
};

# ---- the end -------------------------------------------------------------------------

# The worker stops on SIGTERM (its master used to block in read() on an idle
# child's pipe and never saw the signal; fixed in 23ccd11).
is $worker->{stop}->(), 0, 'the worker stops cleanly on SIGTERM';
ok !$worker->{killed}, '... within 5 s, without SIGKILL';
unlike slurp($worker->{log}), qr/ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:/,
	'no sanitizer report from the worker';
my @errors = grep { ($_->{level} // '') =~ /^(?:error|fatal)/ } $s->log_lines;
is scalar(@errors), 0, 'no error in the pool log' or diag explain [@errors[0 .. ($#errors < 4 ? $#errors : 4)]];
diag sprintf '70-auth.t took %.1f s', time - $T0;
done_testing();
