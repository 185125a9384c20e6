-- moonbase list [--snapshots]
local format = require("moonbase.format")

local snapshot_columns = {
  { key = "instance", title = "Instance" }, { key = "name", title = "Snapshot" },
  { key = "parent", title = "Parent" }, { key = "created", title = "Created", kind = "time" },
  { key = "state", title = "State", note = "the instance's when taken: running ones hold its " ..
    "memory" },
  { key = "comment", title = "Comment" },
  { key = "size", title = "Size", kind = "bytes", detail = true,
    note = "the bytes the driver keeps as the snapshot's own (its memory)" },
  { key = "cpus", title = "CPUs", detail = true },
  { key = "memory", title = "Memory", kind = "bytes", detail = true },
  { key = "disk", title = "Disk", kind = "bytes", detail = true },
  { key = "current", title = "Current", detail = true,
    note = "true for the snapshot last taken or restored" },
}

local columns = {
  { key = "name", title = "Name" }, { key = "state", title = "State" },
  { key = "ipv4", title = "IPv4", kind = "list" }, { key = "image", title = "Image" },
  { key = "driver", title = "Driver", when_text = "when one runs under another driver",
    when = function(rows)
      for _, r in ipairs(rows) do if r.other_driver then return true end end
      return false
    end },
  { key = "host", title = "Host", when_text = "when one runs on another host",
    when = function(rows)
      for _, r in ipairs(rows) do if r.host ~= "local" then return true end end
      return false
    end },
}

return {
  summary = "List instances",
  usage = "moonbase list [--snapshots] [--format FORMAT] [--no-ipv4] [--quiet]",
  description = "With --snapshots, the instances' snapshots instead (see docs/snapshots.md): " ..
    format.describe(snapshot_columns) .. ".",
  columns = columns,
  options = {
    format.option,
    { "snapshots", type = "flag", help = "list the instances' snapshots instead" },
    { "no-ipv4", type = "flag", help = "leave out the addresses (faster: no driver query)" },
    { "quiet", "q", type = "flag", help = "only the names, one a line" },
  },
  max_args = 0,
  run = function(opts)
    if opts.snapshots then
      -- (required here: a plain list does without the snapshots' modules)
      local rows = require("moonbase.snapshots").list_all()
      if opts.quiet then
        for _, r in ipairs(rows) do print(r.instance .. "." .. r.name) end
        return 0
      end
      format.print(rows, opts.format, { columns = snapshot_columns,
        empty = "No snapshots found." })
      return 0
    end
    -- a hint first: the driver may start asking for every instance's state
    -- while this process loads what lists them (LXD answers meanwhile)
    require("moonbase.drivers").list_ahead()
    local rows = require("moonbase.instance").list({ addresses = not opts.no_ipv4 })
    for _, r in ipairs(rows) do
      if r.problem then io.stderr:write("list: warning: ", r.problem, "\n") end
    end
    if opts.quiet then
      for _, r in ipairs(rows) do print(r.name) end
      return 0
    end
    local shown = columns
    if opts.no_ipv4 then
      shown = {}
      for _, c in ipairs(columns) do if c.key ~= "ipv4" then shown[#shown + 1] = c end end
    end
    format.print(rows, opts.format, { columns = shown, empty = "No instances found." })
    return 0
  end,
}
