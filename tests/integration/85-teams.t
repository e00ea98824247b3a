#!/usr/bin/perl
# Teams (api.md "Teams") over HTTP behind nginx, with the real worker sending
# invitation emails to a real SMTP server on loopback:
#  - create, GET /api/teams (the caller's role, keyset pages), GET one;
#  - the role matrix: every role (owner, admin, member, viewer) and two kinds
#    of non-member (an ordinary user, a site admin) × every action, the
#    expected status of each cell in one table below, the stored state and
#    the audit log checked after each cell;
#  - the last owner can be neither demoted nor removed (409); with two
#    owners one can; two owners demoting each other, or themselves, at the
#    same moment: exactly one succeeds;
#  - invitation by email end to end: the email, accept by the invited address
#    (case-insensitive), another user's attempt (403), single use, expiry,
#    an address that is already a member (409);
#  - delete takes memberships and invitations with it (psql);
#  - isolation between two users' teams; bad input (422 naming the field,
#    404 for non-UUID ids, 401 without a token).
use strict;
use warnings;
use utf8;

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
use FastbackUsers qw(users_setup slurp ctl start_worker stop_worker problem_ok mail_to);

binmode Test::More->builder->$_, ':encoding(UTF-8)'
	for qw(output failure_output todo_output);

my $T0 = time;
my $BUILD = build_dir();
my $ROOT = repo_root();
plan skip_all => "$BUILD/fastback-worker not built: run make first"
	unless -x "$BUILD/fastback-worker" && -x "$BUILD/fastbackctl";

my $JSON = JSON::PP->new->utf8->canonical;
my $PW = 'correct horse battery staple 42';
my $UUID = qr/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
my $NOBODY = '00000000-0000-4000-8000-000000000000';
my $TMP = tempdir('fb85-XXXXXX', TMPDIR => 1, CLEANUP => !$ENV{FASTBACK_KEEP_TMP});
users_setup(tmp => $TMP);

# ---- local helpers (shared ones: FastbackUsers) ---------------------------------

my $SANITIZER_RE = qr/ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:/;

sub epoch_of {
	my ($t) = @_;
	return undef unless defined $t && $t =~ /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)Z$/;
	return timegm($6, $5, $4, $3, $2 - 1, $1);
}

# ---- the stack ----------------------------------------------------------------

my $smtp = start_smtp();
my $s = start_stack(
	FCGI_CHILDREN => 3,	# the races need two requests served at once
	RATE_LIMIT_GENERAL_IP => 0, RATE_LIMIT_GENERAL_USER => 0, RATE_LIMIT_AUTH_IP => 0,
	RATE_LIMIT_LOGIN_FAILURES => 0, RATE_LIMIT_ACCOUNT_FAILURES => 0,
	PASSWORD_ARGON2_MEMORY_KIB => 8192, PASSWORD_ARGON2_ITERATIONS => 1,
	SMTP_URL => $smtp->url, MAIL_FROM => 'Fastback <noreply@example.com>',
	MAIL_TEMPLATES_DIR => "$ROOT/conf/templates", APP_NAME => 'Fastback Test',
	WORKER_POLL_SECONDS => 1, WORKER_PROCESSES => 1,
);
my $U = $s->{url};
my $DB = $s->{conf}{DATABASE_URL};
my $worker = start_worker($s->{config});

sub api {
	my ($method, $path, %o) = @_;
	return http($method => "$U$path", %o);
}

sub login {
	my ($email) = @_;
	return http(POST => "$U/api/auth/login", json => { email => $email, password => $PW });
}

# A site administrator from the command line (a non-member of every team:
# the site role counts for nothing here), everybody else imported with a
# bcrypt hash (Debian's crypt() makes $2b$).
my ($st, $out, $err) = ctl($s->{config}, "$PW\n", 'user', 'create-admin', 'boss@example.com');
is $st, 0, 'create-admin' or diag "$out$err";
my @PEOPLE = qw(founder owner admin member viewer outsider target alice bob carol dave
	erin frank grace);
{
	my @c = ('.', '/', 'A' .. 'Z', 'a' .. 'z', '0' .. '9');
	my $file = "$TMP/users.jsonl";
	open my $fh, '>', $file or die "$file: $!";
	for my $p (@PEOPLE) {
		my $salt = join('', map { $c[int rand @c] } 1 .. 21) . 'e';
		print $fh $JSON->encode({ email => "$p\@example.com", name => ucfirst $p,
			password_hash => crypt($PW, '$2b$04$' . $salt),
			email_verified => JSON::PP::true }), "\n";
	}
	close $fh;
	($st, $out, $err) = ctl($s->{config}, undef, 'users', 'import', $file);
	is $st, 0, 'users import' or diag "$out$err";
}
my (%TOK, %ID);
for my $p ('boss', @PEOPLE) {
	my $r = login("$p\@example.com");
	$TOK{$p} = $r->{json}{access_token};
	$ID{$p} = $r->{json}{user}{id};
}
is scalar(grep { $TOK{$_} && $ID{$_} } keys %TOK), @PEOPLE + 1, 'everybody signs in'
	or BAIL_OUT('cannot sign in: nothing else can work');

