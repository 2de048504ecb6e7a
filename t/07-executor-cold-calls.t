# Cold calls (format "default") through the executor socket: real images,
# real bubblewrap sandboxes, real cgroups.
use strict;
use warnings;
use lib 't/lib', 'scripts/lib';

use FnImage;
use FnTest qw(executor_start unix_request wait_until tmpdir spew);
use JSON::PP;
use IO::Socket::INET;
use POSIX ();
use IO::Socket::UNIX;
use Socket qw(SOCK_STREAM);
use Test::More;
use Time::HiRes qw(time);

my $ex = executor_start(max_request_body => '64k',
                        max_response_body => '256k',
                        max_sandboxes => 4, queue_size => 1,
                        queue_timeout => '1s', pids_max => 64,
                        log_max_per_call => '4k');
my $images = $ex->dir . '/images';
my $json = JSON::PP->new->canonical;

sub image {
    my ($name, $script, %o) = @_;
    FnImage::build("$images/$name", tag => 'v1',
        config => { Cmd => ['/bin/sh', '/fn/handler'], %{ $o{config} // {} } },
        layers => [ FnImage::busybox_layer(),
                    [ [ 'fn', dir => 1 ],
                      [ 'fn/handler', data => $script, mode => 0755 ] ],
                    @{ $o{more_layers} // [] } ]);
    return "oci:$name:v1";
}

my $n = 0;
sub call_id { sprintf('01ARZ3NDEKTSV4RRFFQ69G%04d', $n++) }

sub call {
    my (%o) = @_;
    my %route = (app => 'demo', path => '/hello', %{ $o{route} });
    my $id = $o{call_id} // call_id();
    return unix_request($ex->socket, 'POST', '/call',
        headers => { 'Fn-Call-Id' => $id, 'Fn-Method' => 'POST',
                     'Fn-Request-Url' => 'http://example.com/r/demo/hello?x=1',
                     'Fn-Route' => $json->encode(\%route),
                     %{ $o{headers} // {} } },
        body => $o{body} // '', timeout => $o{timeout} // 30);
}

sub error_of { my $b = eval { decode_json($_[0]{body}) } // {}; $b->{error}{message} // '' }

# Sandboxes stay for the next call; what a call started must not.
sub no_function_left { return !$ex->function_pids }

my $echo = image('echo', <<'SH');
echo "in: $(cat)"
echo "to the log" >&2
SH

subtest 'bytes and a half-close while a call runs' => sub {
    # the connection is read while its request is served: what comes
    # meanwhile waits its turn, and a peer that is done sending still gets
    # its answers
    my $slow = image('slowecho', "sleep 0.3; echo \"in: \$(cat)\"\n");
    my $route = $json->encode({ app => 'demo', path => '/slow', image => $slow });
    my $call = "POST /call HTTP/1.1\r\nHost: x\r\nFn-Call-Id: " . call_id()
             . "\r\nFn-Method: POST\r\nFn-Request-Url: http://x/r/demo/slow\r\n"
             . "Fn-Route: $route\r\nContent-Length: 2\r\n\r\nhi";
    my $sock = IO::Socket::UNIX->new(Type => SOCK_STREAM, Peer => $ex->socket)
        or die "connect: $!";
    $sock->autoflush(1);
    print $sock $call;
    select(undef, undef, undef, 0.1);       # the call runs now
    print $sock "GET /health HTTP/1.1\r\nHost: x\r\n\r\n";
    shutdown($sock, 1);                      # and nothing more from us
    my $raw = '';
    my $deadline = time + 10;
    while (time < $deadline) {
        my $n = sysread($sock, my $buf, 65536);
        last if !$n;
        $raw .= $buf;
    }
    close $sock;
    my @r = FnTest::parse_responses($raw);
    is(scalar @r, 2, 'two answers') or diag($raw);
    is($r[0]{status}, 200, 'the call\'s');
    is($r[0]{body}, "in: hi\n", '  with its output');
    is($r[1]{status}, 200, 'then the request sent while it ran');
    like($r[1]{body}, qr/"ok"/, '  /health');
};

subtest 'happy path' => sub {
    my $r = call(route => { image => $echo }, body => 'hello world');
    is($r->{status}, 200, 'answers 200');
    is($r->{body}, "in: hello world\n", 'stdin in, stdout out');
    like($r->{headers}{'fn-call-id'}, qr/^01ARZ3NDEKTSV4RRFFQ69G\d{4}$/,
         'the call id comes back');
    is($r->{headers}{'content-type'}, 'text/plain; charset=utf-8',
       'text output is text/plain');
    like($ex->log, qr/msg="function stderr" call_id=$r->{headers}{'fn-call-id'} app=demo path=\/hello sandbox=\w+ user_log=true line="to the log"/,
         'stderr is logged with call_id, app, path and user_log=true');

    $r = call(route => { image => $echo,
                         headers => { 'Content-Type' => ['application/json'],
                                      'X-Extra' => ['a', 'b'] } });
    is($r->{headers}{'content-type'}, 'application/json',
       "the route's Content-Type wins");
    like(join(',', map { "$_" } $r->{headers}{'x-extra'}), qr/b/,
         "the route's headers are added");
    ok(wait_until(5, \&no_function_left), 'no process of the call is left');

    $r = call(route => { image => image('binary', "printf '\\001\\377\\000'\n") });
    is($r->{body}, "\x01\xff\x00", 'binary output passes unchanged');
    is($r->{headers}{'content-type'}, 'application/octet-stream',
       'binary output is application/octet-stream');
    $r = call(route => { image => image('silent', "true\n") });
    is($r->{status}, 200, 'no output at all: 200');
    is($r->{body}, '', 'with an empty body');
    is($r->{headers}{'content-length'}, '0', 'and Content-Length: 0');
};

subtest 'environment contract and config precedence' => sub {
    my $img = image('env', "env | sort\n",
                    config => { Env => ['FROM_IMAGE=image', 'SHARED=image',
                                        'PATH=/bin'] });
    my $r = call(route => { image => $img, memory => 64, timeout => 7,
                            app_config => { SHARED => 'app', APP_ONLY => 'a',
                                            CALL_ID => 'forged' },
                            config => { shared => 'route', 'my-key' => 'v' } },
                 headers => { 'X-Custom-Thing' => 'yes',
                              'Fn-Sneaky' => 'dropped' });
    is($r->{status}, 200, 'answers 200') or diag($r->{body});
    my %env = map { /^([^=]+)=(.*)$/ ? ($1, $2) : () } split /\n/, $r->{body};
    my $id = $r->{headers}{'fn-call-id'};
    is($env{FROM_IMAGE}, 'image', "the image's Env");
    is($env{PATH}, '/bin', "the image's PATH");
    is($env{SHARED}, 'route', 'route config over app config over image');
    is($env{APP_ONLY}, 'a', 'app config');
    is($env{MY_KEY}, 'v', 'config keys are upper-cased, - becomes _');
    is($env{CALL_ID}, $id, 'config cannot forge CALL_ID');
    is($env{FN_CALL_ID}, $id, 'FN_CALL_ID');
    is($env{APP_NAME}, 'demo', 'APP_NAME');
    is($env{FN_APP_NAME}, 'demo', 'FN_APP_NAME');
    is($env{ROUTE}, '/hello', 'ROUTE');
    is($env{FN_PATH}, '/hello', 'FN_PATH');
    is($env{METHOD}, 'POST', 'METHOD');
    is($env{FN_METHOD}, 'POST', 'FN_METHOD');
    is($env{REQUEST_URL}, 'http://example.com/r/demo/hello?x=1',
       'REQUEST_URL, with the colon after the scheme');
    is($env{FN_REQUEST_URL}, $env{REQUEST_URL}, 'FN_REQUEST_URL');
    is($env{FN_FORMAT}, 'default', 'FN_FORMAT');
    is($env{FN_TYPE}, 'sync', 'FN_TYPE');
    is($env{FN_MEMORY}, '64', 'FN_MEMORY');
    like($env{FN_DEADLINE}, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/,
         'FN_DEADLINE is RFC 3339');
    is($env{HEADER_X_CUSTOM_THING}, 'yes', 'HEADER_<NAME>');
    is($env{FN_HEADER_X_CUSTOM_THING}, 'yes', 'FN_HEADER_<NAME>');
    ok(!exists $env{HEADER_FN_SNEAKY}, 'Fn-* request headers never reach it');
    ok(!grep(/^(HOME|USER|SSH|LD_|ASAN)/, keys %env),
       "nothing of the executor's environment leaks in");
};

subtest 'outcomes' => sub {
    my $r = call(route => { image => image('fail', "echo oops >&2; exit 3\n") });
    is($r->{status}, 502, 'non-zero exit: 502');
    is(error_of($r), 'function exited with status 3', 'saying the status');
    like($r->{body}, qr/"call_id":"01ARZ3NDEKTSV4RRFFQ69G\d{4}"/,
         'the error carries the call id');

    my $t0 = time;
    $r = call(route => { image => image('sleep', "sleep 60\n"), timeout => 1 });
    is($r->{status}, 504, 'timeout: 504');
    is(error_of($r), 'function timed out after 1 s', 'saying so');
    ok(time - $t0 < 10, 'and promptly');
    ok(wait_until(5, \&no_function_left), 'the sleeper is gone');

    $r = call(route => { image => image('hog',
        "head -c 200000000 /dev/zero | tail -c 150000000 > /dev/null\n"),
        memory => 32 });
    is($r->{status}, 502, 'memory hog: 502');
    is(error_of($r), 'function was killed: out of memory (limit 32 MiB)',
       'saying it ran out of memory');

    $r = call(route => { image => image('chatty', "yes hello\n") });
    is($r->{status}, 502, 'response over max_response_body: 502');
    like(error_of($r), qr/response is larger than 262144 bytes/, 'saying so');
    ok(wait_until(5, \&no_function_left), 'and the function is killed');

    $r = call(route => { image => $echo }, body => 'x' x 70000);
    is($r->{status}, 413, 'body over max_request_body: 413');

    $r = call(route => { image => 'oci:missing:v1' });
    is($r->{status}, 502, 'missing image: 502');
    is(error_of($r), 'image "oci:missing:v1" not found', 'naming the image');

    $r = call(route => { image => 'oci:../../etc:v1' });
    is($r->{status}, 502, 'an image path that leaves image_dir is refused');
    like(error_of($r), qr/without ".."/, 'saying why');

    $r = call(route => { image => 'registry.example.com/busybox:latest' });
    is($r->{status}, 502, 'a registry that is not allowed: 502');
    like(error_of($r), qr/registry\.example\.com is not in this executor's allowed_registries/,
         '  naming it, before any connection');

    my $big = image('logger', "seq 1 5000 >&2; echo done\n");
    $r = call(route => { image => $big });
    is($r->{status}, 200, 'a function that logs a lot succeeds');
    like($ex->log, qr/msg="function log capped" call_id=$r->{headers}{'fn-call-id'}/,
         'and its log is capped');
};

subtest 'the command: found through the image\'s PATH, or missing' => sub {
    # the sandbox's init starts it (a vfork child) with the function's own
    # environment, PATH included
    my $img = image('pathcmd', "echo \"found in \$PATH\"\n",
        config => { Cmd => ['handler'], Env => ['PATH=/opt/fn:/bin'] },
        more_layers => [ [ [ 'opt', dir => 1 ], [ 'opt/fn', dir => 1 ],
                           [ 'opt/fn/handler', data => "#!/bin/sh\nexec /bin/sh /fn/handler\n",
                             mode => 0755 ] ] ]);
    my $r = call(route => { image => $img, path => '/pathcmd' });
    is($r->{status}, 200, 'a command named without a slash runs') or diag($r->{body});
    is($r->{body}, "found in /opt/fn:/bin\n", '  found through the PATH of the image');

    $img = image('nocmd', "true\n", config => { Cmd => ['/fn/nope'] });
    $r = call(route => { image => $img, path => '/nocmd' });
    is($r->{status}, 502, 'a command that is not there: 502');
    is(error_of($r), 'function exited with status 127', '  status 127, as a shell says');
    like($ex->log, qr{cannot run /fn/nope: No such file or directory},
         '  and its log says why');

    $img = image('nodir', "true\n", config => { WorkingDir => '/missing' });
    $r = call(route => { image => $img, path => '/nodir' });
    is($r->{status}, 502, 'a working directory that is not there: 502');
    is(error_of($r), 'function exited with status 126', '  status 126');
    like($ex->log, qr{cannot change to the working directory /missing},
         '  and its log says why');

    $r = call(route => { image => $img, path => '/nodir' });
    is(error_of($r), 'function exited with status 126', '  the next call alike');
    $r = call(route => { image => $echo }, body => 'after');
    is($r->{body}, "in: after\n", 'calls after them run as before');
};

subtest 'malformed calls' => sub {
    my $r = unix_request($ex->socket, 'POST', '/call', body => '');
    is($r->{status}, 400, 'no headers at all: 400');
    like(error_of($r), qr/Fn-Call-Id/, 'naming Fn-Call-Id');
    $r = call(route => { image => $echo }, call_id => 'not-a-ulid');
    is($r->{status}, 400, 'a call id that is not a ULID: 400');
    $r = call(route => { image => $echo },
              headers => { 'Fn-Route' => '{"app":"demo",' });
    is($r->{status}, 400, 'broken route JSON: 400');
    like(error_of($r), qr/route is not valid JSON/, 'saying so');
    for my $bad ([ { app => 'bad app' }, qr/"app"/ ],
                 [ { path => 'relative' }, qr/"path"/ ],
                 [ { path => '/a/../b' }, qr/"path"/ ],
                 [ { memory => 0 }, qr/"memory" must be from 1 to 8192/ ],
                 [ { memory => '128' }, qr/"memory" must be an integer/ ],
                 [ { format => 'xml' }, qr/"format" must be one of/ ],
                 [ { config => { A => "x\r\nInjected: 1" } },
                   qr/without control characters/ ],
                 [ { headers => { 'X-A' => 'not-a-list' } },
                   qr/must be a list of strings/ ]) {
        $r = call(route => { image => $echo, %{ $bad->[0] } });
        is($r->{status}, 400, 'bad route field: ' . $json->encode($bad->[0]));
        like(error_of($r), $bad->[1], '  named in the error');
    }
    $r = call(route => { image => $echo, format => 'cloudevent' });
    is($r->{status}, 400, 'a format there is no such thing as: 400');
    like(error_of($r), qr/format/, '  named in the error');
    $r = unix_request($ex->socket, 'GET', '/call');
    is($r->{status}, 405, 'GET /call: 405');
    is($r->{headers}{allow}, 'POST', 'with Allow: POST');
};

# A static program that connects to 127.0.0.1:<port> and says how it went
# (busybox's wget cannot tell: its static build crashes resolving names).
my $tmp = tmpdir();
spew("$tmp/connect.c", <<'C');
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

int main(int argc, char **argv)
{
    struct sockaddr_in a = { .sin_family = AF_INET };
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    a.sin_port = htons(atoi(argc > 1 ? argv[1] : "1"));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0)
        printf("net=socket: %s\n", strerror(errno));
    else if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
        printf("net=connect: %s\n", strerror(errno));
    else
        printf("net=connected\n");
    return 0;
}
C
system('cc', '-static', '-O2', '-o', "$tmp/connect", "$tmp/connect.c") == 0
    or BAIL_OUT('cannot build the connect probe');

subtest 'isolation' => sub {
    # something listens on the host's loopback: a sandbox that shared the
    # host's network would connect to it
    my $host = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                     Listen => 16, ReuseAddr => 1)
        or die "listen: $!";
    my $port = $host->sockport;
    my $script = <<'SH' =~ s/HOST_PORT/$port/r;
echo "uid=$(id -u)"
echo "gid=$(id -g)"
echo "procs=$(ls /proc | grep -c '^[0-9]')"
echo "comms=$(cat /proc/[0-9]*/comm | sort -u | tr '\n' ' ')"
echo "hostname=$(hostname)"
touch /rootfs-write 2>/dev/null && echo "rootfs=writable" || echo "rootfs=readonly"
dd if=/dev/zero of=/tmp/fill bs=1M count=100 2>/dev/null; echo "tmp=$(du -k /tmp/fill | cut -f1)"
mkdir /tmp/m; mount -t tmpfs none /tmp/m 2>/dev/null && echo mount=yes || echo mount=no
echo "links=$(($(wc -l < /proc/net/dev) - 2))"
/fn/connect HOST_PORT
cat /etc/passwd | wc -l | sed 's/^/passwd=/'
ls /proc/1/root/ >/dev/null 2>&1 && echo "root=visible" || echo "root=hidden"
SH
    my $img = image('probe', $script,
        more_layers => [ [ [ 'fn/connect', file => "$tmp/connect",
                             mode => 0755 ] ] ]);
    my $r = call(route => { image => $img });
    is($r->{status}, 200, 'the probe runs') or diag($r->{body});
    my %p = $r->{body} =~ /^(\w+)=(.*)$/mg;
    is($p{uid}, '1000', 'runs as an unprivileged uid');
    is($p{gid}, '1000', 'and gid');
    ok($p{procs} <= 8, "sees only its own processes ($p{procs})");
    unlike($p{comms}, qr/functions-exec|perl|prove|nginx|mariadbd/,
           "none of the host's ($p{comms})");
    is($p{hostname}, 'function', 'has its own hostname');
    is($p{rootfs}, 'readonly', 'cannot write its root filesystem');
    ok($p{tmp} < 100 * 1024, "its /tmp is size-limited ($p{tmp} KiB)");
    is($p{mount}, 'no', 'cannot mount');
    is($p{links}, '1', 'has no network but loopback');
    like($p{net}, qr/^(socket|connect): /, "cannot reach the host ($p{net})");
    $host->blocking(0);
    ok(!$host->accept, '  which saw no connection');
    is($p{passwd}, '1', "sees the image's files, not the host's");
};

# A value of a cgroup file of this executor's sandboxes, in the pids
# hierarchy (cgroup v1) or the unified one (v2); the largest if several.
sub sandbox_pids {
    my ($file, $re) = @_;
    my $name = $ex->{cgroup_name};
    my $value;
    for my $f (glob("/sys/fs/cgroup/pids/$name/*/$file"),
               glob("/sys/fs/cgroup/$name/*/$file")) {
        my ($v) = (FnTest::slurp($f) // '') =~ $re or next;
        $value = $v if !defined $value || $v > $value;
    }
    return $value;
}

subtest 'a fork bomb meets the pids limit' => sub {
    my $bomb = image('bomb',
        "bomb() { bomb | bomb & }; bomb 2>/dev/null; sleep 1; echo survived\n");
    my $pid = fork // die;
    if ($pid == 0) {
        my $r = call(route => { image => $bomb, timeout => 5 });
        FnTest::spew($ex->dir . '/bomb', $r->{status});
        POSIX::_exit(0);
    }
    # from the host, all the while it runs (up to its 5 s timeout): the
    # processes in its sandbox, and forks refused at the sandbox's limit
    my ($peak, $refused) = (0, 0);
    wait_until(20, sub {
        my $now = sandbox_pids('pids.current', qr/^(\d+)/) // 0;
        $peak = $now if $now > $peak;
        my $events = sandbox_pids('pids.events', qr/^max (\d+)/m) // 0;
        $refused = $events if $events > $refused;
        return waitpid($pid, POSIX::WNOHANG()) == $pid;
    });
    ok($refused > 0, "the kernel refused forks at the limit ($refused)");
    ok($peak > 0 && $peak <= 64,
       "never more than pids_max (64) processes ($peak)");
    waitpid($pid, 0);
    my $status = FnTest::slurp($ex->dir . '/bomb') // '';
    ok($status == 200 || $status == 504 || $status == 502,
       "the bomb call ends ($status)");
    ok(wait_until(10, \&no_function_left), 'and leaves nothing behind');
    is(call(route => { image => $echo }, body => 'still')->{status}, 200,
       'the executor serves the next call');
};

subtest 'hostile layers are refused' => sub {
    my $outside = $ex->dir . '/escaped';
    my $victim = $ex->dir . '/victim';
    FnTest::spew($victim, 'keep me');
    my @cases = (
        [ 'dotdot', [ [ '../../../../escaped', data => 'x' ] ],
          qr/leaves the image/ ],
        [ 'absolute', [ [ $outside, data => 'x' ] ], qr/leaves the image/ ],
        [ 'symlink', [ [ 'evil', symlink => $ex->dir ],
                       [ 'evil/escaped', data => 'x' ] ],
          qr/evil\/escaped/ ],
        [ 'hardlink', [ [ 'h', hardlink => '../../../../etc/passwd' ] ],
          qr/hard link .* leaves the image/ ],
        [ 'hardlink-via-symlink', [ [ 'etc', symlink => '/etc' ],
                                    [ 'h', hardlink => 'etc/passwd' ] ],
          qr/hard link "etc\/passwd" passes through the symlink "etc"/ ],
        [ 'whiteout-via-symlink', [ [ 'out', symlink => $ex->dir ],
                                    [ 'out/.wh.victim', data => '' ] ],
          qr/passes through the symlink "out"/ ],
    );
    for my $c (@cases) {
        my ($name, $layer, $re) = @$c;
        my $img = image("hostile-$name", "echo ran\n",
                        more_layers => [ $layer ]);
        my $r = call(route => { image => $img });
        is($r->{status}, 502, "$name: refused");
        like(error_of($r), $re, '  saying why') or diag($r->{body});
        ok(!-e $outside, '  nothing was written outside');
        ok(-e $victim, '  nothing was deleted outside');
    }
    my $img = image('devnode', "ls /fn\n",
                    more_layers => [ [ [ 'fn/dev', chardev => 1 ] ] ]);
    my $r = call(route => { image => $img });
    is($r->{status}, 200, 'a layer with a device node still runs');
    unlike($r->{body}, qr/\bdev\b/, 'without the device node');
};

subtest 'whiteouts and digests' => sub {
    my $img = image('layers', "ls /d; test -e /a && echo a-exists; cat /b\n",
        more_layers => [
            [ [ 'a', data => 'a' ], [ 'b', data => 'b1' ], [ 'd', dir => 1 ],
              [ 'd/x', data => 'x' ] ],
            [ [ '.wh.a', data => '' ], [ 'b', data => 'b2' ],
              [ 'd/.wh..wh..opq', data => '' ], [ 'd/y', data => 'y' ] ] ]);
    my $r = call(route => { image => $img });
    is($r->{status}, 200, 'a layered image runs') or diag($r->{body});
    is($r->{body}, "y\nb2", 'whiteouts delete, opaque dirs empty, later '
                            . 'layers win');

    my $bad = image('corrupt', "echo ran\n");
    my ($layer) = grep { -s $_ > 100000 } glob("$images/corrupt/blobs/sha256/*");
    open(my $fh, '+<', $layer) or die;
    seek($fh, 1000, 0);
    print $fh 'CORRUPT';
    close $fh;
    $r = call(route => { image => $bad });
    is($r->{status}, 502, 'a corrupted layer: 502');
    like(error_of($r), qr/does not match its digest/, 'saying why');
};

subtest 'capacity: calls queue, then 503' => sub {
    my $slow = image('slow', "sleep 2; echo done\n");
    my @pids;
    my $dir = $ex->dir;
    # four slots are taken, one call may wait, the rest get 503 at once
    for my $i (1 .. 6) {
        my $pid = fork // die;
        if ($pid == 0) {
            my $r = call(route => { image => $slow },
                         call_id => sprintf('01ARZ3NDEKTSV4RRFFQ69H%04d', $i));
            open(my $fh, '>', "$dir/cap-$i") or die;
            print $fh "$r->{status} " . ($r->{headers}{'retry-after'} // '-');
            close $fh;
            POSIX::_exit(0);    # no END blocks: they belong to the parent
        }
        push @pids, $pid;
        select(undef, undef, undef, 0.05);
    }
    waitpid($_, 0) for @pids;
    my @results = map { FnTest::slurp("$dir/cap-$_") } 1 .. 6;
    my $ok = grep { /^200/ } @results;
    my $busy = grep { /^503 1$/ } @results;
    is($ok + $busy, 6, 'every call is answered: 200 or 503 with Retry-After')
        or diag("@results");
    ok($ok >= 4 && $ok <= 5, "four or five ran ($ok)");
    ok($busy >= 1, "the rest were told the server is busy ($busy)");
    is(call(route => { image => $echo })->{status}, 200,
       'afterwards calls run again');
};

subtest 'a call id already running is refused' => sub {
    my $slow = image('slow2', "sleep 2; echo done\n");
    my $dir = $ex->dir;
    my $pid = fork // die;
    if ($pid == 0) {
        my $r = call(route => { image => $slow },
                     call_id => '01ARZ3NDEKTSV4RRFFQ69J0000');
        FnTest::spew("$dir/dup", $r->{status});
        POSIX::_exit(0);
    }
    ok(wait_until(5, sub { $ex->function_pids > 0 }), 'the first call runs');
    my $r = call(route => { image => $echo },
                 call_id => '01ARZ3NDEKTSV4RRFFQ69J0000');
    is($r->{status}, 409, 'the same id again: 409');
    like(error_of($r), qr/already running/, 'saying so');
    waitpid($pid, 0);
    is(FnTest::slurp("$dir/dup"), '200', 'the first call is not disturbed');
};

ok(wait_until(5, \&no_function_left), 'no function process is left');
ok($ex->sandbox_groups > 0, 'idle sandboxes wait for the next calls');
is($ex->stop, 0, 'the executor stops cleanly');
ok(!$ex->sandbox_groups, 'and leaves no sandbox cgroup behind');
subtest 'cgroup_delegated: sandbox groups below the executor\'s own group' => sub {
    # the group a service manager would give the executor (systemd's
    # Delegate=yes), made here in each hierarchy the executor uses
    my @own = FnTest::own_cgroups("test-$$-delegated");
    my @tops = map { s{/functions/[^/]+$}{}r } @own;
    my $v2 = $tops[0] eq '/sys/fs/cgroup';
    my $d = executor_start(cgroup_delegated => 'yes', cgroup_name => 'sandboxes',
                           join_cgroups => \@own);
    my $img = FnImage::build($d->dir . '/images/slow', tag => 'v1',
        config => { Cmd => ['/bin/sh', '-c', 'sleep 2; echo done'] },
        layers => [ FnImage::busybox_layer() ]);
    my $pid = fork // die;
    if ($pid == 0) {
        my $r = unix_request($d->socket, 'POST', '/call',
            headers => { 'Fn-Call-Id' => call_id(), 'Fn-Method' => 'POST',
                         'Fn-Request-Url' => 'http://x/r/demo/slow',
                         'Fn-Route' => $json->encode({ app => 'demo',
                             path => '/slow', image => 'oci:slow:v1' }) },
            timeout => 30);
        spew($d->dir . '/slow', $r->{status});
        POSIX::_exit(0);
    }
    my %seen;
    wait_until(20, sub {
        for my $g (@own) {
            for my $procs (glob("$g/sandboxes/*/cgroup.procs")) {
                $seen{$g}++ if (FnTest::slurp($procs) // '') =~ /\d/;
            }
        }
        return waitpid($pid, POSIX::WNOHANG()) == $pid;
    });
    is(FnTest::slurp($d->dir . '/slow'), 200, 'a call runs');
    is(scalar(keys %seen), scalar(@own), 'its sandbox ran in a group below '
       . 'the executor\'s own, in each hierarchy (' . join(', ', @tops) . ')');
    if ($v2) {
        like(FnTest::slurp("$own[0]/executor/cgroup.procs") // '',
             qr/^${\ $d->pid }$/m, 'v2: the executor moved itself into a leaf');
    }
    ok(!-e "$_/sandboxes", "nothing was made at the top of $_") for @tops;
    $d->stop('TERM', 10);
    for my $g (@own) {
        rmdir for (glob("$g/sandboxes/*/"), "$g/sandboxes", "$g/executor", $g);
        ok(!-e $g, "$g is removed once the executor is gone");
    }

    # one whose own group is not given: refused at start, saying why
    my $bad = eval { executor_start(cgroup_delegated => 'yes',
                                    cgroup_name => 'executor/x') };
    like($@, qr/cgroup_name may not start with \\?"executor/,
         'a cgroup_name on the executor\'s own leaf is refused');
};

done_testing();
