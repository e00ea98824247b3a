package FastbackTest;

# The integration-test harness: starts private PostgreSQL, Redis, fastback-fcgi
# pools and nginx on 127.0.0.1 for one test file, talks HTTP to them, and
# stops everything it started (by pid) when the test process ends, also after
# a die or SIGINT/SIGTERM. Core Perl modules only.
#
#     use lib 'tests/lib';
#     use FastbackTest;
#     my $pool  = start_pool(FCGI_CHILDREN => 2);
#     my $nginx = start_nginx(pool => $pool);          # or prefix => '/app'
#     my $r = http(GET => "$nginx->{url}/health");
#     is $r->{status}, 200;  is $r->{json}{status}, 'ok';
#     my $s = start_stack(prefix => '/app');   # pool + nginx: $s->{url}
#     is psql(fresh_database(), 'SELECT 1'), '1';
#
# The other web servers run the same way, each with a sed-rewritten copy of
# its shipped configuration in conf/ (see their subs for the options):
#     my $a = start_apache(pool => $pool, mode => 'proxy_fcgi');  # or 'fcgid'
#     my $c = start_caddy(pool => $pool, prefix => '/app');
#     my $l = start_lighttpd(pool => $pool);
#     my $e = start_echo();            # a FastCGI echo responder (tests/lib/fcgi-echo)
#     start_lighttpd(socket => $e->{socket});   # shows what lighttpd sends
#
# Sanitizers: when a pool stops (its stop(), or at END), and when Apache
# stops in fcgid mode (fastback-fcgi's stderr is Apache's error log), the log
# is scanned for AddressSanitizer, LeakSanitizer and UBSan ("runtime error:")
# reports; any report fails a test (ok(0)) with the report as diagnostics.
#
# Objects returned here are hashes: values are read as $obj->{url}, and every
# value is also a method ($obj->url); subs are called as $obj->stop or
# $obj->{stop}->().
#
# Environment:
#   FASTBACK_BUILD      directory of the binaries (default: build/ in the repo)
#   TEST_DATABASE_URL   use this PostgreSQL instead of starting one; each
#                       fresh_database() creates (and drops) a database in it
#   FASTBACK_KEEP_TMP=1 keep temporary directories (logs) for a look afterwards

use strict;
use warnings;

use Carp qw(croak);
use Cwd qw(abs_path);
use Errno qw(EINTR);
use Exporter qw(import);
use Fcntl qw(:flock);
use File::Basename qw(dirname);
use File::Path qw(make_path);
use File::Spec;
use File::Temp qw(tempdir tempfile);
use HTTP::Tiny;
use IO::Socket::INET;
use IO::Socket::UNIX;
use JSON::PP;
use POSIX qw(WNOHANG _exit setpgid);
use Socket qw(SOCK_STREAM);
use Time::HiRes qw(sleep time);

our @EXPORT = qw(
	free_port shared_pg fresh_database own_pg start_redis start_pool
	start_nginx start_stack http psql wait_until repo_root build_dir
	start_apache start_caddy start_lighttpd start_echo
);

our $ROOT = abs_path(dirname(__FILE__) . '/../..');
my $MAIN_PID = $$;
my @CLEANUP;	# subs run in reverse order at END
my $SANITIZER_FAILED;	# a sanitizer report was found (see _sanitizer_check)

my $JSON = JSON::PP->new->utf8->canonical->allow_nonref;

sub repo_root { $ROOT }

sub build_dir {
	my $b = $ENV{FASTBACK_BUILD} // "$ROOT/build";
	return $b =~ m{^/} ? $b : "$ROOT/$b";
}

# Path of a built binary; dies with a hint when it is missing.
sub _bin {
	my ($name) = @_;
	my $path = build_dir() . "/$name";
	croak "$path not found or not executable: run make first" unless -x $path;
	return $path;
}

# ---- cleanup -------------------------------------------------------------

sub _at_end { push @CLEANUP, $_[0]; }

# A die or Ctrl-C must still stop what we started: turn the signals into a
# normal exit, which runs END. A write to a closed socket is an error to
# report, not a silent death that skips END. (Children get SIGPIPE back:
# see _spawn.)
$SIG{INT} = $SIG{TERM} = $SIG{HUP} = sub { exit 130 };
$SIG{PIPE} = 'IGNORE';

END {
	# Only the process that loaded the harness cleans up (not a forked child).
	if ($$ == $MAIN_PID) {
		my $status = $?;
		while (my $sub = pop @CLEANUP) {
			eval { $sub->(); 1 } or warn "cleanup: $@";
		}
		# A sanitizer report found while stopping fails the test file even
		# when Test::More has already settled its exit status.
		$status = 1 if $SANITIZER_FAILED && !$status;
		$? = $status;
	}
}

# A temporary directory removed at exit, traversable by others: when the
# tests run as root, nginx workers (nobody) must reach sockets in it and
# PostgreSQL (postgres) its data directory.
sub _tempdir {
	my $keep = $ENV{FASTBACK_KEEP_TMP};
	my $dir = tempdir('fbtest-XXXXXX', TMPDIR => 1, CLEANUP => !$keep);
	chmod 0755, $dir or croak "chmod $dir: $!";
	print STDERR "# keeping $dir\n" if $keep;
	return $dir;
}

# ---- small helpers -------------------------------------------------------

sub free_port {
	my $s = IO::Socket::INET->new(
		LocalAddr => '127.0.0.1', LocalPort => 0, Proto => 'tcp',
		Listen => 1, ReuseAddr => 1,
	) or croak "free_port: $!";
	my $port = $s->sockport;
	close $s;
	return $port;
}

