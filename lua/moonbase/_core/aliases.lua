-- The aliases file: <config>/aliases.json as name -> {instance, command},
-- written atomically under a lock. moonbase.aliases checks what is created.
-- The file is checked when read: an entry of the wrong shape is reported as
-- damaged (and never run), the others keep working; a file that is not an
-- object at all is reported by the commands that need it, and never
-- rewritten until it is fixed.
-- layer: records
local fs = require("moonbase.engine.fs")
local paths = require("moonbase._core.paths")
local store = require("moonbase._core.store")
local names = require("moonbase._core.names")
local errors = require("moonbase.errors")

local M = {}

local function file() return paths.config .. "/aliases.json" end

M.ENTRY = { instance = "name", command = "string" }

---Every alias: good (name -> {instance, command}), damaged (name ->
---reason), and why the whole file is unusable (or nil).
---@return table<string, table> good, table<string, string> damaged, string? problem
function M.load()
  local data, msg = store.read_checked(file(), "object", {}, "the aliases file")
  if not data then return {}, {}, msg end
  local good, damaged = {}, {}
  for name, a in pairs(data) do
    local why = (not names.valid_alias(name)) and "its name is not an alias name" or
      store.check(a, M.ENTRY)
    if why then damaged[name] = why else good[name] = a end
  end
  return good, damaged
end

---The usable aliases: name -> {instance, command}.
function M.all()
  return (M.load())
end

---One alias, or nil (nil, message, "damaged" for a damaged entry; a file
---that is unusable as a whole hides no command, so it gives just nil).
function M.get(name)
  local good, damaged = M.load()
  if good[name] then return good[name] end
  if damaged[name] then
    return nil, string.format("alias \"%s\" in %s is damaged: %s (fix it, or remove it: " ..
      "moonbase unalias %s)", name, file(), damaged[name], name), "damaged"
  end
  return nil
end

---Runs fn(data) on the aliases under the lock and writes what it left; a
---damaged file is refused, not overwritten.
function M.update(fn)
  local _, _, problem = M.load()
  if problem then errors.raise(problem, "damaged") end
  errors.check("alias", fs.mkdirs(paths.config))
  local lock <close> = errors.check("alias", fs.lock(paths.config .. "/aliases.lock"))
  local data = errors.check(nil, store.read_checked(file(), "object", {}, "the aliases file"))
  local result = fn(data)
  store.write(file(), data)
  return result
end

return M
