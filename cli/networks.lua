-- moonbase networks [--format FORMAT] | networks --prune [--force]
local network = require("moonbase.network")
local format = require("moonbase.format")
local errors = require("moonbase.errors")

local usage = "moonbase networks [--format FORMAT] | networks --prune [--force]"

local function prune(opts)
  local r = network.prune({ force = opts.force })
  for _, name in ipairs(r.links) do print("Removed interface " .. name) end
  for _, pid in ipairs(r.dnsmasq) do print("Stopped dnsmasq (pid " .. pid .. ")") end
  if r.nat then print("Removed nftables table ip moonbase") end
  for _, name in ipairs(r.libvirt) do print("Removed libvirt network " .. name) end
  for _, f in ipairs(r.libvirt_failed) do
    io.stderr:write("networks --prune: libvirt networks on " .. f.uri .. " were not looked at: " ..
      f.message .. "\n")
  end
  if #r.links == 0 and #r.dnsmasq == 0 and not r.nat and #r.libvirt == 0 then
    print("Nothing of moonbase's on this host.")
  end
end

local columns = {
  { key = "name", title = "Name" }, { key = "type", title = "Type" },
  { key = "subnet", title = "Subnet" }, { key = "bridge", title = "Bridge" },
  { key = "state", title = "State" }, { key = "instances", title = "Instances" },
  { key = "description", title = "Description" },
}

return {
  columns = columns,
  summary = "List the networks instances can join, or remove moonbase's from this host",
  usage = usage,
  description = "Lists moonbase's networks (the default moonbase0 and those made with " ..
    "'moonbase network create') with their subnet, state and number of instances, then, under " ..
    "the libvirt driver, the connection's other libvirt networks, then the host's bridges " ..
    "and ethernet interfaces. --prune removes every bridge, tap, dnsmasq and " ..
    "NAT rule of moonbase's from this host (needs root), and the libvirt networks moonbase " ..
    "defined (local.libvirt.networking=libvirt); the networks' subnets and the " ..
    "instances' addresses are kept and come back when an instance starts.",
  options = {
    format.option,
    { "prune", type = "flag",
      help = "remove moonbase's bridges, taps, dnsmasq, NAT rules and libvirt networks" },
    { "force", type = "flag", help = "prune: even while instances use them" },
  },
  max_args = 0,
  run = function(opts)
    if opts.force and not opts.prune then
      errors.usage("--force only goes with --prune: " .. usage)
    end
    if opts.prune then
      prune(opts)
      return 0
    end
    local rows = network.list()
    for _, msg in ipairs(select(2, network.records()) or {}) do
      io.stderr:write("networks: warning: ", msg, "\n")
    end
    format.print(rows, opts.format, { columns = columns, empty = "No networks found." })
    return 0
  end,
}
