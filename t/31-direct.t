# Direct dispatch through nginx: with functions_direct, a worker leases hot
# instances of http routes from the executor and writes their calls to
# them itself.  What reaches the client must be what the executor's own
# path gives, and a hostile function must gain nothing from nginx reading
# it directly.
use strict;
use warnings;
use lib 't/lib', 'scripts/lib';

use FnImage;
use FnTest qw(need_stack executor_start nginx_start fresh_database db_query
              http_request wait_until slurp tmpdir top executors_upstream
              functions_mysql);
use JSON::PP;
use POSIX ();
use Test::More;
use Time::HiRes qw(time sleep);

my $env = need_stack();
my $db = fresh_database();
my $tmp = tmpdir();

system('cc', '-static', '-O2', '-Wall', '-o', "$tmp/hot", top() . '/t/fn/hot.c') == 0
    or BAIL_OUT('cannot build t/fn/hot.c');

my $ex_now;
my $ex = $ex_now = executor_start(direct_listen => "$tmp/direct.sock",
                        max_response_body => '64k', max_sandboxes => 8);
FnImage::build($ex->dir . '/images/hot', tag => 'v1',
    config => { Cmd => ['/fn/hot'] },
    layers => [ [ [ 'fn', dir => 1 ],
                  [ 'fn/hot', file => "$tmp/hot", mode => 0755 ] ] ]);

my $server_conf = <<'CONF';
        location /r/ {
            functions_route;
            proxy_pass http://executors$fn_executor_uri;
            include functions_params;
            add_header X-Upstream $upstream_addr always;
        }

        location = /secret {
            return 200 "internal location reached\n";
        }
CONF

sub start_nginx {
    return nginx_start(workers => 1, http => <<CONF, server => $server_conf);
    ${\ functions_mysql($db) }
    functions_route_cache zone=routes:1m valid=60s not_found=2s;
    functions_direct $tmp/direct.sock;

${\ executors_upstream([$ex], server => 'max_fails=0') }
CONF
}
my $ng = start_nginx();

