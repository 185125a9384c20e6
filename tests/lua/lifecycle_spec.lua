-- Every lifecycle command against the test driver, with wrong-state errors and
-- exit codes.
local helpers = require("helpers")
local json = require("moonbase.engine.json")
local fs = require("moonbase.engine.fs")

local function states(h)
  local out = {}
  for _, r in ipairs(json.decode(h:ok({ "list", "--format", "json" }))) do
    out[r.name] = r.state
  end
  return out
end

describe("instance lifecycle (test driver)", function()
  local h
  before_each(function() h = helpers.home() end)
  after_each(function() h:cleanup() end)

  it("launches with defaults and a generated two-word name", function()
    local out = h:ok({ "launch" })
    local name = out:match("^Launched: (%l+%-%l+)\n$")
    assert.truthy(name, out)
    local info = json.decode(h:ok({ "info", name, "--format", "json" }))[name]
    assert.equal("running", info.state)
    assert.equal(1, info.cpus)
    assert.equal(1024 ^ 3, info.memory)
    assert.equal(5 * 1024 ^ 3, info.disk_total)
    assert.equal("test", info.driver)
  end)

  it("launches with resources and shows them in list and info", function()
    h:ok({ "launch", "--name", "web", "--cpus", "2", "--memory", "1.5G", "--disk", "8G" })
    local list = json.decode(h:ok({ "list", "--format", "json" }))
    assert.equal(1, #list)
    assert.equal("web", list[1].name)
    assert.equal("running", list[1].state)
    assert.equal(1, #list[1].ipv4)
    local info = h:ok({ "info", "web" })
    assert.truthy(info:find("CPUs: +2\n"), info)
    assert.truthy(info:find("Memory: +1.5G\n"), info)
    assert.truthy(info:find("Disk total: +8G\n"), info)
    assert.truthy(info:find("State: +running\n"), info)
  end)

  it("walks stop -> start -> suspend -> start -> restart -> delete -> recover -> purge", function()
    h:ok({ "launch", "--name", "a" })
    h:ok({ "stop", "a" })
    assert.equal("stopped", states(h).a)
    h:ok({ "start", "a" })
    assert.equal("running", states(h).a)
    h:ok({ "suspend", "a" })
    assert.equal("suspended", states(h).a)
    h:ok({ "start", "a" })
    assert.equal("running", states(h).a)
    h:ok({ "restart", "a" })
    assert.equal("running", states(h).a)
    h:ok({ "delete", "a" })
    assert.equal("deleted", states(h).a)
    h:ok({ "recover", "a" })
    assert.equal("stopped", states(h).a)
    h:ok({ "start", "a" })
    h:ok({ "delete", "a" })
    h:ok({ "purge" })
    assert.same({}, states(h))
    assert.equal("No instances found.\n", h:ok({ "list" }))
    assert.is_nil(fs.exists(h.dir .. "/data/instances/test/a"))
  end)

  it("delete --purge removes at once, --all works on every instance", function()
    h:ok({ "launch", "--name", "a" })
    h:ok({ "launch", "--name", "b" })
    h:ok({ "launch", "--name", "c" })
    h:ok({ "stop", "--all" })
    assert.same({ a = "stopped", b = "stopped", c = "stopped" }, states(h))
    h:ok({ "start", "a", "b" })
    h:ok({ "delete", "--purge", "a" })
    assert.same({ b = "running", c = "stopped" }, states(h))
    h:ok({ "delete", "--all", "--purge" })
    assert.same({}, states(h))
  end)

  local wrong = {
    { "suspend a (stopped)", { "suspend", "a" }, 2,
      'suspend: instance "a" is stopped (only a running instance can be suspended)' },
    { "restart a (stopped)", { "restart", "a" }, 2,
      'restart: instance "a" is stopped (try: moonbase start a)' },
    { "start ghost", { "start", "ghost" }, 2,
      'start: instance "ghost" does not exist (try: moonbase list)' },
    { "info ghost", { "info", "ghost" }, 2, 'instance "ghost" does not exist' },
    { "stop (no name: the primary, which does not exist)", { "stop" }, 2,
      'stop: the primary instance "primary" does not exist (moonbase start or moonbase shell ' ..
      "launch it; or name an instance: moonbase stop NAME)" },
    { "launch a again", { "launch", "--name", "a" }, 2,
      'launch: instance "a" already exists (try: another --name, or moonbase delete --purge a)' },
    { "launch bad name", { "launch", "--name", "Bad" }, 1, 'launch: invalid instance name "Bad"' },
    { "launch reserved", { "launch", "--name", "all" }, 1, "reserved word" },
    { "launch zero cpus", { "launch", "--name", "z", "--cpus", "0" }, 1,
      "launch: cpus must be a whole number from 1 to 256, got 0" },
    { "launch tiny memory", { "launch", "--name", "z", "--memory", "1M" }, 1,
      "launch: memory must be at least 128M" },
    { "launch tiny disk", { "launch", "--name", "z", "--disk", "1M" }, 1,
      "launch: disk must be at least 512M" },
    { "launch missing cloud-init", { "launch", "--name", "z", "--cloud-init", "/nonexistent" }, 1,
      "cannot read cloud-init file" },
  }
  for _, case in ipairs(wrong) do
    it("refuses " .. case[1] .. " with exit " .. case[3] .. " and changes nothing", function()
      h:ok({ "launch", "--name", "a" })
      h:ok({ "stop", "a" })
      local before = helpers.snapshot(h.dir)
      local code, out, err = h:run(case[2])
      assert.equal(case[3], code, err)
      assert.equal("", out)
      assert.truthy(err:find(case[4], 1, true), err)
      assert.equal(1, #helpers.lines(err), err)
      assert.same(before, helpers.snapshot(h.dir))
    end)
  end

  it("refuses invalid cloud-init YAML before creating anything", function()
    local f = h.dir .. "/bad.yaml"
    fs.write(f, "#cloud-config\nruncmd: [ unclosed\n")
    local before = helpers.snapshot(h.dir)
    local code, _, err = h:run({ "launch", "--name", "z", "--cloud-init", f })
    assert.equal(1, code)
    assert.truthy(err:find("launch: invalid cloud-init YAML in " .. f .. ": line", 1, true), err)
    assert.same(before, helpers.snapshot(h.dir))
    fs.write(f, "- just\n- a list\n")
    code, _, err = h:run({ "launch", "--name", "z", "--cloud-init", f })
    assert.equal(1, code)
    assert.truthy(err:find("must be a YAML mapping", 1, true), err)
  end)

  it("reads cloud-init from stdin and keeps it with the instance", function()
    h:ok({ "launch", "--name", "ci", "--cloud-init", "-" },
      { input = "#cloud-config\nruncmd:\n  - echo hi\n" })
    assert.equal("#cloud-config\nruncmd:\n  - echo hi\n",
      fs.read(h.dir .. "/data/instances/test/ci/user-data"))
  end)

  it("refuses to start a deleted instance and points to recover", function()
    h:ok({ "launch", "--name", "a" })
    h:ok({ "delete", "a" })
    local code, _, err = h:run({ "start", "a" })
    assert.equal(2, code)
    assert.equal('start: instance "a" is deleted (try: moonbase recover a)\n', err)
  end)

  it("leaves the instance stopped when start fails, with the driver's reason", function()
    local code, _, err = h:run({ "launch", "--name", "f" },
      { env = { MOONBASE_TEST_FAIL = "start:f" } })
    assert.equal(2, code)
    assert.truthy(err:find('instance "f" was created but did not start', 1, true), err)
    assert.equal("stopped", states(h).f)
    h:ok({ "start", "f" })
    assert.equal("running", states(h).f)
  end)

  it("cleans up completely when the driver fails to create", function()
    local before = helpers.snapshot(h.dir)
    local code, _, err = h:run({ "launch", "--name", "f" },
      { env = { MOONBASE_TEST_FAIL = "create" } })
    assert.equal(2, code)
    assert.truthy(err:find("injected", 1, true), err)
    local after = helpers.snapshot(h.dir)
    for k in pairs(after) do
      -- moonbase0 comes into being on first use and stays (its subnet is
      -- chosen once); f's lease on it does not
      assert.truthy(before[k] or k:match("^data/instances/test$") or k:match("^data/instances$")
        or k == "data" or k:match("^data/networks"), "left behind: " .. k)
    end
    local net = after["data/networks/moonbase0.json"]
    assert.truthy(net and not net:find('"f"', 1, true), net)
  end)

  it("repairs a stale record: the driver is the truth", function()
    h:ok({ "launch", "--name", "a" })
    -- the hypervisor stopped it behind our back
    fs.write(h.dir .. "/data/instances/test/a/test-driver.state", "stopped")
    assert.equal("stopped", states(h).a)
    local rec = json.decode(fs.read(h.dir .. "/data/instances/test/a/instance.json"))
    assert.equal("stopped", rec.state)
    h:ok({ "start", "a" })
  end)

  it("is idempotent: an instance already in the wanted state is a notice, exit 0", function()
    h:ok({ "launch", "--name", "a" })
    h:ok({ "stop", "a" })
    local before = helpers.snapshot(h.dir)
    for _, c in ipairs({
      { { "stop", "a" }, 'stop: instance "a" is stopped already' },
      { { "recover", "a" }, 'recover: instance "a" is not deleted (nothing to recover)' },
    }) do
      local code, out, err = h:run(c[1])
      assert.equal(0, code, out .. err)
      assert.equal(c[2] .. "\n", err)
    end
    assert.same(before, helpers.snapshot(h.dir))
    h:ok({ "start", "a" })
    local code, _, err = h:run({ "start", "a" })
    assert.equal(0, code)
    assert.equal('start: instance "a" is running already\n', err)
  end)

  it("checks every name first: one bad name and nothing changes", function()
    h:ok({ "launch", "--name", "a" })
    h:ok({ "launch", "--name", "b" })
    h:ok({ "stop", "a" })
    local before = helpers.snapshot(h.dir)
    local code, _, err = h:run({ "suspend", "b", "a" })
    assert.equal(2, code)
    assert.equal('suspend: instance "a" is stopped (only a running instance can be ' ..
      "suspended)\n", err)
    code, _, err = h:run({ "delete", "b", "ghost" })
    assert.equal(2, code)
    assert.equal('delete: instance "ghost" does not exist (try: moonbase list)\n', err)
    assert.same(before, helpers.snapshot(h.dir))
    assert.same({ a = "stopped", b = "running" }, states(h))
    -- --all takes what the verb applies to: suspend skips the stopped one
    h:ok({ "suspend", "--all" })
    assert.same({ a = "stopped", b = "suspended" }, states(h))
  end)

  it("runs commands with exec and returns their status", function()
    h:ok({ "launch", "--name", "a" })
    local code, out = h:run({ "exec", "a", "--env", "X=42", "--", "sh", "-c",
      "echo $X $MOONBASE_INSTANCE; exit 3" })
    assert.equal(3, code)
    assert.equal("42 a\n", out)
    h:ok({ "stop", "a" })
    local c2, _, err = h:run({ "exec", "a", "--", "true" })
    assert.equal(2, c2)
    assert.truthy(err:find('exec: instance "a" is stopped (try: moonbase start a)', 1, true))
  end)
end)
