/*
 * What registries ask and what the executor answers with: the
 * WWW-Authenticate challenge of a 401, and the credentials file
 * (registry_credentials_file).  Pure: unit-tested and fuzzed.
 */
#ifndef EXECUTOR_REGISTRY_AUTH_H
#define EXECUTOR_REGISTRY_AUTH_H

#include <stddef.h>

#define REGISTRY_CREDS_MAX 64           /* registries in the file */

enum www_auth_scheme {
    WWW_AUTH_NONE,                      /* none this executor speaks */
    WWW_AUTH_BASIC,
    WWW_AUTH_BEARER,
};

/* The first challenge of a WWW-Authenticate value the executor speaks. */
struct www_auth {
    enum www_auth_scheme scheme;
    char realm[1024];
    char service[256];
    char scope[512];
};

/*
 * Parses a WWW-Authenticate value: challenges ("Basic realm=..." or
 * "Bearer realm=...,service=...,scope=..."), parameters as tokens or
 * quoted strings.  0 with the first Basic or Bearer challenge in *out;
 * -1 when the value is malformed or holds neither.
 */
int www_auth_parse(const char *value, size_t len, struct www_auth *out);

struct registry_cred {
    char registry[256];                 /* host[:port] */
    char user[256];
    char password[512];
};

/*
 * Parses the credentials file: a line "host[:port] user password" per
 * registry (the password is the rest of the line, spaces and all, but
 * not its ends), '#' comments, empty lines.  0 with *n entries in out
 * (at most max), or -1 with a message naming the line in err (never the
 * password).
 */
int registry_creds_parse(const char *text, size_t len,
                         struct registry_cred *out, size_t max, size_t *n,
                         char *err, size_t errlen);

#endif
