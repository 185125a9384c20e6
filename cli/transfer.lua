-- moonbase transfer [-r] [-p] SRC... DST
local transfer = require("moonbase.transfer")

return {
  summary = "Copy files between the host and instances",
  complete = { "path", rest = true },
  usage = "moonbase transfer [-r] [-p] [--parents] SOURCE... DESTINATION",
  description = "Copies over SFTP through the instance's agent. Write instance paths as " ..
    "NAME:path (relative to the default user's home); '-' reads stdin or writes stdout. " ..
    "Unlike Multipass, whose -p makes parent folders, -p here keeps times and modes (as " ..
    "scp -p does); --parents makes the destination's missing parent folders.",
  options = {
    { "recursive", "r", type = "flag", help = "copy directories" },
    { "preserve", "p", type = "flag", help = "keep modification times and modes" },
    { "parents", type = "flag", help = "make the destination's missing parent folders" },
  },
  min_args = 2,
  run = function(opts)
    local sources = { table.unpack(opts, 1, #opts - 1) }
    transfer.copy(sources, opts[#opts], { recursive = opts.recursive, preserve = opts.preserve,
      parents = opts.parents })
    return 0
  end,
}
