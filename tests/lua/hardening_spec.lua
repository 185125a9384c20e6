-- Regression tests of issue 18's small findings, on the test driver: temp
-- files of killed writers are swept by the next command, sizes that would
-- overflow are refused, exec in a missing working directory says so, hints
-- that work when followed, refused network commands leave nothing behind.
local helpers = require("helpers")
local fs = require("moonbase.engine.fs")
local process = require("moonbase.engine.process")
local util = require("moonbase.engine.util")

-- a pid that is certainly gone: a child that exited and was reaped
local function dead_pid()
  local pid = assert(process.spawn({ "true" }))
  process.wait(pid)
  return pid
end

describe("hardening: small findings #hardening", function()
  local h
  before_each(function() h = helpers.home() end)
  after_each(function() h:cleanup() end)

  it("sweeps temp files of killed writers at the next command, not those of live ones",
    function()
      h:ok({ "launch", "--name", "web" })
      h:ok({ "alias", "web:uname", "un" })
      local dead = dead_pid()
      local stale = {
        h.dir .. "/config/.settings.json.tmp." .. dead .. ".1",
        h.dir .. "/config/.aliases.json.tmp." .. dead .. ".7",
        h.dir .. "/data/instances/test/web/.instance.json.tmp." .. dead .. ".2",
      }
      local live = h.dir .. "/config/.settings.json.tmp." .. util.getpid() .. ".1"
      for _, p in ipairs(stale) do assert(fs.write(p, "{half")) end
      assert(fs.write(live, "{being written"))
      h:ok({ "list" })
      h:ok({ "aliases" })
      for _, p in ipairs(stale) do assert.is_nil(fs.exists(p), p) end
      assert.equal("file", fs.exists(live))
    end)

  it("refuses sizes that do not fit a signed 64-bit integer, naming them", function()
    local before = helpers.snapshot(h.dir)
    for _, v in ipairs({ "9223372036854775807", "9223372036854775808", "8388608T" }) do
      local code, out, err = h:run({ "launch", "--name", "big", "--disk", v })
      assert.equal(1, code, out .. err)
      assert.equal(string.format('launch: --disk: invalid size "%s": too large (try: moonbase ' ..
        'launch --help)\n', v), err)
    end
    assert.same(before, helpers.snapshot(h.dir))
  end)

  it("exec --workdir to a missing directory says so and exits 2", function()
    h:ok({ "launch", "--name", "web" })
    local code, out, err = h:run({ "exec", "web", "--workdir", "/nonexistent", "--", "true" })
    assert.equal(2, code, out .. err)
    assert.equal('exec: working directory /nonexistent does not exist in "web"\n', err)
    -- a command that does not exist keeps the shell's 127, with a message
    code, out, err = h:run({ "exec", "web", "--", "no-such-command-here" })
    assert.equal(127, code, out .. err)
    assert.truthy(err:find("no-such-command-here", 1, true), err)
  end)

  it("sends users of a deleted instance to recover, and that hint works", function()
    h:ok({ "launch", "--name", "web" })
    h:ok({ "delete", "web" })
    local hint = "(try: moonbase recover web, then moonbase start web)"
    for _, args in ipairs({ { "exec", "web", "--", "true" }, { "restart", "web" } }) do
      local code, out, err = h:run(args)
      assert.equal(2, code, out .. err)
      assert.truthy(err:find('instance "web" is deleted ' .. hint, 1, true), err)
    end
    h:ok({ "recover", "web" })
    h:ok({ "start", "web" })
    h:ok({ "exec", "web", "--", "true" })
  end)

  it("network create/delete that fail leave no data/networks behind", function()
    local before = helpers.snapshot(h.dir)
    local cases = {
      { { "network", "delete", "ghost" }, 'there is no network "ghost"' },
      { { "network", "create", "Bad_Name" }, 'invalid network name "Bad_Name"' },
      { { "network", "create", "net1", "--subnet", "10.99.0.0/99" }, "prefix length" },
      { { "network", "create", "net1", "--subnet", "nonsense" }, "nonsense" },
    }
    for _, c in ipairs(cases) do
      local code, out, err = h:run(c[1])
      assert.truthy(code == 1 or code == 2, out .. err)
      assert.truthy(err:find(c[2], 1, true), err)
      assert.equal(1, #helpers.lines(err), err)
    end
    assert.is_nil(fs.exists(h.dir .. "/data/networks"))
    assert.same(before, helpers.snapshot(h.dir))
  end)
end)
