#!/bin/bash
# Routing benchmark, every side measured in the same run on one nginx:
#
#   routing:  a hot function (t/fn/hot.c, echoing "hello") called through
#             /r/bench/hot (the module: call id, Fn-* headers dropped,
#             route from the shared cache, $fn_route) vs the same executor
#             through a plain proxy_pass location with the route written
#             into the configuration (the physical baseline of the design);
#   cache:    requests for routes answered by the module itself (async
#             routes, 503 "async not enabled": found, no executor), every
#             request a different route (each a miss: one query) vs the
#             same route again and again (each a hit).
#
# Needs the stack's services (scripts/stack services).  Usage:
# bench/module.sh  (as root; env: BENCH_SECONDS, BENCH_CONNS, BENCH_ROUTES,
# FUNCTIONS_BUILD).  Prints key=value lines and a summary with ratios.
set -euo pipefail

. "$(dirname "$0")/lib.sh"
bench_services
bench_need functions-executor
bench_need ngx_http_functions_module.so
bench_cc loadgen
bench_hot_image
db=functions_bench_$$

# The database: the schema, one hot route, many async ones.
bench_database "$db"
keys=${BENCH_ROUTES:-50000}
{
    echo "INSERT INTO apps (name) VALUES ('bench');"
    echo "INSERT INTO routes (app_name, path, image, format, max_concurrency)"
    echo "    VALUES ('bench', '/hot', 'oci:hot:v1', 'http', $conns);"
    echo "INSERT INTO routes (app_name, path, image, type) VALUES"
    seq 0 $((keys - 1)) | sed "s|.*|('bench', '/a&', 'oci:hot:v1', 'async')|" \
        | paste -sd, -
    echo ";"
} | sql "$db"

# nginx's workers run as www-data: the socket is theirs to use
bench_executor ex "listen_mode = 0666" "max_sandboxes = 16" \
    "memory_budget = 8g"

port=$(bench_port)
route='{"app":"bench","path":"/hot","image":"oci:hot:v1","memory":128,"type":"sync","format":"http","timeout":30,"idle_timeout":30,"max_concurrency":'$conns',"headers":{},"config":{},"app_config":{}}'
cp "$here/conf/functions_params" "$dir/functions_params"
{ bench_nginx_head; cat <<CONF; } > "$dir/nginx.conf"
    functions_mysql server=127.0.0.1:$FUNCTIONS_DB_PORT database=$db
                    user=$FUNCTIONS_DB_USER
                    password_file=$FUNCTIONS_DB_PASSWORD_FILE;
    functions_route_cache zone=routes:64m valid=600s not_found=600s;
    upstream executors {
        server unix:$dir/ex/executor.sock;
        keepalive 16;
    }
    functions_executors executors;
    server {
        listen 127.0.0.1:$port;
        location /r/ {
            functions_route;
            proxy_pass http://executors\$fn_executor_uri;
            include functions_params;
        }
        # the baseline: the same proxying with a fixed route and no lookup
        # (functions_params would ask the module for \$fn_route)
        location /direct/ {
            proxy_pass http://executors\$fn_executor_uri;
            proxy_method POST;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Fn-Call-Id \$fn_call_id;
            proxy_set_header Fn-Route '$route';
            proxy_set_header Fn-Method \$request_method;
            proxy_set_header Fn-Request-Url \$scheme://\$host\$request_uri;
        }
    }
}
CONF
/usr/sbin/nginx -c "$dir/nginx.conf" -p "$dir" -g 'user root;'
sleep 1.5       # past the route zone's first generation check

load() { "$dir/loadgen" -t "127.0.0.1:$port" -c "$conns" "$@"; }
field() { sed -n "s/.*\\b$1=\\([^ ]*\\).*/\\1/p"; }

echo "== warm-up"
load -m POST -b hello -p /r/bench/hot -n 400 > /dev/null
load -m POST -b hello -p /direct/hot -n 400 > /dev/null

echo "== routing: $conns connections for $seconds s"
mod=$(load -m POST -b hello -p /r/bench/hot -d "$seconds")
echo "module    $mod"
base=$(load -m POST -b hello -p /direct/hot -d "$seconds")
echo "baseline  $base"

echo "== route cache: $conns connections for $seconds s"
# these are answered 503 ("async not enabled"): loadgen reports non-2xx
warm=$(load -p /r/bench/a7 -d "$seconds" || true)
echo "warm      $warm"
# each of the routes once: every request a miss
cold=$(load -p /r/bench/a -k "$keys" -n "$keys" || true)
echo "cold      $cold"

echo "== summary"
awk -v mr="$(echo "$mod" | field rps)" -v br="$(echo "$base" | field rps)" \
    -v m50="$(echo "$mod" | field p50_ms)" -v b50="$(echo "$base" | field p50_ms)" \
    -v wr="$(echo "$warm" | field rps)" -v cr="$(echo "$cold" | field rps)" \
    -v keys="$keys" 'BEGIN {
    printf "routing: module %.1f calls/s, plain proxy_pass %.1f calls/s (ratio %.3f: routing costs %.1f%%; goal <= 10%%)\n", mr, br, mr / br, (1 - mr / br) * 100
    printf "p50: module %.3f ms, plain proxy_pass %.3f ms (a cache hit adds %.0f us; goal < 50 us)\n", m50, b50, (m50 - b50) * 1000
    printf "route cache: warm %.1f req/s, cold (each request another of %d routes, one query each) %.1f req/s (ratio %.2f)\n", wr, keys, cr, cr / wr
}'
