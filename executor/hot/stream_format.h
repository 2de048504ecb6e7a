/*
 * Fn's http-stream format: each call is an HTTP/1.1 "POST /call" to the
 * socket the instance listens on (FN_LISTENER), its answer an HTTP/1.1
 * response on the same kept-alive connection.  Pure: the request's head,
 * and the client's status and headers from the function's answer.
 */
#ifndef EXECUTOR_STREAM_FORMAT_H
#define EXECUTOR_STREAM_FORMAT_H

#include "http_response.h"
#include "sandbox_args.h"

#include <stddef.h>

/*
 * The head of a call's request, ending with the empty line: POST /call,
 * Content-Length body_len, Fn-Call-Id, Fn-Deadline, Fn-Intent
 * (httprequest), Fn-Http-Method, Fn-Http-Request-Url, the client's
 * headers as Fn-Http-H-<name> (those hot_request_header_passes lets
 * through) and its Content-Type as it is.  A heap string (length in
 * *len), or NULL if memory runs out.
 */
char *stream_format_request(const struct call_info *ci, size_t body_len,
                            size_t *len);

/*
 * Turns the function's answer into the client's, in place, as Fn's HTTP
 * gateway does: the status is Fn-Http-Status if it is there (it must be a
 * number from 200 to 599), else 200, or 502 for an answer of 400 or more;
 * the headers are each Fn-Http-H-<name> as <name>, and Content-Type; the
 * rest (Fn-Fdk-Version, framing) goes.  0, or -1 with err.
 */
int stream_format_answer(struct http_response *res, char *err,
                         size_t errlen);

#endif
