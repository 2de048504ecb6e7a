# Logs, metrics and the scaling signal: logfmt lines from the module and
# the executor, "metric=" lines in the documented grammar, Prometheus
# /metrics from both (checked with promtool), bounded label sets, and
# wait_time and 503s rising past one executor's capacity and falling once
# a second executor is added and nginx reloaded.
use strict;
use warnings;
use lib 't/lib', 'scripts/lib';

use FnImage;
use FnTest qw(need_stack executor_start nginx_start fresh_database db_query stack_env
              http_request unix_request wait_until slurp spew free_port
              functions_mysql stack_secret executors_upstream);
use JSON::PP;
use POSIX ();
use Test::More;
use Time::HiRes qw(time sleep);
use Time::Local qw(timegm);

my $env = need_stack();
# scripts/deps installs it: its absence is a failure, not a skip
chomp(my $promtool = `sh -c 'command -v promtool'` // '');
$promtool or BAIL_OUT('promtool (Debian package prometheus) is missing: '
                      . 'run scripts/deps');
my $password = stack_secret('FUNCTIONS_DB_PASSWORD_FILE');
my $db = fresh_database();

# ------------------------------------------------------------ helpers

my $pair = qr/[A-Za-z_][A-Za-z0-9_.]*=(?:"(?:[^"\\]|\\.)*"|[^\s"=]*)/;

# A logfmt line as a hash; undef if it is not one.
sub logfmt {
    my ($line) = @_;
    return undef unless $line =~ /^$pair(?: $pair)*$/;
    my %h;
    while ($line =~ /([A-Za-z_][A-Za-z0-9_.]*)=(?:"((?:[^"\\]|\\.)*)"|([^\s"=]*))/g) {
        $h{$1} = defined $2 ? $2 =~ s/\\(.)/$1/gr : $3;
    }
    return \%h;
}

