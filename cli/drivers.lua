-- moonbase drivers [--probe] [--format FORMAT]
local drivers = require("moonbase.drivers")
local format = require("moonbase.format")

local columns = {
  { key = "name", title = "Name" },
  { key = "selected", title = "Selected" },
  { key = "origin", title = "Origin" },
  { key = "scope", title = "Scope" },
  { key = "capabilities", title = "Capabilities", kind = "list" },
  { key = "path", title = "Path" },
  { key = "status", title = "Status" },
}

return {
  columns = columns,
  summary = "List the drivers: built in, external and Lua",
  usage = "moonbase drivers [--probe] [--format FORMAT]",
  description = "Lists every driver moonbase can use here: the built-in ones, external " ..
    "drivers (executables moonbase-driver-NAME found on MOONBASE_DRIVERS_PATH, then in " ..
    "<prefix>/libexec/moonbase) and Lua drivers (NAME.lua on MOONBASE_DRIVERS_PATH or in " ..
    "the data directory's drivers/), with where each was found, its instance scope, its " ..
    "capabilities and whether local.driver selects it. A driver that cannot be used says " ..
    "why (unsafe permissions, a built-in of the same name, not in this build). --probe " ..
    "also asks each driver whether it can run instances on this host. Writing a driver: " ..
    "docs/writing-drivers.md.",
  options = {
    { "probe", type = "flag", help = "ask each driver whether it is usable here" },
    format.option,
  },
  max_args = 0,
  run = function(opts)
    format.print(drivers.list({ probe = opts.probe }), opts.format,
      { columns = columns, empty = "No drivers." })
    return 0
  end,
}
