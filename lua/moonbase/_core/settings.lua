-- Settings: a schema of keys (type, allowed values, default, help), stored in
-- <config>/settings.json, written atomically under a lock. A leaf: the
-- modules that own keys register them (and their validators) here, and keys
-- that follow a pattern, such as local.<instance>.cpus|memory|disk (kept in
-- the instance's own record), register a handler for the pattern. The
-- public moonbase.settings loads every owner first.
-- layer: records
local fs = require("moonbase.engine.fs")
local util = require("moonbase.engine.util")
local paths = require("moonbase._core.paths")
local store = require("moonbase._core.store")
local errors = require("moonbase.errors")

local M = {}

---@class moonbase.SettingKey
---@field type "string"|"enum"|"name"|"bool"|"int"
---@field values? string[]
---@field default any
---@field help string
---@field validate? fun(v: string): boolean?, string?  a "string" key's check of its value
---@field check? fun(v: any, pending: table<string, string>)  raises when the value cannot be
---  taken now (the state forbids it); pending: the other KEY=VALUE of the same `set`
---@field after? fun(v: any)  runs after a set (notes for the user)
---@field transform? fun(v: any): any  what is stored instead of the value (a hash)

---Every key, registered by the module that owns it (settings requires none
---of them: it is a leaf). The keys of moonbase itself:
---@type table<string, moonbase.SettingKey>
M.schema = {
  ["local.passphrase"] = {
    type = "string", default = "",
    -- stored hashed (PBKDF2-SHA256 with a random salt), never in clear
    transform = function(v)
      if v == "" then return v end
      return errors.check("settings", require("moonbase.engine.tls").hash(v))
    end,
    help = "the passphrase `moonbase authenticate` checks before the daemon trusts a TLS " ..
      "client (stored hashed; empty: only trust tokens)",
  },
  ["local.privileged-mounts"] = {
    type = "bool", default = true,
    help = "whether clients of the daemon may mount host folders into instances",
  },
  ["client.server"] = {
    type = "string", default = "",
    validate = function(v)
      if v == "" or v == "local" or v:match("^unix:/") or v:match("^https://") then
        return true
      end
      return nil, "use unix:///PATH, https://HOST:PORT, or local"
    end,
    help = "the moonbase daemon this user's commands go through (unix:///PATH or " ..
      "https://HOST:PORT; empty or local: none); MOONBASE_SERVER and --server override it",
  },
  ["client.primary-name"] = {
    type = "name", default = "primary", empty = true,
    help = "the instance start, stop, restart, suspend, shell, exec and wait-ready use " ..
      "when no name is given (start and shell launch it if it does not exist); empty: none",
  },
}

---Registers a key (or adds fields, such as an `after` hook, to one).
---@param key string
---@param def moonbase.SettingKey|table
function M.register(key, def)
  local k = M.schema[key]
  if not k then
    M.schema[key] = def
    return
  end
  for f, v in pairs(def) do k[f] = v end
end

---@class moonbase.SettingPattern
---@field keys fun(): string[]         every key the pattern has now
---@field get fun(key: string, ...): any
---@field check fun(key: string, raw: string, ...)
---@field set fun(key: string, raw: string, ...): any
---@field unset? fun(key: string, ...)
---@field accepts? fun(...): boolean  whether the captures name a key of the pattern
---@field doc? string[]  the settings table's row: key, values, default, what it does
---@field help? string|fun(key: string, ...): string  one key's help (get --keys)

-- Keys that are not in the schema but follow a pattern (local.<instance>.cpus):
-- {pattern, handler} in registration order.
local patterns = {}

---Registers keys matching a Lua pattern; the pattern's captures are passed
---to the handler after the key.
---@param pattern string
---@param handler moonbase.SettingPattern
function M.register_pattern(pattern, handler)
  for _, p in ipairs(patterns) do
    if p.pattern == pattern then p.handler = handler return end
  end
  patterns[#patterns + 1] = { pattern = pattern, handler = handler }
end

---The documentation rows of the registered patterns, in registration order.
---@return string[][]
function M.pattern_docs()
  local out = {}
  for _, p in ipairs(patterns) do
    if p.handler.doc then out[#out + 1] = p.handler.doc end
  end
  return out
end

-- Functions that register keys on demand: called with a key that is not in
-- the schema (or nil for all of them) before it is said to be unknown.
local resolvers = {}

---Registers a function that registers keys on demand: fn(key) is called for
---a key the schema lacks (fn(nil) for every key it could register).
---@param fn fun(key: string?)
function M.register_resolver(fn)
  resolvers[#resolvers + 1] = fn
end

local function known(key)
  if M.schema[key] then return M.schema[key] end
  for _, fn in ipairs(resolvers) do
    fn(key)
    if M.schema[key] then return M.schema[key] end
  end
end

local function pattern_of(key)
  for _, p in ipairs(patterns) do
    local caps = { key:match(p.pattern) }
    if caps[1] and (not p.handler.accepts or p.handler.accepts(table.unpack(caps))) then
      return p.handler, caps
    end
  end
end

---A key's help: the schema's, or its pattern's (nil for an unknown key).
---@param key string
---@return string?
function M.help(key)
  if M.schema[key] then return M.schema[key].help end
  local h, caps = pattern_of(key)
  if not h then return nil end
  if type(h.help) == "function" then return h.help(key, table.unpack(caps)) end
  return h.help
end

local function file()
  return paths.config .. "/settings.json"
end

-- The file as last read, while it is the same file: a command asks for
-- several settings, and each read was a parse and a check. Writes replace the
-- file (a new inode, mtime and size), so any change, ours or another
-- process's, is read again.
local cached, cached_id
local function load(fresh)
  local st = fs.stat(file())
  local id = st and string.format("%d:%d:%.9f", st.ino, st.size, st.mtime)
  if id and id == cached_id and not fresh then return cached end
  local data = errors.check("settings", store.read_checked(file(), "object", {},
    "the settings file"))
  if not fresh then cached, cached_id = data, id end
  return data
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
    if raw == "" and k.empty then return raw end
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

-- Why a stored value is not one the key takes (a hand-edited or damaged
-- file), or nil: checked when read, so a bad value is reported with its fix
-- instead of breaking whatever uses it.
local function stored_damage(key, v)
  local k = M.schema[key]
  local want = ({ enum = "string", name = "string", string = "string", bool = "boolean",
    int = "number" })[k.type]
  if type(v) ~= want or (k.type == "int" and math.type(v) ~= "integer") then
    return string.format("it is %s", type(v) == "string" and string.format("%q", v) or
      (v == require("moonbase.engine.json").null and "null" or "a " .. type(v)))
  end
  if want == "string" then
    local ok, msg = pcall(validate, key, v)
    if not ok then return errors.is(msg) and msg.message or tostring(msg) end
  end
end

local function unknown(key)
  errors.usage(string.format("unknown setting \"%s\" (try: moonbase get --keys)", key))
end

---A key's definition (type, values, default, help), its owner asked to
---register it first; nil for a key nobody knows (or a pattern's key).
---@param key string
---@return moonbase.SettingKey?
function M.describe(key)
  return known(key)
end

---Every key's definition, every owner asked to register its keys first.
---@return table<string, moonbase.SettingKey>
function M.all()
  for _, fn in ipairs(resolvers) do fn(nil) end
  return M.schema
end

---All keys, sorted (keys of registered patterns included).
---@return string[]
function M.keys()
  for _, fn in ipairs(resolvers) do fn(nil) end
  local keys = {}
  for k in pairs(M.schema) do keys[#keys + 1] = k end
  for _, p in ipairs(patterns) do
    local ok, list = pcall(p.handler.keys)
    for _, k in ipairs(ok and list or {}) do keys[#keys + 1] = k end
  end
  table.sort(keys)
  return keys
end

---Reads a setting (its default when unset).
---@param key string
---@return any
function M.get(key)
  if known(key) then
    local v = load()[key]
    if v == nil then return M.schema[key].default end
    local why = stored_damage(key, v)
    if why then
      errors.raise(string.format("settings: %s in %s is damaged: %s (fix it: moonbase set " ..
        "%s=VALUE, or moonbase unset %s)", key, file(), why, key, key), "damaged")
    end
    return v
  end
  local h, caps = pattern_of(key)
  if h then return h.get(key, table.unpack(caps)) end
  unknown(key)
end

---The daemon this client talks to: MOONBASE_SERVER, else client.server;
---nil for none ("local" or unset). A damaged settings file reads as none
---here (the command that reads a setting reports it). Here, not in
---moonbase.client, so a command that runs locally never loads the client.
---@return string?
function M.client_server()
  local v = os.getenv("MOONBASE_SERVER")
  if v == nil or v == "" then
    local ok, data = pcall(load)
    v = ok and data["client.server"] or nil
  end
  if type(v) ~= "string" or v == "" or v == "local" then return nil end
  return v
end

---True when the key was set explicitly (not a default).
function M.is_set(key)
  return known(key) ~= nil and load()[key] ~= nil
end

---Counts the changes this process made, so that what is derived from
---settings (a driver's configuration) is made again after one.
M.generation = 0

local function update(fn)
  M.generation = M.generation + 1
  errors.check("settings", fs.mkdirs(paths.config))
  local lock <close> = errors.check("settings", fs.lock(paths.config .. "/settings.lock"))
  local data = load(true) -- (changed below: never the kept table)
  fn(data)
  cached_id = nil
  store.write(file(), data, 384)
end

---Checks a KEY=VALUE without storing it; raises a usage error when invalid.
---@param pending? table<string, string>  every KEY=VALUE of the same `set`
function M.check(key, raw, pending)
  if known(key) then
    local value = validate(key, raw)
    if M.schema[key].check then M.schema[key].check(value, pending or {}) end
    return
  end
  local h, caps = pattern_of(key)
  if h then return h.check(key, raw, table.unpack(caps)) end
  unknown(key)
end

---Validates and stores a setting; nothing is written when it is invalid.
---@param pending? table<string, string>  every KEY=VALUE of the same `set`
function M.set(key, raw, pending)
  if known(key) then
    local value = validate(key, raw)
    if M.schema[key].check then M.schema[key].check(value, pending or {}) end
    if M.schema[key].transform then value = M.schema[key].transform(value) end
    update(function(d) d[key] = value end)
    if M.schema[key].after then M.schema[key].after(value) end
    return value
  end
  local h, caps = pattern_of(key)
  if h then return h.set(key, raw, table.unpack(caps)) end
  unknown(key)
end

---Returns a setting to its default.
function M.unset(key)
  if known(key) then
    update(function(d) d[key] = nil end)
    return
  end
  local h, caps = pattern_of(key)
  if h then
    if h.unset then return h.unset(key, table.unpack(caps)) end
    errors.usage(string.format("%s cannot be unset: set it to a value instead", key))
  end
  unknown(key)
end

return M
