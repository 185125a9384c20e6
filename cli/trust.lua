-- moonbase trust list | remove WHICH | token [--name NAME] [--expires DURATION]
local trust = require("moonbase.trust")
local format = require("moonbase.format")
local errors = require("moonbase.errors")

return {
  summary = "Manage the clients a moonbase daemon trusts over TLS",
  usage = "moonbase trust list [--format FORMAT] | trust remove FINGERPRINT|NAME | " ..
    "trust token [--expires DURATION]",
  description = "list: the trusted client certificates. remove: revokes one (by a " ..
    "fingerprint prefix of at least 8 characters, or its name); its next request is refused. " ..
    "token: prints a one-time token for `moonbase authenticate TOKEN` (valid a day unless " ..
    "--expires says otherwise).",
  options = {
    format.option,
    { "expires", type = "duration", help = "how long a token stays valid (default: 1d)" },
  },
  min_args = 1,
  max_args = 2,
  run = function(opts)
    local verb = opts[1]
    if verb == "list" then
      format.print(trust.list(), opts.format, { columns = { { key = "name", title = "Name" },
        { key = "fingerprint", title = "Fingerprint" }, { key = "added", title = "Added" } },
        empty = "No trusted clients." })
    elseif verb == "remove" then
      if not opts[2] then errors.usage("trust remove needs a fingerprint or a client name") end
      local r = trust.remove(opts[2])
      print(string.format("Revoked: %s (%s)", r.name, r.fingerprint))
    elseif verb == "token" then
      print(trust.token({ ttl = opts.expires }))
    else
      errors.usage(string.format("trust: unknown action \"%s\" (use list, remove or token)",
        tostring(verb)))
    end
    return 0
  end,
}
