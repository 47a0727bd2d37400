-- Signed GitHub pushes for wrk, each with its own X-GitHub-Delivery.
-- wrk -s push.lua <url> -- <body file> <X-Hub-Signature-256 value> <nonce>
-- The signature covers the body only, so one value fits every request; the delivery id is
-- <nonce>-<thread>-<counter>, and the nonce is new for every wrk invocation, so warm-up and
-- measured requests never share an id (Axon would answer a repeated id 200 "duplicate").

local threads = 0

function setup(thread)
   threads = threads + 1
   thread:set("id", threads)
end

local body, signature, prefix
local counter = 0

function init(args)
   local file = assert(io.open(args[1], "rb"))
   body = file:read("*a")
   file:close()
   signature = args[2]
   prefix = args[3] .. "-" .. id .. "-"
end

function request()
   counter = counter + 1
   local headers = {
      ["Content-Type"] = "application/json",
      ["User-Agent"] = "GitHub-Hookshot/bench",
      ["X-GitHub-Event"] = "push",
      ["X-GitHub-Delivery"] = prefix .. counter,
      ["X-Hub-Signature-256"] = signature,
   }
   return wrk.format("POST", nil, headers, body)
end
