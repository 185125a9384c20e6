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
    local columns = { { key = "name", title = "Name" }, { key = "state", title = "State" },
      { key = "ipv4", title = "IPv4" }, { key = "image", title = "Image" } }
    for _, r in ipairs(rows) do
      r.ipv4 = format.array(r.ipv4)
      -- where they run, once some run on another libvirt host
      if r.host ~= "local" and #columns == 4 then columns[5] = { key = "host", title = "Host" } end
    end
    format.print(rows, opts.format, {
      columns = columns,
      empty = "No instances found.",
    })
    return 0
  end,
}
