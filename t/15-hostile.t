# Hostile functions, deployed through the API and called through nginx as
# any client would: each attack of docs/security.md is tried and must be
# contained.  Two executors sit in the upstream (as the README sets them
# up), both holding open database and broker connections.
use strict;
use warnings;
use lib 't/lib', 'scripts/lib';

use FnImage;
use FnTest qw(need_stack top tmpdir nginx_start executor_start fresh_database
              fresh_vhost stack_env http_request wait_until slurp
              amqp_url functions_mysql api_token executors_upstream);
use JSON::PP;
use POSIX ();
use Test::More;

my $env = need_stack();
my $json = JSON::PP->new->canonical->utf8;
my $tmp = tmpdir();

my $db = fresh_database();
my $vhost = fresh_vhost();
my $amqp = amqp_url($vhost);

# ------------------------------------------------------------- functions

for my $fn (qw(escape hot)) {
    system('cc', '-static', '-O2', '-o', "$tmp/$fn", top() . "/t/fn/$fn.c") == 0
        or BAIL_OUT("cannot build t/fn/$fn.c");
}
my $images = "$tmp/images";
FnImage::build("$images/escape", tag => 'v1',
    config => { Cmd => ['/fn/escape'] },
    layers => [ [ [ 'fn', dir => 1 ],
                  [ 'fn/escape', file => "$tmp/escape", mode => 0755 ] ] ]);
FnImage::build("$images/hot", tag => 'v1',
    config => { Cmd => ['/fn/hot'] },
    layers => [ [ [ 'fn', dir => 1 ],
                  [ 'fn/hot', file => "$tmp/hot", mode => 0755 ] ] ]);

# executors given realtime priority and a nice ceiling by their own
# limits (as LimitRTPRIO= or limits.conf would): none reaches a function
# (raising them needs CAP_SYS_RESOURCE, which a container may lack)
my $raised = system("prlimit --pid=$$ --rtprio=50:50 --nice=30:30 "
                    . "2>/dev/null") == 0;
diag('the executors run with RLIMIT_RTPRIO 50 and RLIMIT_NICE 30') if $raised;

my @ex = map {
    # a fifth of a core: a hog is throttled even on a busy machine (the
    # default of one core is checked by t/09)
    executor_start(image_dir => $images, max_sandboxes => 8,
        queue_timeout => '2s', log_level => 'debug', cpu_quota => 20,
        amqp_url => $amqp, amqp_queue_type => 'quorum', async_slots => 2,
        mysql_server => "127.0.0.1:$env->{FUNCTIONS_DB_PORT}",
        mysql_user => $env->{FUNCTIONS_DB_USER},
        mysql_password_file => $env->{FUNCTIONS_DB_PASSWORD_FILE},
        mysql_database => $db)
} 1 .. 2;

# ----------------------------------------------------------------- nginx

my $tokens = "$tmp/api.tokens";
my $token = api_token($tokens);

my $ng = nginx_start(http => <<CONF, server => <<'CONF');
    functions_api_tokens $tokens;
    ${\ functions_mysql($db, timeout => '2s') }
    functions_route_cache zone=routes:1m valid=60s not_found=1s;
    functions_amqp url=$amqp confirm_timeout=3s;

${\ executors_upstream(\@ex, server => 'max_fails=1 fail_timeout=30s',
                         balance => 'hash $fn_app$fn_path consistent;') }
CONF
        location /v1/ {
            functions_api;
        }

        location /r/ {
            functions_route;
            proxy_pass http://executors$fn_executor_uri;
            include functions_params;
            error_page 502 = @functions_unavailable;
        }

        location @functions_unavailable {
            default_type application/json;
            return 503 '{"error":{"message":"no executor is reachable"}}\n';
        }
CONF

sub api {
    my ($method, $path, $body) = @_;
    return http_request($ng->port, $method, $path,
        headers => { Authorization => "Bearer $token" },
        body => defined $body ? $json->encode($body) : undef, timeout => 30);
}

sub route {
    my ($path, %r) = @_;
    my $r = api('POST', '/v1/apps/evil/routes',
                { route => { path => $path, image => 'oci:escape:v1',
                             timeout => 20, %r } });
    $r->{status} == 200 or BAIL_OUT("route $path: $r->{status} $r->{body}");
}

