/*
 * libFuzzer harness: any bytes as the token of a route with a jwt_key.
 */
#include "ngx_http_functions_jwt.h"

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const unsigned char key[] = "key";
    static const struct functions_jwt_rules rules[] = {
        { 1, 0, 0 }, { 0, 0, 0 }, { 1, 3600, 0 }, { 1, 0, 1 },
        { 0, 3600, 1 },
    };
    char err[128];
    size_t i;

    for (i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
        functions_jwt_verify((const char *)data, size, key, 3, &rules[i],
                             1800000000L, err, sizeof(err));
    }
    functions_jwt_verify((const char *)data, size, key, 3, NULL, 1800000000L,
                         err, sizeof(err));
    return 0;
}