# psql helpers. Memberships for the matrix are set straight in the table (the
# invitation flow is tested end to end on its own below).
sub set_member {
	my ($tid, $who, $role) = @_;
	psql($DB, "INSERT INTO team_members (team_id, user_id, role) VALUES ('$tid', '$ID{$who}',"
		. " '$role') ON CONFLICT (team_id, user_id) DO UPDATE SET role = EXCLUDED.role");
}
sub role_of {
	my ($tid, $who) = @_;
	my $r = psql($DB, "SELECT role FROM team_members WHERE team_id = '$tid' AND user_id = '$ID{$who}'");
	return length $r ? $r : 'none';
}
sub audit_count {
	my ($tid, $action) = @_;
	return psql($DB, "SELECT count(*) FROM audit_log WHERE target_type = 'team'"
		. " AND target_id = '$tid'" . (defined $action ? " AND action = '$action'" : ''));
}
sub new_team {
	my ($who, $name) = @_;
	my $r = api(POST => '/api/teams', token => $TOK{$who}, json => { name => $name });
	is $r->{status}, 201, "$who creates \"$name\"" or diag $r->{content};
	return $r->{json}{team}{id};
}

# ---- create, list, get ------------------------------------------------------------

subtest 'POST /api/teams: 201 {"team"}, the caller is the owner' => sub {
	my $before = time;
	my $r = api(POST => '/api/teams', token => $TOK{alice}, json => { name => 'Alpha' });
	is $r->{status}, 201, 'status 201' or diag $r->{content};
	like $r->{headers}{'content-type'} // '', qr{^application/json}, 'JSON';
	my $t = $r->{json}{team};
	ok ref $t eq 'HASH', '{"team": {...}}' or return;
	is_deeply [sort keys %$t], [qw(created_at id name role updated_at)],
		'id, name, role, created_at, updated_at';
	like $t->{id}, $UUID, 'id is a UUID';
	is $t->{name}, 'Alpha', 'name';
	is $t->{role}, 'owner', 'role: the caller is owner';
	my $c = epoch_of($t->{created_at});
	ok $c && abs($c - $before) < 120, "created_at is RFC 3339 UTC, now ($t->{created_at})";
	is psql($DB, "SELECT created_by || ' ' || (SELECT string_agg(user_id || ':' || role, ',')"
		. " FROM team_members WHERE team_id = t.id) FROM teams t WHERE id = '$t->{id}'"),
		"$ID{alice} $ID{alice}:owner", 'stored: created by alice, alice the only member, owner';
	is psql($DB, "SELECT details->>'name' FROM audit_log WHERE action = 'team.create'"
		. " AND actor_id = '$ID{alice}' AND target_id = '$t->{id}'"), 'Alpha', 'audit team.create with the name';

	$r = api(GET => "/api/teams/$t->{id}", token => $TOK{alice});
	is $r->{status}, 200, 'GET /api/teams/{id}: 200' or diag $r->{content};
	is_deeply $r->{json}{team}, $t, 'the same team object';
	my $m = $r->{json}{members};
	is scalar @{ $m || [] }, 1, 'one member';
	is_deeply [sort keys %{ $m->[0] || {} }], [qw(email joined_at name role user_id)],
		'member: user_id, email, name, role, joined_at';
	is_deeply [@{ $m->[0] }{qw(user_id email name role)}],
		[$ID{alice}, 'alice@example.com', 'Alice', 'owner'], 'alice, owner';
	ok defined epoch_of($m->[0]{joined_at}), 'joined_at is RFC 3339 UTC';
};

subtest 'GET /api/teams: the caller\'s teams with their role, keyset pages' => sub {
	my $beta = new_team(bob => 'Beta (bob\'s)');
	set_member($beta, alice => 'viewer');
	my $gamma = new_team(alice => 'Gamma');
	my $r = api(GET => '/api/teams', token => $TOK{alice});
	is $r->{status}, 200, 'status 200' or diag $r->{content};
	my $j = $r->{json} // {};
	ok ref $j->{data} eq 'ARRAY', 'data is an array';
	ok exists $j->{next_cursor} && !defined $j->{next_cursor}, 'next_cursor null (one page)';
	is_deeply [map { [sort keys %$_] } @{ $j->{data} }],
		[map { [qw(created_at id name role)] } @{ $j->{data} }], 'items: id, name, role, created_at';
	my %role = map { $_->{name} => $_->{role} } @{ $j->{data} };
	is_deeply \%role, { Alpha => 'owner', 'Beta (bob\'s)' => 'viewer', Gamma => 'owner' },
		'alice\'s three teams with her role in each';
	is $j->{data}[0]{id}, $gamma, 'newest first';

	my (@got, $cursor, $pages);
	while ($pages++ < 10) {
		$r = api(GET => '/api/teams?limit=1' . (defined $cursor ? "&cursor=$cursor" : ''),
			token => $TOK{alice});
		is $r->{status}, 200, "page $pages" or last;
		push @got, map { $_->{id} } @{ $r->{json}{data} || [] };
		$cursor = $r->{json}{next_cursor};
		last unless defined $cursor;
	}
	is_deeply \@got, [map { $_->{id} } @{ $j->{data} }], 'limit=1: each team once, in order';
	is_deeply [map { $_->{name} } @{ api(GET => '/api/teams', token => $TOK{bob})->{json}{data} || [] }],
		['Beta (bob\'s)'], 'bob sees only his team';
	is_deeply api(GET => '/api/teams', token => $TOK{dave})->{json}{data}, [],
		'a user in no team: an empty list';
	problem_ok(api(GET => '/api/teams?cursor=junk', token => $TOK{alice}),
		400, 'bad_request', undef, 'a bad cursor');
	problem_ok(api(GET => '/api/teams?limit=101', token => $TOK{alice}),
		400, 'bad_request', undef, 'limit=101');
	psql($DB, "DELETE FROM teams WHERE id IN ('$beta', '$gamma')");
};

