-- moonbase.client's install(): with a daemon set, every routed facade function
-- is a request to it, whether its facade was loaded before install() or is
-- required only later (facades are patched as they are first required, so a
-- command loads only what it uses). A daemon nobody serves makes each call
-- fail with the daemon's address in the message: proof it went there.
local fs = require("moonbase.engine.fs")

describe("the client of a daemon", function()
  local client = require("moonbase.client")
  local saved_searchers, saved_loaded = {}, {}
  local sock = "/nonexistent-moonbase-spec/daemon.sock"

  before_each(function()
    for i, s in ipairs(package.searchers) do saved_searchers[i] = s end
    for short, name in pairs(client.modules) do saved_loaded[short] = package.loaded[name] end
  end)

  after_each(function()
    for i = #package.searchers, 1, -1 do package.searchers[i] = nil end
    for i, s in ipairs(saved_searchers) do package.searchers[i] = s end
    for short, name in pairs(client.modules) do package.loaded[name] = saved_loaded[short] end
  end)

  local function reaches_daemon(fn, ...)
    local ok, err = pcall(fn, ...)
    assert.is_false(ok)
    assert.truthy(tostring(err):find(sock, 1, true), tostring(err))
  end

  it("routes the facades loaded before it and those required after it", function()
    assert.is_nil((fs.exists(sock)))
    local before = require("moonbase.instance")
    package.loaded["moonbase.snapshots"] = nil
    client.install("unix://" .. sock)
    reaches_daemon(before.list)
    -- loaded only now: patched as it is required
    local snapshots = require("moonbase.snapshots")
    reaches_daemon(snapshots.list_all)
    reaches_daemon(snapshots.list, "web")
    -- required again: the same patched table
    assert.equal(snapshots, require("moonbase.snapshots"))
  end)

  it("turns the hints to this process's own driver into nothing", function()
    local core = require("moonbase._core.drivers")
    local current, opened = core.current, 0
    core.current = function(...) opened = opened + 1; return current(...) end
    local ok, err = pcall(function()
      package.loaded["moonbase.drivers"] = nil
      client.install("unix://" .. sock)
      require("moonbase.drivers").list_ahead()
    end)
    core.current = current
    assert.is_true(ok, tostring(err))
    assert.equal(0, opened) -- no driver of this machine asked
  end)

  it("knows every facade the routes name", function()
    local api = require("moonbase._core.api")
    for _, r in ipairs(api.routes) do
      local module = r.fn:match("^(.-)%.")
      assert.truthy(client.modules[module], r.fn .. ": its facade is not in client.modules")
    end
  end)
end)
