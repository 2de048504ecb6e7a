# Fn's function formats.  json: hot instances that read each call as a
# JSON object on stdin and answer with one on stdout (t/fn/json.c, built
# static with jansson); status, headers and content type reach the
# client, and an instance that answers badly or dies is replaced.
# http-stream: instances that listen on FN_LISTENER and take each call as
# "POST /call" over a kept-alive connection (t/fn/stream.c, and a function
# written with Fn's Node FDK, t/fn/node/func.js, in an image with the
# host's node).
use strict;
use warnings;
use lib 't/lib', 'scripts/lib';

use FnImage;
use FnTest qw(executor_start unix_request tmpdir top);
use JSON::PP;
use POSIX ();
use Time::Local qw(timegm);
use Test::More;

my $json = JSON::PP->new->canonical;
my $tmp = tmpdir();

system('cc', '-static', '-O2', '-Wall', '-o', "$tmp/json",
       top() . '/t/fn/json.c', '-ljansson') == 0
    or BAIL_OUT('cannot build t/fn/json.c');
system('cc', '-static', '-O2', '-Wall', '-o', "$tmp/stream",
       top() . '/t/fn/stream.c') == 0
    or BAIL_OUT('cannot build t/fn/stream.c');
# the Node FDK, as make deps (scripts/deps) installs it
my $fdk = top() . '/build/npm/fdk';
-f "$fdk/node_modules/\@fnproject/fdk/package.json"
    or BAIL_OUT("no Fn Node FDK in $fdk: run make deps");

my $ex = executor_start(max_sandboxes => 4, log_max_per_call => '4k',
                        listen_timeout => '2s', max_response_body => '1m',
                        drain_timeout => '1s');
FnImage::build($ex->dir . '/images/json', tag => 'v1',
    config => { Cmd => ['/fn/json'] },
    layers => [ [ [ 'fn', dir => 1 ],
                  [ 'fn/json', file => "$tmp/json", mode => 0755 ] ] ]);
FnImage::build($ex->dir . '/images/stream', tag => 'v1',
    config => { Cmd => ['/fn/stream'] },
    layers => [ [ [ 'fn', dir => 1 ], [ 'tmp', dir => 1, mode => 01777 ],
                  [ 'fn/stream', file => "$tmp/stream", mode => 0755 ] ] ]);
FnImage::build($ex->dir . '/images/node', tag => 'v1',
    config => { Cmd => [ '/usr/bin/node', '/function/func.js' ] },
    layers => [ FnImage::node_layers($fdk, top() . '/t/fn/node/func.js') ]);

