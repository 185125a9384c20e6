-- moonbase.engine.process: what a detached child inherits.
local process = require("moonbase.engine.process")
local fs = require("moonbase.engine.fs")
local helpers = require("helpers")

describe("process.spawn detached", function()
  it("keeps none of the caller's descriptors but 0-2", function()
    local dir = helpers.tmpdir("spawn")
    local held = assert(io.open(dir .. "/held", "w")) -- an open file of ours, as a lock is
    local pid = assert(process.spawn({ "sleep", "30" }, { detach = true }))
    -- (the program may hold a file of its own for a moment as it starts, a
    -- locale say; one it inherited stays for good: looked at until it settles)
    local fds
    for _ = 1, 40 do
      fds = {}
      for _, n in ipairs(fs.list("/proc/" .. pid .. "/fd") or {}) do fds[#fds + 1] = tonumber(n) end
      table.sort(fds)
      if #fds == 3 then break end
      require("moonbase.engine.util").sleep(0.05)
    end
    process.kill(pid, 9)
    held:close()
    fs.rmtree(dir)
    assert.same({ 0, 1, 2 }, fds)
  end)
end)
