-- GET /block (the app sleeps 20 ms) on one request in `every` (first script argument, default 10; 1: every
-- request), GET / otherwise. The count is per wrk thread, so exactly 1/every of each thread's requests block.
local every, n, plain, block
init = function(args)
  every = tonumber(args[1]) or 10
  n = 0
  plain = wrk.format("GET", "/")
  block = wrk.format("GET", "/block")
end
request = function()
  n = n + 1
  if n % every == 0 then
    return block
  end
  return plain
end
