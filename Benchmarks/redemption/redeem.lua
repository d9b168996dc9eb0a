-- wrk script: each request redeems a different ID-JAG (they are single use) with the jwt-bearer
-- grant and client_secret_basic. Assertions come from the file in ASSERTIONS, one per line; thread i
-- of n takes lines i, i+n, i+2n, ... so no two requests share one. Non-200 answers are counted.
local threads = {}
local counter = 1

function setup(thread)
  thread:set("id", counter)
  table.insert(threads, thread)
  counter = counter + 1
end

function init(args)
  local path = os.getenv("ASSERTIONS")
  local n = tonumber(os.getenv("THREADS") or "2")
  assertions = {}
  local i = 0
  for line in io.lines(path) do
    if (i % n) == (id - 1) then table.insert(assertions, line) end
    i = i + 1
  end
  next_index = 1
  failures = 0
  exhausted = 0
  auth = "Basic " .. os.getenv("BASIC")
  resource = os.getenv("RESOURCE")
end

function request()
  local assertion = assertions[next_index]
  if assertion == nil then
    exhausted = exhausted + 1
    assertion = "exhausted"
  end
  next_index = next_index + 1
  local body = "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&resource=" .. resource .. "&assertion=" .. assertion
  return wrk.format("POST", "/token", {["Content-Type"] = "application/x-www-form-urlencoded", ["Authorization"] = auth}, body)
end

function response(status, headers, body)
  if status ~= 200 then failures = failures + 1 end
end

function done(summary, latency, requests)
  local failed = 0
  local ran_out = 0
  for _, t in ipairs(threads) do
    failed = failed + t:get("failures")
    ran_out = ran_out + t:get("exhausted")
  end
  io.write(string.format("BENCH non200=%d exhausted=%d requests=%d p50_ms=%.2f p99_ms=%.2f rps=%.0f\n",
    failed, ran_out, summary.requests, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.requests / (summary.duration / 1e6)))
end
