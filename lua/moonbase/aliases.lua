-- Aliases: `moonbase NAME args` runs a command in an instance. Stored in
-- <config>/aliases.json as name -> {instance, command} (moonbase._core.aliases).
-- layer: facade
local core = require("moonbase._core.aliases")
local commands = require("moonbase.commands")
local errors = require("moonbase.errors")

local M = {}

---All aliases: name -> {instance, command}.
---@return table<string, {instance: string, command: string}>
M.all = core.all

---One alias, or nil.
---@param name string
M.get = core.get

local update = core.update

---Creates an alias; the name must not be a command.
function M.create(name, instance, command)
  if not name:match("^[a-z][a-z0-9_-]*$") then
    errors.usage(string.format("alias: invalid alias name \"%s\": use lowercase letters, " ..
      "digits, dashes and underscores, starting with a letter", name))
  end
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

function M.delete(name)
  if not M.get(name) then missing(name) end
  return update(function(d)
    if not d[name] then missing(name) end
    d[name] = nil
  end)
end

return M
