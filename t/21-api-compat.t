# IronFunctions' fn CLI (v0.2.72) against /v1, unchanged: each exchange
# replayed as the CLI sends it (method, path, headers, body bytes, a body
# from stdin sent chunked), with IronFunctions' answer.  Also: lists
# without paging parameters answer every item, up to functions_api_list_max
# (a header says when the cap cut one); the single-route GET shows
# jwt_key, lists mask it; routes no executor can run are refused; GET /
# has "goto".
use strict;
use warnings;
use lib 't/lib', 'scripts/lib';

use FnImage;
use FnTest qw(need_stack top executor_start nginx_start fresh_database db_query
              stack_env http_request slurp tmpdir
              functions_mysql api_token jwt_hs256 executors_upstream);
use JSON::PP;
use Test::More;

my $env = need_stack();
my $db = fresh_database();
my $json = JSON::PP->new->canonical->utf8;

my $tokens = tmpdir() . '/api.tokens';
my $token = api_token($tokens, 'cli');

my $ex = executor_start();
FnImage::build($ex->dir . '/images/demo', tag => 'v1',
    config => { Cmd => ['/bin/sh', '-c', 'echo "greeting=$GREETING"'] },
    layers => [ FnImage::busybox_layer() ]);

# list_max: functions_api_list_max, or the default
sub http_conf {
    my ($list_max) = @_;
    return <<CONF . ($list_max ? "    functions_api_list_max $list_max;\n" : '');
    ${\ functions_mysql($db, timeout => '2s') }
    functions_route_cache zone=routes:1m valid=60s not_found=60s;
    functions_api_tokens $tokens;

${\ executors_upstream([$ex], keepalive => 4) }
CONF
}

my $server = <<'CONF';
        location / {
            functions_api;
        }

        location /r/ {
            functions_route;
            proxy_pass http://executors$fn_executor_uri;
            include functions_params;
        }
CONF

my $ng = nginx_start(http => http_conf(), server => $server);
my $capped = nginx_start(http => http_conf(100), server => $server);

# What the CLI's HTTP client (Go's, through go-swagger's runtime) sends.
my %cli = ('User-Agent' => 'Go-http-client/1.1', 'Accept' => 'application/json',
           'Accept-Encoding' => 'gzip');

# cli(METHOD, PATH, BODY BYTES, port => P, chunked => 1): the exchange
# as the CLI makes it; {json} decoded.
sub cli {
    my ($method, $path, $body, %o) = @_;
    my %h = (%cli, Host => '127.0.0.1:8080', Authorization => "Bearer $token",
             Connection => 'close');
    my $r;
    if (defined $body) {
        $h{'Content-Type'} = 'application/json';
        if ($o{chunked}) {
            # a body from stdin: its length is not known, Go sends it
            # chunked (here in two chunks, split inside a string)
            $h{'Transfer-Encoding'} = 'chunked';
            my $cut = int(length($body) / 2);
            my $bytes = "$method $path HTTP/1.1\r\n"
                      . join('', map { "$_: $h{$_}\r\n" } sort keys %h) . "\r\n"
                      . join('', map { sprintf("%x\r\n%s\r\n", length $_, $_) }
                                 substr($body, 0, $cut), substr($body, $cut))
                      . "0\r\n\r\n";
            $r = http_request($o{port} // $ng->port, $method, $path,
                              raw => $bytes, timeout => 30);
        } else {
            $h{'Content-Length'} = length $body;
        }
    }
    $r //= http_request($o{port} // $ng->port, $method, $path,
                        headers => \%h, body => $body // '', timeout => 30);
    return $r;
}

