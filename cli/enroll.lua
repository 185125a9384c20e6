-- moonbase enroll TOKEN [--host URI]: the driver's host trusts moonbase from now on
local instance = require("moonbase.instance")

return {
  summary = "Have the driver's host trust moonbase, with a token made there",
  usage = "moonbase enroll TOKEN [--host URI] [--driver NAME]",
  description = "For a driver whose instances run on another host: that host trusts moonbase " ..
    "once, with a token it made, and moonbase keeps what it needs (its own client " ..
    "certificate, the host's certificate). A remote LXD: run `lxc config trust add` there " ..
    "and pass the token it prints; moonbase checks the host's certificate against the one " ..
    "the token names before it sends anything. Without --host, the driver's host setting " ..
    "(local.lxd.url), or else an address in the token, which then becomes the setting. A " ..
    "token is used once. The driver is local.driver's, or --driver's; when local.driver " ..
    "has no such host, the one driver that has (lxd): a machine with no LXD of its own " ..
    "enrolls first, then selects the driver.",
  options = {
    { "host", metavar = "URI", help = "the host to trust moonbase (default: the driver's " ..
      "setting, else the token's address)" },
    { "driver", metavar = "NAME", help = "the driver whose host it is (default: " ..
      "local.driver, else the one driver with such hosts)" },
  },
  min_args = 1,
  max_args = 1,
  run = function(opts)
    local trusted, driver, key = instance.trust(opts[1], opts.host, opts.driver)
    print(string.format("Trusted by %s (the %s driver)", trusted, driver))
    if key then print(string.format("Set %s=%s", key, trusted)) end
    if driver ~= select(2, instance.driver()) then
      print(string.format("Select it: moonbase set local.driver=%s", driver))
    end
    return 0
  end,
}
