-- Fuzzing the daemon's request handling for a bounded time (MOONBASE_FUZZ_SECONDS,
-- 20 by default, split between the two targets):
--  1. in process: random methods, paths (encodings, dots, NULs, long segments),
--     queries, bodies and peers through moonbase._core.api.match and
--     moonbase.server.handle: never a Lua error, a refusal is a 4xx with a
--     JSON message, an unauthenticated peer never gets a worker;
--  2. on the wire: random and mutated raw requests (libwebsockets parses
--     them) to a running daemon on a unix socket; afterwards it is still
--     alive and answers a real command.
-- Seeded (MOONBASE_FUZZ_SEED) so a failure can be replayed.
local helpers = require("helpers")
local fs = require("moonbase.engine.fs")
local process = require("moonbase.engine.process")
local util = require("moonbase.engine.util")
local json = require("moonbase.engine.json")

local SECONDS = tonumber(os.getenv("MOONBASE_FUZZ_SECONDS") or "20")
local SEED = tonumber(os.getenv("MOONBASE_FUZZ_SEED") or tostring(os.time()))
math.randomseed(SEED)

local function pick(t) return t[math.random(#t)] end

local api = require("moonbase._core.api")
local methods = { "GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD", "BREW", "" }
local pieces = { "v1", "instances", "..", ".", "%2e%2e", "%00", "settings", "exec", "events",
  "trust", "recipes", "{name}", "a", "x-y", string.rep("z", 300), "%2F", "//", "\0", "é",
  "authenticate", "ping", "mounts", "v2", "" }

local function rand_path()
  local segs = {}
  for _ = 1, math.random(0, 7) do segs[#segs + 1] = pick(pieces) end
  if math.random() < 0.5 then
    -- a real route with a random parameter
    local r = pick(api.routes)
    return (r.path:gsub("{[^}]+}", function() return pick(pieces) end))
  end
  return "/" .. table.concat(segs, "/")
end

local function rand_bytes(n)
  local t = {}
  for i = 1, n do t[i] = string.char(math.random(0, 255)) end
  return table.concat(t)
end

local bodies = { "", "{}", "{", "[]", "null", "1", '{"options":', '{"options":{"name":1}}',
  '{"name":{"a":[1,2,{"b":null}]}}', '"x"', '{"args":[]}', '{"_cwd":"/nonexistent"}' }

local function rand_body()
  if math.random() < 0.3 then return rand_bytes(math.random(0, 200)) end
  return pick(bodies)
end

local function rand_peer()
  local r = math.random(4)
  if r == 1 then return { transport = "unix", uid = 0, gid = 0, pid = 1 } end
  if r == 2 then return { transport = "unix", uid = 65534, gid = 65534, pid = 1 } end
  if r == 3 then return { transport = "tls", address = "127.0.0.1" } end
  return { transport = "tls", address = "127.0.0.1", fingerprint = rand_bytes(8):gsub(".",
    function(c) return string.format("%02x", c:byte()) end), key = "ec", curve = "prime256v1" }
end

describe("fuzzing the daemon's requests (seed " .. SEED .. ")", function()
  local h
  setup(function()
    h = helpers.home()
    -- server.handle reads the trust store and settings of this home
    require("moonbase._core.paths").config = h.dir .. "/config"
    require("moonbase._core.paths").data = h.dir .. "/data"
  end)
  teardown(function() h:cleanup() end)

  it("routes and handles random requests in process without an error", function()
    local server = require("moonbase.server")
    server.throttle.failures = {}
    local deadline, n = util.now() + SECONDS / 2, 0
    while util.now() < deadline do
      n = n + 1
      local req = { method = pick(methods), path = rand_path(), body = rand_body(),
        mode = pick({ "json", "frames", "ws" }), headers = {}, peer = rand_peer(),
        query = { "args=" .. rand_body() } }
      local ok, res = pcall(server.handle, req)
      assert(ok, string.format("handle raised on %s %q: %s", req.method, req.path, tostring(res)))
      assert.equal("table", type(res))
      if res.run then
        -- a worker only for a peer that is let in
        assert.truthy(req.peer.transport == "unix" and req.peer.uid == 0, req.path)
      else
        local status = math.tointeger(res.status) or 200
        if status >= 400 then
          assert.truthy(status < 600, tostring(status))
          local okj, body = pcall(json.decode, res.body)
          assert.truthy(okj and body.error and type(body.error.message) == "string", res.body)
        end
      end
      local okm = pcall(api.match, req.method, req.path)
      assert.truthy(okm)
    end
    assert.truthy(n > 100, "only " .. n .. " requests")
  end)

  it("survives random raw requests on its socket and serves after them", function()
    local sock = h.dir .. "/d.sock"
    local env = { MOONBASE_SERVER = false }
    for k, v in pairs(h.env) do env[k] = v end
    if util.geteuid() ~= 0 then return pending("needs root (unshare --net)") end
    -- random requests may be valid calls (find, launch): the daemon gets an empty
    -- network namespace of its own, so nothing can leave this host
    local pid = assert(process.spawn({ "unshare", "--net", helpers.bin, "daemon", "--quiet",
      "--listen", "unix:" .. sock }, { env = env }))
    for _ = 1, 500 do
      if fs.exists(sock) then break end
      util.sleep(0.01)
    end
    local deadline, n = util.now() + SECONDS / 2, 0
    while util.now() < deadline do
      n = n + 1
      local req
      local kind = math.random(4)
      if kind == 1 then
        req = rand_bytes(math.random(1, 600))
      elseif kind == 2 then
        req = string.format("%s %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" ..
          "Content-Length: %d\r\n\r\n%s",
          pick(methods), rand_path(), math.random(0, 50), rand_body())
      elseif kind == 3 then
        req = string.format("GET %s HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n" ..
          "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n%s",
          rand_path(), pick({ "dGhlIHNhbXBsZSBub25jZQ==", "", "!!" }), rand_bytes(40))
      else
        req = string.format("POST /v1/instances HTTP/1.1\r\nHost: x\r\n%s\r\n\r\n%s",
          pick({ "Transfer-Encoding: chunked", "Content-Length: -1",
            "Content-Length: 99999999999", string.rep("X-A: b\r\n", 300) .. "X: y" }),
          rand_bytes(30))
      end
      -- (-N: end of the request is end of input; a request the daemon waits on
      -- is cut after a second: its own 10 s timeout is tested in daemon_spec)
      process.run({ "timeout", "1", "nc", "-N", "-U", sock }, { input = req })
    end
    assert.truthy(process.alive(pid), "the daemon died (seed " .. SEED .. ")")
    local code, out, err = process.run({ helpers.bin, "list" }, { env = {
      MOONBASE_SERVER = "unix://" .. sock, MOONBASE_HOME = h.dir .. "/client" } })
    assert.equal(0, code, err)
    assert.equal("No instances found.\n", out)
    process.kill(pid, 15)
    process.wait(pid)
    io.stderr:write(string.format("[fuzz] %d raw requests, seed %d\n", n, SEED))
  end)
end)
