-- moonbase plan [RECIPE] [--param NAME=VALUE]... [--format FORMAT]
local recipe = require("moonbase.recipe")
local format = require("moonbase.format")

return {
  summary = "Show what `up` would do for a recipe",
  usage = "moonbase plan [RECIPE] [--param NAME=VALUE]... [--format FORMAT]",
  description = "Loads RECIPE (a recipe file, or a directory holding moonbase.lua; default " ..
    "./moonbase.lua), checks it, and compares it with the instances it made: what `up` " ..
    "would create, change (and what), replace, keep, and delete (instances it made that it " ..
    "no longer declares). Changes nothing.",
  options = { recipe.param_option, format.option },
  max_args = 1,
  run = function(opts)
    local model = recipe.from_options(opts)
    local plan = recipe.plan(model)
    local rows = {}
    for _, it in ipairs(plan.items) do
      local changes = {}
      for _, c in ipairs(it.changes) do
        changes[#changes + 1] = { key = c.key, from = c.from, to = c.to, text = c.text }
      end
      rows[#rows + 1] = { action = it.action, name = it.name, instance = it.instance,
        details = recipe.details(it), changes = format.array(changes),
        replace = format.array(it.replace or {}), notes = format.array(it.notes),
        depends_on = format.array(it.decl and it.decl.deps or {}) }
    end
    local nets = {}
    for _, n in ipairs(plan.networks) do
      nets[#nets + 1] = { action = n.action, name = n.name, network = n.network,
        subnet = n.subnet, note = n.note }
    end
    if opts.format == "json" or opts.format == "yaml" then
      format.print(rows, opts.format, { value = { project = plan.project, recipe = plan.recipe,
        instances = format.array(rows), networks = format.array(nets), counts = plan.counts },
        columns = { { key = "action" }, { key = "name" }, { key = "instance" },
          { key = "details" } } })
      return 0
    end
    local columns = { { key = "action", title = "Action" }, { key = "name", title = "Name" },
      { key = "instance", title = "Instance" }, { key = "details", title = "Details" } }
    if opts.format == "csv" then
      format.print(rows, "csv", { columns = columns })
      return 0
    end
    io.stdout:write(string.format("%s (project %s): %s\n", model.shown, model.project,
      recipe.summary(plan)))
    if #rows > 0 then format.print(rows, "table", { columns = columns }) end
    for _, n in ipairs(nets) do
      io.stdout:write(string.format("network %s: %s%s%s\n", n.network, n.action,
        n.subnet and (" " .. n.subnet) or "", n.note and (" (" .. n.note .. ")") or ""))
    end
    return 0
  end,
}
