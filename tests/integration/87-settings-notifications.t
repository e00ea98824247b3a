#!/usr/bin/perl
# Per-user settings, preferences, notifications and the admins' job queue
# (api.md "Settings", "Me" → preferences, "Notifications", "Admin" → jobs)
# behind nginx against the real pool and PostgreSQL, with fastback-worker
# --once delivering the notification emails to a real SMTP sink:
#
#   - settings: PUT of every kind of JSON value, GET all / one category,
#     DELETE (204 then 404), names outside [a-z0-9_.-]{1,64} (422 naming the
#     path parameter), the 16 KiB value limit (both sides of it), a body
#     without "value", two users who never see or touch each other's
#     settings, the setting.put / setting.delete audit entries, and GET
#     /api/settings equal to the document rebuilt from the category GETs,
#     categories and keys in byte order, after PUTs, an overwrite and
#     DELETEs down to nothing (the concurrency of it: 89-settings-doc.t);
#   - preferences: defaults, partial PUTs, each validation (theme, timezone,
#     language, unknown keys, notifications.*), isolation;
#   - notifications: admin creation (403 for others, 422 for a bad user_id or
#     type), list newest first with unread_count, ?unread=true, marking one
#     or all read, another user's → 404, the email copy (and none when the
#     recipient turned email off: no email.send job, nothing at the sink),
#     limit=2 walks (also over equal created_at, and with notifications
#     created between pages);
#   - admin jobs: list (403, ?state=, 400 for a bad state, pagination) and
#     retry (dead → queued, queued → 409, unknown → 409, non-UUID → 404).
# Idempotency-Key is in 88-idempotency.t.
use strict;
use warnings;
use utf8;

use Encode qw(decode);
use Errno qw(EINTR);
use File::Temp qw(tempdir tempfile);
use FindBin;
use JSON::PP;
use POSIX qw(_exit);
use Test::More;
use Time::HiRes qw(sleep time);
use Time::Local qw(timegm);

use lib "$FindBin::Bin/../lib";
use FastbackSMTP qw(start_smtp);
use FastbackTest;
use FastbackUsers qw(users_setup run_bin problem_ok import_users q_ mails_to dups);

binmode Test::More->builder->$_, ':encoding(UTF-8)'
	for qw(output failure_output todo_output);

my $T0 = time;
my $BUILD = build_dir();
plan skip_all => "$BUILD/fastbackctl not built: run make first" unless -x "$BUILD/fastbackctl";

my $JSON = JSON::PP->new->utf8->canonical->allow_nonref;
my $PW = 'correct horse battery staple 42';
my $UUID = qr/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
my $RFC3339 = qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;
my $TMP = tempdir('fb87-XXXXXX', TMPDIR => 1, CLEANUP => !$ENV{FASTBACK_KEEP_TMP});
users_setup(tmp => $TMP, password => $PW, answer_status => 1);

# ---- local helpers (shared ones: FastbackUsers) ---------------------------------

sub ctl { my ($config, $stdin, @args) = @_; run_bin('fastbackctl', $stdin, '--config', $config, @args) }

# ---- the stack ----------------------------------------------------------------

my $smtp = start_smtp();
my $s = start_stack(
	FCGI_CHILDREN => 2,
	RATE_LIMIT_AUTH_IP => 100000, RATE_LIMIT_GENERAL_IP => 100000,
	RATE_LIMIT_GENERAL_USER => 100000, RATE_LIMIT_LOGIN_FAILURES => 100000,
	RATE_LIMIT_ACCOUNT_FAILURES => 100000, RATE_LIMIT_EXPORT_USER => 100000,
	PASSWORD_ARGON2_MEMORY_KIB => 8192, PASSWORD_ARGON2_ITERATIONS => 1,
	SMTP_URL => $smtp->url, MAIL_FROM => 'Fastback Tests <noreply@example.com>',
	MAIL_TEMPLATES_DIR => repo_root() . '/conf/templates', WORKER_PROCESSES => 1,
	WORKER_POLL_SECONDS => 1,
);
my $U = $s->{url};
my $DB = $s->{conf}{DATABASE_URL};

my $RID = 0;
# api(METHOD, PATH, %http_opts): with a fresh X-Request-Id (in {rid}).
sub api {
	my ($method, $path, %o) = @_;
	my $rid = sprintf 't87-%d-%d', $$, ++$RID;
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

# fastback-worker --once with the pool's configuration: runs what is due.
sub worker_once {
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my ($st, $out, $err) = run_bin('fastback-worker', undef, '--config', $s->{config}, '--once');
	is $st, 0, 'fastback-worker --once exits 0' or diag "$out$err";
}

my ($st, $out, $err) = ctl($s->{config}, "$PW\n", 'user', 'create-admin', 'boss@example.com');
is $st, 0, 'create-admin' or diag "$out$err";
ok import_users($s->{config}, ['alice@example.com', 'Alice Anders'],
	['bob@example.com', 'Bob Brown'], ['carol@example.com', 'Carol Clark'],
	['dave@example.com', 'Dave Dunn']), 'four users imported';
my %ID = map { split /\|/ } split /\n/, psql($DB, "SELECT split_part(email, '\@', 1), id FROM users");
is scalar keys %ID, 5, 'five users';
my %TOK = map { $_ => signin("$_\@example.com") } qw(boss alice bob carol dave);
BAIL_OUT('someone cannot sign in') if grep { !defined } values %TOK;
my ($ADMIN, $A, $B) = @TOK{qw(boss alice bob)};

# ---- settings -----------------------------------------------------------------------

my %VALUES = (
	object => { theme => 'dark', sizes => [1, 2.5, 'x'], nested => { on => JSON::PP::true } },
	array => [1, 'two', undef, JSON::PP::false, { k => 'v' }],
	string => 'Grüße, "quoted" \\ and / slashes',
	number => 42,
	float => 3.25,
	true => JSON::PP::true,
	false => JSON::PP::false,
	null => undef,
	empty_object => {},
	empty_array => [],
);

subtest 'settings: PUT every kind of JSON value, GET them back' => sub {
	for my $k (sort keys %VALUES) {
		my $r = api(PUT => "/api/settings/ui.kinds/$k", token => $A, json => { value => $VALUES{$k} });
		is $r->{status}, 200, "PUT $k: 200" or do { diag $r->{content}; next };
		is_deeply [sort keys %{ $r->{json} || {} }], [qw(category key updated_at value)],
			"PUT $k: {category, key, value, updated_at}";
		is $r->{json}{category}, 'ui.kinds', "PUT $k: category";
		is $r->{json}{key}, $k, "PUT $k: key";
		is_deeply $r->{json}{value}, $VALUES{$k}, "PUT $k: the value echoed";
		ok exists $r->{json}{value}, "PUT $k: value present (also when null)";
		like $r->{json}{updated_at} // '', $RFC3339, "PUT $k: updated_at RFC 3339";
	}
	# Booleans must stay booleans, numbers numbers.
	my $r = api(GET => '/api/settings/ui.kinds', token => $A);
	is $r->{status}, 200, 'GET /api/settings/ui.kinds: 200' or return;
	is_deeply $r->{json}, \%VALUES, 'the category as {key: value}';
	ok JSON::PP::is_bool($r->{json}{true}) && $r->{json}{true}, 'true is a JSON true';
	ok JSON::PP::is_bool($r->{json}{false}) && !$r->{json}{false}, 'false is a JSON false';
	like $r->{content}, qr/"number":42[,}]/, '42 is a JSON number';
	like $r->{content}, qr/"null":null[,}]/, 'null is a JSON null';
	is psql($DB, "SELECT jsonb_typeof(value) FROM user_settings WHERE user_id = '$ID{alice}'"
		. " AND category = 'ui.kinds' AND key = 'string'"), 'string', 'stored as a jsonb string';

	$r = api(PUT => '/api/settings/editor/font_size', token => $A, json => { value => 14 });
	is $r->{status}, 200, 'a second category' or diag $r->{content};
	$r = api(GET => '/api/settings', token => $A);
	is $r->{status}, 200, 'GET /api/settings: 200' or return;
	is_deeply $r->{json}, { settings => { 'ui.kinds' => \%VALUES, editor => { font_size => 14 } } },
		'{"settings": {category: {key: value}}}';
	$r = api(GET => '/api/settings/nothing-here', token => $A);
	is $r->{status}, 200, 'an empty category: 200';
	is_deeply $r->{json}, {}, '... {}';
	problem_ok(api(GET => '/api/settings'), 401, 'unauthorized', undef, 'GET without a token');
	problem_ok(api(PUT => '/api/settings/a/b', json => { value => 1 }), 401, 'unauthorized', undef,
		'PUT without a token');
};

