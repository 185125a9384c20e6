-- moonbase exec [NAME] [--workdir DIR] [--env K=V]... -- CMD...
local instance = require("moonbase.instance")
local errors = require("moonbase.errors")

return {
  summary = "Run a command in an instance",
  complete = { "instance", command_after_dashes = true },
  usage = "moonbase exec [NAME] [--workdir DIR] [--env K=V]... -- COMMAND [ARGS...]",
  description = "Runs COMMAND in the instance; its exit status is moonbase's. Without NAME " ..
    "(exec -- COMMAND), runs it in the primary instance (client.primary-name).",
  options = {
    { "workdir", "w", metavar = "DIR", help = "directory to run in" },
    { "working-directory", "d", metavar = "DIR", help = "the same as --workdir (Multipass's name)" },
    { "env", "e", repeated = true, metavar = "K=V", help = "environment variable" },
  },
  run = function(opts)
    local name, first = opts[1], 2
    if opts["--"] == 0 then -- exec -- COMMAND: the primary instance
      name, first = instance.primary_or_usage("exec", true), 1
    end
    if not name then
      errors.usage("exec needs a command (try: moonbase exec NAME -- uname -a, or " ..
        "moonbase exec -- uname -a for the primary instance)")
    end
    local argv = { table.unpack(opts, first) }
    if #argv == 0 then
      errors.usage("exec needs a command (try: moonbase exec " .. name .. " -- uname -a)")
    end
    if opts.workdir and opts.working_directory then
      errors.usage("give --workdir or --working-directory, not both")
    end
    return instance.exec(name, argv, { workdir = opts.workdir or opts.working_directory,
      env = opts.env })
  end,
}
