#!/bin/bash
# Hot calls end to end, as a user meets them, every side in the same run
# (BENCH_CONNS connections, default 16, closed loop, BENCH_SECONDS each):
#
#   nginx:      nginx answering "return 200" itself (the ceiling);
#   baseline:   nginx proxy_pass over a kept-alive Unix socket to a second
#               nginx that answers "return 200" (what any proxying costs);
#   executor:   the executor's socket directly, hot instances of
#               t/fn/hot.c (no nginx);
#   module:     nginx + module + executor, /r/bench/hot, with t/fn/hot.c
#               and with t/fn/hot.go (Go's own HTTP code, as a Go user
#               would write a hot function), configured as the stack is:
#               direct dispatch on (docs/direct.md), so that nginx's
#               workers write calls to instances leased from the
#               executor, which starts and limits them;
#   floor:      nginx + module + bench/relay.c in the executor's place: the
#               same functions, unsandboxed, behind a process that only
#               moves the bytes (what any executor on this path costs at
#               least), with t/fn/hot.c and with t/fn/hot.go;
#   handoff:    nginx + module with nothing between it and the function:
#               bench/handoff.c makes each of nginx's connections the
#               stdin and stdout of a copy of the function (what a
#               design with no process between nginx and the function
#               would pay; a function that reads a socket slower than a
#               pipe pays more), with t/fn/hot.c and with t/fn/hot.go;
#
# The baseline, the module, the floor and the handoff, each with
# t/fn/hot.c and with t/fn/hot.go, run in turn, BENCH_ROUNDS rounds
# (default 5); the summary gives each round's ratios and their medians.
# Also: the CPU per call (utime + stime from /proc, divided by the
# calls) of the executor over the module runs with t/fn/hot.c, and of
# the relay over the floor runs with t/fn/hot.c, each also split into
# user and system time; every phase's CPU per call split by process
# (functions, executor, relays, nginx, the rest) with the machine's idle
# share; and, in each round too, latency at BENCH_RATE requests/s in all
# (default 1000): baseline and module with t/fn/hot.c, one after the
# other and then both at once (each at BENCH_RATE), each round's p99
# differences and their medians; then, both at once too, the baseline
# against itself (how far apart the same path's p99 lands: the
# comparison's resolution on this machine), the handoff with the
# baseline, and the floor with the baseline (t/fn/hot.c).  RELAY_SPIN_US,
# if set, is passed on to the relays (bench/relay.c: they poll for up to
# that long before they sleep while a call is out).  Needs the stack's
# services (scripts/stack services).  Usage: bench/e2e.sh (as root; env:
# BENCH_SECONDS, BENCH_ROUNDS, BENCH_CONNS, BENCH_RATE, FUNCTIONS_BUILD,
# RELAY_SPIN_US).
# Prints key=value lines and a summary with ratios.
set -euo pipefail

. "$(dirname "$0")/lib.sh" 16
rate=${BENCH_RATE:-1000}
rounds=${BENCH_ROUNDS:-5}
bench_services
bench_need functions-executor
bench_need ngx_http_functions_module.so
bench_cc loadgen relay handoff
bench_hot_image
# the Go function, static
CGO_ENABLED=0 GOFLAGS=-mod=mod GOCACHE="$dir/gocache" \
    go build -o "$dir/hot-go-fn" "$here/t/fn/hot.go"
perl -I"$here/scripts/lib" -MFnImage -e '
    my ($d) = @ARGV;
    FnImage::build("$d/images/hotgo", tag => "v1",
        config => { Cmd => ["/fn/hot-go"] },
        layers => [ [ [ "fn", dir => 1 ],
                      [ "fn/hot-go", file => "$d/hot-go-fn", mode => 0755 ] ] ]);
