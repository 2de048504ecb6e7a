# API JWTs: IronFunctions' fn CLI signs a JWT per run with the shared key
# it gets in JWT_AUTH_KEY and sends it as "Authorization: Bearer <jwt>".
# /v1 accepts it when it verifies with functions_api_jwt_key (HS256 only,
# "exp" required, "nbf" and "iat" with 30 s of leeway), beside the hashed
# tokens of functions_api_tokens; anything else is a 401 in JSON.
use strict;
use warnings;
use lib 't/lib', 'scripts/lib';

use Digest::SHA qw(hmac_sha512);
use FnTest qw(need_stack top nginx_start nginx_check fresh_database stack_env
              http_request wait_until slurp spew tmpdir
              functions_mysql api_token jwt_hs256);
use JSON::PP;
use Test::More;

my $env = need_stack();
my $db = fresh_database();

my $tokens = tmpdir() . '/api.tokens';
my $token = api_token($tokens, 'admin');
like($token, qr/^fn_/, 'a hashed token from scripts/api-token');

# the key, as the stack makes it: one line, 0600
my $key = 'k' x 8 . join('', map { sprintf '%02x', int rand 256 } 1 .. 16);
my $keyfile = tmpdir() . '/api-jwt.key';
spew($keyfile, "$key\n");
chmod 0600, $keyfile;

my $mysql = <<CONF;
    ${\ functions_mysql($db, timeout => '2s') }
CONF
my $server = "        location / { functions_api; }\n";