subtest 'settings: overwrite, DELETE → 204 then 404, audit entries' => sub {
	my $r1 = api(PUT => '/api/settings/audit-test/k1', token => $A, json => { value => { v => 1 } });
	is $r1->{status}, 200, 'first PUT' or diag $r1->{content};
	sleep 0.01;
	my $r2 = api(PUT => '/api/settings/audit-test/k1', token => $A, json => { value => [2, 'b'] });
	is $r2->{status}, 200, 'second PUT (overwrite)' or diag $r2->{content};
	is_deeply $r2->{json}{value}, [2, 'b'], 'the new value';
	cmp_ok $r2->{json}{updated_at} // '', 'ge', $r1->{json}{updated_at} // 'z', 'updated_at does not go back';
	is_deeply api(GET => '/api/settings/audit-test', token => $A)->{json}, { k1 => [2, 'b'] },
		'GET has only the new value';
	is psql($DB, "SELECT count(*) FROM user_settings WHERE user_id = '$ID{alice}' AND category = 'audit-test'"),
		1, 'one row';

	my $d = api(DELETE => '/api/settings/audit-test/k1', token => $A);
	is $d->{status}, 204, 'DELETE: 204' or diag $d->{content};
	is $d->{content} // '', '', '... no body';
	problem_ok(api(DELETE => '/api/settings/audit-test/k1', token => $A), 404, 'not_found', undef,
		'DELETE again');
	problem_ok(api(DELETE => '/api/settings/audit-test/never', token => $A), 404, 'not_found', undef,
		'DELETE of a key never set');
	is_deeply api(GET => '/api/settings/audit-test', token => $A)->{json}, {}, 'GET: gone';
	ok !exists api(GET => '/api/settings', token => $A)->{json}{settings}{'audit-test'},
		'GET /api/settings: no empty category left';

	my %row;
	for my $x ([put1 => $r1], [put2 => $r2], [del => $d]) {
		my $line = psql($DB, "SELECT action || '|' || coalesce(actor_id::text, '') || '|'"
			. " || coalesce(target_type, '') || '|' || details::text FROM audit_log WHERE request_id = "
			. q_($x->[1]{rid}));
		my ($action, $actor, $type, $details) = split /\|/, $line, 4;
		$row{ $x->[0] } = { action => $action // '', actor => $actor // '', type => $type // '',
			details => eval { $JSON->decode($details // '') } // {} };
	}
	is $row{put1}{action}, 'setting.put', 'first PUT: a setting.put entry';
	is $row{put1}{actor}, $ID{alice}, '... by alice';
	is $row{put1}{type}, 'setting', '... target_type setting';
	is_deeply [@{ $row{put1}{details} }{qw(category key)}], ['audit-test', 'k1'], '... category and key';
	ok exists $row{put1}{details}{from} && !defined $row{put1}{details}{from}, '... from null (new)';
	is_deeply $row{put1}{details}{to}, { v => 1 }, '... to the value';
	is $row{put2}{action}, 'setting.put', 'second PUT: setting.put';
	is_deeply $row{put2}{details}{from}, { v => 1 }, '... from the old value';
	is_deeply $row{put2}{details}{to}, [2, 'b'], '... to the new one';
	is $row{del}{action}, 'setting.delete', 'DELETE: a setting.delete entry';
	is $row{del}{actor}, $ID{alice}, '... by alice';
	is_deeply $row{del}{details}{from}, [2, 'b'], '... with the deleted value';
	is psql($DB, "SELECT count(*) FROM audit_log WHERE action LIKE 'setting.%'"
		. " AND details->>'category' = 'audit-test'"), 3, 'the 404 DELETEs wrote no entry';
	is psql($DB, "SELECT count(*) FROM audit_log WHERE action = 'setting.put'"
		. " AND details->>'category' = 'ui.kinds'"), scalar keys %VALUES,
		'one setting.put per PUT of the first subtest';
};

subtest 'settings: names outside [a-z0-9_.-]{1,64} → 422 naming the parameter' => sub {
	my $c64 = 'c' x 64;
	my $r = api(PUT => "/api/settings/$c64/${\ ('k' x 64)}", token => $A, json => { value => 1 });
	is $r->{status}, 200, '64-character category and key: 200' or diag $r->{content};
	$r = api(PUT => '/api/settings/a-b_c.9/z.y-x_0', token => $A, json => { value => 1 });
	is $r->{status}, 200, 'every allowed character class: 200' or diag $r->{content};
	my $before = psql($DB, 'SELECT count(*) FROM user_settings');

	my @bad = (
		['UI', 'theme', 'category', 'an upper-case category'],
		['ui', 'Theme', 'key', 'an upper-case key'],
		['c' x 65, 'theme', 'category', 'a 65-character category'],
		['ui', 'k' x 65, 'key', 'a 65-character key'],
		['a%20b', 'theme', 'category', 'a percent-encoded space in the category'],
		['ui', 'a%20b', 'key', 'a percent-encoded space in the key'],
		['ui', 'a%2Fb', 'key', '%2F in the key'],
		['a%2Fb', 'theme', 'category', '%2F in the category'],
		['ui', 'caf%C3%A9', 'key', 'a non-ASCII key'],
		['ui', 'a+b', 'key', 'a "+" in the key'],
	);
	for my $b (@bad) {
		my ($cat, $key, $field, $name) = @$b;
		$r = api(PUT => "/api/settings/$cat/$key", token => $A, json => { value => 1 });
		problem_ok($r, 422, 'validation_failed', $field, "PUT: $name");
		if ($field eq 'category') {
			problem_ok(api(GET => "/api/settings/$cat", token => $A), 422, 'validation_failed',
				'category', "GET: $name");
		}
		problem_ok(api(DELETE => "/api/settings/$cat/$key", token => $A), 422, 'validation_failed',
			$field, "DELETE: $name");
	}
	# %00 never reaches the app: nginx refuses it (its own problem+json 400).
	problem_ok(api(PUT => '/api/settings/ui/a%00b', token => $A, json => { value => 1 }), 400,
		'bad_request', undef, 'PUT: a NUL in the key');
	is psql($DB, 'SELECT count(*) FROM user_settings'), $before, 'nothing stored by the refusals';
};

subtest 'settings: values up to 16 KiB, a body without "value"' => sub {
	# Sizes are those of the compact JSON text.
	my $r = api(PUT => '/api/settings/big/string', token => $A, json => { value => 's' x 16382 });
	is $r->{status}, 200, 'a string of exactly 16384 bytes of JSON: 200' or diag $r->{content};
	problem_ok(api(PUT => '/api/settings/big/string1', token => $A, json => { value => 's' x 16383 }),
		422, 'validation_failed', 'value', 'a string of 16385 bytes of JSON');
	problem_ok(api(PUT => '/api/settings/big/huge', token => $A, json => { value => { t => 'x' x 100000 } }),
		422, 'validation_failed', 'value', 'an object of 100 KB');
	is psql($DB, "SELECT count(*) FROM user_settings WHERE category = 'big' AND key <> 'string'"), 0,
		'neither stored';

	# An array of 16383 bytes as the client sends it (compact): under the
	# limit, although jsonb's own text of it is wider (a space after every
	# ',' and ':'), which the table's bound allows for.
	my $arr = [(1) x 8191];
	is length($JSON->encode($arr)), 16383, '(the array is 16383 bytes of compact JSON)';
	$r = api(PUT => '/api/settings/big/array', token => $A, json => { value => $arr });
	is $r->{status}, 200, 'an array of 16383 bytes of compact JSON: 200'
		or diag "answer: $r->{status} $r->{content}";
	my $obj = { map { sprintf('k%04d', $_) => 1 } 1 .. 1600 };
	my $olen = length $JSON->encode($obj);
	cmp_ok $olen, '<=', 16384, "(the object is $olen bytes of compact JSON)";
	$r = api(PUT => '/api/settings/big/object', token => $A, json => { value => $obj });
	is $r->{status}, 200, "an object of $olen bytes of compact JSON: 200"
		or diag "answer: $r->{status} $r->{content}";

	problem_ok(api(PUT => '/api/settings/ui/nov', token => $A, json => {}), 422, 'validation_failed',
		'value', 'a body without "value"');
	problem_ok(api(PUT => '/api/settings/ui/nov', token => $A, json => { val => 1 }), 422,
		'validation_failed', 'value', 'a body with "val" instead');
	problem_ok(api(PUT => '/api/settings/ui/nov', token => $A, json => { value => 1, extra => 2 }), 422,
		'validation_failed', 'extra', 'an unknown key beside "value"');
	problem_ok(api(PUT => '/api/settings/ui/nov', token => $A, body => '[1]',
		headers => { 'Content-Type' => 'application/json' }), 400, 'invalid_json', undef, 'an array body');
	problem_ok(api(PUT => '/api/settings/ui/nov', token => $A, body => '{"value":',
		headers => { 'Content-Type' => 'application/json' }), 400, 'invalid_json', undef, 'broken JSON');
	is psql($DB, "SELECT count(*) FROM user_settings WHERE category = 'ui' AND key = 'nov'"), 0,
		'nothing stored';
};

subtest 'settings: two users never see or touch each other\'s' => sub {
	my $r = api(PUT => '/api/settings/shared-name/k', token => $B, json => { value => 'bob' });
	is $r->{status}, 200, 'bob sets the same category/key as alice will' or diag $r->{content};
	$r = api(PUT => '/api/settings/shared-name/k', token => $A, json => { value => 'alice' });
	is $r->{status}, 200, 'alice sets hers' or diag $r->{content};
	$r = api(PUT => '/api/settings/alice-only/secret', token => $A, json => { value => 's3cret' });
	is $r->{status}, 200, 'alice sets one bob has not';

	my $ba = api(GET => '/api/settings', token => $B)->{json};
	is_deeply $ba, { settings => { 'shared-name' => { k => 'bob' } } }, 'bob sees only his own setting';
	is_deeply api(GET => '/api/settings/alice-only', token => $B)->{json}, {},
		'bob: alice\'s category is empty';
	is_deeply api(GET => '/api/settings/shared-name', token => $A)->{json}, { k => 'alice' },
		'alice sees her value, not bob\'s';
	problem_ok(api(DELETE => '/api/settings/alice-only/secret', token => $B), 404, 'not_found', undef,
		'bob deletes alice\'s key');
	is_deeply api(GET => '/api/settings/alice-only', token => $A)->{json}, { secret => 's3cret' },
		'... which alice still has';
	is api(DELETE => '/api/settings/shared-name/k', token => $B)->{status}, 204,
		'bob deletes his own shared-name/k';
	is_deeply api(GET => '/api/settings/shared-name', token => $A)->{json}, { k => 'alice' },
		'... alice\'s is still there';
	is psql($DB, "SELECT count(*) FROM user_settings WHERE user_id = '$ID{bob}'"), 0, 'bob has no rows left';
};

# The order of the category and key names in the raw answer of GET
# /api/settings: ([category, [key, ...]], ...). A small tokenizer (JSON::PP
# forgets the order): strings, punctuation and literals, with a stack.
sub settings_order {
	my ($text) = @_;
	my (@stack, @order, $want_key);
	while ($text =~ /\G\s*("(?:[^"\\]|\\.)*"|[{}\[\]:,]|[^\s{}\[\]:,"]+)/gc) {
		my $t = $1;
		if ($t eq '{' || $t eq '[') {
			push @stack, $t;
			$want_key = $t eq '{';
		} elsif ($t eq '}' || $t eq ']') {
			pop @stack;
		} elsif ($t eq ',') {
			$want_key = @stack && $stack[-1] eq '{';
		} elsif ($t eq ':') {
			$want_key = 0;
		} elsif ($want_key) {
			my $name = $JSON->decode($t);
			push @order, [$name, []] if @stack == 2;	# {"settings":{<category>
			push @{ $order[-1][1] }, $name if @stack == 3 && @order;
		}
	}
	return \@order;
}