sub answer_is {
    my ($r, $status, $message, $name) = @_;
    subtest $name => sub {
        is($r->{status}, $status, "status $status") or diag($r->{body});
        like($r->{headers}{'content-type'} // '', qr{^application/json}, 'JSON');
        if (ref $message) {
            like($r->{json}{error}{message} // '', $message, 'the error message');
        } elsif (defined $message) {
            is($r->{json}{message}, $message, 'the message');
        }
    };
}

subtest 'GET / (fn has no command, but IronFunctions answers this)' => sub {
    my $r = cli('GET', '/');
    is($r->{status}, 200, 'status 200');
    is($r->{json}{goto}, 'https://github.com/iron-io/functions', '  goto');
    is($r->{json}{hello}, 'world!', '  hello');
    like($r->{json}{version}, qr/^\d+\.\d+\.\d+$/, '  and our version, kept');
};

subtest 'fn apps create / inspect / config set (GET, then PATCH it back)' => sub {
    my $r = cli('POST', '/v1/apps', qq({"app":{"name":"cli1"}}\n));
    answer_is($r, 200, 'App successfully created', 'fn apps create cli1');
    $r = cli('GET', '/v1/apps/cli1');
    answer_is($r, 200, 'Successfully loaded app', 'fn apps inspect cli1');
    # config set: what was read, with message, created_at and updated_at,
    # and the one key changed
    my $got = $r->{json};
    $got->{app}{config}{LEVEL} = 'debug';
    $r = cli('PATCH', '/v1/apps/cli1', $json->encode($got));
    answer_is($r, 200, 'App successfully updated',
              'fn apps config set cli1 LEVEL debug: the read object sent back');
    is_deeply($r->{json}{app}{config}, { LEVEL => 'debug' }, '  config set');
    $r = cli('PATCH', '/v1/apps/cli1',
             '{"error":{"message":"x"},"message":"y","app":{"config":{"LEVEL":""}}}');
    answer_is($r, 200, 'App successfully updated', 'a wrapper with "error" too');
    is_deeply($r->{json}{app}{config}, {}, '  "" unset the key');
    answer_is(cli('PATCH', '/v1/apps/cli1', '{"app":{},"apps":[]}'), 400,
              qr/only "message" and "error"/, 'another key beside "app": 400');
};

subtest 'fn routes create: the CLI\'s default image and formats' => sub {
    # fn routes create cli1 /iron (no image given: iron/hello, a
    # registry's; pulled by the executors that run it)
    my $r = cli('POST', '/v1/apps/cli1/routes',
                qq({"route":{"format":"default","image":"iron/hello","memory":128,"path":"/iron","type":"sync"}}\n));
    answer_is($r, 200, 'Route successfully created', 'image iron/hello: created');
    is($r->{json}{route}{image}, 'iron/hello', '  as sent');
    answer_is(cli('DELETE', '/v1/apps/cli1/routes/iron'), 200, 'Route deleted',
              '  fn routes delete');
    $r = cli('POST', '/v1/apps/cli1/routes',
             qq({"route":{"image":"Iron/Hello","path":"/iron"}}\n));
    answer_is($r, 400, qr/^route field "image": in the image reference "Iron\/Hello", "Iron" is no repository name/,
              'an image reference out of the grammar: 400, saying why');
    $r = cli('POST', '/v1/apps/cli1/routes',
             qq({"route":{"format":"json","image":"oci:demo:v1","memory":128,"path":"/hello","type":"sync"}}\n));
    answer_is($r, 200, 'Route successfully created', 'format json: created');
    answer_is(cli('DELETE', '/v1/apps/cli1/routes/hello'), 200, 'Route deleted',
              '  and deleted');
    $r = cli('POST', '/v1/apps/cli1/routes',
             qq({"route":{"format":"http-stream","image":"oci:demo:v1","memory":128,"path":"/hello","type":"sync"}}\n));
    answer_is($r, 200, 'Route successfully created', 'format http-stream: created');
    answer_is(cli('DELETE', '/v1/apps/cli1/routes/hello'), 200, 'Route deleted',
              '  and deleted');
    answer_is(cli('POST', '/v1/apps/cli1/routes',
                  qq({"route":{"format":"cloudevent","image":"oci:demo:v1","path":"/hello"}}\n)),
              400, qr/"format" must be one of default, http, json, http-stream, lambda/,
              'a format there is no such thing as: 400, saying why');
    is(db_query($db, "SELECT COUNT(*) FROM routes WHERE app_name = 'cli1'")->[0][0], 0,
       '  none was stored');

    # a body from stdin (fn routes create cli1 /hello < route.json)
    $r = cli('POST', '/v1/apps/cli1/routes',
             qq({"route":{"config":{"GREETING":"Hi"},"format":"default","image":"oci:demo:v1","jwt_key":"s3cret","memory":96,"path":"/hello","type":"sync"}}\n),
             chunked => 1);
    answer_is($r, 200, 'Route successfully created', 'a chunked body: created');
    is($r->{json}{route}{image}, 'oci:demo:v1', '  as sent');
};

subtest 'fn routes inspect, update, config set, call (signed with the key read)' => sub {
    my $r = cli('GET', '/v1/apps/cli1/routes/hello');
    answer_is($r, 200, 'Successfully loaded route', 'fn routes inspect cli1 /hello');
    is($r->{json}{route}{jwt_key}, 's3cret', '  jwt_key as stored, as IronFunctions showed it');
    my $list = cli('GET', '/v1/apps/cli1/routes');
    is($list->{json}{routes}[0]{jwt_key}, '********', '  a list masks it');

    # fn routes update cli1 /hello: the exchange of the issue, byte for byte
    my $patch = '{"message":"Successfully loaded route","route":{"config":{"GREETING":"Hey"},"headers":{"X-New":["1"]},"idle_timeout":30,"image":"oci:demo:v1","max_concurrency":1,"memory":96,"timeout":20}}';
    $r = cli('PATCH', '/v1/apps/cli1/routes/hello', $patch);
    answer_is($r, 200, 'Route successfully updated', 'fn routes update: PATCH with "message"');
    is($r->{json}{route}{timeout}, 20, '  applied');
    is_deeply($r->{json}{route}{headers}, { 'X-New' => ['1'] }, '  headers too');
    $r = cli('PATCH', '/v1/apps/cli1/routes/hello', $patch, chunked => 1);
    answer_is($r, 200, 'Route successfully updated', '  the same, chunked');

    # fn routes config set cli1 /hello LEVEL debug: the whole GET back
    my $got = cli('GET', '/v1/apps/cli1/routes/hello')->{json};
    ok(exists $got->{route}{$_}, "  the GET has $_")
        for qw(app_name path created_at updated_at jwt_key);
    $got->{route}{config}{LEVEL} = 'debug';
    $r = cli('PATCH', '/v1/apps/cli1/routes/hello', $json->encode($got));
    answer_is($r, 200, 'Route successfully updated',
              'fn routes config set: the read object, read-only fields and all');
    is_deeply($r->{json}{route}{config}, { GREETING => 'Hey', LEVEL => 'debug' }, '  merged');
    is(db_query($db, "SELECT jwt_key FROM routes WHERE path = '/hello'")->[0][0], 's3cret',
       '  the key sent back is the key kept');
    $got->{route}{jwt_key} = '********';
    is(cli('PATCH', '/v1/apps/cli1/routes/hello', $json->encode($got))->{status}, 200,
       'a PATCH with the mask (from a list) ...');
    is(db_query($db, "SELECT jwt_key FROM routes WHERE path = '/hello'")->[0][0], 's3cret',
       '  keeps the key');
    $got->{route}{app_name} = 'other';
    answer_is(cli('PATCH', '/v1/apps/cli1/routes/hello', $json->encode($got)), 400,
              qr/app_name is immutable/, 'app_name of another app: still 400');

    # fn routes call cli1 /hello: signed with the key the GET gave
    my $key = cli('GET', '/v1/apps/cli1/routes/hello')->{json}{route}{jwt_key};
    my $now = time;
    my $jwt = jwt_hs256($key, { exp => $now + 3600, iat => $now });
    $r = http_request($ng->port, 'GET', '/r/cli1/hello',
                      headers => { %cli, Authorization => "Bearer $jwt" }, timeout => 30);
    is($r->{status}, 200, 'fn routes call with the key it read: 200')
        or diag($r->{body});
    like($r->{body}, qr/greeting=Hey/, '  the function ran');
};

subtest 'lists without paging parameters: every item' => sub {
    # 35 apps and 250 routes, one statement each
    db_query($db, 'INSERT INTO apps (name) VALUES '
                  . join(',', map { sprintf("('many%02d')", $_) } 1 .. 34));
    db_query($db, 'INSERT INTO routes (app_name, path, image, jwt_key) VALUES '
                  . join(',', map { sprintf("('cli1', '/r%03d', 'oci:demo:v1', 'k')", $_) } 1 .. 249));
    my $r = cli('GET', '/v1/apps');
    answer_is($r, 200, 'Successfully listed applications', 'fn apps list');
    is(scalar @{ $r->{json}{apps} }, 35, '  all 35 apps');
    ok(!exists $r->{json}{next_cursor}, '  no next_cursor');
    ok(!exists $r->{headers}{'fn-list-truncated'}, '  not cut');
    $r = cli('GET', '/v1/apps/cli1/routes');
    answer_is($r, 200, 'Successfully listed routes', 'fn routes list cli1');
    is(scalar @{ $r->{json}{routes} }, 250, '  all 250 routes');
    is(scalar(grep { $_->{jwt_key} eq '********' } @{ $r->{json}{routes} }), 250,
       '  every key masked');
    ok(!exists $r->{json}{next_cursor}, '  no next_cursor');
    ok(!exists $r->{headers}{'fn-list-truncated'}, '  not cut');

    $r = cli('GET', '/v1/apps?per_page=10');
    is(scalar @{ $r->{json}{apps} }, 10, 'per_page: a page, as before');
    ok($r->{json}{next_cursor}, '  with next_cursor');
    ok(!exists $r->{headers}{'fn-list-truncated'}, '  a page is not "cut"');
    $r = cli('GET', "/v1/apps?cursor=$r->{json}{next_cursor}");
    is(scalar @{ $r->{json}{apps} }, 25, 'a cursor alone: the rest, by pages of 30');

    # calls page by default, as before
    db_query($db, 'INSERT INTO calls (id, app_name, path, status) VALUES '
                  . join(',', map { sprintf("('01CL1ABCDEFGHJKMNPQRS%05d', 'cli1', '/hello', 'success')", $_) } 1 .. 35));
    $r = cli('GET', '/v1/apps/cli1/calls');
    is(scalar @{ $r->{json}{calls} }, 30, 'calls: a page of 30 by default') or diag($r->{body});
    ok($r->{json}{next_cursor}, '  with next_cursor');
};

subtest 'the cap: functions_api_list_max' => sub {
    my $r = cli('GET', '/v1/apps/cli1/routes', undef, port => $capped->port);
    is($r->{status}, 200, '250 routes, functions_api_list_max 100: 200');
    is(scalar @{ $r->{json}{routes} }, 100, '  100 of them');
    is($r->{headers}{'fn-list-truncated'}, 'true', '  Fn-List-Truncated: true');
    ok($r->{json}{next_cursor}, '  and next_cursor');
    is($r->{json}{routes}[-1]{path}, '/r099', '  in path order');
    $r = cli('GET', "/v1/apps/cli1/routes?cursor=$r->{json}{next_cursor}&per_page=100",
             undef, port => $capped->port);
    is($r->{json}{routes}[0]{path}, '/r100', 'the cursor goes on after it');
    $r = cli('GET', '/v1/apps', undef, port => $capped->port);
    is(scalar @{ $r->{json}{apps} }, 35, '35 apps: under the cap');
    ok(!exists $r->{headers}{'fn-list-truncated'}, '  not cut');
};

done_testing();
