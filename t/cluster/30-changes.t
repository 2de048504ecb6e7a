# Changes an operator makes to a running cluster, under steady sync and
# async load through the front, none of which may cost a call:
#   - nginx -s reload of an API host with a changed upstream (an executor
#     taken out, then back), and twelve reloads in a row;
#   - an executor's SIGTERM drain and restart;
#   - nginx's binary upgrade (USR2, WINCH, QUIT) onto a module file
#     replaced as a package upgrade replaces it.
use strict;
use warnings;
use lib 't/lib', 'scripts/lib';

use FnCluster qw(hello_image cluster api sync_call start_load stop_load
                 ledger_summary wait_final pid_of);
use FnTest qw(top slurp spew wait_until);
use File::Copy qw(copy);
use JSON::PP;
use Test::More;
use Time::HiRes qw(time sleep);

my $c = cluster();
my $dir = $c->{FUNCTIONS_CLUSTER_DIR};
my $top = top();
my $report = "$dir/changes.txt";
spew($report, '');

eval { hello_image(); 1 } or BAIL_OUT($@);
for my $r ([ '/change', 'sync' ], [ '/change-later', 'async' ]) {
    my $res = api('POST', '/v1/apps/changes/routes',
                  { route => { path => $r->[0], image => 'oci:hello:v1',
                               type => $r->[1], max_concurrency => 8 } });
    $res->{status} == 200 || $res->{status} == 409
        or BAIL_OUT("route $r->[0]: $res->{status} $res->{body}");
}
is(sync_call('/changes/change', 'warm')->{status}, 200, 'the route answers');

sub change {
    my ($name, $do, %load) = @_;
    subtest $name => sub {
        my $load = start_load(sync => '/changes/change',
                              async => '/changes/change-later',
                              procs => 2, pause => 0.05, %load);
        sleep 2;
        $do->();
        sleep 3;
        my $rows = stop_load($load);
        my $s = ledger_summary($rows);
        my @sync = grep { $_->{kind} eq 'sync' } @$rows;
        ok(@sync > 20, scalar(@sync) . ' sync calls made');
        my @bad = grep { $_->{status} != 200 } @sync;
        is(scalar(@bad), 0, 'every sync call answered 200')
            or diag(explain(\@bad));
        my @async = grep { $_->{kind} eq 'async' } @$rows;
        my @refused = grep { $_->{status} != 202 } @async;
        is(scalar(@refused), 0, 'every async call accepted')
            or diag(explain(\@refused));
        my @ids = map { $_->{id} } grep { $_->{status} == 202 } @async;
        my $recs = wait_final('changes', 120, @ids);
        my @lost = grep { ($recs->{$_}{status} // '') !~ /^(success|error|timeout)$/ } @ids;
        is(scalar(@lost), 0, scalar(@ids) . ' accepted async calls, all final');
        my $line = sprintf("%-44s sync: %d attempted, %d ok, failed %s; "
                           . "async: %d attempted, %d accepted, %d lost\n",
            $name, $s->{sync}{attempted} // 0, $s->{sync}{ok} // 0,
            encode_json($s->{sync}{failed} // {}),
            $s->{async}{attempted} // 0, scalar(@ids), scalar(@lost));
        note($line);
        open(my $f, '>>', $report) or die;
        print $f $line;
        close $f;
    };
}

# Reloads api1 with its configuration as edit leaves it.
sub reload_api1 {
    my ($edit) = @_;
    my $conf = slurp("$dir/api1/nginx.conf");
    spew("$dir/api1/nginx.conf", $edit->($conf));
    system("$top/scripts/cluster", 'exec', 'api1', 'nginx', '-q', '-t',
           '-p', "$dir/api1", '-c', "$dir/api1/nginx.conf") == 0
        or die 'nginx -t refused it';
    kill 'HUP', pid_of('api1/nginx.pid');
}

# The executor the sync route runs on (its /metrics), as 1, 2 or 3.
sub route_executor {
    for my $n (1 .. 3) {
        my $r = FnTest::http_request("10.77.0.3$n:9091", 'GET', '/metrics');
        return $n if ($r->{body} // '') =~
            /app="changes",path="\/change",kind="sync",outcome="success"\} [1-9]/;
    }
    return 0;
}

change('nginx -s reload of api1: the route\'s executor out, then back', sub {
    my $n = route_executor();
    ok($n, "the route runs on ex$n");
    my $saved = slurp("$dir/api1/nginx.conf");
    reload_api1(sub { my ($t) = @_; $t =~ s/^\s*server 10\.77\.0\.3$n:9090[^\n]*\n//m; $t });
    sleep 3;
    reload_api1(sub { $saved });
});

# Each reload closes the old workers' idle connections: a front that kept
# connections to api1 alive would have a call written onto one of them
# reset now and then (conf/cluster/front.conf).
change('nginx -s reload of api1, twelve times in a row', sub {
    for (1 .. 12) {
        kill 'HUP', pid_of('api1/nginx.pid');
        sleep 0.5;
    }
}, sync_procs => 6, pause => 0.01);

change('SIGTERM drain of the route\'s executor, then its restart', sub {
    my $n = route_executor();
    ok($n, "the route runs on ex$n");
    ok(system("$top/scripts/cluster", 'stop', "ex$n") == 0, '  drained');
    ok(system("$top/scripts/cluster", 'start', "ex$n") == 0, '  started again');
});

change("nginx's binary upgrade on api1, onto a replaced module file", sub {
    my ($so) = slurp("$dir/api1/nginx.conf") =~ /^load_module (\S+);/m;
    # a package upgrade puts a new file in place: a new inode, the old one
    # still mapped by the running processes
    copy($so, "$so.new") or die "copy: $!";
    chmod 0644, "$so.new";
    rename("$so.new", $so) or die "rename: $!";
    my $old = pid_of('api1/nginx.pid');
    kill 'USR2', $old;
    ok(wait_until(10, sub { -e "$dir/api1/nginx.pid.oldbin"
                            && pid_of('api1/nginx.pid') != $old }),
       'a new master started') or return;
    sleep 1;
    kill 'WINCH', $old;         # the old workers finish and go
    sleep 2;
    kill 'QUIT', $old;          # then the old master
    ok(wait_until(10, sub { !kill 0, $old }), 'the old master is gone');
});

diag("changes:\n" . (slurp($report) // ''));

done_testing;
