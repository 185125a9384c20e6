-- moonbase version: moonbase's version and the libraries it links.
local util = require("moonbase.engine.util")
local format = require("moonbase.format")
local drivers = require("moonbase.drivers")

local columns = { { key = "component", title = "Component" },
  { key = "version", title = "Version" } }

return {
  columns = columns,
  summary = "Show the versions of moonbase and the libraries it uses",
  usage = "moonbase version [--format FORMAT]",
  description = "JSON and YAML give a map from each component to its version. Drivers " ..
    "outside moonbase (external and Lua, see moonbase drivers) are listed as driver:NAME " ..
    "with their path.",
  options = { format.option },
  max_args = 0,
  run = function(opts)
    local v = util.versions()
    local keys = { "moonbase", "lua", "libcurl", "libssh2", "libvirt", "libyaml" }
    -- the drivers outside the binary: where each is (it has no version of its own)
    for _, f in ipairs(drivers.found()) do
      if not f.refused and f.replaces ~= false then
        keys[#keys + 1] = "driver:" .. f.name
        v[keys[#keys]] = f.path
      end
    end
    if opts.format == "table" then
      for _, k in ipairs(keys) do
        print(string.format("%-9s %s", k, v[k] or "--"))
      end
      return 0
    end
    local rows = {}
    for _, k in ipairs(keys) do rows[#rows + 1] = { component = k, version = v[k] } end
    format.print(rows, opts.format, { value = v, columns = columns })
    return 0
  end,
}
