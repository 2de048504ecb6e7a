/*
 * The seccomp filter of every sandbox, built once with libseccomp.
 *
 * An allowlist: what ordinary programs and language runtimes need is
 * allowed, everything else fails with EPERM.  It follows the default
 * profile of Docker and containerd, narrowed for functions: nothing that
 * reaches another process (the sandbox's init above all), the kernel's
 * shared state or another namespace.  docs/seccomp.md says what and why;
 * t/19-seccomp.t tries it from inside a sandbox.
 */
#include "seccomp_filter.h"

#include <errno.h>
#include <linux/filter.h>
#include <sched.h>
#include <seccomp.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

/*
 * Allowed whatever their arguments.  Names the native architecture does
 * not have (the 32-bit ones on a 64-bit machine, say) are skipped.
 */
static const char *const allowed[] = {
    /* processes and threads (clone and clone3: see below) */
    "fork", "vfork", "execve", "execveat", "exit", "exit_group", "wait4",
    "waitid", "waitpid", "getpid", "getppid", "gettid", "getpgid",
    "getpgrp", "setpgid", "getsid", "setsid", "set_tid_address",
    "set_robust_list", "get_robust_list", "rseq", "restart_syscall",
    "arch_prctl", "set_thread_area", "get_thread_area", "prctl",
    "futex", "futex_waitv", "futex_wake", "futex_wait", "futex_requeue",
    "membarrier", "sched_yield", "sched_getaffinity", "sched_setaffinity",
    "sched_getparam", "sched_setparam", "sched_getscheduler",
    "sched_setscheduler", "sched_getattr", "sched_setattr",
    "sched_get_priority_max", "sched_get_priority_min",
    "sched_rr_get_interval", "getcpu", "getpriority", "setpriority",
    "ioprio_get", "ioprio_set",
    /* signals, to processes of the sandbox's pid namespace (its init
     * ignores what it has no handler for) */
    "kill", "tkill", "tgkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo",
    "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "rt_sigsuspend",
    "rt_sigpending", "rt_sigtimedwait", "sigaltstack", "signalfd",
    "signalfd4", "pause", "alarm",
    /* identities, inside the sandbox's user namespace */
    "getuid", "geteuid", "getgid", "getegid", "getresuid", "getresgid",
    "getgroups", "setuid", "setgid", "setreuid", "setregid", "setresuid",
    "setresgid", "setgroups", "setfsuid", "setfsgid", "capget", "capset",
    /* memory of the caller */
    "brk", "mmap", "munmap", "mremap", "mprotect", "madvise", "mincore",
    "msync", "mlock", "mlock2", "munlock", "mlockall", "munlockall",
    "remap_file_pages", "pkey_alloc", "pkey_free", "pkey_mprotect",
    "memfd_create", "memfd_secret", "map_shadow_stack", "mseal",
    /* files and directories (mknod: see below) */
    "read", "write", "readv", "writev", "pread64", "pwrite64", "preadv",
    "pwritev", "preadv2", "pwritev2", "open", "openat", "openat2", "creat",
    "close", "close_range", "lseek", "dup", "dup2", "dup3", "fcntl",
    "flock", "fsync", "fdatasync", "sync", "syncfs", "sync_file_range",
    "truncate", "ftruncate", "fallocate", "fadvise64", "readahead",
    "stat", "fstat", "lstat", "newfstatat", "statx", "statfs", "fstatfs",
    "access", "faccessat", "faccessat2", "getcwd", "chdir", "fchdir",
    "mkdir", "mkdirat", "rmdir", "rename", "renameat", "renameat2",
    "link", "linkat", "unlink", "unlinkat", "symlink", "symlinkat",
    "readlink", "readlinkat", "chmod", "fchmod", "fchmodat", "fchmodat2",
    "chown", "fchown", "lchown", "fchownat", "umask", "utime", "utimes",
    "utimensat", "futimesat", "getdents", "getdents64", "getxattr",
    "lgetxattr", "fgetxattr", "getxattrat", "setxattr", "lsetxattr",
    "fsetxattr", "setxattrat", "listxattr", "llistxattr", "flistxattr",
    "listxattrat", "removexattr", "lremovexattr", "fremovexattr",
    "removexattrat", "file_getattr", "file_setattr", "ioctl",
    "copy_file_range", "sendfile", "splice", "tee", "vmsplice",
    "inotify_init", "inotify_init1", "inotify_add_watch",
    "inotify_rm_watch",
    /* pipes, events, waiting for descriptors */
    "pipe", "pipe2", "eventfd", "eventfd2", "select", "pselect6", "poll",
    "ppoll", "epoll_create", "epoll_create1", "epoll_ctl", "epoll_wait",
    "epoll_pwait", "epoll_pwait2",
    /* clocks (read only), sleeps, timers */
    "clock_gettime", "clock_getres", "clock_nanosleep", "nanosleep",
    "gettimeofday", "time", "times", "getitimer", "setitimer",
    "timer_create", "timer_settime", "timer_gettime", "timer_getoverrun",
    "timer_delete", "timerfd_create", "timerfd_settime", "timerfd_gettime",
    /* sockets once made (socket and socketpair: see below) */
    "bind", "listen", "accept", "accept4", "connect", "getsockname",
    "getpeername", "getsockopt", "setsockopt", "sendto", "recvfrom",
    "sendmsg", "recvmsg", "sendmmsg", "recvmmsg", "shutdown",
    /* System V IPC: the sandbox's own namespace, emptied after each call */
    "shmget", "shmat", "shmdt", "shmctl", "semget", "semop", "semtimedop",
    "semctl", "msgget", "msgsnd", "msgrcv", "msgctl",
    /* limits and facts of the caller (prlimit64: see below) */
    "getrlimit", "setrlimit", "getrusage", "sysinfo", "uname", "getrandom",
    /* a process restricting itself further */
    "seccomp", "landlock_create_ruleset", "landlock_add_rule",
    "landlock_restrict_self",
    /* the same calls under the names of 32-bit architectures */
    "_llseek", "_newselect", "mmap2", "fcntl64", "fstat64", "stat64",
    "lstat64", "fstatat64", "statfs64", "fstatfs64", "truncate64",
    "ftruncate64", "sendfile64", "fadvise64_64", "arm_fadvise64_64",
    "sync_file_range2", "arm_sync_file_range", "ugetrlimit", "send", "recv",
    "sigreturn", "getuid32", "geteuid32", "getgid32", "getegid32",
    "getresuid32", "getresgid32", "getgroups32", "setuid32", "setgid32",
    "setreuid32", "setregid32", "setresuid32", "setresgid32",
    "setgroups32", "setfsuid32", "setfsgid32", "chown32", "fchown32",
    "lchown32", "futex_time64", "clock_gettime64", "clock_getres_time64",
    "clock_nanosleep_time64", "timer_settime64", "timer_gettime64",
    "timerfd_settime64", "timerfd_gettime64", "utimensat_time64",
    "ppoll_time64", "pselect6_time64", "recvmmsg_time64",
    "semtimedop_time64", "rt_sigtimedwait_time64",
    "sched_rr_get_interval_time64",
    /* what an architecture's libc needs of its own */
    "set_tls", "cacheflush", "breakpoint", "riscv_flush_icache",
};

