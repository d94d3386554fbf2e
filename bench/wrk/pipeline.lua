-- GET / pipelined: each write carries `depth` requests (first script argument, default 16).
local req
init = function(args)
  local depth = tonumber(args[1]) or 16
  local r = {}
  for i = 1, depth do
    r[i] = wrk.format("GET", "/")
  end
  req = table.concat(r)
end
request = function()
  return req
end
