# The sandboxes' seccomp filter is an allowlist (docs/seccomp.md): a
# static probe, run as a function, tries each socket family and each class
# of refused calls and prints what it got; ordinary work (threads, files in
# /tmp, pipes, a program, a static Go binary) still runs.  Run once with
# the network off and once in an executor with allow_network = yes.
use strict;
use warnings;
use lib 't/lib', 'scripts/lib';

use FnImage;
use FnTest qw(executor_start unix_request tmpdir go_build);
use JSON::PP;
use Test::More;

my $json = JSON::PP->new->canonical;
my $tmp = tmpdir();

# Each line is name=ok or name=<errno name>, e.g. socket_vsock=EAFNOSUPPORT.
# Where a call would work without the filter, the probe sets it up so it
# does (a child of its own to trace, UFFD_USER_MODE_ONLY, ...): a filter
# that lets it through shows as "ok", not as some other refusal.
open(my $src, '>', "$tmp/probe.c") or die $!;
print $src <<'C';
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/io_uring.h>
#include <linux/kcmp.h>
#include <linux/keyctl.h>
#include <linux/perf_event.h>
#include <linux/userfaultfd.h>
#include <mqueue.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/ptrace.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef AF_VSOCK
#define AF_VSOCK 40
#endif
#ifndef AF_ALG
#define AF_ALG 38
#endif
#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif

static int secret = 7;

static void report(const char *what, long rc)
{
    const char *name = rc >= 0 ? "ok" : strerrorname_np(errno);

    printf("%s=%s\n", what, name != NULL ? name : "unknown");
}

static void sock(const char *what, int family, int type)
{
    int fd = socket(family, type, 0);

    report(what, fd);
    if (fd >= 0)
        close(fd);
}

static void *thread_main(void *arg)
{
    *(int *)arg = 42;
    return NULL;
}

static void sockets(void)
{
    int sv[2];

    sock("socket_unix", AF_UNIX, SOCK_STREAM);
    report("socketpair_unix", socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    sock("socket_inet", AF_INET, SOCK_STREAM);
    sock("socket_inet6", AF_INET6, SOCK_DGRAM);
    sock("socket_netlink", AF_NETLINK, SOCK_RAW);
    sock("socket_vsock", AF_VSOCK, SOCK_STREAM);
    sock("socket_packet", AF_PACKET, SOCK_DGRAM);
    sock("socket_alg", AF_ALG, SOCK_SEQPACKET);
    sock("socket_bluetooth", AF_BLUETOOTH, SOCK_STREAM);
    sock("socket_unspec", AF_UNSPEC, SOCK_STREAM);
    report("socketpair_netlink", socketpair(AF_NETLINK, SOCK_RAW, 0, sv));
}

/* pid 1 is the sandbox's init; a child of our own is what the kernel
 * alone would let us trace and read */
static void other_processes(void)
{
    struct iovec local, remote;
    char buf[4096];
    pid_t child;
    int pfd;

    child = fork();
    if (child == 0) {
        pause();
        _exit(0);
    }
    pfd = (int)syscall(SYS_pidfd_open, 1, 0);
    report("pidfd_open_init", pfd);
    report("pidfd_open_child", syscall(SYS_pidfd_open, child, 0));
    /* with or without a pidfd, the call is refused before it looks */
    report("pidfd_getfd", syscall(SYS_pidfd_getfd, pfd >= 0 ? pfd : 0, 0, 0));
    report("pidfd_send_signal", syscall(SYS_pidfd_send_signal,
                                        pfd >= 0 ? pfd : 0, 0, NULL, 0));
    local.iov_base = buf;
    local.iov_len = sizeof(int);
    remote.iov_base = &secret;
    remote.iov_len = sizeof(int);
    report("process_vm_readv_init",
           process_vm_readv(1, &local, 1, &remote, 1, 0));
    report("process_vm_readv_child",
           process_vm_readv(child, &local, 1, &remote, 1, 0));
    report("process_vm_writev_child",
           process_vm_writev(child, &local, 1, &remote, 1, 0));
    local.iov_len = sizeof(buf);
    report("process_madvise", syscall(SYS_process_madvise, pfd >= 0 ? pfd : 0,
                                      &local, 1, MADV_COLD, 0));
    report("ptrace_attach_init", ptrace(PTRACE_ATTACH, 1, 0, 0));
    report("ptrace_attach_child", ptrace(PTRACE_ATTACH, child, 0, 0));
    report("kcmp", syscall(SYS_kcmp, getpid(), child, KCMP_VM, 0, 0));
    report("prlimit_init", prlimit(1, RLIMIT_NOFILE, NULL,
                                   &(struct rlimit){ 0, 0 }));
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
}

static void namespaces_and_mounts(void)
{
    long rc;

    report("unshare_user", unshare(CLONE_NEWUSER));
    report("unshare_mount", unshare(CLONE_NEWNS));
    report("unshare_net", unshare(CLONE_NEWNET));
    rc = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);
    if (rc == 0)
        _exit(0);
    if (rc > 0)
        waitpid((pid_t)rc, NULL, 0);
    report("clone_newuser", rc);
    report("clone3", syscall(SYS_clone3, NULL, 0));
    report("setns", syscall(SYS_setns, 0, 0));
    report("mount", mount("none", "/tmp", "tmpfs", 0, NULL));
    report("chroot", chroot("/tmp"));
}