sub epoch {
    my ($t) = @_;
    my ($y, $mo, $d, $h, $mi, $s, $frac) =
        $t =~ /^(\d+)-(\d+)-(\d+)T(\d+):(\d+):(\d+)(\.\d+)?/ or return 0;
    return timegm($s, $mi, $h, $d, $mo - 1, $y) + ($frac // 0);
}

my $metric_line = qr/^time=\S+\ level=info\ msg=metric
                     \ metric=[A-Za-z0-9_.\-]+
                     \ value=\d+(?:\.\d+)?\ type=(?:count|gauge|time)
                     \ unit=[a-z]+(?:\ count=\d+)?(?:\ max=\d+)?$/x;

# The metric lines of a log: [epoch, name, value, count].
sub metrics_of {
    my ($text) = @_;
    my @m;
    for (split /\n/, $text) {
        next unless /msg=metric /;
        my $h = logfmt($_) or next;
        push @m, [epoch($h->{time}), $h->{metric}, $h->{value},
                  $h->{count} // 0];
    }
    return @m;
}

# Prometheus text as { 'name{labels}' => value }.
sub prom {
    my ($text) = @_;
    my %v;
    for (split /\n/, $text) {
        next if /^#/ || !/\S/;
        my ($k, $v) = /^(\S+(?:\{[^}]*\})?) (\S+)$/ or next;
        $v{$k} = $v;
    }
    return \%v;
}

sub promtool_ok {
    my ($text, $name) = @_;
    my $f = FnTest::tmpdir() . "/prom-" . ++(our $PROM) . ".txt";
    spew($f, $text);
    my $out = `$promtool check metrics < $f 2>&1`;
    is($? >> 8, 0, "$name passes promtool check metrics") or diag($out);
}

# ------------------------------------------------------------ the stack

my $app = 'scale';
my @ex;
my $metrics_port = free_port();
for my $n (1 .. 2) {
    push @ex, executor_start(
        max_sandboxes => 2, queue_size => 1, queue_timeout => '5s',
        log_level => 'info', metrics_interval => '1s',
        metrics_max_series => 4, sandbox_idle_timeout => '30s',
        $n == 1 ? (metrics_listen => "127.0.0.1:$metrics_port") : ());
}
for my $e (@ex) {
    FnImage::build($e->dir . '/images/slow', tag => 'v1',
        config => { Cmd => ['/bin/sh', '-c',
                            'echo "working on it" >&2; '
                            . 'sleep "${HEADER_X_NAP:-0.3}"; '
                            . 'echo "done $FN_CALL_ID"'] },
        layers => [ FnImage::busybox_layer() ]);
}

sub http_conf {
    my (@executors) = @_;
    my $prefix = our $NGINX_LOGS;
    return <<CONF;
    ${\ functions_mysql($db, timeout => '1s') }
    functions_route_cache zone=routes:1m valid=60s not_found=2s;
    functions_log $prefix/functions.log info;
    functions_metrics_zone max_apps=3 max_executors=4 log_interval=1s;

${\ executors_upstream(\@executors, server => 'max_fails=0',
                         balance => "least_conn;\n        zone executors 64k;") }

    log_format functions 'time=\$time_iso8601 status=\$status '
                         'call_id=\$fn_call_id app=\$fn_app '
                         'path="\$fn_path" route_cache=\$fn_route_cache '
                         'executor="\$upstream_addr" '
                         'executor_status="\$upstream_status" '
                         'request_time=\$request_time';
CONF
}

my $server_conf = <<'CONF';
        location = /metrics {
            functions_metrics;
        }

        location /r/ {
            functions_route;
            access_log @LOGS@/calls.log functions;
            proxy_pass http://executors$fn_executor_uri;
            include functions_params;
            error_page 502 = @functions_unavailable;
        }

        location @functions_unavailable {
            access_log @LOGS@/calls.log functions;
            default_type application/json;
            return 503 '{"error":{"message":"no executor is reachable"}}\n';
        }
CONF

our $NGINX_LOGS = FnTest::tmpdir() . '/nginx-logs';
mkdir $NGINX_LOGS;
chmod 0777, $NGINX_LOGS;
(my $server = $server_conf) =~ s/\@LOGS\@/$NGINX_LOGS/g;
my $ng = nginx_start(http => http_conf($ex[0]), server => $server);
FnTest::watch_log('functions log', "$NGINX_LOGS/functions.log");

sub route {
    my ($a, $path) = @_;
    db_query($db, "INSERT IGNORE INTO apps (name) VALUES ('$a')");
    db_query($db, "REPLACE INTO routes (app_name, path, image, timeout)"
             . " VALUES ('$a', '$path', 'oci:slow:v1', 30)");
}
route($app, '/slow');

sub call {
    my ($path, %h) = @_;
    return http_request($ng->port, 'POST', $path, body => 'x', timeout => 30,
                        headers => \%h);
}

sub nginx_metrics { http_request($ng->port, 'GET', '/metrics')->{body} }
sub executor_metrics { unix_request($_[0]->socket, 'GET', '/metrics')->{body} }

# ------------------------------------------------------------ logs

subtest 'every log line is logfmt, with call_id, app and path' => sub {
    my $r = call("/r/$app/slow");
    is($r->{status}, 200, 'a call') or diag($r->{body});
    my $id = $r->{headers}{'fn-call-id'};
    ok(wait_until(5, sub { $ex[0]->log =~ /user_log=true/ }),
       'its stderr line is logged');
    my @lines = split /\n/, $ex[0]->log;
    my @bad = grep { !logfmt($_) } @lines;
    is_deeply(\@bad, [], 'executor: every line is logfmt');
    my ($user) = map { logfmt($_) } grep { /user_log=true/ } @lines;
    is($user->{call_id}, $id, 'the function stderr line has the call id');
    is($user->{app}, $app, 'its app');
    is($user->{path}, '/slow', 'its path');
    is($user->{line}, 'working on it', 'and the line');

    # the module: the access log format and its own log file
    # written once the request is over, a moment after the answer
    ok(wait_until(5, sub { (slurp("$NGINX_LOGS/calls.log") // '')
                           =~ /call_id=$id/ }), 'the access log has it');
    my @calls = split /\n/, slurp("$NGINX_LOGS/calls.log");
    my ($access) = map { logfmt($_) } grep { /call_id=$id/ } @calls;
    ok($access, 'the access log line parses as logfmt');
    is($access->{app}, $app, 'with the app');
    is($access->{path}, '/slow', 'the path');
    is($access->{status}, 200, 'the status');
    like($access->{executor}, qr/^unix:/, 'the executor');
    is($access->{route_cache}, 'miss', 'and the cache result');

    ok(wait_until(5, sub { (slurp("$NGINX_LOGS/functions.log") // '')
                           =~ /msg=metric/ }), 'the module writes its log');
    my @mod = split /\n/, slurp("$NGINX_LOGS/functions.log");
    @bad = grep { !logfmt($_) } @mod;
    is_deeply(\@bad, [], 'module: every line is logfmt');
    like($mod[0], qr/^time=\S+ level=\w+ msg=/, 'time, level and msg first');
};

subtest 'no line per call at info level, no secrets' => sub {
    my $before = () = $ex[0]->log =~ /\n/g;
    my $mod_before = slurp("$NGINX_LOGS/functions.log") // '';
    call("/r/$app/slow") for 1 .. 5;
    call('/r/nosuchapp/x') for 1 .. 5;
    my @new = (split /\n/, $ex[0]->log)[$before .. 1000000];
    my @per_call = grep { !/msg=metric |user_log=true/ } grep { defined }
                   @new;
    is_deeply(\@per_call, [], 'the executor logs nothing else per call '
              . 'at info') or diag(join "\n", @per_call);
    my $mod = substr(slurp("$NGINX_LOGS/functions.log"), length $mod_before);
    my @mod_lines = grep { !/msg=metric / } split /\n/, $mod;
    is_deeply(\@mod_lines, [], 'nor does the module');
    my $all = $ex[0]->log . slurp("$NGINX_LOGS/functions.log")
              . slurp($ng->prefix . '/error.log');
    unlike($all, qr/\Q$password\E/, 'the database password is never logged');
};

# ------------------------------------------------------------ metric lines

subtest 'metric lines follow the grammar and cover the set' => sub {
    ok(wait_until(5, sub { $ex[0]->log =~ /metric=run\.$app\.requests/ }),
       'per-app lines come');
    my @lines = grep { /msg=metric / } split /\n/, $ex[0]->log;
    ok(@lines > 20, scalar(@lines) . ' executor metric lines');
    my @bad = grep { !/$metric_line/ } @lines;
    is_deeply(\@bad, [], 'every executor line matches the grammar');
    my @mod = grep { /msg=metric / } split /\n/,
              slurp("$NGINX_LOGS/functions.log");
    @bad = grep { !/$metric_line/ } @mod;
    ok(@mod > 10, scalar(@mod) . ' module metric lines');
    is_deeply(\@bad, [], 'every module line matches the grammar');
    my %names = map { $_->[1] => 1 } metrics_of($ex[0]->log),
                metrics_of(slurp("$NGINX_LOGS/functions.log"));
    for my $n ('run.requests', 'run.succeeded', 'run.error', 'run.timeout',
               'run.wait_time', 'run.exec_time', 'queue.full',
               "run.$app.requests", "run.$app.succeeded", "run.$app.error",
               "run.$app.timeout", "run.$app.time", "run.$app.wait_time",
               'sandbox.cold_starts', 'sandbox.start_time', 'hot.started',
               'hot.stopped', 'image.unpacks', 'image.pulls',
               'image.pull_time', 'image.pull_bytes', 'async.wait_time',
               'async.retried', 'async.dead_lettered', 'queue.depth',
               'image.stored',
               'async.accepted', 'async.failed', 'route_cache.hit',
               'route_cache.miss', 'nginx.requests', 'nginx.busy',
               "nginx.$app.requests", 'executor.unreachable') {
        ok($names{$n}, "metric $n is emitted");
    }
    unlike(join("\n", @lines, @mod), qr/ name=/, 'never "name=" for a metric');

    # docs/operating.md's statsd pipeline, but for tail and socat
    my $dir = FnTest::tmpdir();
    spew("$dir/lines", join("\n", @lines, @mod) . "\n");
    spew("$dir/statsd.sh", <<'SH');
sed -nEu 's/.* msg=metric metric=([^ ]+) value=([^ ]+) type=(count|gauge|time) .*/\1:\2|\3/p' |
  sed -u -e 's/|count$/|c/' -e 's/|gauge$/|g/' -e 's/|time$/|ms/'
SH
    my @statsd = split /\n/, `sh $dir/statsd.sh < $dir/lines`;
    is(scalar(@statsd), @lines + @mod, 'every line becomes a statsd line');
    is_deeply([ grep { !/^[A-Za-z0-9_.\-]+:\d+(?:\.\d+)?\|(?:c|g|ms)$/ }
                @statsd ], [], 'in statsd\'s format');
    my ($unpacks) = grep { $_->[1] eq 'image.unpacks' && $_->[2] > 0 }
                    metrics_of($ex[0]->log);
    ok($unpacks, 'the image unpack was counted');
};

# ------------------------------------------------------------ Prometheus

subtest 'Prometheus /metrics from the executor and the module' => sub {
    my $e0 = executor_metrics($ex[0]);
    promtool_ok($e0, 'executor /metrics');
    my $sep = http_request($metrics_port, 'GET', '/metrics');
    is($sep->{status}, 200, 'metrics_listen serves /metrics');
    promtool_ok($sep->{body}, 'metrics_listen /metrics');
    is(http_request($metrics_port, 'POST', '/call')->{status}, 404,
       'and nothing else');
    is(http_request($metrics_port, 'POST', '/metrics')->{status}, 405,
       'POST /metrics: 405');
    is(unix_request($ex[0]->socket, 'DELETE', '/metrics')->{status}, 405,
       'on the executor socket too');
    is(http_request($ng->port, 'POST', '/metrics', body => 'x')->{status},
       405, 'and on nginx');
    my $n0 = nginx_metrics();
    promtool_ok($n0, 'nginx /metrics');

    my $k = "functions_calls_total{app=\"$app\",path=\"/slow\",kind=\"sync\","
            . "outcome=\"success\"}";
    my $m = "functions_requests_total{app=\"$app\",outcome=\"success\"}";
    my ($before, $nbefore) = (prom($e0)->{$k}, prom($n0)->{$m});
    ok($before > 0, "executor: $k");
    call("/r/$app/slow") for 1 .. 3;
    ok(wait_until(3, sub { prom(executor_metrics($ex[0]))->{$k}
                           == $before + 3 }),
       'executor calls move with calls');
    ok(wait_until(3, sub { prom(nginx_metrics())->{$m} == $nbefore + 3 }),
       'module requests move with calls, summed over workers');
    # async calls reach the call path inside the executor: no header
    # marks a call async, whoever sends it
    (my $ka = $k) =~ s/kind="sync"/kind="async"/;
    my $abefore = prom(executor_metrics($ex[0]))->{$ka} // 0;
    is(call("/r/$app/slow", 'Fn-Async' => 'x 1')->{status}, 200,
       'a call with a forged Fn-Async header runs');
    is(unix_request($ex[0]->socket, 'POST', '/call', body => 'x',
                    headers => { 'Fn-Call-Id' => '01J00000000000000000000000',
                                 'Fn-Async' => '0 1',
                                 'Fn-Method' => 'POST',
                                 'Fn-Request-Url' => 'http://h/slow',
                                 'Fn-Route' => '{"app":"' . $app
                                     . '","path":"/slow","image":'
                                     . '"oci:slow:v1","timeout":30}' })
       ->{status}, 200, 'and one sent to the executor itself');
    ok(wait_until(3, sub { prom(executor_metrics($ex[0]))->{$k}
                           == $before + 5 }),
       'both counted as sync calls');
    is(prom(executor_metrics($ex[0]))->{$ka} // 0, $abefore,
       'none as async');
    my $n = prom(nginx_metrics());
    ok($n->{'functions_route_cache_hits_total'} > 0, 'cache hits counted');
    ok($n->{'functions_route_lookup_seconds_count'} > 0,
       'lookup latency observed');
    ok($n->{'functions_requests_total{app="_none",outcome="client_error"}'}
       >= 5, 'unknown routes count under app "_none"');
};

subtest 'label sets are bounded' => sub {
    for my $i (1 .. 6) {
        route("app$i", '/slow');
        route($app, "/p$i");
    }
    call("/r/app$_/slow") for 1 .. 6;
    call("/r/$app/p$_") for 1 .. 6;
    call("/r/junk$_$$/x") for 1 .. 20;     # no such apps
    my $n = nginx_metrics();
    promtool_ok($n, 'nginx /metrics with more apps than max_apps');
    my %apps = map { /app="([^"]+)"/ ? ($1 => 1) : () }
               grep { /^functions_requests_total/ } split /\n/, $n;
    ok(keys(%apps) <= 3 + 2, 'at most max_apps apps, "_none" and "_other": '
       . join(',', sort keys %apps));
    ok($apps{_other}, 'the rest count under "_other"');
    ok(!grep({ /^junk/ } keys %apps), 'unknown apps add no label');
    my $e = executor_metrics($ex[0]);
    my %series = map { /app="([^"]+)",path="([^"]+)"/ ? ("$1$2" => 1) : () }
                 grep { /^functions_calls_total/ } split /\n/, $e;
    ok(keys(%series) <= 4 + 1, 'executor: at most metrics_max_series routes '
       . 'and "_other": ' . join(',', sort keys %series));
    ok($series{'_other_other'}, 'the rest count under "_other"');
};

# ------------------------------------------------------------ scaling

# A burst: $n calls of 2 s each that start together (every client waits
# for one file), so that what the executors can take decides each status.
# Returns the statuses.
sub burst {
    my ($n) = @_;
    my $go = FnTest::tmpdir() . '/burst-' . ++(our $BURSTS);
    my @pids;
    for my $c (1 .. $n) {
        my $pid = fork() // die "fork: $!";
        if ($pid == 0) {
            sleep 0.01 until -e $go;
            spew("$go-$c", call("/r/$app/slow", 'X-Nap' => 2)->{status});
            POSIX::_exit(0);
        }
        push @pids, $pid;
    }
    spew($go, '');
    waitpid($_, 0) for @pids;
    return map { slurp("$go-$_") // 0 } 1 .. $n;
}

# From Prometheus snapshots: the sync calls between, and their mean wait (s).
sub waits {
    my ($before, $after) = @_;
    my ($s, $c) = (0, 0);
    for my $i (0 .. $#$after) {
        my ($b, $a) = ($before->[$i] // {}, $after->[$i]);
        $s += ($a->{'functions_call_wait_seconds_sum{kind="sync"}'} // 0)
              - ($b->{'functions_call_wait_seconds_sum{kind="sync"}'} // 0);
        $c += ($a->{'functions_call_wait_seconds_count{kind="sync"}'} // 0)
              - ($b->{'functions_call_wait_seconds_count{kind="sync"}'} // 0);
    }
    return ($c, $c ? $s / $c : 0);
}

# From the log lines stamped within [t0, t1]: a count's sum, a time's
# mean.  Lines are read right after the calls: t1 may be far.
sub log_sum {
    my ($lines, $name, $t0, $t1) = @_;
    my $sum = 0;
    $sum += $_->[2] for grep { $_->[0] >= $t0 && $_->[0] <= $t1
                               && $_->[1] eq $name } @$lines;
    return $sum;
}

sub log_mean {
    my ($lines, $name, $t0, $t1) = @_;
    my ($s, $c) = (0, 0);
    for (grep { $_->[0] >= $t0 && $_->[0] <= $t1 && $_->[1] eq $name }
         @$lines) {
        $s += $_->[2] * $_->[3];
        $c += $_->[3];
    }
    return $c ? $s / $c : 0;
}

# The metric lines of the module's log and of these executors' logs, once
# each of them has logged an interval that ends after $t (they log every
# second).
sub lines_after {
    my ($t, @executors) = @_;
    my @texts;
    wait_until(10, sub {
        @texts = (slurp("$NGINX_LOGS/functions.log") // '',
                  map { $_->log } @executors);
        !grep { !grep { $_->[0] > $t } metrics_of($_) } @texts;
    });
    return map { metrics_of($_) } @texts;
}

# Each executor: 2 sandboxes and 1 queued call.  A burst of 4 calls of 2 s:
# on one executor, 2 run, 1 waits about 2 s for a slot and 1 is refused
# (503); on two (least_conn: 2 each), all 4 run at once.
subtest 'the scaling signal: past one executor, then two' => sub {
    my $busy = "functions_requests_total{app=\"$app\",outcome=\"busy\"}";
    my $full = 'functions_queue_full_total';
    # the log lines after $t0 count nothing of the calls made before
    lines_after(time, $ex[0]);
    my @e1 = (prom(executor_metrics($ex[0])));
    my $n1 = prom(nginx_metrics());
    my $t0 = time;
    my @one = burst(4);
    my $t1 = time;
    my @e2 = (prom(executor_metrics($ex[0])));
    my $n2 = prom(nginx_metrics());
    my ($calls1, $wait1) = waits(\@e1, \@e2);
    is(join(' ', sort @one), '200 200 200 503',
       'one executor: 3 calls taken, 1 refused with 503');
    is(($n2->{$busy} // 0) - ($n1->{$busy} // 0), 1,
       'nginx /metrics counted it (busy)');
    is(($e2[0]{$full} // 0) - ($e1[0]{$full} // 0), 1,
       'executor /metrics: queue full, 1');
    is($calls1, 4, 'executor /metrics: the wait of 4 calls');
    ok($wait1 > 0.3, sprintf('  mean wait %.0f ms (one waited for a slot)',
                             $wait1 * 1000));
    # nginx counts a request when it frees it, just after its answer: a
    # line logged in between would not hold it yet, so the lines read end
    # a second later
    my @lines = lines_after($t1 + 1.2, $ex[0]);
    # the module's lines carry whole seconds (nginx's cached time): one
    # stamped in t0's second may hold the 503 (nothing ran before t0 in
    # it: lines_after waited for a quiet interval)
    is(log_sum(\@lines, 'nginx.busy', int($t0), 9e18), 1,
       "the module's log: nginx.busy 1");
    is(log_sum(\@lines, 'queue.full', $t0, 9e18), 1,
       "the executor's log: queue.full 1");
    my $lwait1 = log_mean(\@lines, 'run.wait_time', $t0, 9e18);
    ok($lwait1 > 300, sprintf("the executor's log: run.wait_time %.0f ms",
                              $lwait1));

    # a second executor, and nginx reloaded
    spew($ng->prefix . '/nginx.conf',
         slurp($ng->prefix . '/nginx.conf')
         =~ s{(        server unix:\S+ max_fails=0;\n)}
             {$1        server unix:@{[ $ex[1]->socket ]} max_fails=0;\n}r);
    ok($ng->reload, 'nginx reloaded');
    my @e3 = map { prom(executor_metrics($_)) } @ex;
    my $n3 = prom(nginx_metrics());
    my $t2 = time;
    my @two = burst(4);
    my $t3 = time;
    my @e4 = map { prom(executor_metrics($_)) } @ex;
    my $n4 = prom(nginx_metrics());
    my ($calls2, $wait2) = waits(\@e3, \@e4);
    is(join(' ', sort @two), '200 200 200 200',
       'two executors: the same burst, all 4 taken');
    is(($n4->{$busy} // 0) - ($n3->{$busy} // 0), 0,
       'nginx /metrics: no busy');
    is($calls2, 4, 'executor /metrics: the wait of 4 calls');
    ok($wait2 < $wait1 / 4, sprintf('  mean wait fell to %.0f ms',
                                    $wait2 * 1000));
    my $k = "functions_calls_total{app=\"$app\",path=\"/slow\",kind=\"sync\","
            . 'outcome="success"}';
    is(($e4[1]{$k} // 0) - ($e3[1]{$k} // 0), 2,
       'the second executor took 2 of them');
    @lines = lines_after($t3 + 1.2, @ex);
    is(log_sum(\@lines, 'nginx.busy', $t2, 9e18), 0,
       "the module's log: nginx.busy 0");
    my $lwait2 = log_mean(\@lines, 'run.wait_time', $t2, 9e18);
    ok($lwait2 < $lwait1 / 4, sprintf("the executors' logs: run.wait_time "
                                      . "fell to %.0f ms", $lwait2));
};

subtest 'no executor: the error page keeps the call in the logs' => sub {
    my $before = prom(nginx_metrics());
    $_->stop for @ex;
    my $r = call("/r/$app/slow");
    is($r->{status}, 503, 'answered 503 by the error page');
    my $id = $r->{headers}{'fn-call-id'};
    ok(wait_until(5, sub { (slurp("$NGINX_LOGS/calls.log") // '')
                           =~ /call_id=$id/ }), 'its access log line');
    my ($line) = map { logfmt($_) } grep { /call_id=$id/ }
                 split /\n/, slurp("$NGINX_LOGS/calls.log");
    is($line->{app}, $app, 'with the app');
    is($line->{path}, '/slow', 'and the path');
    is($line->{status}, 503, 'and the status');
    my $after;
    ok(wait_until(3, sub {
        $after = prom(nginx_metrics());
        ($after->{"functions_requests_total{app=\"$app\",outcome=\"busy\"}"}
         // 0) > ($before->{"functions_requests_total{app=\"$app\","
                           . "outcome=\"busy\"}"} // 0) }),
       'counted as busy for its app');
    my $unreachable = 0;
    $unreachable += $after->{$_} - ($before->{$_} // 0)
        for grep { /^functions_executor_errors_total\{.*error="unreachable"/ }
            keys %$after;
    ok($unreachable > 0, 'and the executor as unreachable');
};

done_testing();
