# The module against hostile clients: a flood of unknown paths leaves real
# routes cached (and stale-if-error serving with them), tokens stay out of
# the logs and the log files are not world-readable, route JWTs need "exp"
# and may have a maximum lifetime, queued async calls carry no credentials
# unless asked; and nginx -t checks the directives that say so.
use strict;
use warnings;
use lib 't/lib', 'scripts/lib';

use FnTest qw(need_stack top tmpdir free_port nginx_check nginx_start fresh_database
              fresh_vhost db_query stack_env http_request wait_until slurp
              amqp_url functions_mysql stack_secret api_token jwt_hs256);
use File::Find ();
use IO::Socket::INET;
use JSON::PP;
use POSIX ();
use Test::More;
use Time::HiRes qw(sleep);

my $env = need_stack();

# the defences below must hold whatever the umask of whoever starts nginx
umask 022;

my $db = fresh_database();
my $echo_port = free_port();

# The database and cache settings of a test nginx, and a server that stands
# in for the executors: the module's work ends before the content handler.
sub http_conf {
    my (%o) = @_;
    my $cache = $o{cache} // 'zone=routes:1m valid=60s not_found=5s';
    return <<CONF;
    ${\ functions_mysql($db, timeout => '1s') }
    functions_route_cache $cache;
    log_format routes 'uri=\$request_uri status=\$status cache=\$fn_route_cache';
@{[ $o{extra} // '' ]}
    server {
        listen 127.0.0.1:$echo_port;
        location / {
            return 200 "ok\\n";
        }
    }
CONF
}

sub routed {
    my ($prefix, $extra) = @_;
    $extra //= '';
    return <<CONF;
        location $prefix {
            functions_route;
            access_log routes.log routes;
            proxy_pass http://127.0.0.1:$echo_port;
            include functions_params;
$extra
        }
CONF
}

sub route {
    my ($app, $path, %f) = @_;
    db_query($db, "INSERT IGNORE INTO apps (name) VALUES ('$app')");
    db_query($db, "REPLACE INTO routes (app_name, path, image, type, jwt_key)"
             . " VALUES ('$app', '$path', 'oci:echo:v1', '"
             . ($f{type} // 'sync') . "', '" . ($f{jwt_key} // '') . "')");
}

# GET with a tag in the query, so that its access log line can be found:
# returns (status, how the route was found: hit, miss or stale).
my $tag = 0;
sub get_cached {
    my ($ng, $uri) = @_;
    my $t = ++$tag;
    my $r = http_request($ng->port, 'GET', "$uri?t=$t", timeout => 10);
    my ($line) = grep { /^uri=\Q$uri?t=$t\E / }
                 split /\n/, slurp($ng->prefix . '/routes.log') // '';
    my ($cache) = ($line // '') =~ /cache=(\S+)/;
    return ($r->{status}, $cache // 'none');
}

# Requests for @paths from $procs processes at once, each request on a
# connection of its own, as fast as nginx answers.  Returns { status => n }.
sub flood {
    my ($port, $paths, $procs) = @_;
    my $dir = tmpdir();
    my @pids;
    for my $n (0 .. $procs - 1) {
        my $pid = fork // die "fork: $!";
        if ($pid == 0) {
            my %count;
            for (my $i = $n; $i < @$paths; $i += $procs) {
                my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port",
                                              Timeout => 10);
                if (!$s) { $count{0}++; next }
                print $s "GET $paths->[$i] HTTP/1.1\r\nHost: localhost\r\n"
                       . "Connection: close\r\n\r\n";
                local $/;
                my $resp = <$s> // '';
                my ($status) = $resp =~ /^HTTP\/1\.1 (\d+)/;
                $count{$status // 0}++;
            }
            open(my $fh, '>', "$dir/flood-$n") or POSIX::_exit(1);
            print $fh map { "$_ $count{$_}\n" } keys %count;
            close $fh;
            POSIX::_exit(0);
        }
        push @pids, $pid;
    }
    waitpid($_, 0) for @pids;
    my %total;
    for my $n (0 .. $procs - 1) {
        for (split /\n/, slurp("$dir/flood-$n") // '') {
            my ($status, $c) = split / /;
            $total{$status} += $c;
        }
    }
    return \%total;
}

my @chars = ('a' .. 'z', 'A' .. 'Z', 0 .. 9);
sub random_path {
    my ($len) = @_;
    return join('', map { $chars[rand @chars] } 1 .. $len);
}

# ------------------------------------------------------------- nginx -t

subtest 'nginx -t: the directives and their bad values' => sub {
    my $base = "functions_mysql server=127.0.0.1:3306 database=functions;\n";
    my @good = (
        [ 'not_found_max', "functions_route_cache zone=r:1m not_found_max=100;" ],
        [ 'not_found_max=0 (no "not found" entries)',
          "functions_route_cache zone=r:1m not_found_max=0;" ],
        [ 'functions_jwt_require_exp off', 'functions_jwt_require_exp off;' ],
        [ 'functions_jwt_max_lifetime 1h', 'functions_jwt_max_lifetime 1h;' ],
        [ 'functions_jwt_max_lifetime off', 'functions_jwt_max_lifetime off;' ],
        [ 'functions_async_credentials on', 'functions_async_credentials on;' ],
    );
    for my $case (@good) {
        my ($rc, $out) = nginx_check(http => $base . $case->[1]);
        is($rc, 0, "accepted: $case->[0]") or diag($out);
    }
    my ($rc, $out) = nginx_check(http => $base, server => <<'CONF');
        location /r/ {
            functions_jwt_require_exp off;
            functions_jwt_max_lifetime 15m;
            functions_async_credentials on;
        }
CONF
    is($rc, 0, 'all three in a location') or diag($out);

    my @bad = (
        [ 'not_found_max, not a number',
          'functions_route_cache zone=r:1m not_found_max=many;',
          qr/invalid number in "not_found_max=many"/ ],
        [ 'not_found_max, negative',
          'functions_route_cache zone=r:1m not_found_max=-1;',
          qr/invalid number in "not_found_max=-1"/ ],
        [ 'not_found_max, empty', 'functions_route_cache zone=r:1m not_found_max=;',
          qr/invalid number in "not_found_max="/ ],
        [ 'functions_jwt_require_exp, not a flag', 'functions_jwt_require_exp yes;',
          qr/invalid value "yes" in "functions_jwt_require_exp" directive, it must be "on" or "off"/ ],
        [ 'functions_jwt_require_exp, no value', 'functions_jwt_require_exp;',
          qr/invalid number of arguments in "functions_jwt_require_exp"/ ],
        [ 'functions_jwt_max_lifetime, not a time', 'functions_jwt_max_lifetime soon;',
          qr/invalid value "soon", expected a time \(such as 1h\) or "off"/ ],
        [ 'functions_jwt_max_lifetime 0', 'functions_jwt_max_lifetime 0;',
          qr/invalid value "0"/ ],
        [ 'functions_jwt_max_lifetime, two values', 'functions_jwt_max_lifetime 1h 2h;',
          qr/invalid number of arguments in "functions_jwt_max_lifetime"/ ],
        [ 'functions_jwt_max_lifetime twice',
          'functions_jwt_max_lifetime 1h; functions_jwt_max_lifetime 2h;',
          qr/"functions_jwt_max_lifetime" directive is duplicate/ ],
        [ 'functions_async_credentials, not a flag', 'functions_async_credentials all;',
          qr/invalid value "all" in "functions_async_credentials" directive/ ],
        [ 'functions_async_credentials twice',
          'functions_async_credentials on; functions_async_credentials off;',
          qr/"functions_async_credentials" directive is duplicate/ ],
    );
    for my $case (@bad) {
        my ($rc, $out) = nginx_check(http => $base . $case->[1]);
        isnt($rc, 0, "refused: $case->[0]");
        like($out, $case->[2], '  with a message saying why');
    }
};

# ----------------------------------------------------- the route cache

my @real = map { "/p$_" } 1 .. 8;
route('real', $_) for @real;

sub bump {
    my ($app, $path) = @_;
    db_query($db, "START TRANSACTION; UPDATE generation SET value = value + 1 WHERE id = 1; "
             . "INSERT INTO route_changes (generation, app_name, path) "
             . "SELECT value, '$app', '$path' FROM generation WHERE id = 1; COMMIT");
}

# A fresh zone drops what it holds at its first generation check: this
# waits until that check is behind.  A route first unknown (kept as such
# for not_found, a minute here), then created with a change recorded, is
# served only once a check has run.
my $probes = 0;
sub settle {
    my ($ng) = @_;
    my $app = 'probe' . ++$probes;
    http_request($ng->port, 'GET', "/r/$app/x")->{status} == 404 or return 0;
    route($app, '/x');
    bump($app, '/x');
    return wait_until(15, sub {
        http_request($ng->port, 'GET', "/r/$app/x")->{status} == 200 });
}

# Every real route asked until each answers from the cache.
sub warm {
    my ($ng) = @_;
    return wait_until(15, sub {
        my $hits = 0;
        for my $p (@real) {
            my ($status, $cache) = get_cached($ng, "/r/real$p");
            $hits++ if $status == 200 && $cache eq 'hit';
        }
        return $hits == @real;
    });
}

subtest 'a flood of unknown paths leaves every real route cached' => sub {
    # a zone of 32k holds about twenty entries; "not found" answers are
    # kept for a minute, so without a bound of their own they would fill it
    my $ng = nginx_start(
        http => http_conf(cache => 'zone=routes:32k valid=1h not_found=60s'),
        server => routed('/r/'));
    ok(settle($ng), "the zone's first generation check is behind") or return;
    ok(warm($ng), 'the real routes are cached') or return;

    my @paths = map { '/r/real/' . random_path(200) } 1 .. 3000;
    my $count = flood($ng->port, \@paths, 4);
    is($count->{404}, 3000, 'three thousand unknown paths of a real app: 404')
        or diag(explain($count));

    my @missed;
    for my $p (@real) {
        my ($status, $cache) = get_cached($ng, "/r/real$p");
        push @missed, "$p: $status $cache" unless $status == 200 && $cache eq 'hit';
    }
    is_deeply(\@missed, [], 'every real route is still answered from the cache');

    my $r = http_request($ng->port, 'GET', $paths[-1]);
    is($r->{status}, 404, 'an unknown path is still 404');
    unlike(slurp($ng->prefix . '/error.log') // '', qr/\[(alert|crit|emerg)\]/,
           'no allocation failure is logged');
    $ng->stop;
};

subtest 'not_found_max bounds the "not found" answers kept' => sub {
    my $ng = nginx_start(
        http => http_conf(cache => 'zone=routes:1m valid=1h not_found=60s '
                                 . 'not_found_max=10'),
        server => routed('/r/'));
    ok(settle($ng), "the zone's first generation check is behind") or return;
    my @unknown = map { "/r/real/unknown$_" } 1 .. 50;
    my @first = map { [ get_cached($ng, $_) ] } @unknown;
    is(scalar(grep { $_->[0] == 404 && $_->[1] eq 'miss' } @first), 50,
       'fifty unknown paths: 404, each looked up');
    my @last = map { (get_cached($ng, $_))[1] } @unknown[40 .. 49];
    is_deeply(\@last, [ ('hit') x 10 ], 'the last ten are remembered');
    my @old = map { (get_cached($ng, $_))[1] } @unknown[0 .. 9];
    is_deeply(\@old, [ ('miss') x 10 ],
              'the first ten are not (a 1m zone would hold them all)');
    $ng->stop;
};

subtest 'a zone full of routes: unknown paths take no room from them' => sub {
    my $ng = nginx_start(
        http => http_conf(cache => 'zone=routes:32k valid=1h not_found=60s'),
        server => routed('/r/'));
    ok(settle($ng), "the zone's first generation check is behind") or return;
    my @full = map { "/f$_" } 1 .. 100;
    route('full', $_) for @full;
    # far more routes than the zone holds: the most recent ones stay
    get_cached($ng, "/r/full$_") for @full;
    # which: the newest first, until one is not there (it is read again,
    # and takes the room of the least recently used: the first one asked)
    my (@cached, $missed);
    for my $p (reverse @full) {
        my ($status, $cache) = get_cached($ng, "/r/full$p");
        if ($cache ne 'hit') {
            $missed = $p;
            last;
        }
        push @cached, $p;
    }
    ok($missed && @cached >= 5, scalar(@cached) . ' routes fill the zone');
    my @held = ($missed, reverse @cached[1 .. $#cached]);   # most recent first

    my @paths = map { '/r/full/' . random_path(200) } 1 .. 200;
    my $count = flood($ng->port, \@paths, 2);
    is($count->{404}, 200, 'two hundred unknown paths: 404') or diag(explain($count));
    my @gone = grep { (get_cached($ng, "/r/full$_"))[1] ne 'hit' } @held;
    is_deeply(\@gone, [], 'every route the zone held is still there');
    $ng->stop;
};

subtest 'an unknown app: one lookup answers for all its paths' => sub {
    my $ng = nginx_start(
        http => http_conf(cache => 'zone=routes:1m valid=1h not_found=60s'),
        server => routed('/r/'));
    ok(settle($ng), "the zone's first generation check is behind") or return;
    my @paths = map { '/r/ghost/' . random_path(100) } 1 .. 2000;
    my $count = flood($ng->port, \@paths, 4);
    is($count->{404}, 2000, 'two thousand paths of an app that does not exist: 404')
        or diag(explain($count));
    my @lines = grep { m{^uri=/r/ghost/} } split /\n/, slurp($ng->prefix . '/routes.log');
    is(scalar(@lines), 2000, 'all logged');
    my $misses = grep { /cache=miss/ } @lines;
    # the first of each worker, and those that came while it ran
    ok($misses <= 20, "looked up $misses times, not once per path");

    # the app is created (as the API does it: a change recorded): seen
    route('ghost', '/now');
    bump('ghost', '/now');
    ok(wait_until(5, sub { http_request($ng->port, 'GET', '/r/ghost/now')->{status} == 200 }),
       'a route created in it is served at once, not after not_found');
    is(http_request($ng->port, 'GET', $paths[0])->{status}, 404,
       'its unknown paths are still 404');
    $ng->stop;
};

subtest 'after a flood, stale-if-error still serves every real route' => sub {
    my $ng = nginx_start(
        http => http_conf(cache => 'zone=routes:32k valid=1s not_found=60s'),
        server => routed('/r/'));
    ok(settle($ng), "the zone's first generation check is behind") or return;
    # each route looked up and cached just now
    my @cold = grep { (get_cached($ng, "/r/real$_"))[0] != 200 } @real;
    is_deeply(\@cold, [], 'every real route answers');

    my @paths = map { '/r/real/' . random_path(200) } 1 .. 3000;
    my $count = flood($ng->port, \@paths, 4);
    is($count->{404}, 3000, 'three thousand unknown paths: 404')
        or diag(explain($count));
    sleep 1.2;      # past valid: every route entry has expired

    # every lookup fails now (this test's database only: the shared server
    # keeps serving the other tests)
    db_query($db, 'RENAME TABLE routes TO routes_away');
    my @failed = grep { (get_cached($ng, "/r/real$_"))[0] != 200 } @real;
    db_query($db, 'RENAME TABLE routes_away TO routes');
    is_deeply(\@failed, [], 'with every lookup failing, every real route answers 200');
    my $log = slurp($ng->prefix . '/routes.log');
    my %stale = map { m{^uri=/r/real(/p\d+)\?} ? ($1 => 1) : () }
                grep { /cache=stale/ } split /\n/, $log;
    is(scalar(keys %stale), scalar(@real), '  each from its stale entry');
    $ng->stop;
};

# ----------------------------------------------------------- route JWTs

sub jwt { jwt_hs256(@_) }

subtest 'route JWTs: exp required by default, a maximum lifetime' => sub {
    route('sec', '/x', jwt_key => 'k3y');
    my $ng = nginx_start(http => http_conf(),
                         server => routed('/r/')
                                   . routed('/relaxed/', 'functions_jwt_require_exp off;')
                                   . routed('/short/', 'functions_jwt_max_lifetime 1h;'));
    my $now = time;
    my $call = sub {
        my ($prefix, $token) = @_;
        return http_request($ng->port, 'GET', "${prefix}sec/x",
                            headers => { Authorization => "Bearer $token" });
    };

    my $r = $call->('/r/', jwt('k3y', { sub => 'me' }));
    is($r->{status}, 401, 'a token without exp: 401 by default');
    like($r->{body}, qr/"message":"token has no expiry"/, '  saying why');
    like($r->{headers}{'www-authenticate'} // '', qr/^Bearer/, '  with WWW-Authenticate');
    is($call->('/r/', jwt('k3y', { exp => $now + 600 }))->{status}, 200,
       'with exp: accepted');
    is($call->('/relaxed/', jwt('k3y', { sub => 'me' }))->{status}, 200,
       'without exp where functions_jwt_require_exp is off: accepted');
    is($call->('/relaxed/', jwt('k3y', { exp => $now - 600 }))->{status}, 401,
       '  an expired one is still refused there');

    $r = $call->('/short/', jwt('k3y', { iat => $now, exp => $now + 7200 }));
    is($r->{status}, 401, 'functions_jwt_max_lifetime 1h: a token for two hours is refused');
    like($r->{body}, qr/"message":"token lifetime is too long"/, '  saying why');
    is($call->('/short/', jwt('k3y', { exp => $now + 7200 }))->{status}, 401,
       '  and without iat, two hours ahead');
    is($call->('/short/', jwt('k3y', { iat => $now - 86400, exp => $now + 60 }))->{status},
       401, '  and one issued for a day, a minute before its end');
    is($call->('/short/', jwt('k3y', { iat => $now, exp => $now + 1800 }))->{status}, 200,
       '  half an hour: accepted');
    is($call->('/short/', jwt('k3y', { sub => 'me' }))->{status}, 401,
       '  no exp: refused');
    is($call->('/r/', jwt('k3y', { iat => $now, exp => $now + 7200 }))->{status}, 200,
       'without a maximum, two hours are fine');
    $ng->stop;
};

# --------------------------------------------------------- async calls

subtest 'async calls: credentials stay out of queued messages unless asked' => sub {
    my $amqp_password = stack_secret('FUNCTIONS_AMQP_PASSWORD_FILE');
    # another test file may stop the shared broker for a while: wait
    my $vhost;
    wait_until(90, sub { $vhost = eval { fresh_vhost() } })
        or BAIL_OUT('cannot make a RabbitMQ vhost');
    my $url = amqp_url($vhost);
    my $get = tmpdir() . '/amqp_get';
    system('cc', '-std=gnu11', '-O2', '-o', $get, top() . '/t/fn/amqp_get.c',
           '-lrabbitmq') == 0 or BAIL_OUT('cannot build amqp_get');
    my $read = sub {
        my @m = map { decode_json($_) }
                grep { length }
                split /\n/, `$get 127.0.0.1 $env->{FUNCTIONS_AMQP_PORT} $env->{FUNCTIONS_AMQP_USER} '$amqp_password' $vhost functions.calls`;
        return @m;
    };

    route('queued', '/later', type => 'async');
    my $ng = nginx_start(
        http => http_conf(extra => "    functions_amqp url=$url queue_type=quorum;"),
        server => routed('/r/') . routed('/cred/', 'functions_async_credentials on;'));
    my %h = (Authorization => 'Bearer tok-authorization-1',
             Cookie => 'session=tok-cookie-2',
             'Proxy-Authorization' => 'Basic tok-proxy-3',
             'X-Other' => 'kept');

    my %seen;
    for my $prefix ('/r/', '/cred/') {
        my $r;
        wait_until(90, sub {
            $r = http_request($ng->port, 'POST', "${prefix}queued/later",
                              headers => \%h, body => 'body', timeout => 30);
            $r->{status} != 503 });
        is($r->{status}, 202, "$prefix: accepted") or diag($r->{body});
        my @m;
        ok(wait_until(15, sub { @m = $read->(); @m > 0 }), '  a message in the queue');
        is(scalar(@m), 1, '  one');
        $seen{$prefix} = { map { lc($_->[0]) => $_->[1] } @{ $m[0]{headers} // [] } };
        unlike(encode_json($m[0]), qr/tok-/, '  no credential anywhere in it')
            if $prefix eq '/r/';
    }
    my $off = $seen{'/r/'};
    is($off->{'x-other'}, 'kept', 'by default: other headers travel');
    ok(!exists $off->{$_}, "  $_ does not") for qw(authorization cookie proxy-authorization);
    my $on = $seen{'/cred/'};
    is($on->{authorization}, 'Bearer tok-authorization-1',
       'functions_async_credentials on: Authorization travels');
    is($on->{cookie}, 'session=tok-cookie-2', '  Cookie too');
    is($on->{'proxy-authorization'}, 'Basic tok-proxy-3', '  and Proxy-Authorization');
    $ng->stop;
};

# --------------------------------------------------------------- logs

subtest "the module's log file: 0640, also when reopened, and no token" => sub {
    my $log = tmpdir() . '/functions.log';
    my $tokens = tmpdir() . '/api.tokens';
    my $admin = api_token($tokens);
    route('sec', '/x', jwt_key => 'k3y');
    my $ng = nginx_start(
        http => http_conf(extra => "    functions_log $log debug;\n"
                                 . "    functions_api_tokens $tokens;\n"
                                 . "    functions_metrics_zone log_interval=1s;"),
        server => routed('/r/') . "        location /v1/ { functions_api; }\n");
    my $mode = sub { (stat $_[0])[2] & 07777 };
    ok(-e $log, 'the file exists');
    is($mode->($log) & 027, 0, sprintf('0640 or stricter (%04o), with a umask of 022',
                                        $mode->($log)));

    my $route_token = jwt('k3y', { exp => time + 600, secret => 'tok-route-1' });
    my @asked = (
        [ '/v1/apps', { Authorization => "Bearer $admin" } ],
        [ '/v1/apps', { Authorization => 'Bearer fn_tok-wrong-2' } ],
        [ '/r/sec/x', { Authorization => "Bearer $route_token" } ],
        [ '/r/sec/x', { Authorization => 'Bearer tok-bad-route-3' } ],
        [ '/r/real/p1', { Cookie => 'session=tok-cookie-4' } ],
    );
    http_request($ng->port, 'GET', $_->[0], headers => $_->[1]) for @asked;
    # two Authorization headers: nginx refuses it (and logs it, at info)
    http_request($ng->port, 'GET', '/r/sec/x', raw =>
        "GET /r/sec/x HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
        . "Authorization: Bearer tok-dup-5\r\nAuthorization: Bearer tok-dup-6\r\n\r\n");
    ok(wait_until(10, sub { (slurp($log) // '') =~ /wrong token/ }),
       'the module logged something (the wrong token, at info)');
    my $text = slurp($log);
    for my $secret ($admin, 'tok-wrong-2', $route_token, 'tok-route-1', 'tok-bad-route-3',
                    'tok-cookie-4', 'tok-dup-5', 'tok-dup-6', 'k3y') {
        unlike($text, qr/\Q$secret\E/, "no '" . substr($secret, 0, 12) . "...' in it");
    }

    # rotated: the file is moved, nginx reopens (creates) it
    rename $log, "$log.1" or die;
    kill 'USR1', $ng->pid;
    ok(wait_until(10, sub { -s $log }), 'reopened after USR1, written to');
    is($mode->($log) & 027, 0, sprintf('  0640 or stricter (%04o)', $mode->($log)));
    $ng->stop;
};

# The shipped configuration, as scripts/stack runs it: a stack of its own,
# then requests carrying tokens in every way nginx might log them.
subtest 'the stack: no token in any log file, log files 0640' => sub {
    my $var = tmpdir() . '/stack';
    my %ports = map { $_ => free_port() } qw(HTTP CONSOLE MYSQL AMQP AMQP_DIST);
    my @names = sort keys %ports;
    local $ENV{FUNCTIONS_VAR} = $var;
    local @ENV{ map { "FUNCTIONS_${_}_PORT" } @names } = @ports{@names};
    my $stack = top() . '/scripts/stack';
    my $out = `$stack start 2>&1`;
    my $started = $? == 0;
    my $ok = eval {
        ok($started, 'a stack of its own starts') or diag($out);
        die "no stack\n" unless $started;
        my $admin = slurp("$var/admin.token");
        chomp $admin;
        my $port = $ports{HTTP};
        my $raw = sub {
            my ($head) = @_;
            return http_request($port, 'GET', '/', raw =>
                "$head\r\nHost: localhost\r\nConnection: close\r\n\r\n");
        };
        # the API's JWT key, and JWTs signed with it (an expired one too)
        my $jwt_key = slurp("$var/secrets/api-jwt.key");
        my $jwt = sub { jwt_hs256($jwt_key, { exp => $_[0] }) };
        my ($jwt_good, $jwt_old) = ($jwt->(time + 3600), $jwt->(time - 3600));
        my @secrets = ($admin, 'tok-route-7', 'tok-cookie-8', 'tok-long-9',
                       'tok-invalid-10', 'fn_tok-wrong-11', $jwt_key,
                       $jwt_good, $jwt_old);
        # nginx logs each of these at info: "client sent duplicate header
        # line", "too long header line", "invalid header line"
        is($raw->("GET /v1/apps HTTP/1.1\r\nAuthorization: Bearer $admin\r\n"
                  . "Authorization: Bearer $admin")->{status}, 400,
           'two Authorization headers on the API: 400');
        is($raw->("POST /r/demo/hello HTTP/1.1\r\nContent-Length: 0\r\n"
                  . "Authorization: Bearer tok-route-7\r\nAuthorization: Bearer x")->{status},
           400, 'two Authorization headers on a route: 400');
        my $long = $raw->("GET /r/demo/hello HTTP/1.1\r\nAuthorization: Bearer tok-long-9"
                          . ('x' x 9000));
        ok($long->{status} >= 400, "a header line too long: $long->{status}");
        $raw->("GET /r/demo/hello HTTP/1.1\r\nX Token: tok-invalid-10");
        is($raw->("GET /v1/apps HTTP/1.1\r\nAuthorization: Bearer fn_tok-wrong-11")->{status},
           401, 'a wrong token: 401');
        is($raw->("GET /v1/apps HTTP/1.1\r\nAuthorization: Bearer $admin")->{status},
           200, 'the right one: 200');
        is($raw->("GET /v1/apps HTTP/1.1\r\nAuthorization: Bearer $jwt_good")->{status},
           200, 'an API JWT: 200');
        is($raw->("GET /v1/apps HTTP/1.1\r\nAuthorization: Bearer $jwt_old")->{status},
           401, 'an expired one: 401');
        is($raw->("POST /r/demo/hello HTTP/1.1\r\nContent-Length: 0\r\n"
                  . "Cookie: session=tok-cookie-8\r\nAuthorization: Bearer tok-route-7")->{status},
           200, 'a call with a cookie and a token: 200');
        # the console's locations: a call, the metrics, a wrong token
        my $console = sub {
            my ($head) = @_;
            return http_request($ports{CONSOLE}, 'GET', '/', raw =>
                "$head\r\nHost: localhost\r\nConnection: close\r\n\r\n");
        };
        is($console->("POST /v1/invoke/demo/hello HTTP/1.1\r\nContent-Length: 0\r\n"
                      . "Authorization: Bearer $admin")->{status},
           200, 'a call through the console: 200');
        is($console->("GET /metrics/executor HTTP/1.1\r\nAuthorization: Bearer $admin")->{status},
           200, "the executor's metrics through the console: 200");
        is($console->("GET /metrics HTTP/1.1\r\nAuthorization: Bearer fn_tok-wrong-11")->{status},
           401, 'the console with a wrong token: 401');

        my @files;
        File::Find::find({ no_chdir => 1,
                           wanted => sub { push @files, $_ if -f $_ } }, "$var/log");
        ok(scalar(grep { m{/nginx-error\.log$} } @files), 'the error log is among '
           . scalar(@files) . ' log files');
        for my $f (sort @files) {
            my $text = slurp($f) // '';
            my @found = grep { index($text, $_) >= 0 } @secrets;
            is_deeply(\@found, [], "no token in " . ($f =~ s{^\Q$var\E/}{}r));
        }

        my $mode = sub { (stat $_[0])[2] & 07777 };
        my @mine = map { "$var/log/$_" } qw(nginx-error.log nginx-access.log functions.log);
        for my $f (@mine) {
            is($mode->($f) & 027, 0, sprintf('%s: %04o', $f =~ s{.*/}{}r, $mode->($f)));
        }

        # functions.log rotated by moving it away: nginx creates it anew on
        # USR1, the module keeps it 0640 (nginx's own logs are rotated as
        # logrotate's "create 0640" does: nothing for nginx to create)
        my $flog = "$var/log/functions.log";
        rename $flog, "$flog.1" or die "rename: $!";
        my $master = slurp("$var/run/nginx.pid");
        chomp $master;
        kill 'USR1', $master;
        ok(wait_until(15, sub {
            $raw->("GET /v1/apps HTTP/1.1\r\nAuthorization: Bearer fn_tok-wrong-11");
            -s $flog }), 'functions.log reopened after USR1 and written to');
        is($mode->($flog) & 027, 0, sprintf('  0640 or stricter (%04o)', $mode->($flog)));
        unlike(slurp($flog), qr/tok-wrong/, '  without the token');
        is(join(' ', glob("$var/log/nginx-asan*")), '', 'no sanitizer report from nginx');
        1;
    };
    my $err = $@;
    my $stop = `$stack stop 2>&1`;
    is($?, 0, 'the stack stops') or diag($stop);
    die $err unless $ok || $err eq "no stack\n";
};

done_testing();