static void the_kernel(void)
{
    struct io_uring_params ring;
    struct perf_event_attr pe;
    union bpf_attr attr;

    memset(&attr, 0, sizeof(attr));
    attr.map_type = BPF_MAP_TYPE_ARRAY;
    attr.key_size = 4;
    attr.value_size = 4;
    attr.max_entries = 1;
    report("bpf", syscall(SYS_bpf, BPF_MAP_CREATE, &attr, sizeof(attr)));
    memset(&ring, 0, sizeof(ring));
    report("io_uring_setup", syscall(SYS_io_uring_setup, 4, &ring));
    report("keyctl", syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID,
                             KEY_SPEC_SESSION_KEYRING, 1));
    report("add_key", syscall(SYS_add_key, "user", "k", "v", 1,
                              KEY_SPEC_PROCESS_KEYRING));
    report("userfaultfd",
           syscall(SYS_userfaultfd, O_CLOEXEC | UFFD_USER_MODE_ONLY));
    memset(&pe, 0, sizeof(pe));
    pe.type = PERF_TYPE_SOFTWARE;
    pe.size = sizeof(pe);
    pe.config = PERF_COUNT_SW_TASK_CLOCK;
    pe.exclude_kernel = 1;
    pe.exclude_hv = 1;
    report("perf_event_open",
           syscall(SYS_perf_event_open, &pe, 0, -1, -1, 0));
    report("mq_open", mq_open("/q", O_CREAT | O_RDWR, 0600, NULL));
    report("personality_no_aslr", personality(ADDR_NO_RANDOMIZE));
    report("mknod_device",
           mknod("/tmp/null", S_IFCHR | 0600, makedev(1, 3)));
    report("io_setup", syscall(SYS_io_setup, 1, &(unsigned long){ 0 }));
    report("name_to_handle_at", syscall(SYS_name_to_handle_at, AT_FDCWD,
                                        "/tmp", NULL, NULL, 0));
    report("settimeofday", syscall(SYS_settimeofday, NULL, NULL));
    /* a call no rule names, by its number; and a number past the list */
    report("raw_get_mempolicy",
           syscall(SYS_get_mempolicy, NULL, NULL, 0, NULL, 0));
    report("raw_past_the_list", syscall(500));
}

