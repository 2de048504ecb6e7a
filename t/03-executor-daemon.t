# The executor daemon: its socket, HTTP/1.1 handling, the TCP secret,
# bad input, reload and drain.
use strict;
use warnings;
use lib 't/lib', 'scripts/lib';

use FnTest qw(executor_start unix_request http_request free_port tmpdir
              spew slurp wait_until build_dir);
use IO::Socket::UNIX;
use Socket qw(SOCK_STREAM);
use Test::More;

my $secret = 'a' x 24;
my $dir = tmpdir();
spew("$dir/secret", "$secret\n", 0600);
my $tcp_port = free_port();

my $ex = executor_start(listen_tcp => "127.0.0.1:$tcp_port",
                        secret_file => "$dir/secret",
                        max_request_body => '1k',
                        max_request_header => '48k',
                        read_timeout => '1s');

subtest 'the socket answers health and version' => sub {
    my $r = unix_request($ex->socket, 'GET', '/health');
    is($r->{status}, 200, 'GET /health is 200');
    is($r->{body}, '{"status":"ok"}', 'and says ok');
    is($r->{headers}{'content-type'}, 'application/json', 'as JSON');
    $r = unix_request($ex->socket, 'GET', '/version');
    like($r->{body}, qr/^\{"version":"\d+\.\d+\.\d+"\}$/, 'GET /version');
    $r = unix_request($ex->socket, 'HEAD', '/health');
    is($r->{status}, 200, 'HEAD /health is 200');
    is($r->{body}, '', 'with no body');
    is(sprintf('%04o', (stat $ex->socket)[2] & 07777), '0666',
       'the socket has the configured mode');
};

subtest 'unknown endpoints and methods are JSON errors' => sub {
    my $r = unix_request($ex->socket, 'GET', '/nope');
    is($r->{status}, 404, 'unknown path is 404');
    is($r->{body}, '{"error":{"message":"no such endpoint"}}', 'JSON body');
    $r = unix_request($ex->socket, 'POST', '/health', body => 'x');
    is($r->{status}, 405, 'POST /health is 405');
};

subtest 'keep-alive and pipelining on one connection' => sub {
    my $req = "GET /health HTTP/1.1\r\nHost: x\r\n\r\n";
    my @r = unix_request($ex->socket, undef, undef,
        raw => $req x 3 . "GET /version HTTP/1.1\r\nHost: x\r\n"
               . "Connection: close\r\n\r\n");
    is(scalar @r, 4, 'four pipelined requests get four responses');
    is_deeply([ map { $_->{status} } @r ], [200, 200, 200, 200],
              'all 200, in order');
    like($r[3]{body}, qr/version/, 'the last one is the version');
    is($r[3]{headers}{connection}, 'close', 'Connection: close is honoured');
};

subtest 'malformed and oversized requests' => sub {
    my $r = unix_request($ex->socket, undef, undef,
                         raw => "GARBAGE\r\n\r\n");
    is($r->{status}, 400, 'garbage is 400');
    like($r->{body}, qr/"message":"malformed HTTP request"/, 'JSON error');
    is($r->{headers}{connection}, 'close', 'and the connection is closed');

    $r = unix_request($ex->socket, undef, undef,
        raw => "GET /health HTTP/1.1\r\nHost: x\r\nX-Big: "
               . ('b' x (49 * 1024)) . "\r\n\r\n");
    is($r->{status}, 431, 'headers over max_request_header are 431');

    $r = unix_request($ex->socket, 'POST', '/health', body => 'x' x 2000);
    is($r->{status}, 413, 'a body over max_request_body is 413');

    $r = unix_request($ex->socket, undef, undef,
        raw => "POST /health HTTP/1.1\r\nHost: x\r\n"
               . "Transfer-Encoding: chunked\r\n\r\n"
               . ("400\r\n" . ('c' x 1024) . "\r\n") x 2 . "0\r\n\r\n");
    is($r->{status}, 413, 'a chunked body over the limit is 413 too');

    $r = unix_request($ex->socket, undef, undef,
        raw => "GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
               . "Content-Length: 7\r\n\r\n12345");
    is($r->{status}, 400, 'conflicting Content-Length is 400');

    $r = unix_request($ex->socket, undef, undef,
                      raw => "GET /health HTTP/1.1\r\nHost: x\r\n",
                      timeout => 5);
    is($r->{status}, 408, 'a request that never ends gets 408 after '
                        . 'read_timeout');

    # many connections that say nothing do not stop the executor
    my @idle = map { IO::Socket::UNIX->new(Peer => $ex->socket,
                                           Type => SOCK_STREAM) } 1 .. 50;
    is(scalar(grep { defined } @idle), 50, '50 idle connections open');
    $r = unix_request($ex->socket, 'GET', '/health');
    is($r->{status}, 200, 'and the executor still answers');
    ok(wait_until(5, sub {
        my $buf;
        !grep { defined(sysread($_, $buf, 1)) && length $buf } @idle
            and !grep { my $n = sysread($_, $buf, 1); !defined $n || $n } @idle;
    }), 'idle connections are closed after read_timeout');
};

