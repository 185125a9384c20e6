-- The test driver as a Lua driver: every operation of the driver protocol
-- as a function of the params table, answered by the built-in test driver's
-- table. The parity suite (tests/CMakeLists.txt, lua/busted-lua-driver) runs
-- the test driver's specs through it, with MOONBASE_DRIVERS_REPLACE=test, so
-- every instance, flag, error and exec crosses the Lua driver interface.
local engine = require("moonbase.engine.driver")

local builtin = assert(engine.info("test", { builtin = true }))
local conn = assert(engine.open("test", {}, { builtin = true }))

local D = {
  name = "test",
  scope = builtin.scope,
  disk_file = builtin.disk_file,
  settings = builtin.settings,
}

function D.open(p)
  local c, msg, code = engine.open("test", p.config, { builtin = true })
  if not c then return nil, msg, code end
  conn = c
  return true
end

function D.probe()
  local ok, reason = conn:probe()
  if ok == nil then return nil, reason end
  return { ok = ok, reason = reason }
end

function D.host_info() return conn:host_info() end
function D.networks() return conn:networks() end
function D.net_backend(p) return conn:net_backend(p.host) end

for _, op in ipairs({ "create", "start", "suspend", "resume", "destroy", "ipv4",
  "snapshot_list" }) do
  D[op] = function(p) return conn[op](conn, p.instance, p.flags) end
end

function D.shutdown(p)
  local o = { timeout = p.timeout }
  for k, v in pairs(p.flags or {}) do o[k] = v end
  return conn:shutdown(p.instance, o)
end

function D.state(p) return conn:state(p.instance, { own = true }) end

function D.exec(p)
  local status, msg, code = conn:exec(p.instance, { argv = p.argv, env = p.env,
    workdir = p.workdir, fds = p.fds, tty = (p.flags or {}).tty })
  if not status then return nil, msg, code end
  return { status = status }
end

function D.console_log(p) return conn:console_log(p.instance, p.max_bytes) end

for _, op in ipairs({ "snapshot_take", "snapshot_restore", "snapshot_delete" }) do
  D[op] = function(p) return conn[op](conn, p.instance, p.snapshot) end
end

function D.clone(p) return conn:clone(p.instance, p.target) end
function D.resize_disk(p) return conn:resize_disk(p.instance, p.bytes) end
function D.mount_native(p) return conn:mount_native(p.instance, p.mount) end
function D.umount_native(p) return conn:umount_native(p.instance, p.mount) end

return D
