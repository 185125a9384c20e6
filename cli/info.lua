-- moonbase info NAME...
local instance = require("moonbase.instance")
local format = require("moonbase.format")
local units = require("moonbase.units")

local order = { "name", "state", "image", "cpus", "memory", "disk_used", "disk_total", "ipv4",
  "ssh", "uptime", "mounts", "driver", "host", "created" }
local titles = { name = "Name", state = "State", image = "Image", cpus = "CPUs",
  memory = "Memory", disk_used = "Disk used", disk_total = "Disk total", ipv4 = "IPv4",
  ssh = "SSH", uptime = "Uptime", mounts = "Mounts", driver = "Driver", host = "Host", created = "Created" }

return {
  summary = "Show details of instances",
  usage = "moonbase info NAME... [--all] [--format FORMAT]",
  options = { { "all", type = "flag", help = "all instances" }, format.option },
  run = function(opts)
    local names = {}
    if opts.all then
      for _, r in ipairs(instance.records()) do names[#names + 1] = r.name end
    else
      for i = 1, #opts do names[#names + 1] = opts[i] end
    end
    if #names == 0 then
      require("moonbase.errors").usage("info needs an instance name (or --all)")
    end
    local infos, map = {}, {}
    for _, n in ipairs(names) do
      local i = instance.info(n)
      i.ipv4 = format.array(i.ipv4)
      i.mounts = format.array(i.mounts)
      infos[#infos + 1] = i
      map[n] = i
    end
    if opts.format ~= "table" then
      format.print(infos, opts.format, { value = map, columns = (function()
        local c = {}
        for _, k in ipairs(order) do c[#c + 1] = { key = k } end
        return c
      end)() })
      return 0
    end
    local out = {}
    for idx, i in ipairs(infos) do
      if idx > 1 then out[#out + 1] = "" end
      for _, k in ipairs(order) do
        local v = i[k]
        if k == "memory" or k == "disk_used" or k == "disk_total" then v = units.format_size(v)
        elseif k == "uptime" then v = units.format_duration(v)
        elseif k == "mounts" then
          local m = {}
          for _, x in ipairs(i.mounts) do m[#m + 1] = x.source .. " => " .. x.target end
          v = #m > 0 and table.concat(m, ", ") or nil
        elseif type(v) == "table" then v = #v > 0 and table.concat(v, ", ") or nil end
        out[#out + 1] = string.format("%-12s %s", titles[k] .. ":", v ~= nil and tostring(v) or "--")
      end
    end
    print(table.concat(out, "\n"))
    return 0
  end,
}
