-- Clone and rename through the CLI on the test driver: default and given
-- names, what a clone keeps and what it does not (snapshots, forwards,
-- recipe labels), what a rename moves (directory, snapshots, aliases, the
-- recipe's hold on the instance), bad input changing nothing, and a clone
-- killed midway leaving nothing that list shows. Real guests (disk content,
-- identity, names on the network) are in tests/e2e/clone_spec.lua.
local helpers = require("helpers")
local json = require("moonbase.engine.json")
local fs = require("moonbase.engine.fs")
local process = require("moonbase.engine.process")
local util = require("moonbase.engine.util")

local function names(h)
  local t = {}
  for _, r in ipairs(json.decode(h:ok({ "list", "--format", "json" }))) do t[#t + 1] = r.name end
  return t
end

local fails = helpers.fails

local function record(h, name)
  return json.decode(fs.read(h.dir .. "/data/instances/test/" .. name .. "/instance.json"))
end

describe("clone (test driver)", function()
  local h
  before_each(function()
    h = helpers.home()
    h:ok({ "launch", "--name", "src", "--cpus", "2", "--memory", "512M", "--disk", "3G" })
  end)
  after_each(function() h:cleanup() end)

  it("makes SOURCE-clone1, -clone2 or a given name, stopped, with the source's resources",
    function()
      h:ok({ "snapshot", "src", "--name", "s1" })
      h:ok({ "stop", "src" })
      assert.equal("Cloned: src -> src-clone1\n", h:ok({ "clone", "src" }))
      assert.equal("Cloned: src -> src-clone2\n", h:ok({ "clone", "src" }))
      assert.equal("Cloned: src -> copy\n", h:ok({ "clone", "src", "--name", "copy" }))
      assert.same({ "copy", "src", "src-clone1", "src-clone2" }, names(h))
      local i = json.decode(h:ok({ "info", "copy", "--format", "json" })).copy
      assert.equal("stopped", i.state)
      assert.equal(2, i.cpus)
      assert.equal(512 * 1024 ^ 2, i.memory)
      assert.equal(3 * 1024 ^ 3, i.disk_total)
      assert.equal(0, #i.snapshots) -- the source's snapshots stay the source's
      assert.equal("src", record(h, "copy").cloned_from)
      h:ok({ "start", "copy" })
      h:ok({ "delete", "--purge", "src" })
      assert.same({ "copy", "src-clone1", "src-clone2" }, names(h))
      h:ok({ "stop", "copy" })
      h:ok({ "start", "copy" })
    end)

  it("refuses a running source, an existing name, bad names, in one line, changing nothing",
    function()
      h:ok({ "launch", "--name", "other" })
      local before = helpers.snapshot(h.dir .. "/data")
      fails(h, { "clone", "src" }, 2, 'clone: instance "src" is running (clone needs it ' ..
        'stopped; try: moonbase stop src)')
      h:ok({ "stop", "src" })
      before = helpers.snapshot(h.dir .. "/data")
      fails(h, { "clone", "src", "--name", "other" }, 2, 'instance "other" already exists')
      fails(h, { "clone", "src", "--name", "Bad_Name" }, 1, "Bad_Name")
      fails(h, { "clone", "ghost" }, 2, 'instance "ghost" does not exist')
      assert.same(before, helpers.snapshot(h.dir .. "/data"))
      h:ok({ "suspend", "other" })
      before = helpers.snapshot(h.dir .. "/data")
      fails(h, { "clone", "other" }, 2, 'instance "other" is suspended')
      assert.same(before, helpers.snapshot(h.dir .. "/data"))
    end)

  it("leaves no half-made clone when killed midway", function()
    h:ok({ "stop", "src" })
    local argv = { helpers.bin, "clone", "src", "--name", "half" }
    local pid = assert(process.spawn(argv, { env = { MOONBASE_HOME = h.dir, NO_COLOR = "1",
      MOONBASE_TEST_DELAY_MS = "3000" } }))
    local base = h.dir .. "/data/instances/test"
    local function staged()
      for _, n in ipairs(fs.list(base) or {}) do
        if n:match("^%.new%-half%-") and fs.exists(base .. "/" .. n .. "/instance.json") then
          return n
        end
      end
    end
    local deadline = util.now() + 10
    while not staged() and util.now() < deadline do util.sleep(0.02) end
    assert.truthy(staged(), "the clone was being assembled")
    process.kill(pid, 9)
    process.wait(pid)
    assert.same({ "src" }, names(h))
    assert.is_nil(fs.exists(base .. "/half"))
    fails(h, { "start", "half" }, 2, 'instance "half" does not exist')
    -- the next clone sweeps what the killed one left
    h:ok({ "clone", "src", "--name", "half" })
    assert.is_nil(staged())
    assert.same({ "half", "src" }, names(h))
  end)
end)

describe("rename (test driver)", function()
  local h
  before_each(function()
    h = helpers.home()
    h:ok({ "launch", "--name", "old" })
  end)
  after_each(function() h:cleanup() end)

  it("moves the instance, its snapshots and aliases; refuses while it runs", function()
    h:ok({ "snapshot", "old", "--name", "keep" })
    h:ok({ "alias", "old:uname", "un" })
    local before = helpers.snapshot(h.dir .. "/data")
    fails(h, { "rename", "old", "new" }, 2,
      'rename: instance "old" is running (rename needs it stopped; try: moonbase stop old)')
    assert.same(before, helpers.snapshot(h.dir .. "/data"))
    h:ok({ "stop", "old" })
    assert.equal("Renamed: old -> new\n", h:ok({ "rename", "old", "new" }))
    assert.same({ "new" }, names(h))
    assert.is_nil(fs.exists(h.dir .. "/data/instances/test/old"))
    local snaps = json.decode(h:ok({ "list", "--snapshots", "--format", "json" }))
    assert.equal("new", snaps[1].instance)
    assert.equal("keep", snaps[1].name)
    assert.truthy(h:ok({ "aliases" }):find("un%s+new%s+uname"))
    h:ok({ "start", "new" })
    h:ok({ "stop", "new" })
    h:ok({ "restore", "new.keep" })
    fails(h, { "start", "old" }, 2, 'instance "old" does not exist')
  end)

  it("refuses an existing or bad new name and an unknown instance, changing nothing", function()
    h:ok({ "launch", "--name", "taken" })
    h:ok({ "stop", "old" })
    local before = helpers.snapshot(h.dir .. "/data")
    fails(h, { "rename", "old", "taken" }, 2, 'instance "taken" already exists')
    fails(h, { "rename", "old", "Bad.Name" }, 1, "Bad.Name")
    fails(h, { "rename", "ghost", "x" }, 2, 'instance "ghost" does not exist')
    fails(h, { "rename", "old", "old" }, 2, 'instance "old" already exists')
    assert.same(before, helpers.snapshot(h.dir .. "/data"))
  end)

  it("keeps a recipe's instance the recipe's under its new name", function()
    local dir = helpers.tmpdir("rren")
    fs.write(dir .. "/duo.lua", 'project "duo"\ninstance "web" {}\ninstance "db" {}\n')
    h:ok({ "up", dir .. "/duo.lua" })
    h:ok({ "stop", "duo-web" })
    h:ok({ "rename", "duo-web", "frontend" })
    local st = json.decode(h:ok({ "status", dir .. "/duo.lua", "--format", "json" }))
    local by = {}
    for _, r in ipairs(st.instances) do by[r.name] = r end
    assert.equal("frontend", by.web.instance)
    assert.equal("stopped", by.web.state)
    -- up starts it under its new name: nothing new is created, nothing deleted
    h:ok({ "up", dir .. "/duo.lua" })
    assert.same({ "duo-db", "frontend", "old" }, names(h))
    h:ok({ "down", dir .. "/duo.lua", "--purge" })
    assert.same({ "old" }, names(h))
    fs.rmtree(dir)
  end)
end)
