-- moonbase network create NAME [--subnet CIDR] | network delete NAME
local network = require("moonbase.network")
local errors = require("moonbase.errors")

local usage = "moonbase network create NAME [--subnet CIDR] | network delete NAME"

return {
  summary = "Create or delete a moonbase network",
  complete = { sub = { create = {}, delete = { "network" } } },
  usage = usage,
  description = "'create' makes a private network NAME (a bridge with DNS <instance>.moonbase, " ..
    "DHCP and NAT) that instances and recipes can join with --network name=NAME. Without " ..
    "--subnet, a free /24 is picked that does not collide with the host's routes or " ..
    "addresses. It is brought up now when moonbase runs as root, else when an instance " ..
    "first joins it; under the libvirt driver with local.libvirt.networking=libvirt it is a " ..
    "libvirt network that moonbase defines. 'delete' removes a network no instance uses. " ..
    "See also: moonbase networks.",
  options = {
    { "subnet", type = "string", metavar = "CIDR",
      help = "create: the network's subnet, a private range such as 10.77.0.0/24" },
  },
  min_args = 1,
  max_args = 2,
  run = function(opts)
    local verb, name = opts[1], opts[2]
    if verb ~= "create" and verb ~= "delete" then
      errors.usage(string.format('unknown subcommand "%s" (use create or delete): %s', verb,
        usage))
    end
    if not name then errors.usage("network " .. verb .. " needs a NAME: " .. usage) end
    if verb == "delete" then
      if opts.subnet then errors.usage("network delete takes no --subnet: " .. usage) end
      local rec = network.delete(name)
      print(string.format('Deleted network "%s" (%s)', name, rec.subnet))
      return 0
    end
    local rec, up, why = network.create(name, { subnet = opts.subnet })
    local served = network.served_by(rec)
    if served then
      print(string.format('Created network "%s" (%s, %s network %s, bridge %s)', name,
        rec.subnet, served.kind, served.name, served.bridge))
    else
      print(string.format('Created network "%s" (%s, bridge %s)', name, rec.subnet, rec.bridge))
    end
    if not up then
      io.stderr:write(string.format("network: %s is recorded but not brought up: %s; it " ..
        "comes up when an instance joins it with the private network available\n", name, why))
    end
    return 0
  end,
}
