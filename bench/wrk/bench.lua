-- wrk script for the raw-HTTP load of bench.py. BENCH_WRK_KIND picks the request:
--   log_batch   POST runs/log-batch, BENCH_WRK_BATCH metrics each (unique steps per request);
--               with BENCH_RUN_IDS (comma-separated) the requests take those runs in turn
--   log_metric  POST runs/log-metric, one metric (unique step per request)
--   search      POST runs/search with a filter and an order (static body)
--   get         plain GET of the URL on the command line (runs/get, an artifact)
-- done() prints one line "WRKJSON {...}" with counts, errors and latency percentiles (µs).

local kind = os.getenv("BENCH_WRK_KIND") or "get"
local run_id = os.getenv("BENCH_RUN_ID") or ""
local exp_id = os.getenv("BENCH_EXP_ID") or "0"
local batch = tonumber(os.getenv("BENCH_WRK_BATCH") or "100")
local run_ids = {}
for id in string.gmatch(os.getenv("BENCH_RUN_IDS") or "", "[^,]+") do
   run_ids[#run_ids + 1] = id
end

local threads = {}
local next_id = 0

function setup(thread)
   thread:set("tid", next_id)
   next_id = next_id + 1
   table.insert(threads, thread)
end

local counter = 0
local base_ts = os.time() * 1000
local headers = { ["Content-Type"] = "application/json" }

function init(args)
   if kind == "search" then
      wrk.method = "POST"
      wrk.headers["Content-Type"] = "application/json"
      wrk.body = '{"experiment_ids":["' .. exp_id .. '"],'
         .. '"filter":"params.p0 = \'v0\' and metrics.score > 0.2 and tags.team != \'t3\'",'
         .. '"order_by":["metrics.score DESC"],"max_results":100}'
   end
end

local function log_batch_body()
   local parts = {}
   for i = 0, batch - 1 do
      -- tid (< 64) keeps steps unique across threads; counter across requests.
      local step = ((counter * batch + i) * 64) + tid
      parts[#parts + 1] = string.format(
         '{"key":"w%d","value":%d,"timestamp":%d,"step":%d}', i % 10, counter, base_ts + counter, step)
   end
   local rid = run_id
   if #run_ids > 0 then
      rid = run_ids[(counter * 7 + tid) % #run_ids + 1]
   end
   return '{"run_id":"' .. rid .. '","metrics":[' .. table.concat(parts, ",") .. ']}'
end

function request()
   counter = counter + 1
   if kind == "log_batch" then
      return wrk.format("POST", "/api/2.0/mlflow/runs/log-batch", headers, log_batch_body())
   elseif kind == "log_metric" then
      local body = string.format(
         '{"run_id":"%s","key":"lat","value":%d,"timestamp":%d,"step":%d}',
         run_id, counter, base_ts + counter, counter * 64 + tid)
      return wrk.format("POST", "/api/2.0/mlflow/runs/log-metric", headers, body)
   end
   return wrk.format(nil)
end

-- Only the POST kinds show their first few error bodies: with a response() hook wrk keeps
-- every body as a Lua string, which would distort the 1 MiB GET.
if kind ~= "get" then
   local non2xx = 0
   function response(status, hdrs, body)
      if status < 200 or status > 299 then
         non2xx = non2xx + 1
         if non2xx <= 3 then
            io.stderr:write("wrk: status " .. status .. ": " .. string.sub(body or "", 1, 300) .. "\n")
         end
      end
   end
end

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      'WRKJSON {"requests":%d,"duration_us":%d,"bytes":%d,'
         .. '"err_connect":%d,"err_read":%d,"err_write":%d,"err_status":%d,"err_timeout":%d,'
         .. '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f}\n',
      summary.requests, summary.duration, summary.bytes,
      e.connect, e.read, e.write, e.status, e.timeout,
      latency:percentile(50), latency:percentile(90), latency:percentile(99),
      latency.max, latency.mean))
end
