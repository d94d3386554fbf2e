-- POST / with a body of `size` bytes (first script argument, default 65536).
init = function(args)
  local size = tonumber(args[1]) or 65536
  wrk.method = "POST"
  wrk.body = string.rep("x", size)
  wrk.headers["Content-Type"] = "application/octet-stream"
end
