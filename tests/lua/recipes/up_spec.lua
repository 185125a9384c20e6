-- up / down / provision / outputs on the test driver: parallel launches of
-- independent instances (instrumented with MOONBASE_TEST_DELAY_MS, which
-- makes each create and start take that long), dependency order, failures
-- that stop only their dependents, provisioning once, idempotent re-up, and
-- down in reverse dependency order.
local helpers = require("helpers")
local common = require("recipes.common")
local fs = require("moonbase.engine.fs")
local util = require("moonbase.engine.util")
local json = require("moonbase.engine.json")

-- the summary's instances by name, their ISO 8601 times as seconds
local function by_name(summary)
  local format = require("moonbase.format")
  local t = {}
  for _, i in ipairs(summary.instances) do
    for _, k in ipairs({ "started", "finished", "launch_started", "launch_finished" }) do
      if type(i[k]) == "string" then
        assert.truthy(i[k]:match("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d%.%d%d%dZ$"), i[k])
        i[k] = format.epoch(i[k])
      end
    end
    t[i.name] = i
  end
  return t
end

-- outputs rows as name -> value (every one succeeded)
local function values(rows)
  local t = {}
  for _, o in ipairs(rows) do
    assert.is_true(o.error == nil or type(o.error) == "userdata", tostring(o.error))
    t[o.name] = o.value
  end
  return t
end

