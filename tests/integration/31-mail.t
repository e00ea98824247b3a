#!/usr/bin/perl
# Email end to end: `fastbackctl mail test ADDRESS` renders the "test"
# template and sends it through a real SMTP server (tests/lib/smtp_sink.py,
# python3-aiosmtpd) on loopback. The received message is read back with core
# modules only (MIME::QuotedPrint, MIME::Base64 through Encode's MIME-Header):
# headers, both parts, non-ASCII subject and display names, CRLF and line
# lengths; then the failures: 5xx (permanent), 4xx, server down and STARTTLS
# required but not offered (temporary), and the usage errors (exit 2).
# No database is needed: DATABASE_URL only has to parse.
use strict;
use warnings;
use utf8;

use Cwd qw(abs_path);
use Encode qw(decode encode);
use File::Basename qw(dirname);
use File::Temp qw(tempdir tempfile);
use FindBin;
use MIME::QuotedPrint qw(decode_qp);
use POSIX qw(_exit);
use Test::More;

use lib "$FindBin::Bin/../lib";
use FastbackSMTP qw(start_smtp);

binmode Test::More->builder->$_, ':encoding(UTF-8)'
	for qw(output failure_output todo_output);

my $ROOT = abs_path("$FindBin::Bin/../..");
my $BUILD = $ENV{FASTBACK_BUILD} // "$ROOT/build";
$BUILD = "$ROOT/$BUILD" unless $BUILD =~ m{^/};
my $CTL = "$BUILD/fastbackctl";
plan skip_all => "$CTL not built: run make first" unless -x $CTL;

my $tmp = tempdir('fbmail-XXXXXX', TMPDIR => 1, CLEANUP => !$ENV{FASTBACK_KEEP_TMP});
my $conf = "$tmp/fastback.conf";
open my $cf, '>', $conf or die "$conf: $!";
print $cf "DATABASE_URL=postgresql://unused\@127.0.0.1:1/unused\n",
	"MAIL_TEMPLATES_DIR=$ROOT/conf/templates\n";
close $cf or die "$conf: $!";

# Variables fastback reads: the child gets only what a case sets.
my $FASTBACK_VARS = qr/^(?:DATABASE_URL|REDIS_URL|SMTP_URL|MAIL_\w+|APP_NAME
	|PUBLIC_URL|FCGI_\w+|JWT_\w+|ENCRYPTION_KEYS|CORS_ORIGINS|TRUSTED_PROXIES
	|MAX_\w+|LOG_\w+|REGISTRATION|RATE_?LIMIT\w*|WORKER_\w+|S3_\w+|STRIPE_\w+
	|AI_\w+|METRICS_TOKEN|FASTBACK_CONFIG)$/x;

