#!/usr/bin/perl
# The harness itself (tests/lib/FastbackTest.pm), without the C binaries:
# free_port, start_redis, own_pg, shared_pg/fresh_database, and start_nginx
# with the shipped snippets in front of a tiny FastCGI echo responder written
# here, which shows exactly which parameters nginx hands to fastback.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";

use IO::Socket::INET;
use IO::Socket::UNIX;
use JSON::PP;
use POSIX qw(_exit);
use Socket qw(SOCK_STREAM);
use Test::More;

use FastbackTest;

# Ports in LISTEN state with their local addresses, from /proc/net/tcp{,6}.
sub listening {
	my %l;
	for my $f ('/proc/net/tcp', '/proc/net/tcp6') {
		open my $fh, '<', $f or next;
		<$fh>;
		while (<$fh>) {
			my (undef, $local, undef, $st) = split ' ';
			next unless $st eq '0A';
			my ($addr, $port) = split /:/, $local;
			push @{ $l{ hex $port } }, $addr;
		}
	}
	return \%l;
}

sub only_loopback {
	my ($port, $what) = @_;
	my $addrs = listening()->{$port} || [];
	ok @$addrs && !grep({ $_ ne '0100007F' } @$addrs),
		"$what listens on 127.0.0.1:$port only" or diag explain $addrs;
}

subtest free_port => sub {
	my $p = free_port();
	like $p, qr/^\d+$/, 'a number';
	cmp_ok $p, '>', 1024, 'not a privileged port';
	my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $p,
		Listen => 1, ReuseAddr => 1);
	ok $s, "port $p can be bound";
	isnt free_port(), free_port(), 'two calls, two ports' or diag 'unlucky?';
};

subtest start_redis => sub {
	my $r = start_redis();
	like $r->{url}, qr{^redis://127\.0\.0\.1:\d+/0$}, "url $r->{url}";
	is $r->url, $r->{url}, 'keys are methods too';
	my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $r->{port},
		Proto => 'tcp', Timeout => 5);
	ok $s, 'connects' or return;
	print $s "*1\r\n\$4\r\nPING\r\n";
	my $line = <$s>;
	is $line, "+PONG\r\n", 'PING answers PONG';
	print $s "*3\r\n\$6\r\nCONFIG\r\n\$3\r\nGET\r\n\$4\r\nsave\r\n";
	my @reply = map { scalar <$s> } 1 .. 5;
	is $reply[4], "\r\n", 'no RDB snapshots (save "")';
	close $s;
	only_loopback($r->{port}, 'redis');
	$r->stop;
	ok !IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $r->{port},
		Proto => 'tcp', Timeout => 2), 'stopped';
	$r->stop;	# twice is fine
};

