#!/usr/bin/perl
# Faults around the pool, against the real stack (pool behind nginx):
#
#   - PostgreSQL stopped and started again under a running pool: /ready goes
#     503 "down" and back to 200 by itself, with the same responders;
#   - Redis configured but down: /ready 200 "degraded"; unconfigured: absent;
#   - start-up failures: a bad configuration exits 2 with one line naming the
#     setting; a PostgreSQL that is down at start does not stop the pool;
#   - /metrics counts the requests of every responder of the pool.
#
# The faults of the pool's own processes (SIGKILL, crash loops, SIGHUP,
# SIGTERM) are in 20-faults.t.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";

use File::Temp qw(tempfile);
use HTTP::Tiny;
use POSIX qw(WNOHANG _exit);
use Test::More;
use Time::HiRes qw(sleep time);

use FastbackTest;

# ---- local helpers ---------------------------------------------------------

# Runs a command with only the given fastback settings in its environment
# (nothing inherited from the developer's shell); returns (exit code, output).
sub run_with_env {
	my ($env, @cmd) = @_;
	my ($fh, $file) = tempfile('fbrun-XXXXXX', TMPDIR => 1, UNLINK => 1);
	my $pid = fork // die "fork: $!";
	if (!$pid) {
		open STDIN, '<', '/dev/null';
		open STDOUT, '>&', $fh;
		open STDERR, '>&', $fh;
		delete $ENV{$_} for grep { /^(?:DATABASE_URL|REDIS_URL|FCGI_\w+|JWT_\w+
			|LOG_\w+|METRICS_TOKEN|FASTBACK_CONFIG|PUBLIC_URL|ENCRYPTION_KEYS)$/x } keys %ENV;
		$ENV{$_} = $env->{$_} for keys %$env;
		$SIG{PIPE} = 'DEFAULT';
		no warnings 'exec';
		exec { $cmd[0] } @cmd;
		print STDERR "exec $cmd[0]: $!\n";
		_exit(127);
	}
	waitpid $pid, 0;
	my $status = $? >> 8;
	my $out = do { local (@ARGV, $/) = $file; <> } // '';
	unlink $file;
	return ($status, $out);
}

sub migrate {
	my ($url) = @_;
	my ($st, $out) = run_with_env({ DATABASE_URL => $url, JWT_SECRET => 'x' x 48 },
		build_dir() . '/fastbackctl', 'migrate', 'run');
	is $st, 0, 'fastbackctl migrate run' or diag $out;
}

sub ready { http(GET => "$_[0]{url}/ready", timeout => 15) }

sub log_msgs {
	my ($pool, $msg) = @_;
	return grep { defined $_->{msg}
		&& (ref $msg ? $_->{msg} =~ $msg : $_->{msg} eq $msg) } $pool->log_lines;
}

