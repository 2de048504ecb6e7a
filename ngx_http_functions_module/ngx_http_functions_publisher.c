
/*
 * A worker's AMQP publisher.
 *
 * rabbitmq-c blocks, so nginx's event loop never calls it.  A worker's
 * first async call starts a thread that owns the worker's one link to the
 * broker (common/amqp_link.c).  The event loop hands the thread messages
 * through a list under a mutex, waking it with an eventfd when it sleeps;
 * the thread builds each message's body (base64, read from the request's
 * temporary file if it is there: off the event loop), sends every message
 * waiting one after the other on its channel, and reads the broker's
 * confirms as they come (one ack may confirm many).  Messages done go back
 * through another list and an eventfd the event loop watches, and their
 * handlers run there.
 *
 * A message gets two tries: a link that does not open, breaks, or leaves
 * its oldest message unconfirmed for confirm_timeout is closed, and the
 * messages it held are sent again on a new one (the broker may then hold
 * one twice: executors run a call id once it is final); a nack (nothing
 * stored) is sent again, on a new link too (in a RabbitMQ cluster, a
 * channel that knew a quorum queue's leader before that node died keeps
 * refusing every message: a new channel finds the new leader); a message
 * returned unroutable fails at once.
 *
 * rabbitmq-c waits without a bound while it sends (a broker that stops
 * reading, under a memory alarm or frozen, fills the socket's buffer): the
 * event loop's timer, running every second while messages are pending,
 * shuts the link's socket down when one send has taken longer than
 * confirm_timeout, and the messages it held have had a try.
 *
 * While messages are pending, that timer also keeps the worker from
 * exiting (nginx -s reload or quit): their clients get their answers
 * first.
 */


#include "ngx_http_functions_module.h"
#include "ngx_http_functions_publisher.h"

#include "errf.h"

#include <amqp.h>
#include <amqp_framing.h>
#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>


typedef struct {
    ngx_http_functions_pub_t       *head;
    ngx_http_functions_pub_t      **last;
} ngx_http_functions_pub_list_t;


typedef struct {
    /* under the mutex */
    ngx_http_functions_pub_list_t   in;         /* from the event loop */
    ngx_http_functions_pub_list_t   out;        /* back to it */
    ngx_uint_t                      asleep;
    ngx_uint_t                      quit;
    int                             busy_fd;    /* a dup of the link's
                                                   socket while it sends */
    long long                       busy_since;

    /* set before the thread starts */
    struct amqp_settings           *settings;   /* the worker's cycle's */

    /* the event loop's */
    pthread_t                       thread;
    int                             wake_fd;
    int                             done_fd;
    ngx_connection_t               *done_conn;  /* done_fd's, watched */
    ngx_uint_t                      pending;
    ngx_event_t                     keep;
    time_t                          failed;     /* the last start that did */

    /* the thread's own */
    struct amqp_link                link;
    ngx_http_functions_pub_list_t   ready;      /* to send */
    ngx_http_functions_pub_list_t   sent;       /* unconfirmed, by tag */
    ngx_http_functions_pub_list_t   done;       /* to hand back */
    ngx_uint_t                      nacked;     /* the link refused one */
} ngx_http_functions_pub_state_t;


static void ngx_http_functions_pub_list_init(
    ngx_http_functions_pub_list_t *l);
static void ngx_http_functions_pub_list_add(ngx_http_functions_pub_list_t *l,
    ngx_http_functions_pub_t *m);
static ngx_int_t ngx_http_functions_pub_start(
    struct amqp_settings *settings, ngx_log_t *log);
static void ngx_http_functions_pub_done_handler(ngx_event_t *ev);
static void ngx_http_functions_pub_keep_handler(ngx_event_t *ev);
static void *ngx_http_functions_pub_cycle(void *data);
static ngx_int_t ngx_http_functions_pub_body(ngx_http_functions_pub_t *m);
static void ngx_http_functions_pub_send(ngx_http_functions_pub_state_t *st);
static void ngx_http_functions_pub_wait(ngx_http_functions_pub_state_t *st);
static void ngx_http_functions_pub_read(ngx_http_functions_pub_state_t *st);
static void ngx_http_functions_pub_confirmed(
    ngx_http_functions_pub_state_t *st, uint64_t tag, ngx_uint_t multiple,
    ngx_uint_t ack);
