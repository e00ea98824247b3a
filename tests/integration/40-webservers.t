#!/usr/bin/perl
# "Behind any web server", tested: nginx, Apache httpd with mod_proxy_fcgi,
# Apache httpd with mod_fcgid (Apache starts fastback-fcgi itself), Caddy and
# lighttpd, each running the configuration shipped in conf/ (rewritten only
# for the socket, the port and the mount), at the site root and under /app/.
#
# 1. tests/lib/fcgi-echo behind each server shows exactly what the server
#    hands over: the Authorization header, REQUEST_URI with the prefix and the
#    query string intact, the body (and which bodies are too large), no
#    httpoxy, FCGI_KEEP_CONN from nginx only (its shipped upstream keeps
#    connections alive).
# 2. fastback behind each server: /health with the security headers and a
#    request id, a client's X-Request-Id echoed, 404 and 405 as
#    problem+json, OPTIONS, /metrics from loopback, and the bearer token
#    reaching the app: a client that is not on loopback (X-Forwarded-For
#    from TRUSTED_PROXIES) gets /metrics only with METRICS_TOKEN, and the
#    app's access log shows that client. Under /app/: /app redirects to
#    /app/ and paths outside the prefix never reach fastback.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";

use Digest::MD5 qw(md5_hex);
use Test::More;

use FastbackTest;

my $TOKEN = 'mt-' . join '', map { ('a' .. 'z', 0 .. 9)[rand 36] } 1 .. 32;
my $FAR = '203.0.113.9';	# a client address that is not loopback

