-- moonbase daemon [--listen unix:PATH | https://ADDR:PORT]...
local server = require("moonbase.server")

return {
  summary = "Serve moonbase's API to clients (the CLI, the web dashboard)",
  usage = "moonbase daemon [--listen unix:PATH]... [--listen https://ADDRESS:PORT]... [--quiet]",
  description = "Runs until stopped (SIGTERM or Ctrl-C), serving every moonbase operation " ..
    "over HTTP + JSON with WebSocket streams. On a unix socket (default " ..
    "/run/moonbase/moonbase.sock as root, else $XDG_RUNTIME_DIR/moonbase.sock) root, this " ..
    "user and members of the group moonbase are let in; on https:// clients present a " ..
    "certificate the daemon trusts (moonbase authenticate). Commands go through it with " ..
    "MOONBASE_SERVER=unix:///PATH or https://HOST:PORT (or moonbase --server URL, or the " ..
    "setting client.server). See docs/api.md.",
  options = {
    { "listen", "l", repeated = true, metavar = "URL",
      help = "unix:PATH or https://ADDRESS:PORT (repeatable)" },
    { "quiet", "q", type = "flag", help = "print nothing but errors" },
  },
  max_args = 0,
  run = function(opts)
    -- what the daemon starts (agents, recipe workers) works locally, never through itself
    require("moonbase.engine.util").setenv("MOONBASE_SERVER", nil)
    server.run({ listen = opts.listen, quiet = opts.quiet })
    return 0
  end,
}
