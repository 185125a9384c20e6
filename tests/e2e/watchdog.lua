-- The e2e specs' watchdog (started detached by support.lua): when the spec
-- process ends without cleaning up (killed by ctest's TIMEOUT, say), kills the
-- QEMUs and agents of its moonbase homes, stops its image hosts and removes
-- their directories, so no guest outlives a test run.
--   moonbase --lua tests/e2e/watchdog.lua PARENT_PID STATE_FILE
-- STATE_FILE lists what to clean, one "home DIR", "host ROOT" or "dir DIR" a
-- line; support.lua appends to it and removes the lines it cleaned itself.
local here = arg[0]:match("^(.*)/[^/]*$") or "."
package.path = here .. "/?.lua;" .. package.path
local util = require("moonbase.engine.util")
local process = require("moonbase.engine.process")
local fs = require("moonbase.engine.fs")

local parent, state = math.tointeger(tonumber(arg[1])), arg[2]
assert(parent and state, "usage: watchdog.lua PARENT_PID STATE_FILE")
while process.alive(parent) do util.sleep(1) end
local text = fs.read(state)
if not text then return end -- cleaned up properly
local support = require("support")
for line in text:gmatch("[^\n]+") do
  local kind, path = line:match("^(%a+) (.+)$")
  if kind == "home" then
    for _ = 1, 3 do
      for _, p in ipairs(support.processes(path)) do process.kill(p.pid, 9) end
      util.sleep(0.3)
    end
    fs.rmtree(path)
  elseif kind == "host" then
    process.run({ support.src .. "/tests/lib/imagehost.sh", "stop", path })
    fs.rmtree(path)
  elseif kind == "dir" then
    fs.rmtree(path)
  end
end
fs.remove(state)