# GET /api/settings, checked against the document rebuilt from GET
# /api/settings/{category} of each category in @cats (an empty one is not
# in the document), and its names in byte order.
sub settings_doc_ok {
	my ($tok, $name, @cats) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my %want;
	for my $c (@cats) {
		my $one = api(GET => "/api/settings/$c", token => $tok)->{json} || {};
		$want{$c} = $one if %$one;
	}
	my $r = api(GET => '/api/settings', token => $tok);
	is $r->{status}, 200, "$name: GET /api/settings 200" or return;
	is_deeply $r->{json}, { settings => \%want }, "$name: the document rebuilt from the category GETs";
	is_deeply settings_order($r->{content}),
		[map { [$_, [sort keys %{ $want{$_} }]] } sort keys %want],
		"$name: categories and keys in byte order";
}

subtest 'settings: GET /api/settings is the categories, names in byte order' => sub {
	my $tok = $TOK{carol};
	my $r = api(GET => '/api/settings', token => $tok);
	is $r->{content}, '{"settings":{}}', 'no settings: {"settings":{}}';
	# Names where byte order and a natural-language collation differ.
	my @cats = qw(zeta a_b 0cat alpha a.b b a-b);
	my @keys = qw(z y_2 y.1 a-1 a10 a9);
	my @vals = ({ nested => { deep => [1, { x => undef }] }, 'é' => 'ü' }, [3, 'two', JSON::PP::true],
		"quote \" back \\ slash", undef, 0, -1.5, JSON::PP::false);
	my $n = 0;
	for my $c (@cats) {
		for my $k (@keys) {
			$r = api(PUT => "/api/settings/$c/$k", token => $tok, json => { value => $vals[$n++ % @vals] });
			is $r->{status}, 200, "PUT $c/$k" or diag $r->{content};
		}
	}
	settings_doc_ok($tok, 'after the PUTs', @cats);
	is api(PUT => '/api/settings/alpha/y.1', token => $tok, json => { value => 'changed' })->{status}, 200,
		'overwrite alpha/y.1';
	is api(PUT => '/api/settings/alpha/a0', token => $tok, json => { value => 'new' })->{status}, 200,
		'add alpha/a0';
	settings_doc_ok($tok, 'after an overwrite and an addition', @cats);
	is api(GET => '/api/settings/alpha', token => $tok)->{json}{'y.1'}, 'changed', '... the new value';
	is api(DELETE => '/api/settings/b/a10', token => $tok)->{status}, 204, 'DELETE b/a10';
	settings_doc_ok($tok, 'after a DELETE', @cats);
	# A whole category, key by key (there is no route for a category).
	for my $k (keys %{ api(GET => '/api/settings/a.b', token => $tok)->{json} || {} }) {
		is api(DELETE => "/api/settings/a.b/$k", token => $tok)->{status}, 204, "DELETE a.b/$k";
	}
	settings_doc_ok($tok, 'after emptying a.b', @cats);
	ok !exists api(GET => '/api/settings', token => $tok)->{json}{settings}{'a.b'}, '... a.b is gone';
	# Everything.
	for my $c (@cats) {
		for my $k (keys %{ api(GET => "/api/settings/$c", token => $tok)->{json} || {} }) {
			is api(DELETE => "/api/settings/$c/$k", token => $tok)->{status}, 204, "DELETE $c/$k";
		}
	}
	is api(GET => '/api/settings', token => $tok)->{content}, '{"settings":{}}',
		'everything deleted: {"settings":{}} again';
	is psql($DB, "SELECT doc FROM user_settings_docs WHERE user_id = '$ID{carol}'"), '{}',
		'... and the stored document is {}';
};

