/*
 * Takes the messages waiting in a RabbitMQ queue (basic.get, acked) and
 * writes their bodies to stdout, one per line: what a reader of the queues
 * sees.  A test helper, built by the test that uses it:
 *
 *   amqp_get HOST PORT USER PASSWORD VHOST QUEUE
 *
 * Exit status 0 (even with no message), 1 on any error.
 */
#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failed(const char *what, amqp_rpc_reply_t r)
{
    if (r.reply_type == AMQP_RESPONSE_NORMAL)
        return 0;
    fprintf(stderr, "amqp_get: %s failed (reply type %d)\n", what,
            (int)r.reply_type);
    return 1;
}

int main(int argc, char **argv)
{
    amqp_connection_state_t conn;
    amqp_socket_t *sock;
    amqp_rpc_reply_t r;
    amqp_message_t msg;

    if (argc != 7) {
        fprintf(stderr, "usage: amqp_get HOST PORT USER PASSWORD VHOST "
                        "QUEUE\n");
        return 1;
    }

    conn = amqp_new_connection();
    sock = amqp_tcp_socket_new(conn);
    if (sock == NULL || amqp_socket_open(sock, argv[1], atoi(argv[2])) != 0) {
        fprintf(stderr, "amqp_get: cannot connect\n");
        return 1;
    }

    r = amqp_login(conn, argv[5], 0, 131072, 0, AMQP_SASL_METHOD_PLAIN,
                   argv[3], argv[4]);
    if (failed("login", r))
        return 1;

    amqp_channel_open(conn, 1);
    if (failed("channel.open", amqp_get_rpc_reply(conn)))
        return 1;

    for (;;) {
        r = amqp_basic_get(conn, 1, amqp_cstring_bytes(argv[6]), 1);
        if (failed("basic.get", r))
            return 1;
        if (r.reply.id != AMQP_BASIC_GET_OK_METHOD)
            break;      /* get-empty */

        r = amqp_read_message(conn, 1, &msg, 0);
        if (failed("reading a message", r))
            return 1;

        fwrite(msg.body.bytes, 1, msg.body.len, stdout);
        putchar('\n');
        amqp_destroy_message(&msg);
    }

    amqp_channel_close(conn, 1, AMQP_REPLY_SUCCESS);
    amqp_connection_close(conn, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(conn);
    return 0;
}
