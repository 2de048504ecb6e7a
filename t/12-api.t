# The /v1 management API: IronFunctions' endpoints, shapes, messages and
# status codes; tokens, and revoking one by a reload; pagination, and
# hostile cursors; PATCH merges, also many at once; bad and hostile input;
# and end to end, a route written through the API and called at once.
use strict;
use warnings;
use lib 't/lib', 'scripts/lib';

use FnImage;
use FnTest qw(need_stack top executor_start nginx_start nginx_check fresh_database
              db_query stack_env http_request wait_until slurp spew tmpdir
              functions_mysql api_token executors_upstream);
use JSON::PP;
use MIME::Base64 qw(encode_base64url);
use POSIX ();
use Test::More;
use Time::HiRes qw(time sleep);

my $env = need_stack();
my $db = fresh_database();
my $json = JSON::PP->new->canonical->utf8;

# two tokens from the project's own tool; the file holds digests only
my $tokens = tmpdir() . '/api.tokens';
my $token = api_token($tokens, 'admin');
my $other = api_token($tokens, 'ci');
like($token, qr/^fn_[A-Za-z0-9_-]{43}$/, 'api-token prints a token');
unlike(slurp($tokens), qr/\Q$token\E/, 'the token file holds no token');
like(slurp($tokens), qr/^sha256:[0-9a-f]{64} admin\nsha256:[0-9a-f]{64} ci\n\z/,
     'one digest per line, with its label');
is((stat $tokens)[2] & 0777, 0600, 'the token file is private');

my $ex = executor_start();
FnImage::build($ex->dir . '/images/echo', tag => $_,
    config => { Cmd => ['/bin/sh', '-c', "echo \"$_ greeting=\$GREETING\""] },
    layers => [ FnImage::busybox_layer() ]) for qw(v1 v2);

my $http = <<CONF;
    ${\ functions_mysql($db, timeout => '2s') }
    functions_route_cache zone=routes:1m valid=60s not_found=60s;
    functions_api_tokens $tokens;

${\ executors_upstream([$ex], keepalive => 4) }
    log_format api '\$request_method \$uri \$status call_id=\$fn_call_id app=\$fn_app';
CONF

my $server = <<'CONF' =~ s/\$fn_log_dir/tmpdir()/er;
        location / {
            functions_api;
            client_max_body_size 64k;
            error_page 413 = @api_too_large;
            # the module's variables are safe to use here too
            add_header X-Call-Id "$fn_call_id$fn_app" always;
            access_log $fn_log_dir/api.log api;
        }

        location @api_too_large {
            default_type application/json;
            return 413 '{"error":{"message":"request body is too large"}}\n';
        }

        location /r/ {
            functions_route;
            proxy_pass http://executors$fn_executor_uri;
            include functions_params;
        }
CONF

my $ng = nginx_start(http => $http, server => $server);

