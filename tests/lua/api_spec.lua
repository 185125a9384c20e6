-- docs/openapi.json against the daemon: the file is what tests/gen-openapi.lua
-- makes of the route table, every route it documents is served by a running
-- daemon (not 404 "no such API route", not 405), and what it does not
-- document is not served.
local helpers = require("helpers")
local fs = require("moonbase.engine.fs")
local process = require("moonbase.engine.process")
local util = require("moonbase.engine.util")
local json = require("moonbase.engine.json")

local function request(sock, method, path, ws)
  local argv = { "curl", "-s", "--max-time", "5", "-o", "-", "-w", "\n%{http_code}",
    "--unix-socket", sock, "-X", method }
  if ws then
    for _, hd in ipairs({ "Connection: Upgrade", "Upgrade: websocket",
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version: 13" }) do
      argv[#argv + 1] = "-H"
      argv[#argv + 1] = hd
    end
    argv[#argv + 1] = "--http1.1"
  elseif method ~= "GET" and method ~= "DELETE" then
    argv[#argv + 1] = "--data"
    argv[#argv + 1] = "{}"
  end
  argv[#argv + 1] = "http://moonbase" .. path
  local _, out = process.run(argv)
  local body, code = out:match("^(.*)\n(%d+)$")
  return tonumber(code), body or out
end

describe("the API document", function()
  local h, pid, sock
  setup(function()
    h = helpers.home()
    sock = h.dir .. "/d.sock"
    local env = { MOONBASE_SERVER = false }
    for k, v in pairs(h.env) do env[k] = v end
    -- every documented route is called, find and resolve included: the daemon gets a
    -- network namespace of its own with nothing in it, so nothing can leave this host
    pid = assert(process.spawn({ "unshare", "--net", helpers.bin, "daemon", "--quiet",
      "--listen", "unix:" .. sock }, { env = env }))
    for _ = 1, 500 do
      if fs.exists(sock) then break end
      util.sleep(0.01)
    end
  end)
  teardown(function()
    process.kill(pid, 15)
    process.wait(pid)
    h:cleanup()
  end)

  it("is what tests/gen-openapi.lua makes of the routes (regenerate it if this fails)", function()
    local _, out = process.run({ helpers.bin, "--lua", helpers.src .. "/tests/gen-openapi.lua" })
    assert.equal(fs.read(helpers.src .. "/docs/openapi.json"), out)
  end)

  it("documents exactly the routes the daemon serves", function()
    if util.geteuid() ~= 0 then return pending("needs root (unshare --net)") end
    local doc = json.decode(fs.read(helpers.src .. "/docs/openapi.json"))
    local n = 0
    for path, ops in pairs(doc.paths) do
      for method, op in pairs(ops) do
        n = n + 1
        local p = path:gsub("{[^}]+}", "zz-none")
        local code, body = request(sock, method:upper(), p, op["x-websocket"])
        local what = method:upper() .. " " .. path .. " -> " .. tostring(code) .. " " ..
          tostring(body):sub(1, 200)
        assert.truthy(code and code ~= 405, what)
        assert.falsy(code == 404 and body:find("no such API route", 1, true), what)
        if op["x-websocket"] then assert.equal(101, code, what) end
      end
    end
    local api = require("moonbase._core.api")
    assert.equal(#api.routes + #api.special, n)
    for _, p in ipairs({ "/v1", "/v1/instance", "/v1/instances/a/b/c/d", "/v2/instances",
      "/v1/../etc/passwd", "/v1/instances/a/exec2" }) do
      local code = request(sock, "GET", p)
      assert.truthy(code == 404 or code == 400, p .. " -> " .. tostring(code))
    end
  end)
end)
