/*
 * The first process of every sandbox, run as
 *
 *     functions-executor --sandbox-helper UID GID PROCS... -- BWRAP ARGS...
 *
 * It joins the sandbox's cgroups (so that nothing the function starts can
 * escape them), builds the seccomp filter, sets no_new_privs, drops to the
 * unprivileged UID and GID, and executes bubblewrap with the filter.
 */
#ifndef EXECUTOR_SANDBOX_HELPER_H
#define EXECUTOR_SANDBOX_HELPER_H

#define SANDBOX_HELPER_FLAG "--sandbox-helper"

int sandbox_helper_main(int argc, char **argv);

#endif
