# What the benchmark scripts (run.sh, workers.sh, gateway.sh) share; sourced
# from the repository's root after the script has built what it needs.
#
# It owns a temporary directory ($bench_tmp) and every process the script
# starts through it — nginx, the Sluice daemon, and whatever the script adds
# to bench_pids — and kills them all when the script exits: at the end, on
# a failed command (set -e) and on SIGINT/SIGTERM. One Sluice runs at a
# time ($sp); each sluice_start gets a fresh data directory, so that no
# measurement inherits the previous one's backlog or checkpoint.
#   env FSYNC=always|interval|off     the daemon's --fsync (default always)

fsync=${FSYNC:-always}
bench_tmp=$(mktemp -d /tmp/sluice-bench.XXXXXX)
bench_pids=()
sp=

bench_cleanup() {
    local p
    for p in "${bench_pids[@]}" $sp; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$bench_tmp"
}
trap bench_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The first line of every report: date, kernel, cores, CPU; then $1.
bench_header() {
    echo "# $(date -u +%F) $(uname -r) $(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
    echo "# $1"
}

# CPU time the hypervisor has taken from this VM so far (the steal column of
# /proc/stat, in ms): the difference over a scenario shows whether the host
# throttled the run (see docs/PERFORMANCE.md, "Stolen time").
stolen_ms() {
    awk -v hz="$(getconf CLK_TCK)" '/^cpu /{print int($9 * 1000 / hz); exit}' /proc/stat
}

# $1 url: waits up to 5 s for it to answer; 1 if it never did.
bench_wait_up() {
    for _ in $(seq 100); do curl -s -o /dev/null "$1" && return 0; sleep 0.05; done
    return 1
}

# nginx answering a static 200 "ok" on 127.0.0.1:$1 — the ceiling reference,
# one worker like Sluice's one loop thread.
nginx_start() {
    cat > "$bench_tmp/nginx.conf" <<NGX
worker_processes 1; daemon off; pid $bench_tmp/nginx.pid; error_log $bench_tmp/nginx.err;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 100000000; keepalive_timeout 300s; server { listen 127.0.0.1:$1; location / { return 200 "ok"; } } }
NGX
    nginx -c "$bench_tmp/nginx.conf" & bench_pids+=($!)
    bench_wait_up "http://127.0.0.1:$1/" || { echo "nginx did not start:"; cat "$bench_tmp/nginx.err"; exit 1; }
}

# Sluice on 127.0.0.1:$1 with a fresh data directory; the rest of the
# arguments go to `sluice serve` (e.g. --config FILE). $sluice_bin names
# another binary (default ./build/sluice).
sluice_start() {
    local port=$1
    shift
    rm -rf "$bench_tmp/data"
    "${sluice_bin:-./build/sluice}" serve --port "$port" --data "$bench_tmp/data" --fsync "$fsync" --log-level warn "$@" \
        2>"$bench_tmp/sluice.err" & sp=$!
    for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && return; sleep 0.05; done
    echo "sluice did not start:"; cat "$bench_tmp/sluice.err"; exit 1
}

# Stops the daemon; one that died during a measurement is reported, not
# silently replaced.
sluice_stop() {
    local rc=0
    if kill "$sp" 2>/dev/null; then
        wait "$sp" || rc=$?
    else
        wait "$sp" || rc=$?
        echo "sluice had exited (status $rc):"; tail -5 "$bench_tmp/sluice.err"
    fi
    sp=
}

# The calculator example (seed 000) as the gateway benchmarks run it:
# $bench_tmp/calculator.yaml with the demo key's plan lifted (the benchmarks
# measure Sluice, not the plan) and, with $1 = N, storage.sync_gap_us: N;
# $bench_tmp/accept-only.yaml the same without its mappings, so nothing
# consumes the queues (the accept path alone: POST → durable publish → 202).
calculator_configs() {
    sed -e "s#\.\./\.\./build/#$PWD/build/#" -e 's/^      rate: 100$/      rate: 1000000/' \
        -e 's/^      burst: 200$/      burst: 1000000/' -e 's/^      quota: 100000$/      quota: 10000000/' \
        ${1:+-e "s/^storage:/storage:\n  sync_gap_us: $1/"} \
        examples/calculator/sluice.yaml > "$bench_tmp/calculator.yaml"
    awk '/^mappings:/{skip=1; next} /^[a-z]/{skip=0} !skip' "$bench_tmp/calculator.yaml" > "$bench_tmp/accept-only.yaml"
}
