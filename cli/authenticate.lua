-- moonbase authenticate [PASSPHRASE | TOKEN]
local client = require("moonbase.client")
local errors = require("moonbase.errors")

return {
  summary = "Make this client trusted by a moonbase daemon over TLS",
  usage = "moonbase authenticate [PASSPHRASE|TOKEN] [--fingerprint SHA256]",
  description = "Sends this client's certificate (made on first use, EC P-256) with the " ..
    "daemon's passphrase (its setting local.passphrase) or a one-time token from " ..
    "`moonbase trust token` on the daemon's host; the daemon trusts the certificate from " ..
    "then on. Without an argument the passphrase is read from stdin. Before anything is " ..
    "sent the daemon's CA is checked: a token carries its fingerprint; else give " ..
    "--fingerprint (what moonbase daemon printed on its host), or answer yes on a terminal " ..
    "when it is shown. The daemon is the one MOONBASE_SERVER (or --server, or " ..
    "client.server) names.",
  options = {
    { "fingerprint", "f", metavar = "SHA256",
      help = "the daemon's CA fingerprint, checked before anything is sent (moonbase daemon " ..
        "prints it); without it you are asked, on a terminal" },
  },
  max_args = 1,
  run = function(opts)
    local url = client.server()
    if not url then
      errors.usage("authenticate: no daemon to authenticate with (try: MOONBASE_SERVER=" ..
        "https://HOST:PORT moonbase authenticate)")
    end
    local util = require("moonbase.engine.util")
    local secret = opts[1] or function()
      if util.isatty(0) then io.stderr:write("Passphrase: ") end
      return io.stdin:read("l") or ""
    end
    -- a new (or changed) daemon CA: the user compares it with what the daemon printed
    local function confirm(fp, old)
      if not (util.isatty(0) and util.isatty(2)) then return false end
      io.stderr:write(old and ("The daemon's CA changed (pinned: " .. old .. ").\n") or "",
        "The daemon at ", url, " has CA fingerprint\n  ", fp, "\n",
        "Is it the one `moonbase daemon` printed on its host? [y/N] ")
      return (io.stdin:read("l") or ""):match("^%s*[yY]") ~= nil
    end
    local r = client.authenticate(url, secret, { fingerprint = opts.fingerprint,
      confirm = confirm })
    if r.unix then
      print("Nothing to do: on a unix socket the daemon knows you by your user.")
    else
      print("Authenticated: the daemon at " .. url .. " trusts this client.")
      if r.ca then print("Daemon CA fingerprint: " .. r.ca) end
    end
    return 0
  end,
}
