# Failure drills on the cluster of scripts/cluster, each under steady sync
# and async load through the front, with a ledger of every call:
#   - sync: a call may fail only while a part is broken (and a little
#     after), and then with a clear 5xx; once mended, calls succeed;
#   - async: every call answered 202 ends final in the calls API (none
#     lost), and none runs after its record was final.
# Each drill breaks one part, waits, mends it the way an operator's
# supervisor would (a process restarted, a cable plugged back), and waits
# for the cluster to be whole again.  Results go to the cluster's
# drills.txt as well.
use strict;
use warnings;
use lib 't/lib', 'scripts/lib';

use FnCluster qw(hello_image cluster api sync_call start_load stop_load
                 ledger_summary wait_final pid_of db_value mqctl);
use FnTest qw(top slurp spew wait_until);
use JSON::PP;
use POSIX ();
use Test::More;
use Time::HiRes qw(time sleep);

my $c = cluster();
my $dir = $c->{FUNCTIONS_CLUSTER_DIR};
my $top = top();
my $report = "$dir/drills.txt";
spew($report, '');

sub cl { my @a = @_; return system("$top/scripts/cluster", @a) == 0 }

# Every part running, Galera whole and synced, RabbitMQ whole.
sub whole {
    `$top/scripts/cluster status 2>&1` =~ /stopped/ and return 0;
    for my $n (qw(db1 db2 db3)) {
        return 0 unless db_value($n, "SHOW STATUS LIKE 'wsrep_cluster_size'") eq "wsrep_cluster_size\t3";
        return 0 unless db_value($n, "SHOW STATUS LIKE 'wsrep_local_state_comment'") eq "wsrep_local_state_comment\tSynced";
    }
    my $running = () = mqctl('mq1', 'eval', 'rabbit_nodes:all_running().') =~ /rabbit@/g;
    return $running == 3;
}

# the routes under load
eval { hello_image(); 1 } or BAIL_OUT($@);
for my $r ([ '/drill', 'sync' ], [ '/drill-later', 'async' ]) {
    my $res = api('POST', '/v1/apps/drills/routes',
                  { route => { path => $r->[0], image => 'oci:hello:v1',
                               type => $r->[1], max_concurrency => 8 } });
    $res->{status} == 200 || $res->{status} == 409
        or BAIL_OUT("route $r->[0]: $res->{status} $res->{body}");
}
ok(wait_until(120, \&whole), 'the cluster is whole before the drills');
is(sync_call('/drills/drill', 'warm')->{status}, 200, 'the sync route answers');

