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
    local rows, warnings = aliases.list()
    for _, w in ipairs(warnings) do io.stderr:write("aliases: warning: ", w, "\n") end
    format.print(rows, opts.format, { columns = columns, empty = "No aliases defined." })
    return 0
  end,
}
