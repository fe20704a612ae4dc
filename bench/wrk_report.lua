-- wrk script of the web benchmarks (bench/web_ratios.py): the request's headers come from
-- BENCH_HEADERS ("Name: value" lines), and the run ends with one JSON line of figures.

for name, value in string.gmatch(os.getenv("BENCH_HEADERS") or "", "([^\n:]+):%s*([^\n]*)") do
  wrk.headers[name] = value
end

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  statuses = {}
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local counts = {}
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("statuses")) do
      counts[status] = (counts[status] or 0) + n
    end
  end
  local parts = {}
  for status, n in pairs(counts) do
    table.insert(parts, string.format('"%d": %d', status, n))
  end
  local errors = summary.errors
  io.write(string.format(
    '{"requests": %d, "seconds": %.3f, "p50_ms": %.2f, "p95_ms": %.2f, "p99_ms": %.2f, ' ..
    '"statuses": {%s}, "socket_errors": %d}\n',
    summary.requests, summary.duration / 1e6,
    latency:percentile(50) / 1e3, latency:percentile(95) / 1e3, latency:percentile(99) / 1e3,
    table.concat(parts, ", "),
    errors.connect + errors.read + errors.write + errors.timeout))
end
