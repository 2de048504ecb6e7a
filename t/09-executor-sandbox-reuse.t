# Sandboxes kept between calls of one route: each call still gets a new
# process, and finds the sandbox as the previous call found it (no process,
# file, shared memory segment or message queue of that call is left).
use strict;
use warnings;
use lib 't/lib', 'scripts/lib';

use FnImage;
use FnTest qw(executor_start unix_request wait_until tmpdir);
use JSON::PP;
use POSIX ();
use Test::More;

my $json = JSON::PP->new->canonical;

# A static program for what a shell cannot do: System V IPC objects, POSIX
# message queues, and the attributes of /tmp and /dev/shm themselves (its
# user may set their extended attributes, mode, times and flags).
my $tmp = tmpdir();
open(my $src, '>', "$tmp/ipc.c") or die $!;
print $src <<'C';
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <mqueue.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

static const char *roots[] = { "/tmp", "/dev/shm" };

/* what the next call could read of a root: mode, times, the size of its
 * attribute list, its flags */
static void root_show(const char *path)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_DIRECTORY), flags = -1;

    if (fd < 0 || fstat(fd, &st) < 0) {
        printf("?");
        return;
    }
    if (ioctl(fd, FS_IOC_GETFLAGS, &flags) < 0)
        flags = -1;
    printf("%o,%lld.%09ld,%lld.%09ld,%zd,%d;", (unsigned)st.st_mode,
           (long long)st.st_atim.tv_sec, st.st_atim.tv_nsec,
           (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec,
           flistxattr(fd, NULL, 0), flags);
    close(fd);
}

/* a POSIX ACL as the kernel takes it: version 2, then (tag, perm, id)
 * entries in tag order; a named user and a mask make it more than the
 * mode bits, so that it is kept as an attribute */
static size_t acl(char *buf, unsigned uid)
{
    static const unsigned short tags[] = { 0x01, 0x02, 0x04, 0x10, 0x20 };
    size_t i, n = 4;

    memcpy(buf, "\x02\0\0\0", 4);
    for (i = 0; i < 5; i++) {
        unsigned id = tags[i] == 0x02 ? uid : 0xffffffffu;

        memcpy(buf + n, &tags[i], 2);
        memcpy(buf + n + 2, "\x07\0", 2);
        memcpy(buf + n + 4, &id, 4);
        n += 8;
    }
    return n;
}

/* leaves a mark on a root by each way it can; prints which took: a user
 * attribute, a default ACL, an access ACL, the mode, the times, flags */
static void root_mark(const char *path)
{
    struct timespec t[2] = { { 1000000000, 1 }, { 1000000000, 2 } };
    int fd = open(path, O_RDONLY | O_DIRECTORY), flags = 0;
    char a[64];
    size_t n = acl(a, (unsigned)getuid());

    if (fd < 0) {
        printf("?");
        return;
    }
    printf("%d%d%d", fsetxattr(fd, "user.left", "for the next call", 17, 0)
                     == 0,
           fsetxattr(fd, "system.posix_acl_default", a, n, 0) == 0,
           fsetxattr(fd, "system.posix_acl_access", a, n, 0) == 0);
    printf("%d%d%d;", fchmod(fd, 0700) == 0, futimens(fd, t) == 0,
           ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0
           && (flags |= FS_NODUMP_FL | FS_NOATIME_FL,
               ioctl(fd, FS_IOC_SETFLAGS, &flags) == 0));
    close(fd);
}

/* what an inode count could miss: a hard link, a linked O_TMPFILE file,
 * a whiteout; prints which took */
static void leave(void)
{
    char proc[64];
    int fd = open("/tmp", O_TMPFILE | O_RDWR, 0600);

    snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
    printf("left=%d%d", link("/tmp/file", "/tmp/link") == 0,
           fd >= 0 && linkat(AT_FDCWD, proc, AT_FDCWD, "/tmp/tmpfile",
                             AT_SYMLINK_FOLLOW) == 0);
    printf("%d\n", open("/tmp/w1", O_CREAT | O_WRONLY, 0600) >= 0
                   && renameat2(AT_FDCWD, "/tmp/w1", AT_FDCWD, "/tmp/w2",
                                RENAME_WHITEOUT) == 0);
}

