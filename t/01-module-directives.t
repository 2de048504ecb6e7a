# The module loads into the stock nginx, and nginx -t accepts its
# directives and rejects bad values with a clear message.
use strict;
use warnings;
use lib 't/lib', 'scripts/lib';

use FnTest qw(nginx_check nginx_start http_request tmpdir spew);
use Test::More;

my $db = 'functions_mysql server=127.0.0.1:3306 database=functions;';

# password files: one line (its newline is not part of the password), and
# one over the limit
my $pw = tmpdir() . '/db.password';
spew($pw, "s3cr3t\n", 0600);
my $long = tmpdir() . '/long.password';
spew($long, ('p' x 128) . "\n", 0600);
my $two = tmpdir() . '/control.password';
spew($two, "pass\x01word\n", 0600);

my @good = (
    [ 'no directive of the module at all', '' ],
    [ 'functions_mysql, TCP, all parameters',
      'functions_mysql server=127.0.0.1:13306 user=functions password=s3cr3t '
      . 'database=functions connect_timeout=500ms timeout=2s;' ],
    [ 'functions_mysql, password_file',
      "functions_mysql server=127.0.0.1:13306 user=functions password_file=$pw "
      . 'database=functions;' ],
    [ 'functions_mysql, Unix socket',
      'functions_mysql server=unix:/run/mysqld/mysqld.sock database=fn_1;' ],
    [ 'functions_mysql, host name resolved at load time',
      'functions_mysql server=localhost database=functions;' ],
    [ 'functions_mysql, IPv6 with port',
      'functions_mysql server=[::1]:3306 database=functions;' ],
    [ 'functions_mysql, the nodes of a cluster',
      'functions_mysql server=127.0.0.1:3306 server=127.0.0.2:3306 '
      . 'server=unix:/run/mysqld/mysqld.sock database=functions;' ],
    [ 'functions_route_cache, zone only',
      "$db functions_route_cache zone=routes:1m;" ],
    [ 'functions_route_cache, all parameters',
      "$db functions_route_cache zone=routes:10m valid=5m not_found=1s;" ],
    [ 'functions_amqp, URL only',
      "$db functions_amqp url=amqp://u:p\@127.0.0.1:5672/v;" ],
    [ 'functions_amqp, the nodes of a cluster',
      "$db functions_amqp url=amqp://u:p\@127.0.0.1:5672/v "
      . "url=amqp://u:p\@127.0.0.2:5672/v url=amqp://u:p\@127.0.0.3/v;" ],
    [ 'functions_amqp, all parameters',
      "$db functions_amqp url=amqp://u:p\@127.0.0.1:5672/v exchange=ex.1 "
      . "queue=q_1 queue_type=classic connect_timeout=500ms "
      . "confirm_timeout=3s max_pending=64;" ],
    [ 'functions_log with a level',
      "functions_log /tmp/functions-t01.log warn;" ],
    [ 'functions_metrics_zone, all parameters',
      "functions_metrics_zone max_apps=5 max_executors=2 log_interval=1s;" ],
    [ 'functions_metrics_zone, lines off',
      "functions_metrics_zone log_interval=off;" ],
    [ 'functions_api_list_max', 'functions_api_list_max 100000;' ],
);

for my $case (@good) {
    my ($rc, $out) = nginx_check(http => $case->[1]);
    is($rc, 0, "accepted: $case->[0]") or diag($out);
}

