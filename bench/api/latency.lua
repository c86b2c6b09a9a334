-- wrk script: one machine-readable summary line with throughput and latency percentiles.
-- Every non-2xx answer counts as an error (so a wrong token cannot pass as a fast 401).
done = function(summary, latency, requests)
  local e = summary.errors
  local errors = e.connect + e.read + e.write + e.status + e.timeout
  local seconds = summary.duration / 1e6
  io.write(string.format("RESULT requests=%d errors=%d rps=%.1f p50_us=%d p99_us=%d\n",
    summary.requests, errors, summary.requests / seconds,
    latency:percentile(50), latency:percentile(99)))
end
