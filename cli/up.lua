-- moonbase up [RECIPE] [--param NAME=VALUE]... [--parallel N] [--replace]
local recipe = require("moonbase.recipe")
local format = require("moonbase.format")

return {
  summary = "Bring up a recipe's instances",
  complete = { "recipe" },
  usage = "moonbase up [RECIPE] [--param NAME=VALUE]... [--parallel N] [--replace] " ..
    "[--quiet] [--format FORMAT]",
  description = "Does what `moonbase plan` shows: launches the recipe's instances, " ..
    "independent ones in parallel, each after the instances it depends on are up, " ..
    "provisioned and ready; provisions each instance once, then waits for its ready " ..
    "probe; changes, starts or deletes the rest; prints live progress, a summary, and the " ..
    "outputs. A " ..
    "failure stops what depends on it, lets the rest finish, and exits 2. On an unchanged " ..
    "recipe it changes nothing.",
  columns = recipe.columns.up,
  options = {
    recipe.param_option,
    { "parallel", "j", type = "int", min = 1, max = 64, metavar = "N",
      help = "instances to work on at once (default: twice the CPUs, 2 to 16)" },
    { "replace", type = "flag", help = "delete and recreate instances whose image, " ..
      "cloud-init, networks, mounts or forwards changed" },
    { "quiet", "q", type = "flag", help = "print only failures" },
    { "format", type = "enum", values = format.names, default = "table",
      help = "json, yaml, csv: progress on stderr, the summary (timings, outputs) on stdout" },
    { "worker", hidden = true },
    { "run-dir", hidden = true },
    { "provision-only", type = "flag", hidden = true },
  },
  max_args = 1,
  run = function(opts)
    -- a worker gets every parameter its `up` used on its command line
    local model = recipe.from_options(opts, { remembered = not opts.worker })
    if opts.worker then
      return recipe.worker(model, opts.worker, { run_dir = opts.run_dir, replace = opts.replace,
        provision_only = opts.provision_only })
    end
    return recipe.up(model, { parallel = opts.parallel or recipe.default_parallel(),
      replace = opts.replace, quiet = opts.quiet, format = opts.format,
      structured = opts.format ~= "table" })
  end,
}
