-- A browser's page request (12 header fields, a cookie, a query string: 540 bytes, the same bytes as
-- REQUESTS["browser"] in bench/callgrind.py), `depth` per write (first script argument, default 1: keep-alive;
-- 16: pipelined).
local req
init = function(args)
  local depth = tonumber(args[1]) or 1
  local one = "GET /products/42?ref=home&lang=en HTTP/1.1\r\nHost: shop.example.com\r\n" ..
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0\r\n" ..
    "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n" ..
    "Accept-Language: en-US,en;q=0.5\r\nAccept-Encoding: gzip, deflate, br, zstd\r\n" ..
    "Referer: https://shop.example.com/\r\nConnection: keep-alive\r\n" ..
    "Cookie: session=6f1c2a9e8b7d4c3a; theme=dark; _ga=GA1.1.123456789.1700000000\r\n" ..
    "Upgrade-Insecure-Requests: 1\r\nSec-Fetch-Dest: document\r\nSec-Fetch-Mode: navigate\r\n" ..
    "Priority: u=0, i\r\n\r\n"
  req = string.rep(one, depth)
end
request = function()
  return req
end
