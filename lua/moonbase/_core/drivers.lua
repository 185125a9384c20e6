-- The driver that runs instances, seen from Lua: local.driver names it, and
-- its handle (moonbase.engine.driver) dispatches every operation through the
-- driver table. The visible instance scope is the driver's.
-- layer: records
local settings = require("moonbase._core.settings")
local engine = require("moonbase.engine.driver")
local util = require("moonbase.engine.util")
local errors = require("moonbase.errors")

local M = {}

settings.register("local.driver", {
  type = "enum", values = { "qemu", "libvirt", "lxd", "test" }, default = "qemu",
  help = "the driver that runs instances; each driver has its own instance scope " ..
    "(qemu and libvirt share one)",
})
settings.register("local.libvirt.uri", {
  type = "string", default = "qemu:///system",
  validate = function(v)
    if v:match("^[%w+]+://[^%s]*$") then return true end
    return nil, "use a libvirt URI such as qemu:///system or qemu+ssh://user@host/system"
  end,
  help = "the libvirt connection the libvirt driver uses (qemu:///system, " ..
    "qemu+ssh://user@host/system, ...)",
})
settings.register("local.libvirt.networking", {
  type = "enum", values = { "engine", "libvirt" }, default = "engine",
  help = "the networks of libvirt-driver instances on a local libvirtd: engine (moonbase's " ..
    "own bridges, shared with QEMU-driver instances) or libvirt (networks moonbase defines " ..
    "in libvirt, as on remote hosts, which always use them)",
})
settings.register("local.qemu.restrict-user-network", {
  type = "bool", default = false,
  help = "QEMU user networking (the fallback without a moonbase network): keep guests " ..
    "from reaching anything but the host's forwards (restrict=on); the test suite sets it",
})

local current
---The driver chosen by local.driver (or by use()).
---@return table handle, string name
function M.current()
  if not current then M.use(settings.get("local.driver")) end
  return current, current:name()
end

---Uses this driver instead of the setting (the agent runs with the driver
---that started it, whatever the setting says meanwhile).
function M.use(name)
  if name == "libvirt" then
    -- the C driver reads its connection URI from the environment (agents inherit it)
    util.setenv("MOONBASE_LIBVIRT_URI", settings.get("local.libvirt.uri"))
  end
  current = errors.check(nil, engine.get(name))
end

---A driver's handle by name, or nil, message, code.
function M.get(name)
  return engine.get(name)
end

---Whether the current driver's guests are reached over SSH through the
---instance agent.
function M.uses_agent()
  local _, name = M.current()
  return name ~= "test"
end

---The visible instance scope (qemu and libvirt share "qemu").
function M.scope()
  return (M.current():scope())
end

return M
