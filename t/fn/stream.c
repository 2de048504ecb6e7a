/*
 * A hot test function in Fn's http-stream format, written as Fn's FDKs
 * behave: it listens on "<FN_LISTENER>.tmp", makes FN_LISTENER a link to
 * it, and serves "POST /call" requests one at a time over each kept-alive
 * connection, answering in chunks.  At its start, from its environment:
 *
 *   NEVER_LISTEN=1      it never listens (and lives on)
 *   LISTEN_DELAY_MS=N   it waits N ms before it listens
 *   PLAIN_LISTEN=1      it listens on FN_LISTENER itself, no link
 *   LINK_TO=path        it makes FN_LISTENER a link to path, and never
 *                       listens (a link to a socket that is not its own)
 *
 * Per call, by the client's X-Mode header (Fn-Http-H-X-Mode):
 *
 *   echo (default)  the body back; Fn-Http-Status X-Status if given,
 *                   Content-Type X-Type (text/plain), and the headers
 *                   X-Instance (a random id chosen at its start), X-Seen
 *                   (calls so far), X-Call-Id, X-Deadline, X-Method, X-Url
 *                   (as it read them), X-Env (the value of the environment
 *                   variable named by X-Env-Name), X-Plain (the client's
 *                   X-Plain, as Fn-Http-H-X-Plain), X-Plain-Raw (a plain
 *                   X-Plain request header: none should come)
 *   fail            HTTP 500 of its own, no Fn-Http-Status
 *   badstatus       Fn-Http-Status: abc
 *   garbage         bytes that are not HTTP
 *   close           closes the connection without answering
 *   drop            answers, then closes the connection (no warning)
 *   connclose       answers with "Connection: close", then closes
 *   exit            exits with status 3 without answering
 *   hang            never answers
 *   log             writes a line to stdout and one to stderr (both are
 *                   its log), then echoes
 *   big             a body of X-Size bytes, in 64 KiB chunks
 *   twice           two answers to one call
 *   sleep           echoes after X-Sleep milliseconds
 *   fds             echoes, the head sent with 64 descriptors attached
 *                   (SCM_RIGHTS) that nobody asked for
 *   sigchld         sends SIGCHLD to pid 1 (its sandbox's init) 2000
 *                   times, then echoes
 */
#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define HEAD_MAX 65536

struct request {
    char head[HEAD_MAX + 1];
    size_t head_len;
    char *body;
    size_t body_len;
};

static char instance[33];
static unsigned long calls;