# wait_until { COND } TIMEOUT_SECONDS: true as soon as COND is, false after
# the timeout. Inside another call, parenthesise it:
#     ok((wait_until { $pool->children == 4 } 5), 'four responders');
sub wait_until (&;$) {
	my ($cond, $timeout) = @_;
	my $end = time + ($timeout // 10);
	while (1) {
		my $ok = $cond->();
		return $ok if $ok;
		return 0 if time > $end;
		sleep 0.05;
	}
}

sub _random_string {
	my ($n) = @_;
	my @c = ('A' .. 'Z', 'a' .. 'z', '0' .. '9');
	return join '', map { $c[int rand @c] } 1 .. $n;
}

sub _slurp {
	my ($file) = @_;
	open my $fh, '<', $file or return '';
	local $/;
	return scalar <$fh>;
}

sub _tail {
	my ($file, $n) = @_;
	my @l = split /\n/, _slurp($file);
	splice @l, 0, @l - $n if @l > $n;
	return join "\n", @l;
}

# Variables fastback reads. A test's child processes get only what the test
# configured, never a stray value from the developer's shell (the
# environment wins over the config file).
my $FASTBACK_VARS = qr/^(?:DATABASE_URL|REDIS_URL|SMTP_URL|MAIL_FROM|PUBLIC_URL
	|FCGI_\w+|JWT_\w+|ENCRYPTION_KEYS|CORS_ORIGINS|TRUSTED_PROXIES
	|MAX_BODY_BYTES|LOG_\w+|REGISTRATION|RATE_?LIMIT\w*|S3_\w+|STRIPE_\w+
	|AI_\w+|METRICS_TOKEN|FASTBACK_CONFIG|MAIL_\w+|APP_NAME|WORKER_\w+
	|DB_\w+|MAX_UPLOAD_BYTES)$/x;

sub _clean_env {
	delete $ENV{$_} for grep { $_ =~ $FASTBACK_VARS } keys %ENV;
}

# _run([\%opt,] CMD...): run a command to completion, its stdout and stderr
# in one buffer. Dies with the output when it fails, unless $opt{may_fail}.
# %opt: env => {NAME => value} (set in the child, after _clean_env).
# Returns the output; in list context (wait status, output).
sub _run {
	my $opt = ref $_[0] eq 'HASH' ? shift : {};
	my @cmd = @_;
	my ($fh, $file) = tempfile('fbrun-XXXXXX', TMPDIR => 1, UNLINK => 1);
	my $pid = fork // croak "fork: $!";
	if (!$pid) {
		open STDIN, '<', '/dev/null';
		open STDOUT, '>&', $fh;
		open STDERR, '>&', $fh;
		_clean_env();
		$ENV{$_} = $opt->{env}{$_} for keys %{ $opt->{env} || {} };
		# An ignored signal stays ignored across exec: give the program
		# the default SIGPIPE, as a shell or systemd would.
		$SIG{PIPE} = 'DEFAULT';
		no warnings q(exec);
		exec { $cmd[0] } @cmd;
		print STDERR "exec $cmd[0]: $!\n";
		_exit(127);
	}
	1 while waitpid($pid, 0) < 0 && $! == EINTR;
	my $status = $?;
	my $out = _slurp($file);
	close $fh;
	unlink $file;
	if ($status && !$opt->{may_fail}) {
		croak sprintf "'%s' failed (status %d):\n%s", "@cmd", $status >> 8, $out;
	}
	return wantarray ? ($status, $out) : $out;
}

# An object: a hash whose keys are also methods (code values are called).
sub _obj { bless {@_}, 'FastbackTest::Obj' }

# A sub that does its work once, however often it is called (a test's own
# stop() and the one at END).
sub _once {
	my ($sub) = @_;
	my ($done, @ret);
	return sub { @ret = $sub->(@_) unless $done++; wantarray ? @ret : $ret[0] };
}

# ---- PostgreSQL ------------------------------------------------------------

sub _pgctl { return scalar _run("$ROOT/scripts/pgctl", @_) }

sub _url_from {
	my ($out) = @_;
	my @u = $out =~ /^DATABASE_URL=(\S+)$/mg;
	croak "pgctl printed no DATABASE_URL:\n$out" unless @u;
	return $u[-1];
}

# The same server, another database.
sub _db_url {
	my ($url, $db) = @_;
	$url =~ s{^(postgres(?:ql)?://[^/?]*)(?:/[^?]*)?}{$1/$db}
		or croak "not a postgresql:// URL: $url";
	return $url;
}

my $PSQL = -x '/usr/lib/postgresql/15/bin/psql'
	? '/usr/lib/postgresql/15/bin/psql' : 'psql';

# psql(URL, SQL): run SQL, return its unaligned, tuples-only output.
sub psql {
	my ($url, $sql) = @_;
	my $out = _run($PSQL, '-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1',
		'-d', $url, '-c', $sql);
	chomp $out;
	return $out;
}

my $SHARED_URL;

# Where the shared cluster lives: var/test in the repo, unless the tests run
# as root in a checkout that user postgres cannot reach (under /root, say):
# then a directory in /tmp named after the checkout.
sub _shared_base {
	my $base = "$ROOT/var/test";
	make_path($base);
	chmod 0755, "$ROOT/var", $base;
	return $base if $> != 0;
	return $base if system('runuser', '-u', 'postgres', '--', 'test', '-x', $base) == 0;
	require Digest::MD5;
	$base = File::Spec->tmpdir . '/fastback-test-' . substr(Digest::MD5::md5_hex($ROOT), 0, 12);
	make_path($base);
	chmod 0755, $base;
	return $base;
}

# The PostgreSQL of this test run. TEST_DATABASE_URL when set. Otherwise the
# cluster in var/test/pg (see _shared_base), started on a free port by the
# first test process that needs it and stopped by the last one: test files
# run in parallel (prove -j) share it. pg.lock beside it serialises start and
# stop; each user holds a shared flock on pg.users for its lifetime, so the
# one that can take it exclusively at the end is the last.
sub shared_pg {
	return $SHARED_URL if defined $SHARED_URL;
	if (defined $ENV{TEST_DATABASE_URL} && length $ENV{TEST_DATABASE_URL}) {
		return $SHARED_URL = $ENV{TEST_DATABASE_URL};
	}
	my $base = _shared_base();
	my $dir = "$base/pg";

	open my $lock, '>>', "$base/pg.lock" or croak "$base/pg.lock: $!";
	flock $lock, LOCK_EX or croak "flock: $!";
	open my $users, '>>', "$base/pg.users" or croak "$base/pg.users: $!";
	flock $users, LOCK_SH or croak "flock: $!";

	my ($st) = _run({ may_fail => 1 }, "$ROOT/scripts/pgctl", $dir, 0, 'status');
	my $url;
	if ($st == 0 && -s "$base/pg.url") {
		$url = _slurp("$base/pg.url");
		chomp $url;
	} else {
		$url = _url_from(_pgctl($dir, free_port(), 'start'));
		open my $fh, '>', "$base/pg.url" or croak "$base/pg.url: $!";
		print $fh "$url\n";
		close $fh;
	}
	flock $lock, LOCK_UN;
	close $lock;

	_at_end(sub {
		open my $l, '>>', "$base/pg.lock" or return;
		flock $l, LOCK_EX;
		if (flock $users, LOCK_EX | LOCK_NB) {
			_run({ may_fail => 1 }, "$ROOT/scripts/pgctl", $dir, 0, 'stop');
			unlink "$base/pg.url";
		}
		close $users;
		close $l;
	});
	return $SHARED_URL = $url;
}

# fresh_database(migrate => 1): a new, empty database t_<random> in the
# shared cluster, migrated with `fastbackctl migrate run` unless migrate => 0.
# Dropped at END. Returns its URL.
sub fresh_database {
	my %opt = (migrate => 1, @_);
	my $ctl = $opt{migrate} ? _bin('fastbackctl') : undef;
	my $base = shared_pg();
	my $name = 't_' . lc _random_string(12);
	my $admin = _db_url($base, 'postgres');
	psql($admin, qq{CREATE DATABASE "$name"});
	_at_end(sub {
		_run({ may_fail => 1 }, $PSQL, '-X', '-q', '-d', $admin, '-c',
			qq{DROP DATABASE IF EXISTS "$name" WITH (FORCE)});
	});
	my $url = _db_url($base, $name);
	if ($opt{migrate}) {
		# fastbackctl loads the whole configuration, which requires a
		# JWT secret even for migrations: give it a throw-away one.
		_run({ env => { DATABASE_URL => $url, JWT_SECRET => _random_string(48) } },
			$ctl, 'migrate', 'run');
	}
	return $url;
}

# own_pg(): a private cluster (own directory and port) for a test that stops
# or restarts PostgreSQL. Returns {url, dir, port, start, stop, restart};
# url points at the database `fastback`. Stopped at END.
sub own_pg {
	my $dir = _tempdir() . '/pg';
	my $port = free_port();
	my $url = _url_from(_pgctl($dir, $port, 'start'));
	my $stop = sub { _pgctl($dir, $port, 'stop'); return };
	_at_end($stop);
	return _obj(
		url => $url, dir => $dir, port => $port,
		start => sub { _pgctl($dir, $port, 'start'); return },
		stop => $stop,
		restart => sub { _pgctl($dir, $port, 'restart'); return },
	);
}

# ---- Redis ----------------------------------------------------------------

# start_redis(): a private, memory-only redis on a free port.
# Returns {url, port, dir, stop}. Stopped at END.
sub start_redis {
	my $dir = _tempdir();
	my $port = free_port();
	_run("$ROOT/scripts/redisctl", $dir, $port, 'start');
	my $stop = _once(sub {
		_run({ may_fail => 1 }, "$ROOT/scripts/redisctl", $dir, $port, 'stop');
		return;
	});
	_at_end($stop);
	return _obj(url => "redis://127.0.0.1:$port/0", port => $port,
		dir => $dir, stop => $stop);
}

# ---- child processes -------------------------------------------------------

# Start CMD as a child in its own process group, stdin from /dev/null and
# stdout+stderr appended to LOG. %opt: env => {..}, stdin => a handle
# to pass as fd 0 (a listening socket, as spawn-fcgi does).
sub _spawn {
	my ($opt, $log, @cmd) = @_;
	my $pid = fork // croak "fork: $!";
	if (!$pid) {
		setpgid(0, 0);
		if ($opt->{stdin}) {
			open STDIN, '<&', $opt->{stdin} or _exit(126);
		} else {
			open STDIN, '<', '/dev/null';
		}
		open STDOUT, '>>', $log or _exit(126);
		open STDERR, '>&', \*STDOUT;
		_clean_env();
		$ENV{$_} = $opt->{env}{$_} for keys %{ $opt->{env} || {} };
		# An ignored signal stays ignored across exec: give the program
		# the default SIGPIPE, as a shell or systemd would.
		$SIG{PIPE} = 'DEFAULT';
		no warnings q(exec);
		exec { $cmd[0] } @cmd;
		print STDERR "exec $cmd[0]: $!\n";
		_exit(127);
	}
	setpgid($pid, $pid);	# also from here, to win the race with exec
	return $pid;
}

# Process state of a child we spawned: reap it when it has exited.
# Returns undef while it runs, else its wait status (kept in $st->{status}).
sub _reaped {
	my ($st) = @_;
	return $st->{status} if defined $st->{status};
	my $r = waitpid($st->{pid}, WNOHANG);
	if ($r == $st->{pid} || ($r < 0 && !kill 0, $st->{pid})) {
		$st->{status} = $r == $st->{pid} ? $? : -1;
		return $st->{status};
	}
	return undef;
}

# SIGTERM, wait up to $grace seconds, then SIGKILL. Afterwards sweep the
# process group, so no responder outlives its master. Returns the wait
# status (0 = clean exit).
sub _terminate {
	my ($st, $grace) = @_;
	$grace //= 10;
	if (!defined _reaped($st)) {
		kill TERM => $st->{pid};
		wait_until { defined _reaped($st) } $grace;
		if (!defined _reaped($st)) {
			warn "# pid $st->{pid} ($st->{name}) ignored SIGTERM for ${grace}s: killing it\n";
			kill KILL => $st->{pid};
			wait_until { defined _reaped($st) } 5;
		}
	}
	kill KILL => -$st->{pid};	# leftovers in its process group, if any
	return $st->{status};
}

# Pids of the live direct children of $pid (from /proc/*/stat).
sub _children_of {
	my ($pid) = @_;
	my @kids;
	for my $stat (glob '/proc/[0-9]*/stat') {
		my $s = _slurp($stat) or next;
		# "pid (comm) state ppid ...": comm may hold spaces and parens.
		my $rest = substr $s, rindex($s, ')') + 2;
		my ($state, $ppid) = split ' ', $rest;
		next if $state eq 'Z';
		push @kids, ($stat =~ m{/proc/(\d+)/})[0] if $ppid == $pid;
	}
	@kids = sort { $a <=> $b } @kids;
	return @kids;	# a count in scalar context
}

sub _can_connect {
	my ($listen) = @_;
	my $s;
	if ($listen =~ m{^/}) {
		$s = IO::Socket::UNIX->new(Type => SOCK_STREAM, Peer => $listen);
	} elsif ($listen =~ /^(.*):(\d+)$/) {
		$s = IO::Socket::INET->new(PeerAddr => $1 || '127.0.0.1',
			PeerPort => $2, Proto => 'tcp', Timeout => 1);
	}
	return 0 unless $s;
	close $s;
	return 1;
}

# ---- sanitizer reports ---------------------------------------------------

my $SANITIZER_RE = qr/ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:/;
my %SANITIZER_SEEN;	# file => bytes already scanned

# Scan the part of $log not scanned before for sanitizer reports; on any,
# fail a test with the reports (each from its first line, up to 60 lines) as
# diagnostics. Called when a process that writes to $log has stopped.
sub _sanitizer_check {
	my ($what, $log) = @_;
	my $text = _slurp($log);
	my $from = $SANITIZER_SEEN{$log} // 0;
	$from = 0 if $from > length $text;	# truncated or replaced
	$SANITIZER_SEEN{$log} = length $text;
	$text = substr $text, $from;
	return 1 unless $text =~ $SANITIZER_RE;
	my @lines = split /\n/, $text;
	my (@report, $left);
	for my $line (@lines) {
		$left = 60 if $line =~ $SANITIZER_RE && !$left;
		next unless $left && $line !~ /^\{/;	# not the JSON log lines between
		push @report, $line;
		$left--;
		last if @report >= 400;
	}
	$SANITIZER_FAILED = 1;
	require Test::More;
	local $Test::Builder::Level = $Test::Builder::Level + 4;	# $obj->stop
	Test::More::ok(0, "no sanitizer report from $what in $log");
	Test::More::diag(join "\n", @report);
	return 0;
}

# ---- fastback-fcgi -------------------------------------------------------

# start_pool(NAME => value, ..., option => value, ...)
#
# Writes a config file and starts `fastback-fcgi --config FILE`. Upper-case
# keys are configuration: they override the defaults below or add to them; a
# key given as undef removes that default. Defaults: DATABASE_URL (a
# fresh_database() unless given), FCGI_LISTEN=<tmp>/fcgi.sock,
# FCGI_SOCKET_MODE=0666, FCGI_CHILDREN=4, JWT_SECRET (random),
# PUBLIC_URL=http://127.0.0.1:<http_port>, LOG_LEVEL=info.
#
# Lower-case keys are options:
#   http_port => N    the web server's port, for PUBLIC_URL (default: a free
#                     port, kept in $pool->{http_port} for start_nginx)
#   inherit_socket=>1 the harness opens the unix socket and hands it to the
#                     program on fd 0, as spawn-fcgi does; FCGI_LISTEN is then
#                     not written to the config
#   wait => 0         return at once instead of waiting for the socket (for
#                     tests of start-up failures: see $pool->wait_exit)
#   timeout => S      how long to wait for the socket (default 10 s)
#   args => [...]     more command-line arguments
#
# Returns {pid, socket, log, config, dir, http_port, conf => {..}} with
#   signal($sig)      send a signal to the master
#   stop()            SIGTERM, wait up to 10 s, SIGKILL; returns the wait status
#   alive()           true while the master runs
#   wait_exit($s)     wait up to $s seconds for it to exit; its wait status,
#                     or undef if it still runs
#   children()        pids of the master's live child processes
#   log_lines()       the log's JSON lines, decoded (other lines skipped)
#   log_text()        the log as it is
sub start_pool {
	my %args = @_;
	my %opt = map { $_ => delete $args{$_} } grep { /^[a-z]/ } keys %args;
	my $dir = _tempdir();
	my $http_port = $opt{http_port} // free_port();
	my $socket = "$dir/fcgi.sock";

	my %conf = (
		FCGI_LISTEN => $socket,
		FCGI_SOCKET_MODE => '0666',
		FCGI_CHILDREN => 4,
		JWT_SECRET => _random_string(48),
		PUBLIC_URL => "http://127.0.0.1:$http_port",
		LOG_LEVEL => 'info',
	);
	$conf{DATABASE_URL} = fresh_database() unless exists $args{DATABASE_URL};
	for my $k (keys %args) {
		if (defined $args{$k}) { $conf{$k} = $args{$k} } else { delete $conf{$k} }
	}

	my $listen_sock;
	if ($opt{inherit_socket}) {
		$socket = delete($conf{FCGI_LISTEN}) // $socket;
		unlink $socket;
		$listen_sock = IO::Socket::UNIX->new(Type => SOCK_STREAM,
			Local => $socket, Listen => 128) or croak "listen $socket: $!";
		chmod 0666, $socket;
	} else {
		$socket = $conf{FCGI_LISTEN};
	}

	my $config = "$dir/fastback.conf";
	open my $fh, '>', $config or croak "$config: $!";
	chmod 0600, $config;
	print $fh "$_=$conf{$_}\n" for sort keys %conf;
	close $fh;

	my $log = "$dir/fcgi.log";
	my @cmd = (_bin('fastback-fcgi'), '--config', $config, @{ $opt{args} || [] });
	my $st = { name => 'fastback-fcgi' };
	$st->{pid} = _spawn({ stdin => $listen_sock }, $log, @cmd);
	close $listen_sock if $listen_sock;	# the child has its own copy
	my $stop = _once(sub {
		my $status = _terminate($st, 10);
		_sanitizer_check("fastback-fcgi (pid $st->{pid})", $log);
		return $status;
	});
	_at_end($stop);

	if ($opt{wait} // 1) {
		my $up = wait_until {
			defined _reaped($st)
				|| (defined $socket && _can_connect($socket));
		} $opt{timeout} // 10;
		if (!$up || defined _reaped($st)) {
			my $why = defined $st->{status}
				? "exited (status $st->{status})" : 'did not open its socket';
			$stop->();
			croak "fastback-fcgi $why; log:\n" . _tail($log, 40);
		}
	}

	return _obj(
		pid => $st->{pid}, socket => $socket, log => $log, config => $config,
		dir => $dir, http_port => $http_port, conf => \%conf,
		signal => sub { kill $_[0] => $st->{pid} },
		stop => $stop,
		alive => sub { !defined _reaped($st) },
		wait_exit => sub {
			my ($t) = @_;
			wait_until { defined _reaped($st) } $t // 10;
			return $st->{status};
		},
		children => sub { _children_of($st->{pid}) },
		log_text => sub { _slurp($log) },
		log_lines => sub {
			my @out;
			for my $line (split /\n/, _slurp($log)) {
				next unless $line =~ /^\s*\{/;
				my $v = eval { $JSON->decode($line) };
				push @out, $v if ref $v eq 'HASH';
			}
			return @out;
		},
	);
}

# ---- nginx ----------------------------------------------------------------

# start_nginx(socket => PATH | pool => $pool, prefix => '' | '/app', port => N)
#
# nginx as a child process (`nginx -g 'daemon off;'`) on 127.0.0.1:port
# (default: the pool's http_port, else a free port), with a generated
# nginx.conf that includes a copy of the shipped snippet
# conf/nginx/fastback-locations.conf (or fastback-prefix.conf for a prefix)
# and of conf/nginx/fastback-upstream.conf pointed at the socket. Returns {url, port, dir, pid, stop, error_log};
# url is http://127.0.0.1:port plus the prefix. Stopped at END.
# fastback learns its mount prefix from PUBLIC_URL's path: under a prefix,
# start the pool with PUBLIC_URL => "http://127.0.0.1:$port/app" (start_stack
# does that).
sub start_nginx {
	my %o = @_;
	my $socket = $o{socket} // ($o{pool} && $o{pool}{socket})
		// croak 'start_nginx: socket or pool required';
	my $port = $o{port} // ($o{pool} && $o{pool}{http_port}) // free_port();
	my $prefix = $o{prefix} // '';
	$prefix =~ s{/+$}{};
	croak "start_nginx: bad prefix '$prefix'"
		unless $prefix eq '' || $prefix =~ m{^(/[A-Za-z0-9._~-]+)+$};

	my $dir = _tempdir();
	mkdir "$dir/$_" for qw(tmp logs);

	my $snippet = _slurp($prefix eq ''
		? "$ROOT/conf/nginx/fastback-locations.conf"
		: "$ROOT/conf/nginx/fastback-prefix.conf");
	croak 'start_nginx: snippet not found in conf/nginx/' unless length $snippet;
	$snippet =~ s{/run/fastback/fastback\.sock}{$socket}g;
	$snippet =~ s{include\s+fastcgi_params;}{include /etc/nginx/fastcgi_params;}g;
	if ($prefix ne '') {
		my $re = quotemeta $prefix;	# inside the split regex
		$snippet =~ s{\^\(/app\)}{^($re)}g;
		$snippet =~ s{(?<![\w/])/app(?=[/ ;])}{$prefix}g;
	}
	_write("$dir/fastback-locations.conf", $snippet);
	my $upstream = _slurp("$ROOT/conf/nginx/fastback-upstream.conf");
	croak 'start_nginx: fastback-upstream.conf not found in conf/nginx/' unless length $upstream;
	$upstream =~ s{/run/fastback/fastback\.sock}{$socket}g;
	_write("$dir/fastback-upstream.conf", $upstream);

	my $error_log = "$dir/logs/error.log";
	_write("$dir/nginx.conf", <<"EOF");
# generated by tests/lib/FastbackTest.pm
worker_processes 1;
pid $dir/nginx.pid;
error_log $error_log info;
events { worker_connections 1024; }
http {
	access_log $dir/logs/access.log;
	client_body_temp_path $dir/tmp/body;
	fastcgi_temp_path $dir/tmp/fastcgi;
	proxy_temp_path $dir/tmp/proxy;
	uwsgi_temp_path $dir/tmp/uwsgi;
	scgi_temp_path $dir/tmp/scgi;
	default_type application/octet-stream;
	include $dir/fastback-upstream.conf;
	server {
		listen 127.0.0.1:$port;
		server_name 127.0.0.1;
		include $dir/fastback-locations.conf;
	}
}
EOF

	my $st = { name => 'nginx' };
	$st->{pid} = _spawn({}, "$dir/logs/stderr.log", 'nginx', '-e', $error_log,
		'-g', 'daemon off;', '-c', "$dir/nginx.conf", '-p', "$dir/");
	my $stop = _once(sub { _terminate($st, 10) });
	_at_end($stop);
	my $up = wait_until {
		defined _reaped($st) || _can_connect("127.0.0.1:$port")
	} 10;
	if (!$up || defined _reaped($st)) {
		$stop->();
		croak "nginx did not start:\n" . _tail("$dir/logs/stderr.log", 20)
			. "\n" . _tail($error_log, 20);
	}
	return _obj(url => "http://127.0.0.1:$port$prefix", port => $port,
		dir => $dir, pid => $st->{pid}, stop => $stop,
		error_log => $error_log);
}

sub _write {
	my ($file, $text) = @_;
	open my $fh, '>', $file or croak "$file: $!";
	print $fh $text;
	close $fh or croak "$file: $!";
}

# start_stack(%args): start_pool(%args) and nginx in front of it (option
# prefix => '/app' passed to nginx). Returns the pool, with {url} (base URL
# through nginx) and {nginx}.
sub start_stack {
	my %args = @_;
	my $prefix = delete $args{prefix} // '';
	my $http_port = $args{http_port} //= free_port();
	$args{PUBLIC_URL} //= "http://127.0.0.1:$http_port$prefix";
	my $pool = start_pool(%args);
	my $nginx = start_nginx(pool => $pool, prefix => $prefix);
	$pool->{nginx} = $nginx;
	$pool->{url} = $nginx->{url};
	return $pool;
}

# ---- Apache, Caddy, lighttpd ---------------------------------------------
#
# Each start_<server> runs the server as a child process in the foreground on
# 127.0.0.1 with a generated main configuration in a temporary directory (pid,
# logs, temporary files: nothing system-wide is touched) that includes a
# rewritten copy of the shipped configuration in conf/. The copy has the
# placeholder socket /run/fastback/fastback.sock replaced by the test's
# socket, and the mount chosen: the shipped Apache and Caddy files hold two
# marked blocks, "#==== A: ..." (the site root, active) and "#==== B: ..."
# (under /app/, commented out) up to "#==== end ====". For a prefix the copy
# gets exactly the edit those files tell users to make: A's lines commented
# out, B's uncommented ("#" directly followed by text or a tab; "##" stays a
# comment), /app changed to the prefix. lighttpd's file has a variable
# instead (var.fastback_prefix).
#
# Common options, as start_nginx: socket => PATH or pool => $pool (anything
# with {socket}, such as start_echo()); prefix => '' | '/app'; port => N
# (default: the pool's http_port, else a free port). Each returns
# {url, port, dir, pid, stop, error_log, access_log, conf}: url is
# http://127.0.0.1:port plus the prefix, conf the rewritten copy. Stopped
# (SIGTERM, by pid) at END.

sub _web_opts {
	my ($who, $o) = @_;
	my $socket = $o->{socket} // ($o->{pool} && $o->{pool}{socket});
	my $port = $o->{port} // ($o->{pool} && $o->{pool}{http_port}) // free_port();
	my $prefix = $o->{prefix} // '';
	$prefix =~ s{/+$}{};
	croak "$who: bad prefix '$prefix'"
		unless $prefix eq '' || $prefix =~ m{^(/[A-Za-z0-9._~-]+)+$};
	return ($socket, $port, $prefix);
}

# The shipped file $file with the placeholder socket replaced, and block A
# (prefix '') or B (the prefix) chosen; see above.
sub _shipped_conf {
	my ($file, $socket, $prefix) = @_;
	my $text = _slurp("$ROOT/$file");
	croak "$file not found or empty" unless length $text;
	if (defined $socket) {
		$text =~ s{/run/fastback/fastback\.sock}{$socket}g
			or croak "$file: no /run/fastback/fastback.sock to replace";
	}
	return $text if $prefix eq '' || $text !~ /^\s*#==== A:/m;
	my ($block, %seen) = ('');
	my @out;
	for my $line (split /\n/, $text, -1) {
		if ($line =~ /^\s*#==== ([AB]):/) {
			$block = $1;
			$seen{$1}++;
		} elsif ($line =~ /^\s*#==== end/) {
			$block = '';
		} elsif ($block eq 'A') {
			$line =~ s/^(\s*)(?=[^\s#])/$1#/;
		} elsif ($block eq 'B') {
			$line =~ s/^(\s*)#(?=[^ ])/$1/;
		}
		push @out, $line;
	}
	croak "$file: blocks A and B not found" unless $seen{A} && $seen{B};
	$text = join "\n", @out;
	$text =~ s{/app(?![\w.~-])}{$prefix}g;
	return $text;
}

# Spawn a web server, wait until it accepts connections on $port. Returns
# ($st, $stop); $on_stop runs after it has stopped.
sub _start_web {
	my ($name, $port, $opt, $logs, $on_stop, @cmd) = @_;
	my $st = { name => $name };
	$st->{pid} = _spawn($opt, $logs->[0], @cmd);
	my $stop = _once(sub {
		my $status = _terminate($st, 10);
		$on_stop->() if $on_stop;
		return $status;
	});
	_at_end($stop);
	my $up = wait_until {
		defined _reaped($st) || _can_connect("127.0.0.1:$port")
	} 15;
	if (!$up || defined _reaped($st)) {
		$stop->();
		croak "$name did not start:\n" . join "\n", map { "== $_\n" . _tail($_, 20) } @$logs;
	}
	return ($st, $stop);
}

# A program's path: from PATH, else /usr/sbin or /sbin (not in a non-root
# PATH on Debian); croaks with the package to install when missing.
sub _which {
	my ($name, $package) = @_;
	for my $d (split(/:/, $ENV{PATH} // ''), '/usr/sbin', '/sbin') {
		return "$d/$name" if length $d && -x "$d/$name" && !-d _;
	}
	croak "$name not found: apt-get install $package";
}

# The user the web servers' workers run as when the tests run as root.
sub _www_user {
	return undef if $> != 0;
	my @pw = getpwnam('www-data') or return undef;
	return { name => 'www-data', uid => $pw[2], gid => $pw[3] };
}

# start_apache(pool => $pool | socket => PATH, mode => 'proxy_fcgi' | 'fcgid',
#              prefix => '' | '/app', port => N, command => PATH, conf => {..})
#
# Apache httpd (`apache2 -DFOREGROUND`, mpm_event, one child) with its own
# ServerRoot, loading only the modules it needs from /usr/lib/apache2/modules,
# and a <VirtualHost> that includes a copy of the shipped
# conf/apache/fastback-proxy-fcgi.conf (mode proxy_fcgi, the default: Apache
# forwards to the socket) or conf/apache/fastback-fcgid.conf (mode fcgid:
# Apache starts the program itself with the socket on fd 0; a pool given is
# only the source of the configuration and is never contacted):
#   command => PATH   the program mod_fcgid starts (default: fastback-fcgi of
#                     the build; tests/lib/fcgi-echo shows what Apache sends)
#   conf => {..}      its configuration, over the pool's (without FCGI_LISTEN
#                     and FCGI_SOCKET_MODE: the socket is on fd 0;
#                     FCGI_CHILDREN=1 comes from the shipped file), written
#                     where Apache's user can read it and passed as
#                     FASTBACK_CONFIG. ASAN_/UBSAN_/LSAN_OPTIONS are passed on.
# In fcgid mode the program's stderr is Apache's error log, scanned for
# sanitizer reports when Apache stops. As root, Apache's children (and the
# programs mod_fcgid starts) run as www-data.
sub start_apache {
	my %o = @_;
	my $mode = $o{mode} // 'proxy_fcgi';
	croak "start_apache: mode proxy_fcgi or fcgid, not '$mode'"
		unless $mode eq 'proxy_fcgi' || $mode eq 'fcgid';
	my ($socket, $port, $prefix) = _web_opts('start_apache', \%o);
	croak 'start_apache: socket or pool required' if $mode eq 'proxy_fcgi' && !defined $socket;
	my $dir = _tempdir();
	mkdir "$dir/$_" for qw(run logs htdocs);
	my $user = _www_user();
	my $mods = '/usr/lib/apache2/modules';

	my ($snippet, @modules, $extra, $vhost_extra) = ('', 'mpm_event', 'authz_core', 'alias');
	if ($mode eq 'proxy_fcgi') {
		$snippet = _shipped_conf('conf/apache/fastback-proxy-fcgi.conf', $socket, $prefix);
		push @modules, 'proxy', 'proxy_fcgi';
		$extra = '';
		$vhost_extra = '';
	} else {
		$snippet = _shipped_conf('conf/apache/fastback-fcgid.conf', undef, $prefix);
		push @modules, 'fcgid';
		croak "$mods/mod_fcgid.so not found: apt-get install libapache2-mod-fcgid"
			unless -e "$mods/mod_fcgid.so";
		my $command = $o{command} // _bin('fastback-fcgi');
		my %conf = %{ ($o{pool} && $o{pool}{conf}) || {} };
		delete @conf{qw(FCGI_LISTEN FCGI_SOCKET_MODE)};
		for my $k (keys %{ $o{conf} || {} }) {
			if (defined $o{conf}{$k}) { $conf{$k} = $o{conf}{$k} } else { delete $conf{$k} }
		}
		my $config = "$dir/fastback.conf";
		_write($config, join '', map { "$_=$conf{$_}\n" } sort keys %conf);
		chmod 0600, $config;
		chown $user->{uid}, $user->{gid}, $config if $user;
		$snippet =~ s{/usr/local/bin/fastback-fcgi}{$command}g
			or croak 'fastback-fcgid.conf: no /usr/local/bin/fastback-fcgi to replace';
		$snippet =~ s{/etc/fastback/fastback\.conf}{$config}g
			or croak 'fastback-fcgid.conf: no /etc/fastback/fastback.conf to replace';
		mkdir "$dir/fcgid";
		chown $user->{uid}, $user->{gid}, "$dir/fcgid" if $user;
		$extra = "FcgidIPCDir $dir/fcgid\nFcgidProcessTableFile $dir/run/fcgid_shm\n";
		$vhost_extra = join '', map { "\tFcgidInitialEnv $_ \"$ENV{$_}\"\n" }
			grep { defined $ENV{$_} && length $ENV{$_} } qw(ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS);
	}
	_write("$dir/fastback.site.conf", $snippet);

	my $load = join '', map { "LoadModule ${_}_module $mods/mod_$_.so\n" } @modules;
	my $who = $user ? "User $user->{name}\nGroup $user->{name}\n" : '';
	my $error_log = "$dir/logs/error.log";
	my $access_log = "$dir/logs/access.log";
	_write("$dir/httpd.conf", <<"EOF");
# generated by tests/lib/FastbackTest.pm
ServerRoot "$dir"
DefaultRuntimeDir "$dir/run"
PidFile "$dir/run/httpd.pid"
Mutex file:$dir/run default
$load$who
ServerName 127.0.0.1
Listen 127.0.0.1:$port
ErrorLog "$error_log"
LogLevel info
LogFormat "%h \\"%r\\" %>s %b %D" short
CustomLog "$access_log" short
DocumentRoot "$dir/htdocs"
TraceEnable off
Timeout 60
StartServers 1
ServerLimit 1
ThreadLimit 16
ThreadsPerChild 16
MaxRequestWorkers 16
MinSpareThreads 1
MaxSpareThreads 16
$extra
<VirtualHost 127.0.0.1:$port>
	ServerName 127.0.0.1
	DocumentRoot "$dir/htdocs"
$vhost_extra	Include "$dir/fastback.site.conf"
</VirtualHost>
EOF

	my $stderr = "$dir/logs/stderr.log";
	my ($st, $stop) = _start_web('apache2', $port, {}, [$stderr, $error_log],
		$mode eq 'fcgid' ? sub { _sanitizer_check('fastback-fcgi under mod_fcgid', $error_log) } : undef,
		_which('apache2', 'apache2'), '-f', "$dir/httpd.conf", '-DFOREGROUND');
	return _obj(url => "http://127.0.0.1:$port$prefix", port => $port,
		dir => $dir, pid => $st->{pid}, stop => $stop, mode => $mode,
		error_log => $error_log, access_log => $access_log, conf => $snippet);
}

# start_caddy(pool => $pool | socket => PATH, prefix => '' | '/app', port => N,
#             trusted_proxies => 'CIDR ...')
#
# `caddy run --adapter caddyfile` on a generated Caddyfile: global options
# (admin off, auto_https off, default_bind 127.0.0.1, HTTP/1.1 only,
# storage, HOME and XDG_* in the temporary directory) and an import of a copy
# of the shipped conf/caddy/Caddyfile whose site address example.com is
# replaced by http://127.0.0.1:port. trusted_proxies (for tests only) is
# added to its reverse_proxy: Caddy then keeps the client's X-Forwarded-For
# (and appends the client's address) instead of replacing it.
sub start_caddy {
	my %o = @_;
	my ($socket, $port, $prefix) = _web_opts('start_caddy', \%o);
	croak 'start_caddy: socket or pool required' unless defined $socket;
	my $dir = _tempdir();
	mkdir "$dir/$_" for qw(logs storage home config data);

	my $site = _shipped_conf('conf/caddy/Caddyfile', $socket, $prefix);
	$site =~ s/^example\.com\s*\{/http:\/\/127.0.0.1:$port {/m
		or croak 'conf/caddy/Caddyfile: no "example.com {" site to replace';
	if (defined $o{trusted_proxies}) {
		$site =~ s/^(\s*)(reverse_proxy\s+\S+\s*\{)$/$1$2\n$1\ttrusted_proxies $o{trusted_proxies}/mg
			or croak 'conf/caddy/Caddyfile: no reverse_proxy block';
	}
	_write("$dir/site.Caddyfile", $site);
	my $log = "$dir/logs/caddy.log";
	my $access_log = "$dir/logs/access.log";
	_write("$dir/Caddyfile", <<"EOF");
# generated by tests/lib/FastbackTest.pm
{
	admin off
	auto_https off
	default_bind 127.0.0.1
	storage file_system $dir/storage
	servers {
		protocols h1
	}
}

import $dir/site.Caddyfile
EOF

	my %env = (HOME => "$dir/home", XDG_CONFIG_HOME => "$dir/config",
		XDG_DATA_HOME => "$dir/data", PATH => $ENV{PATH});
	my ($st, $stop) = _start_web('caddy', $port, { env => \%env }, [$log], undef,
		_which('caddy', 'caddy'), 'run', '--config', "$dir/Caddyfile", '--adapter', 'caddyfile');
	return _obj(url => "http://127.0.0.1:$port$prefix", port => $port,
		dir => $dir, pid => $st->{pid}, stop => $stop,
		error_log => $log, access_log => $log, conf => $site);
}

# start_lighttpd(pool => $pool | socket => PATH, prefix => '' | '/app', port => N)
#
# `lighttpd -D -f FILE` with a generated lighttpd.conf (Debian's URL
# normalisation options; pid, logs and upload directory in the temporary
# directory; as root it runs as www-data, like Debian's) that includes a copy
# of the shipped conf/lighttpd/fastback.conf with var.fastback_prefix set to
# the prefix.
sub start_lighttpd {
	my %o = @_;
	my ($socket, $port, $prefix) = _web_opts('start_lighttpd', \%o);
	croak 'start_lighttpd: socket or pool required' unless defined $socket;
	my $dir = _tempdir();
	mkdir "$dir/$_" for qw(logs htdocs tmp run);
	my $user = _www_user();
	# lighttpd opens its logs after dropping privileges.
	chown $user->{uid}, $user->{gid}, map { "$dir/$_" } qw(tmp logs run) if $user;

	my $snippet = _shipped_conf('conf/lighttpd/fastback.conf', $socket, $prefix);
	$snippet =~ s/^var\.fastback_prefix\s*=\s*"[^"]*"/var.fastback_prefix = "$prefix"/m
		or croak 'conf/lighttpd/fastback.conf: no var.fastback_prefix = "..." line';
	_write("$dir/fastback.conf", $snippet);
	my $who = $user ? qq{server.username = "$user->{name}"\nserver.groupname = "$user->{name}"\n} : '';
	my $error_log = "$dir/logs/error.log";
	my $access_log = "$dir/logs/access.log";
	_write("$dir/lighttpd.conf", <<"EOF");
# generated by tests/lib/FastbackTest.pm
server.modules = ( "mod_access", "mod_accesslog" )
server.document-root = "$dir/htdocs"
server.upload-dirs = ( "$dir/tmp" )
server.errorlog = "$error_log"
server.pid-file = "$dir/run/lighttpd.pid"
server.bind = "127.0.0.1"
server.port = $port
$who
accesslog.filename = "$access_log"
# As Debian's /etc/lighttpd/lighttpd.conf
server.http-parseopts = (
	"header-strict" => "enable",
	"host-strict" => "enable",
	"host-normalize" => "enable",
	"url-normalize-unreserved" => "enable",
	"url-normalize-required" => "enable",
	"url-ctrls-reject" => "enable",
	"url-path-2f-decode" => "enable",
	"url-path-dotseg-remove" => "enable",
)
include "$dir/fastback.conf"
EOF

	my ($st, $stop) = _start_web('lighttpd', $port, {}, ["$dir/logs/stderr.log", $error_log],
		undef, _which('lighttpd', 'lighttpd'), '-D', '-f', "$dir/lighttpd.conf");
	return _obj(url => "http://127.0.0.1:$port$prefix", port => $port,
		dir => $dir, pid => $st->{pid}, stop => $stop,
		error_log => $error_log, access_log => $access_log, conf => $snippet);
}

# start_echo(): tests/lib/fcgi-echo, a FastCGI responder that answers every
# request with JSON of the parameters and body it received (see the script),
# on a unix socket the harness opens and hands over on fd 0. Stands wherever
# a pool does (pool => $echo, socket => $echo->{socket}). Returns
# {socket, command, pid, dir, log, stop}. Stopped at END.
sub start_echo {
	my $dir = _tempdir();
	my $socket = "$dir/echo.sock";
	my $command = "$ROOT/tests/lib/fcgi-echo";
	my $l = IO::Socket::UNIX->new(Type => SOCK_STREAM, Local => $socket,
		Listen => 128) or croak "listen $socket: $!";
	chmod 0666, $socket;
	my $log = "$dir/echo.log";
	my $st = { name => 'fcgi-echo' };
	$st->{pid} = _spawn({ stdin => $l }, $log, $command);
	close $l;
	my $stop = _once(sub { _terminate($st, 5) });
	_at_end($stop);
	return _obj(socket => $socket, command => $command, pid => $st->{pid},
		dir => $dir, log => $log, stop => $stop);
}

# ---- HTTP -------------------------------------------------------------------

# http(METHOD, URL, %opts) -> {status, reason, headers, content, json}
#   headers => {..}   request headers
#   body => STRING    raw body
#   json => REF       body encoded as JSON, Content-Type application/json
#                     (unless headers already say otherwise)
#   token => JWT      Authorization: Bearer JWT
#   timeout => S      default 30
# json is the decoded body when the response's Content-Type is JSON
# (application/json, application/problem+json, ...), else undef. Status 599
# means no answer (connection refused, timeout); content then says why.
# Header names in {headers} are lower-case.
sub http {
	my ($method, $url, %o) = @_;
	my %h = %{ $o{headers} || {} };
	my %req = (headers => \%h);
	if (exists $o{json}) {
		$req{content} = $JSON->encode($o{json});
		$h{'Content-Type'} = 'application/json'
			unless grep { lc eq 'content-type' } keys %h;
	} elsif (defined $o{body}) {
		$req{content} = $o{body};
	}
	$h{Authorization} = "Bearer $o{token}" if defined $o{token};
	my $ua = HTTP::Tiny->new(timeout => $o{timeout} // 30, max_redirect => 0,
		keep_alive => 0, agent => 'fastback-tests/1');
	my $r = $ua->request(uc $method, $url, \%req);
	my $ct = $r->{headers}{'content-type'} // '';
	my $json;
	if ($ct =~ m{^application/(?:[\w.+-]*\+)?json\b}i && length $r->{content}) {
		$json = eval { $JSON->decode($r->{content}) };
	}
	return {
		status => $r->{status}, reason => $r->{reason},
		headers => $r->{headers}, content => $r->{content}, json => $json,
	};
}

package FastbackTest::Obj;

# Hash keys as methods: code values are called with the arguments, other
# values returned.
our $AUTOLOAD;

sub AUTOLOAD {
	my $self = shift;
	(my $name = $AUTOLOAD) =~ s/.*:://;
	return if $name eq 'DESTROY';
	Carp::croak("no method or key '$name'") unless exists $self->{$name};
	my $v = $self->{$name};
	return ref $v eq 'CODE' ? $v->(@_) : $v;
}

1;