/*
 * Calls newer than the libseccomp a build may have, by number: every
 * architecture numbers them alike (from 424 on), but for MIPS and Alpha.
 */
static const struct {
    const char *name;
    int nr;
} newer[] = {
    { "clone3", 435 }, { "close_range", 436 }, { "openat2", 437 },
    { "faccessat2", 439 }, { "epoll_pwait2", 441 },
    { "landlock_create_ruleset", 444 }, { "landlock_add_rule", 445 },
    { "landlock_restrict_self", 446 }, { "memfd_secret", 447 },
    { "futex_waitv", 449 }, { "fchmodat2", 452 },
    { "map_shadow_stack", 453 }, { "futex_wake", 454 },
    { "futex_wait", 455 }, { "futex_requeue", 456 }, { "mseal", 462 },
    { "setxattrat", 463 }, { "getxattrat", 464 }, { "listxattrat", 465 },
    { "removexattrat", 466 }, { "file_getattr", 468 },
    { "file_setattr", 469 },
};

/*
 * The last number this list was reviewed against (file_setattr, Linux
 * 6.17).  Calls above it are newer than the filter: they fail with ENOSYS,
 * as on an older kernel, so that libraries fall back to what they used
 * before; EPERM would read as a refusal to give up on.
 */
#define REVIEWED_THROUGH 469

