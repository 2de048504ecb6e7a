/*
 * The fast path of the executor's two HTTP parsers (the requests nginx
 * sends, the answers hot functions write): a head that is whole in the
 * bytes at hand and keeps to a strict subset of HTTP/1.1 is split into
 * its lines in one pass over a table of byte classes.  The parsers try
 * it only at a message's first byte, while http-parser has counted
 * nothing (it counts blank lines before a message against its limit on
 * a head).  Anything else (a head cut across reads, or any construct
 * outside the subset) is left to http-parser, which then reads the
 * message from its first byte, so
 * the subset only has to be one that http-parser reads the same way;
 * fuzz/http_fast_fuzz.c checks that, message by message, against
 * http-parser.  The subset:
 *
 *   - every line ends with CRLF; no line is folded (starts with SP or
 *     HTAB); the head is at most HTTP_HEAD_SCAN_MAX bytes;
 *   - a request line is "POST " origin-form " HTTP/1.1", the form made of
 *     letters, digits and -._~!$&'()*+,;=:@/?% only; a status line is
 *     "HTTP/1.1 " three digits from 200 to 599, a space and a reason;
 *   - a header name is a token followed at once by ':'; a value is HTAB,
 *     SP, visible ASCII and bytes over 0x7f, its leading blanks skipped
 *     (as http-parser skips them) and none at its end;
 *   - no header named Connection, Proxy-Connection, Transfer-Encoding or
 *     Upgrade, or with a name that starts so (http-parser 2.9 reads
 *     Transfer-Encodingx as Transfer-Encoding); at most one
 *     Content-Length, of 1 to 18 digits, and no name longer that starts
 *     with it.
 * Pure.
 */
#ifndef EXECUTOR_HTTP_HEAD_H
#define EXECUTOR_HTTP_HEAD_H

#include <stddef.h>
#include <stdint.h>

/* well under http-parser's own limit on a head (80 KiB) */
#define HTTP_HEAD_SCAN_MAX 65536

struct http_head_line {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
};

/* What http_head_request() and http_head_response() found; every pointer
 * is into the bytes given. */
struct http_head {
    const char *text;           /* request: the URL; response: the
                                 * reason phrase */
    size_t text_len;
    int status;                 /* response */
    size_t nlines;              /* header lines, in the caller's array */
    size_t head_len;            /* bytes up to and with the empty line */
    int has_length;             /* a Content-Length was given */
    uint64_t length;            /* its value */
};

/*
 * Reads a head from data[0..len) into h, its header lines into lines
 * (room for max_lines).  1 when the head is whole and within the subset;
 * 0 otherwise, nothing being decided (http-parser decides).
 */
int http_head_request(const char *data, size_t len, struct http_head *h,
                      struct http_head_line *lines, size_t max_lines);
int http_head_response(const char *data, size_t len, struct http_head *h,
                       struct http_head_line *lines, size_t max_lines);

#endif
