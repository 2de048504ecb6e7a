#!/bin/bash
# Async acceptance benchmark, both sides in the same run on one broker:
#
#   module:   POST /r/bench/later (an async route, from the route cache)
#             through nginx: 202 once RabbitMQ confirmed the persistent
#             message, published from nginx's thread pool, and the call
#             recorded as queued in MariaDB;
#   raw:      bench/amqp_publish.c, rabbitmq-c straight to the broker with
#             the same guarantees (persistent, mandatory, a confirm awaited
#             per message), the same number of connections and a message
#             of the same size.
#
# No executor consumes: only acceptance is measured.  Needs the stack's
# services (scripts/stack services).  Usage: bench/async.sh (as root; env:
# BENCH_SECONDS, BENCH_CONNS, FUNCTIONS_BUILD).  Prints key=value lines
# and a summary with the ratio.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
build=${FUNCTIONS_BUILD:-$here/build/release}
seconds=${BENCH_SECONDS:-10}
conns=${BENCH_CONNS:-8}
var=${FUNCTIONS_VAR:-$here/var}
dir=$(mktemp -d /tmp/functions-bench.XXXXXX)
chmod 755 "$dir"
db=functions_bench_$$
vhost=bench_$$

[ -f "$var/stack.env" ] || { echo "start the services: scripts/stack services" >&2; exit 1; }
. "$var/stack.env"
sql() { mariadb --no-defaults --socket="$FUNCTIONS_DB_SOCKET" --user=root "$@"; }
rmqctl() {
    HOME=$var/rabbitmq RABBITMQ_NODENAME=$FUNCTIONS_AMQP_NODE \
        /usr/lib/rabbitmq/bin/rabbitmqctl -q "$@"
}

cleanup() {
    [ -f "$dir/nginx.pid" ] && kill "$(cat "$dir/nginx.pid")" 2>/dev/null || true
    sql -e "DROP DATABASE IF EXISTS $db" || true
    rmqctl delete_vhost "$vhost" > /dev/null 2>&1 || true
    sleep 0.5
    rm -rf "$dir"
}
trap cleanup EXIT

cc -std=gnu11 -D_GNU_SOURCE -O2 -Wall -Wextra -Werror -pthread \
    -o "$dir/loadgen" "$here/bench/loadgen.c"
cc -std=gnu11 -D_GNU_SOURCE -O2 -Wall -Wextra -Werror -pthread \
    -I"$here/common" -o "$dir/amqp_publish" "$here/bench/amqp_publish.c" \
    "$here/common/amqp_link.c" "$here/common/errf.c" -lrabbitmq
[ -f "$build/ngx_http_functions_module.so" ] || { echo "build first: make" >&2; exit 1; }

sql -e "CREATE DATABASE $db CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
        GRANT ALL ON $db.* TO 'functions'@'127.0.0.1'"
FUNCTIONS_DB_PASSWORD_FILE=$FUNCTIONS_DB_PASSWORD_FILE \
    FUNCTIONS_DB_HOST=127.0.0.1 FUNCTIONS_DB_PORT=$FUNCTIONS_DB_PORT \
    FUNCTIONS_DB_USER=$FUNCTIONS_DB_USER FUNCTIONS_DB_SOCKET= \
    "$here/scripts/migrate" --database "$db" > /dev/null
sql "$db" -e "INSERT INTO apps (name) VALUES ('bench');
              INSERT INTO routes (app_name, path, image, type)
              VALUES ('bench', '/later', 'oci:x:v1', 'async')"
rmqctl add_vhost "$vhost" > /dev/null
rmqctl set_permissions -p "$vhost" "$FUNCTIONS_AMQP_USER" '.*' '.*' '.*' > /dev/null
url="amqp://$FUNCTIONS_AMQP_USER:$(cat "$FUNCTIONS_AMQP_PASSWORD_FILE")@127.0.0.1:$FUNCTIONS_AMQP_PORT/$vhost"

