package FnTest;

# Test harness of the functions platform: starts real nginx (with the
# module), executors, fresh databases and RabbitMQ vhosts for one test file,
# and cleans up after it.  When a test fails, the tails of the logs of what
# it started are printed.
#
# Core Perl modules only.

use strict;
use warnings;

use Cwd qw(abs_path);
use Digest::SHA qw(hmac_sha256);
use Exporter qw(import);
use File::Basename qw(dirname);
use File::Path qw(make_path remove_tree);
use File::Temp qw(tempdir);
use IO::Socket::INET;
use IO::Socket::UNIX;
use JSON::PP ();
use MIME::Base64 qw(encode_base64url);
use POSIX qw(:sys_wait_h);
use Socket qw(SOCK_STREAM);
use Test::More ();
use Time::HiRes qw(sleep time);

our @EXPORT_OK = qw(
    top build_dir tmpdir free_port stack_env need_stack
    nginx_conf nginx_check nginx_start
    executor_conf executor_start
    db_root db_query migrate fresh_database fresh_vhost rabbitmqctl
    functions_mysql executors_upstream amqp_url stack_secret api_token
    jwt_hs256 registry_start
    queue_depths
    http_request unix_request wait_until slurp spew
    exec_confined own_cgroups
    sanitizer_findings go_build
);

my $TOP = abs_path(dirname(__FILE__) . '/../..');
my (@cleanups, @logs, $TMP);

sub top { $TOP }

sub build_dir {
    return $ENV{FUNCTIONS_BUILD} || "$TOP/build/release";
}

sub sanitize { return $ENV{SANITIZE} ? 1 : 0 }

# A private directory for this test file.  Readable by nginx's workers.
sub tmpdir {
    return $TMP if $TMP;
    $TMP = tempdir('fntest-XXXXXX', TMPDIR => 1, CLEANUP => 0);
    chmod 0755, $TMP;
    return $TMP;
}

sub slurp {
    my ($path) = @_;
    open(my $fh, '<', $path) or return undef;
    local $/;
    my $s = <$fh>;
    close $fh;
    return $s;
}

sub spew {
    my ($path, $content, $mode) = @_;
    open(my $fh, '>', $path) or die "cannot write $path: $!";
    print $fh $content;
    close $fh;
    chmod $mode, $path if defined $mode;
}

# A loopback port nothing listens on now.
sub free_port {
    my $s = IO::Socket::INET->new(
        LocalAddr => '127.0.0.1', LocalPort => 0, Proto => 'tcp',
        Listen => 1, ReuseAddr => 1) or die "no free port: $!";
    my $port = $s->sockport;
    close $s;
    return $port;
}

sub wait_until {
    my ($seconds, $cond) = @_;
    my $deadline = time + $seconds;
    while (time < $deadline) {
        return 1 if $cond->();
        sleep 0.05;
    }
    return $cond->() ? 1 : 0;
}

# The services started by "scripts/stack services" (make test does that).
sub stack_env {
    my $var = $ENV{FUNCTIONS_VAR} || "$TOP/var";
    my $text = slurp("$var/stack.env")
        or return undef;
    my %env = $text =~ /^(\w+)=(.*)$/mg;
    return \%env;
}

# The stack's services, for a test file that needs them: without them the
# file fails (one failed test saying why), it is not skipped.
sub need_stack {
    my $env = stack_env();
    my $why;
    if (!$env) {
        $why = 'no stack.env';
    } elsif (system(db_root(), '-e', 'SELECT 1') != 0) {
        $why = "MariaDB does not answer on $env->{FUNCTIONS_DB_SOCKET}";
    } elsif (!IO::Socket::INET->new(
                 PeerAddr => "127.0.0.1:$env->{FUNCTIONS_AMQP_PORT}")) {
        $why = "RabbitMQ does not listen on $env->{FUNCTIONS_AMQP_PORT}";
    }
    return $env unless $why;
    Test::More::plan(tests => 1);
    Test::More::fail("the stack's services run (scripts/stack services): "
                     . $why);
    exit 1;
}

sub watch_log {
    my ($name, $path) = @_;
    push @logs, [$name, $path];
}

