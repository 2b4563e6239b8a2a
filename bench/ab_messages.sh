#!/usr/bin/env bash
# Two builds side by side on the SQS and SNS hot paths, alternating so the
# host's drift falls on both alike; a fresh daemon and data directory per
# run. Per build, fsync and round: sluice-bench send, recv-delete and
# publish with 50 subscriptions, 32 connections.
#   bench/ab_messages.sh BINARY_A BINARY_B
#   env ROUNDS (default 3), SECS (default 5)
# Example: the build before a commit against this one —
#   git worktree add /tmp/prev HEAD~1 && make -C /tmp/prev build/sluice
#   bench/ab_messages.sh /tmp/prev/build/sluice build/sluice
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -eq 2 ] || { echo "usage: bench/ab_messages.sh BINARY_A BINARY_B" >&2; exit 2; }
rounds=${ROUNDS:-3}
secs=${SECS:-5}
make -s -j2 build/sluice-bench
. bench/lib.sh
port=14590
bench_header "bench/ab_messages.sh, ${secs}s runs, $rounds rounds: A=$1 B=$2"
for _ in $(seq "$rounds"); do
    for fs in off always; do
        for sluice_bin in "$1" "$2"; do
            fsync=$fs sluice_start $port
            s=$(build/sluice-bench -c 32 -d "$secs" 127.0.0.1:$port send | head -1)
            r=$(build/sluice-bench -c 32 -d "$secs" 127.0.0.1:$port recv-delete | head -1)
            p=$(build/sluice-bench -c 32 -d "$secs" -S 50 127.0.0.1:$port publish | head -1)
            echo "$sluice_bin fsync=$fs"
            echo "  $s"; echo "  $r"; echo "  $p"
            sluice_stop
        done
    done
done
