-- moonbase suspend [NAME...] | --all
local instance = require("moonbase.instance")
local targets = require("moonbase.targets")

return {
  summary = "Suspend running instances (start resumes them)",
  complete = { "instance", rest = true },
  usage = "moonbase suspend [NAME...] [--all]",
  description = "Without NAME, suspends the primary instance (client.primary-name).",
  options = { targets.all_option },
  run = function(opts)
    return targets.each("suspend", opts, instance.suspend, { primary = true })
  end,
}
