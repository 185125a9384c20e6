-- moonbase restart NAME... | --all
local instance = require("moonbase.instance")
local targets = require("moonbase.targets")

return {
  summary = "Restart running instances",
  complete = { "instance", rest = true },
  usage = "moonbase restart NAME... [--all]",
  options = { targets.all_option },
  run = function(opts)
    return targets.each("restart", opts, instance.restart)
  end,
}
