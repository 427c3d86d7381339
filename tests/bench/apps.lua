-- Counts answers that are not a 200 carrying the session's user (a key that stopped choosing
-- the app would answer `null`); apps.sh fails the run on any.
bad = 0
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function response(status, headers, body)
  if status ~= 200 or not string.find(body, '"user"', 1, true) then
    bad = bad + 1
  end
end

function done(summary, latency, requests)
  local total = summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout
  for _, t in ipairs(threads) do
    total = total + t:get("bad")
  end
  io.write(string.format("bad %d\n", total))
end
