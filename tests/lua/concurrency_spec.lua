-- 20 parallel launches and 20 parallel lists on the test driver: exactly 20
-- well-formed records, no errors.
local helpers = require("helpers")
local process = require("moonbase.engine.process")
local fs = require("moonbase.engine.fs")
local json = require("moonbase.engine.json")

describe("concurrency", function()
  it("serialises nothing it need not, and loses nothing", function()
    local h = helpers.home()
    local logs = helpers.tmpdir("logs")
    local pids = {}
    local env = { MOONBASE_HOME = h.dir }
    for i = 1, 20 do
      pids[#pids + 1] = { process.spawn({ helpers.bin, "launch", "--name", "vm" .. i },
        { env = env, stdout = logs .. "/launch" .. i .. ".out",
          stderr = logs .. "/launch" .. i .. ".err" }), "launch" .. i }
      pids[#pids + 1] = { process.spawn({ helpers.bin, "list", "--format", "json" },
        { env = env, stdout = logs .. "/list" .. i .. ".out",
          stderr = logs .. "/list" .. i .. ".err" }), "list" .. i }
    end
    for _, p in ipairs(pids) do
      local code = process.wait(p[1])
      assert.equal(0, code, p[2] .. ": " .. tostring(fs.read(logs .. "/" .. p[2] .. ".err")))
      assert.equal("", fs.read(logs .. "/" .. p[2] .. ".err"))
      if p[2]:match("^list") then
        local ok, list = pcall(json.decode, fs.read(logs .. "/" .. p[2] .. ".out"))
        assert.is_true(ok, p[2] .. " printed malformed JSON")
        for _, r in ipairs(list) do
          assert.truthy(r.name:match("^vm%d+$"))
          assert.truthy(r.state == "running" or r.state == "stopped", r.state)
        end
      end
    end
    local dir = h.dir .. "/data/instances/test"
    local names = {}
    for _, n in ipairs(fs.list(dir)) do names[#names + 1] = n end
    table.sort(names)
    assert.equal(20, #names, table.concat(names, " "))
    for _, n in ipairs(names) do
      local rec = json.decode(fs.read(dir .. "/" .. n .. "/instance.json"))
      assert.equal(n, rec.name)
      assert.equal("running", rec.state)
    end
    assert.equal(20, #json.decode(h:ok({ "list", "--format", "json" })))
    fs.rmtree(logs)
    h:cleanup()
  end)

  it("serialises concurrent calls on one instance with its lock", function()
    local h = helpers.home()
    h:ok({ "launch", "--name", "one" })
    local env = { MOONBASE_HOME = h.dir, MOONBASE_TEST_DELAY_MS = "300" }
    local logs = helpers.tmpdir("logs")
    local a = process.spawn({ helpers.bin, "stop", "one" }, { env = env,
      stderr = logs .. "/a.err" })
    local b = process.spawn({ helpers.bin, "stop", "one" }, { env = env,
      stderr = logs .. "/b.err" })
    local ca, cb = process.wait(a), process.wait(b)
    -- one stops it; the other waits for the lock, then sees it stopped: a
    -- notice, not a failure (stop is idempotent), and no second shutdown
    assert.same({ 0, 0 }, { ca, cb })
    local err = (fs.read(logs .. "/a.err") or "") .. (fs.read(logs .. "/b.err") or "")
    assert.equal('stop: instance "one" is stopped already\n', err)
    fs.rmtree(logs)
    h:cleanup()
  end)
end)
