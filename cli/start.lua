-- moonbase start NAME... | --all
local instance = require("moonbase.instance")
local targets = require("moonbase.targets")

return {
  summary = "Start (or resume) instances",
  complete = { "instance", rest = true },
  usage = "moonbase start NAME... [--all]",
  options = { targets.all_option },
  run = function(opts)
    return targets.each("start", opts, instance.start)
  end,
}
