# Hot functions (format http): instances that serve call after call over
# stdin/stdout with HTTP/1.1 framing, pooled per route.
use strict;
use warnings;
use lib 't/lib', 'scripts/lib';

use Digest::SHA qw(sha256_hex);
use FnImage;
use FnTest qw(executor_start unix_request wait_until tmpdir top go_build);
use JSON::PP;
use POSIX ();
use Test::More;
use Time::HiRes qw(time sleep);

my $json = JSON::PP->new->canonical;
my $tmp = tmpdir();

# The functions: one in C (t/fn/hot.c, behaviour chosen per request), one
# in Go with net/http's own request reader and response writer.
system('cc', '-static', '-O2', '-Wall', '-o', "$tmp/hot", top() . '/t/fn/hot.c') == 0
    or BAIL_OUT('cannot build t/fn/hot.c');
go_build("$tmp/hot-go", top() . '/t/fn/hot.go')
    or BAIL_OUT('cannot build t/fn/hot.go with go');

my $ex = executor_start(max_request_body => '2m', max_response_body => '2m',
                        max_sandboxes => 6, queue_timeout => '1s',
                        log_max_per_call => '4k');

sub images_in {
    my ($e) = @_;
    FnImage::build($e->dir . '/images/hot', tag => 'v1',
        config => { Cmd => ['/fn/hot'] },
        layers => [ [ [ 'fn', dir => 1 ],
                      [ 'fn/hot', file => "$tmp/hot", mode => 0755 ] ] ]);
    FnImage::build($e->dir . '/images/hot-go', tag => 'v1',
        config => { Entrypoint => ['/fn/hot-go'] },
        layers => [ [ [ 'fn', dir => 1 ],
                      [ 'fn/hot-go', file => "$tmp/hot-go", mode => 0755 ] ] ]);
}
images_in($ex);

