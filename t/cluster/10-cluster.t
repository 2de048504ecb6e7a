# The cluster of scripts/cluster as a user meets it: two API hosts behind
# a front nginx, three executors, Galera and RabbitMQ clusters.  Calls and
# API writes through either API host, a change through one served by the
# other, concurrent writes through both, a route kept on one executor.
use strict;
use warnings;
use lib 't/lib', 'scripts/lib';

use FnCluster qw(hello_image hot_image cluster api sync_call async_call
                 call_record wait_final db_value mqctl);
use FnTest qw(top slurp wait_until);
use JSON::PP;
use POSIX ();
use Test::More;
use Time::HiRes qw(time sleep);

my $c = cluster();
my $dir = $c->{FUNCTIONS_CLUSTER_DIR};
my $top = top();

sub cl { my @a = @_; my $out = `$top/scripts/cluster @a 2>&1`; return $out }

subtest 'every part runs; Galera has three nodes, RabbitMQ three' => sub {
    like(cl('status'), qr/\A(?:\S+\s+\S+\s+running[^\n]*\n){12}\z/,
         'twelve parts running') or diag(cl('status'));
    for my $n (qw(db1 db2 db3)) {
        is(db_value($n, "SHOW STATUS LIKE 'wsrep_cluster_size'"),
           "wsrep_cluster_size\t3", "$n sees three nodes");
    }
    my $mq = mqctl('mq1', qw(list_queues -p functions name type));
    like($mq, qr/^functions\.calls\s+quorum$/m, 'the calls queue is a quorum queue')
        or diag($mq);
};

# the demo image, as the quickstart builds it
eval { hello_image(); 1 } or BAIL_OUT($@);

