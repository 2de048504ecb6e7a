
/*
 * HS256 JSON Web Tokens (RFC 7519), checked as RFC 8725 asks: the
 * algorithm is pinned (HS256; "none" and every other one are refused),
 * the signature is compared in constant time, "exp" and "nbf" are
 * enforced with a small leeway when present, and a malformed token is
 * refused, never trusted.  Plain C (no nginx types), so that unit tests
 * and a fuzzer call it directly.
 */


#ifndef _NGX_HTTP_FUNCTIONS_JWT_H_INCLUDED_
#define _NGX_HTTP_FUNCTIONS_JWT_H_INCLUDED_


#include <stddef.h>


#define FUNCTIONS_JWT_LEEWAY  30        /* seconds */


/*
 * 0 if token is valid for key at time now; -1 with a short reason in err
 * (safe to show a client: it names no secret).
 */
int functions_jwt_verify(const char *token, size_t len,
    const unsigned char *key, size_t key_len, long now, char *err,
    size_t err_len);


#endif /* _NGX_HTTP_FUNCTIONS_JWT_H_INCLUDED_ */
