-- moonbase hosts [NAME...]
local network = require("moonbase.network")
local instance = require("moonbase.instance")
local format = require("moonbase.format")
local errors = require("moonbase.errors")

local columns = { { key = "ipv4", title = "IPv4" }, { key = "names", title = "Names", kind = "list" },
  { key = "instance", title = "Instance" }, { key = "network", title = "Network" } }

return {
  summary = "Print /etc/hosts lines for the instances' addresses",
  complete = { "instance", rest = true },
  usage = "moonbase hosts [NAME...] [--format FORMAT]",
  description = "Prints one /etc/hosts line per address an instance holds on a moonbase " ..
    "network: the primary one as <name>.moonbase and <name>, others as " ..
    "<name>.<network>.moonbase. Append them to /etc/hosts to reach instances by name from " ..
    "the host (instances resolve each other through the network's DNS already). With " ..
    "names, only those instances. The table format is the /etc/hosts lines themselves.",
  columns = columns,
  options = { format.option },
  run = function(opts)
    local want, found = {}, {}
    for _, n in ipairs(opts) do want[n] = true end
    local rows = {}
    for _, e in ipairs(network.hosts()) do
      if #opts == 0 or want[e.instance] then
        rows[#rows + 1] = e
        found[e.instance] = true
      end
    end
    for _, n in ipairs(opts) do
      if not found[n] then
        instance.get(n) -- an instance that does not exist says so
        errors.raise(string.format('hosts: instance "%s" has no address on a moonbase ' ..
          "network (it is not on one, or has not started since it joined: try: moonbase " ..
          "info %s)", n, n), "notfound")
      end
    end
    if opts.format ~= "table" then
      format.print(rows, opts.format, { columns = columns })
      return 0
    end
    for _, e in ipairs(rows) do print(e.ipv4 .. "\t" .. table.concat(e.names, " ")) end
    return 0
  end,
}
