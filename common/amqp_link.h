/*
 * A blocking AMQP 0-9-1 link (rabbitmq-c) for one thread: connect, declare
 * the async-call topology, publish with publisher confirms.  The nginx
 * module's publisher thread publishes with it; the executor consumes
 * and republishes (retries) with it.  Both declare the same topology, so
 * it is written once, here.
 *
 * Topology (names from the settings; "functions.calls" by default):
 *   exchange <exchange>, direct, durable
 *   queue <queue>, durable, quorum or classic, bound with key <queue>;
 *       rejected messages are dead-lettered to <queue>.dead
 *   queue <queue>.dead, durable: calls that ran out of attempts, or
 *       could not be read
 *   queue <queue>.retry.<n>, durable, TTL = the n-th retry delay: a
 *       message waits there, then is dead-lettered back to <queue>
 */
#ifndef COMMON_AMQP_LINK_H
#define COMMON_AMQP_LINK_H

#include <stddef.h>
#include <stdint.h>

#define AMQP_LINK_NAME_MAX 127
#define AMQP_LINK_RETRIES_MAX 8
#define AMQP_LINK_BROKERS_MAX 8

/*
 * One broker, or the nodes of one RabbitMQ cluster: the same user, password
 * and vhost on each.  A link opens on the broker it last used, and on the
 * next one when that fails.
 */
struct amqp_settings {
    char host[AMQP_LINK_BROKERS_MAX][256];
    int port[AMQP_LINK_BROKERS_MAX];
    unsigned nbrokers;              /* given by URLs; 0: 127.0.0.1:5672 */
    char user[128];
    char password[128];
    char vhost[128];
    char exchange[AMQP_LINK_NAME_MAX + 1];
    char queue[AMQP_LINK_NAME_MAX + 1];
    int quorum;                     /* 1: quorum queues, 0: classic */
    unsigned connect_timeout_ms;
    unsigned confirm_timeout_ms;
    unsigned retry_delays_ms[AMQP_LINK_RETRIES_MAX];
    unsigned nretries;              /* retry queues to declare */
};

struct amqp_link {
    void *conn;                     /* amqp_connection_state_t */
    uint64_t next_tag;              /* the next publish's delivery tag */
    int open;
    unsigned broker;                /* the one opened last, or to try first */
};

/*
 * Defaults, then "amqp://user:password@host:port/vhost": each call adds a
 * broker (at most AMQP_LINK_BROKERS_MAX, all with the first one's user,
 * password and vhost).  amqp_settings_urls() takes a list separated by
 * spaces.  0 or -1.
 */
void amqp_settings_init(struct amqp_settings *s);
int amqp_settings_url(struct amqp_settings *s, const char *url, char *err,
                      size_t errlen);
int amqp_settings_urls(struct amqp_settings *s, const char *urls, char *err,
                       size_t errlen);
/* A queue or exchange name: 1-127 of [A-Za-z0-9._-]. */
int amqp_name_valid(const char *s);

/*
 * Connects, logs in, opens channel 1, declares the topology and, with
 * confirm, puts the channel in confirm mode: on the broker the link used
 * last, or on the next ones in turn if that fails (each bounded by
 * connect_timeout_ms per step).  0, or -1 with err (the last broker's).
 */
int amqp_link_open(struct amqp_link *l, const struct amqp_settings *s,
                   int confirm, char *err, size_t errlen);

/*
 * Publishes one persistent message (mandatory) to exchange with key, and
 * waits up to confirm_timeout_ms for the broker's confirm.  0: confirmed
 * and routed; -2: refused (a nack: not stored, so sending it again is
 * safe; the link is closed, to be opened anew); -1: not (unroutable,
 * timeout, link broken: then the link is closed), with err.  exchange ""
 * is the default exchange.
 * reason, if not NULL, goes in the header "x-functions-reason" (why a
 * message was dead-lettered).
 */
int amqp_link_publish(struct amqp_link *l, const struct amqp_settings *s,
                      const char *exchange, const char *key,
                      const void *body, size_t len, const char *message_id,
                      const char *reason, char *err, size_t errlen);

/*
 * The same in two steps, so that a caller can do something else while the
 * broker confirms: send (0, or -1 with the link closed), then wait for
 * that message's confirm (as amqp_link_publish() answers).
 */
int amqp_link_send(struct amqp_link *l, const char *exchange,
                   const char *key, const void *body, size_t len,
                   const char *message_id, const char *reason,
                   uint64_t *tag, char *err, size_t errlen);
int amqp_link_confirm(struct amqp_link *l, const struct amqp_settings *s,
                      uint64_t tag, const char *exchange, const char *key,
                      char *err, size_t errlen);

void amqp_link_close(struct amqp_link *l);

#endif
