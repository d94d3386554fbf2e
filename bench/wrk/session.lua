-- A browser session (bench/session.py: a page, then its stylesheets, scripts, fonts, images and XHRs, each with
-- its own Accept, Sec-Fetch-*, path, query and Referer, a cookie that changes every few requests, an occasional
-- If-None-Match), cycled. Arguments: the file of heads bench/session.py writes, and wrk's connection count (-c).
-- wrk asks for a request without saying for which connection; each connection has one request in flight and the
-- answers come in turn, so the n-th call hands out head n / conns: every connection walks the session in order,
-- all of them in step (the same bytes as `callgrind.py --request session` sends on each of its connections).
local heads = {}
local conns = 1
local n = 0
init = function(args)
  local f = assert(io.open(args[1], "rb"))
  local data = f:read("*a")
  f:close()
  for head in data:gmatch("(.-\r\n\r\n)") do
    heads[#heads + 1] = head
  end
  conns = tonumber(args[2]) or 1
end
request = function()
  local head = heads[math.floor(n / conns) % #heads + 1]
  n = n + 1
  return head
end
