#!/usr/bin/perl
# The caller's own account (api.md "Me", but preferences and api-keys) and
# the administrators' users and audit log (api.md "Admin": users, audit-log)
# behind nginx against the real pool and PostgreSQL: GET/PATCH /api/me and
# its validation; GET /api/admin/users (403 for non-admins, keyset
# pagination newest first, also while users are added and within one second,
# ?q= by email and by name, 400 for bad limits and cursors); PATCH
# /api/admin/users/{id} (role change with its audit entry, disabling that
# ends every session at once and blocks login, re-enabling, no self-disable
# or self-demotion); GET /api/admin/audit-log (newest first, filters,
# pagination, 400s); GET /api/me/export (attachment, content, no secrets,
# 3 an hour); DELETE /api/me (confirm, password, then everything gone but the
# audit trail).
use strict;
use warnings;
use utf8;

use Digest::SHA qw(sha256_hex);
use Errno qw(EINTR);
use File::Temp qw(tempdir tempfile);
use FindBin;
use JSON::PP;
use MIME::Base64 qw(decode_base64 encode_base64);
use POSIX qw(_exit);
use Test::More;
use Time::HiRes qw(sleep time);
use Time::Local qw(timegm);

use lib "$FindBin::Bin/../lib";
use FastbackTest;
use FastbackUsers qw(users_setup ctl epoch_of problem_ok import_users dups);

binmode Test::More->builder->$_, ':encoding(UTF-8)'
	for qw(output failure_output todo_output);

my $T0 = time;
my $BUILD = build_dir();
plan skip_all => "$BUILD/fastbackctl not built: run make first" unless -x "$BUILD/fastbackctl";

my $JSON = JSON::PP->new->utf8->canonical;
my $PW = 'correct horse battery staple 42';
my $UUID = qr/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
my $TMP = tempdir('fb73-XXXXXX', TMPDIR => 1, CLEANUP => !$ENV{FASTBACK_KEEP_TMP});
users_setup(tmp => $TMP, password => $PW);

# ---- local helpers (shared ones: FastbackUsers) ---------------------------------

sub b64url {
	my $s = encode_base64($_[0], '');
	$s =~ tr{+/}{-_};
	$s =~ s/=+$//;
	return $s;
}

# The claims of a JWT (not verified: the server did that).
sub jwt_claims {
	my ($jwt) = @_;
	my (undef, $p) = split /\./, $jwt // '';
	return {} unless defined $p;
	$p =~ tr{-_}{+/};
	$p .= '=' x ((4 - length($p) % 4) % 4);
	return eval { $JSON->decode(decode_base64($p)) } // {};
}


# ---- the stack ----------------------------------------------------------------

my $s = start_stack(
	FCGI_CHILDREN => 2,
	RATE_LIMIT_GENERAL_IP => 0, RATE_LIMIT_GENERAL_USER => 0, RATE_LIMIT_AUTH_IP => 0,
	RATE_LIMIT_LOGIN_FAILURES => 0, RATE_LIMIT_ACCOUNT_FAILURES => 0,
	RATE_LIMIT_EXPORT_USER => 3,
	PASSWORD_ARGON2_MEMORY_KIB => 8192, PASSWORD_ARGON2_ITERATIONS => 1,
);
my $U = $s->{url};
my $DB = $s->{conf}{DATABASE_URL};

sub api {
	my ($method, $path, %o) = @_;
	return http($method => "$U$path", %o);
}

