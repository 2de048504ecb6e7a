# The Debian packages, as an operator meets them: make deb builds them,
# lintian reads them, apt-get installs them on this machine; the stock
# nginx loads the module through modules-enabled; the packaged executor
# runs with the packaged configuration (started directly when no systemd
# runs, in a cgroup of its own as the unit's Delegate=yes gives it, with
# the unit's capability bounding set); a function deployed through the
# API of an nginx built from the packaged site answers; apt-get remove
# leaves no process and keeps the state, purge removes it.
#
# As root only; it installs packages, so it runs once (ONCE_TESTS) and
# purges them at the end, also when it fails.
use strict;
use warnings;
use lib 't/lib', 'scripts/lib';

use FnImage;
use FnTest qw(top tmpdir slurp spew wait_until free_port stack_env
              fresh_database http_request);
use JSON::PP;
use POSIX ();
use Test::More;

plan skip_all => 'installs packages: root only' if $> != 0;
my $env = stack_env() or plan skip_all => 'no stack services';
# a host where they are installed for real keeps them: this test would
# purge its state
for my $p (qw(libnginx-mod-http-functions functions-executor functions-tools)) {
    plan skip_all => "$p is installed on this host"
        if (`dpkg-query -W -f='\${Status}' $p 2>/dev/null` // '')
           =~ /install ok installed/;
}

my $top = top();
my $tmp = tmpdir();
my @pkgs = qw(libnginx-mod-http-functions functions-executor functions-tools);
my $enabled = '/etc/nginx/modules-enabled/50-mod-http-functions.conf';

sub run_out {
    my (@cmd) = @_;
    my $out = `@cmd 2>&1`;
    return ($? >> 8, $out);
}

sub purge {
    system("apt-get purge -y -q @pkgs > $tmp/purge.log 2>&1");
}

my ($executor, $nginx_pid, $installed, @groups);
END {
    local $?;       # the test's own exit status stays
    if ($executor) {
        kill 'KILL', $executor;
        waitpid($executor, 0);
    }
    system('nginx', '-q', '-c', "$tmp/nginx.conf", '-s', 'stop')
        if $nginx_pid && kill 0, $nginx_pid;
    purge() if $installed;
    rmdir for map { ("$_/sandboxes", "$_/executor", $_) } @groups;
}

# ------------------------------------------------------------- building

my ($rc, $out) = run_out("make -C $top deb");
is($rc, 0, 'make deb builds the packages') or BAIL_OUT($out);
my %deb;
for my $p (@pkgs) {
    ($deb{$p}) = glob("$top/build/deb/${p}_*.deb");
    ok($deb{$p} && -s $deb{$p}, "$p is built");
}
($rc, $out) = run_out('lintian', '--info', map { $deb{$_} } @pkgs);
my @errors = grep { /^E: / } split /\n/, $out;
is(scalar(@errors), 0, 'lintian reports no error') or diag($out);
note("lintian:\n$out");

# ------------------------------------------------------------ installing

($rc, $out) = run_out('apt-get', 'install', '-y', '-q',
                      map { $deb{$_} } @pkgs);
$installed = 1;
is($rc, 0, 'apt-get install ./*.deb installs them') or BAIL_OUT($out);
ok(-l $enabled, 'the module is enabled in modules-enabled');
($rc, $out) = run_out('nginx', '-t');
is($rc, 0, 'the stock nginx -t loads it') or diag($out);
($rc, $out) = run_out('nginx', '-T');
like($out, qr{load_module modules/ngx_http_functions_module\.so;},
     '  through its load file');
ok(-e '/etc/nginx/functions_params', 'the routing include file is there');
ok(-e '/etc/nginx/functions_console', "and the console's");
ok(-e '/usr/share/functions/console/index.html', "the console's files too");
ok(-e '/etc/nginx/sites-available/functions'
   && !-e '/etc/nginx/sites-enabled/functions',
   'the example site is there, not enabled');
ok(-d '/var/lib/functions' && -d '/run/functions',
   'the state and runtime directories are made');
like(slurp('/etc/subuid') // '', qr/^functions-sandbox:1879048192:65536$/m,
     'the sandbox uid range is reserved in /etc/subuid');
like(slurp('/etc/subgid') // '', qr/^functions-sandbox:1879048192:65536$/m,
     '  and /etc/subgid');

my $unit = '/lib/systemd/system/functions-executor.service';
($rc, $out) = run_out('systemd-analyze', 'verify', $unit);
is($rc, 0, 'systemd-analyze verify accepts the unit') or diag($out);
($rc, $out) = run_out('systemd-analyze', 'security', '--offline=true',
                      $unit);
like($out, qr/Overall exposure level for functions-executor\.service: \S+/,
     'systemd-analyze security rates it');
note("systemd-analyze security:\n$out");

# ------------------------------------------------------ the executor runs

# what the unit's Delegate=yes gives: a group of the service's own
@groups = FnTest::own_cgroups("test-$$-package");
my ($caps) = slurp($unit) =~ /^CapabilityBoundingSet=(.*)$/m;

my $pid = fork // die;
if ($pid == 0) {
    open(STDOUT, '>', "$tmp/executor.out");
    open(STDERR, '>&', \*STDOUT);
    FnTest::exec_confined([ '/usr/sbin/functions-executor',
                            '-c', '/etc/functions/executor.conf' ],
                          caps => $caps, cgroups => \@groups);
}
$executor = $pid;
ok(wait_until(20, sub { -S '/run/functions/executor.sock' }),
   'the packaged executor starts with the packaged configuration, '
   . "under the unit's bounding set")
    or diag(slurp("$tmp/executor.out"));

# ----------------------------------------------------- nginx with the site

my $db = fresh_database(migrate => 0);
{
    local $ENV{FUNCTIONS_DB_PASSWORD_FILE} = $env->{FUNCTIONS_DB_PASSWORD_FILE};
    ($rc, $out) = run_out('functions-migrate', '--host', '127.0.0.1',
                          '--port', $env->{FUNCTIONS_DB_PORT},
                          '--user', $env->{FUNCTIONS_DB_USER},
                          '--database', $db);
}
is($rc, 0, 'functions-migrate applies the packaged schema') or diag($out);
my $token = `functions-api-token $tmp/api.tokens`;
chomp $token;
like($token, qr/^fn_/, 'functions-api-token makes a token');
($rc, $out) = run_out('functions-secret', "$tmp/some.secret");
ok($rc == 0 && length(slurp("$tmp/some.secret") // '') == 64,
   'functions-secret makes a secret');

# the packaged site, filled in as its comment says (and its include made
# absolute: this nginx.conf is not in /etc/nginx)
my $port = free_port();
my $site = slurp('/etc/nginx/sites-available/functions');
$site =~ s/server=127\.0\.0\.1:3306/server=127.0.0.1:$env->{FUNCTIONS_DB_PORT}/;
$site =~ s/database=functions/database=$db/;
$site =~ s/user=functions/user=$env->{FUNCTIONS_DB_USER}/;
$site =~ s{password_file=/etc/functions/mysql\.password}
          {password_file=$env->{FUNCTIONS_DB_PASSWORD_FILE}};
$site =~ s{/etc/functions/api\.tokens}{$tmp/api.tokens}g;
$site =~ s{/var/log/nginx/functions\.log}{$tmp/functions.log};
$site =~ s{listen 127\.0\.0\.1:8080;}{listen 127.0.0.1:$port;};
$site =~ s{include functions_params;}{include /etc/nginx/functions_params;};
my $console_port = free_port();
$site =~ s{listen 127\.0\.0\.1:8081;}{listen 127.0.0.1:$console_port;};
# the include files, beside this nginx.conf as they are beside
# /etc/nginx/nginx.conf (functions_console names functions_params so)
symlink("/etc/nginx/$_", "$tmp/$_") for qw(functions_params functions_console);
spew("$tmp/site.conf", $site);
mkdir "$tmp/$_" for qw(body proxy fastcgi uwsgi scgi);
spew("$tmp/nginx.conf", <<CONF);
user www-data;
worker_processes 1;
pid $tmp/nginx.pid;
error_log $tmp/error.log;
include /etc/nginx/modules-enabled/*.conf;
events { worker_connections 64; }
http {
    access_log $tmp/access.log;
    client_body_temp_path $tmp/body;
    proxy_temp_path $tmp/proxy;
    fastcgi_temp_path $tmp/fastcgi;
    uwsgi_temp_path $tmp/uwsgi;
    scgi_temp_path $tmp/scgi;
    include $tmp/site.conf;
}
CONF
($rc, $out) = run_out('nginx', '-c', "$tmp/nginx.conf");
is($rc, 0, 'the installed nginx starts with the packaged site') or diag($out);
ok(wait_until(10, sub { ($nginx_pid) = (slurp("$tmp/nginx.pid") // '') =~ /(\d+)/ }),
   '  and writes its pid');

FnImage::build('/var/lib/functions/images/hello', tag => 'v1',
    config => { Cmd => ['/bin/sh', '-c', 'echo "hello from $(cat)"'] },
    layers => [ FnImage::busybox_layer() ]);
my $json = JSON::PP->new;
my %auth = (Authorization => "Bearer $token",
            'Content-Type' => 'application/json');
my $r = http_request("127.0.0.1:$port", 'POST', '/v1/apps/pkg/routes',
    headers => \%auth,
    body => $json->encode({ route => { path => '/hello',
                                       image => 'oci:hello:v1' } }));
is($r->{status}, 200, 'a route is deployed through the API')
    or diag($r->{body});
$r = http_request("127.0.0.1:$port", 'POST', '/r/pkg/hello',
                  body => 'the package', timeout => 30);
is($r->{status}, 200, 'the function answers') or diag(explain($r),
    slurp("$tmp/error.log"), slurp("$tmp/executor.out"));
is($r->{body}, "hello from the package\n", '  what it was sent');

# the console of the site, from the packaged files
$r = http_request("127.0.0.1:$console_port", 'GET', '/console.js');
is($r->{status}, 200, 'the console is served from its packaged files');
like($r->{headers}{'content-security-policy'} // '', qr/script-src 'self'/,
     '  under its policy');
$r = http_request("127.0.0.1:$console_port", 'POST', '/v1/invoke/pkg/hello',
                  headers => { Authorization => "Bearer $token" },
                  body => 'the console', timeout => 30);
is($r->{body}, "hello from the console\n",
   '  and calls a route through the packaged upstream');
$r = http_request("127.0.0.1:$console_port", 'GET', '/metrics/executor',
                  headers => { Authorization => "Bearer $token" });
like($r->{body}, qr/^functions_calls_total\{/m,
     "  and reads the packaged executor's metrics");

system('nginx', '-q', '-c', "$tmp/nginx.conf", '-s', 'stop');
wait_until(10, sub { !kill 0, $nginx_pid }) if $nginx_pid;

# ------------------------------------------------------- removing, purging

($rc, $out) = run_out('apt-get', 'remove', '-y', '-q', @pkgs);
is($rc, 0, 'apt-get remove removes them') or diag($out);
ok(wait_until(60, sub { waitpid($executor, POSIX::WNOHANG()) == $executor }),
   'no executor process is left');
$executor = undef;
ok(-d '/var/lib/functions/images/hello', 'the state is kept');
ok(-e '/etc/functions/executor.conf', 'and the configuration');
ok(!-e $enabled, 'the module is no longer enabled');
($rc, $out) = run_out('nginx', '-t');
is($rc, 0, 'the stock nginx -t passes without it') or diag($out);

($rc, $out) = run_out('apt-get', 'purge', '-y', '-q', @pkgs);
is($rc, 0, 'apt-get purge purges them') or diag($out);
ok(!-e '/var/lib/functions', 'the state is gone');
ok(!-e '/etc/functions/executor.conf', 'and the configuration');
unlike(slurp('/etc/subuid') // '', qr/^functions-sandbox:/m,
       'and the uid range reservation');
ok(!-e "$enabled.removed" && !-e $enabled, 'and the module link');

done_testing();
