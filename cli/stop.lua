-- moonbase stop NAME... | --all [--force]
local instance = require("moonbase.instance")
local targets = require("moonbase.targets")

return {
  summary = "Stop running instances",
  complete = { "instance", rest = true },
  usage = "moonbase stop NAME... [--all] [--force] [--timeout DURATION]",
  description = "Asks the guest to power off (ACPI), and powers it off after --timeout. " ..
    "--force powers off at once (and stops suspended instances too).",
  options = {
    targets.all_option,
    { "force", "f", type = "flag", help = "power off without asking the guest" },
    { "timeout", type = "duration", default = "60", help = "grace period before power-off" },
  },
  run = function(opts)
    return targets.each("stop", opts, function(n)
      return instance.stop(n, { force = opts.force, timeout = opts.timeout })
    end, { filter = function(r) return not r.deleted end })
  end,
}