/* a process that sleeps on after the call, made with clone(flags) */
static int sleeper(unsigned long flags)
{
    long pid = syscall(SYS_clone, flags, 0L, NULL, NULL, 0L);

    if (pid == 0) {
        execl("/bin/sleep", "sleep", "1000", (char *)NULL);
        _exit(1);
    }
    return pid > 0;
}

int main(int argc, char **argv)
{
    mqd_t q;
    size_t i;

    if (argc > 1 && strcmp(argv[1], "siblings") == 0) {
        /* run as the call's own process: a sibling (the init's child
         * too) and a child that sends its parent no signal when it
         * ends; this process then ends at once */
        printf("siblings=%d%d\n", sleeper(CLONE_PARENT | SIGCHLD),
               sleeper(0));
        return 0;
    }

    if (argc > 1 && strcmp(argv[1], "roots") == 0) {
        printf("roots=");
        for (i = 0; i < 2; i++)
            root_show(roots[i]);
        printf("\n");
        return 0;
    }
    if (argc > 1 && strcmp(argv[1], "mark") == 0) {
        printf("marked=");
        for (i = 0; i < 2; i++)
            root_mark(roots[i]);
        printf("\n");
        leave();
        return 0;
    }

    if (argc > 1 && strcmp(argv[1], "make") == 0) {
        int a = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
        int b = semget(IPC_PRIVATE, 1, IPC_CREAT | 0600);
        int c = msgget(IPC_PRIVATE, IPC_CREAT | 0600);

        printf("ipc=%d%d%d\n", a >= 0, b >= 0, c >= 0);
        return 0;
    }
    q = mq_open("/q", O_CREAT | O_RDWR, 0600, NULL);
    printf("mq=%s\n", q == (mqd_t)-1 ? strerror(errno) : "opened");
    return 0;
}
C
close $src;
system('cc', '-static', '-O2', '-o', "$tmp/ipc", "$tmp/ipc.c") == 0
    or BAIL_OUT('cannot build the IPC probe');

# Reports what it finds, then (MODE=dirty) leaves all it can behind.
my $probe = <<'SH';
count() { ls -A "$1" | wc -l; }
sleepers=0
for p in /proc/[0-9]*; do
    [ "$(cat $p/comm 2>/dev/null)" = sleep ] && sleepers=$((sleepers + 1))
done
/fn/ipc roots
echo "stdin=$(wc -c)"
echo "tmp=$(count /tmp)"
echo "shm=$(count /dev/shm)"
echo "sleepers=$sleepers"
echo "sysv=$(($(wc -l < /proc/sysvipc/shm) + $(wc -l < /proc/sysvipc/sem) + $(wc -l < /proc/sysvipc/msg) - 3))"
case "$MODE" in
dirty)
    echo x > /tmp/file
    mkdir -p /tmp/d/e && echo y > /tmp/d/e/f && chmod 000 /tmp/d/e /tmp/d
    echo z > /dev/shm/segment
    /fn/ipc make
    /fn/ipc mark
    setsid sleep 1000 > /dev/null 2>&1 &
    nohup sleep 1000 > /dev/null 2>&1 &
    ;;
lock)
    chmod 000 /tmp /dev/shm
    ;;
siblings)
    exec /fn/ipc siblings
    ;;
hog)
    head -c 200000000 /dev/zero | tail -c 150000000 > /dev/null
    ;;
kill-init)
    kill -9 1
    echo "still here"
    ;;
fail)
    exit 3
    ;;
hang)
    sleep 1000
    ;;
nap)
    sleep 2
    ;;
mq)
    /fn/ipc mq
    ;;
esac
SH

sub image_in {
    my ($ex) = @_;
    FnImage::build($ex->dir . '/images/probe', tag => 'v1',
        config => { Cmd => ['/bin/sh', '/fn/probe'] },
        layers => [ FnImage::busybox_layer(),
                    [ [ 'fn', dir => 1 ],
                      [ 'fn/probe', data => $probe, mode => 0755 ],
                      [ 'fn/ipc', file => "$tmp/ipc", mode => 0755 ] ] ]);
}

