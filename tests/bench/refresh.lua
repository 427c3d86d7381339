-- wrk script for refresh.sh: POST /api/auth/token/refresh, each thread walking its own refresh
-- chain. Refresh tokens are single-use: every 200 answers the `refresh_token` to send next, and
-- sending a spent one again ends the family (401 REFRESH_TOKEN_REUSED). So run it with one
-- connection per thread (`wrk -t N -c N`): a thread's requests are then strictly sequential.
--
-- Configured through the environment:
--   REFRESH_SEEDS  a file with one refresh token per line; thread i starts from line i
--                  (at least as many lines as threads)
--
-- A 401 means the thread's chain is dead (spent, reused, expired or revoked): the thread stops
-- rather than hammer the server with a dead token. Any other non-200 keeps the token (the server
-- did not rotate it) and goes on.
--
-- done() prints one line, then the first failure if there was one:
--   refresh rps=R requests=N non200=K bad_body=B broken_chains=C socket_errors=S p50_ms=… p99_ms=…
--   first_failure: STATUS BODY

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json"

-- ---------------------------------------------------------------- setup phase (main state)
local threads = {}
local seeds = nil

function setup(thread)
  if not seeds then
    local path = os.getenv("REFRESH_SEEDS") or error("REFRESH_SEEDS: a file of refresh tokens, one a line")
    local file = io.open(path, "r") or error("REFRESH_SEEDS: cannot open " .. path)
    seeds = {}
    for line in file:lines() do
      local token = line:match("^%s*(%S+)%s*$")
      if token then seeds[#seeds + 1] = token end
    end
    file:close()
  end
  table.insert(threads, thread)
  local seed = seeds[#threads] or error(string.format(
    "REFRESH_SEEDS holds %d tokens, fewer than the %d threads", #seeds, #threads))
  thread:set("token", seed)
end

-- -------------------------------------------------------------- running phase (per thread)
-- Globals, not locals, so that setup() can set them and done() can read them (thread:get).
token = token or ""
non200 = 0
bad_body = 0
broken = 0
first_failure = nil

function request()
  return wrk.format(nil, nil, nil, '{"refresh_token":"' .. token .. '"}')
end

function response(status, headers, body)
  if status == 200 then
    local next_token = body and body:match('"refresh_token"%s*:%s*"([^"]+)"')
    if next_token then
      token = next_token
      return
    end
    bad_body = bad_body + 1
  else
    non200 = non200 + 1
  end
  if not first_failure then
    first_failure = tostring(status) .. " " .. (body or ""):sub(1, 300)
  end
  if status == 401 then
    broken = 1
    wrk.thread:stop()
  end
end

-- ----------------------------------------------------------------- done phase (main state)
function done(summary, latency, requests)
  local n2, bad, dead, first = 0, 0, 0, nil
  for _, t in ipairs(threads) do
    n2 = n2 + (t:get("non200") or 0)
    bad = bad + (t:get("bad_body") or 0)
    dead = dead + (t:get("broken") or 0)
    first = first or t:get("first_failure")
  end
  local e = summary.errors
  local secs = summary.duration / 1e6
  io.write(string.format(
    "refresh rps=%.1f requests=%d non200=%d bad_body=%d broken_chains=%d socket_errors=%d " ..
    "timeouts=%d p50_ms=%.2f p99_ms=%.2f duration_s=%.2f\n",
    summary.requests / secs, summary.requests, n2, bad, dead,
    e.connect + e.read + e.write + e.timeout, e.timeout,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, secs))
  if first then io.write("first_failure: " .. first .. "\n") end
end
