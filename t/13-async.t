# Async calls: 202 only after RabbitMQ confirmed the persistent message,
# 503 when it cannot; the call is recorded as queued at once, or, with
# functions_async_key, its sealed id stands for it until it runs.
use strict;
use warnings;
use lib 't/lib', 'scripts/lib';

use FnImage;
use FnTest qw(need_stack top nginx_start executor_start fresh_database fresh_vhost
              db_query stack_env http_request wait_until slurp queue_depths
              rabbitmqctl
              amqp_url functions_mysql api_token);
use Digest::MD5;
use JSON::PP;
use Test::More;
use POSIX ();
use Time::HiRes qw(time sleep);
use IO::Socket::INET;

my $env = need_stack();
my $db = fresh_database();
my $vhost = fresh_vhost();
my $url = amqp_url($vhost);

my $tokens = FnTest::tmpdir() . '/api.tokens';
my $token = api_token($tokens);

sub http_conf {
    my ($amqp) = @_;
    return <<CONF;
    functions_api_tokens $tokens;
    ${\ functions_mysql($db, timeout => '2s') }
    functions_route_cache zone=routes:1m valid=60s not_found=1s;
    functions_amqp $amqp;
CONF
}

my $server = <<'CONF';
        location /v1/ {
            functions_api;
        }

        location /r/ {
            functions_route;
            client_max_body_size 1m;
            proxy_pass http://127.0.0.1:1;   # never reached: async
            include functions_params;
        }
CONF

my $ng = nginx_start(http => http_conf("url=$url confirm_timeout=3s"),
                     server => $server);

db_query($db, "INSERT INTO apps (name) VALUES ('app')");
db_query($db, "INSERT INTO routes (app_name, path, image, type) VALUES "
            . "('app', '/later', 'oci:echo:v1', 'async')");

sub call {
    my ($n, $body, %h) = @_;
    return http_request($n->port, 'POST', '/r/app/later?q=1',
                        body => $body, headers => \%h, timeout => 30);
}

