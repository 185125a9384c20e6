-- The aliases file: <config>/aliases.json as name -> {instance, command},
-- written atomically under a lock. moonbase.aliases checks what is created.
-- layer: records
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

---Runs fn(data) on the aliases under the lock and writes what it left.
function M.update(fn)
  errors.check("alias", fs.mkdirs(paths.config))
  local lock <close> = errors.check("alias", fs.lock(paths.config .. "/aliases.lock"))
  local data = M.all()
  local result = fn(data)
  store.write(file(), data)
  return result
end

return M
