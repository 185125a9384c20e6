-- Aliases: `moonbase NAME args` runs a command in an instance. Stored in
-- <config>/aliases.json as name -> {instance, command} (moonbase._core.aliases).
-- layer: facade
local core = require("moonbase._core.aliases")
local commands = require("moonbase.commands")
local names = require("moonbase._core.names")
local errors = require("moonbase.errors")

local M = {}

---All usable aliases: name -> {instance, command}.
---@return table<string, {instance: string, command: string}>
M.all = core.all

---One alias, or nil (nil, message for a damaged one).
---@param name string
M.get = core.get

---Rows for `aliases`: {alias, instance, command}, sorted, and one warning
---per damaged entry (a file unusable as a whole raises).
---@return table[] rows, string[] warnings
function M.list()
  local good, damaged, problem = core.load()
  if problem then errors.raise(problem, "damaged") end
  local rows, warnings = {}, {}
  for n, a in pairs(good) do
    rows[#rows + 1] = { alias = n, instance = a.instance, command = a.command }
  end
  table.sort(rows, function(a, b) return a.alias < b.alias end)
  for n in pairs(damaged) do warnings[#warnings + 1] = select(2, core.get(n)) end
  table.sort(warnings)
  return rows, warnings
end

local update = core.update

---Creates an alias; the name must not be a command.
function M.create(name, instance, command)
  names.alias(name, "alias")
  if commands.is_bundled(name) then
    errors.usage(string.format("alias: \"%s\" is a moonbase command: pick another alias name",
      name))
  end
  return update(function(d)
    if d[name] then
      errors.raise(string.format("alias: \"%s\" already exists (try: moonbase unalias %s)",
        name, name), "exists")
    end
    d[name] = { instance = instance, command = command }
  end)
end

local function missing(name)
  errors.raise(string.format("unalias: no alias \"%s\" (try: moonbase aliases)", name), "notfound")
end

---Removes aliases: every name is checked first, and nothing changes unless
---all exist (a damaged entry can be removed).
---@param list string|string[]
function M.delete(list)
  if type(list) == "string" then list = { list } end
  local _, damaged, problem = core.load()
  if problem then errors.raise("unalias: " .. problem, "damaged") end
  local seen = {}
  for _, name in ipairs(list) do
    names.alias(name, "unalias")
    if not core.get(name) and not damaged[name] then missing(name) end
  end
  return update(function(d)
    for _, name in ipairs(list) do
      if not seen[name] then
        if d[name] == nil then missing(name) end
        d[name], seen[name] = nil, true
      end
    end
  end)
end

return M
