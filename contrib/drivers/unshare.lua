-- unshare.lua: a moonbase Lua driver wrapping util-linux's unshare(1).
-- Each instance is a directory with a root filesystem made of a static
-- busybox; commands run in it with unshare: new user (root inside mapped to
-- the caller), mount, PID, network, IPC and UTS namespaces, the instance's
-- root as /, no network. Install: copy it to <data dir>/drivers/unshare.lua
-- (~/.local/share/moonbase/drivers/) or a directory on MOONBASE_DRIVERS_PATH,
-- then `moonbase set local.driver=unshare`. Needs: apt-get install busybox-static
-- The protocol, and what each function gets and returns: docs/writing-drivers.md.
local fs = require("moonbase.engine.fs")
local process = require("moonbase.engine.process")

local D = {
  name = "unshare",
  scope = "unshare",
  settings = { { key = "local.unshare.busybox", name = "busybox", type = "string",
    default = "/bin/busybox", help = "the static busybox copied into each instance" } },
}

local busybox = "/bin/busybox"
local function state_file(inst) return inst.dir .. "/unshare.state" end
local function state(inst) return (fs.read(state_file(inst)) or "absent\n"):match("%a+") end
local function want(op, inst, s)
  if state(inst) == s then return true end
  return nil, string.format('%s: instance "%s" is %s, not %s', op, inst.name, state(inst), s),
    "state"
end
local function set_state(inst, s) return fs.write(state_file(inst), s .. "\n") end

function D.open(p)
  busybox = p.config.busybox or busybox
  return true
end

function D.probe()
  local ok = process.run({ "unshare", "--version" }) == 0 and fs.exists(busybox) ~= nil
  return { ok = ok, reason = ok and "" or
    "needs unshare and a static busybox at " .. busybox .. " (apt-get install busybox-static)" }
end

function D.net_backend() return "simulated" end -- no network inside, none changed here

function D.create(p)
  local root = p.instance.dir .. "/rootfs"
  for _, d in ipairs({ "bin", "proc", "tmp", "root" }) do fs.mkdirs(root .. "/" .. d) end
  if process.run({ "cp", busybox, root .. "/bin/busybox" }) ~= 0 then
    return nil, "create: cannot copy " .. busybox .. " (apt-get install busybox-static)", "io"
  end
  local _, applets = process.run({ busybox, "--list" })
  for a in applets:gmatch("%S+") do
    if a ~= "busybox" then fs.symlink("busybox", root .. "/bin/" .. a) end
  end
  return set_state(p.instance, "stopped")
end

function D.start(p)
  local ok, msg, code = want("start", p.instance, "stopped")
  if not ok then return nil, msg, code end
  return set_state(p.instance, "running")
end

function D.shutdown(p) return set_state(p.instance, "stopped") end
function D.state(p) return state(p.instance) end
function D.ipv4() return {} end

function D.destroy(p)
  fs.rmtree(p.instance.dir)
  return true
end

-- The command moonbase runs here, wired to the user's terminal or pipes.
function D.exec(p)
  local ok, msg, code = want("exec", p.instance, "running")
  if not ok then return nil, msg, code end
  local cmd = { "unshare", "--user", "--map-root-user", "--mount", "--pid", "--fork",
    "--net", "--ipc", "--uts", "--root", p.instance.dir .. "/rootfs",
    "--wd", p.workdir or "/root", "--", "/bin/env", "-i", "PATH=/bin", "HOME=/root" }
  for _, e in ipairs(p.env or {}) do cmd[#cmd + 1] = e end
  for _, a in ipairs(p.argv or { "/bin/sh", "-l" }) do cmd[#cmd + 1] = a end
  return { command = cmd }
end

return D