' "$dir"
db=functions_bench_$$
bench_database "$db"
{
    echo "INSERT INTO apps (name) VALUES ('bench');"
    # instances outlive the phases in between (the default idle timeout,
    # 30 s, would let them go, and a latency phase would time cold starts)
    echo "INSERT INTO routes (app_name, path, image, format, max_concurrency,"
    echo "                    idle_timeout)"
    echo "    VALUES ('bench', '/hot', 'oci:hot:v1', 'http', $conns, 600),"
    echo "           ('bench', '/go', 'oci:hotgo:v1', 'http', $conns, 600);"
} | sql "$db"

bench_executor ex "listen_mode = 0666" "direct_listen = $dir/ex/direct.sock" \
    "max_sandboxes = $((2 * conns + 4))" \
    "memory_budget = 16g"
ex_pid=${pids[-1]}

# the floor: a relay per function, as many instances as connections
"$dir/relay" "$dir/relay-c.sock" "$conns" "$dir/hot-fn" &
pids+=($!)
relay_pid=$!
"$dir/relay" "$dir/relay-go.sock" "$conns" "$dir/hot-go-fn" &
pids+=($!)
# the handoff: a copy of the function per connection nginx opens
"$dir/handoff" "$dir/handoff-c.sock" "$dir/hot-fn" &
pids+=($!)
"$dir/handoff" "$dir/handoff-go.sock" "$dir/hot-go-fn" &
pids+=($!)
helper_pids="${pids[*]: -4}"

# the second nginx: "return 200" on a Unix socket
mkdir -p "$dir/b/tmp"
cat > "$dir/b/nginx.conf" <<CONF
daemon on;
pid $dir/b/nginx.pid;
error_log $dir/b/error.log warn;
worker_processes 2;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $dir/b/tmp;
    proxy_temp_path $dir/b/tmp;
    fastcgi_temp_path $dir/b/tmp;
    uwsgi_temp_path $dir/b/tmp;
    scgi_temp_path $dir/b/tmp;
    server {
        listen unix:$dir/b/nginx.sock;
        location / { return 200 "hello\n"; }
    }
}
CONF
stop_b() { [ -f "$dir/b/nginx.pid" ] && kill "$(cat "$dir/b/nginx.pid")"; }
bench_at_exit stop_b
/usr/sbin/nginx -c "$dir/b/nginx.conf" -p "$dir/b" -g 'user root;'

