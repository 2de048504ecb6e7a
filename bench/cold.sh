#!/bin/bash
# Cold-call benchmark, every side measured in the same run:
#
#   latency:    one call at a time, through the executor's socket, in a new
#               sandbox per call (sandbox_idle_timeout = 0) and in a
#               sandbox kept from the call before (the default), vs the
#               same sandbox spawned directly (bwrap ... /bin/true, as the
#               sandbox user) vs plain fork+exec of /bin/true, the
#               host's and the image's (busybox); and
#               GET /health on the executor's socket, one at a time (the
#               request's own round trip, which fork+exec does not pay);
#               the reused sandbox and fork+exec alternate over
#               BENCH_ROUNDS rounds (default 3), and the summary gives
#               each round's ratio and their median;
#   throughput: concurrent calls of a shell script printing "hello",
#               through the executor (sandboxed, both ways) vs nginx +
#               fcgiwrap (unsandboxed).
#
# Usage: bench/cold.sh  (as root; env: BENCH_N, BENCH_SECONDS, BENCH_CONNS,
# BENCH_ROUNDS, FUNCTIONS_BUILD).  Prints key=value lines and a summary
# with ratios.
set -euo pipefail

. "$(dirname "$0")/lib.sh"
n=${BENCH_N:-300}
stop_servers() {
    local f
    # spawn-fcgi writes one pid per line
    for f in nginx.pid fcgi.pid; do
        [ -f "$dir/$f" ] && kill $(cat "$dir/$f") 2>/dev/null
    done
    return 0
}
bench_at_exit stop_servers
bench_need functions-executor
bench_cc loadgen spawn

# Two images: /bin/true, and a script that prints hello.
mkdir -p "$dir/images" "$dir/state"
perl -I"$here/scripts/lib" -MFnImage -e '
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

# Two executors: "fresh" makes a sandbox per call, "reuse" keeps them;
# each with host uids of its own.
start_executor() {  # name, sandbox_idle_timeout, sandbox_uids
    bench_executor "$1" "max_sandboxes = 16" "memory_budget = 8g" \
        "sandbox_idle_timeout = $2" "sandbox_uids = $3"
}
start_executor fresh 0 1879179264-1879180287
start_executor reuse 30s 1879180288-1879181311

route() {
    printf 'Fn-Route: {"app":"bench","path":"/%s","image":"oci:%s:v1","memory":64}' "$1" "$1"
}
call() {    # executor, image, loadgen options...
    local ex=$1 image=$2
    shift 2
    "$dir/loadgen" -u "$dir/$ex/executor.sock" -m POST -p /call \
        -H "$(route "$image")" -H 'Fn-Method: GET' \
        -H 'Fn-Request-Url: http://bench/r/bench/x' \
        -H 'Fn-Call-Id: 01JDZ8K3X6W5N2V7Q9R4T1M0AB' "$@"
}
field() { sed -n "s/.*\\b$1=\\([^ ]*\\).*/\\1/p"; }

# The same call id every time is fine where calls never overlap; the
# throughput runs give each connection its own (one loadgen each).

echo "== latency: $n calls one at a time"
call fresh true -n 20 > /dev/null               # unpacks the image
call reuse true -n 20 > /dev/null
fresh_line=$(call fresh true -n "$n")
echo "executor, new sandbox per call  $fresh_line"
rootfs=$(ls -d "$dir"/fresh/state/rootfs/[0-9a-f]* | head -1)
# the sandbox the executor makes (sandbox_args.c), running /bin/true
bwrap_args=(/usr/bin/bwrap --unshare-user --uid 1000 --gid 1000
    --unshare-pid --unshare-ipc --unshare-uts --unshare-cgroup-try
    --unshare-net --hostname function --disable-userns --die-with-parent
    --new-session --cap-drop ALL --ro-bind "$rootfs" / --proc /proc
    --ro-bind /proc/sys /proc/sys
    --dev /dev --size 67108864 --perms 1777 --tmpfs /dev/shm
    --remount-ro /dev --size 67108864 --perms 1777 --tmpfs /tmp --chdir /
    --clearenv --as-pid-1 -- /bin/true)
"$dir/spawn" -u 65534 20 "${bwrap_args[@]}" > /dev/null
bwrap_line=$("$dir/spawn" -u 65534 "$n" "${bwrap_args[@]}")
echo "bwrap                           $bwrap_line"
# A reused sandbox's call against fork+exec of /bin/true, the host's and
# the very binary the sandbox runs (busybox, static, unsandboxed),
# alternated over BENCH_ROUNDS rounds: the kernel goes on tearing down
# the namespaces of the phases above for a while after they end, and
# the machine drifts; both land on every side.  Each round's ratio is to
# the fork+exec measured beside it, and the summary takes the medians.
"$dir/spawn" 20 "$rootfs/bin/true" > /dev/null
: > "$dir/cold-rounds"
for r in $(seq "${BENCH_ROUNDS:-3}"); do
    reuse_line=$(call reuse true -n "$n")
    echo "round $r: executor, sandbox reused        $reuse_line"
    fork_line=$("$dir/spawn" "$n" /bin/true)
    echo "round $r: fork+exec                       $fork_line"
    same_line=$("$dir/spawn" "$n" "$rootfs/bin/true")
    echo "round $r: fork+exec of the image's true   $same_line"
    echo "$(echo "$reuse_line" | field p50_ms)" \
         "$(echo "$fork_line" | field p50_ms)" \
         "$(echo "$same_line" | field p50_ms)" \
         "$(echo "$reuse_line" | field p99_ms)" >> "$dir/cold-rounds"
