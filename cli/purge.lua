-- moonbase purge
local instance = require("moonbase.instance")

return {
  summary = "Remove deleted instances for good",
  usage = "moonbase purge",
  max_args = 0,
  run = function()
    instance.purge()
    return 0
  end,
}
