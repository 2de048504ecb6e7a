#!/bin/bash
# Hot-call benchmark, every side measured in the same run:
#
#   throughput: BENCH_CONNS connections, closed loop, through the
#               executor's socket to hot instances of a small C function
#               (t/fn/hot.c, echoing the body), vs bench/baseline.c on a
#               Unix socket answering the very bytes the executor answered
#               (the socket hop and nothing else); and the same calls in
#               Fn's json format (t/fn/json.c);
#   latency:    the same two at BENCH_RATE requests/s (default 1000);
#   memory:     the executor's RSS with BENCH_IDLE (default 100) idle hot
#               instances, and what each instance costs beyond the
#               function's own process (its bubblewrap and init, PSS).
#
# Usage: bench/hot.sh  (as root; env: BENCH_SECONDS, BENCH_CONNS,
# BENCH_RATE, BENCH_IDLE, FUNCTIONS_BUILD).  Prints key=value lines and a
# summary with ratios.
set -euo pipefail

. "$(dirname "$0")/lib.sh"
rate=${BENCH_RATE:-1000}
idle=${BENCH_IDLE:-100}
bench_need functions-executor
bench_cc loadgen baseline
bench_hot_image

start_executor() {  # name, sandbox_uids (each its own)
    bench_executor "$1" "max_sandboxes = $((idle + 16))" \
        "memory_budget = 64g" "sandbox_uids = $2"
}
start_executor hot 1879179264-1879195647

# The format of the calls executor_load makes: http (t/fn/hot.c), json
# (t/fn/json.c) or http-stream (t/fn/stream.c).
format=http
route() {   # path, max_concurrency
    local image=hot
    [ "$format" = json ] && image=json
    [ "$format" = http-stream ] && image=stream
    printf 'Fn-Route: {"app":"bench","path":"%s","image":"oci:%s:v1","format":"%s","memory":64,"max_concurrency":%d,"idle_timeout":600}' "$1" "$image" "$format" "$2"
}
field() { sed -n "s/.*\\b$1=\\([^ ]*\\).*/\\1/p"; }

# One loadgen per connection: each has its own call id (a call id that is
# running already is refused).  Options after the first go to loadgen.
executor_load() {   # output prefix, loadgen options...
    local out=$1 i
    shift
    rm -f "$dir/$out"-*
    for i in $(seq "$conns"); do
        "$dir/loadgen" -u "$dir/hot/executor.sock" -m POST -p /call \
            -H "$(route /hot "$conns")" -H 'Fn-Method: POST' \
            -H 'Fn-Request-Url: http://bench/r/bench/hot' \
            -H "Fn-Call-Id: 01JDZ8K3X6W5N2V7Q9R4T1M$(printf '%03d' "$i")" \
            -b hello "$@" > "$dir/$out-$i" &
    done
    wait_ok=1
    bench_wait_jobs || wait_ok=0
    sed "s/^/  connection: /" "$dir/$out"-* >&2
    # latency percentiles: the worst connection's (a conservative merge)
    echo "rps=$(cat "$dir/$out"-* | field rps | awk '{ s += $1 } END { printf "%.1f", s }')" \
         "p50_ms=$(cat "$dir/$out"-* | field p50_ms | sort -n | tail -1)" \
         "p99_ms=$(cat "$dir/$out"-* | field p99_ms | sort -n | tail -1)" \
         "non_2xx=$(cat "$dir/$out"-* | field non_2xx | awk '{ s += $1 } END { print s }')" \
         "all_ok=$wait_ok"
}

echo "== warm-up: $conns hot instances"
executor_load warm -n 200 > /dev/null 2>&1

# The executor's answer, byte for byte, for the baseline to send.
perl -MIO::Socket::UNIX -e '
    my ($sock, $route, $out) = @ARGV;
    my $s = IO::Socket::UNIX->new(Peer => $sock) or die "connect: $!";
    print $s "POST /call HTTP/1.1\r\nHost: bench\r\nContent-Length: 5\r\n$route\r\n"
           . "Fn-Method: POST\r\nFn-Request-Url: http://bench/r/bench/hot\r\n"
           . "Fn-Call-Id: 01JDZ8K3X6W5N2V7Q9R4T1M999\r\n\r\nhello";
    my $buf = "";
    while ($buf !~ /\r\n\r\n/) { sysread($s, $buf, 65536, length $buf) or die }
    my ($len) = $buf =~ /Content-Length: (\d+)/i;
    my $need = index($buf, "\r\n\r\n") + 4 + $len;
    while (length($buf) < $need) { sysread($s, $buf, 65536, length $buf) or die }
    open(my $fh, ">", $out) or die;
    print $fh substr($buf, 0, $need);
' "$dir/hot/executor.sock" "$(route /hot "$conns")" "$dir/response"
"$dir/baseline" "$dir/baseline.sock" "$dir/response" &
pids+=($!)
for _ in $(seq 50); do [ -S "$dir/baseline.sock" ] && break; sleep 0.1; done
echo "answer: $(wc -c < "$dir/response") bytes, $(head -1 "$dir/response" | tr -d '\r')"

