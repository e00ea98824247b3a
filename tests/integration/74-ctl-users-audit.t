#!/usr/bin/perl
# The operator commands of accounts and the audit trail (api.md "Operator
# commands"), against a real pool and PostgreSQL:
#   fastbackctl user create-admin EMAIL   (password on stdin: weak → 1,
#                                          existing → 1, bad email → 2)
#   fastbackctl users import FILE.jsonl   (bcrypt $2a$/$2b$/$2y$ and argon2id
#       kept; duplicates skipped; non-JSON, bad email, unknown hash format,
#       bad role refused → exit 1 with the counts; bcrypt upgraded to
#       argon2id at the first login)
#   fastbackctl audit verify [--head SEQ:HASH]
#       intact → 0 with the head; a row changed, removed or forged behind the
#       application's back (psql as the owner with the triggers off) → 1
#       naming the entry; a cut or rewritten tail → 1 with --head.
# And the append-only triggers of audit_log (UPDATE/DELETE/TRUNCATE refused;
# the chain trigger numbers and hashes whatever an INSERT claims).
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
use FastbackUsers qw(users_setup bcrypt);

my $T0 = time;
my $BUILD = build_dir();
plan skip_all => "$BUILD/fastbackctl not built: run make first" unless -x "$BUILD/fastbackctl";

my $JSON = JSON::PP->new->utf8->canonical;
my $PW = 'correct horse battery staple 42';
my $UUID_RE = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
my $TMP = tempdir('fb74-XXXXXX', TMPDIR => 1, CLEANUP => !$ENV{FASTBACK_KEEP_TMP});
users_setup(tmp => $TMP);

# ---- local helpers (shared ones: FastbackUsers) ---------------------------------

# ctl($stdin, ARGS...): (exit status, stdout, stderr) of
# `fastbackctl --config <the pool's config> ARGS` with $stdin on fd 0.
my $CONFIG;
sub ctl { FastbackUsers::ctl({ signal_status => 1 }, $CONFIG, @_) }

sub write_file {
	my ($name, @lines) = @_;
	my $file = "$TMP/$name";
	open my $fh, '>:raw', $file or die "$file: $!";
	print $fh map { "$_\n" } @lines;
	close $fh or die "$file: $!";
	return $file;
}

sub jline { return $JSON->encode({ @_ }) }

# ---- the stack ----------------------------------------------------------------

my $s = start_stack(
	FCGI_CHILDREN => 2,
	RATE_LIMIT_GENERAL_IP => 0, RATE_LIMIT_GENERAL_USER => 0, RATE_LIMIT_AUTH_IP => 0,
	RATE_LIMIT_LOGIN_FAILURES => 0, RATE_LIMIT_ACCOUNT_FAILURES => 0,
	PASSWORD_ARGON2_MEMORY_KIB => 8192, PASSWORD_ARGON2_ITERATIONS => 1,
);
my $U = $s->{url};
my $DB = $s->{conf}{DATABASE_URL};
$CONFIG = $s->{config};

