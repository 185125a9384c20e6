-- moonbase plan [RECIPE] [--param NAME=VALUE]... [--format FORMAT]
local recipe = require("moonbase.recipe")
local format = require("moonbase.format")

return {
  summary = "Show what `up` would do for a recipe",
  complete = { "recipe" },
  usage = "moonbase plan [RECIPE] [--param NAME=VALUE]... [--format FORMAT]",
  description = "Loads RECIPE (a recipe file, or a directory holding moonbase.lua; default " ..
    "./moonbase.lua), checks it, and compares it with the instances it made: what `up` " ..
    "would create, change (and what), replace, keep, and delete (instances it made that it " ..
    "no longer declares). Changes nothing. Parameters not given take the values of the " ..
    "project's last `up` (the first line says which). JSON and YAML give {project, recipe, " ..
    "instances, networks, counts, params}.",
  columns = recipe.columns.plan,
  options = { recipe.param_option, format.option },
  max_args = 1,
  run = function(opts)
    local model = recipe.from_options(opts)
    local plan = recipe.plan(model)
    local rows = recipe.plan_rows(plan)
    local nets = {}
    for _, n in ipairs(plan.networks) do
      nets[#nets + 1] = { action = n.action, name = n.name, network = n.network,
        subnet = n.subnet, note = n.note }
    end
    if opts.format == "table" then
      io.stdout:write(string.format("%s (project %s): %s\n", model.shown, model.project,
        recipe.summary(plan)))
      local params = recipe.params_text(plan)
      if params then io.stdout:write("with " .. params .. "\n") end
      if #rows == 0 then return 0 end
    end
    format.print(rows, opts.format, { columns = recipe.columns.plan,
      wrap = function(list) return { project = plan.project, recipe = plan.recipe,
        instances = list, networks = format.array(nets), counts = plan.counts,
        params = format.array(plan.params) } end,
      order = { "name", "value", "default", "network", "ip", "source", "target", "address",
        "host_port", "guest_port", "proto" } })
    if opts.format == "table" then
      -- where each instance is reached, and what it shares with the host
      local any = false
      for _, r in ipairs(rows) do
        if #r.networks + #r.addresses + #r.mounts + #r.forwards > 0 then any = true end
      end
      if any then
        io.stdout:write("\n")
        format.print(rows, "table", { columns = recipe.columns.plan_reach })
      end
      for _, n in ipairs(nets) do
        io.stdout:write(string.format("network %s: %s%s%s\n", n.network, n.action,
          n.subnet and (" " .. n.subnet) or "", n.note and (" (" .. n.note .. ")") or ""))
      end
    end
    return 0
  end,
}