# ---- preferences ------------------------------------------------------------------------

my %DEFAULTS = (theme => 'system', language => 'en', timezone => 'UTC',
	notifications => { email => JSON::PP::true, push => JSON::PP::false });

subtest 'preferences: defaults and partial PUTs' => sub {
	my $r = api(GET => '/api/me/preferences', token => $A);
	is $r->{status}, 200, 'GET: 200' or return;
	is_deeply $r->{json}, \%DEFAULTS, 'the defaults';
	ok JSON::PP::is_bool($r->{json}{notifications}{email}), 'notifications.email is a JSON boolean';

	my %want = %DEFAULTS;
	my @steps = (
		[{ theme => 'dark' }, theme => 'dark'],
		[{ language => 'en-GB' }, language => 'en-GB'],
		[{ timezone => 'Europe/Paris' }, timezone => 'Europe/Paris'],
		[{ notifications => { push => JSON::PP::true } },
			notifications => { email => JSON::PP::true, push => JSON::PP::true }],
		[{ notifications => { email => JSON::PP::false } },
			notifications => { email => JSON::PP::false, push => JSON::PP::true }],
		[{ theme => 'light', language => 'fr' }, theme => 'light', language => 'fr'],
		[{}, ()],
	);
	for my $step (@steps) {
		my ($body, %change) = @$step;
		%want = (%want, %change);
		my $what = $JSON->encode($body);
		$r = api(PUT => '/api/me/preferences', token => $A, json => $body);
		is $r->{status}, 200, "PUT $what: 200" or diag $r->{content};
		is_deeply $r->{json}, \%want, "PUT $what: the other fields kept";
	}
	is_deeply api(GET => '/api/me/preferences', token => $A)->{json}, \%want, 'GET shows the result';
	$r = api(PUT => '/api/me/preferences', token => $A,
		json => { theme => 'system', language => 'en', timezone => 'UTC',
			notifications => { email => JSON::PP::true, push => JSON::PP::false } });
	is_deeply $r->{json}, \%DEFAULTS, 'a full PUT back to the defaults';
	problem_ok(api(GET => '/api/me/preferences'), 401, 'unauthorized', undef, 'without a token');
};