# The executor /drills/drill runs on (its /metrics).
sub executor_of_route {
    for my $n (1 .. 3) {
        my $r = FnTest::http_request("10.77.0.3$n:9091", 'GET', '/metrics');
        return "ex$n" if ($r->{body} // '') =~
            /^functions_calls_total\{app="drills",path="\/drill",kind="sync",outcome="success"\} [1-9]/m;
    }
    return 'ex1';
}

# Runs of each async call (the function logs one stderr line a run), with
# the time of each, from every executor's log.
sub runs {
    my %runs;
    for my $n (1 .. 3) {
        for (split /\n/, slurp("$dir/ex$n/executor.log") // '') {
            next unless /msg="function stderr"/ && /path=\/drill-later/;
            my ($t) = /^time=(\S+)Z/;
            my ($id) = /call_id=(\S+)/;
            push @{ $runs{$id} }, $t;
        }
    }
    return \%runs;
}

sub drill {
    my ($name, $break, $mend, %o) = @_;
    subtest $name => sub {
        my $load = start_load(sync => '/drills/drill',
                              async => '/drills/drill-later',
                              procs => 2, pause => 0.05);
        sleep 3;
        my $t_break = time;
        $break->();
        my $hold = $o{hold} // 6;
        if ($o{during}) {
            sleep 2;
            $o{during}->();
            $hold -= time - $t_break;
        }
        sleep($hold) if $hold > 0;
        $mend->() if $mend;
        my $t_mend = time;
        ok(wait_until(120, \&whole), 'the cluster is whole again');
        my $t_whole = time;
        sleep 5;                    # calls after the cluster is whole
        my $rows = stop_load($load);
        my $s = ledger_summary($rows);

        # sync
        my @sync = grep { $_->{kind} eq 'sync' } @$rows;
        my @bad = grep { $_->{status} != 200 } @sync;
        ok(@sync > 20, scalar(@sync) . ' sync calls made');
        is(scalar(grep { $_->{status} < 500 } @bad), 0,
           'every failed sync call got a 5xx answer')
            or diag(explain([ grep { $_->{status} < 500 } @bad ]));
        my @late = grep { $_->{t0} > $t_whole + 1 } @bad;
        is(scalar(@late), 0, 'none failed once the cluster was whole')
            or diag(explain(\@late));
        my @early = grep { $_->{t1} < $t_break } @bad;
        is(scalar(@early), 0, 'none failed before the drill')
            or diag(explain(\@early));

        # async
        my @acc = map { $_->{id} } grep { $_->{kind} eq 'async'
                                          && $_->{status} == 202 } @$rows;
        ok(@acc > 20, scalar(@acc) . ' async calls accepted');
        my $recs = wait_final('drills', 180, @acc);
        my @lost = grep { ($recs->{$_}{status} // '') !~ /^(success|error|timeout)$/ } @acc;
        is(scalar(@lost), 0, 'every accepted async call is final (none lost)')
            or diag(explain({ map { $_ => $recs->{$_} } @lost[0 .. ($#lost > 9 ? 9 : $#lost)] }));
        my $runs = runs();
        my @twice;
        for my $id (@acc) {
            my $done = $recs->{$id}{completed_at} // next;
            $done =~ s/Z$//;
            push @twice, $id if grep { $_ gt $done } @{ $runs->{$id} // [] };
        }
        is(scalar(@twice), 0, 'none ran after its record was final')
            or diag(explain({ map { $_ => [ $recs->{$_}{completed_at}, $runs->{$_} ] } @twice }));
        my $rerun = grep { @{ $runs->{$_} // [] } > 1 } @acc;

        my $line = sprintf("%-34s sync: %d attempted, %d ok, failed %s; "
                           . "async: %d attempted, %d accepted, refused %s, "
                           . "%d lost, %d ran twice (before final); "
                           . "whole again %.1f s after the mend\n",
            $name, $s->{sync}{attempted} // 0, $s->{sync}{ok} // 0,
            encode_json($s->{sync}{failed} // {}),
            $s->{async}{attempted} // 0, scalar(@acc),
            encode_json($s->{async}{failed} // {}), scalar(@lost), $rerun,
            $t_whole - $t_mend);
        note($line);
        open(my $f, '>>', $report) or die;
        print $f $line;
        close $f;
    };
}

my $ex = executor_of_route();
drill("kill -9 the executor of the route ($ex)",
      sub { kill 'KILL', pid_of("$ex/executor.pid") },
      sub { cl('start', $ex) });

drill('kill -9 an nginx worker of api1',
      sub {
          my $master = pid_of('api1/nginx.pid');
          my ($w) = `pgrep -P $master` =~ /(\d+)/;
          kill 'KILL', $w;
      },
      undef, hold => 3);

drill('cut the link of api1 for 6 s',
      sub { cl('link', 'api1', 'down') },
      sub { cl('link', 'api1', 'up') });

# API writes through both API hosts while a database node is away.  A
# write already sent to the node that failed (a frozen one: it never
# answers) may get a 503 that says to try again; each nginx worker of the
# host learns that once, then writes go to another node.
my $writes = sub {
    for my $h (qw(api1 api2)) {
        my ($r, @tries);
        for my $try (1 .. 3) {
            my $t0 = time;
            $r = api('PATCH', '/v1/apps/drills/routes/drill',
                     { route => { config => { WRITTEN => "$h-$t0" } } },
                     host => $h);
            push @tries, sprintf('%d in %.1f s', $r->{status}, time - $t0);
            last if $r->{status} != 503;
            like($r->{body}, qr/"the database is unavailable, try again"/,
                 "  a write through $h that met the failed node: 503, try again");
        }
        is($r->{status}, 200, "an API write through $h meanwhile ("
                              . join(', then ', @tries) . ')')
            or diag($r->{body});
    }
};

drill('kill -9 the Galera node in use (db1)',
      sub { kill 'KILL', pid_of('db1/mysqld.pid') },
      sub { cl('start', 'db1') }, during => $writes);

drill('partition one Galera node (db3) for 8 s',
      sub { cl('link', 'db3', 'down') },
      sub { cl('link', 'db3', 'up') }, hold => 8, during => $writes);

drill('freeze a database node (SIGSTOP db2) for 8 s',
      sub { kill 'STOP', pid_of('db2/mysqld.pid') },
      sub { kill 'CONT', pid_of('db2/mysqld.pid') }, hold => 8,
      during => $writes);

my ($leader) = mqctl('mq1', 'list_queues', '-p', 'functions', 'name', 'leader')
    =~ /^functions\.calls\s+rabbit\@10\.77\.0\.2(\d)$/m;
$leader //= 1;
drill("kill -9 the quorum queue's leader (mq$leader)",
      sub { kill 'KILL', pid_of("mq$leader/rabbitmq.pid") },
      sub { cl('start', "mq$leader") });

diag("drills:\n" . (slurp($report) // ''));

done_testing;
