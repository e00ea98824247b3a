#!/usr/bin/perl
# Idempotency-Key (api.md Conventions) on the routes that take it so far,
# POST /api/notifications and POST /api/invitations, behind nginx against
# the real pool and PostgreSQL:
#   - the same key with the same body replays the first answer (status and
#     body byte for byte, Idempotent-Replayed: true) and creates nothing more
#     (rows and email jobs counted with psql), also for a first answer that
#     was an error;
#   - the same key with another body → 422 idempotency_key_reused;
#   - keys are per user: another admin with the same key gets their own;
#   - ten requests with one key at the same moment: one row, one id for all;
#   - invalid keys (empty, 256 or 300 characters, a space, a tab) → 400, nothing
#     created; 255 characters is fine;
#   - 24 h: a row aged 23 h still replays, one aged past 24 h is used anew.
use strict;
use warnings;

use Errno qw(EINTR);
use File::Temp qw(tempdir tempfile);
use FindBin;
use JSON::PP;
use POSIX qw(_exit);
use Test::More;
use Time::HiRes qw(sleep time);

use lib "$FindBin::Bin/../lib";
use FastbackTest;
use FastbackUsers qw(users_setup slurp bcrypt problem_ok q_);

my $T0 = time;
my $BUILD = build_dir();
plan skip_all => "$BUILD/fastbackctl not built: run make first" unless -x "$BUILD/fastbackctl";

my $JSON = JSON::PP->new->utf8->canonical->allow_nonref;
my $PW = 'correct horse battery staple 42';
my $UUID = qr/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
my $TMP = tempdir('fb88-XXXXXX', TMPDIR => 1, CLEANUP => !$ENV{FASTBACK_KEEP_TMP});
users_setup(tmp => $TMP, answer_status => 1);

# ---- local helpers (shared ones: FastbackUsers) ---------------------------------

# ctl($config, $stdin, ARGS...): (exit status, stdout, stderr) of fastbackctl;
# a sanitizer report on stdout or stderr fails a test.
sub ctl { FastbackUsers::ctl({ scan_stdout => 1 }, @_) }

# ---- the stack ----------------------------------------------------------------

my $s = start_stack(
	FCGI_CHILDREN => 4,
	RATE_LIMIT_AUTH_IP => 100000, RATE_LIMIT_GENERAL_IP => 100000,
	RATE_LIMIT_GENERAL_USER => 100000, RATE_LIMIT_LOGIN_FAILURES => 100000,
	RATE_LIMIT_ACCOUNT_FAILURES => 100000, RATE_LIMIT_EXPORT_USER => 100000,
	PASSWORD_ARGON2_MEMORY_KIB => 8192, PASSWORD_ARGON2_ITERATIONS => 1,
);
my $U = $s->{url};
my $DB = $s->{conf}{DATABASE_URL};

