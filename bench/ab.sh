#!/usr/bin/env bash
# Two (or more) builds, or two settings, side by side on the gateway's
# calculator example, in alternating runs so that the host's drift during
# the run falls on all of them alike. Each run is on a fresh daemon and
# data directory.
#   bench/ab.sh accept SPEC...        nginx once, then gw-accept (the accept
#                                     path alone, 64 connections) per SPEC
#   bench/ab.sh e2e RATE SPEC...      gw-e2e at RATE round trips/s per SPEC,
#                                     with the CPU time the host stole
# SPEC is BINARY or BINARY:GAP (GAP: storage.sync_gap_us for that run).
#   env ROUNDS (default 3), SECS (default 5), FSYNC (bench/lib.sh)
# Example: a build of the previous commit against this one —
#   git worktree add /tmp/prev HEAD~1 && make -C /tmp/prev build/sluice
#   bench/ab.sh accept /tmp/prev/build/sluice build/sluice
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:?accept or e2e}
shift
rate=
if [ "$mode" = e2e ]; then rate=${1:?RATE}; shift; fi
[ $# -ge 1 ] || { echo "usage: bench/ab.sh accept|e2e [RATE] SPEC..." >&2; exit 2; }
rounds=${ROUNDS:-3}
secs=${SECS:-5}
make -s -j2 build/sluice build/sluice-bench build/examples/workers.so
. bench/lib.sh
port=14568
bench_header "bench/ab.sh $mode${rate:+ at $rate/s}, ${secs}s runs, $rounds rounds, fsync $fsync"

if [ "$mode" = accept ]; then
    nginx_start 18082
    echo "nginx static: $(build/sluice-bench -c 64 -d "$secs" 127.0.0.1:18082 static / | head -1)"
fi
for _ in $(seq "$rounds"); do
    for spec in "$@"; do
        sluice_bin=${spec%%:*}
        gap=
        [ "$spec" != "$sluice_bin" ] && gap=${spec#*:}
        calculator_configs "$gap"
        if [ "$mode" = accept ]; then
            sluice_start $port --config "$bench_tmp/accept-only.yaml"
            out=$(build/sluice-bench -k calculator-demo-key -c 64 -d "$secs" 127.0.0.1:$port gw-accept | head -1)
            echo "$spec: $out"
        else
            sluice_start $port --config "$bench_tmp/calculator.yaml"
            s0=$(stolen_ms)
            out=$(build/sluice-bench -k calculator-demo-key -c 64 -d "$secs" -r "$rate" 127.0.0.1:$port gw-e2e | head -1)
            echo "$spec: stolen=$(( $(stolen_ms) - s0 ))ms $out"
        fi
        sluice_stop
    done
done
