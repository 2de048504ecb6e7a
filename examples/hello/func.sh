#!/bin/sh
# The quickstart's demo function (format "default"): the request body is
# on stdin, the answer goes to stdout, logs to stderr.
name=$(head -c 200)
echo "demo called by ${name:-someone}" >&2
echo "Hello, ${name:-world}! (app $FN_APP_NAME, route $FN_PATH, call $FN_CALL_ID)"