# Sanitizer runtime settings for a process we start; reports go to files
# under the test's directory, which sanitizer_findings() reads.
sub sanitizer_env {
    my ($name, %opt) = @_;
    return () unless sanitize();
    my $dir = tmpdir() . '/sanitizer';
    make_path($dir);
    # nginx's workers run as www-data (when the tests run as root): their
    # reports must be writable there, or they are lost
    chmod 01777, $dir;
    my $leaks = $opt{leaks} ? 1 : 0;
    my @env = (
        ASAN_OPTIONS => "log_path=$dir/$name:detect_leaks=$leaks:"
                      . "abort_on_error=0:halt_on_error=1",
        UBSAN_OPTIONS => "log_path=$dir/$name:print_stacktrace=1:"
                       . "halt_on_error=1",
    );
    if ($opt{preload}) {
        my $asan = `gcc -print-file-name=libasan.so`;
        chomp $asan;
        push @env, LD_PRELOAD => $asan;
    }
    return @env;
}

# Reports written by the sanitizers so far, as one string ("" if none).
sub sanitizer_findings {
    my $dir = tmpdir() . '/sanitizer';
    return '' unless -d $dir;
    my $out = '';
    for my $f (sort glob("$dir/*")) {
        $out .= "==> $f <==\n" . (slurp($f) // '');
    }
    return $out;
}

# Builds a static Go program from one source file, with the standard
# library alone (no module, no network).  Go's build cache is kept in the
# build tree, shared by every test and both variants: net/http compiles
# once, not once a test file.
sub go_build {
    my ($out, $src) = @_;
    my $tmp = tmpdir();
    local $ENV{GOCACHE} = "$TOP/build/gocache";
    local $ENV{GOPATH} = "$tmp/gopath";
    local $ENV{HOME} = $tmp;
    local $ENV{CGO_ENABLED} = '0';
    local $ENV{GO111MODULE} = 'off';
    return system('go', 'build', '-o', $out, $src) == 0;
}

sub run_with_env {
    my ($env, @cmd) = @_;
    my $pid = fork() // die "fork: $!";
    if ($pid == 0) {
        while (my ($k, $v) = splice(@$env, 0, 2)) {
            $ENV{$k} = $v;
        }
        # not the test's stdout: a process that outlives a dead test must
        # not keep prove waiting for the end of its output
        open(STDOUT, '>', '/dev/null');
        exec(@cmd) or POSIX::_exit(127);
    }
    return $pid;
}

# ---------------------------------------------------------------- nginx

# A whole nginx.conf with the module loaded.  %o: http (text inside http
# {}), server (text inside the one server {}), port, prefix, main (text at
# the top level).
sub nginx_conf {
    my (%o) = @_;
    my $prefix = $o{prefix} // die "prefix needed";
    my $module = build_dir() . '/ngx_http_functions_module.so';
    my $port = $o{port} // 0;
    my $user = $> == 0 ? "user www-data;\n" : '';
    my $http = $o{http} // '';
    my $server = $o{server} // '';
    my $main = $o{main} // '';
    my $workers = $o{workers} // 2;
    return <<CONF;
load_module $module;
${user}worker_processes $workers;
daemon off;
pid $prefix/nginx.pid;
error_log $prefix/error.log info;
$main
events {
    worker_connections 256;
}

http {
    access_log $prefix/access.log;
    client_body_temp_path $prefix/client_body;
    proxy_temp_path $prefix/proxy;
    fastcgi_temp_path $prefix/fastcgi;
    uwsgi_temp_path $prefix/uwsgi;
    scgi_temp_path $prefix/scgi;

$http

    server {
        listen 127.0.0.1:$port;

        location = /nginx-health {
            return 200 'ok';
        }

$server
    }
}
CONF
}

# A prefix of its own, with the project's conf/functions_params and
# conf/functions_console beside nginx.conf (as the stack and operators
# install them): "include functions_params;" in a routing location.
sub nginx_prefix {
    my $prefix = tmpdir() . '/nginx-' . ++(our $NGINX_COUNT);
    make_path($prefix);
    spew("$prefix/$_", slurp("$TOP/conf/$_"))
        for qw(functions_params functions_console);
    if ($> == 0) {
        for my $d (qw(client_body proxy fastcgi uwsgi scgi)) {
            make_path("$prefix/$d");
            my (undef, undef, $uid) = getpwnam('www-data');
            chown $uid, -1, "$prefix/$d" if defined $uid;
        }
    }
    return $prefix;
}

# Runs "nginx -t" on a configuration; returns (exit code, output).
sub nginx_check {
    my (%o) = @_;
    my $prefix = nginx_prefix();
    spew("$prefix/nginx.conf", nginx_conf(port => free_port(), %o,
                                          prefix => $prefix));
    my %env = sanitizer_env('nginx-t', preload => 1);
    local @ENV{keys %env} = values %env;
    my $out = `nginx -t -p $prefix -c $prefix/nginx.conf 2>&1`;
    return ($? >> 8, $out);
}

# Starts nginx in the foreground (daemon off); returns an object with
# port, prefix, pid, url(), reload() and stop().
sub nginx_start {
    my (%o) = @_;
    my $prefix = nginx_prefix();
    my $port = $o{port} // free_port();
    spew("$prefix/nginx.conf", nginx_conf(%o, prefix => $prefix,
                                          port => $port));
    watch_log("nginx error log", "$prefix/error.log");
    my @env = sanitizer_env('nginx', preload => 1);
    my $pid = run_with_env(\@env, 'nginx', '-p', $prefix, '-c',
                           "$prefix/nginx.conf");
    my $self = bless { pid => $pid, port => $port, prefix => $prefix },
                     'FnTest::Nginx';
    push @cleanups, sub { $self->stop };
    wait_until(10, sub {
        my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port");
        return 1 if $s;
        return waitpid($pid, WNOHANG) == $pid ? die_nginx($self) : 0;
    }) or die "nginx did not start listening on $port";
    return $self;
}

sub die_nginx {
    my ($self) = @_;
    $self->{pid} = undef;
    die "nginx exited at start:\n" . (slurp("$self->{prefix}/error.log")
                                       // '');
}

package FnTest::Nginx;

sub port { $_[0]{port} }
sub prefix { $_[0]{prefix} }
sub pid { $_[0]{pid} }
sub url { "http://127.0.0.1:$_[0]{port}$_[1]" }

# The pids of the master's children (its workers).
sub workers {
    my ($self) = @_;
    my @pids;
    for my $stat (glob('/proc/[0-9]*/stat')) {
        my $s = FnTest::slurp($stat) // next;
        # pid (comm) state ppid ...: comm may hold spaces and parentheses
        my ($pid, $ppid) = $s =~ /^(\d+) \(.*\) \S+ (\d+) /s or next;
        push @pids, $pid if $ppid == $self->{pid};
    }
    return sort { $a <=> $b } @pids;
}

# Sends HUP and waits until the reload has taken effect: workers of the new
# configuration run and the old ones are gone, with no [emerg] logged since
# the signal.  Returns 1, or 0 (with a diagnostic) when nginx kept its old
# configuration or its old workers; tests say ok($ng->reload, ...).
sub reload {
    my ($self) = @_;
    my $log = "$self->{prefix}/error.log";
    my $offset = -s $log // 0;
    my %old = map { $_ => 1 } $self->workers;
    kill 'HUP', $self->{pid};
    my $since = sub {
        my $text = FnTest::slurp($log) // '';
        return substr($text, $offset);
    };
    my $ok = FnTest::wait_until(15, sub {
        return 1 if $since->() =~ /\[emerg\]/;
        my @now = $self->workers;
        return @now && !grep { $old{$_} } @now;
    });
    my $new = $since->();
    if ($new =~ /\[emerg\]/) {
        Test::More::diag("nginx kept its configuration:\n$new");
        return 0;
    }
    Test::More::diag("nginx's old workers did not go:\n$new") unless $ok;
    return $ok ? 1 : 0;
}

sub stop {
    my ($self) = @_;
    my $pid = $self->{pid} or return;
    kill 'QUIT', $pid;
    FnTest::wait_until(15, sub { waitpid($pid, POSIX::WNOHANG()) == $pid })
        or do { kill 'KILL', $pid; waitpid($pid, 0) };
    $self->{pid} = undef;
}

package FnTest;

# ------------------------------------------------------------- executor

# An executor configuration; %o overrides keys of the defaults.
sub executor_conf {
    my (%o) = @_;
    my $dir = $o{dir} // die "dir needed";
    my %conf = (
        listen => "$dir/executor.sock",
        listen_mode => '0666',
        log_level => 'debug',
        log_file => "$dir/executor.log",
        drain_timeout => '5s',
        image_dir => "$dir/images",
        state_dir => "$dir/state",
        # each executor of each test file has a cgroup directory of its own
        cgroup_name => "functions/test-$$-" . (split m{/}, $dir)[-1],
        # and host uids of its own, apart from the default range (a stack
        # may run beside the tests)
        sandbox_uids => sandbox_uids($dir),
        # a reference without a registry must not reach the internet:
        # this default is refused at connect time (loopback, not listed)
        default_registry => '127.0.0.1:1',
    );
    delete $o{dir};
    %conf = (%conf, %o);
    return join('', map { "$_ = $conf{$_}\n" }
                    grep { defined $conf{$_} } sort keys %conf);
}

# 512 host uids for the executor in $dir, above the default range: apart
# for 64 executors of one test file, and for test files apart by pid.
sub sandbox_uids {
    my ($dir) = @_;
    my ($n) = $dir =~ /(\d+)$/;
    my $first = 1879048192 + 65536 + ((($$ % 256) * 64 + ($n // 0) % 64) * 512);
    return "$first-" . ($first + 511);
}

# In a child process: joins the cgroup directories of cgroups (as a
# service manager puts a service in its group), keeps only the
# capabilities caps names ("CAP_SETUID CAP_KILL ...", as a unit's
# CapabilityBoundingSet; no new privileges either), and execs cmd.
sub exec_confined {
    my ($cmd, %o) = @_;
    my @cmd = @$cmd;
    for my $g (@{ $o{cgroups} // [] }) {
        open(my $f, '>', "$g/cgroup.procs") or POSIX::_exit(126);
        print $f "$$\n";
        close($f) or POSIX::_exit(126);
    }
    if ($o{caps}) {
        my $set = join(',', '-all', map { '+' . lc(s/^CAP_//r) }
                                    split ' ', $o{caps});
        unshift @cmd, 'setpriv', "--bounding-set=$set", '--no-new-privs';
    }
    exec(@cmd) or POSIX::_exit(127);
}

# A cgroup directory of its own, functions/<name>, in each hierarchy an
# executor uses (v2, or v1 memory, pids and cpu), made: what systemd's
# Delegate=yes gives a service.  Returns the directories.
sub own_cgroups {
    my ($name) = @_;
    my @tops = -e '/sys/fs/cgroup/cgroup.controllers' ? ('/sys/fs/cgroup')
             : grep { -d } map { "/sys/fs/cgroup/$_" } qw(memory pids cpu);
    my @own = map { "$_/functions/$name" } @tops;
    for my $g (@own) { mkdir for ($g =~ s{/[^/]+$}{}r, $g) }
    return @own;
}

# Starts an executor; returns an object with socket, pid, log, stop().
sub executor_start {
    my (%o) = @_;
    my $n = ++(our $EXECUTOR_COUNT);
    my $dir = tmpdir() . "/executor-$n";
    make_path($dir, "$dir/images");
    chmod 0755, $dir;
    my $conf = "$dir/executor.conf";
    # cgroup directories the executor is put in before it starts
    my $join = delete $o{join_cgroups} // [];
    spew($conf, executor_conf(dir => $dir, %o));
    watch_log("executor $n log", "$dir/executor.log");
    watch_log("executor $n stderr", "$dir/executor.stderr");
    my @env = sanitizer_env("executor-$n", leaks => 1);
    my $pid = fork() // die "fork: $!";
    if ($pid == 0) {
        while (my ($k, $v) = splice(@env, 0, 2)) { $ENV{$k} = $v }
        open(STDERR, '>>', "$dir/executor.stderr");
        open(STDOUT, '>>', "$dir/executor.stderr");
        # FUNCTIONS_EXECUTOR_CAPS: run a suite with every executor under
        # that bounding set (as the packaged unit's)
        exec_confined([ build_dir() . '/functions-executor', '-c', $conf ],
                      caps => $ENV{FUNCTIONS_EXECUTOR_CAPS},
                      cgroups => $join);
    }
    my $self = bless { pid => $pid, dir => $dir, conf => $conf,
                       socket => $o{listen} // "$dir/executor.sock",
                       cgroup_name => $o{cgroup_name}
                           // "functions/test-$$-executor-$n" },
                     'FnTest::Executor';
    push @cleanups, sub { $self->stop };
    wait_until(10, sub {
        return 1 if -S $self->{socket}
                    && IO::Socket::UNIX->new(Peer => $self->{socket});
        if (waitpid($pid, WNOHANG) == $pid) {
            $self->{status} = $?;
            $self->{pid} = undef;
            die "executor exited at start:\n"
                . (slurp("$dir/executor.stderr") // '')
                . (slurp("$dir/executor.log") // '');
        }
        return 0;
    }) or die "executor did not start on $self->{socket}";
    return $self;
}

# A registry of its own (Debian's docker-registry, the distribution
# project's), on 127.0.0.1 and a free port, its storage in a temporary
# directory; stopped at exit (htpasswd => { user => password }: basic
# authentication).  ->port, ->host ("127.0.0.1:<port>"),
# ->stop, ->start (again, same port and storage), ->log (its access log
# so far), ->push(oci_dir, tag, repository:tag, format => 'v2s2'|'oci',
# all => 1).
sub registry_start {
    my (%o) = @_;
    my $bin = '/usr/bin/docker-registry';
    -x $bin or Test::More::plan(skip_all => 'no docker-registry (make deps)');
    my $n = ++(our $REGISTRY_COUNT);
    my $dir = tmpdir() . "/registry-$n";
    make_path("$dir/data");
    my $self = bless { dir => $dir, port => free_port() }, 'FnTest::Registry';
    $self->{host} = "127.0.0.1:$self->{port}";
    my $auth = '';
    if (my $users = $o{htpasswd}) {
        # bcrypt, as the registry wants it (glibc's crypt makes it)
        spew("$dir/htpasswd", join('', map {
            my @salt = ('.', '/', 'a' .. 'z', 'A' .. 'Z', 0 .. 9);
            my $salt = join('', map { $salt[rand @salt] } 1 .. 22);
            "$_:" . crypt($users->{$_}, "\$2y\$05\$$salt") . "\n"
        } sort keys %$users));
        $auth = "auth:\n  htpasswd:\n    realm: functions-test\n"
              . "    path: $dir/htpasswd\n";
        $self->{creds} = join(':', %$users);
    }
    spew("$dir/config.yml", <<YML . $auth);
version: 0.1
log:
  level: info
  formatter: text
storage:
  filesystem:
    rootdirectory: $dir/data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$self->{port}
YML
    push @cleanups, sub { $self->stop };
    $self->start;
    return $self;
}

package FnTest::Registry;

use POSIX qw(:sys_wait_h);

sub port { $_[0]{port} }
sub host { $_[0]{host} }
sub dir { $_[0]{dir} }

sub start {
    my ($self) = @_;
    my $pid = fork() // die "fork: $!";
    if ($pid == 0) {
        open(STDOUT, '>>', "$self->{dir}/registry.log");
        open(STDERR, '>&', \*STDOUT);
        exec('/usr/bin/docker-registry', 'serve', "$self->{dir}/config.yml")
            or POSIX::_exit(127);
    }
    $self->{pid} = $pid;
    FnTest::wait_until(10, sub {
        return IO::Socket::INET->new(PeerAddr => $self->{host});
    }) or die "docker-registry does not listen on $self->{host}";
    return $self;
}

sub stop {
    my ($self) = @_;
    return if !$self->{pid};
    kill 'TERM', $self->{pid};
    FnTest::wait_until(10, sub { waitpid($self->{pid}, WNOHANG) != 0 })
        or kill 'KILL', $self->{pid};
    waitpid($self->{pid}, 0);
    $self->{pid} = undef;
}

sub log { FnTest::slurp("$_[0]{dir}/registry.log") }

# Pushes the OCI layout $src (its tag $tag) as $dest ("repo:tag").
sub push {
    my ($self, $src, $tag, $dest, %o) = @_;
    my @args = ('skopeo', '--insecure-policy', 'copy', '--quiet',
                '--dest-tls-verify=false');
    push @args, '--format', $o{format} if $o{format};
    push @args, '--dest-creds', $self->{creds} if $self->{creds};
    push @args, '--all' if $o{all};
    push @args, "oci:$src:$tag", "docker://$self->{host}/$dest";
    my $pid = open(my $fh, '-|') // die "fork: $!";
    if ($pid == 0) {
        open(STDERR, '>&', \*STDOUT);
        exec(@args) or POSIX::_exit(127);
    }
    my $out = do { local $/; <$fh> };
    close $fh;
    $? == 0 or die "skopeo copy to $dest failed: $out";
    return 1;
}

# The digest of the manifest the registry serves for repo:tag (HEAD).
sub digest {
    my ($self, $repo, $tag, $accept) = @_;
    my $r = FnTest::http_request($self->{port}, 'HEAD',
        "/v2/$repo/manifests/$tag",
        headers => { Accept => $accept
                     // 'application/vnd.oci.image.manifest.v1+json' });
    return $r->{headers}{'docker-content-digest'};
}

package FnTest::Executor;

sub socket { $_[0]{socket} }
sub pid { $_[0]{pid} }
sub dir { $_[0]{dir} }
sub conf { $_[0]{conf} }
sub log { FnTest::slurp("$_[0]{dir}/executor.log") // '' }

# The sandbox that served call $id, from the executor's debug log ("call
# finished" lines name it); undef if no such line comes within 5 s.
sub sandbox_of {
    my ($self, $id) = @_;
    my $sb;
    FnTest::wait_until(5, sub {
        ($sb) = $self->log
            =~ /msg="call finished" call_id=$id [^\n]*?\bsandbox=(\w+)/;
        defined $sb });
    return $sb;
}

# The cgroup directories of this executor's sandboxes (one hierarchy).
sub sandbox_groups {
    my ($self) = @_;
    my $name = $self->{cgroup_name};
    return grep { m{/[0-7][0-9A-HJKMNP-TV-Z]{25}/?$} }
           glob("/sys/fs/cgroup/memory/$name/*/"),
           glob("/sys/fs/cgroup/$name/*/");
}

# Processes in those sandboxes other than the sandboxes' own (bubblewrap
# and the init): what functions started and left running.  A function is
# a descendant of a sandbox's init: while a sandbox starts, its group
# also holds the helper before it runs bubblewrap, and bubblewrap's
# child before it runs the init, neither of them a function.
sub function_pids {
    my ($self) = @_;
    my (@pids, %init, %ppid);
    for my $g ($self->sandbox_groups) {
        for my $pid (split /\n/, FnTest::slurp("$g/cgroup.procs") // '') {
            my $cmd = FnTest::slurp("/proc/$pid/cmdline") // next;
            my $stat = FnTest::slurp("/proc/$pid/stat") // next;
            # the parent: two fields after the command's last parenthesis
            # (a process names itself, parentheses and all)
            $stat =~ /^.*\)\s+\S+\s+(\d+)/s or next;
            $ppid{$pid} = $1;
            if ($cmd =~ m{^/proc/self/fd/\d+\0init\0}) { $init{$pid} = 1 }
            else { push @pids, $pid }
        }
    }
    return grep {
        my ($p, $hops) = ($ppid{$_}, 0);
        $p = $ppid{$p} while defined $p && !$init{$p} && ++$hops < 64;
        defined $p && $init{$p};
    } @pids;
}

# Sends a signal and waits up to $seconds for the exit; returns the wait
# status, or undef if it did not exit.  Signal 0: only waits.
sub stop {
    my ($self, $signal, $seconds) = @_;
    my $pid = $self->{pid} or return $self->{status};
    kill($signal // 'TERM', $pid);
    if (!FnTest::wait_until($seconds // 15,
            sub { waitpid($pid, POSIX::WNOHANG()) == $pid })) {
        return undef if defined $signal;
        kill 'KILL', $pid;
        waitpid($pid, 0);
    }
    $self->{status} = $?;
    $self->{pid} = undef;
    return $self->{status};
}

package FnTest;

# ------------------------------------------------------------- database

# Arguments for the mariadb client as the stack's administrative user.
sub db_root {
    my $env = stack_env() or die "no stack services: run scripts/stack services";
    return ('mariadb', '--no-defaults', "--socket=$env->{FUNCTIONS_DB_SOCKET}",
            '--user=' . (getpwuid($>))[0], '--batch', '--skip-column-names');
}

# A new, empty database of its own for this test (dropped at the end);
# migrated unless migrate => 0.  Returns its name.
sub fresh_database {
    my (%o) = @_;
    my $env = stack_env() or die "no stack services";
    my $name = sprintf('fntest_%d_%d', $$, ++(our $DB_COUNT));
    system(db_root(), '-e', "CREATE DATABASE $name CHARACTER SET utf8mb4 "
                          . "COLLATE utf8mb4_bin; GRANT ALL ON $name.* TO "
                          . "'functions'\@'127.0.0.1'; GRANT ALL ON $name.* "
                          . "TO 'functions'\@'localhost'") == 0
        or die "cannot create database $name";
    push @cleanups, sub { system(db_root(), '-e', "DROP DATABASE IF EXISTS $name") };
    if ($o{migrate} // 1) {
        my $out = migrate($name);
        die "migrate failed: $out" if $?;
    }
    return $name;
}

# Runs scripts/migrate on a database as the stack's application user;
# returns its output ($? holds the status).
sub migrate {
    my ($name, @args) = @_;
    my $env = stack_env() or die "no stack services";
    local $ENV{FUNCTIONS_DB_HOST} = '127.0.0.1';
    local $ENV{FUNCTIONS_DB_PORT} = $env->{FUNCTIONS_DB_PORT};
    local $ENV{FUNCTIONS_DB_USER} = $env->{FUNCTIONS_DB_USER};
    local $ENV{FUNCTIONS_DB_PASSWORD_FILE} = $env->{FUNCTIONS_DB_PASSWORD_FILE};
    delete local $ENV{FUNCTIONS_DB_SOCKET};
    return scalar `$TOP/scripts/migrate --database $name @args 2>&1`;
}

# Runs SQL in a database; returns the rows as array refs.
sub db_query {
    my ($name, $sql) = @_;
    open(my $fh, '-|', db_root(), $name, '-e', $sql)
        or die "mariadb: $!";
    my @rows = map { chomp; [split /\t/, $_, -1] } <$fh>;
    close $fh;
    die "query failed: $sql" if $?;
    return \@rows;
}

# A new RabbitMQ vhost for this test, with the stack's user allowed in;
# deleted at the end.  Returns its name.
# A JWT of $claims signed with $key: HS256 unless header (the JOSE header)
# and sign (a function of the signing input and the key) say otherwise.
sub jwt_hs256 {
    my ($key, $claims, %o) = @_;
    my $json = JSON::PP->new->canonical;
    my $signing = encode_base64url($json->encode(
                      $o{header} // { alg => 'HS256', typ => 'JWT' }))
                . '.' . encode_base64url($json->encode($claims));
    my $sign = $o{sign} // \&hmac_sha256;
    return "$signing." . encode_base64url($sign->($signing, $key));
}

# A new API token from scripts/api-token, its digest added to $file.
sub api_token {
    my ($file, $label) = @_;
    my @label = defined $label ? ('--label', $label) : ();
    my $token = `$TOP/scripts/api-token @label $file`;
    $? == 0 or die "scripts/api-token failed";
    chomp $token;
    return $token;
}

# A secret of the stack's (a password file named by stack.env), as text.
sub stack_secret {
    my ($key) = @_;
    my $env = stack_env() or die "no stack services";
    my $s = slurp($env->{$key});
    chomp $s;
    return $s;
}

# nginx's "functions_mysql" for the stack's database $db (the password
# from its file); timeout: the query timeout (2s).
sub functions_mysql {
    my ($db, %o) = @_;
    my $env = stack_env() or die "no stack services";
    my $timeout = $o{timeout} // '2s';
    return "functions_mysql server=127.0.0.1:$env->{FUNCTIONS_DB_PORT} "
         . "database=$db\n"
         . "                    user=$env->{FUNCTIONS_DB_USER}\n"
         . "                    password_file=$env->{FUNCTIONS_DB_PASSWORD_FILE}\n"
         . "                    connect_timeout=1s timeout=$timeout;";
}

# nginx's upstream "executors" over the executors' sockets, and the
# functions_executors that guards it.  Options: balance (a line such as
# "least_conn;"), server (parameters of each server), keepalive (8).
sub executors_upstream {
    my ($executors, %o) = @_;
    my $params = defined $o{server} ? " $o{server}" : '';
    return "    upstream executors {\n"
         . join('', map { "        $_\n" } grep { defined } $o{balance})
         . join('', map { "        server unix:" . $_->socket . "$params;\n" }
                    @$executors)
         . "        keepalive " . ($o{keepalive} // 8) . ";\n"
         . "    }\n"
         . "    functions_executors executors;";
}

# The stack's RabbitMQ as an amqp:// URL, for the virtual host $vhost.
sub amqp_url {
    my ($vhost) = @_;
    my $env = stack_env() or die "no stack services";
    return "amqp://$env->{FUNCTIONS_AMQP_USER}:"
         . stack_secret('FUNCTIONS_AMQP_PASSWORD_FILE')
         . "\@127.0.0.1:$env->{FUNCTIONS_AMQP_PORT}/$vhost";
}

sub fresh_vhost {
    my $env = stack_env() or die "no stack services";
    my $name = sprintf('fntest_%d_%d', $$, ++(our $VHOST_COUNT));
    rabbitmqctl('add_vhost', $name) == 0 or die "cannot add vhost $name";
    push @cleanups, sub { rabbitmqctl('delete_vhost', $name) };
    rabbitmqctl('set_permissions', '-p', $name, $env->{FUNCTIONS_AMQP_USER},
                '.*', '.*', '.*') == 0
        or die "cannot grant vhost $name";
    return $name;
}

sub rabbitmqctl {
    my (@args) = @_;
    my $env = stack_env() or die "no stack services";
    local $ENV{HOME} = "$env->{FUNCTIONS_VAR}/rabbitmq";
    local $ENV{RABBITMQ_NODENAME} = $env->{FUNCTIONS_AMQP_NODE};
    my $cmd = join ' ', map { "'" . s/'/'\\''/gr . "'" } @args;
    return system("/usr/lib/rabbitmq/bin/rabbitmqctl -q $cmd >/dev/null 2>&1");
}

# The messages in each queue of a vhost: { name => count }.
sub queue_depths {
    my ($vhost) = @_;
    my $env = stack_env() or die "no stack services";
    local $ENV{HOME} = "$env->{FUNCTIONS_VAR}/rabbitmq";
    local $ENV{RABBITMQ_NODENAME} = $env->{FUNCTIONS_AMQP_NODE};
    my %d = map { /^(\S+)\s+(\d+)$/ ? ($1, $2) : () }
            `/usr/lib/rabbitmq/bin/rabbitmqctl -q list_queues -p '$vhost' name messages 2>/dev/null`;
    return \%d;
}

# ----------------------------------------------------------------- HTTP

# Sends raw bytes to a socket and reads the whole answer (until the peer
# closes or $timeout passes).  Returns the raw response.
sub raw_exchange {
    my ($sock, $bytes, $timeout) = @_;
    # a server may answer (413, 400) and close before it read all we send:
    # the write fails, the answer is still there to read
    local $SIG{PIPE} = 'IGNORE';
    $sock->autoflush(1);
    print $sock $bytes;
    my $resp = '';
    my $deadline = time + ($timeout // 10);
    $sock->blocking(0);
    while (time < $deadline) {
        my $n = sysread($sock, my $buf, 65536);
        if (defined $n) {
            last if $n == 0;
            $resp .= $buf;
            next;
        }
        sleep 0.01;
    }
    close $sock;
    return $resp;
}

# Parses one or more HTTP responses; returns a list of
# { status, reason, headers => {lc name => value}, body, json }, json the body
# decoded when it is JSON.
sub parse_responses {
    my ($raw) = @_;
    my @out;
    while ($raw =~ s/\AHTTP\/1\.[01] (\d{3})(?: ([^\r\n]*))?\r\n((?:[^\r\n]+\r\n)*)\r\n//) {
        my ($status, $reason, $head) = ($1, $2 // '', $3);
        my %h = map { /^([^:]+):\s*(.*)$/ ? (lc $1, $2) : () }
                split /\r\n/, $head;
        my $len = $h{'content-length'} // length $raw;
        my $body = substr($raw, 0, $len, '');
        push @out, { status => $status, reason => $reason, headers => \%h,
                     head => $head, body => $body,
                     json => $body =~ /\A\s*[\[{]/
                             ? eval { JSON::PP::decode_json($body) } : undef };
    }
    return @out;
}

# http_request(port, method, path, headers => {...}, body => ...):
# one request on a new TCP connection.
sub http_request {
    my ($port, $method, $path, %o) = @_;
    # a port on 127.0.0.1, or address:port
    my $peer = $port =~ /:/ ? $port : "127.0.0.1:$port";
    my $sock = IO::Socket::INET->new(PeerAddr => $peer,
                                     Timeout => $o{connect_timeout} // 5)
        or return { status => 0, error => "$!" };
    return _request($sock, $method, $path, %o);
}

# unix_request(socket path, method, path, ...): the same over a Unix socket;
# raw => bytes sends those bytes as they are.
sub unix_request {
    my ($path, $method, $url, %o) = @_;
    my $sock = IO::Socket::UNIX->new(Peer => $path, Type => SOCK_STREAM)
        or return { status => 0, error => "$!" };
    return _request($sock, $method, $url, %o);
}

sub _request {
    my ($sock, $method, $path, %o) = @_;
    my $bytes = $o{raw};
    if (!defined $bytes) {
        my $body = $o{body} // '';
        my %h = (Host => 'localhost', Connection => 'close',
                 %{ $o{headers} // {} });
        $h{'Content-Length'} = length $body
            if length $body || $method =~ /^(POST|PUT|PATCH)$/;
        $bytes = "$method $path HTTP/1.1\r\n"
               . join('', map { "$_: $h{$_}\r\n" } sort keys %h)
               . "\r\n$body";
    }
    my $raw = raw_exchange($sock, $bytes, $o{timeout});
    my @r = parse_responses($raw);
    return wantarray ? @r : ($r[0] // { status => 0, raw => $raw });
}

# ------------------------------------------------------------- teardown

END {
    my $rc = $?;
    my $tb = Test::More->builder;
    if (!$tb->is_passing) {
        for my $l (@logs) {
            my $text = slurp($l->[1]) // next;
            my @lines = split /\n/, $text;
            @lines = @lines[-40 .. -1] if @lines > 40;
            $tb->diag("---- $l->[0] ($l->[1]), last lines:\n"
                      . join("\n", @lines));
        }
    }
    for my $c (reverse @cleanups) {
        eval { $c->() };
    }
    if (sanitize() && (my $f = sanitizer_findings())) {
        $tb->diag("sanitizer findings:\n$f");
        $rc ||= 1;
    }
    remove_tree($TMP) if $TMP && $tb->is_passing && !$ENV{FNTEST_KEEP};
    $? = $rc;
}

1;