/* Above this, numbers are another ABI's (x32) or none: the filter's own. */
#define OTHER_ABI_BASE 0x40000000U

static int common_numbering(uint32_t arch)
{
    return arch != SCMP_ARCH_MIPS && arch != SCMP_ARCH_MIPS64
           && arch != SCMP_ARCH_MIPS64N32 && arch != SCMP_ARCH_MIPSEL
           && arch != SCMP_ARCH_MIPSEL64 && arch != SCMP_ARCH_MIPSEL64N32;
}

/* The native number of a call, or -1 where there is none. */
static int syscall_nr(const char *name)
{
    int nr = seccomp_syscall_resolve_name(name);
    size_t i;

    if (nr == __NR_SCMP_ERROR && common_numbering(seccomp_arch_native())) {
        for (i = 0; i < sizeof(newer) / sizeof(newer[0]); i++) {
            if (strcmp(newer[i].name, name) == 0)
                return newer[i].nr;
        }
    }
    /* negative: libseccomp knows it from other architectures only */
    return nr < 0 ? -1 : nr;
}

/* One rule with up to one argument comparison; a missing call is none. */
static int rule(scmp_filter_ctx ctx, uint32_t action, const char *name,
                const struct scmp_arg_cmp *cmp)
{
    int nr = syscall_nr(name);

    if (nr < 0)
        return 0;
    return seccomp_rule_add_array(ctx, action, nr, cmp != NULL ? 1 : 0, cmp)
           < 0 ? -1 : 0;
}

/*
 * socket() and socketpair(): AF_UNIX, and AF_INET and AF_INET6 where the
 * sandbox shares the host's network; every other family fails with
 * EAFNOSUPPORT, as on a kernel without it, so that programs that probe
 * (for IPv6, netlink) carry on without.
 */
static int socket_rules(scmp_filter_ctx ctx, const char *name,
                        int allow_network)
{
    uint32_t refuse = SCMP_ACT_ERRNO(EAFNOSUPPORT);
    struct scmp_arg_cmp cmp;
    int top = allow_network ? AF_INET6 : AF_UNIX, family;

    for (family = 0; family <= top; family++) {
        int ok = family == AF_UNIX
                 || (allow_network
                     && (family == AF_INET || family == AF_INET6));

        cmp = SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)family);
        if (rule(ctx, ok ? SCMP_ACT_ALLOW : refuse, name, &cmp) < 0)
            return -1;
    }
    cmp = SCMP_A0(SCMP_CMP_GT, (scmp_datum_t)top);
    return rule(ctx, refuse, name, &cmp);
}

/* The rules that look at arguments. */
static int argument_rules(scmp_filter_ctx ctx, int allow_network)
{
    /* clone()'s namespace flags (CLONE_NEWTIME shares its bit with the
     * exit signal there: only clone3 and unshare can ask for it) */
    static const scmp_datum_t ns_flags =
        CLONE_NEWNS | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET
        | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP;
    /* personality(): Linux, its 32-bit and uname-2.6 variants, or asking */
    static const scmp_datum_t personas[] = {
        0x0, 0x8, 0x20000, 0x20008, 0xffffffff,
    };
    /* mknod(): files, FIFOs and sockets, never devices */
    static const scmp_datum_t node_types[] = {
        0, S_IFREG, S_IFIFO, S_IFSOCK,
    };
    uint32_t arch = seccomp_arch_native();
    struct scmp_arg_cmp cmp;
    size_t i;

    /* s390 passes clone()'s flags second */
    cmp.arg = arch == SCMP_ARCH_S390 || arch == SCMP_ARCH_S390X ? 1 : 0;
    cmp.op = SCMP_CMP_MASKED_EQ;
    cmp.datum_a = ns_flags;
    cmp.datum_b = 0;
    if (rule(ctx, SCMP_ACT_ALLOW, "clone", &cmp) < 0)
        return -1;
    /* clone3 keeps its flags in memory, out of the filter's sight: ENOSYS
     * makes libc fall back to clone */
    if (rule(ctx, SCMP_ACT_ERRNO(ENOSYS), "clone3", NULL) < 0)
        return -1;
    for (i = 0; i < sizeof(personas) / sizeof(personas[0]); i++) {
        cmp = SCMP_A0(SCMP_CMP_EQ, personas[i]);
        if (rule(ctx, SCMP_ACT_ALLOW, "personality", &cmp) < 0)
            return -1;
    }
    for (i = 0; i < sizeof(node_types) / sizeof(node_types[0]); i++) {
        cmp = SCMP_A1(SCMP_CMP_MASKED_EQ, S_IFMT, node_types[i]);
        if (rule(ctx, SCMP_ACT_ALLOW, "mknod", &cmp) < 0)
            return -1;
        cmp = SCMP_A2(SCMP_CMP_MASKED_EQ, S_IFMT, node_types[i]);
        if (rule(ctx, SCMP_ACT_ALLOW, "mknodat", &cmp) < 0)
            return -1;
    }
    /* the caller's own limits (pid 0), not another process's */
    cmp = SCMP_A0(SCMP_CMP_EQ, 0);
    if (rule(ctx, SCMP_ACT_ALLOW, "prlimit64", &cmp) < 0)
        return -1;
    if (socket_rules(ctx, "socket", allow_network) < 0
        || socket_rules(ctx, "socketpair", allow_network) < 0)
        return -1;
    return 0;
}

