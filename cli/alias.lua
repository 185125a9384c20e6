-- moonbase alias INSTANCE:COMMAND [NAME]
local aliases = require("moonbase.aliases")
local instance = require("moonbase.instance")
local errors = require("moonbase.errors")

return {
  summary = "Create an alias that runs a command in an instance",
  complete = { "instance-colon" },
  usage = "moonbase alias INSTANCE:COMMAND [NAME]",
  description = "Afterwards 'moonbase NAME ARGS...' runs 'COMMAND ARGS...' in INSTANCE. " ..
    "NAME defaults to COMMAND's last path component.",
  min_args = 1,
  max_args = 2,
  run = function(opts)
    local inst, command = opts[1]:match("^([^:]+):(.+)$")
    if not inst then
      errors.usage(string.format("expected INSTANCE:COMMAND, got \"%s\" (try: moonbase " ..
        "alias primary:ls)", opts[1]))
    end
    instance.get(inst)
    local name = opts[2] or command:match("([^/%s]+)%s*$")
    aliases.create(name, inst, command)
    return 0
  end,
}
