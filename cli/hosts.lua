-- moonbase hosts [NAME...]
local network = require("moonbase.network")
local errors = require("moonbase.errors")

return {
  summary = "Print /etc/hosts lines for the instances' addresses",
  usage = "moonbase hosts [NAME...]",
  description = "Prints one /etc/hosts line per address an instance holds on a moonbase " ..
    "network: the primary one as <name>.moonbase and <name>, others as " ..
    "<name>.<network>.moonbase. Append them to /etc/hosts to reach instances by name from " ..
    "the host (instances resolve each other through the network's DNS already). With " ..
    "names, only those instances.",
  run = function(opts)
    local want, found = {}, {}
    for _, n in ipairs(opts) do want[n] = true end
    local lines = {}
    for _, e in ipairs(network.hosts()) do
      if #opts == 0 or want[e.instance] then
        lines[#lines + 1] = e.ipv4 .. "\t" .. table.concat(e.names, " ")
        found[e.instance] = true
      end
    end
    for _, n in ipairs(opts) do
      if not found[n] then
        errors.raise(string.format('hosts: instance "%s" has no address on a moonbase ' ..
          "network (try: moonbase list)", n), "notfound")
      end
    end
    if #lines > 0 then print(table.concat(lines, "\n")) end
    return 0
  end,
}
