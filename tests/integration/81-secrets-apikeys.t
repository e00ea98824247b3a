#!/usr/bin/perl
# Secrets at rest and users' API keys (api.md "Me" api-keys rows; crypto.h;
# `fastbackctl keys rotate`), over HTTP behind nginx against the real pool
# and PostgreSQL, TOTP codes from oathtool, and a stand-in for the AI
# providers: a small HTTP server started here that answers as OpenAI, Gemini
# and Anthropic do when a key is checked, and records what it was sent.
#
#   - API keys: PUT (provider, last4, never the key), GET (never the key),
#     unknown provider → 404, a key with a space → 422, DELETE → 204 then 404,
#     API_KEY_PROVIDERS limits the providers;
#   - /test: the exact request each provider gets (path, auth headers), a
#     good key → valid true (and GET shows it with validated_at), a refused
#     key → valid false, a slow provider (past API_KEY_TEST_TIMEOUT_MS), a
#     provider that is down or answers 500 → 502 upstream_error, and the
#     stored verdict unchanged;
#   - pg_dump of the database holds no TOTP secret (base32, hex, base64 of
#     its bytes: confirmed and pending) and no API key in clear; every sealed
#     value is "v1.k1.…";
#   - a sealed secret copied into another user's row does not open there (the
#     row is the associated data): that user's codes and the other user's
#     codes are refused (500 internal since ec04d00: a stored secret that
#     does not open is the server's fault), the refusal logged, no responder
#     lost; a flipped character (TOTP secret, API key) is refused without a
#     200 or a crash; restored values work again;
#   - key rotation round trip: k1 → k2,k1 (works) → keys rotate (every value
#     "v1.k2.", again: 0) → k2 alone (works, a pending enrollment too) → k3
#     alone (refused with an error, no crash).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";

use Errno qw(EINTR);
use Fcntl qw(:flock);
use File::Temp qw(tempdir tempfile);
use IO::Socket::INET;
use JSON::PP;
use MIME::Base64 qw(encode_base64 decode_base64url);
use POSIX qw(_exit setpgid WNOHANG);
use Test::More;
use Time::HiRes qw(sleep time);

use FastbackTest;
use FastbackTOTP qw(fastback_vars_re run_cmd totp_at totp_step next_code);

my $T0 = time;
my $BUILD = build_dir();
my $PG_DUMP = '/usr/lib/postgresql/15/bin/pg_dump';
for my $need (["$BUILD/fastbackctl", 'run make first'], ['/usr/bin/oathtool', 'apt-get install oathtool'],
	[$PG_DUMP, 'apt-get install postgresql-15']) {
	plan skip_all => "$need->[0] missing: $need->[1]" unless -x $need->[0];
}

my $JSON = JSON::PP->new->utf8->canonical;
my $PW = 'correct horse battery staple 42';
my $TMP = tempdir('fb81-XXXXXX', TMPDIR => 1, CLEANUP => !$ENV{FASTBACK_KEEP_TMP});

# ---- local helpers -------------------------------------------------------------

sub slurp { open my $fh, '<', $_[0] or return ''; local $/; scalar <$fh> }

sub random_bytes {
	my ($n) = @_;
	open my $fh, '<:raw', '/dev/urandom' or die "/dev/urandom: $!";
	read($fh, my $b, $n) == $n or die "/dev/urandom: short read";
	return $b;
}
sub random_key { my ($n) = @_; my $s = unpack 'H*', random_bytes($n); return $s }

my $FASTBACK_VARS = fastback_vars_re();

# Whether a step is still inside the ±1 window for the next second or so.
sub in_window { my ($s) = @_; my $t = time; return $s >= int(($t + 2) / 30) - 1 && $s <= int($t / 30) + 1 }

# The secret's bytes as oathtool sees them ("Hex secret" of -v).
sub secret_hex {
	my ($secret) = @_;
	my ($st, $out) = run_cmd('/usr/bin/oathtool', '--totp', '-b', '-v', $secret);
	return $out =~ /^Hex secret:\s*([0-9a-f]+)$/m ? $1 : die "oathtool -v: no hex secret:\n$out";
}

# ---- the provider stand-in --------------------------------------------------------

# A forked HTTP/1.1 server on 127.0.0.1:$port (one process per connection),
# in its own process group. Every request is appended to requests.jsonl as
# {method, target, headers: [[name, value]...]}. The file "mode" decides the
# answer: normal (by key: "good-…" is accepted), slow (3 s, then 200), 500.
#   OpenAI     GET /v1/models      Authorization: Bearer KEY
#   Gemini     GET /v1beta/models  x-goog-api-key: KEY
#   Anthropic  GET /v1/models      x-api-key: KEY, anthropic-version: …
my @MOCKS;
sub start_mock {
	my $dir = tempdir('mock-XXXXXX', DIR => $TMP);
	my $m = { dir => $dir, log => "$dir/requests.jsonl", port => free_port() };
	$m->{mode} = sub { open my $fh, '>', "$dir/mode" or die; print $fh $_[0]; close $fh };
	$m->{start} = sub {
		my $srv;
		for (1 .. 50) {
			$srv = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $m->{port},
				Proto => 'tcp', Listen => 64, ReuseAddr => 1) and last;
			sleep 0.1;
		}
		die "mock: listen on $m->{port}: $!" unless $srv;
		my $pid = fork // die "fork: $!";
		if (!$pid) {
			setpgid(0, 0);
			$SIG{CHLD} = 'IGNORE';
			$SIG{PIPE} = 'IGNORE';
			$SIG{$_} = 'DEFAULT' for qw(INT TERM HUP);
			while (1) {
				my $c = $srv->accept or next;
				my $k = fork;
				if (defined $k && !$k) {
					close $srv;
					eval { mock_handle($c, $dir) };
					_exit(0);
				}
				close $c;
			}
		}
		setpgid($pid, $pid);
		close $srv;
		$m->{pid} = $pid;
	};
	$m->{stop} = sub {
		return unless $m->{pid};
		kill KILL => -$m->{pid};
		waitpid $m->{pid}, 0;
		delete $m->{pid};
	};
	$m->{requests} = sub {
		return map { $JSON->decode($_) } grep { /\S/ } split /\n/, slurp($m->{log});
	};
	$m->{mode}->('normal');
	$m->{start}->();
	push @MOCKS, $m;
	return $m;
}
END { my $st = $?; $_->{stop}->() for @MOCKS; $? = $st; }