port=$(bench_port)
cp "$here/conf/functions_params" "$dir/functions_params"
{ bench_nginx_head; cat <<CONF; } > "$dir/nginx.conf"
    functions_mysql server=127.0.0.1:$FUNCTIONS_DB_PORT database=$db
                    user=$FUNCTIONS_DB_USER
                    password_file=$FUNCTIONS_DB_PASSWORD_FILE;
    functions_route_cache zone=routes:8m valid=600s not_found=600s;
    functions_direct $dir/ex/direct.sock;
    upstream executors {
        server unix:$dir/ex/executor.sock;
        keepalive 32;
    }
    upstream relay_c {
        server unix:$dir/relay-c.sock;
        keepalive 32;
    }
    upstream relay_go {
        server unix:$dir/relay-go.sock;
        keepalive 32;
    }
    upstream handoff_c {
        server unix:$dir/handoff-c.sock;
        keepalive 32;
        # a new connection is a new copy of the function (the Go
        # runtime's start each time): kept for the whole run
        keepalive_requests 100000000;
    }
    upstream handoff_go {
        server unix:$dir/handoff-go.sock;
        keepalive 32;
        # a new connection is a new copy of the function (the Go
        # runtime's start each time): kept for the whole run
        keepalive_requests 100000000;
    }
    upstream second {
        server unix:$dir/b/nginx.sock;
        keepalive 32;
    }
    functions_executors executors;
    server {
        listen 127.0.0.1:$port;
        location /r/ {
            functions_route;
            proxy_pass http://executors\$fn_executor_uri;
            include functions_params;
        }
        location /floor-c/ {
            functions_route;
            proxy_pass http://relay_c;
            include functions_params;
        }
        location /floor-go/ {
            functions_route;
            proxy_pass http://relay_go;
            include functions_params;
        }
        location /handoff-c/ {
            functions_route;
            proxy_pass http://handoff_c;
            include functions_params;
        }
        location /handoff-go/ {
            functions_route;
            proxy_pass http://handoff_go;
            include functions_params;
        }
        location = /return { return 200 "hello\n"; }
        location = /proxy {
            proxy_pass http://second;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
CONF
/usr/sbin/nginx -c "$dir/nginx.conf" -p "$dir" -g 'user root;'
sleep 1.5       # past the route zone's first generation check

load() { "$dir/loadgen" -t "127.0.0.1:$port" -c "$conns" "$@"; }
field() { sed -n "s/.*\\b$1=\\([^ ]*\\).*/\\1/p"; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/${1:-$ex_pid}/stat"; }
user_ticks() { awk '{ print $14 }' "/proc/${1:-$ex_pid}/stat"; }

# Where a phase's CPU goes, in ticks (utime + stime from /proc): the
# functions (every copy of t/fn/hot.c and t/fn/hot.go, under the
# executor, a relay or a handoff), their sandboxes' processes (bwrap and
# the init), the executor, the relays and handoffs, both nginx's
# workers, and the machine's busy and total ticks (/proc/stat).  Whatever
# the machine did besides is the load generator's and the rest's.
cpu_snap() {
    local ng
    ng=" $(cat "$dir/nginx.pid") $(cat "$dir/b/nginx.pid") "
    { cat /proc/[0-9]*/stat 2>/dev/null
      echo "MACHINE $(head -1 /proc/stat)"; } |
    awk -v ng="$ng" -v ex=" $ex_pid " -v re=" $helper_pids " '
    $1 == "MACHINE" {
        busy = $3 + $4 + $5 + $8 + $9 + $10; total = busy + $6 + $7
        next
    }
    {
        o = index($0, "("); c = length($0)
        while (c > o && substr($0, c, 1) != ")") c--
        comm = substr($0, o + 1, c - o - 1)
        n = split(substr($0, c + 2), f, " ")
        t = f[12] + f[13]
        # a handoff reaps the copies that ended: their time is its cutime
        if (index(re, " " $1 " ")) fn += f[14] + f[15]
        if (comm ~ /^hot(-go)?(-fn)?$/) fn += t
        else if (comm == "bwrap") sb += t
        else if (index(ex, " " $1 " ")) e += t
        else if (index(re, " " $1 " ")) r += t
        else if (comm == "nginx" && index(ng, " " f[2] " ")) w += t
    }
    END { printf "%d %d %d %d %d %d %d\n", fn, sb, e, r, w, busy, total }'
}

# measured NAME LOAD-ARGS...: one load phase, its output on stdout, and its
# calls with the ticks each part took in "$dir/cpu.txt".
measured() {
    local name=$1 a b out
    shift
    a=$(cpu_snap)
    out=$(load "$@")
    b=$(cpu_snap)
    echo "$out"
    echo "$name $(echo "$out" | field requests) $a $b" >> "$dir/cpu.txt"
}

# The executor's socket, one loadgen per connection (each its own call id:
# a call id that is running already is refused).
route='{"app":"bench","path":"/hot","image":"oci:hot:v1","format":"http","memory":128,"max_concurrency":'$conns',"idle_timeout":600}'
direct() {
    local i
    rm -f "$dir"/direct-*
    for i in $(seq "$conns"); do
        "$dir/loadgen" -u "$dir/ex/executor.sock" -m POST -p /call \
            -H "Fn-Route: $route" -H 'Fn-Method: POST' \
            -H 'Fn-Request-Url: http://bench/r/bench/hot' \
            -H "Fn-Call-Id: 01JDZ8K3X6W5N2V7Q9R4T1M$(printf '%03d' "$i")" \
            -b hello "$@" > "$dir/direct-$i" &
    done
    bench_wait_jobs
    echo "rps=$(cat "$dir"/direct-* | field rps | awk '{ s += $1 } END { printf "%.1f", s }')" \
         "p99_ms=$(cat "$dir"/direct-* | field p99_ms | sort -g | tail -1)"
}

echo "== warm-up"
load -m POST -b hello -p /r/bench/hot -n 2000 > /dev/null
load -m POST -b hello -p /r/bench/go -n 2000 > /dev/null
load -p /proxy -n 2000 > /dev/null
load -m POST -b hello -p /floor-c/bench/hot -n 2000 > /dev/null
load -m POST -b hello -p /floor-go/bench/go -n 2000 > /dev/null
load -m POST -b hello -p /handoff-c/bench/hot -n 2000 > /dev/null
load -m POST -b hello -p /handoff-go/bench/go -n 2000 > /dev/null
direct -n 100 > /dev/null

echo "== $conns connections, $seconds s each"
ret=$(load -p /return -d "$seconds"); echo "nginx     $ret"
exd=$(direct -d "$seconds"); echo "executor  $exd"

# The baseline and the module alternate, round after round, so that a
# drift of the machine (a neighbour, a frequency change) lands on both
# sides; each round's ratios compare phases a few seconds apart, against
# the mean of a baseline before the round's six module, floor and
# handoff phases and one after them (a drift within the round lands on
# both sides alike).
results=()
ticks=0
uticks=0
calls=0
rticks=0
ruticks=0
rcalls=0
for round in $(seq "$rounds"); do
    echo "== round $round of $rounds"
    base=$(measured baseline -p /proxy -d "$seconds"); echo "baseline  $base"
    t0=$(cpu_ticks); u0=$(user_ticks)
    mod=$(measured module-c -m POST -b hello -p /r/bench/hot -d "$seconds")
    t1=$(cpu_ticks); u1=$(user_ticks)
    uticks=$((uticks + u1 - u0))
    echo "module    $mod"
    modgo=$(measured module-go -m POST -b hello -p /r/bench/go -d "$seconds")
    echo "module-go $modgo"
    r0=$(cpu_ticks "$relay_pid"); ru0=$(user_ticks "$relay_pid")
    floor=$(measured floor-c -m POST -b hello -p /floor-c/bench/hot \
                     -d "$seconds")
    r1=$(cpu_ticks "$relay_pid"); ru1=$(user_ticks "$relay_pid")
    rticks=$((rticks + r1 - r0))
    ruticks=$((ruticks + ru1 - ru0))
    rcalls=$((rcalls + $(echo "$floor" | field requests)))
    echo "floor     $floor"
    floorgo=$(measured floor-go -m POST -b hello -p /floor-go/bench/go \
                       -d "$seconds")
    echo "floor-go  $floorgo"
    hand=$(measured handoff-c -m POST -b hello -p /handoff-c/bench/hot \
                    -d "$seconds")
    echo "handoff   $hand"
    handgo=$(measured handoff-go -m POST -b hello -p /handoff-go/bench/go \
                      -d "$seconds")
    echo "handoff-go $handgo"
    base2=$(measured baseline -p /proxy -d "$seconds"); echo "baseline  $base2"
    n=$(echo "$mod" | field requests)
    ticks=$((ticks + t1 - t0))
    calls=$((calls + n))
    # latency at a steady rate, in every round too: one phase's p99 moves
    # with the machine's noise (the baseline's own by 0.2 ms and more)
    base_lat=$(load -p /proxy -d "$seconds" -r "$rate")
    echo "baseline  at $rate/s: $base_lat"
    mod_lat=$(load -m POST -b hello -p /r/bench/hot -d "$seconds" -r "$rate")
    echo "module    at $rate/s: $mod_lat"
    # and both at once, each at BENCH_RATE: a stall of the machine (on
    # some machines the baseline's own p99 moves by milliseconds from one
    # phase to the next) then lands on both sides alike
    load -p /proxy -d "$seconds" -r "$rate" > "$dir/lat-base" &
    load -m POST -b hello -p /r/bench/hot -d "$seconds" -r "$rate" \
        > "$dir/lat-mod" &
    bench_wait_jobs
    echo "baseline  at $rate/s, together: $(cat "$dir/lat-base")"
    echo "module    at $rate/s, together: $(cat "$dir/lat-mod")"
    # the baseline against itself, both at once: how far apart two
    # identical paths' p99 land on this machine, the resolution of the
    # comparison above
    load -p /proxy -d "$seconds" -r "$rate" > "$dir/lat-a" &
    load -p /proxy -d "$seconds" -r "$rate" > "$dir/lat-b" &
    bench_wait_jobs
    echo "baseline  at $rate/s, against itself: $(cat "$dir/lat-a")"
    echo "baseline  at $rate/s, against itself: $(cat "$dir/lat-b")"
    # and the handoff with the baseline: what nginx reaching the function
    # with nothing between would get
    load -p /proxy -d "$seconds" -r "$rate" > "$dir/lat-hb" &
    load -m POST -b hello -p /handoff-c/bench/hot -d "$seconds" -r "$rate" \
        > "$dir/lat-hand" &
    bench_wait_jobs
    echo "baseline  at $rate/s, with the handoff: $(cat "$dir/lat-hb")"
    echo "handoff   at $rate/s, together: $(cat "$dir/lat-hand")"
    # and the floor with the baseline: the same number of processes on
    # the path as the module's, one of them doing nothing but move bytes
    load -p /proxy -d "$seconds" -r "$rate" > "$dir/lat-fb" &
    load -m POST -b hello -p /floor-c/bench/hot -d "$seconds" -r "$rate" \
        > "$dir/lat-floor" &
    bench_wait_jobs
    echo "baseline  at $rate/s, with the floor: $(cat "$dir/lat-fb")"
    echo "floor     at $rate/s, together: $(cat "$dir/lat-floor")"
    results+=("$(printf '%s\n' "$base" "$base2" | field rps | awk '{ s += $1 } END { printf "%.1f", s / 2 }') $(echo "$mod" | field rps) $(echo "$modgo" | field rps) $((t1 - t0)) $n $(echo "$base_lat" | field p50_ms) $(echo "$mod_lat" | field p50_ms) $(echo "$base_lat" | field p99_ms) $(echo "$mod_lat" | field p99_ms) $(echo "$floor" | field rps) $(echo "$floorgo" | field rps) $(echo "$hand" | field rps) $(echo "$handgo" | field rps) $(field p99_ms < "$dir/lat-base") $(field p99_ms < "$dir/lat-mod") $(field p99_ms < "$dir/lat-a") $(field p99_ms < "$dir/lat-b") $(field p99_ms < "$dir/lat-hb") $(field p99_ms < "$dir/lat-hand") $(field p99_ms < "$dir/lat-fb") $(field p99_ms < "$dir/lat-floor")")
done

hz=$(getconf CLK_TCK)
# per_call TICKS CALLS: microseconds of CPU per call
per_call() { echo "$1 * 1000000 / $hz / $2" | bc -l | xargs printf '%.1f'; }
echo "executor_cpu_us_per_call=$(per_call "$ticks" "$calls")"
echo "relay_cpu_us_per_call=$(per_call "$rticks" "$rcalls")"
# the same split into user and system time: the system part is what a
# process in the data path pays the kernel for its reads, writes and
# wake-ups; the relay's is that price with nothing else done
ex_user=$(per_call "$uticks" "$calls")
ex_sys=$(per_call "$((ticks - uticks))" "$calls")
re_user=$(per_call "$ruticks" "$rcalls")
re_sys=$(per_call "$((rticks - ruticks))" "$rcalls")
echo "executor_user_us_per_call=$ex_user executor_sys_us_per_call=$ex_sys"
echo "relay_user_us_per_call=$re_user relay_sys_us_per_call=$re_sys"

# the median of a[1..n], for both summaries below
awk_median='
function median(a, n,    i, j, t) {
    for (i = 2; i <= n; i++)
        for (j = i; j > 1 && a[j - 1] > a[j]; j--) {
            t = a[j]; a[j] = a[j - 1]; a[j - 1] = t
        }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}'
echo "== summary"
printf '%s\n' "${results[@]}" |
awk -v rt="$(echo "$ret" | field rps)" -v et="$(echo "$exd" | field rps)" \
    -v rate="$rate" -v hz="$hz" -v eu="$ex_user" -v es="$ex_sys" \
    -v ru="$re_user" -v rs="$re_sys" "$awk_median"'
{
    n++; bt[n] = $1; mt[n] = $2; gt[n] = $3
    rc[n] = $2 / $1; rg[n] = $3 / $1; cpu[n] = $4 * 1000000 / hz / $5
    tk += $4; cl += $5
    b50[n] = $6; m50[n] = $7; b99[n] = $8; m99[n] = $9; d99[n] = $9 - $8
    fc[n] = $10 / $1; fg[n] = $11 / $1; ec[n] = $2 / $10; eg[n] = $3 / $11
    hc[n] = $12 / $1; hg[n] = $13 / $1
    tb99[n] = $14; tm99[n] = $15; td99[n] = $15 - $14
    aa[n] = $16 > $17 ? $16 - $17 : $17 - $16; hd99[n] = $19 - $18
    aa1[n] = $16; aa2[n] = $17; hb99[n] = $18; hh99[n] = $19
    fb99[n] = $20; ff99[n] = $21; fd99[n] = $21 - $20
}
END {
    printf "nginx return 200: %.1f req/s\n", rt
    for (i = 1; i <= n; i++)
        printf "round %d: baseline (nginx -> nginx over a Unix socket, the mean of two) %.1f req/s; module, t/fn/hot.c %.1f calls/s (ratio %.3f); module, t/fn/hot.go %.1f calls/s (ratio %.3f); executor CPU %.1f us/call\n", i, bt[i], mt[i], rc[i], gt[i], rg[i], cpu[i]
    for (i = 1; i <= n; i++)
        printf "round %d: floor (module + relay, no executor): t/fn/hot.c ratio %.3f, t/fn/hot.go ratio %.3f\n", i, fc[i], fg[i]
    for (i = 1; i <= n; i++)
        printf "round %d: handoff (module, then the function, nothing between): t/fn/hot.c ratio %.3f, t/fn/hot.go ratio %.3f\n", i, hc[i], hg[i]
    printf "executor direct (t/fn/hot.c): %.1f calls/s (ratio to the median baseline %.2f)\n", et, et / median(bt, n)
    printf "nginx + module + executor, t/fn/hot.c: median ratio %.3f over %d rounds (goal >= 0.60)\n", median(rc, n), n
    printf "nginx + module + executor, t/fn/hot.go: median ratio %.3f over %d rounds (goal >= 0.45)\n", median(rg, n), n
    printf "floor (module + relay), t/fn/hot.c: median ratio %.3f; t/fn/hot.go: median ratio %.3f\n", median(fc, n), median(fg, n)
    printf "handoff (module, then the function), t/fn/hot.c: median ratio %.3f; t/fn/hot.go: median ratio %.3f\n", median(hc, n), median(hg, n)
    printf "module with the executor against the floor: t/fn/hot.c median %.3f, t/fn/hot.go median %.3f (what the goals need: %.3f and %.3f)\n", median(ec, n), median(eg, n), 0.60 / median(fc, n), 0.45 / median(fg, n)
    printf "executor CPU per call (utime + stime), all rounds: %.1f us\n", tk * 1000000 / hz / cl
    printf "split: executor %.1f us user + %.1f us system; relay (moves the bytes only) %.1f us user + %.1f us system\n", eu, es, ru, rs
    for (i = 1; i <= n; i++)
        printf "round %d at %d req/s: p50 module %.3f ms, baseline %.3f ms; p99 module %.3f ms, baseline %.3f ms (difference %.3f ms)\n", i, rate, m50[i], b50[i], m99[i], b99[i], d99[i]
    printf "p99 at %d req/s, module - baseline: median %.3f ms over %d rounds (goal <= 0.3)\n", rate, median(d99, n), n
    for (i = 1; i <= n; i++)
        printf "round %d, both at once at %d req/s each: p99 module %.3f ms, baseline %.3f ms (difference %.3f ms)\n", i, rate, tm99[i], tb99[i], td99[i]
    printf "p99 at %d req/s each, both at once, module - baseline: median %.3f ms over %d rounds (goal <= 0.3)\n", rate, median(td99, n), n
    for (i = 1; i <= n; i++)
        printf "round %d, the baseline against itself at %d req/s each: p99 %.3f ms and %.3f ms (%.3f ms apart); the handoff with the baseline: p99 %.3f ms, baseline %.3f ms (difference %.3f ms)\n", i, rate, aa1[i], aa2[i], aa[i], hh99[i], hb99[i], hd99[i]
    printf "p99 at %d req/s each, both at once: the baseline against itself, median %.3f ms apart; handoff - baseline, median %.3f ms, over %d rounds\n", rate, median(aa, n), median(hd99, n), n
    for (i = 1; i <= n; i++)
        printf "round %d, the floor with the baseline at %d req/s each: p99 floor %.3f ms, baseline %.3f ms (difference %.3f ms)\n", i, rate, ff99[i], fb99[i], fd99[i]
    printf "p99 at %d req/s each, both at once, floor - baseline: median %.3f ms over %d rounds\n", rate, median(fd99, n), n
}'

# Where each phase's CPU went, per call: the median over the rounds of
# each part (a part's rounds and the machine's are medians apart, so the
# parts need not add up to the machine's exactly).
echo "== CPU per call (us, utime + stime; median over rounds)"
awk -v hz="$hz" "$awk_median"'
$2 > 0 {
    p = $1
    if (!(p in n)) order[++np] = p
    k = ++n[p]
    for (i = 1; i <= 6; i++)
        v[p, i, k] = ($(i + 9) - $(i + 2)) * 1000000 / hz / $2
    tot = $16 - $9
    idle[p, k] = tot > 0 ? 100 * (1 - ($15 - $8) / tot) : 0
    rest[p, k] = v[p, 6, k] - v[p, 1, k] - v[p, 2, k] - v[p, 3, k] \
                 - v[p, 4, k] - v[p, 5, k]
}
END {
    printf "%-11s %9s %8s %8s %8s %9s %6s %8s %5s\n", "phase",
           "function", "sandbox", "executor", "relay", "nginx(2)", "rest",
           "machine", "idle"
    for (q = 1; q <= np; q++) {
        p = order[q]
        for (i = 1; i <= 6; i++) {
            for (k = 1; k <= n[p]; k++) a[k] = v[p, i, k]
            m[i] = median(a, n[p])
        }
        for (k = 1; k <= n[p]; k++) a[k] = rest[p, k]
        r = median(a, n[p])
        for (k = 1; k <= n[p]; k++) a[k] = idle[p, k]
        printf "%-11s %9.1f %8.1f %8.1f %8.1f %9.1f %6.1f %8.1f %4.0f%%\n",
               p, m[1], m[2], m[3], m[4], m[5], r, m[6], median(a, n[p])
    }
}' "$dir/cpu.txt"
