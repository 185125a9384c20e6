-- Chaos on the test driver (issue 18): SIGKILL at a random point of launch,
-- delete, set and network create, 100 times (a fixed seed, so a failure
-- can be replayed; MOONBASE_CHAOS_SEED picks another). Every driver call
-- takes MOONBASE_TEST_DELAY_MS, so a kill lands in the middle of the work;
-- networks live on a fake host (MOONBASE_NET_FAKE), never the real one.
-- After each kill: every state file parses as what it must be, `list` works
-- and shows no damaged record, no process of the home survives, and after
-- the next commands no temporary file or staging folder is left.
-- docs/reliability.md reports the outcomes (printed at the end).
local helpers = require("helpers")
local fs = require("moonbase.engine.fs")
local json = require("moonbase.engine.json")
local process = require("moonbase.engine.process")
local util = require("moonbase.engine.util")

local KILLS = 100
local DELAY_MS = 120

-- processes whose environment names this home
local function processes(home)
  local out = {}
  for _, n in ipairs(fs.list("/proc") or {}) do
    local pid = math.tointeger(tonumber(n))
    if pid and pid ~= util.getpid() then
      local env = fs.read("/proc/" .. n .. "/environ") or ""
      local stat = fs.read("/proc/" .. n .. "/stat") or ""
      if stat:match("%) (%a)") ~= "Z" and
          ("\0" .. env .. "\0"):find("\0MOONBASE_HOME=" .. home .. "\0", 1, true) then
        out[#out + 1] = pid
      end
    end
  end
  return out
end

describe("chaos: SIGKILL at random points on the test driver #chaos", function()
  local h, fake
  local outcomes = { kills = 0, ops = {}, after = {} }

  setup(function()
    fake = helpers.tmpdir("chaos-net") .. "/host.json"
    h = helpers.home({ env = { MOONBASE_NET_FAKE = fake } })
    h:ok({ "launch", "--name", "base" })
  end)

  teardown(function()
    local ops = {}
    for k, v in pairs(outcomes.ops) do ops[#ops + 1] = k .. " " .. v end
    table.sort(ops)
    local after = {}
    for k, v in pairs(outcomes.after) do after[#after + 1] = k .. " " .. v end
    table.sort(after)
    io.stderr:write(string.format("\nchaos (test driver): %d kills (%s); the killed command " ..
      "had %s\n", outcomes.kills, table.concat(ops, ", "), table.concat(after, ", ")))
    if h then h:cleanup() end
    if fake then fs.rmtree(fake:match("^(.*)/")) end
  end)

  it("leaves state that parses, a list that works, no process and no temp file", function()
    local seed = math.tointeger(tonumber(os.getenv("MOONBASE_CHAOS_SEED") or "")) or 18
    math.randomseed(seed)
    local env = { MOONBASE_TEST_DELAY_MS = tostring(DELAY_MS) }
    local n = 0
    local function op()
      n = n + 1
      local names = {}
      for _, r in ipairs(json.decode(h:ok({ "list", "--format", "json" }))) do
        names[#names + 1] = r.name
      end
      if #names < 2 then -- something to delete and set, whatever the kills left
        h:ok({ "launch", "--name", "s" .. n })
        names[#names + 1] = "s" .. n
      end
      local pick = names[math.random(#names)]
      local kinds = { "launch", "delete", "purge", "set", "network", "setting" }
      local kind = kinds[math.random(#kinds)]
      if kind == "launch" or pick == nil then
        return "launch", { "launch", "--name", "c" .. n }
      elseif kind == "delete" then
        return "delete", { "delete", pick }
      elseif kind == "purge" then
        return "delete --purge", { "delete", "--purge", pick }
      elseif kind == "set" then
        h:run({ "stop", pick })
        return "set", { "set", "local." .. pick .. ".cpus=" .. math.random(1, 4),
          "local." .. pick .. ".memory=" .. math.random(1, 3) .. "G" }
      elseif kind == "network" then
        return "network create", { "network", "create", "net" .. n }
      end
      -- (images the spec's image host serves: the test driver resolves them)
      return "set (settings)", { "set", "local.image.default=local:" ..
        (n % 2 == 0 and "tiny" or "other") }
    end
    for _ = 1, KILLS do
      local what, args = op()
      local argv = { helpers.bin }
      for _, a in ipairs(args) do argv[#argv + 1] = a end
      local penv = {}
      for k, v in pairs(h.env) do penv[k] = v end
      for k, v in pairs(env) do penv[k] = v end
      local pid = assert(process.spawn(argv, { env = penv, stdout = "/dev/null",
        stderr = "/dev/null" }))
      util.sleep(math.random() * 3 * DELAY_MS / 1000)
      process.kill(pid, 9)
      local status = process.wait(pid)
      outcomes.kills = outcomes.kills + 1
      outcomes.ops[what] = (outcomes.ops[what] or 0) + 1
      local fate = status == 137 and "been killed" or ("finished (" .. status .. ")")
      outcomes.after[fate] = (outcomes.after[fate] or 0) + 1
      -- nothing of it survives
      assert.same({}, processes(h.dir), "a process of the home survived " .. what)
      -- every file parses (a killed writer never leaves half a file)
      assert.same({}, helpers.unparsable(h.dir), "after a kill of " .. what)
      -- the next commands work, see no damaged record, and sweep what it left
      local code, out, err = h:run({ "list", "--format", "json" })
      assert.equal(0, code, "list after a kill of " .. what .. ": " .. err)
      for _, r in ipairs(json.decode(out)) do
        assert.is_nil(r.problem, "after a kill of " .. what .. ": " .. tostring(r.problem))
      end
      h:ok({ "networks" })
      h:ok({ "images" }) -- (a launch killed while it recorded its image's use)
      assert.same({}, helpers.leftovers(h.dir), "left behind by a kill of " .. what)
    end
  end)
end)
