-- Recipes: Lua files that describe a mini-cloud. Loading one (sandboxed,
-- every mistake found before anything is launched), its plan against the
-- instances it made before, its outputs and status
-- (moonbase._core.recipe_plan), and applying it: up, down, provision
-- (moonbase._core.recipe_run). Editors complete recipes from recipe.d.lua.
-- layer: facade
local plan = require("moonbase._core.recipe_plan")
local run = require("moonbase._core.recipe_run")

local M = {}

M.LABEL_PROJECT, M.LABEL_RECIPE, M.LABEL_INSTANCE = plan.LABEL_PROJECT, plan.LABEL_RECIPE,
  plan.LABEL_INSTANCE

---What this build can do with recipe keys that depend on other work.
---@return table<string, boolean>
M.capabilities = plan.capabilities

---The recipe file an argument names (a file, or a folder with moonbase.lua).
M.find = plan.find

---Parses --param NAME=VALUE options.
---@param list? string[]
---@return table<string, string>
M.parse_params = plan.parse_params

---Loads a recipe into its model (raises with every mistake it has).
---@param arg? string
---@param o? {params?: table<string, string>}
---@return moonbase.RecipeModel
M.load = plan.load

---The recipe model from a command's options (RECIPE and --param).
M.from_options = plan.from_options

---The --param option of the recipe commands.
M.param_option = plan.param_option

---What `up` would do: {instances = {...}, networks = {...}}.
---@param model moonbase.RecipeModel
M.plan = plan.plan

---"2 to create, 1 to keep" for a plan.
M.summary = plan.summary

---The parameters not at their defaults and where their values come from
---("webs=3 (from the last up)"), or nil.
M.params_text = plan.params_text

---Whether a plan changes nothing.
M.unchanged = plan.unchanged

---One line of details for a plan item.
M.details = plan.details

---The plan's instances as rows of M.columns.plan.
M.plan_rows = plan.plan_rows

---The fields of the recipe commands' listings (moonbase.format columns):
---outputs, status, plan, up.
M.columns = plan.columns

---The recipe's outputs, evaluated now.
M.outputs = plan.outputs

---Each instance's state, plan and provisioning.
M.status = plan.status

---The default number of instances worked on at once.
M.default_parallel = plan.default_parallel

---Brings the recipe up (see moonbase up); returns the exit status.
---@param model moonbase.RecipeModel
---@param o {parallel: integer, replace?: boolean, quiet?: boolean, json?: boolean}
M.up = run.up

---Stops (or purges) the recipe's instances; returns the exit status.
M.down = run.down

---Runs provisioning steps again on running instances; returns the exit status.
M.provision = run.provision

---What `up`'s child process does for one instance.
M.worker = run.worker

return M
