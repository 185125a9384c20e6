-- moonbase watch [--format table|json] [--count N] [--timeout DURATION]
local events = require("moonbase.events")

return {
  summary = "Stream instance lifecycle events",
  usage = "moonbase watch [--format table|json] [--count N] [--timeout DURATION]",
  description = "Prints an event each time an instance changes: launching (with progress), " ..
    "running, cloud-init-done, stopped, suspended, deleted, recovered, purged, " ..
    "forward-added, mount-added, snapshot-taken, recipe-provisioned, ... --format json: " ..
    "one JSON object per line (time, event, instance, scope and details). Read from the " ..
    "daemon when MOONBASE_SERVER names one, else from the state directory. Runs until " ..
    "Ctrl-C, --count events or --timeout.",
  options = {
    { "format", type = "enum", values = { "table", "json" }, default = "table",
      help = "table: one readable line per event; json: one JSON object per line" },
    { "count", type = "int", min = 1, metavar = "N", help = "stop after N events" },
    { "timeout", type = "duration", help = "stop after this long" },
  },
  max_args = 0,
  run = function(opts)
    events.watch({ format = opts.format, count = opts.count, timeout = opts.timeout })
    return 0
  end,
}
