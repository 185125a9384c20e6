-- moonbase unalias NAME...
local aliases = require("moonbase.aliases")

return {
  summary = "Remove aliases",
  complete = { "alias", rest = true },
  usage = "moonbase unalias NAME...",
  min_args = 1,
  run = function(opts)
    aliases.delete({ table.unpack(opts, 1, #opts) })
    return 0
  end,
}