subtest 'TCP needs the shared secret' => sub {
    my $r = http_request($tcp_port, 'GET', '/health');
    is($r->{status}, 401, 'no secret: 401');
    like($r->{body}, qr/missing or wrong Fn-Executor-Secret/, 'saying why');
    $r = http_request($tcp_port, 'GET', '/health',
                      headers => { 'Fn-Executor-Secret' => 'a' x 23 });
    is($r->{status}, 401, 'a prefix of the secret: 401');
    $r = http_request($tcp_port, 'GET', '/health',
                      headers => { 'Fn-Executor-Secret' => $secret . 'a' });
    is($r->{status}, 401, 'the secret plus more: 401');
    $r = http_request($tcp_port, 'GET', '/health',
                      headers => { 'Fn-Executor-Secret' => $secret });
    is($r->{status}, 200, 'the right secret: 200');
    $r = unix_request($ex->socket, 'GET', '/health');
    is($r->{status}, 200, 'the Unix socket needs none');
};

subtest 'log lines are logfmt' => sub {
    my @lines = split /\n/, $ex->log;
    ok(@lines > 0, 'the executor logs');
    my $pair = qr/[A-Za-z_][A-Za-z0-9_.]*=(?:"(?:[^"\\]|\\.)*"|[^\s"=]+)/;
    my @bad = grep { !/^$pair(?: $pair)*$/ } @lines;
    is_deeply(\@bad, [], 'every line is key=value pairs');
    like($ex->log, qr/^time=\S+ level=info msg="executor started" /m,
         'time, level and msg come first');
};

subtest 'SIGHUP: a bad configuration is refused, the old one kept' => sub {
    my $conf = slurp($ex->conf);
    spew($ex->conf, $conf . "nonsense = 1\n");
    kill 'HUP', $ex->pid;
    ok(wait_until(5, sub { $ex->log =~ /reload failed, keeping the running configuration/ }),
       'the bad configuration is logged');
    like($ex->log, qr/unknown key \\"nonsense\\"/, 'with the reason');
    is(unix_request($ex->socket, 'GET', '/health')->{status}, 200,
       'and the executor keeps serving');
    spew($ex->conf, $conf =~ s/max_request_body = 1k/max_request_body = 4k/r);
    kill 'HUP', $ex->pid;
    ok(wait_until(5, sub { $ex->log =~ /configuration reloaded/ }),
       'a good configuration is taken');
    is(unix_request($ex->socket, 'POST', '/health', body => 'x' x 2000)
           ->{status}, 405, 'with its new body limit');
    # async and database settings are not reread: a reload says so
    my $now = slurp($ex->conf);
    spew($ex->conf, $now . "async_retries = 7\n");
    kill 'HUP', $ex->pid;
    ok(wait_until(5, sub { $ex->log =~ /reloaded in part/ }),
       'a changed async setting is not taken');
    like($ex->log, qr/async \(amqp_\*, async_\*\) and database \(mysql_\*\) settings change only on restart/,
         '  saying a restart takes it');
    spew($ex->conf, $now);
};

subtest 'a second executor does not steal a live socket' => sub {
    my $out = `printf 'listen = %s\\nimage_dir = %s\\nstate_dir = %s\\n' \\
                   @{[ $ex->socket ]} $dir/images $dir/state2 > $dir/second.conf; \\
               @{[ build_dir() ]}/functions-executor -c $dir/second.conf 2>&1`;
    isnt($?, 0, 'a second executor on the same socket fails');
    like($out, qr/is in use by a running process/, 'and says why');
    is(unix_request($ex->socket, 'GET', '/health')->{status}, 200,
       'the first keeps its socket');
};

# Everything a peer sends until it closes (or $seconds pass).
sub read_all {
    my ($sock, $seconds) = @_;
    my $data = '';
    my $rin = '';
    vec($rin, fileno($sock), 1) = 1;
    my $deadline = time + $seconds;
    while (time < $deadline) {
        select(my $rout = $rin, undef, undef, 0.2) or next;
        sysread($sock, my $buf, 65536) or last;
        $data .= $buf;
    }
    return $data;
}

