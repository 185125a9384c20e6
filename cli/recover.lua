-- moonbase recover NAME... | --all
local instance = require("moonbase.instance")
local targets = require("moonbase.targets")

return {
  summary = "Recover deleted instances",
  complete = { "deleted-instance", rest = true },
  usage = "moonbase recover NAME... [--all]",
  options = { targets.all_option },
  run = function(opts)
    return targets.each("recover", opts, instance.recover)
  end,
}