my $n = 0;
sub call {
    my ($ex, %o) = @_;
    my $id = sprintf('01ARZ3NDEKTSV4RRFFQ69K%04d', $n++);
    my %route = (app => 'demo', path => $o{path} // '/probe',
                 image => 'oci:probe:v1', timeout => $o{timeout} // 10,
                 config => { mode => $o{mode} // 'look' },
                 $o{memory} ? (memory => $o{memory}) : ());
    my $r = unix_request($ex->socket, 'POST', '/call',
        headers => { 'Fn-Call-Id' => $id, 'Fn-Method' => 'POST',
                     'Fn-Request-Url' => 'http://example.com/r/demo/probe',
                     'Fn-Route' => $json->encode(\%route) },
        body => '', timeout => 30);
    $r->{id} = $id;
    $r->{found} = { map { /^(\w+)=(.*)$/ ? ($1, $2) : () }
                    split /\n/, $r->{body} // '' };
    return $r;
}

# The sandbox that served a call, from the executor's debug log.  A call
# without its line fails the test (and gets a name no other call has, so
# that comparisons between two such calls fail too).
sub sandbox_of {
    my ($ex, $r) = @_;
    my $sb = $ex->sandbox_of($r->{id});
    return $sb if defined $sb;
    Test::More::fail("no \"call finished\" line with a sandbox for $r->{id}");
    return "unknown-$r->{id}";
}

my $ex = executor_start(pids_max => 64, sandbox_idle_timeout => '30s');
image_in($ex);

subtest 'one sandbox serves consecutive calls, a new process each' => sub {
    my $a = call($ex);
    is($a->{status}, 200, 'first call') or diag($a->{body});
    my $b = call($ex);
    is($b->{status}, 200, 'second call');
    is(sandbox_of($ex, $b), sandbox_of($ex, $a), 'in the same sandbox');
    is($ex->sandbox_groups, 1, 'which is the only one');
    my $c = call($ex, path => '/other');
    isnt(sandbox_of($ex, $c), sandbox_of($ex, $a),
         'another route gets a sandbox of its own');
    # each answer, and the close it announces, goes out at once: not when
    # the executor's loop next wakes for something else
    my $t0 = time;
    call($ex) for 1 .. 4;
    cmp_ok(time - $t0, '<', 4, 'four more calls take well under a second each');
};

subtest 'what a call leaves is gone before the next one' => sub {
    my $before = call($ex)->{found}{roots} // '';
    like($before, qr/^41777,[^;]*;41777,[^;]*;$/,
         '/tmp and /dev/shm: sticky, open to all');
    my $dirty = call($ex, mode => 'dirty');
    is($dirty->{status}, 200, 'a call leaves files, IPC and processes')
        or diag($dirty->{body});
    is($dirty->{found}{ipc}, '111', 'it made System V IPC objects');
    ok(!$ex->function_pids, 'its background processes are gone when it '
       . 'is answered');
    my $next = call($ex);
    is(sandbox_of($ex, $next), sandbox_of($ex, $dirty), 'same sandbox');
    is($next->{found}{tmp}, 0, '/tmp is empty, unreadable dirs too');
    is($next->{found}{shm}, 0, '/dev/shm is empty');
    is($next->{found}{sleepers}, 0, 'no process of the last call');
    is($next->{found}{sysv}, 0, 'no System V IPC object');
    # the roots: an attribute, a default ACL, the mode, the times and the
    # flags of /tmp and /dev/shm, each set where the kernel lets it
    # user attributes on a tmpfs came with Linux 6.6; ACLs and flags are
    # older than the kernels this runs on
    my ($major, $minor) = (POSIX::uname())[2] =~ /^(\d+)\.(\d+)/;
    my $user = ($major <=> 6 || $minor <=> 6) >= 0 ? 1 : 0;
    is($dirty->{found}{marked}, "${user}11111;" x 2,
       'it marked /tmp and /dev/shm themselves each way it could')
        or diag($dirty->{body});
    is($dirty->{found}{left}, '111',
       'and left a hard link, a linked O_TMPFILE file and a whiteout');
    is($next->{found}{stdin}, 0, 'the next call reads an empty stdin');
    is($next->{found}{roots}, $before,
       'their attributes, mode, times and flags are back as they were');
};

subtest 'processes the call\'s own process leaves beside it' => sub {
    my $a = call($ex, path => '/siblings');
    my $left = call($ex, path => '/siblings', mode => 'siblings');
    is($left->{found}{siblings}, '11', 'a call leaves a sibling of its '
       . 'process and a child that signals no one, and ends at once')
        or diag($left->{body});
    my $next = call($ex, path => '/siblings');
    is(sandbox_of($ex, $next), sandbox_of($ex, $a), 'the sandbox is kept');
    is($next->{found}{sleepers}, 0, 'and neither process is left in it');
};

subtest 'roots a call locked, and an OOM kill in a reused sandbox' => sub {
    my $a = call($ex, path => '/locked');
    my $locked = call($ex, path => '/locked', mode => 'lock');
    is($locked->{status}, 200, 'a call takes every right on /tmp and '
       . '/dev/shm away');
    is(sandbox_of($ex, $locked), sandbox_of($ex, $a), 'in a reused sandbox');
    my $next = call($ex, path => '/locked');
    isnt(sandbox_of($ex, $next), sandbox_of($ex, $a),
         'the init cannot clean them: the sandbox is not kept');
    like($next->{found}{roots} // '', qr/^41777,[^;]*;41777,[^;]*;$/,
         'the next call finds them as new');

    # the count a reused sandbox's call starts from is the one the call
    # before it ended with
    my $b = call($ex, path => '/oom', memory => 32);
    is($b->{status}, 200, 'a call of a 32 MiB route');
    my $hog = call($ex, path => '/oom', memory => 32, mode => 'hog');
    is(sandbox_of($ex, $hog), sandbox_of($ex, $b), 'the next one, in the '
       . 'same sandbox, runs out of memory');
    is($hog->{status}, 502, 'it fails');
    like($hog->{body}, qr/out of memory \(limit 32 MiB\)/,
         'saying it ran out of memory');
    my $c = call($ex, path => '/oom', memory => 32);
    is($c->{status}, 200, 'the call after it runs');
    isnt(sandbox_of($ex, $c), sandbox_of($ex, $b), 'in a new sandbox');
    my $d = call($ex, path => '/oom', memory => 32);
    is(sandbox_of($ex, $d), sandbox_of($ex, $c),
       'which is kept: its count starts from its own');
};

subtest 'POSIX message queues are refused' => sub {
    my $r = call($ex, mode => 'mq');
    is($r->{found}{mq}, 'Operation not permitted', 'mq_open: EPERM');
};

subtest 'the init cannot be killed from inside' => sub {
    my $a = call($ex, mode => 'kill-init');
    like($a->{body}, qr/still here/, 'a call sends SIGKILL to pid 1');
    my $b = call($ex);
    is($b->{status}, 200, 'the next call runs');
    is(sandbox_of($ex, $b), sandbox_of($ex, $a), 'in the same sandbox');
};

subtest 'failures and the sandbox' => sub {
    my $a = call($ex, mode => 'fail');
    is($a->{status}, 502, 'exit 3: 502');
    my $b = call($ex);
    is(sandbox_of($ex, $b), sandbox_of($ex, $a),
       'an exit status does not cost the sandbox');
    my $t = call($ex, mode => 'hang', timeout => 1);
    is($t->{status}, 504, 'a timeout: 504');
    my $c = call($ex);
    is($c->{status}, 200, 'the next call runs');
    isnt(sandbox_of($ex, $c), sandbox_of($ex, $t),
         'in a new sandbox: a timed-out one is killed');
    ok(!$ex->function_pids, 'nothing of the timed-out call is left');
};

subtest 'SIGHUP drops idle sandboxes (their settings may have changed)' => sub {
    call($ex);
    ok($ex->sandbox_groups > 0, 'idle sandboxes');
    kill 'HUP', $ex->pid;
    ok(wait_until(5, sub { !$ex->sandbox_groups }), 'gone after a reload');
    is(call($ex)->{status}, 200, 'calls go on');
};

subtest 'SIGHUP during a call: its sandbox is not kept either' => sub {
    kill 'HUP', $ex->pid;
    ok(wait_until(5, sub { !$ex->sandbox_groups }), 'no idle sandbox');
    my $kid = fork() // die;
    if ($kid == 0) {
        call($ex, mode => 'nap');
        POSIX::_exit(0);
    }
    ok(wait_until(10, sub { $ex->function_pids }), 'a call runs');
    kill 'HUP', $ex->pid;
    waitpid($kid, 0);
    ok(wait_until(5, sub { !$ex->sandbox_groups }),
       'once it ends, its sandbox (made with the old settings) is closed');
    is(call($ex)->{status}, 200, 'calls go on');
};

is($ex->stop, 0, 'the executor stops with idle sandboxes');
ok(!$ex->sandbox_groups, 'and removes them');

subtest 'a CPU quota gives sandboxes a cpu group, none without' => sub {
    my $none = executor_start(cpu_quota => 0);
    image_in($none);
    is(call($none)->{status}, 200, 'a call with cpu_quota = 0');
    my $name = $none->{cgroup_name};
    my @cpu = grep { m{/[0-7][0-9A-Z]{25}/?$} } glob("/sys/fs/cgroup/cpu/$name/*/");
    # (v2 has one group for every controller: nothing to count there)
    is(scalar(@cpu), 0, 'v1: no group in the cpu hierarchy')
        if -d '/sys/fs/cgroup/cpu';
    $none->stop;

    # the quota of the sandbox a call leaves idle: microseconds per 100 ms
    my $quota_of = sub {
        my ($ex) = @_;
        my $name = $ex->{cgroup_name};
        my ($v1) = grep { m{/[0-7][0-9A-Z]{25}/?$} } glob("/sys/fs/cgroup/cpu/$name/*/");
        my ($v2) = grep { m{/[0-7][0-9A-Z]{25}/?$} } glob("/sys/fs/cgroup/$name/*/");
        return $v1 ? FnTest::slurp("${v1}cpu.cfs_quota_us") =~ s/\s+//gr
                   : (FnTest::slurp("${v2}cpu.max") // '') =~ s/ .*//sr;
    };
    for ([undef, '100000', 'one core by default'],
         [50, '50000', 'half a core with cpu_quota = 50']) {
        my ($pct, $want, $name) = @$_;
        my $e = executor_start(defined $pct ? (cpu_quota => $pct) : ());
        image_in($e);
        is(call($e)->{status}, 200, "a call ($name)");
        is($quota_of->($e), $want, "  its sandbox has $name");
        $e->stop;
    }
};

subtest 'sandbox_idle_timeout and sandbox_idle_max' => sub {
    # idle sandboxes would stay 30 s: only the maximum closes one here
    my $max = executor_start(sandbox_idle_timeout => '30s',
                             sandbox_idle_max => 1);
    image_in($max);
    my $first = call($max);
    is($first->{status}, 200, 'a call');
    my $last = call($max, path => '/b');
    is($last->{status}, 200, 'a call on another route');
    ok(wait_until(5, sub { $max->sandbox_groups == 1 }),
       'sandbox_idle_max 1 keeps one idle sandbox')
        or diag(scalar($max->sandbox_groups) . ' sandbox groups');
    my $c = call($max, path => '/b');
    is(sandbox_of($max, $c), sandbox_of($max, $last),
       '  the one used last, which serves the next call');
    $max->stop;

    my $short = executor_start(sandbox_idle_timeout => '3s');
    image_in($short);
    is(call($short)->{status}, 200, 'a call');
    is($short->sandbox_groups, 1, 'leaves its sandbox idle');
    ok(wait_until(10, sub { !$short->sandbox_groups }),
       'which goes after sandbox_idle_timeout (3 s)');
    $short->stop;

    my $none = executor_start(sandbox_idle_timeout => '0');
    image_in($none);
    my $a = call($none);
    my $b = call($none);
    is($b->{status}, 200, 'sandbox_idle_timeout 0: calls run');
    isnt(sandbox_of($none, $b), sandbox_of($none, $a),
         'each in a sandbox of its own');
    ok(wait_until(5, sub { !$none->sandbox_groups }),
       'which is gone after its call');
    $none->stop;
};

done_testing();
