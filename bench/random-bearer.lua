-- wrk script: GET with "Authorization: Bearer <token>", the token drawn uniformly from the first
-- $N lines of the file $TOKENS (which scale.sh writes in random order; all the same length).
-- The tokens are kept in one string: a Lua table of a million strings makes every garbage
-- collection cycle walk it, and those pauses showed up as the load generator's own p99.
local n = tonumber(os.getenv("N") or "1000")
local list, width = {}, nil
for line in io.lines(os.getenv("TOKENS")) do
  width = width or #line
  assert(#line == width, "tokens must all be the same length")
  list[#list + 1] = line
  if #list >= n then break end
end
n = #list
local all = table.concat(list)
list = nil
collectgarbage()
math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) % 1000)
local function token(i)
  return all:sub((i - 1) * width + 1, i * width)
end
-- 80% of requests on the first 1% of the tokens when MIX is set, else uniform.
local hot = os.getenv("MIX") == "1" and math.max(1, math.floor(n / 100)) or nil
request = function()
  local i = (hot and math.random() < 0.8) and math.random(1, hot) or math.random(1, n)
  return wrk.format("GET", nil, { ["Authorization"] = "Bearer " .. token(i) })
end