my $RID = 0;
sub api {
	my ($method, $path, %o) = @_;
	my $rid = sprintf 't88-%d-%d', $$, ++$RID;
	my %h = (%{ delete $o{headers} || {} }, 'X-Request-Id' => $rid);
	my $r = http($method => "$U$path", %o, headers => \%h);
	$r->{rid} = $rid;
	if ($r->{status} >= 500) {
		my @l = split /\n/, $s->log_text;
		diag "$method $path answered $r->{status}: $r->{content}\npool log:\n"
			. join "\n", @l[($#l > 10 ? $#l - 10 : 0) .. $#l];
	}
	return $r;
}

sub signin {
	my ($email) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my $r = api(POST => '/api/auth/login', json => { email => $email, password => $PW });
	is $r->{status}, 200, "$email logs in" or diag $r->{content};
	return $r->{status} == 200 ? $r->{json}{access_token} : undef;
}

for my $who (qw(boss boss2)) {
	my ($st, $out, $err) = ctl($s->{config}, "$PW\n", 'user', 'create-admin', "$who\@example.com");
	is $st, 0, "create-admin $who" or diag "$out$err";
}
{
	my $file = "$TMP/import.jsonl";
	open my $fh, '>:raw', $file or die "$file: $!";
	print $fh $JSON->encode({ email => 'alice@example.com', name => 'Alice Anders',
		password_hash => bcrypt($PW), email_verified => JSON::PP::true }), "\n";
	close $fh;
	my ($st, $out, $err) = ctl($s->{config}, undef, 'users', 'import', $file);
	is $st, 0, 'alice imported' or diag "$out$err";
}
my %ID = map { split /\|/ } split /\n/, psql($DB, "SELECT split_part(email, '\@', 1), id FROM users");
my %TOK = map { $_ => signin("$_\@example.com") } qw(boss boss2 alice);
BAIL_OUT('someone cannot sign in') if grep { !defined } values %TOK;

# POST /api/notifications for alice, as $who (default boss), with $key (undef:
# no header).
sub notify {
	my ($key, $title, %o) = @_;
	return api(POST => '/api/notifications', token => $TOK{ $o{who} // 'boss' },
		headers => { defined $key ? ('Idempotency-Key' => $key) : () },
		json => { user_id => $o{user_id} // $ID{alice}, type => 'idem', title => $title,
			body => 'the body', data => { n => 1 } });
}

sub rows { psql($DB, 'SELECT count(*) FROM notifications WHERE title = ' . q_($_[0])) }
sub mail_jobs {
	psql($DB, "SELECT count(*) FROM jobs WHERE kind = 'email.send' AND payload->'vars'->>'title' = "
		. q_($_[0]));
}
sub replayed { $_[0]{headers}{'idempotent-replayed'} }
sub nid { ($_[0]{json} && $_[0]{json}{notification}) ? $_[0]{json}{notification}{id} : undef }

# ---- replay and reuse ---------------------------------------------------------------

my ($FIRST, $FIRST_ID);

subtest 'same key, same body: the first answer again, nothing created twice' => sub {
	my $r1 = notify('key-1', 'Idem one');
	is $r1->{status}, 201, 'first: 201' or do { diag $r1->{content}; return };
	like nid($r1) // '', $UUID, '... a notification';
	is replayed($r1), undef, '... no Idempotent-Replayed header';
	$FIRST = $r1;
	$FIRST_ID = nid($r1);

	for my $n (2, 3) {
		my $r = notify('key-1', 'Idem one');
		is $r->{status}, 201, "request $n: 201";
		is $r->{content}, $r1->{content}, "request $n: the same body, byte for byte";
		is nid($r), $FIRST_ID, "request $n: the same notification id";
		is replayed($r), 'true', "request $n: Idempotent-Replayed: true";
		like $r->{headers}{'content-type'} // '', qr{^application/json}, "request $n: application/json";
	}
	is rows('Idem one'), 1, 'one notification row';
	is mail_jobs('Idem one'), 1, 'one email job';
	is psql($DB, "SELECT count(*) FROM audit_log WHERE action = 'notification.create'"
		. " AND details->>'type' = 'idem'"), 1, 'one audit entry';
	is psql($DB, "SELECT status FROM idempotency_keys WHERE key = 'key-1' AND user_id = '$ID{boss}'"),
		201, 'the key\'s row holds status 201';
	is_deeply [map { $_->{id} } @{ api(GET => '/api/notifications', token => $TOK{alice})->{json}{data} || [] }],
		[$FIRST_ID], 'alice has the one notification';
};

subtest 'same key, another body → 422 idempotency_key_reused' => sub {
	my $r = notify('key-1', 'Idem one, changed');
	problem_ok($r, 422, 'idempotency_key_reused', undef, 'another title');
	is replayed($r), undef, '... not a replay';
	is rows('Idem one, changed'), 0, '... nothing created';
	$r = notify('key-1', 'Idem one', user_id => $ID{boss2});
	problem_ok($r, 422, 'idempotency_key_reused', undef, 'another user_id');
	is psql($DB, "SELECT count(*) FROM notifications WHERE user_id = '$ID{boss2}'"), 0, '... nothing created';
	$r = notify('key-1', 'Idem one');
	is nid($r), $FIRST_ID, 'the first body still replays';
	is replayed($r), 'true', '... as a replay';

	# Without a key, or with another, the same body creates anew.
	$r = notify(undef, 'Idem one');
	is $r->{status}, 201, 'no key: 201';
	isnt nid($r), $FIRST_ID, '... a new notification';
	$r = notify('key-2', 'Idem one');
	is $r->{status}, 201, 'another key: 201';
	isnt nid($r), $FIRST_ID, '... a new notification';
	is replayed($r), undef, '... not a replay';
	is rows('Idem one'), 3, 'three rows now';
};

subtest 'keys are per user' => sub {
	my $r = notify('key-1', 'Idem one', who => 'boss2');
	is $r->{status}, 201, 'another admin with the same key and body: 201' or diag $r->{content};
	like nid($r) // '', $UUID, '... a notification';
	isnt nid($r), $FIRST_ID, '... their own, not the first admin\'s';
	is replayed($r), undef, '... not a replay';
	is rows('Idem one'), 4, '... a new row';
	my $again = notify('key-1', 'Idem one', who => 'boss2');
	is nid($again), nid($r), 'their retry replays their answer';
	is replayed($again), 'true', '... Idempotent-Replayed: true';
	my $first = notify('key-1', 'Idem one');
	is nid($first), $FIRST_ID, 'the first admin still gets the first answer';
	is rows('Idem one'), 4, 'no more rows';
	is psql($DB, "SELECT count(*) FROM idempotency_keys WHERE key = 'key-1'"), 2, 'two key rows, one per user';
};

subtest 'a first answer that was an error is replayed too' => sub {
	my $ghost = '00000000-0000-4000-8000-000000000000';
	my $r1 = notify('key-err', 'To nobody', user_id => $ghost);
	problem_ok($r1, 422, 'validation_failed', 'user_id', 'an unknown user_id');
	my $r2 = notify('key-err', 'To nobody', user_id => $ghost);
	is $r2->{status}, 422, 'again: 422';
	is $r2->{content}, $r1->{content}, '... the same body (the first request id in it)';
	is replayed($r2), 'true', '... Idempotent-Replayed: true';
	like $r2->{headers}{'content-type'} // '', qr{^application/problem\+json}, '... problem+json';
};

# ---- concurrency --------------------------------------------------------------------

subtest 'ten requests with one key at the same moment' => sub {
	my $title = 'Concurrent ' . time;
	my $n = 10;
	pipe my $gate_r, my $gate_w or die "pipe: $!";
	my @pids;
	for my $i (1 .. $n) {
		my $pid = fork // die "fork: $!";
		if (!$pid) {
			close $gate_w;
			my $x = <$gate_r>;	# EOF when the parent closes its end: go
			my $t0 = time;
			my $r = notify('key-conc', $title);
			my $t1 = time;
			open my $fh, '>', "$TMP/conc.$i" or _exit(1);
			print $fh $JSON->encode({ status => $r->{status}, content => $r->{content},
				replayed => replayed($r), t0 => $t0, t1 => $t1 });
			close $fh;
			_exit(0);	# no END blocks in the children
		}
		push @pids, $pid;
	}
	close $gate_r;
	sleep 0.3;	# every child is waiting at the gate
	close $gate_w;
	for my $pid (@pids) { 1 while waitpid($pid, 0) < 0 && $! == EINTR }
	my @res = map { eval { $JSON->decode(slurp("$TMP/conc.$_")) } // {} } 1 .. $n;
	is scalar(grep { ($_->{status} // 0) == 201 } @res), $n, "all $n answered 201"
		or diag join "\n", map { ($_->{status} // '?') . ' ' . ($_->{content} // '') } @res;
	# Concurrency is what is tested: at least two requests were in flight
	# before the first answer came (on a loaded machine not always all ten).
	my ($first_end) = sort { $a <=> $b } map { $_->{t1} // 9e9 } @res;
	cmp_ok scalar(grep { ($_->{t0} // 9e9) < $first_end } @res), '>=', 2,
		'the requests overlapped (several sent before any answer came)';
	my %ids;
	for (@res) {
		my $j = eval { $JSON->decode($_->{content} // '') } // {};
		$ids{ ($j->{notification} || {})->{id} // 'none' }++;
	}
	is scalar(keys %ids), 1, 'every answer has the same id' or diag explain \%ids;
	is rows($title), 1, 'exactly one notification row';
	is mail_jobs($title), 1, 'exactly one email job';
	is scalar(grep { !defined $_->{replayed} } @res), 1, 'one answer made it, ...';
	is scalar(grep { ($_->{replayed} // '') eq 'true' } @res), $n - 1, '... the others are replays';
	my %bodies = map { ($_->{content} // '') => 1 } @res;
	is scalar(keys %bodies), 1, 'all bodies are identical';
};

# ---- invalid keys ----------------------------------------------------------------------

subtest 'invalid keys → 400, nothing created' => sub {
	for my $bad (['', 'an empty key'], ['k' x 300, 'a key of 300 characters'],
	    ['k' x 256, 'a key of 256 characters'], ['a b', 'a key with a space'],
	    ["a\tb", 'a key with a tab']) {
		my ($key, $name) = @$bad;
		my $title = "Bad key: $name";
		problem_ok(notify($key, $title), 400, 'bad_request', undef, $name);
		is rows($title), 0, "$name: no notification";
	}
	is psql($DB, "SELECT count(*) FROM idempotency_keys WHERE key LIKE 'kkk%' OR key LIKE '% %' OR key LIKE E'%\\t%' OR key = ''"),
		0, 'no key rows for them';
	my $r = notify('k' x 255, 'Key of 255');
	is $r->{status}, 201, 'a key of 255 characters: 201' or diag $r->{content};
	is notify('k' x 255, 'Key of 255')->{headers}{'idempotent-replayed'}, 'true', '... and it replays';
	$r = notify('~!@#$%^&*()_+{}|:"<>?`-=[]\\;\',./', 'Punctuation key');
	is $r->{status}, 201, 'a key of printable punctuation: 201' or diag $r->{content};
	is rows('Key of 255'), 1, 'one row for the 255-character key';
};

# ---- 24 hours -----------------------------------------------------------------------------

subtest 'a key older than 24 h is used anew' => sub {
	psql($DB, "UPDATE idempotency_keys SET created_at = now() - interval '23 hours'"
		. " WHERE key = 'key-1' AND user_id = '$ID{boss}'");
	my $r = notify('key-1', 'Idem one');
	is nid($r), $FIRST_ID, 'aged 23 h: still the first answer';
	is replayed($r), 'true', '... a replay';
	my $before = rows('Idem one');

	psql($DB, "UPDATE idempotency_keys SET created_at = now() - interval '24 hours 1 minute'"
		. " WHERE key = 'key-1' AND user_id = '$ID{boss}'");
	$r = notify('key-1', 'Idem one');
	is $r->{status}, 201, 'aged past 24 h: 201' or diag $r->{content};
	like nid($r) // '', $UUID, '... a notification';
	isnt nid($r), $FIRST_ID, '... a new one';
	is replayed($r), undef, '... not a replay';
	is rows('Idem one'), $before + 1, '... a new row';
	my $new = nid($r);
	my $again = notify('key-1', 'Idem one');
	is nid($again), $new, 'the key now replays the new answer';
	is replayed($again), 'true', '... Idempotent-Replayed: true';

	psql($DB, "UPDATE idempotency_keys SET created_at = now() - interval '25 hours'"
		. " WHERE key = 'key-1' AND user_id = '$ID{boss}'");
	$r = notify('key-1', 'Idem one, other body');
	is $r->{status}, 201, 'an aged key with another body: 201 (no longer reused)' or diag $r->{content};
	is rows('Idem one, other body'), 1, '... created';
};

# ---- invitations ------------------------------------------------------------------------------

sub invite {
	my ($key, $email, %o) = @_;
	return api(POST => '/api/invitations', token => $TOK{ $o{who} // 'boss' },
		headers => { defined $key ? ('Idempotency-Key' => $key) : () },
		json => { email => $email, role => $o{role} // 'user' });
}
sub inv_rows { psql($DB, 'SELECT count(*) FROM invitations WHERE email = ' . q_($_[0])) }
sub inv_jobs { psql($DB, "SELECT count(*) FROM jobs WHERE kind = 'email.send' AND payload->>'to' = " . q_($_[0])) }

subtest 'Idempotency-Key on POST /api/invitations' => sub {
	my $r1 = invite('inv-1', 'invitee@example.com');
	is $r1->{status}, 201, 'first: 201' or do { diag $r1->{content}; return };
	my $id = ($r1->{json}{invitation} || {})->{id};
	like $id // '', $UUID, '... an invitation';
	is $r1->{headers}{'idempotent-replayed'}, undef, '... not a replay';
	my $r2 = invite('inv-1', 'invitee@example.com');
	is $r2->{status}, 201, 'again: 201';
	is $r2->{content}, $r1->{content}, '... the same body';
	is $r2->{headers}{'idempotent-replayed'}, 'true', '... Idempotent-Replayed: true';
	is inv_rows('invitee@example.com'), 1, 'one invitation row';
	is inv_jobs('invitee@example.com'), 1, 'one invitation email job';

	problem_ok(invite('inv-1', 'other@example.com'), 422, 'idempotency_key_reused', undef,
		'the same key, another email');
	problem_ok(invite('inv-1', 'invitee@example.com', role => 'admin'), 422, 'idempotency_key_reused', undef,
		'the same key, another role');
	is inv_rows('other@example.com'), 0, '... nothing created';
	is psql($DB, "SELECT role FROM invitations WHERE email = 'invitee\@example.com'"), 'user',
		'... the invitation unchanged';

	problem_ok(invite('', 'empty@example.com'), 400, 'bad_request', undef, 'an empty key');
	problem_ok(invite('x' x 300, 'long@example.com'), 400, 'bad_request', undef, 'a key of 300 characters');
	problem_ok(invite('a b', 'space@example.com'), 400, 'bad_request', undef, 'a key with a space');
	is psql($DB, "SELECT count(*) FROM invitations WHERE email IN"
		. " ('empty\@example.com', 'long\@example.com', 'space\@example.com')"), 0, '... none created';

	my $r = invite('inv-1', 'invitee@example.com', who => 'boss2');
	is $r->{status}, 201, 'another admin with the same key: 201' or diag $r->{content};
	isnt(($r->{json}{invitation} || {})->{id}, $id, '... their own invitation');
	is $r->{headers}{'idempotent-replayed'}, undef, '... not a replay';

	# A first answer that was a conflict replays as such.
	my $c1 = invite('inv-conflict', 'alice@example.com');
	problem_ok($c1, 409, 'conflict', undef, 'inviting an existing account');
	my $c2 = invite('inv-conflict', 'alice@example.com');
	is $c2->{status}, 409, 'again: 409';
	is $c2->{content}, $c1->{content}, '... the same body';
	is $c2->{headers}{'idempotent-replayed'}, 'true', '... Idempotent-Replayed: true';

	problem_ok(invite('inv-2', 'x@example.com', who => 'alice'), 403, 'forbidden', undef,
		'a non-admin with a key');
	is psql($DB, "SELECT count(*) FROM idempotency_keys WHERE user_id = '$ID{alice}'"), 0,
		'... leaves no key row';
};

diag sprintf '88-idempotency: %.1f s', time - $T0;
done_testing;
