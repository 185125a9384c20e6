-- moonbase unset KEY
local settings = require("moonbase.settings")

return {
  summary = "Return a setting to its default",
  complete = { "setting" },
  usage = "moonbase unset KEY",
  min_args = 1,
  max_args = 1,
  run = function(opts)
    settings.unset(opts[1])
    return 0
  end,
}
