-- recipes/offline.lua on real QEMU guests (the tiny image under TCG): up
-- launches db, then web1 and web2 in parallel; the outputs prove the record
-- crossed from db to the web servers, and, where this build has them, that
-- web1 reaches db by name over moonbase's private network, reads a mounted
-- host folder, and serves its page on a forwarded host port; a parameter
-- edit shows in plan as a change of db alone, and up applies only it (the
-- web servers keep running untouched); down --purge leaves nothing.
--
-- Network rules (TESTING.md): as root, the spec makes a network namespace of
-- its own and runs the image host and every moonbase command in it (even when
-- the suite already runs in one), and deletes it at the end; as a user there
-- is no private network, only user networking with restrict=on. Nothing
-- leaves the namespace.
-- MOONBASE_E2E_DRIVER=lxd brings the same recipe up as LXD containers: a
-- stock LXD (tests/lib/lxd.sh) started in the spec's namespace.
-- Run: build/moonbase --lua tests/run-busted.lua tests/e2e/recipes_spec.lua
-- MOONBASE_TINY_IMAGE=<dir> uses an already built tiny image.
package.path = (os.getenv("MOONBASE_SRC") or ".") .. "/tests/e2e/?.lua;" .. package.path
local support = require("support")
local fs = require("moonbase.engine.fs")
local json = require("moonbase.engine.json")
local util = require("moonbase.engine.util")

local RECIPE = support.src .. "/recipes/offline.lua"
local DRIVER = os.getenv("MOONBASE_E2E_DRIVER") or "qemu"
local SCOPE = DRIVER == "lxd" and "lxd" or "qemu"
local RECORD = "id=42 name=moonbase"

