#!/usr/bin/perl
# Invitations (api.md "Invitations") end to end behind nginx, with the real
# worker sending the invitation email to a real SMTP server on loopback:
# create (201, the object, expires in 7 days, the email and its token link),
# list, 409 for an existing account, 422 for a bad role, 403/401 for
# non-admins and anonymous callers, revoke (204, token dead, 404 twice, 404
# for a non-UUID), accept (201 Tokens, verified address, invited role,
# single use; a weak password leaves the token usable), expiry, and the
# invitation as the way in when REGISTRATION=invite (register is 403 there).
use strict;
use warnings;

use Digest::SHA qw(sha256_hex);
use Encode qw(decode);
use Errno qw(EINTR);
use File::Temp qw(tempdir tempfile);
use FindBin;
use JSON::PP;
use MIME::QuotedPrint qw(decode_qp);
use POSIX qw(_exit WNOHANG setpgid);
use Test::More;
use Time::HiRes qw(sleep time);
use Time::Local qw(timegm);

use lib "$FindBin::Bin/../lib";
use FastbackSMTP qw(start_smtp);
use FastbackTest;
use FastbackUsers qw(users_setup slurp ctl start_worker stop_worker epoch_of problem_ok mail_to);

my $T0 = time;
my $BUILD = build_dir();
my $ROOT = repo_root();
plan skip_all => "$BUILD/fastback-worker not built: run make first"
	unless -x "$BUILD/fastback-worker" && -x "$BUILD/fastbackctl";

my $JSON = JSON::PP->new->utf8->canonical;
my $PW = 'correct horse battery staple 42';
my $UUID = qr/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
my $TMP = tempdir('fb72-XXXXXX', TMPDIR => 1, CLEANUP => !$ENV{FASTBACK_KEEP_TMP});
users_setup(tmp => $TMP);

# ---- local helpers (shared ones: FastbackUsers) ---------------------------------

my $SANITIZER_RE = qr/ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:/;

