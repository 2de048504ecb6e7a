/*
 * The seccomp filter of every sandbox: built once when the executor
 * starts, handed to each sandbox as a memfd that bubblewrap loads
 * (--seccomp FD) after its own setup.
 */
#ifndef EXECUTOR_SECCOMP_FILTER_H
#define EXECUTOR_SECCOMP_FILTER_H

#include <stddef.h>

/* Compiles the filter to BPF; *bpf is malloc'd.  0, or -1. */
int seccomp_filter_build(char **bpf, size_t *len);

/* A new memfd (close-on-exec) holding bpf, at offset 0; or -1. */
int seccomp_filter_fd(const char *bpf, size_t len);

#endif
