#!/usr/bin/perl
# The HTTP conventions of api.md behind nginx, against the real pool and
# PostgreSQL: security headers, request ids, problem+json errors, 404/405/
# OPTIONS, CORS, the operations routes, the access log, bad input.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use JSON::PP;
use FastbackTest;

my $s = start_stack(FCGI_CHILDREN => 2, CORS_ORIGINS => 'https://app.example',
	METRICS_TOKEN => 'metrics-secret-token', TRUSTED_PROXIES => '127.0.0.1');
my $u = $s->{url};
my @kids = sort { $a <=> $b } $s->children;
is scalar @kids, 2, 'two responders';

sub problem_ok {
	my ($r, $status, $code, $name) = @_;
	subtest $name => sub {
		is $r->{status}, $status, "status $status";
		like $r->{headers}{'content-type'} // '', qr{^application/problem\+json},
			'problem+json';
		ok $r->{json}, 'body is JSON' or diag $r->{content};
		return unless $r->{json};
		is $r->{json}{type}, 'about:blank', 'type';
		is $r->{json}{status}, $status, 'status member';
		is $r->{json}{code}, $code, "code $code";
		ok length($r->{json}{title} // ''), 'title';
		is $r->{json}{request_id}, $r->{headers}{'x-request-id'},
			'request_id equals X-Request-Id';
	};
}

# ---- /health and the headers every answer carries -------------------------
my $r = http(GET => "$u/health");
is $r->{status}, 200, 'GET /health';
is $r->{content}, '{"status":"ok"}', 'exact body';
like $r->{headers}{'content-type'}, qr{^application/json}, 'JSON';
my %want = (
	'x-content-type-options' => 'nosniff',
	'referrer-policy' => 'no-referrer',
	'x-frame-options' => 'DENY',
	'content-security-policy' => "default-src 'none'; frame-ancestors 'none'",
	'cross-origin-resource-policy' => 'same-origin',
	'cache-control' => 'no-store',
);
is $r->{headers}{$_}, $want{$_}, "header $_" for sort keys %want;
like $r->{headers}{'x-request-id'}, qr/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
	'generated request id is a UUID v4';
ok !exists $r->{headers}{'strict-transport-security'}, 'no HSTS over http';

$r = http(GET => "$u/health", headers => { 'X-Request-Id' => 'client-id_1.2:3' });
is $r->{headers}{'x-request-id'}, 'client-id_1.2:3', 'sane client request id echoed';
$r = http(GET => "$u/health", headers => { 'X-Request-Id' => 'bad id <script>' });
isnt $r->{headers}{'x-request-id'}, 'bad id <script>', 'insane request id replaced';
$r = http(GET => "$u/health", headers => { 'X-Request-Id' => 'a' x 65 });
isnt $r->{headers}{'x-request-id'}, 'a' x 65, 'over-long request id replaced';

$r = http(HEAD => "$u/health");
is $r->{status}, 200, 'HEAD /health';
is $r->{content} // '', '', 'HEAD has no body';

# ---- 404, 405, OPTIONS -----------------------------------------------------
problem_ok(http(GET => "$u/nope"), 404, 'not_found', '404 unknown path');
problem_ok(http(GET => "$u/health/"), 404, 'not_found', 'trailing slash is another path');
$r = http(POST => "$u/health", json => { a => 1 });
problem_ok($r, 405, 'method_not_allowed', '405 for POST /health');
is $r->{headers}{allow}, 'GET, HEAD, OPTIONS', 'Allow header';
$r = http(DELETE => "$u/ready");
is $r->{status}, 405, 'DELETE /ready is 405';
$r = http(OPTIONS => "$u/health");
is $r->{status}, 204, 'OPTIONS answers 204';
is $r->{headers}{allow}, 'GET, HEAD, OPTIONS', 'OPTIONS lists the methods';
$r = http(PROPFIND => "$u/health");
is $r->{status}, 405, 'an unknown method on a known path is 405';

# ---- CORS ------------------------------------------------------------------
$r = http(OPTIONS => "$u/health", headers => { Origin => 'https://app.example',
	'Access-Control-Request-Method' => 'GET',
	'Access-Control-Request-Headers' => 'authorization' });
is $r->{status}, 204, 'preflight 204';
is $r->{headers}{'access-control-allow-origin'}, 'https://app.example', 'preflight ACAO';
like $r->{headers}{'access-control-allow-methods'} // '', qr/\bGET\b/, 'allowed methods';
like $r->{headers}{'access-control-allow-headers'} // '', qr/\bAuthorization\b/,
	'allowed headers include Authorization';
like $r->{headers}{'access-control-max-age'} // '', qr/^\d+$/, 'max-age';
$r = http(GET => "$u/health", headers => { Origin => 'https://app.example' });
is $r->{headers}{'access-control-allow-origin'}, 'https://app.example', 'simple request ACAO';
like $r->{headers}{'access-control-expose-headers'} // '', qr/X-Request-Id/,
	'X-Request-Id exposed';
like $r->{headers}{vary} // '', qr/Origin/, 'Vary: Origin';
$r = http(OPTIONS => "$u/health", headers => { Origin => 'https://evil.example',
	'Access-Control-Request-Method' => 'GET' });
ok !exists $r->{headers}{'access-control-allow-origin'}, 'other origin gets no ACAO';
ok !exists $r->{headers}{'access-control-allow-methods'}, 'nor allowed methods';

# ---- /ready, /metrics, self-description ----------------------------------
$r = http(GET => "$u/ready");
is $r->{status}, 200, '/ready';
is $r->{json}{status}, 'ok', 'ready ok';
is $r->{json}{checks}{database}{status}, 'ok', 'database ok';
like $r->{json}{checks}{database}{latency_ms}, qr/^[0-9.e-]+$/, 'database latency';
ok !exists $r->{json}{checks}{redis}, 'unconfigured Redis is absent';

$r = http(GET => "$u/metrics");
is $r->{status}, 200, '/metrics from loopback';
like $r->{headers}{'content-type'}, qr{^text/plain; version=0\.0\.4}, 'Prometheus text';
like $r->{content}, qr/^http_requests_total\{method="GET",route="\/health",status="200"\} \d+$/m,
	'request counter';
like $r->{content}, qr/^http_request_duration_seconds_bucket\{route="\/health",le="\+Inf"\} \d+$/m,
	'latency histogram';
like $r->{content}, qr/^# TYPE http_requests_total counter$/m, 'TYPE line';
# Through a trusted proxy the client is 203.0.113.9: not loopback.
my %xff = ('X-Forwarded-For' => '203.0.113.9');
problem_ok(http(GET => "$u/metrics", headers => \%xff), 401, 'unauthorized',
	'/metrics from afar without the token');
problem_ok(http(GET => "$u/metrics", headers => \%xff, token => 'wrong'), 401,
	'unauthorized', '/metrics with a wrong token');
is http(GET => "$u/metrics", headers => \%xff, token => 'metrics-secret-token')->{status},
	200, '/metrics with METRICS_TOKEN';
# X-Forwarded-For from an untrusted peer is ignored (tested in the unit tests
# too): here the peer is trusted, so the forged hop list decides.
is http(GET => "$u/metrics", headers => { 'X-Forwarded-For' => '203.0.113.9, 127.0.0.1' })
	->{status}, 401, 'trusted hops are skipped from the right';

$r = http(GET => "$u/api/openapi.json");
is $r->{status}, 200, 'openapi.json';
is $r->{json}{openapi}, '3.1.0', 'OpenAPI 3.1';
for my $p ('/health', '/ready', '/metrics', '/api/openapi.json', '/.well-known/jwks.json') {
	ok $r->{json}{paths}{$p}{get}, "documents GET $p";
}
my %ids;
for my $item (values %{ $r->{json}{paths} }) {
	$ids{ $_->{operationId} }++ for values %$item;
}
ok !(grep { $_ > 1 } values %ids), 'operationIds are unique';
$r = http(GET => "$u/api/docs");
is $r->{status}, 200, '/api/docs';
like $r->{headers}{'content-type'}, qr{^text/html}, 'HTML';
like $r->{headers}{'content-security-policy'}, qr/script-src 'self'/, 'page CSP lets its script run';
like $r->{content}, qr/<script src="docs.js">/, 'loads its own script';
is http(GET => "$u/api/docs.js")->{status}, 200, 'docs.js';
$r = http(GET => "$u/.well-known/jwks.json");
is_deeply $r->{json}, { keys => [] }, 'no public keys with HS256';

# ---- bad input: always a 4xx problem, never a 500 or a dead responder ----
problem_ok(http(GET => "$u/health%00"), 400, 'bad_request', 'NUL byte in the path');
problem_ok(http(GET => "$u/he%C3%28lth"), 400, 'bad_request', 'invalid UTF-8 in the path');
problem_ok(http(GET => "$u/he%zzlth"), 400, 'bad_request', 'malformed percent escape');
problem_ok(http(GET => "$u/health?x=%ZZ"), 400, 'bad_request', 'malformed query');
problem_ok(http(GET => "$u/health?x=%00"), 400, 'bad_request', 'NUL in the query');
problem_ok(http(GET => "$u/" . ('a/' x 2100)), 414, 'uri_too_long', 'path over 4 KiB (app)');
problem_ok(http(GET => "$u/" . ('a' x 9000)), 414, 'uri_too_long', 'URI over nginx buffers');
problem_ok(http(GET => "$u/health", headers => { 'X-Big' => 'b' x 9000 }), 431,
	'headers_too_large', 'header over nginx buffers');
problem_ok(http(POST => "$u/health", headers => { 'Content-Type' => 'application/json' },
	body => '{' x 3_000_000), 413, 'payload_too_large', 'body over client_max_body_size');
$r = http(POST => "$u/health", headers => { 'Content-Type' => 'application/json' },
	body => "{\"a\":\"\xff\xfe\"}");
is $r->{status}, 405, 'a body on a route without one: 405 before any parsing';
$r = http(GET => "$u/health", headers => { 'Content-Type' => 'text/plain' },
	body => "\0\0\0");
is $r->{status}, 200, 'a stray body on GET is not read';

# ---- the access log: one JSON line per request, no query, no secrets ------
http(GET => "$u/health?token=very-secret-value", headers => { 'X-Request-Id' => 'log-check-1' });
my ($line) = grep { ($_->{request_id} // '') eq 'log-check-1' } $s->log_lines;
ok $line, 'access line for the request';
is $line->{type}, 'access', 'type access';
is $line->{method}, 'GET', 'method';
is $line->{route}, '/health', 'route pattern';
is $line->{status}, 200, 'status';
ok defined $line->{duration_ms}, 'duration';
unlike $s->log_text, qr/very-secret-value/, 'no query string in the log';
unlike $s->log_text, qr/metrics-secret-token/, 'no token in the log';

# ---- nobody died -----------------------------------------------------------
is_deeply [sort { $a <=> $b } $s->children], \@kids, 'same responders after all that';
unlike $s->log_text, qr/responder died/, 'no responder died';
unlike $s->log_text, qr/"status":5\d\d/, 'no 5xx answered';

# ---- mount prefix, HSTS, socket on fd 0 ----------------------------------
my $p = start_stack(prefix => '/app', FCGI_CHILDREN => 1);
is http(GET => "$p->{url}/health")->{status}, 200, '/app/health under a prefix';
problem_ok(http(GET => "$p->{url}/nope"), 404, 'not_found', '404 under the prefix');
is http(GET => "$p->{url}/metrics")->{status}, 200, 'metrics under the prefix';
like $p->{url}, qr{/app$}, 'the stack URL carries the prefix';
(my $root = $p->{url}) =~ s{/app$}{};
is http(GET => "$root/health")->{status}, 404, 'outside the prefix nothing is served';

my $https = start_stack(FCGI_CHILDREN => 1, PUBLIC_URL => 'https://api.example');
$r = http(GET => "$https->{url}/health");
like $r->{headers}{'strict-transport-security'} // '', qr/max-age=\d+/, 'HSTS when PUBLIC_URL is https';

my $fd0 = start_pool(inherit_socket => 1, FCGI_CHILDREN => 2);
my $n0 = start_nginx(pool => $fd0);
is http(GET => "$n0->{url}/health")->{status}, 200, 'serves the socket on fd 0 (spawn-fcgi)';
is scalar($fd0->children), 2, 'with its own responders';

done_testing;
