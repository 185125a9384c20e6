-- moonbase aliases
local aliases = require("moonbase.aliases")
local format = require("moonbase.format")

local columns = { { key = "alias", title = "Alias" }, { key = "instance", title = "Instance" },
  { key = "command", title = "Command" } }

return {
  columns = columns,
  summary = "List aliases",
  usage = "moonbase aliases [--format FORMAT]",
  options = { format.option },
  max_args = 0,
  run = function(opts)
    local rows = {}
    for n, a in pairs(aliases.all()) do
      rows[#rows + 1] = { alias = n, instance = a.instance, command = a.command }
    end
    table.sort(rows, function(a, b) return a.alias < b.alias end)
    format.print(rows, opts.format, { columns = columns, empty = "No aliases defined." })
    return 0
  end,
}
