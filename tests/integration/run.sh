#!/usr/bin/env bash
# Runs the integration suite under both interpreters: the pyenv Python
# (boto3 1.43, SQS over JSON 1.0, aws CLI v1) and Debian's (boto3 1.26, SQS
# over the query protocol, aws CLI v2). SLUICE_BIN names the binary.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
pattern=${SLUICE_IT_PATTERN:-test_*.py}
json_py=${SLUICE_JSON_PYTHON:-$(command -v python3)}
query_py=/usr/bin/python3
status=0
for py in "$json_py" "$query_py"; do
    proto=$("$py" -c 'import sluice_harness as h; print(h.PROTOCOL)')
    echo "== integration ($proto protocol: $py)"
    "$py" -W ignore::ResourceWarning -m unittest discover -s "$here" -p "$pattern" -v 2>&1 | tail -n "${SLUICE_IT_TAIL:-400}" || status=1
done
exit $status
