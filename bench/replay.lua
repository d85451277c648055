-- wrk script: replay pre-built requests from a file, split across wrk's threads, each in file order.
-- Usage: wrk ... -s bench/replay.lua URL -- FILE NTHREADS
-- Each line of FILE: METHOD \t PATH \t BODY \t Header: value [\t Header: value ...] (BODY may be empty).
-- When a thread has sent all its lines it starts again from its first (repeats; the caller counts them).
-- wrk calls request() once on the first thread before any connection, only to check the script
-- (script_verify_request); that thread starts one step back so its first line is still sent.
-- Prints one line: RESULT key=value ... (the same keys as bench/paced.py), and sent=N0:N1:...,
-- how many distinct lines each thread sent (thread t sends the file's lines t, t+T, t+2T, ...).
local threads = {}

function setup(thread)
  thread:set("index", #threads)
  table.insert(threads, thread)
end

local function build(line)
  local fields = {}
  for field in (line .. "\t"):gmatch("(.-)\t") do table.insert(fields, field) end
  local headers = {}
  for i = 4, #fields do
    local name, value = fields[i]:match("^(.-): (.*)$")
    headers[name] = value
  end
  local body = fields[3] ~= "" and fields[3] or nil
  return wrk.format(fields[1], fields[2], headers, body)
end

function init(args)
  local file, nthreads = args[1], tonumber(args[2])
  requests, ok, non200, accepted = {}, 0, 0, 0
  position = index == 0 and -1 or 0
  wrapped = false
  local n = 0
  for line in io.lines(file) do
    if n % nthreads == index then table.insert(requests, build(line)) end
    n = n + 1
  end
  count = #requests
end

function request()
  position = position + 1
  if position > #requests then position, wrapped = 1, true end
  return requests[math.max(position, 1)]
end

function response(status, headers, body)
  if status ~= 200 then
    non200 = non200 + 1
    return
  end
  ok = ok + 1
  if body:find('"accepted":true', 1, true) then accepted = accepted + 1 end
end

function done(summary, latency, requests_)
  local o, n, a, sent = 0, 0, 0, {}
  for _, thread in ipairs(threads) do
    o, n, a = o + thread:get("ok"), n + thread:get("non200"), a + thread:get("accepted")
    local lines = thread:get("wrapped") and thread:get("count") or math.max(thread:get("position"), 0)
    table.insert(sent, tostring(lines))
  end
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d seconds=%.3f ok=%d non200=%d accepted=%d socket_errors=%d p50_us=%d p90_us=%d p99_us=%d max_us=%d sent=%s\n",
    summary.requests, summary.duration / 1e6, o, n, a, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, table.concat(sent, ":")))
end
