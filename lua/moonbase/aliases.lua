-- Aliases: `moonbase NAME args` runs a command in an instance. Stored in
-- <config>/aliases.json as name -> {instance, command}.
local fs = require("moonbase.engine.fs")
local paths = require("moonbase._core.paths")
local store = require("moonbase._core.store")
local errors = require("moonbase.errors")

local M = {}

local function file() return paths.config .. "/aliases.json" end

---All aliases: name -> {instance, command}.
function M.all()
  return errors.check("aliases", store.read(file(), {}))
end

function M.get(name)
  return M.all()[name]
end

local function update(fn)
  errors.check("alias", fs.mkdirs(paths.config))
  local lock <close> = errors.check("alias", fs.lock(paths.config .. "/aliases.lock"))
  local data = M.all()
  local result = fn(data)
  store.write(file(), data)
  return result
end

---Creates an alias; the name must not be a command.
function M.create(name, instance, command)
  if not name:match("^[a-z][a-z0-9_-]*$") then
    errors.usage(string.format("alias: invalid alias name \"%s\": use lowercase letters, " ..
      "digits, dashes and underscores, starting with a letter", name))
  end
  if require("moonbase.commands").is_bundled(name) then
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
