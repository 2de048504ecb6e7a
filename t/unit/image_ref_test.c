/* Image references (common/image_ref.c): Docker's grammar and defaults. */
#include "image_ref.h"
#include "tap.h"

#include <string.h>

#define HUB "registry-1.docker.io"

static void parses(const char *s, const char *registry, const char *repo,
                   const char *tag, const char *digest)
{
    struct image_ref r;
    char err[256] = "";

    if (image_ref_parse(s, HUB, "library", &r, err, sizeof(err)) != 0) {
        ok(0, "%s parses (%s)", s, err);
        return;
    }
    is_str(r.registry, registry, "%s: registry", s);
    is_str(r.repository, repo, "%s: repository", s);
    is_str(r.tag, tag, "%s: tag", s);
    is_str(r.digest, digest, "%s: digest", s);
}

static void refused(const char *s, const char *why, const char *name)
{
    struct image_ref r;
    char err[256] = "";

    ok(image_ref_parse(s, HUB, "library", &r, err, sizeof(err)) == -1,
       "refused: %s", name);
    ok(strstr(err, why) != NULL, "  saying \"%s\" (%s)", why, err);
}

int main(void)
{
    static const char d[] = "sha256:0123456789abcdef0123456789abcdef"
                            "0123456789abcdef0123456789abcdef";
    char long_ref[600], at[128];
    struct image_ref r;
    char err[256];

    parses("hello", HUB, "library/hello", "latest", "");
    parses("iron/hello", HUB, "iron/hello", "latest", "");
    parses("iron/hello:0.1.2", HUB, "iron/hello", "0.1.2", "");
    parses("registry.example.com:5000/team/thumbnail:1.2",
           "registry.example.com:5000", "team/thumbnail", "1.2", "");
    parses("localhost/fn", "localhost", "fn", "latest", "");
    parses("127.0.0.1:5000/a/b/c", "127.0.0.1:5000", "a/b/c", "latest", "");
    parses("a.b/x__y-z", "a.b", "x__y-z", "latest", "");
    parses("a-b--c.d_e", HUB, "library/a-b--c.d_e", "latest", "");
    /* Docker Hub's own names for itself, as Docker reads them */
    parses("docker.io/alpine", HUB, "library/alpine", "latest", "");
    parses("docker.io/iron/hello:1", HUB, "iron/hello", "1", "");
    parses("index.docker.io/alpine:3", HUB, "library/alpine", "3", "");
    parses("Docker.IO/alpine", HUB, "library/alpine", "latest", "");
    parses("docker.io:443/alpine", "docker.io:443", "alpine", "latest", "");
    ok(image_ref_parse("docker.io/x", "reg.example.com", "", &r, err,
                       sizeof(err)) == 0
       && strcmp(r.registry, HUB) == 0
       && strcmp(r.repository, "library/x") == 0,
       "docker.io/x: Docker Hub's library/x whatever the default");
    snprintf(at, sizeof(at), "iron/hello@%s", d);
    parses(at, HUB, "iron/hello", "", d);
    snprintf(at, sizeof(at), "iron/hello:1@%s", d);
    parses(at, HUB, "iron/hello", "1", d);
    parses("Reg.Example.com/x:_T.1-a", "Reg.Example.com", "x", "_T.1-a", "");

    ok(image_ref_parse("x", HUB, "", &r, err, sizeof(err)) == 0
       && strcmp(r.repository, "x") == 0, "no namespace: as written");
    ok(image_ref_parse("x", "", "library", &r, err, sizeof(err)) == -1
       && strstr(err, "no default registry") != NULL,
       "no registry and no default: refused");

    refused("", "empty", "empty");
    refused("Hello", "no repository name", "upper case in a repository");
    refused("iron//hello", "no repository name", "an empty component");
    refused("iron/hello/", "no repository name", "a trailing slash");
    refused("/hello", "no repository name", "a leading slash");
    refused("iron/.hello", "no repository name", "a leading separator");
    refused("iron/he...llo", "no repository name", "two dots");
    refused("iron/he___llo", "no repository name", "three underscores");
    refused("iron/hello:", "tag", "an empty tag");
    refused("iron/hello:.x", "tag", "a tag starting with a dot");
    refused("iron/hello:a/b", "no repository name", "a slash after a colon");
    refused("iron/hello@sha256:abc", "digest", "a short digest");
    refused("iron/hello@md5:0123456789abcdef0123456789abcdef", "digest",
            "another algorithm");
    refused("iron/hello@sha256:0123456789ABCDEF0123456789abcdef"
            "0123456789abcdef0123456789abcdef", "digest", "upper-case hex");
    refused("reg.example.com:0/x", "registry", "port 0");
    refused("reg.example.com:65536/x", "registry", "port 65536");
    refused("reg.example.com:/x", "registry", "an empty port");
    refused("reg.example.com:5x/x", "registry", "a port with a letter");
    refused("-reg.example.com/x", "registry", "a label starting with a dash");
    refused("reg..example.com/x", "registry", "an empty label");
    refused("[::1]:5000/x", "registry", "an IPv6 literal");
    refused("iron/hel lo", "space", "a space");
    refused("iron/hel\nlo", "control", "a newline");
    refused("iron/h\xc3\xa9llo", "non-ASCII", "UTF-8");
    memset(long_ref, 'a', sizeof(long_ref) - 1);
    long_ref[sizeof(long_ref) - 1] = '\0';
    refused(long_ref, "longer than", "600 bytes");
    memset(long_ref, 'a', 300);
    long_ref[300] = '\0';
    refused(long_ref, "too long", "a 300-byte name");

    ok(image_ref_registry_valid("127.0.0.1:5000", 14), "a registry");
    ok(!image_ref_registry_valid("127.0.0.1:5000/", 15), "not with a slash");
    ok(image_ref_is_registry("iron/hello"), "a registry reference");
    ok(!image_ref_is_registry("oci:hello:v1"), "a local layout");
    return done_testing();
}