my @bad = (
    [ 'functions_mysql, password and password_file',
      "functions_mysql server=127.0.0.1 password=x password_file=$pw "
      . 'database=functions;',
      qr/takes password= or password_file=, not both/ ],
    [ 'functions_mysql, no such password_file',
      'functions_mysql server=127.0.0.1 password_file=/nonexistent/pw '
      . 'database=functions;',
      qr/open\(\) "\/nonexistent\/pw" failed/ ],
    [ 'functions_mysql, a password over 127 bytes',
      "functions_mysql server=127.0.0.1 password_file=$long "
      . 'database=functions;',
      qr/the password is longer than 127 bytes/ ],
    [ 'functions_mysql, a control byte in the password file',
      "functions_mysql server=127.0.0.1 password_file=$two "
      . 'database=functions;',
      qr/must hold the password on its first line/ ],
    [ 'functions_log, a relative path', 'functions_log x.log;',
      qr/"functions_log" directive needs an absolute path/ ],
    [ 'functions_log, a bad level', 'functions_log /tmp/x.log loud;',
      qr/invalid level "loud"/ ],
    [ 'functions_log twice',
      'functions_log /tmp/x.log; functions_log /tmp/y.log;',
      qr/"functions_log" directive is duplicate/ ],
    [ 'functions_metrics_zone, max_apps 0', 'functions_metrics_zone max_apps=0;',
      qr/invalid parameter "max_apps=0"/ ],
    [ 'functions_metrics_zone, a short interval',
      'functions_metrics_zone log_interval=10ms;',
      qr/invalid parameter "log_interval=10ms"/ ],
    [ 'functions_metrics_zone, unknown parameter',
      'functions_metrics_zone size=1m;', qr/invalid parameter "size=1m"/ ],
    [ 'functions_api_list_max 0', 'functions_api_list_max 0;',
      qr/value must be between 1 and 100000/ ],
    [ 'functions_api_list_max, not a number', 'functions_api_list_max x;',
      qr/"functions_api_list_max" directive invalid number/ ],
    [ 'functions_mysql, a server twice',
      'functions_mysql server=127.0.0.1:3306 server=127.0.0.1:3306 '
      . 'database=functions;',
      qr/duplicate server "127\.0\.0\.1:3306"/ ],
    [ 'functions_mysql, nine servers',
      'functions_mysql ' . join(' ', map { "server=127.0.0.$_" } 1 .. 9)
      . ' database=functions;',
      qr/more than 8 servers/ ],
    [ 'functions_amqp, brokers with different users',
      'functions_amqp url=amqp://u:p\@h1/v url=amqp://w:p\@h2/v;',
      qr/differ in user, password or vhost/ ],
    [ 'functions_metrics_zone twice',
      'functions_metrics_zone; functions_metrics_zone;',
      qr/"functions_metrics_zone" directive is duplicate/ ],
    [ 'functions_amqp without a URL', 'functions_amqp queue=q;',
      qr/needs url=amqp/ ],
    [ 'functions_amqp, not an AMQP URL', 'functions_amqp url=http://x/;',
      qr/invalid AMQP URL/ ],
    [ 'functions_amqp, amqps', 'functions_amqp url=amqps://u:p\@h/v;',
      qr/amqps:\/\/ is not supported/ ],
    [ 'functions_amqp, a bad queue name',
      'functions_amqp url=amqp://u:p\@h/v queue=a/b;',
      qr/invalid parameter "queue=a\/b"/ ],
    [ 'functions_amqp, a bad queue type',
      'functions_amqp url=amqp://u:p\@h/v queue_type=lazy;',
      qr/invalid parameter "queue_type=lazy"/ ],
    [ 'functions_amqp, a bad timeout',
      'functions_amqp url=amqp://u:p\@h/v confirm_timeout=soon;',
      qr/invalid parameter "confirm_timeout=soon"/ ],
    [ 'functions_amqp, a bad max_pending',
      'functions_amqp url=amqp://u:p\@h/v max_pending=0;',
      qr/invalid parameter "max_pending=0"/ ],
    [ 'functions_amqp, the removed thread_pool',
      'functions_amqp url=amqp://u:p\@h/v thread_pool=default;',
      qr/invalid parameter "thread_pool=default"/ ],
    [ 'functions_amqp twice',
      'functions_amqp url=amqp://u:p\@h/v; functions_amqp url=amqp://u:p\@h/v;',
      qr/"functions_amqp" directive is duplicate/ ],
    [ 'functions_mysql without parameters', 'functions_mysql;',
      qr/invalid number of arguments in "functions_mysql" directive/ ],
    [ 'functions_mysql without server', 'functions_mysql database=x;',
      qr/"server" parameter is required/ ],
    [ 'functions_mysql without database',
      'functions_mysql server=127.0.0.1;',
      qr/"database" parameter is required/ ],
    [ 'functions_mysql, parameter without value',
      'functions_mysql server=127.0.0.1 database=x compress;',
      qr/invalid parameter "compress", expected name=value/ ],
    [ 'functions_mysql, unknown parameter',
      'functions_mysql server=127.0.0.1 database=x pool=5;',
      qr/unknown parameter "pool"/ ],
    [ 'functions_mysql, duplicate parameter',
      'functions_mysql server=127.0.0.1 database=x database=y;',
      qr/duplicate parameter "database"/ ],
    [ 'functions_mysql, hostile database name',
      'functions_mysql server=127.0.0.1 "database=x`; DROP TABLE apps";',
      qr/invalid database name "x`; DROP TABLE apps"/ ],
    [ 'functions_mysql, database name too long',
      'functions_mysql server=127.0.0.1 database=' . ('a' x 65) . ';',
      qr/invalid database name/ ],
    [ 'functions_mysql, bad port',
      'functions_mysql server=127.0.0.1:99999 database=x;',
      qr/invalid server "127.0.0.1:99999": invalid port/ ],
    [ 'functions_mysql, unresolvable host',
      'functions_mysql server=no-such-host.invalid database=x;',
      qr/invalid server "no-such-host.invalid": host not found/ ],
    [ 'functions_mysql, relative Unix socket',
      'functions_mysql server=unix:mysqld.sock database=x;',
      qr/invalid server "unix:mysqld.sock", a Unix socket needs an absolute path/ ],
    [ 'functions_mysql, Unix socket path too long',
      'functions_mysql server=unix:/' . ('d' x 120) . ' database=x;',
      qr/a Unix socket needs an absolute path shorter than 108 bytes/ ],
    [ 'functions_mysql, bad timeout',
      'functions_mysql server=127.0.0.1 database=x timeout=soon;',
      qr/invalid timeout "soon"/ ],
    [ 'functions_mysql, zero connect timeout',
      'functions_mysql server=127.0.0.1 database=x connect_timeout=0;',
      qr/invalid connect_timeout "0"/ ],
    [ 'functions_mysql twice', "$db $db", qr/"functions_mysql" directive is duplicate/ ],
    [ 'functions_mysql inside a server block', '',
      qr/"functions_mysql" directive is not allowed here/,
      server => $db ],
    [ 'functions_route_cache without zone', 'functions_route_cache valid=1s;',
      qr/"functions_route_cache" must have "zone" parameter/ ],
    [ 'functions_route_cache, zone without size',
      'functions_route_cache zone=routes;',
      qr/invalid zone size "zone=routes", expected zone=name:size/ ],
    [ 'functions_route_cache, zone without name',
      'functions_route_cache zone=:1m;', qr/invalid zone "zone=:1m"/ ],
    [ 'functions_route_cache, bad size',
      'functions_route_cache zone=routes:lots;',
      qr/invalid zone "zone=routes:lots"/ ],
    [ 'functions_route_cache, zone too small',
      'functions_route_cache zone=routes:4k;',
      qr/zone "zone=routes:4k" is too small, it needs at least 32k/ ],
    [ 'functions_route_cache, bad valid',
      'functions_route_cache zone=routes:1m valid=forever;',
      qr/invalid time in "valid=forever"/ ],
    [ 'functions_route_cache, zero not_found',
      'functions_route_cache zone=routes:1m not_found=0s;',
      qr/invalid time in "not_found=0s"/ ],
    [ 'functions_route_cache, unknown parameter',
      'functions_route_cache zone=routes:1m stale=1h;',
      qr/invalid parameter "stale=1h"/ ],
    [ 'functions_route_cache twice',
      'functions_route_cache zone=a:1m; functions_route_cache zone=b:1m;',
      qr/"functions_route_cache" directive is duplicate/ ],
    [ 'functions_route_cache, zone name taken by another module',
      'limit_req_zone $binary_remote_addr zone=routes:1m rate=1r/s; '
      . 'functions_route_cache zone=routes:1m;',
      qr/the shared memory zone "routes" is already declared for a different use/ ],
    [ 'functions_route without functions_mysql',
      'functions_route_cache zone=routes:1m;',
      qr/"functions_route" needs "functions_mysql" and "functions_route_cache"/,
      server => 'location /r/ { functions_route; }' ],
    [ 'functions_route in a regex location',
      "$db functions_route_cache zone=routes:1m;",
      qr/is allowed only in a prefix location/,
      server => 'location ~ ^/r/ { functions_route; }' ],
    [ 'functions_executors naming no upstream',
      "$db functions_route_cache zone=routes:1m; functions_executors nope;",
      qr/functions_executors: no upstream "nope"/ ],
);

