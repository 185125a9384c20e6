-- moonbase launch [IMAGE] [options]
local instance = require("moonbase.instance")
local errors = require("moonbase.errors")
local fs = require("moonbase.engine.fs")

return {
  summary = "Create and start an instance",
  complete = { "image" },
  usage = "moonbase launch [IMAGE] [--name NAME] [--cpus N] [--memory SIZE] [--disk SIZE] " ..
    "[--cloud-init FILE|URL|-] [--mount SRC[:DST]]... [--network SPEC]... [--bridged]",
  description = "Creates an instance from IMAGE and starts it. Everything is validated " ..
    "before anything is created; a bad option changes nothing on disk.",
  options = {
    { "name", "n", help = "instance name (default: a generated two-word name)" },
    { "cpus", "c", type = "int", help = "number of CPUs", default = 1 },
    { "memory", "m", type = "size", help = "memory, e.g. 512M or 2G", default = "1G" },
    { "disk", "d", type = "size", help = "disk size, e.g. 5G", default = "5G" },
    { "cloud-init", metavar = "FILE|URL|-", complete = "file",
      help = "cloud-init user-data: a file, an http(s):// URL, or - for stdin" },
    { "mount", repeated = true, metavar = "SRC[:DST]",
      help = "share a host folder (see moonbase mount)" },
    { "timeout", type = "duration", help = "how long to wait for the instance", default = "300" },
    { "network", repeated = true, metavar = "SPEC", complete = "network-spec",
      help = "also join a moonbase network: name=N[,ip=A][,mac=M][,mode=auto|manual] (see " ..
        "moonbase networks); mode=manual: the guest does not configure the NIC" },
    { "bridged", type = "flag",
      help = "also join the host bridge in local.bridged-network (address from its DHCP)" },
    { "quiet", "q", type = "flag", help = "print nothing but errors" },
  },
  max_args = 1,
  run = function(opts)
    local cloud_init, source
    if opts.cloud_init then
      source = opts.cloud_init
      if source == "-" then
        cloud_init = io.stdin:read("a")
      elseif source:match("^[Hh][Tt][Tt][Pp][Ss]?://") then
        local http = require("moonbase.engine.image")
        local text, msg = http.http_get(source, { connect_timeout = 10,
          max_size = 4 * 1024 * 1024 })
        if not text then errors.usage("cannot read cloud-init from " .. source .. ": " .. msg) end
        cloud_init = text
      else
        local text, msg = fs.read(source)
        if not text then errors.usage("cannot read cloud-init file: " .. msg) end
        cloud_init = text
      end
    end
    local rec = instance.launch({
      name = opts.name, image = opts[1], cpus = opts.cpus, memory = opts.memory,
      disk = opts.disk, cloud_init = cloud_init, cloud_init_source = source,
      timeout = opts.timeout, networks = opts.network, mounts = opts.mount,
      bridged = opts.bridged,
      quiet = opts.quiet,
    })
    if not opts.quiet then print("Launched: " .. rec.name) end
    return 0
  end,
}
