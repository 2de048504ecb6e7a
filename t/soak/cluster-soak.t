# A soak on the cluster of scripts/cluster (make soak): mixed sync and
# async, hot and cold load through the front for FUNCTIONS_SOAK_SECONDS
# (default 600).  At the end, against their level after the first minute:
# nginx workers' and executors' RSS at most 10% higher, their descriptors
# back to it; no sandbox, cgroup or mount left behind once the load is
# over and the idle instances have gone; every async call final.
use strict;
use warnings;
use lib 't/lib', 'scripts/lib';

use FnCluster qw(hello_image hot_image cluster api sync_call start_load
                 stop_load ledger_summary);
use FnTest qw(top slurp wait_until);
use JSON::PP;
use Test::More;
use Time::HiRes qw(time sleep);

my $c = cluster();
my $dir = $c->{FUNCTIONS_CLUSTER_DIR};
my $top = top();
my $seconds = $ENV{FUNCTIONS_SOAK_SECONDS} // 600;

eval { hello_image(); 1 } or BAIL_OUT($@);
eval { hot_image(); 1 } or BAIL_OUT($@);
for my $r ([ '/cold', 'sync', 'oci:hello:v1', 'default' ],
           [ '/hot', 'sync', 'oci:hot:v1', 'http' ],
           [ '/later', 'async', 'oci:hello:v1', 'default' ],
           [ '/hot-later', 'async', 'oci:hot:v1', 'http' ]) {
    my $res = api('POST', '/v1/apps/soak/routes',
                  { route => { path => $r->[0], type => $r->[1],
                               image => $r->[2], format => $r->[3],
                               max_concurrency => 4, idle_timeout => 5 } });
    $res->{status} == 200 || $res->{status} == 409
        or BAIL_OUT("route $r->[0]: $res->{status} $res->{body}");
}

# pid => [ what, pid ] of every nginx worker and executor
sub processes {
    my @p;
    for my $h (qw(api1 api2 front)) {
        my $master = (slurp("$dir/$h/nginx.pid") // '') =~ /(\d+)/ ? $1 : next;
        push @p, map { [ "$h worker", $_ ] } split ' ', `pgrep -P $master`;
    }
    for my $h (qw(ex1 ex2 ex3)) {
        my $pid = (slurp("$dir/$h/executor.pid") // '') =~ /(\d+)/ ? $1 : next;
        push @p, [ "$h executor", $pid ];
    }
    return @p;
}

sub rss_kb {
    my ($pid) = @_;
    return ((slurp("/proc/$pid/status") // '') =~ /^VmRSS:\s+(\d+)/m) ? $1 : 0;
}

# "RSS (anonymous + file-backed)", for the notes
sub rss_split {
    my ($pid) = @_;
    my $st = slurp("/proc/$pid/status") // '';
    my ($a) = $st =~ /^RssAnon:\s+(\d+)/m;
    my ($f) = $st =~ /^RssFile:\s+(\d+)/m;
    return sprintf('%d (%d + %d)', rss_kb($pid), $a // 0, $f // 0);
}

sub fds {
    my ($pid) = @_;
    opendir(my $d, "/proc/$pid/fd") or return 0;
    return scalar grep { /^\d+$/ } readdir $d;
}

# sandboxes: the executors' cgroups and the sandboxes' mounts
sub leftovers {
    my @groups = map { glob("/sys/fs/cgroup/$_/functions/cluster-ex*/*") }
                 qw(memory pids cpu unified);
    my @dirs = grep { -d $_ } @groups;
    my $state = quotemeta($dir) . '/ex\d/state/';
    my $mounts = () = (slurp('/proc/self/mountinfo') // '') =~ m{$state}g;
    my $bwrap = () = `pgrep -x bwrap` =~ /\d+/g;
    return (scalar(@dirs), $mounts, $bwrap);
}

my @loads = (
    start_load(sync => '/soak/cold', async => '/soak/later', procs => 2,
               pause => 0.05),
    start_load(sync => '/soak/hot', async => '/soak/hot-later', procs => 2,
               pause => 0.02),
);
sleep 60;
my %base = map { $_->[1] => { what => $_->[0], rss => rss_kb($_->[1]),
                              fds => fds($_->[1]) } } processes();
note(sprintf('after a minute: %s', join(', ', map { "$base{$_}{what} "
     . "$base{$_}{rss} kB $base{$_}{fds} fds" } sort keys %base)));
# the RSS of each, every minute
for (my $t = 60; $t < $seconds; $t += 60) {
    sleep(($seconds - $t) < 60 ? $seconds - $t : 60);
    note(sprintf('RSS at %d s, kB (anonymous + file): %s', $t + 60,
                 join(', ', map { "$base{$_}{what} " . rss_split($_) }
                            sort keys %base)));
}
my %end = map { $_->[1] => { rss => rss_kb($_->[1]), fds => fds($_->[1]) } }
          processes();
my @rows = map { @{ stop_load($_) } } @loads;
my $s = ledger_summary(\@rows);
note(sprintf('%s: %d attempted, %d ok, failed %s', $_,
             $s->{$_}{attempted}, $s->{$_}{ok},
             encode_json($s->{$_}{failed})))
    for sort keys %$s;

for my $pid (sort keys %base) {
    my $b = $base{$pid};
    ok(exists $end{$pid}, "$b->{what} $pid still runs") or next;
    cmp_ok($end{$pid}{rss}, '<=', $b->{rss} * 1.10 + 64,
           "$b->{what} $pid: RSS $b->{rss} kB after a minute, "
           . "$end{$pid}{rss} kB at the end");
}

# the descriptors once the load is over and the kept-alive connections
# have timed out (30 s to the executors, 60 s from the front)
sleep 65;
for my $pid (sort keys %base) {
    my $b = $base{$pid};
    my $n = fds($pid);
    cmp_ok($n, '<=', $b->{fds}, "$b->{what} $pid: $b->{fds} descriptors "
                                . "after a minute, $n after the load");
}

# every async call final: tens of thousands, read from the database
# rather than one API request each
my @acc = map { $_->{id} } grep { $_->{kind} eq 'async'
                                  && $_->{status} == 202 } @rows;
my %status;
ok(wait_until(300, sub {
    %status = map { split /\t/ } split /\n/,
        `$top/scripts/cluster exec db1 mariadb --no-defaults --socket=$dir/db1/mysqld.sock --user=root --batch --skip-column-names -e "SELECT id, status FROM functions.calls WHERE app_name = 'soak'"`;
    !grep { ($status{$_} // '') !~ /^(success|error|timeout)$/ } @acc;
}), scalar(@acc) . ' async calls accepted, all final')
    or diag(scalar(grep { !defined $status{$_} } @acc) . ' unknown, '
            . scalar(grep { ($status{$_} // '') =~ /^(queued|running)$/ } @acc)
            . ' not final');
my @sync_bad = grep { $_->{kind} eq 'sync' && $_->{status} != 200 } @rows;
is(scalar(@sync_bad), 0, 'every sync call answered 200');

# idle instances go after their idle_timeout (5 s), idle sandboxes after
# the executors' sandbox_idle_timeout (30 s)
ok(wait_until(90, sub { my ($g, $m, $b) = leftovers(); $g + $m + $b == 0 }),
   'no sandbox, cgroup or mount left') or diag(join(' ', 'groups, mounts, bwrap:', leftovers()));

done_testing;
