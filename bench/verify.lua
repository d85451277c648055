-- wrk script: replay pre-signed verification requests, each exactly once, split across threads.
-- Each line of the file is "<body>\t<authorization header>". Counts accepted answers.
local threads = {}
local path = "/api/partner/v1/verifications"

function setup(thread)
  thread:set("index", #threads)
  table.insert(threads, thread)
end

function init(args)
  local file, nthreads = args[1], tonumber(args[2])
  requests, position, accepted, refused = {}, 0, 0, 0
  local n = 0
  for line in io.lines(file) do
    if n % nthreads == index then
      local body, auth = line:match("^(.-)\t(.*)$")
      table.insert(requests, wrk.format("POST", path,
        {["Content-Type"] = "application/json", ["Authorization"] = auth}, body))
    end
    n = n + 1
  end
end

function request()
  position = position + 1
  if position > #requests then position = 1 end  -- exhausted: repeats are refused, and counted
  return requests[position]
end

function response(status, headers, body)
  if status == 200 and body:find('"accepted":true', 1, true) then
    accepted = accepted + 1
  else
    refused = refused + 1
  end
end

function done(summary, latency, requests_)
  local a, r = 0, 0
  for _, thread in ipairs(threads) do
    a = a + thread:get("accepted")
    r = r + thread:get("refused")
  end
  io.write(string.format("RESULT requests=%d seconds=%.3f accepted=%d refused=%d socket_errors=%d p50_us=%d p90_us=%d p99_us=%d max_us=%d\n",
    summary.requests, summary.duration / 1e6, a, r,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout + summary.errors.status,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
