#!/bin/bash
# Async acceptance benchmark, both sides in the same run on one broker:
#
#   module:   POST /r/bench/later (an async route, from the route cache)
#             through nginx: 202 once RabbitMQ confirmed the persistent
#             message (published by the worker's publisher thread), its id
#             sealed with functions_async_key (the configuration
#             conf/nginx.conf shows);
#   records:  the same without functions_async_key: the 202 also waits for
#             the call's "queued" record in MariaDB (for information);
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

. "$(dirname "$0")/lib.sh" 8
bench_services
bench_need ngx_http_functions_module.so
bench_cc loadgen
cc -std=gnu11 -D_GNU_SOURCE -O2 -Wall -Wextra -Werror -pthread \
    -I"$here/common" -o "$dir/amqp_publish" "$here/bench/amqp_publish.c" \
    "$here/common/amqp_link.c" "$here/common/errf.c" -lrabbitmq
db=functions_bench_$$
vhost=bench_$$
rmqctl() {
    HOME=$var/rabbitmq RABBITMQ_NODENAME=$FUNCTIONS_AMQP_NODE \
        /usr/lib/rabbitmq/bin/rabbitmqctl -q "$@"
}
drop_vhost() { rmqctl delete_vhost "$vhost" > /dev/null 2>&1; }
bench_at_exit drop_vhost

bench_database "$db"
sql "$db" -e "INSERT INTO apps (name) VALUES ('bench');
              INSERT INTO routes (app_name, path, image, type)
              VALUES ('bench', '/later', 'oci:x:v1', 'async')"
rmqctl add_vhost "$vhost" > /dev/null
rmqctl set_permissions -p "$vhost" "$FUNCTIONS_AMQP_USER" '.*' '.*' '.*' > /dev/null
url="amqp://$FUNCTIONS_AMQP_USER:$(cat "$FUNCTIONS_AMQP_PASSWORD_FILE")@127.0.0.1:$FUNCTIONS_AMQP_PORT/$vhost"

port=$(bench_port)
port2=$(bench_port)
"$here/scripts/secret" "$dir/async.key" > /dev/null
cp "$here/conf/functions_params" "$dir/functions_params"
{ bench_nginx_head; cat <<CONF; } \
    > "$dir/nginx.conf"
    functions_mysql server=127.0.0.1:$FUNCTIONS_DB_PORT database=$db
                    user=$FUNCTIONS_DB_USER
                    password=$(cat "$FUNCTIONS_DB_PASSWORD_FILE");
    functions_route_cache zone=routes:1m valid=600s not_found=600s;
    functions_amqp url=$url;
    functions_async_key $dir/async.key;
    server {
        listen 127.0.0.1:$port;
        location /r/ {
            functions_route;
            proxy_pass http://127.0.0.1:1;
            include functions_params;
        }
    }
}
CONF
# the records side: a second nginx, the same but for the key
mkdir -p "$dir/records"
cp "$dir/functions_params" "$dir/records/"
sed -e "/functions_async_key/d" -e "s/127.0.0.1:$port;/127.0.0.1:$port2;/" \
    -e "s|$dir/|$dir/records/|g" "$dir/nginx.conf" > "$dir/records/nginx.conf"
mkdir -p "$dir/records/tmp"
stop_records() {
    [ -f "$dir/records/nginx.pid" ] \
        && kill "$(cat "$dir/records/nginx.pid")" 2>/dev/null
}
bench_at_exit stop_records
nginx -p "$dir" -c "$dir/nginx.conf"
nginx -p "$dir/records" -c "$dir/records/nginx.conf"
sleep 0.5
# warm up: the route cached, the threads' connections open
for p in "$port" "$port2"; do
    "$dir/loadgen" -t "127.0.0.1:$p" -c "$conns" -n 200 -m POST \
        -p /r/bench/later -b 'hello' > /dev/null || true
done
grep -m 3 '\[error\]' "$dir/nginx-error.log" "$dir/records/nginx-error.log" \
    || true

# a message of the module's size, for the raw publisher
size=$(perl -e 'print length(q({"call_id":"01ARZ3NDEKTSV4RRFFQ69G5FAV","app":"bench","path":"/later","route":{"app":"bench","path":"/later","image":"oci:x:v1","memory":128,"type":"async","format":"default","timeout":30,"idle_timeout":30,"max_concurrency":1,"headers":{},"config":{},"app_config":{}},"method":"POST","url":"http://127.0.0.1/r/bench/later","headers":[["Host","127.0.0.1"],["Content-Length","5"]],"body":"aGVsbG8=","attempt":1,"enqueued_at":1700000000000}))')

# each side starts from an empty queue (nothing consumes: a backlog left
# by the first would slow the broker for the second)
purge() { rmqctl purge_queue -p "$vhost" functions.calls > /dev/null; }

purge
echo "== raw publisher (rabbitmq-c, confirms), $conns connections, ${seconds}s"
raw=$("$dir/amqp_publish" -u "$url" -q functions.calls -c "$conns" \
      -d "$seconds" -s "$size")
echo "$raw"
purge
echo "== nginx + module, async route, $conns connections, ${seconds}s"
mod=$("$dir/loadgen" -t "127.0.0.1:$port" -c "$conns" -d "$seconds" \
      -m POST -p /r/bench/later -b 'hello') || true
echo "$mod"
purge
echo "== nginx + module without functions_async_key (records in MariaDB)," \
     "$conns connections, ${seconds}s"
rec=$("$dir/loadgen" -t "127.0.0.1:$port2" -c "$conns" -d "$seconds" \
      -m POST -p /r/bench/later -b 'hello') || true
echo "$rec"

raw_rate=$(sed -n 's/.*rate=\([0-9.]*\).*/\1/p' <<< "$raw")
raw_p50=$(sed -n 's/.*p50_ms=\([0-9.]*\).*/\1/p' <<< "$raw")
raw_p99=$(sed -n 's/.*p99_ms=\([0-9.]*\).*/\1/p' <<< "$raw")
mod_ok=$(sed -n 's/.* ok=\([0-9]*\).*/\1/p' <<< "$mod")
mod_s=$(sed -n 's/.*seconds=\([0-9.]*\).*/\1/p' <<< "$mod")
mod_p50=$(sed -n 's/.*p50_ms=\([0-9.]*\).*/\1/p' <<< "$mod")
mod_p99=$(sed -n 's/.*p99_ms=\([0-9.]*\).*/\1/p' <<< "$mod")
mod_rate=$(perl -e "printf '%.0f', $mod_ok / $mod_s")
rec_ok=$(sed -n 's/.* ok=\([0-9]*\).*/\1/p' <<< "$rec")
rec_s=$(sed -n 's/.*seconds=\([0-9.]*\).*/\1/p' <<< "$rec")
rec_rate=$(perl -e "printf '%.0f', $rec_ok / $rec_s")
echo
echo "summary: accepted async calls/s: module $mod_rate (202s only), raw" \
     "publisher $raw_rate, ratio" \
     "$(perl -e "printf '%.2f', $mod_rate / $raw_rate")" "(goal >= 0.80);" \
     "latency p50/p99 ms: module $mod_p50/$mod_p99, raw $raw_p50/$raw_p99;" \
     "without the key (records): $rec_rate/s, ratio" \
     "$(perl -e "printf '%.2f', $rec_rate / $raw_rate")"