/* Another ABI's call, in a child: the filter kills it with SIGSYS. */
static void other_abi(const char *what, int x32)
{
#ifdef __x86_64__
    int st = 0;
    pid_t child = fork();
    long rc;

    if (child == 0) {
        if (x32)
            rc = syscall(0x40000000 | SYS_getpid);
        else
            __asm__ volatile("int $0x80" : "=a"(rc) : "a"(20) : "memory");
        _exit(rc >= 0 ? 0 : 1);
    }
    if (child < 0 || waitpid(child, &st, 0) != child)
        printf("%s=unknown\n", what);
    else if (WIFSIGNALED(st))
        printf("%s=%s\n", what, sigabbrev_np(WTERMSIG(st)));
    else
        printf("%s=exit%d\n", what, WEXITSTATUS(st));
#else
    (void)x32;
    printf("%s=none\n", what);
#endif
}

static void ordinary_work(void)
{
    struct epoll_event e = { .events = EPOLLIN };
    char buf[16];
    pthread_t t;
    int value = 0, st = 0, fd, p[2], ep, ev;
    pid_t child;

    report("thread", pthread_create(&t, NULL, thread_main, &value) == 0
                     && pthread_join(t, NULL) == 0 && value == 42 ? 0 : -1);
    child = fork();
    if (child == 0)
        _exit(3);
    report("fork_wait", child > 0 && waitpid(child, &st, 0) == child
                        && WEXITSTATUS(st) == 3 ? 0 : -1);
    fd = open("/tmp/f", O_CREAT | O_RDWR | O_TRUNC, 0600);
    report("tmp_files",
           fd >= 0 && write(fd, "hello", 5) == 5 && lseek(fd, 0, SEEK_SET) == 0
           && read(fd, buf, 5) == 5 && memcmp(buf, "hello", 5) == 0
           && fsync(fd) == 0 && close(fd) == 0 && mkdir("/tmp/d", 0700) == 0
           && rename("/tmp/f", "/tmp/d/f") == 0
           && symlink("f", "/tmp/d/l") == 0 && chmod("/tmp/d/f", 0644) == 0
           && unlink("/tmp/d/l") == 0 && unlink("/tmp/d/f") == 0
           && rmdir("/tmp/d") == 0 ? 0 : -1);
    report("mkfifo", mkfifo("/tmp/fifo", 0600));
    report("pipe", pipe(p) == 0 && write(p[1], "x", 1) == 1
                   && read(p[0], buf, 1) == 1 ? 0 : -1);
    ep = epoll_create1(EPOLL_CLOEXEC);
    ev = eventfd(1, 0);
    report("epoll", ep >= 0 && ev >= 0
                    && timerfd_create(CLOCK_MONOTONIC, 0) >= 0
                    && epoll_ctl(ep, EPOLL_CTL_ADD, ev, &e) == 0
                    && epoll_wait(ep, &e, 1, 1000) == 1 ? 0 : -1);
    report("memfd", memfd_create("x", MFD_CLOEXEC));
    report("getrandom", getrandom(buf, sizeof(buf), 0) == sizeof(buf) ? 0 : -1);
    report("personality_query", personality(0xffffffff));
    report("prlimit_self", prlimit(0, RLIMIT_NOFILE, NULL,
                                   &(struct rlimit){ 0, 0 }));
    report("exec", system("exit 0") == 0 ? 0 : -1);
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    sockets();
    other_processes();
    namespaces_and_mounts();
    the_kernel();
    other_abi("abi_i386", 0);
    other_abi("abi_x32", 1);
    ordinary_work();
    printf("done=1\n");
    return 0;
}
C
close $src;
system('cc', '-static', '-O2', '-Wall', '-o', "$tmp/probe", "$tmp/probe.c",
       '-lpthread') == 0
    or BAIL_OUT('cannot build the seccomp probe');

# A Go program: the runtime's threads, files, a Unix socket, a child
# process, and a TCP listener that must fail cleanly without the network.
# (make deps installs Go: without it, this file fails.)
my $go;
{
    open(my $g, '>', "$tmp/gofn.go") or die $!;
    print $g <<'GO';
package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"sync"
)

func report(what string, err error) {
	if err != nil {
		fmt.Printf("%s=%v\n", what, err)
	} else {
		fmt.Printf("%s=ok\n", what)
	}
}

