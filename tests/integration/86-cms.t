#!/usr/bin/perl
# The content of api.md "Content (CMS)" behind nginx against the real pool
# and PostgreSQL: services, projects, blog posts and testimonials. Writes are
# for admins (401 anonymous, 403 for users); every field is validated and
# every bad one is named in one 422, per resource; slugs are made of titles,
# a taken one is 409; drafts (and scheduled items) are invisible to the
# public by list, id and slug, and visible to admins with ?drafts=true;
# lists order by position then newest, or newest, filter by tag, search with
# ?q= (title matches first, body-only words found); keyset pagination walks
# every item exactly once while items are added; public reads carry a strong
# ETag and answer If-None-Match with 304; GET /api/search ranks across the
# four; partial PATCH and DELETE; an audit entry with the change for every
# admin write (and none for a PATCH that changes nothing).
use strict;
use warnings;
use utf8;

use Errno qw(EINTR);
use File::Temp qw(tempdir tempfile);
use FindBin;
use JSON::PP;
use MIME::Base64 qw(encode_base64);
use POSIX qw(_exit);
use Test::More;
use Time::HiRes qw(time);

use lib "$FindBin::Bin/../lib";
use FastbackTest;

binmode Test::More->builder->$_, ':encoding(UTF-8)'
	for qw(output failure_output todo_output);

my $T0 = time;
my $BUILD = build_dir();
plan skip_all => "$BUILD/fastbackctl not built: run make first" unless -x "$BUILD/fastbackctl";

my $JSON = JSON::PP->new->utf8->canonical;
my $PW = 'correct horse battery staple 42';
my $UUID = qr/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
my $TIME = qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;
my $TMP = tempdir('fb86-XXXXXX', TMPDIR => 1, CLEANUP => !$ENV{FASTBACK_KEEP_TMP});
my $SANITIZER_RE = qr/ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:/;
my $FASTBACK_VARS = qr/^(?:DATABASE_URL|DB_\w+|FCGI_\w+|PUBLIC_URL|APP_\w+|JWT_\w+
	|ENCRYPTION_KEYS|CORS_ORIGINS|TRUSTED_PROXIES|MAX_\w+|LOG_\w+|REGISTRATION
	|RATE_?LIMIT\w*|WORKER_\w+|REDIS_URL|SMTP_URL|MAIL_\w+|S3_\w+|STRIPE_\w+
	|AI_\w+|METRICS_TOKEN|FASTBACK_CONFIG|PASSWORD_\w+|ACCESS_TOKEN_TTL
	|REFRESH_TOKEN_TTL|SESSION_MAX_AGE)$/x;

# ---- local helpers -----------------------------------------------------------

sub slurp {
	my ($f) = @_;
	open my $fh, '<', $f or return '';
	local $/;
	return scalar <$fh>;
}

# ctl($config, $stdin, ARGS...): (exit status, stdout, stderr) of fastbackctl.
sub ctl {
	my ($config, $stdin, @args) = @_;
	my ($ifh, $in) = tempfile(DIR => $TMP);
	print $ifh $stdin // '';
	close $ifh;
	my ($ofh, $out) = tempfile(DIR => $TMP);
	my ($efh, $err) = tempfile(DIR => $TMP);
	my $pid = fork // die "fork: $!";
	if (!$pid) {
		open STDIN, '<', $in or _exit(126);
		open STDOUT, '>&', $ofh or _exit(126);
		open STDERR, '>&', $efh or _exit(126);
		delete $ENV{$_} for grep { $_ =~ $FASTBACK_VARS } keys %ENV;
		$SIG{PIPE} = 'DEFAULT';
		no warnings q(exec);
		exec { "$BUILD/fastbackctl" } "$BUILD/fastbackctl", '--config', $config, @args;
		_exit(127);
	}
	1 while waitpid($pid, 0) < 0 && $! == EINTR;
	my $status = $? >> 8;
	my ($o, $e) = (slurp($out), slurp($err));
	unlink $in, $out, $err;
	if ($e =~ $SANITIZER_RE) {
		fail("sanitizer report from fastbackctl @args");
		diag $e;
	}
	return ($status, $o, $e);
}

