-- wrk script: one machine-readable summary line with throughput and latency percentiles.
-- non2xx counts answers that were not 2xx (so a wrong token cannot pass as a fast 401);
-- timeouts are requests wrk gave up on after 2 s.
done = function(summary, latency, requests)
  local e = summary.errors
  local seconds = summary.duration / 1e6
  io.write(string.format(
    "RESULT requests=%d non2xx=%d connect_errors=%d io_errors=%d timeouts=%d rps=%.1f p50_us=%d p99_us=%d\n",
    summary.requests, e.status, e.connect, e.read + e.write, e.timeout, summary.requests / seconds,
    latency:percentile(50), latency:percentile(99)))
end
