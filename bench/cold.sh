#!/bin/bash
# Cold-call benchmark, every side measured in the same run:
#
#   latency:    one call at a time, through the executor's socket, vs the
#               same sandbox spawned directly (bwrap ... /bin/true, as the
#               sandbox user) vs plain fork+exec of /bin/true;
#   throughput: concurrent calls of a shell script printing "hello",
#               through the executor (sandboxed) vs nginx + fcgiwrap
#               (unsandboxed).
#
# Usage: bench/cold.sh  (as root; env: BENCH_N, BENCH_SECONDS, BENCH_CONNS,
# FUNCTIONS_BUILD).  Prints key=value lines and a summary with ratios.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
build=${FUNCTIONS_BUILD:-$here/build/release}
n=${BENCH_N:-300}
seconds=${BENCH_SECONDS:-10}
conns=${BENCH_CONNS:-4}
dir=$(mktemp -d /tmp/functions-bench.XXXXXX)
chmod 755 "$dir"
pids=()

cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    # spawn-fcgi writes one pid per line
    for f in nginx.pid fcgi.pid; do
        [ -f "$dir/$f" ] && kill $(cat "$dir/$f") 2>/dev/null || true
    done
    sleep 0.5
    rm -rf "$dir"
}
trap cleanup EXIT

for tool in loadgen spawn; do
    cc -std=gnu11 -D_GNU_SOURCE -O2 -Wall -Wextra -Werror -pthread \
        -o "$dir/$tool" "$here/bench/$tool.c"
done
[ -x "$build/functions-executor" ] || { echo "build first: make" >&2; exit 1; }

# Two images: /bin/true, and a script that prints hello.
mkdir -p "$dir/images" "$dir/state"
perl -I"$here/t/lib" -MFnImage -e '
    my ($d) = @ARGV;
    my $base = FnImage::busybox_layer();
    FnImage::build("$d/images/true", tag => "v1",
        config => { Cmd => ["/bin/true"] }, layers => [ $base ]);
    FnImage::build("$d/images/hello", tag => "v1",
        config => { Cmd => ["/bin/sh", "/fn/hello"] },
        layers => [ $base, [ [ "fn", dir => 1 ],
                             [ "fn/hello", data => "echo hello\n",
                               mode => 0755 ] ] ]);
' "$dir"

cat > "$dir/executor.conf" <<CONF
listen = $dir/executor.sock
listen_mode = 0600
image_dir = $dir/images
state_dir = $dir/state
cgroup_name = functions/bench-$$
log_level = warn
log_file = $dir/executor.log
max_sandboxes = 16
memory_budget = 8g
queue_size = 1000
CONF
"$build/functions-executor" -c "$dir/executor.conf" &
pids+=($!)
for _ in $(seq 50); do [ -S "$dir/executor.sock" ] && break; sleep 0.1; done

route() {
    printf 'Fn-Route: {"app":"bench","path":"/%s","image":"oci:%s:v1","memory":64}' "$1" "$1"
}
call() {    # image, loadgen options...
    local image=$1
    shift
    "$dir/loadgen" -u "$dir/executor.sock" -m POST -p /call \
        -H "$(route "$image")" -H 'Fn-Method: GET' \
        -H 'Fn-Request-Url: http://bench/r/bench/x' \
        -H 'Fn-Call-Id: 01JDZ8K3X6W5N2V7Q9R4T1M0AB' "$@"
}
field() { sed -n "s/.*\\b$1=\\([^ ]*\\).*/\\1/p"; }

# The same call id every time is fine: calls here never overlap... except
# in the throughput run, where each connection must use its own.  loadgen
# sends one header set, so throughput calls get ids per connection below.

echo "== latency: $n calls one at a time"
call true -n 20 > /dev/null                     # unpacks the image
rootfs=$(ls -d "$dir"/state/rootfs/[0-9a-f]* | head -1)
exec_line=$(call true -n "$n")
echo "executor  $exec_line"
bwrap_args=(/usr/bin/bwrap --unshare-user --uid 1000 --gid 1000
    --unshare-pid --unshare-ipc --unshare-uts --unshare-cgroup-try
    --unshare-net --hostname function --disable-userns --die-with-parent
    --new-session --cap-drop ALL --ro-bind "$rootfs" / --proc /proc
    --dev /dev --size 67108864 --perms 1777 --tmpfs /tmp --chdir /
    --clearenv -- /bin/true)
