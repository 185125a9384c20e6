-- The drivers, seen from Lua: local.driver names the one that runs
-- instances; a driver is opened with its configuration (its own settings,
-- local.<driver>.*, which it declares in its table) and answers through the
-- driver table (moonbase.engine.driver). Everything that differs between
-- drivers is asked of the table: capabilities (ssh, exec, watch, networks,
-- native_mounts, ...), which network backend serves NICs, its settings, the
-- host a new instance goes to. Nothing here, or above, compares names.
-- layer: records
local settings = require("moonbase._core.settings")
local paths = require("moonbase._core.paths")
local engine = require("moonbase.engine.driver")
local errors = require("moonbase.errors")

-- Lua drivers in the data dir (docs/writing-drivers.md): drivers/NAME.lua
engine.set_lua_dir(paths.data .. "/drivers")

local M = {}

settings.register("local.driver", {
  type = "enum", values = engine.list(), default = "qemu",
  help = "the driver that runs instances; each driver has its own instance scope " ..
    "(qemu and libvirt share one); set refuses one that cannot run here, with the reason",
  -- a driver that cannot run here is refused with its probe's reason, so the
  -- setting never leaves every command failing
  check = function(name, pending)
    local ok, reason = M.probe(name, pending)
    if not ok then
      errors.raise(string.format("local.driver=%s: the %s driver cannot run here: %s " ..
        "(nothing was changed)", name, name, reason), "unavailable")
    end
  end,
})

---Every registered driver's name, in the registry's order.
function M.list() return engine.list() end

---A driver's identity: {name, scope, capabilities, settings, markers, disk_file}.
local infos = {}
function M.info(name)
  if infos[name] == nil then
    local i, msg, code = engine.info(name)
    if not i then return nil, msg, code end
    i.has = {}
    for _, c in ipairs(i.capabilities) do i.has[c] = true end
    infos[name] = i
  end
  return infos[name]
end

local function uri_check(default)
  return function(v)
    if v:match("^[%w+.-]+://[^%s]*$") then return true end
    return nil, "use a URI such as " .. default
  end
end

