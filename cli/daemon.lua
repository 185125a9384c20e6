-- moonbase daemon [--listen unix:PATH | https://ADDR:PORT | http://127.0.0.1:PORT]...
local server = require("moonbase.server")

return {
  summary = "Serve moonbase's API to clients (the CLI, the web dashboard)",
  usage = "moonbase daemon [--listen unix:PATH]... [--listen https://ADDRESS:PORT]... " ..
    "[--listen http://127.0.0.1:PORT] [--max-workers N] [--quiet]",
  description = "Runs until stopped (SIGTERM or Ctrl-C), serving every moonbase operation " ..
    "over HTTP + JSON with WebSocket streams. On a unix socket (default " ..
    "/run/moonbase/moonbase.sock as root, else $XDG_RUNTIME_DIR/moonbase.sock) root, this " ..
    "user and members of the group moonbase are let in; on https:// clients present a " ..
    "certificate the daemon trusts (moonbase authenticate). Commands go through it with " ..
    "MOONBASE_SERVER=unix:///PATH or https://HOST:PORT (or moonbase --server URL, or the " ..
    "setting client.server). An http:// listener on a loopback address serves the web " ..
    "dashboard (moonbase gui) and its browser sessions only. At most --max-workers calls " ..
    "run at once (default: 4 per CPU, at least 8); more wait their turn. See docs/api.md " ..
    "and docs/gui.md.",
  options = {
    { "listen", "l", repeated = true, metavar = "URL",
      help = "unix:PATH, https://ADDRESS:PORT or http://127.0.0.1:PORT (repeatable)" },
    { "max-workers", nil, type = "int", metavar = "N",
      help = "calls run at once; more wait (default 4 per CPU, at least 8)" },
    { "quiet", "q", type = "flag", help = "print nothing but errors" },
  },
  max_args = 0,
  run = function(opts)
    -- what the daemon starts (agents, recipe workers) works locally, never through itself
    require("moonbase.engine.util").setenv("MOONBASE_SERVER", nil)
    if opts.max_workers and opts.max_workers < 1 then
      require("moonbase.errors").usage("daemon: --max-workers needs at least 1, got " ..
        opts.max_workers)
    end
    server.run({ listen = opts.listen, quiet = opts.quiet, max_workers = opts.max_workers })
    return 0
  end,
}
