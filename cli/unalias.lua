-- moonbase unalias NAME...
local aliases = require("moonbase.aliases")

return {
  summary = "Remove aliases",
  complete = { "alias", rest = true },
  usage = "moonbase unalias NAME...",
  min_args = 1,
  run = function(opts)
    for i = 1, #opts do aliases.delete(opts[i]) end
    return 0
  end,
}
