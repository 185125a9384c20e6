-- moonbase version: moonbase's version and the libraries it links.
local util = require("moonbase.engine.util")
local format = require("moonbase.format")

local columns = { { key = "component", title = "Component" },
  { key = "version", title = "Version" } }

return {
  columns = columns,
  summary = "Show the versions of moonbase and the libraries it uses",
  usage = "moonbase version [--format FORMAT]",
  description = "JSON and YAML give a map from each component to its version.",
  options = { format.option },
  max_args = 0,
  run = function(opts)
    local v = util.versions()
    local keys = { "moonbase", "lua", "libcurl", "libssh2", "libvirt", "libyaml" }
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
