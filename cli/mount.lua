-- moonbase mount [--type native|classic] [--readonly] [--uid-map H:G]... SRC NAME[:DST]...
local mounts = require("moonbase.mounts")

return {
  summary = "Share a host folder with instances",
  complete = { "dir", "instance", rest = true },
  usage = "moonbase mount [--type native|classic] [--readonly] [--uid-map H:G]... " ..
    "[--gid-map H:G]... [--restart] SRC NAME[:DST]...",
  description = "Mounts the host folder SRC in each instance at DST (default: the same " ..
    "path, or, under your home, the same place under the guest user's home). native " ..
    "(QEMU's 9p; the default where the driver has it) needs a restart of a running " ..
    "instance: --restart does it. classic (every driver) runs sshfs in the guest against " ..
    "an SFTP server in moonbase that only serves SRC; the guest needs sshfs installed. " ..
    "Mounts are kept in the instance and come back at every start.",
  options = {
    { "type", "t", type = "enum", values = { "native", "classic" },
      help = "native (driver) or classic (sshfs) mount" },
    { "readonly", "r", type = "flag", help = "the guest cannot change anything" },
    { "uid-map", "u", repeated = true, metavar = "HOST:GUEST",
      help = "show files of host uid HOST as owned by guest uid GUEST (classic)" },
    { "gid-map", "g", repeated = true, metavar = "HOST:GUEST",
      help = "the same for groups (classic)" },
    { "restart", type = "flag", help = "restart a running instance to add a native mount" },
    { "quiet", "q", type = "flag", help = "print nothing but errors" },
  },
  min_args = 2,
  run = function(opts)
    mounts.add(opts[1], { table.unpack(opts, 2) }, {
      type = opts.type, readonly = opts.readonly, uid_map = opts.uid_map,
      gid_map = opts.gid_map, restart = opts.restart, quiet = opts.quiet,
    })
    return 0
  end,
}