# ---- the role matrix ------------------------------------------------------------

# One line per action; one column per caller. "none" is an ordinary user
# who is not a member, "site" a site administrator who is not a member:
# both get 404 for everything. In each team: the founder (an owner), the
# caller with the column's role, and a target member. "the owner" is the
# founder; the caller acts as an owner only in the owner column, where the
# founder is therefore not the last owner.
my $MATRIX = <<'END';
action                 owner admin member viewer none site
view                   200   200   200    200    404  404
rename                 200   200   403    403    404  404
invite-owner           201   403   403    403    404  404
invite-admin           201   201   403    403    404  404
invite-member          201   201   403    403    404  404
invite-viewer          201   201   403    403    404  404
role-target-viewer     200   200   403    403    404  404
role-target-admin      200   200   403    403    404  404
role-target-owner      200   403   403    403    404  404
role-owner-member      200   403   403    403    404  404
remove-target          204   204   403    403    404  404
remove-owner           204   403   403    403    404  404
leave                  204   204   204    204    404  404
delete                 204   403   403    403    404  404
END
my %CALLER = (owner => 'owner', admin => 'admin', member => 'member', viewer => 'viewer',
	none => 'outsider', site => 'boss');

# For each action: the request, the audit action of a success, the state
# (psql) that a success changes, that state after a success, and the state
# to restore afterwards. $c is the caller's column, $who the caller's user.
my %ACTIONS;
for my $grant (qw(owner admin member viewer)) {
	$ACTIONS{"invite-$grant"} = {
		req => sub { my ($tid, $who, $c) = @_;
			api(POST => "/api/teams/$tid/invite", token => $TOK{$who},
				json => { email => "m-$c-$grant\@example.net", role => $grant }) },
		audit => 'team.invite',
		state => sub { my ($tid, $who, $c) = @_; psql($DB, "SELECT count(*) FROM team_invitations"
			. " WHERE team_id = '$tid' AND email = 'm-$c-$grant\@example.net' AND role = '$grant'") },
		done => '1',
	};
}
for my $to (qw(viewer admin owner)) {
	$ACTIONS{"role-target-$to"} = {
		req => sub { my ($tid, $who) = @_;
			api(PATCH => "/api/teams/$tid/members/$ID{target}", token => $TOK{$who},
				json => { role => $to }) },
		audit => 'team.role',
		state => sub { role_of($_[0], 'target') }, done => $to,
		restore => sub { set_member($_[0], target => 'member') },
	};
}
%ACTIONS = (%ACTIONS,
	view => {
		req => sub { my ($tid, $who) = @_; api(GET => "/api/teams/$tid", token => $TOK{$who}) },
	},
	rename => {
		req => sub { my ($tid, $who, $c) = @_;
			api(PATCH => "/api/teams/$tid", token => $TOK{$who}, json => { name => "Renamed by $c" }) },
		audit => 'team.rename',
		state => sub { psql($DB, "SELECT name FROM teams WHERE id = '$_[0]'") },
		done => sub { "Renamed by $_[2]" },
		restore => sub { psql($DB, "UPDATE teams SET name = 'Matrix' WHERE id = '$_[0]'") },
	},
	'role-owner-member' => {
		req => sub { my ($tid, $who) = @_;
			api(PATCH => "/api/teams/$tid/members/$ID{founder}", token => $TOK{$who},
				json => { role => 'member' }) },
		audit => 'team.role',
		state => sub { role_of($_[0], 'founder') }, done => 'member',
		restore => sub { set_member($_[0], founder => 'owner') },
	},
	'remove-target' => {
		req => sub { my ($tid, $who) = @_;
			api(DELETE => "/api/teams/$tid/members/$ID{target}", token => $TOK{$who}) },
		audit => 'team.remove',
		state => sub { role_of($_[0], 'target') }, done => 'none',
		restore => sub { set_member($_[0], target => 'member') },
	},
	'remove-owner' => {
		req => sub { my ($tid, $who) = @_;
			api(DELETE => "/api/teams/$tid/members/$ID{founder}", token => $TOK{$who}) },
		audit => 'team.remove',
		state => sub { role_of($_[0], 'founder') }, done => 'none',
		restore => sub { set_member($_[0], founder => 'owner') },
	},
	leave => {
		req => sub { my ($tid, $who) = @_;
			api(DELETE => "/api/teams/$tid/members/$ID{$who}", token => $TOK{$who}) },
		audit => 'team.remove',
		state => sub { role_of($_[0], $_[1]) }, done => 'none',
		restore => sub { my ($tid, $who, $c) = @_;
			set_member($tid, $who => $c) if $c =~ /^(?:owner|admin|member|viewer)$/ },
	},
	delete => {
		req => sub { my ($tid, $who) = @_; api(DELETE => "/api/teams/$tid", token => $TOK{$who}) },
		audit => 'team.delete',
		state => sub { psql($DB, "SELECT count(*) FROM teams WHERE id = '$_[0]'") }, done => '0',
	},
);

