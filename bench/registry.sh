#!/bin/bash
# First call of a route whose image is not on the host, both sides in the
# same run against the same registry (Debian's docker-registry on
# 127.0.0.1, a storage of its own):
#
#   executor: POST /call of a registry reference on an executor with an
#             empty store: pull (manifest, config, layers, each checked
#             against its digest), unpack, sandbox, run;
#   skopeo:   skopeo copy of the same image from the same registry to a
#             local OCI layout (a pull alone: no unpack, no run).
#
# The image: about 10 MB in several layers (busybox and incompressible
# data).  Each round pushes it under a new repository, so neither side
# finds anything of it cached.  Usage: bench/registry.sh (as root; env:
# BENCH_N rounds, default 5; FUNCTIONS_BUILD).  Prints the times and the
# ratio of the medians (goal <= 1.0), and that of the executor's pull
# alone (its functions_image_pull_seconds) to skopeo's.
set -euo pipefail

. "$(dirname "$0")/lib.sh"
n=${BENCH_N:-5}
bench_need functions-executor
command -v skopeo > /dev/null && [ -x /usr/bin/docker-registry ] || {
    echo "bench/registry.sh: needs skopeo and docker-registry (make deps)" >&2
    exit 1
}

port=$(bench_port)
registry="127.0.0.1:$port"
mkdir -p "$dir/registry"
cat > "$dir/registry/config.yml" <<YML
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $dir/registry/data
http:
  addr: $registry
YML
/usr/bin/docker-registry serve "$dir/registry/config.yml" \
    > "$dir/registry/log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do
    curl -sf "http://$registry/v2/" > /dev/null && break
    sleep 0.1
done

# the image, as an OCI layout: busybox and four 2 MiB layers of random data
perl -I"$here/scripts/lib" -MFnImage -e '
    my ($d) = @ARGV;
    open(my $r, "<", "/dev/urandom") or die;
    my @layers = (FnImage::busybox_layer());
    for my $i (1 .. 4) {
        read($r, my $bytes, 2 << 20) == 2 << 20 or die;
        push @layers, [ [ "data", dir => 1 ],
                        [ "data/$i", data => $bytes, mode => 0644 ] ];
    }
    FnImage::build("$d/image", tag => "v1",
        config => { Cmd => ["/bin/sh", "-c", "echo ok"] },
        layers => \@layers);
' "$dir"
echo "image: $(du -sk "$dir/image/blobs" | cut -f1) KiB of blobs"

median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
now_ms() { date +%s%3N; }

exec_times=() pull_times=() skopeo_times=()
for i in $(seq "$n"); do
    skopeo --insecure-policy copy --quiet --dest-tls-verify=false \
        "oci:$dir/image:v1" "docker://$registry/bench/r$i:v1"
    skopeo --insecure-policy copy --quiet --dest-tls-verify=false \
        "oci:$dir/image:v1" "docker://$registry/bench/s$i:v1"

    # the executor: a fresh one, its store empty
    bench_executor "ex$i" "max_sandboxes = 4" "memory_budget = 1g" \
        "allowed_registries = $registry" "insecure_registries = $registry" \
        "sandbox_uids = $((1879179264 + i * 1024))-$((1879179264 + i * 1024 + 1023))"
    route='{"app":"bench","path":"/first","image":"'$registry/bench/r$i:v1'","memory":64}'
    t0=$(now_ms)
    code=$(curl -s -o "$dir/answer" -w '%{http_code}' \
        --unix-socket "$dir/ex$i/executor.sock" http://executor/call \
        -H 'Fn-Call-Id: 01JDZ8K3X6W5N2V7Q9R4T1M0AB' -H 'Fn-Method: GET' \
        -H 'Fn-Request-Url: http://bench/r/bench/first' \
        -H "Fn-Route: $route" --data-binary '')
    t1=$(now_ms)
    [ "$code" = 200 ] || { echo "executor: $code $(cat "$dir/answer")" >&2; exit 1; }
    exec_times+=($((t1 - t0)))
    # the pull's own share, as the executor's metrics time it
    pull_times+=($(curl -s --unix-socket "$dir/ex$i/executor.sock" \
        http://executor/metrics \
        | awk '/^functions_image_pull_seconds_sum / { printf "%d", $2 * 1000 }'))
    kill "${pids[-1]}"
    wait "${pids[-1]}" 2>/dev/null || true
    unset 'pids[-1]'

    t0=$(now_ms)
    skopeo --insecure-policy copy --quiet --src-tls-verify=false \
        "docker://$registry/bench/s$i:v1" "oci:$dir/copy$i:v1"
    t1=$(now_ms)
    skopeo_times+=($((t1 - t0)))
    echo "round $i: executor first call ${exec_times[-1]} ms (its pull ${pull_times[-1]} ms), skopeo copy ${skopeo_times[-1]} ms"
done

e=$(printf '%s\n' "${exec_times[@]}" | median)
s=$(printf '%s\n' "${skopeo_times[@]}" | median)
p=$(printf '%s\n' "${pull_times[@]}" | median)
echo "== summary"
echo "first call of an image from a registry: executor (pull + unpack + run) ${e} ms, skopeo copy (pull) ${s} ms (ratio $(echo "scale=2; $e / $s" | bc); goal <= 1.0)"
echo "the executor's pull alone: ${p} ms against skopeo copy ${s} ms (ratio $(echo "scale=2; $p / $s" | bc))"