sub login {
	my ($email, $pw) = @_;
	return api(POST => '/api/auth/login', json => { email => $email, password => $pw // $PW });
}

# Tokens of a successful login (or a failed test and {}).
sub signin {
	my ($email) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my $r = login($email);
	is $r->{status}, 200, "$email logs in" or diag $r->{content};
	return $r->{status} == 200 ? $r->{json} : {};
}

my ($st, $out, $err) = ctl($s->{config}, "$PW\n", 'user', 'create-admin', 'boss@example.com');
is $st, 0, 'create-admin' or diag "$out$err";
ok import_users($s->{config}, ['alice@example.com', 'Alice Anders'],
	['bob@example.com', 'Bob Brown'], ['carol@example.com', 'Carol Clark'],
	['dave@example.com', 'Dave Dunn']), 'four users imported';
my %ID = map { split /\|/ } split /\n/, psql($DB, "SELECT split_part(email, '\@', 1), id FROM users");
is scalar keys %ID, 5, 'five users';
my $admin = signin('boss@example.com');
my $ADMIN = $admin->{access_token};
BAIL_OUT('the admin cannot sign in') unless $ADMIN;

# ---- GET/PATCH /api/me ----------------------------------------------------------------

subtest 'GET /api/me' => sub {
	my $t = signin('alice@example.com');
	my $r = api(GET => '/api/me', token => $t->{access_token});
	is $r->{status}, 200, 'status 200' or return;
	is $r->{headers}{'cache-control'}, 'no-store', 'Cache-Control: no-store';
	my $u = $r->{json}{user} // {};
	is_deeply [sort keys %$u],
		[qw(created_at email email_verified id mfa_enabled name role updated_at)],
		'a User object, nothing more';
	is $u->{id}, $ID{alice}, 'id';
	is $u->{email}, 'alice@example.com', 'email';
	is $u->{name}, 'Alice Anders', 'name';
	is $u->{role}, 'user', 'role';
	ok JSON::PP::is_bool($u->{email_verified}) && $u->{email_verified}, 'email_verified true';
	ok JSON::PP::is_bool($u->{mfa_enabled}) && !$u->{mfa_enabled}, 'mfa_enabled false';
	ok defined epoch_of($u->{created_at}), 'created_at RFC 3339';
	problem_ok(api(GET => '/api/me'), 401, 'unauthorized', undef, 'without a token');
	problem_ok(api(GET => '/api/me', token => 'not.a.jwt'), 401, 'unauthorized', undef, 'a junk token');
};

subtest 'PATCH /api/me {name}' => sub {
	my $t = signin('alice@example.com');
	my $tok = $t->{access_token};
	my $r = api(PATCH => '/api/me', token => $tok, json => { name => 'Alice A. Anders' });
	is $r->{status}, 200, 'status 200' or diag $r->{content};
	is $r->{json}{user}{name}, 'Alice A. Anders', 'the answer has the new name';
	is $r->{json}{user}{id}, $ID{alice}, 'the same user';
	is api(GET => '/api/me', token => $tok)->{json}{user}{name}, 'Alice A. Anders', 'GET shows it';
	is psql($DB, "SELECT name FROM users WHERE id = '$ID{alice}'"), 'Alice A. Anders', 'stored';
	is psql($DB, "SELECT updated_at > created_at FROM users WHERE id = '$ID{alice}'"), 't',
		'updated_at moves';

	$r = api(PATCH => '/api/me', token => $tok, json => { name => 'n' x 200 });
	is $r->{status}, 200, '200 characters: 200' or diag $r->{content};
	$r = api(PATCH => '/api/me', token => $tok, json => { name => 'é' x 200 });
	is $r->{status}, 200, '200 two-byte characters (400 bytes): 200' or diag $r->{content};
	is $r->{json}{user}{name}, 'é' x 200, 'and round-trips as UTF-8';

	my $before = psql($DB, "SELECT name FROM users WHERE id = '$ID{alice}'");
	problem_ok(api(PATCH => '/api/me', token => $tok, json => { name => 'n' x 201 }),
		422, 'validation_failed', 'name', '201 characters');
	problem_ok(api(PATCH => '/api/me', token => $tok, json => { name => 'é' x 201 }),
		422, 'validation_failed', 'name', '201 two-byte characters');
	problem_ok(api(PATCH => '/api/me', token => $tok, json => { name => '' }),
		422, 'validation_failed', 'name', 'an empty name');
	problem_ok(api(PATCH => '/api/me', token => $tok, json => { name => 42 }),
		422, 'validation_failed', 'name', 'a number');
	problem_ok(api(PATCH => '/api/me', token => $tok, json => { name => undef }),
		422, 'validation_failed', 'name', 'null');
	problem_ok(api(PATCH => '/api/me', token => $tok, json => { nickname => 'Al' }),
		422, 'validation_failed', 'nickname', 'an unknown key');
	problem_ok(api(PATCH => '/api/me', token => $tok, json => { name => 'Ok', role => 'admin' }),
		422, 'validation_failed', 'role', 'name with an unknown key (role)');
	problem_ok(api(PATCH => '/api/me', token => $tok, json => { name => "a\x{7}b" }),
		422, 'validation_failed', 'name', 'a control character');
	problem_ok(api(PATCH => '/api/me', token => $tok, json => ['name']),
		400, 'invalid_json', undef, 'an array body');
	problem_ok(api(PATCH => '/api/me', token => $tok, body => '{"name":"x"}',
		headers => { 'Content-Type' => 'text/plain' }), 415, 'unsupported_media_type', undef,
		'text/plain');
	problem_ok(api(PATCH => '/api/me', json => { name => 'Nobody' }),
		401, 'unauthorized', undef, 'without a token');
	is psql($DB, "SELECT name || '/' || role FROM users WHERE id = '$ID{alice}'"), "$before/user",
		'name and role unchanged by the refused requests';
	is api(PATCH => '/api/me', token => $tok, json => { name => 'Alice Anders' })->{status}, 200,
		'renamed back';
};

# ---- GET /api/admin/users ----------------------------------------------------------

# walk($path, $limit, $between): the ids of every page (at most 50 pages),
# $between->($page_number) run after each page but the last.
sub walk {
	my ($path, $limit, $between) = @_;
	my (@ids, $cursor, $n, @sizes);
	my $sep = $path =~ /\?/ ? '&' : '?';
	while ($n++ < 50) {
		my $r = api(GET => "$path${sep}limit=$limit" . (defined $cursor ? "&cursor=$cursor" : ''),
			token => $ADMIN);
		if ($r->{status} != 200) {
			fail("$path page $n: $r->{status}");
			diag $r->{content};
			last;
		}
		push @sizes, scalar @{ $r->{json}{data} || [] };
		push @ids, map { $_->{id} } @{ $r->{json}{data} || [] };
		$cursor = $r->{json}{next_cursor};
		last unless defined $cursor;
		$between->($n) if $between;
	}
	return (\@ids, \@sizes);
}

sub newest_first_ids {
	my ($where) = @_;
	return [split /\n/, psql($DB, "SELECT id FROM users u WHERE $where ORDER BY created_at DESC, id DESC")];
}

subtest 'GET /api/admin/users: limit=2 walk over 5 users' => sub {
	my $r = api(GET => '/api/admin/users', token => $ADMIN);
	is $r->{status}, 200, 'status 200' or return;
	is scalar @{ $r->{json}{data} || [] }, 5, 'five users on the default page';
	is $r->{json}{next_cursor}, undef, 'next_cursor null';
	ok !(grep { exists $_->{password_hash} } @{ $r->{json}{data} || [] }), 'no password_hash';
	is_deeply [sort keys %{ $r->{json}{data}[0] || {} }],
		[qw(created_at email email_verified id mfa_enabled name role updated_at)], 'User objects';
	my ($ids, $sizes) = walk('/api/admin/users', 2);
	is_deeply $sizes, [2, 2, 1], 'pages of 2, 2, 1';
	is_deeply $ids, newest_first_ids('true'), 'each user exactly once, newest first';
	is_deeply [dups(@$ids)], [], 'no repeats';
};

subtest 'GET /api/admin/users: users added during the walk' => sub {
	my @before = @{ newest_first_ids('true') };
	my %added;
	my ($ids) = walk('/api/admin/users', 2, sub {
		return unless $_[0] == 1;
		# After the first page: one user newer than everything, one older.
		$added{new} = psql($DB, "INSERT INTO users (email, name) VALUES"
			. " ('late-new\@example.net', 'Late New') RETURNING id");
		$added{old} = psql($DB, "INSERT INTO users (email, name, created_at, updated_at) VALUES"
			. " ('late-old\@example.net', 'Late Old', '2000-01-01T00:00:00Z', '2000-01-01T00:00:00Z')"
			. " RETURNING id");
	});
	ok $added{new} && $added{old}, 'two users inserted during the walk';
	is_deeply [dups(@$ids)], [], 'no user repeated';
	my %seen = map { $_ => 1 } @$ids;
	is_deeply [grep { !$seen{$_} } @before], [], 'no existing user skipped';
	is_deeply [grep { $_ ne $added{new} } @$ids], [@before, $added{old}],
		'in order, the older newcomer at the end';
	ok !$seen{ $added{new} // '' }, 'the newer newcomer is before the cursor (not listed)';
	psql($DB, "DELETE FROM users WHERE email LIKE 'late-%\@example.net'");
};

subtest 'GET /api/admin/users: order within one second' => sub {
	# Four users in the same second, two of them at the very same instant,
	# newest with the smallest id: the walk must follow (created_at, id).
	my @ids = sort map { psql($DB, "INSERT INTO users (email, name) VALUES"
		. " ('tie$_\@example.net', 'Tie $_') RETURNING id") } 1 .. 4;
	my %frac = ($ids[0] => '0.9', $ids[1] => '0.5', $ids[2] => '0.5', $ids[3] => '0.1');
	# One statement: one now(), so all four fall in the same second even
	# when the test runs across a second boundary.
	psql($DB, "UPDATE users SET created_at = date_trunc('second', now()) - interval '1 day'"
		. " + CASE id " . join(' ', map { "WHEN '$_' THEN interval '$frac{$_} second'" } @ids)
		. " END WHERE id IN (" . join(', ', map { "'$_'" } @ids) . ")");
	my ($got, $sizes) = walk('/api/admin/users?q=example.net', 1);
	is_deeply $got, [$ids[0], $ids[2], $ids[1], $ids[3]],
		'by created_at, then id, both descending' or diag explain $got;
	is_deeply $sizes, [1, 1, 1, 1], 'one per page';
	psql($DB, "DELETE FROM users WHERE email LIKE 'tie%\@example.net'");
};

subtest 'GET /api/admin/users?q=' => sub {
	my $q = sub {
		my $r = api(GET => "/api/admin/users?q=$_[0]", token => $ADMIN);
		is $r->{status}, 200, "q=$_[0]: status 200" or diag $r->{content};
		return [sort map { $_->{email} } @{ $r->{json}{data} || [] }];
	};
	is_deeply $q->('bob%40example'), ['bob@example.com'], 'by email (part)';
	is_deeply $q->('BOB%40EXAMPLE.COM'), ['bob@example.com'], 'by email, any case';
	is_deeply $q->('Clark'), ['carol@example.com'], 'by name only';
	is_deeply $q->('dunn'), ['dave@example.com'], 'by name, any case';
	is_deeply $q->('example.com'), [map { "$_\@example.com" } qw(alice bob boss carol dave)],
		'a common part: all';
	is_deeply $q->('nobody-here'), [], 'no match: empty';
	is_deeply $q->('%25'), [], '"%" is literal (matches nothing here)';
	is_deeply $q->('_'), [], '"_" is literal';
	is_deeply $q->('a%20b'), [], 'a space';
	my $r = api(GET => '/api/admin/users?q=Anders&limit=1', token => $ADMIN);
	is_deeply [map { $_->{id} } @{ $r->{json}{data} || [] }], [$ID{alice}], 'q with limit';
	problem_ok(api(GET => '/api/admin/users?q=' . ('x' x 201), token => $ADMIN),
		400, 'bad_request', undef, 'q of 201 characters');
};

subtest 'GET /api/admin/users: bad limits and cursors, non-admins' => sub {
	problem_ok(api(GET => "/api/admin/users?limit=$_", token => $ADMIN), 400, 'bad_request',
		undef, "limit=$_") for '0', '101', 'abc', '-1', '2x';
	is api(GET => '/api/admin/users?limit=100', token => $ADMIN)->{status}, 200, 'limit=100: 200';
	is api(GET => '/api/admin/users?limit=1', token => $ADMIN)->{status}, 200, 'limit=1: 200';
	problem_ok(api(GET => "/api/admin/users?cursor=$_->[0]", token => $ADMIN), 400, 'bad_request',
		undef, "cursor $_->[1]")
		for ['garbage!', 'not base64url'], ['Zm9v', 'base64url of "foo"'],
		[b64url('["abc","def"]'), 'two strings, neither time nor uuid'],
		[b64url('["2026-01-01T00:00:00Z","not-a-uuid"]'), 'a bad id'],
		[b64url('["2026-02-30T00:00:00Z","' . $ID{boss} . '"]'), 'February 30th'],
		[b64url('["5","seq"]'), 'an audit-log cursor'];
	my $bob = signin('bob@example.com');
	problem_ok(api(GET => '/api/admin/users', token => $bob->{access_token}),
		403, 'forbidden', undef, 'a non-admin');
	problem_ok(api(GET => '/api/admin/users'), 401, 'unauthorized', undef, 'without a token');
};

# ---- PATCH /api/admin/users/{id} ----------------------------------------------------

sub last_audit {
	my ($action, $target) = @_;
	my $r = api(GET => "/api/admin/audit-log?action=$action&limit=100", token => $ADMIN);
	my ($e) = grep { ($_->{target_id} // '') eq $target } @{ $r->{json}{data} || [] };
	return $e;
}

subtest 'PATCH /api/admin/users/{id} {role}' => sub {
	my $bob = signin('bob@example.com');
	my $r = api(PATCH => "/api/admin/users/$ID{bob}", token => $ADMIN, json => { role => 'admin' });
	is $r->{status}, 200, 'role admin: 200' or diag $r->{content};
	is $r->{json}{user}{role}, 'admin', 'the answer says admin';
	is $r->{json}{user}{id}, $ID{bob}, 'of bob';
	is psql($DB, "SELECT role FROM users WHERE id = '$ID{bob}'"), 'admin', 'stored';
	my $e = last_audit('admin.user.update', $ID{bob});
	ok $e, 'an admin.user.update entry for bob' or return;
	is $e->{actor_id}, $ID{boss}, 'by the admin';
	is $e->{target_type}, 'user', 'target_type user';
	is_deeply $e->{details}, { role => { from => 'user', to => 'admin' } }, 'with the change';
	like $e->{request_id} // '', qr/\S/, 'and the request id';

	$r = api(PATCH => "/api/admin/users/$ID{bob}", token => $ADMIN, json => { role => 'user' });
	is $r->{status}, 200, 'back to user: 200';
	is $r->{json}{user}{role}, 'user', 'role user';
	problem_ok(api(GET => '/api/admin/users', token => $bob->{access_token}),
		403, 'forbidden', undef, 'a demoted admin\'s token loses admin rights at once');
	my @e = grep { ($_->{target_id} // '') eq $ID{bob} }
		@{ api(GET => '/api/admin/audit-log?action=admin.user.update', token => $ADMIN)->{json}{data} || [] };
	is_deeply [map { $_->{details} } @e],
		[{ role => { from => 'admin', to => 'user' } }, { role => { from => 'user', to => 'admin' } }],
		'two entries, newest first';

	my $n = psql($DB, 'SELECT count(*) FROM audit_log');
	problem_ok(api(PATCH => "/api/admin/users/$ID{bob}", token => $ADMIN, json => { role => 'root' }),
		422, 'validation_failed', 'role', 'role root');
	problem_ok(api(PATCH => "/api/admin/users/$ID{bob}", token => $ADMIN, json => { disabled => 'yes' }),
		422, 'validation_failed', 'disabled', 'disabled "yes"');
	problem_ok(api(PATCH => "/api/admin/users/$ID{bob}", token => $ADMIN, json => { email => 'x@example.com' }),
		422, 'validation_failed', 'email', 'an unknown key');
	problem_ok(api(PATCH => '/api/admin/users/00000000-0000-4000-8000-000000000000', token => $ADMIN,
		json => { role => 'admin' }), 404, 'not_found', undef, 'an unknown id');
	problem_ok(api(PATCH => '/api/admin/users/bob', token => $ADMIN, json => { role => 'admin' }),
		404, 'not_found', undef, 'a non-UUID id');
	problem_ok(api(PATCH => "/api/admin/users/$ID{carol}", token => $bob->{access_token},
		json => { role => 'admin' }), 403, 'forbidden', undef, 'by a non-admin');
	problem_ok(api(PATCH => "/api/admin/users/$ID{bob}", token => $bob->{access_token},
		json => { role => 'admin' }), 403, 'forbidden', undef, 'a non-admin promoting themselves');
	problem_ok(api(PATCH => "/api/admin/users/$ID{bob}", json => { role => 'admin' }),
		401, 'unauthorized', undef, 'without a token');
	is psql($DB, "SELECT role FROM users WHERE id = '$ID{bob}'"), 'user', 'bob is still a user';
	is psql($DB, 'SELECT count(*) FROM audit_log'), $n, 'refusals write no audit entry';
};

subtest 'PATCH /api/admin/users/{id} {disabled}' => sub {
	my $c1 = signin('carol@example.com');
	my $c2 = signin('carol@example.com');
	is api(GET => '/api/me', token => $c1->{access_token})->{status}, 200, 'carol\'s token works';

	my $r = api(PATCH => "/api/admin/users/$ID{carol}", token => $ADMIN, json => { disabled => JSON::PP::true });
	is $r->{status}, 200, 'disabled: true: 200' or diag $r->{content};
	is $r->{json}{user}{id}, $ID{carol}, 'the answer is carol';
	problem_ok(api(GET => '/api/me', token => $c1->{access_token}),
		401, 'unauthorized', undef, 'her access token, at once');
	problem_ok(api(GET => '/api/me', token => $c2->{access_token}),
		401, 'unauthorized', undef, 'her other session\'s access token');
	$r = api(POST => '/api/auth/refresh', json => { refresh_token => $c1->{refresh_token} });
	is $r->{status}, 401, 'her refresh token: 401' or diag $r->{content};
	ok !$r->{json}{access_token}, 'no tokens';
	problem_ok(login('carol@example.com'), 403, 'forbidden', undef, 'login with the right password');
	problem_ok(login('carol@example.com', 'wrong horse battery staple'), 401, 'invalid_credentials',
		undef, 'login with a wrong password');
	is psql($DB, "SELECT count(*) FROM sessions WHERE user_id = '$ID{carol}' AND revoked_at IS NULL"),
		0, 'every session revoked';
	is psql($DB, "SELECT disabled_at IS NOT NULL FROM users WHERE id = '$ID{carol}'"), 't', 'disabled_at set';
	my $e = last_audit('admin.user.disable', $ID{carol});
	ok $e, 'an admin.user.disable entry' or diag explain api(GET => '/api/admin/audit-log', token => $ADMIN)->{json};
	is_deeply $e && $e->{details}, { disabled => { from => JSON::PP::false, to => JSON::PP::true } },
		'with the change';
	is $e && $e->{actor_id}, $ID{boss}, 'by the admin';

	$r = api(PATCH => "/api/admin/users/$ID{carol}", token => $ADMIN, json => { disabled => JSON::PP::false });
	is $r->{status}, 200, 'disabled: false: 200' or diag $r->{content};
	is psql($DB, "SELECT disabled_at IS NULL FROM users WHERE id = '$ID{carol}'"), 't', 'disabled_at cleared';
	my $c3 = signin('carol@example.com');
	is api(GET => '/api/me', token => $c3->{access_token})->{status}, 200, 'a new session works';
	problem_ok(api(GET => '/api/me', token => $c1->{access_token}),
		401, 'unauthorized', undef, 'the old access token stays dead');
	is api(POST => '/api/auth/refresh', json => { refresh_token => $c2->{refresh_token} })->{status},
		401, 'the old refresh token stays dead';
	$e = last_audit('admin.user.update', $ID{carol});
	is_deeply $e && $e->{details}, { disabled => { from => JSON::PP::true, to => JSON::PP::false } },
		'audit entry of the re-enabling';
};

subtest 'an admin cannot disable or demote themselves' => sub {
	problem_ok(api(PATCH => "/api/admin/users/$ID{boss}", token => $ADMIN, json => { disabled => JSON::PP::true }),
		409, 'conflict', undef, 'disable self');
	problem_ok(api(PATCH => "/api/admin/users/$ID{boss}", token => $ADMIN, json => { role => 'user' }),
		409, 'conflict', undef, 'demote self');
	is psql($DB, "SELECT role || '/' || (disabled_at IS NULL) FROM users WHERE id = '$ID{boss}'"),
		'admin/true', 'still an enabled admin';
	is api(GET => '/api/admin/users', token => $ADMIN)->{status}, 200, 'whose token still works';
};

# ---- GET /api/admin/audit-log ----------------------------------------------------------

sub audit_ids {
	my ($where) = @_;
	return [split /\n/, psql($DB, "SELECT id FROM audit_log WHERE $where ORDER BY seq DESC")];
}

sub audit_walk {
	my ($query, $limit) = @_;
	my ($ids, $sizes) = walk("/api/admin/audit-log$query", $limit);
	return $ids;
}

subtest 'GET /api/admin/audit-log' => sub {
	my $r = api(GET => '/api/admin/audit-log?limit=100', token => $ADMIN);
	is $r->{status}, 200, 'status 200' or return;
	my @d = @{ $r->{json}{data} || [] };
	ok @d >= 10, scalar(@d) . ' entries';
	is_deeply [map { $_->{id} } @d], audit_ids('true'), 'newest first (by seq)';
	my @times = map { epoch_of($_->{occurred_at}) // -1 } @d;
	ok !(grep { $times[$_] < $times[$_ + 1] } 0 .. $#times - 1), 'occurred_at never increases';
	ok !(grep { !defined epoch_of($_->{occurred_at}) } @d), 'occurred_at RFC 3339';
	ok !(grep { !defined $_->{action} || !defined $_->{id} } @d), 'each has id and action';
	my ($login) = grep { $_->{action} eq 'login.success' } @d;
	ok $login && $login->{ip} eq '127.0.0.1', 'a login entry with the client IP';

	is_deeply audit_walk('', 2), audit_ids('true'), 'a limit=2 walk: every entry once, in order';

	my $x = audit_walk("?actor_id=$ID{boss}", 3);
	ok @$x >= 3, 'actor_id: ' . scalar(@$x) . ' entries';
	is_deeply $x, audit_ids("actor_id = '$ID{boss}'"), 'actor_id: exactly the admin\'s';
	$x = audit_walk('?action=login.success', 4);
	ok @$x >= 5, 'action: ' . scalar(@$x) . ' entries';
	is_deeply $x, audit_ids("action = 'login.success'"), 'action: exactly the logins';
	$x = audit_walk("?action=login.success&actor_id=$ID{carol}", 2);
	is_deeply $x, audit_ids("action = 'login.success' AND actor_id = '$ID{carol}'"),
		'action and actor_id together';
	ok @$x >= 3, 'carol logged in at least 3 times';

	# since: the time of an entry in the middle, to the microsecond.
	my $n = psql($DB, 'SELECT count(*) FROM audit_log');
	my ($since) = psql($DB, "SELECT to_char(occurred_at AT TIME ZONE 'UTC',"
		. " 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') FROM audit_log WHERE seq = " . int($n / 2));
	$x = audit_walk("?since=$since", 5);
	is_deeply $x, audit_ids("occurred_at >= '$since'"), "since=$since";
	ok @$x > 0 && @$x < $n, 'a part of the log';
	is_deeply audit_walk('?since=2000-01-01T00:00:00Z', 100), audit_ids('true'), 'since long ago: all';
	is_deeply audit_walk('?since=2999-01-01T00:00:00Z', 100), [], 'since in the future: none';
	is_deeply audit_walk('?action=no.such.action', 100), [], 'an unknown action: none';
	is_deeply audit_walk('?actor_id=00000000-0000-4000-8000-000000000000', 100), [],
		'an unknown actor: none';

	problem_ok(api(GET => "/api/admin/audit-log?$_->[0]", token => $ADMIN), 400, 'bad_request',
		undef, $_->[1])
		for ['actor_id=nope', 'actor_id not a UUID'], ['actor_id=1', 'actor_id 1'],
		['since=garbage', 'since garbage'], ['since=2026-13-45T99:00:00Z', 'since out of range'],
		['since=' . ('9' x 41), 'since over-long'],
		['cursor=garbage', 'a junk cursor'], ['cursor=' . b64url('["x","seq"]'), 'a cursor of letters'],
		['cursor=' . b64url('["99999999999999999999999","seq"]'), 'a cursor past bigint'],
		['limit=0', 'limit=0'], ['limit=101', 'limit=101'], ['limit=abc', 'limit=abc'];
	problem_ok(api(GET => '/api/admin/audit-log', token => signin('dave@example.com')->{access_token}),
		403, 'forbidden', undef, 'a non-admin');
	problem_ok(api(GET => '/api/admin/audit-log'), 401, 'unauthorized', undef, 'without a token');
};

# ---- GET /api/me/export ----------------------------------------------------------------

# Every key of a decoded JSON document, at any depth.
sub all_keys {
	my ($v) = @_;
	return ref $v eq 'HASH' ? (keys %$v, map { all_keys($_) } values %$v)
		: ref $v eq 'ARRAY' ? (map { all_keys($_) } @$v) : ();
}

subtest 'GET /api/me/export' => sub {
	my $t = signin('dave@example.com');
	my $sid = jwt_claims($t->{access_token})->{sid};
	like $sid // '', $UUID, 'the session id from the token';
	my $r = api(GET => '/api/me/export', token => $t->{access_token});
	is $r->{status}, 200, 'status 200' or return;
	like $r->{headers}{'content-disposition'} // '', qr/^attachment(?:;|$)/,
		'Content-Disposition: attachment';
	like $r->{headers}{'content-disposition'} // '', qr/filename="?[^"\/]+\.json"?/, 'with a .json file name';
	like $r->{headers}{'content-type'} // '', qr{^application/json}, 'JSON';
	is $r->{headers}{'cache-control'}, 'no-store', 'no-store';
	my $d = $r->{json} // {};
	is $d->{user}{id}, $ID{dave}, 'the user';
	is $d->{user}{email}, 'dave@example.com', 'with the email';
	my @sessions = @{ $d->{sessions} || [] };
	ok((grep { ($_->{id} // '') eq $sid } @sessions), 'the current session is among the sessions');
	is scalar @sessions, psql($DB, "SELECT count(*) FROM sessions WHERE user_id = '$ID{dave}'"),
		'every session of the user';
	my @audit = @{ $d->{audit_log} || $d->{audit} || [] };
	ok((grep { ($_->{action} // '') eq 'login.success' } @audit), 'audit entries (the logins)');
	ok((grep { ($_->{action} // '') eq 'user.import' } @audit), 'and the import');

	my $text = $r->{content};
	my $stored = psql($DB, "SELECT password_hash FROM users WHERE id = '$ID{dave}'");
	like $stored, qr/^\$argon2id\$/, '(the stored hash, upgraded at login)';
	my @rt = split /\n/, psql($DB, "SELECT encode(token_hash, 'hex') FROM refresh_tokens r"
		. " JOIN sessions s ON s.id = r.session_id WHERE s.user_id = '$ID{dave}'");
	ok @rt > 0, '(refresh token hashes in the database)';
	for my $bad (['$argon2', 'no "$argon2"'], ['$2b$', 'no "$2b$"'], ['$2a$', 'no "$2a$"'],
		['$2y$', 'no "$2y$"'], [$stored, 'not the stored hash'],
		['password_hash', 'no "password_hash"'], ['token_hash', 'no "token_hash"'],
		[$t->{refresh_token}, 'not the refresh token'], [$t->{access_token}, 'not the access token'],
		[sha256_hex($t->{refresh_token}), 'not the refresh token\'s hash'],
		map { [$_, "not a stored refresh token hash"] } @rt) {
		ok index($text, $bad->[0]) < 0, $bad->[1];
	}
	for my $other (grep { $_ ne 'dave' } sort keys %ID) {
		ok index($text, $ID{$other}) < 0 && index($text, "$other\@example.com") < 0,
			"nothing of $other";
	}
	my @foreign = split /\n/, psql($DB, "SELECT id FROM sessions WHERE user_id <> '$ID{dave}'");
	ok @foreign > 0 && !(grep { index($text, $_) >= 0 } @foreign), 'no other user\'s session';
	my @secret_keys = grep { /pass|secret|hash|totp|backup/i } all_keys($d);
	is_deeply \@secret_keys, [], 'no key that smells of a secret';
	is psql($DB, "SELECT count(*) FROM audit_log WHERE action = 'account.export' AND actor_id = '$ID{dave}'"),
		1, 'the export is audited';
};

subtest 'RATE_LIMIT_EXPORT_USER=3: the 4th export in an hour is 429' => sub {
	my $t = signin('dave@example.com');
	my @st = map { api(GET => '/api/me/export', token => $t->{access_token})->{status} } 1 .. 2;
	is_deeply \@st, [200, 200], 'exports 2 and 3: 200';
	my $r = api(GET => '/api/me/export', token => $t->{access_token});
	problem_ok($r, 429, 'rate_limited', undef, 'export 4');
	like $r->{headers}{'retry-after'} // '', qr/^[1-9]\d*$/, 'Retry-After';
	ok !$r->{headers}{'content-disposition'}, 'no attachment';
	cmp_ok $r->{headers}{'retry-after'} // 0, '<=', 3600, 'within the hour';
	is api(GET => '/api/me/export', token => signin('alice@example.com')->{access_token})->{status},
		200, 'another user may still export';
	is api(GET => '/api/me', token => $t->{access_token})->{status}, 200, 'other requests unaffected';
};

# ---- DELETE /api/me ----------------------------------------------------------------

subtest 'DELETE /api/me' => sub {
	ok import_users($s->{config}, ['erin@example.com', 'Erin Evans']), 'erin imported';
	my $erin = psql($DB, "SELECT id FROM users WHERE email = 'erin\@example.com'");
	my $t1 = signin('erin@example.com');
	my $t2 = signin('erin@example.com');
	is api(GET => '/api/me/export', token => $t1->{access_token})->{status}, 200, 'an export first';
	my $sids = join ',', map { "'$_'" } split /\n/,
		psql($DB, "SELECT id FROM sessions WHERE user_id = '$erin'");
	is scalar(split /,/, $sids), 2, 'two sessions';
	my $tok = $t1->{access_token};

	problem_ok(api(DELETE => '/api/me', token => $tok, json => { password => $PW }),
		422, 'validation_failed', 'confirm', 'confirm missing');
	problem_ok(api(DELETE => '/api/me', token => $tok, json => { password => $PW, confirm => 'delete' }),
		422, 'validation_failed', 'confirm', 'confirm "delete"');
	problem_ok(api(DELETE => '/api/me', token => $tok, json => { password => $PW, confirm => 'DELETE ' }),
		422, 'validation_failed', 'confirm', 'confirm "DELETE "');
	problem_ok(api(DELETE => '/api/me', token => $tok, json => { password => $PW, confirm => JSON::PP::true }),
		422, 'validation_failed', 'confirm', 'confirm true');
	problem_ok(api(DELETE => '/api/me', token => $tok, json => { password => 'wrong horse battery staple', confirm => 'DELETE' }),
		422, 'validation_failed', 'password', 'a wrong password');
	problem_ok(api(DELETE => '/api/me', token => $tok, json => { confirm => 'DELETE' }),
		422, 'validation_failed', 'password', 'no password');
	problem_ok(api(DELETE => '/api/me', json => { password => $PW, confirm => 'DELETE' }),
		401, 'unauthorized', undef, 'without a token');
	is psql($DB, "SELECT count(*) FROM users WHERE id = '$erin'"), 1, 'still there after the refusals';
	is api(GET => '/api/me', token => $tok)->{status}, 200, 'and her token works';

	my $r = api(DELETE => '/api/me', token => $tok, json => { password => $PW, confirm => 'DELETE' });
	is $r->{status}, 204, 'status 204' or diag $r->{content};
	is $r->{content} // '', '', 'no body';
	problem_ok(api(GET => '/api/me', token => $tok), 401, 'unauthorized', undef, 'her access token');
	problem_ok(api(GET => '/api/me', token => $t2->{access_token}), 401, 'unauthorized', undef,
		'her other session\'s token');
	is api(POST => '/api/auth/refresh', json => { refresh_token => $t2->{refresh_token} })->{status},
		401, 'her refresh token';
	problem_ok(login('erin@example.com'), 401, 'invalid_credentials', undef, 'login');
	is psql($DB, "SELECT count(*) FROM users WHERE id = '$erin' OR email = 'erin\@example.com'"),
		0, 'the user row is gone';
	is psql($DB, "SELECT count(*) FROM sessions WHERE user_id = '$erin' OR id IN ($sids)"), 0,
		'her sessions are gone';
	is psql($DB, "SELECT count(*) FROM refresh_tokens WHERE session_id IN ($sids)"), 0,
		'her refresh tokens are gone';
	is psql($DB, "SELECT count(*) FROM email_tokens WHERE user_id = '$erin'"), 0, 'no email tokens';
	is psql($DB, "SELECT count(*) FROM audit_log WHERE action = 'account.delete'"
		. " AND actor_id = '$erin' AND target_id = '$erin'"), 1, 'the audit log keeps account.delete';
	ok psql($DB, "SELECT count(*) FROM audit_log WHERE action = 'login.success' AND actor_id = '$erin'") >= 2,
		'and her earlier entries';
	my $e = last_audit('account.delete', $erin);
	ok $e, 'the admin sees the entry' or return;
	is $e->{actor_id}, $erin, 'by her';
	is_deeply $e->{details}, { email => 'erin@example.com' }, 'naming the address';
	problem_ok(api(PATCH => "/api/admin/users/$erin", token => $ADMIN, json => { role => 'admin' }),
		404, 'not_found', undef, 'the admin cannot find her any more');
	is api(POST => '/api/invitations', token => $ADMIN,
		json => { email => 'erin@example.com', role => 'user' })->{status}, 201,
		'the address is free: it can be invited again';
};

note sprintf 'took %.1f s', time - $T0;
done_testing;