# Pids of the responders that logged an access line for $route since log
# line number $from.
sub served_by {
	my ($pool, $route, $from) = @_;
	my @l = $pool->log_lines;
	my %pids = map { $_->{pid} => 1 }
		grep { ($_->{type} // '') eq 'access' && ($_->{route} // '') eq $route }
		@l[$from .. $#l];
	return sort { $a <=> $b } keys %pids;
}

# Concurrent GETs: `clients` processes making `each` requests; returns the
# statuses.
sub parallel_get {
	my ($url, $clients, $each) = @_;
	my @kids;
	for (1 .. $clients) {
		my ($fh, $file) = tempfile('fbget-XXXXXX', TMPDIR => 1, UNLINK => 1);
		my $pid = fork // die "fork: $!";
		if (!$pid) {
			my $ua = HTTP::Tiny->new(timeout => 10, keep_alive => 0);
			print $fh $ua->get($url)->{status}, "\n" for 1 .. $each;
			close $fh;
			_exit(0);
		}
		close $fh;
		push @kids, [$pid, $file];
	}
	my @st;
	for my $k (@kids) {
		my $end = time + 60;
		sleep 0.05 while waitpid($k->[0], WNOHANG) == 0 && time < $end;
		kill KILL => $k->[0] if time >= $end;
		open my $fh, '<', $k->[1] or die "$k->[1]: $!";
		chomp(my @s = <$fh>);
		push @st, @s;
		unlink $k->[1];
	}
	return @st;
}

my $pg = own_pg();

# ---- 3. PostgreSQL restarted under the pool -----------------------------------

subtest 'PostgreSQL stopped and started under a running pool' => sub {
	migrate($pg->{url});
	my $pool = start_stack(DATABASE_URL => $pg->{url}, FCGI_CHILDREN => 2);
	my @kids = $pool->children;
	is scalar @kids, 2, "two responders (@kids)";

	my $r = ready($pool);
	is $r->{status}, 200, '/ready 200';
	is $r->{json}{status}, 'ok', 'status ok';
	is $r->{json}{checks}{database}{status}, 'ok', 'checks.database.status ok';
	like $r->{json}{checks}{database}{latency_ms}, qr/^\d+(\.\d+)?(e-?\d+)?$/i,
		'checks.database.latency_ms is a number';
	ok !exists $r->{json}{checks}{redis}, 'Redis unconfigured: no "redis" check'
		or diag explain $r->{json};

	$pg->stop;
	my @down = map { ready($pool) } 1 .. 6;
	is_deeply [map { $_->{status} } @down], [(503) x 6], 'PostgreSQL stopped: /ready 503'
		or diag explain [map { $_->{content} } @down];
	is $down[0]{json}{status}, 'down', 'status "down"';
	is $down[0]{json}{checks}{database}{status}, 'down', 'checks.database.status "down"';
	is $down[0]{headers}{'retry-after'}, '5', 'Retry-After: 5';
	is http(GET => "$pool->{url}/health")->{status}, 200, '/health still 200';
	is_deeply [$pool->children], \@kids, 'no responder died: the same pids';
	is scalar(log_msgs($pool, 'responder died')), 0, 'no "responder died" in the log';

	my $mark = scalar(my @l = $pool->log_lines);
	$pg->start;
	my $t0 = time;
	my $back = wait_until { ready($pool)->{status} == 200 } 10;
	ok $back, sprintf('PostgreSQL started: /ready 200 again after %.1f s', time - $t0);
	# Every responder reconnects, not just the first one asked.
	my @st = parallel_get("$pool->{url}/ready", 4, 10);
	is_deeply [grep { $_ != 200 } @st], [], 'then 40 concurrent /ready all 200';
	$r = ready($pool);
	is $r->{json}{status}, 'ok', 'status ok';
	is $r->{json}{checks}{database}{status}, 'ok', 'checks.database.status ok';
	is_deeply [$pool->children], \@kids, 'the same responders, without a restart';
	my @served = served_by($pool, '/ready', $mark);
	my %kid = map { $_ => 1 } @kids;
	ok @served && !grep({ !$kid{$_} } @served), "served by the same pids (@served)";
	cmp_ok scalar(log_msgs($pool, 'db: reconnected')), '>=', 1, '"db: reconnected" logged';
};

# ---- 7b. PostgreSQL down at start ---------------------------------------------

subtest 'PostgreSQL down at start: the pool still starts' => sub {
	$pg->stop;
	my $pool = start_stack(DATABASE_URL => $pg->{url}, FCGI_CHILDREN => 2);
	ok $pool->alive, 'the pool runs';
	is scalar($pool->children), 2, 'two responders';
	is http(GET => "$pool->{url}/health")->{status}, 200, '/health 200';
	my $r = ready($pool);
	is $r->{status}, 503, '/ready 503';
	is $r->{json}{status}, 'down', 'status "down"';
	is $r->{json}{checks}{database}{status}, 'down', 'checks.database.status "down"';
	my @kids = $pool->children;
	$pg->start;
	ok((wait_until { ready($pool)->{status} == 200 } 10),
		'PostgreSQL started: /ready 200 without a restart');
	is_deeply [$pool->children], \@kids, 'the same responders';
};

# ---- 4. Redis configured but down -----------------------------------------------

subtest 'Redis configured but down: degraded' => sub {
	my $redis = start_redis();
	my $pool = start_stack(REDIS_URL => $redis->{url}, FCGI_CHILDREN => 2);
	my @kids = $pool->children;
	my $r = ready($pool);
	is $r->{status}, 200, '/ready 200';
	is $r->{json}{status}, 'ok', 'status ok';
	is $r->{json}{checks}{redis}{status}, 'ok', 'checks.redis.status ok'
		or diag explain $r->{json};
	ok defined $r->{json}{checks}{redis}{latency_ms}, 'checks.redis.latency_ms';

	$redis->stop;
	my @r = map { ready($pool) } 1 .. 4;
	is_deeply [map { $_->{status} } @r], [(200) x 4], 'Redis stopped: /ready still 200'
		or diag explain [map { $_->{content} } @r];
	is_deeply [map { $_->{json}{status} } @r], [('degraded') x 4], 'status "degraded"';
	is $r[0]{json}{checks}{redis}{status}, 'down', 'checks.redis.status "down"';
	is $r[0]{json}{checks}{database}{status}, 'ok', 'checks.database.status still ok';
	is http(GET => "$pool->{url}/health")->{status}, 200, '/health 200';
	is_deeply [$pool->children], \@kids, 'no responder died';
};

# ---- 7. Start-up failures ---------------------------------------------------------

subtest 'a bad configuration: exit 2, one line naming the setting' => sub {
	# Nothing here reaches the database: any well-formed URL will do.
	my $nodb = 'postgresql://fastback@127.0.0.1:1/none';
	my @cases = (
		['DATABASE_URL missing', qr/DATABASE_URL/, DATABASE_URL => undef],
		['FCGI_CHILDREN=0', qr/FCGI_CHILDREN/, DATABASE_URL => $nodb, FCGI_CHILDREN => 0],
		['JWT_SECRET of 31 bytes', qr/JWT_SECRET/, DATABASE_URL => $nodb,
			JWT_SECRET => 'x' x 31],
		['FCGI_LISTEN in a missing directory', qr{FCGI_LISTEN.*/no-such-dir-fb/fcgi\.sock},
			DATABASE_URL => $nodb, FCGI_LISTEN => '/no-such-dir-fb/fcgi.sock'],
	);
	for my $c (@cases) {
		my ($name, $re, @conf) = @$c;
		my $pool = start_pool(@conf, wait => 0);
		my $st = $pool->wait_exit(15);
		ok defined $st, "$name: exits";
		is defined $st ? $st >> 8 : undef, 2, "$name: status 2";
		my @lines = grep { /\S/ } split /\n/, $pool->log_text;
		is scalar @lines, 1, "$name: one line of output" or diag $pool->log_text;
		like $lines[0] // '', $re, "$name: it names the setting";
	}
};

# ---- 8. Metrics of the whole pool ---------------------------------------------------

sub metric {
	my ($text, $series) = @_;
	return $text =~ /^\Q$series\E (\S+)$/m ? $1 : undef;
}

subtest '/metrics counts the requests of every responder' => sub {
	my $pool = start_stack(FCGI_CHILDREN => 4);
	my $n = 400;
	my @st = parallel_get("$pool->{url}/health", 4, $n / 4);
	is scalar(grep { $_ == 200 } @st), $n, "$n GET /health from 4 clients, all 200";
	my @by = served_by($pool, '/health', 0);
	cmp_ok scalar @by, '>=', 2, 'served by ' . scalar(@by) . " responders (@by)";

	my $m = http(GET => "$pool->{url}/metrics");
	is $m->{status}, 200, 'GET /metrics 200 (from loopback)';
	my $t = $m->{content} // '';
	is metric($t, 'http_requests_total{method="GET",route="/health",status="200"}'), $n,
		"http_requests_total for /health is $n";
	is metric($t, 'http_request_duration_seconds_count{route="/health"}'), $n,
		"the /health histogram _count is $n";
	is metric($t, 'http_request_duration_seconds_bucket{route="/health",le="+Inf"}'), $n,
		'... and its +Inf bucket';
	cmp_ok metric($t, 'http_request_duration_seconds_sum{route="/health"}') // 0, '>', 0,
		'... _sum > 0';

	# The counts live with the master: a responder's death loses none.
	my ($victim) = $pool->children;
	kill KILL => $victim;
	ok((wait_until { my @k = $pool->children; @k == 4 && !grep { $_ == $victim } @k } 5),
		'a responder killed and replaced');
	$t = http(GET => "$pool->{url}/metrics")->{content} // '';
	is metric($t, 'http_requests_total{method="GET",route="/health",status="200"}'), $n,
		"still $n after that";
	is metric($t, 'http_requests_total{method="GET",route="/metrics",status="200"}'), 1,
		'the first /metrics request counted once';
};

done_testing;
