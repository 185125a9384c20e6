-- Settings: a schema of keys (type, allowed values, default, help), stored in
-- <config>/settings.json, written atomically under a lock. Keys of the form
-- local.<instance>.cpus|memory|disk live in the instance's own record
-- (see moonbase.instance) and are reached through the same get/set.
local fs = require("moonbase.engine.fs")
local util = require("moonbase.engine.util")
local paths = require("moonbase._core.paths")
local store = require("moonbase._core.store")
local errors = require("moonbase.errors")

local M = {}

local function default_driver()
  local u = util.uname()
  return (u and u.machine == "x86_64") and "qemu" or "qemu"
end

---@class moonbase.SettingKey
---@field type "string"|"enum"|"name"|"bool"|"int"
---@field values? string[]
---@field default any
---@field help string

---@type table<string, moonbase.SettingKey>
M.schema = {
  ["local.driver"] = {
    type = "enum", values = { "qemu", "libvirt", "lxd", "test" }, default = default_driver(),
    help = "the driver that runs instances; each driver has its own instance scope " ..
      "(qemu and libvirt share one)",
    after = function(v)
      -- a live instance stays with the driver that runs it: say which
      local ok, live = pcall(function() return require("moonbase.instance").live_elsewhere(v) end)
      for _, r in ipairs(ok and live or {}) do
        io.stderr:write(string.format("note: instance \"%s\" stays with the %s driver " ..
          "(running or suspended) until it stops there (exec works; start, stop, suspend " ..
          "and delete need local.driver=%s)\n", r.name, r.driver, r.driver))
      end
    end,
  },
  ["local.libvirt.uri"] = {
    type = "string", default = "qemu:///system",
    validate = function(v)
      if v:match("^[%w+]+://[^%s]*$") then return true end
      return nil, "use a libvirt URI such as qemu:///system or qemu+ssh://user@host/system"
    end,
    help = "the libvirt connection the libvirt driver uses (qemu:///system, " ..
      "qemu+ssh://user@host/system, ...)",
  },
  ["local.libvirt.networking"] = {
    type = "enum", values = { "engine", "libvirt" }, default = "engine",
    help = "the networks of libvirt-driver instances on a local libvirtd: engine (moonbase's " ..
      "own bridges, shared with QEMU-driver instances) or libvirt (networks moonbase defines " ..
      "in libvirt, as on remote hosts, which always use them)",
  },
  ["local.image.default"] = {
    type = "string", default = "ubuntu:24.04",
    validate = function(v) return require("moonbase.images").check_ref(v) end,
    help = "the image `moonbase launch` uses when none is given (ALIAS, REMOTE:ALIAS, " ..
      "file:///path or https://...)",
  },
  ["local.qemu.restrict-user-network"] = {
    type = "bool", default = false,
    help = "QEMU user networking (the fallback without a moonbase network): keep guests " ..
      "from reaching anything but the host's forwards (restrict=on); the test suite sets it",
  },
  ["local.network.subnet"] = {
    type = "string", default = "auto",
    validate = function(v) return require("moonbase.network").check_subnet_setting(v) end,
    check = function(v) require("moonbase.network").check_subnet_change(v) end,
    help = "the subnet of the default network moonbase0 (CIDR, e.g. 10.77.0.0/24); auto " ..
      "picks a free one the first time moonbase0 is created and keeps it",
  },
  ["local.bridged-network"] = {
    type = "string", default = "",
    validate = function(v) return require("moonbase._core.bridged").check_name(v) end,
    help = "the host bridge `launch --bridged` puts an extra NIC on (a Linux bridge, see " ..
      "moonbase networks); the guest gets its address from that network's DHCP",
  },
  ["client.primary-name"] = {
    type = "name", default = "primary",
    help = "the instance `moonbase shell` uses when no name is given",
  },
}

local function file()
  return paths.config .. "/settings.json"
end

local function load()
  return errors.check("settings", store.read(file(), {}))
end