static int write_all(int fd, const char *p, size_t n)
{
    ssize_t w;

    while (n > 0) {
        w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* A header of the request's head (case-insensitive), copied to out. */
static const char *header(const struct request *r, const char *name,
                          char *out, size_t size)
{
    size_t nlen = strlen(name), n;
    const char *line = strstr(r->head, "\r\n"), *end, *v;

    while (line != NULL && line[2] != '\r') {
        line += 2;
        end = strstr(line, "\r\n");
        if (end == NULL)
            break;
        if ((size_t)(end - line) > nlen && line[nlen] == ':'
            && strncasecmp(line, name, nlen) == 0) {
            v = line + nlen + 1;
            while (*v == ' ')
                v++;
            n = (size_t)(end - v) < size - 1 ? (size_t)(end - v) : size - 1;
            memcpy(out, v, n);
            out[n] = '\0';
            return out;
        }
        line = end;
    }
    return NULL;
}

/* Reads one request; 0, or -1 at the end of the connection. */
static int read_request(int fd, struct request *r, char *buf, size_t *have)
{
    char cl[32], *end;
    size_t need;
    ssize_t n;

    for (;;) {
        buf[*have] = '\0';
        end = strstr(buf, "\r\n\r\n");
        if (end != NULL)
            break;
        if (*have == HEAD_MAX)
            return -1;
        n = read(fd, buf + *have, HEAD_MAX - *have);
        if (n <= 0)
            return -1;
        *have += (size_t)n;
    }
    r->head_len = (size_t)(end - buf) + 4;
    memcpy(r->head, buf, r->head_len);
    r->head[r->head_len] = '\0';
    need = header(r, "Content-Length", cl, sizeof(cl)) ? strtoul(cl, NULL, 10)
                                                       : 0;
    r->body = malloc(need + 1);
    if (r->body == NULL)
        return -1;
    r->body_len = *have - r->head_len < need ? *have - r->head_len : need;
    memcpy(r->body, buf + r->head_len, r->body_len);
    memmove(buf, buf + r->head_len + r->body_len,
            *have - r->head_len - r->body_len);
    *have -= r->head_len + r->body_len;
    while (r->body_len < need) {
        n = read(fd, r->body + r->body_len, need - r->body_len);
        if (n <= 0)
            return -1;
        r->body_len += (size_t)n;
    }
    return 0;
}

/* Writes p with 64 descriptors (of /dev/null) attached. */
static int write_with_fds(int fd, const char *p, size_t n)
{
    char cbuf[CMSG_SPACE(64 * sizeof(int))];
    struct iovec iov = { (void *)p, n };
    struct msghdr msg = { 0 };
    struct cmsghdr *cm;
    int fds[64], i, rc;

    for (i = 0; i < 64; i++)
        fds[i] = open("/dev/null", O_RDONLY);
    memset(cbuf, 0, sizeof(cbuf));
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf;
    msg.msg_controllen = sizeof(cbuf);
    cm = CMSG_FIRSTHDR(&msg);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(fds));
    memcpy(CMSG_DATA(cm), fds, sizeof(fds));
    rc = sendmsg(fd, &msg, 0) == (ssize_t)n ? 0 : -1;
    for (i = 0; i < 64; i++)
        close(fds[i]);
    return rc;
}

static int chunk(int fd, const char *p, size_t n)
{
    char len[32];

    if (n == 0)
        return 0;       /* a chunk of 0 would end the body */
    snprintf(len, sizeof(len), "%zx\r\n", n);
    return write_all(fd, len, strlen(len)) < 0 || write_all(fd, p, n) < 0
           || write_all(fd, "\r\n", 2) < 0 ? -1 : 0;
}

/* Serves one request: 0 to go on, 1 to close the connection. */
static int serve(int fd, const struct request *r)
{
    char mode[64] = "echo", v[4096], head[16384], seen[32], *big;
    const char *env;
    size_t off = 0, size, i;

    calls++;
    header(r, "Fn-Http-H-X-Mode", mode, sizeof(mode));
    if (strcmp(mode, "close") == 0)
        return 1;
    if (strcmp(mode, "exit") == 0)
        exit(3);
    if (strcmp(mode, "hang") == 0) {
        for (;;)
            pause();
    }
    if (strcmp(mode, "garbage") == 0) {
        write_all(fd, "this is not HTTP\r\n\r\n", 20);
        return 0;
    }
    if (strcmp(mode, "fail") == 0) {
        const char *a = "HTTP/1.1 500 Internal Server Error\r\n"
                        "Content-Type: application/json\r\n"
                        "Content-Length: 17\r\n\r\n{\"error\":\"fail\"}\n";
        write_all(fd, a, strlen(a));
        return 0;
    }
    if (strcmp(mode, "sleep") == 0
        && header(r, "Fn-Http-H-X-Sleep", v, sizeof(v)) != NULL) {
        struct timespec ts;
        long ms = strtol(v, NULL, 10);

        ts.tv_sec = ms / 1000;
        ts.tv_nsec = (ms % 1000) * 1000000L;
        nanosleep(&ts, NULL);
    }
    if (strcmp(mode, "sigchld") == 0) {
        for (i = 0; i < 2000; i++)
            kill(1, SIGCHLD);
    }
    if (strcmp(mode, "log") == 0) {
        printf("stream stdout line %lu\n", calls);
        fflush(stdout);
        fprintf(stderr, "stream stderr line %lu\n", calls);
    }
#define ADD(...) off += (size_t)snprintf(head + off, sizeof(head) - off, \
                                         __VA_ARGS__)
    ADD("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n");
    ADD("Fn-Fdk-Version: fdk-test/1\r\n");
    if (strcmp(mode, "connclose") == 0)
        ADD("Connection: close\r\n");
    if (strcmp(mode, "badstatus") == 0)
        ADD("Fn-Http-Status: abc\r\n");
    else if (header(r, "Fn-Http-H-X-Status", v, sizeof(v)))
        ADD("Fn-Http-Status: %s\r\n", v);
    ADD("Content-Type: %s\r\n",
        header(r, "Fn-Http-H-X-Type", v, sizeof(v)) ? v : "text/plain");
    ADD("Fn-Http-H-X-Instance: %s\r\n", instance);
    snprintf(seen, sizeof(seen), "%lu", calls);
    ADD("Fn-Http-H-X-Seen: %s\r\n", seen);
    if (header(r, "Fn-Call-Id", v, sizeof(v)))
        ADD("Fn-Http-H-X-Call-Id: %s\r\n", v);
    if (header(r, "Fn-Deadline", v, sizeof(v)))
        ADD("Fn-Http-H-X-Deadline: %s\r\n", v);
    if (header(r, "Fn-Http-Method", v, sizeof(v)))
        ADD("Fn-Http-H-X-Method: %s\r\n", v);
    if (header(r, "Fn-Http-Request-Url", v, sizeof(v)))
        ADD("Fn-Http-H-X-Url: %s\r\n", v);
    if (header(r, "Fn-Http-H-X-Env-Name", v, sizeof(v))
        && (env = getenv(v)) != NULL)
        ADD("Fn-Http-H-X-Env: %s\r\n", env);
    if (header(r, "Fn-Http-H-X-Plain", v, sizeof(v)))
        ADD("Fn-Http-H-X-Plain: %s\r\n", v);
    if (header(r, "X-Plain", v, sizeof(v)))
        ADD("Fn-Http-H-X-Plain-Raw: %s\r\n", v);
    ADD("X-Not-For-The-Client: dropped\r\n\r\n");
    if (strcmp(mode, "fds") == 0 ? write_with_fds(fd, head, off) < 0
                                 : write_all(fd, head, off) < 0)
        return 1;
    if (strcmp(mode, "big") == 0) {
        size = header(r, "Fn-Http-H-X-Size", v, sizeof(v))
               ? strtoul(v, NULL, 10) : 0;
        big = malloc(65536);
        if (big == NULL)
            return 1;
        memset(big, 'b', 65536);
        for (i = 0; i < size; i += 65536) {
            if (chunk(fd, big, size - i < 65536 ? size - i : 65536) < 0)
                break;
        }
        free(big);
    } else if (r->body_len > 0) {
        /* in two chunks, as a stream would come */
        if (chunk(fd, r->body, r->body_len / 2) < 0
            || chunk(fd, r->body + r->body_len / 2,
                     r->body_len - r->body_len / 2) < 0)
            return 1;
    }
    if (write_all(fd, "0\r\n\r\n", 5) < 0)
        return 1;
    if (strcmp(mode, "twice") == 0)
        write_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 38);
    return strcmp(mode, "drop") == 0 || strcmp(mode, "connclose") == 0;
}