-- A driver's settings, registered with the schema (once).
local registered = {}
local function register(name)
  if registered[name] then return end
  registered[name] = true
  local i = M.info(name)
  for _, s in ipairs(i and i.settings or {}) do
    if not settings.schema[s.key] then
      local def = s.default
      if s.type == "bool" then def = def == "true" end
      -- (a host setting's values are the URI schemes it takes, not an enum)
      settings.register(s.key, { type = s.type, values = not s.host and s.values or nil,
        default = def,
        help = s.help, validate = s.host and uri_check(s.default ~= "" and s.default or
          ((s.values or {})[1] or "scheme") .. "://HOST:PORT") or nil })
    end
  end
end

-- local.<driver>.<name>: registered when first asked for (a driver that lives
-- in the plugin is loaded only then), every driver's for `get --keys`.
settings.register_resolver(function(key)
  if key == nil then
    for _, n in ipairs(engine.list()) do pcall(register, n) end
    return
  end
  local name = key:match("^local%.([a-z][a-z0-9-]*)%.")
  for _, n in ipairs(engine.list()) do
    if n == name then pcall(register, n) end
  end
end)

---The configuration a driver is opened with: its settings' values, and the
---host (a URI) for an instance placed on another one.
local function config_of(name)
  register(name)
  local i = M.info(name)
  -- every driver may keep host-wide files of its own (credentials) there
  local cfg = { ["state-dir"] = paths.data .. "/drivers/" .. name }
  for _, s in ipairs(i and i.settings or {}) do
    if settings.is_set(s.key) then cfg[s.name] = settings.get(s.key) end
  end
  return cfg
end

---Whether a driver can run here, opened with its settings as they are after
---a `set` of `pending` (every KEY=VALUE of that set): true and what it says
---of itself (may be ""), or nil and why.
---@param pending? table<string, string>
function M.probe(name, pending)
  local cfg = config_of(name)
  local i = M.info(name)
  for _, s in ipairs(i and i.settings or {}) do
    if pending and pending[s.key] ~= nil then cfg[s.name] = pending[s.key] end
  end
  local conn, msg = engine.open(name, cfg)
  if not conn then return nil, msg end
  local ok, reason = conn:probe()
  if not ok then return nil, ok == nil and reason or reason ~= "" and reason or
    "its probe declined" end
  return true, type(reason) == "string" and reason or ""
end

local conns = {}
---A driver opened with its configuration (cached per process, opened again
---after a setting changed).
---@param name string
---@return table? conn, string? message, string? code
function M.open(name)
  local c = conns[name]
  if c == nil or c.generation ~= settings.generation then
    local conn, msg, code = engine.open(name, config_of(name))
    if not conn then return nil, msg, code end
    c = { conn = conn, generation = settings.generation }
    conns[name] = c
  end
  return c.conn
end

local current_name
---The driver chosen by local.driver (or by use()).
---@return table conn, string name
function M.current()
  if not current_name then current_name = settings.get("local.driver") end
  return errors.check(nil, M.open(current_name)), current_name
end

---Forgets what this process keeps of drivers (the chosen one and the open
---connections, with what they cached), so that a long-lived process (the
---daemon answering a read in its own process) sees what others changed since.
---close: close the connections too (the daemon, after its own call, so that
---no process it forks later inherits one).
function M.forget(close)
  if close then
    for _, c in pairs(conns) do pcall(c.conn.close, c.conn) end
  end
  conns, current_name = {}, nil
end

---Whether the current driver is built into moonbase and keeps its instances
---on this host: reading their states then runs no code but moonbase's and
---waits on no other machine (the daemon answers `list` in its own process
---only then).
function M.built_in_and_local()
  local name = current_name or settings.get("local.driver")
  local i = M.info(name)
  if not i or i.origin ~= "built-in" then return false end
  local hs = M.host_setting(name)
  local v = hs and settings.get(hs.key)
  return v == nil or v == "" or v:match("^[%w+.-]+:///") ~= nil
end

---Uses this driver instead of the setting (the agent runs with the driver
---that started it, whatever the setting says meanwhile).
function M.use(name)
  errors.check(nil, M.open(name))
  current_name = name
end

---Whether the current driver has a capability (see the table's slots).
---@param cap string
function M.has(cap)
  local _, name = M.current()
  return M.info(name).has[cap] == true
end

---Raises the dispatcher's "unsupported" in one line, naming the feature,
---when the current driver lacks the capability (before anything is done).
---@param cap string  e.g. "snapshots"
---@param verb string  the command, for the message
---@param what string  the feature, e.g. "snapshots are"
function M.need(cap, verb, what)
  if M.has(cap) then return end
  local _, name = M.current()
  errors.raise(string.format("%s: %s not supported by the %s driver", verb, what, name),
    "unsupported")
end

---Whether the current driver's guests are reached over SSH through the
---instance agent.
function M.uses_agent() return M.has("ssh") end

---The visible instance scope (QEMU and libvirt share one).
function M.scope()
  local _, name = M.current()
  return M.info(name).scope
end

---The connection that knows an instance: the current driver's, or, for one
---placed on another host, the driver that placed it (same scope).
---@return table conn, string name
function M.for_record(rec)
  local conn, name = M.current()
  if rec.host and rec.driver and rec.driver ~= name then
    local other = M.open(rec.driver)
    if other and other:scope() == conn:scope() then return other, rec.driver end
  end
  return conn, name
end

---The current driver's setting that names the host new instances go to
---(local.libvirt.uri), or nil when it places none elsewhere.
---@return {key: string, name: string, default: string}?
function M.host_setting(name)
  if not name then
    local _
    _, name = M.current()
  end
  for _, s in ipairs((M.info(name) or {}).settings or {}) do
    if s.host then return s end
  end
end

---Drivers that place instances on other hosts (for messages); with uri,
---those whose host setting takes its scheme.
function M.placing(uri)
  local scheme = uri and uri:match("^([%w+.-]+):")
  local out = {}
  for _, n in ipairs(engine.list()) do
    local ok, hs = pcall(M.host_setting, n)
    local takes = not (scheme and hs and hs.values)
    for _, v in ipairs(ok and hs and hs.values or {}) do takes = takes or v == scheme end
    if ok and hs and takes then out[#out + 1] = n end
  end
  return out
end

---The driver `enroll` asks: the one named, else the current one, else (when
---the current one has no host to trust moonbase) the only driver that has.
---Raises a usage error naming the fix.
local function trusting(driver)
  local cur = select(2, M.current())
  local function has_trust(n) local i = M.info(n); return i and i.has.trust == true end
  if driver then
    if not M.info(driver) then
      errors.usage(string.format("enroll: --driver %s: no such driver (see: moonbase drivers)",
        driver))
    end
    if not has_trust(driver) then
      errors.usage(string.format("enroll: the %s driver has no host that trusts clients by " ..
        "token (its instances run here)", driver))
    end
    return driver
  end
  if has_trust(cur) then return cur end
  local found = {}
  for _, n in ipairs(engine.list()) do
    if pcall(has_trust, n) and has_trust(n) then found[#found + 1] = n end
  end
  if #found == 1 then return found[1] end
  errors.usage(string.format("enroll: the %s driver (local.driver) has no host that trusts " ..
    "clients by token; name the driver that has: moonbase enroll --driver NAME TOKEN", cur))
end

---Trusts moonbase with a driver's host once, with a token made there (a
---remote LXD: `lxc config trust add`); the driver as trusting() picks it, so
---a machine with no LXD of its own enrolls before it selects the driver.
---host: that host (a URI), else the driver's host setting, else one the
---token names; when the setting is unset, it is set to the host that now
---trusts moonbase.
---@param token string
---@param host? string
---@param driver? string
---@return string trusted  the host
---@return string driver
---@return string? key  the setting that was set
function M.trust(token, host, driver)
  local name = trusting(driver)
  local conn = errors.check("enroll", M.open(name))
  local trusted = errors.check(nil, conn:trust(token, host))
  local hs = M.host_setting(name)
  if hs and not host and trusted ~= "" and not settings.is_set(hs.key) then
    settings.set(hs.key, trusted)
    return trusted, name, hs.key
  end
  return trusted, name
end

---Who serves the NICs of an instance on host (nil: the driver's default):
---"engine", "driver", "simulated" or "user".
function M.net_backend(host)
  return errors.check("network", M.current():net_backend(host))
end

return M
