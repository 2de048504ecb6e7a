/*
 * An HTTP/1.1 response read from a hot function's stdout, incrementally,
 * with limits: a head that is whole in the bytes fed and strict
 * (http_head.h) is read in one pass, any other by http-parser.  Pure:
 * bytes in, a response (or the reason there is none) out.  A hot function must frame its answer with Content-Length (204,
 * 304 and answers to HEAD have no body, whatever their Content-Length);
 * chunked encoding, interim (1xx) answers, a body over the limit, a head
 * over the limit (counted as the executor writes it on: each line's name,
 * value and 4 bytes) and more than HTTP_RESPONSE_HEADERS_MAX headers are
 * errors.
 */
#ifndef EXECUTOR_HTTP_RESPONSE_H
#define EXECUTOR_HTTP_RESPONSE_H

#include "arena.h"

#include <http_parser.h>
#include <stddef.h>

/*
 * The largest head a function may answer with: with a route's headers (at
 * most 4 KiB) and the executor's own, what nginx reads stays within the
 * 16 KiB proxy_buffer_size of conf/functions_params.
 */
#define HTTP_RESPONSE_HEAD_MAX 8192
/* and at most this many header lines */
#define HTTP_RESPONSE_HEADERS_MAX 100

struct http_response {
    int status;
    char **names;               /* headers, in order, in the arena */
    char **values;
    size_t nheaders;
    size_t headers_cap;         /* names and values have room for this */
    struct arena arena;
    char *body;                 /* on the heap */
    size_t body_len;
};

struct http_response_parser {
    http_parser parser;
    size_t max_header;
    size_t max_body;
    size_t header_bytes;
    int in_value;               /* the last header callback was a value */
    size_t name_len;            /* of the last header */
    size_t value_len;
    int started;                /* a byte of this response was seen */
    int complete;
    int head_request;           /* the answer to a HEAD: no body */
    int allow_chunked;          /* chunked bodies are taken */
    int keep_alive;             /* complete: the connection may carry
                                 * the next request */
    size_t body_cap;            /* allocated for a chunked body */
    int too_large;              /* the error is the body's size */
    size_t body_left;           /* of a body after a head read in one
                                 * pass (http-parser has not seen it) */
    int slow_only;              /* tests: http-parser reads every head */
    char error[160];            /* non-empty: the answer is unusable */
    struct http_response res;
};

void http_response_parser_init(struct http_response_parser *p,
                               size_t max_header, size_t max_body);

/*
 * Feeds bytes; returns how many were used.  Once complete (or in error)
 * nothing more is used: bytes left over are more than one answer.
 */
size_t http_response_feed(struct http_response_parser *p, const char *data,
                          size_t len);

void http_response_free(struct http_response *res);

/* Appends the header name: value (copies, into the arena), within
 * HTTP_RESPONSE_HEADERS_MAX.  0, or -1. */
int http_response_add(struct http_response *res, const char *name,
                      const char *value);

/* Forgets the response, for the next one. */
void http_response_parser_reset(struct http_response_parser *p);
void http_response_parser_free(struct http_response_parser *p);

#endif