my $n = 0;
sub call {
    my ($e, %o) = @_;
    my $id = $o{call_id} // sprintf('01ARZ3NDEKTSV4RRFFQ69M%04d', $n++);
    my %route = (app => 'demo', path => $o{path} // '/hot',
                 image => $o{image} // 'oci:hot:v1', format => 'http',
                 timeout => 10, %{ $o{route} // {} });
    my $r = unix_request($e->socket, 'POST', '/call',
        headers => { 'Fn-Call-Id' => $id, 'Fn-Method' => $o{method} // 'POST',
                     'Fn-Request-Url' => $o{url}
                         // 'http://example.com/r/demo/hot?q=1',
                     'Fn-Route' => $json->encode(\%route),
                     %{ $o{headers} // {} } },
        body => $o{body} // '', timeout => 30);
    $r->{id} = $id;
    return $r;
}

sub error_of { my $b = eval { decode_json($_[0]{body}) } // {}; $b->{error}{message} // '' }

subtest 'one instance serves consecutive calls' => sub {
    my $a = call($ex, body => 'first');
    is($a->{status}, 200, 'a call') or diag($a->{body});
    is($a->{body}, 'first', 'its body comes back');
    my $b = call($ex, body => 'second');
    is($b->{body}, 'second', 'the next call');
    is($b->{headers}{'x-instance'}, $a->{headers}{'x-instance'},
       'from the same process');
    is($b->{headers}{'x-seen'}, $a->{headers}{'x-seen'} + 1, 'which counts calls');
    is($b->{headers}{'x-call-id'}, $b->{id}, 'the call id travels as Fn-Call-Id');
    my $pid = function_pid($ex, $a);
    ok($pid, "the function's host pid is found");
    is(function_pid($ex, $b), $pid, 'the same pid served both');
    is($b->{headers}{'fn-call-id'}, $b->{id}, 'and comes back');
};

subtest 'status and headers pass through' => sub {
    my $r = call($ex, headers => { 'X-Status' => '201', 'X-In' => 'hello' },
                 route => { headers => { 'X-Route' => ['r1'] } });
    is($r->{status}, 201, "the function's status");
    is($r->{reason}, 'Created', 'with its registered reason phrase');
    is($r->{headers}{'x-in'}, 'hello', 'client headers reach it, its headers come back');
    is($r->{headers}{'content-type'}, 'application/x-test', 'its Content-Type');
    is($r->{headers}{'x-route'}, 'r1', "the route's headers are added");
    $r = call($ex, headers => { 'X-Status' => '418' });
    is($r->{status}, 418, 'any status');
    is($r->{reason}, '', 'a code without a registered phrase gets none');
};

subtest 'framing: empty, binary, 1 MiB' => sub {
    my $r = call($ex, body => '');
    is($r->{status}, 200, 'empty body');
    is($r->{body}, '', 'empty answer');
    is($r->{headers}{'content-length'}, '0', 'Content-Length: 0');
    my $bin = join('', map { chr } 0 .. 255) x 4;
    $r = call($ex, body => $bin);
    is($r->{body}, $bin, 'bytes 0-255 survive');
    my $big = join('', map { chr(($_ * 7) % 256) } 1 .. 1024 * 1024);
    $r = call($ex, body => $big);
    is(length($r->{body}), length($big), '1 MiB comes back whole');
    ok($r->{body} eq $big, 'byte for byte');
    is(call($ex, body => 'after')->{body}, 'after', 'and the instance goes on');
};

subtest 'environment and config reach the instance' => sub {
    my %route = (config => { greeting => 'hi there' }, path => '/env');
    my $r = call($ex, route => \%route, headers => { 'X-Env-Name' => 'GREETING' });
    is($r->{headers}{'x-env'}, 'hi there', 'route config');
    $r = call($ex, route => \%route, headers => { 'X-Env-Name' => 'FN_APP_NAME' });
    is($r->{headers}{'x-env'}, 'demo', 'FN_APP_NAME');
    $r = call($ex, route => \%route, headers => { 'X-Env-Name' => 'FN_FORMAT' });
    is($r->{headers}{'x-env'}, 'http', 'FN_FORMAT');
    my $other = call($ex, route => { %route, config => { greeting => 'changed' } },
                     headers => { 'X-Env-Name' => 'GREETING' });
    is($other->{headers}{'x-env'}, 'changed', 'another config: another instance');
    isnt($other->{headers}{'x-instance'}, $r->{headers}{'x-instance'},
         '(a new process)');
};

# A misbehaving instance is replaced: the next call gets a new process.
# Returns how long the bad call took (on the instance already running).
sub replaced {
    my ($mode, $status, $message, %o) = @_;
    my $before = call($ex, path => "/$mode", %o);
    my $t0 = time;
    my $r = call($ex, path => "/$mode", headers => { 'X-Mode' => $mode }, %o);
    my $took = time - $t0;
    is($r->{status}, $status, "$mode: $status") or diag($r->{body});
    like($r->{status} == 200 ? $r->{body} : error_of($r), $message,
         "$mode: saying so");
    my $after = call($ex, path => "/$mode", %o);
    is($after->{status}, 200, "$mode: the next call succeeds");
    isnt($after->{headers}{'x-instance'}, $before->{headers}{'x-instance'},
         "$mode: in a new instance");
    return $took;
}

subtest 'misbehaving instances are replaced' => sub {
    replaced('garbage', 502, qr/function answered badly: malformed response/);
    replaced('nolength', 502, qr/no Content-Length/);
    replaced('big', 502, qr/response body is too large/);
    replaced('twice', 200, qr/^one$/);
    replaced('exit', 502, qr/exited with status 3 during the call/);
    # no instance starts within the timed call: its time is the timeout's
    my $took = replaced('hang', 504, qr/timed out after 1 s/,
                        route => { timeout => 1 });
    ok($took < 5, sprintf('the hang ends with its timeout (%.1f s)', $took));
};

# The host pid of the function process that served a call.
sub function_pid {
    my ($e, $r) = @_;
    my ($sb) = $e->log =~ /msg="call finished" call_id=$r->{id} [^\n]*?\bsandbox=(\w+)/;
    return undef unless $sb;
    my ($group) = grep { m{/$sb/?$} } $e->sandbox_groups;
    return undef unless $group;
    my ($pid) = grep { (FnTest::slurp("/proc/$_/cmdline") // '') =~ m{^/fn/hot\0} }
                split /\n/, FnTest::slurp("$group/cgroup.procs") // '';
    return $pid;
}

subtest 'an instance that dies between calls is noticed' => sub {
    my $a = call($ex, path => '/dies');
    my $pid = function_pid($ex, $a);
    ok($pid, 'its process is found');
    kill 'KILL', $pid if $pid;
    ok(wait_until(5, sub { $ex->log =~ /msg="hot instance exited".*reason="between calls"/ }),
       'killed from outside, the executor notices');
    my $b = call($ex, path => '/dies');
    is($b->{status}, 200, 'the next call succeeds');
    isnt($b->{headers}{'x-instance'}, $a->{headers}{'x-instance'},
         'in a new instance');
};

subtest 'stderr is logged with the call id' => sub {
    my $r = call($ex, path => '/log', headers => { 'X-Mode' => 'log' });
    ok(wait_until(5, sub { $ex->log =~ /msg="function stderr" call_id=$r->{id} .*user_log=true line="log line \d+"/ }),
       'the line carries call_id and user_log=true');
    my $log = unix_request($ex->socket, 'GET', "/calls/$r->{id}/log");
    like($log->{body}, qr/^log line \d+\n\z/, "and is kept as the call's log");
};

# Calls in parallel, each in a child process; returns their responses.
sub parallel {
    my ($count, %o) = @_;
    my $dir = $ex->dir;
    my @pids;
    for my $i (1 .. $count) {
        my $pid = fork // die;
        if ($pid == 0) {
            my $r = call($ex, %o);
            open(my $fh, '>', "$dir/par-$i") or die;
            print $fh join(' ', $r->{status},
                           $r->{headers}{'x-instance'} // '-',
                           $r->{headers}{'retry-after'} // '-');
            close $fh;
            POSIX::_exit(0);
        }
        push @pids, $pid;
        $n++;
    }
    waitpid($_, 0) for @pids;
    return map { [ split / /, FnTest::slurp("$dir/par-$_") // '' ] } 1 .. $count;
}

subtest 'max_concurrency bounds the instances of a route' => sub {
    my @r = parallel(5, path => '/conc', route => { max_concurrency => 2 },
                     headers => { 'X-Mode' => 'sleep', 'X-Sleep' => 300 });
    is(scalar(grep { $_->[0] eq '200' } @r), 5, 'every call is served');
    my %instances = map { $_->[1] => 1 } @r;
    ok(keys(%instances) <= 2,
       'by at most two instances (' . keys(%instances) . ')');
};

subtest 'waiting for an instance is bounded' => sub {
    my @r = parallel(2, path => '/wait', route => { max_concurrency => 1 },
                     headers => { 'X-Mode' => 'sleep', 'X-Sleep' => 2500 });
    my @busy = grep { $_->[0] eq '503' } @r;
    is(scalar(@busy), 1, 'one call waits past queue_timeout: 503');
    is($busy[0][2], '1', 'with Retry-After') if @busy;
    is(scalar(grep { $_->[0] eq '200' } @r), 1, 'the other is served');
};

subtest 'idle instances stop after idle_timeout' => sub {
    my $e = executor_start();
    images_in($e);
    my $r = call($e, route => { idle_timeout => 1 });
    is($r->{status}, 200, 'a call');
    ok($e->sandbox_groups > 0, 'leaves an idle instance');
    ok(wait_until(6, sub { !$e->sandbox_groups }),
       'gone after idle_timeout, with its process');
    $e->stop;
};

subtest 'a reload: an instance busy at the time is not kept' => sub {
    my $e = executor_start();
    images_in($e);
    my $kid = fork() // die;
    if ($kid == 0) {
        call($e, path => '/reload', headers => { 'X-Mode' => 'sleep',
                                                 'X-Sleep' => 2000 });
        POSIX::_exit(0);
    }
    ok(wait_until(10, sub { $e->function_pids }), 'a call runs');
    kill 'HUP', $e->pid;
    waitpid($kid, 0);
    ok(wait_until(5, sub { !$e->sandbox_groups }),
       'once it ends, its instance (made with the old settings) is gone');
    my $r = call($e, path => '/reload');
    is($r->{status}, 200, 'the next call gets a new one');
    $e->stop;
};

subtest 'idle instances make room for calls that need capacity' => sub {
    my $e = executor_start(max_sandboxes => 2, queue_timeout => '5s');
    images_in($e);
    is(call($e, path => '/a', route => { idle_timeout => 60 })->{status}, 200,
       'route a has an idle instance');
    is(call($e, path => '/b', route => { idle_timeout => 60 })->{status}, 200,
       'route b too: every slot is held');
    my $r = call($e, path => '/c', route => { idle_timeout => 60 });
    is($r->{status}, 200, 'a third route is served');
    # its wait for a slot, from the executor's log (the instance's start
    # is not in it)
    my ($wait) = $e->log =~ /msg="call finished" call_id=$r->{id} [^\n]*?\bwait_ms=(\d+)/;
    ok(defined $wait && $wait < 1000,
       'promptly: the longest idle instance made room (waited '
       . ($wait // '?') . ' ms)');
    $e->stop;
};

subtest 'a Go function with net/http framing' => sub {
    my %o = (image => 'oci:hot-go:v1', path => '/go');
    my $a = call($ex, %o, body => 'hello', method => 'PUT',
                 url => 'http://example.com/r/demo/go/x?y=1');
    is($a->{status}, 201, "its status (201)") or diag($a->{body});
    is($a->{body}, 'hello', 'its body');
    is($a->{headers}{'x-method'}, 'PUT', 'the method reaches it');
    is($a->{headers}{'x-uri'}, '/r/demo/go/x?y=1', 'and the path with the query');
    is($a->{headers}{'x-call-id'}, $a->{id}, 'and Fn-Call-Id');
    my $calls = $a->{headers}{'x-calls'};
    for my $body ('', join('', map { chr } 0 .. 255),
                  join('', map { chr(($_ * 13) % 256) } 1 .. 1024 * 1024)) {
        my $r = call($ex, %o, body => $body);
        is($r->{headers}{'x-sha256'}, sha256_hex($body),
           'Go read ' . length($body) . ' bytes exactly');
        ok($r->{body} eq $body, 'and wrote them back');
        is($r->{headers}{'x-calls'}, ++$calls, 'same instance');
    }
};

is($ex->stop, 0, 'the executor stops with hot instances');
ok(!$ex->sandbox_groups, 'and removes them');
done_testing();
