# /r/<app>/<path> through nginx and the module: route lookup in MariaDB
# behind the shared-memory cache, calls to executors through an upstream.
use strict;
use warnings;
use lib 't/lib', 'scripts/lib';

use FnImage;
use FnTest qw(need_stack executor_start nginx_start fresh_database db_query stack_env
              http_request wait_until slurp jwt_hs256 executors_upstream functions_mysql);
use JSON::PP;
use POSIX ();
use Test::More;
use Time::HiRes qw(time sleep);

my $env = need_stack();
my $db = fresh_database();

my @ex = map { executor_start() } 1 .. 2;
for my $e (@ex) {
    FnImage::build($e->dir . '/images/echo', tag => 'v1',
        config => { Cmd => ['/bin/sh', '-c',
                            'echo "app=$FN_APP_NAME path=$FN_PATH id=$FN_CALL_ID"; '
                            . 'echo "greeting=$GREETING where=$WHERE"; '
                            . 'echo "url=$FN_REQUEST_URL method=$FN_METHOD"; '
                            . 'echo "body=$(cat)"'] },
        layers => [ FnImage::busybox_layer() ]);
}

sub http_conf {
    my (%o) = @_;
    my $timeout = $o{timeout} // '1s';
    return <<CONF;
    ${\ functions_mysql($db, timeout => $timeout) }
    functions_route_cache zone=routes:$o{zone} valid=$o{valid} not_found=2s;
    functions_metrics_zone log_interval=off;

${\ executors_upstream($o{executors}, balance => $o{balance},
                         server => 'max_fails=0') }
CONF
}

my $server_conf = <<'CONF';
        location /r/ {
            functions_route;
            proxy_pass http://executors$fn_executor_uri;
            include functions_params;
            error_page 502 = @functions_unavailable;
            error_page 413 = @functions_too_large;
            client_max_body_size 64k;
        }

        location @functions_too_large {
            default_type application/json;
            return 413 '{"error":{"message":"request body is too large"},"call_id":"$fn_call_id"}\n';
        }

        location @functions_unavailable {
            default_type application/json;
            add_header Retry-After 1 always;
            return 503 '{"error":{"message":"no executor is reachable"},"call_id":"$fn_call_id"}\n';
        }

        location = /static {
            return 200 "static\n";
        }

        location = /metrics {
            functions_metrics;
        }

        location = /status {
            stub_status;
        }
CONF

sub start {
    my (%o) = @_;
    return nginx_start(http => http_conf(executors => [ $o{executors} ? @{ $o{executors} } : $ex[0] ],
                                         zone => $o{zone} // '1m',
                                         valid => $o{valid} // '60s',
                                         timeout => $o{timeout},
                                         balance => $o{balance}),
                       server => $server_conf);
}

my $ng = start();

