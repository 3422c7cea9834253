-- wrk script: POST /v1/verifications/{id}/check with a wrong code.
--
-- Environment:
--   BENCH_KEY       the API key (sent as "Authorization: Bearer ...")
--   BENCH_IDS       file of "id wrongcode" lines (bench/seed writes it)
--   BENCH_THREADS   wrk's -t (default 2): thread t takes ids t, t+T, t+2T, ...
--   BENCH_MAXCHECKS checks per id at most (default 4)
--
-- The code of each line is one the verification certainly does not have (seed
-- reads the real one from the dev inbox), so no check approves by chance.
-- Every check is a real write: the attempt counter is incremented in a
-- durable transaction and an audit event appended. Each thread cycles through
-- its ids; once every id has had BENCH_MAXCHECKS checks it counts an overrun
-- (printed by done(): seed more ids, the run is not valid) and starts over.

local key = os.getenv("BENCH_KEY") or ""
local idsfile = os.getenv("BENCH_IDS") or "ids.txt"
local nthreadsEnv = tonumber(os.getenv("BENCH_THREADS") or "2")
local maxchecks = tonumber(os.getenv("BENCH_MAXCHECKS") or "4")

local threads = {}
local nthreads = 0

function setup(thread)
   thread:set("tid", nthreads)
   nthreads = nthreads + 1
   table.insert(threads, thread)
end

local paths, bodies = {}, {}
local i, round = 0, 1

function init(args)
   local k = 0
   for line in io.lines(idsfile) do
      local id, code = line:match("^(%S+)%s*(%d*)")
      if id then
         if code == "" then
            code = "000000"
         end
         if k % nthreadsEnv == tid then
            table.insert(paths, "/v1/verifications/" .. id .. "/check")
            table.insert(bodies, '{"code":"' .. code .. '"}')
         end
         k = k + 1
      end
   end
   if #paths == 0 then
      error("check.lua: no ids for thread " .. tid .. " in " .. idsfile)
   end
   wrk.method = "POST"
   wrk.headers["Authorization"] = "Bearer " .. key
   wrk.headers["Content-Type"] = "application/json"
end

function request()
   i = i + 1
   if i > #paths then
      i = 1
      round = round + 1
      if round > maxchecks then
         overrun = (overrun or 0) + 1
      end
   end
   return wrk.format(nil, paths[i], nil, bodies[i])
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