subtest 'the role matrix: every role × every action' => sub {
	my ($head, @rows) = split /\n/, $MATRIX;
	my (undef, @cols) = split ' ', $head;
	for my $ci (0 .. $#cols) {
		my $c = $cols[$ci];
		my $who = $CALLER{$c};
		my $tid = new_team(founder => 'Matrix') or return;
		set_member($tid, target => 'member');
		set_member($tid, $who => $c) if $c =~ /^(?:owner|admin|member|viewer)$/;
		for my $row (@rows) {
			my ($action, @want) = split ' ', $row;
			my $want = $want[$ci];
			my $a = $ACTIONS{$action} or die "no action $action";
			my $name = "$c × $action";
			my $state0 = $a->{state} ? $a->{state}->($tid, $who, $c) : undef;
			my $audit0 = audit_count($tid);
			my $r = $a->{req}->($tid, $who, $c);
			if ($want >= 400) {
				problem_ok($r, $want, $want == 404 ? 'not_found' : 'forbidden', undef, $name);
			} else {
				is $r->{status}, $want, "$name: $want" or diag $r->{content};
			}
			if ($action eq 'view' && $want == 200) {
				is $r->{json}{team}{role}, $c, "$name: team.role is the caller's";
				is scalar @{ $r->{json}{members} || [] }, 3, "$name: three members listed";
			}
			if ($action =~ /^invite-(\w+)/ && $want == 201) {
				is $r->{json}{invitation}{role}, $1, "$name: invitation.role";
			}
			if ($action =~ /^role-target-(\w+)/ && $want == 200) {
				is_deeply [@{ $r->{json}{member} || {} }{qw(user_id role)}], [$ID{target}, $1],
					"$name: {\"member\"} with the new role";
			}
			if ($a->{state}) {
				my $done = ref $a->{done} ? $a->{done}->($tid, $who, $c) : $a->{done};
				my $now = $a->{state}->($tid, $who, $c);
				if ($want < 400) {
					is $now, $done, "$name: stored ($done)";
				} else {
					is $now, $state0, "$name: nothing changed";
				}
			}
			my $audited = audit_count($tid) - $audit0;
			if ($want < 400 && $a->{audit}) {
				is $audited, 1, "$name: one audit entry";
				my $ok = psql($DB, "SELECT action FROM audit_log WHERE target_id = '$tid'"
					. " ORDER BY seq DESC LIMIT 1");
				is $ok, $a->{audit}, "$name: audit $a->{audit}";
			} else {
				is $audited, 0, "$name: no audit entry";
			}
			$a->{restore}->($tid, $who, $c) if $a->{restore} && $want < 400;
		}
		psql($DB, "DELETE FROM teams WHERE id = '$tid'");
	}
	# Audit details: the change is recorded, not just the action.
	my $d = psql($DB, "SELECT details::text FROM audit_log WHERE action = 'team.role'"
		. " AND actor_id = '$ID{admin}' AND details->>'to' = 'viewer' ORDER BY seq DESC LIMIT 1");
	my $dj = eval { $JSON->decode($d) } // {};
	is_deeply [@$dj{qw(user_id from to)}], [$ID{target}, 'member', 'viewer'],
		'team.role records user_id, from and to';
	$d = psql($DB, "SELECT details::text FROM audit_log WHERE action = 'team.rename'"
		. " AND actor_id = '$ID{admin}' ORDER BY seq DESC LIMIT 1");
	$dj = eval { $JSON->decode($d) } // {};
	is_deeply [@$dj{qw(from to)}], ['Matrix', 'Renamed by admin'], 'team.rename records from and to';
};

subtest 'an unknown team is 404 like a foreign one; 401 without a token' => sub {
	my $a = api(GET => "/api/teams/$NOBODY", token => $TOK{alice});
	problem_ok($a, 404, 'not_found', undef, 'an unknown UUID');
	problem_ok(api(PATCH => "/api/teams/$NOBODY/members/$ID{alice}", token => $TOK{alice},
		json => { role => 'viewer' }), 404, 'not_found', undef, 'PATCH a member of an unknown team');
	problem_ok(api(GET => '/api/teams'), 401, 'unauthorized', undef, 'GET /api/teams without a token');
	problem_ok(api(POST => '/api/teams', json => { name => 'X' }), 401, 'unauthorized', undef,
		'POST /api/teams without a token');
	problem_ok(api(POST => '/api/teams/invitations/accept', json => { token => 'x' x 43 }),
		401, 'unauthorized', undef, 'accept without a token');
};

# ---- the last owner ----------------------------------------------------------------

