-- Snapshots: of one instance (INSTANCE.SNAPSHOT), or of every instance a
-- recipe made, taken together (RECIPE.lua.SNAPSHOT). A snapshot of a running
-- instance keeps its memory where the driver can, and restoring it brings the
-- guest back running; restore first keeps the state it replaces in a new
-- snapshot unless told it may destroy it. See docs/snapshots.md.
-- layer: facade
local core = require("moonbase._core.snapshots")
local plan = require("moonbase._core.recipe_plan")
local fs = require("moonbase.engine.fs")

local M = {}

---Checks a snapshot name (letters, digits, dashes; a letter first).
---@param name string
---@return boolean?, string?, string?
M.check_name = core.check_name

---Splits "INSTANCE.SNAPSHOT" (a usage error naming `what` otherwise).
---@param ref string
---@param what string
---@return string instance, string snapshot
M.parse_ref = core.parse_ref

---Takes a snapshot of an instance (default name snapshotN).
---@param name string
---@param o? {name?: string, comment?: string}
---@return table snapshot {name, tag, parent, created, comment, memory, spec}
M.take = core.take

---An instance's snapshots, oldest first: {instance, name, parent, created,
---comment, memory, size, state, current}.
---@param name string
---@return table[]
M.list = core.list

---Every instance's snapshots.
---@return table[]
M.list_all = core.list_all

---Restores INSTANCE to SNAPSHOT; returns the safety snapshot taken first
---(nil with o.destructive).
---@param name string
---@param snap string
---@param o? {destructive?: boolean, timeout?: number, quiet?: boolean}
---@return table? safety
M.restore = core.restore

---Deletes a snapshot.
---@param name string
---@param snap string
M.delete = core.delete

---Checks that "INSTANCE.SNAPSHOT" names an existing snapshot (nothing changed).
---@param ref string
---@return string "act"
M.check_delete = core.check_delete

---------------------------------------------------------------- recipes

---Whether an argument names a recipe file: "path/x.lua" (an existing file).
---@param arg string
---@return boolean
function M.is_recipe(arg)
  return arg:match("%.lua$") ~= nil and fs.exists(arg) == "file"
end

---Splits "RECIPE.lua.SNAPSHOT" when the recipe file exists: path, name.
---@param arg string
---@return string? path, string? snapshot
function M.recipe_ref(arg)
  local path, snap = arg:match("^(.*%.lua)%.([^/]+)$")
  if path and fs.exists(path) == "file" then return path, snap end
end

-- The project's instances this recipe made, and where its group snapshots live.
local function members(model)
  local names = {}
  for name, rec in pairs(plan.project_records(model.project)) do
    if not rec.deleted and rec.labels[plan.LABEL_RECIPE] == model.path then
      names[#names + 1] = name
    end
  end
  table.sort(names)
  return names, plan.run_dir(model.project) .. "/snapshots"
end

local function label(model)
  return string.format("recipe %s (project %s)", model.shown, model.project)
end

---Snapshots every instance the recipe made, together: the running ones are
---paused while the set is taken.
---@param model moonbase.RecipeModel
---@param o? {name?: string, comment?: string}
---@return table group {name, created, comment, instances = {instance = snapshot}}
function M.take_recipe(model, o)
  o = o or {}
  local names, dir = members(model)
  return core.take_group(names, dir, { name = o.name, comment = o.comment,
    label = label(model) })
end

---Brings every instance of a recipe snapshot back; unless o.destructive, the
---current state is taken first as a recipe snapshot of its own (returned).
---@param model moonbase.RecipeModel
---@param name string
---@param o? {destructive?: boolean, timeout?: number, quiet?: boolean}
---@return table? safety group
function M.restore_recipe(model, name, o)
  o = o or {}
  local _, dir = members(model)
  return core.restore_group(dir, name, { destructive = o.destructive, label = label(model),
    timeout = o.timeout, quiet = o.quiet })
end

---The recipe's snapshots, oldest first.
---@param model moonbase.RecipeModel
---@return table[]
function M.list_recipe(model)
  local _, dir = members(model)
  return core.list_groups(dir)
end

return M
