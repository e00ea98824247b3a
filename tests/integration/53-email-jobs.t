#!/usr/bin/perl
# Email through the job queue: email.send jobs (workers/handlers.c) run by
# fastback-worker against a real SMTP server (tests/lib/FastbackSMTP.pm):
#
#   - delivered with the right envelope and headers (From, To with a
#     non-ASCII display name, Subject of the template, Date, Message-ID);
#     once sent, the job's payload loses its vars;
#   - SMTP down: the job retries (attempt 2+, last_error says why) and the
#     mail is delivered once the server is back, once;
#   - a 4xx is retried; a 5xx is final: dead at attempt 1, nothing sent;
#   - a payload without "to" or with an unknown template is dead at once.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";

use Encode qw(decode);
use JSON::PP;
use MIME::QuotedPrint qw(decode_qp);
use Test::More;
use Time::HiRes qw(sleep time);

use FastbackTest;
use FastbackJobs;
use FastbackSMTP;

my $db = jobs_database();
my $smtp = start_smtp();
my %mail = (SMTP_URL => $smtp->url, MAIL_FROM => 'Fastback Test <noreply@example.com>',
	MAIL_TEMPLATES_DIR => repo_root() . '/conf/templates', APP_NAME => 'Fastback Tests');

sub header_decoded {
	my ($m, $name) = @_;
	my $v = $m->{headers}{lc $name}[0];
	return defined $v ? decode('MIME-Header', $v) : undef;
}

sub state_of {
	my ($id) = @_;
	my $j = job($db, $id);
	return "$j->{state}/$j->{attempt}";
}

# ---- delivered ------------------------------------------------------------------------

