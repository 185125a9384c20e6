-- Planning on the test driver: create / change (and what) / replace / keep /
-- delete / conflict, in table and JSON form; plan never changes anything.
local helpers = require("helpers")
local common = require("recipes.common")
local json = require("moonbase.engine.json")

local RECIPE = [[
local workers = param("workers", 2)
local cpus = param("cpus", 1)
local image = param("image", "local:tiny")
local disk = param("disk", "5G")
local script = param("script", "echo db > db.txt")
instance "db" {
  image = image, memory = "512M", disk = disk,
  provision = { sh(script) },
}
for i = 1, workers do
  instance ("web" .. i) { cpus = cpus, depends_on = { "db" } }
end
]]

describe("recipe plan #recipes", function()
  local r
  before_each(function()
    r = common.new()
    r:write("app.lua", RECIPE)
  end)
  after_each(function() r:cleanup() end)

  it("plans creates in dependency order, as a table and as JSON, changing nothing", function()
    local before = helpers.snapshot(r.home)
    local out = r:ok({ "plan", "app.lua" })
    assert.equal([[
app.lua (project app): 3 to create
Action  Name  Instance  Details
create  db    app-db    local:tiny, 1 cpu, 512M memory, 5G disk
create  web1  app-web1  default, 1 cpu, 1G memory, 5G disk; after db
create  web2  app-web2  default, 1 cpu, 1G memory, 5G disk; after db
]], out)
    local plan = r:json({ "plan", "app.lua" })
    assert.equal("app", plan.project)
    assert.equal("app.lua", plan.recipe)
    assert.same({ create = 3, change = 0, replace = 0, keep = 0, delete = 0, conflict = 0 },
      plan.counts)
    assert.same({ "db" }, plan.instances[2].depends_on)
    assert.same(before, helpers.snapshot(r.home))
    assert.truthy(r:ok({ "plan", "app.lua", "--format", "csv" }):find("^action,name,instance"))
  end)

  it("keeps what is up to date, changes cpus, memory and disk, and deletes what is gone", function()
    r:ok({ "up", "app.lua", "-q" })
    assert.same({ ["app-db"] = "keep", ["app-web1"] = "keep", ["app-web2"] = "keep" },
      (r:actions("app.lua")))
    assert.truthy(r:ok({ "plan", "app.lua" }):find("app.lua (project app): 3 to keep\n", 1, true))
    local actions, plan = r:actions("app.lua", { "--param", "cpus=2", "--param", "workers=1",
      "--param", "disk=8G" })
    assert.same({ ["app-db"] = "change", ["app-web1"] = "change", ["app-web2"] = "delete" },
      actions)
    local by = {}
    for _, i in ipairs(plan.instances) do by[i.name] = i end
    assert.equal("disk 5G → 8G; restart to apply", by.db.details)
    assert.same({ key = "disk", from = 5 * 1024 ^ 3, to = 8 * 1024 ^ 3, text = "disk 5G → 8G" },
      by.db.changes[1])
    assert.equal("cpus 1 → 2; restart to apply", by.web1.details)
    assert.equal("no longer declared", by.web2.details)
    local before = helpers.snapshot(r.home)
    r:ok({ "plan", "app.lua", "--param", "cpus=2" })
    assert.same(before, helpers.snapshot(r.home))
  end)

  it("plans a start for stopped instances and a recover for deleted ones", function()
    r:ok({ "up", "app.lua", "-q" })
    r:ok({ "stop", "app-web1" })
    r:ok({ "delete", "app-web2" })
    local _, plan = r:actions("app.lua")
    assert.equal("keep", plan.instances[1].action)
    assert.equal("start (stopped → running)", plan.instances[2].details)
    assert.equal("recover (deleted → running)", plan.instances[3].details)
  end)

  it("plans a replace for a new image, cloud-init or a smaller disk", function()
    r:ok({ "up", "app.lua", "-q" })
    local _, plan = r:actions("app.lua", { "--param", "image=local:other" })
    assert.equal("replace", plan.instances[1].action)
    assert.equal("image local:tiny → local:other (deletes and recreates it: up --replace)",
      plan.instances[1].details)
    _, plan = r:actions("app.lua", { "--param", "disk=2G" })
    assert.equal("disk 5G → 2G (disks only grow) (deletes and recreates it: up --replace)",
      plan.instances[1].details)
  end)

  it("notes changed provisioning without planning to run it again", function()
    r:ok({ "up", "app.lua", "-q" })
    local _, plan = r:actions("app.lua", { "--param", "script=echo other > db.txt" })
    assert.equal("keep", plan.instances[1].action)
    -- the hint keeps the parameter, so following it runs the changed steps
    assert.equal("provisioning changed since it ran (run it again: moonbase provision " ..
      "app.lua db --param 'script=echo other > db.txt')", plan.instances[1].details)
    r:ok({ "provision", "app.lua", "db", "--param", "script=echo other > db.txt", "-q" })
    _, plan = r:actions("app.lua", { "--param", "script=echo other > db.txt" })
    assert.equal("keep", plan.instances[1].action)
    assert.equal("", plan.instances[1].details)
  end)

  it("shows a conflict with an instance it did not make, and up changes nothing", function()
    r:ok({ "launch", "--name", "app-web1" })
    local actions = r:actions("app.lua")
    assert.equal("conflict", actions["app-web1"])
    local before = helpers.snapshot(r.home)
    local code, _, err = r:run({ "up", "app.lua" })
    assert.equal(2, code)
    assert.truthy(err:find('up: nothing was changed:\ninstance "app-web1" exists but was not ' ..
      "made by this recipe", 1, true), err)
    assert.same(before, helpers.snapshot(r.home))
  end)

  it("tells two recipes with one project name apart", function()
    r:ok({ "up", "app.lua", "-q" })
    r:write("other/app.lua", 'instance "db" {}\n')
    local actions = r:actions("other/app.lua")
    assert.same({ ["app-db"] = "conflict" }, actions)
    local _, plan = r:actions("other/app.lua")
    assert.truthy(plan.instances[1].details:find("belongs to the recipe " .. r.dir .. "/app.lua",
      1, true), plan.instances[1].details)
  end)

  it("ignores other projects' instances and plain instances", function()
    r:ok({ "launch", "--name", "unrelated" })
    r:write("shop.lua", 'instance "web" {}\n')
    r:ok({ "up", "shop.lua", "-q" })
    assert.same({ ["app-db"] = "create", ["app-web1"] = "create", ["app-web2"] = "create" },
      (r:actions("app.lua")))
  end)

  it("labels recipe instances, which stay ordinary instances", function()
    r:ok({ "up", "app.lua", "-q" })
    local info = r:json({ "info", "app-db" })["app-db"]
    assert.same({ ["moonbase.project"] = "app", ["moonbase.recipe"] = r.dir .. "/app.lua",
      ["moonbase.instance"] = "db" }, info.labels)
    assert.same({ ["app-db"] = "running", ["app-web1"] = "running", ["app-web2"] = "running" },
      r:states())
    local code, out = r:run({ "exec", "app-db", "--", "cat", "db.txt" })
    assert.equal(0, code)
    assert.equal("db\n", out)
    local status = r:json({ "status", "app.lua" })
    assert.equal("app", status.project)
    assert.equal(3, #status.instances)
    assert.equal("up to date", status.instances[1].plan)
    assert.equal("running", status.instances[1].state)
    assert.truthy(status.instances[1].provisioned:match("^%d+%-%d+%-%d+T"))
    assert.truthy(json.decode((r:ok({ "list", "--format", "json" }))))
  end)
end)
