-- Snapshots through the CLI on the test driver: take (stopped, running),
-- list --snapshots, info, restore with and without the safety snapshot,
-- what a restore brings back (cpus, memory, disk, mounts, forwards), delete
-- and parents, the name/comment settings, bad input changing nothing, a
-- command killed mid-snapshot, and recipe snapshots. The capability itself
-- (a guest's disk and memory back) is proven on real VMs in
-- tests/e2e/snapshots_spec.lua.
local helpers = require("helpers")
local json = require("moonbase.engine.json")
local fs = require("moonbase.engine.fs")
local process = require("moonbase.engine.process")
local util = require("moonbase.engine.util")

-- JSON's null (a field with no value)
local function none(v) return v == nil or type(v) == "userdata" end

local function rows(h)
  return json.decode(h:ok({ "list", "--snapshots", "--format", "json" }))
end

local function by_name(h, inst)
  local t = {}
  for _, r in ipairs(rows(h)) do
    if not inst or r.instance == inst then t[r.name] = r end
  end
  return t
end

local function state(h, name)
  for _, r in ipairs(json.decode(h:ok({ "list", "--format", "json" }))) do
    if r.name == name then return r.state end
  end
end

local fails = helpers.fails

describe("snapshots (test driver)", function()
  local h
  before_each(function()
    h = helpers.home()
    h:ok({ "launch", "--name", "a", "--cpus", "2", "--memory", "1G", "--disk", "2G" })
  end)
  after_each(function() h:cleanup() end)

  it("takes snapshot1, snapshot2... and named ones, with comments, listed oldest first", function()
    assert.equal("Snapshot taken: a.snapshot1\n", h:ok({ "snapshot", "a" }))
    assert.equal("Snapshot taken: a.base\n",
      h:ok({ "snapshot", "a", "--name", "base", "--comment", "clean install" }))
    assert.equal("Snapshot taken: a.snapshot2\n", h:ok({ "snapshot", "a" }))
    local list = rows(h)
    assert.same({ "snapshot1", "base", "snapshot2" },
      { list[1].name, list[2].name, list[3].name })
    assert.is_true(none(list[1].parent))
    assert.equal("snapshot1", list[2].parent)
    assert.equal("base", list[3].parent)
    assert.equal("clean install", list[2].comment)
    assert.equal("running", list[1].state) -- taken running: holds memory
    assert.equal(2, list[1].cpus)
    assert.equal(1024 ^ 3, list[1].memory)
    assert.equal(2 * 1024 ^ 3, list[1].disk)
    assert.is_true(list[1].size > 0)
    assert.truthy(list[1].created:match("^%d%d%d%d%-%d%d%-%d%dT"))
    -- a deleted name is not reused
    h:ok({ "delete", "a.snapshot2" })
    assert.equal("Snapshot taken: a.snapshot3\n", h:ok({ "snapshot", "a" }))
    local tbl = h:ok({ "list", "--snapshots" })
    assert.truthy(tbl:find("Instance%s+Snapshot%s+Parent%s+Created%s+State%s+Comment"), tbl)
    assert.truthy(tbl:find("a%s+base%s+snapshot1%s+%S+%s+running%s+clean install"), tbl)
  end)

  it("shows snapshots in info (name, parent, created, size, comment)", function()
    h:ok({ "snapshot", "a", "--name", "one", "--comment", "first" })
    h:ok({ "stop", "a" })
    h:ok({ "snapshot", "a", "--name", "two" })
    local i = json.decode(h:ok({ "info", "a", "--format", "json" })).a
    assert.equal(2, #i.snapshots)
    assert.same({ "one", "two" }, { i.snapshots[1].name, i.snapshots[2].name })
    assert.equal("one", i.snapshots[2].parent)
    assert.equal("first", i.snapshots[1].comment)
    assert.equal("stopped", i.snapshots[2].state)
    assert.equal(0, i.snapshots[2].size)
    local text = h:ok({ "info", "a" })
    assert.truthy(text:find("\nSnapshots:%s+one %(%S+, no parent, with memory, 1G%): first; " ..
      "two %* %(%S+, parent one, disk only%)\n"), text)
    local csv = h:ok({ "info", "a", "--format", "csv" })
    assert.truthy(csv:find(",\"one (", 1, true) and csv:find("; two * (", 1, true), csv)
    assert.falsy(csv:find("table:", 1, true), csv)
  end)

  it("restores a running snapshot running, after a safety snapshot of what it replaces",
    function()
      h:ok({ "snapshot", "a", "--name", "hot" })
      h:ok({ "stop", "a" })
      h:ok({ "set", "local.a.cpus=4", "local.a.memory=2G", "local.a.disk=4G" })
      h:ok({ "start", "a" })
      local out = h:ok({ "restore", "a.hot" })
      assert.equal("Snapshot taken: a.snapshot1\nRestored: a.hot\n", out)
      assert.equal("running", state(h, "a"))
      local i = json.decode(h:ok({ "info", "a", "--format", "json" })).a
      assert.equal(2, i.cpus)
      assert.equal(1024 ^ 3, i.memory)
      assert.equal(2 * 1024 ^ 3, i.disk_total)
      local s = by_name(h, "a")
      assert.equal("before restoring hot", s.snapshot1.comment)
      assert.equal(4, s.snapshot1.cpus) -- the state it replaced
      assert.equal("running", s.snapshot1.state)
      -- and that one brings the replaced state back
      h:ok({ "restore", "a.snapshot1", "--destructive" })
      i = json.decode(h:ok({ "info", "a", "--format", "json" })).a
      assert.equal(4, i.cpus)
      assert.equal(4 * 1024 ^ 3, i.disk_total)
    end)

  it("restores a stopped snapshot stopped; --destructive keeps nothing", function()
    h:ok({ "stop", "a" })
    h:ok({ "snapshot", "a", "--name", "cold" })
    h:ok({ "start", "a" })
    assert.equal("Restored: a.cold\n", h:ok({ "restore", "a.cold", "--destructive" }))
    assert.equal("stopped", state(h, "a"))
    assert.same({ "cold" }, (function()
      local t = {}
      for _, r in ipairs(rows(h)) do t[#t + 1] = r.name end
      return t
    end)())
  end)

  it("brings mounts and forwards back", function()
    local share = helpers.tmpdir("share")
    h:ok({ "stop", "a" })
    h:ok({ "snapshot", "a", "--name", "bare" })
    h:ok({ "mount", share, "a:/srv/share" })
    local rec = json.decode(fs.read(h.dir .. "/data/instances/test/a/instance.json"))
    assert.equal(1, #rec.mounts)
    h:ok({ "snapshot", "a", "--name", "mounted" })
    h:ok({ "restore", "a.bare", "--destructive" })
    rec = json.decode(fs.read(h.dir .. "/data/instances/test/a/instance.json"))
    assert.is_true(rec.mounts == nil or #rec.mounts == 0)
    h:ok({ "restore", "a.mounted", "--destructive" })
    rec = json.decode(fs.read(h.dir .. "/data/instances/test/a/instance.json"))
    assert.equal(1, #rec.mounts)
    assert.equal("/srv/share", rec.mounts[1].target)
    fs.rmtree(share)
  end)

  it("deletes a snapshot: its children take its parent", function()
    h:ok({ "snapshot", "a", "--name", "one" })
    h:ok({ "snapshot", "a", "--name", "two" })
    h:ok({ "snapshot", "a", "--name", "three" })
    h:ok({ "delete", "a.two" })
    local s = by_name(h, "a")
    assert.is_nil(s.two)
    assert.equal("one", s.three.parent)
    h:ok({ "restore", "a.one", "--destructive" })
    h:ok({ "snapshot", "a", "--name", "four" })
    assert.equal("one", by_name(h, "a").four.parent)
  end)

  it("renames and comments through settings", function()
    h:ok({ "snapshot", "a", "--name", "one", "--comment", "old" })
    h:ok({ "snapshot", "a", "--name", "two" })
    assert.equal("old\n", h:ok({ "get", "local.a.one.comment" }))
    h:ok({ "set", "local.a.one.comment=new words", "local.a.one.name=first" })
    local s = by_name(h, "a")
    assert.is_nil(s.one)
    assert.equal("new words", s.first.comment)
    assert.equal("first", s.two.parent)
    local keys = h:ok({ "get", "--keys" })
    assert.truthy(keys:find("local.a.first.name", 1, true), keys)
    assert.truthy(keys:find("local.a.two.comment", 1, true), keys)
    h:ok({ "unset", "local.a.first.comment" })
    assert.is_true(none(by_name(h, "a").first.comment))
    h:ok({ "restore", "a.first", "--destructive" })
  end)

  it("refuses bad input in one line and changes nothing", function()
    h:ok({ "snapshot", "a", "--name", "one" })
    h:ok({ "launch", "--name", "b" })
    local before = helpers.snapshot(h.dir .. "/data")
    fails(h, { "restore", "a.nope" }, 2, 'instance "a" has no snapshot "nope"')
    fails(h, { "delete", "a.nope" }, 2, 'instance "a" has no snapshot "nope"')
    fails(h, { "snapshot", "a", "--name", "one" }, 2, 'already has a snapshot "one"')
    fails(h, { "snapshot", "a", "--name", "bad.name" }, 1, "invalid snapshot name")
    fails(h, { "snapshot", "a", "--name", "1st" }, 1, "invalid snapshot name")
    fails(h, { "snapshot", "ghost" }, 2, 'instance "ghost" does not exist')
    fails(h, { "restore", "a" }, 1, 'is not INSTANCE.SNAPSHOT')
    fails(h, { "restore", "ghost.one" }, 2, 'instance "ghost" does not exist')
    fails(h, { "set", "local.a.one.name=two.x" }, 1, "invalid snapshot name")
    fails(h, { "set", "local.a.nope.comment=x" }, 2, 'has no snapshot "nope"')
    h:ok({ "snapshot", "a", "--name", "two" })
    before = helpers.snapshot(h.dir .. "/data")
    fails(h, { "set", "local.a.one.name=two" }, 2, 'already has a snapshot "two"')
    fails(h, { "unset", "local.a.one.name" }, 1, "cannot be unset")
    assert.same(before, helpers.snapshot(h.dir .. "/data"))
  end)

  it("snapshots neither suspended nor deleted instances, and restores a suspended one only " ..
    "destructively", function()
      h:ok({ "snapshot", "a", "--name", "one" })
      h:ok({ "suspend", "a" })
      local before = helpers.snapshot(h.dir .. "/data")
      fails(h, { "snapshot", "a" }, 2, 'instance "a" is suspended (try: moonbase start a first')
      fails(h, { "restore", "a.one" }, 2, "restore --destructive")
      assert.same(before, helpers.snapshot(h.dir .. "/data"))
      h:ok({ "restore", "a.one", "--destructive" })
      assert.equal("running", state(h, "a"))
      h:ok({ "delete", "a" })
      fails(h, { "snapshot", "a" }, 2, "is deleted (try: moonbase recover a)")
    end)

  it("keeps the snapshot a pending resume needs", function()
    h:ok({ "snapshot", "a", "--name", "hot" })
    -- the guest does not come back: the instance keeps the snapshot's memory
    local c, _, err = h:run({ "restore", "a.hot" }, { env = { MOONBASE_TEST_FAIL = "resume" } })
    assert.equal(2, c, err)
    assert.equal("suspended", state(h, "a"))
    local before = helpers.snapshot(h.dir .. "/data")
    fails(h, { "delete", "a.hot" }, 2, 'delete: "a" resumes from snapshot "hot" at its next ' ..
      'start (try: moonbase start a first')
    assert.same(before, helpers.snapshot(h.dir .. "/data"))
    h:ok({ "start", "a" })
    assert.equal("running", state(h, "a"))
    h:ok({ "delete", "a.hot" })
  end)

  it("shows no half-made snapshot after a kill, and the next one cleans it up", function()
    local argv = { helpers.bin, "snapshot", "a", "--name", "killed" }
    local env = { MOONBASE_HOME = h.dir, NO_COLOR = "1", MOONBASE_TEST_DELAY_MS = "3000" }
    local pid = assert(process.spawn(argv, { env = env }))
    local tdir = h.dir .. "/data/instances/test/a/test-driver.snapshots"
    local function written() -- the driver's snapshots (not its temporary files)
      local n = 0
      for _, f in ipairs(fs.list(tdir) or {}) do
        if f:sub(1, 1) ~= "." then n = n + 1 end
      end
      return n
    end
    local deadline = util.now() + 10
    while written() == 0 and util.now() < deadline do util.sleep(0.02) end
    assert.equal(1, written(), "the driver's snapshot was written")
    process.kill(pid, 9)
    process.wait(pid)
    assert.same({}, rows(h))
    assert.is_nil(fs.exists(h.dir .. "/data/instances/test/a/snapshots/killed.json"))
    -- the driver's orphan goes with the next snapshot operation
    h:ok({ "snapshot", "a", "--name", "killed" })
    assert.equal(1, written())
    assert.equal("killed", rows(h)[1].name)
  end)
end)

describe("recipe snapshots (test driver)", function()
  local h, dir
  before_each(function()
    h = helpers.home()
    dir = helpers.tmpdir("rsnap")
    fs.write(dir .. "/trio.lua", [[
project "trio"
instance "db" { cpus = 1 }
instance "web" { cpus = 1 }
instance "cache" { cpus = 1 }
]])
    h:ok({ "up", dir .. "/trio.lua" })
  end)
  after_each(function()
    h:cleanup()
    fs.rmtree(dir)
  end)

  it("takes one snapshot of every instance and restores them together", function()
    local recipe = dir .. "/trio.lua"
    h:ok({ "stop", "trio-cache" })
    local out = h:ok({ "snapshot", recipe, "--name", "before" })
    assert.equal("Snapshot taken: " .. recipe .. ".before\n", out)
    local s = rows(h)
    assert.equal(3, #s)
    local states = {}
    for _, r in ipairs(s) do
      assert.equal("before", r.name)
      states[r.instance] = r.state
    end
    assert.same({ ["trio-db"] = "running", ["trio-web"] = "running",
      ["trio-cache"] = "stopped" }, states)
    -- the running ones were paused while the set was taken, and run on
    assert.equal("running", state(h, "trio-db"))
    assert.equal("running", state(h, "trio-web"))
    local log = fs.read(h.dir .. "/data/instances/test/trio-db/serial.log")
    assert.truthy(log:find("paused\n[^\n]*running\n", 1, false), log)

    h:ok({ "stop", "trio-db" })
    h:ok({ "stop", "trio-web" })
    h:ok({ "set", "local.trio-web.cpus=3" })
    out = h:ok({ "restore", recipe .. ".before" })
    assert.equal("Snapshot taken: " .. recipe .. ".snapshot1\nRestored: " .. recipe ..
      ".before\n", out)
    assert.equal("running", state(h, "trio-db"))
    assert.equal("running", state(h, "trio-web"))
    assert.equal("stopped", state(h, "trio-cache"))
    assert.equal(1, json.decode(h:ok({ "info", "trio-web", "--format", "json" }))["trio-web"].cpus)
    -- the state it replaced, kept as a recipe snapshot of its own
    local names = {}
    for _, r in ipairs(rows(h)) do names[r.instance .. "." .. r.name] = r.state end
    assert.equal("stopped", names["trio-db.snapshot1"])
    assert.equal("stopped", names["trio-web.snapshot1"])
    h:ok({ "restore", recipe .. ".snapshot1", "--destructive" })
    assert.equal("stopped", state(h, "trio-db"))
  end)

  it("refuses an unknown recipe snapshot and a taken name, changing nothing", function()
    local recipe = dir .. "/trio.lua"
    h:ok({ "snapshot", recipe })
    local before = helpers.snapshot(h.dir .. "/data")
    fails(h, { "restore", recipe .. ".nope" }, 2, 'has no snapshot "nope"')
    fails(h, { "snapshot", recipe, "--name", "snapshot1" }, 2, 'already has a snapshot')
    h:ok({ "snapshot", "trio-db", "--name", "solo" })
    before = helpers.snapshot(h.dir .. "/data")
    fails(h, { "snapshot", recipe, "--name", "solo" }, 2,
      'instance "trio-db" already has a snapshot "solo"')
    assert.same(before, helpers.snapshot(h.dir .. "/data"))
  end)
end)