sub fields_of {
	my ($r) = @_;
	return sort map { $_->{field} // '' }
		@{ (ref $r->{json} eq 'HASH' && $r->{json}{errors}) || [] };
}

# problem_ok($r, STATUS, CODE, [FIELD], NAME)
sub problem_ok {
	my ($r, $status, $code, $field, $name) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my $ok = is($r->{status}, $status, "$name: status $status");
	$ok &&= like($r->{headers}{'content-type'} // '', qr{^application/problem\+json}, "$name: problem+json");
	$ok &&= is(ref $r->{json} eq 'HASH' ? $r->{json}{code} : undef, $code, "$name: code $code");
	if (defined $field) {
		my @f = fields_of($r);
		$ok &&= ok((grep { $_ eq $field } @f), "$name: errors name \"$field\"")
			or diag "fields: @f";
	}
	diag "answer: $r->{content}" unless $ok;
	return $ok;
}

# invalid_ok($r, [FIELDS], NAME): 422 naming exactly these fields, once each.
sub invalid_ok {
	my ($r, $fields, $name) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my $ok = is($r->{status}, 422, "$name: 422");
	$ok &&= is($r->{json}{code}, 'validation_failed', "$name: validation_failed");
	$ok &&= is_deeply([fields_of($r)], [sort @$fields], "$name: names @$fields");
	my $n = @$fields;
	$ok &&= is($r->{json}{detail}, $n == 1 ? '1 field is invalid' : "$n fields are invalid",
		"$name: detail counts them");
	diag "answer: $r->{content}" unless $ok;
	return $ok;
}

# ---- the stack ----------------------------------------------------------------

my $s = start_stack(
	FCGI_CHILDREN => 2,
	RATE_LIMIT_GENERAL_IP => 0, RATE_LIMIT_GENERAL_USER => 0, RATE_LIMIT_AUTH_IP => 0,
	RATE_LIMIT_LOGIN_FAILURES => 0, RATE_LIMIT_ACCOUNT_FAILURES => 0,
	PASSWORD_ARGON2_MEMORY_KIB => 8192, PASSWORD_ARGON2_ITERATIONS => 1,
);
my $U = $s->{url};
my $DB = $s->{conf}{DATABASE_URL};

sub api {
	my ($method, $path, %o) = @_;
	return http($method => "$U$path", %o);
}

sub signin {
	my ($email) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my $r = api(POST => '/api/auth/login', json => { email => $email, password => $PW });
	is $r->{status}, 200, "$email logs in" or diag $r->{content};
	return $r->{status} == 200 ? $r->{json}{access_token} : undef;
}

for my $who ('boss@example.com', 'alice@example.com') {
	my ($st, $out, $err) = ctl($s->{config}, "$PW\n", 'user', 'create-admin', $who);
	is $st, 0, "create-admin $who" or diag "$out$err";
}
psql($DB, "UPDATE users SET role = 'user' WHERE email = 'alice\@example.com'");
my %ID = map { split /\|/ } split /\n/, psql($DB, "SELECT split_part(email, '\@', 1), id FROM users");
my $ADMIN = signin('boss@example.com');
my $ALICE = signin('alice@example.com');
BAIL_OUT('cannot sign in') unless $ADMIN && $ALICE;

# create(RESOURCE, BODY): the created item (or a failed test and {}).
sub create {
	my ($res, $body) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my $r = api(POST => "/api/$res", token => $ADMIN, json => $body);
	is $r->{status}, 201, "create $res" or diag $r->{content};
	return $r->{json} // {};
}

sub service {
	my (%f) = @_;
	return create('services', { name => 'A service', price_cents => 1000, currency => 'eur',
		published => JSON::PP::true, %f });
}

sub ids_of { return map { $_->{id} } @{ $_[0]{json}{data} || [] } }

# ---- who may write ------------------------------------------------------------

my %MINIMAL = (
	services => { name => 'Minimal', price_cents => 0, currency => 'usd' },
	projects => { title => 'Minimal' },
	'blog-posts' => { title => 'Minimal' },
	testimonials => { author_name => 'Minimal', quote => 'Fine.', rating => 5 },
);

subtest 'writes are for admins' => sub {
	my $one = create('projects', { title => 'Authz target', published => JSON::PP::true });
	for my $res (sort keys %MINIMAL) {
		problem_ok(api(POST => "/api/$res", json => $MINIMAL{$res}), 401, 'unauthorized', undef,
			"anonymous POST /api/$res");
		problem_ok(api(POST => "/api/$res", token => $ALICE, json => $MINIMAL{$res}), 403,
			'forbidden', undef, "a user's POST /api/$res");
	}
	problem_ok(api(PATCH => "/api/projects/$one->{id}", json => { title => 'x' }), 401,
		'unauthorized', undef, 'anonymous PATCH');
	problem_ok(api(PATCH => "/api/projects/$one->{id}", token => $ALICE, json => { title => 'x' }),
		403, 'forbidden', undef, "a user's PATCH");
	problem_ok(api(DELETE => "/api/projects/$one->{id}"), 401, 'unauthorized', undef,
		'anonymous DELETE');
	problem_ok(api(DELETE => "/api/projects/$one->{id}", token => $ALICE), 403, 'forbidden', undef,
		"a user's DELETE");
	problem_ok(api(POST => '/api/services', json => { name => '' }), 401, 'unauthorized', undef,
		'anonymous with an invalid body: 401 before any validation');
	is api(GET => "/api/projects/$one->{id}")->{json}{title}, 'Authz target', 'nothing changed';
	is psql($DB, "SELECT count(*) FROM services"), 0, 'nothing created';

	# Reads are public; a token, when sent, must be good.
	is api(GET => '/api/projects')->{status}, 200, 'anonymous list';
	is api(GET => '/api/projects', token => $ALICE)->{status}, 200, "a user's list";
	problem_ok(api(GET => '/api/projects', token => 'not.a.jwt'), 401, 'unauthorized', undef,
		'a bad token on a public read');
	problem_ok(api(GET => "/api/projects/$one->{id}", token => 'not.a.jwt'), 401, 'unauthorized',
		undef, 'a bad token on a public item');
	problem_ok(api(GET => '/api/projects?drafts=true'), 401, 'unauthorized', undef,
		'anonymous ?drafts=true');
	problem_ok(api(GET => '/api/projects?drafts=true', token => $ALICE), 403, 'forbidden', undef,
		"a user's ?drafts=true");
	problem_ok(api(GET => '/api/projects?drafts=yes', token => $ADMIN), 400, 'bad_request', undef,
		'?drafts=yes');
	api(DELETE => "/api/projects/$one->{id}", token => $ADMIN);
};

# ---- validation -----------------------------------------------------------------

subtest 'validation names every bad field, per resource' => sub {
	invalid_ok(api(POST => '/api/services', token => $ADMIN, json => {}),
		[qw(name price_cents currency)], 'services: an empty body');
	invalid_ok(api(POST => '/api/services', token => $ADMIN, json => {
		name => '', summary => 'x' x 501, description => 42, price_cents => -1,
		currency => 'EUR', duration_minutes => 0, published => 'yes',
		published_at => 'yesterday', position => 1.5, tags => ['ok', 'Not OK'],
		colour => 'red' }),
		[qw(name summary description price_cents currency duration_minutes published
		    published_at position tags colour)], 'services: eleven bad fields at once');
	invalid_ok(api(POST => '/api/services', token => $ADMIN, json => {
		name => 'Dollars?', price_cents => 100, currency => 'xyz' }),
		['currency'], 'services: xyz is no ISO 4217 code');
	invalid_ok(api(POST => '/api/services', token => $ADMIN, json => {
		name => 'Gold', price_cents => 100, currency => 'xau' }),
		['currency'], 'services: gold is no currency');
	invalid_ok(api(POST => '/api/services', token => $ADMIN, json => {
		name => 'Big', price_cents => 10_000_000_000_000, currency => 'eur', duration_minutes => 10081 }),
		[qw(price_cents duration_minutes)], 'services: over the bounds');

	invalid_ok(api(POST => '/api/projects', token => $ADMIN, json => {
		title => 't' x 201, summary => ['no'], body => undef, url => 'javascript:alert(1)',
		cover_file_id => 'not-a-uuid', slug => 'Not A Slug', id => $ID{boss} }),
		[qw(title summary body url cover_file_id slug id)], 'projects: seven bad fields');
	for my $url ('ftp://example.com/', 'https://user:pw@example.com/', 'https://exa mple.com/',
		'//example.com', 'https://example.com/' . ('a' x 2048)) {
		invalid_ok(api(POST => '/api/projects', token => $ADMIN,
			json => { title => 'URL', url => $url }), ['url'], "projects: url " . substr($url, 0, 40));
	}

	invalid_ok(api(POST => '/api/blog-posts', token => $ADMIN, json => {
		excerpt => 'e' x 1001, body => [], author_id => 'me', tags => [('t') x 21],
		published_at => '2026-02-30T00:00:00Z' }),
		[qw(title excerpt body author_id tags published_at)], 'blog posts: six bad fields');
	invalid_ok(api(POST => '/api/blog-posts', token => $ADMIN, json => {
		title => 'Orphan', author_id => '00000000-0000-4000-8000-000000000000' }),
		['author_id'], 'blog posts: an author who does not exist');
	invalid_ok(api(POST => '/api/blog-posts', token => $ADMIN, json => { title => '日本語' }),
		['slug'], 'blog posts: a title that gives no slug, and none sent');
	invalid_ok(api(POST => '/api/blog-posts', token => $ADMIN, json => {
		title => 'A', slug => '0b1f9d2e-1111-4a2b-8c3d-123456789abc' }),
		['slug'], 'blog posts: a UUID-shaped slug');

	invalid_ok(api(POST => '/api/testimonials', token => $ADMIN, json => {
		author_name => '', author_title => "a\x{7}b", quote => '', rating => 6 }),
		[qw(author_name author_title quote rating)], 'testimonials: four bad fields');
	for my $rating (0, 3.5, '4', undef) {
		invalid_ok(api(POST => '/api/testimonials', token => $ADMIN, json => {
			author_name => 'R', quote => 'Q', rating => $rating }),
			['rating'], 'testimonials: rating ' . ($rating // 'null'));
	}

	my $t = create('testimonials', { author_name => 'Patch Target', quote => 'Good', rating => 4 });
	invalid_ok(api(PATCH => "/api/testimonials/$t->{id}", token => $ADMIN, json => {
		rating => 9, slug => 'UPPER', quote => '', author_name => undef, updated_at => 'now' }),
		[qw(rating slug quote author_name updated_at)], 'PATCH: five bad fields');
	is api(GET => "/api/testimonials/$t->{id}?drafts=true", token => $ADMIN)->{json}{rating}, 4,
		'nothing changed';
	problem_ok(api(POST => '/api/testimonials', token => $ADMIN, body => '[1]',
		headers => { 'Content-Type' => 'application/json' }), 400, 'invalid_json', undef,
		'an array body');
	is psql($DB, "SELECT (SELECT count(*) FROM services) + (SELECT count(*) FROM blog_posts)"),
		0, 'no invalid item was stored';
	api(DELETE => "/api/testimonials/$t->{id}", token => $ADMIN);
};

# ---- create, slugs, 409 ------------------------------------------------------------

subtest 'create: the item, slugs from titles, 409 on a taken slug' => sub {
	my $p = create('blog-posts', { title => 'Hello, World! Ça va?', body => 'First post.',
		tags => ['news', 'intro'], published => JSON::PP::true });
	is_deeply [sort keys %$p], [sort qw(id slug title excerpt body cover_file_id author_id
		published published_at position tags created_at updated_at)], 'a blog post, nothing more';
	like $p->{id}, $UUID, 'id';
	is $p->{slug}, 'hello-world-a-va', 'slug from the title (Ç dropped)';
	is $p->{author_id}, $ID{boss}, 'the author defaults to the admin';
	is $p->{excerpt}, '', 'excerpt defaults to ""';
	ok JSON::PP::is_bool($p->{published}) && $p->{published}, 'published true';
	like $p->{published_at}, $TIME, 'published_at set on publication';
	like $p->{created_at}, $TIME, 'created_at RFC 3339';
	is $p->{position}, 0, 'position 0';
	is_deeply $p->{tags}, ['news', 'intro'], 'tags';
	ok !defined $p->{cover_file_id}, 'cover_file_id null';

	problem_ok(api(POST => '/api/blog-posts', token => $ADMIN,
		json => { title => 'hello world a va' }), 409, 'conflict', 'slug',
		'the same slug again');
	my $p2 = create('blog-posts', { title => 'Hello, World! Ça va?', slug => 'hello-world-2' });
	is $p2->{slug}, 'hello-world-2', 'an explicit slug';
	problem_ok(api(PATCH => "/api/blog-posts/$p2->{id}", token => $ADMIN,
		json => { slug => 'hello-world-a-va' }), 409, 'conflict', 'slug', 'PATCH to a taken slug');
	my $long = create('blog-posts', { title => join(' ', ('word') x 40) });
	is length $long->{slug}, 79, 'a long title: cut to at most 80, without a trailing hyphen';
	unlike $long->{slug}, qr/-$/, 'no trailing hyphen';
	my $proj = create('projects', { title => 'Hello world a va' });
	is $proj->{slug}, 'hello-world-a-va', 'slugs are unique per resource, not across';

	my $svc = service(name => 'Consulting hour', price_cents => 12000, currency => 'chf',
		duration_minutes => 60);
	is_deeply [@{$svc}{qw(slug price_cents currency duration_minutes)}],
		['consulting-hour', 12000, 'chf', 60], 'a service';
	my $tm = create('testimonials', { author_name => 'Zoë Zed', author_title => 'CTO',
		quote => 'Superb.', rating => 5 });
	is $tm->{slug}, 'zo-zed', 'a testimonial: slug from author_name';

	# Idempotency-Key replays the first answer.
	my %h = (headers => { 'Idempotency-Key' => 'cms-create-1' });
	my $a = api(POST => '/api/projects', token => $ADMIN, json => { title => 'Once only' }, %h);
	my $b = api(POST => '/api/projects', token => $ADMIN, json => { title => 'Once only' }, %h);
	is $a->{status}, 201, 'first create with a key';
	is $b->{json}{id}, $a->{json}{id}, 'the same key replays the same item';
	is psql($DB, "SELECT count(*) FROM projects WHERE title = 'Once only'"), 1, 'stored once';
	api(DELETE => "/api/projects/$_", token => $ADMIN) for $a->{json}{id}, $proj->{id};
	api(DELETE => "/api/blog-posts/$_", token => $ADMIN) for $p->{id}, $p2->{id}, $long->{id};
	api(DELETE => "/api/services/$svc->{id}", token => $ADMIN);
	api(DELETE => "/api/testimonials/$tm->{id}", token => $ADMIN);
};

# ---- drafts --------------------------------------------------------------------------

subtest 'drafts are invisible to the public' => sub {
	my $pub = create('projects', { title => 'Shown project', published => JSON::PP::true });
	my $draft = create('projects', { title => 'Secret draft' });
	my $later = create('projects', { title => 'Scheduled one', published => JSON::PP::true,
		published_at => '2099-01-01T00:00:00Z' });
	ok !$draft->{published} && !defined $draft->{published_at}, 'a draft: unpublished, no date';
	is $later->{published_at}, '2099-01-01T00:00:00Z', 'a scheduled date is kept';

	my @public = ids_of(api(GET => '/api/projects'));
	ok((grep { $_ eq $pub->{id} } @public), 'the published one is listed');
	ok(!(grep { $_ eq $draft->{id} || $_ eq $later->{id} } @public),
		'the draft and the scheduled one are not');
	for my $key ($draft->{id}, $draft->{slug}, $later->{id}, $later->{slug}) {
		problem_ok(api(GET => "/api/projects/$key"), 404, 'not_found', undef, "public GET $key");
		problem_ok(api(GET => "/api/projects/$key", token => $ALICE), 404, 'not_found', undef,
			"a user's GET $key");
	}
	problem_ok(api(GET => "/api/projects/$draft->{id}", token => $ADMIN), 404, 'not_found', undef,
		'an admin without ?drafts=true sees the public view');
	ok !(grep { $_ eq $draft->{id} } ids_of(api(GET => '/api/projects?q=secret'))),
		'search does not find the draft';
	ok !(grep { $_->{id} eq $draft->{id} } @{ api(GET => '/api/search?q=secret')->{json}{data} }),
		'/api/search does not either';

	my $r = api(GET => '/api/projects?drafts=true', token => $ADMIN);
	is $r->{status}, 200, 'an admin with ?drafts=true';
	my @all = ids_of($r);
	ok((grep { $_ eq $draft->{id} } @all) && (grep { $_ eq $later->{id} } @all),
		'sees the draft and the scheduled one');
	is $r->{headers}{'cache-control'}, 'no-store', 'a drafts view is not cached';
	ok !defined $r->{headers}{etag}, 'and has no ETag';
	for my $key ($draft->{id}, $draft->{slug}) {
		$r = api(GET => "/api/projects/$key?drafts=true", token => $ADMIN);
		is $r->{status}, 200, "an admin's GET $key?drafts=true";
		is $r->{json}{id}, $draft->{id}, 'the draft';
	}
	$r = api(PATCH => "/api/projects/$draft->{id}", token => $ADMIN,
		json => { published => JSON::PP::true });
	like $r->{json}{published_at}, $TIME, 'publishing sets published_at';
	is api(GET => "/api/projects/$draft->{slug}")->{status}, 200, 'then the public sees it';
	api(DELETE => "/api/projects/$_", token => $ADMIN) for $pub->{id}, $draft->{id}, $later->{id};
};

# ---- order and tags ---------------------------------------------------------------------

subtest 'order by position then newest; newest; tags' => sub {
	my @t = map { create('testimonials', { author_name => "Order $_->[0]", quote => 'Q',
		rating => 3, position => $_->[1], tags => $_->[2], published => JSON::PP::true }) }
		['a', 3, ['web']], ['b', 1, []], ['c', 2, ['web', 'design']], ['d', 2, ['design']],
		['e', 1, ['web']];
	my %by = map { ($_->{author_name} =~ /(\w)$/)[0] => $_->{id} } @t;
	my @got = ids_of(api(GET => '/api/testimonials'));
	is_deeply \@got, [@by{qw(e b d c a)}], 'position ascending, newest first within one';
	is_deeply [ids_of(api(GET => '/api/testimonials?order=position'))], \@got, '?order=position';
	is_deeply [ids_of(api(GET => '/api/testimonials?order=newest'))], [@by{qw(e d c b a)}],
		'?order=newest';
	is_deeply [ids_of(api(GET => '/api/testimonials?tag=web'))], [@by{qw(e c a)}], '?tag=web';
	is_deeply [ids_of(api(GET => '/api/testimonials?tag=design&order=newest'))], [@by{qw(d c)}],
		'?tag=design&order=newest';
	is_deeply [ids_of(api(GET => '/api/testimonials?tag=nothing'))], [], 'an unused tag: empty';
	problem_ok(api(GET => '/api/testimonials?tag=Not%20A%20Tag'), 400, 'bad_request', undef,
		'a malformed tag');
	problem_ok(api(GET => '/api/testimonials?order=oldest'), 400, 'bad_request', undef,
		'an unknown order');
	problem_ok(api(GET => '/api/testimonials?order=rank'), 400, 'bad_request', undef,
		'rank without q');
	problem_ok(api(GET => '/api/testimonials?limit=0'), 400, 'bad_request', undef, 'limit 0');
	problem_ok(api(GET => '/api/testimonials?q=' . ('x' x 201)), 400, 'bad_request', undef,
		'q over 200 characters');
	my $r = api(PATCH => "/api/testimonials/$by{a}", token => $ADMIN, json => { position => 0 });
	is $r->{status}, 200, 'move a to position 0';
	is((ids_of(api(GET => '/api/testimonials')))[0], $by{a}, 'a comes first now');
	api(DELETE => "/api/testimonials/$_", token => $ADMIN) for values %by;
};

# ---- conditional GET ---------------------------------------------------------------------

subtest 'ETag, If-None-Match → 304, a new ETag after an update' => sub {
	my $svc = service(name => 'Cached service', tags => ['cache']);
	for my $path ("/api/services/$svc->{slug}", "/api/services/$svc->{id}",
		'/api/services?tag=cache', '/api/search?q=cached') {
		my $r = api(GET => $path);
		is $r->{status}, 200, "$path: 200";
		my $etag = $r->{headers}{etag} // '';
		like $etag, qr/^"[A-Za-z0-9_-]{43}"$/, "$path: a strong ETag";
		is $r->{headers}{'cache-control'}, 'public, max-age=0, must-revalidate',
			"$path: Cache-Control";
		is api(GET => $path)->{headers}{etag}, $etag, "$path: the same ETag again";
		my $n = api(GET => $path, headers => { 'If-None-Match' => $etag });
		is $n->{status}, 304, "$path: If-None-Match → 304";
		is length($n->{content} // ''), 0, "$path: no body";
		is $n->{headers}{etag}, $etag, "$path: the 304 carries the ETag";
		is api(GET => $path, headers => { 'If-None-Match' => "\"nope\", W/$etag" })->{status},
			304, "$path: a weak form in a list matches";
		is api(GET => $path, headers => { 'If-None-Match' => '*' })->{status}, 304,
			"$path: * matches";
		is api(GET => $path, headers => { 'If-None-Match' => '"other"' })->{status}, 200,
			"$path: another tag: 200";
	}
	my $before = api(GET => "/api/services/$svc->{slug}")->{headers}{etag};
	my $list_before = api(GET => '/api/services?tag=cache')->{headers}{etag};
	is api(PATCH => "/api/services/$svc->{id}", token => $ADMIN,
		json => { summary => 'Now with a summary' })->{status}, 200, 'update';
	my $r = api(GET => "/api/services/$svc->{slug}", headers => { 'If-None-Match' => $before });
	is $r->{status}, 200, 'the old ETag no longer matches';
	is $r->{json}{summary}, 'Now with a summary', 'the new body';
	isnt $r->{headers}{etag}, $before, 'a new ETag';
	isnt api(GET => '/api/services?tag=cache')->{headers}{etag}, $list_before,
		'the list has a new ETag too';
	api(DELETE => "/api/services/$svc->{id}", token => $ADMIN);
};

subtest 'public cache: a write shows at once on every responder, one behind the API within a second' => sub {
	my $svc = service(name => 'Fresh one', tags => ['fresh']);
	my $names = sub {
		my %seen;
		for (1 .. 20) {
			my $r = api(GET => '/api/services?tag=fresh');
			$seen{ join ',', map { $_->{name} } @{ $r->{json}{data} || [] } }++;
		}
		return join ' | ', sort keys %seen;
	};
	is $names->(), 'Fresh one', 'twenty reads (both responders cache the list)';
	is api(PATCH => "/api/services/$svc->{id}", token => $ADMIN,
		json => { name => 'Fresh two' })->{status}, 200, 'PATCH through the API';
	is $names->(), 'Fresh two', 'every read after it shows the change: no responder serves its old copy';
	psql($DB, "UPDATE services SET name = 'Fresh three' WHERE id = '$svc->{id}'");
	my $t0 = time;
	ok((wait_until { $names->() eq 'Fresh three' } 3), 'a change made in SQL shows too');
	cmp_ok time - $t0, '<', 1.5, sprintf('... within a second or so (%.2f s)', time - $t0);
	api(DELETE => "/api/services/$svc->{id}", token => $ADMIN);
	is $names->(), '', 'a DELETE shows at once';
};

# ---- search --------------------------------------------------------------------------------

subtest 'full-text search: body words found, title matches first' => sub {
	my $body_only = create('blog-posts', { title => 'Gardening basics',
		body => 'Soil, water, light. Also a xylophone in the shed.', published => JSON::PP::true });
	my $titled = create('blog-posts', { title => 'Tuning a xylophone',
		body => 'Mallets and bars.', published => JSON::PP::true });
	my $many = create('blog-posts', { title => 'Percussion notes',
		body => join(' ', ('xylophone') x 50), published => JSON::PP::true });
	my $other = create('blog-posts', { title => 'Unrelated', body => 'Nothing here.',
		published => JSON::PP::true });

	my @got = ids_of(api(GET => '/api/blog-posts?q=xylophone'));
	is $got[0], $titled->{id}, 'the title match ranks first (even above 50 body matches)';
	is_deeply [sort @got], [sort map { $_->{id} } $body_only, $titled, $many],
		'every post with the word, and only those';
	is_deeply [ids_of(api(GET => '/api/blog-posts?q=shed'))], [$body_only->{id}],
		'a word that occurs only in the body';
	is_deeply [ids_of(api(GET => '/api/blog-posts?q=xylophones'))], \@got, 'stemmed (english)';
	is_deeply [sort(ids_of(api(GET => '/api/blog-posts?q=xylophone%20-tuning')))],
		[sort map { $_->{id} } $body_only, $many], 'websearch syntax: -word';
	is_deeply [ids_of(api(GET => '/api/blog-posts?q=%22in%20the%20shed%22'))], [$body_only->{id}],
		'websearch syntax: a quoted phrase';
	is_deeply [ids_of(api(GET => '/api/blog-posts?q=zebra'))], [], 'no match: empty';
	is_deeply [ids_of(api(GET => '/api/blog-posts?q=xylophone&order=newest'))],
		[map { $_->{id} } $many, $titled, $body_only], '?q= with ?order=newest filters';

	# A ranked walk, one at a time.
	my (@walk, $cursor);
	for (1 .. 5) {
		my $r = api(GET => '/api/blog-posts?q=xylophone&limit=1'
			. (defined $cursor ? "&cursor=$cursor" : ''));
		is $r->{status}, 200, 'a ranked page' or last;
		push @walk, ids_of($r);
		$cursor = $r->{json}{next_cursor} // last;
	}
	is_deeply \@walk, \@got, 'the ranked walk gives the same order, each once';
	problem_ok(api(GET => '/api/blog-posts?order=newest&cursor=' . api(GET =>
		'/api/blog-posts?q=xylophone&limit=1')->{json}{next_cursor}), 400, 'bad_request', undef,
		'a ranked cursor in another order');
	api(DELETE => "/api/blog-posts/$_->{id}", token => $ADMIN) for $body_only, $titled, $many, $other;
};

subtest 'GET /api/search across the four resources' => sub {
	my @made = (
		['services', service(name => 'Garden care', description => 'We feed the quokka too.')],
		['projects', create('projects', { title => 'Quokka tracker', body => 'An app.',
			published => JSON::PP::true })],
		['blog-posts', create('blog-posts', { title => 'Island trip', excerpt => 'Rottnest',
			body => 'We met a quokka on the island.', published => JSON::PP::true })],
		['testimonials', create('testimonials', { author_name => 'Rita', quote =>
			'Happy as a quokka.', rating => 5, published => JSON::PP::true })],
	);
	my $draft = create('projects', { title => 'Quokka draft' });
	my $r = api(GET => '/api/search?q=quokka');
	is $r->{status}, 200, 'status 200';
	my @hits = @{ $r->{json}{data} || [] };
	is scalar @hits, 4, 'four hits (the draft is not one)';
	is_deeply [sort map { $_->{type} } @hits], [sort map { $_->[0] } @made], 'one of each type';
	is $hits[0]{type}, 'projects', 'the title match first';
	is $hits[0]{title}, 'Quokka tracker', 'its title';
	my %want = map { ($_->[1]{id} => $_->[1]) } @made;
	for my $h (@hits) {
		is_deeply [sort keys %$h], [qw(id rank slug snippet title type)], "$h->{type}: the fields";
		is $h->{slug}, $want{ $h->{id} }{slug}, "$h->{type}: slug";
		# The text around the match; the start of the text when only the title matches.
		like $h->{snippet}, $h->{title} =~ /quokka/i ? qr/^An app\.$/ : qr/quokka/i,
			"$h->{type}: the snippet";
	}
	ok $hits[0]{rank} >= 1 && $hits[1]{rank} < 1, 'ranks: a title match ≥ 1, body matches < 1';
	ok !(grep { $hits[$_]{rank} > $hits[$_ - 1]{rank} } 1 .. $#hits), 'ranked, best first';
	my $p1 = api(GET => '/api/search?q=quokka&limit=3');
	is scalar @{ $p1->{json}{data} }, 3, 'limit=3';
	my $p2 = api(GET => "/api/search?q=quokka&limit=3&cursor=$p1->{json}{next_cursor}");
	is_deeply [map { $_->{id} } @{ $p1->{json}{data} }, @{ $p2->{json}{data} }],
		[map { $_->{id} } @hits], 'two pages: the same hits in order';
	ok !defined $p2->{json}{next_cursor}, 'no cursor after the last';
	problem_ok(api(GET => '/api/search'), 400, 'bad_request', undef, 'no q');
	problem_ok(api(GET => '/api/search?q=%20'), 400, 'bad_request', undef, 'a blank q');
	problem_ok(api(GET => '/api/search?q=quokka&cursor=bogus'), 400, 'bad_request', undef,
		'a bogus cursor');
	is_deeply api(GET => '/api/search?q=the')->{json}{data}, [], 'only stop words: nothing';
	api(DELETE => "/api/$_->[0]/$_->[1]{id}", token => $ADMIN) for @made;
	api(DELETE => "/api/projects/$draft->{id}", token => $ADMIN);
};

# ---- pagination --------------------------------------------------------------------------------

subtest 'a walk with limit=2 sees every item once while items are added' => sub {
	my @initial = map { create('projects', { title => "Walk $_", position => $_ % 3,
		published => JSON::PP::true })->{id} } 1 .. 9;
	my $hidden = create('projects', { title => 'Walk draft', position => 1 })->{id};
	for my $order ('position', 'newest') {
		my (%seen, @dup, $cursor, $pages);
		my $added = 0;
		while (1) {
			my $r = api(GET => "/api/projects?order=$order&limit=2"
				. (defined $cursor ? "&cursor=$cursor" : ''));
			is($r->{status}, 200, "$order: page") or last;
			my @page = ids_of($r);
			ok @page <= 2, "$order: at most 2";
			$seen{$_}++ and push @dup, $_ for @page;
			$pages++;
			# New items before, among and after the walk's position.
			create('projects', { title => "Walk new $order $added", position => $added % 4 - 1,
				published => JSON::PP::true }) if $added++ < 6;
			$cursor = $r->{json}{next_cursor} // last;
			last if $pages > 40;
		}
		is_deeply \@dup, [], "$order: no item twice";
		is_deeply [grep { !$seen{$_} } @initial], [], "$order: every item there from the start";
		ok !$seen{$hidden}, "$order: no draft";
	}
	problem_ok(api(GET => '/api/projects?cursor=bogus'), 400, 'bad_request', undef, 'a bogus cursor');
	# Well-formed cursors with bad keys: refused, never a 500.
	for my $key ('n not-a-time', 'p x 2026-01-01T00:00:00Z', 'p 1', 'r abc', 'n ') {
		my $c = encode_base64($JSON->encode([$key, '00000000-0000-4000-8000-000000000000']), '');
		$c =~ tr{+/}{-_};
		$c =~ s/=+$//;
		my $order = $key =~ /^n/ ? 'newest' : 'position';
		$order = 'rank&q=walk' if $key =~ /^r/;
		problem_ok(api(GET => "/api/projects?order=$order&cursor=$c"), 400, 'bad_request', undef,
			"a cursor with key \"$key\"");
	}
	my $c = api(GET => '/api/projects?limit=2')->{json}{next_cursor};
	problem_ok(api(GET => "/api/projects?order=newest&cursor=$c"), 400, 'bad_request', undef,
		'a position cursor with order=newest');
	psql($DB, 'DELETE FROM projects');
};

# ---- update, delete, audit ---------------------------------------------------------------

subtest 'PATCH is partial; DELETE; every write audited' => sub {
	my $p = create('projects', { title => 'Audited', summary => 'Keep me', url => 'https://a.example/',
		tags => ['x'], published => JSON::PP::true });
	sleep 1;
	my $r = api(PATCH => "/api/projects/$p->{id}", token => $ADMIN,
		json => { title => 'Audited, renamed', url => undef });
	is $r->{status}, 200, 'PATCH title and url' or diag $r->{content};
	my $q = $r->{json};
	is $q->{title}, 'Audited, renamed', 'title changed';
	ok !defined $q->{url}, 'url cleared with null';
	is $q->{summary}, 'Keep me', 'summary kept';
	is_deeply $q->{tags}, ['x'], 'tags kept';
	is $q->{slug}, $p->{slug}, 'the slug stays (stable URLs)';
	is $q->{published_at}, $p->{published_at}, 'published_at stays';
	isnt $q->{updated_at}, $p->{updated_at}, 'updated_at moves';

	my $same = api(PATCH => "/api/projects/$p->{id}", token => $ADMIN,
		json => { title => 'Audited, renamed' });
	is $same->{status}, 200, 'a PATCH that changes nothing: 200';
	is $same->{json}{updated_at}, $q->{updated_at}, 'updated_at does not move';
	problem_ok(api(PATCH => '/api/projects/00000000-0000-4000-8000-000000000000', token => $ADMIN,
		json => { title => 'x' }), 404, 'not_found', undef, 'PATCH an unknown id');
	problem_ok(api(PATCH => "/api/projects/$p->{slug}", token => $ADMIN,
		json => { title => 'x' }), 404, 'not_found', undef, 'PATCH by slug');

	is api(DELETE => "/api/projects/$p->{id}", token => $ADMIN)->{status}, 204, 'DELETE: 204';
	is api(GET => "/api/projects/$p->{id}")->{status}, 404, 'gone';
	problem_ok(api(DELETE => "/api/projects/$p->{id}", token => $ADMIN), 404, 'not_found', undef,
		'DELETE again');

	my @e = map { $JSON->decode($_) } split /\n/, psql($DB,
		"SELECT json_build_object('action', action, 'actor', actor_id, 'type', target_type,"
		. " 'target', target_id, 'details', details) FROM audit_log WHERE target_id = '$p->{id}'"
		. ' ORDER BY seq');
	is_deeply [map { $_->{action} } @e], [qw(cms.create cms.update cms.delete)],
		'create, one update (not the no-op), delete';
	ok !(grep { $_->{actor} ne $ID{boss} || $_->{type} ne 'projects' } @e),
		'by the admin, on projects';
	is $e[0]{details}{resource}, 'projects', 'create: the resource';
	is $e[0]{details}{id}, $p->{id}, 'create: the id';
	is $e[0]{details}{fields}{title}, 'Audited', 'create: the fields';
	is_deeply $e[1]{details}{changes}, {
		title => { from => 'Audited', to => 'Audited, renamed' },
		url => { from => 'https://a.example/', to => undef } }, 'update: exactly the change';
	is $e[2]{details}{fields}{title}, 'Audited, renamed', 'delete: what was removed';

	my $big = create('blog-posts', { title => 'Big', body => 'b' x 5000 });
	my $body = $JSON->decode(psql($DB, "SELECT details::text FROM audit_log"
		. " WHERE target_id = '$big->{id}'"))->{fields}{body};
	is length $body, 201, 'a long text is cut in the audit entry';
	like $body, qr/^b{200}…$/, 'with an ellipsis';
	api(DELETE => "/api/blog-posts/$big->{id}", token => $ADMIN);
	ok psql($DB, "SELECT count(*) FROM audit_log WHERE action LIKE 'cms.%'") > 50,
		'every write of this test left an entry';
	my ($st, $out, $err) = ctl($s->{config}, undef, 'audit', 'verify');
	is $st, 0, 'the audit chain verifies' or diag "$out$err";
};

subtest 'the routes are documented' => sub {
	my $doc = api(GET => '/api/openapi.json')->{json};
	for my $res (qw(services projects blog-posts testimonials)) {
		ok $doc->{paths}{"/api/$res"}{get} && $doc->{paths}{"/api/$res"}{post}, "/api/$res";
		ok $doc->{paths}{"/api/$res/{id}"}{$_}, "$_ /api/$res/{id}" for qw(get patch delete);
	}
	ok $doc->{paths}{'/api/search'}{get}, '/api/search';
};

note sprintf 'took %.1f s', time - $T0;
done_testing;