sub mock_handle {
	my ($c, $dir) = @_;
	local $SIG{ALRM} = sub { die "timeout\n" };
	alarm 10;
	local $/ = "\n";
	my $line = <$c> // return;
	my ($method, $target) = $line =~ /^(\S+) (\S+) HTTP\/1\.[01]\r?\n$/ or return;
	my (@h, %h);
	while (defined(my $l = <$c>)) {
		$l =~ s/\r?\n\z//;
		last if $l eq '';
		my ($n, $v) = $l =~ /^([^:\s]+):[ \t]*(.*?)[ \t]*$/ or next;
		push @h, [$n, $v];
		push @{ $h{lc $n} }, $v;
	}
	open my $fh, '>>', "$dir/requests.jsonl" or die;
	flock $fh, LOCK_EX;
	print $fh $JSON->encode({ method => $method, target => $target, headers => \@h }), "\n";
	close $fh;

	my $mode = slurp("$dir/mode") || 'normal';
	my ($st, $body);
	my $one = sub { my ($n) = @_; my $v = $h{$n} || []; @$v == 1 ? $v->[0] : undef };
	if ($mode eq 'slow') {
		sleep 3;
		($st, $body) = (200, { data => [] });
	} elsif ($mode eq '500') {
		($st, $body) = (500, { error => { message => 'The server had an error processing your request.', type => 'server_error' } });
	} elsif ($method ne 'GET') {
		($st, $body) = (405, { error => { message => 'method not allowed' } });
	} elsif ($target eq '/v1/models' && defined $one->('authorization')) {	# OpenAI
		($st, $body) = ($one->('authorization') =~ /^Bearer good-\S+$/)
			? (200, { object => 'list', data => [] })
			: (401, { error => { message => 'Incorrect API key provided.', type => 'invalid_request_error',
				param => undef, code => 'invalid_api_key' } });
	} elsif ($target eq '/v1/models' && defined $one->('x-api-key')) {	# Anthropic
		if (!defined $one->('anthropic-version')) {
			($st, $body) = (400, { type => 'error', error => { type => 'invalid_request_error',
				message => 'anthropic-version: header is required' } });
		} else {
			($st, $body) = ($one->('x-api-key') =~ /^good-\S+$/)
				? (200, { data => [], has_more => JSON::PP::false, first_id => undef, last_id => undef })
				: (401, { type => 'error', error => { type => 'authentication_error', message => 'invalid x-api-key' } });
		}
	} elsif ($target eq '/v1beta/models') {	# Gemini
		($st, $body) = (($one->('x-goog-api-key') // '') =~ /^good-\S+$/)
			? (200, { models => [] })
			: (401, { error => { code => 401, message => 'API key not valid. Please pass a valid API key.',
				status => 'UNAUTHENTICATED' } });
	} elsif ($target =~ m{^/v1(?:beta)?/models}) {
		($st, $body) = (401, { error => { message => 'no key' } });
	} else {
		($st, $body) = (404, { error => { message => 'not found' } });
	}
	my $text = $JSON->encode($body);
	my %reason = (200 => 'OK', 400 => 'Bad Request', 401 => 'Unauthorized', 404 => 'Not Found',
		405 => 'Method Not Allowed', 500 => 'Internal Server Error');
	print $c "HTTP/1.1 $st $reason{$st}\r\nContent-Type: application/json\r\nContent-Length: "
		. length($text) . "\r\nConnection: close\r\n\r\n$text";
	close $c;
}

# ---- the stack ------------------------------------------------------------------

my $mock = start_mock();
my %KEYS = map { $_ => encode_base64(random_bytes(32), '') } qw(A B C);
my $DB = fresh_database();
my %BASE = (
	# One secret and issuer (not the default PUBLIC_URL, whose port changes):
	# access tokens outlive restarts.
	DATABASE_URL => $DB, JWT_SECRET => random_key(24), JWT_ISSUER => 'http://fastback.test',
	RATE_LIMIT_AUTH_IP => 100000, RATE_LIMIT_GENERAL_IP => 100000,
	RATE_LIMIT_GENERAL_USER => 100000, RATE_LIMIT_LOGIN_FAILURES => 100000,
	RATE_LIMIT_ACCOUNT_FAILURES => 100000,
	PASSWORD_ARGON2_MEMORY_KIB => 8192, PASSWORD_ARGON2_ITERATIONS => 1,
	OPENAI_API_BASE => "http://127.0.0.1:$mock->{port}/v1",
	GEMINI_API_BASE => "http://127.0.0.1:$mock->{port}",
	ANTHROPIC_API_BASE => "http://127.0.0.1:$mock->{port}",
	API_KEY_TEST_TIMEOUT_MS => 500,
);
my $S;
my @RESPONDERS;
my %POOL_ERRORS;	# pool name => error lines of its log
my $POOL_NAME;

# (Re)start the pool and nginx on the same database with ENCRYPTION_KEYS
# $keys (and more configuration).
sub stop_stack {
	return unless $S;
	is_deeply [sort { $a <=> $b } $S->children], \@RESPONDERS, "pool $POOL_NAME: no responder died";
	$POOL_ERRORS{$POOL_NAME} = [grep { ($_->{level} // '') =~ /^(?:error|fatal)/ } $S->log_lines];
	$S->{nginx}->stop;
	is $S->stop, 0, "pool $POOL_NAME stops cleanly";
	undef $S;
}
sub stack {
	my ($name, $keys, %more) = @_;
	stop_stack();
	$S = start_stack(%BASE, ENCRYPTION_KEYS => $keys, %more);
	$POOL_NAME = $name;
	@RESPONDERS = sort { $a <=> $b } $S->children;
	return $S;
}

my $RID = 0;
sub api {
	my ($method, $path, %o) = @_;
	my $rid = delete $o{rid} // sprintf 't81-%d-%d', $$, ++$RID;
	my %h = (%{ delete $o{headers} || {} }, 'X-Request-Id' => $rid);
	my $r = http($method, "$S->{url}$path", %o, headers => \%h);
	$r->{rid} = $rid;
	return $r;
}
sub sc { my ($r) = @_; ($r->{status} // '?') . ' ' . ((ref $r->{json} eq 'HASH' && $r->{json}{code}) // '') }

sub login { my ($u) = @_; api(POST => '/api/auth/login', json => { email => $u->{email}, password => $PW }) }
sub challenge {
	my ($u) = @_;
	my $r = login($u);
	die "login $u->{email}: " . sc($r) . " $r->{content}\n" unless $r->{status} == 200 && $r->{json}{mfa_required};
	return $r->{json}{mfa_token};
}
# Request ids of the requests made to fail on the server's side: their log
# lines may be errors.
my %PROVOKED;
sub verify {
	my ($tok, $code, %o) = @_;
	my $r = api(POST => '/api/auth/2fa/verify', json => { mfa_token => $tok, code => $code });
	$PROVOKED{$r->{rid}} = 1 if $o{provoked};
	return $r;
}

sub new_user {
	my ($email) = @_;
	my ($st, $out, $err) = run_cmd({ stdin => "$PW\n" }, "$BUILD/fastbackctl", '--config', $S->{config},
		'user', 'create-admin', $email);
	die "create-admin $email ($st): $out$err\n" if $st;
	my $u = { email => $email, id => psql($DB, "SELECT id FROM users WHERE email = '$email'") };
	my $r = login($u);
	die "login $email: " . sc($r) . "\n" unless $r->{status} == 200 && $r->{json}{access_token};
	$u->{token} = $r->{json}{access_token};
	return $u;
}

sub enroll {
	my ($u) = @_;
	my $r = api(POST => '/api/auth/2fa/enroll', token => $u->{token}, json => {});
	die "enroll $u->{email}: " . sc($r) . "\n" unless $r->{status} == 200;
	$u->{secret} = $r->{json}{secret};
	push @{ $u->{secrets} }, $r->{json}{secret};
	return $r;
}
sub confirm {
	my ($u) = @_;
	my ($code, $step) = next_code($u);
	my $r = api(POST => '/api/auth/2fa/confirm', token => $u->{token}, json => { code => $code });
	$u->{last} = $step if $r->{status} == 200;
	return $r;
}

# Signs in with the password and the next code: the /2fa/verify answer.
sub sign_in_2fa {
	my ($u) = @_;
	my $tok = challenge($u);
	my ($code, $step) = next_code($u);
	my $r = verify($tok, $code);
	$u->{last} = $step if $r->{status} == 200;
	return $r;
}

my %PUT_KEYS;	# every key string ever sent
sub put_key {
	my ($u, $provider, $key) = @_;
	$PUT_KEYS{$key} = 1;
	return api(PUT => "/api/me/api-keys/$provider", token => $u->{token}, json => { key => $key });
}
sub test_key {
	my ($u, $provider, %o) = @_;
	my $n = () = $mock->{requests}->();
	my $t = time;
	my $r = api(POST => "/api/me/api-keys/$provider/test", token => $u->{token});
	$r->{took} = time - $t;
	$PROVOKED{$r->{rid}} = 1 if $o{provoked};
	my @all = $mock->{requests}->();
	$r->{seen} = [@all[$n .. $#all]];
	return $r;
}
# valid, validated_at (to the microsecond) of a stored key.
sub key_state {
	my ($u, $provider) = @_;
	return psql($DB, "SELECT coalesce(valid::text, 'null') || ' ' || coalesce(validated_at::text, 'null')"
		. " FROM user_api_keys WHERE user_id = '$u->{id}' AND provider = '$provider'");
}

# Headers of a recorded request: {lc name => [values]}.
sub hdrs { my ($req) = @_; my %h; push @{ $h{lc $_->[0]} }, $_->[1] for @{ $req->{headers} }; \%h }

my %PROVIDER_HEADERS = (
	openai => sub { (authorization => ["Bearer $_[0]"]) },
	gemini => sub { ('x-goog-api-key' => [$_[0]]) },
	anthropic => sub { ('x-api-key' => [$_[0]], 'anthropic-version' => ['2023-06-01']) },
);
my %PROVIDER_PATH = (openai => '/v1/models', gemini => '/v1beta/models', anthropic => '/v1/models');

# The one request of a /test answer is what the provider expects: GET of its
# path (no query: the key is never in a URL) with exactly its headers.
sub request_ok {
	my ($r, $provider, $key, $name) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	is scalar(@{ $r->{seen} }), 1, "$name: one request to the provider" or return;
	my $q = $r->{seen}[0];
	is "$q->{method} $q->{target}", "GET $PROVIDER_PATH{$provider}", "$name: GET $PROVIDER_PATH{$provider}";
	my $h = hdrs($q);
	my %want = $PROVIDER_HEADERS{$provider}->($key);
	my %got = map { $_ => $h->{$_} } grep { exists $h->{$_} } qw(authorization x-goog-api-key x-api-key anthropic-version);
	is_deeply \%got, \%want, "$name: the key in exactly the $provider headers";
	is_deeply [sort keys %$h], [sort('host', 'user-agent', 'accept', keys %want)], "$name: no other header";
	my $other = join "\n", map { "$_->[0]: $_->[1]" } grep { !$want{lc $_->[0]} } @{ $q->{headers} };
	unlike "$q->{target}\n$other", qr/\Q$key\E/, "$name: the key nowhere else";
}

# ---- phase k1 ----------------------------------------------------------------------

stack('k1', "k1:$KEYS{A}");
my %u;
$u{$_} = new_user("$_\@example.org") for qw(alice bob carol dave erin frank zed);
my ($alice, $bob, $carol, $dave, $erin, $frank, $zed) = @u{qw(alice bob carol dave erin frank zed)};

subtest 'TOTP secrets: confirmed ones and a pending one' => sub {
	for my $usr ($alice, $carol, $dave, $erin, $frank) {
		enroll($usr);
		is confirm($usr)->{status}, 200, "$usr->{email}: 2FA on";
	}
	enroll($bob);
	is psql($DB, "SELECT (secret IS NULL)::text || ' ' || (pending_secret IS NOT NULL)::text FROM user_mfa"
		. " WHERE user_id = '$bob->{id}'"), 'true true', "bob: an enrollment left pending";
};

subtest 'API keys: PUT, GET, unknown provider, a space, DELETE' => sub {
	my $key = 'sk-proj-' . random_key(20) . 'WXyz';
	my $r = put_key($zed, 'openai', $key);
	is $r->{status}, 200, 'PUT /api/me/api-keys/openai: 200' or return diag $r->{content};
	is $r->{json}{provider}, 'openai', '... provider openai';
	is $r->{json}{last4}, 'WXyz', '... last4 is the last 4 characters';
	ok !exists $r->{json}{key}, '... no key field';
	is_deeply [sort keys %{ $r->{json} }], [qw(created_at last4 provider valid validated_at)],
		'... the fields of the list entry';
	is $r->{json}{valid}, undef, '... not checked yet (valid null)';
	unlike $r->{content}, qr/\Q$key\E|\Q${\ substr($key, 0, 12)}\E/, '... the key is nowhere in the body';
	is $r->{headers}{'cache-control'}, 'no-store', '... Cache-Control: no-store';

	$r = api(GET => '/api/me/api-keys', token => $zed->{token});
	is $r->{status}, 200, 'GET /api/me/api-keys: 200';
	my @d = @{ $r->{json}{data} || [] };
	is scalar(@d), 1, '... one key';
	is $d[0]{provider}, 'openai', '... openai';
	is $d[0]{last4}, 'WXyz', '... with last4';
	like $d[0]{created_at} // '', qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/, '... created_at in RFC 3339';
	ok !exists $d[0]{key}, '... no key field';
	unlike $r->{content}, qr/\Q$key\E/, '... the key is nowhere in the body';
	is scalar(@{ api(GET => '/api/me/api-keys', token => $alice->{token})->{json}{data} || [] }), 0,
		"alice does not see zed's key";

	is sc(put_key($zed, 'azure', 'sk-azure-' . random_key(10))), '404 not_found', 'PUT azure (unknown): 404';
	is sc(put_key($zed, 'OpenAI', 'sk-' . random_key(10))), '404 not_found', 'PUT OpenAI (another case): 404';
	$r = put_key($zed, 'openai', 'sk-proj-abc def-' . random_key(8));
	is sc($r), '422 validation_failed', 'a key with a space: 422';
	is_deeply [map { $_->{field} } @{ $r->{json}{errors} || [] }], ['key'], '... naming key';
	is api(GET => '/api/me/api-keys', token => $zed->{token})->{json}{data}[0]{last4}, 'WXyz', '... the stored key is unchanged';

	$r = api(DELETE => '/api/me/api-keys/openai', token => $zed->{token});
	is $r->{status}, 204, 'DELETE: 204';
	is sc(api(DELETE => '/api/me/api-keys/openai', token => $zed->{token})), '404 not_found', 'DELETE again: 404';
	is scalar(@{ api(GET => '/api/me/api-keys', token => $zed->{token})->{json}{data} || [] }), 0, 'GET: none left';
	is sc(test_key($zed, 'openai')), '404 not_found', 'testing a key that is not stored: 404';
	is api(GET => '/api/me/api-keys', token => undef)->{status}, 401, 'GET without a token: 401';
};

subtest '/test against each provider: exact request, valid true / false' => sub {
	for my $p (qw(openai gemini anthropic)) {
		my $bad = "bad-$p-" . random_key(12);
		is put_key($zed, $p, $bad)->{status}, 200, "$p: PUT a key the provider refuses";
		my $r = test_key($zed, $p);
		is $r->{status}, 200, "$p: /test: 200" or diag $r->{content};
		is $r->{json}{valid}, JSON::PP::false, "$p: valid false";
		like $r->{json}{detail} // '', qr/\S/, "$p: with a detail ($r->{json}{detail})";
		request_ok($r, $p, $bad, "$p (refused key)");
		my ($e) = grep { $_->{provider} eq $p } @{ api(GET => '/api/me/api-keys', token => $zed->{token})->{json}{data} || [] };
		is $e->{valid}, JSON::PP::false, "$p: GET shows valid false";
		like $e->{validated_at} // '', qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/, "$p: ... with validated_at";

		my $good = "good-$p-" . random_key(12);
		$r = put_key($zed, $p, $good);
		is $r->{json}{valid}, undef, "$p: PUT a new key: valid null again";
		is $r->{json}{validated_at}, undef, "$p: ... validated_at null again";
		$r = test_key($zed, $p);
		is $r->{status}, 200, "$p: /test with a good key: 200" or diag $r->{content};
		is_deeply [sort keys %{ $r->{json} || {} }], ['detail', 'valid'], "$p: body {valid, detail}";
		is $r->{json}{valid}, JSON::PP::true, "$p: valid true";
		request_ok($r, $p, $good, "$p (good key)");
		($e) = grep { $_->{provider} eq $p } @{ api(GET => '/api/me/api-keys', token => $zed->{token})->{json}{data} || [] };
		is $e->{valid}, JSON::PP::true, "$p: GET shows valid true";
		like $e->{validated_at} // '', qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/, "$p: ... with validated_at";
	}
	my $list = api(GET => '/api/me/api-keys', token => $zed->{token});
	is_deeply [map { $_->{provider} } @{ $list->{json}{data} || [] }], [qw(anthropic gemini openai)], 'GET lists all three';
	unlike $list->{content}, qr/good-|bad-/, '... and none of the keys';
};

subtest '/test: slow, down, 500 → 502 upstream_error, the verdict unchanged' => sub {
	my $before = key_state($zed, 'openai');
	like $before, qr/^true \d{4}-/, "openai's stored verdict: $before";

	$mock->{mode}->('slow');
	my $r = test_key($zed, 'openai', provoked => 1);
	$mock->{mode}->('normal');
	is sc($r), '502 upstream_error', 'a provider slower than API_KEY_TEST_TIMEOUT_MS=500: 502 upstream_error';
	like $r->{json}{detail} // '', qr/openai.*(?:did not answer|time)/i, "... a clear detail ($r->{json}{detail})";
	like $r->{headers}{'content-type'} // '', qr{^application/problem\+json}, '... problem+json';
	cmp_ok $r->{took}, '<', 2.5, sprintf('... after %.2f s, not the 3 s of the provider', $r->{took});
	is scalar(@{ $r->{seen} }), 1, '... the provider was asked';
	is key_state($zed, 'openai'), $before, '... valid and validated_at unchanged';

	$mock->{mode}->('500');
	$r = test_key($zed, 'openai', provoked => 1);
	$mock->{mode}->('normal');
	is sc($r), '502 upstream_error', 'the provider answers 500: 502 upstream_error';
	like $r->{json}{detail} // '', qr/500/, "... saying so ($r->{json}{detail})";
	is key_state($zed, 'openai'), $before, '... unchanged';

	$mock->{stop}->();
	$r = test_key($zed, 'openai', provoked => 1);
	$mock->{start}->();
	is sc($r), '502 upstream_error', 'the provider is down (connection refused): 502 upstream_error';
	like $r->{json}{detail} // '', qr/openai/i, "... a detail ($r->{json}{detail})";
	is key_state($zed, 'openai'), $before, '... unchanged';

	$r = test_key($zed, 'openai');
	is_deeply [$r->{status}, $r->{json}{valid}], [200, JSON::PP::true], 'the provider back: valid true again';
	isnt key_state($zed, 'openai'), $before, '... and validated_at moved on (the check above could see a change)';
};

# Keys kept for the rest: alice openai, bob gemini, carol anthropic.
my %KEEP = (alice => ['openai', 'good-alice-' . random_key(16)], bob => ['gemini', 'good-bob-' . random_key(16)],
	carol => ['anthropic', 'good-carol-' . random_key(16)]);
for my $n (sort keys %KEEP) {
	my $r = put_key($u{$n}, @{ $KEEP{$n} });
	die "PUT $n: " . sc($r) unless $r->{status} == 200;
}

sub keys_work {
	my ($name) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	for my $n (sort keys %KEEP) {
		my $r = test_key($u{$n}, $KEEP{$n}[0]);
		is_deeply [$r->{status}, ($r->{json} || {})->{valid}], [200, JSON::PP::true], "$name: $n\'s $KEEP{$n}[0] key opens and is valid"
			or diag $r->{content};
		request_ok($r, $KEEP{$n}[0], $KEEP{$n}[1], "$name: $n") if $r->{status} == 200;
	}
}

subtest 'pg_dump: no secret in clear; sealed values only' => sub {
	my ($st, $dump, $err) = run_cmd($PG_DUMP, '--no-owner', '-d', $DB);
	is $st, 0, 'pg_dump of the test database' or return diag $err;
	like $dump, qr/COPY public\.user_api_keys/, '... with the API keys table';
	like $dump, qr/COPY public\.user_mfa/, '... and the TOTP table';
	my @secrets = map { @{ $_->{secrets} || [] } } values %u;
	is scalar(@secrets), 6, '6 TOTP secrets (5 confirmed, 1 pending)';
	for my $s (@secrets) {
		my $hex = secret_hex($s);
		my $raw = pack 'H*', $hex;
		my %forms = (base32 => $s, 'base32 lower-case' => lc $s, hex => $hex, 'hex upper-case' => uc $hex,
			base64 => encode_base64($raw, ''), base64url => do { (my $x = encode_base64($raw, '')) =~ tr{+/}{-_}; $x =~ s/=+$//; $x });
		my @found = grep { index($dump, $forms{$_}) >= 0 } sort keys %forms;
		is_deeply \@found, [], 'the secret ' . substr($s, 0, 4) . '… is not in the dump in any form';
	}
	my @keys = sort keys %PUT_KEYS;
	cmp_ok scalar(@keys), '>=', 10, scalar(@keys) . ' API keys were stored';
	is_deeply [grep { index($dump, $_) >= 0 } @keys], [], 'none of them is in the dump';
	my @k = split /\n/, psql($DB, 'SELECT key FROM user_api_keys');
	is scalar(@k), 6, '6 stored keys';
	is scalar(grep { /^v1\.k1\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]+$/ } @k), 6, '... every one a "v1.k1." sealed value'
		or diag explain \@k;
	my @m = split /\n/, psql($DB, 'SELECT coalesce(secret, pending_secret) FROM user_mfa');
	is scalar(grep { /^v1\.k1\./ } @m), 6, 'every TOTP secret a "v1.k1." sealed value too';
};

subtest 'a sealed secret copied into another row does not open there' => sub {
	my $dave_sealed = psql($DB, "SELECT secret FROM user_mfa WHERE user_id = '$dave->{id}'");
	psql($DB, "UPDATE user_mfa SET secret = (SELECT secret FROM user_mfa WHERE user_id = '$carol->{id}')"
		. " WHERE user_id = '$dave->{id}'");
	is psql($DB, "SELECT count(DISTINCT secret) FROM user_mfa WHERE user_id IN ('$carol->{id}', '$dave->{id}')"), 1,
		"psql: dave's row holds carol's sealed secret";
	my $before = length $S->log_text;
	my ($dcode, $dstep) = next_code($dave);
	my $r = verify(challenge($dave), $dcode, provoked => 1);
	# A stored secret that does not open is the server's fault: 500, logged.
	is sc($r), '500 internal', "dave's code: 500 internal (his stored secret does not open)";
	# Without the row as associated data carol's secret would open in dave's
	# row, and carol's code would sign dave in.
	my ($ccode) = next_code($carol);
	$r = verify(challenge($dave), $ccode, provoked => 1);
	is sc($r), '500 internal', "carol's code for dave: 500 internal (the copy does not open)";
	ok !$r->{json}{access_token}, '... no tokens';
	my $log = substr $S->log_text, $before;
	like $log, qr/sealed value of user_mfa\.secret refused: authentication failed/, 'the log shows the refusal';
	unlike $log, qr/\Q$dave_sealed\E/, '... without the sealed value';
	is_deeply [sort { $a <=> $b } $S->children], \@RESPONDERS, 'no responder died';

	psql($DB, "UPDATE user_mfa SET secret = '$dave_sealed' WHERE user_id = '$dave->{id}'");
	my ($code, $step) = in_window($dstep) ? ($dcode, $dstep) : next_code($dave);
	$r = verify(challenge($dave), $code);
	is $r->{status}, 200, "dave's row restored: " . ($code eq $dcode ? 'the code refused above' : 'his code')
		. ' signs him in' or diag $r->{content};
	$dave->{last} = $step if $r->{status} == 200;
};

subtest 'a tampered sealed value: an error, never a 200, never a crash' => sub {
	my $orig = psql($DB, "SELECT secret FROM user_mfa WHERE user_id = '$erin->{id}'");
	my ($pre, $ct) = $orig =~ /^(v1\.k1\.[^.]+\.)([A-Za-z0-9_-]+)$/ or return fail("erin's sealed value: $orig");
	my $i = int(length($ct) / 2);
	my $c = substr $ct, $i, 1;
	substr($ct, $i, 1) = $c eq 'A' ? 'B' : 'A';
	psql($DB, "UPDATE user_mfa SET secret = '$pre$ct' WHERE user_id = '$erin->{id}'");
	my $before = length $S->log_text;
	my ($code, $estep) = next_code($erin);
	my $r = verify(challenge($erin), $code, provoked => 1);
	isnt $r->{status}, 200, "erin's code with one character of her sealed secret flipped: not 200 (" . sc($r) . ')';
	ok $r->{status} == 401 || $r->{status} == 500, '... 401 or 500';
	like $r->{headers}{'content-type'} // '', qr{^application/problem\+json}, '... a problem+json answer';
	ok !$r->{json}{access_token}, '... no tokens';
	like substr($S->log_text, $before), qr/sealed value of user_mfa\.secret refused/, 'the log shows the refusal';
	is_deeply [sort { $a <=> $b } $S->children], \@RESPONDERS, 'no responder died';
	psql($DB, "UPDATE user_mfa SET secret = '$orig' WHERE user_id = '$erin->{id}'");
	my ($code2, $step) = in_window($estep) ? ($code, $estep) : next_code($erin);
	$r = verify(challenge($erin), $code2);
	is $r->{status}, 200, 'restored: ' . ($code2 eq $code ? 'the code refused above' : 'her code')
		. ' signs her in' or diag $r->{content};
	$erin->{last} = $step if $r->{status} == 200;

	# An API key too.
	my $k = psql($DB, "SELECT key FROM user_api_keys WHERE user_id = '$alice->{id}'");
	my ($kp, $kc) = $k =~ /^(v1\.k1\.[^.]+\.)(.+)$/;
	my $j = int(length($kc) / 2);
	substr($kc, $j, 1) = substr($kc, $j, 1) eq 'A' ? 'B' : 'A';
	psql($DB, "UPDATE user_api_keys SET key = '$kp$kc' WHERE user_id = '$alice->{id}'");
	$before = length $S->log_text;
	$r = test_key($alice, 'openai', provoked => 1);
	isnt $r->{status}, 200, 'a tampered API key: /test is not 200 (' . sc($r) . ')';
	is scalar(@{ $r->{seen} }), 0, '... and nothing was sent to the provider';
	like substr($S->log_text, $before), qr/sealed value of user_api_keys\.key refused/, '... the log shows the refusal';
	# A stored value that does not open is the server's fault, not the
	# client's: api.md keeps 400 bad_request for a malformed request, 500
	# internal for a bug. (Before ec04d00 this answered 400 bad_request:
	# apikeys_test() passed crypto_open()'s FB_ERR_INVALID through.)
	is sc($r), '500 internal', '... an internal error';
	psql($DB, "UPDATE user_api_keys SET key = '$k' WHERE user_id = '$alice->{id}'");
	is test_key($alice, 'openai')->{status}, 200, '... restored: 200';

	# Alice's sealed key copied into zed's openai row: the row (user and
	# provider) is the associated data, so it must not open there.
	my $zk = psql($DB, "SELECT key FROM user_api_keys WHERE user_id = '$zed->{id}' AND provider = 'openai'");
	psql($DB, "UPDATE user_api_keys SET key = '$k' WHERE user_id = '$zed->{id}' AND provider = 'openai'");
	$r = test_key($zed, 'openai', provoked => 1);
	isnt $r->{status}, 200, "alice's sealed key in zed's row: /test is not 200 (" . sc($r) . ')';
	is scalar(@{ $r->{seen} }), 0, "... and alice's key was not sent to the provider";
	psql($DB, "UPDATE user_api_keys SET key = '$zk' WHERE user_id = '$zed->{id}' AND provider = 'openai'");
	$r = test_key($zed, 'openai');
	is $r->{status}, 200, "zed's row restored: 200";
	is_deeply [sort { $a <=> $b } $S->children], \@RESPONDERS, 'no responder died';
};

# ---- rotation ----------------------------------------------------------------------

my $SEALED_SQL = "SELECT v FROM (SELECT secret AS v FROM user_mfa UNION ALL SELECT pending_secret FROM user_mfa"
	. " UNION ALL SELECT key FROM user_api_keys) s WHERE v IS NOT NULL";
my $N = scalar(my @sealed = split /\n/, psql($DB, $SEALED_SQL));

stack('k2,k1', "k2:$KEYS{B},k1:$KEYS{A}");
subtest 'ENCRYPTION_KEYS=k2,k1: the k1 values still open' => sub {
	my $r = sign_in_2fa($alice);
	is $r->{status}, 200, 'alice signs in with 2FA' or diag $r->{content};
	keys_work('k2,k1');
	my $s = api(POST => '/api/auth/2fa/enroll', token => $zed->{token}, json => {});
	is $s->{status}, 200, 'zed enrolls (pending)';
	push @{ $zed->{secrets} }, $s->{json}{secret};
	$zed->{secret} = $s->{json}{secret};
	like psql($DB, "SELECT pending_secret FROM user_mfa WHERE user_id = '$zed->{id}'"), qr/^v1\.k2\./, '... sealed under k2, the first key';
	$N++;
};

subtest 'fastbackctl keys rotate' => sub {
	is scalar(grep { /^v1\.k1\./ } split /\n/, psql($DB, $SEALED_SQL)), $N - 1, ($N - 1) . ' values under k1 before';
	my ($st, $out, $err) = run_cmd("$BUILD/fastbackctl", '--config', $S->{config}, 'keys', 'rotate');
	is $st, 0, 'keys rotate: exit 0' or diag $err;
	chomp $out;
	like $out, qr/^re-sealed (\d+) secrets under key k2$/, "... \"$out\"";
	my ($n) = $out =~ /re-sealed (\d+)/;
	is $n, $N - 1, '... every value not under k2 yet';
	my @v = split /\n/, psql($DB, $SEALED_SQL);
	is scalar(@v), $N, "$N sealed values";
	is scalar(grep { /^v1\.k2\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/ } @v), $N, '... all "v1.k2."' or diag explain \@v;
	($st, $out, $err) = run_cmd("$BUILD/fastbackctl", '--config', $S->{config}, 'keys', 'rotate');
	is $st, 0, 'again: exit 0';
	chomp $out;
	like $out, qr/^re-sealed 0 secrets under key k2$/, "... \"$out\"";
	my ($dump_st, $dump) = run_cmd($PG_DUMP, '-d', $DB);
	is_deeply [grep { index($dump, $_) >= 0 } map { ($_, secret_hex($_)) } map { @{ $_->{secrets} || [] } } values %u], [],
		'pg_dump after the rotation: still no TOTP secret in clear';
	is_deeply [grep { index($dump, $_) >= 0 } keys %PUT_KEYS], [], '... and no API key';
};

stack('k2', "k2:$KEYS{B}");
subtest 'ENCRYPTION_KEYS=k2 alone: everything still works' => sub {
	my $r = sign_in_2fa($alice);
	is $r->{status}, 200, 'alice signs in with 2FA' or diag $r->{content};
	$r = sign_in_2fa($carol);
	is $r->{status}, 200, 'carol signs in with 2FA' or diag $r->{content};
	keys_work('k2');
	$r = confirm($bob);
	is $r->{status}, 200, "bob's pending enrollment (sealed under k1 at first) confirms" or diag $r->{content};
	is scalar(@{ $r->{json}{backup_codes} || [] }), 10, '... 10 backup codes';
	$r = confirm($zed);
	is $r->{status}, 200, "zed's (sealed under k2 at first) too" or diag $r->{content};
	$r = sign_in_2fa($bob);
	is $r->{status}, 200, 'bob signs in with 2FA' or diag $r->{content};
	is scalar(grep { /^v1\.k2\./ } split /\n/, psql($DB, $SEALED_SQL)), $N, 'every sealed value still under k2';
};

stack('k3', "k3:$KEYS{C}");
subtest 'ENCRYPTION_KEYS=k3 alone (unknown id): refused with an error, no crash' => sub {
	my $tok = challenge($frank);
	ok $tok, 'the password step still answers a challenge';
	my ($code) = next_code($frank);
	my $r = verify($tok, $code, provoked => 1);
	isnt $r->{status}, 200, "frank's good code: not 200 (" . sc($r) . ')';
	ok !($r->{json} && $r->{json}{access_token}), '... no tokens';
	like $r->{headers}{'content-type'} // '', qr{^application/problem\+json}, '... a problem+json error';
	unlike $r->{content}, qr/k2|v1\.|crypto/, '... that tells nothing about the keys';
	like $S->log_text, qr/names key \\?"k2\\?", which ENCRYPTION_KEYS does not list/, 'the log names the missing key id';
	$r = test_key($alice, 'openai', provoked => 1);
	isnt $r->{status}, 200, "alice's API key: /test not 200 (" . sc($r) . ')';
	is scalar(@{ $r->{seen} }), 0, '... nothing sent to the provider';
	is api(GET => '/api/me/api-keys', token => $alice->{token})->{status}, 200, 'listing keys still works (no secret opened)';
	is api(GET => '/health')->{status}, 200, 'the pool is fine';
};

stack('k2 openai only', "k2:$KEYS{B}", API_KEY_PROVIDERS => 'openai');
subtest 'API_KEY_PROVIDERS=openai' => sub {
	is sc(put_key($zed, 'gemini', 'good-gemini-' . random_key(8))), '404 not_found', 'PUT gemini: 404';
	is sc(put_key($zed, 'anthropic', 'good-anthropic-' . random_key(8))), '404 not_found', 'PUT anthropic: 404';
	is sc(test_key($bob, 'gemini')), '404 not_found', "/test of bob's stored gemini key: 404";
	my $r = test_key($alice, 'openai');
	is_deeply [$r->{status}, ($r->{json} || {})->{valid}], [200, JSON::PP::true], 'openai still works (and k2 opens)';
};

# ---- the end ---------------------------------------------------------------------

stop_stack();
# Error lines each pool may have logged: those of the requests made to fail
# above, and mfa.c's line for a secret that does not open (in k1 and k3).
for my $p (sort keys %POOL_ERRORS) {
	my @bad = grep {
		!(defined $_->{request_id} && $PROVOKED{$_->{request_id}})
		&& !(($p eq 'k1' || $p eq 'k3') && ($_->{msg} // '') =~
		    /^(?:mfa: the TOTP secret of a user does not open|apikeys: a stored key does not open)$/)
	} @{ $POOL_ERRORS{$p} };
	is scalar(@bad), 0, "pool $p: no unexpected error in its log" or diag explain \@bad;
}
ok scalar(@{ $POOL_ERRORS{k3} || [] }) > 0, 'pool k3 logged its refusals as errors';
my $took = time - $T0;
cmp_ok $took, '<', 90, sprintf '81-secrets-apikeys.t took %.1f s', $took;
done_testing();