subtest own_pg => sub {
	my $pg = own_pg();
	like $pg->{url}, qr{^postgresql://fastback:[0-9a-f]+\@127\.0\.0\.1:$pg->{port}/fastback$},
		'url';
	ok -d $pg->{dir}, "dir $pg->{dir}";
	is psql($pg->{url}, 'SELECT 1'), '1', 'SELECT 1';
	is psql($pg->{url}, 'SHOW fsync'), 'off', 'throw-away settings';
	is psql($pg->{url}, 'SHOW max_connections'), '200', 'max_connections';
	only_loopback($pg->{port}, 'postgresql');
	my $pid1 = psql($pg->{url}, 'SELECT pg_backend_pid()');
	my $started1 = psql($pg->{url}, 'SELECT pg_postmaster_start_time()');
	$pg->restart;
	is psql($pg->{url}, 'SELECT 1'), '1', 'SELECT 1 after restart';
	isnt psql($pg->{url}, 'SELECT pg_postmaster_start_time()'), $started1,
		'it really restarted';
	$pg->stop;
	ok !eval { psql($pg->{url}, 'SELECT 1'); 1 }, 'stopped: no connection';
	$pg->start;
	is psql($pg->{url}, 'SELECT 1'), '1', 'started again';
};

subtest 'shared_pg and fresh_database' => sub {
	my $base = shared_pg();
	like $base, qr{^postgres(ql)?://}, 'shared cluster url';
	is shared_pg(), $base, 'one per test run';
	my $a = fresh_database(migrate => 0);
	my $b = fresh_database(migrate => 0);
	isnt $a, $b, 'two databases';
	my ($name) = $a =~ m{/(t_[a-z0-9]+)$};
	ok $name, "named $name";
	is psql($a, 'SELECT current_database()'), $name, 'connects to it';
	psql($a, 'CREATE TABLE t (x int)');
	is psql($b, q{SELECT count(*) FROM pg_tables WHERE tablename = 't'}), '0',
		'databases are separate';
};

# ---- nginx in front of a FastCGI echo responder ---------------------------

sub read_n {
	my ($fh, $n) = @_;
	my $buf = '';
	while (length $buf < $n) {
		my $r = sysread $fh, $buf, $n - length $buf, length $buf;
		return undef unless $r;
	}
	return $buf;
}

# FastCGI 1.0 name-value pairs (spec §3.4): lengths of 1 byte, or 4 bytes
# with the top bit set.
sub parse_pairs {
	my ($buf) = @_;
	my @pairs;
	my $i = 0;
	while ($i < length $buf) {
		my @len;
		for (1, 2) {
			my $b = ord substr $buf, $i, 1;
			if ($b & 0x80) {
				push @len, unpack('N', substr $buf, $i, 4) & 0x7fffffff;
				$i += 4;
			} else {
				push @len, $b;
				$i++;
			}
		}
		my $name = substr $buf, $i, $len[0];
		my $value = substr $buf, $i + $len[0], $len[1];
		$i += $len[0] + $len[1];
		push @pairs, [$name, $value];
	}
	return @pairs;
}

# A responder that answers every request with JSON
# {"params": {NAME: [values...]}, "stdin": BODY}: a list per name, so a
# parameter sent twice shows.
sub start_fcgi_echo {
	my ($path) = @_;
	my $l = IO::Socket::UNIX->new(Type => SOCK_STREAM, Local => $path,
		Listen => 16) or die "listen $path: $!";
	chmod 0666, $path;
	my $pid = fork // die "fork: $!";
	if ($pid) {
		close $l;
		FastbackTest::_at_end(sub { kill KILL => $pid; waitpid $pid, 0 });
		return $pid;
	}
	while (my $c = $l->accept) {
		my ($id, $params, $stdin) = (1, '', '');
		while (defined(my $h = read_n($c, 8))) {
			my (undef, $type, $rid, $clen, $plen) = unpack 'CCnnC', $h;
			my $content = $clen ? read_n($c, $clen) : '';
			read_n($c, $plen) if $plen;
			if ($type == 1) {	# BEGIN_REQUEST
				$id = $rid;
			} elsif ($type == 4) {	# PARAMS
				$params .= $content;
			} elsif ($type == 5) {	# STDIN; empty = end of request
				$stdin .= $content;
				last unless $clen;
			}
		}
		my %p;
		push @{ $p{ $_->[0] } }, $_->[1] for parse_pairs($params);
		my $body = JSON::PP->new->canonical->encode(
			{ params => \%p, stdin => $stdin });
		my $out = "Status: 200 OK\r\nContent-Type: application/json\r\n\r\n$body";
		while (length $out) {
			my $chunk = substr $out, 0, 32768, '';
			print $c pack('CCnnCx', 1, 6, $id, length $chunk, 0), $chunk;
		}
		print $c pack('CCnnCx', 1, 6, $id, 0, 0);	# end of STDOUT
		print $c pack('CCnnCx', 1, 3, $id, 8, 0), pack('NCx3', 0, 0);	# END_REQUEST
		close $c;
	}
	_exit(0);
}

subtest 'start_nginx with the shipped snippets' => sub {
	my $dir = FastbackTest::_tempdir();
	my $sock = "$dir/echo.sock";
	start_fcgi_echo($sock);

	my $ng = start_nginx(socket => $sock);
	like $ng->{url}, qr{^http://127\.0\.0\.1:\d+$}, "root mount at $ng->{url}";
	only_loopback($ng->{port}, 'nginx');

	my $r = http(GET => "$ng->{url}/api/things/42?x=1&y=%20",
		token => 'abc.def.ghi',
		headers => { Proxy => 'http://evil', 'X-Request-Id' => 'req-1' });
	is $r->{status}, 200, 'GET through nginx' or diag explain $r;
	my $p = $r->{json}{params} || {};
	is_deeply $p->{REQUEST_URI}, ['/api/things/42?x=1&y=%20'], 'REQUEST_URI raw, once';
	is_deeply $p->{SCRIPT_NAME}, [''], 'SCRIPT_NAME empty at the root';
	is_deeply $p->{PATH_INFO}, ['/api/things/42'], 'PATH_INFO is the path';
	is_deeply $p->{QUERY_STRING}, ['x=1&y=%20'], 'QUERY_STRING';
	is_deeply $p->{REQUEST_METHOD}, ['GET'], 'REQUEST_METHOD';
	is_deeply $p->{HTTP_AUTHORIZATION}, ['Bearer abc.def.ghi'], 'Authorization once';
	is_deeply $p->{HTTP_X_REQUEST_ID}, ['req-1'], 'other headers pass as HTTP_*';
	ok !grep({ length } @{ $p->{HTTP_PROXY} || [] }), 'no httpoxy: Proxy header not passed'
		or diag explain $p->{HTTP_PROXY};
	is_deeply $p->{REMOTE_ADDR}, ['127.0.0.1'], 'REMOTE_ADDR';

	$r = http(POST => "$ng->{url}/", json => { a => [1, 2] });
	is $r->{status}, 200, 'POST /';
	is $r->{json}{stdin}, '{"a":[1,2]}', 'body reaches the app';
	is_deeply $r->{json}{params}{CONTENT_TYPE}, ['application/json'], 'CONTENT_TYPE';
	is_deeply $r->{json}{params}{CONTENT_LENGTH}, ['11'], 'CONTENT_LENGTH';
	is_deeply $r->{json}{params}{PATH_INFO}, ['/'], 'PATH_INFO /';

	$r = http(POST => "$ng->{url}/x", body => 'x' x (3 * 1024 * 1024),
		headers => { 'Content-Type' => 'application/json' });
	is $r->{status}, 413, 'nginx refuses bodies over 2m';
	is $r->{json}{code}, 'payload_too_large', "nginx's own 413 is problem+json";

	my $pre = start_nginx(socket => $sock, prefix => '/app');
	like $pre->{url}, qr{^http://127\.0\.0\.1:\d+/app$}, "prefix mount at $pre->{url}";
	$r = http(GET => "$pre->{url}/api/things?z=9");
	is $r->{status}, 200, 'GET under /app';
	$p = $r->{json}{params} || {};
	is_deeply $p->{REQUEST_URI}, ['/app/api/things?z=9'], 'REQUEST_URI keeps the prefix';
	is_deeply $p->{SCRIPT_NAME}, ['/app'], 'SCRIPT_NAME is the prefix';
	is_deeply $p->{PATH_INFO}, ['/api/things'], 'PATH_INFO below it';
	$r = http(GET => $pre->{url});
	is $r->{status}, 308, '/app redirects';
	like $r->{headers}{location}, qr{/app/$}, '... to /app/';
	(my $outside = $pre->{url}) =~ s{/app$}{/other};
	is http(GET => $outside)->{status}, 404, 'outside the prefix: not fastback';

	$ng->stop;
	is http(GET => "$ng->{url}/")->{status}, 599, 'nginx stopped';
};

subtest 'http helper' => sub {
	my $r = http(GET => 'http://127.0.0.1:' . free_port() . '/');
	is $r->{status}, 599, 'connection refused is 599';
};

done_testing;
