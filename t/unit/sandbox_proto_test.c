/*
 * The executor <-> sandbox init messages.
 */
#include "sandbox_proto.h"
#include "tap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

static char buf[SANDBOX_MSG_MAX];

static void test_run(void)
{
    char *argv[] = { "/bin/sh", "-c", "", NULL };
    char *env[] = { "A=1", "EMPTY=", NULL };
    char *none[] = { NULL };
    struct sandbox_run run;
    size_t n;
    char *big;

    n = sandbox_run_encode(buf, sizeof(buf), "/srv", argv, env);
    ok(n > 9, "a RUN message is encoded");
    is_int(sandbox_run_decode(buf, n, &run), 0, "and decoded");
    is_str(run.cwd, "/srv", "the working directory");
    is_str(run.argv[0], "/bin/sh", "argv[0]");
    is_str(run.argv[2], "", "an empty argument survives");
    ok(run.argv[3] == NULL, "argv ends");
    is_str(run.env[1], "EMPTY=", "the environment");
    ok(run.env[2] == NULL, "env ends");
    sandbox_run_free(&run);

    ok(sandbox_run_decode(buf, n - 1, &run) < 0, "a cut message: refused");
    buf[n] = 'x';
    ok(sandbox_run_decode(buf, n + 1, &run) < 0, "trailing bytes: refused");
    buf[1] = 9;
    ok(sandbox_run_decode(buf, n, &run) < 0, "counts that lie: refused");
    buf[1] = (char)0xff;
    buf[2] = buf[3] = buf[4] = (char)0xff;
    ok(sandbox_run_decode(buf, n, &run) < 0, "huge counts: refused");
    buf[0] = SANDBOX_DONE;
    ok(sandbox_run_decode(buf, n, &run) < 0, "another type: refused");
    ok(sandbox_run_decode(buf, 3, &run) < 0, "a stub: refused");

    ok(sandbox_run_encode(buf, sizeof(buf), "/", none, env) == 0,
       "no command: not encoded");
    n = sandbox_run_encode(buf, sizeof(buf), "relative", argv, env);
    ok(n > 0 && sandbox_run_decode(buf, n, &run) < 0,
       "a relative working directory: refused");
    ok(sandbox_run_encode(buf, 12, "/", argv, env) == 0,
       "too small a buffer: not encoded");

    big = malloc(SANDBOX_MSG_MAX);
    if (big != NULL) {
        char *benv[] = { big, NULL };

        memset(big, 'a', SANDBOX_MSG_MAX - 1);
        big[SANDBOX_MSG_MAX - 1] = '\0';
        ok(sandbox_run_encode(buf, sizeof(buf), "/", argv, benv) == 0,
           "over SANDBOX_MSG_MAX: not encoded");
        free(big);
    }
}

static void test_done(void)
{
    char d[SANDBOX_DONE_LEN];
    int32_t status;
    int clean;

    sandbox_done_encode(d, 0x8b00, 1);
    is_int(sandbox_done_decode(d, sizeof(d), &status, &clean), 0,
           "DONE round trip");
    ok(WIFEXITED(status) && WEXITSTATUS(status) == 0x8b, "the status");
    is_int(clean, 1, "clean");
    sandbox_done_encode(d, 9, 0);
    sandbox_done_decode(d, sizeof(d), &status, &clean);
    ok(WIFSIGNALED(status) && WTERMSIG(status) == 9 && clean == 0,
       "killed by a signal, not clean");
    ok(sandbox_done_decode(d, sizeof(d) - 1, &status, &clean) < 0,
       "short: refused");
    d[5] = 7;
    ok(sandbox_done_decode(d, sizeof(d), &status, &clean) < 0,
       "a clean flag that is not 0 or 1: refused");
    d[0] = SANDBOX_READY;
    ok(sandbox_done_decode(d, sizeof(d), &status, &clean) < 0,
       "another type: refused");
}

static void test_listen(void)
{
    char m[SANDBOX_LISTEN_LEN];
    unsigned port = 0;

    sandbox_listen_encode(m, 9001);
    ok(sandbox_listen_decode(m, sizeof(m), &port) == 0 && port == 9001,
       "LISTEN round trip");
    sandbox_listen_encode(m, 65535);
    ok(sandbox_listen_decode(m, sizeof(m), &port) == 0 && port == 65535,
       "LISTEN: the highest port");
    sandbox_listen_encode(m, 0);
    ok(sandbox_listen_decode(m, sizeof(m), &port) < 0, "LISTEN 0: refused");
    sandbox_listen_encode(m, 80);
    ok(sandbox_listen_decode(m, sizeof(m) - 1, &port) < 0,
       "LISTEN cut short: refused");
    m[0] = SANDBOX_CONNECT;
    ok(sandbox_listen_decode(m, sizeof(m), &port) < 0,
       "LISTEN of another type: refused");
}

static void test_connect(void)
{
    char m[SANDBOX_CONNECT_MAX], k[SANDBOX_CONNECTED_LEN], path[200];
    const char *got;
    size_t n;
    int err;

    n = sandbox_connect_encode(m, "/tmp/iofs/lsnr.sock");
    is_int((long)n, 21, "CONNECT: type, path, NUL");
    ok(sandbox_connect_decode(m, n, &got) == 0
       && strcmp(got, "/tmp/iofs/lsnr.sock") == 0, "CONNECT round trip");
    ok(sandbox_connect_decode(m, n - 1, &got) < 0, "no NUL: refused");
    m[5] = '\0';
    ok(sandbox_connect_decode(m, n, &got) < 0, "a NUL inside: refused");
    ok(sandbox_connect_encode(m, "tmp/x") == 0
       && sandbox_connect_encode(m, "") == 0, "a relative path: not encoded");
    memset(path, 'a', sizeof(path));
    path[0] = '/';
    path[SANDBOX_SOCKET_PATH_MAX] = '\0';
    n = sandbox_connect_encode(m, path);
    ok(n == SANDBOX_CONNECT_MAX && sandbox_connect_decode(m, n, &got) == 0,
       "the longest path a sockaddr_un holds");
    path[SANDBOX_SOCKET_PATH_MAX] = 'a';
    path[SANDBOX_SOCKET_PATH_MAX + 1] = '\0';
    ok(sandbox_connect_encode(m, path) == 0, "one more: not encoded");
    memcpy(m, "Crel\0", 5);
    ok(sandbox_connect_decode(m, 5, &got) < 0, "relative: refused");

    sandbox_connected_encode(k, 0);
    ok(sandbox_connected_decode(k, sizeof(k), &err) == 0 && err == 0,
       "CONNECTED: connected");
    sandbox_connected_encode(k, ENOENT);
    ok(sandbox_connected_decode(k, sizeof(k), &err) == 0 && err == ENOENT,
       "CONNECTED: an errno");
    ok(sandbox_connected_decode(k, sizeof(k) - 1, &err) < 0,
       "short: refused");
    k[4] = 1;
    ok(sandbox_connected_decode(k, sizeof(k), &err) < 0,
       "not an errno: refused");
    k[0] = SANDBOX_DONE;
    ok(sandbox_connected_decode(k, sizeof(k), &err) < 0,
       "another type: refused");
}

int main(void)
{
    test_run();
    test_done();
    test_connect();
    test_listen();
    return done_testing();
}
