#!/usr/bin/perl
# The rate-limit counters (shared/ratelimit.c) in their real stores:
# $FASTBACK_BUILD/tests/test_ratelimit_store (tests/unit/test_ratelimit_store.c)
# run against a fresh migrated database of the shared PostgreSQL and a private
# Redis, given as TEST_DATABASE_URL and TEST_REDIS_URL:
#
#   - on each store: limit 5 → 5 allowed (remaining 4..0), the 6th refused
#     with retry_after in (0, window]; allowed again once a 1–2 s window
#     ended; peek counts nothing; clear starts over; 8 processes × 50 hits
#     on one key with limit 200 → exactly 200 allowed;
#   - Redis shut down mid-run (the program sends SHUTDOWN NOSAVE): the same
#     process counts in PostgreSQL and still limits;
#   - PostgreSQL unreachable too: every hit allowed (fail open).
#
# The program's TAP is shown indented (a subtest, with prove -v); this file
# checks that it ran its whole plan, passed and had no sanitizer report.
# Then: the migration's constraints, and the cleanup statement of
# `fastbackctl cron cleanup` on the rows the run left.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";

use POSIX qw(_exit);
use Test::More;

use FastbackTest;

my $bin = build_dir() . '/tests/test_ratelimit_store';
die "$bin not found or not executable: run make first\n" unless -x $bin;

my $db = fresh_database();
my $redis = start_redis();

is psql($db, q{SELECT to_regclass('rate_limits') IS NOT NULL}), 't',
	'the migrations created rate_limits';
is psql($db, q{SELECT count(*) FROM pg_indexes WHERE tablename = 'rate_limits'
	AND indexdef LIKE '%(expires_at)'}), 1, '... with an index on expires_at';

# ---- the C program -----------------------------------------------------------

my ($status, $out);
{
	my $pid = open(my $fh, '-|') // die "fork: $!";
	if (!$pid) {
		open STDERR, '>&', \*STDOUT;
		open STDIN, '<', '/dev/null';
		$ENV{TEST_DATABASE_URL} = $db;
		$ENV{TEST_REDIS_URL} = $redis->{url};
		$SIG{PIPE} = 'DEFAULT';
		no warnings 'exec';
		exec { $bin } $bin;
		print "exec $bin: $!\n";
		_exit(127);
	}
	local $/;
	$out = <$fh>;
	close $fh;
	$status = $?;
}

print "# Subtest: test_ratelimit_store\n";
print map { "    $_\n" } split /\n/, $out;

my ($planned) = $out =~ /^1\.\.(\d+)/m;
my $passed = () = $out =~ /^ok \d+/mg;
my @failed = $out =~ /^(not ok \d+.*)$/mg;
ok defined $planned && $planned > 0, 'test_ratelimit_store ran (not skipped)'
	or diag $out;
is $passed, $planned // -1, "test_ratelimit_store: all of its $passed tests passed"
	or diag join "\n", @failed;
is $status, 0, 'test_ratelimit_store exits 0';
unlike $out, qr/^Bail out!/m, 'test_ratelimit_store did not bail out';
unlike $out, qr/ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:/,
	'no sanitizer report';

# ---- the table, behind the module's back ---------------------------------------

ok !eval { psql($db, q{INSERT INTO rate_limits VALUES (repeat('k', 201), now(), 1,
	now() + interval '1 minute')}); 1 }, 'a key over 200 bytes is refused';
ok !eval { psql($db, q{INSERT INTO rate_limits VALUES ('', now(), 1,
	now() + interval '1 minute')}); 1 }, 'an empty key is refused';
ok !eval { psql($db, q{INSERT INTO rate_limits VALUES ('k0', now(), 0,
	now() + interval '1 minute')}); 1 }, 'a count of 0 is refused';

# The run left expired windows (1 s and 2 s ones) and live ones (60 s).
my ($expired, $live) = split /\|/, psql($db, q{SELECT
	count(*) FILTER (WHERE expires_at <= now()),
	count(*) FILTER (WHERE expires_at > now()) FROM rate_limits});
cmp_ok $expired, '>=', 2, "the run left expired rows ($expired)";
cmp_ok $live, '>=', 5, "... and live ones ($live)";
# What `fastbackctl cron cleanup` is to run.
psql($db, q{DELETE FROM rate_limits WHERE expires_at <= now()});
is psql($db, q{SELECT count(*) FILTER (WHERE expires_at <= now()) || ' '
	|| count(*) FROM rate_limits}), "0 $live", 'the cleanup deletes the expired rows only';

done_testing();
