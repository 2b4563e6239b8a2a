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
make -s build/sluice build/sluice-bench build/filter-bench
. bench/lib.sh

bench_header "sluice --fsync $fsync, ${conns} connections, ${secs}s per scenario, 100-byte messages"

nginx_start 18080
printf 'nginx       '; build/sluice-bench -c "$conns" -d "$secs" 127.0.0.1:18080 static /

# each scenario on a fresh daemon and data directory, so none inherits the
# previous one's backlog (or its checkpoint)
for sc in send send-batch recv-delete recv-delete-batch; do
    sluice_start 14566
    # the receive scenarios start on a queue holding more than they can take
    case $sc in recv-delete) fill=$((secs * 50000));; recv-delete-batch) fill=$((secs * 250000));; *) fill=0;; esac
    printf 'sluice      '; build/sluice-bench -c "$conns" -d "$secs" -n "$fill" 127.0.0.1:14566 "$sc"
    rss=$(awk '/VmRSS/ {print $2}' /proc/$sp/status)
    sluice_stop
done
echo "# sluice RSS after the last scenario: ${rss} kB"

# SNS: Publish to a topic whose S queue subscriptions each filter on their own
# `operation` value (every message lands in one queue), then publish→receive
# latency at half the 2-subscription rate
for subs in 1 2 5 50; do
    sluice_start 14566
    out=$(build/sluice-bench -c "$conns" -d "$secs" -S "$subs" 127.0.0.1:14566 publish)
    printf 'sluice      %s subs=%s\n' "$out" "$subs"
    [ "$subs" = 2 ] && rate2=$(sed -n 's/.*msgs\/s=\([0-9]*\).*/\1/p' <<<"$out")
    sluice_stop
done
sluice_start 14566
printf 'sluice      '; build/sluice-bench -c "$conns" -d "$secs" -S 2 -r $((rate2 / 2)) 127.0.0.1:14566 publish-latency
sluice_stop

if command -v moto_server >/dev/null; then
    moto_server -p 15000 >/dev/null 2>&1 & bench_pids+=($!)
    for _ in $(seq 50); do curl -s -o /dev/null http://127.0.0.1:15000/ && break; sleep 0.2; done
    printf 'moto_server '; build/sluice-bench -c 16 -d "$secs" 127.0.0.1:15000 send || true
fi
if command -v redis-server >/dev/null && command -v redis-benchmark >/dev/null; then
    redis-server --port 16379 --save "" --appendonly yes --appendfsync always --dir "$bench_tmp" >/dev/null & bench_pids+=($!)
    sleep 0.5
    echo "redis (appendfsync always, -c $conns):"
    redis-benchmark -p 16379 -c "$conns" -n 200000 -q -t lpush,rpop 2>&1 | tr '\r' '\n' | grep 'requests per second' | sed 's/^ */  /'
fi

# filter-policy matching alone: ns per message against 1..1000 subscriptions
# of one topic, through the topic's filter index and one by one
echo "filter matching (build/filter-bench):"
build/filter-bench -t 0.5 | sed 's/^/  /'
bench/workers.sh "$secs" "$conns"
