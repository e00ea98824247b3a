#!/usr/bin/perl
# The harness fails a test file whose fastback-fcgi logged a sanitizer report
# (AddressSanitizer, LeakSanitizer, UBSan "runtime error:"): checked by
# running small test scripts in a child perl, with a report planted in the
# pool's log, and reading their TAP and exit status.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";

use File::Temp qw(tempfile);
use Test::More;

use FastbackTest;

# Run a test script in a child perl; returns (exit status, TAP + diagnostics).
sub run_child {
	my ($code) = @_;
	my ($fh, $file) = tempfile('fbsan-XXXXXX', TMPDIR => 1, SUFFIX => '.t', UNLINK => 1);
	print $fh "use strict; use warnings; use lib '$FindBin::Bin/../lib';\n",
		"use Test::More; use FastbackTest;\n", $code;
	close $fh;
	my $out = `$^X $file 2>&1`;
	return ($? >> 8, $out);
}

my $plant = <<'EOF';
sub plant {
	my ($pool, $text) = @_;
	open my $fh, '>>', $pool->{log} or die;
	print $fh $text;
	close $fh;
}
EOF

my ($st, $out) = run_child($plant . <<'EOF');
my $pool = start_pool(FCGI_CHILDREN => 1);
ok 1, 'a passing test';
$pool->stop;
done_testing;
EOF
is $st, 0, 'a clean pool: the file passes' or diag $out;
unlike $out, qr/^not ok/m, '... no failed test';

($st, $out) = run_child($plant . <<'EOF');
my $pool = start_pool(FCGI_CHILDREN => 1);
plant($pool, "=================================================================\n"
	. "==4242==ERROR: AddressSanitizer: heap-use-after-free on address 0x602000000010\n"
	. "    #0 0x55d0 in request_free fcgi-app/request.c:99\n");
ok 1, 'a passing test';
$pool->stop;
done_testing;
EOF
isnt $st, 0, 'ASan report, pool stopped by the test: the file fails';
like $out, qr/^not ok \d+ - no sanitizer report from fastback-fcgi/m, '... with a failed test';
like $out, qr/^# ==4242==ERROR: AddressSanitizer: heap-use-after-free/m, '... showing the report';
like $out, qr{^#\s+#0 0x55d0 in request_free fcgi-app/request\.c:99}m, '... with its stack';

($st, $out) = run_child($plant . <<'EOF');
my $pool = start_pool(FCGI_CHILDREN => 1);
plant($pool, "fcgi-app/router.c:42:7: runtime error: signed integer overflow\n");
ok 1, 'a passing test';
done_testing;	# the pool is stopped at END, after done_testing
EOF
isnt $st, 0, 'UBSan report, pool stopped at END: the file fails';
like $out, qr/^# fcgi-app\/router\.c:42:7: runtime error/m, '... showing the report';

($st, $out) = run_child($plant . <<'EOF');
my $pool = start_pool(FCGI_CHILDREN => 1);
plant($pool, "==1==ERROR: LeakSanitizer: detected memory leaks\n");
ok 1, 'a passing test';
done_testing;
EOF
isnt $st, 0, 'LSan report: the file fails';
like $out, qr/^# ==1==ERROR: LeakSanitizer/m, '... showing the report';

done_testing;
