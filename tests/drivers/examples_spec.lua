-- The worked examples of docs/writing-drivers.md, run as a user would:
-- contrib/drivers/moonbase-driver-sandbox (an external driver in shell, a
-- bubblewrap sandbox per instance) and contrib/drivers/unshare.lua (a Lua
-- driver wrapping unshare(1)). Each launches, runs commands in its guest
-- (not on this host), stops and deletes an instance (ctest lua/drivers).
local helpers = require("helpers")
local fs = require("moonbase.engine.fs")

local examples = {
  { "sandbox", "moonbase-driver-sandbox" },
  { "unshare", "unshare.lua" },
}

for _, ex in ipairs(examples) do
  local name, file = ex[1], ex[2]
  describe("the example driver " .. file, function()
    local h, dir
    setup(function()
      dir = helpers.driver_dir({ [file] = helpers.src .. "/contrib/drivers/" .. file })
      h = helpers.home({ driver = name, env = { MOONBASE_DRIVERS_PATH = dir } })
    end)
    teardown(function()
      h:cleanup()
      fs.rmtree(dir)
    end)

    it("launches, execs in its guest, stops and deletes", function()
      h:ok({ "launch", "--name", "box" })
      assert.truthy(h:ok({ "list" }):find("box%s+running"))
      local code, out = h:run({ "exec", "box", "--env", "X=42", "--", "sh", "-c",
        "echo $X; id -u; exit 3" })
      assert.equal(3, code)
      assert.equal("42\n0\n", out)
      -- the guest's root is the instance's, not this host's
      local c2, out2 = h:run({ "exec", "box", "--", "ls", "/" })
      assert.equal(0, c2)
      assert.equal("bin\n", out2:match("^bin\n"))
      assert.falsy(out2:find("usr"))
      assert.equal(1, (h:run({ "exec", "box", "--", "test", "-e", dir })))
      h:ok({ "stop", "box" })
      assert.truthy(h:ok({ "list" }):find("box%s+stopped"))
      h:ok({ "delete", "--purge", "box" })
      assert.truthy(h:ok({ "list" }):find("No instances"))
    end)
  end)
end