sub login {
	my ($email, $pw) = @_;
	return http(POST => "$U/api/auth/login", json => { email => $email, password => $pw // $PW });
}

sub hash_of {
	my ($email) = @_;
	return psql($DB, "SELECT coalesce(password_hash, 'NULL') FROM users WHERE lower(email) = lower('$email')");
}

sub users_count { psql($DB, 'SELECT count(*) FROM users') }

# ---- user create-admin ------------------------------------------------------------

my $root_id;
subtest 'user create-admin' => sub {
	my ($st, $out, $err) = ctl("$PW\n", 'user', 'create-admin', 'root@example.com');
	is $st, 0, 'exit 0' or diag "$out$err";
	like $out, qr/^created administrator root\@example\.com \(($UUID_RE)\)$/m, 'says so, with the id';
	($root_id) = $out =~ /\(($UUID_RE)\)/;
	is psql($DB, "SELECT role || '/' || (email_verified_at IS NOT NULL) FROM users WHERE email = 'root\@example.com'"),
		'admin/true', 'an admin with a verified address';
	like hash_of('root@example.com'), qr/^\$argon2id\$v=19\$m=8192,t=1,p=1\$/,
		'argon2id with the configured costs';
	is psql($DB, "SELECT count(*) FROM audit_log WHERE action = 'admin.create' AND target_id = '"
		. ($root_id // '') . "'"), 1, 'an admin.create audit entry';
	my $r = login('root@example.com');
	is $r->{status}, 200, 'the admin logs in' or diag $r->{content};
	is $r->{json}{user}{role}, 'admin', 'as admin';
	is http(GET => "$U/api/admin/users", token => $r->{json}{access_token})->{status}, 200,
		'and may use the admin API';

	($st, $out, $err) = ctl("$PW\r\n", 'user', 'create-admin', 'crlf@example.com');
	is $st, 0, 'a CRLF-terminated password: exit 0' or diag "$out$err";
	is login('crlf@example.com')->{status}, 200, 'the password is the line without CR';
	($st, $out, $err) = ctl($PW, 'user', 'create-admin', 'noeol@example.com');
	is $st, 0, 'a password without a newline: exit 0' or diag "$out$err";
	is login('noeol@example.com')->{status}, 200, 'logs in';

	my $n = users_count();
	($st, $out, $err) = ctl("password\n", 'user', 'create-admin', 'weak@example.com');
	is $st, 1, 'a weak password: exit 1';
	like $err, qr/password/i, 'stderr says why' or diag $err;
	($st, $out, $err) = ctl("weak\@example.com\n", 'user', 'create-admin', 'weak@example.com');
	is $st, 1, 'the email as password: exit 1';
	is psql($DB, "SELECT count(*) FROM users WHERE email = 'weak\@example.com'"), 0, 'no account';

	($st, $out, $err) = ctl("$PW-other\n", 'user', 'create-admin', 'root@example.com');
	is $st, 1, 'an existing email: exit 1';
	like $err, qr/exists/, 'stderr: exists' or diag $err;
	($st, $out, $err) = ctl("$PW\n", 'user', 'create-admin', 'ROOT@Example.com');
	is $st, 1, 'the existing email in other case: exit 1';
	is login('root@example.com')->{status}, 200, 'the existing admin\'s password is unchanged';

	($st, $out, $err) = ctl("$PW\n", 'user', 'create-admin', 'not-an-email');
	is $st, 2, 'a bad email: exit 2';
	like $err, qr/not an email/, 'stderr says so' or diag $err;
	($st, $out, $err) = ctl("$PW\n", 'user', 'create-admin', 'a@b@example.com');
	is $st, 2, 'two @: exit 2';
	($st) = ctl("$PW\n", 'user', 'create-admin');
	is $st, 2, 'no email: exit 2 (usage)';
	is users_count(), $n, 'no account from the refusals';
};

# ---- users import ------------------------------------------------------------------

# $2a$ and $2y$ from a $2b$ hash: the three agree on ASCII passwords
# (libcrypt computes them alike, which this checks too).
my $h2b = bcrypt($PW);
(my $h2a = $h2b) =~ s/^\$2b\$/\$2a\$/;
(my $h2y = $h2b) =~ s/^\$2b\$/\$2y\$/;
my $h2b_other = bcrypt($PW, 5);
is crypt($PW, $h2a), $h2a, '(crypt() agrees on $2a$)';
is crypt($PW, $h2y), $h2y, '(crypt() agrees on $2y$)';
my $argon = hash_of('root@example.com');

subtest 'users import: a mixed file' => sub {
	my $n = users_count();
	my $file = write_file('mixed.jsonl',
		jline(email => 'bc-a@example.com', name => 'Bee Ay', password_hash => $h2a, email_verified => JSON::PP::true),
		jline(email => 'bc-b@example.com', name => 'Bee Bee', password_hash => $h2b, email_verified => JSON::PP::true),
		jline(email => 'bc-y@example.com', name => 'Bee Why', password_hash => $h2y, email_verified => JSON::PP::true),
		jline(email => 'argon@example.com', name => 'Ar Gon', password_hash => $argon, email_verified => JSON::PP::true),
		jline(email => 'BC-A@example.com', name => 'Dup', password_hash => $h2b, email_verified => JSON::PP::true),
		jline(email => 'root@example.com', name => 'Dup Root', password_hash => $h2b, email_verified => JSON::PP::true),
		'this is not JSON',
		jline(email => 'not-an-email', password_hash => $h2b, email_verified => JSON::PP::true),
		jline(email => 'md5@example.com', password_hash => '$1$saltsalt$qjXMvbEw8oaL.CzflDugX/', email_verified => JSON::PP::true),
		jline(email => 'plain@example.com', password_hash => 'hunter2', email_verified => JSON::PP::true),
		'',
		jline(email => 'unverified@example.com', name => 'Un Verified', password_hash => $h2b_other),
		jline(email => 'nohash@example.com', name => 'No Hash', email_verified => JSON::PP::true),
		jline(email => 'imp-admin@example.com', name => 'Imp Admin', password_hash => $h2b, role => 'admin', email_verified => JSON::PP::true),
		jline(email => 'badrole@example.com', password_hash => $h2b, role => 'root', email_verified => JSON::PP::true),
		'["email", "array@example.com"]',
		jline(email => 'bad2y@example.com', password_hash => substr($h2y, 0, 59), email_verified => JSON::PP::true),
		jline(email => 'bell@example.com', name => "Ding \x{7} Dong", password_hash => $h2b),
		jline(email => 'longname@example.com', name => 'n' x 201, password_hash => $h2b),
		jline(email => 'longline@example.com', name => 'x' x 10000, password_hash => $h2b),
		jline(email => 'after-long@example.com', name => 'After Long', password_hash => $h2b, email_verified => JSON::PP::true),
	);
	my ($st, $out, $err) = ctl(undef, 'users', 'import', $file);
	is $st, 1, 'refused lines: exit 1';
	is $out, "imported 8, skipped 2 (email exists), refused 10\n", 'the counts' or diag $err;
	for my $line (7, 8, 9, 10, 15, 16, 17, 18, 19, 20) {
		like $err, qr/^line $line: /m, "line $line is named on stderr";
	}
	unlike $err, qr/^line (?:[1-6]|1[1-4]|21): /m, 'and no other line';
	like $err, qr/^line 20: longer than/m, 'line 20: too long';
	is users_count(), $n + 8, 'eight new accounts';
	is psql($DB, "SELECT name FROM users WHERE email = 'after-long\@example.com'"), 'After Long',
		'the line after the over-long one is read whole';

	is hash_of('bc-a@example.com'), $h2a, '$2a$ kept as it is';
	is hash_of('bc-b@example.com'), $h2b, '$2b$ kept';
	is hash_of('bc-y@example.com'), $h2y, '$2y$ kept';
	is hash_of('argon@example.com'), $argon, 'argon2id kept';
	is hash_of('nohash@example.com'), 'NULL', 'no hash: NULL';
	is psql($DB, "SELECT name FROM users WHERE email = 'bc-a\@example.com'"), 'Bee Ay',
		'the first line wins over the duplicate';
	is psql($DB, "SELECT name || '/' || role FROM users WHERE email = 'root\@example.com'"), '/admin',
		'the existing admin is untouched';
	is psql($DB, "SELECT string_agg(email || ':' || role || ':' || (email_verified_at IS NOT NULL), ' ' ORDER BY email)"
		. " FROM users WHERE email IN ('bc-b\@example.com', 'unverified\@example.com', 'imp-admin\@example.com')"),
		'bc-b@example.com:user:true imp-admin@example.com:admin:true unverified@example.com:user:false',
		'roles and verification as given';
	is psql($DB, "SELECT count(*) FROM users WHERE email IN ('md5\@example.com', 'plain\@example.com',"
		. " 'badrole\@example.com', 'array\@example.com', 'bad2y\@example.com', 'bell\@example.com',"
		. " 'longname\@example.com', 'longline\@example.com')"), 0, 'nothing of the refused lines';
	is psql($DB, "SELECT count(*) FROM audit_log WHERE action = 'user.import'"), 8, 'one audit entry per import';
};

subtest 'users import: a clean file, a missing file' => sub {
	my $file = write_file('clean.jsonl',
		jline(email => 'clean@example.com', name => 'Clean', password_hash => bcrypt($PW), email_verified => JSON::PP::true));
	my ($st, $out, $err) = ctl(undef, 'users', 'import', $file);
	is $st, 0, 'exit 0' or diag $err;
	is $out, "imported 1, skipped 0 (email exists), refused 0\n", 'the counts';
	($st, $out, $err) = ctl(undef, 'users', 'import', $file);
	is $st, 0, 'again: exit 0 (skipping is no failure)';
	is $out, "imported 0, skipped 1 (email exists), refused 0\n", 'skipped';
	($st, $out, $err) = ctl(undef, 'users', 'import', "$TMP/no-such-file.jsonl");
	isnt $st, 0, 'a missing file: non-zero exit';
	like $err, qr/no-such-file/, 'named on stderr';
};

subtest 'users import: hashes that only look like a known format' => sub {
	my @bad = (
		['argon-garbage', '$argon2id$this-is-not-a-phc-string'],
		['argon-nohash', '$argon2id$v=19$m=8192,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA'],
		['argon2i', '$argon2i$v=19$m=8192,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$' . ('A' x 43)],
		['bcrypt-cost3', '$2b$03$' . substr($h2b, 7)],
		['bcrypt-bad64', '$2b$04$' . ('!' x 53)],
	);
	for my $b (@bad) {
		my ($name, $hash) = @$b;
		my $file = write_file("$name.jsonl",
			jline(email => "$name\@example.com", password_hash => $hash, email_verified => JSON::PP::true));
		my ($st, $out, $err) = ctl(undef, 'users', 'import', $file);
		is $st, 1, "$name: exit 1";
		is $out, "imported 0, skipped 0 (email exists), refused 1\n", "$name: refused" or diag $err;
		is psql($DB, "SELECT count(*) FROM users WHERE email = '$name\@example.com'"), 0, "$name: no account";
	}
};

subtest 'imported users log in; bcrypt is upgraded to argon2id' => sub {
	my $r = login('bc-b@example.com', 'correct horse battery staple 43');
	is $r->{status}, 401, 'a wrong password for a bcrypt user: 401';
	is $r->{json}{code}, 'invalid_credentials', 'invalid_credentials';
	is hash_of('bc-b@example.com'), $h2b, 'the bcrypt hash is not touched by a failure';

	for my $who (['bc-a@example.com', $h2a], ['bc-b@example.com', $h2b], ['bc-y@example.com', $h2y],
		['imp-admin@example.com', $h2b]) {
		my ($email, $old) = @$who;
		my $r = login($email);
		is $r->{status}, 200, "$email (" . substr($old, 0, 4) . ') logs in' or diag $r->{content};
		my $new = hash_of($email);
		like $new, qr/^\$argon2id\$v=19\$m=8192,t=1,p=1\$/, "$email: the stored hash is now argon2id";
		isnt $new, $old, "$email: replaced";
		is login($email)->{status}, 200, "$email: logs in again with the upgraded hash";
		is login($email, 'wrong horse battery staple')->{status}, 401, "$email: a wrong password still fails";
	}
	is login('imp-admin@example.com')->{json}{user}{role}, 'admin', 'the imported admin is an admin';

	$r = login('argon@example.com');
	is $r->{status}, 200, 'the argon2id user logs in' or diag $r->{content};
	is hash_of('argon@example.com'), $argon, 'its hash (same costs) is kept';
	$r = login('unverified@example.com');
	is $r->{status}, 403, 'an unverified import: 403';
	is $r->{json}{code}, 'email_not_verified', 'email_not_verified';
	$r = login('nohash@example.com', '');
	is $r->{status} == 401 || $r->{status} == 422 ? 'refused' : $r->{status}, 'refused',
		'no hash, empty password: refused';
	$r = login('nohash@example.com');
	is $r->{status}, 401, 'no hash: 401 whatever the password';
};

# ---- audit verify -------------------------------------------------------------------

my ($HEAD_SEQ, $HEAD_HASH, $COUNT);

# verify(ARGS...): (exit status, stdout . stderr)
sub verify {
	my ($st, $out, $err) = ctl(undef, 'audit', 'verify', @_);
	return ($st, "$out$err");
}

# The owner edits the table behind the application's back: the user
# triggers (append-only, chain) off for one transaction.
sub behind_the_back {
	my ($sql) = @_;
	psql($DB, "BEGIN; ALTER TABLE audit_log DISABLE TRIGGER USER; $sql;"
		. " ALTER TABLE audit_log ENABLE TRIGGER USER; COMMIT;");
}

sub restore {
	behind_the_back('DELETE FROM audit_log; INSERT INTO audit_log SELECT * FROM audit_backup');
	my ($st, $out) = verify();
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	is $st, 0, 'restored: intact again' or diag $out;
}

subtest 'audit verify: an intact log' => sub {
	my ($st, $out) = verify();
	is $st, 0, 'exit 0' or diag $out;
	like $out, qr/^audit log intact: (\d+) entries; head (\d+):([0-9a-f]{64})$/m, 'intact, with the head';
	($COUNT, $HEAD_SEQ, $HEAD_HASH) = $out =~ /intact: (\d+) entries; head (\d+):([0-9a-f]{64})/;
	is $COUNT, psql($DB, 'SELECT count(*) FROM audit_log'), 'every entry checked';
	ok $COUNT >= 20, "$COUNT entries";
	is $HEAD_SEQ, psql($DB, 'SELECT max(seq) FROM audit_log'), 'head: the last seq';
	is $HEAD_HASH, psql($DB, "SELECT encode(hash, 'hex') FROM audit_log ORDER BY seq DESC LIMIT 1"),
		'head: its hash';
	is psql($DB, 'SELECT min(seq) || \'-\' || max(seq) || \'/\' || count(*) FROM audit_log'),
		"1-$COUNT/$COUNT", '(seq runs 1..N)';
	($st, $out) = verify('--head', "$HEAD_SEQ:$HEAD_HASH");
	is $st, 0, '--head of the current head: exit 0' or diag $out;
	my $mid = int($COUNT / 2);
	my $mid_hash = psql($DB, "SELECT encode(hash, 'hex') FROM audit_log WHERE seq = $mid");
	($st, $out) = verify('--head', "$mid:$mid_hash");
	is $st, 0, '--head of an earlier entry: exit 0' or diag $out;
	psql($DB, 'CREATE TABLE audit_backup AS SELECT * FROM audit_log');
};

my $K = 7;	# the entry to tamper with, in the middle
subtest 'audit verify: a changed row' => sub {
	ok $COUNT && $COUNT > $K + 3, 'enough entries' or return;
	for my $change (['details', "details = details || '{\"tampered\": true}'"],
		['action', "action = 'tampered.action'"],
		['occurred_at', "occurred_at = occurred_at + interval '1 microsecond'"],
		['actor_id', "actor_id = '00000000-0000-4000-8000-000000000000'"],
		['actor_ip', "actor_ip = '10.9.8.7'"],
		['target_id', "target_id = 'someone-else'"],
		['request_id', "request_id = 'r-1'"]) {
		my ($col, $set) = @$change;
		my $canon = "SELECT audit_log_canonical(a) FROM audit_log a WHERE seq = $K";
		my $before = psql($DB, $canon);
		behind_the_back("UPDATE audit_log SET $set WHERE seq = $K");
		isnt psql($DB, $canon), $before, "($col: the row did change)";
		my ($st, $out) = verify();
		is $st, 1, "$col changed: exit 1";
		like $out, qr/BROKEN at entry $K: its content does not match its hash/, "$col changed: entry $K named"
			or diag $out;
		restore();
	}
	# The other way to get past the triggers (superuser).
	psql($DB, "SET session_replication_role = replica; UPDATE audit_log SET details = '{\"replica\": true}' WHERE seq = $K");
	is psql($DB, "SELECT details->>'replica' FROM audit_log WHERE seq = $K"), 'true', '(changed)';
	my ($st, $out) = verify();
	is $st, 1, 'changed with session_replication_role = replica: exit 1';
	like $out, qr/BROKEN at entry $K\b/, 'entry named' or diag $out;
	restore();
};

subtest 'audit verify: a deleted row' => sub {
	behind_the_back("DELETE FROM audit_log WHERE seq = $K");
	my ($st, $out) = verify();
	is $st, 1, 'exit 1';
	my $next = $K + 1;
	like $out, qr/BROKEN at entry $next: entries $K to $K are missing/, "names entry $next (and $K missing)"
		or diag $out;
	restore();
	behind_the_back('DELETE FROM audit_log WHERE seq = 1');
	($st, $out) = verify();
	is $st, 1, 'the first row deleted: exit 1';
	like $out, qr/BROKEN at entry 2\b/, 'names entry 2' or diag $out;
	restore();
};

subtest 'audit verify: a forged row between two entries' => sub {
	my $k1 = $K + 1;
	my $prev = psql($DB, "SELECT encode(hash, 'hex') FROM audit_log WHERE seq = $K");
	# Make room after $K (two steps: seq is a primary key), insert a row
	# with a made-up hash that claims to follow $K.
	my $forge = "UPDATE audit_log SET seq = seq + 1000000 WHERE seq > $K;"
		. " UPDATE audit_log SET seq = seq - 999999 WHERE seq > 1000000;"
		. " INSERT INTO audit_log (seq, action, details, prev_hash, hash) VALUES"
		. " ($k1, 'admin.create', '{\"via\": \"forger\"}', '\\x$prev'::bytea, sha256('forged'::bytea))";
	behind_the_back($forge);
	is psql($DB, 'SELECT count(*) FROM audit_log'), $COUNT + 1, '(one row more)';
	my ($st, $out) = verify();
	is $st, 1, 'a made-up hash: exit 1';
	like $out, qr/BROKEN at entry $k1: its content does not match its hash/, "names entry $k1" or diag $out;
	restore();

	# A careful forger computes the hash with the table's own function:
	# the entry after it no longer follows.
	behind_the_back("$forge; UPDATE audit_log a SET hash = sha256(prev_hash ||"
		. " convert_to(audit_log_canonical(a), 'UTF8')) WHERE seq = $k1");
	($st, $out) = verify();
	is $st, 1, 'a well-computed hash: exit 1';
	my $k2 = $K + 2;
	like $out, qr/BROKEN at entry $k2: it does not follow entry $k1/, "names entry $k2" or diag $out;
	restore();

	# A row with a seq past the end.
	my $far = $COUNT + 5;
	my $last = psql($DB, "SELECT encode(hash, 'hex') FROM audit_log WHERE seq = $COUNT");
	behind_the_back("INSERT INTO audit_log (seq, action, prev_hash, hash) VALUES"
		. " ($far, 'admin.create', '\\x$last'::bytea, sha256('x'::bytea))");
	($st, $out) = verify();
	is $st, 1, 'a row numbered past the end: exit 1';
	like $out, qr/BROKEN at entry $far: entries ${\($COUNT + 1)} to ${\($far - 1)} are missing/, "names entry $far"
		or diag $out;
	restore();
};

subtest 'audit verify --head: a cut or rewritten tail' => sub {
	my $h = "$HEAD_SEQ:$HEAD_HASH";
	behind_the_back("DELETE FROM audit_log WHERE seq > $HEAD_SEQ - 2");
	my ($st, $out) = verify();
	is $st, 0, 'without --head a cut tail goes unnoticed (exit 0): the reason for --head' or diag $out;
	like $out, qr/intact: ${\($COUNT - 2)} entries/, 'two entries fewer';
	($st, $out) = verify('--head', $h);
	is $st, 1, '--head recorded before: exit 1';
	like $out, qr/BROKEN at entry $HEAD_SEQ: .*cut/, 'names the recorded head, "cut"' or diag $out;
	restore();
	($st, $out) = verify('--head', $h);
	is $st, 0, 'after the restore --head passes' or diag $out;

	# Rewritten: the last entry changed and its hash recomputed.
	behind_the_back("UPDATE audit_log SET details = '{\"rewritten\": true}' WHERE seq = $HEAD_SEQ;"
		. " UPDATE audit_log a SET hash = sha256(prev_hash || convert_to(audit_log_canonical(a), 'UTF8'))"
		. " WHERE seq = $HEAD_SEQ");
	($st, $out) = verify();
	is $st, 0, 'a consistently rewritten tail passes without --head' or diag $out;
	($st, $out) = verify('--head', $h);
	is $st, 1, 'and fails with it';
	like $out, qr/BROKEN at entry $HEAD_SEQ: .*head hash differs/, 'the head hash differs' or diag $out;
	restore();

	($st, $out) = verify('--head', "$HEAD_SEQ:" . ('0' x 64));
	is $st, 1, 'a wrong hash for the head seq: exit 1';
	($st, $out) = verify('--head', "$HEAD_SEQ:xyz");
	is $st, 2, 'a malformed --head: exit 2';
	($st, $out) = verify('--head', $HEAD_HASH);
	is $st, 2, '--head without SEQ: exit 2';
	($st, $out) = verify('--head');
	is $st, 2, '--head without a value: exit 2';
	# A head whose SEQ is not a number, or 0, is never found in the chain.
	for my $head ("x:$HEAD_HASH", "0:$HEAD_HASH", " $HEAD_SEQ:$HEAD_HASH") {
		($st, $out) = verify('--head', $head);
		isnt $st, 0, "--head '$head' is not reported intact" or diag $out;
	}
};

subtest 'audit_log is append-only; the chain trigger numbers every INSERT' => sub {
	my $n = psql($DB, 'SELECT count(*) FROM audit_log');
	for my $sql ("UPDATE audit_log SET details = '{}' WHERE seq = $K",
		"DELETE FROM audit_log WHERE seq = $K", 'DELETE FROM audit_log', 'TRUNCATE audit_log') {
		my $ok = eval { psql($DB, $sql); 1 };
		ok !$ok, "refused: $sql";
		like $@ // '', qr/append-only/, 'with "append-only"';
	}
	is psql($DB, 'SELECT count(*) FROM audit_log'), $n, 'nothing changed';
	my ($st, $out) = verify();
	is $st, 0, 'intact' or diag $out;

	# An INSERT that claims a seq and hashes gets the trigger's.
	psql($DB, "INSERT INTO audit_log (seq, action, prev_hash, hash) VALUES"
		. " (3, 'test.insert', '\\x00'::bytea, '\\x00'::bytea)");
	is psql($DB, "SELECT seq FROM audit_log WHERE action = 'test.insert'"), $n + 1,
		'the claimed seq is replaced by the next one';
	($st, $out) = verify();
	is $st, 0, 'and the chain stays intact' or diag $out;
	like $out, qr/intact: ${\($n + 1)} entries/, 'with one entry more';

	# The application keeps chaining.
	my $r = login('root@example.com');
	is $r->{status}, 200, 'a login (audited)' or diag "$r->{status} $r->{content}";
	($st, $out) = verify();
	is $st, 0, 'intact' or diag $out;
	like $out, qr/intact: ${\($n + 2)} entries/, 'the login entry is chained';
};

subtest 'audit verify past one batch (5000 rows)' => sub {
	my $t = time;
	psql($DB, "INSERT INTO audit_log (action, details) SELECT 'test.bulk', jsonb_build_object('i', i)"
		. ' FROM generate_series(1, 5010) i');
	my $n = psql($DB, 'SELECT count(*) FROM audit_log');
	ok $n > 5010, "$n entries (inserted in " . sprintf('%.1f', time - $t) . ' s)';
	my ($st, $out) = verify();
	is $st, 0, 'intact' or diag $out;
	like $out, qr/intact: $n entries; head $n:/, 'every entry checked';
	my $k = 5003;
	behind_the_back("UPDATE audit_log SET details = '{\"i\": -1}' WHERE seq = $k");
	($st, $out) = verify();
	is $st, 1, "a row changed in the second batch: exit 1";
	like $out, qr/BROKEN at entry $k\b/, "names entry $k" or diag $out;
	behind_the_back("UPDATE audit_log SET details = jsonb_build_object('i', $k - "
		. psql($DB, "SELECT min(seq) - 1 FROM audit_log WHERE action = 'test.bulk'") . ") WHERE seq = $k");
	($st, $out) = verify();
	is $st, 0, 'restored: intact' or diag $out;
	my $b = 5000;
	behind_the_back("DELETE FROM audit_log WHERE seq = $b");
	($st, $out) = verify();
	is $st, 1, 'the last row of the first batch deleted: exit 1';
	like $out, qr/BROKEN at entry ${\($b + 1)}: entries $b to $b are missing/, 'names the next entry'
		or diag $out;
};

note sprintf 'took %.1f s', time - $T0;
done_testing;