sub route {
    my ($app, $path, %f) = @_;
    db_query($db, "INSERT IGNORE INTO apps (name, config) VALUES ('$app', '"
             . encode_json($f{app_config} // {}) . "')");
    db_query($db, "REPLACE INTO routes (app_name, path, image, type, config, headers, jwt_key)"
             . " VALUES ('$app', '$path', '" . ($f{image} // 'oci:echo:v1')
             . "', '" . ($f{type} // 'sync') . "', '"
             . encode_json($f{config} // {}) . "', '"
             . encode_json($f{headers} // {}) . "', '" . ($f{jwt_key} // '') . "')");
}

# A change as the API will make it: the row, then a generation bump with
# its route_changes row, in one transaction.
sub bump {
    my ($app, $path) = @_;
    my $p = defined $path ? "'$path'" : 'NULL';
    db_query($db, "START TRANSACTION; UPDATE generation SET value = value + 1 WHERE id = 1; "
             . "INSERT INTO route_changes (generation, app_name, path) "
             . "SELECT value, '$app', $p FROM generation WHERE id = 1; COMMIT");
}

sub get {
    my ($n, $path, %o) = @_;
    return http_request($n->port, $o{method} // 'GET', $path,
                        headers => $o{headers} // {}, body => $o{body},
                        timeout => $o{timeout} // 30);
}

# The module's counters and gauges (unlabelled ones) from /metrics.
sub metrics {
    my ($n) = @_;
    my %m = get($n, '/metrics')->{body} =~ /^([a-z_]+) (\d+)$/mg;
    return \%m;
}

# Waits until the cache of nginx $n has caught up with the database's
# generation: a fresh zone flushes itself at its first check, so a test of
# cached entries starts after it.
sub caught_up {
    my ($n) = @_;
    my $g = db_query($db, 'SELECT value FROM generation WHERE id = 1')->[0][0];
    return wait_until(5, sub {
        (metrics($n)->{functions_route_cache_generation} // -1) == $g });
}

route('demo', '/hello', config => { greeting => 'hi' },
      app_config => { where => 'app', greeting => 'app-level' });

subtest 'a route runs its function' => sub {
    my $r = get($ng, '/r/demo/hello?x=1', method => 'POST', body => 'payload');
    is($r->{status}, 200, 'found and run') or diag($r->{body});
    like($r->{body}, qr{app=demo path=/hello id=\w{26}}, 'app, path and call id');
    like($r->{body}, qr/greeting=hi where=app/, 'route config over app config');
    like($r->{body}, qr{url=http://localhost/r/demo/hello\?x=1 method=POST},
         'the request URL and method');
    like($r->{body}, qr/body=payload/, 'the body');
    like($r->{headers}{'fn-call-id'}, qr/^[0-7][0-9A-HJKMNP-TV-Z]{25}$/,
         'a call id comes back');
    my ($id) = $r->{body} =~ /id=(\w+)/;
    is($r->{headers}{'fn-call-id'}, $id, 'the one the function saw');
    isnt(get($ng, '/r/demo/hello')->{headers}{'fn-call-id'}, $id,
         'each call has its own');
    is(get($ng, '/r/demo/hello/')->{status}, 200, 'a trailing slash is the same route');
};

subtest 'errors are JSON' => sub {
    for my $path ('/r/demo/nope', '/r/nobody/hello', '/r/', '/r/bad%20app/x') {
        my $r = get($ng, $path);
        is($r->{status}, 404, "$path: 404");
        like($r->{body}, qr/"message":"no such route"/, '  with a JSON message');
        like($r->{headers}{'content-type'} // '', qr{application/json}, '  as JSON');
    }
    route('demo', '/later', type => 'async');
    my $r = get($ng, '/r/demo/later');
    is($r->{status}, 503, 'an async route: 503 until async calls exist');
    like($r->{body}, qr/async not enabled/, '  saying so');
};

subtest 'hostile paths are looked up literally' => sub {
    # stored as the API will store them: a quote is a valid path byte
    db_query($db, "INSERT INTO routes (app_name, path, image) VALUES "
             . "('demo', '/it''s-here', 'oci:echo:v1')");
    my $r = get($ng, "/r/demo/it's-here");
    is($r->{status}, 200, 'a path with a quote is found') or diag($r->{body});
    like($r->{body}, qr{path=/it's-here}, '  and is the same path');
    my $count = sub { db_query($db, 'SELECT (SELECT COUNT(*) FROM apps), '
                                    . '(SELECT COUNT(*) FROM routes)')->[0] };
    my @before = @{ $count->() };
    for my $evil ("/x'%20OR%20'1'='1", "/x'%3B%20DROP%20TABLE%20routes%3B--",
                  "/it''s-here", "/%5C'%20OR%201=1--", '/a/%2E%2E/b',
                  '/a%2Fb') {
        is(get($ng, "/r/demo$evil")->{status}, 404, "$evil: 404");
    }
    is_deeply($count->(), \@before,
              'and the apps and routes are all still there (@before)');
};

subtest "the executor's answers pass through" => sub {
    for my $e (@ex) {
        FnImage::build($e->dir . '/images/fail', tag => 'v1',
            config => { Cmd => ['/bin/sh', '-c', 'exit 3'] },
            layers => [ FnImage::busybox_layer() ]);
    }
    route('demo', '/fail', image => 'oci:fail:v1');
    my $r = get($ng, '/r/demo/fail');
    is($r->{status}, 502, "a function's failure: the executor's 502");
    like($r->{body}, qr/"message":"function exited with status 3"/, '  with its JSON body');
    my @ids = ($r->{head} // '') =~ /^Fn-Call-Id:/mig;
    is(scalar(@ids), 1, '  and one Fn-Call-Id');
    route('demo', '/headers', headers => { 'X-Route' => ['yes'] });
    is(get($ng, '/r/demo/headers')->{headers}{'x-route'}, 'yes', "the route's headers");
    # nginx refuses it for its Content-Length, before any phase handler
    $r = get($ng, '/r/demo/hello', method => 'POST', body => 'x' x 70000);
    is($r->{status}, 413, 'a body over client_max_body_size: 413');
    like($r->{body}, qr/"message":"request body is too large"/, '  as JSON');
    my ($id413) = $r->{body} =~ /"call_id":"(\w*)"/;
    like($id413 // '', qr/^[0-7][0-9A-HJKMNP-TV-Z]{25}$/, '  with a call id');
    is($r->{headers}{'fn-call-id'}, $id413, '  the one in Fn-Call-Id');
    my @ids413 = ($r->{head} // '') =~ /^Fn-Call-Id:/mig;
    is(scalar(@ids413), 1, '  once');
};

sub jwt { jwt_hs256(@_) }

subtest 'a route with a jwt_key needs a signed token' => sub {
    # a function that prints everything it is given: its environment
    # (the request's headers are there too) and its body
    for my $e (@ex) {
        FnImage::build($e->dir . '/images/env', tag => 'v1',
            config => { Cmd => ['/bin/sh', '-c', 'env; cat'] },
            layers => [ FnImage::busybox_layer() ]);
    }
    route('sec', '/x', jwt_key => 'k3y-of-the-route', image => 'oci:env:v1',
          config => { greeting => 'sec' });
    my $now = time;
    my $auth = sub { { Authorization => "Bearer $_[0]" } };
    my $r = get($ng, '/r/sec/x');
    is($r->{status}, 401, 'no token: 401');
    like($r->{headers}{'www-authenticate'} // '', qr/^Bearer/, '  with WWW-Authenticate');
    like($r->{body}, qr/"message":"this route needs a Bearer token"/, '  as JSON');
    $r = get($ng, '/r/sec/x', method => 'POST', body => 'the body',
             headers => { %{ $auth->(jwt('k3y-of-the-route',
                                         { exp => int($now) + 60 })) },
                          'X-Probe' => 'probe-value' });
    is($r->{status}, 200, 'a token signed with the key: the call runs');
    like($r->{body}, qr/^GREETING=sec$/m, "the function printed its environment")
        or diag($r->{body});
    like($r->{body}, qr/^HEADER_X_PROBE=probe-value$/m, '  with the headers');
    like($r->{body}, qr/the body$/, '  and its body');
    # the whole key: its first bytes may stand in a token's base64 by chance
    unlike($r->{body}, qr/k3y-of-the-route/, 'the key reaches no function');
    for my $bad (
        [ 'another key', jwt('wrong', {}) ],
        [ 'alg none', jwt('k3y-of-the-route', {}, header => { alg => 'none' }) =~ s/\.[^.]*$/./r ],
        [ 'alg HS512', jwt('k3y-of-the-route', {}, header => { alg => 'HS512' }) ],
        [ 'alg HS384', jwt('k3y-of-the-route', {}, header => { alg => 'HS384' }) ],
        [ 'alg RS256', jwt('k3y-of-the-route', {}, header => { alg => 'RS256' }) ],
        [ 'no alg', jwt('k3y-of-the-route', {}, header => { typ => 'JWT' }) ],
        [ 'garbage segments', 'e30.!!!.' . ('A' x 43) ],
        [ 'expired', jwt('k3y-of-the-route', { exp => int($now) - 120 }) ],
        [ 'not valid yet', jwt('k3y-of-the-route', { nbf => int($now) + 120 }) ],
        [ 'garbage', 'not.a.token' ],
        [ 'long garbage', 'a' x 6000 ],
    ) {
        $r = get($ng, '/r/sec/x', headers => $auth->($bad->[1]));
        is($r->{status}, 401, "$bad->[0]: 401");
    }
    $r = get($ng, '/r/demo/hello', headers => $auth->('anything'));
    is($r->{status}, 200, 'a route without a jwt_key ignores Authorization');
};

subtest 'client headers cannot pose as the module' => sub {
    my $forged = encode_json({ app => 'demo', path => '/hello',
                               image => 'oci:other:v1', config => { greeting => 'forged' } });
    my $r = get($ng, '/r/demo/hello', headers => {
        'Fn-Route' => $forged, 'Fn-Call-Id' => '01ARZ3NDEKTSV4RRFFQ69G5FAV',
        'Fn-Method' => 'DELETE', 'Fn-Request-Url' => 'http://evil/' });
    is($r->{status}, 200, 'the call runs');
    like($r->{body}, qr/greeting=hi/, 'with the stored route, not the forged one');
    unlike($r->{body}, qr/01ARZ3NDEKTSV4RRFFQ69G5FAV/, 'and its own call id');
    like($r->{body}, qr/method=GET/, 'and the real method');
};

subtest 'the cache: hit, negative entry, change seen through the generation' => sub {
    route('cache', '/a', config => { greeting => 'one' });
    like(get($ng, '/r/cache/a')->{body}, qr/greeting=one/, 'first call');
    db_query($db, "UPDATE routes SET config = '{\"greeting\":\"two\"}' WHERE app_name = 'cache'");
    like(get($ng, '/r/cache/a')->{body}, qr/greeting=one/,
         'a change without a generation bump is not seen: served from the cache');
    bump('cache', '/a');
    ok(wait_until(3, sub { get($ng, '/r/cache/a')->{body} =~ /greeting=two/ }),
       'after the bump, within about a second');

    is(get($ng, '/r/cache/b')->{status}, 404, 'an unknown route: 404');
    route('cache', '/b');
    is(get($ng, '/r/cache/b')->{status}, 404, 'remembered as unknown (negative entry)');
    ok(wait_until(4, sub { get($ng, '/r/cache/b')->{status} == 200 }),
       'until not_found expires');
};

subtest 'the cache survives a reload' => sub {
    route('reload', '/x', config => { greeting => 'before' });
    like(get($ng, '/r/reload/x')->{body}, qr/greeting=before/, 'cached');
    db_query($db, "UPDATE routes SET config = '{\"greeting\":\"after\"}' WHERE app_name = 'reload'");
    ok($ng->reload, 'nginx reloaded');
    like(get($ng, '/r/reload/x')->{body}, qr/greeting=before/,
         'the entry is still there after nginx -s reload');

    # a zone of another size is another zone: nginx starts it empty
    my $conf = $ng->prefix . '/nginx.conf';
    FnTest::spew($conf, slurp($conf) =~ s/zone=routes:1m/zone=routes:2m/r);
    ok($ng->reload, 'reloaded with the zone at 2m');
    like(get($ng, '/r/reload/x')->{body}, qr/greeting=after/,
         'the entry is gone: the route is read again');
    FnTest::spew($conf, slurp($conf) =~ s/zone=routes:2m/zone=routes:1m/r);
    ok($ng->reload, 'and back to 1m');
};

subtest 'MariaDB frozen: cached routes and static locations keep answering' => sub {
    my $mysqld = slurp("$env->{FUNCTIONS_VAR}/run/mysqld.pid");
    chomp $mysqld if $mysqld;
    ok($mysqld, "MariaDB's pid file") or return;
    route('frozen', '/cached');
    is(get($ng, '/r/frozen/cached')->{status}, 200, 'cached before the freeze');
    kill 'STOP', $mysqld;
    my $ok = eval {
        my $m0 = metrics($ng);
        is(get($ng, '/static')->{status}, 200, 'a static location answers');
        is(get($ng, '/r/frozen/cached')->{status}, 200, 'a cached route answers');
        my $m1 = metrics($ng);
        is($m1->{functions_route_cache_hits_total}
           - $m0->{functions_route_cache_hits_total}, 1, '  from the cache');
        is($m1->{functions_route_lookup_seconds_count}
           - $m0->{functions_route_lookup_seconds_count}, 0,
           '  without a lookup');
        # no function runs here: the 503 comes from the module alone
        my $t0 = time;
        my $r = get($ng, '/r/frozen/uncached');
        is($r->{status}, 503, 'an uncached route: 503');
        like($r->{body}, qr/route lookup is unavailable/, '  saying why');
        ok(time - $t0 < 5, '  within the configured timeout (1 s)');
        is(metrics($ng)->{functions_route_lookup_errors_total}
           - $m1->{functions_route_lookup_errors_total}, 1,
           '  counted as a lookup error');
        1;
    };
    kill 'CONT', $mysqld;
    die $@ unless $ok;
    route('frozen', '/uncached');
    ok(wait_until(10, sub { get($ng, '/r/frozen/uncached')->{status} == 200 }),
       'after SIGCONT everything recovers');
};

subtest 'stale-if-error: an expired route is served when MariaDB is down' => sub {
    my $short = start(valid => '1s');
    ok(caught_up($short), "the fresh zone's first generation check is done");
    route('stale', '/x', config => { greeting => 'cached' });
    like(get($short, '/r/stale/x')->{body}, qr/greeting=cached/, 'cached');
    # changed without a generation bump: only a lookup would see it
    db_query($db, "UPDATE routes SET config = '{\"greeting\":\"new\"}' "
             . "WHERE app_name = 'stale'");
    sleep 2;        # valid=1s: the entry has expired
    my $m0 = metrics($short);
    my $mysqld = slurp("$env->{FUNCTIONS_VAR}/run/mysqld.pid");
    chomp $mysqld;
    kill 'STOP', $mysqld;
    my $r = eval { get($short, '/r/stale/x') };
    kill 'CONT', $mysqld;
    is($r->{status}, 200, 'expired, but served while MariaDB is frozen');
    like($r->{body}, qr/greeting=cached/, '  the route as it was cached');
    my $m1 = metrics($short);
    is($m1->{functions_route_cache_stale_total}
       - $m0->{functions_route_cache_stale_total}, 1, '  counted as stale');
    is($m1->{functions_route_lookup_errors_total}
       - $m0->{functions_route_lookup_errors_total}, 1,
       '  after the lookup failed');
    like(slurp($short->prefix . '/error.log'),
         qr/serving a stale route.*app=stale path=\/x/, '  and logged');
    $short->stop;
};

subtest 'an LRU zone: old entries make room, used ones stay' => sub {
    my $small = start(zone => '32k');
    ok(caught_up($small), "the fresh zone's first generation check is done");
    # routes with a jwt_key: a request without a token is looked up and
    # answered 401 by the module, no function runs
    route('lru', "/r$_", jwt_key => 'k') for 0 .. 80;
    my $read = sub {
        my ($i) = @_;
        my $m0 = metrics($small);
        my $status = get($small, "/r/lru/r$i")->{status};
        my $m1 = metrics($small);
        return 'failed' if $status != 401;
        return $m1->{functions_route_cache_hits_total}
               > $m0->{functions_route_cache_hits_total} ? 'hit' : 'miss';
    };
    is($read->(0), 'miss', 'r0 is read into the zone');
    # eighty more routes through a zone that holds far fewer; r0 is used
    # after each: a least-recently-used zone keeps it, a first-in
    # first-out one would let it go once the zone is full
    my (%new, %r0);
    for my $i (1 .. 80) {
        $new{ $read->($i) }++;
        $r0{ $read->(0) }++;
    }
    is_deeply(\%new, { miss => 80 }, 'each new route is looked up');
    is_deeply(\%r0, { hit => 80 }, 'the route in use is never evicted');
    is($read->(1), 'miss', 'the least recently used one was evicted');
    like(slurp($small->prefix . '/error.log') // '', qr/^(?!.*\[(alert|crit|emerg)\])/s,
         'no allocation failure is logged');
    $small->stop;
};

subtest 'two nginx instances on one database see a change within ~1.5 s' => sub {
    my $other = start();
    route('two', '/x', config => { greeting => 'v1' });
    like(get($ng, '/r/two/x')->{body}, qr/greeting=v1/, 'the first instance caches it');
    like(get($other, '/r/two/x')->{body}, qr/greeting=v1/, 'and the second');
    db_query($db, "UPDATE routes SET config = '{\"greeting\":\"v2\"}' WHERE app_name = 'two'");
    # the time to see it, by the generation each zone has caught up with
    # (no function runs in the loop)
    my $t0 = time;
    bump('two', '/x');
    ok(wait_until(5, sub { caught_up($ng) && caught_up($other) }),
       'both caches catch up with the bump');
    my $took = time - $t0;
    ok($took < 3, sprintf('within %.1f s (checks run once a second)', $took));
    like(get($ng, '/r/two/x')->{body}, qr/greeting=v2/,
         'the first serves the new route');
    like(get($other, '/r/two/x')->{body}, qr/greeting=v2/, 'and the second');
    db_query($db, "UPDATE apps SET config = '{\"where\":\"changed\"}' WHERE name = 'two'");
    bump('two', undef);
    ok(wait_until(3, sub { get($other, '/r/two/x')->{body} =~ /where=changed/ }),
       'an app change (path NULL) drops every route of the app');
    $other->stop;
};

subtest 'two executors: hash consistent keeps a route on one, failover' => sub {
    my $lb = start(executors => \@ex,
                   balance => 'hash $fn_app$fn_path consistent;');
    route('lb', "/p$_") for 1 .. 12;
    my %owner;
    for my $i (1 .. 12) {
        for (1 .. 3) {
            my $r = get($lb, "/r/lb/p$i");
            my ($id) = $r->{headers}{'fn-call-id'};
            my ($which) = grep { $ex[$_]->log =~ /call_id=$id/ } 0, 1;
            $owner{$i}{$which // 'none'}++;
        }
    }
    is(scalar(grep { keys %{ $owner{$_} } == 1 } keys %owner), 12,
       'each route always lands on the same executor');
    my %used = map { (keys %{ $owner{$_} })[0] => 1 } keys %owner;
    is(scalar(keys %used), 2, 'and both executors get routes');

    # the executor that owns /p1 is killed: its calls move, none fails
    my ($gone) = keys %{ $owner{1} };
    my $socket = $ex[$gone]->socket;
    my $cgroup = $ex[$gone]{cgroup_name};
    ok(defined $ex[$gone]->stop('KILL', 10), 'one executor is killed');
    my $failed = 0;
    for my $i (1 .. 12) {
        $failed++ if get($lb, "/r/lb/p$i")->{status} != 200;
    }
    is($failed, 0, 'every route is still served');
    # back, on the same socket and cgroup directory (its leftovers go)
    $ex[$gone] = executor_start(listen => $socket, cgroup_name => $cgroup);
    FnImage::build($ex[$gone]->dir . '/images/echo', tag => 'v1',
        config => { Cmd => ['/bin/sh', '-c', 'echo back'] },
        layers => [ FnImage::busybox_layer() ]);
    $lb->stop;
};

subtest 'concurrent misses for one route share a query' => sub {
    # a lookup may wait here: MariaDB's timeout is longer than the block
    my $herd = start(timeout => '20s');
    ok(caught_up($herd), "the fresh zone's first generation check is done");
    route('herd', '/x');
    # the routes table is locked: every lookup blocks until it is released,
    # so the eight requests below all start while the first lookup waits
    my $locker = fork // die;
    if ($locker == 0) {
        open(STDERR, '>', '/dev/null');     # it is killed below
        exec(FnTest::db_root(), $db, '-e',
             'LOCK TABLES routes WRITE; SELECT SLEEP(60) AS locker')
            or POSIX::_exit(127);
    }
    my $processlist = sub {
        db_query($db, "SELECT id, state, info FROM information_schema.processlist"
                 . " WHERE db = '$db'");
    };
    ok(wait_until(10, sub { grep { ($_->[2] // '') =~ /AS locker/ }
                            @{ $processlist->() } }), 'routes are locked');
    my $m0 = metrics($herd);
    my @pids;
    for (1 .. 8) {
        my $pid = fork // die;
        if ($pid == 0) {
            my $r = get($herd, '/r/herd/x');
            POSIX::_exit($r->{status} == 200 ? 0 : 1);
        }
        push @pids, $pid;
    }
    # all eight are in nginx (stub_status counts this request too)
    ok(wait_until(10, sub { get($herd, '/status')->{body} =~ /Writing: (\d+)/
                            && $1 >= 9 }), 'eight requests wait');
    my @waiting = grep { $_->[1] =~ /metadata lock/ } @{ $processlist->() };
    ok(@waiting >= 1 && @waiting <= 2,
       'with one blocked query per worker at most (' . @waiting . ')')
        or diag(explain($processlist->()));
    my ($lock) = map { $_->[0] } grep { ($_->[2] // '') =~ /AS locker/ }
                 @{ $processlist->() };
    db_query($db, "KILL $lock");
    waitpid($locker, 0);
    my $bad = 0;
    for (@pids) { waitpid($_, 0); $bad++ if $? }
    is($bad, 0, 'once released, all eight calls are served');
    my $m1 = metrics($herd);
    is($m1->{functions_route_cache_misses_total}
       - $m0->{functions_route_cache_misses_total}, 8, 'eight misses');
    my $lookups = $m1->{functions_route_lookup_seconds_count}
                  - $m0->{functions_route_lookup_seconds_count};
    ok($lookups >= 1 && $lookups <= 2,
       "and one lookup per worker at most ($lookups)");
    $herd->stop;
};

subtest 'a call that was sent is never sent again' => sub {
    my $lb = start(executors => \@ex);
    for my $e (@ex) {
        FnImage::build($e->dir . '/images/slow', tag => 'v1',
            config => { Cmd => ['/bin/sh', '-c', 'sleep 3; echo slow'] },
            layers => [ FnImage::busybox_layer() ]);
    }
    route('once', '/slow', image => 'oci:slow:v1');
    # keepalive connections to both executors, in both workers: the call
    # below likely goes out on a cached one (nginx gives a failed cached
    # connection another try of its own)
    get($lb, '/r/demo/hello') for 1 .. 8;
    my $pid = fork // die;
    if ($pid == 0) {
        my $r = get($lb, '/r/once/slow');
        FnTest::spew($ex[0]->dir . '/once', "$r->{status} " . ($r->{headers}{'fn-call-id'} // ''));
        POSIX::_exit(0);
    }
    my $runner;
    ok(wait_until(5, sub {
        ($runner) = grep { $ex[$_]->function_pids > 0 } 0, 1;
        defined $runner }), 'the call runs on one executor');
    sleep 0.5;
    kill 'KILL', $ex[$runner]->pid;
    waitpid($pid, 0);
    my ($status, $id) = split / /, FnTest::slurp($ex[0]->dir . '/once') // '';
    isnt($status, 200, "the caller gets an error ($status), not a second run");
    my $other = 1 - $runner;
    unlike($ex[$other]->log, qr/call_id=$id/, 'the other executor never saw it');
    $lb->stop;
};

subtest 'no executor reachable: 503 JSON' => sub {
    my $none = nginx_start(http => http_conf(executors => [ $ex[0] ], zone => '1m',
                                             valid => '60s')
                                   =~ s{server unix:\S+}{server unix:/nonexistent.sock}r,
                           server => $server_conf);
    my $r = get($none, '/r/demo/hello');
    is($r->{status}, 503, 'answered 503');
    like($r->{body}, qr/"message":"no executor is reachable"/, 'as JSON');
    like($r->{body}, qr/"call_id":"[0-9A-Z]{26}"/, 'with the call id');
    is($r->{headers}{'retry-after'}, '1', 'and Retry-After');
    $none->stop;
};

done_testing();
