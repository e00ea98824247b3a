package FastbackSMTP;

# A real SMTP server for the tests: tests/lib/smtp_sink.py (Debian's
# python3-aiosmtpd) on a free 127.0.0.1 port, as a child process that is
# stopped by pid when the test ends (also after a die or SIGINT/SIGTERM).
# Each accepted message is a file in a directory; the server can be told,
# while it runs, to refuse MAIL FROM, RCPT TO or the message with a code.
# Core Perl modules only.
#
#     use lib 'tests/lib';
#     use FastbackSMTP;
#     my $smtp = start_smtp();               # or start_smtp(rcpt => 550)
#     ... send to $smtp->{url} ("smtp://127.0.0.1:PORT") ...
#     my @m = $smtp->messages;               # oldest first
#     $m[0]{envelope}{mail_from};            # "noreply@example.com"
#     $m[0]{envelope}{rcpt_tos};             # ["alice@example.org"]
#     $m[0]{headers}{subject}[0];            # unfolded, still encoded
#     $m[0]{raw};  $m[0]{body};              # bytes as received
#     $smtp->set_reply(550);                 # refuse RCPT TO with 550
#     $smtp->set_reply(451, 'data');         # refuse the message with 451
#     $smtp->set_reply(undef);               # accept everything again
#     $smtp->stop;  $smtp->start;            # down, up again on the same port
#     $smtp->clear;                          # forget the stored messages
#
# start_smtp(%opt): rcpt|mail|data => CODE (initial refusals), port => N,
# dir => DIR (default: a temporary directory, kept when FASTBACK_KEEP_TMP=1).
# Values are also methods ($smtp->url, $smtp->port), as in FastbackTest.
#
# parse_message($raw) (exportable): {headers => {lc name => [values]}, body}
# for any RFC 5322 message: header fields unfolded (CRLF removed before
# whitespace), values not decoded.

use strict;
use warnings;

use Carp qw(croak);
use Cwd qw(abs_path);
use Errno qw(EINTR);
use Exporter qw(import);
use File::Basename qw(dirname);
use File::Temp qw(tempdir);
use IO::Socket::INET;
use JSON::PP;
use POSIX qw(WNOHANG _exit setpgid);
use Time::HiRes qw(sleep time);

our @EXPORT = qw(start_smtp);
our @EXPORT_OK = qw(parse_message);

my $LIB = abs_path(dirname(__FILE__));
my $MAIN_PID = $$;
my @STOPS;	# stop subs of the servers started here, run at END

my $JSON = JSON::PP->new->utf8->canonical;

# Debian's python3-aiosmtpd is installed for the system Python; a python3
# earlier in PATH (pyenv, a venv) would not find it.
my $PYTHON = -x '/usr/bin/python3' ? '/usr/bin/python3' : 'python3';

# A die or Ctrl-C must still stop the server: turn the signals into a normal
# exit, which runs END (FastbackTest does the same; keep its handlers).
for my $sig (qw(INT TERM HUP)) {
	$SIG{$sig} = sub { exit 130 } unless ref $SIG{$sig} eq 'CODE';
}
$SIG{PIPE} = 'IGNORE';

END {
	if ($$ == $MAIN_PID) {
		my $status = $?;
		for my $stop (reverse @STOPS) {
			eval { $stop->(); 1 } or warn "FastbackSMTP cleanup: $@";
		}
		$? = $status;
	}
}

sub _free_port {
	my $s = IO::Socket::INET->new(
		LocalAddr => '127.0.0.1', LocalPort => 0, Proto => 'tcp',
		Listen => 1, ReuseAddr => 1,
	) or croak "free port: $!";
	my $port = $s->sockport;
	close $s;
	return $port;
}

sub _slurp {
	my ($file) = @_;
	open my $fh, '<:raw', $file or return undef;
	local $/;
	return scalar <$fh>;
}

sub _tail {
	my ($file, $n) = @_;
	my @l = split /\n/, _slurp($file) // '';
	splice @l, 0, @l - $n if @l > $n;
	return join "\n", @l;
}

# Written whole and renamed, so the server never reads half a file.
sub _write_control {
	my ($dir, $control) = @_;
	my $tmp = "$dir/control.json.tmp";
	open my $fh, '>', $tmp or croak "$tmp: $!";
	print $fh $JSON->encode($control);
	close $fh or croak "$tmp: $!";
	rename $tmp, "$dir/control.json" or croak "rename $tmp: $!";
}

