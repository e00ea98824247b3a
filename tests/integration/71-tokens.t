#!/usr/bin/perl
# The access token (api.md "Auth": claims, algorithm by configuration, HS256
# key = the raw JWT_SECRET), over HTTP behind nginx:
#
#   - the claims and header of a login's token, and its HMAC-SHA256 signature
#     computed here (Digest::SHA) with the raw JWT_SECRET; JWT_ISSUER and
#     JWT_AUDIENCE;
#   - forged tokens on GET /api/me → 401: alg none (with and without a
#     signature), tampered payload, wrong key, expired, nbf ahead, wrong iss
#     or aud, no sid, a revoked session's sid, a deleted user's token, and a
#     few more; a token forged with the real secret and sane claims → 200
#     (so the forger is right and the 401s mean something);
#   - EdDSA (JWT_PRIVATE_KEY_FILE): header, JWKS (kid, x), the signature
#     checked with openssl; key confusion (HS256 with the public key as the
#     HMAC key) → 401;
#   - rotation: JWT_SECRET=S2 with JWT_PREVIOUS_SECRET=S1 (SIGHUP) keeps S1's
#     tokens valid and signs with S2's kid; without it (restart) they are 401.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";

use Digest::SHA qw(hmac_sha256 sha256);
use File::Temp qw(tempdir);
use JSON::PP;
use MIME::Base64 qw(decode_base64url encode_base64url);
use Test::More;
use Time::HiRes qw(sleep time);

use FastbackTest;

my $T0 = time;
my $JSON = JSON::PP->new->utf8->canonical;
my $PW = 'correct horse battery staple 42';
my $UUID = qr/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
my $TMP = tempdir('fbtok-XXXXXX', TMPDIR => 1, CLEANUP => !$ENV{FASTBACK_KEEP_TMP});

my %HIGH = (
	RATE_LIMIT_AUTH_IP => 100000, RATE_LIMIT_GENERAL_IP => 100000,
	RATE_LIMIT_GENERAL_USER => 100000, RATE_LIMIT_LOGIN_FAILURES => 100000,
	RATE_LIMIT_ACCOUNT_FAILURES => 100000,
	PASSWORD_ARGON2_MEMORY_KIB => 8192, PASSWORD_ARGON2_ITERATIONS => 1,
	FCGI_CHILDREN => 2,
);

# ---- local helpers -------------------------------------------------------------

sub slurp { open my $fh, '<:raw', $_[0] or die "$_[0]: $!"; local $/; scalar <$fh> }
sub spew { open my $fh, '>:raw', $_[0] or die "$_[0]: $!"; print $fh $_[1]; close $fh or die "$_[0]: $!" }

sub b64u { encode_base64url($_[0]) }

