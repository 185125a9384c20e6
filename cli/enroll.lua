-- moonbase enroll TOKEN [--host URI]: the driver's host trusts moonbase from now on
local instance = require("moonbase.instance")

return {
  summary = "Have the driver's host trust moonbase, with a token made there",
  usage = "moonbase enroll TOKEN [--host URI]",
  description = "For a driver whose instances run on another host: that host trusts moonbase " ..
    "once, with a token it made, and moonbase keeps what it needs (its own client " ..
    "certificate, the host's certificate). A remote LXD: run `lxc config trust add` there " ..
    "and pass the token it prints; moonbase checks the host's certificate against the one " ..
    "the token names before it sends anything. Without --host, the driver's host setting " ..
    "(local.lxd.url), or else an address in the token, which then becomes the setting. A " ..
    "token is used once.",
  options = {
    { "host", metavar = "URI", help = "the host to trust moonbase (default: the driver's " ..
      "setting, else the token's address)" },
  },
  min_args = 1,
  max_args = 1,
  run = function(opts)
    local trusted, driver, key = instance.trust(opts[1], opts.host)
    print(string.format("Trusted by %s (the %s driver)", trusted, driver))
    if key then print(string.format("Set %s=%s", key, trusted)) end
    return 0
  end,
}
