-- moonbase sftp-server ROOT: the classic mounts' SFTP server on stdin/stdout.
-- Hidden: the agent runs the same server in-process; this form is for
-- checking it with other clients (sftp -D, sshfs -o slave) and benchmarks.
local agent = require("moonbase.engine.agent")
local errors = require("moonbase.errors")

return {
  hidden = true,
  summary = "Serve a folder over SFTP on stdin/stdout (confined to it)",
  usage = "moonbase sftp-server ROOT [--readonly] [--uid-map H:G,...] [--gid-map H:G,...]",
  options = {
    { "readonly", type = "flag" },
    { "uid-map", metavar = "H:G,..." },
    { "gid-map", metavar = "H:G,..." },
    { "walk", type = "flag", help = "resolve paths without openat2 (tests)" },
  },
  min_args = 1,
  max_args = 1,
  run = function(opts)
    errors.check("sftp-server", agent.sftp_serve({ root = opts[1], readonly = opts.readonly,
      uid_map = opts.uid_map, gid_map = opts.gid_map, walk = opts.walk }))
    return 0
  end,
}
