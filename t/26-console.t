# The web console's server block (conf/functions_console) as nginx serves
# it: its files under a strict Content-Security-Policy, the API, the
# module's and the executor's metrics and "try it" calls
# (/v1/invoke/<app>/<path>), all behind the API's tokens, which no
# function and no executor ever sees.  The browser's side is
# t/28-console-browser.t.
use strict;
use warnings;
use lib 't/lib', 'scripts/lib';

use FnConsole;
use FnTest qw(http_request wait_until nginx_check slurp);
use JSON::PP;
use Test::More;

my $c = FnConsole::start();
my $port = $c->{nginx}->port;
my %auth = (Authorization => "Bearer $c->{token}");

sub req {
    my ($method, $path, %o) = @_;
    my $r = http_request($port, $method, $path, timeout => 30, %o);
    $r->{json} = eval { decode_json($r->{body}) };
    return $r;
}

my $page_csp = "default-src 'none'; script-src 'self'; style-src 'self'; "
             . "img-src 'self'; connect-src 'self'; base-uri 'none'; "
             . "form-action 'none'; frame-ancestors 'none'";
my $sandbox = "sandbox; default-src 'none'";

subtest 'the console files, under a strict policy' => sub {
    for (['/', 'text/html'], ['/console.js', 'text/javascript'],
         ['/console.css', 'text/css'], ['/config.json', 'application/json']) {
        my ($f, $type) = @$_;
        my $r = req('GET', $f);
        is($r->{status}, 200, "$f is served");
        is($r->{headers}{'content-type'}, "$type; charset=utf-8",
           "$f: as $type (nosniff refuses a script of another type)");
        is($r->{headers}{'content-security-policy'}, $page_csp,
           "$f: no inline script or style, nothing from elsewhere");
        is($r->{headers}{'x-content-type-options'}, 'nosniff', "$f: nosniff");
    }
    my $html = req('GET', '/')->{body};
    unlike($html, qr/<script(?![^>]*\bsrc=)/i, 'the page has no inline script');
    unlike($html, qr/\son[a-z]+\s*=/i, 'and no event handler attributes');
    my $js = slurp(FnTest::top() . '/console/console.js');
    unlike($js, qr/innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function/,
           'console.js never parses HTML or code from strings');
    ok(decode_json(req('GET', '/config.json')->{body})->{metrics},
       'config.json names the metrics');
};

subtest 'the API through the console origin' => sub {
    is(req('GET', '/v1/apps')->{status}, 401, 'no token: 401');
    my $r = req('POST', '/v1/apps/app/routes', headers => \%auth,
                body => encode_json({ route => { path => '/hello',
                                                 image => 'oci:echo:v1' } }));
    is($r->{status}, 200, 'a route created') or diag($r->{body});
    for my $route ({ path => '/env', image => 'oci:echo:v1' },
                   { path => '/later', image => 'oci:echo:v1',
                     type => 'async' },
                   { path => '/keyed', image => 'oci:echo:v1',
                     jwt_key => 'k' x 32 }) {
        is(req('POST', '/v1/apps/app/routes', headers => \%auth,
               body => encode_json({ route => $route }))->{status},
           200, "route $route->{path}");
    }
};

subtest 'try it: /v1/invoke/ needs a token, as the API does' => sub {
    my $r = req('POST', '/v1/invoke/app/hello', body => 'x');
    is($r->{status}, 401, 'no token: 401');
    like($r->{headers}{'www-authenticate'}, qr/^Bearer realm="functions"$/,
         'with the challenge');
    is($r->{headers}{'content-security-policy'}, $sandbox,
       'answers of /v1/invoke/ are sandboxed documents');
    like($r->{json}{error}{message}, qr/Authorization: Bearer/,
         'and a message that says what is missing');

    $r = req('POST', '/v1/invoke/app/hello', body => 'x',
             headers => { Authorization => 'Bearer nope' });
    is($r->{status}, 401, 'a wrong token: 401');
    like($r->{headers}{'www-authenticate'}, qr/error="invalid_token"/,
         'invalid_token');
    is(req('POST', '/v1/invoke/app/hello', body => 'x',
           headers => { Authorization => 'Basic YTpi' })->{status},
       401, 'not a Bearer token: 401');
};

subtest 'try it: POST only, on the path as written' => sub {
    my $r = req('GET', '/v1/invoke/app/hello', headers => \%auth);
    is($r->{status}, 405, 'GET: 405');
    is($r->{headers}{allow}, 'POST', 'Allow: POST');
    for my $path ('/v1/invoke/app/x/..%2Fhello', '/v1/invoke/app%2Fhello',
                  '/v1/invoke/app/x/../hello', '/v1/invoke//app/hello',
                  '/v1/apps/..%2Finvoke%2Fapp%2Fhello',
                  '/v1/invoke/app/%2E%2E/app/hello',
                  '/v1/invoke/app/hello%5C') {
        $r = req('POST', $path, headers => \%auth, body => 'x');
        is($r->{status}, 400, "$path: 400");
    }
    like($r->{json}{error}{message}, qr/encoded slashes/, 'and says why');
    is(req('POST', '/v1/invoke/app/hell%6F', headers => \%auth,
           body => 'x')->{status}, 200,
       'other escapes are fine (a route path may need them)');
};

