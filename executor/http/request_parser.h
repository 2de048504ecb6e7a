/*
 * HTTP/1.1 request parsing with the executor's limits: a head that is
 * whole in the bytes fed and strict (http_head.h) is read in one pass,
 * any other by http-parser.  Pure: bytes in, requests out; no I/O, so
 * that unit tests and the fuzzers drive it directly.
 */
#ifndef EXECUTOR_REQUEST_PARSER_H
#define EXECUTOR_REQUEST_PARSER_H

#include "arena.h"

#include <http_parser.h>
#include <stddef.h>

#define REQUEST_MAX_HEADERS 128
/* the arena block a connection keeps between requests: nginx's head of
 * a call (its route, call id, URL and the client's headers) fits */
#define REQUEST_ARENA_BLOCK 4000

struct http_header {
    char *name;
    char *value;
};

/* The url and the headers are in the parser's arena; the body is on the
 * heap (a caller may take it: it then sets body to NULL). */
struct http_request {
    unsigned method;            /* enum http_method */
    char *url;
    size_t url_len;
    struct http_header *headers;
    size_t nheaders;
    char *body;
    size_t body_len;
    int keep_alive;
};

struct request_parser {
    http_parser parser;
    struct http_request req;
    struct arena arena;         /* what req points to but its body */
    size_t headers_cap;         /* req.headers has room for this many */
    size_t name_len;            /* of the header being read */
    size_t value_len;
    size_t max_header;          /* request line + headers, bytes */
    size_t max_body;
    size_t header_bytes;
    int in_header_name;
    int started;                /* bytes of the current request were seen */
    int complete;               /* req holds a whole request */
    int error_status;           /* 4xx, 500 or 505: answer and close */
    size_t body_left;           /* of a body after a head read in one
                                 * pass (http-parser has not seen it) */
    int closing;                /* a request said close: http-parser
                                 * alone reads what follows */
    int slow_only;              /* tests: http-parser reads every head */
};

void request_parser_init(struct request_parser *p, size_t max_header,
                         size_t max_body);

/*
 * Feeds bytes (none: nothing happens).  Returns how many were consumed:
 * parsing stops after one whole request (p->complete), or at an error
 * (p->error_status).  After a
 * whole request, request_parser_next() readies the parser for the next
 * one on the same connection.
 */
size_t request_parser_feed(struct request_parser *p, const char *data,
                           size_t len);

void request_parser_next(struct request_parser *p);

/* Frees what the current request holds. */
void request_parser_free(struct request_parser *p);

/* Finds a request header, case-insensitively; NULL if absent. */
const char *http_request_header(const struct http_request *req,
                                const char *name);

#endif
