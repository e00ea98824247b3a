#!/usr/bin/perl
# The settings document (schema/011_settings_doc.sql): GET /api/settings
# reads user_settings_docs, which statement-level triggers on user_settings
# keep equal to the aggregate of the user's rows. Behind nginx against the
# real pool and PostgreSQL:
#
#   - 8 HTTP clients writing one user's settings at once (25 keys each, some
#     deleted again, one key all of them overwrite), then 12 rounds of 8
#     writes released together: afterwards (and after every round) the
#     answer is byte for byte {"settings":<the aggregate of user_settings
#     computed afresh by psql>};
#   - psql sessions, deterministic: one holds a transaction that wrote a
#     setting, the other writes another setting of the same user and must
#     wait for it; the document then has both (user with and without a
#     document row yet; a DELETE against a PUT); and two writers queued
#     behind a third session's lock on the document row. Without the
#     per-user lock in the trigger a writer aggregates with a snapshot that
#     misses the other one's row: a single upsert of the aggregate fails all
#     of these, the trigger without its SELECT ... FOR UPDATE the last one
#     (and, by chance, the rounds above), every time;
#   - statements touching several users (multi-row INSERT, UPDATE moving
#     rows between users, DELETE across users, TRUNCATE, deleting a user);
#   - the migration's backfill of rows written before it.
use strict;
use warnings;

use Errno qw(EINTR);
use File::Temp qw(tempdir);
use FindBin;
use JSON::PP;
use POSIX qw(_exit);
use Test::More;
use Time::HiRes qw(sleep time);

use lib "$FindBin::Bin/../lib";
use FastbackTest;
use FastbackUsers qw(users_setup slurp import_users ctl q_);

my $T0 = time;
my $BUILD = build_dir();
plan skip_all => "$BUILD/fastbackctl not built: run make first" unless -x "$BUILD/fastbackctl";

my $JSON = JSON::PP->new->utf8->canonical->allow_nonref;
my $PW = 'correct horse battery staple 42';
my $TMP = tempdir('fb89-XXXXXX', TMPDIR => 1, CLEANUP => !$ENV{FASTBACK_KEEP_TMP});
users_setup(tmp => $TMP, password => $PW, answer_status => 1);

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
	my $rid = sprintf 't89-%d-%d', $$, ++$RID;
	my %h = (%{ delete $o{headers} || {} }, 'X-Request-Id' => $rid);
	my $r = http($method => "$U$path", %o, headers => \%h);
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

# The document as the migration defines it, computed afresh from
# user_settings (an SQL expression for the user id expression $uid).
sub fresh_sql {
	my ($uid) = @_;
	return "coalesce((SELECT json_object_agg(c.category, c.keys ORDER BY c.category COLLATE \"C\")::text"
		. " FROM (SELECT category, json_object_agg(key, value ORDER BY key COLLATE \"C\") AS keys"
		. " FROM user_settings WHERE user_id = $uid GROUP BY category) c), '{}')";
}
sub fresh { my ($db, $uid) = @_; psql($db, 'SELECT ' . fresh_sql(q_($uid))) }
sub stored {
	my ($db, $uid) = @_;
	return psql($db, "SELECT coalesce((SELECT doc FROM user_settings_docs WHERE user_id = "
		. q_($uid) . "), '{}')");
}
# Users whose stored document is not the fresh aggregate.
sub stale_users {
	my ($db) = @_;
	return psql($db, "SELECT count(*) FROM users u LEFT JOIN user_settings_docs d ON d.user_id = u.id"
		. " WHERE coalesce(d.doc, '{}') IS DISTINCT FROM " . fresh_sql('u.id'));
}

# GET /api/settings is exactly {"settings":<fresh aggregate>}.
sub doc_ok {
	my ($tok, $uid, $name) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my $r = api(GET => '/api/settings', token => $tok);
	is $r->{status}, 200, "$name: GET /api/settings 200" or return 0;
	return is $r->{content}, '{"settings":' . fresh($DB, $uid) . '}',
		"$name: the answer is the aggregate of user_settings, byte for byte";
}

ok import_users($s->{config}, ['wendy@example.com', 'Wendy Writer'], ['olga@example.com', 'Olga Other'],
	['nina@example.com', 'Nina New']), 'three users imported';
my %ID = map { split /\|/ } split /\n/, psql($DB, "SELECT split_part(email, '\@', 1), id FROM users");
my %TOK = map { $_ => signin("$_\@example.com") } qw(wendy olga nina);
BAIL_OUT('someone cannot sign in') if grep { !defined } values %TOK;