int main(void)
{
    const char *listener = getenv("FN_LISTENER"), *delay;
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    char path[108], tmp[120], base[120], copy[120], *buf;
    struct request *r;
    unsigned char rnd[16];
    size_t have;
    int lfd, fd, i;

    if (listener == NULL || strncmp(listener, "unix:", 5) != 0
        || strlen(listener + 5) + 4 >= sizeof(sa.sun_path)) {
        fprintf(stderr, "no FN_LISTENER\n");
        return 2;
    }
    snprintf(path, sizeof(path), "%s", listener + 5);
    i = open("/dev/urandom", O_RDONLY);
    if (i < 0 || read(i, rnd, sizeof(rnd)) != sizeof(rnd))
        return 1;
    close(i);
    for (i = 0; i < 16; i++)
        sprintf(instance + 2 * i, "%02x", rnd[i]);
    if (getenv("LINK_TO") != NULL) {
        if (symlink(getenv("LINK_TO"), path) < 0)
            perror("symlink");
        for (;;)
            pause();
    }
    if (getenv("NEVER_LISTEN") != NULL) {
        for (;;)
            pause();
    }
    if ((delay = getenv("LISTEN_DELAY_MS")) != NULL) {
        struct timespec ts = { 0, 0 };
        long ms = strtol(delay, NULL, 10);

        ts.tv_sec = ms / 1000;
        ts.tv_nsec = (ms % 1000) * 1000000L;
        nanosleep(&ts, NULL);
    }
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    snprintf(copy, sizeof(copy), "%s", tmp);
    snprintf(base, sizeof(base), "%s", basename(copy));
    if (getenv("PLAIN_LISTEN") != NULL)
        snprintf(tmp, sizeof(tmp), "%s", path);
    memcpy(sa.sun_path, tmp, strlen(tmp) + 1);
    lfd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0
        || listen(lfd, 16) < 0) {
        perror("listen");
        return 3;
    }
    chmod(tmp, 0666);
    if (getenv("PLAIN_LISTEN") == NULL && symlink(base, path) < 0) {
        perror("symlink");
        return 3;
    }
    buf = malloc(HEAD_MAX + 1);
    r = malloc(sizeof(*r));
    if (buf == NULL || r == NULL)
        return 1;
    for (;;) {
        fd = accept(lfd, NULL, NULL);
        if (fd < 0)
            continue;
        have = 0;
        while (read_request(fd, r, buf, &have) == 0) {
            i = serve(fd, r);
            free(r->body);
            if (i)
                break;
        }
        close(fd);
    }
}