sub call {
    my ($path, $body, %h) = @_;
    my $method = delete $h{method} // 'POST';
    return http_request($ng->port, $method, "/r/evil$path",
                        headers => \%h, body => $body, timeout => 40);
}

# "name=value" lines of a probe's answer
sub report { return { $_[0]{body} =~ m{^([\w./]+)=(.*)$}mg } }

{
    my $r = api('POST', '/v1/apps', { app => { name => 'evil' } });
    $r->{status} == 200 or BAIL_OUT("cannot create the app: $r->{status} $r->{body}");
}
route('/probe');
route('/hog');
route('/sleep1');
route('/later', type => 'async');
route('/hot', image => 'oci:hot:v1', format => 'http');
route("/ok$_", image => 'oci:hot:v1', format => 'http') for 1 .. 6;

# The executor whose sandbox runs a process of a call, and that process.
sub running_function {
    my ($e, $pid);
    wait_until(20, sub {
        for my $x (@ex) {
            my @p = $x->function_pids;
            ($e, $pid) = ($x, $p[0]) if @p;
        }
        return defined $pid;
    });
    return ($e, $pid);
}

# Socket inodes a process holds, and what each descriptor is.
sub fds_of {
    my ($pid) = @_;
    my %fds;
    opendir(my $d, "/proc/$pid/fd") or return {};
    for my $n (grep { /^\d+$/ } readdir $d) {
        my $to = readlink("/proc/$pid/fd/$n") // next;
        $fds{$n} = $to;
    }
    return \%fds;
}

# The executor's TCP connections to a port: their socket inodes.
sub tcp_inodes {
    my ($pid, $port) = @_;
    my %mine = map { /socket:\[(\d+)\]/ ? ($1 => 1) : () }
               values %{ fds_of($pid) };
    my @inodes;
    for my $file ("/proc/$pid/net/tcp", "/proc/$pid/net/tcp6") {
        open(my $fh, '<', $file) or next;
        while (<$fh>) {
            my @f = split;
            next unless @f > 9 && $f[2] =~ /:([0-9A-F]{4})$/;
            push @inodes, $f[9] if hex($1) == $port && $mine{$f[9]};
        }
    }
    return @inodes;
}

# ------------------------------------------------------------ the attacks