# ---- HTTP writers at once ---------------------------------------------------------

# run_at_once(N, sub { $i }): N children, released together, each runs the
# sub and reports its result (a string) through a file; returns them.
sub run_at_once {
	my ($n, $work) = @_;
	pipe my $gate_r, my $gate_w or die "pipe: $!";
	my @pids;
	for my $i (1 .. $n) {
		my $pid = fork // die "fork: $!";
		if (!$pid) {
			close $gate_w;
			my $x = <$gate_r>;	# EOF when the parent closes its end: go
			my $res = eval { $work->($i) } // "died: $@";
			open my $fh, '>', "$TMP/once.$i" or _exit(1);
			print $fh $res;
			close $fh;
			_exit(0);	# no END blocks in the children
		}
		push @pids, $pid;
	}
	close $gate_r;
	sleep 0.2;
	close $gate_w;
	for my $pid (@pids) { 1 while waitpid($pid, 0) < 0 && $! == EINTR }
	return map { my $v = slurp("$TMP/once.$_"); unlink "$TMP/once.$_"; $v } 1 .. $n;
}

subtest '8 clients write 25 keys each of one user at once' => sub {
	my $tok = $TOK{wendy};
	my @res = run_at_once(8, sub {
		my ($i) = @_;
		my @bad;
		for my $k (1 .. 25) {
			my $cat = 'c' . ($k % 4);
			my $key = sprintf 'w%d.k%02d', $i, $k;
			my $r = api(PUT => "/api/settings/$cat/$key", token => $tok,
				json => { value => { client => $i, k => $k, tags => ['x', $k] } });
			push @bad, "PUT $cat/$key: $r->{status}" if $r->{status} != 200;
			if ($k % 5 == 0) {
				$r = api(DELETE => "/api/settings/$cat/$key", token => $tok);
				push @bad, "DELETE $cat/$key: $r->{status}" if $r->{status} != 204;
				$r = api(PUT => '/api/settings/shared/last', token => $tok, json => { value => $i });
				push @bad, "PUT shared/last: $r->{status}" if $r->{status} != 200;
			}
		}
		return join ', ', @bad;
	});
	is_deeply \@res, [('') x 8], 'every PUT 200, every DELETE 204';
	doc_ok($tok, $ID{wendy}, 'after the writers');

	# What the clients wrote, independently of SQL.
	my $got = api(GET => '/api/settings', token => $tok)->{json}{settings} || {};
	my %want;
	for my $i (1 .. 8) {
		for my $k (grep { $_ % 5 } 1 .. 25) {
			$want{ 'c' . ($k % 4) }{ sprintf 'w%d.k%02d', $i, $k } = { client => $i, k => $k, tags => ['x', $k] };
		}
	}
	my $last = delete $got->{shared};
	is_deeply $got, \%want, '8 x 20 keys left, each with its value';
	ok $last && keys %$last == 1 && ($last->{last} // 0) =~ /^[1-8]$/,
		'shared/last holds one of the clients\' values';
	is psql($DB, "SELECT count(*) FROM user_settings WHERE user_id = '$ID{wendy}'"), 161, '161 rows';
};

subtest '12 rounds of 8 writes released together, checked after each' => sub {
	my $tok = $TOK{wendy};
	my ($stale, $failed) = (0, 0);
	for my $round (1 .. 12) {
		my @res = run_at_once(8, sub {
			my ($i) = @_;
			# Odd clients add a key, even ones delete one of theirs from
			# the first subtest (its round-th key left there).
			my $k = (grep { $_ % 5 } 1 .. 25)[$round - 1];
			my $r = $i % 2
				? api(PUT => "/api/settings/r$round/k$i", token => $tok, json => { value => [$round, $i] })
				: api(DELETE => sprintf('/api/settings/c%d/w%d.k%02d', $k % 4, $i, $k), token => $tok);
			return $r->{status};
		});
		$failed += grep { $_ !~ /^(?:200|204)$/ } @res;
		$stale++ if stored($DB, $ID{wendy}) ne fresh($DB, $ID{wendy});
	}
	is $failed, 0, 'every write answered 200 or 204';
	is $stale, 0, 'after each of the 12 rounds the document is the aggregate';
	doc_ok($tok, $ID{wendy}, 'after the rounds');
};

# ---- two psql sessions ------------------------------------------------------------

# session($name, $sql, $wait): a child running $sql in a session named
# $name; returns once that session waits ($wait: a wait_event or its type).
sub session {
	my ($name, $sql, $event) = @_;
	my $url = $DB . ($DB =~ /\?/ ? '&' : '?') . "application_name=$name";
	my $pid = fork // die "fork: $!";
	if (!$pid) {
		eval { psql($url, $sql) };
		_exit($@ ? 1 : 0);
	}
	ok((wait_until { psql($DB, "SELECT count(*) FROM pg_stat_activity WHERE application_name = '$name'"
		. " AND '$event' IN (wait_event, wait_event_type)") == 1 } 10), "$name: waiting ($event)");
	return $pid;
}

# hold($sql, $seconds): a session that runs BEGIN; $sql; then sleeps
# $seconds (1.5) holding the transaction, then commits. Returns once it
# sleeps.
sub hold {
	my ($sql, $secs) = @_;
	return session('fb89-holder', "BEGIN; $sql; SELECT pg_sleep(" . ($secs // 1.5) . "); COMMIT;",
		'PgSleep');
}

sub collect {
	my ($pid, $name) = @_;
	1 while waitpid($pid, 0) < 0 && $! == EINTR;
	is $?, 0, "$name: the session ended well";
}

sub ins {
	my ($user, $cat, $key, $value) = @_;
	return "INSERT INTO user_settings (user_id, category, key, value) VALUES ('$ID{$user}',"
		. " '$cat', '$key', '$value') ON CONFLICT (user_id, category, key) DO UPDATE"
		. " SET value = excluded.value";
}

subtest 'two sessions: the second writer waits and sees the first' => sub {
	my $pid = hold(ins(olga => 'race', 'first', '1'));
	my $t = time;
	psql($DB, ins(olga => 'race', 'second', '2'));
	cmp_ok time - $t, '>', 0.7, 'the second session waited for the first one\'s commit';
	collect($pid, 'existing document');
	is stored($DB, $ID{olga}), '{ "race" : { "first" : 1, "second" : 2 } }', 'the document has both';
	doc_ok($TOK{olga}, $ID{olga}, 'two sessions');

	# A user without a document row yet: both sessions create it.
	is psql($DB, "SELECT count(*) FROM user_settings_docs WHERE user_id = '$ID{nina}'"), 0,
		'nina has no document row';
	$pid = hold(ins(nina => 'race', 'first', '"a"'));
	$t = time;
	psql($DB, ins(nina => 'race', 'second', '"b"'));
	cmp_ok time - $t, '>', 0.7, 'the second session waited';
	collect($pid, 'new document');
	is stored($DB, $ID{nina}), '{ "race" : { "first" : "a", "second" : "b" } }', 'the document has both';
	doc_ok($TOK{nina}, $ID{nina}, 'two sessions, new document');

	# A DELETE held open against a write.
	$pid = hold("DELETE FROM user_settings WHERE user_id = '$ID{olga}' AND key = 'first'");
	psql($DB, ins(olga => 'race', 'third', '3'));
	collect($pid, 'delete');
	is stored($DB, $ID{olga}), '{ "race" : { "second" : 2, "third" : 3 } }',
		'the document lacks the deleted key, has the new one';
	doc_ok($TOK{olga}, $ID{olga}, 'delete against a write');

	# Two writers queued behind a third session's lock on the document
	# row: the first has written its setting when the second aggregates.
	# Only a lock taken before the aggregate (not the UPDATE's own row
	# lock, nor the INSERT ... ON CONFLICT's wait) keeps the second from
	# using a snapshot without the first one's row.
	$pid = hold("SELECT 1 FROM user_settings_docs WHERE user_id = '$ID{olga}' FOR UPDATE", 3);
	my $first = session('fb89-first', ins(olga => 'race', 'fourth', '4'), 'Lock');
	my $second = session('fb89-second', ins(olga => 'race', 'fifth', '5'), 'Lock');
	collect($pid, 'queued');
	collect($first, 'queued, first writer');
	collect($second, 'queued, second writer');
	is stored($DB, $ID{olga}), '{ "race" : { "fifth" : 5, "fourth" : 4, "second" : 2, "third" : 3 } }',
		'the document has both writers\' rows';
	doc_ok($TOK{olga}, $ID{olga}, 'writers queued on the document row');
};

# ---- statements touching several users -------------------------------------------

subtest 'statements touching several users' => sub {
	ok import_users($s->{config}, ['gone@example.com', 'Gone Soon']), 'a user to delete';
	my $gone = psql($DB, "SELECT id FROM users WHERE email = 'gone\@example.com'");
	psql($DB, "INSERT INTO user_settings (user_id, category, key, value) SELECT u.id, c, k, to_jsonb(c || k)"
		. " FROM users u, unnest(ARRAY['m.b', 'm-a', 'm_c']) c, unnest(ARRAY['z', 'a']) k"
		. " WHERE u.email IN ('olga\@example.com', 'nina\@example.com', 'gone\@example.com')");
	is stale_users($DB), 0, 'a multi-row INSERT for three users: every document current';
	is stored($DB, $gone), '{ "m-a" : { "a" : "m-aa", "z" : "m-az" }, "m.b" : { "a" : "m.ba", "z" : "m.bz" },'
		. ' "m_c" : { "a" : "m_ca", "z" : "m_cz" } }', 'categories and keys in byte order';
	psql($DB, "UPDATE user_settings SET user_id = '$ID{nina}', category = 'from-olga'"
		. " WHERE user_id = '$ID{olga}' AND category = 'm.b'");
	is stale_users($DB), 0, 'an UPDATE moving rows from one user to another';
	psql($DB, "UPDATE user_settings SET category = category || '.x', user_id = CASE user_id"
		. " WHEN '$ID{nina}' THEN '$ID{olga}'::uuid ELSE '$ID{nina}'::uuid END"
		. " WHERE category = 'm_c' AND user_id IN ('$ID{olga}', '$ID{nina}')");
	is stale_users($DB), 0, 'an UPDATE swapping rows between two users';
	like stored($DB, $ID{nina}), qr/"from-olga" .* "m_c\.x" /, '... nina has olga\'s former rows';
	psql($DB, "DELETE FROM user_settings WHERE category = 'm-a' OR category = 'm.b' AND key = 'a'");
	is stale_users($DB), 0, 'a DELETE across users';
	psql($DB, "DELETE FROM users WHERE id = '$gone'");
	is psql($DB, "SELECT count(*) FROM user_settings_docs WHERE user_id = '$gone'"), 0,
		'deleting a user deletes its document';
	is stale_users($DB), 0, '... the others stay current';
	doc_ok($TOK{$_}, $ID{$_}, $_) for qw(olga nina wendy);
};

# ---- the migration's backfill -------------------------------------------------------

subtest 'the migration backfills documents of existing rows' => sub {
	my $db = fresh_database(migrate => 0);
	my $conf = "$TMP/backfill.conf";
	open my $fh, '>', $conf or die "$conf: $!";
	print $fh "DATABASE_URL=$db\nJWT_SECRET=" . ('ab' x 32) . "\n";
	close $fh;
	my ($st, $out, $err) = ctl($conf, undef, 'migrate', 'run', '010_cms_version.sql');
	is $st, 0, 'migrated up to 010' or diag "$out$err";
	psql($db, "INSERT INTO users (email, name) SELECT 'u' || g || '\@example.com', 'U' || g"
		. " FROM generate_series(1, 3) g");
	psql($db, "INSERT INTO user_settings (user_id, category, key, value) SELECT u.id, c, k,"
		. " jsonb_build_object('v', k, 'n', 1) FROM users u,"
		. " unnest(ARRAY['b', 'a.x']) c, unnest(ARRAY['y', 'x-1']) k WHERE u.email <> 'u3\@example.com'");
	($st, $out, $err) = ctl($conf, undef, 'migrate', 'run');
	is $st, 0, 'then 011 and the rest' or diag "$out$err";
	like $out, qr/applied 011_settings_doc\.sql/, '011 applied';
	is psql($db, 'SELECT count(*) FROM user_settings_docs'), 2, 'a document for each user with settings';
	is stale_users($db), 0, 'each equal to the aggregate (none for the user without: {})';
	my $u1 = psql($db, "SELECT id FROM users WHERE email = 'u1\@example.com'");
	is stored($db, $u1), '{ "a.x" : { "x-1" : {"n": 1, "v": "x-1"}, "y" : {"n": 1, "v": "y"} },'
		. ' "b" : { "x-1" : {"n": 1, "v": "x-1"}, "y" : {"n": 1, "v": "y"} } }', 'u1\'s document';
};

diag sprintf '89-settings-doc: %.1f s', time - $T0;
done_testing;