my $n = 0;
sub call {
    my (%o) = @_;
    my $id = sprintf('01ARZ3NDEKTSV4RRFFQ69J%04d', $n++);
    my %route = (app => 'demo', path => $o{path} // '/json',
                 image => 'oci:json:v1', format => 'json', timeout => 10,
                 %{ $o{stream} ? { image => 'oci:stream:v1',
                                   format => 'http-stream' } : {} },
                 config => { GREETING => 'hello' }, %{ $o{route} // {} });
    my $r = unix_request($ex->socket, 'POST', '/call',
        headers => { 'Fn-Call-Id' => $id, 'Fn-Method' => 'POST',
                     'Fn-Request-Url' => 'http://example.com/r/demo/json?q=1',
                     'Fn-Route' => $json->encode(\%route),
                     %{ $o{headers} // {} } },
        body => $o{body} // '', timeout => 30);
    $r->{id} = $id;
    $r->{error} = eval { decode_json($r->{body})->{error}{message} } // '';
    return $r;
}

subtest 'a json function: its answer, status, headers and content type' => sub {
    my $a = call(body => qq(a body with "quotes", {braces}\n and lines),
                 headers => { 'X-Status' => 201, 'X-Type' => 'text/x-json-test',
                              'X-Env-Name' => 'GREETING' });
    is($a->{status}, 201, 'the function\'s status') or diag($a->{body});
    is($a->{body}, qq(a body with "quotes", {braces}\n and lines),
       'the body there and back, as it was');
    is($a->{headers}{'content-type'}, 'text/x-json-test', 'its content type');
    is($a->{headers}{'x-call-id'}, $a->{id}, 'the call id it read');
    like($a->{headers}{'x-deadline'}, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d/,
         'the deadline it read');
    is($a->{headers}{'x-method'}, 'POST', 'the method');
    is($a->{headers}{'x-url'}, 'http://example.com/r/demo/json?q=1',
       'the request URL');
    is($a->{headers}{'x-env'}, 'hello', 'the route\'s config, in its environment');
    my $b = call(body => 'second');
    is($b->{status}, 200, 'the next call: 200 by default');
    is($b->{headers}{'x-instance'}, $a->{headers}{'x-instance'}, '  the same instance');
    is($b->{headers}{'x-seen'}, $a->{headers}{'x-seen'} + 1, '  its next call');
    my $bare = call(body => 'bare', headers => { 'X-Mode' => 'bare' });
    is($bare->{body}, 'bare', 'an answer without the newline after it');
    is(call(body => 'after')->{headers}{'x-instance'}, $a->{headers}{'x-instance'},
       '  and with it (the others): the same instance serves on');
    my $c = call(body => "\xff\xfe binary");
    is($c->{status}, 400, 'a body that is not UTF-8: 400');
    like($c->{error}, qr/json\) carries text/, '  saying why');
    is(call()->{headers}{'x-instance'}, $a->{headers}{'x-instance'},
       '  and the instance serves on');
};

subtest 'a json function that answers badly, or dies, is replaced' => sub {
    my $inst = call(path => '/bad')->{headers}{'x-instance'};
    ok($inst, 'an instance') or return;
    for my $case ([ garbage => qr/the answer is not a JSON object/ ],
                  [ badstatus => qr/status_code.*must be a number/ ],
                  [ exit => qr/exited with status 3|exit/ ]) {
        my ($mode, $re) = @$case;
        my $r = call(path => '/bad', headers => { 'X-Mode' => $mode });
        is($r->{status}, 502, "$mode: 502") or diag($r->{body});
        like($r->{error}, $re, '  saying why') or diag($r->{error});
        my $next = call(path => '/bad');
        is($next->{status}, 200, '  the next call is served');
        isnt($next->{headers}{'x-instance'}, $inst, '  by another instance');
        $inst = $next->{headers}{'x-instance'};
    }
    my $r = call(path => '/bad', headers => { 'X-Mode' => 'twice' });
    is($r->{status}, 200, 'two answers to one call: the first is the answer');
    isnt(call(path => '/bad')->{headers}{'x-instance'}, $inst,
         '  and that instance is gone');
    $r = call(path => '/bad', headers => { 'X-Mode' => 'hang' },
              route => { timeout => 1 });
    is($r->{status}, 504, 'no answer within the timeout: 504');
};

subtest 'instances of a route are kept apart by format' => sub {
    my $inst = call(path => '/switch')->{headers}{'x-instance'};
    ok($inst, 'a json instance');
    my $r = call(path => '/switch', route => { format => 'http' });
    is($r->{status}, 502, 'the route as format http: an instance of its own, '
       . 'which cannot read HTTP');
    is(call(path => '/switch')->{headers}{'x-instance'}, $inst,
       'json again: the first instance, left alone');
};

subtest 'a json function\'s stderr is its log' => sub {
    my $r = call(path => '/log', headers => { 'X-Mode' => 'log' });
    is($r->{status}, 200, 'a call that logs');
    ok(FnTest::wait_until(5, sub { $ex->log =~ /msg="function stderr" call_id=$r->{id} .*user_log=true line="json log line"/ }),
       'the line is in the executor\'s log, with the call id, as a user log');
};

# ------------------------------------------------------------ http-stream

sub scall { my (%o) = @_; return call(stream => 1, %o) }

subtest 'an http-stream function: its answer, status and headers' => sub {
    my $a = scall(path => '/s', body => "a body\n in two chunks",
                  headers => { 'X-Status' => 201, 'X-Type' => 'text/x-stream',
                               'X-Env-Name' => 'GREETING',
                               'X-Plain' => 'plain' });
    is($a->{status}, 201, 'Fn-Http-Status is the status') or diag($a->{body});
    is($a->{body}, "a body\n in two chunks", 'the chunked body, whole');
    is($a->{headers}{'content-type'}, 'text/x-stream', 'its content type');
    is($a->{headers}{'x-call-id'}, $a->{id}, 'Fn-Call-Id');
    like($a->{headers}{'x-deadline'}, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d/,
         'Fn-Deadline');
    is($a->{headers}{'x-method'}, 'POST', 'Fn-Http-Method');
    is($a->{headers}{'x-url'}, 'http://example.com/r/demo/json?q=1',
       'Fn-Http-Request-Url');
    is($a->{headers}{'x-env'}, 'hello', 'the route\'s config, in its environment');
    is($a->{headers}{'x-plain'}, 'plain',
       'the client\'s headers as Fn-Http-H-*');
    ok(!exists $a->{headers}{'x-plain-raw'}, '  and only so');
    ok(!exists $a->{headers}{'x-not-for-the-client'}
       && !exists $a->{headers}{'fn-fdk-version'},
       'headers without Fn-Http-H- stay with the platform');
    my $b = scall(path => '/s', body => '');
    is($b->{status}, 200, 'no Fn-Http-Status: 200');
    is($b->{body}, '', '  an empty body');
    is($b->{headers}{'x-instance'}, $a->{headers}{'x-instance'},
       '  the same instance');
    is($b->{headers}{'x-seen'}, 2, '  over the same connection');
    my $f = scall(path => '/s', headers => { 'X-Mode' => 'fail' });
    is($f->{status}, 502, 'an answer of 500 without Fn-Http-Status: 502');
    is(scall(path => '/s')->{headers}{'x-instance'}, $a->{headers}{'x-instance'},
       '  a function\'s error: the instance serves on');
    my $big = scall(path => '/s', headers => { 'X-Mode' => 'big',
                                               'X-Size' => 300000 });
    is(length($big->{body}), 300000, 'a body of many chunks');
};

subtest 'a call that waited for its instance: its deadline counts from then' => sub {
    my $file = $ex->dir . '/bg-slow';
    my $pid = fork // die;
    if ($pid == 0) {
        $n += 5000;         # call ids of its own
        my $r = scall(path => '/dl', headers => { 'X-Mode' => 'sleep',
                                                  'X-Sleep' => 2500 });
        FnTest::spew($file, $r->{status});
        POSIX::_exit(0);
    }
    select(undef, undef, undef, 0.3);   # the first call has the instance
    my $sent = time;
    my $r = scall(path => '/dl');
    waitpid($pid, 0);
    is($r->{status}, 200, 'the second call, after the first') or diag($r->{body});
    my ($y, $mo, $d, $h, $mi, $s) =
        ($r->{headers}{'x-deadline'} // '') =~ /^(\d+)-(\d+)-(\d+)T(\d+):(\d+):(\d+)Z$/;
    ok(defined $s, 'Fn-Deadline') or return;
    my $deadline = timegm($s, $mi, $h, $d, $mo - 1, $y);
    cmp_ok($deadline - $sent, '>=', 11,
           '  its timeout (10 s) counts from when the instance took it, '
           . 'not from its arrival (it waited some 2 s)');
};

subtest 'http-stream connections: closed after an answer, a new one' => sub {
    my $inst = scall(path => '/c')->{headers}{'x-instance'};
    my $r = scall(path => '/c', headers => { 'X-Mode' => 'connclose' });
    is($r->{status}, 200, 'an answer with Connection: close');
    $r = scall(path => '/c');
    is($r->{status}, 200, 'the next call') or diag($r->{body});
    is($r->{headers}{'x-instance'}, $inst, '  the same instance, connected again');
    is($r->{headers}{'x-seen'}, 3, '  its third call');
    $r = scall(path => '/c', headers => { 'X-Mode' => 'drop' });
    is($r->{status}, 200, 'an answer, then the connection closed unannounced');
    select(undef, undef, undef, 0.3);
    $r = scall(path => '/c');
    is($r->{status}, 200, 'the next call') or diag($r->{body});
    is($r->{headers}{'x-instance'}, $inst, '  the same instance, connected again');
};

subtest 'an http-stream function that answers badly, or dies, is replaced' => sub {
    my $inst = scall(path => '/sbad')->{headers}{'x-instance'};
    ok($inst, 'an instance') or return;
    for my $case ([ garbage => qr/malformed response/ ],
                  [ badstatus => qr/Fn-Http-Status "abc" is not a status/ ],
                  [ close => qr/closed its connection during the call/ ],
                  [ exit => qr/exited with status 3/ ]) {
        my ($mode, $re) = @$case;
        my $r = scall(path => '/sbad', headers => { 'X-Mode' => $mode });
        is($r->{status}, 502, "$mode: 502") or diag($r->{body});
        like($r->{error}, $re, '  saying why') or diag($r->{error});
        my $next = scall(path => '/sbad');
        is($next->{status}, 200, '  the next call is served');
        isnt($next->{headers}{'x-instance'}, $inst, '  by another instance');
        $inst = $next->{headers}{'x-instance'};
    }
    my $r = scall(path => '/sbad', headers => { 'X-Mode' => 'twice' });
    is($r->{status}, 200, 'two answers to one call: the first is the answer');
    isnt(scall(path => '/sbad')->{headers}{'x-instance'}, $inst,
         '  and that instance is gone');
    $r = scall(path => '/sbad', headers => { 'X-Mode' => 'big',
                                             'X-Size' => 2 * 1024 * 1024 });
    is($r->{status}, 502, 'an answer over max_response_body: 502');
    like($r->{error}, qr/too large/, '  saying why');
    $r = scall(path => '/sbad', headers => { 'X-Mode' => 'hang' },
               route => { timeout => 1 });
    is($r->{status}, 504, 'no answer within the timeout: 504');
};

subtest 'an http-stream function that never listens' => sub {
    my $before = scalar(my @g = $ex->sandbox_groups);
    my $t0 = time;
    my $r = scall(path => '/deaf', route => { config => { NEVER_LISTEN => '1' } });
    my $took = time - $t0;
    is($r->{status}, 502, 'no listener: 502') or diag($r->{body});
    like($r->{error}, qr{did not listen on FN_LISTENER \(unix:/tmp/iofs/lsnr\.sock\) within 2000 ms},
         '  saying so, with the bound');
    cmp_ok($took, '<', 8, '  within the bound (2 s here), not the call\'s');
    ok(FnTest::wait_until(5, sub { scalar(my @g = $ex->sandbox_groups) == $before }),
       '  and its sandbox is gone');
    my $late = scall(path => '/late',
                     route => { config => { LISTEN_DELAY_MS => '700' } });
    is($late->{status}, 200, 'one that listens after 0.7 s is waited for');
    my $plain = scall(path => '/plain',
                      route => { config => { PLAIN_LISTEN => '1' } });
    is($plain->{status}, 200, 'one that listens on FN_LISTENER itself, no link');
};

subtest 'FN_LISTENER leads nowhere but to the function\'s own socket' => sub {
    # the executor never connects by path: the sandbox's init does, from
    # inside, so a link to a socket the init holds or one of the host's
    # reaches nothing
    my $ok = scall(path => '/linkok')->{headers}{'x-instance'};
    for my $to ('/proc/1/fd/5', '/proc/self/fd/5', '/proc/1/fd/4',
                $ex->socket, '/run/systemd/journal/socket', '/dev/log',
                'lsnr.sock') {
        my $r = scall(path => '/link', route => { config => { LINK_TO => $to } });
        is($r->{status}, 502, "a link to $to: 502") or diag($r->{body});
        like($r->{error}, qr/did not listen on FN_LISTENER/, '  it never listened');
    }
    is(scall(path => '/linkok')->{headers}{'x-instance'}, $ok,
       'the executor serves on, its other instances too');
};

subtest 'an http-stream function hands the executor descriptors, floods its init' => sub {
    my $fds = sub { my @f = glob('/proc/' . $ex->pid . '/fd/*'); scalar @f };
    scall(path => '/fds');
    my $before = $fds->();
    for (1 .. 5) {
        my $r = scall(path => '/fds', body => 'x', headers => { 'X-Mode' => 'fds' });
        is($r->{status}, 200, 'an answer with 64 descriptors attached') or last;
    }
    cmp_ok($fds->(), '<=', $before + 2, 'the executor holds none of them');
    my $r = scall(path => '/chld', body => 'y', headers => { 'X-Mode' => 'sigchld' });
    is($r->{status}, 200, '2000 SIGCHLD at its init: the call is answered');
    my $n = scall(path => '/chld', body => 'z');
    is($n->{body}, 'z', '  and so is the next');
    is($n->{headers}{'x-instance'}, $r->{headers}{'x-instance'}, '  on the same instance');
};

subtest 'an http-stream function\'s stdout and stderr are its log' => sub {
    my $r = scall(path => '/slog', headers => { 'X-Mode' => 'log' });
    is($r->{status}, 200, 'a call that logs');
    for my $l ('stream stdout line 1', 'stream stderr line 1') {
        ok(FnTest::wait_until(5, sub { $ex->log =~ /msg="function stderr" call_id=$r->{id} .*line="$l"/ }),
           "'$l' is in the executor's log with the call id");
    }
};

subtest 'a function written with Fn\'s Node FDK, unchanged' => sub {
    my %node = (image => 'oci:node:v1', format => 'http-stream',
                memory => 256, config => { GREETING => 'hello from config' });
    my $a = call(path => '/node', route => \%node, body => 'hi node',
                 headers => { 'X-Mode' => 'status', 'X-Status' => 202 });
    is($a->{status}, 202, 'the status it sets') or diag($a->{body});
    is($a->{body}, 'hi node', 'its answer');
    is($a->{headers}{'x-fdk-test'}, 'yes', 'a header it sets');
    is($a->{headers}{'content-type'}, 'text/plain', 'its content type');
    is($a->{headers}{'x-call-id'}, $a->{id}, 'ctx.callID is the call id');
    is($a->{headers}{'x-config'}, 'hello from config', 'ctx.config');
    like($a->{headers}{'x-deadline'}, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d/,
         'ctx.deadline');
    my $b = call(path => '/node', route => \%node, body => 'again');
    is($b->{status}, 200, 'the next call: 200');
    is($b->{body}, 'again', '  its answer');
    is($b->{headers}{'x-instance'}, $a->{headers}{'x-instance'},
       '  the same process');
    is($b->{headers}{'x-pid'}, $a->{headers}{'x-pid'}, '  the same pid');
    is($b->{headers}{'x-seen'}, 2, '  its second call');
    my $t = call(path => '/node', route => \%node,
                 headers => { 'X-Mode' => 'throw' });
    is($t->{status}, 502, 'the handler throws: 502');
    like($t->{body}, qr/Exception in function/, '  the FDK\'s message');
    my $c = call(path => '/node', route => \%node, body => 'after');
    is($c->{headers}{'x-instance'}, $a->{headers}{'x-instance'},
       '  and the process serves on');
    my $e = call(path => '/node', route => \%node,
                 headers => { 'X-Mode' => 'exit' });
    is($e->{status}, 502, 'the process exits during a call: 502');
    my $d = call(path => '/node', route => \%node, body => 'new');
    is($d->{status}, 200, '  the next call is served');
    isnt($d->{headers}{'x-instance'}, $a->{headers}{'x-instance'},
         '  by a new process');
};

subtest 'the executor stops while an http-stream instance waits to listen' => sub {
    my $file = $ex->dir . '/bg-deaf';
    my $pid = fork // die;
    if ($pid == 0) {
        my $r = scall(path => '/deaf2',
                      route => { config => { NEVER_LISTEN => '1' } });
        FnTest::spew($file, $json->encode({ status => $r->{status},
                                            error => $r->{error} }));
        POSIX::_exit(0);
    }
    # its instance starts and asks for the listener (it never listens)
    select(undef, undef, undef, 0.5);
    my $status = $ex->stop('TERM', 15);
    is($status, 0, 'the executor exits with 0 (drain_timeout 1 s)');
    waitpid($pid, 0);
    my $r = decode_json(FnTest::slurp($file) // '{}');
    is($r->{status}, 503, 'the waiting call is answered 503');
    like($r->{error} // '', qr/shutting down/, '  saying why');
    is(scalar(my @g = $ex->sandbox_groups), 0, 'no sandbox is left');
};

done_testing();
