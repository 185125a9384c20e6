-- moonbase clone [--name NAME] SOURCE
local instance = require("moonbase.instance")

return {
  summary = "Make an independent copy of a stopped instance",
  usage = "moonbase clone [--name NAME] SOURCE",
  description = "The clone's disk is a copy of what SOURCE wrote, on the same cached image " ..
    "(so it costs what SOURCE wrote, not the image's size; under the lxd driver it is LXD's " ..
    "copy of the container), and it gets an identity of its " ..
    "own: MAC address and IP address, SSH host key, instance-id (cloud-init names it and " ..
    "runs its per-instance steps again) and machine-id. It keeps SOURCE's CPUs, memory, " ..
    "disk size, mounts and cloud-init, not its snapshots or port forwards. SOURCE must be " ..
    "stopped. The clone is left stopped: moonbase start NAME.",
  options = {
    { "name", "n", metavar = "NAME", help = "the clone's name (default SOURCE-clone1, ...)" },
  },
  min_args = 1,
  max_args = 1,
  run = function(opts)
    local rec = instance.clone(opts[1], { name = opts.name })
    print(string.format("Cloned: %s -> %s", opts[1], rec.name))
    return 0
  end,
}
