#!/usr/bin/perl
# The rate limits of api.md ("Rate limits") on /api/auth and /api/me, over
# HTTP behind nginx, each in a pool of its own configured for it (the other
# limits high), once with the counters in PostgreSQL (no REDIS_URL) and once
# in Redis (start_redis):
#
#   - RATE_LIMIT_LOGIN_FAILURES=5: the 6th wrong password for one (IP, email)
#     → 429 rate_limited with Retry-After and RateLimit-*; another email from
#     that IP, or that email from another IP, still gets through;
#   - RATE_LIMIT_AUTH_IP=20: the 21st auth request a minute → 429;
#   - RATE_LIMIT_GENERAL_IP=30: the 31st GET /api/me from one IP → 429;
#   - RATE_LIMIT_GENERAL_USER=10: the 11th request of one user (from ten
#     addresses) → 429;
#   - RATE_LIMIT_ACCOUNT_FAILURES=3: failures from many addresses slow the
#     account down (429, Retry-After 1, then 2), never lock it: after the wait
#     the right password signs in.
# Client addresses other than 127.0.0.1 come from X-Forwarded-For, believed
# because TRUSTED_PROXIES=127.0.0.1 (nginx passes the header on).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";

use Test::More;
use Time::HiRes qw(sleep time);

use FastbackTest;

my $T0 = time;
my $PW = 'correct horse battery staple 42';
my $WRONG = 'wrong horse battery staple 42';

my %HIGH = (
	RATE_LIMIT_AUTH_IP => 100000, RATE_LIMIT_GENERAL_IP => 100000,
	RATE_LIMIT_GENERAL_USER => 100000, RATE_LIMIT_LOGIN_FAILURES => 100000,
	RATE_LIMIT_ACCOUNT_FAILURES => 100000, RATE_LIMIT_EXPORT_USER => 100000,
);

# ---- local helpers -------------------------------------------------------------

my @STACKS;
# A stack for one case: %conf over %HIGH; with $store 'redis' a Redis of its
# own (its counters start empty). Returns the pool, with {redis} when any.
sub limit_stack {
	my ($store, %conf) = @_;
	my $redis = $store eq 'redis' ? start_redis() : undef;
	my $s = start_stack(%HIGH, TRUSTED_PROXIES => '127.0.0.1',
		PASSWORD_ARGON2_MEMORY_KIB => 8192, PASSWORD_ARGON2_ITERATIONS => 1,
		($redis ? (REDIS_URL => $redis->{url}) : ()), %conf);
	$s->{redis} = $redis;
	return $s;
}

sub done_with {
	my ($s) = @_;
	$s->{nginx}->stop;
	$s->stop;
	$s->{redis}->stop if $s->{redis};
}

my $RID = 0;
# api($s, METHOD => PATH, ip => 'a.b.c.d' (X-Forwarded-For), %http_opts)
sub api {
	my ($s, $method, $path, %o) = @_;
	my $ip = delete $o{ip};
	my %h = (%{ delete $o{headers} || {} }, 'X-Request-Id' => sprintf('t72-%d', ++$RID));
	$h{'X-Forwarded-For'} = $ip if defined $ip;
	my $r = http($method, "$s->{url}$path", %o, headers => \%h);
	diag_5xx($s, "$method $path", $r);
	return $r;
}

