-- moonbase wait-ready [NAME...] | --all [--timeout DURATION]
local instance = require("moonbase.instance")
local targets = require("moonbase.targets")
local errors = require("moonbase.errors")
local util = require("moonbase.engine.util")

return {
  summary = "Wait until instances are ready",
  complete = { "instance", rest = true },
  usage = "moonbase wait-ready [NAME...] [--all] [--timeout DURATION]",
  description = "Returns when each instance is running and ready to use: where moonbase " ..
    "reaches the guest over SSH, SSH answers and cloud-init is done. It waits for a start " ..
    "or launch that another moonbase command is doing; an instance nobody is starting " ..
    "fails at once. Without NAME, the primary instance (client.primary-name); --all, every " ..
    "instance that is not stopped, suspended or deleted. Exit status 5 when --timeout " ..
    "passes first.",
  options = {
    targets.all_option,
    { "timeout", type = "duration", default = "300", help = "how long to wait in all" },
  },
  run = function(opts)
    local deadline = util.time() + opts.timeout
    return targets.each("wait-ready", opts, function(n)
      local left = deadline - util.time()
      if left <= 0 then
        errors.raise(string.format("wait-ready: instance \"%s\" was not ready in time", n),
          "timeout")
      end
      instance.wait_ready(n, left)
    end, { primary = true, filter = function(r)
      return not r.deleted and r.state ~= "stopped" and r.state ~= "suspended"
    end })
  end,
}
