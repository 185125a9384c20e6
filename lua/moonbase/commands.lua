-- Finding commands: bundled ones (cli/*.lua, in the binary), user Lua commands
-- (<config>/commands/<name>.lua), executables `moonbase-<name>` on PATH, and
-- aliases (moonbase.aliases). A user's command shadows a bundled one only with
-- a warning, and one that another user could have changed (the same rule as
-- for drivers: fs.unsafe) is refused with the reason. Running them is
-- moonbase._core.main's.
-- layer: facade
local fs = require("moonbase.engine.fs")
local embed = require("moonbase.engine.embed")
local paths = require("moonbase._core.paths")
local errors = require("moonbase.errors")

local M = {}

---Names of the bundled commands, sorted.
function M.bundled()
  local names = {}
  for _, mod in ipairs(embed.list("cli.")) do
    local n = mod:sub(5)
    if not n:find("%.") then names[#names + 1] = n end
  end
  table.sort(names)
  return names
end

function M.is_bundled(name)
  for _, n in ipairs(M.bundled()) do
    if n == name then return true end
  end
  return false
end

M.help_option = { "help", "h", type = "flag", help = "show this help" }

---The help text of a command module (moonbase.usage: the same text as the
---reference and the man pages).
function M.command_help(name, cmd)
  return require("moonbase.usage").text(name, cmd)
end

function M.user_dir()
  return paths.config .. "/commands"
end

---User Lua commands: name -> path.
function M.user()
  local out = {}
  for _, f in ipairs(fs.list(M.user_dir()) or {}) do
    local n = f:match("^([a-z][a-z0-9-]*)%.lua$")
    if n then out[n] = M.user_dir() .. "/" .. f end
  end
  return out
end

local function path_dirs()
  local dirs = {}
  for d in (os.getenv("PATH") or ""):gmatch("[^:]+") do dirs[#dirs + 1] = d end
  return dirs
end

local function executable(p)
  local st = fs.stat(p)
  return st and st.type == "file" and (st.mode & 73) ~= 0
end

---External commands on PATH: name -> path (the first one found wins).
function M.external()
  local out = {}
  for _, d in ipairs(path_dirs()) do
    for _, f in ipairs(fs.list(d) or {}) do
      local n = f:match("^moonbase%-([a-z][a-z0-9-]*)$")
      if n and not out[n] and executable(d .. "/" .. f) then out[n] = d .. "/" .. f end
    end
  end
  return out
end

---Finds `moonbase-<name>` on PATH.
function M.find_external(name)
  for _, d in ipairs(path_dirs()) do
    local p = d .. "/moonbase-" .. name
    if executable(p) then return p end
  end
end

---Why the user command at path may not run, or nil: owned by another user,
---writable by others, in a world-writable directory (the rule for drivers).
function M.refused(path, kind)
  return fs.unsafe(path, kind == "external")
end

local function refuse(path, kind)
  local why = M.refused(path, kind)
  if why then
    errors.raise(string.format("refusing to run the user command %s: %s", path, why),
      "refused")
  end
end

---What `moonbase <name>` runs: {kind = "bundled"|"user"|"external"|"alias", ...} or nil.
---@return table?, string? warning
function M.resolve(name)
  if not name:match("^[a-z][a-z0-9-]*$") then return nil end
  local bundled = M.is_bundled(name)
  local user_path = M.user_dir() .. "/" .. name .. ".lua"
  if fs.exists(user_path) then
    local warning = bundled and string.format("warning: your command %s shadows the bundled " ..
      "command \"%s\" (rename it to use the bundled one)", user_path, name) or nil
    refuse(user_path, "user")
    return { kind = "user", name = name, path = user_path }, warning
  end
  local ext = M.find_external(name)
  if ext and bundled then
    return { kind = "bundled", name = name }, string.format("warning: %s is ignored: it " ..
      "would shadow the bundled command \"%s\"", ext, name)
  end
  if bundled then return { kind = "bundled", name = name } end
  local aliases = require("moonbase._core.aliases") -- (not for a bundled command)
  local alias, damaged = aliases.get(name)
  if alias then return { kind = "alias", name = name, alias = alias } end
  if damaged then errors.raise(damaged, "damaged") end
  if ext then
    refuse(ext, "external")
    return { kind = "external", name = name, path = ext }
  end
  local _, _, problem = aliases.load()
  if problem then -- it may have been an alias
    errors.usage(string.format('unknown command "%s" (and %s)', name, problem))
  end
  return nil
end

local function distance(a, b)
  local prev = {}
  for j = 0, #b do prev[j] = j end
  for i = 1, #a do
    local cur = { [0] = i }
    for j = 1, #b do
      local cost = a:sub(i, i) == b:sub(j, j) and 0 or 1
      cur[j] = math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
    end
    prev = cur
  end
  return prev[#b]
end

---The known command closest to name, if any is close enough.
function M.closest(name)
  local candidates = M.bundled()
  for n in pairs(M.user()) do candidates[#candidates + 1] = n end
  for n in pairs(require("moonbase._core.aliases").all()) do candidates[#candidates + 1] = n end
  local best, bestd
  for _, c in ipairs(candidates) do
    local d = distance(name, c)
    if c:sub(1, #name) == name and #name >= 2 then d = math.min(d, 1) end
    if not bestd or d < bestd then best, bestd = c, d end
  end
  if bestd and bestd <= math.max(2, #name // 3) then return best end
end

return M
