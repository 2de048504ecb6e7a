/*
 * A hot (http format) test function: reads HTTP/1.1 requests on stdin,
 * answers each on stdout.  What it does is chosen per request by the
 * X-Mode header:
 *
 *   echo (default)  status X-Status (200), the body back, X-Instance (a
 *                   random id chosen at its start), X-Pid (its pid),
 *                   X-In (the request's X-In), X-Env (the value of the
 *                   environment variable named by X-Env-Name), X-Call-Id
 *                   (the request's Fn-Call-Id), X-Seen (calls so far)
 *   garbage         a line that is not HTTP
 *   twice           two answers to one request
 *   hang            no answer
 *   exit            exits with status 3 without answering
 *   nolength        an answer without Content-Length
 *   big             an answer of 3 MiB
 *   log             writes "log line N" to stderr, then echoes
 *   sleep           sleeps X-Sleep milliseconds, then echoes
 *   headlen         answers Content-Length: 5 and no body (right for HEAD)
 *   halfhead        writes the start of a head (status X-Status, then a
 *                   header X-Forged: 1) and exits without ending it
 *   passfd          answers "fd" with descriptors of its own (its root
 *                   directory, its stdin) attached to the answer's bytes
 *                   (SCM_RIGHTS), for a reader of its stdout that is a
 *                   socket (direct dispatch) to take
 *   raw             writes "ran <call id>" to stderr, then answers status
 *                   X-Status with the lines X-Raw1 and X-Raw2 as they are
 *                   and, with X-Big: N, a header of N bytes, with X-Many: N,
 *                   N empty headers
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#define HEAD_MAX 65536

static char head[HEAD_MAX];
static char instance[33];

static const char *header(const char *name)
{
    static char value[4096];
    size_t n = strlen(name);
    char *p = strstr(head, "\r\n");

    while (p != NULL && p[2] != '\r') {
        p += 2;
        if (strncasecmp(p, name, n) == 0 && p[n] == ':') {
            char *v = p + n + 1, *end = strstr(v, "\r\n");

            while (*v == ' ')
                v++;
            snprintf(value, sizeof(value), "%.*s", (int)(end - v), v);
            return value;
        }
        p = strstr(p, "\r\n");
    }
    return NULL;
}

/* The head, up to and with the empty line; 0 at end of input. */
static int read_head(void)
{
    size_t n = 0;
    int c;

    while ((c = getchar()) != EOF) {
        if (n + 1 >= HEAD_MAX)
            exit(2);
        head[n++] = (char)c;
        head[n] = '\0';
        if (n >= 4 && memcmp(head + n - 4, "\r\n\r\n", 4) == 0)
            return 1;
    }
    return 0;
}

static void answer(int status, const char *body, size_t len, int seen)
{
    const char *in = header("X-In"), *env_name = header("X-Env-Name");
    const char *env = env_name ? getenv(env_name) : NULL;
    char in_copy[4096], id[64];

    snprintf(in_copy, sizeof(in_copy), "%s", in ? in : "");
    snprintf(id, sizeof(id), "%s", header("Fn-Call-Id") ?: "");
    printf("HTTP/1.1 %d Whatever\r\nContent-Length: %zu\r\n"
           "Content-Type: application/x-test\r\nX-Instance: %s\r\n"
           "X-Pid: %d\r\n"
           "X-In: %s\r\nX-Env: %s\r\nX-Call-Id: %s\r\nX-Seen: %d\r\n\r\n",
           status, len, instance, (int)getpid(), in_copy, env ? env : "",
           id, seen);
    fwrite(body, 1, len, stdout);
    fflush(stdout);
}