subtest "try it: the function's headers set nothing for the console" => sub {
    my $hostile = {
        'Set-Cookie' => ['s=1; Path=/'], 'NEL' => ['{"report_to":"x"}'],
        'Report-To' => ['{"group":"x"}'], 'Location' => ['/v1/apps'],
        'Strict-Transport-Security' => ['max-age=1'],
        'Content-Security-Policy' => ["script-src 'unsafe-inline'"],
        'X-Content-Type-Options' => ['foo'], 'Refresh' => ['0; url=/x'],
        'Link' => ['</x>; rel=preload'], 'Access-Control-Allow-Origin' => ['*'],
        'Cache-Control' => ['no-store'],
    };
    my $r = req('POST', '/v1/apps/app/routes', headers => \%auth,
                body => encode_json({ route => { path => '/headers',
                    image => 'oci:echo:v1', headers => $hostile } }));
    is($r->{status}, 200, 'a route whose answers carry them') or diag($r->{body});
    $r = req('POST', '/v1/invoke/app/headers', headers => \%auth, body => 'x');
    is($r->{status}, 200, 'called');
    for my $h (grep { $_ ne 'Cache-Control' } sort keys %$hostile) {
        my $l = lc $h;
        is($r->{headers}{"fn-answer-$l"}, $hostile->{$h}[0],
           "$h arrives as Fn-Answer-$h");
    }
    ok(!exists $r->{headers}{$_}, "no $_") for qw(set-cookie nel report-to
        location strict-transport-security refresh link
        access-control-allow-origin);
    is($r->{headers}{'content-security-policy'}, $sandbox, 'the only policy is ours');
    is($r->{headers}{'x-content-type-options'}, 'nosniff', 'nosniff is ours');
    is($r->{headers}{'cache-control'}, 'no-store', 'Cache-Control describes the body: kept');
    like($r->{headers}{'content-type'} // '', qr{^text/plain}, 'so does Content-Type');
    $r = http_request($port, 'DELETE', '/v1/apps/app/routes/headers', headers => \%auth);
    is($r->{status}, 200, 'deleted');
};

subtest 'try it: a sync call' => sub {
    my $r = req('POST', '/v1/invoke/app/hello', body => 'Alice',
                headers => \%auth);
    is($r->{status}, 200, 'answered 200') or diag($r->{body});
    like($r->{body}, qr/^body=Alice$/m, 'the function answered');
    like($r->{headers}{'fn-call-id'}, qr/^[0-9A-HJKMNP-TV-Z]{26}$/,
         'with its call id');
    is($r->{headers}{'content-security-policy'}, $sandbox,
       'as a sandboxed document');
    is(req('POST', '/v1/invoke/app/nosuch', headers => \%auth)->{status},
       404, 'an unknown route: 404');
    is(req('POST', '/v1/invoke/app/keyed', body => 'k',
           headers => \%auth)->{status},
       200, "a route with a jwt_key: the API's token is enough");
};

subtest 'the token never reaches the function' => sub {
    my $r = req('POST', '/v1/invoke/app/env', body => '',
                headers => { %auth, 'X-Seen' => 'yes' });
    is($r->{status}, 200, 'called');
    like($r->{body}, qr/^(?:FN_)?HEADER_X_SEEN=yes$/m,
         "the client's other headers arrive");
    unlike($r->{body}, qr/\Q$c->{token}\E/, 'the token does not');
    unlike($r->{body}, qr/AUTHORIZATION/i, 'nor any Authorization header');
};

subtest 'try it: an async call, followed to its end' => sub {
    my $r = req('POST', '/v1/invoke/app/later', body => 'later',
                headers => \%auth);
    is($r->{status}, 202, 'answered 202') or diag($r->{body});
    my $id = $r->{json}{call_id} // '';
    is($r->{headers}{'fn-call-id'}, $id, 'its id');
    my $status = '';
    ok(wait_until(60, sub {
        my $c = req('GET', "/v1/apps/app/calls/$id", headers => \%auth);
        $status = $c->{json}{call}{status} // '';
        return $status eq 'success';
    }), 'the call ends in success') or diag($status);
    my $log = req('GET', "/v1/apps/app/calls/$id/log", headers => \%auth);
    like($log->{json}{log}{log}, qr/stderr of $id/, 'its log is there');
    unlike($log->{json}{log}{log} . slurp($c->{executor}->dir
                                          . '/executor.log'),
           qr/\Q$c->{token}\E/, 'the token is in no log');
};

subtest 'metrics of the module and of the executor, with a token' => sub {
    for my $m (['/metrics', qr/^functions_requests_total\{app="app",outcome="success"\} \d+$/m],
               ['/metrics/executor', qr/^functions_calls_total\{app="app",path="\/hello",kind="sync",outcome="success"\} \d+$/m]) {
        my ($path, $re) = @$m;
        my $r = req('GET', $path);
        is($r->{status}, 401, "$path: no token, 401");
        $r = req('GET', $path, headers => \%auth);
        is($r->{status}, 200, "$path: 200 with one");
        like($r->{body}, $re, "$path: the counts");
    }
};

subtest 'functions_api_auth needs tokens' => sub {
    my ($rc, $out) = nginx_check(server => <<'CONF');
        location /x/ {
            functions_api_auth on;
            return 200;
        }
CONF
    isnt($rc, 0, 'nginx -t refuses it without functions_api_tokens');
    like($out, qr/"functions_api_auth" needs "functions_api_tokens"/,
         'and says why');
    ($rc, $out) = nginx_check(server => <<'CONF');
        location /x/ {
            functions_api_auth maybe;
        }
CONF
    isnt($rc, 0, 'a value other than on or off is refused');
};

done_testing();
