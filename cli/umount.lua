-- moonbase umount NAME[:DST]...
local mounts = require("moonbase.mounts")

return {
  summary = "Remove mounts from instances",
  complete = { "instance", rest = true },
  usage = "moonbase umount NAME[:DST]...",
  description = "Unmounts DST in the instance and forgets the mount; without DST, every " ..
    "mount of NAME. A native mount's device leaves a running instance at its next start.",
  min_args = 1,
  run = function(opts)
    for i = 1, #opts do mounts.remove(opts[i]) end
    return 0
  end,
}
