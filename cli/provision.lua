-- moonbase provision [RECIPE [NAME...]] [--param NAME=VALUE]...
local recipe = require("moonbase.recipe")

return {
  summary = "Run a recipe's provisioning steps again",
  complete = { "recipe" },
  usage = "moonbase provision [RECIPE [NAME...]] [--param NAME=VALUE]... [--parallel N]",
  description = "`up` provisions each instance once. This runs the provisioning steps again " ..
    "on the named instances of RECIPE (all of them without names), which must be running: " ..
    "dependencies first, independent instances in parallel.",
  options = {
    recipe.param_option,
    { "parallel", "j", type = "int", min = 1, max = 64, metavar = "N",
      help = "instances to work on at once (default: twice the CPUs, 2 to 16)" },
    { "quiet", "q", type = "flag", help = "print only failures" },
  },
  run = function(opts)
    local model = recipe.from_options(opts)
    return recipe.provision(model, { table.unpack(opts, 2) }, { quiet = opts.quiet,
      parallel = opts.parallel or recipe.default_parallel() })
  end,
}
