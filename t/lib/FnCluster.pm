package FnCluster;
# The cluster of scripts/cluster, for the tests in t/cluster: its facts,
# requests to its hosts, and a load generator that keeps a ledger of every
# call it made.  The tests run inside the cluster's "client" namespace
# (make test-cluster), where every host's address is reachable.
use strict;
use warnings;

use Exporter 'import';
use FnTest ();
use IO::Select;
use IO::Socket::INET;
use JSON::PP;
use POSIX ();
use Time::HiRes qw(time sleep);

our @EXPORT_OK = qw(cluster env_of api sync_call async_call call_record
                    host_part wait_final start_load stop_load ledger_summary
                    hello_image hot_image pid_of db_value mqctl);

my $TOP = FnTest::top();
my %ENV_;
my %LOADS;                  # running load generators, by ledger

# A test that dies stops its load generators all the same.
END {
    for my $h (values %LOADS) {
        if (open(my $stop, ">", "$h->{ledger}.stop")) { close $stop }
        waitpid($_, 0) for @{ $h->{pids} };
    }
}

# The cluster's env file (scripts/cluster writes it once it is up).
sub cluster {
    return \%ENV_ if %ENV_;
    my $dir = $ENV{FUNCTIONS_CLUSTER_DIR} // "$TOP/var/cluster";
    open(my $f, '<', "$dir/env")
        or die "no cluster at $dir (scripts/cluster up): $!\n";
    while (<$f>) {
        chomp;
        $ENV_{$1} = $2 if /^(\w+)=(.*)$/;
    }
    $ENV_{token} = FnTest::slurp($ENV_{FUNCTIONS_CLUSTER_TOKEN_FILE});
    chomp $ENV_{token};
    return \%ENV_;
}

sub env_of { cluster()->{$_[0]} }

