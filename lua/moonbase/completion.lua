-- Shell completion's live names: what each kind of word can be, read from the
-- records (instances, networks, aliases, remotes, cached images, setting
-- keys) and never from a hypervisor or the network, so a TAB stays fast.
-- cli/completion.lua walks the command line against the commands' own
-- option tables and asks this module for the names; it also prints the shell
-- side, which asks `moonbase completion --candidates -- WORDS...`.
--
-- A command module declares its positionals as kinds, by position:
--   complete = { "image" }                      launch [IMAGE]
--   complete = { "instance", rest = true }      start NAME...
--   complete = { sub = { pull = { "image" }, prune = {} } }
-- Kinds: instance, deleted-instance, instance-colon (NAME:), image, network,
-- setting, setting-assign (KEY=), alias, remote, remote-colon (REMOTE:),
-- command, recipe, file, dir, path (a file or NAME:), or a list of words.
-- An option's value: opt.complete (a kind), else an enum's values, else by
-- its metavar (FILE, DIR, SRC...).
-- layer: facade
local commands = require("moonbase.commands")
local fs = require("moonbase.engine.fs")

local M = {}

-- Directives the shell side acts on (alone on the first line).
M.FILES, M.DIRS, M.RECIPES = "@files", "@dirs", "@recipes"

-- Global options (before the command).
M.global_options = { "--help", "--version", "--verbose", "--debug" }

local function instances(pred)
  local ok, list = pcall(function() return require("moonbase.instance").records() end)
  local out = {}
  for _, r in ipairs(ok and list or {}) do
    if pred(r) then out[#out + 1] = r.name end
  end
  return out
end

local function sorted_keys(t)
  local out = {}
  for k in pairs(t or {}) do out[#out + 1] = k end
  table.sort(out)
  return out
end

local function suffixed(list, s)
  local out = {}
  for i, v in ipairs(list) do out[i] = v .. s end
  return out
end

local function remotes()
  local ok, list = pcall(function() return require("moonbase.remotes").list() end)
  local out = {}
  for _, r in ipairs(ok and list or {}) do out[#out + 1] = r.name end
  return out
end

-- REMOTE:ALIAS of every catalogue cached on disk, and the cached images
local function images()
  local out, seen = {}, {}
  local function add(v)
    if v and not seen[v] then seen[v] = true; out[#out + 1] = v end
  end
  pcall(function()
    local paths = require("moonbase._core.paths")
    local json = require("moonbase.engine.json")
    for _, f in ipairs(fs.list(paths.cache .. "/manifests") or {}) do
      local remote = f:match("^([a-z][a-z0-9-]*)%.json$")
      local text = remote and fs.read(paths.cache .. "/manifests/" .. f)
      local okd, doc = pcall(json.decode, text or "")
      if okd and type(doc) == "table" and type(doc.images) == "table" then
        for _, img in ipairs(doc.images) do
          for _, a in ipairs(type(img.aliases) == "table" and img.aliases or {}) do
            add(remote .. ":" .. tostring(a))
          end
        end
      end
    end
  end)
  pcall(function()
    for _, r in ipairs(require("moonbase.images").list()) do add(r.image) end
  end)
  add("file://")
  return out
end

local function settings_keys()
  local ok, keys = pcall(function() return require("moonbase.settings").keys() end)
  return ok and keys or {}
end

-- commands: the bundled ones that are not hidden (M.hidden, set by the
-- caller that can load them), users' commands, executables, aliases
local function command_names()
  local out = {}
  for _, n in ipairs(commands.bundled()) do
    if not M.hidden[n] then out[#out + 1] = n end
  end
  for n in pairs(commands.user()) do out[#out + 1] = n end
  pcall(function()
    for n in pairs(commands.external()) do out[#out + 1] = n end
  end)
  pcall(function()
    for n in pairs(require("moonbase.aliases").all()) do out[#out + 1] = n end
  end)
  table.sort(out)
  local dedup = {}
  for _, n in ipairs(out) do
    if dedup[#dedup] ~= n then dedup[#dedup + 1] = n end
  end
  return dedup
end

---Bundled commands not to offer (name -> true).
M.hidden = {}

local kinds = {
  instance = function() return instances(function(r) return not r.deleted end) end,
  ["deleted-instance"] = function() return instances(function(r) return r.deleted end) end,
  ["instance-colon"] = function()
    return suffixed(instances(function(r) return not r.deleted end), ":")
  end,
  image = images,
  network = function()
    local ok, list = pcall(function() return require("moonbase.network").records() end)
    local out = {}
    for _, r in ipairs(ok and list or {}) do out[#out + 1] = r.name end
    return out
  end,
  setting = settings_keys,
  ["setting-assign"] = function() return suffixed(settings_keys(), "=") end,
  alias = function()
    local ok, all = pcall(function() return require("moonbase.aliases").all() end)
    return sorted_keys(ok and all or {})
  end,
  remote = remotes,
  ["remote-colon"] = function() return suffixed(remotes(), ":") end,
  command = command_names,
  recipe = function() return { M.RECIPES } end,
  file = function() return { M.FILES } end,
  dir = function() return { M.DIRS } end,
  path = function()
    local out = { M.FILES }
    for _, n in ipairs(instances(function(r) return not r.deleted end)) do
      out[#out + 1] = n .. ":"
    end
    return out
  end,
}
kinds["network-spec"] = function()
  local out = {}
  for _, n in ipairs(kinds.network()) do out[#out + 1] = "name=" .. n end
  return out
end

---KEY=VALUE for the values a setting allows (enums and booleans).
---@return string[]
function M.setting_values(key)
  local ok, schema = pcall(function() return require("moonbase.settings").describe(key) end)
  local s = ok and schema or nil
  local values = s and (s.values or (s.type == "bool" and { "true", "false" })) or {}
  local out = {}
  for i, v in ipairs(values) do out[i] = key .. "=" .. v end
  return out
end

---Candidates of a kind (or a list of literal words).
---@return string[]
function M.of_kind(kind)
  if type(kind) == "table" then return kind end
  local f = kinds[kind]
  return f and f() or {}
end

---Only the candidates that start with prefix (directives always pass).
---@return string[]
function M.filter(list, prefix)
  local out = {}
  for _, v in ipairs(list) do
    if v:sub(1, 1) == "@" or v:sub(1, #prefix) == prefix then out[#out + 1] = v end
  end
  return out
end

return M
