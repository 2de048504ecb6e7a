# The stack script starts and stops the whole local stack cleanly, twice in
# a row, and stops nothing it did not start.  It runs in a state directory
# and on ports of its own, beside the services the other tests use.
use strict;
use warnings;
use lib 't/lib', 'scripts/lib';

use FnTest qw(top tmpdir free_port stack_env http_request unix_request
              slurp);
use Digest::SHA qw(hmac_sha256);
use IO::Socket::INET;
use MIME::Base64 qw(encode_base64url);
use Test::More;

my $shared = stack_env() or BAIL_OUT('no shared services: scripts/stack services');
my $shared_db_pid = slurp("$shared->{FUNCTIONS_VAR}/run/mysqld.pid");

my $var = tmpdir() . '/stack';
my %ports = map { $_ => free_port() } qw(HTTP CONSOLE MYSQL AMQP AMQP_DIST);
$ENV{FUNCTIONS_VAR} = $var;
$ENV{"FUNCTIONS_${_}_PORT"} = $ports{$_} for keys %ports;
my $stack = top() . '/scripts/stack';

sub run { my $out = `$stack @_ 2>&1`; return ($? >> 8, $out) }

sub pids {
    my %p;
    for my $f (qw(nginx executor rabbitmq mysqld)) {
        my $pid = slurp("$var/run/$f.pid") // next;
        chomp $pid;
        $p{$f} = $pid;
    }
    return \%p;
}

sub amqp_greets {
    # an AMQP 0-9-1 broker answers the protocol header with Connection.Start
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$ports{AMQP}",
                                  Timeout => 5) or return 0;
    print $s "AMQP\x00\x00\x09\x01";
    my $n = sysread($s, my $buf, 7);
    return $n && substr($buf, 0, 1) eq "\x01";
}