describe("recipe up #recipes", function()
  local r
  before_each(function() r = common.new() end)
  after_each(function() r:cleanup() end)

  it("launches independent instances in parallel and dependents after them", function()
    r:write("app.lua", [[
instance "a" {}
instance "b" {}
instance "c" {}
instance "d" { depends_on = { "a", "b" } }
instance "e" { depends_on = { "d" } }
]])
    local delay = 400
    local s = r:json({ "up", "app.lua", "--parallel", "3" },
      { env = { MOONBASE_TEST_DELAY_MS = tostring(delay) } })
    local i = by_name(s)
    for _, n in ipairs({ "a", "b", "c", "d", "e" }) do
      assert.equal("ok", i[n].status, n)
      -- each launch is a create and a start, both delayed
      assert.truthy(i[n].launch_finished - i[n].launch_started >= 2 * delay / 1000 * 0.95, n)
    end
    -- a, b and c overlap: each starts before any of them finishes
    local first_end = math.min(i.a.launch_finished, i.b.launch_finished, i.c.launch_finished)
    local last_start = math.max(i.a.launch_started, i.b.launch_started, i.c.launch_started)
    assert.truthy(last_start < first_end, "a, b and c did not overlap")
    -- d starts after a and b are done (up, ready, provisioned); e after d
    assert.truthy(i.d.started >= math.max(i.a.finished, i.b.finished))
    assert.truthy(i.e.started >= i.d.finished)
  end)

  it("runs one launch at a time with --parallel 1", function()
    r:write("app.lua", 'instance "a" {}\ninstance "b" {}\ninstance "c" {}\n')
    local s = r:json({ "up", "app.lua", "--parallel", "1" },
      { env = { MOONBASE_TEST_DELAY_MS = "150" } })
    local i = by_name(s)
    local spans = { i.a, i.b, i.c }
    table.sort(spans, function(x, y) return x.started < y.started end)
    assert.truthy(spans[2].started >= spans[1].finished)
    assert.truthy(spans[3].started >= spans[2].finished)
  end)

  it("prints live progress per instance, a summary and the outputs", function()
    r:write("app.lua", [[
instance "db" { provision = { sh "echo hello from db" } }
instance "web" { depends_on = { "db" } }
output("db", ref("db").name)
]])
    local out = r:ok({ "up", "app.lua" })
    local lines = helpers.lines(out)
    assert.equal("app.lua (project app): 2 to create", lines[1])
    assert.truthy(out:find("web | waiting for db\n", 1, true), out)
    assert.truthy(out:find("db  | ==> creating app-db (default image, 1 cpu, 1G memory, 5G disk)\n",
      1, true), out)
    assert.truthy(out:find("db  | hello from db\n", 1, true), out)
    assert.truthy(out:find("db  | ==> provisioning 1/1: sh: echo hello from db (app.lua:1)\n", 1,
      true), out)
    assert.truthy(out:find("Summary (", 1, true), out)
    assert.truthy(out:find("\n  db   created, provisioned in ", 1, true), out)
    assert.truthy(out:find("\n  web  created in ", 1, true), out)
    assert.truthy(out:find("Outputs:\n  db = app-db\n", 1, true), out)
    -- the waiting line comes before web's creation, which comes after db's provisioning
    assert.truthy(out:find("web | waiting", 1, true) < out:find("db  | hello", 1, true))
    assert.truthy(out:find("db  | ==> provisioned", 1, true) < out:find("web | ==> creating", 1,
      true))
  end)

  it("changes nothing on an unchanged recipe: no driver call, no write", function()
    r:write("app.lua", [[
for i = 1, 3 do instance ("vm" .. i) { provision = { sh "echo once >> count" } } end
]])
    r:ok({ "up", "app.lua", "-q" })
    local before = helpers.snapshot(r.home)
    local out = r:ok({ "up", "app.lua" })
    assert.equal("app.lua (project app): nothing to change, 3 instances up to date.\n", out)
    assert.same(before, helpers.snapshot(r.home))
    -- (how fast that is, next to status, is measured by tests/bench, not asserted here)
    r:ok({ "up", "app.lua", "-q" })
    assert.same(before, helpers.snapshot(r.home))
    assert.equal("once\n", fs.read(common.guest_path(r, "app-vm1", "count")))
  end)

  it("provisions once; provision runs it again, for all or named instances", function()
    r:write("app.lua", [[
instance "db" { provision = { sh "echo run >> count" } }
instance "web" { depends_on = { "db" }, provision = { sh "echo run >> count" } }
instance "plain" {}
]])
    local db, web = common.guest_path(r, "app-db", "."), common.guest_path(r, "app-web", ".")
    r:ok({ "up", "app.lua", "-q" })
    r:ok({ "down", "app.lua", "-q" })
    r:ok({ "up", "app.lua", "-q" }) -- starts them again, does not provision
    assert.equal("run\n", fs.read(db .. "/count"))
    local out = r:ok({ "provision", "app.lua" })
    assert.truthy(out:find("plain | no provisioning steps", 1, true), out)
    assert.truthy(out:find("db    | ==> provisioning 1/1", 1, true), out)
    assert.equal("run\nrun\n", fs.read(db .. "/count"))
    assert.equal("run\nrun\n", fs.read(web .. "/count"))
    r:ok({ "provision", "app.lua", "web" })
    assert.equal("run\nrun\n", fs.read(db .. "/count"))
    assert.equal("run\nrun\nrun\n", fs.read(web .. "/count"))
    local code, _, err = r:run({ "provision", "app.lua", "nope" })
    assert.equal(1, code)
    assert.truthy(err:find('provision: the recipe declares no instance "nope" (it declares: db, ' ..
      "web, plain)", 1, true), err)
    r:ok({ "stop", "app-web" })
    code, _, err = r:run({ "provision", "app.lua", "web" })
    assert.equal(2, code)
    assert.truthy(err:find('provision: instance "app-web" is stopped (run: moonbase up app.lua)',
      1, true), err)
  end)

  it("a failure stops its dependents, lets the rest finish, and exits 2", function()
    r:write("app.lua", [[
instance "db" {}
instance "web" { depends_on = { "db" } }
instance "worker" { depends_on = { "web" } }
instance "cache" {}
]])
    local code, out, err = r:run({ "up", "app.lua" },
      { env = { MOONBASE_TEST_FAIL = "create:app-db" } })
    assert.equal(2, code, err)
    assert.truthy(out:find('  db      FAILED: launch: test driver: create of "app-db" failed ' ..
      "(injected by MOONBASE_TEST_FAIL) (log: ", 1, true), out)
    assert.truthy(out:find("  web     skipped: not started: it depends on db, which failed\n", 1,
      true), out)
    assert.truthy(out:find("  worker  skipped: not started: it depends on web, which was " ..
      "skipped\n",
      1, true), out)
    assert.truthy(out:find("  cache   created in ", 1, true), out)
    assert.truthy(out:find("3 of 4 instances did not come up; outputs skipped.", 1, true), out)
    assert.same({ ["app-cache"] = "running" }, r:states())
    -- the next up does the rest
    local actions = r:actions("app.lua")
    assert.same({ ["app-db"] = "create", ["app-web"] = "create", ["app-worker"] = "create",
      ["app-cache"] = "keep" }, actions)
    r:ok({ "up", "app.lua", "-q" })
    assert.same({ ["app-db"] = "running", ["app-web"] = "running", ["app-worker"] = "running",
      ["app-cache"] = "running" }, r:states())
  end)

  it("a failed provisioning step names its line, and the next up runs it again", function()
    r:write("app.lua", [[
local ok = param("ok", false)
instance "db" {
  provision = {
    sh "echo first >> log",
    sh(ok and "true" or "echo broken >&2; exit 3"),
  },
}
]])
    local code, out = r:run({ "up", "app.lua" })
    assert.equal(2, code)
    assert.truthy(out:find("db | up: sh: echo broken >&2; exit 3 (app.lua:5): exited with " ..
      "status 3\n", 1, true), out)
    assert.truthy(out:find("db | broken\n", 1, true), out)
    local _, plan = r:actions("app.lua")
    assert.equal("provision (did not finish)", plan.instances[1].details)
    r:ok({ "up", "app.lua", "-q", "--param", "ok=true" })
    assert.equal("first\nfirst\n", fs.read(common.guest_path(r, "app-db", "log")))
    assert.same({ ["app-db"] = "keep" }, (r:actions("app.lua", { "--param", "ok=true" })))
  end)

  it("waits for ready probes after provisioning, bounded, before dependents", function()
    -- shop.lua's shape: the steps set up the service, the probe waits for it
    r:write("app.lua", [[
instance "db" {
  provision = { sh "echo provisioned > p && touch flag" },
  ready = probe.exec("test -f flag", { timeout = "5s", interval = "0.1s" }),
}
instance "web" { depends_on = { "db" } }
instance "never" { ready = probe.file("/nonexistent/file", { timeout = "0.5s", interval = "0.1s" }) }
instance "port" { ready = probe.tcp(1, { timeout = "0.3s", interval = "0.1s" }) }
]])
    local dir = common.guest_path(r, "app-db", ".") -- the guest's working directory
    local code, out = r:run({ "up", "app.lua" })
    assert.equal(2, code, out)
    local provisioned = out:find("db    | ==> provisioned in ", 1, true)
    local waiting = out:find('db    | ==> waiting for probe.exec "test -f flag" (app.lua:3)\n', 1,
      true)
    local ready = out:find("db    | ==> ready after ", 1, true)
    local web = out:find("web   | ==> creating app-web", 1, true)
    assert.truthy(provisioned and waiting and ready and web, out)
    assert.truthy(provisioned < waiting and waiting < ready and ready < web, out)
    assert.truthy(out:find("  web    created in ", 1, true), out)
    assert.truthy(out:find('  never  FAILED: probe.file "/nonexistent/file" (app.lua:6) did ' ..
      "not pass within 0.5s (", 1, true), out)
    assert.truthy(out:find("  port   FAILED: probe.tcp(1) (app.lua:7) did not pass within 0.3s",
      1, true), out)
    assert.equal("provisioned\n", fs.read(dir .. "/p"))
  end)

  it("resolves refs when the step runs, copies and writes files", function()
    r:write("conf/app.ini", "[app]\nname = demo\n")
    r:write("conf/sub/x.txt", "x\n")
    r:write("app.lua", [[
instance "db" {}
instance "web" {
  provision = {
    sh("echo " .. ref("db").ipv4 .. " > db-ip"),
    sh('echo "$DB $N $MOONBASE_INSTANCE $MOONBASE_PROJECT" > env.txt',
      { env = { DB = ref("db").name, N = 3 } }),
    copy { src = "conf/", dst = "/etc/app" },
    copy { "conf/app.ini", "/srv/", mode = "0600" },
    write { "/etc/motd", "db is at " .. ref("db").ipv4 .. "\n" },
  },
}
output("db_ip", ref("db").ipv4)
output("both", function(c)
  return { db = c.instances.db.ipv4, web = c.exec("web", "cat db-ip"), n = 2 }
end)
]])
    r:ok({ "up", "app.lua", "-q" })
    local ip = r:json({ "list" })[1].ipv4[1]
    -- the address moonbase's network gave the test driver's instance (simulated networks)
    assert.truthy(ip:match("^%d+%.%d+%.%d+%.%d+$"), ip)
    local net = json.decode(fs.read(r.home .. "/data/networks/moonbase0.json"))
    assert.equal(net.leases["app-db"].ipv4, ip)
    local web = common.instance_dir(r, "app-web")
    assert.equal(ip .. "\n", fs.read(common.guest_path(r, "app-web", "db-ip")))
    assert.equal("app-db 3 app-web app\n", fs.read(common.guest_path(r, "app-web", "env.txt")))
    assert.equal("[app]\nname = demo\n", fs.read(web .. "/rootfs/etc/app/app.ini"))
    assert.equal("x\n", fs.read(web .. "/rootfs/etc/app/sub/x.txt"))
    assert.equal("[app]\nname = demo\n", fs.read(web .. "/rootfs/srv/app.ini"))
    assert.equal(384, fs.stat(web .. "/rootfs/srv/app.ini").mode)
    assert.equal("db is at " .. ip .. "\n", fs.read(web .. "/rootfs/etc/motd"))
    local outs = values(r:json({ "outputs", "app.lua" }))
    assert.same({ db_ip = ip, both = { db = ip, web = ip, n = 2 } }, outs)
    assert.equal(ip .. "\n", r:ok({ "outputs", "app.lua", "db_ip" }))
    local table_out = r:ok({ "outputs", "app.lua" })
    assert.truthy(table_out:find("db_ip  " .. ip, 1, true), table_out)
    -- after down, an output that needs a running instance says so
    r:ok({ "down", "app.lua", "-q" })
    local code, _, err = r:run({ "outputs", "app.lua" })
    assert.equal(2, code)
    assert.truthy(err:find('outputs: db_ip (app.lua:12): app.lua:12: ref("db").ipv4: instance ' ..
      '"app-db" is stopped (run: moonbase up app.lua)', 1, true), err)
  end)

  it("refuses a replace without --replace, and does it with", function()
    r:write("app.lua", 'local img = param("img", "local:a")\ninstance "db" { image = img }\n')
    r:ok({ "up", "app.lua", "-q" })
    fs.write(common.instance_dir(r, "app-db") .. "/data", "old")
    local before = helpers.snapshot(r.home)
    local code, _, err = r:run({ "up", "app.lua", "--param", "img=local:b" })
    assert.equal(2, code)
    assert.equal("up: nothing was changed: app-db (image local:a → local:b) must be replaced, " ..
      "which deletes and recreates it (run: moonbase up app.lua --replace --param img=local:b, " ..
      "or undo the change)\n", err)
    assert.same(before, helpers.snapshot(r.home))
    -- the hint works as written: it keeps the parameter the user gave
    local hint = err:match("%(run: moonbase (.-), or undo")
    local argv = {}
    for w in hint:gmatch("%S+") do argv[#argv + 1] = w end
    argv[#argv + 1] = "-q"
    r:ok(argv)
    assert.is_nil(fs.exists(common.instance_dir(r, "app-db") .. "/data"))
    assert.equal("local:b", r:json({ "info", "app-db" })["app-db"].image)
  end)

  it("applies cpus and memory changes with a restart, and deletes what is gone", function()
    r:write("app.lua", [[
local n = param("n", 2)
local cpus = param("cpus", 1)
for i = 1, n do instance ("vm" .. i) { cpus = cpus } end
]])
    r:ok({ "up", "app.lua", "-q" })
    local out = r:ok({ "up", "app.lua", "--param", "cpus=2", "--param", "n=1" })
    assert.truthy(out:find("vm1 | ==> stopping to apply: cpus 1 → 2", 1, true), out)
    assert.truthy(out:find("vm2 | deleting (no longer declared)", 1, true), out)
    assert.truthy(out:find("  vm1  changed in", 1, true), out)
    assert.truthy(out:find("  vm2  deleted", 1, true), out)
    assert.same({ ["app-vm1"] = "running" }, r:states())
    assert.equal(2, r:json({ "info", "app-vm1" })["app-vm1"].cpus)
  end)

  it("starts stopped, resumes suspended and recovers deleted instances", function()
    r:write("app.lua", [[
local cpus = param("cpus", 1)
instance "a" {}
instance "b" { cpus = cpus }
instance "c" {}
]])
    r:ok({ "up", "app.lua", "-q" })
    r:ok({ "stop", "app-a" })
    r:ok({ "suspend", "app-b" })
    r:ok({ "delete", "app-c" })
    local out = r:ok({ "up", "app.lua", "--param", "cpus=2" })
    assert.truthy(out:find("  a  started in", 1, true), out)
    assert.truthy(out:find("  b  changed in", 1, true), out)
    assert.truthy(out:find("  c  recovered in", 1, true), out)
    assert.same({ ["app-a"] = "running", ["app-b"] = "running", ["app-c"] = "running" },
      r:states())
    assert.equal(2, r:json({ "info", "app-b" })["app-b"].cpus)
  end)

  it("goes down in reverse dependency order, and --purge leaves nothing", function()
    r:write("app.lua", [[
instance "db" {}
instance "web" { depends_on = { "db" } }
instance "lb" { depends_on = { "web" } }
instance "solo" {}
]])
    r:ok({ "up", "app.lua", "-q" })
    local out = r:ok({ "down", "app.lua" }, { env = { MOONBASE_TEST_DELAY_MS = "150" } })
    local pos = function(s) return assert(out:find(s, 1, true), s .. " in\n" .. out) end
    assert.truthy(pos("lb   | stopped") < pos("web  | stopping"))
    assert.truthy(pos("web  | stopped") < pos("db   | stopping"))
    assert.truthy(pos("solo | stopping") < pos("lb   | stopped"))
    assert.same({ ["app-db"] = "stopped", ["app-web"] = "stopped", ["app-lb"] = "stopped",
      ["app-solo"] = "stopped" }, r:states())
    assert.truthy(r:ok({ "down", "app.lua" }):find("nothing to stop", 1, true))
    r:ok({ "up", "app.lua", "-q" })
    -- an instance the recipe no longer declares goes too
    r:write("app.lua", 'instance "db" {}\ninstance "web" { depends_on = { "db" } }\n')
    r:ok({ "down", "app.lua", "--purge", "-q" })
    assert.equal("No instances found.\n", r:ok({ "list" }))
    assert.same({}, fs.list(r.home .. "/data/instances/test"))
    assert.is_nil(fs.exists(r.home .. "/data/recipes/app"))
  end)

  it("refuses a second up of the same project while one runs", function()
    r:write("app.lua", 'instance "a" {}\ninstance "b" { depends_on = { "a" } }\n')
    local process = require("moonbase.engine.process")
    local env = { MOONBASE_HOME = r.home, MOONBASE_TEST_DELAY_MS = "500" }
    local pid = process.spawn({ helpers.bin, "up", "app.lua", "-q" }, { cwd = r.dir, env = env })
    util.sleep(0.3)
    local code, _, err = r:run({ "up", "app.lua" })
    assert.equal(0, process.wait(pid))
    assert.equal(2, code)
    assert.truthy(err:find('up: another up, down or provision of project "app" is running', 1,
      true), err)
  end)
end)