"$dir/spawn" -u 65534 20 "${bwrap_args[@]}" > /dev/null
bwrap_line=$("$dir/spawn" -u 65534 "$n" "${bwrap_args[@]}")
echo "bwrap     $bwrap_line"
fork_line=$("$dir/spawn" "$n" /bin/true)
echo "fork+exec $fork_line"

echo "== throughput: $conns connections for $seconds s"
cat > "$dir/hello.cgi" <<'CGI'
#!/bin/sh
printf 'Content-Type: text/plain\r\n\r\n'
echo hello
CGI
chmod 755 "$dir/hello.cgi"
port=$(perl -MIO::Socket::INET -e 'print IO::Socket::INET->new(Listen => 1, LocalAddr => "127.0.0.1:0")->sockport')
spawn-fcgi -s "$dir/fcgi.sock" -M 0666 -F "$conns" -u nobody -g nogroup \
    -P "$dir/fcgi.pid" -- /usr/sbin/fcgiwrap > /dev/null
cat > "$dir/nginx.conf" <<CONF
daemon on;
pid $dir/nginx.pid;
error_log $dir/nginx-error.log;
worker_processes 1;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $dir/body;
    fastcgi_temp_path $dir/fastcgi;
    proxy_temp_path $dir/proxy;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;
    server {
        listen 127.0.0.1:$port;
        location / {
            fastcgi_pass unix:$dir/fcgi.sock;
            fastcgi_param SCRIPT_FILENAME $dir/hello.cgi;
            fastcgi_param REQUEST_METHOD \$request_method;
            fastcgi_param QUERY_STRING \$query_string;
            fastcgi_param GATEWAY_INTERFACE CGI/1.1;
        }
    }
}
CONF
/usr/sbin/nginx -c "$dir/nginx.conf" -p "$dir" -g 'user root;'
sleep 0.3
"$dir/loadgen" -t "127.0.0.1:$port" -c "$conns" -n 50 > /dev/null
fcgi_line=$("$dir/loadgen" -t "127.0.0.1:$port" -c "$conns" -d "$seconds")
echo "fcgiwrap  $fcgi_line"

# the executor refuses a call id that is running already: one per thread
# is not expressible with one header set, so run one loadgen per connection
call hello -n 20 > /dev/null
for i in $(seq "$conns"); do
    "$dir/loadgen" -u "$dir/executor.sock" -m POST -p /call \
        -H "$(route hello)" -H 'Fn-Method: GET' \
        -H 'Fn-Request-Url: http://bench/r/bench/x' \
        -H "Fn-Call-Id: 01JDZ8K3X6W5N2V7Q9R4T1M$(printf '%03d' "$i")" \
        -d "$seconds" > "$dir/thr-$i" &
done
wait_ok=1
for job in $(jobs -p); do
    case " ${pids[*]} " in *" $job "*) continue ;; esac
    wait "$job" || wait_ok=0
done
sed 's/^/executor connection: /' "$dir"/thr-*
thr_rps=$(cat "$dir"/thr-* | field rps | awk '{ s += $1 } END { printf "%.1f", s }')
thr_p50=$(cat "$dir"/thr-* | field p50_ms | sort -n | sed -n "$(( (conns + 1) / 2 ))p")
echo "executor  rps=$thr_rps p50_ms(median of connections)=$thr_p50 all_ok=$wait_ok"

e50=$(echo "$exec_line" | field p50_ms); b50=$(echo "$bwrap_line" | field p50_ms)
f50=$(echo "$fork_line" | field p50_ms)
e99=$(echo "$exec_line" | field p99_ms); b99=$(echo "$bwrap_line" | field p99_ms)
frps=$(echo "$fcgi_line" | field rps)
echo "== summary"
awk -v e50="$e50" -v b50="$b50" -v f50="$f50" -v e99="$e99" -v b99="$b99" \
    -v trps="$thr_rps" -v frps="$frps" 'BEGIN {
    printf "cold latency p50: executor %.2f ms, bwrap %.2f ms, fork+exec %.2f ms\n", e50, b50, f50
    printf "executor overhead over bwrap at p50: %.2f ms (ratio %.2f)\n", e50 - b50, e50 / b50
    printf "cold latency p99: executor %.2f ms, bwrap %.2f ms\n", e99, b99
    printf "throughput: executor %.1f calls/s, nginx+fcgiwrap %.1f req/s (ratio %.2f)\n", trps, frps, trps / frps
}'