subtest 'routes made through the front; sync and async calls' => sub {
    my $r = api('POST', '/v1/apps/demo/routes',
                { route => { path => '/hello', image => 'oci:hello:v1',
                             config => { GREETING => 'Hi' } } });
    is($r->{status}, 200, 'sync route created') or diag($r->{body});
    $r = api('POST', '/v1/apps/demo/routes',
             { route => { path => '/later', image => 'oci:hello:v1',
                          type => 'async' } });
    is($r->{status}, 200, 'async route created') or diag($r->{body});

    $r = sync_call('/demo/hello', 'Ada');
    is($r->{status}, 200, 'a sync call answers');
    like($r->{body}, qr/^Hi, Ada! /, '  with the function\'s answer');

    my @ids;
    for my $i (1 .. 6) {
        my $a = async_call('/demo/later', "n$i");
        is($a->{status}, 202, "async call $i accepted") or diag($a->{body});
        push @ids, $a->{json}{call_id} // '';
        # at once, through either API host (another database node)
        for my $h (qw(api1 api2)) {
            my $rec = call_record('demo', $ids[-1], host => $h);
            ok(($rec->{id} // '') eq $ids[-1], "  known to $h at once");
        }
    }
    my $recs = wait_final('demo', 60, @ids);
    is(scalar(grep { ($recs->{$_}{status} // '') eq 'success' } @ids), 6,
       'every async call ran') or diag(explain($recs));
};

subtest 'a change through one API host is served by the other within a second or so' => sub {
    # api2 has the route cached: its calls answer "Hi"
    my $via2 = sub {
        return FnCluster::request('POST', '/r/demo/hello', host => 'api2',
                                  body => 'Bo');
    };
    like($via2->()->{body}, qr/^Hi, Bo/, 'api2 serves the route');
    my $t0 = time;
    my $r = api('PATCH', '/v1/apps/demo/routes/hello',
                { route => { config => { GREETING => 'Hello' } } },
                host => 'api1');
    is($r->{status}, 200, 'changed through api1') or diag($r->{body});
    ok(wait_until(5, sub { $via2->()->{body} =~ /^Hello, Bo/ }),
       'api2 serves the new config');
    my $took = time - $t0;
    cmp_ok($took, '<', 2.5, sprintf('  after %.2f s', $took));
};

subtest 'concurrent writes through both API hosts (two database nodes)' => sub {
    my $before = db_value('db1', 'SELECT value FROM functions.generation WHERE id = 1');
    my $n = 12;
    my @kids;
    for my $h (qw(api1 api2)) {
        my $pid = fork // die;
        if ($pid == 0) {
            my $bad = 0;
            for my $i (1 .. $n) {
                my $r = api('POST', '/v1/apps/burst/routes',
                            { route => { path => "/$h-$i",
                                         image => 'oci:hello:v1' } },
                            host => $h);
                $bad++ if $r->{status} != 200;
            }
            POSIX::_exit($bad);
        }
        push @kids, $pid;
    }
    my $bad = 0;
    for (@kids) { waitpid($_, 0); $bad += $? >> 8 }
    is($bad, 0, "all of 2 x $n route creations answered 200");
    my $after = db_value('db2', 'SELECT value FROM functions.generation WHERE id = 1');
    # the app's creation counts once: it is made by the first route
    cmp_ok($after - $before, '>=', 2 * $n, "the generation counter moved by every change ($before to $after)");
    my $rows = db_value('db3', "SELECT COUNT(*), COUNT(DISTINCT generation) FROM functions.route_changes WHERE generation > $before");
    my ($count, $distinct) = split /\t/, $rows;
    is($count, $after - $before, 'one route change per generation');
    is($distinct, $count, '  each its own');
    my $routes = api('GET', '/v1/apps/burst/routes');
    is(scalar @{ $routes->{json}{routes} // [] }, 2 * $n, 'every route is there');
    my $retried = 0;
    for my $h (qw(api1 api2)) {
        my $log = slurp("$dir/$h/functions.log") // '';
        $retried += () = $log =~ /statement tried again|change tried again/g;
    }
    note("writes tried again after a certification conflict: $retried");
};

subtest 'a route stays on one executor while it is healthy' => sub {
    my %before = map { $_ => calls_on($_) } qw(ex1 ex2 ex3);
    for (1 .. 12) {
        is(sync_call('/demo/hello', 'x')->{status}, 200, "call $_") or last;
    }
    my %delta = map { $_ => calls_on($_) - $before{$_} } qw(ex1 ex2 ex3);
    is(scalar(grep { $delta{$_} > 0 } keys %delta), 1,
       'all twelve ran on one executor') or diag(explain(\%delta));
};

subtest 'a busy executor hands the call to the next one' => sub {
    # t/fn/hot.c, one instance at most: a second call finds none free
    eval { hot_image(); 1 } or BAIL_OUT($@);
    my $r = api('POST', '/v1/apps/demo/routes',
                { route => { path => '/one', image => 'oci:hot:v1',
                             format => 'http', max_concurrency => 1 } });
    is($r->{status}, 200, 'a hot route with one instance at most')
        or diag($r->{body});
    my $first = sync_call('/demo/one', 'a');
    is($first->{status}, 200, 'its instance started');
    my $pid = fork // die;
    if ($pid == 0) {
        sync_call('/demo/one', 'slow', headers => { 'X-Mode' => 'sleep',
                                                    'X-Sleep' => 5000 });
        POSIX::_exit(0);
    }
    sleep 0.5;
    my $t0 = time;
    my $second = sync_call('/demo/one', 'b');
    my $took = time - $t0;
    waitpid($pid, 0);
    is($second->{status}, 200, 'a call while the instance is busy answers');
    cmp_ok($took, '>=', 1.9, sprintf('  after the queue_timeout of its executor (%.1f s)', $took));
    cmp_ok($took, '<', 4.5, '  before the first call ended');
    isnt($second->{headers}{'x-instance'}, $first->{headers}{'x-instance'},
         '  from another instance: on the next executor');
};

# Calls an executor counted for demo /hello (its /metrics).
sub calls_on {
    my ($ex) = @_;
    my $addr = { ex1 => '10.77.0.31', ex2 => '10.77.0.32',
                 ex3 => '10.77.0.33' }->{$ex};
    my $r = FnTest::http_request("$addr:9091", 'GET', '/metrics');
    my $n = 0;
    for (split /\n/, $r->{body} // '') {
        $n += $1 if /^functions_calls_total\{[^}]*app="demo"[^}]*path="\/hello"[^}]*\} (\d+)/;
    }
    return $n;
}

done_testing;
