-- Included by every bench script: wrk prints one JSON line the bench reads.
function done(summary, latency, requests)
    local errors = summary.errors.connect + summary.errors.read + summary.errors.write
        + summary.errors.status + summary.errors.timeout
    io.write(string.format(
        'BENCH {"requests": %d, "seconds": %.3f, "errors": %d, "p50_ms": %.3f, "p99_ms": %.3f}\n',
        summary.requests, summary.duration / 1e6, errors,
        latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