echo "== throughput: $conns connections for $seconds s"
exec_thr=$(executor_load thr -d "$seconds")
echo "executor  $exec_thr"
base_thr=$("$dir/loadgen" -u "$dir/baseline.sock" -m POST -p /call -b hello \
    -c "$conns" -d "$seconds")
echo "baseline  $base_thr"

echo "== throughput, format json (Fn's): $conns connections for $seconds s"
format=json
executor_load jwarm -n 200 > /dev/null 2>&1
json_thr=$(executor_load jthr -d "$seconds")
format=http
echo "executor  $json_thr"

echo "== throughput, format http-stream (Fn's): $conns connections for $seconds s"
format=http-stream
executor_load swarm -n 200 > /dev/null 2>&1
stream_thr=$(executor_load sthr -d "$seconds")
format=http
echo "executor  $stream_thr"

echo "== latency at $rate requests/s for $seconds s"
exec_lat=$(executor_load lat -d "$seconds" -r "$(echo "$rate / $conns" | bc -l)")
echo "executor  $exec_lat"
base_lat=$("$dir/loadgen" -u "$dir/baseline.sock" -m POST -p /call -b hello \
    -c "$conns" -d "$seconds" -r "$rate")
echo "baseline  $base_lat"

echo "== memory: $idle idle hot instances"
start_executor mem 1879195648-1879212031
ex_pid=${pids[-1]}
rss() { awk '/^VmRSS/ { print $2 }' "/proc/$1/status"; }
pss() { awk '/^Pss:/ { print $2 }' "/proc/$1/smaps_rollup"; }
"$dir/loadgen" -u "$dir/mem/executor.sock" -m POST -p /call \
    -H "$(route /m0 1)" -H 'Fn-Method: POST' \
    -H 'Fn-Request-Url: http://bench/r/bench/m0' \
    -H 'Fn-Call-Id: 01JDZ8K3X6W5N2V7Q9R4T1M000' -b hello -n 1 > /dev/null
rss0=$(rss "$ex_pid")
for i in $(seq 1 "$idle"); do
    "$dir/loadgen" -u "$dir/mem/executor.sock" -m POST -p /call \
        -H "$(route "/m$i" 1)" -H 'Fn-Method: POST' \
        -H "Fn-Request-Url: http://bench/r/bench/m$i" \
        -H "Fn-Call-Id: 01JDZ8K3X6W5N2V7Q9R4T2$(printf '%04d' "$i")" \
        -b hello -n 1 > /dev/null
done
rss1=$(rss "$ex_pid")
groups=$(ls -d /sys/fs/cgroup/memory/functions/bench-$$-mem/*/ \
              /sys/fs/cgroup/functions/bench-$$-mem/*/ 2>/dev/null || true)
sandbox_pss=0; function_pss=0; function_rss=0; instances=0
for g in $groups; do
    instances=$((instances + 1))
    for p in $(cat "$g/cgroup.procs"); do
        cmd=$(tr '\0' ' ' < "/proc/$p/cmdline" 2>/dev/null || true)
        case "$cmd" in
            /fn/hot*) function_pss=$((function_pss + $(pss "$p")))
                      function_rss=$((function_rss + $(rss "$p"))) ;;
            *) sandbox_pss=$((sandbox_pss + $(pss "$p"))) ;;
        esac
    done
done
echo "executor_rss_kib before=$rss0 with_${instances}_idle=$rss1"
echo "per_instance_kib executor=$(( (rss1 - rss0) / idle )) sandbox_pss=$((sandbox_pss / instances)) function_pss=$((function_pss / instances)) function_rss=$((function_rss / instances))"

echo "== summary"
awk -v et="$(echo "$exec_thr" | field rps)" -v bt="$(echo "$base_thr" | field rps)" \
    -v jt="$(echo "$json_thr" | field rps)" \
    -v st="$(echo "$stream_thr" | field rps)" \
    -v e50="$(echo "$exec_lat" | field p50_ms)" -v b50="$(echo "$base_lat" | field p50_ms)" \
    -v e99="$(echo "$exec_lat" | field p99_ms)" -v b99="$(echo "$base_lat" | field p99_ms)" \
    -v rate="$rate" -v n="$instances" -v r0="$rss0" -v r1="$rss1" \
    -v sp="$((sandbox_pss / instances))" -v fp="$((function_pss / instances))" 'BEGIN {
    printf "hot throughput: executor %.1f calls/s, baseline %.1f req/s (ratio %.2f; goal >= 0.60)\n", et, bt, et / bt
    printf "format json: executor %.1f calls/s (ratio to format http %.2f)\n", jt, jt / et
    printf "format http-stream: executor %.1f calls/s (ratio to format http %.2f)\n", st, st / et
    printf "at %d req/s: p50 executor %.3f ms, baseline %.3f ms; p99 executor %.3f ms, baseline %.3f ms (difference %.3f ms; goal <= 1)\n", rate, e50, b50, e99, b99, e99 - b99
    printf "memory: executor RSS %.1f MiB with %d idle instances (%.1f MiB before); per instance %.0f KiB in the executor, %.0f KiB PSS of bubblewrap and init, beside the function'"'"'s own %.0f KiB PSS\n", r1 / 1024, n, r0 / 1024, (r1 - r0) / n, sp, fp
}'
