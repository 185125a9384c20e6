-- moonbase rename OLD NEW
local instance = require("moonbase.instance")

return {
  summary = "Rename a stopped instance",
  usage = "moonbase rename OLD NEW",
  description = "Moves the instance, its snapshots, its addresses and DNS name (NEW.moonbase " ..
    "from its next start), the aliases that run in it and its place in its recipe to NEW. " ..
    "The instance must be stopped; the guest's own hostname is left as it is.",
  min_args = 2,
  max_args = 2,
  run = function(opts)
    instance.rename(opts[1], opts[2])
    print(string.format("Renamed: %s -> %s", opts[1], opts[2]))
    return 0
  end,
}
