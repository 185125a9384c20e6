-- moonbase status [RECIPE] [--param NAME=VALUE]... [--format FORMAT]
local recipe = require("moonbase.recipe")
local format = require("moonbase.format")

return {
  summary = "Show the state of a recipe's instances",
  complete = { "recipe" },
  usage = "moonbase status [RECIPE] [--param NAME=VALUE]... [--format FORMAT]",
  description = "One row per instance the recipe declares (and per instance it made but no " ..
    "longer declares): its state, address, when it was provisioned, and what `up` would do. " ..
    "JSON and YAML give {project, recipe, instances}.",
  columns = recipe.columns.status,
  options = { recipe.param_option, format.option },
  max_args = 1,
  run = function(opts)
    local model = recipe.from_options(opts)
    local rows, plan = recipe.status(model)
    if opts.format == "table" then
      local params = recipe.params_text(plan)
      io.stdout:write(string.format("%s (project %s)%s\n", model.shown, model.project,
        params and (" with " .. params) or ""))
    end
    format.print(rows, opts.format, { columns = recipe.columns.status,
      wrap = function(list) return { project = plan.project, recipe = plan.recipe,
        instances = list } end,
      empty = "The recipe declares no instances." })
    return 0
  end,
}