port=$(perl -MIO::Socket::INET -e 'print IO::Socket::INET->new(Listen => 1, LocalAddr => "127.0.0.1:0")->sockport')
mkdir -p "$dir/tmp"
cat > "$dir/nginx.conf" <<CONF
load_module $build/ngx_http_functions_module.so;
daemon on;
pid $dir/nginx.pid;
error_log $dir/nginx-error.log warn;
worker_processes 2;
thread_pool bench threads=$conns;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $dir/tmp;
    proxy_temp_path $dir/tmp;
    fastcgi_temp_path $dir/tmp;
    uwsgi_temp_path $dir/tmp;
    scgi_temp_path $dir/tmp;
    functions_mysql server=127.0.0.1:$FUNCTIONS_DB_PORT database=$db
                    user=$FUNCTIONS_DB_USER
                    password=$(cat "$FUNCTIONS_DB_PASSWORD_FILE");
    functions_route_cache zone=routes:1m valid=600s not_found=600s;
    functions_amqp url=$url thread_pool=bench;
    server {
        listen 127.0.0.1:$port;
        location /r/ {
            functions_route;
            proxy_pass http://127.0.0.1:1;
        }
    }
}
CONF
nginx -p "$dir" -c "$dir/nginx.conf"
sleep 0.5
# warm up: the route cached, the threads' connections open
"$dir/loadgen" -t "127.0.0.1:$port" -c "$conns" -n 200 -m POST \
    -p /r/bench/later -b 'hello' > /dev/null || true
grep -m 3 '\[error\]' "$dir/nginx-error.log" || true

# a message of the module's size, for the raw publisher
size=$(perl -e 'print length(q({"call_id":"01ARZ3NDEKTSV4RRFFQ69G5FAV","app":"bench","path":"/later","route":{"app":"bench","path":"/later","image":"oci:x:v1","memory":128,"type":"async","format":"default","timeout":30,"idle_timeout":30,"max_concurrency":1,"headers":{},"config":{},"app_config":{}},"method":"POST","url":"http://127.0.0.1/r/bench/later","headers":[["Host","127.0.0.1"],["Content-Length","5"]],"body":"aGVsbG8=","attempt":1,"enqueued_at":1700000000000}))')

echo "== raw publisher (rabbitmq-c, confirms), $conns connections, ${seconds}s"
raw=$("$dir/amqp_publish" -u "$url" -q functions.calls -c "$conns" \
      -d "$seconds" -s "$size")
echo "$raw"
echo "== nginx + module, async route, $conns connections, ${seconds}s"
mod=$("$dir/loadgen" -t "127.0.0.1:$port" -c "$conns" -d "$seconds" \
      -m POST -p /r/bench/later -b 'hello') || true
echo "$mod"

raw_rate=$(sed -n 's/.*rate=\([0-9.]*\).*/\1/p' <<< "$raw")
raw_p50=$(sed -n 's/.*p50_ms=\([0-9.]*\).*/\1/p' <<< "$raw")
raw_p99=$(sed -n 's/.*p99_ms=\([0-9.]*\).*/\1/p' <<< "$raw")
mod_ok=$(sed -n 's/.* ok=\([0-9]*\).*/\1/p' <<< "$mod")
mod_s=$(sed -n 's/.*seconds=\([0-9.]*\).*/\1/p' <<< "$mod")
mod_p50=$(sed -n 's/.*p50_ms=\([0-9.]*\).*/\1/p' <<< "$mod")
mod_p99=$(sed -n 's/.*p99_ms=\([0-9.]*\).*/\1/p' <<< "$mod")
mod_rate=$(perl -e "printf '%.0f', $mod_ok / $mod_s")
echo
echo "summary: accepted async calls/s: module $mod_rate (202s only), raw" \
     "publisher $raw_rate, ratio" \
     "$(perl -e "printf '%.2f', $mod_rate / $raw_rate")" "(goal >= 0.80);" \
     "latency p50/p99 ms: module $mod_p50/$mod_p99, raw $raw_p50/$raw_p99"
