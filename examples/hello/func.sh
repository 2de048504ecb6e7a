#!/bin/sh
# The quickstart's demo function (format "default"): the request body is
# on stdin, the answer goes to stdout, logs to stderr.  GREETING comes from
# the route's (or the app's) config.
name=$(head -c 200)
echo "demo called by ${name:-someone}" >&2
echo "${GREETING:-Hello}, ${name:-world}! (app $FN_APP_NAME, route $FN_PATH, call $FN_CALL_ID)"
