-- External and Lua drivers (docs/writing-drivers.md, "Drivers outside
-- moonbase"): discovery and its safety rules, `moonbase drivers` in every
-- format (golden files in tests/golden/cli/drivers.*; MB_UPDATE_GOLDEN=1
-- rewrites them), and the protocol attacked: a driver that crashes
-- mid-create, answers garbage, a wrong id, a line over 16 MiB, hangs, exits
-- early, lies about its protocol or writes to stderr. Each failure is one
-- line naming the driver and what went wrong, and nothing is recorded.
-- tests/drivers/fake/moonbase-driver-fake is the misbehaving driver.
-- (ctest lua/drivers, with tests/drivers/examples_spec.lua)
local helpers = require("helpers")
local fs = require("moonbase.engine.fs")
local process = require("moonbase.engine.process")
local json = require("cjson")

local FAKE = helpers.src .. "/tests/drivers/fake/moonbase-driver-fake"
local function fake_dir(files)
  return helpers.driver_dir(files or { ["moonbase-driver-fake"] = FAKE })
end

local function one_line(err)
  assert.truthy(err and err ~= "", "an error message")
  assert.equal(1, #helpers.lines(err), err)
  assert.falsy(err:find("traceback"), err)
end

describe("external drivers", function()
  local h, dir
  before_each(function()
    dir = fake_dir()
    h = helpers.home({ driver = "fake", env = { MOONBASE_DRIVERS_PATH = dir } })
  end)
  after_each(function()
    h:cleanup()
    fs.rmtree(dir)
  end)

  it("launches, lists, stops and deletes through moonbase-driver-fake", function()
    h:ok({ "launch", "--name", "a" })
    assert.truthy(h:ok({ "list" }):find("a%s+running"))
    h:ok({ "stop", "a" })
    assert.truthy(h:ok({ "list" }):find("a%s+stopped"))
    h:ok({ "delete", "--purge", "a" })
    assert.truthy(h:ok({ "list" }):find("No instances"))
  end)

  local attacks = {
    { "create:crash", "exited with status 3 during create %(it said: fake: create fell over%)" },
    { "create:garbage", "answered something that is not JSON%-RPC 2.0 during create" },
    { "create:wrongid", "answered something else than the reply to its request during create" },
    { "create:unknown", "unsupported: create is not supported by the fake driver" },
    { "create:hang", "was silent too long %(killed; try: MOONBASE_DRIVER_TIMEOUT=SECONDS%) " ..
      "during create" },
    { "probe:huge", "wrote a line longer than 16 MiB during probe" },
    { "initialize:exit", "exited with status 0 during initialize" },
  }
  for _, a in ipairs(attacks) do
    it(a[1] .. ": one line, exit 2, nothing recorded", function()
      -- (a timeout that still lets jq answer on a loaded machine)
      local code, _, err = h:run({ "launch", "--name", "a" }, { env = { FAKE_MODE = a[1],
        MOONBASE_DRIVER_TIMEOUT = a[1]:find("hang") and "3" or nil } })
      assert.equal(2, code, err)
      one_line(err)
      assert.truthy(err:find('driver "fake"', 1, true) or err:find("fake driver", 1, true), err)
      assert.truthy(err:find(a[2]), err)
      assert.truthy(h:ok({ "list" }):find("No instances"))
      assert.same({}, helpers.tree(h.dir .. "/data/instances/fake"))
    end)
  end

  it("refuses a driver that speaks another protocol version", function()
    local code, _, err = h:run({ "launch", "--name", "a" }, { env = { FAKE_PROTOCOL = "2" } })
    assert.equal(2, code)
    one_line(err)
    assert.truthy(err:find("speaks protocol 2; this moonbase speaks 1", 1, true), err)
    assert.truthy(h:ok({ "list" }):find("No instances"))
  end)

  -- on a terminal (script(1) gives the command one)
  local function on_tty(env, args)
    local e = {}
    for k, v in pairs(h.env) do e[k] = v end
    for k, v in pairs(env) do e[k] = v end
    local cmd = { helpers.bin }
    for _, a in ipairs(args) do cmd[#cmd + 1] = "'" .. a .. "'" end
    return process.run({ "script", "-qefc", table.concat(cmd, " "), "/dev/null" }, { env = e })
  end

  it("shows its progress notes on a terminal, each one restarting the timeout", function()
    -- three notes a second apart: 3 s in all, longer than the 2 s timeout
    local code, out = on_tty({ FAKE_MODE = "create:progress", MOONBASE_DRIVER_TIMEOUT = "2" },
      { "launch", "--name", "a" })
    assert.equal(0, code, out)
    local at = {}
    for _, m in ipairs({ "fake: copying the disk: 10%", "fake: copying the disk: 90%",
      "fake: booting now" }) do
      at[#at + 1] = out:find(m, 1, true)
      assert.truthy(at[#at], out)
    end
    assert.truthy(at[1] < at[2] and at[2] < at[3], out)
    assert.truthy(h:ok({ "list" }):find("a%s+running"))
    -- off a terminal (a pipe, a log) nothing is shown
    h:ok({ "delete", "--purge", "a" })
    local code2, out2, err2 = h:run({ "launch", "--name", "a" },
      { env = { FAKE_MODE = "create:progress" } })
    assert.equal(0, code2, err2)
    assert.falsy((out2 .. err2):find("copying the disk", 1, true), out2 .. err2)
  end)

  it("keeps what a driver writes to stderr off the user's terminal", function()
    local code, out, err = h:run({ "launch", "--name", "a" }, { env = { FAKE_MODE = "probe:noise" } })
    assert.equal(0, code, err)
    assert.falsy((out .. err):find("xxxx"))
  end)

  it("leaves no driver process behind, even one killed for hanging", function()
    h:run({ "launch", "--name", "a" }, { env = { FAKE_MODE = "create:hang",
      MOONBASE_DRIVER_TIMEOUT = "3" } })
    local _, ps = process.run({ "pgrep", "-f", dir })
    assert.equal("", ps)
  end)
end)

describe("finding drivers", function()
  local h, dirs = nil, {}
  after_each(function()
    if h then h:cleanup() end
    for _, d in ipairs(dirs) do process.run({ "chmod", "-R", "u+rwx", d }); fs.rmtree(d) end
    dirs = {}
  end)
  local function with_path(...)
    local path = table.concat({ ... }, ":")
    h = helpers.home({ driver = false, env = { MOONBASE_DRIVERS_PATH = path } })
    return h
  end
  local function listed(name)
    local out = {}
    for _, r in ipairs(json.decode(h:ok({ "drivers", "--format", "json" }))) do
      if r.name == name then out[#out + 1] = r end
    end
    return out
  end

  it("takes the first of a name on MOONBASE_DRIVERS_PATH", function()
    local a, b = fake_dir(), fake_dir()
    dirs = { a, b }
    with_path(a, b)
    local rows = listed("fake")
    assert.equal(1, #rows)
    assert.equal(a .. "/moonbase-driver-fake", rows[1].path)
    assert.equal("external", rows[1].origin)
    assert.equal("fake", rows[1].scope)
  end)

  it("never lets a driver shadow a built-in silently", function()
    local d = fake_dir({ ["moonbase-driver-test"] = FAKE })
    dirs = { d }
    with_path(d)
    local rows = listed("test")
    assert.equal(2, #rows)
    assert.equal("built-in", rows[1].origin)
    assert.equal("ok", rows[1].status)
    assert.truthy(rows[2].status:find("^ignored: the built%-in test driver has this name"))
    -- and the built-in one runs instances
    h:ok({ "set", "local.driver=test" })
    h:use_images()
    h:ok({ "launch", "--name", "a" })
  end)

  it("refuses unsafe files with the reason", function()
    local ww, gw, nx = fake_dir(), fake_dir(), fake_dir()
    dirs = { ww, gw, nx }
    assert(process.run({ "chmod", "777", ww }) == 0)
    assert(process.run({ "chmod", "775", gw .. "/moonbase-driver-fake" }) == 0)
    assert(process.run({ "chmod", "644", nx .. "/moonbase-driver-fake" }) == 0)
    local cases = { { ww, "in a world%-writable directory" },
      { gw, "writable by other users %(try: chmod go%-w " },
      { nx, "not executable %(try: chmod %+x " } }
    for _, c in ipairs(cases) do
      with_path(c[1])
      local rows = listed("fake")
      assert.truthy(rows[1].status:find("^refused: " .. c[2]), rows[1].status)
      -- selecting it is refused, with the reason, and changes nothing
      local code, _, err = h:run({ "set", "local.driver=fake" })
      assert.equal(2, code, err)
      one_line(err)
      assert.truthy(err:find("refused: " .. c[2]), err)
      assert.equal("qemu\n", h:ok({ "get", "local.driver" }))
      h:cleanup()
      h = nil
    end
  end)

  it("reports a broken Lua driver in one line, and one that raises", function()
    local d = fake_dir({
      ["broken.lua"] = "return {\n",
      ["raises.lua"] = "return { name = 'raises', scope = 'raises',\n" ..
        "  probe = function() return { ok = true, reason = '' } end,\n" ..
        "  net_backend = function() return 'simulated' end,\n" ..
        "  state = function() return 'absent' end,\n" ..
        "  create = function(p) error('no room for ' .. p.instance.name) end }\n",
    })
    dirs = { d }
    with_path(d)
    local rows = listed("broken")
    assert.truthy(rows[1].status:find('^unavailable: Lua driver "broken" %(.-%) does not load: '),
      rows[1].status)
    assert.equal("lua", listed("raises")[1].origin)
    h:ok({ "set", "local.driver=raises" })
    h:use_images()
    local code, _, err = h:run({ "launch", "--name", "a" })
    assert.equal(2, code, err)
    one_line(err)
    assert.truthy(err:find('Lua driver "raises": create: .*no room for a'), err)
    assert.truthy(h:ok({ "list" }):find("No instances"))
  end)

  it("shows a Lua driver's progress notes on a terminal", function()
    local d = fake_dir({
      ["steps.lua"] = "local fs = require('moonbase.engine.fs')\n" ..
        "local function st(p) return p.instance.dir .. '/steps.state' end\n" ..
        "return { name = 'steps', scope = 'steps',\n" ..
        "  probe = function() return { ok = true, reason = '' } end,\n" ..
        "  net_backend = function() return 'simulated' end,\n" ..
        "  ipv4 = function() return {} end,\n" ..
        "  state = function(p) return fs.read(st(p)) or 'absent' end,\n" ..
        "  create = function(p)\n" ..
        "    p.progress('unpacking the image: 50%')\n" ..
        "    p.progress('unpacking the image:\\ndone')\n" ..
        "    fs.mkdirs(p.instance.dir)\n" ..
        "    return fs.write(st(p), 'stopped') end,\n" ..
        "  start = function(p) return fs.write(st(p), 'running') end,\n" ..
        "  shutdown = function(p) return fs.write(st(p), 'stopped') end,\n" ..
        "  destroy = function(p) return fs.rmtree(p.instance.dir) end }\n",
    })
    dirs = { d }
    with_path(d)
    h:ok({ "set", "local.driver=steps" })
    h:use_images()
    local e = {}
    for k, v in pairs(h.env) do e[k] = v end
    local code, out = process.run({ "script", "-qefc", helpers.bin .. " launch --name a",
      "/dev/null" }, { env = e })
    assert.equal(0, code, out)
    local a = out:find("steps: unpacking the image: 50%", 1, true)
    local b = out:find("steps: unpacking the image: done", 1, true)
    assert.truthy(a and b and a < b, out)
    assert.truthy(h:ok({ "list" }):find("a%s+running"))
  end)

  it("lists every driver in every format", function()
    local d = fake_dir({ ["moonbase-driver-fake"] = FAKE,
      ["moonbase-driver-test"] = FAKE,
      ["hello.lua"] = "return { name = 'hello', scope = 'hello',\n" ..
        "  exec = function() return { status = 0 } end }\n" })
    dirs = { d }
    with_path(d)
    h:ok({ "set", "local.driver=fake" })
    -- help and version name the ones outside moonbase too
    local help = h:ok({ "help" })
    assert.truthy(help:find("Drivers outside moonbase", 1, true))
    assert.truthy(help:find("fake%s+" .. d:gsub("%p", "%%%0") .. "/moonbase%-driver%-fake\n"))
    assert.truthy(help:find("test%s+%S+  %(ignored: a built%-in driver has this name%)"))
    local v = json.decode(h:ok({ "version", "--format", "json" }))
    assert.equal(d .. "/hello.lua", v["driver:hello"])
    assert.is_nil(v["driver:test"])
    for _, f in ipairs({ "table", "json", "yaml", "csv" }) do
      local out = h:ok({ "drivers", "--format", f }):gsub(d:gsub("%p", "%%%0"), "DRIVERS")
      local file = helpers.src .. "/tests/golden/cli/drivers." .. f
      if os.getenv("MB_UPDATE_GOLDEN") then assert(fs.write(file, out)) end
      assert.equal(fs.read(file), out)
    end
  end)
end)
