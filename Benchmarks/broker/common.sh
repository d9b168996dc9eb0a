# Shared by Benchmarks/redemption/run.sh and Benchmarks/flood/run.sh (sourced, not run, from the
# repository root): a release broker on the demo configuration, on its own port and data.

# Sets BK to a release `bridgekeeper`: $BK_BIN when given (an A/B of another build), else built.
bench_broker_binary() {
  [ -x /opt/swift/usr/bin/swift ] && export PATH="/opt/swift/usr/bin:$PATH"
  command -v wrk >/dev/null || { apt-get install -y wrk >/dev/null || sudo apt-get install -y wrk >/dev/null; }
  if [ -n "${BK_BIN:-}" ]; then BK="$BK_BIN"; else
    swift build -c release --product bridgekeeper --scratch-path .build-bench >&2
    BK="$(swift build -c release --scratch-path .build-bench --show-bin-path)/bridgekeeper"
  fi
}

# Writes $1/bench.yaml: the demo configuration with issuer http://127.0.0.1:$2, ES256 access
# tokens, SQLite in $1, and request limits lifted (they would be the bottleneck). Exports
# BENCH_KEK, the key-encryption key it names.
bench_broker_config() {
  local work="$1" port="$2"
  sed -e "s#^issuer: .*#issuer: http://127.0.0.1:$port#" -e "s#^  port: .*#  port: $port#" \
      -e "s#^  encryption_key: .*#  encryption_key: env:BENCH_KEK#" \
      -e "s#^  algorithm: .*#  algorithm: ES256#" \
      idp-fixtures/demo-idp/bridgekeeper-demo.yaml > "$work/bench.yaml"
  sed -i "s#jwks_file: jwks.json#jwks_file: $PWD/idp-fixtures/demo-idp/jwks.json#" "$work/bench.yaml"
  cat >> "$work/bench.yaml" <<YAML
storage:
  sqlite: $work/bench.sqlite
rate_limits:
  per_client: {requests_per_second: 1000000, burst: 1000000}
  per_address: {requests_per_second: 1000000, burst: 1000000}
YAML
  export BENCH_KEK="$("$BK" keys encryption-key)"
}