subtest 'the last owner can be neither demoted nor removed (409)' => sub {
	my $tid = new_team(alice => 'Solo') or return;
	problem_ok(api(PATCH => "/api/teams/$tid/members/$ID{alice}", token => $TOK{alice},
		json => { role => 'admin' }), 409, 'conflict', undef, 'the only owner demotes herself');
	problem_ok(api(DELETE => "/api/teams/$tid/members/$ID{alice}", token => $TOK{alice}),
		409, 'conflict', undef, 'the only owner leaves');
	is role_of($tid, 'alice'), 'owner', 'still owner';
	is api(PATCH => "/api/teams/$tid/members/$ID{alice}", token => $TOK{alice},
		json => { role => 'owner' })->{status}, 200, 'owner → owner is no demotion: 200';

	set_member($tid, bob => 'admin');
	problem_ok(api(PATCH => "/api/teams/$tid/members/$ID{alice}", token => $TOK{bob},
		json => { role => 'member' }), 403, 'forbidden', undef, 'an admin demoting the owner');
	my $r = api(PATCH => "/api/teams/$tid/members/$ID{bob}", token => $TOK{alice},
		json => { role => 'owner' });
	is $r->{status}, 200, 'alice makes bob an owner' or diag $r->{content};
	is $r->{json}{member}{role}, 'owner', '{"member"} says owner';
	$r = api(PATCH => "/api/teams/$tid/members/$ID{alice}", token => $TOK{alice},
		json => { role => 'member' });
	is $r->{status}, 200, 'with two owners, one can be demoted (alice, by herself)' or diag $r->{content};
	is role_of($tid, 'alice'), 'member', 'alice is a member';
	problem_ok(api(PATCH => "/api/teams/$tid/members/$ID{bob}", token => $TOK{bob},
		json => { role => 'viewer' }), 409, 'conflict', undef, 'bob, now the last owner, demotes himself');
	problem_ok(api(DELETE => "/api/teams/$tid/members/$ID{bob}", token => $TOK{bob}),
		409, 'conflict', undef, 'bob, the last owner, leaves');
	set_member($tid, carol => 'owner');
	is api(DELETE => "/api/teams/$tid/members/$ID{carol}", token => $TOK{bob})->{status}, 204,
		'with two owners, an owner removes the other';
	is api(DELETE => "/api/teams/$tid/members/$ID{alice}", token => $TOK{alice})->{status}, 204,
		'a member leaves';
	is psql($DB, "SELECT string_agg(role, ',') FROM team_members WHERE team_id = '$tid'"), 'owner',
		'one member left: the owner';
	problem_ok(api(DELETE => "/api/teams/$tid/members/$ID{alice}", token => $TOK{bob}),
		404, 'not_found', undef, 'removing someone who is not a member');
	problem_ok(api(PATCH => "/api/teams/$tid/members/$ID{alice}", token => $TOK{bob},
		json => { role => 'viewer' }), 404, 'not_found', undef, 'changing someone who is not a member');
	psql($DB, "DELETE FROM teams WHERE id = '$tid'");
};

# Fires the requests together: each child waits for the same instant. While
# they start, a psql session holds the team row and the member rows locked
# for a moment, so both are certainly in flight at once: with the team lock
# of shared/teams.c they queue on it and run one after the other; without
# it both would read their roles, wait on the member rows, and then both
# write (a broken build fails here every time, not by chance). Statuses in
# order.
sub race {
	my ($tid, @reqs) = @_;
	my $at = time + 0.3;
	my @kids;
	my $holder = fork // die "fork: $!";
	if (!$holder) {
		psql($DB, "BEGIN; SELECT 1 FROM teams WHERE id = '$tid' FOR NO KEY UPDATE;"
			. " SELECT 1 FROM team_members WHERE team_id = '$tid' FOR UPDATE;"
			. " SELECT pg_sleep(0.6); COMMIT;");
		_exit(0);
	}
	for my $i (0 .. $#reqs) {
		my $pid = fork // die "fork: $!";
		if (!$pid) {
			my $wait = $at - time;
			sleep $wait if $wait > 0;
			my $x = api(@{ $reqs[$i] });
			open my $fh, '>', "$TMP/race-$i" or _exit(1);
			print $fh $x->{status};
			close $fh;
			_exit(0);
		}
		push @kids, $pid;
	}
	waitpid $_, 0 for $holder, @kids;
	return map { my $v = slurp("$TMP/race-$_"); unlink "$TMP/race-$_"; $v } 0 .. $#reqs;
}

subtest 'two owners demote each other at the same moment: exactly one succeeds' => sub {
	for my $round (1 .. 3) {
		my $tid = new_team(alice => "Race $round") or return;
		set_member($tid, bob => 'owner');
		my @st = race($tid,
			[PATCH => "/api/teams/$tid/members/$ID{bob}", token => $TOK{alice}, json => { role => 'member' }],
			[PATCH => "/api/teams/$tid/members/$ID{alice}", token => $TOK{bob}, json => { role => 'member' }]);
		# The loser reads its own role after the winner's commit (the
		# team row lock orders them): it is a member now, so 403; 409
		# would be the last-owner check, equally a refusal.
		is scalar(grep { $_ == 200 } @st), 1, "round $round: one 200 (@st)";
		is scalar(grep { $_ == 403 || $_ == 409 } @st), 1, "round $round: the other refused";
		is psql($DB, "SELECT string_agg(role, ',' ORDER BY role) FROM team_members WHERE team_id = '$tid'"),
			'member,owner', "round $round: one owner and one member left";
		is audit_count($tid, 'team.role'), 1, "round $round: one team.role entry";
		psql($DB, "DELETE FROM teams WHERE id = '$tid'");
	}
};

subtest 'two owners demote themselves at the same moment: one 200, one 409' => sub {
	for my $round (1 .. 3) {
		my $tid = new_team(alice => "Self race $round") or return;
		set_member($tid, bob => 'owner');
		my @st = race($tid,
			[PATCH => "/api/teams/$tid/members/$ID{alice}", token => $TOK{alice}, json => { role => 'admin' }],
			[DELETE => "/api/teams/$tid/members/$ID{bob}", token => $TOK{bob}]);
		# Without the lock both would see the other as an owner and the
		# team would end with none.
		is_deeply [sort map { $_ == 204 ? 200 : $_ } @st], [200, 409],
			"round $round: one succeeds, the other is the last owner (@st)";
		is psql($DB, "SELECT count(*) FROM team_members WHERE team_id = '$tid' AND role = 'owner'"),
			1, "round $round: exactly one owner left";
		psql($DB, "DELETE FROM teams WHERE id = '$tid'");
	}
};

# ---- invitations by email ---------------------------------------------------------

