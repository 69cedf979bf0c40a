-- wrk script for bench/run.sh (wrk embeds LuaJIT, i.e. Lua 5.1).
-- Environment:
--   BENCH_MODE    what each request names (the URL path selects consume vs check):
--                 healthz  GET, no auth         whoami  GET with the key
--                 hot      the one hot limit    none    a metric no limit matches
--                 spread   a random one of SPREAD limits
--                 warm     each of the SPREAD limits in turn (warms their counters)
--                 fresh    a counter never touched before, every request
--                 noisy    a subject matching NOISY limits of one metric
--                 b        tenant B's own limit  exact   the limit of EXACT units
--   BENCH_SECRET  API secret (unused for healthz)
--   BENCH_THREADS wrk's thread count (for warm)
-- done() prints one machine-readable line that run.sh parses:
--   RESULT rps=... p50_ms=... p99_ms=... max_ms=... requests=... non2xx=... sockerr=...

local mode   = os.getenv("BENCH_MODE") or "hot"
local secret = os.getenv("BENCH_SECRET") or ""
local SPREAD = 10000 -- must match SPREAD in bench/run.sh

local bodies = {
  hot   = '{"subject":{"bench":"hot"},"metric":"bench.hot","amount":1}',
  none  = '{"subject":{"bench":"hot"},"metric":"bench.none","amount":1}',
  noisy = '{"subject":{"team":"noisy"},"metric":"bench.noisy","amount":1}',
  b     = '{"subject":{"bench":"b"},"metric":"bench.b","amount":1}',
  exact = '{"subject":{"bench":"exact"},"metric":"bench.exact","amount":1}',
}
local spread_body = '{"subject":{"user":"u%d"},"metric":"bench.spread","amount":1}'
local fresh_body  = '{"subject":{"user":"f%s-%d-%d"},"metric":"bench.fresh","amount":1}'

if mode ~= "healthz" then
  wrk.headers["Authorization"] = "Bearer " .. secret
end
if mode ~= "healthz" and mode ~= "whoami" then
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.body = bodies[mode] or bodies.hot
end

local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("thread_no", threads)
end

local sent = 0
local run_id = tostring(os.time())
function init(args)
  math.randomseed(os.time() * 1000 + (thread_no or 0))
  -- Distinct per wrk process too (two run side by side against two replicas).
  run_id = tostring(os.time()) .. "-" .. tostring(math.random(0, 1000000000))
end

if mode == "spread" then
  -- A new subject per request, uniform over u0..u(SPREAD-1).
  function request()
    return wrk.format(nil, nil, nil, string.format(spread_body, math.random(0, SPREAD - 1)))
  end
elseif mode == "warm" then
  -- Thread t of n walks t-1, t-1+n, t-1+2n, ..., so together they touch all SPREAD in turn.
  local n = tonumber(os.getenv("BENCH_THREADS") or "1") or 1
  function request()
    local i = ((thread_no or 1) - 1 + sent * n) % SPREAD
    sent = sent + 1
    return wrk.format(nil, nil, nil, string.format(spread_body, i))
  end
elseif mode == "fresh" then
  function request()
    sent = sent + 1
    return wrk.format(nil, nil, nil, string.format(fresh_body, run_id, thread_no or 0, sent))
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  local secs = summary.duration / 1e6
  io.write(string.format(
    "RESULT rps=%.1f p50_ms=%.3f p99_ms=%.3f max_ms=%.3f requests=%d non2xx=%d sockerr=%d\n",
    summary.requests / secs,
    latency:percentile(50) / 1000,
    latency:percentile(99) / 1000,
    latency.max / 1000,
    summary.requests,
    e.status,
    e.connect + e.read + e.write + e.timeout))
end