int main(void)
{
    unsigned char rnd[16];
    FILE *ur = fopen("/dev/urandom", "r");
    int seen = 0, i;

    if (ur == NULL || fread(rnd, 1, sizeof(rnd), ur) != sizeof(rnd))
        return 2;
    fclose(ur);
    for (i = 0; i < 16; i++)
        sprintf(instance + 2 * i, "%02x", rnd[i]);

    while (read_head()) {
        const char *cl = header("Content-Length"), *mode, *st;
        size_t len = cl ? strtoul(cl, NULL, 10) : 0;
        char *body = malloc(len + 1);
        char m[64];

        if (body == NULL || fread(body, 1, len, stdin) != len)
            return 2;
        seen++;
        mode = header("X-Mode");
        snprintf(m, sizeof(m), "%s", mode ? mode : "echo");
        st = header("X-Status");
        if (strcmp(m, "garbage") == 0) {
            printf("this is not HTTP\r\n\r\n");
            fflush(stdout);
        } else if (strcmp(m, "twice") == 0) {
            answer(200, "one", 3, seen);
            answer(200, "two", 3, seen);
        } else if (strcmp(m, "hang") == 0) {
            pause();
        } else if (strcmp(m, "exit") == 0) {
            return 3;
        } else if (strcmp(m, "big") == 0) {
            size_t k;

            printf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n",
                   3 << 20);
            for (k = 0; k < (3u << 20); k++)
                putchar('x');
            fflush(stdout);
        } else if (strcmp(m, "raw") == 0) {
            int status = st ? atoi(st) : 200;
            char r1[4096], r2[4096], id[64];
            size_t pad = strtoul(header("X-Big") ?: "0", NULL, 10), k;
            size_t many = strtoul(header("X-Many") ?: "0", NULL, 10);

            snprintf(r1, sizeof(r1), "%s", header("X-Raw1") ?: "");
            snprintf(r2, sizeof(r2), "%s", header("X-Raw2") ?: "");
            snprintf(id, sizeof(id), "%s", header("Fn-Call-Id") ?: "");
            fprintf(stderr, "ran %s\n", id);
            printf("HTTP/1.1 %d Whatever\r\nContent-Length: %zu\r\n",
                   status, len);
            if (r1[0] != '\0')
                printf("%s\r\n", r1);
            if (r2[0] != '\0')
                printf("%s\r\n", r2);
            for (k = 0; k < many; k++)
                printf("a:\r\n");
            if (pad > 0) {
                printf("X-Big: ");
                for (k = 0; k < pad; k++)
                    putchar('p');
                printf("\r\n");
            }
            printf("\r\n");
            fwrite(body, 1, len, stdout);
            fflush(stdout);
        } else if (strcmp(m, "halfhead") == 0) {
            printf("HTTP/1.1 %d Whatever\r\nX-Forged: 1\r\n",
                   st ? atoi(st) : 200);
            fflush(stdout);
            exit(0);
        } else if (strcmp(m, "passfd") == 0) {
            static const char out[] = "HTTP/1.1 200 OK\r\n"
                                      "Content-Length: 2\r\n\r\nfd";
            char cbuf[CMSG_SPACE(2 * sizeof(int))];
            struct iovec iov = { (void *)out, sizeof(out) - 1 };
            struct msghdr msg = { 0 };
            struct cmsghdr *cm;
            int fds[2];

            fflush(stdout);
            fds[0] = open("/", O_RDONLY | O_DIRECTORY);
            fds[1] = 0;
            memset(cbuf, 0, sizeof(cbuf));
            msg.msg_iov = &iov;
            msg.msg_iovlen = 1;
            msg.msg_control = cbuf;
            msg.msg_controllen = sizeof(cbuf);
            cm = CMSG_FIRSTHDR(&msg);
            cm->cmsg_level = SOL_SOCKET;
            cm->cmsg_type = SCM_RIGHTS;
            cm->cmsg_len = CMSG_LEN(2 * sizeof(int));
            memcpy(CMSG_DATA(cm), fds, sizeof(fds));
            /* not a socket (pipes): the bytes alone */
            if (sendmsg(1, &msg, 0) < 0 && write(1, out, sizeof(out) - 1) < 0)
                exit(4);
            close(fds[0]);
        } else if (strcmp(m, "headlen") == 0) {
            printf("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n");
            fflush(stdout);
        } else if (strcmp(m, "nolength") == 0) {
            printf("HTTP/1.1 200 OK\r\n\r\nno length");
            fflush(stdout);
        } else {
            if (strcmp(m, "log") == 0)
                fprintf(stderr, "log line %d\n", seen);
            if (strcmp(m, "sleep") == 0) {
                long ms = atol(header("X-Sleep") ?: "0");
                struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };

                nanosleep(&ts, NULL);
            }
            answer(st ? atoi(st) : 200, body, len, seen);
        }
        free(body);
    }
    return 0;
}
