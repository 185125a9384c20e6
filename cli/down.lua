-- moonbase down [RECIPE] [--param NAME=VALUE]... [--purge]
local recipe = require("moonbase.recipe")

return {
  summary = "Stop (or delete) a recipe's instances",
  complete = { "recipe" },
  usage = "moonbase down [RECIPE] [--param NAME=VALUE]... [--purge] [--parallel N] " ..
    "[--timeout DURATION]",
  description = "Stops the recipe's instances, each after the instances that depend on it " ..
    "(independent ones in parallel). --purge deletes them for good instead, with the " ..
    "instances it made but no longer declares and its networks; nothing of the recipe is " ..
    "left.",
  options = {
    recipe.param_option,
    { "purge", type = "flag", help = "delete the instances and networks for good" },
    { "parallel", "j", type = "int", min = 1, max = 64, metavar = "N",
      help = "instances to work on at once (default: twice the CPUs, 2 to 16)" },
    { "timeout", type = "duration", default = "60", help = "grace period before power-off" },
    { "quiet", "q", type = "flag", help = "print only failures" },
  },
  max_args = 1,
  run = function(opts)
    local model = recipe.from_options(opts)
    return recipe.down(model, { purge = opts.purge, quiet = opts.quiet, timeout = opts.timeout,
      parallel = opts.parallel or recipe.default_parallel() })
  end,
}
