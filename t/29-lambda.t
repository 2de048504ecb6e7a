# Format lambda: AWS Lambda's Runtime API (2018-06-01), served to each
# instance on the loopback of its sandbox's own network.  A custom runtime
# written as AWS documents them (t/fn/lambda/bootstrap: sh and curl) runs
# unchanged: its events, request ids and deadlines, its environment, its
# errors, API Gateway's events and proxy answers; and a runtime that
# misbehaves (another request id, a second response, never asking, an
# init error, dying in a call) is answered clearly, never hangs a call.
use strict;
use warnings;
use lib 't/lib', 'scripts/lib';

use FnImage;
use FnTest qw(executor_start unix_request tmpdir top);
use Archive::Tar;
use IO::Compress::Zip ();
use IO::Socket::INET;
use JSON::PP;
use Test::More;
use Time::HiRes qw(time);

my $json = JSON::PP->new->canonical;

my $ex = executor_start(max_sandboxes => 4, listen_timeout => '2s',
                        max_response_body => '1m');
FnImage::build($ex->dir . '/images/sh', tag => 'v1',
    config => { Cmd => [ '/var/task/bootstrap' ], WorkingDir => '/var/task' },
    layers => [ FnImage::busybox_layer(), FnImage::host_layer('/usr/bin/curl'),
                [ [ 'var', dir => 1 ], [ 'var/task', dir => 1 ],
                  [ 'tmp', dir => 1, mode => 01777 ],
                  [ 'var/task/bootstrap',
                    file => top() . '/t/fn/lambda/bootstrap', mode => 0755 ] ] ]);

