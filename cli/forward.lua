-- moonbase forward NAME HOSTPORT:GUESTPORT[/udp] | --list | --remove HOSTPORT[/udp]
local forwards = require("moonbase.forwards")
local format = require("moonbase.format")
local errors = require("moonbase.errors")

local columns = { { key = "address", title = "Address" },
  { key = "host_port", title = "Host port" }, { key = "guest_port", title = "Guest port" },
  { key = "proto", title = "Proto" } }

return {
  columns = columns,
  summary = "Forward host ports to an instance",
  complete = { "instance" },
  usage = "moonbase forward NAME HOSTPORT:GUESTPORT[/tcp|/udp] [--address ADDR] | " ..
    "NAME --list | NAME --remove HOSTPORT[/udp]",
  description = "Connections to ADDR:HOSTPORT on this host reach GUESTPORT in the instance " ..
    "(through its agent: over SSH, or straight to the instance's address on a moonbase " ..
    "network). UDP datagrams are relayed to the instance's address, so /udp needs the " ..
    "instance on a moonbase network. Forwards are kept with the instance and come back at " ..
    "every start. They listen on 127.0.0.1 unless --address says otherwise.",
  options = {
    { "address", metavar = "ADDR", help = "host address to listen on (default 127.0.0.1)" },
    { "list", "l", type = "flag", help = "show the instance's forwards" },
    { "remove", "r", metavar = "HOSTPORT[/udp]", help = "stop forwarding HOSTPORT" },
    format.option,
  },
  min_args = 1,
  max_args = 2,
  run = function(opts)
    local name = opts[1]
    if opts.list then
      local rows = {}
      for _, f in ipairs(forwards.list(name)) do
        rows[#rows + 1] = { address = f.address, host_port = f.host_port,
          guest_port = f.guest_port, proto = f.proto or "tcp" }
      end
      format.print(rows, opts.format, { columns = columns, empty = "No forwards." })
      return 0
    end
    if opts.remove then
      local port, proto = tostring(opts.remove):match("^(%d+)/?(%a*)$")
      proto = proto and proto:lower()
      if not port or (proto ~= "" and proto ~= "tcp" and proto ~= "udp") then
        errors.usage(string.format("forward: --remove expects HOSTPORT[/tcp|/udp], got \"%s\"",
          tostring(opts.remove)))
      end
      forwards.remove(name, tonumber(port), opts.address, proto ~= "" and proto or nil)
      return 0
    end
    if not opts[2] then
      errors.usage("forward needs HOSTPORT:GUESTPORT (or --list, --remove)")
    end
    local f = forwards.parse(opts[2], opts.address)
    local st = forwards.add(name, f)
    if st ~= "running" then
      io.stderr:write(string.format("forward: %s is %s; the forward starts with it\n", name, st))
    end
    return 0
  end,
}
