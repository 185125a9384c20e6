-- The recipe sandbox attacked: steps and probes that cannot be forged or
-- changed, host paths checked again when a step runs, time and memory budgets
-- that hold in message handlers, error objects, outputs and single huge C
-- allocations, bounded file reads, and error values of every type reported
-- as one line with file:line. Each case ends in exit 1 or 2 with one line on
-- stderr, never a traceback, and nothing copied.
local helpers = require("helpers")
local common = require("recipes.common")
local fs = require("moonbase.engine.fs")
local util = require("moonbase.engine.util")
local process = require("moonbase.engine.process")

local BUDGET = { MOONBASE_RECIPE_BUDGET = "0.5", MOONBASE_RECIPE_OUTPUT_BUDGET = "0.5" }

describe("recipe sandbox attacks #recipes", function()
  local r
  before_each(function() r = common.new() end)
  after_each(function() r:cleanup() end)

  ---Runs `moonbase <cmd> app.lua` on text; asserts the exit status, one line
  ---on stderr containing want, and (for plan) that the home did not change.
  local function refused(text, want, o)
    o = o or {}
    r:write("app.lua", text)
    local before = helpers.snapshot(r.home)
    local t0 = util.now()
    local code, out, err = r:run({ o.cmd or "plan", "app.lua" }, { env = o.env or BUDGET })
    local took = util.now() - t0
    assert.equal(o.code or 1, code, err .. out)
    assert.truthy(err:find(want, 1, true), "want: " .. want .. "\ngot: " .. err)
    assert.equal(1, #helpers.lines(err), "one line, got:\n" .. err)
    assert.falsy(err:find("traceback", 1, true))
    if not o.cmd then assert.same(before, helpers.snapshot(r.home)) end
    assert.truthy(took < (o.within or 20), "took " .. took .. " s")
    return err
  end

  describe("steps come only from sh, copy and write", function()
    it("refuses a copy step built by hand (it would copy any host folder)", function()
      refused([[
instance "web" { provision = {
  { kind = "copy", src = "x", real = "/etc", dst = "/tmp/etc", directory = true,
    where = "app.lua:1" } } }
]], 'app.lua:1: instance "web": provision step 1 is a table, not a step (steps are made by ' ..
        "sh, copy and write)")
      local err = refused([[
instance "web" { provision = { kind = "copy", src = "x", real = "/etc", dst = "/e" } }
]], 'instance "web"')
      assert.truthy(err:find("provision", 1, true))
    end)

    it("refuses a probe built by hand", function()
      refused('instance "web" { ready = { kind = "exec", command = "true", text = "t", ' ..
        'where = "x" } }', 'app.lua:1: instance "web": ready must be a probe: probe.tcp(5432), ' ..
        'probe.exec "cmd" or probe.file "/path", got a table')
    end)

    it("cannot read or change a step once made", function()
      refused('local s = copy { "app.lua", "/x" }\ns.real = "/etc"',
        "app.lua:2: a step made by copy cannot be read or changed")
      refused('local s = sh "true"\nlocal k = s.kind', "app.lua:2: a step made by sh cannot")
      refused('local p = probe.tcp(22)\np.port = 1', "app.lua:2: a probe made by tcp cannot")
      refused('for k in pairs(write { "/x", "y" }) do end', "a step made by write cannot")
    end)

    it("copies what the step declared, whatever the recipe sets on the value", function()
      r:write("conf.txt", "declared\n")
      r:write("app.lua", [[
local s = copy { "conf.txt", "/etc/app.conf" }
rawset(s, "real", "/etc/passwd")
rawset(s, "kind", "write")
rawset(s, "directory", true)
instance "web" { provision = { s } }
]])
      r:ok({ "up", "app.lua" })
      r:ok({ "launch", "--name", "fresh" }) -- a guest no step touched
      local root = common.instance_dir(r, "app-web") .. "/rootfs"
      assert.equal("declared\n", fs.read(root .. "/etc/app.conf"))
      local fresh = {}
      for _, p in ipairs(helpers.tree(common.instance_dir(r, "fresh") .. "/rootfs")) do
        fresh[p] = true
      end
      local added = {}
      for _, p in ipairs(helpers.tree(root)) do
        if not fresh[p] then added[#added + 1] = p end
      end
      assert.same({ "etc/app.conf" }, added)
      assert.are_not.equal(fs.read("/etc/passwd"), fs.read(root .. "/etc/passwd"))
    end)

    it("refuses copy sources that lead out of the recipe's folder or never end", function()
      fs.mkdirs(r.dir .. "/conf/deep")
      r:write("conf/deep/ok.txt", "ok\n")
      fs.symlink("/etc", r.dir .. "/conf/deep/etc")
      refused('instance "web" { provision = { copy { "conf", "/srv" } } }',
        'app.lua:1: copy: "conf/deep/etc" is outside the recipe\'s folder')
      fs.remove(r.dir .. "/conf/deep/etc")
      fs.symlink("..", r.dir .. "/conf/deep/up")
      refused('instance "web" { provision = { copy { "conf", "/srv" } } }',
        "leads back into itself (a symlink loop)")
      fs.remove(r.dir .. "/conf/deep/up")
      assert.equal(0, (process.run({ "mkfifo", r.dir .. "/conf/fifo" })))
      refused('instance "web" { provision = { copy { "conf", "/srv" } } }',
        'copy: "conf/fifo" is a special file (FIFO, socket or device), not a regular file or a ' ..
        "directory")
      refused('instance "web" { provision = { copy { "conf/fifo", "/srv/f" } } }',
        'copy: "conf/fifo" is a special file')
    end)

    it("checks a copy's source again when the step runs", function()
      -- loaded while conf/ is harmless, run after it became a link to /etc
      fs.mkdirs(r.dir .. "/conf")
      r:write("conf/a.txt", "a\n")
      local path = r:write("app.lua", 'instance "web" { provision = { copy { "conf", "/srv" } } }')
      local lang = require("moonbase._core.recipe_lang")
      local steps = require("moonbase._core.recipe_steps")
      local model = assert(lang.load({ path = path, shown = "app.lua", dir = r.dir,
        shown_dir = ".", capabilities = {}, project_default = "app" }))
      local step = model.by_name.web.provision[1]
      assert.equal(fs.realpath(r.dir .. "/conf"), (steps.copy_source(model, step)))
      fs.rmtree(r.dir .. "/conf")
      fs.symlink("/etc", r.dir .. "/conf")
      local ok, err = pcall(steps.copy_source, model, step)
      assert.falsy(ok)
      assert.truthy(tostring(err):find('copy: "conf" is outside the recipe\'s folder', 1, true),
        tostring(err))
      fs.remove(r.dir .. "/conf")
      fs.mkdirs(r.dir .. "/conf")
      fs.symlink("/etc/passwd", r.dir .. "/conf/passwd")
      ok, err = pcall(steps.copy_source, model, step)
      assert.falsy(ok)
      assert.truthy(tostring(err):find('"conf/passwd" is outside', 1, true), tostring(err))
    end)
  end)

  describe("the time budget holds for every piece of recipe code", function()
    it("in xpcall message handlers, after the budget ran out and for other errors", function()
      refused("xpcall(function() while true do end end, function() while true do end end)",
        "app.lua:1: loading app.lua took longer than 0.5 s (an endless loop?)")
      refused("xpcall(error, function() while true do end end, 'x')",
        "took longer than 0.5 s")
      refused("local function h(e) return xpcall(error, h, e) end\nxpcall(error, h, 'x')\n" ..
        "while true do end", "took longer than 0.5 s")
    end)

    it("in an error object's __tostring", function()
      refused("error(setmetatable({}, { __tostring = function() while true do end end }))",
        "loading app.lua took longer than 0.5 s")
    end)

    it("in to-be-closed variables, sort comparators and gsub callbacks", function()
      refused("do local x <close> = setmetatable({}, { __close = function() while true do " ..
        "end end }) end", "took longer than 0.5 s")
      refused("table.sort({ 3, 2, 1 }, function() while true do end end)", "took longer")
      refused('("abc"):gsub(".", function() while true do end end)', "took longer")
    end)

    it("in outputs, whatever they return", function()
      local o = { cmd = "outputs", code = 2 }
      refused('output("x", function() while true do end end)',
        'x (app.lua:1): app.lua:1: output "x" took longer than 0.5 s (an endless loop?)', o)
      refused('output("x", function() return setmetatable({}, { __pairs = function() ' ..
        "while true do end end }) end)", 'output "x" took longer than 0.5 s', o)
      refused('output("x", { [setmetatable({}, { __tostring = function() while true do end ' ..
        "end })] = 1 })", "an output table's keys must be strings or numbers, not a table", o)
      refused('output("x", function() error(setmetatable({}, { __tostring = function() ' ..
        "while true do end end })) end)", 'output "x" took longer than 0.5 s', o)
      refused('output("x", function() return sh "true" end)',
        "an output must be a string, number, boolean or a table of them, not a step", o)
    end)
  end)

  describe("the memory budget holds for every allocation", function()
    local MEM = { MOONBASE_RECIPE_MEMORY = "64", MOONBASE_RECIPE_BUDGET = "20" }
    it("refuses one huge string built in C at once", function()
      refused('local s = ("x"):rep(2^30)', "loading app.lua uses more than 64 MiB of memory",
        { env = MEM, within = 5 })
      refused('local t = {}\nfor i = 1, 1e3 do t[i] = ("x"):rep(2^20) .. i end',
        "uses more than 64 MiB of memory", { env = MEM })
      refused('local t = {}\nfor i = 1, 1e8 do t[i] = i end', "uses more than 64 MiB of memory",
        { env = MEM })
    end)

    it("cannot be swallowed by pcall or a coroutine", function()
      refused('for i = 1, 3 do pcall(string.rep, "x", 2^30) end\ninstance "web" {}',
        "app.lua:1: loading app.lua uses more than 64 MiB of memory", { env = MEM })
      refused('coroutine.wrap(function() local s = ("x"):rep(2^30) end)()',
        "uses more than 64 MiB of memory", { env = MEM })
      refused('output("x", function() local ok = pcall(string.rep, "x", 2^30) return ok end)',
        'output "x" uses more than 64 MiB of memory', { env = MEM, cmd = "outputs", code = 2 })
    end)

    it("bounds io.open reads of a huge sparse file", function()
      assert.equal(0, (process.run({ "truncate", "-s", "16G", r.dir .. "/big" })))
      refused('local f = io.open("big")\nlocal s = f:read("a")', "uses more than 64 MiB",
        { env = MEM })
    end)
  end)

  describe("file() and io.open read bounded, regular files", function()
    it("refuses a 16 GiB sparse file, a FIFO and a device at once", function()
      assert.equal(0, (process.run({ "truncate", "-s", "16G", r.dir .. "/big" })))
      assert.equal(0, (process.run({ "mkfifo", r.dir .. "/fifo" })))
      refused('instance "web" { cloud_init = file "big" }',
        'app.lua:1: file: "big" is 16G, more than file() reads (16M)', { within = 5 })
      refused('local s = file "fifo"', 'app.lua:1: file: "fifo" is a special file (FIFO, ' ..
        "socket or device), not a regular file", { within = 5 })
      refused('assert(io.open("fifo"))', 'io.open: "fifo" is a special file', { within = 5 })
      refused('for l in io.lines("fifo") do end', 'io.open: "fifo" is a special file',
        { within = 5 })
      refused('local s = file "."', 'file: "." is a directory, not a regular file')
    end)
  end)

  describe("errors of any type are one line with file:line", function()
    it("error(nil), error({}), odd __tostring results", function()
      refused("local x = 1\nerror(nil)", "app.lua:2: error raised with no message (error(nil)")
      refused("error()", "app.lua:1: error raised with no message")
      refused("error({})", "app.lua:1: error raised with a table value, not a message")
      refused("error(42)", "app.lua:1: 42")
      refused("error(true)", "app.lua:1: error raised with a boolean value")
      refused("error(print)", "app.lua:1: error raised with a function value")
      refused("error(setmetatable({}, { __tostring = function() return 42 end }))",
        "app.lua:1: 42")
      refused("error(setmetatable({}, { __tostring = function() return {} end }))",
        "app.lua:1: error raised with a table value")
      refused("error(setmetatable({}, { __tostring = function() error('inner') end }))",
        "app.lua:1: error raised with a table value")
      refused("error(setmetatable({}, { __tostring = function() return 'bad thing\\nmore' end }))",
        "app.lua:1: bad thing")
      refused('output("x", function() error() end)', "app.lua:1: error raised with no message",
        { cmd = "outputs", code = 2 })
    end)
  end)

  describe("moonbase's own metatables are out of reach", function()
    it("getmetatable of a moonbase error is nil, and its metatable cannot be set", function()
      r:write("app.lua", [[
output("x", function(c)
  local ok, e = pcall(c.exec, "web", "true")
  assert(not ok and type(e) == "table", "c.exec should fail")
  assert(getmetatable(e) == nil, "moonbase's error metatable leaked")
  local set = pcall(setmetatable, e, { __tostring = function() while true do end end })
  assert(not set, "setmetatable on moonbase's error worked")
  assert(getmetatable(c.instances) == nil, "c.instances' metatable leaked")
  local own = setmetatable({}, { __index = { a = 1 } })
  return getmetatable(own).__index.a
end)
instance "web" {}
]])
      local code, out, err = r:run({ "outputs", "app.lua", "x" })
      assert.equal(0, code, err)
      assert.equal("1\n", out)
    end)
  end)
end)