my $n = 0;
sub call {
    my (%o) = @_;
    my $id = sprintf('01ARZ3NDEKTSV4RRFFQ69M%04d', $n++);
    my %route = (app => 'lam', path => $o{path} // '/sh',
                 image => 'oci:' . ($o{image} // 'sh') . ':v1',
                 format => 'lambda', timeout => $o{timeout} // 10,
                 config => { _HANDLER => 'function.handler',
                             %{ $o{config} // {} } });
    my $t0 = time;
    my $r = unix_request($ex->socket, 'POST', '/call',
        headers => { 'Fn-Call-Id' => $id, 'Fn-Method' => 'POST',
                     'Fn-Request-Url' => 'http://example.com/r/lam/sh?q=1',
                     'Fn-Route' => $json->encode(\%route),
                     %{ $o{headers} // {} } },
        body => $o{body} // '', timeout => 30);
    $r->{id} = $id;
    $r->{seconds} = time - $t0;
    $r->{json} = eval { decode_json($r->{body}) };
    return $r;
}

subtest 'a custom runtime: its event, id, deadline and environment' => sub {
    my $before = int(time * 1000);
    my $r = call(body => '{"do":"echo","n":1}');
    is($r->{status}, 200, 'answered 200') or diag($r->{body}, $ex->log);
    my $j = $r->{json} // {};
    is($j->{id}, $r->{id}, 'Lambda-Runtime-Aws-Request-Id is the call id');
    ok($j->{deadline} > $before + 5000 && $j->{deadline} <= int(time * 1000) + 10_000,
       'Lambda-Runtime-Deadline-Ms: the route timeout from now');
    is_deeply($j->{event}, { do => 'echo', n => 1 }, 'the event is the body');
    is($j->{handler}, 'function.handler', '_HANDLER from the route config');
    is($j->{name}, 'lam_sh', 'AWS_LAMBDA_FUNCTION_NAME');
    is($j->{memory}, '128', 'AWS_LAMBDA_FUNCTION_MEMORY_SIZE');
    is($j->{version}, '$LATEST', 'AWS_LAMBDA_FUNCTION_VERSION');
    is($j->{root}, '/var/task', 'LAMBDA_TASK_ROOT');
    like($r->{headers}{'content-type'} // '', qr{^application/json}, 'application/json');
    my $again = call(body => '{"do":"echo","n":2}');
    is($again->{json}{event}{n}, 2, 'the instance serves the next call');
    like($ex->log, qr/runtime: event $again->{id}/, 'its stderr is the call\'s log');
    my $empty = call(body => '');
    is_deeply($empty->{json}{event}, {}, 'no body: the event {}');
};

subtest 'an error: 502 with its type and message' => sub {
    my $r = call(body => '{"do":"fail"}');
    is($r->{status}, 502, 'answered 502') or diag($r->{body});
    is($r->{json}{errorType}, 'Handler.Failed', 'errorType');
    is($r->{json}{errorMessage}, 'it failed on purpose', 'errorMessage');
    like($r->{json}{error}{message}, qr/^the function failed: Handler\.Failed: it failed/,
         'and the error message says both');
    is(call(body => '{"do":"echo"}')->{status}, 200, 'the next call is served');
};

subtest 'a response for another request id is refused' => sub {
    my $r = call(body => '{"do":"other"}');
    is($r->{status}, 200, 'the call gets its own response') or diag($r->{body});
    is($r->{json}{other_status}, 400, 'the one for another id got 400');
};

subtest 'a second response is refused' => sub {
    my $r = call(body => '{"do":"twice"}');
    is_deeply($r->{json}, { first => JSON::PP::true }, 'the first response answers');
    my $report = call(body => '{"do":"report"}');
    is($report->{json}{twice_status}, 400, 'the second one got 400');
};

subtest 'a runtime cannot make the executor hold more than one result' => sub {
    # max_response_body is 1m here: two 900 kB results at once are not
    my $r = call(body => '{"do":"hoard"}');
    is($r->{status}, 200, 'the call is answered') or diag($r->{body});
    is($r->{json}{second_status}, '413', 'the second half-sent result: 413');
};

subtest 'a "next" whose connection closes does not take the next event' => sub {
    my $r = call(body => '{"do":"ghost"}');
    is_deeply($r->{json}, { ghost => JSON::PP::true }, 'answered');
    my $next = call(body => '{"do":"echo","n":7}', timeout => 5);
    is($next->{status}, 200, 'the next call is served, not lost')
        or diag($next->{body});
    is($next->{json}{event}{n}, 7, '  with its event');
};

subtest 'a runtime that dies in a call' => sub {
    my $r = call(body => '{"do":"die"}');
    is($r->{status}, 502, 'answered 502') or diag($r->{body});
    like($r->{json}{error}{message} // '', qr/exited with status 3 during the call/,
         'says so');
    is(call(body => '{"do":"echo"}')->{status}, 200, 'a new instance serves the next');
};

subtest 'a runtime that never asks for its event' => sub {
    my $r = call(path => '/late', config => { MODE => 'late' });
    is($r->{status}, 502, 'answered 502') or diag($r->{body});
    like($r->{json}{error}{message} // '',
         qr{did not ask for its event \(GET /2018-06-01/runtime/invocation/next\) within 2000 ms},
         'says what it waited for');
    ok($r->{seconds} < 9, sprintf('within the bound, not the timeout (%.1f s)', $r->{seconds}));
};

subtest 'an init error' => sub {
    my $r = call(path => '/broken', config => { MODE => 'initfail' });
    is($r->{status}, 502, 'answered 502') or diag($r->{body});
    is($r->{json}{errorType}, 'Init.Broken', 'errorType');
    like($r->{json}{error}{message}, qr/^the function could not start: Init\.Broken: no handler here/,
         'says the function could not start');
};

subtest 'API Gateway: the event and the proxy answer' => sub {
    my $r = call(path => '/gw', config => { LAMBDA_EVENT => 'apigateway' },
                 body => '{"do":"apigw"}');
    is($r->{status}, 201, 'the answer\'s statusCode') or diag($r->{body});
    is($r->{headers}{'x-from'}, 'lambda', 'its headers');
    is($r->{headers}{'set-cookie'}, 'c=1', 'its cookies');
    is($r->{body}, 'made for /r/lam/sh', 'its body, made from rawPath');
};

subtest "AWS's runtime client for Node, from a deployment package" => sub {
    # a zip as AWS takes it, turned into an image by scripts/lambda-image
    my $zip = tmpdir() . '/function.zip';
    IO::Compress::Zip::zip([ top() . '/t/fn/lambda-node/index.js' ] => $zip,
                           FilterName => sub { s{.*/}{} })
        or die "zip: $IO::Compress::Zip::ZipError";
    my $out = `${\ top()}/scripts/lambda-image $zip ${\ $ex->dir}/images/node v1 2>&1`;
    is($?, 0, 'scripts/lambda-image makes an image of it') or diag($out);
    for my $bad ('../evil.js', '/etc/evil.js') {
        my $z = tmpdir() . '/bad.zip';
        IO::Compress::Zip::zip(\'x' => $z, Name => $bad)
            or die "zip: $IO::Compress::Zip::ZipError";
        my $o = `${\ top()}/scripts/lambda-image $z ${\ $ex->dir}/images/bad v1 2>&1`;
        isnt($?, 0, "a package with \"$bad\" is refused");
        like($o, qr/would land outside \/var\/task/, '  and says why');
    }
    {
        my $z = tmpdir() . '/link.zip';
        IO::Compress::Zip::zip(\'target' => $z, Name => 'l',
                               ExtAttr => 0120777 << 16)
            or die "zip: $IO::Compress::Zip::ZipError";
        my $o = `${\ top()}/scripts/lambda-image $z ${\ $ex->dir}/images/bad v1 2>&1`;
        isnt($?, 0, 'a package with a link is refused');
        like($o, qr/"l" is a link/, '  and says why');
    }
    {
        # the execute bit of an entry is kept (a bootstrap needs it)
        my $z = tmpdir() . '/exe.zip';
        IO::Compress::Zip::zip(\"#!/bin/sh\n" => $z, Name => 'run.sh',
                               ExtAttr => 0100755 << 16)
            or die "zip: $IO::Compress::Zip::ZipError";
        my $img = tmpdir() . '/exe-image';
        system(top() . '/scripts/lambda-image', $z, $img, 'v1') == 0
            or die 'lambda-image failed';
        my $index = decode_json(FnTest::slurp("$img/index.json"));
        my $blob = sub { "$img/blobs/" . ($_[0] =~ s/:/\//r) };
        my $manifest = decode_json(FnTest::slurp(
            $blob->($index->{manifests}[0]{digest})));
        my $tar = Archive::Tar->new($blob->($manifest->{layers}[-1]{digest}));
        my ($run) = grep { $_->full_path eq 'var/task/run.sh' } $tar->get_files;
        is($run && sprintf('%04o', $run->mode & 07777), '0755',
           'an executable entry stays executable');
    }
    my %node = (path => '/node', timeout => 20,
                config => { _HANDLER => 'index.handler' });
    my $r = call(%node, body => '{"hello":"world"}', image => 'node');
    is($r->{status}, 200, 'answered 200') or diag($r->{body}, $ex->log);
    my $j = $r->{json} // {};
    is($j->{requestId}, $r->{id}, 'context.awsRequestId is the call id');
    # the deadline is the call's start and the route's timeout: the
    # handler runs within a millisecond or so of it
    ok(defined $j->{remaining} && $j->{remaining} > 10_000
       && $j->{remaining} <= 20_000,
       "getRemainingTimeInMillis() is within the route's timeout ("
       . ($j->{remaining} // 'none') . ' ms of 20000)');
    is($j->{functionName}, 'lam_node', 'context.functionName');
    is($j->{memory}, '128', 'context.memoryLimitInMB');
    is_deeply($j->{event}, { hello => 'world' }, 'the event');
    my $e = call(%node, body => '{"throw":"no luck"}', image => 'node');
    is($e->{status}, 502, 'a thrown error: 502') or diag($e->{body});
    is($e->{json}{errorType}, 'CustomError', 'with its type');
    is($e->{json}{errorMessage}, 'no luck', 'and its message');
    my $next = call(%node, body => '{"n":3}', image => 'node');
    is($next->{json}{event}{n}, 3, 'the instance serves the next call');
};

subtest 'the Runtime API is the instance\'s alone' => sub {
    # from inside: the host's loopback is out of reach, and the API's port
    # cannot be taken over by a second listener
    my $host = IO::Socket::INET->new(Listen => 5, LocalAddr => '127.0.0.1',
                                     LocalPort => 0, ReuseAddr => 1)
        or die "listen: $!";
    my $r = call(body => '{"do":"probe","port":' . $host->sockport . '}');
    is($r->{status}, 200, 'answered 200') or diag($r->{body});
    is($r->{json}{curl_exit}, 7, 'a port of the host\'s loopback: '
       . 'connection refused (its own loopback has nothing there)');
    is($r->{json}{other_listener}, 1, '(the function may listen on another port)');
    is($r->{json}{second_listener}, 0, 'no second listener on the API\'s port');

    # the host's 127.0.0.1:9001 is not it (nothing, or something else)
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1:9001', Timeout => 2);
    my $answer = '';
    if ($s) {
        print $s "GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: x\r\n\r\n";
        $s->timeout(2);
        sysread($s, $answer, 4096);
    }
    unlike($answer, qr/Lambda-Runtime-Aws-Request-Id/i,
           'the host\'s loopback does not serve any instance\'s events');
};

done_testing();
