/*
 * Fn's json format: a hot function reads each call as one JSON object on
 * its stdin and writes its answer as one JSON object on its stdout.  Pure.
 *
 * A call:   {"call_id":..., "content_type":..., "deadline":...,
 *            "body":"<the body, a string>",
 *            "protocol":{"type":"http", "method":..., "request_url":...,
 *                        "headers":{"Name":["value", ...], ...}}}
 *           and a newline.
 * A answer: {"body":"...", "content_type":"...",
 *            "protocol":{"status_code":200,
 *                        "headers":{"Name":["value", ...] or "value"}}}
 *           every member optional (an empty 200); whitespace around it is
 *           skipped.
 *
 * The body travels as a JSON string: a request body that is not UTF-8
 * cannot be sent in this format.
 */
#ifndef EXECUTOR_JSON_FORMAT_H
#define EXECUTOR_JSON_FORMAT_H

#include "http_response.h"
#include "sandbox_args.h"

#include <stddef.h>

/*
 * The call's JSON object and a newline: a heap string (its length in
 * *len), or NULL: out of memory, or (errno EILSEQ) a body that is not
 * UTF-8.
 */
char *json_format_request(const struct call_info *ci, const char *body,
                          size_t body_len, size_t *len);

struct json_answer_parser {
    size_t max;                 /* the most bytes one answer may take */
    size_t max_body;            /* its body, decoded */
    char *buf;                  /* the answer so far */
    size_t len, cap;
    int depth;                  /* of braces and brackets */
    int in_string, escaped;
    int complete;
    char error[160];            /* non-empty: the answer is unusable */
    struct http_response res;   /* once complete */
};

void json_answer_init(struct json_answer_parser *p, size_t max,
                      size_t max_body);

/*
 * Feeds bytes; returns how many were used.  Once complete (or in error)
 * nothing more is used: bytes left over are more than one answer.
 */
size_t json_answer_feed(struct json_answer_parser *p, const char *data,
                        size_t len);

/* Forgets the answer, for the next one. */
void json_answer_reset(struct json_answer_parser *p);
void json_answer_free(struct json_answer_parser *p);

#endif