sub have {
	my ($prog) = @_;
	return grep { -x "$_/$prog" } split(/:/, $ENV{PATH} // ''), '/usr/sbin', '/sbin';
}

# name, how to start it (socket/pool, prefix, port passed on), what it needs,
# and what it does with a 3 MiB body (over the shipped limits of 2 MiB).
my @SERVERS = (
	# nginx keeps connections to the pool open (fastcgi_keep_conn, with the
	# upstream's keepalive cache); the responders serve them all.
	{ name => 'nginx', needs => 'nginx', start => \&start_nginx, big => 413, keep_conn => 1 },
	# Apache does not apply LimitRequestBody to proxied requests: the body
	# goes through, and fastback's MAX_BODY_BYTES is the limit.
	{ name => 'apache mod_proxy_fcgi', needs => 'apache2', big => 200,
	  start => sub { start_apache(mode => 'proxy_fcgi', @_) } },
	# FcgidMaxRequestLen: mod_fcgid answers 500 itself.
	{ name => 'apache mod_fcgid', needs => 'apache2', fcgid => 1, big => 500,
	  start => sub { start_apache(mode => 'fcgid', @_) } },
	# trusted_proxies: Caddy keeps the client's X-Forwarded-For (test only).
	{ name => 'caddy', needs => 'caddy', big => 413,
	  start => sub { start_caddy(trusted_proxies => '127.0.0.1/32', @_) } },
	{ name => 'lighttpd', needs => 'lighttpd', start => \&start_lighttpd, big => 413 },
);
for my $s (@SERVERS) {
	$s->{missing} = "$s->{needs} is not installed" unless have($s->{needs});
	$s->{missing} = 'mod_fcgid is not installed (libapache2-mod-fcgid)'
		if $s->{fcgid} && !-e '/usr/lib/apache2/modules/mod_fcgid.so';
}

# Start server $s in front of $backend (an echo or a pool) at $prefix.
sub start_server {
	my ($s, $backend, $prefix) = @_;
	my %o = (prefix => $prefix, port => free_port());
	if ($s->{fcgid}) {
		# mod_fcgid starts the program itself: the echo script, or
		# fastback-fcgi with the pool's configuration.
		if ($backend->{command}) { $o{command} = $backend->{command} }
		else { $o{pool} = $backend }
	} else {
		$o{socket} = $backend->{socket};
	}
	return $s->{start}->(%o);
}

my @stop;	# web servers to stop before the pools

# ---- 1. what each server hands over ----------------------------------------

my $echo = start_echo();
for my $s (@SERVERS) {
	for my $prefix ('', '/app') {
		my $where = $prefix eq '' ? 'root' : $prefix;
		subtest "echo behind $s->{name} at $where" => sub {
			plan skip_all => $s->{missing} if $s->{missing};
			my $w = start_server($s, $echo, $prefix);
			my $r = http(GET => "$w->{url}/api/things/42?x=1&y=%20&z=a%2Bb&e=",
				token => 'abc.def.ghi',
				headers => { Proxy => 'http://evil.example', 'X-Forwarded-For' => $FAR });
			is $r->{status}, 200, 'GET reaches the responder' or diag explain $r;
			my $p = $r->{json}{params} || {};
			is_deeply $p->{HTTP_AUTHORIZATION}, ['Bearer abc.def.ghi'],
				'HTTP_AUTHORIZATION arrives, once';
			is_deeply $p->{REQUEST_URI}, ["$prefix/api/things/42?x=1&y=%20&z=a%2Bb&e="],
				'REQUEST_URI: the raw target, with the prefix';
			is_deeply $p->{QUERY_STRING}, ['x=1&y=%20&z=a%2Bb&e='], 'QUERY_STRING intact';
			is_deeply $p->{REQUEST_METHOD}, ['GET'], 'REQUEST_METHOD';
			is_deeply $p->{REMOTE_ADDR}, ['127.0.0.1'], 'REMOTE_ADDR';
			like join(',', @{ $p->{HTTP_X_FORWARDED_FOR} || [] }),
				qr/^\Q$FAR\E(?:, 127\.0\.0\.1)?$/, "the client's X-Forwarded-For";
			ok !grep({ length } @{ $p->{HTTP_PROXY} || [] }),
				'no httpoxy: the Proxy header is not passed'
				or diag explain $p->{HTTP_PROXY};
			is $r->{json}{keep_conn}, $s->{keep_conn} // 0,
				$s->{keep_conn} ? 'FCGI_KEEP_CONN (kept-alive connections)' : 'no FCGI_KEEP_CONN';
			my ($sn, $pi) = map { join '|', @{ $p->{$_} || ['(unset)'] } } qw(SCRIPT_NAME PATH_INFO);
			note "$s->{name} at $where: SCRIPT_NAME=$sn PATH_INFO=$pi";
			is join('', map { @{ $p->{$_} || [] } } qw(SCRIPT_NAME PATH_INFO)),
				"$prefix/api/things/42", 'SCRIPT_NAME + PATH_INFO is the path (the fallback)';
			if ($s->{fcgid}) {
				is $r->{json}{env}{FCGI_CHILDREN}, '1',
					'mod_fcgid: FCGI_CHILDREN=1 from FcgidInitialEnv';
				like $r->{json}{env}{FASTBACK_CONFIG} // '', qr{/fastback\.conf$},
					'mod_fcgid: FASTBACK_CONFIG from FcgidInitialEnv';
			}

			$r = http(POST => "$w->{url}/api/things", json => { a => [1, 2] });
			is $r->{status}, 200, 'POST reaches the responder';
			is $r->{json}{stdin}, '{"a":[1,2]}', 'the body arrives';
			is_deeply $r->{json}{params}{CONTENT_TYPE}, ['application/json'], 'CONTENT_TYPE';
			is_deeply $r->{json}{params}{CONTENT_LENGTH}, ['11'], 'CONTENT_LENGTH';

			# Bodies up to just above MAX_BODY_BYTES (1 MiB) reach fastback,
			# which answers 413 problem+json itself.
			my $body = 'b' x (1.5 * 1024 * 1024);
			$r = http(POST => "$w->{url}/upload", body => $body,
				headers => { 'Content-Type' => 'application/json' });
			is $r->{status}, 200, 'a 1.5 MiB body is passed on';
			is $r->{json}{stdin_md5}, md5_hex($body), '... whole';
			$r = http(POST => "$w->{url}/upload", body => $body x 2,
				headers => { 'Content-Type' => 'application/json' });
			is $r->{status}, $s->{big}, "a 3 MiB body: $s->{big}";
			if ($s->{big} == 200) {
				is $r->{json}{stdin_md5}, md5_hex($body x 2), '... passed on whole';
			} else {
				ok !($r->{json} && exists $r->{json}{stdin_md5}), '... not passed on';
			}
			$w->stop;
		};
	}
}
$echo->stop;

# ---- 2. fastback behind each server ------------------------------------------

my %POOL;
for my $prefix ('', '/app') {
	$POOL{$prefix} = start_pool(FCGI_CHILDREN => 2, METRICS_TOKEN => $TOKEN,
		TRUSTED_PROXIES => '127.0.0.1/32',
		PUBLIC_URL => 'http://127.0.0.1:' . free_port() . $prefix);
}

my %SECURITY = (
	'x-content-type-options' => 'nosniff',
	'referrer-policy' => 'no-referrer',
	'x-frame-options' => 'DENY',
	'content-security-policy' => "default-src 'none'; frame-ancestors 'none'",
	'cross-origin-resource-policy' => 'same-origin',
	'cache-control' => 'no-store',
);

sub security_headers {
	my ($r, $what) = @_;
	my @bad = grep { ($r->{headers}{$_} // '') ne $SECURITY{$_} } sort keys %SECURITY;
	ok !@bad, "$what: security headers" or diag explain { map { $_ => $r->{headers}{$_} } @bad };
}

# fastback's JSON log lines: the pool's log, or Apache's error log when
# mod_fcgid runs fastback-fcgi (its stderr).
sub app_log {
	my ($s, $pool, $w) = @_;
	return $pool->log_lines unless $s->{fcgid};
	my @out;
	open my $fh, '<', $w->{error_log} or return;
	while (my $line = <$fh>) {
		next unless $line =~ /^\s*(\{.*\})\s*$/;
		my $v = eval { JSON::PP->new->decode($1) };
		push @out, $v if ref $v eq 'HASH';
	}
	return @out;
}

sub access_line {
	my ($s, $pool, $w, $rid) = @_;
	my $found;
	wait_until {
		($found) = grep { ($_->{type} // '') eq 'access' && ($_->{request_id} // '') eq $rid }
			app_log($s, $pool, $w);
		$found;
	} 5;
	return $found;
}

my $n = 0;
for my $s (@SERVERS) {
	for my $prefix ('', '/app') {
		my $where = $prefix eq '' ? 'root' : $prefix;
		subtest "fastback behind $s->{name} at $where" => sub {
			plan skip_all => $s->{missing} if $s->{missing};
			my $pool = $POOL{$prefix};
			my $w = start_server($s, $pool, $prefix);
			push @stop, $w;
			my $url = $w->{url};
			my $tag = 'w' . ++$n;

			my $r = http(GET => "$url/health");
			is $r->{status}, 200, "GET $prefix/health" or diag explain $r;
			is_deeply $r->{json}, { status => 'ok' }, '{"status":"ok"}';
			like $r->{headers}{'content-type'} // '', qr{^application/json\b}, 'JSON';
			security_headers($r, '/health');
			like $r->{headers}{'x-request-id'} // '', qr/^[\w.:-]{8,}$/, 'X-Request-Id';

			my $rid = "$tag-health-12345";
			$r = http(GET => "$url/health", headers => { 'X-Request-Id' => $rid });
			is $r->{headers}{'x-request-id'}, $rid, "the client's X-Request-Id is echoed";

			$r = http(GET => "$url/nope");
			is $r->{status}, 404, "GET $prefix/nope";
			like $r->{headers}{'content-type'} // '', qr{^application/problem\+json\b},
				'problem+json';
			is $r->{json}{code}, 'not_found', 'code not_found';
			is $r->{json}{status}, 404, 'status in the body';
			ok length($r->{json}{request_id} // ''), 'request_id in the body';
			is $r->{json}{request_id}, $r->{headers}{'x-request-id'}, '... the X-Request-Id';
			security_headers($r, '404');

			$r = http(POST => "$url/health");
			is $r->{status}, 405, "POST $prefix/health";
			like $r->{headers}{allow} // '', qr/\bGET\b/, 'Allow lists GET';
			is $r->{json}{code}, 'method_not_allowed', 'code method_not_allowed';
			like $r->{headers}{'content-type'} // '', qr{^application/problem\+json\b},
				'problem+json';

			$r = http(OPTIONS => "$url/health");
			is $r->{status}, 204, "OPTIONS $prefix/health";
			like $r->{headers}{allow} // '', qr/\bGET\b.*\bOPTIONS\b/, 'Allow';
			is $r->{content} // '', '', 'no body';

			$r = http(GET => "$url/metrics");
			is $r->{status}, 200, 'GET /metrics from loopback';
			like $r->{headers}{'content-type'} // '', qr{^text/plain\b}, 'text';
			like $r->{content}, qr/^http_requests_total\{/m, 'Prometheus text';

			# The bearer token must reach the app: from a client that is
			# not on loopback, /metrics needs it.
			$r = http(GET => "$url/metrics", headers => { 'X-Forwarded-For' => $FAR });
			is $r->{status}, 401, "GET /metrics from $FAR without a token: 401";
			like $r->{headers}{'www-authenticate'} // '', qr/^Bearer/i, 'WWW-Authenticate';
			$r = http(GET => "$url/metrics", token => "x$TOKEN",
				headers => { 'X-Forwarded-For' => $FAR });
			is $r->{status}, 401, '... with a wrong token: 401';
			$rid = "$tag-metrics-12345";
			$r = http(GET => "$url/metrics", token => $TOKEN,
				headers => { 'X-Forwarded-For' => $FAR, 'X-Request-Id' => $rid });
			is $r->{status}, 200, '... with METRICS_TOKEN: 200 (Authorization arrived)';
			my $line = access_line($s, $pool, $w, $rid);
			ok $line, 'the access log has the request' or return;
			is $line->{ip}, $FAR, '... from the far client';
			is $line->{route}, '/metrics', '... routed to /metrics';
			is $line->{status}, 200, '... status 200';

			return if $prefix eq '';
			(my $site = $url) =~ s{\Q$prefix\E$}{};
			$r = http(GET => $url);
			is $r->{status}, 308, "GET $prefix redirects";
			like $r->{headers}{location} // '', qr{\Q$prefix\E/$}, "... to $prefix/";

			# Outside the prefix: the web server's own answer, not fastback's.
			$rid = "$tag-outside-12345";
			$r = http(GET => "$site/health", headers => { 'X-Request-Id' => $rid });
			if ($s->{name} eq 'caddy') {
				# Caddy answers a path no handler matches with an empty 200.
				is $r->{status}, 200, 'GET /health outside the prefix: Caddy\'s empty 200';
				is $r->{content}, '', '... no body';
			} else {
				is $r->{status}, 404, 'GET /health outside the prefix: 404';
			}
			isnt $r->{headers}{'x-request-id'} // '', $rid, '... not from fastback';
			my $rid2 = "$tag-after-12345";
			http(GET => "$url/health", headers => { 'X-Request-Id' => $rid2 });
			ok access_line($s, $pool, $w, $rid2), 'a later request is logged';
			ok !grep({ ($_->{request_id} // '') eq $rid } app_log($s, $pool, $w)),
				'the one outside the prefix never reached fastback';
		};
	}
}

# Stop the web servers (mod_fcgid's fastback-fcgi processes with Apache),
# then the pools: each stop scans the logs for sanitizer reports.
$_->stop for @stop;
$_->stop for values %POOL;

done_testing;
