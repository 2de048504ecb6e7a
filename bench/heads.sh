#!/bin/bash
# The executor's HTTP parsers on one hot call's bytes (nginx's request, a
# hot function's answer): the one-pass reading of strict heads against
# http-parser alone, in the same process, alternating in rounds
# (bench/heads.c).  No services.  Usage: bench/heads.sh (env: BENCH_N,
# calls per round, default 200000; BENCH_ROUNDS, default 5).  Prints
# key=value lines and the ratios.
set -euo pipefail

. "$(dirname "$0")/lib.sh"
cc -std=gnu11 -D_GNU_SOURCE -O2 -Wall -Wextra -Werror \
    -I"$here/common" -I"$here/executor/core" -I"$here/executor/http" \
    -I"$here/executor/hot" -o "$dir/heads" "$here/bench/heads.c" \
    "$here/executor/http/request_parser.c" "$here/executor/http/http_head.c" \
    "$here/executor/hot/http_response.c" "$here/executor/core/arena.c" \
    "$here/common/errf.c" -lhttp_parser
"$dir/heads" "${BENCH_N:-200000}" "${BENCH_ROUNDS:-5}"
