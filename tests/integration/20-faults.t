#!/usr/bin/perl
# Faults of the responder pool itself (fcgi-app/prefork.c), against the real
# stack: a pool behind nginx, on a migrated database of the shared PostgreSQL.
#
#   - a responder killed with SIGKILL while requests flow is replaced, and at
#     most the request it was serving fails;
#   - responders that die right after each start are respawned with a growing
#     delay ("responders die at start"), and the pool recovers;
#   - SIGHUP under load replaces every responder without dropping a request;
#     a changed FCGI_CHILDREN takes effect; an invalid file is refused and the
#     running configuration kept;
#   - SIGTERM drains: a request in flight is finished, the master exits 0 and
#     removes its socket.
#
# The dependency faults (PostgreSQL, Redis), start-up failures and pool-wide
# metrics are in 21-faults-deps.t.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";

use File::Temp qw(tempfile);
use HTTP::Tiny;
use IO::Select;
use IO::Socket::UNIX;
use POSIX qw(WNOHANG _exit);
use Socket qw(SOCK_STREAM);
use Test::More;
use Time::HiRes qw(sleep time);

use FastbackTest;

my $HEALTH_BODY = '{"status":"ok"}';

# ---- local helpers ---------------------------------------------------------

# start_load(url => URL, clients => 4, seconds => 3, max => 3000): forks
# `clients` processes, each GETting URL in a loop (a new connection each time)
# until it has made `max` requests or `seconds` have passed, or stop_load is
# called. Every answer is recorded. Returns a handle for finish_load.
sub start_load {
	my %o = (clients => 4, seconds => 3, max => 3000, @_);
	my (undef, $stopfile) = tempfile('fbstop-XXXXXX', TMPDIR => 1, UNLINK => 1);
	unlink $stopfile;
	my @kids;
	for my $c (1 .. $o{clients}) {
		my ($fh, $file) = tempfile('fbload-XXXXXX', TMPDIR => 1, UNLINK => 1);
		my $pid = fork // die "fork: $!";
		if (!$pid) {
			my $ua = HTTP::Tiny->new(timeout => 10, keep_alive => 0,
				max_redirect => 0, agent => 'fastback-load/1');
			my $end = time + $o{seconds};
			my $n = 0;
			while ($n++ < $o{max} && time < $end && !-e $stopfile) {
				my $t0 = time;
				my $r = $ua->get($o{url});
				my $t1 = time;
				my $valid = $r->{status} == 200
					&& $r->{content} eq $HEALTH_BODY ? 1 : 0;
				(my $why = $r->{status} == 200 ? '-' : substr($r->{content} // '', 0, 120))
					=~ s/\s+/ /g;
				printf $fh "%d %.6f %.6f %d %d %s\n", $c, $t0, $t1,
					$r->{status}, $valid, $why;
			}
			close $fh;
			_exit(0);
		}
		close $fh;
		push @kids, { pid => $pid, file => $file };
	}
	return { kids => \@kids, deadline => time + $o{seconds} + 20, stopfile => $stopfile };
}

# Tells the load clients to stop after their current request.
sub stop_load {
	my ($load) = @_;
	open my $fh, '>', $load->{stopfile} or die "$load->{stopfile}: $!";
	close $fh;
}

# Waits for the load clients (killing any still there well after their time)
# and returns the requests: [{client, t0, t1, status, valid, why}], by t0.
sub finish_load {
	my ($load) = @_;
	my %left = map { $_->{pid} => 1 } @{ $load->{kids} };
	while (%left) {
		for my $pid (keys %left) {
			delete $left{$pid} if waitpid($pid, WNOHANG) != 0;
		}
		last unless %left;
		if (time > $load->{deadline}) {
			diag "load client(s) @{[keys %left]} overran: killing them";
			kill KILL => keys %left;
			waitpid $_, 0 for keys %left;
			last;
		}
		sleep 0.05;
	}
	my @req;
	for my $k (@{ $load->{kids} }) {
		open my $fh, '<', $k->{file} or die "$k->{file}: $!";
		while (<$fh>) {
			chomp;
			my ($c, $t0, $t1, $st, $v, $why) = split / /, $_, 6;
			push @req, { client => $c, t0 => $t0, t1 => $t1, status => $st,
				valid => $v, why => $why };
		}
		close $fh;
		unlink $k->{file};
	}
	unlink $load->{stopfile};
	return sort { $a->{t0} <=> $b->{t0} } @req;
}

# nginx's answer when it cannot reach the pool: the shipped snippet turns
# 502/503/504 into its own 503 problem+json with code "unavailable".
sub nginx_refusal {
	my ($r) = @_;
	return $r->{status} == 502
		|| ($r->{status} == 503 && $r->{why} =~ /"code":"unavailable"/);
}

sub describe {
	my @bad = @_;
	my @out = map { sprintf "status %d at %.3f-%.3f: %s", $_->{status},
		$_->{t0}, $_->{t1}, $_->{why} } @bad[0 .. ($#bad < 9 ? $#bad : 9)];
	push @out, '... ' . (@bad - 10) . ' more' if @bad > 10;
	return join "\n", @out;
}

# The master's log lines with this msg (a string or a regex).
sub log_msgs {
	my ($pool, $msg) = @_;
	return grep { defined $_->{msg}
		&& (ref $msg ? $_->{msg} =~ $msg : $_->{msg} eq $msg) } $pool->log_lines;
}

sub set_conf {
	my ($pool, $name, $value) = @_;
	open my $in, '<', $pool->{config} or die "$pool->{config}: $!";
	my @lines = grep { !/^\Q$name\E=/ } <$in>;
	close $in;
	push @lines, "$name=$value\n";
	open my $out, '>', "$pool->{config}.new" or die "$pool->{config}.new: $!";
	print $out @lines;
	close $out or die "$pool->{config}.new: $!";
	chmod 0600, "$pool->{config}.new";
	rename "$pool->{config}.new", $pool->{config} or die "rename: $!";
}

sub disjoint {
	my ($a, $b) = @_;
	my %a = map { $_ => 1 } @$a;
	return !grep { $a{$_} } @$b;
}

# ---- FastCGI by hand, for a request that stays in flight -------------------

sub fcgi_record {
	my ($type, $id, $content) = @_;
	my $len = length $content;
	my $pad = (8 - $len % 8) % 8;
	return pack('CCnnCx', 1, $type, $id, $len, $pad) . $content . ("\0" x $pad);
}

sub fcgi_len { $_[0] < 128 ? chr $_[0] : pack 'N', $_[0] | 0x80000000 }

sub fcgi_pairs {
	my @kv = @_;
	my $out = '';
	while (my ($k, $v) = splice @kv, 0, 2) {
		$out .= fcgi_len(length $k) . fcgi_len(length $v) . $k . $v;
	}
	return $out;
}

# Reads records until END_REQUEST (or $timeout seconds); returns
# (stdout, app_status) or () when the connection closed first.
sub fcgi_read_response {
	my ($sock, $timeout) = @_;
	my $sel = IO::Select->new($sock);
	my $end = time + $timeout;
	my ($buf, $stdout) = ('', '');
	while (time < $end) {
		next unless $sel->can_read(0.2);
		my $n = sysread $sock, $buf, 65536, length $buf;
		return () unless $n;
		while (length $buf >= 8) {
			my (undef, $type, undef, $clen, $plen) = unpack 'CCnnC', $buf;
			last if length $buf < 8 + $clen + $plen;
			my $content = substr $buf, 8, $clen;
			substr($buf, 0, 8 + $clen + $plen) = '';
			$stdout .= $content if $type == 6;
			return ($stdout, unpack 'N', $content) if $type == 3;
		}
	}
	return ();
}

# Sends one request (GET $path, with an optional body; method, type (the
# Content-Type) and id (an X-Request-Id) as options) on $sock; with keep => 1
# the FCGI_KEEP_CONN flag asks the responder to keep the connection for
# more. Returns what fcgi_read_response returns.
sub fcgi_get {
	my ($sock, $path, %o) = @_;
	my $body = $o{body} // '';
	my $params = fcgi_pairs(
		REQUEST_METHOD => $o{method} // 'GET', REQUEST_URI => $path, SCRIPT_NAME => '',
		PATH_INFO => $path, QUERY_STRING => '', REMOTE_ADDR => '127.0.0.1',
		SERVER_PROTOCOL => 'HTTP/1.1', CONTENT_LENGTH => length $body,
		($o{type} ? (CONTENT_TYPE => $o{type}) : ()),
		($o{id} ? (HTTP_X_REQUEST_ID => $o{id}) : ()));
	my $req = fcgi_record(1, 1, pack('nCx5', 1, $o{keep} ? 1 : 0))
		. fcgi_record(4, 1, $params) . fcgi_record(4, 1, '');
	for (my $i = 0; $i < length $body; $i += 65535) {
		$req .= fcgi_record(5, 1, substr $body, $i, 65535);
	}
	$req .= fcgi_record(5, 1, '');
	local $SIG{PIPE} = 'IGNORE';
	my $off = 0;
	while ($off < length $req) {
		my $n = syswrite $sock, $req, length($req) - $off, $off;
		return () unless $n;
		$off += $n;
	}
	return fcgi_read_response($sock, $o{timeout} // 5);
}

sub fcgi_connect {
	my ($pool) = @_;
	my $s = IO::Socket::UNIX->new(Type => SOCK_STREAM, Peer => $pool->{socket})
		or die "connect $pool->{socket}: $!";
	return $s;
}

# True when the responder has closed $sock (EOF within $timeout seconds).
sub closed_by_peer {
	my ($sock, $timeout) = @_;
	return 0 unless IO::Select->new($sock)->can_read($timeout);
	my $n = sysread $sock, my $buf, 1;
	return defined $n && $n == 0;
}

# ---- 1. SIGKILL of a responder while requests flow --------------------------

subtest 'a responder killed with SIGKILL under load is replaced' => sub {
	my $pool = start_stack(FCGI_CHILDREN => 4);
	my @before = $pool->children;
	is scalar @before, 4, 'four responders' or diag "@before";

	my $load = start_load(url => "$pool->{url}/health", clients => 4, seconds => 3);
	sleep 1;
	my $victim = $before[1];
	my $killed_at = time;
	ok kill(KILL => $victim), "SIGKILL responder $victim";
	my @after;
	ok((wait_until {
		@after = $pool->children;
		@after == 4 && !grep { $_ == $victim } @after;
	} 5), 'the master replaced it: four responders again within 5 s')
		or diag "children now: @after";
	my @new = grep { my $p = $_; !grep { $_ == $p } @before } @after;
	is scalar @new, 1, "one new responder (@new)";

	my @req = finish_load($load);
	my @bad = grep { !$_->{valid} } @req;
	my @before_kill = grep { $_->{t1} < $killed_at } @req;
	my @later = grep { $_->{t0} > $killed_at + 0.01 } @req;
	cmp_ok scalar @before_kill, '>', 20, scalar(@before_kill) . ' requests before the kill';
	cmp_ok scalar @later, '>', 20, scalar(@later) . ' requests after it';
	cmp_ok scalar @bad, '<=', 1, 'at most the one request in flight on the killed responder failed'
		or diag describe(@bad);
	is scalar(grep { !nginx_refusal($_) } @bad), 0,
		'a failure, if any, is nginx\'s "unavailable" answer' or diag describe(@bad);
	is scalar(grep { !$_->{valid} } @later), 0, 'every request begun after the kill got 200 {"status":"ok"}'
		or diag describe(grep { !$_->{valid} } @later);
	note scalar(@req) . ' requests, ' . scalar(@bad) . ' failed';

	my @died = log_msgs($pool, 'responder died');
	is scalar @died, 1, 'the master logged "responder died" once' or diag explain \@died;
	is $died[0]{child}, $victim, '... naming the killed pid' if @died;
	is $died[0]{signal}, 9, '... and SIGKILL' if @died;
	ok !log_msgs($pool, qr/die at start/), 'a responder that lived long is not throttled';
	ok $pool->alive, 'the master runs';
	is http(GET => "$pool->{url}/health")->{status}, 200, 'the pool serves';
	my @served = grep { ($_->{type} // '') eq 'access' && $_->{pid} == $new[0] } $pool->log_lines;
	note 'the new responder served ' . scalar(@served) . ' requests' if @new;
};

# ---- 2. Crash loop throttling ---------------------------------------------------

subtest 'responders dying at start are respawned with a growing delay' => sub {
	my $pool = start_stack(FCGI_CHILDREN => 4);
	my @orig = $pool->children;
	is scalar @orig, 4, 'four responders';
	sleep 1.1;	# they have lived long: the first death is not "at start"

	my %seen = map { $_ => 1 } @orig;
	my $victim = $orig[0];
	my (@kills, @spawns, @served);
	for my $round (1 .. 6) {
		ok kill(KILL => $victim), "kill $round: SIGKILL $victim";
		push @kills, time;
		# Serving goes on meanwhile, on the others.
		push @served, http(GET => "$pool->{url}/health", timeout => 5)->{status};
		my $new;
		my $appeared = wait_until {
			($new) = grep { !$seen{$_} } $pool->children;
			defined $new;
		} 8;
		ok $appeared, "kill $round: a successor appeared" or last;
		push @spawns, time;
		$seen{$new} = 1;
		$victim = $new;
		last if $round == 6;
	}
	ok $pool->alive, 'the master stays up';
	is_deeply [grep { $_ != 200 } @served], [], 'the pool kept serving during the crash loop';

	my @died = log_msgs($pool, 'responder died');
	is scalar @died, 6, 'six "responder died" lines' or diag explain \@died;
	my @throttle = map { /next in (\d+) ms/ ? $1 : () }
		map { $_->{msg} } log_msgs($pool, qr/responders die at start/);
	is scalar @throttle, 5, 'the five quick deaths were throttled: "responders die at start"'
		or diag $pool->log_text;
	ok !grep({ $throttle[$_] <= $throttle[$_ - 1] } 1 .. $#throttle),
		"the delay grows: @throttle ms";
	# The successor of kill k (k >= 2) waited for the announced delay.
	for my $k (1 .. $#kills) {
		last unless defined $spawns[$k] && defined $throttle[$k - 1];
		my $gap = ($spawns[$k] - $kills[$k]) * 1000;
		cmp_ok $gap, '>=', $throttle[$k - 1] - 30,
			sprintf 'kill %d: respawned after %.0f ms (announced %d ms)', $k + 1, $gap,
			$throttle[$k - 1];
	}
	my $last_delay = ($throttle[-1] // 0) / 1000;
	my @now;
	ok((wait_until { @now = $pool->children; @now == 4 } $last_delay + 3),
		'the pool recovers to four responders') or diag "children: @now";
	is http(GET => "$pool->{url}/health")->{status}, 200, 'and serves';
};

# ---- 5. SIGHUP: rolling reload --------------------------------------------------

subtest 'SIGHUP under load replaces every responder and drops no request' => sub {
	my $pool = start_stack(FCGI_CHILDREN => 3);
	my @orig = $pool->children;
	is scalar @orig, 3, 'three responders';

	my $load = start_load(url => "$pool->{url}/health", clients => 4, seconds => 4,
		max => 20000);
	sleep 1;
	ok $pool->signal('HUP'), 'SIGHUP';
	sleep 1.5;
	ok $pool->signal('HUP'), 'SIGHUP again, a reload perhaps still rolling';
	my @req = finish_load($load);
	my @bad = grep { !$_->{valid} } @req;
	cmp_ok scalar @req, '>', 100, scalar(@req) . ' requests during the reloads';
	is scalar @bad, 0, 'every one of them answered 200 {"status":"ok"}'
		or diag describe(@bad);

	my @now;
	ok((wait_until {
		@now = $pool->children;
		@now == 3 && disjoint(\@orig, \@now);
	} 10), 'then three responders, all new') or diag "before: @orig; now: @now";
	is scalar(log_msgs($pool, qr/configuration reloaded/)), 2, 'two reloads logged';
	is scalar(log_msgs($pool, 'responder died')), 0, 'no responder died';
	ok $pool->alive, 'the master runs';

	# A new FCGI_CHILDREN takes effect.
	my @three = @now;
	set_conf($pool, FCGI_CHILDREN => 5);
	ok $pool->signal('HUP'), 'FCGI_CHILDREN=5 in the file, SIGHUP';
	ok((wait_until {
		@now = $pool->children;
		@now == 5 && disjoint(\@three, \@now);
	} 10), 'the pool grows to five responders, all new') or diag "now: @now";
	my $m = http(GET => "$pool->{url}/metrics");
	like $m->{content}, qr/^fastback_responders 5$/m, '/metrics says 5 responders';

	# An invalid file is refused; the running configuration stays.
	my @five = @now;
	set_conf($pool, FCGI_CHILDREN => 'abc');
	ok $pool->signal('HUP'), 'FCGI_CHILDREN=abc in the file, SIGHUP';
	ok((wait_until { $pool->log_text =~ /keeping the running one/ } 5),
		'the master logs that it keeps the running configuration')
		or diag $pool->log_text;
	like $pool->log_text, qr/FCGI_CHILDREN must be an integer.*"abc"/,
		'... and says what is wrong';
	sleep 1;	# time for a wrong reload to show
	ok $pool->alive, 'the master runs';
	is_deeply [$pool->children], \@five, 'the same five responders';
	is http(GET => "$pool->{url}/health")->{status}, 200, 'and they serve';
	is scalar(log_msgs($pool, qr/configuration reloaded/)), 3, 'no further reload logged';
};

# ---- 6. SIGTERM drains ------------------------------------------------------------

subtest 'SIGTERM: a request in flight is finished, then exit 0' => sub {
	my $pool = start_pool(FCGI_CHILDREN => 2);
	ok -S $pool->{socket}, "socket $pool->{socket}";

	# A request whose parameters arrive in two halves: the responder that
	# accepted it is in the middle of it when the SIGTERM comes.
	my $s = IO::Socket::UNIX->new(Type => SOCK_STREAM, Peer => $pool->{socket})
		or die "connect $pool->{socket}: $!";
	my $params = fcgi_pairs(
		REQUEST_METHOD => 'GET', REQUEST_URI => '/health', SCRIPT_NAME => '',
		PATH_INFO => '/health', QUERY_STRING => '', REMOTE_ADDR => '127.0.0.1',
		SERVER_PROTOCOL => 'HTTP/1.1', CONTENT_LENGTH => '0');
	my $half = int(length($params) / 2);
	syswrite $s, fcgi_record(1, 1, pack('nCx5', 1, 0))	# BEGIN_REQUEST, responder
		. fcgi_record(4, 1, substr $params, 0, $half);
	sleep 0.5;	# a responder accepts it and waits for the rest
	my $t0 = time;
	ok $pool->signal('TERM'), 'SIGTERM';
	sleep 1;
	ok $pool->alive, 'the master waits for the request in flight';
	is scalar($pool->children), 1, 'the idle responder is gone, the busy one stays';
	syswrite $s, fcgi_record(4, 1, substr $params, $half) . fcgi_record(4, 1, '')
		. fcgi_record(5, 1, '');
	my ($out, $app_status) = fcgi_read_response($s, 10);
	ok defined $out, 'the request was answered';
	like $out // '', qr/^Status: 200/m, '... 200' or diag $out;
	like $out // '', qr/\r\n\r\n\Q$HEALTH_BODY\E$/, '... complete body';
	is $app_status, 0, '... END_REQUEST with status 0';
	close $s;

	my $st = $pool->wait_exit(32);
	ok defined $st, 'the master exits';
	is $st, 0, '... with status 0';
	cmp_ok time - $t0, '<', 30, sprintf('... within the grace period (%.1f s)', time - $t0);
	ok !-e $pool->{socket}, 'the socket file is removed';
	like $pool->log_text, qr/pool stopped/, '"pool stopped" logged';
};

subtest 'SIGTERM under load: every answer complete, exit 0' => sub {
	my $pool = start_stack(FCGI_CHILDREN => 4);
	my $load = start_load(url => "$pool->{url}/health", clients => 4, seconds => 3);
	sleep 1;
	my $t0 = time;
	ok $pool->signal('TERM'), 'SIGTERM in the middle of the load';
	my $st = $pool->wait_exit(32);
	my $took = time - $t0;
	sleep 0.2;	# a few requests to the stopped pool too
	stop_load($load);
	my @req = finish_load($load);
	is $st, 0, sprintf('the master exits with status 0 (%.2f s)', $took);
	cmp_ok $took, '<', 30, 'within the grace period';
	ok !-e $pool->{socket}, 'the socket file is removed';

	my @ok = grep { $_->{status} == 200 } @req;
	cmp_ok scalar @ok, '>', 20, scalar(@ok) . ' requests answered 200';
	is scalar(grep { !$_->{valid} } @ok), 0, 'every 200 is complete: {"status":"ok"}';
	is scalar(grep { $_->{t1} < $t0 && !$_->{valid} } @req), 0,
		'every request finished before the SIGTERM succeeded';
	my @other = grep { $_->{status} != 200 } @req;
	is scalar(grep { !nginx_refusal($_) } @other), 0,
		'the others got nginx\'s "unavailable" answer: none hung (599) or broke'
		or diag describe(grep { !nginx_refusal($_) } @other);
	note scalar(@req) . ' requests, ' . scalar(@other) . ' refused after the SIGTERM';

	my $elog = do { local (@ARGV, $/) = $pool->{nginx}{error_log}; <> } // '';
	my @lines = $elog =~ /^.*\[(?:error|crit)\].*$/mg;
	# After the master has gone, nginx finds no socket: a clean refusal.
	note scalar(grep { /No such file or directory|Connection refused/ } @lines)
		. ' connections refused by the stopped pool';
	# A responder must never drop a request it has read: nginx would see
	# the connection closed before the end of the answer.
	my @cut = grep { /prematurely closed/ } @lines;
	is scalar @cut, 0, 'no responder closed a request without answering it'
		or diag join "\n", @cut[0 .. ($#cut < 5 ? $#cut : 5)];
	# KNOWN PRODUCT FAILURE (reported; left failing on purpose). On SIGTERM
	# idle responders exit at once; the master then reaps them and only
	# after that closes the listening socket and unlinks its path (main.c,
	# after prefork_run returns). Connections nginx makes between the exit
	# of the last responder and that close (about 5-10 ms here, so about one
	# per load client) are queued in the socket's backlog with their request
	# sent, never accepted, and reset when the master closes the socket:
	# nginx logs "recv() failed (104: Connection reset by peer) while
	# reading response header from upstream" and the client gets a 503 for
	# a request it had handed to the pool (unsafe to retry for a POST). A
	# drain should first stop new connections (unlink the socket path:
	# connect() then fails cleanly with ENOENT) and let the responders serve
	# what is already queued (accept until EAGAIN) before exiting.
	my @reset = grep { /reset by peer/ } @lines;
	is scalar @reset, 0, 'no request queued on the socket was dropped (reset) by the drain'
		or diag scalar(@reset) . " reset(s), e.g.:\n" . join "\n",
			@reset[0 .. ($#reset < 2 ? $#reset : 2)];
};

# ---- 7. Kept-alive connections (nginx's fastcgi_keep_conn) --------------------

subtest 'kept-alive connections: idle ones never starve a new one' => sub {
	my $pool = start_pool(FCGI_CHILDREN => 2);
	# More idle kept connections than responders: a libfcgi responder
	# reading its kept connection would be pinned to it and starve others.
	my @kept = map { fcgi_connect($pool) } 1 .. 6;
	for my $i (0 .. $#kept) {
		my ($out) = fcgi_get($kept[$i], '/health', keep => 1);
		like $out // '', qr/\r\n\r\n\Q$HEALTH_BODY\E$/, "kept connection $i: answered";
	}
	my $t0 = time;
	my ($out) = fcgi_get(fcgi_connect($pool), '/health', timeout => 3);
	like $out // '', qr/^Status: 200/m, 'a new connection is answered while 6 idle ones are kept';
	cmp_ok time - $t0, '<', 1, sprintf('... at once (%.3f s)', time - $t0);
	for my $i (reverse 0 .. $#kept) {
		my ($again) = fcgi_get($kept[$i], '/health', keep => 1);
		like $again // '', qr/\r\n\r\n\Q$HEALTH_BODY\E$/,
			"kept connection $i: a second request on it is answered";
	}
	ok !closed_by_peer($kept[0], 0.2), 'the kept connections stay open';
	my ($last) = fcgi_get($kept[1], '/health');
	like $last // '', qr/^Status: 200/m, 'a request without FCGI_KEEP_CONN on a kept connection';
	ok closed_by_peer($kept[1], 2), '... is answered, then the responder closes the connection';
};

subtest 'a responder keeps at most 32 connections: the one idle the longest goes' => sub {
	my $pool = start_pool(FCGI_CHILDREN => 1);
	my @kept;
	for my $i (0 .. 32) {
		push @kept, fcgi_connect($pool);
		my ($out) = fcgi_get($kept[-1], '/health', keep => 1);
		like($out // '', qr/^Status: 200/m, "connection $i answered") or last;
	}
	ok closed_by_peer($kept[0], 2), 'the 33rd connection retired the first (closed by the responder)';
	ok !closed_by_peer($kept[1], 0.2), 'the second stays';
	my ($out) = fcgi_get($kept[1], '/health', keep => 1);
	like $out // '', qr/^Status: 200/m, '... and is served';
	($out) = fcgi_get($kept[32], '/health', keep => 1);
	like $out // '', qr/^Status: 200/m, 'the newest is served';
};

subtest 'a body left unread does not break a kept connection' => sub {
	my $pool = start_pool(FCGI_CHILDREN => 1);
	my $s = fcgi_connect($pool);
	# /health does not read bodies: the responder reads past it itself.
	my ($out) = fcgi_get($s, '/health', keep => 1, body => 'x' x 5000);
	like $out // '', qr/^Status: 200/m, 'a GET with a 5000-byte body it does not read';
	($out) = fcgi_get($s, '/nope', keep => 1);
	like $out // '', qr/^Status: 404/m, 'the next request on the connection is read correctly (404)';
	($out) = fcgi_get($s, '/health', keep => 1);
	like $out // '', qr/\r\n\r\n\Q$HEALTH_BODY\E$/, 'and the next';
	# Beyond what it drains (64 KiB), it answers and then closes.
	my $big = fcgi_connect($pool);
	($out) = fcgi_get($big, '/health', keep => 1, body => 'y' x 300_000, timeout => 10);
	like $out // '', qr/\r\n\r\n\Q$HEALTH_BODY\E$/, 'a 300 KB body left unread: the answer is complete';
	ok closed_by_peer($big, 5), '... and the connection is closed, not reused';
	($out) = fcgi_get(fcgi_connect($pool), '/health');
	like $out // '', qr/^Status: 200/m, 'the responder serves on';
};

subtest 'a connection waiting behind a slow request moves to an idle responder' => sub {
	# Login with an unknown address does a full argon2id hash: a slow
	# request that needs no account.
	my $pool = start_pool(FCGI_CHILDREN => 2, RATE_LIMIT_AUTH_IP => 0,
		RATE_LIMIT_LOGIN_FAILURES => 0, RATE_LIMIT_GENERAL_IP => 0,
		PASSWORD_ARGON2_MEMORY_KIB => 65536, PASSWORD_ARGON2_ITERATIONS => 3);
	my $slow_body = '{"email":"nobody@example.com","password":"not the password"}';
	my $n = 0;
	# Which responder served the request with X-Request-Id $id.
	my $pid_of = sub {
		my ($id) = @_;
		my ($l) = grep { ($_->{type} // '') eq 'access' && ($_->{request_id} // '') eq $id }
			$pool->log_lines;
		return $l ? $l->{pid} : undef;
	};
	my @conns = map { fcgi_connect($pool) } 1 .. 3;
	my %by_pid;
	for my $i (0 .. $#conns) {
		my $id = 'warm-' . $i;
		my ($out) = fcgi_get($conns[$i], '/health', keep => 1, id => $id);
		like $out // '', qr/^Status: 200/m, "connection $i answered";
		my $pid;
		wait_until { $pid = $pid_of->($id) } 5;
		push @{ $by_pid{$pid // 'none'} }, $i;
	}
	# Three connections, two responders: two share one.
	my ($shared) = grep { @{ $by_pid{$_} } >= 2 } keys %by_pid;
	ok defined $shared, "two kept connections are on one responder" or diag(explain(\%by_pid), grep({ /warm/ } split(/^/, $pool->log_text))), return;
	my ($x, $y) = @{ $by_pid{$shared} }[0, 1];
	my $round = sub {
		my ($tag) = @_;
		my $t0 = time;
		local $SIG{PIPE} = 'IGNORE';
		# The slow request on x, then at once a quick one on y.
		my $slow = fcgi_record(1, 1, pack('nCx5', 1, 1)) . fcgi_record(4, 1, fcgi_pairs(
			REQUEST_METHOD => 'POST', REQUEST_URI => '/api/auth/login', SCRIPT_NAME => '',
			PATH_INFO => '/api/auth/login', REMOTE_ADDR => '127.0.0.1',
			CONTENT_TYPE => 'application/json', CONTENT_LENGTH => length $slow_body,
			HTTP_X_REQUEST_ID => "slow-$tag")) . fcgi_record(4, 1, '')
			. fcgi_record(5, 1, $slow_body) . fcgi_record(5, 1, '');
		syswrite $conns[$x], $slow;
		select undef, undef, undef, 0.01;
		my ($quick) = fcgi_get($conns[$y], '/health', keep => 1, id => "quick-$tag");
		my $t_quick = time - $t0;
		my ($out) = fcgi_read_response($conns[$x], 10);
		my $t_slow = time - $t0;
		like $quick // '', qr/^Status: 200/m, "$tag: the quick request is answered";
		like $out // '', qr/^Status: 401/m, "$tag: the slow one too (401)";
		return ($t_quick, $t_slow);
	};
	my ($q1, $s1) = $round->('first');
	note sprintf 'first round: quick after %.3f s, slow after %.3f s', $q1, $s1;
	my $pid;
	wait_until { $pid = $pid_of->('quick-first') } 5;
	isnt $pid, $shared, 'the quick request that waited was served by the other responder (handed over)';
	my ($q2, $s2) = $round->('second');
	note sprintf 'second round: quick after %.3f s, slow after %.3f s', $q2, $s2;
	cmp_ok $q2, '<', $s2 / 2, 'next time it no longer waits behind the slow one';
	wait_until { $pid = $pid_of->('quick-second') } 5;
	isnt $pid, $shared, '... its connection stays with the other responder';
};

subtest 'SIGTERM: a queued connection that sends nothing does not hold the drain' => sub {
	my $pool = start_pool(FCGI_CHILDREN => 1);
	# The only responder is busy with half a request...
	my $busy = fcgi_connect($pool);
	my $params = fcgi_pairs(REQUEST_METHOD => 'GET', REQUEST_URI => '/health',
		SCRIPT_NAME => '', PATH_INFO => '/health', REMOTE_ADDR => '127.0.0.1');
	my $half = int(length($params) / 2);
	syswrite $busy, fcgi_record(1, 1, pack('nCx5', 1, 0)) . fcgi_record(4, 1, substr $params, 0, $half);
	sleep 0.3;
	# ... while a connection that will never send anything queues behind it.
	my $silent = fcgi_connect($pool);
	my $t0 = time;
	ok $pool->signal('TERM'), 'SIGTERM';
	sleep 0.2;
	syswrite $busy, fcgi_record(4, 1, substr $params, $half) . fcgi_record(4, 1, '') . fcgi_record(5, 1, '');
	my ($out) = fcgi_read_response($busy, 10);
	like $out // '', qr/\r\n\r\n\Q$HEALTH_BODY\E$/, 'the request in hand is answered';
	is $pool->wait_exit(32), 0, 'the master exits with status 0';
	cmp_ok time - $t0, '<', 8, sprintf('within the drain time, not the 30 s grace (%.1f s)', time - $t0);
	ok closed_by_peer($silent, 2), 'the silent connection was closed';
};

subtest 'SIGTERM with kept connections: a request already sent is answered' => sub {
	my $pool = start_pool(FCGI_CHILDREN => 1);
	my @kept = map { fcgi_connect($pool) } 1 .. 3;
	for my $s (@kept) {
		my ($out) = fcgi_get($s, '/health', keep => 1);
		like $out // '', qr/^Status: 200/m, 'kept connection served';
	}
	# A request with half its parameters keeps the responder busy while
	# the SIGTERM arrives; a whole request waits on a kept connection.
	my $busy = fcgi_connect($pool);
	my $params = fcgi_pairs(REQUEST_METHOD => 'GET', REQUEST_URI => '/health',
		SCRIPT_NAME => '', PATH_INFO => '/health', REMOTE_ADDR => '127.0.0.1');
	my $half = int(length($params) / 2);
	syswrite $busy, fcgi_record(1, 1, pack('nCx5', 1, 1)) . fcgi_record(4, 1, substr $params, 0, $half);
	sleep 0.3;
	my $waiting = fcgi_record(1, 1, pack('nCx5', 1, 1)) . fcgi_record(4, 1, $params)
		. fcgi_record(4, 1, '') . fcgi_record(5, 1, '');
	syswrite $kept[1], $waiting;
	ok $pool->signal('TERM'), 'SIGTERM';
	sleep 0.3;
	syswrite $busy, fcgi_record(4, 1, substr $params, $half) . fcgi_record(4, 1, '') . fcgi_record(5, 1, '');
	my ($out) = fcgi_read_response($busy, 10);
	like $out // '', qr/\r\n\r\n\Q$HEALTH_BODY\E$/, 'the request in hand is answered';
	($out) = fcgi_read_response($kept[1], 10);
	like $out // '', qr/\r\n\r\n\Q$HEALTH_BODY\E$/,
		'the request waiting on a kept connection is answered, not dropped';
	ok closed_by_peer($kept[0], 5), 'the idle kept connections are closed';
	local $SIG{PIPE} = 'IGNORE';
	my $late = syswrite $kept[2], $waiting;
	ok !defined $late || closed_by_peer($kept[2], 5),
		'a request sent after that fails at once (the web server tries elsewhere), never hangs';
	is $pool->wait_exit(32), 0, 'the master exits with status 0';
};

done_testing;
