-- What Multipass and Lima users type, on the test driver: the primary
-- instance as the default name, --timeout, a delayed stop and its cancel,
-- list -q/--no-ipv4, exec -d/--working-directory and exec -- without a name,
-- unalias --all, launch --cloud-init URL, wait-ready, set local.driver that
-- cannot run here.
local helpers = require("helpers")
local fs = require("moonbase.engine.fs")
local json = require("moonbase.engine.json")
local process = require("moonbase.engine.process")
local util = require("moonbase.engine.util")

local function states(h)
  local out = {}
  for _, r in ipairs(json.decode(h:ok({ "list", "--format", "json" }))) do out[r.name] = r.state end
  return out
end

local function one_line(err)
  assert.equal(1, #helpers.lines(err), err)
end

describe("the primary instance", function()
  local h
  before_each(function() h = helpers.home() end)
  after_each(function() h:cleanup() end)

  it("is what start, stop, restart, suspend and exec work on without a name", function()
    -- start launches it when it does not exist
    local code, out, err = h:run({ "start" })
    assert.equal(0, code, err)
    assert.equal("", out)
    assert.equal("Launching primary\n", err)
    assert.same({ primary = "running" }, states(h))
    h:ok({ "suspend" })
    assert.same({ primary = "suspended" }, states(h))
    h:ok({ "start", "--timeout", "30s" })
    h:ok({ "restart", "--timeout", "1m" })
    assert.same({ primary = "running" }, states(h))
    h:ok({ "stop" })
    assert.same({ primary = "stopped" }, states(h))
    h:ok({ "start" })
    -- exec -- COMMAND runs in it; a name still wins
    h:ok({ "launch", "--name", "other", "-q" })
    assert.equal(0, (h:run({ "exec", "--", "true" })))
    assert.equal(0, (h:run({ "exec", "other", "--", "true" })))
    -- another primary name, then none at all
    h:ok({ "set", "client.primary-name=other" })
    h:ok({ "stop" })
    assert.same({ primary = "running", other = "stopped" }, states(h))
    h:ok({ "set", "client.primary-name=" })
    for _, verb in ipairs({ "start", "stop", "restart", "suspend", "shell", "wait-ready" }) do
      local before = helpers.snapshot(h.dir)
      code, out, err = h:run({ verb })
      assert.equal(1, code, verb)
      assert.equal("", out)
      assert.equal(verb .. " needs an instance name (there is no primary instance: " ..
        "client.primary-name is empty; try: moonbase " .. verb .. " NAME)\n", err)
      assert.same(before, helpers.snapshot(h.dir))
    end
    code, _, err = h:run({ "exec", "--", "true" })
    assert.equal(1, code)
    one_line(err)
  end)

  it("is launched by shell, which never prints a traceback", function()
    local code, _, err = h:run({ "shell" })
    assert.truthy(err:find("^Launching primary\n"), err)
    assert.same({ primary = "running" }, states(h))
    if code ~= 0 then
      -- the test driver has no guest to open a shell in: one line, no traceback
      assert.is_nil(err:find("traceback", 1, true), err)
      assert.equal(2, #helpers.lines(err), err)
    end
    -- shell NAME starts a stopped instance first, as Multipass does
    h:ok({ "stop", "primary" })
    code, _, err = h:run({ "shell", "primary" })
    assert.truthy(err:find("^Starting primary\n"), err)
    assert.same({ primary = "running" }, states(h))
    assert.is_nil(err:find("traceback", 1, true), err)
  end)
end)

describe("Multipass and Lima habits", function()
  local h
  before_each(function()
    h = helpers.home()
    h:ok({ "launch", "--name", "web", "-q" })
  end)
  after_each(function() h:cleanup() end)

  it("stops later with stop --time, and --cancel (or a stop) cancels it", function()
    -- 6 s: time enough to see it still running under a loaded machine's slow calls
    local out = h:ok({ "stop", "web", "--time", "0.1" })
    assert.truthy(out:find("^web stops at %d%d:%d%d:%d%d %(cancel: moonbase stop " ..
      "%-%-cancel web%)\n$"), out)
    assert.equal("running", states(h).web)
    local deadline = util.time() + 30
    while states(h).web ~= "stopped" and util.time() < deadline do util.sleep(0.2) end
    assert.equal("stopped", states(h).web,
      fs.read(h.dir .. "/data/instances/test/web/stop.log") or "(no stop.log)")
    assert.is_nil(fs.exists(h.dir .. "/data/instances/test/web/stop.json"))
    -- cancelled: the waiting process is gone, nothing is left to stop it
    h:ok({ "start", "web" })
    h:ok({ "stop", "web", "--time", "1" })
    local waiting = json.decode(fs.read(h.dir .. "/data/instances/test/web/stop.json"))
    out = h:ok({ "stop", "web", "--cancel" })
    assert.truthy(out:find("^Cancelled the stop of web at "), out)
    deadline = util.time() + 15
    while process.alive(waiting.pid) and util.time() < deadline do util.sleep(0.1) end
    assert.is_false(process.alive(waiting.pid))
    assert.is_nil(fs.exists(h.dir .. "/data/instances/test/web/stop.json"))
    assert.equal("running", states(h).web)
    assert.equal("web had no delayed stop\n", h:ok({ "stop", "web", "--cancel" }))
    -- a plain stop ends the wait as well
    h:ok({ "stop", "web", "--time", "10" })
    local pending = json.decode(fs.read(h.dir .. "/data/instances/test/web/stop.json"))
    assert.is_true(process.alive(pending.pid))
    h:ok({ "stop", "web" })
    h:ok({ "start", "web" })
    deadline = util.time() + 15
    while process.alive(pending.pid) and util.time() < deadline do util.sleep(0.2) end
    assert.is_false(process.alive(pending.pid))
    assert.equal("running", states(h).web)
    -- bad combinations are refused, changing nothing
    for _, args in ipairs({ { "stop", "web", "--time", "1", "--cancel" },
      { "stop", "web", "--time", "-1" }, { "stop", "web", "--time", "1", "--force" },
      { "stop", "web", "--time", "soon" } }) do
      local before = helpers.snapshot(h.dir)
      local code, _, err = h:run(args)
      assert.equal(1, code, table.concat(args, " "))
      one_line(err)
      assert.same(before, helpers.snapshot(h.dir))
    end
  end)

  it("says what it does with -v, -vv and MOONBASE_LOG", function()
    local code, out, err = h:run({ "-v", "launch", "--name", "db", "-q" })
    assert.equal(0, code, err)
    assert.equal("", out)
    for _, want in ipairs({ "launch db: assembling it in ", "driver test: create db\n",
      "launch db: created in ", "driver test: start db\n" }) do
      assert.truthy(err:find(want, 1, true), want .. " missing from:\n" .. err)
    end
    for l in err:gmatch("[^\n]+") do assert.truthy(l:find("^%* %d+%.%d%d%d "), l) end
    -- -v says what it does; the questions it asks the driver need -vv
    code, out, err = h:run({ "list", "-v" })
    assert.equal(0, code)
    assert.is_nil(err:find("driver test: state", 1, true), err)
    code, out, err = h:run({ "-vv", "list" })
    assert.equal(0, code)
    assert.equal(h:ok({ "list" }), out) -- stdout is the same
    assert.truthy(err:find("driver test: state web\n", 1, true), err)
    -- MOONBASE_LOG=LEVEL:FILE: lines in the file, with time and pid; none on stderr
    local file = h.dir .. "/moonbase.log"
    code, out, err = h:run({ "stop", "db" }, { env = { MOONBASE_LOG = "1:" .. file } })
    assert.equal(0, code, err)
    assert.equal("", err)
    assert.truthy(fs.read(file):find("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d%.%d%d%dZ " ..
      "moonbase%[%d+%] driver test: shutdown db\n"), fs.read(file))
    -- a level alone goes to stderr; an unknown one is off
    code, _, err = h:run({ "start", "db" }, { env = { MOONBASE_LOG = "debug" } })
    assert.truthy(err:find("driver test: start db", 1, true), err)
    code, _, err = h:run({ "stop", "db" }, { env = { MOONBASE_LOG = "loud" } })
    assert.equal("", err)
  end)

  it("lists names only with -q/--quiet, and no addresses with --no-ipv4", function()
    h:ok({ "launch", "--name", "db", "-q" })
    assert.equal("db\nweb\n", h:ok({ "list", "-q" }))
    assert.equal("db\nweb\n", h:ok({ "list", "--quiet" }))
    local rows = json.decode(h:ok({ "list", "--no-ipv4", "--format", "json" }))
    assert.is_nil(rows[1].ipv4)
    assert.equal("web", rows[2].name)
    assert.equal("Name  State    Image\ndb    running  local:tiny\nweb   running  local:tiny\n",
      h:ok({ "list", "--no-ipv4" }))
  end)

  it("takes exec -d/--working-directory for --workdir", function()
    local a = { h:run({ "exec", "web", "--workdir", "/", "--", "pwd" }) }
    local b = { h:run({ "exec", "web", "-d", "/", "--", "pwd" }) }
    local c = { h:run({ "exec", "web", "--working-directory", "/", "--", "pwd" }) }
    assert.same(a, b)
    assert.same(a, c)
    local code, _, err = h:run({ "exec", "web", "-d", "/", "-w", "/tmp", "--", "pwd" })
    assert.equal(1, code)
    assert.equal("exec: give --workdir or --working-directory, not both\n", err)
  end)

  it("removes every alias with unalias --all", function()
    h:ok({ "alias", "web:ls", "a1" })
    h:ok({ "alias", "web:pwd", "a2" })
    h:ok({ "unalias", "--all" })
    assert.equal("No aliases defined.\n", h:ok({ "aliases" }))
    h:ok({ "unalias", "--all" }) -- none left: nothing to do
    local code, _, err = h:run({ "unalias", "--all", "a1" })
    assert.equal(1, code)
    assert.equal("unalias: give alias names or --all, not both\n", err)
  end)

  it("reads launch --cloud-init from an http(s) URL", function()
    local root = helpers.tmpdir("ud")
    local ud = "#cloud-config\nruncmd:\n  - echo from the web\n"
    assert(fs.write(root .. "/user-data.yaml", ud))
    local host = helpers.src .. "/tests/lib/imagehost.sh"
    local code, url = process.run({ host, "start", root })
    if code ~= 0 then pending("no HTTP server for the test: " .. url) return end
    url = url:gsub("%s+$", "")
    local ok, err = pcall(function()
      h:ok({ "launch", "--name", "fromweb", "-q", "--cloud-init", url .. "/user-data.yaml" })
      assert.equal(ud, fs.read(h.dir .. "/data/instances/test/fromweb/user-data"))
      -- a URL that serves nothing: refused before anything is made
      local before = helpers.snapshot(h.dir)
      local c, out, e = h:run({ "launch", "--name", "nope", "--cloud-init", url .. "/missing" })
      assert.equal(1, c, e)
      assert.equal("", out)
      one_line(e)
      assert.truthy(e:find("^launch: cannot read cloud%-init from " .. url:gsub("%p", "%%%0") ..
        "/missing: "), e)
      assert.same(before, helpers.snapshot(h.dir))
    end)
    process.run({ host, "stop", root })
    fs.rmtree(root)
    assert(ok, err)
  end)

  it("waits with wait-ready, and fails at once for an instance nobody starts", function()
    h:ok({ "wait-ready", "web" })
    h:ok({ "wait-ready", "--all", "--timeout", "5s" })
    h:ok({ "stop", "web" })
    local code, _, err = h:run({ "wait-ready", "web", "--timeout", "30s" })
    assert.equal(2, code)
    assert.equal('wait-ready: instance "web" is stopped (try: moonbase start web)\n', err)
    -- a start that takes a while (another process holds the instance): waited for
    local pid = process.spawn({ helpers.bin, "start", "web" },
      { env = { MOONBASE_HOME = h.dir, MOONBASE_TEST_DELAY_MS = "1500" } })
    util.sleep(0.3)
    local t = util.now()
    h:ok({ "wait-ready", "web", "--timeout", "20s" })
    assert.truthy(util.now() - t > 0.5, "wait-ready did not wait for the start")
    assert.equal(0, process.wait(pid))
    -- and a deadline that passes first: exit 5
    h:ok({ "stop", "web" })
    pid = process.spawn({ helpers.bin, "start", "web" },
      { env = { MOONBASE_HOME = h.dir, MOONBASE_TEST_DELAY_MS = "3000" } })
    util.sleep(0.3)
    code, _, err = h:run({ "wait-ready", "web", "--timeout", "1s" })
    assert.equal(5, code, err)
    one_line(err)
    process.wait(pid)
  end)
end)