subtest 'preferences: validation' => sub {
	my $set = api(PUT => '/api/me/preferences', token => $A,
		json => { theme => 'dark', language => 'de', timezone => 'Asia/Tokyo' });
	is $set->{status}, 200, 'a known state first' or diag $set->{content};
	my $known = $set->{json};

	my @bad = (
		[{ theme => 'blue' }, 'theme', 'theme "blue"'],
		[{ theme => 'DARK' }, 'theme', 'theme "DARK"'],
		[{ theme => 5 }, 'theme', 'theme 5'],
		[{ timezone => 'Mars/Base' }, 'timezone', 'timezone "Mars/Base"'],
		[{ timezone => '' }, 'timezone', 'an empty timezone'],
		[{ timezone => 'Europe/Paris; DROP TABLE users' }, 'timezone', 'timezone with SQL'],
		[{ language => 'e' }, 'language', 'language "e"'],
		[{ language => 'english-language-too-long-x' }, 'language',
			'language "english-language-too-long-x" (not a BCP 47 tag: "too" fits no subtag,'
			. ' "x" needs a private-use subtag after it)'],
		[{ language => 'en_GB' }, 'language', 'language "en_GB"'],
		[{ language => 'en-' }, 'language', 'language "en-"'],
		[{ language => '12' }, 'language', 'language "12"'],
		[{ colour => 'red' }, 'colour', 'an unknown key'],
		[{ theme => 'light', colour => 'red' }, 'colour', 'a good key with an unknown one'],
		[{ notifications => { push => 'yes' } }, 'notifications.push', 'notifications.push "yes"'],
		[{ notifications => { email => 1 } }, 'notifications.email', 'notifications.email 1'],
		[{ notifications => { sms => JSON::PP::true } }, 'notifications', 'notifications {"sms": true}'],
		[{ notifications => JSON::PP::true }, 'notifications', 'notifications true'],
	);
	for my $b (@bad) {
		my ($body, $field, $name) = @$b;
		problem_ok(api(PUT => '/api/me/preferences', token => $A, json => $body), 422,
			'validation_failed', $field, $name);
		my $now = api(GET => '/api/me/preferences', token => $A)->{json};
		is_deeply $now, $known, "$name: nothing changed"
			or api(PUT => '/api/me/preferences', token => $A, json => $known);	# for the next case
	}
	# A good field with a bad one: nothing applied.
	problem_ok(api(PUT => '/api/me/preferences', token => $A,
		json => { theme => 'light', timezone => 'Mars/Base' }), 422, 'validation_failed', 'timezone',
		'theme "light" with timezone "Mars/Base"');
	problem_ok(api(PUT => '/api/me/preferences', token => $A,
		json => { theme => 'light', notifications => { push => 'yes' } }), 422, 'validation_failed',
		'notifications.push', 'theme "light" with notifications.push "yes"');
	is_deeply api(GET => '/api/me/preferences', token => $A)->{json}, $known,
		'the refused requests changed nothing';

	for my $tag (qw(en-GB zh-Hant-TW sr-Latn-RS de-CH-1901 es-419)) {
		my $r = api(PUT => '/api/me/preferences', token => $A, json => { language => $tag });
		is $r->{status}, 200, "language \"$tag\": 200" or diag $r->{content};
	}
	for my $tz (qw(Europe/Paris America/Argentina/Buenos_Aires UTC)) {
		my $r = api(PUT => '/api/me/preferences', token => $A, json => { timezone => $tz });
		is $r->{status}, 200, "timezone \"$tz\": 200" or diag $r->{content};
		is $r->{json}{timezone}, $tz, '... stored';
	}
};

subtest 'preferences: isolation between users' => sub {
	my $r = api(PUT => '/api/me/preferences', token => $A, json => { theme => 'dark' });
	is $r->{json}{theme}, 'dark', 'alice: dark';
	is_deeply api(GET => '/api/me/preferences', token => $B)->{json}, \%DEFAULTS,
		'bob still has the defaults';
	$r = api(PUT => '/api/me/preferences', token => $B, json => { theme => 'light', timezone => 'Asia/Tokyo' });
	is $r->{status}, 200, 'bob: light, Tokyo';
	my $ap = api(GET => '/api/me/preferences', token => $A)->{json};
	is $ap->{theme}, 'dark', 'alice still dark';
	isnt $ap->{timezone}, 'Asia/Tokyo', '... and not in bob\'s timezone';
	is psql($DB, "SELECT theme FROM user_preferences WHERE user_id = '$ID{bob}'"), 'light', 'bob\'s row';
	is psql($DB, "SELECT theme FROM user_preferences WHERE user_id = '$ID{alice}'"), 'dark', 'alice\'s row';
	is api(PUT => '/api/me/preferences', token => $B, json => \%DEFAULTS)->{status}, 200, 'bob back to defaults';
};

# ---- notifications --------------------------------------------------------------------------

sub notify {
	my ($uid, %o) = @_;
	return api(POST => '/api/notifications', token => $o{token} // $ADMIN,
		json => { user_id => $uid, type => $o{type} // 'info', title => $o{title} // 'Hello',
			(exists $o{body} ? (body => $o{body}) : (body => 'Some text')),
			(exists $o{data} ? (data => $o{data}) : ()) });
}

