#!/usr/bin/env bash
# The gateway under load, in one run: nginx's static answer (the ceiling, at
# the same connection count), then Sluice serving the calculator example
# (examples/calculator/sluice.yaml, seed 000) — POST /inbound checks the API
# key (the demo key, its plan's throttle and quota lifted for the run: the
# bench measures Sluice, not the plan), validates, publishes to topic `requests`, filtered
# into queues division and multiplication, each consumed by the C plugin
# worker (build/examples/workers.so) that stores the result in table
# `results` — on a fresh daemon and data directory per scenario:
#   gw-accept        closed loop of POST /inbound: 202s per second, once with
#                    the mappings left out of the config (the accept path
#                    alone: POST → durable publish → 202) and once with the
#                    workers consuming everything it accepts
#   gw-e2e peak      closed loop of whole round trips (POST, then long-poll
#                    the statusUrl until the final 200): the e2e peak, lower
#                    than the accept peak since the workers run too
#   gw-e2e           open loop at RATE round trips/s (default half the peak):
#                    POST sent → final 200, and the POST's own latency
#   gw-replay        seed 002's artillery load (1,800 scenarios) replayed at
#                    full speed over the same connections (REPLAY_X=N: the
#                    seed's phase timing sped up N times instead)
# Prints each sluice-bench line (and the replay's artillery-style summary),
# then a table. Every process it starts is killed on exit, failure or
# interrupt (bench/lib.sh).
#   bench/gateway.sh [seconds] [conns] [e2e-rate]     env FSYNC=always|interval|off, REPLAY_X,
#                                                     E2E_LOW (a light-load e2e row, default 1000/s; 0: none)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
conns=${2:-64}
rate=${3:-}
replay_x=${REPLAY_X:-0}
make -s -j2 build/sluice build/sluice-bench build/examples/workers.so
. bench/lib.sh

nginx_port=18082
port=14568
key=calculator-demo-key
calculator_configs
config="$bench_tmp/calculator.yaml"
bench_header "sluice --fsync $fsync, examples/calculator/sluice.yaml, ${conns} connections, ${secs}s per scenario"

# $1 label; the rest: sluice-bench arguments. Runs it on a fresh daemon,
# prints its output and keeps its first line for the table.
lines=()
labels=()
stolen=()
measure() {
    local label=$1 out s0
    shift
    sluice_start $port --config "$config"
    s0=$(stolen_ms)
    out=$(build/sluice-bench -k $key "$@")
    stolen+=($(( $(stolen_ms) - s0 )))
    sluice_stop
    echo "$out"
    labels+=("$label")
    lines+=("$(head -1 <<<"$out")")
}

# field NAME LINE: the value of NAME=… in a sluice-bench line, without a
# unit "ms" ("-" if there is none)
field() {
    local v
    v=$(tr ' ' '\n' <<<"$2" | sed -n "s|^$1=||p" | head -1)
    v=${v%ms}
    echo "${v:--}"
}

nginx_start $nginx_port
s0=$(stolen_ms)
out=$(build/sluice-bench -c "$conns" -d "$secs" 127.0.0.1:$nginx_port static /)
stolen+=($(( $(stolen_ms) - s0 )))
echo "$out"
labels+=("nginx static")
lines+=("$out")

config="$bench_tmp/accept-only.yaml"
measure "gw-accept, workers stopped" -c "$conns" -d "$secs" 127.0.0.1:$port gw-accept
config="$bench_tmp/calculator.yaml"
measure "gw-accept, workers running" -c "$conns" -d "$secs" 127.0.0.1:$port gw-accept
measure "gw-e2e peak (closed loop)" -c "$conns" -d "$secs" -r 0 127.0.0.1:$port gw-e2e
if [ -z "$rate" ]; then
    peak=$(field achieved/s "${lines[-1]}")
    rate=$(( ${peak%.*} / 2 ))
    [ "$rate" -ge 1 ] || rate=1
fi
measure "gw-e2e at $rate/s" -c "$conns" -d "$secs" -r "$rate" 127.0.0.1:$port gw-e2e
low=${E2E_LOW:-1000}  # the floor: round trips at a light load (0: skip)
if [ "$low" -gt 0 ]; then
    measure "gw-e2e at $low/s" -c "$conns" -d "$secs" -r "$low" 127.0.0.1:$port gw-e2e
fi
measure "gw-replay (seed 002)" -c "$conns" -d "$secs" -x "$replay_x" 127.0.0.1:$port gw-replay

# The table: throughput is req/s (nginx), 202s/s (accept), round trips/s
# (e2e) or scenarios/s (replay); latencies are per request (nginx, accept)
# or POST sent → final answer (e2e, replay), in ms; stolen: CPU ms the host
# took from the VM during the scenario.
row() { printf '| %-26s | %-5s | %-11s | %-9s | %-7s | %-7s | %-7s | %-8s | %-15s | %-7s | %s |\n' "$@"; }
echo
row scenario conns offered "done/s" "p50 ms" "p90 ms" "p99 ms" "max ms" "POST p50 / p99" "stolen" errors
row --- --- --- --- --- --- --- --- --- --- ---
for i in "${!lines[@]}"; do
    l=${lines[$i]}
    done_s=$(field achieved/s "$l")
    [ "$done_s" = - ] && done_s=$(field scenarios/s "$l")
    [ "$done_s" = - ] && done_s=$(field msgs/s "$l")
    offered=$(field target "$l")
    [ "$offered" = - ] && offered=$(field speed "$l")
    [ "$offered" = - ] && offered=closed-loop
    post=-
    [ "$(field post_p50 "$l")" != - ] && post="$(field post_p50 "$l") / $(field post_p99 "$l")"
    errors=$(field errors "$l")
    [ "$(field errors_by "$l")" != - ] && errors="$errors ($(field errors_by "$l"))"
    row "${labels[$i]}" "$(field conns "$l")" "$offered" "$done_s" "$(field p50 "$l")" "$(field p90 "$l")" "$(field p99 "$l")" \
        "$(field max "$l")" "$post" "${stolen[$i]}" "$errors"
done
