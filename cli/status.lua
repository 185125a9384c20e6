-- moonbase status [RECIPE] [--param NAME=VALUE]... [--format FORMAT]
local recipe = require("moonbase.recipe")
local format = require("moonbase.format")

return {
  summary = "Show the state of a recipe's instances",
  usage = "moonbase status [RECIPE] [--param NAME=VALUE]... [--format FORMAT]",
  description = "One row per instance the recipe declares (and per instance it made but no " ..
    "longer declares): its state, address, when it was provisioned, and what `up` would do.",
  options = { recipe.param_option, format.option },
  max_args = 1,
  run = function(opts)
    local model = recipe.from_options(opts)
    local rows, plan = recipe.status(model)
    for _, r in ipairs(rows) do r.ipv4 = format.array(r.ipv4) end
    local columns = { { key = "name", title = "Name" }, { key = "instance", title = "Instance" },
      { key = "state", title = "State" }, { key = "ipv4", title = "IPv4" },
      { key = "provisioned", title = "Provisioned" }, { key = "plan", title = "Plan" } }
    if opts.format == "table" then
      io.stdout:write(string.format("%s (project %s)\n", model.shown, model.project))
    end
    format.print(rows, opts.format, { columns = columns,
      value = (opts.format == "json" or opts.format == "yaml") and { project = plan.project,
        recipe = plan.recipe, instances = format.array(rows) } or nil,
      empty = "The recipe declares no instances." })
    return 0
  end,
}
