-- moonbase.engine.process: what a detached child inherits.
local process = require("moonbase.engine.process")
local fs = require("moonbase.engine.fs")
local helpers = require("helpers")

describe("process.spawn detached", function()
  it("keeps none of the caller's descriptors but 0-2", function()
    local dir = helpers.tmpdir("spawn")
    local held = assert(io.open(dir .. "/held", "w")) -- an open file of ours, as a lock is
    local pid = assert(process.spawn({ "sleep", "30" }, { detach = true }))
    local fds = {}
    for _, n in ipairs(fs.list("/proc/" .. pid .. "/fd") or {}) do fds[#fds + 1] = tonumber(n) end
    table.sort(fds)
    process.kill(pid, 9)
    held:close()
    fs.rmtree(dir)
    assert.same({ 0, 1, 2 }, fds)
  end)
end)