static void ngx_http_functions_pub_returned(
    ngx_http_functions_pub_state_t *st, amqp_message_t *msg);
static void ngx_http_functions_pub_again(ngx_http_functions_pub_state_t *st,
    ngx_http_functions_pub_t *m, const char *err);
static void ngx_http_functions_pub_broken(ngx_http_functions_pub_state_t *st,
    const char *err);
static void ngx_http_functions_pub_hand_back(
    ngx_http_functions_pub_state_t *st);
static void ngx_http_functions_pub_busy(ngx_http_functions_pub_state_t *st,
    ngx_uint_t busy);
static long long ngx_http_functions_pub_now(void);


#define NGX_HTTP_FUNCTIONS_PUB_NONE     0
#define NGX_HTTP_FUNCTIONS_PUB_RUNNING  1
#define NGX_HTTP_FUNCTIONS_PUB_FAILED   2

static ngx_uint_t                      ngx_http_functions_pub_state;
static pthread_mutex_t                 ngx_http_functions_pub_mutex =
    PTHREAD_MUTEX_INITIALIZER;
static ngx_http_functions_pub_state_t  ngx_http_functions_pub;


static void
ngx_http_functions_pub_list_init(ngx_http_functions_pub_list_t *l)
{
    l->head = NULL;
    l->last = &l->head;
}


static void
ngx_http_functions_pub_list_add(ngx_http_functions_pub_list_t *l,
    ngx_http_functions_pub_t *m)
{
    m->next = NULL;
    *l->last = m;
    l->last = &m->next;
}


/* ------------------------------------------------- in the event loop */

ngx_int_t
ngx_http_functions_pub_post(ngx_http_functions_pub_t *m,
    struct amqp_settings *settings, ngx_log_t *log)
{
    uint64_t                         one = 1;
    ngx_uint_t                       wake;
    ngx_http_functions_pub_state_t  *st = &ngx_http_functions_pub;

    if (ngx_http_functions_pub_state == NGX_HTTP_FUNCTIONS_PUB_NONE
        && st->failed != ngx_time())
    {
        /* a start that failed (no descriptor, no thread) is tried again
         * by the calls of the next second */
        if (ngx_http_functions_pub_start(settings, log) == NGX_OK) {
            ngx_http_functions_pub_state = NGX_HTTP_FUNCTIONS_PUB_RUNNING;

        } else {
            st->failed = ngx_time();
        }
    }

    if (ngx_http_functions_pub_state != NGX_HTTP_FUNCTIONS_PUB_RUNNING) {
        return NGX_ERROR;
    }

    m->ok = 0;
    m->err[0] = '\0';
    m->message = NULL;
    m->len = 0;
    m->tries = 0;
    m->returned = 0;

    pthread_mutex_lock(&ngx_http_functions_pub_mutex);

    ngx_http_functions_pub_list_add(&st->in, m);
    wake = st->asleep;
    st->asleep = 0;

    pthread_mutex_unlock(&ngx_http_functions_pub_mutex);

    if (wake && write(st->wake_fd, &one, sizeof(one)) != sizeof(one)) {
        /* an eventfd far from its limit: not expected */
        ngx_log_error(NGX_LOG_ALERT, log, ngx_errno,
                      "functions: waking the publisher failed");
    }

    st->pending++;

