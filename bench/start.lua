-- wrk script: POST /v1/verifications with a distinct valid US number per request.
--
-- Environment:
--   BENCH_KEY   the API key (sent as "Authorization: Bearer ...")
--   BENCH_AREA  the area code of the numbers (default 415)
--
-- Thread t (at most 8 threads) numbers its requests from its own block of a
-- million subscriber numbers, +1 AREA (2000000 + t*1000000 + n), so no number
-- repeats within a run (ringfence allows one send per number per 60 s and 10
-- per hour). No "ip" is sent, so the per-IP limit does not apply. done()
-- prints the errors (socket errors and responses >= 400, as wrk counts them):
-- a run with errors is not a valid measurement.

local key = os.getenv("BENCH_KEY") or ""
local area = os.getenv("BENCH_AREA") or "415"

local threads = {}
local nthreads = 0

function setup(thread)
   thread:set("tid", nthreads)
   nthreads = nthreads + 1
   table.insert(threads, thread)
end

local n, base = 0, 0
local prefix = '{"phone":"+1' .. area
local suffix = '","purpose":"signup"}'

function init(args)
   if tid >= 8 then
      error("start.lua: at most 8 threads")
   end
   base = 2000000 + tid * 1000000
   wrk.method = "POST"
   wrk.path = "/v1/verifications"
   wrk.headers["Authorization"] = "Bearer " .. key
   wrk.headers["Content-Type"] = "application/json"
end

function request()
   if n >= 1000000 then
      overrun = (overrun or 0) + 1
      n = 0
   end
   local body = prefix .. string.format("%07d", base + n) .. suffix
   n = n + 1
   return wrk.format(nil, nil, nil, body)
end

function done(summary, latency, requests)
   local e = summary.errors
   local overruns = 0
   for _, t in ipairs(threads) do
      overruns = overruns + (tonumber(t:get("overrun")) or 0)
   end
   io.write(string.format("bench-errors: %d (connect %d, read %d, write %d, status>=400 %d, timeout %d)\n",
      e.connect + e.read + e.write + e.status + e.timeout, e.connect, e.read, e.write, e.status, e.timeout))
   io.write(string.format("bench-overrun: %d\n", overruns))
end
