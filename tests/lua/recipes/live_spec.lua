-- Recipes a user can live with, on the test driver: the parameters of the
-- last `up` are remembered per project, plan shows where each instance is
-- reached and what it shares, and a forward or mount change is made on the
-- live instance instead of replacing it.
local helpers = require("helpers")
local common = require("recipes.common")
local fs = require("moonbase.engine.fs")
local json = require("moonbase.engine.json")

describe("recipes remember and change in place #recipes", function()
  local r
  before_each(function() r = common.new() end)
  after_each(function() r:cleanup() end)

  local function outputs(args)
    local t = {}
    for _, o in ipairs(r:json(args)) do t[o.name] = o.value end
    return t
  end

  it("remembers the parameters of the last up for every command of the project", function()
    r:write("app.lua", [[
local webs = param("webs", 1)
local tag = param("tag", "blue")
for i = 1, webs do instance ("web" .. i) { provision = { sh("echo " .. tag .. " >> ran") } } end
output("webs", webs)
output("tag", tag)
]])
    r:ok({ "up", "app.lua", "-p", "webs=3", "-q" })
    -- no --param: the values of the last up, and plan/status say so
    local out = r:ok({ "plan", "app.lua" })
    assert.equal("app.lua (project app): 3 to keep\nwith webs=3 (from the last up)\n",
      out:match("^(.-\n.-\n)"))
    local _, plan = r:actions("app.lua")
    assert.same({ name = "webs", value = 3, default = 1, source = "last up" }, plan.params[1])
    assert.same({ name = "tag", value = "blue", default = "blue", source = "default" },
      plan.params[2])
    assert.truthy(r:ok({ "status", "app.lua" }):find("^app.lua %(project app%) with webs=3 " ..
      "%(from the last up%)\n"))
    assert.same({ webs = 3, tag = "blue" }, outputs({ "outputs", "app.lua" }))
    -- provision without --param runs on all three, with the same values
    r:ok({ "provision", "app.lua", "-q" })
    assert.equal("blue\nblue\n", fs.read(common.guest_path(r, "app-web3", "ran")))
    -- a parameter given again wins, and the next up remembers it
    assert.same({ webs = 3, tag = "red" }, outputs({ "outputs", "app.lua", "-p", "tag=red" }))
    r:ok({ "up", "app.lua", "-p", "tag=red", "-q" }) -- keeps webs=3: nothing to change
    assert.same({ webs = 3, tag = "red" }, outputs({ "outputs", "app.lua" }))
    -- down without --param stops all three
    r:ok({ "down", "app.lua", "-q" })
    assert.same({ ["app-web1"] = "stopped", ["app-web2"] = "stopped", ["app-web3"] = "stopped" },
      r:states())
    -- going back to a default is saying so
    r:ok({ "up", "app.lua", "-p", "webs=1", "-q" })
    assert.same({ ["app-web1"] = "running" }, r:states())
    assert.equal("webs=1 (from the last up), tag=red (from the last up)",
      r:ok({ "plan", "app.lua" }):match("\nwith (.-)\n"))
    -- down --purge forgets them with the rest of the project
    r:ok({ "down", "app.lua", "--purge", "-q" })
    local _, p2 = r:actions("app.lua")
    assert.equal("default", p2.params[1].source)
    assert.equal(1, p2.params[1].value)
  end)

  it("remembers per project and recipe, and ignores what a recipe no longer declares",
    function()
      r:write("app.lua", 'local n = param("n", 1)\ninstance "a" {}\noutput("n", n)\n')
      r:write("other.lua", 'local n = param("n", 1)\ninstance "b" {}\noutput("n", n)\n')
      r:ok({ "up", "app.lua", "-p", "n=5", "-q" })
      assert.same({ n = 1 }, outputs({ "outputs", "other.lua" }))
      assert.same({ n = 5 }, outputs({ "outputs", "app.lua" }))
      r:write("app.lua", 'instance "a" {}\noutput("n", 0)\n') -- n is gone
      assert.same({ n = 0 }, outputs({ "outputs", "app.lua" }))
    end)

  it("plans each instance's networks, addresses, mounts and forwards, table and JSON",
    function()
      assert(fs.mkdirs(r.dir .. "/site"))
      r:write("app.lua", [[
network "backend" { subnet = "10.77.0.0/24" }
instance "web" {
  networks = { { "backend", ip = "10.77.0.10" } },
  mounts = { { "./site", "/srv/site", readonly = true } },
  forwards = { [8081] = 8080, ["5353/udp"] = 53 },
}
instance "db" {}
]])
      local out = r:ok({ "plan", "app.lua" })
      local site = fs.realpath(r.dir .. "/site")
      assert.truthy(out:find("\nName  Networks                  Addresses   Mounts", 1, true), out)
      assert.truthy(out:find("\nweb   app-backend (10.77.0.10)  10.77.0.10  " .. site ..
        " → /srv/site (read-only)  127.0.0.1:5353 → 53/udp, 127.0.0.1:8081 → 8080/tcp\n", 1,
        true), out)
      local _, plan = r:actions("app.lua")
      local web = plan.instances[1]
      assert.same({ { network = "app-backend", ip = "10.77.0.10" } }, web.networks)
      assert.same({ "10.77.0.10" }, web.addresses)
      assert.same({ { source = site, target = "/srv/site", readonly = true, type = "native" } },
        web.mounts)
      assert.same({ { address = "127.0.0.1", host_port = 5353, guest_port = 53, proto = "udp" },
        { address = "127.0.0.1", host_port = 8081, guest_port = 8080, proto = "tcp" } },
        web.forwards)
      -- once up, the addresses are the instance's own
      r:write("app.lua", 'instance "db" {}\n')
      r:ok({ "up", "app.lua", "-q" })
      _, plan = r:actions("app.lua")
      local ipv4 = r:json({ "info", "app-db" })["app-db"].ipv4
      assert.truthy(ipv4[1]:match("^%d+%.%d+%.%d+%.%d+$"), ipv4[1])
      assert.same(ipv4, plan.instances[1].addresses)
    end)

  it("changes a mount on the running instance instead of replacing it", function()
    assert(fs.mkdirs(r.dir .. "/site"))
    assert(fs.mkdirs(r.dir .. "/other"))
    r:write("app.lua", [[
local src = param("src", "site")
instance "web" { mounts = { { "./" .. src, "/srv/site", readonly = true } } }
]])
    r:ok({ "up", "app.lua", "-q" })
    local before = json.decode(fs.read(common.instance_dir(r, "app-web") .. "/instance.json"))
    local actions, plan = r:actions("app.lua", { "-p", "src=other" })
    assert.same({ ["app-web"] = "change" }, actions)
    local ch = plan.instances[1].changes[1]
    assert.equal("mounts", ch.key)
    assert.equal("mounts: add " .. fs.realpath(r.dir .. "/other") .. " → /srv/site " ..
      "(read-only), remove " .. fs.realpath(r.dir .. "/site") .. " → /srv/site (read-only) " ..
      "(a native mount: restarts it)", ch.text)
    local out = r:ok({ "up", "app.lua", "-p", "src=other" })
    assert.truthy(out:find("web | ==> unmounting /srv/site\n", 1, true), out)
    assert.truthy(out:find("web | ==> mounting " .. fs.realpath(r.dir .. "/other"), 1, true), out)
    assert.truthy(out:find("  web  changed in ", 1, true), out)
    local after = json.decode(fs.read(common.instance_dir(r, "app-web") .. "/instance.json"))
    assert.equal(before.created, after.created) -- the same instance
    assert.equal(fs.realpath(r.dir .. "/other"), after.mounts[1].source)
    assert.equal(1, #after.mounts)
    assert.same({ ["app-web"] = "keep" }, (r:actions("app.lua")))
  end)

  it("plans a forward change as a live change, not a replace", function()
    r:write("app.lua", [[
local port = param("port", 8081)
instance "web" { forwards = { [port] = 8080 } }
]])
    r:ok({ "up", "app.lua", "-q" })
    local actions, plan = r:actions("app.lua", { "-p", "port=8090" })
    assert.same({ ["app-web"] = "change" }, actions)
    assert.equal("forwards: add 127.0.0.1:8090 → 8080/tcp, remove 127.0.0.1:8081 → " ..
      "8080/tcp (live)", plan.instances[1].details)
    assert.same({ { address = "127.0.0.1", host_port = 8090, guest_port = 8080, proto = "tcp" } },
      plan.instances[1].changes[1].add)
    -- the test driver has no guest to forward to: up says so (a real guest: e2e/recipes)
    local code, out = r:run({ "up", "app.lua", "-p", "port=8090" })
    assert.equal(2, code)
    assert.truthy(out:find("FAILED: forward: the test driver has no guest to forward to", 1,
      true), out)
  end)
end)