# JWT(CLAIMS, key => K, header => H, sign => CODE): a compact JWT, built
# as the fn CLI builds it (jwt-go: JSON with sorted keys, base64url
# without padding, HMAC-SHA256 of "header.claims").
my $json = JSON::PP->new->canonical;
sub jwt {
    my ($claims, %o) = @_;
    return jwt_hs256($o{key} // $key, $claims, %o);
}

# the claims of the fn CLI (v0.2.72): exp in an hour, iat now, nbf a
# minute ago
sub cli_claims {
    my $now = time;
    return { exp => $now + 3600, iat => $now, nbf => $now - 60 };
}

sub get_apps {
    my ($ng, $bearer) = @_;
    return http_request($ng->port, 'GET', '/v1/apps',
                        headers => { Authorization => "Bearer $bearer" },
                        timeout => 30);
}

sub refused {
    my ($r, $re, $name) = @_;
    subtest $name => sub {
        is($r->{status}, 401, 'status 401') or diag($r->{body});
        like($r->{headers}{'content-type'} // '', qr{^application/json},
             'JSON');
        like($r->{json}{error}{message} // '', $re, 'the message');
        like($r->{headers}{'www-authenticate'} // '',
             qr/error="invalid_token"/, 'WWW-Authenticate says why');
    };
}

my $ng = nginx_start(http => "$mysql    functions_api_tokens $tokens;\n"
                              . "    functions_api_jwt_key $keyfile;\n",
                     server => $server);

subtest 'a JWT as the fn CLI signs it' => sub {
    my $r = get_apps($ng, jwt(cli_claims()));
    is($r->{status}, 200, 'GET /v1/apps: 200') or diag($r->{body});
    is($r->{json}{message}, 'Successfully listed applications',
       '  IronFunctions\' answer');
    my $t = jwt(cli_claims());
    $r = http_request($ng->port, 'POST', '/v1/apps',
                      headers => { Authorization => "Bearer $t" },
                      body => '{"app":{"name":"cli1"}}', timeout => 30);
    is($r->{status}, 200, 'a write too (every API credential is an admin)')
        or diag($r->{body});
    # the scheme is case-insensitive, as for hashed tokens
    $r = http_request($ng->port, 'GET', '/v1/apps/cli1',
                      headers => { Authorization => 'bearer ' . jwt(cli_claims()) },
                      timeout => 30);
    is($r->{status}, 200, '"bearer" in lower case');
};

subtest 'the hashed token still works beside it' => sub {
    is(get_apps($ng, $token)->{status}, 200, 'the hashed token: 200');
    refused(get_apps($ng, substr($token, 0, -1)), qr/^invalid token$/,
            'a wrong hashed token: 401 "invalid token"');
};

my $now = time;
refused(get_apps($ng, jwt({ exp => $now - 60, iat => $now - 3660,
                            nbf => $now - 3720 })),
        qr/invalid token: token has expired/, 'expired: 401');
subtest 'exp within the 30 s of leeway' => sub {
    is(get_apps($ng, jwt({ exp => time - 10 }))->{status}, 200,
       'expired 10 s ago: accepted');
};
refused(get_apps($ng, jwt({ exp => $now + 3600, nbf => $now + 300 })),
        qr/token is not valid yet/, 'not yet valid (nbf in 5 min): 401');
subtest 'nbf within the 30 s of leeway' => sub {
    is(get_apps($ng, jwt({ exp => time + 3600, nbf => time + 10 }))->{status},
       200, 'nbf in 10 s: accepted (a client clock a little ahead)');
};
refused(get_apps($ng, jwt({ exp => $now + 7200, iat => $now + 3600 })),
        qr/token is issued in the future/, 'issued in an hour (iat): 401');
refused(get_apps($ng, jwt(cli_claims(), key => "$key-other")),
        qr/bad token signature/, 'signed with another key: 401');
refused(get_apps($ng, jwt(cli_claims(), key => "$key\n")),
        qr/bad token signature/,
        'signed with the key and its newline: 401 (the newline is no part '
        . 'of it)');
refused(get_apps($ng, jwt(cli_claims(), header => { alg => 'none',
                                                     typ => 'JWT' },
                          sign => sub { '' })),
        qr/not HS256/, 'alg "none", no signature: 401');
refused(get_apps($ng, jwt(cli_claims(), header => { alg => 'none',
                                                     typ => 'JWT' })),
        qr/not HS256/, 'alg "none" with an HS256 signature: 401');
refused(get_apps($ng, jwt(cli_claims(), header => { alg => 'HS512',
                                                     typ => 'JWT' },
                          sign => \&hmac_sha512)),
        qr/not HS256/, 'HS512: 401');
refused(get_apps($ng, jwt(cli_claims(), header => { alg => 'RS256',
                                                     typ => 'JWT' })),
        qr/not HS256/, 'RS256 (an HMAC made with the key): 401');
refused(get_apps($ng, jwt({ iat => $now, nbf => $now - 60 })),
        qr/token has no expiry/, 'no exp: 401');
refused(get_apps($ng, jwt({ exp => "$now", iat => $now })),
        qr/malformed token claims/, 'exp a string: 401');
refused(get_apps($ng, 'garbage.garbage.garbage'), qr/invalid token/,
        'garbage in three parts: 401');
refused(get_apps($ng, 'garbage'), qr/^invalid token$/, 'garbage: 401');
refused(get_apps($ng, jwt(cli_claims()) . '.x'), qr/invalid token/,
        'four parts: 401');

subtest 'no token, and no key in any answer' => sub {
    my $r = http_request($ng->port, 'GET', '/v1/apps', timeout => 30);
    is($r->{status}, 401, 'no Authorization: 401');
    is($r->{headers}{'www-authenticate'}, 'Bearer realm="functions"',
       '  Bearer realm="functions"');
    unlike(slurp($ng->prefix . '/error.log') // '', qr/\Q$key\E/,
           'the key is in no log line');
};

subtest 'rotation: a new key in the file and a reload' => sub {
    my $old = jwt(cli_claims());
    my $new_key = 'rotated-' . join('', map { sprintf '%02x', int rand 256 }
                                        1 .. 16);
    spew($keyfile, "$new_key\n");
    ok($ng->reload, 'nginx reloaded');
    ok(wait_until(15, sub {
        get_apps($ng, jwt(cli_claims(), key => $new_key))->{status} == 200 }),
       'a JWT signed with the new key is accepted');
    ok(wait_until(15, sub { get_apps($ng, $old)->{status} == 401 }),
       'one signed with the old key is refused');
    is(get_apps($ng, $token)->{status}, 200, 'the hashed token still works');
    $key = $new_key;
};
$ng->stop;

subtest 'without functions_api_jwt_key a JWT is refused' => sub {
    my $ng2 = nginx_start(http => "$mysql    functions_api_tokens $tokens;\n",
                          server => $server);
    my $r = get_apps($ng2, jwt(cli_claims()));
    is($r->{status}, 401, 'a valid CLI JWT: 401');
    like($r->{json}{error}{message} // '', qr/^invalid token$/,
         '  "invalid token", in JSON');
    is(get_apps($ng2, $token)->{status}, 200, 'the hashed token: 200');
    $ng2->stop;
};

subtest 'functions_api_jwt_key alone, without a token file' => sub {
    my $ng3 = nginx_start(http => "$mysql    functions_api_jwt_key $keyfile;\n",
                          server => $server);
    is(get_apps($ng3, jwt(cli_claims()))->{status}, 200, 'a CLI JWT: 200');
    refused(get_apps($ng3, $token), qr/^invalid token$/,
            'a hashed token of no configured file: 401');
    $ng3->stop;
};

subtest 'nginx -t' => sub {
    my $dir = tmpdir();
    my $check = sub {
        my ($content, %o) = @_;
        my $f = "$dir/key-" . ++(our $n);
        if (defined $content) {
            spew($f, $content);
            chmod($o{mode} // 0600, $f);
        }
        return nginx_check(http => "functions_api_jwt_key $f;"
                                   . ($o{more} // ''));
    };
    my ($rc, $out) = $check->("0123456789abcdef\n");
    is($rc, 0, 'a key of 16 bytes and a newline: accepted') or diag($out);
    unlike($out, qr/readable by other users/, '  no warning for a 0600 file');
    ($rc, $out) = $check->('0123456789abcdef');
    is($rc, 0, 'without a newline: accepted') or diag($out);
    ($rc, $out) = $check->("0123456789abcdef\n", mode => 0644);
    is($rc, 0, 'a file others may read: accepted') or diag($out);
    like($out, qr/\[warn\].*readable by other users than its owner/,
         '  with a warning');
    ($rc, $out) = $check->(undef);
    isnt($rc, 0, 'a missing file: refused');
    like($out, qr/open\(\) ".*key-\d+" failed/, '  naming it');
    ($rc, $out) = $check->('');
    isnt($rc, 0, 'an empty file: refused');
    like($out, qr/holds no key/, '  "holds no key"');
    ($rc, $out) = $check->("\n");
    isnt($rc, 0, 'a newline alone: refused');
    like($out, qr/holds no key/, '  "holds no key"');
    ($rc, $out) = $check->("0123456789abcde\n");
    isnt($rc, 0, 'a key of 15 bytes: refused');
    like($out, qr/is 15 bytes long, at least 16 are needed/,
         '  saying how long it must be');
    ($rc, $out) = $check->("0123456789abcdef\n0123456789abcdef\n");
    isnt($rc, 0, 'two lines: refused');
    like($out, qr/on one line, without control bytes/, '  saying why');
    ($rc, $out) = $check->('k' x 1025);
    isnt($rc, 0, 'a key over 1024 bytes: refused');
    like($out, qr/longer than 1024 bytes/, '  saying why');
    ($rc, $out) = $check->("0123456789abcdef\n",
                           more => " functions_api_jwt_key $keyfile;");
    isnt($rc, 0, 'twice: refused');
    like($out, qr/"functions_api_jwt_key" directive is duplicate/,
         '  "is duplicate"');
    ($rc, $out) = nginx_check(http => "functions_api_jwt_key $dir;");
    isnt($rc, 0, 'a directory: refused');
    like($out, qr/is not a regular file/, '  "is not a regular file"');
    ($rc, $out) = nginx_check(
        http => 'functions_mysql server=127.0.0.1:1 database=x;',
        server => 'location / { functions_api; }');
    isnt($rc, 0, 'functions_api with neither tokens nor a key: refused');
    like($out, qr/needs "functions_mysql" and "functions_api_tokens" \(or "functions_api_jwt_key"\)/,
         '  naming both');
};

done_testing;
