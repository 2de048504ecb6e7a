
/*
 * HS256 JSON Web Tokens (RFC 7519), checked as RFC 8725 asks: the
 * algorithm is pinned (HS256; "none" and every other one are refused),
 * the signature is compared in constant time, "exp" is required (unless
 * the rules relax it) and "exp" and "nbf" are enforced with a small
 * leeway, a maximum lifetime can be set, and a malformed token is
 * refused, never trusted.  Plain C (no nginx types), so that unit tests
 * and a fuzzer call it directly.
 */


#ifndef _NGX_HTTP_FUNCTIONS_JWT_H_INCLUDED_
#define _NGX_HTTP_FUNCTIONS_JWT_H_INCLUDED_


#include <stddef.h>


#define FUNCTIONS_JWT_LEEWAY  30        /* seconds */


/*
 * What a valid token must also satisfy, beyond its signature.
 *
 * require_exp: a token without "exp" is refused (it would be valid
 * forever).  max_lifetime (seconds, 0: no limit): a token is refused when
 * "exp" - "iat" exceeds it ("iat" present), or when "exp" lies further
 * than max_lifetime (and the leeway) ahead of now, so that no accepted
 * token stays valid longer than that; "exp" is then required too.
 * check_iat: an "iat" (optional) must be a number and no later than now
 * (and the leeway): a token issued in the future is refused.
 */
struct functions_jwt_rules {
    int     require_exp;
    long    max_lifetime;
    int     check_iat;
};


/*
 * 0 if token is valid for key at time now under rules (NULL: "exp"
 * required, no maximum lifetime, "iat" not checked); -1 with a short
 * reason in err (safe to show a client: it names no secret).
 */
int functions_jwt_verify(const char *token, size_t len,
    const unsigned char *key, size_t key_len,
    const struct functions_jwt_rules *rules, long now, char *err,
    size_t err_len);


#endif /* _NGX_HTTP_FUNCTIONS_JWT_H_INCLUDED_ */