# ctl(\%env, ARGS...): runs fastbackctl --config $conf ARGS (environment
# values and arguments are character strings, passed as UTF-8); returns
# (exit status, stdout, stderr), the outputs decoded from UTF-8.
sub ctl {
	my ($env, @args) = @_;
	my ($ofh, $ofile) = tempfile(DIR => $tmp);
	my ($efh, $efile) = tempfile(DIR => $tmp);
	my $pid = fork // die "fork: $!";
	if (!$pid) {
		open STDIN, '<', '/dev/null';
		open STDOUT, '>&', $ofh or _exit(126);
		open STDERR, '>&', $efh or _exit(126);
		delete $ENV{$_} for grep { $_ =~ $FASTBACK_VARS } keys %ENV;
		$ENV{$_} = encode('UTF-8', $env->{$_}) for keys %$env;
		$SIG{PIPE} = 'DEFAULT';
		no warnings q(exec);
		exec { $CTL } $CTL, '--config', $conf, map { encode('UTF-8', $_) } @args;
		_exit(127);
	}
	waitpid $pid, 0;
	my $status = $? >> 8;
	my $slurp = sub {
		open my $fh, '<:raw', $_[0] or return '';
		local $/;
		return decode('UTF-8', scalar(<$fh>) // '');
	};
	my ($out, $err) = ($slurp->($ofile), $slurp->($efile));
	unlink $ofile, $efile;
	# Under ASan (FASTBACK_BUILD=build/asan) a report must fail the test
	# even where exit 1 is the expected status.
	if ($err =~ /(?:Address|Leak|UndefinedBehavior)Sanitizer|runtime error:/) {
		fail("sanitizer report from fastbackctl @args");
		diag $err;
	}
	return ($status, $out, $err);
}

# fastbackctl may be built without the mail command (workers/ctl_mail.c is
# linked by the Makefile's fastbackctl rule).
{
	my ($st, $out, $err) = ctl({}, 'mail');
	plan skip_all => "$CTL has no mail command (workers/ctl_mail.c not linked)"
		unless $err =~ /mail test ADDRESS/;
}

my $smtp = start_smtp();
my %env = (SMTP_URL => $smtp->url, MAIL_FROM => 'Fastback Test <noreply@example.com>');

# The parts of a multipart message: [{headers => {lc name => value}, body}].
sub parts {
	my ($m) = @_;
	my ($bnd) = ($m->{headers}{'content-type'}[0] // '') =~ /boundary="([^"]+)"/
		or return ();
	my @chunks = split /\r\n--\Q$bnd\E(?:--)?\r\n/, "\r\n$m->{body}";
	shift @chunks;	# the (empty) preamble
	my @parts;
	for my $chunk (@chunks) {
		my $p = FastbackSMTP::parse_message($chunk);
		push @parts, { headers => { map { $_ => $p->{headers}{$_}[0] }
			keys %{ $p->{headers} } }, body => $p->{body} };
	}
	return @parts;
}

sub part_text {
	my ($part) = @_;
	return decode('UTF-8', decode_qp($part->{body}));
}

sub header_decoded {
	my ($m, $name) = @_;
	my $v = $m->{headers}{lc $name}[0];
	return defined $v ? decode('MIME-Header', $v) : undef;
}

# CRLF only, no line over 998 octets (RFC 5322 §2.1.1); lines of header
# fields with encoded-words at most 76 (RFC 2047 §2).
sub check_lines {
	my ($m, $what) = @_;
	my $raw = $m->{raw};
	unlike $raw, qr/(?<!\r)\n/, "$what: no bare LF";
	unlike $raw, qr/\r(?!\n)/, "$what: no bare CR";
	my @long = grep { length > 998 } split /\r\n/, $raw;
	is scalar @long, 0, "$what: no line over 998 octets";
	my ($head) = split /\r\n\r\n/, $raw, 2;
	my @ew = grep { /=\?/ && length > 76 } split /\r\n/, $head;
	is scalar @ew, 0, "$what: header lines with encoded-words <= 76"
		or diag explain \@ew;
}

subtest 'the test mail arrives' => sub {
	$smtp->clear;
	my ($st, $out, $err) = ctl(\%env, 'mail', 'test', 'alice@example.org');
	is $st, 0, 'exit 0' or diag $err;
	is $out, "sent\n", 'prints "sent"';
	my @m = $smtp->messages;
	is scalar @m, 1, 'one message received' or return;
	my $m = $m[0];
	is $m->{envelope}{mail_from}, 'noreply@example.com', 'MAIL FROM: bare address';
	is_deeply $m->{envelope}{rcpt_tos}, ['alice@example.org'], 'RCPT TO: bare address';
	my $h = $m->{headers};
	like $h->{date}[0], qr/^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{1,2} (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d \+0000$/,
		"Date: $h->{date}[0]";
	like $h->{'message-id'}[0], qr/^<[0-9a-f]{32}\@example\.com>$/, 'Message-ID: random@From domain';
	is $h->{from}[0], 'Fastback Test <noreply@example.com>', 'From with its name';
	is $h->{to}[0], 'alice@example.org', 'To';
	is header_decoded($m, 'Subject'), 'Test email from fastback', 'Subject';
	is $h->{'mime-version'}[0], '1.0', 'MIME-Version';
	like $h->{'content-type'}[0], qr{^multipart/alternative;\s*boundary="[^"]+"$},
		'multipart/alternative';
	is scalar(@{ $h->{$_} // [] }), 1, "exactly one $_ header"
		for qw(date from to subject message-id);
	my @p = parts($m);
	is scalar @p, 2, 'two parts' or return;
	is $p[0]{headers}{'content-type'}, 'text/plain; charset=utf-8', 'text/plain first';
	is $p[1]{headers}{'content-type'}, 'text/html; charset=utf-8', 'text/html second';
	is $p[$_]{headers}{'content-transfer-encoding'}, 'quoted-printable', "part $_ is QP"
		for 0, 1;
	my $text = part_text($p[0]);
	like $text, qr/This is a test email from fastback\./, 'text part';
	like $text, qr/— fastback/, 'text part: UTF-8 (em dash) decoded';
	my $html = part_text($p[1]);
	like $html, qr/^<!DOCTYPE html>/, 'html part';
	like $html, qr/Sent by fastback/, 'html part: app_name substituted';
	unlike "$text$html", qr/\{\{/, 'no variable left unexpanded';
	my ($bnd) = $h->{'content-type'}[0] =~ /boundary="([^"]+)"/;
	unlike "$p[0]{body}$p[1]{body}", qr/\Q$bnd\E/, 'boundary absent from the parts';
	check_lines($m, 'test mail');
};

subtest 'non-ASCII subject and display names round-trip' => sub {
	my $tdir = "$tmp/templates";
	mkdir $tdir or die "$tdir: $!";
	my $subject = 'Grüße von {{app_name}} — 東京からこんにちは 🎉 '
		. 'ein ziemlich langer Betreff, der gefaltet werden muss';
	for my $ext (qw(txt html)) {
		open my $in, '<:raw', "$ROOT/conf/templates/test.$ext" or die $!;
		open my $o, '>:raw', "$tdir/test.$ext" or die $!;
		local $/;
		print $o scalar <$in>;
		close $o or die $!;
	}
	open my $s, '>:raw', "$tdir/test.subject" or die $!;
	print $s encode('UTF-8', "$subject\n");
	close $s or die $!;

	$smtp->clear;
	my ($st, $out, $err) = ctl({ %env, MAIL_TEMPLATES_DIR => $tdir,
		MAIL_FROM => 'Ácme Café, Inc. <noreply@example.com>' },
		'mail', 'test', 'Zoë Ünïcode-Ñandú <zoe@example.org>');
	is $st, 0, 'sent' or diag $err;
	my ($m) = $smtp->messages;
	ok $m, 'received' or return;
	(my $want = $subject) =~ s/\{\{app_name\}\}/fastback/;
	is header_decoded($m, 'Subject'), $want, 'non-ASCII subject decodes back';
	like $m->{headers}{subject}[0], qr/^=\?UTF-8\?B\?/, 'as RFC 2047 B encoded-words';
	my @words = $m->{headers}{subject}[0] =~ /(=\?[^?]+\?B\?[^?]*\?=)/g;
	cmp_ok scalar @words, '>', 1, 'split into ' . scalar(@words) . ' encoded-words';
	is scalar(grep { length > 75 } @words), 0, 'each encoded-word <= 75 characters';
	is scalar(grep { decode('MIME-Header', $_) =~ /\x{FFFD}/ } @words), 0,
		'each encoded-word holds whole characters (RFC 2047 §5)';
	is header_decoded($m, 'To'), 'Zoë Ünïcode-Ñandú <zoe@example.org>',
		'non-ASCII To name decodes back';
	is header_decoded($m, 'From'), 'Ácme Café, Inc. <noreply@example.com>',
		'non-ASCII From name decodes back';
	is $m->{envelope}{mail_from}, 'noreply@example.com', 'envelope From bare';
	is_deeply $m->{envelope}{rcpt_tos}, ['zoe@example.org'], 'envelope To bare';
	check_lines($m, 'non-ASCII mail');
};

subtest 'a name with specials is quoted' => sub {
	$smtp->clear;
	my ($st, undef, $err) = ctl(\%env, 'mail', 'test', '"Doe, John" <john@example.org>');
	is $st, 0, 'sent' or diag $err;
	my ($m) = $smtp->messages;
	is $m && $m->{headers}{to}[0], '"Doe, John" <john@example.org>', 'quoted-string';
};

# fails($what, $reply, $stage, $class): the server refuses at $stage.
sub refused {
	my ($what, $code, $stage, $class) = @_;
	subtest $what => sub {
		$smtp->clear;
		$smtp->set_reply($code, $stage);
		my ($st, $out, $err) = ctl(\%env, 'mail', 'test', 'alice@example.org');
		$smtp->set_reply(undef);
		is $st, 1, 'exit 1';
		is $out, '', 'nothing on stdout';
		like $err, qr/not sent \($class\)/, "reason says $class";
		like $err, qr/\b$code\b/, "reason carries the server's $code";
		is scalar($smtp->messages), 0, 'nothing stored';
	};
}

refused('550 to RCPT TO: permanent', 550, 'rcpt', 'permanent');
refused('451 to RCPT TO: temporary', 451, 'rcpt', 'temporary');
refused('553 to MAIL FROM: permanent', 553, 'mail', 'permanent');
refused('451 after the message: temporary', 451, 'data', 'temporary');
refused('554 after the message: permanent', 554, 'data', 'permanent');

subtest 'set_reply changes while the server runs' => sub {
	$smtp->clear;
	my ($st) = ctl(\%env, 'mail', 'test', 'alice@example.org');
	is $st, 0, 'accepted again after the refusals';
	is scalar($smtp->messages), 1, 'stored';
};

subtest 'server down: temporary, and the password stays out' => sub {
	$smtp->stop;
	ok !$smtp->alive, 'server stopped';
	my $url = $smtp->url =~ s{smtp://}{smtp://mailer:hunter2-SECRET\@}r;
	my ($st, $out, $err) = ctl({ %env, SMTP_URL => $url }, 'mail', 'test',
		'alice@example.org');
	is $st, 1, 'exit 1';
	like $err, qr/not sent \(temporary\)/, 'temporary';
	unlike "$out$err", qr/hunter2/, 'no password in the output';
	$smtp->start;
	ok $smtp->alive, 'server back on the same port';
	$smtp->clear;
	($st, $out, $err) = ctl(\%env, 'mail', 'test', 'alice@example.org');
	is $st, 0, 'sent once it is back' or diag $err;
};

subtest 'STARTTLS required but not offered: temporary' => sub {
	$smtp->clear;
	my ($st, $out, $err) = ctl({ %env, SMTP_URL => $smtp->url . '?tls=required' },
		'mail', 'test', 'alice@example.org');
	is $st, 1, 'exit 1';
	like $err, qr/not sent \(temporary\)/, 'temporary';
	like $err, qr/STARTTLS/i, 'reason names STARTTLS';
	is scalar($smtp->messages), 0, 'nothing sent in clear text';
};

subtest 'usage and configuration errors: exit 2' => sub {
	$smtp->clear;
	my ($st, $out, $err) = ctl({ MAIL_FROM => $env{MAIL_FROM} }, 'mail', 'test',
		'alice@example.org');
	is $st, 2, 'no SMTP_URL: exit 2';
	like $err, qr/SMTP_URL is not set/, 'says SMTP_URL is not set';
	($st, $out, $err) = ctl({ SMTP_URL => $env{SMTP_URL} }, 'mail', 'test',
		'alice@example.org');
	is $st, 2, 'no MAIL_FROM: exit 2';
	like $err, qr/MAIL_FROM is not set/, 'says MAIL_FROM is not set';
	($st, $out, $err) = ctl({ %env, MAIL_FROM => 'not an address' }, 'mail', 'test',
		'alice@example.org');
	is $st, 2, 'malformed MAIL_FROM: exit 2';
	($st, $out, $err) = ctl(\%env, 'mail', 'test', 'not-an-address');
	is $st, 2, 'malformed ADDRESS: exit 2';
	like $err, qr/is not an address/, 'says so';
	($st) = ctl(\%env, 'mail', 'test', "alice\@example.org\r\nBcc: eve\@example.net");
	is $st, 2, 'ADDRESS with CRLF (header injection): exit 2';
	($st) = ctl(\%env, 'mail', 'test', "Eve\nBcc: eve\@example.net <alice\@example.org>");
	is $st, 2, 'display name with LF: exit 2';
	($st, $out, $err) = ctl(\%env, 'mail', 'send', 'alice@example.org');
	is $st, 2, 'unknown subcommand: exit 2';
	like $err, qr/usage: fastbackctl mail test ADDRESS/, 'usage';
	($st, $out, $err) = ctl({ %env, MAIL_TEMPLATES_DIR => "$tmp/nonexistent" },
		'mail', 'test', 'alice@example.org');
	is $st, 1, 'template missing: exit 1';
	like $err, qr/cannot render the template/, 'says so';
	is scalar($smtp->messages), 0, 'nothing sent by any of them';
};

done_testing;
