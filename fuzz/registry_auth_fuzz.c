/*
 * libFuzzer harness: a registry's WWW-Authenticate challenge and the
 * credentials file (executor/image/registry_auth.c).  The first byte
 * picks the parser.  What parses is terminated and within its fields; a
 * refused credentials file never shows a password in its message.
 */
#include "registry_auth.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct registry_cred creds[REGISTRY_CREDS_MAX];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct www_auth a;
    char err[256];
    size_t n, i;

    if (size == 0)
        return 0;
    if (data[0] & 1) {
        if (www_auth_parse((const char *)data + 1, size - 1, &a) == 0
            && (strlen(a.realm) >= sizeof(a.realm)
                || (a.scheme != WWW_AUTH_BASIC
                    && a.scheme != WWW_AUTH_BEARER)))
            abort();
        return 0;
    }
    if (registry_creds_parse((const char *)data + 1, size - 1, creds,
                             REGISTRY_CREDS_MAX, &n, err, sizeof(err)) == 0) {
        for (i = 0; i < n; i++) {
            if (creds[i].password[0] == '\0' || creds[i].user[0] == '\0'
                || strchr(creds[i].user, ':') != NULL)
                abort();
        }
    }
    return 0;
}
