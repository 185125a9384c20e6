-- moonbase exec NAME [--workdir DIR] [--env K=V]... -- CMD...
local instance = require("moonbase.instance")
local errors = require("moonbase.errors")

return {
  summary = "Run a command in an instance",
  complete = { "instance", command_after_dashes = true },
  usage = "moonbase exec NAME [--workdir DIR] [--env K=V]... -- COMMAND [ARGS...]",
  description = "Runs COMMAND in the instance; its exit status is moonbase's.",
  options = {
    { "workdir", "w", metavar = "DIR", help = "directory to run in" },
    { "env", "e", repeated = true, metavar = "K=V", help = "environment variable" },
  },
  run = function(opts)
    local name = opts[1]
    if not name then errors.usage("exec needs an instance name and a command") end
    local argv = { table.unpack(opts, 2) }
    if #argv == 0 then
      errors.usage("exec needs a command (try: moonbase exec " .. name .. " -- uname -a)")
    end
    return instance.exec(name, argv, { workdir = opts.workdir, env = opts.env })
  end,
}
