-- moonbase list
local instance = require("moonbase.instance")
local format = require("moonbase.format")

return {
  summary = "List instances",
  usage = "moonbase list [--format FORMAT]",
  options = { format.option },
  max_args = 0,
  run = function(opts)
    local rows = instance.list()
    for _, r in ipairs(rows) do r.ipv4 = format.array(r.ipv4) end
    format.print(rows, opts.format, {
      columns = { { key = "name", title = "Name" }, { key = "state", title = "State" },
        { key = "ipv4", title = "IPv4" }, { key = "image", title = "Image" } },
      empty = "No instances found.",
    })
    return 0
  end,
}
