#!/usr/bin/env bash
# Runs the benchmark: one Sluice (fresh data dir, --fsync always by default)
# and, in the same run, the references on this box: nginx answering a static
# 200 (the ceiling), and when installed, moto_server (SendMessage) and Redis
# (redis-benchmark LPUSH/RPOP). Prints one line per measurement.
#   bench/run.sh [seconds] [conns]        env FSYNC=always|interval|off
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
conns=${2:-64}
fsync=${FSYNC:-always}
make -s build/sluice build/sluice-bench
tmp=$(mktemp -d /tmp/sluice-bench.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT

echo "# $(date -u +%F) $(uname -r) $(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "# sluice --fsync $fsync, ${conns} connections, ${secs}s per scenario, 100-byte messages"

# nginx: the static ceiling, one worker like Sluice's one loop thread
cat > "$tmp/nginx.conf" <<NGX
worker_processes 1; daemon off; pid $tmp/nginx.pid; error_log $tmp/nginx.err;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 100000000; keepalive_timeout 300s; server { listen 127.0.0.1:18080; location / { return 200 "ok"; } } }
NGX
nginx -c "$tmp/nginx.conf" & pids+=($!)
sleep 0.5
printf 'nginx       '; build/sluice-bench -c "$conns" -d "$secs" 127.0.0.1:18080 static /

# each scenario on a fresh daemon and data directory, so none inherits the
# previous one's backlog (or its checkpoint)
for sc in send send-batch recv-delete recv-delete-batch; do
    rm -rf "$tmp/data"
    ./build/sluice serve --port 14566 --data "$tmp/data" --fsync "$fsync" --log-level warn & sp=$!
    sleep 0.5
    # the receive scenarios start on a queue holding more than they can take
    case $sc in recv-delete) fill=$((secs * 50000));; recv-delete-batch) fill=$((secs * 250000));; *) fill=0;; esac
    printf 'sluice      '; build/sluice-bench -c "$conns" -d "$secs" -n "$fill" 127.0.0.1:14566 "$sc"
    rss=$(awk '/VmRSS/ {print $2}' /proc/$sp/status)
    kill $sp; wait $sp 2>/dev/null || true
done
echo "# sluice RSS after the last scenario: ${rss} kB"

if command -v moto_server >/dev/null; then
    moto_server -p 15000 >/dev/null 2>&1 & pids+=($!)
    for _ in $(seq 50); do curl -s -o /dev/null http://127.0.0.1:15000/ && break; sleep 0.2; done
    printf 'moto_server '; build/sluice-bench -c 16 -d "$secs" 127.0.0.1:15000 send || true
fi
if command -v redis-server >/dev/null && command -v redis-benchmark >/dev/null; then
    redis-server --port 16379 --save "" --appendonly yes --appendfsync always --dir "$tmp" >/dev/null & pids+=($!)
    sleep 0.5
    echo "redis (appendfsync always, -c $conns):"
    redis-benchmark -p 16379 -c "$conns" -n 200000 -q -t lpush,rpop 2>&1 | tr '\r' '\n' | grep 'requests per second' | sed 's/^ */  /'
fi