subtest 'no descriptor of the executor reaches a sandbox' => sub {
    # an async call: the executor's worker holds its database session
    # and the consumer its broker connection while the sandbox starts
    my $r = call('/later', 'sleep 4000');
    is($r->{status}, 202, 'an async call') or diag($r->{body});
    my ($e, $fn) = running_function();
    ok($fn, 'its function runs') or return;
    my @db = tcp_inodes($e->pid, $env->{FUNCTIONS_DB_PORT});
    my @mq = tcp_inodes($e->pid, $env->{FUNCTIONS_AMQP_PORT});
    ok(@db >= 1, 'the executor holds a database connection');
    ok(@mq >= 1, 'and a broker connection');
    my %executor = map { /socket:\[(\d+)\]/ ? ($1 => 1) : () }
                   values %{ fds_of($e->pid) };
    my @procs;
    for my $g ($e->sandbox_groups) {
        push @procs, split /\n/, slurp("$g/cgroup.procs") // '';
    }
    ok(@procs >= 3, 'bubblewrap, the init and the function are seen')
        or diag("@procs");
    for my $pid (@procs) {
        my $fds = fds_of($pid);
        my $cmd = (slurp("/proc/$pid/cmdline") // '') =~ s/\0.*//sr;
        my @shared = grep { /socket:\[(\d+)\]/ && $executor{$1} }
                     values %$fds;
        is_deeply(\@shared, [], "$cmd ($pid): no socket of the executor")
            or diag(explain($fds));
        my @tcp = grep { my $i = $_; grep { "socket:[$i]" eq $_ } values %$fds }
                  @db, @mq;
        is_deeply(\@tcp, [], "  none of its database or broker sessions");
        if ($pid == $fn) {
            is_deeply([sort { $a <=> $b } keys %$fds], [0, 1, 2],
                      '  the function holds 0, 1 and 2 only')
                or diag(explain($fds));
        } else {
            # the init (the helper, run from descriptor 4) has one thing
            # of its own: the pipe its SIGCHLD handler wakes it through
            my @extra = grep { $_ > 5 } keys %$fds;
            my $init = $cmd eq '/proc/self/fd/4';
            my %count;
            $count{$_}++ for values %$fds;
            ok(!@extra || ($init && @extra <= 2
                           && !grep({ $fds->{$_} !~ /^pipe:/
                                      || $count{ $fds->{$_} } != 2 } @extra)),
               $init ? '  nothing beyond 0 to 5 and its SIGCHLD pipe'
                     : '  nothing beyond the sandbox\'s own 0 to 5')
                or diag(explain($fds));
        }
    }
};

subtest 'the init (pid 1) is out of reach' => sub {
    my $r = call('/probe', 'steal');
    is($r->{status}, 200, 'the probe ran') or diag($r->{body});
    my $p = report($r);
    ok(exists $p->{'pid1.getfd'}, 'it saw pid 1') or diag($r->{body});
    is($p->{'pid1.getfd'}, 0, 'pidfd_getfd: no descriptor of pid 1');
    is($p->{'pid1.getfd_sockets'}, 0, '  so not its control socket');
    is($p->{'pid1.procfd'}, 0, '/proc/1/fd/*: none opens');
    isnt($p->{'pid1.mem'}, 'ok', "/proc/1/mem: $p->{'pid1.mem'}");
    isnt($p->{'pid1.environ'}, 'ok', "/proc/1/environ: $p->{'pid1.environ'}");
    isnt($p->{"pid1.$_"}, 'ok', "/proc/1/$_: " . ($p->{"pid1.$_"} // '')) for qw(root cwd maps);
    isnt($p->{'pid1.vm_readv'}, 'ok', "process_vm_readv: $p->{'pid1.vm_readv'}");
    isnt($p->{'pid1.ptrace'}, 'ok', "ptrace: $p->{'pid1.ptrace'}");
    is($p->{'self.extra_fds'}, 0, 'the function inherited nothing beyond 0-2');
    is(call('/probe', 'loot')->{status}, 200,
       'SIGKILL to pid 1 changed nothing: the next call runs');
};

subtest 'a call leaves nothing that sees a later call' => sub {
    my $r = call('/probe', 'daemon');
    is($r->{status}, 200, 'a call leaves a daemon behind') or diag($r->{body});
    like($r->{body}, qr/daemon=started/, '  it says so');
    ok(wait_until(5, sub { !grep { $_->function_pids } @ex }),
       'no process of it is left once it is answered');
    $r = call('/probe', 'sleep 300', 'X-Secret' => 'SECRET-of-a-later-caller');
    is($r->{status}, 200, 'a later caller sends a secret header');
    $r = call('/probe', 'loot');
    my $p = report($r);
    is($p->{loot0}, 'none', 'nothing of it reached /tmp');
    is($p->{loot1}, 'none', 'nor /dev/shm');
    is($p->{others}, 0, 'and no other process runs beside the call');
    my $logs = join('', map { $_->log } @ex);
    like($logs, qr/msg="sandbox closed".*|msg="call finished"/,
         'the executors logged the calls');
};

subtest 'what a call changes of pid 1 or the kernel does not reach a later call' => sub {
    # the sandbox a call ran in is told by when its pid 1 started
    my $sched = sub { my %h = %{ $_[0] }; delete $h{init_start}; \%h };
    my $before = report(call('/probe', 'nice'));
    ok(defined $before->{nice}, "a call's own scheduling: nice $before->{nice}, "
       . "policy $before->{policy}, $before->{cpus} CPUs, slice "
       . ($before->{slice} // '?')) or return;
    ok($before->{init_start}, "  in the sandbox whose pid 1 started at $before->{init_start}");
    is($before->{policy}, 3, 'functions run under SCHED_BATCH');

    my $r = report(call('/probe', 'batchless'));
    is($r->{own_policy}, 'ok', 'a function may put itself back under SCHED_OTHER');
    is($r->{init_start}, $before->{init_start}, '  (in the same sandbox)');
    my $after = report(call('/probe', 'nice'));
    is($after->{init_start}, $before->{init_start}, '  which is kept for the next call,');
    is_deeply($after, $before, '  whose process runs under SCHED_BATCH as before');

    $r = report(call('/probe', 'renice'));
    diag("pid 1 reniced: " . join(' ', map { "$_=$r->{$_}" } sort keys %$r));
    $after = report(call('/probe', 'nice'));
    isnt($after->{init_start}, $before->{init_start}, 'a reniced pid 1: its sandbox is not kept');
    is_deeply($sched->($after), $sched->($before), 'the next call of the route runs as the first did');

    # a slice of its own (sched_setattr) leaves policy and nice as they were
    $before = $after;
    $r = report(call('/probe', 'slice'));
    diag("pid 1 given a slice: $r->{slice_set}");
    $after = report(call('/probe', 'nice'));
    if ($r->{slice_set} eq 'ok') {
        isnt($after->{init_start}, $r->{init_start}, 'pid 1 with a slice of its own: its sandbox is not kept');
    }
    is_deeply($sched->($after), $sched->($before), 'the next call runs as the first did');

    $r = report(call('/probe', 'sysctl'));
    isnt($r->{$_}, 'ok', "$_: $r->{$_}")
        for qw(/proc/sys/kernel/shmmni /proc/sys/kernel/msgmni /proc/sys/fs/mqueue/msg_max);
    $r = report(call('/probe', 'core'));
    is($r->{core_hard}, 0, 'no core files, not even by raising the soft limit');
    is($r->{rtprio_hard}, 0, 'no realtime priority (RLIMIT_RTPRIO 0, hard limit too)');
    isnt($r->{fifo}, 'ok', "  SCHED_FIFO refused: $r->{fifo}");
    is($r->{nice_hard}, 0, 'no priority above the default (RLIMIT_NICE 0)');
};

subtest 'a CPU hog is held to its quota' => sub {
    my $r = call('/hog', 'hog 2000');
    is($r->{status}, 200, 'four processes spun for 2 s') or diag($r->{body});
    my @stats;
    for my $e (@ex) {
        my $name = $e->{cgroup_name};
        for my $g (glob("/sys/fs/cgroup/cpu/$name/*/"), glob("/sys/fs/cgroup/$name/*/")) {
            next unless $g =~ m{/[0-7][0-9A-HJKMNP-TV-Z]{25}/$};
            my $stat = slurp("${g}cpu.stat") // next;
            my ($thr) = $stat =~ /^nr_throttled (\d+)/m;
            my $quota = slurp("${g}cpu.cfs_quota_us") // slurp("${g}cpu.max") // '';
            push @stats, [$g, $thr // 0, $quota =~ s/\s+$//r];
        }
    }
    my @throttled = grep { $_->[1] > 0 } @stats;
    ok(@throttled >= 1, 'its sandbox was throttled by the kernel')
        or diag(explain(\@stats));
    like($_->[2], qr/^20000\b/, "  held to its quota ($_->[2])") for @throttled;
    ok(!grep({ $_->[2] !~ /^20000\b/ } @stats), 'every sandbox has the quota')
        or diag(explain(\@stats));
};

subtest 'sandboxes run under host uids of their own' => sub {
    # two calls of one route at once: one executor (the upstream hashes
    # the route), two sandboxes
    my @kids;
    for my $n (1, 2) {
        my $pid = fork() // die;
        if ($pid == 0) {
            call('/sleep1', 'sleep 4000', 'X-Secret' => "SECRET-$n");
            POSIX::_exit(0);
        }
        push @kids, $pid;
    }
    my @fns;
    wait_until(20, sub { @fns = map { $_->function_pids } @ex; @fns >= 2 });
    is(scalar(@fns), 2, 'two functions run at once') or do {
        waitpid($_, 0) for @kids;
        return;
    };
    is(scalar(grep { $_->function_pids } @ex), 1, '  on one executor');
    my @uids = map { (slurp("/proc/$_/status") // '') =~ /^Uid:\s+(\d+)/m ? $1 : -1 } @fns;
    isnt($uids[0], $uids[1], "each its own uid (@uids)");
    ok(!grep({ $_ == 65534 || $_ < 1879048192 } @uids),
       '  from sandbox_uids, never nobody');
    # reading /proc/<pid>/environ as a given uid: 1 if the secret shows
    my $reads = sub {
        my ($pid, $uid) = @_;
        my $k = fork() // die;
        if ($k == 0) {
            POSIX::setgid($uid);
            POSIX::setuid($uid) or POSIX::_exit(2);
            open(my $fh, '<', "/proc/$pid/environ") or POSIX::_exit(1);
            local $/;
            my $e = <$fh> // '';
            POSIX::_exit($e =~ /SECRET/ ? 0 : 1);
        }
        waitpid($k, 0);
        return $? == 0 ? 1 : 0;
    };
    is($reads->($fns[0], $uids[0]), 1,
       'its own uid reads its environment (the probe works)');
    is($reads->($fns[0], 65534), 0, 'nobody does not');
    is($reads->($fns[0], $uids[1]), 0, 'nor the other sandbox\'s uid');
    waitpid($_, 0) for @kids;
};

subtest 'sandbox_uids are the sandboxes\' alone' => sub {
    my $range = FnTest::executor_conf(dir => $ex[0]->dir) =~ /^sandbox_uids = (\S+)$/m ? $1 : '';
    ok($range, "the first executor's range: $range");
    my $e = eval { executor_start(sandbox_uids => $range) };
    like($@, qr/overlap those of another executor of this host \(pid ${\ $ex[0]->pid}/,
         'a second executor with an overlapping range refuses to start');
    $e = eval { executor_start(sandbox_uids => '65000-66000') };
    like($@, qr/65534 \(nobody\)|user nobody|group nogroup/, 'a range holding nobody is refused');
    $e = eval { executor_start(sandbox_uids => '1-9999') };
    like($@, qr/user root|user daemon|has an id in sandbox_uids/,
         'a range holding a host user is refused');
    $e = eval { executor_start(sandbox_uid => 65534) };
    like($@, qr/sandbox_uids/, 'the old sandbox_uid key says what replaced it');
};

subtest 'a function cannot fill the host\'s disk with its logs' => sub {
    my $e = executor_start(image_dir => $images, log_max_per_call => '16k',
                           log_store_max => '64k');
    my $dir = $e->dir . '/state/logs';
    my $bytes = sub {
        my $n = 0;
        $n += -s $_ for glob("$dir/*");
        return $n;
    };
    for my $i (1 .. 12) {
        my $r = FnTest::unix_request($e->socket, 'POST', '/call',
            headers => { 'Fn-Call-Id' => sprintf('01ARZ3NDEKTSV4RRFFQ69P%04d', $i),
                         'Fn-Method' => 'POST',
                         'Fn-Request-Url' => 'http://x/r/evil/spew',
                         'Fn-Route' => $json->encode({ app => 'evil', path => '/spew',
                                                       image => 'oci:escape:v1' }) },
            body => 'spew 20000', timeout => 30);
        is($r->{status}, 200, "call $i wrote 20 KB to stderr") or diag($r->{body});
    }
    ok(wait_until(10, sub { $bytes->() <= 64 * 1024 }),
       'its logs take no more than log_store_max (' . $bytes->() . ' bytes)');
    like($e->log, qr/msg="call logs removed for room" count=\d+/,
         'the executor says it made room');
    my $last = FnTest::unix_request($e->socket, 'GET',
                                    '/calls/01ARZ3NDEKTSV4RRFFQ69P0012/log');
    is($last->{status}, 200, 'the newest log is kept');
    $e->stop;
};

# ------------------------------------- answers that must not steer nginx

# How many times the hot function ran a call, over both executors.
sub runs { my ($id) = @_; my $n = () = join('', map { $_->log } @ex) =~ /ran \Q$id\E/g; $n }

sub hostile {
    my ($name, %h) = @_;
    my $r = call('/hot', 'payload', method => 'GET', 'X-Mode' => 'raw', %h);
    my $id = $r->{headers}{'fn-call-id'} // '';
    ok(wait_until(5, sub { runs($id) >= 1 }), "$name: the call ran")
        or diag(explain($r));
    is(runs($id), 1, "$name: once, on one executor");
    return $r;
}

subtest 'a function\'s answer is never taken for the executor\'s' => sub {
    my $r;
    for (1 .. 3) {
        $r = hostile('503', 'X-Status' => 503);
        is($r->{status}, 503, '  the function\'s 503 reaches the client');
        is($r->{body}, 'payload', '  with its own body');
    }
    for (1 .. 3) {
        $r = hostile('503 + Retry-After', 'X-Status' => 503,
                     'X-Raw1' => 'Retry-After: 1');
        is($r->{status}, 503, '  as the function\'s 503');
        is($r->{headers}{'retry-after'}, 1, '  its Retry-After kept');
    }
    for (1 .. 3) {
        $r = hostile('a forged busy mark', 'X-Status' => 503,
                     'X-Raw1' => 'Retry-After: 1',
                     'X-Raw2' => 'Fn-Executor-Busy: 1');
        is($r->{status}, 503, '  the function\'s 503, not a failover');
        ok(!exists $r->{headers}{'fn-executor-busy'}, '  the mark dropped');
    }
    for (1 .. 2) {
        $r = hostile('a header name with a space',
                     'X-Raw1' => 'Bad Name: x', 'X-Raw2' => 'X-Fine: yes');
        is($r->{status}, 200, '  answered');
        is($r->{headers}{'x-fine'}, 'yes', '  the valid header kept');
    }
    for (1 .. 2) {
        $r = hostile('a 5 KB header', 'X-Big' => 5000);
        is($r->{status}, 200, '  answered');
        is(length($r->{headers}{'x-big'} // ''), 5000, '  with it whole')
            or diag(explain($r->{headers}));
    }
    for (1 .. 2) {
        $r = hostile('a 9 KB head', 'X-Big' => 9000);
        is($r->{status}, 502, '  the function\'s error');
        like($r->{body}, qr/headers are too large/, '  saying why');
    }
    $r = hostile('framing headers', 'X-Raw1' => 'Connection: close',
                 'X-Raw2' => 'Keep-Alive: timeout=1');
    is($r->{status}, 200, '  answered');
    is($r->{body}, 'payload', '  framed by the executor');
    for (1 .. 2) {
        $r = hostile('4000 empty headers (20 KB as written on)',
                     'X-Many' => 4000);
        is($r->{status}, 502, '  the function\'s error');
        like($r->{body}, qr/headers are too large|too many headers/, '  saying why');
    }
    $r = hostile('a 201', 'X-Status' => 201);
    is($r->{status}, 201, '  a 201');
    is($r->{reason}, 'Created', '  with its reason phrase, not a made-up one');
    $r = hostile('a 299', 'X-Status' => 299);
    is($r->{status}, 299, '  a 299');
    is($r->{reason}, '', '  with an empty reason phrase');
    $r = hostile('a 204 with a body', 'X-Status' => 204);
    is($r->{status}, 204, '  a 204');
    is($r->{headers}{'content-length'}, undef, '  with no length');
    is($r->{body}, '', '  and no body');
    $r = call('/hot', '', method => 'HEAD', 'X-Mode' => 'headlen');
    is($r->{status}, 200, 'HEAD, answered with a length and no body: at once');
    $r = hostile('X-Accel-Redirect to itself',
                 'X-Raw1' => 'X-Accel-Redirect: /r/evil/hot',
                 'X-Raw2' => 'X-Accel-Limit-Rate: 1');
    is($r->{status}, 200, '  the function\'s answer');
    is($r->{body}, 'payload', '  its body, not another location\'s');
    ok(!exists $r->{headers}{'x-accel-redirect'}, '  the header never shown');

    # with max_fails=1, one failure counted would take an executor out
    for my $n (1 .. 6) {
        my $ok = call("/ok$n", "hi $n", 'X-Mode' => 'echo');
        is($ok->{status}, 200, "/ok$n still answers: no executor was marked failed")
            or diag($ok->{body});
    }
    unlike(slurp($ng->prefix . '/error.log') // '', qr/upstream server temporarily disabled|no live upstreams/,
           'nginx took no executor out of rotation');
};

done_testing();