# api(METHOD, PATH, BODY, token => T, headers => {...}): BODY is a
# reference (sent as JSON) or bytes.  Returns the response, with
# {json} decoded when it is JSON.
sub api {
    my ($method, $path, $body, %o) = @_;
    my $port = $o{port} // $ng->port;
    my $tok = exists $o{token} ? $o{token} : $token;
    my %h = %{ $o{headers} // {} };
    $h{Authorization} //= "Bearer $tok" if defined $tok;
    $body = $json->encode($body) if ref $body;
    return http_request($port, $method, $path, headers => \%h,
                        body => $body, timeout => 30);
}

sub error_is {
    my ($r, $status, $re, $name) = @_;
    subtest $name => sub {
        is($r->{status}, $status, "status $status") or diag($r->{body});
        like($r->{headers}{'content-type'} // '', qr{^application/json},
             'JSON');
        like($r->{json}{error}{message} // '', $re, 'the message');
    };
}

sub generation { db_query($db, 'SELECT value FROM generation')->[0][0] }

subtest 'open endpoints' => sub {
    my $r = api('GET', '/', undef, token => undef);
    is($r->{status}, 200, 'GET / needs no token');
    is($r->{json}{hello}, 'world!', '  and greets');
    $r = api('GET', '/version', undef, token => undef);
    is($r->{status}, 200, 'GET /version needs no token');
    like($r->{json}{version}, qr/^\d+\.\d+\.\d+$/, '  {"version":"x.y.z"}');
    $r = api('HEAD', '/version', undef, token => undef);
    is($r->{status}, 200, 'HEAD /version');
    $r = api('POST', '/version', {}, token => undef);
    is($r->{status}, 405, 'POST /version: 405');
    is($r->{headers}{allow}, 'GET, HEAD', '  with Allow');
    error_is(api('GET', '/v2/apps'), 404, qr/not found/, 'an unknown path: 404 JSON');
    like($r->{headers}{'x-call-id'}, qr/^\w{26}$/,
         '$fn_call_id works in an API location');
};

subtest 'tokens' => sub {
    my $r = api('GET', '/v1/apps', undef, token => undef);
    error_is($r, 401, qr/Bearer/, 'no token: 401');
    is($r->{headers}{'www-authenticate'}, 'Bearer realm="functions"',
       '  with WWW-Authenticate');
    $r = api('GET', '/v1/apps', undef, token => 'fn_wrong');
    error_is($r, 401, qr/invalid token/, 'a wrong token: 401');
    like($r->{headers}{'www-authenticate'}, qr/error="invalid_token"/,
         '  saying so');
    error_is(api('GET', '/v1/apps', undef, token => undef,
                 headers => { Authorization => "Basic $token" }),
             401, qr/invalid token/, 'another scheme: 401');
    error_is(api('GET', '/v1/apps', undef, token => substr($token, 0, -1)),
             401, qr/invalid token/, 'a token one character short: 401');
    error_is(api('DELETE', '/v1/apps/x', undef, token => ''), 401, qr/./,
             'an empty token: 401');
    error_is(api('POST', '/v1/apps', { app => { name => 'noauth' } }, token => undef),
             401, qr/Bearer/, 'writes need a token too');
    is(db_query($db, "SELECT COUNT(*) FROM apps WHERE name = 'noauth'")->[0][0], 0,
       '  and nothing was written');
    is(api('GET', '/v1/apps')->{status}, 200, 'the right token: 200');
    is(api('GET', '/v1/apps', undef, token => $other)->{status}, 200,
       'the second token of the file works too');
    is(api('GET', '/v1/apps', undef, token => undef,
           headers => { Authorization => "bearer  $token" })->{status}, 200,
       'the scheme is case-insensitive');
    like(slurp($ng->prefix . '/error.log'), qr/wrong token/, 'wrong tokens are logged');
    unlike(slurp($ng->prefix . '/error.log'), qr/fn_wrong|\Q$token\E/,
           'tokens are not');
};

subtest 'revoking a token: its line out of the file, and a reload' => sub {
    is(api('GET', '/v1/apps', undef, token => $other)->{status}, 200,
       'the "ci" token works');
    my $file = slurp($tokens);
    my $kept = $file =~ s/^sha256:[0-9a-f]{64} ci\n//mr;
    isnt($kept, $file, 'its line is in the file');
    spew($tokens, $kept, 0600);
    is(api('GET', '/v1/apps', undef, token => $other)->{status}, 200,
       'until a reload, the running configuration keeps it');
    ok($ng->reload, 'nginx reloaded');
    # new connections, on either worker
    for my $n (1 .. 6) {
        my $r = api('GET', '/v1/apps', undef, token => $other);
        error_is($r, 401, qr/^invalid token$/, "revoked, request $n: 401 JSON");
        like($r->{headers}{'www-authenticate'} // '', qr/error="invalid_token"/,
             '  WWW-Authenticate says why');
        is(api('GET', '/v1/apps')->{status}, 200, '  the "admin" token still works');
    }
    error_is(api('POST', '/v1/apps', { app => { name => 'revoked' } }, token => $other),
             401, qr/^invalid token$/, 'a write with it: 401');
    is(db_query($db, "SELECT COUNT(*) FROM apps WHERE name = 'revoked'")->[0][0], 0,
       '  and nothing was written');

    my $new = api_token($tokens, 'ci2');
    error_is(api('GET', '/v1/apps', undef, token => $new), 401, qr/^invalid token$/,
             'a token added to the file: refused before a reload');
    ok($ng->reload, 'nginx reloaded');
    is(api('GET', '/v1/apps', undef, token => $new)->{status}, 200, '  accepted after it');
    error_is(api('GET', '/v1/apps', undef, token => $other), 401, qr/^invalid token$/,
             '  and the revoked one stays refused');
};

subtest 'apps' => sub {
    my $r = api('GET', '/v1/apps');
    is_deeply($r->{json}, { message => 'Successfully listed applications', apps => [] },
              'none yet');
    my $g = generation();
    $r = api('POST', '/v1/apps', { app => { name => 'myapp', config => { A => '1', B => '2' } } });
    is($r->{status}, 200, 'created') or diag($r->{body});
    is($r->{json}{message}, 'App successfully created', '  message');
    is_deeply($r->{json}{app}{config}, { A => '1', B => '2' }, '  config');
    is($r->{json}{app}{name}, 'myapp', '  name');
    like($r->{json}{app}{created_at}, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/,
         '  created_at in RFC 3339 UTC');
    error_is(api('POST', '/v1/apps', { app => { name => 'myapp' } }), 409,
             qr/^App already exists$/, 'again: 409');
    $r = api('GET', '/v1/apps/myapp');
    is($r->{status}, 200, 'read');
    is($r->{json}{message}, 'Successfully loaded app', '  message');
    error_is(api('GET', '/v1/apps/nope'), 404, qr/^App not found$/, 'unknown: 404');

    $r = api('PATCH', '/v1/apps/myapp', { app => { config => { A => '', C => '3' } } });
    is($r->{status}, 200, 'patched') or diag($r->{body});
    is($r->{json}{message}, 'App successfully updated', '  message');
    is_deeply($r->{json}{app}{config}, { B => '2', C => '3' },
              '  merged: "" removed A, C added, B kept');
    is(api('PATCH', '/v1/apps/myapp', { app => { name => 'myapp' } })->{status}, 200,
       'the same name is no change');
    error_is(api('PATCH', '/v1/apps/myapp', { app => { name => 'other' } }), 400,
             qr/name is immutable/, 'a new name: 400');
    error_is(api('PATCH', '/v1/apps/nope', { app => { config => {} } }), 404,
             qr/^App not found$/, 'patching an unknown app: 404');
    ok(generation() > $g, 'the app change bumped the generation');
    is(db_query($db, "SELECT COUNT(*) FROM route_changes WHERE app_name = 'myapp' AND path IS NULL")->[0][0],
       2, '  with whole-app change rows');

    $r = api('DELETE', '/v1/apps/myapp');
    is($r->{status}, 200, 'deleted');
    is_deeply($r->{json}, { message => 'App deleted' }, '  message');
    error_is(api('DELETE', '/v1/apps/myapp'), 404, qr/^App not found$/, 'again: 404');
    error_is(api('PUT', '/v1/apps/myapp', {}), 405, qr/not allowed/, 'PUT: 405');
};

subtest 'routes' => sub {
    my $r = api('POST', '/v1/apps/auto/routes', { route => { path => '/hello', image => 'oci:echo:v1' } });
    is($r->{status}, 200, 'created in an app that did not exist') or diag($r->{body});
    is($r->{json}{message}, 'Route successfully created', '  message');
    my %want = (app_name => 'auto', path => '/hello', image => 'oci:echo:v1',
                memory => 128, type => 'sync', format => 'default', timeout => 30,
                idle_timeout => 30, max_concurrency => 1, headers => {},
                config => {}, jwt_key => '');
    my %got = %{ $r->{json}{route} };
    delete @got{qw(created_at updated_at)};
    is_deeply(\%got, \%want, '  every field, with the defaults');
    is(api('GET', '/v1/apps/auto')->{status}, 200, 'the app exists now');
    error_is(api('POST', '/v1/apps/auto/routes', { route => { path => '/hello', image => 'oci:echo:v2' } }),
             409, qr/^Route already exists$/, 'again: 409');
    error_is(api('DELETE', '/v1/apps/auto'), 400, qr/^Cannot remove apps with routes$/,
             'an app with routes is not deleted');

    $r = api('POST', '/v1/apps/auto/routes', { route => {
        path => '/a/b/c', image => 'oci:team/fn-' . ('ab' x 32) . ':v1.2_b-3',
        memory => 256, type => 'async', format => 'http', timeout => 600,
        idle_timeout => 5, max_concurrency => 4,
        headers => { 'X-One' => ['1', '2'] }, config => { K => 'v' },
        jwt_key => 's3cret' } });
    is($r->{status}, 200, 'a multi-segment route with every field') or diag($r->{body});
    $r = api('GET', '/v1/apps/auto/routes/a/b/c');
    is($r->{status}, 200, 'read by its path');
    is($r->{json}{message}, 'Successfully loaded route', '  message');
    is_deeply([ @{ $r->{json}{route} }{qw(memory type format timeout idle_timeout max_concurrency)} ],
              [256, 'async', 'http', 600, 5, 4], '  each field stored');
    is_deeply($r->{json}{route}{headers}, { 'X-One' => ['1', '2'] }, '  headers');
    is($r->{json}{route}{jwt_key}, 's3cret',
       '  jwt_key shown to the API client, as IronFunctions did');
    is((grep { $_->{path} eq '/a/b/c' } @{ api('GET', '/v1/apps/auto/routes')->{json}{routes} })[0]{jwt_key},
       '********', '  but masked in a list');
    is(db_query($db, "SELECT jwt_key FROM routes WHERE path = '/a/b/c'")->[0][0], 's3cret',
       '  but stored');
    error_is(api('GET', '/v1/apps/auto/routes/nope'), 404, qr/^Route not found$/, 'unknown: 404');
    error_is(api('GET', '/v1/apps/none/routes'), 404, qr/^App not found$/,
             'routes of an unknown app: 404');

    $r = api('PATCH', '/v1/apps/auto/routes/a/b/c', { route => {
        image => 'oci:echo:v2', config => { K => '', L => 'w' },
        headers => { 'X-One' => [], 'X-Two' => ['2'] }, memory => undef,
        jwt_key => '********' } });
    is($r->{status}, 200, 'patched') or diag($r->{body});
    is($r->{json}{message}, 'Route successfully updated', '  message');
    is($r->{json}{route}{image}, 'oci:echo:v2', '  image replaced');
    is_deeply($r->{json}{route}{config}, { L => 'w' }, '  config merged');
    is_deeply($r->{json}{route}{headers}, { 'X-Two' => ['2'] }, '  headers merged');
    is($r->{json}{route}{memory}, 128, '  null: back to the default');
    is($r->{json}{route}{format}, 'http', '  what was not given is kept');
    is(db_query($db, "SELECT jwt_key FROM routes WHERE path = '/a/b/c'")->[0][0], 's3cret',
       '  the mask kept the key');
    api('PATCH', '/v1/apps/auto/routes/a/b/c', { route => { jwt_key => 'n3w' } });
    is(db_query($db, "SELECT jwt_key FROM routes WHERE path = '/a/b/c'")->[0][0], 'n3w',
       'a new key replaces it');
    is(api('PATCH', '/v1/apps/auto/routes/a/b/c', { route => { jwt_key => '' } })
       ->{json}{route}{jwt_key}, '', '"" removes it');
    error_is(api('PATCH', '/v1/apps/auto/routes/a/b/c', { route => { path => '/other' } }),
             400, qr/path is immutable/, 'a new path: 400');
    is(api('PATCH', '/v1/apps/auto/routes/a/b/c', { route => { path => '/a/b/c' } })->{status},
       200, 'the same path is no change');
    error_is(api('PATCH', '/v1/apps/auto/routes/a/b/c', { route => { type => 'batch' } }),
             400, qr/"type" must be one of sync, async/, 'a bad value names the field');
    error_is(api('PATCH', '/v1/apps/auto/routes/nope', { route => { image => 'x' } }),
             404, qr/^Route not found$/, 'patching an unknown route: 404');

    my $g = generation();
    $r = api('DELETE', '/v1/apps/auto/routes/a/b/c');
    is_deeply($r->{json}, { message => 'Route deleted' }, 'deleted');
    is(generation(), $g + 1, '  one generation bump');
    is_deeply(db_query($db, "SELECT app_name, path FROM route_changes WHERE generation = $g + 1"),
              [['auto', '/a/b/c']], '  recording what changed');
    error_is(api('DELETE', '/v1/apps/auto/routes/a/b/c'), 404, qr/^Route not found$/,
             'again: 404');

    # the root route is /routes/ (IronFunctions' reading)
    is(api('POST', '/v1/apps/auto/routes', { route => { path => '/', image => 'oci:echo:v1' } })->{status},
       200, 'a route at "/"');
    is(api('GET', '/v1/apps/auto/routes/')->{json}{route}{path}, '/', '  read as /routes/');
    is(api('DELETE', '/v1/apps/auto/routes/')->{status}, 200, '  deleted');
};

subtest 'pagination' => sub {
    my @names = map { sprintf('page%02d', $_) } 1 .. 7;
    api('POST', '/v1/apps', { app => { name => $_ } }) for reverse @names;
    my (@seen, $cursor, $pages);
    do {
        my $r = api('GET', '/v1/apps?per_page=3' . ($cursor ? "&cursor=$cursor" : ''));
        is($r->{status}, 200, 'a page') or last;
        ok(@{ $r->{json}{apps} } <= 3, '  of at most 3');
        push @seen, map { $_->{name} } @{ $r->{json}{apps} };
        $cursor = $r->{json}{next_cursor};
        $pages++;
    } while ($cursor && $pages < 10);
    is_deeply([ grep { /^page/ } @seen ], \@names, 'every app once, in name order');
    is(scalar(@seen), 8, '  (and "auto")');
    is($pages, 3, '  in 3 pages: the last has no next_cursor');
    is(scalar @{ api('GET', '/v1/apps')->{json}{apps} }, 8, 'without paging parameters: every app');

    error_is(api('GET', "/v1/apps?per_page=$_"), 400, qr/per_page/, "per_page=$_: 400")
        for ('0', '101', 'abc', '-1', '');
    error_is(api('GET', '/v1/apps?cursor=%%%'), 400, qr/cursor/, 'a broken cursor: 400');
    is(api('GET', '/v1/apps?per_page=100')->{status}, 200, 'per_page=100 is allowed');

    for my $i (1 .. 5) {
        api('POST', '/v1/apps/paged/routes', { route => { path => "/r$i",
            image => $i % 2 ? 'oci:echo:v1' : 'oci:echo:v2' } });
    }
    my $r = api('GET', '/v1/apps/paged/routes?per_page=2');
    is_deeply([ map { $_->{path} } @{ $r->{json}{routes} } ], ['/r1', '/r2'], 'routes: first page');
    is($r->{json}{message}, 'Successfully listed routes', '  message');
    $r = api('GET', "/v1/apps/paged/routes?per_page=2&cursor=$r->{json}{next_cursor}");
    is_deeply([ map { $_->{path} } @{ $r->{json}{routes} } ], ['/r3', '/r4'], '  second');
    $r = api('GET', "/v1/apps/paged/routes?per_page=2&cursor=$r->{json}{next_cursor}");
    is_deeply([ map { $_->{path} } @{ $r->{json}{routes} } ], ['/r5'], '  last');
    ok(!exists $r->{json}{next_cursor}, '  without next_cursor');
    $r = api('GET', '/v1/apps/paged/routes?image=oci%3Aecho%3Av2');
    is_deeply([ map { $_->{path} } @{ $r->{json}{routes} } ], ['/r2', '/r4'], '?image= filters');
    is_deeply(api('GET', '/v1/apps/page01/routes')->{json}{routes}, [],
              'an app without routes: []');
};

subtest 'hostile cursors: a 400, or a right page, never SQL' => sub {
    # two apps with routes and calls, interleaved: the second's must never
    # show in a list of the first
    for my $app (qw(cur cur-x)) {
        for my $path ($app eq 'cur' ? qw(/a /b /c) : qw(/a2 /b2 /x)) {
            my $r = api('POST', "/v1/apps/$app/routes",
                        { route => { path => $path, image => 'oci:echo:v1' } });
            is($r->{status}, 200, "route $app$path") or diag($r->{body});
        }
    }
    my $id = sub { sprintf('01J%021d%02d', 0, $_[0]) };
    db_query($db, 'INSERT INTO calls (id, app_name, path, status) VALUES '
                  . join(', ', map { "('" . $id->($_) . "', '"
                                     . ($_ % 10 ? 'cur-x' : 'cur')
                                     . "', '/a', 'success')" }
                               10, 15, 20, 25, 30, 35, 40));
    my $counts = sub {
        return { map { $_ => db_query($db, "SELECT COUNT(*) FROM $_")->[0][0] }
                 qw(apps routes calls route_changes generation) };
    };
    my $before = $counts->();
    my $log = $ng->prefix . '/error.log';
    my $offset = -s $log;
    my @all_apps = map { $_->{name} } @{ api('GET', '/v1/apps')->{json}{apps} };
    my %key = (apps => 'name', routes => 'path', calls => 'id');

    # what a page of cur may hold
    my %mine = (routes => { map { $_ => 1 } qw(/a /b /c) },
                calls => { map { $id->($_) => 1 } 10, 20, 30, 40 });

    # page(URL, CURSOR): the answer, and the names (paths, ids) of the page
    my (@statuses, @strays);
    my $page = sub {
        my ($url, $cursor) = @_;
        my $r = api('GET', "$url?per_page=2&cursor=" . encode_base64url($cursor));
        push @statuses, $r->{status};
        my ($kind) = $url =~ m{/(\w+)$};
        my @items = map { $_->{ $key{$kind} } } @{ $r->{json}{$kind} // [] };
        push @strays, grep { $url =~ m{/cur/} && !$mine{$kind}{$_} } @items;
        push @strays, "more than 2 $kind" if @items > 2;
        return ($r, \@items);
    };

    my @hostile = (
        [ 'a quote', q(a'b) ],
        [ 'SQL', q(' OR 1=1 -- ) ],
        [ 'SQL that leaves the app', q(' OR a.name <> ') ],
        [ 'a backslash before a quote', q(\') ],
        [ 'a backslash at the end', q(/a\\) ],
        [ 'a NUL byte', "/a\0b" ],
        [ 'a NUL byte alone', "\0" ],
        [ 'CR LF', "/a\r\nb" ],
        [ 'Ctrl-Z', "/\x1a" ],
        [ 'a space', '/a b' ],
        [ 'a percent sign', '/%' ],
        [ 'invalid UTF-8', "/\xff\xfe" ],
        [ 'UTF-8 outside ASCII', "/caf\xc3\xa9" ],
        [ 'JSON', '{"path":"/a"}' ],
        [ '384 bytes, the longest a cursor decodes to', '/' . ('z' x 383) ],
        [ 'a quote after 380 bytes', '/' . ('z' x 380) . q(' --) ],
    );
    for my $list ('/v1/apps', '/v1/apps/cur/routes', '/v1/apps/cur/calls') {
        for my $h (@hostile) {
            my ($r) = $page->($list, $h->[1]);
            error_is($r, 400, qr/^invalid cursor$/, "$list, $h->[0]: 400");
        }
    }
    # the same of 26 bytes, as long as a call id
    for my $c (q(' OR 1=1 -- ) . ('0' x 14), "\xc3\xa9" x 13, "\xff" x 26,
               "0\0" x 13, '01j' . ('0' x 23), '01U' . ('0' x 23),
               '8' . ('0' x 25), "\\" x 26) {
        my ($r) = $page->('/v1/apps/cur/calls', $c);
        error_is($r, 400, qr/^invalid cursor$/,
                 'calls, 26 bytes but no call id (' . ($c =~ s/[^ -~]/?/gr) . '): 400');
    }
    my ($r) = $page->('/v1/apps', 'x' x 31);
    error_is($r, 400, qr/^invalid cursor$/, 'apps, a name too long: 400');
    ($r) = $page->('/v1/apps/cur/routes', '/a//b');
    error_is($r, 400, qr/^invalid cursor$/, 'routes, an empty segment: 400');
    ($r) = $page->('/v1/apps/cur/routes', '/' . ('p' x 255));
    error_is($r, 400, qr/^invalid cursor$/, 'routes, a path too long: 400');
    $r = api('GET', '/v1/apps?per_page=2&cursor=' . encode_base64url('z' x 385));
    error_is($r, 400, qr/cursor/, 'a cursor that decodes to 385 bytes: 400');

    # another list's cursor: refused where it cannot be one of the list's
    ($r) = $page->('/v1/apps/cur/routes', 'page03');
    error_is($r, 400, qr/^invalid cursor$/, 'an app as the cursor of routes: 400');
    ($r) = $page->('/v1/apps', '/b');
    error_is($r, 400, qr/^invalid cursor$/, 'a path as the cursor of apps: 400');
    ($r) = $page->('/v1/apps/cur/calls', '/b');
    error_is($r, 400, qr/^invalid cursor$/, 'a path as the cursor of calls: 400');
    # ... and where it can be, a right page
    my $after = sub { my ($c) = @_; [ (grep { $_ gt $c } @all_apps)[0, 1] ] };
    ($r, my $got) = $page->('/v1/apps', $id->(25));
    is_deeply($got, $after->($id->(25)), 'a call id as the cursor of apps: the apps after it');
    ($r, $got) = $page->('/v1/apps', 'page03x');
    is_deeply($got, $after->('page03x'), 'an app that does not exist: the apps after it');
    is_deeply($got, ['page04', 'page05'], '  (page04, page05)');
    ($r, $got) = $page->('/v1/apps/cur/routes', '/a2');
    is_deeply($got, ['/b', '/c'], 'a path of another app: the routes of this one after it');
    ($r, $got) = $page->('/v1/apps/cur/routes', '/x');
    is_deeply($got, [], '  or none');
    is($r->{status}, 200, '  answered 200');
    ($r, $got) = $page->('/v1/apps/cur/calls', $id->(35));
    is_deeply($got, [$id->(30), $id->(20)], 'a call id of another app: the calls of this one before it');
    ($r, $got) = $page->('/v1/apps/cur/calls', $id->(15));
    is_deeply($got, [$id->(10)], '  the last one');
    ($r) = $page->('/v1/apps/none/routes', '/a');
    error_is($r, 404, qr/^App not found$/, 'routes of an app that does not exist: 404');
    ($r, $got) = $page->('/v1/apps/none/calls', $id->(40));
    is($r->{status}, 200, 'calls of an app that does not exist: 200');
    is_deeply($got, [], '  none');

    is_deeply([ grep { $_ >= 500 } @statuses ], [], 'no answer was a 5xx');
    is_deeply(\@strays, [], 'no page held a row of another app, nor more than asked');
    my $new = substr(slurp($log) // '', $offset);
    unlike($new, qr/statement refused|unexpected database answer|\[(alert|crit|emerg)\]/,
           'no refused statement nor database error in the log');
    is_deeply($counts->(), $before, 'every table as it was (exact counts)');
};

subtest 'bad input' => sub {
    my @cases = (
        [ 'not JSON', 'POST', '/v1/apps', '{"app":', 400, qr/invalid JSON/ ],
        [ 'an empty body', 'POST', '/v1/apps', '', 400, qr/JSON body/ ],
        [ 'an array', 'POST', '/v1/apps', '[]', 400, qr/must be \{"app"/ ],
        [ 'app not an object', 'POST', '/v1/apps', '{"app":"x"}', 400, qr/must be \{"app"/ ],
        [ 'another key beside app', 'POST', '/v1/apps', '{"app":{"name":"a"},"x":1}', 400, qr/must be/ ],
        [ 'duplicate keys', 'POST', '/v1/apps', '{"app":{"name":"a","name":"b"}}', 400, qr/duplicate/ ],
        [ 'a NUL in a name', 'POST', '/v1/apps', '{"app":{"name":"a\u0000b"}}', 400, qr/NUL|invalid JSON|name/ ],
        [ 'invalid UTF-8', 'POST', '/v1/apps', "{\"app\":{\"name\":\"\xff\"}}", 400, qr/invalid JSON/ ],
        [ 'invalid UTF-8 outside a string', 'POST', '/v1/apps', "{\"app\":\xc3\xa9\xff\x01}", 400, qr/invalid JSON/ ],
        [ 'deep nesting', 'POST', '/v1/apps', ('[' x 5000) . (']' x 5000), 400, qr/invalid JSON/ ],
        [ 'name missing', 'POST', '/v1/apps', '{"app":{}}', 400, qr/"name"/ ],
        [ 'name a number', 'POST', '/v1/apps', '{"app":{"name":5}}', 400, qr/"name"/ ],
        [ 'name too long', 'POST', '/v1/apps', '{"app":{"name":"' . ('a' x 31) . '"}}', 400, qr/"name"/ ],
        [ 'name with a dot', 'POST', '/v1/apps', '{"app":{"name":"a.b"}}', 400, qr/"name"/ ],
        [ 'name with a quote', 'POST', '/v1/apps', q({"app":{"name":"a'--"}}), 400, qr/"name"/ ],
        [ 'unknown app field', 'POST', '/v1/apps', '{"app":{"name":"a","nmae":"b"}}', 400, qr/"nmae" is unknown/ ],
        [ 'config a list', 'POST', '/v1/apps', '{"app":{"name":"a","config":[]}}', 400, qr/"config" must be an object/ ],
        [ 'config value a number', 'POST', '/v1/apps', '{"app":{"name":"a","config":{"K":1}}}', 400, qr/"config": value of "K"/ ],
        [ 'config value with a line break', 'POST', '/v1/apps', '{"app":{"name":"a","config":{"K":"x\ny"}}}', 400, qr/control characters/ ],
        [ 'config value with DEL', 'POST', '/v1/apps', '{"app":{"name":"a","config":{"K":"x\u007f"}}}', 400, qr/control characters/ ],
        [ 'config of 20 KB', 'POST', '/v1/apps', '{"app":{"name":"a","config":{"K":"' . ('c' x 20000) . '"}}}', 400, qr/"config" is too large/ ],
        [ 'config key with a space', 'POST', '/v1/apps', '{"app":{"name":"a","config":{"A B":"x"}}}', 400, qr/invalid key/ ],
        [ 'app name in the URL', 'GET', '/v1/apps/a%27b', undef, 400, qr/invalid app name/ ],
        [ 'app name too long in the URL', 'GET', '/v1/apps/' . ('x' x 31), undef, 400, qr/invalid app name/ ],
        [ 'an app named as the metrics\' overflow label', 'POST', '/v1/apps', '{"app":{"name":"_other"}}', 400, qr/"name"|invalid app name/ ],
        [ 'an app named as the metrics\' no-route label', 'GET', '/v1/apps/_none', undef, 400, qr/not _none or _other/ ],
        [ 'route path with a space', 'GET', '/v1/apps/a/routes/a%20b', undef, 400, qr/invalid route path/ ],
        [ 'route path too long', 'GET', '/v1/apps/a/routes/' . ('p' x 300), undef, 400, qr/invalid route path/ ],
        [ 'route path with %', 'GET', '/v1/apps/a/routes/x%2525', undef, 400, qr/invalid route path/ ],
        [ 'something after the app', 'GET', '/v1/apps/a/calls/x/y', undef, 404, qr/not found/ ],
    );
    my @route_cases = (
        [ 'route missing', '{}', qr/must be \{"route"/ ],
        [ 'path missing', '{"route":{"image":"x"}}', qr/"path" must be a string/ ],
        [ 'path relative', '{"route":{"path":"x","image":"x"}}', qr/"path" must be an absolute path/ ],
        [ 'path with ..', '{"route":{"path":"/a/../b","image":"x"}}', qr/"path"/ ],
        [ 'path with an empty segment', '{"route":{"path":"/a//b","image":"x"}}', qr/"path"/ ],
        [ 'path too long', '{"route":{"path":"/' . ('p' x 255) . '","image":"x"}}', qr/"path"/ ],
        [ 'image missing', '{"route":{"path":"/x"}}', qr/"image" must be a string/ ],
        [ 'image empty', '{"route":{"path":"/x","image":""}}', qr/"image"/ ],
        [ 'image with a space', '{"route":{"path":"/x","image":"a b"}}', qr/"image"/ ],
        [ 'memory a string', '{"route":{"path":"/x","image":"x","memory":"128"}}', qr/"memory" must be an integer/ ],
        [ 'memory a float', '{"route":{"path":"/x","image":"x","memory":1.5}}', qr/"memory" must be an integer/ ],
        [ 'memory 0', '{"route":{"path":"/x","image":"x","memory":0}}', qr/"memory" must be from 1 to 8192/ ],
        [ 'memory too big', '{"route":{"path":"/x","image":"x","memory":99999999999999}}', qr/"memory"/ ],
        [ 'memory beyond 64 bits', '{"route":{"path":"/x","image":"x","memory":1e400}}', qr/invalid JSON|"memory"/ ],
        [ 'timeout negative', '{"route":{"path":"/x","image":"x","timeout":-1}}', qr/"timeout"/ ],
        [ 'timeout too long', '{"route":{"path":"/x","image":"x","timeout":3601}}', qr/"timeout"/ ],
        [ 'idle_timeout a bool', '{"route":{"path":"/x","image":"x","idle_timeout":true}}', qr/"idle_timeout"/ ],
        [ 'max_concurrency 0', '{"route":{"path":"/x","image":"x","max_concurrency":0}}', qr/"max_concurrency"/ ],
        [ 'format unknown', '{"route":{"path":"/x","image":"x","format":"cloudevent"}}', qr/"format" must be one of default, http, json, http-stream, lambda/ ],
        [ 'type unknown', '{"route":{"path":"/x","image":"x","type":"batch"}}', qr/"type" must be one of sync, async/ ],
        [ 'headers a list', '{"route":{"path":"/x","image":"x","headers":["a"]}}', qr/"headers" must be an object/ ],
        [ 'header value a string', '{"route":{"path":"/x","image":"x","headers":{"X":"y"}}}', qr/"headers"/ ],
        [ 'header name with a colon', '{"route":{"path":"/x","image":"x","headers":{"X:Y":["y"]}}}', qr/"headers": invalid name/ ],
        [ 'header value with CRLF', '{"route":{"path":"/x","image":"x","headers":{"X":["a\r\nSet-Cookie: b"]}}}', qr/control characters/ ],
        # framing, hop-by-hop and nginx's or the platform's headers are
        # never a route's: a stored route must always run
        (map { [ "header $_", qq({"route":{"path":"/x","image":"x","headers":{"$_":["1"]}}}),
                 qr/"\Q$_\E" is set by the platform/ ] }
             qw(Content-Length transfer-encoding Connection Upgrade Keep-Alive
                X-Accel-Redirect x-accel-buffering Fn-Executor-Busy Fn-Call-Id)),
        [ 'header value with DEL', '{"route":{"path":"/x","image":"x","headers":{"X":["a\u007f"]}}}', qr/control characters/ ],
        [ 'headers too large', '{"route":{"path":"/x","image":"x","headers":{"X":["' . ('h' x 4100) . '"]}}}', qr/"headers" is too large/ ],
        [ 'config value with DEL', '{"route":{"path":"/x","image":"x","config":{"K":"a\u007f"}}}', qr/control characters/ ],
        [ 'config of 20 KB', '{"route":{"path":"/x","image":"x","config":{"K":"' . ('c' x 20000) . '"}}}', qr/"config" is too large/ ],
        [ 'config of 4 KB, 12 KB escaped', '{"route":{"path":"/x","image":"x","config":{"K":"' . ("\xc3\xa9" x 2100) . '"}}}', qr/"config" is too large/ ],
        [ 'jwt_key a number', '{"route":{"path":"/x","image":"x","jwt_key":5}}', qr/"jwt_key" must be a string/ ],
        [ 'jwt_key too long', '{"route":{"path":"/x","image":"x","jwt_key":"' . ('k' x 1025) . '"}}', qr/"jwt_key"/ ],
        [ 'jwt_key the mask', '{"route":{"path":"/x","image":"x","jwt_key":"********"}}', qr/"jwt_key"/ ],
        [ 'app_name of another app', '{"route":{"path":"/x","image":"x","app_name":"other"}}', qr/"app_name"/ ],
        [ 'unknown route field', '{"route":{"path":"/x","image":"x","timeot":5}}', qr/"timeot" is unknown/ ],
    );
    push @cases, map { [ "route: $_->[0]", 'POST', '/v1/apps/bad/routes', $_->[1], 400, $_->[2] ] }
                 @route_cases;
    my $g = generation();
    for my $c (@cases) {
        my ($name, $method, $path, $body, $status, $re) = @$c;
        error_is(api($method, $path, $body // undef), $status, $re, $name);
    }
    is(db_query($db, "SELECT COUNT(*) FROM apps WHERE name IN ('a', 'bad')")->[0][0], 0,
       'nothing of it was stored');
    is(generation(), $g, 'and the generation did not move');

    error_is(api('POST', '/v1/apps', '{"app":{"name":"big","config":{"K":"' . ('x' x 70000) . '"}}}'),
             413, qr/too large/, 'a body over client_max_body_size: 413 JSON');
    my $chunked = http_request($ng->port, 'POST', '/v1/apps',
        headers => { Authorization => "Bearer $token", 'Transfer-Encoding' => 'chunked' },
        raw => "POST /v1/apps HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
             . "Authorization: Bearer $token\r\nTransfer-Encoding: chunked\r\n\r\n"
             . join('', map { sprintf("%x\r\n%s\r\n", 8192, 'x' x 8192) } 1 .. 10)
             . "0\r\n\r\n");
    is($chunked->{status}, 413, 'a chunked body over the limit: 413');
    like($chunked->{body}, qr/"too large"|too large/, '  JSON');
    # 60 KB of body (JSON whitespace around a config value of 10 KB)
    my $r = api('POST', '/v1/apps', '{"app":{"name":"big","config":{"K":' . (' ' x 50000)
                . '"' . ('x' x 10000) . '"}}}');
    is($r->{status}, 200, 'a body under the limit is read whole (even from a temp file)');
    is(length($r->{json}{app}{config}{K}), 10000, '  every byte of it');
    like(slurp(tmpdir() . '/api.log'), qr{^POST /v1/apps 400 call_id=\w{26} app=-$}m,
         'an access log of API requests reads the module\'s variables');
};

subtest 'hostile values are stored literally' => sub {
    my %config = (
        Q => q(it's "quoted"),
        SQL => q('; DROP TABLE apps; --),
        BS => q(back\slash\\ and \' and \"),
        U => "caf\x{e9} \x{1F600} \x{202E}rtl",
        CTRL => "tab\there",
        JSONISH => '{"a":[1,2]}',
        PCT => '%s %n %x',
    );
    my $r = api('POST', '/v1/apps/hostile/routes', { route => {
        path => q(/it's/"q"/a;b/$x), image => 'oci:echo:v1', config => \%config,
        headers => { 'X-Evil' => [q('"\\), "\x{1F600}"] } } });
    is($r->{status}, 200, 'created') or diag($r->{body});
    $r = api('GET', q(/v1/apps/hostile/routes/it's/%22q%22/a;b/$x));
    is($r->{status}, 200, 'read back by its path') or diag($r->{body});
    is_deeply($r->{json}{route}{config}, \%config, 'config: identical');
    # an image like that is refused now (not a form executors run): the
    # image filter of a list still takes one, literally
    error_is(api('POST', '/v1/apps/hostile/routes', { route => { path => '/i',
                 image => q(oci:img';--"x) } }),
             400, qr/the directory must be/, 'a hostile image is refused');
    is_deeply(api('GET', q(/v1/apps/hostile/routes?image=oci%3Aimg'%3B--%22x))->{json}{routes},
              [], 'a hostile image filter is a literal');
    is_deeply($r->{json}{route}{headers}, { 'X-Evil' => [q('"\\), "\x{1F600}"] },
              'headers: identical');
    is(db_query($db, 'SELECT COUNT(*) FROM apps')->[0][0] > 0, 1, 'the tables are still there');
    $r = api('PATCH', '/v1/apps/hostile', { app => { config => { "K'" => q{') OR 1=1 --} } } });
    is($r->{json}{app}{config}{"K'"}, q{') OR 1=1 --}, 'app config: identical');
};

# concurrently(N, CODE): CODE->($i) for $i = 1 .. N, each in a process of
# its own; they start together (each waits for the end of a pipe that the
# parent closes once all of them run).  Returns what each returned, in
# order (a line of text; "died: ..." if it died).
sub concurrently {
    my ($n, $code) = @_;
    pipe(my $go_r, my $go_w) or die "pipe: $!";
    pipe(my $out_r, my $out_w) or die "pipe: $!";
    my @pids;
    for my $i (1 .. $n) {
        my $pid = fork() // die "fork: $!";
        if ($pid == 0) {
            close $go_w;
            close $out_r;
            sysread($go_r, my $byte, 1);
            my $v = eval { $code->($i) } // "died: $@";
            syswrite($out_w, "$i " . ($v =~ s/\n/ /gr) . "\n");
            # not exit: the harness's END would stop nginx
            POSIX::_exit(0);
        }
        push @pids, $pid;
    }
    close $go_r;
    close $out_w;
    close $go_w;
    my %got = map { /^(\d+) (.*)$/ ? ($1, $2) : () } <$out_r>;
    close $out_r;
    waitpid($_, 0) for @pids;
    return map { $got{$_} // 'no answer' } 1 .. $n;
}

subtest 'concurrent PATCHes keep each other\'s keys' => sub {
    my $r = api('POST', '/v1/apps/race/routes', { route => { path => '/r',
        image => 'oci:echo:v1', config => { KEEP => 'route' } } });
    is($r->{status}, 200, 'a route (and its app)') or diag($r->{body});
    api('PATCH', '/v1/apps/race', { app => { config => { KEEP => 'app' } } });

    # a PATCH ends after its locked read (refused, or no such row): the
    # lock goes with it
    my $open = sub {
        db_query($db, 'SELECT COUNT(*) FROM information_schema.innodb_trx t'
                      . ' JOIN information_schema.processlist p'
                      . " ON p.id = t.trx_mysql_thread_id WHERE p.db = '$db'")->[0][0];
    };
    error_is(api('PATCH', '/v1/apps/race', { app => { config => { K => "a\x7f" } } }),
             400, qr/control characters/, 'an app PATCH refused after its read: 400');
    error_is(api('PATCH', '/v1/apps/race/routes/r', { route => { memory => 0 } }),
             400, qr/"memory"/, 'a route PATCH refused after its read: 400');
    error_is(api('PATCH', '/v1/apps/race/routes/nope', { route => { memory => 64 } }),
             404, qr/^Route not found$/, 'a PATCH of no route: 404');
    ok(wait_until(10, sub { $open->() == 0 }), '  no transaction is left open');
    is(api('PATCH', '/v1/apps/race', { app => { config => { KEEP => 'app' } } })->{status},
       200, '  the app is not locked');
    is(api('PATCH', '/v1/apps/race/routes/r', { route => { memory => 128 } })->{status},
       200, '  nor the route');

    my ($clients, $rounds) = (12, 3);
    for my $t ([ 'app', '/v1/apps/race' ], [ 'route', '/v1/apps/race/routes/r' ]) {
        my ($kind, $url) = @$t;
        my %want = (KEEP => $kind);
        for my $round (1 .. $rounds) {
            # each client adds its key and removes the one it added the
            # round before: every other key must stay
            my @status = concurrently($clients, sub {
                my ($i) = @_;
                my %config = ("K${round}_$i" => "v$i");
                $config{'K' . ($round - 1) . "_$i"} = '' if $round > 1;
                my $r = api('PATCH', $url, { $kind => { config => \%config } });
                return "$r->{status} " . ($r->{json}{error}{message} // '');
            });
            is_deeply([ grep { !/^200 / } @status ], [],
                      "$kind, round $round: $clients PATCHes at once, each 200");
            delete @want{ map { 'K' . ($round - 1) . "_$_" } 1 .. $clients };
            $want{"K${round}_$_"} = "v$_" for 1 .. $clients;
            my $got = api('GET', $url)->{json}{$kind}{config};
            is_deeply($got, \%want, '  every key added is there, every key removed gone')
                or diag(explain([ grep { !exists $got->{$_} } sort keys %want ]));
        }
    }
    like(http_request($ng->port, 'GET', '/r/race/r')->{body}, qr/^v1 greeting=$/m,
         'the route still runs');
};

subtest 'end to end: written through the API, called at once' => sub {
    my $r = api('POST', '/v1/apps/e2e/routes', { route => { path => '/hello',
        image => 'oci:echo:v1', config => { GREETING => 'one' } } });
    is($r->{status}, 200, 'route created') or diag($r->{body});
    $r = http_request($ng->port, 'GET', '/r/e2e/hello');
    is($r->{status}, 200, 'called') or diag($r->{body});
    like($r->{body}, qr/^v1 greeting=one$/m, '  runs the route as created');
    for my $n (2 .. 6) {
        my $image = $n % 2 ? 'oci:echo:v1' : 'oci:echo:v2';
        api('PATCH', '/v1/apps/e2e/routes/hello', { route => { image => $image,
            config => { GREETING => "n$n" } } });
        # the next call, on either worker, runs the new version
        my @bodies = map { http_request($ng->port, 'GET', '/r/e2e/hello')->{body} } 1 .. 4;
        my $tag = $image =~ s/.*://r;
        is(scalar(grep { /^$tag greeting=n$n$/m } @bodies), 4,
           "change $n: every next call runs it");
    }
    api('PATCH', '/v1/apps/e2e', { app => { config => { GREETING => 'app' } } });
    api('PATCH', '/v1/apps/e2e/routes/hello', { route => { config => { GREETING => '' } } });
    like(http_request($ng->port, 'GET', '/r/e2e/hello')->{body}, qr/greeting=app$/m,
         'app config shows once the route key is removed');

    api('PATCH', '/v1/apps/e2e/routes/hello', { route => { jwt_key => 'k3y' } });
    is(http_request($ng->port, 'GET', '/r/e2e/hello')->{status}, 401,
       'a jwt_key set through the API guards the route at once');
    api('DELETE', '/v1/apps/e2e/routes/hello');
    is(http_request($ng->port, 'GET', '/r/e2e/hello')->{status}, 404,
       'a deleted route is gone at once');
    api('POST', '/v1/apps/e2e/routes', { route => { path => '/hello', image => 'oci:echo:v2' } });
    like(http_request($ng->port, 'GET', '/r/e2e/hello')->{body}, qr/^v2 /m,
         'and a new one is there at once (no negative entry left)');
};

subtest 'another nginx instance sees API writes within about a second' => sub {
    my $ng2 = nginx_start(http => $http, server => $server);
    api('POST', '/v1/apps/two/routes', { route => { path => '/x', image => 'oci:echo:v1',
                                                   config => { GREETING => 'a' } } });
    like(http_request($ng2->port, 'GET', '/r/two/x')->{body}, qr/greeting=a$/m, 'cached there');
    api('PATCH', '/v1/apps/two/routes/x', { route => { config => { GREETING => 'b' } } });
    ok(wait_until(3, sub { http_request($ng2->port, 'GET', '/r/two/x')->{body} =~ /greeting=b$/m }),
       'the change reaches it through the generation');
    $ng2->stop;
};

subtest 'functions_image_registries: routes name only those registries' => sub {
    my $ng3 = nginx_start(http => $http . "    functions_image_registries "
                          . "registry.example.com:5000 127.0.0.1:5000;\n",
                          server => $server);
    my %p = (port => $ng3->port);
    my $r = api('POST', '/v1/apps/regs/routes',
                { route => { path => '/a', image => 'evil.example.com/x/y:1' } }, %p);
    error_is($r, 400, qr/^route field "image": the registry evil\.example\.com is not one this platform pulls from \(functions_image_registries\)$/,
             'a registry not listed: 400');
    $r = api('POST', '/v1/apps/regs/routes',
             { route => { path => '/a', image => 'docker.io/alpine' } }, %p);
    error_is($r, 400, qr/the registry registry-1\.docker\.io is not one/,
             'docker.io: Docker Hub\'s endpoint, as Docker reads it, not listed: 400');
    $r = api('POST', '/v1/apps/regs/routes',
             { route => { path => '/a', image => '127.0.0.1:3306/x:1' } }, %p);
    error_is($r, 400, qr/the registry 127\.0\.0\.1:3306 is not one/,
             'a listed host on another port: 400');
    for my $img ('Registry.Example.com:5000/team/fn:1', '127.0.0.1:5000/fn@sha256:'
                 . ('a' x 64), 'iron/hello', 'oci:echo:v1') {
        $r = api('POST', '/v1/apps/regs/routes',
                 { route => { path => '/ok', image => $img } }, %p);
        is($r->{status}, 200, "$img: accepted") or diag($r->{body});
        api('DELETE', '/v1/apps/regs/routes/ok', undef, %p);
    }
    api('POST', '/v1/apps/regs/routes',
        { route => { path => '/b', image => 'iron/hello' } }, %p);
    $r = api('PATCH', '/v1/apps/regs/routes/b',
             { route => { image => 'evil.example.com/x:1' } }, %p);
    error_is($r, 400, qr/the registry evil\.example\.com is not one/,
             'nor through a PATCH');
    $ng3->stop;
    my ($rc, $out) = nginx_check(http => "functions_image_registries a.example.com bad/host;");
    isnt($rc, 0, 'an invalid registry in the directive is refused');
    like($out, qr/invalid registry "bad\/host", expected host\[:port\]/, '  naming it');
};

subtest 'MariaDB frozen: the API answers 503, never hangs' => sub {
    my $mysqld = slurp("$env->{FUNCTIONS_VAR}/run/mysqld.pid");
    chomp $mysqld if $mysqld;
    ok($mysqld, "MariaDB's pid file") or return;
    kill 'STOP', $mysqld;
    my ($r, $w, $t);
    my $ok = eval {
        my $t0 = time;
        $r = api('GET', '/v1/apps/e2e');
        $w = api('POST', '/v1/apps', { app => { name => 'frozen' } });
        $t = time - $t0;
        1;
    };
    kill 'CONT', $mysqld;
    die $@ unless $ok;
    error_is($r, 503, qr/database is unavailable/, 'a read: 503');
    is($r->{headers}{'retry-after'}, 1, '  with Retry-After');
    error_is($w, 503, qr/database is unavailable/, 'a write: 503');
    ok($t < 10, '  both within the configured timeouts');
    ok(wait_until(10, sub { api('GET', '/v1/apps/e2e')->{status} == 200 }),
       'after SIGCONT it answers again');
};

subtest 'configuration errors' => sub {
    my ($rc, $out) = nginx_check(http => "functions_mysql server=127.0.0.1:1 database=x user=u password=p;",
                                 server => "location / { functions_api; }");
    isnt($rc, 0, 'functions_api without a token file is refused');
    like($out, qr/needs "functions_mysql" and "functions_api_tokens"/, '  saying what is missing');
    my $bad = tmpdir() . '/bad.tokens';
    spew($bad, "sha256:xyz\n");
    ($rc, $out) = nginx_check(http => "functions_api_tokens $bad;");
    like($out, qr/line 1: expected/, 'a malformed token file is refused, naming the line');
    spew($bad, "# nothing\n\n");
    ($rc, $out) = nginx_check(http => "functions_api_tokens $bad;");
    like($out, qr/holds no token/, 'an empty token file is refused');
    ($rc, $out) = nginx_check(http => "functions_api_tokens /nonexistent/tokens;");
    like($out, qr/open\(\) "\/nonexistent\/tokens" failed/, 'a missing one too');
};

done_testing;
