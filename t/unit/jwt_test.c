/*
 * HS256 JSON Web Tokens as routes with a jwt_key require them.
 */
#include "ngx_http_functions_jwt.h"
#include "tap.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <string.h>

#define NOW 1800000000L

static const unsigned char key[] = "route secret";

static size_t b64url(const unsigned char *in, size_t len, char *out)
{
    static const char a[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t i, n = 0;
    unsigned long acc = 0;
    int bits = 0;

    for (i = 0; i < len; i++) {
        acc = (acc << 8) | in[i];
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            out[n++] = a[(acc >> bits) & 63];
        }
    }
    if (bits > 0)
        out[n++] = a[(acc << (6 - bits)) & 63];
    out[n] = '\0';
    return n;
}

/* header.payload.signature, signed with k */
static void make(char *tok, const char *header, const char *payload,
                 const unsigned char *k, size_t klen)
{
    unsigned char mac[32];
    unsigned int maclen;
    size_t n;

    n = b64url((const unsigned char *)header, strlen(header), tok);
    tok[n++] = '.';
    n += b64url((const unsigned char *)payload, strlen(payload), tok + n);
    HMAC(EVP_sha256(), k, (int)klen, (unsigned char *)tok, n, mac, &maclen);
    tok[n++] = '.';
    b64url(mac, maclen, tok + n);
}

/* "exp" not required: most cases below are about something else */
static const struct functions_jwt_rules relaxed = { 0, 0, 0 };

static int verify_rules(const char *tok, const struct functions_jwt_rules *r,
                        char *err)
{
    return functions_jwt_verify(tok, strlen(tok), key, sizeof(key) - 1, r,
                                NOW, err, 128);
}

static int verify(const char *tok, char *err)
{
    return verify_rules(tok, &relaxed, err);
}