local function validate(key, raw)
  local k = M.schema[key]
  if k.type == "enum" then
    for _, v in ipairs(k.values) do
      if v == raw then return raw end
    end
    errors.usage(string.format("invalid value \"%s\" for %s: use one of %s", raw, key,
      table.concat(k.values, ", ")))
  elseif k.type == "name" then
    local ok, msg = util.valid_name(raw)
    if not ok then errors.usage(string.format("invalid value for %s: %s", key, msg)) end
    return raw
  elseif k.type == "bool" then
    if raw == "true" or raw == "on" then return true end
    if raw == "false" or raw == "off" then return false end
    errors.usage(string.format("invalid value \"%s\" for %s: use true or false", raw, key))
  elseif k.type == "int" then
    local n = math.tointeger(tonumber(raw))
    if not n then errors.usage(string.format("invalid value \"%s\" for %s: use a whole number",
      raw, key)) end
    return n
  elseif k.type == "string" then
    if k.validate then
      local ok, msg = k.validate(raw)
      if not ok then errors.usage(string.format("invalid value for %s: %s", key, msg)) end
    end
    return raw
  end
  error("settings: bad schema type for " .. key)
end

local instance_key = "^local%.([a-z][a-z0-9-]*)%.([a-z]+)$"
M.instance_properties = { cpus = true, memory = true, disk = true }

local function unknown(key)
  errors.usage(string.format("unknown setting \"%s\" (try: moonbase get --keys)", key))
end

---All keys, sorted (instance keys of the current scope included).
---@return string[]
function M.keys()
  local keys = {}
  for k in pairs(M.schema) do keys[#keys + 1] = k end
  local ok, records = pcall(function() return require("moonbase.instance").records() end)
  if ok then
    for _, rec in ipairs(records) do
      for _, p in ipairs({ "cpus", "disk", "memory" }) do
        keys[#keys + 1] = "local." .. rec.name .. "." .. p
      end
    end
  end
  table.sort(keys)
  return keys
end

---Reads a setting (its default when unset).
---@param key string
---@return any
function M.get(key)
  if M.schema[key] then
    local v = load()[key]
    if v == nil then return M.schema[key].default end
    return v
  end
  local name, prop = key:match(instance_key)
  if name and M.instance_properties[prop] then
    return require("moonbase.instance").get_property(name, prop)
  end
  unknown(key)
end

---True when the key was set explicitly (not a default).
function M.is_set(key)
  return M.schema[key] ~= nil and load()[key] ~= nil
end

local function update(fn)
  errors.check("settings", fs.mkdirs(paths.config))
  local lock <close> = errors.check("settings", fs.lock(paths.config .. "/settings.lock"))
  local data = load()
  fn(data)
  store.write(file(), data, 384)
end

---Checks a KEY=VALUE without storing it; raises a usage error when invalid.
function M.check(key, raw)
  if M.schema[key] then
    local value = validate(key, raw)
    if M.schema[key].check then M.schema[key].check(value) end
    return
  end
  local name, prop = key:match(instance_key)
  if name and M.instance_properties[prop] then
    return require("moonbase.instance").check_property(name, prop, raw)
  end
  unknown(key)
end

---Validates and stores a setting; nothing is written when it is invalid.
function M.set(key, raw)
  if M.schema[key] then
    local value = validate(key, raw)
    if M.schema[key].check then M.schema[key].check(value) end
    update(function(d) d[key] = value end)
    if M.schema[key].after then M.schema[key].after(value) end
    return value
  end
  local name, prop = key:match(instance_key)
  if name and M.instance_properties[prop] then
    return require("moonbase.instance").set_property(name, prop, raw)
  end
  unknown(key)
end

---Returns a setting to its default.
function M.unset(key)
  if M.schema[key] then
    update(function(d) d[key] = nil end)
    return
  end
  local name, prop = key:match(instance_key)
  if name and M.instance_properties[prop] then
    errors.usage(string.format("%s cannot be unset: set it to a value instead", key))
  end
  unknown(key)
end

return M