# The server's greeting, read from a fresh connection: it is up.
sub _greets {
	my ($port) = @_;
	my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
		Proto => 'tcp', Timeout => 2) or return 0;
	$s->timeout(2);
	my $line = <$s>;
	print $s "QUIT\r\n" if defined $line;
	close $s;
	return defined $line && $line =~ /^220 /;
}

sub parse_message {
	my ($raw) = @_;
	my ($head, $body) = split /\r?\n\r?\n/, $raw, 2;
	my %headers;
	$head =~ s/\r?\n(?=[ \t])//g;	# unfold (RFC 5322 §2.2.3)
	for my $line (split /\r?\n/, $head) {
		my ($name, $value) = $line =~ /^([^:\s]+):[ \t]*(.*)$/ or next;
		push @{ $headers{lc $name} }, $value;
	}
	return { headers => \%headers, body => $body // '' };
}

sub start_smtp {
	my %opt = @_;
	my $dir = $opt{dir} // tempdir('fbsmtp-XXXXXX', TMPDIR => 1,
		CLEANUP => !$ENV{FASTBACK_KEEP_TMP});
	print STDERR "# keeping $dir\n" if $ENV{FASTBACK_KEEP_TMP} && !$opt{dir};
	my $port = $opt{port} // _free_port();
	my $log = "$dir/sink.log";
	my %control = map { $_ => $opt{$_} } grep { defined $opt{$_} } qw(mail rcpt data);
	_write_control($dir, \%control);

	my $pid;
	my $reap = sub {
		return 1 unless $pid;
		my $r = waitpid($pid, WNOHANG);
		if ($r == $pid || ($r < 0 && !kill 0, $pid)) {
			$pid = undef;
			return 1;
		}
		return 0;
	};
	my $stop = sub {
		return if $reap->();
		kill TERM => $pid;
		my $end = time + 5;
		sleep 0.05 until $reap->() || time > $end;
		if ($pid) {
			kill KILL => $pid;
			1 while waitpid($pid, 0) < 0 && $! == EINTR;
			$pid = undef;
		}
		return;
	};
	my $start = sub {
		return if !$reap->();	# already running
		$pid = fork // croak "fork: $!";
		if (!$pid) {
			setpgid(0, 0);
			open STDIN, '<', '/dev/null';
			open STDOUT, '>>', $log or _exit(126);
			open STDERR, '>&', \*STDOUT;
			$SIG{PIPE} = 'DEFAULT';
			no warnings q(exec);
			exec $PYTHON, "$LIB/smtp_sink.py", '--port', $port, '--dir', $dir;
			print STDERR "exec $PYTHON: $!\n";
			_exit(127);
		}
		setpgid($pid, $pid);
		my $end = time + 15;
		until (_greets($port)) {
			if ($reap->() || time > $end) {
				$stop->();
				croak "smtp_sink.py did not start on 127.0.0.1:$port "
					. "(python3-aiosmtpd installed?); log:\n" . _tail($log, 30);
			}
			sleep 0.05;
		}
		return;
	};

	my $self = bless {
		port => $port,
		url => "smtp://127.0.0.1:$port",
		dir => $dir,
		log => $log,
		pid => sub { $pid },
		start => $start,
		stop => $stop,
		alive => sub { !$reap->() },
		set_reply => sub {
			my ($code, $stage) = @_;
			if (!defined $stage) {
				%control = () unless defined $code;
				$stage = 'rcpt';
			}
			croak "set_reply: stage must be mail, rcpt or data"
				unless $stage =~ /^(?:mail|rcpt|data)$/;
			if (defined $code) {
				croak "set_reply: $code is not a 4xx or 5xx code"
					unless $code =~ /^[45]\d\d$/;
				$control{$stage} = 0 + $code;
			} else {
				delete $control{$stage};
			}
			_write_control($dir, \%control);
			return;
		},
		messages => sub {
			my @out;
			for my $eml (sort { $a cmp $b } glob("$dir/*.eml")) {
				(my $side = $eml) =~ s/\.eml$/.json/;
				my $raw = _slurp($eml);
				next unless defined $raw;
				my $env = eval { $JSON->decode(_slurp($side) // '') } // {};
				my $p = parse_message($raw);
				push @out, { file => $eml, envelope => $env, raw => $raw,
					headers => $p->{headers}, body => $p->{body} };
			}
			return @out;
		},
		clear => sub {
			unlink glob("$dir/*.eml"), glob("$dir/*.json");
			_write_control($dir, \%control);
			return;
		},
	}, 'FastbackSMTP::Obj';
	push @STOPS, $stop;
	$start->();
	return $self;
}

package FastbackSMTP::Obj;

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
