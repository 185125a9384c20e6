-- moonbase stop [NAME...] | --all [--force] [--timeout D] [--time MINUTES | --cancel]
local instance = require("moonbase.instance")
local targets = require("moonbase.targets")
local errors = require("moonbase.errors")

return {
  summary = "Stop running instances",
  complete = { "instance", rest = true },
  usage = "moonbase stop [NAME...] [--all] [--force] [--timeout DURATION] " ..
    "[--time MINUTES | --cancel]",
  description = "Asks the guest to power off (ACPI), and powers it off after --timeout. " ..
    "--force powers off at once (and stops suspended instances too). --time stops it that " ..
    "many minutes from now instead, from a background process; --cancel (or any other " ..
    "stop) cancels that. Without NAME, stops the primary instance (client.primary-name).",
  options = {
    targets.all_option,
    { "force", "f", type = "flag", help = "power off without asking the guest" },
    { "timeout", type = "duration", default = "60", help = "grace period before power-off" },
    { "time", "t", type = "number", metavar = "MINUTES",
      help = "stop this many minutes from now (Multipass's delayed stop)" },
    { "cancel", "c", type = "flag", help = "cancel a delayed stop" },
    { "at", type = "number", hidden = true }, -- the delayed stop's background process
  },
  run = function(opts)
    if opts.at then
      instance.stop_at(opts[1], opts.at)
      return 0
    end
    if opts.time and opts.cancel then errors.usage("give --time or --cancel, not both") end
    if opts.time and (opts.time < 0 or opts.force) then
      errors.usage(opts.force and "--time does not go with --force (a delayed stop is a " ..
        "graceful one)" or "--time: minutes from now, 0 or more")
    end
    if opts.cancel then
      return targets.each("stop", opts, function(n)
        local at = instance.cancel_stop(n)
        io.stdout:write(at and string.format("Cancelled the stop of %s at %s\n", n,
          os.date("%H:%M:%S", math.floor(at))) or string.format("%s had no delayed stop\n", n))
      end, { primary = true })
    end
    if opts.time and opts.time > 0 then
      return targets.each("stop", opts, function(n)
        local at = instance.stop_later(n, opts.time)
        io.stdout:write(string.format("%s stops at %s (cancel: moonbase stop --cancel %s)\n", n,
          os.date("%H:%M:%S", math.floor(at)), n))
      end, { primary = true, filter = function(r) return not r.deleted end })
    end
    return targets.each("stop", opts, function(n)
      return instance.stop(n, { force = opts.force, timeout = opts.timeout })
    end, { primary = true, filter = function(r) return not r.deleted end })
  end,
}
