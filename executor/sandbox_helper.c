/*
 * The sandbox helper: cgroups, seccomp, privileges, then bubblewrap.
 */
#include "sandbox_helper.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sched.h>
#include <unistd.h>

/* Exit status that tells the executor the sandbox could not be made. */
#define HELPER_FAILED 125

static int die(const char *what)
{
    fprintf(stderr, "sandbox: %s: %s\n", what, strerror(errno));
    return HELPER_FAILED;
}

/*
 * Refused with EPERM: what changes mounts, namespaces, the kernel or other
 * processes.  Everything else is allowed; the sandbox's namespaces, cgroup
 * and unprivileged uid bound the rest.
 */
static const char *const denied[] = {
    "mount", "umount", "umount2", "pivot_root", "chroot", "move_mount",
    "open_tree", "fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr",
    "unshare", "setns", "ptrace", "process_vm_readv", "process_vm_writev",
    "bpf", "perf_event_open", "userfaultfd", "keyctl", "add_key",
    "request_key", "kexec_load", "kexec_file_load", "init_module",
    "finit_module", "delete_module", "reboot", "swapon", "swapoff",
    "syslog", "acct", "settimeofday", "clock_settime", "clock_adjtime",
    "adjtimex", "quotactl", "quotactl_fd", "open_by_handle_at",
    "name_to_handle_at", "lookup_dcookie", "ioperm", "iopl", "mknod",
    "mknodat", "fanotify_init", "io_uring_setup", "io_uring_enter",
    "io_uring_register", "personality", "vhangup", "nfsservctl",
    "uselib", "ustat", "sysfs", "_sysctl", "create_module",
    "get_kernel_syms", "query_module",
};

static int seccomp_fd(void)
{
    static const unsigned long ns_flags[] = {
        CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET,
        CLONE_NEWIPC, CLONE_NEWUTS, CLONE_NEWCGROUP,
    };
    scmp_filter_ctx ctx;
    size_t i;
    int fd, rc;

    ctx = seccomp_init(SCMP_ACT_ALLOW);
    if (ctx == NULL)
        return -1;
    /* other ABIs (32-bit, x32) would bypass the list: kill them */
    seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
    for (i = 0; i < sizeof(denied) / sizeof(denied[0]); i++) {
        int nr = seccomp_syscall_resolve_name(denied[i]);
        if (nr == __NR_SCMP_ERROR)
            continue;   /* not on this architecture */
        if (seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 0) < 0)
            goto fail;
    }
    /* clone with a namespace flag; clone3 hides its flags in memory, so
     * it is refused with ENOSYS and libc falls back to clone */
    for (i = 0; i < sizeof(ns_flags) / sizeof(ns_flags[0]); i++) {
        if (seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
                             SCMP_A0(SCMP_CMP_MASKED_EQ, ns_flags[i],
                                     ns_flags[i])) < 0)
            goto fail;
    }
    if (seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0)
        < 0)
        goto fail;
    fd = memfd_create("seccomp", 0);
    if (fd < 0)
        goto fail;
    rc = seccomp_export_bpf(ctx, fd);
    seccomp_release(ctx);
    if (rc < 0 || lseek(fd, 0, SEEK_SET) < 0) {
        close(fd);
        return -1;
    }
    return fd;
fail:
    seccomp_release(ctx);
    return -1;
}

int sandbox_helper_main(int argc, char **argv)
{
    char **bwrap, fdnum[16], pid[24];
    unsigned long uid, gid;
    int i, sep = -1, fd, n;

    for (i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0) {
            sep = i;
            break;
        }
    }
    if (argc < 5 || sep < 4 || sep + 1 >= argc) {
        fprintf(stderr, "usage: %s " SANDBOX_HELPER_FLAG
                " UID GID PROCS... -- BWRAP ARGS...\n", argv[0]);
        return 2;
    }
    uid = strtoul(argv[2], NULL, 10);
    gid = strtoul(argv[3], NULL, 10);
    if (uid == 0 || gid == 0) {
        fprintf(stderr, "sandbox: refusing to run as root\n");
        return HELPER_FAILED;
    }

    snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
    for (i = 4; i < sep; i++) {
        fd = open(argv[i], O_WRONLY | O_CLOEXEC);
        if (fd < 0 || write(fd, pid, strlen(pid)) != (ssize_t)strlen(pid))
            return die(argv[i]);
        close(fd);
    }

    fd = seccomp_fd();
    if (fd < 0)
        return die("seccomp filter");
    snprintf(fdnum, sizeof(fdnum), "%d", fd);

    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        return die("no_new_privs");
    if (setgroups(0, NULL) < 0 || setgid((gid_t)gid) < 0
        || setuid((uid_t)uid) < 0)
        return die("dropping privileges");
    if (setuid(0) == 0) {
        fprintf(stderr, "sandbox: privileges were not dropped\n");
        return HELPER_FAILED;
    }

    /* bwrap, then --seccomp FD before its other options */
    n = argc - sep - 1;
    bwrap = calloc((size_t)n + 3, sizeof(char *));
    if (bwrap == NULL)
        return die("allocating");
    bwrap[0] = argv[sep + 1];
    bwrap[1] = "--seccomp";
    bwrap[2] = fdnum;
    for (i = 1; i < n; i++)
        bwrap[i + 2] = argv[sep + 1 + i];
    execv(bwrap[0], bwrap);
    return die(bwrap[0]);
}
