# The Grafana dashboard (docs/grafana/functions.json) and the Prometheus
# scrape configuration (docs/prometheus.yml) against a real Prometheus:
# a stack of our own (nginx, one executor with metrics_listen, MariaDB,
# RabbitMQ) gets every kind of traffic the dashboard shows, Debian's
# prometheus scrapes it with the shipped configuration, and every
# expression of every panel must return data; every metric name the
# dashboard reads must exist.
use strict;
use warnings;
use lib 't/lib', 'scripts/lib';

use FnImage;
use FnTest qw(need_stack executor_start nginx_start fresh_database
              fresh_vhost db_query stack_env http_request wait_until slurp
              spew free_port functions_mysql amqp_url top tmpdir);
use JSON::PP;
use POSIX ();
use Test::More;
use Time::HiRes qw(time sleep);

my $env = need_stack();
# scripts/deps installs them: their absence is a failure, not a skip
my $prometheus = '/usr/bin/prometheus';
-x $prometheus or BAIL_OUT('prometheus (Debian package prometheus) is '
                           . 'missing: run scripts/deps');
chomp(my $promtool = `sh -c 'command -v promtool'` // '');
$promtool or BAIL_OUT('promtool (Debian package prometheus) is missing: '
                      . 'run scripts/deps');

my $top = top();
my $tmp = tmpdir();
my $dashboard_file = "$top/docs/grafana/functions.json";
my $scrape_file = "$top/docs/prometheus.yml";

# ------------------------------------------------------------ the files

my $dashboard = eval { decode_json(slurp($dashboard_file) // '') };

# Every panel, rows' nested panels too.
sub panels_of {
    return map { ($_, panels_of(@{ $_->{panels} // [] })) } @_;
}
my @panels = $dashboard ? panels_of(@{ $dashboard->{panels} }) : ();

# [panel title, expr] of every query of every panel.
my @exprs = map { my $p = $_; map { [$p->{title}, $_->{expr}] }
                              grep { defined $_->{expr} }
                              @{ $p->{targets} // [] } } @panels;

# The template variables' label_values(...) queries.
my @variables = map { $_->{definition} }
                @{ $dashboard ? $dashboard->{templating}{list} : [] };

subtest 'the files as shipped' => sub {
    ok($dashboard, 'the dashboard is valid JSON') or diag($@);
    my $out = `$promtool check config $scrape_file 2>&1`;
    is($? >> 8, 0, 'promtool check config accepts docs/prometheus.yml')
        or diag($out);
    return unless $dashboard;
    my %seen;
    my @dup = grep { $seen{$_}++ } map { $_->{id} } @panels;
    is_deeply(\@dup, [], scalar(@panels) . ' panels, their ids unique');
    ok(!grep({ !defined $_->{id} } @panels), 'every panel has an id');
    ok(@exprs >= 20, scalar(@exprs) . ' expressions');
    is($dashboard->{__inputs}[0]{name}, 'DS_PROMETHEUS',
       'the datasource is an import input');
    my @own_ds = grep { ($_->{datasource}{uid} // '') ne '${DS_PROMETHEUS}' }
                 grep { $_->{type} ne 'row' } @panels;
    is_deeply([ map { $_->{title} } @own_ds ], [],
              'every panel uses it');
    my %vars = map { $_->{name} => $_ } @{ $dashboard->{templating}{list} };
    ok($vars{app} && $vars{app}{multi} && $vars{app}{includeAll},
       'variable app: multi, with All');
    ok($vars{instance}, 'variable instance');
    # panels side by side must not overlap on Grafana's 24-column grid
    my @boxes = map { $_->{gridPos} } @panels;
    my @overlap;
    for my $i (0 .. $#boxes) {
        for my $j ($i + 1 .. $#boxes) {
            my ($a, $b) = @boxes[$i, $j];
            push @overlap, "$panels[$i]{title} / $panels[$j]{title}"
                if $a->{x} < $b->{x} + $b->{w} && $b->{x} < $a->{x} + $a->{w}
                && $a->{y} < $b->{y} + $b->{h} && $b->{y} < $a->{y} + $a->{h};
        }
    }
    is_deeply(\@overlap, [], 'no two panels overlap');
    ok(!grep({ $_->{x} + $_->{w} > 24 } @boxes), 'all within 24 columns');
};
BAIL_OUT('the dashboard is not valid JSON') unless $dashboard;

# ------------------------------------------------------------ the stack

my $db = fresh_database();
my $vhost = fresh_vhost();
my $amqp = amqp_url($vhost);

# The images: a shell function (sleeps X-Nap seconds, exits with the
# route's config EXIT_CODE) and the hot (format http) test function.
my $images = "$tmp/images";
FnImage::build("$images/sh", tag => 'v1',
    config => { Cmd => ['/bin/sh', '-c',
                        'cat >/dev/null; sleep "${HEADER_X_NAP:-0}"; '
                        . 'echo "ran $FN_CALL_ID"; exit "${EXIT_CODE:-0}"'] },
    layers => [ FnImage::busybox_layer() ]);
system('cc', '-static', '-O2', '-o', "$tmp/hot", "$top/t/fn/hot.c") == 0
    or BAIL_OUT('cannot build t/fn/hot.c');
FnImage::build("$images/hot", tag => 'v1',
    config => { Cmd => ['/fn/hot'] },
    layers => [ [ [ 'fn', dir => 1 ],
                  [ 'fn/hot', file => "$tmp/hot", mode => 0755 ] ] ]);

# One executor: 4 sandboxes, a queue of one that waits 1 s at most (a
# burst of slow calls gets 503s), async calls one at a time with one retry.
my $metrics_port = free_port();
my $ex = executor_start(
    image_dir => $images, max_sandboxes => 4, queue_size => 1,
    queue_timeout => '1s', log_level => 'info',
    metrics_listen => "127.0.0.1:$metrics_port",
    amqp_url => $amqp, amqp_queue_type => 'quorum', async_slots => 1,
    async_retries => 1, async_retry_delay => '200ms',
    mysql_server => "127.0.0.1:$env->{FUNCTIONS_DB_PORT}",
    mysql_user => $env->{FUNCTIONS_DB_USER},
    mysql_password_file => $env->{FUNCTIONS_DB_PASSWORD_FILE},
    mysql_database => $db);

# nginx as conf/nginx.conf has it, but for a second server in the
# upstream whose socket does not exist: every other call tries it first
# (a failed attempt, "unreachable"), then the executor.
my $gone = "$tmp/no-executor.sock";
my $sock = $ex->socket;
my $mysql = functions_mysql($db, timeout => '2s');
my $ng = nginx_start(http => <<CONF, server => <<CONF2);
    $mysql
    functions_route_cache zone=routes:1m valid=60s not_found=2s;
    functions_amqp url=$amqp confirm_timeout=5s;
    functions_metrics_zone log_interval=off;

    upstream executors {
        server unix:$gone max_fails=0;
        server unix:$sock max_fails=0;
        keepalive 8;
    }
    functions_executors executors;
CONF
        location = /metrics {
            functions_metrics;
            allow 127.0.0.1;
            deny all;
        }

        location /r/ {
            functions_route;
            proxy_pass http://executors\$fn_executor_uri;
            include functions_params;
            error_page 502 = \@functions_unavailable;
        }

        location \@functions_unavailable {
            default_type application/json;
            add_header Retry-After 1 always;
            return 503 '{"error":{"message":"no executor is reachable"}}\\n';
        }
CONF2

sub route {
    my ($app, $path, %o) = @_;
    my %r = (image => 'oci:sh:v1', type => 'sync', format => 'default',
             timeout => 30, config => '{}', %o);
    db_query($db, "INSERT IGNORE INTO apps (name) VALUES ('$app')");
    db_query($db, 'INSERT INTO routes (app_name, path, image, type, format,'
                  . " timeout, config) VALUES ('$app', '$path', '$r{image}',"
                  . " '$r{type}', '$r{format}', $r{timeout}, '$r{config}')");
}
route('web', '/cold');
route('web', '/fail', config => '{"exit_code":"3"}');
route('web', '/short', timeout => 1);
route('web', '/hot', image => 'oci:hot:v1', format => 'http');
route('jobs', '/run', type => 'async');
route('jobs', '/fail', type => 'async', config => '{"exit_code":"3"}');
# format json carries text: a body that is not UTF-8 is refused (400)
route('web', '/json', image => 'oci:hot:v1', format => 'json');

sub call {
    my ($path, %h) = @_;
    return http_request($ng->port, 'POST', $path, body => 'x', timeout => 30,
                        headers => \%h)->{status};
}

# $n calls of $path that start together (each client waits for one
# file); their statuses.
sub burst {
    my ($n, $path, %h) = @_;
    my $go = "$tmp/burst-" . ++(our $BURSTS);
    my @pids;
    for my $c (1 .. $n) {
        my $pid = fork() // die "fork: $!";
        if ($pid == 0) {
            sleep 0.01 until -e $go;
            spew("$go-$c", call($path, %h));
            POSIX::_exit(0);
        }
        push @pids, $pid;
    }
    spew($go, '');
    waitpid($_, 0) for @pids;
    return map { slurp("$go-$_") // 0 } 1 .. $n;
}

sub async_status {
    my ($id) = @_;
    my $rows = db_query($db, "SELECT status FROM calls WHERE id = '$id'");
    return @$rows ? $rows->[0][0] : '';
}

# ------------------------------------------------------------ traffic

subtest 'traffic of every kind' => sub {
    is(call('/r/web/cold'), 200, 'a cold call (a route cache miss)');
    is(call('/r/web/cold'), 200, 'again (a hit)') for 1 .. 3;
    is(call('/r/web/hot'), 200, 'a hot call') for 1 .. 3;
    is(call('/r/nosuch/x'), 404, 'an unknown route: 404');
    is(call('/r/web/fail'), 502, 'a function that fails: 502');
    is(call('/r/web/short', 'X-Nap' => 3), 504,
       'a function past its timeout: 504');
    is(http_request($ng->port, 'POST', '/r/web/json',
                    body => "\xff\xfe")->{status}, 400,
       'a call the executor refuses as sent: 400');

    my @ids;
    for my $path ('/r/jobs/run', '/r/jobs/run', '/r/jobs/fail') {
        my $r = http_request($ng->port, 'POST', $path, body => 'x');
        is($r->{status}, 202, "async $path: 202") or diag($r->{body});
        push @ids, eval { decode_json($r->{body})->{call_id} } // 'none';
    }
    ok(wait_until(60, sub { async_status($ids[0]) eq 'success'
                            && async_status($ids[1]) eq 'success' }),
       'the async calls ran');
    ok(wait_until(60, sub { async_status($ids[2]) eq 'error' }),
       'the failing one ended in error, after a retry');

    # 8 calls of 2 s at once on 4 sandboxes and a queue of one: some are
    # refused (503); tried again should a slow machine spread them out
    my $busy = 0;
    for my $try (1 .. 4) {
        $busy = grep { $_ == 503 } burst(8, '/r/web/cold', 'X-Nap' => 2);
        last if $busy;
    }
    ok($busy, "a burst got $busy answers 503 (busy)");
};

# ------------------------------------------------------------ Prometheus

# docs/prometheus.yml as shipped, but for these lines: the targets (this
# stack's nginx and metrics_listen instead of the quickstart's) and the
# intervals (1 s instead of 15 s).  Comment lines are kept as they are.
my %changes = (
    "- '127.0.0.1:8080'" => "- '127.0.0.1:" . $ng->port . "'",
    "- '127.0.0.1:9464'" => "- '127.0.0.1:$metrics_port'",
    'scrape_interval: 15s' => 'scrape_interval: 1s',
    'evaluation_interval: 15s' => 'evaluation_interval: 1s',
);
my %done;
my $yml = join '', map {
    my $line = $_;
    if ($line !~ /^\s*#/) {
        for my $from (keys %changes) {
            $done{$from}++ if $line =~ s/\Q$from\E/$changes{$from}/;
        }
    }
    $line;
} split /^/, slurp($scrape_file);
for my $from (sort keys %changes) {
    is($done{$from} // 0, 1, "docs/prometheus.yml has \"$from\" once")
        or BAIL_OUT('docs/prometheus.yml changed: update this test');
}
my $pdir = "$tmp/prometheus";
mkdir $pdir;
spew("$pdir/prometheus.yml", $yml);
my $prom_port = free_port();
FnTest::watch_log('prometheus log', "$pdir/prometheus.log");
my $prom_pid = fork() // die "fork: $!";
if ($prom_pid == 0) {
    open(STDOUT, '>>', "$pdir/prometheus.log");
    open(STDERR, '>&', \*STDOUT);
    exec($prometheus, "--config.file=$pdir/prometheus.yml",
         "--storage.tsdb.path=$pdir/data",
         "--web.listen-address=127.0.0.1:$prom_port")
        or POSIX::_exit(127);
}

# Stopped at the end, whatever happened (before FnTest's own cleanup,
# which removes the directory it writes in).
END {
    if ($prom_pid) {
        local $?;
        kill 'TERM', $prom_pid;
        wait_until(15, sub { waitpid($prom_pid, POSIX::WNOHANG()) != 0 })
            or do { kill 'KILL', $prom_pid; waitpid($prom_pid, 0) };
    }
}

# GET on Prometheus's HTTP API: the decoded answer.  HTTP/1.0: the whole
# answer then comes without chunks, the connection closed after it.
sub api {
    my ($path, %params) = @_;
    my $q = join '&', map { "$_=" . uri_escape($params{$_}) }
                      sort keys %params;
    $path .= "?$q" if $q;
    my $r = http_request($prom_port, 'GET', $path, timeout => 10,
        raw => "GET $path HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
    return eval { decode_json($r->{body} // '') } // { status => 'none' };
}

sub uri_escape {
    return $_[0] =~ s/([^A-Za-z0-9\-._~])/sprintf('%%%02X', ord $1)/ger;
}

subtest 'Prometheus scrapes both jobs' => sub {
    ok(wait_until(30, sub { http_request($prom_port, 'GET', '/-/ready')
                            ->{status} == 200 }),
       "prometheus is ready on 127.0.0.1:$prom_port");
    my %health;
    ok(wait_until(60, sub {
        my $t = api('/api/v1/targets');
        %health = map { $_->{labels}{job} => $_->{health} }
                  @{ $t->{data}{activeTargets} // [] };
        ($health{'functions-nginx'} // '') eq 'up'
            && ($health{'functions-executor'} // '') eq 'up';
    }), 'both targets are up') or diag(explain(\%health));
};

# Grafana's values for the variables: All as ".*" (the variables'
# allValue), the intervals as they would be on a 1-hour view.
my %vars = ('$__rate_interval' => '1m', '$__interval' => '15s',
            '$app' => '.*', '$instance' => '.*');
sub substituted {
    my ($expr) = @_;
    $expr =~ s/(\$(?:__rate_interval|__interval|app|instance))\b/$vars{$1}/g;
    return $expr;
}

sub query {
    my ($expr) = @_;
    my $r = api('/api/v1/query', query => $expr);
    return ($r->{status} // '', scalar @{ $r->{data}{result} // [] },
            $r->{error});
}

# Series that appeared last need two scrapes before rate() sees them:
# each query is retried until it has data, all of them within 90 s.
#
# An expression that ends in "or vector(0)" shows 0 when its series are
# absent (counters of events that did not happen).  The traffic made every
# one of those events: the series on the left must be there too.
subtest 'every panel expression returns data' => sub {
    my $deadline = time + 90;
    my $left_time = sub { my $t = $deadline - time; $t > 1 ? $t : 1 };
    for my $e (@exprs) {
        my ($title, $expr) = @$e;
        my $q = substituted($expr);
        unlike($q, qr/\$/, "$title: every variable substituted");
        my ($status, $n, $error);
        wait_until($left_time->(),
                   sub { ($status, $n, $error) = query($q); $n > 0 });
        ok($status eq 'success' && $n > 0, "$title: $n series: $expr")
            or diag("status $status, error " . ($error // 'none') . ": $q");
        if ($q =~ /^(.*\S)\s+or\s+vector\(0\)$/) {
            my $left = $1;
            wait_until($left_time->(),
                       sub { ($status, $n) = query($left); $n > 0 });
            ok($n > 0, "  without its 0: $n series");
        }
    }
};

subtest 'every metric name the dashboard reads exists' => sub {
    my %names = map { $_ => 1 } map { /\b(functions_[a-z_]+)/g }
                map({ $_->[1] } @exprs), @variables;
    ok(keys(%names) >= 30, scalar(keys %names) . ' metric names');
    my %have = map { $_ => 1 }
               @{ api('/api/v1/label/__name__/values')->{data} // [] };
    ok($have{$_}, $_) for sort keys %names;
};

subtest 'the template variables have values' => sub {
    for my $v (@variables) {
        my ($selector, $label) = $v =~ /^label_values\((.+),\s*(\w+)\)$/
            or do { fail("a label_values() query: $v"); next };
        my $values = api("/api/v1/label/$label/values",
                         'match[]' => $selector)->{data} // [];
        ok(@$values > 0, "$v: @$values");
    }
};

done_testing();
