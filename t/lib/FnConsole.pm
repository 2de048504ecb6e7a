package FnConsole;

# The web console's test stack: an executor (sync and async calls) and an
# nginx whose one server block is the console's, as conf/nginx.conf
# writes it (conf/functions_console included, the executor's metrics
# beside it).  Used by t/26-console.t (the module's side, run under the
# sanitizers too) and t/28-console-browser.t (chromium).
#
#   my $c = FnConsole::start();
#   $c->{nginx}, $c->{executor}, $c->{token}, $c->{db}, $c->{url}

use strict;
use warnings;

use FnImage;
use FnTest qw(need_stack top nginx_start executor_start fresh_database
              fresh_vhost amqp_url functions_mysql api_token);

# The test functions: echo:v1 (its stderr names the call, it answers with
# its body, /env answers with its whole environment, /fail exits 3) and
# hot:v1 (t/fn/hot.c, format http).
my $SCRIPT = 'echo "stderr of $FN_CALL_ID" >&2; b=$(cat); '
           . 'echo "body=$b"; '
           . 'case "$FN_PATH" in /env) env;; /fail) exit 3;; esac';

sub start {
    my (%o) = @_;
    my $env = need_stack();
    my $db = fresh_database();
    my $url = amqp_url(fresh_vhost());
    my $dir = FnTest::tmpdir();
    my $tokens = "$dir/api.tokens";
    my $token = api_token($tokens);

    FnImage::build("$dir/images/echo", tag => 'v1',
        config => { Cmd => [ '/bin/sh', '-c', $SCRIPT ] },
        layers => [ FnImage::busybox_layer() ]);
    # a hot function (format http): t/fn/hot.c
    system('cc', '-static', '-O2', '-o', "$dir/hot", top() . '/t/fn/hot.c')
        == 0 or die 'cannot build t/fn/hot.c';
    FnImage::build("$dir/images/hot", tag => 'v1',
        config => { Cmd => [ '/fn/hot' ] },
        layers => [ [ [ 'fn', dir => 1 ],
                      [ 'fn/hot', file => "$dir/hot", mode => 0755 ] ] ]);

    my $e = executor_start(image_dir => "$dir/images",
        amqp_url => $url, amqp_queue_type => 'quorum', async_slots => 2,
        mysql_server => "127.0.0.1:$env->{FUNCTIONS_DB_PORT}",
        mysql_user => $env->{FUNCTIONS_DB_USER},
        mysql_password_file => $env->{FUNCTIONS_DB_PASSWORD_FILE},
        mysql_database => $db);

    my $top = top();
    my $sock = $e->socket;
    my $ng = nginx_start(
        http => <<HTTP,
    functions_api_tokens $tokens;
    ${\ functions_mysql($db) }
    functions_route_cache zone=routes:1m valid=60s not_found=1s;
    functions_amqp url=$url confirm_timeout=5s;
    functions_metrics_zone;
    # not called "executors": the console finds it by functions_executors
    upstream pool {
        server unix:${\ $e->socket };
        keepalive 8;
    }
    functions_executors pool;
HTTP
        server => <<SERVER);
        root $top/console;
        include functions_console;

        location = /metrics/executor {
            functions_api_auth on;
            proxy_pass http://unix:$sock:/metrics;
        }
SERVER

    return { nginx => $ng, executor => $e, token => $token, db => $db,
             dir => $dir, url => $ng->url('') };
}

1;
