/* Registry challenges and credentials (executor/image/registry_auth.c). */
#include "registry_auth.h"
#include "tap.h"

#include <stdio.h>
#include <string.h>

static struct www_auth a;

static int parse(const char *s)
{
    return www_auth_parse(s, strlen(s), &a);
}

int main(void)
{
    struct registry_cred c[4];
    char err[256];
    size_t n;

    ok(parse("Bearer realm=\"https://auth.docker.io/token\","
             "service=\"registry.docker.io\","
             "scope=\"repository:library/hello:pull\"") == 0, "Docker Hub's");
    is_int(a.scheme, WWW_AUTH_BEARER, "  Bearer");
    is_str(a.realm, "https://auth.docker.io/token", "  realm");
    is_str(a.service, "registry.docker.io", "  service");
    is_str(a.scope, "repository:library/hello:pull", "  scope");
    ok(parse("Basic realm=\"basic-realm\"") == 0 && a.scheme == WWW_AUTH_BASIC
       && strcmp(a.realm, "basic-realm") == 0, "Basic, with its realm");
    ok(parse("basic") == 0 && a.scheme == WWW_AUTH_BASIC, "a scheme alone, "
       "any case");
    ok(parse("Negotiate, Bearer realm=x, service = \"a\\\"b\"") == 0
       && a.scheme == WWW_AUTH_BEARER && strcmp(a.realm, "x") == 0
       && strcmp(a.service, "a\"b") == 0,
       "the first challenge spoken; tokens, spaces and escapes");
    ok(parse("Digest realm=\"x\", nonce=\"y\", Basic realm=\"z\"") == 0
       && a.scheme == WWW_AUTH_BASIC && strcmp(a.realm, "z") == 0,
       "after another scheme's parameters");
    ok(parse("Bearer service=x") == -1, "Bearer without a realm");
    ok(parse("Digest realm=x") == -1, "no scheme spoken");
    ok(parse("Bearer realm=\"unterminated") == -1, "an open quote");
    ok(parse("Bearer realm=\"a\x01b\"") == -1, "a control byte");
    ok(parse("") == -1, "empty");
    ok(parse("Bearer realm=,") == -1, "an empty value");
    {
        char big[2100];

        memset(big, 'a', sizeof(big));
        memcpy(big, "Bearer realm=", 13);
        big[sizeof(big) - 1] = '\0';
        ok(parse(big) == -1, "a realm too long");
    }

    {
        static const char file[] = "# creds\n\nreg.example.com:5000 ci "
                                   "s3 cret \n127.0.0.1:5000\tbob\tpw\r\n";

        if (!ok(registry_creds_parse(file, sizeof(file) - 1, c, 4, &n, err,
                                     sizeof(err)) == 0, "a credentials file"))
            printf("#   %s\n", err);
    }
    is_int(n, 2, "  two registries");
    is_str(c[0].registry, "reg.example.com:5000", "  the first's registry");
    is_str(c[0].user, "ci", "  user");
    is_str(c[0].password, "s3 cret", "  the password: the rest, trimmed");
    is_str(c[1].password, "pw", "  tabs and CRLF");
    ok(registry_creds_parse("a.b x\n", 6, c, 4, &n, err, sizeof(err)) == -1
       && strstr(err, "line 1: a password") != NULL, "no password");
    ok(registry_creds_parse("a/b x y\n", 8, c, 4, &n, err, sizeof(err)) == -1
       && strstr(err, "not host[:port]") != NULL, "not a registry");
    ok(registry_creds_parse("a.b x:y z\n", 10, c, 4, &n, err,
                            sizeof(err)) == -1
       && strstr(err, "user name") != NULL, "a colon in the user");
    ok(registry_creds_parse("a.b x y\nA.B u v\n", 16, c, 4, &n, err,
                            sizeof(err)) == -1
       && strstr(err, "line 2: A.B is given twice") != NULL, "twice");
    ok(registry_creds_parse("a.b x top-secret\x01\n", 18, c, 4, &n, err,
                            sizeof(err)) == -1
       && strstr(err, "top-secret") == NULL, "a bad password is not echoed");
    ok(registry_creds_parse("a x y\nb x y\n", 12, c, 1, &n, err,
                            sizeof(err)) == -1
       && strstr(err, "more than 1") != NULL, "too many");
    return done_testing();
}
