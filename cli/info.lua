-- moonbase info NAME... | --all
local instance = require("moonbase.instance")
local format = require("moonbase.format")
local units = require("moonbase.units")
local errors = require("moonbase.errors")

local function mounts_text(list)
  local m = {}
  for _, x in ipairs(list) do m[#m + 1] = x.source .. " => " .. x.target end
  return #m > 0 and table.concat(m, ", ") or nil
end

-- One line: name (when, parent, memory), comment; the current one starred.
local function snapshots_text(list)
  local out = {}
  for _, s in ipairs(list) do
    local facts = { s.created, s.parent and ("parent " .. s.parent) or "no parent",
      s.state == "running" and ("with memory, " .. units.format_size(s.size)) or "disk only" }
    out[#out + 1] = string.format("%s%s (%s)%s", s.name, s.current and " *" or "",
      table.concat(facts, ", "), s.comment and (": " .. s.comment) or "")
  end
  return #out > 0 and table.concat(out, "; ") or nil
end

local function labels_text(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys)
  for i, k in ipairs(keys) do keys[i] = k .. "=" .. tostring(t[k]) end
  return #keys > 0 and table.concat(keys, ",") or nil
end

local columns = {
  { key = "name", title = "Name" }, { key = "state", title = "State" },
  { key = "image", title = "Image" }, { key = "cpus", title = "CPUs" },
  { key = "memory", title = "Memory", kind = "bytes" },
  { key = "disk_used", title = "Disk used", kind = "bytes" },
  { key = "disk_total", title = "Disk total", kind = "bytes" },
  { key = "ipv4", title = "IPv4", kind = "list" }, { key = "ssh", title = "SSH" },
  { key = "uptime", title = "Uptime", kind = "seconds" },
  { key = "mounts", title = "Mounts", kind = "list", text = mounts_text,
    note = "of {source, target, type, readonly, ...}; the table and CSV: SOURCE => TARGET" },
  { key = "driver", title = "Driver" }, { key = "host", title = "Host" },
  { key = "created", title = "Created", kind = "time" },
  { key = "snapshots", title = "Snapshots", kind = "list", text = snapshots_text,
    note = "of {name, parent, created, comment, state, size, cpus, memory, disk, current} " ..
      "as in list --snapshots; the table and CSV: NAME (CREATED, PARENT, SIZE): COMMENT; ..." },
  { key = "labels", title = "Labels", detail = true, text = labels_text,
    note = "a map; CSV: key=value,..." },
}

return {
  summary = "Show details of instances",
  complete = { "instance", rest = true },
  usage = "moonbase info NAME... [--all] [--format FORMAT]",
  description = "JSON and YAML give a map from each name to its details.",
  columns = columns,
  options = { { "all", type = "flag", help = "all instances" }, format.option },
  run = function(opts)
    local names = {}
    if opts.all then
      local recs, bad = instance.records()
      for _, r in ipairs(recs) do names[#names + 1] = r.name end
      for _, b in ipairs(bad or {}) do io.stderr:write("info: warning: ", b.message, "\n") end
    else
      for i = 1, #opts do names[#names + 1] = opts[i] end
    end
    if #names == 0 and not opts.all then
      errors.usage("info needs an instance name (or --all)")
    end
    local infos = {}
    for _, n in ipairs(names) do
      local i = instance.info(n)
      infos[#infos + 1] = i
    end
    format.print(infos, opts.format, { columns = columns, by = "name", vertical = true,
      empty = "No instances found." })
    return 0
  end,
}
