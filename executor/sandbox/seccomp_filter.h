/*
 * The seccomp filter of every sandbox: built once when the executor
 * starts, handed to each sandbox as a memfd that bubblewrap loads
 * (--seccomp FD) after its own setup, before it runs the sandbox's init.
 * An allowlist; docs/seccomp.md says what it allows and why.
 */
#ifndef EXECUTOR_SECCOMP_FILTER_H
#define EXECUTOR_SECCOMP_FILTER_H

#include <stddef.h>

/*
 * Compiles the filter to BPF; *bpf is malloc'd.  allow_network: AF_INET
 * and AF_INET6 sockets may be made (the sandbox shares the host's
 * network), else only AF_UNIX ones.  0, or -1.
 */
int seccomp_filter_build(int allow_network, char **bpf, size_t *len);

/* A new memfd (close-on-exec) holding bpf, at offset 0; or -1. */
int seccomp_filter_fd(const char *bpf, size_t len);

#endif
