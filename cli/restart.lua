-- moonbase restart [NAME...] | --all [--timeout DURATION]
local instance = require("moonbase.instance")
local targets = require("moonbase.targets")

return {
  summary = "Restart running instances",
  complete = { "instance", rest = true },
  usage = "moonbase restart [NAME...] [--all] [--timeout DURATION]",
  description = "Without NAME, restarts the primary instance (client.primary-name).",
  options = {
    targets.all_option,
    { "timeout", type = "duration", default = "300",
      help = "how long each instance may take to start again and finish booting" },
  },
  run = function(opts)
    return targets.each("restart", opts, function(n)
      instance.restart(n, { timeout = opts.timeout })
    end, { primary = true })
  end,
}
