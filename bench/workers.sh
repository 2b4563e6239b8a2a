#!/usr/bin/env bash
# The functions part under load: queue → function → table, with the seed's
# multiplication worker as a plugin (build/examples/workers.so, whose record
# handler the mapping calls), as the same plugin served by the compiled
# runtime-API client (build/examples/runtime-c/bootstrap, a process per slot)
# and as a Python process behind the runtime API; warm pools of 2. For each:
# throughput (send for N s, count results until the table has them all) and
# send → result latency at a fixed rate, measured by a probe that polls the
# table. Called by bench/run.sh; runs alone too.
#   bench/workers.sh [seconds] [conns]        env FSYNC=always|interval|off
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
conns=${2:-64}
make -s build/sluice build/sluice-bench build/examples/workers.so build/examples/runtime-c/bootstrap
. bench/lib.sh

# $1: plugin | process-c | process; $2: batch size; $3: function concurrency
config() {
    local fn
    if [ "$1" = plugin ]; then
        fn="kind: plugin
    handler: $PWD/build/examples/workers.so:multiplication"
    elif [ "$1" = process-c ]; then
        fn="kind: process
    command: $PWD/build/examples/runtime-c/bootstrap
    handler: $PWD/build/examples/workers.so:multiplication"
    else
        fn="kind: process
    command: $PWD/examples/runtimes/python/bootstrap
    dir: $PWD/examples/workers/python
    handler: calculator.multiplication"
    fi
    cat > "$bench_tmp/workers.yaml" <<YAML
queues:
  - name: bench
    attributes: { VisibilityTimeout: 60 }
tables:
  - name: bench-results
    partition_key: requestId
functions:
  - name: worker
    $fn
    timeout: 10
    concurrency: $3
mappings:
  - function: worker
    queue: bench
    batch_size: $2
    report_batch_item_failures: true
    on_success: table:bench-results
YAML
}

start() { sluice_start 14567 --config "$bench_tmp/workers.yaml"; }

# $1 kind, $2 batch, $3 concurrency, $4 latency rate, $5 seconds of sending
# for the throughput run (a slower kind gets less, so that draining what was
# sent stays within the benchmark's 120 s wait)
measure() {
    config "$1" "$2" "$3"
    start
    printf 'sluice %-9s batch=%-2s conc=%s ' "$1" "$2" "$3"
    build/sluice-bench -c "$conns" -d "${5:-$secs}" 127.0.0.1:14567 worker | tail -1
    sluice_stop
    start
    printf 'sluice %-9s batch=%-2s conc=%s ' "$1" "$2" "$3"
    build/sluice-bench -c 16 -d "$secs" -r "$4" 127.0.0.1:14567 worker-latency
    sluice_stop
}

echo "# workers: $(date -u +%F) $(nproc) cores, --fsync $fsync, ${secs}s per scenario"
measure plugin 10 4 "${PLUGIN_RATE:-25000}"
measure process-c 1 2 "${PROCESS_C_RATE:-10000}" 2
measure process 10 2 "${PROCESS_RATE:-2000}" 2
measure process 1 2 "${PROCESS_RATE1:-1000}" 0.5