# The three parts of a compact JWT, decoded: (header, claims, signature bytes).
sub jwt_parts {
	my ($jwt) = @_;
	my ($h, $p, $s) = split /\./, $jwt // '', -1;
	return (eval { $JSON->decode(decode_base64url($h // '')) } // {},
		eval { $JSON->decode(decode_base64url($p // '')) } // {},
		decode_base64url($s // ''));
}

# A compact JWT of $header and $claims (hashes, or JSON text) signed with
# HMAC-SHA256 under $key; 'none' signs nothing.
sub jwt_hs256 {
	my ($header, $claims, $key) = @_;
	my $h = b64u(ref $header ? $JSON->encode($header) : $header);
	my $p = b64u(ref $claims ? $JSON->encode($claims) : $claims);
	return "$h.$p." . (defined $key ? b64u(hmac_sha256("$h.$p", $key)) : '');
}

sub sc { my ($r) = @_; ($r->{status} // '?') . ' ' . (($r->{json} && $r->{json}{code}) // '') }

sub me {
	my ($s, $tok) = @_;
	my $r = http(GET => "$s->{url}/api/me", token => $tok);
	if (($r->{status} // 0) >= 500) {	# no case expects one: show why
		my @l = split /\n/, $s->log_text;
		diag "GET /api/me answered $r->{status}: $r->{content}\npool log:\n"
			. join "\n", @l[($#l > 14 ? $#l - 14 : 0) .. $#l];
	}
	return $r;
}

sub user {
	my ($s, $email) = @_;
	my $r = http(POST => "$s->{url}/api/auth/register",
		json => { email => $email, password => $PW, name => 'Token Tester' });
	die "register $email: " . sc($r) . "\n" unless $r->{status} == 202;
	psql($s->{conf}{DATABASE_URL}, "UPDATE users SET email_verified_at = now() WHERE email = '$email'");
	return $email;
}

sub login {
	my ($s, $email) = @_;
	my $r = http(POST => "$s->{url}/api/auth/login", json => { email => $email, password => $PW });
	die "login $email: " . sc($r) . " $r->{content}\n" unless $r->{status} == 200;
	return $r->{json};
}

# The kid jwt.h derives for an HS256 secret.
sub hs_kid { b64u(substr(sha256("hs256:$_[0]"), 0, 9)) }

sub random_secret { join '', map { ('a' .. 'z', 'A' .. 'Z', 0 .. 9)[rand 62] } 1 .. 48 }

# Rewrites the pool's config file with %change (undef removes) and sends
# SIGHUP; waits until every responder is a new one.
sub reload_pool {
	my ($pool, %change) = @_;
	for my $k (keys %change) {
		if (defined $change{$k}) { $pool->{conf}{$k} = $change{$k} } else { delete $pool->{conf}{$k} }
	}
	spew($pool->{config}, join '', map { "$_=$pool->{conf}{$_}\n" } sort keys %{ $pool->{conf} });
	my %old = map { $_ => 1 } $pool->children;
	$pool->signal('HUP');
	return wait_until {
		my @now = $pool->children;
		@now == $pool->{conf}{FCGI_CHILDREN} && !grep { $old{$_} } @now;
	} 30;
}

# ---- HS256 -----------------------------------------------------------------------

my $S1 = random_secret();
my $s = start_stack(%HIGH, JWT_SECRET => $S1);
my $db = $s->{conf}{DATABASE_URL};
my $email = user($s, 'tokens@example.org');
my $t = login($s, $email);
my $uid = $t->{user}{id};
my ($hdr, $cl) = jwt_parts($t->{access_token});

subtest 'HS256 token: header, claims, signature' => sub {
	is $hdr->{alg}, 'HS256', 'header alg HS256';
	is $hdr->{typ}, 'JWT', 'header typ JWT';
	ok length($hdr->{kid} // '') > 0, "header kid ($hdr->{kid})";
	is $hdr->{kid}, hs_kid($S1), '... the kid derived from JWT_SECRET (jwt.h)';
	is $cl->{iss}, $s->{conf}{PUBLIC_URL}, "iss = PUBLIC_URL ($cl->{iss})";
	is $cl->{aud}, 'fastback', 'aud fastback';
	is $cl->{sub}, $uid, 'sub = the user id';
	like $cl->{sid} // '', $UUID, 'sid is a session id';
	my $sessions = http(GET => "$s->{url}/api/auth/sessions", token => $t->{access_token});
	my ($cur) = grep { $_->{current} } @{ $sessions->{json}{data} || [] };
	is $cl->{sid}, $cur && $cur->{id}, '... the current session';
	is $cl->{role}, 'user', 'role user';
	is_deeply $cl->{amr}, ['pwd'], 'amr ["pwd"]';
	like $cl->{iat} // '', qr/^\d+$/, 'iat a number';
	cmp_ok abs(($cl->{iat} // 0) - time), '<', 60, 'iat is now';
	is $cl->{exp}, ($cl->{iat} // 0) + 900, 'exp = iat + 900';
	ok length($cl->{jti} // '') >= 16, 'jti';
	my (undef, $cl2) = jwt_parts(login($s, $email)->{access_token});
	isnt $cl2->{jti}, $cl->{jti}, 'jti differs between tokens';
	is_deeply [sort keys %$cl], [sort qw(iss aud sub sid role amr iat exp jti)], 'exactly these claims';

	my ($h, $p, $sig) = split /\./, $t->{access_token};
	is $sig, b64u(hmac_sha256("$h.$p", $S1)), 'HMAC-SHA256 with the raw JWT_SECRET string verifies it';
	isnt $sig, b64u(hmac_sha256("$h.$p", $S1 . 'x')), '... and not with another key';
	is me($s, $t->{access_token})->{status}, 200, 'the token works';
	is http(GET => "$s->{url}/.well-known/jwks.json")->{content}, '{"keys":[]}',
		'JWKS of an HS256 pool: {"keys":[]}';
};

subtest 'JWT_ISSUER and JWT_AUDIENCE' => sub {
	# A second pool on the same database and secret, with its own iss/aud.
	my $o = start_stack(%HIGH, JWT_SECRET => $S1, DATABASE_URL => $db,
		JWT_ISSUER => 'https://issuer.example', JWT_AUDIENCE => 'my-api');
	my $ot = login($o, $email);
	my (undef, $ocl) = jwt_parts($ot->{access_token});
	is $ocl->{iss}, 'https://issuer.example', 'iss = JWT_ISSUER';
	is $ocl->{aud}, 'my-api', 'aud = JWT_AUDIENCE';
	is me($o, $ot->{access_token})->{status}, 200, 'works where it was issued';
	is sc(me($o, $t->{access_token})), '401 unauthorized', 'the first pool\'s token (same key, other iss/aud): 401';
	is sc(me($s, $ot->{access_token})), '401 unauthorized', 'and the other way round';
	$o->{nginx}->stop;
	$o->stop;
};

subtest 'forged and invalid tokens on GET /api/me' => sub {
	my $now = time;
	my %h = %$hdr;
	my %c = (%$cl, jti => 'forged-' . int(rand 1e9));
	my $forge = sub { my (%o) = @_; jwt_hs256({ %h, %{ $o{h} || {} } }, { %c, %{ $o{c} || {} } }, $o{key} // $S1) };

	# The control: the forger is right.
	my $ok = $forge->();
	is me($s, $ok)->{status}, 200, 'control: forged with the real secret and sane claims → 200';
	my $arr = $forge->(c => { aud => ['other', 'fastback'] });
	is me($s, $arr)->{status}, 200, 'control: aud as an array containing fastback → 200';

	my ($gh, $gp, $gs) = split /\./, $t->{access_token};
	my $none_h = b64u($JSON->encode({ alg => 'none', typ => 'JWT' }));
	my $role_p = b64u($JSON->encode({ %$cl, role => 'admin' }));
	my $nosid = { %c };
	delete $nosid->{sid};
	my $noexp = { %c };
	delete $noexp->{exp};

	# A second session, revoked.
	my $t2 = login($s, $email);
	my (undef, $c2) = jwt_parts($t2->{access_token});
	is http(DELETE => "$s->{url}/api/auth/sessions/$c2->{sid}", token => $t->{access_token})->{status}, 204,
		'revoke a second session';
	# Another user, for a sub/sid mismatch.
	my $other = login($s, user($s, 'other@example.org'));
	my (undef, $oc) = jwt_parts($other->{access_token});

	my @cases = (
		['alg none, empty signature', "$none_h.$gp."],
		['alg none, with the real signature', "$none_h.$gp.$gs"],
		['alg none signed with the secret', $forge->(h => { alg => 'none' })],
		['alg NONE', jwt_hs256({ alg => 'NONE', typ => 'JWT' }, \%c, undef)],
		['alg HS512 header on an HS256 signature', $forge->(h => { alg => 'HS512' })],
		['payload tampered (role admin), old signature', "$gh.$role_p.$gs"],
		['signed with a wrong key', $forge->(key => random_secret())],
		['expired (exp an hour ago)', $forge->(c => { iat => int($now) - 4500, exp => int($now) - 3600 })],
		['no exp', jwt_hs256(\%h, $noexp, $S1)],
		['nbf an hour ahead', $forge->(c => { nbf => int($now) + 3600 })],
		['iat an hour ahead', $forge->(c => { iat => int($now) + 3600, exp => int($now) + 4500 })],
		['wrong iss', $forge->(c => { iss => 'https://evil.example' })],
		['wrong aud', $forge->(c => { aud => 'someone-else' })],
		['aud array without fastback', $forge->(c => { aud => ['a', 'b'] })],
		['no sid', jwt_hs256(\%h, $nosid, $S1)],
		['sid not a UUID', $forge->(c => { sid => 'abc' })],
		['sid of a revoked session (forged)', $forge->(c => { sid => $c2->{sid} })],
		['the revoked session\'s own token', $t2->{access_token}],
		['sid of a session that never existed', $forge->(c => { sid => '00000000-0000-4000-8000-000000000000' })],
		['another user\'s sub with my sid', $forge->(c => { sub => $oc->{sub} })],
		['unknown kid', $forge->(h => { kid => 'not-a-kid' })],
		['crit header', $forge->(h => { crit => ['exp'] })],
		['two parts only', "$gh.$gp"],
		['garbage', 'not.a.jwt'],
		['signature of another token', "$gh.$gp." . (split /\./, $other->{access_token})[2]],
	);
	for my $case (@cases) {
		my ($what, $tok) = @$case;
		my $r = me($s, $tok);
		is sc($r), '401 unauthorized', "$what: 401";
		like $r->{headers}{'www-authenticate'} // '', qr/^Bearer\b/, '... with WWW-Authenticate: Bearer'
			if $what eq 'expired (exp an hour ago)';
	}
	my $r = http(GET => "$s->{url}/api/me", headers => { Authorization => 'Bearer ' });
	is $r->{status}, 401, 'an empty bearer token: 401';
	$r = http(GET => "$s->{url}/api/me", headers => { Authorization => "Basic $t->{access_token}" });
	is $r->{status}, 401, 'the token under another scheme: 401';

	# A deleted user's valid token.
	my $gone = login($s, user($s, 'gone@example.org'));
	is me($s, $gone->{access_token})->{status}, 200, 'a user about to go: 200';
	$r = http(DELETE => "$s->{url}/api/me", token => $gone->{access_token},
		json => { password => $PW, confirm => 'DELETE' });
	is $r->{status}, 204, 'DELETE /api/me: 204' or diag $r->{content};
	is sc(me($s, $gone->{access_token})), '401 unauthorized', 'the deleted user\'s token: 401';
	my (undef, $gc) = jwt_parts($gone->{access_token});
	is sc(me($s, $forge->(c => { sub => $gc->{sub}, sid => $gc->{sid} }))), '401 unauthorized',
		'... and a fresh one forged for them: 401';

	is me($s, $t->{access_token})->{status}, 200, 'the genuine token still works after all that';
};

# ---- EdDSA ---------------------------------------------------------------------------

subtest 'EdDSA: JWT_PRIVATE_KEY_FILE, JWKS, key confusion' => sub {
	my $key = "$TMP/ed25519.pem";
	my $pub = "$TMP/ed25519.pub.pem";
	system('openssl', 'genpkey', '-algorithm', 'ed25519', '-out', $key) == 0 or die "openssl genpkey failed\n";
	system('openssl', 'pkey', '-in', $key, '-pubout', '-out', $pub) == 0 or die "openssl pkey failed\n";
	my $der = `openssl pkey -in '$key' -pubout -outform DER`;
	is length($der), 44, 'the public key in DER: 44 bytes';
	my $raw = substr $der, -32;
	my $pem = slurp($pub);

	my $e = start_stack(%HIGH, JWT_SECRET => undef, JWT_PRIVATE_KEY_FILE => $key);
	my $et = login($e, user($e, 'ed@example.org'));
	my ($eh, $ec) = jwt_parts($et->{access_token});
	is $eh->{alg}, 'EdDSA', 'header alg EdDSA';
	ok length($eh->{kid} // '') > 0, "header kid ($eh->{kid})";
	is $ec->{sub}, $et->{user}{id}, 'claims as usual (sub)';
	is me($e, $et->{access_token})->{status}, 200, 'the token works';

	my $jwks = http(GET => "$e->{url}/.well-known/jwks.json");
	is $jwks->{status}, 200, 'GET /.well-known/jwks.json: 200';
	my @keys = @{ ($jwks->{json} || {})->{keys} || [] };
	is scalar(@keys), 1, 'one key';
	my $k = $keys[0] || {};
	is $k->{kty}, 'OKP', 'kty OKP';
	is $k->{crv}, 'Ed25519', 'crv Ed25519';
	# The kid lets a client pick the key of a token (this failed while
	# jwks_get built the JWK itself without kid; fixed in b98c144).
	is $k->{kid}, $eh->{kid}, 'the token\'s kid';
	is $k->{x}, b64u($raw), 'x = the raw public key (last 32 bytes of the DER)';
	ok !exists $k->{d}, 'no private part (d)';

	my ($h, $p, $sig) = split /\./, $et->{access_token};
	spew("$TMP/msg", "$h.$p");
	spew("$TMP/sig", decode_base64url($sig));
	spew("$TMP/bad", "$h.${p}x");
	my $v = `openssl pkeyutl -verify -pubin -inkey '$pub' -rawin -in '$TMP/msg' -sigfile '$TMP/sig' 2>&1`;
	like $v, qr/Signature Verified Successfully/, 'openssl pkeyutl verifies the signature with the public key';
	$v = `openssl pkeyutl -verify -pubin -inkey '$pub' -rawin -in '$TMP/bad' -sigfile '$TMP/sig' 2>&1`;
	unlike $v, qr/Signature Verified Successfully/, '... and not over other bytes';

	my %c = (%$ec, jti => 'confused');
	(my $pem_trim = $pem) =~ s/\s+\z//;
	my @cases = (
		['HS256 keyed with the PEM public key text', jwt_hs256({ alg => 'HS256', typ => 'JWT', kid => $eh->{kid} }, \%c, $pem)],
		['... the PEM text without its final newline', jwt_hs256({ alg => 'HS256', typ => 'JWT', kid => $eh->{kid} }, \%c, $pem_trim)],
		['... the raw public key bytes', jwt_hs256({ alg => 'HS256', typ => 'JWT', kid => $eh->{kid} }, \%c, $raw)],
		['... the DER public key', jwt_hs256({ alg => 'HS256', typ => 'JWT', kid => $eh->{kid} }, \%c, $der)],
		['... x as text', jwt_hs256({ alg => 'HS256', typ => 'JWT', kid => $eh->{kid} }, \%c, $k->{x} // 'x')],
		['HS256 with some secret, no kid', jwt_hs256({ alg => 'HS256', typ => 'JWT' }, \%c, random_secret())],
		['alg none', jwt_hs256({ alg => 'none', typ => 'JWT' }, \%c, undef)],
		['EdDSA header, payload changed', "$h." . b64u($JSON->encode({ %$ec, role => 'admin' })) . ".$sig"],
	);
	for my $case (@cases) {
		is sc(me($e, $case->[1])), '401 unauthorized', "$case->[0]: 401";
	}
	is me($e, $et->{access_token})->{status}, 200, 'the genuine token still works';

	# Rotation of the Ed25519 key: a new key signs, the old one verifies.
	my $key2 = "$TMP/ed25519-2.pem";
	system('openssl', 'genpkey', '-algorithm', 'ed25519', '-out', $key2) == 0 or die "openssl genpkey failed\n";
	my $port = $e->{http_port};
	$e->{nginx}->stop;
	$e->stop;
	my $e2 = start_stack(%HIGH, JWT_SECRET => undef, JWT_PRIVATE_KEY_FILE => $key2,
		JWT_PREVIOUS_KEY_FILE => $key, DATABASE_URL => $e->{conf}{DATABASE_URL}, http_port => $port);
	is me($e2, $et->{access_token})->{status}, 200, 'restarted with a new key and the old one as JWT_PREVIOUS_KEY_FILE: the old token works';
	my $nt = login($e2, 'ed@example.org');
	my ($nh) = jwt_parts($nt->{access_token});
	isnt $nh->{kid}, $eh->{kid}, 'new tokens carry another kid';
	is me($e2, $nt->{access_token})->{status}, 200, '... and work';
	$jwks = http(GET => "$e2->{url}/.well-known/jwks.json");
	# jwt.h: the JWKS lists current and previous (fixed in b98c144).
	is_deeply [sort map { $_->{kid} // 'none' } @{ ($jwks->{json} || {})->{keys} || [] }],
		[sort $nh->{kid}, $eh->{kid}], 'the JWKS lists both keys by kid (jwt.h: current and previous)';
	$e2->{nginx}->stop;
	$e2->stop;
};

# ---- rotation ------------------------------------------------------------------------

subtest 'key rotation: JWT_PREVIOUS_SECRET' => sub {
	my $k1 = random_secret();
	my $k2 = random_secret();
	my $r = start_stack(%HIGH, JWT_SECRET => $k1);
	my $rdb = $r->{conf}{DATABASE_URL};
	my $em = user($r, 'rotate@example.org');
	my $old = login($r, $em)->{access_token};
	my ($oh) = jwt_parts($old);
	is $oh->{kid}, hs_kid($k1), 'a token under S1 (kid of S1)';
	is me($r, $old)->{status}, 200, '... works';

	ok reload_pool($r, JWT_SECRET => $k2, JWT_PREVIOUS_SECRET => $k1),
		'SIGHUP with JWT_SECRET=S2, JWT_PREVIOUS_SECRET=S1: every responder replaced';
	like $r->log_text, qr/configuration reloaded/, '... the log says so';
	is me($r, $old)->{status}, 200, 'the S1 token still works (found by kid)';
	my $new = login($r, $em)->{access_token};
	my ($nh) = jwt_parts($new);
	is $nh->{kid}, hs_kid($k2), 'new tokens carry the kid of S2';
	isnt $nh->{kid}, $oh->{kid}, '... not the old kid';
	my ($h, $p, $sig) = split /\./, $new;
	is $sig, b64u(hmac_sha256("$h.$p", $k2)), '... and are signed with S2';
	is me($r, $new)->{status}, 200, '... and work';
	my (undef, $oc) = jwt_parts($old);
	my $stale_kid = jwt_hs256({ alg => 'HS256', typ => 'JWT', kid => hs_kid($k2) }, { %$oc, jti => 'x' }, $k1);
	is me($r, $stale_kid)->{status}, 401, 'signed with S1 but labelled with S2\'s kid: 401';

	# Restart without the previous secret: same database, same address.
	my $port = $r->{http_port};
	$r->{nginx}->stop;
	$r->stop;
	my $r2 = start_stack(%HIGH, JWT_SECRET => $k2, DATABASE_URL => $rdb, http_port => $port);
	is $r2->{conf}{PUBLIC_URL}, $r->{conf}{PUBLIC_URL}, 'restarted on the same PUBLIC_URL (same iss)';
	is sc(me($r2, $old)), '401 unauthorized', 'without JWT_PREVIOUS_SECRET the S1 token: 401';
	is me($r2, $new)->{status}, 200, 'the S2 token still works';

	ok reload_pool($r2, JWT_PREVIOUS_SECRET => $k1), 'SIGHUP adding JWT_PREVIOUS_SECRET=S1 again';
	is me($r2, $old)->{status}, 200, '... the S1 token works again';
	ok reload_pool($r2, JWT_PREVIOUS_SECRET => undef), 'SIGHUP dropping it';
	is sc(me($r2, $old)), '401 unauthorized', '... the S1 token: 401';
	is me($r2, $new)->{status}, 200, '... the S2 token: 200';
	$r2->{nginx}->stop;
	$r2->stop;
};

my @errors = grep { ($_->{level} // '') =~ /^(?:error|fatal)/ } $s->log_lines;
is scalar(@errors), 0, 'no error in the main pool log' or diag explain [@errors[0 .. ($#errors < 4 ? $#errors : 4)]];
diag sprintf '71-tokens.t took %.1f s', time - $T0;
done_testing();
