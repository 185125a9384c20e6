-- moonbase restore [--destructive] INSTANCE.SNAPSHOT | RECIPE.lua.SNAPSHOT
local snapshots = require("moonbase.snapshots")
local recipe = require("moonbase.recipe")

return {
  summary = "Restore an instance (or a recipe's instances) to a snapshot",
  usage = "moonbase restore [--destructive] INSTANCE.SNAPSHOT | RECIPE.lua.SNAPSHOT " ..
    "[--param NAME=VALUE]...",
  description = "Brings the disk (and, for a snapshot of a running instance, the memory: " ..
    "the guest comes back running where it was) and the CPUs, memory, disk size, mounts " ..
    "and port forwards of the snapshot back. First the current state is saved in a new " ..
    "snapshot, whose name is printed; --destructive discards it instead. A snapshot of a " ..
    "stopped instance leaves it stopped.",
  options = {
    { "destructive", "d", type = "flag",
      help = "do not keep the current state in a snapshot first" },
    { "timeout", type = "duration", default = "300",
      help = "how long to wait for a running snapshot's guest" },
    recipe.param_option,
  },
  min_args = 1,
  max_args = 1,
  run = function(opts)
    local target = opts[1]
    local path, name = snapshots.recipe_ref(target)
    if path then
      local model = recipe.load(path, { params = recipe.parse_params(opts.param) })
      local safety = snapshots.restore_recipe(model, name, { destructive = opts.destructive,
        timeout = opts.timeout })
      if safety then print(string.format("Snapshot taken: %s.%s", path, safety.name)) end
      print(string.format("Restored: %s.%s", path, name))
      return 0
    end
    local inst, snap = snapshots.parse_ref(target, "restore")
    local safety = snapshots.restore(inst, snap, { destructive = opts.destructive,
      timeout = opts.timeout })
    if safety then print(string.format("Snapshot taken: %s.%s", inst, safety.name)) end
    print(string.format("Restored: %s.%s", inst, snap))
    return 0
  end,
}
