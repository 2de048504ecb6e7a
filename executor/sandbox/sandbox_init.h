/*
 * The init process of a sandbox (pid 1 of its pid namespace), part of the
 * static sandbox helper.  It runs one function process per RUN message
 * from the executor, then removes everything that process left (other
 * processes, files in /tmp and /dev/shm, System V IPC objects) so the
 * next call finds the sandbox as it was, and answers DONE.
 */
#ifndef EXECUTOR_SANDBOX_INIT_H
#define EXECUTOR_SANDBOX_INIT_H

/* Serves the executor on ctl until it closes; returns the exit status. */
int sandbox_init(int ctl);

#endif
