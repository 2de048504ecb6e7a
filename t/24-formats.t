# Fn's function formats.  json: hot instances that read each call as a
# JSON object on stdin and answer with one on stdout (t/fn/json.c, built
# static with jansson); status, headers and content type reach the
# client, and an instance that answers badly or dies is replaced.
use strict;
use warnings;
use lib 't/lib', 'scripts/lib';

use FnImage;
use FnTest qw(executor_start unix_request tmpdir top);
use JSON::PP;
use Test::More;

my $json = JSON::PP->new->canonical;
my $tmp = tmpdir();

system('cc', '-static', '-O2', '-Wall', '-o', "$tmp/json",
       top() . '/t/fn/json.c', '-ljansson') == 0
    or BAIL_OUT('cannot build t/fn/json.c');

my $ex = executor_start(max_sandboxes => 4, log_max_per_call => '4k');
FnImage::build($ex->dir . '/images/json', tag => 'v1',
    config => { Cmd => ['/fn/json'] },
    layers => [ [ [ 'fn', dir => 1 ],
                  [ 'fn/json', file => "$tmp/json", mode => 0755 ] ] ]);

my $n = 0;
sub call {
    my (%o) = @_;
    my $id = sprintf('01ARZ3NDEKTSV4RRFFQ69J%04d', $n++);
    my %route = (app => 'demo', path => $o{path} // '/json',
                 image => 'oci:json:v1', format => 'json', timeout => 10,
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

done_testing();
