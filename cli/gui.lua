-- moonbase gui [--print]
local client = require("moonbase.client")
local errors = require("moonbase.errors")
local fs = require("moonbase.engine.fs")
local process = require("moonbase.engine.process")

-- The daemon to ask: the configured one, else the default socket when a daemon
-- listens there (the dashboard needs a daemon; the CLI alone serves no page).
local function daemon_url()
  local url = client.server()
  if url then return url end
  local sock = require("moonbase.server").default_socket()
  if fs.exists(sock) then return "unix://" .. sock end
  errors.raise(string.format("gui: no moonbase daemon at unix://%s serves the dashboard " ..
    "(start one: moonbase daemon --listen unix:%s --listen http://127.0.0.1:8470; or set " ..
    "MOONBASE_SERVER; see docs/gui.md)", sock, sock), "failed")
end

-- A browser to open the link with, if this session has one: $BROWSER, or
-- xdg-open on a graphical display.
local function browser()
  local b = os.getenv("BROWSER")
  if b and b ~= "" then return b end
  local display = os.getenv("DISPLAY") or os.getenv("WAYLAND_DISPLAY")
  if display and display ~= "" and process.run({ "sh", "-c", "command -v xdg-open" }) == 0 then
    return "xdg-open"
  end
end

return {
  summary = "Open the web dashboard in a browser (a one-time login link from the daemon)",
  usage = "moonbase gui [--print]",
  description = "Asks the moonbase daemon (MOONBASE_SERVER, --server or client.server; else " ..
    "the default socket) for a one-time login link to its web dashboard and opens it in " ..
    "your browser ($BROWSER, or xdg-open on a graphical display), or prints it. The link " ..
    "works once, within 5 minutes; the browser then holds a session bound to this client " ..
    "(revoking the client ends it). Through a unix socket the link goes to the daemon's " ..
    "http://127.0.0.1 listener (moonbase daemon --listen http://127.0.0.1:PORT); over TLS " ..
    "to the address this client uses. See docs/gui.md.",
  options = {
    { "print", "p", type = "flag", help = "print the login link instead of opening a browser" },
  },
  max_args = 0,
  run = function(opts)
    local link = client.login_link(daemon_url())
    local open = not opts.print and browser()
    if not open then
      print(link)
      if not opts.print then
        io.stderr:write("Open this link in a browser on this host (it works once, within " ..
          "5 minutes).\n")
      end
      return 0
    end
    -- the token does not go on a command line other users can read: the browser
    -- opens a private file that forwards to it
    local dir = client.dir()
    errors.check("gui", fs.mkdirs(dir, 448))
    local page = dir .. "/gui-login.html"
    errors.check("gui", fs.write(page, string.format('<!doctype html><meta charset="utf-8">' ..
      '<meta http-equiv="refresh" content="0;url=%s"><title>moonbase</title>' ..
      '<a href="%s">Open the moonbase dashboard</a>\n', link, link), 384))
    local code = process.run({ "sh", "-c", open .. ' "$1" >/dev/null 2>&1 &', "sh",
      "file://" .. page })
    if code ~= 0 then
      errors.raise("gui: cannot start " .. open .. " (try: moonbase gui --print)")
    end
    print("Opening the dashboard in your browser (the link works once, within 5 minutes).")
    return 0
  end,
}