# On a 5xx, what the pool and nginx said: the tests do not expect any.
sub diag_5xx {
	my ($s, $what, $r) = @_;
	return unless ($r->{status} // 0) >= 500;
	my $tail = sub { my @l = split /\n/, $_[0] // ''; join "\n", @l[($#l > 14 ? $#l - 14 : 0) .. $#l] };
	diag "$what answered $r->{status}: $r->{content}";
	diag "pool log:\n" . $tail->($s->log_text);
	diag "nginx error log:\n" . $tail->(do { local $/; open my $fh, '<', $s->{nginx}{error_log} or return ''; <$fh> });
}

sub sc { my ($r) = @_; ($r->{status} // '?') . ' ' . (($r->{json} && $r->{json}{code}) // '') }

# A verified user (registered over HTTP, verified in the database: the
# emails are 70-auth.t's business). Registers from $ip (default 192.0.2.250)
# so the setup does not count on the addresses under test.
sub user {
	my ($s, $email, $ip) = @_;
	my $r = api($s, POST => '/api/auth/register', ip => $ip // '192.0.2.250',
		json => { email => $email, password => $PW, name => 'Limit Tester' });
	die "register $email: " . sc($r) . "\n" unless $r->{status} == 202;
	psql($s->{conf}{DATABASE_URL}, "UPDATE users SET email_verified_at = now() WHERE email = '$email'");
	return $email;
}

sub login {
	my ($s, $email, $pw, $ip) = @_;
	return api($s, POST => '/api/auth/login', ip => $ip, json => { email => $email, password => $pw });
}

# The 429 of api.md: code rate_limited, Retry-After, RateLimit-*.
sub is_limited {
	my ($r, $limit, $max_wait, $what) = @_;
	subtest $what => sub {
		is sc($r), '429 rate_limited', '429 rate_limited';
		is $r->{headers}{'content-type'}, 'application/problem+json', 'problem+json';
		my $ra = $r->{headers}{'retry-after'};
		like $ra // '', qr/^\d+$/, 'Retry-After: ' . ($ra // 'none');
		ok defined $ra && $ra >= 1 && $ra <= $max_wait, "... between 1 and $max_wait";
		is $r->{headers}{'ratelimit-limit'}, $limit, "RateLimit-Limit: $limit";
		is $r->{headers}{'ratelimit-remaining'}, 0, 'RateLimit-Remaining: 0';
		my $reset = $r->{headers}{'ratelimit-reset'};
		ok defined $reset && $reset =~ /^\d+$/ && $reset >= 1 && $reset <= $max_wait,
			'RateLimit-Reset: ' . ($reset // 'none');
	};
}

# Where the counters of $prefix live: PostgreSQL rows or Redis keys.
sub check_store {
	my ($s, $store, $prefix) = @_;
	my $rows = psql($s->{conf}{DATABASE_URL},
		"SELECT count(*) FROM rate_limits WHERE key LIKE '$prefix%'");
	if ($store eq 'redis') {
		is $rows, 0, "no $prefix* rows in PostgreSQL";
		my $keys = `redis-cli -p $s->{redis}{port} --scan --pattern 'rl:$prefix*' 2>&1`;
		like $keys, qr/^rl:\Q$prefix\E/m, "the counters are Redis keys rl:$prefix*";
	} else {
		cmp_ok $rows, '>=', 1, "the counters are rows of rate_limits ($rows)";
	}
}

# ---- the cases -----------------------------------------------------------------

for my $store (qw(postgresql redis)) {
	subtest "$store: RATE_LIMIT_LOGIN_FAILURES=5 per (IP, email)" => sub {
		my $s = limit_stack($store, RATE_LIMIT_LOGIN_FAILURES => 5);
		my $u1 = user($s, 'victim@example.org');
		my $u2 = user($s, 'other@example.org');
		my @st = map { sc(login($s, $u1, "$WRONG $_")) } 1 .. 5;
		is_deeply \@st, [('401 invalid_credentials') x 5], 'five wrong passwords: 401 each';
		my $r = login($s, $u1, $WRONG);
		is_limited($r, 5, 900, 'the 6th: 429 with Retry-After and RateLimit-*');
		is sc(login($s, $u1, $PW)), '429 rate_limited', 'the right password from that IP: 429 too';
		is sc(login($s, $u2, $WRONG)), '401 invalid_credentials', 'another email from the same IP: 401';
		is login($s, $u2, $PW)->{status}, 200, '... and it can sign in';
		is sc(login($s, 'ghost@example.org', $WRONG)), '401 invalid_credentials',
			'an unknown email from the same IP: 401';
		is login($s, $u1, $PW, '203.0.113.7')->{status}, 200, 'the same email from another IP signs in';
		check_store($s, $store, 'login:fail:');
		done_with($s);
	};
}

for my $store (qw(postgresql redis)) {
	subtest "$store: RATE_LIMIT_AUTH_IP=20 a minute" => sub {
		my $s = limit_stack($store, RATE_LIMIT_AUTH_IP => 20);
		my $u = user($s, 'auth@example.org');
		my @calls = (
			[POST => '/api/auth/login', { email => $u, password => $WRONG }],
			[POST => '/api/auth/forgot-password', { email => 'nobody@example.org' }],
			[POST => '/api/auth/resend-verification', { email => 'nobody@example.org' }],
			[POST => '/api/auth/refresh', { refresh_token => 'garbage' }],
			[POST => '/api/auth/verify-email', { token => 'garbage' }],
		);
		my $t = time;
		my @st = map { my $c = $calls[$_ % @calls]; api($s, $c->[0], $c->[1], json => $c->[2])->{status} } 0 .. 19;
		is scalar(grep { $_ == 429 } @st), 0, '20 auth requests: none limited' or diag "@st";
		ok !(grep { $_ >= 500 } @st), '... and none failed';
		my $r = api($s, POST => '/api/auth/login', json => { email => $u, password => $PW });
		cmp_ok time - $t, '<', 60, 'within a minute ...';
		is_limited($r, 20, 60, '... the 21st: 429');
		is sc(api($s, POST => '/api/auth/forgot-password', json => { email => $u })), '429 rate_limited',
			'every auth route is limited';
		is api($s, GET => '/api/me')->{status}, 401, 'a non-auth route from that IP is not: 401 without a token';
		is api($s, GET => '/health')->{status}, 200, 'GET /health: 200';
		is login($s, $u, $PW, '203.0.113.20')->{status}, 200, 'another IP still signs in';
		check_store($s, $store, 'auth:ip:');
		done_with($s);
	};
}

for my $store (qw(postgresql redis)) {
	subtest "$store: RATE_LIMIT_GENERAL_IP=30 on GET /api/me" => sub {
		my $s = limit_stack($store, RATE_LIMIT_GENERAL_IP => 30);
		my $u = user($s, 'general@example.org');
		my $l = login($s, $u, $PW, '198.51.100.1');
		is $l->{status}, 200, 'login (from another IP)' or return;
		my $tok = $l->{json}{access_token};
		my @st = map { api($s, GET => '/api/me', token => $tok)->{status} } 1 .. 30;
		is_deeply \@st, [(200) x 30], '30 × GET /api/me: 200';
		is_limited(api($s, GET => '/api/me', token => $tok), 30, 60, 'the 31st: 429');
		is api($s, GET => '/api/me')->{status}, 429, 'also without a token (the IP is limited first)';
		is api($s, GET => '/health')->{status}, 200, 'GET /health is not limited';
		is api($s, GET => '/api/me', token => $tok, ip => '198.51.100.2')->{status}, 200,
			'the same user from another IP: 200';
		check_store($s, $store, 'gen:ip:');
		done_with($s);
	};
}

for my $store (qw(postgresql redis)) {
	subtest "$store: RATE_LIMIT_GENERAL_USER=10" => sub {
		my $s = limit_stack($store, RATE_LIMIT_GENERAL_USER => 10);
		my $u1 = user($s, 'busy@example.org');
		my $u2 = user($s, 'calm@example.org');
		my ($l1, $l2) = (login($s, $u1, $PW), login($s, $u2, $PW));
		is_deeply [$l1->{status}, $l2->{status}], [200, 200], 'two users sign in' or return;
		my @st = map { api($s, GET => '/api/me', token => $l1->{json}{access_token}, ip => "10.9.0.$_")->{status} } 1 .. 10;
		is_deeply \@st, [(200) x 10], '10 requests of one user from 10 addresses: 200';
		is_limited(api($s, GET => '/api/me', token => $l1->{json}{access_token}, ip => '10.9.0.11'),
			10, 60, 'the 11th, from yet another address: 429');
		is api($s, GET => '/api/me', token => $l2->{json}{access_token}, ip => '10.9.0.11')->{status}, 200,
			'another user: 200';
		check_store($s, $store, 'gen:user:');
		done_with($s);
	};
}

for my $store (qw(postgresql redis)) {
	subtest "$store: RATE_LIMIT_ACCOUNT_FAILURES=3 slows the account, never locks it" => sub {
		my $s = limit_stack($store, RATE_LIMIT_ACCOUNT_FAILURES => 3, RATE_LIMIT_LOGIN_FAILURES => 1000);
		my $u = user($s, 'target@example.org');
		my $bystander = user($s, 'bystander@example.org');
		my $n = 0;
		my $ip = sub { sprintf '100.64.%d.%d', int(++$n / 250), 1 + $n % 250 };
		my @st = map { sc(login($s, $u, "$WRONG $_", $ip->())) } 1 .. 3;
		is_deeply \@st, [('401 invalid_credentials') x 3], 'three failures from three addresses: 401';

		# Wrong passwords from fresh addresses until one is slowed down.
		my $until_429 = sub {
			my (@seen, $r);
			for (1 .. 3) {
				$r = login($s, $u, $WRONG, $ip->());
				push @seen, sc($r);
				last if $r->{status} == 429;
			}
			return ($r, @seen);
		};
		my ($r, @seen) = $until_429->();
		is $r->{status}, 429, "then slowed: @seen";
		cmp_ok scalar(@seen), '<=', 2, '... at most one attempt through first';
		is $r->{json}{code}, 'rate_limited', '... rate_limited';
		is $r->{headers}{'retry-after'}, 1, '... Retry-After: 1';
		is sc(login($s, $u, $PW, $ip->())), '429 rate_limited', '... the right password waits too';
		is login($s, $bystander, $PW, $ip->())->{status}, 200, '... another account is not slowed';
		sleep(($r->{headers}{'retry-after'} // 1) + 0.3);

		($r, @seen) = $until_429->();
		is $r->{status}, 429, "after waiting: one more attempt, then slowed again: @seen";
		is scalar(@seen), 2, '... exactly one attempt went through';
		is $r->{headers}{'retry-after'}, 2, '... Retry-After: 2 (the wait doubles)';
		sleep(($r->{headers}{'retry-after'} // 2) + 0.3);

		$r = login($s, $u, $PW, $ip->());
		is $r->{status}, 200, 'after waiting Retry-After, the right password signs in'
			or diag sc($r) . " Retry-After " . ($r->{headers}{'retry-after'} // '-');
		check_store($s, $store, 'login:acct:');
		done_with($s);
	};
}

diag sprintf '72-auth-limits.t took %.1f s', time - $T0;
done_testing();