    if (!st->keep.timer_set) {
        ngx_add_timer(&st->keep, 1000);
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_functions_pub_start(struct amqp_settings *settings, ngx_log_t *log)
{
    int                              err;
    sigset_t                         set, old;
    ngx_connection_t                *c = NULL;
    ngx_http_functions_pub_state_t  *st = &ngx_http_functions_pub;

    st->settings = settings;
    st->busy_fd = -1;

    ngx_http_functions_pub_list_init(&st->in);
    ngx_http_functions_pub_list_init(&st->out);
    ngx_http_functions_pub_list_init(&st->ready);
    ngx_http_functions_pub_list_init(&st->sent);
    ngx_http_functions_pub_list_init(&st->done);

    st->keep.handler = ngx_http_functions_pub_keep_handler;
    st->keep.data = st;         /* debug lines read an "fd" there */
    st->keep.log = ngx_cycle->log;

    st->wake_fd = eventfd(0, EFD_NONBLOCK|EFD_CLOEXEC);
    st->done_fd = eventfd(0, EFD_NONBLOCK|EFD_CLOEXEC);

    if (st->wake_fd == -1 || st->done_fd == -1) {
        ngx_log_error(NGX_LOG_ALERT, log, ngx_errno,
                      "functions: eventfd() for the publisher failed");
        goto failed;
    }

    c = ngx_get_connection(st->done_fd, ngx_cycle->log);
    if (c == NULL) {
        goto failed;
    }

    c->read->handler = ngx_http_functions_pub_done_handler;
    c->read->log = ngx_cycle->log;

    if (ngx_handle_read_event(c->read, 0) != NGX_OK) {
        ngx_free_connection(c);
        c = NULL;
        goto failed;
    }

    /* the thread takes no signal: they are the worker's */
    sigfillset(&set);
    sigdelset(&set, SIGILL);
    sigdelset(&set, SIGFPE);
    sigdelset(&set, SIGSEGV);
    sigdelset(&set, SIGBUS);

    pthread_sigmask(SIG_SETMASK, &set, &old);
    err = pthread_create(&st->thread, NULL, ngx_http_functions_pub_cycle, st);
    pthread_sigmask(SIG_SETMASK, &old, NULL);

    if (err == 0) {
        st->done_conn = c;
        return NGX_OK;
    }

    ngx_log_error(NGX_LOG_ALERT, log, err,
                  "functions: pthread_create() for the publisher failed");

    ngx_close_connection(c);
    c = NULL;
    st->done_fd = -1;

failed:

    if (st->wake_fd != -1) {
        close(st->wake_fd);
    }

    if (st->done_fd != -1 && c == NULL) {
        close(st->done_fd);
    }

    return NGX_ERROR;
}


static void
ngx_http_functions_pub_done_handler(ngx_event_t *ev)
{
    uint64_t                         n;
    ngx_http_functions_pub_t        *m, *next;
    ngx_http_functions_pub_state_t  *st = &ngx_http_functions_pub;

    if (read(st->done_fd, &n, sizeof(n)) == -1 && ngx_errno != NGX_EAGAIN) {
        ngx_log_error(NGX_LOG_ALERT, ev->log, ngx_errno,
                      "functions: reading the publisher's eventfd failed");
    }

    pthread_mutex_lock(&ngx_http_functions_pub_mutex);

    m = st->out.head;
    ngx_http_functions_pub_list_init(&st->out);

    pthread_mutex_unlock(&ngx_http_functions_pub_mutex);

    for ( /* void */ ; m; m = next) {
        next = m->next;

        st->pending--;

        free(m->message);
        m->message = NULL;

        m->handler(m);
    }

    if (st->pending == 0 && st->keep.timer_set) {
        ngx_del_timer(&st->keep);
    }
}


/* a pending timer keeps an exiting worker until the messages are done */

static void
ngx_http_functions_pub_keep_handler(ngx_event_t *ev)
{
    long long                        stuck;
    ngx_http_functions_pub_state_t  *st = &ngx_http_functions_pub;

    pthread_mutex_lock(&ngx_http_functions_pub_mutex);

    stuck = (st->busy_fd != -1)
            ? ngx_http_functions_pub_now() - st->busy_since : 0;

    if (stuck > (long long) st->settings->confirm_timeout_ms) {
        /* the send fails at once, and the link is replaced */
        (void) shutdown(st->busy_fd, SHUT_RDWR);
    }

    pthread_mutex_unlock(&ngx_http_functions_pub_mutex);

    if (stuck > (long long) st->settings->confirm_timeout_ms) {
        ngx_log_error(NGX_LOG_ERR, ev->log, 0,
                      "functions: the broker took no data for %L ms: "
                      "its link is closed", stuck);
    }

    if (st->pending) {
        ngx_add_timer(ev, 1000);
    }
}


void
ngx_http_functions_pub_exit(void)
{
    uint64_t                         one = 1;
    struct timespec                  ts;
    ngx_http_functions_pub_state_t  *st = &ngx_http_functions_pub;

    if (ngx_http_functions_pub_state != NGX_HTTP_FUNCTIONS_PUB_RUNNING) {
        return;
    }

    pthread_mutex_lock(&ngx_http_functions_pub_mutex);

    st->quit = 1;

    if (st->busy_fd != -1) {
        (void) shutdown(st->busy_fd, SHUT_RDWR);
    }

    pthread_mutex_unlock(&ngx_http_functions_pub_mutex);

    if (write(st->wake_fd, &one, sizeof(one)) == sizeof(one)) {
        /* a thread opening a link ends its step within connect_timeout
         * (a step on each broker, when they fail in turn); one still
         * stuck past that ends with the process */
        ngx_memzero(&ts, sizeof(struct timespec));
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += ngx_max(st->settings->nbrokers, 1)
                     * (st->settings->connect_timeout_ms / 1000 + 1);

        (void) pthread_timedjoin_np(st->thread, NULL, &ts);
    }

    /* an exiting worker counts the connections still open */
    ngx_close_connection(st->done_conn);
    st->done_conn = NULL;

    ngx_http_functions_pub_state = NGX_HTTP_FUNCTIONS_PUB_FAILED;
}


/* ----------------------------------------------------- in the thread */

static void *
ngx_http_functions_pub_cycle(void *data)
{
    ngx_http_functions_pub_state_t  *st = data;

    ngx_uint_t                 quit;
    ngx_http_functions_pub_t  *m, *next;

    for ( ;; ) {
        pthread_mutex_lock(&ngx_http_functions_pub_mutex);

        m = st->in.head;
        ngx_http_functions_pub_list_init(&st->in);
        quit = st->quit;

        pthread_mutex_unlock(&ngx_http_functions_pub_mutex);

        if (quit) {
            /* the worker exits: with nothing pending (a graceful exit
             * waits for that), or its clients gone with it */
            break;
        }

        for ( /* void */ ; m; m = next) {
            next = m->next;

            ngx_http_functions_pub_list_add(
                ngx_http_functions_pub_body(m) == NGX_OK ? &st->ready
                                                         : &st->done, m);
        }

        if (st->ready.head != NULL) {
            ngx_http_functions_pub_send(st);
        }

        ngx_http_functions_pub_hand_back(st);

        ngx_http_functions_pub_wait(st);
        ngx_http_functions_pub_hand_back(st);
    }

    amqp_link_close(&st->link);

    return NULL;
}


/*
 * The whole message: the head, and the body read (from memory or from
 * its temporary file) and base64-encoded.  The request is blocked while
 * the message is pending, so its buffers stay.
 */

static ngx_int_t
ngx_http_functions_pub_body(ngx_http_functions_pub_t *m)
{
    u_char       *d;
    size_t        hlen, size;
    ssize_t       n;
    ngx_str_t     raw, b64;
    ngx_chain_t  *cl;

    size = 0;
    for (cl = m->body; cl; cl = cl->next) {
        size += ngx_buf_size(cl->buf);
    }

    raw.len = 0;
    raw.data = malloc(size + 1);
    b64.data = malloc(ngx_base64_encoded_length(size) + 1);
    hlen = ngx_strlen(m->head);
    m->message = malloc(hlen + ngx_base64_encoded_length(size)
                        + sizeof(",\"body\":\"\"}"));

    if (raw.data == NULL || b64.data == NULL || m->message == NULL) {
        ngx_cpystrn((u_char *) m->err, (u_char *) "out of memory",
                    sizeof(m->err));
        goto failed;
    }

    for (cl = m->body; cl; cl = cl->next) {
        if (cl->buf->in_file) {
            n = ngx_read_file(cl->buf->file, raw.data + raw.len,
                              cl->buf->file_last - cl->buf->file_pos,
                              cl->buf->file_pos);
            if (n != cl->buf->file_last - cl->buf->file_pos) {
                ngx_cpystrn((u_char *) m->err,
                            (u_char *) "cannot read the request body",
                            sizeof(m->err));
                goto failed;
            }

            raw.len += n;

        } else if (cl->buf->last != cl->buf->pos) {
            /* a chunked body ends with an empty buffer (pos NULL) */
            ngx_memcpy(raw.data + raw.len, cl->buf->pos,
                       cl->buf->last - cl->buf->pos);
            raw.len += cl->buf->last - cl->buf->pos;
        }
    }

    ngx_encode_base64(&b64, &raw);

    /* the head is compact JSON: its object ends with its last byte */
    d = ngx_cpymem(m->message, m->head, hlen - 1);
    d = ngx_cpymem(d, ",\"body\":\"", sizeof(",\"body\":\"") - 1);
    d = ngx_cpymem(d, b64.data, b64.len);
    *d++ = '"';
    *d++ = '}';
    m->len = d - (u_char *) m->message;

    free(raw.data);
    free(b64.data);

    return NGX_OK;

failed:

    free(raw.data);
    free(b64.data);
    free(m->message);
    m->message = NULL;

    return NGX_ERROR;
}


/* Every message ready, sent in a row (opening the link if need be). */

static void
ngx_http_functions_pub_send(ngx_http_functions_pub_state_t *st)
{
    struct amqp_settings      *s = st->settings;
    ngx_http_functions_pub_t  *m;
    char                       err[256];

    /* opening races others declaring the same queues at times */
    if (!st->link.open
        && amqp_link_open(&st->link, s, 1, err, sizeof(err)) != 0)
    {
        ngx_http_functions_pub_broken(st, err);
        return;
    }

    ngx_http_functions_pub_busy(st, 1);

    while (st->ready.head != NULL) {
        m = st->ready.head;

        if (amqp_link_send(&st->link, s->exchange, s->queue, m->message,
                           m->len, m->message_id, NULL, &m->tag, err,
                           sizeof(err))
            != 0)
        {
            /* the link is closed: what it held goes again */
            ngx_http_functions_pub_busy(st, 0);
            ngx_http_functions_pub_broken(st, err);
            return;
        }

        st->ready.head = m->next;
        if (st->ready.head == NULL) {
            st->ready.last = &st->ready.head;
        }

        m->deadline = ngx_http_functions_pub_now() + s->confirm_timeout_ms;
        ngx_http_functions_pub_list_add(&st->sent, m);
    }

    ngx_http_functions_pub_busy(st, 0);
}


/*
 * Waits for the broker (a confirm, or the oldest one's deadline) or for
 * new messages, and reads what the broker sent.
 */

static void
ngx_http_functions_pub_wait(ngx_http_functions_pub_state_t *st)
{
    int                     timeout;
    uint64_t                n;
    nfds_t                  nfds;
    long long               now;
    struct pollfd           pfd[2];
    amqp_connection_state_t c = st->link.conn;
    char                    err[256];

    now = ngx_http_functions_pub_now();

    if (st->ready.head != NULL) {
        timeout = 0;        /* a second try, at once */

    } else if (st->sent.head != NULL) {
        timeout = (int) ngx_max(st->sent.head->deadline - now, 0);

    } else {
        timeout = -1;
    }

    if (st->link.open && (amqp_frames_enqueued(c) || amqp_data_in_buffer(c)))
    {
        timeout = 0;
    }

    pfd[0].fd = st->wake_fd;
    pfd[0].events = POLLIN;
    pfd[0].revents = 0;
    nfds = 1;

    if (st->link.open) {
        pfd[1].fd = amqp_get_sockfd(c);
        pfd[1].events = POLLIN;
        pfd[1].revents = 0;
        nfds = 2;
    }

    if (timeout != 0) {
        pthread_mutex_lock(&ngx_http_functions_pub_mutex);

        if (st->in.head != NULL || st->quit) {
            timeout = 0;

        } else {
            st->asleep = 1;
        }

        pthread_mutex_unlock(&ngx_http_functions_pub_mutex);
    }

    if (timeout != 0) {
        (void) poll(pfd, nfds, timeout);

        pthread_mutex_lock(&ngx_http_functions_pub_mutex);
        st->asleep = 0;
        pthread_mutex_unlock(&ngx_http_functions_pub_mutex);

        /* the count back to 0 (non-blocking: it may be 0 already) */
        while (pfd[0].revents & POLLIN
               && read(st->wake_fd, &n, sizeof(n)) == -1
               && errno == EINTR)
        {
            /* again */
        }
    }

    if (st->link.open && (timeout == 0 || pfd[1].revents != 0)) {
        ngx_http_functions_pub_read(st);
    }

    if (st->sent.head != NULL
        && ngx_http_functions_pub_now() >= st->sent.head->deadline)
    {
        /* a confirm may still come: this link cannot tell them apart any
         * more */
        errf(err, sizeof(err), "no confirm within %u ms",
             st->settings->confirm_timeout_ms);
        ngx_http_functions_pub_broken(st, err);
    }
}


/* The frames the broker sent, without waiting for more. */

static void
ngx_http_functions_pub_read(ngx_http_functions_pub_state_t *st)
{
    int                      status;
    amqp_frame_t             f;
    amqp_message_t           msg;
    amqp_rpc_reply_t         r;
    struct timeval           tv;
    amqp_basic_ack_t        *ack;
    amqp_basic_nack_t       *nack;
    amqp_connection_state_t  c = st->link.conn;
    char                     err[256];

    for ( ;; ) {
        tv.tv_sec = 0;
        tv.tv_usec = 0;

        status = amqp_simple_wait_frame_noblock(c, &f, &tv);

        if (status == AMQP_STATUS_TIMEOUT) {
            amqp_maybe_release_buffers(c);
            return;
        }

        if (status != AMQP_STATUS_OK) {
            errf(err, sizeof(err), "waiting for the confirm: %s",
                 amqp_error_string2(status));
            ngx_http_functions_pub_broken(st, err);
            return;
        }

        if (f.frame_type != AMQP_FRAME_METHOD) {
            continue;
        }

        switch (f.payload.method.id) {

        case AMQP_BASIC_ACK_METHOD:
            ack = f.payload.method.decoded;
            ngx_http_functions_pub_confirmed(st, ack->delivery_tag,
                                             ack->multiple, 1);
            break;

        case AMQP_BASIC_NACK_METHOD:
            nack = f.payload.method.decoded;
            ngx_http_functions_pub_confirmed(st, nack->delivery_tag,
                                             nack->multiple, 0);

            if (st->nacked) {
                st->nacked = 0;
                ngx_http_functions_pub_broken(st,
                                           "the broker refused the message");
                return;
            }

            break;

        case AMQP_BASIC_RETURN_METHOD:
            /* its header and body follow: read without a bound */
            ngx_http_functions_pub_busy(st, 1);
            r = amqp_read_message(c, f.channel, &msg, 0);
            ngx_http_functions_pub_busy(st, 0);

            if (r.reply_type != AMQP_RESPONSE_NORMAL) {
                ngx_http_functions_pub_broken(st, "reading a returned "
                                              "message failed");
                return;
            }

            ngx_http_functions_pub_returned(st, &msg);
            amqp_destroy_message(&msg);
            break;

        case AMQP_CHANNEL_CLOSE_METHOD:
        case AMQP_CONNECTION_CLOSE_METHOD:
            ngx_http_functions_pub_broken(st, "the broker closed the link");
            return;

        default:
            break;
        }
    }
}


/* An ack or a nack: of tag, or with multiple of every tag up to it. */

static void
ngx_http_functions_pub_confirmed(ngx_http_functions_pub_state_t *st,
    uint64_t tag, ngx_uint_t multiple, ngx_uint_t ack)
{
    ngx_http_functions_pub_t   *m, **pm;
    struct amqp_settings       *s = st->settings;

    pm = &st->sent.head;

    while ((m = *pm) != NULL && m->tag <= tag) {

        if (m->tag != tag && !multiple) {
            pm = &m->next;
            continue;
        }

        *pm = m->next;
        if (*pm == NULL) {
            st->sent.last = pm;
        }

        if (!ack) {
            /* a nack stored nothing: again is safe, on a new link (the
             * try is counted when this one is closed) */
            ngx_http_functions_pub_list_add(&st->ready, m);
            st->nacked = 1;

        } else if (m->returned) {
            /* the broker's answer: no queue for it */
            errf(m->err, sizeof(m->err), "unroutable: no queue is bound "
                 "to \"%s\" with key \"%s\"", s->exchange, s->queue);
            ngx_http_functions_pub_list_add(&st->done, m);

        } else {
            m->ok = 1;
            ngx_http_functions_pub_list_add(&st->done, m);
        }
    }
}


/* A returned message (its ack comes next): the one with its id. */

static void
ngx_http_functions_pub_returned(ngx_http_functions_pub_state_t *st,
    amqp_message_t *msg)
{
    amqp_bytes_t              *id;
    ngx_http_functions_pub_t  *m;

    if (!(msg->properties._flags & AMQP_BASIC_MESSAGE_ID_FLAG)) {
        return;
    }

    id = &msg->properties.message_id;

    for (m = st->sent.head; m; m = m->next) {
        if (m->message_id != NULL && ngx_strlen(m->message_id) == id->len
            && ngx_memcmp(m->message_id, id->bytes, id->len) == 0)
        {
            m->returned = 1;
        }
    }
}


/* m failed one try: the next, or done with err. */

static void
ngx_http_functions_pub_again(ngx_http_functions_pub_state_t *st,
    ngx_http_functions_pub_t *m, const char *err)
{
    ngx_cpystrn((u_char *) m->err, (u_char *) err, sizeof(m->err));
    m->returned = 0;

    ngx_http_functions_pub_list_add(++m->tries < 2 ? &st->ready : &st->done,
                                    m);
}


/*
 * The link failed (or did not open): it is closed, and every message it
 * held or that waited for it has had a try.
 */

static void
ngx_http_functions_pub_broken(ngx_http_functions_pub_state_t *st,
    const char *err)
{
    ngx_http_functions_pub_t  *m, *next;

    amqp_link_close(&st->link);

    /* the sent ones first: they keep their order */
    *st->sent.last = st->ready.head;
    m = st->sent.head;

    ngx_http_functions_pub_list_init(&st->sent);
    ngx_http_functions_pub_list_init(&st->ready);

    for ( /* void */ ; m; m = next) {
        next = m->next;
        ngx_http_functions_pub_again(st, m, err);
    }
}


static void
ngx_http_functions_pub_hand_back(ngx_http_functions_pub_state_t *st)
{
    uint64_t  one = 1;

    if (st->done.head == NULL) {
        return;
    }

    pthread_mutex_lock(&ngx_http_functions_pub_mutex);

    *st->out.last = st->done.head;
    st->out.last = st->done.last;

    pthread_mutex_unlock(&ngx_http_functions_pub_mutex);

    ngx_http_functions_pub_list_init(&st->done);

    /* the event loop reads the count back to 0: an eventfd never
     * reaches its limit here */
    while (write(st->done_fd, &one, sizeof(one)) == -1
           && errno == EINTR)
    {
        /* again */
    }
}


/*
 * Around a step rabbitmq-c takes without a bound: the event loop's timer
 * may shut the socket down through a duplicate of it (close-on-exec, as
 * the link's own), which stays valid (never another file's number) until
 * the step is over.
 */

static void
ngx_http_functions_pub_busy(ngx_http_functions_pub_state_t *st,
    ngx_uint_t busy)
{
    int  fd;

    fd = busy ? fcntl(amqp_get_sockfd(st->link.conn), F_DUPFD_CLOEXEC, 0) : -1;

    pthread_mutex_lock(&ngx_http_functions_pub_mutex);

    if (st->busy_fd != -1) {
        close(st->busy_fd);
    }

    st->busy_fd = fd;
    st->busy_since = ngx_http_functions_pub_now();

    pthread_mutex_unlock(&ngx_http_functions_pub_mutex);
}


static long long
ngx_http_functions_pub_now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