sub team_token {
	my ($m) = @_;
	my $text = decode_qp($m->{body} // '');
	my ($tok) = $text =~ m{\Q$U\E/accept-team-invitation\?token=([A-Za-z0-9_-]{43})(?![A-Za-z0-9_-])};
	return $tok;
}

subtest 'invitation by email: the email, the invited address accepts, single use' => sub {
	my $tid = new_team(alice => 'Delta & Co') or return;
	my $before = time;
	my $r = api(POST => "/api/teams/$tid/invite", token => $TOK{alice},
		json => { email => 'carol@example.com', role => 'admin' });
	is $r->{status}, 201, 'POST invite: 201' or diag $r->{content};
	my $inv = $r->{json}{invitation};
	ok ref $inv eq 'HASH', '{"invitation": {...}}' or return;
	is_deeply [sort keys %$inv], [qw(created_at email expires_at id role team_id)],
		'id, team_id, email, role, expires_at, created_at';
	is_deeply [@$inv{qw(team_id email role)}], [$tid, 'carol@example.com', 'admin'], 'its values';
	my $x = epoch_of($inv->{expires_at});
	ok $x && abs($x - ($before + 7 * 86400)) < 120, 'expires in 7 days';
	is psql($DB, "SELECT details->>'email' || ' ' || (details->>'role') FROM audit_log"
		. " WHERE action = 'team.invite' AND target_id = '$tid'"), 'carol@example.com admin',
		'audit team.invite with the address and role';

	my @m = mail_to($smtp, 'carol@example.com');
	is scalar @m, 1, 'one email to carol' or return;
	my $subject = decode('MIME-Header', $m[0]{headers}{subject}[0] // '');
	like $subject, qr/Alice invited you to join Delta & Co on Fastback Test/, "subject: $subject";
	my $text = decode_qp($m[0]{body});
	like $text, qr/\badmin\b/, 'the email names the role';
	my $tok = team_token($m[0]);
	ok $tok, 'the email links to APP_URL/accept-team-invitation?token=' or diag $text;
	is psql($DB, "SELECT encode(token_hash, 'hex') FROM team_invitations WHERE id = '$inv->{id}'"),
		sha256_hex($tok // ''), 'only the token\'s SHA-256 is stored';

	# Another signed-in user with the token: 403, not 404. The token is 256
	# random bits, so its holder was sent the link and learns nothing from
	# "it exists"; 403 lets the client say "sign in as the invited address"
	# rather than "this link is dead". The invitation stays usable.
	problem_ok(api(POST => '/api/teams/invitations/accept', token => $TOK{dave},
		json => { token => $tok }), 403, 'forbidden', undef, 'dave accepts carol\'s invitation');
	is role_of($tid, 'dave'), 'none', 'dave is not a member';
	is psql($DB, "SELECT count(*) FROM team_invitations WHERE id = '$inv->{id}' AND accepted_at IS NULL"),
		1, 'the invitation is still pending';

	$r = api(POST => '/api/teams/invitations/accept', token => $TOK{carol}, json => { token => $tok });
	is $r->{status}, 200, 'carol accepts: 200' or diag $r->{content};
	is_deeply [sort keys %{ $r->{json} || {} }], ['team'], '{"team"}';
	is_deeply [@{ $r->{json}{team} || {} }{qw(id name role)}], [$tid, 'Delta & Co', 'admin'],
		'the team, with carol\'s role';
	$r = api(GET => "/api/teams/$tid", token => $TOK{carol});
	is $r->{status}, 200, 'carol sees the team';
	my ($me) = grep { $_->{user_id} eq $ID{carol} } @{ $r->{json}{members} || [] };
	is $me && $me->{role}, 'admin', 'carol is a member with the invited role';
	is psql($DB, "SELECT count(*) FROM team_invitations WHERE id = '$inv->{id}' AND accepted_at IS NOT NULL"),
		1, 'the invitation is used';
	is audit_count($tid, 'team.accept'), 1, 'audit team.accept';

	problem_ok(api(POST => '/api/teams/invitations/accept', token => $TOK{carol}, json => { token => $tok }),
		422, 'validation_failed', 'token', 'the same token again');
	problem_ok(api(POST => "/api/teams/$tid/invite", token => $TOK{alice},
		json => { email => 'CAROL@example.com', role => 'member' }),
		409, 'conflict', undef, 'inviting a member (the address in other case)');

	# The invited address compared without case.
	$r = api(POST => "/api/teams/$tid/invite", token => $TOK{carol},
		json => { email => 'Erin@Example.COM', role => 'viewer' });
	is $r->{status}, 201, 'carol (admin) invites Erin@Example.COM as viewer' or diag $r->{content};
	my ($em) = mail_to($smtp, 'Erin@Example.COM');
	my $etok = $em && team_token($em);
	ok $etok, 'erin\'s token' or return;
	$r = api(POST => '/api/teams/invitations/accept', token => $TOK{erin}, json => { token => $etok });
	is $r->{status}, 200, 'erin@example.com accepts' or diag $r->{content};
	is role_of($tid, 'erin'), 'viewer', 'erin is a viewer';

	# Expired (psql), and two invitations for one address.
	$r = api(POST => "/api/teams/$tid/invite", token => $TOK{alice},
		json => { email => 'frank@example.com' });
	is $r->{status}, 201, 'frank invited (role defaults to member)' or return;
	is $r->{json}{invitation}{role}, 'member', 'role member';
	my ($fm) = mail_to($smtp, 'frank@example.com');
	my $ftok = $fm && team_token($fm);
	ok $ftok, 'frank\'s token' or return;
	psql($DB, "UPDATE team_invitations SET expires_at = now() - interval '1 second'"
		. " WHERE id = '$r->{json}{invitation}{id}'");
	problem_ok(api(POST => '/api/teams/invitations/accept', token => $TOK{frank}, json => { token => $ftok }),
		422, 'validation_failed', 'token', 'an expired token');
	is role_of($tid, 'frank'), 'none', 'frank is not a member';

	for my $role (qw(viewer member)) {
		is api(POST => "/api/teams/$tid/invite", token => $TOK{alice},
			json => { email => 'grace@example.com', role => $role })->{status}, 201, "grace invited as $role";
	}
	my @gm = mail_to($smtp, 'grace@example.com', 2);
	my @gtok = map { team_token($_) } @gm;
	is scalar(grep { $_ } @gtok), 2, 'two tokens for grace' or return;
	is api(POST => '/api/teams/invitations/accept', token => $TOK{grace}, json => { token => $gtok[0] })->{status},
		200, 'grace accepts the first';
	problem_ok(api(POST => '/api/teams/invitations/accept', token => $TOK{grace}, json => { token => $gtok[1] }),
		409, 'conflict', undef, 'and the second, already a member');

	problem_ok(api(POST => '/api/teams/invitations/accept', token => $TOK{dave}, json => { token => 'x' x 43 }),
		422, 'validation_failed', 'token', 'a made-up token');
	problem_ok(api(POST => '/api/teams/invitations/accept', token => $TOK{dave}, json => {}),
		422, 'validation_failed', 'token', 'no token');
	psql($DB, "DELETE FROM teams WHERE id = '$tid'");
};

subtest 'deleting a team removes its memberships and invitations' => sub {
	my $tid = new_team(alice => 'Doomed') or return;
	set_member($tid, bob => 'admin');
	set_member($tid, dave => 'viewer');
	is api(POST => "/api/teams/$tid/invite", token => $TOK{alice},
		json => { email => 'nobody-yet@example.net', role => 'member' })->{status}, 201, 'a pending invitation';
	is psql($DB, "SELECT (SELECT count(*) FROM team_members WHERE team_id = '$tid') || '/'"
		. " || (SELECT count(*) FROM team_invitations WHERE team_id = '$tid')"), '3/1',
		'before: 3 members, 1 invitation';
	my $r = api(DELETE => "/api/teams/$tid", token => $TOK{alice});
	is $r->{status}, 204, 'DELETE: 204' or diag $r->{content};
	is $r->{content} // '', '', 'no body';
	is psql($DB, "SELECT (SELECT count(*) FROM teams WHERE id = '$tid') || '/'"
		. " || (SELECT count(*) FROM team_members WHERE team_id = '$tid') || '/'"
		. " || (SELECT count(*) FROM team_invitations WHERE team_id = '$tid')"), '0/0/0',
		'after: no team, no memberships, no invitations';
	is psql($DB, "SELECT details->>'name' FROM audit_log WHERE action = 'team.delete' AND target_id = '$tid'"),
		'Doomed', 'audit team.delete with the name';
	problem_ok(api(GET => "/api/teams/$tid", token => $TOK{alice}), 404, 'not_found', undef, 'GET afterwards');
	problem_ok(api(DELETE => "/api/teams/$tid", token => $TOK{alice}), 404, 'not_found', undef, 'DELETE again');
	ok !(grep { $_->{id} eq $tid } @{ api(GET => '/api/teams', token => $TOK{bob})->{json}{data} || [] }),
		'gone from a former member\'s list';
};

subtest 'isolation: two users\' teams' => sub {
	my $ta = new_team(alice => 'A private') or return;
	my $tb = new_team(bob => 'B private') or return;
	my $unknown = api(GET => "/api/teams/$NOBODY", token => $TOK{alice});
	for ([alice => $tb], [bob => $ta]) {
		my ($who, $tid) = @$_;
		my $r = api(GET => "/api/teams/$tid", token => $TOK{$who});
		problem_ok($r, 404, 'not_found', undef, "$who GETs the other's team");
		delete @{ $_->{json} }{qw(request_id)} for $r, $unknown;
		is_deeply $r->{json}, $unknown->{json}, "$who: the same 404 as an unknown id";
		problem_ok(api(PATCH => "/api/teams/$tid", token => $TOK{$who}, json => { name => 'Mine' }),
			404, 'not_found', undef, "$who renames it");
		problem_ok(api(DELETE => "/api/teams/$tid", token => $TOK{$who}),
			404, 'not_found', undef, "$who deletes it");
		problem_ok(api(POST => "/api/teams/$tid/invite", token => $TOK{$who},
			json => { email => "$who\@example.com", role => 'owner' }),
			404, 'not_found', undef, "$who invites himself");
		problem_ok(api(PATCH => "/api/teams/$tid/members/$ID{$who}", token => $TOK{$who},
			json => { role => 'owner' }), 404, 'not_found', undef, "$who makes himself owner");
		problem_ok(api(DELETE => "/api/teams/$tid/members/$ID{$who eq 'alice' ? 'bob' : 'alice'}",
			token => $TOK{$who}), 404, 'not_found', undef, "$who removes its owner");
	}
	is psql($DB, "SELECT string_agg(name, ',' ORDER BY name) FROM teams WHERE id IN ('$ta', '$tb')"),
		'A private,B private', 'both unchanged';
	is psql($DB, "SELECT count(*) FROM team_members WHERE team_id IN ('$ta', '$tb')"), 2,
		'one member each';
	is psql($DB, "SELECT count(*) FROM team_invitations WHERE team_id IN ('$ta', '$tb')"), 0,
		'no invitation';
	my %seen = map { $_->{id} => 1 } @{ api(GET => '/api/teams', token => $TOK{alice})->{json}{data} || [] };
	ok $seen{$ta} && !$seen{$tb}, 'alice\'s list: hers, not bob\'s';
	psql($DB, "DELETE FROM teams WHERE id IN ('$ta', '$tb')");
};

# ---- bad input --------------------------------------------------------------------

subtest 'bad input: 422 naming the field, 404 for non-UUID ids' => sub {
	my $tid = new_team(alice => 'Inputs') or return;
	problem_ok(api(POST => '/api/teams', token => $TOK{alice}, json => { name => 'x' x 101 }),
		422, 'validation_failed', 'name', 'a name of 101 characters');
	problem_ok(api(POST => '/api/teams', token => $TOK{alice}, json => { name => '' }),
		422, 'validation_failed', 'name', 'an empty name');
	problem_ok(api(POST => '/api/teams', token => $TOK{alice}, json => { name => "  \t " }),
		422, 'validation_failed', 'name', 'a blank name');
	problem_ok(api(POST => '/api/teams', token => $TOK{alice}, json => {}),
		422, 'validation_failed', 'name', 'no name');
	problem_ok(api(POST => '/api/teams', token => $TOK{alice}, json => { name => 42 }),
		422, 'validation_failed', 'name', 'a number as name');
	problem_ok(api(POST => '/api/teams', token => $TOK{alice}, json => { name => 'Ok', owner => 'me' }),
		422, 'validation_failed', 'owner', 'an undeclared key');
	problem_ok(api(POST => '/api/teams', token => $TOK{alice}, body => 'name=x',
		headers => { 'Content-Type' => 'application/x-www-form-urlencoded' }),
		415, 'unsupported_media_type', undef, 'not JSON');
	my $r = api(POST => '/api/teams', token => $TOK{alice}, json => { name => "\x{e9}" x 100 });
	is $r->{status}, 201, '100 characters (200 bytes) is fine' or diag $r->{content};
	psql($DB, "DELETE FROM teams WHERE id = '$r->{json}{team}{id}'") if $r->{status} == 201;
	problem_ok(api(PATCH => "/api/teams/$tid", token => $TOK{alice}, json => { name => 'y' x 101 }),
		422, 'validation_failed', 'name', 'renaming to 101 characters');
	problem_ok(api(POST => "/api/teams/$tid/invite", token => $TOK{alice},
		json => { email => 'k@example.net', role => 'king' }), 422, 'validation_failed', 'role', 'role "king"');
	problem_ok(api(POST => "/api/teams/$tid/invite", token => $TOK{alice},
		json => { email => 'k@example.net', role => 'Owner' }), 422, 'validation_failed', 'role', 'role "Owner"');
	problem_ok(api(POST => "/api/teams/$tid/invite", token => $TOK{alice},
		json => { email => 'not an email', role => 'member' }), 422, 'validation_failed', 'email', 'a bad email');
	problem_ok(api(PATCH => "/api/teams/$tid/members/$ID{alice}", token => $TOK{alice},
		json => { role => 'king' }), 422, 'validation_failed', 'role', 'PATCH role "king"');
	problem_ok(api(PATCH => "/api/teams/$tid/members/$ID{alice}", token => $TOK{alice}, json => {}),
		422, 'validation_failed', 'role', 'PATCH without a role');
	is psql($DB, "SELECT name FROM teams WHERE id = '$tid'"), 'Inputs', 'the name is unchanged';
	is role_of($tid, 'alice'), 'owner', 'alice is still owner';

	for my $bad ('not-a-uuid', '123', "$tid-x", 'ZZZZZZZZ-0000-4000-8000-000000000000') {
		problem_ok(api(GET => "/api/teams/$bad", token => $TOK{alice}), 404, 'not_found', undef, "GET /api/teams/$bad");
		problem_ok(api(PATCH => "/api/teams/$bad", token => $TOK{alice}, json => { name => 'n' }),
			404, 'not_found', undef, "PATCH /api/teams/$bad");
		problem_ok(api(DELETE => "/api/teams/$bad", token => $TOK{alice}), 404, 'not_found', undef,
			"DELETE /api/teams/$bad");
		problem_ok(api(POST => "/api/teams/$bad/invite", token => $TOK{alice},
			json => { email => 'k@example.net', role => 'member' }), 404, 'not_found', undef,
			"POST /api/teams/$bad/invite");
		problem_ok(api(PATCH => "/api/teams/$tid/members/$bad", token => $TOK{alice},
			json => { role => 'member' }), 404, 'not_found', undef, "PATCH members/$bad");
		problem_ok(api(DELETE => "/api/teams/$tid/members/$bad", token => $TOK{alice}),
			404, 'not_found', undef, "DELETE members/$bad");
	}
	problem_ok(api(PUT => "/api/teams/$tid", token => $TOK{alice}, json => { name => 'n' }),
		405, 'method_not_allowed', undef, 'PUT /api/teams/{id}');
	psql($DB, "DELETE FROM teams WHERE id = '$tid'");
};

is stop_worker($worker, 5), 0, 'the worker stops cleanly';
my $wlog = slurp($worker->{log});
unlike $wlog, $SANITIZER_RE, 'no sanitizer report from the worker' or diag $wlog;
note sprintf 'took %.1f s', time - $T0;
done_testing;
