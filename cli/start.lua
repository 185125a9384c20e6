-- moonbase start [NAME...] | --all [--timeout DURATION]
local instance = require("moonbase.instance")
local targets = require("moonbase.targets")

return {
  summary = "Start (or resume) instances",
  complete = { "instance", rest = true },
  usage = "moonbase start [NAME...] [--all] [--timeout DURATION]",
  description = "Without NAME, starts the primary instance (client.primary-name), " ..
    "launching it first if it does not exist, as Multipass does.",
  options = {
    targets.all_option,
    { "timeout", type = "duration", default = "300",
      help = "how long each instance may take to start and finish booting" },
  },
  run = function(opts)
    local primary = instance.primary()
    return targets.each("start", opts, function(n)
      if n == primary and not instance.find(n) then
        instance.launch_primary({ timeout = opts.timeout })
      else
        instance.start(n, { timeout = opts.timeout })
      end
    end, { primary = "launch" })
  end,
}