sub invite_token {
	my ($m, $base) = @_;
	my $text = decode_qp($m->{body} // '');
	my ($tok) = $text =~ m{\Q$base\E/accept-invitation\?token=([A-Za-z0-9_-]{43})(?![A-Za-z0-9_-])};
	return $tok;
}

# ---- the stack ----------------------------------------------------------------

my $smtp = start_smtp();
my %CONF = (
	FCGI_CHILDREN => 2,
	RATE_LIMIT_GENERAL_IP => 0, RATE_LIMIT_GENERAL_USER => 0, RATE_LIMIT_AUTH_IP => 0,
	RATE_LIMIT_LOGIN_FAILURES => 0, RATE_LIMIT_ACCOUNT_FAILURES => 0,
	PASSWORD_ARGON2_MEMORY_KIB => 8192, PASSWORD_ARGON2_ITERATIONS => 1,
	SMTP_URL => $smtp->url, MAIL_FROM => 'Fastback <noreply@example.com>',
	MAIL_TEMPLATES_DIR => "$ROOT/conf/templates",
	WORKER_POLL_SECONDS => 1, WORKER_PROCESSES => 1,
);
my $s = start_stack(%CONF);
my $U = $s->{url};
my $DB = $s->{conf}{DATABASE_URL};
my $worker = start_worker($s->{config});

sub api {
	my ($method, $path, %o) = @_;
	return http($method => "$U$path", %o);
}

sub login {
	my ($url, $email, $pw) = @_;
	return http(POST => "$url/api/auth/login", json => { email => $email, password => $pw });
}

# An administrator from the command line, an ordinary user imported with a
# bcrypt hash (Debian's crypt() makes $2b$).
my ($st, $out, $err) = ctl($s->{config}, "$PW\n", 'user', 'create-admin', 'boss@example.com');
is $st, 0, 'create-admin' or diag "$out$err";
{
	my @c = ('.', '/', 'A' .. 'Z', 'a' .. 'z', '0' .. '9');
	my $salt = join('', map { $c[int rand @c] } 1 .. 21) . 'e';
	my $hash = crypt($PW, '$2b$04$' . $salt);
	like $hash, qr/^\$2b\$04\$.{53}$/, 'crypt() makes bcrypt';
	my $file = "$TMP/users.jsonl";
	open my $fh, '>', $file or die "$file: $!";
	print $fh $JSON->encode({ email => 'plain@example.com', name => 'Plain User',
		password_hash => $hash, email_verified => JSON::PP::true }), "\n";
	close $fh;
	($st, $out, $err) = ctl($s->{config}, undef, 'users', 'import', $file);
	is $st, 0, 'users import' or diag "$out$err";
}
my $r = login($U, 'boss@example.com', $PW);
is $r->{status}, 200, 'the admin logs in' or diag $r->{content};
my $ADMIN = $r->{json}{access_token};
my $ADMIN_ID = $r->{json}{user}{id};
$r = login($U, 'plain@example.com', $PW);
is $r->{status}, 200, 'the user logs in' or diag $r->{content};
my $USER = $r->{json}{access_token};
BAIL_OUT('cannot sign in: nothing else can work') unless $ADMIN && $USER;

# ---- create -------------------------------------------------------------------

my ($inv1, $tok1);
subtest 'POST /api/invitations: 201, the object, and the email' => sub {
	my $before = time;
	my $r = api(POST => '/api/invitations', token => $ADMIN,
		json => { email => 'newbie@example.org', role => 'user' });
	is $r->{status}, 201, 'status 201' or diag $r->{content};
	like $r->{headers}{'content-type'} // '', qr{^application/json}, 'JSON';
	$inv1 = $r->{json}{invitation};
	ok ref $inv1 eq 'HASH', '{"invitation": {...}}' or return;
	is_deeply [sort keys %$inv1], [qw(created_at email expires_at id role)],
		'exactly id, email, role, expires_at, created_at';
	like $inv1->{id}, $UUID, 'id is a UUID';
	is $inv1->{email}, 'newbie@example.org', 'email';
	is $inv1->{role}, 'user', 'role';
	my ($c, $x) = (epoch_of($inv1->{created_at}), epoch_of($inv1->{expires_at}));
	ok defined $c, "created_at is RFC 3339 UTC ($inv1->{created_at})";
	ok defined $x, "expires_at is RFC 3339 UTC ($inv1->{expires_at})";
	ok $c && abs($c - $before) < 120, 'created_at is now';
	ok $x && abs($x - ($before + 7 * 86400)) < 120, 'expires_at is 7 days ahead'
		or diag "expires_at - now = " . (($x // 0) - $before) . ' s';
	is psql($DB, "SELECT count(*) FROM invitations WHERE id = '$inv1->{id}'"
		. " AND invited_by = '$ADMIN_ID' AND accepted_at IS NULL AND revoked_at IS NULL"),
		1, 'stored, invited by the admin, pending';
	is psql($DB, "SELECT count(*) FROM audit_log WHERE action = 'invitation.create'"
		. " AND actor_id = '$ADMIN_ID' AND target_id = '$inv1->{id}'"), 1, 'audit entry';

	my @m = mail_to($smtp, 'newbie@example.org');
	is scalar @m, 1, 'one invitation email arrives' or return;
	is_deeply $m[0]{envelope}{rcpt_tos}, ['newbie@example.org'], 'to the invited address';
	my $subject = decode('MIME-Header', $m[0]{headers}{subject}[0] // '');
	like $subject, qr/invited you/, "subject: $subject";
	$tok1 = invite_token($m[0], $U);
	ok $tok1, 'the email holds a link with the token' or diag decode_qp($m[0]{body});
	unlike decode_qp($m[0]{body}), qr/\{\{/, 'no template variable left';
	my $stored = psql($DB, "SELECT encode(token_hash, 'hex') FROM invitations WHERE id = '$inv1->{id}'");
	is $stored, sha256_hex($tok1 // ''), 'only the token\'s SHA-256 is stored';
};

subtest 'GET /api/invitations lists pending invitations' => sub {
	my $r = api(GET => '/api/invitations', token => $ADMIN);
	is $r->{status}, 200, 'status 200' or diag $r->{content};
	my $j = $r->{json} // {};
	ok ref $j->{data} eq 'ARRAY', 'data is an array';
	ok exists $j->{next_cursor}, 'next_cursor present';
	is $j->{next_cursor}, undef, 'next_cursor null (one page)';
	my @mine = grep { $_->{id} eq ($inv1->{id} // '') } @{ $j->{data} || [] };
	is scalar @mine, 1, 'the invitation is listed once';
	is_deeply $mine[0], $inv1, 'with the same fields as at creation';

	problem_ok(api(GET => '/api/invitations?cursor=not-a-cursor', token => $ADMIN),
		400, 'bad_request', undef, 'a bad cursor');
	problem_ok(api(GET => '/api/invitations?limit=0', token => $ADMIN),
		400, 'bad_request', undef, 'limit=0');
	problem_ok(api(GET => '/api/invitations?limit=101', token => $ADMIN),
		400, 'bad_request', undef, 'limit=101');
};

# Three more invitations made within one second an hour ago (created_at set
# with psql), the newest with the smallest id: a walk with limit=1 must give
# inv1 first, then the three by time, newest first, each exactly once.
subtest 'GET /api/invitations: limit=1 walk, newest first within one second' => sub {
	my @ids;
	for my $n (1 .. 3) {
		my $r = api(POST => '/api/invitations', token => $ADMIN,
			json => { email => "page$n\@example.org", role => 'user' });
		is $r->{status}, 201, "invitation page$n" or return;
		push @ids, $r->{json}{invitation}{id};
	}
	my @by_id = sort @ids;
	my %frac = ($by_id[0] => '0.8', $by_id[1] => '0.5', $by_id[2] => '0.2');
	psql($DB, "UPDATE invitations SET created_at = date_trunc('second', now())"
		. " - interval '1 hour' + interval '$frac{$_} second' WHERE id = '$_'") for @ids;
	my @want = ($inv1->{id}, @by_id);
	my (@got, $cursor, $pages);
	while ($pages++ < 10) {
		my $r = api(GET => '/api/invitations?limit=1' . (defined $cursor ? "&cursor=$cursor" : ''),
			token => $ADMIN);
		is $r->{status}, 200, "page $pages" or last;
		push @got, map { $_->{id} } @{ $r->{json}{data} || [] };
		$cursor = $r->{json}{next_cursor};
		last unless defined $cursor;
	}
	is_deeply \@got, \@want, 'each pending invitation exactly once, newest first'
		or diag explain { got => \@got, want => \@want };
	is api(DELETE => "/api/invitations/$_", token => $ADMIN)->{status}, 204, 'tidy up' for @ids;
};

subtest 'refusals: existing account, bad role, bad email, non-admin, anonymous' => sub {
	my $n = psql($DB, 'SELECT count(*) FROM invitations');
	problem_ok(api(POST => '/api/invitations', token => $ADMIN,
		json => { email => 'plain@example.com', role => 'user' }),
		409, 'conflict', undef, 'an existing account\'s email');
	problem_ok(api(POST => '/api/invitations', token => $ADMIN,
		json => { email => 'PLAIN@Example.COM', role => 'user' }),
		409, 'conflict', undef, 'the same email in other case');
	problem_ok(api(POST => '/api/invitations', token => $ADMIN,
		json => { email => 'x1@example.org', role => 'superuser' }),
		422, 'validation_failed', 'role', 'role "superuser"');
	problem_ok(api(POST => '/api/invitations', token => $ADMIN,
		json => { email => 'x2@example.org', role => 'Admin' }),
		422, 'validation_failed', 'role', 'role "Admin"');
	problem_ok(api(POST => '/api/invitations', token => $ADMIN,
		json => { email => 'x3@example.org', role => 5 }),
		422, 'validation_failed', 'role', 'role 5');
	problem_ok(api(POST => '/api/invitations', token => $ADMIN,
		json => { email => 'not an email', role => 'user' }),
		422, 'validation_failed', 'email', 'a bad email');
	problem_ok(api(POST => '/api/invitations', token => $USER,
		json => { email => 'x4@example.org', role => 'user' }),
		403, 'forbidden', undef, 'POST by a non-admin');
	problem_ok(api(GET => '/api/invitations', token => $USER),
		403, 'forbidden', undef, 'GET by a non-admin');
	problem_ok(api(DELETE => "/api/invitations/$inv1->{id}", token => $USER),
		403, 'forbidden', undef, 'DELETE by a non-admin');
	problem_ok(api(POST => '/api/invitations', json => { email => 'x5@example.org', role => 'user' }),
		401, 'unauthorized', undef, 'POST without a token');
	problem_ok(api(GET => '/api/invitations'), 401, 'unauthorized', undef, 'GET without a token');
	problem_ok(api(DELETE => "/api/invitations/$inv1->{id}"),
		401, 'unauthorized', undef, 'DELETE without a token');
	problem_ok(api(GET => '/api/invitations', token => "$ADMIN" . 'x'),
		401, 'unauthorized', undef, 'GET with a forged token');
	is psql($DB, 'SELECT count(*) FROM invitations'), $n, 'no invitation was stored';
	is psql($DB, "SELECT count(*) FROM invitations WHERE id = '$inv1->{id}' AND revoked_at IS NULL"),
		1, 'the pending one is untouched';
};

# ---- revoke -------------------------------------------------------------------

subtest 'DELETE /api/invitations/{id}: 204, the token dies; 404 afterwards' => sub {
	my $r = api(POST => '/api/invitations', token => $ADMIN,
		json => { email => 'revoked@example.org', role => 'user' });
	is $r->{status}, 201, 'invited' or return;
	my $id = $r->{json}{invitation}{id};
	my ($m) = mail_to($smtp, 'revoked@example.org');
	my $tok = $m && invite_token($m, $U);
	ok $tok, 'its token from the email' or return;

	$r = api(DELETE => "/api/invitations/$id", token => $ADMIN);
	is $r->{status}, 204, 'status 204' or diag $r->{content};
	is $r->{content} // '', '', 'no body';
	ok !(grep { $_->{id} eq $id } @{ api(GET => '/api/invitations?limit=100', token => $ADMIN)->{json}{data} || [] }),
		'no longer listed';
	is psql($DB, "SELECT count(*) FROM audit_log WHERE action = 'invitation.revoke' AND target_id = '$id'"),
		1, 'audit entry';
	problem_ok(api(POST => '/api/invitations/accept',
		json => { token => $tok, name => 'Too Late', password => $PW }),
		422, 'validation_failed', 'token', 'accepting the revoked invitation');
	is psql($DB, "SELECT count(*) FROM users WHERE email = 'revoked\@example.org'"), 0,
		'no account was created';
	problem_ok(api(DELETE => "/api/invitations/$id", token => $ADMIN),
		404, 'not_found', undef, 'a second DELETE');
	problem_ok(api(DELETE => '/api/invitations/not-a-uuid', token => $ADMIN),
		404, 'not_found', undef, 'a non-UUID id');
	problem_ok(api(DELETE => '/api/invitations/00000000-0000-4000-8000-000000000000', token => $ADMIN),
		404, 'not_found', undef, 'an unknown UUID');
};

# ---- accept -------------------------------------------------------------------

subtest 'POST /api/invitations/accept: a weak password keeps the token; then 201 Tokens' => sub {
	ok $tok1, 'the token of the first invitation' or return;
	problem_ok(api(POST => '/api/invitations/accept',
		json => { token => $tok1, name => 'New Bie', password => 'password' }),
		422, 'validation_failed', 'password', 'a weak password');
	problem_ok(api(POST => '/api/invitations/accept',
		json => { token => $tok1, name => 'New Bie', password => 'newbie@example.org' }),
		422, 'validation_failed', 'password', 'the email as password');
	is psql($DB, "SELECT count(*) FROM users WHERE lower(email) = 'newbie\@example.org'"), 0,
		'no account yet';
	problem_ok(api(POST => '/api/invitations/accept', json => { token => $tok1, password => $PW }),
		422, 'validation_failed', 'name', 'no name');
	problem_ok(api(POST => '/api/invitations/accept',
		json => { token => 'x' x 43, name => 'New Bie', password => $PW }),
		422, 'validation_failed', 'token', 'a made-up token');
	problem_ok(api(POST => '/api/invitations/accept', body => 'token=x',
		headers => { 'Content-Type' => 'application/x-www-form-urlencoded' }),
		415, 'unsupported_media_type', undef, 'not JSON');

	my $r = api(POST => '/api/invitations/accept',
		json => { token => $tok1, name => 'New Bie', password => $PW });
	is $r->{status}, 201, '201 with the same token after the weak attempt' or diag $r->{content};
	my $j = $r->{json} // {};
	ok length($j->{access_token} // ''), 'access_token';
	is $j->{token_type}, 'Bearer', 'token_type Bearer';
	ok length($j->{refresh_token} // ''), 'refresh_token';
	is $j->{expires_in}, 900, 'expires_in 900';
	my $u = $j->{user} // {};
	is $u->{email}, 'newbie@example.org', 'user.email';
	is $u->{name}, 'New Bie', 'user.name';
	is $u->{role}, 'user', 'user.role is the invited one';
	ok $u->{email_verified} && JSON::PP::is_bool($u->{email_verified}), 'user.email_verified true';
	like $u->{id} // '', $UUID, 'user.id';
	is psql($DB, "SELECT role || ' ' || (email_verified_at IS NOT NULL) || ' '"
		. " || (password_hash LIKE '\$argon2id\$%') FROM users WHERE id = '$u->{id}'"),
		'user true true', 'stored: role user, verified, argon2id hash';
	is psql($DB, "SELECT count(*) FROM invitations WHERE id = '$inv1->{id}' AND accepted_at IS NOT NULL"),
		1, 'the invitation is marked accepted';
	is psql($DB, "SELECT count(*) FROM audit_log WHERE action = 'invitation.accept' AND target_id = '$u->{id}'"),
		1, 'audit entry';

	my $rf = api(POST => '/api/auth/refresh', json => { refresh_token => $j->{refresh_token} });
	is $rf->{status}, 200, 'the refresh token works' or diag $rf->{content};
	my $me = api(GET => '/api/me', token => $j->{access_token});
	is $me->{status}, 200, 'the access token works';
	is $me->{json}{user}{email}, 'newbie@example.org', 'as the new user';
	is login($U, 'newbie@example.org', $PW)->{status}, 200, 'the new user logs in';
	problem_ok(api(GET => '/api/invitations', token => $j->{access_token}),
		403, 'forbidden', undef, 'a "user" invitee is no admin');

	problem_ok(api(POST => '/api/invitations/accept',
		json => { token => $tok1, name => 'Again', password => $PW }),
		422, 'validation_failed', 'token', 'the token a second time');
	is psql($DB, "SELECT count(*) FROM users WHERE lower(email) = 'newbie\@example.org'"), 1,
		'still one account';
	ok !(grep { $_->{id} eq $inv1->{id} } @{ api(GET => '/api/invitations', token => $ADMIN)->{json}{data} || [] }),
		'an accepted invitation is no longer pending';
	problem_ok(api(POST => '/api/invitations', token => $ADMIN,
		json => { email => 'newbie@example.org', role => 'user' }),
		409, 'conflict', undef, 'inviting the new account again');
};

subtest 'an admin invitation makes an admin' => sub {
	my $r = api(POST => '/api/invitations', token => $ADMIN,
		json => { email => 'deputy@example.org', role => 'admin' });
	is $r->{status}, 201, 'invited' or return;
	is $r->{json}{invitation}{role}, 'admin', 'role admin';
	my ($m) = mail_to($smtp, 'deputy@example.org');
	my $tok = $m && invite_token($m, $U);
	ok $tok, 'token' or return;
	like decode_qp($m->{body}), qr/\badmin\b/, 'the email names the role';
	$r = api(POST => '/api/invitations/accept',
		json => { token => $tok, name => 'Deputy', password => $PW });
	is $r->{status}, 201, 'accepted' or diag $r->{content};
	is $r->{json}{user}{role}, 'admin', 'user.role admin';
	ok $r->{json}{user}{email_verified}, 'verified';
	is api(GET => '/api/invitations', token => $r->{json}{access_token})->{status}, 200,
		'the new admin may list invitations';
};

subtest 'the token is single-use under concurrent accepts' => sub {
	my $r = api(POST => '/api/invitations', token => $ADMIN,
		json => { email => 'racer@example.org', role => 'user' });
	is $r->{status}, 201, 'invited' or return;
	my ($m) = mail_to($smtp, 'racer@example.org');
	my $tok = $m && invite_token($m, $U);
	ok $tok, 'token' or return;
	my @kids;
	for my $i (1 .. 4) {
		my $pid = fork // die "fork: $!";
		if (!$pid) {
			my $x = http(POST => "$U/api/invitations/accept",
				json => { token => $tok, name => "Racer $i", password => $PW });
			open my $fh, '>', "$TMP/race-$i" or _exit(1);
			print $fh $x->{status};
			close $fh;
			_exit(0);
		}
		push @kids, $pid;
	}
	waitpid $_, 0 for @kids;
	my @st = sort map { slurp("$TMP/race-$_") } 1 .. 4;
	is_deeply \@st, [201, 422, 422, 422], 'four at once: one 201, three 422';
	is psql($DB, "SELECT count(*) FROM users WHERE email = 'racer\@example.org'"), 1, 'one account';
};

subtest 'an address registered after the invitation: accept is 409' => sub {
	my $r = api(POST => '/api/invitations', token => $ADMIN,
		json => { email => 'early@example.org', role => 'admin' });
	is $r->{status}, 201, 'invited' or return;
	my ($m) = mail_to($smtp, 'early@example.org');
	my $tok = $m && invite_token($m, $U);
	ok $tok, 'token' or return;
	is api(POST => '/api/auth/register',
		json => { email => 'early@example.org', password => $PW, name => 'Early Bird' })->{status},
		202, 'the address registers on its own meanwhile';
	problem_ok(api(POST => '/api/invitations/accept',
		json => { token => $tok, name => 'Early', password => "$PW!" }),
		409, 'conflict', undef, 'accepting then');
	is psql($DB, "SELECT count(*) || '/' || min(role) FROM users WHERE lower(email) = 'early\@example.org'"),
		'1/user', 'one account, not made admin by the invitation';
};

subtest 'an expired invitation is dead' => sub {
	my $r = api(POST => '/api/invitations', token => $ADMIN,
		json => { email => 'slow@example.org' , role => 'user' });
	is $r->{status}, 201, 'invited' or return;
	my $id = $r->{json}{invitation}{id};
	my ($m) = mail_to($smtp, 'slow@example.org');
	my $tok = $m && invite_token($m, $U);
	ok $tok, 'token' or return;
	psql($DB, "UPDATE invitations SET expires_at = now() - interval '1 second' WHERE id = '$id'");
	ok !(grep { $_->{id} eq $id } @{ api(GET => '/api/invitations', token => $ADMIN)->{json}{data} || [] }),
		'not listed once expired';
	problem_ok(api(POST => '/api/invitations/accept',
		json => { token => $tok, name => 'Slow', password => $PW }),
		422, 'validation_failed', 'token', 'accepting after expiry');
};

# ---- REGISTRATION=invite -----------------------------------------------------------

subtest 'REGISTRATION=invite: register is 403, an invitation still gets you in' => sub {
	# A second pool on the same database, invite-only; the worker of the
	# first serves its outbox too.
	my $s2 = start_stack(%CONF, DATABASE_URL => $DB, REGISTRATION => 'invite');
	my $U2 = $s2->{url};
	problem_ok(http(POST => "$U2/api/auth/register",
		json => { email => 'walkin@example.org', password => $PW, name => 'Walk In' }),
		403, 'forbidden', undef, 'register when invite-only');
	is http(POST => "$U/api/auth/register",
		json => { email => 'walkin2@example.org', password => $PW, name => 'Walk In' })->{status},
		202, '(register on the open pool: 202)';
	is psql($DB, "SELECT count(*) FROM users WHERE email = 'walkin\@example.org'"), 0,
		'no account from the refused registration';

	my $r = login($U2, 'boss@example.com', $PW);
	is $r->{status}, 200, 'the admin logs in on the invite-only pool' or return;
	$r = http(POST => "$U2/api/invitations", token => $r->{json}{access_token},
		json => { email => 'invited@example.org', role => 'user' });
	is $r->{status}, 201, 'invitation created' or return;
	my ($m) = mail_to($smtp, 'invited@example.org');
	my $tok = $m && invite_token($m, $U2);
	ok $tok, 'the email links to the invite-only pool\'s URL' or return;
	$r = http(POST => "$U2/api/invitations/accept",
		json => { token => $tok, name => 'Invited', password => $PW });
	is $r->{status}, 201, 'accepted: 201' or diag $r->{content};
	is $r->{json}{user}{email}, 'invited@example.org', 'the account exists';
	ok $r->{json}{user}{email_verified}, 'verified';
	is login($U2, 'invited@example.org', $PW)->{status}, 200, 'and logs in';
	$s2->{nginx}->stop;
	is $s2->stop, 0, 'the invite-only pool stops cleanly';
};

# An idle worker must see SIGTERM at once (its master once slept in read(2)
# on an idle child's pipe).
is stop_worker($worker, 5), 0, 'the idle worker stops cleanly on SIGTERM';
my $wlog = slurp($worker->{log});
unlike $wlog, $SANITIZER_RE, 'no sanitizer report from the worker' or diag $wlog;
note sprintf 'took %.1f s', time - $T0;
done_testing;
