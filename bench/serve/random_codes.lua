-- wrk script for the serving benchmark (BENCH.md): every request asks for one random code of
-- the link set, over keep-alive connections.
--
-- Usage: wrk -t T -c C -d 10s --latency -s random_codes.lua http://127.0.0.1:PORT -- CODES_FILE
--        [HEADER...]
--
-- Each HEADER ("Name: value") goes with every request (bench/rules sends a browser's User-Agent
-- and Accept-Language, which rules read).
--
-- With SHORTLINK_WRK_DELAY_MS set, each connection waits that long before each request: a
-- steady load below saturation (bench/password measures redirect latency at such a load).
--
-- The request strings are built once per wrk thread in init() and request() only picks one:
-- formatting a request per call would make the client the bottleneck. Each thread seeds its own
-- generator from its id so threads do not replay the same sequence.

local requests = {}
local count = 0
local thread_counter = 0

function setup(thread)
   thread_counter = thread_counter + 1
   thread:set("thread_id", thread_counter)
end

function init(args)
   local path = args[1]
   if path == nil then
      error("random_codes.lua: pass the codes file after --")
   end
   -- wrk.format() copies wrk.headers into each request, so they are set first.
   for i = 2, #args do
      local name, value = args[i]:match("^([^:]+):%s*(.*)$")
      if name == nil then
         error("random_codes.lua: a header is 'Name: value', not " .. args[i])
      end
      wrk.headers[name] = value
   end
   local file = assert(io.open(path, "r"))
   for code in file:lines() do
      if code ~= "" then
         count = count + 1
         requests[count] = wrk.format("GET", "/" .. code)
      end
   end
   file:close()
   if count == 0 then
      error("random_codes.lua: no codes in " .. path)
   end
   math.randomseed(20261128 + (thread_id or 0) * 7919)
end

function request()
   return requests[math.random(count)]
end

local pace_ms = tonumber(os.getenv("SHORTLINK_WRK_DELAY_MS") or "")
if pace_ms ~= nil then
   function delay()
      return pace_ms
   end
end