{
	my $id = enqueue($db, 'email.send', '{"to": "zoe@example.org", "to_name": "Zoë",'
		. ' "template": "test", "vars": {"secret": "a single-use link"}}', max_attempts => 8);
	my $r = run_worker($db, %mail, WORKER_PROCESSES => 1, args => ['--once']);
	is $r->{status}, 0, sprintf 'delivered: the worker ran (%.1f s)', $r->{seconds};
	is state_of($id), 'succeeded/1', 'delivered: the job succeeded at attempt 1'
		or diag explain job($db, $id);
	my @m = $smtp->messages;
	is scalar @m, 1, 'delivered: one message';
	my $m = $m[0] // {};
	is $m->{envelope}{mail_from}, 'noreply@example.com', 'delivered: envelope sender';
	is_deeply $m->{envelope}{rcpt_tos}, ['zoe@example.org'], 'delivered: envelope recipient';
	is header_decoded($m, 'From'), 'Fastback Test <noreply@example.com>', 'delivered: From';
	is header_decoded($m, 'To'), decode('UTF-8', 'Zoë <zoe@example.org>'), 'delivered: To, with the name';
	like $m->{headers}{to}[0] // '', qr/=\?UTF-8\?[BQ]\?/i, 'delivered: the name as an RFC 2047 encoded-word';
	is header_decoded($m, 'Subject'), 'Test email from Fastback Tests', 'delivered: Subject of the template';
	like $m->{headers}{date}[0] // '', qr/^\w{3}, \d{1,2} \w{3} \d{4} \d\d:\d\d:\d\d [+-]\d{4}$/,
		'delivered: Date (RFC 5322)';
	like $m->{headers}{'message-id'}[0] // '', qr/^<[^<>\s]+@[^<>\s]+>$/, 'delivered: Message-ID';
	is $m->{headers}{'mime-version'}[0], '1.0', 'delivered: MIME-Version';
	like $m->{headers}{'content-type'}[0] // '', qr{^multipart/alternative;}, 'delivered: text and HTML';
	like decode_qp($m->{body} // ''), qr/This is a test email from Fastback Tests/, 'delivered: the body';
	my $payload = job($db, $id)->{payload};
	ok !exists $payload->{vars}, 'delivered: the finished job\'s payload has no vars';
	is $payload->{to}, 'zoe@example.org', 'delivered: the rest of the payload stays';
	ok((grep { ($_->{id} // '') eq $id && ($_->{outcome} // '') eq 'succeeded' } @{ $r->{log_lines} }),
		'delivered: logged');
	$smtp->clear;
}

# ---- SMTP down, then back --------------------------------------------------------------

{
	$smtp->stop;
	my $id = enqueue($db, 'email.send', '{"to": "down@example.org", "template": "test"}',
		max_attempts => 8);
	my $w = start_worker($db, %mail, WORKER_PROCESSES => 1, WORKER_BACKOFF_MS => 300,
		WORKER_POLL_SECONDS => 1);
	ok((wait_until { my $j = job($db, $id); $j->{state} eq 'queued' && $j->{attempt} >= 2 } 15),
		'SMTP down: the job failed and was retried (attempt 2+)') or diag explain job($db, $id);
	my $j = job($db, $id);
	like $j->{last_error}, qr/connect/i, "SMTP down: last_error says why ($j->{last_error})";
	unlike $j->{last_error}, qr/\Q$mail{SMTP_URL}\E/, 'SMTP down: without the SMTP URL';
	my $attempts = $j->{attempt};
	$smtp->start;
	my $t0 = time;
	ok((wait_until { job($db, $id)->{state} eq 'succeeded' } 20),
		sprintf 'SMTP back: the job succeeded (%.1f s after)', time - $t0);
	$j = job($db, $id);
	cmp_ok $j->{attempt}, '>', $attempts, "SMTP back: at a later attempt ($j->{attempt})";
	ok !defined $j->{last_error}, 'SMTP back: last_error cleared';
	my @m = $smtp->messages;
	is scalar @m, 1, 'SMTP back: delivered once';
	is_deeply $m[0] && $m[0]{envelope}{rcpt_tos}, ['down@example.org'], 'SMTP back: to the recipient';
	my @fails = grep { ($_->{id} // '') eq $id && ($_->{outcome} // '') eq 'retry' } $w->log_lines;
	is scalar @fails, $j->{attempt} - 1, 'SMTP back: every failed attempt logged as retry';
	$w->stop(5);
	$smtp->clear;
}

# ---- 4xx retried, 5xx final ------------------------------------------------------------

{
	$smtp->set_reply(451);
	my $id = enqueue($db, 'email.send', '{"to": "busy@example.org", "template": "test"}',
		max_attempts => 8);
	run_worker($db, %mail, WORKER_PROCESSES => 1, WORKER_BACKOFF_MS => 50, args => ['--once']);
	my $j = job($db, $id);
	is "$j->{state}/$j->{attempt}", 'queued/1', '451: queued for a retry';
	like $j->{last_error}, qr/451/, "451: last_error has the server's answer ($j->{last_error})";
	$smtp->set_reply(undef);
	sleep 0.3;	# the backoff: 25 to 75 ms
	run_worker($db, %mail, WORKER_PROCESSES => 1, args => ['--once']);
	is state_of($id), 'succeeded/2', '451, then accepted: succeeded at attempt 2';
	is scalar(my @m = $smtp->messages), 1, '451, then accepted: one message';
	$smtp->clear;

	$smtp->set_reply(550);
	$id = enqueue($db, 'email.send', '{"to": "nobody@example.org", "template": "test"}',
		max_attempts => 8);
	run_worker($db, %mail, WORKER_PROCESSES => 1, args => ['--once']);
	$j = job($db, $id);
	is "$j->{state}/$j->{attempt}", 'dead/1', '550: dead at attempt 1, no retry';
	like $j->{last_error}, qr/550/, "550: last_error has the server's answer ($j->{last_error})";
	ok defined $j->{finished_at}, '550: finished';
	is scalar(@m = $smtp->messages), 0, '550: nothing delivered';
	$smtp->set_reply(undef);
}

# ---- payloads that can never be sent -----------------------------------------------------

{
	my $no_to = enqueue($db, 'email.send', '{"template": "test"}', max_attempts => 8);
	my $no_tmpl = enqueue($db, 'email.send', '{"to": "a@example.org", "template": "no_such_template"}',
		max_attempts => 8);
	run_worker($db, %mail, WORKER_PROCESSES => 1, args => ['--once']);
	my $j = job($db, $no_to);
	is "$j->{state}/$j->{attempt}", 'dead/1', 'no "to": dead at once';
	is $j->{last_error}, 'the payload needs "to" and "template"', 'no "to": says why';
	$j = job($db, $no_tmpl);
	is "$j->{state}/$j->{attempt}", 'dead/1', 'unknown template: dead at once';
	like $j->{last_error}, qr/template no_such_template cannot be rendered/, 'unknown template: says why';
	is scalar(my @m = $smtp->messages), 0, 'nothing delivered';
}

done_testing;