subtest 'SIGTERM drains and removes the socket' => sub {
    local $SIG{PIPE} = 'IGNORE';    # a closed connection fails a test only
    my $busy = IO::Socket::UNIX->new(Peer => $ex->socket, Type => SOCK_STREAM);
    print $busy "GET /health HTTP/1.1\r\nHost: x\r\n";   # half a request
    $busy->flush;
    my $idle = IO::Socket::UNIX->new(Peer => $ex->socket, Type => SOCK_STREAM);
    # requests on later connections are answered after the executor took
    # (and read) these two
    unix_request($ex->socket, 'GET', '/health') for 1 .. 2;
    kill 'TERM', $ex->pid;
    ok(wait_until(5, sub { $ex->log =~ /msg="stop signal, draining"/ }),
       'draining is logged');
    like($ex->log, qr/msg="stop signal, draining" \S+ connections=2 /,
         '  with the two connections open');
    ok(wait_until(5, sub { !-e $ex->socket }), 'its socket file is removed');
    is(read_all($idle, 5), '', 'an idle connection is closed at once');
    # the half-sent request is still read and answered
    print $busy "\r\n";
    $busy->flush;
    my $answer = read_all($busy, 10);
    like($answer, qr{^HTTP/1.1 503 }, 'the request begun before the signal '
         . 'is answered: /health says 503 while draining');
    like($answer, qr/^Connection: close\r$/mi, '  and the connection closes');
    like($answer, qr/"message":"executor is shutting down"/, '  as JSON');
    my $status = $ex->stop(0, 10);
    ok(defined $status, 'the executor exits once it answered');
    is($status, 0, 'with status 0');
    like($ex->log, qr/msg="executor stopped"/, 'and the stop is logged');
};

subtest 'a second stop signal stops at once' => sub {
    my $e = executor_start(drain_timeout => '60s');
    my $busy = IO::Socket::UNIX->new(Peer => $e->socket, Type => SOCK_STREAM);
    print $busy "GET /health HTTP/1.1\r\nHost: x\r\n";   # half a request
    $busy->flush;
    unix_request($e->socket, 'GET', '/health') for 1 .. 2;
    kill 'TERM', $e->pid;
    ok(wait_until(5, sub { $e->log =~ /msg="stop signal, draining" \S+ connections=1 / }),
       'a first SIGTERM: draining a begun request, for up to 60 s');
    is(read_all($busy, 1), '', '  which it waits for');
    my $status = $e->stop('TERM', 10);
    ok(defined $status, 'a second SIGTERM: the executor exits');
    is($status, 0, '  with status 0');
    like($e->log, qr/msg="second stop signal, stopping now"/, '  saying so');
};

subtest 'a stale socket file of an earlier run is replaced' => sub {
    my $ex2 = executor_start(listen => "$dir/stale.sock");
    $ex2->stop('KILL', 5);
    ok(-S "$dir/stale.sock", 'a killed executor leaves its socket');
    my $ex3 = executor_start(listen => "$dir/stale.sock");
    is(unix_request($ex3->socket, 'GET', '/health')->{status}, 200,
       'a new executor takes it over');
};

subtest 'bad configurations are refused at start' => sub {
    my $bin = build_dir() . '/functions-executor';
    for my $case (
        [ "listen = /x.sock\nlisten_tcp = 127.0.0.1:1\n",
          qr/\\"listen_tcp\\" needs \\"secret_file\\"/ ],
        [ "log_level = chatty\n",
          qr/line 3: invalid log_level \\"chatty\\"/ ],
        [ "", qr/\\"listen\\" is required/ ],
    ) {
        my $stores = $case->[0] eq '' ? ''
                   : "image_dir = $dir/images\nstate_dir = $dir/state2\n";
        spew("$dir/bad.conf", $stores . $case->[0]);
        my $out = `$bin -t -c $dir/bad.conf 2>&1`;
        isnt($?, 0, 'refused: ' . ($case->[0] =~ s/\n/ /gr));
        like($out, $case->[1], 'with the reason');
    }
    my $out = `$bin -c $dir/does-not-exist.conf 2>&1`;
    like($out, qr/cannot open .*does-not-exist.conf/, 'a missing file');
    spew("$dir/short.conf", "image_dir = $dir/images\nstate_dir = $dir/state2\n"
         . "listen = $dir/s.sock\nlisten_tcp = 127.0.0.1:"
         . free_port() . "\nsecret_file = $dir/short-secret\n");
    spew("$dir/short-secret", "tooshort\n");
    $out = `$bin -c $dir/short.conf 2>&1`;
    like($out, qr/must have 16 to 511 bytes/, 'a secret that is too short');
};

subtest 'sandbox_uids_owner: only a system user without a login' => sub {
    # whoever owns subordinate ids may map them: a login user, root or a
    # name that is nobody's cannot hold the reservation (the positive
    # case, the package's functions-sandbox, is in t/25-packages.t)
    for my $case ([ 'root', qr/must be a system user/ ],
                  [ 'nobody', qr/must be a system user/ ],
                  [ 'no-such-user-here', qr/is no user of this host/ ]) {
        my $e = eval { executor_start(sandbox_uids_owner => $case->[0]) };
        ok(!$e, "$case->[0] is refused at start");
        like($@, $case->[1], '  saying why');
    }
};

done_testing();