for my $case (@bad) {
    my ($name, $http, $re, %more) = @$case;
    my ($rc, $out) = nginx_check(http => $http, %more);
    isnt($rc, 0, "rejected: $name");
    like($out, $re, '  with a message that says why') or diag($out);
    like($out, qr/\[emerg\]/, '  at emerg level');
}

# Not only nginx -t: a real nginx starts with the directives and serves.
my $ngx = nginx_start(http => "$db functions_route_cache zone=routes:1m;");
is(http_request($ngx->port, 'GET', '/nginx-health')->{status}, 200,
   'nginx with the module loaded serves requests');

# A reload keeps the zone (same size) and the server running.
ok($ngx->reload, 'a reload with the same zone size succeeds');
is(http_request($ngx->port, 'GET', '/nginx-health')->{status}, 200,
   'and keeps serving after a reload');
$ngx->stop;

subtest 'functions_async_key: a key of its own file, checked' => sub {
    my $dir = tmpdir();
    my $check = sub {
        my ($content, %o) = @_;
        my $f = "$dir/async-" . ++(our $n);
        if (defined $content) {
            spew($f, $content);
            chmod($o{mode} // 0600, $f);
        }
        return nginx_check(http => "functions_async_key $f;" . ($o{more} // ''));
    };
    my $k32 = '0123456789abcdef' x 2;
    my ($rc, $out) = $check->("$k32\n");
    is($rc, 0, 'a key of 32 bytes: accepted') or diag($out);
    ($rc, $out) = $check->("$k32\n", mode => 0640);
    is($rc, 0, 'a file its group may read: accepted') or diag($out);
    like($out, qr/\[warn\].*readable by other users than its owner: whoever reads it can make call ids the calls API shows as queued/,
         '  with a warning saying what the key gives');
    ($rc, $out) = $check->(substr($k32, 1) . "\n");
    isnt($rc, 0, 'a key of 31 bytes: refused');
    like($out, qr/is 31 bytes long, at least 32 are needed/, '  saying so');
    ($rc, $out) = $check->(undef);
    isnt($rc, 0, 'a missing file: refused');
    ($rc, $out) = $check->("$k32\x01\n");
    isnt($rc, 0, 'a control byte: refused');
    ($rc, $out) = $check->("$k32\n", more => " functions_async_key $dir/async-1;");
    isnt($rc, 0, 'twice: refused');
    like($out, qr/"functions_async_key" directive is duplicate/, '  "is duplicate"');
    ($rc, $out) = nginx_check(server => "location / { functions_async_key $dir/async-1; }");
    isnt($rc, 0, 'in a location: refused');
};

done_testing();
