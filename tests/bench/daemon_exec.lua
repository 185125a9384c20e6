-- `moonbase exec NAME -- true` on a real guest (the tiny image), locally and
-- through the daemon, in one hyperfine run (target: within 1.5x).
-- QEMU user networking with restrict=on (the daemon runs without the
-- capabilities to make networks, like the CLI here), 127.0.0.1 only.
-- Run (under the VM lock): build/moonbase --lua tests/bench/daemon_exec.lua [RUNS]
package.path = (os.getenv("MOONBASE_SRC") or ".") .. "/tests/e2e/?.lua;" .. package.path
local support = require("support")
local process = require("moonbase.engine.process")
local fs = require("moonbase.engine.fs")
local util = require("moonbase.engine.util")

local runs = tostring(arg[1] or 30)
local host = assert(support.host())
local h = support.home(host, { tag = "bench-dexec" })
local ok, err = pcall(function()
  h:ok({ "launch", "--name", "b", "--timeout", "300" })
  local sock = h.dir .. "/daemon.sock"
  local env = { MOONBASE_SERVER = false }
  for k, v in pairs(h.env) do env[k] = v end
  local pid = assert(process.spawn(support.argv({ "daemon", "--quiet", "--listen",
    "unix:" .. sock }), { env = env }))
  support.wait_for("the daemon", 10, function() return fs.exists(sock) end)
  local cmd = table.concat(support.argv({ "exec", "b", "--", "true" }), " ")
  local code, out, e = process.run({ "hyperfine", "-N", "--warmup", "3", "--runs", runs,
    "-n", "exec -- true (local)", cmd,
    "-n", "exec -- true (through the daemon)", "env MOONBASE_SERVER=unix://" .. sock .. " " .. cmd },
    { env = h.env })
  io.stdout:write(out, e)
  process.kill(pid, 15)
  process.wait(pid)
  assert(code == 0)
end)
support.cleanup()
if not ok then error(err, 0) end
