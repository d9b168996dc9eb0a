-- wrk script for the baseline: the same server's trivial endpoint.
function done(summary, latency, requests)
  io.write(string.format("BENCH non200=%d exhausted=0 requests=%d p50_ms=%.2f p99_ms=%.2f rps=%.0f\n",
    summary.errors.status, summary.requests, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.requests / (summary.duration / 1e6)))
end