int main(void)
{
    const char *hs = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
    char tok[4096], err[128], payload[256];

    make(tok, hs, "{\"sub\":\"x\"}", key, sizeof(key) - 1);
    is_int(verify(tok, err), 0, "a token signed with the key");

    snprintf(payload, sizeof(payload), "{\"exp\":%ld,\"nbf\":%ld}",
             NOW + 60, NOW - 60);
    make(tok, hs, payload, key, sizeof(key) - 1);
    is_int(verify(tok, err), 0, "inside exp and nbf");

    make(tok, hs, "{}", (const unsigned char *)"other", 5);
    ok(verify(tok, err) < 0 && strcmp(err, "bad token signature") == 0,
       "another key: refused");

    make(tok, "{\"alg\":\"none\"}", "{}", key, sizeof(key) - 1);
    ok(verify(tok, err) < 0 && strstr(err, "HS256") != NULL,
       "alg none: refused");
    make(tok, "{\"alg\":\"HS512\"}", "{}", key, sizeof(key) - 1);
    ok(verify(tok, err) < 0 && strstr(err, "HS256") != NULL,
       "HS512: refused");
    make(tok, "{\"typ\":\"JWT\"}", "{}", key, sizeof(key) - 1);
    ok(verify(tok, err) < 0, "no alg: refused");

    snprintf(payload, sizeof(payload), "{\"exp\":%ld}", NOW - 31);
    make(tok, hs, payload, key, sizeof(key) - 1);
    ok(verify(tok, err) < 0 && strcmp(err, "token has expired") == 0,
       "expired beyond the leeway: refused");
    snprintf(payload, sizeof(payload), "{\"exp\":%ld}", NOW - 10);
    make(tok, hs, payload, key, sizeof(key) - 1);
    is_int(verify(tok, err), 0, "expired within the leeway: accepted");
    snprintf(payload, sizeof(payload), "{\"nbf\":%ld}", NOW + 31);
    make(tok, hs, payload, key, sizeof(key) - 1);
    ok(verify(tok, err) < 0 && strcmp(err, "token is not valid yet") == 0,
       "not valid yet: refused");
    make(tok, hs, "{\"exp\":\"tomorrow\"}", key, sizeof(key) - 1);
    ok(verify(tok, err) < 0 && strstr(err, "claims") != NULL,
       "exp not a number: refused");
    make(tok, hs, "[1,2]", key, sizeof(key) - 1);
    ok(verify(tok, err) < 0, "claims not an object: refused");
    make(tok, hs, "{\"a\":1,\"a\":2}", key, sizeof(key) - 1);
    ok(verify(tok, err) < 0, "duplicate claims: refused");

    make(tok, hs, "{}", key, sizeof(key) - 1);
    tok[strlen(tok) - 1] ^= 1;
    ok(verify(tok, err) < 0, "a flipped signature bit: refused");
    make(tok, hs, "{}", key, sizeof(key) - 1);
    strcat(tok, "A");
    ok(verify(tok, err) < 0, "a longer signature: refused");

    ok(verify("", err) < 0, "empty: refused");
    ok(verify("abc", err) < 0, "one segment: refused");
    ok(verify("a.b", err) < 0, "two segments: refused");
    ok(verify("a.b.c.d", err) < 0, "four segments: refused");
    ok(verify("!!!.e30.xyz", err) < 0, "not base64url: refused");
    ok(verify("e30.e30.", err) < 0, "no signature: refused");

    /* "exp" required: by default (NULL rules) and when asked */
    {
        const struct functions_jwt_rules strict = { 1, 0, 0 };

        make(tok, hs, "{\"sub\":\"x\"}", key, sizeof(key) - 1);
        ok(verify_rules(tok, NULL, err) < 0
           && strcmp(err, "token has no expiry") == 0,
           "no exp, default rules: refused");
        ok(verify_rules(tok, &strict, err) < 0
           && strcmp(err, "token has no expiry") == 0,
           "no exp, exp required: refused");
        is_int(verify_rules(tok, &relaxed, err), 0,
               "no exp, exp not required: accepted");
        snprintf(payload, sizeof(payload), "{\"exp\":%ld}", NOW + 60);
        make(tok, hs, payload, key, sizeof(key) - 1);
        is_int(verify_rules(tok, NULL, err), 0,
               "with exp, default rules: accepted");
        snprintf(payload, sizeof(payload), "{\"exp\":%ld}", NOW - 31);
        make(tok, hs, payload, key, sizeof(key) - 1);
        ok(verify_rules(tok, &strict, err) < 0
           && strcmp(err, "token has expired") == 0,
           "expired, exp required: expired");
        make(tok, hs, "{\"exp\":null}", key, sizeof(key) - 1);
        ok(verify_rules(tok, &strict, err) < 0
           && strcmp(err, "malformed token claims") == 0,
           "exp null: malformed");
    }

    /* a maximum lifetime of an hour */
    {
        const struct functions_jwt_rules hour = { 0, 3600, 0 };

        snprintf(payload, sizeof(payload), "{\"iat\":%ld,\"exp\":%ld}",
                 NOW - 60, NOW + 3540);
        make(tok, hs, payload, key, sizeof(key) - 1);
        is_int(verify_rules(tok, &hour, err), 0,
               "iat to exp: exactly the maximum: accepted");
        snprintf(payload, sizeof(payload), "{\"iat\":%ld,\"exp\":%ld}",
                 NOW - 60, NOW + 3541);
        make(tok, hs, payload, key, sizeof(key) - 1);
        ok(verify_rules(tok, &hour, err) < 0
           && strcmp(err, "token lifetime is too long") == 0,
           "iat to exp: a second over: refused");
        snprintf(payload, sizeof(payload), "{\"iat\":%ld,\"exp\":%ld}",
                 NOW - 86400, NOW + 60);
        make(tok, hs, payload, key, sizeof(key) - 1);
        ok(verify_rules(tok, &hour, err) < 0
           && strcmp(err, "token lifetime is too long") == 0,
           "issued for a day, a minute left: refused all the same");
        snprintf(payload, sizeof(payload), "{\"exp\":%ld}", NOW + 3600);
        make(tok, hs, payload, key, sizeof(key) - 1);
        is_int(verify_rules(tok, &hour, err), 0,
               "no iat, an hour left: accepted");
        snprintf(payload, sizeof(payload), "{\"exp\":%ld}",
                 NOW + 3600 + 31);
        make(tok, hs, payload, key, sizeof(key) - 1);
        ok(verify_rules(tok, &hour, err) < 0
           && strcmp(err, "token lifetime is too long") == 0,
           "no iat, over an hour left: refused");
        snprintf(payload, sizeof(payload), "{\"iat\":%ld,\"exp\":%ld}",
                 NOW + 86400, NOW + 86400 + 60);
        make(tok, hs, payload, key, sizeof(key) - 1);
        ok(verify_rules(tok, &hour, err) < 0
           && strcmp(err, "token lifetime is too long") == 0,
           "iat in the future, exp a day away: refused");
        make(tok, hs, "{\"sub\":\"x\"}", key, sizeof(key) - 1);
        ok(verify_rules(tok, &hour, err) < 0
           && strcmp(err, "token has no expiry") == 0,
           "a maximum lifetime needs exp, even when exp is not required");
        snprintf(payload, sizeof(payload),
                 "{\"iat\":\"now\",\"exp\":%ld}", NOW + 60);
        make(tok, hs, payload, key, sizeof(key) - 1);
        ok(verify_rules(tok, &hour, err) < 0
           && strcmp(err, "malformed token claims") == 0,
           "iat not a number: malformed");
        snprintf(payload, sizeof(payload), "{\"iat\":%ld,\"exp\":%ld}",
                 NOW - 7200, NOW + 60);
        make(tok, hs, payload, key, sizeof(key) - 1);
        is_int(verify_rules(tok, &relaxed, err), 0,
               "without a maximum, any lifetime");
    }

    /* "iat" checked (API JWTs, as the fn CLI signs them) */
    {
        const struct functions_jwt_rules api = { 1, 0, 1 };

        snprintf(payload, sizeof(payload),
                 "{\"exp\":%ld,\"iat\":%ld,\"nbf\":%ld}",
                 NOW + 3600, NOW, NOW - 60);
        make(tok, hs, payload, key, sizeof(key) - 1);
        is_int(verify_rules(tok, &api, err), 0,
               "iat checked: the fn CLI's claims: accepted");
        snprintf(payload, sizeof(payload), "{\"exp\":%ld,\"iat\":%ld}",
                 NOW + 3600, NOW + 30);
        make(tok, hs, payload, key, sizeof(key) - 1);
        is_int(verify_rules(tok, &api, err), 0,
               "iat checked: issued within the leeway ahead: accepted");
        snprintf(payload, sizeof(payload), "{\"exp\":%ld,\"iat\":%ld}",
                 NOW + 3600, NOW + 31);
        make(tok, hs, payload, key, sizeof(key) - 1);
        ok(verify_rules(tok, &api, err) < 0
           && strcmp(err, "token is issued in the future") == 0,
           "iat checked: issued in the future: refused");
        is_int(verify_rules(tok, NULL, err), 0,
               "iat not checked (default rules): the same token accepted");
        snprintf(payload, sizeof(payload),
                 "{\"exp\":%ld,\"iat\":\"now\"}", NOW + 3600);
        make(tok, hs, payload, key, sizeof(key) - 1);
        ok(verify_rules(tok, &api, err) < 0
           && strcmp(err, "malformed token claims") == 0,
           "iat checked: iat not a number: malformed");
        snprintf(payload, sizeof(payload), "{\"exp\":%ld}", NOW + 3600);
        make(tok, hs, payload, key, sizeof(key) - 1);
        is_int(verify_rules(tok, &api, err), 0,
               "iat checked: no iat: accepted");
        snprintf(payload, sizeof(payload), "{\"exp\":%ld,\"iat\":%ld}",
                 NOW + 3600, NOW + 3000);
        make(tok, hs, payload, key, sizeof(key) - 1);
        ok(verify_rules(tok, &api, err) < 0
           && strcmp(err, "token is issued in the future") == 0,
           "iat checked: an hour ahead, still within exp: refused");
    }

    return done_testing();
}
