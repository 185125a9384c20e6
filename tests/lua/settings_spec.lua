-- moonbase get/set/unset: the schema, validation, atomic storage.
local helpers = require("helpers")
local json = require("moonbase.engine.json")

describe("settings", function()
  local h
  before_each(function() h = helpers.home({ driver = false }) end)
  after_each(function() h:cleanup() end)

  it("has defaults", function()
    assert.equal("qemu\n", h:ok({ "get", "local.driver" }))
    assert.equal("primary\n", h:ok({ "get", "client.primary-name" }))
  end)

  it("sets, gets and unsets", function()
    h:ok({ "set", "local.driver=test" })
    assert.equal("test\n", h:ok({ "get", "local.driver" }))
    h:ok({ "set", "client.primary-name=dev" })
    local all = json.decode(h:ok({ "get", "--format", "json" }))
    assert.equal("dev", all["client.primary-name"])
    h:ok({ "unset", "client.primary-name" })
    assert.equal("primary\n", h:ok({ "get", "client.primary-name" }))
  end)

  it("lists keys with help", function()
    local out = h:ok({ "get", "--keys" })
    assert.truthy(out:find("local.driver\n    the driver", 1, true), out)
    assert.truthy(out:find("qemu|libvirt|lxd|test", 1, true))
  end)

  local bad = {
    { { "set", "local.drivr=qemu" }, 'unknown setting "local.drivr" (try: moonbase get --keys)' },
    { { "set", "local.driver=vmware" },
      'invalid value "vmware" for local.driver: use one of qemu, libvirt, lxd, test' },
    { { "set", "client.primary-name=Bad_Name" }, "invalid value for client.primary-name" },
    { { "set", "local.driver" }, 'expected KEY=VALUE, got "local.driver"' },
    { { "get", "nope" }, 'unknown setting "nope"' },
    { { "unset", "nope" }, 'unknown setting "nope"' },
  }
  for _, case in ipairs(bad) do
    it("rejects " .. table.concat(case[1], " ") .. " and writes nothing", function()
      h:ok({ "set", "local.driver=test" })
      local before = helpers.snapshot(h.dir)
      local code, out, err = h:run(case[1])
      assert.equal(1, code)
      assert.equal("", out)
      assert.truthy(err:find(case[2], 1, true), err)
      assert.equal(1, #helpers.lines(err))
      assert.same(before, helpers.snapshot(h.dir))
    end)
  end

  it("validates every pair before writing any", function()
    local code = h:run({ "set", "client.primary-name=ok", "local.driver=nope" })
    assert.equal(1, code)
    assert.equal("primary\n", h:ok({ "get", "client.primary-name" }))
  end)

  it("keeps the settings file private and leaves no temporary files", function()
    h:ok({ "set", "local.driver=test" })
    local fs = require("moonbase.engine.fs")
    assert.equal(tonumber("600", 8), fs.stat(h.dir .. "/config/settings.json").mode)
    for _, n in ipairs(fs.list(h.dir .. "/config")) do
      assert.is_nil(n:find("%.tmp%."), n)
    end
  end)

  it("a long-lived process sees every change another process makes", function()
    -- (one process reads the file once while it stays the same file)
    local fs = require("moonbase.engine.fs")
    local script = h.dir .. "/watch.lua"
    local set = string.format("env MOONBASE_HOME=%s %s", h.dir, helpers.bin)
    fs.write(script, string.format([[
      local settings = require("moonbase._core.settings")
      local out = {}
      local function get() out[#out + 1] = settings.get("client.primary-name") end
      get(); get()
      os.execute(%q .. " set client.primary-name=abc"); get()
      os.execute(%q .. " set client.primary-name=xyz"); get() -- the same size
      settings.set("client.primary-name", "own"); get()
      local f = io.open(%q, "w"); f:write('{"client.primary-name": 7}'); f:close()
      local ok, e = pcall(settings.get, "client.primary-name")
      out[#out + 1] = ok and "read" or e.message:match("is damaged") or tostring(e.message)
      print(table.concat(out, " "))
    ]], set, set, h.dir .. "/config/settings.json"))
    assert.equal("primary primary abc xyz own is damaged\n", h:ok({ "--lua", script }))
  end)

  it("gets and sets per-instance cpus, memory and disk on a stopped instance", function()
    h:ok({ "set", "local.driver=test" })
    h:use_images()
    h:ok({ "launch", "--name", "vm" })
    local code, _, err = h:run({ "set", "local.vm.cpus=4" })
    assert.equal(2, code)
    assert.truthy(err:find('instance "vm" is running (try: moonbase stop vm first)', 1, true), err)
    h:ok({ "stop", "vm" })
    h:ok({ "set", "local.vm.cpus=4", "local.vm.memory=2G", "local.vm.disk=10G" })
    assert.equal("4\n", h:ok({ "get", "local.vm.cpus" }))
    assert.equal("2G\n", h:ok({ "get", "local.vm.memory" }))
    assert.equal("10G\n", h:ok({ "get", "local.vm.disk" }))
    code, _, err = h:run({ "set", "local.vm.disk=6G" })
    assert.equal(1, code)
    assert.truthy(err:find("the disk can only grow (it is 10G now)", 1, true), err)
    code, _, err = h:run({ "set", "local.vm.memory=12" })
    assert.equal(1, code)
    assert.truthy(err:find("memory must be at least 128M", 1, true), err)
    code, _, err = h:run({ "set", "local.ghost.cpus=2" })
    assert.equal(2, code)
    assert.truthy(err:find('instance "ghost" does not exist', 1, true), err)
    local info = json.decode(h:ok({ "info", "vm", "--format", "json" }))
    assert.equal(4, info.vm.cpus)
    assert.equal(2 * 1024 ^ 3, info.vm.memory)
    assert.truthy(h:ok({ "get", "--keys" }):find("local.vm.cpus", 1, true))
  end)
end)
