-- moonbase shell [NAME] [--timeout DURATION]
local instance = require("moonbase.instance")

return {
  summary = "Open an interactive shell in an instance",
  complete = { "instance" },
  usage = "moonbase shell [NAME] [--timeout DURATION]",
  description = "Starts the instance first if it is stopped or suspended. Without NAME, " ..
    "uses the primary instance (client.primary-name), launching it first if it does not " ..
    "exist, as Multipass does.",
  options = {
    { "timeout", type = "duration", default = "300",
      help = "how long launching or starting it first may take" },
  },
  max_args = 1,
  run = function(opts)
    local name = opts[1]
    if not name then
      name = instance.primary_or_usage("shell")
      if not instance.find(name) then instance.launch_primary({ timeout = opts.timeout }) end
    end
    local st = instance.info(name).state
    if st == "stopped" or st == "suspended" then
      io.stderr:write(string.format("Starting %s\n", name))
      instance.start(name, { timeout = opts.timeout })
    end
    return instance.exec(name, {}, { pty = true, interactive = true })
  end,
}