describe("recipes on real guests (driver " .. DRIVER .. ") #e2e #recipes", function()
  local why = support.unavailable()
  if not why and DRIVER == "lxd" and util.geteuid() ~= 0 then
    why = "LXD's containers join moonbase's bridges: needs root"
  end
  local ns, prefix, streams, home, url, lxd_dir
  local features = require("moonbase.instance").features or {}

  local function run(args, opts)
    local argv = {}
    for _, a in ipairs(prefix or {}) do argv[#argv + 1] = a end
    argv[#argv + 1] = support.bin
    for _, a in ipairs(args) do argv[#argv + 1] = a end
    local env = { MOONBASE_HOME = home, NO_COLOR = "1" }
    for k, v in pairs((opts or {}).env or {}) do env[k] = v end
    return support.run(argv, { env = env })
  end
  local function ok(args, opts)
    local code, out, err = run(args, opts)
    assert(code == 0, string.format("moonbase %s exited %d: %s%s", table.concat(args, " "),
      code, err, out))
    return out
  end
  -- `outputs --format json` rows as name -> value; every output succeeded
  local function outputs(args)
    local t = {}
    for _, o in ipairs(json.decode(ok(args))) do
      assert(o.error == nil or o.error == json.null, tostring(o.error))
      t[o.name] = o.value
    end
    return t
  end

  local function record(name)
    local text = fs.read(home .. "/data/instances/" .. SCOPE .. "/" .. name .. "/instance.json")
    assert(text, "no record of " .. name)
    return json.decode(text)
  end

  setup(function()
    if why then return end
    local img, reason = support.tiny_image()
    if not img then why = reason return end
    if util.geteuid() == 0 then -- always a namespace of its own: nothing reaches the host's
      if not support.have("ip") then why = "ip (iproute2) is not installed" return end
      ns = "mbrecipes-" .. util.getpid()
      support.must({ "ip", "netns", "add", ns })
      support.must({ "ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up" })
      prefix = { "ip", "netns", "exec", ns }
    end
    streams = support.tmpdir("recipe-streams")
    support.must({ support.src .. "/tests/images/make-streams.sh", streams, img })
    local argv = {}
    for _, a in ipairs(prefix or {}) do argv[#argv + 1] = a end
    for _, a in ipairs({ support.src .. "/tests/lib/imagehost.sh", "start", streams }) do
      argv[#argv + 1] = a
    end
    url = support.must(argv, { env = { MB_IMAGEHOST_LIFETIME = "3600" } })
      :match("(http://127%.0%.0%.1:%d+)") .. "/"
    home = support.tmpdir("recipe-home")
    ok({ "remote", "add", "local", url })
    ok({ "set", "local.driver=qemu", "local.image.default=local:tiny",
      "local.qemu.restrict-user-network=true" })
    if DRIVER == "lxd" then
      lxd_dir = support.tmpdir("recipe-lxd")
      local code, out, err = support.run({ "ip", "netns", "exec", ns,
        support.src .. "/tests/lib/lxd.sh", "start", lxd_dir })
      assert(code == 0, "tests/lib/lxd.sh could not start LXD: " .. err .. out)
      ok({ "set", "local.driver=lxd", "local.lxd.socket=" .. out:match("([^\n]+)\n*$") })
    end
  end)

  teardown(function()
    if home then
      run({ "down", RECIPE, "--purge", "-q" })
      for _ = 1, 3 do
        local ps = support.processes(home)
        if #ps == 0 then break end
        for _, p in ipairs(ps) do require("moonbase.engine.process").kill(p.pid, 9) end
        util.sleep(0.3)
      end
      if not os.getenv("MOONBASE_E2E_KEEP") then fs.rmtree(home) end
    end
    if lxd_dir then
      support.run({ "ip", "netns", "exec", ns, support.src .. "/tests/lib/lxd.sh", "stop",
        lxd_dir })
      fs.rmtree(lxd_dir)
    end
    if streams then
      local argv = {}
      for _, a in ipairs(prefix or {}) do argv[#argv + 1] = a end
      argv[#argv + 1] = support.src .. "/tests/lib/imagehost.sh"
      argv[#argv + 1] = "stop"
      argv[#argv + 1] = streams
      support.run(argv)
      fs.rmtree(streams)
    end
    if ns then
      local _, pids = support.run({ "ip", "netns", "pids", ns })
      for pid in pids:gmatch("%d+") do require("moonbase.engine.process").kill(tonumber(pid), 9) end
      support.run({ "ip", "netns", "del", ns })
    end
  end)

  it("offline recipe: up, outputs, a parameter change applied alone, down --purge", function()
    if why then pending(why) return end
    -- up: db first, then web1 and web2 in parallel
    local t0 = util.now()
    local code, out, err = run({ "up", RECIPE, "--format", "json" })
    local up_secs = util.now() - t0
    assert(code == 0, "up exited " .. code .. ":\n" .. err .. out)
    local summary = json.decode(out)
    local by = {}
    for _, i in ipairs(summary.instances) do
      for _, k in ipairs({ "started", "finished", "launch_started", "launch_finished" }) do
        i[k] = require("moonbase.format").epoch(i[k]) -- ISO 8601 in the summary
      end
      by[i.name] = i
    end
    for _, n in ipairs({ "db", "web1", "web2" }) do
      assert.equal("ok", by[n].status, n)
      assert.equal("create", by[n].action, n)
    end
    assert.truthy(by.web1.started >= by.db.finished, "web1 started before db was ready")
    assert.truthy(by.web2.started >= by.db.finished, "web2 started before db was ready")
    assert.truthy(math.max(by.web1.launch_started, by.web2.launch_started) <
      math.min(by.web1.launch_finished, by.web2.launch_finished), "web1 and web2 did not overlap")
    assert.truthy(err:find("db   | ==> provisioning 1/1: write /srv/www/record.txt", 1, true), err)
    io.stderr:write(string.format("[e2e] recipes: up of 3 instances in %.1f s\n", up_secs))

    -- the outputs prove what works in this build
    local outs = outputs({ "outputs", RECIPE, "--format", "json" })
    assert.equal(RECORD, outs.record)
    assert.same({ "web1 serves: " .. RECORD, "web2 serves: " .. RECORD }, outs.pages)
    local private = false
    for _, i in ipairs(json.decode(ok({ "list", "--format", "json" }))) do
      for _, a in ipairs(i.ipv4) do
        if not a:match("^10%.0%.2%.") then private = true end
      end
    end
    if features.networks and private then
      assert.equal(RECORD, outs.web_to_db) -- web1 reached db by name
    else
      assert.equal("no private network: user networking keeps instances apart", outs.web_to_db)
    end
    if features.mounts then
      assert.equal("hello from the host, through a mount", outs.shared)
    else
      assert.equal("mounts are not available in this build yet", outs.shared)
    end
    if features.forwards then
      for i, u in ipairs(outs.urls) do
        local argv = {}
        for _, a in ipairs(prefix or {}) do argv[#argv + 1] = a end
        for _, a in ipairs({ "curl", "-s", "--max-time", "10", u }) do argv[#argv + 1] = a end
        assert.equal("web" .. i .. " serves: " .. RECORD .. "\n", support.must(argv))
      end
    else
      assert.equal("forwards are not available in this build yet", outs.urls)
    end

    -- an unchanged recipe: nothing to do
    local again = ok({ "up", RECIPE })
    assert.truthy(again:find("(project offline): nothing to change, 3 instances up to date.\n",
      1, true), again)
    local plan = json.decode(ok({ "plan", RECIPE, "--format", "json" }))
    assert.same({ create = 0, change = 0, replace = 0, keep = 3, delete = 0, conflict = 0 },
      plan.counts)

    -- edit a parameter: plan shows db's change alone
    plan = json.decode(ok({ "plan", RECIPE, "--param", "db_cpus=2", "--format", "json" }))
    local actions = {}
    for _, i in ipairs(plan.instances) do actions[i.name] = i end
    assert.equal("change", actions.db.action)
    assert.same({ key = "cpus", from = 1, to = 2, text = "cpus 1 → 2" }, actions.db.changes[1])
    assert.equal("keep", actions.web1.action)
    assert.equal("keep", actions.web2.action)

    -- up applies only it: db restarts with 2 CPUs, the web servers keep running
    local web1, web2 = record("offline-web1"), record("offline-web2")
    local db_before = record("offline-db")
    summary = json.decode(ok({ "up", RECIPE, "--param", "db_cpus=2", "--format", "json" }))
    by = {}
    for _, i in ipairs(summary.instances) do by[i.name] = i end
    assert.equal("change", by.db.action)
    assert.equal("keep", by.web1.action)
    assert.equal("keep", by.web2.action)
    assert.equal(2, record("offline-db").cpus)
    assert.truthy(record("offline-db").started_at > db_before.started_at)
    assert.equal(web1.started_at, record("offline-web1").started_at)
    assert.equal(web2.started_at, record("offline-web2").started_at)
    outs = outputs({ "outputs", RECIPE, "--param", "db_cpus=2", "--format", "json" })
    assert.equal(RECORD, outs.record) -- provisioned data survived the restart; httpd is back

    -- moving the forwards is a live change of web1 and web2, not a replacement;
    -- the parameters not given (db_cpus=2) are those of the last up
    if features.forwards then
      plan = json.decode(ok({ "plan", RECIPE, "--param", "first_port=18091", "--format",
        "json" }))
      actions = {}
      for _, i in ipairs(plan.instances) do actions[i.name] = i end
      assert.equal("keep", actions.db.action)
      assert.equal("change", actions.web1.action)
      assert.equal("forwards: add 127.0.0.1:18091 → 8080/tcp, remove 127.0.0.1:18081 → " ..
        "8080/tcp (live)", actions.web1.details)
      local w1 = record("offline-web1")
      ok({ "up", RECIPE, "--param", "first_port=18091", "-q" })
      assert.equal(w1.started_at, record("offline-web1").started_at) -- not restarted
      assert.equal(2, record("offline-db").cpus)
      local u = outputs({ "outputs", RECIPE, "--format", "json" }).urls
      assert.same({ "http://127.0.0.1:18091/", "http://127.0.0.1:18092/" }, u)
      for i, x in ipairs(u) do
        local argv = {}
        for _, a in ipairs(prefix or {}) do argv[#argv + 1] = a end
        for _, a in ipairs({ "curl", "-s", "--max-time", "10", x }) do argv[#argv + 1] = a end
        assert.equal("web" .. i .. " serves: " .. RECORD .. "\n", support.must(argv))
      end
      local argv = {}
      for _, a in ipairs(prefix or {}) do argv[#argv + 1] = a end
      for _, a in ipairs({ "curl", "-s", "--max-time", "5", "http://127.0.0.1:18081/" }) do
        argv[#argv + 1] = a
      end
      assert.is_true(support.run(argv) ~= 0, "the old forward still answers")
    end

    -- down --purge leaves nothing: no instance, no guest process, no lease
    ok({ "down", RECIPE, "--param", "db_cpus=2", "--purge" })
    assert.same({}, json.decode(ok({ "list", "--format", "json" })))
    assert.same({}, fs.list(home .. "/data/instances/" .. SCOPE) or {})
    support.wait_for("the guests to exit", 30, function() return #support.qemus(home) == 0 end)
    if lxd_dir then
      local _, left = support.lxc(lxd_dir, { "list", "-c", "n", "-f", "csv" })
      assert.equal("", left)
    end
    for _, f in ipairs(fs.list(home .. "/data/networks") or {}) do
      if f:match("%.json$") then
        local net = json.decode(fs.read(home .. "/data/networks/" .. f))
        assert.same({}, net.leases or {}, f .. " still has leases")
      end
    end
  end)
end)
