# The executor's life around calls: per-call logs, SIGTERM with calls in
# flight, and what a restart finds of an earlier run.
use strict;
use warnings;
use lib 't/lib', 'scripts/lib';

use File::Path qw(make_path);
use FnImage;
use FnTest qw(executor_start unix_request wait_until);
use JSON::PP;
use POSIX ();
use Test::More;
use Time::HiRes qw(time);

my $json = JSON::PP->new->canonical;

sub image {
    my ($ex, $name, $script) = @_;
    FnImage::build($ex->dir . "/images/$name", tag => 'v1',
        config => { Cmd => ['/bin/sh', '/fn/handler'] },
        layers => [ FnImage::busybox_layer(),
                    [ [ 'fn', dir => 1 ],
                      [ 'fn/handler', data => $script, mode => 0755 ] ] ]);
    return "oci:$name:v1";
}

sub call {
    my ($ex, $id, $image, %o) = @_;
    return unix_request($ex->socket, 'POST', '/call',
        headers => { 'Fn-Call-Id' => $id, 'Fn-Method' => 'GET',
                     'Fn-Request-Url' => 'http://localhost/r/demo/x',
                     'Fn-Route' => $json->encode({ app => 'demo',
                                                   path => '/x',
                                                   image => $image,
                                                   %{ $o{route} // {} } }) },
        timeout => 30);
}

# Runs a call in a child; returns a sub that waits and gives the response.
sub call_in_background {
    my ($ex, $id, $image, %o) = @_;
    my $file = $ex->dir . "/bg-$id";
    my $pid = fork // die;
    if ($pid == 0) {
        my $r = call($ex, $id, $image, %o);
        FnTest::spew($file, $json->encode({ status => $r->{status},
                                            body => $r->{body} }));
        POSIX::_exit(0);
    }
    return sub {
        waitpid($pid, 0);
        return decode_json(FnTest::slurp($file) // '{}');
    };
}

# The sleeper's processes: its command, as the sandbox user (65534 on
# the host), so that no other process of the machine is mistaken for it.
sub sleepers {
    return grep {
        my $c = FnTest::slurp("$_/cmdline") // '';
        my ($uid) = (FnTest::slurp("$_/status") // '') =~ /^Uid:\s+(\d+)/m;
        $c eq "sleep\x003733\x00" && defined $uid && $uid == 65534;
    } glob('/proc/[0-9]*');
}

# What is known of processes that should be gone, for the failure report.
sub describe {
    return join("\n", map {
        my $p = $_;
        "$p: " . join(' | ', map { (FnTest::slurp("$p/$_") // '') =~ s/\n/ /gr }
                                 qw(status cgroup))
    } @_);
}

sub groups_of {
    my ($ex) = @_;
    my ($name) = $ex->conf && FnTest::slurp($ex->conf) =~ /^cgroup_name = (.*)$/m;
    return grep { -d && m{/[0-9A-Z]{26}/$} }
           glob("/sys/fs/cgroup/memory/$name/*/"),
           glob("/sys/fs/cgroup/$name/*/");
}

subtest 'per-call logs are kept and served' => sub {
    my $ex = executor_start(log_max_per_call => '100');
    my $img = image($ex, 'talk', "echo one >&2; echo two >&2; echo out\n");
    my $id = '01BX5ZZKBKACTAV9WEVGEMMVRY';
    is(call($ex, $id, $img)->{status}, 200, 'the call runs');
    my $r;
    ok(wait_until(5, sub {
        $r = unix_request($ex->socket, 'GET', "/calls/$id/log");
        $r->{status} == 200 }), 'its log is there');
    is($r->{body}, "one\ntwo\n", 'with what it wrote on stderr');
    like($r->{headers}{'content-type'}, qr{^text/plain}, 'as text');

    my $big = image($ex, 'big', "seq 1 1000 >&2\n");
    $id = '01BX5ZZKBKACTAV9WEVGEMMVRZ';
    call($ex, $id, $big);
    ok(wait_until(5, sub {
        $r = unix_request($ex->socket, 'GET', "/calls/$id/log");
        $r->{status} == 200 }), 'a long log is there');
    is(length($r->{body}), 100, 'capped at log_max_per_call');

    $r = unix_request($ex->socket, 'GET', '/calls/01BX5ZZKBKACTAV9WEVGEMMVS0/log');
    is($r->{status}, 404, 'an unknown call: 404');
    for my $bad ('..%2F..%2Fexecutor.conf', '../../executor.conf', 'x' x 40,
                 'lowercase0123456789abcdef') {
        $r = unix_request($ex->socket, 'GET', "/calls/$bad/log");
        ok($r->{status} == 400 || $r->{status} == 404,
           "a hostile id is refused ($r->{status})");
        unlike($r->{body}, qr/cgroup_name|listen/, '  and reads nothing');
    }
    $r = unix_request($ex->socket, 'DELETE', "/calls/$id/log");
    is($r->{status}, 405, 'DELETE: 405');
};

subtest 'SIGTERM lets calls finish, then exits' => sub {
    my $ex = executor_start(drain_timeout => '10s');
    my $img = image($ex, 'slow', "sleep 1; echo finished\n");
    my $wait = call_in_background($ex, '01BX5ZZKBKACTAV9WEVGEMMVS1', $img);
    ok(wait_until(5, sub { groups_of($ex) > 0 }), 'the call is running');
    my $status = $ex->stop('TERM', 15);
    is($status, 0, 'the executor exits with 0');
    my $r = $wait->();
    is($r->{status}, 200, 'the running call finished');
    is($r->{body}, "finished\n", 'with its output');
    ok(!-e $ex->socket, 'the socket is removed');
    is(scalar(groups_of($ex)), 0, 'no cgroup is left');
};

subtest 'SIGTERM kills calls that outlive drain_timeout' => sub {
    my $ex = executor_start(drain_timeout => '1s');
    my $img = image($ex, 'sleeper', "sleep 3733\n");
    my $wait = call_in_background($ex, '01BX5ZZKBKACTAV9WEVGEMMVS2', $img,
                                  route => { timeout => 120 });
    ok(wait_until(5, sub { groups_of($ex) > 0 }), 'the call is running');
    my $t0 = time;
    my $status = $ex->stop('TERM', 15);
    is($status, 0, 'the executor exits with 0');
    ok(time - $t0 < 8, 'soon after drain_timeout');
    my $r = $wait->();
    is($r->{status}, 503, 'the call is answered 503');
    like($r->{body}, qr/shutting down/, 'saying why');
    is(scalar(groups_of($ex)), 0, 'no cgroup is left');
    ok(wait_until(5, sub { !sleepers() }), 'no process is left')
        or diag(describe(sleepers()));
};

subtest 'a restart removes what a killed run left, and only that' => sub {
    my $ex = executor_start();
    my $img = image($ex, 'sleeper', "sleep 3733\n");
    my $wait = call_in_background($ex, '01BX5ZZKBKACTAV9WEVGEMMVS3', $img,
                                  route => { timeout => 120 });
    ok(wait_until(5, sub { groups_of($ex) > 0 }), 'a call is running');
    my $state = $ex->dir . '/state';
    make_path("$state/rootfs/.tmp-deadbeef-1/usr");
    FnTest::spew("$state/keep-me", 'not ours to remove');
    my ($name) = FnTest::slurp($ex->conf) =~ /^cgroup_name = (.*)$/m;
    my ($own) = grep { -d } "/sys/fs/cgroup/memory/$name", "/sys/fs/cgroup/$name";
    mkdir("$own/not-a-call");
    my $out = `printf 'listen = %s\\nimage_dir = %s\\nstate_dir = %s\\n' \\
                   @{[ $ex->dir ]}/other.sock @{[ $ex->dir ]}/images $state \\
                   > @{[ $ex->dir ]}/other.conf; \\
               @{[ FnTest::build_dir() ]}/functions-executor \\
                   -c @{[ $ex->dir ]}/other.conf 2>&1`;
    like($out, qr/state_dir \S+ is in use by another executor/,
         'a second executor on the same state_dir is refused');
    my $status = $ex->stop('KILL', 15);
    ok(defined $status, 'the executor is killed');
    my $r = $wait->();
    isnt($r->{status}, 200, 'the caller sees the connection end');
    ok(wait_until(5, sub { !sleepers() }),
       'the sandbox died with its executor') or diag(describe(sleepers()));
    my $again = executor_start(state_dir => $state, cgroup_name => $name,
                               image_dir => $ex->dir . '/images');
    is(scalar(groups_of($again)), 0, "the dead run's cgroups are removed");
    ok(!-e "$state/rootfs/.tmp-deadbeef-1", 'its half-unpacked tree too');
    ok(-e "$state/keep-me", 'what it did not create stays');
    ok(-d "$own/not-a-call", 'a cgroup not named by a call id stays');
    rmdir("$own/not-a-call");
    like($again->log, qr/msg="removed leftovers" unpacks=1 pulled_files=0/,
         'and says so');
    my $echo = image($ex, 'echo', "echo ok\n");
    $r = call($again, '01BX5ZZKBKACTAV9WEVGEMMVS4', $echo);
    is($r->{status}, 200, 'and calls run') or diag($r->{body});
};

subtest 'the sandbox helper refuses what it must not do' => sub {
    my $helper = FnTest::build_dir() . '/functions-sandbox-helper';
    my $out = `$helper 0 0 /dev/null -- /bin/true 3</dev/null 2>&1`;
    is($? >> 8, 125, 'uid 0: refused') or diag($out);
    $out = `$helper 65534 65534 /dev/null -- /bin/true 3<&- 2>&1`;
    is($? >> 8, 125, 'no seccomp filter on fd 3: refused');
    like($out, qr/seccomp/, '  saying so');
    $out = `$helper 65534 x /dev/null -- /bin/true 3</dev/null 2>&1`;
    is($? >> 8, 125, 'a gid that is not a number: refused');
};

done_testing();
