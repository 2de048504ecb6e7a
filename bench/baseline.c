/*
 * The physical baseline of the hot-call benchmark: an HTTP/1.1 server on
 * a Unix socket that answers every request with the same bytes (a file
 * holding a whole response), one thread per keep-alive connection.  It
 * costs what the socket hop costs, and nothing else.
 *
 *   baseline SOCKET RESPONSE_FILE
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define BUF_SIZE (1 << 20)

static char *response;
static size_t response_len;

static void *serve(void *arg)
{
    int fd = (int)(long)arg;
    char *buf = malloc(BUF_SIZE), *end, *cl;
    size_t have = 0, need;
    ssize_t r;

    while (buf != NULL) {
        end = NULL;
        while (have < 4 || (end = memmem(buf, have, "\r\n\r\n", 4)) == NULL) {
            r = read(fd, buf + have, BUF_SIZE - 1 - have);
            if (r <= 0)
                goto out;
            have += (size_t)r;
        }
        buf[have] = '\0';
        cl = strcasestr(buf, "\r\nContent-Length:");
        need = (size_t)(end - buf) + 4;
        if (cl != NULL && cl < end)
            need += strtoul(cl + 17, NULL, 10);
        while (have < need) {
            r = read(fd, buf + have, BUF_SIZE - 1 - have);
            if (r <= 0)
                goto out;
            have += (size_t)r;
        }
        if (write(fd, response, response_len) != (ssize_t)response_len)
            goto out;
        memmove(buf, buf + need, have - need);
        have -= need;
    }
out:
    free(buf);
    close(fd);
    return NULL;
}

int main(int argc, char **argv)
{
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    pthread_t t;
    FILE *f;
    long n;
    int lfd, fd;

    if (argc != 3) {
        fprintf(stderr, "usage: %s SOCKET RESPONSE_FILE\n", argv[0]);
        return 2;
    }
    f = fopen(argv[2], "rb");
    if (f == NULL || fseek(f, 0, SEEK_END) < 0 || (n = ftell(f)) <= 0)
        return 1;
    rewind(f);
    response = malloc((size_t)n);
    if (response == NULL || fread(response, 1, (size_t)n, f) != (size_t)n)
        return 1;
    response_len = (size_t)n;
    fclose(f);
    snprintf(a.sun_path, sizeof(a.sun_path), "%s", argv[1]);
    unlink(argv[1]);
    lfd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof(a)) < 0
        || listen(lfd, 128) < 0) {
        perror("listen");
        return 1;
    }
    for (;;) {
        fd = accept(lfd, NULL, NULL);
        if (fd < 0)
            continue;
        if (pthread_create(&t, NULL, serve, (void *)(long)fd) != 0)
            close(fd);
        else
            pthread_detach(t);
    }
}