sub list {
	my ($tok, $query) = @_;
	return api(GET => '/api/notifications' . ($query // ''), token => $tok);
}

my @ALICE;	# alice's notification ids, oldest first

subtest 'notifications: creation by admins' => sub {
	my $r = notify($ID{alice}, type => 'welcome', title => 'Welcome aboard',
		body => "Line one\nLine two", data => { link => '/start', n => 3 });
	is $r->{status}, 201, 'admin POST: 201' or do { diag $r->{content}; return };
	my $n = $r->{json}{notification} // {};
	is_deeply [sort keys %{ $r->{json} }], ['notification'], '{"notification"}';
	is_deeply [sort keys %$n], [qw(body created_at data id read_at title type)],
		'with id, type, title, body, data, read_at, created_at';
	like $n->{id} // '', $UUID, 'id is a UUID';
	is $n->{type}, 'welcome', 'type';
	is $n->{title}, 'Welcome aboard', 'title';
	is $n->{body}, "Line one\nLine two", 'body';
	is_deeply $n->{data}, { link => '/start', n => 3 }, 'data';
	ok exists $n->{read_at} && !defined $n->{read_at}, 'read_at null';
	like $n->{created_at} // '', $RFC3339, 'created_at RFC 3339';
	push @ALICE, $n->{id};
	is psql($DB, "SELECT user_id FROM notifications WHERE id = " . q_($n->{id} // '')), $ID{alice},
		'stored for alice';
	is psql($DB, "SELECT count(*) FROM audit_log WHERE action = 'notification.create' AND request_id = "
		. q_($r->{rid})), 1, 'audit-logged';

	$r = api(POST => '/api/notifications', token => $ADMIN,
		json => { user_id => $ID{alice}, type => 'info', title => 'Minimal' });
	is $r->{status}, 201, 'without body and data: 201' or diag $r->{content};
	is $r->{json}{notification}{body}, '', '... body ""';
	is_deeply $r->{json}{notification}{data}, {}, '... data {}';
	push @ALICE, $r->{json}{notification}{id};

	my $count = psql($DB, 'SELECT count(*) FROM notifications');
	problem_ok(notify($ID{bob}, token => $A), 403, 'forbidden', undef, 'a non-admin');
	problem_ok(api(POST => '/api/notifications', json => { user_id => $ID{bob}, type => 'info',
		title => 'x' }), 401, 'unauthorized', undef, 'without a token');
	problem_ok(notify('00000000-0000-4000-8000-000000000000'), 422, 'validation_failed', 'user_id',
		'an unknown user_id');
	problem_ok(notify('not-a-uuid'), 422, 'validation_failed', 'user_id', 'a user_id that is no UUID');
	problem_ok(notify($ID{bob}, type => 'Bad Type'), 422, 'validation_failed', 'type', 'type "Bad Type"');
	problem_ok(notify($ID{bob}, type => 'a/b'), 422, 'validation_failed', 'type', 'type "a/b"');
	problem_ok(notify($ID{bob}, type => ''), 422, 'validation_failed', 'type', 'an empty type');
	problem_ok(notify($ID{bob}, type => 't' x 65), 422, 'validation_failed', 'type', 'a 65-character type');
	problem_ok(notify($ID{bob}, title => ''), 422, 'validation_failed', 'title', 'an empty title');
	problem_ok(notify($ID{bob}, data => [1]), 422, 'validation_failed', 'data', 'data an array');
	problem_ok(api(POST => '/api/notifications', token => $ADMIN, json => { user_id => $ID{bob},
		type => 'info' }), 422, 'validation_failed', 'title', 'without a title');
	is psql($DB, 'SELECT count(*) FROM notifications'), $count, 'the refusals stored nothing';
};

subtest 'notifications: list, unread, read one, read all' => sub {
	for my $i (3 .. 5) {
		my $r = notify($ID{alice}, title => "Alice $i");
		is $r->{status}, 201, "alice's notification $i" or diag $r->{content};
		push @ALICE, $r->{json}{notification}{id};
	}
	my $r = notify($ID{bob}, title => 'For Bob');
	is $r->{status}, 201, 'one for bob';
	my $bobs = $r->{json}{notification}{id};

	$r = list($A);
	is $r->{status}, 200, 'GET: 200' or return;
	is_deeply [sort keys %{ $r->{json} }], [qw(data next_cursor unread_count)],
		'{"data","next_cursor","unread_count"}';
	is_deeply [map { $_->{id} } @{ $r->{json}{data} }], [reverse @ALICE], 'alice\'s five, newest first';
	is $r->{json}{unread_count}, 5, 'unread_count 5';
	is $r->{json}{next_cursor}, undef, 'next_cursor null';
	is_deeply [sort keys %{ $r->{json}{data}[0] || {} }], [qw(body created_at data id read_at title type)],
		'items: id, type, title, body, data, read_at, created_at';
	ok !(grep { $_->{id} eq $bobs } @{ $r->{json}{data} }), 'bob\'s is not in alice\'s list';
	is_deeply [map { $_->{id} } @{ list($B)->{json}{data} }], [$bobs], 'bob sees only his';
	is list($B)->{json}{unread_count}, 1, 'bob: unread_count 1';

	# Read one.
	my $target = $ALICE[1];
	$r = api(PUT => "/api/notifications/$target/read", token => $A);
	is $r->{status}, 200, 'PUT /{id}/read: 200' or diag $r->{content};
	is $r->{json}{id}, $target, 'the notification';
	like $r->{json}{read_at} // '', $RFC3339, 'read_at set';
	my $read_at = $r->{json}{read_at};
	is list($A)->{json}{unread_count}, 4, 'unread_count 4';
	$r = list($A, '?unread=true');
	is_deeply [map { $_->{id} } @{ $r->{json}{data} }], [reverse grep { $_ ne $target } @ALICE],
		'?unread=true: the other four, newest first';
	is $r->{json}{unread_count}, 4, '... unread_count 4';
	is_deeply [map { $_->{id} } @{ list($A, '?unread=false')->{json}{data} }], [reverse @ALICE],
		'?unread=false: all five';
	my ($it) = grep { $_->{id} eq $target } @{ list($A)->{json}{data} };
	is $it->{read_at}, $read_at, 'the list shows its read_at';
	sleep 1.05;
	$r = api(PUT => "/api/notifications/$target/read", token => $A);
	is $r->{status}, 200, 'read again: 200';
	is $r->{json}{read_at}, $read_at, '... read_at unchanged';
	is list($A)->{json}{unread_count}, 4, '... unread_count still 4';

	# Another user's.
	problem_ok(api(PUT => "/api/notifications/$ALICE[0]/read", token => $B), 404, 'not_found', undef,
		'bob marks alice\'s notification read');
	is psql($DB, "SELECT read_at IS NULL FROM notifications WHERE id = '$ALICE[0]'"), 't',
		'... it stays unread';
	problem_ok(api(PUT => '/api/notifications/00000000-0000-4000-8000-000000000000/read', token => $A),
		404, 'not_found', undef, 'an unknown id');
	problem_ok(api(PUT => '/api/notifications/nope/read', token => $A), 404, 'not_found', undef,
		'a non-UUID id');
	problem_ok(list($A, '?unread=maybe'), 400, 'bad_request', undef, '?unread=maybe');
	problem_ok(list($A, '?limit=0'), 400, 'bad_request', undef, '?limit=0');
	problem_ok(list($A, '?limit=101'), 400, 'bad_request', undef, '?limit=101');
	problem_ok(list($A, '?cursor=garbage'), 400, 'bad_request', undef, 'a garbage cursor');
	problem_ok(list(undef), 401, 'unauthorized', undef, 'without a token');

	# Read all.
	$r = api(POST => '/api/notifications/read-all', token => $A);
	is $r->{status}, 204, 'POST /read-all: 204' or diag $r->{content};
	is $r->{content} // '', '', '... no body';
	$r = list($A);
	is $r->{json}{unread_count}, 0, 'unread_count 0';
	ok !(grep { !defined $_->{read_at} } @{ $r->{json}{data} }), 'every item has read_at';
	is_deeply list($A, '?unread=true')->{json}{data}, [], '?unread=true: empty';
	($it) = grep { $_->{id} eq $target } @{ $r->{json}{data} };
	is $it->{read_at}, $read_at, 'the one read before keeps its read_at';
	is list($B)->{json}{unread_count}, 1, 'bob\'s still unread';
	is api(POST => '/api/notifications/read-all', token => $A)->{status}, 204, 'read-all again: 204';
};

subtest 'notifications: the email copy follows the preferences' => sub {
	my $r = api(PUT => '/api/me/preferences', token => $TOK{carol},
		json => { notifications => { email => JSON::PP::false } });
	is $r->{status}, 200, 'carol turns email off' or diag $r->{content};
	my $t = time;
	my $quiet = "Quiet note $t";
	my $loud = "Loud note $t";
	$r = notify($ID{carol}, title => $quiet, body => 'for carol');
	is $r->{status}, 201, 'a notification for carol: 201' or diag $r->{content};
	is scalar @{ list($TOK{carol})->{json}{data} }, 1, '... in her list all the same';
	$r = notify($ID{dave}, title => $loud, body => "Dear Dave,\nthe body.", type => 'mail.test');
	is $r->{status}, 201, 'one for dave (defaults: email on)' or diag $r->{content};

	my $jobs = sub {
		my ($email, $title) = @_;
		return psql($DB, "SELECT count(*) FROM jobs WHERE kind = 'email.send' AND payload->>'to' = "
			. q_($email) . " AND payload->'vars'->>'title' = " . q_($title));
	};
	is $jobs->('dave@example.com', $loud), 1, 'an email.send job for dave\'s notification';
	is $jobs->('carol@example.com', $quiet), 0, 'no email.send job for carol\'s';
	# (The worker redacts a finished job's payload: keep the id.)
	my $dave_job = psql($DB, "SELECT id FROM jobs WHERE kind = 'email.send'"
		. " AND payload->'vars'->>'title' = " . q_($loud));
	is psql($DB, "SELECT count(*) FROM jobs WHERE kind = 'email.send'"
		. " AND payload->>'to' = 'carol\@example.com'"), 0, 'no email.send job to carol at all';

	worker_once();
	my @m;
	ok((wait_until { @m = mails_to($smtp, 'dave@example.com', qr/^\Q$loud\E$/); @m } 15),
		'dave\'s email arrived at the sink');
	is scalar @m, 1, '... once';
	if (@m) {
		like $m[0]{raw}, qr/the body\./, '... with the body';
		like $m[0]{raw}, qr/Dave Dunn/, '... and his name';
	}
	is psql($DB, "SELECT state FROM jobs WHERE id = " . q_($dave_job)), 'succeeded', 'its job succeeded';
	sleep 0.5;
	is scalar(grep { grep { lc $_ eq 'carol@example.com' } @{ $_->{envelope}{rcpt_tos} || [] } }
		$smtp->messages), 0, 'the sink got nothing for carol after the worker ran';

	# Email on again: the next one is mailed.
	is api(PUT => '/api/me/preferences', token => $TOK{carol},
		json => { notifications => { email => JSON::PP::true } })->{status}, 200, 'carol turns email on';
	$r = notify($ID{carol}, title => "$quiet again");
	is $jobs->('carol@example.com', "$quiet again"), 1, 'now an email.send job for carol';
	worker_once();
	ok((wait_until { mails_to($smtp, 'carol@example.com', qr/^\Q$quiet again\E$/) } 15),
		'... and the email');
};

# walk($token, $query, $limit, $between): ids page by page (at most 50
# pages), $between->($page_number) after each page but the last.
sub walk {
	my ($tok, $query, $limit, $between) = @_;
	my (@ids, $cursor, $n, @sizes);
	while ($n++ < 50) {
		my $r = list($tok, "?limit=$limit$query" . (defined $cursor ? "&cursor=$cursor" : ''));
		if ($r->{status} != 200) {
			fail("page $n: $r->{status}");
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

subtest 'notifications: limit=2 walks' => sub {
	# A user with nothing yet: a fresh import.
	ok import_users($s->{config}, ['erin@example.com', 'Erin Evans']), 'erin imported';
	my $erin = psql($DB, "SELECT id FROM users WHERE email = 'erin\@example.com'");
	my $tok = signin('erin@example.com') or return;
	my @made;
	for my $i (1 .. 7) {
		my $r = notify($erin, title => "Erin $i");
		is $r->{status}, 201, "erin's notification $i" or return;
		push @made, $r->{json}{notification}{id};
	}
	my @newest = reverse @made;
	my ($ids, $sizes) = walk($tok, '', 2);
	is_deeply $sizes, [2, 2, 2, 1], 'pages of 2, 2, 2, 1';
	is_deeply $ids, \@newest, 'each of the 7 once, newest first';
	is_deeply [dups(@$ids)], [], 'no repeats';

	# New ones between pages: the walk still returns exactly the 7 that
	# existed when it began, in order; the new ones are newer than its
	# cursor.
	my @late;
	($ids) = walk($tok, '', 2, sub {
		for my $j (1 .. 2) {
			my $r = notify($erin, title => "Late $_[0].$j");
			push @late, $r->{json}{notification}{id} if $r->{status} == 201;
		}
	});
	is scalar @late, 6, 'six created during the walk';
	is_deeply [grep { my $x = $_; !grep { $_ eq $x } @late } @$ids], \@newest,
		'the 7 that existed: each once, newest first, none skipped';
	is_deeply [dups(@$ids)], [], 'no repeats';
	is_deeply [grep { my $x = $_; grep { $_ eq $x } @late } @$ids], [],
		'none of the later ones (they are newer than the cursor)';

	# Same created_at for several (one statement): the id breaks the tie.
	psql($DB, "INSERT INTO notifications (user_id, type, title)"
		. " SELECT '$erin', 'bulk', 'Bulk ' || g FROM generate_series(1, 5) g");
	my @all = split /\n/, psql($DB, "SELECT id FROM notifications WHERE user_id = '$erin'"
		. " ORDER BY created_at DESC, id DESC");
	is scalar @all, 18, '18 for erin now';
	($ids, $sizes) = walk($tok, '', 2);
	is_deeply $ids, \@all, 'a walk over 18 with 5 of equal created_at: each once, in order';
	($ids) = walk($tok, '', 3);
	is_deeply $ids, \@all, '... and with limit=3';
	api(PUT => "/api/notifications/$_/read", token => $tok) for @all[0, 3, 4, 9];
	my @unread = grep { my $x = $_; !grep { $_ eq $x } @all[0, 3, 4, 9] } @all;
	($ids) = walk($tok, '&unread=true', 2);
	is_deeply $ids, \@unread, '?unread=true walk: the 14 unread, each once, in order';
};

# ---- admin jobs --------------------------------------------------------------------------

subtest 'admin jobs: list, filter, pagination' => sub {
	problem_ok(api(GET => '/api/admin/jobs', token => $A), 403, 'forbidden', undef, 'a non-admin');
	problem_ok(api(GET => '/api/admin/jobs'), 401, 'unauthorized', undef, 'without a token');
	my $dead = psql($DB, "INSERT INTO jobs (kind, state, attempt, max_attempts, last_error, finished_at)"
		. " VALUES ('noop', 'dead', 3, 3, 'x', now()) RETURNING id");
	my $queued = psql($DB, "INSERT INTO jobs (kind, run_at) VALUES ('noop', now() + interval '1 day')"
		. " RETURNING id");
	like $dead, $UUID, 'a dead job inserted';

	my $r = api(GET => '/api/admin/jobs?state=dead', token => $ADMIN);
	is $r->{status}, 200, '?state=dead: 200' or return;
	my @d = @{ $r->{json}{data} || [] };
	ok((grep { $_->{id} eq $dead } @d), '... has the dead job');
	is_deeply [grep { $_->{state} ne 'dead' } @d], [], '... and only dead jobs';
	my ($j) = grep { $_->{id} eq $dead } @d;
	is_deeply [@{ $j || {} }{qw(kind state attempt max_attempts last_error)}], ['noop', 'dead', 3, 3, 'x'],
		'... kind, state, attempt, max_attempts, last_error';
	like $j->{finished_at} // '', $RFC3339, '... finished_at';
	is scalar @d, psql($DB, "SELECT count(*) FROM jobs WHERE state = 'dead'"), '... all of them';

	$r = api(GET => '/api/admin/jobs?state=queued', token => $ADMIN);
	my @q = @{ $r->{json}{data} || [] };
	ok((grep { $_->{id} eq $queued } @q), '?state=queued: has the queued job');
	ok !(grep { $_->{id} eq $dead } @q), '... not the dead one';
	is_deeply [grep { $_->{state} ne 'queued' } @q], [], '... only queued jobs';
	$r = api(GET => '/api/admin/jobs?state=succeeded', token => $ADMIN);
	ok scalar(@{ $r->{json}{data} || [] }) >= 1 && !(grep { $_->{state} ne 'succeeded' } @{ $r->{json}{data} }),
		'?state=succeeded: the sent emails, only succeeded';

	problem_ok(api(GET => '/api/admin/jobs?state=bogus', token => $ADMIN), 400, 'bad_request', undef,
		'?state=bogus');
	problem_ok(api(GET => '/api/admin/jobs?state=DEAD', token => $ADMIN), 400, 'bad_request', undef,
		'?state=DEAD');
	problem_ok(api(GET => '/api/admin/jobs?limit=0', token => $ADMIN), 400, 'bad_request', undef, '?limit=0');
	problem_ok(api(GET => '/api/admin/jobs?cursor=zzz', token => $ADMIN), 400, 'bad_request', undef,
		'a garbage cursor');

	my @all = split /\n/, psql($DB, 'SELECT id FROM jobs ORDER BY created_at DESC, id DESC');
	cmp_ok scalar @all, '>', 4, scalar(@all) . ' jobs in all';
	my (@ids, $cursor, $pages);
	while ($pages++ < 100) {
		$r = api(GET => '/api/admin/jobs?limit=2' . (defined $cursor ? "&cursor=$cursor" : ''), token => $ADMIN);
		last unless $r->{status} == 200;
		push @ids, map { $_->{id} } @{ $r->{json}{data} || [] };
		$cursor = $r->{json}{next_cursor} // last;
	}
	is_deeply \@ids, \@all, 'a limit=2 walk: every job once, newest first';
	is $pages, int((@all + 1) / 2), "... in ${\ int((@all + 1) / 2)} pages";
	my @dead_ids = split /\n/, psql($DB, "SELECT id FROM jobs WHERE state = 'dead' ORDER BY created_at DESC, id DESC");
	psql($DB, "INSERT INTO jobs (kind, state, attempt, max_attempts, last_error, finished_at)"
		. " SELECT 'noop', 'dead', 1, 1, 'y' || g, now() FROM generate_series(1, 4) g");
	@dead_ids = split /\n/, psql($DB, "SELECT id FROM jobs WHERE state = 'dead' ORDER BY created_at DESC, id DESC");
	(@ids, $cursor, $pages) = ();
	while ($pages++ < 100) {
		$r = api(GET => '/api/admin/jobs?state=dead&limit=2' . (defined $cursor ? "&cursor=$cursor" : ''),
			token => $ADMIN);
		last unless $r->{status} == 200;
		push @ids, map { $_->{id} } @{ $r->{json}{data} || [] };
		$cursor = $r->{json}{next_cursor} // last;
	}
	is_deeply \@ids, \@dead_ids, '?state=dead&limit=2 walk over ' . scalar(@dead_ids)
		. ' dead jobs (4 of one created_at): each once, in order';
};

subtest 'admin jobs: retry' => sub {
	my $dead = psql($DB, "INSERT INTO jobs (kind, state, attempt, max_attempts, last_error, finished_at)"
		. " VALUES ('noop', 'dead', 3, 3, 'x', now()) RETURNING id");
	my $queued = psql($DB, "INSERT INTO jobs (kind, run_at) VALUES ('noop', now() + interval '1 day')"
		. " RETURNING id");
	problem_ok(api(POST => "/api/admin/jobs/$dead/retry", token => $A), 403, 'forbidden', undef,
		'a non-admin');
	is psql($DB, "SELECT state FROM jobs WHERE id = '$dead'"), 'dead', '... the job stays dead';

	my $r = api(POST => "/api/admin/jobs/$dead/retry", token => $ADMIN);
	is $r->{status}, 200, 'retry of a dead job: 200' or diag $r->{content};
	is $r->{json}{id}, $dead, '... its id';
	is $r->{json}{state}, 'queued', '... state queued';
	is psql($DB, "SELECT state || '/' || attempt || '/' || (finished_at IS NULL)"
		. " || '/' || (run_at <= now()) FROM jobs WHERE id = '$dead'"), 'queued/0/true/true',
		'stored: queued, attempt 0, finished_at cleared, due now';
	is psql($DB, "SELECT count(*) FROM audit_log WHERE action = 'admin.job.retry' AND target_id = '$dead'"
		. " AND actor_id = '$ID{boss}'"), 1, 'audit-logged';
	my ($j) = grep { $_->{id} eq $dead } @{ api(GET => '/api/admin/jobs?state=queued&limit=100',
		token => $ADMIN)->{json}{data} || [] };
	ok $j, 'listed under ?state=queued now';

	problem_ok(api(POST => "/api/admin/jobs/$dead/retry", token => $ADMIN), 409, 'conflict', undef,
		'retry again (now queued)');
	problem_ok(api(POST => "/api/admin/jobs/$queued/retry", token => $ADMIN), 409, 'conflict', undef,
		'retry of a queued job');
	my $succ = psql($DB, "SELECT id FROM jobs WHERE state = 'succeeded' LIMIT 1");
	problem_ok(api(POST => "/api/admin/jobs/$succ/retry", token => $ADMIN), 409, 'conflict', undef,
		'retry of a succeeded job');
	is psql($DB, "SELECT state FROM jobs WHERE id = '$succ'"), 'succeeded', '... which stays succeeded';
	my $cancelled = psql($DB, "INSERT INTO jobs (kind, state, finished_at) VALUES ('noop', 'cancelled', now())"
		. " RETURNING id");
	is api(POST => "/api/admin/jobs/$cancelled/retry", token => $ADMIN)->{status}, 200,
		'retry of a cancelled job: 200';
	# The product answers 409 for an unknown id (admin_job_retry: "or there
	# is no such job"); api.md allows either.
	problem_ok(api(POST => '/api/admin/jobs/00000000-0000-4000-8000-000000000000/retry', token => $ADMIN),
		409, 'conflict', undef, 'an unknown id');
	problem_ok(api(POST => '/api/admin/jobs/not-a-uuid/retry', token => $ADMIN), 404, 'not_found', undef,
		'a non-UUID id');
	problem_ok(api(GET => "/api/admin/jobs/$dead/retry", token => $ADMIN), 405, 'method_not_allowed', undef,
		'GET on the retry route');
};

diag sprintf '87-settings-notifications: %.1f s', time - $T0;
done_testing;
