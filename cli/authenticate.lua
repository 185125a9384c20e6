-- moonbase authenticate [PASSPHRASE | TOKEN]
local client = require("moonbase.client")
local errors = require("moonbase.errors")

return {
  summary = "Make this client trusted by a moonbase daemon over TLS",
  usage = "moonbase authenticate [PASSPHRASE|TOKEN]",
  description = "Sends this client's certificate (made on first use, EC P-256) with the " ..
    "daemon's passphrase (its setting local.passphrase) or a one-time token from " ..
    "`moonbase trust token` on the daemon's host; the daemon trusts the certificate from " ..
    "then on. Without an argument the passphrase is read from stdin. The daemon is the one " ..
    "MOONBASE_SERVER (or --server, or client.server) names.",
  max_args = 1,
  run = function(opts)
    local url = client.server()
    if not url then
      errors.usage("authenticate: no daemon to authenticate with (try: MOONBASE_SERVER=" ..
        "https://HOST:PORT moonbase authenticate)")
    end
    local secret = opts[1]
    if not secret then
      if require("moonbase.engine.util").isatty(0) then io.stderr:write("Passphrase: ") end
      secret = (io.stdin:read("l") or "")
    end
    local r = client.authenticate(url, secret)
    if r.unix then
      print("Nothing to do: on a unix socket the daemon knows you by your user.")
    else
      print("Authenticated: the daemon at " .. url .. " trusts this client.")
      if r.ca then print("Daemon CA fingerprint: " .. r.ca) end
    end
    return 0
  end,
}