subtest 'accepted: 202 with the call id, once the broker has it' => sub {
    my $r = call($ng, 'the body', 'X-Custom' => 'yes');
    is($r->{status}, 202, 'answered 202') or diag($r->{body});
    my $id = eval { decode_json($r->{body})->{call_id} } // '';
    like($id, qr/^[0-9A-HJKMNP-TV-Z]{26}$/, '{"call_id": ...}');
    is($r->{headers}{'fn-call-id'}, $id, 'the same id in Fn-Call-Id');
    # a quorum queue's counters lag a little behind
    ok(wait_until(15, sub { (queue_depths($vhost)->{'functions.calls'} // 0) == 1 }),
       'one message in the queue');
    is_deeply(db_query($db, "SELECT id, app_name, path, status FROM calls"),
              [[$id, 'app', '/later', 'queued']], 'recorded as queued');
    my @more = map { call($ng, "n$_")->{status} } 1 .. 20;
    is(scalar(grep { $_ == 202 } @more), 20, 'twenty more');
    ok(wait_until(15, sub { (queue_depths($vhost)->{'functions.calls'} // 0) == 21 }),
       '  all in the queue');
    ok(exists queue_depths($vhost)->{'functions.calls.dead'}, 'the dead-letter queue exists');
};

subtest 'broker unreachable: 503, no call id handed out' => sub {
    my $down = nginx_start(http => http_conf("url=amqp://u:p\@127.0.0.1:1/x connect_timeout=1s"),
                           server => $server);
    my $t0 = time;
    my $r = call($down, 'x');
    is($r->{status}, 503, 'answered 503') or diag($r->{body});
    like($r->{body}, qr/could not be queued/, '  saying so');
    unlike($r->{body}, qr/call_id/, '  with no call id in the body');
    is($r->{headers}{'retry-after'}, 1, '  Retry-After');
    ok(time - $t0 < 5, '  promptly');
    like(slurp($down->prefix . '/error.log'), qr/msg="async call not accepted" call_id=\w{26} app=app path=\/later error="connect/,
         'the reason is logged');
    $down->stop;
};

# A broker that takes the connection and never says a word: each try of a
# call waits connect_timeout for the login, so calls stay pending a while.
sub silent_broker {
    my $l = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                  Listen => 16, Proto => 'tcp', ReuseAddr => 1)
        or die "listen: $!";
    return $l;
}

# The call in a child process; its answer in a file, read by the returned
# sub once the child is done.
sub call_in_background {
    my ($n, $body) = @_;
    my $out = FnTest::tmpdir() . '/bg.' . ++(our $BG);
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        my $r = eval { call($n, $body) } // { status => 0, body => $@ };
        FnTest::spew($out, "$r->{status} $r->{body}");
        POSIX::_exit(0);
    }
    return sub { waitpid($pid, 0); return FnTest::slurp($out) // '' };
}

subtest 'max_pending: a worker holds so many calls, then answers 503' => sub {
    my $silent = silent_broker();
    my $port = $silent->sockport;
    my $ng1 = nginx_start(http => http_conf("url=amqp://u:p\@127.0.0.1:$port/x "
                                           . "connect_timeout=1s max_pending=1"),
                          server => $server, workers => 1);
    my $t1 = time;
    my $first = call_in_background($ng1, 'one');
    sleep 0.5;
    my $t0 = time;
    my $r = call($ng1, 'two');
    is($r->{status}, 503, 'a second call while the first is pending: 503');
    like($r->{body}, qr/too many async calls at once/, '  saying so');
    ok(time - $t0 < 1, '  at once');
    like($first->(), qr/^503 .*could not be queued/,
         'the first gets its answer when its tries are over');
    # a login the broker never answers waits connect_timeout, not
    # rabbitmq-c's own 12 s
    ok(time - $t1 < 8, '  two tries of connect_timeout (1 s)');
    $ng1->stop;
};

subtest 'reload: an old worker answers its pending calls before it goes' => sub {
    my $silent = silent_broker();
    my $port = $silent->sockport;
    my $ng1 = nginx_start(http => http_conf("url=amqp://u:p\@127.0.0.1:$port/x "
                                           . "connect_timeout=1s"),
                          server => $server);
    my $pending = call_in_background($ng1, 'across a reload');
    sleep 0.3;
    my %old = map { $_ => 1 } $ng1->workers;
    kill 'HUP', $ng1->pid;
    sleep 0.7;
    ok(scalar(grep { $old{$_} } $ng1->workers),
       'an old worker stays while its call is pending');
    like($pending->(), qr/^503 .*could not be queued/,
         'the client gets its answer, not a closed connection');
    ok(wait_until(10, sub { !grep { $old{$_} } $ng1->workers }),
       'then the old workers go');
    unlike(slurp($ng1->prefix . '/error.log'), qr/open socket .* left/,
           'leaving no connection behind');
    $ng1->stop;
};

# The stack's broker, frozen (SIGSTOP) for a while: always thawed again.
my @frozen;
sub broker_pid {
    my $node = stack_env()->{FUNCTIONS_AMQP_NODE};
    for my $dir (glob('/proc/[0-9]*')) {
        next unless (slurp("$dir/comm") // '') eq "beam.smp\n";
        my $env = slurp("$dir/environ") // next;
        return $dir =~ s{^/proc/}{}r
            if grep { $_ eq "RABBITMQ_NODENAME=$node" } split /\0/, $env;
    }
    return undef;
}
sub thaw { kill 'CONT', @frozen if @frozen; @frozen = () }
END { thaw() }

subtest 'a frozen broker that takes no more data: its link is cut, calls get 503' => sub {
    my $pid = broker_pid() or return fail('the broker\'s process found');
    my $ng1 = nginx_start(http => http_conf("url=$url connect_timeout=1s "
                                           . "confirm_timeout=1s"),
                          server => $server =~ s/client_max_body_size 1m/client_max_body_size 8m/r,
                          workers => 1);
    is(call($ng1, 'warm')->{status}, 202, 'a call first: the link is open');
    @frozen = ($pid);
    kill 'STOP', $pid;
    # bodies far larger than the sockets' buffers: a send blocks
    my $big = 'x' x (4 << 20);
    my $t0 = time;
    my @calls = map { call_in_background($ng1, $big) } 1 .. 6;
    my @answers = map { $_->() } @calls;
    my $took = time - $t0;
    thaw();
    is(scalar(grep { /^503 .*could not be queued/ } @answers), 6,
       'every call answered 503') or diag(join "\n", map { substr($_, 0, 200) } @answers);
    # two tries: the send cut after confirm_timeout (and the timer's
    # second), then a login that the frozen broker never answers
    ok($took < 12, "  within a bound ($took s)");
    like(slurp($ng1->prefix . '/error.log'), qr/the broker took no data for \d+ ms/,
         'the stuck send was cut and logged');
    ok(wait_until(30, sub { call($ng1, 'thawed')->{status} == 202 }),
       'thawed: accepted again');
    $ng1->stop;
};

subtest 'RabbitMQ restarted: accepted again, nginx untouched' => sub {
    rabbitmqctl('stop_app') == 0 or BAIL_OUT('cannot stop RabbitMQ');
    my $r = eval { call($ng, 'while down') };
    rabbitmqctl('start_app');
    is($r->{status}, 503, 'while the broker is down: 503');
    ok(wait_until(30, sub { call($ng, 'after')->{status} == 202 }),
       'after it is back: 202 again, on fresh connections');
};

# ------------------------------------------------------- the executor side

# the image, before any executor can take a call
my $images = FnTest::tmpdir() . '/images';
FnImage::build("$images/echo", tag => 'v1',
    config => { Cmd => ['/bin/sh', '-c',
        'echo "stderr of $FN_CALL_ID" >&2; b=$(cat); echo "body=$b"; '
        . 'echo "md5=$(printf %s "$b" | md5sum)" >&2; '
        . 'case "$FN_PATH" in /fail) exit 3;; /slow) sleep 2;; esac'] },
    layers => [ FnImage::busybox_layer() ]);

sub executor {
    my $e = executor_start(image_dir => $images,
        amqp_url => $url, amqp_queue_type => 'quorum',
        async_slots => 2, async_retries => 2, async_retry_delay => '200ms',
        mysql_server => "127.0.0.1:$env->{FUNCTIONS_DB_PORT}",
        mysql_user => $env->{FUNCTIONS_DB_USER},
        mysql_password_file => $env->{FUNCTIONS_DB_PASSWORD_FILE},
        mysql_database => $db, @_);
    return $e;
}

sub statuses {
    return { map { $_->[0] => $_->[1] } @{ db_query($db, 'SELECT id, status FROM calls') } };
}

my @accepted;   # the ledger: every call id that got a 202

subtest 'consumed: every accepted call runs, is recorded, then acked' => sub {
    my $ids = statuses();
    push @accepted, keys %$ids;
    my $e = executor();
    ok(wait_until(60, sub { !grep { $_ ne 'success' } values %{ statuses() } }),
       'every queued call ends in success') or diag(explain(statuses()));
    my $rows = db_query($db, "SELECT attempt, started_at IS NOT NULL, completed_at IS NOT NULL "
                           . "FROM calls GROUP BY 1, 2, 3");
    is_deeply($rows, [[1, 1, 1]], 'one attempt each, with start and end times')
        or diag(explain(db_query($db, 'SELECT id, attempt, started_at, completed_at, created_at FROM calls ORDER BY id')));
    my ($id) = keys %$ids;
    like(db_query($db, "SELECT log FROM call_logs WHERE call_id = '$id'")->[0][0],
         qr/stderr of $id/, 'the stderr log is stored');
    ok(wait_until(15, sub { (queue_depths($vhost)->{'functions.calls'} // -1) == 0 }),
       'the queue is empty: all acknowledged');
    $e->stop;
};

subtest 'a body nginx kept in a temporary file arrives whole' => sub {
    my $e = executor();
    my $body = join('', map { chr(48 + $_ % 43) } 1 .. 200_000);
    my $r = call($ng, $body);
    is($r->{status}, 202, 'accepted') or diag($r->{body});
    my $id = decode_json($r->{body})->{call_id};
    push @accepted, $id;
    ok(wait_until(30, sub { (statuses()->{$id} // '') eq 'success' }),
       'and run');
    my $md5 = Digest::MD5::md5_hex($body);
    like(db_query($db, "SELECT log FROM call_logs WHERE call_id = '$id'")->[0][0],
         qr/md5=$md5/, 'the function read all 200000 bytes, unchanged');
    like(slurp($ng->prefix . '/error.log'), qr/a client request body is buffered to a temporary file/,
         'nginx had spooled it');
    $e->stop;
};

# functions_async_key: the id of an accepted call is sealed, and nothing is
# written to MariaDB until an executor takes the call.
sub ulid_time {
    my ($id) = @_;
    my $ms = 0;
    $ms = $ms * 32 + index('0123456789ABCDEFGHJKMNPQRSTVWXYZ', $_)
        for split //, substr($id, 0, 10);
    return POSIX::strftime('%Y-%m-%dT%H:%M:%S', gmtime(int($ms / 1000)))
         . sprintf('.%03d000Z', $ms % 1000);
}

subtest 'functions_async_key: a sealed id stands for the call until it runs' => sub {
    my $key = FnTest::tmpdir() . '/async.key';
    system(top() . "/scripts/secret '$key' > /dev/null") == 0 or return fail('a key made');
    my $keyed = nginx_start(http => http_conf("url=$url confirm_timeout=3s")
                                    . "    functions_async_key $key;\n",
                            server => $server);
    my $get = sub {
        my ($n, $path) = @_;
        return http_request($n->port, 'GET', $path,
                            headers => { Authorization => "Bearer $token" });
    };

    my $r = call($keyed, 'sealed');
    is($r->{status}, 202, 'accepted') or diag($r->{body});
    my $id = eval { decode_json($r->{body})->{call_id} } // '';
    like($id, qr/^[0-7][0-9A-HJKMNP-TV-Z]{25}$/, '  with a ULID');
    is($r->{headers}{'fn-call-id'}, $id, '  the same in Fn-Call-Id');
    push @accepted, $id;
    is(db_query($db, "SELECT COUNT(*) FROM calls WHERE id = '$id'")->[0][0], 0,
       'no record written');

    $r = $get->($keyed, "/v1/apps/app/calls/$id");
    is($r->{status}, 200, 'the calls API knows it at once') or diag($r->{body});
    is_deeply([ @{ $r->{json}{call} // {} }{qw(id app_name status attempt created_at)} ],
              [ $id, 'app', 'queued', 1, ulid_time($id) ],
              '  queued, created when its id was made');
    ok(!exists $r->{json}{call}{path}, '  its path unknown until it runs');

    my $last = substr($id, -1) eq 'Z' ? 'Y' : 'Z';
    is($get->($keyed, '/v1/apps/app/calls/' . substr($id, 0, 25) . $last)->{status},
       404, 'a character changed: 404');
    is($get->($keyed, "/v1/apps/formats/calls/$id")->{status}, 404,
       'under another app: 404');
    is($get->($ng, "/v1/apps/app/calls/$id")->{status}, 404,
       'an nginx without the key does not know it');

    # nothing on the way to the 202 waits for MariaDB
    my $mysqld = slurp("$env->{FUNCTIONS_VAR}/run/mysqld.pid") // '';
    chomp $mysqld;
    ok($mysqld, "MariaDB's pid file") or return;
    kill 'STOP', $mysqld;
    my $t0 = time;
    my @frozen_calls = map { call($keyed, "frozen $_") } 1 .. 5;
    my $took = time - $t0;
    kill 'CONT', $mysqld;
    my @ids = map { eval { decode_json($_->{body})->{call_id} } // () }
              grep { $_->{status} == 202 } @frozen_calls;
    is(scalar @ids, 5, 'MariaDB frozen: calls accepted all the same');
    push @accepted, @ids;
    ok($took < 2, "  none waited for it (5 calls in $took s; the record "
                  . 'would wait for the 2 s timeout)');
    unlike(slurp($keyed->prefix . '/error.log') // '', qr/async call not recorded/,
           '  no record tried');

    my $e = executor();
    ok(wait_until(30, sub { !grep { ($_ // '') ne 'success' } @{ statuses() }{$id, @ids} }),
       'run by an executor, which writes the rows') or diag(explain(statuses()));
    $r = $get->($keyed, "/v1/apps/app/calls/$id");
    is_deeply([ @{ $r->{json}{call} // {} }{qw(id path status attempt created_at)} ],
              [ $id, '/later', 'success', 1, ulid_time($id) ],
              '  the row: its path, one attempt, the same creation time');
    $e->stop;

    my $down = nginx_start(http => http_conf("url=amqp://u:p\@127.0.0.1:1/x connect_timeout=1s")
                                   . "    functions_async_key $key;\n",
                           server => $server);
    $r = call($down, 'x');
    is($r->{status}, 503, 'not accepted: 503') or diag($r->{body});
    my $refused = $r->{headers}{'fn-call-id'} // '';
    like($refused, qr/^[0-7][0-9A-HJKMNP-TV-Z]{25}$/, '  with the request\'s id');
    is($get->($keyed, "/v1/apps/app/calls/$refused")->{status}, 404,
       '  which is not sealed: the calls API does not know it');
    like(slurp($down->prefix . '/error.log') // '',
         qr/msg="async call not accepted" call_id=(?!$refused)\w{26} /,
         '  the log line has the id its message had');
    $down->stop;
    $keyed->stop;
};

subtest 'retries, then the dead-letter queue' => sub {
    db_query($db, "INSERT INTO routes (app_name, path, image, type) VALUES "
                . "('app', '/fail', 'oci:echo:v1', 'async')");
    my $e = executor();
    my $r = http_request($ng->port, 'POST', '/r/app/fail', body => 'x');
    is($r->{status}, 202, 'accepted');
    my $id = decode_json($r->{body})->{call_id};
    push @accepted, $id;
    ok(wait_until(30, sub { (statuses()->{$id} // '') eq 'error' }), 'ends in error');
    is_deeply(db_query($db, "SELECT attempt, reason FROM calls WHERE id = '$id'"),
              [[3, 'bad_exit']], 'after three attempts (two retries), bad_exit');
    ok(wait_until(15, sub { (queue_depths($vhost)->{'functions.calls.dead'} // 0) >= 1 }),
       'and the message is in the dead-letter queue');

    # the executor's message is stored whole, quotes and all
    # (in an app of its own: the calls API's counts below are app's)
    db_query($db, "INSERT INTO apps (name) VALUES ('formats')");
    db_query($db, "INSERT INTO routes (app_name, path, image, type) "
                . "VALUES ('formats', '/gone', 'oci:nosuch:v1', 'async')");
    $r = http_request($ng->port, 'POST', '/r/formats/gone', body => 'x');
    is($r->{status}, 202, 'a route whose image this executor does not have');
    $id = decode_json($r->{body})->{call_id};
    ok(wait_until(30, sub { (statuses()->{$id} // '') eq 'error' }), 'ends in error');
    like(db_query($db, "SELECT error FROM calls WHERE id = '$id'")->[0][0] // '',
         qr/^image "oci:nosuch:v1" not found/, '  with the whole message');
    $e->stop;
};

subtest 'poison messages are dead-lettered, and the consumer goes on' => sub {
    my $pub = FnTest::tmpdir() . '/amqp_publish';
    my $top = top();
    system("cc -std=gnu11 -D_GNU_SOURCE -O2 -pthread -I$top/common -o $pub "
           . "$top/bench/amqp_publish.c $top/common/amqp_link.c "
           . "$top/common/errf.c -lrabbitmq") == 0 or BAIL_OUT('cannot build amqp_publish');
    my $dead = queue_depths($vhost)->{'functions.calls.dead'} // 0;
    my $e = executor();
    for my $body ('not json at all', '{"call_id":"01ARZ3NDEKTSV4RRFFQ69G5FAV"}',
                  '{"call_id":"01ARZ3NDEKTSV4RRFFQ69G5FAV","app":"app","path":"/later",'
                  . '"route":{"app":"app","path":"/later","image":"oci:echo:v1"},'
                  . '"method":"POST","url":"u","headers":[],"body":"%%%","attempt":1}') {
        my $out = `$pub -u '$url' -n 1 -b '$body' 2>&1`;
        is($?, 0, 'published: ' . substr($body, 0, 30)) or diag($out);
    }
    ok(wait_until(20, sub { (queue_depths($vhost)->{'functions.calls.dead'} // 0) >= $dead + 3 }),
       'all three dead-lettered');
    like(slurp($e->dir . '/executor.log'), qr/unreadable message, dead-lettered.*not JSON/,
         'with the reason logged');
    my $r = http_request($ng->port, 'POST', '/r/app/later', body => 'after');
    my $id = decode_json($r->{body})->{call_id};
    push @accepted, $id;
    ok(wait_until(20, sub { (statuses()->{$id} // '') eq 'success' }),
       'a good call after them runs');
    $e->stop;
};

subtest 'kill -9 of the executor mid-call: the calls run again, none lost' => sub {
    db_query($db, "INSERT INTO routes (app_name, path, image, type) VALUES "
                . "('app', '/slow', 'oci:echo:v1', 'async')");
    my @ids;
    for (1 .. 4) {
        my $r = http_request($ng->port, 'POST', '/r/app/slow', body => "s$_");
        push @ids, decode_json($r->{body})->{call_id} if $r->{status} == 202;
    }
    is(scalar @ids, 4, 'four accepted');
    push @accepted, @ids;
    my $e = executor();
    ok(wait_until(20, sub { grep { ($_ // '') eq 'running' } @{ statuses() }{@ids} }),
       'calls are running');
    $e->stop('KILL');
    my $e2 = executor();
    ok(wait_until(60, sub { !grep { ($_ // '') ne 'success' } @{ statuses() }{@ids} }),
       'all four end in success on the next executor') or diag(explain(statuses()));
    my $again = db_query($db, "SELECT COUNT(*) FROM calls WHERE attempt > 1 AND path = '/slow'");
    ok($again->[0][0] >= 1, 'the interrupted ones as a further attempt of the same call');
    $e2->stop;
};

sub api {
    my ($path) = @_;
    return http_request($ng->port, 'GET', $path,
                        headers => { Authorization => "Bearer $token" });
}

subtest 'SIGTERM: calls in flight finish, are recorded and acknowledged' => sub {
    my @ids;
    for (1 .. 2) {
        my $r = http_request($ng->port, 'POST', '/r/app/slow', body => "t$_");
        push @ids, decode_json($r->{body})->{call_id} if $r->{status} == 202;
    }
    push @accepted, @ids;
    my $e = executor();
    ok(wait_until(20, sub { 2 == grep { ($_ // '') eq 'running' } @{ statuses() }{@ids} }),
       'both running');
    is($e->stop('TERM', 30), 0, 'the executor stops cleanly');
    is_deeply([ map { statuses()->{$_} } @ids ], [ 'success', 'success' ],
              'both were recorded before it exited');
    # unacknowledged, they would be back in the queue once its channel
    # closed (the broker's counters lag a little)
    ok(wait_until(15, sub { (queue_depths($vhost)->{'functions.calls'} // -1) == 0 }),
       'and acknowledged: the queue is empty')
        or diag(explain(queue_depths($vhost)));
    is_deeply(db_query($db, "SELECT id, attempt, status FROM calls WHERE id IN ('"
                          . join("','", sort @ids) . "') ORDER BY id"),
              [ map { [ $_, 1, 'success' ] } sort @ids ],
              'their records: one attempt each, success');
};

# A stream of async calls while things break; every call id answered 202
# goes into the ledger, written by the stream as it goes.
subtest 'loss drills under a stream of calls' => sub {
    my $e = executor();
    my $ledger = FnTest::tmpdir() . '/ledger';
    my $stop = FnTest::tmpdir() . '/stop';
    my @streams;
    for my $n (1 .. 2) {
        my $pid = fork() // die "fork: $!";
        if ($pid == 0) {
            open(my $fh, '>>', "$ledger.$n") or POSIX::_exit(1);
            $fh->autoflush(1);
            until (-e $stop) {
                my $r = http_request($ng->port, 'POST', '/r/app/later',
                                     body => "stream $n", timeout => 20);
                if ($r->{status} == 202 && $r->{body} =~ /"call_id":"(\w{26})"/) {
                    print $fh "$1\n";
                } else {
                    select(undef, undef, undef, 0.05);
                }
            }
            POSIX::_exit(0);
        }
        push @streams, $pid;
    }
    my $count = sub { my $n = 0; for (1 .. 2) { my $t = slurp("$ledger.$_") // ''; $n += () = $t =~ /\n/g } $n };
    my $wait_more = sub { my $c = $count->(); wait_until(20, sub { $count->() >= $c + 10 }) };

    ok($wait_more->(), 'the stream flows');

    # an nginx worker killed: the other one and a new one go on
    my @workers = grep { /^\d+$/ } map { (split ' ')[0] }
                  `ps -o pid=,ppid= --ppid ${\ $ng->pid}`;
    kill 'KILL', $workers[0] if @workers;
    ok(@workers && $wait_more->(), 'kill -9 of an nginx worker: calls still accepted');

    # MariaDB frozen for a while
    my $mysqld = slurp("$env->{FUNCTIONS_VAR}/run/mysqld.pid");
    chomp $mysqld;
    kill 'STOP', $mysqld;
    sleep 3;
    kill 'CONT', $mysqld;
    ok($wait_more->(), 'MariaDB frozen 3 s, then back: the stream goes on');

    # RabbitMQ restarted
    rabbitmqctl('stop_app');
    sleep 1;
    rabbitmqctl('start_app');
    ok($wait_more->(), 'RabbitMQ restarted: the stream goes on');

    # the executor killed mid-stream, another one started
    $e->stop('KILL');
    $e = executor();
    ok($wait_more->(), 'kill -9 of the executor, a new one: the stream goes on');

    open(my $fh, '>', $stop) or die;
    close $fh;
    waitpid($_, 0) for @streams;
    my @ids = map { split /\n/, (slurp("$ledger.$_") // '') } 1 .. 2;
    push @accepted, @ids;
    ok(@ids > 50, scalar(@ids) . ' calls accepted during the drills');
    my $final = sub {
        my $s = statuses();
        return grep { ($s->{$_} // 'missing') !~ /^(success|error|timeout)$/ } @ids;
    };
    ok(wait_until(120, sub { !$final->() }), 'every one of them ends in a final state')
        or diag(explain({ map { $_ => statuses()->{$_} // 'missing' } ($final->())[0 .. 9] }));
    my $s = statuses();
    is(scalar(grep { ($s->{$_} // '') ne 'success' } @ids), 0, '  all in success');
    my %seen;
    is(scalar(grep { $seen{$_}++ } @ids), 0, 'no call id was handed out twice');
    $e->stop;
};

subtest 'the calls API' => sub {
    my $r = api('/v1/apps/app/calls');
    is($r->{status}, 200, 'listed') or diag($r->{body});
    is($r->{json}{message}, 'Successfully listed calls', '  message');
    my @ids = map { $_->{id} } @{ $r->{json}{calls} };
    is(scalar @ids, @accepted < 30 ? scalar @accepted : 30, '  up to 30 by default');
    is_deeply(\@ids, [ sort { $b cmp $a } @ids ], '  newest first');
    my (@all, $cursor);
    do {
        $r = api('/v1/apps/app/calls?per_page=7' . ($cursor ? "&cursor=$cursor" : ''));
        push @all, map { $_->{id} } @{ $r->{json}{calls} };
        $cursor = $r->{json}{next_cursor};
    } while ($cursor);
    my %count;
    $count{$_}++ for @all;
    is(scalar(grep { $_ > 1 } values %count), 0, 'the pages hold no call twice');
    is(scalar(grep { !$count{$_} } @accepted), 0, '  and every accepted call');
    is(scalar @all, db_query($db, "SELECT COUNT(*) FROM calls WHERE app_name = 'app'")->[0][0],
       '  and every record (a call whose 202 was lost with its nginx worker has one too)');

    my ($fail) = map { $_->{id} } @{ api('/v1/apps/app/calls?path=/fail')->{json}{calls} };
    $r = api("/v1/apps/app/calls/$fail");
    is($r->{json}{message}, 'Successfully loaded call', 'one call');
    is_deeply([ @{ $r->{json}{call} }{qw(id app_name path status reason attempt)} ],
              [ $fail, 'app', '/fail', 'error', 'bad_exit', 3 ], '  its record');
    like($r->{json}{call}{error}, qr/exited with status 3/, '  and the error');
    like($r->{json}{call}{$_}, qr/^\d{4}-\d\d-\d\dT[\d:.]+Z$/, "  $_")
        for qw(created_at started_at completed_at);
    $r = api("/v1/apps/app/calls/$fail/log");
    is($r->{json}{log}{call_id}, $fail, 'its log');
    like($r->{json}{log}{log}, qr/stderr of $fail/, '  with what it wrote');
    is(scalar @{ api('/v1/apps/app/calls?status=error')->{json}{calls} }, 1,
       '?status= filters');
    is(scalar @{ api('/v1/apps/app/calls?path=/slow')->{json}{calls} },
       db_query($db, "SELECT COUNT(*) FROM calls WHERE path = '/slow'")->[0][0],
       '?path= filters');
    ok(!grep({ $_->{path} ne '/slow' } @{ api('/v1/apps/app/calls?path=/slow')->{json}{calls} }),
       '  to that path');
    my $later = int(time) + 3600;
    $r = api("/v1/apps/app/calls?from_time=$later");
    is($r->{status}, 200, '?from_time= is taken');
    is(scalar @{ $r->{json}{calls} }, 0, '  and filters');
    is(scalar @{ api("/v1/apps/app/calls?to_time=$later&per_page=100")->{json}{calls} },
       @accepted < 100 ? scalar @accepted : 100, '?to_time= filters');
    is(scalar @{ api('/v1/apps/app/calls?to_time=' . (int(time) - 3600))->{json}{calls} },
       0, '  both ways');
    is(api('/v1/apps/app/calls/01ARZ3NDEKTSV4RRFFQ69G5FAV')->{status}, 404, 'an unknown call: 404');
    is(api("/v1/apps/other/calls/$fail")->{status}, 404, 'another app\'s call: 404');
    is(api('/v1/apps/app/calls/not-a-call-id')->{status}, 404, 'not a call id: 404');
    is(api('/v1/apps/app/calls?status=lost')->{status}, 400, 'a bad status: 400');
    is(api('/v1/apps/app/calls?from_time=yesterday')->{status}, 400, 'a bad time: 400');
    is(api('/v1/apps/app/calls?path=../x')->{status}, 400, 'a bad path: 400');
};

subtest 'the ledger' => sub {
    my $s = statuses();
    my @missing = grep { !exists $s->{$_} } @accepted;
    is_deeply(\@missing, [], 'every call id that got a 202 has a record');
    my @open = grep { $s->{$_} !~ /^(success|error|timeout)$/ } @accepted;
    is_deeply(\@open, [], 'and every one is final');
};

done_testing;
