#!/bin/sh
# Installs what Sluice needs on Debian 12. `scripts/deps.sh` installs the
# build dependencies; `scripts/deps.sh --test` adds the test tooling (real
# AWS clients, clang's fuzzer runtime, valgrind, nginx and wrk for the benchmark,
# Prometheus to scrape /metrics in test_metrics, chromium and node for the
# console's browser tests).
# Uses sudo when not root; does nothing for packages already installed.
set -eu
pkgs="build-essential pkg-config libyaml-dev libssl-dev uuid-dev libjansson-dev libpcre2-dev"
if [ "${1:-}" = "--test" ]; then
    pkgs="$pkgs clang libclang-rt-14-dev python3 python3-boto3 awscli nginx-light wrk curl valgrind prometheus chromium"
    # the console's browser tests (tests/console) run under node with npm: a
    # node already on the machine (v20 or later, with its npm) is used as it is
    command -v node >/dev/null 2>&1 || pkgs="$pkgs nodejs"
    command -v npm >/dev/null 2>&1 || pkgs="$pkgs npm"
fi
missing=""
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
sudo=""
[ "$(id -u)" -eq 0 ] || sudo=sudo
echo "installing:$missing"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $missing >/dev/null
