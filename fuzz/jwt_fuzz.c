/*
 * libFuzzer harness: any bytes as the token of a route with a jwt_key.
 */
#include "ngx_http_functions_jwt.h"

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const unsigned char key[] = "key";
    char err[128];

    functions_jwt_verify((const char *)data, size, key, 3, 1800000000L, err,
                         sizeof(err));
    return 0;
}
