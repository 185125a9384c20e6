-- moonbase delete NAME... | --all [--purge]
local instance = require("moonbase.instance")
local targets = require("moonbase.targets")

return {
  summary = "Delete instances (recoverable until purged)",
  complete = { "instance", rest = true },
  usage = "moonbase delete NAME... [--all] [--purge]",
  description = "Stops instances and marks them deleted; 'moonbase recover' brings them " ..
    "back, 'moonbase purge' removes them. --purge removes them at once.",
  options = {
    targets.all_option,
    { "purge", "p", type = "flag", help = "remove the instance and its files now" },
  },
  run = function(opts)
    return targets.each("delete", opts, function(n)
      return instance.delete(n, { purge = opts.purge })
    end)
  end,
}