/*
 * Before libseccomp's program: on the native architecture, numbers above
 * REVIEWED_THROUGH (but below another ABI's) fail with ENOSYS.  The
 * program starts by checking the architecture itself, so it can follow.
 */
static size_t newer_prologue(struct sock_filter *out, uint32_t arch)
{
    const struct sock_filter head[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
                 offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, arch, 0, 4),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
                 offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, OTHER_ABI_BASE, 2, 0),
        BPF_JUMP(BPF_JMP | BPF_JGT | BPF_K, REVIEWED_THROUGH, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
    };

    if (!common_numbering(arch))
        return 0;
    memcpy(out, head, sizeof(head));
    return sizeof(head) / sizeof(head[0]);
}

#define PROLOGUE_MAX 6

int seccomp_filter_build(int allow_network, char **bpf, size_t *len)
{
    struct sock_filter prologue[PROLOGUE_MAX];
    scmp_filter_ctx ctx;
    size_t i, head;
    off_t size;
    int fd = -1, rc;

    ctx = seccomp_init(SCMP_ACT_ERRNO(EPERM));
    if (ctx == NULL)
        return -1;
    /* other ABIs (32-bit, x32) would go around the rules: kill them */
    if (seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS)
        < 0)
        goto fail;
    /* a binary tree of numbers rather than a list: every call of every
     * function passes through it (older libseccomp: a list all the same) */
    seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
    for (i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++) {
        if (rule(ctx, SCMP_ACT_ALLOW, allowed[i], NULL) < 0)
            goto fail;
    }
    if (argument_rules(ctx, allow_network) < 0)
        goto fail;
    /* libseccomp writes the program to a file descriptor: read it back,
     * after the prologue */
    fd = memfd_create("seccomp", MFD_CLOEXEC);
    if (fd < 0)
        goto fail;
    rc = seccomp_export_bpf(ctx, fd);
    seccomp_release(ctx);
    ctx = NULL;
    size = lseek(fd, 0, SEEK_END);
    if (rc < 0 || size <= 0 || size % sizeof(struct sock_filter) != 0
        || lseek(fd, 0, SEEK_SET) < 0)
        goto fail;
    head = newer_prologue(prologue, seccomp_arch_native())
           * sizeof(struct sock_filter);
    if ((size_t)size / sizeof(struct sock_filter)
        + head / sizeof(struct sock_filter) > BPF_MAXINSNS)
        goto fail;
    *bpf = malloc(head + (size_t)size);
    if (*bpf == NULL || read(fd, *bpf + head, (size_t)size) != size) {
        free(*bpf);
        *bpf = NULL;
        goto fail;
    }
    memcpy(*bpf, prologue, head);
    *len = head + (size_t)size;
    close(fd);
    return 0;
fail:
    if (ctx != NULL)
        seccomp_release(ctx);
    if (fd >= 0)
        close(fd);
    return -1;
}

int seccomp_filter_fd(const char *bpf, size_t len)
{
    int fd = memfd_create("seccomp", MFD_CLOEXEC);

    if (fd < 0)
        return -1;
    if (write(fd, bpf, len) != (ssize_t)len || lseek(fd, 0, SEEK_SET) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}
