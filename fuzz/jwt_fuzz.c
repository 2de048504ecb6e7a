/*
 * libFuzzer harness: any bytes as the token of a route with a jwt_key, or,
 * when they start with '{' (as no token does), as the claims of a token
 * the harness signs with that key.
 *
 * The fuzzer cannot sign what it makes (a token in the seed corpus is
 * signed with the key, but a mutation breaks its signature), so without
 * the second way the claim checks would hardly run.  What must hold:
 *
 *   - a refused token comes with a reason;
 *   - a token is accepted only if its signature is the key's HMAC-SHA256
 *     of its first two parts, in canonical base64url: the fuzzer never
 *     forges or reshapes one, and another key refuses it;
 *   - a token the harness signed is never refused for its form or its
 *     signature, only for its claims;
 *   - rules only ever refuse more: a token accepted under any rules is
 *     accepted under none ({ 0, 0, 0 }); no rules (NULL) are the
 *     defaults ({ 1, 0, 0 });
 *   - an accepted token's claims allow it: "exp" not passed, present when
 *     required, "nbf" (and, when checked, "iat") not ahead of now, all
 *     with the leeway;
 *   - under a maximum lifetime, no accepted token is still accepted once
 *     that lifetime and the leeway (on either side) have passed.
 */
#include "ngx_http_functions_jwt.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOW 1800000000L
#define KEY "key"
#define KEY_LEN 3
#define HEADER "{\"alg\":\"HS256\",\"typ\":\"JWT\"}"
#define CLAIMS_MAX 2048         /* signed, far below the longest token */
#define RULES 6

/* the loosest first; NULL: the defaults ("exp" required) */
static const struct functions_jwt_rules *const rules[RULES] = {
    &(struct functions_jwt_rules) { 0, 0, 0 },
    &(struct functions_jwt_rules) { 1, 0, 0 },
    &(struct functions_jwt_rules) { 1, 3600, 0 },
    &(struct functions_jwt_rules) { 1, 0, 1 },
    &(struct functions_jwt_rules) { 0, 3600, 1 },
    NULL,
};

static void broken(const char *what, const char *token, size_t len)
{
    fprintf(stderr, "jwt_fuzz: %s: \"%.*s\"\n", what, (int)len, token);
    abort();
}

static size_t b64url(const unsigned char *in, size_t len, char *out)
{
    static const char digits[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    unsigned long acc = 0;
    size_t i, n = 0;
    int bits = 0;

    for (i = 0; i < len; i++) {
        acc = (acc << 8 | in[i]) & 0xffff;
        for (bits += 8; bits >= 6; bits -= 6)
            out[n++] = digits[(acc >> (bits - 6)) & 63];
    }
    if (bits > 0)
        out[n++] = digits[(acc << (6 - bits)) & 63];
    return n;
}

/* The signature part the key gives to the first len bytes of a token. */
static size_t signature(const char *signed_part, size_t len, char *out)
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len;

    if (HMAC(EVP_sha256(), KEY, KEY_LEN, (const unsigned char *)signed_part,
             len, mac, &mac_len) == NULL)
        abort();
    return b64url(mac, mac_len, out);
}

/* Accepted: the signature is the key's own, in its one spelling. */
static void check_signed(const char *token, size_t len)
{
    const char *dot = memchr(token, '.', len), *last = NULL;
    char sig[EVP_MAX_MD_SIZE * 4 / 3 + 4];
    size_t n;

    while (dot != NULL) {
        last = dot;
        dot = memchr(dot + 1, '.', len - (size_t)(dot + 1 - token));
    }
    if (last == NULL)
        broken("accepted without a signature", token, len);
    n = signature(token, (size_t)(last - token), sig);
    if (len - (size_t)(last + 1 - token) != n
        || memcmp(last + 1, sig, n) != 0)
        broken("accepted without the key's signature", token, len);
}

