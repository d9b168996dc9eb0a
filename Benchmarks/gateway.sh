#!/usr/bin/env bash
# Issue 7's figures in one run: the gateway verifier beside `openssl speed` (uncached and cached,
# Benchmarks/verifier/run.sh) and then revocation propagation to a subscribed gateway
# (Benchmarks/feed/run.sh). Options go to verifier/run.sh (--seconds, --repeats, --core).
# Prints both markdown tables; docs/benchmarks.md records them.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bash "$root/Benchmarks/verifier/run.sh" "$@"
echo
bash "$root/Benchmarks/feed/run.sh"