done
# the request's own hop: the same socket and loadgen, nothing run
"$dir/loadgen" -u "$dir/reuse/executor.sock" -p /health -n 20 > /dev/null
hop_line=$("$dir/loadgen" -u "$dir/reuse/executor.sock" -p /health -n "$n")
echo "executor, GET /health           $hop_line"

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

throughput() {  # executor name
    local i
    call "$1" hello -n 20 > /dev/null
    rm -f "$dir"/thr-*
    for i in $(seq "$conns"); do
        "$dir/loadgen" -u "$dir/$1/executor.sock" -m POST -p /call \
            -H "$(route hello)" -H 'Fn-Method: GET' \
            -H 'Fn-Request-Url: http://bench/r/bench/x' \
            -H "Fn-Call-Id: 01JDZ8K3X6W5N2V7Q9R4T1M$(printf '%03d' "$i")" \
            -d "$seconds" > "$dir/thr-$i" &
    done
    wait_ok=1
    bench_wait_jobs || wait_ok=0
    sed "s/^/executor ($1) connection: /" "$dir"/thr-* >&2
    thr_rps=$(cat "$dir"/thr-* | field rps | awk '{ s += $1 } END { printf "%.1f", s }')
    thr_p50=$(cat "$dir"/thr-* | field p50_ms | sort -n | sed -n "$(( (conns + 1) / 2 ))p")
    echo "rps=$thr_rps p50_ms(median of connections)=$thr_p50 all_ok=$wait_ok"
}
reuse_thr=$(throughput reuse)
echo "executor, sandbox reused        $reuse_thr"
fresh_thr=$(throughput fresh)
echo "executor, new sandbox per call  $fresh_thr"

f50=$(echo "$fresh_line" | field p50_ms)
b50=$(echo "$bwrap_line" | field p50_ms)
f99=$(echo "$fresh_line" | field p99_ms)
b99=$(echo "$bwrap_line" | field p99_ms)
h50=$(echo "$hop_line" | field p50_ms)
# the rounds' medians: reused p50, fork+exec p50 (host, image), reused
# p99, and the ratios of each round
median() {
    sort -g | awk '{ v[NR] = $1 } END {
        print NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
col() { awk -v c="$1" '{ print $c }' "$2"; }
r50=$(col 1 "$dir/cold-rounds" | median)
x50=$(col 2 "$dir/cold-rounds" | median)
s50=$(col 3 "$dir/cold-rounds" | median)
r99=$(col 4 "$dir/cold-rounds" | median)
awk '{ printf "%.3f %.3f\n", $1 / $2, $1 / $3 }' "$dir/cold-rounds" \
    > "$dir/cold-ratios"
xr=$(col 1 "$dir/cold-ratios" | median)
sr=$(col 2 "$dir/cold-ratios" | median)
xrs=$(awk '{ printf "%s%s", (NR > 1 ? ", " : ""), $1 }' "$dir/cold-ratios")
frps=$(echo "$fcgi_line" | field rps)
rrps=$(echo "$reuse_thr" | field rps); nrps=$(echo "$fresh_thr" | field rps)
echo "== summary"
awk -v f50="$f50" -v r50="$r50" -v b50="$b50" -v x50="$x50" -v f99="$f99" \
    -v r99="$r99" -v b99="$b99" -v rrps="$rrps" -v nrps="$nrps" \
    -v frps="$frps" -v h50="$h50" -v s50="$s50" -v xr="$xr" -v sr="$sr" \
    -v xrs="$xrs" 'BEGIN {
    printf "cold latency p50 (reused and fork+exec: medians of the rounds): new sandbox %.2f ms, reused sandbox %.2f ms, bwrap %.2f ms, fork+exec %.2f ms\n", f50, r50, b50, x50
    printf "executor overhead over bwrap at p50, new sandbox: %.2f ms (ratio %.2f)\n", f50 - b50, f50 / b50
    printf "executor overhead over bwrap at p50, reused sandbox: %.2f ms (ratio %.2f)\n", r50 - b50, r50 / b50
    printf "reused sandbox against fork+exec at p50: %.2f ms against %.2f ms; ratio per round %s, median %.2f (goal <= 1.05); the request alone (GET /health) %.3f ms\n", r50, x50, xrs, xr, h50
    printf "reused sandbox against fork+exec of the image'"'"'s own /bin/true (busybox) at p50: %.2f ms against %.2f ms (median ratio %.2f)\n", r50, s50, sr
    printf "cold latency p99: new sandbox %.2f ms, reused sandbox %.2f ms, bwrap %.2f ms\n", f99, r99, b99
    printf "throughput: reused sandboxes %.1f calls/s, new sandbox per call %.1f calls/s, nginx+fcgiwrap %.1f req/s (ratios %.2f and %.2f)\n", rrps, nrps, frps, rrps / frps, nrps / frps
}'
