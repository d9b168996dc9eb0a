-- wrk script for the flood: every request presents a wrong secret for a known client id with
-- client_secret_basic, at full speed. FLOOD_PATH (default /introspect) and FLOOD_BASIC (base64 of
-- id:secret) choose the target. Counts the answers by status.
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  auth = "Basic " .. os.getenv("FLOOD_BASIC")
  path = os.getenv("FLOOD_PATH") or "/introspect"
  if path == "/token" then
    body = "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=x&resource=https%3A%2F%2Fmcp.demo.bridgekeeper.test%2Fgithub"
  else
    body = "token=not-a-token"
  end
  s401 = 0
  s429 = 0
  other = 0
end

function request()
  return wrk.format("POST", path, {["Content-Type"] = "application/x-www-form-urlencoded", ["Authorization"] = auth}, body)
end

function response(status, headers, body)
  if status == 401 then s401 = s401 + 1 elseif status == 429 then s429 = s429 + 1 else other = other + 1 end
end

function done(summary, latency, requests)
  local a, b, c = 0, 0, 0
  for _, t in ipairs(threads) do
    a = a + t:get("s401")
    b = b + t:get("s429")
    c = c + t:get("other")
  end
  io.write(string.format("FLOOD requests=%d rps=%.0f s401=%d s429=%d other=%d errors=%d p99_ms=%.2f\n",
    summary.requests, summary.requests / (summary.duration / 1e6), a, b, c,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(99) / 1000))
end