func main() {
	var wg sync.WaitGroup
	sums := make([]int, 16)
	for i := range sums {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for j := 0; j < 1000000; j++ {
				sums[i] += j
			}
		}(i)
	}
	wg.Wait()
	report("go_goroutines", nil)
	err := os.WriteFile("/tmp/go-file", []byte("hello"), 0600)
	if err == nil {
		var b []byte
		b, err = os.ReadFile("/tmp/go-file")
		if err == nil && string(b) != "hello" {
			err = fmt.Errorf("read %q", b)
		}
	}
	report("go_files", err)
	l, err := net.Listen("unix", "/tmp/go-sock")
	if err == nil {
		go func() {
			c, err := l.Accept()
			if err == nil {
				c.Write([]byte("x"))
				c.Close()
			}
		}()
		var c net.Conn
		c, err = net.Dial("unix", "/tmp/go-sock")
		if err == nil {
			b := make([]byte, 1)
			_, err = c.Read(b)
		}
	}
	report("go_unix_socket", err)
	_, err = exec.Command("/bin/sh", "-c", "exit 0").Output()
	report("go_exec", err)
	_, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println("go_tcp_listen=refused")
	} else {
		fmt.Println("go_tcp_listen=ok")
	}
}
GO
    close $g;
    go_build("$tmp/gofn", "$tmp/gofn.go")
        or BAIL_OUT('cannot build the Go probe');
    $go = "$tmp/gofn";
}

sub images_in {
    my ($ex) = @_;
    FnImage::build($ex->dir . '/images/probe', tag => 'v1',
        config => { Cmd => ['/fn/probe'] },
        layers => [ FnImage::busybox_layer(),
                    [ [ 'fn', dir => 1 ],
                      [ 'fn/probe', file => "$tmp/probe", mode => 0755 ] ] ]);
    FnImage::build($ex->dir . '/images/gofn', tag => 'v1',
        config => { Cmd => ['/fn/go'] },
        layers => [ FnImage::busybox_layer(),
                    [ [ 'fn', dir => 1 ],
                      [ 'fn/go', file => $go, mode => 0755 ] ] ])
        if $go;
}

