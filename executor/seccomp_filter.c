/*
 * The seccomp filter of every sandbox, built once with libseccomp.
 */
#include "seccomp_filter.h"

#include <errno.h>
#include <sched.h>
#include <seccomp.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

/*
 * Refused with EPERM: what changes mounts, namespaces, the kernel or other
 * processes, and POSIX message queues.  Everything else is allowed; the
 * sandbox's namespaces, cgroup and unprivileged uid bound the rest.
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
    /* POSIX message queues would outlive a call in a reused sandbox, and
     * nothing in it can list them to remove them */
    "mq_open",
};

int seccomp_filter_build(char **bpf, size_t *len)
{
    static const unsigned long ns_flags[] = {
        CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET,
        CLONE_NEWIPC, CLONE_NEWUTS, CLONE_NEWCGROUP,
    };
    scmp_filter_ctx ctx;
    off_t size;
    size_t i;
    int fd = -1, rc;

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
    /* libseccomp writes the program to a file descriptor: read it back */
    fd = memfd_create("seccomp", MFD_CLOEXEC);
    if (fd < 0)
        goto fail;
    rc = seccomp_export_bpf(ctx, fd);
    seccomp_release(ctx);
    ctx = NULL;
    size = lseek(fd, 0, SEEK_END);
    if (rc < 0 || size <= 0 || lseek(fd, 0, SEEK_SET) < 0)
        goto fail;
    *bpf = malloc((size_t)size);
    if (*bpf == NULL || read(fd, *bpf, (size_t)size) != size) {
        free(*bpf);
        *bpf = NULL;
        goto fail;
    }
    *len = (size_t)size;
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