/* What the claims themselves say of an accepted token. */
static void check_claims(const uint8_t *claims, size_t size,
                         const struct functions_jwt_rules *r,
                         const char *token, size_t len)
{
    int require_exp = r ? (r->require_exp || r->max_lifetime > 0) : 1;
    json_t *c = json_loadb((const char *)claims, size,
                           JSON_REJECT_DUPLICATES, NULL);
    json_t *exp = json_object_get(c, "exp");
    json_t *nbf = json_object_get(c, "nbf");
    json_t *iat = json_object_get(c, "iat");

    if (!json_is_object(c))
        broken("accepted with claims that are no object", token, len);
    if (exp == NULL ? require_exp
                    : (!json_is_number(exp)
                       || (double)NOW
                          >= json_number_value(exp) + FUNCTIONS_JWT_LEEWAY))
        broken("accepted without a valid \"exp\"", token, len);
    if (nbf != NULL && (!json_is_number(nbf)
                        || (double)NOW + FUNCTIONS_JWT_LEEWAY
                           < json_number_value(nbf)))
        broken("accepted before its \"nbf\"", token, len);
    if (r != NULL && r->check_iat && iat != NULL
        && (!json_is_number(iat)
            || (double)NOW + FUNCTIONS_JWT_LEEWAY < json_number_value(iat)))
        broken("accepted before its \"iat\"", token, len);
    json_decref(c);
}

/*
 * Verifies token under every set of rules; claims (size bytes) are its
 * payload when the harness signed it, else NULL.
 */
static void check(const char *token, size_t len, const uint8_t *claims,
                  size_t size)
{
    char err[128];
    int rc[RULES], any = 0;
    size_t i;

    for (i = 0; i < RULES; i++) {
        err[0] = '\0';
        rc[i] = functions_jwt_verify(token, len, (const unsigned char *)KEY,
                                     KEY_LEN, rules[i], NOW, err,
                                     sizeof(err));
        if (rc[i] < 0 && err[0] == '\0')
            broken("refused without a reason", token, len);
        if (rc[i] < 0 && claims != NULL
            && (strcmp(err, "malformed token") == 0
                || strcmp(err, "token algorithm is not HS256") == 0
                || strcmp(err, "bad token signature") == 0))
            broken("a token the key signed is refused for its form",
                   token, len);
        if (rc[i] < 0)
            continue;
        any = 1;
        if (claims != NULL)
            check_claims(claims, size, rules[i], token, len);
        if (rules[i] != NULL && rules[i]->max_lifetime > 0
            && functions_jwt_verify(token, len, (const unsigned char *)KEY,
                                    KEY_LEN, rules[i],
                                    NOW + rules[i]->max_lifetime
                                    + 2 * FUNCTIONS_JWT_LEEWAY, err,
                                    sizeof(err)) == 0)
            broken("accepted after its maximum lifetime", token, len);
    }
    if (!any)
        return;
    check_signed(token, len);
    if (rc[0] < 0)
        broken("accepted under rules, refused without any", token, len);
    if (rc[1] != rc[RULES - 1])
        broken("no rules and their defaults disagree", token, len);
    if (functions_jwt_verify(token, len, (const unsigned char *)"kez",
                             KEY_LEN, rules[0], NOW, err, sizeof(err)) == 0)
        broken("accepted under another key", token, len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char token[(sizeof(HEADER) + CLAIMS_MAX) * 4 / 3 + 64];
    size_t n;

    /* a token never starts with '{': that is a JSON object to sign */
    if (size == 0 || data[0] != '{') {
        check((const char *)data, size, NULL, 0);
        return 0;
    }
    if (size > CLAIMS_MAX)
        return 0;
    n = b64url((const unsigned char *)HEADER, sizeof(HEADER) - 1, token);
    token[n++] = '.';
    n += b64url(data, size, token + n);
    token[n] = '.';
    n += 1 + signature(token, n, token + n + 1);
    check(token, n, data, size);
    return 0;
}