my $n = 0;
sub run {
    my ($ex, $image) = @_;
    my $id = sprintf('01ARZ3NDEKTSV4RRFFQ69S%04d', $n++);
    my %route = (app => 'demo', path => '/probe',
                 image => $image // 'oci:probe:v1', timeout => 30);
    my $r = unix_request($ex->socket, 'POST', '/call',
        headers => { 'Fn-Call-Id' => $id, 'Fn-Method' => 'POST',
                     'Fn-Request-Url' => 'http://example.com/r/demo/probe',
                     'Fn-Route' => $json->encode(\%route) },
        body => '', timeout => 60);
    $r->{id} = $id;
    $r->{found} = { map { /^(\w+)=(.*)$/ ? ($1, $2) : () }
                    split /\n/, $r->{body} // '' };
    return $r;
}

# What the filter refuses, whatever the network setting, and how.
my %refused = (
    socket_netlink => 'EAFNOSUPPORT',
    socket_vsock => 'EAFNOSUPPORT',
    socket_packet => 'EAFNOSUPPORT',
    socket_alg => 'EAFNOSUPPORT',
    socket_bluetooth => 'EAFNOSUPPORT',
    socket_unspec => 'EAFNOSUPPORT',
    socketpair_netlink => 'EAFNOSUPPORT',
    pidfd_open_init => 'EPERM',
    pidfd_open_child => 'EPERM',
    pidfd_getfd => 'EPERM',
    pidfd_send_signal => 'EPERM',
    process_vm_readv_init => 'EPERM',
    process_vm_readv_child => 'EPERM',
    process_vm_writev_child => 'EPERM',
    process_madvise => 'EPERM',
    ptrace_attach_init => 'EPERM',
    ptrace_attach_child => 'EPERM',
    kcmp => 'EPERM',
    prlimit_init => 'EPERM',
    unshare_user => 'EPERM',
    unshare_mount => 'EPERM',
    unshare_net => 'EPERM',
    clone_newuser => 'EPERM',
    clone3 => 'ENOSYS',
    setns => 'EPERM',
    mount => 'EPERM',
    chroot => 'EPERM',
    bpf => 'EPERM',
    io_uring_setup => 'EPERM',
    keyctl => 'EPERM',
    add_key => 'EPERM',
    userfaultfd => 'EPERM',
    perf_event_open => 'EPERM',
    mq_open => 'EPERM',
    personality_no_aslr => 'EPERM',
    mknod_device => 'EPERM',
    io_setup => 'EPERM',
    name_to_handle_at => 'EPERM',
    settimeofday => 'EPERM',
    raw_get_mempolicy => 'EPERM',
    raw_past_the_list => 'ENOSYS',
);

my @works = qw(socket_unix socketpair_unix thread fork_wait tmp_files mkfifo
               pipe epoll memfd getrandom personality_query prlimit_self
               exec);

sub check_probe {
    my ($ex, %inet) = @_;
    my $r = run($ex);
    is($r->{status}, 200, 'the probe runs') or diag($r->{body});
    is($r->{found}{done}, 1, 'to its end') or diag($r->{body});
    my %f = %{ $r->{found} };
    for my $name (sort keys %refused) {
        is($f{$name} // 'missing', $refused{$name},
           "$name: $refused{$name}");
    }
    for my $name (sort keys %inet) {
        is($f{$name} // 'missing', $inet{$name}, "$name: $inet{$name}");
    }
    is($f{$_} // 'missing', 'ok', "$_ works") for @works;
    # x86-64 only; a kernel without 32-bit emulation faults before any
    # filter runs
    for my $abi (qw(abi_i386 abi_x32)) {
        SKIP: {
            skip "$abi: no such ABI here ($f{$abi})", 1
                if ($f{$abi} // '') =~ /^(none|SEGV)$/;
            is($f{$abi} // 'missing', 'SYS',
               "$abi: a call through another ABI kills the process");
        }
    }
    return $r;
}

my $ex = executor_start(sandbox_idle_timeout => '30s');
images_in($ex);

subtest 'network off: AF_UNIX only, and every refused class' => sub {
    check_probe($ex, socket_inet => 'EAFNOSUPPORT',
                     socket_inet6 => 'EAFNOSUPPORT');
};

# The sandbox that served a call, from the executor's debug log.
sub sandbox_of {
    my ($ex, $r) = @_;
    return $ex->sandbox_of($r->{id}) // "unknown-$r->{id}";
}

subtest 'the sandbox and its init carry on under the filter' => sub {
    # a second call in the same sandbox: the init forked, reaped and
    # cleaned up after the first one under the filter
    my $first = run($ex);
    my $r = run($ex);
    is($r->{status}, 200, 'a second call of the route');
    isnt(sandbox_of($ex, $first), 'none', 'the log names the sandbox');
    is(sandbox_of($ex, $r), sandbox_of($ex, $first), 'in the same sandbox');
    is($r->{found}{tmp_files}, 'ok', 'finds /tmp as it should');
    is($r->{found}{mkfifo}, 'ok', 'its FIFO of the last call is gone');
};

subtest 'a static Go program' => sub {
    my $r = run($ex, 'oci:gofn:v1');
    is($r->{status}, 200, 'runs') or diag($r->{body});
    is($r->{found}{$_}, 'ok', "$_") for
        qw(go_goroutines go_files go_unix_socket go_exec);
    is($r->{found}{go_tcp_listen}, 'refused',
       'a TCP listener fails as an error, not a crash');
};

$ex->stop;

subtest 'allow_network = yes: AF_INET and AF_INET6 too, nothing more' => sub {
    my $net = executor_start(allow_network => 'yes');
    images_in($net);
    # a host without IPv6 refuses AF_INET6 itself
    my $inet6 = -e '/proc/net/if_inet6' ? 'ok' : 'EAFNOSUPPORT';
    check_probe($net, socket_inet => 'ok', socket_inet6 => $inet6);
    $net->stop;
};

done_testing();
