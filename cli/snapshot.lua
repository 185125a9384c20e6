-- moonbase snapshot [--name N] [--comment C] INSTANCE | RECIPE.lua
local snapshots = require("moonbase.snapshots")
local recipe = require("moonbase.recipe")

return {
  summary = "Take a snapshot of an instance, or of a recipe's instances together",
  usage = "moonbase snapshot [--name NAME] [--comment TEXT] INSTANCE | RECIPE.lua " ..
    "[--param NAME=VALUE]...",
  description = "Saves the instance's disk (a stopped instance) or its disk and memory (a " ..
    "running one, where the driver can) with its CPUs, memory, disk size, mounts and port " ..
    "forwards, under NAME (default snapshot1, snapshot2, ...). Given a recipe file, takes one " ..
    "snapshot of each instance the recipe made, with the running ones paused while the set " ..
    "is taken, so it is consistent; moonbase restore RECIPE.lua.NAME brings it back. See " ..
    "docs/snapshots.md.",
  options = {
    { "name", "n", metavar = "NAME", help = "the snapshot's name (letters, digits, dashes)" },
    { "comment", "c", metavar = "TEXT", help = "a comment shown by list --snapshots and info" },
    recipe.param_option,
  },
  min_args = 1,
  max_args = 1,
  run = function(opts)
    local target = opts[1]
    if snapshots.is_recipe(target) then
      local model = recipe.from_options(opts)
      local g = snapshots.take_recipe(model, { name = opts.name, comment = opts.comment })
      print(string.format("Snapshot taken: %s.%s", target, g.name))
      return 0
    end
    if opts.param and #opts.param > 0 then
      require("moonbase.errors").usage("snapshot: --param is for recipes, and " .. target ..
        " is an instance")
    end
    local s = snapshots.take(target, { name = opts.name, comment = opts.comment })
    print(string.format("Snapshot taken: %s.%s", target, s.name))
    return 0
  end,
}
