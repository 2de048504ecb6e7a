/*
 * The socket files the executor listens on (unix_socket.c).
 */
#ifndef EXECUTOR_UNIX_SOCKET_H
#define EXECUTOR_UNIX_SOCKET_H

#include "config.h"

#include <stddef.h>

/* A socket file (of type, SOCK_STREAM...) at path left by an earlier run
 * is removed (one that still answers is not: -1).  0, or -1 with err. */
int unix_socket_clear_stale(const char *path, int type, char *err,
                            size_t errlen);

/* The socket file at path gets cfg's listen_group and listen_mode. */
int unix_socket_access(const char *path, const struct config *cfg,
                       char *err, size_t errlen);

#endif
