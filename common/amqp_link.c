/*
 * A blocking AMQP link for one thread: see amqp_link.h.
 */
#include "amqp_link.h"
#include "errf.h"

#include <amqp.h>
#include <amqp_framing.h>
#include <amqp_tcp_socket.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#define CHANNEL 1

void amqp_settings_init(struct amqp_settings *s)
{
    memset(s, 0, sizeof(*s));
    strcpy(s->host[0], "127.0.0.1");
    s->port[0] = 5672;
    strcpy(s->user, "guest");
    strcpy(s->password, "guest");
    strcpy(s->vhost, "/");
    strcpy(s->exchange, "functions");
    strcpy(s->queue, "functions.calls");
    s->quorum = 1;
    s->connect_timeout_ms = 2000;
    s->confirm_timeout_ms = 5000;
}

int amqp_name_valid(const char *s)
{
    size_t n = strlen(s), i;

    if (n == 0 || n > AMQP_LINK_NAME_MAX)
        return 0;
    for (i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

static int copy(char *dst, size_t size, const char *src)
{
    size_t n = strlen(src);

    if (n >= size)
        return -1;
    memcpy(dst, src, n + 1);
    return 0;
}

int amqp_settings_url(struct amqp_settings *s, const char *url, char *err,
                      size_t errlen)
{
    struct amqp_connection_info ci;
    unsigned n = s->nbrokers;
    char *buf;
    int rc = -1;

    if (n == AMQP_LINK_BROKERS_MAX)
        return errf(err, errlen, "more than %d AMQP URLs",
                    AMQP_LINK_BROKERS_MAX);
    buf = strdup(url);
    if (buf == NULL)
        return errf(err, errlen, "out of memory");
    amqp_default_connection_info(&ci);
    if (amqp_parse_url(buf, &ci) != AMQP_STATUS_OK) {
        errf(err, errlen, "invalid AMQP URL (amqp://user:password@host:port"
             "/vhost)");
        goto done;
    }
    if (ci.ssl) {
        errf(err, errlen, "amqps:// is not supported; use a local broker or "
             "a TLS tunnel");
        goto done;
    }
    if (n > 0 && (strcmp(s->user, ci.user) != 0
                  || strcmp(s->password, ci.password) != 0
                  || strcmp(s->vhost, ci.vhost) != 0)) {
        errf(err, errlen, "the AMQP URLs differ in user, password or vhost: "
             "they name the nodes of one cluster");
        goto done;
    }
    if (copy(s->host[n], sizeof(s->host[n]), ci.host) < 0
        || copy(s->user, sizeof(s->user), ci.user) < 0
        || copy(s->password, sizeof(s->password), ci.password) < 0
        || copy(s->vhost, sizeof(s->vhost), ci.vhost) < 0) {
        errf(err, errlen, "a part of the AMQP URL is too long");
        goto done;
    }
    s->port[n] = ci.port;
    s->nbrokers = n + 1;
    rc = 0;

done:
    free(buf);
    return rc;
}

int amqp_settings_urls(struct amqp_settings *s, const char *urls, char *err,
                       size_t errlen)
{
    char url[1024];
    const char *p = urls;
    size_t n;

    for (;;) {
        p += strspn(p, " \t");
        if (*p == '\0')
            break;
        n = strcspn(p, " \t");
        if (n >= sizeof(url))
            return errf(err, errlen, "an AMQP URL is too long");
        memcpy(url, p, n);
        url[n] = '\0';
        if (amqp_settings_url(s, url, err, errlen) < 0)
            return -1;
        p += n;
    }
    if (s->nbrokers == 0)
        return errf(err, errlen, "no AMQP URL");
    return 0;
}

/* The reason an RPC failed, into err; -1. */
static int rpc_error(amqp_rpc_reply_t r, const char *what, char *err,
                     size_t errlen)
{
    if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION)
        return errf(err, errlen, "%s: %s", what,
                    amqp_error_string2(r.library_error));
    if (r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION) {
        if (r.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
            amqp_connection_close_t *m = r.reply.decoded;
            return errf(err, errlen, "%s: broker closed the connection: "
                        "%.*s", what, (int)m->reply_text.len,
                        (char *)m->reply_text.bytes);
        }
        if (r.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
            amqp_channel_close_t *m = r.reply.decoded;
            return errf(err, errlen, "%s: broker closed the channel: %.*s",
                        what, (int)m->reply_text.len,
                        (char *)m->reply_text.bytes);
        }
        return errf(err, errlen, "%s: broker error", what);
    }
    return errf(err, errlen, "%s: no answer", what);
}

static int declare_queue(amqp_connection_state_t c,
                         const struct amqp_settings *s, const char *name,
                         const char *dlx, const char *dlkey, long long ttl,
                         char *err, size_t errlen)
{
    amqp_table_entry_t e[4];
    amqp_table_t args;
    int n = 0;

    e[n].key = amqp_cstring_bytes("x-queue-type");
    e[n].value.kind = AMQP_FIELD_KIND_UTF8;
    e[n].value.value.bytes = amqp_cstring_bytes(s->quorum ? "quorum"
                                                          : "classic");
    n++;
    if (dlkey != NULL) {
        e[n].key = amqp_cstring_bytes("x-dead-letter-exchange");
        e[n].value.kind = AMQP_FIELD_KIND_UTF8;
        e[n].value.value.bytes = amqp_cstring_bytes(dlx);
        n++;
        e[n].key = amqp_cstring_bytes("x-dead-letter-routing-key");
        e[n].value.kind = AMQP_FIELD_KIND_UTF8;
        e[n].value.value.bytes = amqp_cstring_bytes(dlkey);
        n++;
    }
    if (ttl >= 0) {
        e[n].key = amqp_cstring_bytes("x-message-ttl");
        e[n].value.kind = AMQP_FIELD_KIND_I64;
        e[n].value.value.i64 = ttl;
        n++;
    }
    args.num_entries = n;
    args.entries = e;
    amqp_queue_declare(c, CHANNEL, amqp_cstring_bytes(name), 0, 1, 0, 0,
                       args);
    return amqp_get_rpc_reply(c).reply_type == AMQP_RESPONSE_NORMAL ? 0
           : rpc_error(amqp_get_rpc_reply(c), name, err, errlen);
}

static int declare(amqp_connection_state_t c, const struct amqp_settings *s,
                   char *err, size_t errlen)
{
    char dead[AMQP_LINK_NAME_MAX + 16], retry[AMQP_LINK_NAME_MAX + 16];
    unsigned i;

    amqp_exchange_declare(c, CHANNEL, amqp_cstring_bytes(s->exchange),
                          amqp_cstring_bytes("direct"), 0, 1, 0, 0,
                          amqp_empty_table);
    if (amqp_get_rpc_reply(c).reply_type != AMQP_RESPONSE_NORMAL)
        return rpc_error(amqp_get_rpc_reply(c), "exchange", err, errlen);

    snprintf(dead, sizeof(dead), "%s.dead", s->queue);
    if (declare_queue(c, s, dead, NULL, NULL, -1, err, errlen) < 0
        || declare_queue(c, s, s->queue, "", dead, -1, err, errlen) < 0)
        return -1;
    amqp_queue_bind(c, CHANNEL, amqp_cstring_bytes(s->queue),
                    amqp_cstring_bytes(s->exchange),
                    amqp_cstring_bytes(s->queue), amqp_empty_table);
    if (amqp_get_rpc_reply(c).reply_type != AMQP_RESPONSE_NORMAL)
        return rpc_error(amqp_get_rpc_reply(c), "bind", err, errlen);

    /* a retry waits out its delay, then goes back to the queue */
    for (i = 0; i < s->nretries && i < AMQP_LINK_RETRIES_MAX; i++) {
        snprintf(retry, sizeof(retry), "%s.retry.%u", s->queue, i + 1);
        if (declare_queue(c, s, retry, s->exchange, s->queue,
                          s->retry_delays_ms[i], err, errlen) < 0)
            return -1;
    }
    return 0;
}

static int open_on(struct amqp_link *l, const struct amqp_settings *s,
                   unsigned b, int confirm, char *err, size_t errlen);

int amqp_link_open(struct amqp_link *l, const struct amqp_settings *s,
                   int confirm, char *err, size_t errlen)
{
    unsigned n = s->nbrokers > 0 ? s->nbrokers : 1, i;

    if (l->broker >= n)
        l->broker = 0;
    for (i = 0; i < n; i++) {
        if (open_on(l, s, l->broker, confirm, err, errlen) == 0)
            return 0;
        l->broker = (l->broker + 1) % n;
    }
    return -1;
}

static int open_on(struct amqp_link *l, const struct amqp_settings *s,
                   unsigned b, int confirm, char *err, size_t errlen)
{
    amqp_connection_state_t c;
    amqp_socket_t *sock;
    amqp_rpc_reply_t r;
    struct timeval tv;
    int status, fd;

    amqp_link_close(l);
    c = amqp_new_connection();
    if (c == NULL)
        return errf(err, errlen, "out of memory");
    l->conn = c;
    sock = amqp_tcp_socket_new(c);
    if (sock == NULL) {
        amqp_link_close(l);
        return errf(err, errlen, "out of memory");
    }
    tv.tv_sec = s->connect_timeout_ms / 1000;
    tv.tv_usec = (s->connect_timeout_ms % 1000) * 1000;
    status = amqp_socket_open_noblock(sock, s->host[b], s->port[b], &tv);
    if (status != AMQP_STATUS_OK) {
        amqp_link_close(l);
        return errf(err, errlen, "connect to %s:%d: %s", s->host[b],
                    s->port[b], amqp_error_string2(status));
    }
    /* librabbitmq opens it without close-on-exec: no program this
     * process starts may inherit a logged-in broker connection */
    fd = amqp_socket_get_sockfd(sock);
    if (fd >= 0)
        fcntl(fd, F_SETFD, FD_CLOEXEC);
    /* the login's handshake (12 s by default) and every RPC (declares)
     * are bounded too */
    amqp_set_handshake_timeout(c, &tv);
    amqp_set_rpc_timeout(c, &tv);
    r = amqp_login(c, s->vhost, 0, 131072, 0, AMQP_SASL_METHOD_PLAIN,
                   s->user, s->password);
    if (r.reply_type != AMQP_RESPONSE_NORMAL) {
        char what[300];

        snprintf(what, sizeof(what), "login at %s:%d", s->host[b],
                 s->port[b]);
        rpc_error(r, what, err, errlen);
        amqp_link_close(l);
        return -1;
    }
    l->open = 1;
    amqp_channel_open(c, CHANNEL);
    r = amqp_get_rpc_reply(c);
    if (r.reply_type != AMQP_RESPONSE_NORMAL) {
        rpc_error(r, "channel", err, errlen);
        amqp_link_close(l);
        return -1;
    }
    if (declare(c, s, err, errlen) < 0) {
        amqp_link_close(l);
        return -1;
    }
    if (confirm) {
        amqp_confirm_select(c, CHANNEL);
        r = amqp_get_rpc_reply(c);
        if (r.reply_type != AMQP_RESPONSE_NORMAL) {
            rpc_error(r, "confirm mode", err, errlen);
            amqp_link_close(l);
            return -1;
        }
    }
    l->next_tag = 1;
    return 0;
}

static long long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int amqp_link_publish(struct amqp_link *l, const struct amqp_settings *s,
                      const char *exchange, const char *key,
                      const void *body, size_t len, const char *message_id,
                      const char *reason, char *err, size_t errlen)
{
    uint64_t tag;

    if (amqp_link_send(l, exchange, key, body, len, message_id, reason,
                       &tag, err, errlen) < 0)
        return -1;
    return amqp_link_confirm(l, s, tag, exchange, key, err, errlen);
}

int amqp_link_send(struct amqp_link *l, const char *exchange,
                   const char *key, const void *body, size_t len,
                   const char *message_id, const char *reason,
                   uint64_t *tagp, char *err, size_t errlen)
{
    amqp_table_entry_t h;
    amqp_connection_state_t c = l->conn;
    amqp_basic_properties_t props;
    amqp_bytes_t b;
    uint64_t tag;
    int status;

    if (c == NULL)
        return errf(err, errlen, "not connected");
    memset(&props, 0, sizeof(props));
    props._flags = AMQP_BASIC_DELIVERY_MODE_FLAG
                   | AMQP_BASIC_CONTENT_TYPE_FLAG;
    props.delivery_mode = AMQP_DELIVERY_PERSISTENT;
    props.content_type = amqp_cstring_bytes("application/json");
    if (message_id != NULL) {
        props._flags |= AMQP_BASIC_MESSAGE_ID_FLAG;
        props.message_id = amqp_cstring_bytes(message_id);
    }
    if (reason != NULL) {
        h.key = amqp_cstring_bytes("x-functions-reason");
        h.value.kind = AMQP_FIELD_KIND_UTF8;
        h.value.value.bytes = amqp_cstring_bytes(reason);
        props._flags |= AMQP_BASIC_HEADERS_FLAG;
        props.headers.num_entries = 1;
        props.headers.entries = &h;
    }
    b.bytes = (void *)body;
    b.len = len;
    tag = l->next_tag++;
    status = amqp_basic_publish(c, CHANNEL, amqp_cstring_bytes(exchange),
                                amqp_cstring_bytes(key), 1, 0, &props, b);
    if (status != AMQP_STATUS_OK) {
        errf(err, errlen, "publish: %s", amqp_error_string2(status));
        amqp_link_close(l);
        return -1;
    }

    *tagp = tag;
    return 0;
}

int amqp_link_confirm(struct amqp_link *l, const struct amqp_settings *s,
                      uint64_t tag, const char *exchange, const char *key,
                      char *err, size_t errlen)
{
    amqp_connection_state_t c = l->conn;
    amqp_frame_t f;
    long long deadline;
    int status, returned = 0;

    if (c == NULL)
        return errf(err, errlen, "not connected");
    deadline = now_ms() + s->confirm_timeout_ms;
    for (;;) {
        long long left = deadline - now_ms();
        struct timeval tv;

        if (left <= 0) {
            /* the confirm may still come: this link cannot tell them
             * apart any more */
            errf(err, errlen, "no confirm within %u ms",
                 s->confirm_timeout_ms);
            amqp_link_close(l);
            return -1;
        }
        tv.tv_sec = left / 1000;
        tv.tv_usec = (left % 1000) * 1000;
        status = amqp_simple_wait_frame_noblock(c, &f, &tv);
        if (status == AMQP_STATUS_TIMEOUT)
            continue;
        if (status != AMQP_STATUS_OK) {
            errf(err, errlen, "waiting for the confirm: %s",
                 amqp_error_string2(status));
            amqp_link_close(l);
            return -1;
        }
        if (f.frame_type != AMQP_FRAME_METHOD)
            continue;
        switch (f.payload.method.id) {
        case AMQP_BASIC_ACK_METHOD: {
            amqp_basic_ack_t *a = f.payload.method.decoded;

            if (a->delivery_tag == tag
                || (a->multiple && a->delivery_tag >= tag)) {
                amqp_maybe_release_buffers(c);
                if (returned)
                    return errf(err, errlen, "unroutable: no queue is "
                                "bound to \"%s\" with key \"%s\"", exchange,
                                key);
                return 0;
            }
            break;
        }
        case AMQP_BASIC_NACK_METHOD:
            /* closed too: in a RabbitMQ cluster, a channel that knew a
             * quorum queue's leader before that node died keeps refusing;
             * a new one finds the new leader */
            errf(err, errlen, "the broker refused the message");
            amqp_link_close(l);
            return -2;
        case AMQP_BASIC_RETURN_METHOD: {
            amqp_message_t m;
            amqp_rpc_reply_t r;

            returned = 1;
            r = amqp_read_message(c, f.channel, &m, 0);
            if (r.reply_type != AMQP_RESPONSE_NORMAL) {
                rpc_error(r, "returned message", err, errlen);
                amqp_link_close(l);
                return -1;
            }
            amqp_destroy_message(&m);
            break;
        }
        case AMQP_CHANNEL_CLOSE_METHOD:
        case AMQP_CONNECTION_CLOSE_METHOD:
            errf(err, errlen, "the broker closed the link");
            amqp_link_close(l);
            return -1;
        default:
            break;
        }
    }
}

void amqp_link_close(struct amqp_link *l)
{
    amqp_connection_state_t c = l->conn;

    if (c == NULL)
        return;
    /* no goodbye handshake: the broker may be gone or frozen */
    amqp_destroy_connection(c);
    l->conn = NULL;
    l->open = 0;
}
