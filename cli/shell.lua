-- moonbase shell [NAME]
local instance = require("moonbase.instance")
local settings = require("moonbase.settings")

return {
  summary = "Open an interactive shell in an instance",
  complete = { "instance" },
  usage = "moonbase shell [NAME]",
  description = "Without NAME, uses the primary instance (client.primary-name), " ..
    "launching it first if it does not exist.",
  max_args = 1,
  run = function(opts)
    local name = opts[1]
    if not name then
      name = settings.get("client.primary-name")
      if not instance.find(name) then
        io.stderr:write("Launching the primary instance \"", name, "\"...\n")
        instance.launch({ name = name })
      end
    end
    return instance.exec(name, {}, { pty = true, interactive = true })
  end,
}
