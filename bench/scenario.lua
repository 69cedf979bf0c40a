-- wrk script for bench/run.sh (wrk embeds LuaJIT, i.e. Lua 5.1).
-- Environment:
--   BENCH_MODE    healthz | hot | spread   (the URL path selects consume vs check)
--   BENCH_SECRET  admin API secret (unused for healthz)
-- done() prints one machine-readable line that run.sh parses:
--   RESULT rps=... p50_ms=... p99_ms=... requests=... non2xx=... sockerr=...

local mode   = os.getenv("BENCH_MODE") or "hot"
local secret = os.getenv("BENCH_SECRET") or ""
local SPREAD = 10000 -- must match SPREAD in bench/seed.py

local hot_body    = '{"subject":{"bench":"hot"},"metric":"bench.hot","amount":1}'
local spread_body = '{"subject":{"user":"u%d"},"metric":"bench.spread","amount":1}'

if mode ~= "healthz" then
  wrk.method = "POST"
  wrk.headers["Authorization"] = "Bearer " .. secret
  wrk.headers["Content-Type"] = "application/json"
  wrk.body = hot_body
end

local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("thread_no", threads)
end

function init(args)
  math.randomseed(os.time() * 1000 + (thread_no or 0))
end

if mode == "spread" then
  -- A new subject per request, uniform over u0..u(SPREAD-1).
  function request()
    return wrk.format(nil, nil, nil, string.format(spread_body, math.random(0, SPREAD - 1)))
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  local secs = summary.duration / 1e6
  io.write(string.format(
    "RESULT rps=%.1f p50_ms=%.3f p99_ms=%.3f requests=%d non2xx=%d sockerr=%d\n",
    summary.requests / secs,
    latency:percentile(50) / 1000,
    latency:percentile(99) / 1000,
    summary.requests,
    e.status,
    e.connect + e.read + e.write + e.timeout))
end