# "http://a:p" -> "a:p"
sub peer { my ($url) = @_; $url =~ s{^http://}{}; return $url }

sub front { peer(cluster()->{FUNCTIONS_CLUSTER_FRONT}) }

# One request; host: front (default), api1, api2.
sub request {
    my ($method, $path, %o) = @_;
    my $host = delete $o{host} // 'front';
    my $url = $host eq 'front' ? cluster()->{FUNCTIONS_CLUSTER_FRONT}
                               : cluster()->{'FUNCTIONS_CLUSTER_' . uc $host};
    return FnTest::http_request(peer($url), $method, $path, timeout => 30,
                                %o);
}

# The /v1 API, with the admin token; body a Perl structure.
sub api {
    my ($method, $path, $body, %o) = @_;
    my %h = (Authorization => "Bearer " . cluster()->{token},
             %{ delete $o{headers} // {} });
    $h{'Content-Type'} = 'application/json' if defined $body;
    return request($method, $path, headers => \%h,
                   (defined $body ? (body => encode_json($body)) : ()), %o);
}

sub sync_call { my ($path, $body, %o) = @_;
                return request('POST', "/r$path", body => $body, %o) }
sub async_call { my ($path, $body, %o) = @_;
                 return request('POST', "/r$path", body => $body, %o) }

# The call's record through the API ({} when not found).
sub call_record {
    my ($app, $id, %o) = @_;
    my $r = api('GET', "/v1/apps/$app/calls/$id", undef, %o);
    return ($r->{status} == 200 && $r->{json}) ? $r->{json}{call} : {};
}

my %FINAL = map { $_ => 1 } qw(success error timeout);

# The app's calls as the list API pages them (100 a page, newest first),
# until every id of %$want was seen or the list ends: { id => record }.
sub listed_calls {
    my ($app, $want) = @_;
    my (%seen, $cursor);
    my $missing = keys %$want;
    for my $page (1 .. 1000) {
        my $r = api('GET', "/v1/apps/$app/calls?per_page=100"
                           . (defined $cursor ? "&cursor=$cursor" : ''));
        last unless $r->{status} == 200 && $r->{json};
        for my $c (@{ $r->{json}{calls} // [] }) {
            next unless $want->{ $c->{id} } && !$seen{ $c->{id} };
            $seen{ $c->{id} } = $c;
            $missing--;
        }
        $cursor = $r->{json}{next_cursor};
        last if !$missing || !defined $cursor;
    }
    return \%seen;
}

# Waits up to $t seconds until every id is final; returns the records.
# Each pass reads the list of the app's calls; an id not in it (a sealed
# id's call no executor has taken yet) is asked for alone.
sub wait_final {
    my ($app, $t, @ids) = @_;
    my %rec;
    my $deadline = time + $t;
    my %left = map { $_ => 1 } @ids;
    while (%left && time < $deadline) {
        my $seen = listed_calls($app, \%left);
        for my $id (keys %left) {
            my $c = $seen->{$id} // call_record($app, $id);
            $rec{$id} = $c;
            delete $left{$id} if $FINAL{ $c->{status} // '' };
        }
        sleep 0.5 if %left;
    }
    return \%rec;
}

# --- the load generator ---------------------------------------------------

# One exchange on a fresh connection, blocking with a deadline; returns
# (status or 0, call id or '', body).
sub exchange {
    my ($peer, $bytes, $timeout) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => $peer, Timeout => 3)
        or return (0, '', "connect: $!");
    local $SIG{PIPE} = 'IGNORE';
    syswrite($s, $bytes);
    my $sel = IO::Select->new($s);
    my ($raw, $deadline) = ('', time + $timeout);
    while (1) {
        my $left = $deadline - time;
        last if $left <= 0 || !$sel->can_read($left);
        my $n = sysread($s, my $buf, 65536);
        last if !$n;
        $raw .= $buf;
    }
    close $s;
    return (0, '', 'no answer') unless $raw =~ m{\AHTTP/1\.[01] (\d{3})};
    my $status = $1;
    my ($id) = $raw =~ /^Fn-Call-Id: *(\S+)/mi;
    my ($body) = $raw =~ /\r\n\r\n(.*)\z/s;
    return ($status, $id // '', $body // '');
}

# Starts processes calling the front in a loop, procs of each kind (2),
# or sync_procs and async_procs, each pausing pause s (0.02) between its
# calls; each line of the ledger: time, kind (sync|async), status, call
# id, a word of why.  Returns a handle for stop_load.
sub start_load {
    my (%o) = @_;
    my $ledger = $o{ledger} // FnTest::tmpdir() . "/ledger." . int(rand 1e9);
    my @pids;
    my %paths = (sync => $o{sync}, async => $o{async});
    for my $kind (grep { defined $paths{$_} } qw(sync async)) {
        for my $i (1 .. ($o{"${kind}_procs"} // $o{procs} // 2)) {
            my $pid = fork // die "fork: $!";
            if ($pid == 0) {
                # stopped by a file, not a signal: a call in flight ends
                # as it would, not interrupted
                open(my $out, '>>', $ledger) or POSIX::_exit(1);
                $out->autoflush(1);
                my $peer = front();
                my $n = 0;
                while (!-e "$ledger.stop") {
                    my $body = "$kind-$$-" . $n++;
                    my $req = "POST /r$paths{$kind} HTTP/1.1\r\n"
                            . "Host: cluster\r\nConnection: close\r\n"
                            . "Content-Length: " . length($body) . "\r\n\r\n"
                            . $body;
                    my $t0 = time;
                    my ($st, $id, $b) = exchange($peer, $req, 40);
                    my $why = $st ? '' : $b;
                    if ($st >= 500 && $b =~ /"message":"([^"]*)"/) {
                        $why = $1;
                    }
                    $why =~ s/\s+/_/g;
                    printf $out "%.3f %.3f %s %d %s %s\n", $t0, time, $kind,
                        $st, $id || '-', $why || '-';
                    sleep($o{pause} // 0.02);
                }
                POSIX::_exit(0);
            }
            push @pids, $pid;
        }
    }
    my $h = { pids => \@pids, ledger => $ledger, started => time };
    $LOADS{$ledger} = $h;
    return $h;
}

sub stop_load {
    my ($h) = @_;
    open(my $stop, '>', "$h->{ledger}.stop") or die "$h->{ledger}.stop: $!";
    close $stop;
    waitpid($_, 0) for @{ $h->{pids} };
    delete $LOADS{ $h->{ledger} };
    my @rows;
    open(my $f, '<', $h->{ledger}) or return [];
    while (<$f>) {
        my ($t0, $t1, $kind, $st, $id, $why) = split;
        push @rows, { t0 => $t0, t1 => $t1, kind => $kind, status => $st,
                      id => $id eq '-' ? '' : $id, why => $why };
    }
    return \@rows;
}

# Counts of a ledger: attempted, succeeded, failed (by why) per kind.
sub ledger_summary {
    my ($rows) = @_;
    my %s;
    for my $r (@$rows) {
        my $k = $s{ $r->{kind} } //= { attempted => 0, ok => 0, failed => {} };
        $k->{attempted}++;
        my $good = $r->{kind} eq 'sync' ? $r->{status} == 200
                                        : $r->{status} == 202;
        if ($good) { $k->{ok}++ }
        else { $k->{failed}{"$r->{status} $r->{why}"}++ }
    }
    return \%s;
}

# The cluster's images: the quickstart's demo function as oci:hello:v1
# (format default), t/fn/hot.c as oci:hot:v1 (format http).
sub hello_image {
    system("$TOP/scripts/image-build", '--busybox',
           '--file', "$TOP/examples/hello/func.sh:fn/func.sh:0755",
           '--cmd', '/fn/func.sh', cluster()->{FUNCTIONS_CLUSTER_IMAGES}
           . '/hello', 'v1') == 0 or die "cannot build the hello image\n";
}

sub hot_image {
    require FnImage;
    my $bin = FnTest::tmpdir() . '/hot-fn';
    system('cc', '-static', '-O2', '-o', $bin, "$TOP/t/fn/hot.c") == 0
        or die "cannot build t/fn/hot.c\n";
    FnImage::build(cluster()->{FUNCTIONS_CLUSTER_IMAGES} . '/hot',
                   tag => 'v1', config => { Cmd => ['/fn/hot'] },
                   layers => [ [ [ 'fn', dir => 1 ],
                                 [ 'fn/hot', file => $bin, mode => 0755 ] ] ]);
}

# The process id in a pid file under the cluster's directory, or 0.
sub pid_of {
    my ($file) = @_;
    my $p = FnTest::slurp(cluster()->{FUNCTIONS_CLUSTER_DIR} . "/$file") // '';
    return $p =~ /^(\d+)/ ? $1 : 0;
}

# What a command run in a host's namespace prints (stderr too), chomped.
sub host_output {
    my ($host, @cmd) = @_;
    open(my $out, '-|', "$TOP/scripts/cluster", 'exec', $host, @cmd)
        or die "cannot run scripts/cluster: $!";
    my $v = do { local $/; <$out> } // '';
    close $out;
    $v =~ s/\n\z//;
    return $v;
}

# One value (tab-separated columns) from a Galera node, asked as root.
sub db_value {
    my ($node, $sql) = @_;
    my $dir = cluster()->{FUNCTIONS_CLUSTER_DIR};
    return host_output($node, 'sh', '-c', 'exec "$@" 2>&1', 'sh',
                       'mariadb', '--no-defaults',
                       "--socket=$dir/$node/mysqld.sock", '--user=root',
                       '--batch', '--skip-column-names', '-e', $sql);
}

# rabbitmqctl on a broker node (mq1 .. mq3), as that node's own.
sub mqctl {
    my ($node, @args) = @_;
    my $dir = cluster()->{FUNCTIONS_CLUSTER_DIR};
    my ($n) = $node =~ /^mq(\d)$/ or die "no broker \"$node\"\n";
    return host_output($node, 'env', "HOME=$dir/$node",
                       "RABBITMQ_NODENAME=rabbit\@10.77.0.2$n",
                       'RABBITMQ_USE_LONGNAME=true',
                       '/usr/lib/rabbitmq/bin/rabbitmqctl', '-q', @args);
}

# scripts/cluster PART commands (start, stop, link ...).
sub host_part {
    my (@args) = @_;
    return system("$TOP/scripts/cluster", @args) == 0;
}

1;