sub route {
    my ($path, %f) = @_;
    db_query($db, "INSERT IGNORE INTO apps (name, config) VALUES ('demo', '{}')");
    db_query($db, "REPLACE INTO routes (app_name, path, image, format, timeout, "
             . "max_concurrency, idle_timeout, headers) VALUES ('demo', '$path', "
             . "'oci:hot:v1', '" . ($f{format} // 'http') . "', "
             . ($f{timeout} // 10) . ", " . ($f{max_concurrency} // 4)
             . ", 60, '" . encode_json($f{headers} // {}) . "')");
}

sub call {
    my ($path, %o) = @_;
    my $r = http_request($ng->port, $o{method} // 'POST', "/r/demo$path",
                         headers => $o{headers} // {}, body => $o{body} // '',
                         timeout => $o{timeout} // 30);
    $r->{h} = { map { lc($_) => $r->{headers}{$_} } keys %{ $r->{headers} // {} } };
    return $r;
}

sub direct { ($_[0]{h}{'x-upstream'} // '') =~ /^direct:/ }

# Calls until one goes direct (the first ones go to the executor while the
# worker's lease is asked for and granted).
sub direct_call {
    my ($path, %o) = @_;
    my $r;
    for (1 .. 50) {
        $r = call($path, %o);
        return $r if direct($r);
        sleep 0.05;
    }
    return $r;
}

my $log = sub { slurp($ex->dir . '/executor.log') // '' };

route('/hot', headers => { 'X-Route' => ['r1'] });

subtest 'calls go direct once a lease is there' => sub {
    my $r = call('/hot', body => 'first');
    is($r->{status}, 200, 'the first call answers') or diag($r->{body});
    like($r->{h}{'x-upstream'}, qr/^unix:/, 'through the executor');
    $r = direct_call('/hot', body => 'payload', headers => { 'X-In' => 'abc' });
    ok(direct($r), 'a later call goes to a leased instance')
        or diag($r->{h}{'x-upstream'});
    is($r->{status}, 200, 'and answers 200');
    is($r->{body}, 'payload', 'with its body');
    is($r->{h}{'x-in'}, 'abc', 'the client headers reached the function');
    like($r->{h}{'fn-call-id'} // '', qr/^[0-9A-Z]{26}$/, 'Fn-Call-Id is there');
    is($r->{h}{'x-call-id'}, $r->{h}{'fn-call-id'},
       'and is the one the function was given');
    is($r->{h}{'x-route'}, 'r1', "the route's header is added");
};

# The same requests through a second nginx without functions_direct (the
# executor's path): the client sees the same answer, but for what differs
# per call.
my $plain = nginx_start(workers => 1, http => <<CONF, server => $server_conf);
    ${\ functions_mysql($db) }
    functions_route_cache zone=routes:1m valid=60s not_found=2s;

${\ executors_upstream([$ex], server => 'max_fails=0') }
CONF

sub plain_call {
    my ($path, %o) = @_;
    my $r = http_request($plain->port, $o{method} // 'POST', "/r/demo$path",
                         headers => $o{headers} // {}, body => $o{body} // '',
                         timeout => 30);
    $r->{h} = { map { lc($_) => $r->{headers}{$_} } keys %{ $r->{headers} // {} } };
    return $r;
}

sub comparable {
    my ($r) = @_;
    my %h = %{ $r->{h} };
    delete @h{qw(date fn-call-id x-call-id x-upstream x-instance x-pid x-seen
                 connection transfer-encoding content-length)};
    my $body = $r->{body};
    # the call's own id, and what the executor's parser and nginx's say
    # of the same malformed answer
    $body =~ s/"call_id":"\w{26}"/"call_id":"ID"/;
    $body =~ s/(function answered badly: ).*?"/$1..."/;
    $body =~ s/"function (exited|closed) .*?"/"function ended"/;
    return { status => $r->{status}, body => $body, headers => \%h };
}

route('/typed', headers => { 'Content-Type' => ['application/x-route'],
                             'X-Route' => ['a', 'b'] });

route('/slow', timeout => 1);

my @cases = (
    [ 'echo', '/hot', headers => { 'X-In' => 'v' }, body => 'abc' ],
    [ 'a typeless text answer', '/hot', headers => { 'X-Mode' => 'raw' }, body => 'text' ],
    [ 'a typeless binary answer', '/hot', headers => { 'X-Mode' => 'raw' }, body => "\x00\x01\xff" ],
    [ 'an empty answer', '/hot', headers => { 'X-Mode' => 'raw' } ],
    [ "the route's type", '/typed', headers => { 'X-Mode' => 'raw' }, body => 'x' ],
    [ "the function's type over the route's", '/typed',
      headers => { 'X-Mode' => 'raw', 'X-Raw1' => 'Content-Type: text/x-fn' } ],
    [ 'hop-by-hop and framing headers', '/hot',
      headers => { 'X-Mode' => 'raw', 'X-Raw1' => 'Keep-Alive: timeout=5',
                   'X-Raw2' => 'Upgrade: h2c' }, body => 'y' ],
    [ 'platform headers', '/hot',
      headers => { 'X-Mode' => 'raw', 'X-Raw1' => 'X-Accel-Buffering: no',
                   'X-Raw2' => 'Fn-Whatever: 1' }, body => 'z' ],
    [ 'a status of its own', '/hot',
      headers => { 'X-Mode' => 'raw', 'X-Status' => 418, 'X-Raw1' => 'X-Teapot: yes' } ],
    [ 'a HEAD', '/hot', method => 'HEAD' ],
    [ 'a HEAD answered with a length', '/hot', method => 'HEAD',
      headers => { 'X-Mode' => 'headlen' } ],
    [ 'an answer without Content-Length', '/hot', headers => { 'X-Mode' => 'nolength' } ],
    [ 'a chunked answer', '/hot', headers => { 'X-Mode' => 'raw',
      'X-Raw1' => 'Transfer-Encoding: chunked' } ],
    [ 'a 101', '/hot', headers => { 'X-Mode' => 'raw', 'X-Status' => 101,
      'X-Raw1' => 'Upgrade: websocket', 'X-Raw2' => 'Connection: Upgrade',
      'Upgrade' => 'websocket' } ],
    [ 'a status under 200', '/hot', headers => { 'X-Mode' => 'raw', 'X-Status' => 199 } ],
    [ 'an answer over max_response_body', '/hot', headers => { 'X-Mode' => 'big' } ],
    [ 'a function that exits', '/hot', headers => { 'X-Mode' => 'exit' } ],
    [ 'too many headers', '/hot', headers => { 'X-Mode' => 'raw', 'X-Many' => 150 } ],
    [ 'a function past its timeout', '/slow', headers => { 'X-Mode' => 'hang' } ],
    [ 'a GET with a query', '/hot?a=1&b=2', method => 'GET', headers => { 'X-In' => 'q' } ],
);

for my $c (@cases) {
    my ($name, $path, %o) = @$c;
    direct_call($path);         # a lease for the route first
    my $d = call($path, %o);
    my $e = plain_call($path, %o);
    ok(direct($d), "$name: direct") or diag($d->{h}{'x-upstream'});
    is_deeply(comparable($d), comparable($e), "$name: as through the executor")
        or diag(explain([comparable($d), comparable($e)]));
}

subtest 'the request the function reads is the http format' => sub {
    my $r = direct_call('/hot', method => 'PUT', body => 'x',
                        headers => { 'X-Env-Name' => 'FN_FORMAT' });
    ok(direct($r), 'direct');
    is($r->{status}, 200, 'a PUT answers');
    my $r2 = direct_call('/hot?q=1', headers => { 'X-Mode' => 'raw',
        'X-Raw1' => 'X-Got: yes' });
    ok(direct($r2), 'direct');
};

subtest 'an answer with the platform headers: none reaches the client' => sub {
    my $r = direct_call('/hot', headers => {
        'X-Mode' => 'raw', 'X-Status' => 200,
        'X-Raw1' => 'X-Accel-Redirect: /secret',
        'X-Raw2' => 'Fn-Call-Id: 00000000000000000000000000' });
    ok(direct($r), 'direct');
    is($r->{status}, 200, 'X-Accel-Redirect is not followed');
    unlike($r->{body}, qr/internal location/, 'the internal location is not reached');
    ok(!exists $r->{h}{'x-accel-redirect'}, 'nor passed on');
    isnt($r->{h}{'fn-call-id'}, '00000000000000000000000000', 'Fn-Call-Id is not the function\'s');
};

subtest "a function's 503 with the executor's busy mark is not retried" => sub {
    my $r = direct_call('/hot', headers => {
        'X-Mode' => 'raw', 'X-Status' => 503, 'X-Raw1' => 'Fn-Executor-Busy: 1' });
    ok(direct($r), 'direct');
    is($r->{status}, 503, "the function's 503 goes to the client");
    ok(!exists $r->{h}{'fn-executor-busy'}, 'without the mark');
    unlike($r->{h}{'x-upstream'}, qr/,/, 'and no second try was made');
};

subtest 'an answer over max_response_body is a 502' => sub {
    my $r = direct_call('/hot', headers => { 'X-Mode' => 'big' });
    ok(direct($r), 'direct');
    is($r->{status}, 502, 'a 502');
};

subtest 'a head begun and never ended: 502, nothing of it reaches the client' => sub {
    for my $status (200, 100, 101) {
        my $r = direct_call('/hot', headers => { 'X-Mode' => 'halfhead',
            'X-Status' => $status, 'Upgrade' => 'websocket' });
        ok(direct($r), "$status: direct");
        is($r->{status}, 502, "$status: a 502");
        ok(!exists $r->{h}{'x-forged'}, "$status: without the function's header");
        my $after = call('/hot', body => 'next');
        is($after->{body}, 'next', "$status: the next call answers");
    }
};

subtest 'a function that answers twice: the client gets the first, the instance goes' => sub {
    my $r = direct_call('/hot', headers => { 'X-Mode' => 'twice' });
    ok(direct($r), 'direct');
    is($r->{status}, 200, 'the first answer');
    ok(wait_until(10, sub { $log->() =~ /hot instance stopped.*reason="nginx: / }),
       'the instance is killed');
    $r = call('/hot', body => 'after');
    is($r->{status}, 200, 'the next call answers');
    is($r->{body}, 'after', 'with its own body');
};

subtest 'a function past the route timeout: 504, and killed' => sub {
    route('/slow', timeout => 1);
    my $r = direct_call('/slow', body => 'x');
    ok(direct($r), 'a lease for the route');
    my $t = time;
    $r = call('/slow', headers => { 'X-Mode' => 'hang' });
    ok(direct($r), 'the hanging call went direct');
    is($r->{status}, 504, 'a 504');
    ok(time - $t < 5, 'after about the route timeout');
    ok(wait_until(10, sub { $log->() =~ /hot instance stopped.*nginx: timed out/ }),
       'the instance is killed');
};

subtest 'a function that exits during a call: 502, then calls go on' => sub {
    my $r = direct_call('/hot', headers => { 'X-Mode' => 'exit' });
    ok(direct($r), 'direct');
    is($r->{status}, 502, 'a 502');
    $r = call('/hot', body => 'on');
    is($r->{status}, 200, 'the next call answers');
};

subtest 'the executor restarts: calls go on' => sub {
    my $r = direct_call('/hot');
    ok(direct($r), 'direct before');
    # a call under way on a leased instance when the executor is told to
    # stop: it is asked back, and the drain waits for it
    my $pid = fork() // die;
    if ($pid == 0) {
        my $r = call('/hot', headers => { 'X-Mode' => 'sleep', 'X-Sleep' => 1500 },
                     body => 'in flight');
        POSIX::_exit(direct($r) && $r->{status} == 200
                     && $r->{body} eq 'in flight' ? 0 : 1);
    }
    sleep 0.5;
    $ex->stop;
    waitpid($pid, 0);
    is($?, 0, 'a direct call under way when the executor stops ends well');
    my $again = $ex_now = executor_start(listen => $ex->socket,
                               direct_listen => "$tmp/direct.sock",
                               max_response_body => '64k');
    FnImage::build($again->dir . '/images/hot', tag => 'v1',
        config => { Cmd => ['/fn/hot'] },
        layers => [ [ [ 'fn', dir => 1 ],
                      [ 'fn/hot', file => "$tmp/hot", mode => 0755 ] ] ]);
    my $ok = 0;
    for (1 .. 20) {
        $r = call('/hot', body => 'again');
        $ok++ if $r->{status} == 200 && $r->{body} eq 'again';
    }
    ok($ok >= 19, "calls answer after the restart ($ok of 20)");
    $r = direct_call('/hot', body => 'direct again');
    ok(direct($r), 'and go direct again');
};

subtest 'descriptors a function attaches to its answer reach nobody' => sub {
    my ($worker) = grep { /^\d+$/ }
        split /\s+/, `pgrep -P $ng->{pid}`;
    ok($worker, 'the nginx worker') or return;
    my $dirs = sub { scalar grep { -d } map { "/proc/$worker/fd/$_" }
                     grep { /^\d+$/ } map { s{.*/}{}r } glob("/proc/$worker/fd/*") };
    my $before = $dirs->();
    my $n = 0;
    for (1 .. 10) {
        my $r = direct_call('/hot', headers => { 'X-Mode' => 'passfd' });
        $n++ if direct($r) && $r->{status} == 200 && $r->{body} eq 'fd';
    }
    is($n, 10, 'the answers come through');
    is($dirs->(), $before, 'and the worker holds no directory it did not have');
    my $r = plain_call('/hot', headers => { 'X-Mode' => 'passfd' });
    is($r->{body}, 'fd', 'through the executor too');
    my $edirs = scalar grep { -d } glob("/proc/" . $ex_now->pid . "/fd/*");
    is($edirs, 0, 'which holds no directory either');
};

subtest 'other formats stay on the executor' => sub {
    # (t/fn/hot.c speaks no json: each call times out, after a second)
    route('/json', format => 'json', timeout => 1);
    my $r;
    $r = call('/json', body => '{}') for 1 .. 2;
    unlike($r->{h}{'x-upstream'} // '', qr/^direct:/, 'a json route is not leased');
};

done_testing();