for my $round (1, 2) {
    my ($rc, $out) = run('start');
    my $started = $out;
    is($rc, 0, "round $round: stack start succeeds") or diag($out);
    like($out, qr/up: http:\/\/127\.0\.0\.1:$ports{HTTP}\//, 'and says where');

    ($rc, $out) = run('status');
    is($rc, 0, 'status: all running') or diag($out);
    like($out, qr/^$_\s+running \(pid \d+\)$/m, "$_ running")
        for qw(nginx executor rabbitmq mariadb);

    is(http_request($ports{HTTP}, 'GET', '/nginx-health')->{status}, 200,
       'nginx answers on its port');
    my $console = http_request($ports{CONSOLE}, 'GET', '/');
    is($console->{status}, 200, 'the console on a port of its own');
    like($console->{headers}{'content-security-policy'} // '',
         qr/script-src 'self'/, 'under its policy');
    is(unix_request("$var/run/executor.sock", 'GET', '/health')->{status},
       200, 'the executor answers on its socket');
    ok(amqp_greets(), 'RabbitMQ speaks AMQP on its port');
    my $v = `mariadb --no-defaults --socket=$var/run/mysqld.sock --batch \\
             --skip-column-names -e 'SELECT COUNT(*) FROM functions.schema_migrations'`;
    ok($? == 0 && $v > 0, 'MariaDB holds the migrated schema');

    # the quickstart's demo: deployed through the API, and its curl works
    like($started, qr/the demo function answers: Hello, quickstart!/,
         'the demo function was deployed and called');
    my ($curl) = $started =~ /^\s+(curl -d 'Alice' \S+)$/m;
    ok($curl, 'a curl command is printed');
    like(`$curl 2>/dev/null`, qr{^Hello, Alice! \(app demo, route /hello, call \w{26}\)$},
         '  and prints the demo function\'s answer');
    my $token = slurp("$var/admin.token");
    chomp $token if defined $token;
    like($token, qr/^fn_/, 'an admin token is in var/admin.token');
    my $r = http_request($ports{HTTP}, 'GET', '/v1/apps/demo/routes',
                         headers => { Authorization => "Bearer $token" });
    like($r->{body}, qr{"path":"/hello"}, '  and it lists the demo route');

    # IronFunctions' fn CLI: the printed lines give it API_URL and
    # JWT_AUTH_KEY; it signs a JWT with the key for every run
    my $key_file = "$var/secrets/api-jwt.key";
    is((stat $key_file)[2] & 0777, 0600, 'the API JWT key is 0600');
    like(slurp($key_file), qr/^[0-9a-f]{64}\z/, '  random, one line');
    like(slurp("$var/nginx/nginx.conf"),
         qr/^\s*functions_api_jwt_key \Q$key_file\E;$/m,
         '  and nginx is configured with it');

    # the database password is read from its file: nginx -T does not show it
    my $db_password = slurp("$var/secrets/mysql.password") =~ s/\s+\z//r;
    my $dump = `nginx -T -p $var/nginx -c $var/nginx/nginx.conf 2>&1`;
    like($dump, qr/password_file=\Q$var\E\/secrets\/mysql.password;/,
         'nginx -T shows where the database password is');
    unlike($dump, qr/\Q$db_password\E/, '  not the password');
    my @exports = $started =~ /^\s+(export (?:API_URL|JWT_AUTH_KEY)=.*)$/mg;
    is(scalar @exports, 2, 'export API_URL=... and JWT_AUTH_KEY=... printed');
    like($started, qr/^\s+fn apps list$/m, '  with fn apps list');
    like($started, qr{^\s+fn routes call demo /hello$}m,
         '  and fn routes call demo /hello');
    my $sh = join('; ', @exports) . '; printf "%s\n%s" "$API_URL" "$JWT_AUTH_KEY"';
    my ($url, $key) = split /\n/, `bash -c '$sh'`;
    is($url, "http://127.0.0.1:$ports{HTTP}", '  API_URL is nginx');
    is($key, slurp($key_file), '  JWT_AUTH_KEY is the key');
    my $now = time;
    my $signing = encode_base64url('{"alg":"HS256","typ":"JWT"}') . '.'
        . encode_base64url(qq({"exp":${\ ($now + 3600)},"iat":$now,)
                           . qq("nbf":${\ ($now - 60)}}));
    my $jwt = "$signing." . encode_base64url(hmac_sha256($signing, $key // ''));
    $r = http_request($ports{HTTP}, 'GET', '/v1/apps',
                      headers => { Authorization => "Bearer $jwt" });
    is($r->{status}, 200, '  a JWT the fn CLI would send with it: 200');
    like($r->{body}, qr{"name":"demo"}, '  listing the demo app');

    my $before = pids();
    ($rc, $out) = run('start');
    is($rc, 0, 'starting again is harmless');
    is_deeply(pids(), $before, 'and starts nothing twice');
    like($out, qr/the demo function answers: Hello/, '  the demo still answers');
    is(slurp("$var/admin.token"), "$token\n", '  with the same token');
    is(slurp("$var/secrets/api-jwt.key"), $key, '  and the same JWT key');

    ($rc, $out) = run('stop');
    is($rc, 0, "round $round: stack stop succeeds") or diag($out);
    ($rc, $out) = run('status');
    is($rc, 3, 'status: all stopped');
    unlike($out, qr/running/, 'nothing runs');
    for my $name (sort keys %$before) {
        ok(!kill(0, $before->{$name}), "$name process is gone");
    }
    ok(!IO::Socket::INET->new(PeerAddr => "127.0.0.1:$ports{$_}"),
       "port $_ is closed") for qw(HTTP CONSOLE MYSQL AMQP);
    ok(!-e "$var/run/executor.sock", 'the executor socket is removed');
}

my ($rc, $out) = run('stop');
is($rc, 0, 'stopping a stopped stack is harmless');

# As root, nginx's workers run as www-data: state where they cannot enter
# stops the stack before anything starts, with a message saying why
SKIP: {
    skip 'nginx keeps the starting user when not root', 3 if $> != 0;
    my $locked = tmpdir() . '/locked';
    mkdir $locked, 0700 or die "mkdir $locked: $!";
    local $ENV{FUNCTIONS_VAR} = "$locked/var";
    ($rc, $out) = run('start');
    is($rc, 1, 'state under a directory www-data cannot enter: refused');
    like($out, qr/www-data\) cannot reach \Q$locked\E\/var/,
         '  saying who cannot reach what');
    ok(!-e "$locked/var/run/mysqld.pid", '  before anything started');
}

chomp(my $pid = $shared_db_pid // '');
ok($pid && kill(0, $pid),
   'the shared test services were not touched by this stack');

done_testing();
