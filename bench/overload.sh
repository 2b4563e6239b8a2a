#!/usr/bin/env bash
# The overload program: measures Sluice's peak, then offers twice that for
# DURATION seconds and reports whether it shed the excess and stayed well.
#   1. peak: closed-loop SendMessage at CONNS connections for PEAK_SECS s
#      (sluice-bench send) on a fresh daemon;
#   2. overload: a fresh daemon, open-loop SendMessage at FACTOR x peak for
#      DURATION s over the same connections, pipelined whatever the answers
#      (sluice-bench overload), the daemon's VmRSS sampled every 0.2 s;
#   3. the report: offered, admitted/s, shed (503/429), other errors,
#      connection failures, the admitted requests' p50/p99/max latency (from
#      the moment each was due), the daemon's RSS (sampled max, and the
#      kernel's high-water mark) against MEM_LIMIT_MB, the messages it holds
#      at the end, and whether it stayed up (alive, /health answered, no
#      storage failure).
#   bench/overload.sh [DURATION]
#   env DURATION (60), PEAK_SECS (5), CONNS (64), FACTOR (2), MEM_LIMIT_MB
#       (1024), PORT (14570), FSYNC (bench/lib.sh), SLUICE_ARGS (more
#       `sluice serve` arguments, e.g. "--max-pending-requests 256")
# Exits 0 when the daemon stayed up and under MEM_LIMIT_MB, 1 otherwise.
# Everything it starts is stopped on exit (bench/lib.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-${DURATION:-60}}
peak_secs=${PEAK_SECS:-5}
conns=${CONNS:-64}
factor=${FACTOR:-2}
mem_limit_mb=${MEM_LIMIT_MB:-1024}
port=${PORT:-14570}
make -s build/sluice build/sluice-bench
. bench/lib.sh
read -r -a extra <<<"${SLUICE_ARGS:-}"

bench_header "bench/overload.sh: sluice --fsync $fsync, $conns connections; peak over ${peak_secs}s closed loop, then ${factor}x peak open loop for ${duration}s (SendMessage, 100-byte bodies)"

sluice_start "$port" "${extra[@]}"
peak_line=$(build/sluice-bench -c "$conns" -d "$peak_secs" 127.0.0.1:$port send)
sluice_stop
echo "peak:     $peak_line"
peak=$(sed -n 's/.* req\/s=\([0-9]*\).*/\1/p' <<<"$peak_line")
[ -n "$peak" ] && [ "$peak" -gt 0 ] || { echo "no peak measured"; exit 1; }
rate=$(awk -v p="$peak" -v f="$factor" 'BEGIN { printf "%d", p * f }')

sluice_start "$port" "${extra[@]}"
rss_file=$bench_tmp/rss
rss0=$(awk '/^VmRSS/ {print $2}' "/proc/$sp/status")
# the sampler ends with the daemon, or at the latest with this script
(while [ -r "/proc/$sp/status" ]; do awk '/^VmRSS/ {print $2}' "/proc/$sp/status" 2>/dev/null || true; sleep 0.2; done) \
    >"$rss_file" & bench_pids+=($!)
s0=$(stolen_ms)
over_line=$(build/sluice-bench -c "$conns" -d "$duration" -r "$rate" 127.0.0.1:$port overload)
stolen=$(( $(stolen_ms) - s0 ))
echo "overload: $over_line"

up=no
hwm=0
queued=?
if kill -0 "$sp" 2>/dev/null && curl -sf "http://127.0.0.1:$port/health" >/dev/null; then
    up=yes
    hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$sp/status")
    queued=$(curl -s -H 'X-Amz-Target: AmazonSQS.GetQueueAttributes' -H 'Content-Type: application/x-amz-json-1.0' \
        -d "{\"QueueUrl\":\"http://127.0.0.1:$port/000000000000/bench\",\"AttributeNames\":[\"ApproximateNumberOfMessages\"]}" \
        "http://127.0.0.1:$port/" | sed -n 's/.*"ApproximateNumberOfMessages":"\([0-9]*\)".*/\1/p')
fi
rss_max=$(sort -n "$rss_file" | tail -1)
rss_max=${rss_max:-0}
[ "$hwm" -gt "$rss_max" ] && rss_max=$hwm
shed_lines=$(grep -c 'event=http_shed' "$bench_tmp/sluice.err" || true)
failed=$(grep -c 'event=storage_failed' "$bench_tmp/sluice.err" || true)
[ "$failed" -gt 0 ] && up=no
sluice_stop
under=no
[ "$rss_max" -le $((mem_limit_mb * 1024)) ] && under=yes

echo "daemon:   up=$up rss_start_kb=$rss0 rss_max_kb=$rss_max (sampled every 0.2 s and VmHWM) limit_mb=$mem_limit_mb" \
     "under_limit=$under queued_messages=${queued:-?} shed_log_lines=$shed_lines stolen_ms=$stolen"
echo "summary:  peak=${peak}/s offered=${rate}/s" \
     "$(grep -o 'admitted/s=[0-9]*\|shed=[0-9]*\|errors=[0-9]*\|conn_failures=[0-9]*\|lost=[0-9]*\|unsent=[0-9]*\|unanswered=[0-9]*\| p50=[0-9.]*ms\| p99=[0-9.]*ms\| max=[0-9.]*ms' <<<"$over_line" | tr -d ' ' | tr '\n' ' ')" \
     "daemon_up=$up rss_max_mb=$((rss_max / 1024))"
[ "$up" = yes ] && [ "$under" = yes ]
